/* The console attached to a running `intentus serve` (console --server).
 *
 * Two worker threads do all the network I/O, so the console's loop never
 * waits on it: one polls GET /v1/agents (every second, and at once after a
 * breaker, agent or reload event or an action) and runs the queued actions
 * (reset, disable, enable, reload, Fire through POST /v1/route); the other
 * keeps GET /v1/events open (Last-Event-ID on reconnect) and, when the
 * console has no local record directory, turns each execution event into a
 * digest for the feed. Results wait in a queue; the eventfd
 * (console_remote_fd) says when; the main thread collects them. A lost
 * connection or a 401 shows in console_remote_status and both threads
 * retry with backoff (0.5 s doubling up to 10 s). No curses here; the
 * token is sent in the Authorization header only. */
#ifndef INTENTUS_TUI_CONSOLE_REMOTE_H
#define INTENTUS_TUI_CONSOLE_REMOTE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/executor.h"
#include "watch/digest.h"

struct console_remote;

/* One agent as the service last reported it. */
struct remote_agent {
    char name[128];
    char breaker[16]; /* CLOSED, OPEN, HALF_OPEN; "" when it has no breaker */
    bool enabled;
    uint64_t calls, failures;
    int64_t next_probe_us; /* monotonic time of the next probe while OPEN; 0: none */
};

enum remote_result_kind {
    REMOTE_ACTION,     /* msg says what an action did, or its HTTP error */
    REMOTE_COMPLETION, /* a Fire request's answer in c (owned) */
    REMOTE_EXECUTION,  /* an execution event as a digest d (owned) */
};

struct remote_result {
    enum remote_result_kind kind;
    bool is_error;
    char msg[320];
    struct completion c;
    struct digest *d;
};

/* url: the service's base URL (checked by the caller); token: borrowed and
 * copied. feed: turn execution events into digests. Checks the service
 * first with one GET /v1/agents: NULL with err naming the URL when it
 * cannot be reached or refuses the token. */
struct console_remote *console_remote_open(const char *url, const char *token, bool feed,
                                           struct intentus_err *err);
/* Stops both threads (at once: transfers in progress are aborted). Accepts
 * NULL. */
void console_remote_close(struct console_remote *r);
/* Readable when results or a new agent list wait. */
int console_remote_fd(const struct console_remote *r);
/* Clear the fd; true when the agent list changed since the last call. */
bool console_remote_drain(struct console_remote *r);
/* Copy of the latest agent list; how many. */
size_t console_remote_agents(struct console_remote *r, struct remote_agent *out, size_t max);
/* The URL and the connection's state: false with why ("HTTP 401 ...",
 * "connection refused; retrying in 4 s") when it is down. */
bool console_remote_status(struct console_remote *r, char *why, size_t size);
const char *console_remote_url(const struct console_remote *r);
/* Queue an action: "reset", "disable", "enable" (agent named) or
 * "reload" (agent NULL). */
int console_remote_action(struct console_remote *r, const char *action, const char *agent,
                          struct intentus_err *err);
/* Queue env (taken on success) for POST /v1/route; the answer comes back
 * as a REMOTE_COMPLETION with tag. */
int console_remote_submit(struct console_remote *r, cJSON *env, uint64_t tag,
                          struct intentus_err *err);
/* Move up to max results into out; the caller frees each with
 * remote_result_free. */
size_t console_remote_collect(struct console_remote *r, struct remote_result *out, size_t max);
void remote_result_free(struct remote_result *res);

/* The /v1/route body for an envelope the console built (intent, version,
 * payload, strategy, target, fallback, tenant, priority, timeout); NULL
 * when out of memory. Exposed for tests. */
cJSON *console_remote_route_body(const cJSON *env);

#endif
