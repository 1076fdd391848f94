/* A fuzzer for the console's input handling: the real binary (built with
 * ASan + UBSan for `make fuzz`) runs in a pseudo-terminal on a scratch record
 * directory and config, and gets a seeded random stream of keys (printable,
 * UTF-8, control characters, escape sequences for arrows, F-keys and the
 * mouse), pastes of random text and JSON, window resizes and records
 * appearing on disk, for a bounded time. Any abnormal end fails the run: a
 * sanitizer report, a signal, a non-zero status, an exit nobody asked for,
 * input it stops reading, or not ending on SIGTERM. When the stream itself
 * quit the console (Q, q, ^C, Esc on a too-small screen) it is restarted.
 * On failure the seed, the last keys sent and the sanitizer report are
 * printed; the same seed gives the same stream.
 *
 *   console_pty [--seed N] [--seconds S] [--bin PATH]
 *   (defaults: $FUZZ_SEED or the time, $FUZZ_SECONDS or 30, $INTENTUS_BIN or
 *   build/intentus). Exit 0 clean, 1 the console failed, 2 usage/setup. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"

#define RING 48           /* events printed on failure */
#define EV_TEXT 120       /* bytes of an event kept for the report */
#define STUCK_MS 15000    /* input not read for this long: the console hangs */
#define TERM_WAIT_MS 8000 /* SIGTERM to exit */
#define START_MS 20000    /* start to first screen */

struct event {
    uint64_t no;
    int64_t at_ms;
    char text[EV_TEXT * 4 + 32];
};

struct fuzz {
    uint64_t rng;
    unsigned long seed;
    char *bin;
    char *dir;
    char recs[600], cfg[600], asan_log[600], ubsan_log[600];
    int64_t t0_us;
    pid_t pid;
    int master;
    bool quit_sent;                     /* since the last start */
    bool intr_sent;                     /* a ^C since the last start: SIGINT may end it */
    uint64_t quit_at;                   /* the event that set quit_sent */
    bool tiny;                          /* the last size was below the console's minimum */
    int64_t tiny_until_ms, last_esc_ms; /* see esc_may_quit() */
    struct event ring[RING];
    uint64_t n_events;
    unsigned starts, restarts, resizes, new_records;
    uint64_t bytes_in, bytes_out;
    char tail[4096]; /* the console's last output */
    size_t tail_len;
};

static uint64_t
rnd(struct fuzz *f)
{
    /* xorshift64*: small, seedable, the same stream on every machine. */
    f->rng ^= f->rng >> 12;
    f->rng ^= f->rng << 25;
    f->rng ^= f->rng >> 27;
    return f->rng * 2685821657736338717ULL;
}

static unsigned
below(struct fuzz *f, unsigned n)
{
    return n ? (unsigned)(rnd(f) % n) : 0;
}

/* What is sent next may end the console: accept that it does. */
static void
ask_quit(struct fuzz *f)
{
    if (!f->quit_sent)
        f->quit_at = f->n_events;
    f->quit_sent = true;
}

static int64_t
elapsed_ms(const struct fuzz *f)
{
    return (clock_mono_us() - f->t0_us) / 1000;
}

static void
note(struct fuzz *f, const char *kind, const char *data, size_t len)
{
    struct event *e = &f->ring[f->n_events % RING];
    size_t o;

    e->no = f->n_events++;
    e->at_ms = elapsed_ms(f);
    o = (size_t)snprintf(e->text, sizeof(e->text), "%s \"", kind);
    for (size_t i = 0; i < len && i < EV_TEXT && o + 8 < sizeof(e->text); i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(e->text + o, sizeof(e->text) - o, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            e->text[o++] = (char)c;
        else
            o += (size_t)snprintf(e->text + o, sizeof(e->text) - o, "\\x%02x", c);
    }
    snprintf(e->text + o, sizeof(e->text) - o, "\"%s", len > EV_TEXT ? " ..." : "");
}

/* Keep reading the console's output so it never blocks on a full pty. */
static void
drain(struct fuzz *f, int timeout_ms)
{
    char b[8192];
    struct pollfd p = { f->master, POLLIN, 0 };

    while (f->master >= 0 && poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = read(f->master, b, sizeof(b));
        if (n <= 0)
            return; /* EIO once the console is gone; EAGAIN: drained */
        f->bytes_out += (uint64_t)n;
        if ((size_t)n >= sizeof(f->tail)) {
            memcpy(f->tail, b + n - (ssize_t)sizeof(f->tail), sizeof(f->tail));
            f->tail_len = sizeof(f->tail);
        } else {
            size_t keep = sizeof(f->tail) - (size_t)n;
            if (f->tail_len > keep) {
                memmove(f->tail, f->tail + (f->tail_len - keep), keep);
                f->tail_len = keep;
            }
            memcpy(f->tail + f->tail_len, b, (size_t)n);
            f->tail_len += (size_t)n;
        }
        timeout_ms = 0;
    }
}

/* Write everything, draining output meanwhile; -1 when the console stopped
 * reading its input for STUCK_MS, or is gone. */
static int
send_all(struct fuzz *f, const char *data, size_t len)
{
    int64_t since = clock_mono_us();

    while (len > 0) {
        ssize_t n = write(f->master, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
            f->bytes_in += (uint64_t)n;
            since = clock_mono_us();
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if ((clock_mono_us() - since) / 1000 > STUCK_MS)
            return -1;
        drain(f, 10);
    }
    return 0;
}

static void
print_file(const char *prefix)
{
    char cmd[800];

    /* ASan/UBSan add .<pid> to log_path; show whichever exist. */
    snprintf(cmd, sizeof(cmd), "cat %s.* 2>/dev/null | head -80", prefix);
    if (system(cmd) != 0) {
        /* nothing written */
    }
}

static bool
sanitizer_reported(const struct fuzz *f)
{
    char cmd[1400];

    snprintf(cmd, sizeof(cmd), "cat %s.* %s.* >/dev/null 2>&1", f->asan_log, f->ubsan_log);
    return system(cmd) == 0;
}

static void
show_events(const struct fuzz *f, unsigned n, const char *what)
{
    uint64_t first = f->n_events > n ? f->n_events - n : 0;

    fprintf(stderr, "console_pty: %s (event no, ms since start):\n", what);
    for (uint64_t i = first; i < f->n_events; i++) {
        const struct event *e = &f->ring[i % RING];
        fprintf(stderr, "  #%llu %6lld ms  %s\n", (unsigned long long)e->no, (long long)e->at_ms,
                e->text);
    }
    fflush(stderr);
}

static int failure(struct fuzz *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
failure(struct fuzz *f, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "\nconsole_pty: FAILED after %.1f s: ", (double)elapsed_ms(f) / 1000.0);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nconsole_pty: reproduce with --seed %lu (start %u, %llu events sent)\n",
            f->seed, f->starts, (unsigned long long)f->n_events);
    show_events(f, RING, "the last events");
    fprintf(stderr, "console_pty: sanitizer report (if any):\n");
    fflush(stderr);
    print_file(f->asan_log);
    print_file(f->ubsan_log);
    fprintf(stderr, "console_pty: the console's last output, printable part:\n  ");
    for (size_t i = 0; i < f->tail_len; i++) {
        unsigned char c = (unsigned char)f->tail[i];
        fputc(c == '\n' ? '\n' : (c >= 0x20 && c < 0x7f) ? c : ' ', stderr);
    }
    fputc('\n', stderr);
    return 1;
}

static const char *const terms[] = { "xterm-256color", "xterm", "screen-256color",
                                     "screen",         "vt100", "linux" };

static void
random_size(struct fuzz *f, struct winsize *ws)
{
    unsigned r = below(f, 16);

    memset(ws, 0, sizeof(*ws));
    if (r == 0) { /* tiny, down to 1x1 */
        ws->ws_col = (unsigned short)(1 + below(f, 40));
        ws->ws_row = (unsigned short)(1 + below(f, 12));
    } else if (r == 1) { /* huge */
        ws->ws_col = (unsigned short)(200 + below(f, 300));
        ws->ws_row = (unsigned short)(60 + below(f, 140));
    } else {
        ws->ws_col = (unsigned short)(60 + below(f, 140));
        ws->ws_row = (unsigned short)(16 + below(f, 50));
    }
    /* The console wants 80x24 at least (tui/console.c MIN_COLS, MIN_ROWS);
     * on a smaller screen Esc quits, as q does. */
    if (f->tiny)
        f->tiny_until_ms = elapsed_ms(f) + 2000;
    f->tiny = ws->ws_col < 80 || ws->ws_row < 24;
    /* An Esc sent just before may be read after the resize. */
    if (f->tiny && elapsed_ms(f) - f->last_esc_ms < 2000)
        ask_quit(f);
}

/* Input and SIGWINCH race: an Esc sent up to 2 s after leaving a too-small
 * size may still be read on it. */
static void
esc_may_quit(struct fuzz *f)
{
    f->last_esc_ms = elapsed_ms(f);
    if (f->tiny || f->last_esc_ms < f->tiny_until_ms)
        ask_quit(f);
}

static int reap(struct fuzz *f, int status);

/* Keys go in once the console owns the terminal: before that the tty still
 * has the shell's settings (a ^S would stop its output while it starts).
 * Owning it shows in the pty's termios: no ICANON (cbreak), then no IXON. */
static int
wait_first_screen(struct fuzz *f)
{
    int64_t t0 = clock_mono_us(), cbreak_ms = -1;

    for (;;) {
        int64_t ms = (clock_mono_us() - t0) / 1000;
        struct termios t;
        int status;

        drain(f, 10);
        if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
            drain(f, 0);
            return reap(f, status) != 0 ? 1 : failure(f, "the console ended while starting");
        }
        if (tcgetattr(f->master, &t) == 0 && !(t.c_lflag & ICANON)) {
            if (cbreak_ms < 0)
                cbreak_ms = ms;
            if (!(t.c_iflag & IXON) || ms - cbreak_ms > 2000)
                return 0;
        }
        if (ms > START_MS)
            return failure(f, "the console did not take the terminal within %d s", START_MS / 1000);
    }
}

static int
start(struct fuzz *f)
{
    struct winsize ws;
    const char *term = terms[below(f, sizeof(terms) / sizeof(terms[0]))];
    bool utf8 = below(f, 4) != 0, no_color = below(f, 6) == 0;
    unsigned theme = below(f, 8);
    pid_t pid;

    /* A new terminal: nothing sent to it yet. */
    f->quit_sent = false;
    f->intr_sent = false;
    f->tiny = false;
    f->tiny_until_ms = 0;
    f->last_esc_ms = -100000;
    random_size(f, &ws);
    pid = forkpty(&f->master, NULL, NULL, &ws);
    if (pid < 0) {
        fprintf(stderr, "console_pty: forkpty: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        char asan[1200], ubsan[1200];
        const char *env_asan = getenv("ASAN_OPTIONS");
        char *argv[12];
        int n = 0;

        snprintf(asan, sizeof(asan), "%s%sabort_on_error=0:exitcode=86:log_path=%s",
                 env_asan ? env_asan : "", env_asan ? ":" : "", f->asan_log);
        snprintf(ubsan, sizeof(ubsan), "print_stacktrace=1:halt_on_error=1:exitcode=87:log_path=%s",
                 f->ubsan_log);
        setenv("ASAN_OPTIONS", asan, 1);
        setenv("UBSAN_OPTIONS", ubsan, 1);
        setenv("HOME", f->dir, 1);
        setenv("XDG_CONFIG_HOME", f->dir, 1);
        setenv("TERM", term, 1);
        setenv("LC_ALL", utf8 ? "C.UTF-8" : "C", 1);
        if (no_color)
            setenv("NO_COLOR", "1", 1);
        else
            unsetenv("NO_COLOR");
        /* Relative paths typed into prompts (save, load, open) land here. */
        if (chdir(f->dir) != 0)
            _exit(125);
        argv[n++] = (char *)f->bin;
        argv[n++] = "console";
        argv[n++] = "--dir";
        argv[n++] = f->recs;
        argv[n++] = "--config";
        argv[n++] = f->cfg;
        if (theme == 0) {
            argv[n++] = "--theme";
            argv[n++] = "mono";
        } else if (theme == 1) {
            argv[n++] = "--ascii";
        }
        argv[n] = NULL;
        execv(f->bin, argv);
        _exit(127);
    }
    fcntl(f->master, F_SETFL, fcntl(f->master, F_GETFL) | O_NONBLOCK);
    f->pid = pid;
    f->tail_len = 0;
    f->starts++;
    {
        char what[160];
        snprintf(what, sizeof(what), "TERM=%s %s%s %ux%u%s", term, utf8 ? "utf8" : "C",
                 no_color ? " NO_COLOR" : "", ws.ws_col, ws.ws_row,
                 theme == 0   ? " --theme mono"
                 : theme == 1 ? " --ascii"
                              : "");
        note(f, "start", what, strlen(what));
    }
    return wait_first_screen(f);
}

/* The end of one console: 0 when the stream asked for it, else a failure. */
static int
reap(struct fuzz *f, int status)
{
    close(f->master);
    f->master = -1;
    f->pid = -1;
    if (sanitizer_reported(f))
        return failure(f, "sanitizer report (status %d)", status);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGINT && f->intr_sent) {
        /* ^C before the console's handler is installed or after it is
         * restored on the way out: the default action, as asked. */
        f->restarts++;
        return 0;
    }
    if (WIFSIGNALED(status))
        return failure(f, "console killed by signal %d (%s)", WTERMSIG(status),
                       strsignal(WTERMSIG(status)));
    if (WEXITSTATUS(status) != 0)
        return failure(f, "console exited with status %d", WEXITSTATUS(status));
    if (!f->quit_sent)
        return failure(f, "console exited (status 0) though nothing asked it to quit");
    f->restarts++;
    if (getenv("CONSOLE_PTY_VERBOSE") != NULL)
        fprintf(stderr, "console_pty: quit; asked by event #%llu: %s\n",
                (unsigned long long)f->quit_at,
                f->n_events - f->quit_at < RING ? f->ring[f->quit_at % RING].text : "?");
    return 0;
}

/* 0 still running or cleanly quit (and restarted), 1 failed. */
static int
check(struct fuzz *f)
{
    int status;
    pid_t r;

    if (f->pid < 0)
        return 0;
    r = waitpid(f->pid, &status, WNOHANG);
    if (r == 0)
        return 0;
    drain(f, 0);
    if (reap(f, status) != 0)
        return 1;
    return start(f) == 0 ? 0 : 1;
}

static const char *const sequences[] = {
    "\x1b[A",         "\x1b[B",     "\x1b[C",       "\x1b[D",    "\x1bOA",    "\x1bOB",
    "\x1bOC",         "\x1bOD",     "\x1b[H",       "\x1b[F",    "\x1b[1~",   "\x1b[4~",
    "\x1b[5~",        "\x1b[6~",    "\x1b[2~",      "\x1b[3~",   "\x1bOP",    "\x1bOQ",
    "\x1bOR",         "\x1bOS",     "\x1b[15~",     "\x1b[17~",  "\x1b[18~",  "\x1b[19~",
    "\x1b[20~",       "\x1b[21~",   "\x1b[23~",     "\x1b[24~",  "\x1b[Z",    "\x1b[1;5A",
    "\x1b[1;2B",      "\x1b[1;3C",  "\x1b[5;5~",    "\x1b",      "\x1b[",     "\x1bO",
    "\x1b[99;99;99R", "\x1b[?1;2c", "\x1b]0;x\x07", "\x1b[200~", "\x1b[201~",
};

/* Keys that do something somewhere, weighted up so the stream gets around. */
static const char useful[] = "1234567f?/nNsScxmDzZUy[]jkhlgGrdtpRao \t\r\r\r";
static const char controls[] = { 0x01, 0x02, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0b, 0x0c, 0x0e,
                                 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
                                 0x19, 0x1b, 0x1d, 0x1e, 0x1f, 0x7f, 0x00, 0x09, 0x0a, 0x0d };

/* Random text for prompts and fields. Never a '/': with no directory part a
 * typed path stays in the scratch directory even when run as root. */
static size_t
random_text(struct fuzz *f, char *out, size_t size)
{
    static const char *const words[] = { "demo.echo",
                                         "demo.upper",
                                         "demo.slow",
                                         "demo.fail",
                                         "status:error",
                                         "intent:",
                                         "agent:",
                                         "since:1h",
                                         "error:",
                                         "echo-a",
                                         "x.json",
                                         "..",
                                         "~",
                                         "*",
                                         "\xc3\xa9",
                                         "\xe2\x94\x80",
                                         "\xf0\x9f\x98\x80",
                                         "\xff\xfe",
                                         "\xc3",
                                         "%s%n",
                                         "\\",
                                         "\"" };
    size_t n = 0, want = 1 + below(f, below(f, 8) == 0 ? 600 : 40);

    while (n < want && n + 8 < size) {
        if (below(f, 4) == 0) {
            const char *w = words[below(f, sizeof(words) / sizeof(words[0]))];
            size_t l = strlen(w);
            if (n + l + 1 >= size)
                break;
            memcpy(out + n, w, l);
            n += l;
        } else {
            char c = (char)(0x20 + below(f, 0x5f));
            /* No q/Q either: outside a field they quit, and quitting is
             * the explicit, rarer event of the stream. */
            out[n++] = c == '/' ? '-' : c == 'q' || c == 'Q' ? 'k' : c;
        }
    }
    out[n] = '\0';
    return n;
}

static void
json_value(struct fuzz *f, char *out, size_t size, size_t *n, int depth)
{
    unsigned k = below(f, depth > 4 ? 4 : 7);
    int w;

    if (*n + 64 >= size)
        k = 0;
    switch (k) {
    case 0:
        w = snprintf(out + *n, size - *n, "%d", (int)below(f, 100000) - 500);
        break;
    case 1:
        w = snprintf(out + *n, size - *n, "%s",
                     below(f, 3) == 0 ? "null"
                     : below(f, 2)    ? "true"
                                      : "false");
        break;
    case 2:
        w = snprintf(out + *n, size - *n, "%g", (double)(rnd(f) % 100000) / 7.0e3);
        break;
    case 3: {
        char t[64];
        size_t l = random_text(f, t, sizeof(t));
        w = snprintf(out + *n, size - *n, "\"");
        *n += (size_t)w;
        for (size_t i = 0; i < l && *n + 8 < size; i++) {
            if (t[i] == '"' || t[i] == '\\')
                out[(*n)++] = '\\';
            out[(*n)++] = t[i];
        }
        w = snprintf(out + *n, size - *n, "%s", below(f, 10) ? "\"" : "\\u00e9\"");
        break;
    }
    default: {
        bool obj = k != 6;
        unsigned items = below(f, 5);
        out[(*n)++] = obj ? '{' : '[';
        for (unsigned i = 0; i < items && *n + 80 < size; i++) {
            if (i)
                out[(*n)++] = ',';
            if (obj) {
                static const char *const keys[] = { "password", "token",         "name", "a",
                                                    "nested",   "authorization", "x",    "" };
                *n += (size_t)snprintf(out + *n, size - *n,
                                       "\"%s\":", keys[below(f, sizeof(keys) / sizeof(keys[0]))]);
            }
            json_value(f, out, size, n, depth + 1);
        }
        out[(*n)++] = obj ? '}' : ']';
        out[*n] = '\0';
        return;
    }
    }
    if (w > 0)
        *n += (size_t)w;
    if (*n >= size)
        *n = size - 1;
    out[*n] = '\0';
}

static int
resize(struct fuzz *f)
{
    struct winsize ws;
    char what[64];

    random_size(f, &ws);
    snprintf(what, sizeof(what), "%ux%u", ws.ws_col, ws.ws_row);
    note(f, "resize", what, strlen(what));
    f->resizes++;
    /* The kernel sends SIGWINCH on a change; sometimes send one anyway. */
    if (ioctl(f->master, TIOCSWINSZ, &ws) != 0)
        return 0; /* the console just went away; check() sees it */
    if (below(f, 4) == 0)
        kill(f->pid, SIGWINCH);
    return 0;
}

static void
add_record(struct fuzz *f)
{
    struct tu_rec r;

    tu_rec_make(&r, (unsigned)rnd(f), clock_wall_us());
    if (tu_rec_write(f->recs, &r, below(f, 2) == 0) == 0) {
        f->new_records++;
        note(f, "record", r.id, strlen(r.id));
    }
}

/* One step of the stream. */
static int
step(struct fuzz *f)
{
    char b[16384];
    size_t n = 0;
    unsigned r = below(f, 1000);
    const char *kind = "key";

    if (below(f, 1500) == 0) {
        /* Q, q (quits on the dashboard and the records list) or ^C
         * (SIGINT: a documented clean quit). */
        static const char quit[] = { 'Q', 'q', 0x03 };
        b[n++] = quit[below(f, 3)];
    } else if (r < 380) {
        b[n++] = useful[below(f, sizeof(useful) - 1)];
    } else if (r < 560) {
        b[n++] = (char)(0x20 + below(f, 0x5f));
        if (b[0] == 'q' || b[0] == 'Q')
            b[0] = 'w';
    } else if (r < 680) {
        b[n++] = controls[below(f, sizeof(controls))];
    } else if (r < 840) {
        const char *s = sequences[below(f, sizeof(sequences) / sizeof(sequences[0]))];
        n = strlen(s);
        memcpy(b, s, n);
        kind = "seq";
    } else if (r < 880) {
        /* Mouse: X10 (ESC [ M b x y) or SGR (ESC [ < b ; x ; y M/m). */
        unsigned btn = below(f, 2) ? below(f, 4) : 64 + below(f, 2);
        unsigned x = below(f, 250), y = below(f, 120);
        if (below(f, 2))
            n = (size_t)snprintf(b, sizeof(b), "\x1b[M%c%c%c", (char)(32 + btn),
                                 (char)(33 + (x > 200 ? 200 : x)),
                                 (char)(33 + (y > 200 ? 200 : y)));
        else
            n = (size_t)snprintf(b, sizeof(b), "\x1b[<%u;%u;%u%c", btn, x + 1, y + 1,
                                 below(f, 2) ? 'M' : 'm');
        kind = "mouse";
    } else if (r < 920) {
        n = random_text(f, b, sizeof(b) - 16);
        kind = "text";
    } else if (r < 950) {
        bool bracketed = below(f, 2);
        if (bracketed) {
            memcpy(b, "\x1b[200~", 6);
            n = 6;
        }
        json_value(f, b, sizeof(b) - 16, &n, 0);
        if (bracketed) {
            memcpy(b + n, "\x1b[201~", 6);
            n += 6;
        }
        kind = "json";
    } else if (r < 955) {
        /* UTF-8, valid and not. */
        static const char *const u[] = { "\xc3\xa9",     "\xe2\x82\xac",    "\xf0\x9f\x98\x80",
                                         "\xc3",         "\xe2\x82",        "\xff",
                                         "\xed\xa0\x80", "\xf4\x90\x80\x80" };
        const char *s = u[below(f, sizeof(u) / sizeof(u[0]))];
        n = strlen(s);
        memcpy(b, s, n);
        kind = "utf8";
    } else if (r < 975) {
        return resize(f);
    } else if (r < 985) {
        add_record(f);
        return 0;
    } else {
        /* A pause, so timers, completions and the watcher get a turn. */
        int ms = (int)below(f, 300);
        char what[32];
        snprintf(what, sizeof(what), "%d ms", ms);
        int64_t until = clock_mono_us() + ms * 1000;
        note(f, "pause", what, strlen(what));
        while (clock_mono_us() < until)
            drain(f, 5);
        return 0;
    }
    /* Q or q anywhere may quit: outside a text field, or as the tail of an
     * escape sequence this terminal type does not know (ESC O Q). */
    if (memchr(b, 'Q', n) != NULL || memchr(b, 'q', n) != NULL)
        ask_quit(f);
    if (memchr(b, 0x1b, n) != NULL) {
        /* On a too-small screen an Esc quits: send fewer there, so one
         * console lives long enough to get somewhere. */
        if ((f->tiny || elapsed_ms(f) < f->tiny_until_ms) && below(f, 8) != 0) {
            b[0] = 'j';
            n = 1;
        } else {
            esc_may_quit(f);
        }
    }
    if (memchr(b, 0x03, n) != NULL) {
        f->intr_sent = true;
        ask_quit(f);
    }
    note(f, kind, b, n);
    if (send_all(f, b, n) != 0) {
        /* Gone (write fails with EIO) or stuck: give an exit a second to
         * become visible before calling it stuck. */
        unsigned starts = f->starts;
        for (int i = 0; i < 100 && f->starts == starts; i++) {
            if (check(f) != 0)
                return 1;
            drain(f, 10);
        }
        if (f->starts == starts)
            return failure(f, "the console stopped reading its input for %d s", STUCK_MS / 1000);
    }
    return 0;
}

/* The end of the run: SIGTERM must end the console cleanly. */
static int
finish(struct fuzz *f)
{
    int status;
    int64_t t0 = clock_mono_us();

    if (f->pid < 0)
        return 0;
    note(f, "signal", "SIGTERM", 7);
    kill(f->pid, SIGTERM);
    for (;;) {
        pid_t r = waitpid(f->pid, &status, WNOHANG);
        int64_t ms = (clock_mono_us() - t0) / 1000;
        if (r == f->pid) {
            drain(f, 0);
            ask_quit(f);
            return reap(f, status);
        }
        if (ms > TERM_WAIT_MS) {
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &status, 0);
            return failure(f, "the console did not exit within %d s of SIGTERM",
                           TERM_WAIT_MS / 1000);
        }
        drain(f, 20);
    }
}

static int
setup_dir(struct fuzz *f)
{
    char wal[700], bad[700];
    FILE *c;

    f->dir = tu_mkdtemp();
    snprintf(f->recs, sizeof(f->recs), "%s/records", f->dir);
    snprintf(f->cfg, sizeof(f->cfg), "%s/intentus.json", f->dir);
    snprintf(f->asan_log, sizeof(f->asan_log), "%s/asan", f->dir);
    snprintf(f->ubsan_log, sizeof(f->ubsan_log), "%s/ubsan", f->dir);
    snprintf(wal, sizeof(wal), "%s/wal", f->dir);
    if (mkdir(f->recs, 0700) != 0 || mkdir(wal, 0700) != 0)
        return -1;
    c = fopen(f->cfg, "w");
    if (c == NULL)
        return -1;
    fprintf(c,
            "{\n"
            "  \"recording\": { \"dir\": \"%s\", \"fsync\": false },\n"
            "  \"wal\": { \"enabled\": true, \"dir\": \"%s\" },\n"
            "  \"agents\": [\n"
            "    { \"name\": \"echo-a\", \"builtin\": \"echo\",\n"
            "      \"intents\": [\"demo.echo\", \"demo.upper@1.0\"], \"nodePriority\": 10 },\n"
            "    { \"name\": \"flaky-b\", \"builtin\": \"flaky\", \"fail_rate\": 0.3, \"seed\": "
            "42,\n"
            "      \"intents\": [\"demo.echo\"], \"nodePriority\": 20 },\n"
            "    { \"name\": \"slow-c\", \"builtin\": \"slow\", \"delay_ms\": 50,\n"
            "      \"intents\": [\"demo.slow\"] },\n"
            "    { \"name\": \"broken-d\", \"builtin\": \"fail\", \"error_code\": "
            "\"AGENT_ERROR\",\n"
            "      \"retryable\": false, \"intents\": [\"demo.fail\"] }\n"
            "  ]\n"
            "}\n",
            f->recs, wal);
    if (fclose(c) != 0)
        return -1;
    for (unsigned i = 0; i < 150; i++) {
        struct tu_rec r;
        tu_rec_make(&r, (unsigned)f->seed * 1000u + i, clock_wall_us() - 3600000000LL);
        if (tu_rec_write(f->recs, &r, i % 2 == 0) != 0)
            return -1;
    }
    /* Files the console must survive: torn, empty, not JSON. */
    snprintf(bad, sizeof(bad), "%s/torn.json", f->recs);
    tu_write_file(bad, "{\"header\": {\"executionId\": \"tor", 31, 0600);
    snprintf(bad, sizeof(bad), "%s/empty.json", f->recs);
    tu_write_file(bad, "", 0, 0600);
    snprintf(bad, sizeof(bad), "%s/x.json", f->dir); /* for o / ^E */
    tu_write_file(bad, "{\"password\": \"hunter2\", \"n\": [1, 2]}\n", 37, 0600);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = { { "seed", required_argument, NULL, 's' },
                                          { "seconds", required_argument, NULL, 't' },
                                          { "bin", required_argument, NULL, 'b' },
                                          { NULL, 0, NULL, 0 } };
    struct fuzz *f = calloc(1, sizeof(*f));
    const char *env, *bin;
    double seconds = 30;
    int64_t deadline_ms;
    int c, rc = 0;

    if (f == NULL)
        return 2;
    f->seed = (unsigned long)time(NULL) ^ (unsigned long)getpid();
    if ((env = getenv("FUZZ_SEED")) != NULL && env[0])
        f->seed = strtoul(env, NULL, 10);
    if ((env = getenv("FUZZ_SECONDS")) != NULL && env[0])
        seconds = strtod(env, NULL);
    bin = tu_bin();
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            f->seed = strtoul(optarg, NULL, 10);
        else if (c == 't')
            seconds = strtod(optarg, NULL);
        else if (c == 'b')
            bin = optarg;
        else {
            fprintf(stderr, "usage: console_pty [--seed N] [--seconds S] [--bin PATH]\n");
            return 2;
        }
    }
    /* Absolute: the console runs in the scratch directory. */
    if (!(seconds > 0 && seconds <= 86400) || access(bin, X_OK) != 0 ||
        (f->bin = realpath(bin, NULL)) == NULL) {
        fprintf(stderr, "console_pty: need 0 < seconds <= 86400 and an executable --bin (%s)\n",
                bin);
        return 2;
    }
    f->rng = f->seed * 0x9E3779B97F4A7C15ULL + 1;
    f->master = -1;
    f->pid = -1;
    signal(SIGPIPE, SIG_IGN);
    if (setup_dir(f) != 0) {
        fprintf(stderr, "console_pty: cannot set up %s: %s\n", f->dir ? f->dir : "?",
                strerror(errno));
        return 2;
    }
    printf("console_pty: seed %lu, %.0f s, %s\n", f->seed, seconds, f->bin);
    fflush(stdout);
    f->t0_us = clock_mono_us();
    deadline_ms = (int64_t)(seconds * 1000);
    if ((rc = start(f)) < 0)
        rc = 2;
    while (rc == 0 && elapsed_ms(f) < deadline_ms) {
        rc = step(f);
        if (rc == 0)
            rc = check(f);
        if (rc == 0 && below(f, 3) == 0)
            drain(f, (int)below(f, 8));
        else if (rc == 0)
            drain(f, 0);
    }
    if (rc == 0)
        rc = finish(f);
    else if (f->pid > 0) {
        kill(f->pid, SIGKILL);
        waitpid(f->pid, NULL, 0);
    }
    printf("console_pty: seed %lu: %llu events, %llu bytes in, %llu out, %u starts (%u quit by "
           "the stream or SIGTERM), %u resizes, %u records added: %s\n",
           f->seed, (unsigned long long)f->n_events, (unsigned long long)f->bytes_in,
           (unsigned long long)f->bytes_out, f->starts, f->restarts, f->resizes, f->new_records,
           rc == 0 ? "ok" : "FAILED");
    if (rc == 0)
        tu_rmtree(f->dir);
    else
        fprintf(stderr, "console_pty: scratch directory kept: %s\n", f->dir);
    free(f->dir);
    free(f->bin);
    free(f);
    return rc;
}
