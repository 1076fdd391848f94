/* Routing strategies, each in its own file behind one small ops table (as
 * agent kinds are): core/strategy_direct.c, _fallback.c, _broadcast.c and
 * _parallel.c. strategy_find gives the strategy an envelope asks for; an
 * unknown strategy routes as FALLBACK, as in the reference. */
#ifndef INTENTUS_CORE_STRATEGY_H
#define INTENTUS_CORE_STRATEGY_H

#include <stdbool.h>

#include "core/model.h"
#include "core/router_int.h"

struct strategy_ops {
    const char *name; /* as recorded in AGENT_ATTEMPT_START: "DIRECT" */
    enum strategy id;
    /* Refused when the router requires determinism (PARALLEL). */
    bool nondeterministic;
    /* Run the execution over x->cands (x->n > 0). The outcome's response
     * is never NULL unless memory ran out (then x->failed is set). */
    struct outcome (*run)(struct exec *x, enum strategy asked);
};

extern const struct strategy_ops strategy_direct_ops;
extern const struct strategy_ops strategy_fallback_ops;
extern const struct strategy_ops strategy_broadcast_ops;
extern const struct strategy_ops strategy_parallel_ops;

/* The ops for s; FALLBACK's for STRATEGY_UNKNOWN (never NULL). */
const struct strategy_ops *strategy_find(enum strategy s);

#endif
