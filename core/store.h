/* The record store interface: where finished records live, behind one ops
 * table per engine (as agent kinds are, core/agent.h), chosen by a URL:
 *
 *   file:DIR          one <executionId>.json per record (core/rec_store.h),
 *                     today's layout byte for byte, the default;
 *   sqlite:PATH       one SQLite database file (WAL journal);
 *   postgres://...    a PostgreSQL database (libpq).
 *
 * A plain path with no scheme means file:PATH.
 *
 * What every engine keeps: the record's JSON text, byte for byte as the
 * file engine writes it (so envelopeHash verification and the reference's
 * reading of an exported file hold), keyed by execution id, and the index
 * columns of struct store_row for queries. The text is the source of truth;
 * rows are derived from it (an engine fills them with watch/'s digest).
 *
 * core/ knows no engine: engines live where their dependencies are
 * (watch/ for the ones that digest records) and are handed to
 * store_open_url as a NULL-terminated list, so no registry is file-scope
 * state. tui/ passes the list of every engine built in (watch/stores.h).
 *
 * Threads: a store is used by one thread at a time (the writer thread or
 * the command); open another handle for another thread.
 *
 * Ownership: store_open_url returns an owned store, store_close frees it
 * (accepts NULL). Rows passed to callbacks are borrowed for the call;
 * store_row_copy keeps one. Bytes from store_get are the caller's (free). */
#ifndef INTENTUS_CORE_STORE_H
#define INTENTUS_CORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypt.h"
#include "core/err.h"
#include "core/record.h"

/* The largest URL accepted (scheme included). */
#define STORE_URL_MAX 4096

struct store_opts {
    bool create;    /* create the directory / database if missing */
    bool fsync;     /* a put (or a commit of a batch) returns once durable */
    bool read_only; /* refuse put and del (and open without creating) */
    /* Seal saved records with keys' newest key (keys required); sqlite and
     * postgres take their index columns from the plaintext before sealing
     * and store the sealed bytes. Bytes put already sealed are stored as
     * they are (their index columns from their plaintext when the store's
     * keys, else crypt_reader(), open them). */
    bool encrypt;
    /* Borrowed, must outlive the store; NULL: crypt_reader() for reading. */
    const struct crypt_keyring *keys;
};

/* Row flags: the same bits as watch/digest.h's enum digest_flag, so an
 * engine copies a digest's flags unchanged. */
enum store_row_flag {
    STORE_ROW_CORRUPT = 1U << 0,
    STORE_ROW_REDACTED = 1U << 1,
    STORE_ROW_NO_TIMING = 1U << 2,
    STORE_ROW_NOT_REPLAYABLE = 1U << 3,
    STORE_ROW_SEALED = 1U << 4,
    STORE_ROW_LOCKED = 1U << 5,
    STORE_ROW_TAMPERED = 1U << 6,
    STORE_ROW_TRUNCATED = 1U << 7,
};

/* One stored record as the index sees it (watch/index_db.h's columns). */
struct store_row {
    char *id;
    int64_t created_us; /* header.createdUtcIso; for a corrupt record, when it was stored */
    char *intent;       /* NULL when unknown (corrupt) */
    char *strategy, *agent, *error_code, *node;
    char *note; /* corrupt: why; else the error message (NULL for sealed records) */
    enum record_status status;
    int64_t duration_us; /* -1 when unknown */
    int attempts, retries, events;
    unsigned flags; /* enum store_row_flag */
    uint64_t size;  /* bytes of the record text */
    /* The engine's insertion order: a later put has a larger seq (the
     * cursor of store_follow). 0 when the engine cannot tell. */
    int64_t seq;
};

/* Which records a query selects: the filters of the read commands, with
 * exactly watch/index.h's meaning (NULL / 0: no condition). */
struct store_filter {
    const char *intent, *agent, *status, *error_code, *text;
    int64_t since_us, until_us; /* created_us >= since_us, < until_us */
    const char *failed_agent;   /* an attempt of this agent failed */
};

struct store_query {
    const struct store_filter *filter; /* NULL: every record */
    bool newest_first;                 /* time order: created_us, then id */
    size_t limit;                      /* 0: no limit */
    /* Keyset paging: when after_id is set, only records strictly after
     * (after_created_us, after_id) in the query's order. */
    const char *after_id;
    int64_t after_created_us;
};

/* watch/'s types, opaque here (the stats op). */
struct agg_opts;
struct index_stats;

/* Non-zero from a callback stops the walk and is returned. */
typedef int (*store_row_fn)(void *ctx, const struct store_row *row);
/* A record's bytes (len of them, NUL-terminated) under id; the same
 * convention. */
typedef int (*store_text_fn)(void *ctx, const char *id, const char *text, size_t len);

struct store;

struct store_engine {
    const char *scheme;  /* "file", "sqlite", "postgres" (the URL's, without ':') */
    const char *summary; /* one line for --help: "file:DIR  one JSON file per record" */
    /* url is the whole URL; rest what follows "scheme:". */
    struct store *(*open)(const char *url, const char *rest, const struct store_opts *opts,
                          struct intentus_err *err);
    void (*close)(struct store *s);
    /* Store text under id, idempotently: 0 stored, 1 id already held the
     * same bytes (nothing done), -1 error (IERR_INVALID "already stored with
     * different content" when it held other bytes). Inside begin..commit
     * the record is durable only after commit. */
    int (*put)(struct store *s, const char *id, const char *text, size_t len,
               struct intentus_err *err);
    /* Group commit; both NULL when every put is its own commit. Puts
     * between begin and commit become visible (and with fsync durable)
     * together at commit; a failed commit stores none of them. */
    int (*begin)(struct store *s, struct intentus_err *err);
    int (*commit)(struct store *s, struct intentus_err *err);
    /* The text of id (NUL-terminated, caller frees), *len its length; NULL
     * with IERR_NOT_FOUND when absent, other codes for real errors. */
    char *(*get)(struct store *s, const char *id, size_t *len, struct intentus_err *err);
    /* May be NULL (get already returns the stored bytes: sqlite,
     * postgres): the bytes as stored, a sealed record still sealed (the
     * file engine's get opens sealed files). For copies that keep records
     * sealed (records migrate without --decrypt). */
    char *(*get_raw)(struct store *s, const char *id, size_t *len, struct intentus_err *err);
    /* May be NULL (store_get_raw_each then calls get_raw or get per id):
     * the stored bytes of each of ids[0..n) in one request, fn called once
     * per id held, in any order; ids not held are not visited. Returns how
     * many were visited, fn's non-zero return, or -1 on error. For engines
     * behind a connection (postgres: one round trip instead of n). */
    long (*get_raw_each)(struct store *s, const char *const *ids, size_t n, store_text_fn fn,
                         void *ctx, struct intentus_err *err);
    /* Delete id: 0 deleted, -1 with IERR_NOT_FOUND when absent. */
    int (*del)(struct store *s, const char *id, struct intentus_err *err);
    /* Visit rows q selects in its order. Returns how many were visited,
     * or fn's non-zero return, or -1 on error. */
    long (*query)(struct store *s, const struct store_query *q, store_row_fn fn, void *ctx,
                  struct intentus_err *err);
    /* Number of records f selects (NULL: all); -1 on error. */
    long (*count)(struct store *s, const struct store_filter *f, struct intentus_err *err);
    /* Rows stored after *cursor (seq order), waiting up to timeout_ms for
     * the first (0: do not wait); *cursor advances past what was visited.
     * A cursor of -1 means "now": it is set to the current end and nothing
     * is visited. Returns the number visited, -1 on error. */
    long (*follow)(struct store *s, int64_t *cursor, int timeout_ms, store_row_fn fn, void *ctx,
                   struct intentus_err *err);
    /* May be NULL: store_verify then gets the text and checks it as
     * `records verify` checks a file (a sealed text opened as
     * store_get_open opens it; it parses, header.executionId is the
     * id, the envelope validates, record_verify_hash). An engine sets it
     * to check more (its own checksum of the stored bytes). 0 verified,
     * -1 with err. */
    int (*verify)(struct store *s, const char *id, struct intentus_err *err);
    /* May be NULL (file and sqlite answer `records stats` from their index,
     * watch/index_stats.h): the figures of `records stats` over the records
     * f selects (NULL: all), computed by the engine (grouped in the
     * database), with agg_snapshot's options (watch/agg.h): the answer
     * agg_snapshot gives over the same records. out is a struct index_stats
     * (watch/index_stats.h), freed with index_stats_free either way. 0, or
     * -1 with err. */
    int (*stats)(struct store *s, const struct store_filter *f, const struct agg_opts *o,
                 struct index_stats *out, struct intentus_err *err);
};

/* Every store starts with this (engines embed it first). */
struct store {
    const struct store_engine *engine;
    char url[STORE_URL_MAX];
    struct store_opts opts;
};

/* The engine of url among engines (NULL-terminated): its scheme before the
 * first ':' ("file", "sqlite"; "postgres" and "postgresql" URLs are
 * "postgres://..."); a URL without a scheme is a file path. NULL with
 * IERR_CONFIG naming the scheme and the known ones when none matches. */
const struct store_engine *store_engine_find(const struct store_engine *const *engines,
                                             const char *url, const char **rest,
                                             struct intentus_err *err);
/* Open url with its engine. */
struct store *store_open_url(const struct store_engine *const *engines, const char *url,
                             const struct store_opts *opts, struct intentus_err *err);
void store_close(struct store *s);
const char *store_url(const struct store *s);
const char *store_scheme(const struct store *s);

/* The engine's ops with the common checks first: ids must pass
 * rec_store_id_is_valid, text must be within REC_STORE_MAX_FILE, a
 * read-only store refuses put and del. begin/commit are no-ops for an
 * engine without group commit. */
int store_put(struct store *s, const char *id, const char *text, size_t len,
              struct intentus_err *err);
int store_begin(struct store *s, struct intentus_err *err);
int store_commit(struct store *s, struct intentus_err *err);
char *store_get(struct store *s, const char *id, size_t *len, struct intentus_err *err);
/* store_get, and a sealed text (an engine that encrypts, core/crypt.h)
 * opened with the store's keys, else crypt_reader(): the plaintext, *st
 * CRYPT_OK; CRYPT_PLAIN for a text that was not sealed. NULL with *st
 * saying why (no key, key missing, tampered, truncated) and err naming the
 * store, the id and the key. st may be NULL. */
char *store_get_open(struct store *s, const char *id, size_t *len, enum crypt_status *st,
                     struct intentus_err *err);
/* The record's bytes as the store holds them: sealed when it was stored
 * sealed (any engine), else the text; the engine's get_raw, else its get.
 * NULL with IERR_NOT_FOUND when absent. */
char *store_get_raw(struct store *s, const char *id, size_t *len, struct intentus_err *err);
/* store_get_raw for each of ids[0..n): fn(ctx, id, bytes, len) once per
 * id the store holds (in any order; ids it does not hold are not
 * visited). Returns how many were visited, fn's non-zero return, or -1
 * with err (an error other than "not found" reading any of them). */
long store_get_raw_each(struct store *s, const char *const *ids, size_t n, store_text_fn fn,
                        void *ctx, struct intentus_err *err);
int store_del(struct store *s, const char *id, struct intentus_err *err);
long store_query(struct store *s, const struct store_query *q, store_row_fn fn, void *ctx,
                 struct intentus_err *err);
long store_count(struct store *s, const struct store_filter *f, struct intentus_err *err);
long store_follow(struct store *s, int64_t *cursor, int timeout_ms, store_row_fn fn, void *ctx,
                  struct intentus_err *err);
int store_verify(struct store *s, const char *id, struct intentus_err *err);
/* The engine's stats op: 0, -1 with err, or 1 (nothing done) when the
 * engine has none. */
int store_stats(struct store *s, const struct store_filter *f, const struct agg_opts *o,
                struct index_stats *out, struct intentus_err *err);

/* A deep copy of a row (NULL when out of memory); store_row_free frees it. */
struct store_row *store_row_copy(const struct store_row *row);
void store_row_free(struct store_row *row);

/* "file:DIR" for dir, into buf: 0, or -1 when it does not fit. */
int store_url_for_dir(const char *dir, char *buf, size_t size);

#endif
