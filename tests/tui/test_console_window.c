/* The console's model is a window of rows (issue 15 item 2), driven
 * through tmux: with a current persistent index and `--window N`, the
 * console holds only the newest N rows in memory, yet the dashboard's
 * totals, the records browser's count and its pages, and its filters are
 * the index's answers over every record; records landing while it runs are
 * counted; --no-index still loads every record. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "tests/support/tmux_testutil.h"

static char screen[65536];

/* The oldest and newest ids written by write_set. */
static char oldest_id[40], newest_id[40];

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

/* --no-index keeps the old model: every record in memory, nothing said
 * about rows loaded. */
static void
test_no_index_loads_everything(void **state)
{
    struct tu_con *c = *state;

    write_set(c);
    tu_con_start(c, NULL, "--no-index --window 10", 160, 80);
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
        cmocka_unit_test_setup_teardown(test_window_totals_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_filter_is_the_index_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_live_records_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_index_loads_everything, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
