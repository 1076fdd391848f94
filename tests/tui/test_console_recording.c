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
#include "tests/support/tmux_testutil.h"

struct fixture {
    struct tu_con *con;
    bool mounted;
};

/* Waits up to 8 s: the first frame on a read-only mount comes after the
 * writer's first failure, slower than a plain start under load. */
static void
expect(struct tu_con *c, const char *text)
{
    static char screen[65536];

    if (!tu_con_wait(c, text, 8000, screen, sizeof(screen)))
        fail_msg("screen never showed '%s'; it shows:\n%s", text, screen);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->con = tu_con_new();
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    TU_TMUX(f->con, NULL, 0, "kill-server");
    if (f->mounted)
        umount(f->con->recs);
    tu_con_free(f->con);
    free(f);
    return 0;
}

static void
test_fire_shows_a_failed_async_write(void **state)
{
    struct fixture *f = *state;
    struct tu_con *c = f->con;
    char cfg[PATH_MAX + 16], args[PATH_MAX + 32];
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
    f->mounted = true;
    snprintf(cfg, sizeof(cfg), "%s/cfg.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(args, sizeof(args), "--config %s", cfg);
    tu_con_start(c, NULL, args, 200, 40);
    expect(c, "0 records");
    tu_con_keys(c, "f", NULL, NULL);
    expect(c, "Fire an intent");
    tu_con_keys(c, "C-r", NULL, NULL);
    expect(c, "success from echo-a");
    expect(c, "(NOT recorded: cannot create");
    expect(c, "Read-only file system");
    tu_con_keys(c, "C-n", NULL, NULL);
    expect(c, "fire how many times:");
    tu_con_keys(c, "C-u", "5", "Enter");
    expect(c, "5 fired in");
    expect(c, "5 NOT recorded");
    /* a text field of the form has the focus: Q would be text */
    tu_con_keys(c, "Escape", NULL, NULL);
    nanosleep(&(struct timespec){ 0, 200000000L }, NULL); /* not read as Alt-Q */
    tu_con_keys(c, "Q", NULL, NULL);
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
