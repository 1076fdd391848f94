/* A circuit breaker per agent. CLOSED -> OPEN after N consecutive failures or
 * a failure rate over the last M calls; OPEN -> HALF_OPEN when the cool-down
 * has passed; HALF_OPEN lets a few probes through and closes after that many
 * successes, or re-opens on any failure. Thread-safe: workers share it.
 *
 * Every transition is reported to the caller (struct breaker_change) so the
 * router can record it as a CIRCUIT_STATE_CHANGE event: a watcher that only
 * reads records can then show circuit state. */
#ifndef INTENTUS_CORE_BREAKER_H
#define INTENTUS_CORE_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct breaker_policy {
    bool enabled;
    int failure_threshold; /* consecutive failures that open it; 0 = rule off */
    int window;            /* calls in the sliding window (max 1024) */
    double failure_rate;   /* 0 < rate <= 1 opens over a full window; 0 = rule off */
    int64_t cooldown_ms;   /* OPEN for this long before probing */
    int half_open_probes;  /* successes needed to close; probes let through at once */
};

#define BREAKER_POLICY_DEFAULT                                                                     \
    {                                                                                              \
        .enabled = true, .failure_threshold = 5, .window = 20, .failure_rate = 0.5,                \
        .cooldown_ms = 30000, .half_open_probes = 1                                                \
    }

struct breaker_change {
    bool changed;
    enum breaker_state from, to;
    char reason[128];
};

struct breaker_stats {
    enum breaker_state state;
    uint64_t calls, successes, failures, rejected;
    int consecutive_failures;
    int window_calls, window_failures;
    int64_t opened_at_us;  /* monotonic; 0 when never opened */
    int64_t next_probe_us; /* monotonic time of the next probe when OPEN, else 0 */
};

struct breaker;

struct breaker *breaker_new(const struct breaker_policy *policy);
void breaker_free(struct breaker *b);
/* May a call go ahead now? false while OPEN (the call is to be skipped). An
 * OPEN breaker whose cool-down has passed becomes HALF_OPEN here and lets the
 * call through as a probe; ch reports that. */
bool breaker_allow(struct breaker *b, int64_t now_us, struct breaker_change *ch);
/* The outcome of a call that breaker_allow let through. */
void breaker_record(struct breaker *b, bool success, int64_t now_us, struct breaker_change *ch);
/* Back to CLOSED with clean counters (by hand, from the API or console). */
void breaker_reset(struct breaker *b, struct breaker_change *ch);
void breaker_snapshot(struct breaker *b, int64_t now_us, struct breaker_stats *out);
const char *breaker_state_name(enum breaker_state s);
/* Share this breaker's circuit as name through ss (core/shared_state.h,
 * borrowed, must outlive b; NULL: local only): its moves to OPEN and CLOSED
 * are published, and breaker_allow adopts an OPEN (or CLOSED) state
 * published by another router, looking at most every
 * ss->breaker_refresh_ms. Unavailable shared state leaves it local. */
struct shared_state;
int breaker_set_shared(struct breaker *b, const struct shared_state *ss, const char *name);

#endif
