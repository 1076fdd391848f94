#include "core/strategy.h"

/* Indexed by enum strategy (model.h's MODEL_STRATEGIES order). */
static const struct strategy_ops *const strategies[STRATEGY_COUNT] = {
    [STRATEGY_DIRECT] = &strategy_direct_ops,
    [STRATEGY_FALLBACK] = &strategy_fallback_ops,
    [STRATEGY_BROADCAST] = &strategy_broadcast_ops,
    [STRATEGY_PARALLEL] = &strategy_parallel_ops,
};

const struct strategy_ops *
strategy_find(enum strategy s)
{
    if ((unsigned)s < STRATEGY_COUNT && strategies[s] != NULL)
        return strategies[s];
    return &strategy_fallback_ops;
}
