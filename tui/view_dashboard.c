/* Dashboard: throughput sparkline, the agents table (calls, failures,
 * failure rate, circuit state, latency, last error; sortable), and a live
 * feed of the latest executions, or the selected agent's recent failures. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "tui/app.h"
#include "tui/console_remote.h"
#include "tui/fmt.h"
#include "tui/job.h"
#include "tui/self_cmd.h"
#include "tui/table.h"
#include "watch/index_query.h"
#include "watch/index_stats.h"
#include "watch/stores.h"

/* The sparkline: 60 columns of 2 s, the last two minutes. */
#define DASH_BUCKETS 60
#define DASH_BUCKET_US 2000000LL

enum dash_col { COL_AGENT, COL_CALLS, COL_FAIL, COL_RATE, COL_CIRCUIT, COL_P95, COL_COUNT };
static const char *const sort_names[] = { "agent",        "calls",   "failures",
                                          "failure rate", "circuit", "p95" };

struct dash_row {
    const char *name;
    const char *intents; /* from the config */
    char node[24];
    long priority; /* LONG_MIN when not configured */
    bool configured;
    const struct agg_row *agg;
    const char *live_circuit; /* the embedded router's breaker, when configured */
    bool disabled;            /* switched off from the console */
    bool remote;              /* the attached service's agent: live_circuit is its breaker */
    int64_t next_probe_us;    /* remote and OPEN: monotonic time of the next probe; 0 none */
    int64_t rec_probe_wall;   /* OPEN as recorded: wall time its cool-down ends; 0 none */
};

struct dash {
    struct agg_snapshot snap;
    bool have_snap;
    struct index_stats stats; /* app->model.db: snap is stats.snap (its strings are the stats') */
    bool snap_from_db;
    bool job_running;    /* app->model.db: the figures are being queried (stats_work) */
    int64_t job_at;      /* when the last query started (monotonic) */
    char job_error[256]; /* why the last query failed ("" when it did not) */
    uint64_t snap_gen;
    int64_t snap_at;
    int64_t snap_wall; /* the wall clock the snapshot was taken at */
    struct dash_row *rows;
    size_t n_rows;
    char (*intent_text)[128];
    size_t sel, top;
    enum dash_col sort;
    bool reverse;
    bool show_failures; /* Enter on an agent */
    bool stale;         /* the model changed: rows may point at a freed registry */
    char sel_name[128];
    /* The cursor can go on into the feed (Down past the last agent): it stays
     * on the same execution while newer ones arrive; Enter opens it. */
    bool in_feed;
    char feed_sel[160];
    char feed_ids[64][160]; /* the feed's rows as last drawn, newest first */
    int n_feed;
    char self_cmd[1200];          /* the empty dashboard's hint: a route command to run */
    struct remote_agent *ragents; /* --server: the service's agents as last polled */
    struct table tab;             /* the agents table's geometry and cursor */
    struct table feed_tab;        /* the live feed's (h/l scroll it while in the feed) */
    size_t n_ragents;
};

static const char *
circuit_of(const struct dash_row *r)
{
    if (r->disabled)
        return "DISABLED";
    if (r->remote) /* the service's live breaker, not what records last said */
        return r->live_circuit != NULL && r->live_circuit[0] != '\0' ? r->live_circuit : "-";
    if (r->agg != NULL && r->agg->circuit != NULL)
        return r->agg->circuit;
    return r->live_circuit != NULL ? r->live_circuit : "-";
}

static double
fail_rate(const struct dash_row *r)
{
    if (r->agg == NULL || r->agg->calls == 0)
        return -1;
    return (double)r->agg->failed / (double)r->agg->calls;
}

static int
cmp_rows(const void *x, const void *y, void *ctx)
{
    const struct dash_row *a = x, *b = y;
    const struct dash *d = ctx;
    int c = 0;

    switch (d->sort) {
    case COL_CALLS:
        c = (a->agg ? (long long)a->agg->calls : -1) < (b->agg ? (long long)b->agg->calls : -1) ? 1
            : (a->agg ? (long long)a->agg->calls : -1) > (b->agg ? (long long)b->agg->calls : -1)
                ? -1
                : 0;
        break;
    case COL_FAIL:
        c = (a->agg ? a->agg->failed : 0) < (b->agg ? b->agg->failed : 0)   ? 1
            : (a->agg ? a->agg->failed : 0) > (b->agg ? b->agg->failed : 0) ? -1
                                                                            : 0;
        break;
    case COL_RATE:
        c = fail_rate(a) < fail_rate(b) ? 1 : fail_rate(a) > fail_rate(b) ? -1 : 0;
        break;
    case COL_CIRCUIT:
        c = -strcmp(circuit_of(a), circuit_of(b)); /* OPEN before HALF_OPEN before CLOSED */
        break;
    case COL_P95: {
        int64_t pa = a->agg ? a->agg->p95_us : -1, pb = b->agg ? b->agg->p95_us : -1;
        c = pa < pb ? 1 : pa > pb ? -1 : 0;
        break;
    }
    default:
        break;
    }
    if (c == 0)
        c = strcmp(a->name, b->name);
    return d->reverse ? -c : c;
}

/* The attached service's agents as rows (their breakers live). */
static size_t
remote_rows(struct app *app, struct dash *d)
{
    size_t n;

    if (d->ragents == NULL)
        d->ragents = calloc(128, sizeof(*d->ragents));
    if (d->ragents == NULL)
        return 0;
    d->n_ragents = console_remote_agents(app->model.remote, d->ragents, 128);
    n = d->n_ragents;
    for (size_t i = 0; i < n; i++) {
        struct dash_row *r = &d->rows[i];
        r->name = d->ragents[i].name;
        r->intents = "";
        r->configured = true;
        r->remote = true;
        r->priority = 0;
        snprintf(r->node, sizeof(r->node), "service");
        r->live_circuit = d->ragents[i].breaker;
        r->disabled = !d->ragents[i].enabled;
        r->next_probe_us = d->ragents[i].next_probe_us;
    }
    return n;
}

/* Agents = the configured ones (the service's, when attached) plus any seen
 * in records (other writers). */
static void
rebuild(struct app *app, struct dash *d)
{
    struct registry *reg = app->model.cfg->registry;
    size_t n_cfg = app->model.remote != NULL ? 128 : registry_count(reg),
           cap = n_cfg + d->snap.n_agents, n = 0;

    free(d->rows);
    free(d->intent_text);
    d->rows = calloc(cap + 1, sizeof(*d->rows));
    d->intent_text = calloc(cap + 1, sizeof(*d->intent_text));
    if (d->rows == NULL || d->intent_text == NULL) {
        d->n_rows = 0;
        return;
    }
    if (app->model.remote != NULL)
        n = remote_rows(app, d);
    for (size_t i = 0; app->model.remote == NULL && i < n_cfg; i++) {
        const struct agent *a = registry_at(reg, i);
        struct dash_row *r = &d->rows[n];
        size_t off = 0;
        r->name = a->name;
        r->configured = true;
        r->priority = a->node_priority;
        snprintf(r->node, sizeof(r->node), "%s", agent_is_remote(a) ? a->node_id : "local");
        for (size_t k = 0; k < a->n_caps && off + 2 < sizeof(d->intent_text[n]); k++)
            off += (size_t)snprintf(d->intent_text[n] + off, sizeof(d->intent_text[n]) - off,
                                    "%s%s", k ? "," : "", a->caps[k].name);
        r->intents = d->intent_text[n];
        if (a->breaker != NULL) {
            struct breaker_stats bs;
            breaker_snapshot(a->breaker, clock_mono_us(), &bs);
            r->live_circuit = breaker_state_name(bs.state);
        }
        r->disabled = !runtime_agent_enabled(app->model.rt, a->name);
        n++;
    }
    for (size_t i = 0; i < d->snap.n_agents; i++) {
        const struct agg_row *ag = &d->snap.agents[i];
        size_t k;
        for (k = 0; k < n && strcmp(d->rows[k].name, ag->name) != 0; k++)
            ;
        if (k < n) {
            d->rows[k].agg = ag;
            continue;
        }
        d->rows[n].name = ag->name;
        d->rows[n].intents = "";
        snprintf(d->rows[n].node, sizeof(d->rows[n].node), "-");
        d->rows[n].agg = ag;
        n++;
    }
    d->n_rows = n;
    for (size_t i = 0; i < n; i++) {
        struct dash_row *r = &d->rows[i];
        if (!r->remote && r->agg != NULL && r->agg->circuit != NULL &&
            strcmp(r->agg->circuit, "OPEN") == 0) {
            struct breaker_policy pol = BREAKER_POLICY_DEFAULT;
            config_breaker_policy(app->model.cfg, r->name, &pol);
            r->rec_probe_wall = r->agg->circuit_us + pol.cooldown_ms * 1000;
        }
    }
    qsort_r(d->rows, n, sizeof(*d->rows), cmp_rows, d);
    /* Keep the selection on the same agent. */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d->rows[i].name, d->sel_name) == 0)
            d->sel = i;
    }
    if (d->sel >= n)
        d->sel = n ? n - 1 : 0;
}

static void
free_snapshot(struct dash *d)
{
    if (d->have_snap && d->snap_from_db)
        index_stats_free(&d->stats);
    else if (d->have_snap)
        agg_snapshot_free(&d->snap);
    d->have_snap = false;
    d->snap_from_db = false;
    memset(&d->snap, 0, sizeof(d->snap));
}

/* The throughput buckets keep their edges from one snapshot to the next
 * (now aligned up to a bucket boundary), so old data only moves left and is
 * never re-binned into another shape; paused, the snapshot stands still
 * (its time too) unless the model changed under it. */
/* The figures from the persistent index (app->model.db): index_stats_query, a
 * pass over every row, on a worker (tui/job.h) with a read connection of
 * its own, so the loop goes on drawing meanwhile; at most one at a time and
 * one a second while records land, so they show within about a second plus
 * the query's time. */
struct stats_job {
    struct app *app; /* and d: touched only in stats_done, on the loop's thread */
    struct dash *d;
    char path[4096];
    /* On a postgres store (path empty): its engine's stats op and counts,
     * grouped in the database, over every record (not the window), on
     * store, the job's own connection (app->model.stats_store; opened here
     * on first use from url and handed back to the model in stats_done). */
    struct store *store;
    const char *url; /* app->model.store_url: lives as long as the console */
    struct agg_opts o;
    struct index_stats st;
    int rc;
    uint64_t gen;
    int64_t wall;
    struct intentus_err err;
};

static void
stats_work_store(struct stats_job *j)
{
    j->rc = -1;
    if (j->store == NULL)
        j->store = store_open_url(stores_builtin, j->url, &(struct store_opts){ .read_only = true },
                                  &j->err);
    if (j->store == NULL) {
        err_prefix(&j->err, "%s", j->url);
        return;
    }
    j->rc = store_stats(j->store, NULL, &j->o, &j->st, &j->err);
    if (j->rc == 1) {
        err_set(&j->err, IERR_INVALID, "%s: the engine has no stats op", j->url);
        j->rc = -1;
    }
    if (j->rc == 0) {
        /* The rate windows, as in stats_work. */
        struct store_filter f10 = { .since_us = j->o.rate_now_us - 10 * 1000000LL };
        struct store_filter f60 = { .since_us = j->o.rate_now_us - 60 * 1000000LL };
        long n10 = store_count(j->store, &f10, &j->err);
        long n60 = n10 >= 0 ? store_count(j->store, &f60, &j->err) : -1;
        if (n60 < 0)
            j->rc = -1;
        else
            j->st.snap.records_10s = (uint64_t)n10, j->st.snap.records_60s = (uint64_t)n60;
    }
    if (j->rc != 0) {
        /* A fresh connection next time (the server may have gone away). */
        err_prefix(&j->err, "%s", j->url);
        store_close(j->store);
        j->store = NULL;
    }
}

static void
stats_work(void *arg, const struct job_ctl *ctl)
{
    struct stats_job *j = arg;
    struct index_db *db;

    (void)ctl;
    if (j->path[0] == '\0') {
        stats_work_store(j);
        return;
    }
    db = index_db_open_path(j->path, false, false, &j->err);
    j->rc = -1;
    if (db == NULL)
        return;
    sqlite3_exec(index_db_sqlite(db), "PRAGMA cache_size=-2048", NULL, NULL, NULL);
    j->rc = index_stats_query(db, NULL, &j->o, &j->st, &j->err);
    if (j->rc == 0) {
        /* The rate windows, as agg_snapshot counts them: records created
         * since 10 s and 60 s before the rate's end (later ones too). */
        struct index_filter f10 = { .since_us = j->o.rate_now_us - 10 * 1000000LL };
        struct index_filter f60 = { .since_us = j->o.rate_now_us - 60 * 1000000LL };
        long n10 = index_query_count(db, &f10, &j->err);
        long n60 = n10 >= 0 ? index_query_count(db, &f60, &j->err) : -1;
        if (n60 < 0)
            j->rc = -1;
        else
            j->st.snap.records_10s = (uint64_t)n10, j->st.snap.records_60s = (uint64_t)n60;
    }
    index_db_close(db);
}

static void
stats_done(void *arg)
{
    struct stats_job *j = arg;
    struct dash *d = j->d;

    d->job_running = false;
    if (j->path[0] == '\0')
        j->app->model.stats_store = j->store; /* NULL when it failed */
    if (j->rc == 0) {
        free_snapshot(d);
        d->stats = j->st;
        d->snap = d->stats.snap;
        d->have_snap = d->snap_from_db = true;
        d->snap_gen = j->gen;
        d->snap_at = clock_mono_us();
        d->snap_wall = j->wall;
        d->job_error[0] = '\0';
        d->stale = false;
        rebuild(j->app, d);
    } else {
        index_stats_free(&j->st);
        snprintf(d->job_error, sizeof(d->job_error), "%s", j->err.msg);
    }
    j->app->ui.dirty = true;
    free(j);
}

/* The figures are queries (stats_job), not the window's agg: with the
 * persistent index, or on a store whose engine has a stats op (postgres;
 * a sqlite store has db). */
static bool
figures_queried(const struct app *app)
{
    return app->model.db != NULL ||
           (app->model.rstore != NULL && app->model.rstore->engine->stats != NULL &&
            app->model.store_url != NULL);
}

static void
refresh_from_index(struct app *app, struct dash *d, int64_t now)
{
    const int64_t bucket = DASH_BUCKET_US;
    struct stats_job *j;

    if (d->have_snap && !d->snap_from_db) {
        /* Taken from the in-memory window before the index was open: its
         * rows would point into it; none until the index answers. */
        free_snapshot(d);
        rebuild(app, d);
    }
    if (d->stale) {
        /* The rows may point into a registry a reload freed: built again
         * from the running config (and the stats' strings, still there,
         * when the figures have answered). Not only with figures: keys
         * read the rows before the index's first answer too. */
        d->stale = false;
        rebuild(app, d);
    }
    if (d->job_running ||
        (d->have_snap && d->snap_from_db && d->snap_gen == app->model.generation &&
         (app->paused || now - d->snap_at < 1000000)))
        return;
    if (d->job_at != 0 && now - d->job_at < 1000000) {
        app_redraw_after(app, (int)((1000000 - (now - d->job_at)) / 1000) + 1);
        return;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return;
    j->app = app;
    j->d = d;
    if (app->model.db != NULL) {
        snprintf(j->path, sizeof(j->path), "%s", index_db_info(app->model.db)->path);
    } else {
        j->store = app->model.stats_store;
        j->url = app->model.store_url;
    }
    j->wall = app->paused && d->snap_wall != 0 ? d->snap_wall : clock_wall_us();
    j->o = (struct agg_opts){ .buckets = DASH_BUCKETS,
                              .bucket_us = bucket,
                              .now_us = (j->wall / bucket + 1) * bucket,
                              .rate_now_us = j->wall };
    j->gen = app->model.generation;
    if (job_run(app->jobs, stats_work, stats_done, j) != 0) {
        free(j);
        snprintf(d->job_error, sizeof(d->job_error), "cannot start a worker thread");
        return;
    }
    d->job_running = true;
    d->job_at = now;
}

static void
refresh_snapshot(struct app *app, struct dash *d)
{
    int64_t now = clock_mono_us(), wall;
    const int64_t bucket = DASH_BUCKET_US;

    if (d->have_snap && !d->stale && app->paused)
        return;
    if (d->have_snap && !d->stale && d->snap_gen == app->model.generation &&
        now - d->snap_at < 1000000)
        return;
    if (figures_queried(app)) {
        refresh_from_index(app, d, now);
        return;
    }
    wall = app->paused && d->snap_wall != 0 ? d->snap_wall : clock_wall_us();
    d->stale = false;
    free_snapshot(d);
    {
        struct agg_opts o = { .buckets = DASH_BUCKETS,
                              .bucket_us = bucket,
                              .now_us = (wall / bucket + 1) * bucket,
                              .rate_now_us = wall };
        d->have_snap = agg_snapshot(app->model.agg, &o, &d->snap, NULL) == 0;
    }
    if (!d->have_snap)
        memset(&d->snap, 0, sizeof(d->snap));
    d->snap_gen = app->model.generation;
    d->snap_at = now;
    d->snap_wall = wall;
    rebuild(app, d);
}

/* The words console.agents_sort and the saved preference use, by column. */
static const char *const sort_words[] = { "agent", "calls", "failures", "rate", "circuit", "p95" };

/* The sort: the config's console.agents_sort, else the one saved last time. */
static void
dash_open(struct app *app, void *state)
{
    struct dash *d = state;
    const char *want = app->model.cfg->console.agents_sort[0] ? app->model.cfg->console.agents_sort
                                                              : app->ui.prefs.agents_sort;
    bool rev = want[0] == '-';

    self_command("route demo.echo", app->opts.config, app->opts.dir, d->self_cmd,
                 sizeof(d->self_cmd));
    d->sort = COL_AGENT;
    for (int i = 0; i < COL_COUNT; i++) {
        if (strcmp(want + rev, sort_words[i]) == 0) {
            d->sort = (enum dash_col)i;
            d->reverse = rev;
        }
    }
}

static void
dash_close(void *state)
{
    struct dash *d = state;

    free_snapshot(d);
    free(d->rows);
    free(d->intent_text);
    free(d->ragents);
}

/* Row y: the legend (what one column counts, the peak), then the sparkline
 * between its time axis's ends ("-2m" ... "now"), newest column at the
 * right. */
static void
sparkline(struct app *app, int y, int cols, const struct agg_snapshot *s)
{
    static const char *const blocks[] = { " ",
                                          "\xe2\x96\x81",
                                          "\xe2\x96\x82",
                                          "\xe2\x96\x83",
                                          "\xe2\x96\x84",
                                          "\xe2\x96\x85",
                                          "\xe2\x96\x86",
                                          "\xe2\x96\x87",
                                          "\xe2\x96\x88" };
    static const char ascii[] = " .:-=+*#@";
    uint32_t max = 0;
    size_t n = s->n_throughput, from;
    long secs = (long)(s->bucket_us / 1000000), span;
    char label[96], left[32];
    attr_t dim = app_attr(app, THEME_DIM);
    int width, x;

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        max = s->throughput[i] > max ? s->throughput[i] : max;
    snprintf(label, sizeof(label), " throughput: records per %lds, peak %u%s", secs, max,
             app->paused ? " (paused)" : "");
    x = app_put(app, y, 0, cols, dim, label) + 2;
    width = cols - x - 10; /* "-2m " before, " now" after */
    if (width > (int)n)
        width = (int)n;
    if (width < 8)
        return;
    from = n - (size_t)width;
    span = (long)width * secs;
    if (span % 60 == 0)
        snprintf(left, sizeof(left), "-%ldm ", span / 60);
    else
        snprintf(left, sizeof(left), "-%lds ", span);
    x += app_put(app, y, x, cols - x, dim, left);
    for (size_t i = from; i < n; i++) {
        int level = s->throughput[i] == 0 ? 0 : 1 + (int)((s->throughput[i] * 7) / max);
        char one[2] = { ascii[level], 0 };
        app_put(app, y, x + (int)(i - from), 1, app_attr(app, THEME_SPARK),
                app->ui.ascii ? one : blocks[level]);
    }
    app_put(app, y, x + width, cols - x - width, dim, " now");
}

/* Two rows: the figures, then the sparkline. */
static void
draw_header(struct app *app, struct dash *d, int y, int cols)
{
    char line[320];
    const struct agg_snapshot *s = &d->snap;
    unsigned long long errors = 0, rejected = 0;
    struct runtime_stats rs;
    int x;

    if (figures_queried(app) && !(d->have_snap && d->snap_from_db)) {
        /* The first figures from the index (or the store) are on their
         * way: the total (a count) now, not the window's figures. */
        bool idx = app->model.db != NULL;
        snprintf(line, sizeof(line), " records %zu  figures: %s%s", app_total(app),
                 d->job_error[0]
                     ? (idx ? "the index did not answer: " : "the store did not answer: ")
                 : idx ? "querying the index..."
                       : "querying the store...",
                 d->job_error);
        app_put(app, y, 0, cols, app_attr(app, d->job_error[0] ? THEME_ERROR : THEME_DIM), line);
        return;
    }
    /* Records whose outcome is an error, and calls a breaker refused. */
    for (size_t i = 0; i < s->n_intents; i++)
        errors += s->intents[i].failed;
    for (size_t i = 0; i < s->n_agents; i++)
        rejected += s->agents[i].skipped;
    runtime_stats(app->model.rt, &rs);
    snprintf(line, sizeof(line),
             " records %llu  rate 10s %.1f/s  1m %.2f/s  errors %llu  rejected %llu  corrupt %llu  "
             "no timing %llu  sampled out %llu  ",
             (unsigned long long)s->records, (double)s->records_10s / 10.0,
             (double)s->records_60s / 60.0, errors, rejected, (unsigned long long)s->corrupt,
             (unsigned long long)s->no_timing, (unsigned long long)rs.sampled_out);
    x = app_put(app, y, 0, cols, app_attr(app, THEME_NORMAL), line);
    if (app_wal_dir(app) != NULL) {
        /* With a WAL: what is running here, and what any writer left unfinished. */
        int64_t oldest, now = clock_mono_us();
        size_t inflight = app_inflight(app, &oldest), incomplete;
        char age[24] = "";
        if (oldest != 0)
            fmt_duration_us(now - oldest, age, sizeof(age));
        incomplete = app->model.incomplete.n; /* the loop's own state: no lock in a draw */
        snprintf(line, sizeof(line), "in flight %zu%s%s%s  incomplete %zu  ", inflight,
                 oldest ? " (oldest " : "", age, oldest ? ")" : "", incomplete);
        x += app_put(app, y, x, cols - x, app_attr(app, incomplete ? THEME_WARN : THEME_NORMAL),
                     line);
    }
    if (!app->model.synced)
        app_put(app, y, x, cols - x, app_attr(app, THEME_WARN), "indexing...  ");
    sparkline(app, y + 1, cols, s);
}

static attr_t
circuit_attr(struct app *app, const char *c)
{
    if (strcmp(c, "OPEN") == 0)
        return app_attr(app, THEME_CIRCUIT_OPEN);
    if (strcmp(c, "HALF_OPEN") == 0)
        return app_attr(app, THEME_CIRCUIT_HALF_OPEN);
    if (strcmp(c, "CLOSED") == 0)
        return app_attr(app, THEME_CIRCUIT_CLOSED);
    if (strcmp(c, "DISABLED") == 0)
        return app_attr(app, THEME_WARN);
    return app_attr(app, THEME_DIM);
}

/* The circuit cell: an attached service's OPEN breaker with its cool-down
 * left ("OPEN 42s", counting down between polls), else the state. */
static const char *
circuit_cell(const struct dash_row *r, const char *circ, char *buf, size_t size)
{
    int64_t left;

    if (!r->remote && r->rec_probe_wall > 0 && strcmp(circ, "OPEN") == 0) {
        left = r->rec_probe_wall - clock_wall_us();
        if (left <= 0)
            return circ;
        snprintf(buf, size, "OPEN %llds", (long long)((left + 999999) / 1000000));
        return buf;
    }
    if (!r->remote || r->next_probe_us <= 0 || strcmp(circ, "OPEN") != 0)
        return circ;
    left = r->next_probe_us - clock_mono_us();
    snprintf(buf, size, "OPEN %llds", (long long)(left > 0 ? (left + 999999) / 1000000 : 0));
    return buf;
}

/* The LAST ERROR cell: the last error, led by "next probe HH:MM:SS" for an
 * attached service's OPEN breaker (then true). */
static bool
last_error_text(const struct dash_row *r, const char *circ, char *buf, size_t size)
{
    char at[CLOCK_ISO_LEN];
    int64_t left;
    const char *last = r->agg != NULL && r->agg->last_error != NULL ? r->agg->last_error : NULL;

    if (!r->remote || r->next_probe_us <= 0 || strcmp(circ, "OPEN") != 0) {
        snprintf(buf, size, "%s", last != NULL ? last : "");
        return false;
    }
    left = r->next_probe_us - clock_mono_us();
    clock_format_iso(clock_wall_us() + (left > 0 ? left : 0), at);
    snprintf(buf, size, "next probe %.8s%s%.60s", at + 11, last != NULL ? "  " : "",
             last != NULL ? last : "");
    return true;
}

enum agent_tcol {
    AC_AGENT,
    AC_INTENTS,
    AC_NODE,
    AC_PRIO,
    AC_CALLS,
    AC_OK,
    AC_FAIL,
    AC_RATE,
    AC_REJ,
    AC_CIRCUIT,
    AC_P50,
    AC_P95,
    AC_LAST,
    AC_COUNT
};

/* The agents table's columns: at 80 the intents, node, priority and ok
 * columns go first (h/l scroll to them), so what matters for spotting
 * trouble (failures, rejections, circuit, latency, last error) still fits. */
static const struct table_col agent_cols[AC_COUNT] = {
    [AC_AGENT] = { "AGENT", 18, 14, 0, false, false, COL_AGENT },
    [AC_INTENTS] = { "INTENTS", 14, 0, 6, false, false, -1 },
    [AC_NODE] = { "NODE", 8, 0, 5, false, false, -1 },
    [AC_PRIO] = { "PRIO", 5, 0, 7, true, false, -1 },
    [AC_CALLS] = { "CALLS", 7, 6, 1, true, false, COL_CALLS },
    [AC_OK] = { "OK", 7, 0, 4, true, false, -1 },
    [AC_FAIL] = { "FAIL", 6, 5, 1, true, false, COL_FAIL },
    [AC_RATE] = { "FAIL%", 6, 0, 1, true, false, COL_RATE },
    [AC_REJ] = { "REJ", 6, 5, 2, true, false, -1 },
    [AC_CIRCUIT] = { "CIRCUIT", 9, 0, 0, false, false, COL_CIRCUIT },
    [AC_P50] = { "P50", 8, 7, 3, true, false, -1 },
    [AC_P95] = { "P95", 8, 7, 2, true, false, COL_P95 },
    [AC_LAST] = { "LAST ERROR", 20, 10, 2, false, true, -1 },
};

static void
draw_agents(struct app *app, struct dash *d, int y, int rows, int cols)
{
    d->tab.cols = agent_cols;
    d->tab.n_cols = AC_COUNT;
    d->tab.n_rows = d->n_rows;
    d->tab.sel = d->sel;
    d->tab.sort_key = (int)d->sort;
    /* natural directions: names A to Z, the rest largest (or OPEN) first */
    d->tab.sort_desc = (d->sort != COL_AGENT) != d->reverse;
    table_layout(&d->tab, y, rows, cols);
    d->sel = d->tab.sel;
    d->top = d->tab.top;
    table_header(&d->tab, app, cols);
    for (int i = 0; i < rows && d->top + (size_t)i < d->n_rows; i++) {
        size_t ri = d->top + (size_t)i;
        const struct dash_row *r = &d->rows[ri];
        const struct agg_row *g = r->agg;
        bool sel = ri == d->sel;
        attr_t base = sel ? app_attr(app, THEME_SELECTION) : app_attr(app, THEME_NORMAL);
        char cell[128], probe[96];
        double rate = fail_rate(r);
        const char *circ = circuit_of(r);
        bool probing;
        if (sel)
            app_fill(app, table_row_y(&d->tab, ri), 0, cols, base);
        table_cell(&d->tab, app, ri, AC_AGENT, base, r->name);
        table_cell(&d->tab, app, ri, AC_INTENTS, sel ? base : app_attr(app, THEME_DIM), r->intents);
        table_cell(&d->tab, app, ri, AC_NODE, base, r->node);
        if (r->configured)
            snprintf(cell, sizeof(cell), "%ld", r->priority);
        else
            snprintf(cell, sizeof(cell), "-");
        table_cell(&d->tab, app, ri, AC_PRIO, base, cell);
        snprintf(cell, sizeof(cell), "%llu", g ? (unsigned long long)g->calls : 0ULL);
        table_cell(&d->tab, app, ri, AC_CALLS, base, cell);
        snprintf(cell, sizeof(cell), "%llu", g ? (unsigned long long)g->ok : 0ULL);
        table_cell(&d->tab, app, ri, AC_OK, sel ? base : app_attr(app, THEME_OK), cell);
        snprintf(cell, sizeof(cell), "%llu", g ? (unsigned long long)g->failed : 0ULL);
        table_cell(&d->tab, app, ri, AC_FAIL,
                   g && g->failed && !sel ? app_attr(app, THEME_ERROR) : base, cell);
        if (rate >= 0)
            snprintf(cell, sizeof(cell), "%.1f%%", rate * 100);
        else
            snprintf(cell, sizeof(cell), "-");
        table_cell(&d->tab, app, ri, AC_RATE, rate > 0.2 && !sel ? app_attr(app, THEME_WARN) : base,
                   cell);
        /* Calls the breaker refused without an attempt (CIRCUIT_OPEN_SKIPPED):
         * not in CALLS, so a run of fast rejections shows here. */
        snprintf(cell, sizeof(cell), "%llu", g ? (unsigned long long)g->skipped : 0ULL);
        table_cell(&d->tab, app, ri, AC_REJ,
                   g && g->skipped && !sel ? app_attr(app, THEME_WARN) : base, cell);
        table_cell(&d->tab, app, ri, AC_CIRCUIT, circuit_attr(app, circ),
                   circuit_cell(r, circ, cell, sizeof(cell)));
        fmt_duration_us(g ? g->p50_us : -1, cell, sizeof(cell));
        table_cell(&d->tab, app, ri, AC_P50, base, cell);
        fmt_duration_us(g ? g->p95_us : -1, cell, sizeof(cell));
        table_cell(&d->tab, app, ri, AC_P95, base, cell);
        probing = last_error_text(r, circ, probe, sizeof(probe));
        table_cell(&d->tab, app, ri, AC_LAST,
                   sel ? base : app_attr(app, probing ? THEME_WARN : THEME_ERROR), probe);
    }
    if (d->n_rows == 0)
        app_put(app, y + 1, 1, cols - 2, app_attr(app, THEME_DIM),
                "no agents configured and none seen in records yet");
}

/* Where the circuit state shown comes from, in words, with the cool-down
 * left and the next probe when OPEN: live from the attached service, as
 * last recorded (records, possibly another process's breaker: the open
 * time plus the configured cool-down), or this console's own router. */
static void
circuit_source(const struct app *app, const struct dash_row *r, char *buf, size_t size)
{
    const char *circ = circuit_of(r);
    char probe[CLOCK_ISO_LEN] = "";
    int64_t left;
    bool open = strcmp(circ, "OPEN") == 0;

    if (r->disabled) {
        snprintf(buf, size, " circuit: agent disabled from this console (d enables it)");
        return;
    }
    if (r->remote) {
        const char *url = app->opts.server ? app->opts.server : "";
        if (open && r->next_probe_us > 0) {
            left = r->next_probe_us - clock_mono_us();
            clock_format_iso(clock_wall_us() + (left > 0 ? left : 0), probe);
            snprintf(buf, size,
                     " circuit: OPEN live from the service %s; cool-down %llds left, next probe "
                     "%.8s",
                     url, (long long)(left > 0 ? (left + 999999) / 1000000 : 0), probe + 11);
        } else {
            snprintf(buf, size, " circuit: %s live from the service %s", circ, url);
        }
        return;
    }
    if (r->agg != NULL && r->agg->circuit != NULL) {
        struct breaker_policy pol = BREAKER_POLICY_DEFAULT;
        char at[CLOCK_ISO_LEN];
        clock_format_iso(r->agg->circuit_us, at);
        config_breaker_policy(app->model.cfg, r->name, &pol);
        if (open) {
            int64_t next = r->agg->circuit_us + pol.cooldown_ms * 1000;
            left = next - clock_wall_us();
            clock_format_iso(next, probe);
            if (left > 0)
                snprintf(buf, size,
                         " circuit: OPEN as last recorded at %.8s (records, any writer); cool-down "
                         "%llds left, next probe %.8s",
                         at + 11, (long long)((left + 999999) / 1000000), probe + 11);
            else
                snprintf(buf, size,
                         " circuit: OPEN as last recorded at %.8s (records, any writer); cool-down "
                         "over since %.8s: the next call probes",
                         at + 11, probe + 11);
        } else {
            snprintf(buf, size, " circuit: %s as last recorded at %.8s (records, any writer)", circ,
                     at + 11);
        }
        return;
    }
    if (strcmp(circ, "-") == 0)
        snprintf(buf, size, " circuit: unknown (not configured here, no change recorded)");
    else
        snprintf(buf, size, " circuit: %s in this console's own router (no change recorded)", circ);
}

/* The live feed's columns: at 80 the ID goes first (l scrolls to it), then
 * the intent and agent shrink before the error code (17 columns hold
 * AGENT_UNAVAILABLE). Newest first, always (a live feed). */
enum feed_col { FC_TIME, FC_INTENT, FC_AGENT, FC_STATUS, FC_ERROR, FC_DURATION, FC_ID, FC_COUNT };

static const struct table_col feed_cols[FC_COUNT] = {
    [FC_TIME] = { "TIME", 8, 0, 0, false, false, 0 },
    [FC_INTENT] = { "INTENT", 20, 12, 0, false, false, -1 },
    [FC_AGENT] = { "AGENT", 14, 10, 1, false, false, -1 },
    [FC_STATUS] = { "STATUS", 9, 7, 0, false, false, -1 },
    [FC_ERROR] = { "ERROR", 22, 17, 2, false, true, -1 },
    [FC_DURATION] = { "DURATION", 8, 0, 1, true, false, -1 },
    [FC_ID] = { "ID", 36, 0, 3, false, false, -1 },
};

#define FEED_MAX 64

struct feed_line {
    char id[160];
    char when[32], intent[128], agent[128], status[16], code[128], dur[16];
    bool error;
};

struct feed_ctx {
    struct app *app;
    struct feed_line *lines;
    int max, n;
    const char *agent; /* failures of this agent only */
};

/* The code of agent's last failed attempt in v, or "REJECTED (OPEN)" when
 * its breaker refused the call without an attempt (NULL: neither). */
static const char *
failed_code(const struct app *app, const struct index_view *v, const char *agent)
{
    uint32_t sid = index_str_lookup(app->model.ix, agent);
    const char *code = NULL;
    bool rejected = false;

    for (size_t i = 0; sid != 0 && i < v->n_steps; i++) {
        if (v->steps[i].kind == DIGEST_STEP_FAIL && v->steps[i].agent == sid)
            code = index_str(app->model.ix, v->steps[i].code);
        rejected = rejected || (v->steps[i].kind == DIGEST_STEP_SKIP && v->steps[i].agent == sid);
    }
    return code != NULL ? code : rejected ? "REJECTED (OPEN)" : NULL;
}

/* One row of the feed, kept until the table draws it. */
static int
feed_row(void *ctx, const struct index_view *v)
{
    struct feed_ctx *f = ctx;
    struct feed_line *l;
    const char *code;

    if (f->n >= f->max)
        return 1;
    l = &f->lines[f->n++];
    /* CORRUPT, or ENCRYPTED / TAMPERED / TRUNCATED for encrypted files. */
    snprintf(l->status, sizeof(l->status), "%s",
             (v->flags & DIGEST_CORRUPT) ? digest_bad_word(v->flags)
                                         : record_status_name(v->status));
    if (v->flags & DIGEST_CORRUPT)
        for (char *c = l->status; *c; c++)
            *c = (char)(*c - 'a' + 'A');
    fmt_time_short(v->created_us, l->when, sizeof(l->when));
    fmt_duration_us(v->duration_us, l->dur, sizeof(l->dur));
    /* The failure view shows this agent's own error, also inside an
     * execution that succeeded overall (a retry or a fallback did). */
    code = f->agent != NULL ? failed_code(f->app, v, f->agent) : NULL;
    if (code == NULL)
        code = v->error_code ? v->error_code : "";
    snprintf(l->code, sizeof(l->code), "%s", code);
    snprintf(l->intent, sizeof(l->intent), "%s", v->intent ? v->intent : "?");
    snprintf(l->agent, sizeof(l->agent), "%s", v->agent ? v->agent : "-");
    snprintf(l->id, sizeof(l->id), "%s", v->id);
    l->error = (v->flags & DIGEST_CORRUPT) || v->status == RECORD_ERROR || f->agent != NULL;
    return 0;
}

static void
draw_feed(struct app *app, struct dash *d, int y, int rows, int cols)
{
    struct feed_line lines[FEED_MAX];
    struct feed_ctx f = { app, lines, 0, 0, NULL };
    struct index_filter flt = { 0 };
    char title[1300];
    int header_y = y + 1;

    if (d->show_failures && d->n_rows > 0) {
        snprintf(title, sizeof(title),
                 " Recent failed attempts of %s, with their codes, also inside executions that "
                 "succeeded  (Enter: back to the live feed)",
                 d->rows[d->sel].name);
        flt.failed_agent = d->rows[d->sel].name;
        f.agent = d->rows[d->sel].name;
    } else {
        snprintf(title, sizeof(title), " Live feed: latest executions%s%s",
                 app->paused ? "  [paused]" : "",
                 d->in_feed ? "  (Enter: open its timeline, Up past the top: agents)" : "");
    }
    app_put(app, y, 0, cols, app_attr(app, THEME_TABLE_HEADER), title);
    if (d->show_failures && d->n_rows > 0) {
        circuit_source(app, &d->rows[d->sel], title, sizeof(title));
        app_put(app, y + 1, 0, cols, app_attr(app, THEME_DIM), title);
        header_y++;
    }
    f.max = y + rows - header_y - 1;
    if (f.max > FEED_MAX)
        f.max = FEED_MAX;
    if (f.max < 0)
        f.max = 0;
    index_query(app->model.ix, &flt, true, (size_t)f.max, feed_row, &f);
    d->n_feed = f.n;
    d->feed_tab.cols = feed_cols;
    d->feed_tab.n_cols = FC_COUNT;
    d->feed_tab.n_rows = (size_t)f.n;
    d->feed_tab.sort_key = 0; /* newest first */
    d->feed_tab.sort_desc = true;
    d->feed_tab.sel = 0;
    d->feed_tab.top = 0;
    for (int i = 0; i < f.n; i++) {
        snprintf(d->feed_ids[i], sizeof(d->feed_ids[0]), "%.159s", lines[i].id);
        if (d->in_feed && strcmp(lines[i].id, d->feed_sel) == 0)
            d->feed_tab.sel = (size_t)i;
    }
    table_layout(&d->feed_tab, header_y, f.max, cols);
    table_header(&d->feed_tab, app, cols);
    for (int i = 0; i < f.n; i++) {
        const struct feed_line *l = &lines[i];
        size_t ri = (size_t)i;
        attr_t a = app_attr(app, l->error ? THEME_ERROR : THEME_NORMAL);
        if (d->in_feed && strcmp(l->id, d->feed_sel) == 0) {
            a = app_attr(app, THEME_SELECTION);
            app_fill(app, table_row_y(&d->feed_tab, ri), 0, cols, a);
        }
        table_cell(&d->feed_tab, app, ri, FC_TIME, a, l->when + 11);
        table_cell(&d->feed_tab, app, ri, FC_INTENT, a, l->intent);
        table_cell(&d->feed_tab, app, ri, FC_AGENT, a, l->agent);
        table_cell(&d->feed_tab, app, ri, FC_STATUS, a, l->status);
        table_cell(&d->feed_tab, app, ri, FC_ERROR, a, l->code);
        table_cell(&d->feed_tab, app, ri, FC_DURATION, a, l->dur);
        table_cell(&d->feed_tab, app, ri, FC_ID, a, l->id);
    }
    if (f.n == 0 && d->show_failures) {
        app_put(app, header_y + 1, 1, cols - 2, app_attr(app, THEME_DIM),
                "no failures recorded for this agent");
    } else if (f.n == 0) {
        snprintf(title, sizeof(title), "no records yet: press f to fire an intent%s, or run:",
                 app->model.cfg->is_demo && !app->opts.read_only ? " (T: demo traffic)" : "");
        app_put(app, header_y + 1, 1, cols - 2, app_attr(app, THEME_DIM), title);
        snprintf(title, sizeof(title), "  %s", d->self_cmd);
        app_put(app, header_y + 2, 1, cols - 2, app_attr(app, THEME_DIM), title);
    }
}

/* Agents that reported model calls (MODEL_CALL events, core/subintent.h). */
static size_t
model_rows(const struct dash *d)
{
    size_t n = 0;

    for (size_t i = 0; d->have_snap && i < d->snap.n_agents; i++)
        n += d->snap.agents[i].model_calls > 0;
    return n;
}

/* Per agent: model calls, tokens, total and mean latency. */
static void
draw_models(struct app *app, struct dash *d, int y, int rows, int cols)
{
    char line[256];
    int n = 0;

    snprintf(line, sizeof(line), " Model calls  %-20s %6s %8s %10s %10s", "AGENT", "CALLS",
             "TOKENS", "LATENCY", "MEAN");
    app_put(app, y, 0, cols, app_attr(app, THEME_TABLE_HEADER), line);
    for (size_t i = 0; i < d->snap.n_agents && n < rows; i++) {
        const struct agg_row *r = &d->snap.agents[i];
        char total[24] = "n/a", mean[24] = "n/a", name[FMT_ESC_SIZE(64)];
        if (r->model_calls == 0)
            continue;
        if (r->model_timed > 0) {
            fmt_duration_us(r->model_latency_us, total, sizeof(total));
            fmt_duration_us(r->model_latency_us / (int64_t)r->model_timed, mean, sizeof(mean));
        }
        fmt_escape(r->name, strlen(r->name), 0, name, sizeof(name));
        snprintf(line, sizeof(line), "              %-20.20s %6llu %8llu %10s %10s", name,
                 (unsigned long long)r->model_calls, (unsigned long long)r->model_tokens, total,
                 mean);
        app_put(app, y + 1 + n, 0, cols, app_attr(app, THEME_NORMAL), line);
        n++;
    }
}

static void
dash_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct dash *d = state;
    int table_rows, models;

    refresh_snapshot(app, d);
    if (d->n_rows > 0)
        snprintf(d->sel_name, sizeof(d->sel_name), "%s", d->rows[d->sel].name);
    draw_header(app, d, top, cols);
    table_rows = (int)d->n_rows + 1;
    if (table_rows > rows / 2)
        table_rows = rows / 2;
    if (table_rows < 3)
        table_rows = 3;
    draw_agents(app, d, top + 2, table_rows - 1, cols);
    app_hline(app, top + 2 + table_rows, 0, cols);
    /* Model calls, when any agent reported some: a header and a row each,
     * at most a quarter of the screen. */
    models = model_rows(d) > 0 ? (int)model_rows(d) + 1 : 0;
    if (models > rows / 4)
        models = rows / 4;
    if (models >= 2) {
        draw_models(app, d, top + 3 + table_rows, models - 1, cols);
        app_hline(app, top + 3 + table_rows + models, 0, cols);
        table_rows += models + 1;
    }
    draw_feed(app, d, top + 3 + table_rows, rows - table_rows - 3, cols);
}

static void
reset_confirmed(struct app *app, void *ctx, const char *name)
{
    struct dash *d = ctx;
    struct intentus_err err = { 0 };

    if (runtime_reset_breaker(app->model.rt, name, &err) != 0)
        app_message(app, true, "%s", err.msg);
    else
        app_message(app, false,
                    "circuit of %s reset to CLOSED in this console's router only: other "
                    "processes' breakers (what records show) are unchanged; --server resets a "
                    "service's",
                    name);
    d->stale = true;
}

static void
toggle_confirmed(struct app *app, void *ctx, const char *name)
{
    struct dash *d = ctx;
    struct intentus_err err = { 0 };
    bool on = !runtime_agent_enabled(app->model.rt, name);

    if (runtime_set_agent_enabled(app->model.rt, name, on, &err) != 0)
        app_message(app, true, "%s", err.msg);
    else
        app_message(app, false, "%s %s until the console restarts", name,
                    on ? "enabled" : "disabled");
    d->stale = true;
}

static void
agent_action(struct app *app, struct dash *d, enum key_action act)
{
    struct intentus_err err = { 0 };
    const char *name;

    if (d->n_rows == 0)
        return;
    name = d->rows[d->sel].name;
    if (app->opts.read_only) {
        app_message(app, true, "read-only console: agent actions are disabled");
        return;
    }
    if (!d->rows[d->sel].configured) {
        app_message(app, true, "%s is not in this configuration (seen in records only)", name);
        return;
    }
    if (app->model.remote != NULL) {
        char q[256];
        bool on = d->rows[d->sel].disabled;
        if (!d->rows[d->sel].remote) {
            app_message(app, true, "%s is not one of the service's agents", name);
            return;
        }
        if (act == ACT_RESET_BREAKER)
            snprintf(q, sizeof(q), "reset the breaker of %.100s on the service? (y/n)", name);
        else
            snprintf(q, sizeof(q), "%s %.100s on the service? (y/n)", on ? "enable" : "disable",
                     name);
        app_confirm(app, act == ACT_RESET_BREAKER ? "reset" : on ? "enable" : "disable", name, q);
        return;
    }
    /* State-changing keys ask first (k9s): the answer comes back to
     * reset_confirmed / toggle_confirmed; enabling an agent again does not. */
    (void)err;
    if (act == ACT_RESET_BREAKER) {
        char q[256];
        snprintf(q, sizeof(q), "reset the circuit of %.100s to CLOSED? (y/n)", name);
        app_ask(app, q, name, reset_confirmed, d);
    } else if (!runtime_agent_enabled(app->model.rt, name)) {
        toggle_confirmed(app, d, name);
    } else {
        char q[256];
        snprintf(q, sizeof(q), "disable %.100s (skipped by every route until enabled)? (y/n)",
                 name);
        app_ask(app, q, name, toggle_confirmed, d);
    }
}

static void
dash_model_changed(struct app *app, void *state)
{
    (void)app;
    ((struct dash *)state)->stale = true;
}

/* Say how the agents are sorted and keep it for the next start. */
static void
save_agents_sort(struct app *app, const struct dash *d)
{
    app_message(app, false, "agents sorted by %s%s", sort_names[d->sort],
                d->reverse ? " (reversed)" : "");
    snprintf(app->ui.prefs.agents_sort, sizeof(app->ui.prefs.agents_sort), "%s%s",
             d->reverse ? "-" : "", sort_words[d->sort]);
    app_prefs_save(app);
}

/* Down into and along the feed (older), Up back towards the newest and out
 * of the feed at its top. */
static void
feed_move(struct dash *d, int delta)
{
    int pos = -1;

    if (!d->in_feed) {
        d->in_feed = delta > 0 && d->n_feed > 0;
        if (d->in_feed)
            snprintf(d->feed_sel, sizeof(d->feed_sel), "%s", d->feed_ids[0]);
        return;
    }
    for (int i = 0; i < d->n_feed; i++) {
        if (strcmp(d->feed_ids[i], d->feed_sel) == 0)
            pos = i;
    }
    if (pos < 0) { /* scrolled off the bottom: older than every row shown */
        if (delta < 0 && d->n_feed > 0)
            snprintf(d->feed_sel, sizeof(d->feed_sel), "%s", d->feed_ids[d->n_feed - 1]);
        return;
    }
    if (pos + delta < 0)
        d->in_feed = false;
    else if (pos + delta < d->n_feed)
        snprintf(d->feed_sel, sizeof(d->feed_sel), "%s", d->feed_ids[pos + delta]);
}

/* A click: an agent's row selects it, a title sorts by its column (again:
 * the other way round). */
static unsigned
dash_click(struct app *app, void *state, const struct key_event *ev)
{
    struct dash *d = state;

    if (d->stale)
        refresh_snapshot(app, d);
    int sort_key = -1;
    d->tab.n_rows = d->n_rows;
    /* A row of the feed: the cursor goes there (the feed stays newest first). */
    if (table_click(&d->feed_tab, ev->y, ev->x, &sort_key) == 1 &&
        d->feed_tab.sel < (size_t)d->n_feed) {
        d->in_feed = true;
        snprintf(d->feed_sel, sizeof(d->feed_sel), "%s", d->feed_ids[d->feed_tab.sel]);
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    switch (table_click(&d->tab, ev->y, ev->x, &sort_key)) {
    case 1:
        d->sel = d->tab.sel;
        d->in_feed = false;
        break;
    case 2:
        if ((int)d->sort == sort_key)
            d->reverse = !d->reverse;
        else
            d->sort = (enum dash_col)sort_key, d->reverse = false;
        save_agents_sort(app, d);
        rebuild(app, d);
        break;
    default:
        return 0;
    }
    if (d->n_rows > 0)
        snprintf(d->sel_name, sizeof(d->sel_name), "%s", d->rows[d->sel].name);
    return VIEW_HANDLED | VIEW_REDRAW;
}

static unsigned
dash_handle(struct app *app, void *state, enum key_action act, const struct key_event *ev)
{
    struct dash *d = state;

    (void)ev;
    if (d->stale)
        refresh_snapshot(app, d);
    switch (act) {
    case ACT_LEFT:
    case ACT_RIGHT:
        /* scroll to the columns that do not fit: the feed's while in it */
        table_key(d->in_feed ? &d->feed_tab : &d->tab, act);
        break;
    case ACT_RESET_BREAKER:
    case ACT_TOGGLE_AGENT:
        agent_action(app, d, act);
        break;
    case ACT_UP:
        if (d->in_feed)
            feed_move(d, -1);
        else if (d->sel > 0)
            d->sel--;
        break;
    case ACT_DOWN:
        if (d->in_feed || d->sel + 1 >= d->n_rows)
            feed_move(d, 1);
        else
            d->sel++;
        break;
    case ACT_TOP:
    case ACT_PAGE_UP:
        d->in_feed = false;
        d->sel = 0;
        break;
    case ACT_BOTTOM:
    case ACT_PAGE_DOWN:
        d->sel = d->n_rows ? d->n_rows - 1 : 0;
        break;
    case ACT_OPEN:
        if (d->in_feed && d->feed_sel[0] != '\0') {
            app_show_record(app, d->feed_sel);
            break;
        }
        d->show_failures = !d->show_failures;
        d->in_feed = false;
        break;
    case ACT_SORT:
    case ACT_SORT_REVERSE:
        if (act == ACT_SORT)
            d->sort = (enum dash_col)((d->sort + 1) % COL_COUNT);
        else
            d->reverse = !d->reverse;
        rebuild(app, d);
        save_agents_sort(app, d);
        break;
    default:
        return 0;
    }
    if (d->n_rows > 0)
        snprintf(d->sel_name, sizeof(d->sel_name), "%s", d->rows[d->sel].name);
    return VIEW_HANDLED | VIEW_REDRAW;
}

const struct view_ops view_dashboard = {
    .name = "Dashboard",
    .keyctx = KEYCTX_DASHBOARD,
    .state_size = sizeof(struct dash),
    .open = dash_open,
    .close = dash_close,
    .draw = dash_draw,
    .handle = dash_handle,
    .click = dash_click,
    .model_changed = dash_model_changed,
};
