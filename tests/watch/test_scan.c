/* The scan table (watch/scan.c): what it costs per known file (the live
 * heap, counted by interposing malloc: glibc's __libc_* entry points, which
 * a sanitizer's allocator does not allow, so there that test is a counted
 * skip), ids that are UUIDs and ids that are other names side by side,
 * many additions and removals against a plain list, and full scans of a
 * real directory under both kinds of name. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/rec_store.h"
#include "tests/support/alloc/malloc_count.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "watch/scan.h"

/* A canonical lowercase UUID (version 7 layout) from a counter. */
static void
uuid_of(unsigned long i, char *out, size_t size)
{
    unsigned long long h = (unsigned long long)i * 0x9E3779B97F4A7C15ULL;

    snprintf(out, size, "%08lx-%04lx-7%03llx-8%03llx-%012llx", 0x01a20000UL + (i >> 16), i & 0xffff,
             (h >> 52) & 0xfff, (h >> 40) & 0xfff, h & 0xffffffffffffULL);
}

/* The table's bytes per known file at n files, all preloaded. */
static double
bytes_per_file(size_t n)
{
    struct malloc_count m;
    long long grown;
    struct scan *s;
    char id[64];

    malloc_count_start();
    s = scan_new(NULL);

    assert_non_null(s);
    for (size_t i = 0; i < n; i++) {
        uuid_of(i, id, sizeof(id));
        assert_int_equal(
            scan_preload(s, id, 3700 + (int64_t)i, 1790000000000000000LL + (int64_t)i, 1000000 + i),
            0);
    }
    assert_int_equal(scan_known(s), n);
    malloc_count_peek(&m);
    grown = m.live;
    /* Still all there, with their identities. */
    for (size_t i = 0; i < n; i += n / 97 + 1) {
        int64_t size, mtime;
        uint64_t ino;
        uuid_of(i, id, sizeof(id));
        assert_int_equal(scan_identity(s, id, &size, &mtime, &ino), 0);
        assert_int_equal(size, 3700 + (int64_t)i);
        assert_int_equal(mtime, 1790000000000000000LL + (int64_t)i);
        assert_int_equal(ino, 1000000 + i);
    }
    scan_free(s);
    malloc_count_stop(&m);
    assert_int_equal(m.live, 0); /* everything it took, given back */
    return (double)grown / (double)n;
}

/* The console keeps one entry per file of the directory (issue 15: 1M files
 * in at most 100 MB for the whole console): at most 56 bytes a file, ids,
 * identities, flags, the hash table's slots and growth slack included. The
 * sizes are one just after the slot array doubles (its emptiest) and one
 * just before (its fullest). */
static void
test_bytes_per_known_file(void **state)
{
    size_t sizes[] = { 196609, 393216, 600000 };

    (void)state;
    if (!malloc_count_available()) {
        print_message("# a sanitizer's allocator: malloc cannot be interposed\n");
        skip();
    }

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        double b = bytes_per_file(sizes[i]);
        print_message("%zu files: %.1f bytes a file\n", sizes[i], b);
        if (b > 56.0)
            fail_msg("%zu known files take %.1f bytes each (at most 56)", sizes[i], b);
    }
}

/* UUIDs in canonical form are kept as 16 bytes; every other valid name as
 * it is: the same UUID in upper case, without hyphens, short names, the
 * longest valid name. Each is its own record, found again exactly. */
static void
test_uuid_and_other_names(void **state)
{
    const char *ids[] = {
        "01a232a4-b8cc-70a2-98bf-9415cd9d3eab",
        "01A232A4-B8CC-70A2-98BF-9415CD9D3EAB",
        "01a232a4b8cc70a298bf9415cd9d3eab",
        "01a232a4-b8cc-70a2-98bf-9415cd9d3ea",
        "01a232a4-b8cc-70a2-98bf-9415cd9d3eabc",
        "01a232a4_b8cc-70a2-98bf-9415cd9d3eab",
        "g1a232a4-b8cc-70a2-98bf-9415cd9d3eab",
        "a",
        "rec-1",
        "x.y_z",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        NULL, /* the longest valid name, filled in below */
    };
    size_t n = sizeof(ids) / sizeof(ids[0]);
    char longest[129];
    struct scan *s = scan_new(NULL);

    (void)state;
    memset(longest, 'n', 128);
    longest[128] = '\0';
    ids[n - 1] = longest;
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(scan_preload(s, ids[i], (int64_t)i, -(int64_t)i - 5, UINT64_MAX - i), 0);
    assert_int_equal(scan_known(s), n);
    for (size_t i = 0; i < n; i++) {
        int64_t size, mtime;
        uint64_t ino;
        assert_int_equal(scan_identity(s, ids[i], &size, &mtime, &ino), 0);
        assert_int_equal(size, (int64_t)i);
        assert_int_equal(mtime, -(int64_t)i - 5);
        assert_true(ino == UINT64_MAX - i);
    }
    /* Preloading again replaces, never duplicates. */
    assert_int_equal(scan_preload(s, ids[1], -1, 7, 8), 0);
    assert_int_equal(scan_known(s), n);
    {
        int64_t size, mtime;
        uint64_t ino;
        assert_int_equal(scan_identity(s, ids[1], &size, &mtime, &ino), 0);
        assert_int_equal(size, -1);
        assert_int_equal(scan_identity(s, ids[0], &size, &mtime, &ino), 0);
        assert_int_equal(size, 0);
        assert_int_equal(
            scan_identity(s, "01a232a4-b8cc-70a2-98bf-9415cd9d3eac", &size, &mtime, &ino), -1);
    }
    scan_free(s);
}

struct gone_log {
    char ids[64][160];
    int n;
};

static int
log_gone(void *ctx, const char *id, struct digest *d)
{
    struct gone_log *g = ctx;

    assert_null(d);
    assert_true(g->n < 64);
    snprintf(g->ids[g->n++], sizeof(g->ids[0]), "%s", id);
    return 0;
}

/* Thousands of additions and removals, both kinds of id, against a plain
 * list: removals that move entries back in the slots, reuse of freed
 * entries, the names' arena compacted, and the ids reported gone spelled as
 * they came. */
static void
test_churn_matches_a_list(void **state)
{
    enum { POOL = 6000, ROUNDS = 60000 };
    static bool present[POOL];
    static int64_t sizes[POOL];
    struct scan *s = scan_new(NULL);
    unsigned rnd = 12345;
    size_t live = 0;

    (void)state;
    memset(present, 0, sizeof(present));
    assert_non_null(s);
    for (int r = 0; r < ROUNDS; r++) {
        unsigned i;
        char id[64], name[80];
        rnd = rnd * 1103515245u + 12345u;
        i = (rnd >> 8) % POOL;
        if (i % 3 == 0)
            snprintf(id, sizeof(id), "name-%u-%s", i, i % 2 ? "odd" : "even");
        else
            uuid_of(i * 7919u, id, sizeof(id));
        if (!present[i] || (rnd >> 4) % 3 == 0) {
            sizes[i] = (int64_t)r;
            if (!present[i])
                live++;
            present[i] = true;
            assert_int_equal(scan_preload(s, id, sizes[i], r, (uint64_t)i), 0);
        } else {
            struct gone_log g = { .n = 0 };
            snprintf(name, sizeof(name), "%s.json", id);
            assert_int_equal(scan_gone(s, name, log_gone, &g), 0);
            assert_int_equal(g.n, 1);
            assert_string_equal(g.ids[0], id);
            present[i] = false;
            live--;
        }
        assert_int_equal(scan_known(s), live);
    }
    for (unsigned i = 0; i < POOL; i++) {
        char id[64];
        int64_t size, mtime;
        uint64_t ino;
        if (i % 3 == 0)
            snprintf(id, sizeof(id), "name-%u-%s", i, i % 2 ? "odd" : "even");
        else
            uuid_of(i * 7919u, id, sizeof(id));
        if (!present[i]) {
            assert_int_equal(scan_identity(s, id, &size, &mtime, &ino), -1);
            continue;
        }
        assert_int_equal(scan_identity(s, id, &size, &mtime, &ino), 0);
        assert_int_equal(size, sizes[i]);
        assert_true(ino == i);
    }
    scan_free(s);
}

struct seen {
    int upserts, removes;
    char last[160];
};

static int
count_emit(void *ctx, const char *id, struct digest *d)
{
    struct seen *c = ctx;

    if (d != NULL) {
        assert_string_equal(d->id, id);
        c->upserts++;
        digest_free(d);
    } else {
        c->removes++;
    }
    snprintf(c->last, sizeof(c->last), "%s", id);
    return 0;
}

/* Full scans of a real directory whose records are named by UUIDs and by
 * other names: each is reported once, an unchanged one never again, a
 * rewritten one again, a removed one as gone (its id as the file has it). */
static void
test_full_scan_both_kinds(void **state)
{
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    struct scan *s = scan_new(&(struct scan_opts){ .threads = 2 });
    struct seen c = { 0 };
    char path[4200];

    (void)state;
    for (unsigned i = 0; i < 200; i++) {
        struct tu_rec r;
        tu_rec_make(&r, i + 1, 1790000000000000LL);
        if (i % 2)
            snprintf(r.id, sizeof(r.id), "Rec_%u.x", i); /* not a UUID */
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    rs = rec_store_open(dir, NULL, &err);
    assert_non_null(rs);
    assert_int_equal(scan_full(s, rs, 0, count_emit, &c, &err), 0);
    assert_int_equal(c.upserts, 200);
    assert_int_equal(scan_known(s), 200);
    c.upserts = 0;
    assert_int_equal(scan_full(s, rs, 0, count_emit, &c, &err), 0);
    assert_int_equal(c.upserts, 0);
    assert_int_equal(c.removes, 0);
    /* One of each kind removed, one rewritten under a new inode. */
    snprintf(path, sizeof(path), "%s/Rec_7.x.json", dir);
    assert_int_equal(unlink(path), 0);
    {
        struct tu_rec r;
        tu_rec_make(&r, 9, 1790000000000000LL);
        snprintf(path, sizeof(path), "%s/%s.json", dir, r.id);
        assert_int_equal(unlink(path), 0);
        tu_rec_make(&r, 11, 1790000000000000LL);
        r.intent = "changed.intent";
        assert_int_equal(tu_rec_write(dir, &r, true), 0);
    }
    assert_int_equal(scan_full(s, rs, 0, count_emit, &c, &err), 0);
    assert_int_equal(c.upserts, 1);
    assert_int_equal(c.removes, 2);
    assert_int_equal(scan_known(s), 198);
    c.upserts = c.removes = 0;
    assert_int_equal(scan_forget_all(s, count_emit, &c), 0);
    assert_int_equal(c.removes, 198);
    assert_int_equal(scan_known(s), 0);
    scan_free(s);
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_per_known_file),
        cmocka_unit_test(test_uuid_and_other_names),
        cmocka_unit_test(test_churn_matches_a_list),
        cmocka_unit_test(test_full_scan_both_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
