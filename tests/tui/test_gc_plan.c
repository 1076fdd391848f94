/* records gc's plan over a directory with a persistent index
 * (watch/index_plan.h, tui/cli_records_gc.c): the plan computed in SQL
 * from the index's rows is the plan reading every file gives — generated
 * sets with corrupt files, ties in creation time, several policies and
 * filters, an index that is not current when opened, a directory holding
 * .json.gz records — and with a current index `records gc --dry-run` lists
 * nothing and opens no record file. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/retention.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "tui/cli_records.h"
#include "watch/digest.h"
#include "watch/index_db.h"
#include "watch/index_plan.h"

/* ---- counting the directory listings and record-file opens ----
 * The index's scan reads files on worker threads, so the counters and the
 * lazily looked-up real functions are touched atomically. */

static int counting;
static long n_listed, n_opened;

static bool
is_record_name(const char *path)
{
    size_t n = path != NULL ? strlen(path) : 0;

    return (n > 5 && strcmp(path + n - 5, ".json") == 0) ||
           (n > 8 && strcmp(path + n - 8, ".json.gz") == 0);
}

struct dirent *readdir(DIR *d);
struct dirent *
readdir(DIR *d)
{
    static struct dirent *(*real)(DIR *);
    struct dirent *(*fn)(DIR *) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
    struct dirent *de;

    if (fn == NULL) {
        *(void **)&fn = dlsym(RTLD_NEXT, "readdir");
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    de = fn(d);
    if (__atomic_load_n(&counting, __ATOMIC_RELAXED) && de != NULL)
        __atomic_fetch_add(&n_listed, 1, __ATOMIC_RELAXED);
    return de;
}

int openat(int fd, const char *path, int flags, ...);
int
openat(int fd, const char *path, int flags, ...)
{
    static int (*real)(int, const char *, int, ...);
    mode_t mode = 0;

    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int (*fn)(int, const char *, int, ...) = __atomic_load_n(&real, __ATOMIC_ACQUIRE);

    if (fn == NULL) {
        *(void **)&fn = dlsym(RTLD_NEXT, "openat");
        __atomic_store_n(&real, fn, __ATOMIC_RELEASE);
    }
    if (__atomic_load_n(&counting, __ATOMIC_RELAXED) && is_record_name(path))
        __atomic_fetch_add(&n_opened, 1, __ATOMIC_RELAXED);
    return fn(fd, path, flags, mode);
}

/* ---- generated sets ---- */

#define BASE_US 1790000000000000ll
#define N 240
/* record s is created at BASE + (s / 3) s: three records share each time */
#define NOW_US (BASE_US + 100 * 1000000ll)

static void
put(const char *dir, const char *name, const char *text)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(tu_write_file(path, text, strlen(text), 0644), 0);
}

static void
write_rec(const char *dir, unsigned s)
{
    struct tu_rec r;

    tu_rec_make(&r, s, BASE_US);
    r.created_us = BASE_US + (int64_t)(s / 3) * 1000000;
    assert_int_equal(tu_rec_write(dir, &r, true), 0);
}

static void
id_of(unsigned s, char *out)
{
    struct tu_rec r;

    tu_rec_make(&r, s, BASE_US);
    strcpy(out, r.id);
}

/* N records and the files a plan must not take for records: text that is
 * not JSON, a record without a creation time, a symlink, a directory, a
 * hidden temp file, a name that is not an id. */
static void
fill(const char *dir)
{
    char id[40], name[80], path[4096], target[4096];

    for (unsigned s = 0; s < N; s++)
        write_rec(dir, s);
    id_of(9001, id);
    snprintf(name, sizeof(name), "%s.json", id);
    put(dir, name, "{ not json");
    id_of(9002, id);
    snprintf(name, sizeof(name), "%s.json", id);
    put(dir, name,
        "{\"header\":{\"executionId\":\"x\"},\"envelope\":{\"intent\":{\"name\":\"demo.echo\"}}}");
    id_of(9003, id);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    id_of(0, id);
    snprintf(target, sizeof(target), "%s/%s.json", dir, id);
    assert_int_equal(symlink(target, path), 0);
    id_of(9004, id);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    assert_int_equal(mkdir(path, 0700), 0);
    put(dir, ".half-written.json.tmp", "{");
    put(dir, "not an id!.json", "{}");
}

/* Set every entry's mtime (and then the directory's) age_s seconds back:
 * quiet, so the index trusts the listing (watch/index_db.h). */
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

static void
index_now(const char *dir)
{
    struct intentus_err err = { 0 };
    struct index_db *db = index_db_open(dir, false, &err);

    if (db == NULL)
        fail_msg("index_db_open %s: %s", dir, err.msg);
    index_db_close(db);
}

/* ---- the two plans ---- */

static void
args_init(struct rec_args *a, const char *dir)
{
    memset(a, 0, sizeof(*a));
    a->cmd = "records gc";
    a->dir = dir;
    a->limit = -1;
    a->since_ms = a->older_than_ms = a->max_count = a->max_bytes = -1;
}

static bool
select_record(void *ctx, const char *id, const char *text, size_t len)
{
    struct digest *d = digest_from_text(id, text, len, NULL);
    bool match = d != NULL && cli_select_digest(ctx, d);

    digest_free(d);
    return match;
}

static void
same_report(const struct retention_report *a, const struct retention_report *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->bytes, b->bytes);
    assert_int_equal(a->kept_count, b->kept_count);
    assert_int_equal(a->kept_bytes, b->kept_bytes);
    assert_int_equal(a->skipped_corrupt, b->skipped_corrupt);
    assert_int_equal(a->not_selected, b->not_selected);
    if (a->count > 0) {
        assert_int_equal(a->oldest_us, b->oldest_us);
        assert_int_equal(a->newest_us, b->newest_us);
        assert_string_equal(a->oldest_id, b->oldest_id);
        assert_string_equal(a->newest_id, b->newest_id);
    }
    assert_int_equal(a->n_intents, b->n_intents);
    for (size_t i = 0; i < a->n_intents; i++) {
        assert_string_equal(a->intents[i].intent, b->intents[i].intent);
        assert_int_equal(a->intents[i].count, b->intents[i].count);
        assert_int_equal(a->intents[i].bytes, b->intents[i].bytes);
    }
}

/* The plan from the index's rows (1) or the files (0) with policy p and the
 * filters of a; returns how many it plans after checking they agree. A
 * directory whose rows cannot stand for it (expect_rows false) must be
 * refused by index_plan_open. */
static size_t
agree(const char *dir, const struct rec_args *a, struct retention_policy p, bool expect_rows)
{
    struct intentus_err err = { 0 };
    struct cli_select *cs = cli_records_filtered(a) ? cli_select_new(a) : NULL;
    struct retention_select sel = { select_record, cs };
    struct retention_scope scope = { .sel = cs != NULL ? &sel : NULL };
    struct index_db *db = index_db_open(dir, false, &err);
    struct index_plan *ip = NULL;
    struct retention_rows rows;
    struct retention_plan *files, *sql;
    char why[256] = "";
    size_t n;
    int rc;

    if (db == NULL)
        fail_msg("index_db_open: %s", err.msg);
    rc = index_plan_open(db, dir, cs != NULL ? cli_select_filter(cs) : NULL, &ip, &rows, NULL, why,
                         sizeof(why), &err);
    if (!expect_rows) {
        assert_int_equal(rc, 0);
        assert_non_null(strstr(why, ".json.gz"));
        index_db_close(db);
        cli_select_free(cs);
        return 0;
    }
    if (rc != 1)
        fail_msg("index_plan_open: %d %s %s", rc, why, err.msg);
    files = retention_plan_new_scoped(dir, &scope, &p, NOW_US, &err);
    assert_non_null(files);
    scope.rows = &rows;
    sql = retention_plan_new_scoped(dir, &scope, &p, NOW_US, &err);
    if (sql == NULL)
        fail_msg("plan from rows: %s", err.msg);
    n = retention_plan_size(files);
    assert_int_equal(retention_plan_size(sql), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(retention_plan_id(sql, i), retention_plan_id(files, i));
    same_report(retention_plan_report(sql), retention_plan_report(files));
    retention_plan_free(files);
    retention_plan_free(sql);
    index_plan_free(ip);
    index_db_close(db);
    cli_select_free(cs);
    return n;
}

static const struct retention_policy policies[] = {
    { 50 * 1000, RETENTION_NONE, RETENTION_NONE },     /* older than 50 s: 50 * 3 records */
    { RETENTION_NONE, 100, RETENTION_NONE },           /* keep 100 */
    { RETENTION_NONE, RETENTION_NONE, 200 * 1000 },    /* keep 200 kB */
    { 90 * 1000, 10, 100 * 1000 },                     /* all three */
    { 1000 * 1000, RETENTION_NONE, RETENTION_NONE },   /* older than 1000 s: none */
    { RETENTION_NONE, 0, RETENTION_NONE },             /* keep none */
    { RETENTION_NONE, RETENTION_NONE, RETENTION_NONE } /* no limit: nothing goes */
};
#define N_POLICIES (sizeof(policies) / sizeof(policies[0]))

static size_t
agree_all(const char *dir, const struct rec_args *a)
{
    size_t total = 0;

    for (size_t i = 0; i < N_POLICIES; i++)
        total += agree(dir, a, policies[i], true);
    return total;
}

static void
test_sql_plan_is_the_files_plan(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct rec_args a;

    fill(dir);
    index_now(dir);
    args_init(&a, dir);
    assert_true(agree_all(dir, &a) > 0);
    a.intent = "search.web";
    assert_true(agree_all(dir, &a) > 0);
    args_init(&a, dir);
    a.status = "error";
    agree_all(dir, &a);
    args_init(&a, dir);
    a.search = "00000a"; /* a part of some ids */
    agree_all(dir, &a);
    args_init(&a, dir);
    a.intent = "no.such.intent";
    assert_int_equal(agree_all(dir, &a), 0);
    tu_rmtree(dir);
    free(dir);
}

/* Files added, removed, rewritten (by rename, with another creation time)
 * and spoiled since the index was built: opening it reconciles it, and the
 * plan from its rows is still the plan of the files. */
static void
test_index_not_current(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), id[40], name[80], path[4096];
    struct rec_args a;
    struct tu_rec r;

    fill(dir);
    index_now(dir);
    age_dir(dir, 60);
    index_now(dir); /* trusted: the next open takes the fast path */
    args_init(&a, dir);
    agree_all(dir, &a); /* lists once and remembers the directory */
    for (unsigned s = N; s < N + 30; s++)
        write_rec(dir, s);
    for (unsigned s = 0; s < 20; s++) {
        id_of(s * 7, id);
        snprintf(path, sizeof(path), "%s/%s.json", dir, id);
        unlink(path);
    }
    tu_rec_make(&r, 1, BASE_US);
    r.created_us = BASE_US + 95 * 1000000ll; /* record 1 is new now */
    assert_int_equal(tu_rec_write(dir, &r, true), 0);
    id_of(4, id);
    snprintf(name, sizeof(name), "%s.json", id);
    put(dir, name, "{\"header\":"); /* spoiled in place */
    assert_true(agree_all(dir, &a) > 0);
    a.intent = "demo.echo";
    agree_all(dir, &a);
    tu_rmtree(dir);
    free(dir);
}

/* A row may be of an <id>.json.gz, which retention never plans: a directory
 * holding one is not planned from the rows (the CLI then plans from the rows
 * beside a listing, or the files). */
static void
test_json_gz_is_not_planned_from_rows(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), id[40], from[1024], to[1024], cmd[3200];
    struct rec_args a;

    fill(dir);
    id_of(3, id);
    snprintf(from, sizeof(from), "%s/%s.json", dir, id);
    snprintf(to, sizeof(to), "%s/%s.json.gz", dir, id);
    snprintf(cmd, sizeof(cmd), "gzip -c '%s' > '%s' && rm '%s'", from, to, from);
    assert_int_equal(system(cmd), 0);
    index_now(dir);
    args_init(&a, dir);
    agree(dir, &a, policies[1], false);
    tu_rmtree(dir);
    free(dir);
}

/* Run `records gc` in this process with stdout into a string. */
static char *
gc_out(struct rec_args *a, int *rc)
{
    FILE *f = tmpfile();
    char *out;
    long len;
    int saved;

    assert_non_null(f);
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    assert_true(saved >= 0);
    dup2(fileno(f), STDOUT_FILENO);
    *rc = cli_records_gc(a);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    len = ftell(f) >= 0 ? (fseek(f, 0, SEEK_END), ftell(f)) : -1;
    assert_true(len >= 0);
    out = calloc(1, (size_t)len + 1);
    assert_non_null(out);
    rewind(f);
    assert_int_equal(fread(out, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return out;
}

/* With a current index, the dry run lists nothing and opens no record file
 * but the two that are not records (their rows cannot tell what retention
 * makes of them); it listed the directory, by name only, the first time.
 * Its output is the one of --no-index, text and --json. */
static void
test_dry_run_reads_no_file(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), wal[4096], *slow, *fast;
    struct rec_args a;
    int rc;

    fill(dir);
    index_now(dir);
    age_dir(dir, 60);
    index_now(dir);
    snprintf(wal, sizeof(wal), "%s/no-wal-here", dir);
    args_init(&a, dir);
    a.wal_dir = wal;
    a.dry_run = true;
    a.max_count = 100;
    free(gc_out(&a, &rc)); /* the first plan lists the directory once */
    assert_int_equal(rc, 0);
    for (int json = 0; json < 2; json++) {
        a.json = json;
        __atomic_store_n(&n_listed, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&n_opened, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
        fast = gc_out(&a, &rc);
        __atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
        assert_int_equal(rc, 0);
        print_message("# --json %d: %ld entries listed, %ld record files opened\n", json, n_listed,
                      n_opened);
        assert_int_equal(n_listed, 0);
        assert_int_equal(n_opened, 2);
        a.no_index = true;
        slow = gc_out(&a, &rc);
        a.no_index = false;
        assert_int_equal(rc, 0);
        assert_string_equal(fast, slow);
        assert_non_null(strstr(fast, json ? "\"keptCount\"" : "would remove 140 records"));
        free(fast);
        free(slow);
    }
    tu_rmtree(dir);
    free(dir);
}

/* The plan the console's Retention screen makes (index_plan_retention on
 * the index file opened by path, as the console opens it beside its
 * tailer): the files' plan, without listing the directory or reading a
 * record file the rows stand for. */
static void
test_console_plan_from_rows(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), db_path[4096];
    struct intentus_err err = { 0 };
    struct index_db *db;

    fill(dir);
    index_now(dir);
    age_dir(dir, 60);
    index_now(dir);
    db = index_db_open(dir, false, &err);
    assert_non_null(db);
    snprintf(db_path, sizeof(db_path), "%s", index_db_info(db)->path);
    index_db_close(db);
    /* The first plan lists the directory once (by name) and remembers it. */
    db = index_db_open_path(db_path, false, false, &err);
    assert_non_null(db);
    retention_plan_free(index_plan_retention(db, dir, NULL, &(struct retention_scope){ 0 },
                                             &policies[0], NOW_US, &err, NULL, NULL));
    index_db_close(db);
    for (size_t k = 0; k < N_POLICIES; k++) {
        struct retention_scope scope = { 0 };
        struct retention_plan *files, *rows;
        bool failed = true;
        db = index_db_open_path(db_path, false, false, &err);
        assert_non_null(db);
        __atomic_store_n(&n_listed, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&n_opened, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&counting, 1, __ATOMIC_RELAXED);
        rows =
            index_plan_retention(db, dir, NULL, &scope, &policies[k], NOW_US, &err, &failed, NULL);
        __atomic_store_n(&counting, 0, __ATOMIC_RELAXED);
        index_db_close(db);
        if (rows == NULL)
            fail_msg("index_plan_retention: %s", err.msg);
        assert_false(failed);
        assert_int_equal(n_listed, 0);
        assert_int_equal(n_opened, 2); /* the two rows that cannot tell */
        files = index_plan_retention(NULL, dir, NULL, &scope, &policies[k], NOW_US, &err, &failed,
                                     NULL);
        assert_non_null(files);
        assert_int_equal(retention_plan_size(rows), retention_plan_size(files));
        for (size_t i = 0; i < retention_plan_size(files); i++)
            assert_string_equal(retention_plan_id(rows, i), retention_plan_id(files, i));
        same_report(retention_plan_report(rows), retention_plan_report(files));
        retention_plan_free(rows);
        retention_plan_free(files);
    }
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sql_plan_is_the_files_plan),
        cmocka_unit_test(test_index_not_current),
        cmocka_unit_test(test_json_gz_is_not_planned_from_rows),
        cmocka_unit_test(test_dry_run_reads_no_file),
        cmocka_unit_test(test_console_plan_from_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
