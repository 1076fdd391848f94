/* The tailer: follows a record directory on its own thread and hands what
 * changed to one consumer thread, which applies it to an index (or prints
 * it). It indexes what is there, then follows changes: records written in
 * place (IN_CLOSE_WRITE, as the reference writes) or renamed in
 * (IN_MOVED_TO, as intentus writes), entries that raise only IN_CREATE (a
 * record hard-linked in is a record; a symlink, FIFO or directory made in
 * place is shown as not a record), deletions, the directory removed or
 * replaced (every record reported gone; when a directory appears at the path
 * again it is indexed afresh), and IN_Q_OVERFLOW (a full rescan: nothing
 * lost, nothing reported twice). Hidden temp files are ignored; files that
 * do not parse are retried briefly, then reported corrupt.
 *
 * Polling (opts.mode TAILER_POLL, or automatically when inotify cannot be
 * set up) rescans every poll_ms and gives the same results: for network
 * filesystems, where inotify does not see other hosts' writes.
 *
 * The consumer waits on tailer_fd() (an eventfd) and calls tailer_drain().
 * Wake-ups are coalesced: at most one per opts.wake_ms however many records
 * arrive (except while the rows of the persistent index are sent at start,
 * opts.use_index, when a full queue wakes the consumer at once). The queue between the threads is
 * bounded (opts.queue_max): a slow consumer slows the tailer down, and if the kernel's inotify
 * queue overflows meanwhile, the overflow rescan catches up. */
#ifndef INTENTUS_WATCH_TAILER_H
#define INTENTUS_WATCH_TAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "watch/digest.h"
#include "watch/index.h"

enum tailer_mode { TAILER_AUTO, TAILER_INOTIFY, TAILER_POLL };

struct tailer_opts {
    enum tailer_mode mode;
    int poll_ms;      /* polling interval; 0: 1000 */
    int retries;      /* parse retries before "corrupt"; 0: 5; -1: none */
    int retry_ms;     /* between them; 0: 100 */
    size_t queue_max; /* events waiting for the consumer; 0: 4096 */
    int wake_ms;      /* minimum time between two wake-ups; 0: 50 */
    /* Start from the persistent index (watch/index_db.h) and keep it
     * current: the index is opened (and reconciled) on the tailer's thread,
     * its rows are the initial upserts (no file is read for them), then
     * every change is written to it before it is queued, one transaction
     * per batch of changes. If the index cannot be opened, a
     * TAILER_NO_INDEX event says why and the directory is scanned as
     * without it. When the directory goes away the index is let go; a
     * directory that comes back is scanned, not indexed. */
    bool use_index;
    /* With use_index: only the newest this many rows are the initial
     * upserts (0: every row). A consumer that keeps a window of rows and
     * asks the index itself for the rest (the console) sets it; changes
     * after the start are all sent either way. */
    size_t window;
};

enum tailer_event_kind {
    TAILER_UPSERT,   /* a record appeared or changed: id, digest */
    TAILER_REMOVE,   /* a record went away: id */
    TAILER_SYNCED,   /* an initial scan or a rescan finished */
    TAILER_DIR_GONE, /* the directory went away (its records were reported removed) */
    TAILER_DIR_BACK, /* a directory is at the path again (its records follow) */
    TAILER_POLLING,  /* inotify failed; polling from now on: msg says why */
    TAILER_NO_INDEX, /* opts.use_index, but the index is not usable: msg says why */
    /* opts.use_index: the index is open and reconciled (its rows follow):
     * msg is its file, for a consumer that queries it on a connection of
     * its own (every change is written to it before it is sent). */
    TAILER_INDEX_OPEN,
    /* opts.use_index: the changes sent before this one are committed to the
     * index (they are sent as they are written, a batch is committed at its
     * end): a consumer querying the index re-reads from here. */
    TAILER_INDEX_COMMITTED,
};

struct tailer_event {
    enum tailer_event_kind kind;
    const char *id;
    const struct digest *digest;
    const char *msg;
};

struct tailer;

/* Start following dir (it must exist). */
struct tailer *tailer_start(const char *dir, const struct tailer_opts *opts,
                            struct intentus_err *err);
/* Stop the thread and free everything; NULL is fine. */
void tailer_stop(struct tailer *t);
/* Readable when events are waiting. */
int tailer_fd(const struct tailer *t);

/* Called for each event on the consumer's thread; the event and its
 * strings are valid only during the call. */
typedef void (*tailer_event_fn)(void *ctx, const struct tailer_event *ev);
/* Take every waiting event (the fd is reset). Returns how many. */
size_t tailer_drain(struct tailer *t, tailer_event_fn fn, void *ctx);
/* The same, applying upserts and removals to ix. */
size_t tailer_drain_into(struct tailer *t, struct index *ix);
/* Ask for a full rescan, exactly what IN_Q_OVERFLOW causes. */
void tailer_rescan(struct tailer *t);

struct tailer_stats {
    bool polling, dir_present;
    uint64_t rescans, overflows, wakes, syncs;
};
void tailer_get_stats(struct tailer *t, struct tailer_stats *out);

/* One-shot, on the calling thread: index every record now in dir (no
 * retries: a file that does not parse is indexed as corrupt). */
int tailer_index_dir(const char *dir, struct index *ix, struct intentus_err *err);

#endif
