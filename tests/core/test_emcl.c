/* core/emcl.c against the reference's own EMCL code.
 *
 * tests/data/emcl/vectors.json was produced by the reference (AES-GCM with
 * its os.urandom fixed, and SimpleHMAC) with
 *   PYTHONPATH=../shared/reference/python python3 tests/support/ref_emcl.py vectors \
 *       > tests/data/emcl/vectors.json
 * and needs no python here. The live tests run the reference's providers
 * (tests/support/ref_emcl.py) in both directions; they are counted skips
 * when python3 cannot import them. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/emcl.h"
#include "core/json.h"
#include "tests/support/emcl_testutil.h"
#include "tests/support/testutil.h"

static cJSON *
parse(const char *text)
{
    struct intentus_err err = { 0 };
    cJSON *v = json_parse(text, strlen(text), 0, &err);

    if (v == NULL)
        fail_msg("bad JSON in the test: %s: %s", err.msg, text);
    return v;
}

static char *
compact(const cJSON *v)
{
    struct buf b = BUF_INIT;

    assert_int_equal(json_print_compact(v, &b), 0);
    return buf_take(&b);
}

static void
assert_json_equal(const cJSON *a, const cJSON *b)
{
    char *x = compact(a), *y = compact(b);

    if (strcmp(x, y) != 0)
        fail_msg("JSON differs:\n  %s\n  %s", x, y);
    free(x);
    free(y);
}

static struct emcl_key *
key(const char *secret, enum emcl_mode mode, const char *identity)
{
    struct intentus_err err = { 0 };
    struct emcl_key *k = emcl_key_new(secret, strlen(secret), mode, identity, &err);

    if (k == NULL)
        fail_msg("emcl_key_new: %s", err.msg);
    return k;
}

static cJSON *
load_vectors(void)
{
    char path[PATH_MAX];
    size_t len;
    char *text;
    cJSON *v;

    snprintf(path, sizeof(path), "%s/emcl/vectors.json", tu_data_dir());
    text = tu_read_file(path, &len);
    assert_non_null(text);
    v = parse(text);
    free(text);
    assert_true(cJSON_GetArraySize(v) >= 3);
    return v;
}

/* Envelopes sealed by the reference (AES-GCM: a 32-byte key used as is and a
 * passphrase hashed with SHA-256; SimpleHMAC) open to the same body. */
static void
test_reference_vectors_open(void **state)
{
    cJSON *vectors = load_vectors(), *v;

    (void)state;
    cJSON_ArrayForEach(v, vectors)
    {
        const char *mode = cJSON_GetObjectItem(v, "mode")->valuestring;
        struct emcl_key *k =
            key(cJSON_GetObjectItem(v, "key")->valuestring,
                strcmp(mode, "hmac") == 0 ? EMCL_MODE_HMAC : EMCL_MODE_AES_GCM, NULL);
        struct intentus_err err = { 0 };
        enum emcl_fail why = EMCL_MALFORMED;
        cJSON *body = emcl_open(k, cJSON_GetObjectItem(v, "envelope"), &why, &err);
        if (body == NULL)
            fail_msg("vector (%s) does not open: %s", mode, err.msg);
        assert_int_equal(why, EMCL_OK);
        assert_json_equal(body, cJSON_GetObjectItem(v, "body"));
        cJSON_Delete(body);
        emcl_key_free(k);
    }
    cJSON_Delete(vectors);
}

/* What intentus seals has the reference's shape: the four keys, a 12-byte
 * nonce in padded base64, tag "" and ciphertext = plaintext + 16. */
static void
test_seal_shape(void **state)
{
    struct emcl_key *k = key("k", EMCL_MODE_AES_GCM, NULL);
    cJSON *body = parse("{\"a\":\"hello\"}"), *env, *it;
    struct intentus_err err = { 0 };
    const char *keys[] = { "cipherText", "iv", "tag", "identityChain" };
    size_t i = 0;

    (void)state;
    env = emcl_seal(k, body, &err);
    assert_non_null(env);
    cJSON_ArrayForEach(it, env)
    {
        assert_true(i < 4);
        assert_string_equal(it->string, keys[i++]);
    }
    assert_int_equal(i, 4);
    assert_int_equal(strlen(cJSON_GetObjectItem(env, "iv")->valuestring), 16);
    /* {"a":"hello"} is 13 bytes; +16 tag = 29 -> 40 base64 characters */
    assert_int_equal(strlen(cJSON_GetObjectItem(env, "cipherText")->valuestring), 40);
    assert_string_equal(cJSON_GetObjectItem(env, "tag")->valuestring, "");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(env, "identityChain")), 0);
    /* no plaintext in the envelope */
    {
        char *text = compact(env);
        assert_null(strstr(text, "hello"));
        free(text);
    }
    cJSON_Delete(env);
    cJSON_Delete(body);
    emcl_key_free(k);
}

static void
flip_base64_char(char *s, size_t at)
{
    s[at] = s[at] == 'A' ? 'B' : 'A';
}

/* Tampered ciphertext, wrong key, wrong identity chain, malformed
 * envelope, non-object plaintext: each fails, each with its own reason. */
static void
test_failures_are_distinct(void **state)
{
    struct emcl_key *k = key("right key", EMCL_MODE_AES_GCM, "intentus-a");
    struct emcl_key *wrong = key("wrong key", EMCL_MODE_AES_GCM, NULL);
    cJSON *body = parse("{\"metadata\":{\"identityChain\":[\"client\"]},\"p\":1}"), *env, *t, *o;
    struct intentus_err err = { 0 };
    enum emcl_fail why;
    char *ct;

    (void)state;
    env = emcl_seal(k, body, &err);
    assert_non_null(env);
    /* the chain: the body's, extended with the identity, in both places */
    o = emcl_open(k, env, &why, &err);
    assert_non_null(o);
    assert_int_equal(why, EMCL_OK);
    t = parse("[\"client\",\"intentus-a\"]");
    assert_json_equal(cJSON_GetObjectItem(env, "identityChain"), t);
    assert_json_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metadata"), "identityChain"), t);
    cJSON_Delete(t);
    cJSON_Delete(o);

    /* tampered ciphertext */
    t = cJSON_Duplicate(env, 1);
    ct = cJSON_GetObjectItem(t, "cipherText")->valuestring;
    flip_base64_char(ct, strlen(ct) / 2);
    assert_null(emcl_open(k, t, &why, &err));
    assert_int_equal(why, EMCL_AUTH_FAILED);
    assert_int_equal(err.code, IERR_VERIFY);
    assert_non_null(strstr(err.msg, "AUTH_FAILED"));
    cJSON_Delete(t);

    /* wrong key */
    assert_null(emcl_open(wrong, env, &why, &err));
    assert_int_equal(why, EMCL_AUTH_FAILED);

    /* wrong identity chain: the clear chain claims another hop */
    t = cJSON_Duplicate(env, 1);
    cJSON_ReplaceItemInObject(t, "identityChain", parse("[\"client\",\"mallory\"]"));
    assert_null(emcl_open(k, t, &why, &err));
    assert_int_equal(why, EMCL_CHAIN_MISMATCH);
    assert_non_null(strstr(err.msg, "identityChain"));
    /* ... while an empty clear chain (what the reference writes) opens */
    cJSON_ReplaceItemInObject(t, "identityChain", cJSON_CreateArray());
    o = emcl_open(k, t, &why, &err);
    assert_non_null(o);
    cJSON_Delete(o);
    cJSON_Delete(t);

    /* malformed: each shape error */
    {
        static const char *const bad[] = {
            "[]",
            "{\"cipherText\":\"AAAA\",\"iv\":\"AAECAwQFBgcICQoL\"}",              /* no tag */
            "{\"cipherText\":\"A!AA\",\"iv\":\"AAECAwQFBgcICQoL\",\"tag\":\"\"}", /* base64 */
            "{\"cipherText\":\"AAAAAAAAAAAAAAAAAAAAAAAA\",\"iv\":\"AAECAwQFBgc=\",\"tag\":\"\"}",
            "{\"cipherText\":\"AAAA\",\"iv\":\"AAECAwQFBgcICQoL\",\"tag\":\"\"}", /* short */
            "{\"cipherText\":\"AAAA\",\"iv\":\"AAECAwQFBgcICQoL\",\"tag\":\"\",\"x\":1}",
            "{\"cipherText\":\"A\",\"iv\":\"A\",\"tag\":\"\",\"identityChain\":\"a\"}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            cJSON *b = parse(bad[i]);
            why = EMCL_OK;
            if (emcl_open(k, b, &why, &err) != NULL || why != EMCL_MALFORMED)
                fail_msg("%s: expected MALFORMED, got %s", bad[i], emcl_fail_name(why));
            cJSON_Delete(b);
        }
    }
    /* not an EMCL frame at all */
    t = parse("{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\",\"body\":{}}");
    assert_null(emcl_frame_open(k, t, &why, &err));
    assert_int_equal(why, EMCL_NOT_EMCL);
    assert_non_null(strstr(err.msg, "\"intent\""));
    cJSON_Delete(t);

    cJSON_Delete(env);
    cJSON_Delete(body);
    emcl_key_free(k);
    emcl_key_free(wrong);
}

/* HMAC mode: a changed character of the (clear) JSON or the wrong key
 * fails authentication. */
static void
test_hmac_mode(void **state)
{
    struct emcl_key *k = key("hmac key", EMCL_MODE_HMAC, NULL);
    struct emcl_key *wrong = key("hmac kez", EMCL_MODE_HMAC, NULL);
    cJSON *body = parse("{\"amount\":100}"), *env, *o;
    struct intentus_err err = { 0 };
    enum emcl_fail why;
    char *ct;

    (void)state;
    env = emcl_seal(k, body, &err);
    assert_non_null(env);
    assert_string_equal(cJSON_GetObjectItem(env, "cipherText")->valuestring, "{\"amount\":100}");
    assert_int_equal(strlen(cJSON_GetObjectItem(env, "iv")->valuestring), 16);
    assert_int_equal(strlen(cJSON_GetObjectItem(env, "tag")->valuestring), 64);
    o = emcl_open(k, env, &why, &err);
    assert_non_null(o);
    assert_json_equal(o, body);
    cJSON_Delete(o);
    assert_null(emcl_open(wrong, env, &why, &err));
    assert_int_equal(why, EMCL_AUTH_FAILED);
    ct = cJSON_GetObjectItem(env, "cipherText")->valuestring;
    ct[strlen(ct) - 2] = '9'; /* 100 -> 109 */
    assert_null(emcl_open(k, env, &why, &err));
    assert_int_equal(why, EMCL_AUTH_FAILED);
    cJSON_Delete(env);
    cJSON_Delete(body);
    emcl_key_free(k);
    emcl_key_free(wrong);
}

static int
settings(const char *json, bool allow_required, struct emcl_settings *s, struct intentus_err *err)
{
    cJSON *o = parse(json);
    int rc = emcl_settings_parse(o, "x.emcl", allow_required, s, err);

    /* borrowed pointers: only the return value and the message are used */
    cJSON_Delete(o);
    return rc;
}

static void
test_settings(void **state)
{
    struct emcl_settings s;
    struct intentus_err err = { 0 };
    static const struct {
        const char *json, *msg;
    } bad[] = {
        { "{\"key\":\"literal-secret\"}", "x.emcl.key: must name an environment variable" },
        { "{}", "exactly one of key" },
        { "{\"key\":\"$A\",\"key_file\":\"f\"}", "exactly one of key" },
        { "{\"key\":\"$A\",\"mode\":\"rot13\"}", "x.emcl.mode" },
        { "{\"key\":\"$A\",\"identity\":\"\"}", "x.emcl.identity" },
        { "{\"key\":\"$A\",\"required\":true}", "x.emcl.required: unknown key" },
        { "{\"key\":\"$A\",\"kee\":1}", "x.emcl.kee: unknown key" },
        { "\"$A\"", "x.emcl: must be an object" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = '\0';
        if (settings(bad[i].json, false, &s, &err) == 0 || strstr(err.msg, bad[i].msg) == NULL)
            fail_msg("%s: expected '%s', got '%s'", bad[i].json, bad[i].msg, err.msg);
        assert_int_equal(err.code, IERR_CONFIG);
    }
    assert_int_equal(settings("{\"key\":\"$A\",\"mode\":\"hmac\",\"identity\":\"n\",\"required\":"
                              "true}",
                              true, &s, &err),
                     0);
    assert_int_equal(s.mode, EMCL_MODE_HMAC);
    assert_true(s.required);
}

/* Key files: 0600 loads (a trailing newline is not part of the key), wider
 * modes are refused naming the file and mode, empty and NUL-holding files
 * are refused, a symlink is not followed. An unset variable names it. */
static void
test_key_file(void **state)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX], link_path[PATH_MAX];
    struct intentus_err err = { 0 };
    struct emcl_key *k, *same;
    cJSON *body = parse("{\"v\":1}"), *env, *o;
    enum emcl_fail why;
    struct emcl_settings s = { .key_env = "INTENTUS_TEST_EMCL_UNSET_VAR" };

    (void)state;
    snprintf(path, sizeof(path), "%s/emcl.key", dir);
    assert_int_equal(tu_write_file(path, "s3cret\n", 7, 0600), 0);
    k = emcl_key_load_file(path, "t.key_file", EMCL_MODE_AES_GCM, NULL, &err);
    if (k == NULL)
        fail_msg("%s", err.msg);
    same = key("s3cret", EMCL_MODE_AES_GCM, NULL);
    env = emcl_seal(same, body, &err);
    o = emcl_open(k, env, &why, &err);
    assert_non_null(o); /* the file's key is "s3cret" */
    cJSON_Delete(o);
    cJSON_Delete(env);
    emcl_key_free(k);
    emcl_key_free(same);

    assert_int_equal(chmod(path, 0640), 0);
    assert_null(emcl_key_load_file(path, "t.key_file", EMCL_MODE_AES_GCM, NULL, &err));
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "0640"));
    assert_non_null(strstr(err.msg, "t.key_file"));

    assert_int_equal(tu_write_file(path, "\n", 1, 0600), 0);
    assert_int_equal(chmod(path, 0600), 0);
    assert_null(emcl_key_load_file(path, "t.key_file", EMCL_MODE_AES_GCM, NULL, &err));
    assert_non_null(strstr(err.msg, "holds no key"));

    assert_int_equal(tu_write_file(path, "ab\0cd", 5, 0600), 0);
    assert_null(emcl_key_load_file(path, "t.key_file", EMCL_MODE_AES_GCM, NULL, &err));
    assert_non_null(strstr(err.msg, "NUL"));

    snprintf(link_path, sizeof(link_path), "%s/link.key", dir);
    assert_int_equal(symlink(path, link_path), 0);
    assert_null(emcl_key_load_file(link_path, "t.key_file", EMCL_MODE_AES_GCM, NULL, &err));
    assert_non_null(strstr(err.msg, "symlink"));

    unsetenv("INTENTUS_TEST_EMCL_UNSET_VAR");
    assert_null(emcl_key_from_settings(&s, "serve.emcl", &err));
    assert_string_equal(err.msg,
                        "serve.emcl.key: environment variable INTENTUS_TEST_EMCL_UNSET_VAR is not "
                        "set");
    cJSON_Delete(body);
    tu_rmtree(dir);
    free(dir);
}

/* Live, both directions: the reference opens what intentus seals, and
 * intentus opens what the reference seals, in both modes. */
static void
test_live_reference_round_trip(void **state)
{
    static const char *const modes[] = { "aes-gcm", "hmac" };
    const char *text = "{\"intent\":{\"name\":\"t\"},\"payload\":{\"s\":\"caf\\u00e9 \\u2713\","
                       "\"n\":[1,2.5,null,true]},\"metadata\":{\"identityChain\":[]}}";

    (void)state;
    if (!te_ref_available())
        skip();
    for (size_t m = 0; m < 2; m++) {
        enum emcl_mode mode = m == 1 ? EMCL_MODE_HMAC : EMCL_MODE_AES_GCM;
        struct emcl_key *k = key("a shared secret", mode, NULL);
        cJSON *body = parse(text), *env, *o;
        struct intentus_err err = { 0 };
        const char *open_args[] = { "open", "--mode", modes[m], NULL };
        const char *seal_args[] = { "seal", "--mode", modes[m], NULL };
        struct tu_run r;
        enum emcl_fail why;
        char *sealed;

        /* intentus -> reference */
        env = emcl_seal(k, body, &err);
        assert_non_null(env);
        sealed = compact(env);
        assert_int_equal(te_ref_run(open_args, "a shared secret", sealed, &r), 0);
        if (r.status != 0)
            fail_msg("the reference cannot open intentus's %s envelope: %s", modes[m], r.err);
        o = parse(r.out);
        assert_json_equal(o, body);
        cJSON_Delete(o);
        tu_run_free(&r);
        /* ... and refuses it with another key */
        assert_int_equal(te_ref_run(open_args, "another secret", sealed, &r), 0);
        assert_int_equal(r.status, 4);
        tu_run_free(&r);
        free(sealed);
        cJSON_Delete(env);

        /* reference -> intentus */
        assert_int_equal(te_ref_run(seal_args, "a shared secret", text, &r), 0);
        assert_int_equal(r.status, 0);
        env = parse(r.out);
        tu_run_free(&r);
        o = emcl_open(k, env, &why, &err);
        if (o == NULL)
            fail_msg("intentus cannot open the reference's %s envelope: %s", modes[m], err.msg);
        assert_json_equal(o, body);
        cJSON_Delete(o);
        cJSON_Delete(env);

        /* the reference seals any JSON; a non-object is refused here */
        assert_int_equal(te_ref_run(seal_args, "a shared secret", "[1,2]", &r), 0);
        env = parse(r.out);
        tu_run_free(&r);
        assert_null(emcl_open(k, env, &why, &err));
        assert_int_equal(why, EMCL_BAD_PLAINTEXT);
        cJSON_Delete(env);
        cJSON_Delete(body);
        emcl_key_free(k);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vectors_open),
        cmocka_unit_test(test_seal_shape),
        cmocka_unit_test(test_failures_are_distinct),
        cmocka_unit_test(test_hmac_mode),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_live_reference_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
