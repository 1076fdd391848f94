/* intentus serve: the router as a long-running HTTP service (libmicrohttpd).
 *
 * One runtime holds breakers, rate-limit buckets and the record writer for
 * every client. A request thread authenticates, builds or checks the
 * envelope, applies the caller's identity, submits it to the runtime's
 * worker pool and waits (bounded by serve.request_timeout) for its
 * completion, which one collector thread hands out by tag. Signals are taken
 * synchronously on the main thread: SIGHUP reloads, SIGTERM/SIGINT stop
 * accepting and drain up to --grace. */
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/emcl.h"
#include "core/json.h"
#include "core/model.h"
#include "core/runtime.h"
#include "core/units.h"
#include "core/writer.h"
#include "tui/cli.h"
#include "tui/serve_conf.h"
#include "tui/serve_events.h"
#include "tui/serve_limits.h"
#include "tui/serve_tls.h"
#include "watch/shared_pg.h"
#include "watch/stores.h"

static const char serve_help[] =
    "Usage: intentus serve [options]\n"
    "\n"
    "Run the router as a long-running HTTP/1.1 service: one process holds the\n"
    "circuit breakers, rate limits and the record writer for every client.\n"
    "With serve.shared_state {\"url\": \"postgres://...\"} in the config, rate\n"
    "limits and circuit states are shared by every serve on that database.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE        config file (default: search order, then demo)\n"
    "  -l, --listen ADDR        HOST:PORT or unix:PATH (default 127.0.0.1:8765);\n"
    "                           plain HTTP only on loopback or a Unix socket unless\n"
    "                           TLS is on or the config says serve.allow_insecure\n"
    "  -g, --grace DURATION     on SIGTERM/SIGINT, how long in-flight requests may\n"
    "                           finish (default 10s); queued work left is recorded\n"
    "                           as aborted\n"
    "  -w, --workers N          worker threads for executions that may wait for an\n"
    "                           agent or write a WAL (default 4); one that only\n"
    "                           in-memory agents can take runs on its HTTP thread\n"
    "      --tls-cert FILE      serve HTTPS with this PEM certificate (chain);\n"
    "      --tls-key FILE       and this PEM private key, not readable by group or\n"
    "                           others (both; override serve.tls in the config).\n"
    "                           With TLS any listen address is allowed. Read at\n"
    "                           start only: restart to use a renewed certificate\n"
    "      --no-auth            serve without tokens (loopback or unix only)\n"
    "      --store URL          record into this store (file:DIR, sqlite:PATH,\n"
    "                           postgres://...), over the config's recording.store\n"
    "  -h, --help               this help\n"
    "\n"
    "Endpoints:\n"
    "  POST /intent             INTENTUSNET/1.0 frame (the reference's HTTPTransport)\n"
    "  POST /v1/route           {intent, payload, strategy, target, fallback, tenant,\n"
    "                           priority, timeout, version} -> {executionId, recorded,\n"
    "                           sampledOut, response}\n"
    "  GET  /health             {live, ready}; 503 when not ready\n"
    "  GET  /metrics            Prometheus text format\n"
    "  GET  /v1/agents          agents with live breaker state          (admin)\n"
    "  POST /v1/agents/NAME/reset|disable|enable                        (admin)\n"
    "  POST /v1/reload          re-read the config, keep the old on error (admin)\n"
    "  GET  /v1/events          Server-Sent Events: finished executions (any token:\n"
    "                           its own tenants'; admin: all) and, for admin only,\n"
    "                           breaker transitions, agents disabled/enabled and\n"
    "                           reloads; resumes from Last-Event-ID\n"
    "\n"
    "EMCL: with serve.emcl {key: \"$NAME\" | key_file: F, mode: aes-gcm|hmac,\n"
    "identity, required} POST /intent also takes the reference's EMCL frames\n"
    "(messageType \"emcl\") and answers sealed; a frame that does not open is\n"
    "refused (403, or 400 when malformed), never routed. required: true refuses\n"
    "plain intents (on /v1/route too).\n"
    "Tokens: 'Authorization: Bearer TOKEN', checked against serve.tokens in the\n"
    "config ({sha256|file|env, subject, tenants, roles}); the request's tenant is\n"
    "the token's, metadata.source its subject. Without tokens serve refuses to\n"
    "start unless --no-auth is given, and --no-auth only on loopback or unix.\n"
    "Limits (config serve.*): max_body (1MiB, 413), max_header (16KiB, 431),\n"
    "client_deadline (10s to send a whole request, counted from the accept or\n"
    "the previous request's end, then the connection is cut), max_connections\n"
    "(1000), max_connections_per_client (64; none on loopback unless set),\n"
    "queue (256, 503), request_timeout (30s, 504); refusals are in /metrics.\n"
    "Signals: SIGHUP reloads (a bad config is logged, the old one kept);\n"
    "SIGTERM/SIGINT drain and exit 0.\n"
    "\n"
    "Exit status: 0 after a clean stop, 1 if the service failed, 2 usage or\n"
    "configuration error.\n";

#define LAT_BUCKETS 12
static const double lat_bounds_s[LAT_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1,    5 };
#define MAX_CODE_ROWS 256
#define POOL_THREADS 16

/* One request. While its execution runs the connection is suspended
 * (MHD_suspend_connection) and the request sits on the server's pending
 * list; the collector resumes it with the completion, or with a status when
 * the deadline passes or the service stops, so no thread waits for it. */
enum req_state { REQ_READING, REQ_WAITING, REQ_DONE };

struct req {
    struct buf body;
    bool too_large, frame;
    bool emcl;            /* came as an EMCL frame: answered sealed */
    enum req_state state; /* REQ_WAITING on: written under server.lock */
    bool queued;          /* submitted and suspended: only its request thread touches it */
    struct MHD_Connection *conn;
    uint64_t tag;
    int64_t deadline_us;
    struct completion c;
    unsigned status; /* REQ_DONE: 0 with c filled, else the HTTP status */
    const char *msg;
    struct req *next;
};

struct code_row {
    char agent[64], code[40];
    uint64_t n;
};

struct server {
    struct runtime *rt;
    const char *config_path;
    bool no_auth;
    bool loopback, tls;          /* of the listening address; serving HTTPS */
    uint64_t max_header;         /* serve.max_header at start (sizes MHD's pools) */
    struct serve_limits *limits; /* connections and the client deadline */
    /* conf and runtime_config(): read by request threads, replaced by
     * reload; guarded by conf_lock (readers shared). */
    pthread_rwlock_t conf_lock;
    struct serve_conf *conf;
    /* pending requests and metrics from completions: guarded by lock */
    pthread_mutex_t lock;
    pthread_mutex_t watch_lock; /* one serve_events_watch at a time */
    struct req *pending;
    uint64_t next_tag;
    uint64_t lat_count, lat_buckets[LAT_BUCKETS];
    double lat_sum;
    struct code_row rows[MAX_CODE_ROWS];
    size_t n_rows;
    uint64_t completed, rate_limited;
    atomic_long inflight;
    atomic_ullong http_401, http_403, http_413, http_503, http_504, http_400, reloads,
        reload_failures;
    atomic_bool stopping, collector_stop;
    struct serve_events *events; /* GET /v1/events */
};

/* ---- responses ---- */

static enum MHD_Result
send_text(struct MHD_Connection *conn, unsigned status, const char *ctype, const char *text,
          size_t len, const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)text, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    if (retry_after != NULL)
        MHD_add_response_header(r, "Retry-After", retry_after);
    if (status == 401)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"intentus\"");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
send_json(struct MHD_Connection *conn, unsigned status, const cJSON *v, const char *retry_after)
{
    char *s = cJSON_PrintUnformatted(v);
    enum MHD_Result ret;

    if (s == NULL)
        return MHD_NO;
    ret = send_text(conn, status, "application/json", s, strlen(s), retry_after);
    free(s);
    return ret;
}

/* {"error":{"code":..., "message":...}}; on /intent the reference's
 * ErrorEnvelope shape inside an INTENTUSNET/1.0 frame. */
static enum MHD_Result
send_error(struct server *s, struct MHD_Connection *conn, bool frame, unsigned status,
           const char *code, const char *message)
{
    cJSON *o = cJSON_CreateObject(), *e;
    enum MHD_Result ret;

    switch (status) {
    case 400:
        atomic_fetch_add(&s->http_400, 1);
        break;
    case 401:
        atomic_fetch_add(&s->http_401, 1);
        break;
    case 403:
        atomic_fetch_add(&s->http_403, 1);
        break;
    case 413:
        atomic_fetch_add(&s->http_413, 1);
        break;
    case 503:
        atomic_fetch_add(&s->http_503, 1);
        break;
    case 504:
        atomic_fetch_add(&s->http_504, 1);
        break;
    default:
        break;
    }
    if (o == NULL)
        return MHD_NO;
    if (frame) {
        cJSON_AddStringToObject(o, "protocol", "INTENTUSNET/1.0");
        cJSON_AddStringToObject(o, "messageType", "error");
        e = o;
    } else {
        e = cJSON_AddObjectToObject(o, "error");
    }
    if (e != NULL) {
        cJSON_AddStringToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", message);
        if (frame)
            cJSON_AddObjectToObject(e, "details");
    }
    ret = send_json(conn, status, o, status == 503 ? "1" : NULL);
    cJSON_Delete(o);
    return ret;
}

/* ---- identity ---- */

struct identity {
    bool anonymous; /* --no-auth */
    char subject[128];
    char tenants[16][128], roles[16][128];
    size_t n_tenants, n_roles;
    bool any_tenant, any_role;
};

static void
copy_list(char (*dst)[128], size_t *n, bool *any, char *const *src)
{
    *n = 0;
    for (size_t i = 0; src != NULL && src[i] != NULL && *n < 16; i++) {
        if (strcmp(src[i], "*") == 0)
            *any = true;
        snprintf(dst[(*n)++], 128, "%s", src[i]);
    }
}

/* 0 ok; otherwise the HTTP status to answer (401, 403) with msg set. */
static unsigned
authenticate(struct server *s, struct MHD_Connection *conn, bool need_admin, struct identity *id,
             const char **msg)
{
    const char *h;
    const struct serve_token *t;
    unsigned status = 0;

    memset(id, 0, sizeof(*id));
    if (s->no_auth) {
        id->anonymous = true;
        return 0;
    }
    h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
        *msg = "missing bearer token (Authorization: Bearer TOKEN)";
        return 401;
    }
    h += 7;
    pthread_rwlock_rdlock(&s->conf_lock);
    t = serve_conf_match(s->conf, h, strlen(h));
    if (t == NULL) {
        *msg = "unknown or revoked token";
        status = 401;
    } else {
        snprintf(id->subject, sizeof(id->subject), "%s", t->subject);
        copy_list(id->tenants, &id->n_tenants, &id->any_tenant, t->tenants);
        copy_list(id->roles, &id->n_roles, &id->any_role, t->roles);
        if (need_admin && !serve_token_has_role(t, "admin")) {
            *msg = "this endpoint needs the admin role";
            status = 403;
        }
    }
    pthread_rwlock_unlock(&s->conf_lock);
    return status;
}

static bool
id_has(char (*l)[128], size_t n, bool any, const char *v)
{
    if (any)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i], v) == 0)
            return true;
    return false;
}

/* Make the envelope speak for the token: tenant and role tags must be the
 * token's (403 otherwise), the first tenant is added when none is given,
 * the token's roles are added, metadata.source is the subject and the
 * subject joins identityChain. 0 or 403 with msg. */
static unsigned
apply_identity(const struct identity *id, cJSON *env, char *msg, size_t msg_size)
{
    cJSON *ctx = cJSON_GetObjectItemCaseSensitive(env, "context");
    cJSON *md = cJSON_GetObjectItemCaseSensitive(env, "metadata");
    cJSON *tags = ctx != NULL ? cJSON_GetObjectItemCaseSensitive(ctx, "tags") : NULL;
    const cJSON *t;
    bool has_tenant = false;

    if (id->anonymous)
        return 0;
    if (!cJSON_IsObject(ctx) || !cJSON_IsObject(md))
        return 0; /* envelope_validate said no already */
    if (tags == NULL || cJSON_IsNull(tags)) {
        tags = cJSON_CreateArray();
        if (tags == NULL)
            return 500;
        if (cJSON_GetObjectItemCaseSensitive(ctx, "tags") != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(ctx, "tags", tags);
        else
            cJSON_AddItemToObject(ctx, "tags", tags);
    }
    cJSON_ArrayForEach(t, tags)
    {
        if (!cJSON_IsString(t))
            continue;
        if (strncmp(t->valuestring, "tenant:", 7) == 0) {
            if (!id_has((char(*)[128])id->tenants, id->n_tenants, id->any_tenant,
                        t->valuestring + 7)) {
                snprintf(msg, msg_size, "tenant '%.100s' is not this token's", t->valuestring + 7);
                return 403;
            }
            has_tenant = true;
        } else if (strncmp(t->valuestring, "role:", 5) == 0 &&
                   !id_has((char(*)[128])id->roles, id->n_roles, id->any_role,
                           t->valuestring + 5)) {
            snprintf(msg, msg_size, "role '%.100s' is not this token's", t->valuestring + 5);
            return 403;
        }
    }
    if (!has_tenant && id->n_tenants > 0 && strcmp(id->tenants[0], "*") != 0) {
        char tag[160];
        snprintf(tag, sizeof(tag), "tenant:%s", id->tenants[0]);
        cJSON_AddItemToArray(tags, cJSON_CreateString(tag));
    }
    for (size_t i = 0; i < id->n_roles; i++) {
        char tag[160];
        bool present = false;
        if (strcmp(id->roles[i], "*") == 0)
            continue;
        snprintf(tag, sizeof(tag), "role:%s", id->roles[i]);
        cJSON_ArrayForEach(t, tags) present |=
            cJSON_IsString(t) && strcmp(t->valuestring, tag) == 0;
        if (!present)
            cJSON_AddItemToArray(tags, cJSON_CreateString(tag));
    }
    if (cJSON_GetObjectItemCaseSensitive(md, "source") != NULL)
        cJSON_ReplaceItemInObjectCaseSensitive(md, "source", cJSON_CreateString(id->subject));
    else
        cJSON_AddStringToObject(md, "source", id->subject);
    {
        cJSON *chain = cJSON_GetObjectItemCaseSensitive(md, "identityChain");
        if (!cJSON_IsArray(chain)) {
            chain = cJSON_CreateArray();
            if (cJSON_GetObjectItemCaseSensitive(md, "identityChain") != NULL)
                cJSON_ReplaceItemInObjectCaseSensitive(md, "identityChain", chain);
            else
                cJSON_AddItemToObject(md, "identityChain", chain);
        }
        cJSON_AddItemToArray(chain, cJSON_CreateString(id->subject));
    }
    return 0;
}

/* ---- routing ---- */

static void
add_code_row(struct server *s, const char *agent, const char *code)
{
    size_t i;

    for (i = 0; i < s->n_rows; i++)
        if (strcmp(s->rows[i].agent, agent) == 0 && strcmp(s->rows[i].code, code) == 0)
            break;
    if (i == s->n_rows) {
        if (s->n_rows == MAX_CODE_ROWS)
            return;
        snprintf(s->rows[i].agent, sizeof(s->rows[i].agent), "%s", agent);
        snprintf(s->rows[i].code, sizeof(s->rows[i].code), "%s", code);
        s->n_rows++;
    }
    s->rows[i].n++;
}

static void
count_completion(struct server *s, const struct completion *c)
{
    double sec = (double)c->latency_us / 1e6;
    const char *code = response_error_code(c->response);

    s->completed++;
    s->lat_count++;
    s->lat_sum += sec;
    for (int i = 0; i < LAT_BUCKETS; i++)
        if (sec <= lat_bounds_s[i])
            s->lat_buckets[i]++;
    if (response_is_error(c->response)) {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(c->response, "metadata");
        const cJSON *ag = md != NULL ? cJSON_GetObjectItemCaseSensitive(md, "agent") : NULL;
        add_code_row(s, cJSON_IsString(ag) ? ag->valuestring : "", code != NULL ? code : "UNKNOWN");
        if (code != NULL && strcmp(code, "RATE_LIMIT") == 0)
            s->rate_limited++;
    }
}

/* Publish breaker and enabled-flag changes to the event stream (cheap
 * unless a stream was ever opened). Called after completions on both paths,
 * so a breaker that an execution opened is announced right after it. */
static void
watch_breakers(struct server *s)
{
    /* serve_events_watch keeps its last look unlocked (one watcher at a
     * time): a thread that finds another watching leaves it to that one. */
    if (pthread_mutex_trylock(&s->watch_lock) != 0)
        return;
    if (serve_events_watch_due(s->events)) {
        pthread_rwlock_rdlock(&s->conf_lock);
        serve_events_watch(s->events, s->rt, runtime_config(s->rt));
        pthread_rwlock_unlock(&s->conf_lock);
    }
    pthread_mutex_unlock(&s->watch_lock);
}

static void *
collector_main(void *arg)
{
    struct server *s = arg;
    struct completion batch[64];

    while (!atomic_load(&s->collector_stop)) {
        struct pollfd pfd = { runtime_completion_fd(s->rt), POLLIN, 0 };
        size_t n;
        poll(&pfd, 1, 100);
        n = runtime_collect(s->rt, batch, sizeof(batch) / sizeof(batch[0]));
        int64_t now = clock_mono_us();
        pthread_mutex_lock(&s->lock);
        for (size_t i = 0; i < n; i++) {
            struct req **p;
            serve_events_completion(s->events, &batch[i]);
            count_completion(s, &batch[i]);
            for (p = &s->pending; *p != NULL && (*p)->tag != batch[i].tag; p = &(*p)->next)
                ;
            if (*p != NULL) {
                struct req *r = *p;
                *p = r->next;
                r->c = batch[i];
                r->status = 0;
                r->state = REQ_DONE;
                MHD_resume_connection(r->conn);
            } else {
                completion_free(&batch[i]); /* its request timed out; recorded anyway */
            }
        }
        for (struct req **p = &s->pending; *p != NULL;) {
            struct req *r = *p;
            if (r->deadline_us > now) {
                p = &r->next;
                continue;
            }
            *p = r->next;
            r->status = 504;
            r->msg = "the execution did not finish within serve.request_timeout (it goes on and "
                     "is recorded)";
            r->state = REQ_DONE;
            MHD_resume_connection(r->conn);
        }
        pthread_mutex_unlock(&s->lock);
        watch_breakers(s);
    }
    return NULL;
}

/* Submit env (taken) for r and suspend its connection until the collector
 * resumes it. 0, or the HTTP status to answer now (503: queue full or
 * stopping) with *msg. */
static unsigned
start_route(struct server *s, struct req *r, cJSON *env, const char **msg)
{
    struct intentus_err err = { 0 };
    int64_t timeout_ms;

    pthread_rwlock_rdlock(&s->conf_lock);
    timeout_ms = s->conf->request_timeout_ms;
    pthread_rwlock_unlock(&s->conf_lock);
    /* Held from submit to suspend: the collector cannot resume the
     * connection before it is suspended. */
    pthread_mutex_lock(&s->lock);
    r->tag = ++s->next_tag;
    serve_events_submitted(s->events, r->tag, env);
    if (runtime_submit(s->rt, env, r->tag, &err) != 0) {
        pthread_mutex_unlock(&s->lock);
        cJSON_Delete(env);
        *msg = err.code == IERR_LIMIT ? "the routing queue is full; retry later"
                                      : "the service is stopping";
        return 503;
    }
    r->deadline_us = clock_mono_us() + timeout_ms * 1000;
    r->state = REQ_WAITING;
    r->queued = true;
    r->next = s->pending;
    s->pending = r;
    MHD_suspend_connection(r->conn);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static enum MHD_Result finish_route(struct server *s, struct MHD_Connection *conn, struct req *r);

/* An inline request's record is on disk (or failed): hand the answer out
 * unless the deadline sweep or the drain answered the request already. */
struct fate_wait {
    struct server *s;
    uint64_t tag;
};

static void
inline_fate_decided(void *ctx, struct writer_fate *fate)
{
    struct fate_wait *w = ctx;
    struct server *s = w->s;
    struct intentus_err ferr = { 0 };
    bool failed = writer_fate_get(fate, &ferr) == WRITER_FATE_FAILED;
    struct req **p;

    writer_fate_release(fate);
    pthread_mutex_lock(&s->lock);
    for (p = &s->pending; *p != NULL && (*p)->tag != w->tag; p = &(*p)->next)
        ;
    if (*p != NULL) {
        struct req *r = *p;
        *p = r->next;
        if (failed) {
            r->c.recorded = false;
            r->c.record_err = ferr;
        }
        r->status = 0;
        r->state = REQ_DONE;
        MHD_resume_connection(r->conn);
    }
    pthread_mutex_unlock(&s->lock);
    free(w);
}

/* Route env (taken) on this HTTP thread: runtime_route_is_instant said
 * every agent it can reach answers from memory, so nothing waits here but
 * the router itself and a sync writer. This skips the worker queue, the
 * collector and a suspend/resume (three thread hand-offs per request).
 * With an async writer the answer still waits for the record's fate, as a
 * worker's completion does: the connection is suspended on the pending
 * list (so deadlines and the drain treat it as any other) and the writer's
 * notification resumes it. */
static enum MHD_Result
route_inline(struct server *s, struct MHD_Connection *conn, struct req *r, cJSON *env)
{
    struct route_result res;
    int64_t t0 = clock_mono_us(), timeout_ms;
    struct writer_fate *fate;
    struct fate_wait *w;

    /* A tag for the event stream (serve_events pairs the envelope's intent
     * and tenant with the completion by tag, as on the worker path). */
    pthread_mutex_lock(&s->lock);
    r->tag = ++s->next_tag;
    pthread_mutex_unlock(&s->lock);
    serve_events_submitted(s->events, r->tag, env);
    if (runtime_route(s->rt, env, &res) != 0) {
        memset(&res, 0, sizeof(res));
        res.response = response_router_error(
            error_info_new(ERR_INTERNAL_AGENT_ERROR, "out of memory while routing", false, NULL),
            "router", envelope_trace_id(env));
    }
    r->c.response = res.response;
    /* The response may borrow from env (core/router.h): the request keeps
     * it until completion_free, after the response. */
    if (response_borrows(res.response))
        r->c.env = env;
    else
        cJSON_Delete(env);
    memcpy(r->c.execution_id, res.execution_id, sizeof(r->c.execution_id));
    r->c.recorded = res.recorded;
    r->c.sampled_out = res.sampled_out;
    r->c.record_err = res.record_err;
    r->c.latency_us = clock_mono_us() - t0;
    r->c.tag = r->tag;
    r->c.attempts = res.attempts;
    fate = res.record_fate;
    w = fate != NULL ? malloc(sizeof(*w)) : NULL;
    if (fate != NULL && w == NULL) {
        if (writer_fate_wait(fate, &r->c.record_err) != 0) /* out of memory: wait here */
            r->c.recorded = false;
        writer_fate_release(fate);
        fate = NULL;
    }
    pthread_rwlock_rdlock(&s->conf_lock);
    timeout_ms = s->conf->request_timeout_ms;
    pthread_rwlock_unlock(&s->conf_lock);
    pthread_mutex_lock(&s->lock);
    /* With an async writer "recorded" here means the writer took the
     * record; the answer below still waits for it to be on disk. */
    serve_events_completion(s->events, &r->c);
    count_completion(s, &r->c);
    if (fate == NULL) {
        pthread_mutex_unlock(&s->lock);
        watch_breakers(s);
        r->status = 0;
        return finish_route(s, conn, r);
    }
    r->deadline_us = t0 + timeout_ms * 1000;
    r->state = REQ_WAITING;
    r->queued = true;
    r->next = s->pending;
    s->pending = r;
    MHD_suspend_connection(conn);
    pthread_mutex_unlock(&s->lock);
    watch_breakers(s);
    w->s = s;
    w->tag = r->tag;
    writer_fate_notify(fate, inline_fate_decided, w); /* may call back right here */
    return MHD_YES;
}

/* in[name], when present and not null, must be a non-empty string: *dst.
 * 0, or -1 with msg. */
static int
str_key(const cJSON *in, const char *name, const char **dst, char *msg, size_t msg_size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(in, name);

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
        snprintf(msg, msg_size, "%s: must be a non-empty string", name);
        return -1;
    }
    *dst = v->valuestring;
    return 0;
}

/* /v1/route's inputs to an envelope; NULL with msg on bad input. */
static cJSON *
route_input_envelope(const cJSON *in, char *msg, size_t msg_size)
{
    const cJSON *intent = cJSON_GetObjectItemCaseSensitive(in, "intent");
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(in, "payload");
    const cJSON *v, *k;
    static const char *const keys[] = { "intent", "payload",  "strategy", "target",  "fallback",
                                        "tenant", "priority", "timeout",  "version", NULL };
    struct envelope_opts o = { .priority = PRIORITY_NORMAL,
                               .strategy = STRATEGY_DIRECT,
                               .source = "intentus-serve" };
    const char *fallback[65] = { 0 }, *tags[2] = { 0 };
    char tenant_tag[256];
    struct intentus_err err = { 0 };
    cJSON *env;

    if (!cJSON_IsObject(in)) {
        snprintf(msg, msg_size, "the body must be a JSON object");
        return NULL;
    }
    cJSON_ArrayForEach(k, in)
    {
        bool known = false;
        for (size_t i = 0; keys[i] != NULL; i++)
            known |= strcmp(k->string, keys[i]) == 0;
        if (!known) {
            snprintf(msg, msg_size,
                     "%.60s: unknown key (known: intent, payload, strategy, target, fallback, "
                     "tenant, priority, timeout, version)",
                     k->string);
            return NULL;
        }
    }
    if (!cJSON_IsString(intent) || intent->valuestring[0] == '\0') {
        snprintf(msg, msg_size, "intent: must be a non-empty string");
        return NULL;
    }
    if (payload != NULL && !cJSON_IsObject(payload)) {
        snprintf(msg, msg_size, "payload: must be an object");
        return NULL;
    }
    const char *strategy = NULL, *priority = NULL, *tenant = NULL;
    if (str_key(in, "strategy", &strategy, msg, msg_size) != 0 ||
        str_key(in, "priority", &priority, msg, msg_size) != 0 ||
        str_key(in, "tenant", &tenant, msg, msg_size) != 0 ||
        str_key(in, "target", &o.target_agent, msg, msg_size) != 0 ||
        str_key(in, "version", &o.intent_version, msg, msg_size) != 0)
        return NULL;
    if (strategy != NULL && model_strategy_parse(strategy, &o.strategy) != 0) {
        snprintf(msg, msg_size, "strategy: unknown '%.60s' (direct, fallback, broadcast, parallel)",
                 strategy);
        return NULL;
    }
    if (priority != NULL && model_priority_parse(priority, &o.priority) != 0) {
        snprintf(msg, msg_size, "priority: unknown '%.60s' (low, normal, high)", priority);
        return NULL;
    }
    if (o.target_agent != NULL && o.strategy != STRATEGY_DIRECT) {
        snprintf(msg, msg_size, "target: only the direct strategy uses it");
        return NULL;
    }
    v = cJSON_GetObjectItemCaseSensitive(in, "fallback");
    if (v != NULL) {
        const cJSON *it;
        size_t nf = 0;
        if (!cJSON_IsArray(v) || o.strategy != STRATEGY_FALLBACK) {
            snprintf(msg, msg_size,
                     "fallback: must be an array of agent names, with strategy fallback only");
            return NULL;
        }
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it) || nf == 64) {
                snprintf(msg, msg_size, "fallback: at most 64 agent names");
                return NULL;
            }
            fallback[nf++] = it->valuestring;
        }
        o.fallback_agents = fallback;
    }
    v = cJSON_GetObjectItemCaseSensitive(in, "timeout");
    if (v != NULL) {
        if (cJSON_IsNumber(v) && v->valuedouble >= 1)
            o.timeout_ms = (int64_t)v->valuedouble;
        else if (!cJSON_IsString(v) ||
                 units_parse_duration_ms(v->valuestring, &o.timeout_ms, NULL) != 0 ||
                 o.timeout_ms <= 0) {
            snprintf(msg, msg_size, "timeout: must be a positive duration (e.g. 2s, 500ms)");
            return NULL;
        }
    }
    if (tenant != NULL) {
        snprintf(tenant_tag, sizeof(tenant_tag), "tenant:%s", tenant);
        tags[0] = tenant_tag;
        o.tags = tags;
    }
    env = envelope_new(intent->valuestring,
                       payload != NULL ? cJSON_Duplicate(payload, 1) : cJSON_CreateObject(), &o,
                       &err);
    if (env == NULL)
        snprintf(msg, msg_size, "%s", err.msg);
    return env;
}

/* serve.emcl on /intent: an "emcl" frame's body is opened into the
 * IntentEnvelope it seals (r->emcl: the answer is sealed too); with
 * serve.emcl.required a plain intent is refused, on /v1/route as well.
 * *opened: the opened envelope (owned by the caller), or NULL for a plain
 * request. 0, or the HTTP status with msg (nothing is routed). */
static unsigned
emcl_in(struct server *s, struct req *r, const cJSON *in, cJSON **opened, char *msg, size_t size)
{
    struct intentus_err err = { 0 };
    enum emcl_fail why = EMCL_OK;
    bool required, is_emcl = r->frame && emcl_frame_is_emcl(in);
    unsigned st = 0;

    *opened = NULL;
    pthread_rwlock_rdlock(&s->conf_lock);
    required = s->conf->emcl_required;
    if (is_emcl && s->conf->emcl == NULL) {
        snprintf(msg, size, "messageType \"emcl\": this server has no serve.emcl key");
        st = 400;
    } else if (is_emcl) {
        *opened = emcl_frame_open(s->conf->emcl, in, &why, &err);
        if (*opened == NULL) {
            snprintf(msg, size, "%s", err.msg);
            st = why == EMCL_MALFORMED || why == EMCL_BAD_PLAINTEXT ? 400 : 403;
        }
    }
    pthread_rwlock_unlock(&s->conf_lock);
    if (st == 0 && !is_emcl && required) {
        snprintf(msg, size,
                 "serve.emcl.required: plain intents are refused; send an INTENTUSNET/1.0 frame "
                 "with messageType \"emcl\" to /intent");
        st = 403;
    }
    r->emcl = *opened != NULL;
    return st;
}

static enum MHD_Result
handle_route(struct server *s, struct MHD_Connection *conn, struct req *r,
             const struct identity *id)
{
    bool frame = r->frame;
    const struct buf *body = &r->body;
    struct intentus_err err = { 0 };
    cJSON *in = json_parse(body->data != NULL ? body->data : "", body->len, 0, &err), *env = NULL;
    char msg[512];
    const char *smsg = NULL;
    unsigned st;

    if (in == NULL) {
        snprintf(msg, sizeof(msg), "the body is not JSON: %s", err.msg);
        return send_error(s, conn, frame, 400, "VALIDATION_ERROR", msg);
    }
    {
        cJSON *opened = NULL;
        st = emcl_in(s, r, in, &opened, msg, sizeof(msg));
        if (st != 0) {
            cJSON_Delete(in);
            return send_error(s, conn, frame, st, "EMCL_FAILURE", msg);
        }
        if (opened != NULL) {
            /* the opened envelope stands in for the frame's body */
            cJSON_ReplaceItemInObjectCaseSensitive(in, "body", opened);
            cJSON_ReplaceItemInObjectCaseSensitive(in, "messageType", cJSON_CreateString("intent"));
        }
    }
    if (frame) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(in, "protocol");
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(in, "messageType");
        cJSON *b = cJSON_GetObjectItemCaseSensitive(in, "body");
        if (!cJSON_IsString(p) || strcmp(p->valuestring, "INTENTUSNET/1.0") != 0) {
            cJSON_Delete(in);
            return send_error(s, conn, frame, 400, "PROTOCOL_ERROR",
                              "protocol: must be \"INTENTUSNET/1.0\"");
        }
        if (!cJSON_IsString(mt) || strcmp(mt->valuestring, "intent") != 0) {
            cJSON_Delete(in);
            return send_error(s, conn, frame, 400, "PROTOCOL_ERROR",
                              "messageType: must be \"intent\"");
        }
        if (envelope_validate(b, &err) != 0) {
            snprintf(msg, sizeof(msg), "body: %s", err.msg);
            cJSON_Delete(in);
            return send_error(s, conn, frame, 400, "VALIDATION_ERROR", msg);
        }
        env = cJSON_DetachItemViaPointer(in, b);
    } else {
        env = route_input_envelope(in, msg, sizeof(msg));
        if (env == NULL) {
            cJSON_Delete(in);
            return send_error(s, conn, frame, 400, "VALIDATION_ERROR", msg);
        }
    }
    cJSON_Delete(in);
    st = apply_identity(id, env, msg, sizeof(msg));
    if (st != 0) {
        cJSON_Delete(env);
        return send_error(s, conn, frame, st, st == 403 ? "UNAUTHORIZED" : "INTERNAL_ERROR", msg);
    }
    if (runtime_route_is_instant(s->rt, env))
        return route_inline(s, conn, r, env);
    st = start_route(s, r, env, &smsg);
    if (st != 0)
        return send_error(s, conn, frame, st, "UNAVAILABLE", smsg);
    return MHD_YES; /* suspended; finish_route answers */
}

/* The answer to an EMCL frame: the AgentResponse sealed in an "emcl" frame
 * (headers executionId, recorded, sampledOut in clear). Never in clear: if
 * a reload removed serve.emcl meanwhile, the answer is an error. */
static enum MHD_Result
finish_emcl(struct server *s, struct MHD_Connection *conn, struct req *r)
{
    struct intentus_err err = { 0 };
    cJSON *headers = cJSON_CreateObject(), *o = NULL;
    enum MHD_Result ret;

    cJSON_AddStringToObject(headers, "executionId", r->c.execution_id);
    cJSON_AddBoolToObject(headers, "recorded", r->c.recorded);
    cJSON_AddBoolToObject(headers, "sampledOut", r->c.sampled_out);
    pthread_rwlock_rdlock(&s->conf_lock);
    if (s->conf->emcl != NULL)
        o = emcl_frame_seal(s->conf->emcl, r->c.response, headers, &err);
    else
        err_set(&err, IERR_CONFIG, "serve.emcl was removed by a reload; not answering in clear");
    pthread_rwlock_unlock(&s->conf_lock);
    cJSON_Delete(headers);
    cJSON_Delete(r->c.response);
    r->c.response = NULL;
    if (o == NULL)
        return send_error(s, conn, true, 500, "EMCL_FAILURE", err.msg);
    ret = send_json(conn, 200, o, NULL);
    cJSON_Delete(o);
    return ret;
}

/* The answer of a resumed request. */
static enum MHD_Result
finish_route(struct server *s, struct MHD_Connection *conn, struct req *r)
{
    enum MHD_Result ret;
    cJSON *o, *info;

    if (r->status != 0)
        return send_error(s, conn, r->frame, r->status,
                          r->status == 504 ? "TIMEOUT" : "UNAVAILABLE", r->msg);
    if (r->emcl)
        return finish_emcl(s, conn, r);
    o = cJSON_CreateObject();
    info = r->frame ? cJSON_AddObjectToObject(o, "headers") : o;
    if (r->frame) {
        cJSON_AddStringToObject(o, "protocol", "INTENTUSNET/1.0");
        cJSON_AddStringToObject(o, "messageType", "response");
    }
    cJSON_AddStringToObject(info, "executionId", r->c.execution_id);
    cJSON_AddBoolToObject(info, "recorded", r->c.recorded);
    cJSON_AddBoolToObject(info, "sampledOut", r->c.sampled_out);
    cJSON_AddItemToObject(o, r->frame ? "body" : "response", r->c.response);
    r->c.response = NULL;
    ret = send_json(conn, 200, o, NULL);
    cJSON_Delete(o);
    return ret;
}

/* ---- control, health, metrics ---- */

static cJSON *
agents_json(struct server *s)
{
    const struct config *cfg = runtime_config(s->rt);
    cJSON *arr = cJSON_CreateArray();
    int64_t now = clock_mono_us();

    for (size_t i = 0; arr != NULL && i < registry_count(cfg->registry); i++) {
        struct agent *ag = registry_at(cfg->registry, i);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", ag->name);
        cJSON_AddBoolToObject(o, "enabled", runtime_agent_enabled(s->rt, ag->name));
        if (ag->breaker != NULL) {
            struct breaker_stats bs;
            breaker_snapshot(ag->breaker, now, &bs);
            cJSON_AddStringToObject(o, "breaker", breaker_state_name(bs.state));
            cJSON_AddNumberToObject(o, "calls", (double)bs.calls);
            cJSON_AddNumberToObject(o, "failures", (double)bs.failures);
            cJSON_AddNumberToObject(o, "rejected", (double)bs.rejected);
            cJSON_AddNumberToObject(o, "consecutiveFailures", bs.consecutive_failures);
            if (bs.state == BREAKER_OPEN && bs.next_probe_us > now)
                cJSON_AddNumberToObject(o, "nextProbeInMs",
                                        (double)(bs.next_probe_us - now) / 1000.0);
        } else {
            cJSON_AddNullToObject(o, "breaker");
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static void
label_escaped(struct buf *b, const char *v)
{
    for (; *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            buf_printf(b, "\\n");
        else
            buf_printf(b, "%c", *v);
    }
}

static enum MHD_Result
handle_metrics(struct server *s, struct MHD_Connection *conn)
{
    struct buf b = { 0 };
    struct runtime_stats st;
    enum MHD_Result ret;
    int64_t now = clock_mono_us();

    pthread_rwlock_rdlock(&s->conf_lock);
    {
        const struct config *cfg = runtime_config(s->rt);
        buf_printf(&b, "# HELP intentus_agent_calls_total Calls an agent's breaker saw.\n"
                       "# TYPE intentus_agent_calls_total counter\n"
                       "# HELP intentus_agent_breaker_state 0 closed, 1 open, 2 half-open.\n"
                       "# TYPE intentus_agent_breaker_state gauge\n");
        for (size_t i = 0; i < registry_count(cfg->registry); i++) {
            struct agent *ag = registry_at(cfg->registry, i);
            struct breaker_stats bs;
            if (ag->breaker == NULL)
                continue;
            breaker_snapshot(ag->breaker, now, &bs);
            buf_printf(&b, "intentus_agent_calls_total{agent=\"");
            label_escaped(&b, ag->name);
            buf_printf(&b, "\"} %llu\n", (unsigned long long)bs.calls);
            buf_printf(&b, "intentus_agent_failures_total{agent=\"");
            label_escaped(&b, ag->name);
            buf_printf(&b, "\"} %llu\n", (unsigned long long)bs.failures);
            buf_printf(&b, "intentus_agent_breaker_rejected_total{agent=\"");
            label_escaped(&b, ag->name);
            buf_printf(&b, "\"} %llu\n", (unsigned long long)bs.rejected);
            buf_printf(&b, "intentus_agent_breaker_state{agent=\"");
            label_escaped(&b, ag->name);
            buf_printf(&b, "\"} %d\n", (int)bs.state);
        }
    }
    pthread_rwlock_unlock(&s->conf_lock);
    pthread_mutex_lock(&s->lock);
    buf_printf(&b, "# HELP intentus_errors_total Error responses by agent and error code.\n"
                   "# TYPE intentus_errors_total counter\n");
    for (size_t i = 0; i < s->n_rows; i++) {
        buf_printf(&b, "intentus_errors_total{agent=\"");
        label_escaped(&b, s->rows[i].agent);
        buf_printf(&b, "\",code=\"");
        label_escaped(&b, s->rows[i].code);
        buf_printf(&b, "\"} %llu\n", (unsigned long long)s->rows[i].n);
    }
    buf_printf(&b,
               "# TYPE intentus_executions_total counter\nintentus_executions_total %llu\n"
               "# TYPE intentus_rate_limit_rejections_total counter\n"
               "intentus_rate_limit_rejections_total %llu\n"
               "# TYPE intentus_execution_latency_seconds histogram\n",
               (unsigned long long)s->completed, (unsigned long long)s->rate_limited);
    for (int i = 0; i < LAT_BUCKETS; i++)
        buf_printf(&b, "intentus_execution_latency_seconds_bucket{le=\"%g\"} %llu\n",
                   lat_bounds_s[i], (unsigned long long)s->lat_buckets[i]);
    buf_printf(&b,
               "intentus_execution_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
               "intentus_execution_latency_seconds_sum %.6f\n"
               "intentus_execution_latency_seconds_count %llu\n",
               (unsigned long long)s->lat_count, s->lat_sum, (unsigned long long)s->lat_count);
    pthread_mutex_unlock(&s->lock);
    runtime_stats(s->rt, &st);
    buf_printf(&b,
               "# TYPE intentus_records_written_total counter\nintentus_records_written_total "
               "%llu\n# TYPE intentus_records_sampled_out_total counter\n"
               "intentus_records_sampled_out_total %llu\n"
               "# TYPE intentus_records_dropped_total counter\nintentus_records_dropped_total "
               "%llu\n# TYPE intentus_record_errors_total counter\nintentus_record_errors_total "
               "%llu\n# TYPE intentus_inflight_requests gauge\nintentus_inflight_requests %ld\n"
               "# TYPE intentus_http_rejections_total counter\n"
               "intentus_http_rejections_total{status=\"400\"} %llu\n"
               "intentus_http_rejections_total{status=\"401\"} %llu\n"
               "intentus_http_rejections_total{status=\"403\"} %llu\n"
               "intentus_http_rejections_total{status=\"413\"} %llu\n"
               "intentus_http_rejections_total{status=\"503\"} %llu\n"
               "intentus_http_rejections_total{status=\"504\"} %llu\n"
               "# TYPE intentus_reloads_total counter\nintentus_reloads_total{result=\"ok\"} "
               "%llu\nintentus_reloads_total{result=\"failed\"} %llu\n",
               (unsigned long long)st.recorded, (unsigned long long)st.sampled_out,
               (unsigned long long)st.dropped, (unsigned long long)st.record_errors,
               atomic_load(&s->inflight), (unsigned long long)atomic_load(&s->http_400),
               (unsigned long long)atomic_load(&s->http_401),
               (unsigned long long)atomic_load(&s->http_403),
               (unsigned long long)atomic_load(&s->http_413),
               (unsigned long long)atomic_load(&s->http_503),
               (unsigned long long)atomic_load(&s->http_504),
               (unsigned long long)atomic_load(&s->reloads),
               (unsigned long long)atomic_load(&s->reload_failures));
    serve_events_metrics(s->events, &b);
    serve_limits_metrics(s->limits, &b);
    ret = b.data != NULL ? send_text(conn, 200, "text/plain; version=0.0.4", b.data, b.len, NULL)
                         : MHD_NO;
    buf_free(&b);
    return ret;
}

/* The connection limits of a serve section: per client, 64 off loopback
 * and none on it unless the config says. */
static struct serve_limits_opts
limits_of(const struct serve_conf *c, bool loopback)
{
    return (struct serve_limits_opts){
        .max_connections = c->max_connections,
        .per_client = c->per_client_set ? c->max_connections_per_client
                      : loopback        ? 0
                                        : 64,
        .deadline_ms = c->client_deadline_ms,
    };
}

/* Reload the runtime's config and the serve section; both or neither. */
static int
do_reload(struct server *s, struct intentus_err *err)
{
    struct serve_conf *nc;
    int rc;

    pthread_rwlock_wrlock(&s->conf_lock);
    /* Validate the serve section first: a bad one changes nothing. */
    {
        const struct config *cur = runtime_config(s->rt);
        const char *path = s->config_path != NULL ? s->config_path
                           : cur->is_demo         ? NULL
                                                  : cur->source;
        nc = serve_conf_load(path, err);
    }
    if (nc == NULL) {
        rc = -1;
    } else if (!s->no_auth && nc->n_tokens == 0) {
        err_set(err, IERR_CONFIG,
                "serve.tokens: the new config has none (serve needs tokens "
                "unless started with --no-auth)");
        serve_conf_free(nc);
        rc = -1;
    } else if ((rc = runtime_reload(s->rt, err)) == 0) {
        serve_conf_free(s->conf);
        s->conf = nc;
        {
            struct serve_limits_opts lo = limits_of(nc, s->loopback);
            serve_limits_set(s->limits, &lo);
        }
    } else {
        serve_conf_free(nc);
    }
    pthread_rwlock_unlock(&s->conf_lock);
    atomic_fetch_add(rc == 0 ? &s->reloads : &s->reload_failures, 1);
    serve_events_reload(s->events, rc == 0, err->msg);
    if (rc == 0)
        fprintf(stderr, "intentus serve: config reloaded%s\n",
                s->tls ? " (the TLS certificate and key are read at start only: restart to "
                         "use new ones)"
                       : "");
    else
        fprintf(stderr, "intentus serve: reload failed, the running config stays: %s\n", err->msg);
    return rc;
}

static enum MHD_Result
handle_control(struct server *s, struct MHD_Connection *conn, const char *method, const char *url)
{
    struct intentus_err err = { 0 };
    cJSON *o;
    enum MHD_Result ret;

    if (strcmp(url, "/v1/agents") == 0) {
        if (strcmp(method, "GET") != 0)
            return send_error(s, conn, false, 405, "METHOD_NOT_ALLOWED", "use GET");
        pthread_rwlock_rdlock(&s->conf_lock);
        o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "agents", agents_json(s));
        pthread_rwlock_unlock(&s->conf_lock);
        ret = send_json(conn, 200, o, NULL);
        cJSON_Delete(o);
        return ret;
    }
    if (strcmp(method, "POST") != 0)
        return send_error(s, conn, false, 405, "METHOD_NOT_ALLOWED", "use POST");
    if (strcmp(url, "/v1/reload") == 0) {
        if (do_reload(s, &err) != 0)
            return send_error(s, conn, false, 422, "CONFIG_ERROR", err.msg);
        o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "reloaded", true);
    } else {
        const char *name = url + strlen("/v1/agents/");
        const char *slash = strrchr(name, '/');
        char agent[256];
        int rc;
        if (slash == NULL || slash == name || (size_t)(slash - name) >= sizeof(agent))
            return send_error(s, conn, false, 404, "NOT_FOUND", "no such endpoint");
        memcpy(agent, name, (size_t)(slash - name));
        agent[slash - name] = '\0';
        pthread_rwlock_rdlock(&s->conf_lock);
        if (strcmp(slash, "/reset") == 0)
            rc = runtime_reset_breaker(s->rt, agent, &err);
        else if (strcmp(slash, "/disable") == 0 || strcmp(slash, "/enable") == 0)
            rc = runtime_set_agent_enabled(s->rt, agent, strcmp(slash, "/enable") == 0, &err);
        else
            rc = 1;
        pthread_rwlock_unlock(&s->conf_lock);
        if (rc == 1)
            return send_error(s, conn, false, 404, "NOT_FOUND",
                              "no such action (reset, disable, enable)");
        if (rc != 0)
            return send_error(s, conn, false, err.code == IERR_NOT_FOUND ? 404 : 400,
                              err.code == IERR_NOT_FOUND ? "NOT_FOUND" : "VALIDATION_ERROR",
                              err.msg);
        o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "agent", agent);
        cJSON_AddStringToObject(o, "done", slash + 1);
        fprintf(stderr, "intentus serve: agent %s: %s\n", agent, slash + 1);
    }
    ret = send_json(conn, 200, o, NULL);
    cJSON_Delete(o);
    return ret;
}

static enum MHD_Result
handle_health(struct server *s, struct MHD_Connection *conn)
{
    struct runtime_stats st;
    bool ready;
    cJSON *o = cJSON_CreateObject();
    enum MHD_Result ret;

    runtime_stats(s->rt, &st);
    /* Ready: a config is loaded (always, once serving) and the store has
     * not failed more recently than it succeeded. */
    ready = !atomic_load(&s->stopping) &&
            (runtime_store_url(s->rt) != NULL || access(runtime_records_dir(s->rt), W_OK) == 0);
    cJSON_AddBoolToObject(o, "live", true);
    cJSON_AddBoolToObject(o, "ready", ready);
    ret = send_json(conn, ready ? 200 : 503, o, NULL);
    cJSON_Delete(o);
    return ret;
}

/* GET /v1/events: any valid token; what it shows depends on the token
 * (serve_events_viewer). */
static enum MHD_Result
handle_events(struct server *s, struct MHD_Connection *conn, const char *method)
{
    struct identity id;
    const char *msg = NULL, *tenants[16];
    unsigned st;

    if (strcmp(method, "GET") != 0)
        return send_error(s, conn, false, 405, "METHOD_NOT_ALLOWED", "use GET");
    st = authenticate(s, conn, false, &id, &msg);
    if (st != 0)
        return send_error(s, conn, false, st, "UNAUTHORIZED", msg);
    for (size_t i = 0; i < id.n_tenants; i++)
        tenants[i] = id.tenants[i];
    return serve_events_serve(
        s->events, conn,
        &(struct serve_events_viewer){ .admin = id.anonymous ||
                                                id_has(id.roles, id.n_roles, id.any_role, "admin"),
                                       .tenants = tenants,
                                       .n_tenants = id.n_tenants });
}

/* ---- the access handler ---- */

static bool
is_route_url(const char *url, bool *frame)
{
    *frame = strcmp(url, "/intent") == 0;
    return *frame || strcmp(url, "/v1/route") == 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct server *s = cls;
    struct req *r = *con_cls;
    struct identity id;
    const char *msg = NULL;
    bool frame = false, route = is_route_url(url, &frame);
    bool control = strncmp(url, "/v1/", 4) == 0 && !route;
    unsigned st;

    (void)version;
    serve_limits_headers_read(conn); /* a call means the headers are in */
    if (r == NULL) {
        /* Headers only: answer what needs no body now, so nothing of a
         * refused request is read, let alone routed. */
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t max;
        if (!serve_limits_headers_fit(s->limits, conn, s->max_header))
            return send_error(s, conn, frame, 431, "PAYLOAD_TOO_LARGE",
                              "the request line and headers are larger than serve.max_header");
        if (strcmp(url, "/health") == 0 && strcmp(method, "GET") == 0)
            return handle_health(s, conn);
        if (strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0)
            return handle_metrics(s, conn);
        if (!route && !control)
            return send_error(s, conn, false, 404, "NOT_FOUND", "no such endpoint");
        if (strcmp(url, "/v1/events") == 0)
            return handle_events(s, conn, method);
        if (route && strcmp(method, "POST") != 0)
            return send_error(s, conn, frame, 405, "METHOD_NOT_ALLOWED", "use POST");
        st = authenticate(s, conn, control, &id, &msg);
        if (st != 0)
            return send_error(s, conn, frame, st, "UNAUTHORIZED", msg);
        if (control && strcmp(method, "GET") == 0)
            return handle_control(s, conn, method, url);
        pthread_rwlock_rdlock(&s->conf_lock);
        max = s->conf->max_body;
        pthread_rwlock_unlock(&s->conf_lock);
        if (cl != NULL && strtoull(cl, NULL, 10) > max)
            return send_error(s, conn, frame, 413, "PAYLOAD_TOO_LARGE",
                              "the request body is larger than serve.max_body");
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        *con_cls = r;
        serve_limits_body_expected(conn); /* the client deadline covers the body */
        return MHD_YES;
    }
    if (r->state == REQ_DONE) {
        enum MHD_Result ret = finish_route(s, conn, r);
        atomic_fetch_sub(&s->inflight, 1);
        return ret;
    }
    if (*upload_data_size > 0) {
        uint64_t max;
        pthread_rwlock_rdlock(&s->conf_lock);
        max = s->conf->max_body;
        pthread_rwlock_unlock(&s->conf_lock);
        if (!r->too_large && r->body.len + *upload_data_size > max)
            r->too_large = true;
        if (!r->too_large && buf_append(&r->body, upload_data, *upload_data_size) != 0)
            r->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    serve_limits_body_read(conn);
    if (r->too_large)
        return send_error(s, conn, frame, 413, "PAYLOAD_TOO_LARGE",
                          "the request body is larger than serve.max_body");
    /* Authenticate again with the whole request: a reload may have revoked
     * the token while the body arrived. */
    st = authenticate(s, conn, control, &id, &msg);
    if (st != 0)
        return send_error(s, conn, frame, st, "UNAUTHORIZED", msg);
    if (control)
        return handle_control(s, conn, method, url);
    if (atomic_load(&s->stopping))
        return send_error(s, conn, frame, 503, "UNAVAILABLE", "the service is stopping");
    {
        long limit;
        enum MHD_Result ret;
        pthread_rwlock_rdlock(&s->conf_lock);
        limit = s->conf->queue;
        pthread_rwlock_unlock(&s->conf_lock);
        if (atomic_fetch_add(&s->inflight, 1) >= limit) {
            atomic_fetch_sub(&s->inflight, 1);
            return send_error(s, conn, frame, 503, "UNAVAILABLE",
                              "too many requests in flight (serve.queue); retry later");
        }
        r->frame = frame;
        r->conn = conn;
        ret = handle_route(s, conn, r, &id);
        /* Not r->state: the collector may already have set it (it is
         * resumed, and will decrement, once this callback returns). */
        if (!r->queued)
            atomic_fetch_sub(&s->inflight, 1); /* answered at once */
        return ret;
    }
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct req *r = *con_cls;

    (void)cls;
    (void)toe;
    serve_limits_request_ended(conn); /* the next request's deadline starts */
    if (r != NULL) {
        buf_free(&r->body);
        completion_free(&r->c);
        free(r);
        *con_cls = NULL;
    }
}

/* ---- listening ---- */

static bool
host_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return false;
}

/* A listening socket for addr; -1 with msg. *loopback says whether plain
 * HTTP is safe on it. */
static int
listen_on(const char *addr, bool *loopback, bool *usage, char *msg, size_t msg_size)
{
    int fd = -1;

    if (strncmp(addr, "unix:", 5) == 0) {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        if (strlen(addr + 5) == 0 || strlen(addr + 5) >= sizeof(un.sun_path)) {
            snprintf(msg, msg_size, "--listen: unix socket path empty or too long");
            *usage = true;
            return -1;
        }
        memcpy(un.sun_path, addr + 5, strlen(addr + 5) + 1); /* fits: checked above */
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) != 0 || listen(fd, 128) != 0) {
            snprintf(msg, msg_size, "--listen: %.200s: %s", addr + 5, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        *loopback = true;
        return fd;
    }
    {
        char host[256];
        const char *colon = strrchr(addr, ':');
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai;
        int one = 1, gai;
        size_t hl;
        if (colon == NULL || colon == addr || colon[1] == '\0') {
            snprintf(msg, msg_size, "--listen: '%.200s' is not HOST:PORT or unix:PATH", addr);
            *usage = true;
            return -1;
        }
        hl = (size_t)(colon - addr);
        if (addr[0] == '[' && hl > 2 && addr[hl - 1] == ']') {
            addr++;
            hl -= 2;
        }
        if (hl >= sizeof(host)) {
            snprintf(msg, msg_size, "--listen: host too long");
            *usage = true;
            return -1;
        }
        memcpy(host, addr, hl);
        host[hl] = '\0';
        gai = getaddrinfo(host, colon + 1, &hints, &ai);
        if (gai != 0) {
            snprintf(msg, msg_size, "--listen: %.200s: %s", host, gai_strerror(gai));
            *usage = true;
            return -1;
        }
        *loopback = host_is_loopback(ai->ai_addr);
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
            snprintf(msg, msg_size, "--listen: %.200s: %s", addr, strerror(errno));
            if (fd >= 0)
                close(fd);
            fd = -1;
        }
        freeaddrinfo(ai);
        return fd;
    }
}

/* The connection memory pool for serve.max_header: MHD keeps the request
 * line and headers in it and needs room beside them for the read buffer
 * and the response's header lines. Headers up to max_header reach the
 * handler, which answers 431 above it (serve_limits_headers_fit); headers
 * that do not fit the pool at all get MHD's own 431. */
static size_t
serve_memory_limit(const struct serve_conf *c)
{
    return (size_t)c->max_header * 2 + 16384;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    serve_limits_note_log(((struct server *)cls)->limits, fmt, ap);
    fputs("intentus serve: http: ", stderr);
    vfprintf(stderr, fmt, ap);
}

/* Take signals until SIGTERM or SIGINT (SIGHUP reloads), then stop
 * accepting and drain: requests in flight may finish for grace_ms; what
 * still waits then is answered 503. */
static void
serve_until_stopped(struct server *s, struct MHD_Daemon *d, const sigset_t *sigs, int64_t grace_ms)
{
    for (;;) {
        int sig = 0;
        if (sigwait(sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            struct intentus_err rerr = { 0 };
            do_reload(s, &rerr);
            continue;
        }
        if (sig == SIGPIPE)
            continue;
        break;
    }
    /* Stop accepting, let in-flight requests finish up to the grace. */
    atomic_store(&s->stopping, true);
    serve_events_stop(s->events); /* streams end now: drain waits for routes only */
    {
        MHD_socket lfd = MHD_quiesce_daemon(d);
        int64_t until = clock_mono_us() + grace_ms * 1000;
        if (lfd != MHD_INVALID_SOCKET)
            close(lfd);
        fprintf(stderr, "intentus serve: stopping; %ld request(s) in flight\n",
                atomic_load(&s->inflight));
        while (atomic_load(&s->inflight) > 0 && clock_mono_us() < until)
            usleep(10000);
        /* Past the grace: answer what still waits (its execution goes on
         * and is recorded, or is recorded as aborted at close). */
        pthread_mutex_lock(&s->lock);
        while (s->pending != NULL) {
            struct req *r = s->pending;
            s->pending = r->next;
            r->status = 503;
            r->msg = "the service stopped before the execution finished";
            r->state = REQ_DONE;
            MHD_resume_connection(r->conn);
        }
        pthread_mutex_unlock(&s->lock);
        /* let the resumed connections send their answers */
        for (int i = 0; i < 100 && atomic_load(&s->inflight) > 0; i++)
            usleep(10000);
    }
}

/* --tls-cert and --tls-key: both or neither, not empty. 0 or EXIT_USAGE
 * with the message printed. */
static int
check_tls_flags(const char *cert, const char *key)
{
    if ((cert == NULL) != (key == NULL))
        return cli_usage_error("serve", "%s: needs %s too",
                               cert != NULL ? "--tls-cert" : "--tls-key",
                               cert != NULL ? "--tls-key" : "--tls-cert");
    if (cert != NULL && (cert[0] == '\0' || key[0] == '\0'))
        return cli_usage_error("serve", "%s: must not be empty",
                               cert[0] == '\0' ? "--tls-cert" : "--tls-key");
    return 0;
}

/* TLS from --tls-cert/--tls-key, else serve.tls: checked and loaded into
 * tls, s->tls set. 0, or -1 with the error printed (exit 2). */
static int
setup_tls(struct server *s, const char *cert, const char *key, struct serve_tls *tls)
{
    struct intentus_err err = { 0 };

    if (cert == NULL && s->conf->tls_cert != NULL) {
        cert = s->conf->tls_cert; /* the flags override the config */
        key = s->conf->tls_key;
    }
    if (cert == NULL)
        return 0;
    if (!serve_tls_supported()) {
        cli_error("serve", "TLS: this libmicrohttpd was built without TLS support; serve "
                           "plain HTTP on loopback or put a TLS proxy in front");
        return -1;
    }
    if (serve_tls_load(cert, key, tls, &err) != 0) {
        cli_error("serve", "%s", err.msg);
        return -1;
    }
    s->tls = true;
    return 0;
}

/* The daemon on the listening socket fd (taken on success). MHD splits its
 * total limit evenly over the pool's threads; serve_limits_accept enforces
 * ours exactly, so MHD's is set where no thread reaches it first. */
static struct MHD_Daemon *
start_daemon(struct server *s, int fd, const struct serve_tls *tls)
{
    struct MHD_OptionItem o[] = {
        { MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s },
        { MHD_OPTION_LISTEN_SOCKET, fd, NULL },
        { MHD_OPTION_THREAD_POOL_SIZE, POOL_THREADS, NULL },
        { MHD_OPTION_CONNECTION_TIMEOUT, 30, NULL },
        { MHD_OPTION_CONNECTION_LIMIT, (intptr_t)POOL_THREADS * s->conf->max_connections, NULL },
        { MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)serve_memory_limit(s->conf), NULL },
        { MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
        { MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)serve_limits_notify, s->limits },
        /* without TLS the array ends here */
        { s->tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, tls->cert },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key },
        { MHD_OPTION_END, 0, NULL },
    };

    return MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
            MHD_USE_EPOLL | (s->tls ? MHD_USE_TLS : 0),
        0, serve_limits_accept, s->limits, on_request, s, MHD_OPTION_ARRAY, o, MHD_OPTION_END);
}

/* serve.shared_state: limits and circuits shared with every serve on that
 * database. EXIT_OK, or the exit code after the error is printed. */
static int
setup_shared(struct server *s, struct shared_pg **out)
{
    struct intentus_err err = { 0 };

    *out = shared_pg_open(s->conf->shared_url, s->conf->shared_refresh_ms, &err);
    if (*out == NULL || runtime_set_shared(s->rt, shared_pg_state(*out), &err) != 0) {
        cli_error("serve", "serve.shared_state: %s", err.msg);
        return err.code == IERR_CONFIG ? EXIT_USAGE : EXIT_FAIL;
    }
    return EXIT_OK;
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): a flat getopt switch, one case per
 * option, then the start in order. */
int
cli_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "listen", required_argument, NULL, 'l' },
        { "grace", required_argument, NULL, 'g' },
        { "workers", required_argument, NULL, 'w' },
        { "no-auth", no_argument, NULL, 'A' },
        { "tls-cert", required_argument, NULL, 'C' },
        { "tls-key", required_argument, NULL, 'K' },
        { "store", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    const char *tls_cert = NULL, *tls_key = NULL, *store_arg = NULL;
    struct serve_tls tls = { 0 };
    struct server s = { 0 };
    struct intentus_err err = { 0 };
    const char *listen_addr = "127.0.0.1:8765";
    int64_t grace_ms = 10000;
    long workers = 0;
    int c, fd, rc = EXIT_FAIL;
    bool loopback = false, bad_listen = false;
    char msg[512];
    sigset_t sigs;
    pthread_t collector;
    struct MHD_Daemon *d = NULL;
    struct shared_pg *shared = NULL;

    if (cli_wants_help(argc, argv)) {
        fputs(serve_help, stdout);
        return EXIT_OK;
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:l:g:w:", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            s.config_path = optarg;
            break;
        case 'l':
            if (optarg == NULL || optarg[0] == '\0')
                return cli_usage_error("serve", "--listen: must not be empty");
            listen_addr = optarg;
            break;
        case 'g':
            if (units_parse_duration_ms(optarg, &grace_ms, NULL) != 0 || grace_ms < 0)
                return cli_usage_error("serve", "--grace: '%s' is not a duration", optarg);
            break;
        case 'w': {
            char *end;
            workers = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || workers < 1 || workers > 256)
                return cli_usage_error("serve", "--workers: '%s' is not a number from 1 to 256",
                                       optarg);
            break;
        }
        case 'A':
            s.no_auth = true;
            break;
        case 'C':
            tls_cert = optarg;
            break;
        case 'K':
            tls_key = optarg;
            break;
        case 'S':
            /* The scheme is checked here; the store itself at runtime_open. */
            if (store_engine_find(stores_builtin, optarg, NULL, &err) == NULL)
                return cli_usage_error("serve", "--store: %s", err.msg);
            store_arg = optarg;
            break;
        default:
            return cli_getopt_error("serve", c, argv);
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (check_tls_flags(tls_cert, tls_key) != 0)
        return EXIT_USAGE;

    /* Signals are taken on the main thread only (sigwait below), so they are
     * blocked before any thread exists: a worker thread the runtime starts
     * inherits the mask, and a SIGHUP can never reach one with the default
     * action (which would end the process). */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    s.rt = runtime_open(s.config_path,
                        &(struct runtime_opts){ .workers = (int)workers,
                                                .store_url = store_arg,
                                                .store_engines = stores_builtin },
                        &err);
    if (s.rt == NULL) {
        cli_error("serve", "%s", err.msg);
        return EXIT_USAGE;
    }
    {
        const struct config *cfg = runtime_config(s.rt);
        s.conf = serve_conf_load(s.config_path != NULL ? s.config_path
                                 : cfg->is_demo        ? NULL
                                                       : cfg->source,
                                 &err);
    }
    if (s.conf == NULL) {
        cli_error("serve", "%s", err.msg);
        runtime_close(s.rt);
        return EXIT_USAGE;
    }
    if (s.conf->shared_url != NULL && (rc = setup_shared(&s, &shared)) != EXIT_OK)
        goto out_rt;
    rc = EXIT_USAGE;
    if (setup_tls(&s, tls_cert, tls_key, &tls) != 0)
        goto out_rt;
    s.max_header = s.conf->max_header;
    if (s.no_auth && s.conf->n_tokens > 0) {
        cli_error("serve", "--no-auth: the config has serve.tokens; remove one or the other");
        goto out_rt;
    }
    fd = listen_on(listen_addr, &loopback, &bad_listen, msg, sizeof(msg));
    if (fd < 0) {
        cli_error("serve", "%s", msg);
        rc = bad_listen ? EXIT_USAGE : EXIT_FAIL; /* a malformed address, or bind failed */
        goto out_rt;
    }
    s.loopback = loopback;
    if (!loopback && !s.tls && !s.conf->allow_insecure) {
        cli_error("serve",
                  "--listen: %s is not loopback; plain HTTP is refused there: give a TLS "
                  "certificate (--tls-cert/--tls-key or serve.tls) or set "
                  "serve.allow_insecure: true",
                  listen_addr);
        close(fd);
        goto out_rt;
    }
    if (s.conf->n_tokens == 0 && !s.no_auth) {
        cli_error("serve", "no serve.tokens configured: anyone could send intents; add tokens "
                           "to the config or pass --no-auth (loopback and unix only)");
        close(fd);
        goto out_rt;
    }
    if (s.no_auth && !loopback) {
        cli_error("serve", "--no-auth: only on a loopback address or a unix socket");
        close(fd);
        goto out_rt;
    }

    {
        struct serve_limits_opts lo = limits_of(s.conf, loopback);
        s.limits = serve_limits_new(&lo, &err);
    }
    if (s.limits == NULL) {
        cli_error("serve", "%s", err.msg);
        close(fd);
        rc = EXIT_FAIL;
        goto out_rt;
    }
    pthread_rwlock_init(&s.conf_lock, NULL);
    pthread_mutex_init(&s.lock, NULL);
    pthread_mutex_init(&s.watch_lock, NULL);
    s.events = serve_events_new(NULL);
    if (s.events == NULL) {
        cli_error("serve", "out of memory");
        close(fd);
        rc = EXIT_FAIL;
        goto out_rt;
    }
    if (pthread_create(&collector, NULL, collector_main, &s) != 0) {
        cli_error("serve", "cannot start a thread");
        close(fd);
        rc = EXIT_FAIL;
        goto out_rt;
    }
    d = start_daemon(&s, fd, &tls);
    if (d == NULL) {
        cli_error("serve", "the HTTP server did not start on %s%s", listen_addr,
                  s.tls ? " (libmicrohttpd refused the TLS certificate or key)" : "");
        close(fd);
        rc = EXIT_FAIL;
    } else {
        fprintf(stderr, "intentus serve: listening on %s%s (%s, %zu token%s)\n", listen_addr,
                s.tls ? " with TLS" : "", runtime_config(s.rt)->source, s.conf->n_tokens,
                s.conf->n_tokens == 1 ? "" : "s");
        serve_until_stopped(&s, d, &sigs, grace_ms);
        MHD_stop_daemon(d);
        if (strncmp(listen_addr, "unix:", 5) == 0)
            unlink(listen_addr + 5); /* ours: bound by listen_on */
        rc = EXIT_OK;
    }
    atomic_store(&s.collector_stop, true);
    pthread_join(collector, NULL);
    serve_events_free(s.events);
out_rt:
    serve_limits_free(s.limits);
    serve_tls_free(&tls);
    runtime_close(s.rt); /* queued work left is recorded as aborted */
    shared_pg_close(shared);
    if (rc == EXIT_OK)
        fprintf(stderr, "intentus serve: stopped\n");
    serve_conf_free(s.conf);
    return rc;
}
/* NOLINTEND(readability-function-cognitive-complexity) */
