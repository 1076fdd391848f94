/* Counting the heap requests of a stretch of code: a malloc interposer
 * (glibc's __libc_* entry points) for the tests that measure allocation.
 * It lives outside tests/support/ itself on purpose: only the tests that need
 * it link it (the Makefile's ALLOC_TESTS), every other binary keeps the
 * plain allocator. A sanitizer's allocator does not allow interposing
 * malloc: there malloc_count_available() is false and such a test is a
 * counted skip. Counting is per thread: only the calls of the thread that
 * started counting are counted. */
#ifndef INTENTUS_TESTS_SUPPORT_MALLOC_COUNT_H
#define INTENTUS_TESTS_SUPPORT_MALLOC_COUNT_H

#include <stdbool.h>
#include <stddef.h>

/* Requests of this many bytes or more count as big. */
#define MALLOC_COUNT_BIG 2048

struct malloc_count {
    size_t calls;   /* malloc, calloc and realloc calls */
    size_t bytes;   /* bytes they asked for */
    size_t largest; /* the largest single request */
    size_t big;     /* requests of MALLOC_COUNT_BIG bytes or more */
    /* Heap held: each block's usable size plus its header word, added when
     * allocated and taken off when freed (or resized) while counting; what
     * a structure costs in memory, not only how often it asks. */
    long long live;
};

/* False where malloc cannot be interposed (sanitizers, not glibc). */
bool malloc_count_available(void);
/* Zero the counts and count this thread's requests from now on. */
void malloc_count_start(void);
/* Stop counting; *out (may be NULL) gets the counts since the start. */
void malloc_count_stop(struct malloc_count *out);
/* The counts so far, counting going on. */
void malloc_count_peek(struct malloc_count *out);
/* Not counted in between (the test's own allocations); nests. */
void malloc_count_pause(void);
void malloc_count_resume(void);

#endif
