/* A growable byte buffer, always NUL-terminated, for building JSON text,
 * file contents and messages without fixed-size guesses. */
#ifndef INTENTUS_CORE_BUF_H
#define INTENTUS_CORE_BUF_H

#include <stddef.h>

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
/* Hand the data to the caller (who frees it) and reset the buffer. Never NULL
 * unless allocation failed. */
char *buf_take(struct buf *b);

#endif
