/* The serve hot path's core parts: runtime_route_is_instant (which
 * executions may run on an HTTP thread: only those every reachable agent
 * answers from memory, never with a WAL) and the router skipping the
 * envelope hash of an execution that is sampled out whatever happens; the
 * hand-written uuid and timestamp formatting (every request makes several)
 * against the snprintf formats they replaced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/runtime.h"
#include "core/uuid.h"
#include "tests/support/testutil.h"

static const char cfg_fmt[] =
    "{\"recording\": {\"dir\": \"%s/rec\"%s},%s"
    " \"agents\": ["
    "  {\"name\":\"echo\",\"builtin\":\"echo\",\"intents\":[\"t.echo\",\"t.mixed\"]},"
    "  {\"name\":\"upper\",\"builtin\":\"upper\",\"intents\":[\"t.upper\"]},"
    "  {\"name\":\"fail\",\"builtin\":\"fail\",\"intents\":[\"t.fail\"]},"
    "  {\"name\":\"retrying\",\"builtin\":\"flaky\",\"fail_rate\":0.5,\"idempotent\":true,"
    "   \"retry\":{\"max_attempts\":3,\"base_ms\":1},\"intents\":[\"t.retry\"]},"
    "  "
    "{\"name\":\"slow\",\"builtin\":\"slow\",\"delay_ms\":50,\"intents\":[\"t.slow\",\"t.mixed\"]},"
    "  {\"name\":\"sh\",\"kind\":\"exec\",\"argv\":[\"/bin/cat\"],\"intents\":[\"t.exec\"]}]}";

static struct runtime *
open_rt(const char *dir, const char *recording_extra, const char *top_extra)
{
    char path[600], text[4096];
    struct intentus_err err = { 0 };
    struct runtime *rt;

    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    snprintf(text, sizeof(text), cfg_fmt, dir, recording_extra, top_extra);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    rt = runtime_open(path, NULL, &err);
    if (rt == NULL)
        fail_msg("runtime_open: %s", err.msg);
    return rt;
}

static cJSON *
env_for(const char *intent, enum strategy s, const char *target, const char *const *fallback)
{
    struct envelope_opts o = { .strategy = s,
                               .priority = PRIORITY_NORMAL,
                               .target_agent = target,
                               .fallback_agents = fallback };
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new(intent, cJSON_Parse("{\"x\":1}"), &o, &err);

    assert_non_null(env);
    return env;
}

static bool
instant(struct runtime *rt, const char *intent, enum strategy s, const char *target,
        const char *const *fallback)
{
    cJSON *env = env_for(intent, s, target, fallback);
    bool r = runtime_route_is_instant(rt, env);

    cJSON_Delete(env);
    return r;
}

static void
test_instant_agents(void **state)
{
    char *dir = tu_mkdtemp();
    struct runtime *rt = open_rt(dir, "", "");
    static const char *const fb_slow[] = { "echo", "slow", NULL };
    static const char *const fb_fast[] = { "echo", "fail", NULL };

    (void)state;
    assert_true(instant(rt, "t.echo", STRATEGY_DIRECT, NULL, NULL));
    assert_true(instant(rt, "t.upper", STRATEGY_DIRECT, NULL, NULL));
    assert_true(instant(rt, "t.fail", STRATEGY_DIRECT, NULL, NULL));
    assert_true(instant(rt, "t.nobody", STRATEGY_DIRECT, NULL, NULL)); /* fails at once */
    assert_false(instant(rt, "t.slow", STRATEGY_DIRECT, NULL, NULL));
    assert_false(instant(rt, "t.mixed", STRATEGY_DIRECT, NULL, NULL)); /* echo and slow */
    assert_false(instant(rt, "t.retry", STRATEGY_DIRECT, NULL, NULL)); /* backoff sleeps */
    assert_false(instant(rt, "t.exec", STRATEGY_DIRECT, NULL, NULL));  /* a process */
    assert_false(instant(rt, "t.echo", STRATEGY_DIRECT, "slow", NULL));
    assert_true(instant(rt, "t.echo", STRATEGY_DIRECT, "echo", NULL));
    assert_false(instant(rt, "t.echo", STRATEGY_FALLBACK, NULL, fb_slow));
    assert_true(instant(rt, "t.echo", STRATEGY_FALLBACK, NULL, fb_fast));
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

/* With a WAL every execution writes (and may fsync) its log: never inline. */
static void
test_wal_never_instant(void **state)
{
    char *dir = tu_mkdtemp(), wal[600];
    struct runtime *rt;

    (void)state;
    snprintf(wal, sizeof(wal), " \"wal\": {\"enabled\": true, \"dir\": \"%s/wal\"},", dir);
    rt = open_rt(dir, "", wal);
    assert_false(instant(rt, "t.echo", STRATEGY_DIRECT, NULL, NULL));
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

/* Sampled out whatever happens (sample_rate 0, sample_errors false): no
 * record is built, so an envelope without a canonical hash (a number out of
 * range) is routed like any other instead of refused for its record. */
static void
test_sampled_out_needs_no_hash(void **state)
{
    char *dir = tu_mkdtemp();
    struct runtime *rt = open_rt(dir, ", \"sample_rate\": 0, \"sample_errors\": false", "");
    struct envelope_opts o = { .strategy = STRATEGY_DIRECT, .priority = PRIORITY_NORMAL };
    struct intentus_err err = { 0 };
    cJSON *payload = cJSON_CreateObject(), *env;
    struct route_result res;

    (void)state;
    cJSON_AddNumberToObject(payload, "big", 1e308 * 10); /* inf: no canonical form */
    env = envelope_new("t.echo", payload, &o, &err);
    assert_non_null(env);
    assert_int_equal(runtime_route(rt, env, &res), 0);
    assert_false(response_is_error(res.response));
    assert_true(res.sampled_out);
    assert_int_equal(tu_count_files(runtime_records_dir(rt), ".json"), 0);
    route_result_free(&res);
    cJSON_Delete(env);
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

/* What clock_format_iso printed with snprintf before. */
static void
iso_reference(int64_t wall_us, char out[CLOCK_ISO_LEN])
{
    time_t secs = (time_t)(wall_us / 1000000);
    long frac = (long)(wall_us % 1000000);
    struct tm tm;
    char tmp[96];

    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    gmtime_r(&secs, &tm);
    snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00",
             (tm.tm_year + 1900) % 10000, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
             tm.tm_sec, frac);
    snprintf(out, CLOCK_ISO_LEN, "%.32s", tmp);
}

static void
test_formats(void **state)
{
    static const int64_t fixed[] = { 0,
                                     1,
                                     -1,
                                     999999,
                                     1000000,
                                     -1000001,
                                     951782400000000LL,    /* 2000-02-29 */
                                     253402300799999999LL, /* 9999-12-31T23:59:59.999999 */
                                     253402300800000000LL, /* year 10000: the fallback */
                                     -62135596800000000LL, /* year 1 */
                                     -62167219200000001LL /* before year 0 */ };
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char got[CLOCK_ISO_LEN], want[CLOCK_ISO_LEN], id[UUID_STR_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        clock_format_iso(fixed[i], got);
        iso_reference(fixed[i], want);
        assert_string_equal(got, want);
    }
    for (int i = 0; i < 20000; i++) { /* anywhere in years 1970..2300 */
        int64_t t;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t = (int64_t)(x % 10413792000000000ULL);
        clock_format_iso(t, got);
        iso_reference(t, want);
        assert_string_equal(got, want);
    }
    /* Runs within one second and across them, forwards, backwards and
     * before the epoch: the text kept of the last second must never leak
     * into another one. */
    for (int i = 0; i < 20000; i++) {
        static const int64_t bases[] = { 1767225599000000LL, -1500000LL, 951782399999000LL };
        int64_t t = bases[i % 3] + (i / 3) * (i % 2 ? 7919 : -104729);
        clock_format_iso(t, got);
        iso_reference(t, want);
        assert_string_equal(got, want);
    }
    for (int i = 0; i < 1000; i++) {
        uuid_v4(id);
        assert_int_equal(strlen(id), 36);
        for (int k = 0; k < 36; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(id[k], '-');
            else
                assert_non_null(strchr("0123456789abcdef", id[k]));
        }
        assert_int_equal(id[14], '4');
        assert_non_null(strchr("89ab", id[19]));
    }
    uuid_v7(0x0123456789abLL, id);
    assert_memory_equal(id, "01234567-89ab-7", 15);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_instant_agents),
        cmocka_unit_test(test_wal_never_instant),
        cmocka_unit_test(test_sampled_out_needs_no_hash),
        cmocka_unit_test(test_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
