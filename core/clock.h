/* Time helpers: ISO-8601 UTC text as the reference writes it, and a monotonic
 * clock for durations (wall clocks skew; durations never come from them). */
#ifndef INTENTUS_CORE_CLOCK_H
#define INTENTUS_CORE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CLOCK_ISO_LEN 33 /* "2026-01-01T00:00:00.123456+00:00" + NUL */

/* Microseconds since the Unix epoch, wall clock. */
int64_t clock_wall_us(void);
/* Microseconds from an arbitrary origin, CLOCK_MONOTONIC. */
int64_t clock_mono_us(void);
/* "YYYY-MM-DDTHH:MM:SS.ffffff+00:00", always six fractional digits. */
void clock_format_iso(int64_t wall_us, char out[CLOCK_ISO_LEN]);
void clock_now_iso(char out[CLOCK_ISO_LEN]);
/* Parse the reference's forms: with or without fraction (1-6 digits), with
 * "+00:00", "Z", or any "+HH:MM"/"-HH:MM" offset. Returns 0 and the epoch
 * microseconds, or -1 when the text is not such a timestamp. */
int clock_parse_iso(const char *text, int64_t *wall_us);

#endif
