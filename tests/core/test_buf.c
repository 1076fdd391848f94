/* core/buf: the NUL-termination contract (core/buf.h) in every state a
 * buffer can be in, above all the empty one (issue 14.7: buf_take of an
 * empty buffer returned 64 uninitialised bytes). malloc is told to fill new
 * memory with garbage (M_PERTURB) so an unterminated buffer shows. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

/* Leave a few freed, dirty chunks of the sizes buf allocates, so the next
 * allocation cannot come back zeroed by luck. */
static void
dirty_heap(void)
{
    void *p[8];

    for (size_t i = 0; i < 8; i++) {
        p[i] = malloc(64u << (i % 4));
        if (p[i] != NULL)
            memset(p[i], 'x', 64u << (i % 4));
    }
    for (size_t i = 0; i < 8; i++)
        free(p[i]);
}

static void
test_take_empty_is_empty_string(void **state)
{
    (void)state;
    for (int round = 0; round < 16; round++) {
        struct buf b = BUF_INIT;
        char *s;

        dirty_heap();
        s = buf_take(&b);
        assert_non_null(s);
        assert_int_equal(s[0], '\0');
        assert_int_equal(strlen(s), 0);
        assert_null(b.data);
        assert_int_equal(b.len, 0);
        free(s);
    }
}

static void
test_reserve_alone_terminates(void **state)
{
    struct buf b = BUF_INIT;
    char *s;

    (void)state;
    dirty_heap();
    assert_int_equal(buf_reserve(&b, 100), 0);
    assert_non_null(b.data);
    assert_true(b.cap >= 101);
    assert_string_equal(b.data, "");
    assert_string_equal(buf_str(&b), "");
    s = buf_take(&b);
    assert_string_equal(s, "");
    free(s);
}

static void
test_terminated_after_every_operation(void **state)
{
    struct buf b = BUF_INIT;
    char big[300];
    char *s;

    (void)state;
    assert_string_equal(buf_str(&b), "");
    assert_int_equal(buf_append(&b, "", 0), 0);
    assert_string_equal(b.data, "");
    assert_int_equal(buf_putc(&b, 'a'), 0);
    assert_string_equal(b.data, "a");
    assert_int_equal(buf_puts(&b, "bc"), 0);
    assert_string_equal(b.data, "abc");
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "x"), 0);
    assert_string_equal(b.data, "abc42-x");
    assert_int_equal(b.len, 7);
    /* Growing past the first capacity keeps the terminator. */
    memset(big, 'y', sizeof(big));
    assert_int_equal(buf_append(&b, big, sizeof(big)), 0);
    assert_int_equal(b.len, 7 + sizeof(big));
    assert_int_equal(b.data[b.len], '\0');
    assert_int_equal(strlen(b.data), b.len);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_str(&b), "");
    /* Reset, then take: "" again, not the old contents. */
    s = buf_take(&b);
    assert_string_equal(s, "");
    free(s);
    buf_free(&b);
    assert_string_equal(buf_str(&b), "");
}

static void
test_take_keeps_embedded_nul(void **state)
{
    struct buf b = BUF_INIT;
    size_t len;
    char *s;

    (void)state;
    assert_int_equal(buf_append(&b, "a\0b", 3), 0);
    len = b.len;
    s = buf_take(&b);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 4);
    free(s);
}

static void
test_failed_buffer_takes_null(void **state)
{
    struct buf b = BUF_INIT;

    (void)state;
    assert_int_equal(buf_puts(&b, "x"), 0);
    /* A request too large to ever satisfy marks the buffer failed. */
    assert_int_equal(buf_reserve(&b, (size_t)-1 / 2), -1);
    assert_int_equal(b.failed, 1);
    assert_int_equal(buf_puts(&b, "y"), -1);
    assert_null(buf_take(&b));
    assert_null(b.data);
}

/* The one stream reader the CLI and the console use: empty is fine and
 * terminated, a directory or an oversized stream is an error with errno. */
static void
test_read_stream(void **state)
{
    struct buf b = BUF_INIT;
    FILE *f;
    char *s;

    (void)state;
    f = tmpfile(); /* empty */
    assert_non_null(f);
    dirty_heap();
    assert_int_equal(buf_read_stream(&b, f, 100), 0);
    fclose(f);
    assert_int_equal(b.len, 0);
    s = buf_take(&b);
    assert_string_equal(s, "");
    free(s);

    f = tmpfile();
    assert_non_null(f);
    for (int i = 0; i < 3000; i++)
        fputs("0123456789", f);
    rewind(f);
    assert_int_equal(buf_read_stream(&b, f, 30000), 0);
    assert_int_equal(b.len, 30000);
    assert_int_equal(strlen(buf_str(&b)), 30000);
    buf_reset(&b);
    rewind(f);
    errno = 0;
    assert_int_equal(buf_read_stream(&b, f, 29999), -1);
    assert_int_equal(errno, EFBIG);
    assert_true(b.len <= 29999);
    fclose(f);
    buf_free(&b);

    f = fopen("/", "rb"); /* opens on Linux; reading fails with EISDIR */
    assert_non_null(f);
    errno = 0;
    assert_int_equal(buf_read_stream(&b, f, 100), -1);
    assert_int_equal(errno, EISDIR);
    fclose(f);
    assert_string_equal(buf_str(&b), "");
    buf_free(&b);
}

/* text_put_u64, text_put_i64 and buf_put_int64 over them: every digit,
 * the extremes, the sign. */
static void
test_decimal_digits(void **state)
{
    char tmp[24], *end = tmp + sizeof(tmp), *p;
    struct buf b = BUF_INIT;

    (void)state;
    p = text_put_u64(end, 0);
    assert_int_equal(end - p, 1);
    assert_memory_equal(p, "0", 1);
    p = text_put_u64(end, 1234567890);
    assert_memory_equal(p, "1234567890", 10);
    p = text_put_u64(end, UINT64_MAX);
    assert_int_equal(end - p, 20);
    assert_memory_equal(p, "18446744073709551615", 20);
    p = text_put_i64(end, INT64_MIN);
    assert_int_equal(end - p, 20);
    assert_memory_equal(p, "-9223372036854775808", 20);
    buf_put_int64(&b, INT64_MIN);
    buf_putc(&b, ' ');
    buf_put_int64(&b, -7);
    buf_putc(&b, ' ');
    buf_put_int64(&b, 42);
    assert_string_equal(b.data, "-9223372036854775808 -7 42");
    buf_free(&b);
}

/* buf_put_newline_indent at every level up to past the copied block
 * (memset beyond it), into buffers that start empty or partly full: the
 * line and only the line is counted, and the buffer stays terminated. */
static void
test_newline_indent_every_level(void **state)
{
    (void)state;
    for (int level = 0; level <= 80; level++) {
        for (size_t prefix = 0; prefix < 70; prefix += 23) {
            struct buf b = BUF_INIT;
            size_t n = (size_t)level * 2 + 1;
            for (size_t i = 0; i < prefix; i++)
                buf_putc(&b, 'p');
            buf_put_newline_indent(&b, level);
            assert_int_equal(b.len, prefix + n);
            assert_int_equal(b.data[prefix], '\n');
            for (size_t i = 1; i < n; i++)
                assert_int_equal(b.data[prefix + i], ' ');
            assert_int_equal(b.data[b.len], '\0');
            assert_int_equal(text_newline_indent_room(level), n > 64 ? n : 64);
            buf_free(&b);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_digits),
        cmocka_unit_test(test_newline_indent_every_level),
        cmocka_unit_test(test_take_empty_is_empty_string),
        cmocka_unit_test(test_reserve_alone_terminates),
        cmocka_unit_test(test_terminated_after_every_operation),
        cmocka_unit_test(test_take_keeps_embedded_nul),
        cmocka_unit_test(test_failed_buffer_takes_null),
        cmocka_unit_test(test_read_stream),
    };
    mallopt(M_PERTURB, 0x55);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
