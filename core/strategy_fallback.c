/* FALLBACK: the candidates (or routing.fallbackAgents) in order until one
 * succeeds. An unknown strategy routes this way too (reason "success"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/strategy.h"

/* The chain: the candidates, or (extension) the envelope's fallbackAgents
 * in their order, restricted to capable agents. Names that cannot take the
 * intent are recorded as skipped. */
static size_t
fallback_chain(struct exec *x, struct agent **chain)
{
    const cJSON *names = envelope_view_fallback_agents(&x->ev), *it;
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
        ev_agent_skipped(x, it->valuestring, why);
    }
    return n;
}

/* After agent i of n failed with last_error: FALLBACK_TRIGGERED to the
 * next one, and the WAL told either way. */
static void
fell_through(struct exec *x, struct agent **chain, size_t i, size_t n, const cJSON *last_error)
{
    const char *why = json_get_string(last_error, "message");

    if (i + 1 < n) {
        ev_fallback_triggered(x, chain[i]->name, chain[i + 1]->name);
        if (x->wal != NULL)
            wal_run_fallback(x->wal, chain[i]->name, chain[i + 1]->name, why);
    } else if (x->wal != NULL) {
        wal_run_exhausted(x->wal, chain[i]->name, why);
    }
}

/* "fallback success at index I" into out (64 bytes): snprintf cost 700
 * instructions of every FALLBACK route that succeeded (callgrind). */
static const char *
success_reason(char out[64], size_t i)
{
    static const char prefix[] = "fallback success at index ";
    char digits[24], *d = text_put_u64(digits + sizeof(digits), i);
    size_t n = (size_t)(digits + sizeof(digits) - d);

    memcpy(out, prefix, sizeof(prefix) - 1);
    memcpy(out + sizeof(prefix) - 1, d, n);
    out[sizeof(prefix) - 1 + n] = '\0';
    return out;
}

static struct outcome
run_fallback(struct exec *x, enum strategy asked)
{
    struct agent *stack[16], **chain = stack;
    struct outcome o = { 0 };
    cJSON *last_error = NULL;
    size_t n;

    if (x->n + 1 > sizeof(stack) / sizeof(stack[0]) &&
        (chain = malloc((x->n + 1) * sizeof(*chain))) == NULL) {
        x->failed = 1;
        return o;
    }
    n = fallback_chain(x, chain);
    if (n == 0) {
        char msg[512];
        if (chain != stack)
            free(chain);
        snprintf(msg, sizeof(msg), "None of routing.fallbackAgents is registered for intent '%s'",
                 x->intent);
        return router_fail(x, ERR_ROUTING_ERROR, msg, NULL, "router");
    }
    for (size_t i = 0; i < n; i++) {
        struct agent *a = chain[i];
        struct intentus_err err = { 0 };
        enum skip skipped;
        cJSON *resp;
        if (router_deadline_passed(x)) {
            error_info_recycle(last_error);
            last_error = router_deadline_error(x);
            break;
        }
        resp = router_attempt(x, &x->direct, a, STRATEGY_FALLBACK, (long)i, &skipped, &err);
        if (skipped) {
            if (last_error == NULL)
                last_error = router_open_error(a, skipped);
            continue;
        }
        if (resp != NULL && !response_is_error(resp)) {
            char reason[64];
            o.response = resp;
            router_decide(x, &o, a->name,
                          asked == STRATEGY_UNKNOWN ? "success" : success_reason(reason, i));
            break;
        }
        error_info_recycle(last_error);
        /* The error moves out of the response it ends with (no copy). */
        last_error = resp != NULL ? json_detach(resp, "error") : router_exception_error(err.msg);
        response_recycle(resp); /* its shell serves the next failure */
        fell_through(x, chain, i, n, last_error);
    }
    if (o.response == NULL) {
        o.response = response_exhausted(last_error, "fallback", x->trace_id);
        router_decide(x, &o, "fallback", "routing failed");
    }
    error_info_recycle(last_error);
    if (chain != stack)
        free(chain);
    return o;
}

const struct strategy_ops strategy_fallback_ops = {
    .name = "FALLBACK",
    .id = STRATEGY_FALLBACK,
    .run = run_fallback,
};
