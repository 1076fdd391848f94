/* The `intentus records` family: the arguments its option tables fill
 * (one table per subcommand, in cli_records.c) and the commands
 * that live in other files (stats and tail in cli_records_watch.c, gc in
 * cli_records_gc.c, diff in cli_records_diff.c). */
#ifndef INTENTUS_TUI_CLI_RECORDS_H
#define INTENTUS_TUI_CLI_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/rec_store.h"
#include "watch/digest.h"
#include "watch/index.h"

struct rec_args {
    const char *cmd; /* "records list", for messages */
    const char *dir, *config;
    /* --store URL (core/store.h): the store to read instead of --dir; the
     * dispatcher also fills it from the config's recording.store */
    const char *store;
    /* migrate, import, export --to: the stores copied between */
    const char *from, *to;
    bool progress;
    const char *keyring; /* --keyring: decrypt with it (core/crypt.h) */
    /* export */
    const char *out;
    bool decrypt;
    bool json;
    long limit;
    /* filters (list, stats, tail, gc) */
    const char *intent, *agent, *status, *error_code, *search;
    int64_t since_ms; /* -1: none */
    /* gc */
    int64_t older_than_ms, max_count, max_bytes; /* -1: none */
    const char *archive;
    bool dry_run, yes;
    /* tail */
    bool follow;
    int poll_ms; /* 0: inotify (polling when it fails); > 0: poll */
    /* verify */
    const char *wal_dir;    /* --wal-dir; NULL: the config's wal.dir */
    const char *public_key; /* --public-key; NULL: the config's wal.public_key */
    bool verbose;
    /* every read command: read the record files, not the index (watch/index_db.h) */
    bool no_index;
    /* show */
    bool tree;     /* --tree: the execution's tree of sub-intents (core/subtree.h) */
    int first_arg; /* index of the first positional argument */
};

/* Settle a->store before a command runs: --store, else (without --dir)
 * the config's recording.store. A file: store becomes a->dir (today's
 * code reads it) and a->store NULL; another engine stays in a->store (buf
 * holds it when it came from the config). 0, or EXIT_USAGE (printed). */
int cli_records_resolve_store(struct rec_args *a, char *buf, size_t size);
/* The index of a->store (another engine than files): its own SQLite
 * database for sqlite:, opened without creating; NULL with err set
 * otherwise. */
struct index_db *cli_records_store_db(const struct rec_args *a, struct intentus_err *err);
/* a->store names an engine with no local SQLite index (postgres): the read
 * commands then load the records they select through the engine
 * (store_query, store_get) with cli_records_index_of. */
bool cli_records_store_remote(const struct rec_args *a);

/* The reading keys of a command on a->store (core/crypt.h crypt_reader):
 * --keyring, else $INTENTUS_KEYRING (set by main), else the config's
 * recording.encryption, so a sealed record of sqlite or postgres opens as
 * a sealed file does. 0, or EXIT_USAGE (printed) when a keyring does not
 * load. */
int cli_records_store_keys(const struct rec_args *a);

/* The records directory from --dir / --config; NULL (message printed) when
 * there is none. *cfg is freed by the caller with config_free. */
const char *cli_records_dir_of(const struct rec_args *a, struct config **cfg);

/* The watch/ filter the options --intent, --agent, --status, --error,
 * --since and --search give; cli_records_filtered: is any of them set? */
void cli_records_filter(const struct rec_args *a, struct index_filter *f);
bool cli_records_filtered(const struct rec_args *a);

/* Those filters applied to one record at a time (gc's plan, tail -f). */
struct cli_select;
struct cli_select *cli_select_new(const struct rec_args *a); /* NULL: out of memory */
void cli_select_free(struct cli_select *s);
bool cli_select_digest(struct cli_select *s, const struct digest *d);
/* The filter s applies (borrowed from s). */
const struct index_filter *cli_select_filter(const struct cli_select *s);
/* Index the records of dir that sel selects (sel NULL: all) into ix. */
int cli_records_index(const char *dir, struct cli_select *sel, struct index *ix,
                      struct intentus_err *err);
/* The same from a->store when cli_records_store_remote(a) (every selected
 * record's text through the engine, digested), else cli_records_index. */
int cli_records_index_store(const struct rec_args *a, struct cli_select *sel, struct index *ix,
                            struct intentus_err *err);
int cli_records_index_of(const struct rec_args *a, const char *dir, struct cli_select *sel,
                         struct index *ix, struct intentus_err *err);

/* Like cli_records_index, through the persistent index (reconciled with
 * the directory first) unless a->no_index; a->cmd names the command in the
 * warning printed when the index cannot be used and the files are read.
 * newest > 0 (only without sel): ix needs no more than the newest that
 * many records (it may hold more). */
int cli_records_load(const struct rec_args *a, const char *dir, struct cli_select *sel,
                     size_t newest, struct index *ix, struct intentus_err *err);

/* The persistent index of dir, reconciled with the files, for a command
 * that reads through it; NULL when a->no_index, or when the index cannot be
 * used: then the warning is printed and the caller reads the files, unless
 * err->code is set (the directory itself is missing: fail with err). */
struct index_db;
struct index_db *cli_records_db(const struct rec_args *a, const char *dir,
                                struct intentus_err *err);
/* A query on the index failed (why): print that the files are read instead. */
void cli_records_db_failed(const struct rec_args *a, const struct intentus_err *why);

/* One record as a `records list` line, or as one line of compact JSON. */
void cli_records_print_row(const struct index_view *v, bool json);

int cli_records_stats(const struct rec_args *a);
int cli_records_tail(const struct rec_args *a);
int cli_records_gc(const struct rec_args *a);
/* records export --decrypt --out DIR [ID...] [filters] (cli_records_export.c). */
int cli_records_export(const struct rec_args *a, int argc, char **argv);
/* records migrate --from URL --to URL, import --from URL, export --to URL
 * (cli_records_copy.c): a->cmd tells which. */
int cli_records_copy(const struct rec_args *a, int argc, char **argv);
/* records diff A B: argv[a->first_arg] and the one after. */
int cli_records_diff(const struct rec_args *a, int argc, char **argv);
/* records show --tree ID (cli_records_tree.c): the tree id belongs to. */
/* load reads one record by id (owned by the caller; NULL with err): the
 * record directory's or another engine's (records show's source). */
typedef cJSON *(*cli_record_load_fn)(void *ctx, const char *id, struct intentus_err *err);
int cli_records_tree(const struct rec_args *a, cli_record_load_fn load, void *ctx, const char *id);
/* records fingerprint ID (cli_records_tree.c): core/fingerprint.h's. */
int cli_records_fingerprint(const struct rec_args *a, cli_record_load_fn load, void *ctx,
                            const char *id);

#endif
