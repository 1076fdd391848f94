/* intentus records list|show|verify and intentus retrieve: read-only views
 * of a record directory. Nothing here modifies or deletes a file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "tui/cli.h"
#include "tui/fmt.h"

static const char records_help[] =
    "Usage: intentus records COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  list [--dir D] [--json] [--limit N]   records, newest first; corrupt files shown\n"
    "  show ID [--dir D]                     one record as JSON\n"
    "  verify [--dir D] [ID...]              re-read records, check their structure and\n"
    "                                        recompute envelopeHash; ends with\n"
    "                                        'N passed, M failed', exit 1 on any failure\n"
    "\n"
    "Options:\n"
    "  -d, --dir DIR      record directory (default: from the config, then\n"
    "                     $INTENTUSNET_RECORDS_PATH, then .intentusnet/records)\n"
    "  -c, --config FILE  config file to take the record directory from\n"
    "  -j, --json         machine-readable output (list)\n"
    "  -l, --limit N      at most N records (list)\n"
    "  -h, --help         this help\n";

static const char retrieve_help[] =
    "Usage: intentus retrieve ID [--dir D] [--config FILE]\n"
    "\n"
    "Print the stored response of an execution with whether its envelope hash\n"
    "still verifies. Nothing is re-run: no agent, router or model is called.\n"
    "Exit status: 0 retrieved, 1 not found or not retrievable, 2 usage error.\n";

struct rec_args {
    const char *dir, *config;
    int json;
    long limit;
    int first_arg; /* index of the first positional argument */
};

static int
parse_args(const char *cmd, int argc, char **argv, struct rec_args *a)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },   { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },        { "limit", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    a->limit = -1;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:c:jl:", opts, NULL)) != -1) {
        char *end;
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
        case 'l':
            a->limit = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || a->limit < 0)
                return cli_usage_error(cmd, "--limit: '%s' is not a non-negative number", optarg);
            break;
        default:
            if (optopt != 0)
                return cli_usage_error(cmd, "option -%c needs a value or is unknown", optopt);
            return cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    a->first_arg = optind;
    return EXIT_OK;
}

static struct rec_store *
open_store(const char *cmd, const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    const char *dir = cli_records_dir(a->dir, a->config, &cfg);
    struct rec_store *rs = NULL;

    if (dir != NULL) {
        rs = rec_store_open(dir, NULL, &err);
        if (rs == NULL)
            fprintf(stderr, "intentus %s: %s\n", cmd, err.msg);
    }
    config_free(cfg);
    return rs;
}

/* One row of `records list`: a summary, or why the file could not be read. */
struct row {
    char *id;
    cJSON *rec; /* NULL when corrupt */
    struct record_summary sum;
    char error[256];
};

static int
newest_first(const void *x, const void *y)
{
    const struct row *a = x, *b = y;

    if (a->sum.created_us != b->sum.created_us)
        return a->sum.created_us > b->sum.created_us ? -1 : 1;
    return strcmp(b->id, a->id);
}

static void
print_row_json(cJSON *arr, const struct row *r)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return;
    cJSON_AddStringToObject(o, "executionId", r->id);
    if (r->rec == NULL) {
        cJSON_AddStringToObject(o, "status", "corrupt");
        cJSON_AddStringToObject(o, "error", r->error);
    } else {
        const struct record_summary *s = &r->sum;
        cJSON_AddStringToObject(o, "createdUtcIso", s->created ? s->created : "");
        cJSON_AddStringToObject(o, "intent", s->intent ? s->intent : "");
        cJSON_AddStringToObject(o, "agent", s->agent ? s->agent : "");
        cJSON_AddStringToObject(o, "strategy", s->strategy);
        cJSON_AddStringToObject(o, "status", record_status_name(s->status));
        if (s->error_code != NULL)
            cJSON_AddStringToObject(o, "errorCode", s->error_code);
        else
            cJSON_AddNullToObject(o, "errorCode");
        if (s->duration_us >= 0)
            cJSON_AddNumberToObject(o, "durationUs", (double)s->duration_us);
        else
            cJSON_AddNullToObject(o, "durationUs");
        cJSON_AddNumberToObject(o, "attempts", s->attempts);
        cJSON_AddNumberToObject(o, "events", s->events);
    }
    cJSON_AddItemToArray(arr, o);
}

static void
print_row_text(const struct row *r)
{
    char when[32], intent[64], agent[64], dur[24];

    if (r->rec == NULL) {
        printf("%-19s  %-36s  %-24s  %-16s  %-9s  %-7s  %-20s  %s\n", "-", r->id, "-", "-", "-",
               "CORRUPT", "-", r->error);
        return;
    }
    fmt_time_short(r->sum.created_us, when, sizeof(when));
    fmt_cell(r->sum.intent, 24, intent, sizeof(intent));
    fmt_cell(r->sum.agent, 16, agent, sizeof(agent));
    fmt_duration_us(r->sum.duration_us, dur, sizeof(dur));
    printf("%-19s  %-36s  %-*s  %-*s  %-9s  %-7s  %-20s  %s\n", when, r->id,
           (int)(24 + strlen(intent) - fmt_width(intent)), intent,
           (int)(16 + strlen(agent) - fmt_width(agent)), agent, r->sum.strategy,
           record_status_name(r->sum.status), r->sum.error_code ? r->sum.error_code : "-", dur);
}

static int
records_list(const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct rec_store *rs = open_store("records list", a);
    struct rec_ids ids = { 0 };
    struct row *rows = NULL;
    size_t n;
    int rc = EXIT_FAIL;

    if (rs == NULL)
        return EXIT_FAIL;
    if (rec_store_list(rs, &ids, &err) != 0) {
        fprintf(stderr, "intentus records list: %s\n", err.msg);
        goto out;
    }
    rows = calloc(ids.n + 1, sizeof(*rows));
    if (rows == NULL)
        goto out;
    for (size_t i = 0; i < ids.n; i++) {
        rows[i].id = ids.ids[i];
        rows[i].rec = rec_store_load(rs, ids.ids[i], &err);
        if (rows[i].rec != NULL)
            record_summarize(rows[i].rec, &rows[i].sum);
        else
            snprintf(rows[i].error, sizeof(rows[i].error), "%s", err.msg);
    }
    qsort(rows, ids.n, sizeof(*rows), newest_first);
    n = a->limit >= 0 && (size_t)a->limit < ids.n ? (size_t)a->limit : ids.n;
    if (a->json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr != NULL && i < n; i++)
            print_row_json(arr, &rows[i]);
        cli_print_json(stdout, arr);
        cJSON_Delete(arr);
    } else {
        printf("%-19s  %-36s  %-24s  %-16s  %-9s  %-7s  %-20s  %s\n", "CREATED (UTC)", "ID",
               "INTENT", "AGENT", "STRATEGY", "STATUS", "ERROR", "DURATION");
        for (size_t i = 0; i < n; i++)
            print_row_text(&rows[i]);
    }
    rc = EXIT_OK;
out:
    for (size_t i = 0; rows != NULL && i < ids.n; i++)
        cJSON_Delete(rows[i].rec);
    free(rows);
    rec_store_ids_free(&ids);
    rec_store_close(rs);
    return rc;
}

static int
records_show(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    cJSON *rec;

    if (a->first_arg >= argc)
        return cli_usage_error("records show", "missing ID");
    if (a->first_arg + 1 < argc)
        return cli_usage_error("records show", "unexpected argument '%s'", argv[a->first_arg + 1]);
    if (!rec_store_id_is_valid(argv[a->first_arg]))
        return cli_usage_error("records show", "'%s' is not a valid execution id",
                               argv[a->first_arg]);
    rs = open_store("records show", a);
    if (rs == NULL)
        return EXIT_FAIL;
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

/* Full check of one record file; 0 ok, else err says why. */
static int
verify_one(struct rec_store *rs, const char *id, struct intentus_err *err)
{
    cJSON *rec = rec_store_load(rs, id, err);
    const char *hid;
    int rc = -1;

    if (rec == NULL)
        return -1;
    hid = record_id(rec);
    if (strcmp(hid, id) != 0) {
        err_set(err, IERR_VERIFY, "header.executionId '%s' does not match the file name", hid);
        goto out;
    }
    if (envelope_validate(cJSON_GetObjectItemCaseSensitive(rec, "envelope"), err) != 0)
        goto out;
    if (record_verify_hash(rec, err) != 0)
        goto out;
    rc = 0;
out:
    cJSON_Delete(rec);
    return rc;
}

static int
records_verify(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    struct rec_ids ids = { 0 };
    size_t passed = 0, failed = 0;

    for (int i = a->first_arg; i < argc; i++) {
        if (!rec_store_id_is_valid(argv[i]))
            return cli_usage_error("records verify", "'%s' is not a valid execution id", argv[i]);
    }
    rs = open_store("records verify", a);
    if (rs == NULL)
        return EXIT_FAIL;
    if (a->first_arg < argc) {
        ids.n = (size_t)(argc - a->first_arg);
        ids.ids = calloc(ids.n, sizeof(char *));
        for (size_t i = 0; ids.ids != NULL && i < ids.n; i++)
            ids.ids[i] = strdup(argv[a->first_arg + (int)i]);
    } else if (rec_store_list(rs, &ids, &err) != 0) {
        fprintf(stderr, "intentus records verify: %s\n", err.msg);
        rec_store_close(rs);
        return EXIT_FAIL;
    }
    for (size_t i = 0; ids.ids != NULL && i < ids.n; i++) {
        if (ids.ids[i] != NULL && verify_one(rs, ids.ids[i], &err) == 0) {
            passed++;
        } else {
            failed++;
            printf("FAIL %s: %s\n", ids.ids[i] ? ids.ids[i] : "?", err.msg);
        }
    }
    printf("%zu passed, %zu failed\n", passed, failed);
    rec_store_ids_free(&ids);
    rec_store_close(rs);
    return failed > 0 ? EXIT_FAIL : EXIT_OK;
}

int
cli_records(int argc, char **argv)
{
    struct rec_args a = { 0 };
    const char *sub;
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
    if (strcmp(sub, "list") != 0 && strcmp(sub, "show") != 0 && strcmp(sub, "verify") != 0)
        return cli_usage_error("records", "unknown command '%s' (list, show, verify)", sub);
    rc = parse_args(strcmp(sub, "list") == 0   ? "records list"
                    : strcmp(sub, "show") == 0 ? "records show"
                                               : "records verify",
                    argc - 1, argv + 1, &a);
    if (rc != EXIT_OK)
        return rc;
    a.first_arg += 1; /* back to indexes of argv */
    if (strcmp(sub, "list") == 0) {
        if (a.first_arg < argc)
            return cli_usage_error("records list", "unexpected argument '%s'", argv[a.first_arg]);
        return records_list(&a);
    }
    if (strcmp(sub, "show") == 0)
        return records_show(&a, argc, argv);
    return records_verify(&a, argc, argv);
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
    rs = open_store("retrieve", &a);
    if (rs == NULL)
        return EXIT_FAIL;
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
        fprintf(stderr, "intentus retrieve: %s is not retrievable: Missing finalResponse in record\n",
                id);
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
