/* Command-line commands. Each returns the process exit code:
 * 0 success, 1 an error response / failed check, 2 usage or config error. */
#ifndef INTENTUS_TUI_CLI_H
#define INTENTUS_TUI_CLI_H

#include <stdio.h>

#include "core/config.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

int cli_route(int argc, char **argv);
int cli_records(int argc, char **argv);
int cli_retrieve(int argc, char **argv);
int cli_agents(int argc, char **argv);
int cli_redact(int argc, char **argv);
int cli_console(int argc, char **argv);
int cli_wal(int argc, char **argv);      /* tui/cli_recovery.c */
int cli_recovery(int argc, char **argv); /* tui/cli_recovery.c */
int cli_index(int argc, char **argv);    /* tui/cli_index.c */
int cli_serve(int argc, char **argv);    /* tui/cli_serve.c */
int cli_keys(int argc, char **argv);     /* tui/cli_keys.c */
int cli_gateway(int argc, char **argv);  /* tui/cli_gateway.c */
int cli_replay(int argc, char **argv);   /* tui/cli_records.c */
int cli_bench(int argc, char **argv);    /* tui/cli_bench.c */
int cli_check(int argc, char **argv);    /* tui/cli_check.c */

/* The process's reading keyring (core/crypt.h crypt_set_reader): from
 * $INTENTUS_KEYRING (main, before any command), else from a config's
 * recording.encryption (cli_load_config, and the commands that open a
 * runtime). The first one set stays. 0, or EXIT_USAGE with the error
 * printed (naming the keyring and why it does not load). */
int cli_keys_from_env(void);
int cli_keys_from_config(const struct config *cfg);
/* --keyring PATH (NULL: nothing to do) as the reading keyring; EXIT_USAGE
 * with the error printed for cmd. */
int cli_keys_from_flag(const char *cmd, const char *path);

/* The public key that signed WALs are checked with: --public-key FILE
 * (flag_path), else the config's wal.public_key (cfg may be NULL). NULL
 * with *rc EXIT_OK when neither is set; NULL with *rc EXIT_USAGE (message
 * printed, naming the file) when the key does not load. In cli_recovery.c. */
struct wal_key;
struct wal_key *cli_load_wal_key(const char *cmd, const char *flag_path, const struct config *cfg,
                                 int *rc);

/* Shared helpers (tui/cli_common.c). Messages may quote arguments, paths
 * and record text, so both print the message escaped (fmt_escape): no
 * control character reaches the terminal. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for what getopt_long (optstring starting with ':')
 * returned: c ':' names the option missing its value, else the unknown
 * word, as the user typed them. */
int cli_getopt_error(const char *cmd, int c, char **argv);
/* "intentus CMD: message" and a newline on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* len bytes of s to f escaped for a terminal (fmt_escape with flags),
 * however long s is. */
void cli_put_escaped(FILE *f, const char *s, size_t len, unsigned flags);
/* s (NULL: "") escaped for a terminal into out[size] (cut when it does not
 * fit; FMT_ESC_SIZE(n) holds n bytes whole); returns out, for printf. */
const char *cli_esc(const char *s, char *out, size_t size);
/* Load the config (path may be NULL: search order); prints the error. */
struct config *cli_load_config(const char *path);
/* The records directory: --dir, else the config's. */
const char *cli_records_dir(const char *dir_flag, const char *config_path, struct config **cfg_out);
/* True when argv holds -h or --help (checked before any other parsing so
 * help works whatever else is on the line). */
int cli_wants_help(int argc, char **argv);
/* Print JSON (pretty) and a newline to f. */
void cli_print_json(FILE *f, const cJSON *v);

#endif
