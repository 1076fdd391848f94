/* What the watcher knows of one record directory: every visible record file
 * (<id>.json, or <id>.json.gz in an archive) with the size, mtime and inode
 * it had when last digested. Scanning compares the directory with that, so
 * a full rescan (after an inotify overflow, or every tick in polling mode)
 * digests only new or changed files, reports files that went away, and never
 * reports a record twice. Hidden files (writers' temp files) are ignored.
 *
 * A file that does not parse may be a writer still writing it: with retries
 * it is tried again after retry_us, up to that many times, before it is
 * reported as corrupt (with the parse error). It is never modified.
 *
 * What is known costs about 40-50 bytes a file (a 1,000,000-file directory
 * in under 50 MB): ids that are UUIDs in canonical lowercase form are kept
 * as 16 bytes, other names in one arena, no allocation per file. */
#ifndef INTENTUS_WATCH_SCAN_H
#define INTENTUS_WATCH_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rec_store.h"
#include "watch/digest.h"

struct scan;

struct scan_opts {
    int retries;      /* parse retries before "corrupt"; 0: report at once */
    int64_t retry_us; /* delay between them */
    int threads;      /* scan_full's digest threads; 0: one per online core */
};

/* A record appeared or changed (d non-NULL, ownership passes to the callee)
 * or went away (d NULL). Non-zero stops the scan in progress. */
typedef int (*scan_emit_fn)(void *ctx, const char *id, struct digest *d);

struct scan *scan_new(const struct scan_opts *opts);
void scan_free(struct scan *s);

/* Compare the whole directory with what is known. The directory is listed
 * and stat'ed first; the new and changed files are then read and digested
 * on worker threads (reads and digests only, they touch nothing else) and
 * reported on the calling thread in listing order, so emit needs no locks.
 * Each id is looked at once per scan. */
int scan_full(struct scan *s, struct rec_store *rs, int64_t now_us, scan_emit_fn emit, void *ctx,
              struct intentus_err *err);
/* One directory entry changed (written, renamed in) or went away. Names that
 * are hidden or not record files are ignored. */
int scan_name(struct scan *s, struct rec_store *rs, const char *name, int64_t now_us,
              scan_emit_fn emit, void *ctx);
/* A directory entry was created (IN_CREATE). A regular file with one link
 * is a writer that has just opened it: nothing yet, its IN_CLOSE_WRITE
 * follows. Anything else raises no further event, so it is classified now
 * as scan_full would: a hard link to a record is a record; a symlink, FIFO,
 * directory or other non-file is shown as not a record (never followed). */
int scan_created(struct scan *s, struct rec_store *rs, const char *name, int64_t now_us,
                 scan_emit_fn emit, void *ctx);
int scan_gone(struct scan *s, const char *name, scan_emit_fn emit, void *ctx);
/* Report every known record as gone and forget them (directory removed). */
int scan_forget_all(struct scan *s, scan_emit_fn emit, void *ctx);
/* Retry files whose retry time has come; scan_next_retry is the earliest
 * pending one (0: none). */
int scan_retry_due(struct scan *s, struct rec_store *rs, int64_t now_us, scan_emit_fn emit,
                   void *ctx);
int64_t scan_next_retry(const struct scan *s);
size_t scan_known(const struct scan *s);
/* Persistent indexes (watch/index_db.h): make id known as already
 * reported with this file identity, so the next scan_full digests it only
 * when the file changed and reports it gone when it went. */
int scan_preload(struct scan *s, const char *id, int64_t size, int64_t mtime_ns, uint64_t ino);
/* The file identity id was last digested with; -1 when id is unknown. */
int scan_identity(const struct scan *s, const char *id, int64_t *size, int64_t *mtime_ns,
                  uint64_t *ino);
/* The record id a directory entry names, into id[size]; false for hidden
 * files and anything but *.json / *.json.gz. */
bool scan_id_of(const char *name, char *id, size_t size);

#endif
