/* intentus records: each subcommand takes only its own options (one table
 * per subcommand), gc's filters and the config's retention section, show
 * byte for byte, --archive errors, and no control character from a record,
 * config or argument reaching the terminal. All through the real binary. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/json.h"
#include "tests/support/cli_expect.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 20000
#define MAX_ARGS 32

static char g_bin[PATH_MAX];
static char g_data[PATH_MAX];

struct ctx {
    char *dir;
    char env_home[PATH_MAX + 16];
    char env_xdg[PATH_MAX + 32];
};

static int
ctx_setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->dir = tu_mkdtemp();
    snprintf(c->env_home, sizeof(c->env_home), "HOME=%s", c->dir);
    snprintf(c->env_xdg, sizeof(c->env_xdg), "XDG_CONFIG_HOME=%s", c->dir);
    *state = c;
    return 0;
}

static int
ctx_teardown(void **state)
{
    struct ctx *c = *state;

    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

static const char *
tpath(struct ctx *c, const char *name)
{
    static char bufs[16][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 16];

    snprintf(b, PATH_MAX, "%s/%s", c->dir, name);
    return b;
}

/* Run intentus in the test directory with a clean environment. */
static int
run_args(struct ctx *c, struct tu_run *r, const char *const *args)
{
    char *argv[MAX_ARGS], *envv[8];
    size_t n = 0;

    argv[n++] = g_bin;
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(n + 1 < MAX_ARGS);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    envv[0] = c->env_home;
    envv[1] = c->env_xdg;
    envv[2] = (char *)"INTENTUS_CONFIG=";
    envv[3] = (char *)"INTENTUSNET_RECORDS_PATH=";
    envv[4] = NULL;
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, r), 0);
    return r->status;
}

#define RUN(c, r, ...) run_args((c), (r), ARGS(__VA_ARGS__))

static cJSON *
parse_text(const char *s)
{
    cJSON *v;

    assert_non_null(s);
    v = json_parse(s, strlen(s), 0, NULL);
    if (v == NULL)
        print_message("# not JSON:\n%s\n", s);
    assert_non_null(v);
    return v;
}

/* No control character but newline in text (nothing a terminal acts on). */
static void
assert_no_controls(const char *what, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f || c1) {
            print_message("# %s: control byte 0x%02x at offset %td:\n%s\n", what, *p,
                          (const char *)p - text, text);
            fail();
        }
    }
}

/* Route n executions of intent into rec (quietly). */
static void
route_n(struct ctx *c, const char *rec, const char *intent, int n, int want)
{
    struct tu_run r;

    for (int i = 0; i < n; i++) {
        RUN(c, &r, "route", intent, "-q", "--dir", rec);
        EXPECT_EXIT(&r, want);
        tu_run_free(&r);
    }
}

/* How many records of intent records list finds in rec. */
static int
count_intent(struct ctx *c, const char *rec, const char *intent)
{
    struct tu_run r;
    cJSON *v;
    int n;

    RUN(c, &r, "records", "list", "--dir", rec, "--json", "--intent", intent);
    EXPECT_EXIT(&r, 0);
    v = parse_text(r.out);
    n = cJSON_GetArraySize(v);
    cJSON_Delete(v);
    tu_run_free(&r);
    return n;
}

/* ---- 1. one option table per subcommand ---- */

static void
test_options_not_taken_are_usage_errors(void **state)
{
    struct ctx *c = *state;
    const char *rec = tpath(c, "rec");
    struct tu_run r;
    static const struct {
        const char *const args[6];
        const char *msg;
    } cases[] = {
        { { "records", "verify", "--json" }, "unknown option '--json' for records verify" },
        { { "records", "list", "--older-than", "1d" },
          "unknown option '--older-than' for records list" },
        { { "records", "show", "x", "--limit", "3" }, "unknown option '--limit' for records show" },
        /* show takes --json only with --tree */
        { { "records", "show", "x", "--json" }, "--json needs --tree" },
        { { "records", "diff", "a", "b", "--limit", "3" },
          "unknown option '--limit' for records diff" },
        { { "records", "stats", "--follow" }, "unknown option '--follow' for records stats" },
        { { "records", "tail", "--yes" }, "unknown option '--yes' for records tail" },
        { { "records", "gc", "--limit", "3" }, "unknown option '--limit' for records gc" },
        { { "records", "gc", "--status", "corrupt", "--max-count", "1" },
          "gc never removes files that are not records" },
        { { "records", "verify", "-j" }, "unknown option '-j' for records verify" },
        { { "retrieve", "x", "--json" }, "unknown option '--json' for retrieve" },
        { { "records", "list", "--json=1" }, "--json takes no value" },
        { { "records", "tail", "--lines" }, "--lines needs a value" },
        { { "records", "tail", "--poll=200" }, "--poll applies only with -f/--follow" },
    };

    route_n(c, rec, "demo.echo", 1, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_args(c, &r, cases[i].args);
        EXPECT_EXIT(&r, 2);
        assert_string_equal(r.out, "");
        EXPECT_CONTAINS(r.err, cases[i].msg);
        tu_run_free(&r);
    }
}

static void
test_subcommand_help_from_table(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;

    RUN(c, &r, "records", "verify", "--help");
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "Usage: intentus records verify");
    EXPECT_CONTAINS(r.out, "--wal-dir DIR");
    assert_null(strstr(r.out, "--json"));      /* verify does not take it */
    assert_null(strstr(r.out, "--max-count")); /* nor gc's options */
    tu_run_free(&r);
    RUN(c, &r, "records", "gc", "-h");
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "Usage: intentus records gc");
    EXPECT_CONTAINS(r.out, "--intent NAME");
    EXPECT_CONTAINS(r.out, "--archive DIR");
    assert_null(strstr(r.out, "--follow"));
    tu_run_free(&r);
    RUN(c, &r, "records", "tail", "--help");
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "--poll[=MS]");
    EXPECT_CONTAINS(r.out, "--status STATUS");
    tu_run_free(&r);
}

/* The reproducer: gc --intent demo.fail must not touch demo.echo. */
static void
test_gc_selects_within_filters(void **state)
{
    struct ctx *c = *state;
    const char *rec = tpath(c, "rec");
    struct tu_run r;
    cJSON *plan, *ids, *id;
    int before;

    route_n(c, rec, "demo.echo", 3, 0);
    route_n(c, rec, "demo.fail", 2, 1);
    before = tu_count_files(rec, ".json");
    assert_int_equal(before, 5);

    RUN(c, &r, "records", "gc", "--dir", rec, "--intent", "demo.fail", "--max-count", "1", "--yes");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    assert_int_equal(count_intent(c, rec, "demo.echo"), 3);
    assert_int_equal(count_intent(c, rec, "demo.fail"), 1);

    /* The dry run lists exactly what applying removes. */
    route_n(c, rec, "demo.fail", 2, 1);
    RUN(c, &r, "records", "gc", "--dir", rec, "--status", "error", "--max-count", "1", "--dry-run",
        "--json");
    EXPECT_EXIT(&r, 0);
    plan = parse_text(r.out);
    tu_run_free(&r);
    ids = cJSON_GetObjectItemCaseSensitive(plan, "ids");
    assert_int_equal(cJSON_GetArraySize(ids), 2);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(plan, "notSelected")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(plan, "keptCount")->valueint, 1);
    RUN(c, &r, "records", "gc", "--dir", rec, "--status", "error", "--max-count", "1", "--yes");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    cJSON_ArrayForEach(id, ids)
    {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s.json", rec, id->valuestring);
        assert_int_equal(access(path, F_OK), -1); /* planned: gone */
    }
    assert_int_equal(tu_count_files(rec, ".json"), 4);
    assert_int_equal(count_intent(c, rec, "demo.echo"), 3);
    assert_int_equal(count_intent(c, rec, "demo.fail"), 1);
    cJSON_Delete(plan);
}

static void
test_stats_and_tail_honour_filters(void **state)
{
    struct ctx *c = *state;
    const char *rec = tpath(c, "rec");
    struct tu_run r;
    cJSON *v;

    route_n(c, rec, "demo.echo", 3, 0);
    route_n(c, rec, "demo.fail", 1, 1);
    RUN(c, &r, "records", "stats", "--dir", rec, "--json", "--intent", "demo.fail");
    EXPECT_EXIT(&r, 0);
    v = parse_text(r.out);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(v, "total_records")->valueint, 1);
    assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "by_intent"),
                                                 "demo.echo"));
    cJSON_Delete(v);
    tu_run_free(&r);

    RUN(c, &r, "records", "tail", "--dir", rec, "--status", "error");
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "demo.fail");
    assert_null(strstr(r.out, "demo.echo"));
    tu_run_free(&r);
    RUN(c, &r, "records", "tail", "--dir", rec, "--intent", "demo.echo", "-n", "2", "--json");
    EXPECT_EXIT(&r, 0);
    {
        int lines = 0;
        for (const char *p = r.out; *p; p++)
            lines += *p == '\n';
        assert_int_equal(lines, 2);
    }
    assert_null(strstr(r.out, "demo.fail"));
    tu_run_free(&r);
}

/* ---- 2. gc -c cfg.json uses the config's retention section ---- */

static void
test_gc_uses_config_retention(void **state)
{
    struct ctx *c = *state;
    const char *rec = tpath(c, "rec"), *cfg = tpath(c, "cfg.json"), *arch = tpath(c, "cold");
    char text[3 * PATH_MAX];
    struct tu_run r;

    route_n(c, rec, "demo.echo", 4, 0);
    snprintf(text, sizeof(text),
             "{ \"recording\": { \"dir\": \"%s\" },\n"
             "  \"retention\": { \"max_count\": 1, \"archive_dir\": \"%s\" } }\n",
             rec, arch);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    RUN(c, &r, "records", "gc", "-c", cfg, "--dry-run", "--json");
    EXPECT_EXIT(&r, 0);
    {
        cJSON *v = parse_text(r.out);
        assert_int_equal(cJSON_GetObjectItemCaseSensitive(v, "would_delete_count")->valueint, 3);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "action")->valuestring, "archive");
        cJSON_Delete(v);
    }
    tu_run_free(&r);
    assert_int_equal(tu_count_files(rec, ".json"), 4); /* a dry run */
    RUN(c, &r, "records", "gc", "-c", cfg, "--yes");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(rec, ".json"), 1);
    assert_int_equal(tu_count_files(arch, ".json.gz"), 3);
    /* A limit option replaces the config's policy. */
    route_n(c, rec, "demo.echo", 2, 0);
    RUN(c, &r, "records", "gc", "-c", cfg, "--max-count", "2", "--yes");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(rec, ".json"), 2);
    /* No limit anywhere: a usage error that says where a policy can come from. */
    RUN(c, &r, "records", "gc", "--dir", rec);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "retention");
    tu_run_free(&r);
}

/* ---- 3. records show: the file byte for byte ---- */

static void
test_show_byte_for_byte(void **state)
{
    struct ctx *c = *state;
    char dir[PATH_MAX + 32];
    struct dirent *de;
    struct tu_run r;
    int shown = 0;
    DIR *d;

    snprintf(dir, sizeof(dir), "%s/reference-records", g_data);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), len;
        char id[128], path[PATH_MAX + 320], *want;
        if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0 || n > 120)
            continue;
        snprintf(id, sizeof(id), "%.*s", (int)(n - 5), de->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        want = tu_read_file(path, &len);
        assert_non_null(want);
        RUN(c, &r, "records", "show", id, "--dir", dir);
        EXPECT_EXIT(&r, 0);
        if (strlen(r.out) != len || memcmp(r.out, want, len) != 0) {
            print_message("# records show %s differs from %s (%zu vs %zu bytes)\n", id, path,
                          strlen(r.out), len);
            fail();
        }
        tu_run_free(&r);
        free(want);
        shown++;
    }
    closedir(d);
    assert_true(shown >= 30);
}

/* ---- 4. control characters never reach the terminal ---- */

static const char evil[] = "x\x1b]2;PWNTITLE\x07\x1b[2Jy\xc2\x9b";

static void
test_escapes_record_text(void **state)
{
    struct ctx *c = *state;
    const char *rec = tpath(c, "rec");
    static const char *const cmds[][2] = { { "list", NULL }, { "tail", NULL }, { "stats", NULL } };
    struct tu_run r;

    RUN(c, &r, "route", evil, "-q", "--dir", rec);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(rec, ".json"), 1);
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        RUN(c, &r, "records", cmds[i][0], "--dir", rec);
        EXPECT_EXIT(&r, 0);
        assert_no_controls(cmds[i][0], r.out);
        EXPECT_CONTAINS(r.out, "x\\e]2;PWNTITLE\\x07");
        tu_run_free(&r);
    }
    /* --json stays JSON (escaped by JSON's own rules), the intent intact */
    RUN(c, &r, "records", "list", "--dir", rec, "--json");
    EXPECT_EXIT(&r, 0);
    {
        cJSON *v = parse_text(r.out);
        assert_string_equal(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(v, 0), "intent")->valuestring,
            evil);
        cJSON_Delete(v);
    }
    tu_run_free(&r);
}

static void
test_escapes_arguments_in_errors(void **state)
{
    struct ctx *c = *state;
    const char *rec = tpath(c, "rec");
    char bad_dir[PATH_MAX + 64];
    struct tu_run r;

    RUN(c, &r, "records", "show", evil);
    EXPECT_EXIT(&r, 2);
    assert_no_controls("show's error", r.err);
    EXPECT_CONTAINS(r.err, "\\e]2;PWNTITLE");
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--\x1b[2J");
    EXPECT_EXIT(&r, 2);
    assert_no_controls("unknown option", r.err);
    tu_run_free(&r);
    RUN(c, &r, evil);
    EXPECT_EXIT(&r, 2);
    assert_no_controls("unknown command", r.err);
    EXPECT_CONTAINS(r.err, "unknown command 'x\\e]2;");
    tu_run_free(&r);
    snprintf(bad_dir, sizeof(bad_dir), "%s/%s", rec, evil);
    RUN(c, &r, "records", "stats", "--dir", bad_dir);
    EXPECT_EXIT(&r, 1);
    assert_no_controls("stats on a missing directory", r.err);
    EXPECT_CONTAINS(r.err, "PWNTITLE");
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--since", evil);
    EXPECT_EXIT(&r, 2);
    assert_no_controls("--since", r.err);
    tu_run_free(&r);
}

/* Run intentus with stdout on a pseudo-terminal; the output read back. */
static char *
run_on_pty(const char *const *args)
{
    char *argv[MAX_ARGS], *out = NULL, buf[4096];
    size_t n = 0, len = 0;
    int master = posix_openpt(O_RDWR | O_NOCTTY), status;
    pid_t pid;
    int64_t deadline = (int64_t)time(NULL) + TIMEOUT_MS / 1000;

    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 || ptsname(master) == NULL)
        return NULL;
    argv[n++] = g_bin;
    for (size_t i = 0; args[i] != NULL && n + 1 < MAX_ARGS; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        struct termios t;
        if (slave < 0)
            _exit(127);
        if (tcgetattr(slave, &t) == 0) {
            cfmakeraw(&t); /* no \n -> \r\n: the bytes as written */
            tcsetattr(slave, TCSANOW, &t);
        }
        dup2(slave, STDOUT_FILENO);
        close(slave);
        close(master);
        execv(argv[0], argv);
        _exit(127);
    }
    for (;;) {
        struct pollfd p = { .fd = master, .events = POLLIN };
        ssize_t got;
        if ((int64_t)time(NULL) > deadline) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(&p, 1, 200) <= 0) {
            if (waitpid(pid, &status, WNOHANG) == pid) {
                pid = -1;
                if (poll(&p, 1, 0) <= 0)
                    break;
            }
            continue;
        }
        got = read(master, buf, sizeof(buf));
        if (got <= 0)
            break; /* EIO once the child closed its side */
        out = realloc(out, len + (size_t)got + 1);
        assert_non_null(out);
        memcpy(out + len, buf, (size_t)got);
        len += (size_t)got;
        out[len] = '\0';
    }
    if (pid > 0)
        waitpid(pid, &status, 0);
    close(master);
    return out != NULL ? out : strdup("");
}

/* On a terminal records show escapes; through a pipe it is the file. */
static void
test_show_escapes_on_a_terminal(void **state)
{
    struct ctx *c = *state;
    const char *rec = tpath(c, "rec");
    struct dirent *de;
    struct tu_run r;
    char id[128] = "", *tty;
    DIR *d;

    RUN(c, &r, "route", evil, "-q", "--dir", rec);
    tu_run_free(&r);
    d = opendir(rec);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.' && strlen(de->d_name) < sizeof(id))
            snprintf(id, sizeof(id), "%.*s", (int)strlen(de->d_name) - 5, de->d_name);
    }
    closedir(d);
    assert_true(id[0] != '\0');
    /* the record file itself carries the raw C1 character (JSON keeps it as UTF-8) */
    RUN(c, &r, "records", "show", id, "--dir", rec);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\xc2\x9b");
    tu_run_free(&r);
    tty = run_on_pty(ARGS("records", "show", id, "--dir", rec));
    if (tty == NULL)
        skip(); /* no pseudo-terminals here */
    assert_no_controls("show on a terminal", tty);
    EXPECT_CONTAINS(tty, "\\u009b");
    EXPECT_CONTAINS(tty, "\"executionId\"");
    free(tty);
}

/* ---- 5. gc --archive names the argument and the problem ---- */

static void
test_gc_archive_errors(void **state)
{
    struct ctx *c = *state;
    const char *rec = tpath(c, "rec"), *file = tpath(c, "plain-file");
    char under_file[PATH_MAX + 16];
    struct tu_run r;

    route_n(c, rec, "demo.echo", 2, 0);
    assert_int_equal(tu_write_file(file, "x", 1, 0600), 0);
    RUN(c, &r, "records", "gc", "--dir", rec, "--max-count", "0", "--archive", file, "--yes");
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--archive");
    EXPECT_CONTAINS(r.err, "is not a directory");
    assert_null(strstr(r.err, "cannot open record directory"));
    tu_run_free(&r);
    snprintf(under_file, sizeof(under_file), "%s/sub", file);
    RUN(c, &r, "records", "gc", "--dir", rec, "--max-count", "0", "--archive", under_file,
        "--dry-run");
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--archive");
    EXPECT_CONTAINS(r.err, "cannot be created");
    tu_run_free(&r);
    assert_int_equal(tu_count_files(rec, ".json"), 2); /* nothing lost */
    /* a directory that does not exist yet is created */
    RUN(c, &r, "records", "gc", "--dir", rec, "--max-count", "0", "--archive", tpath(c, "new/cold"),
        "--yes");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(tpath(c, "new/cold"), ".json.gz"), 2);
}

static int
group_setup(void **state)
{
    (void)state;
    if (realpath(tu_bin(), g_bin) == NULL || realpath(tu_data_dir(), g_data) == NULL) {
        fprintf(stderr, "cannot find the intentus binary or the test data\n");
        return -1;
    }
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, ctx_setup, ctx_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_options_not_taken_are_usage_errors),
        T(test_subcommand_help_from_table),
        T(test_gc_selects_within_filters),
        T(test_stats_and_tail_honour_filters),
        T(test_gc_uses_config_retention),
        T(test_show_byte_for_byte),
        T(test_escapes_record_text),
        T(test_escapes_arguments_in_errors),
        T(test_show_escapes_on_a_terminal),
        T(test_gc_archive_errors),
    };

    return cmocka_run_group_tests(tests, group_setup, NULL);
}
