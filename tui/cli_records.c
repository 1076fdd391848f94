/* intentus records list|show|verify|diff|stats|tail|gc and intentus retrieve.
 * list, stats and tail read the directory through watch/ (the index the
 * console uses); gc is the only command here that removes files. */
#include "tui/cli_records.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/recovery.h"
#include "core/units.h"
#include "core/wal.h"
#include "core/wal_sign.h"
#include "tui/cli.h"
#include "tui/fmt.h"
#include "watch/index.h"
#include "watch/tailer.h"

static const char records_help[] =
    "Usage: intentus records COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list [filters] [--json] [--limit N]   records, newest first; corrupt files shown\n"
    "  show ID                               one record as JSON (also from an archive\n"
    "                                        directory of <id>.json.gz files)\n"
    "  verify [ID...] [--wal-dir D] [--public-key F] [-v]\n"
    "                                        re-read records, check their structure and\n"
    "                                        recompute envelopeHash; when <wal-dir>/ID.wal\n"
    "                                        exists, also check the record against it\n"
    "                                        (envelope hash, outcome, steps) and the WAL's\n"
    "                                        signatures with the public key; ends with\n"
    "                                        'N passed, M failed', exit 1 on any failure\n"
    "  diff A B [--json]                     compare two records by section: input\n"
    "                                        (envelope), output (finalResponse), trace\n"
    "                                        (events), metadata (header, routerDecision);\n"
    "                                        exit 0 identical, 1 different, 2 usage error\n"
    "                                        or a record missing or unreadable\n"
    "  stats [--json]                        per-agent and per-intent calls, failures by\n"
    "                                        error code, failure rates, latency p50/p95/p99,\n"
    "                                        last error, circuit state, retries\n"
    "  tail [-f] [-n N] [--json] [--poll[=MS]]\n"
    "                                        the last N records (10), one line each; with -f\n"
    "                                        keep printing records as they arrive\n"
    "  gc [--older-than AGE] [--max-count N] [--max-bytes SIZE] [--archive DIR]\n"
    "     [--dry-run] [--yes] [--json]       retention: remove (or gzip into DIR) the\n"
    "                                        oldest records beyond the limits\n"
    "\n"
    "Options:\n"
    "  -d, --dir DIR        record directory (default: from the config, then\n"
    "                       $INTENTUSNET_RECORDS_PATH, then .intentusnet/records)\n"
    "  -c, --config FILE    config file to take the record directory from\n"
    "  -j, --json           machine-readable output (list, diff, stats, tail, gc)\n"
    "  -l, --limit N        at most N records (list)\n"
    "  list filters:  --intent NAME, --agent NAME (decided or attempted),\n"
    "                 --status ok|error|incomplete|corrupt, --error CODE,\n"
    "                 --since AGE (1h, 30m, 7d...), --search TEXT (in id or intent)\n"
    "  gc:  --older-than AGE (30d, 12h; a bare number is days, as in the reference),\n"
    "       --max-count N, --max-bytes SIZE (512K, 10M, 1G), --archive DIR (gzip each\n"
    "       record into DIR as <id>.json.gz instead of deleting it), --dry-run (report\n"
    "       what would go), --yes (no question; without it gc asks on a terminal and\n"
    "       refuses otherwise). Every action is logged to DIR/.intentus-retention.log.\n"
    "  tail:  -f/--follow, -n/--lines N, --poll[=MS] (poll instead of inotify, for\n"
    "         network filesystems; default 1000 ms)\n"
    "  verify:  -w/--wal-dir DIR (default: the config's wal.dir), -v/--verbose (a line\n"
    "         for every record that passes, noting when it has no WAL), -k/--public-key\n"
    "         FILE (Ed25519 public key, PEM, raw 32 bytes or 64 hex digits; default: the\n"
    "         config's wal.public_key): a signed WAL with a missing, foreign or forged\n"
    "         signature fails naming the seq (wal_signature); without a key signed WALs\n"
    "         are counted as 'signatures not checked' on the summary line\n"
    "  -h, --help           this help\n";

static const char retrieve_help[] =
    "Usage: intentus retrieve ID [--dir D] [--config FILE]\n"
    "\n"
    "Print the stored response of an execution with whether its envelope hash\n"
    "still verifies. Nothing is re-run: no agent, router or model is called.\n"
    "Exit status: 0 retrieved, 1 not found or not retrievable, 2 usage error.\n";

enum {
    OPT_INTENT = 256,
    OPT_AGENT,
    OPT_STATUS,
    OPT_ERROR,
    OPT_SINCE,
    OPT_SEARCH,
    OPT_OLDER,
    OPT_MAX_COUNT,
    OPT_MAX_BYTES,
    OPT_ARCHIVE,
    OPT_DRY_RUN,
    OPT_YES,
    OPT_POLL,
};

static int
parse_count(const char *cmd, const char *opt, const char *text, long *out)
{
    char *end;

    *out = strtol(text, &end, 10);
    if (*end != '\0' || end == text || *out < 0)
        return cli_usage_error(cmd, "%s: '%s' is not a non-negative number", opt, text);
    return EXIT_OK;
}

static int
parse_value(struct rec_args *a, int c, const char *arg)
{
    struct intentus_err err = { 0 };
    uint64_t size;
    long n;

    switch (c) {
    case 'l':
        return parse_count(a->cmd, "--limit", arg, &a->limit);
    case 'n':
        return parse_count(a->cmd, "--lines", arg, &a->limit);
    case OPT_SINCE:
        if (units_parse_duration_ms(arg, &a->since_ms, &err) != 0)
            return cli_usage_error(a->cmd, "--since: %s", err.msg);
        return EXIT_OK;
    case OPT_OLDER: {
        /* The reference's --older-than takes days as a bare number. */
        const char *p = arg;
        while (*p >= '0' && *p <= '9')
            p++;
        if (*p == '\0' && p != arg) {
            char days[64];
            snprintf(days, sizeof(days), "%sd", arg);
            if (units_parse_duration_ms(days, &a->older_than_ms, &err) != 0)
                return cli_usage_error(a->cmd, "--older-than: %s", err.msg);
        } else if (units_parse_duration_ms(arg, &a->older_than_ms, &err) != 0) {
            return cli_usage_error(a->cmd, "--older-than: %s", err.msg);
        }
        return EXIT_OK;
    }
    case OPT_MAX_COUNT:
        if (parse_count(a->cmd, "--max-count", arg, &n) != EXIT_OK)
            return EXIT_USAGE;
        a->max_count = n;
        return EXIT_OK;
    case OPT_MAX_BYTES:
        if (units_parse_size(arg, &size, &err) != 0 || size > INT64_MAX)
            return cli_usage_error(a->cmd, "--max-bytes: %s", err.msg);
        a->max_bytes = (int64_t)size;
        return EXIT_OK;
    case OPT_POLL:
        a->poll_ms = 1000;
        if (arg != NULL && (parse_count(a->cmd, "--poll", arg, &n) != EXIT_OK || n <= 0))
            return cli_usage_error(a->cmd, "--poll: give milliseconds, more than 0");
        if (arg != NULL)
            a->poll_ms = (int)n;
        return EXIT_OK;
    case OPT_STATUS:
        if (!index_status_is_valid(arg))
            return cli_usage_error(a->cmd, "--status: '%s' is not ok, error, incomplete or corrupt",
                                   arg);
        a->status = arg;
        return EXIT_OK;
    }
    return EXIT_OK;
}

static int
parse_args(const char *cmd, int argc, char **argv, struct rec_args *a)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { "limit", required_argument, NULL, 'l' },
        { "intent", required_argument, NULL, OPT_INTENT },
        { "agent", required_argument, NULL, OPT_AGENT },
        { "status", required_argument, NULL, OPT_STATUS },
        { "error", required_argument, NULL, OPT_ERROR },
        { "since", required_argument, NULL, OPT_SINCE },
        { "search", required_argument, NULL, OPT_SEARCH },
        { "older-than", required_argument, NULL, OPT_OLDER },
        { "max-count", required_argument, NULL, OPT_MAX_COUNT },
        { "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
        { "archive", required_argument, NULL, OPT_ARCHIVE },
        { "dry-run", no_argument, NULL, OPT_DRY_RUN },
        { "yes", no_argument, NULL, OPT_YES },
        { "follow", no_argument, NULL, 'f' },
        { "lines", required_argument, NULL, 'n' },
        { "poll", optional_argument, NULL, OPT_POLL },
        { "wal-dir", required_argument, NULL, 'w' },
        { "verbose", no_argument, NULL, 'v' },
        { "public-key", required_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    a->cmd = cmd;
    a->limit = -1;
    a->since_ms = a->older_than_ms = a->max_count = a->max_bytes = -1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:c:jl:fn:yw:vk:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            a->dir = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'f':
            a->follow = true;
            break;
        case 'w':
            a->wal_dir = optarg;
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'k':
            a->public_key = optarg;
            break;
        case OPT_INTENT:
            a->intent = optarg;
            break;
        case OPT_AGENT:
            a->agent = optarg;
            break;
        case OPT_ERROR:
            a->error_code = optarg;
            break;
        case OPT_SEARCH:
            a->search = optarg;
            break;
        case OPT_ARCHIVE:
            a->archive = optarg;
            break;
        case OPT_DRY_RUN:
            a->dry_run = true;
            break;
        case 'y':
        case OPT_YES:
            a->yes = true;
            break;
        case 'l':
        case 'n':
        case OPT_SINCE:
        case OPT_OLDER:
        case OPT_MAX_COUNT:
        case OPT_MAX_BYTES:
        case OPT_POLL:
        case OPT_STATUS:
            if (parse_value(a, c, optarg) != EXIT_OK)
                return EXIT_USAGE;
            break;
        default:
            if (optopt != 0 && optopt < 256)
                return cli_usage_error(cmd, "option -%c needs a value or is unknown", optopt);
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    a->first_arg = optind;
    return EXIT_OK;
}

const char *
cli_records_dir_of(const struct rec_args *a, struct config **cfg)
{
    return cli_records_dir(a->dir, a->config, cfg);
}

/* *fail is the exit code to use when NULL comes back: a configuration
 * error is a usage error (2), like everywhere else; a directory that cannot
 * be opened is a failure (1). */
static struct rec_store *
open_store(const char *cmd, const struct rec_args *a, int *fail)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    const char *dir = cli_records_dir_of(a, &cfg);
    struct rec_store *rs = NULL;

    *fail = dir == NULL ? EXIT_USAGE : EXIT_FAIL;
    if (dir != NULL) {
        rs = rec_store_open(dir, NULL, &err);
        if (rs == NULL)
            fprintf(stderr, "intentus %s: %s\n", cmd, err.msg);
    }
    config_free(cfg);
    return rs;
}

static int
list_json(void *ctx, const struct index_view *v)
{
    cJSON *arr = ctx, *o = cJSON_CreateObject();
    char created[CLOCK_ISO_LEN];

    if (o == NULL)
        return 1;
    cJSON_AddStringToObject(o, "executionId", v->id);
    if (v->flags & DIGEST_CORRUPT) {
        cJSON_AddStringToObject(o, "status", "corrupt");
        cJSON_AddStringToObject(o, "error", v->note ? v->note : "");
    } else {
        clock_format_iso(v->created_us, created);
        cJSON_AddStringToObject(o, "createdUtcIso", created);
        cJSON_AddStringToObject(o, "intent", v->intent ? v->intent : "");
        cJSON_AddStringToObject(o, "agent", v->agent ? v->agent : "");
        cJSON_AddStringToObject(o, "strategy", v->strategy ? v->strategy : "direct");
        cJSON_AddStringToObject(o, "status", record_status_name(v->status));
        if (v->error_code != NULL)
            cJSON_AddStringToObject(o, "errorCode", v->error_code);
        else
            cJSON_AddNullToObject(o, "errorCode");
        if (v->duration_us >= 0)
            cJSON_AddNumberToObject(o, "durationUs", (double)v->duration_us);
        else
            cJSON_AddNullToObject(o, "durationUs");
        cJSON_AddNumberToObject(o, "attempts", v->attempts);
        cJSON_AddNumberToObject(o, "retries", v->retries);
        cJSON_AddNumberToObject(o, "events", v->events);
        cJSON_AddBoolToObject(o, "timing", !(v->flags & DIGEST_NO_TIMING));
        cJSON_AddBoolToObject(o, "redacted", (v->flags & DIGEST_REDACTED) != 0);
        if (v->node != NULL)
            cJSON_AddStringToObject(o, "node", v->node);
    }
    cJSON_AddNumberToObject(o, "bytes", (double)v->file_size);
    cJSON_AddItemToArray(arr, o);
    return 0;
}

static int
list_text(void *ctx, const struct index_view *v)
{
    char when[32], intent[64], agent[64], dur[24];

    (void)ctx;
    if (v->flags & DIGEST_CORRUPT) {
        printf("%-19s  %-36s  %-24s  %-16s  %-9s  %-7s  %-20s  %s\n", "-", v->id, "-", "-", "-",
               "CORRUPT", "-", v->note ? v->note : "");
        return 0;
    }
    fmt_time_short(v->created_us, when, sizeof(when));
    fmt_cell(v->intent, 24, intent, sizeof(intent));
    fmt_cell(v->agent, 16, agent, sizeof(agent));
    fmt_duration_us(v->duration_us, dur, sizeof(dur));
    printf("%-19s  %-36s  %-*s  %-*s  %-9s  %-7s  %-20s  %s\n", when, v->id,
           (int)(24 + strlen(intent) - fmt_width(intent)), intent,
           (int)(16 + strlen(agent) - fmt_width(agent)), agent,
           v->strategy ? v->strategy : "direct", record_status_name(v->status),
           v->error_code ? v->error_code : "-", dur);
    return 0;
}

void
cli_records_print_row(const struct index_view *v, bool json)
{
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        struct buf b = BUF_INIT;
        if (arr != NULL && list_json(arr, v) == 0 &&
            json_print_compact(cJSON_GetArrayItem(arr, 0), &b) == 0)
            printf("%s\n", b.data);
        buf_free(&b);
        cJSON_Delete(arr);
    } else {
        list_text(NULL, v);
    }
}

static int
records_list(const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    const char *dir = cli_records_dir_of(a, &cfg);
    struct index *ix = index_new();
    struct index_filter f = { .intent = a->intent,
                              .agent = a->agent,
                              .status = a->status,
                              .error_code = a->error_code,
                              .text = a->search };
    size_t limit = a->limit > 0 ? (size_t)a->limit : 0;
    int rc = EXIT_FAIL;

    if (dir == NULL)
        rc = EXIT_USAGE; /* the config did not load; the error is printed */
    if (dir == NULL || ix == NULL)
        goto out;
    if (tailer_index_dir(dir, ix, &err) != 0) {
        fprintf(stderr, "intentus records list: %s\n", err.msg);
        goto out;
    }
    if (a->since_ms >= 0)
        f.since_us = clock_wall_us() - a->since_ms * 1000;
    if (a->json) {
        cJSON *arr = cJSON_CreateArray();
        if (a->limit != 0)
            index_query(ix, &f, true, limit, list_json, arr);
        cli_print_json(stdout, arr);
        cJSON_Delete(arr);
    } else {
        printf("%-19s  %-36s  %-24s  %-16s  %-9s  %-7s  %-20s  %s\n", "CREATED (UTC)", "ID",
               "INTENT", "AGENT", "STRATEGY", "STATUS", "ERROR", "DURATION");
        if (a->limit != 0)
            index_query(ix, &f, true, limit, list_text, NULL);
    }
    rc = EXIT_OK;
out:
    index_free(ix);
    config_free(cfg);
    return rc;
}

static int
records_show(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    int store_rc;
    cJSON *rec;

    if (a->first_arg >= argc)
        return cli_usage_error("records show", "missing ID");
    if (a->first_arg + 1 < argc)
        return cli_usage_error("records show", "unexpected argument '%s'", argv[a->first_arg + 1]);
    if (!rec_store_id_is_valid(argv[a->first_arg]))
        return cli_usage_error("records show", "'%s' is not a valid execution id",
                               argv[a->first_arg]);
    rs = open_store("records show", a, &store_rc);
    if (rs == NULL)
        return store_rc;
    rec = rec_store_load(rs, argv[a->first_arg], &err);
    rec_store_close(rs);
    if (rec == NULL) {
        fprintf(stderr, "intentus records show: %s\n", err.msg);
        return EXIT_FAIL;
    }
    cli_print_json(stdout, rec);
    cJSON_Delete(rec);
    return EXIT_OK;
}

/* Full check of one record file; 0 ok, else err says why. *rec receives
 * the record when it could be read (for the WAL check), else NULL. */
static int
verify_one(struct rec_store *rs, const char *id, cJSON **rec, struct intentus_err *err)
{
    const char *hid;

    *rec = rec_store_load(rs, id, err);
    if (*rec == NULL)
        return -1;
    hid = record_id(*rec);
    if (strcmp(hid, id) != 0) {
        err_set(err, IERR_VERIFY, "header.executionId '%s' does not match the file name", hid);
        return -1;
    }
    if (envelope_validate(cJSON_GetObjectItemCaseSensitive(*rec, "envelope"), err) != 0)
        return -1;
    return record_verify_hash(*rec, err);
}

/* What verify_wal saw of a WAL. */
struct wal_seen {
    bool has_wal;
    bool is_signed, sig_checked;
};

/* Record <-> WAL consistency when <wal_dir>/<id>.wal exists: each
 * violation is a FAIL line, a signature that fails with key (or a missing
 * one in a signed log) too (wal_signature). Returns the number of problems
 * (0: consistent or no WAL, seen says which). */
static int
verify_wal(const char *wal_dir, const char *id, const cJSON *rec, const struct wal_key *key,
           struct wal_seen *seen)
{
    struct intentus_err err = { 0 };
    char path[PATH_MAX];
    struct stat st;
    struct wal_log log;
    cJSON *violations, *v;
    int n, bad = 0;

    memset(seen, 0, sizeof(*seen));
    if (wal_path(wal_dir, id, ".wal", path, sizeof(path)) != 0 ||
        (lstat(path, &st) != 0 && errno == ENOENT))
        return 0;
    seen->has_wal = true;
    if (wal_read_key(wal_dir, id, key, &log, &err) == 0) {
        seen->is_signed = log.is_signed;
        seen->sig_checked = log.sig_checked && log.status == WAL_OK;
        if (log.bad_signature) {
            printf("FAIL %s: wal_signature: %s\n", id, log.problem);
            bad = 1;
        }
        wal_log_free(&log);
    }
    violations = cJSON_CreateArray();
    n = violations != NULL ? recovery_check_record(wal_dir, id, rec, NULL, violations, &err) : -1;
    if (n < 0) {
        printf("FAIL %s: WAL check: %s\n", id, violations != NULL ? err.msg : "out of memory");
        n = 1;
    }
    cJSON_ArrayForEach(v, violations)
    {
        printf("FAIL %s: %s: %s\n", id, json_get_string(v, "type"), json_get_string(v, "message"));
    }
    cJSON_Delete(violations);
    return n + bad;
}

/* The WAL directory to check records against: --wal-dir, else the
 * config's (read also when --config names it, for wal.public_key). NULL
 * (the error printed) when the config does not load. */
static const char *
verify_wal_dir(const struct rec_args *a, struct config **cfg)
{
    *cfg = NULL;
    if (a->wal_dir != NULL && a->config == NULL)
        return a->wal_dir;
    *cfg = cli_load_config(a->config);
    if (*cfg == NULL)
        return NULL;
    return a->wal_dir != NULL ? a->wal_dir : (*cfg)->wal.dir;
}

static int
records_verify(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    struct rec_store *rs;
    const char *wal_dir;
    int store_rc;
    struct rec_ids ids = { 0 };
    struct wal_key *key;
    size_t passed = 0, failed = 0, unchecked = 0;

    for (int i = a->first_arg; i < argc; i++) {
        if (!rec_store_id_is_valid(argv[i]))
            return cli_usage_error("records verify", "'%s' is not a valid execution id", argv[i]);
    }
    wal_dir = verify_wal_dir(a, &cfg);
    if (wal_dir == NULL)
        return EXIT_USAGE;
    key = cli_load_wal_key("records verify", a->public_key, cfg, &store_rc);
    rs = store_rc == EXIT_OK ? open_store("records verify", a, &store_rc) : NULL;
    if (rs == NULL) {
        wal_key_free(key);
        config_free(cfg);
        return store_rc;
    }
    if (a->first_arg < argc) {
        ids.n = (size_t)(argc - a->first_arg);
        ids.ids = calloc(ids.n, sizeof(char *));
        for (size_t i = 0; ids.ids != NULL && i < ids.n; i++)
            ids.ids[i] = strdup(argv[a->first_arg + (int)i]);
    } else if (rec_store_list(rs, &ids, &err) != 0) {
        fprintf(stderr, "intentus records verify: %s\n", err.msg);
        rec_store_close(rs);
        wal_key_free(key);
        config_free(cfg);
        return EXIT_FAIL;
    }
    for (size_t i = 0; ids.ids != NULL && i < ids.n; i++) {
        const char *id = ids.ids[i] ? ids.ids[i] : "?";
        cJSON *rec = NULL;
        bool ok = ids.ids[i] != NULL && verify_one(rs, id, &rec, &err) == 0;
        struct wal_seen seen = { 0 };

        if (!ok)
            printf("FAIL %s: %s\n", id, ids.ids[i] ? err.msg : "out of memory");
        if (rec != NULL && verify_wal(wal_dir, id, rec, key, &seen) != 0)
            ok = false;
        if (ok && seen.is_signed && !seen.sig_checked)
            unchecked++;
        if (ok && a->verbose)
            printf("ok   %s%s\n", id,
                   !seen.has_wal      ? " (no WAL)"
                   : seen.sig_checked ? " (record and WAL agree; WAL signatures checked)"
                   : seen.is_signed   ? " (record and WAL agree; WAL signatures not checked)"
                                      : " (record and WAL agree)");
        cJSON_Delete(rec);
        if (ok)
            passed++;
        else
            failed++;
    }
    if (unchecked > 0)
        printf("%zu passed, %zu failed; %zu signed WAL%s: signatures not checked (give "
               "--public-key or wal.public_key)\n",
               passed, failed, unchecked, unchecked == 1 ? "" : "s");
    else
        printf("%zu passed, %zu failed\n", passed, failed);
    rec_store_ids_free(&ids);
    rec_store_close(rs);
    wal_key_free(key);
    config_free(cfg);
    return failed > 0 ? EXIT_FAIL : EXIT_OK;
}

static const struct {
    const char *name;
    const char *cmd;
} subcommands[] = {
    { "list", "records list" }, { "show", "records show" },   { "verify", "records verify" },
    { "diff", "records diff" }, { "stats", "records stats" }, { "tail", "records tail" },
    { "gc", "records gc" },
};

int
cli_records(int argc, char **argv)
{
    struct rec_args a = { 0 };
    const char *sub, *cmd = NULL;
    int rc;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(records_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    sub = argv[1];
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(records_help, stdout);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
        if (strcmp(sub, subcommands[i].name) == 0)
            cmd = subcommands[i].cmd;
    }
    if (cmd == NULL)
        return cli_usage_error(
            "records", "unknown command '%s' (list, show, verify, diff, stats, tail, gc)", sub);
    rc = parse_args(cmd, argc - 1, argv + 1, &a);
    if (rc != EXIT_OK)
        return rc;
    a.first_arg += 1; /* back to indexes of argv */
    if (a.public_key != NULL && strcmp(sub, "verify") != 0)
        return cli_usage_error(cmd, "--public-key applies to verify only");
    if (strcmp(sub, "show") == 0)
        return records_show(&a, argc, argv);
    if (strcmp(sub, "verify") == 0)
        return records_verify(&a, argc, argv);
    if (strcmp(sub, "diff") == 0)
        return cli_records_diff(&a, argc, argv);
    if (a.first_arg < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[a.first_arg]);
    if (strcmp(sub, "list") == 0)
        return records_list(&a);
    if (strcmp(sub, "stats") == 0)
        return cli_records_stats(&a);
    if (strcmp(sub, "tail") == 0)
        return cli_records_tail(&a);
    return cli_records_gc(&a);
}

static const char retrieve_warning[] =
    "This is the recorded response. No agent, router or model was executed and no routing "
    "happened; compare executions with 'intentus records show'.";

int
cli_retrieve(int argc, char **argv)
{
    struct rec_args a = { 0 };
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    int store_rc;
    const cJSON *header, *final;
    cJSON *rec, *out;
    char now[CLOCK_ISO_LEN];
    const char *id;
    int rc;

    if (cli_wants_help(argc, argv)) {
        fputs(retrieve_help, stdout);
        return EXIT_OK;
    }
    rc = parse_args("retrieve", argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    if (a.first_arg >= argc)
        return cli_usage_error("retrieve", "missing ID");
    if (a.first_arg + 1 < argc)
        return cli_usage_error("retrieve", "unexpected argument '%s'", argv[a.first_arg + 1]);
    id = argv[a.first_arg];
    if (!rec_store_id_is_valid(id))
        return cli_usage_error("retrieve", "'%s' is not a valid execution id", id);
    rs = open_store("retrieve", &a, &store_rc);
    if (rs == NULL)
        return store_rc;
    rec = rec_store_load(rs, id, &err);
    rec_store_close(rs);
    if (rec == NULL) {
        fprintf(stderr, "intentus retrieve: %s\n", err.msg);
        return EXIT_FAIL;
    }
    header = cJSON_GetObjectItemCaseSensitive(rec, "header");
    final = cJSON_GetObjectItemCaseSensitive(rec, "finalResponse");
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(header, "replayable"))) {
        const char *why = json_get_string(header, "replayableReason");
        fprintf(stderr, "intentus retrieve: %s is not retrievable: %s\n", id,
                why != NULL ? why : "Marked not retrievable");
        cJSON_Delete(rec);
        return EXIT_FAIL;
    }
    if (!cJSON_IsObject(final) || cJSON_GetArraySize(final) == 0) {
        fprintf(stderr,
                "intentus retrieve: %s is not retrievable: Missing finalResponse in record\n", id);
        cJSON_Delete(rec);
        return EXIT_FAIL;
    }
    clock_now_iso(now);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "execution_id", id);
    cJSON_AddItemToObject(out, "response", cJSON_Duplicate(final, 1));
    cJSON_AddBoolToObject(out, "envelope_hash_ok", record_verify_hash(rec, &err) == 0);
    cJSON_AddStringToObject(out, "retrieval_timestamp", now);
    cJSON_AddStringToObject(out, "warning", retrieve_warning);
    cli_print_json(stdout, out);
    rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "envelope_hash_ok")) ? EXIT_OK
                                                                                 : EXIT_FAIL;
    if (rc != EXIT_OK)
        fprintf(stderr, "intentus retrieve: %s: %s\n", id, err.msg);
    cJSON_Delete(out);
    cJSON_Delete(rec);
    return rc;
}
