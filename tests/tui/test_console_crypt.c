/* The console on encrypted records, driven through tmux (its own server on
 * a private socket, every wait bounded): with the config's keyring the
 * records view shows the intent and the detail shows the payload; without
 * a key each record says it is encrypted, and opening it says which key is
 * missing, never showing data. The same on an encrypted sqlite store: its
 * rows come from the plaintext's columns, the detail opens the sealed text
 * with the key and names the missing key without it. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

#define CANARY "canary-5b0e1f-console"

struct con {
    char sock[64];
    char *dir;
};

/* tmux -L sock ARGS... (NULL-terminated); its stdout into out. */
static int
tmux(struct con *c, char *out, size_t size, ...)
{
    char *argv[16] = { "tmux", "-L", c->sock };
    struct tu_run r;
    va_list ap;
    int n = 3, rc;

    va_start(ap, size);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 15;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    if (tu_run(argv, NULL, NULL, NULL, 10000, &r) != 0)
        return -1;
    if (out != NULL)
        snprintf(out, size, "%s", r.out);
    rc = r.status;
    tu_run_free(&r);
    return rc;
}

static void
expect(struct con *c, const char *text)
{
    static char screen[65536];

    for (int waited = 0; waited <= 8000; waited += 50) {
        struct timespec ts = { 0, 50 * 1000000L };
        tmux(c, screen, sizeof(screen), "capture-pane", "-p", "-t", "t", NULL);
        if (strstr(screen, text) != NULL)
            return;
        nanosleep(&ts, NULL);
    }
    fail_msg("screen never showed '%s'; it shows:\n%s", text, screen);
}

static void
keys(struct con *c, const char *k)
{
    tmux(c, NULL, 0, "send-keys", "-t", "t", k, NULL);
}

/* Run intentus in c->dir with args; must exit 0. */
static void
cli(struct con *c, ...)
{
    char *argv[24], home[PATH_MAX + 8];
    char *const env[] = { home, "INTENTUS_CONFIG=", "INTENTUS_KEYRING=",
                          "INTENTUSNET_RECORDS_PATH=", NULL };
    struct tu_run r;
    va_list ap;
    int n = 0;

    snprintf(home, sizeof(home), "HOME=%s", c->dir);
    argv[n++] = (char *)tu_bin();
    va_start(ap, c);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 23;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, c->dir, NULL, env, 10000, &r), 0);
    if (r.status != 0)
        fail_msg("intentus exited %d: %s", r.status, r.err);
    tu_run_free(&r);
}

/* Each console runs in its own tmux server (a fresh socket name): a new
 * server on the socket of one just killed can race its shutdown. */
static void
start(struct con *c, const char *args)
{
    static int runs;
    char cmd[4096];

    snprintf(c->sock, sizeof(c->sock), "intentus-crypt-%d-%ld-%d", (int)getpid(),
             (long)time(NULL) % 100000, runs++);

    snprintf(cmd, sizeof(cmd),
             "cd %s && env HOME=%s XDG_CONFIG_HOME=%s INTENTUS_KEYRING= INTENTUS_CONFIG= %s "
             "console %s; echo CONSOLE-EXITED-$?; sleep 30",
             c->dir, c->dir, c->dir, tu_bin(), args);
    assert_int_equal(
        tmux(c, NULL, 0, "new-session", "-d", "-s", "t", "-x", "140", "-y", "45", NULL), 0);
    tmux(c, NULL, 0, "send-keys", "-t", "t", cmd, "Enter", NULL);
}

static void
stop(struct con *c)
{
    keys(c, "Q");
    expect(c, "CONSOLE-EXITED-0");
    tmux(c, NULL, 0, "kill-server", NULL);
}

/* A directory with the config cfg (its keyring "ring"), a key made and
 * one demo.echo routed into the config's records with CANARY in its
 * payload; skipped when there is no tmux. */
static void
prepare(struct con *c, const char *cfg)
{
    char path[PATH_MAX];
    struct tu_run r;
    char *argv[] = { "tmux", "-V", NULL };

    c->dir = tu_mkdtemp();
    if (tu_run(argv, NULL, NULL, NULL, 5000, &r) != 0 || r.status != 0) {
        tu_run_free(&r);
        tu_rmtree(c->dir);
        free(c->dir);
        skip(); /* no tmux here */
    }
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/intentus.json", c->dir);
    assert_int_equal(tu_write_file(path, cfg, strlen(cfg), 0600), 0);
    snprintf(path, sizeof(path), "%s/plain.json", c->dir);
    assert_int_equal(tu_write_file(path, "{}", 2, 0600), 0);
    cli(c, "keys", "new", "-c", "intentus.json", NULL);
    cli(c, "route", "demo.echo", "-c", "intentus.json", "-p", "{\"note\":\"" CANARY "\"}", "-q",
        NULL);
}

/* With the config's keyring the detail opens the record: verified, and the
 * plaintext shows. */
static void
open_with_key(struct con *c)
{
    start(c, "-c intentus.json");
    expect(c, "1 records");
    keys(c, "2");
    /* The records view's own line (the dashboard's feed shows demo.echo
     * too, so that alone does not say the view has switched). */
    expect(c, "1 of 1 records");
    expect(c, "demo.echo");
    keys(c, "Enter");
    expect(c, "envelopeHash verified");
    expect(c, CANARY);
    stop(c);
}

static void
test_console_reads_encrypted_records(void **state)
{
    (void)state;
    struct con c = { 0 };

    prepare(&c, "{\"recording\": {\"dir\": \"records\", \"encryption\": {\"keyring\": \"ring\"}}}");
    open_with_key(&c);
    /* Without any key (plain.json has no recording.encryption: the one in
     * the directory would be found otherwise): encrypted, and opening it
     * names the missing key. */
    start(&c, "-c plain.json -d records --read-only");
    expect(&c, "1 records");
    keys(&c, "2");
    expect(&c, "(key missing)");
    expect(&c, "ENCRYPT");
    keys(&c, "Enter");
    expect(&c, "encrypted, key ");
    stop(&c);
    tu_rmtree(c.dir);
    free(c.dir);
}

static void
test_console_encrypted_sqlite(void **state)
{
    (void)state;
    struct con c = { 0 };

    prepare(&c, "{\"recording\": {\"store\": \"sqlite:records.sqlite\","
                " \"encryption\": {\"keyring\": \"ring\"}}}");
    open_with_key(&c);
    start(&c, "-c plain.json --store sqlite:records.sqlite --read-only");
    expect(&c, "1 records");
    keys(&c, "2");
    expect(&c, "demo.echo");
    keys(&c, "Enter");
    expect(&c, "encrypted, key ");
    stop(&c);
    tu_rmtree(c.dir);
    free(c.dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_reads_encrypted_records),
        cmocka_unit_test(test_console_encrypted_sqlite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
