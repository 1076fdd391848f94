/* Queries over the persistent record index (watch/index_db.h): the filters
 * of watch/index.h as SQL WHERE clauses with bound parameters, time order
 * as ORDER BY ... LIMIT, id prefix lookup, and the rows
 * retention plans from. Every filter means exactly what index_query()
 * means on the in-memory index; the one SQL cannot say exactly (the
 * case-insensitive --search substring) runs in C on the rows, inside the
 * query (a registered SQL function), so the answer is never a different one.
 *
 * The index is a cache of the files: the caller opens (and so reconciles)
 * it with index_db_open first. */
#ifndef INTENTUS_WATCH_INDEX_QUERY_H
#define INTENTUS_WATCH_INDEX_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rec_store.h"
#include "watch/index.h"
#include "watch/index_db.h"

/* Visit the records matching f (NULL: all) as digests (borrowed for the
 * call, steps included), in time order (creation time, then id), newest
 * first when asked, at most limit (0: no limit). Non-zero from fn stops the
 * walk. Returns the number visited, -1 on error (err set). */
long index_query_select(struct index_db *db, const struct index_filter *f, bool newest_first,
                        size_t limit, index_db_each_fn fn, void *ctx, struct intentus_err *err);

/* For queries of other watch/ modules: prepare sql, in which the marker
 * INDEX_QUERY_WHERE stands for the condition f puts on the table aliased r
 * (records r): "(1)" for none. Parameters ?1..?n are f's; the return is n
 * (the caller's own parameters come after), -1 on error. */
#define INDEX_QUERY_WHERE "$WHERE"
struct sqlite3_stmt;
int index_query_prepare(struct index_db *db, const char *sql, const struct index_filter *f,
                        struct sqlite3_stmt **st, struct intentus_err *err);

/* Number of records matching f; -1 on error. */
long index_query_count(struct index_db *db, const struct index_filter *f, struct intentus_err *err);

/* Ids starting with prefix, in id order: up to max of them into ids[]
 * (strdup'ed, the caller frees each). Returns how many match in all (at
 * most max + 1: "more than max"), -1 on error. */
long index_query_prefix(struct index_db *db, const char *prefix, char **ids, size_t max,
                        struct intentus_err *err);

/* One indexed record as retention plans from it: the row's creation time,
 * intent and file identity, whether the digest found it corrupt (the row
 * cannot tell retention's own verdict then: read the file), and whether f
 * selects it. */
struct index_query_file {
    char *id, *intent;
    int64_t created_us;
    int64_t size, mtime_ns;
    uint64_t ino;
    bool is_corrupt, is_selected;
};

/* Every indexed record, in no particular order, with is_selected saying
 * whether f (NULL: everything) selects it. *n entries in *out, freed with
 * index_query_files_free. */
int index_query_files(struct index_db *db, const struct index_filter *f,
                      struct index_query_file **out, size_t *n, struct intentus_err *err);
void index_query_files_free(struct index_query_file *files, size_t n);

#endif
