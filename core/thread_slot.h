/* A value per thread: made on the thread's first use, kept for its later
 * ones, destroyed when the thread exits (a pthread key and its destructor).
 * The hot paths keep their working state this way (the record builder's
 * buffers, the digest context, the spare responses), so each needs nothing
 * but a make and a destroy function:
 *
 *     static struct thread_slot slot = THREAD_SLOT(make, destroy);
 *     struct state *st = thread_slot_get(&slot);   (NULL: none to be had)
 *
 * A thread whose value cannot be made or kept gets NULL every time it asks
 * (out of memory, or no key left): callers fall back to working without. */
#ifndef INTENTUS_CORE_THREAD_SLOT_H
#define INTENTUS_CORE_THREAD_SLOT_H

#include <pthread.h>
#include <stdatomic.h>

struct thread_slot {
    void *(*make)(void);     /* a new value, or NULL */
    void (*destroy)(void *); /* at thread exit, or when it could not be kept */
    /* private */
    pthread_mutex_t lock;
    atomic_int state; /* 0: no key yet, 1: key made, -1: no key to be had */
    pthread_key_t key;
};

#define THREAD_SLOT(make_fn, destroy_fn)                                                           \
    {                                                                                              \
        .make = (make_fn), .destroy = (destroy_fn), .lock = PTHREAD_MUTEX_INITIALIZER              \
    }

/* This thread's value, made now if it has none. */
void *thread_slot_get(struct thread_slot *s);

#endif
