/* A thread's next record reuses the buffers of its last one
 * (core/record_build.c): after one record, starting, filling and
 * finishing another allocates nothing the size of a record's buffers, and
 * the text is the same as from fresh buffers. The allocation counts
 * come from tests/support/alloc/malloc_count.c, which interposes malloc; a
 * sanitizer's allocator does not allow that: there that test is a counted
 * skip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/record_build.h"
#include "tests/support/alloc/malloc_count.h"

/* A canonical hash as admission hands it over (64 hex digits). */
static const char hash64[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static const char env_text[] =
    "{\"version\":\"1.0\",\"intent\":{\"name\":\"t.echo\",\"version\":\"1.0\"},"
    "\"payload\":{\"text\":\"hello\"},\"context\":{\"sourceAgent\":\"c\",\"timestamp\":\"t\","
    "\"priority\":\"low\",\"tags\":[]},\"metadata\":{\"requestId\":\"r\",\"source\":\"s\","
    "\"createdAt\":\"t\",\"traceId\":\"x\",\"identityChain\":[]},\"routing\":{\"strategy\":"
    "\"direct\",\"targetAgent\":null,\"fallbackAgents\":[]},\"routingMetadata\":{"
    "\"decisionPath\":[],\"retries\":0}}";

/* One record: started, five events, finished; its text with the id and
 * the times cut out (they differ from record to record). */
static char *
one_record(const cJSON *env, const cJSON *resp, size_t *len)
{
    struct intentus_err err = { 0 };
    struct record_build *rb =
        record_build_new(env, &(struct record_build_opts){ .hash = hash64 }, &err);
    const char *text;
    char *copy;

    assert_non_null(rb);
    for (int k = 0; k < 5; k++)
        record_build_event_text(rb, "TICK", "{\"k\": 1}", 8, 0);
    assert_int_equal(record_build_finish(rb, NULL, resp, 0), 0);
    text = record_build_text(rb, len);
    /* The test's own copy is not the builder's allocation. */
    malloc_count_pause();
    copy = malloc(*len + 1);
    malloc_count_resume();
    assert_non_null(copy);
    memcpy(copy, text, *len + 1);
    record_build_free(rb);
    return copy;
}

/* Both texts are whole records of the same shape: the same envelope hash,
 * the five events and the finish's, a final response (ids, times and
 * durations differ). */
static void
same_shape(const char *a, size_t na, const char *b, size_t nb)
{
    const char *t[2] = { a, b };
    size_t n[2] = { na, nb };
    int events[2];

    for (int i = 0; i < 2; i++) {
        cJSON *r = cJSON_ParseWithLength(t[i], n[i]);
        assert_non_null(r);
        assert_string_equal(json_get_string(json_item(r, "header"), "envelopeHash"), hash64);
        events[i] = cJSON_GetArraySize(json_item(r, "events"));
        assert_non_null(json_item(r, "finalResponse"));
        cJSON_Delete(r);
    }
    assert_true(events[0] >= 5);
    assert_int_equal(events[0], events[1]);
}

static void
test_second_record_reuses_buffers(void **state)
{
    cJSON *env, *resp;
    char long_text[3000];
    struct malloc_count mc;
    size_t n1, n2;
    char *t1, *t2;

    (void)state;
    if (!malloc_count_available())
        skip();
    env = cJSON_Parse(env_text);
    resp = cJSON_CreateObject();
    /* A response of 3 KB: its side buffer is one of those reused. */
    memset(long_text, 'r', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    cJSON_AddStringToObject(resp, "text", long_text);
    assert_non_null(env);
    t1 = one_record(env, resp, &n1);
    malloc_count_start();
    t2 = one_record(env, resp, &n2);
    malloc_count_stop(&mc);
    same_shape(t1, n1, t2, n2);
    if (mc.big != 0)
        fail_msg("a record after the first made %zu allocations of 2 KB or more", mc.big);
    free(t1);
    free(t2);
    cJSON_Delete(env);
    cJSON_Delete(resp);
}

/* The text taken away (as the async writer does) leaves nothing kept
 * behind to misuse: the next record still comes out whole. */
static void
test_taken_text_then_next_record(void **state)
{
    struct intentus_err err = { 0 };
    cJSON *env = cJSON_Parse(env_text), *resp = cJSON_Parse("{}");
    struct record_build *rb;
    size_t len, n2;
    char *taken, *t2;

    (void)state;
    rb = record_build_new(env, NULL, &err);
    assert_non_null(rb);
    assert_int_equal(record_build_finish(rb, NULL, resp, 0), 0);
    taken = record_build_take_text(rb, &len);
    assert_non_null(taken);
    record_build_free(rb);
    t2 = one_record(env, resp, &n2);
    assert_non_null(strstr(t2, hash64));
    assert_non_null(strstr(taken, "\"header\""));
    assert_int_equal(taken[len], '\0');
    free(taken);
    free(t2);
    cJSON_Delete(env);
    cJSON_Delete(resp);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_record_reuses_buffers),
        cmocka_unit_test(test_taken_text_then_next_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
