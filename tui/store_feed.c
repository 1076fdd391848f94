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

#include "core/clock.h"
#include "core/store.h"
#include "watch/store_pg.h"
#include "watch/stores.h"

/* How long one follow waits for a new record, which bounds how long
 * store_feed_stop waits for the thread. */
#define FOLLOW_WAIT_MS 300
#define RETRY_MS 1000
/* A store without an index of its own here (postgres) is counted again at
 * most this often while records land (between, the followed are added). */
#define RECOUNT_MS 1000
/* What one drain hands over at most. */
#define DRAIN_MAX 500

struct queued {
    struct digest *d; /* NULL: a message, a removal, a total or a change */
    char *msg;
    char *removed; /* the id of a record deleted from the store */
    long total;    /* >= 0: the store's count of records */
    bool is_error;
    bool changed; /* records were deleted (maybe none of those handed over) */
    struct queued *next;
};

struct ids {
    char **id;
    int64_t *created_us;
    size_t n, cap;
    bool failed;
};

struct store_feed {
    struct store *st; /* the thread's handle */
    size_t window;    /* the newest this many of the backlog; 0: all */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    int pipe_r, pipe_w;
    pthread_mutex_t lock;
    struct queued *head, *tail;
    bool synced;      /* the backlog is queued (under lock) */
    struct ids known; /* the thread's: ids handed over and not removed */
};

static void
enqueue(struct store_feed *f, struct queued *q)
{
    char b = 1;
    bool was_empty;

    pthread_mutex_lock(&f->lock);
    was_empty = f->head == NULL;
    if (f->tail != NULL)
        f->tail->next = q;
    else
        f->head = q;
    f->tail = q;
    pthread_mutex_unlock(&f->lock);
    /* One wake-up per batch: a queue that was not empty has one pending
     * (the drain takes the queue after reading the pipe, and makes it
     * readable again when it leaves some). A full pipe already says there
     * is something to drain. */
    if (was_empty && write(f->pipe_w, &b, 1) < 0 && errno != EAGAIN)
        return;
}

static void
push(struct store_feed *f, struct digest *d, const char *msg, bool is_error)
{
    struct queued *q = calloc(1, sizeof(*q));

    if (q == NULL || (msg != NULL && (q->msg = strdup(msg)) == NULL)) {
        free(q);
        digest_free(d);
        return;
    }
    q->d = d;
    q->is_error = is_error;
    q->total = -1;
    enqueue(f, q);
}

/* id gone from the store (owned: taken), or (id NULL) only that records
 * were deleted; total >= 0: the store's count now. */
static void
push_change(struct store_feed *f, char *id, bool changed, long total)
{
    struct queued *q = calloc(1, sizeof(*q));

    if (q == NULL) {
        free(id);
        return;
    }
    q->removed = id;
    q->changed = changed;
    q->total = total;
    enqueue(f, q);
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
    /* A sealed text (sqlite, postgres) digested from its plaintext when
     * the reading keys open it. */
    d = stores_digest_stored(id, text, len, NULL, 0, NULL);
    free(text);
    if (d != NULL && (d->flags & DIGEST_CORRUPT))
        d->created_us = created_us;
    return d;
}

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

/* Remember id as handed over (so a deletion can be checked for). */
static void
know(struct store_feed *f, const char *id, int64_t created_us)
{
    struct store_row row = { .id = (char *)id, .created_us = created_us };

    if (!f->known.failed)
        collect(&f->known, &row);
}

static int
followed(void *ctx, const struct store_row *row)
{
    struct store_feed *f = ctx;
    struct digest *d = digest_of(f->st, row->id, row->created_us);

    if (d != NULL) {
        know(f, row->id, row->created_us);
        push(f, d, NULL, false);
    }
    return atomic_load(&f->stop) ? 1 : 0;
}

/* A backlog row of the sqlite engine: its digest is the index's row. */
static int
from_row(void *ctx, const struct digest *d)
{
    struct store_feed *f = ctx;
    struct digest *copy = digest_copy(d);

    if (copy != NULL) {
        know(f, d->id, d->created_us);
        push(f, copy, NULL, false);
    }
    return atomic_load(&f->stop) ? 1 : 0;
}

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static bool
is_sqlite(const struct store *st)
{
    return st->engine == &store_engine_sqlite;
}

/* Where the engine says how many deletions it saw: sqlite's count in the
 * database, postgres's NOTIFYs on the following handle. */
static int
deletion_mark(struct store *st, int64_t *mark, struct intentus_err *err)
{
    if (is_sqlite(st))
        return store_sqlite_deletes(st, mark, err);
    *mark = (int64_t)store_pg_deletes_seen(st);
    return 0;
}

/* Records were deleted: each one handed over that the store no longer
 * has is told as removed. 0, or -1 (err) when the store did not answer. */
static int
reconcile(struct store_feed *f, struct intentus_err *err)
{
    struct ids *k = &f->known;
    size_t kept = 0;

    for (size_t i = 0; i < k->n; i++) {
        size_t len = 0;
        struct intentus_err gerr = { 0 };
        char *text = store_get(f->st, k->id[i], &len, &gerr);
        bool gone = text == NULL;
        if (gone && gerr.code != IERR_NOT_FOUND) {
            *err = gerr;
            for (; i < k->n; i++, kept++) {
                k->id[kept] = k->id[i];
                k->created_us[kept] = k->created_us[i];
            }
            k->n = kept;
            return -1;
        }
        free(text);
        if (gone) {
            push_change(f, k->id[i], true, -1);
            continue;
        }
        k->id[kept] = k->id[i];
        k->created_us[kept++] = k->created_us[i];
    }
    k->n = kept;
    return 0;
}

/* The follow's state on the feed thread. counts: the store has no index
 * here (postgres), so the feed tells its count. */
struct follow_state {
    int64_t cursor, mark, counted_at;
    long total; /* -1: not counted yet */
    bool counts;
};

/* The cursor, the count of deletions and (postgres) the count before the
 * backlog, then the newest window of it handed over. What lands after the
 * cursor comes through the follow (once; the index upsert makes a repeat
 * harmless), a deletion after the mark is noticed. A sqlite store's rows
 * are the index's digests, so no text is parsed for them. */
static int
backlog(struct store_feed *f, struct follow_state *fs, struct intentus_err *err)
{
    struct ids v = { 0 };
    struct store_query q = { .newest_first = true, .limit = f->window };
    int rc;

    if (store_follow(f->st, &fs->cursor, 0, NULL, NULL, err) < 0 ||
        deletion_mark(f->st, &fs->mark, err) < 0 ||
        (fs->counts && (fs->total = store_count(f->st, NULL, err)) < 0))
        rc = -1;
    else if (is_sqlite(f->st))
        rc = index_db_each(store_sqlite_index(f->st), f->window, from_row, f, err) < 0 ? -1 : 0;
    else
        rc = store_query(f->st, &q, collect, &v, err) < 0 || v.failed ? -1 : 0;
    fs->counted_at = clock_mono_us();
    if (rc < 0 && v.failed)
        err_set(err, IERR_NOMEM, NULL);
    if (fs->total >= 0)
        push_change(f, NULL, false, fs->total);
    for (size_t i = 0; i < v.n && !atomic_load(&f->stop); i++) {
        struct digest *d = digest_of(f->st, v.id[i], v.created_us[i]);
        if (d != NULL) {
            know(f, v.id[i], v.created_us[i]);
            push(f, d, NULL, false);
        }
    }
    for (size_t i = 0; i < v.n; i++)
        free(v.id[i]);
    free(v.id);
    free(v.created_us);
    return rc;
}

/* The store's count now (postgres): 0, or -1 (err). */
static int
recount(struct store_feed *f, struct follow_state *fs, struct intentus_err *err)
{
    long c = store_count(f->st, NULL, err);

    fs->counted_at = clock_mono_us();
    if (c < 0)
        return -1;
    fs->total = c;
    return 0;
}

/* After a follow that visited n rows: deletions noticed, counts told.
 * 0, or -1 (err) when the store did not answer. */
static int
after_follow(struct store_feed *f, struct follow_state *fs, long n, struct intentus_err *err)
{
    int64_t now_mark = fs->mark;

    if (deletion_mark(f->st, &now_mark, err) != 0)
        return -1;
    if (now_mark != fs->mark) {
        /* Deleted by another process (records gc --store): drop the ones
         * handed over, and say so even when none was (the counts and pages
         * of the index change all the same). */
        if (reconcile(f, err) != 0 || (fs->counts && recount(f, fs, err) != 0))
            return -1;
        fs->mark = now_mark;
        push_change(f, NULL, true, fs->counts ? fs->total : -1);
        return 0;
    }
    if (n <= 0 || !fs->counts)
        return 0;
    /* Records landed: counted again at most every RECOUNT_MS (and when no
     * count was had yet), the followed added in between. */
    if (fs->total < 0 || clock_mono_us() - fs->counted_at >= (int64_t)RECOUNT_MS * 1000) {
        if (recount(f, fs, err) != 0)
            return -1;
    } else {
        fs->total += n;
    }
    push_change(f, NULL, false, fs->total);
    return 0;
}

static void *
run(void *arg)
{
    struct store_feed *f = arg;
    struct intentus_err err = { 0 };
    struct follow_state fs = { .cursor = -1, .total = -1, .counts = !is_sqlite(f->st) };
    bool failing = false;
    char msg[sizeof(err.msg) + 64];

    if (backlog(f, &fs, &err) != 0) {
        snprintf(msg, sizeof(msg), "%s: %s", store_url(f->st), err.msg);
        push(f, NULL, msg, true);
        fs.cursor = fs.cursor < 0 ? 0 : fs.cursor;
    }
    pthread_mutex_lock(&f->lock);
    f->synced = true;
    pthread_mutex_unlock(&f->lock);
    push(f, NULL, NULL, false); /* wake the loop for the synced state */
    while (!atomic_load(&f->stop)) {
        long n;
        memset(&err, 0, sizeof(err));
        n = store_follow(f->st, &fs.cursor, FOLLOW_WAIT_MS, followed, f, &err);
        if (n >= 0 && after_follow(f, &fs, n, &err) == 0) {
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
store_feed_start(const char *url, size_t window, struct intentus_err *err)
{
    struct store_feed *f = calloc(1, sizeof(*f));
    struct store_opts o = { .read_only = true };
    int p[2];

    if (f == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    f->pipe_r = f->pipe_w = -1;
    f->window = window;
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
store_feed_drain(struct store_feed *f, const struct store_feed_sink *sink, void *ctx, bool *synced)
{
    struct queued *q, *next;
    char buf[256];
    long n = 0;

    bool more = false;

    while (read(f->pipe_r, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&f->lock);
    q = f->head;
    /* At most DRAIN_MAX at a time (all when dropping them): the loop
     * draws between two batches, so the first frame does not wait for
     * the whole window (the pipe is made readable again for the rest). */
    {
        struct queued *last = q;
        for (size_t i = 1; sink != NULL && last != NULL && i < DRAIN_MAX; i++)
            last = last->next;
        if (sink != NULL && last != NULL && last->next != NULL) {
            f->head = last->next;
            last->next = NULL;
            more = true;
        } else {
            f->head = f->tail = NULL;
        }
    }
    if (synced != NULL && f->synced && !more)
        *synced = true;
    pthread_mutex_unlock(&f->lock);
    if (more) {
        char b = 1;
        /* A failed write leaves the rest for the next push's wake-up. */
        (void)!write(f->pipe_w, &b, 1);
    }
    for (; q != NULL; q = next) {
        next = q->next;
        if (sink == NULL) {
            /* dropped */
        } else if (q->d != NULL) {
            if (sink->digest != NULL)
                sink->digest(ctx, q->d);
            n++;
        } else if (q->msg != NULL) {
            if (sink->msg != NULL)
                sink->msg(ctx, q->msg, q->is_error);
        } else {
            if (q->removed != NULL && sink->removed != NULL)
                sink->removed(ctx, q->removed);
            if (q->total >= 0 && sink->total != NULL)
                sink->total(ctx, q->total);
            if (q->removed != NULL || q->changed || q->total >= 0)
                n++;
        }
        digest_free(q->d);
        free(q->msg);
        free(q->removed);
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
    store_feed_drain(f, NULL, NULL, NULL);
    for (size_t i = 0; i < f->known.n; i++)
        free(f->known.id[i]);
    free(f->known.id);
    free(f->known.created_us);
    store_close(f->st);
    if (f->pipe_r >= 0)
        close(f->pipe_r);
    if (f->pipe_w >= 0)
        close(f->pipe_w);
    pthread_mutex_destroy(&f->lock);
    free(f);
}
