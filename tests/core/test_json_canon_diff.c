/* Differential test of core/json_canon.c: the canonical text and hash of
 * many generated trees compared with the implementation as it was before
 * the single-pass rewrite (issue 16), kept below verbatim but renamed
 * (old_json_canonical). The generator covers what the fast paths special
 * case: strings of every length around the 8- and 16-byte steps, with
 * controls, quotes, backslashes, DEL, 2-, 3- and 4-byte UTF-8, lone
 * surrogates, C0 80 (U+0000) and invalid bytes at any offset; keys that
 * share long prefixes, differ only after 8 bytes, repeat (trees built in
 * code) or hold C0 80; objects of 0..40 members (the stack and the heap
 * sort); numbers as parser text (integers, decimals, exponents, long
 * digit strings) and as doubles; raw nodes; nesting. Seeds are fixed, so a
 * failure names the document that differs. */
#include <math.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/json.h"

/* ==== the old implementation (core/json_canon.c at 2ffe05f) ==== */
/* NOLINTBEGIN */
/* 2^53: below this every integral double prints exactly as an integer. */
#define EXACT_INT_LIMIT 9007199254740992.0

/* Shortest decimal digits that read back as a (finite, >= 0): value =
 * 0.digits x 10^(*point), the digits Python's repr() uses. glibc's "%.*e"
 * is correctly rounded, so for each length the nearest candidate is tried
 * first. Just above a power of two the interval of numbers that round to a
 * is lopsided (half as wide below), and there the nearest n-digit string
 * can miss while its upper or lower neighbour still hits; repr takes that
 * neighbour, so we must too (e.g. 7.120236347223045e-307). Candidates are
 * rebuilt as "<integer>e<exp>", which keeps the check independent of the
 * locale's radix character. */
static int
shortest_digits(double a, char digits[24], int *point)
{
    static const int deltas[] = { 0, 1, -1 };
    char tmp[48], back[48];
    const char *q;
    unsigned long long m = 0, mm = 0;
    int prec, n = 0, e = 0, k, found = 0;

    for (prec = 1; prec <= 17 && !found; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, a);
        m = 0;
        n = 0;
        for (q = tmp; *q != '\0' && *q != 'e'; q++) {
            if (*q >= '0' && *q <= '9') {
                m = m * 10 + (unsigned long long)(*q - '0');
                n++;
            }
        }
        e = (*q == 'e' ? (int)strtol(q + 1, NULL, 10) : 0) - (n - 1);
        for (k = 0; k < 3 && !found; k++) {
            if (deltas[k] < 0 && m == 0)
                continue;
            mm = m + (unsigned long long)(long long)deltas[k];
            snprintf(back, sizeof(back), "%llue%d", mm, e);
            found = json_strtod(back) == a;
        }
    }
    if (!found)
        mm = m; /* unreachable: 17 significant digits always round-trip */
    n = snprintf(digits, 24, "%llu", mm);
    while (n > 1 && digits[n - 1] == '0') {
        digits[--n] = '\0';
        e++;
    }
    *point = e + n;
    return n;
}

/* Python's repr layout for value = 0.digits x 10^p (n digits, no trailing
 * zeros), into res (48 bytes). */
static void
layout_repr(bool negative, const char *digits, int n, int p, char res[48])
{
    char *w = res;
    int i;

    if (negative)
        *w++ = '-';
    if (p > -4 && p <= 16) {
        /* Fixed notation, always with a fractional part ("1.0"). */
        if (p <= 0) {
            *w++ = '0';
            *w++ = '.';
            for (i = 0; i < -p; i++)
                *w++ = '0';
            for (i = 0; i < n; i++)
                *w++ = digits[i];
        } else {
            for (i = 0; i < n || i < p; i++) {
                if (i == p)
                    *w++ = '.';
                *w++ = (char)(i < n ? digits[i] : '0');
            }
            if (p >= n) {
                *w++ = '.';
                *w++ = '0';
            }
        }
        *w = '\0';
    } else {
        *w++ = digits[0];
        if (n > 1) {
            *w++ = '.';
            for (i = 1; i < n; i++)
                *w++ = digits[i];
        }
        int e = p - 1;
        snprintf(w, 48 - (size_t)(w - res), "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

static int
old_format_double(double d, char *out, size_t size)
{
    char digits[24], res[48];
    int n, p;

    if (isnan(d))
        return snprintf(out, size, "NaN");
    if (isinf(d))
        return snprintf(out, size, "%s", d < 0 ? "-Infinity" : "Infinity");
    n = shortest_digits(fabs(d), digits, &p);
    layout_repr(signbit(d) != 0, digits, n, p, res);
    return snprintf(out, size, "%s", res);
}

/* The fast path for number text from a parser: when the text has at most
 * DBL_DIG (15) significant digits, no other decimal of that length or
 * shorter reads as the same double, so the text's own digits are exactly
 * what repr() prints. Saves the trial formatting of shortest_digits().
 * Returns false (use the slow path) for longer text, and for values that
 * underflow to subnormals or zero, where digits are lost. */
static bool
repr_from_text(const char *t, char res[48])
{
    char digits[24];
    int n = 0, point = 0, exp10 = 0;
    bool negative = false, seen_point = false, nonzero = false;
    const char *q = t;

    if (*q == '-') {
        negative = true;
        q++;
    }
    for (; (*q >= '0' && *q <= '9') || *q == '.'; q++) {
        if (*q == '.') {
            seen_point = true;
            continue;
        }
        if (!nonzero && *q == '0') {
            if (seen_point)
                point--; /* leading zeros after the point move the point left */
            continue;
        }
        nonzero = true;
        if (n == 15)
            return false;
        digits[n++] = *q;
        if (!seen_point)
            point++;
    }
    if (*q == 'e' || *q == 'E') {
        char *end;
        long e = strtol(q + 1, &end, 10);
        if (*end != '\0' || e > 400 || e < -400)
            return false;
        exp10 = (int)e;
    } else if (*q != '\0') {
        return false;
    }
    if (!nonzero) {
        snprintf(res, 48, "%s0.0", negative ? "-" : "");
        return true;
    }
    /* At most 15 digits times 10^(-300..300): finite and normal, so no
     * strtod is needed to know it (outside, the slow path decides). */
    if (point + exp10 > 300 || point + exp10 < -300)
        return false;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = '\0';
    layout_repr(negative, digits, n, point + exp10, res);
    return true;
}

static int
is_cont(unsigned char c)
{
    return c >= 0x80 && c <= 0xbf;
}

/* Decode one code point of a stored string (NUL-terminated), honouring the
 * storage conventions of json.h: C0 80 is U+0000 and ED A0..BF xx is a lone
 * surrogate. Bytes that are not UTF-8 at all can only come from trees built
 * in code; they decode as U+FFFD (what Python's errors="replace" gives), so
 * hashing never fails on them. Returns the number of bytes consumed. */
static size_t
decode_cp(const unsigned char *s, unsigned long *cp)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c == 0xc0 && s[1] == 0x80) {
        *cp = 0;
        return 2;
    }
    if (c >= 0xc2 && c <= 0xdf && is_cont(s[1])) {
        *cp = ((unsigned long)(c & 0x1f) << 6) | (s[1] & 0x3f);
        return 2;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if (c == 0xe0)
            lo = 0xa0;
        if (s[1] >= lo && s[1] <= hi && is_cont(s[2])) {
            *cp = ((unsigned long)(c & 0x0f) << 12) | ((unsigned long)(s[1] & 0x3f) << 6) |
                  (s[2] & 0x3f);
            return 3;
        }
    } else if (c >= 0xf0 && c <= 0xf4) {
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
        if (s[1] >= lo && s[1] <= hi && is_cont(s[2]) && is_cont(s[3])) {
            *cp = ((unsigned long)(c & 0x07) << 18) | ((unsigned long)(s[1] & 0x3f) << 12) |
                  ((unsigned long)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
            return 4;
        }
    }
    *cp = 0xfffd;
    return 1;
}

/* Python compares str by code point. Plain byte order would agree for
 * valid UTF-8 but not for C0 80 (U+0000), hence the decoding. */
static int
key_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    unsigned long cx, cy;

    /* Byte order is code point order for UTF-8, and the common prefix is
     * the same code points in both; only C0 80 (U+0000, which sorts first)
     * breaks that, so decode only when it is at or just before the first
     * difference. */
    while (*x != '\0' && *x == *y && *x != 0xc0) {
        x++;
        y++;
    }
    if (*x != 0xc0 && *y != 0xc0 && !(x != (const unsigned char *)a && x[-1] == 0xc0))
        return *x == *y ? 0 : (*x < *y ? -1 : 1);
    while (*x != '\0' && *y != '\0') {
        x += decode_cp(x, &cx);
        y += decode_cp(y, &cy);
        if (cx != cy)
            return cx < cy ? -1 : 1;
    }
    return (*x != '\0') - (*y != '\0');
}

/* Word-at-a-time tests (the classic bit tricks; exact for "some byte
 * is"): a byte below n (n <= 128), a byte equal to c. */
#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGH 0x8080808080808080ULL
static uint64_t
swar_less(uint64_t w, unsigned n)
{
    return (w - SWAR_ONES * n) & ~w & SWAR_HIGH;
}

static uint64_t
swar_eq(uint64_t w, unsigned c)
{
    return swar_less(w ^ (SWAR_ONES * c), 1);
}

/* The high bit of each byte canon_string must escape (controls, '"', '\\',
 * DEL and all of non-ASCII; the rest is copied as it is), exact up to and
 * including the lowest one set (a borrow only reaches higher bytes), so
 * the lowest set bit finds the first byte to escape when the word was
 * loaded little endian. */
static inline uint64_t
word_bad(uint64_t w)
{
    return (w & SWAR_HIGH) | swar_less(w, 0x20) | swar_eq(w, '"') | swar_eq(w, '\\') |
           swar_eq(w, 0x7f);
}

/* "\uXXXX" with lowercase hex, without printf (the hot path of hashing
 * non-ASCII text). */
static char *
put_u(char *p, unsigned long cp)
{
    static const char hex[] = "0123456789abcdef";

    p[0] = '\\';
    p[1] = 'u';
    p[2] = hex[(cp >> 12) & 15];
    p[3] = hex[(cp >> 8) & 15];
    p[4] = hex[(cp >> 4) & 15];
    p[5] = hex[cp & 15];
    return p + 6;
}

/* Where canonical text goes: a fixed window on the caller's stack,
 * flushed when full to the output buffer (json_canonical) or straight
 * into SHA-256 (json_canonical_sha256, which so never holds the whole
 * text). Writers ask for room with cw_room() and then store bytes with
 * no further checks; no request is larger than CW_MAX_ASK. */
#define CW_WIN 4096
#define CW_MAX_ASK 64
struct cw {
    char *p;         /* next free byte of win */
    char *lim;       /* win + CW_WIN */
    struct buf *out; /* text mode */
    EVP_MD_CTX *md;  /* hash mode */
    int failed;      /* the digest failed (the buffer has its own flag) */
    char win[CW_WIN];
};

static void
cw_flush(struct cw *w)
{
    size_t n = (size_t)(w->p - w->win);

    if (n > 0) {
        if (w->out != NULL)
            buf_append(w->out, w->win, n);
        else if (EVP_DigestUpdate(w->md, w->win, n) != 1)
            w->failed = 1;
    }
    w->p = w->win;
}

static inline char *
cw_room(struct cw *w, size_t n)
{
    if ((size_t)(w->lim - w->p) < n)
        cw_flush(w);
    return w->p;
}

static inline void
cw_putc(struct cw *w, char c)
{
    *cw_room(w, 1) = c;
    w->p++;
}

/* Short constant text (at most CW_MAX_ASK bytes). */
static inline void
cw_lit(struct cw *w, const char *s, size_t n)
{
    memcpy(cw_room(w, n), s, n);
    w->p += n;
}

/* Any length. */
static void
cw_bytes(struct cw *w, const char *s, size_t n)
{
    while (n > 0) {
        size_t k = (size_t)(w->lim - w->p);
        if (k == 0) {
            cw_flush(w);
            k = CW_WIN;
        }
        if (k > n)
            k = n;
        memcpy(w->p, s, k);
        w->p += k;
        s += k;
        n -= k;
    }
}

/* One code point that word_bad flags, escaped: at most 12 bytes. */
static inline char *
canon_escape(char *p, unsigned long cp)
{
    switch (cp) {
    case '"':
    case '\\':
        *p++ = '\\';
        *p++ = (char)cp;
        return p;
    case '\n':
        *p++ = '\\';
        *p++ = 'n';
        return p;
    case '\r':
        *p++ = '\\';
        *p++ = 'r';
        return p;
    case '\t':
        *p++ = '\\';
        *p++ = 't';
        return p;
    case '\b':
        *p++ = '\\';
        *p++ = 'b';
        return p;
    case '\f':
        *p++ = '\\';
        *p++ = 'f';
        return p;
    default:
        break;
    }
    if (cp < 0x10000)
        return put_u(p, cp);
    p = put_u(p, 0xd800 + ((cp - 0x10000) >> 10));
    return put_u(p, 0xdc00 + ((cp - 0x10000) & 0x3ff));
}

/* Plain runs are copied eight bytes at a time (SWAR), stored before they
 * are checked: the first byte to escape ends the run (a short tail is
 * gathered in a register, as a zero-padded copy through memory would
 * stall the load, and the padding's zero ends it there). Each turn
 * writes at most 8 + 12 bytes, so CW_SLACK bytes of room are enough. */
#define CW_SLACK 24
static void
canon_string(struct cw *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *end = s + strlen(str);
    const char *plim = w->lim - CW_SLACK;
    unsigned long cp;
    char *p;

    cw_putc(w, '"');
    p = w->p;
    while (s < end) {
        size_t left = (size_t)(end - s);
        uint64_t x, bad;

        if (p > plim) {
            w->p = p;
            cw_flush(w);
            p = w->p;
        }
        if (left >= 8) {
            memcpy(&x, s, 8);
            memcpy(p, &x, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            x = __builtin_bswap64(x); /* first byte lowest */
#endif
            bad = word_bad(x);
            if (bad == 0) {
                p += 8;
                s += 8;
                continue;
            }
        } else {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            x = 0;
            for (size_t k = left; k-- > 0;) {
                x = (x << 8) | s[k];
                p[k] = (char)s[k];
            }
#else
            /* Little endian: loads of 4, 2 and 1 bytes, then one store. */
            size_t k = 0;
            x = 0;
            if (left & 4) {
                uint32_t v;
                memcpy(&v, s, 4);
                x = v;
                k = 4;
            }
            if (left & 2) {
                uint16_t v;
                memcpy(&v, s + k, 2);
                x |= (uint64_t)v << (8 * k);
                k += 2;
            }
            if (left & 1)
                x |= (uint64_t)s[k] << (8 * k);
            memcpy(p, &x, 8);
#endif
            bad = word_bad(x);
        }
        left = (size_t)__builtin_ctzll(bad) >> 3;
        p += left;
        s += left;
        if (s >= end)
            break;
        if (s[0] >= 0xc2 && s[0] <= 0xdf && is_cont(s[1])) {
            /* Two-byte UTF-8 (Latin and the like), the common non-ASCII. */
            p = put_u(p, ((unsigned long)(s[0] & 0x1f) << 6) | (s[1] & 0x3f));
            s += 2;
            continue;
        }
        s += decode_cp(s, &cp);
        p = canon_escape(p, cp);
    }
    w->p = p;
    cw_putc(w, '"');
}

static int
canon_number(const cJSON *v, struct cw *w, struct intentus_err *err)
{
    const char *t = v->valuestring;
    char tmp[48];
    double d;

    if (t != NULL) {
        size_t n = 0;
        while (t[n] != '\0' && t[n] != '.' && t[n] != 'e' && t[n] != 'E')
            n++;
        if (t[n] == '\0') {
            /* Integer text: Python keeps arbitrary precision, so do we. */
            if (n == 2 && t[0] == '-' && t[1] == '0')
                cw_putc(w, '0');
            else
                cw_bytes(w, t, n);
            return 0;
        }
        if (repr_from_text(t, tmp)) {
            cw_lit(w, tmp, strlen(tmp));
            return 0;
        }
    }
    d = t != NULL ? json_strtod(t) : v->valuedouble;
    if (!isfinite(d)) {
        err_set(err, IERR_INVALID, "number out of range: %.40s", t != NULL ? t : "non-finite");
        return -1;
    }
    if (t == NULL && d == floor(d) && fabs(d) < EXACT_INT_LIMIT) {
        /* An exact integer ("%.0f" without printf; -0 prints as 0). */
        unsigned long long u = (unsigned long long)fabs(d);
        char *q = tmp + sizeof(tmp);
        do {
            *--q = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (d < 0)
            *--q = '-';
        cw_lit(w, q, (size_t)(tmp + sizeof(tmp) - q));
        return 0;
    }
    old_format_double(d, tmp, sizeof(tmp));
    cw_lit(w, tmp, strlen(tmp));
    return 0;
}

struct member {
    const cJSON *node;
    size_t idx;
};

static int
member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = key_cmp(x->node->string, y->node->string);

    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
static int canon_value(const cJSON *v, struct cw *w, struct intentus_err *err);

static int
canon_object(const cJSON *v, struct cw *w, struct intentus_err *err)
{
    struct member stack[32], *m = stack;
    const cJSON *c;
    size_t n = 0, i;
    int rc = 0, first = 1;

    /* Count and fill in one pass while the members fit on the stack. */
    for (c = v->child; c != NULL; c = c->next) {
        if (c->string == NULL) {
            err_set(err, IERR_INVALID, "object member without a key");
            return -1;
        }
        if (n < sizeof(stack) / sizeof(stack[0])) {
            stack[n].node = c;
            stack[n].idx = n;
        }
        n++;
    }
    if (n == 0) {
        cw_lit(w, "{}", 2);
        return 0;
    }
    if (n > sizeof(stack) / sizeof(stack[0])) {
        if ((m = malloc(n * sizeof(*m))) == NULL) {
            err_set(err, IERR_NOMEM, "out of memory");
            return -1;
        }
        for (i = 0, c = v->child; c != NULL; c = c->next, i++) {
            m[i].node = c;
            m[i].idx = i;
        }
        qsort(m, n, sizeof(*m), member_cmp);
    } else {
        /* Insertion sort (stable: equal keys keep their order): the
         * objects of envelopes are small and often nearly sorted. */
        for (i = 1; i < n; i++) {
            struct member t = m[i];
            size_t j = i;
            while (j > 0 && key_cmp(m[j - 1].node->string, t.node->string) > 0) {
                m[j] = m[j - 1];
                j--;
            }
            m[j] = t;
        }
    }
    cw_putc(w, '{');
    for (i = 0; i < n && rc == 0; i++) {
        /* A repeated key (only possible in trees built in code) keeps its
         * last value, as a Python dict would. */
        if (i + 1 < n && m[i].node->string[0] == m[i + 1].node->string[0] &&
            key_cmp(m[i].node->string, m[i + 1].node->string) == 0)
            continue;
        if (!first)
            cw_putc(w, ',');
        first = 0;
        canon_string(w, m[i].node->string);
        cw_putc(w, ':');
        rc = canon_value(m[i].node, w, err);
    }
    cw_putc(w, '}');
    if (m != stack)
        free(m);
    return rc;
}

static int
canon_value(const cJSON *v, struct cw *w, struct intentus_err *err)
{
    const cJSON *c;
    cJSON *raw;
    int rc;

    switch (v->type & 0xff) {
    case cJSON_False:
        cw_lit(w, "false", 5);
        return 0;
    case cJSON_True:
        cw_lit(w, "true", 4);
        return 0;
    case cJSON_NULL:
        cw_lit(w, "null", 4);
        return 0;
    case cJSON_Number:
        return canon_number(v, w, err);
    case cJSON_String:
        if (v->valuestring == NULL)
            break;
        canon_string(w, v->valuestring);
        return 0;
    case cJSON_Raw:
        /* Spliced pre-serialised text is parsed so it canonicalises too. */
        if (v->valuestring == NULL)
            break;
        raw = json_parse(v->valuestring, strlen(v->valuestring), 0, err);
        if (raw == NULL) {
            err_prefix(err, "raw JSON node");
            return -1;
        }
        rc = canon_value(raw, w, err);
        cJSON_Delete(raw);
        return rc;
    case cJSON_Array:
        cw_putc(w, '[');
        for (c = v->child; c != NULL; c = c->next) {
            if (canon_value(c, w, err) != 0)
                return -1;
            if (c->next != NULL)
                cw_putc(w, ',');
        }
        cw_putc(w, ']');
        return 0;
    case cJSON_Object:
        return canon_object(v, w, err);
    default:
        break;
    }
    err_set(err, IERR_INVALID, "JSON node of unknown type or without a value");
    return -1;
}
/* NOLINTEND(misc-no-recursion) */

static int
old_json_canonical(const cJSON *v, struct buf *out, struct intentus_err *err)
{
    size_t start = out->len;
    struct cw w;
    int rc;

    if (v == NULL) {
        err_set(err, IERR_INVALID, "no JSON value to canonicalise");
        return -1;
    }
    w.out = out;
    w.md = NULL;
    w.failed = 0;
    w.p = w.win;
    w.lim = w.win + CW_WIN;
    rc = canon_value(v, &w, err);
    cw_flush(&w);
    /* An empty text still leaves a terminated buffer. */
    if (buf_reserve(out, 0) != 0 || out->failed) {
        err_set(err, IERR_NOMEM, "out of memory");
        return -1;
    }
    if (rc != 0) {
        /* Leave the buffer as it was so a caller cannot hash half a text. */
        out->len = start;
        out->data[start] = '\0';
        return -1;
    }
    return 0;
}
/* NOLINTEND */
/* ==== end of the old implementation ==== */

/* ---- generator ---- */

static uint64_t rng_state;

static uint32_t
rnd(uint32_t n)
{
    /* xorshift64*: fixed seeds, the same documents on every machine. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32) % n;
}

static void
put_utf8(struct buf *b, uint32_t cp)
{
    if (cp < 0x80) {
        buf_putc(b, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(b, (char)(0xc0 | (cp >> 6)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        buf_putc(b, (char)(0xe0 | (cp >> 12)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    } else {
        buf_putc(b, (char)(0xf0 | (cp >> 18)));
        buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3f)));
        buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3f)));
        buf_putc(b, (char)(0x80 | (cp & 0x3f)));
    }
}

/* One piece of string content: mostly plain ASCII, every kind of byte
 * the escaper tells apart now and then. */
static void
gen_piece(struct buf *b, unsigned plain_weight)
{
    uint32_t k = rnd(plain_weight + 14);

    if (k < plain_weight) {
        buf_putc(b, (char)(k % 3 == 0 ? ' ' + rnd(95) : 'a' + rnd(26)));
        return;
    }
    switch (k - plain_weight) {
    case 0:
        buf_putc(b, '"');
        break;
    case 1:
        buf_putc(b, '\\');
        break;
    case 2:
        buf_putc(b, (char)(1 + rnd(31))); /* controls, \n \t \r \b \f among them */
        break;
    case 3:
        buf_putc(b, 0x7f);
        break;
    case 4:
    case 5:
        put_utf8(b, 0x80 + rnd(0x800 - 0x80)); /* 2-byte */
        break;
    case 6: {
        uint32_t cp = 0x800 + rnd(0x10000 - 0x800);
        if (cp >= 0xd800 && cp <= 0xdfff)
            cp -= 0x800;
        put_utf8(b, cp); /* 3-byte */
        break;
    }
    case 7:
        put_utf8(b, 0x10000 + rnd(0x110000 - 0x10000)); /* 4-byte */
        break;
    case 8: /* a lone surrogate as json.h stores it (ED A0..BF xx) */
        buf_putc(b, (char)0xed);
        buf_putc(b, (char)(0xa0 + rnd(32)));
        buf_putc(b, (char)(0x80 + rnd(64)));
        break;
    case 9: /* U+0000 as json.h stores it */
        buf_putc(b, (char)0xc0);
        buf_putc(b, (char)0x80);
        break;
    case 10: /* invalid: a lone continuation or lead byte, 0xff, overlong */
        buf_putc(b, (char)(0x80 + rnd(128)));
        break;
    case 11: /* a 2-byte lead without its continuation */
        buf_putc(b, (char)(0xc2 + rnd(30)));
        buf_putc(b, 'x');
        break;
    case 12: /* a truncated 3- or 4-byte sequence */
        buf_putc(b, (char)(rnd(2) ? 0xe2 : 0xf0));
        buf_putc(b, (char)0x90);
        break;
    default:
        buf_puts(b, "caf\xc3\xa9 ");
        break;
    }
}

static size_t
gen_len(void)
{
    switch (rnd(8)) {
    case 0:
        return rnd(4);
    case 1:
    case 2:
        return rnd(20); /* around the 8- and 16-byte steps */
    case 3:
        return 14 + rnd(20);
    case 4:
        return 60 + rnd(80);
    case 5:
        return rnd(300);
    case 6:
        return rnd(50) == 0 ? 3000 + rnd(6000) : rnd(40); /* across the 4 KB window */
    default:
        return rnd(12);
    }
}

static cJSON *
gen_string(void)
{
    struct buf b = BUF_INIT;
    size_t n = gen_len();
    unsigned plain = rnd(4) == 0 ? 2 : 60;
    cJSON *s;

    buf_reserve(&b, n + 8);
    while (b.len < n)
        gen_piece(&b, plain);
    buf_reserve(&b, 0);
    s = cJSON_CreateString(b.data != NULL ? b.data : "");
    buf_free(&b);
    return s;
}

static const char *const key_pool[] = {
    "a",
    "ab",
    "abc",
    "b",
    "A",
    "Z",
    "_",
    "",
    "id",
    "score",
    "tags",
    "text",
    "payload",
    "abcdefgh",
    "abcdefghi",
    "abcdefghj",
    "abcdefgh\xc0\x80",
    "abcdefg\xc0\x80",
    "\xc0\x80",
    "\xc0\x80x",
    "a\xc0\x80",
    "x\300\200b",
    "caf\xc3\xa9",
    "caf\xc3\xa8",
    "z\xe2\x82\xac",
    "\xf0\x9f\x98\x80",
    "\xef\xbf\xbd",
    "\xed\xa0\x80",
    "\x7f",
    "key with \"quote\"",
    "longkeyprefix_same_1",
    "longkeyprefix_same_2",
    "longkeyprefix_same",
    "createdAt",
    "createdBy",
    "\xff",
    "\200a",
    "tab\there",
};

static char *
gen_key(void)
{
    if (rnd(3) != 0)
        return strdup(key_pool[rnd(sizeof(key_pool) / sizeof(key_pool[0]))]);
    cJSON *s = gen_string();
    char *k = strdup(s->valuestring);
    cJSON_Delete(s);
    return k;
}

static const char *const number_pool[] = {
    "0",
    "-0",
    "1",
    "-1",
    "10",
    "123456789012345678901234567890",
    "-98765432109876543210",
    "0.0",
    "-0.0",
    "1.5",
    "0.1",
    "0.25",
    "7.0",
    "1e5",
    "1E5",
    "1e+5",
    "1.5e-7",
    "-2.5E+300",
    "1e308",
    "1e-310",
    "4.9e-324",
    "2.2250738585072014e-308",
    "0.30000000000000004",
    "123456789012345.6",
    "1234567890123456.7",
    "0.1000000000000000055511151231257827",
    "9007199254740993.0",
    "1e16",
    "1e17",
    "12345678901234567890.0",
    "0.0001",
    "0.00001",
    "100000000000000000000000.0",
    "7.120236347223045e-307",
    "5e-324",
    "1.7976931348623157e308",
    "3.14159265358979323846",
    "-0.000123e-4",
    "2e0",
    "0e10",
    "0.0e-5",
};

static cJSON *
gen_number(void)
{
    char text[64];
    cJSON *v;

    switch (rnd(5)) {
    case 0: {
        /* A double built in code (no text): integral, random bits, small. */
        double d;
        /* One call per statement: the documents are the same whatever the
         * compiler's order of evaluation. */
        uint64_t bits = (uint64_t)rnd(0x7fffffff) << 33;
        bits ^= (uint64_t)rnd(0x7fffffff) << 2;
        switch (rnd(4)) {
        case 0:
            d = (double)(int32_t)rnd(0xffffffffu);
            break;
        case 1:
            memcpy(&d, &bits, sizeof(d));
            if (!isfinite(d))
                d = 1.25;
            break;
        case 2:
            d = (double)rnd(1000000);
            d /= (double)(1 + rnd(1000));
            break;
        default:
            d = (double)rnd(1 << 30);
            d = ldexp(d, (int)rnd(200) - 100);
            break;
        }
        return cJSON_CreateNumber(rnd(2) ? d : -d);
    }
    case 1: {
        /* Random integer or decimal text of up to 20 digits. */
        int n = 1 + (int)rnd(20), i, w = 0;
        if (rnd(2))
            text[w++] = '-';
        text[w++] = (char)('1' + rnd(9));
        for (i = 1; i < n; i++)
            text[w++] = (char)('0' + rnd(10));
        if (rnd(2)) {
            text[w++] = '.';
            for (i = 0, n = 1 + (int)rnd(18); i < n; i++)
                text[w++] = (char)('0' + rnd(10));
        }
        if (rnd(3) == 0)
            w += snprintf(text + w, sizeof(text) - (size_t)w, "e%d", (int)rnd(600) - 300);
        text[w] = '\0';
        break;
    }
    default:
        snprintf(text, sizeof(text), "%s",
                 number_pool[rnd(sizeof(number_pool) / sizeof(number_pool[0]))]);
        break;
    }
    v = json_parse(text, strlen(text), 0, NULL);
    return v != NULL ? v : cJSON_CreateNumber(0.5);
}

static const char *const raw_pool[] = {
    "{\"b\":1,\"a\":[2,3.50,\"x\"]}", "[1,2,{\"z\":null,\"y\":true}]", "\"caf\\u00e9\"", "12.0",
    "{\"a\":{\"c\":1,\"b\":2}}",
};

/* NOLINTBEGIN(misc-no-recursion): a bounded-depth generator. */
static cJSON *
gen_value(int depth, bool allow_bad)
{
    uint32_t k = rnd(depth >= 5 ? 6 : 10);

    switch (k) {
    case 0:
        return cJSON_CreateNull();
    case 1:
        return rnd(2) ? cJSON_CreateTrue() : cJSON_CreateFalse();
    case 2:
    case 3:
        return gen_number();
    case 4:
    case 5:
        if (allow_bad && rnd(400) == 0)
            return rnd(2) ? cJSON_CreateNumber(INFINITY) : cJSON_CreateRaw("{\"cut\":");
        if (rnd(60) == 0)
            return cJSON_CreateRaw(raw_pool[rnd(sizeof(raw_pool) / sizeof(raw_pool[0]))]);
        return gen_string();
    case 6:
    case 7: {
        cJSON *a = cJSON_CreateArray();
        for (uint32_t i = 0, n = rnd(8); i < n; i++)
            cJSON_AddItemToArray(a, gen_value(depth + 1, allow_bad));
        return a;
    }
    default: {
        cJSON *o = cJSON_CreateObject();
        uint32_t n = rnd(10) == 0 ? 25 + rnd(16) : rnd(12);
        for (uint32_t i = 0; i < n; i++) {
            char *key = gen_key();
            /* AddItemToObject keeps repeated keys (as trees built in code can). */
            cJSON_AddItemToObject(o, key, gen_value(depth + 1, allow_bad));
            free(key);
        }
        return o;
    }
    }
}
/* NOLINTEND(misc-no-recursion) */

/* ---- comparison ---- */

static unsigned compared, refused;

static void
compare(const cJSON *v, unsigned doc)
{
    struct intentus_err e1 = { IERR_OK, "" }, e2 = { IERR_OK, "" }, e3 = { IERR_OK, "" };
    struct buf a = BUF_INIT, b = BUF_INIT;
    char want[65], got[65];
    int r1 = old_json_canonical(v, &a, &e1);
    int r2 = json_canonical(v, &b, &e2);
    int r3 = json_canonical_sha256(v, got, &e3);

    if (r1 != r2 || r1 != r3)
        fail_msg("document %u: old rc %d, new rc %d, hash rc %d (%s / %s)", doc, r1, r2, r3, e1.msg,
                 e2.msg);
    if (r1 != 0) {
        assert_int_equal(e1.code, e2.code);
        assert_int_equal(e1.code, e3.code);
        assert_string_equal(e1.msg, e2.msg);
        assert_int_equal(b.len, 0);
        refused++;
    } else {
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
            size_t i = 0;
            while (i < a.len && i < b.len && a.data[i] == b.data[i])
                i++;
            fail_msg("document %u: canonical text differs at byte %zu of %zu/%zu: old "
                     "\"%.60s\" new \"%.60s\"",
                     doc, i, a.len, b.len, a.data + (i > 20 ? i - 20 : 0),
                     b.data + (i > 20 ? i - 20 : 0));
        }
        json_sha256_hex(a.data, a.len, want);
        assert_string_equal(got, want);
        compared++;
    }
    buf_free(&a);
    buf_free(&b);
}

static void
test_generated_documents_match_old(void **state)
{
    (void)state;
    compared = refused = 0;
    for (unsigned doc = 0; doc < 4000; doc++) {
        rng_state = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)doc * 0x100000001b3ULL) ^ 1;
        cJSON *v = gen_value(0, true);
        compare(v, doc);
        cJSON_Delete(v);
    }
    print_message("%u documents identical, %u refused by both\n", compared, refused);
    assert_true(compared > 3500);
    assert_true(refused > 0);
}

/* Every string of up to 300 bytes made of one kind of piece, at every
 * length: the step between the 16-byte, 8-byte and tail paths. */
static void
test_every_length_every_kind(void **state)
{
    (void)state;
    for (unsigned kind = 0; kind < 15; kind++) {
        for (size_t len = 0; len < 300; len++) {
            struct buf s = BUF_INIT;
            rng_state = 77 + kind * 1000 + len;
            buf_reserve(&s, len + 8);
            while (s.len < len) {
                if (rnd(3) == 0)
                    gen_piece(&s, 0);
                else
                    buf_putc(&s, (char)('a' + rnd(26)));
                if (kind < 14 && s.len + 1 == len)
                    break;
            }
            buf_reserve(&s, 0);
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, s.data, cJSON_CreateString(s.data));
            cJSON_AddItemToObject(o, "k", cJSON_CreateString(s.data));
            compare(o, (unsigned)(kind * 1000 + len));
            cJSON_Delete(o);
            buf_free(&s);
        }
    }
}

/* Pieces the escaper handles one at a time, each a different branch. */
static const char *const esc_kinds[] = {
    "\"",       "\\",           "\x01",         "\n",
    "\x7f",     "\xc3\xa9",     "\xe2\x82\xac", "\xf0\x9f\x98\x80",
    "\xc0\x80", "\xed\xa0\x80", "\xff",         "\xc3",
};
#define N_ESC_KINDS (sizeof(esc_kinds) / sizeof(esc_kinds[0]))

static void
compare_string(const char *text, unsigned doc)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddItemToObject(o, "k", cJSON_CreateString(text));
    cJSON_AddItemToObject(o, "l", cJSON_CreateStringReference(text));
    compare(o, doc);
    cJSON_Delete(o);
}

/* Two escapes at every pair of places of a string of up to 67 bytes: two
 * in one 16-byte block (the second found from the block's mask), one
 * across a block boundary (a multi-byte sequence starting at byte 14 or
 * 15), and escapes so near the end that the block cannot be reloaded. */
static void
test_two_escapes_at_every_place(void **state)
{
    static const size_t tails[] = { 0, 1, 2, 15, 16, 17 };
    unsigned doc = 0;

    (void)state;
    for (size_t ka = 0; ka < N_ESC_KINDS; ka++) {
        const char *b = esc_kinds[(ka * 5 + 1) % N_ESC_KINDS];
        for (size_t i = 0; i <= 33; i++) {
            for (size_t j = 0; j <= 17; j++) {
                for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
                    struct buf s = BUF_INIT;
                    for (size_t k = 0; k < i; k++)
                        buf_putc(&s, (char)('a' + k % 26));
                    buf_puts(&s, esc_kinds[ka]);
                    for (size_t k = 0; k < j; k++)
                        buf_putc(&s, (char)('A' + k % 26));
                    buf_puts(&s, b);
                    for (size_t k = 0; k < tails[t]; k++)
                        buf_putc(&s, (char)('0' + k % 10));
                    compare_string(s.data, doc++);
                    buf_free(&s);
                }
            }
        }
    }
}

/* Nothing but escapes: up to 16 in a block (the most output one block
 * makes, which the window's slack must hold), and runs long enough to
 * cross several window flushes. */
static void
test_dense_escapes(void **state)
{
    static const size_t counts[] = { 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 2000 };

    (void)state;
    for (size_t ka = 0; ka < N_ESC_KINDS; ka++) {
        for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
            for (size_t lead = 0; lead < 3; lead++) {
                struct buf s = BUF_INIT;
                for (size_t k = 0; k < lead; k++)
                    buf_putc(&s, 'p');
                for (size_t k = 0; k < counts[c]; k++)
                    buf_puts(&s, esc_kinds[ka]);
                compare_string(s.data, (unsigned)(ka * 1000 + c * 10 + lead));
                buf_free(&s);
            }
        }
    }
}

/* The bench's envelopes, as intentus bench hash measures them. */
static void
test_envelope_like_documents(void **state)
{
    static const char *const words[] = { "route",       "caf\xc3\xa9",        "na\xc3\xafve",
                                         "\303\274ber", "d\xc3\xa9j\xc3\xa0", "search",
                                         "token" };
    (void)state;
    for (unsigned doc = 0; doc < 50; doc++) {
        struct buf t = BUF_INIT;
        rng_state = 4242 + doc;
        buf_puts(&t, "{\"payload\":{\"items\":[");
        for (unsigned i = 0, n = rnd(40); i < n; i++) {
            unsigned whole = rnd(100), frac = rnd(10); /* in this order on every compiler */
            buf_printf(&t, "%s{\"id\":%u,\"score\":%u.%u,\"tags\":[\"a\",\"b\"],\"text\":\"",
                       i ? "," : "", i, whole, frac);
            for (unsigned w = 0; w < 20; w++)
                buf_printf(&t, "%s ", words[rnd(7)]);
            buf_puts(&t, "\"}");
        }
        buf_puts(&t,
                 "],\"lang\":\"en\",\"maxResults\":10,\"temperature\":0.25},\"version\":\"1.0\","
                 "\"metadata\":{\"requestId\":\"8356b31a-7e50-4964-9d87-440618023a46\","
                 "\"createdAt\":\"2026-12-01T17:46:31.873990+00:00\",\"identityChain\":[]}}");
        cJSON *v = json_parse(t.data, t.len, 0, NULL);
        assert_non_null(v);
        compare(v, 100000 + doc);
        cJSON_Delete(v);
        buf_free(&t);
    }
}

/* ---- speed against the old implementation ---- */

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_documents_match_old),
        cmocka_unit_test(test_every_length_every_kind),
        cmocka_unit_test(test_envelope_like_documents),
        cmocka_unit_test(test_two_escapes_at_every_place),
        cmocka_unit_test(test_dense_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
