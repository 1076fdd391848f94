/* Retention: keep a record directory from growing without bound.
 *
 * Policies by maximum age, maximum count and maximum total bytes, combinable
 * (a record goes when any of them says so). Oldest first, by
 * header.createdUtcIso (then id), so what goes is always the oldest records:
 * first every record older than the age cutoff, then more of the oldest
 * until the count and byte limits hold.
 *
 * A plan is computed once, at the start (retention_plan_new): that is the
 * dry run, and applying the plan does exactly that — nothing newer than the
 * plan's newest record is touched, nor any file that appeared after it was
 * made. Applying deletes, or archives (each record gzipped to
 * <archive>/<id>.json.gz, written to a hidden temp file and renamed, before
 * the original is removed; rec_store reads such a directory). It is safe
 * while writers are active: hidden files (writers' temp files) are never
 * listed, and a file whose size, mtime or inode changed since the plan is
 * skipped. Files that do not parse as records are never touched and not
 * counted. Every action is appended to <dir>/.intentus-retention.log. An
 * interrupted run (the progress callback returning non-zero, or a crash)
 * leaves only whole states behind; running again finishes the job.
 *
 * With a WAL directory (retention_plan_new_wal), a record's write-ahead log
 * <wal-dir>/<id>.wal is part of the plan and goes with the record: deleted,
 * or archived beside it as <archive>/<id>.wal.gz (gzip, like the record;
 * `zcat` gives back the exact file), with a stale <id>.lock removed. Only the
 * WAL of a finished execution goes (core/wal_gc.h): an unfinished, torn or
 * corrupt one stays and is counted in wal_kept, as is one that changed since
 * the plan or whose lock is held. */
#ifndef INTENTUS_CORE_RETENTION_H
#define INTENTUS_CORE_RETENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define RETENTION_NONE (-1)
#define RETENTION_LOG ".intentus-retention.log"

struct retention_policy {
    int64_t max_age_ms; /* RETENTION_NONE: no age limit */
    int64_t max_count;  /* RETENTION_NONE: no count limit */
    int64_t max_bytes;  /* RETENTION_NONE: no size limit */
};

/* Which records a plan may take (the caller's filters): true selects the
 * record id, whose file is text (len bytes, as the plan read it). */
typedef bool (*retention_select_fn)(void *ctx, const char *id, const char *text, size_t len);

struct retention_select {
    retention_select_fn fn;
    void *ctx;
};

struct retention_intent {
    char *intent; /* "(none)" when the record names none */
    uint64_t count, bytes;
};

struct retention_report {
    uint64_t count, bytes;         /* records (to be) removed */
    uint64_t wal_count, wal_bytes; /* their WAL files (to be) removed or archived */
    uint64_t wal_kept;             /* planned records whose WAL stays (unfinished, damaged) */
    uint64_t locks_removed;        /* apply: stale <id>.lock files removed with their WAL */
    int64_t oldest_us, newest_us;
    char oldest_id[129], newest_id[129];
    struct retention_intent *intents; /* by count, most first */
    size_t n_intents;
    uint64_t kept_count, kept_bytes; /* what stays (at plan time) */
    uint64_t skipped_corrupt;        /* files that are not records: left alone */
    uint64_t not_selected;           /* records the plan's select left out */
    uint64_t skipped_changed;        /* apply: changed since the plan, left alone */
    uint64_t already_gone;           /* apply: removed by someone else meanwhile */
    bool interrupted;                /* apply: stopped by the progress callback */
};

struct retention_plan;

/* ---- the policy over rows: the one computation behind every plan ----
 * A directory read file by file, the persistent index's rows in SQL
 * (watch/index_plan.h) and a store's rows (tui/store_gc.h) all come down
 * to this: rows oldest first, the totals of them, and p decides how long
 * the prefix that goes is. */
struct retention_row {
    const char *id;
    const char *intent; /* NULL: none ("(none)" in the report) */
    int64_t created_us;
    int64_t size, mtime_ns;
    uint64_t ino;
};

/* The next row, oldest first (creation time, then id, strcmp order): 1 with
 * *row filled (borrowed until the next call), 0 at the end, -1 on error
 * (err set). */
typedef int (*retention_next_fn)(void *ctx, struct retention_row *row, struct intentus_err *err);
/* Each row the policy takes, in order; non-zero stops the run as an error
 * (err set). */
typedef int (*retention_take_fn)(void *ctx, const struct retention_row *row,
                                 struct intentus_err *err);

/* Apply p at now_us (0: the wall clock) to rows whose totals are count and
 * bytes, given by next: what goes is the oldest prefix — every row older
 * than the age cutoff, then more of the oldest until the count and byte
 * limits hold. Each row taken goes to take (NULL: none) and into r (zeroed
 * by the caller): count, bytes, oldest/newest, intents (most first),
 * kept_count and kept_bytes. next is called at most once past the last row
 * taken. 0, or -1 with err set. */
int retention_policy_run(const struct retention_policy *p, int64_t now_us, uint64_t count,
                         uint64_t bytes, retention_next_fn next, void *next_ctx,
                         retention_take_fn take, void *take_ctx, struct retention_report *r,
                         struct intentus_err *err);
/* Add one record to a report (count, bytes, range, by intent; intent NULL:
 * "(none)"); the caller sorts r->intents when done (most first). 0, or -1
 * when out of memory. */
int retention_report_add(struct retention_report *r, const char *id, const char *intent,
                         int64_t created_us, uint64_t size);
void retention_report_sort(struct retention_report *r);

/* Rows that stand for every record file of the directory (the persistent
 * index, reconciled and known to list exactly the directory's <id>.json
 * files: watch/index_plan.h). next gives those the scope's filter selects
 * and whose row is enough (not corrupt, a creation time); count and bytes
 * are their totals, not_selected the rows of that kind it leaves out;
 * read_ids are the rest, whose files are read as without rows. */
struct retention_rows {
    uint64_t count, bytes, not_selected;
    retention_next_fn next;
    void *ctx;
    char *const *read_ids;
    size_t n_read;
};

/* Plan for dir with policy p at time now_us (0: the wall clock). */
struct retention_plan *retention_plan_new(const char *dir, const struct retention_policy *p,
                                          int64_t now_us, struct intentus_err *err);
/* What a plan covers beyond the policy: the records' WALs in wal_dir (NULL:
 * records only; a missing directory holds no WAL), and the records sel
 * selects (NULL: all): the limits apply to them alone (max_count 1 keeps one
 * of them), and a record sel leaves out is never planned, so never touched
 * (counted in not_selected). */
struct retention_scope {
    const char *wal_dir;
    const struct retention_select *sel;
    /* What a cache of the directory (the persistent index) already knows,
     * one row per id; NULL: read every file. A <id>.json whose
     * inode is the known one is planned from the row without being read;
     * any other file, and a row with needs_read, is read as usual (so the
     * plan is the one reading every file gives). Because the rows are only
     * a cache, applying such a plan reads each planned file back first and
     * leaves it alone (skipped_changed) unless it still is a record created
     * at the planned time that sel selects. */
    const struct retention_known *known;
    size_t n_known;
    /* Rows that stand for the whole directory (NULL: list it): the plan
     * lists nothing and reads only the files of read_ids; only the records
     * it takes are kept in memory. sel must be the filter the rows were
     * selected with (it decides the files of read_ids, and applying reads
     * each planned file back as with known). */
    const struct retention_rows *rows;
};

struct retention_known {
    const char *id;
    const char *intent; /* NULL: none */
    int64_t created_us, size, mtime_ns;
    uint64_t ino;
    bool is_selected; /* sel's answer for this record */
    bool needs_read;  /* the row cannot tell (corrupt, no creation time): read the file */
};
struct retention_plan *retention_plan_new_scoped(const char *dir,
                                                 const struct retention_scope *scope,
                                                 const struct retention_policy *p, int64_t now_us,
                                                 struct intentus_err *err);
/* Shorthands for one half of the scope. */
struct retention_plan *retention_plan_new_selected(const char *dir,
                                                   const struct retention_policy *p,
                                                   const struct retention_select *sel,
                                                   int64_t now_us, struct intentus_err *err);
struct retention_plan *retention_plan_new_wal(const char *dir, const char *wal_dir,
                                              const struct retention_policy *p, int64_t now_us,
                                              struct intentus_err *err);
void retention_plan_free(struct retention_plan *plan);
/* The dry run's result; owned by the plan. */
const struct retention_report *retention_plan_report(const struct retention_plan *plan);
/* Planned ids, oldest first. */
size_t retention_plan_size(const struct retention_plan *plan);
const char *retention_plan_id(const struct retention_plan *plan, size_t i);

/* After each record: done of total; non-zero stops the run (interrupted). */
typedef int (*retention_progress_fn)(void *ctx, size_t done, size_t total, const char *id);

struct retention_apply_opts {
    const char *archive_dir; /* NULL: delete; else gzip there (created 0700) */
    retention_progress_fn progress;
    void *ctx;
};

/* Apply the plan; *done reports what was actually removed (free it with
 * retention_report_free). -1 on an error that stopped the run (err says
 * which file); what was done so far is in *done either way. */
int retention_apply(struct retention_plan *plan, const struct retention_apply_opts *opts,
                    struct retention_report *done, struct intentus_err *err);
void retention_report_free(struct retention_report *r);

#endif
