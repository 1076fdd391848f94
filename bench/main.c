/* intentus-bench: runs the benchmark sections, prints one table and writes
 * results.json (machine, date, git revision, load, every figure with its
 * median and spread over the repetitions).
 *
 *   intentus-bench [--quick] [--only hash,route,wal,config,watch,retention,index,compare] [--reps
 * N]
 *                  [--records N] [--index-sizes N,N,...] [--out FILE]
 *   intentus-bench gen --n N --dir D [--seed S] [--corrupt-every K]
 *   intentus-bench land --dir D [--n N] [--window W] [--reps R] [--keep]
 *
 * Temporary data lives in a directory created under $TMPDIR (or /tmp) and
 * removed at the end. Figures are reported, never checked. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/buf.h"
#include "core/json.h"

struct args {
    bool quick;
    const char *only;
    const char *out;
    int reps;
    long records;
    const char *index_sizes;
};

static void
usage(void)
{
    fprintf(stderr, "usage: intentus-bench [--quick] [--only "
                    "hash,route,wal,config,watch,retention,index,compare] "
                    "[--reps N] [--records N] [--index-sizes N,N,...] [--out FILE]\n"
                    "       intentus-bench gen --n N --dir D [--seed S] [--corrupt-every K]\n");
}

static int
parse_args(int argc, char **argv, struct args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        bool has_val = i + 1 < argc;
        if (strcmp(s, "--quick") == 0)
            a->quick = true;
        else if (strcmp(s, "--only") == 0 && has_val)
            a->only = argv[++i];
        else if (strcmp(s, "--out") == 0 && has_val)
            a->out = argv[++i];
        else if (strcmp(s, "--reps") == 0 && has_val)
            a->reps = atoi(argv[++i]);
        else if (strcmp(s, "--records") == 0 && has_val)
            a->records = atol(argv[++i]);
        else if (strcmp(s, "--index-sizes") == 0 && has_val)
            a->index_sizes = argv[++i];
        else
            return -1;
    }
    if (a->reps < 0 || a->reps > BENCH_MAX_REPS || a->records < 0)
        return -1;
    return 0;
}

static bool
wanted(const struct args *a, const char *section)
{
    const char *p = a->only;
    size_t len = strlen(section);

    if (p == NULL)
        return true;
    while ((p = strstr(p, section)) != NULL) {
        if ((p == a->only || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
            return true;
        p += len;
    }
    return false;
}

/* First line of a command's output, or "" (git revision, CPU model). */
static void
command_line(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");

    out[0] = '\0';
    if (p == NULL)
        return;
    if (fgets(out, (int)size, p) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

static void
read_line(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");

    out[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(out, (int)size, f) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    fclose(f);
}

static const char *
fs_name(const char *path)
{
    struct statfs sf;

    if (statfs(path, &sf) != 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53:
        return "ext4";
    case 0x01021994:
        return "tmpfs";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x794C7630:
        return "overlayfs";
    default:
        return "other";
    }
}

static void
fmt_num(double v, char *out, size_t size)
{
    double a = v < 0 ? -v : v;

    if (a >= 1e6)
        snprintf(out, size, "%.3gM", v / 1e6);
    else if (a >= 100)
        snprintf(out, size, "%.0f", v);
    else if (a >= 10)
        snprintf(out, size, "%.1f", v);
    else if (a >= 1)
        snprintf(out, size, "%.2f", v);
    else
        snprintf(out, size, "%.3f", v);
}

static void
print_table(const struct bench *b)
{
    const char *section = "";

    printf("\n%-74s %10s %21s  %s\n", "figure", "median", "spread (min..max)", "unit");
    for (size_t i = 0; i < b->n_figs; i++) {
        const struct bench_fig *f = &b->figs[i];
        double med, min, max;
        char m[32], lo[32], hi[32], spread[72] = "";

        if (strcmp(section, f->section) != 0) {
            section = f->section;
            printf("-- %s\n", section);
        }
        bench_stats(f->v, f->n, &med, &min, &max);
        fmt_num(med, m, sizeof(m));
        fmt_num(min, lo, sizeof(lo));
        fmt_num(max, hi, sizeof(hi));
        if (f->n > 1)
            snprintf(spread, sizeof(spread), "%s..%s", lo, hi);
        printf("  %-72.72s %10s %21s  %s\n", f->name, m, spread, f->unit);
    }
    for (size_t i = 0; i < b->n_notes; i++)
        printf("note: %s\n", b->notes[i]);
}

static cJSON *
machine_json(const char *tmp_root)
{
    cJSON *m = cJSON_CreateObject();
    struct utsname u;
    char cpu[256];

    if (uname(&u) == 0) {
        char s[600];
        snprintf(s, sizeof(s), "%s %s %s", u.sysname, u.release, u.machine);
        cJSON_AddStringToObject(m, "os", s);
        cJSON_AddStringToObject(m, "host", u.nodename);
    }
    command_line("grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'", cpu, sizeof(cpu));
    cJSON_AddStringToObject(m, "cpu", cpu);
    cJSON_AddNumberToObject(m, "cpus_online", (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddNumberToObject(m, "memory_mb",
                            (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) /
                                1048576.0);
    cJSON_AddStringToObject(m, "tmp_filesystem", fs_name(tmp_root));
    return m;
}

static int
write_json(const struct bench *b, const char *path, cJSON *meta)
{
    cJSON *figs = cJSON_AddArrayToObject(meta, "figures");
    cJSON *notes = cJSON_AddArrayToObject(meta, "notes");
    struct buf text = BUF_INIT;
    FILE *f;
    int rc = -1;

    for (size_t i = 0; i < b->n_figs; i++) {
        const struct bench_fig *fg = &b->figs[i];
        cJSON *o = cJSON_CreateObject(), *vals;
        double med, min, max;

        bench_stats(fg->v, fg->n, &med, &min, &max);
        cJSON_AddStringToObject(o, "section", fg->section);
        cJSON_AddStringToObject(o, "name", fg->name);
        cJSON_AddStringToObject(o, "unit", fg->unit);
        cJSON_AddNumberToObject(o, "median", med);
        cJSON_AddNumberToObject(o, "min", min);
        cJSON_AddNumberToObject(o, "max", max);
        cJSON_AddNumberToObject(o, "runs", fg->n);
        cJSON_AddBoolToObject(o, "higher_is_better", fg->higher_is_better);
        vals = cJSON_AddArrayToObject(o, "values");
        for (int k = 0; k < fg->n; k++)
            cJSON_AddItemToArray(vals, cJSON_CreateNumber(fg->v[k]));
        if (fg->note[0])
            cJSON_AddStringToObject(o, "note", fg->note);
        cJSON_AddItemToArray(figs, o);
    }
    for (size_t i = 0; i < b->n_notes; i++)
        cJSON_AddItemToArray(notes, cJSON_CreateString(b->notes[i]));
    if (json_print_pretty(meta, &text) != 0)
        goto out;
    buf_putc(&text, '\n');
    f = fopen(path, "w");
    if (f == NULL)
        goto out;
    if (fwrite(text.data, 1, text.len, f) == text.len)
        rc = 0;
    if (fclose(f) != 0)
        rc = -1;
out:
    if (rc != 0)
        fprintf(stderr, "bench: cannot write %s\n", path);
    buf_free(&text);
    return rc;
}

static void
iso_now(char *out, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
run_sections(struct bench *b, const struct args *a)
{
    int failed = 0;
    char dataset[512] = "";
    size_t n = a->records ? (size_t)a->records : b->quick ? 2000 : 100000;
    double gen_s = 0;

    if (wanted(a, "hash")) {
        fprintf(stderr, "bench: hash...\n");
        failed |= bench_hash(b) != 0;
    }
    if (wanted(a, "route")) {
        fprintf(stderr, "bench: route and persistence floor...\n");
        failed |= bench_route(b) != 0;
    }
    if (wanted(a, "wal")) {
        fprintf(stderr, "bench: WAL cost per durability...\n");
        failed |= bench_wal(b) != 0;
    }
    if (wanted(a, "config")) {
        fprintf(stderr, "bench: config load with many agents...\n");
        failed |= bench_config_load(b) != 0;
    }
    if (wanted(a, "compare")) {
        fprintf(stderr, "bench: compare with the reference's router...\n");
        failed |= bench_compare(b) != 0;
    }
    if (wanted(a, "index")) {
        fprintf(stderr, "bench: persistent index...\n");
        failed |= bench_index(b, a->index_sizes ? a->index_sizes
                                 : b->quick     ? "2000"
                                                : "10000,100000") != 0;
    }
    if (!wanted(a, "watch") && !wanted(a, "retention"))
        return failed;
    fprintf(stderr, "bench: writing %zu records with the router...\n", n);
    if (bench_dataset(b, n, dataset, sizeof(dataset), &gen_s) != 0)
        return 1;
    bench_note(b, "data set: %zu records written by the router (async writer, no fsync) in %.1f s",
               n, gen_s);
    if (wanted(a, "watch")) {
        fprintf(stderr, "bench: watcher and console...\n");
        failed |= bench_watch(b, dataset, n) != 0;
    }
    if (wanted(a, "retention")) {
        fprintf(stderr, "bench: retention...\n");
        failed |= bench_retention(b, dataset, n) != 0; /* last: may consume the data set */
    }
    bench_rmtree(dataset);
    return failed;
}

int
main(int argc, char **argv)
{
    struct args a = { .out = "results.json" };
    struct bench b = { 0 };
    const char *tmpdir = getenv("TMPDIR");
    char root[512], rev[128], load0[128], load1[128], date[32];
    int64_t t0 = bench_now_ns();
    cJSON *meta;
    int failed;

    if (argc == 4 && strcmp(argv[1], "--writer") == 0)
        return bench_writer_main(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "--route-inproc") == 0)
        return bench_inproc_main(argv[2], argv[3], argv[4]);
    if (argc >= 2 && strcmp(argv[1], "gen") == 0)
        return bench_gen_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "land") == 0)
        return bench_land_main(argc, argv);
    if (parse_args(argc, argv, &a) != 0) {
        usage();
        return 2;
    }
    b.quick = a.quick;
    b.reps = a.reps ? a.reps : a.quick ? 3 : 5;
    b.reps_slow = a.reps ? (a.reps < 3 ? a.reps : 3) : 3;
    snprintf(root, sizeof(root), "%s/intentus-bench.XXXXXX",
             tmpdir != NULL && tmpdir[0] ? tmpdir : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("bench: mkdtemp");
        return 1;
    }
    b.tmp_root = root;
    iso_now(date, sizeof(date));
    read_line("/proc/loadavg", load0, sizeof(load0));
    command_line("git describe --always --dirty --abbrev=12 2>/dev/null", rev, sizeof(rev));
    fprintf(stderr, "bench: %s, load %s, data in %s\n", rev[0] ? rev : "(no git)", load0, root);

    failed = run_sections(&b, &a);

    read_line("/proc/loadavg", load1, sizeof(load1));
    meta = cJSON_CreateObject();
    cJSON_AddStringToObject(meta, "date", date);
    cJSON_AddStringToObject(meta, "git_revision", rev);
    cJSON_AddItemToObject(meta, "machine", machine_json(root));
    cJSON_AddStringToObject(meta, "loadavg_start", load0);
    cJSON_AddStringToObject(meta, "loadavg_end", load1);
    cJSON_AddBoolToObject(meta, "quick", b.quick);
    cJSON_AddNumberToObject(meta, "repetitions", b.reps);
    cJSON_AddNumberToObject(meta, "repetitions_slow", b.reps_slow);
    cJSON_AddNumberToObject(meta, "duration_s", (double)(bench_now_ns() - t0) / 1e9);
    print_table(&b);
    printf("load average: %s at start, %s at end; %.0f s; results in %s\n", load0, load1,
           (double)(bench_now_ns() - t0) / 1e9, a.out);
    if (write_json(&b, a.out, meta) != 0)
        failed = 1;
    cJSON_Delete(meta);
    bench_rmtree(root);
    for (size_t i = 0; i < b.n_notes; i++)
        free(b.notes[i]);
    free(b.notes);
    free(b.figs);
    return failed ? 1 : 0;
}
