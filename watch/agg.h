/* Aggregates over an index: per agent and per intent counters, failures by
 * error code, latency percentiles, recent failure rates, last error, last
 * recorded circuit state, retries; and overall throughput for a sparkline.
 *
 * Counters and latency histograms are kept incrementally as records enter
 * and leave the index (agg_attach registers as its observer). The windowed
 * figures (last N calls, last M minutes, last error, circuit state,
 * throughput) come from the index's time order when a snapshot is taken,
 * walking back from the newest record only as far as they need.
 *
 * Agents are counted per attempt: every AGENT_ATTEMPT_END is a call, "ok" a
 * success, anything else a failure with the code digest.h describes;
 * CIRCUIT_OPEN_SKIPPED counts as skipped, not as a call. Intents are counted
 * per execution (record). Latency is per attempt (END - START offsets) for
 * agents and per execution for intents; records without timing (the
 * reference's) add no latency samples, so percentiles are absent (-1) when
 * no record had timing. Percentiles come from a log-linear histogram with 16
 * sub-buckets per power of two: the value reported is the lower bound of the
 * bucket holding the nearest-rank percentile, within 1/16 (6.25%) of it. */
#ifndef INTENTUS_WATCH_AGG_H
#define INTENTUS_WATCH_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "watch/index.h"

struct agg;

/* Count everything already in ix and follow its changes. The index must
 * outlive the aggregates; agg_free detaches. */
struct agg *agg_attach(struct index *ix);
void agg_free(struct agg *a);

struct agg_code {
    const char *code;
    uint64_t count;
};

struct agg_row {
    const char *name;
    uint64_t calls, ok, failed, incomplete, skipped, retries;
    struct agg_code *codes; /* failures by error code, most frequent first */
    size_t n_codes;
    uint64_t timed;                       /* calls with a latency */
    int64_t p50_us, p95_us, p99_us;       /* -1: no timing */
    uint64_t recent_calls, recent_failed; /* the last opts.last_n calls */
    uint64_t window_calls, window_failed; /* calls in the last opts.window_us */
    const char *last_error;               /* NULL: none */
    int64_t last_error_us;
    const char *circuit; /* agents: state after the last CIRCUIT_STATE_CHANGE; NULL: none */
    int64_t circuit_us;
    /* agents: the MODEL_CALL events they reported (core/subintent.h) */
    uint64_t model_calls, model_tokens;
    uint64_t model_timed;     /* model calls with a latency */
    int64_t model_latency_us; /* their latencies added up */
};

struct agg_opts {
    size_t last_n;     /* 0: 20 */
    int64_t window_us; /* 0: 5 minutes */
    int64_t now_us;    /* 0: the wall clock */
    size_t buckets;    /* throughput buckets; 0: 30 */
    int64_t bucket_us; /* 0: 10 s */
    /* The end of the rate windows (records_10s, records_60s); 0: now_us. A
     * caller that aligns now_us to a bucket boundary (so buckets keep their
     * edges from one snapshot to the next) passes the true time here. */
    int64_t rate_now_us;
};

struct agg_snapshot {
    struct agg_row *agents; /* most calls first, then by name */
    size_t n_agents;
    struct agg_row *intents;
    size_t n_intents;
    uint64_t records, corrupt, no_timing;
    uint32_t *throughput; /* records created per bucket, oldest bucket first, the last one
                           * ending at now */
    size_t n_throughput;
    int64_t bucket_us;
    /* Records created in the last 10 s and the last 60 s before
     * opts.rate_now_us (later ones too: a writer's clock ahead of ours). */
    uint64_t records_10s, records_60s;
};

/* Strings in the snapshot are borrowed from the index: valid until it next
 * changes. */
int agg_snapshot(const struct agg *a, const struct agg_opts *opts, struct agg_snapshot *out,
                 struct intentus_err *err);
void agg_snapshot_free(struct agg_snapshot *s);

/* The histogram bucket holding us, and that bucket's lower bound (exposed
 * for tests and for drawing). */
size_t agg_bucket_of(int64_t us);
int64_t agg_bucket_floor(size_t bucket);
/* The order and the percentile rule agg_snapshot uses, for every other
 * source of the same figures (watch/index_stats.c): rows by calls, then
 * name; codes by count, then code; the nearest rank of percentile p among
 * timed samples (at least 1). */
void agg_sort_rows(struct agg_row *rows, size_t n);
void agg_sort_codes(struct agg_code *codes, size_t n);
uint64_t agg_nearest_rank(uint64_t timed, double p);

#endif
