/* Records: the index as a table, newest first, with an incremental filter
 * ('/': free text plus intent: agent: status: error: since:), sorting,
 * paging, and live updates that keep the selection on the same record. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/store.h"
#include "tui/app.h"
#include "tui/fmt.h"
#include "tui/job.h"
#include "tui/query.h"
#include "tui/table.h"
#include "watch/index_query.h"
#include "watch/stores.h"

enum rec_sort { SORT_TIME, SORT_INTENT, SORT_AGENT, SORT_STATUS, SORT_DURATION, SORT_COUNT };
static const char *const sort_names[] = { "time", "intent", "agent", "status", "duration" };

struct recs {
    size_t *pos; /* index positions of the rows shown, in display order */
    size_t n, cap;
    size_t sel, top;
    uint64_t built_gen;
    char filter_text[256];
    struct query q;
    enum rec_sort sort;
    int page_rows;
    char sel_id[160];
    char marked[2][160]; /* records marked for a diff ("" = none) */
    /* while the filter prompt is open: the filter to go back to on Esc */
    struct query saved_q;
    char saved_text[256], prompt_buf[256];
    struct table tab;
    struct table_col cols[9];
    /* With the persistent index (app->model.db), or on a store that has
     * none (postgres: app->model.rstore without db): the rows the index or
     * the engine gave for the filter, newest first, at most limit of them
     * (paging past the last one asks for more), and how many match in all.
     * page_used false: the rows come from app->model.ix (every record,
     * or the store's window when the engine did not answer or, on
     * postgres, while it has not answered the filter yet). */
    struct index *page;
    size_t limit, matching;
    int64_t built_at;
    /* postgres: the page is a job's answer (page_work on a worker with a
     * connection of its own, app->model.page_store), one job at a time:
     * page_text, page_matching the filter it answers and its count;
     * asked_* what the last job was asked (an answer for another filter
     * than filter_text is dropped when it arrives). */
    char page_text[256], asked_text[256];
    size_t page_matching, asked_limit;
    uint64_t asked_gen;
    int64_t job_at;
    bool asked, asked_failed, job_running;
    bool page_used;
    bool built;
    bool reverse;
    bool follow; /* F: the cursor follows the newest record (tail -f) */
};

static struct index *
rix(struct app *app, struct recs *r)
{
    return r->page_used ? r->page : app->model.ix;
}

static void save_sort(struct app *app, const struct recs *r);

struct collect {
    struct recs *r;
    const struct index *ix;
};

/* The filter's terms other than agent (which rebuild() checks against the
 * attempted agents too). */
static bool
matches(const struct index_view *v, const struct index_filter *f)
{
    if (f->intent != NULL && (v->intent == NULL || strcmp(v->intent, f->intent) != 0))
        return false;
    if (f->error_code != NULL &&
        (v->error_code == NULL || strcmp(v->error_code, f->error_code) != 0))
        return false;
    if (f->status != NULL) {
        const char *st = (v->flags & DIGEST_CORRUPT) ? "corrupt" : record_status_name(v->status);
        if (strcmp(st, f->status) != 0)
            return false;
    }
    if (f->since_us != 0 && v->created_us < f->since_us)
        return false;
    if (f->text != NULL && f->text[0] != '\0') {
        /* Free text: any of the columns the table shows. */
        const char *cols[] = { v->id, v->intent, v->agent, v->strategy, v->error_code };
        bool hit = false;
        for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]) && !hit; i++)
            hit = cols[i] != NULL && strcasestr(cols[i], f->text) != NULL;
        if (!hit)
            return false;
    }
    return true;
}

static int
cmp_rows(const void *x, const void *y, void *ctx)
{
    const struct index *ix = ((struct collect *)ctx)->ix;
    const struct recs *r = ((struct collect *)ctx)->r;
    struct index_view a, b;
    int c = 0;

    index_get(ix, *(const size_t *)x, &a);
    index_get(ix, *(const size_t *)y, &b);
    switch (r->sort) {
    case SORT_INTENT:
        c = strcmp(a.intent ? a.intent : "", b.intent ? b.intent : "");
        break;
    case SORT_AGENT:
        c = strcmp(a.agent ? a.agent : "", b.agent ? b.agent : "");
        break;
    case SORT_STATUS:
        c = (int)b.status - (int)a.status; /* errors first */
        break;
    case SORT_DURATION:
        c = a.duration_us < b.duration_us ? 1 : a.duration_us > b.duration_us ? -1 : 0;
        break;
    default:
        break;
    }
    if (c == 0) /* newest first within equal keys */
        c = a.created_us < b.created_us ? 1 : a.created_us > b.created_us ? -1 : 0;
    return r->reverse ? -c : c;
}

static int
page_row(void *ctx, const struct digest *d)
{
    return index_upsert(ctx, d, NULL) == 0 ? 0 : 1;
}

/* A row of the engine's answer as the page's digest: the columns the
 * table shows and filters on (no attempt steps: the detail screen reads
 * the record by id). */
static int
page_store_row(void *ctx, const struct store_row *row)
{
    struct digest d = { .id = row->id,
                        .created_us = row->created_us,
                        .intent = row->intent,
                        .agent = row->agent,
                        .strategy = row->strategy,
                        .error_code = row->error_code,
                        .node = row->node,
                        .note = row->note,
                        .status = row->status,
                        .duration_us = row->duration_us,
                        .attempts = row->attempts,
                        .retries = row->retries,
                        .events = row->events,
                        .flags = row->flags,
                        .file_size = row->size };

    return index_upsert(ctx, &d, NULL) == 0 ? 0 : 1;
}

/* Whether the rows are queries of the engine: a store other than files
 * without an index database (postgres; a sqlite store has db). */
static bool
from_store(const struct app *app)
{
    return app->model.db == NULL && app->model.rstore != NULL;
}

/* The filter's rows from the engine, as `records list --store` asks it:
 * store_count and store_query on a worker (tui/job.h) with the job's own
 * connection, so a slow server never stalls the loop. */
struct page_job {
    struct app *app; /* and r: touched only in page_done, on the loop's thread */
    struct recs *r;
    struct store *store; /* app->model.page_store, or opened here from url */
    const char *url;     /* app->model.store_url: lives as long as the console */
    struct query q;      /* the job's copy */
    char text[256];      /* the filter's text it answers */
    size_t limit;
    uint64_t gen;
    struct index *page;
    size_t matching;
    int rc;
    struct intentus_err err;
};

static void
page_work(void *arg, const struct job_ctl *ctl)
{
    struct page_job *j = arg;
    const struct index_filter *f = &j->q.filter;
    struct store_filter sf = { .intent = f->intent,
                               .agent = f->agent,
                               .status = f->status,
                               .error_code = f->error_code,
                               .text = f->text,
                               .since_us = f->since_us,
                               .until_us = f->until_us,
                               .failed_agent = f->failed_agent };
    struct store_query q = { .filter = &sf, .newest_first = true, .limit = j->limit };
    long m;

    (void)ctl;
    j->rc = -1;
    if (j->store == NULL)
        j->store = store_open_url(stores_builtin, j->url, &(struct store_opts){ .read_only = true },
                                  &j->err);
    if (j->store == NULL)
        return;
    if ((j->page = index_new()) == NULL) {
        err_set(&j->err, IERR_NOMEM, NULL);
        return;
    }
    m = store_count(j->store, &sf, &j->err);
    if (m < 0 || store_query(j->store, &q, page_store_row, j->page, &j->err) < 0) {
        /* A fresh connection next time (the server may have gone away). */
        store_close(j->store);
        j->store = NULL;
        return;
    }
    j->matching = (size_t)m;
    j->rc = 0;
}

static void rebuild(struct app *app, struct recs *r);

static bool
page_answers(const struct recs *r)
{
    return r->page != NULL && strcmp(r->page_text, r->filter_text) == 0;
}

static void
page_done(void *arg)
{
    struct page_job *j = arg;
    struct recs *r = j->r;
    struct app *app = j->app;

    r->job_running = false;
    app->model.page_store = j->store; /* NULL when it failed */
    if (strcmp(j->text, r->filter_text) != 0) {
        /* The filter changed meanwhile: the answer is dropped (the next
         * draw asks for the filter now). */
    } else if (j->rc == 0) {
        index_free(r->page);
        r->page = j->page;
        j->page = NULL;
        snprintf(r->page_text, sizeof(r->page_text), "%s", j->text);
        r->page_matching = j->matching;
    } else {
        r->asked_failed = true;
        app_message(app, true, "records from %s: %s", app->model.store_url, j->err.msg);
    }
    index_free(j->page);
    free(j);
    /* Now: the rows point into the page (rix), which may have changed. */
    rebuild(app, r);
    app->ui.dirty = true;
}

/* postgres: ask for the filter's page when the one held is not its answer
 * (another filter, limit, or records changed since), one job at a time;
 * asked again for the same filter and limit at most twice a second while
 * records land (once a second after a failure). */
static void
page_refresh(struct app *app, struct recs *r)
{
    int64_t now = clock_mono_us();
    struct page_job *j;

    if (!from_store(app) || r->job_running)
        return;
    if (r->limit == 0)
        r->limit = app->opts.window != 0 ? app->opts.window : APP_WINDOW;
    if (r->asked && strcmp(r->asked_text, r->filter_text) == 0 && r->asked_limit == r->limit) {
        if (r->asked_gen == app->model.generation)
            return;
        int64_t wait_us = r->asked_failed ? 1000000 : 500000;
        if (now - r->job_at < wait_us) {
            app_redraw_after(app, (int)((wait_us - (now - r->job_at)) / 1000) + 1);
            return;
        }
    }
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return;
    j->app = app;
    j->r = r;
    j->store = app->model.page_store;
    j->url = app->model.store_url;
    query_copy(&j->q, &r->q);
    snprintf(j->text, sizeof(j->text), "%s", r->filter_text);
    j->limit = r->limit;
    j->gen = app->model.generation;
    if (job_run(app->jobs, page_work, page_done, j) != 0) {
        free(j);
        app_message(app, true, "records from %s: cannot start a worker thread",
                    app->model.store_url);
        return;
    }
    app->model.page_store = NULL; /* the job's until page_done */
    r->job_running = true;
    r->job_at = now;
    r->asked = true;
    r->asked_failed = false;
    snprintf(r->asked_text, sizeof(r->asked_text), "%s", r->filter_text);
    r->asked_limit = r->limit;
    r->asked_gen = j->gen;
}

/* The rows of the filter from the persistent index (or the engine): its
 * answer, newest first, up to the limit. -1 when it could not answer (the
 * rows of the in-memory window are shown then). */
static int
fetch_page(struct app *app, struct recs *r)
{
    struct intentus_err err = { 0 };
    long m;

    if (r->page == NULL && (r->page = index_new()) == NULL)
        return -1;
    index_clear(r->page);
    if (r->limit == 0)
        r->limit = app->opts.window != 0 ? app->opts.window : APP_WINDOW;
    m = index_query_count(app->model.db, &r->q.filter, &err);
    if (m < 0 || index_query_select(app->model.db, &r->q.filter, true, r->limit, page_row, r->page,
                                    &err) < 0) {
        app_message(app, true, "records from the index: %s", err.msg);
        index_free(r->page);
        r->page = NULL;
        return -1;
    }
    r->matching = (size_t)m;
    return 0;
}

static void
rebuild(struct app *app, struct recs *r)
{
    bool from_db;
    size_t n;
    struct collect c;
    uint32_t agent_sid;

    if (from_store(app)) {
        /* The engine's answer once it has come (a job), the window's rows
         * meanwhile. */
        page_refresh(app, r);
        from_db = page_answers(r);
        if (from_db)
            r->matching = r->page_matching;
    } else {
        from_db = app->model.db != NULL && fetch_page(app, r) == 0;
    }
    r->page_used = from_db;
    n = index_size(rix(app, r));
    c = (struct collect){ r, rix(app, r) };
    agent_sid = r->q.filter.agent ? index_str_lookup(rix(app, r), r->q.filter.agent) : 0;

    r->n = 0;
    if (r->cap < n + 1) {
        size_t *p = realloc(r->pos, (n + 1) * sizeof(*p));
        if (p == NULL)
            return;
        r->pos = p;
        r->cap = n + 1;
    }
    for (size_t i = n; i-- > 0;) {
        struct index_view v;
        struct index_filter f = r->q.filter;
        bool agent_ok = true;
        index_get(rix(app, r), i, &v);
        if (from_db) { /* the index's answer is the answer */
            r->pos[r->n++] = i;
            continue;
        }
        if (f.agent != NULL) {
            /* The deciding agent, or any agent attempted. */
            agent_ok = v.agent != NULL && strcmp(v.agent, f.agent) == 0;
            for (size_t k = 0; !agent_ok && agent_sid != 0 && k < v.n_steps; k++)
                agent_ok = v.steps[k].agent == agent_sid;
            f.agent = NULL;
        }
        if (agent_ok && matches(&v, &f))
            r->pos[r->n++] = i;
    }
    if (r->sort != SORT_TIME || r->reverse)
        qsort_r(r->pos, r->n, sizeof(*r->pos), cmp_rows, &c);
    /* Following: the cursor goes to the newest record, wherever the sort
     * puts it. Else it stays on the same record when rows move. */
    if (r->follow && r->n > 0) {
        size_t best = 0;
        int64_t newest = INT64_MIN;
        for (size_t i = 0; i < r->n; i++) {
            struct index_view v;
            index_get(rix(app, r), r->pos[i], &v);
            if (v.created_us > newest) {
                newest = v.created_us;
                best = i;
            }
        }
        struct index_view v;
        index_get(rix(app, r), r->pos[best], &v);
        snprintf(r->sel_id, sizeof(r->sel_id), "%s", v.id);
    }
    r->sel = 0;
    if (r->sel_id[0] != '\0') {
        for (size_t i = 0; i < r->n; i++) {
            struct index_view v;
            index_get(rix(app, r), r->pos[i], &v);
            if (strcmp(v.id, r->sel_id) == 0) {
                r->sel = i;
                break;
            }
        }
    }
    if (!from_db)
        r->matching = r->n;
    r->built = true;
    r->built_gen = app->model.generation;
    r->built_at = clock_mono_us();
}

static void
remember_selection(struct app *app, struct recs *r)
{
    struct index_view v;

    if (r->n == 0 || r->sel >= r->n) {
        r->sel_id[0] = '\0';
        return;
    }
    index_get(rix(app, r), r->pos[r->sel], &v);
    snprintf(r->sel_id, sizeof(r->sel_id), "%s", v.id);
}

static void
recs_close(void *state)
{
    free(((struct recs *)state)->pos);
    index_free(((struct recs *)state)->page);
}

static void
recs_model_changed(struct app *app, void *state)
{
    (void)app;
    ((struct recs *)state)->built = false;
}

enum rec_col {
    RC_TIME,
    RC_ID,
    RC_INTENT,
    RC_AGENT,
    RC_STRATEGY,
    RC_STATUS,
    RC_ERROR,
    RC_DURATION,
    RC_RETRIES,
    RC_COUNT
};

/* The columns at this width: below 150 the time loses its date and the id
 * becomes the shortest suffix that tells the rows on screen apart (a
 * UUIDv7's first 8 characters are its timestamp, the same for a minute of
 * records; Enter shows it whole); the error code gets the room. */
static void
set_columns(struct recs *r, bool wide, int id_width)
{
    static const struct table_col base[RC_COUNT] = {
        [RC_TIME] = { "TIME", 8, 0, 0, false, false, SORT_TIME },
        [RC_ID] = { "ID", 8, 0, 0, false, false, -1 },
        [RC_INTENT] = { "INTENT", 22, 14, 1, false, false, SORT_INTENT },
        [RC_AGENT] = { "AGENT", 16, 10, 3, false, false, SORT_AGENT },
        [RC_STRATEGY] = { "STRATEGY", 9, 0, 5, false, false, -1 },
        [RC_STATUS] = { "STATUS", 10, 7, 0, false, false, SORT_STATUS },
        [RC_ERROR] = { "ERROR", 22, 17, 1, false, true, -1 },
        [RC_DURATION] = { "DURATION", 9, 8, 2, true, false, SORT_DURATION },
        [RC_RETRIES] = { "RTY", 3, 0, 6, true, false, -1 },
    };

    memcpy(r->cols, base, sizeof(base));
    if (wide) {
        r->cols[RC_TIME].title = "TIME (UTC)";
        r->cols[RC_TIME].width = 19;
    }
    r->cols[RC_ID].width = id_width;
    r->tab.cols = r->cols;
    r->tab.n_cols = RC_COUNT;
    r->tab.sort_key = (int)r->sort;
    /* natural directions: newest, errors, longest first; names A to Z */
    r->tab.sort_desc =
        (r->sort == SORT_TIME || r->sort == SORT_STATUS || r->sort == SORT_DURATION) != r->reverse;
}

/* The id column's width for the rows on screen. */
static int
id_width(struct app *app, struct recs *r, bool wide, int body)
{
    const char *ids[256];
    size_t n = 0;

    if (wide)
        return 36;
    for (size_t i = r->tab.top; i < r->n && n < (size_t)body && n < 256; i++) {
        struct index_view v;
        index_get(rix(app, r), r->pos[i], &v);
        ids[n++] = v.id;
    }
    n = fmt_unique_suffix_len(ids, n, 4);
    return n < 4 ? 4 : n > 12 ? 12 : (int)n;
}

static void
draw_row(struct app *app, struct recs *r, size_t i, bool wide, int cols)
{
    struct index_view v;
    char when[32], dur[16], status[16], rty[8];
    size_t idlen;
    attr_t a;
    int y = table_row_y(&r->tab, i);
    bool sel = i == r->tab.sel;

    index_get(rix(app, r), r->pos[i], &v);
    if (sel)
        a = app_attr(app, THEME_SELECTION);
    else if ((v.flags & DIGEST_CORRUPT) || v.status == RECORD_ERROR)
        a = app_attr(app, THEME_ERROR);
    else if (v.status == RECORD_INCOMPLETE)
        a = app_attr(app, THEME_WARN);
    else
        a = app_attr(app, THEME_NORMAL);
    if (sel)
        app_fill(app, y, 0, cols, a);
    fmt_time_short(v.created_us, when, sizeof(when));
    table_cell(&r->tab, app, i, RC_TIME, a, wide || strlen(when) <= 11 ? when : when + 11);
    idlen = strlen(v.id);
    table_cell(&r->tab, app, i, RC_ID, a,
               idlen > (size_t)r->tab.w[RC_ID] ? v.id + idlen - (size_t)r->tab.w[RC_ID] : v.id);
    /* An encrypted file that cannot be opened says so where its intent
     * would be (the status column is too narrow for it). */
    table_cell(&r->tab, app, i, RC_INTENT, a,
               v.intent                       ? v.intent
               : (v.flags & DIGEST_LOCKED)    ? "(key missing)"
               : (v.flags & DIGEST_TAMPERED)  ? "(tampered)"
               : (v.flags & DIGEST_TRUNCATED) ? "(truncated)"
                                              : "?");
    table_cell(&r->tab, app, i, RC_AGENT, a, v.agent ? v.agent : "-");
    table_cell(&r->tab, app, i, RC_STRATEGY, a, v.strategy ? v.strategy : "-");
    snprintf(status, sizeof(status), "%s",
             (v.flags & DIGEST_CORRUPT) ? digest_bad_word(v.flags) : record_status_name(v.status));
    if (v.flags & DIGEST_CORRUPT)
        for (char *c = status; *c; c++)
            *c = (char)(*c - 'a' + 'A');
    table_cell(&r->tab, app, i, RC_STATUS, a, status);
    table_cell(&r->tab, app, i, RC_ERROR, a, v.error_code ? v.error_code : "");
    fmt_duration_us(v.duration_us, dur, sizeof(dur));
    table_cell(&r->tab, app, i, RC_DURATION, a, dur);
    snprintf(rty, sizeof(rty), "%d", v.retries);
    table_cell(&r->tab, app, i, RC_RETRIES, a, rty);
    if (strcmp(r->marked[0], v.id) == 0 || strcmp(r->marked[1], v.id) == 0)
        app_put(app, y, 0, 1, app_attr(app, THEME_PROMPT) | A_BOLD, "*");
}

static void
recs_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct recs *r = state;
    char title[400];
    int body = rows - 2;
    bool wide = cols >= 150;

    /* From the index, records landing refetch the page at most twice a
     * second. */
    page_refresh(app, r);
    if (r->built && r->built_gen != app->model.generation && r->page_used &&
        clock_mono_us() - r->built_at < 500000)
        app_redraw_after(app, 500 - (int)((clock_mono_us() - r->built_at) / 1000) + 1);
    else if (!r->built || r->built_gen != app->model.generation)
        rebuild(app, r);
    r->page_rows = body;
    if (app->model.incomplete.n > 0) {
        /* Executions the WAL shows as started and not finished have no
         * record yet: name them here with their state. */
        size_t len = (size_t)snprintf(title, sizeof(title),
                                      " WAL: %zu incomplete:", app->model.incomplete.n);
        for (size_t i = 0; i < app->model.incomplete.n && i < 8 && len < sizeof(title) - 40; i++)
            len += (size_t)snprintf(title + len, sizeof(title) - len, " %.8s %s",
                                    app->model.incomplete.id[i], app->model.incomplete.state[i]);
        snprintf(title + len, sizeof(title) - len, "  (intentus recovery scan)");
        app_put(app, top, 0, cols, app_attr(app, THEME_WARN), title);
        top++;
        body--;
    }
    {
        char loaded[96] = "", matching[32];
        if (r->n < r->matching)
            snprintf(loaded, sizeof(loaded), "  (newest %zu loaded%s)", r->n,
                     r->sort != SORT_TIME ? ", sorted among them" : "");
        snprintf(matching, sizeof(matching), "%zu", r->matching);
        if (r->job_running) {
            /* postgres: the engine's answer is on its way; until it comes
             * the rows are the window's (or the filter's last page). */
            if (!r->page_used)
                snprintf(matching, sizeof(matching), "?");
            snprintf(loaded, sizeof(loaded), "  loading...%s",
                     r->page_used ? "" : " (the newest loaded meanwhile)");
        }
        snprintf(title, sizeof(title), " %s of %zu records  sort: %s%s  filter: %.200s%s%s",
                 matching, app_total(app), sort_names[r->sort], r->reverse ? " (reversed)" : "",
                 r->filter_text[0] ? r->filter_text : "(none; / to filter)", loaded,
                 r->follow ? "  FOLLOW (F: stop)" : "");
    }
    app_put(app, top, 0, cols, app_attr(app, r->follow ? THEME_PROMPT : THEME_DIM), title);
    r->tab.n_rows = r->n;
    r->tab.sel = r->sel;
    /* Lay out once to place the cursor, then again with the id width of
     * the rows that are on screen. */
    set_columns(r, wide, 8);
    table_layout(&r->tab, top + 1, body, cols);
    set_columns(r, wide, id_width(app, r, wide, body));
    table_layout(&r->tab, top + 1, body, cols);
    r->sel = r->tab.sel;
    r->top = r->tab.top;
    table_header(&r->tab, app, cols);
    for (int i = 0; i < body && r->tab.top + (size_t)i < r->n; i++)
        draw_row(app, r, r->tab.top + (size_t)i, wide, cols);
    if (r->n == 0)
        app_put(app, top + 2, 1, cols - 2, app_attr(app, THEME_DIM),
                r->job_running   ? "loading..."
                : app_total(app) ? "no record matches the filter (c clears it)"
                                 : "no records in this directory yet");
}

static void
on_filter_change(struct app *app, void *ctx, const char *text)
{
    struct recs *r = ctx;
    char err[200];
    struct query q;

    if (query_parse(text, clock_wall_us(), &q, err, sizeof(err)) != 0)
        return;            /* keep the last good filter while typing */
    query_copy(&r->q, &q); /* its terms point into its own buf */
    snprintf(r->filter_text, sizeof(r->filter_text), "%s", text);
    rebuild(app, r);
    remember_selection(app, r);
}

/* The filter prompt closed: Enter keeps the typed filter (when it parses),
 * Esc goes back to the one before. */
static void
on_filter_done(struct app *app, void *ctx, bool ok)
{
    struct recs *r = ctx;
    char err[200];

    if (!ok) {
        query_copy(&r->q, &r->saved_q);
        snprintf(r->filter_text, sizeof(r->filter_text), "%s", r->saved_text);
    } else if (query_parse(r->prompt_buf, clock_wall_us(), &r->q, err, sizeof(err)) != 0) {
        app_message(app, true, "filter: %s", err);
        query_copy(&r->q, &r->saved_q);
        snprintf(r->filter_text, sizeof(r->filter_text), "%s", r->saved_text);
    } else {
        snprintf(r->filter_text, sizeof(r->filter_text), "%s", r->prompt_buf);
    }
    r->built = false;
    app->ui.dirty = true;
}

/* Shown on a filter (":filter EXPR", ":agent NAME"). */
static void
recs_show(struct app *app, void *state, const struct view_arg *arg)
{
    struct recs *r = state;
    char err[200];
    struct query q;

    if (arg->text == NULL)
        return;
    if (query_parse(arg->text, clock_wall_us(), &q, err, sizeof(err)) != 0) {
        app_message(app, true, "filter '%s': %s", arg->text, err);
        return;
    }
    query_copy(&r->q, &q);
    snprintf(r->filter_text, sizeof(r->filter_text), "%s", arg->text);
    r->built = false;
    r->sel = 0;
}

/* Keys typed ahead (Enter right after 2, before the screen was ever
 * drawn, or after a sort key, before the redraw) act on the rows the next
 * draw shows, not on the empty or stale list of the last one. */
static void
rows_for_key(struct app *app, struct recs *r)
{
    if (!r->built)
        rebuild(app, r);
}

/* A click: a row takes the cursor, a title sorts by its column (again: the
 * other way round). */
static unsigned
recs_click(struct app *app, void *state, const struct key_event *ev)
{
    struct recs *r = state;
    int sort_key = -1;

    rows_for_key(app, r);
    r->tab.n_rows = r->n;
    switch (table_click(&r->tab, ev->y, ev->x, &sort_key)) {
    case 1:
        r->sel = r->tab.sel;
        r->follow = false;
        remember_selection(app, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    case 2:
        if ((int)r->sort == sort_key)
            r->reverse = !r->reverse;
        else
            r->sort = (enum rec_sort)sort_key, r->reverse = false;
        r->built = false;
        app_message(app, false, "records sorted by %s%s", sort_names[r->sort],
                    r->reverse ? " (reversed)" : "");
        save_sort(app, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    default:
        return 0;
    }
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): a flat switch, one case per key action.
 */
static unsigned
recs_handle(struct app *app, void *state, enum key_action act, const struct key_event *ev)
{
    struct recs *r = state;

    (void)ev;
    rows_for_key(app, r);
    r->tab.n_rows = r->n;
    r->tab.sel = r->sel;
    if (act == ACT_FOLLOW) {
        r->follow = !r->follow;
        r->built = false;
        app_message(app, false,
                    r->follow ? "following the newest record (F or a move key stops)"
                              : "stopped following");
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    /* Cursor, paging and h/l column scrolling: the table widget's. */
    if (table_key(&r->tab, act)) {
        if (act != ACT_LEFT && act != ACT_RIGHT)
            r->follow = false; /* moving by hand stops following, as in tig */
        r->sel = r->tab.sel;
        remember_selection(app, r);
        if (r->page_used && r->n > 0 && r->sel + 1 >= r->n && r->n < r->matching) {
            /* Paged past the rows loaded: the index gives the next ones. */
            r->limit += app->opts.window != 0 ? app->opts.window : APP_WINDOW;
            r->built = false;
        }
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    switch (act) {
    case ACT_OPEN:
        if (r->n > 0) {
            struct index_view v;
            index_get(rix(app, r), r->pos[r->sel], &v);
            /* with the query, so the detail's [ and ] can step through it */
            app_show(app, SCREEN_DETAIL,
                     &(struct view_arg){ .id = v.id, .q = &r->q, .created_us = v.created_us });
        }
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_MARK:
        if (r->n > 0) {
            struct index_view v;
            index_get(rix(app, r), r->pos[r->sel], &v);
            if (strcmp(r->marked[0], v.id) == 0) {
                memmove(r->marked[0], r->marked[1], sizeof(r->marked[0]));
                r->marked[1][0] = '\0';
            } else if (strcmp(r->marked[1], v.id) == 0) {
                r->marked[1][0] = '\0';
            } else {
                /* Keep the last two marked. */
                if (r->marked[0][0] != '\0' && r->marked[1][0] != '\0')
                    memmove(r->marked[0], r->marked[1], sizeof(r->marked[0]));
                snprintf(r->marked[r->marked[0][0] == '\0' ? 0 : 1], sizeof(r->marked[0]), "%s",
                         v.id);
            }
            app_message(app, false, "%s marked%s",
                        r->marked[1][0]   ? "2 records"
                        : r->marked[0][0] ? "1 record"
                                          : "no record",
                        r->marked[1][0] ? " (D diffs them)" : "");
            if (r->sel + 1 < r->n)
                r->sel++;
            remember_selection(app, r);
        }
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_DIFF:
        if (r->marked[0][0] == '\0' || r->marked[1][0] == '\0') {
            app_message(app, true, "mark two records with m first");
            return VIEW_HANDLED | VIEW_REDRAW;
        }
        app_show_diff(app, r->marked[0], r->marked[1]);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_REDACT_RECORD:
        if (r->n > 0) {
            struct index_view v;
            index_get(rix(app, r), r->pos[r->sel], &v);
            app_show(app, SCREEN_REDACT, &(struct view_arg){ .id = v.id });
        }
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_FILTER:
        query_copy(&r->saved_q, &r->q);
        snprintf(r->saved_text, sizeof(r->saved_text), "%s", r->filter_text);
        snprintf(r->prompt_buf, sizeof(r->prompt_buf), "%s", r->filter_text);
        app_prompt(app, "filter: ", r->prompt_buf, sizeof(r->prompt_buf), on_filter_change,
                   on_filter_done, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_BACK:
        /* Esc/q: clear the filter first, then go back (k9s, lazygit). */
        if (r->filter_text[0] == '\0')
            return 0;
        memset(&r->q, 0, sizeof(r->q));
        r->filter_text[0] = '\0';
        r->built = false;
        app_message(app, false, "filter cleared (Esc or q again goes back)");
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_CLEAR_FILTER:
        memset(&r->q, 0, sizeof(r->q));
        r->filter_text[0] = '\0';
        r->built = false;
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_SORT:
        r->sort = (enum rec_sort)((r->sort + 1) % SORT_COUNT);
        r->built = false;
        app_message(app, false, "records sorted by %s", sort_names[r->sort]);
        save_sort(app, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_SORT_REVERSE:
        r->reverse = !r->reverse;
        r->built = false;
        save_sort(app, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_NEXT_MATCH:
    case ACT_PREV_MATCH:
        /* Jump to the next error record: the common hunt in this table. */
        for (size_t step = 1; step <= r->n; step++) {
            size_t i = act == ACT_NEXT_MATCH ? (r->sel + step) % r->n
                                             : (r->sel + r->n - step % r->n) % r->n;
            struct index_view v;
            index_get(rix(app, r), r->pos[i], &v);
            if (v.status == RECORD_ERROR || (v.flags & DIGEST_CORRUPT)) {
                r->sel = i;
                break;
            }
        }
        break;
    default:
        return 0;
    }
    remember_selection(app, r);
    return VIEW_HANDLED | VIEW_REDRAW;
}
/* NOLINTEND(readability-function-cognitive-complexity) */

/* The sort: the config's console.sort, else the one saved last time. */
static void
recs_open(struct app *app, void *state)
{
    struct recs *r = state;
    const char *want =
        app->model.cfg->console.sort[0] ? app->model.cfg->console.sort : app->ui.prefs.sort;
    bool rev = want[0] == '-';

    for (int i = 0; i < SORT_COUNT; i++) {
        if (strcmp(want + rev, sort_names[i]) == 0) {
            r->sort = (enum rec_sort)i;
            r->reverse = rev;
        }
    }
}

/* Keep the sort for the next start. */
static void
save_sort(struct app *app, const struct recs *r)
{
    snprintf(app->ui.prefs.sort, sizeof(app->ui.prefs.sort), "%s%s", r->reverse ? "-" : "",
             sort_names[r->sort]);
    app_prefs_save(app);
}

const struct view_ops view_records = {
    .name = "Records",
    .keyctx = KEYCTX_RECORDS,
    .state_size = sizeof(struct recs),
    .open = recs_open,
    .close = recs_close,
    .draw = recs_draw,
    .handle = recs_handle,
    .model_changed = recs_model_changed,
    .show = recs_show,
    .click = recs_click,
};
