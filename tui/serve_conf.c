/* The "serve" section: tokens and request limits (tui/serve_conf.h). */
#include "tui/serve_conf.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/safe_file.h"
#include "core/units.h"

#define CONF_MAX ((size_t)16 * 1024 * 1024)
#define TOKEN_FILE_MAX 4096

static const char *const serve_keys[] = { "tokens",
                                          "allow_insecure",
                                          "max_body",
                                          "request_timeout",
                                          "queue",
                                          "tls",
                                          "max_header",
                                          "client_deadline",
                                          "max_connections",
                                          "max_connections_per_client",
                                          "emcl",
                                          "shared_state",
                                          NULL };
static const char *const token_keys[] = { "sha256",  "file",  "env", "subject",
                                          "tenants", "roles", NULL };

static bool
listed(const char *k, const char *const *keys)
{
    for (size_t i = 0; keys[i] != NULL; i++)
        if (strcmp(k, keys[i]) == 0)
            return true;
    return false;
}

static void
free_list(char **l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; l[i] != NULL; i++)
        free(l[i]);
    free(l);
}

void
serve_conf_free(struct serve_conf *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_tokens; i++) {
        free(c->tokens[i].subject);
        free_list(c->tokens[i].tenants);
        free_list(c->tokens[i].roles);
    }
    free(c->tokens);
    emcl_key_free(c->emcl);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->shared_url);
    free(c);
}

static char **
string_list(const cJSON *v, const char *path, struct intentus_err *err)
{
    size_t n = 0;
    char **l;
    const cJSON *it;

    if (v != NULL && !cJSON_IsArray(v)) {
        err_set(err, IERR_CONFIG, "%s: must be an array of strings", path);
        return NULL;
    }
    l = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(char *));
    if (l == NULL) {
        err_set(err, IERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0' ||
            (l[n++] = strdup(it->valuestring)) == NULL) {
            err_set(err, IERR_CONFIG, "%s[%zu]: must be a non-empty string", path, n);
            free_list(l);
            return NULL;
        }
    }
    return l;
}

/* Trailing newlines and spaces are not part of a token kept in a file. */
static size_t
trimmed_len(const char *s, size_t len)
{
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    return len;
}

static int
parse_hex_digest(const char *hex, unsigned char out[32])
{
    if (strlen(hex) != 64)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            int c = tolower((unsigned char)hex[2 * i + (size_t)j]);
            if (c >= '0' && c <= '9')
                v = v * 16 + (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v = v * 16 + (unsigned)(c - 'a' + 10);
            else
                return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

static int
parse_token(const cJSON *o, const char *path, struct serve_token *t, struct intentus_err *err)
{
    const cJSON *k, *sha = cJSON_GetObjectItemCaseSensitive(o, "sha256"),
                    *file = cJSON_GetObjectItemCaseSensitive(o, "file"),
                    *env = cJSON_GetObjectItemCaseSensitive(o, "env"),
                    *subject = cJSON_GetObjectItemCaseSensitive(o, "subject");
    char sub[96];

    if (!cJSON_IsObject(o)) {
        err_set(err, IERR_CONFIG, "%s: must be an object", path);
        return -1;
    }
    cJSON_ArrayForEach(k, o)
    {
        if (!listed(k->string, token_keys)) {
            err_set(err, IERR_CONFIG,
                    "%s.%s: unknown key (known: sha256, file, env, subject, tenants, roles)", path,
                    k->string);
            return -1;
        }
    }
    if ((sha != NULL) + (file != NULL) + (env != NULL) != 1) {
        err_set(err, IERR_CONFIG, "%s: needs exactly one of sha256, file, env", path);
        return -1;
    }
    if (!cJSON_IsString(subject) || subject->valuestring[0] == '\0') {
        err_set(err, IERR_CONFIG, "%s.subject: must be a non-empty string", path);
        return -1;
    }
    if (sha != NULL) {
        if (!cJSON_IsString(sha) || parse_hex_digest(sha->valuestring, t->digest) != 0) {
            err_set(err, IERR_CONFIG, "%s.sha256: must be 64 hex digits (a SHA-256 digest)", path);
            return -1;
        }
    } else if (file != NULL) {
        size_t len;
        char *text;
        if (!cJSON_IsString(file)) {
            err_set(err, IERR_CONFIG, "%s.file: must be a path", path);
            return -1;
        }
        text = safe_file_read(file->valuestring, TOKEN_FILE_MAX, &len, err);
        if (text == NULL) {
            err_prefix(err, "%s.file", path);
            return -1;
        }
        len = trimmed_len(text, len);
        if (len == 0) {
            OPENSSL_cleanse(text, strlen(text));
            free(text);
            err_set(err, IERR_CONFIG, "%s.file: %s holds no token", path, file->valuestring);
            return -1;
        }
        SHA256((const unsigned char *)text, len, t->digest);
        OPENSSL_cleanse(text, len);
        free(text);
    } else {
        const char *val = cJSON_IsString(env) ? getenv(env->valuestring) : NULL;
        if (!cJSON_IsString(env)) {
            err_set(err, IERR_CONFIG, "%s.env: must be a variable name", path);
            return -1;
        }
        if (val == NULL || trimmed_len(val, strlen(val)) == 0) {
            err_set(err, IERR_CONFIG, "%s.env: $%s is not set or empty", path, env->valuestring);
            return -1;
        }
        SHA256((const unsigned char *)val, trimmed_len(val, strlen(val)), t->digest);
    }
    if ((t->subject = strdup(subject->valuestring)) == NULL) {
        err_set(err, IERR_NOMEM, "%s: out of memory", path);
        return -1;
    }
    snprintf(sub, sizeof(sub), "%s.tenants", path);
    if ((t->tenants = string_list(cJSON_GetObjectItemCaseSensitive(o, "tenants"), sub, err)) ==
        NULL)
        return -1;
    snprintf(sub, sizeof(sub), "%s.roles", path);
    if ((t->roles = string_list(cJSON_GetObjectItemCaseSensitive(o, "roles"), sub, err)) == NULL)
        return -1;
    return 0;
}

/* serve.tls: {"cert": FILE, "key": FILE}, both; a relative file is found
 * next to the config file (config_path). */
static int
parse_tls(const cJSON *v, const char *config_path, struct serve_conf *c, struct intentus_err *err)
{
    static const char *const names[] = { "cert", "key", NULL };
    char **dst[] = { &c->tls_cert, &c->tls_key };
    const cJSON *k;
    const char *slash = config_path != NULL ? strrchr(config_path, '/') : NULL;

    if (!cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG, "serve.tls: must be an object {\"cert\": FILE, \"key\": FILE}");
        return -1;
    }
    cJSON_ArrayForEach(k, v)
    {
        if (!listed(k->string, names)) {
            err_set(err, IERR_CONFIG, "serve.tls.%s: unknown key (known: cert, key)", k->string);
            return -1;
        }
    }
    for (size_t i = 0; names[i] != NULL; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, names[i]);
        size_t n;
        if (!cJSON_IsString(f) || f->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG, "serve.tls.%s: must be a file name (both cert and key)",
                    names[i]);
            return -1;
        }
        n = strlen(f->valuestring) + (slash != NULL ? (size_t)(slash - config_path) + 2 : 1);
        if ((*dst[i] = malloc(n)) == NULL) {
            err_set(err, IERR_NOMEM, "serve.tls: out of memory");
            return -1;
        }
        if (f->valuestring[0] != '/' && slash != NULL)
            snprintf(*dst[i], n, "%.*s/%s", (int)(slash - config_path), config_path,
                     f->valuestring);
        else
            snprintf(*dst[i], n, "%s", f->valuestring);
    }
    return 0;
}

/* s[name] as a size in bytes from lo to hi (a number or "16KiB"); absent:
 * *out unchanged. */
static int
parse_size_key(const cJSON *s, const char *name, uint64_t lo, uint64_t hi, uint64_t *out,
               struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, name);
    uint64_t n = 0;

    if (v == NULL)
        return 0;
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 1e15)
        n = (uint64_t)v->valuedouble;
    else if (!cJSON_IsString(v) || units_parse_size(v->valuestring, &n, NULL) != 0)
        n = 0;
    if (n < lo || n > hi) {
        err_set(err, IERR_CONFIG, "serve.%s: must be a size from %llu to %llu bytes (e.g. 16KiB)",
                name, (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = n;
    return 0;
}

/* s[name] as a whole number from lo to hi; absent: *out unchanged. */
static int
parse_count_key(const cJSON *s, const char *name, long lo, long hi, long *out, bool *given,
                struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, name);

    if (v == NULL)
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < (double)lo || v->valuedouble > (double)hi ||
        v->valuedouble != (double)(long)v->valuedouble) {
        err_set(err, IERR_CONFIG, "serve.%s: must be a whole number from %ld to %ld", name, lo, hi);
        return -1;
    }
    *out = (long)v->valuedouble;
    if (given != NULL)
        *given = true;
    return 0;
}

/* serve.shared_state: {"url": "postgres://...", "breaker_refresh": "1s"}. */
static int
parse_shared(const cJSON *o, struct serve_conf *c, struct intentus_err *err)
{
    const cJSON *k, *u, *r;

    if (!cJSON_IsObject(o)) {
        err_set(err, IERR_CONFIG,
                "serve.shared_state: must be an object {\"url\": \"postgres://...\"}");
        return -1;
    }
    cJSON_ArrayForEach(k, o)
    {
        if (strcmp(k->string, "url") != 0 && strcmp(k->string, "breaker_refresh") != 0) {
            err_set(err, IERR_CONFIG,
                    "serve.shared_state.%s: unknown key (known: url, breaker_refresh)", k->string);
            return -1;
        }
    }
    u = cJSON_GetObjectItemCaseSensitive(o, "url");
    if (!cJSON_IsString(u) || (strncmp(u->valuestring, "postgres://", 11) != 0 &&
                               strncmp(u->valuestring, "postgresql://", 13) != 0)) {
        err_set(err, IERR_CONFIG,
                "serve.shared_state.url: must be a postgres:// or postgresql:// URL");
        return -1;
    }
    c->shared_refresh_ms = 1000;
    r = cJSON_GetObjectItemCaseSensitive(o, "breaker_refresh");
    if (r != NULL && (!cJSON_IsString(r) ||
                      units_parse_duration_ms(r->valuestring, &c->shared_refresh_ms, NULL) != 0 ||
                      c->shared_refresh_ms < 1 || c->shared_refresh_ms > 3600000)) {
        err_set(err, IERR_CONFIG,
                "serve.shared_state.breaker_refresh: must be a duration from 1ms to 1h (e.g. "
                "\"500ms\")");
        return -1;
    }
    if ((c->shared_url = strdup(u->valuestring)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return 0;
}

static int
parse_serve(const cJSON *s, const char *config_path, struct serve_conf *c, struct intentus_err *err)
{
    const cJSON *k, *v;
    size_t i = 0;

    cJSON_ArrayForEach(k, s)
    {
        if (!listed(k->string, serve_keys)) {
            err_set(err, IERR_CONFIG,
                    "serve.%s: unknown key (known: tokens, allow_insecure, max_body, "
                    "request_timeout, queue, tls, max_header, client_deadline, "
                    "max_connections, max_connections_per_client, emcl, shared_state)",
                    k->string);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "allow_insecure");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG, "serve.allow_insecure: must be true or false");
        return -1;
    }
    c->allow_insecure = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(s, "max_body");
    if (v != NULL) {
        if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e12)
            c->max_body = (uint64_t)v->valuedouble;
        else if (!cJSON_IsString(v) || units_parse_size(v->valuestring, &c->max_body, NULL) != 0 ||
                 c->max_body == 0) {
            err_set(err, IERR_CONFIG, "serve.max_body: must be a positive size (e.g. 1MiB)");
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "request_timeout");
    if (v != NULL) {
        if (cJSON_IsNumber(v) && v->valuedouble >= 1)
            c->request_timeout_ms = (int64_t)v->valuedouble;
        else if (!cJSON_IsString(v) ||
                 units_parse_duration_ms(v->valuestring, &c->request_timeout_ms, NULL) != 0 ||
                 c->request_timeout_ms <= 0) {
            err_set(err, IERR_CONFIG, "serve.request_timeout: must be a positive duration");
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "queue");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 100000 ||
            v->valuedouble != (double)(long)v->valuedouble) {
            err_set(err, IERR_CONFIG, "serve.queue: must be a whole number from 1 to 100000");
            return -1;
        }
        c->queue = (long)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "emcl");
    if (v != NULL) {
        struct emcl_settings es;
        if (emcl_settings_parse(v, "serve.emcl", true, &es, err) != 0 ||
            (c->emcl = emcl_key_from_settings(&es, "serve.emcl", err)) == NULL)
            return -1;
        c->emcl_required = es.required;
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "tls");
    if (v != NULL && parse_tls(v, config_path, c, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(s, "shared_state");
    if (v != NULL && parse_shared(v, c, err) != 0)
        return -1;
    if (parse_size_key(s, "max_header", 1024, (uint64_t)1024 * 1024, &c->max_header, err) != 0 ||
        parse_count_key(s, "max_connections", 1, 100000, &c->max_connections, NULL, err) != 0 ||
        parse_count_key(s, "max_connections_per_client", 0, 100000, &c->max_connections_per_client,
                        &c->per_client_set, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(s, "client_deadline");
    if (v != NULL) {
        if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 3600000)
            c->client_deadline_ms = (int64_t)v->valuedouble;
        else if (!cJSON_IsString(v) ||
                 units_parse_duration_ms(v->valuestring, &c->client_deadline_ms, NULL) != 0 ||
                 c->client_deadline_ms <= 0 || c->client_deadline_ms > 3600000) {
            err_set(err, IERR_CONFIG,
                    "serve.client_deadline: must be a positive duration up to 1h (e.g. 10s)");
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(s, "tokens");
    if (v == NULL)
        return 0;
    if (!cJSON_IsArray(v)) {
        err_set(err, IERR_CONFIG, "serve.tokens: must be an array");
        return -1;
    }
    c->tokens = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*c->tokens));
    if (c->tokens == NULL) {
        err_set(err, IERR_NOMEM, "serve.tokens: out of memory");
        return -1;
    }
    cJSON_ArrayForEach(k, v)
    {
        char path[48];
        snprintf(path, sizeof(path), "serve.tokens[%zu]", i);
        c->n_tokens = i + 1; /* freed whole on error */
        if (parse_token(k, path, &c->tokens[i], err) != 0)
            return -1;
        i++;
    }
    return 0;
}

struct serve_conf *
serve_conf_load(const char *path, struct intentus_err *err)
{
    struct serve_conf *c = calloc(1, sizeof(*c));
    cJSON *root = NULL;
    char *text = NULL;
    size_t len;
    int rc = 0;

    if (c == NULL) {
        err_set(err, IERR_NOMEM, "out of memory");
        return NULL;
    }
    c->max_body = (uint64_t)1024 * 1024;
    c->request_timeout_ms = 30000;
    c->queue = 256;
    c->max_header = (uint64_t)16 * 1024;
    c->client_deadline_ms = 10000;
    c->max_connections = 1000;
    if (path == NULL)
        return c;
    text = safe_file_read(path, CONF_MAX, &len, err);
    if (text == NULL || (root = json_parse_unique(text, len, 0, err)) == NULL) {
        rc = -1;
    } else {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "serve");
        if (s != NULL)
            rc = parse_serve(s, path, c, err);
    }
    if (rc != 0)
        err_prefix(err, "%s", path);
    cJSON_Delete(root);
    free(text);
    if (rc != 0) {
        serve_conf_free(c);
        return NULL;
    }
    return c;
}

const struct serve_token *
serve_conf_match(const struct serve_conf *c, const char *token, size_t len)
{
    unsigned char d[32];
    const struct serve_token *found = NULL;

    SHA256((const unsigned char *)token, len, d);
    for (size_t i = 0; i < c->n_tokens; i++)
        if (CRYPTO_memcmp(d, c->tokens[i].digest, sizeof(d)) == 0 && found == NULL)
            found = &c->tokens[i];
    return found;
}

static bool
in_list(char *const *l, const char *s)
{
    for (size_t i = 0; l != NULL && l[i] != NULL; i++)
        if (strcmp(l[i], s) == 0 || strcmp(l[i], "*") == 0)
            return true;
    return false;
}

bool
serve_token_has_role(const struct serve_token *t, const char *role)
{
    return in_list(t->roles, role);
}

bool
serve_token_has_tenant(const struct serve_token *t, const char *tenant)
{
    return in_list(t->tenants, tenant);
}
