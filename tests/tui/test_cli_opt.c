/* tui/cli_opt: one option table gives parsing, --help and the error for an
 * option the command does not take. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tui/cli.h"
#include "tui/cli_opt.h"

struct args {
    const char *dir;
    bool json;
    long limit;
    int poll_ms;
};

static int
parse_poll(const char *arg, void *field, char *why, size_t size)
{
    *(int *)field = arg != NULL ? atoi(arg) : 1000;
    if (*(int *)field <= 0) {
        snprintf(why, size, "'%s': give milliseconds", arg);
        return -1;
    }
    return 0;
}

static const struct cli_opt opts[] = {
    { .name = "dir",
      .short_name = 'd',
      .kind = CLI_OPT_STRING,
      .arg = "DIR",
      .offset = offsetof(struct args, dir),
      .help = "record directory\nsecond line" },
    { .name = "json",
      .short_name = 'j',
      .kind = CLI_OPT_FLAG,
      .offset = offsetof(struct args, json),
      .help = "JSON" },
    { .name = "limit",
      .short_name = 'l',
      .kind = CLI_OPT_COUNT,
      .arg = "N",
      .offset = offsetof(struct args, limit),
      .help = "at most N" },
    { .name = "poll",
      .kind = CLI_OPT_PARSE,
      .arg = "MS",
      .arg_optional = true,
      .offset = offsetof(struct args, poll_ms),
      .parse = parse_poll,
      .help = "poll" },
    { .name = "help", .short_name = 'h', .kind = CLI_OPT_HELP, .help = "this help" },
    { .name = NULL },
};

static const struct cli_cmd cmd = { "test cmd", "[X...]", "About it.\n", opts };

/* Parse the words (NULL-terminated, after argv[0]) into *a. */
static int
parse(struct args *a, char **argv, int *first, const char *const *words)
{
    int argc = 1;

    memset(a, 0, sizeof(*a));
    a->limit = -1;
    argv[0] = (char *)"test";
    for (size_t i = 0; words[i] != NULL; i++)
        argv[argc++] = (char *)words[i];
    argv[argc] = NULL;
    return cli_opt_parse(&cmd, argc, argv, a, first);
}

#define WORDS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void
test_parse_mixed(void **state)
{
    struct args a;
    char *argv[16];
    int first = 0;

    (void)state;
    assert_int_equal(parse(&a, argv, &first,
                           WORDS("a", "-d", "D", "--json", "b", "-l5", "--poll=20", "--", "-c")),
                     0);
    assert_string_equal(a.dir, "D");
    assert_true(a.json);
    assert_int_equal(a.limit, 5);
    assert_int_equal(a.poll_ms, 20);
    /* the positional arguments, in order, at the end of argv */
    assert_int_equal(first, 10 - 3);
    assert_string_equal(argv[first], "a");
    assert_string_equal(argv[first + 1], "b");
    assert_string_equal(argv[first + 2], "-c");

    assert_int_equal(parse(&a, argv, &first, WORDS("-jl", "7", "--poll", "--dir=x", "-")), 0);
    assert_true(a.json);
    assert_int_equal(a.limit, 7);
    assert_int_equal(a.poll_ms, 1000); /* optional argument not given */
    assert_string_equal(a.dir, "x");
    assert_string_equal(argv[first], "-"); /* "-" alone is an argument */
    assert_int_equal(parse(&a, argv, &first, WORDS("--search", "x")), EXIT_USAGE);
}

static void
test_parse_errors(void **state)
{
    const char *const *bad[] = {
        WORDS("--nope"),        WORDS("-z"),      WORDS("--dir"), WORDS("-d"),
        WORDS("--json=1"),      WORDS("-l", "x"), WORDS("-l-1"),  WORDS("--poll=0"),
        WORDS("--limit=", "3"), WORDS("--jso"), /* no abbreviations */
    };
    struct args a;
    char *argv[16];
    int first = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(&a, argv, &first, bad[i]) != EXIT_USAGE)
            fail_msg("case %zu (%s) was accepted", i, bad[i][0]);
    }
    /* help wins over anything else on the line, an unknown option included */
    assert_int_equal(parse(&a, argv, &first, WORDS("--nope", "-h")), CLI_OPT_SHOWN_HELP);
    /* ...but not after "--" */
    assert_int_equal(parse(&a, argv, &first, WORDS("--", "--help")), 0);
    assert_string_equal(argv[first], "--help");
}

static void
test_help_from_table(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    (void)state;
    assert_non_null(f);
    cli_opt_help(&cmd, f);
    fclose(f);
    assert_non_null(strstr(text, "Usage: intentus test cmd [X...]\n\nAbout it.\n"));
    assert_non_null(strstr(text, "  -d, --dir DIR           record directory\n"
                                 "                          second line\n"));
    assert_non_null(strstr(text, "  -l, --limit N           at most N\n"));
    assert_non_null(strstr(text, "      --poll[=MS]         poll\n"));
    assert_non_null(strstr(text, "  -h, --help              this help\n"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_mixed),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_help_from_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
