/* The "serve" section of the config: bearer tokens (as SHA-256 digests,
 * never in clear), request limits and whether plain HTTP may listen on a
 * non-loopback address. Read by `intentus serve` from the config file the
 * runtime loaded, again on every reload. */
#ifndef INTENTUS_TUI_SERVE_CONF_H
#define INTENTUS_TUI_SERVE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/emcl.h"
#include "core/err.h"

struct serve_token {
    unsigned char digest[32];
    char *subject;
    char **tenants, **roles; /* NULL-terminated */
};

struct serve_conf {
    struct serve_token *tokens;
    size_t n_tokens;
    bool allow_insecure;        /* plain HTTP on a non-loopback address */
    uint64_t max_body;          /* bytes; default 1 MiB */
    int64_t request_timeout_ms; /* per request; default 30 s */
    long queue;                 /* requests in flight at once; default 256 */
    struct emcl_key *emcl;      /* serve.emcl: EMCL frames on /intent; NULL when off */
    bool emcl_required;         /* serve.emcl.required: plain intents refused */
    /* serve.tls: PEM files, relative ones next to the config file; both
     * NULL without TLS */
    char *tls_cert, *tls_key;
    uint64_t max_header;             /* request line + headers, bytes; default 16 KiB */
    int64_t client_deadline_ms;      /* to send one whole request; default 10 s */
    long max_connections;            /* open at once; default 1000 */
    long max_connections_per_client; /* per client address; 0: no limit */
    bool per_client_set;             /* max_connections_per_client given */
    /* serve.shared_state: rate-limit buckets and breaker states shared with
     * every serve using the same PostgreSQL database (watch/shared_pg.h);
     * NULL when off. Read at start; a reload does not change it. */
    char *shared_url;
    int64_t shared_refresh_ms; /* serve.shared_state.breaker_refresh; default 1 s */
};

/* Parse the "serve" object of the config file at path (NULL or the demo:
 * the defaults). */
struct serve_conf *serve_conf_load(const char *path, struct intentus_err *err);
void serve_conf_free(struct serve_conf *c);
/* The token whose digest matches SHA-256(token[len]), or NULL. Constant
 * time per configured token. */
const struct serve_token *serve_conf_match(const struct serve_conf *c, const char *token,
                                           size_t len);
bool serve_token_has_role(const struct serve_token *t, const char *role);
bool serve_token_has_tenant(const struct serve_token *t, const char *tenant);

#endif
