/* The WAL: the reference's §6.2 hash vector, the exact line format, chain
 * verification (tampering, a foreign line), torn final lines reported as
 * such, the state machine (§10 scenario 12), each durability setting with
 * several threads, and the router's entries for an execution. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/recovery.h"
#include "core/router.h"
#include "core/wal.h"
#include "core/wal_state.h"
#include "tests/support/testutil.h"

static cJSON *
obj(const char *json)
{
    cJSON *v = json_parse(json, strlen(json), 0, NULL);

    assert_non_null(v);
    return v;
}

static char *
wal_text(const char *dir, const char *id)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s.wal", dir, id);
    return tu_read_file(path, NULL);
}

static void
put_wal(const char *dir, const char *id, const char *text)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s.wal", dir, id);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
}

/* A log of n entries: started, then steps. */
static void
write_log(const char *dir, const char *id, int n, enum wal_durability d)
{
    struct intentus_err err = { 0 };
    struct wal *w = wal_open(dir, &(struct wal_opts){ .durability = d }, &err);
    struct wal_file *f;

    assert_non_null(w);
    f = wal_file_create(w, id, &err);
    assert_non_null(f);
    assert_int_equal(wal_append(f, "execution.started",
                                obj("{\"execution_id\":\"x\",\"envelope_hash\":\"h\","
                                    "\"intent_name\":\"t.héllo\"}"),
                                true, &err),
                     0);
    for (int i = 2; i <= n; i++) {
        char p[128];
        snprintf(p, sizeof(p),
                 "{\"step_id\":\"step-%d\",\"agent_name\":\"a\","
                 "\"side_effect\":\"read_only\",\"contracts\":[],\"input_hash\":\"i\"}",
                 i);
        assert_int_equal(wal_append(f, "step.started", obj(p), false, &err), 0);
    }
    wal_file_close(f);
    wal_close(w);
}

/* §6.2: the reference's entry-hash vector. */
static void
test_entry_hash_vector(void **state)
{
    cJSON *e = obj("{\"seq\": 1, \"execution_id\": \"exec-1\", \"timestamp_iso\": "
                   "\"2026-01-01T00:00:00+00:00\", \"entry_type\": \"execution.started\", "
                   "\"payload\": {\"execution_id\": \"exec-1\", \"envelope_hash\": "
                   "\"98375dbc0747e365da0299b00174a7744202ee71f729423712263e0b3f7612b1\", "
                   "\"intent_name\": \"demo.echo\"}, \"prev_hash\": null, \"entry_hash\": "
                   "\"ignored\", \"version\": \"1.0\"}");
    char hex[65];

    (void)state;
    assert_int_equal(wal_entry_hash(e, hex, NULL), 0);
    assert_string_equal(hex, "f97d253a15a7be5bb08c50eb7fd2c23ff51273d0483ebb1f55e0ecd9d7325a8b");
    cJSON_Delete(e);
}

/* §6.1: json.dumps default separators, key order, raw UTF-8, newline. */
static void
test_line_format(void **state)
{
    char *dir = tu_mkdtemp(), *text, *nl;
    const char *prefix = "{\"seq\": 1, \"execution_id\": \"e-1\", \"timestamp_iso\": \"";

    (void)state;
    write_log(dir, "e-1", 2, WAL_PER_ENTRY);
    text = wal_text(dir, "e-1");
    assert_non_null(text);
    assert_memory_equal(text, prefix, strlen(prefix));
    nl = strchr(text, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_non_null(strstr(text, "\", \"entry_type\": \"execution.started\", \"payload\": "
                                 "{\"execution_id\": \"x\", \"envelope_hash\": \"h\", "
                                 "\"intent_name\": \"t.héllo\"}, \"prev_hash\": null, "
                                 "\"entry_hash\": \""));
    assert_non_null(strstr(text, "\", \"version\": \"1.0\"}"));
    assert_string_equal(nl + strlen(nl + 1), "\n"); /* the file ends with its newline */
    assert_non_null(strstr(nl + 1, "\"step_id\": \"step-2\", \"agent_name\": \"a\""));
    assert_non_null(strstr(nl + 1, "\"contracts\": [], "));
    free(text);
    tu_rmtree(dir);
    free(dir);
}

static void
test_read_verifies_chain(void **state)
{
    char *dir = tu_mkdtemp();
    struct wal_log log;
    const char *prev = NULL;
    const cJSON *e;

    (void)state;
    write_log(dir, "e-2", 4, WAL_GROUP);
    assert_int_equal(wal_read(dir, "e-2", &log, NULL), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_int_equal(log.n_entries, 4);
    cJSON_ArrayForEach(e, log.entries)
    {
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(e, "prev_hash");
        if (prev == NULL)
            assert_true(cJSON_IsNull(ph));
        else
            assert_string_equal(ph->valuestring, prev);
        prev = json_get_string(e, "entry_hash");
    }
    wal_log_free(&log);
    assert_int_equal(wal_read(dir, "nope", &log, NULL), 0);
    assert_int_equal(log.status, WAL_MISSING);
    wal_log_free(&log);
    tu_rmtree(dir);
    free(dir);
}

/* Rewrite entry idx (0-based) of a log with f applied, optionally
 * re-hashing it (but never fixing the chain after it). */
static void
rewrite_entry(const char *dir, const char *id, int idx, const char *key, const char *value,
              bool rehash)
{
    struct wal_log log;
    struct buf b = BUF_INIT;
    cJSON *e;
    int i = 0;

    assert_int_equal(wal_read(dir, id, &log, NULL), 0);
    assert_int_equal(log.status, WAL_OK);
    cJSON_ArrayForEach(e, log.entries)
    {
        if (i++ == idx) {
            cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "payload");
            char hex[65];
            cJSON_ReplaceItemInObjectCaseSensitive(p, key, cJSON_CreateString(value));
            if (rehash) {
                assert_int_equal(wal_entry_hash(e, hex, NULL), 0);
                cJSON_ReplaceItemInObjectCaseSensitive(e, "entry_hash", cJSON_CreateString(hex));
            }
        }
        json_print_spaced(e, &b);
        buf_putc(&b, '\n');
    }
    put_wal(dir, id, b.data);
    buf_free(&b);
    wal_log_free(&log);
}

/* §10 scenario 11: a modified payload is detected, re-hashed or not. */
static void
test_tampering_detected(void **state)
{
    char *dir = tu_mkdtemp();
    struct wal_log log;

    (void)state;
    write_log(dir, "t-1", 3, WAL_NONE);
    rewrite_entry(dir, "t-1", 1, "agent_name", "mallory", false);
    assert_int_equal(wal_read(dir, "t-1", &log, NULL), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    assert_int_equal(log.bad_line, 2);
    assert_non_null(strstr(log.problem, "entry_hash does not match"));
    assert_int_equal(log.n_entries, 1); /* the verified prefix */
    wal_log_free(&log);

    write_log(dir, "t-2", 3, WAL_NONE);
    rewrite_entry(dir, "t-2", 1, "agent_name", "mallory", true);
    assert_int_equal(wal_read(dir, "t-2", &log, NULL), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    assert_int_equal(log.bad_line, 3); /* the next entry's prev_hash no longer matches */
    assert_non_null(strstr(log.problem, "prev_hash"));
    wal_log_free(&log);
    tu_rmtree(dir);
    free(dir);
}

/* §10 scenario 10: a foreign JSON line appended is an integrity error,
 * even a valid entry of another execution's log. */
static void
test_foreign_line_detected(void **state)
{
    char *dir = tu_mkdtemp(), *a, *b, *text;
    struct wal_log log;
    size_t la;

    (void)state;
    write_log(dir, "f-a", 2, WAL_PER_ENTRY);
    write_log(dir, "f-b", 3, WAL_PER_ENTRY);
    a = wal_text(dir, "f-a");
    b = wal_text(dir, "f-b");
    la = strlen(a);
    text = malloc(la + strlen(b) + 64);
    /* f-b's third line after f-a's two. */
    strcpy(text, a);
    strcat(text, strchr(strchr(b, '\n') + 1, '\n') + 1);
    put_wal(dir, "f-a", text);
    assert_int_equal(wal_read(dir, "f-a", &log, NULL), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    assert_int_equal(log.bad_line, 3);
    wal_log_free(&log);
    /* Any JSON line at all. */
    strcpy(text, a);
    strcat(text, "{\"hello\": \"world\"}\n");
    put_wal(dir, "f-a", text);
    assert_int_equal(wal_read(dir, "f-a", &log, NULL), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    assert_non_null(strstr(log.problem, "corrupted WAL entry"));
    wal_log_free(&log);
    free(a);
    free(b);
    free(text);
    tu_rmtree(dir);
    free(dir);
}

/* A torn last line is reported as torn, not as a broken chain, and never
 * accepted; a reopen refuses it unless asked to cut it off. */
static void
test_torn_final_line(void **state)
{
    char *dir = tu_mkdtemp(), *text;
    struct intentus_err err = { 0 };
    struct wal_log log;
    struct wal *w;
    struct wal_file *f;
    size_t cut, len;

    (void)state;
    write_log(dir, "torn", 3, WAL_PER_ENTRY);
    text = wal_text(dir, "torn");
    len = strlen(text);
    put_wal(dir, "torn", text); /* unchanged: ok */
    text[len - 30] = '\0';      /* the last entry lost its end */
    put_wal(dir, "torn", text);
    assert_int_equal(wal_read(dir, "torn", &log, NULL), 0);
    assert_int_equal(log.status, WAL_TORN);
    assert_int_equal(log.n_entries, 2);
    assert_non_null(strstr(log.problem, "torn final line"));
    assert_string_equal(wal_check_name(log.status), "torn");
    wal_log_free(&log);

    w = wal_open(dir, &(struct wal_opts){ .durability = WAL_PER_ENTRY }, &err);
    assert_null(wal_file_reopen(w, "torn", false, NULL, &err));
    assert_non_null(strstr(err.msg, "torn final line"));
    f = wal_file_reopen(w, "torn", true, &cut, &err);
    assert_non_null(f);
    assert_true(cut > 0);
    assert_int_equal(wal_append(f, "execution.aborted", obj("{\"reason\":\"torn\"}"), true, &err),
                     0);
    wal_file_close(f);
    wal_close(w);
    assert_int_equal(wal_read(dir, "torn", &log, NULL), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_int_equal(log.n_entries, 3);
    wal_log_free(&log);
    free(text);
    tu_rmtree(dir);
    free(dir);
}

/* §10 scenario 12. */
static void
test_state_machine(void **state)
{
    struct intentus_err err = { 0 };
    enum wal_state s = WAL_STATE_CREATED;
    cJSON *entries;

    (void)state;
    assert_int_equal(wal_state_transition(&s, WAL_STATE_STARTED, &err), 0);
    assert_int_equal(wal_state_transition(&s, WAL_STATE_IN_PROGRESS, &err), 0);
    assert_int_equal(wal_state_transition(&s, WAL_STATE_COMPLETED, &err), 0);
    assert_true(wal_state_is_terminal(s));
    s = WAL_STATE_STARTED;
    assert_int_equal(wal_state_transition(&s, WAL_STATE_COMPLETED, &err), -1);
    assert_string_equal(err.msg, "Illegal state transition: started \u2192 completed");
    assert_int_equal(s, WAL_STATE_STARTED);
    s = WAL_STATE_FAILED;
    assert_false(wal_state_is_terminal(s));
    assert_int_equal(wal_state_transition(&s, WAL_STATE_RECOVERING, &err), 0);
    assert_int_equal(wal_state_transition(&s, WAL_STATE_IN_PROGRESS, &err), 0);
    s = WAL_STATE_COMPLETED;
    assert_int_equal(wal_state_transition(&s, WAL_STATE_ABORTED, &err), -1);
    s = WAL_STATE_ABORTED;
    assert_int_equal(wal_state_transition(&s, WAL_STATE_IN_PROGRESS, &err), -1);
    entries = obj("[{\"entry_type\":\"execution.created\",\"payload\":{}},"
                  "{\"entry_type\":\"execution.started\",\"payload\":{}},"
                  "{\"entry_type\":\"execution.in_progress\",\"payload\":{}}]");
    assert_int_equal(wal_state_reconstruct(entries), WAL_STATE_IN_PROGRESS);
    cJSON_Delete(entries);
    entries = obj("[{\"entry_type\":\"execution.started\",\"payload\":{}},"
                  "{\"entry_type\":\"execution.state_transition\","
                  " \"payload\":{\"to_state\":\"failed\"}}]");
    assert_int_equal(wal_state_reconstruct(entries), WAL_STATE_FAILED);
    cJSON_Delete(entries);
}

/* The writer refuses entries the state machine forbids. */
static void
test_writer_refuses_illegal(void **state)
{
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct wal *w = wal_open(dir, NULL, &err);
    struct wal_file *f = wal_file_create(w, "ill", &err);

    (void)state;
    assert_int_equal(wal_append(f, "execution.completed", obj("{}"), false, &err), -1);
    assert_string_equal(err.msg, "Illegal state transition: unknown \u2192 completed");
    assert_int_equal(wal_append(f, "execution.started", obj("{}"), true, &err), 0);
    assert_int_equal(wal_append(f, "execution.started", obj("{}"), true, &err), -1);
    assert_int_equal(wal_append(f, "execution.aborted", obj("{\"reason\":\"x\"}"), true, &err), 0);
    assert_int_equal(wal_file_state(f), WAL_STATE_ABORTED);
    assert_int_equal(wal_append(f, "execution.completed", obj("{}"), false, &err), -1);
    assert_string_equal(err.msg, "Illegal state transition: aborted \u2192 completed");
    assert_int_equal(wal_append(f, "step.started", obj("{}"), false, &err), -1);
    wal_file_close(f);
    wal_close(w);
    tu_rmtree(dir);
    free(dir);
}

struct thread_arg {
    struct wal *w;
    int index;
};

static void *
writer_thread(void *p)
{
    struct thread_arg *a = p;
    struct intentus_err err = { 0 };

    for (int i = 0; i < 20; i++) {
        char id[64];
        struct wal_file *f;
        snprintf(id, sizeof(id), "th-%d-%d", a->index, i);
        f = wal_file_create(a->w, id, &err);
        if (f == NULL)
            return (void *)1;
        if (wal_append(f, "execution.started", cJSON_CreateObject(), true, &err) != 0 ||
            wal_append(f, "step.started", cJSON_CreateObject(), false, &err) != 0 ||
            wal_append(f, "execution.completed", cJSON_CreateObject(), false, &err) != 0) {
            wal_file_close(f);
            return (void *)1;
        }
        wal_file_close(f);
    }
    return NULL;
}

/* Every durability, four threads at once: every log whole and verified. */
static void
test_durabilities_threads(void **state)
{
    static const enum wal_durability all[] = { WAL_PER_ENTRY, WAL_GROUP, WAL_NONE };

    (void)state;
    for (size_t d = 0; d < 3; d++) {
        char *dir = tu_mkdtemp();
        struct intentus_err err = { 0 };
        struct wal *w = wal_open(dir, &(struct wal_opts){ .durability = all[d] }, &err);
        pthread_t t[4];
        struct thread_arg args[4];
        struct recovery_item *items;
        char **ids;
        size_t n;

        assert_non_null(w);
        for (int i = 0; i < 4; i++) {
            args[i] = (struct thread_arg){ w, i };
            assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &args[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            void *rv;
            pthread_join(t[i], &rv);
            assert_null(rv);
        }
        wal_close(w);
        assert_int_equal(wal_list(dir, &ids, &n, &err), 0);
        assert_int_equal(n, 80);
        wal_list_free(ids, n);
        assert_int_equal(recovery_scan(dir, &items, &n, &err), 0);
        assert_int_equal(n, 0); /* all completed and verified */
        recovery_items_free(items, n);
        tu_rmtree(dir);
        free(dir);
    }
}

/* Durability names, and the config section. */
static void
test_config_section(void **state)
{
    static const char text[] =
        "{\"wal\": {\"enabled\": true, \"dir\": \"w\", \"durability\": \"group\"}}";
    static const char bad1[] = "{\"wal\": {\"durability\": \"always\"}}";
    static const char bad2[] = "{\"wal\": {\"fsync\": true}}";
    struct intentus_err err = { 0 };
    struct config *cfg;
    enum wal_durability d;

    (void)state;
    assert_int_equal(wal_durability_parse("none", &d), 0);
    assert_int_equal(d, WAL_NONE);
    assert_int_equal(wal_durability_parse("always", &d), -1);
    cfg = config_parse(text, strlen(text), "t", &err);
    assert_non_null(cfg);
    assert_true(cfg->wal.enabled);
    assert_string_equal(cfg->wal.dir, "w");
    assert_int_equal(cfg->wal.durability, WAL_GROUP);
    config_free(cfg);
    cfg = config_demo(&err);
    assert_false(cfg->wal.enabled); /* off by default, demo too */
    assert_string_equal(cfg->wal.dir, ".intentusnet/wal");
    config_free(cfg);
    cfg = config_parse(bad1, strlen(bad1), "t", &err);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "wal.durability"));
    cfg = config_parse(bad2, strlen(bad2), "t", &err);
    assert_null(cfg);
    assert_non_null(strstr(err.msg, "wal.fsync: unknown key"));
}

/* The router's entries for FALLBACK a✗ b✓, with the record's id and
 * envelope hash, and a clean record <-> WAL consistency check. */
static void
test_router_entries(void **state)
{
    static const char text[] =
        "{\"agents\": ["
        "{\"name\":\"a\",\"builtin\":\"fail\",\"intents\":[\"t.x\"],\"nodePriority\":1},"
        "{\"name\":\"b\",\"builtin\":\"echo\",\"intents\":[\"t.x\"],\"nodePriority\":2,"
        " \"side_effect\":\"irreversible\"}]}";
    static const char *const types[] = { "execution.started",  "step.started", "step.failed",
                                         "fallback.triggered", "step.started", "step.completed",
                                         "execution.completed" };
    char *dir = tu_mkdtemp(), waldir[4096];
    struct intentus_err err = { 0 };
    struct config *cfg = config_parse(text, strlen(text), "t", &err);
    struct rec_store *rs = rec_store_open(dir, NULL, &err);
    struct wal *w;
    struct router *r;
    struct route_result res;
    struct wal_log log;
    cJSON *env, *rec, *violations;
    const cJSON *e;
    size_t i = 0;

    (void)state;
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    w = wal_open(waldir, &(struct wal_opts){ .durability = WAL_GROUP, .create = true }, &err);
    assert_non_null(w);
    r = router_new(cfg->registry, &(struct router_opts){ .store = rs, .wal = w }, &err);
    env = envelope_new("t.x", cJSON_CreateObject(),
                       &(struct envelope_opts){ .strategy = STRATEGY_FALLBACK }, &err);
    assert_int_equal(router_route(r, env, &res), 0);
    assert_true(res.recorded);
    assert_false(res.wal_failed);
    assert_int_equal(wal_read(waldir, res.execution_id, &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_int_equal(log.n_entries, 7);
    cJSON_ArrayForEach(e, log.entries)
    {
        assert_string_equal(json_get_string(e, "entry_type"), types[i++]);
    }
    e = cJSON_GetArrayItem(log.entries, 4);
    assert_string_equal(json_get_string(cJSON_GetObjectItemCaseSensitive(e, "payload"), "step_id"),
                        "step-2-b");
    assert_string_equal(
        json_get_string(cJSON_GetObjectItemCaseSensitive(e, "payload"), "side_effect"),
        "irreversible");
    wal_log_free(&log);
    rec = rec_store_load(rs, res.execution_id, &err);
    assert_non_null(rec);
    violations = cJSON_CreateArray();
    assert_int_equal(recovery_check_record(waldir, res.execution_id, rec, NULL, violations, &err),
                     0);
    cJSON_Delete(violations);
    cJSON_Delete(rec);
    route_result_free(&res);
    cJSON_Delete(env);
    router_free(r);
    wal_close(w);
    rec_store_close(rs);
    config_free(cfg);
    tu_rmtree(dir);
    free(dir);
}

/* Routes one envelope of intent t.x (strategy FALLBACK) through a router
 * with store rs and WAL w under opts (store and wal filled in). */
static void
route_one(struct config *cfg, struct router_opts *opts, const char *request_id,
          struct route_result *res)
{
    struct intentus_err err = { 0 };
    struct router *r = router_new(cfg->registry, opts, &err);
    cJSON *env;

    assert_non_null(r);
    env = envelope_new(
        "t.x", cJSON_CreateObject(),
        &(struct envelope_opts){ .strategy = STRATEGY_FALLBACK, .request_id = request_id }, &err);
    assert_non_null(env);
    assert_int_equal(router_route(r, env, res), 0);
    cJSON_Delete(env);
    router_free(r);
}

static const char echo_cfg[] =
    "{\"agents\": ["
    "{\"name\":\"a\",\"builtin\":\"echo\",\"intents\":[\"t.x\"],\"nodePriority\":1}]}";
static const char fail_cfg[] =
    "{\"agents\": ["
    "{\"name\":\"a\",\"builtin\":\"fail\",\"intents\":[\"t.x\"],\"nodePriority\":1}]}";

/* Issue 13.3: an execution sampled out (up front, or at the end with
 * sample_errors) leaves no WAL behind; one that is kept still has its
 * whole log. */
static void
test_sampled_out_leaves_no_wal(void **state)
{
    char *dir = tu_mkdtemp(), waldir[4096];
    struct intentus_err err = { 0 };
    struct config *ok = config_parse(echo_cfg, strlen(echo_cfg), "t", &err);
    struct config *bad = config_parse(fail_cfg, strlen(fail_cfg), "t", &err);
    struct rec_store *rs = rec_store_open(dir, NULL, &err);
    struct route_result res;
    struct wal_log log;
    struct wal *w;

    (void)state;
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    w = wal_open(waldir, &(struct wal_opts){ .durability = WAL_PER_ENTRY, .create = true }, &err);
    assert_non_null(w);
    /* Out from the start: no record is even built. */
    route_one(ok,
              &(struct router_opts){ .store = rs, .wal = w, .sample = true, .sample_rate = 0.0 },
              "r-1", &res);
    assert_true(res.sampled_out);
    assert_false(res.wal_failed);
    assert_false(response_is_error(res.response));
    route_result_free(&res);
    assert_int_equal(tu_count_files(waldir, ".wal"), 0);
    /* Out at the end (sample_errors keeps only errors): a success. */
    route_one(
        ok,
        &(struct router_opts){
            .store = rs, .wal = w, .sample = true, .sample_rate = 0.0, .sample_errors = true },
        "r-2", &res);
    assert_true(res.sampled_out);
    route_result_free(&res);
    assert_int_equal(tu_count_files(waldir, ".wal"), 0);
    /* An error is kept: recorded, and its log is whole and closed. */
    route_one(
        bad,
        &(struct router_opts){
            .store = rs, .wal = w, .sample = true, .sample_rate = 0.0, .sample_errors = true },
        "r-3", &res);
    assert_true(res.recorded);
    assert_int_equal(tu_count_files(waldir, ".wal"), 1);
    assert_int_equal(wal_read(waldir, res.execution_id, &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_int_equal(wal_state_reconstruct(log.entries), WAL_STATE_FAILED);
    wal_log_free(&log);
    route_result_free(&res);
    wal_close(w);
    rec_store_close(rs);
    config_free(ok);
    config_free(bad);
    tu_rmtree(dir);
    free(dir);
}

/* Issue 13.5: a record that cannot be written is not logged as
 * execution.completed: the WAL ends execution.failed with record_written
 * false, and the scan lists the execution as "record missing", not
 * resumable. (The records directory is removed under the open store, so
 * every save fails with ENOENT, as root too.) */
static void
test_unrecorded_is_not_completed(void **state)
{
    char *dir = tu_mkdtemp(), waldir[4096], recdir[4096];
    struct intentus_err err = { 0 };
    struct config *ok = config_parse(echo_cfg, strlen(echo_cfg), "t", &err);
    struct rec_store *rs;
    struct route_result res;
    struct recovery_item *items;
    struct wal_log log;
    const cJSON *last, *p;
    char **ids;
    size_t n;
    struct wal *w;

    (void)state;
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    snprintf(recdir, sizeof(recdir), "%s/rec", dir);
    rs = rec_store_open(recdir, &(struct rec_store_opts){ .create = true }, &err);
    assert_non_null(rs);
    assert_int_equal(rmdir(recdir), 0);
    w = wal_open(waldir, &(struct wal_opts){ .durability = WAL_PER_ENTRY, .create = true }, &err);
    assert_non_null(w);
    route_one(ok, &(struct router_opts){ .store = rs, .wal = w }, NULL, &res);
    assert_false(res.recorded);
    assert_false(res.sampled_out);
    assert_false(response_is_error(res.response)); /* the agent answered */
    route_result_free(&res);
    assert_int_equal(wal_list(waldir, &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(wal_read(waldir, ids[0], &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    last = cJSON_GetArrayItem(log.entries, (int)log.n_entries - 1);
    assert_string_equal(json_get_string(last, "entry_type"), "execution.failed");
    p = cJSON_GetObjectItemCaseSensitive(last, "payload");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p, "record_written")));
    assert_non_null(strstr(json_get_string(p, "record_error"), "rec"));
    wal_log_free(&log);
    assert_int_equal(recovery_scan(waldir, &items, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(items[0].execution_id, ids[0]);
    assert_true(items[0].record_missing);
    assert_false(items[0].can_resume);
    assert_non_null(strstr(items[0].reason, "Record missing"));
    recovery_items_free(items, n);
    wal_list_free(ids, 1);
    wal_close(w);
    rec_store_close(rs);
    config_free(ok);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_hash_vector),
        cmocka_unit_test(test_line_format),
        cmocka_unit_test(test_read_verifies_chain),
        cmocka_unit_test(test_tampering_detected),
        cmocka_unit_test(test_foreign_line_detected),
        cmocka_unit_test(test_torn_final_line),
        cmocka_unit_test(test_state_machine),
        cmocka_unit_test(test_writer_refuses_illegal),
        cmocka_unit_test(test_durabilities_threads),
        cmocka_unit_test(test_config_section),
        cmocka_unit_test(test_router_entries),
        cmocka_unit_test(test_sampled_out_leaves_no_wal),
        cmocka_unit_test(test_unrecorded_is_not_completed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
