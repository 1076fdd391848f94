/* Where the watcher learns that a record directory changed: inotify, or a
 * polling clock for filesystems where inotify is missing or blind to other
 * hosts' writes (NFS, SMB, FUSE). One interface, so the tailer does not care
 * which: inotify reports names; polling asks for a rescan every tick (the
 * scan module finds what changed); both report the directory itself going
 * away or being replaced. */
#ifndef INTENTUS_WATCH_SOURCE_H
#define INTENTUS_WATCH_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

enum source_change_kind {
    SOURCE_CHANGED,  /* name was written in place or renamed in */
    SOURCE_CREATED,  /* name was created: a file opened for writing (its close follows),
                        or a hard link, symlink, FIFO or directory made in place */
    SOURCE_GONE,     /* name was deleted or renamed away */
    SOURCE_RESCAN,   /* compare the whole directory (overflow, or a poll tick) */
    SOURCE_DIR_GONE, /* the directory was removed, moved or replaced */
};

struct source_change {
    enum source_change_kind kind;
    const char *name; /* SOURCE_CHANGED / SOURCE_CREATED / SOURCE_GONE */
    bool overflow;    /* SOURCE_RESCAN caused by IN_Q_OVERFLOW */
};

/* Non-zero stops the current read. */
typedef int (*source_change_fn)(void *ctx, const struct source_change *c);

struct source;

/* poll_ms <= 0 opens inotify (fails when it cannot be set up); > 0 polls. */
struct source *source_open(const char *path, int poll_ms, struct intentus_err *err);
void source_close(struct source *s);
bool source_is_polling(const struct source *s);
/* The fd to wait on for input, or -1 when polling. */
int source_fd(const struct source *s);
/* Monotonic time of the next poll tick, or (inotify) of the next check
 * that the directory is still there. */
int64_t source_deadline(const struct source *s);
/* Deliver what happened since the last call. */
int source_read(struct source *s, int64_t now_mono_us, source_change_fn fn, void *ctx);

#endif
