/* The router: one execution top to bottom.
 *
 *   router_route_with
 *     admission_refuses_payload  (core/admission.c)  -> refuse_payload
 *     begin                      normalise, start the record, INTENT_RECEIVED, WAL begin
 *     admission_apply_policy     (core/admission.c)
 *     dispatch                   strategy_find(...)->run  (core/strategy_*.c)
 *       router_attempt           one agent call  (core/router_attempt.c)
 *     finish                     decision, final response, save  (core/router_record.c),
 *                                WAL end  (core/router_wal.c)
 */
#include "core/router.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/admission.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/router_int.h"
#include "core/strategy.h"
#include "core/subintent.h"
#include "core/text_hash.h"

static const char parallel_refusal[] =
    "PARALLEL routing strategy is non-deterministic. Winner selection depends on agent "
    "completion timing, not priority. To use PARALLEL, initialize router with "
    "require_determinism=False. This disqualifies the execution from determinism guarantees. "
    "For deterministic multi-agent execution, use FALLBACK or BROADCAST.";

struct router *
router_new(struct registry *reg, const struct router_opts *opts, struct intentus_err *err)
{
    struct router *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    r->reg = reg;
    r->require_determinism = opts != NULL ? opts->require_determinism : true;
    if (opts != NULL) {
        r->store = opts->store;
        r->writer = opts->writer;
        r->deadline_ms = opts->deadline_ms;
        r->policy = opts->policy;
        r->limiter = opts->limiter;
        r->redactor = opts->redactor;
        r->sample = opts->sample;
        r->sample_rate = opts->sample_rate;
        r->sample_errors = opts->sample_errors;
        r->max_payload_bytes = opts->max_payload_bytes;
        r->max_depth = opts->max_depth;
        r->counters = opts->counters;
        r->agent_enabled = opts->agent_enabled;
        r->agent_enabled_ctx = opts->agent_enabled_ctx;
        r->wal = opts->wal;
        r->on_started = opts->on_started;
        r->on_finished = opts->on_finished;
        r->exec_ctx = opts->exec_ctx;
        r->subintent_max_depth = opts->subintent_max_depth;
    }
    if (r->subintent_max_depth <= 0)
        r->subintent_max_depth = SUBINTENT_DEFAULT_MAX_DEPTH;
    if (r->policy != NULL && r->limiter == NULL) {
        r->limiter = ratelimit_new(NULL);
        r->own_limiter = true;
        if (r->limiter == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            free(r);
            return NULL;
        }
    }
    r->rng = opts != NULL && opts->seed != 0 ? opts->seed : (uint64_t)clock_mono_us();
    pthread_mutex_init(&r->rng_lock, NULL);
    /* The reference computes this before agents register (always the empty
     * hash); intentus hashes the registry it actually routes with. */
    if (registry_config_hash(reg, r->require_determinism, r->config_hash, err) != 0) {
        router_free(r);
        return NULL;
    }
    return r;
}

void
router_free(struct router *r)
{
    if (r == NULL)
        return;
    pthread_mutex_destroy(&r->rng_lock);
    if (r->own_limiter)
        ratelimit_free(r->limiter);
    free(r);
}

bool
router_sample_in(const char *request_id, double rate)
{
    uint64_t h;

    if (rate >= 1.0)
        return true;
    if (rate <= 0.0 || request_id == NULL)
        return false;
    h = text_hash(request_id);
    /* One more mixing round: FNV's high bits move little for short ids. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (double)(h >> 11) * 0x1.0p-53 < rate;
}

const char *
router_config_hash(const struct router *r)
{
    return r->config_hash;
}

/* The overall deadline of an envelope: routing.timeoutMs (an intentus
 * extension) if present, else the router's default; 0 = none. */
static int64_t
deadline_of(const struct router *r, const struct envelope_view *v)
{
    long long ms;

    if (envelope_view_timeout_ms(v, &ms) == 0 && ms > 0)
        return ms;
    return r->deadline_ms;
}

/* A uniform double in [0, 1) from the router's splitmix64 generator. */
double
router_jitter(struct router *r)
{
    uint64_t z;

    pthread_mutex_lock(&r->rng_lock);
    z = (r->rng += 0x9e3779b97f4a7c15ULL);
    pthread_mutex_unlock(&r->rng_lock);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

cJSON *
router_exception_error(const char *text)
{
    return error_info_new(ERR_INTERNAL_AGENT_ERROR, text, false, NULL);
}

void
router_decide(const struct exec *x, struct outcome *o, const char *agent, const char *reason)
{
    struct decision *d = &o->decision;

    /* decision_new's tree had no intent without one: no decision then. */
    d->agent = x->intent != NULL ? agent : NULL;
    d->intent = x->intent;
    /* not snprintf: it was a visible part of a short route */
    text_copy_cut(d->reason, sizeof(d->reason), reason);
    if (x->rec != NULL)
        clock_now_iso(d->timestamp);
    else
        d->timestamp[0] = '\0';
}

struct outcome
router_fail(struct exec *x, enum error_code code, const char *msg, cJSON *details,
            const char *agent)
{
    struct outcome o = { 0 };

    o.response =
        response_router_error(error_info_new(code, msg, false, details), agent, x->trace_id);
    return o;
}

bool
router_deadline_passed(const struct exec *x)
{
    return x->deadline_us > 0 && clock_mono_us() >= x->deadline_us;
}

cJSON *
router_deadline_error(const struct exec *x)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "execution deadline of %lld ms exceeded", (long long)x->deadline_ms);
    return error_info_new(ERR_AGENT_TIMEOUT, msg, true, NULL);
}

cJSON *
router_open_error(const struct agent *a, enum skip why)
{
    char msg[200];

    if (why == SKIP_DISABLED)
        snprintf(msg, sizeof(msg), "agent '%s' is disabled", a->name);
    else if (why == SKIP_WAL)
        snprintf(msg, sizeof(msg), "agent '%s' not called: a write-ahead log write failed",
                 a->name);
    else
        snprintf(msg, sizeof(msg), "circuit open for agent '%s'", a->name);
    return error_info_new(ERR_AGENT_UNAVAILABLE, msg, true, NULL);
}

static struct outcome
dispatch(struct exec *x)
{
    enum strategy s = envelope_view_strategy(&x->ev);
    const struct strategy_ops *ops = strategy_find(s);

    if (x->n == 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "No agents registered for intent '%s'", x->intent);
        return router_fail(x, ERR_CAPABILITY_NOT_FOUND, msg, NULL, "router");
    }
    if (ops->nondeterministic && x->router->require_determinism) {
        cJSON *details = cJSON_CreateObject();
        if (details != NULL) {
            cJSON_AddStringToObject(details, "strategy", ops->name);
            cJSON_AddBoolToObject(details, "require_determinism", true);
            cJSON_AddStringToObject(details, "remediation",
                                    "Use require_determinism=False or change strategy");
        }
        return router_fail(x, ERR_VALIDATION_ERROR, parallel_refusal, details, "router");
    }
    return ops->run(x, s);
}

/* Step 1 of the reference's pipeline: env's view in x, and env normalised
 * through it. */
static int
normalize(struct exec *x, cJSON *env)
{
    envelope_view_fill(&x->ev, env);
    return envelope_view_normalize(&x->ev);
}

/* Steps 1-2 of the reference's pipeline (env normalised by the caller):
 * start the record, INTENT_RECEIVED. ro: the envelope's hash when known, and
 * header.originalEnvelopeHash for a refused payload's record. */
static int
begin(struct router *r, cJSON *env, struct exec *x, const struct record_build_opts *ro,
      struct route_result *out)
{
    struct record_build_opts child = { 0 };

    memset(out, 0, sizeof(*out));
    /* A sub-intent's record names its parent (core/subintent.h). */
    if (x->parent != NULL) {
        if (ro != NULL)
            child = *ro;
        child.parent_execution_id = x->parent->execution_id;
        ro = &child;
    }
    x->router = r;
    x->env = env;
    x->intent = envelope_view_intent_name(&x->ev);
    x->trace_id = envelope_view_trace_id(&x->ev);
    sink_init(&x->direct, x, false);
    x->deadline_ms = deadline_of(r, &x->ev);
    if (x->deadline_ms > 0)
        x->deadline_us = clock_mono_us() + x->deadline_ms * 1000;
    ROUTER_COUNT(r, &r->counters->routed);
    if (r->sample && !r->sample_errors &&
        !router_sample_in(envelope_view_request_id(&x->ev), r->sample_rate)) {
        /* Out whatever happens: do not even build the record. */
        out->sampled_out = true;
        ROUTER_COUNT(r, &r->counters->sampled_out);
    } else if ((r->store != NULL || r->writer != NULL) && router_record_start(r, x, ro, out) != 0) {
        return -1;
    }
    /* Before anything runs: the secrets of the envelope as received, to be
     * masked in whatever the record and the WAL later hold. */
    if (redactor_enabled(r->redactor) && (x->rec != NULL || r->wal != NULL) &&
        (x->redact = redact_ctx_new(r->redactor, env, &out->record_err)) == NULL) {
        record_build_free(x->rec);
        x->rec = NULL;
        return -1;
    }
    ev_intent_received(x);
    return router_wal_begin(r, x);
}

/* Decision, final response, save, WAL end. Takes the outcome. */
static int
finish(struct router *r, struct exec *x, struct outcome o, struct route_result *out)
{
    int rc = 0;

    if (o.response == NULL) {
        record_build_free(x->rec);
        x->rec = NULL;
        rc = -1;
    } else {
        if (x->attempts != NULL)
            out->attempts = atomic_load(x->attempts);
        router_record_finish(r, x, &o, out);
        out->response = o.response;
    }
    router_wal_end(r, x, o.response, out);
    redact_ctx_free(x->redact);
    return rc;
}

/* A payload over the limits, or one its record could not hold, never
 * reaches an agent, and is not stored either (that is what the limit
 * protects): the record holds a stand-in payload, and
 * header.originalEnvelopeHash the hash of what was sent when it has one. */
static int
refuse_payload(struct router *r, cJSON *env, const struct subintent_parent *parent,
               enum error_code code, const char *msg, struct route_result *out)
{
    cJSON *payload = json_item(env, "payload");
    cJSON *stand_in = cJSON_CreateObject(), *keep;
    struct exec x = { .parent = parent };
    char orig[65];
    bool hashed;
    int rc;

    if (stand_in == NULL || cJSON_AddStringToObject(stand_in, "omitted", msg) == NULL ||
        normalize(&x, env) != 0) {
        cJSON_Delete(stand_in);
        return -1;
    }
    hashed = admission_depth(payload, 200) < 200 && json_canonical_sha256(env, orig, NULL) == 0;
    /* Swap contents so the envelope keeps its key order. */
    keep = payload->child;
    payload->child = stand_in->child;
    stand_in->child = keep;
    rc = begin(r, env, &x, &(struct record_build_opts){ .original_hash = hashed ? orig : NULL },
               out);
    keep = payload->child;
    payload->child = stand_in->child;
    stand_in->child = keep;
    cJSON_Delete(stand_in);
    if (rc != 0)
        return -1;
    return finish(r, &x, router_fail(&x, code, msg, NULL, "router"), out);
}

/* An execution, emitted by parent (NULL: by a client). */
static int
route_exec(struct router *r, cJSON *env, struct agent_cache *cache,
           const struct subintent_parent *parent, struct route_result *out)
{
    struct agent *stack[16];
    struct exec x = { .parent = parent };
    struct outcome o;
    enum error_code code;
    char msg[400], hash[65];
    atomic_int attempts = 0;
    size_t max;

    /* Normalised first, so the hash admission computes is the record's. */
    memset(out, 0, sizeof(*out));
    if (normalize(&x, env) != 0)
        return -1;
    if (admission_refuses_payload(r, &x.ev, hash, &code, msg, sizeof(msg)))
        return refuse_payload(r, env, parent, code, msg, out);
    if (begin(r, env, &x, &(struct record_build_opts){ .hash = hash }, out) != 0)
        return -1;
    x.attempts = &attempts;
    x.cache = cache;
    max = registry_count(r->reg) + 1;
    x.cands = max <= sizeof(stack) / sizeof(stack[0]) ? stack : malloc(max * sizeof(*x.cands));
    if (x.cands == NULL) {
        record_build_free(x.rec);
        x.rec = NULL;
        router_wal_end(r, &x, NULL, out);
        redact_ctx_free(x.redact);
        return -1;
    }
    x.n = registry_candidates(r->reg, x.intent, envelope_view_intent_version(&x.ev), x.cands);
    if (x.wal_refused)
        o = router_wal_refusal(&x);
    else if (!admission_apply_policy(&x, &o))
        o = dispatch(&x);
    if (x.wal != NULL && wal_run_stopped(x.wal))
        o = router_wal_stopped(&x, o);
    if (x.cands != stack)
        free(x.cands);
    return finish(r, &x, o, out);
}

int
router_route_with(struct router *r, cJSON *env, struct agent_cache *cache, struct route_result *out)
{
    return route_exec(r, env, cache, NULL, out);
}

int
router_route_child(struct router *r, cJSON *env, struct agent_cache *cache,
                   const struct subintent_parent *parent, struct route_result *out)
{
    return route_exec(r, env, cache, parent, out);
}

int
router_refuse_child(struct router *r, cJSON *env, const struct subintent_parent *parent,
                    enum error_code code, const char *message, cJSON *details,
                    struct route_result *out)
{
    struct exec x = { .parent = parent };

    memset(out, 0, sizeof(*out));
    if (normalize(&x, env) != 0 || begin(r, env, &x, NULL, out) != 0) {
        cJSON_Delete(details);
        return -1;
    }
    return finish(r, &x, router_fail(&x, code, message, details, "router"), out);
}

int
router_route(struct router *r, cJSON *env, struct route_result *out)
{
    return router_route_with(r, env, NULL, out);
}

int
router_refuse(struct router *r, cJSON *env, enum error_code code, const char *message,
              struct route_result *out)
{
    struct exec x = { 0 };

    memset(out, 0, sizeof(*out));
    if (normalize(&x, env) != 0 || begin(r, env, &x, NULL, out) != 0)
        return -1;
    return finish(r, &x, router_fail(&x, code, message, NULL, "router"), out);
}

void
route_result_settle(struct route_result *res)
{
    if (res == NULL || res->record_fate == NULL)
        return;
    if (writer_fate_wait(res->record_fate, &res->record_err) != 0)
        res->recorded = false;
    writer_fate_release(res->record_fate);
    res->record_fate = NULL;
}

int
route_result_own(struct route_result *res)
{
    return res != NULL && res->response != NULL ? response_own(res->response) : 0;
}

void
route_result_free(struct route_result *res)
{
    if (res == NULL)
        return;
    response_recycle(res->response);
    res->response = NULL;
    writer_fate_release(res->record_fate);
    res->record_fate = NULL;
}
