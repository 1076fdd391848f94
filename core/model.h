/* The reference's data model (envelope, agent response, error info, router
 * decision) as cJSON trees built and checked here.
 *
 * Trees rather than C structs, on purpose: every record intentus reads must
 * be written back with unknown fields and key order intact, agents outside
 * the process exchange these objects as JSON anyway, and a tree is what the
 * canonical hash is computed over. This module owns the shapes: it builds
 * them in the reference's key order and validates input against them. */
#ifndef INTENTUS_CORE_MODEL_H
#define INTENTUS_CORE_MODEL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

/* Error codes exactly as the reference serialises them (§1.3). */
#define MODEL_ERROR_CODES(X)                                                                       \
    X(ERR_VALIDATION_ERROR, "VALIDATION_ERROR")                                                    \
    X(ERR_AGENT_ERROR, "AGENT_ERROR")                                                              \
    X(ERR_ROUTING_ERROR, "ROUTING_ERROR")                                                          \
    X(ERR_CAPABILITY_NOT_FOUND, "CAPABILITY_NOT_FOUND")                                            \
    X(ERR_AGENT_TIMEOUT, "AGENT_TIMEOUT")                                                          \
    X(ERR_AGENT_UNAVAILABLE, "AGENT_UNAVAILABLE")                                                  \
    X(ERR_PROTOCOL_ERROR, "PROTOCOL_ERROR")                                                        \
    X(ERR_TRANSPORT_ERROR, "TRANSPORT_ERROR")                                                      \
    X(ERR_UNAUTHORIZED, "UNAUTHORIZED")                                                            \
    X(ERR_RATE_LIMIT, "RATE_LIMIT")                                                                \
    X(ERR_INTERNAL_AGENT_ERROR, "INTERNAL_AGENT_ERROR")                                            \
    X(ERR_PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")                                                  \
    X(ERR_WORKFLOW_ABORTED, "WORKFLOW_ABORTED")                                                    \
    X(ERR_EMCL_FAILURE, "EMCL_FAILURE")

enum error_code {
#define X(sym, text) sym,
    MODEL_ERROR_CODES(X)
#undef X
        ERR_CODE_COUNT
};

/* Strategies: lowercase on the wire, uppercase in event payloads. */
#define MODEL_STRATEGIES(X)                                                                        \
    X(STRATEGY_DIRECT, "direct", "DIRECT")                                                         \
    X(STRATEGY_FALLBACK, "fallback", "FALLBACK")                                                   \
    X(STRATEGY_BROADCAST, "broadcast", "BROADCAST")                                                \
    X(STRATEGY_PARALLEL, "parallel", "PARALLEL")

enum strategy {
#define X(sym, wire, event) sym,
    MODEL_STRATEGIES(X)
#undef X
        STRATEGY_COUNT,
    STRATEGY_UNKNOWN = STRATEGY_COUNT /* routes as FALLBACK, reason "success" */
};

#define MODEL_PRIORITIES(X)                                                                        \
    X(PRIORITY_LOW, "low")                                                                         \
    X(PRIORITY_NORMAL, "normal")                                                                   \
    X(PRIORITY_HIGH, "high")

enum priority {
#define X(sym, wire) sym,
    MODEL_PRIORITIES(X)
#undef X
        PRIORITY_COUNT
};

const char *model_error_code_name(enum error_code code);
/* Returns 0 and the code, or -1 for a name that is not one of the 14. */
int model_error_code_parse(const char *name, enum error_code *out);
const char *model_strategy_wire(enum strategy s);  /* "direct" */
const char *model_strategy_event(enum strategy s); /* "DIRECT"; FALLBACK for unknown */
/* Accepts the wire names case-insensitively; -1 for anything else. */
int model_strategy_parse(const char *text, enum strategy *out);
const char *model_priority_wire(enum priority p);
int model_priority_parse(const char *text, enum priority *out);

/* What a caller says about the envelope it wants built. */
struct envelope_opts {
    const char *intent_version; /* NULL: "1.0" */
    const char *source_agent;   /* NULL: "client" */
    const char *source;         /* metadata.source; NULL: "intentus-cli" */
    enum priority priority;
    const char *const *tags; /* NULL-terminated, may be NULL */
    enum strategy strategy;
    const char *target_agent;           /* NULL: null */
    const char *const *fallback_agents; /* NULL-terminated, may be NULL */
    const char *request_id;             /* NULL: fresh UUIDv4 */
    const char *trace_id;               /* NULL: fresh UUIDv4 */
    int64_t timeout_ms;                 /* > 0: routing.timeoutMs, the execution's deadline
                                         * (an intentus extension the router reads) */
};

/* A complete envelope in the reference's key order. Takes ownership of
 * payload (an object; NULL means {}). Returns NULL only on allocation
 * failure or when payload is not an object (err says so). */
cJSON *envelope_new(const char *intent, cJSON *payload, const struct envelope_opts *opts,
                    struct intentus_err *err);
/* Check an envelope read from outside: required keys, types and enum values,
 * with the JSON path of the first problem in err. */
int envelope_validate(const cJSON *env, struct intentus_err *err);
const char *envelope_intent_name(const cJSON *env);
const char *envelope_intent_version(const cJSON *env);
const char *envelope_trace_id(const cJSON *env);
/* routing.strategy as an enum; null or absent is DIRECT, unknown text
 * STRATEGY_UNKNOWN. */
enum strategy envelope_strategy(const cJSON *env);
const char *envelope_target_agent(const cJSON *env); /* NULL when null/empty */
const cJSON *envelope_fallback_agents(const cJSON *env);
/* The reference's step 1: an empty traceId gets a fresh one, a missing
 * identityChain becomes []. */
int envelope_normalize(cJSON *env);
/* Append an agent name to routingMetadata.decisionPath (the agent wrapper). */
int envelope_append_decision(cJSON *env, const char *agent);

/* Where an envelope's members are, found in one walk over each of its
 * objects. The router reads the same dozen members many times per
 * execution, and every walk over a cold tree costs a cache miss or two per
 * member passed (the node, then its key): the view reads each list once.
 * Each pointer is the first member of that name, of any type, as json_item
 * finds it; NULL when absent. The view points into env: it stays valid
 * while env's members change only through the envelope_view_* calls, which
 * keep it up to date (a copy of env needs a view of its own). */
struct envelope_view {
    cJSON *env;
    cJSON *intent, *payload, *context, *metadata, *routing, *routing_metadata;
    cJSON *name, *version;                                         /* intent's */
    cJSON *request_id, *source, *trace_id, *identity_chain;        /* metadata's */
    cJSON *strategy, *target_agent, *fallback_agents, *timeout_ms; /* routing's */
    cJSON *decision_path; /* routingMetadata's (retries: looked up when counted) */
};

void envelope_view_fill(struct envelope_view *v, cJSON *env);
/* What the envelope_* helpers of the same names answer for v->env. */
const char *envelope_view_intent_name(const struct envelope_view *v);
const char *envelope_view_intent_version(const struct envelope_view *v);
const char *envelope_view_trace_id(const struct envelope_view *v);
const char *envelope_view_request_id(const struct envelope_view *v); /* NULL: none */
const char *envelope_view_source(const struct envelope_view *v);     /* NULL: none */
enum strategy envelope_view_strategy(const struct envelope_view *v);
const char *envelope_view_target_agent(const struct envelope_view *v);
const cJSON *envelope_view_fallback_agents(const struct envelope_view *v);
/* routing.timeoutMs as json_get_int64 reads it: 0 and *ms, or -1. */
int envelope_view_timeout_ms(const struct envelope_view *v, long long *ms);
/* envelope_normalize and envelope_append_decision on v->env, v kept up to
 * date. envelope_view_link_decision appends an interned name (core/intern.h,
 * alive until exit) by reference, not by copy: one allocation, not two.
 * cJSON_Delete, cJSON_Duplicate and the printers treat either entry as any
 * string. */
int envelope_view_normalize(struct envelope_view *v);
int envelope_view_append_decision(struct envelope_view *v, const char *agent);
int envelope_view_link_decision(struct envelope_view *v, const char *interned);
/* routingMetadata.retries plus one, when it is a number. */
void envelope_view_count_retry(const struct envelope_view *v);

/* {"code","message","retryable","details"}; details may be NULL ({}),
 * ownership of details is taken. */
cJSON *error_info_new(enum error_code code, const char *message, bool retryable, cJSON *details);
/* cJSON_Delete(error_info), except that a thread keeps a few errors that
 * still have exactly the shape error_info_new builds (details {}), for its
 * next error_info_new without details to reuse: FALLBACK and BROADCAST
 * hand each failure's error here once they are done with it. True when
 * kept. */
bool error_info_recycle(cJSON *error_info);

/* AgentResponse builders. The metadata key orders mirror the reference's
 * three response paths so our records read like its records. */
cJSON *response_success(cJSON *payload, const char *agent, const char *trace_id);
/* A success whose payload borrows env's "payload" object (a cJSON
 * reference to its members, nothing copied): what an in-process agent that
 * answers with its input returns. The response is valid only while env
 * lives and its payload is not changed, and nothing may change the
 * borrowed payload through the response (see route_result in
 * core/router.h). A payload that is not an object answers {}. */
cJSON *response_success_borrowing(const cJSON *env, const char *agent, const char *trace_id);
/* The same with the envelope's "payload" member already found (NULL:
 * absent). */
cJSON *response_success_borrowing_payload(const cJSON *payload, const char *agent,
                                          const char *trace_id);
/* cJSON_Delete(resp), except that a thread keeps its last borrowing
 * success and its last agent error's shell (its error handed to
 * error_info_recycle, or moved out first as FALLBACK moves it) while
 * nothing changed their shape, for its next
 * response_success_borrowing_payload and response_agent_error to reuse
 * (route_result_free and the strategies hand their responses here). True
 * when kept. */
bool response_recycle(cJSON *resp);
/* Does resp's payload borrow from an envelope? */
bool response_borrows(const cJSON *resp);
/* Make resp self-contained: a borrowed payload replaced by its own copy
 * (nothing to do otherwise). -1 when memory ran out (resp unchanged). */
int response_own(cJSON *resp);
/* An agent's own error: metadata {agent, traceId, timestamp}. */
cJSON *response_agent_error(cJSON *error_info, const char *agent, const char *trace_id);
/* Exhaustion of FALLBACK/BROADCAST/PARALLEL: metadata {traceId, agent, timestamp}. */
cJSON *response_exhausted(const cJSON *last_error, const char *pseudo_agent, const char *trace_id);
/* Router failure before/around agents: metadata {agent, timestamp, traceId}. */
cJSON *response_router_error(cJSON *error_info, const char *agent, const char *trace_id);
/* Fill metadata agent/traceId/timestamp where absent (agent values win). */
int response_fill_metadata(cJSON *resp, const char *agent, const char *trace_id);
/* Success is decided by error == null, never by status (§1.5). */
bool response_is_error(const cJSON *resp);
const cJSON *response_error(const cJSON *resp); /* the error object or NULL */
const char *response_error_code(const cJSON *resp);
/* Check an AgentResponse from an outside agent. */
int response_validate(const cJSON *resp, struct intentus_err *err);

cJSON *decision_new(const char *agent, const char *intent, const char *reason);

#endif
