/* The console's model: what the loop feeds and the views draw from (the
 * record index or its window, the aggregates, the embedded runtime and its
 * configuration, the record store or service it reads, the tailer's and the
 * background scans' state). No presentation here: this header includes no
 * curses and names nothing of the screen, the views, prompts, theme or
 * messages (those are struct app's, tui/app.h), so model code cannot touch
 * them; tests/tui/test_console_model.c builds one without any UI. */
#ifndef INTENTUS_TUI_CONSOLE_MODEL_H
#define INTENTUS_TUI_CONSOLE_MODEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/rec_store.h"
#include "core/runtime.h"
#include "watch/agg.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/tailer.h"

struct console_remote;
struct store;
struct store_feed;

struct console_model {
    struct runtime *rt;       /* the embedded router, writer and worker pool */
    const struct config *cfg; /* runtime_config(rt): refreshed after a reload */
    char *records_dir;
    struct rec_store *store;
    /* With the persistent index (watch/index_db.h; db non-NULL
     * once the tailer has started from it) ix holds only a window: the
     * newest opts.window rows plus what landed since, and the figures,
     * totals and the records browser's rows are queries of db (a read
     * connection; the tailer's thread writes). A sqlite: store is such an
     * index: db is opened on it at start and the feed fills the window.
     * On a postgres store ix holds the window and feed_total the count.
     * Without it (--no-index, --read-only, --server, an unusable index) ix
     * holds every record and agg counts them. */
    struct index *ix;
    struct agg *agg;
    struct index_db *db;
    size_t db_total; /* records in db at db_total_gen */
    uint64_t db_total_gen;
    bool db_total_ok;
    struct tailer *tailer;
    /* --server: the service this console is attached to (tui/console_remote.c);
     * NULL when local. feed_remote: no readable local record directory, so
     * the index is fed from the service's event stream (tailer and store
     * NULL then). */
    struct console_remote *remote;
    bool feed_remote;
    /* Another engine than files (sqlite:, postgres://): records come from
     * the store (tui/store_feed.h; tailer and store NULL then), read by id
     * through rstore. */
    struct store *rstore;
    struct store_feed *feed;
    char *store_url;
    long feed_total; /* the store's count told by the feed (postgres); -1: none */
    /* postgres: the dashboard's figures job's own connection to store_url
     * (a store handle is used by one thread at a time), opened by the job
     * on its worker and kept for the console's lifetime; NULL until then.
     * Touched only by that job (one at a time) and close_model. */
    struct store *stats_store;
    /* postgres: the Records screen's page job's own connection (as
     * stats_store: opened on its worker, kept, touched only by that job,
     * one at a time, and close_model). */
    struct store *page_store;
    uint64_t generation; /* bumps whenever the index changes */
    bool synced;         /* the first full scan is done */
    bool dir_gone;
    /* live figures */
    uint64_t upserts, removals;
    /* Executions in flight in this console's runtime (WAL on): updated by
     * the runtime's worker threads through callbacks, read here. */
    struct {
        pthread_mutex_t lock;
        size_t n;
        char id[64][130];
        int64_t start_us[64];
        uint64_t overflow; /* more in flight than the table holds */
    } inflight;
    /* Incomplete executions found in the WAL directory (any writer), by a
     * scan job every few seconds; written only on the loop's thread (the
     * job's done callback), so read without a lock. */
    struct {
        bool running;
        size_t n;
        char id[8][130];
        char state[8][16];
        int64_t oldest_us; /* wall clock of the oldest last entry; 0: none */
        char error[256];
        int64_t next_scan_us;
    } incomplete;
};

/* How many records the model holds: the persistent index's count (a query,
 * cached per model generation) with db, else the in-memory index's size. */
size_t console_model_total(struct console_model *m);

#endif
