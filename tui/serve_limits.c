/* Connection limits and the per-request deadline (tui/serve_limits.h). */
#include "tui/serve_limits.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/clock.h"

#define WATCH_MS 50
#define MHD_STATUS_ROWS 16

enum phase { PH_HEADERS, PH_BODY, PH_DONE };

struct addr_key {
    int family; /* AF_INET, AF_INET6; 0: not an IP address (unix) */
    unsigned char a[16];
};

struct conn_ent {
    struct MHD_Connection *conn;
    int fd;
    struct addr_key key;
    atomic_int phase;
    atomic_llong start_us;
    bool cut; /* under lock */
    struct conn_ent *prev, *next;
};

struct addr_count {
    struct addr_key key;
    long n;
};

struct serve_limits {
    pthread_mutex_t lock; /* everything below */
    pthread_cond_t cond;
    struct serve_limits_opts o;
    struct conn_ent *head;
    struct addr_count *addrs;
    size_t n_addrs, cap_addrs;
    long open;
    uint64_t refused_total, refused_per_client, cut;
    struct {
        unsigned status;
        uint64_t n;
    } mhd_status[MHD_STATUS_ROWS]; /* answers before the request was read */
    size_t n_mhd_status;
    bool stop;
    pthread_t thread;
};

static void
addr_key_of(const struct sockaddr *sa, struct addr_key *k)
{
    memset(k, 0, sizeof(*k));
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET) {
        k->family = AF_INET;
        memcpy(k->a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        k->family = AF_INET6;
        memcpy(k->a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    }
}

static struct addr_count *
find_addr(struct serve_limits *l, const struct addr_key *k)
{
    for (size_t i = 0; i < l->n_addrs; i++)
        if (memcmp(&l->addrs[i].key, k, sizeof(*k)) == 0)
            return &l->addrs[i];
    return NULL;
}

/* Under lock: one connection of k fewer. */
static void
release(struct serve_limits *l, const struct addr_key *k)
{
    struct addr_count *c = k->family != 0 ? find_addr(l, k) : NULL;

    l->open--;
    if (c != NULL && --c->n == 0)
        *c = l->addrs[--l->n_addrs];
}

static void *
watchdog_main(void *arg)
{
    struct serve_limits *l = arg;

    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        struct timespec ts;
        int64_t now, limit_us;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCH_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&l->cond, &l->lock, &ts);
        now = clock_mono_us();
        limit_us = l->o.deadline_ms * 1000;
        for (struct conn_ent *e = l->head; e != NULL && !l->stop; e = e->next) {
            if (e->cut || atomic_load(&e->phase) == PH_DONE ||
                now - (int64_t)atomic_load(&e->start_us) < limit_us)
                continue;
            /* The descriptor is still MHD's: NOTIFY_CLOSED, which unlinks
             * e under this lock, comes before MHD closes it. MHD then
             * sees the end of the stream and closes the connection. */
            shutdown(e->fd, SHUT_RDWR);
            e->cut = true;
            l->cut++;
        }
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

struct serve_limits *
serve_limits_new(const struct serve_limits_opts *o, struct intentus_err *err)
{
    struct serve_limits *l = calloc(1, sizeof(*l));
    pthread_condattr_t ca;

    if (l == NULL) {
        err_set(err, IERR_NOMEM, "out of memory");
        return NULL;
    }
    l->o = *o;
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&l->thread, NULL, watchdog_main, l) != 0) {
        err_set(err, IERR_IO, "cannot start the connection watchdog thread");
        pthread_cond_destroy(&l->cond);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
    }
    return l;
}

void
serve_limits_free(struct serve_limits *l)
{
    if (l == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    while (l->head != NULL) { /* none after MHD_stop_daemon; defensive */
        struct conn_ent *e = l->head;
        l->head = e->next;
        free(e);
    }
    free(l->addrs);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

void
serve_limits_set(struct serve_limits *l, const struct serve_limits_opts *o)
{
    pthread_mutex_lock(&l->lock);
    l->o = *o;
    pthread_mutex_unlock(&l->lock);
}

void
serve_limits_stats(struct serve_limits *l, struct serve_limits_stats *st)
{
    pthread_mutex_lock(&l->lock);
    st->refused_total = l->refused_total;
    st->refused_per_client = l->refused_per_client;
    st->cut_deadline = l->cut;
    st->open = l->open;
    pthread_mutex_unlock(&l->lock);
}

/* The connection is counted here, not at NOTIFY_STARTED, so that the check
 * and the count are one step under the lock. NOTIFY_CLOSED releases it; the
 * only way a counted connection gets no NOTIFY_CLOSED is MHD failing to
 * allocate it right after this policy said yes. */
enum MHD_Result
serve_limits_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct serve_limits *l = cls;
    struct addr_key k;
    struct addr_count *c = NULL;
    enum MHD_Result ok = MHD_NO;

    (void)addrlen;
    addr_key_of(addr, &k);
    pthread_mutex_lock(&l->lock);
    if (l->open >= l->o.max_connections) {
        l->refused_total++;
        goto out;
    }
    if (k.family != 0) {
        c = find_addr(l, &k);
        if (c != NULL && l->o.per_client > 0 && c->n >= l->o.per_client) {
            l->refused_per_client++;
            goto out;
        }
        if (c == NULL) {
            if (l->n_addrs == l->cap_addrs) {
                size_t cap = l->cap_addrs != 0 ? l->cap_addrs * 2 : 64;
                struct addr_count *n = realloc(l->addrs, cap * sizeof(*n));
                if (n == NULL)
                    goto out; /* refused: cannot count it */
                l->addrs = n;
                l->cap_addrs = cap;
            }
            c = &l->addrs[l->n_addrs++];
            c->key = k;
            c->n = 0;
        }
        c->n++;
    }
    l->open++;
    ok = MHD_YES;
out:
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void
serve_limits_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                    enum MHD_ConnectionNotificationCode toe)
{
    struct serve_limits *l = cls;
    struct conn_ent *e;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        struct addr_key k;
        addr_key_of(ad != NULL ? ad->client_addr : NULL, &k);
        e = calloc(1, sizeof(*e));
        pthread_mutex_lock(&l->lock);
        if (e == NULL || fd == NULL) {
            /* Not watched: release its count now, and end it rather than
             * serve a connection no limit applies to. */
            release(l, &k);
            if (fd != NULL)
                shutdown(fd->connect_fd, SHUT_RDWR);
            pthread_mutex_unlock(&l->lock);
            free(e);
            *socket_context = NULL;
            return;
        }
        e->conn = conn;
        e->fd = fd->connect_fd;
        e->key = k;
        atomic_init(&e->phase, PH_HEADERS);
        atomic_init(&e->start_us, clock_mono_us());
        e->next = l->head;
        if (l->head != NULL)
            l->head->prev = e;
        l->head = e;
        pthread_mutex_unlock(&l->lock);
        *socket_context = e;
        return;
    }
    e = *socket_context;
    if (e == NULL)
        return;
    pthread_mutex_lock(&l->lock);
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    release(l, &e->key);
    pthread_mutex_unlock(&l->lock);
    free(e);
    *socket_context = NULL;
}

static struct conn_ent *
ent_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i != NULL ? i->socket_context : NULL;
}

void
serve_limits_headers_read(struct MHD_Connection *conn)
{
    struct conn_ent *e = ent_of(conn);
    int expected = PH_HEADERS;

    if (e != NULL)
        atomic_compare_exchange_strong(&e->phase, &expected, PH_DONE);
}

void
serve_limits_body_expected(struct MHD_Connection *conn)
{
    struct conn_ent *e = ent_of(conn);

    if (e != NULL)
        atomic_store(&e->phase, PH_BODY);
}

void
serve_limits_body_read(struct MHD_Connection *conn)
{
    struct conn_ent *e = ent_of(conn);

    if (e != NULL)
        atomic_store(&e->phase, PH_DONE);
}

void
serve_limits_request_ended(struct MHD_Connection *conn)
{
    struct conn_ent *e = ent_of(conn);

    if (e != NULL) {
        atomic_store(&e->start_us, clock_mono_us());
        atomic_store(&e->phase, PH_HEADERS);
    }
}

static void
count_status(struct serve_limits *l, unsigned status)
{
    size_t i;

    pthread_mutex_lock(&l->lock);
    for (i = 0; i < l->n_mhd_status && l->mhd_status[i].status != status; i++)
        ;
    if (i == l->n_mhd_status && i < MHD_STATUS_ROWS) {
        l->mhd_status[i].status = status;
        l->mhd_status[i].n = 0;
        l->n_mhd_status++;
    }
    if (i < l->n_mhd_status)
        l->mhd_status[i].n++;
    pthread_mutex_unlock(&l->lock);
}

bool
serve_limits_headers_fit(struct serve_limits *l, struct MHD_Connection *conn, uint64_t max)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);

    if (i == NULL || i->header_size <= max)
        return true;
    count_status(l, 431);
    return false;
}

void
serve_limits_note_log(struct serve_limits *l, const char *fmt, va_list ap)
{
    static const char prefix[] = "Error processing request (HTTP response code is %u";
    va_list cp;
    unsigned status;

    if (l == NULL || strncmp(fmt, prefix, sizeof(prefix) - 1) != 0)
        return;
    va_copy(cp, ap);
    status = va_arg(cp, unsigned);
    va_end(cp);
    count_status(l, status);
}

void
serve_limits_metrics(struct serve_limits *l, struct buf *b)
{
    pthread_mutex_lock(&l->lock);
    buf_printf(b,
               "# HELP intentus_connections_open Client connections open now.\n"
               "# TYPE intentus_connections_open gauge\nintentus_connections_open %ld\n"
               "# HELP intentus_connections_refused_total Connections closed at accept: over "
               "serve.max_connections or serve.max_connections_per_client.\n"
               "# TYPE intentus_connections_refused_total counter\n"
               "intentus_connections_refused_total{reason=\"total\"} %llu\n"
               "intentus_connections_refused_total{reason=\"per_client\"} %llu\n"
               "# HELP intentus_connections_deadline_total Connections shut down because the "
               "request was not read whole within serve.client_deadline.\n"
               "# TYPE intentus_connections_deadline_total counter\n"
               "intentus_connections_deadline_total %llu\n"
               "# HELP intentus_http_protocol_rejections_total Answers the HTTP layer gave "
               "before a request reached intentus (431: headers over serve.max_header).\n"
               "# TYPE intentus_http_protocol_rejections_total counter\n",
               l->open, (unsigned long long)l->refused_total,
               (unsigned long long)l->refused_per_client, (unsigned long long)l->cut);
    for (size_t i = 0; i < l->n_mhd_status; i++)
        buf_printf(b, "intentus_http_protocol_rejections_total{status=\"%u\"} %llu\n",
                   l->mhd_status[i].status, (unsigned long long)l->mhd_status[i].n);
    pthread_mutex_unlock(&l->lock);
}
