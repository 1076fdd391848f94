/* intentus records gc: retention from the command line (core/retention.h).
 * The reference's name and flag: `records gc --older-than 30` (days). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/retention.h"
#include "core/store.h"
#include "tui/cli.h"
#include "tui/cli_records.h"
#include "tui/fmt.h"
#include "tui/store_gc.h"
#include "watch/digest.h"
#include "watch/index_db.h"
#include "watch/index_plan.h"
#include "watch/index_query.h"
#include "watch/stores.h"

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

/* The planned ids a dry run lists: a retention plan's, or a store's. */
struct plan_ids {
    const struct retention_plan *plan;
    char **ids;
    size_t n;
};

static size_t
plan_ids_size(const struct plan_ids *p)
{
    return p->plan != NULL ? retention_plan_size(p->plan) : p->n;
}

static const char *
plan_ids_at(const struct plan_ids *p, size_t i)
{
    return p->plan != NULL ? retention_plan_id(p->plan, i) : p->ids[i];
}

/* ids: the dry run's plan, whose ids are listed; NULL after applying. */
static cJSON *
report_json_ids(const struct retention_report *r, const struct plan_ids *ids, const char *action)
{
    bool dry_run = ids != NULL;
    cJSON *o = cJSON_CreateObject(), *by;

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
        char when[CLOCK_ISO_LEN];
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
    cJSON_AddNumberToObject(o, "notSelected", (double)r->not_selected);
    if (dry_run) {
        cJSON *arr = cJSON_AddArrayToObject(o, "ids");
        for (size_t i = 0; i < plan_ids_size(ids); i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(plan_ids_at(ids, i)));
    }
    return o;
}

static cJSON *
report_json(const struct retention_report *r, const struct retention_plan *plan, const char *action)
{
    struct plan_ids ids = { .plan = plan };

    return report_json_ids(r, plan != NULL ? &ids : NULL, action);
}

static void
report_text(FILE *f, const struct retention_report *r, const char *verb)
{
    char bytes[32];

    fmt_bytes(r->bytes, bytes, sizeof(bytes));
    fprintf(f, "%s %llu records, %s", verb, (unsigned long long)r->count, bytes);
    if (r->count > 0) {
        char a[32], b[32];
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
        char intent[FMT_ESC_SIZE(128)];
        fmt_escape(r->intents[i].intent, strlen(r->intents[i].intent), 0, intent, sizeof(intent));
        fmt_bytes(r->intents[i].bytes, bytes, sizeof(bytes));
        fprintf(f, "  %-32s %8llu records  %s\n", intent, (unsigned long long)r->intents[i].count,
                bytes);
    }
    if (r->skipped_corrupt > 0)
        fprintf(f, "  (%llu files that are not valid records left alone)\n",
                (unsigned long long)r->skipped_corrupt);
    if (r->not_selected > 0)
        fprintf(f, "  (%llu records outside the filters left alone)\n",
                (unsigned long long)r->not_selected);
}

/* The dry run's list: every id applying the plan would remove, oldest first. */
static void
list_plan(FILE *f, const struct retention_plan *plan)
{
    for (size_t i = 0; i < retention_plan_size(plan); i++)
        fprintf(f, "  remove %s\n", retention_plan_id(plan, i));
}

/* Ask on the terminal; only an explicit "y"/"yes" goes ahead. */
static bool
confirm(const struct retention_report *r, const char *dir, const char *archive)
{
    char line[64], bytes[32];

    fmt_bytes(r->bytes, bytes, sizeof(bytes));
    fprintf(stderr, "%s %llu records (%s) from ", archive ? "Archive" : "Delete",
            (unsigned long long)r->count, bytes);
    cli_put_escaped(stderr, dir, strlen(dir), 0);
    if (archive != NULL) {
        fputs(" into ", stderr);
        cli_put_escaped(stderr, archive, strlen(archive), 0);
    }
    fputs("? [y/N] ", stderr);
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

/* The archive directory must be (or become) a directory we can write: say
 * what is wrong with it, naming the option (or config key) it came from,
 * before anything is planned. */
static int
check_archive(const char *cmd, const char *from, const char *path)
{
    struct stat st;
    char *up;
    int rc = EXIT_OK;

    if (path[0] == '\0')
        return cli_usage_error(cmd, "%s: empty path", from);
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return cli_usage_error(cmd, "%s %s: exists and is not a directory", from, path);
        if (access(path, W_OK | X_OK) != 0)
            return cli_usage_error(cmd, "%s %s: cannot write there: %s", from, path,
                                   strerror(errno));
        return EXIT_OK;
    }
    if (errno != ENOENT && errno != ENOTDIR)
        return cli_usage_error(cmd, "%s %s: %s", from, path, strerror(errno));
    /* Missing: gc creates it (mkdir -p); the nearest existing ancestor must
     * be a directory we may create entries in. */
    up = strdup(path);
    if (up == NULL)
        return cli_usage_error(cmd, "out of memory");
    for (;;) {
        char *slash = strrchr(up, '/');
        if (slash == NULL) {
            snprintf(up, strlen(up) + 1, ".");
        } else if (slash == up) {
            up[1] = '\0';
        } else {
            *slash = '\0';
        }
        if (stat(up, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                rc = cli_usage_error(cmd, "%s %s: cannot be created: %s is not a directory", from,
                                     path, up);
            else if (access(up, W_OK | X_OK) != 0)
                rc = cli_usage_error(cmd, "%s %s: cannot be created in %s: %s", from, path, up,
                                     strerror(errno));
            break;
        }
        if ((errno != ENOENT && errno != ENOTDIR) || strcmp(up, ".") == 0 || strcmp(up, "/") == 0) {
            rc = cli_usage_error(cmd, "%s %s: cannot be created: %s: %s", from, path, up,
                                 strerror(errno));
            break;
        }
    }
    free(up);
    return rc;
}

struct gc_select {
    struct cli_select *sel;
};

static bool
select_record(void *ctx, const char *id, const char *text, size_t len)
{
    struct gc_select *g = ctx;
    struct digest *d = digest_from_text(id, text, len, NULL);
    bool match = d != NULL && cli_select_digest(g->sel, d);

    digest_free(d);
    return match;
}

/* The plan of dir: in SQL over the persistent index's rows when they stand
 * for the directory (watch/index_plan.h: nothing listed, only the planned
 * rows read), else from its rows beside a listing of the directory (a
 * directory holding .json.gz records), else from the files alone
 * (--no-index, or an index that cannot be used: said on stderr). */
static struct retention_plan *
gc_plan(const struct rec_args *a, const char *dir, const struct cli_select *sel,
        struct retention_scope *scope, const struct retention_policy *p, struct intentus_err *err)
{
    struct intentus_err why = { 0 };
    struct index_db *db = cli_records_db(a, dir, &why);
    struct retention_plan *plan;
    bool failed;

    /* db NULL: a missing directory (the plan says so) */
    plan = index_plan_retention(db, dir, sel != NULL ? cli_select_filter(sel) : NULL, scope, p, 0,
                                err, &failed, &why);
    if (failed)
        cli_records_db_failed(a, &why);
    index_db_close(db);
    return plan;
}

/* The policy: the limit options, else the config's "retention" section (as
 * the console's Retention screen starts from it). *archive and *from: the
 * archive directory and what named it. */
static int
gc_policy(const struct rec_args *a, struct config **cfg, struct retention_policy *p,
          const char **archive, const char **from)
{
    *p = (struct retention_policy){ a->older_than_ms, a->max_count, a->max_bytes };
    *archive = a->archive;
    *from = "--archive";
    if (p->max_age_ms >= 0 || p->max_count >= 0 || p->max_bytes >= 0)
        return EXIT_OK;
    if (*cfg == NULL && (*cfg = cli_load_config(a->config)) == NULL)
        return EXIT_USAGE; /* the error is printed */
    if (!(*cfg)->retention.configured ||
        ((*cfg)->retention.max_age_ms < 0 && (*cfg)->retention.max_count < 0 &&
         (*cfg)->retention.max_bytes < 0))
        return cli_usage_error(a->cmd, "give at least one of --older-than, --max-count, "
                                       "--max-bytes (or set them in the config's \"retention\")");
    *p = (struct retention_policy){ (*cfg)->retention.max_age_ms, (*cfg)->retention.max_count,
                                    (*cfg)->retention.max_bytes };
    if (*archive == NULL && (*cfg)->retention.archive_dir != NULL) {
        *archive = (*cfg)->retention.archive_dir;
        *from = "retention.archive_dir (config)";
    }
    return EXIT_OK;
}

static void
print_report(const struct rec_args *a, const struct retention_plan *plan,
             const struct retention_report *r, bool dry_run, const char *action, const char *verb)
{
    if (a->json) {
        cJSON *o = report_json(r, dry_run ? plan : NULL, action);
        cli_print_json(stdout, o);
        cJSON_Delete(o);
    } else {
        report_text(stdout, r, verb);
    }
}

/* ---- gc on another engine than files (a->store) ---- */

struct srow {
    char *id, *intent;
    int64_t created_us;
    uint64_t size;
};

struct srows {
    struct srow *v;
    size_t n, cap;
    uint64_t corrupt;
    bool failed;
};

static int
collect_srow(void *ctx, const struct store_row *row)
{
    struct srows *r = ctx;

    if (row->flags & STORE_ROW_CORRUPT) {
        r->corrupt++; /* not a record: left alone, as on files */
        return 0;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        struct srow *v = realloc(r->v, cap * sizeof(*v));
        if (v == NULL) {
            r->failed = true;
            return 1;
        }
        r->v = v;
        r->cap = cap;
    }
    r->v[r->n] = (struct srow){ strdup(row->id), strdup(row->intent ? row->intent : "(none)"),
                                row->created_us, row->size };
    if (r->v[r->n].id == NULL || r->v[r->n].intent == NULL) {
        free(r->v[r->n].id);
        free(r->v[r->n].intent);
        r->failed = true;
        return 1;
    }
    r->n++;
    return 0;
}

static void
srows_free(struct srows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].id);
        free(r->v[i].intent);
    }
    free(r->v);
}

struct store_gc_plan {
    struct srows rows;
    size_t take; /* rows[0, take) go, oldest first */
    struct retention_report planned;
};

/* The rows one after the other, oldest first (store_query's order), for
 * the policy (core/retention.h retention_policy_run). */
struct srow_walk {
    const struct srows *rows;
    size_t at;
};

static int
next_srow(void *ctx, struct retention_row *row, struct intentus_err *err)
{
    struct srow_walk *w = ctx;
    const struct srow *r;

    (void)err;
    if (w->at == w->rows->n)
        return 0;
    r = &w->rows->v[w->at++];
    *row = (struct retention_row){
        .id = r->id, .intent = r->intent, .created_us = r->created_us, .size = (int64_t)r->size
    };
    return 1;
}

static int
count_take(void *ctx, const struct retention_row *row, struct intentus_err *err)
{
    (void)row;
    (void)err;
    ((struct store_gc_plan *)ctx)->take++;
    return 0;
}

/* gzip text into archive/<id>.json.gz: a hidden temp file, synced, then
 * linked into place (an existing archive file is never replaced). With
 * seal (the record was stored sealed) the gzip bytes are sealed whole
 * (kind CRYPT_RECORD_GZ), as retention seals a file store's archives, so
 * what was encrypted stays encrypted. */
static int
archive_text(const char *archive, const char *id, const char *text, size_t len,
             const struct crypt_keyring *seal, struct intentus_err *err)
{
    char tmp[PATH_MAX], final[PATH_MAX];
    struct buf sealed = BUF_INIT;
    unsigned char *gz = NULL;
    const void *data;
    size_t dlen, bound;
    z_stream zs;
    int fd = -1, rc = -1;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    bound = deflateBound(&zs, (uLong)len) + 64;
    if ((gz = malloc(bound)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    zs.next_in = (Bytef *)(uintptr_t)text;
    zs.avail_in = (uInt)len;
    zs.next_out = gz;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        err_set(err, IERR_IO, "gzip of %s failed", id);
        goto out;
    }
    data = gz;
    dlen = zs.total_out;
    if (seal != NULL) {
        if (crypt_seal(seal, CRYPT_RECORD_GZ, gz, dlen, &sealed, err) != 0) {
            err_prefix(err, "archive of record %s", id);
            goto out;
        }
        data = sealed.data;
        dlen = sealed.len;
    }
    snprintf(tmp, sizeof(tmp), "%s/.%s.json.gz.tmp", archive, id);
    snprintf(final, sizeof(final), "%s/%s.json.gz", archive, id);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(err, IERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (rec_store_write_all(fd, data, dlen) != 0) {
        err_set(err, IERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (fsync(fd) != 0 || link(tmp, final) != 0) {
        err_set(err, IERR_IO, "cannot create %s: %s", final, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    deflateEnd(&zs);
    free(gz);
    buf_free(&sealed);
    return rc;
}

/* Delete (or archive, then delete) a plan's records through the store;
 * done reports what went (tui/store_gc.h). */
int
store_gc_apply(struct store *st, const struct store_gc_plan *plan, const char *archive,
               store_gc_progress_fn progress_cb, void *ctx, struct retention_report *done,
               struct intentus_err *err)
{
    for (size_t i = 0; i < plan->take; i++) {
        const struct srow *row = &plan->rows.v[i];
        if (progress_cb != NULL && progress_cb(ctx, i, plan->take, row->id) != 0) {
            done->interrupted = true;
            break;
        }
        if (archive != NULL) {
            /* A sealed text (sqlite, postgres) is opened, gzipped and
             * sealed again with the reading keys' newest key; one no key
             * opens fails here, before anything is deleted. */
            size_t len = 0;
            enum crypt_status cst = CRYPT_PLAIN;
            char *text = store_get_open(st, row->id, &len, &cst, err);
            int arc = text != NULL ? archive_text(archive, row->id, text, len,
                                                  cst == CRYPT_OK ? crypt_reader() : NULL, err)
                                   : -1;
            if (text != NULL)
                explicit_bzero(text, len);
            free(text);
            if (arc != 0 && err->code == IERR_NOT_FOUND) {
                done->already_gone++;
                memset(err, 0, sizeof(*err));
                continue;
            }
            if (arc != 0)
                return -1;
        }
        if (store_del(st, row->id, err) != 0) {
            if (err->code == IERR_NOT_FOUND) {
                done->already_gone++;
                memset(err, 0, sizeof(*err));
                continue;
            }
            return -1;
        }
        if (retention_report_add(done, row->id, row->intent, row->created_us, row->size) != 0) {
            err_set(err, IERR_NOMEM, "out of memory");
            return -1;
        }
    }
    if (!done->interrupted && progress_cb != NULL)
        progress_cb(ctx, plan->take, plan->take, NULL);
    retention_report_sort(done);
    return 0;
}

/* Retention on a store: the same policy as on files (core/retention.h),
 * planned from the store's rows, oldest first: every selected record older
 * than the age cutoff, then more of the oldest until the count and byte
 * limits hold (tui/store_gc.h). */
struct store_gc_plan *
store_gc_plan_new(struct store *st, const struct store_filter *f, const struct retention_policy *p,
                  struct intentus_err *err)
{
    struct store_gc_plan *plan = calloc(1, sizeof(*plan));
    struct store_query q = { .filter = f };
    struct srow_walk walk = { 0 };
    uint64_t left_bytes = 0;
    long total, corrupt;

    if (plan == NULL) {
        err_set(err, IERR_NOMEM, "out of memory");
        return NULL;
    }
    total = store_count(st, NULL, err);
    /* Corrupt records are left alone and counted as such, selected or not
     * (as the file plan counts every file that is not a record). */
    corrupt = total < 0 ? -1 : store_count(st, &(struct store_filter){ .status = "corrupt" }, err);
    if (total < 0 || corrupt < 0 || store_query(st, &q, collect_srow, &plan->rows, err) < 0 ||
        plan->rows.failed) {
        if (plan->rows.failed)
            err_set(err, IERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < plan->rows.n; i++)
        left_bytes += plan->rows.v[i].size;
    walk.rows = &plan->rows;
    if (retention_policy_run(p, 0, plan->rows.n, left_bytes, next_srow, &walk, count_take, plan,
                             &plan->planned, err) != 0)
        goto fail;
    plan->planned.skipped_corrupt = (uint64_t)corrupt;
    plan->planned.not_selected = (uint64_t)total - plan->rows.n - (uint64_t)corrupt;
    return plan;
fail:
    store_gc_plan_free(plan);
    return NULL;
}

const struct retention_report *
store_gc_plan_report(const struct store_gc_plan *plan)
{
    return &plan->planned;
}

size_t
store_gc_plan_size(const struct store_gc_plan *plan)
{
    return plan->take;
}

const char *
store_gc_plan_id(const struct store_gc_plan *plan, size_t i)
{
    return i < plan->take ? plan->rows.v[i].id : NULL;
}

void
store_gc_plan_free(struct store_gc_plan *plan)
{
    if (plan == NULL)
        return;
    retention_report_free(&plan->planned);
    srows_free(&plan->rows);
    free(plan);
}

static int
gc_store(const struct rec_args *a, const struct retention_policy *p, const char *archive,
         const char *action)
{
    struct intentus_err err = { 0 };
    struct store_opts o = { 0 };
    struct store *st = NULL;
    struct index_filter xf;
    struct store_filter f = { 0 };
    struct store_gc_plan *plan = NULL;
    const struct retention_report *planned;
    struct retention_report done = { 0 };
    struct plan_ids ids = { 0 };
    const char *auto_confirm = getenv("INTENTUSNET_AUTO_CONFIRM");
    size_t take;
    int rc = EXIT_FAIL;

    /* --archive opens sealed records (and seals their archives) with the
     * reading keys. */
    if (archive != NULL && cli_records_store_keys(a) != 0)
        return EXIT_USAGE;
    st = store_open_url(stores_builtin, a->store, &o, &err);
    if (st == NULL) {
        cli_error(a->cmd, "%s: %s", a->store, err.msg);
        return EXIT_FAIL;
    }
    cli_records_filter(a, &xf);
    f = (struct store_filter){ .intent = xf.intent,
                               .agent = xf.agent,
                               .status = xf.status,
                               .error_code = xf.error_code,
                               .text = xf.text,
                               .since_us = xf.since_us };
    plan = store_gc_plan_new(st, &f, p, &err);
    if (plan == NULL) {
        cli_error(a->cmd, "%s: %s", a->store, err.msg);
        goto out;
    }
    planned = store_gc_plan_report(plan);
    take = store_gc_plan_size(plan);
    ids.ids = calloc(take + 1, sizeof(*ids.ids));
    for (size_t i = 0; ids.ids != NULL && i < take; i++)
        ids.ids[ids.n++] = (char *)store_gc_plan_id(plan, i);
    if (a->dry_run || take == 0) {
        if (a->json) {
            cJSON *j = report_json_ids(planned, &ids, action);
            cli_print_json(stdout, j);
            cJSON_Delete(j);
        } else {
            report_text(stdout, planned, a->dry_run ? "would remove" : "nothing to do:");
            for (size_t i = 0; a->dry_run && i < ids.n; i++)
                printf("  remove %s\n", ids.ids[i]);
        }
        rc = EXIT_OK;
        goto out;
    }
    if (!a->yes && !(auto_confirm != NULL && strcmp(auto_confirm, "1") == 0)) {
        if (!isatty(STDIN_FILENO)) {
            report_text(stderr, planned, "would remove");
            cli_error(a->cmd, "not on a terminal: refusing to %s without --yes (or see --dry-run)",
                      action);
            rc = EXIT_USAGE;
            goto out;
        }
        report_text(stderr, planned, "to remove:");
        if (!confirm(planned, a->store, archive)) {
            cli_error(a->cmd, "nothing done");
            goto out;
        }
    }
    if (archive != NULL && mkdir(archive, 0700) != 0 && errno != EEXIST) {
        cli_error(a->cmd, "cannot create %s: %s", archive, strerror(errno));
        goto out;
    }
    rc = EXIT_OK;
    if (store_gc_apply(st, plan, archive, isatty(STDERR_FILENO) ? progress : NULL, NULL, &done,
                       &err) != 0) {
        cli_error(a->cmd, "%s", err.msg);
        rc = EXIT_FAIL;
    }
    if (a->json) {
        cJSON *j = report_json_ids(&done, NULL, action);
        cli_print_json(stdout, j);
        cJSON_Delete(j);
    } else {
        report_text(stdout, &done, archive ? "archived" : "deleted");
    }
out:
    free(ids.ids);
    retention_report_free(&done);
    store_gc_plan_free(plan);
    store_close(st);
    return rc;
}

int
cli_records_gc(const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL, *wcfg = NULL;
    const char *dir = cli_records_dir_of(a, &cfg), *archive = NULL, *from = NULL;
    const char *wdir = a->wal_dir;
    struct retention_policy p;
    struct gc_select gs = { NULL };
    struct retention_select sel = { select_record, &gs };
    struct retention_scope scope = { .wal_dir = NULL };
    struct retention_apply_opts ao = { 0 };
    const char *action;
    struct retention_plan *plan = NULL;
    const struct retention_report *planned;
    struct retention_report done = { 0 };
    const char *auto_confirm = getenv("INTENTUSNET_AUTO_CONFIRM");
    int rc = EXIT_USAGE;

    if (dir == NULL)
        goto out; /* the config did not load; the error is printed */
    if ((rc = gc_policy(a, &cfg, &p, &archive, &from)) != EXIT_OK)
        goto out;
    if (archive != NULL && (rc = check_archive(a->cmd, from, archive)) != EXIT_OK)
        goto out;
    rc = EXIT_FAIL;
    ao.archive_dir = archive;
    action = archive ? "archive" : "delete";
    if (a->store != NULL) {
        /* No files, no WALs beside them: --wal-dir cannot take effect. */
        if (a->wal_dir != NULL)
            rc = cli_usage_error(a->cmd, "--wal-dir: gc on %s removes records only", a->store);
        else
            rc = gc_store(a, &p, archive, action);
        goto out;
    }
    if (cli_records_filtered(a) && (gs.sel = cli_select_new(a)) == NULL) {
        cli_error(a->cmd, "out of memory");
        goto out;
    }
    /* The records' WALs go with them: --wal-dir, else the config's wal.dir. */
    if (wdir == NULL && cfg != NULL)
        wdir = cfg->wal.dir;
    if (wdir == NULL && (wcfg = cli_load_config(a->config)) == NULL) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (wdir == NULL)
        wdir = wcfg->wal.dir;
    scope.wal_dir = wdir;
    scope.sel = gs.sel != NULL ? &sel : NULL;
    plan = gc_plan(a, dir, gs.sel, &scope, &p, &err);
    if (plan == NULL) {
        cli_error(a->cmd, "%s", err.msg);
        goto out;
    }
    planned = retention_plan_report(plan);
    if (a->dry_run || planned->count == 0) {
        print_report(a, plan, planned, true, action,
                     a->dry_run ? "would remove" : "nothing to do:");
        if (a->dry_run && !a->json)
            list_plan(stdout, plan);
        rc = EXIT_OK;
        goto out;
    }
    if (!a->yes && !(auto_confirm != NULL && strcmp(auto_confirm, "1") == 0)) {
        if (!isatty(STDIN_FILENO)) {
            report_text(stderr, planned, "would remove");
            cli_error(a->cmd, "not on a terminal: refusing to %s without --yes (or see --dry-run)",
                      action);
            rc = EXIT_USAGE;
            goto out;
        }
        report_text(stderr, planned, "to remove:");
        if (!confirm(planned, dir, archive)) {
            cli_error(a->cmd, "nothing done");
            rc = EXIT_FAIL;
            goto out;
        }
    }
    if (isatty(STDERR_FILENO))
        ao.progress = progress;
    if (retention_apply(plan, &ao, &done, &err) != 0)
        cli_error(a->cmd, "%s", err.msg);
    else
        rc = EXIT_OK;
    print_report(a, plan, &done, false, action, archive ? "archived" : "deleted");
    if (done.skipped_changed > 0)
        cli_error(a->cmd, "%llu records changed since the plan were left alone",
                  (unsigned long long)done.skipped_changed);
out:
    retention_report_free(&done);
    retention_plan_free(plan);
    cli_select_free(gs.sel);
    config_free(wcfg);
    config_free(cfg);
    return rc;
}
