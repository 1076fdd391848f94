/* The record writer (core/writer.c): each record's fate reaches whoever
 * submitted it, and no record file larger than REC_STORE_MAX_FILE is ever
 * written. A directory deleted under an open writer makes every write fail
 * with ENOENT, so failures are tested without root. */
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
#include <unistd.h>

#include <cmocka.h>

#include "core/crypt.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/runtime.h"
#include "core/writer.h"
#include "tests/support/testutil.h"

/* A small finished record. */
static cJSON *
make_record(const char *payload_json)
{
    struct intentus_err err = { 0 };
    struct envelope_opts o = { .priority = PRIORITY_NORMAL, .strategy = STRATEGY_DIRECT };
    cJSON *payload = json_parse(payload_json, strlen(payload_json), 0, &err);
    cJSON *env, *resp, *rec;
    struct recorder *r;

    assert_non_null(payload);
    env = envelope_new("w.echo", payload, &o, &err);
    assert_non_null(env);
    r = recorder_new(env, &err);
    assert_non_null(r);
    resp = response_success(cJSON_CreateObject(), "echo-a", "trace-1");
    assert_int_equal(recorder_final(r, resp), 0);
    rec = recorder_take(r);
    recorder_free(r);
    cJSON_Delete(resp);
    cJSON_Delete(env);
    return rec;
}

struct told {
    int calls;
    enum writer_fate_state state;
    struct intentus_err err;
};

static void
tell(void *ctx, struct writer_fate *f)
{
    struct told *t = ctx;

    t->calls++;
    t->state = writer_fate_get(f, &t->err);
}

static void
test_fate_written(void **state)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX];
    struct intentus_err err = { 0 };
    struct writer *w =
        writer_open(dir, &(struct writer_opts){ .mode = WRITER_ASYNC, .fsync = true }, &err);
    struct writer_fate *f = NULL;
    cJSON *rec = make_record("{\"k\":\"v\"}");
    struct told t = { 0 };
    struct writer_stats st;

    (void)state;
    assert_non_null(w);
    snprintf(path, sizeof(path), "%s/%s.json", dir, record_id(rec));
    assert_int_equal(writer_submit_tracked(w, rec, &f, &err), 0);
    assert_non_null(f);
    assert_int_equal(writer_fate_wait(f, &err), 0);
    assert_int_equal(writer_fate_get(f, NULL), WRITER_FATE_WRITTEN);
    assert_int_equal(access(path, F_OK), 0);
    writer_fate_notify(f, tell, &t); /* decided already: called at once */
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.state, WRITER_FATE_WRITTEN);
    writer_fate_release(f);
    writer_stats(w, &st);
    assert_int_equal(st.written, 1);
    assert_int_equal(st.errors, 0);
    writer_close(w);
    tu_rmtree(dir);
    free(dir);
}

/* The case without root: the writer cannot create anything, the
 * fate says so with the OS error, and a notify hook hears it. */
static void
test_fate_failed_reaches_the_submitter(void **state)
{
    char *dir = tu_mkdtemp(), recs[PATH_MAX];
    struct intentus_err err = { 0 };
    struct writer *w;
    struct writer_fate *f[3] = { NULL };
    struct told t = { 0 };
    struct writer_stats st;

    (void)state;
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    w = writer_open(recs, &(struct writer_opts){ .mode = WRITER_ASYNC }, &err);
    assert_non_null(w);
    tu_rmtree(recs);
    for (int i = 0; i < 3; i++)
        assert_int_equal(writer_submit_tracked(w, make_record("{}"), &f[i], &err), 0);
    writer_fate_notify(f[2], tell, &t);
    err_clear(&err);
    assert_int_equal(writer_fate_wait(f[0], &err), -1);
    assert_int_equal(err.code, IERR_IO);
    assert_non_null(strstr(err.msg, recs));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    writer_flush(w);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.state, WRITER_FATE_FAILED);
    assert_non_null(strstr(t.err.msg, "No such file or directory"));
    writer_stats(w, &st);
    assert_int_equal(st.written, 0);
    assert_int_equal(st.errors, 3);
    writer_close(w);
    for (int i = 0; i < 3; i++) { /* fates outlive the writer */
        assert_int_equal(writer_fate_get(f[i], NULL), WRITER_FATE_FAILED);
        writer_fate_release(f[i]);
    }
    tu_rmtree(dir);
    free(dir);
}

static const char cfg_async[] =
    "{\"recording\": {\"mode\": \"async\"},\n"
    " \"agents\": [{\"name\": \"echo-a\", \"kind\": \"builtin\", \"builtin\": \"echo\",\n"
    "              \"intents\": [\"w.echo\"]}]}\n";

static cJSON *
envelope(void)
{
    struct intentus_err err = { 0 };
    struct envelope_opts o = { .priority = PRIORITY_NORMAL, .strategy = STRATEGY_DIRECT };
    cJSON *env = envelope_new("w.echo", cJSON_CreateObject(), &o, &err);

    assert_non_null(env);
    return env;
}

/* runtime_route + route_result_settle, and runtime_submit's completions,
 * say "recorded" only for records on disk. */
static void
test_runtime_reports_async_write_failures(void **state)
{
    char *dir = tu_mkdtemp(), cfg[PATH_MAX], recs[PATH_MAX];
    struct intentus_err err = { 0 };
    struct route_result res = { 0 };
    struct completion done[8];
    struct runtime_stats st;
    struct runtime *rt;
    size_t got = 0;
    cJSON *env;

    (void)state;
    snprintf(cfg, sizeof(cfg), "%s/cfg.json", dir);
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    assert_int_equal(tu_write_file(cfg, cfg_async, strlen(cfg_async), 0600), 0);
    rt = runtime_open(cfg, &(struct runtime_opts){ .records_dir = recs, .workers = 2 }, &err);
    assert_non_null(rt);

    /* While the directory exists: written, and said so. */
    env = envelope();
    assert_int_equal(runtime_route(rt, env, &res), 0);
    route_result_settle(&res);
    assert_true(res.recorded);
    assert_null(res.record_fate);
    route_result_free(&res);
    cJSON_Delete(env);

    tu_rmtree(recs);
    env = envelope();
    assert_int_equal(runtime_route(rt, env, &res), 0);
    assert_false(response_is_error(res.response)); /* the execution itself succeeded */
    route_result_settle(&res);
    assert_false(res.recorded);
    assert_non_null(strstr(res.record_err.msg, "No such file or directory"));
    route_result_free(&res);
    cJSON_Delete(env);

    for (int i = 0; i < 4; i++)
        assert_int_equal(runtime_submit(rt, envelope(), (uint64_t)i, &err), 0);
    for (int spins = 0; got < 4 && spins < 1000; spins++) {
        got += runtime_collect(rt, done + got, 8 - got);
        if (got < 4)
            usleep(5000);
    }
    assert_int_equal(got, 4);
    for (size_t i = 0; i < got; i++) {
        assert_false(response_is_error(done[i].response));
        assert_false(done[i].recorded);
        assert_non_null(strstr(done[i].record_err.msg, "No such file or directory"));
        completion_free(&done[i]);
    }
    runtime_flush(rt);
    runtime_stats(rt, &st);
    assert_int_equal(st.recorded, 1);
    assert_int_equal(st.record_errors, 5);
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

/* A record over REC_STORE_MAX_FILE is refused before any file exists, by
 * the store (sync) and by the async writer, so every record intentus
 * writes is one its readers load. */
static void
test_record_over_the_file_limit_is_not_written(void **state)
{
    char *dir = tu_mkdtemp();
    size_t n = REC_STORE_MAX_FILE + 16;
    char *big = malloc(n + 1);
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    struct writer *w;
    struct writer_fate *f = NULL;
    cJSON *rec;

    (void)state;
    assert_non_null(big);
    memset(big, 'x', n);
    big[n] = '\0';
    rec = make_record("{}");
    cJSON_AddStringToObject(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "envelope"), "payload"),
                            "big", big);
    free(big);
    rs = rec_store_open(dir, NULL, &err);
    assert_non_null(rs);
    assert_int_equal(rec_store_save(rs, rec, &err), -1);
    assert_int_equal(err.code, IERR_LIMIT);
    assert_non_null(strstr(err.msg, "too large"));
    assert_non_null(strstr(err.msg, record_id(rec)));
    assert_int_equal(tu_count_files(dir, NULL), 0);
    rec_store_close(rs);

    w = writer_open(dir, &(struct writer_opts){ .mode = WRITER_ASYNC }, &err);
    assert_non_null(w);
    assert_int_equal(writer_submit_tracked(w, rec, &f, &err), 0);
    err_clear(&err);
    assert_int_equal(writer_fate_wait(f, &err), -1);
    assert_non_null(strstr(err.msg, "too large"));
    writer_fate_release(f);
    writer_close(w);
    assert_int_equal(tu_count_files(dir, NULL), 0);
    tu_rmtree(dir);
    free(dir);
}

/* The text path (writer_submit_text, rec_store_save_text): the bytes on
 * disk are exactly the text handed over, in both modes; fate may be NULL;
 * a bad id is refused with IERR_INVALID before anything is written. */
static void
test_submit_text_writes_the_text(void **state)
{
    static const char body[] = "{\n\t\"text\":\t\"exactly these bytes\"\n}";
    static const char *ids[2] = { "00000000-0000-7000-8000-00000000000a",
                                  "00000000-0000-7000-8000-00000000000b" };
    char *dir = tu_mkdtemp(), path[PATH_MAX];
    struct intentus_err err = { 0 };
    struct writer_fate *f = NULL;
    struct rec_store *rs;
    size_t len;

    (void)state;
    for (int m = 0; m < 2; m++) {
        struct writer *w = writer_open(
            dir, &(struct writer_opts){ .mode = m ? WRITER_ASYNC : WRITER_SYNC, .fsync = m == 1 },
            &err);
        char *got;
        assert_non_null(w);
        assert_int_equal(
            writer_submit_text(w, ids[m], strdup(body), strlen(body), m ? &f : NULL, &err), 0);
        if (m) {
            assert_non_null(f);
            assert_int_equal(writer_fate_wait(f, &err), 0);
            writer_fate_release(f);
        }
        snprintf(path, sizeof(path), "%s/%s.json", dir, ids[m]);
        got = tu_read_file(path, &len);
        assert_non_null(got);
        assert_int_equal(len, strlen(body));
        assert_memory_equal(got, body, len);
        free(got);
        /* Ownership is taken even when refused (ASan sees a leak otherwise). */
        err_clear(&err);
        f = (struct writer_fate *)&err; /* must be reset to NULL */
        assert_int_equal(writer_submit_text(w, "../escape", strdup(body), strlen(body), &f, &err),
                         -1);
        assert_null(f);
        assert_int_equal(err.code, IERR_INVALID);
        assert_non_null(strstr(err.msg, "../escape"));
        writer_close(w);
    }
    rs = rec_store_open(dir, NULL, &err);
    assert_non_null(rs);
    assert_int_equal(rec_store_save_text(rs, "ok-id", body, strlen(body), &err), 0);
    err_clear(&err);
    assert_int_equal(rec_store_save_text(rs, ".hidden", body, strlen(body), &err), -1);
    assert_int_equal(err.code, IERR_INVALID);
    rec_store_close(rs);
    assert_int_equal(tu_count_files(dir, ".json"), 3);
    tu_rmtree(dir);
    free(dir);
}

/* The size limit on the text path: refused, said why, nothing written. */
static void
test_submit_text_over_the_file_limit(void **state)
{
    char *dir = tu_mkdtemp();
    size_t n = REC_STORE_MAX_FILE + 1;
    char *big = malloc(n);
    struct intentus_err err = { 0 };
    struct writer_fate *f = NULL;
    struct rec_store *rs = rec_store_open(dir, NULL, &err);
    struct writer *w;

    (void)state;
    assert_non_null(big);
    memset(big, ' ', n);
    assert_int_equal(rec_store_save_text(rs, "big-1", big, n, &err), -1);
    assert_int_equal(err.code, IERR_LIMIT);
    assert_non_null(strstr(err.msg, "big-1"));
    rec_store_close(rs);
    w = writer_open(dir, &(struct writer_opts){ .mode = WRITER_ASYNC }, &err);
    assert_non_null(w);
    assert_int_equal(writer_submit_text(w, "big-2", big, n, &f, &err), 0);
    err_clear(&err);
    assert_int_equal(writer_fate_wait(f, &err), -1);
    assert_non_null(strstr(err.msg, "too large"));
    assert_non_null(strstr(err.msg, "big-2"));
    writer_fate_release(f);
    writer_close(w);
    assert_int_equal(tu_count_files(dir, NULL), 0);
    tu_rmtree(dir);
    free(dir);
}

/* recording.encryption with the async writer: every record it writes is
 * sealed (tree and text alike) and loads back with the key. The async
 * writer used to write plaintext. */
static void
test_async_writer_seals_records(void **state)
{
    static const char body[] = "{\"secret\": \"do not show\"}";
    char *dir = tu_mkdtemp(), ring[PATH_MAX], recs[PATH_MAX], path[PATH_MAX + 80],
         kid[CRYPT_ID_HEX];
    struct intentus_err err = { 0 };
    struct crypt_keyring *kr;
    struct writer *w;
    struct rec_store *rs;
    cJSON *rec = make_record("{\"k\":\"secret-value\"}"), *back;
    char id[64];
    size_t len;

    (void)state;
    snprintf(ring, sizeof(ring), "%s/ring", dir);
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    assert_int_equal(crypt_keyring_add(ring, kid, NULL, 0, &err), 0);
    kr = crypt_keyring_load(ring, &err);
    assert_non_null(kr);
    snprintf(id, sizeof(id), "%s", record_id(rec));
    w = writer_open(recs, &(struct writer_opts){ .mode = WRITER_ASYNC, .keys = kr }, &err);
    assert_non_null(w);
    assert_int_equal(writer_submit(w, rec, &err), 0);
    assert_int_equal(writer_submit_text(w, "text-1", strdup(body), strlen(body), NULL, &err), 0);
    writer_flush(w);
    writer_close(w);
    for (int i = 0; i < 2; i++) {
        char *got;
        snprintf(path, sizeof(path), "%s/%s.json", recs, i ? "text-1" : id);
        got = tu_read_file(path, &len);
        assert_non_null(got);
        assert_true(crypt_is_sealed(got, len));
        assert_null(memmem(got, len, "secret", 6));
        free(got);
    }
    rs = rec_store_open(recs, &(struct rec_store_opts){ .keys = kr }, &err);
    assert_non_null(rs);
    back = rec_store_load(rs, id, &err);
    assert_non_null(back);
    assert_string_equal(record_id(back), id);
    cJSON_Delete(back);
    rec_store_close(rs);
    crypt_keyring_free(kr);
    tu_rmtree(dir);
    free(dir);
}

/* Threads of this process, from /proc/self/task. */
static int
count_threads(void)
{
    return tu_count_files("/proc/self/task", NULL);
}

/* Several writer threads share one queue: every record written once, each
 * fate decided, the group count within the record count. */
static void
test_async_writer_threads(void **state)
{
    enum { N = 200 };
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct writer_fate *f[N];
    struct writer_stats st;
    int before = count_threads();
    struct writer *w = writer_open(
        dir, &(struct writer_opts){ .mode = WRITER_ASYNC, .threads = 3, .capacity = 16 }, &err);

    (void)state;
    assert_non_null(w);
    assert_int_equal(count_threads(), before + 3);
    for (int i = 0; i < N; i++)
        assert_int_equal(writer_submit_tracked(w, make_record("{}"), &f[i], &err), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(writer_fate_wait(f[i], &err), 0);
        writer_fate_release(f[i]);
    }
    writer_flush(w);
    writer_stats(w, &st);
    assert_int_equal(st.written, N);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.queued, 0);
    assert_true(st.batches >= 1 && st.batches <= N);
    writer_close(w);
    assert_int_equal(count_threads(), before);
    assert_int_equal(tu_count_files(dir, ".json"), N);
    tu_rmtree(dir);
    free(dir);
}

/* Group commit with fsync: records queued while the thread is busy go out
 * together, one directory fsync for many files (fewer groups than records),
 * and each fate is decided only after its group's fsync. */
static void
test_group_commit_batches(void **state)
{
    enum { N = 64 };
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct writer_fate *f[N];
    struct writer_stats st;
    struct writer *w = writer_open(
        dir,
        &(struct writer_opts){ .mode = WRITER_ASYNC, .fsync = true, .capacity = N, .threads = 1 },
        &err);

    (void)state;
    assert_non_null(w);
    for (int i = 0; i < N; i++)
        assert_int_equal(writer_submit_tracked(w, make_record("{}"), &f[i], &err), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(writer_fate_wait(f[i], &err), 0);
        writer_fate_release(f[i]);
    }
    writer_stats(w, &st);
    assert_int_equal(st.written, N);
    assert_true(st.batches < N);
    writer_close(w);
    assert_int_equal(tu_count_files(dir, ".json"), N);
    assert_int_equal(tu_count_files(dir, ".tmp"), 0);
    tu_rmtree(dir);
    free(dir);
}

/* Records queued while a thread is busy wait for it instead of waking the
 * other thread one record at a time: with one thread writing a 48 MB
 * record, 20 small records submitted 0.5 ms apart go out as one batch
 * (before, each submission woke the idle thread: a batch and a context
 * switch per record). An attempt where the big record was written before
 * the last small one was queued proves nothing and is taken again. */
static void
test_busy_thread_takes_what_queues(void **state)
{
    enum { N = 20, BIG = 48 * 1024 * 1024 };
    char *dir = tu_mkdtemp();
    int attempt, decisive = 0;

    (void)state;
    for (attempt = 0; attempt < 4 && !decisive; attempt++) {
        struct intentus_err err = { 0 };
        struct writer_fate *big = NULL, *f[N];
        struct writer_stats st0, st;
        struct writer *w =
            writer_open(dir, &(struct writer_opts){ .mode = WRITER_ASYNC, .threads = 2 }, &err);
        char *text = malloc(BIG), id[64];

        assert_non_null(w);
        assert_non_null(text);
        memset(text, ' ', BIG);
        memcpy(text, "{\"pad\":1}", 9);
        snprintf(id, sizeof(id), "00000000-0000-7000-8000-%012d", attempt);
        assert_int_equal(writer_submit_text(w, id, text, BIG, &big, &err), 0);
        /* Until a thread has taken it (the queue empty again). */
        for (int i = 0; i < 2000; i++) {
            writer_stats(w, &st0);
            if (st0.queued == 0)
                break;
            usleep(100);
        }
        writer_stats(w, &st0);
        for (int i = 0; i < N; i++) {
            char small[64];
            snprintf(small, sizeof(small), "00000000-0000-7000-8001-%06d%06d", attempt, i);
            assert_int_equal(writer_submit_text(w, small, strdup("{\"small\":1}"), 11, &f[i], &err),
                             0);
            usleep(500);
        }
        decisive = st0.queued == 0 && st0.batches == 0 &&
                   writer_fate_get(big, NULL) == WRITER_FATE_PENDING;
        for (int i = 0; i < N; i++) {
            assert_int_equal(writer_fate_wait(f[i], &err), 0);
            writer_fate_release(f[i]);
        }
        assert_int_equal(writer_fate_wait(big, &err), 0);
        writer_fate_release(big);
        writer_stats(w, &st);
        assert_int_equal(st.written, N + 1);
        if (decisive && st.batches > 3)
            fail_msg("%d records queued while a thread was busy went out in %llu batches", N,
                     (unsigned long long)st.batches - 1);
        writer_close(w);
    }
    tu_rmtree(dir);
    free(dir);
    if (!decisive)
        skip(); /* the big record never outlasted the submissions here */
}

/* Submits a BIG record with fsync and returns once the writer's one thread
 * has taken it, so what is submitted next queues up behind it as one
 * group. */
static struct writer_fate *
occupy(struct writer *w, const char *id, size_t big)
{
    struct intentus_err err = { 0 };
    struct writer_fate *f = NULL;
    struct writer_stats st;
    char *text = malloc(big);

    assert_non_null(text);
    memset(text, ' ', big);
    memcpy(text, "{\"pad\":1}", 9);
    assert_int_equal(writer_submit_text(w, id, text, big, &f, &err), 0);
    for (int i = 0; i < 2000; i++) {
        writer_stats(w, &st);
        if (st.queued == 0)
            break;
        usleep(100);
    }
    return f;
}

/* One file of a group commit that cannot be put in place (a directory
 * holds its name) fails that record alone: the others of the same group
 * are written, each under its final name, and nothing is left behind. */
static void
test_group_commit_failure_reaches_only_its_record(void **state)
{
    enum { N = 6, BAD = 2 };
    char *dir = tu_mkdtemp(), path[PATH_MAX], id[N][64];
    struct intentus_err err = { 0 };
    struct writer_fate *big, *f[N];
    struct writer_stats st;
    struct writer *w = writer_open(
        dir, &(struct writer_opts){ .mode = WRITER_ASYNC, .fsync = true, .threads = 1 }, &err);

    (void)state;
    assert_non_null(w);
    for (int i = 0; i < N; i++)
        snprintf(id[i], sizeof(id[i]), "00000000-0000-7000-8002-%012d", i);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id[BAD]);
    assert_int_equal(mkdir(path, 0700), 0);
    big = occupy(w, "00000000-0000-7000-8002-999999999999", 8 * 1024 * 1024);
    for (int i = 0; i < N; i++)
        assert_int_equal(writer_submit_text(w, id[i], strdup("{\"small\":1}"), 11, &f[i], &err), 0);
    assert_int_equal(writer_fate_wait(big, &err), 0);
    writer_fate_release(big);
    for (int i = 0; i < N; i++) {
        struct stat sb;
        struct intentus_err why = { 0 };
        int rc = writer_fate_wait(f[i], &why);
        writer_fate_release(f[i]);
        snprintf(path, sizeof(path), "%s/%s.json", dir, id[i]);
        assert_int_equal(stat(path, &sb), 0);
        if (i == BAD) {
            assert_int_equal(rc, -1);
            assert_int_equal(why.code, IERR_IO);
            assert_non_null(strstr(why.msg, id[BAD]));
            assert_true(S_ISDIR(sb.st_mode));
        } else {
            assert_int_equal(rc, 0);
            assert_true(S_ISREG(sb.st_mode));
            assert_int_equal(sb.st_size, 11);
        }
    }
    writer_stats(w, &st);
    assert_int_equal(st.written, N); /* the big one and N - 1 small ones */
    assert_int_equal(st.errors, 1);
    writer_close(w);
    assert_int_equal(tu_count_files(dir, ".tmp"), 0);
    tu_rmtree(dir);
    free(dir);
}

/* A group smaller than the thread's last waits a moment for company
 * (gather); writer_flush still waits for it: after the flush the record
 * is on disk and its fate decided. */
static void
test_flush_waits_for_a_gathering_group(void **state)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX], id[64];
    struct intentus_err err = { 0 };
    struct writer_fate *big, *f[4], *late = NULL;
    struct writer *w = writer_open(
        dir, &(struct writer_opts){ .mode = WRITER_ASYNC, .fsync = true, .threads = 1 }, &err);

    (void)state;
    assert_non_null(w);
    big = occupy(w, "00000000-0000-7000-8003-999999999999", 8 * 1024 * 1024);
    for (int i = 0; i < 4; i++) { /* one group of 4: the next group of 1 gathers */
        snprintf(id, sizeof(id), "00000000-0000-7000-8003-%012d", i);
        assert_int_equal(writer_submit_text(w, id, strdup("{}"), 2, &f[i], &err), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(writer_fate_wait(f[i], &err), 0);
        writer_fate_release(f[i]);
    }
    assert_int_equal(writer_fate_wait(big, &err), 0);
    writer_fate_release(big);
    snprintf(id, sizeof(id), "00000000-0000-7000-8003-%012d", 4);
    assert_int_equal(writer_submit_text(w, id, strdup("{}"), 2, &late, &err), 0);
    writer_flush(w);
    assert_int_equal(writer_fate_get(late, NULL), WRITER_FATE_WRITTEN);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    assert_int_equal(access(path, F_OK), 0);
    writer_fate_release(late);
    writer_close(w);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fate_written),
        cmocka_unit_test(test_fate_failed_reaches_the_submitter),
        cmocka_unit_test(test_runtime_reports_async_write_failures),
        cmocka_unit_test(test_record_over_the_file_limit_is_not_written),
        cmocka_unit_test(test_submit_text_writes_the_text),
        cmocka_unit_test(test_submit_text_over_the_file_limit),
        cmocka_unit_test(test_async_writer_seals_records),
        cmocka_unit_test(test_async_writer_threads),
        cmocka_unit_test(test_group_commit_batches),
        cmocka_unit_test(test_busy_thread_takes_what_queues),
        cmocka_unit_test(test_group_commit_failure_reaches_only_its_record),
        cmocka_unit_test(test_flush_waits_for_a_gathering_group),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
