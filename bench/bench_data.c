/* The record data sets: written by the real router, so the watcher,
 * console and retention figures read what intentus actually writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/fixture.h"
#include "core/rec_store.h"
#include "core/router.h"
#include "core/writer.h"

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

/* Route n executions into dir through a writer (async or sync, no fsync). */
int
bench_write_records(const char *dir, size_t n, bool async, unsigned seed)
{
    struct intentus_err err = { 0 };
    struct config *cfg = bench_config(&err);
    struct writer *w = NULL;
    struct router *r = NULL;
    int rc = -1;

    if (cfg == NULL)
        goto out;
    w = writer_open(dir, &(struct writer_opts){ .mode = async ? WRITER_ASYNC : WRITER_SYNC }, &err);
    if (w == NULL)
        goto out;
    r = router_new(cfg->registry, &(struct router_opts){ .writer = w, .seed = 1 }, &err);
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
            goto out;
        }
        if (!res.recorded) {
            err = res.record_err;
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
    if (rc != 0)
        fprintf(stderr, "bench: writing records into %s failed: %s\n", dir, err.msg);
    router_free(r);
    writer_close(w);
    config_free(cfg);
    return rc;
}

int
bench_dataset(struct bench *b, size_t n, char *out, size_t size, double *seconds)
{
    int64_t t0 = bench_now_ns();

    if (bench_mkdir(b, "dataset", out, size) != 0)
        return -1;
    if (bench_write_records(out, n, true, 1000) != 0)
        return -1;
    *seconds = (double)(bench_now_ns() - t0) / 1e9;
    return 0;
}
