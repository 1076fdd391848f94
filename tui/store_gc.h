/* Retention on a store (core/store.h): one plan and one apply, used by
 * `records gc --store` and the console's Retention screen
 * (tui/cli_records_gc.c). The plan reads the store's rows once; applying
 * deletes exactly the planned records (archiving each first when asked),
 * counting those someone else removed meanwhile as already gone. */
#ifndef INTENTUS_TUI_STORE_GC_H
#define INTENTUS_TUI_STORE_GC_H

#include <stddef.h>

#include "core/err.h"
#include "core/retention.h"
#include "core/store.h"

struct store_gc_plan;

/* Called before each record (done of total, id) and once at the end (id
 * NULL); non-zero stops the apply (the report says interrupted). */
typedef int (*store_gc_progress_fn)(void *ctx, size_t done, size_t total, const char *id);

/* Plan policy p over the records f selects (NULL: all). NULL on error. */
struct store_gc_plan *store_gc_plan_new(struct store *st, const struct store_filter *f,
                                        const struct retention_policy *p, struct intentus_err *err);
const struct retention_report *store_gc_plan_report(const struct store_gc_plan *plan);
size_t store_gc_plan_size(const struct store_gc_plan *plan);
const char *store_gc_plan_id(const struct store_gc_plan *plan, size_t i); /* oldest first */
/* Delete the plan's records through st, or gzip each into archive/<id>.json.gz
 * first (archive: an existing directory, or NULL). done (zeroed by the
 * caller; retention_report_free) counts what went. 0, or -1 with err at
 * the first failure (done holds what went before it). */
int store_gc_apply(struct store *st, const struct store_gc_plan *plan, const char *archive,
                   store_gc_progress_fn progress, void *ctx, struct retention_report *done,
                   struct intentus_err *err);
void store_gc_plan_free(struct store_gc_plan *plan);

#endif
