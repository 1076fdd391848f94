/* intentus gateway: the MCP gateway (the reference's gateway/proxy.py).
 *
 *   --http URL   an HTTP proxy in front of a Streamable HTTP MCP server:
 *                libmicrohttpd listens, libcurl forwards each request with
 *                its headers (Mcp-Session-Id, MCP-Protocol-Version,
 *                Authorization, ...) and hands back status, headers and
 *                body unchanged, JSON or text/event-stream;
 *   --wrap CMD   stdio: the MCP client spawns the gateway, the gateway
 *                spawns CMD (sh -c) and relays newline-delimited JSON-RPC
 *                both ways, byte for byte.
 * Every tools/call and its response is recorded (core/gateway.h); nothing
 * relayed is changed, redaction applies only to what is recorded. */

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/gateway.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/runtime.h"
#include "core/units.h"
#include "tui/cli.h"
#include "tui/cli_opt.h"

#define GW_MAX_MESSAGE REC_STORE_MAX_PAYLOAD /* larger messages are relayed, not recorded */
#define GW_CHUNK 4096

struct gw_args {
    const char *http, *wrap, *listen, *name, *config, *dir, *timeout;
    int first_arg;
};

#define F(x) offsetof(struct gw_args, x)
static const struct cli_opt gateway_opts[] = {
    { .name = "http",
      .kind = CLI_OPT_STRING,
      .arg = "URL",
      .offset = F(http),
      .help = "proxy the Streamable HTTP MCP server at URL (its MCP endpoint,\n"
              "e.g. http://127.0.0.1:3001/mcp)" },
    { .name = "wrap",
      .kind = CLI_OPT_STRING,
      .arg = "CMD",
      .offset = F(wrap),
      .help = "stdio: run CMD (with sh -c) as the MCP server and relay\n"
              "stdin/stdout to it; this is what an MCP client spawns" },
    { .name = "listen",
      .short_name = 'l',
      .kind = CLI_OPT_STRING,
      .arg = "HOST:PORT",
      .offset = F(listen),
      .help = "with --http: where to listen (default 127.0.0.1:8765; loopback\n"
              "only, port 0 picks a free one; the address is printed)" },
    { .name = "name",
      .short_name = 'n',
      .kind = CLI_OPT_STRING,
      .arg = "NAME",
      .offset = F(name),
      .help = "the server's name in records: agents are mcp:NAME/TOOL\n"
              "(default: the URL's host:port, or CMD's program name)" },
    { .name = "timeout",
      .kind = CLI_OPT_STRING,
      .arg = "DURATION",
      .offset = F(timeout),
      .help = "with --http: the longest one upstream request may take\n"
              "(default 300s)" },
    { .name = "dir",
      .short_name = 'd',
      .kind = CLI_OPT_STRING,
      .arg = "DIR",
      .offset = F(dir),
      .help = "record directory (overrides the config's recording.dir)" },
    { .name = "config",
      .short_name = 'c',
      .kind = CLI_OPT_STRING,
      .arg = "FILE",
      .offset = F(config),
      .help = "config file (recording, redaction, wal)" },
    { .name = "help", .short_name = 'h', .kind = CLI_OPT_HELP, .help = "this help" },
    { .name = NULL },
};
#undef F

static const struct cli_cmd gateway_cmd = {
    .name = "gateway",
    .usage = "--http URL [--listen HOST:PORT] | --wrap CMD  [options]",
    .about = "The MCP gateway: a transparent proxy between an MCP client and an MCP\n"
             "server. JSON-RPC passes through unchanged, byte for byte. Every tools/call\n"
             "is recorded as an execution (intent: the tool's name, agent: mcp:NAME/TOOL)\n"
             "with the request and response, their hashes, timing and the deterministic\n"
             "seed, and write-ahead log entries execution.started (before the request is\n"
             "forwarded) and execution.completed/failed; redaction applies to what is\n"
             "recorded, never to what is relayed. initialize, ping, notifications and\n"
             "every other method pass unrecorded. 'intentus replay ID' returns a recorded\n"
             "response without contacting the server.\n"
             "With --http, POST and DELETE are forwarded (a POST's reply is relayed once\n"
             "the server has sent all of it); GET (the optional server-to-client stream)\n"
             "is answered 405, which MCP clients accept.\n"
             "Exit status: 0 stopped (signal, client or server closed), 1 the server\n"
             "could not be run or failed, or a tools/call could not be recorded (each is\n"
             "reported on stderr as it happens; the relaying goes on), 2 usage or config\n"
             "error.\n",
    .opts = gateway_opts,
};

static atomic_ulong record_failures;

static void
report_record_error(const struct intentus_err *e)
{
    atomic_fetch_add(&record_failures, 1);
    cli_error("gateway", "recording a tools/call: %s", e->msg);
}

static void
begin_call(struct gateway *g, struct gateway_pending *p, const cJSON *request)
{
    struct intentus_err e = { 0 };
    struct gateway_call *c = gateway_call_begin(g, request, &e);

    if (c == NULL) {
        report_record_error(&e);
    } else if (gateway_pending_add(p, c) != 0) {
        err_set(&e, IERR_NOMEM, "out of memory");
        gateway_call_end(g, c, NULL, "the gateway ran out of memory", &e);
        report_record_error(&e);
    }
}

/* Parse a relayed message and begin recording the tools/calls it holds
 * (an object, or a batch). */
static void
inspect_request(struct gateway *g, struct gateway_pending *p, const char *text, size_t len)
{
    cJSON *msg, *one;

    if (len == 0 || len > GW_MAX_MESSAGE)
        return;
    msg = json_parse(text, len, 0, NULL);
    if (msg == NULL)
        return; /* not JSON: relayed, nothing to record */
    if (cJSON_IsArray(msg)) {
        cJSON_ArrayForEach(one, msg)
        {
            if (gateway_is_tool_call(one))
                begin_call(g, p, one);
        }
    } else if (gateway_is_tool_call(msg)) {
        begin_call(g, p, msg);
    }
    cJSON_Delete(msg);
}

static void
inspect_response(struct gateway *g, struct gateway_pending *p, const char *text, size_t len)
{
    struct intentus_err e = { 0 };
    cJSON *msg;

    if (len == 0 || len > GW_MAX_MESSAGE)
        return;
    msg = json_parse(text, len, 0, NULL);
    if (msg == NULL)
        return;
    if (gateway_pending_settle(p, g, msg, &e) < 0)
        report_record_error(&e);
    cJSON_Delete(msg);
}

/* ---------------------------------------------------------------- HTTP */

struct http_gw {
    struct gateway *g;
    const char *url;
    long timeout_ms;
};

struct hreq {
    struct buf body;
    bool too_large;
};

struct hdr_list {
    struct curl_slist *list;
    bool has_ctype, failed;
};

static bool
hop_by_hop(const char *name)
{
    static const char *const skip[] = {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "proxy-authorization",
        "proxy-connection",
        "expect",
        "accept-encoding",
        "date",
        NULL,
    };
    for (size_t i = 0; skip[i] != NULL; i++) {
        if (strcasecmp(name, skip[i]) == 0)
            return true;
    }
    return false;
}

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct hdr_list *h = cls;
    struct buf b = BUF_INIT;
    struct curl_slist *n;

    (void)kind;
    if (key == NULL || hop_by_hop(key))
        return MHD_YES;
    if (strcasecmp(key, "content-type") == 0)
        h->has_ctype = true;
    if (value == NULL || value[0] == '\0')
        buf_printf(&b, "%s;", key); /* curl's way of sending an empty header */
    else
        buf_printf(&b, "%s: %s", key, value);
    n = b.data != NULL ? curl_slist_append(h->list, b.data) : NULL;
    if (n == NULL)
        h->failed = true;
    else
        h->list = n;
    buf_free(&b);
    return MHD_YES;
}

struct upstream {
    struct buf body;
    struct buf headers; /* "Name: value\n" lines of the final response */
};

static size_t
on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct upstream *u = ctx;
    size_t len = size * n;

    if (u->body.len + len > REC_STORE_MAX_FILE || buf_append(&u->body, p, len) != 0)
        return 0; /* curl fails the transfer: too large */
    return len;
}

static size_t
on_header(char *p, size_t size, size_t n, void *ctx)
{
    struct upstream *u = ctx;
    size_t len = size * n;

    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
        buf_reset(&u->headers); /* a new status line: 100 Continue came first */
    else if (buf_append(&u->headers, p, len) != 0)
        return 0;
    return len;
}

static const char *
find_header(const struct buf *h, const char *name, char *out, size_t size)
{
    size_t nl = strlen(name);
    const char *line = h->data;

    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            size_t vl = ll - nl - 1;
            while (vl > 0 && (*v == ' ' || *v == '\t'))
                v++, vl--;
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == ' '))
                vl--;
            snprintf(out, size, "%.*s", (int)vl, v);
            return out;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

/* The JSON-RPC messages of an event stream: each event's data lines. */
static void
inspect_sse(struct gateway *g, struct gateway_pending *p, const char *s, size_t len)
{
    struct buf data = BUF_INIT;
    size_t i = 0;

    while (i <= len) {
        size_t j = i;
        while (j < len && s[j] != '\n')
            j++;
        size_t ll = j - i;
        if (ll > 0 && s[i + ll - 1] == '\r')
            ll--;
        if (ll == 0 || j >= len) { /* blank line (or the end): the event is complete */
            if (j >= len && ll > 0 && strncmp(s + i, "data:", 5) == 0) {
                const char *v = s + i + 5;
                size_t vl = ll - 5;
                if (vl > 0 && *v == ' ')
                    v++, vl--;
                if (data.len > 0)
                    buf_putc(&data, '\n');
                buf_append(&data, v, vl);
            }
            if (data.len > 0 && !data.failed)
                inspect_response(g, p, data.data, data.len);
            buf_reset(&data);
        } else if (ll >= 5 && strncmp(s + i, "data:", 5) == 0) {
            const char *v = s + i + 5;
            size_t vl = ll - 5;
            if (vl > 0 && *v == ' ')
                v++, vl--;
            if (data.len > 0)
                buf_putc(&data, '\n');
            buf_append(&data, v, vl);
        }
        i = j + 1;
    }
    buf_free(&data);
}

static enum MHD_Result
answer(struct MHD_Connection *conn, unsigned status, const char *ctype, const void *body,
       size_t len, const struct buf *headers)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    if (ctype != NULL)
        MHD_add_response_header(r, "Content-Type", ctype);
    if (headers != NULL && headers->data != NULL) {
        char *copy = strdup(headers->data), *save = NULL;
        for (char *line = copy ? strtok_r(copy, "\n", &save) : NULL; line != NULL;
             line = strtok_r(NULL, "\n", &save)) {
            char *colon = strchr(line, ':');
            size_t ll = strlen(line);
            if (ll > 0 && line[ll - 1] == '\r')
                line[--ll] = '\0';
            if (colon == NULL)
                continue;
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (!hop_by_hop(line))
                MHD_add_response_header(r, line, v);
        }
        free(copy);
    }
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
gateway_error(struct MHD_Connection *conn, unsigned status, const char *body_text, const char *msg)
{
    cJSON *e = cJSON_CreateObject(), *err = cJSON_CreateObject(), *req = NULL;
    struct buf b = BUF_INIT;
    enum MHD_Result ret;

    if (body_text != NULL)
        req = json_parse(body_text, strlen(body_text), 0, NULL);
    cJSON_AddStringToObject(e, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(err, "code", -32000);
    cJSON_AddStringToObject(err, "message", msg);
    cJSON_AddItemToObject(e, "error", err);
    {
        const cJSON *id = cJSON_IsObject(req) ? cJSON_GetObjectItemCaseSensitive(req, "id") : NULL;
        cJSON_AddItemToObject(e, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
    }
    json_print_compact(e, &b);
    ret = answer(conn, status, "application/json", b.data ? b.data : "", b.len, NULL);
    buf_free(&b);
    cJSON_Delete(e);
    cJSON_Delete(req);
    return ret;
}

static enum MHD_Result
forward(struct http_gw *h, struct MHD_Connection *conn, const char *method, struct hreq *r)
{
    struct gateway_pending *p = gateway_pending_new();
    struct hdr_list hl = { 0 };
    struct upstream u = { BUF_INIT, BUF_INIT };
    char errbuf[CURL_ERROR_SIZE] = "", ctype[256], why[CURL_ERROR_SIZE + 128];
    long status = 0;
    CURL *c;
    CURLcode cc;
    enum MHD_Result ret;
    const char *body = r->body.data != NULL ? r->body.data : "";

    if (p == NULL)
        return MHD_NO;
    if (strcmp(method, "POST") == 0)
        inspect_request(h->g, p, body, r->body.len);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &hl);
    if (!hl.has_ctype)
        hl.list = curl_slist_append(hl.list, "Content-Type:"); /* send none, as the client */
    hl.list = curl_slist_append(hl.list, "Expect:");
    c = curl_easy_init();
    if (c == NULL || hl.failed || hl.list == NULL) {
        curl_easy_cleanup(c);
        curl_slist_free_all(hl.list);
        gateway_pending_free(p, h->g, "the gateway ran out of memory");
        return gateway_error(conn, 500, body, "intentus gateway: out of memory");
    }
    curl_easy_setopt(c, CURLOPT_URL, h->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "POST") == 0 || r->body.len > 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl.list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &u);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &u);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl.list);
    if (cc != CURLE_OK) {
        snprintf(why, sizeof(why), "upstream %s: %s", h->url,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        gateway_pending_free(p, h->g, why);
        buf_free(&u.body);
        buf_free(&u.headers);
        return gateway_error(conn, 502, body, why);
    }
    if (find_header(&u.headers, "Content-Type", ctype, sizeof(ctype)) != NULL &&
        strncasecmp(ctype, "text/event-stream", 17) == 0)
        inspect_sse(h->g, p, u.body.data ? u.body.data : "", u.body.len);
    else
        inspect_response(h->g, p, u.body.data ? u.body.data : "", u.body.len);
    snprintf(why, sizeof(why), "the server's HTTP reply (status %ld) held no response to it",
             status);
    gateway_pending_free(p, h->g, why);
    /* Content-Type comes with the upstream's headers. */
    ret = answer(conn, (unsigned)status, NULL, u.body.data ? u.body.data : "", u.body.len,
                 &u.headers);
    buf_free(&u.body);
    buf_free(&u.headers);
    return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct http_gw *h = cls;
    struct hreq *r = *con_cls;

    (void)url;
    (void)version;
    if (r == NULL) {
        if (strcmp(method, "GET") == 0) {
            static const char msg[] = "this gateway relays POST and DELETE only\n";
            struct buf allow = BUF_INIT;
            buf_puts(&allow, "Allow: POST, DELETE\n");
            enum MHD_Result ret = answer(conn, 405, "text/plain", msg, sizeof(msg) - 1, &allow);
            buf_free(&allow);
            return ret;
        }
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!r->too_large && (r->body.len + *upload_data_size > REC_STORE_MAX_FILE ||
                              buf_append(&r->body, upload_data, *upload_data_size) != 0))
            r->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->too_large)
        return gateway_error(conn, 413, NULL, "intentus gateway: the request body is too large");
    return forward(h, conn, method, r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct hreq *r = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r != NULL) {
        buf_free(&r->body);
        free(r);
        *con_cls = NULL;
    }
}

/* HOST:PORT on loopback: 127.x.x.x, localhost or [::1]. */
static int
listen_socket(const char *addr, char *shown, size_t size, char *msg, size_t msize, bool *usage)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    char *end;
    long port;
    struct sockaddr_storage ss = { 0 };
    socklen_t sl;
    int fd, one = 1;

    *usage = true;
    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host) || colon == addr) {
        snprintf(msg, msize, "--listen: '%s' is not HOST:PORT", addr);
        return -1;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || end == colon + 1 || port < 0 || port > 65535) {
        snprintf(msg, msize, "--listen: '%s' is not a port from 0 to 65535", colon + 1);
        return -1;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (strcmp(host, "[::1]") == 0) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_loopback;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
            snprintf(msg, msize, "--listen: '%s' is not an IPv4 address, localhost or [::1]", host);
            return -1;
        }
        if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127) {
            snprintf(msg, msize,
                     "--listen: %s is not loopback; the gateway has no authentication of its "
                     "own, so it listens on loopback only (put a TLS proxy in front of it)",
                     host);
            return -1;
        }
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof(*s4);
    }
    *usage = false;
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(msg, msize, "--listen %s: socket: %s", addr, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        snprintf(msg, msize, "--listen %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    if (ss.ss_family == AF_INET6)
        snprintf(shown, size, "[::1]:%u", ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    else
        snprintf(shown, size, "%s:%u", host, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    return fd;
}

static int
run_http(struct gateway *g, const char *url, const char *listen_addr, long timeout_ms)
{
    struct http_gw h = { .g = g, .url = url, .timeout_ms = timeout_ms };
    char shown[160], msg[512];
    bool usage;
    sigset_t sigs;
    struct MHD_Daemon *d;
    int fd, sig;

    fd = listen_socket(listen_addr, shown, sizeof(shown), msg, sizeof(msg), &usage);
    if (fd < 0) {
        cli_error("gateway", "%s", msg);
        return usage ? EXIT_USAGE : EXIT_FAIL;
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_request, &h, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600, MHD_OPTION_END);
    if (d == NULL) {
        close(fd);
        cli_error("gateway", "the HTTP server did not start on %s", shown);
        return EXIT_FAIL;
    }
    fprintf(stderr, "intentus gateway: listening on %s, relaying to %s\n", shown, url);
    fflush(stderr);
    do {
        if (sigwait(&sigs, &sig) != 0)
            break;
    } while (sig == SIGHUP);
    MHD_stop_daemon(d);
    close(fd);
    return EXIT_OK;
}

/* --------------------------------------------------------------- stdio */

struct lines {
    struct buf in;  /* bytes read, not yet a whole line */
    struct buf out; /* bytes to write */
    size_t out_off;
    bool skipping; /* inside a line too long to record: relayed as it comes */
};

/* Move the whole lines of l->in to l->out, inspecting each first. */
static void
take_lines(struct lines *l, bool eof, struct gateway *g, struct gateway_pending *p, bool request)
{
    size_t start = 0;

    for (;;) {
        char *nl = l->in.len > start ? memchr(l->in.data + start, '\n', l->in.len - start) : NULL;
        size_t end = nl ? (size_t)(nl - l->in.data) + 1 : 0;
        if (nl == NULL) {
            if (eof && l->in.len > start) {
                if (!l->skipping)
                    (request ? inspect_request : inspect_response)(g, p, l->in.data + start,
                                                                   l->in.len - start);
                buf_append(&l->out, l->in.data + start, l->in.len - start);
                start = l->in.len;
            } else if (l->in.len - start > GW_MAX_MESSAGE) {
                buf_append(&l->out, l->in.data + start, l->in.len - start);
                start = l->in.len;
                l->skipping = true;
            }
            break;
        }
        if (!l->skipping) {
            size_t len = end - start - 1;
            if (len > 0 && l->in.data[start + len - 1] == '\r')
                len--;
            (request ? inspect_request : inspect_response)(g, p, l->in.data + start, len);
        }
        l->skipping = false;
        buf_append(&l->out, l->in.data + start, end - start);
        start = end;
    }
    if (start > 0) {
        memmove(l->in.data, l->in.data + start, l->in.len - start);
        l->in.len -= start;
        l->in.data[l->in.len] = '\0';
    }
}

/* Write what l->out holds to fd (one chunk); -1 on a write error. */
static int
flush_some(struct lines *l, int fd)
{
    size_t left = l->out.len - l->out_off;
    ssize_t n;

    if (left == 0)
        return 0;
    n = write(fd, l->out.data + l->out_off, left > GW_CHUNK ? GW_CHUNK : left);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    l->out_off += (size_t)n;
    if (l->out_off == l->out.len) {
        buf_reset(&l->out);
        l->out_off = 0;
    }
    return 0;
}

static bool
pending_out(const struct lines *l)
{
    return l->out.len > l->out_off;
}

static pid_t
spawn(const char *cmd, int *to_child, int *from_child, const sigset_t *old)
{
    int in[2], out[2];
    pid_t pid;

    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        /* Its own process group: the stop signals reach whatever sh -c
         * started too (a server sh did not exec). */
        setpgid(0, 0);
        sigprocmask(SIG_SETMASK, old, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    if (pid > 0)
        setpgid(pid, pid); /* also here: whoever runs first */
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    *to_child = in[1];
    *from_child = out[0];
    return pid;
}

/* One stdio relay: the client on fds 0/1, the server on two pipes. */
struct relay {
    struct gateway *g;
    struct gateway_pending *p;
    struct lines up;   /* client -> server */
    struct lines down; /* server -> client */
    int sfd, to_child, from_child;
    pid_t pid;
    int status, kills;
    bool client_eof, server_eof, client_gone, exited;
    int64_t stop_at; /* mono: when the server is (next) told to stop; 0: not yet */
};

#define MS(n) ((int64_t)(n)*1000)

static void
relay_signals(struct relay *r)
{
    struct signalfd_siginfo si;

    while (read(r->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
            r->client_eof = true; /* stop taking requests; let the server go */
            if (r->stop_at == 0)
                r->stop_at = clock_mono_us();
        }
    }
}

/* Read what fd has into l, then pass its whole lines on. */
static void
relay_read(struct relay *r, int fd, struct lines *l, bool *eof, bool request)
{
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof(chunk));

    if (n > 0)
        buf_append(&l->in, chunk, (size_t)n);
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        *eof = true;
    take_lines(l, *eof, r->g, r->p, request);
}

/* The client is done and everything it sent is with the server: close the
 * server's stdin so it ends (MCP's stdio shutdown); then SIGTERM after 5 s
 * and SIGKILL 2 s later, to its process group. False: give up waiting. */
static bool
relay_stop(struct relay *r)
{
    if (r->client_eof && r->to_child >= 0 && !pending_out(&r->up)) {
        close(r->to_child);
        r->to_child = -1;
        if (r->stop_at == 0)
            r->stop_at = clock_mono_us() + MS(5000);
    }
    if (r->stop_at > 0 && clock_mono_us() >= r->stop_at && !r->exited) {
        if (r->kills > 2)
            return false;
        kill(-r->pid, r->kills == 0 ? SIGTERM : SIGKILL);
        r->kills++;
        r->stop_at = clock_mono_us() + MS(2000);
    }
    if (!r->exited && waitpid(r->pid, &r->status, WNOHANG) == r->pid)
        r->exited = true;
    return !(r->exited && r->client_gone);
}

static bool
relay_done(const struct relay *r)
{
    return r->server_eof && (!pending_out(&r->down) || r->client_gone);
}

/* One poll round; false when the relay is over. */
static bool
relay_once(struct relay *r)
{
    struct pollfd fds[5];
    int n = 0, i_cin = -1, i_sout = -1, i_sin = -1, i_cout = -1, timeout = -1;

    fds[n++] = (struct pollfd){ .fd = r->sfd, .events = POLLIN };
    if (!r->client_eof && r->up.in.len <= GW_MAX_MESSAGE) {
        i_cin = n;
        fds[n++] = (struct pollfd){ .fd = 0, .events = POLLIN };
    }
    if (!r->server_eof && r->down.out.len <= GW_MAX_MESSAGE) {
        i_sout = n;
        fds[n++] = (struct pollfd){ .fd = r->from_child, .events = POLLIN };
    }
    if (r->to_child >= 0 && pending_out(&r->up)) {
        i_sin = n;
        fds[n++] = (struct pollfd){ .fd = r->to_child, .events = POLLOUT };
    }
    if (!r->client_gone && pending_out(&r->down)) {
        i_cout = n;
        fds[n++] = (struct pollfd){ .fd = 1, .events = POLLOUT };
    }
    if (r->stop_at > 0) {
        int64_t left = (r->stop_at - clock_mono_us()) / 1000;
        timeout = left > 0 ? (int)left : 0;
    }
    if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
        return false;
    if (fds[0].revents & POLLIN)
        relay_signals(r);
    if (i_cin >= 0 && fds[i_cin].revents & (POLLIN | POLLHUP | POLLERR))
        relay_read(r, 0, &r->up, &r->client_eof, true);
    if (i_sout >= 0 && fds[i_sout].revents & (POLLIN | POLLHUP | POLLERR))
        relay_read(r, r->from_child, &r->down, &r->server_eof, false);
    if (i_sin >= 0 && fds[i_sin].revents & (POLLOUT | POLLERR | POLLHUP) &&
        flush_some(&r->up, r->to_child) != 0) {
        buf_reset(&r->up.out); /* the server stopped reading: it is going away */
        r->up.out_off = 0;
    }
    if (i_cout >= 0 && fds[i_cout].revents & (POLLOUT | POLLERR | POLLHUP) &&
        flush_some(&r->down, 1) != 0) {
        r->client_gone = true; /* nobody reads: what the server says is dropped */
        r->client_eof = true;
        buf_reset(&r->down.out);
        r->down.out_off = 0;
    }
    return relay_stop(r) && !relay_done(r);
}

/* Reap the server (bounded: SIGKILL after 5 s). */
static void
relay_reap(struct relay *r)
{
    int64_t until = clock_mono_us() + MS(5000);

    if (r->exited)
        return;
    while (waitpid(r->pid, &r->status, WNOHANG) == 0) {
        if (clock_mono_us() >= until) {
            kill(-r->pid, SIGKILL);
            waitpid(r->pid, &r->status, 0);
            break;
        }
        nanosleep(&(struct timespec){ 0, 20L * 1000 * 1000 }, NULL);
    }
    r->exited = true;
}

static int
run_stdio(struct gateway *g, const char *cmd)
{
    struct relay r = { .g = g,
                       .up = { BUF_INIT, BUF_INIT, 0, false },
                       .down = { BUF_INIT, BUF_INIT, 0, false },
                       .to_child = -1,
                       .from_child = -1 };
    sigset_t sigs, old;
    int rc = EXIT_OK;

    r.p = gateway_pending_new();
    if (r.p == NULL) {
        cli_error("gateway", "out of memory");
        return EXIT_FAIL;
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGCHLD);
    sigprocmask(SIG_BLOCK, &sigs, &old);
    signal(SIGPIPE, SIG_IGN);
    r.sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    r.pid = r.sfd >= 0 ? spawn(cmd, &r.to_child, &r.from_child, &old) : -1;
    if (r.pid < 0) {
        cli_error("gateway", "--wrap: cannot run '%s': %s", cmd, strerror(errno));
        gateway_pending_free(r.p, g, "the server did not start");
        if (r.sfd >= 0)
            close(r.sfd);
        return EXIT_FAIL;
    }
    while (relay_once(&r)) {
    }
    if (r.to_child >= 0)
        close(r.to_child);
    close(r.from_child);
    relay_reap(&r);
    gateway_pending_free(r.p, g, "the MCP server ended before it answered");
    close(r.sfd);
    buf_free(&r.up.in);
    buf_free(&r.up.out);
    buf_free(&r.down.in);
    buf_free(&r.down.out);
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) {
        cli_error("gateway", "the MCP server '%s' exited with status %d", cmd,
                  WEXITSTATUS(r.status));
        rc = EXIT_FAIL;
    } else if (WIFSIGNALED(r.status) && r.kills == 0) {
        cli_error("gateway", "the MCP server '%s' was killed by signal %d", cmd,
                  WTERMSIG(r.status));
        rc = EXIT_FAIL;
    }
    return rc;
}

/* ------------------------------------------------------------- command */

static bool
valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == ':'))
            return false;
    }
    return true;
}

/* The default server name: the URL's host[:port], or CMD's program name. */
static void
default_name(const struct gw_args *a, char *out, size_t size)
{
    const char *s, *e;

    if (a->http != NULL) {
        s = strstr(a->http, "://");
        s = s ? s + 3 : a->http;
        e = s + strcspn(s, "/?#");
        snprintf(out, size, "%.*s", (int)(e - s), s);
    } else {
        s = a->wrap + strspn(a->wrap, " \t");
        e = s + strcspn(s, " \t");
        const char *slash = s;
        for (const char *q = s; q < e; q++)
            if (*q == '/')
                slash = q + 1;
        snprintf(out, size, "%.*s", (int)(e - slash), slash);
    }
    for (char *q = out; *q; q++)
        if (!valid_name((char[]){ *q, '\0' }))
            *q = '_';
    if (out[0] == '\0')
        snprintf(out, size, "server");
}

int
cli_gateway(int argc, char **argv)
{
    struct gw_args a = { 0 };
    struct intentus_err err = { 0 };
    struct runtime *rt = NULL;
    struct wal *own_wal = NULL, *wal;
    struct gateway *g = NULL;
    char name[80];
    int64_t timeout_ms = 300000;
    int rc;

    rc = cli_opt_parse(&gateway_cmd, argc, argv, &a, &a.first_arg);
    if (rc != 0)
        return rc == CLI_OPT_SHOWN_HELP ? EXIT_OK : rc;
    if (a.first_arg < argc)
        return cli_usage_error("gateway", "unexpected argument '%s'", argv[a.first_arg]);
    if ((a.http == NULL) == (a.wrap == NULL))
        return cli_usage_error("gateway", "give exactly one of --http URL and --wrap CMD");
    if (a.http != NULL && strncmp(a.http, "http://", 7) != 0 && strncmp(a.http, "https://", 8) != 0)
        return cli_usage_error("gateway", "--http: '%s' is not an http:// or https:// URL", a.http);
    if (a.wrap != NULL && a.wrap[strspn(a.wrap, " \t")] == '\0')
        return cli_usage_error("gateway", "--wrap: the command is empty");
    if (a.wrap != NULL && (a.listen != NULL || a.timeout != NULL))
        return cli_usage_error("gateway", "--%s: only with --http",
                               a.listen != NULL ? "listen" : "timeout");
    if (a.timeout != NULL &&
        (units_parse_duration_ms(a.timeout, &timeout_ms, NULL) != 0 || timeout_ms <= 0))
        return cli_usage_error("gateway", "--timeout: '%s' is not a duration", a.timeout);
    if (a.name != NULL && !valid_name(a.name))
        return cli_usage_error(
            "gateway", "--name: '%s' must be 1-64 characters from A-Z a-z 0-9 . _ - :", a.name);
    if (a.name != NULL)
        snprintf(name, sizeof(name), "%s", a.name);
    else
        default_name(&a, name, sizeof(name));

    rt = runtime_open(a.config, &(struct runtime_opts){ .records_dir = a.dir, .workers = 1 }, &err);
    if (rt == NULL) {
        cli_error("gateway", "%s", err.msg);
        return EXIT_USAGE;
    }
    wal = runtime_wal(rt);
    if (wal == NULL) {
        /* The gateway always logs its executions, as the reference does. */
        const struct config *cfg = runtime_config(rt);
        own_wal =
            wal_open(cfg->wal.dir != NULL ? cfg->wal.dir : WAL_DEFAULT_DIR,
                     &(struct wal_opts){
                         .durability = WAL_PER_ENTRY, .create = true, .keys = runtime_keys(rt) },
                     &err);
        if (own_wal == NULL) {
            cli_error("gateway", "%s", err.msg);
            runtime_close(rt);
            return EXIT_FAIL;
        }
        wal = own_wal;
    }
    g = gateway_new(&(struct gateway_opts){ .mode = a.http ? "http" : "stdio",
                                            .target = a.http ? a.http : a.wrap,
                                            .server = name,
                                            .writer = runtime_writer(rt),
                                            .wal = wal,
                                            .redactor = runtime_config(rt)->redactor },
                    &err);
    if (g == NULL) {
        cli_error("gateway", "%s", err.msg);
        rc = EXIT_FAIL;
    } else if (a.http != NULL) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        rc = run_http(g, a.http, a.listen != NULL ? a.listen : "127.0.0.1:8765", (long)timeout_ms);
        curl_global_cleanup();
    } else {
        rc = run_stdio(g, a.wrap);
    }
    gateway_free(g);
    wal_close(own_wal);
    runtime_close(rt);
    if (rc == EXIT_OK && atomic_load(&record_failures) > 0) {
        cli_error("gateway", "%lu tools/call%s could not be recorded (see above)",
                  atomic_load(&record_failures), atomic_load(&record_failures) == 1 ? "" : "s");
        rc = EXIT_FAIL;
    }
    return rc;
}
