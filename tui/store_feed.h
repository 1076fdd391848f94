/* The console's records from another engine than files (core/store.h):
 * a thread with its own store handle digests the backlog, only its newest
 * window (a sqlite store's index rows; postgres: store_query newest first,
 * then store_get of each), and then every record stored after it
 * (store_follow: postgres LISTEN/NOTIFY, sqlite's row order), and hands the
 * digests to the console's loop through a pipe, as the tailer does for a
 * directory. Records another process deletes are noticed (sqlite: the
 * store's count of deletions; postgres: a NOTIFY on intentus_deleted), and
 * each one handed over that is gone is told as removed. For postgres, which
 * has no index here, it also tells the store's count of records (sqlite:
 * the console counts its index). A follow error (the database gone) is
 * reported once and retried every second until the store answers again.
 *
 * Ownership: store_feed_start returns an owned feed, store_feed_stop joins
 * its thread and frees it (accepts NULL). Digests passed to the drain
 * callback are borrowed for the call. */
#ifndef INTENTUS_TUI_STORE_FEED_H
#define INTENTUS_TUI_STORE_FEED_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "watch/digest.h"

struct store_feed;

/* Open url (read-only) on the calling thread, so a bad URL or an
 * unreachable store is an error here, then start the thread. window: how
 * many of the newest stored records the backlog hands over (0: all). */
struct store_feed *store_feed_start(const char *url, size_t window, struct intentus_err *err);
/* Readable when there is something to drain. */
int store_feed_fd(const struct store_feed *f);
/* What the drain hands over (any hook may be NULL): a digest (borrowed
 * for the call), the id of a record deleted from the store, a problem or
 * a recovery to report (text, is_error), the store's count of records. */
struct store_feed_sink {
    void (*digest)(void *ctx, const struct digest *d);
    void (*removed)(void *ctx, const char *id);
    void (*msg)(void *ctx, const char *text, bool is_error);
    void (*total)(void *ctx, long total);
};
/* Hand what is queued to sink, oldest first, a batch at a time (the fd
 * stays readable while more is queued, so the loop draws in between).
 * Returns how many changes of the model it handed over (digests,
 * removals, counts, and deletions noticed of records not handed over).
 * *synced is set once the whole backlog has been handed over. With sink
 * NULL everything queued is dropped. */
long store_feed_drain(struct store_feed *f, const struct store_feed_sink *sink, void *ctx,
                      bool *synced);
void store_feed_stop(struct store_feed *f);

#endif
