/* The benchmark harness: timing, repetition statistics, the result table
 * and results.json. Every figure is measured several times; the table shows
 * the median and the spread (min..max). A comparison with a floor (the same
 * work done by a plain C loop with no intentus code) is a ratio computed
 * per repetition, intentus and floor interleaved, then the median of those
 * ratios: the machines these run on are noisy, so only ratios measured in
 * the same moment mean much. Nothing here asserts on a figure. */
#ifndef INTENTUS_BENCH_BENCH_H
#define INTENTUS_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_REPS 16

/* One figure: a value per repetition. */
struct bench_fig {
    char section[24];
    char name[96];
    char unit[16];
    double v[BENCH_MAX_REPS];
    int n;
    bool higher_is_better;
    char note[160];
};

struct bench {
    const char *tmp_root; /* a directory of our own, removed at the end */
    bool quick;           /* small N, for debugging the benchmarks themselves */
    int reps;             /* repetitions of cheap figures */
    int reps_slow;        /* repetitions of expensive ones (fsync, 100,000 files) */
    struct bench_fig *figs;
    size_t n_figs, cap_figs;
    char **notes; /* free-text notes for results.json (what was left out, and why) */
    size_t n_notes;
    int seq; /* for unique temp directory names */
};

/* Monotonic nanoseconds. */
int64_t bench_now_ns(void);

/* Add a figure (values copied) and return it; NULL when out of memory. */
struct bench_fig *bench_add(struct bench *b, const char *section, const char *name,
                            const char *unit, const double *v, int n, bool higher_is_better);
void bench_note(struct bench *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Median, min, max of v[0..n). */
void bench_stats(const double *v, int n, double *median, double *min, double *max);
/* The p-th percentile (0..100, nearest rank) of v[0..n); v is sorted in place. */
double bench_percentile(double *v, size_t n, double p);

/* A fresh directory under tmp_root (created); the path is written to out. */
int bench_mkdir(struct bench *b, const char *what, char *out, size_t size);
/* rm -rf of a directory we created. */
void bench_rmtree(const char *path);
/* Bytes the allocator hands out right now (mallinfo2().uordblks). */
size_t bench_heap_bytes(void);
/* Resident set size in bytes (/proc/self/statm). */
size_t bench_rss_bytes(void);

/* The sections, in the order they run. Each adds its figures to b and
 * returns 0, or -1 on a failure that stopped it (a message on stderr). */
int bench_hash(struct bench *b);
int bench_route(struct bench *b);
int bench_watch(struct bench *b, const char *dataset, size_t n_records);
int bench_retention(struct bench *b, const char *dataset, size_t n_records);
int bench_wal(struct bench *b);         /* bench/bench_wal.c */
int bench_config_load(struct bench *b); /* bench/bench_config.c: load with 5k-40k agents */
/* bench/bench_compare.c: issue 16's table, the reference's router beside
 * intentus in the same run (`make bench-compare`). */
int bench_compare(struct bench *b);
/* bench/bench_index.c: the persistent index at each of the comma-separated sizes. */
int bench_index(struct bench *b, const char *sizes);
/* n records into dir: 2000 routed, the rest copies under new ids (bench_index.c). */
int bench_gen_records(const char *dir, size_t n, unsigned seed);
/* intentus-bench gen --n N --dir D [--seed S] [--corrupt-every K]. */
int bench_gen_main(int argc, char **argv);
/* intentus-bench land: records landing while a console-like tailer runs (bench_land.c). */
int bench_land_main(int argc, char **argv);

/* A directory of n records written by the real router (a mix of intents
 * and outcomes, about 2 KB each); the path goes to out. */
int bench_dataset(struct bench *b, size_t n, char *out, size_t size, double *seconds);
/* Route n executions into dir (created if missing) through an async or sync
 * writer, no fsync: the data set generator and the live-ingest writer. */
int bench_write_records(const char *dir, size_t n, bool async, unsigned seed);
/* Hard-link the first n record files of src (in name order) into a fresh
 * directory dst: a cheap, exact copy of part of a data set. */
int bench_link_subset(const char *src, const char *dst, size_t n);

/* intentus-bench --writer DIR N: the live-ingest writer process. */
int bench_writer_main(const char *dir, const char *count);
/* intentus-bench --route-inproc CONFIG SECONDS THREADS: runtime_route in a
 * loop, the in-process figure of the serve benchmark (bench/bench_inproc.c). */
int bench_inproc_main(const char *config, const char *seconds, const char *threads);

/* The floor of reading records: readdir, open, read, close and cJSON_Parse
 * of every visible *.json in dir, with no index. Returns files read, -1 on
 * error. */
long bench_floor_read_parse(const char *dir);

#endif
