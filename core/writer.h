/* Where finished records go. Two modes:
 *  - sync: each record is written (hidden temp file, rename; with fsync the
 *    file and the directory are synced) before writer_submit returns;
 *  - async: writer_submit queues the record and returns; writer threads
 *    (opts.threads) drain the bounded queue in batches (group commit): each
 *    thread takes what is queued (up to max_batch), writes every file of
 *    the batch under a hidden temp name, with fsync makes their data
 *    durable in one step (one file: fdatasync; more: one syncfs of the
 *    store's file system, which also writes back other processes' dirty
 *    data there), renames them into place and syncs the directory once per
 *    batch. With fsync a batch smaller than the thread's last one waits a
 *    moment (at most a quarter of the last commit's time, 1 ms at most)
 *    for the submitters that commit acknowledged. A record's fate is
 *    decided only after that directory fsync: an acknowledgement never
 *    runs ahead of the fsync that covers it.
 * Either way a file appears under its final name only when complete, so a
 * reader never sees half a record, even if the process is killed.
 * When the async queue is full the writer blocks the caller or drops the
 * record, as configured; a drop is always counted and reported, never
 * silent. Closing flushes everything queued.
 *
 * Each queued record has a fate (writer_submit_tracked): pending until a
 * writer thread has written it under its final name (with fsync: and synced
 * the directory) or failed, with the error that stopped it. Whoever
 * submitted a record can wait for its fate or be told when it is decided,
 * so nothing reports "recorded" for a record that never reached the disk.
 * A record whose file would be larger than REC_STORE_MAX_FILE is refused
 * before anything is written, in either mode. */
#ifndef INTENTUS_CORE_WRITER_H
#define INTENTUS_CORE_WRITER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypt.h"
#include "core/err.h"

enum writer_mode { WRITER_SYNC, WRITER_ASYNC };
#define WRITER_DEFAULT_THREADS 2 /* async writer threads without fsync */
#define WRITER_FSYNC_THREADS 4   /* and with fsync */
enum writer_on_full { WRITER_BLOCK, WRITER_DROP };

struct writer_opts {
    enum writer_mode mode;
    bool fsync;
    size_t capacity;  /* async queue; 0: 1024 */
    size_t max_batch; /* records per group commit; 0: 128 (with fsync at most 32) */
    /* Async writer threads, each taking its own group from the queue; 0:
     * WRITER_FSYNC_THREADS with fsync, else WRITER_DEFAULT_THREADS. */
    size_t threads;
    enum writer_on_full on_full;
    /* recording.encryption: seal every record with keys' newest key.
     * Borrowed; must outlive the writer. NULL: plaintext. */
    const struct crypt_keyring *keys;
    /* A store engine (core/store.h) every record goes through instead of
     * files in dir: borrowed, must outlive the writer, used by it alone.
     * Each async batch is one store_begin..store_commit (group commit: a
     * record is written once the commit returned); sync mode puts each
     * record on the caller's thread, callers taking turns. NULL: files. */
    struct store *engine;
};

struct writer_stats {
    uint64_t written; /* records on disk under their final name */
    uint64_t dropped; /* refused because the queue was full (on_full drop) */
    uint64_t errors;  /* records that could not be written */
    uint64_t batches; /* group commits (async) */
    size_t queued;    /* waiting right now */
};

struct writer;

/* Creates dir (0700) if missing (with opts->engine, dir is unused). */
struct writer *writer_open(const char *dir, const struct writer_opts *opts,
                           struct intentus_err *err);
/* Flushes (async), stops the thread and frees. Accepts NULL. */
void writer_close(struct writer *w);
/* Hand over a finished record (ownership taken in every case). Sync: 0 once
 * it is on disk. Async: 0 once queued (a later write error is counted in
 * errors and kept as the last error); -1 with IERR_LIMIT when dropped. */
int writer_submit(struct writer *w, cJSON *record, struct intentus_err *err);
/* writer_submit_tracked for a record already serialised: text is its
 * final pretty text (what rec_store_save would write), id its
 * header.executionId. Ownership of text is taken in every case; fate may be
 * NULL, else it is set as by writer_submit_tracked. Encryption and the
 * size limit apply as for a tree. */
struct writer_fate;
int writer_submit_text(struct writer *w, const char *id, char *text, size_t len,
                       struct writer_fate **fate, struct intentus_err *err);
/* The fate of one queued record. Refcounted: the submitter's reference is
 * released with writer_fate_release; the writer drops its own once it has
 * decided (so a fate may outlive the writer). */
struct writer_fate;
enum writer_fate_state { WRITER_FATE_PENDING, WRITER_FATE_WRITTEN, WRITER_FATE_FAILED };
typedef void (*writer_fate_fn)(void *ctx, struct writer_fate *fate);

/* writer_submit, and when an async writer queued the record, *fate gets its
 * fate (owned by the caller). *fate is NULL otherwise: in sync mode the
 * return value is the fate (the record is written or not before this
 * returns), and a record refused at once (dropped, closing) has none. */
int writer_submit_tracked(struct writer *w, cJSON *record, struct writer_fate **fate,
                          struct intentus_err *err);
/* The state now; when it is WRITER_FATE_FAILED, err (may be NULL) gets why. */
enum writer_fate_state writer_fate_get(struct writer_fate *f, struct intentus_err *err);
/* Block until the fate is decided: 0 written, -1 failed (err says why). */
int writer_fate_wait(struct writer_fate *f, struct intentus_err *err);
/* Have fn(ctx, f) called once the fate is decided: right away, on this
 * thread, when it already is; otherwise on the writer thread, which fn must
 * not block for long. At most one per fate; f stays valid during the call. */
void writer_fate_notify(struct writer_fate *f, writer_fate_fn fn, void *ctx);
/* Accepts NULL. */
void writer_fate_release(struct writer_fate *f);
/* Wait until everything queued so far is written (every fate decided). */
void writer_flush(struct writer *w);
void writer_stats(struct writer *w, struct writer_stats *out);
/* The most recent background write error (code IERR_OK when none). */
void writer_last_error(struct writer *w, struct intentus_err *out);
const char *writer_dir(const struct writer *w);
enum writer_mode writer_mode(const struct writer *w);

#endif
