/* The http agent kind: POSTs the envelope as JSON to a URL with libcurl and
 * reads one AgentResponse back.
 *
 * Each worker keeps one curl handle in its agent cache and reuses it, so
 * calls to the same host share a kept-alive connection instead of paying a
 * TCP (and TLS) handshake each time. The handle is reset before and after
 * every call: no option of one call (or pointer into its stack) survives
 * into the next, while the connection and DNS caches do. */
#include "core/agent_http.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/agent.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/emcl.h"
#include "core/json.h"
#include "core/model.h"
#include "core/snippet.h"
#include "core/units.h"

#define HTTP_DEFAULT_CONNECT_MS 2000
#define HTTP_DEFAULT_MAX_RESPONSE ((size_t)1024 * 1024)
#define HTTP_SNIPPET 512

struct http_agent {
    char *url;
    struct curl_slist *headers; /* Content-Type, Expect and the configured ones */
    size_t n_headers;           /* configured ones */
    int64_t connect_timeout_ms;
    bool tls_verify;
    size_t max_response;
    /* "emcl": requests go out as EMCL frames and replies must be EMCL
     * frames. emcl is NULL while emcl_on when its "$NAME" key was unset at
     * load: the agent is then unavailable (agent_call), never plain. */
    bool emcl_on;
    struct emcl_key *emcl;
};

static const char *const http_keys[] = {
    "url",  "headers", "connect_timeout", "tls_verify", "max_response", "allow_insecure",
    "emcl", NULL,
};

/* curl_global_init is not thread-safe and must run once per process before
 * any handle exists; agents are built before any call, on whichever thread
 * loads the config. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
    /* A failure here shows up as curl_easy_init returning NULL at the
     * first call, which is reported there. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
http_free(void *state)
{
    struct http_agent *h = state;

    if (h == NULL)
        return;
    curl_slist_free_all(h->headers);
    emcl_key_free(h->emcl);
    free(h->url);
    free(h);
}

static bool
is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (strchr("!#$%&'*+-.^_`|~", *s) == NULL && !(*s >= '0' && *s <= '9') &&
            !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
            return false;
    }
    return true;
}

static int
add_header(struct http_agent *h, const char *line)
{
    struct curl_slist *l = curl_slist_append(h->headers, line);

    if (l == NULL)
        return -1;
    h->headers = l;
    return 0;
}

/* Header values "$NAME" come from intentus's environment when the config is
 * loaded, so tokens never sit in the file; a variable that is not set is a
 * config error (sending no token would only fail later, less clearly). */
static int
parse_headers(struct agent *a, struct http_agent *h, const cJSON *v, const char *path,
              struct intentus_err *err)
{
    const cJSON *it;
    bool own_type = false;

    if (v != NULL && !cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG, "%s.headers: must be an object of Name: value", path);
        return -1;
    }
    cJSON_ArrayForEach(it, v)
    {
        const char *value;
        char *line;
        int rc;
        if (!is_token(it->string)) {
            err_set(err, IERR_CONFIG, "%s.headers.%s: not a valid header name", path, it->string);
            return -1;
        }
        if (!cJSON_IsString(it)) {
            err_set(err, IERR_CONFIG, "%s.headers.%s: must be a string", path, it->string);
            return -1;
        }
        {
            char where[256];
            snprintf(where, sizeof(where), "%s.headers.%s", path, it->string);
            if (agent_resolve_env(a, it->valuestring, where, &value, err) != 0)
                return -1;
            if (value == NULL)
                continue; /* the agent is unavailable (agent_call) */
        }
        if (strpbrk(value, "\r\n") != NULL) {
            /* Never let a value (from the environment, say) add headers. */
            err_set(err, IERR_CONFIG, "%s.headers.%s: value contains a line break", path,
                    it->string);
            return -1;
        }
        own_type = own_type || strcasecmp(it->string, "Content-Type") == 0;
        /* "Name;" is how curl is told to send a header with an empty value. */
        rc = value[0] == '\0' ? asprintf(&line, "%s;", it->string)
                              : asprintf(&line, "%s: %s", it->string, value);
        if (rc < 0 || add_header(h, line) != 0) {
            free(rc < 0 ? NULL : line);
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        free(line);
        h->n_headers++;
    }
    /* No "Expect: 100-continue" round trip for large envelopes. */
    if ((!own_type && add_header(h, "Content-Type: application/json") != 0) ||
        add_header(h, "Expect:") != 0) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return 0;
}

/* The host of an http(s) URL after its scheme: "[::1]" keeps its
 * brackets' contents, userinfo is skipped; at most size-1 bytes. */
static void
url_host(const char *after_scheme, char *host, size_t size)
{
    const char *p = after_scheme, *end = p + strcspn(p, "/?#"), *at, *stop;
    size_t n;

    for (at = p; at < end; at++) {
        if (*at == '@')
            p = at + 1;
    }
    if (*p == '[') {
        p++;
        stop = memchr(p, ']', (size_t)(end - p));
        if (stop == NULL)
            stop = end;
    } else {
        stop = memchr(p, ':', (size_t)(end - p));
        if (stop == NULL)
            stop = end;
    }
    n = (size_t)(stop - p);
    if (n >= size)
        n = size - 1;
    memcpy(host, p, n);
    host[n] = '\0';
}

/* Loopback: localhost (any case, trailing dot allowed), 127.0.0.0/8 in
 * dotted form, ::1. */
static bool
host_is_loopback(const char *host)
{
    struct in_addr v4;

    if (strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0 ||
        strcmp(host, "::1") == 0)
        return true;
    /* A dotted quad in 127.0.0.0/8 (inet_pton takes exactly four decimal
     * parts, each at most 255). */
    return inet_pton(AF_INET, host, &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

/* Plain http:// carries the envelope (and any Authorization header) in
 * clear text, so it is refused to any host but this machine unless the
 * agent says "allow_insecure": true. */
static int
parse_url(struct http_agent *h, const cJSON *entry, const char *path, struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, "url");
    const cJSON *insecure = cJSON_GetObjectItemCaseSensitive(entry, "allow_insecure");

    if (v == NULL || !cJSON_IsString(v)) {
        err_set(err, IERR_CONFIG, "%s.url: %s (the agent's endpoint, http:// or https://)", path,
                v == NULL ? "missing" : "must be a string");
        return -1;
    }
    if ((strncasecmp(v->valuestring, "http://", 7) != 0 || v->valuestring[7] == '\0') &&
        (strncasecmp(v->valuestring, "https://", 8) != 0 || v->valuestring[8] == '\0')) {
        err_set(err, IERR_CONFIG,
                "%s.url: '%s' must start with http:// or https:// and name a host", path,
                v->valuestring);
        return -1;
    }
    if (insecure != NULL && !cJSON_IsBool(insecure)) {
        err_set(err, IERR_CONFIG, "%s.allow_insecure: must be true or false", path);
        return -1;
    }
    if (strncasecmp(v->valuestring, "http://", 7) == 0 && !cJSON_IsTrue(insecure)) {
        char host[256];
        url_host(v->valuestring + 7, host, sizeof(host));
        if (!host_is_loopback(host)) {
            err_set(err, IERR_CONFIG,
                    "%s.url: plain http:// to '%s' would send envelopes and headers "
                    "unencrypted; use https://, or set %s.allow_insecure: true (only "
                    "127.0.0.0/8, ::1 and localhost are allowed without it)",
                    path, host, path);
            return -1;
        }
    }
    if ((h->url = strdup(v->valuestring)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return 0;
}

static int
parse_limits(struct http_agent *h, const cJSON *entry, const char *path, struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, "connect_timeout");

    if (v != NULL) {
        int64_t ms = -1;
        if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble < 9e15)
            ms = (int64_t)v->valuedouble;
        else if (!cJSON_IsString(v) || units_parse_duration_ms(v->valuestring, &ms, NULL) != 0)
            ms = -1;
        if (ms <= 0) {
            err_set(err, IERR_CONFIG,
                    "%s.connect_timeout: must be a duration above zero such as 500ms or 2s, or "
                    "milliseconds",
                    path);
            return -1;
        }
        h->connect_timeout_ms = ms;
    }
    v = cJSON_GetObjectItemCaseSensitive(entry, "tls_verify");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG, "%s.tls_verify: must be true or false", path);
        return -1;
    }
    if (v != NULL)
        h->tls_verify = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(entry, "max_response");
    if (v != NULL) {
        uint64_t n = 0;
        bool ok = (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e12 &&
                   (n = (uint64_t)v->valuedouble) > 0) ||
                  (cJSON_IsString(v) && units_parse_size(v->valuestring, &n, NULL) == 0 && n > 0);
        if (!ok || n > SIZE_MAX / 2) {
            err_set(err, IERR_CONFIG,
                    "%s.max_response: must be a size such as 64K or 1M, or a number of bytes",
                    path);
            return -1;
        }
        h->max_response = (size_t)n;
    }
    return 0;
}

/* "emcl": {key: "$NAME" | key_file: PATH, mode, identity}. A key file
 * that is missing, unreadable or open to others is a config error; an
 * unset variable makes the agent unavailable (agent_resolve_env). */
static int
parse_emcl(struct agent *a, struct http_agent *h, const cJSON *v, const char *path,
           struct intentus_err *err)
{
    struct emcl_settings s;
    char where[200], ref[160];
    const char *value;

    if (v == NULL)
        return 0;
    snprintf(where, sizeof(where), "%s.emcl", path);
    if (emcl_settings_parse(v, where, false, &s, err) != 0)
        return -1;
    h->emcl_on = true;
    if (s.key_file != NULL) {
        h->emcl = emcl_key_from_settings(&s, where, err);
        return h->emcl != NULL ? 0 : -1;
    }
    snprintf(ref, sizeof(ref), "$%s", s.key_env);
    snprintf(where, sizeof(where), "%s.emcl.key", path);
    if (agent_resolve_env(a, ref, where, &value, err) != 0)
        return -1;
    if (value == NULL)
        return 0; /* the agent is unavailable (agent_call) */
    if (value[0] == '\0') {
        err_set(err, IERR_CONFIG, "%s: environment variable %s is empty", where, s.key_env);
        return -1;
    }
    h->emcl = emcl_key_new(value, strlen(value), s.mode, s.identity, err);
    return h->emcl != NULL ? 0 : -1;
}

static int
http_init(struct agent *a, const cJSON *entry, const char *path, struct intentus_err *err)
{
    struct http_agent *h = calloc(1, sizeof(*h));

    if (h == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    a->state = h; /* agent_free releases it on any failure below */
    h->connect_timeout_ms = HTTP_DEFAULT_CONNECT_MS;
    h->tls_verify = true;
    h->max_response = HTTP_DEFAULT_MAX_RESPONSE;
    if (parse_url(h, entry, path, err) != 0 ||
        parse_headers(a, h, cJSON_GetObjectItemCaseSensitive(entry, "headers"), path, err) != 0 ||
        parse_limits(h, entry, path, err) != 0 ||
        parse_emcl(a, h, cJSON_GetObjectItemCaseSensitive(entry, "emcl"), path, err) != 0)
        return -1;
    pthread_once(&curl_once, curl_init_once);
    return 0;
}

int
agent_http_settings(const struct agent *a, struct agent_http_settings *out)
{
    const struct http_agent *h;

    if (a == NULL || a->kind != &agent_kind_http || a->state == NULL)
        return -1;
    h = a->state;
    out->url = h->url;
    out->n_headers = h->n_headers;
    out->connect_timeout_ms = h->connect_timeout_ms;
    out->tls_verify = h->tls_verify;
    out->max_response = h->max_response;
    return 0;
}

struct body {
    struct buf data;
    size_t cap;
    bool over_cap, nomem;
};

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t n = size * nmemb;

    /* Returning less than n makes curl stop with CURLE_WRITE_ERROR. */
    if (n > b->cap - b->data.len) {
        b->over_cap = true;
        return 0;
    }
    if (buf_append(&b->data, ptr, n) != 0) {
        b->nomem = true;
        return 0;
    }
    return n;
}

static void
free_handle(void *handle)
{
    curl_easy_cleanup(handle);
}

/* This worker's handle (made on first use), or, without a cache, one for
 * this call only (*owned is then true and the caller cleans it up). */
static CURL *
get_handle(const struct agent_ctx *ctx, bool *owned)
{
    CURL *c = ctx->cache != NULL ? agent_cache_get(ctx->cache, "http") : NULL;

    *owned = false;
    if (c != NULL) {
        curl_easy_reset(c);
        return c;
    }
    if ((c = curl_easy_init()) == NULL)
        return NULL;
    if (ctx->cache == NULL || agent_cache_put(ctx->cache, "http", c, free_handle) != 0)
        *owned = true;
    return c;
}

static void
set_options(CURL *c, const struct http_agent *h, const struct buf *req, struct body *body,
            char *errbuf, long timeout_ms)
{
    /* timeout_ms 0: no deadline, so only the connect phase is bounded. */
    long connect_ms = timeout_ms > 0 && timeout_ms < h->connect_timeout_ms
                          ? timeout_ms
                          : (long)h->connect_timeout_ms;

    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->data);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "intentus");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    /* Worker threads: no SIGALRM-based DNS timeouts (curl uses its
     * threaded resolver instead). */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->tls_verify ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->tls_verify ? 2L : 0L);
}

/* curl could not complete the exchange. DNS failures count as unavailable
 * and retryable: a resolver hiccup is common and a retry is cheap, while a
 * misspelt host fails every attempt the same way and the breaker then
 * stops the calls. */
static cJSON *
transport_failure(const struct agent *a, const cJSON *env, CURLcode rc, const char *errbuf,
                  int64_t elapsed_ms)
{
    const char *why = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    cJSON *d = cJSON_CreateObject();

    cJSON_AddNumberToObject(d, "curl_code", (double)rc);
    cJSON_AddStringToObject(d, "curl_error", why);
    cJSON_AddNumberToObject(d, "elapsed_ms", (double)elapsed_ms);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return agent_error_response(a, env, ERR_AGENT_TIMEOUT, true, d,
                                    "no response within the deadline after %lld ms (%s)",
                                    (long long)elapsed_ms, why);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        /* Certificates do not fix themselves between attempts. */
        return agent_error_response(a, env, ERR_TRANSPORT_ERROR, false, d,
                                    "TLS verification failed: %s", why);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return agent_error_response(a, env, ERR_AGENT_UNAVAILABLE, true, d,
                                    "cannot reach the agent: %s", why);
    default:
        return agent_error_response(a, env, ERR_TRANSPORT_ERROR, true, d,
                                    "HTTP exchange failed: %s", why);
    }
}

/* An EMCL agent's 2xx answer: an INTENTUSNET/1.0 "emcl" frame whose sealed
 * body is an AgentResponse. Anything else is EMCL_FAILURE, details.emcl
 * naming why (AUTH_FAILED, CHAIN_MISMATCH, NOT_EMCL, ...); the reply's text
 * is not kept in the details. */
static cJSON *
emcl_outcome(const struct agent *a, const cJSON *env, const struct body *body, cJSON *d)
{
    const struct http_agent *h = a->state;
    struct intentus_err perr = { 0 };
    enum emcl_fail why = EMCL_MALFORMED;
    cJSON *frame, *resp = NULL;

    cJSON_DeleteItemFromObjectCaseSensitive(d, "body");
    frame = json_parse(body->data.data != NULL ? body->data.data : "", body->data.len, 0, &perr);
    if (frame == NULL)
        err_set(&perr, IERR_PARSE, "EMCL MALFORMED: the reply is not JSON");
    else
        resp = emcl_frame_open(h->emcl, frame, &why, &perr);
    cJSON_Delete(frame);
    if (resp != NULL && response_validate(resp, &perr) != 0) {
        cJSON_Delete(resp);
        resp = NULL;
        why = EMCL_BAD_PLAINTEXT;
        err_prefix(&perr, "EMCL BAD_PLAINTEXT: the opened reply is not an AgentResponse");
    }
    if (resp != NULL) {
        cJSON_Delete(d);
        return resp;
    }
    cJSON_AddStringToObject(d, "emcl", emcl_fail_name(why));
    return agent_error_response(a, env, ERR_EMCL_FAILURE, false, d, "reply from %s refused: %s",
                                h->url, perr.msg);
}

/* An error frame {"messageType":"error","code":"EMCL_FAILURE"} in a 4xx
 * answer: the agent could not open (or refused) our EMCL frame. */
static bool
peer_refused_emcl(const struct body *body, char *msg, size_t size)
{
    struct intentus_err perr = { 0 };
    cJSON *o = json_parse(body->data.data != NULL ? body->data.data : "", body->data.len, 0, &perr);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "code");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "message");
    bool yes = cJSON_IsString(code) && strcmp(code->valuestring, "EMCL_FAILURE") == 0;

    if (yes)
        snprintf(msg, size, "%.200s", cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(o);
    return yes;
}

/* A complete HTTP answer: its status first, then its body. */
static cJSON *
http_outcome(const struct agent *a, const cJSON *env, CURL *c, const struct body *body)
{
    const struct http_agent *h = a->state;
    struct intentus_err perr = { 0 };
    long status = 0;
    cJSON *d = cJSON_CreateObject(), *resp;

    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    cJSON_AddNumberToObject(d, "http_status", (double)status);
    cJSON_AddItemToObject(d, "body", snippet_json(body->data.data, body->data.len, HTTP_SNIPPET));
    if (status == 429) {
        curl_off_t after = 0;
        if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
            cJSON_AddNumberToObject(d, "retry_after_s", (double)after);
        return agent_error_response(a, env, ERR_RATE_LIMIT, true, d, "HTTP 429 from %s", h->url);
    }
    if (status >= 500)
        return agent_error_response(a, env, ERR_TRANSPORT_ERROR, true, d, "HTTP %ld from %s",
                                    status, h->url);
    if (status >= 400 && h->emcl_on) {
        char why[256];
        if (peer_refused_emcl(body, why, sizeof(why))) {
            cJSON_AddStringToObject(d, "emcl", "REFUSED_BY_AGENT");
            return agent_error_response(a, env, ERR_EMCL_FAILURE, false, d,
                                        "HTTP %ld from %s: the agent refused the EMCL frame: %s",
                                        status, h->url, why);
        }
    }
    if (status >= 400)
        return agent_error_response(a, env, ERR_TRANSPORT_ERROR, false, d, "HTTP %ld from %s",
                                    status, h->url);
    if (status < 200 || status >= 300)
        return agent_error_response(a, env, ERR_TRANSPORT_ERROR, false, d,
                                    "unexpected HTTP %ld from %s (redirects are not followed)",
                                    status, h->url);
    if (h->emcl_on)
        return emcl_outcome(a, env, body, d);
    resp = json_parse(body->data.data != NULL ? body->data.data : "", body->data.len, 0, &perr);
    if (resp == NULL || response_validate(resp, &perr) != 0) {
        bool parsed = resp != NULL;
        cJSON_Delete(resp);
        return agent_error_response(a, env, ERR_PROTOCOL_ERROR, false, d,
                                    "response body is not %s: %s",
                                    parsed ? "an AgentResponse" : "JSON", perr.msg);
    }
    cJSON_Delete(d);
    return resp;
}

static cJSON *
http_invoke(struct agent *a, cJSON *env, const struct agent_ctx *ctx, struct intentus_err *err)
{
    const struct http_agent *h = a->state;
    struct buf req = BUF_INIT;
    struct body body = { .data = BUF_INIT, .cap = h->max_response };
    char errbuf[CURL_ERROR_SIZE] = "";
    int64_t start = clock_mono_us(), timeout_ms = 0;
    cJSON *resp = NULL;
    CURLcode rc;
    bool owned;
    CURL *c;

    if (ctx->deadline_us > 0) {
        timeout_ms = (ctx->deadline_us - start) / 1000;
        if (timeout_ms <= 0) {
            resp = agent_error_response(a, env, ERR_AGENT_TIMEOUT, true, NULL,
                                        "deadline passed before the request was sent");
            goto out;
        }
    }
    if (h->emcl_on) {
        struct intentus_err serr = { 0 };
        cJSON *frame = h->emcl != NULL ? emcl_frame_seal(h->emcl, env, NULL, &serr) : NULL;
        int rc_print;
        if (frame == NULL) {
            resp = agent_error_response(a, env, ERR_EMCL_FAILURE, false, NULL,
                                        "cannot seal the request: %s",
                                        h->emcl != NULL ? serr.msg : "no EMCL key");
            goto out;
        }
        rc_print = json_print_compact(frame, &req);
        cJSON_Delete(frame);
        if (rc_print != 0) {
            buf_free(&req);
            err_set(err, IERR_NOMEM, "out of memory serialising the EMCL frame");
            return NULL;
        }
    } else if (json_print_compact(env, &req) != 0) {
        err_set(err, IERR_NOMEM, "out of memory serialising the envelope");
        return NULL;
    }
    if ((c = get_handle(ctx, &owned)) == NULL) {
        buf_free(&req);
        err_set(err, IERR_NOMEM, "cannot create a curl handle");
        return NULL;
    }
    set_options(c, h, &req, &body, errbuf, timeout_ms > LONG_MAX ? LONG_MAX : (long)timeout_ms);
    rc = curl_easy_perform(c);
    if (body.nomem)
        err_set(err, IERR_NOMEM, "out of memory reading the response");
    else if (body.over_cap)
        resp = agent_error_response(a, env, ERR_PROTOCOL_ERROR, false, cJSON_CreateObject(),
                                    "response over %zu bytes", h->max_response);
    else if (rc != CURLE_OK)
        resp = transport_failure(a, env, rc, errbuf, (clock_mono_us() - start) / 1000);
    else
        resp = http_outcome(a, env, c, &body);
    if (owned)
        curl_easy_cleanup(c);
    else
        curl_easy_reset(c); /* drop pointers to this call's buffers */
    buf_free(&req);
    buf_free(&body.data);
    if (body.nomem)
        return NULL;
out:
    if (resp == NULL)
        err_set(err, IERR_NOMEM, "out of memory building the response");
    return resp;
}

const struct agent_kind agent_kind_http = {
    .name = "http",
    .settings_keys = http_keys,
    .init = http_init,
    .invoke = http_invoke,
    .free_state = http_free,
};
