/* The console's feed from a store engine (tui/store_feed.h). */
#include "tui/store_feed.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/store.h"
#include "watch/stores.h"

/* How long one follow waits for a new record, which bounds how long
 * store_feed_stop waits for the thread. */
#define FOLLOW_WAIT_MS 300
#define RETRY_MS 1000

struct queued {
    struct digest *d; /* NULL: a message */
    char *msg;
    bool is_error;
    struct queued *next;
};

struct store_feed {
    struct store *st; /* the thread's handle */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    int pipe_r, pipe_w;
    pthread_mutex_t lock;
    struct queued *head, *tail;
    bool synced; /* the backlog is queued (under lock) */
};

static void
push(struct store_feed *f, struct digest *d, const char *msg, bool is_error)
{
    struct queued *q = calloc(1, sizeof(*q));
    char b = 1;

    if (q == NULL || (msg != NULL && (q->msg = strdup(msg)) == NULL)) {
        free(q);
        digest_free(d);
        return;
    }
    q->d = d;
    q->is_error = is_error;
    pthread_mutex_lock(&f->lock);
    if (f->tail != NULL)
        f->tail->next = q;
    else
        f->head = q;
    f->tail = q;
    pthread_mutex_unlock(&f->lock);
    /* A full pipe already says there is something to drain. */
    if (write(f->pipe_w, &b, 1) < 0 && errno != EAGAIN)
        return;
}

/* The record's digest from its text (a corrupt record keeps the engine's
 * time, as `records tail -f --store` shows it); NULL when it is gone. */
static struct digest *
digest_of(struct store *st, const char *id, int64_t created_us)
{
    struct intentus_err err = { 0 };
    size_t len = 0;
    char *text = store_get(st, id, &len, &err);
    struct digest *d;

    if (text == NULL)
        return NULL;
    d = digest_from_text(id, text, len, NULL);
    free(text);
    if (d != NULL) {
        d->file_size = len;
        if (d->flags & DIGEST_CORRUPT)
            d->created_us = created_us;
    }
    return d;
}

struct ids {
    char **id;
    int64_t *created_us;
    size_t n, cap;
    bool failed;
};

static int
collect(void *ctx, const struct store_row *row)
{
    struct ids *v = ctx;

    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        char **id = realloc(v->id, cap * sizeof(*id));
        int64_t *cr = id != NULL ? realloc(v->created_us, cap * sizeof(*cr)) : NULL;
        if (id != NULL)
            v->id = id;
        if (cr == NULL) {
            v->failed = true;
            return 1;
        }
        v->created_us = cr;
        v->cap = cap;
    }
    if ((v->id[v->n] = strdup(row->id)) == NULL) {
        v->failed = true;
        return 1;
    }
    v->created_us[v->n++] = row->created_us;
    return 0;
}

static int
followed(void *ctx, const struct store_row *row)
{
    struct store_feed *f = ctx;
    struct digest *d = digest_of(f->st, row->id, row->created_us);

    if (d != NULL)
        push(f, d, NULL, false);
    return atomic_load(&f->stop) ? 1 : 0;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void *
run(void *arg)
{
    struct store_feed *f = arg;
    struct intentus_err err = { 0 };
    struct ids v = { 0 };
    int64_t cursor = -1;
    bool failing = false;
    char msg[sizeof(err.msg) + 64];

    /* The cursor before the backlog: what lands after it comes through the
     * follow (once; the index upsert makes a repeat harmless). */
    if (store_follow(f->st, &cursor, 0, NULL, NULL, &err) < 0 ||
        store_query(f->st, NULL, collect, &v, &err) < 0 || v.failed) {
        snprintf(msg, sizeof(msg), "%s: %s", store_url(f->st),
                 v.failed ? "out of memory" : err.msg);
        push(f, NULL, msg, true);
        cursor = cursor < 0 ? 0 : cursor;
    }
    for (size_t i = 0; i < v.n && !atomic_load(&f->stop); i++) {
        struct digest *d = digest_of(f->st, v.id[i], v.created_us[i]);
        if (d != NULL)
            push(f, d, NULL, false);
    }
    for (size_t i = 0; i < v.n; i++)
        free(v.id[i]);
    free(v.id);
    free(v.created_us);
    pthread_mutex_lock(&f->lock);
    f->synced = true;
    pthread_mutex_unlock(&f->lock);
    push(f, NULL, NULL, false); /* wake the loop for the synced state */
    while (!atomic_load(&f->stop)) {
        memset(&err, 0, sizeof(err));
        if (store_follow(f->st, &cursor, FOLLOW_WAIT_MS, followed, f, &err) >= 0) {
            if (failing) {
                snprintf(msg, sizeof(msg), "%s answers again", store_url(f->st));
                push(f, NULL, msg, false);
            }
            failing = false;
            continue;
        }
        if (!failing) {
            snprintf(msg, sizeof(msg), "%s: %s; retrying", store_url(f->st), err.msg);
            push(f, NULL, msg, true);
        }
        failing = true;
        for (int i = 0; i < RETRY_MS / 100 && !atomic_load(&f->stop); i++)
            sleep_ms(100);
    }
    return NULL;
}

struct store_feed *
store_feed_start(const char *url, struct intentus_err *err)
{
    struct store_feed *f = calloc(1, sizeof(*f));
    struct store_opts o = { .read_only = true };
    int p[2];

    if (f == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    f->pipe_r = f->pipe_w = -1;
    pthread_mutex_init(&f->lock, NULL);
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
        err_set(err, IERR_IO, "pipe: %s", strerror(errno));
        store_feed_stop(f);
        return NULL;
    }
    f->pipe_r = p[0];
    f->pipe_w = p[1];
    f->st = store_open_url(stores_builtin, url, &o, err);
    if (f->st == NULL) {
        err_prefix(err, "%s", url);
        store_feed_stop(f);
        return NULL;
    }
    if (pthread_create(&f->thread, NULL, run, f) != 0) {
        err_set(err, IERR_IO, "cannot start the thread that follows %s", url);
        store_feed_stop(f);
        return NULL;
    }
    f->started = true;
    return f;
}

int
store_feed_fd(const struct store_feed *f)
{
    return f->pipe_r;
}

long
store_feed_drain(struct store_feed *f, store_feed_fn fn, store_feed_msg_fn msg, void *ctx,
                 bool *synced)
{
    struct queued *q, *next;
    char buf[256];
    long n = 0;

    while (read(f->pipe_r, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&f->lock);
    q = f->head;
    f->head = f->tail = NULL;
    if (synced != NULL && f->synced)
        *synced = true;
    pthread_mutex_unlock(&f->lock);
    for (; q != NULL; q = next) {
        next = q->next;
        if (q->d != NULL && fn != NULL) {
            fn(ctx, q->d);
            n++;
        } else if (q->msg != NULL && msg != NULL) {
            msg(ctx, q->msg, q->is_error);
        }
        digest_free(q->d);
        free(q->msg);
        free(q);
    }
    return n;
}

void
store_feed_stop(struct store_feed *f)
{
    if (f == NULL)
        return;
    atomic_store(&f->stop, true);
    if (f->started)
        pthread_join(f->thread, NULL);
    store_feed_drain(f, NULL, NULL, NULL, NULL);
    store_close(f->st);
    if (f->pipe_r >= 0)
        close(f->pipe_r);
    if (f->pipe_w >= 0)
        close(f->pipe_w);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
