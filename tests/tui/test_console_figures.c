/* The console's figures, driven through tmux (issue 18 part 2): the
 * dashboard's rate and sparkline, failure figures that agree, the records
 * ID column, follow mode, Fire's response and timing, persisted
 * preferences, and the shared table widget. */
#include <setjmp.h>
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

#include "core/clock.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "tests/support/tmux_testutil.h"

static char screen[65536];

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

static void
sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* n records of one successful attempt by echo-a, created at t0 - i * step. */
static void
write_records(const char *dir, unsigned first, int n, int64_t t0, int64_t step_us)
{
    for (int i = 0; i < n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, first + (unsigned)i, 0);
        r.created_us = t0 - (int64_t)i * step_us;
        r.intent = "demo.echo";
        r.timing = true;
        r.n_attempts = 1;
        r.agents[0] = "echo-a";
        r.ok[0] = true;
        r.attempt_no[0] = 0;
        r.error_code = NULL;
        r.circuit_agent = NULL;
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
}

/* P2.1: a burst of 8 shows as 0.8/s over the last 10 s after the burst,
 * not as "rate 0.0/s" once the newest 2 s bucket is empty; the sparkline
 * has a legend and a time axis. */
static void
test_rate_over_10s_and_1min(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 30);
    tu_con_expect(c, "records 0 ");
    write_records(c->recs, 1, 8, clock_wall_us(), 1000);
    tu_con_expect(c, "records 8 ");
    sleep_ms(3000);
    tu_con_expect(c, "rate 10s 0.8/s  1m 0.13/s");
    tu_con_expect(c, "per 2s"); /* the legend: what one column is */
    tu_con_expect(c, "-2m");    /* the time axis under it */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* P2.1: paused, the sparkline and the rate stand still. */
static void
test_sparkline_stops_when_paused(void **state)
{
    struct tu_con *c = *state;
    char before[512], after[512], spark_before[512], spark_after[512];
    int64_t now = clock_wall_us();

    /* Uneven density over the last 100 s: a shape that moves if redrawn. */
    write_records(c->recs, 100, 30, now, 900000);
    write_records(c->recs, 200, 30, now - 40000000, 300000);
    tu_con_start(c, NULL, NULL, 120, 30);
    tu_con_expect(c, "records 60 ");
    tu_con_keys(c, "p", NULL, NULL);
    tu_con_expect(c, "paused");
    sleep_ms(300);
    tu_con_line(c, 2, before, sizeof(before));
    tu_con_line(c, 3, spark_before, sizeof(spark_before));
    assert_non_null(strstr(spark_before, "(paused)"));
    sleep_ms(4500);
    tu_con_line(c, 2, after, sizeof(after));
    tu_con_line(c, 3, spark_after, sizeof(spark_after));
    assert_string_equal(before, after);
    assert_string_equal(spark_before, spark_after);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* P2.6: ids of the same minute share their first 8 characters (UUIDv7's
 * timestamp); the column shows the shortest suffix unique on screen, and
 * at 80 columns the error code is shown whole. */
static void
test_records_id_column_tells_rows_apart(void **state)
{
    struct tu_con *c = *state;
    char ids[12][40];
    int64_t now = clock_wall_us();

    for (int i = 0; i < 12; i++) {
        struct tu_rec r;
        tu_rec_make(&r, 300 + (unsigned)i, 0);
        snprintf(r.id, sizeof(r.id), "01a23077-9c%02x-7000-8000-00000000%04x", i,
                 (unsigned)(i * 7919 + 11) % 65536);
        snprintf(ids[i], sizeof(ids[i]), "%s", r.id);
        r.created_us = now - i * 1000;
        r.intent = "demo.echo";
        r.n_attempts = 1;
        r.agents[0] = "flaky-b";
        r.ok[0] = i % 2 == 0;
        r.attempt_no[0] = 0;
        r.error_code = i % 2 == 0 ? NULL : "AGENT_UNAVAILABLE";
        r.circuit_agent = NULL;
        assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
    }
    tu_con_start(c, NULL, NULL, 80, 30);
    tu_con_expect(c, "records 12 ");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "12 of 12 records");
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "01a23077") != NULL)
        fail_msg("the ID column shows the shared timestamp prefix:\n%s", screen);
    /* The shortest suffix unique among the 12 (at least 4 characters). */
    for (int i = 0; i < 12; i++) {
        size_t len = 4;
        for (int k = 0; k < 12; k++) {
            if (k != i) {
                size_t common = 0;
                while (common < 36 && ids[i][35 - common] == ids[k][35 - common])
                    common++;
                if (common + 1 > len)
                    len = common + 1;
            }
        }
        if (strstr(screen, ids[i] + 36 - len) == NULL)
            fail_msg("row of %s does not show its suffix '%s':\n%s", ids[i], ids[i] + 36 - len,
                     screen);
    }
    if (strstr(screen, "AGENT_UNAVAILABLE") == NULL)
        fail_msg("the error code is cut at 80 columns:\n%s", screen);
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, ids[0]); /* the detail screen shows the full id */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* A record as the router writes a breaker's fast rejection: the circuit is
 * open, no attempt is made. */
static void
write_rejection(const char *dir, unsigned seq, int64_t created)
{
    char id[40], path[700], ts[CLOCK_ISO_LEN], text[2048];
    int n;

    snprintf(id, sizeof(id), "01a23078-%04x-7000-8000-%012x", seq & 0xffff, seq);
    clock_format_iso(created, ts);
    n = snprintf(
        text, sizeof(text),
        "{\"header\":{\"executionId\":\"%s\",\"createdUtcIso\":\"%s\",\"envelopeHash\":\"0\","
        "\"replayable\":true},\"envelope\":{\"intent\":{\"name\":\"demo.fail\",\"version\":"
        "\"1.0\"},\"payload\":{},\"routing\":{\"strategy\":\"direct\"}},\"routerDecision\":{"
        "\"agent\":\"broken-d\",\"intent\":\"demo.fail\"},\"events\":[{\"seq\":1,\"type\":"
        "\"INTENT_RECEIVED\",\"payload\":{}},{\"seq\":2,\"type\":\"CIRCUIT_OPEN_SKIPPED\","
        "\"payload\":{\"agent\":\"broken-d\",\"state\":\"OPEN\"}},{\"seq\":3,\"type\":"
        "\"FINAL_RESPONSE\",\"payload\":{\"status\":\"error\",\"error\":{\"code\":"
        "\"AGENT_UNAVAILABLE\",\"message\":\"circuit open\"}}}],\"finalResponse\":{\"status\":"
        "\"error\",\"metadata\":{\"agent\":\"broken-d\"},\"error\":{\"code\":"
        "\"AGENT_UNAVAILABLE\",\"message\":\"circuit open\"}}}",
        id, ts);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    assert_int_equal(tu_write_file(path, text, (size_t)n, 0600), 0);
}

/* P2.2: flaky-b's failed attempts inside fallbacks that succeeded are in
 * its failure view with their codes; the header totals errors; a run of
 * fast rejections shows as rejections, not as the 5 calls before it. */
static void
test_failure_figures_agree(void **state)
{
    struct tu_con *c = *state;
    int64_t now = clock_wall_us();

    for (int i = 0; i < 6; i++) {
        struct tu_rec r;
        tu_rec_make(&r, 400 + (unsigned)i, 0);
        r.created_us = now - 5000000 - i * 1000;
        r.intent = "demo.echo";
        r.timing = true;
        r.n_attempts = 2;
        r.agents[0] = "flaky-b";
        r.ok[0] = false;
        r.agents[1] = "echo-a";
        r.ok[1] = true;
        r.attempt_no[0] = r.attempt_no[1] = 0;
        r.error_code = NULL;
        r.circuit_agent = NULL;
        assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
    }
    for (int i = 0; i < 5; i++) { /* broken-d fails 5 times, then its circuit opens */
        struct tu_rec r;
        tu_rec_make(&r, 500 + (unsigned)i, 0);
        r.created_us = now - 4000000 - i * 1000;
        r.intent = "demo.fail";
        r.n_attempts = 1;
        r.agents[0] = "broken-d";
        r.ok[0] = false;
        r.attempt_no[0] = 0;
        r.error_code = "AGENT_ERROR";
        r.circuit_agent = NULL;
        assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
    }
    for (unsigned i = 0; i < 2000; i++)
        write_rejection(c->recs, i, now - 3000000 + i);
    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "records 2011 ");
    tu_con_expect(c, "errors 2005"); /* 5 failures + 2000 rejections, of 2011 */
    tu_con_expect(c, "REJ");
    tu_con_expect(c, "2000"); /* broken-d's rejections */
    /* flaky-b's failure view (agents by name: broken-d, echo-a, flaky-b, ...) */
    tu_con_keys(c, "j", "j", NULL);
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "failed attempts of flaky-b");
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "no failures recorded") != NULL)
        fail_msg("flaky-b's failure view is empty:\n%s", screen);
    tu_con_expect(c, "AGENT_ERROR"); /* the attempt's code (the reference records none) */
    /* broken-d's: its rejections are named as such */
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_keys(c, "g", NULL, NULL);
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "failed attempts of broken-d");
    tu_con_expect(c, "REJECTED (OPEN)");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* P2.3: a circuit state read from records says so, with the cool-down left
 * and the next probe (open time + the configured cool-down); a reset of
 * this console's own breaker says it changed nothing elsewhere. */
static void
test_circuit_state_names_its_source(void **state)
{
    struct tu_con *c = *state;
    struct tu_rec r;
    char cfg[700], args[800];
    const char *text = "{\"agents\": [{\"name\": \"flaky-b\", \"builtin\": \"echo\", \"intents\": "
                       "[\"demo.echo\"], \"breaker\": {\"failure_threshold\": 3, \"cooldown\": "
                       "\"10m\"}}]}";

    snprintf(cfg, sizeof(cfg), "%s/c.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    tu_rec_make(&r, 900, 0);
    r.created_us = clock_wall_us() - 2000000;
    r.intent = "demo.echo";
    r.n_attempts = 1;
    r.agents[0] = "flaky-b";
    r.ok[0] = false;
    r.attempt_no[0] = 0;
    r.error_code = "AGENT_ERROR";
    r.circuit_agent = "flaky-b";
    r.circuit_to = "OPEN";
    assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
    snprintf(args, sizeof(args), "--config %s", cfg);
    tu_con_start(c, NULL, args, 160, 40);
    tu_con_expect(c, "records 1 ");
    tu_con_expect(c, "OPEN 59"); /* the cell counts the cool-down down: 598s, 597s... */
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "circuit: OPEN as last recorded at ");
    tu_con_expect(c, "cool-down 59");
    tu_con_expect(c, "next probe ");
    tu_con_keys(c, "r", NULL, NULL);
    tu_con_expect(c, "(y/n)"); /* resetting asks first */
    tu_con_keys(c, "y", NULL, NULL);
    tu_con_expect(c, "this console's router only");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* P2.7: F follows the newest record like tail -f: a record that arrives
 * takes the cursor, so Enter opens it. */
static void
test_records_follow_mode(void **state)
{
    struct tu_con *c = *state;
    struct tu_rec r;

    write_records(c->recs, 600, 5, clock_wall_us() - 1000000, 1000);
    tu_con_start(c, NULL, NULL, 120, 30);
    tu_con_expect(c, "records 5 ");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "5 of 5 records");
    tu_con_keys(c, "j", "j", NULL);
    tu_con_keys(c, "F", NULL, NULL);
    tu_con_expect(c, "FOLLOW");
    tu_rec_make(&r, 700, 0);
    snprintf(r.id, sizeof(r.id), "%s", "01a23099-0000-7000-8000-00000000f011");
    r.created_us = clock_wall_us();
    r.intent = "follow.newest";
    assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
    tu_con_expect(c, "6 of 6 records");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "01a23099-0000-7000-8000-00000000f011");
    /* F again: the cursor stays where it is. */
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_expect(c, "6 of 6 records");
    tu_con_keys(c, "F", NULL, NULL);
    tu_con_capture(c, screen, sizeof(screen));
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* P2.8: Fire shows the response body and both timings, named. */
static void
test_fire_shows_response_and_timing(void **state)
{
    struct tu_con *c = *state;
    char hint[1024];

    tu_con_start(c, NULL, NULL, 160, 40);
    tu_con_expect(c, "records 0 ");
    /* The empty dashboard's hint can be pasted: this binary (run here by its
     * absolute path) and the directory this console watches. */
    snprintf(hint, sizeof(hint), "%s route demo.echo --dir %s", tu_bin(), c->recs);
    tu_con_expect(c, hint);
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "Fire an intent");
    tu_con_keys(c, "C-u", NULL, NULL);
    tu_con_type(c, "demo.upper");
    tu_con_keys(c, "C-r", NULL, NULL);
    tu_con_expect(c, "success from upper-u");
    tu_con_expect(c, "response:");
    tu_con_expect(c, "HELLO FROM THE CONSOLE"); /* the body, upper-cased by the agent */
    tu_con_expect(c, "router ");
    tu_con_expect(c, "end-to-end ");
    tu_con_keys(c, "Escape", NULL, NULL); /* in a text field Q is text */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* P2.9: the theme chosen with t is there on the next start
 * ($XDG_STATE_HOME/intentus/console.prefs); the config's console section
 * is accepted and a bad value in it is refused by name. */
static void
test_preferences_persist(void **state)
{
    struct tu_con *c = *state;
    char path[700], cfg[700], *text;
    struct tu_run r;

    tu_con_start(c, NULL, NULL, 120, 30);
    tu_con_expect(c, "records 0 ");
    tu_con_keys(c, "t", NULL, NULL);
    tu_con_expect(c, "theme: ");
    tu_con_capture(c, screen, sizeof(screen));
    char *th = strstr(screen, "theme: ");
    char name[64];
    assert_non_null(th);
    snprintf(name, sizeof(name), "%.*s", (int)strcspn(th + 7, " \n"), th + 7);
    assert_string_not_equal(name, "default");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    snprintf(path, sizeof(path), "%s/state/intentus/console.prefs", c->dir);
    text = tu_read_file(path, NULL);
    if (text == NULL)
        fail_msg("no preferences written at %s", path);
    assert_non_null(strstr(text, name));
    free(text);
    tu_con_start(c, NULL, NULL, 120, 30);
    tu_con_expect(c, "records 0 ");
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, name) == NULL)
        fail_msg("the theme %s did not persist:\n%s", name, screen);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");

    /* The config's console section. */
    snprintf(cfg, sizeof(cfg), "%s/c.json", c->dir);
    text = (char *)"{\"agents\":[],\"console\":{\"theme\":\"mono\",\"mouse\":false,\"sort\":"
                   "\"-duration\",\"agents_sort\":\"calls\"}}";
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    {
        char args[800];
        snprintf(args, sizeof(args), "--config %s", cfg);
        tu_con_start(c, NULL, args, 120, 30);
    }
    tu_con_expect(c, "records 0 ");
    tu_con_expect(c, " mono"); /* the config wins over the saved preference */
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "sort: duration (reversed)");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    text = (char *)"{\"agents\":[],\"console\":{\"theme\":\"mono\",\"mouse\":\"yes\"}}";
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    {
        char *argv[] = { (char *)tu_bin(), "console", "--config", cfg, "--dir", c->recs, NULL };
        assert_int_equal(tu_run(argv, c->dir, NULL, NULL, 10000, &r), 0);
        assert_int_equal(r.status, 2);
        if (strstr(r.err, "console.mouse") == NULL)
            fail_msg("the error does not name console.mouse: %s", r.err);
        tu_run_free(&r);
    }
}

/* P1.5: the table header marks the sort column and direction; h/l scroll
 * the columns that do not fit; --ascii draws no "…". */
static void
test_table_sort_mark_scroll_ascii(void **state)
{
    struct tu_con *c = *state;
    struct tu_rec r;

    tu_rec_make(&r, 800, 0);
    r.created_us = clock_wall_us();
    r.intent = "demo.an-intent-name-much-longer-than-its-column";
    assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
    tu_con_start(c, NULL, "--ascii", 80, 30);
    tu_con_expect(c, "records 1 ");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "1 of 1 records");
    tu_con_expect(c, "TIME v"); /* sorted by time, newest first */
    tu_con_keys(c, "s", NULL, NULL);
    tu_con_expect(c, "INTENT ^");
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "\xe2\x80\xa6") != NULL)
        fail_msg("--ascii drew an ellipsis:\n%s", screen);
    tu_con_expect(c, "~"); /* the ascii cut mark */
    /* at 80 columns the strategy column is hidden: l scrolls to it */
    tu_con_capture(c, screen, sizeof(screen));
    assert_null(strstr(screen, "STRATEGY"));
    tu_con_keys(c, "l", "l", "l");
    tu_con_expect(c, "STRATEGY");
    tu_con_keys(c, "h", "h", "h");
    tu_con_expect(c, "INTENT ^");
    /* A click on a title sorts by it; a second click reverses; both persist. */
    {
        char head[512], path[700], *prefs;
        const char *at;
        tu_con_line(c, 3, head, sizeof(head));
        at = strstr(head, "AGENT");
        assert_non_null(at);
        tu_con_click(c, (int)(at - head) + 1, 3);
        tu_con_expect(c, "AGENT ^");
        tu_con_expect(c, "sort: agent ");
        tu_con_click(c, (int)(at - head) + 1, 3);
        tu_con_expect(c, "AGENT v");
        tu_con_expect(c, "sort: agent (reversed)");
        snprintf(path, sizeof(path), "%s/state/intentus/console.prefs", c->dir);
        prefs = tu_read_file(path, NULL);
        assert_non_null(prefs);
        assert_non_null(strstr(prefs, "sort = -agent"));
        free(prefs);
    }
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rate_over_10s_and_1min, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sparkline_stops_when_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_id_column_tells_rows_apart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_figures_agree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_circuit_state_names_its_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_follow_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fire_shows_response_and_timing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preferences_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_sort_mark_scroll_ascii, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
