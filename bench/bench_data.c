/* The record data sets: written by the real router, so the watcher,
 * console and retention figures read what intentus actually writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/rec_store.h"
#include "core/router.h"
#include "core/writer.h"
#include "tui/bench_fixture.h"
#include "tui/bench_measure.h"

/* Route n executions into dir through a writer (async or sync, no fsync):
 * bm_write_records (tui/bench_measure.c), the mix `intentus bench index`
 * writes too. */
int
bench_write_records(const char *dir, size_t n, bool async, unsigned seed)
{
    struct intentus_err err = { 0 };
    struct config *cfg = bench_config(&err);
    int rc = -1;

    if (cfg != NULL)
        rc = bm_write_records(cfg->registry, dir, n, async, seed, &err);
    if (rc != 0)
        fprintf(stderr, "bench: writing records into %s failed: %s\n", dir, err.msg);
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
