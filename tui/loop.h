/* A small event loop over poll(): file descriptors with callbacks, one
 * periodic tick from a timerfd (CLOCK_MONOTONIC), and a hook that runs once
 * per turn before sleeping (where the console draws). No curses here. */
#ifndef INTENTUS_TUI_LOOP_H
#define INTENTUS_TUI_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

typedef void (*loop_fd_fn)(void *ctx, int fd);
typedef void (*loop_hook_fn)(void *ctx);

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Watch fd for readability. At most 16 fds. */
int loop_add_fd(struct loop *l, int fd, loop_fd_fn fn, void *ctx);
void loop_remove_fd(struct loop *l, int fd);
/* A tick every interval_ms (0 turns it off). */
int loop_set_tick(struct loop *l, int interval_ms, loop_hook_fn fn, void *ctx);
/* Runs after each turn's callbacks, before the loop sleeps again. */
void loop_set_before_sleep(struct loop *l, loop_hook_fn fn, void *ctx);
/* Wake again within ms (for a deferred redraw); the earliest request wins. */
void loop_wake_within(struct loop *l, int ms);
/* One turn: wait (at most timeout_ms, -1 forever), dispatch. Returns the
 * number of callbacks run, -1 on a poll error other than EINTR. */
int loop_turn(struct loop *l, int timeout_ms);
void loop_stop(struct loop *l);
bool loop_is_stopped(const struct loop *l);
/* Turn until stopped. */
void loop_run(struct loop *l);

#endif
