/* The router's write-ahead log: execution.started before anything runs
 * (the commit point), the terminal entry after the record is saved. */
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/router_int.h"

/* The WAL's commit point: execution.started, with the record's id (or a
 * fresh one when nothing is recorded) and the record's envelope hash.
 * When it cannot be written the execution is refused, never run unlogged.
 * -1 only when memory ran out. */
int
router_wal_begin(struct router *r, struct exec *x)
{
    char id[UUID_STR_LEN], hash[65];
    const char *eh = NULL;

    if (r->wal == NULL)
        return 0;
    x->wal = calloc(1, sizeof(*x->wal));
    if (x->wal == NULL) {
        err_set(&x->wal_err, IERR_NOMEM, NULL);
        x->wal_refused = true;
        return 0;
    }
    if (x->rec != NULL) {
        snprintf(id, sizeof(id), "%s", record_build_id(x->rec));
        eh = record_build_hash(x->rec);
    } else {
        uuid_v7(clock_wall_us() / 1000, id);
    }
    if (eh == NULL) {
        if (json_canonical_sha256(x->env, hash, &x->wal_err) != 0) {
            x->wal_refused = true;
            return 0;
        }
        eh = hash;
    }
    if (wal_run_begin(x->wal, r->wal,
                      &(struct wal_run_start){ .execution_id = id,
                                               .envelope_hash = eh,
                                               .intent_name = x->intent,
                                               .config_hash = r->config_hash,
                                               .require_determinism = r->require_determinism,
                                               .redact = x->redact },
                      &x->wal_err) != 0) {
        x->wal_refused = true;
        return 0;
    }
    if (r->on_started != NULL)
        r->on_started(r->exec_ctx, id);
    return 0;
}

/* After the record is saved (the commit order: record, then the WAL's
 * terminal entry, which therefore says whether the record exists), and the
 * WAL is closed. A sampled-out execution's log is removed: no record, no
 * log. */
void
router_wal_end(struct router *r, struct exec *x, const cJSON *response, struct route_result *out)
{
    if (x->wal_refused) {
        out->wal_failed = true;
        out->wal_err = x->wal_err;
    }
    if (x->wal == NULL)
        return;
    if (x->wal->f != NULL) {
        char id[UUID_STR_LEN];
        snprintf(id, sizeof(id), "%s", wal_file_id(x->wal->f));
        /* The terminal entry says whether the record exists: an async
         * writer's record is written (or failed) first, as a sync one is. */
        if (response != NULL && !out->sampled_out)
            route_result_settle(out);
        if (response != NULL && out->sampled_out)
            wal_run_discard(x->wal, response);
        else if (response != NULL && !out->recorded && out->record_err.code != IERR_OK)
            wal_run_end_unrecorded(x->wal, response, out->record_err.msg);
        else
            wal_run_end(x->wal, response);
        if (r->on_finished != NULL && response != NULL)
            r->on_finished(r->exec_ctx, id);
    }
    if (atomic_load(&x->wal->failed)) {
        out->wal_failed = true;
        out->wal_err = x->wal->err;
    }
    free(x->wal);
    x->wal = NULL;
}

/* A refusal because the WAL could not take execution.started. */
struct outcome
router_wal_refusal(struct exec *x)
{
    char msg[400];

    snprintf(msg, sizeof(msg), "write-ahead log unavailable, execution not started: %s",
             x->wal_err.msg);
    return router_fail(x, ERR_ROUTING_ERROR, msg, NULL, "router");
}

/* A WAL write failed after the commit point: whatever the agents answered,
 * the execution ends with an error naming the WAL (no further step was
 * started). Takes o. */
struct outcome
router_wal_stopped(struct exec *x, struct outcome o)
{
    char msg[400];

    cJSON_Delete(o.response);
    snprintf(msg, sizeof(msg), "write-ahead log write failed, no further step started: %s",
             x->wal->err.msg);
    return router_fail(x, ERR_ROUTING_ERROR, msg, NULL, "router");
}
