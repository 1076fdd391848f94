/* Compliance modes (core/compliance.c, config "compliance") and the WAL
 * signer (core/wal_sign.c) without python: the reference's level names,
 * case-insensitive; what each mode requires and the one message naming
 * every missing requirement; runtime_open and runtime_reload refusing; a
 * private key loaded only at 0600, never a public key; signatures that
 * wal_key_verify accepts; a wal opened with a signer writes logs that
 * wal_read_key verifies with its public half. */
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

#include "core/compliance.h"
#include "core/config.h"
#include "core/crypt.h"
#include "core/json.h"
#include "core/runtime.h"
#include "core/wal.h"
#include "core/wal_sign.h"
#include "tests/support/testutil.h"

#define CONTAINS(hay, needle)                                                                      \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("'%s' not in '%s'", (needle), (hay));                                         \
    } while (0)

static void
test_mode_names(void **state)
{
    enum compliance_mode m = COMPLIANCE_STANDARD;

    (void)state;
    assert_int_equal(compliance_mode_parse("REGULATED", &m), 0);
    assert_int_equal(m, COMPLIANCE_REGULATED);
    assert_int_equal(compliance_mode_parse("Development", &m), 0);
    assert_int_equal(m, COMPLIANCE_DEVELOPMENT);
    assert_int_equal(compliance_mode_parse("standard", &m), 0);
    assert_int_equal(m, COMPLIANCE_STANDARD);
    assert_int_equal(compliance_mode_parse("strict", &m), -1);
    assert_int_equal(compliance_mode_parse("", &m), -1);
    assert_string_equal(compliance_mode_name(COMPLIANCE_REGULATED), "regulated");
    assert_int_equal(COMPLIANCE_DEFAULT, COMPLIANCE_STANDARD); /* the reference's default */
}

static void
test_requirements(void **state)
{
    struct compliance_facts none = { 0 };
    struct compliance_facts all = { true, true, true, true, true };
    struct compliance_facts no_key = all;
    struct intentus_err err = { 0 };

    (void)state;
    assert_int_equal(compliance_check(COMPLIANCE_DEVELOPMENT, &none, &err), 0);
    assert_int_equal(compliance_check(COMPLIANCE_STANDARD, &none, &err), -1);
    assert_int_equal(err.code, IERR_CONFIG);
    assert_string_equal(err.msg, "compliance mode standard requires: require_determinism true "
                                 "(no PARALLEL)");
    assert_int_equal(compliance_check(COMPLIANCE_REGULATED, &none, &err), -1);
    assert_string_equal(err.msg, "compliance mode regulated requires: require_determinism true "
                                 "(no PARALLEL); wal.enabled true; wal.signing_key; redaction "
                                 "(a PII policy); recording.encryption");
    no_key.wal_signing_key = false;
    assert_int_equal(compliance_check(COMPLIANCE_REGULATED, &no_key, &err), -1);
    assert_string_equal(err.msg, "compliance mode regulated requires: wal.signing_key");
    assert_int_equal(compliance_check(COMPLIANCE_REGULATED, &all, NULL), 0);
    assert_int_equal(compliance_check(COMPLIANCE_STANDARD, &all, NULL), 0);
}

static struct config *
parse(const char *text, struct intentus_err *err)
{
    return config_parse(text, strlen(text), "c.json", err);
}

static void
test_config_parse(void **state)
{
    struct intentus_err err = { 0 };
    struct config *cfg;

    (void)state;
    cfg = parse("{}", &err);
    assert_non_null(cfg);
    assert_int_equal(cfg->compliance, COMPLIANCE_STANDARD);
    assert_false(cfg->redaction_configured); /* the defaults are not a policy anyone chose */
    assert_int_equal(config_check_compliance(cfg, &err), 0);
    config_free(cfg);
    cfg = parse("{\"compliance\": {\"mode\": \"DEVELOPMENT\"}, \"require_determinism\": false}",
                &err);
    assert_non_null(cfg);
    assert_int_equal(cfg->compliance, COMPLIANCE_DEVELOPMENT);
    assert_int_equal(config_check_compliance(cfg, &err), 0);
    config_free(cfg);
    cfg = parse("{\"require_determinism\": false}", &err);
    assert_non_null(cfg);
    assert_int_equal(config_check_compliance(cfg, &err), -1);
    assert_string_equal(err.msg, "c.json: compliance mode standard requires: require_determinism "
                                 "true (no PARALLEL)");
    config_free(cfg);
    cfg = parse("{\"compliance\": {\"mode\": \"regulated\"}, \"redaction\": {\"enabled\": false}}",
                &err);
    assert_non_null(cfg);
    assert_false(cfg->redaction_configured); /* present but off: no policy */
    assert_int_equal(config_check_compliance(cfg, &err), -1);
    CONTAINS(err.msg, "redaction (a PII policy)");
    config_free(cfg);
    cfg = parse("{\"compliance\": {\"mode\": \"regulated\"}, \"wal\": {\"enabled\": true, "
                "\"signing_key\": \"k.pem\"}, \"redaction\": {}, \"recording\": {\"encryption\": "
                "{\"keyring\": \"ring\"}}}",
                &err);
    assert_non_null(cfg);
    assert_true(cfg->redaction_configured);
    assert_true(cfg->encryption.enabled);
    assert_string_equal(cfg->wal.signing_key, "k.pem"); /* "c.json" has no directory */
    assert_int_equal(config_check_compliance(cfg, &err), 0);
    config_free(cfg);
    assert_null(parse("{\"compliance\": {\"mode\": 3}}", &err));
    CONTAINS(err.msg, "c.json: compliance.mode: must be");
    assert_null(parse("{\"compliance\": {\"level\": \"regulated\"}}", &err));
    CONTAINS(err.msg, "compliance.level: unknown key (known: mode)");
    assert_null(parse("{\"compliance\": \"regulated\"}", &err));
    CONTAINS(err.msg, "compliance: must be an object");
    assert_null(parse("{\"wal\": {\"signing_key\": \"\"}}", &err));
    CONTAINS(err.msg, "wal.signing_key: must be a non-empty file name");
    assert_null(parse("{\"recording\": {\"encryption\": {\"enabled\": \"yes\"}}}", &err));
    CONTAINS(err.msg, "recording.encryption");
}

static void
write_cfg(const char *path, const char *text)
{
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
}

/* runtime_open refuses and creates nothing; a reload to regulated is
 * refused while the running WAL does not sign, and the old config stays. */
static void
test_runtime_refuses(void **state)
{
    char *dir = tu_mkdtemp(), path[4096], key[4096], pub[4096], text[8192], recs[4096];
    struct intentus_err err = { 0 };
    struct wal_signer *s;
    struct runtime *rt;

    (void)state;
    snprintf(path, sizeof(path), "%s/c.json", dir);
    snprintf(recs, sizeof(recs), "%s/recs", dir);
    snprintf(text, sizeof(text),
             "{\"compliance\": {\"mode\": \"regulated\"}, \"recording\": {\"dir\": \"%s\"}}", recs);
    write_cfg(path, text);
    rt = runtime_open(path, NULL, &err);
    assert_null(rt);
    assert_int_equal(err.code, IERR_CONFIG);
    CONTAINS(err.msg, "compliance mode regulated requires: wal.enabled true; wal.signing_key;");
    assert_int_equal(access(recs, F_OK), -1);

    snprintf(text, sizeof(text), "{\"recording\": {\"dir\": \"%s\"}}", recs);
    write_cfg(path, text);
    rt = runtime_open(path, NULL, &err);
    assert_non_null(rt);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    snprintf(pub, sizeof(pub), "%s/k.pub.pem", dir);
    s = wal_signer_generate(&err);
    assert_non_null(s);
    assert_int_equal(wal_signer_save(s, key, pub, &err), 0);
    wal_signer_free(s);
    {
        char ring[4096], kid[CRYPT_ID_HEX], kfile[256];
        snprintf(ring, sizeof(ring), "%s/ring", dir);
        assert_int_equal(crypt_keyring_add(ring, kid, kfile, sizeof(kfile), &err), 0);
    }
    snprintf(text, sizeof(text),
             "{\"compliance\": {\"mode\": \"regulated\"}, \"recording\": {\"dir\": \"%s\", "
             "\"encryption\": {\"keyring\": \"ring\"}}, \"wal\": {\"enabled\": true, \"dir\": "
             "\"%s/wal\", \"signing_key\": \"k.pem\"}, \"redaction\": {}}",
             recs, dir);
    write_cfg(path, text);
    assert_int_equal(runtime_reload(rt, &err), -1);
    CONTAINS(err.msg, "fixed when intentus starts: restart it");
    assert_int_equal(runtime_config(rt)->compliance, COMPLIANCE_STANDARD);
    runtime_close(rt);
    /* Started with it all, the same config opens and its WAL signs. */
    rt = runtime_open(path, NULL, &err);
    if (rt == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(runtime_config(rt)->compliance, COMPLIANCE_REGULATED);
    assert_int_equal(runtime_reload(rt, &err), 0);
    runtime_close(rt);
    tu_rmtree(dir);
    free(dir);
}

static void
test_signer_files(void **state)
{
    char *dir = tu_mkdtemp(), key[4096], pub[4096], sig[WAL_SIG_B64_LEN + 1];
    static const char hash[] = "6b37330518c9cd9552173aafa6b109ec2803dfdbf8dfcf9f9735b7429128985a";
    struct intentus_err err = { 0 };
    struct wal_signer *s = wal_signer_generate(&err), *back;
    struct wal_key *k;
    struct stat st;

    (void)state;
    assert_non_null(s);
    snprintf(key, sizeof(key), "%s/k.pem", dir);
    snprintf(pub, sizeof(pub), "%s/k.pub.pem", dir);
    assert_int_equal(wal_signer_save(s, key, pub, &err), 0);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(wal_signer_save(s, key, pub, &err), -1); /* never overwritten */
    CONTAINS(err.msg, "never overwritten");
    back = wal_signer_load(key, &err);
    assert_non_null(back);
    assert_string_equal(wal_signer_key_id(back), wal_signer_key_id(s));
    k = wal_key_load(pub, &err);
    assert_non_null(k);
    assert_string_equal(wal_key_id(k), wal_signer_key_id(s));
    assert_int_equal(wal_signer_sign(back, hash, sig, &err), 0);
    assert_int_equal(strlen(sig), WAL_SIG_B64_LEN);
    assert_int_equal(wal_key_verify(k, hash, sig, &err), 0);
    assert_int_equal(wal_key_verify(k, "00", sig, &err), -1);
    wal_key_free(k);
    wal_signer_free(back);
    assert_int_equal(chmod(key, 0640), 0);
    assert_null(wal_signer_load(key, &err));
    CONTAINS(err.msg, "k.pem: mode 0640 lets others read the private key");
    assert_int_equal(chmod(pub, 0600), 0);
    assert_null(wal_signer_load(pub, &err));
    CONTAINS(err.msg, "k.pub.pem is not a private key");
    wal_signer_free(s);
    tu_rmtree(dir);
    free(dir);
}

/* wal_open with a signer: every entry verifies with its public half;
 * reopening needs the same key. */
static void
test_wal_signs_entries(void **state)
{
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct wal_signer *s = wal_signer_generate(&err), *other = wal_signer_generate(&err);
    struct wal_log log;
    struct wal *w, *plain, *wrong;
    struct wal_file *f;

    (void)state;
    w = wal_open(dir, &(struct wal_opts){ .durability = WAL_NONE, .signer = s }, &err);
    assert_non_null(w);
    f = wal_file_create(w, "e1", &err);
    assert_non_null(f);
    assert_int_equal(wal_append(f, "execution.started", cJSON_CreateObject(), true, &err), 0);
    wal_file_close(f);
    assert_int_equal(wal_read_key(dir, "e1", wal_signer_public(s), &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_true(log.sig_checked);
    assert_string_equal(log.key_id, wal_signer_key_id(s));
    wal_log_free(&log);
    plain = wal_open(dir, &(struct wal_opts){ .durability = WAL_NONE }, &err);
    wrong = wal_open(dir, &(struct wal_opts){ .durability = WAL_NONE, .signer = other }, &err);
    assert_null(wal_file_reopen(plain, "e1", false, NULL, &err));
    CONTAINS(err.msg, "no signing key is configured");
    assert_null(wal_file_reopen(wrong, "e1", false, NULL, &err));
    CONTAINS(err.msg, "not by the signing key given");
    f = wal_file_reopen(w, "e1", false, NULL, &err);
    assert_non_null(f);
    assert_int_equal(wal_append(f, "execution.aborted", cJSON_CreateObject(), true, &err), 0);
    wal_file_close(f);
    assert_int_equal(wal_read_key(dir, "e1", wal_signer_public(s), &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_int_equal(log.n_entries, 2);
    wal_log_free(&log);
    wal_close(w);
    wal_close(plain);
    wal_close(wrong);
    wal_signer_free(s);
    wal_signer_free(other);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_names),   cmocka_unit_test(test_requirements),
        cmocka_unit_test(test_config_parse), cmocka_unit_test(test_runtime_refuses),
        cmocka_unit_test(test_signer_files), cmocka_unit_test(test_wal_signs_entries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
