#include "core/router.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/record.h"
#include "core/subintent.h"
#include "core/wal_run.h"

struct router {
    struct registry *reg;
    bool require_determinism;
    struct rec_store *store;
    struct writer *writer;
    int64_t deadline_ms;
    const struct policy *policy;
    struct ratelimit *limiter;
    bool own_limiter;
    const struct redactor *redactor;
    bool sample, sample_errors;
    double sample_rate;
    uint64_t max_payload_bytes;
    int max_depth;
    struct router_counters *counters;
    router_agent_enabled_fn agent_enabled;
    void *agent_enabled_ctx;
    struct wal *wal;
    router_exec_fn on_started, on_finished;
    void *exec_ctx;
    pthread_mutex_t rng_lock; /* retry jitter: workers share the generator */
    uint64_t rng;
    char config_hash[65];
    int subintent_max_depth;
};

/* An event waiting to be recorded: PARALLEL branches run on other threads
 * and their events are recorded by the routing thread, in completion order. */
struct pending {
    const char *type;
    cJSON *payload;
    int64_t mono_us;
};

/* Where an attempt's events go: straight into the record, or buffered. */
struct sink {
    struct exec *x;
    bool buffered;
    struct pending *items;
    size_t n, cap;
};

/* One execution in flight: what every strategy needs to hand around. */
struct exec {
    struct router *router;
    cJSON *env;
    struct recorder *rec; /* NULL when recording is off */
    const char *intent;
    const char *trace_id;
    struct agent **cands;
    size_t n;
    int64_t deadline_us;       /* overall, monotonic; 0 = none */
    int64_t deadline_ms;       /* the same as configured, for messages */
    struct agent_cache *cache; /* the worker's, or NULL */
    struct sink direct;        /* unbuffered sink into rec */
    int failed;                /* out of memory while recording */
    struct wal_run *wal;       /* NULL when there is no WAL; shared by PARALLEL branches */
    bool wal_refused;          /* execution.started could not be written: nothing runs */
    struct intentus_err wal_err;
    struct redact_ctx *redact; /* the rules plus the envelope's secrets; NULL: off */
    atomic_int *attempts;      /* agent calls made; shared by PARALLEL branches; may be NULL */
    const struct subintent_parent *parent; /* sub-intents: who emitted it; NULL: nobody */
};

/* Why attempt() did not call an agent. */
enum skip { SKIP_NONE, SKIP_OPEN, SKIP_DISABLED, SKIP_WAL };

/* The outcome a strategy hands back. */
struct outcome {
    cJSON *response;
    cJSON *decision; /* NULL on the "exception" path: no ROUTER_DECISION */
};

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
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */

    if (rate >= 1.0)
        return true;
    if (rate <= 0.0 || request_id == NULL)
        return false;
    for (const char *p = request_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    /* One more mixing round: FNV's high bits move little for short ids. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (double)(h >> 11) * 0x1.0p-53 < rate;
}

/* Counters are optional: c points into r->counters, which may be NULL, so
 * the address is only taken, never dereferenced, until checked. */
#define count(r, c)                                                                                \
    do {                                                                                           \
        if ((r)->counters != NULL)                                                                 \
            atomic_fetch_add_explicit((c), 1, memory_order_relaxed);                               \
    } while (0)

const char *
router_config_hash(const struct router *r)
{
    return r->config_hash;
}

int64_t
router_deadline_ms(const struct router *r, const cJSON *env)
{
    long long ms;

    if (json_get_int64(cJSON_GetObjectItemCaseSensitive(env, "routing"), "timeoutMs", &ms) == 0 &&
        ms > 0)
        return ms;
    return r->deadline_ms;
}

/* A uniform double in [0, 1) from the router's splitmix64 generator. */
static double
jitter(struct router *r)
{
    uint64_t z;

    pthread_mutex_lock(&r->rng_lock);
    z = (r->rng += 0x9e3779b97f4a7c15ULL);
    pthread_mutex_unlock(&r->rng_lock);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static void
emit_at(struct sink *s, const char *type, cJSON *payload, int64_t mono_us)
{
    if (payload == NULL) {
        s->x->failed = 1;
        return;
    }
    if (s->buffered) {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 8;
            struct pending *p = realloc(s->items, cap * sizeof(*p));
            if (p == NULL) {
                cJSON_Delete(payload);
                s->x->failed = 1;
                return;
            }
            s->items = p;
            s->cap = cap;
        }
        s->items[s->n++] = (struct pending){ type, payload, mono_us };
        return;
    }
    if (s->x->rec == NULL) {
        cJSON_Delete(payload);
        return;
    }
    if (recorder_event_at(s->x->rec, type, payload, mono_us) != 0)
        s->x->failed = 1;
}

static void
emit(struct sink *s, const char *type, cJSON *payload)
{
    emit_at(s, type, payload, clock_mono_us());
}

static void
event(struct exec *x, const char *type, cJSON *payload)
{
    emit(&x->direct, type, payload);
}

/* ---- sub-intents and model calls (core/subintent.c): the attempt's hook ---- */
static void
sub_emit(void *sink, const char *type, cJSON *payload)
{
    emit(sink, type, payload);
}

static cJSON *
sub_after_call(struct exec *x, struct sink *s, struct agent *a, const struct agent_ctx *ctx,
               cJSON *resp, struct intentus_err *err)
{
    struct subintent_parent self = {
        .execution_id = x->rec != NULL ? recorder_id(x->rec) : "",
        .trace_id = x->trace_id,
        .intent = x->intent,
        .version = envelope_intent_version(x->env),
        .depth = x->parent != NULL ? x->parent->depth + 1 : 0,
        .up = x->parent,
    };
    struct subintent_call c = {
        .router = x->router,
        .agent = a,
        .env = x->env,
        .ctx = ctx,
        .self = &self,
        .max_depth = x->router->subintent_max_depth,
        .emit = sub_emit,
        .emit_ctx = s,
    };

    return resp == NULL ? NULL : subintent_after_call(&c, resp, err);
}
/* ---- end sub-intents ---- */

/* Move buffered events into the record; with only_state, just the breaker
 * transitions (a branch that finished after the winner). */
static void
flush(struct exec *x, struct sink *s, bool only_state)
{
    for (size_t i = 0; i < s->n; i++) {
        if (only_state && strcmp(s->items[i].type, "CIRCUIT_STATE_CHANGE") != 0) {
            cJSON_Delete(s->items[i].payload);
            continue;
        }
        emit_at(&x->direct, s->items[i].type, s->items[i].payload, s->items[i].mono_us);
    }
    s->n = 0;
}

static void
sink_free(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        cJSON_Delete(s->items[i].payload);
    free(s->items);
}

static cJSON *
obj2(const char *k1, cJSON *v1, const char *k2, cJSON *v2)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || v1 == NULL || v2 == NULL) {
        cJSON_Delete(o);
        cJSON_Delete(v1);
        cJSON_Delete(v2);
        return NULL;
    }
    cJSON_AddItemToObject(o, k1, v1);
    cJSON_AddItemToObject(o, k2, v2);
    return o;
}

static cJSON *
attempt_start(const char *agent, enum strategy s, long index, int attempt_no)
{
    cJSON *p = obj2("agent", cJSON_CreateString(agent), "strategy",
                    cJSON_CreateString(model_strategy_event(s)));

    if (p != NULL && index >= 0 && cJSON_AddNumberToObject(p, "index", (double)index) == NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    /* Only agents that retry carry the attempt number, so records of agents
     * without retries keep the reference's exact payload keys. */
    if (p != NULL && attempt_no > 0 &&
        cJSON_AddNumberToObject(p, "attempt", (double)attempt_no) == NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

/* The reference's {agent, status[, exception]}, plus (intentus) for a
 * failed attempt its errorCode, message and retryable, from the response's
 * error or, when the call itself failed, INTERNAL_AGENT_ERROR with the
 * failure (as the strategies turn it into an error); and for agents that
 * retry, the attempt number. The message sits in the event's payload, which
 * redact_record() redacts. */
static cJSON *
attempt_end(const char *agent, const cJSON *resp, const char *exception, const char *call_error,
            int attempt_no)
{
    bool ok = resp != NULL && !response_is_error(resp);
    cJSON *p =
        obj2("agent", cJSON_CreateString(agent), "status", cJSON_CreateString(ok ? "ok" : "error"));
    const cJSON *e = response_error(resp);
    const char *code = response_error_code(resp), *msg = json_get_string(e, "message");
    bool bad = p == NULL;

    if (!bad && exception != NULL)
        bad = cJSON_AddStringToObject(p, "exception", exception) == NULL;
    if (!bad && !ok) {
        if (resp == NULL) {
            code = model_error_code_name(ERR_INTERNAL_AGENT_ERROR);
            msg = call_error;
        }
        bad = cJSON_AddStringToObject(p, "errorCode", code ? code : "AGENT_ERROR") == NULL ||
              cJSON_AddStringToObject(p, "message", msg ? msg : "") == NULL ||
              cJSON_AddBoolToObject(p, "retryable",
                                    resp != NULL && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
                                                        e, "retryable"))) == NULL;
    }
    if (!bad && attempt_no > 0)
        bad = cJSON_AddNumberToObject(p, "attempt", (double)attempt_no) == NULL;
    if (bad) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

static void
emit_breaker_change(struct sink *s, const struct agent *a, const struct breaker_change *ch)
{
    cJSON *p;

    if (!ch->changed)
        return;
    p = obj2("agent", cJSON_CreateString(a->name), "from",
             cJSON_CreateString(breaker_state_name(ch->from)));
    if (p != NULL) {
        cJSON_AddStringToObject(p, "to", breaker_state_name(ch->to));
        cJSON_AddStringToObject(p, "reason", ch->reason);
    }
    emit(s, "CIRCUIT_STATE_CHANGE", p);
}

/* The reference turns an exception inside an agent call into an error it
 * carries on with (FALLBACK, BROADCAST, PARALLEL). */
static cJSON *
exception_error(const char *text)
{
    return error_info_new(ERR_INTERNAL_AGENT_ERROR, text, false, NULL);
}

static struct outcome
fail_router(struct exec *x, enum error_code code, const char *msg, cJSON *details,
            const char *agent)
{
    struct outcome o = { NULL, NULL };

    o.response =
        response_router_error(error_info_new(code, msg, false, details), agent, x->trace_id);
    return o;
}

static bool
deadline_passed(const struct exec *x)
{
    return x->deadline_us > 0 && clock_mono_us() >= x->deadline_us;
}

static cJSON *
deadline_error(const struct exec *x)
{
    char msg[160];

    snprintf(msg, sizeof(msg), "execution deadline of %lld ms exceeded", (long long)x->deadline_ms);
    return error_info_new(ERR_AGENT_TIMEOUT, msg, true, NULL);
}

static void
sleep_us(int64_t us)
{
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static bool
is_retryable(const cJSON *resp)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(response_error(resp), "retryable"));
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): one attempt in order: breaker, WAL step,
 * call, retry with backoff; each a short guarded block. */
/* One agent, as every strategy calls it: the breaker first (a refusal is
 * recorded as CIRCUIT_OPEN_SKIPPED and *skipped set), then the call under
 * its deadline, then opt-in retries with exponential backoff and jitter for
 * retryable errors of idempotent agents. Returns the last response, or NULL
 * with err when the call itself failed (the reference's exception path). */
static cJSON *
attempt(struct exec *x, struct sink *s, struct agent *a, enum strategy st, long index,
        enum skip *skipped, bool *ended, struct intentus_err *err)
{
    bool retries = a->idempotent && a->retry.max_attempts > 1;
    struct router *r = x->router;
    struct breaker_change ch;
    cJSON *resp = NULL;

    *skipped = SKIP_NONE;
    *ended = true;
    if (x->wal != NULL && wal_run_stopped(x->wal)) {
        *skipped = SKIP_WAL; /* a WAL write failed: no further step starts */
        return NULL;
    }
    if (r->agent_enabled != NULL && !r->agent_enabled(r->agent_enabled_ctx, a->name)) {
        cJSON *p = cJSON_CreateObject();
        if (p != NULL && cJSON_AddStringToObject(p, "agent", a->name) == NULL) {
            cJSON_Delete(p);
            p = NULL;
        }
        emit(s, "AGENT_DISABLED_SKIPPED", p);
        *skipped = SKIP_DISABLED;
        return NULL;
    }
    for (int n = 1;; n++) {
        struct agent_ctx ctx = { 0, x->cache };
        char step_id[WAL_STEP_ID_LEN];
        int64_t start = clock_mono_us();
        bool ok;
        if (!breaker_allow(a->breaker, start, &ch)) {
            struct breaker_stats bs;
            cJSON *p;
            if (n > 1)
                break; /* the breaker opened during our retries: keep the last answer */
            breaker_snapshot(a->breaker, start, &bs);
            p = obj2("agent", cJSON_CreateString(a->name), "state",
                     cJSON_CreateString(breaker_state_name(bs.state)));
            if (p != NULL && bs.next_probe_us > 0) {
                int64_t whole_ms = (bs.next_probe_us - start + 999) / 1000; /* rounded up */
                cJSON_AddNumberToObject(p, "nextProbeMs", (double)whole_ms);
            }
            emit(s, "CIRCUIT_OPEN_SKIPPED", p);
            *skipped = SKIP_OPEN;
            return NULL;
        }
        emit_breaker_change(s, a, &ch);
        emit(s, "AGENT_ATTEMPT_START", attempt_start(a->name, st, index, retries ? n : 0));
        if (x->attempts != NULL)
            atomic_fetch_add(x->attempts, 1);
        if (a->timeout_ms > 0)
            ctx.deadline_us = start + a->timeout_ms * 1000;
        if (x->deadline_us > 0 && (ctx.deadline_us == 0 || x->deadline_us < ctx.deadline_us))
            ctx.deadline_us = x->deadline_us;
        cJSON_Delete(resp);
        if (x->wal != NULL && wal_run_step_start(x->wal, a, x->env, step_id) != 0) {
            /* Not logged, so not started: the call fails without running. */
            err_set(err, IERR_IO, "write-ahead log write failed: agent '%s' not called", a->name);
            resp = NULL;
        } else {
            resp = sub_after_call(x, s, a, &ctx, agent_call(a, x->env, &ctx, err), err);
            if (x->wal != NULL)
                wal_run_step_end(x->wal, step_id, resp, resp == NULL ? err->msg : NULL);
        }
        ok = resp != NULL && !response_is_error(resp);
        if (resp == NULL && st == STRATEGY_DIRECT) {
            /* The reference writes no END when DIRECT's call throws. */
            *ended = false;
        } else {
            cJSON *end = attempt_end(a->name, resp,
                                     resp == NULL && st != STRATEGY_BROADCAST ? err->msg : NULL,
                                     err->msg, retries ? n : 0);
            const char *code = response_error_code(resp);
            if (end != NULL && code != NULL && strcmp(code, "AGENT_TIMEOUT") == 0)
                cJSON_AddNumberToObject(end, "elapsedUs", (double)(clock_mono_us() - start));
            /* The WAL's step id, as the reference's ConsistencyChecker pairs
             * a step.completed with the record's AGENT_ATTEMPT_END by it. */
            if (end != NULL && x->wal != NULL && x->wal->f != NULL)
                cJSON_AddStringToObject(end, "step_id", step_id);
            emit(s, "AGENT_ATTEMPT_END", end);
        }
        breaker_record(a->breaker, ok, clock_mono_us(), &ch);
        emit_breaker_change(s, a, &ch);
        if (ok || resp == NULL || !retries || !is_retryable(resp) || n >= a->retry.max_attempts)
            break;
        {
            int64_t backoff = a->retry.base_ms * 1000;
            for (int i = 1; i < n && backoff < a->retry.max_ms * 1000; i++)
                backoff *= 2;
            if (backoff > a->retry.max_ms * 1000)
                backoff = a->retry.max_ms * 1000;
            /* "Equal jitter": between half and all of the backoff, so
             * retries of many callers spread out but never hammer. */
            backoff = backoff / 2 + (int64_t)(jitter(x->router) * ((double)backoff / 2));
            if (x->deadline_us > 0 && clock_mono_us() + backoff >= x->deadline_us)
                break; /* no time left for another attempt */
            sleep_us(backoff);
        }
        if (!s->buffered) {
            /* Count retries on the live envelope, as routingMetadata.retries. */
            cJSON *rm = cJSON_GetObjectItemCaseSensitive(x->env, "routingMetadata");
            cJSON *rt = cJSON_GetObjectItemCaseSensitive(rm, "retries");
            if (cJSON_IsNumber(rt))
                cJSON_ReplaceItemInObjectCaseSensitive(rm, "retries",
                                                       cJSON_CreateNumber(rt->valuedouble + 1));
        }
    }
    return resp;
}
/* NOLINTEND(readability-function-cognitive-complexity) */

/* A skipped agent (circuit open, or disabled by an operator) as the last
 * error of a chain. */
static cJSON *
open_error(const struct agent *a, enum skip why)
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
run_direct(struct exec *x)
{
    const char *target = envelope_target_agent(x->env);
    struct agent *a = NULL;
    struct intentus_err err = { 0 };
    struct outcome o = { NULL, NULL };
    enum skip skipped;
    bool ok, ended;
    if (target != NULL) {
        for (size_t i = 0; i < x->n && a == NULL; i++) {
            if (strcmp(x->cands[i]->name, target) == 0)
                a = x->cands[i];
        }
        if (a == NULL) {
            char msg[512];
            snprintf(msg, sizeof(msg), "Target agent '%s' not registered for intent '%s'", target,
                     x->intent);
            return fail_router(x, ERR_ROUTING_ERROR, msg, NULL, "router");
        }
    } else {
        a = x->cands[0];
    }
    o.response = attempt(x, &x->direct, a, STRATEGY_DIRECT, -1, &skipped, &ended, &err);
    if (skipped) {
        /* Fail fast: DIRECT has nowhere else to go. */
        o.response = response_router_error(open_error(a, skipped), a->name, x->trace_id);
        return o;
    }
    if (o.response == NULL) /* no END event on this path, as in the reference */
        return fail_router(x, ERR_ROUTING_ERROR, err.msg, NULL, a->name);
    ok = !response_is_error(o.response);
    o.decision = decision_new(a->name, x->intent, ok ? "direct match" : "routing failed");
    return o;
}

/* The FALLBACK chain: the candidates, or (extension) the envelope's
 * fallbackAgents in their order, restricted to capable agents. Names that
 * cannot take the intent are recorded as skipped. */
static size_t
fallback_chain(struct exec *x, struct agent **chain)
{
    const cJSON *names = envelope_fallback_agents(x->env), *it;
    size_t n = 0;

    if (names == NULL || cJSON_GetArraySize(names) == 0) {
        memcpy(chain, x->cands, x->n * sizeof(*chain));
        return x->n;
    }
    cJSON_ArrayForEach(it, names)
    {
        struct agent *a = NULL;
        bool dup = false;
        const char *why;
        cJSON *p;
        if (!cJSON_IsString(it))
            continue;
        for (size_t i = 0; i < x->n && a == NULL; i++) {
            if (strcmp(x->cands[i]->name, it->valuestring) == 0)
                a = x->cands[i];
        }
        for (size_t i = 0; a != NULL && i < n; i++)
            dup = dup || chain[i] == a;
        if (a != NULL && !dup) {
            chain[n++] = a;
            continue;
        }
        if (a != NULL)
            why = "listed twice";
        else if (registry_find(x->router->reg, it->valuestring) != NULL)
            why = "not capable of this intent";
        else
            why = "not registered";
        p = obj2("agent", cJSON_CreateString(it->valuestring), "reason", cJSON_CreateString(why));
        if (p != NULL)
            cJSON_AddStringToObject(p, "strategy", "FALLBACK");
        event(x, "AGENT_SKIPPED", p);
    }
    return n;
}

static struct outcome
run_fallback(struct exec *x, enum strategy s)
{
    struct agent **chain = malloc((x->n + 1) * sizeof(*chain));
    struct outcome o = { NULL, NULL };
    cJSON *last_error = NULL;
    size_t n;

    if (chain == NULL) {
        x->failed = 1;
        return o;
    }
    n = fallback_chain(x, chain);
    if (n == 0) {
        char msg[512];
        free(chain);
        snprintf(msg, sizeof(msg), "None of routing.fallbackAgents is registered for intent '%s'",
                 x->intent);
        return fail_router(x, ERR_ROUTING_ERROR, msg, NULL, "router");
    }
    for (size_t i = 0; i < n; i++) {
        struct agent *a = chain[i];
        struct intentus_err err = { 0 };
        enum skip skipped;
        bool ended;
        cJSON *resp;
        if (deadline_passed(x)) {
            cJSON_Delete(last_error);
            last_error = deadline_error(x);
            break;
        }
        resp = attempt(x, &x->direct, a, STRATEGY_FALLBACK, (long)i, &skipped, &ended, &err);
        if (skipped) {
            if (last_error == NULL)
                last_error = open_error(a, skipped);
            continue;
        }
        if (resp != NULL && !response_is_error(resp)) {
            char reason[64];
            if (s == STRATEGY_UNKNOWN)
                snprintf(reason, sizeof(reason), "success");
            else
                snprintf(reason, sizeof(reason), "fallback success at index %zu", i);
            o.response = resp;
            o.decision = decision_new(a->name, x->intent, reason);
            break;
        }
        cJSON_Delete(last_error);
        last_error =
            resp != NULL ? cJSON_Duplicate(response_error(resp), 1) : exception_error(err.msg);
        cJSON_Delete(resp);
        if (i + 1 < n) {
            event(x, "FALLBACK_TRIGGERED",
                  obj2("from", cJSON_CreateString(a->name), "to",
                       cJSON_CreateString(chain[i + 1]->name)));
            if (x->wal != NULL)
                wal_run_fallback(x->wal, a->name, chain[i + 1]->name,
                                 json_get_string(last_error, "message"));
        } else if (x->wal != NULL) {
            wal_run_exhausted(x->wal, a->name, json_get_string(last_error, "message"));
        }
    }
    if (o.response == NULL) {
        o.response = response_exhausted(last_error, "fallback", x->trace_id);
        o.decision = decision_new("fallback", x->intent, "routing failed");
    }
    cJSON_Delete(last_error);
    free(chain);
    return o;
}

static struct outcome
run_broadcast(struct exec *x)
{
    struct outcome o = { NULL, NULL };
    cJSON *last_error = NULL, *best = NULL;
    struct agent *best_agent = NULL;

    for (size_t i = 0; i < x->n; i++) {
        struct agent *a = x->cands[i];
        struct intentus_err err = { 0 };
        enum skip skipped;
        bool ended;
        cJSON *resp;
        if (deadline_passed(x)) {
            cJSON_Delete(last_error);
            last_error = deadline_error(x);
            break;
        }
        resp = attempt(x, &x->direct, a, STRATEGY_BROADCAST, -1, &skipped, &ended, &err);
        if (skipped) {
            if (last_error == NULL)
                last_error = open_error(a, skipped);
            continue;
        }
        if (resp != NULL && !response_is_error(resp)) {
            cJSON_Delete(best);
            best = resp;
            best_agent = a;
            continue;
        }
        cJSON_Delete(last_error);
        last_error =
            resp != NULL ? cJSON_Duplicate(response_error(resp), 1) : exception_error(err.msg);
        cJSON_Delete(resp);
    }
    if (best != NULL) {
        o.response = best;
        o.decision = decision_new(best_agent->name, x->intent, "broadcast last success");
    } else {
        o.response = response_exhausted(last_error, "broadcast", x->trace_id);
        o.decision = decision_new("broadcast", x->intent, "routing failed");
    }
    cJSON_Delete(last_error);
    return o;
}

/* PARALLEL: one thread per candidate, each with its own copy of the
 * envelope; results are consumed in completion order and the first success
 * wins. Every thread is joined before returning, as in the reference. */
struct branch_queue;

struct branch {
    struct exec *x;
    struct agent *agent;
    struct exec view; /* the execution as this branch sees it: own envelope */
    struct sink sink;
    cJSON *resp;
    struct intentus_err err;
    pthread_t thread;
    bool started;
    enum skip skipped;
    size_t index;
    struct branch_queue *q;
};

struct branch_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t *order; /* indexes of finished branches, in completion order */
    size_t done;
};

static void *
branch_main(void *arg)
{
    struct branch *b = arg;
    struct branch_queue *q = b->q;
    bool ended;

    b->resp =
        attempt(&b->view, &b->sink, b->agent, STRATEGY_PARALLEL, -1, &b->skipped, &ended, &b->err);
    pthread_mutex_lock(&q->lock);
    q->order[q->done++] = b->index;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void
branch_done_early(struct branch_queue *q, size_t i)
{
    pthread_mutex_lock(&q->lock);
    q->order[q->done++] = i;
    pthread_mutex_unlock(&q->lock);
}

static struct outcome
run_parallel(struct exec *x)
{
    struct outcome o = { NULL, NULL };
    struct branch *br = calloc(x->n, sizeof(*br));
    struct branch_queue q;
    cJSON *last_error = NULL;
    struct branch *winner = NULL;
    size_t consumed = 0;

    q.order = calloc(x->n, sizeof(*q.order));
    q.done = 0;
    if (br == NULL || q.order == NULL) {
        free(br);
        free(q.order);
        x->failed = 1;
        return o;
    }
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.cond, NULL);
    for (size_t i = 0; i < x->n; i++) {
        struct branch *b = &br[i];
        b->x = x;
        b->agent = x->cands[i];
        b->index = i;
        b->q = &q;
        b->view = *x;
        b->view.cache = NULL; /* the worker's cache is not shared across threads */
        b->view.env = cJSON_Duplicate(x->env, 1);
        b->sink = (struct sink){ .x = &b->view, .buffered = true };
        if (b->view.env == NULL) {
            err_set(&b->err, IERR_NOMEM, "out of memory copying the envelope");
        } else if (pthread_create(&b->thread, NULL, branch_main, b) == 0) {
            b->started = true;
            continue;
        } else {
            err_set(&b->err, IERR_NOMEM, "cannot start a thread for agent %s", b->agent->name);
        }
        /* A branch that could not start counts as finished with an exception. */
        branch_done_early(&q, i);
    }
    while (consumed < x->n) {
        struct branch *b;
        bool ok;
        pthread_mutex_lock(&q.lock);
        while (q.done == consumed)
            pthread_cond_wait(&q.cond, &q.lock);
        b = &br[q.order[consumed++]];
        pthread_mutex_unlock(&q.lock);
        if (b->started)
            pthread_join(b->thread, NULL);
        b->started = false;
        if (winner != NULL) {
            /* Results after the winner are neither returned nor recorded;
             * only breaker transitions are kept, so the circuit history in
             * the records stays complete. */
            flush(x, &b->sink, true);
            if (b->view.failed)
                x->failed = 1;
            continue;
        }
        flush(x, &b->sink, false);
        if (b->view.failed)
            x->failed = 1;
        if (b->skipped) {
            if (last_error == NULL)
                last_error = open_error(b->agent, b->skipped);
            continue;
        }
        ok = b->resp != NULL && !response_is_error(b->resp);
        if (ok) {
            winner = b;
            continue;
        }
        cJSON_Delete(last_error);
        last_error = b->resp != NULL ? cJSON_Duplicate(response_error(b->resp), 1)
                                     : exception_error(b->err.msg);
    }
    if (winner != NULL) {
        o.response = winner->resp;
        winner->resp = NULL;
        o.decision = decision_new(winner->agent->name, x->intent, "parallel first success");
    } else {
        o.response = response_exhausted(last_error, "parallel", x->trace_id);
        o.decision = decision_new("parallel", x->intent, "routing failed");
    }
    for (size_t i = 0; i < x->n; i++) {
        cJSON_Delete(br[i].resp);
        cJSON_Delete(br[i].view.env);
        sink_free(&br[i].sink);
    }
    cJSON_Delete(last_error);
    pthread_cond_destroy(&q.cond);
    pthread_mutex_destroy(&q.lock);
    free(q.order);
    free(br);
    return o;
}

static struct outcome
dispatch(struct exec *x)
{
    enum strategy s = envelope_strategy(x->env);
    if (x->n == 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "No agents registered for intent '%s'", x->intent);
        return fail_router(x, ERR_CAPABILITY_NOT_FOUND, msg, NULL, "router");
    }
    switch (s) {
    case STRATEGY_DIRECT:
        return run_direct(x);
    case STRATEGY_BROADCAST:
        return run_broadcast(x);
    case STRATEGY_PARALLEL:
        if (x->router->require_determinism) {
            cJSON *details = cJSON_CreateObject();
            if (details != NULL) {
                cJSON_AddStringToObject(details, "strategy", "PARALLEL");
                cJSON_AddBoolToObject(details, "require_determinism", true);
                cJSON_AddStringToObject(details, "remediation",
                                        "Use require_determinism=False or change strategy");
            }
            return fail_router(x, ERR_VALIDATION_ERROR, parallel_refusal, details, "router");
        }
        return run_parallel(x);
    default:
        return run_fallback(x, s);
    }
}

/* The WAL's commit point: execution.started, with the record's id (or a
 * fresh one when nothing is recorded) and the record's envelope hash.
 * When it cannot be written the execution is refused, never run unlogged.
 * -1 only when memory ran out. */
static int
wal_begin(struct router *r, struct exec *x)
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
        snprintf(id, sizeof(id), "%s", recorder_id(x->rec));
        const cJSON *header = cJSON_GetObjectItemCaseSensitive(recorder_record(x->rec), "header");
        eh = json_get_string(header, "envelopeHash");
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
static void
wal_end(struct router *r, struct exec *x, const cJSON *response, struct route_result *out)
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
static struct outcome
wal_refusal(struct exec *x)
{
    char msg[400];

    snprintf(msg, sizeof(msg), "write-ahead log unavailable, execution not started: %s",
             x->wal_err.msg);
    return fail_router(x, ERR_ROUTING_ERROR, msg, NULL, "router");
}

/* A WAL write failed after the commit point: whatever the agents answered,
 * the execution ends with an error naming the WAL (no further step was
 * started). Takes o. */
static struct outcome
wal_stopped(struct exec *x, struct outcome o)
{
    char msg[400];

    cJSON_Delete(o.response);
    cJSON_Delete(o.decision);
    snprintf(msg, sizeof(msg), "write-ahead log write failed, no further step started: %s",
             x->wal->err.msg);
    return fail_router(x, ERR_ROUTING_ERROR, msg, NULL, "router");
}

/* Steps 1-2 of the reference's pipeline: normalise, start the record,
 * INTENT_RECEIVED. */
static int
begin(struct router *r, cJSON *env, struct exec *x, struct route_result *out)
{
    cJSON *received;

    memset(out, 0, sizeof(*out));
    if (envelope_normalize(env) != 0)
        return -1;
    x->router = r;
    x->env = env;
    x->intent = envelope_intent_name(env);
    x->trace_id = envelope_trace_id(env);
    x->direct = (struct sink){ .x = x, .buffered = false };
    x->deadline_ms = router_deadline_ms(r, env);
    if (x->deadline_ms > 0)
        x->deadline_us = clock_mono_us() + x->deadline_ms * 1000;
    count(r, &r->counters->routed);
    if (r->sample && !r->sample_errors &&
        !router_sample_in(
            json_get_string(cJSON_GetObjectItemCaseSensitive(env, "metadata"), "requestId"),
            r->sample_rate)) {
        /* Out whatever happens: do not even build the record. */
        out->sampled_out = true;
        count(r, &r->counters->sampled_out);
    } else if (r->store != NULL || r->writer != NULL) {
        x->rec = recorder_new(env, &out->record_err);
        if (x->rec == NULL && out->record_err.code == IERR_NOMEM)
            return -1;
        if (x->rec != NULL && x->parent != NULL && subintent_mark_record(x->rec, x->parent) != 0)
            x->failed = 1;
    }
    /* Before anything runs: the secrets of the envelope as received, to be
     * masked in whatever the record and the WAL later hold. */
    if (redactor_enabled(r->redactor) && (x->rec != NULL || r->wal != NULL) &&
        (x->redact = redact_ctx_new(r->redactor, env, &out->record_err)) == NULL) {
        recorder_free(x->rec);
        x->rec = NULL;
        return -1;
    }
    received = cJSON_CreateObject();
    if (received != NULL) {
        cJSON_AddStringToObject(received, "traceId", x->trace_id);
        cJSON_AddStringToObject(received, "intent", x->intent);
        cJSON_AddStringToObject(received, "config_hash", r->config_hash);
        cJSON_AddBoolToObject(received, "require_determinism", r->require_determinism);
    }
    event(x, "INTENT_RECEIVED", received);
    return wal_begin(r, x);
}

/* Redact, then hand to the writer or the store. A record that cannot be
 * redacted is not written at all: never persist what should be hidden. */
static void
save(struct router *r, struct exec *x, struct route_result *out)
{
    cJSON *tree = recorder_take(x->rec);
    int rc;

    if (redactor_enabled(r->redactor) &&
        redact_ctx_record(x->redact, tree, NULL, &out->record_err) != 0) {
        cJSON_Delete(tree);
        count(r, &r->counters->record_errors);
        return;
    }
    if (r->writer != NULL) {
        rc = writer_submit_tracked(r->writer, tree, &out->record_fate, &out->record_err);
    } else {
        rc = rec_store_save(r->store, tree, &out->record_err);
        cJSON_Delete(tree);
    }
    if (rc == 0) {
        out->recorded = true;
        count(r, &r->counters->recorded);
    } else if (out->record_err.code == IERR_LIMIT && r->writer != NULL &&
               writer_mode(r->writer) == WRITER_ASYNC) { /* the queue was full */
        count(r, &r->counters->dropped);
    } else {
        count(r, &r->counters->record_errors);
    }
}

/* The retries of an execution: attempts numbered past 1, in every branch. */
static int
count_retries(const cJSON *record)
{
    const cJSON *ev;
    int n = 0;

    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(record, "events"))
    {
        const char *type = json_get_string(ev, "type");
        const cJSON *at = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(ev, "payload"), "attempt");
        if (type != NULL && strcmp(type, "AGENT_ATTEMPT_START") == 0 && cJSON_IsNumber(at) &&
            at->valuedouble > 1)
            n++;
    }
    return n;
}

/* The record's routingMetadata {retries}: the real count. The stored
 * envelope keeps its routingMetadata as received (its hash is the header's
 * and the WAL's envelope_hash), so the count is a top-level extra key. */
static int
record_routing_metadata(struct recorder *rec)
{
    cJSON *rm = cJSON_CreateObject();

    if (rm == NULL || cJSON_AddNumberToObject(
                          rm, "retries", (double)count_retries(recorder_record(rec))) == NULL) {
        cJSON_Delete(rm);
        return -1;
    }
    return recorder_set_key(rec, "routingMetadata", rm);
}

/* Decision, final response, save. Takes the outcome. */
static int
finish(struct router *r, struct exec *x, struct outcome o, struct route_result *out)
{
    bool keep;

    if (o.response == NULL) {
        cJSON_Delete(o.decision);
        recorder_free(x->rec);
        wal_end(r, x, NULL, out);
        redact_ctx_free(x->redact);
        return -1;
    }
    if (o.decision != NULL && x->rec != NULL && recorder_decision(x->rec, o.decision) != 0)
        x->failed = 1;
    cJSON_Delete(o.decision);
    if (x->attempts != NULL)
        out->attempts = atomic_load(x->attempts);
    if (x->rec != NULL && recorder_final(x->rec, o.response) != 0)
        x->failed = 1;
    if (x->rec != NULL && record_routing_metadata(x->rec) != 0)
        x->failed = 1;
    out->response = o.response;
    if (x->rec == NULL) {
        wal_end(r, x, o.response, out);
        redact_ctx_free(x->redact);
        return 0;
    }
    /* Errors and refusals are kept whatever the rate (sample_errors). */
    keep = !r->sample ||
           router_sample_in(
               json_get_string(cJSON_GetObjectItemCaseSensitive(x->env, "metadata"), "requestId"),
               r->sample_rate) ||
           (r->sample_errors && response_is_error(o.response));
    if (x->failed) {
        snprintf(out->execution_id, sizeof(out->execution_id), "%s", recorder_id(x->rec));
        err_set(&out->record_err, IERR_NOMEM, "out of memory while recording");
        count(r, &r->counters->record_errors);
    } else if (!keep) {
        out->sampled_out = true;
        count(r, &r->counters->sampled_out);
    } else {
        snprintf(out->execution_id, sizeof(out->execution_id), "%s", recorder_id(x->rec));
        save(r, x, out);
    }
    recorder_free(x->rec);
    wal_end(r, x, o.response, out);
    redact_ctx_free(x->redact);
    return 0;
}

/* NOLINTBEGIN(misc-no-recursion): bounded by its limit argument. */
/* Nesting depth of v (a scalar is 0, {} is 1), not counted past limit. */
static int
depth_of(const cJSON *v, int limit)
{
    const cJSON *c;
    int best = 0;

    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return 0;
    if (limit <= 0)
        return 1;
    cJSON_ArrayForEach(c, v)
    {
        int d = depth_of(c, limit - 1);
        if (d > best)
            best = d;
        if (best >= limit)
            break;
    }
    return best + 1;
}
/* NOLINTEND(misc-no-recursion) */

/* recording.max_payload_bytes and max_depth: checked before anything runs.
 * A router that records also caps the payload at what a record file can
 * hold (REC_STORE_MAX_PAYLOAD), whatever the configured limit. */
static bool
payload_over_limit(const struct router *r, const cJSON *env, char *msg, size_t size)
{
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(env, "payload");
    struct buf b = BUF_INIT;
    uint64_t limit = r->max_payload_bytes;
    bool over = false, capped = false;
    if (r->max_depth > 0 && depth_of(payload, r->max_depth + 1) > r->max_depth) {
        snprintf(msg, size, "payload nesting depth exceeds the limit of %d", r->max_depth);
        return true;
    }
    if ((r->store != NULL || r->writer != NULL) && (limit == 0 || limit > REC_STORE_MAX_PAYLOAD)) {
        limit = REC_STORE_MAX_PAYLOAD;
        capped = true;
    }
    if (limit == 0)
        return false;
    if (json_print_compact(payload, &b) != 0) {
        snprintf(msg, size, "payload could not be measured (out of memory)");
        return true;
    }
    if (b.len > limit) {
        if (capped)
            snprintf(msg, size,
                     "payload of %zu bytes exceeds the %llu bytes a record can hold (record "
                     "files are limited to %zu MiB)",
                     b.len, (unsigned long long)limit, REC_STORE_MAX_FILE >> 20);
        else
            snprintf(msg, size, "payload of %zu bytes exceeds the limit of %llu bytes", b.len,
                     (unsigned long long)limit);
        over = true;
    }
    buf_free(&b);
    return over;
}

/* What a record (and a WAL) needs of the envelope: its canonical hash. A
 * number out of range (1e999999) has none; found before anything runs. */
static bool
envelope_unhashable(const struct router *r, const cJSON *env, char *msg, size_t size)
{
    struct intentus_err err = { 0 };
    char hash[65];

    if (r->store == NULL && r->writer == NULL && r->wal == NULL)
        return false;
    /* Sampled out whatever happens (begin() builds no record) and no WAL:
     * nothing will need the hash, so do not compute it (it was half the
     * cost of such a route). */
    if (r->wal == NULL && r->sample && !r->sample_errors &&
        !router_sample_in(
            json_get_string(cJSON_GetObjectItemCaseSensitive(env, "metadata"), "requestId"),
            r->sample_rate))
        return false;
    if (json_canonical_sha256(env, hash, &err) == 0 || err.code == IERR_NOMEM)
        return false; /* out of memory is found again, and reported, as it runs */
    snprintf(msg, size, "envelope cannot be hashed for its record: %s", err.msg);
    return true;
}

/* A payload over the limits, or one its record could not hold, never
 * reaches an agent, and is not stored either (that is what the limit
 * protects): the record holds a stand-in payload, and
 * header.originalEnvelopeHash the hash of what was sent when it has one. */
static int
refuse_payload(struct router *r, cJSON *env, enum error_code code, const char *msg,
               struct route_result *out)
{
    cJSON *payload = cJSON_GetObjectItemCaseSensitive(env, "payload");
    cJSON *stand_in = cJSON_CreateObject(), *keep;
    struct exec x = { 0 };
    char orig[65];
    bool hashed;
    int rc;

    if (stand_in == NULL || cJSON_AddStringToObject(stand_in, "omitted", msg) == NULL ||
        envelope_normalize(env) != 0) {
        cJSON_Delete(stand_in);
        return -1;
    }
    hashed = depth_of(payload, 200) < 200 && json_canonical_sha256(env, orig, NULL) == 0;
    /* Swap contents so the envelope keeps its key order. */
    keep = payload->child;
    payload->child = stand_in->child;
    stand_in->child = keep;
    rc = begin(r, env, &x, out);
    keep = payload->child;
    payload->child = stand_in->child;
    stand_in->child = keep;
    cJSON_Delete(stand_in);
    if (rc != 0)
        return -1;
    if (x.rec != NULL && hashed &&
        recorder_set_header(x.rec, "originalEnvelopeHash", cJSON_CreateString(orig)) != 0)
        x.failed = 1;
    return finish(r, &x, fail_router(&x, code, msg, NULL, "router"), out);
}

/* The policy context from the envelope: subject = metadata.source, tenant
 * and roles from context.tags ("tenant:<id>", "role:<name>"). */
static void
policy_context(const struct exec *x, struct policy_ctx *c, const char **roles, size_t max)
{
    const cJSON *tags = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(x->env, "context"), "tags");
    const cJSON *t;

    memset(c, 0, sizeof(*c));
    c->subject = json_get_string(cJSON_GetObjectItemCaseSensitive(x->env, "metadata"), "source");
    c->intent = x->intent;
    c->intent_version = envelope_intent_version(x->env);
    c->agent = envelope_target_agent(x->env);
    if (c->agent == NULL && x->n > 0)
        c->agent = x->cands[0]->name;
    c->payload = cJSON_GetObjectItemCaseSensitive(x->env, "payload");
    c->roles = roles;
    cJSON_ArrayForEach(t, tags)
    {
        if (!cJSON_IsString(t))
            continue;
        if (c->tenant == NULL && strncmp(t->valuestring, "tenant:", 7) == 0)
            c->tenant = t->valuestring + 7;
        else if (c->n_roles < max && strncmp(t->valuestring, "role:", 5) == 0)
            roles[c->n_roles++] = t->valuestring + 5;
    }
}

/* Evaluate the policy once, before any agent runs. Returns true when the
 * execution is refused (o set). Records POLICY_DECISION whenever a policy
 * is configured, so every decision is auditable. */
static bool
apply_policy(struct exec *x, struct outcome *o)
{
    struct router *r = x->router;
    const char *roles[32];
    struct policy_ctx c;
    struct policy_decision d;
    bool limited = false;
    cJSON *p, *details;
    if (r->policy == NULL)
        return false;
    policy_context(x, &c, roles, sizeof(roles) / sizeof(roles[0]));
    policy_evaluate(r->policy, &c, &d);
    p = policy_decision_json(&d);
    if (d.allowed && d.has_key && d.has_rate) {
        limited = !ratelimit_check(r->limiter, d.rate_limit_key, d.rate_limit_per_minute);
        if (p != NULL)
            cJSON_AddBoolToObject(p, "rate_limited", limited);
    }
    event(x, "POLICY_DECISION", p);
    if (!d.allowed) {
        details = cJSON_CreateObject();
        if (details != NULL && d.matched_rule[0] != '\0')
            cJSON_AddStringToObject(details, "matched_rule", d.matched_rule);
        *o = fail_router(x, ERR_UNAUTHORIZED, d.reason, details, "router");
        return true;
    }
    if (limited) {
        char msg[700];
        snprintf(msg, sizeof(msg), "Rate limit exceeded: %ld per minute for key '%s'",
                 d.rate_limit_per_minute, d.rate_limit_key);
        details = cJSON_CreateObject();
        if (details != NULL) {
            cJSON_AddStringToObject(details, "rate_limit_key", d.rate_limit_key);
            cJSON_AddNumberToObject(details, "rate_limit_per_minute",
                                    (double)d.rate_limit_per_minute);
        }
        o->decision = NULL;
        o->response = response_router_error(error_info_new(ERR_RATE_LIMIT, msg, true, details),
                                            "router", x->trace_id);
        return true;
    }
    if (d.has_timeout && d.max_timeout_ms > 0) {
        int64_t cap = clock_mono_us() + (int64_t)d.max_timeout_ms * 1000;
        if (x->deadline_us == 0 || cap < x->deadline_us) {
            x->deadline_us = cap;
            x->deadline_ms = (int64_t)d.max_timeout_ms;
        }
    }
    return false;
}

static int
route_exec(struct router *r, cJSON *env, struct agent_cache *cache,
           const struct subintent_parent *parent, struct route_result *out)
{
    struct exec x = { .parent = parent };
    struct outcome o;
    char msg[400];
    atomic_int attempts = 0;

    if (payload_over_limit(r, env, msg, sizeof(msg)))
        return refuse_payload(r, env, ERR_PAYLOAD_TOO_LARGE, msg, out);
    if (envelope_unhashable(r, env, msg, sizeof(msg)))
        return refuse_payload(r, env, ERR_VALIDATION_ERROR, msg, out);
    if (begin(r, env, &x, out) != 0)
        return -1;
    x.attempts = &attempts;
    x.cache = cache;
    x.cands = malloc((registry_count(r->reg) + 1) * sizeof(*x.cands));
    if (x.cands == NULL) {
        recorder_free(x.rec);
        wal_end(r, &x, NULL, out);
        redact_ctx_free(x.redact);
        return -1;
    }
    x.n = registry_candidates(r->reg, x.intent, envelope_intent_version(env), x.cands);
    if (x.wal_refused)
        o = wal_refusal(&x);
    else if (!apply_policy(&x, &o))
        o = dispatch(&x);
    if (x.wal != NULL && wal_run_stopped(x.wal))
        o = wal_stopped(&x, o);
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

    if (begin(r, env, &x, out) != 0) {
        cJSON_Delete(details);
        return -1;
    }
    return finish(r, &x, fail_router(&x, code, message, details, "router"), out);
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
    struct outcome o;

    if (begin(r, env, &x, out) != 0)
        return -1;
    o = fail_router(&x, code, message, NULL, "router");
    return finish(r, &x, o, out);
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

void
route_result_free(struct route_result *res)
{
    if (res == NULL)
        return;
    cJSON_Delete(res->response);
    res->response = NULL;
    writer_fate_release(res->record_fate);
    res->record_fate = NULL;
}
