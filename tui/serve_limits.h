/* Connection limits of `intentus serve`: connections open at once, per
 * client address, and a deadline for a client to send one whole request.
 *
 * libmicrohttpd calls serve_limits_accept (MHD_OPTION_ACCEPT_POLICY) for
 * every new connection and serve_limits_notify (MHD_OPTION_NOTIFY_CONNECTION)
 * when one starts and closes; the access handler tells where a request is
 * (headers read, body expected, all read) and the completion handler when it
 * ended. A watchdog thread shuts down a connection whose request has not
 * been read whole within the deadline, counted from the connection's accept
 * or the end of its previous request; MHD's own inactivity timeout would
 * let a client that trickles a byte now and then hold it forever. Counts
 * are exact: the limits are checked and the connection counted under one
 * lock in the accept policy (MHD's thread pool splits its own total limit
 * per thread, and its per-IP refusals are not counted anywhere). */
#ifndef INTENTUS_TUI_SERVE_LIMITS_H
#define INTENTUS_TUI_SERVE_LIMITS_H

#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/err.h"

struct serve_limits_opts {
    long max_connections; /* open at once, all clients */
    long per_client;      /* per client IP address; 0: no limit */
    int64_t deadline_ms;  /* to send one whole request */
};

struct serve_limits_stats {
    uint64_t refused_total;      /* over max_connections */
    uint64_t refused_per_client; /* over per_client */
    uint64_t cut_deadline;       /* shut down at the deadline */
    long open;                   /* connections open now */
};

struct serve_limits;

/* Starts the watchdog thread; NULL with err. */
struct serve_limits *serve_limits_new(const struct serve_limits_opts *o, struct intentus_err *err);
/* Stops the watchdog; after MHD_stop_daemon. NULL is fine. */
void serve_limits_free(struct serve_limits *l);
/* New limits (a reload); connections already open stay. */
void serve_limits_set(struct serve_limits *l, const struct serve_limits_opts *o);
void serve_limits_stats(struct serve_limits *l, struct serve_limits_stats *st);

/* Append the Prometheus text of the counters to b: connections open,
 * refused (by reason), cut at the deadline, and the answers libmicrohttpd
 * gave itself (431 header too large, 414, 400) by status. */
struct buf;
void serve_limits_metrics(struct serve_limits *l, struct buf *b);
/* Give every message libmicrohttpd logs (MHD_OPTION_EXTERNAL_LOGGER) here
 * too: its "Error processing request (HTTP response code is N ...)" lines
 * are how the answers it gives without asking the handler are counted. */
void serve_limits_note_log(struct serve_limits *l, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* cls: the struct serve_limits. */
enum MHD_Result serve_limits_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void serve_limits_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                         enum MHD_ConnectionNotificationCode toe);

/* From the access handler's first call of a request: false (and counted
 * as a 431) when its request line and headers are over max bytes. */
bool serve_limits_headers_fit(struct serve_limits *l, struct MHD_Connection *conn, uint64_t max);
/* From the access handler: every call (the headers are read), when the
 * handler goes on to read a body, when the body is read whole. */
void serve_limits_headers_read(struct MHD_Connection *conn);
void serve_limits_body_expected(struct MHD_Connection *conn);
void serve_limits_body_read(struct MHD_Connection *conn);
/* From the completion handler: the next request's deadline starts now. */
void serve_limits_request_ended(struct MHD_Connection *conn);

#endif
