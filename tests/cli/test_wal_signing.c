/* End-to-end: intentus SIGNS its WAL (wal.signing_key, wal keygen) and the
 * Python reference's own code checks it (tests/support/ref_sign_wal.py
 * verify: WALReader.read_all + WALEntry.verify_signature), both ways:
 * intentus-signed logs verify in the reference, keys the reference makes
 * sign in intentus, and every tampering (forged, stripped, reordered, other
 * key, changed payload) fails in both, naming the entry's seq. Recovery
 * resume/close/abort sign what they append. Compliance modes
 * (compliance.mode) refuse a start that lacks what they require. Without
 * python3 and its `cryptography`, or without the reference, the tests that
 * need it are counted skips. */
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

#define TIMEOUT_MS 20000

#define CONTAINS(hay, needle)                                                                      \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("'%s' not in:\n%s", (needle), (hay));                                         \
    } while (0)

struct ref {
    char pythonpath[PATH_MAX + 16]; /* "PYTHONPATH=<reference>" */
    char script[PATH_MAX];
    const char *python;
};

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

/* The reference's helper script in dir; the caller judges r->status. */
static void
py_run(const struct ref *ref, const char *dir, struct tu_run *r, ...)
{
    char *argv[12];
    char *const env[] = { (char *)ref->pythonpath, NULL };
    va_list ap;
    int n = 0;

    argv[n++] = (char *)ref->python;
    argv[n++] = (char *)ref->script;
    va_start(ap, r);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 11;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, NULL, env, TIMEOUT_MS, r), 0);
}

/* The same, which must succeed; its first stdout line into out. */
static void
py_ok(const struct ref *ref, const char *dir, char *out, size_t size, const char *mode,
      const char *a1, const char *a2)
{
    struct tu_run r;

    py_run(ref, dir, &r, mode, a1, a2, NULL);
    if (r.status != 0)
        fail_msg("ref_sign_wal.py %s %s failed (%d): %s%s", mode, a1, r.status, r.out, r.err);
    if (out != NULL)
        snprintf(out, size, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    tu_run_free(&r);
}

/* The reference's verdict on dir/wal/id.wal with a public key PEM. */
static void
ref_verify(const struct ref *ref, const char *dir, const char *id, const char *pub, int status,
           const char *want)
{
    char rel[160];
    struct tu_run r;

    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    py_run(ref, dir, &r, "verify", rel, pub, NULL);
    if (r.status != status)
        fail_msg("reference verify: exit %d, not %d: %s%s", r.status, status, r.out, r.err);
    CONTAINS(r.out, want);
    tu_run_free(&r);
}

static void
run_t(const char *dir, int timeout_ms, struct tu_run *r, va_list ap)
{
    char *argv[32], home[PATH_MAX + 8], xdg[PATH_MAX + 20];
    char *const env[] = { home, xdg, "INTENTUS_CONFIG=", "INTENTUSNET_RECORDS_PATH=", NULL };
    int n = 0;

    snprintf(home, sizeof(home), "HOME=%s", dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", dir);
    argv[n++] = (char *)tu_bin();
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 31;)
        argv[n++] = a;
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, dir, NULL, env, timeout_ms, r), 0);
}

/* intentus ARGS... in dir (its ./intentus.json is the config). */
static void
run(const char *dir, struct tu_run *r, ...)
{
    va_list ap;

    va_start(ap, r);
    run_t(dir, TIMEOUT_MS, r, ap);
    va_end(ap);
}

static void
run_killed(const char *dir, int timeout_ms, struct tu_run *r, ...)
{
    va_list ap;

    va_start(ap, r);
    run_t(dir, timeout_ms, r, ap);
    va_end(ap);
}

static void
write_in(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
}

static char *
read_in(const char *dir, const char *name)
{
    char path[PATH_MAX];
    char *text;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    return text;
}

/* Occurrences of needle in hay. */
static int
count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

#define AGENTS                                                                                     \
    "\"agents\": [{\"name\":\"b\",\"builtin\":\"echo\",\"intents\":[\"t.x\"]},"                    \
    " {\"name\":\"sloth\",\"builtin\":\"slow\",\"delay_ms\":5000,\"intents\":[\"t.slow\"]}]"

/* intentus wal keygen --out keys in dir; its key id into key_id. */
static void
keygen(const char *dir, char key_id[32])
{
    struct tu_run r;
    cJSON *j;

    run(dir, &r, "wal", "keygen", "--out", "keys", "--json", NULL);
    assert_int_equal(r.status, 0);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(j);
    snprintf(key_id, 32, "%s", json_get_string(j, "key_id"));
    assert_int_equal(strlen(key_id), 16);
    cJSON_Delete(j);
    tu_run_free(&r);
}

/* Route t.x with the config in dir; the execution id into id. */
static void
route(const char *dir, char id[64])
{
    struct tu_run r;
    const char *p;

    run(dir, &r, "route", "t.x", NULL);
    if (r.status != 0)
        fail_msg("route: exit %d: %s", r.status, r.err);
    p = strstr(r.err, "execution ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s", id), 1);
    tu_run_free(&r);
}

/* A directory with keys/ from `intentus wal keygen` and an intentus.json
 * signing with it. */
static char *
signing_dir(char key_id[32])
{
    char *dir = tu_mkdtemp();

    keygen(dir, key_id);
    write_in(dir, "intentus.json",
             "{\"wal\": {\"enabled\": true, \"dir\": \"wal\", \"signing_key\": "
             "\"keys/wal-signer.pem\"}, " AGENTS "}");
    return dir;
}

static void
intentus_verify(const char *dir, const char *id, const char *pub, int status, const char *want)
{
    struct tu_run r;

    run(dir, &r, "wal", "verify", id, "-w", "wal", "-k", pub, NULL);
    if (r.status != status)
        fail_msg("wal verify: exit %d, not %d: %s%s", r.status, status, r.out, r.err);
    CONTAINS(status == 0 ? r.out : r.err, want);
    tu_run_free(&r);
}

/* Every entry intentus writes is signed with the configured key, and the
 * reference verifies the log; the reference loads intentus's private key. */
static void
test_intentus_signs_reference_verifies(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], id[64], want[160], rel[128], got[64], *dir = signing_dir(key_id), *wal;
    struct stat st;

    snprintf(rel, sizeof(rel), "%s/keys/wal-signer.pem", dir);
    assert_int_equal(stat(rel, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    route(dir, id);
    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    wal = read_in(dir, rel);
    snprintf(want, sizeof(want), "\"signer_key_id\": \"%s\"}\n", key_id);
    assert_int_equal(count(wal, "\n"), 4);
    assert_int_equal(count(wal, want), 4); /* every entry, after "version" as the reference */
    assert_int_equal(count(wal, "\"version\": \"1.0\", \"signature\": \""), 4);
    free(wal);
    snprintf(want, sizeof(want), "WAL verified, signatures checked (key %s): 4 entries", key_id);
    intentus_verify(dir, id, "keys/wal-signer.pub.pem", 0, want);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 0, "ok 4");
    /* The reference's Ed25519WALSigner.from_pem_file loads the private key. */
    py_ok(ref, dir, got, sizeof(got), "signwith", rel, "keys/wal-signer.pem");
    assert_string_equal(got, key_id);
    tu_rmtree(dir);
    free(dir);
}

/* Keys the reference's library makes (PKCS#8 PEM and the raw 32 bytes)
 * sign in intentus; the reference verifies. */
static void
test_reference_keys_sign_in_intentus(void **state)
{
    const struct ref *ref = need_ref(state);
    static const char *const keys[] = { "rk/priv.pem", "rk/priv.raw" };
    char *dir = tu_mkdtemp(), key_id[32], id[64], cfg[512], want[160];

    py_ok(ref, dir, key_id, sizeof(key_id), "genkey", "rk", NULL);
    for (size_t i = 0; i < 2; i++) {
        snprintf(cfg, sizeof(cfg),
                 "{\"wal\": {\"enabled\": true, \"dir\": \"wal\", \"signing_key\": \"%s\"}, " AGENTS
                 "}",
                 keys[i]);
        write_in(dir, "intentus.json", cfg);
        route(dir, id);
        ref_verify(ref, dir, id, "rk/pub.pem", 0, "ok 4");
        snprintf(want, sizeof(want), "signatures checked (key %s)", key_id);
        intentus_verify(dir, id, "rk/pub.hex", 0, want);
    }
    tu_rmtree(dir);
    free(dir);
}

/* Tampering with an intentus-signed log fails in intentus and in the
 * reference, each naming the entry's seq. */
static void
test_tampered_fails_in_both(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], id[64], rel[128], want[200], other[32], *dir = signing_dir(key_id), *orig;
    struct tu_run r;

    route(dir, id);
    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    orig = read_in(dir, rel);

    /* forged: one bit of seq 2's signature */
    py_ok(ref, dir, NULL, 0, "forge", rel, "2");
    snprintf(want, sizeof(want), "seq 2: signature does not verify with key %s", key_id);
    intentus_verify(dir, id, "keys/wal-signer.pub.pem", 1, want);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 1, "seq 2: signature does not verify");

    /* missing: seq 3's signature fields dropped */
    write_in(dir, rel, orig);
    py_ok(ref, dir, NULL, 0, "strip", rel, "3");
    intentus_verify(dir, id, "keys/wal-signer.pub.pem", 1, "seq 3: no signature");
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 1, "seq 3: Entry seq=3 is not signed");

    /* reordered: entries 2 and 3 swapped, each with its valid signature */
    write_in(dir, rel, orig);
    py_ok(ref, dir, NULL, 0, "swap", rel, "2");
    intentus_verify(dir, id, "keys/wal-signer.pub.pem", 1, "line 2: seq 3 where seq 2 belongs");
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 1, "expected 2, got 3");

    /* changed payload, chain re-hashed, old signatures kept */
    write_in(dir, rel, orig);
    py_ok(ref, dir, NULL, 0, "tamper", rel, "2");
    intentus_verify(dir, id, "keys/wal-signer.pub.pem", 1, "seq 2: signature does not verify");
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 1, "seq 2: signature does not verify");

    /* signed by another key */
    write_in(dir, rel, orig);
    py_ok(ref, dir, other, sizeof(other), "sign", rel, "otherkeys");
    snprintf(want, sizeof(want), "seq 1: signed by key %s, not by the given key %s", other, key_id);
    intentus_verify(dir, id, "keys/wal-signer.pub.pem", 1, want);
    snprintf(want, sizeof(want), "seq 1: signature does not verify (unknown key %s)", other);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 1, want);

    /* the untouched log still verifies in both */
    write_in(dir, rel, orig);
    run(dir, &r, "wal", "verify", id, "-w", "wal", "-k", "keys/wal-signer.pub.pem", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 0, "ok 4");
    free(orig);
    tu_rmtree(dir);
    free(dir);
}

/* The id of the one WAL in dir/wal. */
static void
only_wal(const char *dir, char id[64])
{
    char cmd[PATH_MAX + 64];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "ls %s/wal | sed -n 's/\\.wal$//p'", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(id, 64, p));
    pclose(p);
    id[strcspn(id, "\n")] = '\0';
    assert_int_equal(strlen(id), 36);
}

/* resume and abort on a signed log: refused without the key or with
 * another, signed with the right one, and the reference verifies. */
static void
test_resume_and_abort_sign(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], id[64], want[300], other[32], *dir = signing_dir(key_id);
    struct tu_run r;
    cJSON *j;

    /* A writer killed mid-execution: execution.started + step.started. */
    run_killed(dir, 700, &r, "route", "t.slow", "-q", NULL);
    assert_int_equal(r.status, 128 + 9);
    tu_run_free(&r);
    only_wal(dir, id);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 0, "ok 2");

    /* -w and -d: no config read, so no key */
    run(dir, &r, "recovery", "resume", id, "-w", "wal", "-d", ".intentusnet/records", NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "is signed (key %s) and no signing key is configured", key_id);
    CONTAINS(r.err, want);
    CONTAINS(r.err, "wal.signing_key");
    tu_run_free(&r);
    py_ok(ref, dir, other, sizeof(other), "genkey", "rk", NULL);
    run(dir, &r, "recovery", "resume", id, "--signing-key", "rk/priv.pem", NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "is signed by key %s, not by the signing key given (key %s)",
             key_id, other);
    CONTAINS(r.err, want);
    tu_run_free(&r);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 0, "ok 2"); /* nothing appended */

    run(dir, &r, "recovery", "resume", id, NULL); /* the config's wal.signing_key */
    if (r.status != 0)
        fail_msg("resume: %s", r.err);
    j = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_get_string(j, "signed_by"), key_id);
    cJSON_Delete(j);
    tu_run_free(&r);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 0, "ok 3");
    snprintf(want, sizeof(want), "signatures checked (key %s): 3 entries", key_id);
    intentus_verify(dir, id, "keys/wal-signer.pub.pem", 0, want);

    run(dir, &r, "recovery", "abort", id, "--reason", "operator", "-w", "wal", "-s",
        "keys/wal-signer.pem", NULL);
    if (r.status != 0)
        fail_msg("abort: %s", r.err);
    tu_run_free(&r);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 0, "ok 4");
    run(dir, &r, "wal", "inspect", id, "-w", "wal", "-k", "keys/wal-signer.pub.pem", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "recovery.started");
    CONTAINS(r.out, "execution.aborted");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* close from the record on a signed log, and an unsigned log refuses a
 * key (it would be half-signed) but closes without one. */
static void
test_close_signed_and_unsigned_refusal(void **state)
{
    const struct ref *ref = need_ref(state);
    char key_id[32], id[64], rel[128], want[200], *dir = signing_dir(key_id), *wal, *cut;
    struct tu_run r;

    route(dir, id);
    snprintf(rel, sizeof(rel), "wal/%s.wal", id);
    wal = read_in(dir, rel);
    cut = strstr(wal, "\"entry_type\": \"execution.completed\"");
    assert_non_null(cut);
    while (cut > wal && cut[-1] != '\n')
        cut--;
    *cut = '\0'; /* a stop between the record and the WAL's terminal entry */
    write_in(dir, rel, wal);
    free(wal);
    run(dir, &r, "recovery", "close", id, NULL);
    if (r.status != 0)
        fail_msg("close: %s", r.err);
    CONTAINS(r.out, key_id);
    tu_run_free(&r);
    ref_verify(ref, dir, id, "keys/wal-signer.pub.pem", 0, "ok 4");

    /* An unsigned log (a WAL without signing_key) and a key. */
    write_in(dir, "intentus.json", "{\"wal\": {\"enabled\": true, \"dir\": \"wal2\"}, " AGENTS "}");
    run_killed(dir, 700, &r, "route", "t.slow", "-q", NULL);
    assert_int_equal(r.status, 128 + 9);
    tu_run_free(&r);
    run(dir, &r, "recovery", "scan", "-w", "wal2", "--json", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(sscanf(strstr(r.out, "\"execution_id\": \"") + 17, "%36s", id), 1);
    tu_run_free(&r);
    run(dir, &r, "recovery", "abort", id, "-w", "wal2", "-r", "x", "-s", "keys/wal-signer.pem",
        NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "is not signed; appending entries signed by key %s", key_id);
    CONTAINS(r.err, want);
    tu_run_free(&r);
    run(dir, &r, "recovery", "abort", id, "-w", "wal2", "-r", "x", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "\"signed_by\": null");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* A private key others can read is refused naming its mode; a public key
 * cannot sign; both are configuration errors (exit 2) naming the key. */
static void
test_signing_key_refusals(void **state)
{
    char key_id[32], path[PATH_MAX], *dir = signing_dir(key_id);
    struct tu_run r;

    (void)state;
    snprintf(path, sizeof(path), "%s/keys/wal-signer.pem", dir);
    assert_int_equal(chmod(path, 0644), 0);
    run(dir, &r, "route", "t.x", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "wal.signing_key");
    CONTAINS(r.err, "keys/wal-signer.pem: mode 0644 lets others read the private key");
    tu_run_free(&r);
    assert_int_equal(tu_count_files(dir, ".wal"), 0);
    write_in(dir, "intentus.json",
             "{\"wal\": {\"enabled\": true, \"dir\": \"wal\", \"signing_key\": "
             "\"keys/wal-signer.pub.pem\"}, " AGENTS "}");
    snprintf(path, sizeof(path), "%s/keys/wal-signer.pub.pem", dir);
    assert_int_equal(chmod(path, 0600), 0);
    run(dir, &r, "route", "t.x", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "keys/wal-signer.pub.pem is not a private key");
    tu_run_free(&r);
    /* keygen never overwrites */
    run(dir, &r, "wal", "keygen", "--out", "keys", NULL);
    assert_int_equal(r.status, 1);
    CONTAINS(r.err, "never overwritten");
    tu_run_free(&r);
    run(dir, &r, "wal", "keygen", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "--out DIR is required");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* REGULATED without what it requires refuses to start, naming every
 * missing requirement in one message (route and serve, exit 2). */
static void
test_regulated_refuses_naming_every_missing(void **state)
{
    char *dir = tu_mkdtemp(), path[PATH_MAX];
    struct tu_run r;

    (void)state;
    write_in(dir, "intentus.json",
             "{\"compliance\": {\"mode\": \"REGULATED\"}, \"require_determinism\": false, " AGENTS
             "}");
    run(dir, &r, "route", "t.x", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "intentus.json: compliance mode regulated requires: require_determinism true "
                    "(no PARALLEL); wal.enabled true; wal.signing_key; redaction (a PII policy); "
                    "recording.encryption");
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/.intentusnet", dir);
    assert_int_equal(access(path, F_OK), -1); /* nothing created */
    run(dir, &r, "serve", "--listen", "127.0.0.1:0", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "compliance mode regulated requires:");
    tu_run_free(&r);
    /* Only the key missing: only the key named. */
    run(dir, &r, "keys", "new", "--keyring", "ring", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    write_in(dir, "intentus.json",
             "{\"compliance\": {\"mode\": \"regulated\"}, \"wal\": {\"enabled\": true, \"dir\": "
             "\"wal\"}, \"redaction\": {\"keys\": [\"ssn\"]}, \"recording\": {\"encryption\": "
             "{\"keyring\": \"ring\"}}, " AGENTS "}");
    run(dir, &r, "route", "t.x", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "compliance mode regulated requires: wal.signing_key\n");
    tu_run_free(&r);
    /* The mode shows in `intentus agents`, which reads and does not refuse. */
    run(dir, &r, "agents", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "compliance regulated");
    tu_run_free(&r);
    run(dir, &r, "agents", "--json", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "\"compliance\": \"regulated\"");
    tu_run_free(&r);
    /* A bad mode is a config error naming the key. */
    write_in(dir, "intentus.json", "{\"compliance\": {\"mode\": \"strict\"}}");
    run(dir, &r, "route", "t.x", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "compliance.mode: must be \"development\", \"standard\" or \"regulated\"");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* REGULATED with everything in place routes and signs. */
static void
test_regulated_complete_signs(void **state)
{
    char key_id[32], id[64], want[160], *dir = tu_mkdtemp();
    struct tu_run r;

    (void)state;
    keygen(dir, key_id);
    run(dir, &r, "keys", "new", "--keyring", "ring", NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    write_in(dir, "intentus.json",
             "{\"compliance\": {\"mode\": \"Regulated\"}, \"wal\": {\"enabled\": true, \"dir\": "
             "\"wal\", \"signing_key\": \"keys/wal-signer.pem\"}, \"redaction\": {\"keys\": "
             "[\"ssn\"]}, \"recording\": {\"encryption\": {\"keyring\": \"ring\"}}, " AGENTS "}");
    route(dir, id);
    snprintf(want, sizeof(want), "signatures checked (key %s): 4 entries", key_id);
    /* The WAL is encrypted too: the config names the keyring that opens it
     * (with only --wal-dir the config would not be read). */
    run(dir, &r, "wal", "verify", id, "-c", "intentus.json", "-k", "keys/wal-signer.pub.pem", NULL);
    if (r.status != 0)
        fail_msg("wal verify: exit %d: %s%s", r.status, r.out, r.err);
    CONTAINS(r.out, want);
    tu_run_free(&r);
    run(dir, &r, "agents", NULL);
    CONTAINS(r.out, "compliance regulated");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

/* STANDARD (the default, as the reference's ComplianceConfig) requires
 * determinism; DEVELOPMENT allows PARALLEL. */
static void
test_standard_refuses_and_development_allows_parallel(void **state)
{
    char *dir = tu_mkdtemp();
    struct tu_run r;

    (void)state;
    write_in(dir, "intentus.json", "{\"require_determinism\": false, " AGENTS "}");
    run(dir, &r, "route", "t.x", "--strategy", "parallel", NULL);
    assert_int_equal(r.status, 2);
    CONTAINS(r.err, "compliance mode standard requires: require_determinism true (no PARALLEL)");
    tu_run_free(&r);
    run(dir, &r, "agents", NULL);
    CONTAINS(r.out, "compliance standard");
    tu_run_free(&r);
    write_in(dir, "intentus.json",
             "{\"compliance\": {\"mode\": \"development\"}, \"require_determinism\": false, " AGENTS
             "}");
    run(dir, &r, "route", "t.x", "--strategy", "parallel", NULL);
    assert_int_equal(r.status, 0);
    CONTAINS(r.out, "\"status\": \"success\"");
    tu_run_free(&r);
    run(dir, &r, "agents", "--json", NULL);
    CONTAINS(r.out, "\"compliance\": \"development\"");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intentus_signs_reference_verifies),
        cmocka_unit_test(test_reference_keys_sign_in_intentus),
        cmocka_unit_test(test_tampered_fails_in_both),
        cmocka_unit_test(test_resume_and_abort_sign),
        cmocka_unit_test(test_close_signed_and_unsigned_refusal),
        cmocka_unit_test(test_signing_key_refusals),
        cmocka_unit_test(test_regulated_refuses_naming_every_missing),
        cmocka_unit_test(test_regulated_complete_signs),
        cmocka_unit_test(test_standard_refuses_and_development_allows_parallel),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
