/* Execution ids. intentus writes UUIDv7 (time-ordered, so sorting file names
 * sorts by creation time); the reference writes UUIDv4. Both are accepted. */
#ifndef INTENTUS_CORE_UUID_H
#define INTENTUS_CORE_UUID_H

#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters + NUL */

/* UUIDv7 for the given wall-clock milliseconds. The random bits come from
 * a per-thread generator seeded from getrandom once per thread (and again
 * after fork), so an id costs no system call. */
void uuid_v7(int64_t unix_ms, char out[UUID_STR_LEN]);
/* UUIDv4 (requestId, traceId), as the reference generates them. */
void uuid_v4(char out[UUID_STR_LEN]);
/* True when s is exactly a lowercase or uppercase 8-4-4-4-12 hex UUID. Used
 * to validate ids before they become file names, so no path can escape. */
int uuid_is_valid(const char *s);

#endif
