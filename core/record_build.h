/* The record of one execution, serialized as it runs: no cJSON tree.
 *
 * The router's hot path writes each event straight into one growing text
 * buffer, in the exact bytes json_print_pretty would give the record tree
 * that core/record.c's recorder builds (the reference's layout, §3.1):
 * header, envelope, routerDecision, events, finalResponse, then intentus'
 * extra top-level keys. The envelope is printed (and hashed) once, when the
 * record starts, so later changes to the live envelope (retries counted in
 * routingMetadata) do not reach the record, as with the recorder's copy.
 * tests/core/test_record_golden.c holds the bytes to the old recorder's.
 *
 * Event payloads are written with rec_obj_* into any buffer (the record's
 * own through record_build_event_begin/end, or a PARALLEL branch's, which
 * the routing thread later hands over with record_build_event_text). A
 * payload is an object REC_PAYLOAD_LEVEL containers deep, so its text does
 * not depend on where it ends up.
 *
 * Redaction needs values, not text: a record that must be redacted is
 * parsed back into a tree (record_build_tree), redacted and saved from the
 * tree; only then is a tree built (see core/router_record.c). */
#ifndef INTENTUS_CORE_RECORD_BUILD_H
#define INTENTUS_CORE_RECORD_BUILD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/uuid.h"

/* Depth of an event's payload object in the record: record, events, event. */
#define REC_PAYLOAD_LEVEL 3

/* One JSON object being written in the record's pretty layout. */
struct rec_obj {
    struct buf *b;
    int level; /* containers above the object */
    int n;     /* members written */
};

/* The members' keys are string literals of plain characters (no '"',
 * '\\' or control; they are not escaped): each is written as one literal,
 * quoted, with its ": ", of a length known at compile time. A key that is
 * not a literal does not compile. */
#define REC_KEY(key) ("\"" key "\": "), (sizeof("\"" key "\": ") - 1)

void rec_obj_begin(struct rec_obj *o, struct buf *b, int level);
#define rec_obj_str(o, key, value) rec_obj_str_q((o), REC_KEY(key), (value))
#define rec_obj_int(o, key, value) rec_obj_int_q((o), REC_KEY(key), (value))
#define rec_obj_bool(o, key, value) rec_obj_bool_q((o), REC_KEY(key), (value))
/* A tree value (NULL is written as null); -1 when cJSON cannot print it. */
#define rec_obj_json(o, key, value) rec_obj_json_q((o), REC_KEY(key), (value))
void rec_obj_end(struct rec_obj *o);
/* What the macros above call: qkey is the quoted key and ": ", qlen bytes. */
void rec_obj_str_q(struct rec_obj *o, const char *qkey, size_t qlen, const char *value);
void rec_obj_int_q(struct rec_obj *o, const char *qkey, size_t qlen, int64_t value);
void rec_obj_bool_q(struct rec_obj *o, const char *qkey, size_t qlen, bool value);
int rec_obj_json_q(struct rec_obj *o, const char *qkey, size_t qlen, const cJSON *value);

struct record_build_opts {
    /* header.originalEnvelopeHash (a refused payload's record); NULL: none */
    const char *original_hash;
    /* The canonical hash of env as it is now, when the caller computed it
     * already (admission does); NULL: computed here. */
    const char *hash;
    /* A sub-intent's record (core/subintent.h): the top-level extra key
     * parentExecutionId, written before routingMetadata; NULL: none. */
    const char *parent_execution_id;
};

struct record_build;

/* Start a record for env as it is now: a fresh UUIDv7 execution id, the
 * creation time, the envelope's canonical hash and its text. */
struct record_build *record_build_new(const cJSON *env, const struct record_build_opts *opts,
                                      struct intentus_err *err);
void record_build_free(struct record_build *rb);
const char *record_build_id(const struct record_build *rb);
const char *record_build_hash(const struct record_build *rb);
/* The CLOCK_MONOTONIC us the record started at (its createdAt; offset 0). */
int64_t record_build_started_us(const struct record_build *rb);

/* Append an event whose payload the caller writes into the returned buffer
 * (rec_obj_begin(o, buf, REC_PAYLOAD_LEVEL) ... rec_obj_end) between the
 * two calls. seq counts from 1; mono_us (the one clock read of the event)
 * gives "ts" and "offsetUs". */
struct buf *record_build_event_begin(struct record_build *rb, const char *type);
void record_build_event_end(struct record_build *rb, int64_t mono_us);
/* Append an event whose payload text was written elsewhere (len bytes). */
void record_build_event_text(struct record_build *rb, const char *type, const char *payload,
                             size_t len, int64_t mono_us);

/* The end: ROUTER_DECISION (when decision is not NULL) and FINAL_RESPONSE
 * events, routerDecision and finalResponse, and the extra key
 * routingMetadata {retries}. After this only _text, _tree, _id, _hash and
 * _free may be called. -1 when memory ran out while recording. */
int record_build_finish(struct record_build *rb, const cJSON *decision, const cJSON *response,
                        int retries);
/* The router's decision as plain values: printed as decision_new's tree
 * prints ({agent, intent, reason, timestamp}), no tree built. */
struct rec_decision {
    const char *agent, *intent, *reason, *timestamp;
};
/* record_build_finish with the decision as values (NULL: none). */
int record_build_finish_values(struct record_build *rb, const struct rec_decision *decision,
                               const cJSON *response, int retries);
/* The finished text (borrowed) and its length. */
const char *record_build_text(const struct record_build *rb, size_t *len);
/* Hand the finished text over (caller frees); NULL when memory ran out. */
char *record_build_take_text(struct record_build *rb, size_t *len);
/* The finished record parsed into a tree (caller frees). */
cJSON *record_build_tree(const struct record_build *rb, struct intentus_err *err);

#endif
