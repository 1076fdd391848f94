/* 1. Hash: canonical JSON + SHA-256 of an envelope (json_canonical_sha256,
 * what every record's envelopeHash costs) against the floor: SHA-256 alone
 * over the same canonical bytes. */
#include <stdio.h>

#include "bench/bench.h"
#include "bench/fixture.h"
#include "core/buf.h"
#include "core/json.h"

struct hash_case {
    const char *label;
    size_t payload;
    bool floats; /* scores as decimals (each one goes through repr-style formatting) */
};

static const struct hash_case cases[] = {
    { "200 B", 200, true },
    { "2 KB", 2048, true },
    { "64 KB", 65536, true },
    { "2 KB integers only", 2048, false },
};

/* Time iters calls of the full hash or the floor; ns per call. */
static double
time_hash(const cJSON *env, const struct buf *canon, long iters, bool floor)
{
    char hex[65];
    int64_t t0 = bench_now_ns();

    for (long i = 0; i < iters; i++) {
        if (floor)
            json_sha256_hex(canon->data, canon->len, hex);
        else
            json_canonical_sha256(env, hex, NULL);
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

static int
one_case(struct bench *b, const struct hash_case *c)
{
    struct envelope_opts eo = { .source = "intentus-bench" };
    cJSON *env = envelope_new("bench.echo", bench_payload(c->payload, 7, c->floats), &eo, NULL);
    struct buf canon = BUF_INIT;
    double ns[BENCH_MAX_REPS], mbs[BENCH_MAX_REPS], fns[BENCH_MAX_REPS], fmbs[BENCH_MAX_REPS];
    double ratio[BENCH_MAX_REPS], vs_ref[BENCH_MAX_REPS];
    double budget_ns = b->quick ? 2e7 : 1.5e8; /* per measurement */
    long iters;
    char name[96];
    struct bench_fig *f;

    if (env == NULL || json_canonical(env, &canon, NULL) != 0) {
        fprintf(stderr, "bench: cannot build the %s envelope\n", c->label);
        cJSON_Delete(env);
        buf_free(&canon);
        return -1;
    }
    /* Calibrate so that one measurement takes about budget_ns. */
    iters = (long)(budget_ns / time_hash(env, &canon, 20, false));
    if (iters < 20)
        iters = 20;
    for (int r = 0; r < b->reps; r++) {
        fns[r] = time_hash(env, &canon, iters, true);
        ns[r] = time_hash(env, &canon, iters, false);
        mbs[r] = (double)canon.len / ns[r] * 1e3; /* bytes/ns = GB/s; *1e3 = MB/s */
        fmbs[r] = (double)canon.len / fns[r] * 1e3;
        ratio[r] = fns[r] / ns[r];
        vs_ref[r] = 100000.0 / ns[r]; /* the reference documents ~0.1 ms */
    }
    snprintf(name, sizeof(name), "envelope %s (%zu B canonical): canonical JSON + SHA-256",
             c->label, canon.len);
    bench_add(b, "hash", name, "ns/env", ns, b->reps, false);
    snprintf(name, sizeof(name), "envelope %s: throughput", c->label);
    bench_add(b, "hash", name, "MB/s", mbs, b->reps, true);
    snprintf(name, sizeof(name), "envelope %s: floor, SHA-256 alone", c->label);
    bench_add(b, "hash", name, "ns/env", fns, b->reps, false);
    snprintf(name, sizeof(name), "envelope %s: floor throughput", c->label);
    bench_add(b, "hash", name, "MB/s", fmbs, b->reps, true);
    snprintf(name, sizeof(name), "envelope %s: ratio floor time / intentus time", c->label);
    f = bench_add(b, "hash", name, "ratio", ratio, b->reps, true);
    if (f != NULL)
        snprintf(f->note, sizeof(f->note), "1.0 = hashing costs no more than SHA-256 itself");
    snprintf(name, sizeof(name), "envelope %s: times faster than the reference's 0.1 ms", c->label);
    f = bench_add(b, "hash", name, "x", vs_ref, b->reps, true);
    if (f != NULL)
        snprintf(f->note, sizeof(f->note), "documented figure, not measured here");
    cJSON_Delete(env);
    buf_free(&canon);
    return 0;
}

int
bench_hash(struct bench *b)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (one_case(b, &cases[i]) != 0)
            return -1;
    return 0;
}
