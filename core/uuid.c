#include "core/uuid.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static void
getrandom_bytes(unsigned char *p, size_t n)
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

/* Ids without a system call each: a per-thread xoshiro256** generator,
 * seeded once per thread from getrandom (256 bits), and again in a child
 * after fork() (the fork generation below), so two processes never share
 * a sequence. The ids need to be unique, not secret; 74 random bits per
 * UUIDv7 within one millisecond from a 2^256-period generator are. */
struct rng {
    uint64_t s[4];
    unsigned gen; /* fork_gen when seeded; 0: never seeded */
};

static _Thread_local struct rng thread_rng;
/* Bumped in every child after fork(); starts at 1 so 0 means "unseeded". */
static atomic_uint fork_gen = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
after_fork_child(void)
{
    atomic_fetch_add(&fork_gen, 1);
}

static void
register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_child);
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
rng_next(void)
{
    struct rng *g = &thread_rng;
    unsigned gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    uint64_t *s = g->s, r, t;

    if (g->gen != gen) {
        pthread_once(&atfork_once, register_atfork);
        do
            getrandom_bytes((unsigned char *)s, sizeof(g->s));
        while ((s[0] | s[1] | s[2] | s[3]) == 0);
        g->gen = atomic_load(&fork_gen);
    }
    r = rotl(s[1] * 5, 7) * 9;
    t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static void
random_bytes(unsigned char *p, size_t n)
{
    while (n > 0) {
        uint64_t r = rng_next();
        size_t k = n < 8 ? n : 8;
        memcpy(p, &r, k);
        p += k;
        n -= k;
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
