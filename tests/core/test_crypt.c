/* Encryption at rest (core/crypt.c) and the readers that sit on it: sealed
 * blobs, keyrings and their permissions, rotation, the record store, the
 * WAL and retention archives. Real files in a temp directory throughout. */
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

#include "core/config.h"
#include "core/crypt.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/retention.h"
#include "core/wal.h"
#include "tests/support/testutil.h"

#define CANARY "canary-31f7c0de-payload"

/* A ring directory dir/name with n keys (the last one writes). */
static struct crypt_keyring *
make_ring(const char *dir, const char *name, int n, char ids[][CRYPT_ID_HEX])
{
    struct intentus_err err = { 0 };
    char path[700], file[128], id[CRYPT_ID_HEX];
    struct crypt_keyring *kr;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    for (int i = 0; i < n; i++) {
        assert_int_equal(crypt_keyring_add(path, ids ? ids[i] : id, file, sizeof(file), &err), 0);
        usleep(2000); /* names carry milliseconds: keep them ordered */
    }
    kr = crypt_keyring_load(path, &err);
    assert_non_null(kr);
    return kr;
}

/* True when needle occurs anywhere in the file's bytes (binary-safe). */
static bool
file_has(const char *path, const char *needle)
{
    size_t len = 0;
    char *data = tu_read_file(path, &len);
    bool hit = data != NULL && memmem(data, len, needle, strlen(needle)) != NULL;

    free(data);
    return hit;
}

static void
test_seal_open_roundtrip(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), ids[1][CRYPT_ID_HEX];
    struct crypt_keyring *kr = make_ring(dir, "ring", 1, ids);
    struct buf a = BUF_INIT, b = BUF_INIT;
    struct intentus_err err = { 0 };
    enum crypt_status st;
    char id[CRYPT_ID_HEX], *plain;
    size_t n;

    assert_int_equal(crypt_seal(kr, CRYPT_RECORD, CANARY, strlen(CANARY), &a, &err), 0);
    assert_int_equal(crypt_seal(kr, CRYPT_RECORD, CANARY, strlen(CANARY), &b, &err), 0);
    assert_true(crypt_is_sealed(a.data, a.len));
    assert_int_equal(a.len, CRYPT_HEADER_LEN + strlen(CANARY) + CRYPT_TAG_LEN);
    assert_null(memmem(a.data, a.len, CANARY, strlen(CANARY)));
    /* A fresh nonce per blob: the same plaintext never seals the same. */
    assert_memory_not_equal(a.data + 16, b.data + 16, 12);
    assert_int_equal(crypt_blob_key_id(a.data, a.len, id), 0);
    assert_string_equal(id, ids[0]);
    assert_string_equal(crypt_keyring_write_id(kr), ids[0]);
    plain = crypt_open(kr, CRYPT_RECORD, a.data, a.len, "blob", &n, &st, &err);
    assert_non_null(plain);
    assert_int_equal(st, CRYPT_OK);
    assert_int_equal(n, strlen(CANARY));
    assert_string_equal(plain, CANARY);
    free(plain);
    /* Plaintext passes through as itself. */
    plain = crypt_open(kr, CRYPT_RECORD, "{}", 2, "blob", &n, &st, &err);
    assert_non_null(plain);
    assert_int_equal(st, CRYPT_PLAIN);
    free(plain);
    /* A blob sealed as a WAL entry is not a record. */
    buf_reset(&b);
    assert_int_equal(crypt_seal(kr, CRYPT_WAL_ENTRY, "x", 1, &b, &err), 0);
    assert_null(crypt_open(kr, CRYPT_RECORD, b.data, b.len, "blob", &n, &st, &err));
    assert_int_equal(st, CRYPT_BAD_FORMAT);
    buf_free(&a);
    buf_free(&b);
    crypt_keyring_free(kr);
    tu_rmtree(dir);
    free(dir);
}

/* Missing key, wrong key, one flipped byte (ciphertext, tag and header),
 * truncated: each its own status and message, never the plaintext. */
static void
test_open_failures_are_distinct(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), ids[1][CRYPT_ID_HEX], other[1][CRYPT_ID_HEX];
    struct crypt_keyring *kr = make_ring(dir, "ring", 1, ids);
    struct crypt_keyring *wrong = make_ring(dir, "other", 1, other);
    struct buf a = BUF_INIT;
    struct intentus_err err = { 0 };
    enum crypt_status st;
    size_t n;
    char msg[300];

    assert_int_equal(crypt_seal(kr, CRYPT_RECORD, CANARY, strlen(CANARY), &a, &err), 0);
    assert_null(crypt_open(NULL, CRYPT_RECORD, a.data, a.len, "f.json", &n, &st, &err));
    assert_int_equal(st, CRYPT_NO_KEY);
    snprintf(msg, sizeof(msg), "f.json: encrypted, key %s missing", ids[0]);
    assert_non_null(strstr(err.msg, msg));

    assert_null(crypt_open(wrong, CRYPT_RECORD, a.data, a.len, "f.json", &n, &st, &err));
    assert_int_equal(st, CRYPT_KEY_MISSING);
    assert_non_null(strstr(err.msg, ids[0]));
    assert_non_null(strstr(err.msg, "wrong key"));

    for (size_t at = 0; at < 3; at++) {
        size_t pos = at == 0   ? CRYPT_HEADER_LEN + 3 /* ciphertext */
                     : at == 1 ? a.len - 1            /* tag */
                               : 20;                  /* nonce, in the AAD */
        a.data[pos] ^= 0x01;
        assert_null(crypt_open(kr, CRYPT_RECORD, a.data, a.len, "f.json", &n, &st, &err));
        assert_int_equal(st, CRYPT_TAMPERED);
        assert_non_null(strstr(err.msg, "tampered"));
        assert_null(strstr(err.msg, CANARY));
        a.data[pos] ^= 0x01;
    }
    assert_null(crypt_open(kr, CRYPT_RECORD, a.data, a.len - 5, "f.json", &n, &st, &err));
    assert_int_equal(st, CRYPT_TRUNCATED);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_null(crypt_open(kr, CRYPT_RECORD, a.data, 10, "f.json", &n, &st, &err));
    assert_int_equal(st, CRYPT_TRUNCATED);
    buf_free(&a);
    crypt_keyring_free(kr);
    crypt_keyring_free(wrong);
    tu_rmtree(dir);
    free(dir);
}

static void
test_key_file_modes(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[700], ring[700], id[CRYPT_ID_HEX];
    struct intentus_err err = { 0 };
    struct crypt_keyring *kr;
    struct stat st;

    snprintf(path, sizeof(path), "%s/one.key", dir);
    assert_int_equal(crypt_key_new_file(path, id, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* Never overwritten. */
    assert_int_equal(crypt_key_new_file(path, id, &err), -1);
    kr = crypt_keyring_load(path, &err);
    assert_non_null(kr);
    assert_string_equal(crypt_keyring_write_id(kr), id);
    crypt_keyring_free(kr);

    assert_int_equal(chmod(path, 0644), 0);
    assert_null(crypt_keyring_load(path, &err));
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "0644"));
    assert_int_equal(chmod(path, 0640), 0);
    assert_null(crypt_keyring_load(path, &err));
    assert_non_null(strstr(err.msg, "0640"));

    /* A keyring directory others may enter is refused; so is a key in it
     * that others may read. */
    snprintf(ring, sizeof(ring), "%s/ring", dir);
    kr = make_ring(dir, "ring", 1, NULL);
    crypt_keyring_free(kr);
    assert_int_equal(chmod(ring, 0755), 0);
    assert_null(crypt_keyring_load(ring, &err));
    assert_non_null(strstr(err.msg, "0755"));
    assert_int_equal(chmod(ring, 0700), 0);
    snprintf(path, sizeof(path), "%s/ring/bad.key", dir);
    assert_int_equal(tu_write_file(path, "00", 2, 0600), 0);
    assert_null(crypt_keyring_load(ring, &err));
    assert_non_null(strstr(err.msg, "bad.key"));
    assert_non_null(strstr(err.msg, "64 hex"));
    tu_rmtree(dir);
    free(dir);
}

/* Rotation: old blobs still open with the ring; new ones use the new key. */
static void
test_rotation_keeps_old_keys(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), ids[2][CRYPT_ID_HEX], id[CRYPT_ID_HEX], ring[700], file[128];
    struct crypt_keyring *kr = make_ring(dir, "ring", 1, ids);
    struct buf old = BUF_INIT, neu = BUF_INIT;
    struct intentus_err err = { 0 };
    struct crypt_key_info in;
    enum crypt_status st;
    char *plain;
    size_t n;

    assert_int_equal(crypt_seal(kr, CRYPT_RECORD, "old", 3, &old, &err), 0);
    crypt_keyring_free(kr);
    snprintf(ring, sizeof(ring), "%s/ring", dir);
    usleep(2000);
    assert_int_equal(crypt_keyring_add(ring, ids[1], file, sizeof(file), &err), 0);
    kr = crypt_keyring_load(ring, &err);
    assert_non_null(kr);
    assert_int_equal(crypt_keyring_count(kr), 2);
    assert_string_equal(crypt_keyring_write_id(kr), ids[1]);
    assert_int_equal(crypt_keyring_info(kr, 0, &in), 0);
    assert_false(in.writes);
    assert_int_equal(crypt_keyring_info(kr, 1, &in), 0);
    assert_true(in.writes);
    assert_string_equal(in.file, file);
    plain = crypt_open(kr, CRYPT_RECORD, old.data, old.len, "old", &n, &st, &err);
    assert_non_null(plain);
    assert_string_equal(plain, "old");
    free(plain);
    assert_int_equal(crypt_seal(kr, CRYPT_RECORD, "new", 3, &neu, &err), 0);
    assert_int_equal(crypt_blob_key_id(neu.data, neu.len, id), 0);
    assert_string_equal(id, ids[1]);
    assert_string_not_equal(ids[0], ids[1]);
    buf_free(&old);
    buf_free(&neu);
    crypt_keyring_free(kr);
    tu_rmtree(dir);
    free(dir);
}

static cJSON *
canary_record(void)
{
    struct intentus_err err = { 0 };
    cJSON *payload = cJSON_CreateObject();
    cJSON *env, *copy;
    struct recorder *rec;

    cJSON_AddStringToObject(payload, "note", CANARY);
    env = envelope_new("demo.echo", payload, NULL, &err);
    assert_non_null(env);
    rec = recorder_new(env, &err);
    assert_non_null(rec);
    assert_int_equal(recorder_event(rec, "INTENT_RECEIVED", cJSON_CreateObject()), 0);
    copy = cJSON_Duplicate(recorder_record(rec), 1);
    recorder_free(rec);
    cJSON_Delete(env);
    return copy;
}

/* The store seals what it saves and reads it back through the one reader;
 * without the key the read says so and returns nothing. An encrypted
 * record archived by retention stays encrypted and still reads. */
static void
test_store_and_archive(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), recs[700], arch[700], path[800];
    struct crypt_keyring *kr = make_ring(dir, "ring", 1, NULL);
    struct rec_store_opts o = { .create = true, .encrypt = true, .keys = kr };
    struct intentus_err err = { 0 };
    struct retention_report done;
    struct retention_plan *plan;
    struct rec_store *rs, *plain, *ars;
    cJSON *rec = canary_record(), *back;
    enum crypt_status st;
    const char *id = record_id(rec);
    size_t len;
    char *text;

    snprintf(recs, sizeof(recs), "%s/records", dir);
    snprintf(arch, sizeof(arch), "%s/archive", dir);
    assert_null(
        rec_store_open(recs, &(struct rec_store_opts){ .create = true, .encrypt = true }, &err));
    rs = rec_store_open(recs, &o, &err);
    assert_non_null(rs);
    assert_int_equal(rec_store_save(rs, rec, &err), 0);
    snprintf(path, sizeof(path), "%s/%s.json", recs, id);
    assert_false(file_has(path, CANARY));
    assert_false(file_has(path, "demo.echo"));
    back = rec_store_load(rs, id, &err);
    assert_non_null(back);
    assert_int_equal(record_verify_hash(back, &err), 0);
    cJSON_Delete(back);

    /* Another store without keys: the process reader is not set. */
    crypt_set_reader(NULL);
    plain = rec_store_open(recs, NULL, &err);
    assert_non_null(plain);
    assert_null(rec_store_read_st(plain, id, &len, &st, &err));
    assert_int_equal(st, CRYPT_NO_KEY);
    assert_non_null(strstr(err.msg, "encrypted, key"));
    /* With the process's reading keyring it reads. */
    crypt_set_reader(crypt_keyring_load(crypt_keyring_path(kr), &err));
    text = rec_store_read_st(plain, id, &len, &st, &err);
    assert_non_null(text);
    assert_int_equal(st, CRYPT_OK);
    assert_non_null(strstr(text, CANARY));
    free(text);

    /* Archive it: the .json.gz is sealed whole and reads back. */
    plan = retention_plan_new(recs,
                              &(struct retention_policy){ .max_age_ms = RETENTION_NONE,
                                                          .max_count = 0,
                                                          .max_bytes = RETENTION_NONE },
                              INT64_MAX / 2, &err);
    assert_non_null(plan);
    assert_int_equal(retention_plan_size(plan), 1);
    assert_int_equal(
        retention_apply(plan, &(struct retention_apply_opts){ .archive_dir = arch }, &done, &err),
        0);
    assert_int_equal(done.count, 1);
    retention_report_free(&done);
    retention_plan_free(plan);
    snprintf(path, sizeof(path), "%s/%s.json.gz", arch, id);
    assert_true(access(path, F_OK) == 0);
    assert_false(file_has(path, CANARY));
    text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_true(crypt_is_sealed(text, len));
    free(text);
    ars = rec_store_open(arch, NULL, &err);
    assert_non_null(ars);
    back = rec_store_load(ars, id, &err);
    assert_non_null(back);
    assert_int_equal(record_verify_hash(back, &err), 0);
    cJSON_Delete(back);
    crypt_set_reader(NULL);
    assert_null(rec_store_load(ars, id, &err));
    assert_non_null(strstr(err.msg, "missing"));

    rec_store_close(ars);
    rec_store_close(plain);
    rec_store_close(rs);
    cJSON_Delete(rec);
    crypt_keyring_free(kr);
    tu_rmtree(dir);
    free(dir);
}

static cJSON *
obj(const char *text)
{
    return json_parse(text, strlen(text), 0, NULL);
}

/* One sealed line per entry: nothing readable on disk, the log verifies
 * with the key, says "key missing" without it, reopens for appending
 * (recovery), and a torn final line is still reported as torn. */
static void
test_wal_entries_sealed(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), wdir[700], path[800];
    struct crypt_keyring *kr = make_ring(dir, "ring", 1, NULL);
    struct intentus_err err = { 0 };
    struct wal_log log;
    struct wal_file *f;
    struct wal *w;
    size_t cut = 0, len;
    char *text;
    FILE *fp;

    snprintf(wdir, sizeof(wdir), "%s/wal", dir);
    w = wal_open(
        wdir, &(struct wal_opts){ .durability = WAL_PER_ENTRY, .create = true, .keys = kr }, &err);
    assert_non_null(w);
    f = wal_file_create(w, "exec-1", &err);
    assert_non_null(f);
    assert_int_equal(
        wal_append(f, "execution.started", obj("{\"note\":\"" CANARY "\"}"), true, &err), 0);
    assert_int_equal(wal_append(f, "step.started", obj("{\"step_id\":\"s1\"}"), false, &err), 0);
    wal_file_close(f);
    snprintf(path, sizeof(path), "%s/exec-1.wal", wdir);
    assert_false(file_has(path, CANARY));
    assert_false(file_has(path, "execution.started"));
    text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_memory_equal(text, CRYPT_WAL_PREFIX, strlen(CRYPT_WAL_PREFIX));
    free(text);

    crypt_set_reader(NULL);
    assert_int_equal(wal_read(wdir, "exec-1", &log, &err), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    assert_non_null(strstr(log.problem, "missing"));
    wal_log_free(&log);

    /* The writer's own keys reopen it (the recovery path) and append. */
    f = wal_file_reopen(w, "exec-1", false, &cut, &err);
    assert_non_null(f);
    assert_int_equal(wal_append(f, "step.completed", obj("{\"step_id\":\"s1\"}"), false, &err), 0);
    wal_file_close(f);

    crypt_set_reader(crypt_keyring_load(crypt_keyring_path(kr), &err));
    assert_int_equal(wal_read(wdir, "exec-1", &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    assert_int_equal(log.n_entries, 3);
    wal_log_free(&log);

    /* A torn final line (half an encrypted entry) is torn, not corrupt. */
    fp = fopen(path, "a");
    assert_non_null(fp);
    fputs(CRYPT_WAL_PREFIX "iUlFTk", fp);
    fclose(fp);
    assert_int_equal(wal_read(wdir, "exec-1", &log, &err), 0);
    assert_int_equal(log.status, WAL_TORN);
    assert_int_equal(log.n_entries, 3);
    wal_log_free(&log);
    f = wal_file_reopen(w, "exec-1", true, &cut, &err);
    assert_non_null(f);
    assert_true(cut > 0);
    wal_file_close(f);
    assert_int_equal(wal_read(wdir, "exec-1", &log, &err), 0);
    assert_int_equal(log.status, WAL_OK);
    wal_log_free(&log);

    /* A flipped byte inside an entry: tampered, named by line. */
    text = tu_read_file(path, &len);
    assert_non_null(text);
    text[strlen(CRYPT_WAL_PREFIX) + 60] ^= 0x02;
    assert_int_equal(tu_write_file(path, text, len, 0600), 0);
    free(text);
    assert_int_equal(wal_read(wdir, "exec-1", &log, &err), 0);
    assert_int_equal(log.status, WAL_CORRUPT);
    assert_int_equal(log.bad_line, 1);
    assert_non_null(strstr(log.problem, "tampered"));
    wal_log_free(&log);

    crypt_set_reader(NULL);
    wal_close(w);
    crypt_keyring_free(kr);
    tu_rmtree(dir);
    free(dir);
}

static struct config *
parse(const char *text, struct intentus_err *err)
{
    return config_parse(text, strlen(text), "/etc/intentus/intentus.json", err);
}

/* recording.encryption: one of keyring and key_file, relative paths next to
 * the config file, "enabled" optional; everything else refused by name. */
static void
test_config_encryption(void **state)
{
    (void)state;
    struct intentus_err err = { 0 };
    struct config *cfg = parse("{}", &err);

    assert_non_null(cfg);
    assert_false(cfg->encryption.enabled);
    assert_null(cfg->encryption.keyring);
    config_free(cfg);
    cfg = parse("{\"recording\": {\"encryption\": {\"keyring\": \"keys\"}}}", &err);
    assert_non_null(cfg);
    assert_true(cfg->encryption.enabled);
    assert_false(cfg->encryption.is_key_file);
    assert_string_equal(cfg->encryption.keyring, "/etc/intentus/keys");
    config_free(cfg);
    cfg = parse("{\"recording\": {\"encryption\": {\"key_file\": \"/k/one.key\", "
                "\"enabled\": false}}}",
                &err);
    assert_non_null(cfg);
    assert_false(cfg->encryption.enabled);
    assert_true(cfg->encryption.is_key_file);
    assert_string_equal(cfg->encryption.keyring, "/k/one.key");
    config_free(cfg);

    const char *bad[][2] = {
        { "{\"recording\": {\"encryption\": {}}}", "exactly one of keyring and key_file" },
        { "{\"recording\": {\"encryption\": {\"keyring\": \"a\", \"key_file\": \"b\"}}}",
          "exactly one of keyring and key_file" },
        { "{\"recording\": {\"encryption\": {\"keyring\": \"\"}}}",
          "recording.encryption.keyring: must be a non-empty path" },
        { "{\"recording\": {\"encryption\": {\"keyring\": \"a\", \"enabled\": 1}}}",
          "recording.encryption.enabled: must be true or false" },
        { "{\"recording\": {\"encryption\": {\"keyrnig\": \"a\"}}}",
          "recording.encryption.keyrnig: unknown key" },
        { "{\"recording\": {\"encryption\": true}}", "recording.encryption: must be an object" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(parse(bad[i][0], &err));
        if (strstr(err.msg, bad[i][1]) == NULL)
            fail_msg("%s: got '%s', wanted '%s'", bad[i][0], err.msg, bad[i][1]);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open_roundtrip),
        cmocka_unit_test(test_open_failures_are_distinct),
        cmocka_unit_test(test_key_file_modes),
        cmocka_unit_test(test_rotation_keeps_old_keys),
        cmocka_unit_test(test_store_and_archive),
        cmocka_unit_test(test_wal_entries_sealed),
        cmocka_unit_test(test_config_encryption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
