/* See serve_testutil.h. */
#include "tests/support/serve_testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"

#define HTTP_TIMEOUT_MS 30000

void
tu_sha256_hex(const char *s, char out[65])
{
    char cmd[256];
    FILE *p;

    snprintf(cmd, sizeof(cmd), "printf %%s '%s' | sha256sum", s);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, 65, p));
    pclose(p);
    out[64] = '\0';
}

int
tu_free_port(void)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

bool
tu_can_connect(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

void
tu_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

struct tu_serve *
tu_serve_new(void)
{
    struct tu_serve *s = calloc(1, sizeof(*s));

    assert_non_null(s);
    s->dir = tu_mkdtemp();
    assert_non_null(s->dir);
    snprintf(s->config, sizeof(s->config), "%s/intentus.json", s->dir);
    snprintf(s->records, sizeof(s->records), "%s/records", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/serve.log", s->dir);
    return s;
}

void
tu_serve_free(struct tu_serve *s)
{
    if (s == NULL)
        return;
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
    }
    tu_rmtree(s->dir);
    free(s->dir);
    free(s);
}

void
tu_serve_start(struct tu_serve *s, const char *const *extra)
{
    char listen[64];

    s->port = tu_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        const char *argv[16] = { tu_bin(), "serve", "--config", s->config, "--listen", listen };
        int n = 6;
        FILE *f = freopen(s->log, "a", stderr);
        (void)f;
        for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200 && !tu_can_connect(s->port); i++) {
        int st;
        assert_int_equal(waitpid(s->pid, &st, WNOHANG), 0); /* it must not have died */
        tu_sleep_ms(50);
    }
    assert_true(tu_can_connect(s->port));
}

int
tu_serve_stop(struct tu_serve *s)
{
    int st = 0;

    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        tu_sleep_ms(50);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &st, 0);
    s->pid = 0;
    return -1;
}

int
tu_serve_http(struct tu_serve *s, const char *method, const char *path, const char *token,
              const char *body, char **out)
{
    char url[256], auth[256], bodyfile[PATH_MAX + 8];
    const char *argv[20] = { "curl",
                             "-s",
                             "-S",
                             "--max-time",
                             "20",
                             "-X",
                             method,
                             "-w",
                             "\n%{http_code}",
                             "-H",
                             "Content-Type: application/json" };
    int n = 11, status;
    struct tu_run r;
    char *nl;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", s->port, path);
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        argv[n++] = "-H";
        argv[n++] = auth;
    }
    if (body != NULL) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/body.json", s->dir);
        assert_int_equal(tu_write_file(p, body, strlen(body), 0600), 0);
        snprintf(bodyfile, sizeof(bodyfile), "@%s", p);
        argv[n++] = "--data-binary";
        argv[n++] = bodyfile;
    }
    argv[n++] = url;
    argv[n] = NULL;
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, HTTP_TIMEOUT_MS, &r), 0);
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
