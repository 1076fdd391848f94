#include "core/gateway.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/record.h"

struct gateway {
    char *mode, *target, *server;
    struct writer *writer;
    struct wal *wal;
    const struct redactor *redactor;
    atomic_llong seq; /* the seed's sequence_number: gateway-global, monotonic */
};

struct gateway_call {
    char key[256];
    char tool[256];
    char agent[512];
    char trace_id[UUID_STR_LEN];
    char request_hash[65];
    char step_id[600];
    char started_at[CLOCK_ISO_LEN];
    int64_t mono_start;
    cJSON *request;
    cJSON *seed;
    struct recorder *rec;
    struct redact_ctx *redact;
    struct wal_file *wal;
};

/* What the WAL and the gateway section keep unredacted: ids, hashes, the
 * seed and the timing, which replay and recovery match by. */
static const char *const kept_keys[] = {
    "execution_id",
    "envelope_hash",
    "config_hash",
    "request_hash",
    "response_hash",
    "deterministic_seed",
    "started_at",
    "completed_at",
    "duration_ms",
    "status",
    "gateway_version",
    "method",
    "sequence_number",
    "step_id",
    "input_hash",
    "output_hash",
    NULL,
};

static char *
dup_or_empty(const char *s)
{
    return strdup(s != NULL ? s : "");
}

struct gateway *
gateway_new(const struct gateway_opts *o, struct intentus_err *err)
{
    struct gateway *g;

    if (o->writer == NULL) {
        err_set(err, IERR_INVALID, "gateway: no record writer");
        return NULL;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL || (g->mode = dup_or_empty(o->mode)) == NULL ||
        (g->target = dup_or_empty(o->target)) == NULL ||
        (g->server = dup_or_empty(o->server)) == NULL) {
        gateway_free(g);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    g->writer = o->writer;
    g->wal = o->wal;
    g->redactor = o->redactor != NULL && redactor_enabled(o->redactor) ? o->redactor : NULL;
    atomic_init(&g->seq, 0);
    return g;
}

void
gateway_free(struct gateway *g)
{
    if (g == NULL)
        return;
    free(g->mode);
    free(g->target);
    free(g->server);
    free(g);
}

static const char *
method_of(const cJSON *msg)
{
    return cJSON_IsObject(msg) ? json_get_string(msg, "method") : NULL;
}

bool
gateway_is_tool_call(const cJSON *msg)
{
    const char *m = method_of(msg);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");

    return m != NULL && strcmp(m, "tools/call") == 0 && id != NULL && !cJSON_IsNull(id);
}

bool
gateway_is_response(const cJSON *msg)
{
    return cJSON_IsObject(msg) && method_of(msg) == NULL &&
           cJSON_GetObjectItemCaseSensitive(msg, "id") != NULL &&
           (cJSON_GetObjectItemCaseSensitive(msg, "result") != NULL ||
            cJSON_GetObjectItemCaseSensitive(msg, "error") != NULL);
}

int
gateway_id_key(const cJSON *msg, char *out, size_t size)
{
    const cJSON *id = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "id") : NULL;
    struct buf b = BUF_INIT;
    int rc = -1;

    if (id == NULL || json_canonical(id, &b, NULL) != 0 || b.data == NULL)
        goto out;
    if (b.len + 1 <= size) {
        memcpy(out, b.data, b.len + 1);
        rc = 0;
    }
out:
    buf_free(&b);
    return rc;
}

static void
random_hex(char out[65])
{
    unsigned char r[32];
    size_t got = 0;

    while (got < sizeof(r)) {
        ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    for (size_t i = got; i < sizeof(r); i++)
        r[i] = (unsigned char)(clock_mono_us() >> (i % 8));
    for (size_t i = 0; i < sizeof(r); i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* The reference's DeterministicSeed.capture(). */
static cJSON *
seed_capture(struct gateway *g, const char *now)
{
    char hex[65];
    cJSON *s = cJSON_CreateObject();

    random_hex(hex);
    if (s == NULL || cJSON_AddStringToObject(s, "timestamp_iso", now) == NULL ||
        cJSON_AddNumberToObject(s, "sequence_number", (double)(atomic_fetch_add(&g->seq, 1) + 1)) ==
            NULL ||
        cJSON_AddNumberToObject(s, "process_id", (double)getpid()) == NULL ||
        cJSON_AddStringToObject(s, "random_seed", hex) == NULL ||
        cJSON_AddNullToObject(s, "env_hash") == NULL) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

static void
call_free(struct gateway_call *c)
{
    if (c == NULL)
        return;
    cJSON_Delete(c->request);
    cJSON_Delete(c->seed);
    recorder_free(c->rec);
    redact_ctx_free(c->redact);
    wal_file_close(c->wal);
    free(c);
}

/* Redact (all but kept_keys), then append. */
static int
wal_put(struct gateway_call *c, const char *type, cJSON *p, bool commit, struct intentus_err *err)
{
    if (p == NULL) {
        err_set(err, IERR_NOMEM, "WAL %s: out of memory", type);
        return -1;
    }
    if (redact_ctx_tree(c->redact, p, kept_keys, NULL) != 0) {
        cJSON_Delete(p);
        err_set(err, IERR_NOMEM, "WAL %s: out of memory redacting", type);
        return -1;
    }
    return wal_append(c->wal, type, p, commit, err);
}

static int
wal_started(struct gateway *g, struct gateway_call *c, struct intentus_err *err)
{
    const cJSON *header = cJSON_GetObjectItemCaseSensitive(recorder_record(c->rec), "header");
    cJSON *p = cJSON_CreateObject();

    c->wal = wal_file_create(g->wal, recorder_id(c->rec), err);
    if (c->wal == NULL) {
        cJSON_Delete(p);
        return -1;
    }
    if (p != NULL &&
        (cJSON_AddStringToObject(p, "execution_id", recorder_id(c->rec)) == NULL ||
         cJSON_AddStringToObject(p, "envelope_hash", json_get_string(header, "envelopeHash")) ==
             NULL ||
         cJSON_AddStringToObject(p, "intent_name", c->tool) == NULL ||
         cJSON_AddStringToObject(p, "config_hash", "") == NULL ||
         cJSON_AddBoolToObject(p, "require_determinism", false) == NULL ||
         cJSON_AddStringToObject(p, "request_hash", c->request_hash) == NULL ||
         cJSON_AddStringToObject(p, "method", "tools/call") == NULL ||
         cJSON_AddStringToObject(p, "tool_name", c->tool) == NULL ||
         cJSON_AddItemToObject(p, "deterministic_seed", cJSON_Duplicate(c->seed, 1)) == 0 ||
         cJSON_AddStringToObject(p, "started_at", c->started_at) == NULL ||
         cJSON_AddStringToObject(p, "gateway_version", GATEWAY_VERSION) == NULL)) {
        cJSON_Delete(p);
        p = NULL;
    }
    if (wal_put(c, "execution.started", p, true, err) != 0) {
        wal_file_discard(c->wal); /* nothing committed: no log */
        c->wal = NULL;
        return -1;
    }
    /* The call itself is one step of agent mcp:<server>/<tool>. What a tool
     * does is unknown, so it is logged as irreversible: on disk (a commit
     * point) before the request goes out. Its input is the arguments. */
    char hash[65] = "";
    json_canonical_sha256(cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(c->request, "params"), "arguments"),
                          hash, NULL);
    snprintf(c->step_id, sizeof(c->step_id), "step-1-%s", c->agent);
    p = cJSON_CreateObject();
    if (p != NULL && (cJSON_AddStringToObject(p, "step_id", c->step_id) == NULL ||
                      cJSON_AddStringToObject(p, "agent_name", c->agent) == NULL ||
                      cJSON_AddStringToObject(p, "side_effect", "irreversible") == NULL ||
                      cJSON_AddArrayToObject(p, "contracts") == NULL ||
                      cJSON_AddStringToObject(p, "input_hash", hash) == NULL)) {
        cJSON_Delete(p);
        p = NULL;
    }
    if (wal_put(c, "step.started", p, true, err) != 0) {
        /* execution.started is committed and stays (recovery lists the
         * log as incomplete); the call is relayed unrecorded. */
        wal_file_close(c->wal);
        c->wal = NULL;
        return -1;
    }
    return 0;
}

struct gateway_call *
gateway_call_begin(struct gateway *g, const cJSON *request, struct intentus_err *err)
{
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(request, "params");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "arguments");
    const char *tool = json_get_string(params, "name");
    struct gateway_call *c = calloc(1, sizeof(*c));
    cJSON *env = NULL, *p;

    if (c == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    c->mono_start = clock_mono_us();
    clock_now_iso(c->started_at);
    snprintf(c->tool, sizeof(c->tool), "%s", tool != NULL && tool[0] != '\0' ? tool : "tools/call");
    snprintf(c->agent, sizeof(c->agent), "mcp:%s/%s", g->server, c->tool);
    if (gateway_id_key(request, c->key, sizeof(c->key)) != 0) {
        err_set(err, IERR_INVALID, "tools/call: the request id is missing or too long");
        goto fail;
    }
    c->request = cJSON_Duplicate(request, 1);
    c->seed = seed_capture(g, c->started_at);
    if (c->request == NULL || c->seed == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    if (json_canonical_sha256(request, c->request_hash, err) != 0)
        goto fail;
    env = envelope_new(c->tool,
                       cJSON_IsObject(args) ? cJSON_Duplicate(args, 1) : cJSON_CreateObject(),
                       &(struct envelope_opts){ .source_agent = "mcp-client",
                                                .source = GATEWAY_SOURCE,
                                                .strategy = STRATEGY_DIRECT,
                                                .target_agent = c->agent },
                       err);
    if (env == NULL)
        goto fail;
    snprintf(c->trace_id, sizeof(c->trace_id), "%s",
             envelope_trace_id(env) ? envelope_trace_id(env) : "");
    c->rec = recorder_new(env, err);
    if (c->rec == NULL)
        goto fail;
    if (g->redactor != NULL && (c->redact = redact_ctx_new(g->redactor, env, err)) == NULL)
        goto fail;
    p = cJSON_CreateObject();
    if (p != NULL) {
        cJSON_AddStringToObject(p, "traceId", c->trace_id);
        cJSON_AddStringToObject(p, "intent", c->tool);
        cJSON_AddStringToObject(p, "source", GATEWAY_SOURCE);
        cJSON_AddStringToObject(p, "method", "tools/call");
    }
    recorder_event_at(c->rec, "INTENT_RECEIVED", p, c->mono_start);
    p = cJSON_CreateObject();
    if (p != NULL) {
        cJSON_AddStringToObject(p, "agent", c->agent);
        cJSON_AddStringToObject(p, "strategy", "DIRECT");
    }
    recorder_event_at(c->rec, "AGENT_ATTEMPT_START", p, c->mono_start);
    if (g->wal != NULL && wal_started(g, c, err) != 0)
        goto fail;
    cJSON_Delete(env);
    return c;
fail:
    cJSON_Delete(env);
    call_free(c);
    return NULL;
}

const char *
gateway_call_id(const struct gateway_call *c)
{
    return recorder_id(c->rec);
}

const char *
gateway_call_key(const struct gateway_call *c)
{
    return c->key;
}

/* The first text of a tool result's content, for an error message. */
static const char *
first_text(const cJSON *result)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(result, "content"))
    {
        const char *t = json_get_string(item, "text");
        if (t != NULL)
            return t;
    }
    return NULL;
}

static cJSON *
final_response(const struct gateway_call *c, const cJSON *response, const char *failure)
{
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(response, "result");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(response, "error");
    char msg[1024];

    if (response == NULL) {
        snprintf(msg, sizeof(msg), "MCP server %s: %s", c->agent,
                 failure != NULL ? failure : "no response");
        return response_agent_error(error_info_new(ERR_TRANSPORT_ERROR, msg, true, NULL), c->agent,
                                    c->trace_id);
    }
    if (error != NULL) {
        const char *m = json_get_string(error, "message");
        long long code = 0;
        json_get_int64(error, "code", &code);
        snprintf(msg, sizeof(msg), "JSON-RPC error %lld: %s", code, m != NULL ? m : "");
        cJSON *details = cJSON_CreateObject();
        if (details != NULL)
            cJSON_AddItemToObject(details, "jsonrpc_error", cJSON_Duplicate(error, 1));
        return response_agent_error(error_info_new(ERR_AGENT_ERROR, msg, false, details), c->agent,
                                    c->trace_id);
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "isError"))) {
        const char *t = first_text(result);
        snprintf(msg, sizeof(msg), "tool %s reported an error%s%s", c->tool, t ? ": " : "",
                 t ? t : "");
        return response_agent_error(error_info_new(ERR_AGENT_ERROR, msg, false, NULL), c->agent,
                                    c->trace_id);
    }
    return response_success(cJSON_Duplicate(result, 1), c->agent, c->trace_id);
}

static cJSON *
gateway_section(struct gateway *g, const struct gateway_call *c, const cJSON *response,
                const char *response_hash, const char *failure, const char *completed_at,
                double duration_ms)
{
    cJSON *s = cJSON_CreateObject();
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c->request, "id");

    if (s == NULL || cJSON_AddStringToObject(s, "execution_id", recorder_id(c->rec)) == NULL ||
        cJSON_AddItemToObject(s, "deterministic_seed", cJSON_Duplicate(c->seed, 1)) == 0 ||
        cJSON_AddItemToObject(s, "request", cJSON_Duplicate(c->request, 1)) == 0 ||
        cJSON_AddStringToObject(s, "request_hash", c->request_hash) == NULL ||
        cJSON_AddItemToObject(s, "response",
                              response ? cJSON_Duplicate(response, 1) : cJSON_CreateNull()) == 0 ||
        cJSON_AddItemToObject(s, "response_hash",
                              response_hash ? cJSON_CreateString(response_hash)
                                            : cJSON_CreateNull()) == 0 ||
        cJSON_AddStringToObject(s, "method", "tools/call") == NULL ||
        cJSON_AddStringToObject(s, "tool_name", c->tool) == NULL ||
        cJSON_AddStringToObject(s, "started_at", c->started_at) == NULL ||
        cJSON_AddStringToObject(s, "completed_at", completed_at) == NULL ||
        cJSON_AddNumberToObject(s, "duration_ms", duration_ms) == NULL ||
        cJSON_AddStringToObject(s, "status", response != NULL ? "completed" : "failed") == NULL ||
        cJSON_AddItemToObject(s, "error",
                              response == NULL
                                  ? cJSON_CreateString(failure ? failure : "no response")
                                  : cJSON_CreateNull()) == 0 ||
        cJSON_AddStringToObject(s, "gateway_version", GATEWAY_VERSION) == NULL ||
        cJSON_AddStringToObject(s, "mode", g->mode) == NULL ||
        cJSON_AddStringToObject(s, "target", g->target) == NULL ||
        cJSON_AddStringToObject(s, "server", g->server) == NULL ||
        cJSON_AddItemToObject(s, "jsonrpc_id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull()) ==
            0) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

/* The WAL's step end and terminal entry: the reference's execution_end
 * fields. The entry types follow the call's outcome, as the router's do
 * (records verify compares them with the record): a response that is an
 * error (JSON-RPC error, isError) ends as step.failed and execution.failed,
 * with status "completed" (the reference's: a response came). */
static void
wal_ended(struct gateway_call *c, const cJSON *final, const char *response_hash,
          const char *failure, const char *completed_at, double duration_ms,
          const char *record_error)
{
    struct intentus_err e = { 0 };
    bool error = final == NULL || response_is_error(final);
    bool failed = error || response_hash == NULL || record_error != NULL;
    const char *reason = record_error != NULL ? record_error
                         : response_hash == NULL
                             ? (failure != NULL ? failure : "no response")
                             : json_get_string(response_error(final), "message");
    const char *ftype = response_hash == NULL ? "transport_error"
                        : error               ? "agent_error"
                                              : "unknown";
    cJSON *p;

    if (c->wal == NULL)
        return;
    p = cJSON_CreateObject();
    if (p != NULL) {
        cJSON_AddStringToObject(p, "step_id", c->step_id);
        if (error) {
            cJSON_AddStringToObject(p, "failure_type", ftype);
            cJSON_AddStringToObject(p, "reason", reason ? reason : "");
            cJSON_AddBoolToObject(p, "recoverable", false);
        } else {
            char hash[65] = "";
            json_canonical_sha256(final, hash, NULL);
            cJSON_AddStringToObject(p, "output_hash", hash);
            cJSON_AddBoolToObject(p, "success", true);
        }
    }
    wal_put(c, error ? "step.failed" : "step.completed", p, false, &e);
    p = cJSON_CreateObject();
    if (p != NULL) {
        cJSON_AddStringToObject(p, "execution_id", recorder_id(c->rec));
        if (response_hash != NULL)
            cJSON_AddStringToObject(p, "response_hash", response_hash);
        cJSON_AddStringToObject(p, "status", response_hash != NULL ? "completed" : "failed");
        cJSON_AddStringToObject(p, "completed_at", completed_at);
        cJSON_AddNumberToObject(p, "duration_ms", duration_ms);
        if (failed) {
            cJSON_AddStringToObject(p, "failure_type", record_error != NULL ? "unknown" : ftype);
            cJSON_AddStringToObject(p, "reason", reason ? reason : "");
            cJSON_AddBoolToObject(p, "recoverable", false);
            if (response_hash == NULL)
                cJSON_AddStringToObject(p, "error", failure != NULL ? failure : "no response");
        }
        if (record_error != NULL) {
            cJSON_AddBoolToObject(p, "record_written", false);
            cJSON_AddStringToObject(p, "record_error", record_error);
        }
    }
    wal_put(c, failed ? "execution.failed" : "execution.completed", p, false, &e);
}

int
gateway_call_end(struct gateway *g, struct gateway_call *c, const cJSON *response,
                 const char *failure, struct intentus_err *err)
{
    char completed_at[CLOCK_ISO_LEN], response_hash[65];
    bool have_hash = false;
    int64_t mono_end = clock_mono_us();
    double duration_ms = (double)(mono_end - c->mono_start) / 1000.0;
    cJSON *final = NULL, *p, *tree, *section;
    struct writer_fate *fate = NULL;
    struct redact_report rep = { 0 };
    int rc = -1;

    clock_now_iso(completed_at);
    if (response != NULL && json_canonical_sha256(response, response_hash, NULL) == 0)
        have_hash = true;
    final = final_response(c, response, failure);
    if (final == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    p = cJSON_CreateObject();
    if (p != NULL) {
        cJSON_AddStringToObject(p, "agent", c->agent);
        cJSON_AddStringToObject(p, "status", response_is_error(final) ? "error" : "ok");
        if (response_is_error(final))
            cJSON_AddStringToObject(p, "error_code", response_error_code(final));
    }
    recorder_event_at(c->rec, "AGENT_ATTEMPT_END", p, mono_end);
    p = decision_new(c->agent, c->tool, "mcp gateway");
    if (p == NULL || recorder_decision(c->rec, p) != 0 || recorder_final(c->rec, final) != 0) {
        cJSON_Delete(p);
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    cJSON_Delete(p);
    if (response == NULL) {
        char why[600];
        snprintf(why, sizeof(why), "no MCP response was recorded: %s",
                 failure != NULL ? failure : "no response");
        recorder_set_header(c->rec, "replayable", cJSON_CreateFalse());
        recorder_set_header(c->rec, "replayableReason", cJSON_CreateString(why));
    }
    section = gateway_section(g, c, response, have_hash ? response_hash : NULL, failure,
                              completed_at, duration_ms);
    if (section == NULL || recorder_set_key(c->rec, "gateway", section) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    tree = recorder_take(c->rec);
    if (c->redact != NULL) {
        /* The gateway section keeps its ids, hashes and seed (kept_keys),
         * so it is redacted on its own, not as an unknown key of the
         * record (which would take the hashes for key-like secrets). */
        cJSON *header = cJSON_GetObjectItemCaseSensitive(tree, "header");
        cJSON *gw = json_detach(tree, "gateway");
        int r1 = redact_ctx_tree(c->redact, gw, kept_keys, &rep);
        int r2 = redact_ctx_record(c->redact, tree, NULL, err);
        if (gw != NULL)
            cJSON_AddItemToObject(tree, "gateway", gw);
        if (r1 != 0 || r2 != 0) {
            if (err->code == IERR_OK)
                err_set(err, IERR_NOMEM, "redacting the record");
            cJSON_Delete(tree);
            goto out;
        }
        /* The gateway section's changes count with the rest. */
        cJSON *note = cJSON_GetObjectItemCaseSensitive(header, "redaction");
        cJSON *fields = cJSON_GetObjectItemCaseSensitive(note, "fields");
        if (rep.fields > 0 && fields != NULL && cJSON_IsNumber(fields)) {
            cJSON_SetNumberValue(fields, fields->valuedouble + (double)rep.fields);
            cJSON_ReplaceItemInObjectCaseSensitive(note, "applied", cJSON_CreateTrue());
        }
    }
    rc = writer_submit_tracked(g->writer, tree, &fate, err);
    if (rc == 0 && fate != NULL)
        rc = writer_fate_wait(fate, err);
    writer_fate_release(fate);
out:
    wal_ended(c, final, have_hash ? response_hash : NULL, failure, completed_at, duration_ms,
              rc == 0 ? NULL : (err->msg[0] ? err->msg : "the record was not written"));
    redact_report_free(&rep);
    cJSON_Delete(final);
    call_free(c);
    return rc;
}

/* ---- waiting calls ---- */

struct gateway_pending {
    pthread_mutex_t lock;
    struct gateway_call **calls;
    size_t n, cap;
};

struct gateway_pending *
gateway_pending_new(void)
{
    struct gateway_pending *p = calloc(1, sizeof(*p));

    if (p != NULL)
        pthread_mutex_init(&p->lock, NULL);
    return p;
}

void
gateway_pending_free(struct gateway_pending *p, struct gateway *g, const char *failure)
{
    struct intentus_err e = { 0 };

    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        gateway_call_end(g, p->calls[i], NULL, failure, &e);
    free(p->calls);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

int
gateway_pending_add(struct gateway_pending *p, struct gateway_call *c)
{
    int rc = 0;

    pthread_mutex_lock(&p->lock);
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct gateway_call **n = realloc(p->calls, cap * sizeof(*n));
        if (n == NULL)
            rc = -1;
        else {
            p->calls = n;
            p->cap = cap;
        }
    }
    if (rc == 0)
        p->calls[p->n++] = c;
    pthread_mutex_unlock(&p->lock);
    return rc;
}

struct gateway_call *
gateway_pending_take(struct gateway_pending *p, const char *key)
{
    struct gateway_call *c = NULL;

    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->calls[i]->key, key) == 0) {
            c = p->calls[i];
            memmove(&p->calls[i], &p->calls[i + 1], (p->n - i - 1) * sizeof(*p->calls));
            p->n--;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    return c;
}

static int
settle_one(struct gateway_pending *p, struct gateway *g, const cJSON *msg, struct intentus_err *err)
{
    char key[256];
    struct gateway_call *c;

    if (!gateway_is_response(msg) || gateway_id_key(msg, key, sizeof(key)) != 0)
        return 0;
    c = gateway_pending_take(p, key);
    if (c == NULL)
        return 0;
    return gateway_call_end(g, c, msg, NULL, err) == 0 ? 1 : -1;
}

int
gateway_pending_settle(struct gateway_pending *p, struct gateway *g, const cJSON *msg,
                       struct intentus_err *err)
{
    const cJSON *item;
    int n = 0;

    if (!cJSON_IsArray(msg))
        return settle_one(p, g, msg, err);
    cJSON_ArrayForEach(item, msg) /* a batch: one level, as JSON-RPC has it */
    {
        int r = settle_one(p, g, item, err);
        if (r < 0)
            return -1;
        n += r;
    }
    return n > 0;
}

/* ---- replay ---- */

static cJSON *
dup_or_null(const cJSON *v)
{
    return v != NULL ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
}

int
gateway_replay(const cJSON *record, const cJSON *wal_entries, cJSON **out, struct intentus_err *err)
{
    static const char *const copied[] = {
        "response",  "request", "request_hash", "response_hash", "deterministic_seed", "method",
        "tool_name", "status",  "started_at",   "completed_at",  "duration_ms",        NULL,
    };
    const cJSON *gw = cJSON_GetObjectItemCaseSensitive(record, "gateway");
    const cJSON *header = cJSON_GetObjectItemCaseSensitive(record, "header");
    const char *id = record_id(record), *status;
    const cJSON *response;
    char now[CLOCK_ISO_LEN];
    cJSON *r;

    *out = NULL;
    if (!cJSON_IsObject(gw)) {
        err_set(err, IERR_INVALID,
                "%s is not a gateway execution (the record has no \"gateway\" section; "
                "'intentus retrieve' reads routed executions)",
                id ? id : "the record");
        return -1;
    }
    status = json_get_string(gw, "status");
    response = cJSON_GetObjectItemCaseSensitive(gw, "response");
    if (status == NULL || (strcmp(status, "completed") != 0 && strcmp(status, "failed") != 0 &&
                           strcmp(status, "partial") != 0)) {
        err_set(err, IERR_INVALID,
                "execution %s is in state '%s' and cannot be replayed. Only completed, failed, "
                "or partial executions can be replayed.",
                id ? id : "?", status ? status : "unknown");
        return -1;
    }
    if (!cJSON_IsObject(response) ||
        cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(header, "replayable"))) {
        const char *why = json_get_string(header, "replayableReason");
        const char *e = json_get_string(gw, "error");
        err_set(err, IERR_NOT_FOUND, "%s is not replayable: %s", id ? id : "?",
                why ? why
                : e ? e
                    : "the record holds no MCP response");
        return -1;
    }
    r = cJSON_CreateObject();
    if (r == NULL || cJSON_AddStringToObject(r, "execution_id", id ? id : "") == NULL)
        goto nomem;
    for (size_t i = 0; copied[i] != NULL; i++) {
        if (!cJSON_AddItemToObject(r, copied[i],
                                   dup_or_null(cJSON_GetObjectItemCaseSensitive(gw, copied[i]))))
            goto nomem;
    }
    clock_now_iso(now);
    if (!cJSON_AddItemToObject(r, "wal_entries",
                               wal_entries ? cJSON_Duplicate(wal_entries, 1)
                                           : cJSON_CreateArray()) ||
        cJSON_AddStringToObject(r, "replayed_at", now) == NULL ||
        cJSON_AddStringToObject(r, "warning", GATEWAY_REPLAY_WARNING) == NULL)
        goto nomem;
    *out = r;
    return 0;
nomem:
    cJSON_Delete(r);
    err_set(err, IERR_NOMEM, NULL);
    return -1;
}
