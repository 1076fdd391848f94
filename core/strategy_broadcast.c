/* BROADCAST: every candidate in order; the last success wins. */
#include "core/json.h"
#include "core/strategy.h"

static struct outcome
run_broadcast(struct exec *x, enum strategy asked)
{
    struct outcome o = { 0 };
    cJSON *last_error = NULL, *best = NULL;
    struct agent *best_agent = NULL;

    (void)asked;
    for (size_t i = 0; i < x->n; i++) {
        struct agent *a = x->cands[i];
        struct intentus_err err = { 0 };
        enum skip skipped;
        cJSON *resp;
        if (router_deadline_passed(x)) {
            error_info_recycle(last_error);
            last_error = router_deadline_error(x);
            break;
        }
        resp = router_attempt(x, &x->direct, a, STRATEGY_BROADCAST, -1, &skipped, &err);
        if (skipped) {
            if (last_error == NULL)
                last_error = router_open_error(a, skipped);
            continue;
        }
        if (resp != NULL && !response_is_error(resp)) {
            cJSON_Delete(best);
            best = resp;
            best_agent = a;
            continue;
        }
        error_info_recycle(last_error);
        /* The error moves out of the response it ends with (no copy). */
        last_error = resp != NULL ? json_detach(resp, "error") : router_exception_error(err.msg);
        response_recycle(resp); /* its shell serves the next failure */
    }
    if (best != NULL) {
        o.response = best;
        router_decide(x, &o, best_agent->name, "broadcast last success");
    } else {
        o.response = response_exhausted(last_error, "broadcast", x->trace_id);
        router_decide(x, &o, "broadcast", "routing failed");
    }
    error_info_recycle(last_error);
    return o;
}

const struct strategy_ops strategy_broadcast_ops = {
    .name = "BROADCAST",
    .id = STRATEGY_BROADCAST,
    .run = run_broadcast,
};
