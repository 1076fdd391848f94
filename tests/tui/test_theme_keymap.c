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
#include "tui/curses_shim.h"
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

/* Issue 18 P1.3: walk what help lists for every screen's key context:
 * each key a row names dispatches to that row's action there (no row names
 * a key another binding shadows), Redact and Retention list their own keys,
 * and in a focused text field (the Fire form) only the form's own keys are
 * looked up, so q and ? are text. */
static void
test_help_rows_do_what_they_say(void **state)
{
    (void)state;
    size_t nb;
    const struct key_binding *b = keymap_bindings(&nb);
    bool redact_space = false, retention_e = false;

    for (int c = 0; c < KEYCTX_COUNT; c++) {
        struct help_row rows[200];
        size_t n = keymap_help_rows((enum key_context)c, rows, 200);
        assert_true(n > 0);
        for (size_t i = 0; i < n; i++) {
            for (size_t k = 0; k < nb; k++) {
                char name[24];
                snprintf(name, sizeof(name), "%s", b[k].name);
                /* every binding of this row's action in its section that the row names */
                if (b[k].ctx != rows[i].section || b[k].action != rows[i].action)
                    continue;
                if (strstr(rows[i].keys, name) == NULL)
                    continue;
                if (keymap_lookup((enum key_context)c, b[k].key) != rows[i].action)
                    fail_msg("help for %s lists %s as '%s' but the key does %s",
                             keymap_context_name((enum key_context)c), b[k].name,
                             keymap_action_text(rows[i].action),
                             keymap_action_text(keymap_lookup((enum key_context)c, b[k].key)));
            }
            if (c == KEYCTX_REDACT && rows[i].action == ACT_RULE_TOGGLE)
                redact_space = strstr(rows[i].keys, "Space") != NULL;
            if (c == KEYCTX_REDACT && rows[i].action == ACT_PAGE_DOWN)
                assert_null(strstr(rows[i].keys, "Space")); /* shadowed there */
            if (c == KEYCTX_RETENTION && rows[i].action == ACT_EDIT_POLICY)
                retention_e = strcmp(rows[i].keys, "e") == 0;
        }
    }
    /* Nothing a screen binds itself is missing from its help. */
    for (size_t k = 0; k < nb; k++) {
        struct help_row rows[200];
        size_t n = keymap_help_rows(b[k].ctx, rows, 200);
        bool listed = false;
        for (size_t i = 0; i < n; i++)
            listed = listed || (rows[i].section == b[k].ctx && rows[i].action == b[k].action &&
                                strstr(rows[i].keys, b[k].name) != NULL);
        if (!listed)
            fail_msg("%s: key %s (%s) is not in its help", keymap_context_name(b[k].ctx), b[k].name,
                     keymap_action_text(b[k].action));
    }
    assert_true(redact_space);
    assert_true(retention_e);
    assert_int_equal(keymap_lookup(KEYCTX_REDACT, ' '), ACT_RULE_TOGGLE);
    assert_int_equal(keymap_lookup(KEYCTX_RETENTION, 'x'), ACT_APPLY);
    /* A focused text field: q and ? are text, Tab and Esc still the form's. */
    assert_int_equal(keymap_lookup_own(KEYCTX_FIRE, 'q'), ACT_NONE);
    assert_int_equal(keymap_lookup_own(KEYCTX_FIRE, '?'), ACT_NONE);
    assert_int_equal(keymap_lookup_own(KEYCTX_FIRE, '1'), ACT_NONE);
    assert_int_equal(keymap_lookup_own(KEYCTX_FIRE, '\t'), ACT_NEXT_FIELD);
    assert_int_equal(keymap_lookup_own(KEYCTX_FIRE, 27), ACT_BACK);
    assert_int_equal(keymap_lookup(KEYCTX_DASHBOARD, ':'), ACT_COMMAND);
}

/* Issue 18 P1.3: the Fire form's choice keys (Left/Right/Space on the
 * strategy and priority fields) come from its key table, not a raw switch,
 * so the form's help lists them. */
static void
test_fire_choice_keys_are_in_the_table(void **state)
{
    (void)state;
    struct help_row rows[200];
    size_t n = keymap_help_rows(KEYCTX_FIRE, rows, 200);
    bool next = false, prev = false;

    assert_int_equal(keymap_lookup(KEYCTX_FIRE, KEY_RIGHT), ACT_CHOICE_NEXT);
    assert_int_equal(keymap_lookup(KEYCTX_FIRE, ' '), ACT_CHOICE_NEXT);
    assert_int_equal(keymap_lookup(KEYCTX_FIRE, KEY_LEFT), ACT_CHOICE_PREV);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].section != KEYCTX_FIRE)
            continue;
        if (rows[i].action == ACT_CHOICE_NEXT)
            next = strstr(rows[i].keys, "Right") != NULL && strstr(rows[i].keys, "Space") != NULL;
        if (rows[i].action == ACT_CHOICE_PREV)
            prev = strstr(rows[i].keys, "Left") != NULL;
    }
    assert_true(next);
    assert_true(prev);
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
        cmocka_unit_test(test_help_rows_do_what_they_say),
        cmocka_unit_test(test_fire_choice_keys_are_in_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
