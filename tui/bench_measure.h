/* The measurements behind `intentus bench` (tui/cli_bench.c) and the
 * benchmark harness bench/intentus-bench: one implementation both link.
 * The harness compiles this file and tui/bench_fixture.c into its own
 * binary (bench/Makefile), so the figures an operator takes of their own
 * storage with `intentus bench route` are the ones bench/README.md reports.
 *
 * Everything here runs the real code: the router with in-process agents
 * (tui/bench_fixture.h), the record store or the async writer, the
 * canonical hash, the persistent index. Nothing prints; errors go through
 * struct intentus_err. No figure is ever checked here. */
#ifndef INTENTUS_TUI_BENCH_MEASURE_H
#define INTENTUS_TUI_BENCH_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/crypt.h"
#include "core/err.h"
#include "core/model.h"
#include "core/registry.h"
#include "watch/index_db.h"

/* Monotonic nanoseconds. */
int64_t bm_now_ns(void);
/* The p-th percentile (0..100, nearest rank) of v[0..n); v is sorted in place. */
double bm_percentile(double *v, size_t n, double p);

/* How an execution is recorded: not at all; built then sampled out
 * (nothing written); by the record store before router_route returns; by
 * the async writer. */
enum bm_record { BM_RECORD_OFF, BM_RECORD_MEMORY, BM_RECORD_SYNC, BM_RECORD_ASYNC };

struct bm_route_opts {
    const char *intent; /* of the fixture: bench.echo, bench.fallback, ... */
    enum strategy strategy;
    size_t payload; /* bytes of payload per envelope */
    /* 0: each envelope's payload from its own seed (its index); else every
     * payload from this seed (the same bytes each time: bench_payload). */
    unsigned payload_seed;
    enum bm_record record;
    bool fsync;
    const struct crypt_keyring *keys; /* seal records with it (NULL: plaintext) */
    const char *dir;                  /* the record directory (created); unused when off */
    size_t n;                         /* executions, over all submitters */
    size_t submitters;                /* threads routing at once; 0: 1 */
    /* Each submitter waits for its record's fate before the next execution,
     * as a server answering "recorded" does (async only). */
    bool settle;
    size_t writer_threads; /* async writer threads; 0: the writer's default */
    /* Envelopes built before any of them is routed; 0: 4,096, so each is
     * cold in cache when routed, as the reference's benchmark builds all
     * of its envelopes first; 1: each routed as soon as it is built, as a
     * server routes the request it has just parsed. */
    size_t chunk;
};

struct bm_route_result {
    double per_sec;                 /* executions per second, writer flushed */
    double p50_us, p99_us, mean_us; /* router_route (+ settle) latency per execution */
    double file_bytes;              /* mean size of the record files written; 0 when none */
    size_t files;                   /* record files in dir afterwards */
    double per_commit;              /* async: records per group commit (writer_stats) */
};

/* Route o->n envelopes and time them. Envelopes are built outside the
 * timed part in chunks (o->chunk; never more than 4,096 alive); with an async writer
 * each chunk's time includes flushing it, so no work is left uncounted. */
int bm_route(struct registry *reg, const struct bm_route_opts *o, struct bm_route_result *out,
             struct intentus_err *err);

/* The memory floor of routing: o->n envelopes built in chunks as bm_route
 * builds them, and of each only what a route must read, with none of the
 * router's logic: every member of the top level and of intent, metadata,
 * routing and routingMetadata (their keys' first bytes), and the first byte
 * of every string among them. Mean nanoseconds per envelope. Only o->intent,
 * strategy, payload, payload_seed, n and chunk are used. */
int bm_envelope_floor(const struct bm_route_opts *o, double *ns_per_envelope,
                      struct intentus_err *err);

/* The persistence floor: n files of size bytes written the way records are
 * (hidden temp file, write, [fsync], close, rename, [fsync directory]) by a
 * plain C loop, in dir (created). Files per second. */
int bm_floor(const char *dir, size_t n, size_t size, bool do_fsync, double *per_sec,
             struct intentus_err *err);

/* Canonical JSON + SHA-256 of an envelope (what every record's
 * envelopeHash costs) against SHA-256 alone over the same canonical bytes. */
struct bm_hash_result {
    size_t canonical_bytes;
    long iters;      /* calls per measurement */
    double ns;       /* json_canonical_sha256, per envelope */
    double floor_ns; /* json_sha256_hex over the canonical text, per envelope */
};
/* iters 0: calibrated so one measurement takes about budget_ns. */
int bm_hash(size_t payload, bool floats, long iters, double budget_ns, struct bm_hash_result *out,
            struct intentus_err *err);

/* n executions routed into dir (created if missing) through a writer
 * (async or sync, no fsync), a fixed mix: 12 in 20 DIRECT echo, 6
 * fallback after two failures, one failing everywhere, one upper. */
int bm_write_records(struct registry *reg, const char *dir, size_t n, bool async, unsigned seed,
                     struct intentus_err *err);

/* index_db_open of dir (rebuild: from nothing), timed; info copied out. */
int bm_index_open(const char *dir, bool rebuild, double *secs, struct index_db_info *info,
                  struct intentus_err *err);

/* Mean size of the visible files of dir; *files gets their count. */
double bm_mean_file_size(const char *dir, size_t *files);

/* rm -rf of a directory the benchmark made. */
void bm_rmtree(const char *path);

#endif
