/* `intentus serve` against hostile and careless clients, and with TLS: the
 * real binary ($INTENTUS_BIN) on a free 127.0.0.1 port; curl, `intentus
 * route/agents --server` and raw sockets for what curl cannot do
 * (trickled headers, half-closed connections, oversized headers, more
 * connections than allowed). TLS material is made in the test with the
 * openssl CLI (a counted skip without it). Every wait is bounded and the
 * server is always killed at the end of a test. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/serve_testutil.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 30000
#define TOKEN_ALICE "alice-secret-7f3a9c"
#define TOKEN_OPS "ops-secret-c0ffee"

struct ctx {
    char *dir;
    char config[PATH_MAX], records[PATH_MAX], log[PATH_MAX];
    char cert[PATH_MAX], key[PATH_MAX]; /* with_tls_files */
    int port;
    pid_t pid;
    bool https;
    bool no_alice; /* write_config leaves alice's token out (revoked) */
};

/* alice (tenant acme) and ops (admin); an echo agent. extra_serve is
 * spliced into "serve". */
static void
write_config(struct ctx *c, const char *extra_serve)
{
    char a[65], o[65], alice[256] = "", text[PATH_MAX + 2048];

    tu_sha256_hex(TOKEN_ALICE, a);
    tu_sha256_hex(TOKEN_OPS, o);
    if (!c->no_alice)
        snprintf(alice, sizeof(alice),
                 "{\"sha256\": \"%s\", \"subject\": \"alice\", \"tenants\": [\"acme\"]},\n  ", a);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": "
             "[\"demo.echo\"]}],\n"
             " \"serve\": {%s\"tokens\": [\n"
             "  %s{\"sha256\": \"%s\", \"subject\": \"ops\", \"tenants\": [\"*\"], \"roles\": "
             "[\"admin\"]}]}}\n",
             c->records, extra_serve != NULL ? extra_serve : "", alice, o);
    assert_int_equal(tu_write_file(c->config, text, strlen(text), 0600), 0);
}

/* A connected TCP socket to the server, or -1. */
static int
connect_port(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connections waiting in the listening socket's accept queue on port
 * (/proc/net/tcp: rx_queue of the LISTEN entry); -1 when not found. */
static int
accept_queue(int port)
{
    char *t = tu_read_file("/proc/net/tcp", NULL), *line;
    int q = -1;

    for (line = t; line != NULL && *line != '\0';
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        unsigned lport, st, rx;
        if (sscanf(line, " %*d: %*8[0-9A-F]:%x %*8[0-9A-F]:%*x %x %*x:%x", &lport, &st, &rx) == 3 &&
            (int)lport == port && st == 0x0A) {
            q = (int)rx;
            break;
        }
    }
    free(t);
    return q;
}

/* The server's command line (extra: NULL-terminated arguments). */
static void
exec_server(struct ctx *c, const char *listen, const char *const *extra)
{
    const char *argv[20] = { tu_bin(), "serve", "--config", c->config, "--listen", listen };
    int n = 6;
    FILE *f = freopen(c->log, "a", stderr);

    (void)f;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 19; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    execv(argv[0], (char *const *)argv);
    _exit(127);
}

/* Start the server; waits at most 10 s for the port to listen. It is not
 * probed with a connection: the connection limits count every one. */
static void
start_server(struct ctx *c, const char *const *extra)
{
    char listen[64];

    c->port = tu_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", c->port);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0)
        exec_server(c, listen, extra);
    for (int i = 0; i < 200 && accept_queue(c->port) < 0; i++) {
        int st;
        assert_int_equal(waitpid(c->pid, &st, WNOHANG), 0); /* it must not have died */
        tu_sleep_ms(50);
    }
    assert_true(accept_queue(c->port) >= 0);
}

/* SIGTERM, then wait at most 15 s (SIGKILL after); the exit status. */
static int
stop_server(struct ctx *c)
{
    int st = 0;

    if (c->pid <= 0)
        return -1;
    kill(c->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
            c->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        tu_sleep_ms(50);
    }
    kill(c->pid, SIGKILL);
    waitpid(c->pid, &st, 0);
    c->pid = 0;
    return -1;
}

static int
setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    c->dir = tu_mkdtemp();
    assert_non_null(c->dir);
    snprintf(c->config, sizeof(c->config), "%s/intentus.json", c->dir);
    snprintf(c->records, sizeof(c->records), "%s/records", c->dir);
    snprintf(c->log, sizeof(c->log), "%s/serve.log", c->dir);
    write_config(c, NULL);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct ctx *c = *state;

    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
    }
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

/* curl METHOD path (https with --cacert c->cert when c->https); the HTTP
 * status (0: no answer), the body in *out (caller frees; may be NULL). */
static int
http(struct ctx *c, const char *method, const char *path, const char *token, const char *body,
     char **out)
{
    char url[256], auth[256], data[PATH_MAX + 8];
    const char *argv[24] = {
        "curl", "-s", "--max-time", "20", "-X", method, "-w", "\n%{http_code}"
    };
    int n = 8, status;
    struct tu_run r;
    char *nl;

    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s", c->https ? "https" : "http", c->port, path);
    if (c->https) {
        argv[n++] = "--cacert";
        argv[n++] = c->cert;
    }
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        argv[n++] = "-H";
        argv[n++] = auth;
    }
    if (body != NULL) {
        snprintf(data, sizeof(data), "%s", body);
        argv[n++] = "--data-binary";
        argv[n++] = data;
    }
    argv[n++] = url;
    argv[n] = NULL;
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    nl = strrchr(r.out, '\n');
    assert_non_null(nl);
    status = atoi(nl + 1);
    *nl = '\0';
    if (out != NULL) {
        *out = r.out;
        r.out = NULL;
    }
    tu_run_free(&r);
    return status;
}

static int
n_records(struct ctx *c)
{
    int n = tu_count_files(c->records, ".json");
    return n < 0 ? 0 : n;
}

/* The /metrics line that starts with name (labels included), or fails. */
static long long
metric(struct ctx *c, const char *name)
{
    char *out = NULL, *p;
    long long v;

    char line[256];

    snprintf(line, sizeof(line), "\n%s", name); /* not its # HELP line */
    assert_int_equal(http(c, "GET", "/metrics", NULL, NULL, &out), 200);
    p = strstr(out, line);
    if (p == NULL)
        fprintf(stderr, "no metric %s in:\n%s\n", name, out);
    assert_non_null(p);
    v = strtoll(p + strlen(line), NULL, 10);
    free(out);
    return v;
}

static void
send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

/* Read an answer for at most ms: its HTTP status; 0 when the server closed
 * without one; -1 when nothing came in time. */
static int
read_status(int fd, int ms)
{
    char buf[4096];
    size_t got = 0;
    double until = now_s() + ms / 1000.0;

    while (now_s() < until && got < sizeof(buf) - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        ssize_t n;
        if (poll(&p, 1, 50) <= 0)
            continue;
        n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n") != NULL) {
            int status = 0;
            if (sscanf(buf, "HTTP/1.%*d %d", &status) == 1)
                return status;
            return 0;
        }
    }
    if (got == 0 && now_s() >= until)
        return -1;
    return 0;
}

static const char route_echo[] = "{\"intent\":\"demo.echo\",\"payload\":{\"x\":1}}";

/* ---- TLS ---- */

static bool
run_ok(const char *const *argv)
{
    struct tu_run r;
    bool ok;

    if (tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r) != 0)
        return false;
    ok = r.status == 0;
    if (!ok && r.status != 127)
        fprintf(stderr, "%s: %s%s\n", argv[0], r.out, r.err);
    tu_run_free(&r);
    return ok;
}

/* A self-signed certificate for 127.0.0.1 and its key (mode 0600) in the
 * test directory; false when there is no openssl CLI. */
static bool
make_cert(struct ctx *c, const char *name)
{
    char subj[] = "/CN=127.0.0.1";
    const char *argv[] = { "openssl",
                           "req",
                           "-x509",
                           "-newkey",
                           "ec",
                           "-pkeyopt",
                           "ec_paramgen_curve:prime256v1",
                           "-nodes",
                           "-keyout",
                           c->key,
                           "-out",
                           c->cert,
                           "-days",
                           "2",
                           "-subj",
                           subj,
                           "-addext",
                           "subjectAltName=IP:127.0.0.1,IP:10.200.0.1",
                           NULL };
    const char *ver[] = { "openssl", "version", NULL };

    snprintf(c->cert, sizeof(c->cert), "%s/%s.crt", c->dir, name);
    snprintf(c->key, sizeof(c->key), "%s/%s.key", c->dir, name);
    if (!run_ok(ver)) {
        fprintf(stderr, "no openssl CLI: the TLS test is skipped\n");
        return false;
    }
    assert_true(run_ok(argv));
    assert_int_equal(chmod(c->key, 0600), 0);
    return true;
}

/* `intentus ARGS...` with INTENTUS_TOKEN=token and env (may be NULL). */
static void
run_cli(const char *token, const char *env1, const char *const *args, struct tu_run *r)
{
    const char *argv[24] = { tu_bin() };
    char tok[256];
    char *env[] = { tok, (char *)(uintptr_t)env1, NULL };
    int n = 1;

    snprintf(tok, sizeof(tok), "INTENTUS_TOKEN=%s", token);
    for (size_t i = 0; args[i] != NULL && n < 22; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, env, TIMEOUT_MS, r), 0);
}

/* serve.tls from the config (files named relative to it): curl and
 * `intentus route/agents --server https://` with --cacert or
 * INTENTUS_CACERT; no CA: refused; plain HTTP to the TLS port fails and
 * the server serves on. */
static void
test_tls_serves(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    char *out = NULL, url[64], cacert_env[PATH_MAX + 32];

    if (!make_cert(c, "server"))
        skip();
    write_config(c, "\"tls\": {\"cert\": \"server.crt\", \"key\": \"server.key\"}, ");
    start_server(c, NULL);
    c->https = true;
    assert_int_equal(http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 200);
    assert_non_null(strstr(out, "\"status\":\"success\""));
    free(out);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", c->port);
    run_cli(
        TOKEN_ALICE, NULL,
        (const char *const[]){ "route", "demo.echo", "--server", url, "--cacert", c->cert, NULL },
        &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "recorded by the server"));
    tu_run_free(&r);
    snprintf(cacert_env, sizeof(cacert_env), "INTENTUS_CACERT=%s", c->cert);
    run_cli(TOKEN_OPS, cacert_env, (const char *const[]){ "agents", "--server", url, NULL }, &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "echo-a"));
    tu_run_free(&r);
    /* without the CA the self-signed server is not trusted */
    run_cli(TOKEN_ALICE, NULL, (const char *const[]){ "route", "demo.echo", "--server", url, NULL },
            &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "certificate"));
    tu_run_free(&r);
    run_cli(TOKEN_ALICE, NULL,
            (const char *const[]){ "route", "demo.echo", "--server", url, "--cacert",
                                   "/nonexistent/ca.pem", NULL },
            &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--cacert: /nonexistent/ca.pem"));
    tu_run_free(&r);
    run_cli(TOKEN_ALICE, NULL,
            (const char *const[]){ "route", "demo.echo", "--cacert", c->cert, NULL }, &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--cacert: only with --server"));
    tu_run_free(&r);
    /* plain HTTP to the TLS port: no HTTP answer, and the server goes on */
    c->https = false;
    assert_int_equal(http(c, "GET", "/health", NULL, NULL, NULL), 0);
    c->https = true;
    assert_int_equal(http(c, "GET", "/health", NULL, NULL, &out), 200);
    free(out);
    assert_int_equal(stop_server(c), 0);
    assert_int_equal(n_records(c), 2);
    {
        char *log = tu_read_file(c->log, NULL);
        assert_non_null(log);
        assert_non_null(strstr(log, "listening on 127.0.0.1"));
        assert_non_null(strstr(log, "with TLS"));
        free(log);
    }
}

/* serve with args; it must exit 2 with a message containing needle. */
static void
refused(struct ctx *c, const char *const *args, const char *needle)
{
    const char *argv[16] = { tu_bin(), "serve", "--config", c->config, "--listen", "127.0.0.1:1" };
    struct tu_run r;
    int n = 6;

    for (size_t i = 0; args != NULL && args[i] != NULL && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
    if (r.status != 2 || strstr(r.err, needle) == NULL)
        fprintf(stderr, "expected exit 2 with '%s', got %d: %s\n", needle, r.status, r.err);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, needle));
    tu_run_free(&r);
}

static void
test_tls_refusals(void **state)
{
    struct ctx *c = *state;
    char other_cert[PATH_MAX], other_key[PATH_MAX], garbage[PATH_MAX], msg[2 * PATH_MAX + 64];
    char *out = NULL;

    if (!make_cert(c, "other"))
        skip();
    snprintf(other_cert, sizeof(other_cert), "%s", c->cert);
    snprintf(other_key, sizeof(other_key), "%s", c->key);
    assert_true(make_cert(c, "server"));
    snprintf(garbage, sizeof(garbage), "%s/garbage.pem", c->dir);
    assert_int_equal(tu_write_file(garbage, "not a certificate\n", 18, 0600), 0);

    /* a key readable by the group: refused, naming the file and its mode */
    assert_int_equal(chmod(c->key, 0640), 0);
    snprintf(msg, sizeof(msg), "%s has mode 0640", c->key);
    refused(c, (const char *const[]){ "--tls-cert", c->cert, "--tls-key", c->key, NULL }, msg);
    assert_int_equal(chmod(c->key, 0604), 0);
    refused(c, (const char *const[]){ "--tls-cert", c->cert, "--tls-key", c->key, NULL },
            "readable by group or others");
    assert_int_equal(chmod(c->key, 0600), 0);
    /* missing, garbage, a key of another certificate, one flag alone */
    refused(c,
            (const char *const[]){ "--tls-cert", "/nonexistent/c.pem", "--tls-key", c->key, NULL },
            "/nonexistent/c.pem");
    snprintf(msg, sizeof(msg), "%s holds no PEM certificate", garbage);
    refused(c, (const char *const[]){ "--tls-cert", garbage, "--tls-key", c->key, NULL }, msg);
    snprintf(msg, sizeof(msg), "%s holds no unencrypted PEM private key", garbage);
    refused(c, (const char *const[]){ "--tls-cert", c->cert, "--tls-key", garbage, NULL }, msg);
    snprintf(msg, sizeof(msg), "%s is not the private key of the certificate %s", other_key,
             c->cert);
    refused(c, (const char *const[]){ "--tls-cert", c->cert, "--tls-key", other_key, NULL }, msg);
    refused(c, (const char *const[]){ "--tls-cert", c->cert, NULL }, "--tls-cert: needs --tls-key");
    /* the config's serve.tls is checked the same way ... */
    write_config(c, "\"tls\": {\"cert\": \"garbage.pem\", \"key\": \"server.key\"}, ");
    snprintf(msg, sizeof(msg), "%s holds no PEM certificate", garbage);
    refused(c, NULL, msg);
    write_config(c, "\"tls\": {\"cert\": \"server.crt\"}, ");
    refused(c, NULL, "serve.tls.key: must be a file name");
    /* ... and the flags override it */
    write_config(c, "\"tls\": {\"cert\": \"garbage.pem\", \"key\": \"server.key\"}, ");
    start_server(c, (const char *const[]){ "--tls-cert", c->cert, "--tls-key", c->key, NULL });
    c->https = true;
    assert_int_equal(http(c, "GET", "/health", NULL, NULL, &out), 200);
    free(out);
    assert_int_equal(stop_server(c), 0);
    (void)other_cert;
}

/* With TLS a non-loopback address is allowed, without it refused: in a
 * private network namespace (root; a counted skip otherwise) whose lo also
 * has 10.200.0.1, so nothing listens outside the test. */
static void
test_tls_non_loopback(void **state)
{
    struct ctx *c = *state;
    static const char script[] =
        "ip link set lo up && ip addr add 10.200.0.1/32 dev lo || exit 77\n"
        "\"$BIN\" serve --config \"$CFG\" --listen 10.200.0.1:8443 --tls-cert \"$CERT\" "
        "--tls-key \"$KEY\" 2>>\"$LOG\" & pid=$!\n"
        "i=0\n"
        "until curl -s -o /dev/null --cacert \"$CERT\" https://10.200.0.1:8443/health; do\n"
        "  i=$((i+1)); if [ $i -ge 100 ]; then kill -9 $pid; exit 3; fi; sleep 0.1\n"
        "done\n"
        "curl -s -w ' %{http_code}\\n' --cacert \"$CERT\" -H \"Authorization: Bearer $TOK\" "
        "-d '{\"intent\":\"demo.echo\"}' https://10.200.0.1:8443/v1/route\n"
        "kill -TERM $pid; wait $pid; echo \"tls exit $?\"\n"
        "\"$BIN\" serve --config \"$CFG\" --listen 10.200.0.1:8444 2>&1; echo \"plain exit $?\"\n";
    const char *argv[] = { "unshare", "-n", "sh", "-c", script, NULL };
    char bin[PATH_MAX + 8], cfg[PATH_MAX + 8], cert[PATH_MAX + 8], key[PATH_MAX + 8],
        log[PATH_MAX + 8], tok[64];
    char *env[] = { bin, cfg, cert, key, log, tok, NULL };
    struct tu_run r;

    if (getuid() != 0) {
        fprintf(stderr, "not root: no private network namespace; skipped\n");
        skip();
    }
    if (!make_cert(c, "server"))
        skip();
    snprintf(bin, sizeof(bin), "BIN=%s", tu_bin());
    snprintf(cfg, sizeof(cfg), "CFG=%s", c->config);
    snprintf(cert, sizeof(cert), "CERT=%s", c->cert);
    snprintf(key, sizeof(key), "KEY=%s", c->key);
    snprintf(log, sizeof(log), "LOG=%s", c->log);
    snprintf(tok, sizeof(tok), "TOK=%s", TOKEN_ALICE);
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, env, 60000, &r), 0);
    if (r.status == 77 || (r.status == 1 && strstr(r.err, "unshare") != NULL)) {
        fprintf(stderr, "no private network namespace here (%s): skipped\n", r.err);
        tu_run_free(&r);
        skip();
    }
    fprintf(stderr, "%s%s", r.out, r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "\"status\":\"success\""));
    assert_non_null(strstr(r.out, "} 200"));
    assert_non_null(strstr(r.out, "tls exit 0"));
    assert_non_null(strstr(r.out, "10.200.0.1:8444 is not loopback; plain HTTP is refused"));
    assert_non_null(strstr(r.out, "plain exit 2"));
    tu_run_free(&r);
    assert_int_equal(n_records(c), 1);
}

/* ---- request limits ---- */

/* Bad limit settings: exit 2 naming the key. */
static void
test_limit_config_errors(void **state)
{
    struct ctx *c = *state;
    static const char *const cases[][2] = {
        { "\"max_header\": \"huge\", ", "serve.max_header: must be a size from 1024" },
        { "\"max_header\": 10, ", "serve.max_header: must be a size from 1024" },
        { "\"client_deadline\": \"forever\", ", "serve.client_deadline: must be a positive" },
        { "\"client_deadline\": \"2h\", ", "serve.client_deadline: must be a positive" },
        { "\"max_connections\": 0, ", "serve.max_connections: must be a whole number from 1" },
        { "\"max_connections_per_client\": 1.5, ",
          "serve.max_connections_per_client: must be a whole number from 0" },
        { "\"tls\": {\"cert\": \"a\", \"key\": \"b\", \"pass\": \"x\"}, ",
          "serve.tls.pass: unknown key (known: cert, key)" },
        { "\"tls\": \"server.pem\", ", "serve.tls: must be an object" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        write_config(c, cases[i][0]);
        refused(c, NULL, cases[i][1]);
    }
}

static int
header_request(struct ctx *c, size_t header_bytes)
{
    char *req = malloc(header_bytes + 256);
    int fd, st;
    size_t n;

    assert_non_null(req);
    n = (size_t)snprintf(req, 256, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', header_bytes);
    n += header_bytes;
    memcpy(req + n, "\r\nConnection: close\r\n\r\n", 24);
    n += 23;
    fd = connect_port(c->port);
    assert_true(fd >= 0);
    send_all(fd, req, n);
    st = read_status(fd, 10000);
    close(fd);
    free(req);
    return st;
}

/* serve.max_header: 431 above it (by intentus, or by libmicrohttpd when
 * the headers do not even fit its buffer), counted; the server serves on. */
static void
test_header_limit(void **state)
{
    struct ctx *c = *state;

    write_config(c, "\"max_header\": \"4KiB\", ");
    start_server(c, NULL);
    assert_int_equal(header_request(c, 3000), 200);
    assert_int_equal(header_request(c, 6000), 431);
    assert_int_equal(header_request(c, 200000), 431);
    assert_int_equal(header_request(c, 100), 200);
    assert_int_equal(metric(c, "intentus_http_protocol_rejections_total{status=\"431\"} "), 2);
    assert_int_equal(stop_server(c), 0);
}

/* One connection trickles header bytes (a byte every 100 ms, which MHD's
 * inactivity timeout never ends): it is cut at serve.client_deadline from
 * its start while another client is served normally meanwhile; a body
 * trickled the same way is cut too. Nothing is routed or recorded. */
static void
trickle_until_cut(struct ctx *c, const char *head, double *cut_after, bool serve_others)
{
    int fd = connect_port(c->port);
    double t0 = now_s();

    assert_true(fd >= 0);
    send_all(fd, head, strlen(head));
    *cut_after = -1;
    for (int i = 0; i < 150; i++) { /* at most 15 s */
        struct pollfd p = { fd, POLLIN, 0 };
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
            *cut_after = now_s() - t0;
            break;
        }
        if (poll(&p, 1, 100) > 0) {
            char b[256];
            ssize_t n = recv(fd, b, sizeof(b), 0);
            if (n > 0) /* only a cut is an acceptable answer to this */
                fprintf(stderr, "unexpected answer: %.*s\n", (int)n, b);
            assert_true(n <= 0);
            *cut_after = now_s() - t0;
            break;
        }
        if (serve_others && i == 2) {
            char *out = NULL;
            assert_int_equal(http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 200);
            assert_non_null(strstr(out, "\"status\":\"success\""));
            free(out);
            assert_int_equal(http(c, "GET", "/health", NULL, NULL, NULL), 200);
        }
    }
    close(fd);
}

static void
test_slowloris(void **state)
{
    struct ctx *c = *state;
    double cut;

    write_config(c, "\"client_deadline\": \"1s\", ");
    start_server(c, NULL);
    trickle_until_cut(c, "GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ", &cut, true);
    fprintf(stderr, "trickled headers cut after %.2f s\n", cut);
    assert_true(cut >= 0.9);
    assert_true(cut < 8.0); /* MHD's own inactivity timeout is 30 s */
    trickle_until_cut(
        c,
        "POST /v1/route HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN_ALICE
        "\r\nContent-Length: 5000\r\n\r\n{\"intent\":\"demo.echo\",\"payload\":{\"x\":\"",
        &cut, false);
    fprintf(stderr, "trickled body cut after %.2f s\n", cut);
    assert_true(cut >= 0.9);
    assert_true(cut < 8.0);
    assert_int_equal(metric(c, "intentus_connections_deadline_total "), 2);
    assert_int_equal(stop_server(c), 0);
    assert_int_equal(n_records(c), 1); /* the other client's request only */
}

/* Idle connections up to the limit, each accepted (the accept queue empty);
 * the next is closed at once without an answer and counted; once they are
 * closed new ones are served. */
static void
hold_and_refuse(struct ctx *c, int limit, const char *reason_metric)
{
    int held[8], extra, st = -1, refusals = 1;
    char *out = NULL;

    for (int i = 0; i < limit; i++) {
        held[i] = connect_port(c->port);
        assert_true(held[i] >= 0);
        for (int j = 0; j < 200 && accept_queue(c->port) != 0; j++)
            tu_sleep_ms(10);
        assert_int_equal(accept_queue(c->port), 0);
    }
    tu_sleep_ms(50);
    extra = connect_port(c->port);
    assert_true(extra >= 0); /* the kernel accepts; the server closes it */
    assert_int_equal(read_status(extra, 5000), 0);
    close(extra);
    /* a held one still works */
    send_all(held[0], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
    assert_int_equal(read_status(held[0], 10000), 200);
    for (int i = 0; i < limit; i++)
        close(held[i]);
    tu_sleep_ms(100);
    for (int i = 0; i < 100 && st != 200; i++) { /* until the closes are seen */
        st = http(c, "GET", "/health", NULL, NULL, NULL);
        if (st != 200) {
            refusals++;
            tu_sleep_ms(50);
        }
    }
    assert_int_equal(st, 200);
    assert_int_equal(metric(c, reason_metric), refusals);
    assert_int_equal(http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 200);
    free(out);
}

static void
test_connection_limits(void **state)
{
    struct ctx *c = *state;

    /* per client, applied on loopback too once set */
    write_config(c, "\"max_connections_per_client\": 2, ");
    start_server(c, NULL);
    hold_and_refuse(c, 2, "intentus_connections_refused_total{reason=\"per_client\"} ");
    assert_int_equal(metric(c, "intentus_connections_refused_total{reason=\"total\"} "), 0);
    assert_int_equal(stop_server(c), 0);
    /* all clients together */
    write_config(c, "\"max_connections\": 3, ");
    start_server(c, NULL);
    hold_and_refuse(c, 3, "intentus_connections_refused_total{reason=\"total\"} ");
    assert_int_equal(stop_server(c), 0);
    assert_int_equal(n_records(c), 2);
}

/* ---- hostile requests ---- */

/* A partial request, then shutdown(SHUT_WR): the server ends the
 * connection (an answer or none, never a hang), routes nothing, serves on.
 * libmicrohttpd usually sees the end of the stream at once; when it misses
 * it (the FIN arriving with the last bytes, epoll being edge-triggered) the
 * client deadline ends the connection. */
static void
test_half_closed(void **state)
{
    struct ctx *c = *state;
    static const char *const partial[] = {
        "GET /health HTTP/1.1\r\nHost:",
        "POST /v1/route HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN_ALICE
        "\r\nContent-Length: 100\r\n\r\n{\"intent\":",
        "POST /intent HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN_ALICE
        "\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"protocol\"",
    };

    write_config(c, "\"client_deadline\": \"2s\", ");
    start_server(c, NULL);
    for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
        int fd = connect_port(c->port), st;
        double t0 = now_s();
        assert_true(fd >= 0);
        send_all(fd, partial[i], strlen(partial[i]));
        assert_int_equal(shutdown(fd, SHUT_WR), 0);
        st = read_status(fd, 10000);
        fprintf(stderr, "partial request %zu, half-closed: %d after %.2f s\n", i, st, now_s() - t0);
        if (st > 0)
            assert_true(st >= 400 && st < 500);
        else
            assert_int_equal(st, 0); /* closed, not left hanging */
        assert_true(now_s() - t0 < 8.0);
        close(fd);
    }
    /* a whole request, then the half-close: still answered */
    {
        int fd = connect_port(c->port);
        assert_true(fd >= 0);
        send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        assert_int_equal(shutdown(fd, SHUT_WR), 0);
        assert_int_equal(read_status(fd, 10000), 200);
        close(fd);
    }
    assert_int_equal(http(c, "GET", "/health", NULL, NULL, NULL), 200);
    assert_int_equal(stop_server(c), 0);
    assert_int_equal(n_records(c), 0);
}

static long
vm_hwm_kb(pid_t pid)
{
    char path[64], *t, *p;
    long kb = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    t = tu_read_file(path, NULL);
    if (t != NULL && (p = strstr(t, "VmHWM:")) != NULL)
        kb = strtol(p + 6, NULL, 10);
    free(t);
    return kb;
}

/* A 100 MB body: announced by Content-Length, 413 before any of it is
 * read; sent chunked, 413 once it is over (discarded as it arrives, not
 * buffered: the server's peak memory stays far below it), the server
 * answering others meanwhile. Nothing is recorded. */
static void
test_huge_body(void **state)
{
    struct ctx *c = *state;
    static char chunk[64 * 1024 + 32];
    const size_t total = (size_t)100 * 1024 * 1024;
    long hwm0, hwm1;
    int fd;

    write_config(c, "\"client_deadline\": \"120s\", ");
    start_server(c, NULL);
    hwm0 = vm_hwm_kb(c->pid);
    fd = connect_port(c->port);
    assert_true(fd >= 0);
    send_all(fd,
             "POST /v1/route HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN_ALICE
             "\r\nContent-Length: 104857600\r\n\r\n",
             strlen("POST /v1/route HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN_ALICE
                    "\r\nContent-Length: 104857600\r\n\r\n"));
    assert_int_equal(read_status(fd, 10000), 413);
    close(fd);

    fd = connect_port(c->port);
    assert_true(fd >= 0);
    {
        const char *h = "POST /v1/route HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " TOKEN_ALICE
                        "\r\nTransfer-Encoding: chunked\r\n\r\n";
        size_t body = 64 * 1024, n;
        send_all(fd, h, strlen(h));
        n = (size_t)snprintf(chunk, sizeof(chunk), "%zx\r\n", body);
        memset(chunk + n, 'a', body);
        memcpy(chunk + n + body, "\r\n", 2);
        n += body + 2;
        for (size_t sent = 0; sent < total; sent += body) {
            send_all(fd, chunk, n);
            if (sent % ((size_t)25 * 1024 * 1024) == 0) /* others are served meanwhile */
                assert_int_equal(http(c, "GET", "/health", NULL, NULL, NULL), 200);
        }
        send_all(fd, "0\r\n\r\n", 5);
    }
    assert_int_equal(read_status(fd, 30000), 413);
    close(fd);
    hwm1 = vm_hwm_kb(c->pid);
    fprintf(stderr, "server peak RSS %ld kB before, %ld kB after 100 MB chunked\n", hwm0, hwm1);
    assert_true(hwm0 > 0 && hwm1 > 0);
    assert_true(hwm1 - hwm0 < 32 * 1024);
    assert_int_equal(metric(c, "intentus_http_rejections_total{status=\"413\"} "), 2);
    assert_int_equal(stop_server(c), 0);
    assert_int_equal(n_records(c), 0);
}

static bool
log_has(struct ctx *c, const char *needle)
{
    char *t = tu_read_file(c->log, NULL);
    bool has = t != NULL && strstr(t, needle) != NULL;

    free(t);
    return has;
}

/* A token revoked by editing the config and SIGHUP: 401 on every way in
 * (the /v1/route API, an INTENTUSNET frame, `intentus route --server`),
 * nothing routed (executions_total unchanged), nothing recorded. */
static void
test_revoked_by_sighup(void **state)
{
    struct ctx *c = *state;
    static const char frame[] =
        "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\",\"body\":{"
        "\"version\":\"1.0\",\"intent\":{\"name\":\"demo.echo\",\"version\":\"1.0\"},"
        "\"payload\":{},\"context\":{\"sourceAgent\":\"t\",\"timestamp\":"
        "\"2026-01-01T00:00:00+00:00\",\"priority\":\"normal\",\"tags\":[]},"
        "\"metadata\":{\"requestId\":\"r1\",\"source\":\"t\",\"createdAt\":"
        "\"2026-01-01T00:00:00+00:00\",\"traceId\":\"t1\",\"identityChain\":[]},"
        "\"routing\":{\"strategy\":\"direct\",\"targetAgent\":null,\"fallbackAgents\":[]},"
        "\"routingMetadata\":{\"decisionPath\":[],\"retries\":0}}}";
    char *out = NULL, url[64];
    struct tu_run r;

    start_server(c, NULL);
    assert_int_equal(http(c, "POST", "/intent", TOKEN_ALICE, frame, &out), 200);
    free(out);
    assert_int_equal(metric(c, "intentus_executions_total "), 1);
    c->no_alice = true;
    write_config(c, NULL);
    kill(c->pid, SIGHUP);
    for (int i = 0; i < 200 && !log_has(c, "config reloaded"); i++)
        tu_sleep_ms(50);
    assert_true(log_has(c, "config reloaded"));
    assert_int_equal(http(c, "POST", "/v1/route", TOKEN_ALICE, route_echo, &out), 401);
    assert_non_null(strstr(out, "unknown or revoked token"));
    free(out);
    assert_int_equal(http(c, "POST", "/intent", TOKEN_ALICE, frame, &out), 401);
    assert_non_null(strstr(out, "\"messageType\":\"error\""));
    free(out);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", c->port);
    run_cli(TOKEN_ALICE, NULL, (const char *const[]){ "route", "demo.echo", "--server", url, NULL },
            &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "HTTP 401"));
    tu_run_free(&r);
    assert_int_equal(metric(c, "intentus_executions_total "), 1);
    assert_int_equal(metric(c, "intentus_http_rejections_total{status=\"401\"} "), 3);
    assert_int_equal(stop_server(c), 0);
    assert_int_equal(n_records(c), 1);
}

/* INTENTUSNET frames that are not one: a clear 400 error frame each,
 * nothing routed or recorded. */
static void
test_malformed_frames(void **state)
{
    struct ctx *c = *state;
    char *out = NULL;
    static const char *const bad[] = {
        "{\"protocol\":\"INTENTUSNET/2.0\",\"messageType\":\"intent\",\"body\":{}}",
        "{\"messageType\":\"intent\",\"body\":{}}",
        "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\"}",
        "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\",\"body\":\"x\"}",
        "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\",\"body\":[]}",
        "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\",\"body\":null}",
        "{\"protocol\":\"INTENTUSNET/1.0\",\"body\":{}}",
        "{\"protocol\":\"INTENTUSNET/1.0\",\"messageType\":\"intent\",\"body\":{}",
        "",
        "\x01\x02\xff\xfe",
    };

    start_server(c, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int st = http(c, "POST", "/intent", TOKEN_ALICE, bad[i], &out);
        if (st != 400)
            fprintf(stderr, "frame %zu: %d %s\n", i, st, out);
        assert_int_equal(st, 400);
        assert_non_null(strstr(out, "\"messageType\":\"error\""));
        assert_non_null(strstr(out, "\"message\":"));
        free(out);
    }
    assert_int_equal(http(c, "POST", "/intent", TOKEN_ALICE, "{}", &out), 400);
    free(out);
    assert_int_equal(http(c, "GET", "/health", NULL, NULL, NULL), 200);
    assert_int_equal(stop_server(c), 0);
    assert_int_equal(n_records(c), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tls_serves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_non_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slowloris, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_half_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_by_sighup, setup, teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
