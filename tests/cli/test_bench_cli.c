/* intentus bench route|hash|index through the real binary: small runs whose
 * JSON has the documented keys with plausible values (no figure is judged:
 * the machines are shared), the work directory made under --dir is removed
 * afterwards, and bad input is a usage error (exit 2) naming the problem. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/cli_expect.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 120000
#define MAX_ARGS 24

static struct tu_run
run(const char *const *args)
{
    char *argv[MAX_ARGS], *envv[] = { (char *)"INTENTUS_CONFIG=", NULL };
    struct tu_run r;
    size_t n = 0;

    argv[n++] = (char *)tu_bin();
    argv[n++] = (char *)"bench";
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(n + 1 < MAX_ARGS);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, NULL, NULL, envv, TIMEOUT_MS, &r), 0);
    return r;
}

static cJSON *
run_json(const char *const *args)
{
    struct tu_run r = run(args);
    cJSON *o;

    if (r.status != 0)
        print_message("# exit %d\n# stdout:\n%s\n# stderr:\n%s\n", r.status, r.out ? r.out : "",
                      r.err ? r.err : "");
    assert_int_equal(r.status, 0);
    o = cJSON_Parse(r.out);
    if (o == NULL)
        fail_msg("not JSON: %s", r.out);
    tu_run_free(&r);
    return o;
}

static double
num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    if (!cJSON_IsNumber(v))
        fail_msg("no number \"%s\" in the JSON", key);
    return v->valuedouble;
}

/* The route figures every mode has, and the latency order. */
static void
check_route(const cJSON *o, const char *record, double n)
{
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(o, "record")->valuestring, record);
    assert_true(num(o, "n") == n);
    assert_true(num(o, "executions_per_sec") > 0);
    assert_true(num(o, "p50_us") > 0);
    assert_true(num(o, "p50_us") <= num(o, "p99_us"));
    assert_true(num(o, "mean_us") > 0);
}

static void
test_route_json(void **state)
{
    char *parent = tu_mkdtemp();
    cJSON *o;

    (void)state;
    o = run_json(ARGS("route", "--n", "50", "--record", "off", "--json"));
    check_route(o, "off", 50);
    assert_null(cJSON_GetObjectItemCaseSensitive(o, "bytes_per_record")); /* nothing written */
    cJSON_Delete(o);

    /* --in-cache: the same figures, said to be taken in cache. */
    o = run_json(ARGS("route", "--n", "50", "--record", "off", "--json"));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "in_cache")));
    cJSON_Delete(o);
    o = run_json(ARGS("route", "--n", "50", "--record", "off", "--in-cache", "--json"));
    check_route(o, "off", 50);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "in_cache")));
    cJSON_Delete(o);

    o = run_json(ARGS("route", "--n", "40", "--dir", parent, "--json"));
    check_route(o, "sync", 40);
    /* A DIRECT record with a 200 byte payload: a few KB, never tiny. */
    assert_true(num(o, "bytes_per_record") > 1000 && num(o, "bytes_per_record") < 64 * 1024);
    assert_true(num(o, "floor_files_per_sec") > 0);
    assert_true(num(o, "ratio_to_floor") > 0);
    cJSON_Delete(o);

    o = run_json(
        ARGS("route", "--n", "30", "--record", "async", "--fsync", "--dir", parent, "--json"));
    check_route(o, "async", 30);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "fsync")));
    assert_true(num(o, "records_per_commit") >= 1 && num(o, "records_per_commit") <= 30);
    cJSON_Delete(o);

    /* Its work directories are gone; nothing else was made in --dir. */
    assert_int_equal(tu_count_files(parent, NULL), 0);
    tu_rmtree(parent);
    free(parent);
}

static void
test_hash_json(void **state)
{
    cJSON *o, *sizes;
    double last = 0;

    (void)state;
    o = run_json(ARGS("hash", "--n", "50", "--json"));
    sizes = cJSON_GetObjectItemCaseSensitive(o, "sizes");
    assert_int_equal(cJSON_GetArraySize(sizes), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *s = cJSON_GetArrayItem(sizes, i);
        assert_true(num(s, "payload_bytes") == (i == 0 ? 200 : i == 1 ? 2048 : 65536));
        /* Canonical text holds the payload and the envelope around it. */
        assert_true(num(s, "canonical_bytes") > num(s, "payload_bytes"));
        assert_true(num(s, "canonical_bytes") > last);
        last = num(s, "canonical_bytes");
        assert_true(num(s, "iterations") == 50);
        assert_true(num(s, "ns_per_envelope") > 0 && num(s, "sha256_ns") > 0);
        assert_true(num(s, "mb_per_sec") > 0 && num(s, "ratio_to_sha256") > 0);
    }
    cJSON_Delete(o);
}

static void
test_index_json(void **state)
{
    char *parent = tu_mkdtemp();
    cJSON *o;

    (void)state;
    o = run_json(ARGS("index", "--n", "60", "--dir", parent, "--json"));
    assert_true(num(o, "records") == 60);
    assert_true(num(o, "records_per_sec") > 0);
    /* A row per record and its attempts: more than a few bytes, far less than a record. */
    assert_true(num(o, "bytes_per_record") > 10 && num(o, "bytes_per_record") < 100000);
    assert_true(num(o, "write_seconds") > 0 && num(o, "index_seconds") > 0);
    cJSON_Delete(o);
    assert_int_equal(tu_count_files(parent, NULL), 0);
    tu_rmtree(parent);
    free(parent);
}

static void
test_text_output(void **state)
{
    struct tu_run r;

    (void)state;
    r = run(ARGS("route", "--n", "20"));
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "executions/s"));
    assert_non_null(strstr(r.out, "p99"));
    assert_non_null(strstr(r.out, "load average"));
    tu_run_free(&r);
}

/* Each bad input: exit 2, and stderr names what was wrong. */
static void
test_bad_input(void **state)
{
    const struct {
        const char *const *args;
        const char *says;
    } cases[] = {
        { ARGS("route", "--record", "maybe"), "'maybe' is not off, sync or async" },
        { ARGS("route", "--n", "0"), "--n: 0 is not between 1" },
        { ARGS("route", "--n", "ten"), "--n: 'ten' is not a non-negative number" },
        { ARGS("route", "--n", "99999999999"), "is not between 1 and" },
        { ARGS("route", "--dir", "/nonexistent/intentus"), "--dir /nonexistent/intentus" },
        { ARGS("route", "--dir", "/dev/null"), "not a directory" },
        { ARGS("route", "--record", "off", "--fsync"), "--fsync needs recording on" },
        { ARGS("route", "--record", "off", "--dir", "/tmp"), "--dir needs recording on" },
        { ARGS("hash", "--dir", "/tmp"), "'--dir'" },
        { ARGS("hash", "--record", "sync"), "'--record'" },
        { ARGS("index", "--fsync"), "'--fsync'" },
        { ARGS("index", "--n", "0"), "--n: 0 is not between 1" },
        { ARGS("route", "extra"), "unexpected argument 'extra'" },
        { ARGS("sprint"), "unknown command 'sprint'" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tu_run r = run(cases[i].args);
        if (r.status != 2 || strstr(r.err, cases[i].says) == NULL)
            fail_msg("case %zu: exit %d, stderr: %s (wanted exit 2 and \"%s\")", i, r.status, r.err,
                     cases[i].says);
        assert_string_equal(r.out, "");
        tu_run_free(&r);
    }
}

static void
test_help(void **state)
{
    struct tu_run r;

    (void)state;
    r = run(ARGS("--help"));
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "route"));
    assert_non_null(strstr(r.out, "hash"));
    assert_non_null(strstr(r.out, "index"));
    tu_run_free(&r);
    r = run(ARGS("route", "--help"));
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "executions_per_sec"));
    assert_non_null(strstr(r.out, "--record"));
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_json), cmocka_unit_test(test_hash_json),
        cmocka_unit_test(test_index_json), cmocka_unit_test(test_text_output),
        cmocka_unit_test(test_bad_input),  cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
