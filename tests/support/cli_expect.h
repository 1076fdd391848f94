/* Checks on a finished command (struct tu_run, testutil.h) for the tests
 * that run the real binary: the exit status and what it printed, with the
 * whole output shown when a check is about to fail. */
#ifndef INTENTUS_TESTS_SUPPORT_CLI_EXPECT_H
#define INTENTUS_TESTS_SUPPORT_CLI_EXPECT_H

#include <string.h>

#include "tests/support/testutil.h"

/* An argument list for a command: ARGS("records", "list"). */
#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Print the exit status, stdout and stderr of r (as TAP comments). */
void tu_run_dump(const struct tu_run *r);

#define EXPECT_EXIT(r, code)                                                                       \
    do {                                                                                           \
        if ((r)->status != (code))                                                                 \
            tu_run_dump(r);                                                                        \
        assert_int_equal((r)->status, (code));                                                     \
    } while (0)

#define EXPECT_CONTAINS(hay, needle)                                                               \
    do {                                                                                           \
        const char *hay_ = (hay), *needle_ = (needle);                                             \
        if (hay_ == NULL || strstr(hay_, needle_) == NULL)                                         \
            print_message("# expected to find \"%s\" in:\n%s\n", needle_, hay_ ? hay_ : "(null)"); \
        assert_non_null(hay_);                                                                     \
        assert_non_null(strstr(hay_, needle_));                                                    \
    } while (0)

#define EXPECT_LACKS(hay, needle)                                                                  \
    do {                                                                                           \
        const char *hay_ = (hay), *needle_ = (needle);                                             \
        if (hay_ != NULL && strstr(hay_, needle_) != NULL)                                         \
            print_message("# did not expect \"%s\" in:\n%s\n", needle_, hay_);                     \
        assert_true(hay_ == NULL || strstr(hay_, needle_) == NULL);                                \
    } while (0)

#endif
