/* A client of a running `intentus serve` (tui/serve_client.h). */
#include "tui/serve_client.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/safe_file.h"
#include "tui/cli.h"

#define TOKEN_MAX 4096
#define ANSWER_MAX ((size_t)64 * 1024 * 1024)

static const char *cacert; /* NULL: the system's CA certificates */

int
serve_client_set_cacert(const char *cmd, const char *file)
{
    const char *from = "--cacert";

    if (file == NULL) {
        file = getenv("INTENTUS_CACERT");
        from = "INTENTUS_CACERT";
        if (file != NULL && file[0] == '\0')
            file = NULL;
    }
    if (file != NULL && access(file, R_OK) != 0)
        return cli_usage_error(cmd, "%s: %s: %s", from, file, strerror(errno));
    cacert = file;
    return 0;
}

char *
serve_client_token(const char *cmd, const char *token_file)
{
    struct intentus_err err = { 0 };
    char *t;
    size_t len;

    if (token_file != NULL) {
        t = safe_file_read(token_file, TOKEN_MAX, &len, &err);
        if (t == NULL) {
            cli_error(cmd, "--token-file: %s", err.msg);
            return NULL;
        }
    } else {
        const char *e = getenv("INTENTUS_TOKEN");
        if (e == NULL || e[0] == '\0') {
            cli_error(cmd, "--server: no token: set INTENTUS_TOKEN or pass --token-file FILE");
            return NULL;
        }
        t = strdup(e);
        if (t == NULL) {
            cli_error(cmd, "out of memory");
            return NULL;
        }
    }
    len = strlen(t);
    while (len > 0 && isspace((unsigned char)t[len - 1]))
        t[--len] = '\0';
    if (len == 0 || strpbrk(t, "\r\n") != NULL) {
        cli_error(cmd, "%s: the token is empty or spans lines",
                  token_file != NULL ? "--token-file" : "INTENTUS_TOKEN");
        serve_client_token_free(t);
        return NULL;
    }
    return t;
}

void
serve_client_token_free(char *token)
{
    if (token == NULL)
        return;
    OPENSSL_cleanse(token, strlen(token));
    free(token);
}

int
serve_client_check_url(const char *cmd, const char *url)
{
    static const char *const local[] = { "http://127.", "http://localhost:", "http://localhost/",
                                         "http://[::1]", NULL };

    if (strncasecmp(url, "https://", 8) == 0)
        return 0;
    for (size_t i = 0; local[i] != NULL; i++)
        if (strncasecmp(url, local[i], strlen(local[i])) == 0)
            return 0;
    if (strcasecmp(url, "http://localhost") == 0)
        return 0;
    return cli_usage_error(cmd,
                           "--server: '%s': plain http:// only to a loopback address (the token "
                           "would travel in clear); use https://",
                           url);
}

static size_t
on_data(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;

    if (b->len + size * n > ANSWER_MAX || buf_append(b, p, size * n) != 0)
        return 0;
    return size * n;
}

long
serve_client_call(const char *cmd, const char *base, const char *method, const char *path,
                  const char *token, const char *body, cJSON **out)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    struct buf b = { 0 };
    char url[2048], *auth = NULL, ebuf[CURL_ERROR_SIZE] = "";
    size_t blen = strlen(base);
    long status = 0;
    CURLcode rc;

    *out = NULL;
    if (h == NULL) {
        cli_error(cmd, "cannot start libcurl");
        return 0;
    }
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    snprintf(url, sizeof(url), "%.*s%s", (int)blen, base, path);
    if (token != NULL) {
        size_t n = strlen(token) + 32;
        auth = malloc(n);
        if (auth != NULL) {
            snprintf(auth, n, "Authorization: Bearer %s", token);
            hdrs = curl_slist_append(hdrs, auth);
        }
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (cacert != NULL)
        curl_easy_setopt(h, CURLOPT_CAINFO, cacert);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 120000L);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        cli_error(cmd, "--server %s: %s", url, ebuf[0] ? ebuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (b.len > 0)
            *out = json_parse(b.data, b.len, 0, NULL);
    }
    if (auth != NULL) {
        OPENSSL_cleanse(auth, strlen(auth));
        free(auth);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    buf_free(&b);
    return status;
}
