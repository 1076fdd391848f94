/* The spare responses (core/model.h, response_recycle): a borrowing success
 * or an agent error built from a thread's spare prints exactly as a fresh
 * one, a response
 * anybody changed is never reused, strings that outgrow the spare's are
 * replaced, and a thread's spare goes with the thread (ASan and valgrind see
 * a leak otherwise). A reuse is proved by the root's address; a refusal by
 * response_recycle's answer, the changed tree freed (valgrind and ASan
 * report it kept as a leak, reused as a use after free). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"

static const char payload_text[] = "{\"query\":\"route café\",\"n\":10,\"items\":[1,2,3]}";

/* A response as printed, the timestamp cut out (two builds a microsecond
 * apart differ there and nowhere else). */
static char *
printed(const cJSON *resp)
{
    cJSON *copy = cJSON_Duplicate(resp, 1);
    cJSON *md = json_item(copy, "metadata");
    char *text;

    assert_non_null(copy);
    assert_non_null(json_item(md, "timestamp"));
    assert_int_equal(strlen(json_get_string(md, "timestamp")), CLOCK_ISO_LEN - 1);
    cJSON_ReplaceItemInObjectCaseSensitive(md, "timestamp", cJSON_CreateString("T"));
    text = cJSON_PrintUnformatted(copy);
    cJSON_Delete(copy);
    assert_non_null(text);
    return text;
}

static cJSON *
payload_of(cJSON *env)
{
    return json_item(env, "payload");
}

/* Nothing spare on this thread: a fresh build, recycled at once, taken. */
static void
empty_spare(void)
{
    cJSON *p = cJSON_Parse("{}");
    cJSON *r = response_success_borrowing_payload(p, "x", "y");

    assert_non_null(r);
    /* Whatever was spare is now r; recycle nothing so the slot is empty. */
    cJSON_Delete(r);
    cJSON_Delete(p);
}

static void
test_reused_response_prints_as_a_fresh_one(void **state)
{
    cJSON *env = cJSON_Parse("{\"payload\":{}}");
    cJSON *p = cJSON_Parse(payload_text), *fresh, *again;
    char *a, *b;

    (void)state;
    cJSON_ReplaceItemInObjectCaseSensitive(env, "payload", p);
    empty_spare();
    fresh = response_success_borrowing_payload(payload_of(env), "echo-a", "trace-1");
    a = printed(fresh);
    assert_true(response_borrows(fresh));
    assert_true(response_recycle(fresh)); /* kept */
    again = response_success_borrowing_payload(payload_of(env), "echo-a", "trace-1");
    assert_ptr_equal(again, fresh); /* the same nodes */
    b = printed(again);
    assert_string_equal(a, b);
    assert_string_equal(a, "{\"version\":\"1.0\",\"status\":\"success\",\"payload\":{\"query\":"
                           "\"route café\",\"n\":10,\"items\":[1,2,3]},\"metadata\":{\"agent\":"
                           "\"echo-a\",\"traceId\":\"trace-1\",\"timestamp\":\"T\"},\"error\":"
                           "null}");
    free(a);
    free(b);
    cJSON_Delete(again);
    cJSON_Delete(env);
}

static void
test_longer_strings_and_another_payload(void **state)
{
    cJSON *p1 = cJSON_Parse("{\"a\":1}"), *p2 = cJSON_Parse("{\"b\":[true,null]}");
    cJSON *r, *r2, *fresh;
    char *a, *b;
    char agent[200], trace[300];

    (void)state;
    memset(agent, 'g', sizeof(agent) - 1);
    agent[sizeof(agent) - 1] = '\0';
    memset(trace, 't', sizeof(trace) - 1);
    trace[sizeof(trace) - 1] = '\0';
    empty_spare();
    r = response_success_borrowing_payload(p1, "a", "");
    assert_true(response_recycle(r));
    r2 = response_success_borrowing_payload(p2, agent, trace);
    assert_ptr_equal(r2, r);
    fresh = response_success(cJSON_Duplicate(p2, 1), agent, trace);
    a = printed(r2);
    b = printed(fresh);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* Shorter again: written in place. */
    assert_true(response_recycle(r2));
    r = response_success_borrowing_payload(p1, "a", "t");
    assert_ptr_equal(r, r2);
    assert_string_equal(json_get_string(json_item(r, "metadata"), "agent"), "a");
    assert_string_equal(json_get_string(json_item(r, "metadata"), "traceId"), "t");
    assert_int_equal(json_item(json_item(r, "payload"), "a")->valueint, 1);
    cJSON_Delete(r);
    cJSON_Delete(fresh);
    cJSON_Delete(p1);
    cJSON_Delete(p2);
}

/* Anything that changed the shape: the response is freed, not kept. */
static void
refused(cJSON *payload, void (*change)(cJSON *r))
{
    cJSON *r, *next;

    empty_spare();
    r = response_success_borrowing_payload(payload, "echo", "tr");
    change(r);
    assert_false(response_recycle(r)); /* freed (ASan: no leak) */
    next = response_success_borrowing_payload(payload, "echo", "tr");
    assert_non_null(next);
    assert_true(response_borrows(next));
    cJSON_Delete(next);
}

static void
add_member(cJSON *r)
{
    cJSON_AddNumberToObject(r, "extra", 1);
}

static void
add_metadata(cJSON *r)
{
    cJSON_AddStringToObject(json_item(r, "metadata"), "latencyMs", "3");
}

static void
own_payload(cJSON *r)
{
    assert_int_equal(response_own(r), 0);
}

static void
set_error(cJSON *r)
{
    cJSON_ReplaceItemInObjectCaseSensitive(r, "error", cJSON_CreateObject());
}

static void
detach_agent(cJSON *r)
{
    cJSON_Delete(cJSON_DetachItemFromObjectCaseSensitive(json_item(r, "metadata"), "agent"));
}

static void
status_string(cJSON *r)
{
    cJSON_ReplaceItemInObjectCaseSensitive(r, "status", cJSON_CreateString("success"));
}

static void
test_changed_responses_are_not_kept(void **state)
{
    cJSON *p = cJSON_Parse(payload_text);

    (void)state;
    refused(p, add_member);
    refused(p, add_metadata);
    refused(p, own_payload);
    refused(p, set_error);
    refused(p, detach_agent);
    refused(p, status_string);
    cJSON_Delete(p);
}

/* An agent error comes back as its shell (the error freed, or moved out
 * first as FALLBACK moves it); the next agent error is that shell with the
 * new error, printed as a fresh one. */
static void
test_agent_error_shell_is_reused(void **state)
{
    cJSON *e1, *e2, *fresh, *moved;
    char *a, *b;

    (void)state;
    e1 = response_agent_error(error_info_new(ERR_AGENT_ERROR, "first", false, NULL), "f1", "t");
    assert_true(response_recycle(e1)); /* its error freed with it (ASan: no leak) */
    e2 = response_agent_error(error_info_new(ERR_AGENT_UNAVAILABLE, "second", true, NULL), "fail-2",
                              "trace-2");
    assert_ptr_equal(e2, e1);
    fresh = response_agent_error(error_info_new(ERR_AGENT_UNAVAILABLE, "second", true, NULL),
                                 "fail-2", "trace-2");
    a = printed(e2);
    b = printed(fresh);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* FALLBACK's way: the error moved out, the shell recycled. */
    moved = json_detach(e2, "error");
    assert_non_null(moved);
    assert_true(response_recycle(e2));
    assert_ptr_equal(response_agent_error(moved, "f3", "t3"), e2);
    assert_ptr_equal(json_item(e2, "error"), moved);
    assert_string_equal(json_get_string(json_item(e2, "metadata"), "agent"), "f3");
    cJSON_Delete(e2);
    cJSON_Delete(fresh);
    /* NULL error info: a fresh build says what it always said. */
    e1 = response_agent_error(NULL, "a", "t");
    assert_true(cJSON_IsNull(json_item(e1, "error")));
    cJSON_Delete(e1);
}

static void
test_other_responses_are_freed(void **state)
{
    cJSON *x = response_exhausted(NULL, "fallback", "t"); /* metadata "tas" */
    cJSON *ro = response_router_error(error_info_new(ERR_ROUTING_ERROR, "no", false, NULL), "r",
                                      "t"); /* "ast" */
    cJSON *s = response_success(cJSON_CreateObject(), "a", "t");
    cJSON *p = cJSON_Parse("{}"), *r;

    (void)state;
    empty_spare();
    assert_false(response_recycle(x));
    assert_false(response_recycle(ro));
    assert_false(response_recycle(s)); /* owns its payload */
    assert_false(response_recycle(NULL));
    /* One spare at most: the second is freed. */
    r = response_success_borrowing_payload(p, "a", "t");
    s = response_success_borrowing_payload(p, "a", "t");
    assert_true(response_recycle(r));
    assert_false(response_recycle(s));
    cJSON_Delete(response_success_borrowing_payload(p, "a", "t"));
    cJSON_Delete(p);
}

static void *
thread_keeps_one(void *arg)
{
    cJSON *p = arg;

    /* Left spare when the thread ends: its key's destructor frees it. */
    assert_true(response_recycle(response_success_borrowing_payload(p, "th", "tr")));
    return NULL;
}

static void
test_thread_spare_freed_with_thread(void **state)
{
    cJSON *p = cJSON_Parse(payload_text);
    pthread_t t;

    (void)state;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&t, NULL, thread_keeps_one, p), 0);
        pthread_join(t, NULL);
    }
    cJSON_Delete(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reused_response_prints_as_a_fresh_one),
        cmocka_unit_test(test_longer_strings_and_another_payload),
        cmocka_unit_test(test_changed_responses_are_not_kept),
        cmocka_unit_test(test_agent_error_shell_is_reused),
        cmocka_unit_test(test_other_responses_are_freed),
        cmocka_unit_test(test_thread_spare_freed_with_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
