/* Recovery from the WAL (reference §6.7, §6.8, §3.4): which executions
 * started and did not finish, whether each can be resumed safely, resuming
 * (recovery.started) and aborting (execution.aborted) under an execution
 * lock, and the record <-> WAL consistency check.
 *
 * Nothing is re-executed here: resuming records that an operator or a
 * program takes the execution over, as the reference's recovery does. */
#ifndef INTENTUS_CORE_RECOVERY_H
#define INTENTUS_CORE_RECOVERY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/wal.h"
#include "core/wal_state.h"

#define RECOVERY_STALE_LOCK_MS ((int64_t)3600 * 1000) /* the reference's stale_timeout_sec */

/* One execution's WAL as recovery sees it. */
struct recovery_item {
    char execution_id[129];
    enum wal_check wal_status;
    enum wal_state state;
    size_t entries;
    bool can_resume;
    bool resumed; /* a recovery.started is already in the log */
    /* The WAL ends execution.failed with record_written false: the execution
     * ran to its end and its record was not written (listed by scan). */
    bool record_missing;
    /* With a records directory: the log is incomplete but the record exists,
     * so the execution finished (a stop between the record and the WAL's
     * terminal entry); never resumable. */
    bool record_exists;
    char record_outcome[16]; /* "success", "error" or "unreadable" */
    char reason[400];
    cJSON *completed_steps; /* array of step ids (strings), owned */
    cJSON *irreversible;    /* irreversible steps started and not failed, owned */
    cJSON *pending_steps;   /* started, neither completed nor failed, owned */
    char last_entry_type[40];
    char last_timestamp[40];
    bool is_signed;   /* the log carries signatures (see wal_read_key) */
    bool sig_checked; /* and they were checked with a public key */
    char key_id[17];  /* the log's signer_key_id */
};

/* Analyse one log (any state). Returns -1 only on allocation failure. */
int recovery_analyze(const char *wal_dir, const char *id, struct recovery_item *out,
                     struct intentus_err *err);
int recovery_analyze_log(const struct wal_log *log, const char *id, struct recovery_item *out,
                         struct intentus_err *err);
void recovery_item_free(struct recovery_item *it);

/* Every incomplete execution in wal_dir (unreadable, corrupt or torn logs,
 * logs whose state is not completed, failed or aborted, and failed logs
 * whose record was not written; empty files are skipped: nothing was
 * committed). Sorted by id. recovery_scan judges the logs alone. */
int recovery_scan(const char *wal_dir, struct recovery_item **items, size_t *n,
                  struct intentus_err *err);
/* The same, each log read with wal_read_key(key): a log whose signatures
 * fail is listed as corrupt (reason naming the seq). key may be NULL. */
int recovery_scan_key(const char *wal_dir, const struct wal_key *key, struct recovery_item **items,
                      size_t *n, struct intentus_err *err);
/* The same, and each incomplete log whose record exists in records_dir
 * (NULL or missing: none does) is marked record_exists and not
 * resumable. */
int recovery_scan_records(const char *wal_dir, const char *records_dir,
                          struct recovery_item **items, size_t *n, struct intentus_err *err);
/* recovery_analyze plus the record check of recovery_scan_records. */
int recovery_analyze_records(const char *wal_dir, const char *records_dir, const char *id,
                             struct recovery_item *out, struct intentus_err *err);
/* Both: signatures checked with key and records looked up in records_dir
 * (either may be NULL). */
int recovery_scan_full(const char *wal_dir, const struct wal_key *key, const char *records_dir,
                       struct recovery_item **items, size_t *n, struct intentus_err *err);
/* recovery_scan_full with each record looked up by id through st
 * (core/store.h: sqlite, postgres, file) instead of a directory. */
struct store;
int recovery_scan_store(const char *wal_dir, const struct wal_key *key, struct store *st,
                        struct recovery_item **items, size_t *n, struct intentus_err *err);
void recovery_items_free(struct recovery_item *items, size_t n);

/* {execution_id, can_resume, reason, state, completed_steps,
 * irreversible_steps_executed} plus intentus' wal_status, pending_steps,
 * entries, resumed, record_exists (record_outcome), record_missing,
 * last_entry_type, last_timestamp, signatures ("unsigned", "checked" or
 * "not checked") and signer_key_id when signed. */
cJSON *recovery_item_json(const struct recovery_item *it);

/* Resume: lock, re-analyse, refuse an unsafe execution (IERR_VERIFY, the
 * reason), append recovery.started {completed_steps, state}. out (may be
 * NULL) receives the analysis after the append. */
int recovery_resume(const char *wal_dir, const char *id, struct recovery_item *out,
                    struct intentus_err *err);
/* The same, refusing an execution whose record exists in records_dir. */
int recovery_resume_records(const char *wal_dir, const char *records_dir, const char *id,
                            struct recovery_item *out, struct intentus_err *err);
/* Abort: lock, append execution.aborted {reason, aborted_by:
 * "recovery_manager"}. A torn final line is cut off first (*truncated
 * bytes); a corrupt log or a terminal execution is refused. */
int recovery_abort(const char *wal_dir, const char *id, const char *reason, size_t *truncated,
                   struct intentus_err *err);

/* Close the log of an execution whose record exists (record_exists): lock,
 * cut a torn final line (*truncated bytes), append execution.completed
 * (success record) or execution.failed (error record) with closed_by
 * "recovery_manager", closed_from "record". Refused (IERR_VERIFY) when no
 * readable record exists or the log is not incomplete. out (may be NULL)
 * receives the analysis after the append. */
int recovery_close(const char *wal_dir, const char *records_dir, const char *id, size_t *truncated,
                   struct recovery_item *out, struct intentus_err *err);

/* Where resume, abort and close write, and how: the same operations as
 * above, with the appended entry signed by signer (core/wal_sign.h). A
 * signed log needs the signer of its key (its signatures are checked with
 * it before anything is appended); an unsigned log is appended to only
 * without one. The functions above are these with signer NULL. */
struct wal_signer;
struct recovery_target {
    const char *wal_dir;
    const char *records_dir;         /* NULL: no record check (abort ignores it) */
    const struct wal_signer *signer; /* borrowed; NULL: unsigned entries */
    /* Borrowed; when set, records are looked up by id through it (sqlite,
     * postgres, file: core/store.h) instead of in records_dir. */
    struct store *store;
};
int recovery_resume_to(const struct recovery_target *t, const char *id, struct recovery_item *out,
                       struct intentus_err *err);
int recovery_abort_to(const struct recovery_target *t, const char *id, const char *reason,
                      size_t *truncated, struct intentus_err *err);
int recovery_close_to(const struct recovery_target *t, const char *id, size_t *truncated,
                      struct recovery_item *out, struct intentus_err *err);

/* The execution lock, <wal_dir>/<id>.lock: {"execution_id", "pid",
 * "hostname", "acquired_at"} held with flock. A lock file naming a dead
 * process, or older than stale_ms, is reclaimed; a live one fails with
 * "Lock held by PID <pid> on <host>" (IERR_LIMIT). */
struct recovery_lock;
struct recovery_lock *recovery_lock_acquire(const char *wal_dir, const char *id, int64_t stale_ms,
                                            struct intentus_err *err);
void recovery_lock_release(struct recovery_lock *l);

/* Record <-> WAL consistency (§3.4). record may be NULL (missing) and
 * record_problem says why when it is corrupt. Appends violation objects
 * {type, message} to violations; the types are wal_missing,
 * wal_corrupted, record_missing, record_corrupted, envelope_hash_mismatch,
 * state_mismatch, steps_missing_in_record, extra_steps_in_record. Returns
 * the number of violations, -1 on allocation failure. */
int recovery_check_record(const char *wal_dir, const char *id, const cJSON *record,
                          const char *record_problem, cJSON *violations, struct intentus_err *err);

#endif
