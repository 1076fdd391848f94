/* Where finished records go. Two modes:
 *  - sync: each record is written (hidden temp file, rename; with fsync the
 *    file and the directory are synced) before writer_submit returns;
 *  - async: writer_submit queues the record and returns; one writer thread
 *    drains the bounded queue in batches (group commit): each file is
 *    written and renamed into place, and with fsync each file is synced
 *    before its rename and the directory once per batch.
 * Either way a file appears under its final name only when complete, so a
 * reader never sees half a record, even if the process is killed.
 * When the async queue is full the writer blocks the caller or drops the
 * record, as configured; a drop is always counted and reported, never
 * silent. Closing flushes everything queued. */
#ifndef INTENTUS_CORE_WRITER_H
#define INTENTUS_CORE_WRITER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum writer_mode { WRITER_SYNC, WRITER_ASYNC };
enum writer_on_full { WRITER_BLOCK, WRITER_DROP };

struct writer_opts {
    enum writer_mode mode;
    bool fsync;
    size_t capacity;  /* async queue; 0: 1024 */
    size_t max_batch; /* records per group commit; 0: 128 */
    enum writer_on_full on_full;
};

struct writer_stats {
    uint64_t written; /* records on disk under their final name */
    uint64_t dropped; /* refused because the queue was full (on_full drop) */
    uint64_t errors;  /* records that could not be written */
    uint64_t batches; /* group commits (async) */
    size_t queued;    /* waiting right now */
};

struct writer;

/* Creates dir (0700) if missing. */
struct writer *writer_open(const char *dir, const struct writer_opts *opts,
                           struct intentus_err *err);
/* Flushes (async), stops the thread and frees. Accepts NULL. */
void writer_close(struct writer *w);
/* Hand over a finished record (ownership taken in every case). Sync: 0 once
 * it is on disk. Async: 0 once queued (a later write error is counted in
 * errors and kept as the last error); -1 with IERR_LIMIT when dropped. */
int writer_submit(struct writer *w, cJSON *record, struct intentus_err *err);
/* Wait until everything queued so far is written. */
void writer_flush(struct writer *w);
void writer_stats(struct writer *w, struct writer_stats *out);
/* The most recent background write error (code IERR_OK when none). */
void writer_last_error(struct writer *w, struct intentus_err *out);
const char *writer_dir(const struct writer *w);
enum writer_mode writer_mode(const struct writer *w);

#endif
