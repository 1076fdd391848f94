/* Safe recording through the router: policy refusals recorded with their
 * decision, rate limits, payload limits, sampling, and redaction that leaves
 * no secret anywhere in the record directory while every record verifies. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/router.h"
#include "tests/support/testutil.h"

struct fixture {
    char *dir;
    struct config *cfg;
    struct rec_store *store;
    struct router *router;
    struct router_counters counters;
};

static const char base_cfg[] =
    "{\"agents\": ["
    " {\"name\":\"echo-a\",\"builtin\":\"echo\",\"nodePriority\":1,"
    "  \"intents\":[\"t.echo\",\"t.ok\",\"t.any\",\"t.limited\",\"admin.drop\"]},"
    " {\"name\":\"slow-c\",\"builtin\":\"slow\",\"delay_ms\":2000,\"intents\":[\"t.capped\"]},"
    " {\"name\":\"fail-b\",\"builtin\":\"fail\",\"intents\":[\"t.fail\"]}],"
    " \"recording\": {\"max_payload_bytes\": \"1K\", \"max_depth\": 8},"
    " \"policy\": {\"default\": \"allow\", \"rules\": ["
    "  {\"id\": \"no-guest-admin\", \"action\": \"deny\", \"intents\": [\"admin.*\"],"
    "   \"tenants\": [\"guest\"]},"
    "  {\"id\": \"per-tenant\", \"action\": \"allow\", \"intents\": [\"t.limited\"],"
    "   \"rate_limit_per_minute\": 2, \"rate_limit_key_template\": \"{tenant}:{intent}\"},"
    "  {\"id\": \"capped\", \"action\": \"allow\", \"intents\": [\"t.capped\"],"
    "   \"max_timeout_ms\": 20}]},"
    " \"redaction\": {\"keys\": [\"*token*\"], \"paths\": [\"payload.credentials.pin\"]}}";

static int
setup_sampled(void **state, double rate, bool sample_errors)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };

    f->dir = tu_mkdtemp();
    f->cfg = config_parse(base_cfg, strlen(base_cfg), "test", &err);
    if (f->cfg == NULL)
        fail_msg("config: %s", err.msg);
    f->store = rec_store_open(f->dir, NULL, &err);
    f->router =
        router_new(f->cfg->registry,
                   &(struct router_opts){ .require_determinism = true,
                                          .store = f->store,
                                          .policy = f->cfg->policy,
                                          .redactor = f->cfg->redactor,
                                          .sample = rate < 1.0,
                                          .sample_rate = rate,
                                          .sample_errors = sample_errors,
                                          .max_payload_bytes = f->cfg->recording.max_payload_bytes,
                                          .max_depth = f->cfg->recording.max_depth,
                                          .counters = &f->counters },
                   &err);
    assert_non_null(f->router);
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_sampled(state, 1.0, true);
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    router_free(f->router);
    rec_store_close(f->store);
    config_free(f->cfg);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Route intent with payload text and tags; returns the response (owned)
 * and, when recorded, the record loaded back from disk. */
static cJSON *
route(struct fixture *f, const char *intent, const char *payload, const char *const *tags,
      const char *request_id, cJSON **record)
{
    struct envelope_opts o = { .priority = PRIORITY_NORMAL,
                               .tags = tags,
                               .request_id = request_id };
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new(intent, json_parse(payload, strlen(payload), 200, &err), &o, &err);
    struct route_result res;

    assert_non_null(env);
    assert_int_equal(router_route(f->router, env, &res), 0);
    *record = NULL;
    if (res.recorded) {
        *record = rec_store_load(f->store, res.execution_id, &err);
        if (*record == NULL)
            fail_msg("load: %s", err.msg);
        assert_int_equal(record_verify_hash(*record, &err), 0);
    }
    assert_int_equal(route_result_own(&res), 0); /* kept past env (core/router.h) */
    cJSON_Delete(env);
    return res.response;
}

static const char *
event_type(const cJSON *rec, int i)
{
    return json_get_string(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "events"), i), "type");
}

static void
test_policy_deny_is_recorded(void **state)
{
    struct fixture *f = *state;
    const char *guest[] = { "tenant:guest", NULL }, *acme[] = { "tenant:acme", NULL };
    cJSON *rec, *resp = route(f, "admin.drop", "{}", guest, NULL, &rec);
    const cJSON *dec;

    assert_string_equal(response_error_code(resp), "UNAUTHORIZED");
    assert_string_equal(json_get_string(response_error(resp), "message"),
                        "Denied by rule 'no-guest-admin'");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rec, "events")), 3);
    assert_string_equal(event_type(rec, 0), "INTENT_RECEIVED");
    assert_string_equal(event_type(rec, 1), "POLICY_DECISION");
    assert_string_equal(event_type(rec, 2), "FINAL_RESPONSE");
    dec = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "events"), 1), "payload");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(dec, "allowed")));
    assert_string_equal(json_get_string(dec, "matched_rule"), "no-guest-admin");
    assert_string_equal(json_get_string(dec, "source"), "intentusnet.policy");
    assert_string_equal(json_get_string(cJSON_GetObjectItem(resp, "metadata"), "agent"), "router");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* Another tenant passes, and the allow is recorded too. */
    resp = route(f, "admin.drop", "{}", acme, NULL, &rec);
    assert_false(response_is_error(resp));
    assert_string_equal(event_type(rec, 1), "POLICY_DECISION");
    assert_string_equal(event_type(rec, 2), "AGENT_ATTEMPT_START");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_rate_limit_and_timeout_cap(void **state)
{
    struct fixture *f = *state;
    const char *acme[] = { "tenant:acme", NULL }, *beta[] = { "tenant:beta", NULL };
    cJSON *rec, *resp;

    for (int i = 0; i < 2; i++) {
        resp = route(f, "t.limited", "{}", acme, NULL, &rec);
        assert_false(response_is_error(resp));
        cJSON_Delete(resp);
        cJSON_Delete(rec);
    }
    resp = route(f, "t.limited", "{}", acme, NULL, &rec);
    assert_string_equal(response_error_code(resp), "RATE_LIMIT");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(response_error(resp), "retryable")));
    assert_string_equal(event_type(rec, 1), "POLICY_DECISION");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(rec, "events"), 1), "payload"),
        "rate_limited")));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* Keyed by tenant: another tenant has its own bucket. */
    resp = route(f, "t.limited", "{}", beta, NULL, &rec);
    assert_false(response_is_error(resp));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* max_timeout_ms caps the execution's deadline: a 2 s agent times out. */
    resp = route(f, "t.capped", "{}", NULL, NULL, &rec);
    assert_string_equal(response_error_code(resp), "AGENT_TIMEOUT");
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

static void
test_payload_limits(void **state)
{
    struct fixture *f = *state;
    char big[2048];
    cJSON *rec, *resp;
    const cJSON *header;

    snprintf(big, sizeof(big), "{\"blob\": \"%01500d\", \"password\": \"pw-in-big\"}", 7);
    resp = route(f, "t.any", big, NULL, NULL, &rec);
    assert_string_equal(response_error_code(resp), "PAYLOAD_TOO_LARGE");
    /* No agent ran: RECEIVED and FINAL only; the payload is not stored. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(rec, "events")), 2);
    assert_non_null(json_get_string(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "envelope"), "payload"), "omitted"));
    header = cJSON_GetObjectItem(rec, "header");
    assert_string_not_equal(json_get_string(header, "originalEnvelopeHash"),
                            json_get_string(header, "envelopeHash"));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    resp = route(f, "t.any", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{}}}}}}}}}",
                 NULL, NULL, &rec);
    assert_string_equal(response_error_code(resp), "PAYLOAD_TOO_LARGE");
    assert_non_null(strstr(json_get_string(response_error(resp), "message"), "depth"));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    /* Exactly at the depth limit is fine. */
    resp = route(f, "t.any", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{}}}}}}}}", NULL,
                 NULL, &rec);
    assert_false(response_is_error(resp));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
}

/* Every byte of every file in dir, as one string. */
static char *
slurp_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t total = 0;
    char *all = calloc(1, 1), path[1024];

    while ((e = readdir(d)) != NULL) {
        size_t len;
        char *data;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        data = tu_read_file(path, &len);
        assert_non_null(data);
        all = realloc(all, total + len + 1);
        memcpy(all + total, data, len);
        total += len;
        all[total] = '\0';
        free(data);
    }
    closedir(d);
    return all;
}

static void
test_no_secret_reaches_the_directory(void **state)
{
    struct fixture *f = *state;
    static const char *const secrets[] = {
        "hunter2-pw",
        "tok-9f8e7d",
        "pin#4321",
        "sk-live-AbCdEfGhIjKlMnOpQr",
        "AKIAABCDEFGHIJKLMNOP",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX3g",
        "pw-in-big",
    };
    const char *payload =
        "{\"user\": {\"password\": \"hunter2-pw\"}, \"items\": [{\"myToken\": \"tok-9f8e7d\"}],"
        " \"credentials\": {\"pin\": \"pin#4321\"},"
        " \"note\": \"use sk-live-AbCdEfGhIjKlMnOpQr or AKIAABCDEFGHIJKLMNOP\","
        " \"auth\": \"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX3g\"}";
    struct intentus_err err = { 0 };
    struct rec_ids ids;
    cJSON *rec, *resp;
    char *all;

    /* echo returns the payload: the secret is in the response too; the
     * failing agent's record and the oversize one are written as well. */
    resp = route(f, "t.echo", payload, NULL, NULL, &rec);
    assert_false(response_is_error(resp));
    /* What the caller gets back is not redacted: only the stored copy is. */
    assert_string_equal(
        json_get_string(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "payload"), "user"),
                        "password"),
        "hunter2-pw");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "header"), "redaction"), "applied")));
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    resp = route(f, "t.fail", payload, NULL, NULL, &rec);
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    test_payload_limits(state);
    all = slurp_dir(f->dir);
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        if (strstr(all, secrets[i]) != NULL)
            fail_msg("secret '%s' found in the record directory", secrets[i]);
    }
    assert_non_null(strstr(all, "[REDACTED]"));
    free(all);
    /* records verify: every file's hash matches what it stores. */
    assert_int_equal(rec_store_list(f->store, &ids, &err), 0);
    assert_true(ids.n >= 5);
    for (size_t i = 0; i < ids.n; i++) {
        cJSON *r = rec_store_load(f->store, ids.ids[i], &err);
        assert_non_null(r);
        assert_int_equal(record_verify_hash(r, &err), 0);
        cJSON_Delete(r);
    }
    rec_store_ids_free(&ids);
}

static void
test_sampling_is_deterministic_and_keeps_errors(void **state)
{
    (void)state;
    void *st;
    struct fixture *f;
    char id[64];
    int in = 0, kept_errors = 0;
    cJSON *rec, *resp;

    /* The decision depends on the request id only. */
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "req-%d", i);
        assert_int_equal(router_sample_in(id, 0.25), router_sample_in(id, 0.25));
        in += router_sample_in(id, 0.25);
    }
    assert_in_range(in, 25, 75);
    assert_true(router_sample_in("anything", 1.0));
    assert_false(router_sample_in("anything", 0.0));

    setup_sampled(&st, 0.0, true);
    f = st;
    resp = route(f, "t.ok", "{}", NULL, "r-1", &rec);
    assert_null(rec); /* sampled out */
    cJSON_Delete(resp);
    resp = route(f, "t.fail", "{}", NULL, "r-2", &rec);
    assert_non_null(rec); /* errors always kept */
    kept_errors++;
    cJSON_Delete(resp);
    cJSON_Delete(rec);
    assert_int_equal(atomic_load(&f->counters.sampled_out), 1);
    assert_int_equal(atomic_load(&f->counters.recorded), kept_errors);
    assert_int_equal(atomic_load(&f->counters.routed), 2);
    teardown(&st);

    setup_sampled(&st, 0.0, false);
    f = st;
    resp = route(f, "t.fail", "{}", NULL, "r-2", &rec);
    assert_null(rec); /* sample_errors off: errors go too */
    cJSON_Delete(resp);
    assert_int_equal(tu_count_files(f->dir, ".json"), 0);
    teardown(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_policy_deny_is_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rate_limit_and_timeout_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_secret_reaches_the_directory, setup, teardown),
        cmocka_unit_test(test_sampling_is_deterministic_and_keeps_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
