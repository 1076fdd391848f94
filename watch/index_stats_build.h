/* The figures of `records stats` (watch/index_stats.h) as they are
 * gathered: one implementation of agg_snapshot's rules (counters, codes,
 * histograms, the walk back for the windowed figures) for every source of
 * rows. watch/index_stats.c feeds it from the SQLite index, watch/store_pg.c
 * from PostgreSQL's GROUP BY results and a newest-first walk. Private to
 * watch/. Usage: isb_start; isb_row (add) and the counters for every group;
 * isb_walk_begin; per record newest first isb_throughput, isb_count_call,
 * last error / circuit (isb_keep), isb_check_done, until isb_walk_passed;
 * isb_end (always: it frees the gathering, keeps the answer in out). */
#ifndef INTENTUS_WATCH_INDEX_STATS_BUILD_H
#define INTENTUS_WATCH_INDEX_STATS_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "watch/agg.h"
#include "watch/index_stats.h"

/* One agent or intent while the figures are gathered. */
struct stats_row {
    struct agg_row r;
    uint64_t circuit_events;
    uint64_t *hist; /* by agg_bucket_of(); NULL until a sample */
    size_t cap_codes;
    bool done; /* the walk has what this row needs */
};

struct stats_table {
    struct stats_row *v;
    size_t n, cap;
    size_t *slots; /* hash of names: row index + 1, 0 empty */
    size_t n_slots;
};

struct stats_gather {
    struct index_stats *st;
    struct stats_table agents, intents;
    size_t n_buckets;
    bool nomem;
};

struct stats_walk {
    struct stats_gather *g;
    const struct agg_opts *o;
    size_t pending;
    int64_t window_from, tp_from;
};

/* opts with agg_snapshot's defaults into *o (which w points to: keep it
 * alive), out cleared. 0, or -1 out of memory (then isb_end). */
int isb_start(struct stats_gather *g, struct stats_walk *w, struct agg_opts *o,
              const struct agg_opts *opts, struct index_stats *out);
/* A copy of s owned by the stats (NULL for NULL; out of memory: g->nomem). */
const char *isb_keep(struct stats_gather *g, const char *s);
/* The row named name in t; with add created when missing. NULL: none (or
 * name NULL, or out of memory). */
struct stats_row *isb_row(struct stats_gather *g, struct stats_table *t, const char *name,
                          bool add);
void isb_add_code(struct stats_gather *g, struct stats_row *r, const char *code, uint64_t n);
/* n samples in histogram bucket (agg_bucket_of). */
void isb_add_sample(struct stats_gather *g, struct stats_row *r, int64_t bucket, uint64_t n);
void isb_walk_begin(struct stats_walk *w);
void isb_throughput(struct stats_walk *w, int64_t t);
void isb_count_call(struct stats_walk *w, struct stats_row *r, bool failed, int64_t t);
void isb_check_done(struct stats_walk *w, struct stats_row *r, bool is_agent);
/* Every row has what it needs and t is before both windows: stop. */
bool isb_walk_passed(const struct stats_walk *w, int64_t t);
/* The rows sorted into out's snapshot when rc is 0; frees the rest.
 * Returns rc, or -1 (IERR_NOMEM) when memory ran out on the way. */
int isb_end(struct stats_gather *g, int rc, struct intentus_err *err);

#endif
