/* Records landing while the console is open (issue 15):
 *
 *   intentus-bench land --dir D [--n N] [--window W] [--reps R] [--keep] [--external]
 *
 * On an existing record directory with a current persistent index (e.g.
 * one of `intentus-bench gen` and `intentus index rebuild`): a tailer as
 * the console starts it (opts.use_index, the newest W rows, default 5000),
 * drained by a consumer thread like the console's, and once it is synced R
 * rounds of N records (default 1,000) saved through the record store as
 * fast as it goes (temp file and rename, as the writer does). For each
 * round: how long the saves took, and the time from the last rename to
 *   - the index holding all N (read on a connection of its own, as the
 *     console reads it: the rows past the highest rowid before the round);
 *   - the consumer told TAILER_INDEX_COMMITTED for them;
 * plus how many transactions the tailer committed meanwhile. The records
 * written are removed again at the end (and so from the index) unless
 * --keep. With --external there is no tailer here: another process (the
 * real console, `intentus console --dir D`) is expected to keep the index
 * <D>/.intentus/index.sqlite current, and only the first lag is measured.
 * Figures on stdout; the load average beside them. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/uuid.h"
#include "watch/index.h"
#include "watch/tailer.h"

#define LAND_TEMPLATES 50

struct land {
    struct tailer *t;
    struct index *ix;
    pthread_mutex_t mu;
    bool stop, synced;
    char db_path[4096];
    long commits;        /* TAILER_INDEX_COMMITTED seen */
    int64_t last_commit; /* bench_now_ns() of the latest */
    size_t upserts;      /* TAILER_UPSERT seen */
};

static void
on_event(void *ctx, const struct tailer_event *ev)
{
    struct land *l = ctx;

    switch (ev->kind) {
    case TAILER_UPSERT:
        index_upsert(l->ix, ev->digest, NULL);
        pthread_mutex_lock(&l->mu);
        l->upserts++;
        pthread_mutex_unlock(&l->mu);
        break;
    case TAILER_REMOVE:
        index_remove(l->ix, ev->id);
        break;
    case TAILER_INDEX_OPEN:
        pthread_mutex_lock(&l->mu);
        snprintf(l->db_path, sizeof(l->db_path), "%s", ev->msg);
        pthread_mutex_unlock(&l->mu);
        break;
    case TAILER_INDEX_COMMITTED:
        pthread_mutex_lock(&l->mu);
        l->commits++;
        l->last_commit = bench_now_ns();
        pthread_mutex_unlock(&l->mu);
        break;
    case TAILER_SYNCED:
        pthread_mutex_lock(&l->mu);
        l->synced = true;
        pthread_mutex_unlock(&l->mu);
        break;
    case TAILER_NO_INDEX:
        fprintf(stderr, "intentus-bench land: the index is not used: %s\n", ev->msg ? ev->msg : "");
        break;
    default:
        break;
    }
}

/* The console's side: wait on the tailer's fd, drain. */
static void *
consumer(void *arg)
{
    struct land *l = arg;

    for (;;) {
        struct pollfd p = { .fd = tailer_fd(l->t), .events = POLLIN };
        bool stop;
        (void)poll(&p, 1, 20);
        tailer_drain(l->t, on_event, l);
        pthread_mutex_lock(&l->mu);
        stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        if (stop)
            return NULL;
    }
}

/* Up to LAND_TEMPLATES parsed records of dir (the first listed). */
static size_t
templates(const char *dir, struct rec_store *rs, cJSON **tpl)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while (n < LAND_TEMPLATES && (de = readdir(d)) != NULL) {
        struct intentus_err err = { 0 };
        char id[256];
        size_t len = strlen(de->d_name), tl;
        char *text;
        if (de->d_name[0] == '.' || len < 6 || len - 5 >= sizeof(id) ||
            strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        memcpy(id, de->d_name, len - 5);
        id[len - 5] = '\0';
        text = rec_store_read(rs, id, &tl, &err);
        if (text != NULL && (tpl[n] = json_parse(text, tl, 0, &err)) != NULL)
            n++;
        free(text);
    }
    closedir(d);
    return n;
}

static sqlite3_int64
int_query(sqlite3 *h, const char *sql, sqlite3_int64 arg)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 v = -1;

    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, arg);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static void
land_usage(void)
{
    fprintf(stderr,
            "usage: intentus-bench land --dir D [--n N] [--window W] [--reps R] [--keep]\n"
            "                           [--external]\n"
            "  On a record directory with a current index: a tailer as the console starts\n"
            "  it (the newest W rows, default 5000), then R rounds (default 3) of N records\n"
            "  (default 1000) saved as fast as they go; prints the time from the last one's\n"
            "  rename to the index holding all N and to the consumer being told they are\n"
            "  committed. The records written are removed at the end unless --keep.\n"
            "  --external: no tailer here; another process (the console) keeps the index\n"
            "  D/.intentus/index.sqlite current, and only its lag is measured.\n");
}

static bool
opt_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

static int
land_parse(int argc, char **argv, const char **dir, unsigned long *n, unsigned long *window,
           unsigned long *reps, bool *keep, bool *external)
{
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            land_usage();
            return 0;
        }
        if (strcmp(o, "--keep") == 0 || strcmp(o, "--external") == 0) {
            *(o[2] == 'k' ? keep : external) = true;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "intentus-bench land: %s needs a value\n", o);
            return 2;
        }
        i++;
        if (strcmp(o, "--n") == 0)
            ok = opt_ulong(v, 10000000UL, n) && *n > 0;
        else if (strcmp(o, "--window") == 0)
            ok = opt_ulong(v, 100000000UL, window);
        else if (strcmp(o, "--reps") == 0)
            ok = opt_ulong(v, 1000, reps) && *reps > 0;
        else if (strcmp(o, "--dir") == 0)
            ok = (*dir = v)[0] != '\0';
        else {
            fprintf(stderr, "intentus-bench land: unknown option '%s'\n", o);
            land_usage();
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "intentus-bench land: %s: '%s' is not a valid value\n", o, v);
            return 2;
        }
    }
    if (*dir == NULL) {
        fprintf(stderr, "intentus-bench land: --dir is required\n");
        land_usage();
        return 2;
    }
    return -1; /* go on */
}

static void
loadavg(char *out, size_t size)
{
    FILE *f = fopen("/proc/loadavg", "r");

    out[0] = '\0';
    if (f != NULL) {
        if (fgets(out, (int)size, f) != NULL)
            out[strcspn(out, " ")] = '\0';
        fclose(f);
    }
}

/* One round: n records saved, then the two lags. 0, or -1 (stderr says). */
static int
land_round(struct land *l, struct rec_store *rs, sqlite3 *h, cJSON **tpl, size_t n_tpl, size_t n,
           char (*ids)[UUID_STR_LEN], double *save_ms, double *index_ms, double *told_ms,
           long *commits)
{
    struct intentus_err err = { 0 };
    sqlite3_int64 base = int_query(h, "SELECT coalesce(max(rid), 0) FROM records", 0);
    long commits0;
    int64_t t0, t_last, deadline;

    pthread_mutex_lock(&l->mu);
    commits0 = l->commits;
    pthread_mutex_unlock(&l->mu);
    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        cJSON *rec = tpl[i % n_tpl], *header = cJSON_GetObjectItemCaseSensitive(rec, "header");
        uuid_v7(clock_wall_us() / 1000, ids[i]);
        if (!cJSON_ReplaceItemInObjectCaseSensitive(header, "executionId",
                                                    cJSON_CreateString(ids[i])) ||
            rec_store_save(rs, rec, &err) != 0) {
            fprintf(stderr, "intentus-bench land: saving a record: %s\n", err.msg);
            return -1;
        }
    }
    t_last = bench_now_ns();
    *save_ms = (double)(t_last - t0) / 1e6;
    *index_ms = *told_ms = -1;
    deadline = t_last + 60 * 1000000000LL;
    while (bench_now_ns() < deadline && *index_ms < 0) {
        if (int_query(h, "SELECT count(*) FROM records WHERE rid > ?", base) >= (sqlite3_int64)n)
            *index_ms = (double)(bench_now_ns() - t_last) / 1e6;
        else
            usleep(500);
    }
    while (l->t != NULL && bench_now_ns() < deadline && *told_ms < 0) {
        /* Told after the commit that made the last row visible. */
        pthread_mutex_lock(&l->mu);
        if (l->last_commit >= t_last && l->commits > commits0)
            *told_ms = (double)(l->last_commit - t_last) / 1e6;
        pthread_mutex_unlock(&l->mu);
        if (*told_ms < 0)
            usleep(500);
    }
    pthread_mutex_lock(&l->mu);
    *commits = l->commits - commits0;
    pthread_mutex_unlock(&l->mu);
    if (*index_ms < 0 || (l->t != NULL && *told_ms < 0)) {
        fprintf(stderr, "intentus-bench land: the %zu records were not all indexed in 60 s\n", n);
        return -1;
    }
    return 0;
}

int
bench_land_main(int argc, char **argv)
{
    unsigned long n = 1000, window = 5000, reps = 3;
    const char *dir = NULL;
    bool keep = false, external = false, consuming = false;
    int rc = land_parse(argc, argv, &dir, &n, &window, &reps, &keep, &external);
    struct tailer_opts o = { .use_index = true };
    struct intentus_err err = { 0 };
    struct land l = { 0 };
    struct rec_store *rs = NULL;
    cJSON *tpl[LAND_TEMPLATES];
    size_t n_tpl = 0;
    char(*ids)[UUID_STR_LEN] = NULL;
    sqlite3 *h = NULL;
    pthread_t th;
    int64_t t0;
    char load[64];

    if (rc >= 0)
        return rc;
    rc = 1;
    o.window = window;
    pthread_mutex_init(&l.mu, NULL);
    l.ix = index_new();
    rs = rec_store_open(dir, NULL, &err);
    ids = calloc(n * reps, sizeof(*ids));
    if (l.ix == NULL || rs == NULL || ids == NULL) {
        fprintf(stderr, "intentus-bench land: %s: %s\n", dir, err.msg[0] ? err.msg : "no memory");
        goto out;
    }
    if ((n_tpl = templates(dir, rs, tpl)) == 0) {
        fprintf(stderr, "intentus-bench land: no record in %s to copy\n", dir);
        goto out;
    }
    t0 = bench_now_ns();
    if (external) {
        l.synced = true;
        snprintf(l.db_path, sizeof(l.db_path), "%s/.intentus/index.sqlite", dir);
    } else if ((l.t = tailer_start(dir, &o, &err)) == NULL) {
        fprintf(stderr, "intentus-bench land: %s: %s\n", dir, err.msg);
        goto out;
    } else if (pthread_create(&th, NULL, consumer, &l) != 0) {
        fprintf(stderr, "intentus-bench land: cannot start the consumer\n");
        goto out;
    } else {
        consuming = true;
    }
    for (int64_t end = t0 + 900 * 1000000000LL; bench_now_ns() < end;) {
        bool synced;
        pthread_mutex_lock(&l.mu);
        synced = l.synced && l.db_path[0] != '\0';
        pthread_mutex_unlock(&l.mu);
        if (synced)
            break;
        usleep(2000);
    }
    if (!l.synced || l.db_path[0] == '\0' ||
        sqlite3_open_v2(l.db_path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "intentus-bench land: the tailer did not start from the index of %s\n",
                dir);
        goto stop;
    }
    sqlite3_busy_timeout(h, 5000);
    sqlite3_exec(h, "PRAGMA cache_size=-2048", NULL, NULL, NULL);
    loadavg(load, sizeof(load));
    if (external)
        printf("land: %s, indexed by another process, load %s\n", dir, load);
    else
        printf("land: %s, tailer synced in %.0f ms (window %lu), load %s\n", dir,
               (double)(bench_now_ns() - t0) / 1e6, window, load);
    rc = 0;
    for (unsigned long r = 0; r < reps && rc == 0; r++) {
        double save_ms, index_ms, told_ms;
        long commits;
        sleep(external ? 3 : 1); /* a quiet tailer before each round */
        rc = land_round(&l, rs, h, tpl, n_tpl, n, ids + r * n, &save_ms, &index_ms, &told_ms,
                        &commits);
        loadavg(load, sizeof(load));
        if (rc == 0 && external)
            printf("round %lu: %lu records saved in %.0f ms; after the last: indexed %.1f ms; "
                   "load %s\n",
                   r + 1, n, save_ms, index_ms, load);
        else if (rc == 0)
            printf("round %lu: %lu records saved in %.0f ms; after the last: indexed %.1f ms, "
                   "consumer told %.1f ms; %ld commits; load %s\n",
                   r + 1, n, save_ms, index_ms, told_ms, commits, load);
    }
    if (!keep) {
        for (size_t i = 0; i < n * reps && ids[i][0] != '\0'; i++) {
            char path[4200];
            snprintf(path, sizeof(path), "%s/%s.json", dir, ids[i]);
            (void)unlink(path);
        }
        sleep(1); /* the tailer removes their rows */
    }
stop:
    pthread_mutex_lock(&l.mu);
    l.stop = true;
    pthread_mutex_unlock(&l.mu);
    if (consuming)
        pthread_join(th, NULL);
out:
    sqlite3_close(h);
    tailer_stop(l.t);
    index_free(l.ix);
    for (size_t i = 0; i < n_tpl; i++)
        cJSON_Delete(tpl[i]);
    rec_store_close(rs);
    free(ids);
    pthread_mutex_destroy(&l.mu);
    return rc;
}
