/* Canonical JSON (Python json.dumps(sort_keys=True, separators=(",",":"),
 * ensure_ascii=True) of what json.loads would have produced), its SHA-256,
 * and Python's repr() of doubles. Every hash intentus shares with the
 * reference goes through here, so the output must match Python byte for
 * byte; see json.h and the model file (section 3.2) for the rules. */
#include <locale.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/json.h"
#include "core/text_scan.h"
#include "core/thread_slot.h"

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

int
json_format_double(double d, char *out, size_t size)
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

/* Hex digits, and the two digits of every byte value ("00".."ff"). */
static const char hex_lower[] = "0123456789abcdef";
static const char hex_pairs[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                                "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
                                "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
                                "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
                                "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
                                "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
                                "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
                                "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

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

/* Plain runs are copied 16 bytes at a time (SSE2 where there is one, else
 * eight with SWAR), stored before they are checked: the first byte to
 * escape ends the run (its position from the mask's lowest set bit). Text
 * with an escape every few words (accented words) so takes one load per
 * escape and the "is there one" branch is mostly taken, where eight-byte
 * steps found one every other step and mispredicted. A tail of under 8
 * bytes is gathered in a register (a zero-padded copy through memory would
 * stall the load) and the padding's zero ends it. A turn writes at most
 * 16 bytes and then, for each of at most 16 escapes in the block, 12 bytes
 * and a 16-byte store, so CW_SLACK bytes of room are enough. */
#define CW_SLACK (16 + 16 * (12 + 16))
#if defined(__SSE2__)
static inline unsigned
sse_bad(__m128i v)
{
    /* Signed bytes: below 0x20 is a control or (negative) non-ASCII. */
    __m128i m = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                             _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Whether the 16 bytes of two words (a short string and its padding)
 * need no escape: one vector test where there is SSE2, which costs a
 * quarter of the two SWAR chains. */
static inline bool
words_plain(uint64_t lo, uint64_t hi)
{
#if defined(__SSE2__)
    return sse_bad(_mm_set_epi64x((long long)hi, (long long)lo)) == 0;
#else
    return (word_bad(lo) | word_bad(hi)) == 0;
#endif
}

/* The code point at s, which word_bad or sse_bad flagged, escaped at *p
 * (at most 12 bytes). Returns the number of bytes of s consumed. */
static inline __attribute__((always_inline)) size_t
escape_one(const unsigned char *s, char **pp)
{
    unsigned long cp;
    char *p = *pp;
    size_t n;

    if (s[0] >= 0xc2 && s[0] <= 0xdf && is_cont(s[1])) {
        /* Two-byte UTF-8 (Latin and the like), the common non-ASCII:
         * "\u0" and three hex digits of the 11-bit code point. */
        cp = ((unsigned long)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        p[0] = '\\';
        p[1] = 'u';
        p[2] = '0';
        p[3] = hex_lower[cp >> 8];
        memcpy(p + 4, hex_pairs + 2 * (cp & 0xff), 2);
        *pp = p + 6;
        return 2;
    }
    n = decode_cp(s, &cp);
    *pp = canon_escape(p, cp);
    return n;
}

#if defined(__SSE2__)
/* The 16 bytes at s, already stored at *p, have the bytes to escape that m
 * flags. Every escape of the block is taken from m, the plain bytes after
 * each re-stored from a 16-byte load while that stays inside the string,
 * and the caller goes on at s + 16: where the next block starts does not
 * wait for this one's escapes to be found (a chain of load, compare and
 * bit scan per escape when each escape started the next block), so the
 * loads of the following blocks run ahead. Returns where the caller goes
 * on: s + 16, or just after the last escape handled when that one ends
 * past the block or the string is too near its end for the reload. */
static inline const unsigned char *
block_escapes(const unsigned char *s, const unsigned char *end, unsigned m, char **pp)
{
    char *p = *pp;
    size_t pos = 0, k;

    for (;;) {
        k = (size_t)__builtin_ctz(m);
        p += k - pos;
        pos = k + escape_one(s + k, &p);
        /* pos <= 15 + 4: the shift is defined, and clears all of m from 16. */
        m &= ~0U << pos;
        if (pos >= 16 || (size_t)(end - s) < pos + 16) {
            *pp = p;
            return s + pos;
        }
        _mm_storeu_si128((__m128i *)(void *)p,
                         _mm_loadu_si128((const __m128i *)(const void *)(s + pos)));
        if (m == 0)
            break;
    }
    *pp = p + (16 - pos);
    return s + 16;
}
#endif

static void canon_string_long(struct cw *w, const unsigned char *s, const unsigned char *end);

/* A string, quoted and escaped. The short case is inline (most keys and
 * values of an envelope); the rest is canon_string_long. */
static inline void
canon_string(struct cw *w, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    const unsigned char *end = s + len;
    char *p;

#if !(defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
    if (len <= 16) {
        /* Keys and short values: loaded as two words (overlapping for 9 to
         * 16 bytes), and when nothing needs escaping stored as they are,
         * the quotes with them. */
        uint64_t lo, hi;
        /* The padding is not text: a byte that needs no escape. */
        text_load_short(s, len, 'a', &lo, &hi);
        if (words_plain(lo, hi)) {
            p = cw_room(w, 18);
            p[0] = '"';
            memcpy(p + 1, &lo, 8);
            if (len > 8)
                memcpy(p + 1 + len - 8, &hi, 8);
            p[1 + len] = '"';
            w->p = p + len + 2;
            return;
        }
    }
#endif
    canon_string_long(w, s, end);
}

static void
canon_string_long(struct cw *w, const unsigned char *s, const unsigned char *end)
{
    const char *plim = w->lim - CW_SLACK;
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
#if defined(__SSE2__)
        if (left >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
            unsigned m;
            _mm_storeu_si128((__m128i *)(void *)p, v);
            m = sse_bad(v);
            if (m == 0) {
                p += 16;
                s += 16;
                continue;
            }
            s = block_escapes(s, end, m, &p);
            continue;
        }
#endif
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
            /* Little endian: loads of 4, 2 and 1 bytes, then one store;
             * the zero padding ends the run (it counts as a control). */
            x = text_gather(s, left, 0);
            memcpy(p, &x, 8);
#endif
            bad = word_bad(x);
        }
        left = (size_t)__builtin_ctzll(bad) >> 3;
        p += left;
        s += left;
        if (s >= end)
            break;
        s += escape_one(s, &p);
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
    json_format_double(d, tmp, sizeof(tmp));
    cw_lit(w, tmp, strlen(tmp));
    return 0;
}

/* An object member while its object is printed: the key's length is
 * taken once (for sorting and printing), and its first 8 bytes as a
 * big-endian word (zero-padded) decide most comparisons in one step. On
 * little-endian machines the key's bytes are also kept as loaded (lo: the
 * first 8, zero-padded; hi: the last 8 of a 9 to 16 byte key) so that a
 * key needing no escape is printed from them with its quotes, colon and
 * comma in one go. */
struct member {
    const cJSON *node;
    const char *key;
    size_t len;
    uint64_t pre;
    uint64_t lo, hi;
    size_t idx;
};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CANON_LE 0
#else
#define CANON_LE 1
#endif

static inline __attribute__((always_inline)) void
member_set(struct member *m, const cJSON *c, size_t i)
{
    const unsigned char *s = (const unsigned char *)c->string;
    size_t len = strlen(c->string);
    uint64_t x = 0;

    m->node = c;
    m->key = c->string;
    m->len = len;
    m->idx = i;
    m->hi = 0;
#if CANON_LE
    if (len >= 8) {
        memcpy(&x, s, 8);
        if (len <= 16)
            memcpy(&m->hi, s + len - 8, 8);
    } else {
        x = text_gather(s, len, 0); /* zero padding: see member_key_cmp */
    }
    m->lo = x;
    m->pre = __builtin_bswap64(x);
#else
    for (size_t k = 0; k < len && k < 8; k++)
        x |= (uint64_t)s[k] << (56 - 8 * k);
    m->lo = 0;
    m->pre = x;
#endif
}

/* ["," ] the key, quoted, and ':'. */
static inline void
canon_key(struct cw *w, const struct member *m, int first)
{
#if CANON_LE
    if (m->len <= 16) {
        /* The padding of a short key is not text: test it as 'a's. */
        uint64_t lo = m->len < 8 ? m->lo | (SWAR_ONES * 'a') << (8 * m->len) : m->lo;
        uint64_t hi = m->len > 8 ? m->hi : lo;
        if (words_plain(lo, hi)) {
            char *p = cw_room(w, 20);
            if (!first)
                *p++ = ',';
            p[0] = '"';
            memcpy(p + 1, &m->lo, 8);
            if (m->len > 8)
                memcpy(p + 1 + m->len - 8, &m->hi, 8);
            p[1 + m->len] = '"';
            p[2 + m->len] = ':';
            w->p = p + m->len + 3;
            return;
        }
    }
#endif
    if (!first)
        cw_putc(w, ',');
    canon_string(w, m->key, m->len);
    cw_putc(w, ':');
}

/* key_cmp of the two keys. Word order of the prefixes is byte order of
 * their first 8 bytes (the zero padding sorts before every byte a key can
 * hold), and byte order is key_cmp's order unless a C0 80 (U+0000) is at
 * or before the first difference: so the prefixes decide whenever they
 * differ and neither holds a 0xc0 byte. */
static inline int
member_key_cmp(const struct member *x, const struct member *y)
{
    if (x->pre != y->pre && swar_eq(x->pre, 0xc0) == 0 && swar_eq(y->pre, 0xc0) == 0)
        return x->pre < y->pre ? -1 : 1;
    if (x->len <= 8 && y->len <= 8 && x->pre == y->pre && x->len == y->len)
        return 0;
    return key_cmp(x->key, y->key);
}

static int
member_cmp(const void *a, const void *b)
{
    const struct member *x = a, *y = b;
    int c = member_key_cmp(x, y);

    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
static int canon_node(const cJSON *v, struct cw *w, struct intentus_err *err);

/* Plain decimal text "[-]I.F" (no exponent) of at most 15 significant
 * digits once F's trailing zeros are dropped, at or above 1e-4: repr()
 * prints it as "[-]I." and F without its trailing zeros (or "0"), since
 * such a decimal is the only one of its length or shorter that reads as
 * its double (the argument of repr_from_text) and it is in repr's fixed
 * notation range. t + n is the '.', and p[0..n) already holds t[0..n).
 * Returns the end of the text written, or NULL for anything else. */
static inline char *
decimal_fast(const char *t, size_t n, char *p)
{
    size_t neg = t[0] == '-', ilen = n - neg, k, last = 0, zeros = 0;
    const char *f = t + n + 1;
    bool int_zero;

    if (ilen == 0 || (t[neg] == '0' && ilen != 1))
        return NULL;
    int_zero = t[neg] == '0';
    for (k = 0; f[k] != '\0'; k++) {
        if (f[k] < '0' || f[k] > '9' || k >= 40)
            return NULL;
        if (f[k] != '0')
            last = k + 1;
        else if (last == 0)
            zeros++;
    }
    if (k == 0)
        return NULL;
    if (int_zero ? last != 0 && (zeros >= 4 || last - zeros > 15) : ilen + last > 15)
        return NULL;
    p[n] = '.';
    if (last == 0) {
        p[n + 1] = '0';
        return p + n + 2;
    }
    for (k = 0; k < last; k++)
        p[n + 1 + k] = f[k];
    return p + n + 1 + last;
}

/* Integer and short decimal text from a parser (the common numbers),
 * copied while it is scanned; anything else goes to canon_number. */
static inline int
canon_number_fast(const cJSON *v, struct cw *w, struct intentus_err *err)
{
    const char *t = v->valuestring;

    if (t != NULL) {
        char *p = cw_room(w, 48);
        size_t n = 0;
        char ch;
        while ((ch = t[n]) != '\0' && ch != '.' && ch != 'e' && ch != 'E' && n < 24) {
            p[n] = ch;
            n++;
        }
        if (ch == '\0') {
            if (n == 2 && t[0] == '-' && t[1] == '0') {
                p[0] = '0'; /* Python's int("-0") */
                n = 1;
            }
            w->p = p + n;
            return 0;
        }
        if (ch == '.') {
            char *e = decimal_fast(t, n, p);
            if (e != NULL) {
                w->p = e;
                return 0;
            }
        }
    }
    return canon_number(v, w, err);
}

/* A member or element: strings and numbers without a call through
 * canon_node's switch (most of a tree's nodes are such leaves). Always
 * inlined into the member and element loops, as member_set is into
 * canon_object: as calls of their own, saving and restoring registers
 * cost a good part of printing a short leaf. */
static inline __attribute__((always_inline)) int
canon_item(const cJSON *v, struct cw *w, struct intentus_err *err)
{
    int type = v->type & 0xff;

    if (type == cJSON_String && v->valuestring != NULL) {
        canon_string(w, v->valuestring, strlen(v->valuestring));
        return 0;
    }
    if (type == cJSON_Number)
        return canon_number_fast(v, w, err);
    return canon_node(v, w, err);
}

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
        if (n < sizeof(stack) / sizeof(stack[0]))
            member_set(&stack[n], c, n);
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
        for (i = 0, c = v->child; c != NULL; c = c->next, i++)
            member_set(&m[i], c, i);
        qsort(m, n, sizeof(*m), member_cmp);
    } else {
        /* Insertion sort (stable: equal keys keep their order): the
         * objects of envelopes are small and often nearly sorted. */
        for (i = 1; i < n; i++) {
            struct member t;
            size_t j = i;
            if (member_key_cmp(&m[i - 1], &m[i]) <= 0)
                continue; /* already in place: no copies */
            t = m[i];
            while (j > 0 && member_key_cmp(&m[j - 1], &t) > 0) {
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
        if (i + 1 < n && m[i].pre >> 56 == m[i + 1].pre >> 56 &&
            member_key_cmp(&m[i], &m[i + 1]) == 0)
            continue;
        canon_key(w, &m[i], first);
        first = 0;
        rc = canon_item(m[i].node, w, err);
    }
    cw_putc(w, '}');
    if (m != stack)
        free(m);
    return rc;
}

static int
canon_node(const cJSON *v, struct cw *w, struct intentus_err *err)
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
        canon_string(w, v->valuestring, strlen(v->valuestring));
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
        rc = canon_node(raw, w, err);
        cJSON_Delete(raw);
        return rc;
    case cJSON_Array:
        cw_putc(w, '[');
        for (c = v->child; c != NULL; c = c->next) {
            if (canon_item(c, w, err) != 0)
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

int
json_canonical(const cJSON *v, struct buf *out, struct intentus_err *err)
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
    rc = canon_node(v, &w, err);
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

/* SHA-256 fetched once: OpenSSL 3's EVP_sha256() is fetched again, under
 * a lock, on every EVP_Digest, which cost more than hashing a small
 * envelope. The fetched method is immutable and shared by every thread. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
sha256(void)
{
    pthread_once(&sha256_once, sha256_fetch);
    return sha256_md != NULL ? sha256_md : EVP_sha256();
}

/* One digest context per thread, reused from hash to hash: a fresh one
 * (EVP_MD_CTX_new, then the provider's state at the first init) cost two
 * heap requests per envelope hashed. Freed when its thread exits. */
static void *
md_make(void)
{
    return EVP_MD_CTX_new();
}

static void
md_destroy(void *p)
{
    EVP_MD_CTX_free(p);
}

static struct thread_slot md_slot = THREAD_SLOT(md_make, md_destroy);

/* This thread's context, or a new one when it has none (*owned: free it
 * after use, it could not be kept). NULL: out of memory. */
static EVP_MD_CTX *
md_ctx_get(bool *owned)
{
    EVP_MD_CTX *c = thread_slot_get(&md_slot);

    *owned = c == NULL;
    return c != NULL ? c : EVP_MD_CTX_new();
}

static void
to_hex(const unsigned char md[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 0x0f];
    }
    hex[64] = '\0';
}

static int
sha256_hex(const void *data, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    hex[0] = '\0';
    if (EVP_Digest(data, len, md, &n, sha256(), NULL) != 1 || n != 32)
        return -1;
    to_hex(md, hex);
    return 0;
}

void
json_sha256_hex(const void *data, size_t len, char hex[65])
{
    /* On a (practically impossible) libcrypto failure hex is "", which
     * compares unequal to every real digest. */
    sha256_hex(data, len, hex);
}

int
json_canonical_sha256(const cJSON *v, char hex[65], struct intentus_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    struct cw w;
    bool owned;
    int rc;

    hex[0] = '\0';
    if (v == NULL) {
        err_set(err, IERR_INVALID, "no JSON value to canonicalise");
        return -1;
    }
    /* The text is hashed as it is printed, a window at a time. */
    w.out = NULL;
    w.failed = 0;
    w.p = w.win;
    w.lim = w.win + CW_WIN;
    w.md = md_ctx_get(&owned);
    if (w.md == NULL) {
        err_set(err, IERR_NOMEM, "out of memory");
        return -1;
    }
    if (EVP_DigestInit_ex(w.md, sha256(), NULL) != 1)
        w.failed = 1;
    rc = canon_node(v, &w, err);
    cw_flush(&w);
    if (rc == 0 && (w.failed || EVP_DigestFinal_ex(w.md, md, &n) != 1 || n != 32)) {
        err_set(err, IERR_INVALID, "SHA-256 computation failed");
        rc = -1;
    }
    if (owned)
        EVP_MD_CTX_free(w.md);
    if (rc == 0)
        to_hex(md, hex);
    return rc;
}
