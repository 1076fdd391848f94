#include "tui/fmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
fmt_duration_us(int64_t us, char *out, size_t size)
{
    if (us < 0)
        snprintf(out, size, "-");
    else if (us < 1000)
        snprintf(out, size, "%lldus", (long long)us);
    else if (us < 1000000)
        snprintf(out, size, "%.1fms", (double)us / 1000.0);
    else if (us < 60000000)
        snprintf(out, size, "%.2fs", (double)us / 1e6);
    else
        snprintf(out, size, "%lldm%02llds", (long long)(us / 60000000),
                 (long long)(us / 1000000 % 60));
}

void
fmt_time_short(int64_t wall_us, char *out, size_t size)
{
    time_t t = (time_t)(wall_us / 1000000);
    struct tm tm;

    if (wall_us <= 0 || gmtime_r(&t, &tm) == NULL) {
        snprintf(out, size, "-");
        return;
    }
    strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}

size_t
fmt_width(const char *s)
{
    size_t w = 0;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) != 0x80)
            w++;
    }
    return w;
}

void
fmt_cell(const char *s, size_t width, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    size_t cols = 0, o = 0;

    if (size == 0)
        return;
    if (fmt_width((const char *)p) <= width) {
        snprintf(out, size, "%s", (const char *)p);
        return;
    }
    while (*p && width > 0 && cols < width - 1) {
        size_t n = 1;
        while ((p[n] & 0xc0) == 0x80)
            n++;
        if (o + n + 4 > size)
            break;
        memcpy(out + o, p, n);
        o += n;
        p += n;
        cols++;
    }
    if (width > 0 && o + 4 <= size) {
        memcpy(out + o, "\xe2\x80\xa6", 3); /* … */
        o += 3;
    }
    out[o] = '\0';
}

static int
cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

    return a < b ? -1 : a > b;
}

static int64_t
percentile(const int64_t *sorted, size_t n, double p)
{
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);

    return sorted[i < n ? i : n - 1];
}

void
fmt_latency_summary(int64_t *us, size_t n, char *out, size_t size)
{
    char d50[24], d95[24], d99[24];

    if (n == 0) {
        snprintf(out, size, "no latencies");
        return;
    }
    qsort(us, n, sizeof(*us), cmp_i64);
    fmt_duration_us(percentile(us, n, 0.50), d50, sizeof(d50));
    fmt_duration_us(percentile(us, n, 0.95), d95, sizeof(d95));
    fmt_duration_us(percentile(us, n, 0.99), d99, sizeof(d99));
    snprintf(out, size, "p50 %s  p95 %s  p99 %s", d50, d95, d99);
}

/* Length of the valid UTF-8 sequence at p (at most left bytes): 1-4, or 0
 * when p[0] does not start one. *cp receives the code point. */
static size_t
utf8_seq(const unsigned char *p, size_t left, uint32_t *cp)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        *cp = c & 0x1fU;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        *cp = c & 0x0fU;
        lo = c == 0xe0 ? 0xa0 : 0x80; /* no overlong forms */
        hi = c == 0xed ? 0x9f : 0xbf; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        *cp = c & 0x07U;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf; /* nothing past U+10FFFF */
    } else {
        return 0;
    }
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (i > 1 && (p[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (p[i] & 0x3fU);
    }
    return n;
}

size_t
fmt_escape(const char *s, size_t len, unsigned flags, char *out, size_t size)
{
    const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
    size_t i = 0, o = 0;

    if (size == 0)
        return 0;
    if (s == NULL)
        len = 0;
    while (i < len) {
        char esc[8];
        const char *put = esc;
        uint32_t cp;
        size_t n = utf8_seq(p + i, len - i, &cp), w;
        if (n == 0) {
            snprintf(esc, sizeof(esc), "\\x%02x", p[i]);
            n = 1;
        } else if (cp == 0x1b) {
            put = "\\e";
        } else if ((cp == '\n' || cp == '\t') && (flags & FMT_ESC_KEEP_LINES)) {
            put = cp == '\n' ? "\n" : "\t";
        } else if (cp == '\n' || cp == '\r' || cp == '\t') {
            put = cp == '\n' ? "\\n" : cp == '\r' ? "\\r" : "\\t";
        } else if (cp < 0x20 || cp == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", (unsigned)cp);
        } else if (cp >= 0x80 && cp <= 0x9f) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
        } else {
            put = NULL; /* printable: copied as it is */
        }
        w = put != NULL ? strlen(put) : n;
        if (o + w + 1 > size)
            break;
        memcpy(out + o, put != NULL ? put : (const char *)p + i, w);
        o += w;
        i += n;
    }
    out[o] = '\0';
    return i;
}

size_t
fmt_unique_suffix_len(const char *const *ids, size_t n, size_t min)
{
    size_t need = min, longest = 0;

    for (size_t i = 0; i < n; i++) {
        size_t li = strlen(ids[i]);
        longest = li > longest ? li : longest;
        for (size_t k = i + 1; k < n; k++) {
            size_t lk = strlen(ids[k]), common = 0;
            while (common < li && common < lk && ids[i][li - 1 - common] == ids[k][lk - 1 - common])
                common++;
            if (common + 1 > need)
                need = common + 1;
        }
    }
    return need < longest ? need : longest;
}
