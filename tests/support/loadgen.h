/* A small HTTP/1.1 load generator: N keep-alive connections spread over T
 * threads, each sending one fixed request at a time (closed loop), for a
 * duration or a number of requests. Counts status codes, keeps a latency
 * histogram (p50/p99) and, on request, the executionId of every response.
 *
 * Written here rather than using wrk because (a) wrk is not installed on the
 * machines this runs on and the test suite cannot depend on it, and (b) the
 * soak needs every response's executionId to check "recorded exactly once",
 * which wrk's Lua hooks only see per thread and would have to print.
 * Shared by bench/serve (intentus-loadgen) and tests/cli/test_serve_soak.c. */
#ifndef INTENTUS_TESTS_SUPPORT_LOADGEN_H
#define INTENTUS_TESTS_SUPPORT_LOADGEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_MAX_THREADS 64
#define LG_MAX_CONNS 1024
/* Latency histogram: 64 powers of two in microseconds, 16 linear
 * sub-buckets each (about 6% resolution). */
#define LG_HIST_SUB 16
#define LG_HIST_N (40 * LG_HIST_SUB)

struct lg_opts {
    const char *host; /* numeric IPv4 address, e.g. "127.0.0.1" */
    int port;
    int conns, threads;
    const char *method, *path; /* "POST", "/v1/route" */
    const char *body;          /* NULL: no body */
    const char *token;         /* Authorization: Bearer; NULL: none */
    int64_t duration_ms;       /* stop after this long (0: no time bound) */
    uint64_t max_requests;     /* stop after this many answers (0: no count bound) */
    int64_t io_timeout_ms;     /* one request's limit before it counts as an error (default 10 s) */
    bool collect_ids;          /* keep "executionId" of every 200 response */
    atomic_bool *stop;         /* optional: set by the caller to stop early */
};

struct lg_result {
    uint64_t requests;    /* answers received (any status) */
    uint64_t io_errors;   /* connect/read/write failures, timeouts, bad responses */
    uint64_t reconnects;  /* connections the server closed after an answer */
    uint64_t status[600]; /* by HTTP status */
    uint64_t hist[LG_HIST_N];
    double seconds;
    char **ids; /* collect_ids: one per 200 response carrying an executionId */
    size_t n_ids;
    char first_error[256]; /* the first io error, for the report */
};

/* Run the load; 0 when it ran (errors are counted in out), -1 with msg when
 * it could not start (bad options, no thread). */
int lg_run(const struct lg_opts *o, struct lg_result *out, char *msg, size_t msg_size);
/* The p-th percentile (0..100) of the latency, in microseconds. */
double lg_percentile_us(const struct lg_result *r, double p);
void lg_result_free(struct lg_result *r);

#endif
