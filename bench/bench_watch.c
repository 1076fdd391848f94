/* 4. Watcher and 6. console (headless).
 *
 * Cold indexing: tailer_index_dir over N records (page cache warm: the files
 * were just written), against the floor of reading and cJSON-parsing the
 * same files with no index. Memory per record as the allocator sees it.
 *
 * Live ingest: a child process (this program with --writer) routes records
 * into a directory as fast as it can while a tailer follows it here; how
 * fast records reach the index against how fast they were written.
 *
 * Console: what the console's model does before its first frame (a tailer's
 * initial scan into an index with aggregates attached, a dashboard
 * snapshot, the newest rows) and a filtered records view (a query over the
 * whole index). Terminal drawing is not included. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "watch/agg.h"
#include "watch/index.h"
#include "watch/tailer.h"

static void
add(struct bench *b, const char *section, const char *name, const char *unit, const double *v,
    int n, bool hib, const char *note)
{
    struct bench_fig *f = bench_add(b, section, name, unit, v, n, hib);
    if (f != NULL && note != NULL)
        snprintf(f->note, sizeof(f->note), "%s", note);
}

static int
cold_one(struct bench *b, const char *dir, size_t n, int reps)
{
    double rate[BENCH_MAX_REPS], frate[BENCH_MAX_REPS], ratio[BENCH_MAX_REPS];
    double mem[BENCH_MAX_REPS], rss = 0;
    char name[96];

    for (int r = 0; r < reps; r++) {
        struct intentus_err err = { 0 };
        int64_t t0 = bench_now_ns();
        long got = bench_floor_read_parse(dir);
        int64_t t1 = bench_now_ns();
        size_t heap0, rss0 = bench_rss_bytes();
        struct index *ix;

        if (got != (long)n) {
            fprintf(stderr, "bench: floor read %ld of %zu records in %s\n", got, n, dir);
            return -1;
        }
        frate[r] = (double)n / ((double)(t1 - t0) / 1e9);
        heap0 = bench_heap_bytes();
        ix = index_new();
        t0 = bench_now_ns();
        if (ix == NULL || tailer_index_dir(dir, ix, &err) != 0 || index_size(ix) != n) {
            fprintf(stderr, "bench: indexing %s: %s (%zu of %zu)\n", dir, err.msg,
                    ix ? index_size(ix) : 0, n);
            index_free(ix);
            return -1;
        }
        t1 = bench_now_ns();
        mem[r] = (double)(bench_heap_bytes() - heap0) / (double)n;
        if (r == 0)
            rss = (double)(bench_rss_bytes() - rss0) / (double)n;
        index_free(ix);
        rate[r] = (double)n / ((double)(t1 - t0) / 1e9);
        ratio[r] = rate[r] / frate[r];
    }
    snprintf(name, sizeof(name), "cold index, N = %zu: tailer_index_dir", n);
    add(b, "watch", name, "files/s", rate, reps, true, "page cache warm");
    snprintf(name, sizeof(name), "cold index, N = %zu: floor, read + cJSON parse", n);
    add(b, "watch", name, "files/s", frate, reps, true, NULL);
    snprintf(name, sizeof(name), "cold index, N = %zu: ratio to the floor", n);
    add(b, "watch", name, "ratio", ratio, reps, true, NULL);
    snprintf(name, sizeof(name), "cold index, N = %zu: heap per record", n);
    add(b, "watch", name, "bytes", mem, reps, false, "mallinfo2 in-use bytes after - before");
    snprintf(name, sizeof(name), "cold index, N = %zu: RSS growth per record (first run)", n);
    add(b, "watch", name, "bytes", &rss, 1, false, NULL);
    return 0;
}

/* Start this program as the writer: routes n records into dir. Its stdout
 * (one number: seconds it took) is read through *fd. */
static pid_t
spawn_writer(const char *dir, size_t n, int *fd)
{
    int p[2];
    pid_t pid;
    char count[32];

    if (pipe(p) != 0)
        return -1;
    snprintf(count, sizeof(count), "%zu", n);
    pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execl("/proc/self/exe", "intentus-bench", "--writer", dir, count, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0) {
        close(p[0]);
        return -1;
    }
    *fd = p[0];
    return pid;
}

struct live {
    double ingest_rate, write_rate, lag_ms;
};

static int
live_one(struct bench *b, size_t n, struct live *out)
{
    struct intentus_err err = { 0 };
    char dir[512], line[64] = "";
    struct tailer *t;
    struct index *ix = index_new();
    int fd = -1, status = 0, rc = -1;
    pid_t pid;
    int64_t t0, t_all = 0, deadline;
    double wsec;
    ssize_t got;

    if (ix == NULL || bench_mkdir(b, "live", dir, sizeof(dir)) != 0)
        goto out_ix;
    t = tailer_start(dir, &(struct tailer_opts){ .mode = TAILER_INOTIFY }, &err);
    if (t == NULL) {
        fprintf(stderr, "bench: tailer: %s\n", err.msg);
        goto out_ix;
    }
    t0 = bench_now_ns();
    pid = spawn_writer(dir, n, &fd);
    if (pid < 0)
        goto out;
    deadline = t0 + (int64_t)120 * 1000000000;
    while (index_size(ix) < n && bench_now_ns() < deadline) {
        struct pollfd pfd = { .fd = tailer_fd(t), .events = POLLIN };
        if (poll(&pfd, 1, 100) > 0)
            tailer_drain_into(t, ix);
    }
    t_all = bench_now_ns();
    got = read(fd, line, sizeof(line) - 1);
    line[got > 0 ? got : 0] = '\0';
    waitpid(pid, &status, 0);
    wsec = strtod(line, NULL);
    if (index_size(ix) != n || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || wsec <= 0) {
        fprintf(stderr, "bench: live ingest: %zu of %zu indexed, writer status %d\n",
                index_size(ix), n, status);
        goto out;
    }
    out->write_rate = (double)n / wsec;
    out->ingest_rate = (double)n / ((double)(t_all - t0) / 1e9);
    /* From the writer's last record to the index holding it (the writer's
     * start-up, an exec, counts against the ingest side: an upper bound). */
    out->lag_ms = ((double)(t_all - t0) / 1e9 - wsec) * 1e3;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    tailer_stop(t);
out_ix:
    index_free(ix);
    bench_rmtree(dir);
    return rc;
}

static int
bench_live(struct bench *b)
{
    size_t n = b->quick ? 500 : 5000;
    double in[BENCH_MAX_REPS], wr[BENCH_MAX_REPS], ratio[BENCH_MAX_REPS], lag[BENCH_MAX_REPS];
    char name[96];
    struct live l;

    for (int r = 0; r < b->reps_slow; r++) {
        if (live_one(b, n, &l) != 0)
            return -1;
        in[r] = l.ingest_rate;
        wr[r] = l.write_rate;
        ratio[r] = l.ingest_rate / l.write_rate;
        lag[r] = l.lag_ms;
    }
    snprintf(name, sizeof(name), "live ingest, %zu records: writer (router, sync, no fsync)", n);
    add(b, "watch", name, "rec/s", wr, b->reps_slow, true, "another process");
    snprintf(name, sizeof(name), "live ingest, %zu records: indexed by the tailer", n);
    add(b, "watch", name, "rec/s", in, b->reps_slow, true, "inotify");
    snprintf(name, sizeof(name), "live ingest: ratio indexed / written rate");
    add(b, "watch", name, "ratio", ratio, b->reps_slow, true, "1.0 = keeps up with the writer");
    snprintf(name, sizeof(name), "live ingest: last record written to indexed");
    add(b, "watch", name, "ms", lag, b->reps_slow, false, "includes the writer's start-up");
    return 0;
}

/* ---- console (headless) ---- */

struct first {
    struct index *ix;
    bool synced;
};

static void
on_event(void *ctx, const struct tailer_event *ev)
{
    struct first *f = ctx;

    if (ev->kind == TAILER_UPSERT && ev->digest != NULL)
        index_upsert(f->ix, ev->digest, NULL);
    else if (ev->kind == TAILER_REMOVE)
        index_remove(f->ix, ev->id);
    else if (ev->kind == TAILER_SYNCED)
        f->synced = true;
}

static int
visit_count(void *ctx, const struct index_view *v)
{
    (void)v;
    (*(size_t *)ctx)++;
    return 0;
}

/* Start to first frame: model built, snapshot taken, newest rows read. */
static int
first_frame(const char *dir, size_t n, double *ms)
{
    struct intentus_err err = { 0 };
    struct first f = { .ix = index_new() };
    struct agg *ag = f.ix ? agg_attach(f.ix) : NULL;
    struct agg_snapshot snap = { 0 };
    struct tailer *t = NULL;
    size_t rows = 0;
    int64_t t0 = bench_now_ns();
    int rc = -1;

    t = ag ? tailer_start(dir, NULL, &err) : NULL;
    if (t == NULL)
        goto out;
    while (!f.synced) {
        struct pollfd pfd = { .fd = tailer_fd(t), .events = POLLIN };
        if (poll(&pfd, 1, 1000) > 0)
            tailer_drain(t, on_event, &f);
    }
    if (agg_snapshot(ag, NULL, &snap, &err) != 0)
        goto out;
    index_query(f.ix, NULL, true, 50, visit_count, &rows);
    *ms = (double)(bench_now_ns() - t0) / 1e6;
    rc = index_size(f.ix) == n ? 0 : -1;
out:
    if (rc != 0)
        fprintf(stderr, "bench: console model over %s: %s\n", dir, err.msg);
    agg_snapshot_free(&snap);
    tailer_stop(t);
    agg_free(ag);
    index_free(f.ix);
    return rc;
}

struct view_case {
    const char *label;
    struct index_filter f;
};

static int
bench_console(struct bench *b, const char *dir, size_t n)
{
    static const struct view_case views[] = {
        { "status error", { .status = "error" } },
        { "intent + agent (fallback via fail-1)",
          { .intent = "bench.fallback", .agent = "fail-1" } },
        { "text search in id or intent", { .text = "upper" } },
    };
    double ff[BENCH_MAX_REPS], fl[BENCH_MAX_REPS], ratio[BENCH_MAX_REPS];
    double vq[3][BENCH_MAX_REPS];
    struct intentus_err err = { 0 };
    struct index *ix;
    char name[96];
    int reps = b->reps_slow;

    for (int r = 0; r < reps; r++) {
        int64_t t0 = bench_now_ns();
        if (bench_floor_read_parse(dir) != (long)n)
            return -1;
        fl[r] = (double)(bench_now_ns() - t0) / 1e6;
        if (first_frame(dir, n, &ff[r]) != 0)
            return -1;
        ratio[r] = fl[r] / ff[r];
    }
    snprintf(name, sizeof(name), "%zu records: time to first frame (model only)", n);
    add(b, "console", name, "ms", ff, reps, false,
        "tailer scan + aggregates + snapshot + newest 50 rows; no terminal drawing");
    snprintf(name, sizeof(name), "%zu records: floor, read + cJSON parse of every file", n);
    add(b, "console", name, "ms", fl, reps, false, NULL);
    snprintf(name, sizeof(name), "%zu records: ratio floor time / first frame time", n);
    add(b, "console", name, "ratio", ratio, reps, true, NULL);
    ix = index_new();
    if (ix == NULL || tailer_index_dir(dir, ix, &err) != 0) {
        index_free(ix);
        return -1;
    }
    for (int r = 0; r < b->reps; r++) {
        for (size_t k = 0; k < 3; k++) {
            size_t hits = 0;
            int64_t t0 = bench_now_ns();
            index_query(ix, &views[k].f, true, 0, visit_count, &hits);
            vq[k][r] = (double)(bench_now_ns() - t0) / 1e6;
        }
    }
    for (size_t k = 0; k < 3; k++) {
        snprintf(name, sizeof(name), "%zu records: filtered view, %s", n, views[k].label);
        add(b, "console", name, "ms", vq[k], b->reps, false, "index_query over every record");
    }
    index_free(ix);
    return 0;
}

int
bench_watch(struct bench *b, const char *dataset, size_t n_records)
{
    static const size_t sizes[] = { 1000, 10000, 100000 };
    char sub[512];

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i] < n_records ? sizes[i] : n_records;
        const char *dir = dataset;
        int rc;

        if (i > 0 && sizes[i - 1] >= n_records)
            break;
        if (n < n_records) {
            if (bench_mkdir(b, "subset", sub, sizeof(sub)) != 0)
                return -1;
            bench_rmtree(sub); /* bench_link_subset creates it */
            if (bench_link_subset(dataset, sub, n) != 0)
                return -1;
            dir = sub;
        }
        rc = cold_one(b, dir, n, n >= 100000 ? b->reps_slow : b->reps);
        if (dir != dataset)
            bench_rmtree(sub);
        if (rc != 0)
            return -1;
    }
    if (bench_live(b) != 0)
        return -1;
    return bench_console(b, dataset, n_records);
}

/* The live-ingest writer (intentus-bench --writer DIR N): route N records
 * into DIR as fast as possible, print the seconds it took. */
int
bench_writer_main(const char *dir, const char *count)
{
    char *end;
    unsigned long long n = strtoull(count, &end, 10);
    int64_t t0 = bench_now_ns();

    if (*end != '\0' || n == 0 || n > INT_MAX)
        return 2;
    if (bench_write_records(dir, (size_t)n, false, 5000000) != 0)
        return 1;
    printf("%.6f\n", (double)(bench_now_ns() - t0) / 1e9);
    return 0;
}
