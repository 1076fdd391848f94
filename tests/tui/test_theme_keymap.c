/* Theme parsing and the key table, without a terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/support/testutil.h"
#include "tui/keymap.h"
#include "tui/theme.h"

static void
test_default_theme_file_matches_builtin(void **state)
{
    (void)state;
    char *text = tu_read_file("themes/default.theme", NULL);

    assert_non_null(text);
    assert_string_equal(text, theme_default_text());
    free(text);
}

static void
test_every_shipped_theme_parses_cleanly(void **state)
{
    (void)state;
    const char *dirs[] = { "themes", NULL };
    char names[32][64];
    size_t n = theme_list(dirs, names, 32);
    const char *want[] = { "default", "high-contrast", "light", "mono", "solarized-dark" };

    assert_true(n >= 5);
    for (size_t i = 0; i < 5; i++) {
        bool found = false;
        for (size_t k = 0; k < n; k++)
            found = found || strcmp(names[k], want[i]) == 0;
        if (!found)
            fail_msg("theme %s not shipped", want[i]);
    }
    for (size_t i = 0; i < n; i++) {
        struct theme t;
        struct theme_report r = { "", 0 };
        assert_int_equal(theme_load(&t, names[i], dirs, &r), 0);
        if (r.count != 0)
            fail_msg("%s: %s", names[i], r.text);
        assert_string_equal(t.name, names[i]);
    }
}

static void
test_bad_lines_reported_and_skipped(void **state)
{
    (void)state;
    struct theme t;
    struct theme_report r = { "", 0 };
    const char *text = "# comment\n"
                       "ok = 46 default bold\n"
                       "error = 300 default\n"      /* bad colour */
                       "nosuch = red blue\n"        /* unknown element */
                       "warn = yellow\n"            /* missing background */
                       "title = red blue sparkly\n" /* unknown attribute */
                       "garbage line\n"
                       "\n"
                       "spark = brightcyan black underline\n";

    theme_parse(&t, "x", text, "x.theme", &r);
    assert_int_equal(r.count, 5);
    assert_non_null(strstr(r.text, "x.theme:3: bad colour '300'"));
    assert_non_null(strstr(r.text, "x.theme:4: unknown element 'nosuch'"));
    assert_non_null(strstr(r.text, "x.theme:5:"));
    assert_non_null(strstr(r.text, "x.theme:6: unknown attribute 'sparkly'"));
    assert_non_null(strstr(r.text, "x.theme:7:"));
    assert_int_equal(t.style[THEME_OK].fg, 46);
    assert_int_equal(t.style[THEME_OK].attrs, THEME_A_BOLD);
    /* Bad lines keep the default's value. */
    assert_int_equal(t.style[THEME_ERROR].fg, 203);
    assert_int_equal(t.style[THEME_SPARK].fg, 14);
    assert_int_equal(t.style[THEME_SPARK].bg, 0);
    assert_int_equal(t.style[THEME_SPARK].attrs, THEME_A_UNDERLINE);
}

static void
test_missing_theme_and_bad_names(void **state)
{
    (void)state;
    const char *dirs[] = { "themes", NULL };
    struct theme t;

    assert_int_equal(theme_load(&t, "no-such-theme", dirs, NULL), -1);
    assert_string_equal(t.name, "default");
    assert_int_equal(theme_load(&t, "../etc/passwd", dirs, NULL), -1);
    assert_int_equal(theme_load(&t, "mono", NULL, NULL), 0);
    assert_true(t.mono);
}

static void
test_nearest_colours(void **state)
{
    (void)state;
    assert_int_equal(theme_nearest8(-1), -1);
    assert_int_equal(theme_nearest8(1), 1);
    assert_int_equal(theme_nearest8(9), 1);   /* bright red -> red */
    assert_int_equal(theme_nearest8(196), 1); /* pure red cube */
    assert_int_equal(theme_nearest8(46), 2);  /* pure green */
    assert_int_equal(theme_nearest8(21), 4);  /* pure blue */
    assert_int_equal(theme_nearest8(231), 7); /* white */
    assert_int_equal(theme_nearest8(232), 0); /* dark grey ramp */
    assert_int_equal(theme_nearest8(255), 7);
}

static void
test_keymap_has_no_duplicates_and_all_help(void **state)
{
    (void)state;
    size_t n;
    const struct key_binding *b = keymap_bindings(&n);

    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(keymap_action_text(b[i].action)) > 0);
        assert_true(strlen(b[i].name) > 0);
        for (size_t k = i + 1; k < n; k++) {
            if (b[i].ctx == b[k].ctx && b[i].key == b[k].key)
                fail_msg("key %s bound twice in %s", b[i].name, keymap_context_name(b[i].ctx));
        }
    }
    for (int a = 1; a < ACT_COUNT; a++)
        assert_true(strlen(keymap_action_text((enum key_action)a)) > 0);
}

static void
test_keymap_lookup_order(void **state)
{
    (void)state;
    /* The screen's own binding wins over the list and global ones. */
    assert_int_equal(keymap_lookup(KEYCTX_RECORDS, '/'), ACT_FILTER);
    assert_int_equal(keymap_lookup(KEYCTX_DETAIL, '/'), ACT_SEARCH);
    assert_int_equal(keymap_lookup(KEYCTX_RECORDS, 'j'), ACT_DOWN);
    assert_int_equal(keymap_lookup(KEYCTX_RECORDS, 'Q'), ACT_QUIT);
    assert_int_equal(keymap_lookup(KEYCTX_GLOBAL, 'j'), ACT_NONE);
    assert_int_equal(keymap_lookup(KEYCTX_DASHBOARD, 's'), ACT_SORT);
    assert_int_equal(keymap_lookup(KEYCTX_DASHBOARD, 'x'), ACT_NONE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_theme_file_matches_builtin),
        cmocka_unit_test(test_every_shipped_theme_parses_cleanly),
        cmocka_unit_test(test_bad_lines_reported_and_skipped),
        cmocka_unit_test(test_missing_theme_and_bad_names),
        cmocka_unit_test(test_nearest_colours),
        cmocka_unit_test(test_keymap_has_no_duplicates_and_all_help),
        cmocka_unit_test(test_keymap_lookup_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
