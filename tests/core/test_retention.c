/* Retention: each policy alone and combined, dry run equals apply, archives
 * readable through rec_store, interruption and re-run, writers untouched. */
#include <dirent.h>
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

#include "core/rec_store.h"
#include "core/record.h"
#include "core/retention.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"

#define BASE_US 1790000000000000ll
#define N 60
/* record s is created at BASE + s seconds; now is BASE + 100 s */
#define NOW_US (BASE_US + 100 * 1000000ll)

static void
fill(const char *dir, unsigned n)
{
    struct tu_rec r;

    for (unsigned s = 0; s < n; s++) {
        tu_rec_make(&r, s, BASE_US);
        r.created_us = BASE_US + (int64_t)s * 1000000;
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
}

static void
id_of(unsigned s, char *out)
{
    struct tu_rec r;

    tu_rec_make(&r, s, BASE_US);
    strcpy(out, r.id);
}

static uint64_t
size_of(const char *dir, unsigned s)
{
    char id[40], path[700];
    struct stat st;

    id_of(s, id);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static size_t
plan_n(const char *dir, struct retention_policy p)
{
    struct retention_plan *plan = retention_plan_new(dir, &p, NOW_US, NULL);
    size_t n;

    assert_non_null(plan);
    n = retention_plan_size(plan);
    /* oldest first, always a prefix */
    for (size_t i = 0; i < n; i++) {
        char id[40];
        id_of((unsigned)i, id);
        assert_string_equal(retention_plan_id(plan, i), id);
    }
    retention_plan_free(plan);
    return n;
}

static void
test_each_policy_and_combined(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct retention_policy none = { RETENTION_NONE, RETENTION_NONE, RETENTION_NONE };
    struct retention_policy p;
    uint64_t total = 0, newest10 = 0;

    fill(dir, N);
    for (unsigned s = 0; s < N; s++) {
        total += size_of(dir, s);
        if (s >= N - 10)
            newest10 += size_of(dir, s);
    }
    assert_int_equal(plan_n(dir, none), 0);
    /* age: older than 70 s at now = 100 s -> created before 30 s: 30 records */
    p = none;
    p.max_age_ms = 70000;
    assert_int_equal(plan_n(dir, p), 30);
    /* count */
    p = none;
    p.max_count = 45;
    assert_int_equal(plan_n(dir, p), 15);
    p.max_count = 0;
    assert_int_equal(plan_n(dir, p), N);
    /* bytes: exactly the newest ten fit */
    p = none;
    p.max_bytes = (int64_t)newest10;
    assert_int_equal(plan_n(dir, p), N - 10);
    p.max_bytes = (int64_t)total;
    assert_int_equal(plan_n(dir, p), 0);
    /* combined: the strictest wins */
    p = none;
    p.max_age_ms = 70000;
    p.max_count = 50;
    assert_int_equal(plan_n(dir, p), 30);
    p.max_count = 20;
    assert_int_equal(plan_n(dir, p), 40);
    p.max_bytes = (int64_t)newest10;
    assert_int_equal(plan_n(dir, p), 50);
    tu_rmtree(dir);
    free(dir);
}

static void
assert_reports_equal(const struct retention_report *a, const struct retention_report *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->bytes, b->bytes);
    assert_int_equal(a->oldest_us, b->oldest_us);
    assert_int_equal(a->newest_us, b->newest_us);
    assert_string_equal(a->oldest_id, b->oldest_id);
    assert_string_equal(a->newest_id, b->newest_id);
    assert_int_equal(a->n_intents, b->n_intents);
    for (size_t i = 0; i < a->n_intents; i++) {
        assert_string_equal(a->intents[i].intent, b->intents[i].intent);
        assert_int_equal(a->intents[i].count, b->intents[i].count);
        assert_int_equal(a->intents[i].bytes, b->intents[i].bytes);
    }
}

/* The archive directory (and the parents retention created) is 0700 and
 * every archive in it 0600, whatever the umask lets through. */
static void
assert_private_modes(const char *arch)
{
    char parent[800];
    struct dirent *de;
    struct stat st;
    DIR *d;

    assert_int_equal(stat(arch, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    snprintf(parent, sizeof(parent), "%s", arch);
    *strrchr(parent, '/') = '\0';
    assert_int_equal(stat(parent, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    d = opendir(arch);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[1100];
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", arch, de->d_name);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        if ((st.st_mode & 07777) != 0600)
            fail_msg("%s has mode %o, want 600", path, st.st_mode & 07777);
    }
    closedir(d);
}

static void
test_dry_run_equals_apply_and_archive_readable(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), arch[800], path[700];
    struct retention_policy p = { 70000, RETENTION_NONE, RETENTION_NONE };
    struct retention_apply_opts ao = { .archive_dir = arch };
    struct retention_report done;
    struct retention_plan *plan;
    struct rec_store *rs;
    char *log;

    snprintf(arch, sizeof(arch), "%s/cold/archive", dir);
    snprintf(path, sizeof(path), "%s/records", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    fill(path, N);
    plan = retention_plan_new(path, &p, NOW_US, NULL);
    assert_non_null(plan);
    assert_int_equal(retention_plan_report(plan)->count, 30);
    assert_int_equal(retention_plan_report(plan)->kept_count, 30);
    assert_true(retention_plan_report(plan)->n_intents > 1);
    assert_int_equal(retention_apply(plan, &ao, &done, NULL), 0);
    assert_reports_equal(retention_plan_report(plan), &done);
    assert_false(done.interrupted);
    assert_int_equal(tu_count_files(path, ".json"), 30);
    assert_int_equal(tu_count_files(arch, ".json.gz"), 30);
    assert_private_modes(arch);
    /* the archive reads like a record directory, byte for byte */
    rs = rec_store_open(arch, NULL, NULL);
    assert_non_null(rs);
    for (unsigned s = 0; s < 30; s++) {
        struct tu_rec r;
        size_t len, want_len;
        char *text, *want;
        cJSON *rec;
        tu_rec_make(&r, s, BASE_US);
        r.created_us = BASE_US + (int64_t)s * 1000000;
        want = tu_rec_text(&r, &want_len);
        text = rec_store_read(rs, r.id, &len, NULL);
        assert_non_null(text);
        assert_int_equal(len, want_len);
        assert_memory_equal(text, want, len);
        rec = rec_store_load(rs, r.id, NULL);
        assert_non_null(rec);
        cJSON_Delete(rec);
        free(text);
        free(want);
    }
    rec_store_close(rs);
    /* every action is in the log */
    snprintf(arch, sizeof(arch), "%s/%s", path, RETENTION_LOG);
    log = tu_read_file(arch, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "start "));
    assert_non_null(strstr(log, "archive 00000000-"));
    assert_non_null(strstr(log, "end: 30 records"));
    free(log);
    retention_report_free(&done);
    retention_plan_free(plan);
    tu_rmtree(dir);
    free(dir);
}

static int
stop_after_7(void *ctx, size_t done, size_t total, const char *id)
{
    (void)id;
    (void)total;
    ++*(int *)ctx;
    return done >= 7;
}

static void
test_interrupted_and_run_again(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct retention_policy p = { RETENTION_NONE, 40, RETENTION_NONE };
    int calls = 0;
    struct retention_apply_opts ao = { .progress = stop_after_7, .ctx = &calls };
    struct retention_report done;
    struct retention_plan *plan;

    fill(dir, N);
    plan = retention_plan_new(dir, &p, NOW_US, NULL);
    assert_int_equal(retention_plan_size(plan), 20);
    assert_int_equal(retention_apply(plan, &ao, &done, NULL), 0);
    assert_true(done.interrupted);
    assert_int_equal(done.count, 7);
    assert_int_equal(tu_count_files(dir, ".json"), N - 7);
    retention_report_free(&done);
    retention_plan_free(plan);
    /* again: the rest goes, and the end state is what one run gives */
    plan = retention_plan_new(dir, &p, NOW_US, NULL);
    assert_int_equal(retention_plan_size(plan), 13);
    assert_int_equal(retention_apply(plan, NULL, &done, NULL), 0);
    assert_int_equal(done.count, 13);
    assert_int_equal(tu_count_files(dir, ".json"), 40);
    retention_report_free(&done);
    retention_plan_free(plan);
    /* and a third run has nothing to do */
    plan = retention_plan_new(dir, &p, NOW_US, NULL);
    assert_int_equal(retention_plan_size(plan), 0);
    retention_plan_free(plan);
    tu_rmtree(dir);
    free(dir);
}

static void
test_concurrent_writer_untouched(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[700], id[40];
    struct retention_policy p = { 70000, RETENTION_NONE, RETENTION_NONE };
    struct retention_report done;
    struct retention_plan *plan;
    struct tu_rec r;
    char *bad;
    size_t len;

    fill(dir, N);
    /* a writer's temp file, old by any measure, and a corrupt file */
    snprintf(path, sizeof(path), "%s/.%s", dir, "00000001-0000-7000-8000-000000000000.json.tmp");
    assert_int_equal(tu_write_file(path, "{\"header\":", 10, 0600), 0);
    snprintf(path, sizeof(path), "%s/reference-truncated/a7bf885b-fdc4-4482-8808-bf53bc55f2fa.json",
             tu_data_dir());
    bad = tu_read_file(path, &len);
    snprintf(path, sizeof(path), "%s/a7bf885b-fdc4-4482-8808-bf53bc55f2fa.json", dir);
    assert_int_equal(tu_write_file(path, bad, len, 0600), 0);
    free(bad);
    plan = retention_plan_new(dir, &p, NOW_US, NULL);
    assert_int_equal(retention_plan_size(plan), 30);
    assert_int_equal(retention_plan_report(plan)->skipped_corrupt, 1);
    /* after the plan: record 3 is rewritten, record 4 removed by someone
     * else, and an old-looking record arrives; none of them is touched */
    tu_rec_make(&r, 3, BASE_US);
    r.created_us = BASE_US + 3 * 1000000;
    r.intent = "rewritten";
    assert_int_equal(tu_rec_write(dir, &r, false), 0);
    id_of(4, id);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    assert_int_equal(unlink(path), 0);
    tu_rec_make(&r, 999, BASE_US);
    r.created_us = BASE_US; /* older than the cutoff, but new to the plan */
    assert_int_equal(tu_rec_write(dir, &r, true), 0);
    assert_int_equal(retention_apply(plan, NULL, &done, NULL), 0);
    assert_int_equal(done.count, 28);
    assert_int_equal(done.skipped_changed, 1);
    assert_int_equal(done.already_gone, 1);
    id_of(3, id);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/%s.json", dir, r.id);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/.%s", dir, "00000001-0000-7000-8000-000000000000.json.tmp");
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/a7bf885b-fdc4-4482-8808-bf53bc55f2fa.json", dir);
    assert_int_equal(access(path, F_OK), 0);
    retention_report_free(&done);
    retention_plan_free(plan);
    tu_rmtree(dir);
    free(dir);
}

/* Selects the records of even seeds (by id): the plan's text is passed too. */
static bool
select_even(void *ctx, const char *id, const char *text, size_t len)
{
    (void)ctx;
    assert_non_null(strstr(text, id)); /* the record's own text */
    assert_true(len > 0);
    for (unsigned s = 0; s < N; s += 2) {
        char want[40];
        id_of(s, want);
        if (strcmp(want, id) == 0)
            return true;
    }
    return false;
}

/* With a selection the limits apply to the selected records alone and no
 * other record is planned or touched: the plan is exactly what goes. */
static void
test_selected_plan(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct retention_policy p = { RETENTION_NONE, 10, RETENTION_NONE };
    struct retention_select sel = { select_even, NULL };
    struct retention_report done = { 0 };
    struct retention_plan *plan;

    fill(dir, N);
    plan = retention_plan_new_selected(dir, &p, &sel, NOW_US, NULL);
    assert_non_null(plan);
    /* 30 even records, 10 kept: the 20 oldest even ones, oldest first */
    assert_int_equal(retention_plan_size(plan), 20);
    for (size_t i = 0; i < 20; i++) {
        char id[40];
        id_of((unsigned)(2 * i), id);
        assert_string_equal(retention_plan_id(plan, i), id);
    }
    assert_int_equal(retention_plan_report(plan)->not_selected, N / 2);
    assert_int_equal(retention_plan_report(plan)->kept_count, 10);
    assert_int_equal(retention_apply(plan, NULL, &done, NULL), 0);
    assert_int_equal(done.count, 20);
    retention_report_free(&done);
    retention_plan_free(plan);
    for (unsigned s = 0; s < N; s++) {
        char id[40], path[700];
        id_of(s, id);
        snprintf(path, sizeof(path), "%s/%s.json", dir, id);
        assert_int_equal(access(path, F_OK) == 0, s % 2 == 1 || s >= 40);
    }
    tu_rmtree(dir);
    free(dir);
}

/* A plan from a cache's rows (the persistent index): the same plan as
 * reading every file; a row whose file changed without its inode changing
 * is planned from the stale row, and applying reads the file back and
 * leaves it (skipped_changed); a row that needs reading is read. */
static void
test_plan_from_known_rows(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), id[40], path[4096], *text;
    /* older than 80 s at NOW: records 0..19 */
    struct retention_policy p = { 80 * 1000, RETENTION_NONE, RETENTION_NONE };
    struct retention_known known[N];
    char ids[N][40];
    struct retention_scope scope = { .known = known, .n_known = N };
    struct retention_plan *files, *rows;
    struct retention_report done = { 0 };
    struct intentus_err err = { 0 };
    struct stat st;
    size_t len;

    fill(dir, N);
    for (unsigned s = 0; s < N; s++) {
        id_of(s, ids[s]);
        snprintf(path, sizeof(path), "%s/%s.json", dir, ids[s]);
        assert_int_equal(stat(path, &st), 0);
        known[s] = (struct retention_known){
            .id = ids[s],
            .intent = NULL,
            .created_us = BASE_US + (int64_t)s * 1000000,
            .size = st.st_size,
            .mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
            .ino = st.st_ino,
            .is_selected = true,
            .needs_read = s == 3,
        };
    }
    /* the rows give intents from the files for the report to agree */
    for (unsigned s = 0; s < N; s++) {
        struct tu_rec r;
        tu_rec_make(&r, s, BASE_US);
        known[s].intent = r.intent;
    }
    files = retention_plan_new(dir, &p, NOW_US, &err);
    rows = retention_plan_new_scoped(dir, &scope, &p, NOW_US, &err);
    assert_non_null(files);
    assert_non_null(rows);
    assert_int_equal(retention_plan_size(rows), retention_plan_size(files));
    assert_int_equal(retention_plan_size(rows), 20);
    for (size_t i = 0; i < retention_plan_size(files); i++)
        assert_string_equal(retention_plan_id(rows, i), retention_plan_id(files, i));
    assert_int_equal(retention_plan_report(rows)->bytes, retention_plan_report(files)->bytes);
    assert_int_equal(retention_plan_report(rows)->n_intents,
                     retention_plan_report(files)->n_intents);
    retention_plan_free(files);
    retention_plan_free(rows);

    /* Record 5 now says it is new, in place: same size, inode and mtime. */
    id_of(5, id);
    snprintf(path, sizeof(path), "%s/%s.json", dir, id);
    assert_int_equal(stat(path, &st), 0);
    text = tu_read_file(path, &len);
    assert_non_null(text);
    memcpy(strstr(text, "\"createdUtcIso\":\"") + strlen("\"createdUtcIso\":\""), "2099", 4);
    {
        FILE *f = fopen(path, "r+");
        struct timespec t[2] = { st.st_atim, st.st_mtim };
        assert_non_null(f);
        assert_int_equal(fwrite(text, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
    }
    free(text);
    rows = retention_plan_new_scoped(dir, &scope, &p, NOW_US, &err);
    assert_non_null(rows);
    assert_int_equal(retention_plan_size(rows), 20); /* the stale row still plans it */
    assert_int_equal(retention_apply(rows, NULL, &done, &err), 0);
    assert_int_equal(done.count, 19);
    assert_int_equal(done.skipped_changed, 1);
    assert_int_equal(access(path, F_OK), 0); /* not deleted on stale data */
    retention_report_free(&done);
    retention_plan_free(rows);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_policy_and_combined),
        cmocka_unit_test(test_dry_run_equals_apply_and_archive_readable),
        cmocka_unit_test(test_interrupted_and_run_again),
        cmocka_unit_test(test_concurrent_writer_untouched),
        cmocka_unit_test(test_selected_plan),
        cmocka_unit_test(test_plan_from_known_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
