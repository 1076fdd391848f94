#include "tui/cli_opt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "tui/cli.h"

#define HELP_COLUMN 26

static bool
takes_arg(const struct cli_opt *o)
{
    return o->kind != CLI_OPT_FLAG && o->kind != CLI_OPT_HELP;
}

static const struct cli_opt *
find_long(const struct cli_opt *t, const char *name, size_t len)
{
    for (; t->name != NULL; t++) {
        if (strlen(t->name) == len && strncmp(t->name, name, len) == 0)
            return t;
    }
    return NULL;
}

static const struct cli_opt *
find_short(const struct cli_opt *t, char c)
{
    for (; t->name != NULL; t++) {
        if (t->short_name != 0 && t->short_name == c)
            return t;
    }
    return NULL;
}

/* "--dir, --config, ..." of the table, for the unknown-option error. */
static void
option_names(const struct cli_opt *t, struct buf *b)
{
    for (const struct cli_opt *o = t; o->name != NULL; o++)
        buf_printf(b, "%s--%s", o == t ? "" : ", ", o->name);
}

static int
unknown(const struct cli_cmd *cmd, const char *word, size_t len)
{
    struct buf names = BUF_INIT;
    int rc;

    option_names(cmd->opts, &names);
    rc = cli_usage_error(cmd->name, "unknown option '%.*s' for %s (its options: %s)", (int)len,
                         word, cmd->name, names.data != NULL ? names.data : "none");
    buf_free(&names);
    return rc;
}

/* Store arg (given as the user wrote the option, for messages) in out. */
static int
set(const struct cli_cmd *cmd, const struct cli_opt *o, const char *arg, void *out)
{
    char *field = (char *)out + o->offset, why[256] = "", *end;
    long n;

    switch (o->kind) {
    case CLI_OPT_FLAG:
        *(bool *)(void *)field = true;
        return 0;
    case CLI_OPT_HELP:
        return 0;
    case CLI_OPT_STRING:
        *(const char **)(void *)field = arg;
        return 0;
    case CLI_OPT_COUNT:
        if (arg == NULL)
            return cli_usage_error(cmd->name, "--%s needs a number", o->name);
        n = strtol(arg, &end, 10);
        if (*end != '\0' || end == arg || n < 0 || n == LONG_MAX)
            return cli_usage_error(cmd->name, "--%s: '%s' is not a non-negative number", o->name,
                                   arg);
        *(long *)(void *)field = n;
        return 0;
    case CLI_OPT_PARSE:
        if (o->parse(arg, field, why, sizeof(why)) != 0)
            return cli_usage_error(cmd->name, "--%s: %s", o->name, why);
        return 0;
    }
    return 0;
}

static bool
wants_help(const struct cli_cmd *cmd, int argc, char **argv)
{
    bool has_help = false;

    for (const struct cli_opt *o = cmd->opts; o->name != NULL; o++)
        has_help = has_help || o->kind == CLI_OPT_HELP;
    for (int i = 1; has_help && i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

/* One "--name[=value]" word at argv[*i]; *i moves past a separate value. */
static int
parse_long(const struct cli_cmd *cmd, int argc, char **argv, int *i, void *out)
{
    const char *word = argv[*i], *name = word + 2, *eq = strchr(name, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    const struct cli_opt *o = find_long(cmd->opts, name, len);
    const char *arg = eq != NULL ? eq + 1 : NULL;

    if (o == NULL)
        return unknown(cmd, word, len + 2);
    if (!takes_arg(o) && eq != NULL)
        return cli_usage_error(cmd->name, "--%s takes no value", o->name);
    if (takes_arg(o) && arg == NULL && !o->arg_optional) {
        if (*i + 1 >= argc)
            return cli_usage_error(cmd->name, "--%s needs a value (%s)", o->name, o->arg);
        arg = argv[++*i];
    }
    return set(cmd, o, arg, out);
}

/* A word of short options ("-jf", "-n5", "-n 5") at argv[*i]. */
static int
parse_short(const struct cli_cmd *cmd, int argc, char **argv, int *i, void *out)
{
    const char *word = argv[*i];

    for (const char *p = word + 1; *p != '\0'; p++) {
        const struct cli_opt *o = find_short(cmd->opts, *p);
        const char *arg = NULL;
        if (o == NULL) {
            char opt[3] = { '-', *p, '\0' };
            return unknown(cmd, opt, 2);
        }
        if (takes_arg(o)) {
            if (p[1] != '\0')
                arg = p + 1;
            else if (!o->arg_optional && *i + 1 < argc)
                arg = argv[++*i];
            else if (!o->arg_optional)
                return cli_usage_error(cmd->name, "-%c (--%s) needs a value (%s)", *p, o->name,
                                       o->arg);
            if (set(cmd, o, arg, out) != 0)
                return EXIT_USAGE;
            return 0; /* the rest of the word was the value */
        }
        if (set(cmd, o, NULL, out) != 0)
            return EXIT_USAGE;
    }
    return 0;
}

int
cli_opt_parse(const struct cli_cmd *cmd, int argc, char **argv, void *out, int *first_arg)
{
    char **pos = NULL, **opts = NULL;
    int n_pos = 0, n_opts = 0, rc = 0;

    if (wants_help(cmd, argc, argv)) {
        cli_opt_help(cmd, stdout);
        return CLI_OPT_SHOWN_HELP;
    }
    pos = calloc((size_t)argc + 1, sizeof(*pos));
    opts = calloc((size_t)argc + 1, sizeof(*opts));
    if (pos == NULL || opts == NULL) {
        fprintf(stderr, "intentus %s: out of memory\n", cmd->name);
        rc = EXIT_FAIL;
        goto out;
    }
    for (int i = 1; i < argc && rc == 0; i++) {
        int start = i;
        if (strcmp(argv[i], "--") == 0) {
            opts[n_opts++] = argv[i];
            while (++i < argc)
                pos[n_pos++] = argv[i];
            break;
        }
        if (argv[i][0] != '-' || argv[i][1] == '\0') { /* "-" alone is an argument */
            pos[n_pos++] = argv[i];
            continue;
        }
        if (argv[i][1] == '-')
            rc = parse_long(cmd, argc, argv, &i, out);
        else
            rc = parse_short(cmd, argc, argv, &i, out);
        for (int k = start; k <= i; k++)
            opts[n_opts++] = argv[k];
    }
    if (rc != 0)
        goto out;
    /* Options first, then the positional arguments in their order. */
    memcpy(argv + 1, opts, (size_t)n_opts * sizeof(*argv));
    memcpy(argv + 1 + n_opts, pos, (size_t)n_pos * sizeof(*argv));
    *first_arg = 1 + n_opts;
out:
    free(pos);
    free(opts);
    return rc;
}

static void
print_help_text(FILE *f, const char *help, int col)
{
    for (const char *p = help; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "%.*s\n", (int)n, p);
        p += n;
        if (*p == '\n' && *++p != '\0')
            fprintf(f, "%*s", col, "");
    }
}

void
cli_opt_help(const struct cli_cmd *cmd, FILE *f)
{
    fprintf(f, "Usage: intentus %s%s%s\n", cmd->name, cmd->usage ? " " : "",
            cmd->usage ? cmd->usage : "");
    if (cmd->about != NULL)
        fprintf(f, "\n%s", cmd->about);
    fprintf(f, "\nOptions:\n");
    for (const struct cli_opt *o = cmd->opts; o->name != NULL; o++) {
        char left[96];
        int n;
        if (o->short_name != 0)
            n = snprintf(left, sizeof(left), "  -%c, --%s", o->short_name, o->name);
        else
            n = snprintf(left, sizeof(left), "      --%s", o->name);
        if (o->arg != NULL && n > 0 && (size_t)n < sizeof(left))
            snprintf(left + n, sizeof(left) - (size_t)n, o->arg_optional ? "[=%s]" : " %s", o->arg);
        if (strlen(left) + 2 > HELP_COLUMN)
            fprintf(f, "%s\n%*s", left, HELP_COLUMN, "");
        else
            fprintf(f, "%-*s", HELP_COLUMN, left);
        print_help_text(f, o->help, HELP_COLUMN);
    }
}
