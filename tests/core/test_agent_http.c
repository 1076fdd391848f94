/* The http agent kind against a real HTTP server on 127.0.0.1
 * (examples/agents/http_agent.py, started once for the group through pipes
 * so it cannot outlive the test). Every call has a deadline. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/agent.h"
#include "core/agent_http.h"
#include "core/json.h"
#include "core/model.h"
#include "tests/support/agent_testutil.h"

static int
group_setup(void **state)
{
    struct tu_http_server *s = calloc(1, sizeof(*s));

    /* Loopback only: a proxy from the environment must not get involved. */
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("HTTPS_PROXY");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");
    if (s == NULL || tu_http_server_start(s, NULL) != 0) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int
group_teardown(void **state)
{
    tu_http_server_stop(*state);
    free(*state);
    return 0;
}

static struct agent *
http_agent_for(const char *url, const char *extra)
{
    struct intentus_err err = { 0 };
    char text[2048];
    struct agent *a;

    snprintf(text, sizeof(text),
             "{\"name\":\"remote\",\"kind\":\"http\",\"intents\":[\"t.agent\"],"
             "\"url\":\"%s\"%s%s}",
             url, extra[0] ? "," : "", extra);
    a = tu_agent_new(text, &err);
    if (a == NULL)
        fail_msg("config: %s", err.msg);
    return a;
}

static struct agent *
server_agent(void **state, const char *extra)
{
    const struct tu_http_server *s = *state;
    char url[128];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/agent", s->port);
    return http_agent_for(url, extra);
}

static cJSON *
call(struct agent *a, const char *payload, int64_t timeout_ms, struct agent_cache *cache,
     int64_t *elapsed)
{
    struct intentus_err err = { 0 };
    cJSON *resp = tu_agent_call(a, payload, timeout_ms, cache, elapsed, &err);

    if (resp == NULL)
        fail_msg("agent_call: %s", err.msg);
    return resp;
}

/* One call with payload {"mode": mode}: the expected code, a part of the
 * message and retryable. */
static cJSON *
expect_error(void **state, const char *mode, const char *code, const char *msg_part, bool retryable)
{
    struct agent *a = server_agent(state, "");
    char payload[128];
    cJSON *resp;

    snprintf(payload, sizeof(payload), "{\"mode\":\"%s\"}", mode);
    resp = call(a, payload, 5000, NULL, NULL);
    assert_string_equal(tu_code(resp), code);
    if (strstr(tu_message(resp), msg_part) == NULL)
        fail_msg("message '%s' lacks '%s'", tu_message(resp), msg_part);
    assert_int_equal(tu_retryable(resp), retryable);
    agent_free(a);
    return resp;
}

static void
test_ok(void **state)
{
    struct agent *a = server_agent(state, "");
    struct agent_cache *cache = agent_cache_new();
    cJSON *resp = call(a, "{\"text\":\"hello over http\"}", 5000, cache, NULL);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(resp, "payload");
    void *handle = agent_cache_get(cache, "http");

    assert_false(response_is_error(resp));
    assert_string_equal(json_get_string(p, "summary"), "hello over http");
    assert_non_null(handle);
    cJSON_Delete(resp);
    /* The worker's handle is kept and reused. */
    resp = call(a, "{}", 5000, cache, NULL);
    assert_false(response_is_error(resp));
    assert_ptr_equal(agent_cache_get(cache, "http"), handle);
    cJSON_Delete(resp);
    agent_cache_free(cache);
    agent_free(a);
}

static void
test_own_error_passes_through(void **state)
{
    cJSON_Delete(expect_error(state, "fail", "AGENT_ERROR", "http-agent: asked to fail", false));
}

static void
test_slow_within_deadline(void **state)
{
    struct agent *a = server_agent(state, "");
    cJSON *resp = call(a, "{\"mode\":\"slow\",\"sleep_ms\":150}", 5000, NULL, NULL);

    assert_false(response_is_error(resp));
    cJSON_Delete(resp);
    agent_free(a);
}

static void
test_hang_times_out(void **state)
{
    struct agent *a = server_agent(state, "");
    int64_t elapsed = 0;
    cJSON *resp = call(a, "{\"mode\":\"hang\"}", 300, NULL, &elapsed);

    assert_string_equal(tu_code(resp), "AGENT_TIMEOUT");
    assert_true(tu_retryable(resp));
    assert_true(elapsed >= 250 && elapsed < 800);
    cJSON_Delete(resp);
    agent_free(a);
}

static void
test_deadline_already_passed(void **state)
{
    struct agent *a = server_agent(state, "");
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new("t.agent", NULL, NULL, &err), *resp;
    struct agent_ctx ctx = { .deadline_us = 1 }; /* 1 µs after the clock's origin: long past */

    resp = agent_call(a, env, &ctx, &err);
    assert_non_null(resp);
    assert_string_equal(tu_code(resp), "AGENT_TIMEOUT");
    assert_non_null(strstr(tu_message(resp), "before the request was sent"));
    cJSON_Delete(resp);
    cJSON_Delete(env);
    agent_free(a);
}

static void
test_dropped_connection(void **state)
{
    cJSON_Delete(expect_error(state, "crash", "TRANSPORT_ERROR", "HTTP exchange failed", true));
}

static void
test_garbage_body(void **state)
{
    cJSON *resp =
        expect_error(state, "garbage", "PROTOCOL_ERROR", "not JSON: line 1, column 1", false);

    assert_int_equal(cJSON_GetObjectItemCaseSensitive(tu_details(resp), "http_status")->valueint,
                     200);
    assert_string_equal(json_get_string(tu_details(resp), "body"), "this is not JSON\n");
    cJSON_Delete(resp);
}

static void
test_truncated_body(void **state)
{
    cJSON_Delete(expect_error(state, "badbody", "PROTOCOL_ERROR", "not JSON", false));
}

static void
test_json_not_a_response(void **state)
{
    cJSON_Delete(
        expect_error(state, "notresponse", "PROTOCOL_ERROR", "not an AgentResponse", false));
}

static void
test_big_body_capped(void **state)
{
    cJSON_Delete(
        expect_error(state, "big", "PROTOCOL_ERROR", "response over 1048576 bytes", false));
}

static void
test_status_500(void **state)
{
    cJSON *resp = expect_error(state, "status500", "TRANSPORT_ERROR", "HTTP 500", true);

    assert_int_equal(cJSON_GetObjectItemCaseSensitive(tu_details(resp), "http_status")->valueint,
                     500);
    assert_non_null(strstr(json_get_string(tu_details(resp), "body"), "internal error"));
    cJSON_Delete(resp);
}

static void
test_status_429(void **state)
{
    cJSON *resp = expect_error(state, "status429", "RATE_LIMIT", "HTTP 429", true);

    assert_int_equal(cJSON_GetObjectItemCaseSensitive(tu_details(resp), "retry_after_s")->valueint,
                     1);
    cJSON_Delete(resp);
}

static void
test_status_404(void **state)
{
    cJSON_Delete(expect_error(state, "status404", "TRANSPORT_ERROR", "HTTP 404", false));
}

static void
test_headers_from_env(void **state)
{
    struct agent *a;
    cJSON *resp;
    const cJSON *h;

    setenv("TEST_TOKEN", "Bearer t0k3n", 1);
    a = server_agent(state, "\"headers\":{\"Authorization\":\"$TEST_TOKEN\",\"X-Static\":\"v1\"}");
    setenv("TEST_TOKEN", "changed later", 1); /* read when the config loads */
    resp = call(a, "{\"mode\":\"headers\"}", 5000, NULL, NULL);
    assert_false(response_is_error(resp));
    h = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(resp, "payload"),
                                         "headers");
    assert_string_equal(json_get_string(h, "Authorization"), "Bearer t0k3n");
    assert_string_equal(json_get_string(h, "X-Static"), "v1");
    assert_string_equal(json_get_string(h, "Content-Type"), "application/json");
    assert_null(json_get_string(h, "Expect"));
    cJSON_Delete(resp);
    agent_free(a);
}

static void
test_connection_refused(void **state)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char url[128];
    struct agent *a;
    cJSON *resp;

    (void)state;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    close(fd); /* nothing listens there now */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/agent", ntohs(sin.sin_port));
    a = http_agent_for(url, "");
    resp = call(a, "{}", 5000, NULL, NULL);
    assert_string_equal(tu_code(resp), "AGENT_UNAVAILABLE");
    assert_true(tu_retryable(resp));
    cJSON_Delete(resp);
    agent_free(a);
}

static void
test_dns_failure(void **state)
{
    struct agent *a =
        http_agent_for("http://intentus-test.invalid/agent", "\"allow_insecure\":true");
    cJSON *resp = call(a, "{}", 5000, NULL, NULL);

    (void)state;
    if (strcmp(tu_code(resp), "AGENT_TIMEOUT") == 0) {
        /* A resolver that never answers (no network at all) cannot show
         * the failure mapping; the deadline still held. */
        cJSON_Delete(resp);
        agent_free(a);
        skip();
    }
    assert_string_equal(tu_code(resp), "AGENT_UNAVAILABLE");
    assert_true(tu_retryable(resp));
    cJSON_Delete(resp);
    agent_free(a);
}

/* With a worker cache the handle (and its connection) stays; without one
 * every call cleans up. Either way no descriptor is left behind. */
static void
test_no_fd_leak(void **state)
{
    static const char *const payloads[] = { "{}", "{\"mode\":\"fail\"}", "{\"mode\":\"status500\"}",
                                            "{\"mode\":\"garbage\"}" };
    struct agent *a = server_agent(state, "");
    struct agent_cache *cache = agent_cache_new();
    int before, after;

    cJSON_Delete(call(a, "{}", 5000, cache, NULL)); /* opens the kept connection */
    before = tu_count_fds();
    for (int i = 0; i < 50; i++)
        cJSON_Delete(call(a, payloads[i % 4], 5000, cache, NULL));
    after = tu_count_fds();
    assert_int_equal(before, after);
    agent_cache_free(cache);
    before = tu_count_fds();
    for (int i = 0; i < 20; i++)
        cJSON_Delete(call(a, payloads[i % 4], 5000, NULL, NULL));
    after = tu_count_fds();
    assert_int_equal(before, after);
    agent_free(a);
}

static void
test_settings(void **state)
{
    struct agent_http_settings s;
    struct agent *a = http_agent_for("https://agents.example/run", "");

    (void)state;
    assert_int_equal(agent_http_settings(a, &s), 0);
    assert_true(s.tls_verify); /* on unless the config says otherwise */
    assert_int_equal(s.connect_timeout_ms, 2000);
    assert_int_equal(s.max_response, 1024 * 1024);
    assert_int_equal(s.n_headers, 0);
    agent_free(a);
    a = http_agent_for(
        "https://agents.example/run",
        "\"tls_verify\":false,\"connect_timeout\":\"500ms\",\"max_response\":\"64K\","
        "\"headers\":{\"X-A\":\"1\"}");
    assert_int_equal(agent_http_settings(a, &s), 0);
    assert_false(s.tls_verify);
    assert_int_equal(s.connect_timeout_ms, 500);
    assert_int_equal(s.max_response, 65536);
    assert_int_equal(s.n_headers, 1);
    agent_free(a);
}

static void
expect_config_error(const char *body, const char *msg_part)
{
    struct intentus_err err = { 0 };
    char text[1024];
    struct agent *a;

    snprintf(text, sizeof(text), "{\"name\":\"x\",\"kind\":\"http\",\"intents\":[\"t.agent\"]%s}",
             body);
    a = tu_agent_new(text, &err);
    assert_null(a);
    assert_int_equal(err.code, IERR_CONFIG);
    if (strstr(err.msg, msg_part) == NULL)
        fail_msg("error '%s' lacks '%s'", err.msg, msg_part);
}

static void
test_config_errors(void **state)
{
    (void)state;
    unsetenv("TEST_HTTP_UNSET");
    expect_config_error("", "agents[0].url: missing");
    expect_config_error(",\"url\":\"ftp://host/x\"", "agents[0].url: 'ftp://host/x' must start");
    expect_config_error(",\"url\":\"http://\"", "must start with http:// or https://");
    expect_config_error(",\"url\":\"https://h\",\"headers\":{\"Bad Name\":\"x\"}",
                        "not a valid header name");
    expect_config_error(",\"url\":\"https://h\",\"headers\":{\"X\":\"a\\r\\nY: b\"}", "line break");
    expect_config_error(",\"url\":\"https://h\",\"tls_verify\":\"no\"", "agents[0].tls_verify");
    expect_config_error(",\"url\":\"https://h\",\"connect_timeout\":\"soon\"",
                        "agents[0].connect_timeout");
    expect_config_error(",\"url\":\"https://h\",\"max_response\":-1", "agents[0].max_response");
    expect_config_error(",\"url\":\"https://h\",\"argv\":[\"x\"]", "agents[0].argv: unknown key");
    expect_config_error(",\"url\":\"http://h\",\"allow_insecure\":1",
                        "agents[0].allow_insecure: must be true or false");
}

static bool
url_accepted(const char *url, const char *extra)
{
    struct intentus_err err = { 0 };
    char text[1024];
    struct agent *a;
    bool ok;

    snprintf(text, sizeof(text),
             "{\"name\":\"h\",\"kind\":\"http\",\"intents\":[\"t.agent\"],\"url\":\"%s\"%s%s}", url,
             extra[0] ? "," : "", extra);
    a = tu_agent_new(text, &err);
    ok = a != NULL;
    agent_free(a);
    return ok;
}

/* Plain http:// only to this machine, unless allow_insecure; https://
 * anywhere. The error names the key path and says why. */
static void
test_plain_http_only_to_loopback(void **state)
{
    static const char *const loopback[] = {
        "http://127.0.0.1:8081/a", "http://127.1.2.3/",   "http://localhost:1/x",
        "http://LOCALHOST",        "http://[::1]:8080/a", "http://user:pw@127.0.0.1/a",
    };
    static const char *const remote[] = {
        "http://example.com/a",       "http://10.0.0.1:80/", "http://127.0.0.1.example.com/",
        "http://localhost.evil.net/", "http://[::2]/",       "http://127.0.0.1@example.com/",
        "http://1270.0.0.1/",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(loopback) / sizeof(*loopback); i++) {
        if (!url_accepted(loopback[i], ""))
            fail_msg("%s refused", loopback[i]);
    }
    for (size_t i = 0; i < sizeof(remote) / sizeof(*remote); i++) {
        if (url_accepted(remote[i], ""))
            fail_msg("%s accepted without allow_insecure", remote[i]);
        if (!url_accepted(remote[i], "\"allow_insecure\":true"))
            fail_msg("%s refused with allow_insecure", remote[i]);
    }
    assert_true(url_accepted("https://example.com/a", ""));
    assert_true(url_accepted("HTTPS://10.0.0.1/", ""));
    assert_false(url_accepted("http://example.com/a", "\"allow_insecure\":false"));
    expect_config_error(",\"url\":\"http://example.com/a\"",
                        "agents[0].url: plain http:// to 'example.com' would send envelopes and "
                        "headers unencrypted; use https://, or set agents[0].allow_insecure: true");
}

/* 14.4: a header naming an unset variable loads; calls fail without
 * sending anything, naming the agent and the variable. */
static void
test_unset_header_env_fails_the_call_not_the_load(void **state)
{
    (void)state;
    struct intentus_err err = { 0 };
    struct agent *a;
    cJSON *resp;

    unsetenv("TEST_HTTP_UNSET");
    a = tu_agent_new("{\"name\":\"api\",\"kind\":\"http\",\"intents\":[\"t.agent\"],"
                     "\"url\":\"http://127.0.0.1:9/x\","
                     "\"headers\":{\"Authorization\":\"$TEST_HTTP_UNSET\"}}",
                     &err);
    if (a == NULL)
        fail_msg("load failed: %s", err.msg);
    assert_string_equal(a->missing_env, "TEST_HTTP_UNSET (agents[0].headers.Authorization)");
    resp = tu_agent_call(a, "{}", 5000, NULL, NULL, &err);
    assert_non_null(resp);
    assert_string_equal(tu_code(resp), "AGENT_UNAVAILABLE");
    if (strstr(tu_message(resp), "api: not called: environment variable TEST_HTTP_UNSET") == NULL)
        fail_msg("message: %s", tu_message(resp));
    cJSON_Delete(resp);
    agent_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_own_error_passes_through),
        cmocka_unit_test(test_slow_within_deadline),
        cmocka_unit_test(test_hang_times_out),
        cmocka_unit_test(test_deadline_already_passed),
        cmocka_unit_test(test_dropped_connection),
        cmocka_unit_test(test_garbage_body),
        cmocka_unit_test(test_truncated_body),
        cmocka_unit_test(test_json_not_a_response),
        cmocka_unit_test(test_big_body_capped),
        cmocka_unit_test(test_status_500),
        cmocka_unit_test(test_status_429),
        cmocka_unit_test(test_status_404),
        cmocka_unit_test(test_headers_from_env),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_dns_failure),
        cmocka_unit_test(test_plain_http_only_to_loopback),
        cmocka_unit_test(test_no_fd_leak),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_unset_header_env_fails_the_call_not_the_load),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
