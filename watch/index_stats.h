/* `records stats` through the persistent index (watch/index_db.h): the
 * figures watch/agg.h computes over an in-memory index, from SQL. The
 * counters, failures by error code and latency histograms are grouped in
 * one pass over the selected rows of each table (per intent over the record
 * rows, per agent over the attempt rows, so every attempt counts, also
 * those inside executions that succeeded): SQLite's GROUP BY would sort the
 * rows first. Without a filter (every record) those come from the counters
 * the index keeps current instead (watch/index_counts.h): no pass over the
 * rows at all. The windowed figures (last N calls, last M minutes, last
 * error, circuit state, throughput) walk the selected rows newest first
 * (ORDER BY time DESC) only as far back as they need, as agg_snapshot does.
 * The answer is the one agg_snapshot gives on the same records, figure for
 * figure (tests/watch/test_index_query.c). */
#ifndef INTENTUS_WATCH_INDEX_STATS_H
#define INTENTUS_WATCH_INDEX_STATS_H

#include "core/err.h"
#include "watch/agg.h"
#include "watch/index.h"
#include "watch/index_db.h"

struct index_stats {
    struct agg_snapshot snap; /* its strings belong to the stats */
    char **strs;              /* private: the strings */
    size_t n_strs, cap_strs;
};

/* Figures over the records f selects (NULL: all), with agg_snapshot's
 * options and defaults. 0, or -1 with err set; free with index_stats_free
 * either way. */
int index_stats_query(struct index_db *db, const struct index_filter *f, const struct agg_opts *o,
                      struct index_stats *out, struct intentus_err *err);
void index_stats_free(struct index_stats *s);

#endif
