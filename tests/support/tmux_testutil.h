/* Driving the real console in tmux for end-to-end tests: a private tmux
 * server per test (-L), send-keys in, capture-pane out, every wait bounded.
 * The console runs in the session's shell so its exit status is printed
 * ("CONSOLE-EXITED-<rc>"). */
#ifndef INTENTUS_TESTS_SUPPORT_TMUX_TESTUTIL_H
#define INTENTUS_TESTS_SUPPORT_TMUX_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>

struct tu_con {
    char sock[64];
    char *dir;      /* a private temp dir: HOME, XDG_CONFIG_HOME, XDG_STATE_HOME/state */
    char recs[600]; /* <dir>/records, created empty */
};

/* A new console fixture (records dir empty); tu_con_free kills its tmux
 * server and removes the dir. */
struct tu_con *tu_con_new(void);
void tu_con_free(struct tu_con *c);
/* Start `intentus console ARGS --dir recs` (without --dir when ARGS has
 * --store) in a w x h pane, env (may be
 * NULL) put before it ("NAME=value ..."). A second start in the same
 * fixture first ends the previous tmux server. */
void tu_con_start(struct tu_con *c, const char *env, const char *args, int w, int h);
void tu_con_capture(struct tu_con *c, char *out, size_t size);
/* Wait until the screen shows text (true) or timeout_ms passes (false,
 * screen holds the last capture). */
bool tu_con_wait(struct tu_con *c, const char *text, int timeout_ms, char *screen, size_t size);
/* Fail the test, printing the screen, unless text shows within 5 s. */
void tu_con_expect(struct tu_con *c, const char *text);
/* tmux send-keys (key names such as "Enter", "C-u"), and literal text. */
void tu_con_keys(struct tu_con *c, const char *k1, const char *k2, const char *k3);
void tu_con_type(struct tu_con *c, const char *text);
/* A left click at column x, row y (0-based), as the terminal reports it
 * (X10 mouse encoding: press, then release). */
void tu_con_click(struct tu_con *c, int x, int y);
/* Any other tmux command on the fixture's server (resize-window,
 * display-message, kill-server...): args NULL-terminated; out (may be
 * NULL) gets its stdout. Returns tmux's exit status, -1 if it did not run. */
int tu_con_tmux(struct tu_con *c, char *out, size_t size, const char *const *args);
#define TU_TMUX(c, out, size, ...)                                                                 \
    tu_con_tmux((c), (out), (size), (const char *const[]){ __VA_ARGS__, NULL })
/* Row y (0-based) of the screen, without its newline. */
void tu_con_line(struct tu_con *c, int y, char *out, size_t size);

#endif
