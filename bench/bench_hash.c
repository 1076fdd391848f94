/* 1. Hash: canonical JSON + SHA-256 of an envelope (json_canonical_sha256,
 * what every record's envelopeHash costs) against the floor: SHA-256 alone
 * over the same canonical bytes (bm_hash, tui/bench_measure.c, which
 * `intentus bench hash` runs too). */
#include <stdio.h>

#include "bench/bench.h"
#include "tui/bench_measure.h"

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

static int
one_case(struct bench *b, const struct hash_case *c)
{
    struct intentus_err err = { 0 };
    struct bm_hash_result h;
    double ns[BENCH_MAX_REPS], mbs[BENCH_MAX_REPS], fns[BENCH_MAX_REPS], fmbs[BENCH_MAX_REPS];
    double ratio[BENCH_MAX_REPS], vs_ref[BENCH_MAX_REPS];
    double budget_ns = b->quick ? 2e7 : 1.5e8; /* per measurement */
    long iters = 0;
    size_t canon_len = 0;
    char name[96];
    struct bench_fig *f;

    for (int r = 0; r < b->reps; r++) {
        /* The first repetition calibrates; the others use its count. */
        if (bm_hash(c->payload, c->floats, iters, budget_ns, &h, &err) != 0) {
            fprintf(stderr, "bench: the %s envelope: %s\n", c->label, err.msg);
            return -1;
        }
        iters = h.iters;
        canon_len = h.canonical_bytes;
        fns[r] = h.floor_ns;
        ns[r] = h.ns;
        mbs[r] = (double)canon_len / ns[r] * 1e3; /* bytes/ns = GB/s; *1e3 = MB/s */
        fmbs[r] = (double)canon_len / fns[r] * 1e3;
        ratio[r] = fns[r] / ns[r];
        vs_ref[r] = 100000.0 / ns[r]; /* the reference documents ~0.1 ms */
    }
    snprintf(name, sizeof(name), "envelope %s (%zu B canonical): canonical JSON + SHA-256",
             c->label, canon_len);
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
