/* intentus: command-line dispatch. Every command is a function in tui/cli_*.c
 * returning the exit code; main() alone turns errors into exit codes. */
#include <stdio.h>
#include <string.h>

#include "tui/cli.h"

#ifndef INTENTUS_VERSION
#define INTENTUS_VERSION "0.1.0"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    { "console", cli_console, "the full-screen console (also what plain 'intentus' opens)" },
    { "route", cli_route, "route an intent through the embedded router and record it" },
    { "records", cli_records, "list, show, verify, diff, stats, tail, gc, migrate records" },
    { "retrieve", cli_retrieve, "print the stored response of an execution (nothing re-run)" },
    { "serve", cli_serve, "run the router as an authenticated HTTP service" },
    { "agents", cli_agents,
      "the configured agents in routing order, or a running service's (--server)" },
    { "redact", cli_redact, "preview redaction of a JSON document or record (nothing written)" },
    { "wal", cli_wal, "verify or inspect an execution's write-ahead log; gc old ones; keygen" },
    { "recovery", cli_recovery, "executions that did not finish: scan, resume, close, abort" },
    { "index", cli_index, "the record index: rebuild, check or show it" },
    { "keys", cli_keys, "encryption keys for records and WAL: new, list, rotate" },
    { "gateway", cli_gateway, "MCP gateway: relay an MCP server, record every tools/call" },
    { "replay", cli_replay, "a gateway execution's recorded MCP response (nothing contacted)" },
    { "bench", cli_bench, "measure route, hash and index speed on this machine's storage" },
    { "check", cli_check, "check determinism: run one envelope N times, compare fingerprints" },
};

static void
usage(FILE *f)
{
    fprintf(
        f,
        "Usage: intentus [console options]     open the console (see 'intentus console --help')\n"
        "       intentus COMMAND [options]\n"
        "       intentus --help | --version\n\n"
        "intentus is an IntentusNet runtime: a deterministic intent router that\n"
        "records every execution, reads the Python reference's records, and checks\n"
        "them byte for byte.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'intentus COMMAND --help' for a command's options.\n"
               "Config search order: --config FILE, $INTENTUS_CONFIG, ./intentus.json,\n"
               "$XDG_CONFIG_HOME/intentus/config.json, then the built-in demo.\n"
               "Records go to .intentusnet/records (or $INTENTUSNET_RECORDS_PATH, or the\n"
               "config's recording.dir). Encrypted records, archives and WAL entries are\n"
               "read with the keyring in $INTENTUS_KEYRING, else the config's\n"
               "recording.encryption (see 'intentus keys --help').\n");
}

int
main(int argc, char **argv)
{
    int rc;

    /* $INTENTUS_KEYRING: every reader of this process decrypts with it
     * ('keys' manages that keyring, which 'keys new' may be creating). */
    rc = argc >= 2 && strcmp(argv[1], "keys") == 0 ? 0 : cli_keys_from_env();
    if (rc != 0)
        return rc;
    /* No command, or only console options: open the console. */
    if (argc < 2 ||
        (argv[1][0] == '-' && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0 &&
         strcmp(argv[1], "--version") != 0 && strcmp(argv[1], "-V") != 0))
        return cli_console(argc, argv);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("intentus %s\n", INTENTUS_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    fputs("intentus: unknown command '", stderr);
    cli_put_escaped(stderr, argv[1], strlen(argv[1]), 0); /* never raw argv to a terminal */
    fputs("'\n\n", stderr);
    usage(stderr);
    return EXIT_USAGE;
}
