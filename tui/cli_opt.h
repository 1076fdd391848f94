/* Option tables for the command line. A command describes its options in
 * one static table (as tmux's options-table.c does): name, short letter,
 * whether it takes an argument, the help text and the field it sets. The
 * same table drives parsing, the command's --help text and the error for
 * an option the command does not take, so a command can never accept an
 * option and then ignore it. */
#ifndef INTENTUS_TUI_CLI_OPT_H
#define INTENTUS_TUI_CLI_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cli_opt_kind {
    CLI_OPT_FLAG,   /* no argument; sets a bool field to true */
    CLI_OPT_STRING, /* the argument into a const char * field */
    CLI_OPT_COUNT,  /* a non-negative integer into a long field */
    CLI_OPT_PARSE,  /* the argument through parse() into the field */
    CLI_OPT_HELP,   /* -h/--help: print the help (sets nothing) */
};

/* Parse arg (NULL when an optional argument was not given) into field;
 * 0 on success, else -1 with why filled ("'x' is not a duration"). */
typedef int (*cli_opt_parse_fn)(const char *arg, void *field, char *why, size_t size);

struct cli_opt {
    const char *name; /* long name without "--"; NULL ends a table */
    enum cli_opt_kind kind;
    char short_name;        /* 0: none */
    bool arg_optional;      /* --poll[=MS]: the argument only as --name=ARG */
    const char *arg;        /* the argument's name in the help ("DIR"); NULL for flags */
    size_t offset;          /* offsetof() the field it sets in the caller's struct */
    cli_opt_parse_fn parse; /* CLI_OPT_PARSE only */
    const char *help;       /* may hold '\n': continuation lines are indented */
};

struct cli_cmd {
    const char *name;  /* "records gc": messages and the usage line */
    const char *usage; /* what follows the name in the usage line */
    const char *about; /* a paragraph after the usage line (may be NULL) */
    const struct cli_opt *opts;
};

#define CLI_OPT_SHOWN_HELP (-1) /* cli_opt_parse printed the help: exit 0 */

/* Parse argv[1..argc) against cmd's table into out (the struct the
 * offsets refer to). Options and positional arguments may be mixed; "--"
 * ends the options. argv is reordered so that the positional arguments,
 * in their order, are argv[*first_arg..argc). Returns 0, CLI_OPT_SHOWN_HELP
 * when -h/--help is anywhere before "--" and the table has a help entry
 * (help wins over every other word), or EXIT_USAGE (2) after printing an
 * error naming the option (unknown to this command, missing or bad value). */
int cli_opt_parse(const struct cli_cmd *cmd, int argc, char **argv, void *out, int *first_arg);
/* The usage line, the paragraph and one line per option, from the table. */
void cli_opt_help(const struct cli_cmd *cmd, FILE *f);

#endif
