/* 8. Compare (`make bench-compare`, part of `make bench`): the table of
 * issue 16, every row measured in one run, the reference's router beside
 * intentus's where the reference has the same operation.
 *
 * The reference side is bench/ref_route.py: the reference's IntentRouter
 * with its FileExecutionStore (or no store: recording off), the agents of
 * tui/bench_fixture.c, and the very payload intentus routes (written to a
 * file here: bench_payload(200, seed 7), compact). The reference is found
 * at $INTENTUS_REFERENCE, else ../../shared/reference/python (from bench/).
 * Every directory records go to is fresh, on tmpfs (/dev/shm) for the rows
 * without fsync, so both sides measure their own code rather than a disk;
 * the fsync rows run on $TMPDIR's file system (that is their point) and
 * compare with the fsync floor measured on it in the same repetition.
 *
 * Each repetition runs every row once, reference and intentus back to back,
 * and the ratios are taken per repetition (bench.h). Nothing is asserted. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/buf.h"
#include "core/json.h"
#include "tui/bench_fixture.h"
#include "tui/bench_measure.h"

#define PAYLOAD 200
#define SEED 7

struct ref_run {
    double mean_us, p50_us, p99_us, per_sec, file_bytes;
};

/* A fresh directory on tmpfs (else under tmp_root) into out. */
static int
shm_dir(struct bench *b, const char *what, char *out, size_t size)
{
    struct stat st;

    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0) {
        snprintf(out, size, "/dev/shm/intentus-compare-%s-XXXXXX", what);
        if (mkdtemp(out) != NULL)
            return 0;
    }
    return bench_mkdir(b, what, out, size);
}

static const char *
reference_path(void)
{
    const char *ref = getenv("INTENTUS_REFERENCE");

    return ref != NULL && ref[0] ? ref : "../../shared/reference/python";
}

static double
number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* python3 ref_route.py; 0 with the figures, -1 when it cannot run (said). */
static int
ref_route(struct bench *b, size_t n, const char *mode, bool record, const char *payload,
          struct ref_run *out)
{
    char dir[512], cmd[8192], line[1024];
    cJSON *o = NULL;
    FILE *p;
    int rc = -1;

    if (shm_dir(b, "ref", dir, sizeof(dir)) != 0)
        return -1;
    snprintf(cmd, sizeof(cmd), "PYTHONPATH='%s' python3 ref_route.py %zu '%s' %s %s '%s' 2>&1",
             reference_path(), n, dir, mode, record ? "on" : "off", payload);
    p = popen(cmd, "r");
    if (p != NULL && fgets(line, sizeof(line), p) != NULL)
        o = cJSON_Parse(line);
    if (p != NULL && pclose(p) == 0 && o != NULL) {
        out->mean_us = number(o, "mean_us");
        out->p50_us = number(o, "p50_us");
        out->p99_us = number(o, "p99_us");
        out->per_sec = number(o, "per_sec");
        out->file_bytes = number(o, "file_bytes");
        rc = out->mean_us > 0 ? 0 : -1;
    }
    if (rc != 0)
        fprintf(stderr, "bench: the reference's router (%s, record %s) did not run: %s", mode,
                record ? "on" : "off", o == NULL ? line : "no figures\n");
    cJSON_Delete(o);
    bench_rmtree(dir);
    return rc;
}

/* intentus's side of a row: bm_route into a fresh directory (tmpfs unless
 * on_disk). */
static int
ours_chunk(struct bench *b, struct config *cfg, const char *intent, enum strategy s,
           enum bm_record rec, bool do_fsync, bool on_disk, size_t n, size_t submitters,
           size_t chunk, struct bm_route_result *out)
{
    struct intentus_err err = { 0 };
    char dir[512] = "";
    int rc;

    if (rec != BM_RECORD_OFF && (on_disk ? bench_mkdir(b, "ours", dir, sizeof(dir))
                                         : shm_dir(b, "ours", dir, sizeof(dir))) != 0)
        return -1;
    rc = bm_route(cfg->registry,
                  &(struct bm_route_opts){ .intent = intent,
                                           .strategy = s,
                                           .payload = PAYLOAD,
                                           .payload_seed = SEED,
                                           .record = rec,
                                           .fsync = do_fsync,
                                           .dir = dir,
                                           .n = n,
                                           .submitters = submitters,
                                           .settle = submitters > 0,
                                           .chunk = chunk },
                  out, &err);
    if (rc != 0)
        fprintf(stderr, "bench: compare, %s: %s\n", intent, err.msg);
    if (dir[0])
        bench_rmtree(dir);
    return rc;
}

/* Every envelope built before the first is routed (chunks of 4,096), as
 * the reference's side builds them: each is cold in cache when routed. */
static int
ours(struct bench *b, struct config *cfg, const char *intent, enum strategy s, enum bm_record rec,
     bool do_fsync, bool on_disk, size_t n, size_t submitters, struct bm_route_result *out)
{
    return ours_chunk(b, cfg, intent, s, rec, do_fsync, on_disk, n, submitters, 0, out);
}

static int
floor_files(struct bench *b, bool on_disk, size_t n, size_t size, bool do_fsync, double *per_sec)
{
    struct intentus_err err = { 0 };
    char dir[512];
    int rc;

    if ((on_disk ? bench_mkdir(b, "floor", dir, sizeof(dir))
                 : shm_dir(b, "floor", dir, sizeof(dir))) != 0)
        return -1;
    rc = bm_floor(dir, n, size, do_fsync, per_sec, &err);
    if (rc != 0)
        fprintf(stderr, "bench: compare floor: %s\n", err.msg);
    bench_rmtree(dir);
    return rc;
}

static void
fig(struct bench *b, const char *name, const char *unit, const double *v, int n, bool hib,
    const char *note)
{
    struct bench_fig *f = bench_add(b, "compare", name, unit, v, n, hib);

    if (f != NULL && note != NULL)
        snprintf(f->note, sizeof(f->note), "%s", note);
}

enum {
    R_DIRECT_OFF,
    R_FALLBACK_OFF,
    R_DIRECT_SYNC,
    R_FALLBACK_SYNC,
    N_REF,
};

int
bench_compare(struct bench *b)
{
    struct intentus_err err = { 0 };
    struct config *cfg = bench_config(&err);
    struct ref_run ref[N_REF][BENCH_MAX_REPS];
    struct bm_route_result us[N_REF][BENCH_MAX_REPS], warm[BENCH_MAX_REPS], mem[BENCH_MAX_REPS],
        async[BENCH_MAX_REPS], fs_sync[BENCH_MAX_REPS], fs_one[BENCH_MAX_REPS],
        fs_eight[BENCH_MAX_REPS];
    struct bm_hash_result h[3][BENCH_MAX_REPS];
    double fl[BENCH_MAX_REPS], fl_fsync[BENCH_MAX_REPS], mem_floor_ns[BENCH_MAX_REPS],
        v[BENCH_MAX_REPS];
    static const size_t hash_sizes[3] = { 200, 2048, 65536 };
    size_t n_off = b->quick ? 2000 : 20000, n_sync = b->quick ? 300 : 2000;
    size_t n_fsync = b->quick ? 20 : 100, n_fsync8 = b->quick ? 80 : 400;
    char payload_path[600], name[128];
    struct buf text = BUF_INIT;
    cJSON *payload = NULL;
    bool have_ref = true;
    int reps = b->reps_slow, rc = -1;

    if (cfg == NULL) {
        fprintf(stderr, "bench: config: %s\n", err.msg);
        return -1;
    }
    /* The payload both sides route, byte for byte. */
    snprintf(payload_path, sizeof(payload_path), "%s/compare-payload.json", b->tmp_root);
    payload = bench_payload(PAYLOAD, SEED, true);
    if (payload == NULL || json_print_compact(payload, &text) != 0) {
        fprintf(stderr, "bench: compare: cannot build the payload\n");
        goto out;
    }
    {
        FILE *f = fopen(payload_path, "w");
        if (f == NULL || fwrite(text.data, 1, text.len, f) != text.len || fclose(f) != 0) {
            fprintf(stderr, "bench: compare: cannot write %s\n", payload_path);
            goto out;
        }
    }
    for (int r = 0; r < reps; r++) {
        static const struct {
            const char *mode, *intent;
            enum strategy s;
            bool record;
        } rows[N_REF] = {
            { "direct", "bench.echo", STRATEGY_DIRECT, false },
            { "fallback", "bench.fallback", STRATEGY_FALLBACK, false },
            { "direct", "bench.echo", STRATEGY_DIRECT, true },
            { "fallback", "bench.fallback", STRATEGY_FALLBACK, true },
        };
        for (int i = 0; i < N_REF; i++) {
            size_t n = rows[i].record ? n_sync : n_off;
            if (have_ref &&
                ref_route(b, n, rows[i].mode, rows[i].record, payload_path, &ref[i][r]) != 0) {
                have_ref = false;
                bench_note(b,
                           "compare: the reference's router did not run (python3 and the "
                           "reference at $INTENTUS_REFERENCE are needed): its rows are left out");
            }
            if (ours(b, cfg, rows[i].intent, rows[i].s,
                     rows[i].record ? BM_RECORD_SYNC : BM_RECORD_OFF, false, false, n, 0,
                     &us[i][r]) != 0)
                goto out;
        }
        /* Recording off once more, each envelope routed as soon as it is
         * built; and the memory floor of the cold envelopes. */
        if (ours_chunk(b, cfg, "bench.echo", STRATEGY_DIRECT, BM_RECORD_OFF, false, false, n_off, 0,
                       1, &warm[r]) != 0)
            goto out;
        if (bm_envelope_floor(&(struct bm_route_opts){ .intent = "bench.echo",
                                                       .strategy = STRATEGY_DIRECT,
                                                       .payload = PAYLOAD,
                                                       .payload_seed = SEED,
                                                       .n = n_off },
                              &mem_floor_ns[r], &err) != 0) {
            fprintf(stderr, "bench: compare, memory floor: %s\n", err.msg);
            goto out;
        }
        if (ours(b, cfg, "bench.echo", STRATEGY_DIRECT, BM_RECORD_MEMORY, false, false, n_off, 0,
                 &mem[r]) != 0 ||
            ours(b, cfg, "bench.echo", STRATEGY_DIRECT, BM_RECORD_ASYNC, false, false, n_sync, 0,
                 &async[r]) != 0 ||
            floor_files(b, false, n_sync, (size_t)us[R_DIRECT_SYNC][r].file_bytes, false, &fl[r]) !=
                0)
            goto out;
        /* fsync: on the disk under $TMPDIR, floor first. */
        if (floor_files(b, true, n_fsync, (size_t)us[R_DIRECT_SYNC][r].file_bytes, true,
                        &fl_fsync[r]) != 0 ||
            ours(b, cfg, "bench.echo", STRATEGY_DIRECT, BM_RECORD_SYNC, true, true, n_fsync, 0,
                 &fs_sync[r]) != 0 ||
            ours(b, cfg, "bench.echo", STRATEGY_DIRECT, BM_RECORD_ASYNC, true, true, n_fsync, 1,
                 &fs_one[r]) != 0 ||
            ours(b, cfg, "bench.echo", STRATEGY_DIRECT, BM_RECORD_ASYNC, true, true, n_fsync8, 8,
                 &fs_eight[r]) != 0)
            goto out;
        for (int i = 0; i < 3; i++)
            if (bm_hash(hash_sizes[i], true, 0, b->quick ? 2e7 : 1e8, &h[i][r], &err) != 0) {
                fprintf(stderr, "bench: compare hash: %s\n", err.msg);
                goto out;
            }
    }

    {
        static const char *const labels[N_REF] = {
            "DIRECT, 1 in-process agent, recording off",
            "FALLBACK over 3 agents (2 fail), recording off",
            "DIRECT route + record, sync, no fsync",
            "FALLBACK 3 route + record, sync, no fsync",
        };
        static const char *const targets[N_REF] = {
            "target >= 20 (<= 0.5 us)",
            "target: intentus <= 1.5 us",
            "target >= 10",
            "target >= 10",
        };
        for (int i = 0; i < N_REF; i++) {
            if (have_ref) {
                snprintf(name, sizeof(name), "%s: reference", labels[i]);
                for (int r = 0; r < reps; r++)
                    v[r] = ref[i][r].mean_us;
                fig(b, name, "us/op", v, reps, false, NULL);
            }
            snprintf(name, sizeof(name), "%s: intentus", labels[i]);
            for (int r = 0; r < reps; r++)
                v[r] = us[i][r].mean_us;
            fig(b, name, "us/op", v, reps, false, NULL);
            if (have_ref) {
                snprintf(name, sizeof(name), "%s: times the reference", labels[i]);
                for (int r = 0; r < reps; r++)
                    v[r] = ref[i][r].mean_us / us[i][r].mean_us;
                fig(b, name, "x", v, reps, true, targets[i]);
            }
        }
    }
    for (int r = 0; r < reps; r++)
        v[r] = mem_floor_ns[r] / 1e3;
    fig(b, "memory floor: what DIRECT reads of each cold envelope, no logic", "us/op", v, reps,
        false, "the same 4,096 envelopes at a time; their members, keys and strings");
    for (int r = 0; r < reps; r++)
        v[r] = mem_floor_ns[r] / 1e3 / us[0][r].mean_us;
    fig(b, "DIRECT, recording off: share of it that is the memory floor", "ratio", v, reps, true,
        NULL);
    for (int r = 0; r < reps; r++)
        v[r] = warm[r].mean_us;
    fig(b, "DIRECT, recording off, each envelope routed as soon as built: intentus", "us/op", v,
        reps, false, "in cache, as a server routes a request it has just parsed");
    for (int r = 0; r < reps; r++)
        v[r] = mem[r].mean_us;
    fig(b, "DIRECT, record built, not kept: intentus", "us/op", v, reps, false,
        "target <= 4 us (recorder + envelope hash, sampled out)");
    for (int r = 0; r < reps; r++)
        v[r] = 1e6 / fl[r];
    fig(b, "file floor: temp file + write + rename (record-sized), tmpfs", "us/file", v, reps,
        false, NULL);
    for (int r = 0; r < reps; r++)
        v[r] = us[R_DIRECT_SYNC][r].per_sec / fl[r];
    fig(b, "DIRECT route + record, sync: ratio to the file floor", "ratio", v, reps, true,
        "target >= 0.6");
    for (int r = 0; r < reps; r++)
        v[r] = async[r].per_sec / us[R_DIRECT_SYNC][r].per_sec;
    fig(b, "async writer throughput vs sync (DIRECT, no fsync)", "ratio", v, reps, true,
        "target >= 1.5");
    for (int r = 0; r < reps; r++)
        v[r] = async[r].p99_us;
    fig(b, "async writer: caller latency p99", "us", v, reps, false, "target <= 20 us");
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof(name),
                 "canonical JSON + SHA-256, %zu B payload (%zu B canonical), "
                 "vs SHA-256 alone",
                 hash_sizes[i], h[i][0].canonical_bytes);
        for (int r = 0; r < reps; r++)
            v[r] = h[i][r].floor_ns / h[i][r].ns;
        fig(b, name, "ratio", v, reps, true, "target >= 0.5");
    }
    for (int r = 0; r < reps; r++)
        v[r] = fs_sync[r].per_sec / fl_fsync[r];
    fig(b, "with fsync: DIRECT route + record (sync) vs fsync floor", "ratio", v, reps, true,
        "floor: temp file, write, fsync, rename, fsync directory");
    for (int r = 0; r < reps; r++)
        v[r] = fs_one[r].per_sec / fl_fsync[r];
    fig(b, "with fsync: async, 1 submitter, acknowledged, vs fsync floor", "ratio", v, reps, true,
        "target >= 0.9");
    for (int r = 0; r < reps; r++)
        v[r] = fs_eight[r].per_sec / fl_fsync[r];
    fig(b, "with fsync: async, 8 submitters, acknowledged, vs fsync floor", "ratio", v, reps, true,
        "target >= 3 (group commit)");
    for (int r = 0; r < reps; r++)
        v[r] = fs_eight[r].per_commit;
    fig(b, "with fsync: async, 8 submitters: records per group commit", "records", v, reps, true,
        NULL);
    if (have_ref) {
        for (int r = 0; r < reps; r++)
            v[r] = ref[R_DIRECT_SYNC][r].file_bytes;
        fig(b, "record file for the same DIRECT execution: reference", "bytes", v, reps, false,
            NULL);
    }
    for (int r = 0; r < reps; r++)
        v[r] = us[R_DIRECT_SYNC][r].file_bytes;
    fig(b, "record file for the same DIRECT execution: intentus", "bytes", v, reps, false, NULL);
    rc = 0;
out:
    unlink(payload_path);
    cJSON_Delete(payload);
    buf_free(&text);
    config_free(cfg);
    return rc;
}
