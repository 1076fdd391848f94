#include "core/err.h"

#include <stdio.h>
#include <string.h>

static const char *const code_texts[] = {
#define X(code, text) text,
    INTENTUS_CODES(X)
#undef X
};

const char *
err_code_text(enum intentus_code code)
{
    if ((size_t)code >= sizeof(code_texts) / sizeof(code_texts[0]))
        return "unknown error";
    return code_texts[code];
}

void
err_vset(struct intentus_err *err, enum intentus_code code, const char *fmt, va_list ap)
{
    if (err == NULL)
        return;
    err->code = code;
    if (fmt == NULL) {
        snprintf(err->msg, sizeof(err->msg), "%s", err_code_text(code));
        return;
    }
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

void
err_set(struct intentus_err *err, enum intentus_code code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
}

void
err_prefix(struct intentus_err *err, const char *fmt, ...)
{
    char prefix[128];
    /* cppcheck-suppress ctunullpointer ; sizeof does not evaluate err */
    char old[sizeof(err->msg)];
    va_list ap;

    if (err == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    char joined[sizeof(prefix) + sizeof(old) + 2];

    memcpy(old, err->msg, sizeof(old));
    old[sizeof(old) - 1] = '\0';
    snprintf(joined, sizeof(joined), "%s: %s", prefix, old);
    /* Cut to fit; long messages lose their tail, never their prefix. */
    snprintf(err->msg, sizeof(err->msg), "%.*s", (int)sizeof(err->msg) - 1, joined);
}

void
err_clear(struct intentus_err *err)
{
    if (err == NULL)
        return;
    err->code = IERR_OK;
    err->msg[0] = '\0';
}
