/* A real `intentus serve` for end-to-end tests: a temporary directory with
 * its config, record directory and log, the server started on a free
 * 127.0.0.1 port and stopped with SIGTERM, and curl as the client. One copy
 * for every test file that drives the service (they had grown four). Every
 * wait is bounded. */
#ifndef INTENTUS_TESTS_SERVE_TESTUTIL_H
#define INTENTUS_TESTS_SERVE_TESTUTIL_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct tu_serve {
    char *dir; /* temporary; removed by tu_serve_free */
    char config[PATH_MAX], records[PATH_MAX], log[PATH_MAX];
    int port;
    pid_t pid;
};

/* A fresh directory with config = dir/intentus.json (not written),
 * records = dir/records and log = dir/serve.log. */
struct tu_serve *tu_serve_new(void);
/* Kill a server still running (SIGKILL), remove the directory. */
void tu_serve_free(struct tu_serve *s);

/* Start `intentus serve --config CONFIG --listen 127.0.0.1:PORT` plus extra
 * (NULL-terminated, may be NULL) on a free port, stderr to the log; fails
 * the test unless the port accepts within 10 s. */
void tu_serve_start(struct tu_serve *s, const char *const *extra);
/* SIGTERM, wait at most 15 s (then SIGKILL): the exit status, -1 if it had
 * to be killed or was not running. */
int tu_serve_stop(struct tu_serve *s);

/* curl METHOD path with a bearer token (NULL: none) and a JSON body (NULL:
 * none): the HTTP status; the response body in *out (caller frees) unless
 * out is NULL. */
int tu_serve_http(struct tu_serve *s, const char *method, const char *path, const char *token,
                  const char *body, char **out);

/* Helpers the service tests share. */
int tu_free_port(void);
bool tu_can_connect(int port);
void tu_sleep_ms(long ms);
void tu_sha256_hex(const char *s, char out[65]); /* via sha256sum, as an operator would */

#endif
