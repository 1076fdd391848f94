/* Token buckets keyed by text (reference §4.5): a bucket holds up to
 * rate_per_minute tokens, is created full on first use and refills
 * continuously at rate/60 tokens a second; a request takes one token or is
 * refused without taking any.
 *
 * Unlike the reference: a monotonic clock (injectable, so tests never
 * sleep), a mutex (workers share the limiter), and bounded memory. A bucket
 * that has been idle long enough to be full again is indistinguishable from
 * a new one, so evicting it changes no decision; only when max_keys buckets
 * are all still refilling is the least recently used one dropped. */
#ifndef INTENTUS_CORE_RATELIMIT_H
#define INTENTUS_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t (*ratelimit_clock_fn)(void *ctx); /* monotonic microseconds */

struct ratelimit_opts {
    size_t max_keys;          /* 0: 100000 */
    ratelimit_clock_fn clock; /* NULL: clock_mono_us */
    void *clock_ctx;
};

struct ratelimit;

struct ratelimit *ratelimit_new(const struct ratelimit_opts *opts);
void ratelimit_free(struct ratelimit *rl);
/* Take one token from key's bucket. rate_per_minute <= 0 refuses (as the
 * reference does); a rate that differs from the bucket's last one becomes its
 * capacity from now on. Returns true when allowed. */
bool ratelimit_check(struct ratelimit *rl, const char *key, long rate_per_minute);
/* Decide with the buckets of ss (core/shared_state.h, borrowed, must
 * outlive rl; NULL: local buckets only) from now on; whenever ss is
 * unavailable, the local bucket decides. */
struct shared_state;
void ratelimit_set_shared(struct ratelimit *rl, const struct shared_state *ss);
/* Buckets currently held (for tests and the dashboard). */
size_t ratelimit_size(struct ratelimit *rl);

#endif
