/* intentus records stats | list (filters) | gc | tail, end to end through
 * the real binary. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/json.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 20000

/* Run intentus with the arguments up to the first NULL. */
static struct tu_run
run(const char *a0, ...)
{
    char *argv[16] = { (char *)tu_bin(), (char *)a0 };
    struct tu_run r;
    va_list ap;
    int n = 2;

    va_start(ap, a0);
    while (n < 15 && (argv[n] = va_arg(ap, char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    return r;
}

static cJSON *
parse(const char *text)
{
    cJSON *v = json_parse(text, strlen(text), 0, NULL);

    if (v == NULL)
        fail_msg("not JSON: %s", text);
    return v;
}

static const cJSON *
get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static void
test_stats_reference_records(void **state)
{
    (void)state;
    char dir[600];
    struct tu_run r;
    cJSON *v, *it;

    snprintf(dir, sizeof(dir), "%s/reference-records", tu_data_dir());
    r = run("records", "stats", "--dir", dir, "--json", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    v = parse(r.out);
    assert_int_equal(get(v, "total_records")->valueint, 39);
    assert_int_equal(get(v, "withoutTiming")->valueint, 39);
    assert_true(cJSON_GetArraySize(get(v, "agents")) > 5);
    cJSON_ArrayForEach(it, get(v, "agents"))
    {
        /* reference records carry no timing: shown as such, not as 0 */
        assert_true(cJSON_IsNull(get(it, "latencyUs")));
        assert_int_equal(get(it, "calls")->valueint,
                         get(it, "ok")->valueint + get(it, "failed")->valueint);
    }
    assert_int_equal(get(get(v, "by_intent"), "search.web")->valueint, 15);
    cJSON_Delete(v);
    tu_run_free(&r);
    r = run("records", "stats", "--dir", dir, NULL, NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "AGENT"));
    assert_non_null(strstr(r.out, "INTENT"));
    assert_non_null(strstr(r.out, "n/a"));
    assert_non_null(strstr(r.out, "search.web"));
    tu_run_free(&r);
}

static void
test_stats_intentus_records(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct tu_run r;
    cJSON *v, *it;
    bool seen_echo = false;

    for (int i = 0; i < 4; i++) {
        r = run("route", i % 2 ? "demo.fail" : "demo.echo", "-q", "--dir", dir, NULL, NULL, NULL);
        tu_run_free(&r);
    }
    r = run("records", "stats", "--dir", dir, "--json", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    v = parse(r.out);
    assert_int_equal(get(v, "total_records")->valueint, 4);
    assert_int_equal(get(v, "withoutTiming")->valueint, 0);
    cJSON_ArrayForEach(it, get(v, "agents"))
    {
        if (strcmp(get(it, "name")->valuestring, "echo-a") == 0) {
            seen_echo = true;
            assert_int_equal(get(it, "calls")->valueint, 2);
            assert_true(cJSON_IsObject(get(it, "latencyUs")));
        }
        if (strcmp(get(it, "name")->valuestring, "broken-d") == 0)
            assert_int_equal(get(get(it, "errors"), "AGENT_ERROR")->valueint, 2);
    }
    assert_true(seen_echo);
    cJSON_Delete(v);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static int
json_count(const char *text)
{
    cJSON *v = parse(text);
    int n = cJSON_GetArraySize(v);

    cJSON_Delete(v);
    return n;
}

static void
test_list_filters(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct tu_rec rec;
    struct tu_run r;
    int64_t now = clock_wall_us();
    int search = 0, errors = 0, recent = 0;

    for (unsigned s = 0; s < 40; s++) {
        tu_rec_make(&rec, s, now - 7200 * 1000000ll);
        if (s >= 30)
            rec.created_us = now - 60 * 1000000ll; /* the last ten: a minute ago */
        recent += s >= 30;
        search += strcmp(rec.intent, "search.web") == 0;
        errors += rec.error_code != NULL && strcmp(rec.error_code, "AGENT_TIMEOUT") == 0;
        assert_int_equal(tu_rec_write(dir, &rec, true), 0);
    }
    r = run("records", "list", "--dir", dir, "--json", "--intent", "search.web", NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(json_count(r.out), search);
    tu_run_free(&r);
    r = run("records", "list", "--dir", dir, "--json", "--error", "AGENT_TIMEOUT", NULL, NULL);
    assert_int_equal(json_count(r.out), errors);
    tu_run_free(&r);
    r = run("records", "list", "--dir", dir, "--json", "--since", "1h", NULL, NULL);
    assert_int_equal(json_count(r.out), recent);
    tu_run_free(&r);
    r = run("records", "list", "--dir", dir, "--json", "--since", "1h", "--limit", "3", NULL);
    assert_int_equal(json_count(r.out), 3);
    tu_run_free(&r);
    r = run("records", "list", "--dir", dir, "--json", "--status", "ok", "--agent", "echo-a", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    r = run("records", "list", "--dir", dir, "--status", "maybe", NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    r = run("records", "list", "--dir", dir, "--since", "soon", NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
fill_old(const char *dir, unsigned n, int64_t age_days_first)
{
    struct tu_rec rec;
    int64_t now = clock_wall_us();

    for (unsigned s = 0; s < n; s++) {
        tu_rec_make(&rec, s, 0);
        /* record s is (age_days_first - s) days old, less half a day */
        rec.created_us = now - ((age_days_first - (int64_t)s) * 86400 - 43200) * 1000000ll;
        assert_int_equal(tu_rec_write(dir, &rec, true), 0);
    }
}

static void
test_gc(void **state)
{
    (void)state;
    char *base = tu_mkdtemp(), dir[600], arch[600];
    struct tu_run r;
    cJSON *v;
    char id[40];

    snprintf(dir, sizeof(dir), "%s/records", base);
    snprintf(arch, sizeof(arch), "%s/archive", base);
    mkdir(dir, 0700);
    fill_old(dir, 40, 45); /* 44.5 .. 5.5 days old: 15 are over 30 days */
    /* a bare number is days, as in the reference */
    r = run("records", "gc", "--dir", dir, "--older-than", "30", "--dry-run", "--json", NULL);
    assert_int_equal(r.status, 0);
    v = parse(r.out);
    assert_int_equal(get(v, "would_delete_count")->valueint, 15);
    assert_true(cJSON_IsTrue(get(v, "dryRun")));
    cJSON_Delete(v);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(dir, ".json"), 40);
    /* not on a terminal and no --yes: refused, nothing touched */
    r = run("records", "gc", "--dir", dir, "--older-than", "30d", NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--yes"));
    tu_run_free(&r);
    assert_int_equal(tu_count_files(dir, ".json"), 40);
    /* no policy at all is a usage error */
    r = run("records", "gc", "--dir", dir, "--yes", NULL, NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    /* archive the old ones */
    r = run("records", "gc", "--dir", dir, "--older-than", "720h", "--archive", arch, "--yes",
            "--json", NULL);
    assert_int_equal(r.status, 0);
    v = parse(r.out);
    assert_int_equal(get(v, "deleted_count")->valueint, 15);
    cJSON_Delete(v);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(dir, ".json"), 25);
    assert_int_equal(tu_count_files(arch, ".json.gz"), 15);
    /* show reads the archive */
    {
        struct tu_rec rec;
        tu_rec_make(&rec, 0, 0);
        strcpy(id, rec.id);
    }
    r = run("records", "show", id, "--dir", arch, NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, id));
    tu_run_free(&r);
    /* count and bytes, deleting */
    r = run("records", "gc", "--dir", dir, "--max-count", "10", "--max-bytes", "1G", "--yes", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(dir, ".json"), 10);
    r = run("records", "gc", "--dir", dir, "--max-bytes", "1", "--dry-run", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "would remove 10 records"));
    tu_run_free(&r);
    r = run("records", "gc", "--dir", dir, "--max-bytes", "lots", "--yes", NULL, NULL, NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    tu_rmtree(base);
    free(base);
}

struct later {
    const char *dir;
};

static void *
write_later(void *arg)
{
    struct later *l = arg;
    struct tu_rec rec;

    usleep(1500 * 1000);
    tu_rec_make(&rec, 777, clock_wall_us());
    tu_rec_write(l->dir, &rec, true);
    return NULL;
}

static void
test_tail(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct tu_rec rec;
    struct tu_run r;
    pthread_t th;
    struct later l = { dir };
    char *argv[] = { (char *)tu_bin(), "records", "tail", "-f", "--json", "--dir", dir, NULL };

    for (unsigned s = 0; s < 15; s++) {
        tu_rec_make(&rec, s, 1790000000000000ll);
        assert_int_equal(tu_rec_write(dir, &rec, true), 0);
    }
    r = run("records", "tail", "--dir", dir, "-n", "3", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    {
        int lines = 0;
        for (const char *p = r.out; *p; p++)
            lines += *p == '\n';
        assert_int_equal(lines, 3);
        tu_rec_make(&rec, 14, 0);
        assert_non_null(strstr(r.out, rec.id));
        tu_rec_make(&rec, 11, 0);
        assert_null(strstr(r.out, rec.id));
    }
    tu_run_free(&r);
    /* -f: the last ten, then what arrives; stopped by the timeout */
    pthread_create(&th, NULL, write_later, &l);
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 4000, &r), 0);
    pthread_join(th, NULL);
    tu_rec_make(&rec, 777, 0);
    assert_non_null(strstr(r.out, rec.id));
    {
        int lines = 0;
        for (const char *p = r.out; *p; p++)
            lines += *p == '\n';
        assert_int_equal(lines, 11);
    }
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

struct linker {
    const char *dir, *src;
};

static void *
link_later(void *arg)
{
    struct linker *l = arg;
    char path[1024];
    struct tu_rec rec;

    usleep(1500 * 1000);
    tu_rec_make(&rec, 778, 0);
    snprintf(path, sizeof(path), "%s/%s.json", l->dir, rec.id);
    if (link(l->src, path) != 0)
        return (void *)1;
    snprintf(path, sizeof(path), "%s/odd-link.json", l->dir);
    return symlink(l->src, path) == 0 ? NULL : (void *)1;
}

/* -f sees entries that raise only IN_CREATE: a record hard-linked in, and a
 * symlink (shown as not a record). */
static void
test_tail_follows_links(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), *other = tu_mkdtemp(), src[1024];
    struct tu_rec rec;
    struct tu_run r;
    pthread_t th;
    void *th_rc = NULL;
    struct linker l = { dir, src };
    char *argv[] = { (char *)tu_bin(), "records", "tail", "-f", "--json", "--dir", dir, NULL };

    tu_rec_make(&rec, 778, 1790000000000000ll);
    assert_int_equal(tu_rec_write(other, &rec, true), 0);
    snprintf(src, sizeof(src), "%s/%s.json", other, rec.id);
    pthread_create(&th, NULL, link_later, &l);
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 4000, &r), 0);
    pthread_join(th, &th_rc);
    assert_null(th_rc);
    assert_non_null(strstr(r.out, rec.id));
    {
        const char *odd = strstr(r.out, "odd-link");
        assert_non_null(odd);
        assert_non_null(strstr(odd, "corrupt"));
    }
    tu_run_free(&r);
    tu_rmtree(dir);
    tu_rmtree(other);
    free(dir);
    free(other);
}

/* Failed attempts are counted by their own code, also inside executions
 * that succeeded overall: stats, --error, and the stored error message is
 * redacted. */
static void
test_failed_attempts_by_code(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), cfgp[700], recs[700];
    static const char cfg[] =
        "{\"agents\": ["
        " {\"name\":\"s\",\"builtin\":\"slow\",\"delay_ms\":400,\"timeout\":\"30ms\","
        "  \"intents\":[\"t.bad\"],\"nodePriority\":1},"
        " {\"name\":\"u\",\"builtin\":\"fail\",\"error_code\":\"AGENT_UNAVAILABLE\",\"retryable\":"
        "true,"
        "  \"message\":\"down, retry with Bearer sekret.tok99\",\"idempotent\":true,"
        "  \"retry\":{\"max_attempts\":3,\"base_ms\":1,\"max_ms\":2},"
        "  \"intents\":[\"t.bad\",\"t.good\"],\"nodePriority\":2},"
        " {\"name\":\"ok\",\"builtin\":\"echo\",\"intents\":[\"t.good\"],\"nodePriority\":3}]}";
    struct tu_run r;
    const cJSON *a, *ag;
    cJSON *j;
    int seen = 0;

    snprintf(cfgp, sizeof(cfgp), "%s/c.json", dir);
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    assert_int_equal(tu_write_file(cfgp, cfg, strlen(cfg), 0600), 0);
    r = run("route", "t.bad", "-c", cfgp, "--dir", recs, "--strategy", "fallback", "-q", NULL);
    assert_int_equal(r.status, 1);
    tu_run_free(&r);
    r = run("route", "t.good", "-c", cfgp, "--dir", recs, "--strategy", "fallback", "-q", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);

    r = run("records", "stats", "--dir", recs, "--json", NULL, NULL);
    assert_int_equal(r.status, 0);
    j = parse(r.out);
    ag = get(j, "agents");
    cJSON_ArrayForEach(a, ag)
    {
        const char *name = json_get_string(a, "name");
        const cJSON *e = get(a, "errors");
        if (strcmp(name, "s") == 0) {
            seen++;
            assert_int_equal(cJSON_GetArraySize(e), 1);
            assert_non_null(get(e, "AGENT_TIMEOUT"));
            assert_int_equal(get(e, "AGENT_TIMEOUT")->valueint, 1);
        } else if (strcmp(name, "u") == 0) {
            seen++;
            assert_int_equal(cJSON_GetArraySize(e), 1); /* no AGENT_ERROR guesses */
            assert_non_null(get(e, "AGENT_UNAVAILABLE"));
            assert_int_equal(get(e, "AGENT_UNAVAILABLE")->valueint, 6);
            assert_int_equal(get(a, "failed")->valueint, 6);
        }
    }
    assert_int_equal(seen, 2);
    cJSON_Delete(j);
    tu_run_free(&r);

    /* --error matches failed attempts, in the execution that succeeded too. */
    r = run("records", "list", "--dir", recs, "--error", "AGENT_UNAVAILABLE", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = parse(r.out);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    cJSON_Delete(j);
    tu_run_free(&r);
    r = run("records", "list", "--dir", recs, "--error", "AGENT_TIMEOUT", "--json", NULL);
    j = parse(r.out);
    assert_int_equal(cJSON_GetArraySize(j), 1);
    cJSON_Delete(j);
    tu_run_free(&r);

    /* The attempt's message is stored redacted. */
    r = run("records", "list", "--dir", recs, "--intent", "t.good", "--json", NULL);
    j = parse(r.out);
    {
        char id[160];
        snprintf(id, sizeof(id), "%s", json_get_string(cJSON_GetArrayItem(j, 0), "executionId"));
        cJSON_Delete(j);
        tu_run_free(&r);
        r = run("records", "show", id, "--dir", recs, NULL, NULL);
    }
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"errorCode\": \"AGENT_UNAVAILABLE\""));
    assert_non_null(strstr(r.out, "\"message\": \"down, retry with [REDACTED]\""));
    assert_null(strstr(r.out, "sekret"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_reference_records),
        cmocka_unit_test(test_stats_intentus_records),
        cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_gc),
        cmocka_unit_test(test_tail),
        cmocka_unit_test(test_tail_follows_links),
        cmocka_unit_test(test_failed_attempts_by_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
