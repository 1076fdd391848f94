/* Error reporting shared by every module: a caller-owned struct filled by
 * fallible functions (redis anet style). Codes and default texts come from one
 * X-macro so the enum and the words cannot drift apart. */
#ifndef INTENTUS_CORE_ERR_H
#define INTENTUS_CORE_ERR_H

#include <stdarg.h>

#define INTENTUS_CODES(X)                                                                          \
    X(IERR_OK, "ok")                                                                               \
    X(IERR_NOMEM, "out of memory")                                                                 \
    X(IERR_IO, "input/output error")                                                               \
    X(IERR_PARSE, "malformed JSON")                                                                \
    X(IERR_INVALID, "invalid value")                                                               \
    X(IERR_NOT_FOUND, "not found")                                                                 \
    X(IERR_CONFIG, "configuration error")                                                          \
    X(IERR_USAGE, "usage error")                                                                   \
    X(IERR_VERIFY, "verification failed")                                                          \
    X(IERR_LIMIT, "limit exceeded")

enum intentus_code {
#define X(code, text) code,
    INTENTUS_CODES(X)
#undef X
};

struct intentus_err {
    enum intentus_code code;
    char msg[256];
};

/* Fill err (ignored when NULL) with a code and a printf-style message. */
void err_set(struct intentus_err *err, enum intentus_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void err_vset(struct intentus_err *err, enum intentus_code code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Prefix an existing message: "prefix: old message". */
void err_prefix(struct intentus_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *err_code_text(enum intentus_code code);
void err_clear(struct intentus_err *err);

#endif
