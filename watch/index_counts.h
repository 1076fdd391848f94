/* The persistent index's pre-aggregated figures (watch/index_db.h): what
 * `records stats` over every record adds up, kept in the table counts
 * beside the rows and changed in the same write transaction as they are,
 * so an unfiltered stats query reads a few hundred counters instead of
 * every record and attempt row (watch/index_stats.c).
 *
 * counts(kind, name, what, sub, code, n): kind is the whole index (name
 * ""), an intent or an agent; what is one of the figures below; sub is the
 * histogram bucket (agg_bucket_of) of IC_HIST; code the error code of
 * IC_CODE ("" otherwise; a failure without a code is IC_NULL_CODE). Each
 * record and attempt row adds exactly what index_stats.c's one pass over
 * the rows would add for it, and removing the row takes it away again; a
 * counter at zero is deleted. */
#ifndef INTENTUS_WATCH_INDEX_COUNTS_H
#define INTENTUS_WATCH_INDEX_COUNTS_H

#include <stdint.h>

struct sqlite3;

#define INDEX_COUNTS_SCHEMA                                                                        \
    "CREATE TABLE counts("                                                                         \
    " kind INTEGER NOT NULL, name TEXT NOT NULL, what INTEGER NOT NULL, sub INTEGER NOT NULL,"     \
    " code TEXT NOT NULL, n INTEGER NOT NULL,"                                                     \
    " PRIMARY KEY(kind, name, what, sub, code)) WITHOUT ROWID;"

enum index_counts_kind { IC_ALL, IC_INTENT, IC_AGENT };

enum index_counts_what {
    IC_RECORDS,   /* ALL: record rows */
    IC_CORRUPT,   /* ALL: of them corrupt */
    IC_NO_TIMING, /* ALL: not corrupt, without timing */
    IC_CALLS,     /* INTENT: records; AGENT: OK and FAIL attempts */
    IC_RETRIES,   /* INTENT: sum of retries; AGENT: retried attempts */
    IC_OK,
    IC_FAILED,
    IC_INCOMPLETE, /* INTENT */
    IC_CODE,       /* failures by code */
    IC_NULL_CODE,  /* failures without a code */
    IC_HIST,       /* timed samples in bucket sub */
    IC_CIRCUIT,    /* AGENT: circuit events */
    IC_MODEL_CALLS,
    IC_MODEL_TOKENS,
    IC_MODEL_TIMED,
    IC_MODEL_LATENCY,
    IC_SKIPPED,
};

/* Changes not yet written, gathered in memory during a write transaction. */
struct index_counts;

struct index_counts *index_counts_new(void);
void index_counts_free(struct index_counts *c);
/* What one record row (sign 1) or its removal (sign -1) changes; -1 when
 * out of memory. */
int index_counts_record(struct index_counts *c, const char *intent, unsigned flags, int status,
                        const char *error_code, int64_t duration_us, int64_t retries, int sign);
/* The same for one attempt row. */
int index_counts_step(struct index_counts *c, const char *agent, int kind, int is_retry,
                      const char *code, int64_t latency_us, int64_t tokens, int sign);
/* Add the gathered changes to the table (in the caller's transaction) and
 * forget them. table: NULL for counts, else one of its layout (index
 * check's). SQLITE_OK or a SQLite code. */
int index_counts_flush(struct index_counts *c, struct sqlite3 *h, const char *table);

#endif
