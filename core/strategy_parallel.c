/* PARALLEL: one thread per candidate, each with its own copy of the
 * envelope; results are consumed in completion order and the first success
 * wins. Every thread is joined before returning, as in the reference.
 * Refused when the router requires determinism (core/router.c). */
#include <pthread.h>
#include <stdlib.h>

#include "core/strategy.h"

struct branch_queue;

struct branch {
    struct exec *x;
    struct agent *agent;
    struct exec view; /* the execution as this branch sees it: own envelope */
    struct sink sink;
    cJSON *resp;
    struct intentus_err err;
    pthread_t thread;
    bool started;
    enum skip skipped;
    size_t index;
    struct branch_queue *q;
};

struct branch_queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t *order; /* indexes of finished branches, in completion order */
    size_t done;
};

static void *
branch_main(void *arg)
{
    struct branch *b = arg;
    struct branch_queue *q = b->q;

    b->resp =
        router_attempt(&b->view, &b->sink, b->agent, STRATEGY_PARALLEL, -1, &b->skipped, &b->err);
    pthread_mutex_lock(&q->lock);
    q->order[q->done++] = b->index;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void
branch_done_early(struct branch_queue *q, size_t i)
{
    pthread_mutex_lock(&q->lock);
    q->order[q->done++] = i;
    pthread_mutex_unlock(&q->lock);
}

static void
start_branches(struct exec *x, struct branch *br, struct branch_queue *q)
{
    for (size_t i = 0; i < x->n; i++) {
        struct branch *b = &br[i];
        b->x = x;
        b->agent = x->cands[i];
        b->index = i;
        b->q = q;
        b->view = *x;
        b->view.cache = NULL; /* the worker's cache is not shared across threads */
        b->view.env = cJSON_Duplicate(x->env, 1);
        if (b->view.env != NULL) /* the copy's members, not x's */
            envelope_view_fill(&b->view.ev, b->view.env);
        sink_init(&b->sink, &b->view, true);
        if (b->view.env == NULL) {
            err_set(&b->err, IERR_NOMEM, "out of memory copying the envelope");
        } else if (pthread_create(&b->thread, NULL, branch_main, b) == 0) {
            b->started = true;
            continue;
        } else {
            err_set(&b->err, IERR_NOMEM, "cannot start a thread for agent %s", b->agent->name);
        }
        /* A branch that could not start counts as finished with an exception. */
        branch_done_early(q, i);
    }
}

static struct outcome
run_parallel(struct exec *x, enum strategy asked)
{
    struct outcome o = { 0 };
    struct branch *br = calloc(x->n, sizeof(*br));
    struct branch_queue q;
    cJSON *last_error = NULL;
    struct branch *winner = NULL;
    size_t consumed = 0;

    (void)asked;
    q.order = calloc(x->n, sizeof(*q.order));
    q.done = 0;
    if (br == NULL || q.order == NULL) {
        free(br);
        free(q.order);
        x->failed = 1;
        return o;
    }
    pthread_mutex_init(&q.lock, NULL);
    pthread_cond_init(&q.cond, NULL);
    start_branches(x, br, &q);
    while (consumed < x->n) {
        struct branch *b;
        pthread_mutex_lock(&q.lock);
        while (q.done == consumed)
            pthread_cond_wait(&q.cond, &q.lock);
        b = &br[q.order[consumed++]];
        pthread_mutex_unlock(&q.lock);
        if (b->started)
            pthread_join(b->thread, NULL);
        b->started = false;
        /* Results after the winner are neither returned nor recorded; only
         * breaker transitions are kept, so the circuit history in the
         * records stays complete. */
        sink_flush(x, &b->sink, winner != NULL);
        if (b->view.failed)
            x->failed = 1;
        if (winner != NULL)
            continue;
        if (b->skipped) {
            if (last_error == NULL)
                last_error = router_open_error(b->agent, b->skipped);
            continue;
        }
        if (b->resp != NULL && !response_is_error(b->resp)) {
            winner = b;
            continue;
        }
        cJSON_Delete(last_error);
        last_error = b->resp != NULL ? cJSON_Duplicate(response_error(b->resp), 1)
                                     : router_exception_error(b->err.msg);
    }
    if (winner != NULL) {
        o.response = winner->resp;
        winner->resp = NULL;
        /* It may borrow from the branch's own envelope, freed below. */
        if (response_own(o.response) != 0) {
            cJSON_Delete(o.response);
            o.response = NULL; /* out of memory: the route says so */
        }
        router_decide(x, &o, winner->agent->name, "parallel first success");
    } else {
        o.response = response_exhausted(last_error, "parallel", x->trace_id);
        router_decide(x, &o, "parallel", "routing failed");
    }
    for (size_t i = 0; i < x->n; i++) {
        cJSON_Delete(br[i].resp);
        cJSON_Delete(br[i].view.env);
        sink_free(&br[i].sink);
    }
    cJSON_Delete(last_error);
    pthread_cond_destroy(&q.cond);
    pthread_mutex_destroy(&q.lock);
    free(q.order);
    free(br);
    return o;
}

const struct strategy_ops strategy_parallel_ops = {
    .name = "PARALLEL",
    .id = STRATEGY_PARALLEL,
    .nondeterministic = true,
    .run = run_parallel,
};
