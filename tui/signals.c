#include "tui/signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The only mutable file-scope state of the console: handlers need it. */
static int self_pipe[2] = { -1, -1 };
static volatile sig_atomic_t quit_pending;

static void
on_signal(int sig)
{
    int saved = errno;
    unsigned char b = sig == SIGWINCH ? SIG_EVENT_RESIZE
                      : sig == SIGHUP ? SIG_EVENT_RELOAD
                                      : SIG_EVENT_QUIT;

    if (b == SIG_EVENT_QUIT)
        quit_pending = 1;
    if (self_pipe[1] >= 0 && write(self_pipe[1], &b, 1) < 0) {
        /* pipe full: an event of this kind is already pending */
    }
    errno = saved;
}

int
signals_install(void)
{
    struct sigaction sa;
    const int sigs[] = { SIGWINCH, SIGHUP, SIGTERM, SIGINT };

    if (self_pipe[0] < 0 && pipe2(self_pipe, O_NONBLOCK | O_CLOEXEC) != 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return self_pipe[0];
}

unsigned
signals_drain(void)
{
    unsigned char buf[64];
    unsigned bits = 0;
    ssize_t n;

    while ((n = read(self_pipe[0], buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            bits |= 1U << buf[i];
    }
    return bits;
}

bool
signals_quit_pending(void)
{
    return quit_pending != 0;
}

void
signals_restore(void)
{
    const int sigs[] = { SIGWINCH, SIGHUP, SIGTERM, SIGINT };

    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], SIG_DFL);
}
