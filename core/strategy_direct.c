/* DIRECT: the target agent (routing.targetAgent) or the first candidate,
 * once; nowhere else to go when it fails. */
#include <stdio.h>
#include <string.h>

#include "core/strategy.h"

static struct outcome
run_direct(struct exec *x, enum strategy asked)
{
    const char *target = envelope_view_target_agent(&x->ev);
    struct agent *a = NULL;
    struct intentus_err err = { 0 };
    struct outcome o = { 0 };
    enum skip skipped;
    bool ok;

    (void)asked;
    if (target != NULL) {
        for (size_t i = 0; i < x->n && a == NULL; i++) {
            if (strcmp(x->cands[i]->name, target) == 0)
                a = x->cands[i];
        }
        if (a == NULL) {
            char msg[512];
            snprintf(msg, sizeof(msg), "Target agent '%s' not registered for intent '%s'", target,
                     x->intent);
            return router_fail(x, ERR_ROUTING_ERROR, msg, NULL, "router");
        }
    } else {
        a = x->cands[0];
    }
    o.response = router_attempt(x, &x->direct, a, STRATEGY_DIRECT, -1, &skipped, &err);
    if (skipped) {
        /* Fail fast: DIRECT has nowhere else to go. */
        o.response = response_router_error(router_open_error(a, skipped), a->name, x->trace_id);
        return o;
    }
    if (o.response == NULL) /* no END event on this path, as in the reference */
        return router_fail(x, ERR_ROUTING_ERROR, err.msg, NULL, a->name);
    ok = !response_is_error(o.response);
    router_decide(x, &o, a->name, ok ? "direct match" : "routing failed");
    return o;
}

const struct strategy_ops strategy_direct_ops = {
    .name = "DIRECT",
    .id = STRATEGY_DIRECT,
    .run = run_direct,
};
