/* End-to-end: WALs signed by the Python reference's own signer
 * (shared/reference/python, intentusnet/wal/signing.py), checked by the
 * real intentus binary: wal verify|inspect, recovery scan and records
 * verify with --public-key or the config's wal.public_key. Without python3
 * and its `cryptography`, or without the reference, each test is a counted
 * skip. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/json.h"
#include "tests/support/agent_testutil.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 10000

#define CONTAINS(hay, needle)                                                                      \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("'%s' not in:\n%s", (needle), (hay));                                         \
    } while (0)
#define LACKS(hay, needle)                                                                         \
    do {                                                                                           \
        if (strstr((hay), (needle)) != NULL)                                                       \
            fail_msg("'%s' unexpectedly in:\n%s", (needle), (hay));                                \
    } while (0)

struct ref {
    char pythonpath[PATH_MAX + 16]; /* "PYTHONPATH=<reference>" */
    char script[PATH_MAX];
    const char *python;
};

/* The reference and a python3 that can import its signer, or NULL. */
static int
setup(void **state)
{
    static struct ref ref; /* one per test binary */
    const char *env = getenv("INTENTUS_REFERENCE_PYTHON");
    char path[PATH_MAX], cmd[3 * PATH_MAX];

    *state = NULL;
    ref.python = tu_python();
    if (ref.python == NULL ||
        realpath(env != NULL && env[0] ? env : "../shared/reference/python", path) == NULL ||
        realpath("tests/support/ref_sign_wal.py", ref.script) == NULL)
        return 0;
    snprintf(ref.pythonpath, sizeof(ref.pythonpath), "PYTHONPATH=%s", path);
    snprintf(cmd, sizeof(cmd), "%s %s -c 'import intentusnet.wal.signing' >/dev/null 2>&1",
             ref.pythonpath, ref.python);
    if (system(cmd) != 0) {
        print_message("# python3 cannot import the reference's signer (cryptography missing?)\n");
        return 0;
    }
    *state = &ref;
    return 0;
}

static const struct ref *
need_ref(void **state)
{
    if (*state == NULL)
        skip();
    return *state;
}

/* The reference's helper script: mode and arguments, in dir. */
static void
py(const struct ref *ref, const char *dir, char *out, size_t size, ...)
{
    char *argv[12];
    char *const env[] = { (char *)ref->pythonpath, NULL };
    struct tu_run r;
    va_list ap;
    int n = 0;

    argv[n++] = (char *)ref->python;
    argv[n++] = (char *)ref->script;
    va_start(ap, size);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 11;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, NULL, env, TIMEOUT_MS, &r), 0);
    if (r.status != 0)
        fail_msg("ref_sign_wal.py %s failed: %s", argv[2], r.err);
    if (out != NULL)
        snprintf(out, size, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    tu_run_free(&r);
}

static void
run(const char *dir, struct tu_run *r, ...)
{
    char *argv[32], home[PATH_MAX + 8], xdg[PATH_MAX + 20];
    char *const env[] = { home, xdg, "INTENTUS_CONFIG=", "INTENTUSNET_RECORDS_PATH=", NULL };
    va_list ap;
    int n = 0;

    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", dir);
    argv[n++] = (char *)tu_bin();
    va_start(ap, r);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 31;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, NULL, env, TIMEOUT_MS, r), 0);
}

/* A fresh directory with wal/e1.wal written and signed by the reference;
 * keys in keys/. */
static char *
signed_wal(const struct ref *ref, char key_id[32])
{
    char *dir = tu_mkdtemp();

    py(ref, dir, key_id, 32, "new", "wal", "e1", "keys", NULL);
    assert_int_equal(strlen(key_id), 16);
    return dir;
}

static void
test_valid_signatures_verified(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], want[128], *dir = signed_wal(ref, key_id);
    static const char *const keys[] = { "keys/pub.pem", "keys/pub.raw", "keys/pub.hex" };
    struct tu_run r;
    cJSON *j;

    snprintf(want, sizeof(want), "WAL verified, signatures checked (key %s): 4 entries", key_id);
    for (size_t i = 0; i < 3; i++) {
        run(dir, &r, "wal", "verify", "e1", "-w", "wal", "--public-key", keys[i], NULL);
        assert_int_equal(r.status, 0);
        CONTAINS(r.out, want);
        tu_run_free(&r);
    }
    run(dir, &r, "wal", "verify", "e1", "-w", "wal", "-k", "keys/pub.pem", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(j);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "verified")));
    assert_string_equal(json_get_string(j, "signatures"), "checked");
    assert_string_equal(json_get_string(j, "signer_key_id"), key_id);
    cJSON_Delete(j);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* The bug: a signed WAL checked without a key said "WAL verified". */
static void
test_no_key_says_not_checked(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], *dir = signed_wal(ref, key_id);
    struct tu_run r;
    cJSON *j;

    py(ref, dir, NULL, 0, "forge", "wal/e1.wal", "2", NULL);
    run(dir, &r, "wal", "verify", "e1", "-w", "wal", NULL);
    assert_int_equal(r.status, 0); /* the chain is intact; nothing proves who wrote it */
    CONTAINS(r.out, "signatures not checked");
    CONTAINS(r.out, key_id);
    LACKS(r.out, "WAL verified");
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", "e1", "-w", "wal", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(j);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "verified")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "chain_verified")));
    assert_string_equal(json_get_string(j, "signatures"), "not checked");
    cJSON_Delete(j);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_forged_signature_fails(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], want[160], *dir = signed_wal(ref, key_id);
    struct tu_run r;

    py(ref, dir, NULL, 0, "forge", "wal/e1.wal", "3", NULL);
    run(dir, &r, "wal", "verify", "e1", "-w", "wal", "-k", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "seq 3: signature does not verify with key %s", key_id);
    CONTAINS(r.err, want);
    LACKS(r.out, "verified");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* Payload changed and the chain re-hashed: only the signature tells. */
static void
test_tampered_entry_fails(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], *dir = signed_wal(ref, key_id);
    struct tu_run r;

    py(ref, dir, NULL, 0, "tamper", "wal/e1.wal", "2", NULL);
    run(dir, &r, "wal", "verify", "e1", "-w", "wal", "-k", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 1);
    CONTAINS(r.err, "line 2: seq 2: signature does not verify");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_stripped_signature_fails(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], *dir = signed_wal(ref, key_id);
    struct tu_run r;

    py(ref, dir, NULL, 0, "strip", "wal/e1.wal", "4", NULL);
    run(dir, &r, "wal", "verify", "e1", "-w", "wal", "-k", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 1);
    CONTAINS(r.err, "seq 4: no signature");
    tu_run_free(&r);
    /* Detectable without the key too: a signed log must be signed throughout. */
    run(dir, &r, "wal", "verify", "e1", "-w", "wal", NULL);
    assert_int_equal(r.status, 1);
    CONTAINS(r.err, "seq 4: no signature");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
test_wrong_key_fails(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], other[32], want[160], *dir = signed_wal(ref, key_id);
    struct tu_run r;

    /* A second signer's keys, for a different log. */
    py(ref, dir, other, sizeof(other), "new", "wal2", "e2", "other", NULL);
    run(dir, &r, "wal", "verify", "e1", "-w", "wal", "-k", "other/pub.pem", NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "seq 1: signed by key %s, not by the given key %s", key_id, other);
    CONTAINS(r.err, want);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* recovery scan: a forged log is listed as corrupt, naming the seq. */
static void
test_recovery_scan_with_key(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], *dir = signed_wal(ref, key_id);
    struct tu_run r;

    run(dir, &r, "recovery", "scan", "-w", "wal", "-k", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "0 incomplete executions"); /* completed and authentic */
    tu_run_free(&r);
    py(ref, dir, NULL, 0, "forge", "wal/e1.wal", "1", NULL);
    run(dir, &r, "recovery", "scan", "-w", "wal", NULL);
    CONTAINS(r.out, "0 incomplete executions"); /* without the key it cannot tell */
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", "-w", "wal", "-k", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "e1");
    CONTAINS(r.out, "corrupt");
    CONTAINS(r.out, "seq 1: signature does not verify");
    CONTAINS(r.out, "signatures checked with key");
    tu_run_free(&r);
    run(dir, &r, "recovery", "resume", "e1", "-w", "wal", "-k", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 2); /* the option is scan's; never accepted and ignored */
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* The key from the config's wal.public_key, relative to the config file. */
static void
test_key_from_config(void **state)
{
    static const char cfg[] = "{\"wal\": {\"dir\": \"wal\", \"public_key\": \"../keys/pub.pem\"}}";
    const struct ref *ref = need_ref(state);
    char key_id[32], path[PATH_MAX], want[128], *dir = signed_wal(ref, key_id);
    struct tu_run r;

    snprintf(path, sizeof(path), "%s/conf", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/conf/intentus.json", dir);
    assert_int_equal(tu_write_file(path, cfg, strlen(cfg), 0600), 0);
    run(dir, &r, "wal", "verify", "e1", "--config", "conf/intentus.json", NULL);
    snprintf(want, sizeof(want), "signatures checked (key %s)", key_id);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, want);
    tu_run_free(&r);
    /* A key that does not load is a configuration error naming the key. */
    snprintf(path, sizeof(path), "%s/keys/pub.pem", dir);
    assert_int_equal(tu_write_file(path, "not a key\n", 10, 0600), 0);
    run(dir, &r, "wal", "verify", "e1", "--config", "conf/intentus.json", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "wal.public_key");
    CONTAINS(r.err, "keys/pub.pem");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* records verify: intentus routes with the WAL on, the reference's signer
 * signs that WAL; the record is checked against it with the key. */
static void
test_records_verify_signed_wal(void **state)
{
    static const char cfg[] =
        "{\"wal\": {\"enabled\": true, \"dir\": \"wal\"},"
        " \"agents\": [{\"name\":\"b\",\"builtin\":\"echo\",\"intents\":[\"t.x\"]}]}";
    const struct ref *ref = need_ref(state);
    char *dir = tu_mkdtemp(), path[PATH_MAX], id[64], rel[128], key_id[32], want[200];
    struct tu_run r;
    const char *p;

    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, cfg, strlen(cfg), 0600), 0);
    run(dir, &r, "route", "t.x", NULL);
    assert_int_equal(r.status, 0);
    p = strstr(r.err, "execution ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s", id), 1);
    tu_run_free(&r);
    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    py(ref, dir, key_id, sizeof(key_id), "sign", rel, "keys", NULL);

    run(dir, &r, "records", "verify", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "1 passed, 0 failed; 1 signed WAL: signatures not checked");
    tu_run_free(&r);
    run(dir, &r, "records", "verify", "-v", "--public-key", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "WAL signatures checked");
    CONTAINS(r.out, "1 passed, 0 failed\n");
    tu_run_free(&r);
    py(ref, dir, NULL, 0, "forge", rel, "2", NULL);
    run(dir, &r, "records", "verify", "--public-key", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "FAIL %s: wal_signature: line 2: seq 2: signature does not verify",
             id);
    CONTAINS(r.out, want);
    CONTAINS(r.out, "0 passed, 1 failed");
    tu_run_free(&r);
    run(dir, &r, "records", "list", "--public-key", "keys/pub.pem", NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_signatures_verified),
        cmocka_unit_test(test_no_key_says_not_checked),
        cmocka_unit_test(test_forged_signature_fails),
        cmocka_unit_test(test_tampered_entry_fails),
        cmocka_unit_test(test_stripped_signature_fails),
        cmocka_unit_test(test_wrong_key_fails),
        cmocka_unit_test(test_recovery_scan_with_key),
        cmocka_unit_test(test_key_from_config),
        cmocka_unit_test(test_records_verify_signed_wal),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
