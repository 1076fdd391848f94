#include "core/record.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"

struct recorder {
    cJSON *record;
    cJSON *events; /* borrowed from record */
    long next_seq;
    int64_t start_mono_us;
    int64_t start_wall_us;
    char id[UUID_STR_LEN];
};

static void
add(cJSON *obj, const char *key, cJSON *item, int *failed)
{
    if (item == NULL || !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        *failed = 1;
    }
}

struct recorder *
recorder_new(const cJSON *env, struct intentus_err *err)
{
    struct recorder *rec = calloc(1, sizeof(*rec));
    char created[CLOCK_ISO_LEN], hash[65];
    cJSON *header, *copy;
    int failed = 0;

    if (rec == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (json_canonical_sha256(env, hash, err) != 0) {
        err_prefix(err, "envelope hash");
        free(rec);
        return NULL;
    }
    rec->start_mono_us = clock_mono_us();
    rec->start_wall_us = clock_wall_us();
    rec->next_seq = 1;
    uuid_v7(rec->start_wall_us / 1000, rec->id);
    clock_format_iso(rec->start_wall_us, created);
    rec->record = cJSON_CreateObject();
    header = cJSON_CreateObject();
    copy = cJSON_Duplicate(env, 1);
    rec->events = cJSON_CreateArray();
    if (rec->record == NULL) {
        cJSON_Delete(header);
        cJSON_Delete(copy);
        cJSON_Delete(rec->events);
        free(rec);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    add(rec->record, "header", header, &failed);
    if (header != NULL) {
        add(header, "executionId", cJSON_CreateString(rec->id), &failed);
        add(header, "createdUtcIso", cJSON_CreateString(created), &failed);
        add(header, "envelopeHash", cJSON_CreateString(hash), &failed);
        add(header, "replayable", cJSON_CreateTrue(), &failed);
        add(header, "replayableReason", cJSON_CreateNull(), &failed);
    }
    add(rec->record, "envelope", copy, &failed);
    add(rec->record, "routerDecision", cJSON_CreateNull(), &failed);
    add(rec->record, "events", rec->events, &failed);
    add(rec->record, "finalResponse", cJSON_CreateNull(), &failed);
    if (failed) {
        recorder_free(rec);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    return rec;
}

void
recorder_free(struct recorder *rec)
{
    if (rec == NULL)
        return;
    cJSON_Delete(rec->record);
    free(rec);
}

const char *
recorder_id(const struct recorder *rec)
{
    return rec->id;
}

int
recorder_event_at(struct recorder *rec, const char *type, cJSON *payload, int64_t mono_us)
{
    cJSON *ev = cJSON_CreateObject();
    char ts[CLOCK_ISO_LEN];
    int64_t offset = mono_us - rec->start_mono_us;
    int failed = 0;

    if (ev == NULL || payload == NULL) {
        cJSON_Delete(ev);
        cJSON_Delete(payload);
        return -1;
    }
    if (offset < 0)
        offset = 0;
    /* Wall time derived from the monotonic offset, so ts and offsetUs agree
     * even if the wall clock steps during the execution. */
    clock_format_iso(rec->start_wall_us + offset, ts);
    add(ev, "seq", cJSON_CreateNumber((double)rec->next_seq), &failed);
    add(ev, "type", cJSON_CreateString(type), &failed);
    add(ev, "payload", payload, &failed);
    add(ev, "ts", cJSON_CreateString(ts), &failed);
    add(ev, "offsetUs", cJSON_CreateNumber((double)offset), &failed);
    if (failed || !cJSON_AddItemToArray(rec->events, ev)) {
        cJSON_Delete(ev);
        return -1;
    }
    rec->next_seq++;
    return 0;
}

int
recorder_event(struct recorder *rec, const char *type, cJSON *payload)
{
    return recorder_event_at(rec, type, payload, clock_mono_us());
}

static int
set_top(struct recorder *rec, const char *key, const cJSON *value, const char *event)
{
    cJSON *a = cJSON_Duplicate(value, 1);
    cJSON *b = cJSON_Duplicate(value, 1);

    if (a == NULL || b == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(rec->record, key, a)) {
        cJSON_Delete(a);
        cJSON_Delete(b);
        return -1;
    }
    return recorder_event(rec, event, b);
}

int
recorder_decision(struct recorder *rec, const cJSON *decision)
{
    return set_top(rec, "routerDecision", decision, "ROUTER_DECISION");
}

int
recorder_final(struct recorder *rec, const cJSON *response)
{
    return set_top(rec, "finalResponse", response, "FINAL_RESPONSE");
}

const cJSON *
recorder_record(const struct recorder *rec)
{
    return rec->record;
}

cJSON *
recorder_take(struct recorder *rec)
{
    cJSON *t = rec->record;

    rec->record = NULL;
    rec->events = NULL;
    return t;
}

int
recorder_set_header(struct recorder *rec, const char *key, cJSON *value)
{
    cJSON *header = cJSON_GetObjectItemCaseSensitive(rec->record, "header");

    if (value == NULL || header == NULL) {
        cJSON_Delete(value);
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(header, key) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(header, key, value) ? 0 : -1;
    if (!cJSON_AddItemToObject(header, key, value)) {
        cJSON_Delete(value);
        return -1;
    }
    return 0;
}

int
recorder_set_key(struct recorder *rec, const char *key, cJSON *value)
{
    if (value == NULL || rec->record == NULL) {
        cJSON_Delete(value);
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(rec->record, key) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(rec->record, key, value) ? 0 : -1;
    if (!cJSON_AddItemToObject(rec->record, key, value)) {
        cJSON_Delete(value);
        return -1;
    }
    return 0;
}

/* ---- reading ---- */

static const cJSON *
get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

int
record_validate(const cJSON *rec, struct intentus_err *err)
{
    const cJSON *header, *v, *events, *ev;
    static const char *const header_strings[] = { "executionId", "createdUtcIso", "envelopeHash" };
    int i = 0;

    if (!cJSON_IsObject(rec)) {
        err_set(err, IERR_INVALID, "record: not a JSON object");
        return -1;
    }
    header = get(rec, "header");
    if (!cJSON_IsObject(header)) {
        err_set(err, IERR_INVALID, "header: missing or not an object");
        return -1;
    }
    for (size_t k = 0; k < 3; k++) {
        v = get(header, header_strings[k]);
        if (!cJSON_IsString(v)) {
            err_set(err, IERR_INVALID, "header.%s: missing or not a string", header_strings[k]);
            return -1;
        }
    }
    v = get(header, "replayable");
    if (v != NULL && !cJSON_IsBool(v) && !cJSON_IsNull(v)) {
        err_set(err, IERR_INVALID, "header.replayable: must be true or false");
        return -1;
    }
    if (!cJSON_IsObject(get(rec, "envelope"))) {
        err_set(err, IERR_INVALID, "envelope: missing or not an object");
        return -1;
    }
    v = get(rec, "routerDecision");
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsObject(v)) {
        err_set(err, IERR_INVALID, "routerDecision: must be an object or null");
        return -1;
    }
    v = get(rec, "finalResponse");
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsObject(v)) {
        err_set(err, IERR_INVALID, "finalResponse: must be an object or null");
        return -1;
    }
    events = get(rec, "events");
    if (events == NULL || cJSON_IsNull(events))
        return 0;
    if (!cJSON_IsArray(events)) {
        err_set(err, IERR_INVALID, "events: must be an array");
        return -1;
    }
    cJSON_ArrayForEach(ev, events)
    {
        if (!cJSON_IsObject(ev)) {
            err_set(err, IERR_INVALID, "events[%d]: not an object", i);
            return -1;
        }
        if (!cJSON_IsNumber(get(ev, "seq"))) {
            err_set(err, IERR_INVALID, "events[%d].seq: missing or not a number", i);
            return -1;
        }
        if (!cJSON_IsString(get(ev, "type"))) {
            err_set(err, IERR_INVALID, "events[%d].type: missing or not a string", i);
            return -1;
        }
        if (get(ev, "payload") == NULL) {
            err_set(err, IERR_INVALID, "events[%d].payload: missing", i);
            return -1;
        }
        i++;
    }
    return 0;
}

cJSON *
record_parse(const char *text, size_t len, struct intentus_err *err)
{
    cJSON *rec = json_parse(text, len, 0, err);

    if (rec == NULL)
        return NULL;
    if (record_validate(rec, err) != 0) {
        cJSON_Delete(rec);
        return NULL;
    }
    return rec;
}

int
record_verify_hash(const cJSON *rec, struct intentus_err *err)
{
    const char *want = json_get_string(get(rec, "header"), "envelopeHash");
    char got[65];

    if (want == NULL) {
        err_set(err, IERR_INVALID, "header.envelopeHash: missing");
        return -1;
    }
    if (json_canonical_sha256(get(rec, "envelope"), got, err) != 0) {
        err_prefix(err, "envelope");
        return -1;
    }
    if (strcmp(want, got) != 0) {
        err_set(err, IERR_VERIFY,
                "envelopeHash mismatch: header has %.12s…, envelope hashes to %.12s…", want, got);
        return -1;
    }
    return 0;
}

const char *
record_id(const cJSON *rec)
{
    return json_get_string(get(rec, "header"), "executionId");
}

const char *
record_status_name(enum record_status s)
{
    switch (s) {
    case RECORD_OK:
        return "ok";
    case RECORD_ERROR:
        return "error";
    default:
        return "incomplete";
    }
}

/* NOLINTBEGIN(misc-no-recursion): bounded by its depth argument. */
/* True when a string value anywhere under v is exactly "[REDACTED]" (what
 * the reference's docs and intentus's redaction write by default). */
static bool
has_redaction(const cJSON *v, int depth)
{
    const cJSON *c;

    if (cJSON_IsString(v))
        return v->valuestring != NULL && strcmp(v->valuestring, "[REDACTED]") == 0;
    if (depth > 64 || !(cJSON_IsObject(v) || cJSON_IsArray(v)))
        return false;
    cJSON_ArrayForEach(c, v)
    {
        if (has_redaction(c, depth + 1))
            return true;
    }
    return false;
}
/* NOLINTEND(misc-no-recursion) */

void
record_summarize(const cJSON *rec, struct record_summary *out)
{
    const cJSON *header = get(rec, "header"), *env = get(rec, "envelope");
    const cJSON *decision = get(rec, "routerDecision"), *final = get(rec, "finalResponse");
    const cJSON *events = get(rec, "events"), *ev;
    int64_t first = -1, last = -1;

    memset(out, 0, sizeof(*out));
    out->id = json_get_string(header, "executionId");
    out->created = json_get_string(header, "createdUtcIso");
    if (out->created == NULL || clock_parse_iso(out->created, &out->created_us) != 0)
        out->created_us = 0;
    out->intent = json_get_string(get(env, "intent"), "name");
    out->strategy = json_get_string(get(env, "routing"), "strategy");
    if (out->strategy == NULL)
        out->strategy = "direct";
    out->agent = json_get_string(decision, "agent");
    if (out->agent == NULL)
        out->agent = json_get_string(get(final, "metadata"), "agent");
    out->replayable = !cJSON_IsFalse(get(header, "replayable"));
    out->node = json_get_string(header, "nodeId");
    if (out->node == NULL)
        out->node = json_get_string(decision, "nodeId");
    if (out->node == NULL)
        out->node = json_get_string(get(final, "metadata"), "nodeId");
    out->redacted = cJSON_IsTrue(get(header, "redacted")) ||
                    cJSON_IsTrue(get(get(header, "redaction"), "applied")) || has_redaction(rec, 0);
    if (!cJSON_IsObject(final)) {
        out->status = RECORD_INCOMPLETE;
    } else {
        const cJSON *err = get(final, "error");
        if (err != NULL && !cJSON_IsNull(err)) {
            out->status = RECORD_ERROR;
            out->error_code = json_get_string(err, "code");
            out->error_message = json_get_string(err, "message");
            if (out->error_code == NULL)
                out->error_code = "UNKNOWN";
        } else {
            out->status = RECORD_OK;
        }
    }
    out->duration_us = -1;
    cJSON_ArrayForEach(ev, events)
    {
        const cJSON *off = get(ev, "offsetUs");
        const char *type = json_get_string(ev, "type");
        out->events++;
        if (type != NULL && strcmp(type, "AGENT_ATTEMPT_START") == 0) {
            const cJSON *n = get(get(ev, "payload"), "attempt");
            out->attempts++;
            if (cJSON_IsNumber(n) && n->valuedouble > 1)
                out->retries++;
        }
        /* An offset no int64_t can hold (1e400 parses as inf) counts as absent. */
        if (cJSON_IsNumber(off) && off->valuedouble > -9223372036854775808.0 &&
            off->valuedouble < 9223372036854775808.0) {
            if (first < 0)
                first = (int64_t)off->valuedouble;
            last = (int64_t)off->valuedouble;
        }
    }
    if (first >= 0) {
        out->duration_us = last;
    } else if (out->created_us > 0) {
        /* Reference records carry no event timing; the response timestamp
         * against the header's creation time is the best estimate. */
        const char *done = json_get_string(get(final, "metadata"), "timestamp");
        int64_t done_us;
        if (done != NULL && clock_parse_iso(done, &done_us) == 0 && done_us >= out->created_us)
            out->duration_us = done_us - out->created_us;
    }
}
