/* core/gateway.c: which JSON-RPC messages are recorded, how responses are
 * matched to requests, what a record holds, and what replay refuses. Real
 * record writer and WAL in a temporary directory. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/gateway.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "tests/support/testutil.h"

struct fx {
    char *dir;
    char recs[PATH_MAX], wals[PATH_MAX];
    struct writer *w;
    struct wal *wal;
    struct redactor *red;
    struct gateway *g;
};

static cJSON *
parse(const char *s)
{
    cJSON *v = json_parse(s, strlen(s), 0, NULL);
    assert_non_null(v);
    return v;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };

    assert_non_null(f);
    f->dir = tu_mkdtemp();
    snprintf(f->recs, sizeof(f->recs), "%s/records", f->dir);
    snprintf(f->wals, sizeof(f->wals), "%s/wal", f->dir);
    f->w = writer_open(f->recs, &(struct writer_opts){ .mode = WRITER_SYNC }, &err);
    assert_non_null(f->w);
    f->wal = wal_open(f->wals, &(struct wal_opts){ .durability = WAL_NONE, .create = true }, &err);
    assert_non_null(f->wal);
    f->red = redactor_new(NULL, "test", &err);
    assert_non_null(f->red);
    f->g = gateway_new(&(struct gateway_opts){ .mode = "stdio",
                                               .target = "server",
                                               .server = "srv",
                                               .writer = f->w,
                                               .wal = f->wal,
                                               .redactor = f->red },
                       &err);
    assert_non_null(f->g);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    gateway_free(f->g);
    redactor_free(f->red);
    wal_close(f->wal);
    writer_close(f->w);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void
test_classification(void **state)
{
    static const char *const recorded[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/call\"}",
        NULL,
    };
    static const char *const passed[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}", /* no id */
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"tools/call\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
        "[1,2]",
        NULL,
    };

    (void)state;
    for (int i = 0; recorded[i] != NULL; i++) {
        cJSON *m = parse(recorded[i]);
        assert_true(gateway_is_tool_call(m));
        cJSON_Delete(m);
    }
    for (int i = 0; passed[i] != NULL; i++) {
        cJSON *m = parse(passed[i]);
        assert_false(gateway_is_tool_call(m));
        cJSON_Delete(m);
    }
    {
        cJSON *r = parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
        cJSON *e = parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"x\"}}");
        cJSON *q = parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sampling/createMessage\"}");
        assert_true(gateway_is_response(r));
        assert_true(gateway_is_response(e));
        assert_false(gateway_is_response(q)); /* a request from the server */
        cJSON_Delete(r);
        cJSON_Delete(e);
        cJSON_Delete(q);
    }
}

/* Ids match exactly: 1 and "1" are different requests. */
static void
test_ids_match_exactly(void **state)
{
    struct fx *f = *state;
    struct intentus_err err = { 0 };
    struct gateway_pending *p = gateway_pending_new();
    cJSON *num = parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                       "{\"name\":\"num\",\"arguments\":{\"a\":1}}}");
    cJSON *str = parse("{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"tools/call\",\"params\":"
                       "{\"name\":\"str\"}}");
    cJSON *r_str = parse("{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"result\":{\"content\":[]}}");
    cJSON *r_other = parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}");
    struct gateway_call *a, *b;

    assert_non_null(p);
    a = gateway_call_begin(f->g, num, &err);
    b = gateway_call_begin(f->g, str, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(gateway_call_key(a), "1");
    assert_string_equal(gateway_call_key(b), "\"1\"");
    assert_int_equal(gateway_pending_add(p, a), 0);
    assert_int_equal(gateway_pending_add(p, b), 0);
    assert_int_equal(gateway_pending_settle(p, f->g, r_other, &err), 0);
    assert_int_equal(tu_count_files(f->recs, ".json"), 0);
    assert_int_equal(gateway_pending_settle(p, f->g, r_str, &err), 1);
    assert_int_equal(tu_count_files(f->recs, ".json"), 1);
    /* The numeric one is still waiting: freeing ends it as a failure. */
    gateway_pending_free(p, f->g, "closed");
    assert_int_equal(tu_count_files(f->recs, ".json"), 2);
    cJSON_Delete(num);
    cJSON_Delete(str);
    cJSON_Delete(r_str);
    cJSON_Delete(r_other);
}

/* What one call leaves: the record (read back through the store) and its
 * WAL; then replay of it, and replay's refusals. */
static void
test_record_and_replay(void **state)
{
    struct fx *f = *state;
    struct intentus_err err = { 0 };
    cJSON *req =
        parse("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":"
              "{\"name\":\"lookup\",\"arguments\":{\"q\":\"x\",\"password\":\"p4ssw0rd!\"}}}");
    cJSON *resp = parse("{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32603,\"message\":"
                        "\"it broke\"}}");
    struct gateway_call *c = gateway_call_begin(f->g, req, &err);
    struct rec_store *rs;
    struct wal_log log = { 0 };
    char id[64], hash[65];
    cJSON *rec, *out = NULL;
    const cJSON *gw;

    assert_non_null(c);
    snprintf(id, sizeof(id), "%s", gateway_call_id(c));
    assert_int_equal(gateway_call_end(f->g, c, resp, NULL, &err), 0);
    rs = rec_store_open(f->recs, NULL, &err);
    assert_non_null(rs);
    rec = rec_store_load(rs, id, &err);
    rec_store_close(rs);
    assert_non_null(rec);
    gw = cJSON_GetObjectItemCaseSensitive(rec, "gateway");
    assert_string_equal(json_get_string(gw, "tool_name"), "lookup");
    assert_string_equal(json_get_string(gw, "status"), "completed");
    /* Hashes of the messages as relayed, before redaction. */
    assert_int_equal(json_canonical_sha256(req, hash, NULL), 0);
    assert_string_equal(json_get_string(gw, "request_hash"), hash);
    assert_int_equal(json_canonical_sha256(resp, hash, NULL), 0);
    assert_string_equal(json_get_string(gw, "response_hash"), hash);
    /* The password is redacted everywhere in the record. */
    {
        char *text = cJSON_PrintUnformatted(rec);
        assert_null(strstr(text, "p4ssw0rd!"));
        free(text);
    }
    assert_string_equal(
        json_get_string(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(rec, "finalResponse"), "error"),
                        "code"),
        "AGENT_ERROR");
    assert_int_equal(wal_read(f->wals, id, &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_int_equal(log.n_entries, 4);
    assert_string_equal(json_get_string(cJSON_GetArrayItem(log.entries, 3), "entry_type"),
                        "execution.failed");
    /* Replay: the recorded response, the WAL entries as given. */
    assert_int_equal(gateway_replay(rec, log.entries, &out, &err), 0);
    assert_string_equal(
        json_get_string(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(out, "response"), "error"),
                        "message"),
        "it broke");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(out, "wal_entries")), 4);
    assert_string_equal(json_get_string(out, "warning"), GATEWAY_REPLAY_WARNING);
    cJSON_Delete(out);
    wal_log_free(&log);
    /* Not a gateway execution; then one without a response. */
    cJSON_DeleteItemFromObjectCaseSensitive(rec, "gateway");
    assert_int_equal(gateway_replay(rec, NULL, &out, &err), -1);
    assert_int_equal(err.code, IERR_INVALID);
    assert_non_null(strstr(err.msg, "not a gateway execution"));
    assert_null(out);
    cJSON_Delete(rec);

    c = gateway_call_begin(f->g, req, &err);
    assert_non_null(c);
    snprintf(id, sizeof(id), "%s", gateway_call_id(c));
    assert_int_equal(gateway_call_end(f->g, c, NULL, "server gone", &err), 0);
    rs = rec_store_open(f->recs, NULL, &err);
    rec = rec_store_load(rs, id, &err);
    rec_store_close(rs);
    assert_non_null(rec);
    assert_int_equal(gateway_replay(rec, NULL, &out, &err), -1);
    assert_int_equal(err.code, IERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "server gone"));
    cJSON_Delete(rec);
    cJSON_Delete(req);
    cJSON_Delete(resp);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classification),
        cmocka_unit_test_setup_teardown(test_ids_match_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_and_replay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
