/* `make run` shows the product (#22): the console runs `make run`'s command
 * line (from `make run-cmd`) in tmux on a fresh directory, and within 10 s
 * the demo traffic shows a rate, agents with calls and a recorded circuit
 * transition; quitting stops it. Each test has its own tmux server and
 * directory; every wait is bounded. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

struct demo {
    char sock[64];
    char *dir;
    char recs[PATH_MAX];
    char bin[PATH_MAX];
    char screen[65536];
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int
tmux(struct demo *d, const char *a1, const char *a2, const char *a3, const char *a4, const char *a5,
     const char *a6, const char *a7, const char *a8, const char *a9)
{
    char *argv[] = { "tmux",     "-L",       d->sock,    "-f",       "/dev/null",
                     (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5,
                     (char *)a6, (char *)a7, (char *)a8, (char *)a9, NULL };
    struct tu_run r;
    int rc;

    if (tu_run(argv, NULL, NULL, NULL, 10000, &r) != 0)
        return -1;
    if (strcmp(a1, "capture-pane") == 0)
        snprintf(d->screen, sizeof(d->screen), "%s", r.out);
    rc = r.status;
    tu_run_free(&r);
    return rc;
}

static void
capture(struct demo *d)
{
    tmux(d, "capture-pane", "-p", "-t", "t", NULL, NULL, NULL, NULL, NULL);
}

static bool
wait_for(struct demo *d, const char *text, int timeout_ms)
{
    for (int64_t end = now_ms() + timeout_ms;;) {
        capture(d);
        if (strstr(d->screen, text) != NULL)
            return true;
        if (now_ms() > end)
            return false;
        nap(50);
    }
}

static void
expect(struct demo *d, const char *text)
{
    if (!wait_for(d, text, 5000))
        fail_msg("screen never showed '%s'; it shows:\n%s", text, d->screen);
}

/* What `make run ARGS=...` would run, from the Makefile itself, with its
 * "./intentus" replaced by the binary under test. */
static void
make_run_args(const char *args, char *out, size_t size)
{
    char mk[PATH_MAX], argv_args[512];
    char *argv[] = { "make", "-s", "--no-print-directory", "-f", mk, "run-cmd", argv_args, NULL };
    struct tu_run r;
    char *nl;

    snprintf(mk, sizeof(mk), "%s/../../Makefile", tu_data_dir());
    snprintf(argv_args, sizeof(argv_args), "ARGS=%s", args);
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 20000, &r), 0);
    if (r.status != 0 || strncmp(r.out, "./intentus ", 11) != 0)
        fail_msg("make run-cmd: status %d, out '%s', err '%s'", r.status, r.out, r.err);
    if ((nl = strchr(r.out, '\n')) != NULL)
        *nl = '\0';
    snprintf(out, size, "%s", r.out + 11);
    tu_run_free(&r);
}

/* Open the console in a fresh directory as a new user would: no config file
 * anywhere, so the built-in demo. */
static void
start(struct demo *d, const char *args, const char *env)
{
    char cmd[4 * PATH_MAX + 1024];

    snprintf(cmd, sizeof(cmd),
             "cd %s && env -u INTENTUS_CONFIG -u INTENTUSNET_RECORDS_PATH HOME=%s "
             "XDG_CONFIG_HOME=%s LANG=C.UTF-8 %s %s %s; echo CONSOLE-EXITED-$?; sleep 30",
             d->dir, d->dir, d->dir, env ? env : "", d->bin, args);
    assert_int_equal(tmux(d, "new-session", "-d", "-s", "t", "-x", "100", "-y", "30", NULL), 0);
    tmux(d, "send-keys", "-t", "t", cmd, "Enter", NULL, NULL, NULL, NULL);
}

static int
setup(void **state)
{
    struct demo *d = calloc(1, sizeof(*d));
    char *probe[] = { "tmux", "-V", NULL };
    struct tu_run r;

    if (tu_run(probe, NULL, NULL, NULL, 5000, &r) != 0 || r.status != 0) {
        free(d);
        *state = NULL;
        return 0;
    }
    tu_run_free(&r);
    snprintf(d->sock, sizeof(d->sock), "intentus-demo-%d-%ld", (int)getpid(),
             (long)time(NULL) % 100000);
    d->dir = tu_mkdtemp();
    snprintf(d->recs, sizeof(d->recs), "%s/.intentusnet/records", d->dir);
    if (realpath(tu_bin(), d->bin) == NULL)
        snprintf(d->bin, sizeof(d->bin), "%s", tu_bin());
    *state = d;
    return 0;
}

static int
teardown(void **state)
{
    struct demo *d = *state;

    if (d == NULL)
        return 0;
    tmux(d, "kill-server", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    tu_rmtree(d->dir);
    free(d->dir);
    free(d);
    return 0;
}

#define NEED_TMUX(d)                                                                               \
    do {                                                                                           \
        if ((d) == NULL)                                                                           \
            skip(); /* tmux missing: make deps installs it */                                      \
    } while (0)

/* The dashboard's "rate N/s" is above zero. */
static bool
rate_positive(const char *screen)
{
    const char *p = strstr(screen, " rate 10s "); /* the last 10 s */
    return p != NULL && strtod(p + 10, NULL) > 0;
}

/* Rows of the agents table (between its header and the rule) with calls. */
static int
agents_with_calls(const char *screen)
{
    const char *p = strstr(screen, " AGENT "), *head, *calls_at;
    int n = 0;
    size_t col;

    if (p == NULL || (p = strchr(p, '\n')) == NULL)
        return 0;
    /* CALLS is right-aligned: its number ends where its title ends (the
     * columns shown depend on the width). */
    for (head = p; head > screen && head[-1] != '\n'; head--)
        ;
    calls_at = strstr(head, "CALLS");
    if (calls_at == NULL || calls_at > p)
        return 0;
    col = 5; /* in columns: the header's sort mark is one character of 3 bytes */
    for (const char *q = head; q < calls_at; q++)
        col += ((unsigned char)*q & 0xc0) != 0x80;
    for (p++; *p != '\0' && strncmp(p, " Live feed", 10) != 0;) {
        size_t len = strcspn(p, "\n"), b = col;
        while (b > 0 && b <= len && p[b - 1] >= '0' && p[b - 1] <= '9')
            b--;
        if (col <= len && b < col && strtoul(p + b, NULL, 10) > 0)
            n++;
        if ((p = strchr(p, '\n')) == NULL)
            break;
        p++;
    }
    return n;
}

/* Record files that hold a CIRCUIT_STATE_CHANGE event. */
static int
records_with_circuit_change(const char *dir)
{
    DIR *dh = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (dh == NULL)
        return 0;
    while ((de = readdir(dh)) != NULL) {
        char path[PATH_MAX + 300];
        char *text;
        if (de->d_name[0] == '.' || strstr(de->d_name, ".json") == NULL)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        text = tu_read_file(path, NULL);
        n += text != NULL && strstr(text, "\"CIRCUIT_STATE_CHANGE\"") != NULL;
        free(text);
    }
    closedir(dh);
    return n;
}

/* Processes running the binary under test from our directory. */
static int
console_processes(const struct demo *d)
{
    DIR *proc = opendir("/proc");
    struct dirent *de;
    int n = 0;

    assert_non_null(proc);
    while ((de = readdir(proc)) != NULL) {
        char link[PATH_MAX], exe[PATH_MAX] = "", cwd[PATH_MAX] = "", real_dir[PATH_MAX];
        ssize_t k;
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        snprintf(link, sizeof(link), "/proc/%s/exe", de->d_name);
        if ((k = readlink(link, exe, sizeof(exe) - 1)) > 0)
            exe[k] = '\0';
        snprintf(link, sizeof(link), "/proc/%s/cwd", de->d_name);
        if ((k = readlink(link, cwd, sizeof(cwd) - 1)) > 0)
            cwd[k] = '\0';
        if (realpath(d->dir, real_dir) == NULL)
            snprintf(real_dir, sizeof(real_dir), "%s", d->dir);
        n += strcmp(exe, d->bin) == 0 && strcmp(cwd, real_dir) == 0;
    }
    closedir(proc);
    return n;
}

static void
test_make_run_shows_demo_traffic_within_10s(void **state)
{
    struct demo *d = *state;
    char args[512];
    bool rate = false, agents = false, circuit = false;
    int64_t t0, end;
    int before;

    NEED_TMUX(d);
    make_run_args("", args, sizeof(args));
    assert_non_null(strstr(args, "--demo-traffic"));
    t0 = now_ms();
    start(d, args, NULL);
    for (end = t0 + 10000; now_ms() <= end && !(rate && agents && circuit); nap(100)) {
        capture(d);
        rate = rate || rate_positive(d->screen);
        agents = agents || agents_with_calls(d->screen) >= 3;
        circuit = circuit || records_with_circuit_change(d->recs) > 0;
    }
    if (!(rate && agents && circuit))
        fail_msg("after 10 s: rate %d, 3 agents with calls %d, circuit change recorded %d; "
                 "screen:\n%s",
                 rate, agents, circuit, d->screen);
    print_message("# demo traffic: all shown %.1f s after start\n", (double)(now_ms() - t0) / 1e3);
    assert_non_null(strstr(d->screen, "DEMO TRAFFIC"));
    /* Quitting stops it: the process is gone and nothing is written after. */
    tmux(d, "send-keys", "-t", "t", "Q", NULL, NULL, NULL, NULL, NULL);
    expect(d, "CONSOLE-EXITED-0");
    assert_int_equal(console_processes(d), 0);
    before = tu_count_files(d->recs, ".json");
    assert_true(before >= 3);
    nap(1500);
    assert_int_equal(tu_count_files(d->recs, ".json"), before);
    assert_int_equal(tu_count_files(d->recs, NULL), before); /* no temp files left either */
}

/* T stops and starts it; while stopped nothing new is recorded. */
static void
test_key_toggles_demo_traffic(void **state)
{
    struct demo *d = *state;
    char args[512];
    int n;

    NEED_TMUX(d);
    make_run_args("", args, sizeof(args));
    start(d, args, NULL);
    expect(d, "DEMO TRAFFIC (T)");
    for (int64_t end = now_ms() + 5000; tu_count_files(d->recs, ".json") < 5; nap(50))
        if (now_ms() > end)
            fail_msg("no demo traffic 5 s after start");
    tmux(d, "send-keys", "-t", "t", "T", NULL, NULL, NULL, NULL, NULL);
    expect(d, "demo traffic stopped");
    assert_null(strstr(d->screen, "DEMO TRAFFIC"));
    nap(600); /* what was in flight lands */
    n = tu_count_files(d->recs, ".json");
    nap(1200);
    assert_int_equal(tu_count_files(d->recs, ".json"), n);
    tmux(d, "send-keys", "-t", "t", "T", NULL, NULL, NULL, NULL, NULL);
    expect(d, "DEMO TRAFFIC (T)");
    for (int64_t end = now_ms() + 5000; tu_count_files(d->recs, ".json") <= n; nap(50))
        if (now_ms() > end)
            fail_msg("no demo traffic after T started it again");
    tmux(d, "send-keys", "-t", "t", "Q", NULL, NULL, NULL, NULL, NULL);
    expect(d, "CONSOLE-EXITED-0");
}

/* Down past the last agent moves into the feed, Enter opens the execution
 * under the cursor; the first seconds hold a fallback past flaky-b. */
static void
test_enter_in_feed_opens_a_fallback(void **state)
{
    struct demo *d = *state;
    char args[512];
    bool found = false;

    NEED_TMUX(d);
    make_run_args("", args, sizeof(args));
    start(d, args, NULL);
    for (int64_t end = now_ms() + 8000; tu_count_files(d->recs, ".json") < 10; nap(50))
        if (now_ms() > end)
            fail_msg("fewer than 10 demo records 8 s after start");
    tmux(d, "send-keys", "-t", "t", "p", NULL, NULL, NULL, NULL, NULL); /* a still feed */
    expect(d, "[paused]");
    tmux(d, "send-keys", "-t", "t", "G", "Down", NULL, NULL, NULL, NULL);
    expect(d, "Enter: open its timeline");
    for (int row = 0; row < 20 && !found; row++) {
        tmux(d, "send-keys", "-t", "t", "Enter", NULL, NULL, NULL, NULL, NULL);
        expect(d, "Timeline");
        found = wait_for(d, "fallback flaky-b -> echo-a", 300);
        if (!found) {
            tmux(d, "send-keys", "-t", "t", "Escape", NULL, NULL, NULL, NULL, NULL);
            expect(d, "Enter: open its timeline");
            tmux(d, "send-keys", "-t", "t", "Down", NULL, NULL, NULL, NULL, NULL);
        }
    }
    if (!found)
        fail_msg("no fallback past flaky-b among the feed's first 20 rows; last screen:\n%s",
                 d->screen);
    assert_non_null(strstr(d->screen, "strategy fallback"));
    tmux(d, "send-keys", "-t", "t", "Q", NULL, NULL, NULL, NULL, NULL);
    expect(d, "CONSOLE-EXITED-0");
}

/* Never on a directory the user named (make run ARGS="--dir X"), never
 * read-only (T refuses), and asked for by name it is refused with a config
 * file or --read-only. */
static void
test_demo_traffic_only_on_the_demo(void **state)
{
    struct demo *d = *state;
    char args[512], cfg[PATH_MAX + 16], other[PATH_MAX + 16];
    struct tu_run r;

    NEED_TMUX(d);
    snprintf(other, sizeof(other), "--dir %s/mine", d->dir);
    make_run_args(other, args, sizeof(args));
    start(d, args, NULL);
    expect(d, "0 records");
    expect(d, "(T: demo traffic), or run:");
    {
        /* the hint names the binary as it was run (here a full path) */
        char want[PATH_MAX + 32];
        snprintf(want, sizeof(want), "  %s route demo.echo", d->bin);
        expect(d, want);
    }
    nap(1500);
    capture(d);
    assert_null(strstr(d->screen, "DEMO TRAFFIC"));
    assert_int_equal(tu_count_files(d->recs, NULL), -1); /* the demo's directory: never made */
    tmux(d, "send-keys", "-t", "t", "Q", NULL, NULL, NULL, NULL, NULL);
    expect(d, "CONSOLE-EXITED-0");
    tmux(d, "kill-session", "-t", "t", NULL, NULL, NULL, NULL, NULL, NULL);

    /* found on $PATH, it is plain "intentus" */
    {
        char env[PATH_MAX + 64], dirarg[PATH_MAX + 16], *slash;
        snprintf(env, sizeof(env), "PATH=%s", d->bin);
        if ((slash = strrchr(env, '/')) != NULL)
            *slash = '\0';
        snprintf(env + strlen(env), sizeof(env) - strlen(env), ":/usr/bin:/bin");
        snprintf(dirarg, sizeof(dirarg), "--dir %s/mine", d->dir);
        snprintf(d->bin, sizeof(d->bin), "intentus");
        start(d, dirarg, env);
        expect(d, "0 records");
        expect(d, "  intentus route demo.echo");
        tmux(d, "send-keys", "-t", "t", "Q", NULL, NULL, NULL, NULL, NULL);
        expect(d, "CONSOLE-EXITED-0");
        tmux(d, "kill-session", "-t", "t", NULL, NULL, NULL, NULL, NULL, NULL);
        if (realpath(tu_bin(), d->bin) == NULL)
            snprintf(d->bin, sizeof(d->bin), "%s", tu_bin());
    }
    /* read-only creates nothing: give it the demo's directory */
    snprintf(other, sizeof(other), "%s/.intentusnet", d->dir);
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(mkdir(d->recs, 0700), 0);
    start(d, "--demo-traffic=auto --read-only", NULL);
    expect(d, "READ-ONLY");
    tmux(d, "send-keys", "-t", "t", "T", NULL, NULL, NULL, NULL, NULL);
    expect(d, "read-only console: demo traffic is disabled");
    assert_null(strstr(d->screen, "DEMO TRAFFIC"));
    tmux(d, "send-keys", "-t", "t", "Q", NULL, NULL, NULL, NULL, NULL);
    expect(d, "CONSOLE-EXITED-0");

    {
        char *argv[] = { d->bin, "console", "--demo-traffic", "--read-only", NULL };
        assert_int_equal(tu_run(argv, d->dir, NULL, NULL, 10000, &r), 0);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "--demo-traffic is refused with --read-only"));
        tu_run_free(&r);
    }
    snprintf(cfg, sizeof(cfg), "%s/mine.json", d->dir);
    assert_int_equal(tu_write_file(cfg,
                                   "{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", "
                                   "\"intents\": [\"x\"]}]}",
                                   strlen("{\"agents\": [{\"name\": \"a\", \"builtin\": \"echo\", "
                                          "\"intents\": [\"x\"]}]}"),
                                   0600),
                     0);
    {
        char *argv[] = { d->bin, "console", "--demo-traffic=2", "-c", cfg, NULL };
        assert_int_equal(tu_run(argv, d->dir, NULL, NULL, 10000, &r), 0);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "mine.json"));
        assert_non_null(strstr(r.err, "built-in demo configuration"));
        tu_run_free(&r);
    }
    {
        char *argv[] = { d->bin, "console", "--demo-traffic=fast", NULL };
        assert_int_equal(tu_run(argv, d->dir, NULL, NULL, 10000, &r), 0);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "'fast' is not auto or a rate from 0.1 to 50"));
        tu_run_free(&r);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_make_run_shows_demo_traffic_within_10s, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_key_toggles_demo_traffic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enter_in_feed_opens_a_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo_traffic_only_on_the_demo, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
