/* The load generator (see loadgen.h). One poll() loop per thread over its
 * share of the connections; each connection writes its request, reads one
 * whole answer (Content-Length framed, as libmicrohttpd sends buffers),
 * records it and sends the next. */
#include "tests/support/loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct lg_conn {
    int fd;
    size_t sent;
    char *rbuf;
    size_t rlen, rcap;
    int64_t start_ns;
    bool busy; /* a request is out */
};

struct lg_thread {
    const struct lg_opts *o;
    const char *req;
    size_t req_len;
    atomic_ullong *issued;
    struct lg_conn *conns;
    int n;
    int64_t end_ns;
    struct lg_result r;
    size_t ids_cap;
    pthread_t tid;
};

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
hist_index(uint64_t us)
{
    int k, idx;

    if (us < LG_HIST_SUB)
        return (int)us;
    k = 63 - __builtin_clzll(us); /* >= 4 */
    idx = (k - 3) * LG_HIST_SUB + (int)((us >> (k - 4)) & (LG_HIST_SUB - 1));
    return idx < LG_HIST_N ? idx : LG_HIST_N - 1;
}

static double
hist_value(int idx)
{
    int k, sub;

    if (idx < LG_HIST_SUB)
        return idx;
    k = idx / LG_HIST_SUB + 3;
    sub = idx % LG_HIST_SUB;
    return (double)((uint64_t)(LG_HIST_SUB + sub) << (k - 4));
}

double
lg_percentile_us(const struct lg_result *r, double p)
{
    uint64_t total = 0, seen = 0, want;

    for (int i = 0; i < LG_HIST_N; i++)
        total += r->hist[i];
    if (total == 0)
        return 0;
    want = (uint64_t)((p / 100.0) * (double)total + 0.5);
    if (want < 1)
        want = 1;
    for (int i = 0; i < LG_HIST_N; i++) {
        seen += r->hist[i];
        if (seen >= want)
            return hist_value(i);
    }
    return hist_value(LG_HIST_N - 1);
}

static void
note_error(struct lg_thread *t, const char *what, int e)
{
    t->r.io_errors++;
    if (t->r.first_error[0] == '\0')
        snprintf(t->r.first_error, sizeof(t->r.first_error), "%s%s%s", what, e != 0 ? ": " : "",
                 e != 0 ? strerror(e) : "");
}

static int
conn_open(struct lg_thread *t, struct lg_conn *c)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)t->o->port) };
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || inet_pton(AF_INET, t->o->host, &sa.sin_addr) != 1 ||
        connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        note_error(t, "connect", errno);
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return 0;
}

static void
conn_close(struct lg_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->busy = false;
    c->rlen = 0;
}

/* Start the next request on c unless a bound says stop; false when c is
 * done for good. */
static bool
conn_start(struct lg_thread *t, struct lg_conn *c)
{
    if (t->o->stop != NULL && atomic_load(t->o->stop))
        return false;
    if (t->end_ns != 0 && now_ns() >= t->end_ns)
        return false;
    if (t->o->max_requests != 0 && atomic_fetch_add(t->issued, 1) >= t->o->max_requests)
        return false;
    if (c->fd < 0 && conn_open(t, c) != 0) {
        struct timespec ts = { 0, 10000000 }; /* a refused connect: do not spin */
        nanosleep(&ts, NULL);
        return true; /* retried on the next turn */
    }
    c->sent = 0;
    c->rlen = 0;
    c->busy = true;
    c->start_ns = now_ns();
    return true;
}

static void
keep_id(struct lg_thread *t, const char *body)
{
    const char *p = strstr(body, "\"executionId\":\"");
    const char *q;
    char *id;

    if (p == NULL)
        return;
    p += strlen("\"executionId\":\"");
    q = strchr(p, '"');
    if (q == NULL)
        return;
    if (t->r.n_ids == t->ids_cap) {
        size_t cap = t->ids_cap != 0 ? t->ids_cap * 2 : 1024;
        char **n = realloc(t->r.ids, cap * sizeof(*n));
        if (n == NULL)
            return;
        t->r.ids = n;
        t->ids_cap = cap;
    }
    id = strndup(p, (size_t)(q - p));
    if (id != NULL)
        t->r.ids[t->r.n_ids++] = id;
}

/* Headers end, status, Content-Length of the answer in c->rbuf: 1 complete
 * (c->rbuf holds it, NUL-terminated), 0 more to read, -1 malformed. */
static int
parse_answer(struct lg_conn *c, int *status, bool *close_after)
{
    char *end, *h;
    long clen = -1;
    size_t head;

    c->rbuf[c->rlen] = '\0';
    end = strstr(c->rbuf, "\r\n\r\n");
    if (end == NULL)
        return c->rlen > 65536 ? -1 : 0;
    head = (size_t)(end - c->rbuf) + 4;
    if (strncmp(c->rbuf, "HTTP/1.", 7) != 0 || c->rlen < 12)
        return -1;
    *status = atoi(c->rbuf + 9);
    *close_after = false;
    for (h = strstr(c->rbuf, "\r\n"); h != NULL && h < end; h = strstr(h + 2, "\r\n")) {
        const char *l = h + 2;
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            clen = strtol(l + 15, NULL, 10);
        else if (strncasecmp(l, "Connection:", 11) == 0 && strstr(l, "close") != NULL &&
                 strstr(l, "close") < strstr(l, "\r\n"))
            *close_after = true;
        else if (strncasecmp(l, "Transfer-Encoding:", 18) == 0)
            return -1; /* chunked: not what the servers under test send */
    }
    if (clen < 0)
        return -1;
    if (c->rlen < head + (size_t)clen)
        return 0;
    return c->rlen == head + (size_t)clen ? 1 : -1;
}

static void
on_readable(struct lg_thread *t, struct lg_conn *c)
{
    int status = 0, rc;
    bool close_after = false;
    ssize_t n;

    if (c->rcap - c->rlen < 4096 + 1) {
        size_t cap = c->rcap != 0 ? c->rcap * 2 : 16384;
        char *nb = realloc(c->rbuf, cap);
        if (nb == NULL) {
            note_error(t, "out of memory", 0);
            conn_close(c);
            return;
        }
        c->rbuf = nb;
        c->rcap = cap;
    }
    n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen - 1);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        note_error(t, n == 0 ? "the server closed the connection mid-request" : "read",
                   n == 0 ? 0 : errno);
        conn_close(c);
        return;
    }
    c->rlen += (size_t)n;
    rc = parse_answer(c, &status, &close_after);
    if (rc == 0)
        return;
    if (rc < 0) {
        note_error(t, "malformed answer", 0);
        conn_close(c);
        return;
    }
    t->r.requests++;
    t->r.hist[hist_index((uint64_t)((now_ns() - c->start_ns) / 1000))]++;
    if (status > 0 && status < 600)
        t->r.status[status]++;
    if (t->o->collect_ids && status == 200)
        keep_id(t, c->rbuf);
    c->busy = false;
    if (close_after) {
        t->r.reconnects++;
        conn_close(c);
    }
}

static void
on_writable(struct lg_thread *t, struct lg_conn *c)
{
    ssize_t n = send(c->fd, t->req + c->sent, t->req_len - c->sent, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        note_error(t, "write", errno);
        conn_close(c);
        return;
    }
    c->sent += (size_t)n;
}

static void *
thread_main(void *arg)
{
    struct lg_thread *t = arg;
    struct pollfd pfd[LG_MAX_CONNS];
    int map[LG_MAX_CONNS];
    bool live[LG_MAX_CONNS];
    int64_t io_ns = (t->o->io_timeout_ms > 0 ? t->o->io_timeout_ms : 10000) * 1000000LL;

    for (int i = 0; i < t->n; i++)
        live[i] = conn_start(t, &t->conns[i]);
    for (;;) {
        int np = 0;
        int64_t now = now_ns();
        for (int i = 0; i < t->n; i++) {
            struct lg_conn *c = &t->conns[i];
            if (live[i] && !c->busy)
                live[i] = conn_start(t, c);
            if (!live[i] || !c->busy || c->fd < 0)
                continue;
            if (now - c->start_ns > io_ns) {
                note_error(t, "no answer within the I/O timeout", 0);
                conn_close(c);
                continue;
            }
            pfd[np].fd = c->fd;
            pfd[np].events = c->sent < t->req_len ? POLLOUT : POLLIN;
            pfd[np].revents = 0;
            map[np++] = i;
        }
        if (np == 0) {
            bool any = false;
            for (int i = 0; i < t->n; i++)
                any |= live[i];
            if (!any)
                break;
            continue; /* a connect is being retried */
        }
        if (poll(pfd, (nfds_t)np, 100) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < np; k++) {
            struct lg_conn *c = &t->conns[map[k]];
            if (pfd[k].revents == 0)
                continue;
            if (pfd[k].events == POLLOUT)
                on_writable(t, c);
            else
                on_readable(t, c);
        }
    }
    for (int i = 0; i < t->n; i++) {
        conn_close(&t->conns[i]);
        free(t->conns[i].rbuf);
    }
    return NULL;
}

void
lg_result_free(struct lg_result *r)
{
    for (size_t i = 0; i < r->n_ids; i++)
        free(r->ids[i]);
    free(r->ids);
    r->ids = NULL;
    r->n_ids = 0;
}

int
lg_run(const struct lg_opts *o, struct lg_result *out, char *msg, size_t msg_size)
{
    struct lg_thread *th;
    struct lg_conn *conns;
    char *req;
    size_t body_len = o->body != NULL ? strlen(o->body) : 0, req_cap;
    atomic_ullong issued = 0;
    int64_t t0;
    int started = 0, per, extra, at = 0;

    memset(out, 0, sizeof(*out));
    if (o->conns < 1 || o->conns > LG_MAX_CONNS || o->threads < 1 || o->threads > LG_MAX_THREADS ||
        o->threads > o->conns) {
        snprintf(msg, msg_size, "connections 1..%d, threads 1..%d and no more than connections",
                 LG_MAX_CONNS, LG_MAX_THREADS);
        return -1;
    }
    if (o->duration_ms <= 0 && o->max_requests == 0 && o->stop == NULL) {
        snprintf(msg, msg_size, "a duration, a request count or a stop flag is needed");
        return -1;
    }
    req_cap = body_len + 1024 + (o->token != NULL ? strlen(o->token) : 0) + strlen(o->path);
    req = malloc(req_cap);
    th = calloc((size_t)o->threads, sizeof(*th));
    conns = calloc((size_t)o->conns, sizeof(*conns));
    if (req == NULL || th == NULL || conns == NULL) {
        free(req);
        free(th);
        free(conns);
        snprintf(msg, msg_size, "out of memory");
        return -1;
    }
    snprintf(req, req_cap,
             "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s%sContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             o->method, o->path, o->host, o->port, o->token != NULL ? "Authorization: Bearer " : "",
             o->token != NULL ? o->token : "", o->token != NULL ? "\r\n" : "", body_len,
             o->body != NULL ? o->body : "");
    for (int i = 0; i < o->conns; i++)
        conns[i].fd = -1;
    per = o->conns / o->threads;
    extra = o->conns % o->threads;
    t0 = now_ns();
    for (int i = 0; i < o->threads; i++) {
        th[i].o = o;
        th[i].req = req;
        th[i].req_len = strlen(req);
        th[i].issued = &issued;
        th[i].conns = conns + at;
        th[i].n = per + (i < extra ? 1 : 0);
        th[i].end_ns = o->duration_ms > 0 ? t0 + o->duration_ms * 1000000LL : 0;
        at += th[i].n;
        if (pthread_create(&th[i].tid, NULL, thread_main, &th[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i].tid, NULL);
    out->seconds = (double)(now_ns() - t0) / 1e9;
    for (int i = 0; i < started; i++) {
        struct lg_result *r = &th[i].r;
        out->requests += r->requests;
        out->io_errors += r->io_errors;
        out->reconnects += r->reconnects;
        for (int k = 0; k < 600; k++)
            out->status[k] += r->status[k];
        for (int k = 0; k < LG_HIST_N; k++)
            out->hist[k] += r->hist[k];
        if (out->first_error[0] == '\0' && r->first_error[0] != '\0')
            memcpy(out->first_error, r->first_error, sizeof(out->first_error));
        if (r->n_ids > 0) {
            char **n = realloc(out->ids, (out->n_ids + r->n_ids) * sizeof(*n));
            if (n != NULL) {
                out->ids = n;
                memcpy(out->ids + out->n_ids, r->ids, r->n_ids * sizeof(*n));
                out->n_ids += r->n_ids;
                free(r->ids);
            } else {
                lg_result_free(r);
                out->io_errors++;
            }
        }
    }
    free(req);
    free(th);
    free(conns);
    if (started < o->threads) {
        snprintf(msg, msg_size, "cannot start a thread");
        return -1;
    }
    return 0;
}
