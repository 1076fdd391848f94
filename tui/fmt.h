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
/* The shortest suffix length (at least min, at most the longest id) that
 * tells the n ids apart: UUIDv7s of the same minute share their first 8
 * characters (the timestamp), never their random tail. */
size_t fmt_unique_suffix_len(const char *const *ids, size_t n, size_t min);

/* fmt_escape flag: keep newlines and tabs (a multi-line document such as a
 * record file); without it they are escaped too (one table cell, one line). */
#define FMT_ESC_KEEP_LINES 1u
/* Escaped worst case: 4 bytes of output per byte of input ("\xNN"), plus NUL. */
#define FMT_ESC_SIZE(n) (4 * (n) + 1)

/* Text for a terminal: len bytes of s copied into out[size] (always
 * NUL-terminated) with every control character made visible, so no record,
 * config or argument can send escape sequences to the terminal. ESC is
 * written \e; newline, carriage return and tab \n, \r, \t (newline and
 * tab kept as they are with FMT_ESC_KEEP_LINES); every other C0 character
 * and DEL \xNN; the C1 controls U+0080..U+009F \u00NN; a byte that is not
 * part of valid UTF-8 \xNN. Valid UTF-8 text, backslashes included, is
 * copied unchanged. Stops before a character or escape that would not fit
 * and returns the number of bytes of s consumed (len when everything fit),
 * so a caller can stream long text through a small buffer. */
size_t fmt_escape(const char *s, size_t len, unsigned flags, char *out, size_t size);

#endif
