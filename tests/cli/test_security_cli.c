/* Security guarantees of the command line, end to end with the real binary:
 * hostile execution ids are refused before they become file names, records
 * are private (0600 files in 0700 directories), and a secret in a routed
 * payload never reaches stderr. Each test runs in its own temporary
 * directory with HOME and XDG_CONFIG_HOME there and INTENTUS_CONFIG /
 * INTENTUSNET_RECORDS_PATH cleared. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "tests/support/cli_expect.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 10000

static const char cfg_text[] =
    "{\"agents\":[{\"name\":\"echo-a\",\"builtin\":\"echo\",\"intents\":[\"s.echo\"]},"
    "{\"name\":\"fail-b\",\"builtin\":\"fail\",\"intents\":[\"s.fail\"]}],"
    "\"recording\":{\"dir\":\"recs/deep\"},\"redaction\":{\"enabled\":true}}";

/* Run intentus with args (NULL-terminated, argv[0] excluded) in dir. */
static int
run(const char *dir, const char *const *args, struct tu_run *r)
{
    char home[PATH_MAX + 8], xdg[PATH_MAX + 20];
    char *argv[16];
    char *env[] = { home, xdg,
                    (char *)"INTENTUS_CONFIG=", (char *)"INTENTUSNET_RECORDS_PATH=", NULL };
    size_t n = 0;

    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", dir);
    argv[n++] = (char *)tu_bin();
    for (size_t i = 0; args[i] != NULL && n < 15; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, NULL, env, TIMEOUT_MS, r), 0);
    return r->status;
}

/* `records show`, `retrieve` and `records verify ID` refuse ids that could
 * leave the record directory or are too long, with exit 2 and a message
 * naming the id; nothing is read. */
static void
test_hostile_ids_refused(void **state)
{
    char *dir = tu_mkdtemp(), long_id[201], recs[PATH_MAX];
    const char *ids[] = { "..", "../x", "/etc/passwd", "a/b", ".hidden", long_id, NULL };
    const char *const cmds[][2] = { { "records", "show" },
                                    { "retrieve", NULL },
                                    { "records", "verify" } };

    (void)state;
    memset(long_id, 'a', 200);
    long_id[200] = '\0';
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    assert_int_equal(mkdir(recs, 0700), 0);
    for (size_t i = 0; ids[i] != NULL; i++) {
        for (size_t c = 0; c < 3; c++) {
            struct tu_run r = { 0 };
            int st = cmds[c][1] != NULL
                         ? run(dir, ARGS(cmds[c][0], cmds[c][1], ids[i], "--dir", recs), &r)
                         : run(dir, ARGS(cmds[c][0], ids[i], "--dir", recs), &r);
            if (st != 2 || strstr(r.err, "is not a valid execution id") == NULL)
                fail_msg("%s %s '%.20s': exit %d, stderr: %s", cmds[c][0],
                         cmds[c][1] ? cmds[c][1] : "", ids[i], st, r.err);
            assert_null(strstr(r.out, "{")); /* nothing was read */
            tu_run_free(&r);
        }
    }
    tu_rmtree(dir);
    free(dir);
}

static void
assert_mode(const char *path, unsigned mode)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    if ((st.st_mode & 07777) != mode)
        fail_msg("%s has mode %o, want %o", path, st.st_mode & 07777, mode);
}

/* A payload with "password": "hunter2": the response on stdout is the
 * agent's answer and carries it unredacted by design (redaction applies to
 * what is persisted); stderr (the execution id, errors) never does, for a
 * success or an error; the record on disk is redacted, 0600, and the record
 * directories intentus created are 0700. */
static void
test_secret_stays_off_stderr_and_disk(void **state)
{
    char *dir = tu_mkdtemp(), cfg[PATH_MAX], recs[PATH_MAX];
    const char *payload = "{\"password\":\"hunter2\",\"note\":\"x\"}";
    const char *intents[] = { "s.echo", "s.fail" };
    struct dirent *de;
    int files = 0;
    DIR *d;

    (void)state;
    snprintf(cfg, sizeof(cfg), "%s/cfg.json", dir);
    assert_int_equal(tu_write_file(cfg, cfg_text, strlen(cfg_text), 0600), 0);
    for (size_t i = 0; i < 2; i++) {
        struct tu_run r = { 0 };
        int st = run(dir, ARGS("route", intents[i], "--config", cfg, "-p", payload), &r);
        assert_true(st == (i == 0 ? 0 : 1));
        if (strstr(r.err, "hunter2") != NULL)
            fail_msg("stderr of route %s shows the secret: %s", intents[i], r.err);
        if (i == 0)
            assert_non_null(strstr(r.out, "hunter2")); /* the response itself */
        tu_run_free(&r);
    }
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    assert_mode(recs, 0700);
    snprintf(recs, sizeof(recs), "%s/recs/deep", dir);
    assert_mode(recs, 0700);
    d = opendir(recs);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX + 300];
        char *text;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", recs, de->d_name);
        assert_mode(path, 0600);
        text = tu_read_file(path, NULL);
        assert_non_null(text);
        if (strstr(text, "hunter2") != NULL)
            fail_msg("%s holds the secret although redaction is on", path);
        free(text);
        files++;
    }
    closedir(d);
    assert_int_equal(files, 2);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_ids_refused),
        cmocka_unit_test(test_secret_stays_off_stderr_and_disk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
