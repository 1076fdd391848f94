/* Faults: what intentus does when its disk or its input misbehaves. Each
 * case asserts the clear error, that the response still reaches the caller
 * where an execution ran, and that nothing partial becomes visible.
 *
 * The read-only and full filesystem cases need a filesystem intentus's own
 * permission checks cannot get around: as root (which ignores file modes)
 * they run in a private mount namespace (unshare(CLONE_NEWNS), mounts made
 * private so nothing leaks to the host) on a small tmpfs; where that is not
 * possible they fall back (read-only: chmod 0500 as a normal user) or skip
 * with the reason. */
#include <dirent.h>
#include <errno.h>
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
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/runtime.h"
#include "tests/support/testutil.h"
#include "watch/digest.h"

static const char cfg_text[] =
    "{\"agents\":[{\"name\":\"echo-a\",\"builtin\":\"echo\",\"intents\":[\"f.echo\"]}],"
    "\"recording\":{\"max_depth\":64}}";

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

/* A tmpfs of size bytes at dir ("ro": read-only), or false. */
static bool
mount_tmpfs(const char *dir, const char *size, bool ro)
{
    char opts[64];

    snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
    return private_mounts() && mount("tmpfs", dir, "tmpfs", ro ? MS_RDONLY : 0, opts) == 0;
}

static struct runtime *
open_runtime(const char *dir, const char *records)
{
    char cfg[PATH_MAX];
    struct intentus_err err = { 0 };
    struct runtime *rt;

    snprintf(cfg, sizeof(cfg), "%s/.cfg.json", dir); /* hidden: not a record */
    assert_int_equal(tu_write_file(cfg, cfg_text, strlen(cfg_text), 0600), 0);
    rt = runtime_open(cfg, &(struct runtime_opts){ .records_dir = records, .workers = 1 }, &err);
    if (rt == NULL)
        fail_msg("runtime_open: %s", err.msg);
    return rt;
}

static cJSON *
envelope(const char *payload_json)
{
    struct intentus_err err = { 0 };
    struct envelope_opts o = { .priority = PRIORITY_NORMAL, .strategy = STRATEGY_DIRECT };
    cJSON *payload = json_parse(payload_json, strlen(payload_json), 0, &err);
    cJSON *env;

    assert_non_null(payload);
    env = envelope_new("f.echo", payload, &o, &err);
    assert_non_null(env);
    return env;
}

/* Route one echo; the response must come back whatever recording did. */
static void
route(struct runtime *rt, struct route_result *res)
{
    cJSON *env = envelope("{\"k\":\"v\"}");

    memset(res, 0, sizeof(*res));
    assert_int_equal(runtime_route(rt, env, res), 0);
    assert_non_null(res->response);
    assert_false(response_is_error(res->response));
    assert_int_equal(route_result_own(res), 0); /* kept past env (core/router.h) */
    cJSON_Delete(env);
}

/* No hidden temp file in dir: a failed save leaves nothing partial. */
static void
assert_no_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            fail_msg("%s/%s left behind", dir, de->d_name);
    }
    closedir(d);
}

static void
expect_record_error(const struct route_result *res, const char *part)
{
    assert_false(res->recorded);
    assert_int_not_equal(res->record_err.code, IERR_OK);
    if (strstr(res->record_err.msg, part) == NULL)
        fail_msg("record error '%s' lacks '%s'", res->record_err.msg, part);
}

static void
test_readonly_directory(void **state)
{
    char *dir = tu_mkdtemp(), recs[PATH_MAX];
    struct route_result res;
    struct runtime *rt;
    bool mounted = false;

    (void)state;
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    assert_int_equal(mkdir(recs, 0700), 0);
    if (geteuid() == 0) {
        mounted = mount_tmpfs(recs, "1m", true);
        if (!mounted) {
            tu_rmtree(dir);
            free(dir);
            skip(); /* root ignores 0500 and no private mount namespace here */
        }
    } else {
        assert_int_equal(chmod(recs, 0500), 0);
    }
    rt = open_runtime(dir, recs);
    route(rt, &res);
    expect_record_error(&res, recs);
    if (strstr(res.record_err.msg, "Read-only file system") == NULL &&
        strstr(res.record_err.msg, "Permission denied") == NULL)
        fail_msg("record error '%s' does not say why", res.record_err.msg);
    route_result_free(&res);
    runtime_close(rt);
    assert_int_equal(tu_count_files(recs, NULL), 0);
    if (mounted)
        assert_int_equal(umount(recs), 0);
    else
        chmod(recs, 0700);
    tu_rmtree(dir);
    free(dir);
}

/* The record directory disappears under a running runtime: the next
 * execution still answers, and says it could not be recorded and where. */
static void
test_directory_deleted_while_running(void **state)
{
    char *dir = tu_mkdtemp(), recs[PATH_MAX];
    struct route_result res;
    struct runtime *rt;

    (void)state;
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    rt = open_runtime(dir, recs);
    route(rt, &res);
    assert_true(res.recorded);
    route_result_free(&res);
    tu_rmtree(recs);
    route(rt, &res);
    expect_record_error(&res, recs);
    assert_non_null(strstr(res.record_err.msg, "No such file or directory"));
    route_result_free(&res);
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

/* A 64 KiB filesystem filling up: recording fails with ENOSPC named, no
 * temp file stays visible, and every record written before still loads
 * and verifies. */
static void
test_full_filesystem(void **state)
{
    char *dir = tu_mkdtemp(), recs[PATH_MAX];
    struct route_result res;
    struct rec_store *rs;
    struct rec_ids ids;
    struct runtime *rt;
    int ok = 0;

    (void)state;
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    assert_int_equal(mkdir(recs, 0700), 0);
    if (!mount_tmpfs(recs, "64k", false)) {
        print_message("# needs root and a private mount namespace (unshare(CLONE_NEWNS))\n");
        tu_rmtree(dir);
        free(dir);
        skip();
    }
    rt = open_runtime(dir, recs);
    for (;;) {
        route(rt, &res);
        if (!res.recorded)
            break;
        ok++;
        route_result_free(&res);
        assert_true(ok < 1000);
    }
    expect_record_error(&res, recs);
    assert_non_null(strstr(res.record_err.msg, "No space left on device"));
    route_result_free(&res);
    runtime_close(rt);
    assert_true(ok > 0);
    assert_no_temp_files(recs);
    rs = rec_store_open(recs, NULL, NULL);
    assert_non_null(rs);
    assert_int_equal(rec_store_list(rs, &ids, NULL), 0);
    assert_int_equal((int)ids.n, ok);
    for (size_t i = 0; i < ids.n; i++) {
        struct intentus_err err = { 0 };
        cJSON *rec = rec_store_load(rs, ids.ids[i], &err);
        if (rec == NULL || record_verify_hash(rec, &err) != 0)
            fail_msg("earlier record %s: %s", ids.ids[i], err.msg);
        cJSON_Delete(rec);
    }
    rec_store_ids_free(&ids);
    rec_store_close(rs);
    assert_int_equal(umount(recs), 0);
    tu_rmtree(dir);
    free(dir);
}

/* Save one routed record into dir and return its id (static buffer). */
static const char *
one_record(const char *dir)
{
    static char id[64];
    struct route_result res;
    struct runtime *rt = open_runtime(dir, dir);

    route(rt, &res);
    assert_true(res.recorded);
    snprintf(id, sizeof(id), "%s", res.execution_id);
    route_result_free(&res);
    runtime_close(rt);
    return id;
}

/* A record replaced by a symlink (to a valid copy of itself) is not
 * followed. */
static void
test_record_replaced_by_symlink(void **state)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX], copy[PATH_MAX];
    struct intentus_err err = { 0 };
    const char *id = one_record(dir);
    struct rec_store *rs;

    (void)state;
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    snprintf(copy, sizeof(copy), "%s/elsewhere", dir);
    assert_int_equal(rename(path, copy), 0);
    assert_int_equal(symlink(copy, path), 0);
    rs = rec_store_open(dir, NULL, NULL);
    assert_null(rec_store_load(rs, id, &err));
    assert_int_equal(err.code, IERR_IO);
    assert_non_null(strstr(err.msg, "is a symlink; not followed"));
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

/* A 200 MB record file (the case; sparse, so instant) is refused by
 * its size before anything is read, as is one byte over the limit. */
static void
test_huge_record_refused(void **state)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX];
    const char *id = "01234567-89ab-7def-8123-456789abcdef";
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    size_t len;
    int fd;

    (void)state;
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_true(200ull * 1000 * 1000 > REC_STORE_MAX_FILE);
    assert_int_equal(ftruncate(fd, (off_t)200 * 1000 * 1000), 0);
    close(fd);
    rs = rec_store_open(dir, NULL, NULL);
    assert_null(rec_store_read(rs, id, &len, &err));
    assert_int_equal(err.code, IERR_LIMIT);
    assert_non_null(strstr(err.msg, "byte limit"));
    assert_non_null(strstr(err.msg, path));
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

/* A record with 10,000 events loads, verifies, summarizes and digests. */
static void
test_ten_thousand_events(void **state)
{
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    cJSON *env = envelope("{\"k\":\"v\"}"), *rec, *back, *resp;
    struct recorder *r = recorder_new(env, &err);
    struct record_summary sum;
    struct rec_store *rs;
    struct digest *d;
    size_t len;
    char *text;

    (void)state;
    assert_non_null(r);
    for (int i = 0; i < 10000 - 1; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddNumberToObject(p, "i", i);
        assert_int_equal(recorder_event(r, "NOTE", p), 0);
    }
    resp = response_success(cJSON_CreateObject(), "echo-a", "trace-1");
    assert_non_null(resp);
    assert_int_equal(recorder_final(r, resp), 0);
    rec = recorder_take(r);
    assert_non_null(rec);
    rs = rec_store_open(dir, NULL, NULL);
    assert_int_equal(rec_store_save(rs, rec, &err), 0);
    back = rec_store_load(rs, record_id(rec), &err);
    if (back == NULL)
        fail_msg("load: %s", err.msg);
    assert_int_equal(record_verify_hash(back, &err), 0);
    record_summarize(back, &sum);
    assert_true(sum.events >= 10000);
    text = rec_store_read(rs, record_id(rec), &len, &err);
    d = digest_from_text(record_id(rec), text, len, &err);
    assert_non_null(d);
    assert_false(d->flags & DIGEST_CORRUPT);
    assert_int_equal(d->events, sum.events);
    digest_free(d);
    free(text);
    cJSON_Delete(back);
    cJSON_Delete(rec);
    cJSON_Delete(resp);
    cJSON_Delete(env);
    recorder_free(r); /* recorder_take took the tree, not the recorder */
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

/* Deeply nested JSON: the parser stops at its depth limit (no stack
 * overflow at 100,000 levels), and a payload nested past
 * recording.max_depth is refused with PAYLOAD_TOO_LARGE before it runs. */
static void
test_deeply_nested_payload(void **state)
{
    char *dir = tu_mkdtemp();
    size_t n = 100000;
    char *text = malloc(2 * n + 1);
    struct intentus_err err = { 0 };
    struct route_result res = { 0 };
    cJSON *payload = cJSON_CreateObject(), *at = payload, *env;
    struct envelope_opts o = { .priority = PRIORITY_NORMAL, .strategy = STRATEGY_DIRECT };
    struct runtime *rt;

    (void)state;
    memset(text, '[', n);
    memset(text + n, ']', n);
    text[2 * n] = '\0';
    assert_null(json_parse(text, 2 * n, 0, &err));
    assert_int_equal(err.code, IERR_PARSE);
    assert_non_null(strstr(err.msg, "line 1, column"));
    free(text);
    for (int i = 0; i < 200; i++) {
        cJSON *child = cJSON_CreateObject();
        cJSON_AddItemToObject(at, "d", child);
        at = child;
    }
    env = envelope_new("f.echo", payload, &o, &err);
    assert_non_null(env);
    rt = open_runtime(dir, dir);
    assert_int_equal(runtime_route(rt, env, &res), 0);
    assert_non_null(res.response);
    assert_true(response_is_error(res.response));
    assert_string_equal(json_get_string(cJSON_GetObjectItem(res.response, "error"), "code"),
                        "PAYLOAD_TOO_LARGE");
    route_result_free(&res);
    runtime_close(rt);
    cJSON_Delete(env);
    tu_rmtree(dir);
    free(dir);
}

/* Invalid UTF-8 inside a record file: loading names the line and column,
 * and `records list --json` shows the file as corrupt. */
static void
test_invalid_utf8_record(void **state)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX], *text, *bad;
    const char *id = one_record(dir);
    struct intentus_err err = { 0 };
    struct tu_run run = { 0 };
    struct rec_store *rs;
    size_t len;

    (void)state;
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    text = tu_read_file(path, &len);
    assert_non_null(text);
    bad = strstr(text, "\"k\": \"v\"");
    assert_non_null(bad);
    bad[6] = (char)0xff; /* "v" becomes a byte no UTF-8 text contains */
    assert_int_equal(tu_write_file(path, text, len, 0600), 0);
    free(text);
    rs = rec_store_open(dir, NULL, NULL);
    assert_null(rec_store_load(rs, id, &err));
    assert_int_equal(err.code, IERR_PARSE);
    if (strstr(err.msg, "line ") == NULL || strstr(err.msg, "column ") == NULL ||
        strstr(err.msg, "UTF-8") == NULL)
        fail_msg("parse error '%s' does not name line, column and UTF-8", err.msg);
    rec_store_close(rs);
    {
        char *argv[] = { (char *)tu_bin(),
                         (char *)"records",
                         (char *)"list",
                         (char *)"--json",
                         (char *)"--dir",
                         dir,
                         NULL };
        char home[PATH_MAX + 8];
        char *envx[] = { home, (char *)"INTENTUS_CONFIG=", NULL };
        cJSON *arr, *o;
        snprintf(home, sizeof(home), "HOME=%s", dir);
        assert_int_equal(tu_run(argv, dir, NULL, envx, 10000, &run), 0);
        assert_int_equal(run.status, 0);
        arr = json_parse(run.out, strlen(run.out), 0, &err);
        assert_non_null(arr);
        assert_int_equal(cJSON_GetArraySize(arr), 1);
        o = cJSON_GetArrayItem(arr, 0);
        assert_string_equal(json_get_string(o, "executionId"), id);
        assert_string_equal(json_get_string(o, "status"), "corrupt");
        assert_non_null(strstr(json_get_string(o, "error"), "UTF-8"));
        cJSON_Delete(arr);
        tu_run_free(&run);
    }
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readonly_directory),
        cmocka_unit_test(test_directory_deleted_while_running),
        cmocka_unit_test(test_full_filesystem),
        cmocka_unit_test(test_record_replaced_by_symlink),
        cmocka_unit_test(test_huge_record_refused),
        cmocka_unit_test(test_ten_thousand_events),
        cmocka_unit_test(test_deeply_nested_payload),
        cmocka_unit_test(test_invalid_utf8_record),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
