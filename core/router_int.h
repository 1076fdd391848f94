/* The router's insides, shared by its files (not a public API):
 *  - core/router.c            the pipeline, top to bottom: admission, begin,
 *                             dispatch to a strategy, finish;
 *  - core/admission.c         what is checked before anything runs: payload
 *                             limits, the envelope hash, the policy and rate
 *                             limits;
 *  - core/router_attempt.c    one agent call as every strategy makes it
 *                             (breaker, WAL step, call, retries);
 *  - core/router_record.c     recording glue: event sinks, the payload of
 *                             every event type, saving the record;
 *  - core/router_wal.c        the write-ahead log's begin and end;
 *  - core/strategy_*.c        one strategy each, behind core/strategy.h. */
#ifndef INTENTUS_CORE_ROUTER_INT_H
#define INTENTUS_CORE_ROUTER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/breaker.h"
#include "core/buf.h"
#include "core/record_build.h"
#include "core/router.h"
#include "core/wal_run.h"

struct router {
    struct registry *reg;
    bool require_determinism;
    struct rec_store *store;
    struct writer *writer;
    int64_t deadline_ms;
    const struct policy *policy;
    struct ratelimit *limiter;
    bool own_limiter;
    const struct redactor *redactor;
    bool sample, sample_errors;
    double sample_rate;
    uint64_t max_payload_bytes;
    int max_depth;
    struct router_counters *counters;
    router_agent_enabled_fn agent_enabled;
    void *agent_enabled_ctx;
    struct wal *wal;
    router_exec_fn on_started, on_finished;
    void *exec_ctx;
    pthread_mutex_t rng_lock; /* retry jitter: workers share the generator */
    uint64_t rng;
    char config_hash[65];
    int subintent_max_depth; /* core/subintent.h */
};

/* Counters are optional: c points into r->counters, which may be NULL, so
 * the address is only taken, never dereferenced, until checked. */
#define ROUTER_COUNT(r, c)                                                                         \
    do {                                                                                           \
        if ((r)->counters != NULL)                                                                 \
            atomic_fetch_add_explicit((c), 1, memory_order_relaxed);                               \
    } while (0)

/* An event waiting to be recorded: PARALLEL branches run on other threads
 * and their events are recorded by the routing thread, in completion order.
 * The payload text sits in the sink's text buffer at off. */
struct pending {
    const char *type; /* a string literal */
    size_t off, len;
    int64_t mono_us;
    bool is_retry; /* an AGENT_ATTEMPT_START past the first attempt */
};

/* Where an attempt's events go: straight into the record, or buffered. */
struct sink {
    struct exec *x;
    bool buffered;
    struct buf text;
    struct pending *items;
    size_t n, cap;
    size_t open_off; /* the payload being written (buffered) */
};

/* One execution in flight: what every strategy needs to hand around. */
struct exec {
    struct router *router;
    cJSON *env;
    /* env's members found once (core/model.h); every read of the envelope
     * on the way goes through it, and so do the router's changes to it. */
    struct envelope_view ev;
    struct record_build *rec; /* NULL when recording is off */
    const char *intent;
    const char *trace_id;
    struct agent **cands;
    size_t n;
    int64_t deadline_us;       /* overall, monotonic; 0 = none */
    int64_t deadline_ms;       /* the same as configured, for messages */
    struct agent_cache *cache; /* the worker's, or NULL */
    struct sink direct;        /* unbuffered sink into rec */
    int failed;                /* out of memory while recording */
    int retries;               /* recorded attempts past the first (routingMetadata) */
    struct wal_run *wal;       /* NULL when there is no WAL; shared by PARALLEL branches */
    bool wal_refused;          /* execution.started could not be written: nothing runs */
    struct intentus_err wal_err;
    struct redact_ctx *redact; /* the rules plus the envelope's secrets; NULL: off */
    atomic_int *attempts;      /* agent calls made; shared by PARALLEL branches; may be NULL */
    const struct subintent_parent *parent; /* sub-intents: who emitted it; NULL: nobody */
};

/* Why attempt() did not call an agent. */
enum skip { SKIP_NONE, SKIP_OPEN, SKIP_DISABLED, SKIP_WAL };

/* The router's decision (ROUTER_DECISION), plain values rather than a
 * tree: only a record prints it (core/record_build.c). */
struct decision {
    const char *agent; /* NULL on the "exception" path: no ROUTER_DECISION */
    const char *intent;
    char reason[64];
    char timestamp[CLOCK_ISO_LEN]; /* when it was taken; "" when nothing records it */
};

/* The outcome a strategy hands back. */
struct outcome {
    cJSON *response;
    struct decision decision;
};

/* ---- router.c ---- */
/* The decision for o: agent (borrowed: an agent's name or a literal) for
 * x's intent, with reason. Its clock is read only when a record is built. */
void router_decide(const struct exec *x, struct outcome *o, const char *agent, const char *reason);
struct outcome router_fail(struct exec *x, enum error_code code, const char *msg, cJSON *details,
                           const char *agent);
bool router_deadline_passed(const struct exec *x);
cJSON *router_deadline_error(const struct exec *x);
/* A uniform double in [0, 1) from the router's generator (retry jitter). */
double router_jitter(struct router *r);
/* The reference turns an exception inside an agent call into an error it
 * carries on with (FALLBACK, BROADCAST, PARALLEL). */
cJSON *router_exception_error(const char *text);
/* A skipped agent (circuit open, disabled, WAL stopped) as the last error
 * of a chain. */
cJSON *router_open_error(const struct agent *a, enum skip why);

/* ---- router_attempt.c ---- */
/* One agent, as every strategy calls it: the breaker first (a refusal is
 * recorded as CIRCUIT_OPEN_SKIPPED and *skipped set), then the call under
 * its deadline, then opt-in retries with exponential backoff and jitter for
 * retryable errors of idempotent agents. Returns the last response, or NULL
 * with err when the call itself failed (the reference's exception path). */
cJSON *router_attempt(struct exec *x, struct sink *s, struct agent *a, enum strategy st, long index,
                      enum skip *skipped, struct intentus_err *err);

/* ---- router_record.c ---- */
void sink_init(struct sink *s, struct exec *x, bool buffered);
void sink_free(struct sink *s);
/* Does anything recorded through s reach a record? (Payloads are only
 * written when it does.) */
bool sink_on(const struct sink *s);
/* Move buffered events into the record; with only_state, just the breaker
 * transitions (a branch that finished after the winner). */
void sink_flush(struct exec *x, struct sink *s, bool only_state);

void ev_intent_received(struct exec *x);
void ev_policy_decision(struct exec *x, const cJSON *decision);
void ev_agent_skipped(struct exec *x, const char *agent, const char *why);
void ev_fallback_triggered(struct exec *x, const char *from, const char *to);
void ev_disabled_skipped(struct sink *s, const char *agent);
/* next_probe_ms is written when has_probe. */
void ev_open_skipped(struct sink *s, const char *agent, const char *state, bool has_probe,
                     int64_t next_probe_ms);
/* The next two, and attempt_end.end_us, take the moment they record
 * (CLOCK_MONOTONIC us) from the caller, who has read the clock for it
 * anyway: the breaker's verdict and the attempt's own timing. */
void ev_breaker_change(struct sink *s, const char *agent, const struct breaker_change *ch,
                       int64_t now);
void ev_attempt_start(struct sink *s, const char *agent, enum strategy st, long index,
                      int attempt_no, int64_t now);
/* The reference's {agent, status[, exception]}, plus (intentus) for a
 * failed attempt its errorCode, message and retryable, from the response's
 * error or, when the call itself failed, INTERNAL_AGENT_ERROR with
 * call_error; for agents that retry, the attempt number; for a timeout the
 * elapsed time (elapsed_us >= 0); with a WAL, the step id. */
struct attempt_end {
    const char *agent;
    const cJSON *resp;
    const char *exception;
    const char *call_error;
    int attempt_no;
    int64_t elapsed_us; /* < 0: not written */
    const char *step_id;
    int64_t end_us; /* when the call returned */
};
void ev_attempt_end(struct sink *s, const struct attempt_end *e);
/* An event whose payload is a tree (sub-intents and model calls reported in
 * an agent's reply: not the hot path). type: "SUB_INTENT" or "MODEL_CALL". */
void ev_json(struct sink *s, const char *type, const cJSON *payload);

/* Start the record (NULL when recording is off or memory ran out; then
 * err says why). */
int router_record_start(struct router *r, struct exec *x, const struct record_build_opts *opts,
                        struct route_result *out);
/* Decision, final response, the sampling choice and the save. */
void router_record_finish(struct router *r, struct exec *x, const struct outcome *o,
                          struct route_result *out);

/* ---- router_wal.c ---- */
int router_wal_begin(struct router *r, struct exec *x);
void router_wal_end(struct router *r, struct exec *x, const cJSON *response,
                    struct route_result *out);
struct outcome router_wal_refusal(struct exec *x);
struct outcome router_wal_stopped(struct exec *x, struct outcome o);

#endif
