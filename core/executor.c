#include "core/executor.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/agent.h"
#include "core/clock.h"
#include "core/model.h"

struct job {
    cJSON *env;
    uint64_t tag;
    int64_t submitted_us;
};

struct done {
    struct completion c;
    struct done *next;
    struct executor *e; /* while its record's fate is awaited */
};

struct executor {
    struct router *router;
    executor_route_fn route;
    executor_refuse_fn refuse;
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t work; /* queue non-empty or stopping */
    pthread_cond_t idle; /* a worker finished a job */
    struct job *ring;
    size_t cap, head, len;
    size_t running;     /* jobs being routed right now */
    size_t outstanding; /* submitted, not yet collected */
    size_t awaiting;    /* routed, waiting for an async writer to decide the record */
    bool stopping, cancel;
    struct done *done_head, *done_tail;
    int efd;
    pthread_t *threads;
    int nthreads;
};

static void
push_done(struct executor *e, struct done *d)
{
    uint64_t one = 1;

    /* Caller holds the lock. */
    d->next = NULL;
    if (e->done_tail != NULL)
        e->done_tail->next = d;
    else
        e->done_head = d;
    e->done_tail = d;
    /* eventfd adds up writes, so a burst wakes the reader once. */
    while (write(e->efd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

/* The record of a routed job is written or failed: now it is complete. */
static void
fate_decided(void *ctx, struct writer_fate *fate)
{
    struct done *d = ctx;
    struct executor *e = d->e;

    if (writer_fate_get(fate, &d->c.record_err) == WRITER_FATE_FAILED)
        d->c.recorded = false;
    writer_fate_release(fate);
    pthread_mutex_lock(&e->lock);
    e->awaiting--;
    push_done(e, d);
    pthread_cond_broadcast(&e->idle);
    pthread_mutex_unlock(&e->lock);
}

/* A completion says whether its record is on disk, so one whose record an
 * async writer still holds is handed back when the writer has decided
 * (the latency stays submit to routed). */
static void
complete(struct executor *e, struct job *j, struct route_result *res, bool cancelled,
         int64_t route_us)
{
    struct done *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        route_result_free(res);
        cJSON_Delete(j->env);
        pthread_mutex_lock(&e->lock);
        e->outstanding--; /* nothing to hand back; do not let callers wait for it */
        pthread_mutex_unlock(&e->lock);
        return;
    }
    d->c.tag = j->tag;
    d->c.response = res->response;
    /* A response borrowing from the envelope keeps it (core/router.h);
     * completion_free frees it after the response. */
    if (response_borrows(res->response))
        d->c.env = j->env;
    else
        cJSON_Delete(j->env);
    memcpy(d->c.execution_id, res->execution_id, sizeof(d->c.execution_id));
    d->c.recorded = res->recorded;
    d->c.sampled_out = res->sampled_out;
    d->c.record_err = res->record_err;
    d->c.latency_us = clock_mono_us() - j->submitted_us;
    d->c.route_us = route_us;
    d->c.attempts = res->attempts;
    d->c.cancelled = cancelled;
    if (res->record_fate != NULL) {
        struct writer_fate *fate = res->record_fate;
        res->record_fate = NULL;
        d->e = e;
        pthread_mutex_lock(&e->lock);
        e->awaiting++;
        pthread_mutex_unlock(&e->lock);
        writer_fate_notify(fate, fate_decided, d);
        return;
    }
    pthread_mutex_lock(&e->lock);
    push_done(e, d);
    pthread_mutex_unlock(&e->lock);
}

static void
run_job(struct executor *e, struct job *j, struct agent_cache *cache, bool cancelled)
{
    struct route_result res;
    int64_t t0 = clock_mono_us();
    int rc;

    if (cancelled)
        rc = e->refuse(e->ctx, j->env, ERR_WORKFLOW_ABORTED, "cancelled at shutdown before it ran",
                       &res);
    else
        rc = e->route(e->ctx, j->env, cache, &res);
    if (rc != 0) {
        memset(&res, 0, sizeof(res));
        res.response = response_router_error(
            error_info_new(ERR_INTERNAL_AGENT_ERROR, "out of memory while routing", false, NULL),
            "router", envelope_trace_id(j->env));
    }
    t0 = clock_mono_us() - t0;
    complete(e, j, &res, cancelled, t0); /* takes j->env */
}

static void *
worker_main(void *arg)
{
    struct executor *e = arg;
    struct agent_cache *cache = agent_cache_new();

    pthread_mutex_lock(&e->lock);
    for (;;) {
        struct job j;
        bool cancelled;
        while (e->len == 0 && !e->stopping)
            pthread_cond_wait(&e->work, &e->lock);
        if (e->len == 0)
            break; /* stopping and nothing left */
        j = e->ring[e->head];
        e->head = (e->head + 1) % e->cap;
        e->len--;
        e->running++;
        cancelled = e->cancel;
        pthread_mutex_unlock(&e->lock);
        run_job(e, &j, cache, cancelled);
        pthread_mutex_lock(&e->lock);
        e->running--;
        pthread_cond_broadcast(&e->idle);
    }
    pthread_mutex_unlock(&e->lock);
    agent_cache_free(cache);
    return NULL;
}

static int
default_route(void *ctx, cJSON *env, struct agent_cache *cache, struct route_result *out)
{
    return router_route_with(ctx, env, cache, out);
}

static int
default_refuse(void *ctx, cJSON *env, enum error_code code, const char *message,
               struct route_result *out)
{
    return router_refuse(ctx, env, code, message, out);
}

struct executor *
executor_new(struct router *r, const struct executor_opts *opts, struct intentus_err *err)
{
    struct executor *e = calloc(1, sizeof(*e));
    int workers = opts != NULL && opts->workers > 0 ? opts->workers : 4;
    size_t cap = opts != NULL && opts->queue_capacity > 0 ? opts->queue_capacity : 1024;

    if (e == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    e->router = r;
    e->route = default_route;
    e->refuse = default_refuse;
    e->ctx = r;
    if (opts != NULL && opts->route != NULL && opts->refuse != NULL) {
        e->route = opts->route;
        e->refuse = opts->refuse;
        e->ctx = opts->ctx;
    }
    e->cap = cap;
    e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    e->ring = calloc(cap, sizeof(*e->ring));
    e->threads = calloc((size_t)workers, sizeof(*e->threads));
    if (e->efd < 0 || e->ring == NULL || e->threads == NULL) {
        err_set(err, e->efd < 0 ? IERR_IO : IERR_NOMEM, "cannot create the worker pool: %s",
                e->efd < 0 ? strerror(errno) : "out of memory");
        if (e->efd >= 0)
            close(e->efd);
        free(e->ring);
        free(e->threads);
        free(e);
        return NULL;
    }
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->work, NULL);
    pthread_cond_init(&e->idle, NULL);
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&e->threads[i], NULL, worker_main, e) != 0)
            break;
        e->nthreads++;
    }
    if (e->nthreads == 0) {
        err_set(err, IERR_IO, "cannot start worker threads");
        executor_free(e);
        return NULL;
    }
    return e;
}

int
executor_submit(struct executor *e, cJSON *env, uint64_t tag, struct intentus_err *err)
{
    int rc = -1;

    pthread_mutex_lock(&e->lock);
    if (e->stopping) {
        err_set(err, IERR_INVALID, "the worker pool is shutting down");
    } else if (e->len == e->cap) {
        err_set(err, IERR_LIMIT, "submit queue full (%zu waiting); collect completions or retry",
                e->cap);
    } else {
        e->ring[(e->head + e->len) % e->cap] = (struct job){ env, tag, clock_mono_us() };
        e->len++;
        e->outstanding++;
        pthread_cond_signal(&e->work);
        rc = 0;
    }
    pthread_mutex_unlock(&e->lock);
    return rc;
}

int
executor_fd(const struct executor *e)
{
    return e->efd;
}

size_t
executor_collect(struct executor *e, struct completion *out, size_t max)
{
    uint64_t count;
    size_t n = 0;

    pthread_mutex_lock(&e->lock);
    /* Reset readiness first: a completion pushed after this read writes the
     * eventfd again, so no wake-up is lost. */
    while (read(e->efd, &count, sizeof(count)) < 0 && errno == EINTR)
        ;
    while (n < max && e->done_head != NULL) {
        struct done *d = e->done_head;
        e->done_head = d->next;
        if (e->done_head == NULL)
            e->done_tail = NULL;
        out[n++] = d->c;
        free(d);
        e->outstanding--;
    }
    if (e->done_head != NULL) {
        uint64_t one = 1;
        /* Left some behind: stay readable. */
        while (write(e->efd, &one, sizeof(one)) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&e->lock);
    return n;
}

size_t
executor_outstanding(struct executor *e)
{
    size_t n;

    pthread_mutex_lock(&e->lock);
    n = e->outstanding;
    pthread_mutex_unlock(&e->lock);
    return n;
}

void
executor_shutdown(struct executor *e, bool drain)
{
    pthread_mutex_lock(&e->lock);
    if (e->nthreads == 0) {
        pthread_mutex_unlock(&e->lock);
        return;
    }
    e->stopping = true;
    if (!drain)
        e->cancel = true;
    pthread_cond_broadcast(&e->work);
    pthread_mutex_unlock(&e->lock);
    for (int i = 0; i < e->nthreads; i++)
        pthread_join(e->threads[i], NULL);
    e->nthreads = 0;
    /* Completions waiting for their records: the writer decides each (it
     * writes or fails everything it accepted, closing included). */
    pthread_mutex_lock(&e->lock);
    while (e->awaiting > 0)
        pthread_cond_wait(&e->idle, &e->lock);
    pthread_mutex_unlock(&e->lock);
}

void
completion_free(struct completion *c)
{
    if (c == NULL)
        return;
    cJSON_Delete(c->response);
    c->response = NULL;
    cJSON_Delete(c->env); /* after the response, which may borrow from it */
    c->env = NULL;
}

void
executor_free(struct executor *e)
{
    if (e == NULL)
        return;
    executor_shutdown(e, false);
    while (e->done_head != NULL) {
        struct done *d = e->done_head;
        e->done_head = d->next;
        completion_free(&d->c);
        free(d);
    }
    pthread_cond_destroy(&e->idle);
    pthread_cond_destroy(&e->work);
    pthread_mutex_destroy(&e->lock);
    close(e->efd);
    free(e->ring);
    free(e->threads);
    free(e);
}
