#include "watch/source.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

struct source {
    char *path;
    int poll_ms;
    int fd, wd; /* inotify */
    dev_t dev;  /* the directory's identity when opened */
    ino_t ino;
    int64_t next_tick;
    bool gone;
};

#define INOTIFY_CHECK_US 500000 /* inotify mode: how often to check the directory is there */

#define WATCH_MASK                                                                                 \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF |       \
     IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

struct source *
source_open(const char *path, int poll_ms, struct intentus_err *err)
{
    struct source *s = calloc(1, sizeof(*s));
    struct stat st;

    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    s->fd = s->wd = -1;
    s->poll_ms = poll_ms;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        err_set(err, IERR_NOT_FOUND, "%s: %s", path, errno ? strerror(errno) : "not a directory");
        goto fail;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->next_tick = 1; /* the first tick (or check) is due at once */
    if (poll_ms > 0)
        return s;
    s->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->fd < 0) {
        err_set(err, IERR_IO, "inotify: %s", strerror(errno));
        goto fail;
    }
    s->wd = inotify_add_watch(s->fd, path, WATCH_MASK);
    if (s->wd < 0) {
        err_set(err, IERR_IO, "inotify watch on %s: %s", path, strerror(errno));
        goto fail;
    }
    return s;
fail:
    source_close(s);
    return NULL;
}

void
source_close(struct source *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s);
}

bool
source_is_polling(const struct source *s)
{
    return s->poll_ms > 0;
}

int
source_fd(const struct source *s)
{
    return s->fd;
}

int64_t
source_deadline(const struct source *s)
{
    return s->next_tick;
}

/* Is the directory at the path still the one we opened? */
static bool
same_dir(const struct source *s)
{
    struct stat st;

    return stat(s->path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev == s->dev &&
           st.st_ino == s->ino;
}

static int
read_inotify(struct source *s, int64_t now, source_change_fn fn, void *ctx)
{
    char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct source_change c;
    bool check = now >= s->next_tick;

    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EAGAIN: drained */
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            p += sizeof(*ev) + ev->len;
            memset(&c, 0, sizeof(c));
            if (ev->mask & IN_Q_OVERFLOW) {
                c.kind = SOURCE_RESCAN;
                c.overflow = true;
                /* NOLINTNEXTLINE(bugprone-branch-clone): each skip below is a different case */
            } else if (ev->wd != s->wd) {
                continue;
            } else if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
                if (s->gone)
                    continue;
                s->gone = true;
                c.kind = SOURCE_DIR_GONE;
            } else if (ev->len == 0 || s->gone) {
                continue;
            } else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
                c.kind = SOURCE_CHANGED;
                c.name = ev->name;
            } else if (ev->mask & IN_CREATE) {
                c.kind = SOURCE_CREATED;
                c.name = ev->name;
            } else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
                c.kind = SOURCE_GONE;
                c.name = ev->name;
                check = true;
            } else {
                continue;
            }
            if (fn(ctx, &c) != 0)
                return -1;
        }
    }
    /* While anyone (we) holds the directory open, removing it sends no
     * IN_DELETE_SELF; so look after deletions and every INOTIFY_CHECK_US. */
    if (check && !s->gone) {
        s->next_tick = now + INOTIFY_CHECK_US;
        if (!same_dir(s)) {
            memset(&c, 0, sizeof(c));
            s->gone = true;
            c.kind = SOURCE_DIR_GONE;
            return fn(ctx, &c);
        }
    }
    return 0;
}

int
source_read(struct source *s, int64_t now_mono_us, source_change_fn fn, void *ctx)
{
    struct source_change c = { 0 };

    if (s->poll_ms <= 0)
        return read_inotify(s, now_mono_us, fn, ctx);
    if (now_mono_us < s->next_tick || s->gone)
        return 0;
    s->next_tick = now_mono_us + (int64_t)s->poll_ms * 1000;
    /* Same directory still there? A replaced one has another inode. */
    if (!same_dir(s)) {
        s->gone = true;
        c.kind = SOURCE_DIR_GONE;
    } else {
        c.kind = SOURCE_RESCAN;
    }
    return fn(ctx, &c);
}
