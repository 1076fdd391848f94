/* The one hash of names and ids in intentus (hash tables of agents, record
 * ids, rate-limit keys, interned strings; request sampling; the index
 * database's file name), over a NUL-terminated string. It is FNV-1a's loop
 * and prime with an offset basis of 1469598103934665603: FNV's basis short
 * of its last digit, as intentus first wrote it (then copied into seven
 * files, now this one). Its spread is as good; its values are not
 * FNV-1a's. They are part of what is stored and decided (an index's file
 * name, which request ids a sample rate keeps), so they stay: never change
 * this, only add another. */
#ifndef INTENTUS_CORE_TEXT_HASH_H
#define INTENTUS_CORE_TEXT_HASH_H

#include <stdint.h>

static inline uint64_t
text_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

#endif
