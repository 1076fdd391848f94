/* intentus records list|show|verify|diff|stats|tail|gc and intentus retrieve.
 * list, stats and tail read the directory through watch/ (the index the
 * console uses); gc is the only command here that removes files. */
#include "tui/cli_records.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/crypt.h"
#include "core/gateway.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/recovery.h"
#include "core/store.h"
#include "core/units.h"
#include "core/wal.h"
#include "core/wal_sign.h"
#include "tui/cli.h"
#include "tui/cli_opt.h"
#include "tui/fmt.h"
#include "watch/digest.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/index_query.h"
#include "watch/stores.h"
#include "watch/tailer.h"

/* ---- option values ---- */

static int
parse_duration(const char *arg, void *field, char *why, size_t size)
{
    struct intentus_err err = { 0 };

    if (units_parse_duration_ms(arg, field, &err) != 0) {
        snprintf(why, size, "%s", err.msg);
        return -1;
    }
    return 0;
}

/* --older-than: the reference takes days as a bare number. */
static int
parse_age_days(const char *arg, void *field, char *why, size_t size)
{
    const char *p = arg;
    char days[64];

    while (*p >= '0' && *p <= '9')
        p++;
    if (*p != '\0' || p == arg || p - arg > 32)
        return parse_duration(arg, field, why, size);
    snprintf(days, sizeof(days), "%sd", arg);
    return parse_duration(days, field, why, size);
}

static int
parse_count64(const char *arg, void *field, char *why, size_t size)
{
    char *end;
    long long n = strtoll(arg, &end, 10);

    if (*end != '\0' || end == arg || n < 0 || n == LLONG_MAX) {
        snprintf(why, size, "'%s' is not a non-negative number", arg);
        return -1;
    }
    *(int64_t *)field = n;
    return 0;
}

static int
parse_size(const char *arg, void *field, char *why, size_t size)
{
    struct intentus_err err = { 0 };
    uint64_t bytes;

    if (units_parse_size(arg, &bytes, &err) != 0 || bytes > INT64_MAX) {
        snprintf(why, size, "%s", err.msg[0] ? err.msg : "too large");
        return -1;
    }
    *(int64_t *)field = (int64_t)bytes;
    return 0;
}

static int
parse_status(const char *arg, void *field, char *why, size_t size)
{
    if (!index_status_is_valid(arg)) {
        snprintf(why, size, "'%s' is not ok, error, incomplete or corrupt", arg);
        return -1;
    }
    *(const char **)field = arg;
    return 0;
}

/* gc never touches a file that is not a record, so "corrupt" selects nothing. */
static int
parse_gc_status(const char *arg, void *field, char *why, size_t size)
{
    if (arg != NULL && strcmp(arg, "corrupt") == 0) {
        snprintf(why, size,
                 "'corrupt': gc never removes files that are not records "
                 "(give ok, error or incomplete)");
        return -1;
    }
    return parse_status(arg, field, why, size);
}

static int
parse_poll(const char *arg, void *field, char *why, size_t size)
{
    char *end;
    long n;

    *(int *)field = 1000;
    if (arg == NULL)
        return 0;
    n = strtol(arg, &end, 10);
    if (*end != '\0' || end == arg || n <= 0 || n > INT_MAX) {
        snprintf(why, size, "'%s': give milliseconds, more than 0", arg);
        return -1;
    }
    *(int *)field = (int)n;
    return 0;
}

/* ---- option tables: one per subcommand ---- */

#define F(field) offsetof(struct rec_args, field)
#define OPT_DIR                                                                                    \
    {                                                                                              \
        .name = "dir", .short_name = 'd', .kind = CLI_OPT_STRING, .arg = "DIR", .offset = F(dir),  \
        .help = "record directory (default: the config's\nrecording.dir, else "                    \
                "$INTENTUSNET_RECORDS_PATH,\nelse .intentusnet/records)"                           \
    }
#define OPT_KEYRING                                                                                \
    {                                                                                              \
        .name = "keyring", .kind = CLI_OPT_STRING, .arg = "DIR|FILE", .offset = F(keyring),        \
        .help = "keyring (or key file) to decrypt encrypted records\nwith (default: "              \
                "$INTENTUS_KEYRING, else the\nconfig's recording.encryption)"                      \
    }
#define OPT_CONFIG                                                                                 \
    {                                                                                              \
        .name = "config", .short_name = 'c', .kind = CLI_OPT_STRING, .arg = "FILE",                \
        .offset = F(config), .help = "config file to take the record directory from"               \
    }
#define OPT_JSON(h)                                                                                \
    {                                                                                              \
        .name = "json", .short_name = 'j', .kind = CLI_OPT_FLAG, .offset = F(json), .help = (h)    \
    }
#define OPT_HELP                                                                                   \
    {                                                                                              \
        .name = "help", .short_name = 'h', .kind = CLI_OPT_HELP, .help = "this help"               \
    }
#define OPT_END                                                                                    \
    {                                                                                              \
        .name = NULL                                                                               \
    }
#define OPT_STORE                                                                                  \
    {                                                                                              \
        .name = "store", .kind = CLI_OPT_STRING, .arg = "URL", .offset = F(store),                 \
        .help = "the store to read: file:DIR (the same as --dir),\nsqlite:PATH or postgres://... " \
                "(default: the\nconfig's recording.store, else file:<record directory>)"           \
    }
#define OPT_PROGRESS                                                                               \
    {                                                                                              \
        .name = "progress", .kind = CLI_OPT_FLAG, .offset = F(progress),                           \
        .help = "progress on stderr also when it is not a terminal"                                \
    }
#define OPT_NO_INDEX                                                                               \
    {                                                                                              \
        .name = "no-index", .kind = CLI_OPT_FLAG, .offset = F(no_index),                           \
        .help = "read the record files, not the record index\n(the answer is the same)"            \
    }
#define STATUS_HELP "only records with this status: ok, error, incomplete\nor corrupt"
/* The record filters of list, stats, tail and gc (watch/index.h's). */
#define OPT_FILTERS(status_parse, status_help)                                                     \
    { .name = "intent",                                                                            \
      .kind = CLI_OPT_STRING,                                                                      \
      .arg = "NAME",                                                                               \
      .offset = F(intent),                                                                         \
      .help = "only records of this intent" },                                                     \
        { .name = "agent",                                                                         \
          .kind = CLI_OPT_STRING,                                                                  \
          .arg = "NAME",                                                                           \
          .offset = F(agent),                                                                      \
          .help = "only records this agent decided or attempted" },                                \
        { .name = "status",                                                                        \
          .kind = CLI_OPT_PARSE,                                                                   \
          .arg = "STATUS",                                                                         \
          .offset = F(status),                                                                     \
          .parse = (status_parse),                                                                 \
          .help = (status_help) },                                                                 \
        { .name = "error",                                                                         \
          .kind = CLI_OPT_STRING,                                                                  \
          .arg = "CODE",                                                                           \
          .offset = F(error_code),                                                                 \
          .help = "only records whose final error, or any failed\nattempt's (also in "             \
                  "executions that succeeded),\nis CODE" },                                        \
        { .name = "since",                                                                         \
          .kind = CLI_OPT_PARSE,                                                                   \
          .arg = "AGE",                                                                            \
          .offset = F(since_ms),                                                                   \
          .parse = parse_duration,                                                                 \
          .help = "only records created in the last AGE (1h, 30m, 7d)" },                          \
    {                                                                                              \
        .name = "search", .kind = CLI_OPT_STRING, .arg = "TEXT", .offset = F(search),              \
        .help = "only records with TEXT in their id or intent\n(any case)"                         \
    }

static const struct cli_opt list_opts[] = {
    OPT_DIR,
    OPT_STORE,
    OPT_KEYRING,
    OPT_CONFIG,
    OPT_JSON("a JSON array instead of the table"),
    { .name = "limit",
      .short_name = 'l',
      .kind = CLI_OPT_COUNT,
      .arg = "N",
      .offset = F(limit),
      .help = "at most N records (the newest)" },
    OPT_FILTERS(parse_status, STATUS_HELP),
    OPT_NO_INDEX,
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt show_opts[] = {
    OPT_DIR,
    OPT_STORE,
    OPT_KEYRING,
    OPT_CONFIG,
    { .name = "tree",
      .short_name = 't',
      .kind = CLI_OPT_FLAG,
      .offset = F(tree),
      .help = "the tree of sub-intents the execution belongs to\n(root, children, their "
              "timing) instead of the file" },
    OPT_JSON("with --tree: the tree as a JSON array"),
    OPT_NO_INDEX,
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt fingerprint_opts[] = {
    OPT_DIR,
    OPT_STORE,
    OPT_KEYRING,
    OPT_CONFIG,
    OPT_JSON("the fingerprint, its parts and what was hashed"),
    OPT_NO_INDEX,
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt verify_opts[] = {
    OPT_DIR,
    OPT_STORE,
    OPT_KEYRING,
    { .name = "config",
      .short_name = 'c',
      .kind = CLI_OPT_STRING,
      .arg = "FILE",
      .offset = F(config),
      .help = "config file: its record directory and wal.dir" },
    { .name = "wal-dir",
      .short_name = 'w',
      .kind = CLI_OPT_STRING,
      .arg = "DIR",
      .offset = F(wal_dir),
      .help = "WAL directory to check records against\n"
              "(default: the config's wal.dir)" },
    { .name = "public-key",
      .short_name = 'k',
      .kind = CLI_OPT_STRING,
      .arg = "FILE",
      .offset = F(public_key),
      .help = "Ed25519 public key the WALs' signatures are checked\nwith (PEM, raw 32 bytes or 64 "
              "hex digits; default:\nthe config's wal.public_key): a missing, foreign or\n"
              "forged signature fails naming the seq" },
    { .name = "verbose",
      .short_name = 'v',
      .kind = CLI_OPT_FLAG,
      .offset = F(verbose),
      .help = "a line for every record that passes, noting when it\nhas no WAL" },
    OPT_FILTERS(parse_status, STATUS_HELP),
    OPT_NO_INDEX,
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt export_opts[] = {
    OPT_DIR,
    OPT_KEYRING,
    OPT_CONFIG,
    { .name = "out",
      .short_name = 'o',
      .kind = CLI_OPT_STRING,
      .arg = "DIR",
      .offset = F(out),
      .help = "write the records into DIR (created 0700; an\nexisting file is never replaced)" },
    { .name = "decrypt",
      .kind = CLI_OPT_FLAG,
      .offset = F(decrypt),
      .help = "required: say that the copies are plaintext\n(with --to: copy sealed records "
              "as plaintext;\nwithout it they stay sealed)" },
    { .name = "to",
      .kind = CLI_OPT_STRING,
      .arg = "URL",
      .offset = F(to),
      .help = "copy into the store URL instead (file:DIR,\nsqlite:PATH, postgres://...): see "
              "records migrate" },
    OPT_STORE,
    OPT_PROGRESS,
    OPT_FILTERS(parse_gc_status, STATUS_HELP),
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt migrate_opts[] = {
    OPT_KEYRING,
    { .name = "from",
      .kind = CLI_OPT_STRING,
      .arg = "URL",
      .offset = F(from),
      .help = "the store to copy from (file:DIR, sqlite:PATH,\npostgres://...)" },
    { .name = "to",
      .kind = CLI_OPT_STRING,
      .arg = "URL",
      .offset = F(to),
      .help = "the store to copy into (created when missing)" },
    { .name = "decrypt",
      .kind = CLI_OPT_FLAG,
      .offset = F(decrypt),
      .help = "copy encrypted records as plaintext (without\nit they are copied sealed, as "
              "stored)" },
    OPT_PROGRESS,
    OPT_FILTERS(parse_gc_status, STATUS_HELP),
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt import_opts[] = {
    OPT_DIR,
    OPT_KEYRING,
    OPT_CONFIG,
    OPT_STORE,
    { .name = "from",
      .kind = CLI_OPT_STRING,
      .arg = "URL",
      .offset = F(from),
      .help = "the store to copy from (a record directory is\nfile:DIR, or just DIR)" },
    { .name = "decrypt",
      .kind = CLI_OPT_FLAG,
      .offset = F(decrypt),
      .help = "copy encrypted records as plaintext (without\nit they are copied sealed, as "
              "stored)" },
    OPT_PROGRESS,
    OPT_FILTERS(parse_gc_status, STATUS_HELP),
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt diff_opts[] = {
    OPT_DIR,
    OPT_STORE,
    OPT_KEYRING,
    OPT_CONFIG,
    OPT_JSON("the whole diff as JSON, every value whole"),
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt stats_opts[] = {
    OPT_DIR,
    OPT_STORE,
    OPT_KEYRING,
    OPT_CONFIG,
    OPT_JSON("the figures as JSON"),
    OPT_FILTERS(parse_status, STATUS_HELP),
    OPT_NO_INDEX,
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt tail_opts[] = {
    OPT_DIR,
    OPT_STORE,
    OPT_KEYRING,
    OPT_CONFIG,
    OPT_JSON("one line of compact JSON per record"),
    { .name = "follow",
      .short_name = 'f',
      .kind = CLI_OPT_FLAG,
      .offset = F(follow),
      .help = "keep printing records as they arrive" },
    { .name = "lines",
      .short_name = 'n',
      .kind = CLI_OPT_COUNT,
      .arg = "N",
      .offset = F(limit),
      .help = "the last N records first (default 10)" },
    { .name = "poll",
      .kind = CLI_OPT_PARSE,
      .arg = "MS",
      .arg_optional = true,
      .offset = F(poll_ms),
      .parse = parse_poll,
      .help = "with -f: poll instead of inotify, for network\nfilesystems (default 1000 ms)" },
    OPT_FILTERS(parse_status, STATUS_HELP),
    OPT_NO_INDEX,
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt gc_opts[] = {
    OPT_DIR,
    OPT_STORE,
    OPT_KEYRING,
    { .name = "config",
      .short_name = 'c',
      .kind = CLI_OPT_STRING,
      .arg = "FILE",
      .offset = F(config),
      .help = "config file: its record directory and, when no\n"
              "limit is given, its \"retention\" section (limits,\n"
              "archive_dir)" },
    OPT_JSON("the plan or the result as JSON"),
    { .name = "older-than",
      .kind = CLI_OPT_PARSE,
      .arg = "AGE",
      .offset = F(older_than_ms),
      .parse = parse_age_days,
      .help = "remove records older than AGE (30d, 12h; a bare\nnumber is days, as in the "
              "reference)" },
    { .name = "max-count",
      .kind = CLI_OPT_PARSE,
      .arg = "N",
      .offset = F(max_count),
      .parse = parse_count64,
      .help = "keep at most N records (of those selected)" },
    { .name = "max-bytes",
      .kind = CLI_OPT_PARSE,
      .arg = "SIZE",
      .offset = F(max_bytes),
      .parse = parse_size,
      .help = "keep at most SIZE bytes of records (512K, 10M, 1G)" },
    { .name = "archive",
      .kind = CLI_OPT_STRING,
      .arg = "DIR",
      .offset = F(archive),
      .help = "gzip each record into DIR as <id>.json.gz instead of\ndeleting it (created "
              "0700 when missing)" },
    { .name = "wal-dir",
      .short_name = 'w',
      .kind = CLI_OPT_STRING,
      .arg = "DIR",
      .offset = F(wal_dir),
      .help = "the records' WALs (default: the config's wal.dir):\na removed record's WAL goes "
              "with it (as <id>.wal.gz\nwith --archive) when its execution finished;\n"
              "unfinished, torn or corrupt WALs stay (see wal gc)" },
    { .name = "dry-run",
      .kind = CLI_OPT_FLAG,
      .offset = F(dry_run),
      .help = "report exactly what would go; change nothing" },
    { .name = "yes",
      .short_name = 'y',
      .kind = CLI_OPT_FLAG,
      .offset = F(yes),
      .help = "no question (without it gc asks on a terminal and\nrefuses otherwise)" },
    OPT_FILTERS(parse_gc_status, "only records with this status: ok, error or\nincomplete"),
    OPT_NO_INDEX,
    OPT_HELP,
    OPT_END,
};

static const struct cli_opt retrieve_opts[] = { OPT_DIR,      OPT_STORE, OPT_KEYRING, OPT_CONFIG,
                                                OPT_NO_INDEX, OPT_HELP,  OPT_END };

static const struct cli_cmd retrieve_cmd = {
    .name = "retrieve",
    .usage = "ID [options]",
    .about = "Print the stored response of an execution with whether its envelope hash\n"
             "still verifies. Nothing is re-run: no agent, router or model is called.\n"
             "ID may be the start of an id only one record has.\n"
             "Exit status: 0 retrieved, 1 not found or not retrievable, 2 usage error.\n",
    .opts = retrieve_opts,
};

/* `intentus replay`: the MCP gateway's recorded responses (core/gateway.h). */
#define OPT_REPLAY_JSON                                                                            \
    {                                                                                              \
        .name = "json", .kind = CLI_OPT_FLAG, .offset = F(json),                                   \
        .help = "print the reference's whole ReplayResult (request, hashes,\n"                     \
                "seed, timing, WAL entries), not just the result"                                  \
    }
static const struct cli_opt replay_opts[] = { OPT_DIR,      OPT_KEYRING,     OPT_CONFIG,
                                              OPT_NO_INDEX, OPT_REPLAY_JSON, OPT_HELP,
                                              OPT_END };

static const struct cli_cmd replay_cmd = {
    .name = "replay",
    .usage = "ID [options]",
    .about = "Print the recorded response of an MCP gateway execution (intentus gateway):\n"
             "the JSON-RPC result of the tools/call, as the server sent it (after\n"
             "redaction, if a rule matched). No MCP tool is re-executed and no server\n"
             "is contacted: this is a playback of the record. ID may be the start of an\n"
             "id only one record has. A recorded JSON-RPC error is printed and exits 1.\n"
             "Exit status: 0 replayed, 1 not found, not a gateway execution, no\n"
             "recorded response or a recorded error, 2 usage error.\n",
    .opts = replay_opts,
};

enum rec_sub_id {
    SUB_LIST,
    SUB_SHOW,
    SUB_VERIFY,
    SUB_DIFF,
    SUB_STATS,
    SUB_TAIL,
    SUB_GC,
    SUB_EXPORT,
    SUB_FINGERPRINT,
    SUB_MIGRATE,
    SUB_IMPORT
};

static const struct rec_sub {
    enum rec_sub_id id;
    const char *summary;
    struct cli_cmd cmd;
} subcommands[] = {
    { SUB_LIST,
      "records, newest first; corrupt files shown",
      { "records list", "[options]",
        "Records, newest first, one line each; files that do not parse are shown as\n"
        "CORRUPT with the reason. Filters combine (all must match).\n",
        list_opts } },
    { SUB_SHOW,
      "one record file, byte for byte",
      { "records show", "ID [options]",
        "The record file <dir>/ID.json byte for byte (also <id>.json.gz of a gc\n"
        "archive directory, decompressed; an encrypted record decrypted, after its\n"
        "tag verified), after checking that it is a record.\n"
        "ID may be the start of an id only one record has (found through the\n"
        "record index, or with --no-index in the directory listing).\n"
        "On a terminal, control characters are shown escaped (\\e, \\x07, \\u009b).\n",
        show_opts } },
    { SUB_VERIFY,
      "re-read records, recompute envelopeHash, check the WAL",
      { "records verify", "[ID...] [options]",
        "Re-read records (all, or the IDs given), check their structure and\n"
        "recompute envelopeHash; an encrypted record's authentication tag is checked\n"
        "first (tampered, truncated and key-missing files fail, each named). When\n"
        "<wal-dir>/ID.wal exists, also check the record against it (envelope hash,\n"
        "outcome, steps). Ends with 'N passed, M failed'; exit 1 on any failure.\n"
        "The filters (--intent, --agent, --status, --error, --since, --search) pick\n"
        "the records to check as `records list` does, through the record index\n"
        "(--no-index: from the files); they cannot be given with IDs.\n",
        verify_opts } },
    { SUB_DIFF,
      "compare two records section by section",
      { "records diff", "A B [options]",
        "Compare two records by section: input (envelope), output (finalResponse),\n"
        "trace (events), metadata (header, routerDecision).\n"
        "Exit status as diff(1): exit 0 identical, 1 different, 2 usage error or a\n"
        "record missing or unreadable.\n",
        diff_opts } },
    { SUB_STATS,
      "per-agent and per-intent figures",
      { "records stats", "[options]",
        "Per-agent and per-intent calls, failures by error code, failure rates,\n"
        "latency p50/p95/p99, last error, circuit state and retries, over the\n"
        "records the filters select (all by default).\n",
        stats_opts } },
    { SUB_TAIL,
      "the last records, and with -f new ones as they arrive",
      { "records tail", "[options]",
        "The last N records (10) the filters select, oldest first, one line each;\n"
        "with -f keep printing selected records as they arrive.\n",
        tail_opts } },
    { SUB_GC,
      "retention: remove or archive the oldest records",
      { "records gc", "[options]",
        "Retention: remove (or gzip into --archive DIR) the oldest records beyond\n"
        "the limits. With filters, only the records they select are considered:\n"
        "the limits apply to those alone and no other record is touched. Without\n"
        "a limit option, the config's \"retention\" section gives the policy. The\n"
        "plan is made once: --dry-run lists exactly what applying it removes.\n"
        "Every action is logged to DIR/.intentus-retention.log.\n",
        gc_opts } },
    { SUB_EXPORT,
      "copy records out as plaintext (--decrypt), for a reference",
      { "records export", "--decrypt --out DIR [ID...] [options]",
        "Write the records (all, the IDs given, or those the filters select) to\n"
        "DIR/<id>.json as plaintext, byte for byte the record as it was before it\n"
        "was encrypted (archived <id>.json.gz records decompressed), so the Python\n"
        "reference and other tools read them. Records that cannot be read (key\n"
        "missing, tampered, truncated, corrupt) are named and skipped; nothing in\n"
        "the record directory changes. Ends with 'N exported to DIR, M failed'; exit 1\n"
        "on any failure.\n"
        "With --to URL instead of --out: copy the records into that store, as\n"
        "records migrate does (from this command's store).\n",
        export_opts } },
    { SUB_FINGERPRINT,
      "an execution's fingerprint (decision, attempts, response)",
      { "records fingerprint", "ID [options]",
        "The execution's fingerprint: SHA-256 of the canonical JSON of its router\n"
        "decision, its sequence of attempts (every event but INTENT_RECEIVED,\n"
        "ROUTER_DECISION and FINAL_RESPONSE) and its final response, each without\n"
        "what changes from run to run (ids, trace ids, timestamps, timings); then\n"
        "the three parts' own hashes. Equal fingerprints: the same behaviour\n"
        "('intentus check determinism' compares them).\n",
        fingerprint_opts } },
    { SUB_MIGRATE,
      "copy records between stores, losslessly",
      { "records migrate", "--from URL --to URL [options]",
        "Copy the records (all, or those the filters select) from one store to\n"
        "another (file:DIR, sqlite:PATH, postgres://...), byte for byte: each is put by\n"
        "execution id, read back and its SHA-256 compared with the source's. A\n"
        "record already there with the same bytes is skipped, so running it again\n"
        "copies nothing and an interrupted run resumes; one there with other bytes\n"
        "fails, and is left as it is. Nothing in the source changes. Progress on\n"
        "stderr when it is a terminal (or --progress). Ends with 'N copied, M\n"
        "already there, F failed'; exit 1 on any failure.\n"
        "Encrypted records are copied sealed, the bytes the source holds (the\n"
        "SHA-256 is the sealed bytes'). A sqlite or postgres destination indexes\n"
        "them from their plaintext, so there each needs a key that opens it\n"
        "(--keyring, $INTENTUS_KEYRING); without one it fails, naming its key. A\n"
        "file destination needs no key. With --decrypt the copies are plaintext.\n",
        migrate_opts } },
    { SUB_IMPORT,
      "copy records from another store into this one",
      { "records import", "--from URL [options]",
        "records migrate from --from URL into this command's store (--store,\n"
        "--dir, else the config's recording.store or record directory). A\n"
        "reference record directory imports as it is: --from file:DIR.\n",
        import_opts } },
};

#define N_SUBCOMMANDS (sizeof(subcommands) / sizeof(subcommands[0]))

static void
records_help(FILE *f)
{
    fprintf(f, "Usage: intentus records COMMAND [options]\n\nCommands:\n");
    for (size_t i = 0; i < N_SUBCOMMANDS; i++)
        fprintf(f, "  %-11s %s\n", subcommands[i].cmd.name + strlen("records "),
                subcommands[i].summary);
    fprintf(f, "\nEvery command takes -d/--dir DIR, --keyring DIR|FILE (to read encrypted\n"
               "records) and -c/--config FILE; list, show, verify, stats, tail, gc, export\n"
               "and import also --store URL (file:DIR, sqlite:PATH, postgres://...; default:\n"
               "the config's "
               "recording.store). Each takes only its own options: run\n"
               "'intentus records COMMAND --help' for them.\n");
}

static void
rec_args_init(struct rec_args *a, const char *cmd)
{
    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    a->limit = -1;
    a->since_ms = a->older_than_ms = a->max_count = a->max_bytes = -1;
}

const char *
cli_records_dir_of(const struct rec_args *a, struct config **cfg)
{
    const char *dir;

    /* --keyring first: it wins over $INTENTUS_KEYRING and the config. */
    if (cli_keys_from_flag(a->cmd, a->keyring) != 0) {
        *cfg = NULL;
        return NULL;
    }
    dir = cli_records_dir(a->dir, a->config, cfg);
    if (dir != NULL && *cfg == NULL && a->config != NULL) {
        /* --dir with --config: the directory is the flag's, the keys may
         * still be the config's. */
        struct config *c = cli_load_config(a->config);
        if (c == NULL)
            return NULL;
        config_free(c);
    }
    return dir;
}

int
cli_records_store_keys(const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct config *cfg;
    int krc;

    if (cli_keys_from_flag(a->cmd, a->keyring) != 0)
        return EXIT_USAGE;
    if (a->keyring != NULL)
        return 0;
    /* The config's recording.encryption reads what an engine sealed
     * (sqlite, postgres), as it reads sealed files. */
    cfg = config_load(a->config, &err);
    krc = cli_keys_from_config(cfg);
    config_free(cfg);
    return krc != 0 ? EXIT_USAGE : 0;
}

/* *fail is the exit code to use when NULL comes back: a configuration
 * error is a usage error (2), like everywhere else; a directory that cannot
 * be opened is a failure (1). */
static int
cmp_ids(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static struct rec_store *
open_store(const char *cmd, const struct rec_args *a, int *fail)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    const char *dir = cli_records_dir_of(a, &cfg);
    struct rec_store *rs = NULL;

    *fail = dir == NULL ? EXIT_USAGE : EXIT_FAIL;
    if (dir != NULL) {
        rs = rec_store_open(dir, NULL, &err);
        if (rs == NULL)
            cli_error(cmd, "%s", err.msg);
    }
    config_free(cfg);
    return rs;
}

/* The records show, verify and retrieve read: the directory (rs), or
 * another engine's store (st) when a->store names one. */
struct src {
    struct rec_store *rs;
    struct store *st;
};

static int
open_src(const char *cmd, const struct rec_args *a, struct src *src)
{
    struct intentus_err err = { 0 };
    struct store_opts o = { .read_only = true };
    int fail = EXIT_FAIL;

    memset(src, 0, sizeof(*src));
    if (a->store == NULL) {
        src->rs = open_store(cmd, a, &fail);
        return src->rs != NULL ? 0 : fail;
    }
    if (cli_records_store_keys(a) != 0)
        return EXIT_USAGE;
    src->st = store_open_url(stores_builtin, a->store, &o, &err);
    if (src->st == NULL) {
        cli_error(cmd, "%s: %s", a->store, err.msg);
        return EXIT_FAIL;
    }
    return 0;
}

static void
src_close(struct src *src)
{
    rec_store_close(src->rs);
    store_close(src->st);
}

/* The record's text; *st (may be NULL) says whether the file was sealed. */
static char *
src_read(struct src *src, const char *id, size_t *len, enum crypt_status *st,
         struct intentus_err *err)
{
    enum crypt_status dummy;

    if (src->rs != NULL)
        return rec_store_read_st(src->rs, id, len, st != NULL ? st : &dummy, err);
    /* An engine that seals (postgres): opened with the reading keys. */
    return store_get_open(src->st, id, len, st, err);
}

/* err names where the record is: <dir>/<id>.json, or the store and id. */
static void
src_prefix(const struct src *src, struct intentus_err *err, const char *id)
{
    if (src->rs != NULL)
        err_prefix(err, "%s/%s.json", rec_store_dir(src->rs), id);
    else
        err_prefix(err, "%s: record %s", store_url(src->st), id);
}

static int
src_id_row(void *ctx, const struct store_row *row)
{
    struct rec_ids *ids = ctx;
    char **v = realloc(ids->ids, (ids->n + 1) * sizeof(*v));

    if (v == NULL)
        return 1;
    ids->ids = v;
    return (ids->ids[ids->n++] = strdup(row->id)) == NULL;
}

/* Every record id, in id order as rec_store_list gives them. */
static int
src_list(struct src *src, struct rec_ids *ids, struct intentus_err *err)
{
    if (src->rs != NULL)
        return rec_store_list(src->rs, ids, err);
    memset(ids, 0, sizeof(*ids));
    if (store_query(src->st, NULL, src_id_row, ids, err) < 0)
        return -1;
    if (ids->n > 0)
        qsort(ids->ids, ids->n, sizeof(*ids->ids), cmp_ids);
    return 0;
}

/* Read, parse and validate a record (rec_store_load on either). */
static cJSON *
src_load(struct src *src, const char *id, struct intentus_err *err)
{
    size_t len = 0;
    char *text;
    cJSON *rec;

    if (src->rs != NULL)
        return rec_store_load(src->rs, id, err);
    text = store_get_open(src->st, id, &len, NULL, err);
    if (text == NULL)
        return NULL;
    rec = record_parse(text, len, err);
    explicit_bzero(text, len);
    free(text);
    if (rec == NULL)
        src_prefix(src, err, id);
    return rec;
}

static cJSON *
src_load_fn(void *ctx, const char *id, struct intentus_err *err)
{
    return src_load(ctx, id, err);
}

static int
list_json(void *ctx, const struct index_view *v)
{
    cJSON *arr = ctx, *o = cJSON_CreateObject();

    if (o == NULL)
        return 1;
    cJSON_AddStringToObject(o, "executionId", v->id);
    if (v->flags & DIGEST_CORRUPT) {
        cJSON_AddStringToObject(o, "status", digest_bad_word(v->flags));
        cJSON_AddStringToObject(o, "error", v->note ? v->note : "");
    } else {
        char created[CLOCK_ISO_LEN];
        clock_format_iso(v->created_us, created);
        cJSON_AddStringToObject(o, "createdUtcIso", created);
        cJSON_AddStringToObject(o, "intent", v->intent ? v->intent : "");
        cJSON_AddStringToObject(o, "agent", v->agent ? v->agent : "");
        cJSON_AddStringToObject(o, "strategy", v->strategy ? v->strategy : "direct");
        cJSON_AddStringToObject(o, "status", record_status_name(v->status));
        if (v->error_code != NULL)
            cJSON_AddStringToObject(o, "errorCode", v->error_code);
        else
            cJSON_AddNullToObject(o, "errorCode");
        if (v->duration_us >= 0)
            cJSON_AddNumberToObject(o, "durationUs", (double)v->duration_us);
        else
            cJSON_AddNullToObject(o, "durationUs");
        cJSON_AddNumberToObject(o, "attempts", v->attempts);
        cJSON_AddNumberToObject(o, "retries", v->retries);
        cJSON_AddNumberToObject(o, "events", v->events);
        cJSON_AddBoolToObject(o, "timing", !(v->flags & DIGEST_NO_TIMING));
        cJSON_AddBoolToObject(o, "redacted", (v->flags & DIGEST_REDACTED) != 0);
        if (v->node != NULL)
            cJSON_AddStringToObject(o, "node", v->node);
    }
    cJSON_AddNumberToObject(o, "bytes", (double)v->file_size);
    cJSON_AddItemToArray(arr, o);
    return 0;
}

/* Every text from the record is escaped (cli_esc): a record can hold any
 * bytes, and none of them may reach the terminal as a control sequence. */
static int
list_text(void *ctx, const struct index_view *v)
{
    char when[32], intent[FMT_ESC_SIZE(128)], agent[FMT_ESC_SIZE(128)], dur[24];
    char e[FMT_ESC_SIZE(256)], cell[FMT_ESC_SIZE(256)], strategy[FMT_ESC_SIZE(32)];
    FILE *out = ctx != NULL ? ctx : stdout;

    if (v->flags & DIGEST_CORRUPT) {
        char word[16];
        snprintf(word, sizeof(word), "%s", digest_bad_word(v->flags));
        for (char *c = word; *c; c++)
            *c = (char)(*c - 'a' + 'A');
        fprintf(out, "%-19s  %-36s  %-24s  %-16s  %-9s  %-7s  %-20s  %s\n", "-", v->id, "-", "-",
                "-", word, "-", cli_esc(v->note, e, sizeof(e)));
        return 0;
    }
    fmt_time_short(v->created_us, when, sizeof(when));
    fmt_cell(cli_esc(v->intent, e, sizeof(e)), 24, intent, sizeof(intent));
    fmt_cell(cli_esc(v->agent, e, sizeof(e)), 16, agent, sizeof(agent));
    fmt_duration_us(v->duration_us, dur, sizeof(dur));
    fprintf(out, "%-19s  %-36s  %-*s  %-*s  %-9s  %-7s  %-20s  %s\n", when, v->id,
            (int)(24 + strlen(intent) - fmt_width(intent)), intent,
            (int)(16 + strlen(agent) - fmt_width(agent)), agent,
            cli_esc(v->strategy ? v->strategy : "direct", strategy, sizeof(strategy)),
            record_status_name(v->status),
            cli_esc(v->error_code ? v->error_code : "-", cell, sizeof(cell)), dur);
    return 0;
}

void
cli_records_print_row(const struct index_view *v, bool json)
{
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        struct buf b = BUF_INIT;
        if (arr != NULL && list_json(arr, v) == 0 &&
            json_print_compact(cJSON_GetArrayItem(arr, 0), &b) == 0)
            printf("%s\n", b.data);
        buf_free(&b);
        cJSON_Delete(arr);
    } else {
        list_text(NULL, v);
    }
}

/* A row of the persistent index shown as the in-memory index shows it (a
 * one-record index), so both print byte for byte the same. */
struct list_rows {
    struct index *probe;
    bool json;
    cJSON *arr;
    FILE *out; /* the text lines */
};

static int
list_row(void *ctx, const struct digest *d)
{
    struct list_rows *l = ctx;
    struct index_view v;
    int rc = 1;

    if (index_upsert(l->probe, d, NULL) != 0)
        return 1;
    if (index_find(l->probe, d->id, &v) == 0)
        rc = l->json ? list_json(l->arr, &v) : list_text(l->out, &v);
    index_remove(l->probe, d->id);
    return rc;
}

static void
list_header(FILE *out)
{
    fprintf(out, "%-19s  %-36s  %-24s  %-16s  %-9s  %-7s  %-20s  %s\n", "CREATED (UTC)", "ID",
            "INTENT", "AGENT", "STRATEGY", "STATUS", "ERROR", "DURATION");
}

/* The list as one query: WHERE the filters, ORDER BY time DESC LIMIT N.
 * 1: the index could not answer (the warning printed), read the files. */
static int
list_indexed(const struct rec_args *a, struct index_db *db)
{
    struct intentus_err why = { 0 };
    struct index_filter f;
    struct list_rows l = { .probe = index_new(), .json = a->json };
    char *buf = NULL;
    size_t len = 0;
    long n = 0;

    if (l.probe == NULL || (a->json && (l.arr = cJSON_CreateArray()) == NULL)) {
        index_free(l.probe);
        cli_error(a->cmd, "out of memory");
        return -1;
    }
    cli_records_filter(a, &f);
    /* Everything goes to a buffer first: a failed query prints no half list
     * before the files are read instead. */
    if (!a->json && (l.out = open_memstream(&buf, &len)) == NULL) {
        err_set(&why, IERR_NOMEM, NULL);
        n = -1;
    }
    if (l.out != NULL)
        list_header(l.out);
    if (n == 0 && a->limit != 0)
        n = index_query_select(db, &f, true, a->limit > 0 ? (size_t)a->limit : 0, list_row, &l,
                               &why);
    if (l.out != NULL)
        fclose(l.out);
    if (n >= 0 && a->json)
        cli_print_json(stdout, l.arr);
    else if (n >= 0 && buf != NULL)
        fwrite(buf, 1, len, stdout);
    free(buf);
    cJSON_Delete(l.arr);
    index_free(l.probe);
    if (n < 0) {
        cli_records_db_failed(a, &why);
        return 1;
    }
    return 0;
}

static int
records_list(const struct rec_args *a)
{
    struct intentus_err err = { 0 };
    struct config *cfg = NULL;
    const char *dir = cli_records_dir_of(a, &cfg);
    struct index *ix = NULL;
    struct index_db *db;
    struct index_filter f;
    size_t limit = a->limit > 0 ? (size_t)a->limit : 0;
    int rc = EXIT_FAIL;

    if (dir == NULL) {
        rc = EXIT_USAGE; /* the config did not load; the error is printed */
        goto out;
    }
    db = cli_records_db(a, dir, &err);
    if (db != NULL) {
        int done = list_indexed(a, db);
        index_db_close(db);
        if (done <= 0 || a->store != NULL) {
            rc = done == 0 ? EXIT_OK : EXIT_FAIL;
            goto out;
        }
    } else if (err.code != 0) {
        cli_error("records list", "%s", err.msg);
        goto out;
    }
    ix = index_new();
    if (ix == NULL)
        goto out;
    if (cli_records_index_of(a, dir, NULL, ix, &err) != 0) {
        cli_error("records list", "%s", err.msg);
        goto out;
    }
    cli_records_filter(a, &f);
    if (a->json) {
        cJSON *arr = cJSON_CreateArray();
        if (a->limit != 0)
            index_query(ix, &f, true, limit, list_json, arr);
        cli_print_json(stdout, arr);
        cJSON_Delete(arr);
    } else {
        list_header(stdout);
        if (a->limit != 0)
            index_query(ix, &f, true, limit, list_text, NULL);
    }
    rc = EXIT_OK;
out:
    index_free(ix);
    config_free(cfg);
    return rc;
}

#define PREFIX_SHOWN 4

/* The ids of all that start with prefix, at most PREFIX_SHOWN + 1 of them
 * (copies into ids); how many. */
static long
ids_with_prefix(const struct rec_ids *all, const char *prefix, char **ids)
{
    size_t plen = strlen(prefix);
    long n = 0;

    for (size_t i = 0; i < all->n && n <= PREFIX_SHOWN; i++)
        if (strncmp(all->ids[i], prefix, plen) == 0)
            ids[n++] = strdup(all->ids[i]);
    return n;
}

/* The record an ID argument names: the id itself when <dir>/ID.json (or
 * .json.gz) exists or no record id starts with it (the read then says it is
 * not there), else the one id that starts with it: through the index
 * (ORDER BY id from ID on), or with --no-index from the directory listing.
 * Several: a usage error naming some of them (*rc = 2). */
static int
resolve_id(const struct rec_args *a, struct src *src, const char *arg, char *out, size_t size,
           int *rc)
{
    struct rec_store *rs = src->rs;
    struct intentus_err err = { 0 };
    char name[160], *ids[PREFIX_SHOWN + 1] = { 0 };
    struct index_db *db;
    struct stat st;
    long n = 0;

    snprintf(out, size, "%s", arg);
    if (rs == NULL) {
        /* Another engine: the id itself when it is there, else by prefix
         * in its index (which is the store). */
        size_t len = 0;
        char *text = store_get(src->st, arg, &len, &err);
        free(text);
        if (text != NULL || err.code != IERR_NOT_FOUND)
            return 0;
        memset(&err, 0, sizeof(err));
        if (cli_records_store_remote(a)) {
            /* No local index (postgres): the ids through the engine. */
            struct rec_ids all = { 0 };
            if (src_list(src, &all, &err) != 0) {
                cli_error(a->cmd, "%s: %s", a->store, err.msg);
                *rc = EXIT_FAIL;
                return -1;
            }
            n = ids_with_prefix(&all, arg, ids);
            rec_store_ids_free(&all);
            db = NULL;
            goto found;
        }
        db = cli_records_db(a, NULL, &err);
        if (db == NULL) {
            cli_error(a->cmd, "%s", err.msg);
            *rc = EXIT_FAIL;
            return -1;
        }
        goto by_prefix;
    }
    snprintf(name, sizeof(name), "%s.json", arg);
    if (fstatat(rec_store_dirfd(rs), name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    snprintf(name, sizeof(name), "%s.json.gz", arg);
    if (fstatat(rec_store_dirfd(rs), name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    db = cli_records_db(a, rec_store_dir(rs), &err);
by_prefix:
    if (db != NULL) {
        n = index_query_prefix(db, arg, ids, PREFIX_SHOWN, &err);
        index_db_close(db);
        if (n < 0)
            cli_records_db_failed(a, &err);
    }
    if (rs != NULL && (db == NULL || n < 0)) {
        struct rec_ids all = { 0 };
        n = 0;
        if (rec_store_list(rs, &all, NULL) == 0)
            n = ids_with_prefix(&all, arg, ids);
        rec_store_ids_free(&all);
    }
found:
    if (n == 1 && ids[0] != NULL)
        snprintf(out, size, "%s", ids[0]);
    if (n > 1) {
        char list[PREFIX_SHOWN * 140] = "";
        size_t used = 0;
        for (long i = 0; i < n && i < PREFIX_SHOWN; i++)
            used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
                                     ids[i] ? ids[i] : "?");
        *rc = cli_usage_error(a->cmd, "'%s' is ambiguous: %s records start with it (%s%s)", arg,
                              n > PREFIX_SHOWN ? "several"
                              : n == 2         ? "2"
                              : n == 3         ? "3"
                                               : "4",
                              list, n > PREFIX_SHOWN ? ", ..." : "");
    }
    for (size_t i = 0; i <= PREFIX_SHOWN; i++)
        free(ids[i]);
    return n > 1 ? -1 : 0;
}

/* The file as it is: byte for byte when stdout is not a terminal (the
 * README's promise: `records show` of a reference record is its file), with
 * control characters escaped when it is one. */
static int
records_show(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    struct src src;
    const char *id;
    char full[160];
    int store_rc, rc = EXIT_FAIL;
    size_t len;
    char *text;
    cJSON *rec;

    if (a->first_arg >= argc)
        return cli_usage_error(a->cmd, "missing ID");
    if (a->first_arg + 1 < argc)
        return cli_usage_error(a->cmd, "unexpected argument '%s'", argv[a->first_arg + 1]);
    id = argv[a->first_arg];
    if (!rec_store_id_is_valid(id))
        return cli_usage_error(a->cmd, "'%s' is not a valid execution id", id);
    if (a->json && !a->tree && strcmp(a->cmd, "records show") == 0)
        return cli_usage_error(a->cmd, "--json needs --tree (the file itself is JSON)");
    if ((store_rc = open_src(a->cmd, a, &src)) != 0)
        return store_rc;
    if (resolve_id(a, &src, argv[a->first_arg], full, sizeof(full), &rc) != 0) {
        src_close(&src);
        return rc;
    }
    id = full;
    if (a->tree || strcmp(a->cmd, "records fingerprint") == 0) {
        /* The records of the tree (parents, children) by id from the
         * same source: the directory or the engine. */
        rc = a->tree ? cli_records_tree(a, src_load_fn, &src, id)
                     : cli_records_fingerprint(a, src_load_fn, &src, id);
        src_close(&src);
        return rc;
    }
    text = src_read(&src, id, &len, NULL, &err);
    rec = text != NULL ? record_parse(text, len, &err) : NULL;
    if (rec == NULL) {
        if (text != NULL)
            src_prefix(&src, &err, id);
        cli_error("records show", "%s", err.msg);
    } else if (isatty(STDOUT_FILENO)) {
        cli_put_escaped(stdout, text, len, FMT_ESC_KEEP_LINES);
        if (len > 0 && text[len - 1] != '\n')
            putchar('\n'); /* the prompt on a line of its own */
        rc = EXIT_OK;
    } else if (fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0) {
        rc = EXIT_OK;
    } else {
        cli_error("records show", "cannot write the record to stdout: %s", strerror(errno));
    }
    cJSON_Delete(rec);
    free(text);
    src_close(&src);
    return rc;
}

/* Full check of one record file; 0 ok, else err says why. *rec receives
 * the record when it could be read (for the WAL check), else NULL. */
static int
verify_one(struct src *src, const char *id, cJSON **rec, bool *sealed, struct intentus_err *err)
{
    enum crypt_status st;
    const char *hid;
    size_t len;
    /* An encrypted file's tag is checked first (rec_store_read_st refuses
     * a tampered, truncated or undecryptable one), then the envelope hash. */
    char *text = src_read(src, id, &len, &st, err);

    *sealed = st == CRYPT_OK;
    *rec = text != NULL ? record_parse(text, len, err) : NULL;
    if (text != NULL && *rec == NULL)
        src_prefix(src, err, id);
    free(text);
    if (*rec == NULL)
        return -1;
    hid = record_id(*rec);
    if (strcmp(hid, id) != 0) {
        err_set(err, IERR_VERIFY, "header.executionId '%s' does not match the file name", hid);
        return -1;
    }
    if (envelope_validate(cJSON_GetObjectItemCaseSensitive(*rec, "envelope"), err) != 0)
        return -1;
    return record_verify_hash(*rec, err);
}

/* What verify_wal saw of a WAL. */
struct wal_seen {
    bool has_wal;
    bool is_signed, sig_checked;
};

/* Record <-> WAL consistency when <wal_dir>/<id>.wal exists: each
 * violation is a FAIL line, a signature that fails with key (or a missing
 * one in a signed log) too (wal_signature). Returns the number of problems
 * (0: consistent or no WAL, seen says which). */
static int
verify_wal(const char *wal_dir, const char *id, const cJSON *rec, const struct wal_key *key,
           struct wal_seen *seen)
{
    struct intentus_err err = { 0 };
    char path[PATH_MAX], e[FMT_ESC_SIZE(sizeof(err.msg))];
    struct stat st;
    struct wal_log log;
    cJSON *violations, *v;
    int n, bad = 0;

    memset(seen, 0, sizeof(*seen));
    if (wal_path(wal_dir, id, ".wal", path, sizeof(path)) != 0 ||
        (lstat(path, &st) != 0 && errno == ENOENT))
        return 0;
    seen->has_wal = true;
    if (wal_read_key(wal_dir, id, key, &log, &err) == 0) {
        seen->is_signed = log.is_signed;
        seen->sig_checked = log.sig_checked && log.status == WAL_OK;
        if (log.bad_signature) {
            printf("FAIL %s: wal_signature: %s\n", id, log.problem);
            bad = 1;
        }
        wal_log_free(&log);
    }
    violations = cJSON_CreateArray();
    n = violations != NULL ? recovery_check_record(wal_dir, id, rec, NULL, violations, &err) : -1;
    if (n < 0) {
        printf("FAIL %s: WAL check: %s\n", id,
               cli_esc(violations != NULL ? err.msg : "out of memory", e, sizeof(e)));
        n = 1;
    }
    cJSON_ArrayForEach(v, violations)
    {
        char t[FMT_ESC_SIZE(64)];
        printf("FAIL %s: %s: %s\n", id, cli_esc(json_get_string(v, "type"), t, sizeof(t)),
               cli_esc(json_get_string(v, "message"), e, sizeof(e)));
    }
    cJSON_Delete(violations);
    return n + bad;
}

/* The WAL directory to check records against: --wal-dir, else the
 * config's (read also when --config names it, for wal.public_key). NULL
 * (the error printed) when the config does not load. */
static const char *
verify_wal_dir(const struct rec_args *a, struct config **cfg)
{
    *cfg = NULL;
    if (a->wal_dir != NULL && a->config == NULL)
        return a->wal_dir;
    *cfg = cli_load_config(a->config);
    if (*cfg == NULL)
        return NULL;
    return a->wal_dir != NULL ? a->wal_dir : (*cfg)->wal.dir;
}

static int
verify_id_of(void *ctx, const struct index_view *v)
{
    struct rec_ids *ids = ctx;
    char **p = realloc(ids->ids, (ids->n + 1) * sizeof(*p));

    if (p == NULL)
        return 1;
    ids->ids = p;
    return (ids->ids[ids->n++] = strdup(v->id)) == NULL;
}

/* The ids the filters select, in id order: a directory's through its
 * index (or its files, --no-index), another engine's by its query. */
static int
verify_select(const struct rec_args *a, struct src *src, struct rec_ids *ids,
              struct intentus_err *err)
{
    struct cli_select *sel = cli_select_new(a);
    struct index *ix = NULL;
    int rc = -1;

    memset(ids, 0, sizeof(*ids));
    if (sel == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    if (src->rs != NULL) {
        ix = index_new();
        if (ix == NULL)
            err_set(err, IERR_NOMEM, NULL);
        else if (cli_records_load(a, rec_store_dir(src->rs), sel, 0, ix, err) == 0)
            rc = index_query(ix, NULL, false, 0, verify_id_of, ids) == index_size(ix) ? 0 : -2;
    } else {
        const struct index_filter *f = cli_select_filter(sel);
        struct store_filter sf = { .intent = f->intent,
                                   .agent = f->agent,
                                   .status = f->status,
                                   .error_code = f->error_code,
                                   .text = f->text,
                                   .since_us = f->since_us,
                                   .until_us = f->until_us,
                                   .failed_agent = f->failed_agent };
        struct store_query q = { .filter = &sf };
        long n = store_query(src->st, &q, src_id_row, ids, err);
        rc = n < 0 ? -1 : ids->n > 0 && ids->ids[ids->n - 1] == NULL ? -2 : 0;
    }
    if (rc == -2) {
        err_set(err, IERR_NOMEM, NULL);
        rc = -1;
    }
    if (rc == 0 && ids->n > 1)
        qsort(ids->ids, ids->n, sizeof(*ids->ids), cmp_ids);
    index_free(ix);
    cli_select_free(sel);
    return rc;
}

static int
records_verify(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    char e[FMT_ESC_SIZE(sizeof(err.msg))];
    struct config *cfg = NULL;
    struct src src = { 0 };
    const char *wdir;
    int store_rc;
    struct rec_ids ids = { 0 };
    struct wal_key *key;
    size_t passed = 0, failed = 0, unchecked = 0;

    for (int i = a->first_arg; i < argc; i++) {
        if (!rec_store_id_is_valid(argv[i]))
            return cli_usage_error("records verify", "'%s' is not a valid execution id", argv[i]);
    }
    if (a->first_arg < argc && cli_records_filtered(a))
        return cli_usage_error("records verify",
                               "give IDs or filters (--intent, --agent, --status, --error, "
                               "--since, --search), not both");
    wdir = verify_wal_dir(a, &cfg);
    if (wdir == NULL)
        return EXIT_USAGE;
    key = cli_load_wal_key("records verify", a->public_key, cfg, &store_rc);
    if (store_rc == EXIT_OK)
        store_rc = open_src("records verify", a, &src);
    if (store_rc != EXIT_OK) {
        wal_key_free(key);
        config_free(cfg);
        return store_rc;
    }
    if (a->first_arg < argc) {
        ids.n = (size_t)(argc - a->first_arg);
        ids.ids = calloc(ids.n, sizeof(char *));
        for (size_t i = 0; ids.ids != NULL && i < ids.n; i++)
            ids.ids[i] = strdup(argv[a->first_arg + (int)i]);
    } else if ((cli_records_filtered(a) ? verify_select(a, &src, &ids, &err)
                                        : src_list(&src, &ids, &err)) != 0) {
        cli_error("records verify", "%s", err.msg);
        src_close(&src);
        wal_key_free(key);
        config_free(cfg);
        return EXIT_FAIL;
    }
    for (size_t i = 0; ids.ids != NULL && i < ids.n; i++) {
        const char *id = ids.ids[i] ? ids.ids[i] : "?";
        cJSON *rec = NULL;
        bool sealed = false;
        bool ok = ids.ids[i] != NULL && verify_one(&src, id, &rec, &sealed, &err) == 0;
        struct wal_seen seen = { 0 };

        if (!ok)
            printf("FAIL %s: %s\n", id,
                   cli_esc(ids.ids[i] ? err.msg : "out of memory", e, sizeof(e)));
        if (rec != NULL && verify_wal(wdir, id, rec, key, &seen) != 0)
            ok = false;
        if (ok && seen.is_signed && !seen.sig_checked)
            unchecked++;
        if (ok && a->verbose)
            printf("ok   %s%s%s\n", id, sealed ? " (encrypted: tag verified)" : "",
                   !seen.has_wal      ? " (no WAL)"
                   : seen.sig_checked ? " (record and WAL agree; WAL signatures checked)"
                   : seen.is_signed   ? " (record and WAL agree; WAL signatures not checked)"
                                      : " (record and WAL agree)");
        cJSON_Delete(rec);
        if (ok)
            passed++;
        else
            failed++;
    }
    if (unchecked > 0)
        printf("%zu passed, %zu failed; %zu signed WAL%s: signatures not checked (give "
               "--public-key or wal.public_key)\n",
               passed, failed, unchecked, unchecked == 1 ? "" : "s");
    else
        printf("%zu passed, %zu failed\n", passed, failed);
    rec_store_ids_free(&ids);
    src_close(&src);
    wal_key_free(key);
    config_free(cfg);
    return failed > 0 ? EXIT_FAIL : EXIT_OK;
}

int
cli_records_resolve_store(struct rec_args *a, char *buf, size_t size)
{
    struct intentus_err err = { 0 };
    const struct store_engine *e;
    const char *rest = NULL;

    if (a->store == NULL && a->dir == NULL) {
        /* The config's recording.store, read quietly: a config that does
         * not load is reported by the command itself. */
        struct config *cfg = config_load(a->config, &err);
        if (cfg != NULL && cfg->store_url != NULL) {
            snprintf(buf, size, "%s", cfg->store_url);
            a->store = buf;
        }
        config_free(cfg);
        if (a->store == NULL)
            return 0;
    } else if (a->store == NULL) {
        return 0;
    } else if (a->dir != NULL) {
        return cli_usage_error(a->cmd, "--store and --dir: give one (--store file:DIR is --dir)");
    }
    e = store_engine_find(stores_builtin, a->store, &rest, &err);
    if (e == NULL)
        return cli_usage_error(a->cmd, "%s", err.msg);
    if (strcmp(e->scheme, "file") == 0) {
        /* Files: today's code, on that directory. */
        a->dir = strncmp(rest, "//", 2) == 0 ? rest + 2 : rest;
        a->store = NULL;
        if (a->dir[0] == '\0')
            return cli_usage_error(a->cmd, "--store %s names no directory", rest);
        return 0;
    }
    if (a->no_index)
        return cli_usage_error(a->cmd,
                               "--no-index: the %s engine has no record files; its index is the "
                               "store itself",
                               e->scheme);
    return 0;
}

int
cli_records(int argc, char **argv)
{
    char store_buf[STORE_URL_MAX];
    const struct rec_sub *sub = NULL;
    struct rec_args a;
    int rc, first = 0;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        records_help(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (size_t i = 0; i < N_SUBCOMMANDS; i++) {
        if (strcmp(argv[1], subcommands[i].cmd.name + strlen("records ")) == 0)
            sub = &subcommands[i];
    }
    if (sub == NULL)
        return cli_usage_error(
            "records",
            "unknown command '%s' (list, show, verify, diff, stats, tail, gc, export, fingerprint, "
            "migrate, import)",
            argv[1]);
    rec_args_init(&a, sub->cmd.name);
    rc = cli_opt_parse(&sub->cmd, argc - 1, argv + 1, &a, &first);
    if (rc != 0)
        return rc == CLI_OPT_SHOWN_HELP ? EXIT_OK : rc;
    a.first_arg = first + 1; /* back to indexes of argv */
    if (sub->id != SUB_MIGRATE &&
        (rc = cli_records_resolve_store(&a, store_buf, sizeof(store_buf))) != 0)
        return rc;
    switch (sub->id) {
    case SUB_SHOW:
    case SUB_FINGERPRINT:
        return records_show(&a, argc, argv);
    case SUB_VERIFY:
        return records_verify(&a, argc, argv);
    case SUB_DIFF:
        return cli_records_diff(&a, argc, argv);
    case SUB_EXPORT:
        if (a.to != NULL)
            return cli_records_copy(&a, argc, argv);
        return cli_records_export(&a, argc, argv);
    case SUB_MIGRATE:
    case SUB_IMPORT:
        return cli_records_copy(&a, argc, argv);
    default:
        break;
    }
    if (a.first_arg < argc)
        return cli_usage_error(a.cmd, "unexpected argument '%s'", argv[a.first_arg]);
    switch (sub->id) {
    case SUB_LIST:
        return records_list(&a);
    case SUB_STATS:
        return cli_records_stats(&a);
    case SUB_TAIL:
        return cli_records_tail(&a);
    default:
        return cli_records_gc(&a);
    }
}

static const char retrieve_warning[] =
    "This is the recorded response. No agent, router or model was executed and no routing "
    "happened; compare executions with 'intentus records show'.";

int
cli_retrieve(int argc, char **argv)
{
    struct rec_args a;
    struct intentus_err err = { 0 };
    struct src src;
    int store_rc;
    const cJSON *header, *final;
    cJSON *rec, *out;
    char now[CLOCK_ISO_LEN], full[160];
    const char *id;
    char store_buf[STORE_URL_MAX];
    int rc;

    rec_args_init(&a, "retrieve");
    rc = cli_opt_parse(&retrieve_cmd, argc, argv, &a, &a.first_arg);
    if (rc != 0)
        return rc == CLI_OPT_SHOWN_HELP ? EXIT_OK : rc;
    if (a.first_arg >= argc)
        return cli_usage_error("retrieve", "missing ID");
    if (a.first_arg + 1 < argc)
        return cli_usage_error("retrieve", "unexpected argument '%s'", argv[a.first_arg + 1]);
    id = argv[a.first_arg];
    if (!rec_store_id_is_valid(id))
        return cli_usage_error("retrieve", "'%s' is not a valid execution id", id);
    if ((store_rc = cli_records_resolve_store(&a, store_buf, sizeof(store_buf))) != 0 ||
        (store_rc = open_src("retrieve", &a, &src)) != 0)
        return store_rc;
    if (resolve_id(&a, &src, id, full, sizeof(full), &rc) != 0) {
        src_close(&src);
        return rc;
    }
    id = full;
    rec = src_load(&src, id, &err);
    src_close(&src);
    if (rec == NULL) {
        cli_error("retrieve", "%s", err.msg);
        return EXIT_FAIL;
    }
    header = cJSON_GetObjectItemCaseSensitive(rec, "header");
    final = cJSON_GetObjectItemCaseSensitive(rec, "finalResponse");
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(header, "replayable"))) {
        const char *why = json_get_string(header, "replayableReason");
        cli_error("retrieve", "%s is not retrievable: %s", id,
                  why != NULL ? why : "Marked not retrievable");
        cJSON_Delete(rec);
        return EXIT_FAIL;
    }
    if (!cJSON_IsObject(final) || cJSON_GetArraySize(final) == 0) {
        cli_error("retrieve", "%s is not retrievable: Missing finalResponse in record", id);
        cJSON_Delete(rec);
        return EXIT_FAIL;
    }
    clock_now_iso(now);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "execution_id", id);
    cJSON_AddItemToObject(out, "response", cJSON_Duplicate(final, 1));
    cJSON_AddBoolToObject(out, "envelope_hash_ok", record_verify_hash(rec, &err) == 0);
    cJSON_AddStringToObject(out, "retrieval_timestamp", now);
    cJSON_AddStringToObject(out, "warning", retrieve_warning);
    cli_print_json(stdout, out);
    rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(out, "envelope_hash_ok")) ? EXIT_OK
                                                                                 : EXIT_FAIL;
    if (rc != EXIT_OK)
        cli_error("retrieve", "%s: %s", id, err.msg);
    cJSON_Delete(out);
    cJSON_Delete(rec);
    return rc;
}

int
cli_replay(int argc, char **argv)
{
    struct rec_args a;
    struct intentus_err err = { 0 };
    struct src src;
    struct config *cfg = NULL;
    struct wal_log log = { 0 };
    char *text;
    size_t len;
    const cJSON *resp, *result, *rpc_error;
    cJSON *rec, *out = NULL;
    char full[160];
    const char *id;
    int rc, store_rc;

    rec_args_init(&a, "replay");
    rc = cli_opt_parse(&replay_cmd, argc, argv, &a, &a.first_arg);
    if (rc != 0)
        return rc == CLI_OPT_SHOWN_HELP ? EXIT_OK : rc;
    if (a.first_arg >= argc)
        return cli_usage_error("replay", "missing ID");
    if (a.first_arg + 1 < argc)
        return cli_usage_error("replay", "unexpected argument '%s'", argv[a.first_arg + 1]);
    id = argv[a.first_arg];
    if (!rec_store_id_is_valid(id))
        return cli_usage_error("replay", "'%s' is not a valid execution id", id);
    if ((store_rc = open_src("replay", &a, &src)) != 0)
        return store_rc;
    if (resolve_id(&a, &src, id, full, sizeof(full), &rc) != 0) {
        src_close(&src);
        return rc;
    }
    id = full;
    text = src_read(&src, id, &len, NULL, &err);
    rec = text != NULL ? record_parse(text, len, &err) : NULL;
    free(text);
    src_close(&src);
    if (rec == NULL) {
        cli_error("replay", "%s", err.msg);
        return EXIT_FAIL;
    }
    /* The WAL entries of the execution, for --json (the reference's
     * wal_entries); a log that is gone is no reason not to replay. */
    if (a.json) {
        cfg = a.config != NULL || a.dir == NULL ? cli_load_config(a.config) : NULL;
        const char *wdir = cfg != NULL && cfg->wal.dir != NULL ? cfg->wal.dir : WAL_DEFAULT_DIR;
        if (wal_read(wdir, id, &log, &err) != 0)
            memset(&log, 0, sizeof(log));
    }
    if (gateway_replay(rec, log.entries, &out, &err) != 0) {
        cli_error("replay", "%s", err.msg);
        rc = EXIT_FAIL;
        goto done;
    }
    resp = cJSON_GetObjectItemCaseSensitive(out, "response");
    result = cJSON_GetObjectItemCaseSensitive(resp, "result");
    rpc_error = cJSON_GetObjectItemCaseSensitive(resp, "error");
    if (a.json)
        cli_print_json(stdout, out);
    else
        cli_print_json(stdout, result != NULL ? result : rpc_error);
    fprintf(stderr, "intentus replay: %s\n", GATEWAY_REPLAY_WARNING);
    rc = result != NULL ? EXIT_OK : EXIT_FAIL;
    if (result == NULL)
        cli_error("replay", "%s: the recorded response is a JSON-RPC error", id);
done:
    wal_log_free(&log);
    config_free(cfg);
    cJSON_Delete(out);
    cJSON_Delete(rec);
    return rc;
}
