/* intentus records gc: retention from the command line (core/retention.h).
 * The reference's name and flag: `records gc --older-than 30` (days). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/retention.h"
#include "tui/cli.h"
#include "tui/cli_records.h"
#include "tui/fmt.h"

static void
fmt_bytes(uint64_t b, char *out, size_t size)
{
    static const char units[] = "KMGT";
    double v = (double)b;
    int u = -1;

    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(out, size, "%llu B", (unsigned long long)b);
    else
        snprintf(out, size, "%.1f %ciB", v, units[u]);
}

static cJSON *
report_json(const struct retention_report *r, bool dry_run, const char *action)
{
    cJSON *o = cJSON_CreateObject(), *by;
    char when[CLOCK_ISO_LEN];

    cJSON_AddBoolToObject(o, "dryRun", dry_run);
    cJSON_AddStringToObject(o, "action", action);
    cJSON_AddNumberToObject(o, dry_run ? "would_delete_count" : "deleted_count", (double)r->count);
    cJSON_AddNumberToObject(o, "bytes", (double)r->bytes);
    cJSON_AddNumberToObject(o, dry_run ? "would_remove_wal_count" : "removed_wal_count",
                            (double)r->wal_count);
    cJSON_AddNumberToObject(o, "walBytes", (double)r->wal_bytes);
    cJSON_AddNumberToObject(o, "walKept", (double)r->wal_kept);
    if (!dry_run)
        cJSON_AddNumberToObject(o, "locksRemoved", (double)r->locks_removed);
    if (r->count > 0) {
        clock_format_iso(r->oldest_us, when);
        cJSON_AddStringToObject(o, "oldestId", r->oldest_id);
        cJSON_AddStringToObject(o, "oldest", when);
        clock_format_iso(r->newest_us, when);
        cJSON_AddStringToObject(o, "newestId", r->newest_id);
        cJSON_AddStringToObject(o, "newest", when);
    }
    by = cJSON_AddObjectToObject(o, "byIntent");
    for (size_t i = 0; i < r->n_intents; i++) {
        cJSON *x = cJSON_AddObjectToObject(by, r->intents[i].intent);
        cJSON_AddNumberToObject(x, "count", (double)r->intents[i].count);
        cJSON_AddNumberToObject(x, "bytes", (double)r->intents[i].bytes);
    }
    if (dry_run) {
        cJSON_AddNumberToObject(o, "keptCount", (double)r->kept_count);
        cJSON_AddNumberToObject(o, "keptBytes", (double)r->kept_bytes);
    } else {
        cJSON_AddNumberToObject(o, "skippedChanged", (double)r->skipped_changed);
        cJSON_AddNumberToObject(o, "alreadyGone", (double)r->already_gone);
    }
    cJSON_AddNumberToObject(o, "skippedCorrupt", (double)r->skipped_corrupt);
    return o;
}

static void
report_text(FILE *f, const struct retention_report *r, const char *verb)
{
    char bytes[32], a[32], b[32];

    fmt_bytes(r->bytes, bytes, sizeof(bytes));
    fprintf(f, "%s %llu records, %s", verb, (unsigned long long)r->count, bytes);
    if (r->count > 0) {
        fmt_time_short(r->oldest_us, a, sizeof(a));
        fmt_time_short(r->newest_us, b, sizeof(b));
        fprintf(f, ", from %s (%s) to %s (%s)", a, r->oldest_id, b, r->newest_id);
    }
    fprintf(f, "\n");
    if (r->wal_count > 0 || r->wal_kept > 0) {
        fmt_bytes(r->wal_bytes, bytes, sizeof(bytes));
        fprintf(f, "  and %llu WAL files, %s", (unsigned long long)r->wal_count, bytes);
        if (r->wal_kept > 0)
            fprintf(f, " (%llu WALs of unfinished or damaged executions kept)",
                    (unsigned long long)r->wal_kept);
        fprintf(f, "\n");
    }
    for (size_t i = 0; i < r->n_intents; i++) {
        fmt_bytes(r->intents[i].bytes, bytes, sizeof(bytes));
        fprintf(f, "  %-32s %8llu records  %s\n", r->intents[i].intent,
                (unsigned long long)r->intents[i].count, bytes);
    }
    if (r->skipped_corrupt > 0)
        fprintf(f, "  (%llu files that are not valid records left alone)\n",
                (unsigned long long)r->skipped_corrupt);
}

/* Ask on the terminal; only an explicit "y"/"yes" goes ahead. */
static bool
confirm(const struct retention_report *r, const char *dir, const char *archive)
{
    char line[64], bytes[32];

    fmt_bytes(r->bytes, bytes, sizeof(bytes));
    fprintf(stderr, "%s %llu records (%s) from %s%s%s? [y/N] ", archive ? "Archive" : "Delete",
            (unsigned long long)r->count, bytes, dir, archive ? " into " : "",
            archive ? archive : "");
    fflush(stderr);
    if (fgets(line, sizeof(line), stdin) == NULL)
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

static int
progress(void *ctx, size_t done, size_t total, const char *id)
{
    (void)ctx;
    (void)id;
    if (done == total || done % 100 == 0)
        fprintf(stderr, "\r%zu/%zu", done, total);
    if (done == total)
        fprintf(stderr, "\n");
    return 0;
}

int
cli_records_gc(const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL, *wcfg = NULL;
    const char *dir = cli_records_dir_of(a, &cfg), *wal_dir = a->wal_dir;
    struct retention_policy p = { a->older_than_ms, a->max_count, a->max_bytes };
    struct retention_apply_opts ao = { .archive_dir = a->archive };
    const char *action = a->archive ? "archive" : "delete";
    struct retention_plan *plan = NULL;
    const struct retention_report *planned;
    struct retention_report done = { 0 };
    const char *auto_confirm = getenv("INTENTUSNET_AUTO_CONFIRM");
    int rc = EXIT_FAIL;

    if (p.max_age_ms < 0 && p.max_count < 0 && p.max_bytes < 0) {
        config_free(cfg);
        return cli_usage_error(a->cmd, "give at least one of --older-than, --max-count, "
                                       "--max-bytes");
    }
    if (dir == NULL) {
        rc = EXIT_USAGE; /* the config did not load; the error is printed */
        goto out;
    }
    /* The records' WALs go with them: --wal-dir, else the config's wal.dir. */
    if (wal_dir == NULL && cfg != NULL)
        wal_dir = cfg->wal.dir;
    if (wal_dir == NULL && (wcfg = cli_load_config(a->config)) == NULL) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (wal_dir == NULL)
        wal_dir = wcfg->wal.dir;
    plan = retention_plan_new_wal(dir, wal_dir, &p, 0, &err);
    if (plan == NULL) {
        fprintf(stderr, "intentus records gc: %s\n", err.msg);
        goto out;
    }
    planned = retention_plan_report(plan);
    if (a->dry_run || planned->count == 0) {
        if (a->json) {
            cJSON *o = report_json(planned, true, action);
            cli_print_json(stdout, o);
            cJSON_Delete(o);
        } else {
            report_text(stdout, planned, a->dry_run ? "would remove" : "nothing to do:");
        }
        rc = EXIT_OK;
        goto out;
    }
    if (!a->yes && !(auto_confirm != NULL && strcmp(auto_confirm, "1") == 0)) {
        if (!isatty(STDIN_FILENO)) {
            report_text(stderr, planned, "would remove");
            fprintf(stderr,
                    "intentus records gc: not on a terminal: refusing to %s without "
                    "--yes (or see --dry-run)\n",
                    action);
            rc = EXIT_USAGE;
            goto out;
        }
        report_text(stderr, planned, "to remove:");
        if (!confirm(planned, dir, a->archive)) {
            fprintf(stderr, "intentus records gc: nothing done\n");
            rc = EXIT_FAIL;
            goto out;
        }
    }
    if (isatty(STDERR_FILENO))
        ao.progress = progress;
    if (retention_apply(plan, &ao, &done, &err) != 0)
        fprintf(stderr, "intentus records gc: %s\n", err.msg);
    else
        rc = EXIT_OK;
    if (a->json) {
        cJSON *o = report_json(&done, false, action);
        cli_print_json(stdout, o);
        cJSON_Delete(o);
    } else {
        report_text(stdout, &done, a->archive ? "archived" : "deleted");
    }
    if (done.skipped_changed > 0)
        fprintf(stderr,
                "intentus records gc: %llu records changed since the plan were left "
                "alone\n",
                (unsigned long long)done.skipped_changed);
out:
    retention_report_free(&done);
    retention_plan_free(plan);
    config_free(wcfg);
    config_free(cfg);
    return rc;
}
