#include "core/uuid.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void
random_bytes(unsigned char *p, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r <= 0) {
            /* getrandom cannot fail for small sizes after boot; keep ids
             * unique anyway by mixing the clock if it ever does. */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            for (; got < n; got++)
                p[got] = (unsigned char)(ts.tv_nsec >> (got % 4 * 8)) ^ (unsigned char)got;
            return;
        }
        got += (size_t)r;
    }
}

/* 8-4-4-4-12 lowercase hex. By hand: snprintf with 16 conversions was a
 * visible part of every request's cost in serve (two ids per envelope). */
static void
format(const unsigned char b[16], char out[UUID_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;

    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 0x0f];
    }
    *p = '\0';
}

void
uuid_v7(int64_t unix_ms, char out[UUID_STR_LEN])
{
    unsigned char b[16];

    random_bytes(b, sizeof(b));
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)((uint64_t)unix_ms >> (40 - 8 * i));
    b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    format(b, out);
}

void
uuid_v4(char out[UUID_STR_LEN])
{
    unsigned char b[16];

    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)(0x40 | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    format(b, out);
}

int
uuid_is_valid(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
    }
    return 1;
}
