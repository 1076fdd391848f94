/* End-to-end: intentus route with the WAL on, then wal verify|inspect and
 * recovery scan|resume|abort on the real binary, each in its own temporary
 * directory with no user configuration. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/wal.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 10000

static const char cfg[] =
    "{\"wal\": {\"enabled\": true, \"durability\": \"group\"},"
    " \"agents\": ["
    "  {\"name\":\"a\",\"builtin\":\"fail\",\"intents\":[\"t.x\"],\"nodePriority\":1},"
    "  {\"name\":\"b\",\"builtin\":\"echo\",\"intents\":[\"t.x\"],\"nodePriority\":2,"
    "   \"side_effect\":\"irreversible\"}]}";

/* Run intentus with args (NULL-terminated) in dir. */
static void
run(const char *dir, struct tu_run *r, ...)
{
    char *argv[32], home[PATH_MAX + 8], xdg[PATH_MAX + 20];
    char *const env[] = { home, xdg, "INTENTUS_CONFIG=", "INTENTUSNET_RECORDS_PATH=", NULL };
    va_list ap;
    int n = 0;

    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", dir);
    argv[n++] = (char *)tu_bin();
    va_start(ap, r);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 31;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, NULL, env, TIMEOUT_MS, r), 0);
}

static cJSON *
out_json(const struct tu_run *r)
{
    cJSON *v = json_parse(r->out, strlen(r->out), 0, NULL);

    if (v == NULL)
        fail_msg("not JSON: %s / %s", r->out, r->err);
    return v;
}

/* Route once; the execution id from the WAL directory. */
static void
route_one(const char *dir, char id[64])
{
    char path[PATH_MAX];
    struct tu_run r;
    FILE *p;

    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, cfg, strlen(cfg), 0600), 0);
    run(dir, &r, "route", "t.x", "--strategy", "fallback", "--quiet", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    snprintf(path, sizeof(path), "ls %s/.intentusnet/wal", dir);
    p = popen(path, "r");
    assert_non_null(p);
    assert_non_null(fgets(id, 64, p));
    pclose(p);
    id[strcspn(id, "\n")] = '\0';
    assert_true(strlen(id) > 4);
    id[strlen(id) - 4] = '\0'; /* ".wal" */
}

/* The crash the tests below build comes before the record was saved: the
 * record goes too (with it, recovery takes the execution as finished). */
static void
forget_record(const char *dir, const char *id)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, id);
    assert_int_equal(unlink(path), 0);
}

static void
test_route_then_verify_and_inspect(void **state)
{
    char *dir = tu_mkdtemp(), id[64];
    struct tu_run r;
    cJSON *j;

    (void)state;
    route_one(dir, id);
    run(dir, &r, "wal", "verify", id, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "WAL verified: 7 entries"));
    tu_run_free(&r);
    run(dir, &r, "wal", "inspect", id, "--json", NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_string_equal(json_get_string(j, "execution_id"), id);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "entries")), 7);
    assert_string_equal(json_get_string(j, "state"), "completed");
    cJSON_Delete(j);
    tu_run_free(&r);
    /* The record and the WAL agree. */
    run(dir, &r, "records", "show", id, NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "incomplete_executions")), 0);
    cJSON_Delete(j);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_torn_log_scan_and_abort(void **state)
{
    char *dir = tu_mkdtemp(), id[64], path[PATH_MAX], *text;
    struct tu_run r;
    const cJSON *it;
    cJSON *j;
    size_t len;

    (void)state;
    route_one(dir, id);
    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.wal", dir, id);
    text = tu_read_file(path, &len);
    /* Keep two entries and half of the third: a crash mid-write. */
    text[strchr(strchr(text, '\n') + 1, '\n') - text + 120] = '\0';
    tu_write_file(path, text, strlen(text), 0600);
    free(text);
    forget_record(dir, id);
    run(dir, &r, "wal", "verify", id, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "torn final line"));
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", "--json", NULL);
    j = out_json(&r);
    assert_int_equal(json_get_int64(j, "count", &(long long){ 0 }), 0);
    it = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "incomplete_executions"), 0);
    assert_non_null(it);
    assert_string_equal(json_get_string(it, "execution_id"), id);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "can_resume")));
    assert_string_equal(json_get_string(it, "wal_status"), "torn");
    cJSON_Delete(j);
    tu_run_free(&r);
    run(dir, &r, "recovery", "resume", id, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "torn final line"));
    tu_run_free(&r);
    run(dir, &r, "recovery", "abort", id, NULL);
    assert_int_equal(r.status, 2); /* --reason is required */
    tu_run_free(&r);
    run(dir, &r, "recovery", "abort", id, "--reason", "crash test", NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "aborted")));
    assert_string_equal(json_get_string(j, "reason"), "crash test");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "torn_bytes_removed"));
    cJSON_Delete(j);
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", id, "--json", NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "verified")));
    assert_string_equal(json_get_string(j, "state"), "aborted");
    cJSON_Delete(j);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_resume_safe_execution(void **state)
{
    char *dir = tu_mkdtemp(), id[64], path[PATH_MAX], *text;
    struct tu_run r;
    cJSON *j;

    (void)state;
    route_one(dir, id);
    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.wal", dir, id);
    text = tu_read_file(path, NULL);
    /* Entries 1-4 (started, step a started + failed, fallback): crash there. */
    {
        char *p = text;
        for (int i = 0; i < 4; i++)
            p = strchr(p, '\n') + 1;
        *p = '\0';
    }
    tu_write_file(path, text, strlen(text), 0600);
    free(text);
    forget_record(dir, id);
    run(dir, &r, "recovery", "resume", id, "--wal-dir", ".intentusnet/wal", NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "resumed")));
    assert_string_equal(json_get_string(j, "state"), "in_progress");
    cJSON_Delete(j);
    tu_run_free(&r);
    run(dir, &r, "wal", "inspect", id, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "recovery.started"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_help_and_usage(void **state)
{
    char *dir = tu_mkdtemp();
    struct tu_run r;

    (void)state;
    run(dir, &r, "wal", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "Usage: intentus wal"));
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", "--help", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "Usage: intentus recovery"));
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", "../etc", NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", "missing-id", NULL);
    assert_int_equal(r.status, 1);
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", NULL); /* no directory yet: nothing to do */
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "0 incomplete executions"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* Rewrite <wal_dir>/<id>.wal with the execution.started envelope_hash
 * replaced and every entry_hash and prev_hash recomputed, so the log still
 * verifies on its own and only the comparison with the record can tell. */
static void
tamper_envelope_hash(const char *wal_dir, const char *id)
{
    struct intentus_err err = { 0 };
    struct buf text = BUF_INIT;
    struct wal_log log;
    char path[PATH_MAX], hex[65], prev[65] = "";
    cJSON *e;

    assert_int_equal(wal_read(wal_dir, id, &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    cJSON_ArrayForEach(e, log.entries)
    {
        cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "payload");
        if (strcmp(json_get_string(e, "entry_type"), "execution.started") == 0)
            cJSON_ReplaceItemInObjectCaseSensitive(
                p, "envelope_hash",
                cJSON_CreateString("00000000000000000000000000000000"
                                   "00000000000000000000000000000000"));
        if (prev[0] != '\0')
            cJSON_ReplaceItemInObjectCaseSensitive(e, "prev_hash", cJSON_CreateString(prev));
        assert_int_equal(wal_entry_hash(e, hex, &err), 0);
        cJSON_ReplaceItemInObjectCaseSensitive(e, "entry_hash", cJSON_CreateString(hex));
        memcpy(prev, hex, sizeof(prev));
        assert_int_equal(json_print_spaced(e, &text), 0);
        assert_int_equal(buf_putc(&text, '\n'), 0);
    }
    assert_int_equal(wal_path(wal_dir, id, ".wal", path, sizeof(path)), 0);
    assert_int_equal(tu_write_file(path, text.data, text.len, 0600), 0);
    buf_free(&text);
    wal_log_free(&log);
}

static void
test_records_verify_checks_the_wal(void **state)
{
    static const char wal_cfg[] =
        "{\"wal\": {\"enabled\": true, \"dir\": \"wal-here\"},"
        " \"agents\": [{\"name\":\"b\",\"builtin\":\"echo\",\"intents\":[\"t.x\"]}]}";
    char *dir = tu_mkdtemp(), path[PATH_MAX], id[64], line[128], *text;
    struct tu_run r;
    const char *p;

    (void)state;
    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, wal_cfg, strlen(wal_cfg), 0600), 0);
    run(dir, &r, "route", "t.x", NULL);
    assert_int_equal(r.status, 0);
    p = strstr(r.err, "execution ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s", id), 1);
    tu_run_free(&r);
    /* Record and WAL agree; verbose output says the WAL was checked. */
    run(dir, &r, "records", "verify", id, "-v", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "(record and WAL agree)"));
    assert_non_null(strstr(r.out, "1 passed, 0 failed"));
    tu_run_free(&r);

    /* The WAL's envelope_hash no longer matches the record's header. */
    snprintf(path, sizeof(path), "%s/wal-here", dir);
    tamper_envelope_hash(path, id);
    run(dir, &r, "wal", "verify", id, NULL); /* the log itself still verifies */
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    run(dir, &r, "records", "verify", id, NULL);
    assert_int_equal(r.status, 1);
    snprintf(line, sizeof(line), "FAIL %s: envelope_hash_mismatch: ", id);
    if (strstr(r.out, line) == NULL)
        fail_msg("no '%s' in: %s", line, r.out);
    assert_non_null(strstr(r.out, "0 passed, 1 failed"));
    tu_run_free(&r);
    run(dir, &r, "records", "verify", NULL); /* every record: the same */
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "envelope_hash_mismatch"));
    tu_run_free(&r);

    /* Without a WAL for the id: as before, "no WAL" only when verbose. */
    run(dir, &r, "records", "verify", id, "--wal-dir", "elsewhere", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "1 passed, 0 failed\n");
    tu_run_free(&r);
    run(dir, &r, "records", "verify", id, "--wal-dir", "elsewhere", "--verbose", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "(no WAL)"));
    tu_run_free(&r);

    /* A log edited without re-hashing is reported as corrupt. */
    snprintf(path, sizeof(path), "%s/wal-here/%s.wal", dir, id);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    text[strstr(text, "\"execution.started\"") - text + 1] = 'X';
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    free(text);
    run(dir, &r, "records", "verify", id, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "wal_corrupted"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* Route n times (n <= 8); ids[] in order of creation (UUIDv7 sorts by time). */
static void
route_n(const char *dir, int n, char ids[][64])
{
    char path[PATH_MAX];
    struct tu_run r;
    FILE *p;

    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, cfg, strlen(cfg), 0600), 0);
    for (int i = 0; i < n; i++) {
        run(dir, &r, "route", "t.x", "--strategy", "fallback", "--quiet", NULL);
        assert_int_equal(r.status, 0);
        tu_run_free(&r);
    }
    snprintf(path, sizeof(path), "ls %s/.intentusnet/wal | sort", dir);
    p = popen(path, "r");
    assert_non_null(p);
    for (int i = 0; i < n; i++) {
        assert_non_null(fgets(ids[i], 64, p));
        ids[i][strcspn(ids[i], "\n")] = '\0';
        assert_true(strlen(ids[i]) > 4);
        ids[i][strlen(ids[i]) - 4] = '\0'; /* ".wal" */
    }
    pclose(p);
}

/* A number in a JSON object; a missing key fails the test. */
static int
num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);

    if (!cJSON_IsNumber(v))
        fail_msg("no number \"%s\" in the output", key);
    return (int)v->valuedouble;
}

static bool
exists(const char *dir, const char *sub, const char *id, const char *suffix)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s/%s%s", dir, sub, id, suffix);
    return access(path, F_OK) == 0;
}

/* Keep the first `lines` whole lines of a WAL (a crash after them), or cut
 * the next line in half too (torn). */
static void
cut_wal(const char *dir, const char *id, int lines, bool torn)
{
    char path[PATH_MAX], *text, *p;

    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.wal", dir, id);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    p = text;
    for (int i = 0; i < lines; i++)
        p = strchr(p, '\n') + 1;
    p[torn ? 30 : 0] = '\0';
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    free(text);
}

static void
rm_record(const char *dir, const char *id)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, id);
    assert_int_equal(unlink(path), 0);
}

/* wal gc: only finished executions whose record is gone, with their stale
 * lock; unfinished, torn and recorded ones stay. */
static void
test_wal_gc(void **state)
{
    char *dir = tu_mkdtemp(), ids[4][64], path[PATH_MAX];
    static const char stale[] = "{\"execution_id\": \"x\", \"pid\": 999999999, "
                                "\"hostname\": \"h\", \"acquired_at\": 1}";
    struct tu_run r;
    cJSON *j;

    (void)state;
    route_n(dir, 4, ids);
    rm_record(dir, ids[0]); /* finished, record gone: goes */
    rm_record(dir, ids[1]); /* unfinished: stays */
    cut_wal(dir, ids[1], 2, false);
    rm_record(dir, ids[2]); /* torn: stays, reported */
    cut_wal(dir, ids[2], 3, true);
    /* ids[3]: finished, record present: stays */
    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.lock", dir, ids[0]);
    assert_int_equal(tu_write_file(path, stale, strlen(stale), 0600), 0);

    run(dir, &r, "wal", "gc", "--dry-run", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "dryRun")));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "would_remove")), 1);
    assert_string_equal(
        json_get_string(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "would_remove"), 0),
                        "execution_id"),
        ids[0]);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "kept")), 2);
    assert_int_equal(num(j, "damaged_count"), 1);
    cJSON_Delete(j);
    tu_run_free(&r);
    assert_true(exists(dir, ".intentusnet/wal", ids[0], ".wal"));

    /* Not on a terminal and no --yes: refused, nothing removed. */
    run(dir, &r, "wal", "gc", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--yes"));
    tu_run_free(&r);
    assert_true(exists(dir, ".intentusnet/wal", ids[0], ".wal"));

    run(dir, &r, "wal", "gc", "--yes", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "removed 1 WAL files"));
    assert_non_null(strstr(r.out, "and 1 stale locks"));
    assert_non_null(strstr(r.out, "torn final line")); /* the torn one is reported */
    tu_run_free(&r);
    assert_false(exists(dir, ".intentusnet/wal", ids[0], ".wal"));
    assert_false(exists(dir, ".intentusnet/wal", ids[0], ".lock"));
    for (int i = 1; i < 4; i++)
        assert_true(exists(dir, ".intentusnet/wal", ids[i], ".wal"));
    /* The unfinished one is still what recovery sees. */
    run(dir, &r, "recovery", "scan", "--json", NULL);
    j = out_json(&r);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "incomplete_executions")), 2);
    cJSON_Delete(j);
    tu_run_free(&r);

    /* A records directory that does not exist would make every record look gone. */
    run(dir, &r, "wal", "gc", "--yes", "--dir", "no-such-dir", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no-such-dir"));
    tu_run_free(&r);
    for (int i = 1; i < 4; i++)
        assert_true(exists(dir, ".intentusnet/wal", ids[i], ".wal"));
    /* verify's options are not gc's, and the other way round. */
    run(dir, &r, "wal", "gc", "--reason", "x", NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", ids[3], "--dry-run", NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* records gc removes (or archives) a removed record's WAL with it, in the
 * dry run too, and keeps the WAL of an unfinished execution. */
static void
test_records_gc_takes_the_wal(void **state)
{
    char *dir = tu_mkdtemp(), ids[5][64], path[PATH_MAX], *orig, buf[65536];
    struct tu_run r;
    cJSON *j;
    gzFile gz;
    int got;

    (void)state;
    route_n(dir, 5, ids);
    cut_wal(dir, ids[1], 2, false); /* ids[1]'s execution looks unfinished */

    run(dir, &r, "records", "gc", "--max-count", "3", "--dry-run", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_int_equal(num(j, "would_delete_count"), 2);
    assert_int_equal(num(j, "would_remove_wal_count"), 1);
    assert_int_equal(num(j, "walKept"), 1);
    cJSON_Delete(j);
    tu_run_free(&r);
    assert_true(exists(dir, ".intentusnet/wal", ids[0], ".wal"));

    run(dir, &r, "records", "gc", "--max-count", "3", "--yes", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "and 1 WAL files"));
    tu_run_free(&r);
    assert_false(exists(dir, ".intentusnet/records", ids[0], ".json"));
    assert_false(exists(dir, ".intentusnet/wal", ids[0], ".wal"));
    assert_false(exists(dir, ".intentusnet/records", ids[1], ".json"));
    assert_true(exists(dir, ".intentusnet/wal", ids[1], ".wal")); /* unfinished: kept */
    for (int i = 2; i < 5; i++)
        assert_true(exists(dir, ".intentusnet/wal", ids[i], ".wal"));

    /* Archive: the WAL goes gzipped beside the record, byte for byte. */
    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.wal", dir, ids[2]);
    orig = tu_read_file(path, NULL);
    assert_non_null(orig);
    run(dir, &r, "records", "gc", "--max-count", "2", "--archive", "arch", "--yes", "--wal-dir",
        ".intentusnet/wal", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_int_equal(num(j, "removed_wal_count"), 1);
    cJSON_Delete(j);
    tu_run_free(&r);
    assert_false(exists(dir, ".intentusnet/wal", ids[2], ".wal"));
    assert_true(exists(dir, "arch", ids[2], ".json.gz"));
    snprintf(path, sizeof(path), "%s/arch/%s.wal.gz", dir, ids[2]);
    gz = gzopen(path, "rb");
    assert_non_null(gz);
    got = gzread(gz, buf, sizeof(buf) - 1);
    gzclose(gz);
    assert_true(got > 0);
    buf[got] = '\0';
    assert_string_equal(buf, orig);
    free(orig);
    tu_rmtree(dir);
    free(dir);
}

/* Issue 13.7 on the command line: killed after the record was saved and
 * before execution.completed. scan says the record exists, resume refuses,
 * close settles the log from the record. */
static void
test_record_exists_then_close(void **state)
{
    char *dir = tu_mkdtemp(), id[64], path[PATH_MAX], *text, *last;
    struct tu_run r;
    const cJSON *it;
    cJSON *j;
    size_t len;

    (void)state;
    route_one(dir, id);
    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.wal", dir, id);
    text = tu_read_file(path, &len);
    text[len - 1] = '\0';
    last = strrchr(text, '\n');
    assert_non_null(strstr(last, "execution.completed"));
    last[1] = '\0';
    tu_write_file(path, text, strlen(text), 0600);
    free(text);
    run(dir, &r, "recovery", "scan", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "RECORD"));
    assert_non_null(strstr(r.out, "Record exists (success)"));
    assert_non_null(strstr(r.out, "1 incomplete execution\n"));
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", "--json", NULL);
    j = out_json(&r);
    it = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "incomplete_executions"), 0);
    assert_non_null(it);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "record_exists")));
    assert_string_equal(json_get_string(it, "record_outcome"), "success");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(it, "can_resume")));
    cJSON_Delete(j);
    tu_run_free(&r);
    /* Without the records (another directory) it would look resumable. */
    run(dir, &r, "recovery", "scan", "--json", "--dir", "no-records-here", NULL);
    j = out_json(&r);
    it = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "incomplete_executions"), 0);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "can_resume")));
    cJSON_Delete(j);
    tu_run_free(&r);
    run(dir, &r, "recovery", "resume", id, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "Record exists"));
    tu_run_free(&r);
    run(dir, &r, "recovery", "close", id, NULL);
    assert_int_equal(r.status, 0);
    j = out_json(&r);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "closed")));
    assert_string_equal(json_get_string(j, "state"), "completed");
    cJSON_Delete(j);
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", NULL);
    assert_non_null(strstr(r.out, "0 incomplete executions"));
    tu_run_free(&r);
    run(dir, &r, "records", "verify", id, NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    run(dir, &r, "recovery", "close", id, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "cannot close"));
    tu_run_free(&r);
    /* --dir belongs to scan, resume and close only. */
    run(dir, &r, "recovery", "abort", id, "--reason", "x", "--dir", "d", NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", id, "--dir", "d", NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* Issue 13.11: a redacted record with a WAL verifies (the WAL holds the
 * hash of the envelope as it ran: the record's originalEnvelopeHash). */
static void
test_redacted_record_verifies(void **state)
{
    static const char red_cfg[] =
        "{\"wal\": {\"enabled\": true},"
        " \"redaction\": {\"enabled\": true, \"keys\": [\"secret\"]},"
        " \"agents\": [{\"name\":\"b\",\"builtin\":\"echo\",\"intents\":[\"t.x\"]}]}";
    char *dir = tu_mkdtemp(), path[PATH_MAX], id[64];
    struct tu_run r;
    const char *p;

    (void)state;
    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, red_cfg, strlen(red_cfg), 0600), 0);
    run(dir, &r, "route", "t.x", "--payload", "{\"secret\":\"hunter2\"}", NULL);
    assert_int_equal(r.status, 0);
    p = strstr(r.err, "execution ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s", id), 1);
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, id);
    {
        char *text = tu_read_file(path, NULL);
        assert_non_null(text);
        assert_null(strstr(text, "hunter2"));
        assert_non_null(strstr(text, "originalEnvelopeHash"));
        free(text);
    }
    run(dir, &r, "records", "verify", id, "-v", NULL);
    if (r.status != 0)
        fail_msg("records verify: %s", r.out);
    assert_non_null(strstr(r.out, "(record and WAL agree)"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* Each AGENT_ATTEMPT_END of a logged execution names its WAL step_id, which
 * the reference's ConsistencyChecker pairs with step.completed: every
 * completed step of the WAL is an ok attempt of the record with that id. */
static void
test_attempts_carry_the_wal_step_id(void **state)
{
    char *dir = tu_mkdtemp(), id[64], path[PATH_MAX], *text;
    const cJSON *ev, *e;
    struct wal_log log;
    struct intentus_err err = { 0 };
    cJSON *rec;
    int completed = 0;

    (void)state;
    route_one(dir, id);
    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, id);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    rec = cJSON_Parse(text);
    free(text);
    assert_non_null(rec);
    snprintf(path, sizeof(path), "%s/.intentusnet/wal", dir);
    assert_int_equal(wal_read(path, id, &log, &err), 0);
    cJSON_ArrayForEach(e, log.entries)
    {
        const char *step =
            json_get_string(cJSON_GetObjectItemCaseSensitive(e, "payload"), "step_id");
        bool found = false;
        if (strcmp(json_get_string(e, "entry_type"), "step.completed") != 0)
            continue;
        completed++;
        cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(rec, "events"))
        {
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(ev, "payload");
            const char *sid = json_get_string(p, "step_id"), *st = json_get_string(p, "status");
            found |= strcmp(json_get_string(ev, "type"), "AGENT_ATTEMPT_END") == 0 && sid != NULL &&
                     strcmp(sid, step) == 0 && st != NULL && strcmp(st, "ok") == 0;
        }
        if (!found)
            fail_msg("WAL step %s has no ok AGENT_ATTEMPT_END with its step_id", step);
    }
    assert_true(completed > 0);
    wal_log_free(&log);
    cJSON_Delete(rec);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_then_verify_and_inspect),
        cmocka_unit_test(test_torn_log_scan_and_abort),
        cmocka_unit_test(test_resume_safe_execution),
        cmocka_unit_test(test_help_and_usage),
        cmocka_unit_test(test_records_verify_checks_the_wal),
        cmocka_unit_test(test_wal_gc),
        cmocka_unit_test(test_records_gc_takes_the_wal),
        cmocka_unit_test(test_record_exists_then_close),
        cmocka_unit_test(test_redacted_record_verifies),
        cmocka_unit_test(test_attempts_carry_the_wal_step_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
