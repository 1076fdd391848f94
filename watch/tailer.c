#include "watch/tailer.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/rec_store.h"
#include "watch/index_db.h"
#include "watch/scan.h"
#include "watch/source.h"

#define RECHECK_US 200000 /* how often to look for a vanished directory */

struct qev {
    enum tailer_event_kind kind;
    char *id;
    struct digest *d;
    char *msg;
};

struct tailer {
    char *dir;
    struct tailer_opts o;
    pthread_t thread;
    /* shared with the consumer, under mu */
    pthread_mutex_t mu;
    pthread_cond_t space;
    struct qev *q;
    size_t qn, qcap;
    bool stop, rescan_req, wake_pending;
    int64_t last_wake;
    struct tailer_stats stats;
    int wake_fd, kick_fd; /* eventfds: to the consumer; to the thread */
    /* the thread's own */
    struct source *src;
    struct rec_store *rs;
    struct scan *scan;
    struct index_db *db; /* opts.use_index: kept current from here */
    bool uncommitted;    /* db has rows of this batch not yet committed */
    bool loading;        /* sending the index's rows: a full queue wakes at once */
    bool polling;
    int64_t next_recheck;
};

static void
qev_free(struct qev *e)
{
    free(e->id);
    digest_free(e->d);
    free(e->msg);
}

static void
eventfd_poke(int fd)
{
    uint64_t one = 1;

    while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

static void
eventfd_reset(int fd)
{
    uint64_t v;

    while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
}

/* Wake the consumer unless it already has a wake-up pending or had one
 * less than wake_ms ago. Called with mu held. */
static void
maybe_wake(struct tailer *t, int64_t now)
{
    if (t->qn == 0 || t->wake_pending || now - t->last_wake < (int64_t)t->o.wake_ms * 1000)
        return;
    t->wake_pending = true;
    t->last_wake = now;
    t->stats.wakes++;
    eventfd_poke(t->wake_fd);
}

/* Queue one event (ownership of its strings passes to the queue); waits
 * while the queue is full. -1 when stopping (the event is freed). */
static int
push(struct tailer *t, struct qev *e)
{
    pthread_mutex_lock(&t->mu);
    while (t->qn >= t->o.queue_max && !t->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 10L * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (t->loading && !t->wake_pending) {
            /* The initial rows: the consumer is waiting for all of them,
             * so coalescing would only slow it down. */
            t->wake_pending = true;
            t->last_wake = clock_mono_us();
            t->stats.wakes++;
            eventfd_poke(t->wake_fd);
        }
        maybe_wake(t, clock_mono_us());
        pthread_cond_timedwait(&t->space, &t->mu, &ts);
    }
    if (t->stop) {
        pthread_mutex_unlock(&t->mu);
        qev_free(e);
        return -1;
    }
    if (t->qn == t->qcap) {
        size_t ncap = t->qcap ? t->qcap * 2 : 64;
        struct qev *p = realloc(t->q, ncap * sizeof(*p));
        if (p == NULL) {
            pthread_mutex_unlock(&t->mu);
            qev_free(e);
            return 0; /* dropped; a later rescan repairs it */
        }
        t->q = p;
        t->qcap = ncap;
    }
    t->q[t->qn++] = *e;
    maybe_wake(t, clock_mono_us());
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static int
push_simple(struct tailer *t, enum tailer_event_kind kind, const char *msg)
{
    struct qev e = { .kind = kind };

    if (msg != NULL)
        e.msg = strdup(msg);
    return push(t, &e);
}

static int
emit(void *ctx, const char *id, struct digest *d)
{
    struct tailer *t = ctx;
    struct qev e = { .kind = d != NULL ? TAILER_UPSERT : TAILER_REMOVE, .d = d };

    if (t->db != NULL) {
        /* Into the persistent index first (committed after this batch);
         * a failure leaves a row the next reconcile repairs. */
        int64_t size, mtime;
        uint64_t ino;
        if (d == NULL)
            (void)index_db_remove(t->db, id, NULL);
        else if (scan_identity(t->scan, id, &size, &mtime, &ino) == 0)
            (void)index_db_put(t->db, id, d, mtime, ino, NULL);
        t->uncommitted = true;
    }

    e.id = strdup(id);
    if (e.id == NULL) {
        digest_free(d);
        return 0;
    }
    return push(t, &e);
}

/* A full comparison of the directory; announce = tell the consumer when it
 * is done (not for every polling tick). */
static void
full_scan(struct tailer *t, bool announce)
{
    if (scan_full(t->scan, t->rs, clock_mono_us(), emit, t, NULL) == 0 && announce)
        push_simple(t, TAILER_SYNCED, NULL);
    pthread_mutex_lock(&t->mu);
    t->stats.syncs++;
    pthread_mutex_unlock(&t->mu);
}

/* Open the store and the change source; falls back to polling in AUTO. */
static int
open_dir(struct tailer *t, struct intentus_err *err)
{
    struct intentus_err ierr = { 0 };

    t->rs = rec_store_open(t->dir, NULL, err);
    if (t->rs == NULL)
        return -1;
    t->src = source_open(t->dir, t->polling ? t->o.poll_ms : 0, &ierr);
    if (t->src == NULL && !t->polling && t->o.mode == TAILER_AUTO) {
        t->polling = true;
        t->src = source_open(t->dir, t->o.poll_ms, err);
        if (t->src != NULL)
            push_simple(t, TAILER_POLLING, ierr.msg);
    } else if (t->src == NULL && err != NULL) {
        *err = ierr;
    }
    if (t->src == NULL) {
        rec_store_close(t->rs);
        t->rs = NULL;
        return -1;
    }
    return 0;
}

static void
close_dir(struct tailer *t)
{
    source_close(t->src);
    rec_store_close(t->rs);
    t->src = NULL;
    t->rs = NULL;
}

/* The rows of one batch of changes become visible together. */
static void
commit_index(struct tailer *t)
{
    if (t->db == NULL)
        return;
    (void)index_db_commit(t->db, NULL);
    /* Tell a consumer that queries the index that the rows it was sent are
     * now there to read (else its count ran ahead of the commit and stayed
     * one batch behind). */
    if (t->uncommitted) {
        t->uncommitted = false;
        push_simple(t, TAILER_INDEX_COMMITTED, NULL);
    }
}

static int
ignore(void *ctx, const char *id, struct digest *d)
{
    (void)ctx;
    (void)id;
    digest_free(d);
    return 0;
}

static int
preload_row(void *ctx, const char *id, int64_t size, int64_t mtime_ns, uint64_t ino)
{
    struct tailer *t = ctx;

    return scan_preload(t->scan, id, size, mtime_ns, ino);
}

static int
load_row(void *ctx, const struct digest *d)
{
    struct tailer *t = ctx;
    struct qev e = { .kind = TAILER_UPSERT };

    e.id = strdup(d->id);
    e.d = digest_copy(d);
    if (e.id == NULL || e.d == NULL) {
        qev_free(&e);
        return 0; /* dropped: the consumer lacks this row until it changes */
    }
    return push(t, &e);
}

/* An integer PRAGMA's value (0 when it cannot be read). */
static long long
pragma_int(struct index_db *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = 0;

    if (sqlite3_prepare_v2(index_db_sqlite(db), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Start from the persistent index: open (and so reconcile) it, give every
 * row (the newest opts.window with a window) to the consumer and know
 * every file as indexed. The change source
 * was set up before the reconcile listed the directory, so what changes
 * after that listing arrives as changes: no scan of our own. -1 (nothing
 * sent) when the index cannot be used; the caller scans instead. */
static int
start_from_index(struct tailer *t)
{
    struct intentus_err err = { 0 };
    long long cache = 0;

    t->db = index_db_open(t->dir, false, &err);
    /* The walks below read every row once: through a small page cache, so
     * the memory they take stays flat as the directory grows. */
    if (t->db != NULL) {
        push_simple(t, TAILER_INDEX_OPEN, index_db_info(t->db)->path);
        cache = pragma_int(t->db, "PRAGMA cache_size");
        sqlite3_exec(index_db_sqlite(t->db), "PRAGMA cache_size=-2048", NULL, NULL, NULL);
    }
    if (t->db == NULL || index_db_each_identity(t->db, preload_row, t, &err) != 0) {
        index_db_close(t->db);
        t->db = NULL;
        scan_forget_all(t->scan, ignore, NULL);
        push_simple(t, TAILER_NO_INDEX, err.msg);
        return -1;
    }
    t->loading = true;
    if (index_db_each(t->db, t->o.window, load_row, t, &err) != 0)
        push_simple(t, TAILER_NO_INDEX, err.msg);
    t->loading = false;
    /* The changes from now on: index_db's own cache size again. */
    sqlite3_db_release_memory(index_db_sqlite(t->db));
    if (cache != 0) {
        char sql[64];
        snprintf(sql, sizeof(sql), "PRAGMA cache_size=%lld", cache);
        sqlite3_exec(index_db_sqlite(t->db), sql, NULL, NULL, NULL);
    }
    push_simple(t, TAILER_SYNCED, NULL);
    pthread_mutex_lock(&t->mu);
    t->stats.syncs++;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

static void
dir_gone(struct tailer *t)
{
    /* The index may have lived in the directory: stop keeping it. */
    commit_index(t);
    index_db_close(t->db);
    t->db = NULL;
    scan_forget_all(t->scan, emit, t);
    close_dir(t);
    push_simple(t, TAILER_DIR_GONE, t->dir);
    pthread_mutex_lock(&t->mu);
    t->stats.dir_present = false;
    pthread_mutex_unlock(&t->mu);
    t->next_recheck = clock_mono_us() + RECHECK_US;
}

static int
on_change(void *ctx, const struct source_change *c)
{
    struct tailer *t = ctx;

    switch (c->kind) {
    case SOURCE_CHANGED:
        return scan_name(t->scan, t->rs, c->name, clock_mono_us(), emit, t);
    case SOURCE_CREATED:
        return scan_created(t->scan, t->rs, c->name, clock_mono_us(), emit, t);
    case SOURCE_GONE:
        if (scan_gone(t->scan, c->name, emit, t) != 0)
            return -1;
        /* <id>.json replaced by <id>.json.gz (or the reverse) keeps the record. */
        return scan_name(t->scan, t->rs, c->name, clock_mono_us(), emit, t);
    case SOURCE_RESCAN:
        pthread_mutex_lock(&t->mu);
        t->stats.rescans++;
        t->stats.overflows += c->overflow;
        pthread_mutex_unlock(&t->mu);
        full_scan(t, c->overflow || !t->polling || c->name != NULL);
        return 0;
    case SOURCE_DIR_GONE:
        dir_gone(t);
        return -1; /* the source is closed: stop reading it */
    }
    return 0;
}

static int64_t
earliest(int64_t a, int64_t b)
{
    if (a == 0)
        return b;
    if (b == 0)
        return a;
    return a < b ? a : b;
}

static void *
run(void *arg)
{
    struct tailer *t = arg;

    if (!t->o.use_index || start_from_index(t) != 0)
        full_scan(t, true);
    for (;;) {
        struct pollfd pfd[2] = { { .fd = t->kick_fd, .events = POLLIN },
                                 { .fd = t->src ? source_fd(t->src) : -1, .events = POLLIN } };
        int64_t now = clock_mono_us(), due = 0;
        bool stop, rescan;
        int timeout;

        due = earliest(due, t->src ? source_deadline(t->src) : t->next_recheck);
        due = earliest(due, t->src ? scan_next_retry(t->scan) : 0);
        pthread_mutex_lock(&t->mu);
        if (t->qn > 0 && !t->wake_pending)
            due = earliest(due, t->last_wake + (int64_t)t->o.wake_ms * 1000);
        pthread_mutex_unlock(&t->mu);
        timeout = due == 0 ? -1 : due <= now ? 0 : (int)((due - now + 999) / 1000);
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN)
            eventfd_reset(t->kick_fd);
        pthread_mutex_lock(&t->mu);
        stop = t->stop;
        rescan = t->rescan_req;
        t->rescan_req = false;
        maybe_wake(t, clock_mono_us());
        pthread_mutex_unlock(&t->mu);
        if (stop)
            break;
        now = clock_mono_us();
        if (t->src == NULL) {
            if (now >= t->next_recheck) {
                if (open_dir(t, NULL) == 0) {
                    pthread_mutex_lock(&t->mu);
                    t->stats.dir_present = true;
                    pthread_mutex_unlock(&t->mu);
                    push_simple(t, TAILER_DIR_BACK, t->dir);
                    full_scan(t, true);
                } else {
                    t->next_recheck = now + RECHECK_US;
                }
            }
            continue;
        }
        if (rescan) {
            struct source_change c = { .kind = SOURCE_RESCAN, .name = "" /* asked for */ };
            on_change(t, &c);
        }
        if (t->src != NULL)
            source_read(t->src, now, on_change, t);
        if (t->src != NULL)
            scan_retry_due(t->scan, t->rs, clock_mono_us(), emit, t);
        commit_index(t);
    }
    commit_index(t);
    return NULL;
}

struct tailer *
tailer_start(const char *dir, const struct tailer_opts *opts, struct intentus_err *err)
{
    struct tailer *t = calloc(1, sizeof(*t));
    struct scan_opts so;
    pthread_condattr_t ca;

    if (t == NULL || (t->dir = strdup(dir)) == NULL) {
        free(t);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (opts != NULL)
        t->o = *opts;
    if (t->o.poll_ms <= 0)
        t->o.poll_ms = 1000;
    if (t->o.retries == 0)
        t->o.retries = 5;
    if (t->o.retries < 0)
        t->o.retries = 0;
    if (t->o.retry_ms <= 0)
        t->o.retry_ms = 100;
    if (t->o.queue_max == 0)
        t->o.queue_max = 4096;
    if (t->o.wake_ms <= 0)
        t->o.wake_ms = 50;
    t->polling = t->o.mode == TAILER_POLL;
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    t->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    so.retries = t->o.retries;
    so.retry_us = (int64_t)t->o.retry_ms * 1000;
    t->scan = scan_new(&so);
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->space, &ca);
    pthread_condattr_destroy(&ca);
    t->last_wake = clock_mono_us() - (int64_t)t->o.wake_ms * 1000;
    if (t->wake_fd < 0 || t->kick_fd < 0 || t->scan == NULL) {
        err_set(err, IERR_IO, "tailer: cannot set up: %s", strerror(errno));
        goto fail;
    }
    if (open_dir(t, err) != 0)
        goto fail;
    t->stats.polling = t->polling;
    t->stats.dir_present = true;
    if (pthread_create(&t->thread, NULL, run, t) != 0) {
        err_set(err, IERR_IO, "tailer: cannot start its thread");
        close_dir(t);
        goto fail;
    }
    return t;
fail:
    scan_free(t->scan);
    for (size_t i = 0; i < t->qn; i++)
        qev_free(&t->q[i]);
    free(t->q);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    if (t->kick_fd >= 0)
        close(t->kick_fd);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->space);
    free(t->dir);
    free(t);
    return NULL;
}

void
tailer_stop(struct tailer *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    pthread_cond_broadcast(&t->space);
    pthread_mutex_unlock(&t->mu);
    eventfd_poke(t->kick_fd);
    pthread_join(t->thread, NULL);
    close_dir(t);
    index_db_close(t->db);
    scan_free(t->scan);
    for (size_t i = 0; i < t->qn; i++)
        qev_free(&t->q[i]);
    free(t->q);
    close(t->wake_fd);
    close(t->kick_fd);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->space);
    free(t->dir);
    free(t);
}

int
tailer_fd(const struct tailer *t)
{
    return t->wake_fd;
}

void
tailer_rescan(struct tailer *t)
{
    pthread_mutex_lock(&t->mu);
    t->rescan_req = true;
    pthread_mutex_unlock(&t->mu);
    eventfd_poke(t->kick_fd);
}

void
tailer_get_stats(struct tailer *t, struct tailer_stats *out)
{
    pthread_mutex_lock(&t->mu);
    *out = t->stats;
    pthread_mutex_unlock(&t->mu);
}

size_t
tailer_drain(struct tailer *t, tailer_event_fn fn, void *ctx)
{
    struct qev *q;
    size_t n;

    eventfd_reset(t->wake_fd);
    pthread_mutex_lock(&t->mu);
    q = t->q;
    n = t->qn;
    t->q = NULL;
    t->qn = t->qcap = 0;
    t->wake_pending = false;
    pthread_cond_broadcast(&t->space);
    pthread_mutex_unlock(&t->mu);
    for (size_t i = 0; i < n; i++) {
        struct tailer_event ev = { q[i].kind, q[i].id, q[i].d, q[i].msg };
        if (fn != NULL)
            fn(ctx, &ev);
        qev_free(&q[i]);
    }
    free(q);
    return n;
}

static void
apply(void *ctx, const struct tailer_event *ev)
{
    struct index *ix = ctx;

    if (ev->kind == TAILER_UPSERT)
        index_upsert(ix, ev->digest, NULL);
    else if (ev->kind == TAILER_REMOVE)
        index_remove(ix, ev->id);
}

size_t
tailer_drain_into(struct tailer *t, struct index *ix)
{
    return tailer_drain(t, apply, ix);
}

static int
emit_into(void *ctx, const char *id, struct digest *d)
{
    struct index *ix = ctx;

    if (d == NULL) {
        index_remove(ix, id);
        return 0;
    }
    index_upsert(ix, d, NULL);
    digest_free(d);
    return 0;
}

int
tailer_index_dir(const char *dir, struct index *ix, struct intentus_err *err)
{
    struct rec_store *rs = rec_store_open(dir, NULL, err);
    struct scan *s;
    int rc;

    if (rs == NULL)
        return -1;
    s = scan_new(NULL);
    if (s == NULL) {
        rec_store_close(rs);
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    rc = scan_full(s, rs, clock_mono_us(), emit_into, ix, err);
    scan_free(s);
    rec_store_close(rs);
    return rc;
}
