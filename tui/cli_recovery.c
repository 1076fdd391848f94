/* intentus wal verify|inspect and intentus recovery scan|resume|abort:
 * the command-line side of core/wal.c and core/recovery.c. Output shapes
 * follow the reference's CLI table (§7.1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/recovery.h"
#include "core/wal.h"
#include "tui/cli.h"

static const char wal_help[] =
    "Usage: intentus wal COMMAND ID [options]\n"
    "\n"
    "Commands:\n"
    "  verify ID      re-read <wal-dir>/ID.wal and check every line, the seq numbers,\n"
    "                 the prev_hash chain and every entry_hash; a torn final line (a\n"
    "                 write that did not finish) is reported as such\n"
    "  inspect ID     the entries (seq, type, time; with --json the whole entries)\n"
    "\n"
    "Options:\n"
    "  -w, --wal-dir DIR   WAL directory (default: the config's wal.dir, then\n"
    "                      .intentusnet/wal)\n"
    "  -c, --config FILE   config file to take wal.dir from\n"
    "  -j, --json          machine-readable output\n"
    "  -h, --help          this help\n"
    "Exit status: 0 verified, 1 missing, torn or corrupt, 2 usage error.\n";

static const char recovery_help[] =
    "Usage: intentus recovery COMMAND [ID] [options]\n"
    "\n"
    "Commands:\n"
    "  scan             executions that started and did not finish (and logs that are\n"
    "                   torn or corrupt), with whether each can be resumed safely: never\n"
    "                   after an irreversible step that started and did not finish,\n"
    "                   never when its record exists (it finished: \"record exists\"),\n"
    "                   and executions that ran but whose record was not written\n"
    "                   (\"record missing\")\n"
    "  resume ID        record that the execution is taken over (recovery.started);\n"
    "                   refused (exit 1) when resuming is not safe. Nothing is re-run.\n"
    "  close ID         close the log of an execution whose record exists, from the\n"
    "                   record (execution.completed, or execution.failed for an error\n"
    "                   record); a torn final line is cut off first\n"
    "  abort ID --reason R\n"
    "                   close the execution (execution.aborted); a torn final line is\n"
    "                   cut off first and reported\n"
    "\n"
    "resume, close and abort hold <wal-dir>/ID.lock while they write; a second process gets\n"
    "'Lock held by PID <pid> on <host>'. Locks of dead processes, or older than an\n"
    "hour, are reclaimed.\n"
    "\n"
    "Options:\n"
    "  -w, --wal-dir DIR   WAL directory (default: the config's wal.dir, then\n"
    "                      .intentusnet/wal)\n"
    "  -d, --dir DIR       records directory (scan, resume, close; default: the\n"
    "                      config's records directory)\n"
    "  -c, --config FILE   config file to take wal.dir and the records directory from\n"
    "  -r, --reason TEXT   why (abort)\n"
    "  -j, --json          machine-readable output (scan; resume, close and abort\n"
    "                      always print JSON)\n"
    "  -h, --help          this help\n";

struct wal_args {
    const char *cmd;
    const char *wal_dir, *config, *reason, *records_dir;
    int json;
    int first_arg;
    struct config *cfg;
};

static int
parse(const char *cmd, int argc, char **argv, struct wal_args *a)
{
    static const struct option opts[] = {
        { "wal-dir", required_argument, NULL, 'w' }, { "config", required_argument, NULL, 'c' },
        { "reason", required_argument, NULL, 'r' },  { "dir", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },          { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "w:c:r:d:j", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (strncmp(cmd, "recovery ", 9) != 0 || strcmp(cmd, "recovery abort") == 0)
                return cli_usage_error(cmd, "--dir is not an option of this command");
            a->records_dir = optarg;
            break;
        case 'w':
            a->wal_dir = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'r':
            a->reason = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        default:
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    a->first_arg = optind;
    if (a->wal_dir == NULL) {
        a->cfg = cli_load_config(a->config);
        if (a->cfg == NULL)
            return EXIT_USAGE;
        a->wal_dir = a->cfg->wal.dir;
    }
    /* Whether a record exists decides whether an execution finished. */
    if (a->records_dir == NULL && strncmp(cmd, "recovery ", 9) == 0 &&
        strcmp(cmd, "recovery abort") != 0) {
        if (a->cfg == NULL)
            a->cfg = cli_load_config(a->config);
        if (a->cfg == NULL)
            return EXIT_USAGE;
        a->records_dir = a->cfg->records_dir;
    }
    return EXIT_OK;
}

/* Exactly one ID argument. */
static const char *
one_id(const struct wal_args *a, int argc, char **argv, int *rc)
{
    *rc = EXIT_OK;
    if (a->first_arg >= argc) {
        *rc = cli_usage_error(a->cmd, "missing ID");
        return NULL;
    }
    if (a->first_arg + 1 < argc) {
        *rc = cli_usage_error(a->cmd, "unexpected argument '%s'", argv[a->first_arg + 1]);
        return NULL;
    }
    if (wal_path(".", argv[a->first_arg], ".wal", (char[256]){ 0 }, 256) != 0) {
        *rc = cli_usage_error(a->cmd, "'%s' is not a valid execution id", argv[a->first_arg]);
        return NULL;
    }
    return argv[a->first_arg];
}

static int
wal_verify_or_inspect(const struct wal_args *a, const char *id, bool inspect)
{
    struct intentus_err err = { 0 };
    struct wal_log log;
    cJSON *out;
    int rc;

    if (wal_read(a->wal_dir, id, &log, &err) != 0) {
        fprintf(stderr, "intentus %s: %s\n", a->cmd, err.msg);
        return EXIT_FAIL;
    }
    rc = log.status == WAL_OK ? EXIT_OK : EXIT_FAIL;
    if (a->json) {
        out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "execution_id", id);
        if (inspect) {
            cJSON_AddItemToObject(out, "entries", cJSON_Duplicate(log.entries, 1));
        } else {
            cJSON_AddBoolToObject(out, "verified", rc == EXIT_OK);
        }
        cJSON_AddNumberToObject(out, "entry_count", (double)log.n_entries);
        cJSON_AddStringToObject(out, "status", wal_check_name(log.status));
        cJSON_AddStringToObject(out, "state", wal_state_name(wal_state_reconstruct(log.entries)));
        if (log.status != WAL_OK)
            cJSON_AddStringToObject(out, "problem", log.problem);
        cli_print_json(stdout, out);
        cJSON_Delete(out);
    } else if (inspect) {
        const cJSON *e;
        printf("%-5s  %-28s  %s\n", "SEQ", "TYPE", "TIMESTAMP");
        cJSON_ArrayForEach(e, log.entries)
        {
            long long seq = 0;
            json_get_int64(e, "seq", &seq);
            printf("%-5lld  %-28s  %s\n", seq, json_get_string(e, "entry_type"),
                   json_get_string(e, "timestamp_iso"));
        }
        printf("state: %s\n", wal_state_name(wal_state_reconstruct(log.entries)));
    } else if (rc == EXIT_OK) {
        printf("\u2713 WAL verified: %zu entries\n", log.n_entries);
    }
    if (rc != EXIT_OK)
        fprintf(stderr, "intentus %s: %s: WAL %s: %s\n", a->cmd, id, wal_check_name(log.status),
                log.problem);
    wal_log_free(&log);
    return rc;
}

int
cli_wal(int argc, char **argv)
{
    struct wal_args a;
    const char *cmd, *id;
    int rc;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(wal_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(wal_help, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "verify") == 0)
        cmd = "wal verify";
    else if (strcmp(argv[1], "inspect") == 0)
        cmd = "wal inspect";
    else
        return cli_usage_error("wal", "unknown command '%s' (verify, inspect)", argv[1]);
    rc = parse(cmd, argc - 1, argv + 1, &a);
    if (rc == EXIT_OK && (id = one_id(&a, argc - 1, argv + 1, &rc)) != NULL)
        rc = wal_verify_or_inspect(&a, id, strcmp(argv[1], "inspect") == 0);
    config_free(a.cfg);
    return rc;
}

static int
recovery_scan_cmd(const struct wal_args *a)
{
    struct intentus_err err = { 0 };
    struct recovery_item *items;
    size_t n;
    cJSON *out, *list;

    if (recovery_scan_records(a->wal_dir, a->records_dir, &items, &n, &err) != 0) {
        if (err.code != IERR_NOT_FOUND) {
            fprintf(stderr, "intentus recovery scan: %s\n", err.msg);
            return EXIT_FAIL;
        }
        n = 0; /* no directory yet: nothing started */
        items = NULL;
    }
    if (a->json) {
        out = cJSON_CreateObject();
        list = cJSON_AddArrayToObject(out, "incomplete_executions");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(list, recovery_item_json(&items[i]));
        cJSON_AddNumberToObject(out, "count", (double)n);
        cli_print_json(stdout, out);
        cJSON_Delete(out);
    } else {
        printf("%-36s  %-11s  %-7s  %-8s  %-6s  %s\n", "EXECUTION ID", "STATE", "WAL", "RECORD",
               "RESUME", "REASON");
        for (size_t i = 0; i < n; i++)
            printf("%-36s  %-11s  %-7s  %-8s  %-6s  %s\n", items[i].execution_id,
                   wal_state_name(items[i].state), wal_check_name(items[i].wal_status),
                   items[i].record_exists    ? items[i].record_outcome
                   : items[i].record_missing ? "missing"
                                             : "-",
                   items[i].can_resume ? "yes" : "no", items[i].reason);
        printf("%zu incomplete execution%s\n", n, n == 1 ? "" : "s");
    }
    recovery_items_free(items, n);
    return EXIT_OK;
}

static int
recovery_resume_cmd(const struct wal_args *a, const char *id)
{
    struct intentus_err err = { 0 };
    struct recovery_item it;
    cJSON *out;

    if (recovery_resume_records(a->wal_dir, a->records_dir, id, &it, &err) != 0) {
        fprintf(stderr, "intentus recovery resume: %s\n", err.msg);
        return EXIT_FAIL;
    }
    out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "resumed", true);
    cJSON_AddStringToObject(out, "execution_id", id);
    cJSON_AddStringToObject(out, "state", wal_state_name(it.state));
    cJSON_AddItemToObject(out, "completed_steps", cJSON_Duplicate(it.completed_steps, 1));
    cli_print_json(stdout, out);
    cJSON_Delete(out);
    recovery_item_free(&it);
    return EXIT_OK;
}

static int
recovery_close_cmd(const struct wal_args *a, const char *id)
{
    struct intentus_err err = { 0 };
    struct recovery_item it;
    size_t cut = 0;
    cJSON *out;

    if (recovery_close(a->wal_dir, a->records_dir, id, &cut, &it, &err) != 0) {
        fprintf(stderr, "intentus recovery close: %s\n", err.msg);
        return EXIT_FAIL;
    }
    out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "closed", true);
    cJSON_AddStringToObject(out, "execution_id", id);
    cJSON_AddStringToObject(out, "state", wal_state_name(it.state));
    if (cut > 0)
        cJSON_AddNumberToObject(out, "torn_bytes_removed", (double)cut);
    cli_print_json(stdout, out);
    cJSON_Delete(out);
    recovery_item_free(&it);
    return EXIT_OK;
}

static int
recovery_abort_cmd(const struct wal_args *a, const char *id)
{
    struct intentus_err err = { 0 };
    size_t cut = 0;
    cJSON *out;

    if (a->reason == NULL)
        return cli_usage_error(a->cmd, "--reason is required");
    if (recovery_abort(a->wal_dir, id, a->reason, &cut, &err) != 0) {
        fprintf(stderr, "intentus recovery abort: %s\n", err.msg);
        return EXIT_FAIL;
    }
    out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "aborted", true);
    cJSON_AddStringToObject(out, "execution_id", id);
    cJSON_AddStringToObject(out, "reason", a->reason);
    if (cut > 0)
        cJSON_AddNumberToObject(out, "torn_bytes_removed", (double)cut);
    cli_print_json(stdout, out);
    cJSON_Delete(out);
    return EXIT_OK;
}

int
cli_recovery(int argc, char **argv)
{
    struct wal_args a;
    const char *sub, *id;
    char cmd[32];
    int rc;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(recovery_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(recovery_help, stdout);
        return EXIT_OK;
    }
    sub = argv[1];
    if (strcmp(sub, "scan") != 0 && strcmp(sub, "resume") != 0 && strcmp(sub, "close") != 0 &&
        strcmp(sub, "abort") != 0)
        return cli_usage_error("recovery", "unknown command '%s' (scan, resume, close, abort)",
                               sub);
    snprintf(cmd, sizeof(cmd), "recovery %s", sub);
    rc = parse(cmd, argc - 1, argv + 1, &a);
    if (rc != EXIT_OK)
        goto out;
    if (strcmp(sub, "scan") == 0) {
        rc = a.first_arg < argc - 1
                 ? cli_usage_error(cmd, "unexpected argument '%s'", argv[a.first_arg + 1])
                 : recovery_scan_cmd(&a);
        goto out;
    }
    if ((id = one_id(&a, argc - 1, argv + 1, &rc)) == NULL)
        goto out;
    rc = strcmp(sub, "resume") == 0  ? recovery_resume_cmd(&a, id)
         : strcmp(sub, "close") == 0 ? recovery_close_cmd(&a, id)
                                     : recovery_abort_cmd(&a, id);
out:
    config_free(a.cfg);
    return rc;
}
