/* The tailer with real directories: records by rename and in place, a burst
 * of 50,000 with a slow consumer and a small queue, the rescan path,
 * deletions, the directory removed and recreated, corrupt and half-written
 * files, and polling giving the same index as inotify. Every wait has a
 * deadline. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/rec_store.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/index_query.h"
#include "watch/scan.h"
#include "watch/tailer.h"

#define BASE_US 1790000000000000ll

struct consumer {
    struct index *ix;
    int dir_gone, dir_back, synced, polling;
    /* with opts.use_index (test_index_committed_before_told): the index on
     * a connection of the consumer's own, and its count at each commit */
    bool use_index;
    struct index_db *db;
    long count_at_commit;
    int commits;
};

static void
on_event(void *ctx, const struct tailer_event *ev)
{
    struct consumer *c = ctx;

    switch (ev->kind) {
    case TAILER_UPSERT:
        index_upsert(c->ix, ev->digest, NULL);
        break;
    case TAILER_REMOVE:
        index_remove(c->ix, ev->id);
        break;
    case TAILER_DIR_GONE:
        c->dir_gone++;
        break;
    case TAILER_DIR_BACK:
        c->dir_back++;
        break;
    case TAILER_SYNCED:
        c->synced++;
        break;
    case TAILER_POLLING:
        c->polling++;
        break;
    case TAILER_INDEX_OPEN:
        if (c->use_index) {
            c->db = index_db_open_path(ev->msg, false, false, NULL);
            assert_non_null(c->db);
            break;
        }
        /* fall through */
    case TAILER_INDEX_COMMITTED:
        if (c->use_index) {
            assert_non_null(c->db);
            struct intentus_err qerr = { 0 };
            c->count_at_commit = index_query_count(c->db, NULL, &qerr);
            c->commits++;
            if (c->count_at_commit < 0)
                fail_msg("counting the index: %s", qerr.msg);
            break;
        }
        /* fall through */
    case TAILER_NO_INDEX: /* only with opts.use_index, which the other tests leave off */
        fail_msg("unexpected %s: %s",
                 ev->kind == TAILER_NO_INDEX     ? "TAILER_NO_INDEX"
                 : ev->kind == TAILER_INDEX_OPEN ? "TAILER_INDEX_OPEN"
                                                 : "TAILER_INDEX_COMMITTED",
                 ev->msg ? ev->msg : "");
        break;
    }
}

typedef bool (*pred_fn)(struct consumer *c, const void *arg);

/* Drain until pred holds or timeout_ms passes; sleep_ms simulates a slow
 * consumer. */
static bool
wait_for(struct tailer *t, struct consumer *c, pred_fn pred, const void *arg, int timeout_ms,
         int sleep_ms)
{
    int64_t end = clock_mono_us() + (int64_t)timeout_ms * 1000;

    while (clock_mono_us() < end) {
        struct pollfd p = { .fd = tailer_fd(t), .events = POLLIN };
        poll(&p, 1, 50);
        tailer_drain(t, on_event, c);
        if (pred(c, arg))
            return true;
        if (sleep_ms > 0)
            usleep((useconds_t)sleep_ms * 1000);
    }
    return pred(c, arg);
}

static bool
has_size(struct consumer *c, const void *arg)
{
    return index_size(c->ix) == *(const size_t *)arg;
}

static bool
synced_at_least(struct consumer *c, const void *arg)
{
    return c->synced >= *(const int *)arg;
}

static void
write_n(const char *dir, unsigned from, unsigned n, bool by_rename)
{
    struct tu_rec r;

    for (unsigned s = from; s < from + n; s++) {
        tu_rec_make(&r, s, BASE_US);
        assert_int_equal(tu_rec_write(dir, &r, by_rename), 0);
    }
}

static struct tailer *
start(const char *dir, enum tailer_mode mode, size_t queue_max)
{
    struct intentus_err err = { 0 };
    struct tailer_opts o = { .mode = mode, .poll_ms = 100, .queue_max = queue_max };
    struct tailer *t = tailer_start(dir, &o, &err);

    if (t == NULL)
        fail_msg("tailer_start: %s", err.msg);
    return t;
}

static bool
committed(struct consumer *c, const void *arg)
{
    return c->count_at_commit == *(const long *)arg;
}

/* With use_index, a consumer that counts the index on its own connection
 * is told when the rows it was sent are committed, and then finds them all
 * (the console's total used to stay one batch behind). */
static void
test_index_committed_before_told(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct consumer c = { .ix = index_new(), .use_index = true, .count_at_commit = -1 };
    struct tailer_opts o = { .mode = TAILER_INOTIFY, .use_index = true };
    struct intentus_err err = { 0 };
    struct tailer *t = tailer_start(dir, &o, &err);
    long five = 5;
    size_t n = 5;
    int one = 1;

    if (t == NULL)
        fail_msg("tailer_start: %s", err.msg);
    /* Index open and its (no) rows sent: what lands now arrives as changes. */
    assert_true(wait_for(t, &c, synced_at_least, &one, 10000, 0));
    assert_non_null(c.db);
    write_n(dir, 1, 3, true);
    write_n(dir, 4, 2, false);
    assert_true(wait_for(t, &c, has_size, &n, 10000, 0));
    if (!wait_for(t, &c, committed, &five, 10000, 0))
        fail_msg("the index held %ld rows at the last of %d commit events", c.count_at_commit,
                 c.commits);
    assert_int_equal(index_size(c.ix), 5);
    tailer_stop(t);
    index_db_close(c.db);
    index_free(c.ix);
    tu_rmtree(dir);
    free(dir);
}

static void
test_rename_and_in_place_and_delete(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[700];
    struct consumer c = { .ix = index_new() };
    struct tailer *t;
    struct tu_rec r;
    struct index_view v;
    size_t want = 2;
    int one = 1;

    write_n(dir, 0, 2, true); /* before the start: the initial scan */
    t = start(dir, TAILER_INOTIFY, 0);
    assert_true(wait_for(t, &c, synced_at_least, &one, 5000, 0));
    assert_true(wait_for(t, &c, has_size, &want, 5000, 0));
    write_n(dir, 2, 1, true);  /* renamed in, as intentus writes */
    write_n(dir, 3, 1, false); /* written in place, as the reference writes */
    /* Hidden temp files and other names are never indexed. */
    snprintf(path, sizeof(path), "%s/.partial.json.tmp", dir);
    tu_write_file(path, "{", 1, 0600);
    snprintf(path, sizeof(path), "%s/notes.txt", dir);
    tu_write_file(path, "x", 1, 0600);
    want = 4;
    assert_true(wait_for(t, &c, has_size, &want, 5000, 0));
    tu_rec_make(&r, 3, BASE_US);
    assert_int_equal(index_find(c.ix, r.id, &v), 0);
    assert_false(v.flags & DIGEST_CORRUPT);
    assert_string_equal(v.intent, r.intent);
    /* Deletion. */
    snprintf(path, sizeof(path), "%s/%s.json", dir, r.id);
    assert_int_equal(unlink(path), 0);
    want = 3;
    assert_true(wait_for(t, &c, has_size, &want, 5000, 0));
    assert_int_equal(index_find(c.ix, r.id, &v), -1);
    tailer_stop(t);
    index_free(c.ix);
    tu_rmtree(dir);
    free(dir);
}

struct writer {
    const char *dir;
    unsigned n;
};

static void *
write_burst(void *arg)
{
    struct writer *w = arg;
    struct tu_rec r;

    for (unsigned s = 0; s < w->n; s++) {
        tu_rec_make(&r, s, BASE_US);
        if (tu_rec_write(w->dir, &r, true) != 0)
            return (void *)1;
    }
    return NULL;
}

/* tmpfs when there is one: creating 50,000 files on a busy ext4 disk takes
 * minutes, on tmpfs seconds; inotify behaves the same on both. */
static char *
fast_tmpdir(void)
{
    char tmpl[] = "/dev/shm/intentus-burst-XXXXXX";

    if (access("/dev/shm", W_OK) == 0 && mkdtemp(tmpl) != NULL)
        return strdup(tmpl);
    return tu_mkdtemp();
}

static void
test_burst_with_slow_consumer(void **state)
{
    (void)state;
    char *dir = fast_tmpdir();
    struct consumer c = { .ix = index_new() };
    struct writer w = { .dir = dir, .n = 50000 };
    struct tailer_stats st;
    struct tailer *t;
    pthread_t th;
    void *wrc;
    size_t want = 50000;
    int64_t t0 = clock_mono_us(), elapsed_ms;
    int synced;

    if (getenv("INTENTUS_SLOW_TESTS_SMALL") != NULL)
        w.n = want = 5000;
    /* A queue of 512 events and a consumer that sleeps 20 ms per drain: the
     * tailer thread blocks, the kernel's inotify queue fills up behind it
     * (three events per record here: close of the temp file, moved from,
     * moved to), and usually overflows. */
    t = start(dir, TAILER_INOTIFY, 512);
    assert_int_equal(pthread_create(&th, NULL, write_burst, &w), 0);
    assert_true(wait_for(t, &c, has_size, &want, 120000, 20));
    pthread_join(th, &wrc);
    assert_null(wrc);
    elapsed_ms = (clock_mono_us() - t0) / 1000;
    tailer_get_stats(t, &st);
    printf("# burst: %zu records in %lld ms, %llu wake-ups, %llu overflows, %llu rescans\n", want,
           (long long)elapsed_ms, (unsigned long long)st.wakes, (unsigned long long)st.overflows,
           (unsigned long long)st.rescans);
    /* Coalesced: at most one wake-up per 50 ms (plus the first). */
    assert_true(st.wakes <= (uint64_t)(elapsed_ms / 50) + 2);
    /* Nothing lost, nothing twice: a forced rescan changes nothing. */
    synced = c.synced + 1;
    tailer_rescan(t);
    assert_true(wait_for(t, &c, synced_at_least, &synced, 60000, 0));
    assert_int_equal(index_size(c.ix), want);
    tailer_stop(t);
    index_free(c.ix);
    tu_rmtree(dir);
    free(dir);
}

static int
apply(void *ctx, const char *id, struct digest *d)
{
    struct index *ix = ctx;

    if (d == NULL) {
        index_remove(ix, id);
    } else {
        index_upsert(ix, d, NULL);
        digest_free(d);
    }
    return 0;
}

/* Same ids, statuses and sizes in both indexes. */
static void
assert_same_index(const struct index *a, const struct index *b)
{
    struct index_view va, vb;

    assert_int_equal(index_size(a), index_size(b));
    for (size_t i = 0; i < index_size(a); i++) {
        index_get(a, i, &va);
        index_get(b, i, &vb);
        assert_string_equal(va.id, vb.id);
        assert_int_equal(va.status, vb.status);
        assert_int_equal(va.flags, vb.flags);
        assert_int_equal(va.file_size, vb.file_size);
        assert_int_equal(va.n_steps, vb.n_steps);
    }
}

/* The overflow path directly: events were lost (nothing was told about
 * these changes); a full rescan brings the index to what is on disk. */
static void
test_rescan_after_lost_events(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[700];
    struct rec_store *rs = rec_store_open(dir, NULL, NULL);
    struct scan *s = scan_new(NULL);
    struct index *ix = index_new(), *fresh = index_new();
    struct tu_rec r;

    write_n(dir, 0, 300, true);
    assert_int_equal(scan_full(s, rs, 0, apply, ix, NULL), 0);
    assert_int_equal(index_size(ix), 300);
    /* Unseen: 100 new, 50 deleted, 10 rewritten with another outcome. */
    write_n(dir, 300, 100, true);
    for (unsigned k = 0; k < 50; k++) {
        tu_rec_make(&r, k * 2, BASE_US);
        snprintf(path, sizeof(path), "%s/%s.json", dir, r.id);
        assert_int_equal(unlink(path), 0);
    }
    for (unsigned k = 0; k < 10; k++) {
        tu_rec_make(&r, 201 + k * 2, BASE_US);
        r.ok[r.n_attempts - 1] = false;
        r.error_code = "RATE_LIMIT";
        r.intent = "changed.intent";
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    assert_int_equal(scan_full(s, rs, 0, apply, ix, NULL), 0);
    assert_int_equal(tailer_index_dir(dir, fresh, NULL), 0);
    assert_int_equal(index_size(ix), 350);
    assert_same_index(ix, fresh);
    {
        struct index_view v;
        tu_rec_make(&r, 201, BASE_US);
        assert_int_equal(index_find(ix, r.id, &v), 0);
        assert_string_equal(v.intent, "changed.intent");
        assert_string_equal(v.error_code, "RATE_LIMIT");
    }
    /* A second rescan with no change emits nothing. */
    {
        struct index *none = index_new();
        assert_int_equal(scan_full(s, rs, 0, apply, none, NULL), 0);
        assert_int_equal(index_size(none), 0);
        index_free(none);
    }
    scan_free(s);
    rec_store_close(rs);
    index_free(ix);
    index_free(fresh);
    tu_rmtree(dir);
    free(dir);
}

static bool
gone_and_empty(struct consumer *c, const void *arg)
{
    (void)arg;
    return c->dir_gone > 0 && index_size(c->ix) == 0;
}

static void
run_dir_replaced(enum tailer_mode mode)
{
    char *base = tu_mkdtemp(), dir[600];
    struct consumer c = { .ix = index_new() };
    struct tailer *t;
    size_t want = 5;

    snprintf(dir, sizeof(dir), "%s/records", base);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_n(dir, 0, 5, true);
    t = start(dir, mode, 0);
    assert_true(wait_for(t, &c, has_size, &want, 5000, 0));
    tu_rmtree(dir);
    assert_true(wait_for(t, &c, gone_and_empty, NULL, 5000, 0));
    assert_int_equal(mkdir(dir, 0700), 0);
    write_n(dir, 100, 3, false);
    want = 3;
    assert_true(wait_for(t, &c, has_size, &want, 5000, 0));
    assert_true(c.dir_back >= 1);
    /* and it follows the new directory */
    write_n(dir, 200, 2, true);
    want = 5;
    assert_true(wait_for(t, &c, has_size, &want, 5000, 0));
    tailer_stop(t);
    index_free(c.ix);
    tu_rmtree(base);
    free(base);
}

static void
test_dir_removed_and_recreated(void **state)
{
    (void)state;
    run_dir_replaced(TAILER_INOTIFY);
    run_dir_replaced(TAILER_POLL);
}

static bool
is_ok_record(struct consumer *c, const void *arg)
{
    struct index_view v;

    return index_find(c->ix, arg, &v) == 0 && !(v.flags & DIGEST_CORRUPT);
}

static bool
is_corrupt_record(struct consumer *c, const void *arg)
{
    struct index_view v;

    return index_find(c->ix, arg, &v) == 0 && (v.flags & DIGEST_CORRUPT);
}

static void
test_half_written_and_corrupt(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[700], bad[700];
    struct consumer c = { .ix = index_new() };
    struct tailer *t = start(dir, TAILER_INOTIFY, 0);
    struct tu_rec r;
    struct index_view v;
    size_t len;
    char *text = NULL;
    int fd;

    /* A writer that writes in place in two goes, closing in between (the
     * first close already signals IN_CLOSE_WRITE on half a record). */
    tu_rec_make(&r, 7, BASE_US);
    text = tu_rec_text(&r, &len);
    snprintf(path, sizeof(path), "%s/%s.json", dir, r.id);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(write(fd, text, len / 2), (ssize_t)(len / 2));
    close(fd);
    usleep(150 * 1000); /* within the retries (5 x 100 ms) */
    {
        struct pollfd p = { .fd = tailer_fd(t), .events = POLLIN };
        poll(&p, 1, 0);
        tailer_drain(t, on_event, &c);
    }
    assert_int_equal(index_find(c.ix, r.id, &v), -1); /* not shown corrupt yet */
    fd = open(path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, text + len / 2, len - len / 2), (ssize_t)(len - len / 2));
    close(fd);
    assert_true(wait_for(t, &c, is_ok_record, r.id, 5000, 0));
    /* A file that stays broken is shown corrupt with the parse error, and
     * left alone. */
    snprintf(bad, sizeof(bad), "%s/%s/a7bf885b-fdc4-4482-8808-bf53bc55f2fa.json", tu_data_dir(),
             "reference-truncated");
    free(text);
    text = tu_read_file(bad, &len);
    assert_non_null(text);
    snprintf(path, sizeof(path), "%s/a7bf885b-fdc4-4482-8808-bf53bc55f2fa.json", dir);
    assert_int_equal(tu_write_file(path, text, len, 0600), 0);
    assert_true(
        wait_for(t, &c, is_corrupt_record, "a7bf885b-fdc4-4482-8808-bf53bc55f2fa", 5000, 0));
    assert_int_equal(index_find(c.ix, "a7bf885b-fdc4-4482-8808-bf53bc55f2fa", &v), 0);
    assert_non_null(v.note);
    assert_non_null(strstr(v.note, "line"));
    assert_int_equal(access(path, F_OK), 0);
    /* Garbage and an empty file too: never a crash. */
    snprintf(path, sizeof(path), "%s/garbage.json", dir);
    tu_write_file(path, "\xff\xfe\x00 not json", 12, 0600);
    snprintf(path, sizeof(path), "%s/empty.json", dir);
    tu_write_file(path, "", 0, 0600);
    assert_true(wait_for(t, &c, is_corrupt_record, "garbage", 5000, 0));
    assert_true(wait_for(t, &c, is_corrupt_record, "empty", 5000, 0));
    free(text);
    tailer_stop(t);
    index_free(c.ix);
    tu_rmtree(dir);
    free(dir);
}

static void
test_polling_equals_inotify(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[700];
    struct consumer a = { .ix = index_new() }, b = { .ix = index_new() };
    struct tailer *ta, *tb;
    struct tu_rec r;
    size_t want;

    write_n(dir, 0, 200, true);
    ta = start(dir, TAILER_INOTIFY, 0);
    tb = start(dir, TAILER_POLL, 0);
    write_n(dir, 200, 200, false);
    write_n(dir, 400, 200, true);
    for (unsigned k = 0; k < 100; k++) {
        tu_rec_make(&r, k * 3, BASE_US);
        snprintf(path, sizeof(path), "%s/%s.json", dir, r.id);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/broken.json", dir);
    tu_write_file(path, "{\"header\":", 10, 0600);
    want = 600 - 100 + 1;
    assert_true(wait_for(ta, &a, has_size, &want, 10000, 0));
    assert_true(wait_for(tb, &b, has_size, &want, 10000, 0));
    /* let the corrupt file's retries settle in both, then compare */
    assert_true(wait_for(ta, &a, is_corrupt_record, "broken", 5000, 0));
    assert_true(wait_for(tb, &b, is_corrupt_record, "broken", 5000, 0));
    assert_same_index(a.ix, b.ix);
    {
        struct tailer_stats st;
        tailer_get_stats(tb, &st);
        assert_true(st.polling);
        tailer_get_stats(ta, &st);
        assert_false(st.polling);
    }
    tailer_stop(ta);
    tailer_stop(tb);
    index_free(a.ix);
    index_free(b.ix);
    tu_rmtree(dir);
    free(dir);
}

static void
test_missing_directory(void **state)
{
    (void)state;
    struct intentus_err err = { 0 };

    assert_null(tailer_start("/nonexistent/intentus/records", NULL, &err));
    assert_non_null(strstr(err.msg, "/nonexistent/intentus/records"));
    tailer_stop(NULL);
}
/* Entries that raise only IN_CREATE: a record hard-linked in is a record;
 * a symlink, a FIFO and a directory named like a record are shown as not
 * records (as the scan shows them), without waiting for a rescan. */
static void
test_created_only_entries(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), *out = tu_mkdtemp(), src[700], path[700];
    struct consumer c = { .ix = index_new() };
    struct tailer *t;
    struct tu_rec r;
    struct index_view v;
    static const char *const odd[] = { "sym-link", "fifo-node", "sub-dir" };
    int one = 1;

    t = start(dir, TAILER_INOTIFY, 0);
    assert_true(wait_for(t, &c, synced_at_least, &one, 5000, 0));
    /* A record written elsewhere on the same filesystem, then linked in. */
    tu_rec_make(&r, 11, BASE_US);
    assert_int_equal(tu_rec_write(out, &r, true), 0);
    snprintf(src, sizeof(src), "%s/%s.json", out, r.id);
    snprintf(path, sizeof(path), "%s/%s.json", dir, r.id);
    assert_int_equal(link(src, path), 0);
    snprintf(path, sizeof(path), "%s/%s.json", dir, odd[0]);
    assert_int_equal(symlink(src, path), 0);
    snprintf(path, sizeof(path), "%s/%s.json", dir, odd[1]);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(path, sizeof(path), "%s/%s.json", dir, odd[2]);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_true(wait_for(t, &c, is_ok_record, r.id, 5000, 0));
    for (size_t i = 0; i < 3; i++)
        assert_true(wait_for(t, &c, is_corrupt_record, odd[i], 5000, 0));
    assert_int_equal(index_find(c.ix, r.id, &v), 0);
    assert_int_equal(index_size(c.ix), 4);
    tailer_stop(t);
    index_free(c.ix);
    tu_rmtree(dir);
    tu_rmtree(out);
    free(dir);
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_directory),
        cmocka_unit_test(test_index_committed_before_told),
        cmocka_unit_test(test_rename_and_in_place_and_delete),
        cmocka_unit_test(test_rescan_after_lost_events),
        cmocka_unit_test(test_half_written_and_corrupt),
        cmocka_unit_test(test_created_only_entries),
        cmocka_unit_test(test_dir_removed_and_recreated),
        cmocka_unit_test(test_polling_equals_inotify),
        cmocka_unit_test(test_burst_with_slow_consumer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
