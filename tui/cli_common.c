#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "tui/cli.h"

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "intentus %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'intentus %s --help'.\n", cmd);
    return EXIT_USAGE;
}

struct config *
cli_load_config(const char *path)
{
    struct intentus_err err = { 0 };
    struct config *cfg = config_load(path, &err);

    if (cfg == NULL)
        fprintf(stderr, "intentus: config: %s\n", err.msg);
    return cfg;
}

const char *
cli_records_dir(const char *dir_flag, const char *config_path, struct config **cfg_out)
{
    *cfg_out = NULL;
    if (dir_flag != NULL)
        return dir_flag;
    *cfg_out = cli_load_config(config_path);
    return *cfg_out != NULL ? (*cfg_out)->records_dir : NULL;
}

int
cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

void
cli_print_json(FILE *f, const cJSON *v)
{
    struct buf b = BUF_INIT;

    if (json_print_pretty(v, &b) == 0)
        fprintf(f, "%s\n", b.data);
    else
        fprintf(stderr, "intentus: out of memory printing JSON\n");
    buf_free(&b);
}
