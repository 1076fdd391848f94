/* The one table widget (tui/table.c) on the dashboard's live feed, the
 * Redact rules and the Retention intents (issue 18 part 1 item 5), driven
 * through tmux at 80 and 120 columns: a header with the sort mark, columns
 * that drop at 80 and come back with l, a title click that sorts, the
 * cursor, and --ascii. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tests/support/testutil.h"
#include "tests/support/tmux_testutil.h"

static char screen[65536];

static int
setup(void **state)
{
    struct tu_con *c = tu_con_new();
    char cmd[2048];
    char *argv[] = { "sh", "-c", cmd, NULL };
    struct tu_run r;

    snprintf(cmd, sizeof(cmd), "cp %s/reference-records/*.json %s/", tu_data_dir(), c->recs);
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 10000, &r), 0);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    tu_con_free(*state);
    return 0;
}

/* The screen row (0-based) whose text contains all of a and b (one
 * capture); -1: none. line gets that row. */
static int
find_row(struct tu_con *c, const char *a, const char *b, char *line, size_t size)
{
    const char *p = screen;

    tu_con_capture(c, screen, sizeof(screen));
    for (int y = 0; *p != '\0'; y++) {
        size_t n = strcspn(p, "\n");
        snprintf(line, size, "%.*s", (int)n, p);
        if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL))
            return y;
        p += n;
        if (*p == '\n')
            p++;
    }
    return -1;
}

/* The row with a and b and without not (NULL: any) shows up within 5 s
 * (the screen is printed if not). */
static int
expect_row_not(struct tu_con *c, const char *a, const char *b, const char * not, char *line,
               size_t size)
{
    for (int i = 0; i < 100; i++) {
        int y = find_row(c, a, b, line, size);
        if (y >= 0 && (not == NULL || strstr(line, not ) == NULL))
            return y;
        nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
    }
    fail_msg("no row shows '%s' and '%s'%s%s:\n%s", a, b ? b : "", not ? " without " : "",
             not ? not : "", screen);
    return -1;
}

static int
expect_row(struct tu_con *c, const char *a, const char *b, char *line, size_t size)
{
    return expect_row_not(c, a, b, NULL, line, size);
}

/* The live feed has the table's header with its order marked (newest
 * first); at 80 columns its ID column is dropped and l (with the cursor in
 * the feed) scrolls to it; at 120 it shows at once; --ascii marks with v
 * and cuts with ~. Drawn by hand before: no header, no ID at 80 at all. */
static void
test_feed_is_a_table(void **state)
{
    struct tu_con *c = *state;
    char line[1024];
    int y;

    tu_con_start(c, NULL, "--ascii", 80, 40);
    tu_con_expect(c, "Live feed");
    y = expect_row(c, "TIME v", "STATUS", line, sizeof(line));
    if (strstr(line, " ID") != NULL)
        fail_msg("the ID column fits at 80 columns: %s", line);
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "\xe2\x80\xa6") != NULL)
        fail_msg("--ascii drew an ellipsis:\n%s", screen);
    /* Into the feed (past the last agent), then l to the hidden columns.
     * Again while the agents' rows may still be arriving (bounded: 10). */
    tu_con_expect(c, "39 records");
    for (int i = 0;; i++) {
        tu_con_keys(c, "G", "j", NULL);
        if (tu_con_wait(c, "Enter: open its timeline", 1000, screen, sizeof(screen)))
            break;
        if (i == 10)
            fail_msg("Down past the last agent never reached the feed:\n%s", screen);
    }
    tu_con_keys(c, "l", "l", "l");
    y = expect_row(c, "TIME v", " ID", line, sizeof(line));
    assert_true(line[0] == '<'); /* columns hidden to the left */
    /* h comes back to the first layout */
    tu_con_keys(c, "h", "h", "h");
    expect_row_not(c, "TIME v", "INTENT", " ID", line, sizeof(line));
    (void)y;
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "Live feed");
    expect_row(c, "TIME \xe2\x96\xbc", " ID", line, sizeof(line));
    /* the row under it ends in a whole record id (36 characters); asked
     * again, in one capture each, while rows may still be arriving (the
     * agents table grows and moves the feed down), bounded (5 s) */
    for (int i = 0;; i++) {
        const char *id, *p;
        size_t n;
        y = find_row(c, "TIME \xe2\x96\xbc", " ID", line, sizeof(line));
        p = screen;
        for (int k = 0; k <= y && p != NULL; k++) {
            p = strchr(p, '\n');
            p = p != NULL ? p + 1 : NULL;
        }
        snprintf(line, sizeof(line), "%.*s", p != NULL ? (int)strcspn(p, "\n") : 0,
                 p != NULL ? p : "");
        n = strlen(line);
        while (n > 0 && line[n - 1] == ' ')
            line[--n] = '\0';
        id = strrchr(line, ' ');
        if (id != NULL && strlen(id + 1) == 36)
            break;
        if (i == 100)
            fail_msg("no whole id at the end of the feed's first row: '%s'", line);
        nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
    }
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Redact's rules are a table: at 80 columns the KIND column is dropped and
 * l brings it back; a click on the RULE title sorts the rules by name (the
 * mark moves there, a second click reverses) and s cycles the sort; at 120
 * the kind shows at once. */
static void
test_redact_rules_table(void **state)
{
    struct tu_con *c = *state;
    char line[1024], first[1024];
    int y, x;

    tu_con_start(c, NULL, "--ascii", 80, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "5", NULL, NULL);
    y = expect_row(c, "ON ", "RULE", line, sizeof(line));
    assert_null(strstr(line, "KIND"));
    tu_con_keys(c, "l", NULL, NULL);
    y = expect_row(c, "KIND", "RULE", line, sizeof(line));
    tu_con_keys(c, "h", NULL, NULL);
    y = expect_row_not(c, "ON ", "RULE", "KIND", line, sizeof(line));
    /* The first rule in the configuration's order is "password". */
    tu_con_line(c, y + 1, first, sizeof(first));
    assert_non_null(strstr(first, "password"));
    x = (int)(strstr(line, "RULE") - line);
    tu_con_click(c, x + 1, y);
    tu_con_expect(c, "rules sorted by rule");
    y = expect_row(c, "RULE ^", NULL, line, sizeof(line));
    tu_con_line(c, y + 1, first, sizeof(first));
    if (strstr(first, "access_key") == NULL)
        fail_msg("sorted by rule, the first row is not access_key: %s", first);
    tu_con_click(c, x + 1, y);
    tu_con_expect(c, "rules sorted by rule (reversed)");
    expect_row(c, "RULE v", NULL, line, sizeof(line));
    /* s goes on to the next column */
    tu_con_keys(c, "s", NULL, NULL);
    tu_con_expect(c, "rules sorted by fields redacted");
    expect_row(c, "HITS ^", NULL, line, sizeof(line));
    /* help lists the sort keys of this screen */
    tu_con_keys(c, "?", NULL, NULL);
    tu_con_expect(c, "sort by the next column");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "5", NULL, NULL);
    expect_row(c, "KIND", "RULE", line, sizeof(line));
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Retention's dry run lists what it would remove per intent in the table:
 * sorted by records (marked), a click on INTENT sorts by name, the cursor
 * moves with j and Enter opens the Records screen on that intent. Before,
 * the intents were printed as text (the first 8), with no cursor. */
static void
test_retention_intents_table(void **state)
{
    struct tu_con *c = *state;
    char line[1024];
    int y, x;

    for (int w = 80; w <= 120; w += 40) {
        tu_con_start(c, NULL, "--ascii", w, 30);
        tu_con_expect(c, "39 records");
        tu_con_keys(c, "6", NULL, NULL);
        tu_con_expect(c, "Retention for this run");
        tu_con_keys(c, "n", NULL, NULL);
        tu_con_expect(c, "Dry run: would remove");
        y = expect_row(c, "INTENT", "RECORDS v", line, sizeof(line));
        assert_non_null(strstr(line, "SHARE"));
        tu_con_line(c, y + 1, line, sizeof(line));
        assert_non_null(strstr(line, "33.3%"));
        tu_con_line(c, y, line, sizeof(line));
        x = (int)(strstr(line, "INTENT") - line);
        tu_con_click(c, x + 1, y);
        tu_con_expect(c, "intents sorted by intent");
        expect_row(c, "INTENT ^", NULL, line, sizeof(line));
        tu_con_keys(c, "S", NULL, NULL);
        tu_con_expect(c, "intents sorted by intent (reversed)");
        y = expect_row(c, "INTENT v", NULL, line, sizeof(line));
        tu_con_line(c, y + 1, line, sizeof(line));
        assert_non_null(strstr(line, "support.ticket.payment"));
        tu_con_keys(c, "j", "Enter", NULL);
        tu_con_expect(c, "filter: intent:support.ticket.classify");
        tu_con_keys(c, "Q", NULL, NULL);
        tu_con_expect(c, "CONSOLE-EXITED-0");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_feed_is_a_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_rules_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_intents_table, setup, teardown),
    };
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
