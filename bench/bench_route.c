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
 * Group commit (issue 16): the async writer with fsync and 1 or 8 threads
 * routing at once, each waiting for its record's fate (so every figure
 * counts acknowledged, durable records), against the same fsync floor.
 *
 * The measuring itself is bm_route and bm_floor (tui/bench_measure.c),
 * which `intentus bench route` runs too.
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
#include "core/buf.h"
#include "core/crypt.h"
#include "core/rec_store.h"
#include "core/router.h"
#include "core/writer.h"
#include "tui/bench_fixture.h"
#include "tui/bench_measure.h"

/* The same order as enum bm_record (tui/bench_measure.h). */
enum rec_kind { REC_OFF = BM_RECORD_OFF, REC_MEMORY, REC_SYNC, REC_ASYNC };

struct mode {
    const char *label;
    enum rec_kind kind;
    bool fsync;
    bool encrypt; /* records sealed with a one-key ring */
    /* > 0: that many threads route at once, each waiting for its record's
     * fate before the next (the acknowledgement a server gives). */
    size_t submitters;
};

static const struct mode modes[] = {
    { "recording off", REC_OFF, false, false, 0 },
    { "recording built, not kept", REC_MEMORY, false, false, 0 },
    { "recording sync, no fsync", REC_SYNC, false, false, 0 },
    { "recording async, no fsync", REC_ASYNC, false, false, 0 },
    { "recording sync, fsync", REC_SYNC, true, false, 0 },
    { "recording async, fsync", REC_ASYNC, true, false, 0 },
    { "recording sync, no fsync, encrypted", REC_SYNC, false, true, 0 },
    { "recording async, no fsync, encrypted", REC_ASYNC, false, true, 0 },
    /* Group commit: acknowledged records, fsync on, 1 and 8 submitters,
     * against the fsync floor (one file and one directory fsync each). */
    { "recording async, fsync, 1 submitter acked", REC_ASYNC, true, false, 1 },
    { "recording async, fsync, 8 submitters acked", REC_ASYNC, true, false, 8 },
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
    if (m->fsync && m->submitters > 1)
        return b->quick ? 80 : 400;
    if (m->fsync)
        return b->quick ? 20 : 100;
    return b->quick ? 200 : 1000;
}

static int
route_run(struct bench *b, struct config *cfg, const struct strat *s, const struct mode *m,
          size_t n, struct run *out)
{
    struct intentus_err err = { 0 };
    struct crypt_keyring *kr = NULL;
    struct bm_route_result res;
    char dir[512] = "", ring[600], id[CRYPT_ID_HEX];
    int rc = -1;

    if (m->kind != REC_OFF) {
        if (bench_mkdir(b, "route", dir, sizeof(dir)) != 0)
            goto out;
        if (m->encrypt) {
            /* The ring sits inside the record directory only to be removed
             * with it; the mean file size skips it (a directory, hidden). */
            snprintf(ring, sizeof(ring), "%s/.ring", dir);
            if (crypt_keyring_add(ring, id, NULL, 0, &err) != 0 ||
                (kr = crypt_keyring_load(ring, &err)) == NULL)
                goto out;
        }
    }
    if (bm_route(cfg->registry,
                 &(struct bm_route_opts){ .intent = s->intent,
                                          .strategy = s->strategy,
                                          .payload = PAYLOAD,
                                          .record = (enum bm_record)m->kind,
                                          .fsync = m->fsync,
                                          .keys = kr,
                                          .dir = dir,
                                          .n = n,
                                          .submitters = m->submitters,
                                          .settle = m->submitters > 0 },
                 &res, &err) != 0)
        goto out;
    out->per_sec = res.per_sec;
    out->mean_us = res.mean_us;
    out->p50_us = res.p50_us;
    out->p99_us = res.p99_us;
    out->file_size = res.file_bytes;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "bench: route %s, %s failed: %s\n", s->label, m->label, err.msg);
    crypt_keyring_free(kr);
    if (dir[0])
        bench_rmtree(dir);
    return rc;
}

/* The persistence floor: n files of size bytes, as rec_store writes them. */
static int
floor_run(struct bench *b, size_t n, size_t size, bool do_fsync, struct run *out)
{
    struct intentus_err err = { 0 };
    char dir[512];
    int rc = -1;

    if (bench_mkdir(b, "floor", dir, sizeof(dir)) != 0)
        return -1;
    rc = bm_floor(dir, n, size, do_fsync, &out->per_sec, &err);
    if (rc != 0)
        fprintf(stderr, "bench: persistence floor failed: %s\n", err.msg);
    bench_rmtree(dir);
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
    *size = bm_mean_file_size(dir, NULL);
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
            md->submitters == 8 ? "target >= 3 (group commit; floor: one writer, fsync per file "
                                  "and directory)"
            : md->fsync         ? "target >= 0.9 (floor: same fsync per file and directory)"
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
