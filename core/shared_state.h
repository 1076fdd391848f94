/* State shared by many routers: rate-limit buckets and circuit-breaker
 * states kept outside the process (serve.shared_state; the PostgreSQL
 * implementation is watch/shared_pg.c), so N `intentus serve` instances
 * enforce one limit per key and agree on an open circuit.
 *
 * core/ knows only this ops table. The limiter (core/ratelimit.h) and the
 * breakers (core/breaker.h) consult it when one is attached; any op that
 * returns -1 (the shared store unreachable) leaves the decision to the
 * local state, so an outage degrades to per-instance limits and circuits
 * instead of refusing traffic. The ops must be thread-safe (workers share
 * them) and must fail fast while the store is down. */
#ifndef INTENTUS_CORE_SHARED_STATE_H
#define INTENTUS_CORE_SHARED_STATE_H

#include <stdint.h>

#include "core/breaker.h"

struct shared_state_ops {
    /* Take one token from key's shared bucket (rate_per_minute > 0, the
     * same bucket semantics as core/ratelimit.h): 1 taken, 0 refused, -1
     * unavailable. */
    int (*take_token)(void *ctx, const char *key, long rate_per_minute);
    /* The breaker called name moved to state (OPEN or CLOSED); an OPEN one
     * is open for cooldown_ms from now. 0, or -1 unavailable. */
    int (*breaker_put)(void *ctx, const char *name, enum breaker_state state, int64_t cooldown_ms);
    /* The shared state of name: 1 with *state (and, when OPEN, *open_left_ms,
     * the time left before probing, <= 0 when over), 0 when nothing is
     * known, -1 unavailable. */
    int (*breaker_get)(void *ctx, const char *name, enum breaker_state *state,
                       int64_t *open_left_ms);
};

struct shared_state {
    const struct shared_state_ops *ops;
    void *ctx;
    /* How often a breaker looks at the shared state of its circuit (ms; a
     * circuit opened elsewhere is seen here within this long). 0: 1000. */
    int64_t breaker_refresh_ms;
};

#endif
