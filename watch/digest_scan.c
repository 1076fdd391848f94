#include "watch/digest_scan.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"

/* Deeper than this the cJSON path's redaction search stops looking: unsure. */
#define SCAN_MAX_DEPTH 64
/* Repeated keys are found by comparing each key with the earlier ones. */
#define SCAN_MAX_KEYS 64
#define INT64_LIMIT 9223372036854775808.0

enum kind { K_ABSENT, K_STR, K_NUM, K_TRUE, K_FALSE, K_NULL, K_OBJ, K_ARR };

/* Where an object sits in a record: says which of its keys are kept. */
enum ctx {
    C_SKIP,
    C_ROOT,
    C_HEADER,
    C_REDACTION,
    C_ENV,
    C_INTENT,
    C_ROUTING,
    C_DECISION,
    C_FINAL,
    C_FMETA,
    C_FERROR,
    C_EVENTS, /* the array root.events: its elements are events */
    C_EVENT,
    C_PAYLOAD,
    C_PERROR,
};

/* The values kept: the record's, then one event's (reset per event). */
enum slot {
    S_HEADER,
    S_ENVELOPE,
    S_DECISION,
    S_FINAL,
    S_EVENTS,
    S_EXEC_ID,
    S_CREATED,
    S_HASH,
    S_REPLAYABLE,
    S_H_NODE,
    S_H_REDACTED,
    S_H_REDACTION,
    S_R_APPLIED,
    S_INTENT,
    S_ROUTING,
    S_INTENT_NAME,
    S_STRATEGY,
    S_D_AGENT,
    S_D_NODE,
    S_F_META,
    S_F_ERROR,
    S_M_AGENT,
    S_M_NODE,
    S_M_TS,
    S_E_CODE,
    S_E_MSG,
    S_EV_SEQ, /* first per-event slot */
    S_EV_TYPE,
    S_EV_PAYLOAD,
    S_EV_OFFSET,
    S_P_AGENT,
    S_P_ATTEMPT,
    S_P_STATUS,
    S_P_ERROR,
    S_P_ERRORCODE,
    S_P_ERROR_CODE,
    S_P_TO,
    S_P_STATE,
    S_PE_CODE,
    S_COUNT,
};

struct field {
    uint8_t ctx, slot, child;
    const char *key;
};

static const struct field FIELDS[] = {
    { C_ROOT, S_HEADER, C_HEADER, "header" },
    { C_ROOT, S_ENVELOPE, C_ENV, "envelope" },
    { C_ROOT, S_DECISION, C_DECISION, "routerDecision" },
    { C_ROOT, S_FINAL, C_FINAL, "finalResponse" },
    { C_ROOT, S_EVENTS, C_EVENTS, "events" },
    { C_HEADER, S_EXEC_ID, C_SKIP, "executionId" },
    { C_HEADER, S_CREATED, C_SKIP, "createdUtcIso" },
    { C_HEADER, S_HASH, C_SKIP, "envelopeHash" },
    { C_HEADER, S_REPLAYABLE, C_SKIP, "replayable" },
    { C_HEADER, S_H_NODE, C_SKIP, "nodeId" },
    { C_HEADER, S_H_REDACTED, C_SKIP, "redacted" },
    { C_HEADER, S_H_REDACTION, C_REDACTION, "redaction" },
    { C_REDACTION, S_R_APPLIED, C_SKIP, "applied" },
    { C_ENV, S_INTENT, C_INTENT, "intent" },
    { C_ENV, S_ROUTING, C_ROUTING, "routing" },
    { C_INTENT, S_INTENT_NAME, C_SKIP, "name" },
    { C_ROUTING, S_STRATEGY, C_SKIP, "strategy" },
    { C_DECISION, S_D_AGENT, C_SKIP, "agent" },
    { C_DECISION, S_D_NODE, C_SKIP, "nodeId" },
    { C_FINAL, S_F_META, C_FMETA, "metadata" },
    { C_FINAL, S_F_ERROR, C_FERROR, "error" },
    { C_FMETA, S_M_AGENT, C_SKIP, "agent" },
    { C_FMETA, S_M_NODE, C_SKIP, "nodeId" },
    { C_FMETA, S_M_TS, C_SKIP, "timestamp" },
    { C_FERROR, S_E_CODE, C_SKIP, "code" },
    { C_FERROR, S_E_MSG, C_SKIP, "message" },
    { C_EVENT, S_EV_SEQ, C_SKIP, "seq" },
    { C_EVENT, S_EV_TYPE, C_SKIP, "type" },
    { C_EVENT, S_EV_PAYLOAD, C_PAYLOAD, "payload" },
    { C_EVENT, S_EV_OFFSET, C_SKIP, "offsetUs" },
    { C_PAYLOAD, S_P_AGENT, C_SKIP, "agent" },
    { C_PAYLOAD, S_P_ATTEMPT, C_SKIP, "attempt" },
    { C_PAYLOAD, S_P_STATUS, C_SKIP, "status" },
    { C_PAYLOAD, S_P_ERROR, C_PERROR, "error" },
    { C_PAYLOAD, S_P_ERRORCODE, C_SKIP, "errorCode" },
    { C_PAYLOAD, S_P_ERROR_CODE, C_SKIP, "error_code" },
    { C_PAYLOAD, S_P_TO, C_SKIP, "to" },
    { C_PAYLOAD, S_P_STATE, C_SKIP, "state" },
    { C_PERROR, S_PE_CODE, C_SKIP, "code" },
};

struct val {
    uint8_t kind; /* enum kind */
    size_t off;   /* K_STR: the decoded text in the arena */
    double num;   /* K_NUM */
};

#define CODE_NONE SIZE_MAX
#define CODE_AGENT_ERROR (SIZE_MAX - 1)

struct tstep {
    size_t agent, code; /* arena offsets, or CODE_NONE / CODE_AGENT_ERROR */
    int64_t latency_us;
    uint8_t kind, is_retry;
};

struct topen {
    size_t agent;
    int64_t offset;
    int is_retry;
};

struct sp {
    const unsigned char *s;
    size_t len, pos;
    int depth;
    bool unsure, nomem, redacted;
    struct buf arena; /* kept strings, each NUL-terminated */
    struct buf tmp;   /* decoding an escaped string that is not kept */
    struct val v[S_COUNT];
    /* events, as digest.c walks them */
    int events, attempts, retries;
    int64_t first_off, last_off, first_event_off;
    struct tstep *steps;
    size_t n_steps, cap_steps;
    struct topen *open;
    size_t n_open, cap_open;
    long last_fail;
    bool last_fail_has_code;
};

/* A string byte copied as is; anything else ends the run for a closer look. */
static bool
is_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Eight plain bytes at s (word at a time: no byte >= 0x80, < 0x20, '"' or
 * '\\'). */
static bool
plain8(const unsigned char *s)
{
    uint64_t v, q, b;

    memcpy(&v, s, 8);
    q = v ^ (ONES * '"');
    b = v ^ (ONES * '\\');
    return ((v | ((v - ONES * 0x20) & ~v) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS) == 0;
}

static bool
is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
skip_ws(struct sp *p)
{
    while (p->pos < p->len && is_ws(p->s[p->pos]))
        p->pos++;
}

static int
unsure(struct sp *p)
{
    p->unsure = true;
    return -1;
}

static long
hex4(const unsigned char *s)
{
    long v = 0;

    for (int i = 0; i < 4; i++) {
        unsigned char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* As json.c stores code points: U+0000 as C0 80, lone surrogates as 3 bytes. */
static void
put_code_point(struct buf *b, unsigned long cp)
{
    static const unsigned char lead[] = { 0, 0, 0xc0, 0xe0, 0xf0 };
    unsigned char u[4];
    size_t n = cp == 0 ? 2 : cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

    if (n == 1) {
        buf_putc(b, (char)cp);
        return;
    }
    for (size_t i = n - 1; i > 0; i--) {
        u[i] = (unsigned char)(0x80 | (cp & 0x3f));
        cp >>= 6;
    }
    u[0] = (unsigned char)(lead[n] | cp);
    buf_append(b, u, n);
}

/* Decode the already checked string body s[from, to) with escapes into b. */
static void
decode(const unsigned char *s, size_t from, size_t to, struct buf *b)
{
    static const char esc_from[] = "\"\\/bfnrt", esc_to[] = "\"\\/\b\f\n\r\t";
    size_t i = from;

    while (i < to) {
        size_t run = i;
        long cp;
        while (run < to && s[run] != '\\')
            run++;
        buf_append(b, s + i, run - i);
        i = run;
        if (i >= to)
            break;
        if (s[i + 1] != 'u') {
            buf_putc(b, esc_to[strchr(esc_from, s[i + 1]) - esc_from]);
            i += 2;
            continue;
        }
        cp = hex4(s + i + 2);
        i += 6;
        if (cp >= 0xd800 && cp <= 0xdbff && to - i >= 6 && s[i] == '\\' && s[i + 1] == 'u') {
            long lo = hex4(s + i + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            }
        }
        put_code_point(b, (unsigned long)cp);
    }
}

/* The string at p->pos (its '"'): checked as json.c checks it. Kept (into
 * the arena, *off) when off is non-NULL. Every string value is compared
 * with "[REDACTED]", as record_summarize does. */
static int
scan_string(struct sp *p, size_t *off, bool is_key, size_t *key_len)
{
    const unsigned char *s = p->s;
    size_t start = ++p->pos, i = start;
    bool escaped = false;

    for (;;) {
        unsigned char c;
        while (i + 8 <= p->len && plain8(s + i))
            i += 8;
        while (i < p->len && is_plain(s[i]))
            i++;
        if (i >= p->len)
            return unsure(p);
        c = s[i];
        if (c == '"')
            break;
        if (c == '\\') {
            if (i + 1 >= p->len)
                return unsure(p);
            c = s[i + 1];
            if (c == 'u') {
                if (p->len - i < 6 || hex4(s + i + 2) < 0)
                    return unsure(p);
                i += 6;
            } else if (c != '\0' && strchr("\"\\/bfnrt", c) != NULL) {
                i += 2;
            } else {
                return unsure(p);
            }
            escaped = true;
            continue;
        }
        if (c < 0x20)
            return unsure(p);
        {
            size_t n = json_utf8_len(s + i, p->len - i);
            if (n == 0)
                return unsure(p);
            i += n;
        }
    }
    p->pos = i + 1;
    if (is_key) {
        *key_len = i - start;
        return escaped ? unsure(p) : 0; /* repeated keys are compared raw */
    }
    if (off != NULL) {
        *off = p->arena.len;
        if (escaped)
            decode(s, start, i, &p->arena);
        else
            buf_append(&p->arena, s + start, i - start);
        buf_putc(&p->arena, '\0');
        if (p->arena.failed) {
            p->nomem = true;
            return -1;
        }
        if (strcmp((const char *)p->arena.data + *off, "[REDACTED]") == 0)
            p->redacted = true;
    } else if (!escaped) {
        if (i - start == 10 && memcmp(s + start, "[REDACTED]", 10) == 0)
            p->redacted = true;
    } else if (i - start <= 64) {
        buf_reset(&p->tmp);
        decode(s, start, i, &p->tmp);
        buf_putc(&p->tmp, '\0');
        if (p->tmp.failed) {
            p->nomem = true;
            return -1;
        }
        if (strcmp((const char *)p->tmp.data, "[REDACTED]") == 0)
            p->redacted = true;
    }
    return 0;
}

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* A number in json.c's grammar; its value (as json_strtod gives it) when
 * want is set. */
static int
scan_number(struct sp *p, double *out, bool want)
{
    const unsigned char *s = p->s;
    size_t start = p->pos, i = p->pos;
    bool is_int = true;

    if (s[i] == '-')
        i++;
    if (i >= p->len || !is_digit(s[i]))
        return unsure(p);
    if (s[i] == '0') {
        i++;
        if (i < p->len && is_digit(s[i]))
            return unsure(p);
    } else {
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    if (i < p->len && s[i] == '.') {
        is_int = false;
        if (++i >= p->len || !is_digit(s[i]))
            return unsure(p);
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        is_int = false;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || !is_digit(s[i]))
            return unsure(p);
        while (i < p->len && is_digit(s[i]))
            i++;
    }
    p->pos = i;
    if (!want)
        return 0;
    if (is_int && i - start - (s[start] == '-') <= 15) {
        /* Up to 15 digits: exact in a double, as strtod gives it. */
        bool neg = s[start] == '-';
        int64_t v = 0;
        for (size_t k = start + neg; k < i; k++)
            v = v * 10 + (s[k] - '0');
        *out = neg ? (v == 0 ? -0.0 : -(double)v) : (double)v;
        return 0;
    }
    if (i - start >= 128)
        return unsure(p);
    {
        char text[128];
        memcpy(text, s + start, i - start);
        text[i - start] = '\0';
        *out = json_strtod(text);
    }
    return 0;
}

static const char *
str_at(const struct sp *p, size_t off)
{
    return (const char *)p->arena.data + off;
}

static const char *
slot_str(const struct sp *p, int slot)
{
    return p->v[slot].kind == K_STR ? str_at(p, p->v[slot].off) : NULL;
}

static int64_t
ev_offset(const struct sp *p)
{
    const struct val *v = &p->v[S_EV_OFFSET];

    return v->kind == K_NUM && v->num >= 0 && v->num < INT64_LIMIT ? (int64_t)v->num : -1;
}

static int
push_step(struct sp *p, const struct tstep *st)
{
    if (p->n_steps == p->cap_steps) {
        size_t ncap = p->cap_steps ? p->cap_steps * 2 : 8;
        struct tstep *n = realloc(p->steps, ncap * sizeof(*n));
        if (n == NULL) {
            p->nomem = true;
            return -1;
        }
        p->steps = n;
        p->cap_steps = ncap;
    }
    p->steps[p->n_steps++] = *st;
    return 0;
}

static int
push_open(struct sp *p, const struct topen *o)
{
    if (p->n_open == p->cap_open) {
        size_t ncap = p->cap_open ? p->cap_open * 2 : 8;
        struct topen *n = realloc(p->open, ncap * sizeof(*n));
        if (n == NULL) {
            p->nomem = true;
            return -1;
        }
        p->open = n;
        p->cap_open = ncap;
    }
    p->open[p->n_open++] = *o;
    return 0;
}

/* An AGENT_ATTEMPT_END: pair it with the latest open START of its agent. */
static int
attempt_end(struct sp *p, size_t agent)
{
    const char *status = slot_str(p, S_P_STATUS), *name = str_at(p, agent);
    struct tstep st = { .agent = agent, .code = CODE_NONE, .latency_us = -1 };
    int64_t end = ev_offset(p);

    for (size_t i = p->n_open; i-- > 0;) {
        if (strcmp(str_at(p, p->open[i].agent), name) != 0)
            continue;
        if (end >= 0 && p->open[i].offset >= 0 && end >= p->open[i].offset)
            st.latency_us = end - p->open[i].offset;
        st.is_retry = (uint8_t)p->open[i].is_retry;
        memmove(&p->open[i], &p->open[i + 1], (p->n_open - i - 1) * sizeof(*p->open));
        p->n_open--;
        break;
    }
    if (status != NULL && strcmp(status, "ok") == 0) {
        st.kind = DIGEST_STEP_OK;
    } else {
        int code = p->v[S_PE_CODE].kind == K_STR        ? S_PE_CODE
                   : p->v[S_P_ERRORCODE].kind == K_STR  ? S_P_ERRORCODE
                   : p->v[S_P_ERROR_CODE].kind == K_STR ? S_P_ERROR_CODE
                                                        : -1;
        st.kind = DIGEST_STEP_FAIL;
        st.code = code >= 0 ? p->v[code].off : CODE_AGENT_ERROR;
        p->last_fail = (long)p->n_steps;
        p->last_fail_has_code = code >= 0;
    }
    return push_step(p, &st);
}

/* One event object ended: what record_validate, record_summarize and
 * digest.c's step walk take from it. */
static int
event_done(struct sp *p)
{
    const struct val *off = &p->v[S_EV_OFFSET], *attempt = &p->v[S_P_ATTEMPT];
    const char *type = slot_str(p, S_EV_TYPE), *agent = slot_str(p, S_P_AGENT);
    bool is_retry = attempt->kind == K_NUM && attempt->num > 1;

    if (p->v[S_EV_SEQ].kind != K_NUM || type == NULL || p->v[S_EV_PAYLOAD].kind == K_ABSENT)
        return unsure(p);
    if (p->events++ == 0)
        p->first_event_off = ev_offset(p);
    if (strcmp(type, "AGENT_ATTEMPT_START") == 0) {
        p->attempts++;
        if (is_retry)
            p->retries++;
    }
    if (off->kind == K_NUM && off->num > -INT64_LIMIT && off->num < INT64_LIMIT) {
        if (p->first_off < 0)
            p->first_off = (int64_t)off->num;
        p->last_off = (int64_t)off->num;
    }
    if (agent == NULL)
        return 0;
    if (strcmp(type, "AGENT_ATTEMPT_START") == 0) {
        struct topen o = { p->v[S_P_AGENT].off, ev_offset(p), is_retry };
        return push_open(p, &o);
    }
    if (strcmp(type, "AGENT_ATTEMPT_END") == 0)
        return attempt_end(p, p->v[S_P_AGENT].off);
    if (strcmp(type, "MODEL_CALL") == 0)
        return unsure(p); /* its figures sit deeper than the scanner reads: the tree path */
    if (strcmp(type, "CIRCUIT_STATE_CHANGE") == 0 || strcmp(type, "CIRCUIT_OPEN_SKIPPED") == 0) {
        int code = type[8] == 'S' ? S_P_TO : S_P_STATE;
        struct tstep st = { .agent = p->v[S_P_AGENT].off,
                            .code = p->v[code].kind == K_STR ? p->v[code].off : CODE_NONE,
                            .latency_us = -1,
                            .kind = code == S_P_TO ? DIGEST_STEP_CIRCUIT : DIGEST_STEP_SKIP };
        return push_step(p, &st);
    }
    return 0;
}

static const struct field *
field_of(enum ctx ctx, const unsigned char *key, size_t len)
{
    if (ctx == C_SKIP)
        return NULL;
    for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++) {
        const struct field *f = &FIELDS[i];
        if (f->ctx == ctx && f->key[0] == (char)key[0] &&
            strncmp(f->key, (const char *)key, len) == 0 && f->key[len] == '\0')
            return f;
    }
    return NULL;
}

static int scan_value(struct sp *p, enum ctx ctx, struct val *out);

/* NOLINTBEGIN(misc-no-recursion): bounded by SCAN_MAX_DEPTH. */
static int
scan_object(struct sp *p, enum ctx ctx)
{
    struct {
        size_t off, len;
    } keys[SCAN_MAX_KEYS];
    size_t n = 0;

    if (ctx == C_EVENT) {
        for (int i = S_EV_SEQ; i < S_COUNT; i++)
            p->v[i].kind = K_ABSENT;
    }
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return ctx == C_EVENT ? event_done(p) : 0;
    }
    for (;;) {
        const struct field *f;
        size_t key_off, key_len;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"' || n == SCAN_MAX_KEYS)
            return unsure(p);
        key_off = p->pos + 1;
        if (scan_string(p, NULL, true, &key_len) != 0)
            return -1;
        for (size_t k = 0; k < n; k++) {
            if (keys[k].len == key_len && memcmp(p->s + keys[k].off, p->s + key_off, key_len) == 0)
                return unsure(p); /* json.c keeps the last value: let it */
        }
        keys[n].off = key_off;
        keys[n].len = key_len;
        n++;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return unsure(p);
        p->pos++;
        f = field_of(ctx, p->s + key_off, key_len);
        if (scan_value(p, f ? (enum ctx)f->child : C_SKIP, f ? &p->v[f->slot] : NULL) != 0)
            return -1;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            break;
        }
        return unsure(p);
    }
    return ctx == C_EVENT ? event_done(p) : 0;
}

static int
scan_array(struct sp *p, enum ctx ctx)
{
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return 0;
    }
    for (;;) {
        struct val item = { 0 };
        if (scan_value(p, ctx == C_EVENTS ? C_EVENT : C_SKIP, ctx == C_EVENTS ? &item : NULL) != 0)
            return -1;
        if (ctx == C_EVENTS && item.kind != K_OBJ)
            return unsure(p); /* "events[i]: not an object" */
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            return 0;
        }
        return unsure(p);
    }
}

/* The value at p->pos. ctx applies when it is an object (or, for
 * C_EVENTS, an array); out, when non-NULL, keeps what it is. */
static int
scan_value(struct sp *p, enum ctx ctx, struct val *out)
{
    struct val dummy;
    unsigned char c;

    if (out == NULL)
        out = &dummy;
    skip_ws(p);
    if (p->pos >= p->len)
        return unsure(p);
    c = p->s[p->pos];
    if (c == '{' || c == '[') {
        int rc;
        if (++p->depth > SCAN_MAX_DEPTH)
            return unsure(p);
        if (c == '{') {
            out->kind = K_OBJ;
            rc = scan_object(p, ctx == C_EVENTS ? C_SKIP : ctx);
        } else {
            out->kind = K_ARR;
            rc = scan_array(p, ctx == C_EVENTS ? C_EVENTS : C_SKIP);
        }
        p->depth--;
        return rc;
    }
    if (c == '"') {
        out->kind = K_STR;
        return scan_string(p, out != &dummy ? &out->off : NULL, false, NULL);
    }
    if (c == '-' || is_digit(c)) {
        out->kind = K_NUM;
        return scan_number(p, &out->num, out != &dummy);
    }
    if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "true", 4) == 0) {
        out->kind = K_TRUE;
        p->pos += 4;
    } else if (p->len - p->pos >= 5 && memcmp(p->s + p->pos, "false", 5) == 0) {
        out->kind = K_FALSE;
        p->pos += 5;
    } else if (p->len - p->pos >= 4 && memcmp(p->s + p->pos, "null", 4) == 0) {
        out->kind = K_NULL;
        p->pos += 4;
    } else {
        return unsure(p);
    }
    return 0;
}
/* NOLINTEND(misc-no-recursion) */

static bool
kind_in(const struct sp *p, int slot, unsigned kinds)
{
    return (kinds >> p->v[slot].kind) & 1U;
}

#define KB(k) (1U << (k))

/* record_validate's rules on what was kept (events were checked as they ended). */
static bool
valid_record(const struct sp *p)
{
    return kind_in(p, S_HEADER, KB(K_OBJ)) && kind_in(p, S_EXEC_ID, KB(K_STR)) &&
           kind_in(p, S_CREATED, KB(K_STR)) && kind_in(p, S_HASH, KB(K_STR)) &&
           kind_in(p, S_REPLAYABLE, KB(K_ABSENT) | KB(K_TRUE) | KB(K_FALSE) | KB(K_NULL)) &&
           kind_in(p, S_ENVELOPE, KB(K_OBJ)) &&
           kind_in(p, S_DECISION, KB(K_ABSENT) | KB(K_NULL) | KB(K_OBJ)) &&
           kind_in(p, S_FINAL, KB(K_ABSENT) | KB(K_NULL) | KB(K_OBJ)) &&
           kind_in(p, S_EVENTS, KB(K_ABSENT) | KB(K_NULL) | KB(K_ARR));
}

static char *
dup_or_null(const char *s, int *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

static const char *
first_str(const struct sp *p, int a, int b, int c)
{
    const char *s = slot_str(p, a);

    if (s == NULL && b >= 0)
        s = slot_str(p, b);
    if (s == NULL && c >= 0)
        s = slot_str(p, c);
    return s;
}

static const char *
step_code(const struct sp *p, size_t code)
{
    return code == CODE_NONE ? NULL : code == CODE_AGENT_ERROR ? "AGENT_ERROR" : str_at(p, code);
}

/* record_summarize's fields and digest.c's steps, from what was kept. */
static struct digest *
build(const struct sp *p, const char *id)
{
    struct digest *d = calloc(1, sizeof(*d));
    const char *created = slot_str(p, S_CREATED), *strategy = slot_str(p, S_STRATEGY);
    int failed = 0;

    if (d == NULL)
        return NULL;
    d->id = dup_or_null(id, &failed);
    if (created == NULL || clock_parse_iso(created, &d->created_us) != 0)
        d->created_us = 0;
    d->intent = dup_or_null(slot_str(p, S_INTENT_NAME), &failed);
    d->strategy = dup_or_null(strategy != NULL ? strategy : "direct", &failed);
    d->agent = dup_or_null(first_str(p, S_D_AGENT, S_M_AGENT, -1), &failed);
    d->node = dup_or_null(first_str(p, S_H_NODE, S_D_NODE, S_M_NODE), &failed);
    if (p->v[S_FINAL].kind != K_OBJ) {
        d->status = RECORD_INCOMPLETE;
    } else if (kind_in(p, S_F_ERROR, KB(K_ABSENT) | KB(K_NULL))) {
        d->status = RECORD_OK;
    } else {
        const char *code = slot_str(p, S_E_CODE);
        d->status = RECORD_ERROR;
        d->error_code = dup_or_null(code != NULL ? code : "UNKNOWN", &failed);
        d->note = dup_or_null(slot_str(p, S_E_MSG), &failed);
    }
    d->duration_us = -1;
    if (p->first_off >= 0) {
        d->duration_us = p->last_off;
    } else if (d->created_us > 0) {
        const char *done = slot_str(p, S_M_TS);
        int64_t done_us;
        if (done != NULL && clock_parse_iso(done, &done_us) == 0 && done_us >= d->created_us)
            d->duration_us = done_us - d->created_us;
    }
    d->attempts = p->attempts;
    d->retries = p->retries;
    d->events = p->events;
    if (p->redacted || p->v[S_H_REDACTED].kind == K_TRUE || p->v[S_R_APPLIED].kind == K_TRUE)
        d->flags |= DIGEST_REDACTED;
    if (p->v[S_REPLAYABLE].kind == K_FALSE)
        d->flags |= DIGEST_NOT_REPLAYABLE;
    if (p->n_steps > 0) {
        d->steps = calloc(p->n_steps, sizeof(*d->steps));
        if (d->steps == NULL)
            failed = 1;
    }
    for (size_t i = 0; d->steps != NULL && i < p->n_steps; i++) {
        const struct tstep *t = &p->steps[i];
        struct digest_step *s = &d->steps[i];
        const char *code = step_code(p, t->code);
        if ((long)i == p->last_fail && !p->last_fail_has_code && d->error_code != NULL)
            code = d->error_code;
        s->agent = dup_or_null(str_at(p, t->agent), &failed);
        s->code = dup_or_null(code, &failed);
        s->latency_us = t->latency_us;
        s->kind = t->kind;
        s->is_retry = t->is_retry;
        d->n_steps++;
    }
    if ((p->n_steps == 0 || p->steps[0].latency_us < 0) && p->first_event_off < 0)
        d->flags |= DIGEST_NO_TIMING;
    if (failed) {
        digest_free(d);
        return NULL;
    }
    return d;
}

int
digest_scan(const char *id, const char *text, size_t len, struct digest **out)
{
    struct sp p = { .s = (const unsigned char *)text,
                    .len = text == NULL ? 0 : len,
                    .first_off = -1,
                    .last_off = -1,
                    .first_event_off = -1,
                    .last_fail = -1 };
    struct val root = { 0 };
    int rc = 0;

    *out = NULL;
    buf_init(&p.arena);
    buf_init(&p.tmp);
    skip_ws(&p);
    if (p.pos < p.len && p.s[p.pos] == '{' && scan_value(&p, C_ROOT, &root) == 0) {
        skip_ws(&p);
        if (p.pos == p.len && valid_record(&p)) {
            *out = build(&p, id);
            rc = *out != NULL ? 1 : -1;
        }
    }
    if (p.nomem)
        rc = -1;
    buf_free(&p.arena);
    buf_free(&p.tmp);
    free(p.steps);
    free(p.open);
    return rc;
}
