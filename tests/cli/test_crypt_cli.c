/* End-to-end: encryption at rest on the real binary. A secret routed with
 * recording.encryption on is in no file under the record, WAL, archive and
 * index locations; the same records read back with the key through every
 * records command; missing key, wrong key, truncated and tampered files are
 * told apart and never deleted; rotation; key file modes; recovery. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "core/crypt.h"
#include "core/json.h"
#include "tests/support/agent_testutil.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 20000
#define CANARY "canary-9d41e7b2-at-rest"
#define PAYLOAD "{\"note\":\"" CANARY "\"}"

static const char cfg_text[] =
    "{\"recording\": {\"encryption\": {\"keyring\": \"ring\"}},"
    " \"wal\": {\"enabled\": true},"
    " \"agents\": ["
    "  {\"name\":\"a\",\"builtin\":\"fail\",\"intents\":[\"t.x\"],\"nodePriority\":1},"
    "  {\"name\":\"b\",\"builtin\":\"echo\",\"intents\":[\"t.x\"],\"nodePriority\":2,"
    "   \"side_effect\":\"irreversible\"}]}";

/* Run intentus with args (NULL-terminated) in dir; key: the value of
 * $INTENTUS_KEYRING ("" for none). */
static void
run_env(const char *dir, const char *key, struct tu_run *r, va_list ap)
{
    char *argv[40], home[PATH_MAX + 8], xdg[PATH_MAX + 20], kr[PATH_MAX + 20], cache[PATH_MAX + 20];
    char *const env[] = { home, xdg, cache, kr, "INTENTUS_CONFIG=", "INTENTUSNET_RECORDS_PATH=",
                          NULL };
    int n = 0;

    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", dir);
    snprintf(cache, sizeof(cache), "XDG_CACHE_HOME=%s/cache", dir);
    snprintf(kr, sizeof(kr), "INTENTUS_KEYRING=%s", key);
    argv[n++] = (char *)tu_bin();
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 39;)
        argv[n++] = a;
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, NULL, env, TIMEOUT_MS, r), 0);
}

static void
run(const char *dir, struct tu_run *r, ...)
{
    va_list ap;

    va_start(ap, r);
    run_env(dir, "", r, ap);
    va_end(ap);
}

static void
run_key(const char *dir, const char *key, struct tu_run *r, ...)
{
    va_list ap;

    va_start(ap, r);
    run_env(dir, key, r, ap);
    va_end(ap);
}

/* Run and expect status; the output is freed. */
static void
ok(const char *dir, int status, ...)
{
    struct tu_run r;
    va_list ap;

    va_start(ap, status);
    run_env(dir, "", &r, ap);
    va_end(ap);
    if (r.status != status)
        fail_msg("exit %d, wanted %d: %s / %s", r.status, status, r.out, r.err);
    tu_run_free(&r);
}

static char *
setup(void)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/intentus.json", dir);
    assert_int_equal(tu_write_file(path, cfg_text, strlen(cfg_text), 0600), 0);
    ok(dir, 0, "keys", "new", "-c", "intentus.json", NULL);
    return dir;
}

/* Every regular file under path (recursively) that holds needle. */
static int
grep_tree(const char *path, const char *needle, char *hit, size_t hit_size)
{
    struct dirent *de;
    int found = 0;
    DIR *d = opendir(path);

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL && !found) {
        char sub[PATH_MAX];
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        if (lstat(sub, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            found = grep_tree(sub, needle, hit, hit_size);
        } else if (S_ISREG(st.st_mode)) {
            size_t len = 0;
            char *data = tu_read_file(sub, &len);
            if (data != NULL && memmem(data, len, needle, strlen(needle)) != NULL) {
                snprintf(hit, hit_size, "%s", sub);
                found = 1;
            }
            free(data);
        }
    }
    closedir(d);
    return found;
}

/* The ids `records list --json` gives, newest first, into ids[]. */
static size_t
list_ids(const char *dir, char ids[][64], size_t max)
{
    struct tu_run r;
    const cJSON *it;
    cJSON *j;
    size_t n = 0;

    run(dir, &r, "records", "list", "--json", "--no-index", NULL);
    assert_int_equal(r.status, 0);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(j);
    cJSON_ArrayForEach(it, j)
    {
        if (n < max)
            snprintf(ids[n++], 64, "%s", json_get_string(it, "executionId"));
    }
    cJSON_Delete(j);
    tu_run_free(&r);
    return n;
}

static void
test_secret_not_on_disk_and_read_back(void **state)
{
    (void)state;
    char *dir = setup(), hit[PATH_MAX] = "", path[PATH_MAX], ids[8][64];
    struct tu_run r;
    size_t n;

    for (int i = 0; i < 3; i++)
        ok(dir, 0, "route", "t.x", "--strategy", "fallback", "-p", PAYLOAD, "--quiet", NULL);
    n = list_ids(dir, ids, 8);
    assert_int_equal(n, 3);
    /* Two of them to the archive (record and WAL), one stays. */
    ok(dir, 0, "records", "gc", "--max-count", "1", "--archive", "arch", "--yes", NULL);
    /* The persistent index, built by reading the encrypted files. */
    ok(dir, 0, "records", "list", NULL);
    ok(dir, 0, "index", "stats", NULL);

    snprintf(path, sizeof(path), "%s/.intentusnet/records/.intentus", dir);
    assert_int_equal(access(path, F_OK), 0); /* the index is there */
    snprintf(path, sizeof(path), "%s/arch", dir);
    assert_int_equal(tu_count_files(path, ".json.gz"), 2);
    assert_int_equal(tu_count_files(path, ".wal.gz"), 2);
    /* The secret, and any plaintext record or WAL entry at all. The index
     * (records/.intentus) holds routing metadata only, no record text. */
    const char *where[] = { ".intentusnet/records", ".intentusnet/wal", "arch", "cache" };
    const char *needles[] = { CANARY, "envelopeHash", "finalResponse", "entry_type",
                              "intent_name" };
    for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
        for (size_t k = 0; k < sizeof(needles) / sizeof(needles[0]); k++) {
            snprintf(path, sizeof(path), "%s/%s", dir, where[i]);
            if (grep_tree(path, needles[k], hit, sizeof(hit)))
                fail_msg("'%s' is readable in %s", needles[k], hit);
        }
    }
    /* gzip hides strings from a grep: the archives are checked decompressed.
     * A record archive is sealed whole; a WAL archive's lines are sealed. */
    for (size_t i = 0; i < 2; i++) {
        char gz[PATH_MAX + 80], buf[1 << 16];
        gzFile g;
        int got;
        snprintf(gz, sizeof(gz), "%s/arch/%s.json.gz", dir, ids[1 + i]);
        {
            size_t len = 0;
            char *data = tu_read_file(gz, &len);
            assert_non_null(data);
            assert_true(crypt_is_sealed(data, len));
            free(data);
        }
        snprintf(gz, sizeof(gz), "%s/arch/%s.wal.gz", dir, ids[1 + i]);
        g = gzopen(gz, "rb");
        assert_non_null(g);
        got = gzread(g, buf, sizeof(buf) - 1);
        gzclose(g);
        assert_true(got > 0);
        buf[got] = '\0';
        assert_memory_equal(buf, CRYPT_WAL_PREFIX, strlen(CRYPT_WAL_PREFIX));
        assert_null(strstr(buf, "entry_type"));
        assert_null(strstr(buf, "\n{"));
    }

    /* With the key (the config's keyring) everything reads. */
    run(dir, &r, "records", "list", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "t.x"));
    assert_null(strstr(r.out, "ENCRYPTED"));
    tu_run_free(&r);
    run(dir, &r, "records", "show", ids[0], NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, CANARY));
    tu_run_free(&r);
    run(dir, &r, "records", "show", "-d", "arch", "-c", "intentus.json", ids[2], NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, CANARY));
    tu_run_free(&r);
    run(dir, &r, "records", "verify", "-v", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "(encrypted: tag verified) (record and WAL agree)"));
    assert_non_null(strstr(r.out, "1 passed, 0 failed"));
    tu_run_free(&r);
    run(dir, &r, "records", "stats", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "t.x"));
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", ids[0], NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    /* An error record (its message is response text): the index keeps
     * only its code, and the index and the files still agree. */
    ok(dir, 1, "route", "t.x", "-t", "a", "-p", PAYLOAD, "--quiet", NULL);
    run(dir, &r, "index", "check", NULL);
    if (r.status != 0)
        fail_msg("index check: %s / %s", r.out, r.err);
    assert_non_null(strstr(r.out, "0 differences"));
    tu_run_free(&r);

    /* export --decrypt: plaintext, byte for byte the record. */
    ok(dir, 2, "records", "export", "--out", "exp", NULL);
    ok(dir, 0, "records", "export", "--decrypt", "--out", "exp", NULL);
    snprintf(path, sizeof(path), "%s/exp/%s.json", dir, ids[0]);
    {
        size_t len = 0;
        char *text = tu_read_file(path, &len);
        assert_non_null(text);
        assert_int_equal(text[0], '{');
        assert_non_null(strstr(text, CANARY));
        free(text);
    }
    /* The export verifies as a plain record directory, with no key at all. */
    run(dir, &r, "records", "verify", "-d", "exp", "-w", "none", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

static void
flip_byte(const char *path, size_t at)
{
    size_t len = 0;
    char *data = tu_read_file(path, &len);

    assert_non_null(data);
    assert_true(at < len);
    data[at] ^= 0x10;
    assert_int_equal(tu_write_file(path, data, len, 0600), 0);
    free(data);
}

static void
truncate_file(const char *path)
{
    size_t len = 0;
    char *data = tu_read_file(path, &len);

    assert_non_null(data);
    assert_int_equal(tu_write_file(path, data, len / 2, 0600), 0);
    free(data);
}

/* Wrong key, missing key, truncated, one flipped byte: each its own word
 * and message; records gc (dry run and run alike) deletes none of them. */
static void
test_failures_distinct_and_kept(void **state)
{
    (void)state;
    char *dir = setup(), ids[8][64], path[PATH_MAX], other[PATH_MAX];
    const char *want[4] = { "tampered", "truncated", "encrypted", "ok" };
    struct tu_run r;
    const cJSON *it;
    cJSON *j;

    for (int i = 0; i < 3; i++)
        ok(dir, 0, "route", "t.x", "-t", "b", "-p", PAYLOAD, "--quiet", NULL);
    /* A fourth record sealed with another keyring: the wrong key for ours. */
    snprintf(other, sizeof(other), "%s/other.json", dir);
    {
        const char *o =
            "{\"recording\": {\"encryption\": {\"key_file\": \"other.key\"}},"
            " \"agents\": [{\"name\":\"b\",\"builtin\":\"echo\",\"intents\":[\"t.x\"]}]}";
        assert_int_equal(tu_write_file(other, o, strlen(o), 0600), 0);
    }
    ok(dir, 0, "keys", "new", "--key-file", "other.key", NULL);
    ok(dir, 0, "route", "t.x", "-c", "other.json", "-d", ".intentusnet/records", "-p", PAYLOAD,
       "--quiet", NULL);
    assert_int_equal(list_ids(dir, ids, 8), 4);
    /* ids newest first: [0] wrong key, [1] truncated, [2] tampered, [3] intact. */
    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, ids[1]);
    truncate_file(path);
    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, ids[2]);
    flip_byte(path, 400);

    run(dir, &r, "records", "list", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(j);
    cJSON_ArrayForEach(it, j)
    {
        const char *id = json_get_string(it, "executionId"), *st = json_get_string(it, "status");
        const char *e = json_get_string(it, "error");
        if (strcmp(id, ids[0]) == 0) {
            assert_string_equal(st, "encrypted");
            assert_non_null(strstr(e, "wrong key"));
        } else if (strcmp(id, ids[1]) == 0) {
            assert_string_equal(st, want[1]);
            assert_non_null(strstr(e, "truncated"));
        } else if (strcmp(id, ids[2]) == 0) {
            assert_string_equal(st, want[0]);
            assert_null(strstr(e, CANARY));
        } else {
            assert_string_equal(id, ids[3]);
            assert_string_equal(st, want[3]);
        }
    }
    cJSON_Delete(j);
    tu_run_free(&r);

    /* records show: each its own message, no data. */
    run(dir, &r, "records", "show", ids[2], NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "tampered"));
    assert_null(strstr(r.out, CANARY));
    tu_run_free(&r);
    run(dir, &r, "records", "show", ids[1], NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "truncated"));
    tu_run_free(&r);
    run(dir, &r, "records", "show", ids[0], NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "wrong key"));
    tu_run_free(&r);
    /* No key at all: "encrypted, key K missing", not corrupt. */
    assert_int_equal(tu_write_file(other, "{}", 2, 0600), 0);
    run(dir, &r, "records", "show", "-c", "other.json", "-d", ".intentusnet/records", ids[3], NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "encrypted, key "));
    assert_non_null(strstr(r.err, " missing"));
    tu_run_free(&r);
    /* Through the index (built with the key above): every encrypted
     * record, the intact one too, is shown encrypted to a reader without
     * the key, never from the cache; with the key again, it reads. */
    run(dir, &r, "records", "list", "-c", "other.json", "-d", ".intentusnet/records", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "ENCRYPTED"));
    assert_null(strstr(r.out, "CORRUPT"));
    assert_null(strstr(r.out, "t.x"));
    tu_run_free(&r);
    run(dir, &r, "records", "list", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "t.x"));
    tu_run_free(&r);
    run(dir, &r, "records", "verify", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.out, "1 passed, 3 failed"));
    tu_run_free(&r);

    /* gc: the dry run and the run remove the one intact record only. */
    run(dir, &r, "records", "gc", "--max-count", "0", "--dry-run", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "would remove 1 record"));
    assert_non_null(strstr(r.out, ids[3]));
    tu_run_free(&r);
    ok(dir, 0, "records", "gc", "--max-count", "0", "--yes", NULL);
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, ids[i]);
        assert_int_equal(access(path, F_OK) == 0, i < 3);
    }
    tu_rmtree(dir);
    free(dir);
}

/* Records written before `keys rotate` still read; new ones carry the new
 * key id in their header. */
static void
test_rotation(void **state)
{
    (void)state;
    char *dir = setup(), ids[4][64], path[PATH_MAX], kid[2][CRYPT_ID_HEX];
    struct tu_run r;
    cJSON *j;

    ok(dir, 0, "route", "t.x", "-t", "b", "-p", PAYLOAD, "--quiet", NULL);
    ok(dir, 0, "keys", "rotate", NULL);
    ok(dir, 0, "route", "t.x", "-t", "b", "-p", PAYLOAD, "--quiet", NULL);
    assert_int_equal(list_ids(dir, ids, 4), 2);
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        char *data;
        snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, ids[i]);
        data = tu_read_file(path, &len);
        assert_non_null(data);
        assert_int_equal(crypt_blob_key_id(data, len, kid[i]), 0);
        free(data);
    }
    assert_string_not_equal(kid[0], kid[1]);
    run(dir, &r, "keys", "list", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(j);
    {
        const cJSON *keys = cJSON_GetObjectItemCaseSensitive(j, "keys");
        const cJSON *k0 = cJSON_GetArrayItem(keys, 0), *k1 = cJSON_GetArrayItem(keys, 1);
        assert_int_equal(cJSON_GetArraySize(keys), 2);
        /* ids[0] is the newer record: the new, writing key. */
        assert_string_equal(json_get_string(k1, "id"), kid[0]);
        assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k1, "writes")));
        assert_string_equal(json_get_string(k0, "id"), kid[1]);
        assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(k0, "writes")));
    }
    cJSON_Delete(j);
    tu_run_free(&r);
    /* The key bytes are never printed. */
    run(dir, &r, "keys", "list", NULL);
    assert_int_equal(r.status, 0);
    {
        DIR *d;
        struct dirent *de;
        snprintf(path, sizeof(path), "%s/ring", dir);
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d)) != NULL) {
            char kp[PATH_MAX + 300], *hex;
            if (de->d_name[0] == '.')
                continue;
            snprintf(kp, sizeof(kp), "%s/%s", path, de->d_name);
            hex = tu_read_file(kp, NULL);
            assert_non_null(hex);
            hex[32] = '\0';
            assert_null(strstr(r.out, hex));
            free(hex);
        }
        closedir(d);
    }
    tu_run_free(&r);
    for (int i = 0; i < 2; i++) {
        run(dir, &r, "records", "show", ids[i], NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, CANARY));
        tu_run_free(&r);
    }
    ok(dir, 0, "records", "verify", NULL);
    /* keys new on a ring that has keys is refused; rotate needs a ring. */
    ok(dir, 1, "keys", "new", NULL);
    ok(dir, 2, "keys", "rotate", "--key-file", "x.key", NULL);
    ok(dir, 2, "keys", NULL);
    ok(dir, 2, "keys", "frob", NULL);
    /* $INTENTUS_KEYRING names the ring 'keys new' creates. */
    run_key(dir, "fresh", &r, "keys", "new", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "new key "));
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/fresh", dir);
    {
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
    }
    tu_rmtree(dir);
    free(dir);
}

/* A key file group or others may read is refused, naming it and its mode;
 * nothing is recorded. $INTENTUS_KEYRING is checked the same way. */
static void
test_key_mode_refused(void **state)
{
    (void)state;
    char *dir = setup(), path[PATH_MAX + 300], ring[PATH_MAX];
    struct tu_run r;
    struct dirent *de;
    DIR *d;

    snprintf(ring, sizeof(ring), "%s/ring", dir);
    d = opendir(ring);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.')
            snprintf(path, sizeof(path), "%s/%s", ring, de->d_name);
    }
    closedir(d);
    assert_int_equal(chmod(path, 0644), 0);
    run(dir, &r, "route", "t.x", "-t", "b", "-p", PAYLOAD, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, path + strlen(dir) + 1));
    assert_non_null(strstr(r.err, "0644"));
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/.intentusnet/records", dir);
    assert_true(tu_count_files(path, ".json") <= 0);
    /* 'keys' is not blocked by the keyring it manages. */
    run_key(dir, ring, &r, "keys", "list", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "0644"));
    tu_run_free(&r);
    run_key(dir, ring, &r, "records", "list", "-d", ".intentusnet/records", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "INTENTUS_KEYRING"));
    assert_non_null(strstr(r.err, "0644"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* recovery resume on an encrypted WAL: it reads, appends sealed entries
 * and the log still verifies. */
static void
test_recovery_with_encrypted_wal(void **state)
{
    (void)state;
    char *dir = setup(), ids[2][64], path[PATH_MAX], *text, *p;
    struct tu_run r;

    ok(dir, 0, "route", "t.x", "--strategy", "fallback", "-p", PAYLOAD, "--quiet", NULL);
    assert_int_equal(list_ids(dir, ids, 2), 1);
    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.wal", dir, ids[0]);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    /* Entries 1-4 only (started, a started + failed, fallback): a crash. */
    p = text;
    for (int i = 0; i < 4; i++)
        p = strchr(p, '\n') + 1;
    *p = '\0';
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
    free(text);
    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, ids[0]);
    assert_int_equal(unlink(path), 0);
    run(dir, &r, "recovery", "scan", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, ids[0]));
    tu_run_free(&r);
    run(dir, &r, "recovery", "resume", ids[0], NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"resumed\": true"));
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.wal", dir, ids[0]);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    assert_null(strstr(text, "recovery.started"));
    for (p = text; *p != '\0'; p = strchr(p, '\n') + 1)
        assert_memory_equal(p, CRYPT_WAL_PREFIX, strlen(CRYPT_WAL_PREFIX));
    free(text);
    run(dir, &r, "wal", "inspect", ids[0], NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "recovery.started"));
    tu_run_free(&r);
    ok(dir, 0, "wal", "verify", ids[0], NULL);
    tu_rmtree(dir);
    free(dir);
}

/* wal gc: a WAL it cannot decrypt is kept, in the dry run and the run
 * alike; with the key, the same finished WAL (its record gone) goes. */
static void
test_wal_gc_keeps_undecryptable(void **state)
{
    (void)state;
    char *dir = setup(), ids[2][64], path[PATH_MAX];
    struct tu_run r;

    ok(dir, 0, "route", "t.x", "-t", "b", "-p", PAYLOAD, "--quiet", NULL);
    assert_int_equal(list_ids(dir, ids, 2), 1);
    snprintf(path, sizeof(path), "%s/.intentusnet/records/%s.json", dir, ids[0]);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof(path), "%s/plain.json", dir);
    assert_int_equal(tu_write_file(path, "{}", 2, 0600), 0);
    for (int i = 0; i < 2; i++) {
        run(dir, &r, "wal", "gc", "-c", "plain.json", "--wal-dir", ".intentusnet/wal", "--dir",
            ".intentusnet/records", i == 0 ? "--dry-run" : "--yes", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "kept     "));
        assert_non_null(strstr(r.out, "missing"));
        assert_non_null(strstr(r.out, "0 WAL files"));
        tu_run_free(&r);
    }
    snprintf(path, sizeof(path), "%s/.intentusnet/wal/%s.wal", dir, ids[0]);
    assert_int_equal(access(path, F_OK), 0);
    ok(dir, 0, "wal", "gc", "--yes", NULL);
    assert_int_not_equal(access(path, F_OK), 0);
    tu_rmtree(dir);
    free(dir);
}

/* The export is what the Python reference reads: its FileExecutionStore
 * loads the exported record with the same envelopeHash, and fails on the
 * encrypted original. Skipped (counted) without python3 and the reference. */
static void
test_export_loads_in_reference(void **state)
{
    (void)state;
    const char *py = tu_python(), *env = getenv("INTENTUS_REFERENCE_PYTHON");
    char ref[PATH_MAX], pp[PATH_MAX + 16], *dir, ids[2][64], src[PATH_MAX], hash[80];
    const char *script = "import sys\n"
                         "from intentusnet.recording.store import FileExecutionStore\n"
                         "r = FileExecutionStore(sys.argv[1]).load(sys.argv[2])\n"
                         "print(r.header.envelopeHash)\n";
    struct tu_run r;
    cJSON *rec;

    if (py == NULL ||
        realpath(env != NULL && env[0] ? env : "../shared/reference/python", ref) == NULL)
        skip();
    snprintf(pp, sizeof(pp), "PYTHONPATH=%s", ref);
    dir = setup();
    ok(dir, 0, "route", "t.x", "-t", "b", "-p", PAYLOAD, "--quiet", NULL);
    assert_int_equal(list_ids(dir, ids, 2), 1);
    ok(dir, 0, "records", "export", "--decrypt", "--out", "exp", NULL);
    run(dir, &r, "records", "show", ids[0], NULL);
    assert_int_equal(r.status, 0);
    rec = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(rec);
    snprintf(hash, sizeof(hash), "%s\n",
             json_get_string(cJSON_GetObjectItemCaseSensitive(rec, "header"), "envelopeHash"));
    cJSON_Delete(rec);
    tu_run_free(&r);
    {
        char *const argv[] = { (char *)py, "-c", (char *)script, "exp", ids[0], NULL };
        char *const penv[] = { pp, NULL };
        assert_int_equal(tu_run(argv, dir, NULL, penv, TIMEOUT_MS, &r), 0);
        if (r.status != 0 && strstr(r.err, "ModuleNotFoundError") != NULL) {
            tu_run_free(&r);
            tu_rmtree(dir);
            free(dir);
            skip(); /* the reference cannot be imported here */
        }
        assert_int_equal(r.status, 0);
        assert_string_equal(r.out, hash);
        tu_run_free(&r);
        /* The encrypted original is not something the reference can read. */
        snprintf(src, sizeof(src), ".intentusnet/records");
        char *const argv2[] = { (char *)py, "-c", (char *)script, src, ids[0], NULL };
        assert_int_equal(tu_run(argv2, dir, NULL, penv, TIMEOUT_MS, &r), 0);
        assert_int_not_equal(r.status, 0);
        tu_run_free(&r);
    }
    tu_rmtree(dir);
    free(dir);
}

/* Set the modification time of dir and every entry in it (not below) to
 * 60 s ago: the index trusts a listing of a directory that has been quiet. */
static void
age_dir(const char *dir)
{
    struct timespec past[2];
    struct dirent *de;
    DIR *d = opendir(dir);

    assert_non_null(d);
    clock_gettime(CLOCK_REALTIME, &past[0]);
    past[0].tv_sec -= 60;
    past[1] = past[0];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        assert_int_equal(utimensat(dirfd(d), de->d_name, past, AT_SYMLINK_NOFOLLOW), 0);
    }
    closedir(d);
    assert_int_equal(utimensat(AT_FDCWD, dir, past, 0), 0);
}

/* The index's unchanged-directory shortcut does not serve a keyless reader
 * the rows a reader with the key built: encrypted rows follow the keys. */
static void
test_index_shortcut_follows_keys(void **state)
{
    char *dir = setup(), recs[PATH_MAX], other[PATH_MAX];
    struct tu_run r;

    (void)state;
    ok(dir, 0, "route", "t.x", "-t", "b", "-p", PAYLOAD, "--quiet", NULL);
    snprintf(recs, sizeof(recs), "%s/.intentusnet/records", dir);
    snprintf(other, sizeof(other), "%s/other.json", dir);
    assert_int_equal(tu_write_file(other, "{}", 2, 0600), 0);
    /* Two listings with the key, the directory aged before each (the first
     * creates the index folder in it), so the second is a quiet listing. */
    for (int i = 0; i < 2; i++) {
        age_dir(recs);
        run(dir, &r, "records", "list", NULL);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "t.x"));
        tu_run_free(&r);
    }
    run(dir, &r, "records", "list", "-c", "other.json", "-d", ".intentusnet/records", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "ENCRYPTED"));
    assert_null(strstr(r.out, "t.x"));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* wal verify with only --wal-dir reads no config, so the keyring comes
 * from --keyring (the error without it names that option). */
static void
test_wal_verify_keyring_flag(void **state)
{
    (void)state;
    char *dir = setup(), ids[1][64];
    struct tu_run r;

    ok(dir, 0, "route", "t.x", "-t", "b", "-p", PAYLOAD, "--quiet", NULL);
    assert_int_equal(list_ids(dir, ids, 1), 1);
    run(dir, &r, "wal", "verify", ids[0], "-w", ".intentusnet/wal", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "give it with --keyring"));
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", ids[0], "-w", ".intentusnet/wal", "--keyring", "ring", NULL);
    if (r.status != 0)
        fail_msg("wal verify --keyring: exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "WAL verified"));
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", "-w", ".intentusnet/wal", "--keyring", "ring", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    run(dir, &r, "wal", "verify", ids[0], "-w", ".intentusnet/wal", "--keyring", "nope", NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--keyring: "));
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_not_on_disk_and_read_back),
        cmocka_unit_test(test_failures_distinct_and_kept),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_key_mode_refused),
        cmocka_unit_test(test_recovery_with_encrypted_wal),
        cmocka_unit_test(test_wal_gc_keeps_undecryptable),
        cmocka_unit_test(test_export_loads_in_reference),
        cmocka_unit_test(test_index_shortcut_follows_keys),
        cmocka_unit_test(test_wal_verify_keyring_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
