/* Building and saving a record costs next to no heap requests of its own
 * (issue 16): a DIRECT route whose record is built (then sampled out, or
 * saved to a record directory) allocates what the same route with
 * recording off allocates plus one: the record's text, its events and its
 * builder live in buffers each thread reuses (core/record_build.c), the
 * envelope's hash reuses its thread's digest context (core/json_canon.c);
 * the one left is OpenSSL 3.0's digest state, allocated by every
 * EVP_DigestInit_ex. Before: three (the builder, the digest context and
 * that state). The counts come from
 * tests/support/alloc/malloc_count.c, which interposes malloc; a
 * sanitizer's allocator does not allow that: there the routes still run
 * and the comparisons are counted skips. */
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
#include "core/registry.h"
#include "core/router.h"
#include "tests/support/agent_testutil.h"
#include "tests/support/alloc/malloc_count.h"
#include "tests/support/testutil.h"

/* OpenSSL 3.0's EVP_DigestInit_ex allocates its provider state each time. */
#define DIGEST_INIT_ALLOCS 1

static const char cfg_text[] =
    "{\"defaults\": {\"breaker\": {\"enabled\": false}}, \"agents\": ["
    "{\"name\":\"echo-a\",\"builtin\":\"echo\",\"intents\":[\"t.echo\"]}]}";

/* About the bench's 200 byte payload. */
static const char payload_text[] =
    "{\"query\":\"route the intent café to an agent\",\"lang\":\"en\",\"maxResults\":10,"
    "\"temperature\":0.25,\"items\":[{\"id\":1,\"score\":12.5,\"tags\":[\"a\",\"b\"],"
    "\"text\":\"naïve façade summary\"}]}";

struct fixture {
    struct config *cfg;
    char *dir;
    struct rec_store *store;
    struct router *off, *sampled, *saved;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct intentus_err err = { 0 };

    assert_non_null(f);
    f->cfg = config_parse(cfg_text, strlen(cfg_text), "test", &err);
    if (f->cfg == NULL)
        fail_msg("config: %s", err.msg);
    f->dir = tu_mkdtemp();
    f->store = rec_store_open(f->dir, &(struct rec_store_opts){ .create = true }, &err);
    if (f->store == NULL)
        fail_msg("store: %s", err.msg);
    f->off =
        router_new(f->cfg->registry, &(struct router_opts){ .require_determinism = true }, &err);
    /* Built, then sampled out: rate 0 keeps errors only. */
    f->sampled = router_new(f->cfg->registry,
                            &(struct router_opts){ .require_determinism = true,
                                                   .store = f->store,
                                                   .sample = true,
                                                   .sample_rate = 0,
                                                   .sample_errors = true },
                            &err);
    f->saved =
        router_new(f->cfg->registry,
                   &(struct router_opts){ .require_determinism = true, .store = f->store }, &err);
    assert_non_null(f->off);
    assert_non_null(f->sampled);
    assert_non_null(f->saved);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    router_free(f->off);
    router_free(f->sampled);
    router_free(f->saved);
    rec_store_close(f->store);
    config_free(f->cfg);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static cJSON *
envelope(void)
{
    struct intentus_err err = { 0 };
    cJSON *env = tu_envelope("t.echo", STRATEGY_DIRECT, payload_text, &err);

    if (env == NULL)
        fail_msg("envelope: %s", err.msg);
    return env;
}

/* Allocations of one route of a copy of env through r. */
static size_t
route_allocs(struct router *r, const cJSON *env, bool want_recorded, bool want_sampled_out)
{
    struct malloc_count mc;
    struct route_result res;
    cJSON *copy = cJSON_Duplicate(env, 1);
    int rc;

    assert_non_null(copy);
    malloc_count_start();
    rc = router_route(r, copy, &res);
    malloc_count_stop(&mc);
    assert_int_equal(rc, 0);
    assert_non_null(res.response);
    assert_false(response_is_error(res.response));
    if (res.record_err.code != IERR_OK)
        fail_msg("recording failed: %s", res.record_err.msg);
    assert_int_equal(res.recorded, want_recorded);
    assert_int_equal(res.sampled_out, want_sampled_out);
    route_result_free(&res);
    cJSON_Delete(copy);
    return mc.calls;
}

/* Routes until the per-thread state (ids, clocks, kept buffers) settles. */
static void
settle(struct router *r, const cJSON *env, bool rec, bool out)
{
    for (int i = 0; i < 3; i++)
        (void)route_allocs(r, env, rec, out);
}

static void
test_record_built_allocates_nothing_more(void **state)
{
    struct fixture *f = *state;
    cJSON *env = envelope();
    size_t off, built;

    settle(f->off, env, false, false);
    settle(f->sampled, env, false, true);
    off = route_allocs(f->off, env, false, false);
    built = route_allocs(f->sampled, env, false, true);
    cJSON_Delete(env);
    if (!malloc_count_available())
        skip();
    print_message("DIRECT: %zu allocations recording off, %zu with the record built\n", off, built);
    if (built > off + DIGEST_INIT_ALLOCS)
        fail_msg("building the record of a DIRECT route made %zu allocations of its own "
                 "(%zu against %zu with recording off)",
                 built - off, built, off);
}

static void
test_record_saved_allocates_nothing_more(void **state)
{
    struct fixture *f = *state;
    cJSON *env = envelope();
    size_t off, saved;

    settle(f->off, env, false, false);
    settle(f->saved, env, true, false);
    off = route_allocs(f->off, env, false, false);
    saved = route_allocs(f->saved, env, true, false);
    cJSON_Delete(env);
    if (!malloc_count_available())
        skip();
    print_message("DIRECT: %zu allocations recording off, %zu with the record saved\n", off, saved);
    if (saved > off + DIGEST_INIT_ALLOCS)
        fail_msg("building and saving the record of a DIRECT route made %zu allocations of its "
                 "own (%zu against %zu with recording off)",
                 saved - off, saved, off);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_built_allocates_nothing_more, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_saved_allocates_nothing_more, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
