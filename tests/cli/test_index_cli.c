/* The record index through the real binary: records list and records stats
 * print byte for byte the same with the index (cold and warm) as with
 * --no-index, on the reference's records and on generated records with
 * corrupt files mixed in, also after the index file is deleted or
 * damaged; intentus index check finds a forged row (exit 1); the index
 * commands take only their own options. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/recgen.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 60000
#define MAX_ARGS 32

static char g_bin[PATH_MAX];
static char g_data[PATH_MAX];
static char g_home[PATH_MAX + 16];

static int
run_in(const char *dir, struct tu_run *r, const char *const *args)
{
    char *argv[MAX_ARGS], *envv[6];
    size_t n = 0;

    argv[n++] = g_bin;
    argv[n++] = (char *)args[0];
    argv[n++] = (char *)args[1];
    argv[n++] = (char *)"--dir";
    argv[n++] = (char *)dir;
    for (size_t i = 2; args[i] != NULL; i++) {
        assert_true(n + 1 < MAX_ARGS);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    envv[0] = g_home;
    envv[1] = (char *)"INTENTUS_CONFIG=";
    envv[2] = (char *)"INTENTUSNET_RECORDS_PATH=";
    envv[3] = (char *)"XDG_CONFIG_HOME=/nonexistent";
    envv[4] = NULL;
    assert_int_equal(tu_run(argv, NULL, NULL, envv, TIMEOUT_MS, r), 0);
    return r->status;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
dump(const struct tu_run *r)
{
    print_message("# exit %d\n# stdout:\n%s\n# stderr:\n%s\n", r->status, r->out ? r->out : "",
                  r->err ? r->err : "");
}

#define EXPECT_EXIT(r, code)                                                                       \
    do {                                                                                           \
        if ((r)->status != (code))                                                                 \
            dump(r);                                                                               \
        assert_int_equal((r)->status, (code));                                                     \
    } while (0)

static const char *const *const read_cmds[] = {
    ARGS("records", "list"),
    ARGS("records", "list", "--json"),
    ARGS("records", "list", "--limit", "7"),
    ARGS("records", "list", "--limit", "1", "--json"),
    ARGS("records", "list", "--limit", "0"),
    ARGS("records", "list", "--status", "corrupt"),
    ARGS("records", "list", "--status", "error", "--json"),
    ARGS("records", "list", "--agent", "flaky-b"),
    ARGS("records", "list", "--error", "AGENT_TIMEOUT"),
    ARGS("records", "list", "--search", "00"),
    ARGS("records", "list", "--intent", "search.web", "--limit", "3"),
    ARGS("records", "stats"),
    ARGS("records", "stats", "--json"),
    ARGS("records", "stats", "--status", "ok"),
    ARGS("records", "stats", "--agent", "slow-c", "--json"),
};

/* Drop the parts of `records stats --json` that are relative to the clock
 * (the throughput buckets end now, the window is the last 15 minutes): two
 * runs a moment apart may straddle a bucket, index or not. */
static void
strip_clock_relative(cJSON *v)
{
    cJSON *c;

    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return;
    cJSON_DeleteItemFromObjectCaseSensitive(v, "throughput");
    cJSON_DeleteItemFromObjectCaseSensitive(v, "window");
    cJSON_ArrayForEach(c, v)
    {
        strip_clock_relative(c);
    }
}

/* out, or for JSON stats the same without its clock-relative parts. */
static char *
comparable(const char *const *args, const char *out)
{
    bool json_stats = strcmp(args[1], "stats") == 0;
    bool json = false;
    cJSON *v;
    char *text;

    for (size_t i = 2; args[i] != NULL; i++)
        json |= strcmp(args[i], "--json") == 0;
    if (!json_stats || !json || (v = cJSON_Parse(out)) == NULL)
        return strdup(out);
    strip_clock_relative(v);
    text = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    return text;
}

/* Every read command's output with the index equals its output without. */
static void
same_with_and_without(const char *dir)
{
    for (size_t i = 0; i < sizeof(read_cmds) / sizeof(read_cmds[0]); i++) {
        const char *const *a = read_cmds[i];
        const char *args[MAX_ARGS];
        struct tu_run with = { 0 }, without = { 0 };
        size_t n = 0;
        for (; a[n] != NULL; n++)
            args[n] = a[n];
        run_in(dir, &with, a);
        args[n] = "--no-index";
        args[n + 1] = NULL;
        run_in(dir, &without, args);
        EXPECT_EXIT(&without, 0);
        EXPECT_EXIT(&with, 0);
        char *cw = comparable(a, with.out), *cwo = comparable(a, without.out);
        assert_non_null(cw);
        assert_non_null(cwo);
        if (strcmp(cw, cwo) != 0)
            print_message("# %s %s %s: with the index:\n%s\n# without:\n%s\n", a[0], a[1],
                          a[2] ? a[2] : "", with.out, without.out);
        assert_string_equal(cw, cwo);
        free(cw);
        free(cwo);
        assert_string_equal(with.err, "");
        tu_run_free(&with);
        tu_run_free(&without);
    }
}

static char *
copy_reference(void)
{
    char *dir = tu_mkdtemp(), cmd[3 * PATH_MAX];

    snprintf(cmd, sizeof(cmd), "cp %s/reference-records/*.json %s/", g_data, dir);
    assert_int_equal(system(cmd), 0);
    return dir;
}

static char *
generated(unsigned n)
{
    char *dir = tu_mkdtemp(), p[PATH_MAX];

    for (unsigned i = 0; i < n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, i * 7 + 3, 1790000000000000ll);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    snprintf(p, sizeof(p), "%s/00000000-0000-4000-8000-00000000bad1.json", dir);
    assert_int_equal(tu_write_file(p, "{\"header\": {", 12, 0600), 0);
    snprintf(p, sizeof(p), "%s/00000000-0000-4000-8000-00000000bad2.json", dir);
    assert_int_equal(tu_write_file(p, "[]", 2, 0600), 0);
    snprintf(p, sizeof(p), "%s/00000000-0000-4000-8000-0000000fifo1.json", dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    return dir;
}

static void
test_reference_records_same_output(void **state)
{
    (void)state;
    char *dir = copy_reference(), p[PATH_MAX];
    struct stat st;

    same_with_and_without(dir); /* the first builds the index: cold */
    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite", dir);
    assert_int_equal(stat(p, &st), 0);
    same_with_and_without(dir); /* warm */
    tu_rmtree(dir);
    free(dir);
}

static void
test_generated_records_same_output(void **state)
{
    (void)state;
    char *dir = generated(600), p[PATH_MAX];
    struct tu_run r = { 0 };

    same_with_and_without(dir);
    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite", dir);
    assert_int_equal(unlink(p), 0);
    same_with_and_without(dir);
    assert_int_equal(truncate(p, 4096), 0);
    same_with_and_without(dir);
    assert_int_equal(tu_write_file(p, "junk", 4, 0600), 0);
    same_with_and_without(dir);
    run_in(dir, &r, ARGS("index", "check"));
    EXPECT_EXIT(&r, 0);
    assert_non_null(strstr(r.out, "603 records checked against their files: 0 differences"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_index_commands(void **state)
{
    (void)state;
    char *dir = generated(40), p[PATH_MAX];
    struct tu_run r = { 0 };
    sqlite3 *h;

    run_in(dir, &r, ARGS("index", "stats"));
    EXPECT_EXIT(&r, 0);
    assert_non_null(strstr(r.out, "records:  43 (3 corrupt)"));
    assert_non_null(strstr(r.out, "/.intentus/index.sqlite"));
    assert_non_null(strstr(r.out, "43 files read"));
    tu_run_free(&r);
    run_in(dir, &r, ARGS("index", "stats"));
    EXPECT_EXIT(&r, 0);
    assert_non_null(strstr(r.out, "0 files read, 0 rows removed"));
    tu_run_free(&r);
    run_in(dir, &r, ARGS("index", "rebuild"));
    EXPECT_EXIT(&r, 0);
    assert_non_null(strstr(r.out, "43 files read"));
    assert_non_null(strstr(r.out, "rebuilt (as asked)"));
    tu_run_free(&r);

    /* A forged row: check names it and fails. */
    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite", dir);
    assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h,
                                  "UPDATE records SET status = 1, error_code = 'FORGED' WHERE id ="
                                  " (SELECT min(id) FROM records WHERE corrupt IS NULL)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(h);
    run_in(dir, &r, ARGS("index", "check"));
    EXPECT_EXIT(&r, 1);
    assert_non_null(strstr(r.out, "FORGED"));
    assert_non_null(strstr(r.out, "1 difference\n"));
    tu_run_free(&r);

    /* Each takes only its own options. */
    run_in(dir, &r, ARGS("index", "check", "--limit", "3"));
    EXPECT_EXIT(&r, 2);
    assert_non_null(strstr(r.err, "--limit"));
    tu_run_free(&r);
    run_in(dir, &r, ARGS("index", "frobnicate"));
    EXPECT_EXIT(&r, 2);
    assert_non_null(strstr(r.err, "frobnicate"));
    tu_run_free(&r);
    run_in(dir, &r, ARGS("index", "stats", "extra"));
    EXPECT_EXIT(&r, 2);
    tu_run_free(&r);
    run_in(dir, &r, ARGS("index", "check", "--help"));
    EXPECT_EXIT(&r, 0);
    assert_non_null(strstr(r.out, "Usage: intentus index check"));
    tu_run_free(&r);
    run_in(dir, &r, ARGS("records", "show", "--limit", "3"));
    EXPECT_EXIT(&r, 2); /* show takes only its own options */
    assert_non_null(strstr(r.err, "--limit"));
    tu_run_free(&r);
    snprintf(p, sizeof(p), "%s/missing", dir);
    run_in(p, &r, ARGS("index", "stats"));
    EXPECT_EXIT(&r, 1);
    assert_non_null(strstr(r.err, "missing"));
    tu_run_free(&r);
    run_in(p, &r, ARGS("records", "list"));
    EXPECT_EXIT(&r, 1);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_records_same_output),
        cmocka_unit_test(test_generated_records_same_output),
        cmocka_unit_test(test_index_commands),
    };
    char *home;
    int rc;

    if (realpath(tu_bin(), g_bin) == NULL || realpath(tu_data_dir(), g_data) == NULL) {
        fprintf(stderr, "cannot find the intentus binary or tests/data\n");
        return 1;
    }
    home = tu_mkdtemp();
    snprintf(g_home, sizeof(g_home), "HOME=%s", home);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmtree(home);
    free(home);
    return rc;
}
