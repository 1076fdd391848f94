#include "watch/index_stats.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/record.h"
#include "core/text_hash.h"
#include "watch/index_counts.h"
#include "watch/index_query.h"
#include "watch/index_stats_build.h"

/* ---- strings and rows ---- */

const char *
isb_keep(struct stats_gather *g, const char *s)
{
    struct index_stats *st = g->st;
    char *copy;

    if (s == NULL)
        return NULL;
    if (st->n_strs == st->cap_strs) {
        size_t ncap = st->cap_strs ? st->cap_strs * 2 : 64;
        char **p = realloc(st->strs, ncap * sizeof(*p));
        if (p == NULL) {
            g->nomem = true;
            return NULL;
        }
        st->strs = p;
        st->cap_strs = ncap;
    }
    copy = strdup(s);
    if (copy == NULL) {
        g->nomem = true;
        return NULL;
    }
    st->strs[st->n_strs++] = copy;
    return copy;
}

static uint64_t
hash(const char *s)
{
    return text_hash(s);
}

static int
rehash(struct stats_table *t)
{
    size_t n = t->n_slots ? t->n_slots * 2 : 64;
    size_t *slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t k = hash(t->v[i].r.name) & (n - 1);
        while (slots[k] != 0)
            k = (k + 1) & (n - 1);
        slots[k] = i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n;
    return 0;
}

/* The row named name; with add, created when missing. NULL: none (or out
 * of memory, g->nomem). */
struct stats_row *
isb_row(struct stats_gather *g, struct stats_table *t, const char *name, bool add)
{
    size_t k;

    if (name == NULL)
        return NULL;
    if (t->n_slots != 0) {
        for (k = hash(name) & (t->n_slots - 1); t->slots[k] != 0; k = (k + 1) & (t->n_slots - 1)) {
            if (strcmp(t->v[t->slots[k] - 1].r.name, name) == 0)
                return &t->v[t->slots[k] - 1];
        }
    }
    if (!add)
        return NULL;
    if ((t->n + 1) * 2 > t->n_slots && rehash(t) != 0)
        goto nomem;
    if (t->n == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 16;
        struct stats_row *p = realloc(t->v, ncap * sizeof(*p));
        if (p == NULL)
            goto nomem;
        t->v = p;
        t->cap = ncap;
    }
    memset(&t->v[t->n], 0, sizeof(t->v[t->n]));
    if ((t->v[t->n].r.name = isb_keep(g, name)) == NULL)
        goto nomem;
    for (k = hash(name) & (t->n_slots - 1); t->slots[k] != 0; k = (k + 1) & (t->n_slots - 1))
        ;
    t->slots[k] = ++t->n;
    return &t->v[t->n - 1];
nomem:
    g->nomem = true;
    return NULL;
}

void
isb_add_code(struct stats_gather *g, struct stats_row *r, const char *code, uint64_t n)
{
    size_t i;

    for (i = 0; i < r->r.n_codes; i++) {
        const char *c = r->r.codes[i].code;
        if (c == code || (c != NULL && code != NULL && strcmp(c, code) == 0))
            break;
    }
    if (i == r->r.n_codes) {
        if (i == r->cap_codes) {
            size_t ncap = r->cap_codes ? r->cap_codes * 2 : 4;
            struct agg_code *p = realloc(r->r.codes, ncap * sizeof(*p));
            if (p == NULL) {
                g->nomem = true;
                return;
            }
            r->r.codes = p;
            r->cap_codes = ncap;
        }
        r->r.codes[i].code = code != NULL ? isb_keep(g, code) : NULL;
        r->r.codes[i].count = 0;
        r->r.n_codes++;
    }
    r->r.codes[i].count += n;
}

void
isb_add_sample(struct stats_gather *g, struct stats_row *r, int64_t bucket, uint64_t n)
{
    if (bucket < 0 || (size_t)bucket >= g->n_buckets)
        return;
    if (r->hist == NULL && (r->hist = calloc(g->n_buckets, sizeof(*r->hist))) == NULL) {
        g->nomem = true;
        return;
    }
    r->hist[bucket] += n;
    r->r.timed += n;
}

/* agg.c's nearest rank: the floor of the bucket holding it. */
static int64_t
percentile(const struct stats_gather *g, const struct stats_row *r, double p)
{
    uint64_t rank, seen = 0;

    if (r->hist == NULL || r->r.timed == 0)
        return -1;
    rank = agg_nearest_rank(r->r.timed, p);
    for (size_t b = 0; b < g->n_buckets; b++) {
        seen += r->hist[b];
        if (seen >= rank)
            return agg_bucket_floor(b);
    }
    return -1;
}

/* ---- SQL ---- */

static int
fail(struct index_db *db, const char *what, struct intentus_err *err)
{
    err_set(err, IERR_IO, "index %s: %s: %s", index_db_info(db)->path, what,
            sqlite3_errmsg(index_db_sqlite(db)));
    return -1;
}

static const char *
col_text(sqlite3_stmt *st, int col)
{
    return (const char *)sqlite3_column_text(st, col);
}

/* Per intent (and the totals) from the record rows, and per agent, every
 * attempt, from the attempt rows (a corrupt record has none). The rows are
 * grouped here, in one pass over each table: SQLite's GROUP BY sorts them
 * first (a temporary B-tree), about twenty times the cost of the scan at
 * 100,000 records (bench/README.md). */
static const char Q_RECORDS[] =
    "SELECT r.intent, r.flags, r.status, r.error_code, r.duration_us, r.retries"
    " FROM records r WHERE $WHERE";
#define Q_ATTEMPTS_COLS "SELECT a.agent, a.kind, a.is_retry, a.error_code, a.latency_us, a.tokens"
static const char Q_ATTEMPTS_ALL[] =
    Q_ATTEMPTS_COLS " FROM attempts a WHERE a.agent IS NOT NULL AND $WHERE";
static const char Q_ATTEMPTS_SEL[] = Q_ATTEMPTS_COLS
    " FROM attempts a JOIN records r ON r.rid = a.rid WHERE a.agent IS NOT NULL AND $WHERE";

/* The row named name, trying the one before first (rows come in runs). */
static struct stats_row *
row_cached(struct stats_gather *g, struct stats_table *t, const char *name, size_t *last)
{
    struct stats_row *r;

    if (name == NULL)
        return NULL;
    if (*last < t->n && strcmp(t->v[*last].r.name, name) == 0)
        return &t->v[*last];
    r = isb_row(g, t, name, true);
    if (r != NULL)
        *last = (size_t)(r - t->v);
    return r;
}

static int
gather_records(struct index_db *db, const struct index_filter *f, struct stats_gather *g,
               struct intentus_err *err)
{
    struct agg_snapshot *s = &g->st->snap;
    sqlite3_stmt *st = NULL;
    size_t last = SIZE_MAX;
    int rc;

    if (index_query_prepare(db, Q_RECORDS, f, &st, err) < 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !g->nomem) {
        unsigned flags = (unsigned)sqlite3_column_int64(st, 1);
        int status = sqlite3_column_int(st, 2);
        int64_t duration = sqlite3_column_int64(st, 4);
        struct stats_row *r;
        s->records++;
        if (flags & DIGEST_CORRUPT) {
            s->corrupt++;
            continue;
        }
        if (flags & DIGEST_NO_TIMING)
            s->no_timing++;
        if ((r = row_cached(g, &g->intents, col_text(st, 0), &last)) == NULL)
            continue;
        r->r.calls++;
        r->r.retries += (uint64_t)sqlite3_column_int64(st, 5);
        if (status == RECORD_OK) {
            r->r.ok++;
        } else if (status == RECORD_ERROR) {
            r->r.failed++;
            isb_add_code(g, r, col_text(st, 3), 1);
        } else {
            r->r.incomplete++;
        }
        if (!(flags & DIGEST_NO_TIMING) && duration >= 0)
            isb_add_sample(g, r, (sqlite3_int64)agg_bucket_of(duration), 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || g->nomem ? 0 : fail(db, "count the records", err);
}

static int
gather_attempts(struct index_db *db, const struct index_filter *f, struct stats_gather *g,
                struct intentus_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t last = SIZE_MAX;
    int rc;

    /* Unfiltered, the attempt rows alone answer: no join. */
    if (index_query_prepare(db, f != NULL ? Q_ATTEMPTS_SEL : Q_ATTEMPTS_ALL, f, &st, err) < 0)
        return -1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !g->nomem) {
        int kind = sqlite3_column_int(st, 1);
        int64_t latency = sqlite3_column_int64(st, 4);
        struct stats_row *r = row_cached(g, &g->agents, col_text(st, 0), &last);
        if (r == NULL)
            continue;
        if (kind == DIGEST_STEP_OK || kind == DIGEST_STEP_FAIL) {
            r->r.calls++;
            if (sqlite3_column_int(st, 2) != 0)
                r->r.retries++;
            if (kind == DIGEST_STEP_OK) {
                r->r.ok++;
            } else {
                r->r.failed++;
                isb_add_code(g, r, col_text(st, 3), 1);
            }
            /* as the in-memory index stores it: int32, saturated */
            if (latency >= 0)
                isb_add_sample(
                    g, r, (sqlite3_int64)agg_bucket_of(latency > INT32_MAX ? INT32_MAX : latency),
                    1);
        } else if (kind == DIGEST_STEP_CIRCUIT) {
            r->circuit_events++;
        } else if (kind == DIGEST_STEP_MODEL) {
            int64_t tokens = sqlite3_column_int64(st, 5);
            r->r.model_calls++;
            /* as the in-memory index stores it: uint32, saturated */
            r->r.model_tokens += (uint64_t)(tokens > UINT32_MAX ? UINT32_MAX : tokens);
            if (latency >= 0) {
                r->r.model_timed++;
                r->r.model_latency_us += latency > INT32_MAX ? INT32_MAX : latency;
            }
        } else {
            r->r.skipped++;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || g->nomem ? 0 : fail(db, "count the attempts", err);
}

/* Does f select every record (index_query.c's where_of adds nothing)? */
static bool
selects_all(const struct index_filter *f)
{
    return f == NULL || (f->intent == NULL && f->error_code == NULL && f->failed_agent == NULL &&
                         f->status == NULL && f->since_us == 0 && f->until_us == 0 &&
                         f->agent == NULL && (f->text == NULL || f->text[0] == '\0'));
}

/* Over every record: the same figures from the counters the index keeps
 * (watch/index_counts.h), a few hundred rows whatever the record count. */
static int
gather_counts(struct index_db *db, struct stats_gather *g, struct intentus_err *err)
{
    struct agg_snapshot *s = &g->st->snap;
    sqlite3_stmt *st = NULL;
    size_t last_intent = SIZE_MAX, last_agent = SIZE_MAX;
    int rc;

    if (sqlite3_prepare_v2(index_db_sqlite(db),
                           "SELECT kind, name, what, sub, code, n FROM counts ORDER BY kind, name",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(db, "read the counts", err);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !g->nomem) {
        int kind = sqlite3_column_int(st, 0), what = sqlite3_column_int(st, 2);
        sqlite3_int64 sub = sqlite3_column_int64(st, 3), n = sqlite3_column_int64(st, 5);
        uint64_t u = (uint64_t)n;
        struct stats_row *r;
        if (kind == IC_ALL) {
            if (what == IC_RECORDS)
                s->records += (size_t)u;
            else if (what == IC_CORRUPT)
                s->corrupt += (size_t)u;
            else if (what == IC_NO_TIMING)
                s->no_timing += (size_t)u;
            continue;
        }
        if (kind != IC_INTENT && kind != IC_AGENT)
            continue;
        r = kind == IC_INTENT ? row_cached(g, &g->intents, col_text(st, 1), &last_intent)
                              : row_cached(g, &g->agents, col_text(st, 1), &last_agent);
        if (r == NULL)
            continue;
        switch (what) {
        case IC_CALLS:
            r->r.calls += u;
            break;
        case IC_RETRIES:
            r->r.retries += u;
            break;
        case IC_OK:
            r->r.ok += u;
            break;
        case IC_FAILED:
            r->r.failed += u;
            break;
        case IC_INCOMPLETE:
            r->r.incomplete += u;
            break;
        case IC_CODE:
            isb_add_code(g, r, col_text(st, 4), u);
            break;
        case IC_NULL_CODE:
            isb_add_code(g, r, NULL, u);
            break;
        case IC_HIST:
            isb_add_sample(g, r, sub, u);
            break;
        case IC_CIRCUIT:
            r->circuit_events += u;
            break;
        case IC_MODEL_CALLS:
            r->r.model_calls += u;
            break;
        case IC_MODEL_TOKENS:
            r->r.model_tokens += u;
            break;
        case IC_MODEL_TIMED:
            r->r.model_timed += u;
            break;
        case IC_MODEL_LATENCY:
            r->r.model_latency_us += (int64_t)u;
            break;
        case IC_SKIPPED:
            r->r.skipped += u;
            break;
        default:
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || g->nomem ? 0 : fail(db, "read the counts", err);
}

/* ---- the walk back from the newest record (agg.c's walk_visit) ---- */

void
isb_check_done(struct stats_walk *w, struct stats_row *r, bool is_agent)
{
    uint64_t need = r->r.calls < w->o->last_n ? r->r.calls : w->o->last_n;

    if (r->done || r->r.recent_calls < need)
        return;
    if (r->r.failed > 0 && r->r.last_error == NULL)
        return;
    if (is_agent && r->circuit_events > 0 && r->r.circuit == NULL)
        return;
    r->done = true;
    w->pending--;
}

void
isb_count_call(struct stats_walk *w, struct stats_row *r, bool failed, int64_t t)
{
    if (r->r.recent_calls < w->o->last_n) {
        r->r.recent_calls++;
        r->r.recent_failed += failed;
    }
    if (t >= w->window_from) {
        r->r.window_calls++;
        r->r.window_failed += failed;
    }
}

void
isb_throughput(struct stats_walk *w, int64_t t)
{
    struct agg_snapshot *s = &w->g->st->snap;

    if (t >= w->tp_from && t < w->o->now_us + w->o->bucket_us) {
        int64_t b = (t - w->tp_from) / w->o->bucket_us;
        if (b >= (int64_t)s->n_throughput)
            b = (int64_t)s->n_throughput - 1;
        s->throughput[b]++;
    }
}

void
isb_walk_begin(struct stats_walk *w)
{
    struct stats_gather *g = w->g;

    w->pending = g->agents.n + g->intents.n;
    w->window_from = w->o->now_us - w->o->window_us;
    w->tp_from = w->o->now_us - (int64_t)w->o->buckets * w->o->bucket_us;
    for (size_t i = 0; i < g->agents.n; i++)
        isb_check_done(w, &g->agents.v[i], true);
    for (size_t i = 0; i < g->intents.n; i++)
        isb_check_done(w, &g->intents.v[i], false);
}

bool
isb_walk_passed(const struct stats_walk *w, int64_t t)
{
    return w->pending == 0 && t < w->window_from && t < w->tp_from;
}

/* One record: its intent, then its attempts, the last first. */
static void
walk_record(struct stats_walk *w, sqlite3_stmt *rec, sqlite3_stmt *stp)
{
    struct stats_gather *g = w->g;
    int64_t t = sqlite3_column_int64(rec, 1);
    bool corrupt = (sqlite3_column_int64(rec, 5) & DIGEST_CORRUPT) != 0;
    struct stats_row *r;

    isb_throughput(w, t);
    if (!corrupt && (r = isb_row(g, &g->intents, col_text(rec, 2), false)) != NULL) {
        bool failed = sqlite3_column_int(rec, 3) == RECORD_ERROR;
        isb_count_call(w, r, failed, t);
        if (failed && r->r.last_error == NULL) {
            r->r.last_error = isb_keep(g, col_text(rec, 4));
            r->r.last_error_us = t;
        }
        isb_check_done(w, r, false);
    }
    sqlite3_bind_int64(stp, 1, sqlite3_column_int64(rec, 0));
    while (sqlite3_step(stp) == SQLITE_ROW) {
        int kind = sqlite3_column_int(stp, 1);
        if ((r = isb_row(g, &g->agents, col_text(stp, 0), false)) == NULL)
            continue;
        if (kind == DIGEST_STEP_OK || kind == DIGEST_STEP_FAIL) {
            bool failed = kind == DIGEST_STEP_FAIL;
            isb_count_call(w, r, failed, t);
            if (failed && r->r.last_error == NULL) {
                r->r.last_error = isb_keep(g, col_text(stp, 2));
                r->r.last_error_us = t;
            }
        } else if (kind == DIGEST_STEP_CIRCUIT && r->r.circuit == NULL) {
            r->r.circuit = isb_keep(g, col_text(stp, 2));
            r->r.circuit_us = t;
        }
        isb_check_done(w, r, true);
    }
    sqlite3_reset(stp);
}

static int
walk_back(struct index_db *db, const struct index_filter *f, struct stats_walk *w,
          struct intentus_err *err)
{
    sqlite3_stmt *rec = NULL, *stp = NULL;
    int rc = SQLITE_DONE;

    isb_walk_begin(w);
    if (index_query_prepare(db,
                            "SELECT r.rid, r.created_us, r.intent, r.status, r.error_code, r.flags"
                            " FROM records r WHERE $WHERE ORDER BY r.created_us DESC, r.id DESC",
                            f, &rec, err) < 0 ||
        index_query_prepare(db,
                            "SELECT agent, kind, error_code FROM attempts WHERE rid = ?1 AND"
                            " $WHERE ORDER BY seq DESC",
                            NULL, &stp, err) < 0) {
        sqlite3_finalize(rec);
        return -1;
    }
    while (!w->g->nomem && (rc = sqlite3_step(rec)) == SQLITE_ROW) {
        int64_t t = sqlite3_column_int64(rec, 1);
        walk_record(w, rec, stp);
        /* Stop once every row has what it needs and the windows are passed. */
        if (isb_walk_passed(w, t)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(rec);
    sqlite3_finalize(stp);
    return rc == SQLITE_DONE || w->g->nomem ? 0 : fail(db, "walk the records", err);
}

/* ---- the snapshot ---- */

/* The rows agg_snapshot shows (any call, skip or circuit event), sorted. */
static int
finish(struct stats_gather *g, struct stats_table *t, struct agg_row **out, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < t->n; i++) {
        struct stats_row *r = &t->v[i];
        if (r->r.codes == NULL && (r->r.codes = calloc(1, sizeof(*r->r.codes))) == NULL)
            return -1;
    }
    *out = calloc(t->n + 1, sizeof(**out));
    if (*out == NULL)
        return -1;
    /* From here on the rows' codes belong to *out, or are freed. */
    for (size_t i = 0; i < t->n; i++) {
        struct stats_row *r = &t->v[i];
        if (r->r.calls == 0 && r->r.skipped == 0 && r->circuit_events == 0 &&
            r->r.model_calls == 0) {
            free(r->r.codes);
            continue;
        }
        r->r.p50_us = percentile(g, r, 50);
        r->r.p95_us = percentile(g, r, 95);
        r->r.p99_us = percentile(g, r, 99);
        if (r->r.n_codes > 1)
            agg_sort_codes(r->r.codes, r->r.n_codes);
        (*out)[(*n)++] = r->r;
    }
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].hist);
    free(t->v);
    free(t->slots);
    memset(t, 0, sizeof(*t));
    if (*n > 1)
        agg_sort_rows(*out, *n);
    return 0;
}

static void
table_free(struct stats_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].hist);
        free(t->v[i].r.codes);
    }
    free(t->v);
    free(t->slots);
}

int
isb_start(struct stats_gather *g, struct stats_walk *w, struct agg_opts *o,
          const struct agg_opts *opts, struct index_stats *out)
{
    struct agg_snapshot *s = &out->snap;

    *o = opts != NULL ? *opts : (struct agg_opts){ 0 };
    memset(out, 0, sizeof(*out));
    memset(g, 0, sizeof(*g));
    memset(w, 0, sizeof(*w));
    g->st = out;
    g->n_buckets = agg_bucket_of(INT64_MAX) + 1;
    w->g = g;
    w->o = o;
    if (o->last_n == 0)
        o->last_n = 20;
    if (o->window_us <= 0)
        o->window_us = 5LL * 60 * 1000000;
    if (o->now_us == 0)
        o->now_us = clock_wall_us();
    if (o->buckets == 0)
        o->buckets = 30;
    if (o->bucket_us <= 0)
        o->bucket_us = 10 * 1000000LL;
    s->bucket_us = o->bucket_us;
    s->n_throughput = o->buckets;
    s->throughput = calloc(o->buckets, sizeof(uint32_t));
    if (s->throughput == NULL) {
        g->nomem = true;
        return -1;
    }
    return 0;
}

int
isb_end(struct stats_gather *g, int rc, struct intentus_err *err)
{
    struct agg_snapshot *s = &g->st->snap;

    if (rc == 0 && !g->nomem &&
        (finish(g, &g->agents, &s->agents, &s->n_agents) != 0 ||
         finish(g, &g->intents, &s->intents, &s->n_intents) != 0))
        g->nomem = true;
    table_free(&g->agents);
    table_free(&g->intents);
    memset(&g->agents, 0, sizeof(g->agents));
    memset(&g->intents, 0, sizeof(g->intents));
    if (g->nomem) {
        err_set(err, IERR_NOMEM, "stats: out of memory");
        rc = -1;
    }
    return rc;
}

int
index_stats_query(struct index_db *db, const struct index_filter *f, const struct agg_opts *opts,
                  struct index_stats *out, struct intentus_err *err)
{
    struct agg_opts o;
    struct stats_gather g;
    struct stats_walk w;
    sqlite3 *h = index_db_sqlite(db);
    int rc = -1;

    if (isb_start(&g, &w, &o, opts, out) != 0)
        return isb_end(&g, -1, err);
    /* One read transaction: every query sees the same rows. */
    if (sqlite3_exec(h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        fail(db, "begin", err);
        return isb_end(&g, -1, err);
    }
    if (selects_all(f)
            ? gather_counts(db, &g, err) == 0
            : gather_records(db, f, &g, err) == 0 && gather_attempts(db, f, &g, err) == 0)
        rc = walk_back(db, f, &w, err);
    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    return isb_end(&g, rc, err);
}

void
index_stats_free(struct index_stats *s)
{
    if (s == NULL)
        return;
    agg_snapshot_free(&s->snap);
    for (size_t i = 0; i < s->n_strs; i++)
        free(s->strs[i]);
    free(s->strs);
    memset(s, 0, sizeof(*s));
}
