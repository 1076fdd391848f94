#include "core/intern.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/text_hash.h"

/* Open addressing over a power-of-two table, at most half full. Strings
 * never move; only the slot array grows, under the lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char **slots;
static size_t cap, count, bytes;

static const char **
find_slot(const char **tab, size_t n, const char *s)
{
    size_t i = (size_t)text_hash(s) & (n - 1);

    while (tab[i] != NULL && strcmp(tab[i], s) != 0)
        i = (i + 1) & (n - 1);
    return &tab[i];
}

static int
grow(void)
{
    size_t n = cap == 0 ? 64 : cap * 2;
    const char **tab = calloc(n, sizeof(*tab));

    if (tab == NULL)
        return -1;
    for (size_t i = 0; i < cap; i++)
        if (slots[i] != NULL)
            *find_slot(tab, n, slots[i]) = slots[i];
    free(slots);
    slots = tab;
    cap = n;
    return 0;
}

const char *
intern_string(const char *s)
{
    const char **slot, *out = NULL;
    char *copy;
    size_t len;

    if (s == NULL || (len = strnlen(s, INTERN_MAX_LEN + 1)) > INTERN_MAX_LEN)
        return NULL;
    pthread_mutex_lock(&lock);
    if (cap > 0 && *(slot = find_slot(slots, cap, s)) != NULL) {
        out = *slot;
        goto out;
    }
    if (bytes + len + 1 > INTERN_MAX_BYTES || ((count + 1) * 2 > cap && grow() != 0))
        goto out;
    if ((copy = malloc(len + 1)) == NULL)
        goto out;
    memcpy(copy, s, len + 1);
    *find_slot(slots, cap, s) = copy;
    count++;
    bytes += len + 1;
    out = copy;
out:
    pthread_mutex_unlock(&lock);
    return out;
}

void
intern_stats(size_t *strings, size_t *bytes_out)
{
    pthread_mutex_lock(&lock);
    *strings = count;
    *bytes_out = bytes;
    pthread_mutex_unlock(&lock);
}
