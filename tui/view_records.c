/* Records: the index as a table, newest first, with an incremental filter
 * ('/': free text plus intent: agent: status: error: since:), sorting,
 * paging, and live updates that keep the selection on the same record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "tui/app.h"
#include "tui/fmt.h"
#include "tui/query.h"

enum rec_sort { SORT_TIME, SORT_INTENT, SORT_AGENT, SORT_STATUS, SORT_DURATION, SORT_COUNT };
static const char *const sort_names[] = { "time", "intent", "agent", "status", "duration" };

struct recs {
    size_t *pos; /* index positions of the rows shown, in display order */
    size_t n, cap;
    size_t sel, top;
    uint64_t built_gen;
    bool built;
    char filter_text[256];
    struct query q;
    enum rec_sort sort;
    bool reverse;
    char sel_id[160];
    int page_rows;
    char marked[2][160]; /* records marked for a diff ("" = none) */
    /* while the filter prompt is open: the filter to go back to on Esc */
    struct query saved_q;
    char saved_text[256], prompt_buf[256];
};

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

static void
rebuild(struct app *app, struct recs *r)
{
    size_t n = index_size(app->ix);
    struct collect c = { r, app->ix };
    uint32_t agent_sid = r->q.filter.agent ? index_str_lookup(app->ix, r->q.filter.agent) : 0;

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
        index_get(app->ix, i, &v);
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
    /* Keep the selection on the same record when rows move. */
    r->sel = 0;
    if (r->sel_id[0] != '\0') {
        for (size_t i = 0; i < r->n; i++) {
            struct index_view v;
            index_get(app->ix, r->pos[i], &v);
            if (strcmp(v.id, r->sel_id) == 0) {
                r->sel = i;
                break;
            }
        }
    }
    r->built = true;
    r->built_gen = app->generation;
}

static void
remember_selection(struct app *app, struct recs *r)
{
    struct index_view v;

    if (r->n == 0 || r->sel >= r->n) {
        r->sel_id[0] = '\0';
        return;
    }
    index_get(app->ix, r->pos[r->sel], &v);
    snprintf(r->sel_id, sizeof(r->sel_id), "%s", v.id);
}

static void
recs_close(void *state)
{
    free(((struct recs *)state)->pos);
}

static void
recs_model_changed(struct app *app, void *state)
{
    (void)app;
    ((struct recs *)state)->built = false;
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): a flat draw routine, one block per
 * column. */
static void
recs_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct recs *r = state;
    char line[1024], title[400];
    int body = rows - 2;

    if (!r->built || r->built_gen != app->generation)
        rebuild(app, r);
    r->page_rows = body;
    snprintf(title, sizeof(title), " %zu of %zu records  sort: %s%s  filter: %s", r->n,
             index_size(app->ix), sort_names[r->sort], r->reverse ? " (reversed)" : "",
             r->filter_text[0] ? r->filter_text : "(none; / to filter)");
    if (app->incomplete.n > 0) {
        /* Executions the WAL shows as started and not finished have no
         * record yet: name them here with their state. */
        size_t len =
            (size_t)snprintf(title, sizeof(title), " WAL: %zu incomplete:", app->incomplete.n);
        for (size_t i = 0; i < app->incomplete.n && i < 8 && len < sizeof(title) - 40; i++)
            len += (size_t)snprintf(title + len, sizeof(title) - len, " %.8s %s",
                                    app->incomplete.id[i], app->incomplete.state[i]);
        snprintf(title + len, sizeof(title) - len, "  (intentus recovery scan)");
        app_put(app, top, 0, cols, app_attr(app, THEME_WARN), title);
        top++;
        body--;
        snprintf(title, sizeof(title), " %zu of %zu records  sort: %s%s  filter: %s", r->n,
                 index_size(app->ix), sort_names[r->sort], r->reverse ? " (reversed)" : "",
                 r->filter_text[0] ? r->filter_text : "(none; / to filter)");
    }
    app_put(app, top, 0, cols, app_attr(app, THEME_DIM), title);
    /* Below 150 columns the id shrinks to its first 8 characters (enough to
     * tell records apart on screen; Enter shows it whole) and the strategy and
     * date go, so status, error and duration still fit in 80. */
    bool wide = cols >= 150;
    if (wide)
        snprintf(line, sizeof(line), " %-19s %-36s %-22s %-16s %-9s %-10s %-20s %9s %3s",
                 "TIME (UTC)", "ID", "INTENT", "AGENT", "STRATEGY", "STATUS", "ERROR", "DURATION",
                 "RTY");
    else
        snprintf(line, sizeof(line), " %-8s %-8s %-18s %-12s %-7s %-12s %8s", "TIME", "ID",
                 "INTENT", "AGENT", "STATUS", "ERROR", "DURATION");
    app_fill(app, top + 1, 0, cols, app_attr(app, THEME_TABLE_HEADER));
    app_put(app, top + 1, 0, cols, app_attr(app, THEME_TABLE_HEADER), line);
    if (r->sel >= r->n)
        r->sel = r->n ? r->n - 1 : 0;
    if (r->sel < r->top)
        r->top = r->sel;
    if (body > 0 && r->sel >= r->top + (size_t)body)
        r->top = r->sel - (size_t)body + 1;
    if (r->top > r->n)
        r->top = 0;
    for (int i = 0; i < body && r->top + (size_t)i < r->n; i++) {
        struct index_view v;
        char when[32], intent[64], agent[64], err[64], dur[16], status[16];
        bool sel = r->top + (size_t)i == r->sel;
        attr_t a;
        index_get(app->ix, r->pos[r->top + (size_t)i], &v);
        fmt_time_short(v.created_us, when, sizeof(when));
        /* An encrypted file that cannot be opened says so where its
         * intent would be (the status column is too narrow for it). */
        fmt_cell(v.intent                       ? v.intent
                 : (v.flags & DIGEST_LOCKED)    ? "(key missing)"
                 : (v.flags & DIGEST_TAMPERED)  ? "(tampered)"
                 : (v.flags & DIGEST_TRUNCATED) ? "(truncated)"
                                                : "?",
                 wide ? 22 : 18, intent, sizeof(intent));
        fmt_cell(v.agent ? v.agent : "-", wide ? 16 : 12, agent, sizeof(agent));
        fmt_cell(v.error_code ? v.error_code : "", wide ? 20 : 12, err, sizeof(err));
        fmt_duration_us(v.duration_us, dur, sizeof(dur));
        snprintf(status, sizeof(status), "%s",
                 (v.flags & DIGEST_CORRUPT) ? digest_bad_word(v.flags)
                                            : record_status_name(v.status));
        if (v.flags & DIGEST_CORRUPT)
            for (char *c = status; *c; c++)
                *c = (char)(*c - 'a' + 'A');
        if (wide)
            snprintf(line, sizeof(line), " %-19s %-36.36s %-*s %-*s %-9.9s %-10s %-*s %9s %3d",
                     when, v.id, (int)(22 + strlen(intent) - fmt_width(intent)), intent,
                     (int)(16 + strlen(agent) - fmt_width(agent)), agent,
                     v.strategy ? v.strategy : "-", status,
                     (int)(20 + strlen(err) - fmt_width(err)), err, dur, v.retries);
        else
            snprintf(line, sizeof(line), " %-8.8s %-8.8s %-*s %-*s %-7.7s %-*s %8s",
                     strlen(when) > 11 ? when + 11 : when, v.id,
                     (int)(18 + strlen(intent) - fmt_width(intent)), intent,
                     (int)(12 + strlen(agent) - fmt_width(agent)), agent, status,
                     (int)(12 + strlen(err) - fmt_width(err)), err, dur);
        if (sel)
            a = app_attr(app, THEME_SELECTION);
        else if ((v.flags & DIGEST_CORRUPT) || v.status == RECORD_ERROR)
            a = app_attr(app, THEME_ERROR);
        else if (v.status == RECORD_INCOMPLETE)
            a = app_attr(app, THEME_WARN);
        else
            a = app_attr(app, THEME_NORMAL);
        if (sel)
            app_fill(app, top + 2 + i, 0, cols, a);
        app_put(app, top + 2 + i, 0, cols, a, line);
        if (strcmp(r->marked[0], v.id) == 0 || strcmp(r->marked[1], v.id) == 0)
            app_put(app, top + 2 + i, 0, 1, app_attr(app, THEME_PROMPT) | A_BOLD, "*");
    }
    if (r->n == 0)
        app_put(app, top + 2, 1, cols - 2, app_attr(app, THEME_DIM),
                index_size(app->ix) ? "no record matches the filter (c clears it)"
                                    : "no records in this directory yet");
}
/* NOLINTEND(readability-function-cognitive-complexity) */

static void
on_filter_change(struct app *app, void *ctx, const char *text)
{
    struct recs *r = ctx;
    char err[200];
    struct query q;

    if (query_parse(text, clock_wall_us(), &q, err, sizeof(err)) != 0)
        return; /* keep the last good filter while typing */
    r->q = q;
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
        r->q = r->saved_q;
        snprintf(r->filter_text, sizeof(r->filter_text), "%s", r->saved_text);
    } else if (query_parse(r->prompt_buf, clock_wall_us(), &r->q, err, sizeof(err)) != 0) {
        app_message(app, true, "filter: %s", err);
        r->q = r->saved_q;
        snprintf(r->filter_text, sizeof(r->filter_text), "%s", r->saved_text);
    } else {
        snprintf(r->filter_text, sizeof(r->filter_text), "%s", r->prompt_buf);
    }
    r->built = false;
    app->dirty = true;
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
    r->q = q;
    snprintf(r->filter_text, sizeof(r->filter_text), "%s", arg->text);
    r->built = false;
    r->sel = 0;
}

/* A click on a row selects it (rows start 4 lines down). */
static unsigned
recs_click(struct app *app, void *state, const struct key_event *ev)
{
    struct recs *r = state;
    int y = ev->y - 4;

    if (y >= 0 && r->top + (size_t)y < r->n) {
        r->sel = r->top + (size_t)y;
        remember_selection(app, r);
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    return 0;
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): a flat switch, one case per key action.
 */
static unsigned
recs_handle(struct app *app, void *state, enum key_action act, int key)
{
    struct recs *r = state;
    size_t page = r->page_rows > 1 ? (size_t)r->page_rows - 1 : 1;

    (void)key;
    switch (act) {
    case ACT_UP:
        if (r->sel > 0)
            r->sel--;
        break;
    case ACT_DOWN:
        if (r->sel + 1 < r->n)
            r->sel++;
        break;
    case ACT_PAGE_UP:
        r->sel = r->sel > page ? r->sel - page : 0;
        break;
    case ACT_PAGE_DOWN:
        r->sel = r->sel + page < r->n ? r->sel + page : (r->n ? r->n - 1 : 0);
        break;
    case ACT_TOP:
        r->sel = 0;
        break;
    case ACT_BOTTOM:
        r->sel = r->n ? r->n - 1 : 0;
        break;
    case ACT_OPEN:
        if (r->n > 0) {
            struct index_view v;
            index_get(app->ix, r->pos[r->sel], &v);
            app_show_record(app, v.id);
        }
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_MARK:
        if (r->n > 0) {
            struct index_view v;
            index_get(app->ix, r->pos[r->sel], &v);
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
            index_get(app->ix, r->pos[r->sel], &v);
            app_show(app, SCREEN_REDACT, &(struct view_arg){ .id = v.id });
        }
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_FILTER:
        r->saved_q = r->q;
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
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_SORT_REVERSE:
        r->reverse = !r->reverse;
        r->built = false;
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_NEXT_MATCH:
    case ACT_PREV_MATCH:
        /* Jump to the next error record: the common hunt in this table. */
        for (size_t step = 1; step <= r->n; step++) {
            size_t i = act == ACT_NEXT_MATCH ? (r->sel + step) % r->n
                                             : (r->sel + r->n - step % r->n) % r->n;
            struct index_view v;
            index_get(app->ix, r->pos[i], &v);
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

const struct view_ops view_records = {
    .name = "Records",
    .keyctx = KEYCTX_RECORDS,
    .state_size = sizeof(struct recs),
    .open = NULL,
    .close = recs_close,
    .draw = recs_draw,
    .handle = recs_handle,
    .model_changed = recs_model_changed,
    .show = recs_show,
    .click = recs_click,
};
