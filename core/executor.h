/* Asynchronous routing: a fixed pool of worker threads behind a bounded
 * queue. Submitting returns at once; completions are collected from a queue
 * whose readiness is signalled on one file descriptor (an eventfd), so a
 * poll() loop such as the console's can wait on it with everything else. */
#ifndef INTENTUS_CORE_EXECUTOR_H
#define INTENTUS_CORE_EXECUTOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/router.h"

/* How a worker routes: by default router_route_with / router_refuse on the
 * router given to executor_new; a runtime passes its own, which pick the
 * current configuration generation for each job (hot reload). */
typedef int (*executor_route_fn)(void *ctx, cJSON *env, struct agent_cache *cache,
                                 struct route_result *out);
typedef int (*executor_refuse_fn)(void *ctx, cJSON *env, enum error_code code, const char *message,
                                  struct route_result *out);

struct executor_opts {
    int workers;               /* 0: 4 */
    size_t queue_capacity;     /* queued, not yet started; 0: 1024 */
    executor_route_fn route;   /* NULL: the router's */
    executor_refuse_fn refuse; /* NULL: the router's */
    void *ctx;                 /* for route and refuse */
};

struct completion {
    uint64_t tag;    /* what the submitter passed */
    cJSON *response; /* owned: completion_free; may borrow from env (core/router.h) */
    cJSON *env;      /* owned: the routed envelope, freed by completion_free after the
                      * response (NULL when nothing borrows from it) */
    char execution_id[UUID_STR_LEN];
    bool recorded;      /* on disk: with an async writer the completion comes once
                         * the writer has written (or failed) the record */
    bool sampled_out;   /* not recorded on purpose (recording.sample_rate) */
    bool cancelled;     /* refused at shutdown, never ran */
    int64_t latency_us; /* submit to completion, monotonic */
    int64_t route_us;   /* the router's own time (the route call), monotonic; 0: not measured */
    int attempts;       /* agent calls made (route_result.attempts) */
    struct intentus_err record_err;
};

struct executor;

/* r may be NULL when opts gives both route and refuse. */
struct executor *executor_new(struct router *r, const struct executor_opts *opts,
                              struct intentus_err *err);
/* Queue env (ownership taken on success only). Fails with IERR_LIMIT when
 * the queue is full and IERR_INVALID after shutdown began. */
int executor_submit(struct executor *e, cJSON *env, uint64_t tag, struct intentus_err *err);
/* Readable while completions wait to be collected. */
int executor_fd(const struct executor *e);
/* Move up to max completions into out[]; returns how many. Never blocks. */
size_t executor_collect(struct executor *e, struct completion *out, size_t max);
/* Submitted and not yet collected. */
size_t executor_outstanding(struct executor *e);
/* Stop accepting work. drain: run everything queued; otherwise queued work
 * is recorded as WORKFLOW_ABORTED ("cancelled at shutdown") without running.
 * Waits for work in flight either way, and for an async writer's verdict on
 * the records of finished work (the writer must still be open or have
 * closed, which decides them all). Completions stay collectable. */
void executor_shutdown(struct executor *e, bool drain);
/* Shuts down (cancelling queued work) and frees uncollected completions. */
void executor_free(struct executor *e);
void completion_free(struct completion *c);

#endif
