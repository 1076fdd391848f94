/* Harness helpers: clocks, statistics, temp directories, memory, and the
 * read-and-parse floor shared by the watcher, console and retention
 * figures. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "tui/bench_measure.h"

int64_t
bench_now_ns(void)
{
    return bm_now_ns();
}

struct bench_fig *
bench_add(struct bench *b, const char *section, const char *name, const char *unit, const double *v,
          int n, bool higher_is_better)
{
    struct bench_fig *f;

    if (b->n_figs == b->cap_figs) {
        size_t cap = b->cap_figs ? b->cap_figs * 2 : 64;
        struct bench_fig *p = realloc(b->figs, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        b->figs = p;
        b->cap_figs = cap;
    }
    f = &b->figs[b->n_figs++];
    memset(f, 0, sizeof(*f));
    snprintf(f->section, sizeof(f->section), "%s", section);
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->unit, sizeof(f->unit), "%s", unit);
    f->n = n < BENCH_MAX_REPS ? n : BENCH_MAX_REPS;
    memcpy(f->v, v, (size_t)f->n * sizeof(*v));
    f->higher_is_better = higher_is_better;
    return f;
}

void
bench_note(struct bench *b, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    char **p = realloc(b->notes, (b->n_notes + 1) * sizeof(*p));

    if (p == NULL)
        return;
    b->notes = p;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) >= 0)
        b->notes[b->n_notes++] = s;
    va_end(ap);
}

static int
cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b ? 1 : 0;
}

void
bench_stats(const double *v, int n, double *median, double *min, double *max)
{
    double s[BENCH_MAX_REPS];

    if (n <= 0) {
        *median = *min = *max = 0;
        return;
    }
    memcpy(s, v, (size_t)n * sizeof(*v));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    *min = s[0];
    *max = s[n - 1];
    *median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double
bench_percentile(double *v, size_t n, double p)
{
    return bm_percentile(v, n, p);
}

int
bench_mkdir(struct bench *b, const char *what, char *out, size_t size)
{
    snprintf(out, size, "%s/%s-%d", b->tmp_root, what, b->seq++);
    if (mkdir(out, 0700) != 0) {
        fprintf(stderr, "bench: cannot create %s: %s\n", out, strerror(errno));
        return -1;
    }
    return 0;
}

void
bench_rmtree(const char *path)
{
    bm_rmtree(path);
}

size_t
bench_heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

size_t
bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &rss) != 2)
        rss = 0;
    fclose(f);
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static bool
is_record_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".json") == 0;
}

static int
cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int
bench_link_subset(const char *src, const char *dst, size_t n)
{
    DIR *d = opendir(src);
    struct dirent *de;
    char **names = NULL;
    size_t count = 0, cap = 0;
    int rc = -1, sfd = -1, dfd = -1;

    if (d == NULL || mkdir(dst, 0700) != 0)
        goto out;
    while ((de = readdir(d)) != NULL) {
        if (!is_record_name(de->d_name))
            continue;
        if (count == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 1024) * sizeof(*p));
            if (p == NULL)
                goto out;
            names = p;
        }
        if ((names[count] = strdup(de->d_name)) == NULL)
            goto out;
        count++;
    }
    qsort(names, count, sizeof(*names), cmp_str);
    sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0 || dfd < 0)
        goto out;
    for (size_t i = 0; i < count && i < n; i++)
        if (linkat(sfd, names[i], dfd, names[i], 0) != 0)
            goto out;
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "bench: cannot link %s into %s: %s\n", src, dst, strerror(errno));
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
    if (d != NULL)
        closedir(d);
    if (sfd >= 0)
        close(sfd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

long
bench_floor_read_parse(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *buf = NULL;
    size_t cap = 0;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        int fd;
        ssize_t got;
        cJSON *tree;

        if (!is_record_name(de->d_name))
            continue;
        fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        if ((size_t)st.st_size + 1 > cap) {
            char *p = realloc(buf, (size_t)st.st_size + 1);
            if (p == NULL) {
                close(fd);
                break;
            }
            buf = p;
            cap = (size_t)st.st_size + 1;
        }
        got = read(fd, buf, (size_t)st.st_size);
        close(fd);
        if (got < 0)
            continue;
        buf[got] = '\0';
        tree = cJSON_ParseWithLength(buf, (size_t)got);
        if (tree != NULL)
            n++;
        cJSON_Delete(tree);
    }
    closedir(d);
    free(buf);
    return n;
}
