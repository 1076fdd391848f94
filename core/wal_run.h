/* What the router writes to the WAL for one execution (§6.3):
 * execution.started (the commit point) before anything runs, step.started
 * before each agent call and step.completed / step.failed after it,
 * fallback.triggered / fallback.exhausted, and execution.completed or
 * execution.failed at the end. One wal_run per execution; PARALLEL branches
 * share it from their threads. A write that fails after the commit point
 * is remembered (failed, err) and stops the execution: no further step may
 * start (wal_run_step_start refuses, wal_run_stopped says so), nothing more
 * is logged but the terminal entry, which is still tried. With redaction on,
 * every payload is redacted before it is written (reasons hold agent error
 * messages), all but its ids and hashes (execution_id, step_id,
 * envelope_hash of the envelope as received, config_hash, input_hash,
 * output_hash, response_hash), which recovery matches. */
#ifndef INTENTUS_CORE_WAL_RUN_H
#define INTENTUS_CORE_WAL_RUN_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/agent.h"
#include "core/err.h"
#include "core/redact.h"
#include "core/wal.h"

#define WAL_STEP_ID_LEN 160

struct wal_run {
    struct wal_file *f;
    const struct redact_ctx *redact; /* every payload goes through it; NULL: none */
    atomic_int steps;                /* step counter: step-<n>-<agent> */
    atomic_int failed;               /* a write after the commit point failed */
    struct intentus_err err;         /* the first such failure */
};

struct wal_run_start {
    const char *execution_id;
    const char *envelope_hash;
    const char *intent_name;
    const char *config_hash;
    bool require_determinism;
    const struct redact_ctx *redact; /* borrowed for the run; NULL: no redaction */
};

/* Create the log and append execution.started as a commit point. -1: the
 * execution must not run (err says why). */
int wal_run_begin(struct wal_run *wr, struct wal *w, const struct wal_run_start *s,
                  struct intentus_err *err);
/* step.started before agent a is called with env (a commit point when a is
 * irreversible); step_id receives the id for wal_run_step_end. -1: the step
 * is not logged (this write or an earlier one failed) and must not start. */
int wal_run_step_start(struct wal_run *wr, const struct agent *a, const cJSON *env,
                       char step_id[WAL_STEP_ID_LEN]);
/* True once a write after the commit point failed: nothing more may start. */
bool wal_run_stopped(struct wal_run *wr);
/* step.completed when resp is a success, else step.failed (resp NULL: the
 * call itself failed with exception). */
void wal_run_step_end(struct wal_run *wr, const char *step_id, const cJSON *resp,
                      const char *exception);
void wal_run_fallback(struct wal_run *wr, const char *from, const char *to, const char *reason);
void wal_run_exhausted(struct wal_run *wr, const char *last_agent, const char *reason);
/* Written after the record is saved, so the terminal entry says whether
 * the record exists. execution.completed or execution.failed for response
 * (NULL: nothing terminal is written, the log stays incomplete), then
 * close. */
void wal_run_end(struct wal_run *wr, const cJSON *response);
/* The record that should exist was not written (why): execution.failed with
 * record_written false and record_error, whatever the response. */
void wal_run_end_unrecorded(struct wal_run *wr, const cJSON *response, const char *why);
/* Not recorded on purpose (sampled out): the terminal entry, then the log
 * is removed; a finished execution without a record leaves no log. */
void wal_run_discard(struct wal_run *wr, const cJSON *response);

#endif
