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
