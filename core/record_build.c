#include "core/record_build.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/text_pool.h"
#include "core/thread_slot.h"

struct record_build {
    struct buf out;    /* header, envelope; then, at the finish, the whole text */
    struct buf events; /* the event objects, each "\n    {...}" after a "," */
    long next_seq;
    int64_t start_mono_us, start_wall_us;
    bool finished;
    char ts[CLOCK_ISO_LEN];
    char id[UUID_STR_LEN];
    char hash[65];
    char *parent_id; /* parentExecutionId; NULL: none */
    /* The envelope's payload as printed (at level 2) into out: its first
     * member, and where its text sits. A response whose payload is that
     * same member list (the echo's borrowed payload) copies the text. */
    const cJSON *payload_child;
    size_t payload_at, payload_len;
};

/* ---- objects ---- */

void
rec_obj_begin(struct rec_obj *o, struct buf *b, int level)
{
    o->b = b;
    o->level = level;
    o->n = 0;
    BUF_PUT_LIT(b, "{");
}

/* [","] newline, indentation: what comes before each member. */
static inline void
member_start(struct rec_obj *o)
{
    if (o->n++ > 0)
        BUF_PUT_LIT(o->b, ",");
    buf_put_newline_indent(o->b, o->level + 1);
}

/* A member whose key is data (an envelope's): escaped as printed. */
static void
member(struct rec_obj *o, const char *key)
{
    member_start(o);
    json_print_string(key, o->b);
    BUF_PUT_LIT(o->b, ": ");
}

/* A member whose key is one of the code's literals (REC_KEY). */
static inline void
member_q(struct rec_obj *o, const char *qkey, size_t qlen)
{
    member_start(o);
    buf_put_fast(o->b, qkey, qlen);
}

void
rec_obj_str_q(struct rec_obj *o, const char *qkey, size_t qlen, const char *value)
{
    member_q(o, qkey, qlen);
    json_print_string(value != NULL ? value : "", o->b);
}

void
rec_obj_int_q(struct rec_obj *o, const char *qkey, size_t qlen, int64_t value)
{
    member_q(o, qkey, qlen);
    buf_put_int64(o->b, value);
}

void
rec_obj_bool_q(struct rec_obj *o, const char *qkey, size_t qlen, bool value)
{
    member_q(o, qkey, qlen);
    if (value)
        BUF_PUT_LIT(o->b, "true");
    else
        BUF_PUT_LIT(o->b, "false");
}

int
rec_obj_json_q(struct rec_obj *o, const char *qkey, size_t qlen, const cJSON *value)
{
    member_q(o, qkey, qlen);
    if (value == NULL) {
        BUF_PUT_LIT(o->b, "null");
        return 0;
    }
    if (json_print_pretty_at(value, o->level + 1, o->b) != 0) {
        o->b->failed = 1;
        return -1;
    }
    return 0;
}

void
rec_obj_end(struct rec_obj *o)
{
    if (o->n > 0)
        buf_put_newline_indent(o->b, o->level);
    BUF_PUT_LIT(o->b, "}");
}

/* ---- buffers kept per thread ---- */

/* The buffers of the last record freed on a thread (its text, its events
 * and its final response's side buffer) wait there for its next record:
 * allocating them afresh (4 KB, 2 KB and the response's size) right after an
 * execution's many small frees made malloc consolidate its fast bins on
 * every record. Buffers larger than CACHE_KEEP are not kept; a thread's
 * are freed when it exits. */
#define CACHE_KEEP ((size_t)64 * 1024)
struct rb_cache {
    struct buf out, events, final;
    struct record_build *spare; /* the last record's builder itself, zeroed */
};

static void *
cache_make(void)
{
    return calloc(1, sizeof(struct rb_cache));
}

static void
cache_destroy(void *p)
{
    struct rb_cache *c = p;

    buf_free(&c->out);
    buf_free(&c->events);
    buf_free(&c->final);
    free(c->spare);
    free(c);
}

static struct thread_slot cache_slot = THREAD_SLOT(cache_make, cache_destroy);

static struct rb_cache *
cache_get(void)
{
    return thread_slot_get(&cache_slot);
}

/* Hand a kept buffer to *b (empty), if there is one. */
static void
cache_take(struct buf *kept, struct buf *b)
{
    if (kept->data == NULL)
        return;
    *b = *kept;
    buf_init(kept);
    buf_reset(b);
}

/* Keep *b for the next record if the slot is free and b is worth it. */
static void
cache_keep(struct buf *slot, struct buf *b)
{
    if (slot->data == NULL && b->data != NULL && !b->failed && b->cap <= CACHE_KEEP) {
        *slot = *b;
        buf_init(b);
    }
}

/* ---- the envelope's payload, printed once ---- */

/* A borrowed payload (core/model.h response_success_borrowing: an object
 * reference to the envelope payload's own members) is the envelope's
 * payload itself, at the same level in finalResponse as in the envelope,
 * so its text is the envelope's. The reference flag and the first member
 * identify it: the envelope outlives its execution and its payload is not
 * changed while it runs, which the borrowing response relies on too. */
static bool
is_envelope_payload(const struct record_build *rb, const cJSON *v)
{
    return rb->payload_child != NULL && cJSON_IsObject(v) && (v->type & cJSON_IsReference) != 0 &&
           v->child == rb->payload_child;
}

/* A top-level object (envelope or final response) at level 1, as
 * json_print_pretty_at prints it, member by member: the envelope notes
 * where its payload's text went; a response copies it for a borrowed
 * payload. -1 when the tree cannot be printed or memory ran out. */
static int
print_top(struct record_build *rb, struct buf *b, const cJSON *v, bool is_envelope)
{
    struct rec_obj o;

    if (!cJSON_IsObject(v) || v->child == NULL)
        return json_print_pretty_at(v, 1, b);
    rec_obj_begin(&o, b, 1);
    for (const cJSON *c = v->child; c != NULL; c = c->next) {
        size_t at;
        if (c->string == NULL)
            return -1;
        member(&o, c->string);
        at = b->len;
        if (!is_envelope && is_envelope_payload(rb, c)) {
            buf_append(b, rb->out.data + rb->payload_at, rb->payload_len);
            continue;
        }
        if (json_print_pretty_at(c, 2, b) != 0)
            return -1;
        if (is_envelope && cJSON_IsObject(c) && c->child != NULL &&
            strcmp(c->string, "payload") == 0) {
            rb->payload_child = c->child;
            rb->payload_at = at;
            rb->payload_len = b->len - at;
        }
    }
    rec_obj_end(&o);
    return b->failed ? -1 : 0;
}

/* ---- the record ---- */

struct record_build *
record_build_new(const cJSON *env, const struct record_build_opts *opts, struct intentus_err *err)
{
    struct rb_cache *c = cache_get();
    struct record_build *rb = NULL;
    char created[CLOCK_ISO_LEN];
    struct rec_obj h;

    /* The builder of this thread's last record, if it left one. */
    if (c != NULL && c->spare != NULL) {
        rb = c->spare;
        c->spare = NULL;
    } else {
        rb = calloc(1, sizeof(*rb));
    }
    if (rb == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (opts != NULL && opts->hash != NULL && opts->hash[0] != '\0') {
        memcpy(rb->hash, opts->hash, sizeof(rb->hash) - 1);
    } else if (json_canonical_sha256(env, rb->hash, err) != 0) {
        err_prefix(err, "envelope hash");
        free(rb);
        return NULL;
    }
    if (opts != NULL && opts->parent_execution_id != NULL &&
        (rb->parent_id = strdup(opts->parent_execution_id)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        free(rb);
        return NULL;
    }
    rb->start_mono_us = clock_mono_us();
    rb->start_wall_us = clock_wall_us();
    rb->next_seq = 1;
    uuid_v7(rb->start_wall_us / 1000, rb->id);
    if (c != NULL) {
        cache_take(&c->out, &rb->out);
        cache_take(&c->events, &rb->events);
    }
    /* The last text went to an async writer: one it has written instead. */
    if (rb->out.data == NULL)
        text_pool_take(&rb->out);
    clock_format_iso(rb->start_wall_us, rb->ts);
    memcpy(created, rb->ts, sizeof(created));
    /* A DIRECT record is about 4 KB; one reservation for most of it. */
    buf_reserve(&rb->out, 4096);
    buf_reserve(&rb->events, 2048);
    BUF_PUT_LIT(&rb->out, "{\n  \"header\": ");
    rec_obj_begin(&h, &rb->out, 1);
    rec_obj_str(&h, "executionId", rb->id);
    rec_obj_str(&h, "createdUtcIso", created);
    rec_obj_str(&h, "envelopeHash", rb->hash);
    rec_obj_bool(&h, "replayable", true);
    member(&h, "replayableReason");
    BUF_PUT_LIT(&rb->out, "null");
    if (opts != NULL && opts->original_hash != NULL)
        rec_obj_str(&h, "originalEnvelopeHash", opts->original_hash);
    rec_obj_end(&h);
    BUF_PUT_LIT(&rb->out, ",\n  \"envelope\": ");
    if (print_top(rb, &rb->out, env, true) != 0 || rb->out.failed) {
        err_set(err, IERR_NOMEM, "out of memory serialising the envelope");
        record_build_free(rb);
        return NULL;
    }
    return rb;
}

void
record_build_free(struct record_build *rb)
{
    struct rb_cache *c;

    if (rb == NULL)
        return;
    if ((c = cache_get()) != NULL) {
        cache_keep(&c->out, &rb->out);
        cache_keep(&c->events, &rb->events);
    }
    buf_free(&rb->out);
    buf_free(&rb->events);
    free(rb->parent_id);
    if (c != NULL && c->spare == NULL) {
        memset(rb, 0, sizeof(*rb));
        c->spare = rb;
        return;
    }
    free(rb);
}

const char *
record_build_id(const struct record_build *rb)
{
    return rb->id;
}

int64_t
record_build_started_us(const struct record_build *rb)
{
    return rb->start_mono_us;
}

const char *
record_build_hash(const struct record_build *rb)
{
    return rb->hash;
}

struct buf *
record_build_event_begin(struct record_build *rb, const char *type)
{
    struct buf *b = &rb->events;

    if (rb->next_seq > 1)
        BUF_PUT_LIT(b, ",");
    BUF_PUT_LIT(b, "\n    {\n      \"seq\": ");
    buf_put_int64(b, rb->next_seq++);
    BUF_PUT_LIT(b, ",\n      \"type\": ");
    json_print_string(type, b);
    BUF_PUT_LIT(b, ",\n      \"payload\": ");
    return b;
}

void
record_build_event_end(struct record_build *rb, int64_t mono_us)
{
    struct buf *b = &rb->events;
    int64_t offset = mono_us - rb->start_mono_us;

    if (offset < 0)
        offset = 0;
    /* Wall time derived from the monotonic offset, so ts and offsetUs agree
     * even if the wall clock steps during the execution. */
    clock_format_iso(rb->start_wall_us + offset, rb->ts);
    BUF_PUT_LIT(b, ",\n      \"ts\": \"");
    buf_put_fast(b, rb->ts, strlen(rb->ts));
    BUF_PUT_LIT(b, "\",\n      \"offsetUs\": ");
    buf_put_int64(b, offset);
    BUF_PUT_LIT(b, "\n    }");
}

void
record_build_event_text(struct record_build *rb, const char *type, const char *payload, size_t len,
                        int64_t mono_us)
{
    buf_append(record_build_event_begin(rb, type), payload, len);
    record_build_event_end(rb, mono_us);
}

/* Pretty text printed at level 1, as it reads at level 3: two more
 * indentation steps after every newline (a newline in pretty JSON is
 * always layout; newlines inside strings are escaped). Cheaper than
 * printing the tree again. */
static void
reindent(struct buf *b, const char *text, size_t len)
{
    const char *end = text + len;
    char *p;

    /* Every newline is followed by at least two spaces and a byte, so at
     * most len / 4 of them: four more bytes each. */
    if (buf_reserve(b, len + len) != 0)
        return;
    p = b->data + b->len;
    while (text < end) {
        const char *nl = memchr(text, '\n', (size_t)(end - text));
        size_t n = (size_t)((nl != NULL ? nl + 1 : end) - text);
        memcpy(p, text, n);
        p += n;
        text += n;
        if (nl != NULL) {
            memcpy(p, "    ", 4);
            p += 4;
        }
    }
    *p = '\0';
    b->len = (size_t)(p - b->data);
}

/* A top-level value (routerDecision, finalResponse) into the record at
 * level 1, and the same as the payload of its event. */
static void
tree_value(struct record_build *rb, const char *type, const cJSON *v, int64_t now)
{
    struct buf *o = &rb->out, *b;
    size_t at = o->len;

    if (json_print_pretty_at(v, 1, o) != 0) {
        o->failed = 1;
        return;
    }
    b = record_build_event_begin(rb, type);
    reindent(b, o->data + at, o->len - at);
    record_build_event_end(rb, now);
}

/* The decision as decision_new's tree prints at level 1, and its event. */
static void
decision_value(struct record_build *rb, const struct rec_decision *d, int64_t now)
{
    struct buf *o = &rb->out, *b;
    size_t at = o->len;
    struct rec_obj obj;

    rec_obj_begin(&obj, o, 1);
    rec_obj_str(&obj, "agent", d->agent);
    rec_obj_str(&obj, "intent", d->intent);
    rec_obj_str(&obj, "reason", d->reason);
    rec_obj_str(&obj, "timestamp", d->timestamp);
    rec_obj_end(&obj);
    b = record_build_event_begin(rb, "ROUTER_DECISION");
    reindent(b, o->data + at, o->len - at);
    record_build_event_end(rb, now);
}

static int finish(struct record_build *rb, const cJSON *tree, const struct rec_decision *values,
                  const cJSON *response, int retries);

int
record_build_finish(struct record_build *rb, const cJSON *decision, const cJSON *response,
                    int retries)
{
    return finish(rb, decision, NULL, response, retries);
}

int
record_build_finish_values(struct record_build *rb, const struct rec_decision *decision,
                           const cJSON *response, int retries)
{
    return finish(rb, NULL, decision, response, retries);
}

/* tree or values is the decision (both NULL: none). */
static int
finish(struct record_build *rb, const cJSON *tree, const struct rec_decision *values,
       const cJSON *response, int retries)
{
    struct buf *o = &rb->out;
    struct buf final = BUF_INIT;
    struct rb_cache *c = cache_get();
    struct rec_obj rm;
    /* The decision and the final response are both the execution's end:
     * one clock read for their two events. */
    int64_t now = clock_mono_us();

    if (c != NULL)
        cache_take(&c->final, &final);
    /* The events come before finalResponse in the text but the response is
     * printed once: into a side buffer, then its event, then spliced. */
    buf_reserve(o, rb->events.len + 2048);
    BUF_PUT_LIT(o, ",\n  \"routerDecision\": ");
    if (tree != NULL)
        tree_value(rb, "ROUTER_DECISION", tree, now);
    else if (values != NULL)
        decision_value(rb, values, now);
    else
        BUF_PUT_LIT(o, "null");
    if (response == NULL || print_top(rb, &final, response, false) != 0)
        final.failed = 1;
    else
        reindent(record_build_event_begin(rb, "FINAL_RESPONSE"), final.data, final.len);
    record_build_event_end(rb, now);
    BUF_PUT_LIT(o, ",\n  \"events\": [");
    buf_append(o, rb->events.data, rb->events.len);
    BUF_PUT_LIT(o, "\n  ]");
    BUF_PUT_LIT(o, ",\n  \"finalResponse\": ");
    buf_append(o, final.data, final.len);
    if (rb->parent_id != NULL) {
        BUF_PUT_LIT(o, ",\n  \"parentExecutionId\": ");
        json_print_string(rb->parent_id, o);
    }
    BUF_PUT_LIT(o, ",\n  \"routingMetadata\": ");
    rec_obj_begin(&rm, o, 1);
    rec_obj_int(&rm, "retries", retries);
    rec_obj_end(&rm);
    BUF_PUT_LIT(o, "\n}");
    rb->finished = true;
    if (o->failed || rb->events.failed || final.failed) {
        buf_free(&final);
        return -1;
    }
    /* The events and the response are in the text now: their buffers wait
     * for the next record. */
    if (c != NULL) {
        cache_keep(&c->final, &final);
        cache_keep(&c->events, &rb->events);
    }
    buf_free(&final);
    buf_free(&rb->events);
    return 0;
}

const char *
record_build_text(const struct record_build *rb, size_t *len)
{
    *len = rb->out.len;
    return buf_str(&rb->out);
}

char *
record_build_take_text(struct record_build *rb, size_t *len)
{
    *len = rb->out.len;
    return buf_take(&rb->out);
}

cJSON *
record_build_tree(const struct record_build *rb, struct intentus_err *err)
{
    /* The record nests the envelope one level and an echoed payload up to
     * four levels deeper than the envelope's own limit. */
    return json_parse(buf_str(&rb->out), rb->out.len, JSON_DEFAULT_MAX_DEPTH + 8, err);
}
