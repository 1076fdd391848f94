/* intentus records stats and intentus records tail: the dashboard's numbers
 * and a `tail -f` of executions, both through watch/. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/store.h"
#include "tui/cli.h"
#include "tui/cli_records.h"
#include "tui/fmt.h"
#include "watch/agg.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/index_query.h"
#include "watch/index_stats.h"
#include "watch/stores.h"
#include "watch/tailer.h"

#define STATS_LAST_N 20
#define STATS_WINDOW_MIN 15

static double
rate(uint64_t failed, uint64_t calls)
{
    return calls > 0 ? (double)failed / (double)calls : 0.0;
}

static void
add_latency(cJSON *o, const struct agg_row *r)
{
    cJSON *l;

    if (r->timed == 0) {
        cJSON_AddNullToObject(o, "latencyUs"); /* no timing: reference records */
        return;
    }
    l = cJSON_AddObjectToObject(o, "latencyUs");
    cJSON_AddNumberToObject(l, "p50", (double)r->p50_us);
    cJSON_AddNumberToObject(l, "p95", (double)r->p95_us);
    cJSON_AddNumberToObject(l, "p99", (double)r->p99_us);
}

static cJSON *
row_json(const struct agg_row *r, bool is_agent)
{
    cJSON *o = cJSON_CreateObject(), *e, *x;
    char when[CLOCK_ISO_LEN];

    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddNumberToObject(o, "calls", (double)r->calls);
    cJSON_AddNumberToObject(o, "ok", (double)r->ok);
    cJSON_AddNumberToObject(o, "failed", (double)r->failed);
    if (!is_agent)
        cJSON_AddNumberToObject(o, "incomplete", (double)r->incomplete);
    cJSON_AddNumberToObject(o, "failureRate", rate(r->failed, r->calls));
    x = cJSON_AddObjectToObject(o, "recent");
    cJSON_AddNumberToObject(x, "calls", (double)r->recent_calls);
    cJSON_AddNumberToObject(x, "failed", (double)r->recent_failed);
    cJSON_AddNumberToObject(x, "failureRate", rate(r->recent_failed, r->recent_calls));
    x = cJSON_AddObjectToObject(o, "window");
    cJSON_AddNumberToObject(x, "minutes", STATS_WINDOW_MIN);
    cJSON_AddNumberToObject(x, "calls", (double)r->window_calls);
    cJSON_AddNumberToObject(x, "failed", (double)r->window_failed);
    cJSON_AddNumberToObject(x, "failureRate", rate(r->window_failed, r->window_calls));
    e = cJSON_AddObjectToObject(o, "errors");
    for (size_t i = 0; i < r->n_codes; i++)
        cJSON_AddNumberToObject(e, r->codes[i].code ? r->codes[i].code : "UNKNOWN",
                                (double)r->codes[i].count);
    cJSON_AddNumberToObject(o, "timed", (double)r->timed);
    add_latency(o, r);
    cJSON_AddNumberToObject(o, "retries", (double)r->retries);
    if (is_agent)
        cJSON_AddNumberToObject(o, "skipped", (double)r->skipped);
    if (r->last_error != NULL) {
        x = cJSON_AddObjectToObject(o, "lastError");
        clock_format_iso(r->last_error_us, when);
        cJSON_AddStringToObject(x, "code", r->last_error);
        cJSON_AddStringToObject(x, "at", when);
    } else {
        cJSON_AddNullToObject(o, "lastError");
    }
    if (is_agent) {
        /* MODEL_CALL events the agent reported (core/subintent.h) */
        x = cJSON_AddObjectToObject(o, "modelCalls");
        cJSON_AddNumberToObject(x, "calls", (double)r->model_calls);
        cJSON_AddNumberToObject(x, "tokens", (double)r->model_tokens);
        cJSON_AddNumberToObject(x, "timed", (double)r->model_timed);
        cJSON_AddNumberToObject(x, "latencyUs", (double)r->model_latency_us);
    }
    if (is_agent && r->circuit != NULL) {
        x = cJSON_AddObjectToObject(o, "circuit");
        clock_format_iso(r->circuit_us, when);
        cJSON_AddStringToObject(x, "state", r->circuit);
        cJSON_AddStringToObject(x, "at", when);
    } else if (is_agent) {
        cJSON_AddNullToObject(o, "circuit");
    }
    return o;
}

static void
print_rows(const char *title, const struct agg_row *rows, size_t n, bool is_agent)
{
    printf("%-20s %7s %7s %7s %6s %8s %8s %8s %8s %7s %-10s %s\n", title, "CALLS", "OK", "FAIL",
           "FAIL%", "LAST20%", "P50", "P95", "P99", "RETRIES", is_agent ? "CIRCUIT" : "-",
           "ERRORS (LAST)");
    for (size_t i = 0; i < n; i++) {
        const struct agg_row *r = &rows[i];
        char name[FMT_ESC_SIZE(64)], p50[16], p95[16], p99[16], errs[FMT_ESC_SIZE(160)] = "";
        char e[FMT_ESC_SIZE(128)], circuit[FMT_ESC_SIZE(32)];
        size_t used = 0;
        /* Names and codes come from records: escaped, never raw (cli_esc). */
        fmt_cell(cli_esc(r->name, e, sizeof(e)), 20, name, sizeof(name));
        if (r->timed == 0) {
            snprintf(p50, sizeof(p50), "n/a");
            snprintf(p95, sizeof(p95), "n/a");
            snprintf(p99, sizeof(p99), "n/a");
        } else {
            fmt_duration_us(r->p50_us, p50, sizeof(p50));
            fmt_duration_us(r->p95_us, p95, sizeof(p95));
            fmt_duration_us(r->p99_us, p99, sizeof(p99));
        }
        for (size_t k = 0; k < r->n_codes && used < 160 - 40; k++)
            used +=
                (size_t)snprintf(errs + used, sizeof(errs) - used, "%s%s×%llu", k ? "," : "",
                                 cli_esc(r->codes[k].code ? r->codes[k].code : "?", e, sizeof(e)),
                                 (unsigned long long)r->codes[k].count);
        if (r->last_error != NULL && used < sizeof(errs)) {
            char when[32];
            fmt_time_short(r->last_error_us, when, sizeof(when));
            snprintf(errs + used, sizeof(errs) - used, " (last %s at %s)",
                     cli_esc(r->last_error, e, sizeof(e)), when);
        }
        printf("%-*s %7llu %7llu %7llu %5.1f%% %7.1f%% %8s %8s %8s %7llu %-10s %s\n",
               (int)(20 + strlen(name) - fmt_width(name)), name, (unsigned long long)r->calls,
               (unsigned long long)r->ok, (unsigned long long)r->failed,
               100 * rate(r->failed, r->calls), 100 * rate(r->recent_failed, r->recent_calls), p50,
               p95, p99, (unsigned long long)r->retries,
               is_agent ? cli_esc(r->circuit ? r->circuit : "-", circuit, sizeof(circuit)) : "",
               errs[0] ? errs : "-");
    }
}

/* Agents' model calls, when any reported some: calls, tokens, latency. */
static void
print_models(const struct agg_row *rows, size_t n)
{
    bool any = false;

    for (size_t i = 0; i < n; i++)
        any = any || rows[i].model_calls > 0;
    if (!any)
        return;
    printf("\n%-20s %7s %10s %12s %12s\n", "MODEL CALLS", "CALLS", "TOKENS", "LATENCY",
           "AVG LATENCY");
    for (size_t i = 0; i < n; i++) {
        const struct agg_row *r = &rows[i];
        char name[FMT_ESC_SIZE(64)], e[FMT_ESC_SIZE(128)], total[16] = "n/a", avg[16] = "n/a";
        if (r->model_calls == 0)
            continue;
        fmt_cell(cli_esc(r->name, e, sizeof(e)), 20, name, sizeof(name));
        if (r->model_timed > 0) {
            fmt_duration_us(r->model_latency_us, total, sizeof(total));
            fmt_duration_us(r->model_latency_us / (int64_t)r->model_timed, avg, sizeof(avg));
        }
        printf("%-*s %7llu %10llu %12s %12s\n", (int)(20 + strlen(name) - fmt_width(name)), name,
               (unsigned long long)r->model_calls, (unsigned long long)r->model_tokens, total, avg);
    }
}

static void
print_stats(const struct rec_args *a, const struct agg_snapshot *sp)
{
    const struct agg_snapshot s = *sp;

    if (a->json) {
        cJSON *root = cJSON_CreateObject(), *arr, *tp;
        cJSON_AddNumberToObject(root, "total_records", (double)s.records);
        cJSON_AddNumberToObject(root, "corrupt", (double)s.corrupt);
        cJSON_AddNumberToObject(root, "withoutTiming", (double)s.no_timing);
        cJSON_AddNumberToObject(root, "recentCalls", STATS_LAST_N);
        arr = cJSON_AddObjectToObject(root, "by_intent"); /* the reference's key */
        for (size_t i = 0; i < s.n_intents; i++)
            cJSON_AddNumberToObject(arr, s.intents[i].name, (double)s.intents[i].calls);
        arr = cJSON_AddArrayToObject(root, "agents");
        for (size_t i = 0; i < s.n_agents; i++)
            cJSON_AddItemToArray(arr, row_json(&s.agents[i], true));
        arr = cJSON_AddArrayToObject(root, "intents");
        for (size_t i = 0; i < s.n_intents; i++)
            cJSON_AddItemToArray(arr, row_json(&s.intents[i], false));
        tp = cJSON_AddObjectToObject(root, "throughput");
        cJSON_AddNumberToObject(tp, "bucketSeconds", (double)s.bucket_us / 1e6);
        arr = cJSON_AddArrayToObject(tp, "counts");
        for (size_t i = 0; i < s.n_throughput; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateNumber(s.throughput[i]));
        cli_print_json(stdout, root);
        cJSON_Delete(root);
    } else {
        print_rows("AGENT", s.agents, s.n_agents, true);
        print_models(s.agents, s.n_agents);
        printf("\n");
        print_rows("INTENT", s.intents, s.n_intents, false);
        printf("\n%llu records (%llu corrupt, %llu without timing: their latency shows as n/a); "
               "LAST20%% = failure rate of the last %d calls\n",
               (unsigned long long)s.records, (unsigned long long)s.corrupt,
               (unsigned long long)s.no_timing, STATS_LAST_N);
    }
}

/* The figures as GROUP BY queries on the persistent index (watch/index_stats.h).
 * 1: the index could not answer (the warning printed): read the files. */
static int
stats_indexed(const struct rec_args *a, const char *dir, const struct cli_select *sel,
              const struct agg_opts *o, struct intentus_err *err)
{
    struct intentus_err why = { 0 };
    struct index_db *db = cli_records_db(a, dir, err);
    struct index_stats st;
    int rc;

    if (db == NULL)
        return err->code != 0 ? -1 : 1;
    rc = index_stats_query(db, sel != NULL ? cli_select_filter(sel) : NULL, o, &st, &why);
    index_db_close(db);
    if (rc == 0)
        print_stats(a, &st.snap);
    else if (a->store != NULL)
        *err = why; /* no files to fall back to */
    else
        cli_records_db_failed(a, &why);
    index_stats_free(&st);
    return rc == 0 ? 0 : a->store != NULL ? -1 : 1;
}

/* The figures computed by the engine itself (core/store.h's stats op:
 * postgres groups them in the database). 1: the engine has no such op
 * (nothing printed): read the records. */
static int
stats_engine(const struct rec_args *a, const struct cli_select *sel, const struct agg_opts *o,
             struct intentus_err *err)
{
    struct store_opts so = { .read_only = true };
    struct store *st = store_open_url(stores_builtin, a->store, &so, err);
    const struct index_filter *f = sel != NULL ? cli_select_filter(sel) : NULL;
    struct store_filter sf = { 0 };
    struct index_stats out;
    int rc;

    if (st == NULL) {
        err_prefix(err, "%s", a->store);
        return -1;
    }
    if (f != NULL)
        sf = (struct store_filter){ .intent = f->intent,
                                    .agent = f->agent,
                                    .status = f->status,
                                    .error_code = f->error_code,
                                    .text = f->text,
                                    .since_us = f->since_us,
                                    .until_us = f->until_us,
                                    .failed_agent = f->failed_agent };
    memset(&out, 0, sizeof(out));
    rc = store_stats(st, f != NULL ? &sf : NULL, o, &out, err);
    if (rc == 0)
        print_stats(a, &out.snap);
    else if (rc < 0)
        err_prefix(err, "%s", a->store);
    index_stats_free(&out);
    store_close(st);
    return rc;
}

int
cli_records_stats(const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    const char *dir = cli_records_dir_of(a, &cfg);
    struct index *ix = NULL;
    struct agg *ag = NULL;
    struct agg_opts o = { .last_n = STATS_LAST_N,
                          .window_us = (long long)STATS_WINDOW_MIN * 60 * 1000000LL,
                          .buckets = 30,
                          .bucket_us = 10 * 1000000LL };
    struct agg_snapshot s = { 0 };
    struct cli_select *sel = cli_records_filtered(a) ? cli_select_new(a) : NULL;
    int rc = EXIT_FAIL, done;

    if (dir == NULL)
        rc = EXIT_USAGE; /* the config did not load; the error is printed */
    if (dir == NULL || (cli_records_filtered(a) && sel == NULL))
        goto out;
    done = cli_records_store_remote(a) ? stats_engine(a, sel, &o, &err) : 1;
    if (done > 0)
        done = stats_indexed(a, dir, sel, &o, &err);
    if (done <= 0) {
        if (done < 0)
            cli_error("records stats", "%s", err.msg);
        rc = done == 0 ? EXIT_OK : EXIT_FAIL;
        goto out;
    }
    /* --no-index: the same figures from the files, through watch/agg.h. With
     * filters, the figures are those of the selected records alone. */
    ix = index_new();
    ag = ix ? agg_attach(ix) : NULL;
    if (ag == NULL)
        goto out;
    if (cli_records_index_of(a, dir, sel, ix, &err) != 0 || agg_snapshot(ag, &o, &s, &err) != 0) {
        cli_error("records stats", "%s", err.msg);
        goto out;
    }
    print_stats(a, &s);
    rc = EXIT_OK;
out:
    cli_select_free(sel);
    agg_snapshot_free(&s);
    agg_free(ag);
    index_free(ix);
    config_free(cfg);
    return rc;
}

/* ---- tail ---- */

struct tail_ctx {
    struct index *ix;
    struct cli_select *sel; /* NULL: every record */
    bool json, synced, print;
};

static void
tail_event(void *ctx, const struct tailer_event *ev)
{
    struct tail_ctx *t = ctx;
    struct index_view v;
    bool is_new;

    if (ev->kind == TAILER_SYNCED) {
        t->synced = true;
        return;
    }
    if (ev->kind == TAILER_POLLING) {
        cli_error("records tail", "polling (%s)", ev->msg ? ev->msg : "");
        return;
    }
    if (ev->kind == TAILER_DIR_GONE) {
        cli_error("records tail", "%s went away; waiting for it",
                  ev->msg ? ev->msg : "the directory");
        return;
    }
    if (ev->kind == TAILER_REMOVE) {
        index_remove(t->ix, ev->id);
        return;
    }
    if (ev->kind != TAILER_UPSERT)
        return;
    if (t->sel != NULL && !cli_select_digest(t->sel, ev->digest)) {
        index_remove(t->ix, ev->id); /* rewritten so that it no longer matches */
        return;
    }
    is_new = index_find(t->ix, ev->id, &v) != 0;
    index_upsert(t->ix, ev->digest, NULL);
    if (t->print && is_new && index_find(t->ix, ev->id, &v) == 0) {
        cli_records_print_row(&v, t->json);
        fflush(stdout);
    }
}

static int
tail_row(void *ctx, const struct digest *d)
{
    return index_upsert(ctx, d, NULL) != 0;
}

/* The backlog from the persistent index: without -f the newest `lines`
 * selected records (ORDER BY time DESC LIMIT lines); with -f every selected
 * one, so that the tailer's first scan prints only records that landed
 * after this query. 1: the index could not answer (the warning printed). */
static int
tail_indexed(const struct rec_args *a, struct index_db *db, struct tail_ctx *t, size_t lines)
{
    struct intentus_err why = { 0 };
    struct index_filter f;
    long n = 0;

    cli_records_filter(a, &f);
    if (t->sel != NULL)
        f = *cli_select_filter(t->sel);
    if (a->follow || lines > 0)
        n = index_query_select(db, &f, true, a->follow ? 0 : lines, tail_row, t->ix, &why);
    if (n < 0) {
        cli_records_db_failed(a, &why);
        index_clear(t->ix);
        return 1;
    }
    return 0;
}

/* tail -f on another engine than files: the rows the store reports after
 * the cursor, each digested from its text (so the filters see its
 * attempts), through the same path as the tailer's events. */
struct follow_ctx {
    struct store *s;
    struct tail_ctx *t;
};

static int
follow_row(void *ctx, const struct store_row *row)
{
    struct follow_ctx *fc = ctx;
    struct intentus_err err = { 0 };
    size_t len = 0;
    char *text = store_get(fc->s, row->id, &len, &err);
    struct digest *d;

    if (text == NULL) {
        cli_error("records tail", "%s", err.msg);
        return 0;
    }
    /* A sealed text (sqlite, postgres with recording.encryption) is
     * digested from its plaintext when the reading keys open it. */
    d = stores_digest_stored(row->id, text, len, NULL, 0, NULL);
    free(text);
    if (d == NULL)
        return 1;
    if (d->flags & DIGEST_CORRUPT)
        d->created_us = row->created_us;
    tail_event(fc->t, &(struct tailer_event){ .kind = TAILER_UPSERT, .id = row->id, .digest = d });
    digest_free(d);
    return 0;
}

static int
tail_store(const struct rec_args *a, struct tail_ctx *t, size_t lines)
{
    struct intentus_err err = { 0 };
    struct store_opts o = { .read_only = true };
    struct store *s = NULL;
    struct index_db *db = NULL;
    int64_t cur = -1;
    size_t total;
    int rc = EXIT_FAIL;

    /* The cursor before the backlog: what lands after it is printed once,
     * by the follow loop, even if the backlog query also saw it. */
    if (a->follow) {
        s = store_open_url(stores_builtin, a->store, &o, &err);
        if (s == NULL || store_follow(s, &cur, 0, NULL, NULL, &err) < 0)
            goto fail;
    }
    db = cli_records_db(a, NULL, &err);
    if (db == NULL && err.code != IERR_OK)
        goto fail;
    if (db == NULL) {
        /* No local index (postgres): the selected records through the engine. */
        if (cli_records_index_store(a, t->sel, t->ix, &err) != 0)
            goto fail;
    } else if (tail_indexed(a, db, t, lines) != 0) {
        goto out;
    }
    total = index_size(t->ix);
    for (size_t i = total > lines ? total - lines : 0; i < total; i++) {
        struct index_view v;
        index_get(t->ix, i, &v);
        cli_records_print_row(&v, a->json);
    }
    fflush(stdout);
    rc = EXIT_OK;
    if (!a->follow)
        goto out;
    t->print = true;
    for (;;) {
        struct follow_ctx fc = { s, t };
        if (store_follow(s, &cur, 1000, follow_row, &fc, &err) < 0)
            goto fail;
        fflush(stdout);
    }
fail:
    cli_error("records tail", "%s", err.msg);
    rc = EXIT_FAIL;
out:
    index_db_close(db);
    store_close(s);
    return rc;
}

int
cli_records_tail(const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    const char *dir = cli_records_dir_of(a, &cfg);
    struct tailer_opts o = { .mode = a->poll_ms > 0 ? TAILER_POLL : TAILER_AUTO,
                             .poll_ms = a->poll_ms };
    struct tail_ctx t = { .json = a->json };
    struct tailer *tl = NULL;
    struct index_db *db = NULL;
    size_t lines = a->limit >= 0 ? (size_t)a->limit : 10, total;
    bool from_index = false;
    int rc = EXIT_FAIL;

    /* Polling is how -f follows; without -f there is nothing to poll. */
    if (a->poll_ms > 0 && !a->follow) {
        config_free(cfg);
        return cli_usage_error("records tail", "--poll applies only with -f/--follow");
    }

    t.ix = index_new();
    t.sel = cli_records_filtered(a) ? cli_select_new(a) : NULL;
    if (dir == NULL)
        rc = EXIT_USAGE; /* the config did not load; the error is printed */
    if (dir == NULL || t.ix == NULL || (cli_records_filtered(a) && t.sel == NULL))
        goto out;
    if (a->store != NULL) {
        if (a->poll_ms > 0)
            rc = cli_usage_error("records tail", "--poll: the %s store is followed by queries",
                                 a->store);
        else
            rc = tail_store(a, &t, lines);
        goto out;
    }
    db = cli_records_db(a, dir, &err);
    if (db == NULL && err.code != 0) {
        cli_error("records tail", "%s", err.msg);
        goto out;
    }
    if (db != NULL) {
        from_index = tail_indexed(a, db, &t, lines) == 0;
        index_db_close(db);
    }
    /* --no-index: the files, read as `records list --no-index` reads them
     * (files that do not parse shown at once as not records). */
    if (!from_index && cli_records_index(dir, t.sel, t.ix, &err) != 0) {
        cli_error("records tail", "%s", err.msg);
        goto out;
    }
    /* The last N, oldest of them first, as tail(1) does. */
    total = index_size(t.ix);
    for (size_t i = total > lines ? total - lines : 0; i < total; i++) {
        struct index_view v;
        index_get(t.ix, i, &v);
        cli_records_print_row(&v, a->json);
    }
    fflush(stdout);
    rc = EXIT_OK;
    if (!a->follow)
        goto out;
    /* The backlog is known: what the tailer's first scan finds beyond it
     * landed since, and is printed as new. */
    tl = tailer_start(dir, &o, &err);
    if (tl == NULL) {
        cli_error("records tail", "%s", err.msg);
        rc = EXIT_FAIL;
        goto out;
    }
    t.print = true;
    for (;;) {
        struct pollfd p = { .fd = tailer_fd(tl), .events = POLLIN };
        if (poll(&p, 1, -1) < 0)
            break;
        tailer_drain(tl, tail_event, &t);
    }
out:
    tailer_stop(tl);
    cli_select_free(t.sel);
    index_free(t.ix);
    config_free(cfg);
    return rc;
}
