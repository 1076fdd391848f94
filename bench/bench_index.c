/* 7. The persistent index (watch/index_db.h) and the record generator.
 *
 * For each size (10k and 100k by default; --index-sizes 10000,100000,1000000
 * for the 1M row, which needs about 8 GB under $TMPDIR): a directory of
 * records written by the real router (hard links of one data set), then in
 * one run, side by side:
 *   - cold index: index_db_open with rebuild (no index yet);
 *   - the reference's loader on the same files: python3 bench/ref_load.py
 *     (FileExecutionStore.list_ids() + load() of every id, gc off);
 *   - the floor: readdir + read + cJSON_Parse of every file, one thread;
 *   - warm reopen: index_db_open on a current index of a quiet directory
 *     (the directory-identity fast path), and one that walks every file;
 *   - index bytes per record.
 *
 *   intentus-bench gen --n N --dir D [--seed S] [--corrupt-every K]
 * writes N realistic records (the data set the figures use, see
 * bench_gen_records); with --corrupt-every K every K-th record file (in
 * name order) is cut to half its length, as a torn write leaves it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/uuid.h"
#include "tui/bench_measure.h"
#include "watch/agg.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/tailer.h"

/* Records routed for real; the rest are copies of them under new ids. */
#define GEN_ROUTED 2000

static int
cmp_name(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Cut every k-th record file of dir (name order) to half its size. */
static long
corrupt_every(const char *dir, unsigned long k)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0;
    long cut = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 1024) * sizeof(*p));
            if (p == NULL)
                break;
            names = p;
        }
        if ((names[n] = strdup(de->d_name)) == NULL)
            break;
        n++;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_name);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if ((i + 1) % k == 0 && fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
            char path[4200];
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            if (truncate(path, st.st_size / 2) == 0)
                cut++;
        }
        free(names[i]);
    }
    free(names);
    closedir(d);
    return cut;
}

/* Up to max records of dir, parsed (corrupt ones skipped). */
static int
load_templates(const char *dir, size_t max, cJSON ***out, size_t *n)
{
    struct intentus_err err = { 0 };
    struct rec_store *rs = rec_store_open(dir, NULL, &err);
    struct rec_ids ids = { 0 };
    int rc = -1;

    *out = NULL;
    *n = 0;
    if (rs == NULL || rec_store_list(rs, &ids, &err) != 0)
        goto out;
    *out = calloc(ids.n + 1, sizeof(**out));
    if (*out == NULL)
        goto out;
    for (size_t i = 0; i < ids.n && *n < max; i++) {
        size_t len;
        char *text = rec_store_read(rs, ids.ids[i], &len, &err);
        cJSON *rec = text != NULL ? json_parse(text, len, 0, &err) : NULL;
        free(text);
        if (rec != NULL)
            (*out)[(*n)++] = rec;
    }
    rc = *n > 0 ? 0 : -1;
out:
    if (rc != 0)
        fprintf(stderr, "bench: reading the routed records in %s: %s\n", dir, err.msg);
    rec_store_ids_free(&ids);
    rec_store_close(rs);
    return rc;
}

/* n records into dir: the first GEN_ROUTED routed by the real router and
 * written by the async writer; the rest are those records again under new
 * ids (uuid v7) and creation times, one millisecond apart, saved through
 * the record store (temp file and rename, as the writer does). Routing
 * every one of a million records would take the router's time, not the
 * index's. */
int
bench_gen_records(const char *dir, size_t n, unsigned seed)
{
    struct intentus_err err = { 0 };
    size_t routed = n < GEN_ROUTED ? n : GEN_ROUTED, n_tpl = 0;
    struct rec_store *rs = NULL;
    cJSON **tpl = NULL;
    int64_t base_ms = clock_wall_us() / 1000 - (int64_t)n;
    int rc = -1;

    if (bench_write_records(dir, routed, true, seed) != 0)
        return -1;
    if (routed == n)
        return 0;
    if (load_templates(dir, GEN_ROUTED, &tpl, &n_tpl) != 0)
        goto out;
    rs = rec_store_open(dir, NULL, &err);
    if (rs == NULL)
        goto out;
    for (size_t i = routed; i < n; i++) {
        cJSON *rec = tpl[i % n_tpl], *header = cJSON_GetObjectItemCaseSensitive(rec, "header");
        char id[UUID_STR_LEN], when[CLOCK_ISO_LEN];
        uuid_v7(base_ms + (int64_t)i, id);
        clock_format_iso((base_ms + (int64_t)i) * 1000, when);
        if (!cJSON_ReplaceItemInObjectCaseSensitive(header, "executionId",
                                                    cJSON_CreateString(id)) ||
            !cJSON_ReplaceItemInObjectCaseSensitive(header, "createdUtcIso",
                                                    cJSON_CreateString(when)) ||
            rec_store_save(rs, rec, &err) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "bench: writing records into %s failed: %s\n", dir, err.msg);
    for (size_t i = 0; i < n_tpl; i++)
        cJSON_Delete(tpl[i]);
    free(tpl);
    rec_store_close(rs);
    return rc;
}

static bool
parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

static void
gen_usage(void)
{
    fprintf(stderr,
            "usage: intentus-bench gen --n N --dir D [--seed S] [--corrupt-every K]\n"
            "  Writes N records (N >= 1) into D (created if missing): the first 2000 routed\n"
            "  by the real router and async writer, the rest copies of them under new ids\n"
            "  and times, saved by the record store. --seed S varies the payloads (default\n"
            "  1000);\n"
            "  --corrupt-every K cuts every K-th record file to half its length.\n");
}

int
bench_gen_main(int argc, char **argv)
{
    unsigned long n = 0, seed = 1000, k = 0;
    const char *dir = NULL;
    int64_t t0;
    long cut = 0;
    double s;

    for (int i = 2; i < argc; i += 2) { /* option, value */
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            gen_usage();
            return 0;
        }
        if (v == NULL) {
            fprintf(stderr, "intentus-bench gen: %s needs a value\n", o);
            return 2;
        }
        if (strcmp(o, "--n") == 0)
            ok = parse_ulong(v, 100000000UL, &n) && n > 0;
        else if (strcmp(o, "--seed") == 0)
            ok = parse_ulong(v, UINT_MAX, &seed);
        else if (strcmp(o, "--corrupt-every") == 0)
            ok = parse_ulong(v, ULONG_MAX, &k) && k > 0;
        else if (strcmp(o, "--dir") == 0)
            ok = (dir = v)[0] != '\0';
        else {
            fprintf(stderr, "intentus-bench gen: unknown option '%s'\n", o);
            gen_usage();
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "intentus-bench gen: %s: '%s' is not a valid value\n", o, v);
            return 2;
        }
    }
    if (n == 0 || dir == NULL) {
        fprintf(stderr, "intentus-bench gen: --n and --dir are required\n");
        gen_usage();
        return 2;
    }
    t0 = bench_now_ns();
    if (bench_gen_records(dir, n, (unsigned)seed) != 0)
        return 1;
    if (k > 0 && (cut = corrupt_every(dir, k)) < 0) {
        fprintf(stderr, "intentus-bench gen: cannot list %s: %s\n", dir, strerror(errno));
        return 1;
    }
    s = (double)(bench_now_ns() - t0) / 1e9;
    printf("wrote %lu records (%ld cut short) into %s in %.1f s (%.0f records/s)\n", n, cut, dir, s,
           (double)n / s);
    return 0;
}

/* ---- the figures ---- */

/* The reference's loader on dir: seconds, or -1 when it cannot run. */
static double
ref_load(const char *dir, long *loaded)
{
    const char *ref = getenv("INTENTUS_REFERENCE");
    char cmd[8192], line[256];
    double secs = -1;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "PYTHONPATH='%s' python3 ref_load.py '%s' 2>/dev/null",
             ref != NULL && ref[0] ? ref : "../../shared/reference/python", dir);
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    if (fgets(line, sizeof(line), p) != NULL && sscanf(line, "%lf %ld", &secs, loaded) != 2)
        secs = -1;
    if (pclose(p) != 0)
        secs = -1;
    return secs;
}

/* The index's bytes on disk once closed (its WAL checkpointed). */
static long long
closed_bytes(const char *path)
{
    char wal[4200];
    struct stat a, w;

    snprintf(wal, sizeof(wal), "%s-wal", path);
    return (stat(path, &a) == 0 ? (long long)a.st_size : 0) +
           (stat(wal, &w) == 0 ? (long long)w.st_size : 0);
}

static int
open_index(const char *dir, bool rebuild, double *secs, struct index_db_info *info)
{
    struct intentus_err err = { 0 };

    if (bm_index_open(dir, rebuild, secs, info, &err) == 0)
        return 0;
    fprintf(stderr, "bench: index of %s: %s\n", dir, err.msg);
    return -1;
}

/* Make every file and the directory look quiet (mtime a minute back), so
 * the next full reconcile is trusted and the one after takes the fast path. */
static void
age_dir(const char *dir)
{
    struct timespec ts[2];
    DIR *d = opendir(dir);
    struct dirent *de;

    if (d == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= 60;
    ts[1] = ts[0];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.')
            (void)utimensat(dirfd(d), de->d_name, ts, AT_SYMLINK_NOFOLLOW);
    }
    closedir(d);
    (void)utimensat(AT_FDCWD, dir, ts, 0);
}

static void
fig(struct bench *b, const char *name, const char *unit, const double *v, int n, bool hib,
    const char *note)
{
    struct bench_fig *f = bench_add(b, "index", name, unit, v, n, hib);

    if (f != NULL && note != NULL)
        snprintf(f->note, sizeof(f->note), "%s", note);
}

/* What the console does before its first frame with the right totals: a
 * tailer starting from the index, its rows drained into an in-memory index
 * with the aggregates attached, until synced. Then 1,000 records land
 * (saved through the record store as fast as it goes) and the time from
 * the last one's rename to the index (read through its own SQLite
 * connection) holding all of them. */
static int
console_and_live(struct bench *b, const char *dir, size_t n, const char *label)
{
    struct tailer_opts o = { .use_index = true };
    struct intentus_err err = { 0 };
    struct index *ix = index_new();
    struct agg *ag = ix ? agg_attach(ix) : NULL;
    struct tailer *t = NULL;
    struct index_db_info info;
    struct rec_store *rs = NULL;
    cJSON **tpl = NULL;
    size_t n_tpl = 0, rss0 = bench_rss_bytes();
    sqlite3 *h = NULL;
    sqlite3_int64 base_rid = 0;
    double ms, rss_mb, lag_ms = -1, secs;
    int64_t t0, deadline, t_last;
    char name[96];
    int rc = -1;

    if (ag == NULL || open_index(dir, false, &secs, &info) != 0)
        goto out;
    t0 = bench_now_ns();
    t = tailer_start(dir, &o, &err);
    if (t == NULL)
        goto out;
    deadline = t0 + 600 * 1000000000LL;
    for (;;) {
        struct tailer_stats ts;
        struct pollfd p = { .fd = tailer_fd(t), .events = POLLIN };
        (void)poll(&p, 1, 5);
        tailer_drain_into(t, ix);
        tailer_get_stats(t, &ts);
        if ((ts.syncs > 0 && index_size(ix) >= n) || bench_now_ns() > deadline)
            break;
    }
    ms = (double)(bench_now_ns() - t0) / 1e6;
    rss_mb = (double)(bench_rss_bytes() - rss0) / 1048576.0;
    if (index_size(ix) < n) {
        fprintf(stderr, "bench: console model at %s: %zu of %zu rows\n", label, index_size(ix), n);
        goto out;
    }
    snprintf(name, sizeof(name), "console model from the index, right totals, %s", label);
    fig(b, name, "ms", &ms, 1, false, "target <= 500 at 1M");
    snprintf(name, sizeof(name), "  console model memory (RSS growth), %s", label);
    fig(b, name, "MB", &rss_mb, 1, false, "target <= 100 at 1M (whole console)");
    /* 1,000 records land while it runs. */
    if (load_templates(dir, 100, &tpl, &n_tpl) != 0 ||
        (rs = rec_store_open(dir, NULL, &err)) == NULL ||
        sqlite3_open_v2(info.path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto out;
    sqlite3_busy_timeout(h, 5000);
    /* The new rows are those past the highest rowid now: counting them is
     * a range of the table, where a COUNT(*) of every row (70 ms and more
     * at 1M, while the tailer shares the cores) was most of what this
     * measured. */
    {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(h, "SELECT coalesce(max(rid), 0) FROM records", -1, &st, NULL) ==
                SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            base_rid = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    for (size_t i = 0; i < 1000; i++) {
        cJSON *rec = tpl[i % n_tpl], *header = cJSON_GetObjectItemCaseSensitive(rec, "header");
        char id[UUID_STR_LEN];
        uuid_v7(clock_wall_us() / 1000, id);
        if (!cJSON_ReplaceItemInObjectCaseSensitive(header, "executionId",
                                                    cJSON_CreateString(id)) ||
            rec_store_save(rs, rec, &err) != 0)
            goto out;
    }
    t_last = bench_now_ns();
    deadline = t_last + 30 * 1000000000LL;
    while (bench_now_ns() < deadline) {
        sqlite3_stmt *st = NULL;
        sqlite3_int64 rows = 0;
        if (sqlite3_prepare_v2(h, "SELECT count(*) FROM records WHERE rid > ?", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_int64(st, 1, base_rid);
            if (sqlite3_step(st) == SQLITE_ROW)
                rows = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        if (rows >= 1000) {
            lag_ms = (double)(bench_now_ns() - t_last) / 1e6;
            break;
        }
        tailer_drain_into(t, ix); /* the console keeps draining meanwhile */
        usleep(1000);
    }
    if (lag_ms < 0) {
        fprintf(stderr, "bench: 1,000 records landing at %s: not all indexed in 30 s\n", label);
        goto out;
    }
    snprintf(name, sizeof(name), "1,000 records landing while open: indexed after the last, %s",
             label);
    fig(b, name, "ms", &lag_ms, 1, false, "target <= 100");
    rc = 0;
out:
    if (rc != 0 && err.msg[0] != '\0')
        fprintf(stderr, "bench: console and live ingest at %s: %s\n", label, err.msg);
    sqlite3_close(h);
    rec_store_close(rs);
    for (size_t i = 0; i < n_tpl; i++)
        cJSON_Delete(tpl[i]);
    free(tpl);
    tailer_stop(t);
    agg_free(ag);
    index_free(ix);
    return rc;
}

/* One of the CLI's read commands through the index, in ms (the binary is
 * ../build/intentus, or $INTENTUS_BIN). */
static double
cli_ms(const char *dir, const char *args)
{
    const char *bin = getenv("INTENTUS_BIN");
    char cmd[8192];
    int64_t t0 = bench_now_ns();

    snprintf(cmd, sizeof(cmd), "'%s' %s -d '%s' >/dev/null 2>&1",
             bin != NULL && bin[0] ? bin : "../build/intentus", args, dir);
    if (system(cmd) != 0)
        return -1;
    return (double)(bench_now_ns() - t0) / 1e6;
}

static int
index_one(struct bench *b, const char *src, size_t n, int reps)
{
    double cold[BENCH_MAX_REPS], refs[BENCH_MAX_REPS], floor[BENCH_MAX_REPS];
    double vs_ref[BENCH_MAX_REPS], vs_floor[BENCH_MAX_REPS], warm[BENCH_MAX_REPS];
    double walk[BENCH_MAX_REPS], bytes = 0;
    int n_ref = 0;
    char dir[512], name[96], label[16];
    struct index_db_info info;

    /* A fresh name; bench_link_subset makes the directory itself. */
    if (bench_mkdir(b, "index", dir, sizeof(dir)) != 0 || rmdir(dir) != 0 ||
        bench_link_subset(src, dir, n) != 0)
        return -1;
    if (n >= 1000000)
        snprintf(label, sizeof(label), "%zuM", n / 1000000);
    else
        snprintf(label, sizeof(label), "%zuk", n / 1000);
    for (int r = 0; r < reps; r++) {
        long loaded = 0;
        int64_t t0 = bench_now_ns();
        long got = bench_floor_read_parse(dir);
        double secs;

        floor[r] = (double)(bench_now_ns() - t0) / 1e9;
        if (got != (long)n) {
            fprintf(stderr, "bench: floor read %ld of %zu records in %s\n", got, n, dir);
            return -1;
        }
        if (open_index(dir, true, &cold[r], &info) != 0)
            return -1;
        bytes = (double)closed_bytes(info.path) / (double)(info.records ? info.records : 1);
        vs_floor[r] = floor[r] / cold[r];
        secs = ref_load(dir, &loaded);
        if (secs > 0) {
            refs[n_ref] = secs;
            vs_ref[n_ref] = secs / cold[r];
            n_ref++;
        }
    }
    snprintf(name, sizeof(name), "cold index, %s records (no index yet)", label);
    fig(b, name, "s", cold, reps, false, NULL);
    snprintf(name, sizeof(name), "  floor: read + cJSON_Parse, one thread, %s", label);
    fig(b, name, "s", floor, reps, false, NULL);
    snprintf(name, sizeof(name), "  cold index speed-up over the floor, %s", label);
    fig(b, name, "x", vs_floor, reps, true, NULL);
    if (n_ref > 0) {
        snprintf(name, sizeof(name), "  reference loader (list_ids + load, gc off), %s", label);
        fig(b, name, "s", refs, n_ref, false, NULL);
        snprintf(name, sizeof(name), "  cold index speed-up over the reference, %s", label);
        fig(b, name, "x", vs_ref, n_ref, true, "target >= 1.6 at 100k");
    } else {
        bench_note(b, "index: the reference's loader (python3, $INTENTUS_REFERENCE) could not "
                      "run: no reference figure");
    }
    snprintf(name, sizeof(name), "index bytes per record, %s", label);
    fig(b, name, "B", &bytes, 1, false, "target <= 300");
    /* Warm: a reopen that walks every file (the directory's mtime moved,
     * no file changed), and one of a quiet, unchanged directory. */
    age_dir(dir);
    if (open_index(dir, false, &walk[0], &info) != 0) /* every mtime moved: re-read */
        return -1;
    for (int r = 0; r < reps; r++) {
        struct timespec ts[2];
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= 120 + r;
        ts[1] = ts[0];
        (void)utimensat(AT_FDCWD, dir, ts, 0);
        if (open_index(dir, false, &walk[r], &info) != 0 ||
            open_index(dir, false, &warm[r], &info) != 0)
            return -1;
        if (!info.unchanged_dir)
            bench_note(b, "index: the warm reopen at %s walked the directory", label);
    }
    for (int r = 0; r < reps; r++) {
        walk[r] *= 1e3;
        warm[r] *= 1e3;
    }
    snprintf(name, sizeof(name), "reopen, current index, walking every file, %s", label);
    fig(b, name, "ms", walk, reps, false, NULL);
    snprintf(name, sizeof(name), "reopen, current index, quiet directory, %s", label);
    fig(b, name, "ms", warm, reps, false, NULL);
    /* The CLI on the current index of the quiet directory. */
    {
        static const struct {
            const char *args, *what, *target;
        } cmds[] = {
            { "records list --limit 20", "records list --limit 20", "target <= 50 ms at 1M" },
            { "records stats", "records stats", "target <= 300 ms at 1M" },
        };
        for (size_t c = 0; c < sizeof(cmds) / sizeof(cmds[0]); c++) {
            double v[BENCH_MAX_REPS];
            int got = 0;
            for (int r = 0; r < reps; r++) {
                double ms = cli_ms(dir, cmds[c].args);
                if (ms >= 0)
                    v[got++] = ms;
            }
            snprintf(name, sizeof(name), "%s, current index, %s", cmds[c].what, label);
            if (got > 0)
                fig(b, name, "ms", v, got, false, cmds[c].target);
            else
                bench_note(b, "index: %s failed at %s", cmds[c].args, label);
        }
    }
    if (console_and_live(b, dir, n, label) != 0)
        return -1;
    bench_rmtree(dir);
    return 0;
}

int
bench_index(struct bench *b, const char *sizes)
{
    size_t list[8], n = 0, max = 0;
    const char *p = sizes;
    char src[512];
    double gen_s;
    int rc = 0;

    while (*p != '\0' && n < 8) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p || v == 0)
            break;
        list[n++] = v;
        max = v > max ? v : max;
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end != '\0')
            break;
    }
    if (n == 0) {
        fprintf(stderr, "bench: --index-sizes '%s' is not a list of record counts\n", sizes);
        return -1;
    }
    fprintf(stderr, "bench: index: writing %zu records with the router...\n", max);
    {
        int64_t t0 = bench_now_ns();
        if (bench_mkdir(b, "index-data", src, sizeof(src)) != 0 ||
            bench_gen_records(src, max, 1000) != 0)
            return -1;
        gen_s = (double)(bench_now_ns() - t0) / 1e9;
    }
    bench_note(b,
               "index: data set of %zu records (2000 routed, the rest copies under new ids) "
               "written in %.1f s (%.0f/s)",
               max, gen_s, (double)max / gen_s);
    for (size_t i = 0; i < n && rc == 0; i++) {
        fprintf(stderr, "bench: index: %zu records...\n", list[i]);
        rc = index_one(b, src, list[i], list[i] >= 1000000 ? 1 : b->reps_slow);
    }
    bench_rmtree(src);
    return rc;
}
