/* 5. Retention over the whole data set (core/retention.h).
 *
 * Each repetition works on a hard-linked copy of the data set (cheap to make,
 * byte-identical files) and measures, against floors doing the same file
 * work in plain C:
 *  - the dry run (retention_plan_new: list, read and parse every record)
 *    against read + cJSON parse of every file;
 *  - apply with archive of the oldest A records (gzip level 6 to a temp
 *    file, fsync, rename, fsync the archive directory, remove the original,
 *    as retention does) against the same steps in a plain loop. A is small
 *    because every archived record costs two fsyncs;
 *  - apply with delete of the older half against a plain unlink loop over
 *    the same files.
 * The floors' files are hard links of the same records, so both sides
 * unlink a name whose inode lives on. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "bench/bench.h"
#include "core/retention.h"

struct ret_run {
    double plan_ms, floor_scan_ms;
    double arch_ms, floor_arch_ms;
    double del_ms, floor_del_ms;
    size_t archived, deleted;
};

static void
add(struct bench *b, const char *name, const char *unit, const double *v, int n, bool hib,
    const char *note)
{
    struct bench_fig *f = bench_add(b, "retention", name, unit, v, n, hib);
    if (f != NULL && note != NULL)
        snprintf(f->note, sizeof(f->note), "%s", note);
}

static double
ms_since(int64_t t0)
{
    return (double)(bench_now_ns() - t0) / 1e6;
}

/* Hard-link the planned records from src into a fresh directory. */
static int
link_planned(const struct retention_plan *plan, const char *src, const char *dst)
{
    int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC), dfd = -1, rc = -1;
    char name[160];

    if (sfd < 0 || mkdir(dst, 0700) != 0 ||
        (dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        goto out;
    for (size_t i = 0; i < retention_plan_size(plan); i++) {
        snprintf(name, sizeof(name), "%s.json", retention_plan_id(plan, i));
        if (linkat(sfd, name, dfd, name, 0) != 0)
            goto out;
    }
    rc = 0;
out:
    if (sfd >= 0)
        close(sfd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* The archive floor for one file: read, gzip, temp file, fsync, rename,
 * fsync directory, unlink the original. */
static int
floor_archive_one(int sfd, int afd, const char *id)
{
    char name[160], gz[170], tmp[180], *text = NULL;
    unsigned char *out = NULL;
    struct stat st;
    z_stream zs = { 0 };
    size_t bound;
    int fd = openat(sfd, (snprintf(name, sizeof(name), "%s.json", id), name), O_RDONLY);
    int rc = -1;

    if (fd < 0 || fstat(fd, &st) != 0 || (text = malloc((size_t)st.st_size)) == NULL ||
        read(fd, text, (size_t)st.st_size) != st.st_size)
        goto out;
    close(fd);
    fd = -1;
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        goto out;
    bound = deflateBound(&zs, (uLong)st.st_size) + 64;
    if ((out = malloc(bound)) == NULL)
        goto out_z;
    zs.next_in = (Bytef *)text;
    zs.avail_in = (uInt)st.st_size;
    zs.next_out = out;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        goto out_z;
    snprintf(gz, sizeof(gz), "%s.gz", name);
    snprintf(tmp, sizeof(tmp), ".%s.tmp", gz);
    fd = openat(afd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, out, zs.total_out) != (ssize_t)zs.total_out || fsync(fd) != 0)
        goto out_z;
    if (close(fd) != 0 || renameat(afd, tmp, afd, gz) != 0 || fsync(afd) != 0) {
        fd = -1;
        goto out_z;
    }
    fd = -1;
    rc = unlinkat(sfd, name, 0);
out_z:
    deflateEnd(&zs);
out:
    if (fd >= 0)
        close(fd);
    free(text);
    free(out);
    return rc;
}

static int
floor_archive(const struct retention_plan *plan, const char *src, const char *arch)
{
    int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC), afd = -1, rc = 0;

    if (sfd < 0 || mkdir(arch, 0700) != 0 ||
        (afd = open(arch, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < retention_plan_size(plan); i++)
        rc = floor_archive_one(sfd, afd, retention_plan_id(plan, i));
    if (sfd >= 0)
        close(sfd);
    if (afd >= 0)
        close(afd);
    return rc;
}

static int
floor_delete(const struct retention_plan *plan, const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    char name[160];

    if (dfd < 0)
        return -1;
    for (size_t i = 0; rc == 0 && i < retention_plan_size(plan); i++) {
        snprintf(name, sizeof(name), "%s.json", retention_plan_id(plan, i));
        rc = unlinkat(dfd, name, 0);
    }
    close(dfd);
    return rc;
}

static int
one_rep(struct bench *b, const char *dataset, size_t n, size_t n_archive, struct ret_run *out)
{
    struct intentus_err err = { 0 };
    struct retention_plan *pa = NULL, *pd = NULL;
    struct retention_report done = { 0 };
    char w[512], f1[560], f2[560], fa[560], aa[560];
    int64_t t0;
    int rc = -1;

    if (bench_mkdir(b, "ret-work", w, sizeof(w)) != 0)
        return -1;
    bench_rmtree(w);
    snprintf(f1, sizeof(f1), "%s.floor-arch-src", w);
    snprintf(fa, sizeof(fa), "%s.floor-arch", w);
    snprintf(aa, sizeof(aa), "%s.archive", w);
    snprintf(f2, sizeof(f2), "%s.floor-del", w);
    if (bench_link_subset(dataset, w, n) != 0)
        goto out;
    t0 = bench_now_ns();
    if (bench_floor_read_parse(w) != (long)n)
        goto out;
    out->floor_scan_ms = ms_since(t0);
    t0 = bench_now_ns();
    pa = retention_plan_new(
        w, &(struct retention_policy){ RETENTION_NONE, (int64_t)(n - n_archive), RETENTION_NONE },
        0, &err);
    if (pa == NULL)
        goto out;
    out->plan_ms = ms_since(t0);
    if (link_planned(pa, dataset, f1) != 0)
        goto out;
    t0 = bench_now_ns();
    if (floor_archive(pa, f1, fa) != 0)
        goto out;
    out->floor_arch_ms = ms_since(t0);
    t0 = bench_now_ns();
    if (retention_apply(pa, &(struct retention_apply_opts){ .archive_dir = aa }, &done, &err) != 0)
        goto out;
    out->arch_ms = ms_since(t0);
    out->archived = done.count;
    retention_report_free(&done);
    memset(&done, 0, sizeof(done));
    pd = retention_plan_new(
        w,
        &(struct retention_policy){ RETENTION_NONE, (int64_t)(n - n_archive) / 2, RETENTION_NONE },
        0, &err);
    if (pd == NULL || link_planned(pd, dataset, f2) != 0)
        goto out;
    t0 = bench_now_ns();
    if (floor_delete(pd, f2) != 0)
        goto out;
    out->floor_del_ms = ms_since(t0);
    t0 = bench_now_ns();
    if (retention_apply(pd, NULL, &done, &err) != 0)
        goto out;
    out->del_ms = ms_since(t0);
    out->deleted = done.count;
    rc = out->archived == n_archive && out->deleted == retention_plan_size(pd) ? 0 : -1;
out:
    if (rc != 0)
        fprintf(stderr, "bench: retention in %s failed: %s\n", w, err.msg[0] ? err.msg : "");
    retention_report_free(&done);
    retention_plan_free(pa);
    retention_plan_free(pd);
    bench_rmtree(w);
    bench_rmtree(f1);
    bench_rmtree(fa);
    bench_rmtree(aa);
    bench_rmtree(f2);
    return rc;
}

int
bench_retention(struct bench *b, const char *dataset, size_t n)
{
    size_t n_archive = b->quick ? 20 : 200;
    struct ret_run run[BENCH_MAX_REPS];
    double v[6][BENCH_MAX_REPS];
    int reps = b->reps_slow;
    char name[128];

    if (n < 4 * n_archive)
        n_archive = n / 4;
    for (int r = 0; r < reps; r++) {
        if (one_rep(b, dataset, n, n_archive, &run[r]) != 0)
            return -1;
        v[0][r] = (double)n / (run[r].plan_ms / 1e3);
        v[1][r] = run[r].floor_scan_ms / run[r].plan_ms;
        v[2][r] = (double)run[r].archived / (run[r].arch_ms / 1e3);
        v[3][r] = run[r].floor_arch_ms / run[r].arch_ms;
        v[4][r] = (double)run[r].deleted / (run[r].del_ms / 1e3);
        v[5][r] = run[r].floor_del_ms / run[r].del_ms;
    }
    snprintf(name, sizeof(name), "dry run (plan) over %zu records", n);
    add(b, name, "rec/s", v[0], reps, true, NULL);
    for (int r = 0; r < reps; r++)
        v[0][r] = run[r].plan_ms;
    snprintf(name, sizeof(name), "dry run over %zu records: time", n);
    add(b, name, "ms", v[0], reps, false, NULL);
    add(b, "dry run: ratio floor (read + cJSON parse) time / plan time", "ratio", v[1], reps, true,
        NULL);
    snprintf(name, sizeof(name), "apply archive, oldest %zu of %zu", n_archive, n);
    add(b, name, "rec/s", v[2], reps, true, "gzip + fsync file + fsync directory per record");
    add(b, "apply archive: ratio floor time / intentus time", "ratio", v[3], reps, true, NULL);
    snprintf(name, sizeof(name), "apply delete, older half (%zu of %zu)", run[0].deleted,
             n - n_archive);
    add(b, name, "rec/s", v[4], reps, true, NULL);
    add(b, "apply delete: ratio floor (unlink loop) time / intentus time", "ratio", v[5], reps,
        true, "retention also checks each file and logs it");
    return 0;
}
