/* The malloc interposer of malloc_count.h. */
#include "tests/support/alloc/malloc_count.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HAVE_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) ||                         \
    __has_feature(thread_sanitizer)
#define HAVE_SANITIZER 1
#endif
#endif

static _Thread_local int counting; /* > 0: counting (pauses subtract) */
static _Thread_local struct malloc_count counts;

#if !defined(HAVE_SANITIZER) && defined(__GLIBC__)
#define COUNT_ALLOCS 1
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t k, size_t n);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);
void *malloc(size_t n);
void *calloc(size_t k, size_t n);
void *realloc(void *p, size_t n);
void free(void *p);

static void
note(size_t n)
{
    if (counting <= 0)
        return;
    counts.calls++;
    counts.bytes += n;
    if (n > counts.largest)
        counts.largest = n;
    if (n >= MALLOC_COUNT_BIG)
        counts.big++;
}

static long long
block(void *p)
{
    return p != NULL ? (long long)(malloc_usable_size(p) + sizeof(size_t)) : 0;
}

void *
malloc(size_t n)
{
    void *p;

    note(n);
    p = __libc_malloc(n);
    if (counting > 0)
        counts.live += block(p);
    return p;
}

void *
calloc(size_t k, size_t n)
{
    void *p;

    note(k * n);
    p = __libc_calloc(k, n);
    if (counting > 0)
        counts.live += block(p);
    return p;
}

void *
realloc(void *p, size_t n)
{
    long long was = block(p);
    void *q;

    note(n);
    q = __libc_realloc(p, n);
    if (counting > 0 && (q != NULL || n == 0))
        counts.live += block(q) - was;
    return q;
}

void
free(void *p)
{
    if (counting > 0)
        counts.live -= block(p);
    __libc_free(p);
}
#endif

bool
malloc_count_available(void)
{
#ifdef COUNT_ALLOCS
    return true;
#else
    return false;
#endif
}

void
malloc_count_start(void)
{
    memset(&counts, 0, sizeof(counts));
    counting = 1;
}

void
malloc_count_stop(struct malloc_count *out)
{
    counting = 0;
    if (out != NULL)
        *out = counts;
}

void
malloc_count_peek(struct malloc_count *out)
{
    *out = counts;
}

void
malloc_count_pause(void)
{
    counting--;
}

void
malloc_count_resume(void)
{
    counting++;
}
