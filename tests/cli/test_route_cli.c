/* End-to-end tests of `intentus route` and `intentus retrieve` (the real
 * binary, $INTENTUS_BIN): what they say and how they exit when a record
 * cannot be written (async recording onto a read-only or full filesystem),
 * when a record would be too large or its envelope cannot be hashed, when
 * an option could not take effect, and when --payload names a file that
 * is not usable.
 *
 * The read-only and full filesystems are small tmpfs mounts in a private
 * mount namespace of this test process (as tests/stress/test_faults.c does),
 * which the binary it runs inherits; they need root, and are counted skips
 * otherwise. */
#include <fcntl.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "core/json.h"
#include "tests/support/cli_expect.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 60000
#define MAX_ARGS 32

struct ctx {
    char *dir;
    char env_home[PATH_MAX + 16];
    char env_xdg[PATH_MAX + 32];
};

/* 1 once this process has a private mount namespace, -1 when it cannot. */
static int mount_ns;

static bool
private_mounts(void)
{
    if (mount_ns == 0) {
        mount_ns = geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
                           mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0
                       ? 1
                       : -1;
    }
    return mount_ns == 1;
}

/* A tmpfs of size at dir ("ro": read-only), or false. */
static bool
mount_tmpfs(const char *dir, const char *size, bool ro)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
    return private_mounts() && mount("tmpfs", dir, "tmpfs", ro ? MS_RDONLY : 0, opts) == 0;
}

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

/* Run intentus with args (NULL-terminated, without argv[0]) in the test
 * directory; returns the exit status. */
static int
run(struct ctx *c, struct tu_run *r, const char *const *args)
{
    char *argv[MAX_ARGS];
    char *envv[] = { c->env_home, c->env_xdg,
                     (char *)"INTENTUS_CONFIG=", (char *)"INTENTUSNET_RECORDS_PATH=", NULL };
    size_t n = 0;

    argv[n++] = (char *)tu_bin();
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(n + 1 < MAX_ARGS);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    memset(r, 0, sizeof(*r));
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, r), 0);
    return r->status;
}

#define RUN(c, r, ...) run((c), (r), ARGS(__VA_ARGS__))

static void
expect(const struct tu_run *r, int status, const char *in_out, const char *in_err)
{
    bool ok = r->status == status && (in_out == NULL || strstr(r->out, in_out) != NULL) &&
              (in_err == NULL || strstr(r->err, in_err) != NULL);

    if (!ok)
        fail_msg("expected exit %d with \"%s\" on stdout and \"%s\" on stderr; got exit %d\n"
                 "# stdout:\n%.2000s\n# stderr:\n%.2000s",
                 status, in_out ? in_out : "", in_err ? in_err : "", r->status, r->out, r->err);
}

static void
write_text(const char *path, const char *text)
{
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
}

/* A config with one echo agent for demo.echo, recording into recs with the
 * extra "recording" keys given. */
static const char *
write_cfg(struct ctx *c, const char *recs, const char *recording_extra)
{
    const char *path = tpath(c, "cfg.json");
    char text[2048];

    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"%s%s},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"kind\": \"builtin\", \"builtin\": \"echo\",\n"
             "              \"intents\": [\"demo.echo\"]}]}\n",
             recs, recording_extra[0] ? ", " : "", recording_extra);
    write_text(path, text);
    return path;
}

/* The record directory on a tmpfs (read-only, or of size bytes); skips
 * (counted) where that cannot be done. */
static const char *
mounted_recs(struct ctx *c, const char *size, bool ro)
{
    const char *recs = tpath(c, "recs");

    assert_int_equal(mkdir(recs, 0700), 0);
    if (!mount_tmpfs(recs, size, ro)) {
        print_message("# needs root and a private mount namespace (unshare(CLONE_NEWNS))\n");
        skip();
    }
    return recs;
}

/* ---- 13.4: async recording that could not write says so and exits 1 ---- */

static void
test_async_readonly_reports_not_recorded(void **state)
{
    struct ctx *c = *state;
    const char *recs = mounted_recs(c, "1m", true);
    const char *cfg = write_cfg(c, recs, "\"mode\": \"async\"");
    struct tu_run r;

    RUN(c, &r, "route", "demo.echo", "-c", cfg);
    expect(&r, 1, "\"status\": \"success\"", "was NOT recorded");
    expect(&r, 1, NULL, "Read-only file system");
    assert_null(strstr(r.err, "recorded in"));
    tu_run_free(&r);

    RUN(c, &r, "route", "demo.echo", "-c", cfg, "--async-n", "20", "--workers", "2");
    expect(&r, 1, "0 recorded, 0 sampled out, 0 dropped, 20 failed",
           "20 of 20 executions were NOT recorded");
    expect(&r, 1, "20 ok, 0 error", "Read-only file system");
    tu_run_free(&r);

    /* --quiet: the exit status says it, stderr stays empty (13.13). */
    RUN(c, &r, "route", "demo.echo", "-c", cfg, "-q");
    expect(&r, 1, "\"status\": \"success\"", NULL);
    assert_string_equal(r.err, "");
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "-c", cfg, "-q", "--async-n", "5");
    expect(&r, 1, "5 failed", NULL);
    assert_string_equal(r.err, "");
    tu_run_free(&r);

    assert_int_equal(tu_count_files(recs, NULL), 0);
    assert_int_equal(umount(recs), 0);
}

static void
test_async_full_filesystem_counts_failures(void **state)
{
    struct ctx *c = *state;
    const char *recs = mounted_recs(c, "64k", false);
    const char *cfg = write_cfg(c, recs, "\"mode\": \"async\"");
    struct tu_run r;
    unsigned long long rec = 0, failed = 0;
    const char *line;
    int files;

    RUN(c, &r, "route", "demo.echo", "-c", cfg, "--async-n", "200");
    expect(&r, 1, "200 ok, 0 error", "executions were NOT recorded");
    expect(&r, 1, NULL, "No space left on device");
    line = strstr(r.out, "recording: ");
    assert_non_null(line);
    assert_int_equal(sscanf(line,
                            "recording: %llu recorded, %*u sampled out, %*u dropped, %llu failed",
                            &rec, &failed),
                     2);
    assert_true(failed > 0);
    assert_int_equal(rec + failed, 200);
    files = tu_count_files(recs, ".json");
    assert_int_equal(files, (int)rec);
    tu_run_free(&r);

    /* Now full: a single execution is not recorded either, and says so. */
    RUN(c, &r, "route", "demo.echo", "-c", cfg);
    expect(&r, 1, NULL, "No space left on device");
    assert_null(strstr(r.err, "recorded in"));
    tu_run_free(&r);
    assert_int_equal(tu_count_files(recs, ".json"), files);

    /* What was written reads back whole. */
    RUN(c, &r, "records", "verify", "--dir", recs);
    expect(&r, 0, " 0 failed", NULL);
    tu_run_free(&r);
    assert_int_equal(umount(recs), 0);
}

/* ---- 13.9: one record size limit, checked before writing ---- */

static void
test_max_payload_over_record_limit_is_config_error(void **state)
{
    struct ctx *c = *state;
    const char *cfg = write_cfg(c, tpath(c, "recs"), "\"max_payload_bytes\": \"30M\"");
    struct tu_run r;

    RUN(c, &r, "route", "demo.echo", "-c", cfg);
    expect(&r, 2, NULL, "recording.max_payload_bytes");
    expect(&r, 2, NULL, "more than a record can hold");
    tu_run_free(&r);
    assert_int_equal(tu_count_files(tpath(c, "recs"), NULL), -1); /* nothing created */
    cfg = write_cfg(c, tpath(c, "recs"), "\"max_payload_bytes\": \"16M\"");
    RUN(c, &r, "route", "demo.echo", "-c", cfg);
    expect(&r, 0, "\"status\": \"success\"", "recorded in");
    tu_run_free(&r);
}

/* A payload no record could hold (17 MiB, no configured limit): refused
 * before any agent runs, and the refusal is a small record that every
 * reader loads. */
static void
test_payload_too_large_for_a_record_refused_before_running(void **state)
{
    struct ctx *c = *state;
    const char *recs = tpath(c, "recs");
    const char *cfg = write_cfg(c, recs, "\"max_payload_bytes\": 0");
    size_t n = 17u << 20;
    char *text = malloc(n + 16), id[64] = "";
    struct tu_run r;
    cJSON *arr;

    assert_non_null(text);
    memcpy(text, "{\"d\":\"", 6);
    memset(text + 6, 'x', n);
    memcpy(text + 6 + n, "\"}", 3);
    write_text(tpath(c, "big.json"), text);
    free(text);
    RUN(c, &r, "route", "demo.echo", "-c", cfg, "-p", "@big.json");
    expect(&r, 1, "PAYLOAD_TOO_LARGE", "recorded in");
    expect(&r, 1, "a record can hold", NULL);
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--json", "--dir", recs);
    expect(&r, 0, NULL, NULL);
    arr = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    assert_string_equal(json_get_string(cJSON_GetArrayItem(arr, 0), "status"), "error");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "attempts")->valueint, 0);
    snprintf(id, sizeof(id), "%s", json_get_string(cJSON_GetArrayItem(arr, 0), "executionId"));
    cJSON_Delete(arr);
    tu_run_free(&r);
    RUN(c, &r, "records", "show", id, "--dir", recs);
    expect(&r, 0, "\"omitted\"", NULL);
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", id, "--dir", recs);
    expect(&r, 0, "1 passed, 0 failed", NULL);
    tu_run_free(&r);
}

/* ---- 13.8: an envelope its record cannot hash never runs ---- */

static void
test_unhashable_payload_refused_and_recorded(void **state)
{
    struct ctx *c = *state;
    const char *recs = tpath(c, "recs");
    const char *cfg = write_cfg(c, recs, "");
    struct tu_run r;
    cJSON *arr;

    RUN(c, &r, "route", "demo.echo", "-c", cfg, "-p", "{\"amount\":1e999999}");
    expect(&r, 1, "VALIDATION_ERROR", "recorded in");
    expect(&r, 1, "number out of range", NULL);
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "-c", cfg, "-p", "{\"amount\":1e999999}", "--async-n", "5");
    expect(&r, 1, "0 ok, 5 error", NULL);
    expect(&r, 1, "errors: VALIDATION_ERROR 5", NULL);
    expect(&r, 1, "echo-a CLOSED (0 calls", NULL); /* no agent ran */
    expect(&r, 1, "5 recorded", NULL);
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--json", "--dir", recs);
    arr = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_int_equal(cJSON_GetArraySize(arr), 6);
    for (int i = 0; i < 6; i++) {
        cJSON *o = cJSON_GetArrayItem(arr, i);
        assert_string_equal(json_get_string(o, "errorCode"), "VALIDATION_ERROR");
        assert_int_equal(cJSON_GetObjectItem(o, "attempts")->valueint, 0);
    }
    cJSON_Delete(arr);
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", "--dir", recs);
    expect(&r, 0, "6 passed, 0 failed", NULL);
    tu_run_free(&r);
}

/* ---- 13.13: options that could not take effect are usage errors ---- */

static void
test_route_options_that_cannot_take_effect(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;

    RUN(c, &r, "route", "demo.echo", "--workers", "2", "-n");
    expect(&r, 2, NULL, "--workers");
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "--no-record", "--dir", tpath(c, "recs"));
    expect(&r, 2, NULL, "--dir");
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "-s", "fallback", "--target", "echo-a", "-n");
    expect(&r, 2, NULL, "--target");
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "--fallback", "echo-a", "-n");
    expect(&r, 2, NULL, "--fallback");
    tu_run_free(&r);
    /* an option missing its value is named as typed, not as a short letter */
    RUN(c, &r, "route", "demo.echo", "-n", "--timeout");
    expect(&r, 2, NULL, "'--timeout' needs a value");
    tu_run_free(&r);
    RUN(c, &r, "agents", "--server");
    expect(&r, 2, NULL, "'--server' needs a value");
    tu_run_free(&r);
    /* and each works where it does take effect */
    RUN(c, &r, "route", "demo.echo", "--workers", "2", "--async-n", "3", "-n");
    expect(&r, 0, "3 ok, 0 error", NULL);
    tu_run_free(&r);
    RUN(c, &r, "route", "demo.echo", "-s", "fallback", "--fallback", "echo-a", "-n");
    expect(&r, 0, "\"status\": \"success\"", NULL);
    tu_run_free(&r);
}

static void
test_retrieve_takes_only_its_options(void **state)
{
    struct ctx *c = *state;
    const char *recs = tpath(c, "recs");
    const char *bad[][3] = { { "--dry-run", NULL, NULL }, { "--json", NULL, NULL },
                             { "-j", NULL, NULL },        { "--limit", "3", NULL },
                             { "--yes", NULL, NULL },     { "--intent", "demo.echo", NULL },
                             { "--follow", NULL, NULL },  { "--wal-dir", "w", NULL } };
    struct tu_run r;
    char id[64];
    const char *p;

    RUN(c, &r, "route", "demo.echo", "-d", recs);
    expect(&r, 0, NULL, "recorded in");
    p = strstr(r.err, "execution ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s", id), 1);
    tu_run_free(&r);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (bad[i][1] != NULL)
            RUN(c, &r, "retrieve", id, "--dir", recs, bad[i][0], bad[i][1]);
        else
            RUN(c, &r, "retrieve", id, "--dir", recs, bad[i][0]);
        expect(&r, 2, NULL, bad[i][0]);
        tu_run_free(&r);
    }
    RUN(c, &r, "retrieve", id, "--dir", recs);
    expect(&r, 0, "\"envelope_hash_ok\": true", NULL);
    tu_run_free(&r);
}

/* ---- 14.12: --payload names what is wrong with which argument ---- */

static void
test_payload_file_messages(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    int fd;

    assert_int_equal(mkdir(tpath(c, "adir"), 0700), 0);
    RUN(c, &r, "route", "demo.echo", "-n", "-p", "@adir");
    expect(&r, 2, NULL, "--payload @adir: is a directory");
    tu_run_free(&r);

    fd = open(tpath(c, "huge.json"), O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)70 * 1000 * 1000), 0); /* sparse */
    close(fd);
    RUN(c, &r, "route", "demo.echo", "-n", "-p", "@huge.json");
    expect(&r, 2, NULL, "--payload @huge.json: file is 70000000 bytes");
    expect(&r, 2, NULL, "over the 64 MiB payload input limit");
    tu_run_free(&r);

    write_text(tpath(c, "empty.json"), "");
    RUN(c, &r, "route", "demo.echo", "-n", "-p", "@empty.json");
    expect(&r, 2, NULL, "--payload @empty.json: is empty");
    tu_run_free(&r);

    RUN(c, &r, "route", "demo.echo", "-n", "-p", "@missing.json");
    expect(&r, 2, NULL, "--payload @missing.json: cannot open missing.json: No such file");
    tu_run_free(&r);

    write_text(tpath(c, "list.json"), "[1, 2]");
    RUN(c, &r, "route", "demo.echo", "-n", "-p", "@list.json");
    expect(&r, 2, NULL, "--payload @list.json: must be a JSON object");
    tu_run_free(&r);

    write_text(tpath(c, "ok.json"), "{\"k\": \"v\"}");
    RUN(c, &r, "route", "demo.echo", "-n", "-p", "@ok.json");
    expect(&r, 0, "\"k\": \"v\"", NULL);
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_async_readonly_reports_not_recorded, ctx_setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_async_full_filesystem_counts_failures, ctx_setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_max_payload_over_record_limit_is_config_error,
                                        ctx_setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_payload_too_large_for_a_record_refused_before_running,
                                        ctx_setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_unhashable_payload_refused_and_recorded, ctx_setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_route_options_that_cannot_take_effect, ctx_setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_retrieve_takes_only_its_options, ctx_setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_payload_file_messages, ctx_setup, ctx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
