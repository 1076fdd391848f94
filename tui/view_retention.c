/* Retention: the policy for this run (editable), a dry run that says
 * exactly what would go (count, bytes, oldest and newest, per intent), a
 * typed confirmation, then the apply on a worker thread with a progress bar
 * (count, bytes, rate, time left) and a cancel key. The summary stays on
 * screen and in the directory's retention log; the watcher shows the
 * removals as they happen. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/clock.h"
#include "core/retention.h"
#include "core/units.h"
#include "tui/app.h"
#include "tui/fmt.h"
#include "tui/job.h"
#include "tui/store_gc.h"
#include "tui/table.h"
#include "watch/index_plan.h"
#include "watch/stores.h"

struct ret {
    char older_than[32], max_count[32], max_bytes[32], archive[256];
    struct retention_plan *plan;
    char error[300];
    /* the job (tui/job.h): running from job_run until its done callback */
    struct app *app;
    bool running;
    const struct job_ctl *ctl; /* the apply's, for its progress callback */
    atomic_bool cancel;
    atomic_size_t done, total;
    int64_t started_us;
    atomic_llong finished_us; /* set by the worker last: 0 while it runs */
    struct retention_report result;
    bool have_result;
    int rc;
    struct intentus_err err;
    /* planning (the dry run reads every record: also off the loop thread) */
    bool planning;
    struct retention_policy policy;
    struct retention_plan *new_plan;
    char records_dir[512];
    char wal_dir[512];        /* the records' WALs go with them (config wal.dir) */
    char db_path[4096];       /* the persistent index the plan starts from; "": none */
    char typed[32], want[16]; /* the typed confirmation of an apply */
    /* On a store (app->model.store_url): the plan and apply of records gc --store
     * (tui/store_gc.h), each on its own handle opened by the worker. */
    char *store_url;
    struct store_gc_plan *splan, *new_splan;
    /* The per-intent table of the report shown (tui/table.h): order[row] is
     * an index into its intents, sorted by sort; rebuilt when the report,
     * its size or the sort changes. */
    struct table tab;
    int sort;
    bool sort_desc;
    size_t *order, n_order;
    const struct retention_report *order_of; /* what order indexes (while drawing) */
    int order_sort;
    bool order_desc;
};

/* What the intents table sorts by (s cycles, S reverses, a title click). */
enum ret_sort { RT_COUNT, RT_INTENT, RT_BYTES, RT_SORTS };

static const char *const ret_sort_names[RT_SORTS] = { "records", "intent", "bytes" };

enum ret_col { RC_INTENT, RC_RECORDS, RC_BYTES, RC_SHARE, RC_COLS };

static const struct table_col ret_cols[RC_COLS] = {
    [RC_INTENT] = { "INTENT", 40, 16, 0, false, true, RT_INTENT },
    [RC_RECORDS] = { "RECORDS", 10, 8, 0, true, false, RT_COUNT },
    [RC_BYTES] = { "BYTES", 10, 9, 1, true, false, RT_BYTES },
    [RC_SHARE] = { "SHARE", 7, 6, 2, true, false, -1 },
};

static void
fmt_bytes(uint64_t b, char *out, size_t size)
{
    if (b >= 1U << 30)
        snprintf(out, size, "%.1f GiB", (double)b / (1U << 30));
    else if (b >= 1U << 20)
        snprintf(out, size, "%.1f MiB", (double)b / (1U << 20));
    else if (b >= 1U << 10)
        snprintf(out, size, "%.1f KiB", (double)b / (1U << 10));
    else
        snprintf(out, size, "%llu B", (unsigned long long)b);
}

static void
ret_open(struct app *app, void *state)
{
    struct ret *r = state;

    /* Start from the configured policy; the operator may edit it for this run. */
    if (app->model.cfg->retention.configured) {
        if (app->model.cfg->retention.max_age_ms >= 0)
            snprintf(r->older_than, sizeof(r->older_than), "%lldms",
                     (long long)app->model.cfg->retention.max_age_ms);
        if (app->model.cfg->retention.max_count >= 0)
            snprintf(r->max_count, sizeof(r->max_count), "%lld",
                     (long long)app->model.cfg->retention.max_count);
        if (app->model.cfg->retention.max_bytes >= 0)
            snprintf(r->max_bytes, sizeof(r->max_bytes), "%lld",
                     (long long)app->model.cfg->retention.max_bytes);
        if (app->model.cfg->retention.archive_dir != NULL)
            snprintf(r->archive, sizeof(r->archive), "%s", app->model.cfg->retention.archive_dir);
    } else {
        snprintf(r->older_than, sizeof(r->older_than), "30d"); /* the reference's default */
    }
    atomic_init(&r->cancel, false);
    atomic_init(&r->done, 0);
    atomic_init(&r->total, 0);
    atomic_init(&r->finished_us, 0);
}

static void
ret_close(void *state)
{
    struct ret *r = state;

    /* The console's jobs were stopped and delivered before the views close. */
    retention_plan_free(r->plan);
    store_gc_plan_free(r->splan);
    free(r->store_url);
    free(r->order);
    if (r->have_result)
        retention_report_free(&r->result);
}

/* The plan's report, on files or on a store; NULL: no dry run yet. */
static const struct retention_report *
plan_report(const struct ret *r)
{
    if (r->splan != NULL)
        return store_gc_plan_report(r->splan);
    return r->plan != NULL ? retention_plan_report(r->plan) : NULL;
}

static void
plan_drop(struct ret *r)
{
    retention_plan_free(r->plan);
    r->plan = NULL;
    store_gc_plan_free(r->splan);
    r->splan = NULL;
}

static struct store *
open_store(struct ret *r)
{
    struct store_opts o = { 0 };
    struct store *st = store_open_url(stores_builtin, r->store_url, &o, &r->err);

    if (st == NULL) {
        char msg[sizeof(r->err.msg)];
        snprintf(msg, sizeof(msg), "%s", r->err.msg);
        err_set(&r->err, r->err.code, "%.120s: %s", r->store_url, msg);
    }
    return st;
}

static int
parse_policy(struct ret *r, struct retention_policy *p)
{
    int64_t ms;
    uint64_t bytes;

    p->max_age_ms = p->max_count = p->max_bytes = RETENTION_NONE;
    if (r->older_than[0]) {
        if (units_parse_duration_ms(r->older_than, &ms, NULL) != 0) {
            snprintf(r->error, sizeof(r->error), "older than: '%s' is not a duration (30d, 12h)",
                     r->older_than);
            return -1;
        }
        p->max_age_ms = ms;
    }
    if (r->max_count[0]) {
        char *end;
        long long n = strtoll(r->max_count, &end, 10);
        if (*end != '\0' || n < 0) {
            snprintf(r->error, sizeof(r->error), "max count: '%s' is not a number", r->max_count);
            return -1;
        }
        p->max_count = n;
    }
    if (r->max_bytes[0]) {
        if (units_parse_size(r->max_bytes, &bytes, NULL) != 0) {
            snprintf(r->error, sizeof(r->error), "max bytes: '%s' is not a size (512M, 10G)",
                     r->max_bytes);
            return -1;
        }
        p->max_bytes = (int64_t)bytes;
    }
    if (p->max_age_ms == RETENTION_NONE && p->max_count == RETENTION_NONE &&
        p->max_bytes == RETENTION_NONE) {
        snprintf(r->error, sizeof(r->error), "set at least one limit (older than, count, bytes)");
        return -1;
    }
    return 0;
}

/* The dry run as `records gc` plans it (watch/index_plan.h): in SQL over
 * the persistent index's rows when they stand for the directory, else from
 * its rows beside a listing, else (no index, or one that cannot be read)
 * from the files alone. Applying reads each planned file back first. */
static struct retention_plan *
plan_records(struct ret *r)
{
    struct intentus_err ignored = { 0 };
    struct index_db *db =
        r->db_path[0] != '\0' ? index_db_open_path(r->db_path, false, false, &ignored) : NULL;
    struct retention_scope scope = { .wal_dir = r->wal_dir[0] ? r->wal_dir : NULL };
    struct retention_plan *plan =
        index_plan_retention(db, r->records_dir, NULL, &scope, &r->policy, 0, &r->err, NULL, NULL);

    index_db_close(db);
    return plan;
}

static void
planner(void *arg, const struct job_ctl *ctl)
{
    struct ret *r = arg;

    (void)ctl;
    if (r->store_url != NULL) {
        struct store *st = open_store(r);
        r->new_splan = st != NULL ? store_gc_plan_new(st, NULL, &r->policy, &r->err) : NULL;
        store_close(st);
        atomic_store(&r->finished_us, clock_mono_us());
        return;
    }
    r->new_plan = plan_records(r);
    atomic_store(&r->finished_us, clock_mono_us());
}

/* On the loop's thread: the dry run is ready. */
static void
planner_done(void *arg)
{
    struct ret *r = arg;

    r->running = r->planning = false;
    r->plan = r->new_plan;
    r->new_plan = NULL;
    r->splan = r->new_splan;
    r->new_splan = NULL;
    if (r->plan == NULL && r->splan == NULL)
        snprintf(r->error, sizeof(r->error), "%s", r->err.msg);
    r->app->ui.dirty = true;
}

static void
dry_run(struct app *app, struct ret *r)
{
    r->error[0] = '\0';
    plan_drop(r);
    if (parse_policy(r, &r->policy) != 0)
        return;
    free(r->store_url);
    r->store_url = NULL;
    if (app->model.store_url != NULL && (r->store_url = strdup(app->model.store_url)) == NULL) {
        snprintf(r->error, sizeof(r->error), "out of memory");
        return;
    }
    snprintf(r->records_dir, sizeof(r->records_dir), "%s", app->model.records_dir);
    snprintf(r->wal_dir, sizeof(r->wal_dir), "%s",
             app->model.cfg->wal.dir ? app->model.cfg->wal.dir : "");
    snprintf(r->db_path, sizeof(r->db_path), "%s",
             app->model.db != NULL ? index_db_info(app->model.db)->path : "");
    r->new_plan = NULL;
    r->new_splan = NULL;
    atomic_store(&r->finished_us, 0);
    r->started_us = clock_mono_us();
    memset(&r->err, 0, sizeof(r->err));
    r->app = app;
    r->planning = true;
    r->running = job_run(app->jobs, planner, planner_done, r) == 0;
    if (!r->running) {
        r->planning = false;
        snprintf(r->error, sizeof(r->error), "cannot start the planning thread");
    }
}

static int
on_progress(void *ctx, size_t done, size_t total, const char *id)
{
    struct ret *r = ctx;

    (void)id;
    atomic_store(&r->done, done);
    atomic_store(&r->total, total);
    /* c, or the console closing */
    return atomic_load(&r->cancel) || job_cancelled(r->ctl) ? 1 : 0;
}

static void
worker(void *arg, const struct job_ctl *ctl)
{
    struct ret *r = arg;
    struct retention_apply_opts o = { .archive_dir = r->archive[0] ? r->archive : NULL,
                                      .progress = on_progress,
                                      .ctx = r };

    r->ctl = ctl;
    if (r->splan != NULL) {
        struct store *st = NULL;
        r->rc = -1;
        if (o.archive_dir != NULL && mkdir(o.archive_dir, 0700) != 0 && errno != EEXIST)
            err_set(&r->err, IERR_IO, "cannot create %s: %s", o.archive_dir, strerror(errno));
        else if ((st = open_store(r)) != NULL)
            r->rc =
                store_gc_apply(st, r->splan, o.archive_dir, on_progress, r, &r->result, &r->err);
        store_close(st);
        atomic_store(&r->finished_us, clock_mono_us());
        return;
    }
    r->rc = retention_apply(r->plan, &o, &r->result, &r->err);
    atomic_store(&r->finished_us, clock_mono_us());
}

/* On the loop's thread: the apply finished (or was cancelled). */
static void
worker_done(void *arg)
{
    struct ret *r = arg;
    struct app *app = r->app;

    r->running = false;
    r->have_result = true;
    if (r->rc != 0)
        app_message(app, true, "retention stopped: %s", r->err.msg);
    else if (r->splan != NULL)
        app_message(app, false, "retention done on %s", r->store_url);
    else
        app_message(app, false, "retention done; see %s/%s", app->model.records_dir, RETENTION_LOG);
    plan_drop(r); /* a plan is used once: the next run plans afresh */
    app->ui.dirty = true;
}

static void
start_apply(struct app *app, struct ret *r)
{
    const struct retention_report *rep = plan_report(r);

    if (r->have_result) {
        retention_report_free(&r->result);
        r->have_result = false;
    }
    atomic_store(&r->cancel, false);
    atomic_store(&r->done, 0);
    atomic_store(&r->total, (size_t)rep->count);
    r->started_us = clock_mono_us();
    atomic_store(&r->finished_us, 0);
    memset(&r->result, 0, sizeof(r->result));
    r->app = app;
    r->running = job_run(app->jobs, worker, worker_done, r) == 0;
    if (!r->running)
        app_message(app, true, "cannot start the retention worker");
}

static void
on_typed_done(struct app *app, void *ctx, bool ok)
{
    struct ret *r = ctx;

    if (!ok || strcmp(r->typed, r->want) != 0 || plan_report(r) == NULL || r->running) {
        app_message(app, false, "retention not applied");
        return;
    }
    start_apply(app, r);
}

static void
apply(struct app *app, struct ret *r)
{
    const struct retention_report *rep;

    if (app->opts.read_only) {
        app_message(app, true, "read-only console: retention is disabled");
        return;
    }
    rep = plan_report(r);
    if (rep == NULL) {
        app_message(app, true, "run the dry run first (n)");
        return;
    }
    if (rep->count == 0) {
        app_message(app, true, "nothing to remove under this policy");
        return;
    }
    snprintf(r->want, sizeof(r->want), "%s", r->archive[0] ? "archive" : "delete");
    {
        char label[200];
        snprintf(label, sizeof(label), "type '%s' to %s %llu records: ", r->want, r->want,
                 (unsigned long long)rep->count);
        r->typed[0] = '\0';
        app_prompt(app, label, r->typed, sizeof(r->typed), NULL, on_typed_done, r);
    }
}

/* The policy form closed: Enter took all four fields at once. */
static void
on_policy_done(struct app *app, void *ctx, bool ok)
{
    struct ret *r = ctx;

    if (!ok)
        return;
    plan_drop(r);
    app->ui.dirty = true;
}

/* Natural directions: names A to Z, counts and bytes largest first. */
static int
intent_cmp(const void *a, const void *b, void *ctx)
{
    const struct ret *r = ctx;
    const struct retention_intent *x = &r->order_of->intents[*(const size_t *)a],
                                  *y = &r->order_of->intents[*(const size_t *)b];
    int c;

    if (r->order_sort == RT_INTENT)
        c = strcmp(x->intent, y->intent);
    else if (r->order_sort == RT_BYTES)
        c = x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
    else
        c = x->count < y->count ? 1 : x->count > y->count ? -1 : 0;
    if (c == 0)
        c = strcmp(x->intent, y->intent);
    return r->order_desc ? -c : c;
}

/* Sorted again each frame (a report has one row per intent: cheap), so a
 * new plan at the old plan's address is never shown in a stale order. */
static void
sort_intents(struct ret *r, const struct retention_report *rep)
{
    free(r->order);
    r->order = rep->n_intents ? malloc(rep->n_intents * sizeof(*r->order)) : NULL;
    r->n_order = r->order ? rep->n_intents : 0;
    r->order_of = rep;
    r->order_sort = r->sort;
    r->order_desc = r->sort_desc;
    for (size_t i = 0; i < r->n_order; i++)
        r->order[i] = i;
    if (r->n_order > 1)
        qsort_r(r->order, r->n_order, sizeof(*r->order), intent_cmp, r);
}

/* The report's intents: a table with its cursor, paging, sort and h/l. */
static void
draw_intents(struct app *app, struct ret *r, int y, int rows, int cols,
             const struct retention_report *rep)
{
    char cell[64];

    sort_intents(r, rep);
    r->tab.cols = ret_cols;
    r->tab.n_cols = RC_COLS;
    r->tab.n_rows = r->n_order;
    r->tab.sort_key = r->sort;
    r->tab.sort_desc = r->sort == RT_INTENT ? r->sort_desc : !r->sort_desc;
    table_layout(&r->tab, y, rows - 1, cols);
    table_header(&r->tab, app, cols);
    for (size_t i = r->tab.top; i < r->n_order && table_row_y(&r->tab, i) >= 0; i++) {
        const struct retention_intent *it = &rep->intents[r->order[i]];
        attr_t a = app_attr(app, i == r->tab.sel ? THEME_SELECTION : THEME_NORMAL);
        if (i == r->tab.sel)
            app_fill(app, table_row_y(&r->tab, i), 0, cols, a);
        table_cell(&r->tab, app, i, RC_INTENT, a, it->intent);
        snprintf(cell, sizeof(cell), "%llu", (unsigned long long)it->count);
        table_cell(&r->tab, app, i, RC_RECORDS, a, cell);
        fmt_bytes(it->bytes, cell, sizeof(cell));
        table_cell(&r->tab, app, i, RC_BYTES, a, cell);
        snprintf(cell, sizeof(cell), "%.1f%%",
                 rep->count ? (double)it->count * 100.0 / (double)rep->count : 0.0);
        table_cell(&r->tab, app, i, RC_SHARE, a, cell);
    }
}

static void
draw_report(struct app *app, int *y, int cols, const struct retention_report *rep,
            const char *title, bool dry)
{
    char line[512], bytes[32], oldest[32], newest[32];

    fmt_bytes(rep->bytes, bytes, sizeof(bytes));
    fmt_time_short(rep->oldest_us, oldest, sizeof(oldest));
    fmt_time_short(rep->newest_us, newest, sizeof(newest));
    app_put(app, (*y)++, 0, cols, app_attr(app, THEME_TABLE_HEADER), title);
    snprintf(line, sizeof(line), "   %llu records, %s   oldest %s   newest %s",
             (unsigned long long)rep->count, bytes, rep->count ? oldest : "-",
             rep->count ? newest : "-");
    app_put(app, (*y)++, 0, cols, app_attr(app, THEME_NORMAL), line);
    if (rep->wal_count > 0 || rep->wal_kept > 0) {
        fmt_bytes(rep->wal_bytes, bytes, sizeof(bytes));
        snprintf(line, sizeof(line),
                 "   and %llu WAL files, %s; WALs of unfinished or damaged executions kept %llu",
                 (unsigned long long)rep->wal_count, bytes, (unsigned long long)rep->wal_kept);
        app_put(app, (*y)++, 0, cols, app_attr(app, THEME_NORMAL), line);
    }
    if (dry) {
        fmt_bytes(rep->kept_bytes, bytes, sizeof(bytes));
        snprintf(line, sizeof(line), "   keeps %llu records (%s); corrupt files left alone %llu",
                 (unsigned long long)rep->kept_count, bytes,
                 (unsigned long long)rep->skipped_corrupt);
    } else {
        snprintf(line, sizeof(line),
                 "   changed since the plan (left alone) %llu; already gone %llu%s",
                 (unsigned long long)rep->skipped_changed, (unsigned long long)rep->already_gone,
                 rep->interrupted ? "; INTERRUPTED (run again to finish)" : "");
    }
    app_put(app, (*y)++, 0, cols, app_attr(app, rep->interrupted ? THEME_WARN : THEME_DIM), line);
}

static void
ret_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct ret *r = state;
    char line[512];
    int y = top;

    app_put(
        app, y++, 0, cols, app_attr(app, THEME_TABLE_HEADER),
        app->model.cfg->retention.configured
            ? " Retention (from the config; e edits it for this run)   n dry run  x apply  c cancel"
            : " Retention for this run (no policy configured)   e edit  n dry run  x apply  c "
              "cancel");
    snprintf(line, sizeof(line), "   older than %-10s  max count %-10s  max bytes %-10s  %s %s",
             r->older_than[0] ? r->older_than : "-", r->max_count[0] ? r->max_count : "-",
             r->max_bytes[0] ? r->max_bytes : "-", r->archive[0] ? "archive to" : "action",
             r->archive[0] ? r->archive : "delete");
    app_put(app, y++, 0, cols, app_attr(app, THEME_NORMAL), line);
    y++;
    if (r->error[0])
        app_put(app, y++, 0, cols, app_attr(app, THEME_ERROR), r->error);
    if (r->running && r->planning) {
        char el[24];
        fmt_duration_us(clock_mono_us() - r->started_us, el, sizeof(el));
        snprintf(line, sizeof(line), "   dry run: reading the records... %s", el);
        app_put(app, y++, 0, cols, app_attr(app, THEME_WARN), line);
        app_redraw_after(app, 200);
    } else if (r->running) {
        size_t done = atomic_load(&r->done), total = atomic_load(&r->total);
        int64_t el = clock_mono_us() - r->started_us;
        double rate = el > 0 ? (double)done * 1e6 / (double)el : 0;
        int width = cols - 4,
            filled = total ? (int)((double)width * (double)done / (double)total) : 0;
        char left[32];
        fmt_duration_us(rate > 0 ? (int64_t)((double)(total - done) / rate * 1e6) : -1, left,
                        sizeof(left));
        snprintf(line, sizeof(line),
                 "   applying: %zu of %zu records, %.0f/s, %s left  (c cancels)", done, total, rate,
                 left);
        app_put(app, y++, 0, cols, app_attr(app, THEME_WARN), line);
        app_fill(app, y, 2, width, app_attr(app, THEME_STATUS));
        app_fill(app, y++, 2, filled, app_attr(app, THEME_BAR));
        app_redraw_after(app, 100); /* keep the bar moving, ten frames a second */
    } else if (r->have_result) {
        draw_report(app, &y, cols, &r->result, " Last run: removed", false);
        draw_intents(app, r, y, top + rows - y, cols, &r->result);
    } else if (plan_report(r) != NULL) {
        const struct retention_report *rep = plan_report(r);
        int n;
        draw_report(app, &y, cols, rep, " Dry run: would remove (x applies exactly this)", true);
        /* On a store the planned ids follow the intents: the table takes
         * what its rows need, at most half the room, then. */
        n = top + rows - y;
        if (r->splan != NULL && (int)rep->n_intents + 1 < n / 2)
            n = (int)rep->n_intents + 1;
        else if (r->splan != NULL)
            n /= 2;
        draw_intents(app, r, y, n, cols, rep);
        y += n;
        for (size_t i = 0; r->splan != NULL && i < store_gc_plan_size(r->splan) && y < top + rows;
             i++) {
            snprintf(line, sizeof(line), "     remove %s", store_gc_plan_id(r->splan, i));
            app_put(app, y++, 0, cols, app_attr(app, THEME_DIM), line);
        }
    } else {
        app_put(app, y++, 0, cols, app_attr(app, THEME_DIM),
                "   n runs a dry run: nothing is touched until you confirm.");
    }
}

/* The report the intents table shows (NULL: none, or a job is running). */
static const struct retention_report *
shown_report(const struct ret *r)
{
    if (r->running)
        return NULL;
    return r->have_result ? &r->result : plan_report(r);
}

/* The intents table's keys: the cursor, paging, h/l, the sort, and Enter:
 * the Records screen on that intent's records. */
static unsigned
intents_key(struct app *app, struct ret *r, enum key_action act)
{
    const struct retention_report *rep = shown_report(r);
    char filter[300];

    if (rep == NULL)
        return 0;
    r->tab.n_rows = r->n_order;
    if (table_key(&r->tab, act))
        return VIEW_HANDLED | VIEW_REDRAW;
    switch (act) {
    case ACT_SORT:
        r->sort = (r->sort + 1) % RT_SORTS;
        r->sort_desc = false;
        break;
    case ACT_SORT_REVERSE:
        r->sort_desc = !r->sort_desc;
        break;
    case ACT_OPEN:
        if (r->tab.sel >= r->n_order || r->n_order != rep->n_intents)
            return VIEW_HANDLED;
        snprintf(filter, sizeof(filter), "intent:%s", rep->intents[r->order[r->tab.sel]].intent);
        app_show(app, SCREEN_RECORDS, &(struct view_arg){ .text = filter });
        return VIEW_HANDLED | VIEW_REDRAW;
    default:
        return 0;
    }
    app_message(app, false, "intents sorted by %s%s", ret_sort_names[r->sort],
                r->sort_desc ? " (reversed)" : "");
    return VIEW_HANDLED | VIEW_REDRAW;
}

static unsigned
ret_handle(struct app *app, void *state, enum key_action act, const struct key_event *ev)
{
    struct ret *r = state;
    bool busy = r->running;

    (void)ev;
    if (act == ACT_CANCEL && busy && r->planning) {
        app_message(app, true, "the dry run cannot be cancelled; it changes nothing");
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    if (act == ACT_CANCEL && busy) {
        atomic_store(&r->cancel, true);
        app_message(app, false, "cancelling after the current record...");
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    if (busy && (act == ACT_EDIT_POLICY || act == ACT_DRY_RUN || act == ACT_APPLY)) {
        app_message(app, true, "retention is running (c cancels)");
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    if (act == ACT_EDIT_POLICY) {
        const struct app_field fields[] = {
            { "older than (e.g. 30d, empty: none): ", r->older_than, sizeof(r->older_than) },
            { "max count (empty: none): ", r->max_count, sizeof(r->max_count) },
            { "max bytes (e.g. 10G, empty: none): ", r->max_bytes, sizeof(r->max_bytes) },
            { "archive dir (empty: delete): ", r->archive, sizeof(r->archive) },
        };
        app_form(app, fields, 4, on_policy_done, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    if (act == ACT_DRY_RUN) {
        if (r->have_result) {
            retention_report_free(&r->result);
            r->have_result = false;
        }
        dry_run(app, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    if (act == ACT_APPLY) {
        apply(app, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    return intents_key(app, r, act);
}

/* A click: an intent's row moves the cursor there, a title sorts by it
 * (again: the other way round). */
static unsigned
ret_click(struct app *app, void *state, const struct key_event *ev)
{
    struct ret *r = state;
    int sort_key = -1;

    if (shown_report(r) == NULL)
        return 0;
    r->tab.n_rows = r->n_order;
    switch (table_click(&r->tab, ev->y, ev->x, &sort_key)) {
    case 1:
        return VIEW_HANDLED | VIEW_REDRAW;
    case 2:
        if (r->sort == sort_key) {
            r->sort_desc = !r->sort_desc;
        } else {
            r->sort = sort_key;
            r->sort_desc = false;
        }
        app_message(app, false, "intents sorted by %s%s", ret_sort_names[r->sort],
                    r->sort_desc ? " (reversed)" : "");
        return VIEW_HANDLED | VIEW_REDRAW;
    default:
        return 0;
    }
}

const struct view_ops view_retention = {
    .name = "Retention",
    .keyctx = KEYCTX_RETENTION,
    .state_size = sizeof(struct ret),
    .open = ret_open,
    .close = ret_close,
    .draw = ret_draw,
    .handle = ret_handle,
    .click = ret_click,
    .model_changed = NULL,
};
