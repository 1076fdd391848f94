#include "core/router.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/record.h"

struct router {
    struct registry *reg;
    bool require_determinism;
    struct rec_store *store;
    char config_hash[65];
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
    int failed; /* out of memory while recording: reported by router_route */
};

/* The outcome a strategy hands back. */
struct outcome {
    cJSON *response;
    cJSON *decision;  /* NULL on the "exception" path: no ROUTER_DECISION */
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
    r->store = opts != NULL ? opts->store : NULL;
    /* The reference computes this before agents register (always the empty
     * hash); intentus hashes the registry it actually routes with. */
    if (registry_config_hash(reg, r->require_determinism, r->config_hash, err) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

void
router_free(struct router *r)
{
    free(r);
}

const char *
router_config_hash(const struct router *r)
{
    return r->config_hash;
}

static void
event(struct exec *x, const char *type, cJSON *payload)
{
    if (x->rec == NULL) {
        cJSON_Delete(payload);
        return;
    }
    if (recorder_event(x->rec, type, payload) != 0)
        x->failed = 1;
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
attempt_start(const char *agent, enum strategy s, long index)
{
    cJSON *p = obj2("agent", cJSON_CreateString(agent), "strategy",
                    cJSON_CreateString(model_strategy_event(s)));

    if (p != NULL && index >= 0 && cJSON_AddNumberToObject(p, "index", (double)index) == NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
}

static cJSON *
attempt_end(const char *agent, bool ok, const char *exception)
{
    cJSON *p = obj2("agent", cJSON_CreateString(agent), "status",
                    cJSON_CreateString(ok ? "ok" : "error"));

    if (p != NULL && exception != NULL &&
        cJSON_AddStringToObject(p, "exception", exception) == NULL) {
        cJSON_Delete(p);
        return NULL;
    }
    return p;
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

    o.response = response_router_error(error_info_new(code, msg, false, details), agent,
                                       x->trace_id);
    return o;
}

static struct outcome
run_direct(struct exec *x)
{
    const char *target = envelope_target_agent(x->env);
    struct agent *a = NULL;
    struct intentus_err err = { 0 };
    struct outcome o = { NULL, NULL };
    char msg[512];
    bool ok;

    if (target != NULL) {
        for (size_t i = 0; i < x->n && a == NULL; i++) {
            if (strcmp(x->cands[i]->name, target) == 0)
                a = x->cands[i];
        }
        if (a == NULL) {
            snprintf(msg, sizeof(msg), "Target agent '%s' not registered for intent '%s'",
                     target, x->intent);
            return fail_router(x, ERR_ROUTING_ERROR, msg, NULL, "router");
        }
    } else {
        a = x->cands[0];
    }
    event(x, "AGENT_ATTEMPT_START", attempt_start(a->name, STRATEGY_DIRECT, -1));
    o.response = agent_call(a, x->env, NULL, &err);
    if (o.response == NULL) /* no END event on this path, as in the reference */
        return fail_router(x, ERR_ROUTING_ERROR, err.msg, NULL, a->name);
    ok = !response_is_error(o.response);
    event(x, "AGENT_ATTEMPT_END", attempt_end(a->name, ok, NULL));
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
        if (!cJSON_IsString(it))
            continue;
        for (size_t i = 0; i < x->n && a == NULL; i++) {
            if (strcmp(x->cands[i]->name, it->valuestring) == 0)
                a = x->cands[i];
        }
        for (size_t i = 0; a != NULL && i < n; i++)
            dup = dup || chain[i] == a;
        if (a == NULL || dup) {
            cJSON *p = obj2("agent", cJSON_CreateString(it->valuestring), "reason",
                            cJSON_CreateString(a == NULL ? (registry_find(x->router->reg,
                                                                          it->valuestring)
                                                                ? "not capable of this intent"
                                                                : "not registered")
                                                         : "listed twice"));
            if (p != NULL)
                cJSON_AddStringToObject(p, "strategy", "FALLBACK");
            event(x, "AGENT_SKIPPED", p);
            continue;
        }
        chain[n++] = a;
    }
    return n;
}

static struct outcome
run_fallback(struct exec *x, enum strategy s)
{
    struct agent **chain = malloc(x->n * sizeof(*chain));
    struct outcome o = { NULL, NULL };
    cJSON *last_error = NULL;
    char msg[512];
    size_t n;

    if (chain == NULL) {
        x->failed = 1;
        return o;
    }
    n = fallback_chain(x, chain);
    if (n == 0) {
        free(chain);
        snprintf(msg, sizeof(msg),
                 "None of routing.fallbackAgents is registered for intent '%s'", x->intent);
        return fail_router(x, ERR_ROUTING_ERROR, msg, NULL, "router");
    }
    for (size_t i = 0; i < n; i++) {
        struct agent *a = chain[i];
        struct intentus_err err = { 0 };
        cJSON *resp;
        event(x, "AGENT_ATTEMPT_START", attempt_start(a->name, STRATEGY_FALLBACK, (long)i));
        resp = agent_call(a, x->env, NULL, &err);
        if (resp != NULL && !response_is_error(resp)) {
            char reason[64];
            event(x, "AGENT_ATTEMPT_END", attempt_end(a->name, true, NULL));
            if (s == STRATEGY_UNKNOWN)
                snprintf(reason, sizeof(reason), "success");
            else
                snprintf(reason, sizeof(reason), "fallback success at index %zu", i);
            o.response = resp;
            o.decision = decision_new(a->name, x->intent, reason);
            break;
        }
        cJSON_Delete(last_error);
        if (resp == NULL) {
            event(x, "AGENT_ATTEMPT_END", attempt_end(a->name, false, err.msg));
            last_error = exception_error(err.msg);
        } else {
            event(x, "AGENT_ATTEMPT_END", attempt_end(a->name, false, NULL));
            last_error = cJSON_Duplicate(response_error(resp), 1);
            cJSON_Delete(resp);
        }
        if (i + 1 < n)
            event(x, "FALLBACK_TRIGGERED", obj2("from", cJSON_CreateString(a->name), "to",
                                                cJSON_CreateString(chain[i + 1]->name)));
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
        cJSON *resp;
        bool ok;
        event(x, "AGENT_ATTEMPT_START", attempt_start(a->name, STRATEGY_BROADCAST, -1));
        resp = agent_call(a, x->env, NULL, &err);
        ok = resp != NULL && !response_is_error(resp);
        event(x, "AGENT_ATTEMPT_END", attempt_end(a->name, ok, NULL));
        if (ok) {
            cJSON_Delete(best);
            best = resp;
            best_agent = a;
            continue;
        }
        cJSON_Delete(last_error);
        last_error = resp != NULL ? cJSON_Duplicate(response_error(resp), 1)
                                  : exception_error(err.msg);
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
    struct agent *agent;
    cJSON *env;
    cJSON *resp;
    struct intentus_err err;
    int64_t start_us, end_us;
    pthread_t thread;
    bool started;
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

    b->start_us = clock_mono_us();
    b->resp = agent_call(b->agent, b->env, NULL, &b->err);
    b->end_us = clock_mono_us();
    pthread_mutex_lock(&q->lock);
    q->order[q->done++] = b->index;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void
record_branch(struct exec *x, struct branch *b, bool ok)
{
    const char *exception = b->resp == NULL ? b->err.msg : NULL;

    if (x->rec == NULL)
        return;
    if (recorder_event_at(x->rec, "AGENT_ATTEMPT_START",
                          attempt_start(b->agent->name, STRATEGY_PARALLEL, -1), b->start_us) ||
        recorder_event_at(x->rec, "AGENT_ATTEMPT_END", attempt_end(b->agent->name, ok, exception),
                          b->end_us))
        x->failed = 1;
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
        b->agent = x->cands[i];
        b->index = i;
        b->q = &q;
        b->env = cJSON_Duplicate(x->env, 1);
        if (b->env == NULL) {
            err_set(&b->err, IERR_NOMEM, "out of memory copying the envelope");
        } else if (pthread_create(&b->thread, NULL, branch_main, b) == 0) {
            b->started = true;
            continue;
        } else {
            err_set(&b->err, IERR_NOMEM, "cannot start a thread for agent %s", b->agent->name);
        }
        /* A branch that could not start counts as finished with an exception. */
        pthread_mutex_lock(&q.lock);
        q.order[q.done++] = i;
        pthread_mutex_unlock(&q.lock);
    }
    while (consumed < x->n) {
        struct branch *b;
        bool ok;
        pthread_mutex_lock(&q.lock);
        while (q.done == consumed)
            pthread_cond_wait(&q.cond, &q.lock);
        b = &br[q.order[consumed++]];
        pthread_mutex_unlock(&q.lock);
        if (winner != NULL)
            continue; /* results after the winner are neither returned nor recorded */
        ok = b->resp != NULL && !response_is_error(b->resp);
        record_branch(x, b, ok);
        if (ok) {
            winner = b;
            continue;
        }
        cJSON_Delete(last_error);
        last_error = b->resp != NULL ? cJSON_Duplicate(response_error(b->resp), 1)
                                     : exception_error(b->err.msg);
    }
    for (size_t i = 0; i < x->n; i++) {
        if (br[i].started)
            pthread_join(br[i].thread, NULL);
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
        cJSON_Delete(br[i].env);
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
    char msg[512];

    if (x->n == 0) {
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

int
router_route(struct router *r, cJSON *env, struct route_result *out)
{
    struct exec x = { 0 };
    struct outcome o;
    cJSON *received;

    memset(out, 0, sizeof(*out));
    if (envelope_normalize(env) != 0)
        return -1;
    x.router = r;
    x.env = env;
    x.intent = envelope_intent_name(env);
    x.trace_id = envelope_trace_id(env);
    if (r->store != NULL) {
        x.rec = recorder_new(env, &out->record_err);
        if (x.rec == NULL && out->record_err.code == IERR_NOMEM)
            return -1;
    }
    received = cJSON_CreateObject();
    if (received != NULL) {
        cJSON_AddStringToObject(received, "traceId", x.trace_id);
        cJSON_AddStringToObject(received, "intent", x.intent);
        cJSON_AddStringToObject(received, "config_hash", r->config_hash);
        cJSON_AddBoolToObject(received, "require_determinism", r->require_determinism);
    }
    event(&x, "INTENT_RECEIVED", received);
    x.cands = malloc((registry_count(r->reg) + 1) * sizeof(*x.cands));
    if (x.cands == NULL) {
        recorder_free(x.rec);
        return -1;
    }
    x.n = registry_candidates(r->reg, x.intent, envelope_intent_version(env), x.cands);
    o = dispatch(&x);
    free(x.cands);
    if (o.response == NULL) {
        cJSON_Delete(o.decision);
        recorder_free(x.rec);
        return -1;
    }
    if (o.decision != NULL && x.rec != NULL && recorder_decision(x.rec, o.decision) != 0)
        x.failed = 1;
    cJSON_Delete(o.decision);
    if (x.rec != NULL && recorder_final(x.rec, o.response) != 0)
        x.failed = 1;
    out->response = o.response;
    if (x.rec != NULL) {
        snprintf(out->execution_id, sizeof(out->execution_id), "%s", recorder_id(x.rec));
        if (x.failed)
            err_set(&out->record_err, IERR_NOMEM, "out of memory while recording");
        else if (rec_store_save(r->store, recorder_record(x.rec), &out->record_err) == 0)
            out->recorded = true;
        recorder_free(x.rec);
    }
    return 0;
}

void
route_result_free(struct route_result *res)
{
    if (res == NULL)
        return;
    cJSON_Delete(res->response);
    res->response = NULL;
}
