/* Removing WAL files (<wal-dir>/<id>.wal and a stale <id>.lock) once their
 * execution is over: by `intentus wal gc` when the record is gone, and by
 * retention together with the record it removes or archives.
 *
 * A WAL may go only when its execution finished: every line verifies and the
 * state it reconstructs is completed, failed or aborted. An unfinished log
 * (created, started, in progress, recovering), an empty one, a torn or
 * corrupt one, one that cannot be read, and one whose lock is held by a live
 * process are never removed: they are reported (recovery needs them).
 * Removing is checked against what was judged (size, mtime, inode), so a log
 * appended to since is left alone. */
#ifndef INTENTUS_CORE_WAL_GC_H
#define INTENTUS_CORE_WAL_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/wal.h"
#include "core/wal_state.h"

enum wal_gc_verdict {
    WAL_GC_FINISHED,   /* may go */
    WAL_GC_UNFINISHED, /* verifies, execution not over (or empty): kept */
    WAL_GC_DAMAGED,    /* torn, corrupt or unreadable: kept, reported */
    WAL_GC_ABSENT,     /* no such WAL */
};
const char *wal_gc_verdict_name(enum wal_gc_verdict v); /* "finished", ... */

/* One WAL file as judged. */
struct wal_gc_file {
    char id[129];
    enum wal_gc_verdict verdict;
    enum wal_check status;
    enum wal_state state;
    int64_t size, mtime_ns;
    uint64_t ino;
    bool has_lock;   /* <id>.lock exists */
    bool has_record; /* wal_gc_plan: <id>.json or <id>.json.gz is still in the records dir */
    char problem[256];
};

/* Judge <wal_dir>/<id>.wal (ABSENT when there is none). -1 only on an
 * invalid id or allocation failure. */
int wal_gc_judge(const char *wal_dir, const char *id, struct wal_gc_file *out,
                 struct intentus_err *err);

/* The bytes of a judged WAL (caller frees), provided it is still the file
 * judged; NULL with IERR_VERIFY when it changed or went. */
char *wal_gc_read(const char *wal_dir, const struct wal_gc_file *f, size_t *len,
                  struct intentus_err *err);

enum wal_gc_outcome {
    WAL_GC_REMOVED, /* the WAL (and its stale lock, if any) are gone */
    WAL_GC_GONE,    /* someone else removed it meanwhile */
    WAL_GC_CHANGED, /* it changed since it was judged: left alone */
    WAL_GC_LOCKED,  /* its lock is held by a live process: left alone */
};

/* Remove a FINISHED WAL and its lock file, holding the lock (flock) while
 * doing so. *lock_removed (may be NULL) says whether a lock file went.
 * -1 on an I/O error (err names the file). */
int wal_gc_remove(const char *wal_dir, const struct wal_gc_file *f, enum wal_gc_outcome *outcome,
                  bool *lock_removed, struct intentus_err *err);

/* Every visible <id>.wal in wal_dir, judged, with has_record looked up in
 * records_dir (which must exist: a wrong directory would make every record
 * look gone). Sorted by id; free with free(). A missing wal_dir is no WAL at
 * all (0, *n = 0). */
int wal_gc_plan(const char *wal_dir, const char *records_dir, struct wal_gc_file **files, size_t *n,
                struct intentus_err *err);

/* The same with has_record looked up by id through st (core/store.h:
 * sqlite, postgres, file); a lookup the store cannot answer (other than
 * "not there") fails the plan rather than make a record look gone. */
struct store;
int wal_gc_plan_store(const char *wal_dir, struct store *st, struct wal_gc_file **files, size_t *n,
                      struct intentus_err *err);

/* True when wal gc would remove this file: finished and its record gone. */
bool wal_gc_is_collectable(const struct wal_gc_file *f);

#endif
