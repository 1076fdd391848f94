/* The MCP gateway's recorder (the reference's gateway/interceptor.py and
 * replay.py, v1.5.1): what `intentus gateway` records for each MCP
 * `tools/call` that passes through it, and what `intentus replay` reads back.
 * The transports (HTTP proxy, stdio wrapper) live in tui/cli_gateway.c and
 * relay every byte unchanged; this module only sees parsed copies.
 *
 * One tools/call is one execution in the record store, written by the
 * record writer (core/writer.h) through the redactor, like a routed one:
 *  - envelope: intent {name: the tool, version "1.0"}, payload: the call's
 *    arguments, routing DIRECT to the agent "mcp:<server>/<tool>", metadata
 *    source "intentus-gateway";
 *  - events INTENT_RECEIVED, AGENT_ATTEMPT_START (at the request),
 *    AGENT_ATTEMPT_END, ROUTER_DECISION, FINAL_RESPONSE (at the response),
 *    with the usual wall-clock and monotonic timing;
 *  - finalResponse: success with the JSON-RPC result as payload; a JSON-RPC
 *    error or a result with isError true is AGENT_ERROR, no response at all
 *    (server gone, HTTP failure) TRANSPORT_ERROR;
 *  - "gateway": the reference's GatewayExecution fields (execution_id,
 *    deterministic_seed {timestamp_iso, sequence_number, process_id,
 *    random_seed, env_hash}, request, request_hash, response, response_hash,
 *    method, tool_name, started_at, completed_at, duration_ms, status,
 *    error, gateway_version) plus mode, target, server and jsonrpc_id.
 *    The hashes are the reference's stable_json_hash (canonical JSON,
 *    SHA-256) of the messages as relayed, before redaction.
 * The WAL (core/wal.h) gets execution.started (a commit point, before the
 * request is forwarded) with the reference's execution_start fields, and
 * execution.completed or execution.failed with its execution_end fields,
 * after the record is written.
 *
 * Thread-safe: calls may begin and end on any thread. */
#ifndef INTENTUS_CORE_GATEWAY_H
#define INTENTUS_CORE_GATEWAY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/redact.h"
#include "core/wal.h"
#include "core/writer.h"

#define GATEWAY_VERSION "1.5.1"
#define GATEWAY_SOURCE "intentus-gateway"

struct gateway_opts {
    const char *mode;                /* "http" or "stdio" */
    const char *target;              /* the upstream URL or the wrapped command */
    const char *server;              /* the server's name: agents are "mcp:<server>/<tool>" */
    struct writer *writer;           /* borrowed; required */
    struct wal *wal;                 /* borrowed; NULL: no WAL entries */
    const struct redactor *redactor; /* borrowed; NULL or disabled: nothing redacted */
};

struct gateway;
struct gateway_call;

struct gateway *gateway_new(const struct gateway_opts *o, struct intentus_err *err);
void gateway_free(struct gateway *g); /* accepts NULL */

/* A JSON-RPC request the gateway records: an object with "method":
 * "tools/call" and an "id" (a notification has none and gets no answer).
 * initialize, ping and every other message pass unrecorded. */
bool gateway_is_tool_call(const cJSON *msg);
/* A JSON-RPC response: an object with an "id" and "result" or "error" and
 * no "method". */
bool gateway_is_response(const cJSON *msg);
/* The canonical text of msg's "id" (what requests and responses are matched
 * by) into out; -1 when msg has no id or it does not fit. */
int gateway_id_key(const cJSON *msg, char *out, size_t size);

/* Begin recording request (a tools/call, copied): the execution id, the
 * seed, the WAL's execution.started. NULL when the WAL refused the commit
 * point (err says why): the call is not recorded, the request is still
 * relayed. */
struct gateway_call *gateway_call_begin(struct gateway *g, const cJSON *request,
                                        struct intentus_err *err);
const char *gateway_call_id(const struct gateway_call *c);
const char *gateway_call_key(const struct gateway_call *c); /* gateway_id_key of the request */
/* Finish and free c: response is the JSON-RPC response (borrowed), or NULL
 * when none came (failure says why). The record is written, then the WAL's
 * terminal entry. 0 when the record was written; -1 (err) otherwise. */
int gateway_call_end(struct gateway *g, struct gateway_call *c, const cJSON *response,
                     const char *failure, struct intentus_err *err);

/* Calls waiting for their response, matched by id key. Thread-safe. */
struct gateway_pending;
struct gateway_pending *gateway_pending_new(void);
/* Ends every call still waiting with failure, then frees. */
void gateway_pending_free(struct gateway_pending *p, struct gateway *g, const char *failure);
int gateway_pending_add(struct gateway_pending *p, struct gateway_call *c);
/* The waiting call whose key is key (removed), or NULL. */
struct gateway_call *gateway_pending_take(struct gateway_pending *p, const char *key);

/* The gateway's other side of one relayed message from the server: when
 * msg is a response to a waiting call, end that call with it. Returns 1
 * when a call ended, 0 when msg was not one; -1 when recording failed
 * (err). Arrays (batches) are walked. */
int gateway_pending_settle(struct gateway_pending *p, struct gateway *g, const cJSON *msg,
                           struct intentus_err *err);

/* `intentus replay`: the recorded response of a gateway execution, nothing
 * contacted. *out gets the reference's ReplayResult (execution_id,
 * response, request, request_hash, response_hash, deterministic_seed,
 * method, tool_name, status, started_at, completed_at, duration_ms,
 * wal_entries (from wal_entries, borrowed, may be NULL), replayed_at,
 * warning). -1 with err naming why when record is not a gateway execution
 * (IERR_INVALID) or holds no response to replay (IERR_NOT_FOUND). */
int gateway_replay(const cJSON *record, const cJSON *wal_entries, cJSON **out,
                   struct intentus_err *err);
#define GATEWAY_REPLAY_WARNING                                                                     \
    "This is the RECORDED response from execution time. No MCP tool was re-executed. No server "   \
    "was contacted. This is a WAL playback, NOT re-execution."

#endif
