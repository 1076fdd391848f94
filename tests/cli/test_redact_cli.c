/* Redaction end to end with the real binary, real exec agent scripts and a
 * real loopback HTTP agent: secrets routed through every failure path (exec
 * agent echoing its stdin to stderr and exiting non-zero, exec timeout, HTTP
 * 500 echoing the request, an agent error response with message, details
 * and metadata, FALLBACK with every agent failing), with the WAL on, then
 * archived by `records gc --archive`. Every file under the record, WAL and
 * archive directories (archives decompressed) and the output of `route`
 * (stderr; stdout is the caller's own response, see README "Security
 * guarantees"), `records show`, `wal inspect --json` and `recovery scan`
 * must hold none of the secret values. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/json.h"
#include "tests/support/cli_expect.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 20000

/* In the envelope, under keys the built-in rules know or in shapes the
 * built-in patterns know. */
#define PW "hunter2-Pw-5150"
#define APIKEY "k3y-4p1-99310"
#define JWT "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMQ"
#define SK "sk-live-ABCDEFGHijklmnop1234"
/* Only the agents know these: key rules on JSON text must find them. */
#define INNER "in-json-S3cr3t-77"
#define CUT "cut-S3ssion-881"
#define META "meta-Hunter2-key"
#define DETAIL "det-T0ken-4242"
#define SK2 "sk-agentOnly0123456789AB"
#define JWT2 "eyJhbGciOiJub25lIn0.eyJ1c2VyIjoiYm9iIn0.QUJDREVGR0g"

static const char *const secrets[] = { PW, APIKEY, JWT, SK, INNER, CUT, META, DETAIL, SK2, JWT2 };
#define N_SECRETS (sizeof(secrets) / sizeof(secrets[0]))

static const char payload[] =
    "{\"password\":\"" PW "\",\"api_key\":\"" APIKEY "\",\"note\":\"call with Bearer " JWT
    "\",\"cfg\":\"key " SK "\",\"text\":\"hello\"}";

/* The envelope on stdin goes to stderr, with a secret inside JSON text. */
static const char echo_err_sh[] =
    "#!/bin/sh\ncat >&2\nprintf '\\n{\"client_secret\": \"" INNER "\"}\\n' >&2\nexit 3\n";
/* Cut JSON on stderr, then no answer within the deadline. */
static const char slow_sh[] = "#!/bin/sh\ncat >/dev/null\nprintf 'working with {\"password\": \"" PW
                              "\", \"session_id\": \"" CUT "' >&2\nexec sleep 5\n";
/* Never answers in time; ends on its own after the test killed intentus. */
static const char hang_sh[] = "#!/bin/sh\ncat >/dev/null\nexec sleep 3\n";
/* An error response of its own with secrets in message, details, metadata. */
static const char errresp_sh[] =
    "#!/bin/sh\ncat >/dev/null\ncat <<'EOF'\n"
    "{\"version\":\"1.0\",\"status\":\"error\",\"payload\":null,"
    "\"metadata\":{\"agent\":\"ex-errresp\",\"apiKey\":\"" META "\"},"
    "\"error\":{\"code\":\"AGENT_ERROR\",\"message\":\"upstream refused Bearer " JWT2 " and " SK2
    " for password " PW "\",\"retryable\":false,"
    "\"details\":{\"token\":\"" DETAIL "\",\"log\":\"request was {\\\"client_secret\\\": \\\"" INNER
    "\\\"}\"}}}\nEOF\n";

/* ---- a loopback HTTP agent answering 500 with the request echoed ---- */

struct server {
    int fd, port;
    atomic_int stop;
    pthread_t thread;
};

static void
serve_one(int c)
{
    char req[65536], head[256];
    size_t len = 0;
    long body_len = -1;
    char *body = NULL;
    struct buf out = BUF_INIT;

    while (len < sizeof(req) - 1) {
        struct pollfd p = { c, POLLIN, 0 };
        ssize_t n;
        if (poll(&p, 1, 5000) <= 0)
            break;
        if ((n = read(c, req + len, sizeof(req) - 1 - len)) <= 0)
            break;
        len += (size_t)n;
        req[len] = '\0';
        if (body == NULL && (body = strstr(req, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(req, "Content-Length:");
            body += 4;
            body_len = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (body != NULL && (long)(req + len - body) >= body_len)
            break;
    }
    if (body == NULL)
        return;
    buf_append(&out, "{\"error\":\"boom\",\"request\":", 26);
    buf_append(&out, body, strlen(body));
    buf_append(&out, "}", 1);
    snprintf(head, sizeof(head),
             "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             out.len);
    if (write(c, head, strlen(head)) < 0 || write(c, out.data, out.len) < 0)
        (void)0; /* the agent reports a short answer itself */
    buf_free(&out);
}

static void *
server_main(void *arg)
{
    struct server *s = arg;

    for (int served = 0; served < 64 && !atomic_load(&s->stop);) {
        struct pollfd p = { s->fd, POLLIN, 0 };
        int c;
        if (poll(&p, 1, 100) <= 0)
            continue;
        if ((c = accept(s->fd, NULL, NULL)) < 0)
            continue;
        serve_one(c);
        close(c);
        served++;
    }
    return NULL;
}

static void
server_start(struct server *s)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);

    memset(s, 0, sizeof(*s));
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(s->fd, 16), 0);
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sin, &len), 0);
    s->port = ntohs(sin.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
}

static void
server_stop(struct server *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* ---- the setup ---- */

struct env {
    char *dir;
    char cfg[PATH_MAX], recs[PATH_MAX], wal[PATH_MAX], arch[PATH_MAX];
    struct server http;
};

static void
write_script(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0700), 0);
}

static void
env_setup(struct env *e, bool redaction)
{
    char text[4096];
    const char *d;

    memset(e, 0, sizeof(*e));
    e->dir = tu_mkdtemp();
    d = e->dir;
    server_start(&e->http);
    write_script(d, "echo_err.sh", echo_err_sh);
    write_script(d, "slow.sh", slow_sh);
    write_script(d, "errresp.sh", errresp_sh);
    write_script(d, "hang.sh", hang_sh);
    snprintf(text, sizeof(text),
             "{\"agents\":["
             "{\"name\":\"ex-echo\",\"kind\":\"exec\",\"argv\":[\"%s/echo_err.sh\"],"
             "\"intents\":[\"r.echo\",\"r.all\"],\"nodePriority\":1},"
             "{\"name\":\"ex-slow\",\"kind\":\"exec\",\"argv\":[\"%s/slow.sh\"],"
             "\"intents\":[\"r.slow\"],\"timeout\":\"300ms\"},"
             "{\"name\":\"ex-errresp\",\"kind\":\"exec\",\"argv\":[\"%s/errresp.sh\"],"
             "\"intents\":[\"r.errresp\",\"r.all\",\"r.crash\"],\"nodePriority\":3},"
             "{\"name\":\"ex-hang\",\"kind\":\"exec\",\"argv\":[\"%s/hang.sh\"],"
             "\"intents\":[\"r.crash\"],\"nodePriority\":4},"
             "{\"name\":\"http500\",\"kind\":\"http\",\"url\":\"http://127.0.0.1:%d/agent\","
             "\"intents\":[\"r.http\",\"r.all\"],\"nodePriority\":2}],"
             "\"recording\":{\"dir\":\"%s/recs\"},"
             "\"wal\":{\"enabled\":true,\"dir\":\"%s/wal\"},"
             "\"redaction\":{\"enabled\":%s}}",
             d, d, d, d, e->http.port, d, d, redaction ? "true" : "false");
    snprintf(e->cfg, sizeof(e->cfg), "%s/cfg.json", d);
    assert_int_equal(tu_write_file(e->cfg, text, strlen(text), 0600), 0);
    snprintf(e->recs, sizeof(e->recs), "%s/recs", d);
    snprintf(e->wal, sizeof(e->wal), "%s/wal", d);
    snprintf(e->arch, sizeof(e->arch), "%s/arch", d);
}

static void
env_teardown(struct env *e)
{
    server_stop(&e->http);
    tu_rmtree(e->dir);
    free(e->dir);
}

/* Run intentus with args (NULL-terminated) in the test directory, killed
 * after timeout_ms. */
static int
run_for(const struct env *e, const char *const *args, int timeout_ms, struct tu_run *r)
{
    char home[PATH_MAX + 8], xdg[PATH_MAX + 20];
    char *argv[24];
    char *envv[] = { home, xdg,
                     (char *)"INTENTUS_CONFIG=", (char *)"INTENTUSNET_RECORDS_PATH=", NULL };
    size_t n = 0;

    snprintf(home, sizeof(home), "HOME=%s", e->dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", e->dir);
    argv[n++] = (char *)tu_bin();
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    assert_int_equal(tu_run(argv, e->dir, NULL, envv, timeout_ms, r), 0);
    return r->status;
}

static int
run(const struct env *e, const char *const *args, struct tu_run *r)
{
    return run_for(e, args, TIMEOUT_MS, r);
}

/* No secret in text; what names where it was found. */
static void
assert_clean(const char *what, const char *text)
{
    for (size_t i = 0; i < N_SECRETS; i++) {
        const char *hit = strstr(text, secrets[i]);
        if (hit != NULL)
            fail_msg("%s holds the secret %s: ...%.160s", what, secrets[i],
                     hit - text > 60 ? hit - 60 : text);
    }
}

/* Route intent (with strategy args) and return the execution id (from
 * "execution ID recorded in ..." on stderr); route's stderr must be clean. */
static void
route(const struct env *e, const char *const *args, char id[64])
{
    const char *argv[16];
    struct tu_run r = { 0 };
    const char *p;
    size_t n = 0;

    argv[n++] = "route";
    for (size_t i = 0; args[i] != NULL; i++)
        argv[n++] = args[i];
    argv[n++] = "--config";
    argv[n++] = e->cfg;
    argv[n++] = "-p";
    argv[n++] = payload;
    argv[n] = NULL;
    if (run(e, argv, &r) != 1)
        fail_msg("route %s: exit %d, stderr: %s", args[0], r.status, r.err);
    assert_clean("route's stderr", r.err);
    p = strstr(r.err, "execution ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s recorded", id), 1);
    tu_run_free(&r);
}

static char *
read_gz(const char *path)
{
    gzFile g = gzopen(path, "rb");
    struct buf b = BUF_INIT;
    char chunk[8192];
    int n;

    assert_non_null(g);
    while ((n = gzread(g, chunk, sizeof(chunk))) > 0)
        buf_append(&b, chunk, (size_t)n);
    gzclose(g);
    buf_putc(&b, '\0');
    return b.data;
}

/* Every regular file under dir, hidden ones included; .gz decompressed.
 * Returns how many files were read. */
static int
grep_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int files = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char path[PATH_MAX + 300];
        struct stat st;
        size_t n = strlen(de->d_name);
        char *text;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        assert_int_equal(lstat(path, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            files += grep_tree(path);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        text = n > 3 && strcmp(de->d_name + n - 3, ".gz") == 0 ? read_gz(path)
                                                               : tu_read_file(path, NULL);
        assert_non_null(text);
        assert_clean(path, text);
        free(text);
        files++;
    }
    closedir(d);
    return files;
}

/* A command's stdout and stderr must be clean; returns its exit status. */
static int
run_clean(const struct env *e, const char *what, const char *const *args)
{
    struct tu_run r = { 0 };
    int st = run(e, args, &r);
    char label[128];

    snprintf(label, sizeof(label), "stdout of %s", what);
    assert_clean(label, r.out);
    snprintf(label, sizeof(label), "stderr of %s", what);
    assert_clean(label, r.err);
    tu_run_free(&r);
    return st;
}

static char *
read_record(const struct env *e, const char *id)
{
    char path[PATH_MAX + 80];
    char *text;

    snprintf(path, sizeof(path), "%s/%s.json", e->recs, id);
    text = tu_read_file(path, NULL);
    if (text == NULL)
        fail_msg("no record %s", path);
    return text;
}

static char *
read_wal(const struct env *e, const char *id)
{
    char path[PATH_MAX + 400];
    char *text;

    snprintf(path, sizeof(path), "%s/%s.wal", e->wal, id);
    text = tu_read_file(path, NULL);
    if (text == NULL)
        fail_msg("no WAL %s", path);
    return text;
}

/* 14.1: the reasons of step.failed and execution.failed hold the agent's
 * error message; with redaction on they are redacted like the record. */
static void
test_wal_reasons_are_redacted(void **state)
{
    struct env e;
    char id[64], *wal, *rec;

    (void)state;
    env_setup(&e, true);
    route(&e, ARGS("r.errresp"), id);
    wal = read_wal(&e, id);
    rec = read_record(&e, id);
    assert_non_null(strstr(wal, "\"entry_type\": \"step.failed\""));
    assert_non_null(strstr(wal, "\"reason\": \"upstream refused [REDACTED] and [REDACTED] for "
                                "password [REDACTED]\""));
    assert_clean("the WAL", wal);
    assert_clean("the record", rec);
    /* The WAL keeps the hash of the envelope as received (recovery's). */
    assert_non_null(strstr(rec, "\"originalEnvelopeHash\""));
    {
        cJSON *r = json_parse(rec, strlen(rec), 0, NULL);
        const char *orig =
            json_get_string(cJSON_GetObjectItemCaseSensitive(r, "header"), "originalEnvelopeHash");
        char want[128];
        assert_non_null(orig);
        snprintf(want, sizeof(want), "\"envelope_hash\": \"%s\"", orig);
        assert_non_null(strstr(wal, want));
        cJSON_Delete(r);
    }
    free(wal);
    free(rec);
    env_teardown(&e);
}

/* 14.2: an exec agent echoing its stdin to stderr and an HTTP agent whose
 * 500 body echoes the request: the envelope's secrets and secrets inside
 * JSON text stay out of details.stderr and details.body. */
static void
test_agent_output_is_redacted(void **state)
{
    struct env e;
    char id[64], *rec;
    const char *intents[] = { "r.echo", "r.http", "r.slow" };
    const char *fields[] = { "\"stderr\"", "\"body\"", "\"stderr\"" };

    (void)state;
    env_setup(&e, true);
    for (size_t i = 0; i < 3; i++) {
        route(&e, ARGS(intents[i]), id);
        rec = read_record(&e, id);
        if (strstr(rec, fields[i]) == NULL)
            fail_msg("%s: no %s in the record: %s", intents[i], fields[i], rec);
        assert_non_null(strstr(rec, "[REDACTED]"));
        assert_clean(intents[i], rec);
        free(rec);
    }
    env_teardown(&e);
}

/* 14.3: a response's metadata is redacted ("apiKey" is a built-in key). */
static void
test_response_metadata_is_redacted(void **state)
{
    struct env e;
    char id[64], *rec;
    cJSON *r;
    const cJSON *meta;

    (void)state;
    env_setup(&e, true);
    route(&e, ARGS("r.errresp"), id);
    rec = read_record(&e, id);
    r = json_parse(rec, strlen(rec), 0, NULL);
    assert_non_null(r);
    meta = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "finalResponse"),
                                            "metadata");
    assert_string_equal(json_get_string(meta, "apiKey"), "[REDACTED]");
    assert_string_equal(json_get_string(meta, "agent"), "ex-errresp");
    assert_clean("the record", rec);
    cJSON_Delete(r);
    free(rec);
    env_teardown(&e);
}

/* Every failure path, then every file and every command's output. */
static void
test_no_secret_anywhere(void **state)
{
    struct env e;
    char ids[5][64];
    const char *const routes[][6] = {
        { "r.echo", NULL },
        { "r.slow", NULL },
        { "r.http", NULL },
        { "r.errresp", NULL },
        { "r.all", "--strategy", "fallback", NULL },
    };
    int files;

    (void)state;
    env_setup(&e, true);
    for (size_t i = 0; i < 5; i++)
        route(&e, routes[i], ids[i]);
    files = grep_tree(e.recs) + grep_tree(e.wal);
    assert_true(files >= 10);
    /* Redacted records still verify, against their WAL too. */
    assert_int_equal(run_clean(&e, "records verify", ARGS("records", "verify", "--config", e.cfg)),
                     0);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(
            run_clean(&e, "records show", ARGS("records", "show", ids[i], "--dir", e.recs)), 0);
        assert_int_equal(run_clean(&e, "wal inspect",
                                   ARGS("wal", "inspect", ids[i], "--wal-dir", e.wal, "--json")),
                         0);
        run_clean(&e, "retrieve", ARGS("retrieve", ids[i], "--dir", e.recs));
    }
    assert_int_equal(
        run_clean(&e, "records list", ARGS("records", "list", "--json", "--dir", e.recs)), 0);
    /* An execution killed after its first agent failed: an incomplete WAL
     * whose step.failed and fallback.triggered hold the agent's message. */
    {
        struct tu_run r = { 0 };
        char *wal;
        DIR *d;
        struct dirent *de;
        int incomplete = 0;
        run_for(&e,
                ARGS("route", "r.crash", "--strategy", "fallback", "--fallback",
                     "ex-errresp,ex-hang", "--config", e.cfg, "-p", payload),
                1500, &r);
        assert_int_equal(r.status, 128 + 9); /* SIGKILL: it never finished */
        assert_clean("stderr of the killed route", r.err);
        tu_run_free(&r);
        assert_non_null(d = opendir(e.wal));
        while ((de = readdir(d)) != NULL) {
            char id[300], *dot;
            if (de->d_name[0] == '.')
                continue;
            snprintf(id, sizeof(id), "%s", de->d_name);
            if ((dot = strstr(id, ".wal")) != NULL)
                *dot = '\0';
            wal = read_wal(&e, id);
            if (strstr(wal, "execution.completed") == NULL &&
                strstr(wal, "execution.failed") == NULL) {
                assert_non_null(strstr(wal, "fallback.triggered"));
                assert_non_null(strstr(wal, "upstream refused [REDACTED]"));
                assert_int_equal(
                    run_clean(&e, "wal inspect (incomplete)",
                              ARGS("wal", "inspect", id, "--wal-dir", e.wal, "--json")),
                    0);
                incomplete++;
            }
            free(wal);
        }
        closedir(d);
        assert_int_equal(incomplete, 1);
        assert_int_equal(grep_tree(e.wal), 6);
    }
    run_clean(&e, "recovery scan", ARGS("recovery", "scan", "--wal-dir", e.wal));
    run_clean(&e, "recovery scan --json", ARGS("recovery", "scan", "--wal-dir", e.wal, "--json"));
    assert_int_equal(run_clean(&e, "records gc --archive",
                               ARGS("records", "gc", "--max-count", "0", "--archive", e.arch,
                                    "--yes", "--dir", e.recs)),
                     0);
    assert_true(grep_tree(e.arch) >= 5);
    grep_tree(e.recs); /* the retention log */
    assert_int_equal(
        run_clean(&e, "records show (archive)", ARGS("records", "show", ids[4], "--dir", e.arch)),
        0);
    env_teardown(&e);
}

/* With redaction off nothing changes: the record and the WAL keep what the
 * agents said. */
static void
test_disabled_changes_nothing(void **state)
{
    struct env e;
    char id[64], *wal, *rec;
    struct tu_run r = { 0 };

    (void)state;
    env_setup(&e, false);
    assert_int_equal(run(&e, ARGS("route", "r.errresp", "--config", e.cfg, "-p", payload), &r), 1);
    assert_int_equal(sscanf(strstr(r.err, "execution "), "execution %63s recorded", id), 1);
    tu_run_free(&r);
    wal = read_wal(&e, id);
    rec = read_record(&e, id);
    assert_non_null(strstr(wal, SK2));
    assert_non_null(strstr(rec, META));
    assert_non_null(strstr(rec, PW));
    assert_null(strstr(rec, "[REDACTED]"));
    free(wal);
    free(rec);
    env_teardown(&e);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wal_reasons_are_redacted),
        cmocka_unit_test(test_agent_output_is_redacted),
        cmocka_unit_test(test_response_metadata_is_redacted),
        cmocka_unit_test(test_no_secret_anywhere),
        cmocka_unit_test(test_disabled_changes_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
