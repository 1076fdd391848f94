/* Background work for the console, one API for all of it: a function runs
 * on a worker thread, and its completion comes back through an eventfd the
 * loop watches, to a callback on the loop's thread. Nothing the worker
 * touches is shared with the loop while it runs: it gets its argument (its
 * own copies, and a config reference from runtime_config_acquire when it
 * reads the configuration) and gives results back through done. No curses. */
#ifndef INTENTUS_TUI_JOB_H
#define INTENTUS_TUI_JOB_H

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct jobs;
struct job_ctl;

/* Runs on the worker; polls job_cancelled in long loops. */
typedef void (*job_work_fn)(void *arg, const struct job_ctl *ctl);
/* Runs on the loop's thread after work returned (also from jobs_free, so
 * it can free arg). */
typedef void (*job_done_fn)(void *arg);

/* A job queue whose completions the loop l delivers. NULL on failure. */
struct jobs *jobs_new(struct loop *l);
/* Asks every running job to stop (job_cancelled), waits for them, runs their
 * done callbacks, and frees the queue. */
void jobs_free(struct jobs *j);
/* Start work(arg) on a worker; done(arg) follows on the loop's thread.
 * Returns 0, or -1 (nothing started, done not called). */
int job_run(struct jobs *j, job_work_fn work, job_done_fn done, void *arg);
/* Jobs started and not yet delivered. */
size_t jobs_pending(const struct jobs *j);
/* The console is closing: a long job should stop soon. */
bool job_cancelled(const struct job_ctl *ctl);
/* Deliver the completions that are ready (the loop calls this on the
 * eventfd; tests may call it directly). Returns how many. */
size_t jobs_deliver(struct jobs *j);
/* The eventfd (readable when a completion waits). */
int jobs_fd(const struct jobs *j);

#endif
