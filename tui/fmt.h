/* Pure formatting helpers shared by the command line and the console:
 * durations, sizes, times, fixed-width cells. No curses, no I/O. */
#ifndef INTENTUS_TUI_FMT_H
#define INTENTUS_TUI_FMT_H

#include <stddef.h>
#include <stdint.h>

/* "850us", "12.3ms", "4.20s", "3m05s"; "-" for negative (unknown). */
void fmt_duration_us(int64_t us, char *out, size_t size);
/* "p50 1.2ms  p95 4.0ms  p99 9.1ms" of n latencies (sorts them in place;
 * nearest-rank percentiles): the one summary the CLI's --async-n and the
 * console's fire-N print. */
void fmt_latency_summary(int64_t *us, size_t n, char *out, size_t size);
/* "2026-11-26 16:51:40" (UTC) from epoch microseconds; "-" for 0. */
void fmt_time_short(int64_t wall_us, char *out, size_t size);
/* Copy s into out cut to at most width display columns (UTF-8 aware,
 * counting each code point as one column), with "…" when cut. */
void fmt_cell(const char *s, size_t width, char *out, size_t size);
/* Display width of UTF-8 text, one column per code point. */
size_t fmt_width(const char *s);

#endif
