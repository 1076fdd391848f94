/* The persistent record index (watch/index_db.h): it agrees with a brute
 * force read of the files (counts, per-agent attempts by code, filters) on
 * generated records with corrupt files, a symlink and a FIFO mixed in; a
 * deleted, truncated, garbage or foreign-version index is rebuilt with the
 * same answers; changes made while it was closed show on the next open; two
 * processes indexing one directory at once agree; an unwritable record
 * directory puts the index in the cache folder. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/digest.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/tailer.h"

#define BASE_US 1790000000000000ll

static void
gen(const char *dir, unsigned from, unsigned n)
{
    for (unsigned i = from; i < from + n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, i, BASE_US);
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
}

static void
put(const char *dir, const char *name, const char *text)
{
    char p[4096];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(tu_write_file(p, text, strlen(text), 0600), 0);
}

/* A directory of n generated records plus the files that are not records. */
static char *
make_dir(unsigned n)
{
    char *dir = tu_mkdtemp(), p[4096];

    gen(dir, 0, n);
    put(dir, "00000000-0000-4000-8000-00000000bad1.json", "{\"header\": ");
    put(dir, "00000000-0000-4000-8000-00000000bad2.json", "not json at all");
    put(dir, "00000000-0000-4000-8000-00000000bad3.json", "{\"header\": {}}");
    snprintf(p, sizeof(p), "%s/00000000-0000-4000-8000-0000000fifo1.json", dir);
    assert_int_equal(mkfifo(p, 0600), 0);
    snprintf(p, sizeof(p), "%s/00000000-0000-4000-8000-0000000link1.json", dir);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    put(dir, "notes.txt", "not a record name");
    return dir;
}

static int
load_into(void *ctx, const struct digest *d)
{
    return index_upsert(ctx, d, NULL);
}

struct summary {
    struct buf b;
};

static int
sum_row(void *ctx, const struct index_view *v)
{
    struct buf *b = ctx;

    buf_printf(b, "%s %lld %s %s %d %s %d %d %u %llu |", v->id, (long long)v->created_us,
               v->intent ? v->intent : "-", v->agent ? v->agent : "-", (int)v->status,
               v->error_code ? v->error_code : "-", v->attempts, v->retries, v->flags,
               (unsigned long long)v->file_size);
    for (size_t i = 0; i < v->n_steps; i++)
        buf_printf(b, " %d/%u/%u", v->steps[i].latency_us, v->steps[i].kind, v->steps[i].is_retry);
    buf_puts(b, "\n");
    return 0;
}

/* Per agent and code, how many attempts; read in time order. */
static int
sum_attempts(void *ctx, const struct index_view *v)
{
    (void)ctx;
    (void)v;
    return 0;
}

/* Everything a command could ask of ix, as text. */
static char *
summarize(const struct index *ix)
{
    struct buf b = BUF_INIT;
    struct index_filter filters[] = {
        { .status = "ok" },
        { .status = "error" },
        { .status = "corrupt" },
        { .status = "incomplete" },
        { .agent = "flaky-b" },
        { .error_code = "AGENT_TIMEOUT" },
        { .text = "0000" },
        { .since_us = BASE_US + 50000 },
        { .failed_agent = "broken-d" },
        { .intent = "search.web" },
    };
    /* Attempts per (agent, code), counted over every step. */
    struct {
        char key[128];
        unsigned n;
    } counts[256];
    size_t n_counts = 0;

    buf_printf(&b, "records %zu\n", index_size(ix));
    for (size_t i = 0; i < index_size(ix); i++) {
        struct index_view v;
        index_get(ix, i, &v);
        sum_row(&b, &v);
        for (size_t s = 0; s < v.n_steps; s++) {
            char key[128];
            size_t k;
            snprintf(key, sizeof(key), "%s %u %s", index_str(ix, v.steps[s].agent), v.steps[s].kind,
                     v.steps[s].code ? index_str(ix, v.steps[s].code) : "-");
            for (k = 0; k < n_counts && strcmp(counts[k].key, key) != 0; k++)
                ;
            if (k == n_counts && n_counts < 256) {
                snprintf(counts[k].key, sizeof(counts[k].key), "%s", key);
                counts[k].n = 0;
                n_counts++;
            }
            if (k < n_counts)
                counts[k].n++;
        }
    }
    for (size_t k = 0; k < n_counts; k++)
        buf_printf(&b, "attempts %s: %u\n", counts[k].key, counts[k].n);
    for (size_t f = 0; f < sizeof(filters) / sizeof(filters[0]); f++)
        buf_printf(&b, "filter %zu: %zu\n", f,
                   index_query(ix, &filters[f], true, 0, sum_attempts, NULL));
    return b.data;
}

static char *
brute(const char *dir)
{
    struct index *ix = index_new();
    char *s;

    assert_int_equal(tailer_index_dir(dir, ix, NULL), 0);
    s = summarize(ix);
    index_free(ix);
    return s;
}

static char *
via_db(const char *dir, struct index_db_info *info)
{
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);
    struct index *ix = index_new();
    char *s;

    if (db == NULL)
        fail_msg("index_db_open: %s", err.msg);
    assert_int_equal(index_db_each(db, 0, load_into, ix, &err), 0);
    if (info != NULL)
        *info = *index_db_info(db);
    index_db_close(db);
    s = summarize(ix);
    index_free(ix);
    return s;
}

static void
agree(const char *dir, struct index_db_info *info)
{
    char *a = brute(dir), *b = via_db(dir, info);

    assert_string_equal(b, a);
    free(a);
    free(b);
}

static void
no_diff(void *ctx, const char *id, const char *what)
{
    (void)ctx;
    fail_msg("index check: %s: %s", id, what);
}

static void
test_agrees_with_files(void **state)
{
    (void)state;
    char *dir = make_dir(400), p[4096];
    struct index_db_info info;
    struct intentus_err err = { 0 };
    struct index_db *db;
    struct stat st;

    agree(dir, &info);
    assert_int_equal(info.records, 405); /* 400 + 3 corrupt + FIFO + symlink */
    assert_int_equal(info.corrupt, 5);
    assert_int_equal(info.read, 405);
    assert_string_equal(info.rebuilt, "");
    assert_false(info.in_cache);
    assert_true(info.steps > 400);
    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite", dir);
    assert_string_equal(info.path, p);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(p, sizeof(p), "%s/.intentus", dir);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* A warm open reads nothing. */
    agree(dir, &info);
    assert_int_equal(info.read, 0);
    assert_int_equal(info.removed, 0);
    db = index_db_open(dir, false, &err);
    assert_non_null(db);
    assert_int_equal(index_db_check(db, no_diff, NULL, &err), 0);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

static void
count_diff(void *ctx, const char *id, const char *what)
{
    (void)what;
    (void)id;
    ++*(int *)ctx;
}

/* check reports a row that no longer says what its file says. */
static void
test_check_finds_a_wrong_row(void **state)
{
    (void)state;
    char *dir = make_dir(50);
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);
    sqlite3 *h;
    int diffs = 0;

    assert_non_null(db);
    index_db_close(db);
    {
        char p[4096];
        snprintf(p, sizeof(p), "%s/.intentus/index.sqlite", dir);
        assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h,
                                      "UPDATE records SET intent='forged' WHERE rid IN "
                                      "(SELECT rid FROM records WHERE corrupt IS NULL LIMIT 2)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(h);
    }
    db = index_db_open(dir, false, &err);
    assert_non_null(db);
    /* the two rows, and the counters that no longer add up to the rows */
    assert_int_equal(index_db_check(db, count_diff, &diffs, &err), 3);
    assert_int_equal(diffs, 3);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

static void
damage(const char *path, int how)
{
    int fd;
    struct stat st;

    switch (how) {
    case 0: /* deleted */
        assert_int_equal(unlink(path), 0);
        break;
    case 1: /* truncated to half */
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(truncate(path, st.st_size / 2), 0);
        break;
    case 2: /* garbage over the pages after the header */
        fd = open(path, O_WRONLY);
        assert_true(fd >= 0);
        for (off_t off = 100; off < 64 * 1024; off += 512)
            assert_int_equal(pwrite(fd, "garbage garbage garbage garbage ", 32, off), 32);
        close(fd);
        break;
    case 3: /* not SQLite at all */
        assert_int_equal(tu_write_file(path, "hello", 5, 0600), 0);
        break;
    default: { /* another schema version */
        sqlite3 *h;
        assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
        assert_int_equal(sqlite3_exec(h, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(h);
        break;
    }
    }
}

static void
test_damaged_index_is_rebuilt(void **state)
{
    (void)state;
    char *dir = make_dir(1500), path[4096];
    struct index_db_info info;

    snprintf(path, sizeof(path), "%s/.intentus/index.sqlite", dir);
    for (int how = 0; how < 5; how++) {
        agree(dir, &info); /* a current index */
        damage(path, how);
        agree(dir, &info);
        assert_int_equal(info.records, 1505);
        if (how == 0) {
            assert_int_equal(info.read, 1505); /* missing: built anew */
        } else {
            if (info.rebuilt[0] == '\0')
                fail_msg("damage %d: index trusted (read %zu)", how, info.read);
            assert_int_equal(info.read, 1505);
        }
    }
    tu_rmtree(dir);
    free(dir);
}

static void
test_changes_while_closed(void **state)
{
    (void)state;
    char *dir = make_dir(300), p[4096];
    struct index_db_info info;

    agree(dir, &info);
    gen(dir, 1000, 7);                   /* added */
    for (unsigned i = 10; i < 14; i++) { /* removed */
        struct tu_rec r;
        tu_rec_make(&r, i, BASE_US);
        snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
        assert_int_equal(unlink(p), 0);
    }
    for (unsigned i = 20; i < 23; i++) { /* changed: another record's body */
        struct tu_rec r, other;
        char *text;
        size_t len;
        tu_rec_make(&r, i, BASE_US);
        tu_rec_make(&other, i + 5000, BASE_US);
        memcpy(other.id, r.id, sizeof(r.id));
        text = tu_rec_text(&other, &len);
        snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
        assert_int_equal(tu_write_file(p, text, len, 0600), 0);
        free(text);
    }
    /* and a corrupt file repaired */
    {
        struct tu_rec r;
        char *text;
        size_t len;
        tu_rec_make(&r, 9000, BASE_US);
        snprintf(r.id, sizeof(r.id), "00000000-0000-4000-8000-00000000bad1");
        text = tu_rec_text(&r, &len);
        snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
        assert_int_equal(tu_write_file(p, text, len, 0600), 0);
        free(text);
    }
    agree(dir, &info);
    assert_int_equal(info.read, 7 + 3 + 1);
    assert_int_equal(info.removed, 4);
    assert_int_equal(info.records, 305 + 7 - 4);
    assert_int_equal(info.corrupt, 4);
    tu_rmtree(dir);
    free(dir);
}

/* Set every entry's mtime (and then the directory's) age_s seconds back. */
static void
age_dir(const char *dir, int age_s)
{
    struct timespec ts[2];
    struct dirent *de;
    DIR *d = opendir(dir);

    assert_non_null(d);
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= age_s;
    ts[1] = ts[0];
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] != '.')
            assert_int_equal(utimensat(dirfd(d), de->d_name, ts, AT_SYMLINK_NOFOLLOW), 0);
    }
    closedir(d);
    assert_int_equal(utimensat(AT_FDCWD, dir, ts, 0), 0);
}

/* A reopen skips the per-file walk only while the directory is as the last
 * trusted listing saw it; adds and removes change that; an in-place edit
 * does not, and index check finds it. */
static void
test_unchanged_dir_skips_the_walk(void **state)
{
    (void)state;
    char *dir = make_dir(200), p[4096];
    struct index_db_info info;
    struct intentus_err err = { 0 };
    struct index_db *db;
    struct tu_rec r;
    int diffs = 0;

    agree(dir, &info); /* creates .intentus/: the directory is fresh */
    assert_false(info.unchanged_dir);
    age_dir(dir, 60);
    agree(dir, &info); /* quiet for a minute: this listing is trusted */
    assert_false(info.unchanged_dir);
    agree(dir, &info);
    assert_true(info.unchanged_dir);
    assert_int_equal(info.read, 0);
    assert_int_equal(info.records, 205);
    assert_int_equal(info.corrupt, 5);

    gen(dir, 5000, 3); /* renamed in: the directory changed */
    agree(dir, &info);
    assert_false(info.unchanged_dir);
    assert_int_equal(info.read, 3);
    age_dir(dir, 60);
    agree(dir, &info);
    tu_rec_make(&r, 7, BASE_US);
    snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
    assert_int_equal(unlink(p), 0);
    agree(dir, &info);
    assert_false(info.unchanged_dir);
    assert_int_equal(info.removed, 1);
    assert_int_equal(info.records, 207);

    /* A file still written in place within the quiet time: not trusted. */
    age_dir(dir, 60);
    put(dir, "00000000-0000-4000-8000-00000000bad2.json", "{\"header\": {\"exec");
    age_dir(dir, 60);
    tu_rec_make(&r, 8, BASE_US);
    snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
    assert_int_equal(utimensat(AT_FDCWD, p, NULL, 0), 0); /* touched in place just now */
    agree(dir, &info);
    agree(dir, &info);
    assert_false(info.unchanged_dir);

    /* Trusted again; then an in-place rewrite the fast path cannot see. */
    age_dir(dir, 60);
    agree(dir, &info);
    agree(dir, &info);
    assert_true(info.unchanged_dir);
    tu_rec_make(&r, 9, BASE_US);
    snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
    put(dir, strrchr(p, '/') + 1, "{\"rewritten\": true}");
    db = index_db_open(dir, false, &err);
    assert_non_null(db);
    assert_true(index_db_info(db)->unchanged_dir);
    assert_int_equal(index_db_check(db, count_diff, &diffs, &err), 1);
    assert_int_equal(diffs, 1);
    index_db_close(db);
    tu_rmtree(dir);
    free(dir);
}

/* Drain t into ix until summarize(ix) is want, at most 15 s. */
static bool
drain_until(struct tailer *t, struct index *ix, const char *want)
{
    for (int i = 0; i < 1500; i++) {
        struct pollfd p = { .fd = tailer_fd(t), .events = POLLIN };
        struct tailer_stats ts;
        char *got;
        bool same;
        (void)poll(&p, 1, 10);
        tailer_drain_into(t, ix);
        tailer_get_stats(t, &ts);
        if (ts.syncs == 0)
            continue;
        got = summarize(ix);
        same = strcmp(got, want) == 0;
        free(got);
        if (same)
            return true;
    }
    return false;
}

static void
remove_index(const char *dir)
{
    char p[4200];

    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite", dir);
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite-wal", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite-shm", dir);
    unlink(p);
}

/* A tailer with use_index starts from the index (its rows are the model:
 * the same as reading every file) and keeps it current: records added,
 * changed in place and removed while it runs are in the index when it
 * stops, so the next open has nothing to read or remove. An index deleted
 * while it runs is rebuilt by the next open with the same answers. */
static void
test_tailer_keeps_index_current(void **state)
{
    (void)state;
    char *dir = make_dir(300), *want, p[4096];
    struct tailer_opts o = { .use_index = true, .retries = -1 };
    struct index_db_info info;
    struct intentus_err err = { 0 };
    struct index *ix = index_new();
    struct tailer *t;

    agree(dir, &info); /* an index exists before the console opens */
    want = brute(dir);
    t = tailer_start(dir, &o, &err);
    assert_non_null(t);
    assert_true(drain_until(t, ix, want));
    free(want);

    gen(dir, 2000, 40);                  /* added by rename */
    for (unsigned i = 30; i < 35; i++) { /* removed */
        struct tu_rec r;
        tu_rec_make(&r, i, BASE_US);
        snprintf(p, sizeof(p), "%s/%s.json", dir, r.id);
        assert_int_equal(unlink(p), 0);
    }
    for (unsigned i = 40; i < 43; i++) { /* rewritten in place */
        struct tu_rec r, other;
        tu_rec_make(&r, i, BASE_US);
        tu_rec_make(&other, i + 7000, BASE_US);
        memcpy(other.id, r.id, sizeof(r.id));
        assert_int_equal(tu_rec_write(dir, &other, false), 0);
    }
    want = brute(dir);
    assert_true(drain_until(t, ix, want));
    free(want);
    tailer_stop(t);

    agree(dir, &info);
    assert_int_equal(info.read, 0); /* the tailer had indexed every change */
    assert_int_equal(info.removed, 0);
    assert_int_equal(info.records, 305 + 40 - 5);

    /* The index deleted while a tailer keeps it: rebuilt, same answers. */
    index_free(ix);
    ix = index_new();
    t = tailer_start(dir, &o, &err);
    assert_non_null(t);
    want = brute(dir);
    assert_true(drain_until(t, ix, want));
    free(want);
    remove_index(dir);
    gen(dir, 3000, 10);
    want = brute(dir);
    assert_true(drain_until(t, ix, want));
    free(want);
    tailer_stop(t);
    agree(dir, &info);
    assert_int_equal(info.read, info.records); /* built afresh from the files */
    assert_int_equal(info.records, 305 + 40 - 5 + 10);

    /* The index cut to nothing and then overwritten with garbage while a
     * tailer keeps it: the next open gives the same answers as the files. */
    index_free(ix);
    ix = index_new();
    t = tailer_start(dir, &o, &err);
    assert_non_null(t);
    want = brute(dir);
    assert_true(drain_until(t, ix, want));
    free(want);
    snprintf(p, sizeof(p), "%s/.intentus/index.sqlite", dir);
    assert_int_equal(truncate(p, 0), 0);
    gen(dir, 3100, 5);
    want = brute(dir);
    assert_true(drain_until(t, ix, want));
    free(want);
    assert_int_equal(tu_write_file(p, "garbage, not SQLite", 19, 0600), 0);
    gen(dir, 3200, 5);
    want = brute(dir);
    assert_true(drain_until(t, ix, want));
    free(want);
    tailer_stop(t);
    agree(dir, &info);
    assert_int_equal(info.records, 305 + 40 - 5 + 20);

    /* A quiet, trusted directory; the tailer sees a corrupt file repaired
     * in place (the directory's mtime stays): the next open must not take
     * the stored counts. */
    age_dir(dir, 60);
    agree(dir, &info);
    agree(dir, &info);
    assert_true(info.unchanged_dir);
    assert_int_equal(info.corrupt, 5);
    index_free(ix);
    ix = index_new();
    t = tailer_start(dir, &o, &err);
    assert_non_null(t);
    want = brute(dir);
    assert_true(drain_until(t, ix, want));
    free(want);
    {
        struct tu_rec r;
        tu_rec_make(&r, 9100, BASE_US);
        snprintf(r.id, sizeof(r.id), "00000000-0000-4000-8000-00000000bad1");
        assert_int_equal(tu_rec_write(dir, &r, false), 0);
    }
    want = brute(dir);
    assert_true(drain_until(t, ix, want));
    free(want);
    tailer_stop(t);
    agree(dir, &info);
    assert_false(info.unchanged_dir);
    assert_int_equal(info.read, 0);
    assert_int_equal(info.corrupt, 4);
    assert_int_equal(info.records, 305 + 40 - 5 + 20);
    index_free(ix);
    tu_rmtree(dir);
    free(dir);
}

/* Two processes open (and so build) one fresh index at the same moment. */
static void
test_two_processes(void **state)
{
    (void)state;
    char *dir = make_dir(3000), *want = brute(dir);
    pid_t kids[2];

    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            struct intentus_err err = { 0 };
            struct index_db *db;
            struct index *ix = index_new();
            char *got;
            alarm(60);
            db = index_db_open(dir, false, &err);
            if (db == NULL || index_db_each(db, 0, load_into, ix, &err) != 0) {
                fprintf(stderr, "child %d: %s\n", k, err.msg);
                _exit(3);
            }
            index_db_close(db);
            got = summarize(ix);
            _exit(strcmp(got, want) == 0 ? 0 : 4);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    agree(dir, NULL);
    free(want);
    tu_rmtree(dir);
    free(dir);
}

/* A read-only record directory: the index goes to $XDG_CACHE_HOME/intentus. */
static void
test_unwritable_dir_uses_cache(void **state)
{
    (void)state;
    char *dir = make_dir(100), *cache = tu_mkdtemp(), *want = brute(dir);
    pid_t kid;
    int status;

    kid = fork();
    assert_true(kid >= 0);
    if (kid == 0) {
        struct index_db_info info;
        char *got, p[4096];
        struct stat st;
        alarm(60);
        if (geteuid() == 0) {
            if (unshare(CLONE_NEWNS) != 0 ||
                mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
                mount(dir, dir, NULL, MS_BIND, NULL) != 0 ||
                mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0)
                _exit(5);
        } else if (chmod(dir, 0555) != 0) {
            _exit(5);
        }
        setenv("XDG_CACHE_HOME", cache, 1);
        got = via_db(dir, &info);
        if (!info.in_cache || strncmp(info.path, cache, strlen(cache)) != 0)
            _exit(6);
        snprintf(p, sizeof(p), "%s/.intentus", dir);
        if (lstat(p, &st) == 0)
            _exit(7);
        if (stat(info.path, &st) != 0 || (st.st_mode & 0777) != 0600)
            _exit(8);
        if (strcmp(got, want) != 0)
            _exit(4);
        /* warm: the same file, nothing read */
        free(got);
        got = via_db(dir, &info);
        _exit(strcmp(got, want) == 0 && info.read == 0 ? 0 : 9);
    }
    assert_int_equal(waitpid(kid, &status, 0), kid);
    if (geteuid() != 0)
        chmod(dir, 0700);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 5) {
        print_message("# needs a private mount namespace (root) or a non-root user to make the "
                      "record directory read-only\n");
        free(want);
        tu_rmtree(dir);
        tu_rmtree(cache);
        free(dir);
        free(cache);
        skip();
    }
    assert_int_equal(WEXITSTATUS(status), 0);
    free(want);
    tu_rmtree(dir);
    tu_rmtree(cache);
    free(dir);
    free(cache);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agrees_with_files),
        cmocka_unit_test(test_check_finds_a_wrong_row),
        cmocka_unit_test(test_damaged_index_is_rebuilt),
        cmocka_unit_test(test_changes_while_closed),
        cmocka_unit_test(test_unchanged_dir_skips_the_walk),
        cmocka_unit_test(test_tailer_keeps_index_current),
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_unwritable_dir_uses_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
