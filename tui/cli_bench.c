/* intentus bench route|hash|index: measure this machine and its storage
 * with the real router, writer, hash and index, so an operator can see what
 * their own record directory sustains. The measuring is bm_* in
 * tui/bench_measure.c, the same code bench/intentus-bench reports with.
 *
 * Every run works in a fresh directory of its own (under --dir D, else
 * $TMPDIR or /tmp) and removes it at the end: nothing of the user's is read
 * or touched. Figures are printed, never judged. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"
#include "tui/bench_fixture.h"
#include "tui/bench_measure.h"
#include "tui/cli.h"
#include "tui/cli_opt.h"

#define ROUTE_DEFAULT_N 2000
#define ROUTE_MAX_N 10000000L
#define INDEX_DEFAULT_N 2000
#define INDEX_MAX_N 1000000L
#define HASH_MAX_N 100000000L
#define PAYLOAD 200        /* bytes per envelope: records of about 4 KB */
#define HASH_BUDGET_NS 2e8 /* per size, when --n is not given */
#define FLOOR_MAX_N 20000  /* files of the persistence floor at most */

struct bench_args {
    long n; /* -1: not given */
    const char *dir;
    int record; /* enum bm_record; -1: not given */
    bool fsync, json, in_cache;
};

static int
parse_record(const char *arg, void *field, char *why, size_t size)
{
    static const char *const names[] = { "off", NULL, "sync", "async" };

    for (int i = 0; i < 4; i++) {
        if (names[i] != NULL && strcmp(arg, names[i]) == 0) {
            *(int *)field = i;
            return 0;
        }
    }
    snprintf(why, size, "'%s' is not off, sync or async", arg);
    return -1;
}

#define F(field) offsetof(struct bench_args, field)
#define OPT_N(text)                                                                                \
    {                                                                                              \
        .name = "n", .kind = CLI_OPT_COUNT, .arg = "N", .offset = F(n), .help = (text)             \
    }
#define OPT_DIR(text)                                                                              \
    {                                                                                              \
        .name = "dir", .short_name = 'd', .kind = CLI_OPT_STRING, .arg = "DIR", .offset = F(dir),  \
        .help = (text)                                                                             \
    }
#define OPT_JSON                                                                                   \
    {                                                                                              \
        .name = "json", .kind = CLI_OPT_FLAG, .offset = F(json),                                   \
        .help = "the figures as one JSON object"                                                   \
    }
#define OPT_HELP                                                                                   \
    {                                                                                              \
        .name = "help", .short_name = 'h', .kind = CLI_OPT_HELP, .help = "this help"               \
    }

static const struct cli_opt route_opts[] = {
    OPT_N("executions (default 2000)"),
    OPT_DIR("measure the storage under DIR: a fresh directory\nis made in it and removed "
            "after (default:\n$TMPDIR, else /tmp)"),
    { .name = "record",
      .kind = CLI_OPT_PARSE,
      .arg = "MODE",
      .offset = F(record),
      .parse = parse_record,
      .help = "off, sync (default: written before the call\nreturns) or async (the writer "
              "threads)" },
    { .name = "fsync",
      .kind = CLI_OPT_FLAG,
      .offset = F(fsync),
      .help = "fsync every record file and the directory\n(async: once per group)" },
    { .name = "in-cache",
      .kind = CLI_OPT_FLAG,
      .offset = F(in_cache),
      .help = "route each envelope as soon as it is built, in\ncache as a server's request "
              "is (default: 4,096\nbuilt first, each cold when routed, as\n"
              "`make bench-compare` does)" },
    OPT_JSON,
    OPT_HELP,
    { .name = NULL },
};

static const struct cli_opt hash_opts[] = {
    OPT_N("hashes per payload size (default: as many as\nfit in about 0.2 s)"),
    OPT_JSON,
    OPT_HELP,
    { .name = NULL },
};

static const struct cli_opt index_opts[] = {
    OPT_N("records to write and index (default 2000)"),
    OPT_DIR("measure the storage under DIR (as for route)"),
    OPT_JSON,
    OPT_HELP,
    { .name = NULL },
};
#undef F

enum bench_sub { SUB_ROUTE, SUB_HASH, SUB_INDEX };

static const struct {
    enum bench_sub id;
    const char *summary;
    struct cli_cmd cmd;
} subcommands[] = {
    { SUB_ROUTE,
      "route and record executions: executions/s, latency p50 and p99",
      { "bench route", "[options]",
        "Route N envelopes (a 200 byte payload each) to an in-process echo agent\n"
        "through the real router, recording each as --record says, and print\n"
        "executions per second and the latency of each call (p50, p99). With\n"
        "recording on, also the persistence floor on the same storage: plain C\n"
        "writing files of the records' size the way records are written (temp\n"
        "file, write, [fsync], rename, [fsync directory]) and intentus's ratio to it.\n"
        "JSON keys: in_cache, executions_per_sec, p50_us, p99_us, mean_us,\n"
        "bytes_per_record, floor_files_per_sec, ratio_to_floor, records_per_commit.\n",
        route_opts } },
    { SUB_HASH,
      "canonical JSON + SHA-256 of envelopes of 200 B, 2 KB and 64 KB",
      { "bench hash", "[options]",
        "Hash envelopes as every record's envelopeHash is made (canonical JSON,\n"
        "then SHA-256) for payloads of 200 B, 2 KB and 64 KB, beside SHA-256 alone\n"
        "over the same canonical bytes (each side the fastest of five rounds, the\n"
        "two sides alternating). JSON: \"sizes\", one object per size with\n"
        "payload_bytes, canonical_bytes, iterations, ns_per_envelope, mb_per_sec,\n"
        "sha256_ns and ratio_to_sha256 (1.0: the hash costs no more than SHA-256).\n",
        hash_opts } },
    { SUB_INDEX,
      "write N records, then build the record index from them",
      { "bench index", "[options]",
        "Write N records with the real router and async writer (a mix of\n"
        "strategies and outcomes), then build the record index from nothing and\n"
        "print records indexed per second and the index's bytes per record.\n"
        "JSON keys: records, write_seconds, index_seconds, records_per_sec,\n"
        "bytes_per_record.\n",
        index_opts } },
};

#define N_SUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void
bench_help(FILE *f)
{
    fprintf(f, "Usage: intentus bench COMMAND [options]\n\n"
               "Measure this machine and its storage with intentus's own router, writer,\n"
               "hash and index. Each run works in a fresh directory and removes it.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < N_SUB; i++)
        fprintf(f, "  %-6s %s\n", subcommands[i].cmd.name + strlen("bench "),
                subcommands[i].summary);
    fprintf(f, "\nRun 'intentus bench COMMAND --help' for its options.\n");
}

static double
load_average(void)
{
    double l[1] = { -1 };

    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

/* A fresh directory under --dir (or $TMPDIR, /tmp) into out. */
static int
make_workdir(const char *cmd, const char *parent, char *out, size_t size)
{
    const char *base = parent, *why = NULL;
    struct stat st;

    if (base == NULL) {
        base = getenv("TMPDIR");
        if (base == NULL || base[0] == '\0')
            base = "/tmp";
    }
    if (stat(base, &st) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    if (why != NULL) {
        if (parent != NULL)
            return cli_usage_error(cmd, "--dir %s: %s", base, why);
        cli_error(cmd, "%s: %s", base, why);
        return EXIT_FAIL;
    }
    if ((size_t)snprintf(out, size, "%s/intentus-bench-XXXXXX", base) >= size) {
        cli_error(cmd, "%s: path too long", base);
        return parent != NULL ? EXIT_USAGE : EXIT_FAIL;
    }
    if (mkdtemp(out) == NULL) {
        cli_error(cmd, "cannot create a directory in %s: %s", base, strerror(errno));
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static void
print_json(cJSON *o)
{
    struct buf b = BUF_INIT;

    if (json_print_pretty(o, &b) == 0)
        printf("%s\n", b.data);
    buf_free(&b);
}

static int
run_route(const struct cli_cmd *cmd, const struct bench_args *a, struct config *cfg)
{
    struct intentus_err err = { 0 };
    enum bm_record rec = a->record < 0 ? BM_RECORD_SYNC : (enum bm_record)a->record;
    size_t n = a->n < 0 ? ROUTE_DEFAULT_N : (size_t)a->n;
    struct bm_route_result r;
    char work[PATH_MAX] = "", recs[PATH_MAX + 16] = "", floor_dir[PATH_MAX + 16];
    double floor = 0;
    int rc;

    if (a->n == 0 || a->n > ROUTE_MAX_N)
        return cli_usage_error(cmd->name, "--n: %ld is not between 1 and %ld", a->n, ROUTE_MAX_N);
    if (rec == BM_RECORD_OFF && (a->fsync || a->dir != NULL))
        return cli_usage_error(cmd->name, "%s needs recording on (--record sync or async)",
                               a->fsync ? "--fsync" : "--dir");
    if (rec != BM_RECORD_OFF) {
        rc = make_workdir(cmd->name, a->dir, work, sizeof(work));
        if (rc != EXIT_OK)
            return rc;
        snprintf(recs, sizeof(recs), "%s/records", work);
        snprintf(floor_dir, sizeof(floor_dir), "%s/floor", work);
    }
    rc = bm_route(cfg->registry,
                  &(struct bm_route_opts){ .intent = "bench.echo",
                                           .strategy = STRATEGY_DIRECT,
                                           .payload = PAYLOAD,
                                           .record = rec,
                                           .fsync = a->fsync,
                                           .dir = recs,
                                           .n = n,
                                           .chunk = a->in_cache ? 1 : 0 },
                  &r, &err);
    if (rc == 0 && rec != BM_RECORD_OFF && r.files != n) {
        err_set(&err, IERR_IO, "%zu of %zu record files were written in %s", r.files, n, recs);
        rc = -1;
    }
    if (rc == 0 && rec != BM_RECORD_OFF)
        rc = bm_floor(floor_dir, n < FLOOR_MAX_N ? n : FLOOR_MAX_N, (size_t)r.file_bytes, a->fsync,
                      &floor, &err);
    if (work[0] != '\0')
        bm_rmtree(work);
    if (rc != 0) {
        cli_error(cmd->name, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "command", "route");
        cJSON_AddStringToObject(o, "strategy", "DIRECT");
        cJSON_AddStringToObject(o, "record",
                                rec == BM_RECORD_OFF    ? "off"
                                : rec == BM_RECORD_SYNC ? "sync"
                                                        : "async");
        cJSON_AddBoolToObject(o, "fsync", a->fsync);
        cJSON_AddBoolToObject(o, "in_cache", a->in_cache);
        cJSON_AddNumberToObject(o, "n", (double)n);
        cJSON_AddNumberToObject(o, "executions_per_sec", r.per_sec);
        cJSON_AddNumberToObject(o, "p50_us", r.p50_us);
        cJSON_AddNumberToObject(o, "p99_us", r.p99_us);
        cJSON_AddNumberToObject(o, "mean_us", r.mean_us);
        if (rec != BM_RECORD_OFF) {
            cJSON_AddNumberToObject(o, "bytes_per_record", r.file_bytes);
            cJSON_AddNumberToObject(o, "floor_files_per_sec", floor);
            cJSON_AddNumberToObject(o, "ratio_to_floor", floor > 0 ? r.per_sec / floor : 0);
        }
        if (rec == BM_RECORD_ASYNC)
            cJSON_AddNumberToObject(o, "records_per_commit", r.per_commit);
        cJSON_AddNumberToObject(o, "load_average", load_average());
        print_json(o);
        cJSON_Delete(o);
        return EXIT_OK;
    }
    printf("route: DIRECT to an in-process echo agent, %zu executions, recording %s%s, "
           "envelopes %s\n",
           n,
           rec == BM_RECORD_OFF    ? "off"
           : rec == BM_RECORD_SYNC ? "sync"
                                   : "async",
           rec == BM_RECORD_OFF ? ""
           : a->fsync           ? ", fsync"
                                : ", no fsync",
           a->in_cache ? "in cache (each routed as soon as built)" : "cold (4,096 built first)");
    printf("  executions/s   %.0f\n", r.per_sec);
    printf("  latency        p50 %.1f us, p99 %.1f us, mean %.1f us\n", r.p50_us, r.p99_us,
           r.mean_us);
    if (rec != BM_RECORD_OFF) {
        printf("  record file    %.0f bytes\n", r.file_bytes);
        printf("  floor          %.0f files/s (plain C: temp file, write,%s rename%s); "
               "intentus at %.2f of it\n",
               floor, a->fsync ? " fsync," : "", a->fsync ? ", fsync directory" : "",
               floor > 0 ? r.per_sec / floor : 0);
    }
    if (rec == BM_RECORD_ASYNC)
        printf("  group commit   %.1f records per group\n", r.per_commit);
    printf("  load average   %.2f\n", load_average());
    return EXIT_OK;
}

static int
run_hash(const struct cli_cmd *cmd, const struct bench_args *a)
{
    static const size_t sizes[] = { 200, 2048, 65536 };
    struct bm_hash_result h[3];
    struct intentus_err err = { 0 };

    if (a->n == 0 || a->n > HASH_MAX_N)
        return cli_usage_error(cmd->name, "--n: %ld is not between 1 and %ld", a->n, HASH_MAX_N);
    for (size_t i = 0; i < 3; i++) {
        if (bm_hash(sizes[i], true, a->n < 0 ? 0 : a->n, HASH_BUDGET_NS, &h[i], &err) != 0) {
            cli_error(cmd->name, "%s", err.msg);
            return EXIT_FAIL;
        }
    }
    if (a->json) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "sizes");
        cJSON_AddStringToObject(o, "command", "hash");
        for (size_t i = 0; i < 3; i++) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddNumberToObject(s, "payload_bytes", (double)sizes[i]);
            cJSON_AddNumberToObject(s, "canonical_bytes", (double)h[i].canonical_bytes);
            cJSON_AddNumberToObject(s, "iterations", (double)h[i].iters);
            cJSON_AddNumberToObject(s, "ns_per_envelope", h[i].ns);
            cJSON_AddNumberToObject(s, "mb_per_sec", (double)h[i].canonical_bytes / h[i].ns * 1e3);
            cJSON_AddNumberToObject(s, "sha256_ns", h[i].floor_ns);
            cJSON_AddNumberToObject(s, "ratio_to_sha256", h[i].floor_ns / h[i].ns);
            cJSON_AddItemToArray(arr, s);
        }
        cJSON_AddNumberToObject(o, "load_average", load_average());
        print_json(o);
        cJSON_Delete(o);
        return EXIT_OK;
    }
    printf("hash: canonical JSON + SHA-256 of an envelope, beside SHA-256 alone\n");
    for (size_t i = 0; i < 3; i++)
        printf("  payload %6zu B (%6zu B canonical)  %9.0f ns  %7.1f MB/s  SHA-256 alone "
               "%9.0f ns  ratio %.2f\n",
               sizes[i], h[i].canonical_bytes, h[i].ns,
               (double)h[i].canonical_bytes / h[i].ns * 1e3, h[i].floor_ns,
               h[i].floor_ns / h[i].ns);
    printf("  load average   %.2f\n", load_average());
    return EXIT_OK;
}

static int
run_index(const struct cli_cmd *cmd, const struct bench_args *a, struct config *cfg)
{
    struct intentus_err err = { 0 };
    size_t n = a->n < 0 ? INDEX_DEFAULT_N : (size_t)a->n;
    char work[PATH_MAX], recs[PATH_MAX + 16];
    struct index_db_info info;
    double write_s = 0, index_s = 0;
    int64_t t0;
    int rc;

    if (a->n == 0 || a->n > INDEX_MAX_N)
        return cli_usage_error(cmd->name, "--n: %ld is not between 1 and %ld", a->n, INDEX_MAX_N);
    rc = make_workdir(cmd->name, a->dir, work, sizeof(work));
    if (rc != EXIT_OK)
        return rc;
    snprintf(recs, sizeof(recs), "%s/records", work);
    t0 = bm_now_ns();
    rc = bm_write_records(cfg->registry, recs, n, true, 1, &err);
    write_s = (double)(bm_now_ns() - t0) / 1e9;
    if (rc == 0)
        rc = bm_index_open(recs, true, &index_s, &info, &err);
    bm_rmtree(work);
    if (rc == 0 && info.records != n) {
        err_set(&err, IERR_IO, "the index holds %zu records of the %zu written", info.records, n);
        rc = -1;
    }
    if (rc != 0) {
        cli_error(cmd->name, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "command", "index");
        cJSON_AddNumberToObject(o, "records", (double)info.records);
        cJSON_AddNumberToObject(o, "write_seconds", write_s);
        cJSON_AddNumberToObject(o, "index_seconds", index_s);
        cJSON_AddNumberToObject(o, "records_per_sec", (double)info.records / index_s);
        cJSON_AddNumberToObject(o, "bytes_per_record",
                                (double)info.db_bytes / (double)info.records);
        cJSON_AddNumberToObject(o, "load_average", load_average());
        print_json(o);
        cJSON_Delete(o);
        return EXIT_OK;
    }
    printf("index: %zu records written in %.2f s, indexed from nothing in %.2f s\n", info.records,
           write_s, index_s);
    printf("  records/s      %.0f\n", (double)info.records / index_s);
    printf("  index size     %lld bytes, %.0f per record\n", (long long)info.db_bytes,
           (double)info.db_bytes / (double)info.records);
    printf("  load average   %.2f\n", load_average());
    return EXIT_OK;
}

int
cli_bench(int argc, char **argv)
{
    const struct cli_cmd *cmd = NULL;
    enum bench_sub id = SUB_ROUTE;
    struct bench_args a = { .n = -1, .record = -1 };
    struct intentus_err err = { 0 };
    struct config *cfg;
    int rc, first = 0;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        bench_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < N_SUB; i++) {
        if (strcmp(argv[1], subcommands[i].cmd.name + strlen("bench ")) == 0) {
            cmd = &subcommands[i].cmd;
            id = subcommands[i].id;
        }
    }
    if (cmd == NULL)
        return cli_usage_error("bench", "unknown command '%s' (route, hash, index)", argv[1]);
    rc = cli_opt_parse(cmd, argc - 1, argv + 1, &a, &first);
    if (rc != 0)
        return rc == CLI_OPT_SHOWN_HELP ? EXIT_OK : rc;
    if (first + 1 < argc)
        return cli_usage_error(cmd->name, "unexpected argument '%s'", argv[first + 1]);
    if (id == SUB_HASH)
        return run_hash(cmd, &a);
    cfg = bench_config(&err);
    if (cfg == NULL) {
        cli_error(cmd->name, "%s", err.msg);
        return EXIT_FAIL;
    }
    rc = id == SUB_ROUTE ? run_route(cmd, &a, cfg) : run_index(cmd, &a, cfg);
    config_free(cfg);
    return rc;
}
