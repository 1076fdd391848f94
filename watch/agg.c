#include "watch/agg.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define SUB 16     /* sub-buckets per power of two */
#define MAX_EXP 40 /* values clamp at 2^40 us (about 12 days) */
#define HIST_BUCKETS (SUB + (MAX_EXP - 4) * SUB)

struct code_count {
    uint32_t sid;
    uint64_t n;
};

/* Incremental state of one agent or intent. */
struct acc {
    uint64_t calls, ok, failed, incomplete, skipped, retries, timed, circuit_events;
    uint64_t model_calls, model_tokens, model_timed;
    int64_t model_latency_us;
    struct code_count *codes;
    size_t n_codes;
    uint32_t *hist; /* HIST_BUCKETS counts, allocated on the first sample */
};

struct agg {
    struct index *ix;
    struct acc **agents, **intents; /* by string id */
    size_t cap;
    uint64_t records, corrupt, no_timing;
};

size_t
agg_bucket_of(int64_t us)
{
    int e;

    if (us < SUB)
        return us < 0 ? 0 : (size_t)us;
    if (us >= (int64_t)1 << MAX_EXP)
        return HIST_BUCKETS - 1;
    e = 63 - __builtin_clzll((unsigned long long)us); /* 4 <= e < MAX_EXP */
    return SUB + (size_t)(e - 4) * SUB + (size_t)((us >> (e - 4)) & (SUB - 1));
}

int64_t
agg_bucket_floor(size_t bucket)
{
    size_t e, sub;

    if (bucket < SUB)
        return (int64_t)bucket;
    e = (bucket - SUB) / SUB + 4;
    sub = (bucket - SUB) % SUB;
    return (int64_t)(SUB + sub) << (e - 4);
}

static void
acc_free(struct acc *c)
{
    if (c == NULL)
        return;
    free(c->codes);
    free(c->hist);
    free(c);
}

static struct acc *
acc_for(struct agg *a, struct acc ***table, uint32_t sid)
{
    if (sid >= a->cap) {
        size_t ncap = a->cap ? a->cap : 64;
        struct acc **ag, **in;
        while (ncap <= sid)
            ncap *= 2;
        ag = realloc(a->agents, ncap * sizeof(*ag));
        if (ag != NULL)
            a->agents = ag;
        in = realloc(a->intents, ncap * sizeof(*in));
        if (in != NULL)
            a->intents = in;
        if (ag == NULL || in == NULL)
            return NULL;
        memset(a->agents + a->cap, 0, (ncap - a->cap) * sizeof(*ag));
        memset(a->intents + a->cap, 0, (ncap - a->cap) * sizeof(*in));
        a->cap = ncap;
    }
    if ((*table)[sid] == NULL)
        (*table)[sid] = calloc(1, sizeof(struct acc));
    return (*table)[sid];
}

static void
acc_code(struct acc *c, uint32_t sid, int delta)
{
    size_t i;
    struct code_count *p;

    for (i = 0; i < c->n_codes && c->codes[i].sid != sid; i++)
        ;
    if (i == c->n_codes) {
        if (delta < 0)
            return;
        p = realloc(c->codes, (c->n_codes + 1) * sizeof(*p));
        if (p == NULL)
            return;
        c->codes = p;
        c->codes[c->n_codes++] = (struct code_count){ sid, 0 };
    }
    c->codes[i].n += (uint64_t)(int64_t)delta;
}

static void
acc_latency(struct acc *c, int64_t us, int delta)
{
    if (us < 0)
        return;
    if (c->hist == NULL) {
        if (delta < 0)
            return;
        c->hist = calloc(HIST_BUCKETS, sizeof(uint32_t));
        if (c->hist == NULL)
            return;
    }
    c->hist[agg_bucket_of(us)] += (uint32_t)delta;
    c->timed += (uint64_t)(int64_t)delta;
}

/* The observer: add (delta +1) or take away (-1) one record's contribution. */
static void
observe(void *ctx, const struct index *ix, const struct index_view *v, int delta)
{
    struct agg *a = ctx;
    uint64_t d = (uint64_t)(int64_t)delta;
    struct acc *c;

    (void)ix;
    a->records += d;
    if (v->flags & DIGEST_CORRUPT) {
        a->corrupt += d;
        return;
    }
    if (v->flags & DIGEST_NO_TIMING)
        a->no_timing += d;
    if (v->intent_sid != 0 && (c = acc_for(a, &a->intents, v->intent_sid)) != NULL) {
        c->calls += d;
        c->retries += (uint64_t)(int64_t)(v->retries * delta);
        if (v->status == RECORD_OK) {
            c->ok += d;
        } else if (v->status == RECORD_ERROR) {
            c->failed += d;
            acc_code(c, v->error_sid, delta);
        } else {
            c->incomplete += d;
        }
        if (!(v->flags & DIGEST_NO_TIMING))
            acc_latency(c, v->duration_us, delta);
    }
    for (size_t i = 0; i < v->n_steps; i++) {
        const struct index_step *s = &v->steps[i];
        if (s->agent == 0 || (c = acc_for(a, &a->agents, s->agent)) == NULL)
            continue;
        switch (s->kind) {
        case DIGEST_STEP_OK:
        case DIGEST_STEP_FAIL:
            c->calls += d;
            if (s->is_retry)
                c->retries += d;
            if (s->kind == DIGEST_STEP_OK) {
                c->ok += d;
            } else {
                c->failed += d;
                acc_code(c, s->code, delta);
            }
            acc_latency(c, s->latency_us, delta);
            break;
        case DIGEST_STEP_CIRCUIT:
            c->circuit_events += d;
            break;
        case DIGEST_STEP_MODEL:
            c->model_calls += d;
            c->model_tokens += (uint64_t)((int64_t)s->tokens * delta);
            if (s->latency_us >= 0) {
                c->model_timed += d;
                c->model_latency_us += (int64_t)s->latency_us * delta;
            }
            break;
        default:
            c->skipped += d;
            break;
        }
    }
}

struct agg *
agg_attach(struct index *ix)
{
    struct agg *a = calloc(1, sizeof(*a));
    struct index_view v;

    if (a == NULL)
        return NULL;
    a->ix = ix;
    for (size_t i = 0; i < index_size(ix); i++) {
        index_get(ix, i, &v);
        observe(a, ix, &v, +1);
    }
    index_set_observer(ix, observe, a);
    return a;
}

void
agg_free(struct agg *a)
{
    if (a == NULL)
        return;
    index_set_observer(a->ix, NULL, NULL);
    for (size_t i = 0; i < a->cap; i++) {
        acc_free(a->agents[i]);
        acc_free(a->intents[i]);
    }
    free(a->agents);
    free(a->intents);
    free(a);
}

/* ---- snapshots ---- */

static int64_t
percentile(const struct acc *c, double p)
{
    uint64_t rank, seen = 0;

    if (c->hist == NULL || c->timed == 0)
        return -1;
    rank = agg_nearest_rank(c->timed, p);
    for (size_t b = 0; b < HIST_BUCKETS; b++) {
        seen += c->hist[b];
        if (seen >= rank)
            return agg_bucket_floor(b);
    }
    return -1;
}

static int
cmp_code(const void *x, const void *y)
{
    const struct agg_code *a = x, *b = y;

    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->code ? a->code : "", b->code ? b->code : "");
}

static int
cmp_row(const void *x, const void *y)
{
    const struct agg_row *a = x, *b = y;

    if (a->calls != b->calls)
        return a->calls > b->calls ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* qsort's base must not be NULL, even with nothing to sort. */
void
agg_sort_rows(struct agg_row *rows, size_t n)
{
    if (n > 1)
        qsort(rows, n, sizeof(*rows), cmp_row);
}

void
agg_sort_codes(struct agg_code *codes, size_t n)
{
    if (n > 1)
        qsort(codes, n, sizeof(*codes), cmp_code);
}

uint64_t
agg_nearest_rank(uint64_t timed, double p)
{
    uint64_t rank = (uint64_t)((p / 100.0) * (double)timed + 0.999999999);
    return rank < 1 ? 1 : rank;
}

/* Rows from a table; row_of[sid] gets the row index (or SIZE_MAX). */
static int
build_rows(const struct agg *a, struct acc **table, struct agg_row **rows, size_t *n,
           size_t *row_of)
{
    size_t count = 0;

    for (size_t sid = 0; sid < a->cap; sid++) {
        const struct acc *c = table[sid];
        if (c != NULL &&
            (c->calls > 0 || c->skipped > 0 || c->circuit_events > 0 || c->model_calls > 0))
            count++;
    }
    *rows = calloc(count + 1, sizeof(**rows));
    *n = 0;
    if (*rows == NULL)
        return -1;
    for (size_t sid = 0; sid < a->cap; sid++) {
        const struct acc *c = table[sid];
        struct agg_row *r;
        if (c == NULL ||
            !(c->calls > 0 || c->skipped > 0 || c->circuit_events > 0 || c->model_calls > 0))
            continue;
        r = &(*rows)[(*n)++];
        r->name = index_str(a->ix, (uint32_t)sid);
        r->calls = c->calls;
        r->ok = c->ok;
        r->failed = c->failed;
        r->incomplete = c->incomplete;
        r->skipped = c->skipped;
        r->retries = c->retries;
        r->timed = c->timed;
        r->model_calls = c->model_calls;
        r->model_tokens = c->model_tokens;
        r->model_timed = c->model_timed;
        r->model_latency_us = c->model_latency_us;
        r->p50_us = percentile(c, 50);
        r->p95_us = percentile(c, 95);
        r->p99_us = percentile(c, 99);
        r->codes = calloc(c->n_codes + 1, sizeof(*r->codes));
        if (r->codes == NULL)
            return -1;
        for (size_t i = 0; i < c->n_codes; i++) {
            if (c->codes[i].n == 0)
                continue;
            r->codes[r->n_codes].code = index_str(a->ix, c->codes[i].sid);
            r->codes[r->n_codes++].count = c->codes[i].n;
        }
        agg_sort_codes(r->codes, r->n_codes);
        r->last_error_us = r->circuit_us = 0;
        /* row index for the walk, by string id; fixed up after sorting */
        row_of[sid] = *n - 1;
    }
    return 0;
}

/* What the backward walk still needs for one row. */
struct want {
    const struct acc *acc;
    bool done;
};

struct walk {
    const struct agg *a;
    const struct agg_opts *o;
    struct agg_snapshot *s;
    size_t *agent_row, *intent_row; /* by string id */
    struct want *agent_want, *intent_want;
    size_t pending;      /* rows not yet done */
    int64_t window_from; /* window start */
    int64_t tp_from;     /* throughput start */
    int64_t rate_now;    /* end of the rate windows */
};

static void
check_done(struct walk *w, struct agg_row *r, struct want *want, bool is_agent)
{
    const struct acc *c = want->acc;
    uint64_t need = c->calls < w->o->last_n ? c->calls : w->o->last_n;

    if (want->done)
        return;
    if (r->recent_calls < need)
        return;
    if (c->failed > 0 && r->last_error == NULL)
        return;
    if (is_agent && c->circuit_events > 0 && r->circuit == NULL)
        return;
    want->done = true;
    w->pending--;
}

static void
count_call(struct walk *w, struct agg_row *r, bool failed, int64_t t)
{
    if (r->recent_calls < w->o->last_n) {
        r->recent_calls++;
        r->recent_failed += failed;
    }
    if (t >= w->window_from) {
        r->window_calls++;
        r->window_failed += failed;
    }
}

static int
walk_visit(void *ctx, const struct index_view *v)
{
    struct walk *w = ctx;
    struct agg_snapshot *s = w->s;
    int64_t t = v->created_us;

    if (t >= w->tp_from && t < w->o->now_us + w->o->bucket_us) {
        int64_t b = (t - w->tp_from) / w->o->bucket_us;
        if (b >= (int64_t)s->n_throughput)
            b = (int64_t)s->n_throughput - 1;
        s->throughput[b]++;
    }
    if (t >= w->rate_now - 60 * 1000000LL) {
        s->records_60s++;
        s->records_10s += t >= w->rate_now - 10 * 1000000LL;
    }
    if (v->intent_sid != 0 && v->intent_sid < w->a->cap &&
        w->intent_row[v->intent_sid] != SIZE_MAX && !(v->flags & DIGEST_CORRUPT)) {
        struct agg_row *r = &s->intents[w->intent_row[v->intent_sid]];
        bool failed = v->status == RECORD_ERROR;
        count_call(w, r, failed, t);
        if (failed && r->last_error == NULL) {
            r->last_error = v->error_code;
            r->last_error_us = t;
        }
        check_done(w, r, &w->intent_want[v->intent_sid], false);
    }
    for (size_t i = v->n_steps; i-- > 0;) {
        const struct index_step *st = &v->steps[i];
        struct agg_row *r;
        if (st->agent == 0 || st->agent >= w->a->cap || w->agent_row[st->agent] == SIZE_MAX)
            continue;
        r = &s->agents[w->agent_row[st->agent]];
        if (st->kind == DIGEST_STEP_OK || st->kind == DIGEST_STEP_FAIL) {
            bool failed = st->kind == DIGEST_STEP_FAIL;
            count_call(w, r, failed, t);
            if (failed && r->last_error == NULL) {
                r->last_error = index_str(w->a->ix, st->code);
                r->last_error_us = t;
            }
        } else if (st->kind == DIGEST_STEP_CIRCUIT && r->circuit == NULL) {
            r->circuit = index_str(w->a->ix, st->code);
            r->circuit_us = t;
        }
        check_done(w, r, &w->agent_want[st->agent], true);
    }
    /* Stop once every row has what it needs and the windows are passed. */
    return w->pending == 0 && t < w->window_from && t < w->tp_from &&
           t < w->rate_now - 60 * 1000000LL;
}

void
agg_snapshot_free(struct agg_snapshot *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->agents != NULL && i < s->n_agents; i++)
        free(s->agents[i].codes);
    for (size_t i = 0; s->intents != NULL && i < s->n_intents; i++)
        free(s->intents[i].codes);
    free(s->agents);
    free(s->intents);
    free(s->throughput);
    memset(s, 0, sizeof(*s));
}

int
agg_snapshot(const struct agg *a, const struct agg_opts *opts, struct agg_snapshot *out,
             struct intentus_err *err)
{
    struct agg_opts o = opts != NULL ? *opts : (struct agg_opts){ 0 };
    struct walk w = { .a = a, .o = &o, .s = out };
    char *buf = NULL;

    memset(out, 0, sizeof(*out));
    if (o.last_n == 0)
        o.last_n = 20;
    if (o.window_us <= 0)
        o.window_us = 5LL * 60 * 1000000;
    if (o.now_us == 0)
        o.now_us = clock_wall_us();
    if (o.buckets == 0)
        o.buckets = 30;
    if (o.bucket_us <= 0)
        o.bucket_us = 10 * 1000000LL;
    out->records = a->records;
    out->corrupt = a->corrupt;
    out->no_timing = a->no_timing;
    out->bucket_us = o.bucket_us;
    out->n_throughput = o.buckets;
    out->throughput = calloc(o.buckets, sizeof(uint32_t));
    buf = calloc(a->cap + 1, 2 * sizeof(size_t) + 2 * sizeof(struct want));
    if (out->throughput == NULL || buf == NULL)
        goto nomem;
    w.agent_row = (size_t *)(void *)buf;
    w.intent_row = w.agent_row + a->cap + 1;
    w.agent_want = (struct want *)(void *)(w.intent_row + a->cap + 1);
    w.intent_want = w.agent_want + a->cap + 1;
    for (size_t i = 0; i <= a->cap; i++)
        w.agent_row[i] = w.intent_row[i] = SIZE_MAX;
    if (build_rows(a, a->agents, &out->agents, &out->n_agents, w.agent_row) != 0 ||
        build_rows(a, a->intents, &out->intents, &out->n_intents, w.intent_row) != 0)
        goto nomem;
    for (size_t sid = 0; sid < a->cap; sid++) {
        if (w.agent_row[sid] != SIZE_MAX) {
            w.agent_want[sid].acc = a->agents[sid];
            w.pending++;
        }
        if (w.intent_row[sid] != SIZE_MAX) {
            w.intent_want[sid].acc = a->intents[sid];
            w.pending++;
        }
    }
    /* Rows whose counters need nothing from the walk are done at once. */
    for (size_t sid = 0; sid < a->cap; sid++) {
        if (w.agent_row[sid] != SIZE_MAX)
            check_done(&w, &out->agents[w.agent_row[sid]], &w.agent_want[sid], true);
        if (w.intent_row[sid] != SIZE_MAX)
            check_done(&w, &out->intents[w.intent_row[sid]], &w.intent_want[sid], false);
    }
    w.window_from = o.now_us - o.window_us;
    /* The newest bucket is the last bucket_us before now (a record up to one
     * bucket in the future, a writer's clock skew, is counted there too). */
    w.tp_from = o.now_us - (int64_t)o.buckets * o.bucket_us;
    w.rate_now = o.rate_now_us != 0 ? o.rate_now_us : o.now_us;
    index_query(a->ix, NULL, true, 0, walk_visit, &w);
    agg_sort_rows(out->agents, out->n_agents);
    agg_sort_rows(out->intents, out->n_intents);
    free(buf);
    return 0;
nomem:
    free(buf);
    agg_snapshot_free(out);
    err_set(err, IERR_NOMEM, "aggregates: out of memory");
    return -1;
}
