/* The streaming record serializer (core/record_build.c), the strategy
 * table (core/strategy.c) and syscall-free ids (core/uuid.c).
 *
 * The serializer must write exactly what json_print_pretty writes for the
 * same tree: objects written member by member at any depth are compared
 * with the tree printer's text, and a whole record is parsed back, checked
 * as the reference's loader checks it and printed again, which must give
 * the same bytes. test_record_golden.c compares whole routed records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/record.h"
#include "core/record_build.h"
#include "core/strategy.h"
#include "core/uuid.h"

static cJSON *
parse(const char *text)
{
    struct intentus_err err = { 0 };
    cJSON *v = json_parse(text, strlen(text), 0, &err);

    if (v == NULL)
        fail_msg("parse %s: %s", text, err.msg);
    return v;
}

/* rec_obj_* at every level against the tree printer, with the same keys,
 * escapes and numbers. */
static void
test_objects_match_the_tree_printer(void **state)
{
    cJSON *nested =
        parse("{\"a\":[1,2.50,{\"b\":null}],\"c\":{},\"d\":[],\"e\":\"\\u0000\\ud800x\"}");
    (void)state;
    for (int level = 0; level < 6; level++) {
        struct buf got = BUF_INIT, want = BUF_INIT;
        struct rec_obj o;
        cJSON *tree = cJSON_CreateObject(), *wrap = cJSON_CreateObject(), *inner = wrap;

        cJSON_AddStringToObject(tree, "agent", "a \"q\" \\ \n\t\x01 é 🚀");
        cJSON_AddNumberToObject(tree, "index", 0);
        cJSON_AddNumberToObject(tree, "big", 9007199254740991.0);
        cJSON_AddNumberToObject(tree, "neg", -42);
        cJSON_AddBoolToObject(tree, "yes", true);
        cJSON_AddBoolToObject(tree, "no", false);
        cJSON_AddItemToObject(tree, "tree", cJSON_Duplicate(nested, 1));
        cJSON_AddNullToObject(tree, "none");
        /* The tree's object sits level containers deep in a document. */
        for (int i = 0; i < level; i++) {
            cJSON *next = cJSON_CreateObject();
            cJSON_AddItemToObject(inner, "k", next);
            inner = next;
        }
        cJSON_AddItemToObject(inner, "obj", tree);
        assert_int_equal(json_print_pretty(wrap, &want), 0);

        /* The same document, the innermost object streamed. */
        buf_puts(&got, "{");
        for (int i = 0; i < level; i++) {
            buf_putc(&got, '\n');
            for (int k = 0; k <= i; k++)
                buf_puts(&got, "  ");
            buf_puts(&got, "\"k\": {");
        }
        buf_putc(&got, '\n');
        for (int k = 0; k <= level; k++)
            buf_puts(&got, "  ");
        buf_puts(&got, "\"obj\": ");
        rec_obj_begin(&o, &got, level + 1);
        rec_obj_str(&o, "agent", "a \"q\" \\ \n\t\x01 é 🚀");
        rec_obj_int(&o, "index", 0);
        rec_obj_int(&o, "big", 9007199254740991LL);
        rec_obj_int(&o, "neg", -42);
        rec_obj_bool(&o, "yes", true);
        rec_obj_bool(&o, "no", false);
        assert_int_equal(rec_obj_json(&o, "tree", nested), 0);
        assert_int_equal(rec_obj_json(&o, "none", NULL), 0);
        rec_obj_end(&o);
        for (int i = level; i >= 0; i--) {
            buf_putc(&got, '\n');
            for (int k = 0; k < i; k++)
                buf_puts(&got, "  ");
            buf_putc(&got, '}');
        }
        assert_string_equal(got.data, want.data);
        buf_free(&got);
        buf_free(&want);
        cJSON_Delete(wrap);
    }
    /* An empty object is {} at any depth. */
    {
        struct buf b = BUF_INIT;
        struct rec_obj o;
        rec_obj_begin(&o, &b, 3);
        rec_obj_end(&o);
        assert_string_equal(b.data, "{}");
        buf_free(&b);
    }
    cJSON_Delete(nested);
}

static const char env_text[] =
    "{\"version\":\"1.0\",\"intent\":{\"name\":\"t.x\",\"version\":\"1.0\"},"
    "\"payload\":{\"text\":\"h\\u00e9\",\"n\":[1,2.50,1e3]},\"context\":{},"
    "\"metadata\":{\"requestId\":\"r\",\"traceId\":\"t\"},"
    "\"routing\":{\"strategy\":\"direct\"},\"routingMetadata\":{\"retries\":0}}";

/* A whole record: valid as the reference loads it, its hash verifies, and
 * it is exactly json_print_pretty of itself (the pretty layout). The
 * envelope is the one at the start, whatever happens to it later. */
static void
test_record_round_trips_byte_for_byte(void **state)
{
    struct intentus_err err = { 0 };
    cJSON *env = parse(env_text),
          *decision = parse("{\"agent\":\"a\",\"reason\":\"direct match\"}");
    cJSON *resp = parse("{\"success\":true,\"payload\":{\"deep\":{\"x\":[{}]}}}"), *tree;
    struct record_build *rb =
        record_build_new(env, &(struct record_build_opts){ .original_hash = "abc" }, &err);
    struct buf again = BUF_INIT, *b;
    struct rec_obj o;
    const char *text;
    size_t len;

    (void)state;
    assert_non_null(rb);
    cJSON_ReplaceItemInObject(env, "version", cJSON_CreateString("changed later"));
    b = record_build_event_begin(rb, "INTENT_RECEIVED");
    rec_obj_begin(&o, b, REC_PAYLOAD_LEVEL);
    rec_obj_str(&o, "intent", "t.x");
    rec_obj_end(&o);
    record_build_event_end(rb, 0); /* before the start: offset 0 */
    record_build_event_text(rb, "EMPTY", "{}", 2, clock_mono_us() + 5);
    assert_int_equal(record_build_finish(rb, decision, resp, 3), 0);
    text = record_build_text(rb, &len);
    assert_int_equal(strlen(text), len);
    tree = record_parse(text, len, &err);
    if (tree == NULL)
        fail_msg("record: %s", err.msg);
    assert_int_equal(record_verify_hash(tree, &err), 0);
    assert_int_equal(json_print_pretty(tree, &again), 0);
    assert_int_equal(again.len, len);
    assert_memory_equal(again.data, text, len);
    assert_string_equal(record_id(tree), record_build_id(rb));
    assert_string_equal(
        json_get_string(cJSON_GetObjectItem(tree, "header"), "originalEnvelopeHash"), "abc");
    assert_string_equal(json_get_string(cJSON_GetObjectItem(tree, "envelope"), "version"), "1.0");
    {
        const cJSON *ev = cJSON_GetObjectItem(tree, "events");
        assert_int_equal(cJSON_GetArraySize(ev), 4); /* + ROUTER_DECISION, FINAL_RESPONSE */
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ev, 0), "offsetUs")->valueint, 0);
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(ev, 3), "seq")->valueint, 4);
        assert_int_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(tree, "routingMetadata"), "retries")->valueint,
            3);
    }
    cJSON_Delete(tree);
    /* The parsed form for redaction is the same record. */
    tree = record_build_tree(rb, &err);
    assert_non_null(tree);
    buf_reset(&again);
    assert_int_equal(json_print_pretty(tree, &again), 0);
    assert_memory_equal(again.data, text, len);
    cJSON_Delete(tree);
    buf_free(&again);
    record_build_free(rb);
    cJSON_Delete(env);
    cJSON_Delete(decision);
    cJSON_Delete(resp);
}

/* A finished record's text parsed back, and its createdUtcIso in *created. */
static cJSON *
finished_tree(const struct record_build *rb, int64_t *created)
{
    struct intentus_err err = { 0 };
    size_t len;
    const char *text = record_build_text(rb, &len);
    cJSON *tree = record_parse(text, len, &err);

    assert_non_null(tree);
    assert_int_equal(
        clock_parse_iso(json_get_string(cJSON_GetObjectItem(tree, "header"), "createdUtcIso"),
                        created),
        0);
    return tree;
}

/* ts is start + offsetUs, formatted, for events across second boundaries
 * (the date is formatted once per second, the microseconds each time). */
static void
test_event_times_across_seconds(void **state)
{
    struct intentus_err err = { 0 };
    cJSON *env = parse(env_text), *resp = parse("{}"), *tree;
    struct record_build *rb = record_build_new(env, NULL, &err);
    const cJSON *ev;
    int64_t start, now = clock_mono_us();

    (void)state;
    assert_non_null(rb);
    for (int k = 0; k < 40; k++)
        record_build_event_text(rb, "TICK", "{}", 2, now + (int64_t)k * 123457);
    assert_int_equal(record_build_finish(rb, NULL, resp, 0), 0);
    tree = finished_tree(rb, &start);
    cJSON_ArrayForEach(ev, cJSON_GetObjectItem(tree, "events"))
    {
        char want[CLOCK_ISO_LEN];
        clock_format_iso(start + (int64_t)cJSON_GetObjectItem(ev, "offsetUs")->valuedouble, want);
        assert_string_equal(json_get_string(ev, "ts"), want);
    }
    cJSON_Delete(tree);
    record_build_free(rb);
    cJSON_Delete(env);
    cJSON_Delete(resp);
}

/* Timestamps are formatted from a per-thread cache of the last second
 * (clock_format_iso): a record whose last event ran seconds ahead (a mono
 * time in the future; freed unfinished, so no final event comes later)
 * must not lend the next record its second: every createdUtcIso is the
 * wall time its record started at. */
static void
test_created_after_a_record_that_ran_ahead(void **state)
{
    struct intentus_err err = { 0 };
    cJSON *env = parse(env_text), *resp = parse("{}");

    (void)state;
    for (int k = 0; k < 6; k++) {
        struct record_build *ahead = record_build_new(env, NULL, &err), *rb;
        int64_t before, after, created;
        cJSON *tree;
        assert_non_null(ahead);
        record_build_event_text(ahead, "TICK", "{}", 2, clock_mono_us() + 2500000);
        record_build_free(ahead);
        before = clock_wall_us();
        rb = record_build_new(env, NULL, &err);
        after = clock_wall_us();
        assert_non_null(rb);
        assert_int_equal(record_build_finish(rb, NULL, resp, 0), 0);
        tree = finished_tree(rb, &created);
        assert_true(created >= before && created <= after);
        cJSON_Delete(tree);
        record_build_free(rb);
    }
    cJSON_Delete(env);
    cJSON_Delete(resp);
}

/* An envelope without a canonical hash (a number out of range) starts no
 * record, and says why. */
static void
test_unhashable_envelope_is_refused(void **state)
{
    struct intentus_err err = { 0 };
    cJSON *env = parse("{\"payload\":{\"n\":1e999999}}");

    (void)state;
    assert_null(record_build_new(env, NULL, &err));
    assert_int_equal(err.code, IERR_INVALID);
    assert_non_null(strstr(err.msg, "envelope hash"));
    cJSON_Delete(env);
}

/* One ops table per strategy; unknown strategies route as FALLBACK. */
static void
test_strategy_table(void **state)
{
    (void)state;
    assert_ptr_equal(strategy_find(STRATEGY_DIRECT), &strategy_direct_ops);
    assert_ptr_equal(strategy_find(STRATEGY_FALLBACK), &strategy_fallback_ops);
    assert_ptr_equal(strategy_find(STRATEGY_BROADCAST), &strategy_broadcast_ops);
    assert_ptr_equal(strategy_find(STRATEGY_PARALLEL), &strategy_parallel_ops);
    assert_ptr_equal(strategy_find(STRATEGY_UNKNOWN), &strategy_fallback_ops);
    for (int s = 0; s < STRATEGY_COUNT; s++) {
        const struct strategy_ops *ops = strategy_find((enum strategy)s);
        assert_int_equal(ops->id, s);
        assert_string_equal(ops->name, model_strategy_event((enum strategy)s));
        assert_non_null(ops->run);
        assert_int_equal(ops->nondeterministic, s == STRATEGY_PARALLEL);
    }
}

/* Ids from the per-thread generator: version and variant bits, unique, and
 * a forked child does not repeat its parent's sequence. */
static void
test_ids_unique_across_fork(void **state)
{
    char seen[2000][UUID_STR_LEN], mine[UUID_STR_LEN], theirs[UUID_STR_LEN] = "";
    int fds[2], status;
    pid_t pid;

    (void)state;
    for (int i = 0; i < 2000; i++) {
        uuid_v7(1700000000000, seen[i]);
        assert_true(uuid_is_valid(seen[i]));
        assert_int_equal(seen[i][14], '7');
        assert_non_null(strchr("89ab", seen[i][19]));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(seen[i], seen[j]);
    }
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[UUID_STR_LEN];
        uuid_v7(1700000000000, id);
        _exit(write(fds[1], id, UUID_STR_LEN) == UUID_STR_LEN ? 0 : 1);
    }
    close(fds[1]);
    uuid_v7(1700000000000, mine);
    assert_int_equal(read(fds[0], theirs, UUID_STR_LEN), UUID_STR_LEN);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_not_equal(mine, theirs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_match_the_tree_printer),
        cmocka_unit_test(test_record_round_trips_byte_for_byte),
        cmocka_unit_test(test_event_times_across_seconds),
        cmocka_unit_test(test_created_after_a_record_that_ran_ahead),
        cmocka_unit_test(test_unhashable_envelope_is_refused),
        cmocka_unit_test(test_strategy_table),
        cmocka_unit_test(test_ids_unique_across_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
