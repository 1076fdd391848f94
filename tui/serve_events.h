/* The event hub of `intentus serve`: GET /v1/events as Server-Sent Events.
 *
 * Events are finished executions (id, intent, tenant, status, decided
 * agent, error code, duration, attempts; never payloads or tokens), breaker
 * transitions, agents disabled or enabled, and config reloads. Each has an
 * increasing id (from 1 in each serve process) and sits in a bounded ring,
 * so a client that reconnects with Last-Event-ID gets what it missed while
 * the ring still holds it (an "event: gap" says when it does not).
 *
 * Breaker transitions and enabled/disabled changes are observed by
 * comparing every agent's state after each batch of completions and on the
 * collector's 100 ms tick (serve_events_watch); core has no hook for them.
 * A transition that comes and goes between two looks (OPEN -> HALF_OPEN ->
 * CLOSED inside one batch) shows as one event from the first to the last
 * state.
 *
 * Each subscriber reads the ring through its own cursor: its queue is the
 * part of the ring it has not been sent yet, so it is bounded by the ring.
 * A subscriber the ring overtakes (an event it was not sent yet is about to
 * be overwritten) is too slow: its stream ends and it is counted
 * (intentus_events_slow_disconnects_total).
 * serve_events_stop ends every stream at once (SIGTERM). Thread-safe. */
#ifndef INTENTUS_TUI_SERVE_EVENTS_H
#define INTENTUS_TUI_SERVE_EVENTS_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/executor.h"
#include "core/runtime.h"

struct serve_events;

struct serve_events_opts {
    size_t ring;          /* events kept (Last-Event-ID, subscriber queues); 0: 1024 */
    int64_t heartbeat_ms; /* a ": heartbeat" comment after this much silence; 0: 15000 */
};

/* Who reads a stream: admin sees everything; otherwise only executions of
 * the listed tenants ("*" = all), and no breaker, agent or reload events. */
struct serve_events_viewer {
    bool admin;
    const char *const *tenants; /* borrowed, copied */
    size_t n_tenants;
};

struct serve_events *serve_events_new(const struct serve_events_opts *opts);
/* After serve_events_stop and after the daemon stopped. Accepts NULL. */
void serve_events_free(struct serve_events *h);

/* Before runtime_submit: remember env's intent and tenant under tag. */
void serve_events_submitted(struct serve_events *h, uint64_t tag, const cJSON *env);
/* A completion as the collector gets it (before its response is handed on). */
void serve_events_completion(struct serve_events *h, const struct completion *c);
/* Compare breaker states and enabled flags with the last look and publish
 * the changes; wake subscribers due a heartbeat. cfg must stay valid during
 * the call (the caller holds the config lock). */
void serve_events_watch(struct serve_events *h, struct runtime *rt, const struct config *cfg);
/* Whether serve_events_watch has anything to do now: a stream was ever
 * opened and 5 ms passed since the last look (cheap; lets the collector
 * skip the config lock on the hot path). */
bool serve_events_watch_due(struct serve_events *h);
/* A reload was tried: ok, or failed with msg. */
void serve_events_reload(struct serve_events *h, bool ok, const char *msg);

/* Answer GET /v1/events on conn (authenticated already): queues the
 * stream, or a 503 once stopping. */
enum MHD_Result serve_events_serve(struct serve_events *h, struct MHD_Connection *conn,
                                   const struct serve_events_viewer *viewer);
/* End every stream now and refuse new ones; waits (at most 1 s) until
 * each has sent its end, so stopping the daemon next cuts none. */
void serve_events_stop(struct serve_events *h);
/* Prometheus lines: subscribers, events published, slow disconnects. */
void serve_events_metrics(struct serve_events *h, struct buf *b);

#endif
