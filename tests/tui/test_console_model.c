/* The console's model on its own (issue 18 part 1 item 4): this unit
 * includes only tui/console_model.h of the console, so it is built without
 * curses and without struct app (the screen, views, prompts, theme and
 * messages); a model that needed any of them would not compile here. It
 * drives the model's count over a real persistent index: the total is a
 * query cached per model generation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "tui/console_model.h"

#if defined(NCURSES_VERSION) || defined(A_BOLD) || defined(INTENTUS_TUI_APP_H) ||                  \
    defined(INTENTUS_TUI_CURSES_SHIM_H)
#error "the console's model header pulls in curses or the UI state"
#endif

#define BASE_US 1790000000000000ll

static void
gen(const char *dir, unsigned from, unsigned n)
{
    for (unsigned i = from; i < from + n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, i, BASE_US);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
}

static void
test_model_counts_without_ui(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct console_model m;
    struct index_db *db1, *db2;

    memset(&m, 0, sizeof(m));
    m.ix = index_new();
    assert_non_null(m.ix);
    /* No persistent index: the in-memory index's size. */
    assert_int_equal(console_model_total(&m), 0);

    gen(dir, 0, 3);
    db1 = index_db_open(dir, false, &err);
    if (db1 == NULL)
        fail_msg("index_db_open: %s", err.msg);
    m.db = db1;
    assert_int_equal(console_model_total(&m), 3);
    /* Two more records, seen by a second connection: the model's total is
     * the cached query until its generation moves on. */
    gen(dir, 3, 2);
    db2 = index_db_open(dir, false, &err);
    if (db2 == NULL)
        fail_msg("index_db_open: %s", err.msg);
    m.db = db2;
    assert_int_equal(console_model_total(&m), 3);
    m.generation++;
    assert_int_equal(console_model_total(&m), 5);

    index_db_close(db1);
    index_db_close(db2);
    index_free(m.ix);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_counts_without_ui),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
