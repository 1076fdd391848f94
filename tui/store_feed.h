/* The console's records from another engine than files (core/store.h):
 * a thread with its own store handle digests the backlog (store_query,
 * then store_get of each) and then every record stored after it
 * (store_follow: postgres LISTEN/NOTIFY, sqlite's row order), and hands the
 * digests to the console's loop through a pipe, as the tailer does for a
 * directory. A follow error (the database gone) is reported once and
 * retried every second until the store answers again.
 *
 * Ownership: store_feed_start returns an owned feed, store_feed_stop joins
 * its thread and frees it (accepts NULL). Digests passed to the drain
 * callback are borrowed for the call. */
#ifndef INTENTUS_TUI_STORE_FEED_H
#define INTENTUS_TUI_STORE_FEED_H

#include <stdbool.h>

#include "core/err.h"
#include "watch/digest.h"

struct store_feed;

/* Open url (read-only) on the calling thread, so a bad URL or an
 * unreachable store is an error here, then start the thread. */
struct store_feed *store_feed_start(const char *url, struct intentus_err *err);
/* Readable when there is something to drain. */
int store_feed_fd(const struct store_feed *f);
/* Hand every digest queued so far to fn, oldest first; msg (may be NULL)
 * gets a problem or a recovery to report (text, is_error). Returns the
 * number of digests. *synced is set once the backlog has been handed over. */
typedef void (*store_feed_fn)(void *ctx, const struct digest *d);
typedef void (*store_feed_msg_fn)(void *ctx, const char *text, bool is_error);
long store_feed_drain(struct store_feed *f, store_feed_fn fn, store_feed_msg_fn msg, void *ctx,
                      bool *synced);
void store_feed_stop(struct store_feed *f);

#endif
