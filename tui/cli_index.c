/* intentus index rebuild|check|stats: the persistent record index
 * (watch/index_db.h) that records list and records stats read through. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "tui/cli.h"
#include "tui/cli_opt.h"
#include "tui/fmt.h"
#include "watch/index_db.h"

struct index_args {
    const char *dir, *config;
};

#define F(field) offsetof(struct index_args, field)
static const struct cli_opt index_opts[] = {
    { .name = "dir",
      .short_name = 'd',
      .kind = CLI_OPT_STRING,
      .arg = "DIR",
      .offset = F(dir),
      .help = "record directory (default: the config's\nrecording.dir, else "
              "$INTENTUSNET_RECORDS_PATH,\nelse .intentusnet/records)" },
    { .name = "config",
      .short_name = 'c',
      .kind = CLI_OPT_STRING,
      .arg = "FILE",
      .offset = F(config),
      .help = "config file to take the record directory from" },
    { .name = "help", .short_name = 'h', .kind = CLI_OPT_HELP, .help = "this help" },
    { .name = NULL },
};
#undef F

enum index_sub { SUB_REBUILD, SUB_CHECK, SUB_STATS };

static const struct {
    enum index_sub id;
    const char *summary;
    struct cli_cmd cmd;
} subcommands[] = {
    { SUB_REBUILD,
      "delete the index and build it anew from the record files",
      { "index rebuild", "[options]",
        "Delete the record directory's index and build it anew from the record\n"
        "files. Never needed for correctness (a damaged index is rebuilt by itself)\n"
        "but always safe.\n",
        index_opts } },
    { SUB_CHECK,
      "compare the index with a fresh read of every record file",
      { "index check", "[options]",
        "Bring the index up to date as every command does, then compare each of its\n"
        "rows with a fresh read of the record file, and the counters `records stats`\n"
        "reads with a count of the rows: one line per difference.\n"
        "Exit status: 0 they agree, 1 any difference or failure, 2 usage error.\n",
        index_opts } },
    { SUB_STATS,
      "where the index is, its size and what it holds",
      { "index stats", "[options]",
        "Bring the index up to date and print where it lives, how many records,\n"
        "corrupt files and attempts it holds, its size on disk and what this open\n"
        "did (files read, rows removed, rebuilt and why).\n",
        index_opts } },
};

#define N_SUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void
index_help(FILE *f)
{
    fprintf(f, "Usage: intentus index COMMAND [options]\n\n"
               "The record index: a SQLite cache of the record files that records list\n"
               "and records stats read through. Deleting it is always safe.\n\nCommands:\n");
    for (size_t i = 0; i < N_SUB; i++)
        fprintf(f, "  %-8s %s\n", subcommands[i].cmd.name + strlen("index "),
                subcommands[i].summary);
    fprintf(f, "\nEvery command takes -d/--dir DIR and -c/--config FILE.\n");
}

static void
print_diff(void *ctx, const char *id, const char *what)
{
    char a[FMT_ESC_SIZE(160)], b[FMT_ESC_SIZE(1024)];

    (void)ctx;
    printf("%s: %s\n", cli_esc(id, a, sizeof(a)), cli_esc(what, b, sizeof(b)));
}

static void
print_info(const struct index_db_info *in, double ms, bool rebuilt_asked)
{
    char p[FMT_ESC_SIZE(4096)];

    printf("index:    %s\n", cli_esc(in->path, p, sizeof(p)));
    printf("location: %s\n", in->in_cache ? "cache folder (the record directory is not writable)"
                                          : "record directory");
    printf("schema:   %d\n", INDEX_DB_SCHEMA);
    printf("records:  %zu (%zu corrupt)\n", in->records, in->corrupt);
    printf("attempts: %zu agent steps\n", in->steps);
    printf("size:     %lld bytes", (long long)in->db_bytes);
    if (in->records > 0)
        printf(" (%lld per record)", (long long)in->db_bytes / (long long)in->records);
    printf("\nthis run: %zu files read, %zu rows removed, %.0f ms", in->read, in->removed, ms);
    if (in->unchanged_dir)
        printf(", directory unchanged since the last full comparison (no file looked at)");
    if (in->rebuilt[0] != '\0') {
        char why[FMT_ESC_SIZE(256)];
        printf(", rebuilt (%s)",
               rebuilt_asked ? "as asked" : cli_esc(in->rebuilt, why, sizeof(why)));
    }
    printf("\n");
}

int
cli_index(int argc, char **argv)
{
    const struct cli_cmd *cmd = NULL;
    enum index_sub id = SUB_STATS;
    struct index_args a = { 0 };
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    struct index_db *db;
    const char *dir;
    int64_t t0;
    int rc, first = 0;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        index_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < N_SUB; i++) {
        if (strcmp(argv[1], subcommands[i].cmd.name + strlen("index ")) == 0) {
            cmd = &subcommands[i].cmd;
            id = subcommands[i].id;
        }
    }
    if (cmd == NULL)
        return cli_usage_error("index", "unknown command '%s' (rebuild, check, stats)", argv[1]);
    rc = cli_opt_parse(cmd, argc - 1, argv + 1, &a, &first);
    if (rc != 0)
        return rc == CLI_OPT_SHOWN_HELP ? EXIT_OK : rc;
    if (first + 1 < argc)
        return cli_usage_error(cmd->name, "unexpected argument '%s'", argv[first + 1]);
    dir = cli_records_dir(a.dir, a.config, &cfg);
    if (dir == NULL)
        return EXIT_USAGE; /* the config did not load; the error is printed */
    t0 = clock_mono_us();
    db = index_db_open(dir, id == SUB_REBUILD, &err);
    if (db == NULL) {
        cli_error(cmd->name, "%s", err.msg);
        config_free(cfg);
        return EXIT_FAIL;
    }
    rc = EXIT_OK;
    if (id == SUB_CHECK) {
        long diffs = index_db_check(db, print_diff, NULL, &err);
        if (diffs < 0) {
            cli_error(cmd->name, "%s", err.msg);
            rc = EXIT_FAIL;
        } else {
            printf("%zu records checked against their files: %ld difference%s\n",
                   index_db_info(db)->records, diffs, diffs == 1 ? "" : "s");
            rc = diffs == 0 ? EXIT_OK : EXIT_FAIL;
        }
    } else {
        print_info(index_db_info(db), (double)(clock_mono_us() - t0) / 1000.0, id == SUB_REBUILD);
    }
    index_db_close(db);
    config_free(cfg);
    return rc;
}
