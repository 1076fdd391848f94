#include "core/breaker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/shared_state.h"

#define WINDOW_MAX 1024

struct breaker {
    pthread_mutex_t lock;
    struct breaker_policy policy;
    enum breaker_state state;
    int consecutive_failures;
    unsigned char ring[WINDOW_MAX]; /* 1 = failure, over the last `window` calls */
    int ring_pos, ring_len, ring_failures;
    int probes_in_flight, probe_successes;
    int64_t opened_at_us;
    uint64_t calls, successes, failures, rejected;
    const struct shared_state *shared; /* breaker_set_shared; NULL: local only */
    char *shared_name;
    int64_t shared_seen_us; /* when the shared state was last looked at */
    bool shared_looked;
};

const char *
breaker_state_name(enum breaker_state s)
{
    switch (s) {
    case BREAKER_OPEN:
        return "OPEN";
    case BREAKER_HALF_OPEN:
        return "HALF_OPEN";
    default:
        return "CLOSED";
    }
}

struct breaker *
breaker_new(const struct breaker_policy *policy)
{
    struct breaker *b = calloc(1, sizeof(*b));

    if (b == NULL)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    b->policy = *policy;
    if (b->policy.window < 1)
        b->policy.window = 1;
    if (b->policy.window > WINDOW_MAX)
        b->policy.window = WINDOW_MAX;
    if (b->policy.half_open_probes < 1)
        b->policy.half_open_probes = 1;
    return b;
}

void
breaker_free(struct breaker *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b->shared_name);
    free(b);
}

static void
clear_window(struct breaker *b)
{
    b->ring_pos = b->ring_len = b->ring_failures = 0;
    b->consecutive_failures = 0;
}

/* Caller holds the lock. */
static void
move(struct breaker *b, enum breaker_state to, struct breaker_change *ch, const char *reason)
{
    if (ch != NULL) {
        ch->changed = true;
        ch->from = b->state;
        ch->to = to;
        snprintf(ch->reason, sizeof(ch->reason), "%s", reason);
    }
    b->state = to;
    b->probes_in_flight = 0;
    b->probe_successes = 0;
}

/* Publish a move to OPEN or CLOSED; called without the lock, after a
 * transition from `from` (b->shared and its name are only changed before
 * traffic starts, see breaker_set_shared). */
static void
shared_push(struct breaker *b, enum breaker_state from)
{
    const struct shared_state *ss;
    enum breaker_state to;

    pthread_mutex_lock(&b->lock);
    ss = b->shared;
    to = b->state;
    pthread_mutex_unlock(&b->lock);
    if (ss == NULL || from == to || to == BREAKER_HALF_OPEN)
        return;
    ss->ops->breaker_put(ss->ctx, b->shared_name, to, b->policy.cooldown_ms);
}

/* Adopt the circuit state another router published, at most every
 * breaker_refresh_ms: an OPEN one (with its remaining cool-down) while we
 * are CLOSED, a CLOSED one (a probe elsewhere succeeded, or a reset) while
 * we are OPEN. The lookup runs without the lock. */
static void
shared_pull(struct breaker *b, int64_t now_us, struct breaker_change *ch)
{
    const struct shared_state *ss;
    int64_t every_us, left_ms = 0;
    enum breaker_state st = BREAKER_CLOSED;
    bool due;

    pthread_mutex_lock(&b->lock);
    ss = b->shared;
    if (ss == NULL) {
        pthread_mutex_unlock(&b->lock);
        return;
    }
    every_us = (ss->breaker_refresh_ms > 0 ? ss->breaker_refresh_ms : 1000) * 1000;
    due = !b->shared_looked || now_us - b->shared_seen_us >= every_us;
    if (due) {
        b->shared_looked = true;
        b->shared_seen_us = now_us;
    }
    pthread_mutex_unlock(&b->lock);
    if (!due || ss->ops->breaker_get(ss->ctx, b->shared_name, &st, &left_ms) != 1)
        return;
    pthread_mutex_lock(&b->lock);
    if (st == BREAKER_OPEN && left_ms > 0 && b->state == BREAKER_CLOSED) {
        /* Open here until the same moment as there. */
        b->opened_at_us = now_us - (b->policy.cooldown_ms - left_ms) * 1000;
        clear_window(b);
        move(b, BREAKER_OPEN, ch, "opened by another router (shared state)");
    } else if (st == BREAKER_CLOSED && b->state == BREAKER_OPEN) {
        clear_window(b);
        move(b, BREAKER_CLOSED, ch, "closed by another router (shared state)");
    }
    pthread_mutex_unlock(&b->lock);
}

int
breaker_set_shared(struct breaker *b, const struct shared_state *ss, const char *name)
{
    char *copy = ss != NULL && name != NULL ? strdup(name) : NULL;

    if (ss != NULL && copy == NULL)
        return -1;
    pthread_mutex_lock(&b->lock);
    free(b->shared_name);
    b->shared_name = copy;
    b->shared = copy != NULL ? ss : NULL;
    b->shared_looked = false;
    pthread_mutex_unlock(&b->lock);
    return 0;
}

bool
breaker_allow(struct breaker *b, int64_t now_us, struct breaker_change *ch)
{
    bool ok = true;

    if (ch != NULL)
        ch->changed = false;
    if (b == NULL || !b->policy.enabled)
        return true;
    shared_pull(b, now_us, ch);
    pthread_mutex_lock(&b->lock);
    if (b->state == BREAKER_OPEN) {
        if (now_us - b->opened_at_us >= b->policy.cooldown_ms * 1000) {
            move(b, BREAKER_HALF_OPEN, ch, "cool-down elapsed; probing");
        } else {
            ok = false;
        }
    }
    if (ok && b->state == BREAKER_HALF_OPEN) {
        if (b->probes_in_flight >= b->policy.half_open_probes)
            ok = false; /* enough probes out already */
        else
            b->probes_in_flight++;
    }
    if (!ok)
        b->rejected++;
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void
breaker_record(struct breaker *b, bool success, int64_t now_us, struct breaker_change *ch)
{
    char why[128];
    enum breaker_state from;

    if (ch != NULL)
        ch->changed = false;
    if (b == NULL || !b->policy.enabled)
        return;
    pthread_mutex_lock(&b->lock);
    from = b->state;
    b->calls++;
    if (success)
        b->successes++;
    else
        b->failures++;
    if (b->state == BREAKER_HALF_OPEN) {
        if (b->probes_in_flight > 0)
            b->probes_in_flight--;
        if (!success) {
            b->opened_at_us = now_us;
            move(b, BREAKER_OPEN, ch, "probe failed");
        } else if (++b->probe_successes >= b->policy.half_open_probes) {
            clear_window(b);
            move(b, BREAKER_CLOSED, ch, "probe succeeded");
        }
        pthread_mutex_unlock(&b->lock);
        shared_push(b, from);
        return;
    }
    if (b->state == BREAKER_OPEN) {
        /* A call that started before the breaker opened: count it only. */
        pthread_mutex_unlock(&b->lock);
        return;
    }
    if (b->ring_len == b->policy.window) {
        b->ring_failures -= b->ring[b->ring_pos];
    } else {
        b->ring_len++;
    }
    b->ring[b->ring_pos] = success ? 0 : 1;
    b->ring_failures += success ? 0 : 1;
    b->ring_pos = (b->ring_pos + 1) % b->policy.window;
    b->consecutive_failures = success ? 0 : b->consecutive_failures + 1;
    why[0] = '\0';
    if (b->policy.failure_threshold > 0 && b->consecutive_failures >= b->policy.failure_threshold)
        snprintf(why, sizeof(why), "%d consecutive failures", b->consecutive_failures);
    else if (b->policy.failure_rate > 0 && b->ring_len == b->policy.window &&
             (double)b->ring_failures >= b->policy.failure_rate * b->ring_len)
        snprintf(why, sizeof(why), "%d of the last %d calls failed", b->ring_failures, b->ring_len);
    if (why[0] != '\0') {
        b->opened_at_us = now_us;
        clear_window(b);
        move(b, BREAKER_OPEN, ch, why);
    }
    pthread_mutex_unlock(&b->lock);
    shared_push(b, from);
}

void
breaker_reset(struct breaker *b, struct breaker_change *ch)
{
    enum breaker_state from;

    if (ch != NULL)
        ch->changed = false;
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    from = b->state;
    clear_window(b);
    if (b->state != BREAKER_CLOSED)
        move(b, BREAKER_CLOSED, ch, "reset by operator");
    pthread_mutex_unlock(&b->lock);
    shared_push(b, from);
}

void
breaker_snapshot(struct breaker *b, int64_t now_us, struct breaker_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (b == NULL)
        return;
    pthread_mutex_lock(&b->lock);
    out->state = b->state;
    out->calls = b->calls;
    out->successes = b->successes;
    out->failures = b->failures;
    out->rejected = b->rejected;
    out->consecutive_failures = b->consecutive_failures;
    out->window_calls = b->ring_len;
    out->window_failures = b->ring_failures;
    out->opened_at_us = b->opened_at_us;
    if (b->state == BREAKER_OPEN) {
        out->next_probe_us = b->opened_at_us + b->policy.cooldown_ms * 1000;
        if (out->next_probe_us < now_us)
            out->next_probe_us = now_us;
    }
    pthread_mutex_unlock(&b->lock);
}
