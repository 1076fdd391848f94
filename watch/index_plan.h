/* The retention plan in SQL: the persistent index's rows as the rows a
 * plan is computed from (core/retention.h, struct retention_rows), so a
 * plan over a directory with a current index lists nothing and reads no
 * file it does not have to: the totals come from aggregates, the rows older
 * than a cutoff through the creation index (records_created), oldest first,
 * and only the rows the policy takes are read out of the index.
 *
 * When the rows stand for the directory. The caller opens the index with
 * index_db_open, which reconciles it (watch/index_db.h): after that every
 * record file has its row and no row is left of a removed file, as far as
 * the index's fast path trusts the directory. One difference remains: a row
 * may be of an <id>.json.gz (rec_store reads those), which retention never
 * plans (it only takes <id>.json). So the directory is listed, by name only
 * (no stat, no read), to see that it holds no .json.gz record; a listing
 * that found none while the directory had been quiet for 3 s is remembered
 * in the index (table plan_dirstate: the directory's device, inode and
 * mtime), and while the directory keeps that identity no file was added,
 * renamed in or removed since, so the next plan does not list it again.
 * Rows that cannot tell what retention would (corrupt, no creation time)
 * are handed over as read_ids: their files are read as without the index.
 * A plan made from rows is rechecked file by file when applied
 * (core/retention.h). */
#ifndef INTENTUS_WATCH_INDEX_PLAN_H
#define INTENTUS_WATCH_INDEX_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/retention.h"
#include "watch/index.h"
#include "watch/index_db.h"

struct index_plan;

/* The rows of db (opened for dir by index_db_open, so reconciled) that
 * filter f selects (NULL: every record), as *rows, valid until
 * index_plan_free(*out) (which must come before db is closed; rows->next
 * may be called while they are). 1: *out and *rows are set; 0: the rows
 * cannot stand for the directory (why says why; plan from the files), -1
 * on error (err set). listed (may be NULL): whether dir was listed. */
int index_plan_open(struct index_db *db, const char *dir, const struct index_filter *f,
                    struct index_plan **out, struct retention_rows *rows, bool *listed, char *why,
                    size_t why_size, struct intentus_err *err);
void index_plan_free(struct index_plan *ip);

/* The retention plan of dir (core/retention.h) as `records gc` and the
 * console's Retention screen make it: in SQL over db's rows when they stand
 * for the directory (index_plan_open), else from db's rows beside a listing
 * of the directory (scope->known: only the files the rows cannot stand for
 * are read), else from the files alone. db may be NULL (no usable index:
 * the files alone). f is the index filter scope->sel stands for (NULL:
 * every record). scope is borrowed. *index_failed (may
 * be NULL) is set when db's rows could not be read (why in *index_err), so
 * the caller can say the plan read every file. now_us: as for
 * retention_plan_new (0: the wall clock). NULL + err on error. */
struct retention_plan *index_plan_retention(struct index_db *db, const char *dir,
                                            const struct index_filter *f,
                                            const struct retention_scope *scope,
                                            const struct retention_policy *p, int64_t now_us,
                                            struct intentus_err *err, bool *index_failed,
                                            struct intentus_err *index_err);

#endif
