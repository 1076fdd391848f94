#include "tui/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define LOOP_MAX_FDS 16

struct watch_fd {
    int fd;
    loop_fd_fn fn;
    void *ctx;
};

struct loop {
    struct watch_fd fds[LOOP_MAX_FDS];
    int n;
    int timer_fd;
    loop_hook_fn tick_fn, sleep_fn;
    void *tick_ctx, *sleep_ctx;
    int wake_ms; /* -1: none requested */
    bool stopped;
};

struct loop *
loop_new(void)
{
    struct loop *l = calloc(1, sizeof(*l));

    if (l == NULL)
        return NULL;
    l->timer_fd = -1;
    l->wake_ms = -1;
    return l;
}

void
loop_free(struct loop *l)
{
    if (l == NULL)
        return;
    if (l->timer_fd >= 0)
        close(l->timer_fd);
    free(l);
}

int
loop_add_fd(struct loop *l, int fd, loop_fd_fn fn, void *ctx)
{
    if (fd < 0 || l->n == LOOP_MAX_FDS)
        return -1;
    l->fds[l->n++] = (struct watch_fd){ fd, fn, ctx };
    return 0;
}

void
loop_remove_fd(struct loop *l, int fd)
{
    for (int i = 0; i < l->n; i++) {
        if (l->fds[i].fd == fd) {
            l->fds[i] = l->fds[--l->n];
            return;
        }
    }
}

int
loop_set_tick(struct loop *l, int interval_ms, loop_hook_fn fn, void *ctx)
{
    struct itimerspec its = { { interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L },
                              { interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L } };

    if (l->timer_fd < 0) {
        l->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (l->timer_fd < 0)
            return -1;
    }
    l->tick_fn = fn;
    l->tick_ctx = ctx;
    return timerfd_settime(l->timer_fd, 0, &its, NULL);
}

void
loop_set_before_sleep(struct loop *l, loop_hook_fn fn, void *ctx)
{
    l->sleep_fn = fn;
    l->sleep_ctx = ctx;
}

void
loop_wake_within(struct loop *l, int ms)
{
    if (ms < 0)
        ms = 0;
    if (l->wake_ms < 0 || ms < l->wake_ms)
        l->wake_ms = ms;
}

int
loop_turn(struct loop *l, int timeout_ms)
{
    struct pollfd p[LOOP_MAX_FDS + 1];
    struct watch_fd snap[LOOP_MAX_FDS];
    int n = l->n, ran = 0, rc;

    for (int i = 0; i < n; i++) {
        snap[i] = l->fds[i];
        p[i] = (struct pollfd){ l->fds[i].fd, POLLIN, 0 };
    }
    p[n] = (struct pollfd){ l->timer_fd, POLLIN, 0 };
    if (l->wake_ms >= 0 && (timeout_ms < 0 || l->wake_ms < timeout_ms))
        timeout_ms = l->wake_ms;
    l->wake_ms = -1;
    rc = poll(p, (nfds_t)n + 1, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -1;
    for (int i = 0; i < n && !l->stopped; i++) {
        if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
            snap[i].fn(snap[i].ctx, snap[i].fd);
            ran++;
        }
    }
    if (l->timer_fd >= 0 && (p[n].revents & POLLIN)) {
        uint64_t expirations;
        if (read(l->timer_fd, &expirations, sizeof(expirations)) > 0 && l->tick_fn != NULL) {
            l->tick_fn(l->tick_ctx);
            ran++;
        }
    }
    if (l->sleep_fn != NULL && !l->stopped)
        l->sleep_fn(l->sleep_ctx);
    return ran;
}

void
loop_stop(struct loop *l)
{
    l->stopped = true;
}

bool
loop_is_stopped(const struct loop *l)
{
    return l->stopped;
}

void
loop_run(struct loop *l)
{
    while (!l->stopped) {
        if (loop_turn(l, -1) < 0)
            break;
    }
}
