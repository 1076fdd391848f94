/* JSON parser and the two human-facing printers (pretty, compact) plus the
 * small lookup helpers. Canonical text, SHA-256 and float formatting live in
 * json_canon.c. The rules both files follow are described in json.h. */
#include "core/json.h"

#include <errno.h>
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/text_scan.h"

/* 2^53: below this every integral double prints exactly as an integer. */
#define EXACT_INT_LIMIT 9007199254740992.0

struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    int depth;
    int max_depth;
    bool keep_duplicates; /* json_parse_unique: keep every member, checked later */
    struct buf str;       /* scratch space for the string being decoded */
    struct intentus_err *err;
};

static void parse_fail(struct parser *p, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static cJSON *parse_value(struct parser *p);

/* strtod in the C locale: the TUI may call setlocale(), and a locale whose
 * decimal point is ',' would make plain strtod stop at the '.'. glibc returns
 * a static object for "C", so this allocates nothing. */
double
json_strtod(const char *s)
{
    locale_t c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    double d;

    if (c == (locale_t)0)
        return strtod(s, NULL);
    d = strtod_l(s, NULL, c);
    freelocale(c);
    return d;
}

/* Error positions are computed only on failure, so the happy path does not
 * pay for line counting. Columns count bytes, as the header promises. */
static void
parse_fail(struct parser *p, size_t at, const char *fmt, ...)
{
    char what[160];
    size_t line = 1, col = 1, i;
    va_list ap;

    for (i = 0; i < at && i < p->len; i++) {
        if (p->s[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    err_set(p->err, IERR_PARSE, "line %zu, column %zu: %s", line, col, what);
}

static void
parse_nomem(struct parser *p)
{
    err_set(p->err, IERR_NOMEM, "out of memory while parsing JSON");
}

/* Describe the byte at pos for an "unexpected ..." message. */
static void
parse_unexpected(struct parser *p, const char *expected)
{
    unsigned char c;

    if (p->pos >= p->len) {
        parse_fail(p, p->pos, "unexpected end of input, expected %s", expected);
        return;
    }
    c = p->s[p->pos];
    if (c > 0x20 && c < 0x7f)
        parse_fail(p, p->pos, "unexpected character '%c', expected %s", c, expected);
    else
        parse_fail(p, p->pos, "unexpected byte 0x%02x, expected %s", c, expected);
}

static void
skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];

        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_cont(unsigned char c)
{
    return c >= 0x80 && c <= 0xbf;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 if it is not one. */
size_t
json_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n, i;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* above U+10FFFF */
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (!is_cont(s[i]))
            return 0;
    return n;
}

/* Append a code point as UTF-8, with the two deliberate exceptions from
 * json.h: U+0000 as C0 80 and surrogates as their 3-byte form. */
static void
put_code_point(struct buf *b, unsigned long cp)
{
    static const unsigned char lead[] = { 0, 0, 0xc0, 0xe0, 0xf0 };
    unsigned char u[4];
    size_t n = cp == 0 ? 2 : cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4, i;

    if (n == 1) {
        buf_putc(b, (char)cp);
        return;
    }
    for (i = n - 1; i > 0; i--) {
        u[i] = (unsigned char)(0x80 | (cp & 0x3f));
        cp >>= 6;
    }
    u[0] = (unsigned char)(lead[n] | cp);
    buf_append(b, u, n);
}

/* Four hex digits at s[at..at+4), or -1. */
static long
hex4(const struct parser *p, size_t at)
{
    long v = 0;
    size_t i;

    if (at > p->len || p->len - at < 4)
        return -1;
    for (i = at; i < at + 4; i++) {
        unsigned char c = p->s[i];

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

/* Decode the escape after a backslash at p->pos into p->str. */
static int
parse_escape(struct parser *p)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    size_t at = p->pos;
    unsigned char c;
    long cp;

    if (p->pos + 1 >= p->len) {
        parse_fail(p, at, "unterminated escape sequence");
        return -1;
    }
    c = p->s[p->pos + 1];
    if (c != 'u') {
        const char *simple = c != '\0' ? strchr(from, c) : NULL;
        if (simple == NULL) {
            parse_fail(p, at, "invalid escape sequence");
            return -1;
        }
        buf_putc(&p->str, to[simple - from]);
        p->pos += 2;
        return 0;
    }
    cp = hex4(p, p->pos + 2);
    if (cp < 0) {
        parse_fail(p, at, "invalid \\uXXXX escape");
        return -1;
    }
    p->pos += 6;
    /* A high surrogate directly followed by a low one is one astral
     * character; anything else stays a lone surrogate, as in Python. */
    if (cp >= 0xd800 && cp <= 0xdbff && p->len - p->pos >= 6 && p->s[p->pos] == '\\' &&
        p->s[p->pos + 1] == 'u') {
        long lo = hex4(p, p->pos + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p->pos += 6;
        }
    }
    put_code_point(&p->str, (unsigned long)cp);
    return 0;
}

/* Decode the string starting at the '"' at p->pos into p->str (NUL-terminated). */
static int
parse_string(struct parser *p)
{
    size_t start = p->pos, run;

    buf_reset(&p->str);
    /* Appending nothing still allocates and NUL-terminates, so "" works. */
    if (buf_append(&p->str, "", 0) != 0) {
        parse_nomem(p);
        return -1;
    }
    p->pos++;
    for (;;) {
        unsigned char c;

        if (p->pos >= p->len) {
            parse_fail(p, start, "unterminated string");
            return -1;
        }
        c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c == '\\') {
            if (parse_escape(p) != 0)
                return -1;
            continue;
        }
        if (c < 0x20) {
            parse_fail(p, p->pos, "control character 0x%02x in string must be escaped", c);
            return -1;
        }
        if (c < 0x80) {
            /* Copy a whole run of plain ASCII at once. */
            run = p->pos;
            while (run < p->len && p->s[run] >= 0x20 && p->s[run] < 0x80 && p->s[run] != '"' &&
                   p->s[run] != '\\')
                run++;
            buf_append(&p->str, p->s + p->pos, run - p->pos);
            p->pos = run;
            continue;
        }
        run = json_utf8_len(p->s + p->pos, p->len - p->pos);
        if (run == 0) {
            parse_fail(p, p->pos, "invalid UTF-8 byte 0x%02x in string", c);
            return -1;
        }
        buf_append(&p->str, p->s + p->pos, run);
        p->pos += run;
    }
    if (p->str.failed) {
        parse_nomem(p);
        return -1;
    }
    return 0;
}

static cJSON *
parse_number(struct parser *p)
{
    size_t start = p->pos;
    char *text;
    cJSON *node;

    if (p->s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
        if (p->pos < p->len && p->s[p->pos] == 'I')
            parse_fail(p, start, "Infinity is not valid JSON");
        else
            parse_fail(p, p->pos, "expected a digit after '-'");
        return NULL;
    }
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(p->s[p->pos])) {
            parse_fail(p, start, "numbers cannot have leading zeros");
            return NULL;
        }
    } else {
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
            parse_fail(p, p->pos, "expected a digit after '.'");
            return NULL;
        }
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
            parse_fail(p, p->pos, "expected a digit in the exponent");
            return NULL;
        }
        while (p->pos < p->len && is_digit(p->s[p->pos]))
            p->pos++;
    }
    text = malloc(p->pos - start + 1);
    if (text == NULL) {
        parse_nomem(p);
        return NULL;
    }
    memcpy(text, p->s + start, p->pos - start);
    text[p->pos - start] = '\0';
    /* cJSON_CreateNumber sets valueint the way cJSON does (saturating). */
    node = cJSON_CreateNumber(json_strtod(text));
    if (node == NULL) {
        free(text);
        parse_nomem(p);
        return NULL;
    }
    node->valuestring = text;
    return node;
}

static cJSON *
parse_literal(struct parser *p)
{
    static const struct {
        const char *word;
        int type;
    } lits[] = { { "true", cJSON_True }, { "false", cJSON_False }, { "null", cJSON_NULL } };
    for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
        size_t n = strlen(lits[i].word);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, lits[i].word, n) == 0) {
            cJSON *node = lits[i].type == cJSON_True    ? cJSON_CreateTrue()
                          : lits[i].type == cJSON_False ? cJSON_CreateFalse()
                                                        : cJSON_CreateNull();
            if (node == NULL)
                parse_nomem(p);
            p->pos += n;
            return node;
        }
    }
    if (p->s[p->pos] == 'N' || p->s[p->pos] == 'I')
        parse_fail(p, p->pos, "NaN and Infinity are not valid JSON");
    else
        parse_unexpected(p, "a JSON value");
    return NULL;
}

struct member {
    cJSON *node;
    size_t idx;
};

static int
member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = strcmp(x->node->string, y->node->string);

    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Python's dict semantics for repeated keys: the value of the last
 * occurrence, at the position of the first. Sorting keeps this O(n log n)
 * so a hostile object with many keys cannot make parsing quadratic. */
static int
dedupe_members(cJSON *obj, size_t count)
{
    struct member *m;
    cJSON *child, *first, *last, tmp;
    size_t i, g, h;

    m = malloc(count * sizeof(*m));
    if (m == NULL)
        return -1;
    for (i = 0, child = obj->child; child != NULL && i < count; child = child->next, i++) {
        m[i].node = child;
        m[i].idx = i;
    }
    qsort(m, count, sizeof(*m), member_cmp);
    for (g = 0; g < count; g = h) {
        for (h = g + 1; h < count && strcmp(m[g].node->string, m[h].node->string) == 0; h++)
            ;
        if (h - g < 2)
            continue;
        first = m[g].node;
        last = m[h - 1].node;
        /* Swap the values (not the links or keys) so the first node carries
         * the last value; the old value then dies with the last node. */
        tmp = *first;
        first->type = last->type;
        first->child = last->child;
        first->valuestring = last->valuestring;
        first->valueint = last->valueint;
        first->valuedouble = last->valuedouble;
        last->type = tmp.type;
        last->child = tmp.child;
        last->valuestring = tmp.valuestring;
        last->valueint = tmp.valueint;
        last->valuedouble = tmp.valuedouble;
        for (i = g + 1; i < h; i++)
            cJSON_Delete(cJSON_DetachItemViaPointer(obj, m[i].node));
    }
    free(m);
    return 0;
}

/* NOLINTBEGIN(misc-no-recursion): recursive descent, bounded by max_depth. */
/* Objects and arrays share one loop; keys are parsed only for objects. */
static cJSON *
parse_container(struct parser *p)
{
    int is_obj = p->s[p->pos] == '{';
    unsigned char close = is_obj ? '}' : ']';
    size_t count = 0;
    cJSON *node, *item;
    char *key = NULL;

    if (++p->depth > p->max_depth) {
        parse_fail(p, p->pos, "nesting deeper than %d levels", p->max_depth);
        return NULL;
    }
    node = is_obj ? cJSON_CreateObject() : cJSON_CreateArray();
    if (node == NULL) {
        parse_nomem(p);
        return NULL;
    }
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        p->depth--;
        return node;
    }
    for (;;) {
        skip_ws(p);
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                parse_unexpected(p, "a string key");
                goto fail;
            }
            if (parse_string(p) != 0)
                goto fail;
            key = strdup(p->str.data);
            if (key == NULL) {
                parse_nomem(p);
                goto fail;
            }
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                parse_unexpected(p, "':' after the key");
                goto fail;
            }
            p->pos++;
        }
        item = parse_value(p);
        if (item == NULL)
            goto fail;
        /* Link the node directly: cJSON_AddItemToObject would copy the key. */
        item->string = key;
        key = NULL;
        cJSON_AddItemToArray(node, item);
        count++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            skip_ws(p);
            if (p->pos < p->len && p->s[p->pos] == close) {
                parse_fail(p, p->pos, "trailing comma before '%c'", close);
                goto fail;
            }
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == close) {
            p->pos++;
            break;
        }
        parse_unexpected(p, is_obj ? "',' or '}'" : "',' or ']'");
        goto fail;
    }
    if (is_obj && count > 1 && !p->keep_duplicates && dedupe_members(node, count) != 0) {
        parse_nomem(p);
        goto fail;
    }
    p->depth--;
    return node;
fail:
    free(key);
    cJSON_Delete(node);
    return NULL;
}

static cJSON *
parse_value(struct parser *p)
{
    cJSON *node;
    unsigned char c;

    skip_ws(p);
    if (p->pos >= p->len) {
        parse_unexpected(p, "a JSON value");
        return NULL;
    }
    c = p->s[p->pos];
    if (c == '{' || c == '[')
        return parse_container(p);
    if (c == '-' || is_digit(c))
        return parse_number(p);
    if (c != '"')
        return parse_literal(p);
    if (parse_string(p) != 0)
        return NULL;
    node = cJSON_CreateString(p->str.data);
    if (node == NULL)
        parse_nomem(p);
    return node;
}
/* NOLINTEND(misc-no-recursion) */

static cJSON *
parse_text(const char *text, size_t len, int max_depth, bool keep_duplicates,
           struct intentus_err *err)
{
    struct parser p;
    cJSON *v;

    p.s = (const unsigned char *)text;
    p.len = text == NULL ? 0 : len;
    p.pos = 0;
    p.depth = 0;
    p.max_depth = max_depth > 0 ? max_depth : JSON_DEFAULT_MAX_DEPTH;
    p.keep_duplicates = keep_duplicates;
    p.err = err;
    buf_init(&p.str);
    skip_ws(&p);
    if (p.pos >= p.len) {
        parse_fail(&p, p.pos, "empty input, expected a JSON value");
        return NULL;
    }
    v = parse_value(&p);
    if (v != NULL) {
        skip_ws(&p);
        if (p.pos < p.len) {
            parse_fail(&p, p.pos, "unexpected data after the JSON value");
            cJSON_Delete(v);
            v = NULL;
        }
    }
    buf_free(&p.str);
    return v;
}

cJSON *
json_parse(const char *text, size_t len, int max_depth, struct intentus_err *err)
{
    return parse_text(text, len, max_depth, false, err);
}

/* The member of obj (count members) that repeats an earlier key, the first
 * such in document order; NULL when every key is unique (or out of memory,
 * reported through *nomem). Sorting keeps it O(n log n). */
static const cJSON *
repeated_member(const cJSON *obj, size_t count, bool *nomem)
{
    struct member *m = malloc(count * sizeof(*m));
    const cJSON *child, *found = NULL;
    size_t i, best = SIZE_MAX;

    if (m == NULL) {
        *nomem = true;
        return NULL;
    }
    for (i = 0, child = obj->child; child != NULL && i < count; child = child->next, i++) {
        m[i].node = (cJSON *)child;
        m[i].idx = i;
    }
    qsort(m, count, sizeof(*m), member_cmp);
    for (i = 1; i < count; i++) {
        /* Sorted by (key, position): the second of a run is its first repeat. */
        bool first_repeat = i < 2 || strcmp(m[i - 2].node->string, m[i].node->string) != 0;
        if (strcmp(m[i - 1].node->string, m[i].node->string) == 0 && first_repeat &&
            m[i].idx < best) {
            best = m[i].idx;
            found = m[i].node;
        }
    }
    free(m);
    return found;
}

/* Appends ".key" or "[i]" to path (at len), truncating safely. */
static size_t
path_push(char *path, size_t size, size_t len, const cJSON *parent, const cJSON *item, size_t i)
{
    int n;

    if (len >= size)
        return len;
    if (cJSON_IsObject(parent))
        n = snprintf(path + len, size - len, "%s%s", len > 0 ? "." : "", item->string);
    else
        n = snprintf(path + len, size - len, "[%zu]", i);
    return n < 0 ? len : len + (size_t)n >= size ? size - 1 : len + (size_t)n;
}

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
/* Depth-first in document order: 1 and path filled at the first repeated
 * key, 0 when none, -1 when out of memory. */
static int
find_repeat(const cJSON *v, char *path, size_t size, size_t len)
{
    const cJSON *c;
    size_t count = 0, i = 0;
    bool nomem = false;

    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return 0;
    for (c = v->child; c != NULL; c = c->next)
        count++;
    if (cJSON_IsObject(v) && count > 1) {
        c = repeated_member(v, count, &nomem);
        if (nomem)
            return -1;
        if (c != NULL) {
            path_push(path, size, len, v, c, 0);
            return 1;
        }
    }
    for (c = v->child; c != NULL; c = c->next, i++) {
        size_t sub = path_push(path, size, len, v, c, i);
        int rc = find_repeat(c, path, size, sub);
        if (rc != 0)
            return rc;
        path[len] = '\0';
    }
    return 0;
}
/* NOLINTEND(misc-no-recursion) */

cJSON *
json_parse_unique(const char *text, size_t len, int max_depth, struct intentus_err *err)
{
    cJSON *v = parse_text(text, len, max_depth, true, err);
    char path[512] = "";
    int rc;

    if (v == NULL)
        return NULL;
    rc = find_repeat(v, path, sizeof(path), 0);
    if (rc == 0)
        return v;
    if (rc < 0)
        err_set(err, IERR_NOMEM, NULL);
    else
        err_set(err, IERR_PARSE, "%s: duplicate key (each key may appear once in an object)", path);
    cJSON_Delete(v);
    return NULL;
}

int
json_check_display_text(const char *s, const char *path, struct intentus_err *err)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned cp = 0;

    for (; *u != '\0'; u++) {
        if (*u < 0x20 || *u == 0x7f)
            cp = *u;
        else if (u[0] == 0xc0 && u[1] == 0x80)
            cp = 0; /* U+0000 in this module's storage */
        else if (u[0] == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f)
            cp = u[1];
        else
            continue;
        err_set(err, IERR_CONFIG,
                "%s: contains the control character U+%04X (names are shown on terminals; use "
                "printable text)",
                path, cp);
        return -1;
    }
    return 0;
}

/* ---- printers ---- */

/* The printers write through a cursor, p, passed and returned by value so
 * that it stays in a register: appending through struct buf's fields made
 * each byte a reload of data and len (a char store may alias them) and a
 * store of the terminator. Room is reserved ahead (pw_room); the buffer's
 * len and terminator are set once, when a print ends (pw_end). A NULL
 * cursor means an allocation failed: every printer passes it on. */
struct pw {
    struct buf *b;
    char *lim; /* one before the end of b's allocation: the terminator's byte */
};

static __attribute__((noinline)) char *
pw_grow(struct pw *w, const char *p, size_t n)
{
    struct buf *b = w->b;

    b->len = (size_t)(p - b->data);
    if (buf_reserve(b, n) != 0)
        return NULL;
    w->lim = b->data + b->cap - 1;
    return b->data + b->len;
}

/* p with room for n more bytes (and the terminator), or NULL. */
static inline char *
pw_room(struct pw *w, char *p, size_t n)
{
    return (size_t)(w->lim - p) >= n ? p : pw_grow(w, p, n);
}

/* A cursor at the end of b, or NULL when b has failed. Inline and without
 * a reservation for a buffer that has one: record_build prints each of a
 * record's keys and strings with a call of its own. */
static inline char *
pw_begin(struct pw *w, struct buf *b)
{
    w->b = b;
    if ((b->data == NULL || b->failed) && buf_reserve(b, 64) != 0)
        return NULL;
    w->lim = b->data + b->cap - 1;
    return b->data + b->len;
}

static inline void
pw_end(struct pw *w, char *p)
{
    if (p == NULL)
        return;
    w->b->len = (size_t)(p - w->b->data);
    *p = '\0';
}

static inline char *
pw_put(struct pw *w, char *p, const char *s, size_t n)
{
    if ((p = pw_room(w, p, n)) == NULL)
        return NULL;
    memcpy(p, s, n);
    return p + n;
}

/* The bytes print_string must look at: controls (and the terminating
 * NUL), '"', '\\', and the lead bytes of the two storage conventions. */
static const unsigned char print_special[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1, [0x07] = 1,
    [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1,
    [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
    [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1,
    ['"'] = 1,  ['\\'] = 1, [0xc0] = 1, [0xed] = 1,
};

#if !defined(__SSE2__)
/* Does any of the eight bytes of w need print_string's attention (SWAR: a
 * byte below 0x20, or equal to '"', '\\', 0xc0 or 0xed)? */
static inline bool
word_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\'), c0 = w ^ (ones * 0xc0),
             ed = w ^ (ones * 0xed);

    return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) |
             ((c0 - ones) & ~c0) | ((ed - ones) & ~ed)) &
            high) != 0;
}
#endif

#if defined(__SSE2__)
/* The bytes of the 16 at v that print_string must look at, as a mask. */
static inline unsigned
sse_special(__m128i v)
{
    __m128i m = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v); /* v <= 0x1f */
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xc0)));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8((char)0xed)));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* The escape of the special byte at *s written at p; *s and *p advanced. */
static void
print_escape(const unsigned char **sp, char **pp)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = *sp;
    unsigned char c = *s;
    unsigned long cp;
    char *p = *pp;

    switch (c) {
    case '"':
    case '\\':
        *p++ = '\\';
        *p++ = (char)c;
        s++;
        goto out;
    case '\n':
        c = 'n';
        break;
    case '\r':
        c = 'r';
        break;
    case '\t':
        c = 't';
        break;
    case '\b':
        c = 'b';
        break;
    case '\f':
        c = 'f';
        break;
    default:
        if (c == 0xc0 && s[1] == 0x80) {
            cp = 0;
            s += 2;
        } else if (c == 0xed && s[1] >= 0xa0 && s[1] <= 0xbf && is_cont(s[2])) {
            cp = 0xd000 | ((unsigned long)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
            s += 3;
        } else if (c < 0x20) {
            cp = c;
            s++;
        } else {
            *p++ = (char)c; /* 0xc0 or 0xed starting something else */
            s++;
            goto out;
        }
        *p++ = '\\';
        *p++ = 'u';
        *p++ = hex[(cp >> 12) & 15];
        *p++ = hex[(cp >> 8) & 15];
        *p++ = hex[(cp >> 4) & 15];
        *p++ = hex[cp & 15];
        goto out;
    }
    *p++ = '\\';
    *p++ = (char)c;
    s++;
out:
    *sp = s;
    *pp = p;
}

/* The rest of a string print_string started (the opening quote is
 * written): s to end, a special byte in it or longer than the short case.
 * Not inlined, so the short case, which most strings end in, saves no
 * registers for it. */
static __attribute__((noinline)) char *
print_string_rest(struct pw *w, char *p, const unsigned char *s, const unsigned char *end)
{
    /* Written in place after one reservation: no byte becomes more than
     * six (a control is \u00XX; C0 80 and a 3-byte surrogate one escape),
     * and a 16-byte store is made only with 16 bytes of input left. */
    if ((p = pw_room(w, p, 6 * (size_t)(end - s) + 1)) == NULL)
        return NULL;
    while (s < end) {
#if defined(__SSE2__)
        /* Sixteen bytes at a time, stored before they are checked; the
         * first special byte ends the run. */
        while (end - s >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
            unsigned m = sse_special(v);
            _mm_storeu_si128((__m128i *)(void *)p, v);
            if (m != 0) {
                unsigned k = (unsigned)__builtin_ctz(m);
                p += k;
                s += k;
                break;
            }
            p += 16;
            s += 16;
        }
#else
        while (end - s >= 8) {
            uint64_t x;
            memcpy(&x, s, 8);
            if (word_special(x))
                break;
            memcpy(p, s, 8);
            p += 8;
            s += 8;
        }
#endif
        while (s < end && !print_special[*s])
            *p++ = (char)*s++;
        if (s >= end)
            break;
        print_escape(&s, &p);
    }
    *p++ = '"';
    return p;
}

/* Python json.dumps(ensure_ascii=False) string escaping, undoing the two
 * storage conventions (C0 80 and lone surrogates) back into \u escapes.
 * Keys and short values (up to 16 bytes, most of an envelope's strings)
 * are tested and stored as two words: no loop whose end the branch
 * predictor must guess for each string. */
static char *
print_string(struct pw *w, char *p, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str);

    if ((p = pw_room(w, p, 18)) == NULL)
        return NULL;
#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    if (len <= 16) {
        uint64_t lo, hi;
        bool plain;
        text_load_short(s, len, 'a', &lo, &hi);
#if defined(__SSE2__)
        plain = sse_special(_mm_set_epi64x((long long)hi, (long long)lo)) == 0;
#else
        plain = !word_special(lo) && !word_special(hi);
#endif
        if (plain) {
            p[0] = '"';
            memcpy(p + 1, &lo, 8);
            if (len > 8)
                memcpy(p + 1 + len - 8, &hi, 8);
            p[1 + len] = '"';
            return p + len + 2;
        }
    }
#endif
    *p++ = '"';
    return print_string_rest(w, p, s, s + len);
}

static char *
print_number(struct pw *w, char *p, const cJSON *v)
{
    char tmp[40];
    double d = v->valuedouble;

    if (v->valuestring != NULL)
        return pw_put(w, p, v->valuestring, strlen(v->valuestring));
    if ((p = pw_room(w, p, sizeof(tmp))) == NULL)
        return NULL;
    if (d == 0) {
        *p++ = '0'; /* also -0.0: a code-made zero is an integer */
    } else if (isfinite(d) && d == floor(d) && fabs(d) < EXACT_INT_LIMIT) {
        /* what "%.0f" gives an integral double below 2^53 */
        char *t = text_put_i64(tmp + sizeof(tmp), (int64_t)d);
        memcpy(p, t, (size_t)(tmp + sizeof(tmp) - t));
        p += tmp + sizeof(tmp) - t;
    } else {
        json_format_double(d, tmp, sizeof(tmp));
        p = pw_put(w, p, tmp, strlen(tmp));
    }
    return p;
}

/* A newline and the indentation of level (core/buf.h writes it). */
static inline char *
print_newline_indent(struct pw *w, char *p, int level)
{
    if ((p = pw_room(w, p, text_newline_indent_room(level))) == NULL)
        return NULL;
    return text_put_newline_indent(p, level);
}

/* Room the punctuation around a member takes: ", " and ": " at most. */
#define PW_PUNCT 4

/* pretty: 0 compact, 1 indented, 2 one line with Python's default ", " and ": ". */
/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
/* Returns NULL for a tree cJSON itself could not print (a node of no known
 * type, a member without a key, a raw node without text) and when out of
 * memory (then the buffer is failed, which tells the two apart). */
static char *
print_value(const cJSON *v, struct pw *w, char *p, int pretty, int level)
{
    const cJSON *c;
    int is_obj;

    switch (v->type & 0xff) {
    case cJSON_False:
        return pw_put(w, p, "false", 5);
    case cJSON_True:
        return pw_put(w, p, "true", 4);
    case cJSON_NULL:
        return pw_put(w, p, "null", 4);
    case cJSON_Number:
        return print_number(w, p, v);
    case cJSON_String:
        if (v->valuestring == NULL)
            break;
        return print_string(w, p, v->valuestring);
    case cJSON_Raw:
        if (v->valuestring == NULL)
            break;
        return pw_put(w, p, v->valuestring, strlen(v->valuestring));
    case cJSON_Array:
    case cJSON_Object:
        is_obj = (v->type & 0xff) == cJSON_Object;
        if ((p = pw_room(w, p, PW_PUNCT)) == NULL)
            return NULL;
        *p++ = is_obj ? '{' : '[';
        for (c = v->child; c != NULL; c = c->next) {
            if (pretty == 1 && (p = print_newline_indent(w, p, level + 1)) == NULL)
                return NULL;
            if (is_obj) {
                if (c->string == NULL)
                    return NULL;
                if ((p = print_string(w, p, c->string)) == NULL ||
                    (p = pw_room(w, p, PW_PUNCT)) == NULL)
                    return NULL;
                *p++ = ':';
                if (pretty)
                    *p++ = ' ';
            }
            if ((p = print_value(c, w, p, pretty, level + 1)) == NULL)
                return NULL;
            if (c->next == NULL)
                break;
            if ((p = pw_room(w, p, PW_PUNCT)) == NULL)
                return NULL;
            *p++ = ',';
            if (pretty == 2)
                *p++ = ' ';
        }
        if (pretty == 1 && v->child != NULL && (p = print_newline_indent(w, p, level)) == NULL)
            return NULL;
        if ((p = pw_room(w, p, PW_PUNCT)) == NULL)
            return NULL;
        *p++ = is_obj ? '}' : ']';
        return p;
    default:
        break;
    }
    return NULL;
}
/* NOLINTEND(misc-no-recursion) */

/* v printed at the end of out at indentation level (pretty 1); on failure
 * out is as it was, unless out of memory left it failed. */
static int
print_top(const cJSON *v, struct buf *out, int pretty, int level)
{
    size_t start = out->len;
    struct pw w;
    char *p;

    if (v == NULL)
        return -1;
    if ((p = pw_begin(&w, out)) != NULL)
        p = print_value(v, &w, p, pretty, level);
    if (p == NULL) {
        if (!out->failed && out->data != NULL) {
            out->len = start;
            out->data[start] = '\0';
        }
        return -1;
    }
    pw_end(&w, p);
    return 0;
}

int
json_print_pretty(const cJSON *v, struct buf *out)
{
    return print_top(v, out, 1, 0);
}

int
json_print_pretty_at(const cJSON *v, int level, struct buf *out)
{
    return print_top(v, out, 1, level);
}

void
json_print_string(const char *s, struct buf *out)
{
    struct pw w;
    char *p = pw_begin(&w, out);

    if (p != NULL)
        p = print_string(&w, p, s);
    pw_end(&w, p);
}

int
json_print_compact(const cJSON *v, struct buf *out)
{
    return print_top(v, out, 0, 0);
}

int
json_print_spaced(const cJSON *v, struct buf *out)
{
    return print_top(v, out, 2, 0);
}

/* ---- lookups ---- */

cJSON *
json_item(const cJSON *obj, const char *key)
{
    const cJSON *c;

    if (obj == NULL || key == NULL)
        return NULL;
    /* The same pointer is the same name, unread: the response builders
     * (core/model.c) link their keys and look them up by those literals. */
    for (c = obj->child; c != NULL; c = c->next)
        if (c->string == key ||
            (c->string != NULL && c->string[0] == key[0] && strcmp(c->string, key) == 0))
            return (cJSON *)c;
    return NULL;
}

cJSON *
json_detach(cJSON *obj, const char *key)
{
    cJSON *c = json_item(obj, key);

    return c != NULL ? cJSON_DetachItemViaPointer(obj, c) : NULL;
}

const char *
json_get_string(const cJSON *obj, const char *key)
{
    const cJSON *v;

    if (!cJSON_IsObject(obj) || key == NULL)
        return NULL;
    v = json_item(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int
json_get_int64(const cJSON *obj, const char *key, long long *out)
{
    if (!cJSON_IsObject(obj) || key == NULL)
        return -1;
    return json_int64_value(json_item(obj, key), out);
}

int
json_int64_value(const cJSON *v, long long *out)
{
    char *end;
    long long n;

    if (!cJSON_IsNumber(v))
        return -1;
    if (v->valuestring != NULL) {
        /* Parsed: only integer text counts ("1.0" and "1e2" are floats). */
        const char *t = v->valuestring;
        if (t[strspn(t, "-0123456789")] != '\0')
            return -1;
        errno = 0;
        n = strtoll(t, &end, 10);
        if (errno != 0 || end == t || *end != '\0')
            return -1;
    } else {
        double d = v->valuedouble;
        if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
            d >= 9223372036854775808.0)
            return -1;
        n = (long long)d;
    }
    if (out != NULL)
        *out = n;
    return 0;
}
