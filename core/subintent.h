/* Sub-intents and model calls: what an agent may ask for, or report, in its
 * reply besides the answer itself (an intentus extension; the reference's
 * agents call emit_intent() in-process instead).
 *
 * An AgentResponse may carry two extra top-level keys:
 *   "subIntents": [{"intent": NAME, "version": V?, "payload": {...}?}, ...]
 *       (on a success reply only) the router routes each one, in order, as
 *       its own execution: its own record, with the parent's traceId and a
 *       top-level "parentExecutionId"; bounded by the parent's deadline
 *       (routing.timeoutMs = what is left of it) and a depth limit; an
 *       intent already on the chain of parents is refused (a loop), and so
 *       is one past the depth limit: both are recorded as refused
 *       executions (ROUTING_ERROR, details.reason SUB_INTENT_LOOP or
 *       SUB_INTENT_DEPTH). Then the agent is called again with the same
 *       envelope plus "subResults": [{"intent", "version", "executionId",
 *       "response"}, ...]; that reply is the answer (it may ask again, up to
 *       SUBINTENT_MAX_ROUNDS rounds).
 *   "modelCalls": [{"model", "provider"?, "parameters"?, "promptHash"?,
 *       "responseHash"?, "inputTokens"?, "outputTokens"?, "latencyMs"?}, ...]
 *       each recorded as a MODEL_CALL event in the reference's payload
 *       {agent, provider, input: {model, parameters, promptHash},
 *       output: {responseHash, inputTokens, outputTokens, latencyMs}}.
 * Both keys are taken out of the reply before it is recorded or returned.
 * A malformed one turns the reply into a PROTOCOL_ERROR naming the key. */
#ifndef INTENTUS_CORE_SUBINTENT_H
#define INTENTUS_CORE_SUBINTENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "core/agent.h"
#include "core/err.h"

struct router;

#define SUBINTENT_DEFAULT_MAX_DEPTH 8
#define SUBINTENT_MAX_DEPTH_LIMIT 64
#define SUBINTENT_MAX_PER_REPLY 32
#define SUBINTENT_MAX_ROUNDS 8

/* An execution as its children see it: one link of the chain of parents. */
struct subintent_parent {
    const char *execution_id; /* its record's id; "" when it is not recorded */
    const char *trace_id;
    const char *intent, *version;
    int depth;                         /* 0 for an execution nobody emitted */
    const struct subintent_parent *up; /* its own parent; NULL at the root */
};

/* Where the events of the attempt go (the router's sink). Takes payload. */
typedef void (*subintent_emit_fn)(void *ctx, const char *type, cJSON *payload);

struct subintent_call {
    struct router *router;
    struct agent *agent;
    cJSON *env;                  /* the live envelope (borrowed) */
    const struct agent_ctx *ctx; /* the attempt's deadline and cache */
    const struct subintent_parent *self;
    int max_depth; /* deepest child allowed (depth counts from 1) */
    subintent_emit_fn emit;
    void *emit_ctx;
};

/* After agent_call: record resp's model calls, run its sub-intents and call
 * the agent again with their results, as often as it asks. Takes resp;
 * returns the final reply (both keys removed), or NULL with err when a call
 * itself failed. */
cJSON *subintent_after_call(const struct subintent_call *c, cJSON *resp, struct intentus_err *err);

/* A sub-execution's record carries the top-level extra key
 * "parentExecutionId" (record_build_opts.parent_execution_id). */

#endif
