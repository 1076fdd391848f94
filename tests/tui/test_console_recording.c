/* The console's fire screen when its records cannot be written: with async
 * recording onto a read-only filesystem, a fired intent shows the writer's
 * verdict ("NOT recorded: ... Read-only file system"), not a timeline key.
 * Driven through tmux like tests/tui/test_console.c; the read-only tmpfs is
 * mounted in a private mount namespace of this test process, which the
 * tmux server it starts (and so the console) inherits: root only, a
 * counted skip otherwise. */
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

struct con {
    char sock[64];
    char *dir;
    char recs[PATH_MAX];
    bool mounted;
};

static int
tmux(struct con *c, char *out, size_t size, const char *const *args)
{
    char *argv[16] = { "tmux", "-L", c->sock };
    struct tu_run r;
    size_t n = 3;
    int rc;

    for (size_t i = 0; args[i] != NULL && n + 1 < 16; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    if (tu_run(argv, NULL, NULL, NULL, 10000, &r) != 0)
        return -1;
    if (out != NULL)
        snprintf(out, size, "%s", r.out);
    rc = r.status;
    tu_run_free(&r);
    return rc;
}

#define TMUX(c, out, size, ...) tmux((c), (out), (size), (const char *const[]){ __VA_ARGS__, NULL })

static void
expect(struct con *c, const char *text)
{
    static char screen[65536];

    for (int waited = 0; waited <= 8000; waited += 50) {
        struct timespec ts = { 0, 50 * 1000000L };
        TMUX(c, screen, sizeof(screen), "capture-pane", "-p", "-t", "t");
        if (strstr(screen, text) != NULL)
            return;
        nanosleep(&ts, NULL);
    }
    fail_msg("screen never showed '%s'; it shows:\n%s", text, screen);
}

static int
setup(void **state)
{
    struct con *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    snprintf(c->sock, sizeof(c->sock), "intentus-rec-%d-%ld", (int)getpid(),
             (long)time(NULL) % 100000);
    c->dir = tu_mkdtemp();
    snprintf(c->recs, sizeof(c->recs), "%s/records", c->dir);
    assert_int_equal(mkdir(c->recs, 0700), 0);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct con *c = *state;

    TMUX(c, NULL, 0, "kill-server");
    if (c->mounted)
        umount(c->recs);
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

static void
test_fire_shows_a_failed_async_write(void **state)
{
    struct con *c = *state;
    char cfg[PATH_MAX + 16], cmd[3 * PATH_MAX + 200];
    static const char text[] =
        "{\"recording\": {\"mode\": \"async\"},\n"
        " \"agents\": [{\"name\": \"echo-a\", \"kind\": \"builtin\", \"builtin\": \"echo\",\n"
        "              \"intents\": [\"demo.echo\"]}]}\n";

    if (geteuid() != 0 || unshare(CLONE_NEWNS) != 0 ||
        mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", c->recs, "tmpfs", MS_RDONLY, "size=1m,mode=0700") != 0) {
        print_message("# needs root and a private mount namespace (unshare(CLONE_NEWNS))\n");
        skip();
    }
    c->mounted = true;
    snprintf(cfg, sizeof(cfg), "%s/cfg.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(cmd, sizeof(cmd),
             "env HOME=%s XDG_CONFIG_HOME=%s %s --config %s --dir %s; echo CONSOLE-EXITED-$?; "
             "sleep 30",
             c->dir, c->dir, tu_bin(), cfg, c->recs);
    assert_int_equal(TMUX(c, NULL, 0, "new-session", "-d", "-s", "t", "-x", "200", "-y", "40"), 0);
    TMUX(c, NULL, 0, "send-keys", "-t", "t", cmd, "Enter");
    expect(c, "0 records");
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "f");
    expect(c, "Fire an intent");
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "C-r");
    expect(c, "success from echo-a");
    expect(c, "(NOT recorded: cannot create");
    expect(c, "Read-only file system");
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "C-n");
    expect(c, "fire how many times:");
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "C-u", "5", "Enter");
    expect(c, "5 fired in");
    expect(c, "5 NOT recorded");
    /* a text field of the form has the focus: Q would be text */
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Escape");
    nanosleep(&(struct timespec){ 0, 200000000L }, NULL); /* not read as Alt-Q */
    TMUX(c, NULL, 0, "send-keys", "-t", "t", "Q");
    expect(c, "CONSOLE-EXITED-0");
    assert_int_equal(tu_count_files(c->recs, NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fire_shows_a_failed_async_write, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
