#include "core/ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/shared_state.h"
#include "core/text_hash.h"

struct bucket {
    struct bucket *next; /* hash chain */
    double tokens;
    long rate;
    int64_t last_us;
    char key[];
};

struct ratelimit {
    pthread_mutex_t lock;
    struct bucket **slots;
    size_t nslots, count, max_keys;
    ratelimit_clock_fn clock;
    void *clock_ctx;
    const struct shared_state *shared; /* NULL: local buckets only */
};

static int64_t
default_clock(void *ctx)
{
    (void)ctx;
    return clock_mono_us();
}

struct ratelimit *
ratelimit_new(const struct ratelimit_opts *opts)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));

    if (rl == NULL)
        return NULL;
    rl->max_keys = opts != NULL && opts->max_keys > 0 ? opts->max_keys : 100000;
    rl->clock = opts != NULL && opts->clock != NULL ? opts->clock : default_clock;
    rl->clock_ctx = opts != NULL ? opts->clock_ctx : NULL;
    rl->nslots = 256;
    rl->slots = calloc(rl->nslots, sizeof(*rl->slots));
    if (rl->slots == NULL) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
    if (rl == NULL)
        return;
    for (size_t i = 0; i < rl->nslots; i++) {
        while (rl->slots[i] != NULL) {
            struct bucket *b = rl->slots[i];
            rl->slots[i] = b->next;
            free(b);
        }
    }
    pthread_mutex_destroy(&rl->lock);
    free(rl->slots);
    free(rl);
}

static size_t
hash(const char *s)
{
    return (size_t)text_hash(s);
}

/* Tokens after refilling up to now (not stored). */
static double
refilled(const struct bucket *b, int64_t now)
{
    int64_t elapsed = now > b->last_us ? now - b->last_us : 0;
    double t = b->tokens + (double)elapsed / 1e6 * (double)b->rate / 60.0;

    return t > (double)b->rate ? (double)b->rate : t;
}

static void
unlink_bucket(struct ratelimit *rl, struct bucket *victim)
{
    struct bucket **p = &rl->slots[hash(victim->key) % rl->nslots];

    while (*p != victim)
        p = &(*p)->next;
    *p = victim->next;
    free(victim);
    rl->count--;
}

/* Make room for one more bucket: drop every bucket that is full again; if
 * none is, drop the least recently used one. */
static void
evict(struct ratelimit *rl, int64_t now)
{
    struct bucket *oldest = NULL;

    for (size_t i = 0; i < rl->nslots; i++) {
        struct bucket **p = &rl->slots[i];
        while (*p != NULL) {
            struct bucket *b = *p;
            if (refilled(b, now) >= (double)b->rate) {
                *p = b->next;
                free(b);
                rl->count--;
                continue;
            }
            if (oldest == NULL || b->last_us < oldest->last_us)
                oldest = b;
            p = &b->next;
        }
    }
    if (rl->count >= rl->max_keys && oldest != NULL)
        unlink_bucket(rl, oldest);
}

static void
grow(struct ratelimit *rl)
{
    size_t n = rl->nslots * 2;
    struct bucket **slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < rl->nslots; i++) {
        while (rl->slots[i] != NULL) {
            struct bucket *b = rl->slots[i];
            rl->slots[i] = b->next;
            b->next = slots[hash(b->key) % n];
            slots[hash(b->key) % n] = b;
        }
    }
    free(rl->slots);
    rl->slots = slots;
    rl->nslots = n;
}

bool
ratelimit_check(struct ratelimit *rl, const char *key, long rate_per_minute)
{
    struct bucket *b;
    int64_t now;
    bool ok;
    const struct shared_state *ss;

    if (rate_per_minute <= 0 || key == NULL)
        return false;
    pthread_mutex_lock(&rl->lock);
    ss = rl->shared;
    pthread_mutex_unlock(&rl->lock);
    if (ss != NULL) {
        int r = ss->ops->take_token(ss->ctx, key, rate_per_minute);
        if (r >= 0)
            return r == 1;
        /* unavailable: the local bucket decides */
    }
    pthread_mutex_lock(&rl->lock);
    now = rl->clock(rl->clock_ctx);
    for (b = rl->slots[hash(key) % rl->nslots]; b != NULL; b = b->next) {
        if (strcmp(b->key, key) == 0)
            break;
    }
    if (b == NULL) {
        if (rl->count >= rl->max_keys)
            evict(rl, now);
        if (rl->count >= rl->nslots)
            grow(rl);
        size_t klen = strlen(key);
        b = malloc(sizeof(*b) + klen + 1);
        if (b == NULL) {
            pthread_mutex_unlock(&rl->lock);
            return false; /* fail closed: a limiter that cannot count refuses */
        }
        memcpy(b->key, key, klen + 1);
        b->tokens = (double)rate_per_minute;
        b->rate = rate_per_minute;
        b->last_us = now;
        b->next = rl->slots[hash(key) % rl->nslots];
        rl->slots[hash(key) % rl->nslots] = b;
        rl->count++;
    } else {
        /* The reference's capacity follows the latest call's rate. */
        b->rate = rate_per_minute;
        b->tokens = refilled(b, now);
        b->last_us = now;
    }
    ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

void
ratelimit_set_shared(struct ratelimit *rl, const struct shared_state *ss)
{
    pthread_mutex_lock(&rl->lock);
    rl->shared = ss;
    pthread_mutex_unlock(&rl->lock);
}

size_t
ratelimit_size(struct ratelimit *rl)
{
    size_t n;

    pthread_mutex_lock(&rl->lock);
    n = rl->count;
    pthread_mutex_unlock(&rl->lock);
    return n;
}
