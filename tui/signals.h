/* Signals become ordinary loop events: handlers only write a byte naming the
 * signal to a self-pipe; the loop reads it and acts on its own thread. */
#ifndef INTENTUS_TUI_SIGNALS_H
#define INTENTUS_TUI_SIGNALS_H

#include <stdbool.h>

enum sig_event { SIG_EVENT_NONE = 0, SIG_EVENT_RESIZE, SIG_EVENT_RELOAD, SIG_EVENT_QUIT };

/* Install handlers for SIGWINCH, SIGHUP, SIGTERM, SIGINT (and ignore
 * SIGPIPE). Returns the read end of the self-pipe, or -1. Call before
 * initscr() so curses leaves SIGWINCH to us. */
int signals_install(void);
/* Drain the pipe; returns a bit set of (1 << enum sig_event). */
unsigned signals_drain(void);
/* A SIGTERM or SIGINT arrived (and stays pending until exit): code that
 * waits for keys outside the loop, such as a prompt, gives up on it. */
bool signals_quit_pending(void);
void signals_restore(void);

#endif
