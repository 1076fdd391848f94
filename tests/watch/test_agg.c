/* Aggregates equal a brute-force recount over the same files: after the
 * first indexing, after deletions and after records change. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/json.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/agg.h"
#include "watch/index.h"
#include "watch/tailer.h"

#define BASE_US 1790000000000000ll
#define LAST_N 7
#define WINDOW_US (60 * 1000000ll)

/* One attempt or circuit change, as the brute force sees it. */
struct fact {
    int64_t t;
    char id[64];
    int order;
    char agent[32], intent[32], code[32];
    int kind; /* 0 ok, 1 fail, 2 circuit, 3 intent-level record */
    int64_t latency;
    int retry;
};

struct facts {
    struct fact *v;
    size_t n, cap;
};

static struct fact *
add_fact(struct facts *f)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 256;
        f->v = realloc(f->v, f->cap * sizeof(*f->v));
    }
    memset(&f->v[f->n], 0, sizeof(f->v[0]));
    return &f->v[f->n++];
}

static const cJSON *
get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* Re-read every record file and list its facts, independently of watch/. */
static void
brute_force(const char *dir, struct facts *out)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    out->n = 0;
    while ((de = readdir(d)) != NULL) {
        char path[700];
        size_t len, n = strlen(de->d_name);
        char *text;
        cJSON *rec, *ev;
        int64_t t, start_off[16];
        const char *start_agent[16];
        int start_retry[16], n_open = 0, order = 0;
        long last_fail = -1;
        const char *final_code;
        struct fact *rf;
        size_t rec_at;

        if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        text = tu_read_file(path, &len);
        rec = json_parse(text, len, 0, NULL);
        free(text);
        assert_non_null(rec);
        assert_int_equal(clock_parse_iso(json_get_string(get(rec, "header"), "createdUtcIso"), &t),
                         0);
        final_code = json_get_string(get(get(rec, "finalResponse"), "error"), "code");
        rec_at = out->n;
        rf = add_fact(out);
        rf->t = t;
        snprintf(rf->id, sizeof(rf->id), "%.*s", (int)(n - 5), de->d_name);
        rf->kind = 3;
        rf->order = -1;
        snprintf(rf->intent, sizeof(rf->intent), "%s",
                 json_get_string(get(get(rec, "envelope"), "intent"), "name"));
        snprintf(rf->code, sizeof(rf->code), "%s", final_code ? final_code : "");
        rf->latency = -1;
        cJSON_ArrayForEach(ev, get(rec, "events"))
        {
            const char *type = json_get_string(ev, "type");
            const cJSON *p = get(ev, "payload"), *off = get(ev, "offsetUs");
            const char *agent = json_get_string(p, "agent");
            int64_t o = cJSON_IsNumber(off) ? (int64_t)off->valuedouble : -1;
            if (strcmp(type, "AGENT_ATTEMPT_START") == 0) {
                const cJSON *a = get(p, "attempt");
                start_agent[n_open] = agent;
                start_off[n_open] = o;
                start_retry[n_open++] = cJSON_IsNumber(a) && a->valuedouble > 1;
            } else if (strcmp(type, "AGENT_ATTEMPT_END") == 0 ||
                       strcmp(type, "CIRCUIT_STATE_CHANGE") == 0) {
                struct fact *f = add_fact(out);
                f->t = t;
                snprintf(f->id, sizeof(f->id), "%.*s", (int)(n - 5), de->d_name);
                f->order = order++;
                snprintf(f->agent, sizeof(f->agent), "%s", agent);
                f->latency = -1;
                if (type[0] == 'C') {
                    f->kind = 2;
                    snprintf(f->code, sizeof(f->code), "%s", json_get_string(p, "to"));
                    continue;
                }
                for (int i = n_open - 1; i >= 0; i--) {
                    if (strcmp(start_agent[i], agent) == 0) {
                        if (o >= 0 && start_off[i] >= 0)
                            f->latency = o - start_off[i];
                        f->retry = start_retry[i];
                        start_agent[i] = "";
                        break;
                    }
                }
                f->kind = strcmp(json_get_string(p, "status"), "ok") == 0 ? 0 : 1;
                if (f->kind == 1) {
                    snprintf(f->code, sizeof(f->code), "AGENT_ERROR");
                    last_fail = (long)(out->n - 1);
                }
            } else if (strcmp(type, "FINAL_RESPONSE") == 0 && cJSON_IsNumber(off)) {
                out->v[rec_at].latency = o; /* duration = last event offset */
            }
        }
        if (last_fail >= 0 && final_code != NULL)
            snprintf(out->v[last_fail].code, sizeof(out->v[0].code), "%s", final_code);
        cJSON_Delete(rec);
    }
    closedir(d);
}

/* Newest first: time, then id, then event order. */
static int
newest_first(const void *x, const void *y)
{
    const struct fact *a = x, *b = y;
    int c;

    if (a->t != b->t)
        return a->t > b->t ? -1 : 1;
    c = strcmp(b->id, a->id);
    if (c != 0)
        return c;
    return b->order - a->order;
}

static int
cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

    return a < b ? -1 : a > b;
}

static void
check_pct(int64_t got, int64_t *lat, size_t n, double p)
{
    size_t rank;
    int64_t exact;

    if (n == 0) {
        assert_int_equal(got, -1);
        return;
    }
    rank = (size_t)((p / 100.0) * (double)n + 0.999999999);
    if (rank < 1)
        rank = 1;
    exact = lat[rank - 1];
    assert_int_equal(agg_bucket_of(exact), agg_bucket_of(got));
    assert_true(got <= exact && exact - got <= exact / 16 + 1);
}

static const struct agg_row *
find_row(const struct agg_row *rows, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    }
    return NULL;
}

/* Compare one row (agent when is_agent, else intent) with the facts. */
static void
check_row(const struct agg_row *r, struct facts *f, bool is_agent, int64_t now)
{
    uint64_t calls = 0, ok = 0, failed = 0, retries = 0, recent = 0, recent_failed = 0;
    uint64_t win = 0, win_failed = 0;
    int64_t *lat = calloc(f->n + 1, sizeof(int64_t));
    size_t n_lat = 0;
    const char *last_error = NULL, *circuit = NULL;

    for (size_t i = 0; i < f->n; i++) { /* newest first */
        const struct fact *x = &f->v[i];
        bool failure;
        if (is_agent ? (x->kind == 3 || strcmp(x->agent, r->name) != 0)
                     : (x->kind != 3 || strcmp(x->intent, r->name) != 0))
            continue;
        if (x->kind == 2) {
            if (circuit == NULL)
                circuit = x->code;
            continue;
        }
        failure = is_agent ? x->kind == 1 : x->code[0] != '\0';
        calls++;
        ok += !failure;
        failed += failure;
        retries += x->retry;
        if (x->latency >= 0)
            lat[n_lat++] = x->latency;
        if (recent < LAST_N) {
            recent++;
            recent_failed += failure;
        }
        if (x->t >= now - WINDOW_US) {
            win++;
            win_failed += failure;
        }
        if (failure && last_error == NULL)
            last_error = x->code;
    }
    assert_int_equal(r->calls, calls);
    assert_int_equal(r->ok, ok);
    assert_int_equal(r->failed, failed);
    if (is_agent)
        assert_int_equal(r->retries, retries);
    assert_int_equal(r->recent_calls, recent);
    assert_int_equal(r->recent_failed, recent_failed);
    assert_int_equal(r->window_calls, win);
    assert_int_equal(r->window_failed, win_failed);
    assert_int_equal(r->timed, n_lat);
    qsort(lat, n_lat, sizeof(*lat), cmp_i64);
    check_pct(r->p50_us, lat, n_lat, 50);
    check_pct(r->p95_us, lat, n_lat, 95);
    check_pct(r->p99_us, lat, n_lat, 99);
    if (last_error == NULL)
        assert_null(r->last_error);
    else
        assert_string_equal(r->last_error, last_error);
    if (is_agent && circuit == NULL)
        assert_null(r->circuit);
    else if (is_agent)
        assert_string_equal(r->circuit, circuit);
    /* failures by code add up */
    {
        uint64_t sum = 0;
        for (size_t i = 0; i < r->n_codes; i++) {
            uint64_t want = 0;
            for (size_t k = 0; k < f->n; k++) {
                const struct fact *x = &f->v[k];
                if (is_agent && x->kind == 1 && strcmp(x->agent, r->name) == 0)
                    want += strcmp(x->code, r->codes[i].code) == 0;
                if (!is_agent && x->kind == 3 && strcmp(x->intent, r->name) == 0)
                    want += strcmp(x->code, r->codes[i].code) == 0;
            }
            assert_int_equal(r->codes[i].count, want);
            sum += r->codes[i].count;
        }
        assert_int_equal(sum, failed);
    }
    free(lat);
}

static void
compare(struct agg *a, const char *dir, int64_t now)
{
    struct facts f = { 0 };
    struct agg_snapshot s;
    struct agg_opts o = { .last_n = LAST_N, .window_us = WINDOW_US, .now_us = now };
    size_t agents = 0, intents = 0;

    brute_force(dir, &f);
    qsort(f.v, f.n, sizeof(*f.v), newest_first);
    assert_int_equal(agg_snapshot(a, &o, &s, NULL), 0);
    for (size_t i = 0; i < s.n_agents; i++)
        check_row(&s.agents[i], &f, true, now);
    for (size_t i = 0; i < s.n_intents; i++)
        check_row(&s.intents[i], &f, false, now);
    /* every agent and intent in the files has a row */
    for (size_t i = 0; i < f.n; i++) {
        if (f.v[i].kind == 3)
            assert_non_null(find_row(s.intents, s.n_intents, f.v[i].intent));
        else
            assert_non_null(find_row(s.agents, s.n_agents, f.v[i].agent));
        agents += f.v[i].kind != 3;
        intents += f.v[i].kind == 3;
    }
    assert_int_equal(s.records, intents);
    /* throughput: every record within the buckets is counted once */
    {
        uint64_t tp = 0, want = 0;
        int64_t from = now - (int64_t)s.n_throughput * s.bucket_us;
        for (size_t i = 0; i < s.n_throughput; i++)
            tp += s.throughput[i];
        for (size_t i = 0; i < f.n; i++)
            want += f.v[i].kind == 3 && f.v[i].t >= from && f.v[i].t < now + s.bucket_us;
        assert_int_equal(tp, want);
    }
    (void)agents;
    agg_snapshot_free(&s);
    free(f.v);
}

static void
test_agg_equals_brute_force(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct index *ix = index_new();
    struct agg *a;
    struct tu_rec r;
    int64_t now = BASE_US + 1500 * 1000;

    for (unsigned s = 0; s < 1500; s++) {
        tu_rec_make(&r, s, BASE_US);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    /* Attach before indexing (incremental adds) ... */
    a = agg_attach(ix);
    assert_int_equal(tailer_index_dir(dir, ix, NULL), 0);
    compare(a, dir, now);
    /* ... deletions (incremental removals, newest and oldest) ... */
    for (unsigned s = 0; s < 1500; s += 3) {
        char path[700];
        tu_rec_make(&r, s, BASE_US);
        snprintf(path, sizeof(path), "%s/%s.json", dir, r.id);
        assert_int_equal(unlink(path), 0);
        index_remove(ix, r.id);
    }
    compare(a, dir, now);
    /* ... a changed record replaces the old one ... */
    tu_rec_make(&r, 1499, BASE_US);
    r.ok[r.n_attempts - 1] = false;
    r.error_code = "RATE_LIMIT";
    assert_int_equal(tu_rec_write(dir, &r, false), 0);
    assert_int_equal(tailer_index_dir(dir, ix, NULL), 0);
    compare(a, dir, now);
    agg_free(a);
    /* ... and attaching to a full index counts the same. */
    a = agg_attach(ix);
    compare(a, dir, now);
    agg_free(a);
    index_free(ix);
    tu_rmtree(dir);
    free(dir);
}

static void
test_reference_records_have_no_timing(void **state)
{
    (void)state;
    struct index *ix = index_new();
    struct agg *a = agg_attach(ix);
    struct agg_snapshot s;
    char dir[600];

    snprintf(dir, sizeof(dir), "%s/reference-records", tu_data_dir());
    assert_int_equal(tailer_index_dir(dir, ix, NULL), 0);
    assert_int_equal(agg_snapshot(a, NULL, &s, NULL), 0);
    assert_int_equal(s.records, 39);
    assert_int_equal(s.no_timing, 39);
    assert_true(s.n_agents > 3);
    for (size_t i = 0; i < s.n_agents; i++) {
        assert_int_equal(s.agents[i].p50_us, -1);
        assert_int_equal(s.agents[i].timed, 0);
        assert_int_equal(s.agents[i].calls, s.agents[i].ok + s.agents[i].failed);
    }
    for (size_t i = 0; i < s.n_intents; i++)
        assert_int_equal(s.intents[i].p99_us, -1);
    compare(a, dir, BASE_US);
    agg_snapshot_free(&s);
    agg_free(a);
    index_free(ix);
}

static void
test_buckets(void **state)
{
    (void)state;
    for (int64_t v = 0; v < 5000000; v = v * 5 / 4 + 1) {
        size_t b = agg_bucket_of(v);
        int64_t lo = agg_bucket_floor(b);
        assert_true(lo <= v);
        assert_true(v - lo <= lo / 16 + 1);
        assert_int_equal(agg_bucket_of(lo), b);
    }
}

/* The newest throughput bucket is the last bucket_us before now, so the
 * dashboard's rate (the newest bucket) counts what just arrived (#22: it
 * showed 0.0/s under steady traffic while the newest bucket lay in the
 * future). */
static void
test_throughput_newest_bucket_ends_now(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct index *ix = index_new();
    struct agg *a = agg_attach(ix);
    struct agg_opts o = { .buckets = 60, .bucket_us = 2000000, .now_us = BASE_US };
    struct agg_snapshot s;
    struct tu_rec r;

    for (unsigned i = 0; i < 10; i++) { /* 500 to 491 ms ago */
        tu_rec_make(&r, i, BASE_US - 500 * 1000);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    for (unsigned i = 0; i < 3; i++) { /* 3 s ago: the bucket before */
        tu_rec_make(&r, 100 + i, BASE_US - 3100 * 1000);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    assert_int_equal(tailer_index_dir(dir, ix, NULL), 0);
    assert_int_equal(agg_snapshot(a, &o, &s, NULL), 0);
    assert_int_equal(s.n_throughput, 60);
    assert_int_equal(s.throughput[59], 10);
    assert_int_equal(s.throughput[58], 3);
    agg_snapshot_free(&s);
    agg_free(a);
    index_free(ix);
    tu_rmtree(dir);
    free(dir);
}

/* The rate windows (issue 18, 2.1): records created in the last 10 s and
 * 60 s before rate_now_us, whatever now_us the buckets are aligned to; a
 * burst is still counted once its bucket is past. */
static void
test_rate_windows(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct index *ix = index_new();
    struct agg *a = agg_attach(ix);
    /* buckets aligned up to the next 2 s edge, the windows end at BASE_US */
    struct agg_opts o = { .buckets = 60,
                          .bucket_us = 2000000,
                          .now_us = (BASE_US / 2000000 + 1) * 2000000,
                          .rate_now_us = BASE_US };
    struct agg_snapshot s;
    struct tu_rec r;

    for (unsigned i = 0; i < 8; i++) { /* a burst of 8, 3 s ago */
        tu_rec_make(&r, i, BASE_US - 3000 * 1000);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    for (unsigned i = 0; i < 5; i++) { /* 30 s ago */
        tu_rec_make(&r, 100 + i, BASE_US - 30000 * 1000);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    for (unsigned i = 0; i < 4; i++) { /* 90 s ago: in the sparkline, in no window */
        tu_rec_make(&r, 200 + i, BASE_US - 90000 * 1000);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    assert_int_equal(tailer_index_dir(dir, ix, NULL), 0);
    assert_int_equal(agg_snapshot(a, &o, &s, NULL), 0);
    assert_int_equal(s.records_10s, 8);
    assert_int_equal(s.records_60s, 13);
    agg_snapshot_free(&s);
    agg_free(a);
    index_free(ix);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_agg_equals_brute_force),
        cmocka_unit_test(test_reference_records_have_no_timing),
        cmocka_unit_test(test_throughput_newest_bucket_ends_now),
        cmocka_unit_test(test_rate_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
