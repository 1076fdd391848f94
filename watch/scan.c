#include "watch/scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { KNOWN_INDEXED, KNOWN_PENDING };

struct known {
    int64_t size, mtime_ns;
    uint64_t ino;
    int64_t next_try; /* pending: when to try again */
    uint32_t gen;     /* last full scan that saw it */
    uint8_t state, tries, emitted;
    char id[];
};

#define GONE ((struct known *)(uintptr_t)1)

struct scan {
    struct scan_opts opts;
    struct known **slots;
    size_t cap, used, live; /* used counts tombstones */
    uint32_t gen;
    size_t pending;
};

static uint64_t
hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return h;
}

struct scan *
scan_new(const struct scan_opts *opts)
{
    struct scan *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    if (opts != NULL)
        s->opts = *opts;
    s->cap = 256;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (s->slots == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void
scan_free(struct scan *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->cap; i++) {
        if (s->slots[i] != GONE)
            free(s->slots[i]);
    }
    free(s->slots);
    free(s);
}

size_t
scan_known(const struct scan *s)
{
    return s->live;
}

bool
scan_id_of(const char *name, char *id, size_t size)
{
    size_t n = strlen(name), cut;

    if (name[0] == '.')
        return false;
    if (n > 5 && strcmp(name + n - 5, ".json") == 0)
        cut = 5;
    else if (n > 8 && strcmp(name + n - 8, ".json.gz") == 0)
        cut = 8;
    else
        return false;
    if (n - cut >= size)
        return false;
    memcpy(id, name, n - cut);
    id[n - cut] = '\0';
    return rec_store_id_is_valid(id);
}

static size_t
find_slot(const struct scan *s, const char *id)
{
    size_t mask = s->cap - 1;

    for (size_t i = hash_str(id) & mask;; i = (i + 1) & mask) {
        struct known *k = s->slots[i];
        if (k == NULL || (k != GONE && strcmp(k->id, id) == 0))
            return i;
    }
}

static struct known *
find(const struct scan *s, const char *id)
{
    return s->slots[find_slot(s, id)];
}

static int
rehash(struct scan *s)
{
    size_t ncap = s->live * 4 > s->cap ? s->cap * 2 : s->cap, mask = ncap - 1;
    struct known **slots = calloc(ncap, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        struct known *k = s->slots[i];
        size_t j;
        if (k == NULL || k == GONE)
            continue;
        for (j = hash_str(k->id) & mask; slots[j] != NULL; j = (j + 1) & mask)
            ;
        slots[j] = k;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = ncap;
    s->used = s->live;
    return 0;
}

static struct known *
add(struct scan *s, const char *id)
{
    size_t len = strlen(id) + 1, slot;
    struct known *k;

    if ((s->used + 1) * 2 > s->cap && rehash(s) != 0)
        return NULL;
    k = calloc(1, sizeof(*k) + len);
    if (k == NULL)
        return NULL;
    memcpy(k->id, id, len);
    slot = find_slot(s, id);
    s->slots[slot] = k;
    s->used++;
    s->live++;
    return k;
}

static int
forget(struct scan *s, struct known *k, scan_emit_fn emit, void *ctx)
{
    size_t slot = find_slot(s, k->id);
    int rc = 0;

    if (k->emitted)
        rc = emit(ctx, k->id, NULL);
    if (k->state == KNOWN_PENDING)
        s->pending--;
    s->slots[slot] = GONE;
    s->live--;
    free(k);
    return rc;
}

/* Stat the entry rec_store_read will open for id: <id>.json, else
 * .json.gz. Symlinks and other non-files count as present: reading them
 * fails, and they are shown corrupt with the reason (never followed). */
static int
stat_id(struct rec_store *rs, const char *id, struct stat *st)
{
    char name[160];

    snprintf(name, sizeof(name), "%s.json", id);
    if (fstatat(rec_store_dirfd(rs), name, st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    snprintf(name, sizeof(name), "%s.json.gz", id);
    if (fstatat(rec_store_dirfd(rs), name, st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    return -1;
}

static int64_t
mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Read and digest one file: what digest_id needs, and nothing of the scan,
 * so worker threads can run it. *gone: the file vanished before the read. */
static struct digest *
digest_read(struct rec_store *rs, const char *id, int64_t size, int64_t mtime, bool *gone)
{
    struct intentus_err err = { 0 };
    enum crypt_status cst = CRYPT_PLAIN;
    struct digest *d;
    size_t len;
    /* Decrypted in memory only: the plaintext goes no further than here. */
    char *text = rec_store_read_st(rs, id, &len, &cst, &err);

    *gone = text == NULL && err.code == IERR_NOT_FOUND;
    if (*gone)
        return NULL;
    if (text != NULL) {
        d = digest_from_text(id, text, len, NULL);
        explicit_bzero(text, len);
        free(text);
    } else {
        d = digest_corrupt(id, 0, err.msg);
    }
    if (d == NULL)
        return NULL;
    if (cst == CRYPT_OK) {
        /* The error message is response text: an encrypted record's stays
         * in its file, so no digest (and no index row) carries it, and
         * reading through the index or the files gives the same answer. */
        d->flags |= DIGEST_SEALED;
        free(d->note);
        d->note = NULL;
    } else if (cst == CRYPT_NO_KEY || cst == CRYPT_KEY_MISSING) {
        d->flags |= DIGEST_LOCKED;
    } else if (cst == CRYPT_TAMPERED || cst == CRYPT_BAD_FORMAT) {
        d->flags |= DIGEST_TAMPERED;
    } else if (cst == CRYPT_TRUNCATED) {
        d->flags |= DIGEST_TRUNCATED;
    }
    d->file_size = (uint64_t)size;
    if (d->flags & DIGEST_CORRUPT)
        d->created_us = mtime / 1000;
    return d;
}

/* What digest_read gave for k (d owned here): forget a vanished file, hold
 * back a corrupt one that has retries left, else report it. */
static int
digest_apply(struct scan *s, struct known *k, struct digest *d, bool gone, int64_t now_us,
             scan_emit_fn emit, void *ctx)
{
    if (gone)
        return forget(s, k, emit, ctx);
    if (d == NULL)
        return 0; /* out of memory: try again on the next change */
    if ((d->flags & DIGEST_CORRUPT) && k->tries < s->opts.retries) {
        /* Perhaps a writer still writing in place: try again shortly. */
        if (k->state != KNOWN_PENDING)
            s->pending++;
        k->state = KNOWN_PENDING;
        k->tries++;
        k->next_try = now_us + s->opts.retry_us;
        digest_free(d);
        return 0;
    }
    if (k->state == KNOWN_PENDING)
        s->pending--;
    k->state = KNOWN_INDEXED;
    k->emitted = 1;
    return emit(ctx, k->id, d);
}

static void
set_identity(struct known *k, const struct stat *st)
{
    k->size = st->st_size;
    k->mtime_ns = mtime_ns(st);
    k->ino = st->st_ino;
}

/* Digest id now. Returns the emit result; a vanished file is forgotten. */
static int
digest_id(struct scan *s, struct rec_store *rs, struct known *k, const struct stat *st,
          int64_t now_us, scan_emit_fn emit, void *ctx)
{
    bool gone;
    struct digest *d;

    set_identity(k, st);
    d = digest_read(rs, k->id, k->size, k->mtime_ns, &gone);
    return digest_apply(s, k, d, gone, now_us, emit, ctx);
}

/* The entry for id changed or appeared: digest it unless what we know is
 * the same file as before. */
static int
check_id(struct scan *s, struct rec_store *rs, const char *id, int64_t now_us, scan_emit_fn emit,
         void *ctx)
{
    struct known *k = find(s, id);
    struct stat st;

    if (k == GONE)
        k = NULL;
    if (stat_id(rs, id, &st) != 0)
        return k != NULL ? forget(s, k, emit, ctx) : 0;
    if (k != NULL) {
        k->gen = s->gen;
        if (k->size == st.st_size && k->mtime_ns == mtime_ns(&st) && k->ino == st.st_ino)
            return 0;
        k->tries = 0; /* a new version: a fresh set of retries */
    } else {
        k = add(s, id);
        if (k == NULL)
            return 0;
        k->gen = s->gen;
    }
    return digest_id(s, rs, k, &st, now_us, emit, ctx);
}

int
scan_name(struct scan *s, struct rec_store *rs, const char *name, int64_t now_us, scan_emit_fn emit,
          void *ctx)
{
    char id[160];

    if (!scan_id_of(name, id, sizeof(id)))
        return 0;
    return check_id(s, rs, id, now_us, emit, ctx);
}

int
scan_created(struct scan *s, struct rec_store *rs, const char *name, int64_t now_us,
             scan_emit_fn emit, void *ctx)
{
    char id[160];
    struct stat st;

    if (!scan_id_of(name, id, sizeof(id)))
        return 0;
    if (fstatat(rec_store_dirfd(rs), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 0; /* gone again: its IN_DELETE follows */
    if (S_ISREG(st.st_mode) && st.st_nlink == 1)
        return 0;
    return check_id(s, rs, id, now_us, emit, ctx);
}

int
scan_gone(struct scan *s, const char *name, scan_emit_fn emit, void *ctx)
{
    char id[160];
    struct known *k;

    if (!scan_id_of(name, id, sizeof(id)))
        return 0;
    k = find(s, id);
    if (k == NULL || k == GONE)
        return 0;
    /* <id>.json went but <id>.json.gz may still be there: the caller's next
     * scan_name settles that; a plain removal is the common case. */
    return forget(s, k, emit, ctx);
}

int
scan_forget_all(struct scan *s, scan_emit_fn emit, void *ctx)
{
    int rc = 0;

    for (size_t i = 0; i < s->cap; i++) {
        struct known *k = s->slots[i];
        if (k != NULL && k != GONE && forget(s, k, emit, ctx) != 0)
            rc = -1;
    }
    return rc;
}

/* ---- the full scan: list and stat, then digest on worker threads ---- */

/* How far the workers may run ahead of the consumer (bounds memory). */
#define SCAN_WINDOW 4096
#define SCAN_MAX_THREADS 16
/* Fewer files than this are digested on the calling thread. */
#define SCAN_MIN_PARALLEL 64

struct job {
    struct known *k;
    struct digest *d;
    int64_t size, mtime_ns;
    bool gone, done;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t more, ready;
    struct rec_store *rs;
    struct job *jobs;
    size_t n, next, consumed;
    bool stop;
};

static void *
worker(void *arg)
{
    struct pool *p = arg;

    for (;;) {
        struct job *j;
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->next < p->n && p->next >= p->consumed + SCAN_WINDOW)
            pthread_cond_wait(&p->more, &p->mu);
        if (p->stop || p->next >= p->n) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        j = &p->jobs[p->next++];
        pthread_mutex_unlock(&p->mu);
        j->d = digest_read(p->rs, j->k->id, j->size, j->mtime_ns, &j->gone);
        pthread_mutex_lock(&p->mu);
        j->done = true;
        pthread_cond_signal(&p->ready);
        pthread_mutex_unlock(&p->mu);
    }
}

static int
scan_threads(const struct scan *s, size_t jobs)
{
    long n = s->opts.threads > 0 ? s->opts.threads : sysconf(_SC_NPROCESSORS_ONLN);

    if (jobs < SCAN_MIN_PARALLEL || n <= 1)
        return 0;
    return n > SCAN_MAX_THREADS ? SCAN_MAX_THREADS : (int)n;
}

/* Digest every job: on worker threads (reads and digests only), results
 * applied here in listing order. After a stop the jobs not applied lose
 * their identity, so the next scan digests them again. */
static int
run_jobs(struct scan *s, struct rec_store *rs, struct job *jobs, size_t n, int64_t now_us,
         scan_emit_fn emit, void *ctx)
{
    struct pool p = { .rs = rs, .jobs = jobs, .n = n };
    pthread_t tid[SCAN_MAX_THREADS];
    int threads = scan_threads(s, n), started = 0, rc = 0;
    size_t i;

    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.more, NULL);
    pthread_cond_init(&p.ready, NULL);
    for (int t = 0; t < threads; t++) {
        if (pthread_create(&tid[t], NULL, worker, &p) != 0)
            break;
        started++;
    }
    for (i = 0; i < n && rc == 0; i++) {
        struct job *j = &jobs[i];
        if (started == 0) {
            j->d = digest_read(rs, j->k->id, j->size, j->mtime_ns, &j->gone);
        } else {
            pthread_mutex_lock(&p.mu);
            while (!j->done)
                pthread_cond_wait(&p.ready, &p.mu);
            p.consumed = i + 1;
            pthread_cond_broadcast(&p.more);
            pthread_mutex_unlock(&p.mu);
        }
        rc = digest_apply(s, j->k, j->d, j->gone, now_us, emit, ctx);
        j->d = NULL;
    }
    pthread_mutex_lock(&p.mu);
    p.stop = true;
    pthread_cond_broadcast(&p.more);
    pthread_mutex_unlock(&p.mu);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    for (; i < n; i++) {
        digest_free(jobs[i].d);
        jobs[i].k->size = -1;
        jobs[i].k->mtime_ns = -1;
    }
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.more);
    pthread_cond_destroy(&p.ready);
    return rc;
}

static int
push_job(struct job **jobs, size_t *n, size_t *cap, struct known *k)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        struct job *nj = realloc(*jobs, ncap * sizeof(*nj));
        if (nj == NULL)
            return -1;
        *jobs = nj;
        *cap = ncap;
    }
    (*jobs)[(*n)++] = (struct job){ .k = k, .size = k->size, .mtime_ns = k->mtime_ns };
    return 0;
}

/* One listed id: unchanged (nothing to do), gone again, or a job. Each id
 * is looked at once per scan (<id>.json and <id>.json.gz name one record). */
static int
list_id(struct scan *s, struct rec_store *rs, const char *id, struct job **jobs, size_t *n,
        size_t *cap, scan_emit_fn emit, void *ctx)
{
    struct known *k = find(s, id);
    struct stat st;

    if (k == GONE)
        k = NULL;
    if (k != NULL && k->gen == s->gen)
        return 0;
    if (stat_id(rs, id, &st) != 0)
        return k != NULL ? forget(s, k, emit, ctx) : 0;
    if (k != NULL) {
        k->gen = s->gen;
        if (k->size == st.st_size && k->mtime_ns == mtime_ns(&st) && k->ino == st.st_ino)
            return 0;
        k->tries = 0; /* a new version: a fresh set of retries */
    } else {
        k = add(s, id);
        if (k == NULL)
            return 0;
        k->gen = s->gen;
    }
    set_identity(k, &st);
    if (push_job(jobs, n, cap, k) != 0) {
        k->size = k->mtime_ns = -1; /* not digested: the next scan tries again */
        return 0;
    }
    return 0;
}

int
scan_full(struct scan *s, struct rec_store *rs, int64_t now_us, scan_emit_fn emit, void *ctx,
          struct intentus_err *err)
{
    int fd = dup(rec_store_dirfd(rs)), rc = 0;
    struct job *jobs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        err_set(err, IERR_IO, "cannot list %s: %s", rec_store_dir(rs), strerror(errno));
        return -1;
    }
    s->gen++;
    rewinddir(d);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char id[160];
        if (!scan_id_of(de->d_name, id, sizeof(id)))
            continue;
        rc = list_id(s, rs, id, &jobs, &n, &cap, emit, ctx);
    }
    closedir(d);
    if (rc == 0)
        rc = run_jobs(s, rs, jobs, n, now_us, emit, ctx);
    else
        for (size_t i = 0; i < n; i++)
            jobs[i].k->size = jobs[i].k->mtime_ns = -1;
    free(jobs);
    if (rc != 0)
        return rc; /* stopped: the next full scan finishes the job */
    for (size_t i = 0; i < s->cap && rc == 0; i++) {
        struct known *k = s->slots[i];
        if (k != NULL && k != GONE && k->gen != s->gen)
            rc = forget(s, k, emit, ctx);
    }
    return rc;
}

int
scan_preload(struct scan *s, const char *id, int64_t size, int64_t mtime_ns, uint64_t ino)
{
    struct known *k = find(s, id);

    if (k == NULL || k == GONE)
        k = add(s, id);
    if (k == NULL)
        return -1;
    k->size = size;
    k->mtime_ns = mtime_ns;
    k->ino = ino;
    k->gen = s->gen;
    k->state = KNOWN_INDEXED;
    k->emitted = 1;
    return 0;
}

int
scan_identity(const struct scan *s, const char *id, int64_t *size, int64_t *mtime_ns, uint64_t *ino)
{
    const struct known *k = find(s, id);

    if (k == NULL || k == GONE)
        return -1;
    *size = k->size;
    *mtime_ns = k->mtime_ns;
    *ino = k->ino;
    return 0;
}

int64_t
scan_next_retry(const struct scan *s)
{
    int64_t next = 0;

    if (s->pending == 0)
        return 0;
    for (size_t i = 0; i < s->cap; i++) {
        const struct known *k = s->slots[i];
        if (k != NULL && k != GONE && k->state == KNOWN_PENDING &&
            (next == 0 || k->next_try < next))
            next = k->next_try;
    }
    return next;
}

int
scan_retry_due(struct scan *s, struct rec_store *rs, int64_t now_us, scan_emit_fn emit, void *ctx)
{
    int rc = 0;

    if (s->pending == 0)
        return 0;
    for (size_t i = 0; i < s->cap && rc == 0; i++) {
        struct known *k = s->slots[i];
        struct stat st;
        if (k == NULL || k == GONE || k->state != KNOWN_PENDING || k->next_try > now_us)
            continue;
        if (stat_id(rs, k->id, &st) != 0)
            rc = forget(s, k, emit, ctx);
        else
            rc = digest_id(s, rs, k, &st, now_us, emit, ctx);
    }
    return rc;
}
