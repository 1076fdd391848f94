#include "core/clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t
clock_wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
clock_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* v (0 <= v < 10^n) as n decimal digits at p. */
static void
put_digits(char *p, long v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* The text of the last whole second formatted on this thread: most
 * timestamps fall in the second before, and only their fraction differs
 * (gmtime_r takes glibc's time zone lock on every call). */
struct iso_second {
    bool valid;
    time_t secs;
    char text[CLOCK_ISO_LEN];
};
static _Thread_local struct iso_second last_second;

void
clock_format_iso(int64_t wall_us, char out[CLOCK_ISO_LEN])
{
    time_t secs = (time_t)(wall_us / 1000000);
    long frac = (long)(wall_us % 1000000);
    struct iso_second *last = &last_second;
    struct tm tm;
    char tmp[96]; /* roomy: gcc cannot prove the fields stay two digits wide */

    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    if (last->valid && last->secs == secs) {
        memcpy(out, last->text, CLOCK_ISO_LEN);
        put_digits(out + 20, frac, 6);
        return;
    }
    gmtime_r(&secs, &tm);
    /* The usual case by hand (snprintf with 7 conversions was a visible
     * part of every serve request: three timestamps per execution); any
     * field out of its width takes the snprintf path below. */
    if (tm.tm_year + 1900 >= 0 && tm.tm_year + 1900 <= 9999 && tm.tm_mon >= 0 && tm.tm_mon < 12 &&
        tm.tm_mday >= 1 && tm.tm_mday <= 31 && tm.tm_hour >= 0 && tm.tm_hour < 24 &&
        tm.tm_min >= 0 && tm.tm_min < 60 && tm.tm_sec >= 0 && tm.tm_sec <= 60) {
        memcpy(out, "0000-00-00T00:00:00.000000+00:00", CLOCK_ISO_LEN);
        put_digits(out, tm.tm_year + 1900, 4);
        put_digits(out + 5, tm.tm_mon + 1, 2);
        put_digits(out + 8, tm.tm_mday, 2);
        put_digits(out + 11, tm.tm_hour, 2);
        put_digits(out + 14, tm.tm_min, 2);
        put_digits(out + 17, tm.tm_sec, 2);
        put_digits(out + 20, frac, 6);
        last->valid = true;
        last->secs = secs;
        memcpy(last->text, out, CLOCK_ISO_LEN);
        return;
    }
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00",
             (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, frac);
    snprintf(out, CLOCK_ISO_LEN, "%.32s", tmp);
}

void
clock_now_iso(char out[CLOCK_ISO_LEN])
{
    clock_format_iso(clock_wall_us(), out);
}

static int
digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int
clock_parse_iso(const char *text, int64_t *wall_us)
{
    int year, mon, day, hour, min, sec, oh = 0, om = 0;
    long frac = 0;
    const char *p;
    struct tm tm;
    time_t t;

    if (text == NULL || strlen(text) < 19)
        return -1;
    if (digits(text, 4, &year) || text[4] != '-' || digits(text + 5, 2, &mon) || text[7] != '-' ||
        digits(text + 8, 2, &day) || (text[10] != 'T' && text[10] != ' ') ||
        digits(text + 11, 2, &hour) || text[13] != ':' || digits(text + 14, 2, &min) ||
        text[16] != ':' || digits(text + 17, 2, &sec))
        return -1;
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    p = text + 19;
    if (*p == '.') {
        int n = 0;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (n < 6) {
                frac = frac * 10 + (*p - '0');
                n++;
            }
            p++;
        }
        if (n == 0)
            return -1;
        while (n++ < 6)
            frac *= 10;
    }
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return -1;
        oh *= sign;
        om *= sign;
        p += 6;
    } else if (*p != '\0') {
        return -1;
    }
    if (*p != '\0')
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    t = timegm(&tm);
    t -= (time_t)oh * 3600 + (time_t)om * 60;
    *wall_us = (int64_t)t * 1000000 + frac;
    return 0;
}
