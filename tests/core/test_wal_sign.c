/* WAL signatures without python: an Ed25519 key made with OpenSSL here
 * signs a log that core/wal.c wrote, exactly as the reference signs
 * (base64 of the signature of the entry_hash text, signer_key_id = first
 * 16 hex of SHA-256 of the raw public key), and wal_read_key checks it:
 * valid, forged, stripped, foreign key, unsigned with a key, no key; the
 * key file formats; recovery_scan_key; appends to a signed log refused. */
#include <openssl/evp.h>
#include <openssl/pem.h>
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
#include "core/config.h"
#include "core/json.h"
#include "core/recovery.h"
#include "core/wal.h"
#include "core/wal_sign.h"
#include "tests/support/testutil.h"

#define CONTAINS(hay, needle)                                                                      \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("'%s' not in '%s'", (needle), (hay));                                         \
    } while (0)

struct fixture {
    char *dir;
    EVP_PKEY *priv;
    unsigned char raw[32];
    char key_id[17];
};

static EVP_PKEY *
gen_key(unsigned char raw[32], char key_id[17])
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    EVP_PKEY *k = NULL;
    size_t n = 32;
    char hex[65];

    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_keygen(ctx, &k), 1);
    EVP_PKEY_CTX_free(ctx);
    assert_int_equal(EVP_PKEY_get_raw_public_key(k, raw, &n), 1);
    json_sha256_hex(raw, 32, hex);
    memcpy(key_id, hex, 16);
    key_id[16] = '\0';
    return k;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->dir = tu_mkdtemp();
    f->priv = gen_key(f->raw, f->key_id);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    EVP_PKEY_free(f->priv);
    tu_rmtree(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static cJSON *
obj(const char *json)
{
    cJSON *v = json_parse(json, strlen(json), 0, NULL);

    assert_non_null(v);
    return v;
}

/* core/wal.c writes id's log: started and n-1 steps. */
static void
write_log(const char *dir, const char *id, int n)
{
    struct intentus_err err = { 0 };
    struct wal *w = wal_open(dir, &(struct wal_opts){ .durability = WAL_NONE }, &err);
    struct wal_file *f;

    assert_non_null(w);
    f = wal_file_create(w, id, &err);
    assert_non_null(f);
    assert_int_equal(wal_append(f, "execution.started",
                                obj("{\"execution_id\":\"x\",\"envelope_hash\":\"h\","
                                    "\"intent_name\":\"t.x\"}"),
                                true, &err),
                     0);
    for (int i = 2; i <= n; i++) {
        char p[160];
        snprintf(p, sizeof(p),
                 "{\"step_id\":\"s%d\",\"agent_name\":\"a\",\"side_effect\":\"read_only\","
                 "\"contracts\":{},\"input_hash\":\"i\"}",
                 i);
        assert_int_equal(wal_append(f, "step.started", obj(p), false, &err), 0);
    }
    wal_file_close(f);
    wal_close(w);
}

/* The reference's WALEntry.sign: Ed25519 over entry_hash's UTF-8 bytes,
 * base64 (padded), with signer_key_id after "version". */
static void
sign_entry(cJSON *e, EVP_PKEY *priv, const char *key_id)
{
    const char *hash = json_get_string(e, "entry_hash");
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char sig[64];
    size_t n = sizeof(sig);
    char b64[100];

    assert_non_null(hash);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, priv), 1);
    assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const unsigned char *)hash, strlen(hash)), 1);
    EVP_MD_CTX_free(ctx);
    assert_int_equal(n, 64);
    assert_int_equal(EVP_EncodeBlock((unsigned char *)b64, sig, 64), 88);
    cJSON_DeleteItemFromObjectCaseSensitive(e, "signature");
    cJSON_DeleteItemFromObjectCaseSensitive(e, "signer_key_id");
    cJSON_AddStringToObject(e, "signature", b64);
    cJSON_AddStringToObject(e, "signer_key_id", key_id);
}

enum edit { EDIT_NONE, EDIT_FORGE, EDIT_STRIP };

/* Sign every entry of dir/id.wal with priv, then apply edit to entry seq. */
static void
sign_log(const char *dir, const char *id, EVP_PKEY *priv, const char *key_id, enum edit edit,
         int seq)
{
    struct intentus_err err = { 0 };
    struct buf text = BUF_INIT;
    struct wal_log log;
    char path[4096];
    cJSON *e;
    int i = 0;

    assert_int_equal(wal_read(dir, id, &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    cJSON_ArrayForEach(e, log.entries)
    {
        i++;
        sign_entry(e, priv, key_id);
        if (i == seq && edit == EDIT_FORGE) {
            char *s = cJSON_GetObjectItemCaseSensitive(e, "signature")->valuestring;
            s[5] = s[5] == 'A' ? 'B' : 'A';
        } else if (i == seq && edit == EDIT_STRIP) {
            cJSON_DeleteItemFromObjectCaseSensitive(e, "signature");
            cJSON_DeleteItemFromObjectCaseSensitive(e, "signer_key_id");
        }
        assert_int_equal(json_print_spaced(e, &text), 0);
        assert_int_equal(buf_putc(&text, '\n'), 0);
    }
    wal_log_free(&log);
    snprintf(path, sizeof(path), "%s/%s.wal", dir, id);
    assert_int_equal(tu_write_file(path, text.data, text.len, 0600), 0);
    buf_free(&text);
}

static struct wal_key *
fixture_key(const struct fixture *f)
{
    struct intentus_err err = { 0 };
    struct wal_key *k = wal_key_from_raw(f->raw, &err);

    assert_non_null(k);
    assert_string_equal(wal_key_id(k), f->key_id);
    return k;
}

static void
test_valid_signatures(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct wal_key *k = fixture_key(f);
    struct wal_log log;
    char path[4096], *line;

    write_log(f->dir, "ok", 4);
    sign_log(f->dir, "ok", f->priv, f->key_id, EDIT_NONE, 0);
    /* The line format: the signature keys follow "version", as the
     * reference's to_dict puts them. */
    snprintf(path, sizeof(path), "%s/ok.wal", f->dir);
    line = tu_read_file(path, NULL);
    assert_non_null(line);
    CONTAINS(line, "\"version\": \"1.0\", \"signature\": \"");
    free(line);
    assert_int_equal(wal_read_key(f->dir, "ok", k, &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_true(log.is_signed);
    assert_true(log.sig_checked);
    assert_false(log.bad_signature);
    assert_string_equal(log.key_id, f->key_id);
    assert_int_equal(log.n_entries, 4);
    wal_log_free(&log);
    /* No key: the chain verifies, the signatures are not checked. */
    assert_int_equal(wal_read(f->dir, "ok", &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_true(log.is_signed);
    assert_false(log.sig_checked);
    wal_log_free(&log);
    wal_key_free(k);
}

static void
test_forged_signature(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct wal_key *k = fixture_key(f);
    struct wal_log log;
    char want[128];

    write_log(f->dir, "forged", 4);
    sign_log(f->dir, "forged", f->priv, f->key_id, EDIT_FORGE, 3);
    assert_int_equal(wal_read_key(f->dir, "forged", k, &log, &err), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    assert_true(log.bad_signature);
    assert_int_equal(log.bad_line, 3);
    snprintf(want, sizeof(want), "line 3: seq 3: signature does not verify with key %s", f->key_id);
    assert_string_equal(log.problem, want);
    /* The entries before it stay, as for any corrupt line. */
    assert_int_equal(log.n_entries, 2);
    assert_int_equal(cJSON_GetArraySize(log.entries), 2);
    wal_log_free(&log);
    /* Without the key the forgery is not detectable, and not "checked". */
    assert_int_equal(wal_read(f->dir, "forged", &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_false(log.sig_checked);
    wal_log_free(&log);
    wal_key_free(k);
}

static void
test_stripped_signature(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct wal_key *k = fixture_key(f);
    struct wal_log log;

    write_log(f->dir, "stripped", 3);
    sign_log(f->dir, "stripped", f->priv, f->key_id, EDIT_STRIP, 2);
    for (int with_key = 0; with_key < 2; with_key++) {
        assert_int_equal(wal_read_key(f->dir, "stripped", with_key ? k : NULL, &log, &err), 0);
        assert_int_equal(log.status, WAL_CORRUPT);
        assert_true(log.bad_signature);
        CONTAINS(log.problem, "seq 2: no signature");
        wal_log_free(&log);
    }
    wal_key_free(k);
}

static void
test_foreign_key(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    unsigned char raw[32];
    char other_id[17], want[128];
    EVP_PKEY *other = gen_key(raw, other_id);
    struct wal_key *k = fixture_key(f);
    struct wal_log log;

    write_log(f->dir, "foreign", 2);
    sign_log(f->dir, "foreign", other, other_id, EDIT_NONE, 0);
    assert_int_equal(wal_read_key(f->dir, "foreign", k, &log, &err), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    snprintf(want, sizeof(want), "seq 1: signed by key %s, not by the given key %s", other_id,
             f->key_id);
    CONTAINS(log.problem, want);
    wal_log_free(&log);
    /* Signed by the other key but claiming ours: the signature fails. */
    sign_log(f->dir, "foreign", other, f->key_id, EDIT_NONE, 0);
    assert_int_equal(wal_read_key(f->dir, "foreign", k, &log, &err), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    CONTAINS(log.problem, "seq 1: signature does not verify");
    wal_log_free(&log);
    EVP_PKEY_free(other);
    wal_key_free(k);
}

/* A key was given: an unsigned log (signatures stripped everywhere) is
 * refused, not silently "verified". */
static void
test_unsigned_log_with_key(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct wal_key *k = fixture_key(f);
    struct wal_log log;

    write_log(f->dir, "plain", 2);
    assert_int_equal(wal_read_key(f->dir, "plain", k, &log, &err), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    assert_true(log.bad_signature);
    CONTAINS(log.problem, "line 1: seq 1: no signature (a public key was given");
    assert_int_equal(log.n_entries, 0);
    assert_int_equal(log.good_bytes, 0);
    wal_log_free(&log);
    assert_int_equal(wal_read(f->dir, "plain", &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_false(log.is_signed);
    wal_log_free(&log);
    wal_key_free(k);
}

static void
test_bad_signature_encodings(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct wal_key *k = fixture_key(f);
    const char *hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    assert_int_equal(wal_key_verify(k, hash, "not base64!", &err), -1);
    CONTAINS(err.msg, "not base64");
    assert_int_equal(wal_key_verify(k, hash, "AAAA", &err), -1);
    CONTAINS(err.msg, "3 bytes, not the 64");
    assert_int_equal(wal_key_verify(k, hash, "", &err), -1);
    wal_key_free(k);
}

static void
write_pubkey_pem(const char *path, EVP_PKEY *k)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    assert_int_equal(PEM_write_PUBKEY(fp, k), 1);
    fclose(fp);
}

static void
test_key_formats(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    char path[4096], hex[80];
    struct wal_key *k;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/pub.pem", f->dir);
    write_pubkey_pem(path, f->priv);
    k = wal_key_load(path, &err);
    assert_non_null(k);
    assert_string_equal(wal_key_id(k), f->key_id);
    wal_key_free(k);

    snprintf(path, sizeof(path), "%s/pub.raw", f->dir);
    assert_int_equal(tu_write_file(path, (const char *)f->raw, 32, 0600), 0);
    k = wal_key_load(path, &err);
    assert_non_null(k);
    assert_string_equal(wal_key_id(k), f->key_id);
    wal_key_free(k);

    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02X", f->raw[i]);
    strcat(hex, "\n");
    snprintf(path, sizeof(path), "%s/pub.hex", f->dir);
    assert_int_equal(tu_write_file(path, hex, strlen(hex), 0600), 0);
    k = wal_key_load(path, &err);
    assert_non_null(k);
    assert_string_equal(wal_key_id(k), f->key_id);
    wal_key_free(k);

    /* A private key is refused, naming the file. */
    snprintf(path, sizeof(path), "%s/priv.pem", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, f->priv, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    assert_null(wal_key_load(path, &err));
    CONTAINS(err.msg, path);
    CONTAINS(err.msg, "private key");

    snprintf(path, sizeof(path), "%s/junk", f->dir);
    assert_int_equal(tu_write_file(path, "hello\n", 6, 0600), 0);
    assert_null(wal_key_load(path, &err));
    CONTAINS(err.msg, path);
    CONTAINS(err.msg, "not an Ed25519 public key");

    snprintf(path, sizeof(path), "%s/fifo-key", f->dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_null(wal_key_load(path, &err));
    CONTAINS(err.msg, "is not a regular file (a FIFO)");
}

/* A PEM key of another type (EC) is not an Ed25519 key. */
static void
test_non_ed25519_pem(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
    EVP_PKEY *x = NULL;
    char path[4096];

    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    assert_int_equal(EVP_PKEY_keygen(ctx, &x), 1);
    EVP_PKEY_CTX_free(ctx);
    snprintf(path, sizeof(path), "%s/x25519.pem", f->dir);
    write_pubkey_pem(path, x);
    EVP_PKEY_free(x);
    assert_null(wal_key_load(path, &err));
    CONTAINS(err.msg, "not an Ed25519 public key");
}

static void
test_scan_and_reopen(void **state)
{
    struct fixture *f = *state;
    struct intentus_err err = { 0 };
    struct wal_key *k = fixture_key(f);
    struct recovery_item *items;
    struct wal *w;
    size_t n;
    char sub[4096];

    snprintf(sub, sizeof(sub), "%s/scan", f->dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_log(sub, "good", 2);
    sign_log(sub, "good", f->priv, f->key_id, EDIT_NONE, 0);
    write_log(sub, "bad", 2);
    sign_log(sub, "bad", f->priv, f->key_id, EDIT_FORGE, 2);
    assert_int_equal(recovery_scan_key(sub, k, &items, &n, &err), 0);
    assert_int_equal(n, 2); /* both in progress */
    assert_string_equal(items[0].execution_id, "bad");
    assert_int_equal(items[0].wal_status, WAL_CORRUPT);
    CONTAINS(items[0].reason, "seq 2: signature does not verify");
    assert_false(items[0].can_resume);
    assert_int_equal(items[1].wal_status, WAL_OK);
    assert_true(items[1].sig_checked);
    recovery_items_free(items, n);
    /* Without the key both look intact; the signatures are not checked. */
    assert_int_equal(recovery_scan(sub, &items, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(items[0].wal_status, WAL_OK);
    assert_true(items[0].is_signed);
    assert_false(items[0].sig_checked);
    recovery_items_free(items, n);
    /* intentus does not sign yet: it must not append to a signed log. */
    w = wal_open(sub, &(struct wal_opts){ .durability = WAL_NONE }, &err);
    assert_non_null(w);
    assert_null(wal_file_reopen(w, "good", false, NULL, &err));
    CONTAINS(err.msg, "is signed");
    wal_close(w);
    wal_key_free(k);
}

/* wal.public_key: a relative file is found next to the config file. */
static void
test_config_public_key(void **state)
{
    static const char rel[] = "{\"wal\": {\"public_key\": \"keys/pub.pem\"}}";
    static const char abs[] = "{\"wal\": {\"public_key\": \"/etc/k.pem\"}}";
    static const char bad[] = "{\"wal\": {\"public_key\": 7}}";
    struct intentus_err err = { 0 };
    struct config *cfg;

    (void)state;
    cfg = config_parse(rel, strlen(rel), "/srv/app/intentus.json", &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->wal.public_key, "/srv/app/keys/pub.pem");
    config_free(cfg);
    cfg = config_parse(abs, strlen(abs), "conf/intentus.json", &err);
    assert_non_null(cfg);
    assert_string_equal(cfg->wal.public_key, "/etc/k.pem");
    config_free(cfg);
    cfg = config_parse("{}", 2, "x.json", &err);
    assert_non_null(cfg);
    assert_null(cfg->wal.public_key);
    config_free(cfg);
    assert_null(config_parse(bad, strlen(bad), "x.json", &err));
    CONTAINS(err.msg, "wal.public_key");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_signatures),
        cmocka_unit_test(test_forged_signature),
        cmocka_unit_test(test_stripped_signature),
        cmocka_unit_test(test_foreign_key),
        cmocka_unit_test(test_unsigned_log_with_key),
        cmocka_unit_test(test_bad_signature_encodings),
        cmocka_unit_test(test_key_formats),
        cmocka_unit_test(test_non_ed25519_pem),
        cmocka_unit_test(test_scan_and_reopen),
        cmocka_unit_test(test_config_public_key),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
