/* The deterministic intent router (reference §2): candidates from the
 * registry in (remote, nodePriority, name) order, one of four strategies, and
 * every execution recorded with the reference's event sequence. */
#ifndef INTENTUS_CORE_ROUTER_H
#define INTENTUS_CORE_ROUTER_H

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/model.h"
#include "core/policy.h"
#include "core/ratelimit.h"
#include "core/rec_store.h"
#include "core/redact.h"
#include "core/registry.h"
#include "core/uuid.h"
#include "core/wal.h"
#include "core/writer.h"

struct router;

/* Counters a router adds to; shared by every router of a runtime so they
 * survive a reload. */
struct router_counters {
    _Atomic uint64_t routed;        /* executions routed (refusals included) */
    _Atomic uint64_t recorded;      /* records saved (sync) or queued (async writer) */
    _Atomic uint64_t sampled_out;   /* records not kept because of sample_rate */
    _Atomic uint64_t dropped;       /* records the async writer refused (queue full) */
    _Atomic uint64_t record_errors; /* records that could not be built or saved */
};

/* An execution's WAL reached a point: started (execution.started is on
 * disk as the durability setting promises) or finished (the terminal entry
 * was written). Called on the routing thread. */
typedef void (*router_exec_fn)(void *ctx, const char *execution_id);

/* Is this agent enabled? (The runtime's in-memory switch.) */
typedef bool (*router_agent_enabled_fn)(void *ctx, const char *agent);

struct router_opts {
    bool require_determinism; /* refuse PARALLEL (the reference's default: true) */
    struct rec_store *store;  /* borrowed; NULL turns recording off (unless writer) */
    struct writer *writer;    /* borrowed; when set, records go here instead of store */
    int64_t deadline_ms;      /* default overall deadline per execution; 0 = none */
    uint64_t seed;            /* retry jitter generator; 0 = seeded from the clock */
    /* Safe recording. Everything off when zero. */
    const struct policy *policy;           /* borrowed; NULL: no policy, nothing extra recorded */
    struct ratelimit *limiter;             /* borrowed; NULL: the router keeps its own */
    const struct redactor *redactor;       /* borrowed; NULL or disabled: stored as built */
    bool sample;                           /* apply sample_rate (false: keep every record) */
    double sample_rate;                    /* 0..1, deterministic on metadata.requestId */
    bool sample_errors;                    /* errors and refusals are kept whatever the rate */
    uint64_t max_payload_bytes;            /* serialised payload; 0 = no limit (recording:
                                            * REC_STORE_MAX_PAYLOAD at most, whatever is set) */
    int max_depth;                         /* payload nesting; 0 = no limit */
    struct router_counters *counters;      /* borrowed, may be NULL */
    router_agent_enabled_fn agent_enabled; /* NULL: every agent enabled */
    void *agent_enabled_ctx;
    /* Write-ahead log (borrowed; NULL: none). Each execution writes
     * <wal dir>/<executionId>.wal with the record's executionId. */
    struct wal *wal;
    router_exec_fn on_started, on_finished; /* may be NULL */
    void *exec_ctx;
    int subintent_max_depth; /* sub-intents (core/subintent.h); 0: SUBINTENT_DEFAULT_MAX_DEPTH */
};

/* The response may borrow from the routed envelope: an in-process agent
 * that answers with its input (the builtin echo, as the reference's echo
 * returns env.payload itself) gives a response whose "payload" is a cJSON
 * reference to the envelope's payload members, nothing copied
 * (response_borrows in core/model.h says whether it does). So:
 *  - the envelope must outlive the response: free the response first, or
 *    call route_result_own before freeing (or changing) the envelope;
 *  - nothing may change the borrowed payload through the response (add,
 *    detach, replace or edit its members): call route_result_own first.
 *    Reading, printing, hashing, cJSON_Duplicate (which copies what a
 *    reference points to) and moving the whole response into another tree
 *    are fine, and so is cJSON_Delete of the response in any order (a
 *    reference never frees what it points to).
 * The executor keeps each job's envelope in its completion (completion_free
 * frees it after the response); serve's inline path does the same. */
struct route_result {
    cJSON *response;                 /* owned by the caller: cJSON_Delete; may borrow
                                      * from the envelope (above) */
    char execution_id[UUID_STR_LEN]; /* "" when not recorded */
    bool recorded;                   /* saved, or accepted by an async writer (see record_fate) */
    bool sampled_out;                /* not recorded on purpose (sample_rate) */
    struct intentus_err record_err;  /* why recording failed, when it did */
    /* An async writer accepted the record: its fate, still to be decided
     * (owned; route_result_settle waits for it, route_result_free drops it). */
    struct writer_fate *record_fate;
    bool wal_failed;             /* a WAL write after the commit point failed */
    struct intentus_err wal_err; /* its error */
    int attempts;                /* agent calls made, retries and PARALLEL branches included */
};

/* The sampling decision for a request id: the same id is always in or
 * always out (FNV-1a of the id against the rate). */
bool router_sample_in(const char *request_id, double rate);

/* reg is borrowed and must outlive the router. */
struct router *router_new(struct registry *reg, const struct router_opts *opts,
                          struct intentus_err *err);
void router_free(struct router *r);
const char *router_config_hash(const struct router *r);

/* Route one envelope. env is normalised in place (traceId, identityChain)
 * and its decisionPath grows as agents run. Always yields a response (an
 * error response when routing fails), as the reference's route_intent does;
 * returns -1 only when memory ran out. */
int router_route(struct router *r, cJSON *env, struct route_result *out);
/* The same, with a worker's agent cache (kept between calls: curl handles). */
int router_route_with(struct router *r, cJSON *env, struct agent_cache *cache,
                      struct route_result *out);
/* Sub-intents (core/subintent.c): route env as a child of parent (its
 * record gets parentExecutionId), or record it as refused with code, message
 * and details (taken). */
struct subintent_parent;
int router_route_child(struct router *r, cJSON *env, struct agent_cache *cache,
                       const struct subintent_parent *parent, struct route_result *out);
int router_refuse_child(struct router *r, cJSON *env, const struct subintent_parent *parent,
                        enum error_code code, const char *message, cJSON *details,
                        struct route_result *out);
/* Record an execution that was refused before it could run (a queue shut
 * down, say): INTENT_RECEIVED then an error FINAL_RESPONSE with code. */
int router_refuse(struct router *r, cJSON *env, enum error_code code, const char *message,
                  struct route_result *out);
/* Wait until an async writer has written or failed the record, and make
 * recorded and record_err say which (nothing to wait for otherwise). A
 * caller that reports "recorded" calls this first. */
void route_result_settle(struct route_result *res);
/* Make the response self-contained (a borrowed payload copied), for a
 * caller that keeps it after freeing or changing the envelope. 0, or -1
 * when memory ran out (the response still borrows). */
int route_result_own(struct route_result *res);
void route_result_free(struct route_result *res);

#endif
