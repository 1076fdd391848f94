#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypt.h"
#include "core/json.h"
#include "tui/cli.h"
#include "tui/fmt.h"

void
cli_put_escaped(FILE *f, const char *s, size_t len, unsigned flags)
{
    char chunk[1024];

    while (len > 0) {
        size_t n = fmt_escape(s, len, flags, chunk, sizeof(chunk));
        fputs(chunk, f);
        s += n;
        len -= n;
    }
}

const char *
cli_esc(const char *s, char *out, size_t size)
{
    if (s == NULL)
        s = "";
    fmt_escape(s, strlen(s), 0, out, size);
    return out;
}

static void print_message(const char *cmd, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
print_message(const char *cmd, const char *fmt, va_list ap)
{
    struct buf b = BUF_INIT;
    va_list copy;
    int n;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    fputs("intentus ", stderr);
    cli_put_escaped(stderr, cmd, strlen(cmd), 0);
    fputs(": ", stderr);
    if (n >= 0 && buf_reserve(&b, (size_t)n + 1) == 0) {
        vsnprintf(b.data, (size_t)n + 1, fmt, ap);
        cli_put_escaped(stderr, b.data, (size_t)n, 0);
    } else {
        fputs("(out of memory)", stderr);
    }
    buf_free(&b);
}

int
cli_getopt_error(const char *cmd, int c, char **argv)
{
    const char *word = optind > 0 ? argv[optind - 1] : "?";

    if (c == ':')
        return cli_usage_error(cmd, "'%s' needs a value", word);
    return cli_usage_error(cmd, "unknown option '%s'", word);
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    print_message(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'intentus %s --help'.\n", cmd);
    return EXIT_USAGE;
}

void
cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    print_message(cmd, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

struct config *
cli_load_config(const char *path)
{
    struct intentus_err err = { 0 };
    struct config *cfg = config_load(path, &err);

    if (cfg == NULL) {
        fputs("intentus: config: ", stderr);
        cli_put_escaped(stderr, err.msg, strlen(err.msg), 0);
        fputc('\n', stderr);
    }
    if (cfg != NULL && cli_keys_from_config(cfg) != 0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

int
cli_keys_from_env(void)
{
    struct intentus_err err = { 0 };
    const char *env = getenv("INTENTUS_KEYRING");
    struct crypt_keyring *kr;

    if (env == NULL || env[0] == '\0' || crypt_reader() != NULL)
        return 0;
    kr = crypt_keyring_load(env, &err);
    if (kr == NULL) {
        cli_error("keys", "$INTENTUS_KEYRING: %s", err.msg);
        return EXIT_USAGE;
    }
    crypt_set_reader(kr);
    return 0;
}

int
cli_keys_from_flag(const char *cmd, const char *path)
{
    struct intentus_err err = { 0 };
    struct crypt_keyring *kr;

    if (path == NULL)
        return 0;
    kr = crypt_keyring_load(path, &err);
    if (kr == NULL) {
        cli_error(cmd, "--keyring: %s", err.msg);
        return EXIT_USAGE;
    }
    crypt_set_reader(kr); /* wins over $INTENTUS_KEYRING and the config */
    return 0;
}

int
cli_keys_from_config(const struct config *cfg)
{
    struct intentus_err err = { 0 };
    struct crypt_keyring *kr;

    if (cfg == NULL || cfg->encryption.keyring == NULL || crypt_reader() != NULL)
        return 0;
    kr = crypt_keyring_load(cfg->encryption.keyring, &err);
    if (kr == NULL) {
        fputs("intentus: config: recording.encryption: ", stderr);
        cli_put_escaped(stderr, err.msg, strlen(err.msg), 0);
        fputc('\n', stderr);
        return EXIT_USAGE;
    }
    crypt_set_reader(kr);
    return 0;
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
