/* TLS material of `intentus serve`: the certificate and private key PEM
 * files read once at start (safe_file: no symlink, no FIFO), the key file's
 * mode checked (not readable by group or others) and both validated before
 * libmicrohttpd sees them: each parses, and the key is the certificate's. */
#ifndef INTENTUS_TUI_SERVE_TLS_H
#define INTENTUS_TUI_SERVE_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct serve_tls {
    char *cert, *key; /* NUL-terminated PEM text; the key is wiped on free */
    size_t cert_len, key_len;
};

/* Whether the linked libmicrohttpd was built with TLS. */
bool serve_tls_supported(void);
/* Read and check cert_path and key_path into t. 0, or -1 with err naming
 * the file (IERR_CONFIG: not PEM, the key not the certificate's, the key's
 * mode too open; IERR_NOT_FOUND, IERR_IO as safe_file says). */
int serve_tls_load(const char *cert_path, const char *key_path, struct serve_tls *t,
                   struct intentus_err *err);
void serve_tls_free(struct serve_tls *t);

#endif
