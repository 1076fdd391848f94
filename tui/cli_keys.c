/* intentus keys new|list|rotate: the keys records, archives and WAL entries
 * are encrypted with (core/crypt.h). Key bytes are never printed. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypt.h"
#include "tui/cli.h"
#include "tui/cli_opt.h"
#include "tui/fmt.h"

struct keys_args {
    const char *keyring, *key_file, *config;
    bool json;
};

#define F(field) offsetof(struct keys_args, field)
#define KEYS_COMMON_OPTS                                                                           \
    { .name = "keyring",                                                                           \
      .short_name = 'k',                                                                           \
      .kind = CLI_OPT_STRING,                                                                      \
      .arg = "DIR",                                                                                \
      .offset = F(keyring),                                                                        \
      .help = "keyring directory (default: $INTENTUS_KEYRING, else\nthe config's "                 \
              "recording.encryption)" },                                                           \
        { .name = "config",                                                                        \
          .short_name = 'c',                                                                       \
          .kind = CLI_OPT_STRING,                                                                  \
          .arg = "FILE",                                                                           \
          .offset = F(config),                                                                     \
          .help = "config file whose recording.encryption names the keys" },                       \
    {                                                                                              \
        .name = "help", .short_name = 'h', .kind = CLI_OPT_HELP, .help = "this help"               \
    }

static const struct cli_opt new_opts[] = {
    { .name = "key-file",
      .kind = CLI_OPT_STRING,
      .arg = "FILE",
      .offset = F(key_file),
      .help = "write one key to FILE (0600) instead of a keyring" },
    KEYS_COMMON_OPTS,
    { .name = NULL },
};
static const struct cli_opt list_opts[] = {
    { .name = "key-file",
      .kind = CLI_OPT_STRING,
      .arg = "FILE",
      .offset = F(key_file),
      .help = "list the key in FILE instead of a keyring" },
    { .name = "json", .kind = CLI_OPT_FLAG, .offset = F(json), .help = "one JSON document" },
    KEYS_COMMON_OPTS,
    { .name = NULL },
};
static const struct cli_opt rotate_opts[] = {
    KEYS_COMMON_OPTS,
    { .name = NULL },
};
#undef F

enum keys_sub { SUB_NEW, SUB_LIST, SUB_ROTATE };

static const struct {
    enum keys_sub id;
    const char *summary;
    struct cli_cmd cmd;
} subcommands[] = {
    { SUB_NEW,
      "create a keyring with its first key (or one key file)",
      { "keys new", "[options]",
        "Create the keyring directory (0700) with a first random 256-bit key, or\n"
        "with --key-file one key file (0600). An existing key is never replaced: a\n"
        "keyring that already holds keys is refused (use 'keys rotate').\n",
        new_opts } },
    { SUB_LIST,
      "the keys: id, created, which one encrypts new writes",
      { "keys list", "[options]",
        "One line per key: its id (a hash of the key, as every encrypted file's\n"
        "header names it), when it was created, and '*' on the key new records\n"
        "are encrypted with. The key bytes are never shown.\n",
        list_opts } },
    { SUB_ROTATE,
      "add a new key that encrypts every write from now on",
      { "keys rotate", "[options]",
        "Add a new random key to the keyring. New records, archives and WAL entries\n"
        "are encrypted with it (after a restart or reload of a running writer);\n"
        "every older key stays in the ring, so everything written before still reads.\n",
        rotate_opts } },
};
#define N_SUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void
keys_help(FILE *f)
{
    fprintf(f, "Usage: intentus keys COMMAND [options]\n\n"
               "Keys for encryption at rest (recording.encryption): a keyring directory of\n"
               "key files, the newest of which encrypts; every key in it decrypts.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < N_SUB; i++)
        fprintf(f, "  %-7s %s\n", subcommands[i].cmd.name + strlen("keys "),
                subcommands[i].summary);
    fprintf(f, "\nRun 'intentus keys COMMAND --help' for its options.\n");
}

/* --keyring, else $INTENTUS_KEYRING, else the config's; *cfg owned by the
 * caller. NULL with a message printed when none is given. */
static const char *
keyring_of(const char *cmd, const struct keys_args *a, struct config **cfg, bool *is_file)
{
    const char *env = getenv("INTENTUS_KEYRING");
    struct intentus_err err = { 0 };

    *is_file = false;
    if (a->keyring != NULL)
        return a->keyring;
    if (env != NULL && env[0] != '\0')
        return env;
    /* config_load, not cli_load_config: that one also loads the keyring,
     * which 'keys new' is about to create. */
    *cfg = config_load(a->config, &err);
    if (*cfg == NULL) {
        cli_error(cmd, "config: %s", err.msg);
        return NULL;
    }
    if ((*cfg)->encryption.keyring != NULL) {
        *is_file = (*cfg)->encryption.is_key_file;
        return (*cfg)->encryption.keyring;
    }
    cli_error(cmd,
              "no keyring: give --keyring DIR, set $INTENTUS_KEYRING, or set "
              "recording.encryption in the config (%s)",
              (*cfg)->source);
    return NULL;
}

static void
list_json(const char *path, const struct crypt_keyring *kr)
{
    cJSON *out = cJSON_CreateObject(), *arr;

    cJSON_AddStringToObject(out, "keyring", path);
    cJSON_AddStringToObject(out, "kind", crypt_keyring_is_dir(kr) ? "keyring" : "key_file");
    arr = cJSON_AddArrayToObject(out, "keys");
    for (size_t i = 0; i < crypt_keyring_count(kr); i++) {
        struct crypt_key_info in;
        cJSON *k = cJSON_CreateObject();
        crypt_keyring_info(kr, i, &in);
        cJSON_AddStringToObject(k, "id", in.id);
        cJSON_AddStringToObject(k, "created", in.created);
        cJSON_AddStringToObject(k, "file", in.file);
        cJSON_AddBoolToObject(k, "writes", in.writes);
        cJSON_AddItemToArray(arr, k);
    }
    cli_print_json(stdout, out);
    cJSON_Delete(out);
}

static void
list_text(const char *path, const struct crypt_keyring *kr)
{
    char e[FMT_ESC_SIZE(4096)];

    printf("%s %s: %zu key%s\n", crypt_keyring_is_dir(kr) ? "keyring" : "key file",
           cli_esc(path, e, sizeof(e)), crypt_keyring_count(kr),
           crypt_keyring_count(kr) == 1 ? "" : "s");
    for (size_t i = 0; i < crypt_keyring_count(kr); i++) {
        struct crypt_key_info in;
        crypt_keyring_info(kr, i, &in);
        printf("%c %s  created %s  %s\n", in.writes ? '*' : ' ', in.id, in.created,
               cli_esc(in.file, e, sizeof(e)));
    }
    if (crypt_keyring_count(kr) > 0)
        printf("(* encrypts new writes)\n");
}

static int
keys_list(const char *cmd, const char *path, bool json)
{
    struct intentus_err err = { 0 };
    struct crypt_keyring *kr = crypt_keyring_load(path, &err);

    if (kr == NULL) {
        cli_error(cmd, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (json)
        list_json(path, kr);
    else
        list_text(path, kr);
    crypt_keyring_free(kr);
    return EXIT_OK;
}

int
cli_keys(int argc, char **argv)
{
    const struct cli_cmd *cmd = NULL;
    enum keys_sub id = SUB_LIST;
    struct keys_args a = { 0 };
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    char kid[CRYPT_ID_HEX], file[128], esc[FMT_ESC_SIZE(4096)];
    const char *path;
    bool is_file = false;
    int rc, first = 0;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        keys_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < N_SUB; i++) {
        if (strcmp(argv[1], subcommands[i].cmd.name + strlen("keys ")) == 0) {
            cmd = &subcommands[i].cmd;
            id = subcommands[i].id;
        }
    }
    if (cmd == NULL)
        return cli_usage_error("keys", "unknown command '%s' (new, list, rotate)", argv[1]);
    rc = cli_opt_parse(cmd, argc - 1, argv + 1, &a, &first);
    if (rc != 0)
        return rc == CLI_OPT_SHOWN_HELP ? EXIT_OK : rc;
    if (first + 1 < argc)
        return cli_usage_error(cmd->name, "unexpected argument '%s'", argv[first + 1]);
    if (a.key_file != NULL && a.keyring != NULL)
        return cli_usage_error(cmd->name, "give --keyring or --key-file, not both");
    if (a.key_file != NULL) {
        path = a.key_file;
        is_file = true;
    } else {
        path = keyring_of(cmd->name, &a, &cfg, &is_file);
        if (path == NULL)
            return EXIT_USAGE;
    }
    rc = EXIT_OK;
    switch (id) {
    case SUB_LIST:
        rc = keys_list(cmd->name, path, a.json);
        break;
    case SUB_NEW:
    case SUB_ROTATE:
        if (is_file) {
            if (id == SUB_ROTATE) {
                rc = cli_usage_error(
                    cmd->name, "%s is a single key file; rotation needs a keyring directory", path);
                break;
            }
            if (crypt_key_new_file(path, kid, &err) != 0) {
                cli_error(cmd->name, "%s", err.msg);
                rc = EXIT_FAIL;
                break;
            }
            printf("new key %s in %s\n", kid, cli_esc(path, esc, sizeof(esc)));
            break;
        }
        if (id == SUB_NEW) {
            struct crypt_keyring *kr = crypt_keyring_load(path, &err);
            size_t n = crypt_keyring_count(kr);
            crypt_keyring_free(kr);
            if (n > 0) {
                cli_error(cmd->name,
                          "keyring %s already holds %zu key%s; 'intentus keys rotate' adds one",
                          path, n, n == 1 ? "" : "s");
                rc = EXIT_FAIL;
                break;
            }
        }
        if (crypt_keyring_add(path, kid, file, sizeof(file), &err) != 0) {
            cli_error(cmd->name, "%s", err.msg);
            rc = EXIT_FAIL;
            break;
        }
        printf("%s key %s in %s (%s); it encrypts new writes\n",
               id == SUB_NEW ? "new" : "rotated to", kid, cli_esc(path, esc, sizeof(esc)), file);
        break;
    }
    config_free(cfg);
    return rc;
}
