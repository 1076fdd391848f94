/* The table widget's geometry and cursor (tui/table.c), without a
 * terminal: which columns show at 80 and 150 columns, h/l scrolling,
 * paging and clicks. Drawing is checked end to end in
 * tests/tui/test_console_figures.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tui/table.h"

enum { C_TIME, C_ID, C_NAME, C_WHO, C_HOW, C_STATUS, C_ERROR, C_DUR, C_RTY, C_N };

static const struct table_col cols[C_N] = {
    [C_TIME] = { "TIME", 8, 0, 0, false, false, 0 },
    [C_ID] = { "ID", 6, 0, 0, false, false, -1 },
    [C_NAME] = { "INTENT", 22, 14, 1, false, false, 1 },
    [C_WHO] = { "AGENT", 16, 10, 3, false, false, 2 },
    [C_HOW] = { "STRATEGY", 9, 0, 5, false, false, -1 },
    [C_STATUS] = { "STATUS", 10, 7, 0, false, false, 3 },
    [C_ERROR] = { "ERROR", 22, 17, 1, false, true, -1 },
    [C_DUR] = { "DURATION", 9, 8, 2, true, false, 4 },
    [C_RTY] = { "RTY", 3, 0, 6, true, false, -1 },
};

static int
used(const struct table *t)
{
    int right = 0;
    for (int c = 0; c < C_N; c++)
        if (t->shown[c] && t->x[c] + t->w[c] > right)
            right = t->x[c] + t->w[c];
    return right;
}

static void
test_priorities_at_80_and_150(void **state)
{
    struct table t = { .cols = cols, .n_cols = C_N, .n_rows = 100 };

    (void)state;
    table_layout(&t, 3, 20, 150);
    for (int c = 0; c < C_N; c++)
        assert_true(t.shown[c]);
    assert_int_equal(t.n_hidden, 0);
    assert_true(t.w[C_ERROR] > 22); /* the room left goes to the growing column */
    assert_true(used(&t) <= 149);

    table_layout(&t, 3, 20, 80);
    /* the least important go first; the error code keeps its full width */
    assert_false(t.shown[C_RTY]);
    assert_false(t.shown[C_HOW]);
    assert_true(t.shown[C_TIME] && t.shown[C_ID] && t.shown[C_STATUS] && t.shown[C_ERROR] &&
                t.shown[C_DUR] && t.shown[C_NAME] && t.shown[C_WHO]);
    assert_true(t.w[C_ERROR] >= 17);
    assert_int_equal(t.n_hidden, 2);
    assert_true(used(&t) <= 79); /* the last column keeps the '>' */
}

static void
test_h_l_scroll_to_hidden_columns(void **state)
{
    struct table t = { .cols = cols, .n_cols = C_N, .n_rows = 1 };

    (void)state;
    table_layout(&t, 3, 20, 80);
    assert_false(t.shown[C_HOW]);
    /* l: the optional columns in their order, from the first, as many as fit */
    assert_true(table_key(&t, ACT_RIGHT));
    assert_int_equal(t.hscroll, 1);
    assert_true(t.shown[C_NAME] && t.shown[C_WHO] && t.shown[C_HOW] && t.shown[C_ERROR]);
    assert_false(t.shown[C_DUR]);
    assert_true(t.shown[C_TIME] && t.shown[C_ID] && t.shown[C_STATUS]); /* pinned */
    /* l again: one further, and the last column shows */
    assert_true(table_key(&t, ACT_RIGHT));
    assert_int_equal(t.hscroll, 2);
    assert_false(t.shown[C_NAME]);
    assert_true(t.shown[C_DUR] && t.shown[C_RTY]);
    assert_true(table_key(&t, ACT_RIGHT)); /* nothing further */
    assert_int_equal(t.hscroll, 2);
    assert_true(table_key(&t, ACT_LEFT));
    assert_true(table_key(&t, ACT_LEFT));
    assert_int_equal(t.hscroll, 0);
    assert_true(t.shown[C_NAME]);
    assert_false(t.shown[C_HOW]); /* back to the priority layout */
    /* wide enough for everything: l does nothing */
    table_layout(&t, 3, 20, 200);
    table_key(&t, ACT_RIGHT);
    assert_int_equal(t.hscroll, 0);
}

static void
test_cursor_paging_and_clicks(void **state)
{
    struct table t = { .cols = cols, .n_cols = C_N, .n_rows = 50 };
    int key = -1;

    (void)state;
    table_layout(&t, 3, 10, 120);
    table_key(&t, ACT_PAGE_DOWN);
    assert_int_equal(t.sel, 9);
    table_key(&t, ACT_BOTTOM);
    table_layout(&t, 3, 10, 120);
    assert_int_equal(t.sel, 49);
    assert_int_equal(t.top, 40); /* the cursor stays on screen */
    assert_int_equal(table_row_y(&t, 49), 13);
    assert_int_equal(table_row_y(&t, 39), -1);
    table_key(&t, ACT_DOWN);
    assert_int_equal(t.sel, 49); /* not past the end */
    /* a click on a row takes the cursor there */
    assert_int_equal(table_click(&t, 5, 10, &key), 1);
    assert_int_equal(t.sel, 41);
    /* a click on a sortable title gives its sort id; others do nothing */
    assert_int_equal(table_click(&t, 3, t.x[C_DUR] + 1, &key), 2);
    assert_int_equal(key, 4);
    assert_int_equal(table_click(&t, 3, t.x[C_ID], &key), 0);
    assert_int_equal(table_click(&t, 30, 1, &key), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_priorities_at_80_and_150),
        cmocka_unit_test(test_h_l_scroll_to_hidden_columns),
        cmocka_unit_test(test_cursor_paging_and_clicks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
