/* A client of a running `intentus serve` (libcurl): the bearer token from
 * $INTENTUS_TOKEN or a token file, one JSON request, the status and body.
 * The token is sent in the Authorization header and never printed. */
#ifndef INTENTUS_TUI_SERVE_CLIENT_H
#define INTENTUS_TUI_SERVE_CLIENT_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* The token: from token_file (trailing whitespace cut), else
 * $INTENTUS_TOKEN; NULL with a message printed for cmd (EXIT_USAGE) when
 * neither gives one. Free with serve_client_token_free. */
char *serve_client_token(const char *cmd, const char *token_file);
void serve_client_token_free(char *token);
/* Check a --server URL (http:// only to loopback, or https://); 0 or
 * EXIT_USAGE with the message printed. */
int serve_client_check_url(const char *cmd, const char *url);
/* The CA certificates that verify an https:// server: file (--cacert),
 * else $INTENTUS_CACERT, else the system's. 0, or EXIT_USAGE with the
 * message printed when the file cannot be read. */
int serve_client_set_cacert(const char *cmd, const char *file);
/* METHOD base+path with body (NULL: none). Returns the HTTP status and the
 * parsed JSON answer in *out (NULL when not JSON); 0 with a message printed
 * when the server could not be reached. */
long serve_client_call(const char *cmd, const char *base, const char *method, const char *path,
                       const char *token, const char *body, cJSON **out);

#endif
