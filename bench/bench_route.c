/* 2. Route and 3. persistence floor.
 *
 * An in-process echo agent, DIRECT and FALLBACK (two failing agents, then
 * echo), with recording off, built but not kept (sampled out: the recorder
 * runs, nothing is written), sync without fsync, async, sync with fsync and
 * async with fsync (group commit). Executions per second, p50/p99 latency of
 * router_route, recording cost per event.
 *
 * The floor is a plain C loop writing files of the records' size the way
 * rec_store does (hidden temp file, write, [fsync], close, rename, [fsync
 * directory]) with no intentus code. Each repetition runs every mode and its
 * floor one after the other, so the ratios compare like with like.
 *
 * Encryption at rest (recording.encryption): the sync and async no-fsync
 * modes again with every record sealed (AES-256-GCM, core/crypt.h), in the
 * same repetition as their plaintext twins, so "cost of encryption" is a
 * difference taken under the same load. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/fixture.h"
#include "core/buf.h"
#include "core/crypt.h"
#include "core/rec_store.h"
#include "core/router.h"
#include "core/writer.h"

enum rec_kind { REC_OFF, REC_MEMORY, REC_SYNC, REC_ASYNC };

struct mode {
    const char *label;
    enum rec_kind kind;
    bool fsync;
    bool encrypt; /* records sealed with a one-key ring */
};

static const struct mode modes[] = {
    { "recording off", REC_OFF, false, false },
    { "recording built, not kept", REC_MEMORY, false, false },
    { "recording sync, no fsync", REC_SYNC, false, false },
    { "recording async, no fsync", REC_ASYNC, false, false },
    { "recording sync, fsync", REC_SYNC, true, false },
    { "recording async, fsync", REC_ASYNC, true, false },
    { "recording sync, no fsync, encrypted", REC_SYNC, false, true },
    { "recording async, no fsync, encrypted", REC_ASYNC, false, true },
};
#define N_MODES (sizeof(modes) / sizeof(modes[0]))

struct strat {
    const char *label;
    const char *intent;
    enum strategy strategy;
};

static const struct strat strats[] = {
    { "DIRECT", "bench.echo", STRATEGY_DIRECT },
    { "FALLBACK", "bench.fallback", STRATEGY_FALLBACK },
};

/* One measured run. */
struct run {
    double per_sec; /* executions (or floor files) per second */
    double p50_us, p99_us, mean_us;
    double file_size; /* mean bytes per record file written */
};

#define PAYLOAD 200 /* bytes: the records come out at about 2 KB */

static size_t
mode_n(const struct bench *b, const struct mode *m)
{
    if (m->kind == REC_OFF || m->kind == REC_MEMORY)
        return b->quick ? 300 : 5000;
    if (m->fsync)
        return b->quick ? 20 : 100;
    return b->quick ? 200 : 1000;
}

/* Mean size of the visible files in dir. */
static double
mean_file_size(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    double total = 0;
    long n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) != 0)
            continue;
        total += (double)st.st_size;
        n++;
    }
    closedir(d);
    return n ? total / (double)n : 0;
}

static int
route_run(struct bench *b, struct config *cfg, const struct strat *s, const struct mode *m,
          size_t n, struct run *out)
{
    struct intentus_err err = { 0 };
    struct rec_store *store = NULL;
    struct crypt_keyring *kr = NULL;
    struct writer *w = NULL;
    struct router *r = NULL;
    cJSON **envs = calloc(n, sizeof(*envs));
    double *lat = calloc(n, sizeof(*lat));
    char dir[512] = "", ring[600], id[CRYPT_ID_HEX];
    int rc = -1;
    int64_t t0, t1;

    if (envs == NULL || lat == NULL)
        goto out;
    for (size_t i = 0; i < n; i++)
        if ((envs[i] = bench_envelope(s->intent, s->strategy, PAYLOAD, (unsigned)i)) == NULL)
            goto out;
    if (m->kind != REC_OFF) {
        if (bench_mkdir(b, "route", dir, sizeof(dir)) != 0)
            goto out;
        if (m->encrypt) {
            /* The ring sits inside the record directory only to be removed
             * with it; mean_file_size skips it (a directory, hidden). */
            snprintf(ring, sizeof(ring), "%s/.ring", dir);
            if (crypt_keyring_add(ring, id, NULL, 0, &err) != 0 ||
                (kr = crypt_keyring_load(ring, &err)) == NULL)
                goto out;
        }
        if (m->kind == REC_ASYNC)
            w = writer_open(
                dir, &(struct writer_opts){ .mode = WRITER_ASYNC, .fsync = m->fsync, .keys = kr },
                &err);
        else
            store = rec_store_open(
                dir,
                &(struct rec_store_opts){ .fsync = m->fsync, .encrypt = kr != NULL, .keys = kr },
                &err);
        if (w == NULL && store == NULL)
            goto out;
    }
    r = router_new(cfg->registry,
                   &(struct router_opts){ .require_determinism = true,
                                          .store = store,
                                          .writer = w,
                                          .seed = 1,
                                          /* built, then sampled out: rate 0 keeps errors only */
                                          .sample = m->kind == REC_MEMORY,
                                          .sample_rate = 0,
                                          .sample_errors = true },
                   &err);
    if (r == NULL)
        goto out;
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        struct route_result res;
        int64_t a = bench_now_ns();
        if (router_route(r, envs[i], &res) != 0)
            goto out;
        lat[i] = (double)(bench_now_ns() - a) / 1e3;
        if (m->kind >= REC_SYNC && !res.recorded) {
            fprintf(stderr, "bench: not recorded: %s\n", res.record_err.msg);
            route_result_free(&res);
            goto out;
        }
        route_result_free(&res);
    }
    if (w != NULL)
        writer_flush(w);
    t1 = bench_now_ns();
    out->per_sec = (double)n / ((double)(t1 - t0) / 1e9);
    out->mean_us = 0;
    for (size_t i = 0; i < n; i++)
        out->mean_us += lat[i] / (double)n;
    out->p50_us = bench_percentile(lat, n, 50);
    out->p99_us = bench_percentile(lat, n, 99);
    out->file_size = dir[0] ? mean_file_size(dir) : 0;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "bench: route %s, %s failed: %s\n", s->label, m->label, err.msg);
    router_free(r);
    writer_close(w);
    rec_store_close(store);
    crypt_keyring_free(kr);
    if (dir[0])
        bench_rmtree(dir);
    for (size_t i = 0; envs != NULL && i < n; i++)
        cJSON_Delete(envs[i]);
    free(envs);
    free(lat);
    return rc;
}

/* The persistence floor: n files of size bytes, as rec_store writes them. */
static int
floor_run(struct bench *b, size_t n, size_t size, bool do_fsync, struct run *out)
{
    char dir[512], name[64], tmp[80];
    char *text = malloc(size + 1);
    int dfd = -1, rc = -1;
    int64_t t0;

    if (text == NULL || bench_mkdir(b, "floor", dir, sizeof(dir)) != 0)
        goto out;
    memset(text, 'x', size);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        goto out;
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        int fd;
        snprintf(name, sizeof(name), "%08zx-0000-7000-8000-%012zx.json", i, i * 2654435761u);
        snprintf(tmp, sizeof(tmp), ".%s.%08zx.tmp", name, i);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, text, size) != (ssize_t)size || (do_fsync && fsync(fd) != 0)) {
            if (fd >= 0)
                close(fd);
            goto out;
        }
        if (close(fd) != 0 || renameat(dfd, tmp, dfd, name) != 0 || (do_fsync && fsync(dfd) != 0))
            goto out;
    }
    out->per_sec = (double)n / ((double)(bench_now_ns() - t0) / 1e9);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "bench: persistence floor failed in %s\n", dir);
    if (dfd >= 0)
        close(dfd);
    bench_rmtree(dir);
    free(text);
    return rc;
}

/* Record size and events per execution for a strategy, from a few records. */
static int
probe(struct bench *b, struct config *cfg, const struct strat *s, double *size, int *events)
{
    struct intentus_err err = { 0 };
    char dir[512];
    struct rec_store *rs;
    struct router *r = NULL;
    int rc = -1;

    if (bench_mkdir(b, "probe", dir, sizeof(dir)) != 0)
        return -1;
    rs = rec_store_open(dir, NULL, &err);
    if (rs != NULL)
        r = router_new(cfg->registry, &(struct router_opts){ .store = rs, .seed = 1 }, &err);
    for (unsigned i = 0; r != NULL && i < 8; i++) {
        cJSON *env = bench_envelope(s->intent, s->strategy, PAYLOAD, i), *rec;
        struct route_result res;
        if (env == NULL || router_route(r, env, &res) != 0) {
            cJSON_Delete(env);
            goto out;
        }
        rec = rec_store_load(rs, res.execution_id, &err);
        *events = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(rec, "events"));
        cJSON_Delete(rec);
        cJSON_Delete(env);
        route_result_free(&res);
    }
    *size = mean_file_size(dir);
    rc = r != NULL ? 0 : -1;
out:
    router_free(r);
    rec_store_close(rs);
    bench_rmtree(dir);
    return rc;
}

/* The cipher alone: sealing one record-sized blob, mean microseconds. */
static int
seal_run(struct bench *b, size_t size, double *us)
{
    struct intentus_err err = { 0 };
    struct crypt_keyring *kr = NULL;
    struct buf out = BUF_INIT;
    char dir[512], ring[600], id[CRYPT_ID_HEX];
    char *text = malloc(size + 1);
    size_t n = b->quick ? 2000 : 20000;
    int rc = -1;
    int64_t t0;

    if (text == NULL || bench_mkdir(b, "seal", dir, sizeof(dir)) != 0) {
        free(text);
        return -1;
    }
    memset(text, 'x', size);
    snprintf(ring, sizeof(ring), "%s/ring", dir);
    if (crypt_keyring_add(ring, id, NULL, 0, &err) != 0 ||
        (kr = crypt_keyring_load(ring, &err)) == NULL)
        goto out;
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        buf_reset(&out);
        if (crypt_seal(kr, CRYPT_RECORD, text, size, &out, &err) != 0)
            goto out;
    }
    *us = (double)(bench_now_ns() - t0) / 1e3 / (double)n;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "bench: seal failed: %s\n", err.msg);
    buf_free(&out);
    crypt_keyring_free(kr);
    bench_rmtree(dir);
    free(text);
    return rc;
}

static void
add(struct bench *b, const char *name, const char *unit, const double *v, int n, bool hib,
    const char *note)
{
    struct bench_fig *f = bench_add(b, "route", name, unit, v, n, hib);
    if (f != NULL && note != NULL)
        snprintf(f->note, sizeof(f->note), "%s", note);
}

static int
one_strategy(struct bench *b, struct config *cfg, const struct strat *s)
{
    struct run run[N_MODES][BENCH_MAX_REPS], fl[2][BENCH_MAX_REPS];
    double v[BENCH_MAX_REPS], size;
    int events = 0, reps = b->reps;
    char name[96];

    if (probe(b, cfg, s, &size, &events) != 0 || events <= 0)
        return -1;
    for (int r = 0; r < reps; r++) {
        for (size_t m = 0; m < N_MODES; m++) {
            /* The floor runs just before the first mode that writes the same way. */
            if (modes[m].kind == REC_SYNC && !modes[m].encrypt &&
                floor_run(b, mode_n(b, &modes[m]), (size_t)size, modes[m].fsync,
                          &fl[modes[m].fsync][r]) != 0)
                return -1;
            if (route_run(b, cfg, s, &modes[m], mode_n(b, &modes[m]), &run[m][r]) != 0)
                return -1;
        }
    }
    for (size_t m = 0; m < N_MODES; m++) {
        const struct mode *md = &modes[m];
        snprintf(name, sizeof(name), "%s, %s: throughput", s->label, md->label);
        for (int r = 0; r < reps; r++)
            v[r] = run[m][r].per_sec;
        add(b, name, "exec/s", v, reps, true, NULL);
        snprintf(name, sizeof(name), "%s, %s: latency p50", s->label, md->label);
        for (int r = 0; r < reps; r++)
            v[r] = run[m][r].p50_us;
        add(b, name, "us", v, reps, false, NULL);
        snprintf(name, sizeof(name), "%s, %s: latency p99", s->label, md->label);
        for (int r = 0; r < reps; r++)
            v[r] = run[m][r].p99_us;
        add(b, name, "us", v, reps, false, NULL);
        if (md->kind == REC_OFF)
            continue;
        /* Cost of recording on the caller's path, per event and per execution,
         * against recording off in the same repetition. */
        snprintf(name, sizeof(name), "%s, %s: recording cost per event", s->label, md->label);
        for (int r = 0; r < reps; r++)
            v[r] = (run[m][r].mean_us - run[0][r].mean_us) / events;
        add(b, name, "us/event", v, reps, false,
            md->kind == REC_MEMORY ? "recorder + envelope hash, nothing written" : NULL);
        if (md->kind == REC_MEMORY) {
            snprintf(name, sizeof(name), "%s, %s: per event vs reference 0.05 ms", s->label,
                     md->label);
            for (int r = 0; r < reps; r++)
                v[r] = 50.0 / ((run[m][r].mean_us - run[0][r].mean_us) / events);
            add(b, name, "x", v, reps, true, "times cheaper; documented figure, not measured");
        }
        if (md->kind == REC_SYNC && !md->fsync) {
            snprintf(name, sizeof(name), "%s, %s: overhead per execution vs reference 1.5 ms",
                     s->label, md->label);
            for (int r = 0; r < reps; r++)
                v[r] = 1500.0 / (run[m][r].mean_us - run[0][r].mean_us);
            add(b, name, "x", v, reps, true,
                "times cheaper (reference: 5 events ~1.5 ms); documented figure");
        }
        if (md->kind == REC_MEMORY)
            continue;
        if (md->encrypt) {
            /* Against the same mode in plaintext, in the same repetition. */
            size_t p = 0;
            while (p < N_MODES &&
                   (modes[p].kind != md->kind || modes[p].fsync != md->fsync || modes[p].encrypt))
                p++;
            snprintf(name, sizeof(name), "%s, %s: cost of encryption per execution", s->label,
                     md->label);
            for (int r = 0; r < reps; r++)
                v[r] = run[m][r].mean_us - run[p][r].mean_us;
            add(b, name, "us", v, reps, false,
                "mean latency minus the plaintext mode's, same repetition");
            snprintf(name, sizeof(name), "%s, %s: throughput vs plaintext", s->label, md->label);
            for (int r = 0; r < reps; r++)
                v[r] = run[m][r].per_sec / run[p][r].per_sec;
            add(b, name, "ratio", v, reps, true, "1.0 = encryption costs nothing");
            continue;
        }
        snprintf(name, sizeof(name), "%s, %s: ratio to the persistence floor", s->label, md->label);
        for (int r = 0; r < reps; r++)
            v[r] = run[m][r].per_sec / fl[md->fsync][r].per_sec;
        add(b, name, "ratio", v, reps, true,
            md->fsync ? "target >= 0.9 (floor: same fsync per file and directory)"
                      : "target >= 0.6");
    }
    for (int f = 0; f < 2; f++) {
        snprintf(name, sizeof(name), "%s, floor: plain C temp+rename%s, %.0f B files", s->label,
                 f ? " + fsync" : "", size);
        for (int r = 0; r < reps; r++)
            v[r] = fl[f][r].per_sec;
        add(b, name, "files/s", v, reps, true, NULL);
    }
    for (int r = 0; r < reps; r++)
        if (seal_run(b, (size_t)size, &v[r]) != 0)
            return -1;
    snprintf(name, sizeof(name), "%s: AES-256-GCM seal of one %.0f B record", s->label, size);
    add(b, name, "us", v, reps, false, "the cipher alone (core/crypt.c), no I/O");
    snprintf(name, sizeof(name), "%s: events per execution", s->label);
    v[0] = events;
    add(b, name, "events", v, 1, false, NULL);
    snprintf(name, sizeof(name), "%s: record file size", s->label);
    v[0] = size;
    add(b, name, "bytes", v, 1, false, NULL);
    return 0;
}

int
bench_route(struct bench *b)
{
    struct intentus_err err = { 0 };
    struct config *cfg = bench_config(&err);
    int rc = 0;

    if (cfg == NULL) {
        fprintf(stderr, "bench: config: %s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; rc == 0 && i < sizeof(strats) / sizeof(strats[0]); i++)
        rc = one_strategy(b, cfg, &strats[i]);
    config_free(cfg);
    return rc;
}
