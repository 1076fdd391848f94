/* Shared state (core/shared_state.h) in a PostgreSQL database: the rate-limit
 * buckets and circuit-breaker states of every `intentus serve` that points
 * serve.shared_state at the same database.
 *
 * Tables (created on first open): intentus_buckets(key, rate, tokens,
 * updated_us, last_ok) and intentus_breakers(name, state, open_until_us,
 * updated_us). Times are the database server's clock (clock_timestamp()),
 * so routers on machines with skewed clocks still agree.
 *
 * Consistency: taking a token is one atomic upsert on the key's row (the
 * row lock serialises routers), so N routers together never admit more
 * than one bucket's worth: the limit is exact, at the cost of one round
 * trip per rate-limited request. Circuit states are eventually consistent:
 * a transition to OPEN or CLOSED is published when it happens, and every
 * router looks at most every breaker_refresh_ms (default 1 s) per agent.
 *
 * Outages: an op that finds the connection gone returns -1 (the local state
 * decides) and reconnection is tried with backoff (100 ms doubling to 5 s);
 * while down, ops fail at once without touching the network.
 *
 * Thread-safe: one connection behind a mutex. */
#ifndef INTENTUS_WATCH_SHARED_PG_H
#define INTENTUS_WATCH_SHARED_PG_H

#include <stdint.h>

#include "core/err.h"
#include "core/shared_state.h"

struct shared_pg;

/* url: a postgres:// or postgresql:// URL (libpq URI). The database must be
 * reachable now: a misconfigured URL is reported at start, not at the first
 * request. */
struct shared_pg *shared_pg_open(const char *url, int64_t breaker_refresh_ms,
                                 struct intentus_err *err);
void shared_pg_close(struct shared_pg *sp);
/* The ops table for ratelimit_set_shared / runtime_set_shared (owned by sp). */
const struct shared_state *shared_pg_state(const struct shared_pg *sp);
/* Round trips made and failed (ops answered -1), for tests and stats. */
void shared_pg_counts(struct shared_pg *sp, uint64_t *calls, uint64_t *unavailable);

#endif
