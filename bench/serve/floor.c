/* intentus-floor: the bare libmicrohttpd handler serve is measured against.
 *
 *   intentus-floor --port P --response FILE [--threads N]
 *
 * The same daemon flags and threading as `intentus serve` (internal polling
 * thread, epoll, suspend/resume allowed, a thread pool of N, default 2 as
 * serve uses on this machine), reads the request body as serve does and
 * answers every request 200 with the bytes of FILE (a response serve gave
 * for the same request) as application/json. No routing, no JSON, no
 * authentication: what HTTP alone costs. Stops on SIGTERM/SIGINT. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct floor_srv {
    char *resp;
    size_t len;
};

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    struct floor_srv *f = cls;
    struct MHD_Response *r;
    enum MHD_Result ret;
    static int seen;

    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &seen; /* headers: wait for the body */
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        *upload_data_size = 0; /* consumed, as serve buffers it */
        return MHD_YES;
    }
    r = MHD_create_response_from_buffer(f->len, f->resp, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

int
main(int argc, char **argv)
{
    struct floor_srv f = { 0 };
    const char *resp_path = NULL;
    long port = 0, threads = 2;
    struct MHD_Daemon *d;
    sigset_t sigs;
    int sig;
    FILE *fp;
    struct sockaddr_in sa = { .sin_family = AF_INET };

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--response") == 0 && i + 1 < argc)
            resp_path = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: intentus-floor --port P --response FILE [--threads N]\n");
            return 2;
        }
    }
    if (port < 1 || port > 65535 || resp_path == NULL || threads < 1 || threads > 256) {
        fprintf(stderr, "intentus-floor: --port 1..65535, --response FILE and --threads 1..256\n");
        return 2;
    }
    fp = fopen(resp_path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "intentus-floor: %s: %s\n", resp_path, strerror(errno));
        return 2;
    }
    f.resp = malloc(1 << 20);
    f.len = f.resp != NULL ? fread(f.resp, 1, 1 << 20, fp) : 0;
    fclose(fp);
    if (f.len == 0) {
        fprintf(stderr, "intentus-floor: %s: empty or unreadable\n", resp_path);
        return 2;
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                             MHD_ALLOW_SUSPEND_RESUME | MHD_USE_EPOLL,
                         (uint16_t)port, NULL, NULL, on_request, &f, MHD_OPTION_SOCK_ADDR, &sa,
                         MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads,
                         MHD_OPTION_CONNECTION_TIMEOUT, 30U, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "intentus-floor: cannot listen on 127.0.0.1:%ld\n", port);
        return 1;
    }
    do {
        if (sigwait(&sigs, &sig) != 0)
            sig = SIGPIPE;
    } while (sig == SIGPIPE);
    MHD_stop_daemon(d);
    free(f.resp);
    return 0;
}
