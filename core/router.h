/* The deterministic intent router (reference §2): candidates from the
 * registry in (remote, nodePriority, name) order, one of four strategies, and
 * every execution recorded with the reference's event sequence. */
#ifndef INTENTUS_CORE_ROUTER_H
#define INTENTUS_CORE_ROUTER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/registry.h"
#include "core/uuid.h"

struct router;

struct router_opts {
    bool require_determinism; /* refuse PARALLEL (the reference's default: true) */
    struct rec_store *store;  /* borrowed; NULL turns recording off */
    int64_t deadline_ms;      /* default overall deadline per execution; 0 = none */
    uint64_t seed;            /* retry jitter generator; 0 = seeded from the clock */
};

struct route_result {
    cJSON *response;                    /* owned by the caller: cJSON_Delete */
    char execution_id[UUID_STR_LEN];    /* "" when not recorded */
    bool recorded;
    struct intentus_err record_err;     /* why recording failed, when it did */
};

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
/* Record an execution that was refused before it could run (a queue shut
 * down, say): INTENT_RECEIVED then an error FINAL_RESPONSE with code. */
int router_refuse(struct router *r, cJSON *env, enum error_code code, const char *message,
                  struct route_result *out);
/* The overall deadline of an envelope: routing.timeoutMs (an intentus
 * extension) if present, else the router's default; 0 = none. */
int64_t router_deadline_ms(const struct router *r, const cJSON *env);
void route_result_free(struct route_result *res);

#endif
