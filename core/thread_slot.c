/* Per-thread values (core/thread_slot.h). */
#include "core/thread_slot.h"

void *
thread_slot_get(struct thread_slot *s)
{
    int st = atomic_load_explicit(&s->state, memory_order_acquire);
    void *v;

    if (st == 0) {
        pthread_mutex_lock(&s->lock);
        st = atomic_load_explicit(&s->state, memory_order_relaxed);
        if (st == 0) {
            st = pthread_key_create(&s->key, s->destroy) == 0 ? 1 : -1;
            atomic_store_explicit(&s->state, st, memory_order_release);
        }
        pthread_mutex_unlock(&s->lock);
    }
    if (st < 0)
        return NULL;
    if ((v = pthread_getspecific(s->key)) != NULL)
        return v;
    if ((v = s->make()) == NULL)
        return NULL;
    if (pthread_setspecific(s->key, v) != 0) {
        s->destroy(v);
        return NULL;
    }
    return v;
}
