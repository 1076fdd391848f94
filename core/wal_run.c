#include "core/wal_run.h"

#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/model.h"

static void
note_failure(struct wal_run *wr, const struct intentus_err *e)
{
    if (atomic_exchange(&wr->failed, 1) == 0)
        wr->err = *e;
}

/* What recovery matches entries and records by: never redacted. */
static const char *const kept_keys[] = {
    "execution_id", "step_id",     "envelope_hash", "config_hash",
    "input_hash",   "output_hash", "response_hash", NULL,
};

/* Redact, then append: the one way a payload reaches the log. */
static int
append_redacted(struct wal_file *f, const struct redact_ctx *rx, const char *type, cJSON *payload,
                bool commit, struct intentus_err *err)
{
    if (redact_ctx_tree(rx, payload, kept_keys, NULL) != 0) {
        cJSON_Delete(payload);
        err_set(err, IERR_NOMEM, "WAL %s: out of memory redacting", type);
        return -1;
    }
    return wal_append(f, type, payload, commit, err);
}

static void
append(struct wal_run *wr, const char *type, cJSON *payload, bool commit)
{
    struct intentus_err e = { 0 };

    if (wr->f == NULL || atomic_load(&wr->failed)) {
        /* After a failed write the log says nothing more until the end: an
         * entry after a missing one would describe steps that must not run. */
        cJSON_Delete(payload);
        return;
    }
    if (payload == NULL) {
        err_set(&e, IERR_NOMEM, "WAL %s: out of memory", type);
        note_failure(wr, &e);
        return;
    }
    if (append_redacted(wr->f, wr->redact, type, payload, commit, &e) != 0)
        note_failure(wr, &e);
}

int
wal_run_begin(struct wal_run *wr, struct wal *w, const struct wal_run_start *s,
              struct intentus_err *err)
{
    cJSON *p = cJSON_CreateObject();

    memset(wr, 0, sizeof(*wr));
    wr->redact = s->redact;
    if (p == NULL || cJSON_AddStringToObject(p, "execution_id", s->execution_id) == NULL ||
        cJSON_AddStringToObject(p, "envelope_hash", s->envelope_hash) == NULL ||
        cJSON_AddStringToObject(p, "intent_name", s->intent_name ? s->intent_name : "") == NULL ||
        cJSON_AddStringToObject(p, "config_hash", s->config_hash) == NULL ||
        cJSON_AddBoolToObject(p, "require_determinism", s->require_determinism) == NULL) {
        cJSON_Delete(p);
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    wr->f = wal_file_create(w, s->execution_id, err);
    if (wr->f == NULL) {
        cJSON_Delete(p);
        return -1;
    }
    if (append_redacted(wr->f, wr->redact, "execution.started", p, true, err) != 0) {
        /* Nothing was committed: a refused execution leaves no log. */
        wal_file_discard(wr->f);
        wr->f = NULL;
        return -1;
    }
    return 0;
}

bool
wal_run_stopped(struct wal_run *wr)
{
    return wr->f != NULL && atomic_load(&wr->failed);
}

int
wal_run_step_start(struct wal_run *wr, const struct agent *a, const cJSON *env,
                   char step_id[WAL_STEP_ID_LEN])
{
    cJSON *p;
    char hash[65] = "";

    snprintf(step_id, WAL_STEP_ID_LEN, "step-%d-%s", atomic_fetch_add(&wr->steps, 1) + 1, a->name);
    if (wr->f == NULL)
        return 0;
    if (atomic_load(&wr->failed))
        return -1;
    /* The step's input is the payload the agent works on. */
    json_canonical_sha256(cJSON_GetObjectItemCaseSensitive(env, "payload"), hash, NULL);
    p = cJSON_CreateObject();
    if (p != NULL && (cJSON_AddStringToObject(p, "step_id", step_id) == NULL ||
                      cJSON_AddStringToObject(p, "agent_name", a->name) == NULL ||
                      cJSON_AddStringToObject(p, "side_effect",
                                              agent_side_effect_name(a->side_effect)) == NULL ||
                      cJSON_AddArrayToObject(p, "contracts") == NULL ||
                      cJSON_AddStringToObject(p, "input_hash", hash) == NULL)) {
        cJSON_Delete(p);
        p = NULL;
    }
    /* An irreversible step must be on disk before it can happen. */
    append(wr, "step.started", p, a->side_effect == SIDE_EFFECT_IRREVERSIBLE);
    return atomic_load(&wr->failed) ? -1 : 0;
}

/* The reference's failure types for an error code. */
static const char *
failure_type(const char *code)
{
    static const char *const map[][2] = {
        { "AGENT_TIMEOUT", "timeout" },           { "AGENT_UNAVAILABLE", "agent_unavailable" },
        { "TRANSPORT_ERROR", "transport_error" }, { "INTERNAL_AGENT_ERROR", "agent_crashed" },
        { "AGENT_ERROR", "agent_error" },         { "CAPABILITY_NOT_FOUND", "no_agent_found" },
        { "ROUTING_ERROR", "routing_error" },     { "VALIDATION_ERROR", "invalid_input" },
        { "PAYLOAD_TOO_LARGE", "invalid_input" }, { "PROTOCOL_ERROR", "agent_error" },
    };

    for (size_t i = 0; code != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i][0], code) == 0)
            return map[i][1];
    }
    return "unknown";
}

static cJSON *
failure_payload(const char *key, const char *id, const cJSON *resp, const char *exception)
{
    const cJSON *e = response_error(resp);
    const char *msg = exception != NULL ? exception : json_get_string(e, "message");
    cJSON *p = cJSON_CreateObject();

    if (p == NULL || cJSON_AddStringToObject(p, key, id) == NULL ||
        cJSON_AddStringToObject(p, "failure_type",
                                exception != NULL
                                    ? "agent_crashed"
                                    : failure_type(response_error_code(resp))) == NULL ||
        cJSON_AddStringToObject(p, "reason", msg ? msg : "") == NULL ||
        cJSON_AddBoolToObject(p, "recoverable",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "retryable"))) ==
            NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

void
wal_run_step_end(struct wal_run *wr, const char *step_id, const cJSON *resp, const char *exception)
{
    char hash[65] = "";
    cJSON *p;

    if (wr->f == NULL)
        return;
    if (resp == NULL || response_is_error(resp)) {
        append(wr, "step.failed", failure_payload("step_id", step_id, resp, exception), false);
        return;
    }
    json_canonical_sha256(resp, hash, NULL);
    p = cJSON_CreateObject();
    if (p != NULL && (cJSON_AddStringToObject(p, "step_id", step_id) == NULL ||
                      cJSON_AddStringToObject(p, "output_hash", hash) == NULL ||
                      cJSON_AddBoolToObject(p, "success", true) == NULL)) {
        cJSON_Delete(p);
        p = NULL;
    }
    append(wr, "step.completed", p, false);
}

void
wal_run_fallback(struct wal_run *wr, const char *from, const char *to, const char *reason)
{
    cJSON *p;

    if (wr->f == NULL)
        return;
    p = cJSON_CreateObject();
    if (p != NULL && (cJSON_AddStringToObject(p, "from_agent", from) == NULL ||
                      cJSON_AddStringToObject(p, "to_agent", to) == NULL ||
                      cJSON_AddStringToObject(p, "reason", reason ? reason : "") == NULL)) {
        cJSON_Delete(p);
        p = NULL;
    }
    append(wr, "fallback.triggered", p, false);
}

void
wal_run_exhausted(struct wal_run *wr, const char *last_agent, const char *reason)
{
    cJSON *p;

    if (wr->f == NULL)
        return;
    p = cJSON_CreateObject();
    if (p != NULL &&
        (cJSON_AddStringToObject(p, "last_agent", last_agent ? last_agent : "") == NULL ||
         cJSON_AddStringToObject(p, "reason", reason ? reason : "") == NULL)) {
        cJSON_Delete(p);
        p = NULL;
    }
    append(wr, "fallback.exhausted", p, false);
}

/* The terminal entry (none when response is NULL), then close or, with
 * discard, remove the log. unrecorded: why the record that should exist was
 * not written (the entry is then execution.failed, record_written false). */
static void
end(struct wal_run *wr, const cJSON *response, const char *unrecorded, bool discard)
{
    struct intentus_err e = { 0 };
    cJSON *p = NULL;

    if (wr->f == NULL)
        return;
    if (response != NULL) {
        char hash[65] = "";
        const char *id = wal_file_id(wr->f);
        bool failed = response_is_error(response) || unrecorded != NULL;
        json_canonical_sha256(response, hash, NULL);
        if (unrecorded != NULL && !response_is_error(response)) {
            char reason[600];
            snprintf(reason, sizeof(reason),
                     "the execution finished but its record was not written: %s", unrecorded);
            p = cJSON_CreateObject();
            if (p != NULL && (cJSON_AddStringToObject(p, "execution_id", id) == NULL ||
                              cJSON_AddStringToObject(p, "failure_type", "unknown") == NULL ||
                              cJSON_AddStringToObject(p, "reason", reason) == NULL ||
                              cJSON_AddBoolToObject(p, "recoverable", false) == NULL)) {
                cJSON_Delete(p);
                p = NULL;
            }
        } else if (failed) {
            p = failure_payload("execution_id", id, response, NULL);
            /* "fallback" etc.: every candidate failed. */
            const char *agent =
                json_get_string(cJSON_GetObjectItemCaseSensitive(response, "metadata"), "agent");
            if (p != NULL && agent != NULL &&
                (strcmp(agent, "fallback") == 0 || strcmp(agent, "broadcast") == 0 ||
                 strcmp(agent, "parallel") == 0))
                cJSON_ReplaceItemInObjectCaseSensitive(p, "failure_type",
                                                       cJSON_CreateString("fallback_exhausted"));
        } else {
            p = cJSON_CreateObject();
            if (p != NULL)
                cJSON_AddStringToObject(p, "execution_id", id);
        }
        if (p != NULL && cJSON_AddStringToObject(p, "response_hash", hash) == NULL) {
            cJSON_Delete(p);
            p = NULL;
        }
        /* The WAL's last state says whether the record exists. */
        if (p != NULL && unrecorded != NULL &&
            (cJSON_AddBoolToObject(p, "record_written", false) == NULL ||
             cJSON_AddStringToObject(p, "record_error", unrecorded) == NULL)) {
            cJSON_Delete(p);
            p = NULL;
        }
        /* Tried even after a failed write (the failed entry was cut off, so
         * the log stays whole): the end is worth having if it fits. */
        if (p == NULL)
            err_set(&e, IERR_NOMEM, "WAL terminal entry: out of memory");
        if (p == NULL ||
            append_redacted(wr->f, wr->redact, failed ? "execution.failed" : "execution.completed",
                            p, false, &e) != 0)
            note_failure(wr, &e);
    }
    if (discard)
        wal_file_discard(wr->f);
    else
        wal_file_close(wr->f);
    wr->f = NULL;
}

void
wal_run_end(struct wal_run *wr, const cJSON *response)
{
    end(wr, response, NULL, false);
}

void
wal_run_end_unrecorded(struct wal_run *wr, const cJSON *response, const char *why)
{
    end(wr, response, why, false);
}

void
wal_run_discard(struct wal_run *wr, const cJSON *response)
{
    end(wr, response, NULL, true);
}
