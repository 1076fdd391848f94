/* Spent text buffers handed back from the threads that write records to the
 * threads that build them.
 *
 * An async writer frees each record's text on a writer thread while the
 * router thread builds the next record, so without a way back every record
 * grew a fresh buffer from malloc: seven reallocs from 64 bytes to a
 * record's 4-8 KB, and page faults where the heap had been trimmed behind
 * the writer (a sixth of what the caller of an async route spent). The
 * record builder's own per-thread cache (core/record_build.c) cannot help:
 * the text it built is gone to the writer. Buffers between 1 KB and 64 KB
 * are kept, at most TEXT_POOL_MAX of them (4 MB at the very most); anything
 * else is freed. Thread-safe. */
#ifndef INTENTUS_CORE_TEXT_POOL_H
#define INTENTUS_CORE_TEXT_POOL_H

#include <stdbool.h>

#include "core/buf.h"

#define TEXT_POOL_MAX 64

/* Keep text (a malloc'd buffer, e.g. from buf_take) for a later
 * text_pool_take, or free it. NULL is ignored. */
void text_pool_give(char *text);
/* Give the empty, unallocated *b a kept buffer (its length 0); false when
 * none is kept, b unchanged. */
bool text_pool_take(struct buf *b);

#endif
