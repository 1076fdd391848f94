/* The index: a compact in-memory summary of every record in a directory,
 * sorted by creation time, with interned strings, queryable by filters
 * without re-reading any file. Single-threaded: the watcher's consumer
 * feeds it digests (watch/tailer.h) and queries it on the same thread.
 *
 * Memory: one allocation per record holding the fixed fields (56 bytes),
 * its agent steps (16 bytes each) and its id, plus a slot in the time-sorted
 * array and in the id hash; strings such as intents, agents and error codes
 * are stored once. tests/watch/test_index.c measures the total per record.
 * The full record is not kept: load it on demand with rec_store_load(). */
#ifndef INTENTUS_WATCH_INDEX_H
#define INTENTUS_WATCH_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/record.h"
#include "watch/digest.h"

struct index;

/* One agent step (see struct digest_step) with interned strings. */
struct index_step {
    uint32_t agent;     /* string id: index_str() */
    uint32_t code;      /* string id; 0 for a successful attempt */
    int32_t latency_us; /* -1 without timing; saturates at INT32_MAX */
    uint8_t kind;       /* enum digest_step_kind */
    uint8_t is_retry;
    uint32_t tokens; /* DIGEST_STEP_MODEL: tokens, saturated; else 0 */
};

/* A record as the index holds it. Pointers are borrowed and valid until the
 * index next changes. */
struct index_view {
    const char *id;
    int64_t created_us;
    const char *intent, *agent, *strategy, *error_code, *node;
    const char *note; /* corrupt: the parse error; else the error message */
    uint32_t intent_sid, agent_sid, error_sid;
    enum record_status status;
    int64_t duration_us; /* -1 unknown */
    unsigned flags;      /* enum digest_flag */
    int attempts, retries, events;
    uint64_t file_size;
    const struct index_step *steps;
    size_t n_steps;
};

/* Called after a record enters the index (delta +1) and before it leaves
 * (delta -1), including when an upsert replaces it. */
typedef void (*index_observer_fn)(void *ctx, const struct index *ix, const struct index_view *v,
                                  int delta);

struct index *index_new(void);
void index_free(struct index *ix);
/* Only one observer; setting NULL removes it. */
void index_set_observer(struct index *ix, index_observer_fn fn, void *ctx);

/* Add the record d describes, replacing any record with the same id (so a
 * rescan never counts a record twice). d is not kept. */
int index_upsert(struct index *ix, const struct digest *d, struct intentus_err *err);
/* Returns 1 when a record was removed, 0 when none had this id. */
int index_remove(struct index *ix, const char *id);
void index_clear(struct index *ix);

size_t index_size(const struct index *ix);
/* The record at pos in time order (0 = oldest); pos < index_size(). */
void index_get(const struct index *ix, size_t pos, struct index_view *out);
/* 0 and *out filled when id is indexed, -1 otherwise. */
int index_find(const struct index *ix, const char *id, struct index_view *out);

/* Interned strings: id 0 is "none" (NULL). */
const char *index_str(const struct index *ix, uint32_t sid);
uint32_t index_str_lookup(const struct index *ix, const char *s); /* 0 when not interned */
size_t index_str_count(const struct index *ix);
/* Bytes held by interned strings (text and table), for the memory budget. */
size_t index_str_bytes(const struct index *ix);

/* Filters; NULL / 0 fields match everything. agent matches the deciding
 * agent or any agent attempted; status is "ok", "error", "incomplete" or
 * "corrupt"; text is a case-insensitive substring of the id or intent;
 * since_us is inclusive, until_us exclusive. */
/* error_code matches a record that failed with that code or holds a failed
 * attempt with it (retries and fallbacks of executions that succeeded
 * overall included). failed_agent matches a record in which that agent has a
 * failed attempt, or that failed with it as its agent. */
struct index_filter {
    const char *intent, *agent, *status, *error_code, *text;
    int64_t since_us, until_us;
    const char *failed_agent;
};

/* Non-zero stops the walk. */
typedef int (*index_visit_fn)(void *ctx, const struct index_view *v);

/* Visit the records matching f (NULL: all) in time order, newest first when
 * asked, at most limit (0: no limit). Returns the number visited. */
size_t index_query(const struct index *ix, const struct index_filter *f, bool newest_first,
                   size_t limit, index_visit_fn fn, void *ctx);
/* Is status one of the words index_filter accepts? */
bool index_status_is_valid(const char *status);

#endif
