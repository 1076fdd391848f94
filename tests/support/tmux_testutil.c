#include "tests/support/tmux_testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

static int
tmux(struct tu_con *c, char *out, size_t size, const char *const *args)
{
    char *argv[16] = { "tmux", "-L", c->sock };
    struct tu_run r;
    int rc, n = 3;

    for (; args[n - 3] != NULL && n < 15; n++)
        argv[n] = (char *)args[n - 3];
    argv[n] = NULL;
    if (tu_run(argv, NULL, NULL, NULL, 10000, &r) != 0)
        return -1;
    if (out != NULL)
        snprintf(out, size, "%s", r.out);
    rc = r.status;
    tu_run_free(&r);
    return rc;
}

int
tu_con_tmux(struct tu_con *c, char *out, size_t size, const char *const *args)
{
    return tmux(c, out, size, args);
}

struct tu_con *
tu_con_new(void)
{
    static unsigned serial;
    struct tu_con *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    snprintf(c->sock, sizeof(c->sock), "intentus-tt-%d-%u-%ld", (int)getpid(), serial++,
             (long)time(NULL) % 100000);
    c->dir = tu_mkdtemp();
    snprintf(c->recs, sizeof(c->recs), "%s/records", c->dir);
    assert_int_equal(mkdir(c->recs, 0700), 0);
    return c;
}

void
tu_con_free(struct tu_con *c)
{
    if (c == NULL)
        return;
    tmux(c, NULL, 0, (const char *[]){ "kill-server", NULL });
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
}

void
tu_con_start(struct tu_con *c, const char *env, const char *args, int w, int h)
{
    char cmd[3072], ws[16], hs[16];
    static unsigned restarts;

    if (tmux(c, NULL, 0, (const char *[]){ "has-session", "-t", "t", NULL }) == 0) {
        /* A new server per console: new-session racing the old one's exit can fail. */
        tmux(c, NULL, 0, (const char *[]){ "kill-server", NULL });
        snprintf(c->sock + strlen(c->sock), sizeof(c->sock) - strlen(c->sock), "r%u",
                 restarts++ % 100);
    }
    /* --store names where the records are: no --dir then. */
    snprintf(cmd, sizeof(cmd),
             "env HOME=%s XDG_CONFIG_HOME=%s XDG_STATE_HOME=%s/state %s %s %s %s %s; echo "
             "CONSOLE-EXITED-$?; sleep 30",
             c->dir, c->dir, c->dir, env ? env : "", tu_bin(), args ? args : "",
             args != NULL && strstr(args, "--store ") != NULL ? "" : "--dir",
             args != NULL && strstr(args, "--store ") != NULL ? "" : c->recs);
    snprintf(ws, sizeof(ws), "%d", w);
    snprintf(hs, sizeof(hs), "%d", h);
    /* Right after a kill-server the old server may still hold the socket
     * (seen under load): try again, bounded (20 x 50 ms). */
    for (int tries = 0;; tries++) {
        int rc = tmux(c, NULL, 0,
                      (const char *[]){ "new-session", "-d", "-s", "t", "-x", ws, "-y", hs, NULL });
        if (rc == 0)
            break;
        if (tries == 20)
            assert_int_equal(rc, 0);
        nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
    }
    tmux(c, NULL, 0, (const char *[]){ "send-keys", "-t", "t", cmd, "Enter", NULL });
}

void
tu_con_capture(struct tu_con *c, char *out, size_t size)
{
    out[0] = '\0';
    tmux(c, out, size, (const char *[]){ "capture-pane", "-p", "-t", "t", NULL });
}

bool
tu_con_wait(struct tu_con *c, const char *text, int timeout_ms, char *screen, size_t size)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        struct timespec ts = { 0, 50 * 1000000L };
        tu_con_capture(c, screen, size);
        if (strstr(screen, text) != NULL)
            return true;
        nanosleep(&ts, NULL);
    }
    return false;
}

void
tu_con_expect(struct tu_con *c, const char *text)
{
    static char screen[65536];

    if (!tu_con_wait(c, text, 5000, screen, sizeof(screen)))
        fail_msg("screen never showed '%s'; it shows:\n%s", text, screen);
}

void
tu_con_keys(struct tu_con *c, const char *k1, const char *k2, const char *k3)
{
    tmux(c, NULL, 0, (const char *[]){ "send-keys", "-t", "t", k1, k2, k3, NULL });
}

void
tu_con_type(struct tu_con *c, const char *text)
{
    tmux(c, NULL, 0, (const char *[]){ "send-keys", "-t", "t", "-l", text, NULL });
}

void
tu_con_line(struct tu_con *c, int y, char *out, size_t size)
{
    static char screen[65536];
    const char *p = screen;

    tu_con_capture(c, screen, sizeof(screen));
    for (int i = 0; i < y && p != NULL; i++) {
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    snprintf(out, size, "%.*s", p ? (int)strcspn(p, "\n") : 0, p ? p : "");
}

void
tu_con_click(struct tu_con *c, int x, int y)
{
    char seq[16];

    snprintf(seq, sizeof(seq), "\033[M%c%c%c\033[M%c%c%c", 32, 33 + x, 33 + y, 35, 33 + x, 33 + y);
    tu_con_type(c, seq);
}
