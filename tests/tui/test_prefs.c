/* The console's saved preferences (tui/prefs.c): where they live, a round
 * trip, unknown keys kept, bad files refused by name, atomic writes. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"
#include "tui/prefs.h"

static void
test_path_follows_xdg_state_home(void **state)
{
    char p[512];

    (void)state;
    setenv("XDG_STATE_HOME", "/st", 1);
    assert_int_equal(prefs_path(p, sizeof(p)), 0);
    assert_string_equal(p, "/st/intentus/console.prefs");
    setenv("XDG_STATE_HOME", "relative", 1); /* not absolute: ignored, as the spec says */
    setenv("HOME", "/home/u", 1);
    assert_int_equal(prefs_path(p, sizeof(p)), 0);
    assert_string_equal(p, "/home/u/.local/state/intentus/console.prefs");
    unsetenv("XDG_STATE_HOME");
    unsetenv("HOME");
    assert_int_equal(prefs_path(p, sizeof(p)), -1);
}

static void
test_round_trip_keeps_unknown_keys(void **state)
{
    char *dir = tu_mkdtemp(), path[600], *text;
    struct prefs p = { 0 }, q;
    struct intentus_err err = { 0 };

    (void)state;
    snprintf(path, sizeof(path), "%s/a/b/console.prefs", dir);
    assert_int_equal(prefs_load(path, &q, &err), 0); /* missing: no error, empty */
    assert_string_equal(q.theme, "");
    snprintf(p.theme, sizeof(p.theme), "light");
    snprintf(p.sort, sizeof(p.sort), "-duration");
    snprintf(p.agents_sort, sizeof(p.agents_sort), "calls");
    p.mouse_set = true;
    p.mouse = false;
    assert_int_equal(prefs_save(path, &p, &err), 0); /* creates a/b */
    assert_int_equal(prefs_load(path, &q, &err), 0);
    assert_string_equal(q.theme, "light");
    assert_string_equal(q.sort, "-duration");
    assert_string_equal(q.agents_sort, "calls");
    assert_true(q.mouse_set);
    assert_false(q.mouse);
    /* a key of a later version survives a rewrite */
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    {
        char more[1024];
        int n = snprintf(more, sizeof(more), "%slayout = split\n", text);
        assert_int_equal(tu_write_file(path, more, (size_t)n, 0600), 0);
    }
    free(text);
    assert_int_equal(prefs_load(path, &q, &err), 0);
    snprintf(q.theme, sizeof(q.theme), "mono");
    assert_int_equal(prefs_save(path, &q, &err), 0);
    text = tu_read_file(path, NULL);
    assert_non_null(strstr(text, "layout = split"));
    assert_non_null(strstr(text, "theme = mono"));
    free(text);
    /* no temp file (hidden or not) left beside it */
    snprintf(path, sizeof(path), "%s/a/b", dir);
    {
        DIR *d = opendir(path);
        struct dirent *e;
        int n = 0;
        assert_non_null(d);
        while ((e = readdir(d)) != NULL)
            n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
        closedir(d);
        assert_int_equal(n, 1);
    }
    tu_rmtree(dir);
    free(dir);
}

static void
expect_refused(const char *text, const char *needle)
{
    char *dir = tu_mkdtemp(), path[600];
    struct prefs q;
    struct intentus_err err = { 0 };

    snprintf(path, sizeof(path), "%s/console.prefs", dir);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    assert_int_equal(prefs_load(path, &q, &err), -1);
    if (strstr(err.msg, path) == NULL || strstr(err.msg, needle) == NULL)
        fail_msg("'%s' lacks the path or '%s'", err.msg, needle);
    tu_rmtree(dir);
    free(dir);
}

static void
test_bad_files_are_named(void **state)
{
    (void)state;
    expect_refused("version = 2\ntheme = x\n", ":1: version 2");
    expect_refused("version = 1\nmouse = maybe\n", ":2: mouse");
    expect_refused("version = 1\njust words\n", ":2: not 'key = value'");
}

/* A directory that cannot be created: an error naming it, nothing written. */
static void
test_unwritable_place(void **state)
{
    char *dir = tu_mkdtemp(), path[600], file[600];
    struct prefs p = { 0 };
    struct intentus_err err = { 0 };

    (void)state;
    snprintf(file, sizeof(file), "%s/plain", dir);
    assert_int_equal(tu_write_file(file, "x", 1, 0600), 0);
    snprintf(path, sizeof(path), "%s/plain/intentus/console.prefs", dir); /* under a file */
    assert_int_equal(prefs_save(path, &p, &err), -1);
    assert_non_null(strstr(err.msg, "plain"));
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_follows_xdg_state_home),
        cmocka_unit_test(test_round_trip_keeps_unknown_keys),
        cmocka_unit_test(test_bad_files_are_named),
        cmocka_unit_test(test_unwritable_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
