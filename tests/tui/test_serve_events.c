/* The event hub of `intentus serve` (tui/serve_events.c) behind a real
 * libmicrohttpd daemon on 127.0.0.1 with a small ring, read by raw sockets:
 * a subscriber that stops reading is cut and counted, Last-Event-ID past
 * the ring gets a gap event, heartbeats come when nothing happens, a
 * non-admin viewer sees its own tenants' executions only, and stop ends
 * every stream. Every wait is bounded. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/registry.h"
#include "tui/serve_events.h"

struct fx {
    struct serve_events *h;
    struct MHD_Daemon *d;
    int port;
    struct config cfg; /* an empty registry, for serve_events_watch */
};

/* The test's own handler: every request is a stream; "X-Tenant: T" makes
 * the viewer a non-admin of tenant T. */
static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    struct fx *f = cls;
    const char *t = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Tenant");
    const char *tenants[1] = { t };

    (void)url;
    (void)method;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    return serve_events_serve(f->h, conn,
                              &(struct serve_events_viewer){
                                  .admin = t == NULL, .tenants = tenants, .n_tenants = t ? 1 : 0 });
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 1024;

    assert_non_null(f);
    f->h = serve_events_new(&(struct serve_events_opts){ .ring = 8, .heartbeat_ms = 100 });
    assert_non_null(f->h);
    f->cfg.registry = registry_new();
    assert_non_null(f->cfg.registry);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* accepted sockets inherit the small send buffer: a client that does
     * not read fills it at once */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0, NULL,
                            NULL, on_request, f, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_END);
    assert_non_null(f->d);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    serve_events_stop(f->h);
    MHD_stop_daemon(f->d);
    serve_events_free(f->h);
    registry_free(f->cfg.registry);
    free(f);
    return 0;
}

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A raw client: GET /v1/events with extra header lines; rcvbuf > 0 sets
 * SO_RCVBUF before connecting. */
static int
client(struct fx *f, const char *extra, int rcvbuf)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)f->port) };
    struct timeval tv = { 0, 200000 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char req[512];

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    snprintf(req, sizeof(req), "GET /v1/events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s\r\n",
             extra != NULL ? extra : "");
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    return fd;
}

/* Read from fd into b until needle shows up, EOF, or ms pass; whether the
 * needle came. */
static bool
read_until(int fd, struct buf *b, const char *needle, long ms, bool *eof)
{
    for (long waited = 0; waited < ms; waited += 200) {
        char tmp[8192];
        ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
        if (n == 0) {
            if (eof != NULL)
                *eof = true;
            break;
        }
        if (n > 0)
            buf_append(b, tmp, (size_t)n);
        if (needle != NULL && b->data != NULL && strstr(b->data, needle) != NULL)
            return true;
    }
    return needle != NULL && b->data != NULL && strstr(b->data, needle) != NULL;
}

static bool
metric_is(struct fx *f, const char *line)
{
    struct buf m = { 0 };
    bool has;

    serve_events_metrics(f->h, &m);
    has = m.data != NULL && strstr(m.data, line) != NULL;
    buf_free(&m);
    return has;
}

static void
test_slow_subscriber_cut(void **state)
{
    struct fx *f = *state;
    struct buf b = { 0 };
    char msg[1100];
    int fd = client(f, NULL, 1024);
    bool eof = false;

    assert_true(read_until(fd, &b, ": intentus events", 5000, NULL));
    assert_true(metric_is(f, "intentus_events_slow_disconnects_total 0\n"));
    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    /* 1 KB events while the client reads nothing: the buffers fill and the
     * 8-event ring overtakes it */
    for (int i = 0; i < 400 && !metric_is(f, "intentus_events_slow_disconnects_total 1\n"); i++) {
        serve_events_reload(f->h, false, msg);
        if (i % 50 == 49)
            sleep_ms(20);
    }
    assert_true(metric_is(f, "intentus_events_slow_disconnects_total 1\n"));
    /* when it reads again it is told, and the stream ends */
    assert_true(read_until(fd, &b, "event: disconnected", 10000, NULL));
    read_until(fd, &b, NULL, 5000, &eof);
    assert_true(eof);
    assert_non_null(strstr(b.data, "too slow"));
    close(fd);
    buf_free(&b);
}

static void
test_resume_gap_and_stop(void **state)
{
    struct fx *f = *state;
    struct buf a = { 0 }, b = { 0 };
    int fa = client(f, NULL, 0), fb;
    bool eof = false;

    assert_true(read_until(fa, &a, ": intentus events", 5000, NULL)); /* the hub is active */
    for (int i = 0; i < 20; i++) {
        serve_events_reload(f->h, true, NULL);
        sleep_ms(10); /* a reader keeping up: the 8-event ring never overtakes it */
    }
    assert_true(read_until(fa, &a, "id: 20\n", 5000, NULL));
    assert_true(metric_is(f, "intentus_events_slow_disconnects_total 0\n"));
    /* ids 3..12 left the 8-event ring: a gap, then 13..20 */
    fb = client(f, "Last-Event-ID: 2\r\n", 0);
    assert_true(read_until(fb, &b, "id: 20\n", 5000, NULL));
    assert_non_null(strstr(b.data, "event: gap\ndata: {\"from\":3,\"to\":12"));
    assert_null(strstr(b.data, "id: 12\n"));
    assert_non_null(strstr(b.data, "id: 13\nevent: reload\ndata: {\"time\":"));
    assert_true(strstr(b.data, "event: gap") < strstr(b.data, "id: 13\n"));
    /* stop ends both streams at once */
    serve_events_stop(f->h);
    read_until(fa, &a, NULL, 5000, &eof);
    assert_true(eof);
    eof = false;
    read_until(fb, &b, NULL, 5000, &eof);
    assert_true(eof);
    assert_non_null(strstr(b.data, ": the service is stopping"));
    close(fa);
    close(fb);
    buf_free(&a);
    buf_free(&b);
}

static void
test_heartbeat(void **state)
{
    struct fx *f = *state;
    struct buf b = { 0 };
    int fd = client(f, NULL, 0);
    bool beat = false;

    assert_true(read_until(fd, &b, ": intentus events", 5000, NULL));
    for (int i = 0; i < 40 && !beat; i++) {
        serve_events_watch(f->h, NULL, &f->cfg); /* the collector's tick */
        beat = read_until(fd, &b, ": heartbeat", 200, NULL);
    }
    assert_true(beat);
    close(fd);
    buf_free(&b);
}

/* A non-admin viewer: its tenant's executions, nothing of another tenant's,
 * no control events. */
static void
test_tenant_filter(void **state)
{
    struct fx *f = *state;
    struct buf b = { 0 }, adm = { 0 };
    int fd = client(f, "X-Tenant: acme\r\n", 0), fa = client(f, NULL, 0);
    const char *tenants[] = { "globex", "acme" };

    assert_true(read_until(fd, &b, ": intentus events", 5000, NULL));
    assert_true(read_until(fa, &adm, ": intentus events", 5000, NULL));
    for (int i = 0; i < 2; i++) {
        char env[256];
        cJSON *e;
        struct completion c = { .tag = (uint64_t)i + 1, .latency_us = 1500, .attempts = 1 };
        snprintf(env, sizeof(env),
                 "{\"intent\":{\"name\":\"t.%s\"},\"context\":{\"tags\":[\"tenant:%s\"]}}",
                 tenants[i], tenants[i]);
        e = cJSON_Parse(env);
        serve_events_submitted(f->h, c.tag, e);
        cJSON_Delete(e);
        snprintf(c.execution_id, sizeof(c.execution_id), "exec-%d", i);
        c.response = cJSON_Parse("{\"status\":\"success\",\"metadata\":{\"agent\":\"echo-a\"}}");
        serve_events_completion(f->h, &c);
        completion_free(&c);
    }
    serve_events_reload(f->h, true, NULL);
    assert_true(read_until(fa, &adm, "event: reload", 5000, NULL));
    assert_non_null(strstr(adm.data, "\"tenant\":\"globex\""));
    assert_true(read_until(fd, &b, "\"tenant\":\"acme\"", 5000, NULL));
    read_until(fd, &b, "never", 600, NULL); /* whatever else would come */
    assert_non_null(strstr(b.data, "\"intent\":\"t.acme\""));
    assert_non_null(strstr(b.data, "\"durationMs\":1.5,\"attempts\":1"));
    assert_null(strstr(b.data, "globex"));
    assert_null(strstr(b.data, "event: reload"));
    close(fd);
    close(fa);
    buf_free(&b);
    buf_free(&adm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_subscriber_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_gap_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tenant_filter, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
