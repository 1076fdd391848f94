/* The WAL when its disk, or the records' disk, is full: the real binary,
 * real exec agents and small tmpfs mounts in a private mount namespace (as
 * root; elsewhere each case is a counted skip with the reason).
 *  - a refused execution (execution.started does not fit) leaves no log,
 *    and its record verifies (issue 13.3);
 *  - a record that cannot be written is not logged as completed, and
 *    `recovery scan` lists the execution as "record missing" (13.5);
 *  - a WAL append that fails stops the execution: no further step starts,
 *    the error names the WAL, the exit status is 1, and every side effect
 *    that happened has its step.started in the log (13.6). */
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

#include "core/buf.h"
#include "core/json.h"
#include "core/wal.h"
#include "tests/support/testutil.h"

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

/* A tmpfs of size bytes at dir, filled up but for `leave` bytes (whole
 * pages), or false (the case is then skipped). */
static bool
full_tmpfs(const char *dir, const char *size, size_t leave)
{
    char opts[64], filler[PATH_MAX];
    static char page[4096];
    off_t len = 0;
    int fd;

    snprintf(opts, sizeof(opts), "size=%s,mode=0700", size);
    if (!private_mounts() || mount("tmpfs", dir, "tmpfs", 0, opts) != 0)
        return false;
    /* Hidden, so neither a WAL nor a record lister sees it. */
    snprintf(filler, sizeof(filler), "%s/.filler", dir);
    fd = open(filler, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    memset(page, 'f', sizeof(page));
    for (int i = 0; i < 100000; i++) {
        ssize_t w = write(fd, page, sizeof(page));
        if (w <= 0)
            break;
        len += w;
    }
    assert_int_equal(errno, ENOSPC);
    assert_true((off_t)leave <= len);
    assert_int_equal(ftruncate(fd, len - (off_t)leave), 0);
    close(fd);
    return true;
}

static void
skip_without_mounts(char *dir)
{
    print_message("# needs root and a private mount namespace (unshare(CLONE_NEWNS))\n");
    tu_rmtree(dir);
    free(dir);
    skip();
}

/* <dir>/cfg.json: agents (JSON text of the list), the WAL in waldir, the
 * records in recdir. */
static void
write_config_mode(const char *dir, const char *agents, const char *waldir, const char *recdir,
                  const char *mode, char *path, size_t size)
{
    struct buf b = BUF_INIT;

    assert_int_equal(buf_printf(&b,
                                "{\"agents\": %s, \"wal\": {\"enabled\": true, \"dir\": \"%s\"},"
                                " \"recording\": {\"dir\": \"%s\", \"mode\": \"%s\"}}",
                                agents, waldir, recdir, mode),
                     0);
    snprintf(path, size, "%s/cfg.json", dir);
    assert_int_equal(tu_write_file(path, b.data, b.len, 0600), 0);
    buf_free(&b);
}

static void
write_config(const char *dir, const char *agents, const char *waldir, const char *recdir,
             char *path, size_t size)
{
    write_config_mode(dir, agents, waldir, recdir, "sync", path, size);
}

static const char echo_agents[] =
    "[{\"name\":\"echo-a\",\"builtin\":\"echo\",\"intents\":[\"w.echo\"]}]";

/* Issue 13.3: execution.started does not fit, so the execution is refused
 * and leaves no log; its record (of the refusal) then verifies. */
static void
test_refused_leaves_no_wal(void **state)
{
    char *dir = tu_mkdtemp(), waldir[PATH_MAX], recdir[PATH_MAX], cfg[PATH_MAX];
    struct tu_run r;

    (void)state;
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    snprintf(recdir, sizeof(recdir), "%s/rec", dir);
    assert_int_equal(mkdir(waldir, 0700), 0);
    if (!full_tmpfs(waldir, "64k", 0))
        skip_without_mounts(dir);
    write_config(dir, echo_agents, waldir, recdir, cfg, sizeof(cfg));
    assert_int_equal(tu_run((char *const[]){ (char *)tu_bin(), "route", "w.echo", "-c", cfg, NULL },
                            dir, NULL, NULL, 20000, &r),
                     0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "write-ahead log unavailable, execution not started"));
    assert_non_null(strstr(r.out, "No space left on device"));
    tu_run_free(&r);
    assert_int_equal(tu_count_files(waldir, ".wal"), 0); /* was: an empty .wal */
    assert_int_equal(tu_count_files(recdir, ".json"), 1);
    assert_int_equal(tu_run((char *const[]){ (char *)tu_bin(), "records", "verify", "--dir", recdir,
                                             "--wal-dir", waldir, NULL },
                            dir, NULL, NULL, 20000, &r),
                     0);
    if (r.status != 0)
        fail_msg("records verify: %s%s", r.out, r.err);
    tu_run_free(&r);
    assert_int_equal(umount(waldir), 0);
    tu_rmtree(dir);
    free(dir);
}

/* Issue 13.5: the records' disk is full, the WAL is elsewhere. The route
 * says NOT recorded (exit 1), the WAL does not say completed, and the scan
 * lists the execution as having no record. */
/* The record cannot be written (a full filesystem): the WAL ends
 * execution.failed with record_written false, and recovery lists it. With
 * an async writer the router waits for the record's fate before the WAL's
 * last entry, so the same holds. */
static void
record_write_failure_listed(const char *mode)
{
    char *dir = tu_mkdtemp(), waldir[PATH_MAX], recdir[PATH_MAX], cfg[PATH_MAX];
    struct intentus_err err = { 0 };
    struct tu_run r;
    struct wal_log log;
    char **ids;
    size_t n;
    cJSON *scan;
    const cJSON *item;

    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    snprintf(recdir, sizeof(recdir), "%s/rec", dir);
    assert_int_equal(mkdir(recdir, 0700), 0);
    if (!full_tmpfs(recdir, "64k", 0))
        skip_without_mounts(dir);
    write_config_mode(dir, echo_agents, waldir, recdir, mode, cfg, sizeof(cfg));
    assert_int_equal(tu_run((char *const[]){ (char *)tu_bin(), "route", "w.echo", "-c", cfg, NULL },
                            dir, NULL, NULL, 20000, &r),
                     0);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "NOT recorded"));
    tu_run_free(&r);
    assert_int_equal(wal_list(waldir, &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(wal_read(waldir, ids[0], &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_string_equal(
        json_get_string(cJSON_GetArrayItem(log.entries, (int)log.n_entries - 1), "entry_type"),
        "execution.failed");
    wal_log_free(&log);
    assert_int_equal(
        tu_run((char *const[]){ (char *)tu_bin(), "recovery", "scan", "--json", "-c", cfg, NULL },
               dir, NULL, NULL, 20000, &r),
        0);
    assert_int_equal(r.status, 0);
    scan = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(scan);
    assert_int_equal(json_get_int64(scan, "count", &(long long){ 0 }), 0);
    item = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(scan, "incomplete_executions"), 0);
    if (item == NULL)
        fail_msg("recovery scan lists nothing: %s", r.out); /* the old behaviour */
    assert_string_equal(json_get_string(item, "execution_id"), ids[0]);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "record_missing")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(item, "can_resume")));
    assert_non_null(strstr(json_get_string(item, "reason"), "No space left on device"));
    cJSON_Delete(scan);
    tu_run_free(&r);
    wal_list_free(ids, n);
    assert_int_equal(umount(recdir), 0);
    tu_rmtree(dir);
    free(dir);
}

static void
test_record_write_failure_listed(void **state)
{
    (void)state;
    record_write_failure_listed("sync");
}

static void
test_async_record_write_failure_listed(void **state)
{
    (void)state;
    record_write_failure_listed("async");
}

/* Issue 13.6: the WAL's disk has one page left; 20 irreversible exec
 * agents under BROADCAST, each appending a line to a file when it runs.
 * The appends fail after a few steps: from then on no agent runs, the
 * execution ends with an error naming the WAL, exit 1, and every side
 * effect has its step.started in the log, which stays whole. */
static void
test_wal_append_failure_stops_execution(void **state)
{
    char *dir = tu_mkdtemp(), waldir[PATH_MAX], recdir[PATH_MAX], cfg[PATH_MAX], side[PATH_MAX];
    struct intentus_err err = { 0 };
    struct buf agents = BUF_INIT;
    struct tu_run r;
    struct wal_log log;
    char **ids, *text;
    size_t n, len, effects = 0, started = 0;
    const cJSON *e;

    (void)state;
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    snprintf(recdir, sizeof(recdir), "%s/rec", dir);
    snprintf(side, sizeof(side), "%s/side-effects", dir);
    assert_int_equal(mkdir(waldir, 0700), 0);
    if (!full_tmpfs(waldir, "64k", 4096))
        skip_without_mounts(dir);
    assert_int_equal(buf_putc(&agents, '['), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(
            buf_printf(&agents,
                       "%s{\"name\":\"irr-%02d\",\"kind\":\"exec\",\"intents\":[\"w.irr\"],"
                       "\"side_effect\":\"irreversible\",\"argv\":[\"sh\",\"-c\","
                       "\"cat >/dev/null; echo %02d >> %s; "
                       "echo '{\\\"status\\\":\\\"success\\\",\\\"payload\\\":{},"
                       "\\\"metadata\\\":{}}'\"]}",
                       i ? "," : "", i, i, side),
            0);
    assert_int_equal(buf_putc(&agents, ']'), 0);
    assert_int_equal(buf_putc(&agents, '\0'), 0);
    write_config(dir, agents.data, waldir, recdir, cfg, sizeof(cfg));
    buf_free(&agents);
    assert_int_equal(tu_run((char *const[]){ (char *)tu_bin(), "route", "w.irr", "-s", "broadcast",
                                             "-c", cfg, NULL },
                            dir, NULL, NULL, 60000, &r),
                     0);
    text = tu_read_file(side, &len);
    for (size_t i = 0; text != NULL && i < len; i++)
        effects += text[i] == '\n';
    free(text);
    if (r.status != 1 || effects >= 20)
        fail_msg("exit %d with %zu of 20 side effects; stderr: %s", r.status, effects, r.err);
    assert_non_null(strstr(r.out, "write-ahead log write failed, no further step started"));
    assert_non_null(strstr(r.out, waldir));
    assert_non_null(strstr(r.err, "write-ahead log"));
    tu_run_free(&r);
    /* Every side effect that happened was logged first; nothing torn. */
    assert_int_equal(wal_list(waldir, &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(wal_read(waldir, ids[0], &log, &err), 0);
    if (log.status != WAL_OK)
        fail_msg("WAL %s: %s", wal_check_name(log.status), log.problem);
    cJSON_ArrayForEach(e, log.entries)
    {
        started += strcmp(json_get_string(e, "entry_type"), "step.started") == 0;
    }
    assert_true(effects > 0);
    assert_int_equal(effects, started);
    print_message("# WAL full after %zu entries: %zu of 20 agents ran, each logged first\n",
                  log.n_entries, effects);
    wal_log_free(&log);
    wal_list_free(ids, n);
    assert_int_equal(umount(waldir), 0);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_leaves_no_wal),
        cmocka_unit_test(test_record_write_failure_listed),
        cmocka_unit_test(test_async_record_write_failure_listed),
        cmocka_unit_test(test_wal_append_failure_stops_execution),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
