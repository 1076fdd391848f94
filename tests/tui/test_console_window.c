/* The console's model is a window of rows (issue 15 item 2), driven
 * through tmux: with a current persistent index and `--window N`, the
 * console holds only the newest N rows in memory, yet the dashboard's
 * totals, the records browser's count and its pages, and its filters are
 * the index's answers over every record; records landing while it runs are
 * counted; --no-index still loads every record. */
#include <fcntl.h>
#include <setjmp.h>
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

#include "core/clock.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "tests/support/tmux_testutil.h"

static char screen[65536];

/* The oldest and newest ids written by write_set. */
static char oldest_id[40], newest_id[40];
static char set_ids[60][40]; /* newest first */

static int
setup(void **state)
{
    *state = tu_con_new();
    return 0;
}

static int
teardown(void **state)
{
    tu_con_free(*state);
    return 0;
}

/* 60 records, one a second back from now: the oldest 20 are demo.fail
 * (failed with AGENT_UNAVAILABLE), the newest 40 demo.echo; then the
 * persistent index is built with `intentus index rebuild`. */
static void
write_set(struct tu_con *c)
{
    int64_t now = clock_wall_us();
    struct tu_run run;

    for (int i = 0; i < 60; i++) {
        struct tu_rec r;
        bool fail = i >= 40; /* i counts back from the newest */
        tu_rec_make(&r, 500 + (unsigned)i, 0);
        r.created_us = now - (int64_t)(i + 1) * 1000000;
        r.intent = fail ? "demo.fail" : "demo.echo";
        r.timing = true;
        r.n_attempts = 1;
        r.agents[0] = fail ? "fail-1" : "echo-a";
        r.ok[0] = !fail;
        r.attempt_no[0] = 0;
        r.error_code = fail ? "AGENT_UNAVAILABLE" : NULL;
        r.circuit_agent = NULL;
        assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
        snprintf(set_ids[i], sizeof(set_ids[i]), "%s", r.id);
        if (i == 0)
            snprintf(newest_id, sizeof(newest_id), "%s", r.id);
        if (i == 59)
            snprintf(oldest_id, sizeof(oldest_id), "%s", r.id);
    }
    {
        char *argv[] = { (char *)tu_bin(), "index", "rebuild", "--dir", c->recs, NULL };
        assert_int_equal(tu_run(argv, NULL, NULL, NULL, 60000, &run), 0);
        if (run.status != 0)
            fail_msg("index rebuild failed (%d): %s", run.status, run.err);
        tu_run_free(&run);
    }
}

/* Totals and pages: 10 rows in memory, 60 counted; paging past the rows
 * loaded asks the index for more until the oldest record is reached. */
static void
test_window_totals_and_pages(void **state)
{
    struct tu_con *c = *state;
    bool reached = false;

    write_set(c);
    tu_con_start(c, NULL, "--window 10", 160, 40);
    tu_con_expect(c, "records 60 ");
    tu_con_expect(c, " 60 records ");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "60 of 60 records");
    tu_con_expect(c, "(newest 10 loaded)");
    tu_con_expect(c, newest_id);
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, oldest_id) != NULL)
        fail_msg("the oldest record is shown with only the newest 10 loaded:\n%s", screen);
    /* G goes to the last row loaded; there the index gives the next 10. */
    for (int i = 0; i < 12 && !reached; i++) {
        tu_con_keys(c, "G", NULL, NULL);
        reached = tu_con_wait(c, oldest_id, 1500, screen, sizeof(screen));
    }
    if (!reached)
        fail_msg("paging never reached the oldest record %s:\n%s", oldest_id, screen);
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "loaded)") != NULL)
        fail_msg("every row is loaded, yet the title says otherwise:\n%s", screen);
    tu_con_expect(c, "60 of 60 records");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* A filter is the index's answer: the 20 demo.fail records are all older
 * than the 10 rows in memory, and still all 20 match. */
static void
test_window_filter_is_the_index_answer(void **state)
{
    struct tu_con *c = *state;

    write_set(c);
    tu_con_start(c, NULL, "--window 10", 160, 40);
    tu_con_expect(c, "records 60 ");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "60 of 60 records");
    tu_con_keys(c, "/", NULL, NULL);
    tu_con_type(c, "intent:demo.fail");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "20 of 60 records");
    tu_con_expect(c, "(newest 10 loaded)");
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "demo.echo") != NULL)
        fail_msg("a demo.echo row under intent:demo.fail:\n%s", screen);
    if (strstr(screen, "AGENT_UNAVAILABLE") == NULL)
        fail_msg("the filtered rows are not shown:\n%s", screen);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Records landing while it runs are in the totals and the browser's
 * count (the tailer writes them to the index the queries read). */
static void
test_window_live_records_counted(void **state)
{
    struct tu_con *c = *state;
    int64_t now = clock_wall_us();

    write_set(c);
    tu_con_start(c, NULL, "--window 10", 160, 40);
    tu_con_expect(c, "records 60 ");
    for (int i = 0; i < 5; i++) {
        struct tu_rec r;
        tu_rec_make(&r, 900 + (unsigned)i, 0);
        r.created_us = now + (int64_t)i * 1000;
        r.intent = "demo.echo";
        r.n_attempts = 1;
        r.agents[0] = "echo-a";
        r.ok[0] = true;
        r.attempt_no[0] = 0;
        r.error_code = NULL;
        r.circuit_agent = NULL;
        assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
    }
    tu_con_expect(c, "records 65 ");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "65 of 65 records");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* The detail screen's [ (older) and ] (newer) step through the index, not
 * only through the 10 rows in memory. */
static void
test_window_detail_steps_past_the_window(void **state)
{
    struct tu_con *c = *state;
    char want[80];

    write_set(c);
    tu_con_start(c, NULL, "--window 10", 160, 40);
    tu_con_expect(c, "records 60 ");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "(newest 10 loaded)");
    tu_con_keys(c, "Enter", NULL, NULL); /* the newest record */
    snprintf(want, sizeof(want), "Execution %s", set_ids[0]);
    tu_con_expect(c, want);
    for (int i = 1; i <= 12; i++) {
        tu_con_keys(c, "[", NULL, NULL);
        snprintf(want, sizeof(want), "Execution %s", set_ids[i]);
        if (!tu_con_wait(c, want, 5000, screen, sizeof(screen)))
            fail_msg("[ number %d did not reach %s:\n%s", i, set_ids[i], screen);
    }
    tu_con_keys(c, "]", NULL, NULL);
    snprintf(want, sizeof(want), "Execution %s", set_ids[11]);
    tu_con_expect(c, want);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* The Retention screen plans from the index's rows (as `records gc`
 * does): three records of 2025, one of them then overwritten in place with
 * bytes that are not JSON, its size and mtime kept (so its identity is
 * the one the index knows). Read from the files the dry run would count it
 * corrupt and plan 2; from the rows it plans 3; applying reads each planned
 * file back first and leaves the changed one alone. */
static void
test_window_retention_plans_from_the_index(void **state)
{
    struct tu_con *c = *state;
    char cfg[700], args[800], path[900];
    const char *text = "{\"retention\": {\"older_than\": \"30d\"}}";
    char old_id[3][40];
    struct stat st;

    for (int i = 0; i < 3; i++) {
        struct tu_rec r;
        tu_rec_make(&r, 700 + (unsigned)i, 0);
        r.created_us = 1735689600000000LL + (int64_t)i * 1000000; /* 2025-01-01 */
        r.intent = "demo.echo";
        r.n_attempts = 1;
        r.agents[0] = "echo-a";
        r.ok[0] = true;
        r.attempt_no[0] = 0;
        r.error_code = NULL;
        r.circuit_agent = NULL;
        assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
        snprintf(old_id[i], sizeof(old_id[i]), "%s", r.id);
    }
    write_set(c); /* and the index */
    snprintf(path, sizeof(path), "%s/%s.json", c->recs, old_id[1]);
    assert_int_equal(stat(path, &st), 0);
    {
        FILE *f = fopen(path, "r+");
        assert_non_null(f);
        assert_int_equal(fputc('x', f), 'x');
        assert_int_equal(fclose(f), 0);
        struct timespec times[2] = { st.st_atim, st.st_mtim };
        assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
    }
    snprintf(cfg, sizeof(cfg), "%s/c.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(args, sizeof(args), "--config %s --window 10", cfg);
    tu_con_start(c, NULL, args, 160, 40);
    tu_con_expect(c, "records 63 ");
    tu_con_keys(c, "6", NULL, NULL);
    tu_con_expect(c, "Retention (from the config");
    tu_con_keys(c, "n", NULL, NULL);
    tu_con_expect(c, "Dry run: would remove");
    tu_con_expect(c, "   3 records, ");
    tu_con_expect(c, "keeps 60 records");
    tu_con_keys(c, "x", NULL, NULL);
    tu_con_expect(c, "type 'delete' to delete 3 records");
    tu_con_type(c, "delete");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "Last run: removed");
    tu_con_expect(c, "changed since the plan (left alone) 1");
    assert_int_equal(tu_count_files(c->recs, ".json"), 61);
    assert_int_equal(access(path, F_OK), 0); /* the changed file is still there */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* --no-index keeps the old model: every record in memory, nothing said
 * about rows loaded. */
/* --window is the index's (or a store's, tests/tui/test_console_store.c):
 * where the console loads every record instead (--no-index, --read-only)
 * it is refused, not ignored. */
static void
test_window_refused_without_the_index(void **state)
{
    const char *other[] = { "--no-index", "--read-only" };
    struct tu_run run;

    (void)state;
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        char *argv[] = { (char *)tu_bin(), "console", "--window", "100", (char *)other[i], NULL };
        assert_int_equal(tu_run(argv, NULL, NULL, NULL, 10000, &run), 0);
        assert_int_equal(run.status, 2);
        assert_non_null(strstr(run.err, "--window: only with the record index"));
        assert_non_null(strstr(run.err, other[i]));
        tu_run_free(&run);
    }
}

static void
test_no_index_loads_everything(void **state)
{
    struct tu_con *c = *state;

    /* --no-index with --window is refused (test_window_refused_without_the_index):
     * the default window of the index (5000) is not what --no-index shows either. */
    write_set(c);
    tu_con_start(c, NULL, "--no-index", 160, 80);
    tu_con_expect(c, "records 60 ");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "60 of 60 records");
    tu_con_expect(c, oldest_id); /* 60 rows fit in 80 lines */
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "loaded)") != NULL)
        fail_msg("--no-index shows a window:\n%s", screen);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_refused_without_the_index),
        cmocka_unit_test_setup_teardown(test_window_totals_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_filter_is_the_index_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_live_records_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_detail_steps_past_the_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_retention_plans_from_the_index, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_index_loads_everything, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
