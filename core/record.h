/* Execution records: building one as an execution runs (the recorder), and
 * reading, checking and summarising one that is on disk, whoever wrote it
 * (intentus or the Python reference).
 *
 * A record is a cJSON tree in the reference's layout (§3.1): header,
 * envelope, routerDecision, events, finalResponse. Trees read from disk are
 * kept whole, so unknown keys survive a load and save unchanged. */
#ifndef INTENTUS_CORE_RECORD_H
#define INTENTUS_CORE_RECORD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/uuid.h"

/* ---- building ---- */

struct recorder;

/* Start a record for env (deep-copied as it is now) with a fresh UUIDv7
 * execution id and the envelope's canonical hash. */
struct recorder *recorder_new(const cJSON *env, struct intentus_err *err);
void recorder_free(struct recorder *rec);
const char *recorder_id(const struct recorder *rec);
/* Append an event; takes ownership of payload. seq counts from 1; each event
 * also gets "ts" (wall clock) and "offsetUs" (monotonic, since the record
 * began). The _at form takes a monotonic time measured elsewhere (a PARALLEL
 * branch finishing on another thread). */
int recorder_event(struct recorder *rec, const char *type, cJSON *payload);
int recorder_event_at(struct recorder *rec, const char *type, cJSON *payload, int64_t mono_us);
/* Set routerDecision (copied) and record ROUTER_DECISION. */
int recorder_decision(struct recorder *rec, const cJSON *decision);
/* Set finalResponse (copied) and record FINAL_RESPONSE. */
int recorder_final(struct recorder *rec, const cJSON *response);
/* The finished record tree; the recorder keeps ownership. */
const cJSON *recorder_record(const struct recorder *rec);
/* Hand the tree over (to the redactor and the writer); after this only
 * recorder_id and recorder_free may be called. */
cJSON *recorder_take(struct recorder *rec);
/* Add or replace a header key (takes value). */
int recorder_set_header(struct recorder *rec, const char *key, cJSON *value);
/* Add or replace a top-level key of the record (takes value); for intentus'
 * extra keys, which the reference's loader ignores. */
int recorder_set_key(struct recorder *rec, const char *key, cJSON *value);

/* ---- reading ---- */

/* Parse record text and check it as the reference's loader does (§3.1):
 * header.executionId, createdUtcIso, envelopeHash and envelope present,
 * every event has seq/type/payload. Errors name the JSON path. */
cJSON *record_parse(const char *text, size_t len, struct intentus_err *err);
int record_validate(const cJSON *rec, struct intentus_err *err);
/* Recompute the canonical hash of "envelope" and compare with the header. */
int record_verify_hash(const cJSON *rec, struct intentus_err *err);
const char *record_id(const cJSON *rec);

enum record_status { RECORD_OK, RECORD_ERROR, RECORD_INCOMPLETE };

/* A flat view of one record for tables and filters. Strings are borrowed
 * from the tree and live as long as it does. */
struct record_summary {
    const char *id;
    const char *created; /* header.createdUtcIso */
    int64_t created_us;  /* parsed, 0 when unparseable */
    const char *intent;
    const char *agent;    /* routerDecision.agent, else finalResponse.metadata.agent */
    const char *strategy; /* envelope.routing.strategy wire text, "direct" when null */
    enum record_status status;
    const char *error_code; /* NULL when ok */
    const char *error_message;
    int64_t duration_us; /* from event offsets; -1 when the writer kept no timing */
    int attempts;        /* AGENT_ATTEMPT_START events */
    int events;
    bool replayable;
    /* Added for the watcher's index; all optional in a record. */
    const char *node; /* the writer's node: header.nodeId, routerDecision.nodeId or
                       * finalResponse.metadata.nodeId; NULL when none says */
    int retries;      /* AGENT_ATTEMPT_START events whose payload.attempt > 1 */
    bool redacted;    /* some string value is "[REDACTED]", header.redacted is true
                       * or header.redaction.applied is true */
};

void record_summarize(const cJSON *rec, struct record_summary *out);
const char *record_status_name(enum record_status s);

#endif
