/* The shared measurements (tui/bench_measure.h). */
#include "tui/bench_measure.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/router.h"
#include "core/writer.h"
#include "tui/bench_fixture.h"

#define CHUNK 4096 /* envelopes alive at once */

int64_t
bm_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
bm_percentile(double *v, size_t n, double p)
{
    size_t rank;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof(*v), cmp_double);
    rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void
bm_rmtree(const char *path)
{
    nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS);
}

double
bm_mean_file_size(const char *dir, size_t *files)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    double total = 0;
    size_t n = 0;

    if (files != NULL)
        *files = 0;
    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        total += (double)st.st_size;
        n++;
    }
    closedir(d);
    if (files != NULL)
        *files = n;
    return n ? total / (double)n : 0;
}

/* ---- route ---- */

/* One submitter's share of a chunk. */
struct submitter {
    struct router *r;
    const struct bm_route_opts *o;
    cJSON **envs;
    double *lat;
    size_t n;
    int failed; /* 1: router_route failed (out of memory), 2: not recorded */
    struct intentus_err err;
};

static void *
submit_main(void *arg)
{
    struct submitter *s = arg;

    for (size_t i = 0; i < s->n; i++) {
        struct route_result res;
        int64_t a = bm_now_ns();
        if (router_route_with(s->r, s->envs[i], NULL, &res) != 0) {
            s->failed = 1;
            err_set(&s->err, IERR_NOMEM, "routing failed: out of memory");
            return NULL;
        }
        if (s->o->settle)
            route_result_settle(&res);
        s->lat[i] = (double)(bm_now_ns() - a) / 1e3;
        if (s->o->record >= BM_RECORD_SYNC && !res.recorded) {
            s->failed = 2;
            s->err = res.record_err;
            route_result_free(&res);
            return NULL;
        }
        route_result_free(&res);
    }
    return NULL;
}

/* Route one chunk of envelopes from o->submitters threads; each one's
 * latencies go to its share of lat. */
static int
route_chunk(struct router *r, struct writer *w, const struct bm_route_opts *o, cJSON **envs,
            double *lat, /* NOLINT(readability-non-const-parameter): written by the submitters */
            size_t n, int64_t *ns, struct intentus_err *err)
{
    size_t k = o->submitters > 0 ? o->submitters : 1, started = 0, off = 0;
    struct submitter *s = calloc(k, sizeof(*s));
    pthread_t *th = calloc(k, sizeof(*th));
    int64_t t0;
    int rc = 0;

    if (s == NULL || th == NULL) {
        free(s);
        free(th);
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    for (size_t i = 0; i < k; i++) {
        size_t share = n / k + (i < n % k ? 1 : 0);
        s[i] =
            (struct submitter){ .r = r, .o = o, .envs = envs + off, .lat = lat + off, .n = share };
        off += share;
    }
    t0 = bm_now_ns();
    if (k == 1) {
        submit_main(&s[0]);
    } else {
        for (; started < k; started++)
            if (pthread_create(&th[started], NULL, submit_main, &s[started]) != 0)
                break;
        for (size_t i = 0; i < started; i++)
            pthread_join(th[i], NULL);
    }
    if (w != NULL)
        writer_flush(w);
    *ns += bm_now_ns() - t0;
    if (k > 1 && started < k) {
        err_set(err, IERR_IO, "cannot start submitter thread %zu", started + 1);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < k; i++) {
        if (s[i].failed) {
            *err = s[i].err;
            if (s[i].failed == 2)
                err_prefix(err, "not recorded");
            rc = -1;
        }
    }
    free(s);
    free(th);
    return rc;
}

/* How many envelopes bm_route builds before it routes them. */
static size_t
bm_chunk(const struct bm_route_opts *o)
{
    size_t chunk = o->chunk > 0 && o->chunk < CHUNK ? o->chunk : CHUNK;

    return o->n == 0 ? 1 : o->n < chunk ? o->n : chunk;
}

/* The envelopes of one chunk, as bm_route builds them; -1 when out of
 * memory (none left alive). */
static int
build_chunk(const struct bm_route_opts *o, cJSON **envs, size_t m, size_t done)
{
#ifdef __GLIBC__
    /* Cold chunks are laid out as in a fresh heap, as the reference's
     * envelopes are (it builds all of them before routing any): the last
     * chunk's freed nodes are merged back first. Without that each chunk
     * was carved from the free lists the last one left, in an order set by
     * what its routes had allocated: a route allocating one node less made
     * the next envelopes' members land further apart, and DIRECT cold 40 %
     * slower, with the route itself faster. Outside the timed part. */
    if (m > 1)
        malloc_trim(0);
#endif
    for (size_t i = 0; i < m; i++) {
        envs[i] = bench_envelope(o->intent, o->strategy, o->payload,
                                 o->payload_seed ? o->payload_seed : (unsigned)(done + i));
        if (envs[i] == NULL) {
            for (size_t j = 0; j < i; j++)
                cJSON_Delete(envs[j]);
            return -1;
        }
    }
    return 0;
}

/* What bm_envelope_floor reads of one envelope: a sum, so the compiler
 * cannot leave any of it out. */
static unsigned
touch_header(const cJSON *env)
{
    unsigned sum = 0;

    for (const cJSON *c = env->child; c != NULL; c = c->next) {
        if (c->string == NULL)
            continue;
        sum += (unsigned char)c->string[0];
        if (!cJSON_IsObject(c) || strcmp(c->string, "payload") == 0 ||
            strcmp(c->string, "context") == 0)
            continue;
        for (const cJSON *d = c->child; d != NULL; d = d->next) {
            if (d->string != NULL)
                sum += (unsigned char)d->string[0];
            if (cJSON_IsString(d))
                sum += (unsigned char)d->valuestring[0];
        }
    }
    return sum;
}

int
bm_envelope_floor(const struct bm_route_opts *o, double *ns_per_envelope, struct intentus_err *err)
{
    size_t chunk = bm_chunk(o);
    cJSON **envs = calloc(chunk, sizeof(*envs));
    volatile unsigned sink = 0;
    int64_t ns = 0;

    *ns_per_envelope = 0;
    if (envs == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    for (size_t done = 0; done < o->n;) {
        size_t m = o->n - done < chunk ? o->n - done : chunk;
        int64_t t0;
        if (build_chunk(o, envs, m, done) != 0) {
            err_set(err, IERR_NOMEM, "out of memory building envelopes");
            free(envs);
            return -1;
        }
        t0 = bm_now_ns();
        for (size_t i = 0; i < m; i++)
            sink += touch_header(envs[i]);
        ns += bm_now_ns() - t0;
        for (size_t i = 0; i < m; i++)
            cJSON_Delete(envs[i]);
        done += m;
    }
    (void)sink;
    free(envs);
    *ns_per_envelope = o->n > 0 ? (double)ns / (double)o->n : 0;
    return 0;
}

int
bm_route(struct registry *reg, const struct bm_route_opts *o, struct bm_route_result *out,
         struct intentus_err *err)
{
    struct rec_store *store = NULL;
    struct writer *w = NULL;
    struct router *r = NULL;
    size_t chunk = bm_chunk(o);
    cJSON **envs = calloc(chunk, sizeof(*envs));
    double *lat = calloc(o->n > 0 ? o->n : 1, sizeof(*lat));
    int64_t ns = 0;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (envs == NULL || lat == NULL) {
        err_set(err, IERR_NOMEM, "out of memory for %zu executions", o->n);
        goto out;
    }
    if (o->record == BM_RECORD_ASYNC) {
        w = writer_open(o->dir,
                        &(struct writer_opts){ .mode = WRITER_ASYNC,
                                               .fsync = o->fsync,
                                               .keys = o->keys,
                                               .threads = o->writer_threads },
                        err);
        if (w == NULL)
            goto out;
    } else if (o->record != BM_RECORD_OFF) {
        store = rec_store_open(
            o->dir,
            &(struct rec_store_opts){
                .create = true, .fsync = o->fsync, .encrypt = o->keys != NULL, .keys = o->keys },
            err);
        if (store == NULL)
            goto out;
    }
    r = router_new(reg,
                   &(struct router_opts){ .require_determinism = true,
                                          .store = store,
                                          .writer = w,
                                          .seed = 1,
                                          /* built, then sampled out: rate 0 keeps errors only */
                                          .sample = o->record == BM_RECORD_MEMORY,
                                          .sample_rate = 0,
                                          .sample_errors = true },
                   err);
    if (r == NULL)
        goto out;
    for (size_t done = 0; done < o->n;) {
        size_t m = o->n - done < chunk ? o->n - done : chunk;
        int crc;
        if (build_chunk(o, envs, m, done) != 0) {
            err_set(err, IERR_NOMEM, "out of memory building envelopes");
            goto out;
        }
        crc = route_chunk(r, w, o, envs, lat + done, m, &ns, err);
        for (size_t i = 0; i < m; i++)
            cJSON_Delete(envs[i]);
        if (crc != 0)
            goto out;
        done += m;
    }
    out->per_sec = ns > 0 ? (double)o->n / ((double)ns / 1e9) : 0;
    for (size_t i = 0; i < o->n; i++)
        out->mean_us += lat[i] / (double)o->n;
    out->p50_us = bm_percentile(lat, o->n, 50);
    out->p99_us = bm_percentile(lat, o->n, 99);
    if (w != NULL) {
        struct writer_stats st;
        writer_stats(w, &st);
        out->per_commit = st.batches > 0 ? (double)st.written / (double)st.batches : 0;
    }
    if (o->record == BM_RECORD_SYNC || o->record == BM_RECORD_ASYNC)
        out->file_bytes = bm_mean_file_size(o->dir, &out->files);
    rc = 0;
out:
    router_free(r);
    writer_close(w);
    rec_store_close(store);
    free(envs);
    free(lat);
    return rc;
}

/* ---- the persistence floor ---- */

int
bm_floor(const char *dir, size_t n, size_t size, bool do_fsync, double *per_sec,
         struct intentus_err *err)
{
    char name[64], tmp[96];
    char *text = malloc(size + 1);
    int dfd = -1, rc = -1;
    int64_t t0;

    if (text == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    memset(text, 'x', size);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        err_set(err, IERR_IO, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        err_set(err, IERR_IO, "cannot open %s: %s", dir, strerror(errno));
        goto out;
    }
    t0 = bm_now_ns();
    for (size_t i = 0; i < n; i++) {
        int fd;
        snprintf(name, sizeof(name), "%08zx-0000-7000-8000-%012zx.json", i, i * 2654435761U);
        snprintf(tmp, sizeof(tmp), ".%.60s.%08zx.tmp", name, i & 0xffffffffU);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, text, size) != (ssize_t)size || (do_fsync && fsync(fd) != 0)) {
            err_set(err, IERR_IO, "floor: cannot write %s/%s: %s", dir, tmp, strerror(errno));
            if (fd >= 0)
                close(fd);
            goto out;
        }
        if (close(fd) != 0 || renameat(dfd, tmp, dfd, name) != 0 || (do_fsync && fsync(dfd) != 0)) {
            err_set(err, IERR_IO, "floor: cannot put %s in place in %s: %s", name, dir,
                    strerror(errno));
            goto out;
        }
    }
    *per_sec = (double)n / ((double)(bm_now_ns() - t0) / 1e9);
    rc = 0;
out:
    if (dfd >= 0)
        close(dfd);
    free(text);
    return rc;
}

/* ---- hash ---- */

/* Time iters calls of the full hash or the floor; ns per call. */
static double
time_hash(const cJSON *env, const struct buf *canon, long iters, bool floor)
{
    char hex[65];
    int64_t t0 = bm_now_ns();

    for (long i = 0; i < iters; i++) {
        if (floor)
            json_sha256_hex(canon->data, canon->len, hex);
        else
            json_canonical_sha256(env, hex, NULL);
    }
    return (double)(bm_now_ns() - t0) / (double)iters;
}

int
bm_hash(size_t payload, bool floats, long iters, double budget_ns, struct bm_hash_result *out,
        struct intentus_err *err)
{
    struct envelope_opts eo = { .source = "intentus-bench" };
    cJSON *env = envelope_new("bench.echo", bench_payload(payload, 7, floats), &eo, NULL);
    struct buf canon = BUF_INIT;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (env == NULL || json_canonical(env, &canon, NULL) != 0) {
        err_set(err, IERR_NOMEM, "cannot build a %zu byte envelope", payload);
        goto out;
    }
    if (iters <= 0) {
        /* Calibrate so that one measurement takes about budget_ns. */
        iters = (long)(budget_ns / time_hash(env, &canon, 20, false));
        if (iters < 20)
            iters = 20;
    }
    out->canonical_bytes = canon.len;
    out->iters = iters;
    /* Five alternating rounds, the fastest of each side: on a shared
     * machine one long run of each measured the other programs as much as
     * the hash (the two sides got different shares of a core). */
    out->floor_ns = out->ns = 0;
    for (int round = 0; round < 5; round++) {
        long k = iters / 5 > 0 ? iters / 5 : 1;
        double f = time_hash(env, &canon, k, true), c = time_hash(env, &canon, k, false);
        if (out->floor_ns == 0 || f < out->floor_ns)
            out->floor_ns = f;
        if (out->ns == 0 || c < out->ns)
            out->ns = c;
    }
    rc = 0;
out:
    cJSON_Delete(env);
    buf_free(&canon);
    return rc;
}

/* ---- records for the index ---- */

/* Out of every 20 executions: 12 echo (DIRECT), 6 fallback after two
 * failures, 1 that fails everywhere (an error record), 1 upper. */
static void
pick(size_t i, const char **intent, enum strategy *s)
{
    unsigned k = (unsigned)(i % 20);

    *s = STRATEGY_FALLBACK;
    if (k < 12) {
        *intent = "bench.echo";
        *s = STRATEGY_DIRECT;
    } else if (k < 18) {
        *intent = "bench.fallback";
    } else if (k == 18) {
        *intent = "bench.fail";
    } else {
        *intent = "bench.upper";
    }
}

int
bm_write_records(struct registry *reg, const char *dir, size_t n, bool async, unsigned seed,
                 struct intentus_err *err)
{
    struct writer *w = NULL;
    struct router *r = NULL;
    int rc = -1;

    w = writer_open(dir, &(struct writer_opts){ .mode = async ? WRITER_ASYNC : WRITER_SYNC }, err);
    if (w == NULL)
        goto out;
    r = router_new(reg, &(struct router_opts){ .writer = w, .seed = 1 }, err);
    if (r == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const char *intent;
        enum strategy s;
        struct route_result res;
        cJSON *env;

        pick(i, &intent, &s);
        env = bench_envelope(intent, s, 200, seed + (unsigned)i);
        if (env == NULL || router_route(r, env, &res) != 0) {
            cJSON_Delete(env);
            err_set(err, IERR_NOMEM, "out of memory routing execution %zu", i + 1);
            goto out;
        }
        if (!res.recorded) {
            *err = res.record_err;
            route_result_free(&res);
            cJSON_Delete(env);
            goto out;
        }
        route_result_free(&res);
        cJSON_Delete(env);
    }
    writer_flush(w);
    rc = 0;
out:
    router_free(r);
    writer_close(w);
    return rc;
}

int
bm_index_open(const char *dir, bool rebuild, double *secs, struct index_db_info *info,
              struct intentus_err *err)
{
    int64_t t0 = bm_now_ns();
    struct index_db *db = index_db_open(dir, rebuild, err);

    *secs = (double)(bm_now_ns() - t0) / 1e9;
    if (db == NULL)
        return -1;
    *info = *index_db_info(db);
    index_db_close(db);
    return 0;
}
