/* intentus-bench --route-inproc CONFIG SECONDS THREADS: the in-process
 * route + record figure the serve benchmark compares against. Opens a
 * runtime on CONFIG (the same file serve runs with), builds the envelope
 * serve's POST /v1/route builds for {"intent":"bench.echo","payload":{"x":1}}
 * and calls runtime_route from THREADS threads for SECONDS (waiting for an
 * async writer's verdict on each record, as serve's answer does). Prints
 * one JSON line: {"threads":T,"routes":N,"failures":F,"seconds":S,"rps":R,
 * "p50_us":..,"p99_us":..} (latency of one route, the first 100,000 of
 * each thread). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/model.h"
#include "core/runtime.h"

#define INPROC_SAMPLES 100000

struct inproc {
    struct runtime *rt;
    int64_t end_ns;
    atomic_ullong routes, failures;
};

struct inproc_thread {
    struct inproc *p;
    double *lat_us;
    size_t n;
    pthread_t tid;
};

static void *
inproc_main(void *arg)
{
    struct inproc_thread *t = arg;
    struct inproc *p = t->p;
    struct envelope_opts o = { .priority = PRIORITY_NORMAL,
                               .strategy = STRATEGY_DIRECT,
                               .source = "intentus-serve" };

    while (bench_now_ns() < p->end_ns) {
        struct intentus_err err = { 0 };
        cJSON *env = envelope_new("bench.echo", cJSON_Parse("{\"x\":1}"), &o, &err);
        struct route_result res;
        int64_t t0 = bench_now_ns();
        if (env == NULL || runtime_route(p->rt, env, &res) != 0) {
            atomic_fetch_add(&p->failures, 1);
            cJSON_Delete(env);
            continue;
        }
        route_result_settle(&res);
        /* serve prints the answer: so does this */
        free(cJSON_PrintUnformatted(res.response));
        route_result_free(&res);
        cJSON_Delete(env);
        if (t->lat_us != NULL && t->n < INPROC_SAMPLES)
            t->lat_us[t->n++] = (double)(bench_now_ns() - t0) / 1000.0;
        atomic_fetch_add(&p->routes, 1);
    }
    return NULL;
}

int
bench_inproc_main(const char *config, const char *seconds, const char *threads)
{
    struct intentus_err err = { 0 };
    struct inproc p = { 0 };
    double secs = atof(seconds);
    int n = atoi(threads), started = 0;
    struct inproc_thread th[64];
    double *all = NULL, p50 = 0, p99 = 0;
    size_t n_all = 0;
    int64_t t0;

    if (secs <= 0 || n < 1 || n > 64) {
        fprintf(stderr, "bench: --route-inproc CONFIG SECONDS THREADS (1..64)\n");
        return 2;
    }
    p.rt = runtime_open(config, &(struct runtime_opts){ .workers = 1 }, &err);
    if (p.rt == NULL) {
        fprintf(stderr, "bench: %s: %s\n", config, err.msg);
        return 1;
    }
    t0 = bench_now_ns();
    p.end_ns = t0 + (int64_t)(secs * 1e9);
    for (int i = 0; i < n; i++) {
        th[started] =
            (struct inproc_thread){ .p = &p, .lat_us = malloc(INPROC_SAMPLES * sizeof(double)) };
        if (pthread_create(&th[started].tid, NULL, inproc_main, &th[started]) == 0)
            started++;
        else
            free(th[started].lat_us);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i].tid, NULL);
    secs = (double)(bench_now_ns() - t0) / 1e9;
    runtime_close(p.rt);
    all = malloc((size_t)started * INPROC_SAMPLES * sizeof(double));
    for (int i = 0; i < started; i++) {
        if (all != NULL && th[i].lat_us != NULL) {
            memcpy(all + n_all, th[i].lat_us, th[i].n * sizeof(double));
            n_all += th[i].n;
        }
        free(th[i].lat_us);
    }
    if (n_all > 0) {
        p50 = bench_percentile(all, n_all, 50);
        p99 = bench_percentile(all, n_all, 99);
    }
    free(all);
    printf("{\"threads\":%d,\"routes\":%llu,\"failures\":%llu,\"seconds\":%.3f,\"rps\":%.0f,"
           "\"p50_us\":%.0f,\"p99_us\":%.0f}\n",
           started, (unsigned long long)atomic_load(&p.routes),
           (unsigned long long)atomic_load(&p.failures), secs,
           (double)atomic_load(&p.routes) / secs, p50, p99);
    return started == n && atomic_load(&p.failures) == 0 ? 0 : 1;
}
