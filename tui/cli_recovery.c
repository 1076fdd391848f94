/* intentus wal verify|inspect|gc and intentus recovery scan|resume|abort:
 * the command-line side of core/wal.c and core/recovery.c. Output shapes
 * follow the reference's CLI table (§7.1). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/recovery.h"
#include "core/store.h"
#include "core/wal.h"
#include "core/wal_gc.h"
#include "core/wal_sign.h"
#include "tui/cli.h"
#include "tui/fmt.h"
#include "watch/stores.h"

static const char wal_help[] =
    "Usage: intentus wal COMMAND ID [options]\n"
    "       intentus wal gc [--wal-dir D] [--dir D | --store URL] [-c F] [--dry-run] [--yes]\n"
    "                       [--json]\n"
    "       intentus wal keygen --out DIR [--json]\n"
    "\n"
    "Commands:\n"
    "  verify ID      re-read <wal-dir>/ID.wal and check every line, the seq numbers,\n"
    "                 the prev_hash chain and every entry_hash; a torn final line (a\n"
    "                 write that did not finish) is reported as such\n"
    "  inspect ID     the entries (seq, type, time; with --json the whole entries)\n"
    "  gc             remove the WALs (and stale ID.lock files) of finished executions\n"
    "                 (completed, failed or aborted, every line verified) whose record\n"
    "                 is gone from the records directory (or the store). Never a WAL\n"
    "                 of an unfinished execution, never a torn or corrupt one (those\n"
    "                 are listed), never\n"
    "                 one whose lock a live process holds\n"
    "  keygen         make an Ed25519 key pair for signing WALs: DIR/wal-signer.pem\n"
    "                 (private, PKCS#8 PEM, mode 0600: wal.signing_key) and\n"
    "                 DIR/wal-signer.pub.pem (public, PEM: wal.public_key, --public-key);\n"
    "                 both load in the reference (Ed25519WALSigner.from_pem_file,\n"
    "                 add_public_key_pem). DIR is created (0700) if missing; existing\n"
    "                 files are never overwritten. Prints the key id\n"
    "\n"
    "Signed logs (the reference's Ed25519 WAL signing): with a public key every\n"
    "entry's signature is checked, and a missing, foreign or forged signature\n"
    "fails naming the entry's seq; a key given for an unsigned log fails too.\n"
    "Without a key a signed log is reported as 'signatures not checked', never as\n"
    "verified (exit 0: the chain is intact; only a key proves who wrote it).\n"
    "An entry out of order fails naming its seq and the seq expected there.\n"
    "With wal.signing_key configured intentus signs every entry it writes.\n"
    "\n"
    "Options:\n"
    "  -w, --wal-dir DIR   WAL directory (default: the config's wal.dir, then\n"
    "                      .intentusnet/wal)\n"
    "  -c, --config FILE   config file to take wal.dir, wal.public_key (and for gc\n"
    "                      recording.dir) from\n"
    "  -k, --public-key FILE\n"
    "                      Ed25519 public key to check signatures with: PEM\n"
    "                      (BEGIN PUBLIC KEY), the raw 32 bytes, or 64 hex digits\n"
    "                      (default: the config's wal.public_key; verify, inspect)\n"
    "      --keyring DIR|FILE\n"
    "                      keys to read encrypted WALs (default: $INTENTUS_KEYRING,\n"
    "                      else the config's recording.encryption)\n"
    "  -j, --json          machine-readable output\n"
    "  -h, --help          this help\n"
    "gc only:\n"
    "  -d, --dir DIR       records directory (default: the config's)\n"
    "      --store URL     look each record up by id in this store instead (file:DIR,\n"
    "                      sqlite:PATH, postgres://...; default: the config's\n"
    "                      recording.store when it is not a file: store); a store\n"
    "                      that cannot answer fails the run, removing nothing\n"
    "  -n, --dry-run       list what would go, remove nothing\n"
    "  -y, --yes           do not ask (needed when stdin is not a terminal)\n"
    "Exit status: 0 verified (or, signed without a key, chain intact and signatures\n"
    "not checked; gc: done), 1 missing, torn, corrupt or a bad signature (gc: an\n"
    "error), 2 usage error or a key that does not load.\n";

static const char recovery_help[] =
    "Usage: intentus recovery COMMAND [ID] [options]\n"
    "\n"
    "Commands:\n"
    "  scan             executions that started and did not finish (and logs that are\n"
    "                   torn or corrupt), with whether each can be resumed safely: never\n"
    "                   after an irreversible step that started and did not finish,\n"
    "                   never when its record exists (it finished: \"record exists\"),\n"
    "                   and executions that ran but whose record was not written\n"
    "                   (\"record missing\")\n"
    "  resume ID        record that the execution is taken over (recovery.started);\n"
    "                   refused (exit 1) when resuming is not safe. Nothing is re-run.\n"
    "  close ID         close the log of an execution whose record exists, from the\n"
    "                   record (execution.completed, or execution.failed for an error\n"
    "                   record); a torn final line is cut off first\n"
    "  abort ID --reason R\n"
    "                   close the execution (execution.aborted); a torn final line is\n"
    "                   cut off first and reported\n"
    "\n"
    "resume, close and abort hold <wal-dir>/ID.lock while they write; a second process gets\n"
    "'Lock held by PID <pid> on <host>'. Locks of dead processes, or older than an\n"
    "hour, are reclaimed.\n"
    "\n"
    "Options:\n"
    "  -w, --wal-dir DIR   WAL directory (default: the config's wal.dir, then\n"
    "                      .intentusnet/wal)\n"
    "  -d, --dir DIR       records directory (scan, resume, close; default: the\n"
    "                      config's records directory)\n"
    "      --store URL     (scan, resume, close) look each record up by id in this\n"
    "                      store (file:DIR, sqlite:PATH, postgres://...; default: the\n"
    "                      config's recording.store when it is not a file: store,\n"
    "                      else --dir); the WAL directory stays local\n"
    "  -c, --config FILE   config file to take wal.dir, wal.public_key and the records\n"
    "                      directory from\n"
    "  -k, --public-key FILE\n"
    "                      (scan) check the signatures of signed logs with this\n"
    "                      Ed25519 public key (PEM, raw 32 bytes or 64 hex digits;\n"
    "                      default: the config's wal.public_key); a log whose\n"
    "                      signatures fail is listed as corrupt, naming the seq\n"
    "  -s, --signing-key FILE\n"
    "                      (resume, close, abort) the Ed25519 private key to sign the\n"
    "                      appended entry with (default: the config's\n"
    "                      wal.signing_key); a signed log needs the key it was\n"
    "                      signed with, an unsigned log no key\n"
    "  -r, --reason TEXT   why (abort)\n"
    "      --keyring DIR|FILE\n"
    "                      keys to read encrypted WALs (default: $INTENTUS_KEYRING,\n"
    "                      else the config's recording.encryption)\n"
    "  -j, --json          machine-readable output (scan; resume, close and abort\n"
    "                      always print JSON)\n"
    "  -h, --help          this help\n"
    "resume, close and abort check a signed log's signatures with the signing key\n"
    "before they append, and sign what they append.\n";

struct wal_args {
    const char *cmd;
    const char *wal_dir, *config, *reason, *public_key, *records_dir, *signing_key;
    const char *store; /* recovery scan|resume|close --store URL (or the config's); NULL:
                        * records_dir */
    int json;
    int first_arg;
    struct config *cfg;
};

static int
parse(const char *cmd, int argc, char **argv, struct wal_args *a)
{
    static const struct option opts[] = {
        { "wal-dir", required_argument, NULL, 'w' },
        { "config", required_argument, NULL, 'c' },
        { "reason", required_argument, NULL, 'r' },
        { "public-key", required_argument, NULL, 'k' },
        { "signing-key", required_argument, NULL, 's' },
        { "dir", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "keyring", required_argument, NULL, 'K' },
        { "store", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof(*a));
    a->cmd = cmd;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "w:c:r:k:s:d:j", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (strcmp(cmd, "recovery resume") != 0 && strcmp(cmd, "recovery abort") != 0 &&
                strcmp(cmd, "recovery close") != 0)
                return cli_usage_error(cmd, "--signing-key applies to recovery resume, close "
                                            "and abort only");
            a->signing_key = optarg;
            break;
        case 'd':
            if (strncmp(cmd, "recovery ", 9) != 0 || strcmp(cmd, "recovery abort") == 0)
                return cli_usage_error(cmd, "--dir is not an option of this command");
            a->records_dir = optarg;
            break;
        case 'w':
            a->wal_dir = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'r':
            a->reason = optarg;
            break;
        case 'k':
            a->public_key = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'S':
            if (strcmp(cmd, "recovery scan") != 0 && strcmp(cmd, "recovery resume") != 0 &&
                strcmp(cmd, "recovery close") != 0)
                return cli_usage_error(cmd,
                                       "--store applies to recovery scan, resume and close only");
            a->store = optarg;
            break;
        case 'K': /* an encrypted WAL's keyring */
            if (cli_keys_from_flag(cmd, optarg) != 0)
                return EXIT_USAGE;
            break;
        default:
            return cli_usage_error(cmd, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    a->first_arg = optind;
    if (a->reason != NULL && strcmp(cmd, "recovery abort") != 0)
        return cli_usage_error(cmd, "--reason applies to recovery abort only");
    if (a->public_key != NULL &&
        (strcmp(cmd, "recovery resume") == 0 || strcmp(cmd, "recovery abort") == 0 ||
         strcmp(cmd, "recovery close") == 0))
        return cli_usage_error(cmd, "--public-key applies to scan (and wal verify|inspect) only");
    if (a->store != NULL && a->records_dir != NULL)
        return cli_usage_error(cmd, "--store and --dir both name the records: give one");
    /* The config gives wal.dir and wal.public_key; with --wal-dir it is
     * read only when named. */
    if (a->wal_dir == NULL || a->config != NULL) {
        a->cfg = cli_load_config(a->config);
        if (a->cfg == NULL)
            return EXIT_USAGE;
        if (a->wal_dir == NULL)
            a->wal_dir = a->cfg->wal.dir;
    }
    /* Whether a record exists decides whether an execution finished. */
    if (a->records_dir == NULL && strncmp(cmd, "recovery ", 9) == 0 &&
        strcmp(cmd, "recovery abort") != 0) {
        if (a->cfg == NULL)
            a->cfg = cli_load_config(a->config);
        if (a->cfg == NULL)
            return EXIT_USAGE;
        /* recording.store, unless it is the record directory itself */
        if (a->store == NULL && a->cfg->store_url != NULL &&
            strncmp(a->cfg->store_url, "file:", 5) != 0)
            a->store = a->cfg->store_url;
        if (a->store == NULL)
            a->records_dir = a->cfg->records_dir;
    }
    return EXIT_OK;
}

struct wal_key *
cli_load_wal_key(const char *cmd, const char *flag_path, const struct config *cfg, int *rc)
{
    struct intentus_err err = { 0 };
    const char *path = flag_path != NULL ? flag_path : cfg != NULL ? cfg->wal.public_key : NULL;
    struct wal_key *k;

    *rc = EXIT_OK;
    if (path == NULL)
        return NULL;
    k = wal_key_load(path, &err);
    if (k == NULL) {
        fprintf(stderr, "intentus %s: %s: %s\n", cmd,
                flag_path != NULL ? "--public-key" : "wal.public_key", err.msg);
        *rc = EXIT_USAGE;
    }
    return k;
}

/* The private key resume, close and abort sign with: --signing-key, else
 * the config's wal.signing_key; NULL when neither (*rc EXIT_OK) or when it
 * does not load (*rc EXIT_USAGE, said on stderr). */
static struct wal_signer *
load_signer(const struct wal_args *a, int *rc)
{
    struct intentus_err err = { 0 };
    const char *path = a->signing_key != NULL ? a->signing_key
                       : a->cfg != NULL       ? a->cfg->wal.signing_key
                                              : NULL;
    struct wal_signer *s;

    *rc = EXIT_OK;
    if (path == NULL)
        return NULL;
    s = wal_signer_load(path, &err);
    if (s == NULL) {
        cli_error(a->cmd, "%s: %s", a->signing_key != NULL ? "--signing-key" : "wal.signing_key",
                  err.msg);
        *rc = EXIT_USAGE;
    }
    return s;
}

/* "unsigned", "checked" or "not checked". */
static const char *
sig_word(const struct wal_log *log)
{
    return !log->is_signed ? "unsigned" : log->sig_checked ? "checked" : "not checked";
}

/* Exactly one ID argument. */
static const char *
one_id(const struct wal_args *a, int argc, char **argv, int *rc)
{
    *rc = EXIT_OK;
    if (a->first_arg >= argc) {
        *rc = cli_usage_error(a->cmd, "missing ID");
        return NULL;
    }
    if (a->first_arg + 1 < argc) {
        *rc = cli_usage_error(a->cmd, "unexpected argument '%s'", argv[a->first_arg + 1]);
        return NULL;
    }
    if (wal_path(".", argv[a->first_arg], ".wal", (char[256]){ 0 }, 256) != 0) {
        *rc = cli_usage_error(a->cmd, "'%s' is not a valid execution id", argv[a->first_arg]);
        return NULL;
    }
    return argv[a->first_arg];
}

static void
print_verified(const struct wal_log *log)
{
    if (!log->is_signed)
        printf("\u2713 WAL verified: %zu entries\n", log->n_entries);
    else if (log->sig_checked)
        printf("\u2713 WAL verified, signatures checked (key %s): %zu entries\n", log->key_id,
               log->n_entries);
    else
        printf("! WAL chain intact, signatures not checked: %zu entries signed by key %s; "
               "give --public-key (or wal.public_key) to check them\n",
               log->n_entries, log->key_id[0] ? log->key_id : "?");
}

static int
wal_verify_or_inspect(const struct wal_args *a, const char *id, bool inspect)
{
    struct intentus_err err = { 0 };
    struct wal_key *key;
    struct wal_log log;
    int rc;

    key = cli_load_wal_key(a->cmd, a->public_key, a->cfg, &rc);
    if (rc != EXIT_OK)
        return rc;
    rc = wal_read_key(a->wal_dir, id, key, &log, &err);
    wal_key_free(key);
    if (rc != 0) {
        cli_error(a->cmd, "%s", err.msg);
        return EXIT_FAIL;
    }
    rc = log.status == WAL_OK ? EXIT_OK : EXIT_FAIL;
    if (a->json) {
        cJSON *out = cJSON_CreateObject();
        cJSON_AddStringToObject(out, "execution_id", id);
        if (inspect) {
            cJSON_AddItemToObject(out, "entries", cJSON_Duplicate(log.entries, 1));
        } else {
            /* verified: the chain and, for a signed log, every signature. */
            cJSON_AddBoolToObject(out, "verified",
                                  rc == EXIT_OK && (!log.is_signed || log.sig_checked));
            cJSON_AddBoolToObject(out, "chain_verified", rc == EXIT_OK);
        }
        cJSON_AddNumberToObject(out, "entry_count", (double)log.n_entries);
        cJSON_AddStringToObject(out, "status", wal_check_name(log.status));
        cJSON_AddStringToObject(out, "state", wal_state_name(wal_state_reconstruct(log.entries)));
        cJSON_AddStringToObject(out, "signatures", sig_word(&log));
        if (log.key_id[0] != '\0')
            cJSON_AddStringToObject(out, "signer_key_id", log.key_id);
        if (log.status != WAL_OK)
            cJSON_AddStringToObject(out, "problem", log.problem);
        cli_print_json(stdout, out);
        cJSON_Delete(out);
    } else if (inspect) {
        const cJSON *e;
        char type[FMT_ESC_SIZE(64)], when[FMT_ESC_SIZE(64)]; /* the log's text: escaped */
        printf("%-5s  %-28s  %s\n", "SEQ", "TYPE", "TIMESTAMP");
        cJSON_ArrayForEach(e, log.entries)
        {
            long long seq = 0;
            json_get_int64(e, "seq", &seq);
            printf("%-5lld  %-28s  %s\n", seq,
                   cli_esc(json_get_string(e, "entry_type"), type, sizeof(type)),
                   cli_esc(json_get_string(e, "timestamp_iso"), when, sizeof(when)));
        }
        printf("state: %s\n", wal_state_name(wal_state_reconstruct(log.entries)));
        if (log.is_signed)
            printf("signatures: %s (key %s)\n", sig_word(&log), log.key_id);
    } else if (rc == EXIT_OK) {
        print_verified(&log);
    }
    if (rc != EXIT_OK)
        cli_error(a->cmd, "%s: WAL %s: %s", id, wal_check_name(log.status), log.problem);
    wal_log_free(&log);
    return rc;
}

struct gc_args {
    const char *wal_dir, *dir, *config, *store;
    bool dry_run, yes, json;
    struct config *cfg;
};

/* wal gc has its own option table: verify's options mean nothing here. */
static int
gc_parse(int argc, char **argv, struct gc_args *a)
{
    static const struct option opts[] = {
        { "wal-dir", required_argument, NULL, 'w' },
        { "dir", required_argument, NULL, 'd' },
        { "config", required_argument, NULL, 'c' },
        { "dry-run", no_argument, NULL, 'n' },
        { "yes", no_argument, NULL, 'y' },
        { "json", no_argument, NULL, 'j' },
        { "keyring", required_argument, NULL, 'K' },
        { "store", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof(*a));
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "w:d:c:nyj", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            a->wal_dir = optarg;
            break;
        case 'd':
            a->dir = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'n':
            a->dry_run = true;
            break;
        case 'y':
            a->yes = true;
            break;
        case 'j':
            a->json = true;
            break;
        case 'K':
            if (cli_keys_from_flag("wal gc", optarg) != 0)
                return EXIT_USAGE;
            break;
        case 'S':
            a->store = optarg;
            break;
        default:
            return cli_usage_error("wal gc", "unknown option or missing value: '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("wal gc", "unexpected argument '%s'", argv[optind]);
    if (a->store != NULL && a->dir != NULL)
        return cli_usage_error("wal gc", "--store and --dir both name the records: give one");
    if (a->wal_dir == NULL || (a->dir == NULL && a->store == NULL)) {
        a->cfg = cli_load_config(a->config);
        if (a->cfg == NULL)
            return EXIT_USAGE;
        if (a->wal_dir == NULL)
            a->wal_dir = a->cfg->wal.dir;
        /* recording.store, unless it is the record directory itself */
        if (a->dir == NULL && a->store == NULL && a->cfg->store_url != NULL &&
            strncmp(a->cfg->store_url, "file:", 5) != 0)
            a->store = a->cfg->store_url;
        if (a->dir == NULL && a->store == NULL)
            a->dir = a->cfg->records_dir;
    }
    return EXIT_OK;
}

static const char *
gc_why_kept(const struct wal_gc_file *f)
{
    if (f->verdict == WAL_GC_DAMAGED)
        return f->problem;
    if (f->verdict == WAL_GC_UNFINISHED)
        return "unfinished";
    return "record present";
}

static cJSON *
gc_file_json(const struct wal_gc_file *f)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "execution_id", f->id);
    cJSON_AddStringToObject(o, "wal_status", wal_check_name(f->status));
    cJSON_AddStringToObject(o, "state", wal_state_name(f->state));
    cJSON_AddNumberToObject(o, "bytes", (double)f->size);
    cJSON_AddBoolToObject(o, "record_present", f->has_record);
    cJSON_AddBoolToObject(o, "lock", f->has_lock);
    if (f->verdict == WAL_GC_DAMAGED)
        cJSON_AddStringToObject(o, "problem", f->problem);
    return o;
}

/* Ask on the terminal; only "y"/"yes" goes ahead. */
static bool
gc_confirm(size_t n, const char *wal_dir)
{
    char line[64];

    fprintf(stderr, "Remove %zu WAL files from %s? [y/N] ", n, wal_dir);
    fflush(stderr);
    if (fgets(line, sizeof(line), stdin) == NULL)
        return false;
    line[strcspn(line, "\r\n")] = '\0';
    return strcmp(line, "y") == 0 || strcmp(line, "Y") == 0 || strcmp(line, "yes") == 0;
}

/* Remove the collectable files; -1 on the first I/O error. */
static int
gc_apply(const struct gc_args *a, struct wal_gc_file *files, size_t n, bool *removed, size_t *locks,
         size_t *skipped, struct intentus_err *err)
{
    for (size_t i = 0; i < n; i++) {
        enum wal_gc_outcome outcome;
        bool lock_removed = false;
        if (!wal_gc_is_collectable(&files[i]))
            continue;
        if (wal_gc_remove(a->wal_dir, &files[i], &outcome, &lock_removed, err) != 0)
            return -1;
        removed[i] = outcome == WAL_GC_REMOVED;
        *locks += lock_removed ? 1 : 0;
        if (outcome == WAL_GC_CHANGED || outcome == WAL_GC_LOCKED) {
            *skipped += 1;
            fprintf(stderr, "intentus wal gc: %s: %s, left alone\n", files[i].id,
                    outcome == WAL_GC_LOCKED ? "its lock is held by a live process"
                                             : "changed since it was judged");
        }
    }
    return 0;
}

static void
gc_print(const struct gc_args *a, const struct wal_gc_file *files, size_t n, const bool *removed,
         size_t locks)
{
    size_t n_gone = 0, n_kept = 0, n_damaged = 0;
    unsigned long long bytes = 0;
    cJSON *out = a->json ? cJSON_CreateObject() : NULL;
    cJSON *gone = out ? cJSON_AddArrayToObject(out, a->dry_run ? "would_remove" : "removed") : NULL;
    cJSON *kept = out ? cJSON_AddArrayToObject(out, "kept") : NULL;

    for (size_t i = 0; i < n; i++) {
        const struct wal_gc_file *f = &files[i];
        bool goes = a->dry_run ? wal_gc_is_collectable(f) : removed[i];
        if (goes) {
            n_gone++;
            bytes += (unsigned long long)f->size;
        } else if (f->verdict != WAL_GC_FINISHED) {
            n_kept++;
            n_damaged += f->verdict == WAL_GC_DAMAGED;
        }
        if (out != NULL && (goes || f->verdict != WAL_GC_FINISHED))
            cJSON_AddItemToArray(goes ? gone : kept, gc_file_json(f));
        else if (out == NULL && (goes || f->verdict != WAL_GC_FINISHED))
            printf("%-8s %-36s  %-11s  %-7s  %s\n",
                   goes ? (a->dry_run ? "would rm" : "removed") : "kept", f->id,
                   wal_state_name(f->state), wal_check_name(f->status),
                   goes ? (f->has_lock ? "with its lock" : "") : gc_why_kept(f));
    }
    if (out != NULL) {
        cJSON_AddBoolToObject(out, "dryRun", a->dry_run);
        cJSON_AddStringToObject(out, "wal_dir", a->wal_dir);
        if (a->store != NULL)
            cJSON_AddStringToObject(out, "store", a->store);
        else
            cJSON_AddStringToObject(out, "records_dir", a->dir);
        cJSON_AddNumberToObject(out, a->dry_run ? "would_remove_count" : "removed_count",
                                (double)n_gone);
        cJSON_AddNumberToObject(out, "bytes", (double)bytes);
        cJSON_AddNumberToObject(out, "locks_removed", (double)locks);
        cJSON_AddNumberToObject(out, "kept_count", (double)n_kept);
        cJSON_AddNumberToObject(out, "damaged_count", (double)n_damaged);
        cli_print_json(stdout, out);
        cJSON_Delete(out);
        return;
    }
    printf("%s %zu WAL files, %llu bytes", a->dry_run ? "would remove" : "removed", n_gone, bytes);
    if (!a->dry_run && locks > 0)
        printf(" (and %zu stale locks)", locks);
    printf("; kept %zu of unfinished or damaged executions (%zu torn or corrupt)\n", n_kept,
           n_damaged);
}

static int
wal_gc_cmd(int argc, char **argv)
{
    struct intentus_err err = { 0 };
    struct wal_gc_file *files = NULL;
    const char *auto_confirm = getenv("INTENTUSNET_AUTO_CONFIRM");
    size_t n = 0, n_gc = 0, locks = 0, skipped = 0;
    bool *removed = NULL;
    struct gc_args a;
    int rc = gc_parse(argc, argv, &a);

    if (rc != EXIT_OK)
        goto out;
    rc = EXIT_FAIL;
    if (a.store != NULL) {
        struct store *st = store_open_url(stores_builtin, a.store,
                                          &(struct store_opts){ .read_only = true }, &err);
        int prc = st != NULL ? wal_gc_plan_store(a.wal_dir, st, &files, &n, &err) : -1;
        store_close(st);
        if (prc != 0) {
            fprintf(stderr, "intentus wal gc: --store %s: %s\n", a.store, err.msg);
            goto out;
        }
    } else if (wal_gc_plan(a.wal_dir, a.dir, &files, &n, &err) != 0) {
        fprintf(stderr, "intentus wal gc: %s\n", err.msg);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        n_gc += wal_gc_is_collectable(&files[i]);
    removed = calloc(n > 0 ? n : 1, sizeof(*removed));
    if (removed == NULL) {
        fprintf(stderr, "intentus wal gc: out of memory\n");
        goto out;
    }
    if (!a.dry_run && n_gc > 0 && !a.yes &&
        !(auto_confirm != NULL && strcmp(auto_confirm, "1") == 0)) {
        if (!isatty(STDIN_FILENO)) {
            fprintf(stderr,
                    "intentus wal gc: not on a terminal: refusing to remove %zu WAL "
                    "files without --yes (or see --dry-run)\n",
                    n_gc);
            rc = EXIT_USAGE;
            goto out;
        }
        if (!gc_confirm(n_gc, a.wal_dir)) {
            fprintf(stderr, "intentus wal gc: nothing done\n");
            goto out;
        }
    }
    if (!a.dry_run && gc_apply(&a, files, n, removed, &locks, &skipped, &err) != 0)
        fprintf(stderr, "intentus wal gc: %s\n", err.msg);
    else
        rc = EXIT_OK;
    gc_print(&a, files, n, removed, locks);
out:
    free(removed);
    free(files);
    config_free(a.cfg);
    return rc;
}

/* intentus wal keygen --out DIR: a fresh signing key pair. */
static int
wal_keygen_cmd(int argc, char **argv)
{
    static const struct option opts[] = {
        { "out", required_argument, NULL, 'o' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    struct intentus_err err = { 0 };
    struct wal_signer *s = NULL;
    const char *dir = NULL;
    char priv[4096], pub[4096];
    struct stat st;
    int c, json = 0, rc = EXIT_FAIL;

    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:j", opts, NULL)) != -1) {
        if (c == 'o')
            dir = optarg;
        else if (c == 'j')
            json = 1;
        else
            return cli_getopt_error("wal keygen", c, argv);
    }
    if (optind < argc)
        return cli_usage_error("wal keygen", "unexpected argument '%s'", argv[optind]);
    if (dir == NULL || dir[0] == '\0')
        return cli_usage_error("wal keygen", "--out DIR is required (where the key pair goes)");
    if ((size_t)snprintf(priv, sizeof(priv), "%s/wal-signer.pem", dir) >= sizeof(priv) ||
        (size_t)snprintf(pub, sizeof(pub), "%s/wal-signer.pub.pem", dir) >= sizeof(pub))
        return cli_usage_error("wal keygen", "--out: directory name too long");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        cli_error("wal keygen", "--out %s: %s", dir, strerror(errno));
        return EXIT_FAIL;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_error("wal keygen", "--out %s: not a directory", dir);
        return EXIT_FAIL;
    }
    s = wal_signer_generate(&err);
    if (s == NULL || wal_signer_save(s, priv, pub, &err) != 0) {
        cli_error("wal keygen", "%s", err.msg);
        goto out;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key_id", wal_signer_key_id(s));
        cJSON_AddStringToObject(o, "signing_key", priv);
        cJSON_AddStringToObject(o, "public_key", pub);
        cli_print_json(stdout, o);
        cJSON_Delete(o);
    } else {
        printf("key id %s\nprivate key %s (0600; config wal.signing_key)\npublic key  %s "
               "(config wal.public_key, --public-key)\n",
               wal_signer_key_id(s), priv, pub);
    }
    rc = EXIT_OK;
out:
    wal_signer_free(s);
    return rc;
}

int
cli_wal(int argc, char **argv)
{
    struct wal_args a;
    const char *cmd, *id;
    int rc;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(wal_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(wal_help, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "gc") == 0)
        return wal_gc_cmd(argc - 1, argv + 1);
    if (strcmp(argv[1], "keygen") == 0)
        return wal_keygen_cmd(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        cmd = "wal verify";
    else if (strcmp(argv[1], "inspect") == 0)
        cmd = "wal inspect";
    else
        return cli_usage_error("wal", "unknown command '%s' (verify, inspect, gc, keygen)",
                               argv[1]);
    rc = parse(cmd, argc - 1, argv + 1, &a);
    if (rc == EXIT_OK && (id = one_id(&a, argc - 1, argv + 1, &rc)) != NULL)
        rc = wal_verify_or_inspect(&a, id, strcmp(argv[1], "inspect") == 0);
    config_free(a.cfg);
    return rc;
}

static int
recovery_scan_cmd(const struct wal_args *a)
{
    struct intentus_err err = { 0 };
    struct recovery_item *items;
    struct wal_key *key;
    size_t n, unchecked = 0;
    int rc;

    key = cli_load_wal_key(a->cmd, a->public_key, a->cfg, &rc);
    if (rc != EXIT_OK)
        return rc;
    if (a->store != NULL) {
        struct store_opts o = { 0 };
        struct store *st = store_open_url(stores_builtin, a->store, &o, &err);
        if (st == NULL) {
            cli_error("recovery scan", "--store %s: %s", a->store, err.msg);
            wal_key_free(key);
            return EXIT_FAIL;
        }
        rc = recovery_scan_store(a->wal_dir, key, st, &items, &n, &err);
        store_close(st);
    } else {
        rc = recovery_scan_full(a->wal_dir, key, a->records_dir, &items, &n, &err);
    }
    if (rc != 0) {
        if (err.code != IERR_NOT_FOUND) {
            cli_error("recovery scan", "%s", err.msg);
            wal_key_free(key);
            return EXIT_FAIL;
        }
        n = 0; /* no directory yet: nothing started */
        items = NULL;
    }
    for (size_t i = 0; i < n; i++)
        unchecked += items[i].is_signed && !items[i].sig_checked;
    if (a->json) {
        cJSON *out = cJSON_CreateObject();
        cJSON *list = cJSON_AddArrayToObject(out, "incomplete_executions");
        for (size_t i = 0; i < n; i++)
            cJSON_AddItemToArray(list, recovery_item_json(&items[i]));
        cJSON_AddNumberToObject(out, "count", (double)n);
        if (key != NULL)
            cJSON_AddStringToObject(out, "signatures_checked_with", wal_key_id(key));
        else
            cJSON_AddNullToObject(out, "signatures_checked_with");
        cli_print_json(stdout, out);
        cJSON_Delete(out);
    } else {
        printf("%-36s  %-11s  %-7s  %-8s  %-6s  %s\n", "EXECUTION ID", "STATE", "WAL", "RECORD",
               "RESUME", "REASON");
        for (size_t i = 0; i < n; i++) {
            char id[FMT_ESC_SIZE(128)], why[FMT_ESC_SIZE(256)];
            printf("%-36s  %-11s  %-7s  %-8s  %-6s  %s\n",
                   cli_esc(items[i].execution_id, id, sizeof(id)), wal_state_name(items[i].state),
                   wal_check_name(items[i].wal_status),
                   items[i].record_exists    ? items[i].record_outcome
                   : items[i].record_missing ? "missing"
                                             : "-",
                   items[i].can_resume ? "yes" : "no", cli_esc(items[i].reason, why, sizeof(why)));
        }
        printf("%zu incomplete execution%s\n", n, n == 1 ? "" : "s");
        if (key != NULL)
            printf("signatures checked with key %s\n", wal_key_id(key));
        else if (unchecked > 0)
            printf("%zu signed log%s: signatures not checked (give --public-key or "
                   "wal.public_key)\n",
                   unchecked, unchecked == 1 ? "" : "s");
    }
    recovery_items_free(items, n);
    wal_key_free(key);
    return EXIT_OK;
}

/* "signed_by": the key the appended entry was signed with, or null. */
static void
add_signed_by(cJSON *out, const struct wal_signer *s)
{
    if (s != NULL)
        cJSON_AddStringToObject(out, "signed_by", wal_signer_key_id(s));
    else
        cJSON_AddNullToObject(out, "signed_by");
}

/* The store of --store (or the config's), read-only: *st NULL without
 * one. EXIT_OK, or EXIT_FAIL with the error printed. */
static int
open_records_store(const struct wal_args *a, struct store **st)
{
    struct intentus_err err = { 0 };
    struct store_opts o = { .read_only = true };

    *st = NULL;
    if (a->store == NULL)
        return EXIT_OK;
    *st = store_open_url(stores_builtin, a->store, &o, &err);
    if (*st == NULL) {
        cli_error(a->cmd, "--store %s: %s", a->store, err.msg);
        return EXIT_FAIL;
    }
    return EXIT_OK;
}

static int
recovery_resume_cmd(const struct wal_args *a, const char *id, const struct wal_signer *signer)
{
    struct intentus_err err = { 0 };
    struct recovery_item it;
    struct store *st;
    cJSON *out;
    int rc;

    if (open_records_store(a, &st) != EXIT_OK)
        return EXIT_FAIL;
    rc = recovery_resume_to(&(struct recovery_target){ a->wal_dir, a->records_dir, signer, st }, id,
                            &it, &err);
    store_close(st);
    if (rc != 0) {
        cli_error("recovery resume", "%s", err.msg);
        return EXIT_FAIL;
    }
    out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "resumed", true);
    cJSON_AddStringToObject(out, "execution_id", id);
    cJSON_AddStringToObject(out, "state", wal_state_name(it.state));
    cJSON_AddItemToObject(out, "completed_steps", cJSON_Duplicate(it.completed_steps, 1));
    add_signed_by(out, signer);
    cli_print_json(stdout, out);
    cJSON_Delete(out);
    recovery_item_free(&it);
    return EXIT_OK;
}

static int
recovery_close_cmd(const struct wal_args *a, const char *id, const struct wal_signer *signer)
{
    struct intentus_err err = { 0 };
    struct recovery_item it;
    struct store *st;
    size_t cut = 0;
    cJSON *out;
    int rc;

    if (open_records_store(a, &st) != EXIT_OK)
        return EXIT_FAIL;
    rc = recovery_close_to(&(struct recovery_target){ a->wal_dir, a->records_dir, signer, st }, id,
                           &cut, &it, &err);
    store_close(st);
    if (rc != 0) {
        cli_error("recovery close", "%s", err.msg);
        return EXIT_FAIL;
    }
    out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "closed", true);
    cJSON_AddStringToObject(out, "execution_id", id);
    cJSON_AddStringToObject(out, "state", wal_state_name(it.state));
    if (cut > 0)
        cJSON_AddNumberToObject(out, "torn_bytes_removed", (double)cut);
    add_signed_by(out, signer);
    cli_print_json(stdout, out);
    cJSON_Delete(out);
    recovery_item_free(&it);
    return EXIT_OK;
}

static int
recovery_abort_cmd(const struct wal_args *a, const char *id, const struct wal_signer *signer)
{
    struct intentus_err err = { 0 };
    size_t cut = 0;
    cJSON *out;

    if (a->reason == NULL)
        return cli_usage_error(a->cmd, "--reason is required");
    if (recovery_abort_to(&(struct recovery_target){ a->wal_dir, NULL, signer, NULL }, id,
                          a->reason, &cut, &err) != 0) {
        cli_error("recovery abort", "%s", err.msg);
        return EXIT_FAIL;
    }
    out = cJSON_CreateObject();
    cJSON_AddBoolToObject(out, "aborted", true);
    cJSON_AddStringToObject(out, "execution_id", id);
    cJSON_AddStringToObject(out, "reason", a->reason);
    if (cut > 0)
        cJSON_AddNumberToObject(out, "torn_bytes_removed", (double)cut);
    add_signed_by(out, signer);
    cli_print_json(stdout, out);
    cJSON_Delete(out);
    return EXIT_OK;
}

int
cli_recovery(int argc, char **argv)
{
    struct wal_signer *signer = NULL;
    struct wal_args a;
    const char *sub, *id;
    char cmd[32];
    int rc;

    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(recovery_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        fputs(recovery_help, stdout);
        return EXIT_OK;
    }
    sub = argv[1];
    if (strcmp(sub, "scan") != 0 && strcmp(sub, "resume") != 0 && strcmp(sub, "close") != 0 &&
        strcmp(sub, "abort") != 0)
        return cli_usage_error("recovery", "unknown command '%s' (scan, resume, close, abort)",
                               sub);
    snprintf(cmd, sizeof(cmd), "recovery %s", sub);
    rc = parse(cmd, argc - 1, argv + 1, &a);
    if (rc != EXIT_OK)
        goto out;
    if (strcmp(sub, "scan") == 0) {
        rc = a.first_arg < argc - 1
                 ? cli_usage_error(cmd, "unexpected argument '%s'", argv[a.first_arg + 1])
                 : recovery_scan_cmd(&a);
        goto out;
    }
    if ((id = one_id(&a, argc - 1, argv + 1, &rc)) == NULL)
        goto out;
    signer = load_signer(&a, &rc);
    if (rc != EXIT_OK)
        goto out;
    rc = strcmp(sub, "resume") == 0  ? recovery_resume_cmd(&a, id, signer)
         : strcmp(sub, "close") == 0 ? recovery_close_cmd(&a, id, signer)
                                     : recovery_abort_cmd(&a, id, signer);
out:
    wal_signer_free(signer);
    config_free(a.cfg);
    return rc;
}
