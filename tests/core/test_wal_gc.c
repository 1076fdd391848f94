/* WAL garbage collection (core/wal_gc.c) and retention taking WALs along
 * (core/retention.c): verdicts for every kind of log, a log changed since it
 * was judged, a lock held by a live process, archive and delete. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/retention.h"
#include "core/wal.h"
#include "core/wal_gc.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"

#define BASE_US 1790000000000000ll
#define NOW_US (BASE_US + 100 * 1000000ll)

/* A log for id: started, one step, then `end` ("execution.completed",
 * "execution.failed", ... or NULL: unfinished). */
static void
write_log(const char *dir, const char *id, const char *end)
{
    struct intentus_err err = { 0 };
    struct wal *w =
        wal_open(dir, &(struct wal_opts){ .durability = WAL_NONE, .create = true }, &err);
    struct wal_file *f;

    assert_non_null(w);
    f = wal_file_create(w, id, &err);
    assert_non_null(f);
    assert_int_equal(wal_append(f, "execution.started", cJSON_CreateObject(), true, &err), 0);
    assert_int_equal(wal_append(f, "step.started", cJSON_CreateObject(), false, &err), 0);
    if (end != NULL) {
        cJSON *p = cJSON_CreateObject();
        if (strcmp(end, "execution.aborted") == 0)
            cJSON_AddStringToObject(p, "reason", "test");
        assert_int_equal(wal_append(f, end, p, false, &err), 0);
    }
    wal_file_close(f);
    wal_close(w);
}

static void
append_text(const char *dir, const char *name, const char *text)
{
    char path[700];
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static bool
exists(const char *dir, const char *id, const char *suffix)
{
    char path[700];

    snprintf(path, sizeof(path), "%s/%s%s", dir, id, suffix);
    return access(path, F_OK) == 0;
}

static void
test_verdicts(void **state)
{
    char *wal = tu_mkdtemp(), *recs = tu_mkdtemp();
    struct wal_gc_file f;
    struct wal_gc_file *files;
    size_t n;

    (void)state;
    write_log(wal, "done", "execution.completed");
    write_log(wal, "failed", "execution.failed");
    write_log(wal, "aborted", "execution.aborted");
    write_log(wal, "running", NULL);
    write_log(wal, "torn", "execution.completed");
    append_text(wal, "torn.wal", "{\"seq\": 4, \"half");
    write_log(wal, "kept", "execution.completed");
    append_text(recs, "kept.json", "{}"); /* its record is still there */
    append_text(wal, "empty.wal", "");
    assert_int_equal(wal_gc_judge(wal, "done", &f, NULL), 0);
    assert_int_equal(f.verdict, WAL_GC_FINISHED);
    assert_int_equal(wal_gc_judge(wal, "nothing", &f, NULL), 0);
    assert_int_equal(f.verdict, WAL_GC_ABSENT);
    assert_int_equal(wal_gc_judge(wal, "../x", &f, NULL), -1);

    assert_int_equal(wal_gc_plan(wal, recs, &files, &n, NULL), 0);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        const char *id = files[i].id;
        bool want =
            strcmp(id, "done") == 0 || strcmp(id, "failed") == 0 || strcmp(id, "aborted") == 0;
        if (wal_gc_is_collectable(&files[i]) != want)
            fail_msg("%s: collectable should be %d (%s)", id, want,
                     wal_gc_verdict_name(files[i].verdict));
        if (strcmp(id, "torn") == 0)
            assert_int_equal(files[i].verdict, WAL_GC_DAMAGED);
        if (strcmp(id, "running") == 0 || strcmp(id, "empty") == 0)
            assert_int_equal(files[i].verdict, WAL_GC_UNFINISHED);
        if (strcmp(id, "kept") == 0)
            assert_true(files[i].has_record);
    }
    free(files);
    /* A records directory that does not exist is an error, not "all gone". */
    assert_int_equal(wal_gc_plan(wal, "/nonexistent/records", &files, &n, NULL), -1);
    /* No WAL directory: nothing to do. */
    assert_int_equal(wal_gc_plan("/nonexistent/wal", recs, &files, &n, NULL), 0);
    assert_int_equal(n, 0);
    tu_rmtree(wal);
    tu_rmtree(recs);
    free(wal);
    free(recs);
}

static void
test_remove_checks_what_was_judged(void **state)
{
    char *wal = tu_mkdtemp(), path[700];
    enum wal_gc_outcome out;
    struct wal_gc_file f;
    bool lock_removed;
    int fd;

    (void)state;
    /* Changed since it was judged: left alone. */
    write_log(wal, "grew", "execution.completed");
    assert_int_equal(wal_gc_judge(wal, "grew", &f, NULL), 0);
    append_text(wal, "grew.wal", "{}\n");
    assert_int_equal(wal_gc_remove(wal, &f, &out, &lock_removed, NULL), 0);
    assert_int_equal(out, WAL_GC_CHANGED);
    assert_true(exists(wal, "grew", ".wal"));
    assert_null(wal_gc_read(wal, &f, &(size_t){ 0 }, NULL));
    /* Its lock held by a live process (us, with flock): left alone. */
    write_log(wal, "held", "execution.completed");
    snprintf(path, sizeof(path), "%s/held.lock", wal);
    fd = open(path, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    assert_int_equal(wal_gc_judge(wal, "held", &f, NULL), 0);
    assert_true(f.has_lock);
    assert_int_equal(wal_gc_remove(wal, &f, &out, &lock_removed, NULL), 0);
    assert_int_equal(out, WAL_GC_LOCKED);
    assert_true(exists(wal, "held", ".wal"));
    /* Released: the WAL and its stale lock go. */
    close(fd);
    assert_int_equal(wal_gc_remove(wal, &f, &out, &lock_removed, NULL), 0);
    assert_int_equal(out, WAL_GC_REMOVED);
    assert_true(lock_removed);
    assert_false(exists(wal, "held", ".wal"));
    assert_false(exists(wal, "held", ".lock"));
    /* Removed by someone else meanwhile. */
    assert_int_equal(wal_gc_remove(wal, &f, &out, NULL, NULL), 0);
    assert_int_equal(out, WAL_GC_GONE);
    tu_rmtree(wal);
    free(wal);
}

/* Records 0..3; WALs: 0 finished, 1 unfinished, 2 finished but appended to
 * after the plan, 3 (kept by the policy) finished. */
static void
run_retention(bool archive)
{
    char *dir = tu_mkdtemp(), *wal = tu_mkdtemp(), *arch = tu_mkdtemp(), ids[4][64];
    struct retention_policy p = { RETENTION_NONE, 1, RETENTION_NONE };
    struct retention_apply_opts ao = { .archive_dir = archive ? arch : NULL };
    struct retention_report done = { 0 };
    const struct retention_report *plan_rep;
    struct retention_plan *plan;
    char name[80];
    struct tu_rec r;

    for (unsigned s = 0; s < 4; s++) {
        tu_rec_make(&r, s, BASE_US);
        r.created_us = BASE_US + (int64_t)s * 1000000;
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
        snprintf(ids[s], sizeof(ids[s]), "%s", r.id);
        write_log(wal, r.id, s == 1 ? NULL : "execution.completed");
    }
    plan = retention_plan_new_wal(dir, wal, &p, NOW_US, NULL);
    assert_non_null(plan);
    plan_rep = retention_plan_report(plan);
    assert_int_equal(plan_rep->count, 3);
    assert_int_equal(plan_rep->wal_count, 2); /* 0 and 2 */
    assert_int_equal(plan_rep->wal_kept, 1);  /* 1 */
    assert_true(plan_rep->wal_bytes > 0);
    snprintf(name, sizeof(name), "%s.wal", ids[2]);
    append_text(wal, name, "\n");
    assert_int_equal(retention_apply(plan, &ao, &done, NULL), 0);
    assert_int_equal(done.count, 3);
    assert_int_equal(done.wal_count, 1);
    assert_int_equal(done.wal_kept, 2);
    assert_false(exists(wal, ids[0], ".wal"));
    assert_true(exists(wal, ids[1], ".wal"));
    assert_true(exists(wal, ids[2], ".wal"));
    assert_true(exists(wal, ids[3], ".wal"));
    assert_int_equal(exists(arch, ids[0], ".wal.gz"), archive);
    assert_false(exists(arch, ids[2], ".wal.gz"));
    retention_report_free(&done);
    retention_plan_free(plan);
    /* Without a WAL directory, retention is records only, as before. */
    plan = retention_plan_new(dir, &p, NOW_US, NULL);
    assert_non_null(plan);
    assert_int_equal(retention_plan_report(plan)->wal_count, 0);
    retention_plan_free(plan);
    tu_rmtree(dir);
    tu_rmtree(wal);
    tu_rmtree(arch);
    free(dir);
    free(wal);
    free(arch);
}

static void
test_retention_delete(void **state)
{
    (void)state;
    run_retention(false);
}

static void
test_retention_archive(void **state)
{
    (void)state;
    run_retention(true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_remove_checks_what_was_judged),
        cmocka_unit_test(test_retention_delete),
        cmocka_unit_test(test_retention_archive),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
