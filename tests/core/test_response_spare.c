/* The spare responses and errors (core/model.h, response_recycle and
 * error_info_recycle): a borrowing success, an agent error or an error
 * info built from a thread's spare prints exactly as a fresh one, one
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

/* Nothing spare in the thread's error slots: take (and free) all of them. */
static void
no_spare_errors(void)
{
    for (int i = 0; i < 8; i++)
        cJSON_Delete(error_info_new(ERR_AGENT_ERROR, "x", false, NULL));
}

static char *
compact(const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);

    assert_non_null(text);
    return text;
}

/* A recycled error is the next error_info_new without details, printed as
 * a fresh one: shorter and longer messages, the other code and retryable,
 * and one that came back still keyed "error" (moved out of a response). */
static void
test_error_info_is_reused(void **state)
{
    cJSON *e1, *e2, *fresh, *resp, *moved;
    char *a, *b;

    (void)state;
    no_spare_errors();
    e1 = error_info_new(ERR_AGENT_ERROR, "a first, longish message", false, NULL);
    assert_true(error_info_recycle(e1));
    e2 = error_info_new(ERR_AGENT_UNAVAILABLE, "short", true, NULL);
    assert_ptr_equal(e2, e1);
    fresh = error_info_new(ERR_AGENT_UNAVAILABLE, "short", true, NULL);
    assert_ptr_not_equal(fresh, e2);
    a = compact(e2);
    b = compact(fresh);
    assert_string_equal(a, b);
    free(a);
    free(b);
    /* Longer than the spare's message: a new string, the same text. */
    assert_true(error_info_recycle(e2));
    e2 = error_info_new(ERR_AGENT_TIMEOUT, "a message much longer than any the spare held before",
                        false, NULL);
    assert_ptr_equal(e2, e1);
    a = compact(e2);
    assert_string_equal(a,
                        "{\"code\":\"AGENT_TIMEOUT\",\"message\":\"a message much longer than any "
                        "the spare held before\",\"retryable\":false,\"details\":{}}");
    free(a);
    /* FALLBACK's way: linked into a response, moved out, recycled. */
    resp = response_agent_error(e2, "f1", "t1");
    moved = json_detach(resp, "error");
    assert_ptr_equal(moved, e2);
    assert_true(error_info_recycle(moved));
    cJSON_Delete(resp);
    e2 = error_info_new(ERR_AGENT_ERROR, NULL, false, NULL);
    assert_ptr_equal(e2, e1);
    assert_null(e2->string); /* standalone again, as a fresh one is */
    a = compact(e2);
    assert_string_equal(a, "{\"code\":\"AGENT_ERROR\",\"message\":\"\",\"retryable\":false,"
                           "\"details\":{}}");
    free(a);
    /* An agent error response recycled takes its error with it. */
    resp = response_agent_error(e2, "f2", "t2");
    assert_true(response_recycle(resp));
    assert_ptr_equal(error_info_new(ERR_AGENT_ERROR, "again", false, NULL), e1);
    cJSON_Delete(e1);
    cJSON_Delete(fresh);
    no_spare_errors();
}

static void
err_add_member(cJSON *e)
{
    cJSON_AddNumberToObject(e, "extra", 1);
}
static void
err_details_filled(cJSON *e)
{
    cJSON_AddStringToObject(json_item(e, "details"), "why", "x");
}
static void
err_message_number(cJSON *e)
{
    cJSON_ReplaceItemInObjectCaseSensitive(e, "message", cJSON_CreateNumber(3));
}
static void
err_code_copied(cJSON *e)
{
    cJSON_ReplaceItemInObjectCaseSensitive(e, "code", cJSON_CreateString("AGENT_ERROR"));
}
static void
err_retryable_null(cJSON *e)
{
    cJSON_ReplaceItemInObjectCaseSensitive(e, "retryable", cJSON_CreateNull());
}
static void
err_detach_details(cJSON *e)
{
    cJSON_Delete(json_detach(e, "details"));
}

/* Changed in any of these ways, an error is freed, never kept; one built
 * with details is not taken from a spare; a thread keeps four at most. */
static void
test_changed_errors_are_not_kept(void **state)
{
    void (*const change[])(cJSON *) = { err_add_member,  err_details_filled, err_message_number,
                                        err_code_copied, err_retryable_null, err_detach_details };
    cJSON *kept[5], *d;

    (void)state;
    no_spare_errors();
    for (size_t i = 0; i < sizeof(change) / sizeof(change[0]); i++) {
        cJSON *e = error_info_new(ERR_AGENT_ERROR, "m", false, NULL);
        change[i](e);
        assert_false(error_info_recycle(e));
    }
    assert_false(error_info_recycle(NULL));
    d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "k", "v");
    kept[0] = error_info_new(ERR_AGENT_ERROR, "m", false, NULL);
    assert_true(error_info_recycle(kept[0]));
    kept[1] = error_info_new(ERR_AGENT_ERROR, "m", false, d); /* fresh: the spare waits */
    assert_ptr_not_equal(kept[1], kept[0]);
    assert_string_equal(json_get_string(json_item(kept[1], "details"), "k"), "v");
    assert_false(error_info_recycle(kept[1]));
    assert_ptr_equal(error_info_new(ERR_AGENT_ERROR, "m", false, NULL), kept[0]);
    cJSON_Delete(kept[0]);
    for (int i = 0; i < 5; i++)
        kept[i] = error_info_new(ERR_AGENT_ERROR, "m", false, NULL);
    for (int i = 0; i < 4; i++)
        assert_true(error_info_recycle(kept[i]));
    assert_false(error_info_recycle(kept[4]));
    no_spare_errors();
}

static void *
thread_keeps_one(void *arg)
{
    cJSON *p = arg;

    /* Left spare when the thread ends: its key's destructor frees it. */
    assert_true(response_recycle(response_success_borrowing_payload(p, "th", "tr")));
    assert_true(error_info_recycle(error_info_new(ERR_AGENT_ERROR, "kept", false, NULL)));
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
        cmocka_unit_test(test_error_info_is_reused),
        cmocka_unit_test(test_changed_errors_are_not_kept),
        cmocka_unit_test(test_thread_spare_freed_with_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
