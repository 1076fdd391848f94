#include "core/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/store.h"
#include "core/text_pool.h"
#include "core/uuid.h"

struct writer_fate {
    pthread_mutex_t lock;
    pthread_cond_t decided;
    int refs; /* the submitter's and, until it decides, the writer's */
    enum writer_fate_state state;
    struct intentus_err err;
    writer_fate_fn fn;
    void *ctx;
};

/* A queued record and its fate (NULL when untracked): either a tree the
 * writer thread prints (writer_submit_tracked keeps serialising off the
 * caller's path) or the record's final text (writer_submit_text). */
struct slot {
    cJSON *record;
    char *text;
    size_t len;
    char id[REC_STORE_ID_MAX + 1];
    struct writer_fate *fate;
};

/* With fsync, the files of a group stay open until synced: at most this
 * many per thread (max_batch permitting), so WRITER_FSYNC_THREADS threads
 * hold at most 128 descriptors. */
#define GROUP_OPEN_FILES 32
/* Working buffers larger than this are freed after their record. */
#define KEEP_BUF ((size_t)1 << 20)
/* The longest a group commit waits for more records (gather). */
#define GATHER_MAX_US 1000

/* One writer thread and its group commit's working space. */
struct worker {
    struct writer *w;
    pthread_t thread;
    struct slot *batch;
    struct intentus_err *results; /* per record of the batch: IERR_OK once on disk */
    struct rec_file *files;
    struct buf text, sealed; /* reused from record to record */
    size_t last_batch;       /* records in its last group commit */
    int64_t commit_us;       /* and how long that commit took */
};

struct writer {
    enum writer_mode mode;
    bool fsync;
    bool group_syncfs; /* sync_batch may use syncfs (see there) */
    enum writer_on_full on_full;
    struct rec_store *store; /* ids, sealing and size checks (both modes), sync writes */
    int dirfd;               /* the store's */
    /* writer_opts.engine (borrowed): every record goes through it instead
     * of files; one writer thread, and engine_lock makes the sync mode's
     * callers take turns on it. */
    struct store *engine;
    pthread_mutex_t engine_lock;
    char *dir;
    pthread_mutex_t lock;
    pthread_cond_t nonempty, notfull, drained;
    pthread_cond_t company; /* signalled per record queued while a thread gathers */
    struct slot *ring;
    size_t cap, head, len, max_batch;
    size_t busy; /* worker threads in the middle of a batch */
    size_t idle; /* worker threads waiting on nonempty */
    /* Signals sent to idle threads that have not woken yet: a submitter
     * wakes a second thread only when there is one beyond those, so a
     * burst arriving at an idle writer does not wake every thread for a
     * record or two each. */
    size_t waking;
    size_t gathering; /* threads waiting on company for a fuller batch */
    bool stopping;
    struct worker *workers;
    size_t n_workers, n_started;
    struct writer_stats st;
    struct intentus_err last_err;
};

static void
slot_free(struct slot *sl)
{
    cJSON_Delete(sl->record);
    text_pool_give(sl->text); /* back to the router threads' next records */
    sl->record = NULL;
    sl->text = NULL;
}

/* The first half of one record of a batch: its bytes (printed from the
 * tree, sealed when the store encrypts, size checked) written to a hidden
 * temp file, and with fsync its write-back started. The slot's text is
 * freed as soon as it is written. */
static int
stage_one(struct worker *k, struct slot *sl, struct rec_file *f, struct intentus_err *err)
{
    struct writer *w = k->w;
    const char *text = sl->text, *data;
    size_t len = sl->len, dlen;
    char name[REC_STORE_ID_MAX + 8];
    int rc = -1;

    f->fd = -1;
    if (sl->record != NULL) {
        buf_reset(&k->text);
        if (json_print_pretty(sl->record, &k->text) != 0) {
            err_set(err, IERR_NOMEM, "out of memory serialising record %s", sl->id);
            goto out;
        }
        text = k->text.data;
        len = k->text.len;
    }
    buf_reset(&k->sealed);
    if (rec_store_prepare(w->store, sl->id, text, len, &k->sealed, &data, &dlen, err) != 0)
        goto out;
    snprintf(name, sizeof(name), "%s.json", sl->id);
    if (rec_file_write(f, w->dirfd, w->dir, name, data, dlen, err) != 0)
        goto out;
    /* With fsync the file stays open for the group's sync; without, it
     * goes into place at once (no descriptors held across a batch). */
    if (w->fsync)
        rec_file_start_sync(f);
    else if (rec_file_commit(f, w->dirfd, w->dir, err) != 0)
        goto out;
    rc = 0;
out:
    slot_free(sl);
    /* Keep a working buffer for the next record, not a huge one's memory. */
    if (k->text.cap > KEEP_BUF)
        buf_free(&k->text);
    if (k->sealed.cap > KEEP_BUF)
        buf_free(&k->sealed);
    return rc;
}

/* One record of a batch through the store engine: the text the file would
 * hold, put by execution id (a record already there with these bytes is
 * written). */
static int
engine_stage(struct worker *k, struct slot *sl, struct intentus_err *err)
{
    const char *text = sl->text;
    size_t len = sl->len;
    int rc = -1;

    if (sl->record != NULL) {
        buf_reset(&k->text);
        if (json_print_pretty(sl->record, &k->text) != 0) {
            err_set(err, IERR_NOMEM, "out of memory serialising record %s", sl->id);
            goto out;
        }
        text = k->text.data;
        len = k->text.len;
    }
    if (rec_store_check_size(sl->id, len, err) == 0 &&
        store_put(k->w->engine, sl->id, text, len, err) >= 0)
        rc = 0;
out:
    slot_free(sl);
    if (k->text.cap > KEEP_BUF)
        buf_free(&k->text);
    return rc;
}

/* write_batch through the engine: the batch is one transaction, each
 * record acknowledged only once the commit returned (durable then when
 * the engine syncs). */
static void
engine_batch(struct worker *k, size_t n, struct intentus_err *dir_err)
{
    struct writer *w = k->w;

    if (store_begin(w->engine, dir_err) != 0 && dir_err->code == IERR_OK)
        dir_err->code = IERR_IO;
    for (size_t i = 0; i < n; i++) {
        err_clear(&k->results[i]);
        if (dir_err->code == IERR_OK)
            engine_stage(k, &k->batch[i], &k->results[i]);
        else
            slot_free(&k->batch[i]);
    }
    if (dir_err->code == IERR_OK && store_commit(w->engine, dir_err) != 0 &&
        dir_err->code == IERR_OK)
        dir_err->code = IERR_IO;
}

static struct writer_fate *
fate_new(void)
{
    struct writer_fate *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->decided, NULL);
    f->refs = 2;
    return f;
}

/* The writer's last word on a record: sets the state, wakes waiters, calls
 * the notify hook (outside the lock) and drops the writer's reference. */
static void
fate_decide(struct writer_fate *f, const struct intentus_err *result)
{
    writer_fate_fn fn;
    void *ctx;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    f->state = result->code == IERR_OK ? WRITER_FATE_WRITTEN : WRITER_FATE_FAILED;
    f->err = *result;
    fn = f->fn;
    ctx = f->ctx;
    pthread_cond_broadcast(&f->decided);
    pthread_mutex_unlock(&f->lock);
    if (fn != NULL)
        fn(ctx, f);
    writer_fate_release(f);
}

/* The data step of a group commit: every staged file of the batch durable
 * before any is renamed. One file: fdatasync, as a sync write does. More:
 * one syncfs() on the store's file system, one journal commit and one
 * disk cache flush for the whole batch, where an fdatasync per file costs
 * a flush each (on ext4 a later fdatasync whose metadata the first one
 * already committed still flushes the disk cache). Measured on ext4, a
 * batch of 8 with another process syncing on the same disk: 8 ms for
 * syncfs, 32 ms for 8 fdatasyncs. The price: syncfs also writes back
 * whatever other processes left dirty on that file system, so records are
 * best kept on a file system of their own (bench/README.md). If syncfs
 * fails (a write-back error anywhere on the file system since the last
 * one: reported since Linux 5.8), each file is synced on its own, so an
 * error reaches exactly the records whose files it hit. Before 5.8 syncfs
 * could return 0 after a write-back error, so there every file is synced
 * on its own (w->group_syncfs false). */
static bool
syncfs_reports_errors(void)
{
    struct utsname u;
    char *end = NULL;
    long major, minor;

    if (uname(&u) != 0)
        return false;
    major = strtol(u.release, &end, 10);
    if (end == u.release || *end != '.')
        return false;
    minor = strtol(end + 1, NULL, 10);
    return major > 5 || (major == 5 && minor >= 8);
}

static void
sync_batch(struct worker *k, size_t n)
{
    struct writer *w = k->w;
    size_t staged = 0;

    for (size_t i = 0; i < n; i++)
        staged += k->files[i].fd >= 0;
    if (staged > 1 && w->group_syncfs && syncfs(w->dirfd) == 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (k->files[i].fd >= 0 && rec_file_sync(&k->files[i], w->dir, true, &k->results[i]) != 0)
            rec_file_abort(&k->files[i], w->dirfd);
}

/* One group commit: every record of the batch written to its temp file;
 * with fsync, write-back started for each as it is written, then the data
 * of the whole batch made durable (sync_batch), the files renamed into
 * place and the directory synced once (without fsync each file goes into
 * place as soon as it is written); only then is each record's fate
 * decided: an acknowledgement always waits for the fsync that covers it. */
static void
write_batch(struct worker *k, size_t n)
{
    struct writer *w = k->w;
    uint64_t ok = 0, bad = 0;
    struct intentus_err dir_err = { 0 }, *last = NULL;

    if (k->text.failed)
        buf_free(&k->text);
    if (k->sealed.failed)
        buf_free(&k->sealed);
    if (w->engine != NULL)
        engine_batch(k, n, &dir_err);
    for (size_t i = 0; w->engine == NULL && i < n; i++) {
        err_clear(&k->results[i]);
        if (stage_one(k, &k->batch[i], &k->files[i], &k->results[i]) == 0 && !w->fsync)
            ok++;
    }
    if (w->fsync)
        sync_batch(k, n);
    for (size_t i = 0; w->fsync && i < n; i++)
        if (k->files[i].fd >= 0 &&
            rec_file_commit(&k->files[i], w->dirfd, w->dir, &k->results[i]) == 0)
            ok++;
    /* Group commit: the renames of the whole batch reach the disk with one
     * directory fsync; without it they are not durable, so not written. */
    if (w->fsync && ok > 0 && fsync(w->dirfd) != 0)
        err_set(&dir_err, IERR_IO, "cannot fsync directory %s: %s", w->dir, strerror(errno));
    ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (k->results[i].code == IERR_OK && dir_err.code != IERR_OK)
            k->results[i] = dir_err;
        if (k->results[i].code == IERR_OK) {
            ok++;
        } else {
            bad++;
            last = &k->results[i];
        }
    }
    pthread_mutex_lock(&w->lock);
    w->st.written += ok;
    w->st.errors += bad;
    w->st.batches++;
    if (last != NULL)
        w->last_err = *last;
    pthread_mutex_unlock(&w->lock);
    /* Counted before anyone hears of it, so stats never lag a fate. */
    for (size_t i = 0; i < n; i++)
        fate_decide(k->batch[i].fate, &k->results[i]);
}

/* Moves queued records into k's batch (up to group in all); w->lock held. */
static size_t
take(struct worker *k, size_t n, size_t group)
{
    struct writer *w = k->w;

    while (w->len > 0 && n < group) {
        k->batch[n++] = w->ring[w->head];
        w->head = (w->head + 1) % w->cap;
        w->len--;
    }
    pthread_cond_broadcast(&w->notfull);
    return n;
}

/* Group commit's wait for company (with fsync; w->lock held, the batch
 * counted busy). The submitters acknowledged by the last commit come back
 * within microseconds while a commit costs a disk flush: a batch smaller
 * than the last one waits for them, at most a quarter of the last commit's
 * time (GATHER_MAX_US at most), then commits what it has. A lone
 * submitter's batch is never smaller than its last, so it never waits. */
static size_t
gather(struct worker *k, size_t n, size_t group)
{
    struct writer *w = k->w;
    int64_t wait = k->commit_us / 4 < GATHER_MAX_US ? k->commit_us / 4 : GATHER_MAX_US;
    int64_t until = clock_mono_us() + wait; /* company waits on CLOCK_MONOTONIC */
    struct timespec ts = { .tv_sec = until / 1000000, .tv_nsec = until % 1000000 * 1000 };

    while (n < k->last_batch && n < group && !w->stopping) {
        if (w->len > 0) {
            n = take(k, n, group);
            continue;
        }
        w->gathering++;
        int rc = pthread_cond_timedwait(&w->company, &w->lock, &ts);
        w->gathering--;
        if (rc == ETIMEDOUT)
            break;
    }
    return n;
}

static void *
writer_main(void *arg)
{
    struct worker *k = arg;
    struct writer *w = k->w;
    size_t group = w->fsync && w->max_batch > GROUP_OPEN_FILES ? GROUP_OPEN_FILES : w->max_batch;

    /* Without fsync the writer is throughput work beside latency-bound
     * callers: as SCHED_BATCH its wakeups do not preempt a caller on the
     * same core (on 2 cores that preemption was most of the caller's p99).
     * With fsync the caller waits for the writer's commit, so not there.
     * Unprivileged and best effort: a refusal changes nothing else. */
    if (!w->fsync)
        (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &(struct sched_param){ 0 });
    pthread_mutex_lock(&w->lock);
    for (;;) {
        size_t n;
        while (w->len == 0 && !w->stopping) {
            w->idle++;
            pthread_cond_wait(&w->nonempty, &w->lock);
            w->idle--;
            if (w->waking > 0) /* ours, or a spurious wakeup standing in for it */
                w->waking--;
        }
        if (w->len == 0)
            break;
        w->busy++;
        n = take(k, 0, group);
        if (w->fsync)
            n = gather(k, n, group);
        pthread_mutex_unlock(&w->lock);
        int64_t t0 = clock_mono_us();
        write_batch(k, n);
        k->commit_us = clock_mono_us() - t0;
        k->last_batch = n;
        pthread_mutex_lock(&w->lock);
        w->busy--;
        if (w->len == 0 && w->busy == 0)
            pthread_cond_broadcast(&w->drained);
    }
    pthread_cond_broadcast(&w->drained);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

struct writer *
writer_open(const char *dir, const struct writer_opts *opts, struct intentus_err *err)
{
    struct writer *w = calloc(1, sizeof(*w));
    struct writer_opts o = opts != NULL ? *opts : (struct writer_opts){ 0 };

    if (w == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    w->mode = o.mode;
    w->fsync = o.fsync;
    w->group_syncfs = o.fsync && syncfs_reports_errors();
    w->on_full = o.on_full;
    w->cap = o.capacity > 0 ? o.capacity : 1024;
    w->max_batch = o.max_batch > 0 ? o.max_batch : 128;
    /* With fsync the wait is the disk's: a thread gathers a group while
     * another's commit is in flight, and one takes over a full group while
     * the others sync. Without fsync the cost is CPU: two threads. One
     * thread on 2 cores gave a lower caller p99 only while other processes
     * used both cores (21-49 us against 25-83 us); on the idle machine two
     * kept the same p99 (33 us against 30-45 us) and wrote 1.7-1.8 times
     * what sync does where one wrote 1.3-1.5 times (bench-compare). */
    w->n_workers = o.threads > 0 ? o.threads
                   : o.fsync     ? WRITER_FSYNC_THREADS
                                 : WRITER_DEFAULT_THREADS;
    if (w->n_workers > 64)
        w->n_workers = 64;
    w->dirfd = -1;
    pthread_mutex_init(&w->engine_lock, NULL);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->nonempty, NULL);
    pthread_cond_init(&w->notfull, NULL);
    pthread_cond_init(&w->drained, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->company, &ca);
        pthread_condattr_destroy(&ca);
    }
    if ((w->engine = o.engine) != NULL) {
        /* The engine is the writer's alone: one thread puts its batches. */
        w->n_workers = 1;
        if ((w->dir = strdup(store_url(w->engine))) == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            goto fail;
        }
        goto started;
    }
    w->store = rec_store_open(
        dir,
        &(struct rec_store_opts){
            .create = true, .fsync = o.fsync, .encrypt = o.keys != NULL, .keys = o.keys },
        err);
    if (w->store == NULL)
        goto fail;
    w->dirfd = rec_store_dirfd(w->store);
    w->dir = strdup(dir);
    if (w->dir == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
started:
    if (w->mode == WRITER_SYNC)
        return w;
    w->ring = calloc(w->cap, sizeof(*w->ring));
    w->workers = calloc(w->n_workers, sizeof(*w->workers));
    if (w->ring == NULL || w->workers == NULL) {
        err_set(err, IERR_NOMEM, "record writer for %s: out of memory", w->dir);
        goto fail;
    }
    for (size_t i = 0; i < w->n_workers; i++) {
        struct worker *k = &w->workers[i];
        k->w = w;
        buf_init(&k->text);
        buf_init(&k->sealed);
        k->batch = calloc(w->max_batch, sizeof(*k->batch));
        k->results = calloc(w->max_batch, sizeof(*k->results));
        k->files = calloc(w->max_batch, sizeof(*k->files));
        if (k->batch == NULL || k->results == NULL || k->files == NULL) {
            err_set(err, IERR_NOMEM, "record writer for %s: out of memory", w->dir);
            goto fail;
        }
    }
    for (size_t i = 0; i < w->n_workers; i++) {
        if (pthread_create(&w->workers[i].thread, NULL, writer_main, &w->workers[i]) != 0) {
            err_set(err, IERR_IO, "record writer for %s: cannot start its thread", w->dir);
            goto fail;
        }
        w->n_started++;
    }
    return w;
fail:
    writer_close(w);
    return NULL;
}

int
writer_submit(struct writer *w, cJSON *record, struct intentus_err *err)
{
    return writer_submit_tracked(w, record, NULL, err);
}

/* Sync mode: the record is on disk (or not) when this returns. */
static int
submit_sync(struct writer *w, const char *id, const char *text, size_t len,
            struct intentus_err *err)
{
    int rc;

    if (w->engine != NULL) {
        pthread_mutex_lock(&w->engine_lock);
        rc =
            rec_store_check_size(id, len, err) == 0 && store_put(w->engine, id, text, len, err) >= 0
                ? 0
                : -1;
        pthread_mutex_unlock(&w->engine_lock);
    } else {
        rc = rec_store_save_text(w->store, id, text, len, err);
    }
    pthread_mutex_lock(&w->lock);
    if (rc == 0)
        w->st.written++;
    else
        w->st.errors++;
    pthread_mutex_unlock(&w->lock);
    return rc;
}

/* Async mode: queue sl (its record or text owned by the writer from here
 * on, freed here when it is refused). */
static int
submit_async(struct writer *w, struct slot *sl, struct writer_fate **fate, struct intentus_err *err)
{
    struct writer_fate *f = NULL;
    bool wake = false, company = false;
    int rc = -1;

    if (fate != NULL && (f = fate_new()) == NULL) {
        err_set(err, IERR_NOMEM, "record writer for %s: out of memory", w->dir);
        slot_free(sl);
        pthread_mutex_lock(&w->lock);
        w->st.errors++;
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    sl->fate = f;
    pthread_mutex_lock(&w->lock);
    while (w->len == w->cap && w->on_full == WRITER_BLOCK && !w->stopping)
        pthread_cond_wait(&w->notfull, &w->lock);
    if (w->stopping) {
        err_set(err, IERR_INVALID, "record writer for %s is closing", w->dir);
        w->st.errors++;
    } else if (w->len == w->cap) {
        w->st.dropped++;
        err_set(err, IERR_LIMIT,
                "record dropped: writer queue full (%zu records; recording.on_full is drop)",
                w->cap);
    } else {
        w->ring[(w->head + w->len) % w->cap] = *sl;
        w->len++;
        sl->record = NULL;
        sl->text = NULL;
        if (fate != NULL)
            *fate = f;
        f = NULL;
        /* Wake a sleeping thread only when no thread is writing, or when
         * a whole group waits: a busy thread looks at the queue again
         * before it sleeps, so what queues meanwhile is its next batch.
         * Waking a thread per record made batches of one and a context
         * switch per record on the submitter's core. */
        wake = w->idle > w->waking && (w->busy == 0 || w->len >= w->max_batch);
        if (wake)
            w->waking++;
        company = w->gathering > 0;
        rc = 0;
    }
    pthread_mutex_unlock(&w->lock);
    /* Signalled after the unlock: the woken thread then finds the lock
     * free instead of blocking on it at once and being woken again by our
     * unlock (two switches on the caller's core for one hand-over). */
    if (wake)
        pthread_cond_signal(&w->nonempty);
    if (company)
        pthread_cond_broadcast(&w->company);
    slot_free(sl);
    if (f != NULL) { /* never queued: nobody holds it */
        f->refs = 1;
        writer_fate_release(f);
    }
    return rc;
}

/* A record refused before it is queued or written: counted, never silent. */
static int
refuse(struct writer *w, struct writer_fate **fate)
{
    if (fate != NULL)
        *fate = NULL;
    pthread_mutex_lock(&w->lock);
    w->st.errors++;
    pthread_mutex_unlock(&w->lock);
    return -1;
}

int
writer_submit_text(struct writer *w, const char *id, char *text, size_t len,
                   struct writer_fate **fate, struct intentus_err *err)
{
    struct slot sl = { .text = text, .len = len };

    if (fate != NULL)
        *fate = NULL;
    if (!rec_store_id_is_valid(id)) {
        err_set(err, IERR_INVALID, "record id '%s' is not a safe file name", id ? id : "(none)");
        free(text);
        return refuse(w, fate);
    }
    if (w->mode == WRITER_SYNC) {
        int rc = submit_sync(w, id, text, len, err);
        free(text);
        return rc;
    }
    memcpy(sl.id, id, strlen(id) + 1);
    return submit_async(w, &sl, fate, err);
}

int
writer_submit_tracked(struct writer *w, cJSON *record, struct writer_fate **fate,
                      struct intentus_err *err)
{
    const char *id = record_id(record);
    struct slot sl = { .record = record };
    struct buf text = BUF_INIT;
    size_t len;

    if (!rec_store_id_is_valid(id)) {
        err_set(err, IERR_INVALID, "record id '%s' is not a safe file name", id ? id : "(none)");
        cJSON_Delete(record);
        return refuse(w, fate);
    }
    memcpy(sl.id, id, strlen(id) + 1);
    if (w->mode == WRITER_ASYNC) {
        /* The tree is printed on the writer thread, off the caller's path. */
        if (fate != NULL)
            *fate = NULL;
        return submit_async(w, &sl, fate, err);
    }
    if (json_print_pretty(record, &text) != 0) {
        err_set(err, IERR_NOMEM, "out of memory serialising record %s", sl.id);
        buf_free(&text);
        cJSON_Delete(record);
        return refuse(w, fate);
    }
    cJSON_Delete(record);
    len = text.len;
    return writer_submit_text(w, sl.id, buf_take(&text), len, fate, err);
}

enum writer_fate_state
writer_fate_get(struct writer_fate *f, struct intentus_err *err)
{
    enum writer_fate_state st;

    pthread_mutex_lock(&f->lock);
    st = f->state;
    if (st == WRITER_FATE_FAILED && err != NULL)
        *err = f->err;
    pthread_mutex_unlock(&f->lock);
    return st;
}

int
writer_fate_wait(struct writer_fate *f, struct intentus_err *err)
{
    enum writer_fate_state st;

    pthread_mutex_lock(&f->lock);
    while (f->state == WRITER_FATE_PENDING)
        pthread_cond_wait(&f->decided, &f->lock);
    st = f->state;
    if (st == WRITER_FATE_FAILED && err != NULL)
        *err = f->err;
    pthread_mutex_unlock(&f->lock);
    return st == WRITER_FATE_WRITTEN ? 0 : -1;
}

void
writer_fate_notify(struct writer_fate *f, writer_fate_fn fn, void *ctx)
{
    bool now;

    pthread_mutex_lock(&f->lock);
    now = f->state != WRITER_FATE_PENDING;
    if (!now) {
        f->fn = fn;
        f->ctx = ctx;
    }
    pthread_mutex_unlock(&f->lock);
    if (now)
        fn(ctx, f);
}

void
writer_fate_release(struct writer_fate *f)
{
    bool last;

    if (f == NULL)
        return;
    pthread_mutex_lock(&f->lock);
    last = --f->refs == 0;
    pthread_mutex_unlock(&f->lock);
    if (!last)
        return;
    pthread_cond_destroy(&f->decided);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void
writer_flush(struct writer *w)
{
    if (w == NULL || w->n_started == 0)
        return;
    pthread_mutex_lock(&w->lock);
    while (w->len > 0 || w->busy > 0)
        pthread_cond_wait(&w->drained, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void
writer_close(struct writer *w)
{
    if (w == NULL)
        return;
    if (w->n_started > 0) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true; /* the threads drain the queue before they exit */
        pthread_cond_broadcast(&w->nonempty);
        pthread_cond_broadcast(&w->notfull);
        pthread_cond_broadcast(&w->company);
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < w->n_started; i++)
            pthread_join(w->workers[i].thread, NULL);
    }
    for (size_t i = 0; w->ring != NULL && i < w->len; i++) { /* only when no thread ran */
        struct slot *sl = &w->ring[(w->head + i) % w->cap];
        struct intentus_err gone = { 0 };
        err_set(&gone, IERR_IO, "record writer for %s closed before the record was written",
                w->dir);
        slot_free(sl);
        fate_decide(sl->fate, &gone);
    }
    rec_store_close(w->store);
    pthread_cond_destroy(&w->company);
    pthread_cond_destroy(&w->drained);
    pthread_cond_destroy(&w->notfull);
    pthread_cond_destroy(&w->nonempty);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->engine_lock);
    for (size_t i = 0; w->workers != NULL && i < w->n_workers; i++) {
        free(w->workers[i].batch);
        free(w->workers[i].results);
        free(w->workers[i].files);
        buf_free(&w->workers[i].text);
        buf_free(&w->workers[i].sealed);
    }
    free(w->workers);
    free(w->ring);
    free(w->dir);
    free(w);
}

void
writer_stats(struct writer *w, struct writer_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->st;
    out->queued = w->len;
    pthread_mutex_unlock(&w->lock);
}

void
writer_last_error(struct writer *w, struct intentus_err *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->last_err;
    pthread_mutex_unlock(&w->lock);
}

const char *
writer_dir(const struct writer *w)
{
    return w->dir;
}

enum writer_mode
writer_mode(const struct writer *w)
{
    return w->mode;
}
