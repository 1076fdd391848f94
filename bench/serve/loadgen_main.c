/* intentus-loadgen: drive an HTTP server with keep-alive requests and print
 * one JSON line of figures (tests/support/loadgen.h says why not wrk).
 *
 *   intentus-loadgen --port P [--host 127.0.0.1] [-c CONNS] [-t THREADS]
 *                    [-d SECONDS] [-n REQUESTS] [--method POST]
 *                    [--path /v1/route] [--body-file F] [--ids-out FILE]
 *
 * The bearer token, when needed, comes from $INTENTUS_TOKEN (never argv).
 * Output: {"conns":C,"requests":N,"seconds":S,"rps":R,"p50_us":..,
 * "p99_us":..,"io_errors":E,"status":{"200":N,...},"first_error":".."}.
 * --ids-out writes the executionId of every 200 answer, one a line.
 * Exit 0 when it ran (errors are in the figures), 2 on bad arguments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/loadgen.h"

static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t len = 0, cap = 0, n;

    if (f == NULL)
        return NULL;
    for (;;) {
        if (cap - len < 4097) {
            char *nb = realloc(b, cap = cap != 0 ? cap * 2 : 8192);
            if (nb == NULL) {
                free(b);
                fclose(f);
                return NULL;
            }
            b = nb;
        }
        n = fread(b + len, 1, cap - len - 1, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    b[len] = '\0';
    return b;
}

static int
usage(const char *why)
{
    fprintf(stderr,
            "intentus-loadgen: %s\nusage: intentus-loadgen --port P [--host ADDR] [-c CONNS] "
            "[-t THREADS] [-d SECONDS] [-n REQUESTS] [--method M] [--path PATH] [--body-file F] "
            "[--ids-out FILE]\n",
            why);
    return 2;
}

int
main(int argc, char **argv)
{
    struct lg_opts o = { .host = "127.0.0.1",
                         .conns = 1,
                         .threads = 1,
                         .method = "POST",
                         .path = "/v1/route",
                         .io_timeout_ms = 10000 };
    struct lg_result r;
    const char *body_file = NULL, *ids_out = NULL;
    char msg[256];
    char *body = NULL;
    double secs = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage("every option needs a value");
        i++;
        if (strcmp(a, "--port") == 0)
            o.port = atoi(v);
        else if (strcmp(a, "--host") == 0)
            o.host = v;
        else if (strcmp(a, "-c") == 0)
            o.conns = atoi(v);
        else if (strcmp(a, "-t") == 0)
            o.threads = atoi(v);
        else if (strcmp(a, "-d") == 0)
            secs = atof(v);
        else if (strcmp(a, "-n") == 0)
            o.max_requests = strtoull(v, NULL, 10);
        else if (strcmp(a, "--path") == 0)
            o.path = v;
        else if (strcmp(a, "--method") == 0)
            o.method = v;
        else if (strcmp(a, "--body-file") == 0)
            body_file = v;
        else if (strcmp(a, "--ids-out") == 0)
            ids_out = v;
        else
            return usage("unknown option");
    }
    if (o.port < 1 || o.port > 65535)
        return usage("--port: 1..65535");
    if (o.threads > o.conns)
        o.threads = o.conns;
    o.duration_ms = (int64_t)(secs * 1000);
    if (body_file != NULL && (body = read_all(body_file)) == NULL)
        return usage("--body-file: cannot read it");
    o.body = body;
    o.token = getenv("INTENTUS_TOKEN");
    o.collect_ids = ids_out != NULL;
    if (lg_run(&o, &r, msg, sizeof(msg)) != 0) {
        free(body);
        return usage(msg);
    }
    printf("{\"conns\":%d,\"requests\":%llu,\"seconds\":%.3f,\"rps\":%.0f,\"p50_us\":%.0f,"
           "\"p99_us\":%.0f,\"io_errors\":%llu,\"reconnects\":%llu,\"status\":{",
           o.conns, (unsigned long long)r.requests, r.seconds,
           r.seconds > 0 ? (double)r.requests / r.seconds : 0, lg_percentile_us(&r, 50),
           lg_percentile_us(&r, 99), (unsigned long long)r.io_errors,
           (unsigned long long)r.reconnects);
    for (int k = 0, first = 1; k < 600; k++)
        if (r.status[k] != 0) {
            printf("%s\"%d\":%llu", first ? "" : ",", k, (unsigned long long)r.status[k]);
            first = 0;
        }
    printf("},\"first_error\":\"%s\"}\n", r.first_error);
    if (ids_out != NULL) {
        FILE *f = fopen(ids_out, "w");
        if (f == NULL) {
            fprintf(stderr, "intentus-loadgen: --ids-out %s: cannot write\n", ids_out);
            lg_result_free(&r);
            free(body);
            return 1;
        }
        for (size_t i = 0; i < r.n_ids; i++)
            fprintf(f, "%s\n", r.ids[i]);
        fclose(f);
    }
    lg_result_free(&r);
    free(body);
    return 0;
}
