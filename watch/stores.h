/* The store engines built in (core/store.h): file:DIR (watch/store_file.c)
 * and sqlite:PATH (watch/store_sqlite.c), and what they share: the index
 * schema of watch/index_db.h, queried with watch/index_query.h, so the SQL
 * of a filter exists once for the index and for both engines. */
#ifndef INTENTUS_WATCH_STORES_H
#define INTENTUS_WATCH_STORES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/store.h"
#include "watch/index.h"
#include "watch/index_db.h"

extern const struct store_engine store_engine_file;
extern const struct store_engine store_engine_sqlite;

/* Every engine built in, NULL-terminated: what store_open_url is given. */
extern const struct store_engine *const stores_builtin[];

/* The watch/ filter of a store filter (the same fields, the same meaning). */
void stores_filter(const struct store_filter *sf, struct index_filter *out);

/* q over the records of db: join is SQL joined to "records r" ("" for
 * none), seq the SQL expression of a row's seq ("r.rid"). */
long stores_index_query(struct index_db *db, const char *join, const char *seq,
                        const struct store_query *q, store_row_fn fn, void *ctx,
                        struct intentus_err *err);
/* Rows whose seq is greater than after, in seq order, at most limit. */
long stores_index_since(struct index_db *db, const char *join, const char *seq, int64_t after,
                        size_t limit, store_row_fn fn, void *ctx, int64_t *last,
                        struct intentus_err *err);
/* The largest seq in db (0 when empty). */
int stores_index_last(struct index_db *db, const char *join, const char *seq, int64_t *out,
                      struct intentus_err *err);
long stores_index_count(struct index_db *db, const struct store_filter *f,
                        struct intentus_err *err);

/* The index behind a store of one of these engines (borrowed; NULL for
 * another engine, or when it cannot be opened: err says why). For the
 * read commands that query the index directly (stats, gc's plan). */
struct index_db *stores_index_of(struct store *s, struct intentus_err *err);
/* Each engine's own (stores_index_of calls them): the file engine's index
 * reconciled with the directory now, the sqlite engine's database. */
struct index_db *store_file_index(struct store *s, struct intentus_err *err);
struct index_db *store_sqlite_index(struct store *s);
/* How many records were ever deleted from the sqlite: store s (any
 * process; 0 for a store none was deleted from), into *n: a reader that
 * sees it change knows some of the records it holds may be gone. 0, or -1
 * with err. */
int store_sqlite_deletes(struct store *s, int64_t *n, struct intentus_err *err);
/* 0 when db (opened with index_db_open_path) is a sqlite: store, not a
 * record directory's index; -1 with IERR_CONFIG naming it otherwise. */
int store_sqlite_is_store(struct index_db *db, struct intentus_err *err);
/* The digest of a record as a store holds it (text, len): of plain (its
 * text before it was sealed) when the caller has it, else of text, opened
 * first when sealed with keys (NULL: crypt_reader()), as watch/scan.c
 * digests a sealed file: DIGEST_SEALED and no error message (response
 * text stays sealed) when it opens; a corrupt digest flagged LOCKED (no
 * key holds it), TAMPERED or TRUNCATED, the reason in its note, when it
 * does not. file_size is len. NULL only when out of memory. */
struct digest;
struct digest *stores_digest_stored(const char *id, const char *text, size_t len, const char *plain,
                                    size_t plain_len, const struct crypt_keyring *keys);
/* The record directory of a file: store (borrowed). */
const char *store_file_dir(const struct store *s);

#endif
