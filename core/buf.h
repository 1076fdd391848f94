/* A growable byte buffer, always NUL-terminated, for building JSON text,
 * file contents and messages without fixed-size guesses.
 *
 * The contract: whenever data is not NULL, data[len] == '\0' — after every
 * append, reset and reserve, and in the string buf_take hands out, including
 * for a buffer nothing was ever appended to (buf_take gives ""). data is NULL
 * only before the first append or reserve; use buf_str() to read it as a
 * string without that check. len never counts the terminator; the data may
 * hold NUL bytes of its own (file contents), so pass len along, not strlen. */
#ifndef INTENTUS_CORE_BUF_H
#define INTENTUS_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct buf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
    int failed; /* set once an allocation failed; later appends are no-ops */
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);                /* len = 0, keeps capacity */
int buf_reserve(struct buf *b, size_t extra); /* 0 ok, -1 out of memory */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append everything f yields until EOF. 0 ok (an empty stream is fine and
 * leaves a terminated, possibly empty buffer); -1 with errno set on a read
 * error (EIO, EISDIR, ...), ENOMEM, or EFBIG once more than max bytes came.
 * The buffer keeps what was read either way; the caller frees it. */
int buf_read_stream(struct buf *b, FILE *f, size_t max);
/* The contents as a string, borrowed: "" while data is NULL. */
const char *buf_str(const struct buf *b);
/* Hand the data to the caller (who frees it) and reset the buffer: a
 * NUL-terminated string of len bytes (save len first), "" for an empty
 * buffer. NULL only when an allocation failed (then the buffer is freed). */
char *buf_take(struct buf *b);

/* For the hot writers that append a few bytes at a time (core/record_build.c;
 * core/json.c's printers keep their own cursor and share the text_put_*
 * helpers below): inline, no strlen, no printf. */

/* Append n bytes. */
static inline void
buf_put_fast(struct buf *b, const char *s, size_t n)
{
    if ((b->len + n + 1 > b->cap && buf_reserve(b, n) != 0) || b->failed)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Append a string literal (its length known at compile time). */
#define BUF_PUT_LIT(b, lit) buf_put_fast((b), (lit), sizeof(lit) - 1)

/* A newline and the indentation of level (two spaces each), for the
 * pretty printers (core/json.c's and core/record_build.c's). The whole
 * block is copied (one fixed-size copy, cheaper than one of the line's
 * length) and only the line's bytes counted; deeper levels than it holds
 * are written with memset. text_put_newline_indent writes at p, which has
 * text_newline_indent_room(level) bytes of room, and returns the line's
 * end. */
#define TEXT_INDENT_BLOCK 64

static inline size_t
text_newline_indent_room(int level)
{
    size_t n = (size_t)level * 2 + 1;

    return n > TEXT_INDENT_BLOCK ? n : TEXT_INDENT_BLOCK;
}

static inline char *
text_put_newline_indent(char *p, int level)
{
    static const char nl[TEXT_INDENT_BLOCK] =
        "\n                                                              ";
    size_t n = (size_t)level * 2 + 1;

    if (n <= sizeof(nl)) {
        memcpy(p, nl, sizeof(nl));
        return p + n;
    }
    *p = '\n';
    memset(p + 1, ' ', n - 1);
    return p + n;
}

static inline void
buf_put_newline_indent(struct buf *b, int level)
{
    size_t room = text_newline_indent_room(level);
    char *nl_end;

    if ((b->len + room + 1 > b->cap && buf_reserve(b, room) != 0) || b->failed)
        return;
    nl_end = text_put_newline_indent(b->data + b->len, level);
    b->len = (size_t)(nl_end - b->data);
    *nl_end = '\0';
}

/* The decimal digits of u written backwards so that they end just before
 * end (at most 20 bytes); the first digit's address. No terminator. */
static inline char *
text_put_u64(char *end, uint64_t u)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    return end;
}

/* The same for a signed v (at most 20 bytes with the sign). */
static inline char *
text_put_i64(char *end, int64_t v)
{
    char *p = text_put_u64(end, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);

    if (v < 0)
        *--p = '-';
    return p;
}

/* The decimal text of v. */
static inline void
buf_put_int64(struct buf *b, int64_t v)
{
    char tmp[24], *p = text_put_i64(tmp + sizeof(tmp), v);

    buf_put_fast(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* src into the fixed array dst of size bytes, cut to size - 1 bytes as
 * snprintf("%s") cuts, without printf (ids and reasons on the hot path). */
static inline void
text_copy_cut(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

#endif
