/* Dashboard: throughput sparkline, the agents table (calls, failures,
 * failure rate, circuit state, latency, last error; sortable), and a live
 * feed of the latest executions, or the selected agent's recent failures. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "tui/app.h"
#include "tui/console_remote.h"
#include "tui/fmt.h"

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
};

struct dash {
    struct agg_snapshot snap;
    bool have_snap;
    uint64_t snap_gen;
    int64_t snap_at;
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
    struct remote_agent *ragents; /* --server: the service's agents as last polled */
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
    d->n_ragents = console_remote_agents(app->remote, d->ragents, 128);
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
    struct registry *reg = app->cfg->registry;
    size_t n_cfg = app->remote != NULL ? 128 : registry_count(reg), cap = n_cfg + d->snap.n_agents,
           n = 0;

    free(d->rows);
    free(d->intent_text);
    d->rows = calloc(cap + 1, sizeof(*d->rows));
    d->intent_text = calloc(cap + 1, sizeof(*d->intent_text));
    if (d->rows == NULL || d->intent_text == NULL) {
        d->n_rows = 0;
        return;
    }
    if (app->remote != NULL)
        n = remote_rows(app, d);
    for (size_t i = 0; app->remote == NULL && i < n_cfg; i++) {
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
        r->disabled = !runtime_agent_enabled(app->rt, a->name);
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
refresh_snapshot(struct app *app, struct dash *d)
{
    int64_t now = clock_mono_us();

    if (d->have_snap && !d->stale && d->snap_gen == app->generation && now - d->snap_at < 1000000)
        return;
    d->stale = false;
    if (d->have_snap)
        agg_snapshot_free(&d->snap);
    d->have_snap = agg_snapshot(app->agg, &(struct agg_opts){ .buckets = 60, .bucket_us = 2000000 },
                                &d->snap, NULL) == 0;
    if (!d->have_snap)
        memset(&d->snap, 0, sizeof(d->snap));
    d->snap_gen = app->generation;
    d->snap_at = now;
    rebuild(app, d);
}

static void
dash_open(struct app *app, void *state)
{
    (void)app;
    ((struct dash *)state)->sort = COL_AGENT;
}

static void
dash_close(void *state)
{
    struct dash *d = state;

    if (d->have_snap)
        agg_snapshot_free(&d->snap);
    free(d->rows);
    free(d->intent_text);
    free(d->ragents);
}

static void
sparkline(struct app *app, int y, int x, int width, const struct agg_snapshot *s)
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
    uint32_t max = 1;
    size_t n = s->n_throughput, from = n > (size_t)width ? n - (size_t)width : 0;

    for (size_t i = from; i < n; i++)
        max = s->throughput[i] > max ? s->throughput[i] : max;
    for (size_t i = from; i < n; i++) {
        int level = s->throughput[i] == 0 ? 0 : 1 + (int)((s->throughput[i] * 7) / max);
        char one[2] = { ascii[level], 0 };
        app_put(app, y, x + (int)(i - from), 1, app_attr(app, THEME_SPARK),
                app->ascii ? one : blocks[level]);
    }
}

static void
draw_header(struct app *app, struct dash *d, int y, int cols)
{
    char line[256], rate[32];
    const struct agg_snapshot *s = &d->snap;
    double per_s = 0;
    int x;

    if (s->n_throughput > 0)
        per_s = (double)s->throughput[s->n_throughput - 1] * 1e6 / (double)s->bucket_us;
    snprintf(rate, sizeof(rate), "%.1f/s", per_s);
    struct runtime_stats rs;

    runtime_stats(app->rt, &rs);
    snprintf(line, sizeof(line),
             " records %llu  corrupt %llu  no timing %llu  sampled out %llu  rate %s  ",
             (unsigned long long)s->records, (unsigned long long)s->corrupt,
             (unsigned long long)s->no_timing, (unsigned long long)rs.sampled_out, rate);
    x = app_put(app, y, 0, cols, app_attr(app, THEME_NORMAL), line);
    if (app_wal_dir(app) != NULL) {
        /* With a WAL: what is running here, and what any writer left unfinished. */
        int64_t oldest, now = clock_mono_us();
        size_t inflight = app_inflight(app, &oldest), incomplete;
        char age[24] = "";
        if (oldest != 0)
            fmt_duration_us(now - oldest, age, sizeof(age));
        pthread_mutex_lock(&app->incomplete.lock);
        incomplete = app->incomplete.n;
        pthread_mutex_unlock(&app->incomplete.lock);
        snprintf(line, sizeof(line), "in flight %zu%s%s%s  incomplete %zu  ", inflight,
                 oldest ? " (oldest " : "", age, oldest ? ")" : "", incomplete);
        x += app_put(app, y, x, cols - x, app_attr(app, incomplete ? THEME_WARN : THEME_NORMAL),
                     line);
    }
    if (!app->synced)
        x += app_put(app, y, x, cols - x, app_attr(app, THEME_WARN), "indexing...  ");
    sparkline(app, y, x, cols - x - 1 > 60 ? 60 : cols - x - 1, s);
}

static void
put_num(struct app *app, int y, int *x, int w, attr_t attr, unsigned long long v)
{
    char b[32];
    snprintf(b, sizeof(b), "%*llu", w, v);
    *x += app_put(app, y, *x, w + 1, attr, b);
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

/* Two layouts: wide terminals get every column; below 120 columns the
 * intents, node, priority and ok columns go, so what matters for spotting
 * trouble (failures, circuit, latency, last error) still fits in 80. */
static void
draw_agents(struct app *app, struct dash *d, int y, int rows, int cols)
{
    bool wide = cols >= 120;
    int namew = wide ? 18 : 16;
    char head[256];

    if (wide)
        snprintf(head, sizeof(head), " %-18s %-14s %-8s %5s %7s %7s %6s %6s %-9s %8s %8s  %s",
                 "AGENT", "INTENTS", "NODE", "PRIO", "CALLS", "OK", "FAIL", "FAIL%", "CIRCUIT",
                 "P50", "P95", "LAST ERROR");
    else
        snprintf(head, sizeof(head), " %-16s %6s %5s %6s %-9s %8s %8s  %s", "AGENT", "CALLS",
                 "FAIL", "FAIL%", "CIRCUIT", "P50", "P95", "LAST ERROR");
    app_fill(app, y, 0, cols, app_attr(app, THEME_TABLE_HEADER));
    app_put(app, y, 0, cols, app_attr(app, THEME_TABLE_HEADER), head);
    if (d->sel < d->top)
        d->top = d->sel;
    if (d->sel >= d->top + (size_t)rows)
        d->top = d->sel - (size_t)rows + 1;
    for (int i = 0; i < rows && d->top + (size_t)i < d->n_rows; i++) {
        const struct dash_row *r = &d->rows[d->top + (size_t)i];
        const struct agg_row *g = r->agg;
        bool sel = d->top + (size_t)i == d->sel;
        attr_t base = sel ? app_attr(app, THEME_SELECTION) : app_attr(app, THEME_NORMAL);
        char cell[64], p50[16], p95[16];
        int x = 0, yy = y + 1 + i;
        double rate = fail_rate(r);
        const char *circ = circuit_of(r);
        if (sel)
            app_fill(app, yy, 0, cols, base);
        x += app_put(app, yy, x, 1, base, " ");
        fmt_cell(r->name, (size_t)namew, cell, sizeof(cell));
        app_put(app, yy, x, namew, base, cell);
        x += namew + 1;
        if (wide) {
            fmt_cell(r->intents, 14, cell, sizeof(cell));
            app_put(app, yy, x, 14, sel ? base : app_attr(app, THEME_DIM), cell);
            x += 15;
            fmt_cell(r->node, 8, cell, sizeof(cell));
            app_put(app, yy, x, 8, base, cell);
            x += 9;
            if (r->configured)
                snprintf(cell, sizeof(cell), "%5ld", r->priority);
            else
                snprintf(cell, sizeof(cell), "%5s", "-");
            x += app_put(app, yy, x, 6, base, cell) + 1;
        }
        put_num(app, yy, &x, wide ? 7 : 6, base, g ? (unsigned long long)g->calls : 0);
        x++;
        if (wide) {
            put_num(app, yy, &x, 7, sel ? base : app_attr(app, THEME_OK),
                    g ? (unsigned long long)g->ok : 0);
            x++;
        }
        put_num(app, yy, &x, wide ? 6 : 5,
                g && g->failed && !sel ? app_attr(app, THEME_ERROR) : base,
                g ? (unsigned long long)g->failed : 0);
        x++;
        if (rate >= 0)
            snprintf(cell, sizeof(cell), "%5.1f%%", rate * 100);
        else
            snprintf(cell, sizeof(cell), "%6s", "-");
        app_put(app, yy, x, 6, rate > 0.2 && !sel ? app_attr(app, THEME_WARN) : base, cell);
        x += 7;
        app_put(app, yy, x, 9, circuit_attr(app, circ), circuit_cell(r, circ, cell, sizeof(cell)));
        x += 10;
        fmt_duration_us(g ? g->p50_us : -1, p50, sizeof(p50));
        fmt_duration_us(g ? g->p95_us : -1, p95, sizeof(p95));
        snprintf(cell, sizeof(cell), "%8s %8s", p50, p95);
        x += app_put(app, yy, x, 18, base, cell) + 2;
        if (x < cols) {
            char probe[96];
            bool probing = last_error_text(r, circ, probe, sizeof(probe));
            fmt_cell(probe, (size_t)(cols - x), cell, sizeof(cell));
            app_put(app, yy, x, cols - x,
                    sel ? base : app_attr(app, probing ? THEME_WARN : THEME_ERROR), cell);
        }
    }
    if (d->n_rows == 0)
        app_put(app, y + 1, 1, cols - 2, app_attr(app, THEME_DIM),
                "no agents configured and none seen in records yet");
}

struct feed_ctx {
    struct app *app;
    struct dash *d;
    int y, rows, cols, n;
    const char *agent; /* failures of this agent only */
};

/* The code of agent's last failed attempt in v (NULL: none). */
static const char *
failed_code(const struct app *app, const struct index_view *v, const char *agent)
{
    uint32_t sid = index_str_lookup(app->ix, agent);
    const char *code = NULL;

    for (size_t i = 0; sid != 0 && i < v->n_steps; i++) {
        if (v->steps[i].kind == DIGEST_STEP_FAIL && v->steps[i].agent == sid)
            code = index_str(app->ix, v->steps[i].code);
    }
    return code;
}

static int
feed_row(void *ctx, const struct index_view *v)
{
    struct feed_ctx *f = ctx;
    char when[32], line[512], dur[16], st[16];
    const char *code;
    attr_t a;

    /* CORRUPT, or ENCRYPTED / TAMPERED / TRUNCATED for encrypted files. */
    snprintf(st, sizeof(st), "%s",
             (v->flags & DIGEST_CORRUPT) ? digest_bad_word(v->flags)
                                         : record_status_name(v->status));
    if (v->flags & DIGEST_CORRUPT)
        for (char *c = st; *c; c++)
            *c = (char)(*c - 'a' + 'A');

    if (f->n >= f->rows)
        return 1;
    fmt_time_short(v->created_us, when, sizeof(when));
    fmt_duration_us(v->duration_us, dur, sizeof(dur));
    /* The failure view shows this agent's own error, also inside an
     * execution that succeeded overall (a retry or a fallback did). */
    code = f->agent != NULL ? failed_code(f->app, v, f->agent) : NULL;
    if (code == NULL)
        code = v->error_code ? v->error_code : "";
    if (f->cols >= 120)
        snprintf(line, sizeof(line), " %s  %-24.24s %-18.18s %-9s %-22.22s %8s  %s", when + 11,
                 v->intent ? v->intent : "?", v->agent ? v->agent : "-", st, code, dur, v->id);
    else
        snprintf(line, sizeof(line), " %s %-20.20s %-14.14s %-7.7s %-16.16s %8s", when + 11,
                 v->intent ? v->intent : "?", v->agent ? v->agent : "-", st, code, dur);
    a = (v->flags & DIGEST_CORRUPT) || v->status == RECORD_ERROR || f->agent != NULL
            ? app_attr(f->app, THEME_ERROR)
            : app_attr(f->app, THEME_NORMAL);
    if (f->n < 64)
        snprintf(f->d->feed_ids[f->n], sizeof(f->d->feed_ids[0]), "%s", v->id);
    if (f->d->in_feed && strcmp(v->id, f->d->feed_sel) == 0) {
        a = app_attr(f->app, THEME_SELECTION);
        app_fill(f->app, f->y + f->n, 0, f->cols, a);
    }
    app_put(f->app, f->y + f->n, 0, f->cols, a, line);
    f->n++;
    return 0;
}

static void
draw_feed(struct app *app, struct dash *d, int y, int rows, int cols)
{
    struct feed_ctx f = { app, d, y + 1, rows - 1, cols, 0, NULL };
    struct index_filter flt = { 0 };
    char title[256];

    if (d->show_failures && d->n_rows > 0) {
        snprintf(title, sizeof(title), " Recent failures of %s  (Enter: back to the live feed)",
                 d->rows[d->sel].name);
        flt.failed_agent = d->rows[d->sel].name;
        f.agent = d->rows[d->sel].name;
    } else {
        snprintf(title, sizeof(title), " Live feed: latest executions%s%s",
                 app->paused ? "  [paused]" : "",
                 d->in_feed ? "  (Enter: open its timeline, Up past the top: agents)" : "");
    }
    app_put(app, y, 0, cols, app_attr(app, THEME_TABLE_HEADER), title);
    index_query(app->ix, &flt, true, (size_t)f.rows, feed_row, &f);
    d->n_feed = f.n < 64 ? f.n : 64;
    if (f.n == 0 && d->show_failures) {
        app_put(app, y + 1, 1, cols - 2, app_attr(app, THEME_DIM),
                "no failures recorded for this agent");
    } else if (f.n == 0) {
        /* Name the binary as the user can run it: "./intentus" from the
         * checkout, plain "intentus" when it was found on $PATH. */
        const char *self =
            strchr(program_invocation_name, '/') ? program_invocation_name : "intentus";
        snprintf(title, sizeof(title), "no records yet: press f to fire an intent%s, or run:",
                 app->cfg->is_demo && !app->opts.read_only ? " (T: demo traffic)" : "");
        app_put(app, y + 1, 1, cols - 2, app_attr(app, THEME_DIM), title);
        snprintf(title, sizeof(title), "  %.200s route demo.echo", self);
        app_put(app, y + 2, 1, cols - 2, app_attr(app, THEME_DIM), title);
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
    draw_agents(app, d, top + 1, table_rows - 1, cols);
    app_hline(app, top + 1 + table_rows, 0, cols);
    /* Model calls, when any agent reported some: a header and a row each,
     * at most a quarter of the screen. */
    models = model_rows(d) > 0 ? (int)model_rows(d) + 1 : 0;
    if (models > rows / 4)
        models = rows / 4;
    if (models >= 2) {
        draw_models(app, d, top + 2 + table_rows, models - 1, cols);
        app_hline(app, top + 2 + table_rows + models, 0, cols);
        table_rows += models + 1;
    }
    draw_feed(app, d, top + 2 + table_rows, rows - table_rows - 2, cols);
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
    if (app->remote != NULL) {
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
    if (act == ACT_RESET_BREAKER) {
        if (runtime_reset_breaker(app->rt, name, &err) != 0)
            app_message(app, true, "%s", err.msg);
        else
            app_message(app, false, "circuit of %s reset to CLOSED", name);
    } else {
        bool on = !runtime_agent_enabled(app->rt, name);
        if (runtime_set_agent_enabled(app->rt, name, on, &err) != 0)
            app_message(app, true, "%s", err.msg);
        else
            app_message(app, false, "%s %s until the console restarts", name,
                        on ? "enabled" : "disabled");
    }
    d->stale = true;
}

static void
dash_model_changed(struct app *app, void *state)
{
    (void)app;
    ((struct dash *)state)->stale = true;
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

static unsigned
dash_handle(struct app *app, void *state, enum key_action act, int key)
{
    struct dash *d = state;

    (void)key;
    if (d->stale)
        refresh_snapshot(app, d);
    switch (act) {
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
        app_message(app, false, "agents sorted by %s%s", sort_names[d->sort],
                    d->reverse ? " (reversed)" : "");
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
    .model_changed = dash_model_changed,
};
