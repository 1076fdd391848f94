#include "tui/job.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tui/loop.h"

struct job_ctl {
    const atomic_bool *cancel;
};

struct job {
    struct jobs *owner;
    job_work_fn work;
    job_done_fn done;
    void *arg;
    pthread_t thread;
    bool finished; /* under owner->lock */
    struct job *next;
};

struct jobs {
    pthread_mutex_t lock;
    struct job *list; /* started, not yet delivered */
    size_t n;
    int efd;
    struct loop *loop;
    atomic_bool cancel;
};

static void
on_event(void *ctx, int fd)
{
    (void)fd;
    jobs_deliver(ctx);
}

struct jobs *
jobs_new(struct loop *l)
{
    struct jobs *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return NULL;
    j->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (j->efd < 0) {
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    atomic_init(&j->cancel, false);
    j->loop = l;
    if (l != NULL && loop_add_fd(l, j->efd, on_event, j) != 0) {
        close(j->efd);
        pthread_mutex_destroy(&j->lock);
        free(j);
        return NULL;
    }
    return j;
}

static void *
job_main(void *p)
{
    struct job *job = p;
    struct job_ctl ctl = { &job->owner->cancel };
    uint64_t one = 1;
    ssize_t w;

    job->work(job->arg, &ctl);
    pthread_mutex_lock(&job->owner->lock);
    job->finished = true;
    pthread_mutex_unlock(&job->owner->lock);
    w = write(job->owner->efd, &one, sizeof(one)); /* cannot overflow: one per job */
    (void)w;
    return NULL;
}

int
job_run(struct jobs *j, job_work_fn work, job_done_fn done, void *arg)
{
    struct job *job = calloc(1, sizeof(*job));

    if (job == NULL)
        return -1;
    *job = (struct job){ .owner = j, .work = work, .done = done, .arg = arg };
    pthread_mutex_lock(&j->lock);
    if (pthread_create(&job->thread, NULL, job_main, job) != 0) {
        pthread_mutex_unlock(&j->lock);
        free(job);
        return -1;
    }
    job->next = j->list;
    j->list = job;
    j->n++;
    pthread_mutex_unlock(&j->lock);
    return 0;
}

size_t
jobs_deliver(struct jobs *j)
{
    struct job *ready = NULL, **pp;
    uint64_t count;
    size_t n = 0;
    ssize_t r = read(j->efd, &count, sizeof(count));

    (void)r;
    pthread_mutex_lock(&j->lock);
    for (pp = &j->list; *pp != NULL;) {
        struct job *job = *pp;
        if (job->finished) {
            *pp = job->next;
            job->next = ready;
            ready = job;
            j->n--;
        } else {
            pp = &job->next;
        }
    }
    pthread_mutex_unlock(&j->lock);
    /* Oldest first is not promised; each done is independent. */
    while (ready != NULL) {
        struct job *job = ready;
        ready = job->next;
        pthread_join(job->thread, NULL);
        if (job->done != NULL)
            job->done(job->arg);
        free(job);
        n++;
    }
    return n;
}

size_t
jobs_pending(const struct jobs *j)
{
    size_t n;

    pthread_mutex_lock((pthread_mutex_t *)&j->lock);
    n = j->n;
    pthread_mutex_unlock((pthread_mutex_t *)&j->lock);
    return n;
}

bool
job_cancelled(const struct job_ctl *ctl)
{
    return atomic_load(ctl->cancel);
}

int
jobs_fd(const struct jobs *j)
{
    return j->efd;
}

void
jobs_free(struct jobs *j)
{
    struct job *list;

    if (j == NULL)
        return;
    atomic_store(&j->cancel, true);
    for (;;) { /* a done callback may have started another job */
        pthread_mutex_lock(&j->lock);
        list = j->list;
        j->list = NULL;
        j->n = 0;
        pthread_mutex_unlock(&j->lock);
        if (list == NULL)
            break;
        while (list != NULL) {
            struct job *job = list;
            list = job->next;
            pthread_join(job->thread, NULL);
            if (job->done != NULL)
                job->done(job->arg);
            free(job);
        }
    }
    if (j->loop != NULL)
        loop_remove_fd(j->loop, j->efd);
    close(j->efd);
    pthread_mutex_destroy(&j->lock);
    free(j);
}
