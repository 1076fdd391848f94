#include "core/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
}

void
buf_free(struct buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    buf_init(b);
}

void
buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->failed)
        return -1;
    if (extra > ((size_t)-1) / 2 - b->len) {
        b->failed = 1;
        return -1;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    /* Terminated from the first allocation on: a reserve that is never
     * followed by an append still leaves a valid (empty) string. */
    p[b->len] = '\0';
    b->data = p;
    b->cap = cap;
    return 0;
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
    /* The common case, room already there, skips buf_reserve's checks:
     * canonical JSON appends a few bytes at a time. */
    if (b->len + len + 1 > b->cap && buf_reserve(b, len) != 0)
        return -1;
    if (b->failed)
        return -1;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int
buf_putc(struct buf *b, char c)
{
    if (b->len + 2 <= b->cap && !b->failed) {
        b->data[b->len++] = c;
        b->data[b->len] = '\0';
        return 0;
    }
    return buf_append(b, &c, 1);
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int
buf_read_stream(struct buf *b, FILE *f, size_t max)
{
    char chunk[8192];
    size_t n;

    if (buf_reserve(b, 0) != 0) {
        errno = ENOMEM;
        return -1;
    }
    errno = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (b->len > max || n > max - b->len) {
            errno = EFBIG;
            return -1;
        }
        if (buf_append(b, chunk, n) != 0) {
            errno = ENOMEM;
            return -1;
        }
    }
    if (ferror(f)) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    return 0;
}

const char *
buf_str(const struct buf *b)
{
    return b->data != NULL ? b->data : "";
}

char *
buf_take(struct buf *b)
{
    char *p;

    if (b->failed) {
        buf_free(b);
        return NULL;
    }
    if (b->data == NULL && buf_reserve(b, 0) != 0)
        return NULL;
    p = b->data;
    if (p == NULL)
        return NULL;
    p[b->len] = '\0'; /* an empty buffer gives "", never uninitialised bytes */
    buf_init(b);
    return p;
}
