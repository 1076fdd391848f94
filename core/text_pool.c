/* The text pool (core/text_pool.h): a mutex and a stack. */
#include "core/text_pool.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#define KEEP_MIN ((size_t)1024)
#define KEEP_MAX ((size_t)64 * 1024)

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *data;
    size_t cap;
} pool[TEXT_POOL_MAX];
static size_t pool_len;

void
text_pool_give(char *text)
{
    size_t cap;

    if (text == NULL)
        return;
    /* What malloc really gave: the buffer's capacity, all of it usable. */
    cap = malloc_usable_size(text);
    if (cap >= KEEP_MIN && cap <= KEEP_MAX) {
        pthread_mutex_lock(&pool_lock);
        if (pool_len < TEXT_POOL_MAX) {
            pool[pool_len].data = text;
            pool[pool_len].cap = cap;
            pool_len++;
            text = NULL;
        }
        pthread_mutex_unlock(&pool_lock);
    }
    free(text);
}

bool
text_pool_take(struct buf *b)
{
    bool took = false;

    if (b->data != NULL)
        return false;
    pthread_mutex_lock(&pool_lock);
    if (pool_len > 0) {
        pool_len--;
        b->data = pool[pool_len].data;
        b->cap = pool[pool_len].cap;
        pool[pool_len].data = NULL;
        took = true;
    }
    pthread_mutex_unlock(&pool_lock);
    if (took) {
        b->len = 0;
        b->failed = 0;
        b->data[0] = '\0';
    }
    return took;
}
