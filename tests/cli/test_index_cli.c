/* The record index through the real binary: records list and records stats
 * print byte for byte the same with the index (cold and warm) as with
 * --no-index, on the reference's records and on generated records with
 * corrupt files mixed in, also after the index file is deleted or
 * damaged; intentus index check finds a forged row (exit 1); the index
 * commands take only their own options. */
#include <cjson/cJSON.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/rec_store.h"
#include "tests/support/cli_expect.h"
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
    ARGS("records", "stats", "--error", "AGENT_TIMEOUT"),
    ARGS("records", "stats", "--search", "0", "--intent", "search.web", "--json"),
    ARGS("records", "list", "--search", "%"), /* --search takes no wildcard */
    ARGS("records", "list", "--since", "3650d", "--status", "incomplete"),
    ARGS("records", "tail"),
    ARGS("records", "tail", "-n", "3", "--json"),
    ARGS("records", "tail", "-n", "0"),
    ARGS("records", "tail", "--status", "error", "--agent", "flaky-b"),
    ARGS("records", "gc", "--dry-run", "--older-than", "1"),
    ARGS("records", "gc", "--dry-run", "--max-count", "5", "--json"),
    ARGS("records", "gc", "--dry-run", "--max-bytes", "20K", "--intent", "search.web"),
    ARGS("records", "gc", "--dry-run", "--older-than", "1", "--status", "error", "--json"),
    ARGS("records", "verify", "--intent", "search.web", "-v"),
    ARGS("records", "verify", "--status", "ok", "--agent", "flaky-b", "-v"),
    ARGS("records", "verify", "--error", "AGENT_TIMEOUT", "--since", "3650d"),
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
        /* verify fails (exit 1) on records whose hashes do not match */
        if (strcmp(a[1], "verify") != 0 || without.status != 1)
            EXPECT_EXIT(&without, 0);
        EXPECT_EXIT(&with, without.status);
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

/* records verify with filters checks the records `records list` selects
 * with them, no others, with the index and without; never with IDs. */
static void
test_verify_filters(void **state)
{
    (void)state;
    char *dir = generated(300);
    const char *filters[][4] = {
        { "--intent", "search.web", NULL, NULL },
        { "--status", "error", "--agent", "flaky-b" },
        { "--status", "corrupt", NULL, NULL },
    };
    struct tu_run r = { 0 };

    for (size_t f = 0; f < sizeof(filters) / sizeof(filters[0]); f++) {
        for (int no_index = 0; no_index < 2; no_index++) {
            struct tu_run list = { 0 }, ver = { 0 };
            cJSON *rows, *row;
            size_t n = 0, fails = 0;
            char want[64];
            run_in(dir, &list,
                   ARGS("records", "list", "--json", filters[f][0], filters[f][1],
                        filters[f][2] ? filters[f][2] : "--json",
                        filters[f][3] ? filters[f][3] : "--json"));
            EXPECT_EXIT(&list, 0);
            run_in(dir, &ver,
                   ARGS("records", "verify", no_index ? "--no-index" : "-v", filters[f][0],
                        filters[f][1], filters[f][2] ? filters[f][2] : "-v",
                        filters[f][3] ? filters[f][3] : "-v"));
            rows = cJSON_Parse(list.out);
            assert_non_null(rows);
            assert_true(cJSON_GetArraySize(rows) > 0);
            cJSON_ArrayForEach(row, rows)
            {
                const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(row, "executionId"));
                char line[128];
                assert_non_null(id);
                snprintf(line, sizeof(line), "FAIL %s:", id);
                if (strstr(ver.out, line) == NULL) {
                    tu_run_dump(&ver);
                    fail_msg("filter %zu: %s selected by list, not checked by verify", f, id);
                }
                n++;
            }
            for (const char *p = ver.out; (p = strstr(p, "FAIL ")) != NULL; p += 5)
                fails++;
            /* generated records carry no real envelopeHash: each one fails */
            assert_int_equal(fails, n);
            snprintf(want, sizeof(want), "0 passed, %zu failed", n);
            assert_non_null(strstr(ver.out, want));
            EXPECT_EXIT(&ver, 1);
            cJSON_Delete(rows);
            tu_run_free(&list);
            tu_run_free(&ver);
        }
    }
    run_in(dir, &r,
           ARGS("records", "verify", "00000018-0000-7000-8000-00004b041121", "--intent", "x"));
    EXPECT_EXIT(&r, 2);
    assert_non_null(strstr(r.err, "not both"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* The "ids" of a gc dry run's JSON, one per line. */
static char *
plan_ids(const char *json)
{
    cJSON *v = cJSON_Parse(json), *id;
    char *out = calloc(1, 64 * 1024);
    size_t used = 0;

    assert_non_null(v);
    assert_non_null(out);
    cJSON_ArrayForEach(id, cJSON_GetObjectItemCaseSensitive(v, "ids"))
    {
        used += (size_t)snprintf(out + used, 64 * 1024 - used, "%s\n", id->valuestring);
    }
    cJSON_Delete(v);
    return out;
}

static double
json_num(const char *json, const char *key)
{
    cJSON *v = cJSON_Parse(json);
    double n;

    assert_non_null(v);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(v, key));
    n = cJSON_GetObjectItemCaseSensitive(v, key)->valuedouble;
    cJSON_Delete(v);
    return n;
}

/* Rewrite <dir>/<id>.json in place to say it was created in 2099, keeping
 * its size, inode and mtime: a change the index's (size, mtime, inode)
 * cannot see. With grow, one byte longer and a new mtime: one it sees. */
static void
rewrite_created(const char *dir, const char *id, bool grow)
{
    char p[PATH_MAX], *text, *at;
    struct stat st;
    size_t len;
    struct timespec times[2];

    snprintf(p, sizeof(p), "%s/%s.json", dir, id);
    assert_int_equal(stat(p, &st), 0);
    text = tu_read_file(p, &len);
    assert_non_null(text);
    at = strstr(text, "\"createdUtcIso\":\"20");
    assert_non_null(at);
    memcpy(at + strlen("\"createdUtcIso\":\""), "2099", 4);
    FILE *f = fopen(p, "r+");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    if (grow)
        assert_int_equal(fputc(' ', f), ' ');
    assert_int_equal(fclose(f), 0);
    free(text);
    if (!grow) {
        times[0] = st.st_atim;
        times[1] = st.st_mtim;
        assert_int_equal(utimensat(AT_FDCWD, p, times, 0), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal((long long)st.st_size, (long long)len);
    }
}

/* gc through the index: the dry run and the run select the same files; a
 * file changed behind the index's back (same size, mtime and inode) is
 * still planned from the stale row, but the run reads it back and leaves
 * it (skippedChanged); a change the index sees is planned from the file. */
static void
test_gc_plan_through_the_index(void **state)
{
    (void)state;
    char *dir = generated(50), *dry, *dry2, *x, *y, p[PATH_MAX];
    struct tu_run r = { 0 };
    const char *const *gc_dry = ARGS("records", "gc", "--max-count", "10", "--dry-run", "--json");

    run_in(dir, &r, ARGS("records", "list"));
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    run_in(dir, &r, gc_dry);
    EXPECT_EXIT(&r, 0);
    dry = plan_ids(r.out);
    assert_int_equal(json_num(r.out, "would_delete_count"), 40);
    tu_run_free(&r);
    x = strndup(dry, 36);
    y = strndup(dry + 37, 36);
    rewrite_created(dir, x, false); /* unseen by the index */
    rewrite_created(dir, y, true);  /* seen: now the newest record */
    run_in(dir, &r, gc_dry);
    EXPECT_EXIT(&r, 0);
    dry2 = plan_ids(r.out);
    tu_run_free(&r);
    /* y left the plan (one more of the oldest took its place); x is still in it */
    assert_null(strstr(dry2, y));
    assert_non_null(strstr(dry2, x));
    run_in(dir, &r, ARGS("records", "gc", "--max-count", "10", "--yes", "--json"));
    EXPECT_EXIT(&r, 0);
    assert_int_equal(json_num(r.out, "deleted_count"), 39);
    assert_int_equal(json_num(r.out, "skippedChanged"), 1);
    tu_run_free(&r);
    snprintf(p, sizeof(p), "%s/%s.json", dir, x);
    assert_int_equal(access(p, F_OK), 0); /* not deleted on stale data */
    snprintf(p, sizeof(p), "%s/%s.json", dir, y);
    assert_int_equal(access(p, F_OK), 0);
    /* every other planned file went, and only those */
    for (const char *line = dry2; *line != '\0'; line += 37) {
        char id[37];
        snprintf(id, sizeof(id), "%.36s", line);
        snprintf(p, sizeof(p), "%s/%s.json", dir, id);
        assert_int_equal(access(p, F_OK) == 0, strcmp(id, x) == 0);
    }
    assert_int_equal(tu_count_files(dir, ".json"), 50 + 3 - 39);
    free(dry);
    free(dry2);
    free(x);
    free(y);
    tu_rmtree(dir);
    free(dir);
}

/* cmd [sub] ID, with --no-index when asked. */
static void
run_two(const char *dir, struct tu_run *r, const char *cmd, const char *sub, const char *id,
        int no_index)
{
    const char *args[6] = { cmd, sub, NULL, NULL, NULL, NULL };
    size_t n = 2;

    if (id == NULL) {
        /* retrieve ID: run_in puts --dir after the first two words */
        args[1] = sub;
        n = 2;
    } else {
        args[n++] = id;
    }
    if (no_index)
        args[n++] = "--no-index";
    args[n] = NULL;
    run_in(dir, r, args);
}

/* retrieve and records show take a unique prefix of an id, through the
 * index or (--no-index) the directory listing; an ambiguous one is a usage
 * error naming the candidates. */
static void
test_id_prefix_lookup(void **state)
{
    (void)state;
    char *dir = generated(30), prefix[40] = "";
    struct tu_run full = { 0 }, r = { 0 };
    struct rec_ids ids = { 0 };
    struct rec_store *rs = rec_store_open(dir, NULL, NULL);
    const char *id = NULL;

    assert_non_null(rs);
    assert_int_equal(rec_store_list(rs, &ids, NULL), 0);
    /* An id whose first 9 characters no other id shares. */
    for (size_t i = 0; i < ids.n && id == NULL; i++) {
        bool unique = true;
        for (size_t k = 0; k < ids.n; k++)
            unique &= k == i || strncmp(ids.ids[k], ids.ids[i], 9) != 0;
        if (unique && strncmp(ids.ids[i], "00000000", 8) != 0)
            id = ids.ids[i];
    }
    assert_non_null(id);
    snprintf(prefix, sizeof(prefix), "%.9s", id);
    run_in(dir, &full, ARGS("records", "show", id));
    EXPECT_EXIT(&full, 0);
    for (int no_index = 0; no_index < 2; no_index++) {
        run_two(dir, &r, "records", "show", prefix, no_index);
        EXPECT_EXIT(&r, 0);
        assert_string_equal(r.out, full.out);
        tu_run_free(&r);
        run_two(dir, &r, "retrieve", prefix, NULL, no_index);
        assert_non_null(strstr(r.out, id));
        tu_run_free(&r);
        /* "0" starts several ids, the files that are not records among them */
        run_two(dir, &r, "records", "show", "0", no_index);
        EXPECT_EXIT(&r, 2);
        assert_non_null(strstr(r.err, "'0' is ambiguous"));
        tu_run_free(&r);
        run_two(dir, &r, "retrieve", "00000000-0000-4000-8000-00000000bad", NULL, no_index);
        EXPECT_EXIT(&r, 2);
        assert_non_null(strstr(r.err, "00000000-0000-4000-8000-00000000bad1"));
        assert_non_null(strstr(r.err, "00000000-0000-4000-8000-00000000bad2"));
        tu_run_free(&r);
        run_two(dir, &r, "retrieve", "zzzz", NULL, no_index);
        EXPECT_EXIT(&r, 1);
        assert_non_null(strstr(r.err, "zzzz"));
        tu_run_free(&r);
    }
    tu_run_free(&full);
    rec_store_ids_free(&ids);
    rec_store_close(rs);
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
    /* the row, and the counters it no longer adds up to */
    assert_non_null(strstr(r.out, "counters differ from a count of the rows"));
    assert_non_null(strstr(r.out, "2 differences\n"));
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
        cmocka_unit_test(test_gc_plan_through_the_index),
        cmocka_unit_test(test_id_prefix_lookup),
        cmocka_unit_test(test_index_commands),
        cmocka_unit_test(test_verify_filters),
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
