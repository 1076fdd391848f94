/* Loading short strings into registers, for the two string writers that
 * test many bytes at once whether any needs escaping: the canonical
 * hash's (core/json_canon.c) and the record printer's (core/json.c).
 *
 * A key or a short value is loaded as two little-endian words, which
 * overlap for 9 to 16 bytes; under 8 bytes the string is gathered from
 * loads of 4, 2 and 1 bytes (never past its end, so ASan and valgrind
 * see no over-read) and padded with a byte the caller chooses, one that
 * needs no escape. A zero-padded copy through memory would stall the
 * load that follows it. Each writer keeps its own test of which bytes
 * need escaping: the two escape different sets.
 *
 * Little-endian only: callers keep a byte loop for big-endian machines. */
#ifndef INTENTUS_CORE_TEXT_SCAN_H
#define INTENTUS_CORE_TEXT_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TEXT_SCAN_ONES 0x0101010101010101ULL

/* The len (< 8) bytes at s, the first lowest, the bytes above them pad. */
static inline uint64_t
text_gather(const unsigned char *s, size_t len, unsigned char pad)
{
    uint64_t x = 0;
    size_t k = 0;

    if (len & 4) {
        uint32_t v;
        memcpy(&v, s, 4);
        x = v;
        k = 4;
    }
    if (len & 2) {
        uint16_t v;
        memcpy(&v, s + k, 2);
        x |= (uint64_t)v << (8 * k);
        k += 2;
    }
    if (len & 1)
        x |= (uint64_t)s[k] << (8 * k);
    return x | (TEXT_SCAN_ONES * pad) << (8 * len); /* len < 8: the shift is defined */
}

/* The len (<= 16) bytes at s as two words: lo the first eight (padded
 * under 8), hi the last eight (lo again under 8). Storing lo at p and,
 * for len > 8, hi at p + len - 8 writes the string at p (and, under 8,
 * pad bytes after it, which the caller overwrites or leaves past its end). */
static inline void
text_load_short(const unsigned char *s, size_t len, unsigned char pad, uint64_t *lo, uint64_t *hi)
{
    if (len >= 8) {
        memcpy(lo, s, 8);
        memcpy(hi, s + len - 8, 8);
    } else {
        *lo = text_gather(s, len, pad);
        *hi = *lo;
    }
}

#endif
