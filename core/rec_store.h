/* The record store: one file per execution, <dir>/<executionId>.json.
 *
 * Writes go to a hidden temp file in the same directory and are renamed into
 * place (optionally fsync'd, file then directory), so a reader never sees a
 * half-written record. Files are 0600 in a 0700 directory, symlinks are not
 * followed, and ids are checked before they become file names so nothing can
 * leave the directory. Records the reference wrote in place load the same.
 *
 * Encryption at rest (core/crypt.h) sits here, below every reader: a store
 * opened with encrypt seals every record it saves (AES-256-GCM, the file
 * keeps its name <id>.json and is told from plaintext by its magic), and
 * rec_store_read opens sealed files (<id>.json and <id>.json.gz alike) with
 * the store's keyring, else the process's reading keyring, transparently.
 * A file it cannot open is an error that says why, distinctly: "encrypted,
 * key K missing", "encrypted with key K, which ... does not hold (wrong
 * key)", "tampered", "truncated"; the bytes are never returned as data. */
#ifndef INTENTUS_CORE_REC_STORE_H
#define INTENTUS_CORE_REC_STORE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/crypt.h"
#include "core/err.h"

/* The one size limit of a record file. Readers refuse anything larger (it
 * is reported, not loaded), and writers refuse to write a record whose file
 * would be larger, so intentus never writes a record it cannot read. */
#define REC_STORE_MAX_FILE ((size_t)64 * 1024 * 1024)
/* The largest payload a record can hold: a record keeps the payload up to
 * three times (the envelope, an echoing agent's response and the final
 * response event), plus indentation and events. recording.max_payload_bytes
 * may not be set above it, and a router that records caps payloads at it. */
#define REC_STORE_MAX_PAYLOAD (REC_STORE_MAX_FILE / 4)

struct rec_store;

struct rec_store_opts {
    bool create; /* create the directory (0700, with parents) if missing */
    bool fsync;  /* fsync file and directory on every save */
    /* Seal every saved record with keys' newest key (keys required). */
    bool encrypt;
    /* Borrowed, must outlive the store; NULL: crypt_reader() for reading. */
    const struct crypt_keyring *keys;
};

struct rec_store *rec_store_open(const char *dir, const struct rec_store_opts *opts,
                                 struct intentus_err *err);
void rec_store_close(struct rec_store *rs);
const char *rec_store_dir(const struct rec_store *rs);
/* The open directory (for fstatat and listing); owned by the store. */
int rec_store_dirfd(const struct rec_store *rs);

/* The longest record id (rec_store_id_is_valid). */
#define REC_STORE_ID_MAX 128

/* True when id is safe as a file name: 1-128 characters from [A-Za-z0-9._-],
 * not starting with '.'. UUIDs (ours v7, the reference's v4) always are. */
bool rec_store_id_is_valid(const char *id);

/* Save a record under its header.executionId; the text is the reference's
 * pretty form, so the reference can read it. A thin wrapper: prints the
 * tree and calls rec_store_save_text. */
int rec_store_save(struct rec_store *rs, const cJSON *record, struct intentus_err *err);
/* Save a record's final text (already the reference's pretty form) as
 * <id>.json: the id is checked, the text sealed when the store encrypts,
 * the file size checked (rec_store_check_size), then temp file, [fsync],
 * rename, [fsync of the directory]. Text is borrowed. */
int rec_store_save_text(struct rec_store *rs, const char *id, const char *text, size_t len,
                        struct intentus_err *err);
/* Save text, as given byte for byte (sealed when the store encrypts), as
 * <id>.json, never replacing an existing file: -1 with IERR_INVALID and
 * errno EEXIST when <id>.json exists. For copying records between stores
 * (the file engine's put, core/store.h). */
int rec_store_put_text(struct rec_store *rs, const char *id, const char *text, size_t len,
                       struct intentus_err *err);
/* The first half of rec_store_save_text, for writers that put the file in
 * place themselves (the async writer's group commit): checks id, seals text
 * into *sealed when the store encrypts, checks the size. *data and *dlen are
 * the file's bytes: text itself, or sealed's. sealed is the caller's
 * (BUF_INIT, buf_free after). */
int rec_store_prepare(struct rec_store *rs, const char *id, const char *text, size_t len,
                      struct buf *sealed, const char **data, size_t *dlen,
                      struct intentus_err *err);

/* One file put in place the way every record file is: written under a
 * hidden temp name (".<name>.<random>.tmp", skipped by every lister and
 * watcher), optionally synced, closed and renamed, so nobody ever sees it
 * half written. The one implementation behind rec_store_save_text, the
 * async writer's group commit and retention's archive (core/retention.c).
 * Errors name dir and the file. The directory is never synced here. */
struct rec_file {
    int fd; /* the temp file while open; -1 once committed or aborted */
    char name[160];
    char tmp[200];
};
/* Create the temp file and write data; -1 with nothing left behind. */
int rec_file_write(struct rec_file *f, int dirfd, const char *dir, const char *name,
                   const void *data, size_t len, struct intentus_err *err);
/* Start writing the file's data back without waiting (sync_file_range), so
 * the syncs of a batch overlap; the later rec_file_sync still decides. */
void rec_file_start_sync(struct rec_file *f);
/* fsync (data_only: fdatasync) the temp file. */
int rec_file_sync(struct rec_file *f, const char *dir, bool data_only, struct intentus_err *err);
/* Close and rename into place; on failure the temp file is removed. */
int rec_file_commit(struct rec_file *f, int dirfd, const char *dir, struct intentus_err *err);
/* Close and link into place, never replacing an existing file (then -1
 * with IERR_INVALID, errno EEXIST); the temp file is removed either way. */
int rec_file_commit_new(struct rec_file *f, int dirfd, const char *dir, struct intentus_err *err);
/* Close and remove the temp file (after a failure). Accepts a closed f. */
void rec_file_abort(struct rec_file *f, int dirfd);
/* All of it: write, [fsync], commit. */
int rec_file_put(int dirfd, const char *dir, const char *name, const void *data, size_t len,
                 bool do_fsync, struct intentus_err *err);

/* Read the raw bytes of <id>.json (NUL-terminated, caller frees). When it is
 * absent, <id>.json.gz is read and decompressed instead (an archive
 * directory written by retention), under the same size limit. */
char *rec_store_read(struct rec_store *rs, const char *id, size_t *len, struct intentus_err *err);
/* Read, parse and validate a record. */
cJSON *rec_store_load(struct rec_store *rs, const char *id, struct intentus_err *err);
/* rec_store_read that also says whether the file was sealed (CRYPT_OK) or
 * plain, or why it could not be opened (st is CRYPT_PLAIN for errors that
 * are not about encryption: missing, unreadable, not gzip). */
char *rec_store_read_st(struct rec_store *rs, const char *id, size_t *len, enum crypt_status *st,
                        struct intentus_err *err);
/* The keyring this store reads with (its own, else crypt_reader()); NULL
 * when none. */
const struct crypt_keyring *rec_store_keys(const struct rec_store *rs);

/* Ids of every visible *.json (and *.json.gz) file, once each, sorted by name (for UUIDv7 ids, by
 * time). Corrupt files are listed too; hidden files are not. The caller
 * frees with rec_store_ids_free. */
/* 0 when a record file of len bytes is within REC_STORE_MAX_FILE; else -1
 * with IERR_LIMIT naming the record id and both sizes. Every writer of
 * record files checks this before it creates anything. */
int rec_store_check_size(const char *id, size_t len, struct intentus_err *err);

/* write(2) all of p, retrying short writes and EINTR: 0 or -1 (errno set).
 * Shared by everything that writes record files (store, writer, retention). */
int rec_store_write_all(int fd, const void *data, size_t len);

struct rec_ids {
    char **ids;
    size_t n;
};
int rec_store_list(struct rec_store *rs, struct rec_ids *out, struct intentus_err *err);
void rec_store_ids_free(struct rec_ids *ids);

#endif
