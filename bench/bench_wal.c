/* 6. WAL: what the write-ahead log adds per execution, for each
 * durability, next to record-only (sync record store, no fsync), routing
 * bench.echo (DIRECT: execution.started, step.started, step.completed,
 * execution.completed = 4 entries) one execution at a time; and group
 * durability with 4 threads routing at once, where its batching shows. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/rec_store.h"
#include "core/router.h"
#include "core/wal.h"
#include "tui/bench_fixture.h"

struct wal_mode {
    const char *label;
    bool wal;
    enum wal_durability d;
    int threads;
};

static const struct wal_mode wal_modes[] = {
    { "record only", false, WAL_NONE, 1 },
    { "record + WAL none", true, WAL_NONE, 1 },
    { "record + WAL group", true, WAL_GROUP, 1 },
    { "record + WAL per_entry", true, WAL_PER_ENTRY, 1 },
    { "record only, 4 threads", false, WAL_NONE, 4 },
    { "record + WAL group, 4 threads", true, WAL_GROUP, 4 },
    { "record + WAL per_entry, 4 threads", true, WAL_PER_ENTRY, 4 },
};
#define N_WAL_MODES (sizeof(wal_modes) / sizeof(wal_modes[0]))

struct worker {
    struct router *r;
    size_t n;
    unsigned seed;
    int failed;
    pthread_t t;
};

static void *
worker_main(void *p)
{
    struct worker *w = p;

    for (size_t i = 0; i < w->n; i++) {
        cJSON *env = bench_envelope("bench.echo", STRATEGY_DIRECT, 200, w->seed + (unsigned)i);
        struct route_result res;
        if (env == NULL || router_route(w->r, env, &res) != 0 || res.wal_failed) {
            w->failed = 1;
            cJSON_Delete(env);
            return NULL;
        }
        route_result_free(&res);
        cJSON_Delete(env);
    }
    return NULL;
}

/* Microseconds of wall time per execution (all threads together). */
static int
run_mode(struct bench *b, const struct config *cfg, const struct wal_mode *m, size_t n, double *us)
{
    struct intentus_err err = { 0 };
    char dir[512], waldir[600];
    struct rec_store *rs;
    struct wal *w = NULL;
    struct router *r;
    struct worker ws[4];
    int64_t t0;
    int failed = 0;

    if (bench_mkdir(b, "wal", dir, sizeof(dir)) != 0)
        return -1;
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    rs = rec_store_open(dir, NULL, &err);
    if (m->wal)
        w = wal_open(waldir, &(struct wal_opts){ .durability = m->d, .create = true }, &err);
    r = rs != NULL && (!m->wal || w != NULL)
            ? router_new(cfg->registry, &(struct router_opts){ .store = rs, .wal = w }, &err)
            : NULL;
    if (r == NULL) {
        fprintf(stderr, "bench wal: %s\n", err.msg);
        wal_close(w);
        rec_store_close(rs);
        return -1;
    }
    t0 = bench_now_ns();
    for (int i = 0; i < m->threads; i++) {
        ws[i] = (struct worker){ r, n / (size_t)m->threads, 1000u * (unsigned)i, 0, 0 };
        pthread_create(&ws[i].t, NULL, worker_main, &ws[i]);
    }
    for (int i = 0; i < m->threads; i++) {
        pthread_join(ws[i].t, NULL);
        failed |= ws[i].failed;
    }
    *us = (double)(bench_now_ns() - t0) / 1000.0 / (double)n;
    router_free(r);
    wal_close(w);
    rec_store_close(rs);
    bench_rmtree(dir);
    return failed ? -1 : 0;
}

int
bench_wal(struct bench *b)
{
    struct intentus_err err = { 0 };
    struct config *cfg = bench_config(&err);
    double v[N_WAL_MODES][BENCH_MAX_REPS];
    int reps = b->reps_slow > 0 ? b->reps_slow : 3;

    if (cfg == NULL) {
        fprintf(stderr, "bench wal: %s\n", err.msg);
        return -1;
    }
    if (reps > BENCH_MAX_REPS)
        reps = BENCH_MAX_REPS;
    for (int rep = 0; rep < reps; rep++) {
        for (size_t i = 0; i < N_WAL_MODES; i++) {
            const struct wal_mode *m = &wal_modes[i];
            size_t n =
                m->wal && m->d == WAL_PER_ENTRY ? (b->quick ? 40 : 200) : (b->quick ? 200 : 1000);
            if (run_mode(b, cfg, m, n, &v[i][rep]) != 0) {
                config_free(cfg);
                return -1;
            }
        }
    }
    for (size_t i = 0; i < N_WAL_MODES; i++)
        bench_add(b, "wal", wal_modes[i].label, "us/exec", v[i], reps, false);
    bench_note(b, "wal: DIRECT echo, 4 WAL entries per execution; record store without fsync; "
                  "per_entry fdatasyncs each entry, group once per syncer pass");
    config_free(cfg);
    return 0;
}
