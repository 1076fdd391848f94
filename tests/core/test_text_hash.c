/* core/text_hash.h keeps its values: an index database's file name and the
 * request ids a sample rate keeps depend on them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/text_hash.h"

static void
test_values_kept(void **state)
{
    (void)state;
    /* Computed apart from the code (Python, the same basis and prime). */
    assert_true(text_hash("") == 0x14650fb0739d0383ULL);
    assert_true(text_hash("a") == 0x44bd8ad473cd9906ULL);
    assert_true(text_hash("foobar") == 0x88fad7c0a8ff07f2ULL);
    assert_true(text_hash("01a237da-fe83-7b8f-9f07-348617d658ab") == 0xb670fcdfc801d842ULL);
}

static void
test_bytes_are_unsigned(void **state)
{
    (void)state;
    /* A high byte enters as 0xe9, not sign-extended. */
    assert_true(text_hash("\xe9") == 0x44bd12d473cccd1eULL);
    assert_true(text_hash("caf\xc3\xa9") != text_hash("cafe"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_kept),
        cmocka_unit_test(test_bytes_are_unsigned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
