/* The write-ahead log (reference §6): one file per execution,
 * <dir>/<executionId>.wal, one JSON entry per line in the reference's exact
 * form (Python json.dumps default separators ", " and ": ", raw UTF-8, keys
 * seq, execution_id, timestamp_iso, entry_type, payload, prev_hash,
 * entry_hash, version). entry_hash is the canonical SHA-256 (§3.2) of
 * {seq, execution_id, timestamp_iso, entry_type, payload, prev_hash,
 * version}; prev_hash chains each entry to the one before (null first).
 *
 * Durability:
 *  - WAL_PER_ENTRY: every append is written and fdatasync'd before it
 *    returns (the reference's rule); a new file's directory entry is synced
 *    once, at creation;
 *  - WAL_GROUP: appends are written at once (so order and content survive a
 *    process crash) and a syncer thread fsyncs the files written since its
 *    last pass, many executions' appends in one pass. A *commit point*
 *    append waits until a pass that began after its write has finished, so
 *    when it returns it is as durable as with WAL_PER_ENTRY;
 *  - WAL_NONE: written, never synced (survives a process crash, not a power
 *    cut).
 *
 * Reading never repairs: a final line without its newline is reported as
 * WAL_TORN ("torn final line"), distinct from WAL_CORRUPT (a line that does
 * not parse, a broken chain, a foreign entry, a wrong hash). */
#ifndef INTENTUS_CORE_WAL_H
#define INTENTUS_CORE_WAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/crypt.h"
#include "core/err.h"
#include "core/wal_state.h"

#define WAL_DEFAULT_DIR ".intentusnet/wal"
#define WAL_VERSION "1.0"
#define WAL_MAX_FILE ((size_t)256 * 1024 * 1024)

enum wal_durability { WAL_PER_ENTRY, WAL_GROUP, WAL_NONE };

const char *wal_durability_name(enum wal_durability d);
/* "per_entry", "group" or "none"; -1 for anything else. */
int wal_durability_parse(const char *text, enum wal_durability *out);

/* True for the entry_type strings of §6.3 (the reader refuses others). */
bool wal_entry_type_is_known(const char *type);

/* ---- writing ---- */

struct wal;      /* a WAL directory: shared by every execution of a runtime */
struct wal_file; /* one execution's log, open for appending */

struct wal_signer; /* core/wal_sign.h */

struct wal_opts {
    enum wal_durability durability;
    bool create; /* create the directory (0700, with parents) if missing */
    /* Sign every entry written (signature, signer_key_id, as the reference
     * does); borrowed, must outlive the wal. NULL: entries are unsigned. */
    const struct wal_signer *signer;
    /* recording.encryption: seal every entry (one sealed line per entry,
     * CRYPT_WAL_PREFIX + base64 of a core/crypt.h blob), so appends stay
     * line-atomic and a torn final line is still just a torn line. Borrowed;
     * NULL: plaintext. Readers open sealed lines with the keyring the log's
     * wal was opened with, else crypt_reader(); a line that cannot be opened
     * makes the log WAL_CORRUPT with the reason (key missing, tampered). */
    const struct crypt_keyring *keys;
};

struct wal *wal_open(const char *dir, const struct wal_opts *opts, struct intentus_err *err);
/* Waits for the syncer's last pass. Every wal_file must be closed first. */
void wal_close(struct wal *w);
const char *wal_dir(const struct wal *w);
enum wal_durability wal_durability(const struct wal *w);

/* Create <dir>/<id>.wal (it must not exist yet). */
struct wal_file *wal_file_create(struct wal *w, const char *execution_id, struct intentus_err *err);
/* Open an existing log to append to it (recovery, abort): the log is read
 * and verified first, and seq, prev_hash and the state continue from its
 * last entry. A corrupt log is refused; a torn one too, unless
 * truncate_torn, which cuts the torn bytes off (*truncated says how many).
 * Signatures: a signed log is appended to only with the wal's signer of
 * the same key (its signatures are checked with it first), an unsigned
 * log only without a signer (a half-signed log fails every check); each
 * refusal names the keys involved. */
struct wal_file *wal_file_reopen(struct wal *w, const char *execution_id, bool truncate_torn,
                                 size_t *truncated, struct intentus_err *err);
/* Append one entry; payload is taken (freed on failure too). Lifecycle
 * entries are checked against the state machine first (an illegal one is
 * refused with "Illegal state transition: a → b" and nothing written).
 * commit: a commit point (group durability waits for its sync, and fails
 * when that sync failed). An entry that cannot be written (full disk) is
 * cut off again, so the log stays whole. Safe to call from several threads
 * on the same file (PARALLEL branches). */
int wal_append(struct wal_file *f, const char *entry_type, cJSON *payload, bool commit,
               struct intentus_err *err);
/* The state after the entries appended so far. */
enum wal_state wal_file_state(const struct wal_file *f);
const char *wal_file_id(const struct wal_file *f);
/* Syncs (except WAL_NONE) and closes. Accepts NULL. */
void wal_file_close(struct wal_file *f);
/* Removes the log and closes it, for an execution that must leave no log
 * behind (refused before its commit point, or not recorded on purpose).
 * Accepts NULL. */
void wal_file_discard(struct wal_file *f);

/* ---- reading ---- */

enum wal_check {
    WAL_OK,      /* every line parses and the chain verifies */
    WAL_EMPTY,   /* the file exists and holds no entry */
    WAL_TORN,    /* the entries before it verify; the last line is incomplete */
    WAL_CORRUPT, /* a complete line is bad: not JSON, missing keys, chain or hash */
    WAL_MISSING, /* no such file */
    WAL_IO,      /* cannot be read */
};
const char *wal_check_name(enum wal_check c); /* "ok", "torn", ... */

struct wal_log {
    enum wal_check status;
    cJSON *entries;    /* array of the entries that verified, in order; owned */
    size_t n_entries;  /* cJSON_GetArraySize(entries) */
    size_t bad_line;   /* 1-based line of the problem; 0 when none */
    size_t torn_bytes; /* WAL_TORN: bytes after the last newline */
    size_t good_bytes; /* length of the verified prefix (whole lines) */
    char problem[256]; /* "line 3: prev_hash does not match entry 2", "torn final line..." */
    /* Signatures (core/wal_sign.h). A log is signed when any entry carries
     * a signature or signer_key_id; then every entry must carry both. */
    bool is_signed;
    bool sig_checked;   /* every verified entry's signature checked with a key */
    bool bad_signature; /* WAL_CORRUPT because of a signature (missing, foreign, forged) */
    char key_id[17];    /* the signer_key_id of the first signed entry, "" when none */
};

/* Read and verify <dir>/<id>.wal. Returns 0 when it could be judged (see
 * out->status, WAL_MISSING included), -1 only on allocation failure or an
 * invalid id. */
int wal_read(const char *dir, const char *execution_id, struct wal_log *out,
             struct intentus_err *err);
/* wal_read, and with key (may be NULL) every entry's Ed25519 signature is
 * checked: a signed log and a key -> each entry must carry a signature by
 * that key that verifies; a key and an unsigned log -> refused, every
 * entry must be signed; a signed log and no key -> the signatures are not
 * checked (sig_checked false), though an entry without one is still
 * refused. A refusal is WAL_CORRUPT with bad_signature, the problem naming
 * the line and seq ("line 3: seq 3: signature does not verify with key
 * <id>"), and entries holding the entries before it. */
struct wal_key;
int wal_read_key(const char *dir, const char *execution_id, const struct wal_key *key,
                 struct wal_log *out, struct intentus_err *err);
/* The same from text already in memory; id may be NULL (not checked). */
int wal_parse(const char *text, size_t len, const char *execution_id, struct wal_log *out,
              struct intentus_err *err);
void wal_log_free(struct wal_log *log);

/* The entry hash of an entry object (its entry_hash and signature keys
 * ignored) into hex[65]. */
int wal_entry_hash(const cJSON *entry, char hex[65], struct intentus_err *err);

/* Ids of every visible *.wal in dir, sorted (caller frees each and the
 * array). */
int wal_list(const char *dir, char ***ids, size_t *n, struct intentus_err *err);
void wal_list_free(char **ids, size_t n);

/* The path of an execution's log into buf; -1 when the id is not valid. */
int wal_path(const char *dir, const char *execution_id, const char *suffix, char *buf, size_t size);

#endif
