/* Canonical JSON printed through a fixed window (core/json_canon.c):
 * json_canonical_sha256 hashes the text as it is printed instead of
 * building it in one heap buffer, and the text is the same wherever the
 * window's edges fall. The allocation test counts with
 * tests/support/alloc/malloc_count.c, which interposes malloc; a
 * sanitizer's allocator does not allow that: there it is a counted skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/json.h"
#include "tests/support/alloc/malloc_count.h"

/* ---- helpers ---- */

static void
sha_of(const struct buf *b, char hex[65])
{
    json_sha256_hex(b->data, b->len, hex);
}

/* What the canonical text of a string must be, escaped a byte at a time
 * (the inputs below are ASCII, é (C3 A9), U+1F600 (F0 9F 98 80), '"',
 * '\\', '\n' and \x01 only). */
static void
want_string(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    while (*s != '\0') {
        unsigned char c = (unsigned char)*s;
        if (c == 0xc3) {
            buf_puts(b, "\\u00e9");
            s += 2;
        } else if (c == 0xf0) {
            buf_puts(b, "\\ud83d\\ude00");
            s += 4;
        } else {
            if (c == '"')
                buf_puts(b, "\\\"");
            else if (c == '\\')
                buf_puts(b, "\\\\");
            else if (c == '\n')
                buf_puts(b, "\\n");
            else if (c == 1)
                buf_puts(b, "\\u0001");
            else
                buf_putc(b, (char)c);
            s++;
        }
    }
    buf_putc(b, '"');
}

/* A string of n pieces, piece k chosen by a small generator. */
static char *
mixed(size_t n, unsigned seed)
{
    static const char *const pieces[] = {
        "a",  "bc", "defgh", "ijklmnopq",        "\xc3\xa9", "\"",
        "\\", "\n", "\x01",  "\xf0\x9f\x98\x80", " ",        "0123456789abcdef"
    };
    struct buf b = BUF_INIT;

    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245U + 12345U;
        buf_puts(&b, pieces[(seed >> 16) % (sizeof(pieces) / sizeof(pieces[0]))]);
    }
    buf_puts(&b, "");
    return b.data;
}

/* ---- tests ---- */

/* Strings of every length from 0 to past two windows, each after a
 * prefix that moves the window's edge through it: the text is the
 * byte-at-a-time escaping, and the streamed hash is the hash of the text. */
static void
test_window_edges(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 40; seed++) {
        size_t n = (size_t)seed * 97 % 1900 + (seed % 3 == 0 ? 0 : 10);
        char *pad = mixed(seed * 13 % 700, seed + 1000);
        char *s = mixed(n, seed);
        cJSON *o = cJSON_CreateObject();
        struct buf got = BUF_INIT, want = BUF_INIT;
        char h1[65], h2[65];

        assert_non_null(pad);
        assert_non_null(s);
        cJSON_AddStringToObject(o, "b", s);
        cJSON_AddStringToObject(o, "a", pad);
        cJSON_AddNumberToObject(o, "c", -42);
        assert_int_equal(json_canonical(o, &got, NULL), 0);
        buf_puts(&want, "{\"a\":");
        want_string(&want, pad);
        buf_puts(&want, ",\"b\":");
        want_string(&want, s);
        buf_puts(&want, ",\"c\":-42}");
        assert_string_equal(got.data, want.data);
        assert_int_equal(json_canonical_sha256(o, h1, NULL), 0);
        sha_of(&want, h2);
        assert_string_equal(h1, h2);
        buf_free(&got);
        buf_free(&want);
        cJSON_Delete(o);
        free(s);
        free(pad);
    }
}

/* An error part way (a number out of range after more than a window of
 * text) leaves json_canonical's buffer as it was and gives no hash. */
static void
test_error_after_flush(void **state)
{
    struct intentus_err err = { IERR_OK, "" };
    struct buf out = BUF_INIT;
    char *s = mixed(3000, 5);
    cJSON *a = cJSON_CreateArray();
    char hex[65] = "x";

    (void)state;
    cJSON_AddItemToArray(a, cJSON_CreateString(s));
    cJSON_AddItemToArray(a, cJSON_CreateRaw("1e999"));
    buf_puts(&out, "keep");
    assert_int_equal(json_canonical(a, &out, &err), -1);
    assert_string_equal(out.data, "keep");
    assert_non_null(strstr(err.msg, "number out of range"));
    assert_int_equal(json_canonical_sha256(a, hex, NULL), -1);
    assert_string_equal(hex, "");
    buf_free(&out);
    cJSON_Delete(a);
    free(s);
}

/* Hashing a 64 KB value never holds its canonical text on the heap: the
 * largest allocation is far below the text's size (before the window it
 * was a buffer grown to hold all of it). */
static void
test_hash_does_not_hold_text(void **state)
{
    struct malloc_count mc;
    struct buf text = BUF_INIT;
    char hex[65], want[65];
    char *s;
    cJSON *o;

    (void)state;
    if (!malloc_count_available())
        skip();
    s = mixed(12000, 9);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "text", s);
    assert_int_equal(json_canonical(o, &text, NULL), 0);
    assert_true(text.len > 60000);
    sha_of(&text, want);
    malloc_count_start();
    assert_int_equal(json_canonical_sha256(o, hex, NULL), 0);
    malloc_count_stop(&mc);
    assert_string_equal(hex, want);
    if (mc.largest >= 8192)
        fail_msg("hashing %zu bytes of canonical text allocated %zu bytes at once", text.len,
                 mc.largest);
    buf_free(&text);
    cJSON_Delete(o);
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_edges),
        cmocka_unit_test(test_error_after_flush),
        cmocka_unit_test(test_hash_does_not_hold_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
