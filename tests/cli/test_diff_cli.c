/* End-to-end: intentus records diff on records routed by the real binary,
 * each test in its own temporary directory with no user configuration. */
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

#include "core/json.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 10000

static const char cfg[] =
    "{\"agents\": "
    "[{\"name\":\"a\",\"builtin\":\"echo\",\"intents\":[\"t.x\"],\"nodePriority\":1}]}";

/* Run intentus with args (NULL-terminated) in dir. */
static void
run(const char *dir, struct tu_run *r, ...)
{
    char *argv[32], home[PATH_MAX + 8], xdg[PATH_MAX + 20];
    char *const env[] = { home, xdg, "INTENTUS_CONFIG=", "INTENTUSNET_RECORDS_PATH=", NULL };
    va_list ap;
    int n = 0;

    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", dir);
    argv[n++] = (char *)tu_bin();
    va_start(ap, r);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 31;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, NULL, env, TIMEOUT_MS, r), 0);
}

/* Route t.x with payload; the execution id from "execution ID recorded". */
static void
route(const char *dir, const char *payload, char id[64])
{
    char path[PATH_MAX];
    struct tu_run r;
    const char *p;

    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, cfg, strlen(cfg), 0600), 0);
    run(dir, &r, "route", "t.x", "--payload", payload, NULL);
    assert_int_equal(r.status, 0);
    p = strstr(r.err, "execution ");
    if (p == NULL || sscanf(p, "execution %63s", id) != 1)
        fail_msg("no execution id in: %s", r.err);
    tu_run_free(&r);
}

static void
test_different_payloads(void **state)
{
    char *dir = tu_mkdtemp(), a[64], b[64];
    struct tu_run r;

    (void)state;
    route(dir, "{\"text\":\"first\",\"keep\":1}", a);
    route(dir, "{\"text\":\"second\",\"keep\":1,\"more\":[1,2]}", b);
    run(dir, &r, "records", "diff", a, b, NULL);
    if (r.status != 1)
        fail_msg("exit %d: %s / %s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, "  changed  /payload/text: \"first\" -> \"second\"\n"));
    assert_non_null(strstr(r.out, "  added    /payload/more: [1,2]\n"));
    assert_null(strstr(r.out, "/payload/keep"));
    assert_non_null(strstr(r.out, "input     "));
    assert_non_null(strstr(r.out, "  changed  /events["));
    assert_non_null(strstr(r.out, "routerDecisionChanged: true\n"));
    assert_non_null(strstr(r.out, "finalResponseChanged: true\n"));
    assert_non_null(strstr(r.out, "fallbackEventsA: []\n"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_json_output(void **state)
{
    char *dir = tu_mkdtemp(), a[64], b[64];
    struct tu_run r;
    const cJSON *e, *changes;
    cJSON *j;
    bool saw = false;

    (void)state;
    route(dir, "{\"text\":\"x\"}", a);
    route(dir, "{\"text\":\"y\"}", b);
    run(dir, &r, "records", "diff", a, b, "--json", NULL);
    assert_int_equal(r.status, 1);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    if (j == NULL)
        fail_msg("not JSON: %s / %s", r.out, r.err);
    assert_string_equal(json_get_string(j, "executionA"), a);
    assert_string_equal(json_get_string(j, "executionB"), b);
    assert_non_null(json_get_string(j, "envelopeHashA"));
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "fallbackEventsB")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "sections")), 4);
    changes = cJSON_GetObjectItemCaseSensitive(j, "changes");
    assert_true(cJSON_IsArray(changes));
    cJSON_ArrayForEach(e, changes)
    {
        const char *path = json_get_string(e, "path");
        if (strcmp(json_get_string(e, "section"), "input") == 0 &&
            strcmp(path, "/payload/text") == 0) {
            assert_string_equal(json_get_string(e, "kind"), "changed");
            assert_string_equal(json_get_string(e, "left"), "x");
            assert_string_equal(json_get_string(e, "right"), "y");
            saw = true;
        }
    }
    assert_true(saw);
    cJSON_Delete(j);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_same_record_is_identical(void **state)
{
    char *dir = tu_mkdtemp(), a[64];
    struct tu_run r;
    cJSON *j;

    (void)state;
    route(dir, "{\"text\":\"x\"}", a);
    run(dir, &r, "records", "diff", a, a, NULL);
    if (r.status != 0)
        fail_msg("exit %d: %s / %s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, "input     identical"));
    assert_non_null(strstr(r.out, "metadata  identical"));
    assert_null(strstr(r.out, "  changed  "));
    tu_run_free(&r);
    run(dir, &r, "records", "diff", a, a, "--json", NULL);
    assert_int_equal(r.status, 0);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(j);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "identical")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "changes")), 0);
    cJSON_Delete(j);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_missing_record_and_usage(void **state)
{
    char *dir = tu_mkdtemp(), a[64];
    struct tu_run r;

    (void)state;
    route(dir, "{}", a);
    run(dir, &r, "records", "diff", a, "0000-no-such-id", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "0000-no-such-id"));
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    run(dir, &r, "records", "diff", a, NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    run(dir, &r, "records", "diff", a, a, a, NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    run(dir, &r, "records", "diff", a, "../x", NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    run(dir, &r, "records", "diff", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "diff A B"));
    assert_non_null(strstr(r.out, "exit 0 identical, 1 different, 2 usage error"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_reference_records(void **state)
{
    char *dir = tu_mkdtemp(), data[PATH_MAX + 64], cwd[PATH_MAX / 2];
    struct tu_run r;

    (void)state;
    /* Two of the Python reference's records: different executions. The
     * command runs in the temporary directory, so the path is absolute. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    if (tu_data_dir()[0] == '/')
        snprintf(data, sizeof(data), "%.*s/reference-records", PATH_MAX / 2, tu_data_dir());
    else
        snprintf(data, sizeof(data), "%s/%.*s/reference-records", cwd, PATH_MAX / 4, tu_data_dir());
    run(dir, &r, "records", "diff", "--dir", data, "03355680-d215-463b-9a23-ed08bfba7708",
        "07077ed4-f92f-48aa-ab54-c3b248e42c19", NULL);
    if (r.status != 1)
        fail_msg("exit %d: %s / %s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, "metadata  "));
    assert_null(strstr(r.err, "warning")); /* both envelope hashes verify */
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_different_payloads),
        cmocka_unit_test(test_json_output),
        cmocka_unit_test(test_same_record_is_identical),
        cmocka_unit_test(test_missing_record_and_usage),
        cmocka_unit_test(test_reference_records),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
