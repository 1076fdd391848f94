/* The payload editor's text operations and validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tui/editor.h"

static void
type(struct editor *e, const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            editor_newline(e);
        else
            editor_insert(e, s, 1);
    }
}

static void
test_typing_with_auto_indent(void **state)
{
    (void)state;
    struct editor e;
    char msg[256];
    size_t line, col;

    editor_init(&e);
    type(&e, "{\n\"a\": [\n1,\n2");
    assert_string_equal(e.text, "{\n  \"a\": [\n    1,\n    2");
    editor_position(&e, &line, &col);
    assert_int_equal(line, 3);
    assert_int_equal(col, 5);
    assert_false(editor_validate(&e, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "line 4"));
    type(&e, "\n]\n}");
    assert_true(editor_validate(&e, msg, sizeof(msg)));
    assert_int_equal(editor_format(&e), 0);
    assert_string_equal(e.text, "{\n  \"a\": [\n    1,\n    2\n  ]\n}");
    editor_free(&e);
}

static void
test_cursor_moves_over_utf8(void **state)
{
    (void)state;
    struct editor e;
    size_t line, col, len;
    const char *l;

    editor_init(&e);
    editor_set(&e, "{\"t\": \"h\xc3\xa9llo \xf0\x9f\x98\x80\"}\nsecond");
    editor_up(&e);
    editor_end(&e);
    editor_position(&e, &line, &col);
    assert_int_equal(line, 0);
    assert_int_equal(col, 16);
    editor_left(&e);
    editor_left(&e);
    editor_left(&e);      /* over the emoji (4 bytes) */
    editor_backspace(&e); /* removes the space before it */
    l = editor_line(&e, 0, &len);
    assert_int_equal(len, strlen("{\"t\": \"h\xc3\xa9llo\xf0\x9f\x98\x80\"}"));
    assert_memory_equal(l, "{\"t\": \"h\xc3\xa9llo\xf0\x9f\x98\x80\"}", len);
    editor_home(&e);
    editor_right(&e);
    editor_delete(&e);
    assert_memory_equal(e.text, "{t\"", 3);
    editor_down(&e);
    editor_position(&e, &line, &col);
    assert_int_equal(line, 1);
    assert_int_equal(col, 1);
    assert_int_equal(editor_lines(&e), 2);
    editor_free(&e);
}

static void
test_validation_messages(void **state)
{
    (void)state;
    struct editor e;
    char msg[256];

    editor_init(&e);
    editor_set(&e, "[1,2]");
    assert_false(editor_validate(&e, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "must be a JSON object"));
    editor_set(&e, "{\n  \"a\": tru\n}");
    assert_false(editor_validate(&e, msg, sizeof(msg)));
    assert_non_null(strstr(msg, "line 2, column"));
    editor_set(&e, "");
    assert_false(editor_validate(&e, msg, sizeof(msg)));
    assert_int_equal(editor_format(&e), -1); /* invalid text is left alone */
    editor_free(&e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typing_with_auto_indent),
        cmocka_unit_test(test_cursor_moves_over_utf8),
        cmocka_unit_test(test_validation_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
