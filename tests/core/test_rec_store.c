/* Record store: atomic writes, permissions, id validation, symlinks, and
 * byte-for-byte stability of the reference's records through load + save. */
#include <dirent.h>
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
#include <zlib.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "tests/support/testutil.h"

static cJSON *
sample_record(void)
{
    struct intentus_err err = { 0 };
    cJSON *env = envelope_new("demo.echo", NULL, NULL, &err);
    struct recorder *rec = recorder_new(env, &err);
    cJSON *copy;

    assert_non_null(rec);
    assert_int_equal(recorder_event(rec, "INTENT_RECEIVED", cJSON_CreateObject()), 0);
    copy = cJSON_Duplicate(recorder_record(rec), 1);
    recorder_free(rec);
    cJSON_Delete(env);
    return copy;
}

static void
test_save_load_roundtrip(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), sub[600], path[700];
    struct intentus_err err = { 0 };
    struct rec_store_opts opts = { .create = true, .fsync = true };
    struct rec_store *rs;
    cJSON *rec = sample_record(), *back;
    struct stat st;

    snprintf(sub, sizeof(sub), "%s/a/b/records", dir);
    rs = rec_store_open(sub, &opts, &err);
    assert_non_null(rs);
    assert_int_equal(rec_store_save(rs, rec, &err), 0);
    back = rec_store_load(rs, record_id(rec), &err);
    assert_non_null(back);
    assert_true(cJSON_Compare(rec, back, 1));
    assert_int_equal(record_verify_hash(back, &err), 0);
    /* Permissions: 0600 file, 0700 directories we created. */
    snprintf(path, sizeof(path), "%s/%s.json", sub, record_id(rec));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* No temp file left behind, exactly one visible record. */
    assert_int_equal(tu_count_files(sub, NULL), 1);
    {
        DIR *d = opendir(sub);
        struct dirent *de;
        int hidden = 0;
        while ((de = readdir(d)) != NULL)
            hidden += de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
        closedir(d);
        assert_int_equal(hidden, 0);
    }
    cJSON_Delete(back);
    cJSON_Delete(rec);
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

/* The temp file is ".<name>.<8 hex digits>.tmp" next to the target, and a
 * name too long for the fields is cut the way snprintf cut it. */
static void
test_temp_file_names(void **state)
{
    char *dir = tu_mkdtemp(), longname[300], want[300];
    struct intentus_err err = { 0 };
    struct rec_file f = { .fd = -1 };
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    size_t n;

    (void)state;
    assert_true(dfd >= 0);
    assert_int_equal(rec_file_write(&f, dfd, dir, "abc.json", "{}", 2, &err), 0);
    assert_string_equal(f.name, "abc.json");
    n = strlen(f.tmp);
    assert_int_equal(n, strlen(".abc.json.") + 8 + strlen(".tmp"));
    assert_memory_equal(f.tmp, ".abc.json.", 10);
    for (size_t i = 10; i < 18; i++)
        assert_non_null(strchr("0123456789abcdef", f.tmp[i]));
    assert_string_equal(f.tmp + 18, ".tmp");
    rec_file_abort(&f, dfd);
    assert_int_equal(tu_count_files(dir, ".tmp"), 0);
    /* 250 bytes: cut to 159 in name and to 199 in tmp (the random part and
     * suffix fall off), as "%s" and ".%s.%.8s.tmp" were. */
    memset(longname, 'n', 250);
    longname[250] = '\0';
    f = (struct rec_file){ .fd = -1 };
    assert_int_equal(rec_file_write(&f, dfd, dir, longname, "{}", 2, &err), 0);
    {
        memset(want, 'n', sizeof(f.name) - 1);
        want[sizeof(f.name) - 1] = '\0';
        assert_string_equal(f.name, want);
        want[0] = '.';
        memset(want + 1, 'n', sizeof(f.tmp) - 2);
        want[sizeof(f.tmp) - 1] = '\0';
        assert_string_equal(f.tmp, want);
        rec_file_abort(&f, dfd);
    }
    close(dfd);
    tu_rmtree(dir);
    free(dir);
}

static void
test_ids_are_validated(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct rec_store *rs = rec_store_open(dir, NULL, &err);
    const char *bad[] = { "../x", "a/b", ".hidden", "", "x\n", "..", NULL };
    size_t len;

    assert_non_null(rs);
    for (int i = 0; bad[i] != NULL; i++) {
        assert_false(rec_store_id_is_valid(bad[i]));
        assert_null(rec_store_read(rs, bad[i], &len, &err));
        assert_int_equal(err.code, IERR_INVALID);
    }
    assert_true(rec_store_id_is_valid("03355680-d215-463b-9a23-ed08bfba7708"));
    assert_null(rec_store_read(rs, "01234567-0000-7000-8000-000000000000", &len, &err));
    assert_int_equal(err.code, IERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "no record"));
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

/* Hostile ids: a NUL inside the buffer (what a C string sees is its part
 * before the NUL, so "abc\0/../x" is "abc"; one starting with the NUL is
 * empty), 200 characters, traversal. Every function refuses them with a
 * message that says why, and nothing outside the directory is touched. */
static void
test_hostile_ids_refused(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), long_id[201], nul_id[16];
    struct intentus_err err = { 0 };
    struct rec_store *rs = rec_store_open(dir, NULL, &err);
    const char *bad[] = { "..", "../x", "/etc/passwd", "a/b", "a\\b", long_id, nul_id, NULL };
    cJSON *rec = sample_record();
    size_t len;

    assert_non_null(rs);
    memset(long_id, 'a', 200);
    long_id[200] = '\0';
    memcpy(nul_id, "\0../../etc\0", 12);
    assert_false(rec_store_id_is_valid(nul_id));
    memcpy(nul_id, "abc\0/../x", 10);
    assert_true(rec_store_id_is_valid(nul_id)); /* the C string is "abc" */
    nul_id[0] = '\0';
    long_id[128] = '\0';
    assert_true(rec_store_id_is_valid(long_id)); /* 128: the longest allowed */
    long_id[128] = 'a';
    for (int i = 0; bad[i] != NULL; i++) {
        assert_false(rec_store_id_is_valid(bad[i]));
        memset(&err, 0, sizeof(err));
        assert_null(rec_store_read(rs, bad[i], &len, &err));
        assert_int_equal(err.code, IERR_INVALID);
        assert_non_null(strstr(err.msg, "is not a valid execution id"));
        memset(&err, 0, sizeof(err));
        assert_null(rec_store_load(rs, bad[i], &err));
        assert_int_equal(err.code, IERR_INVALID);
        memset(&err, 0, sizeof(err));
        cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItem(rec, "header"), "executionId",
                                               cJSON_CreateString(bad[i]));
        assert_int_equal(rec_store_save(rs, rec, &err), -1);
        assert_int_equal(err.code, IERR_INVALID);
        assert_non_null(strstr(err.msg, "is not a safe file name"));
    }
    assert_int_equal(tu_count_files(dir, NULL), 0);
    cJSON_Delete(rec);
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

static void
test_symlinks_not_followed(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), target[600], link[700];
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    cJSON *rec = sample_record();
    size_t len;

    snprintf(target, sizeof(target), "%s/elsewhere.txt", dir);
    assert_int_equal(tu_write_file(target, "{}", 2, 0600), 0);
    snprintf(link, sizeof(link), "%s/abc.json", dir);
    assert_int_equal(symlink(target, link), 0);
    rs = rec_store_open(dir, NULL, &err);
    assert_null(rec_store_read(rs, "abc", &len, &err));
    assert_non_null(strstr(err.msg, "symlink"));
    /* Saving over a symlinked name replaces the link, never writes through it. */
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItem(rec, "header"), "executionId",
                                           cJSON_CreateString("abc"));
    assert_int_equal(rec_store_save(rs, rec, &err), 0);
    {
        char *t = tu_read_file(target, &len);
        assert_string_equal(t, "{}");
        free(t);
    }
    cJSON_Delete(rec);
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

static void
test_list_skips_hidden_and_sorts(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), p[700];
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    struct rec_ids ids = { 0 };
    const char *names[] = { "b.json", "a.json", ".tmp.json", "notes.txt", "c.json" };

    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        assert_int_equal(tu_write_file(p, "x", 1, 0600), 0);
    }
    rs = rec_store_open(dir, NULL, &err);
    assert_int_equal(rec_store_list(rs, &ids, &err), 0);
    assert_int_equal(ids.n, 3);
    assert_string_equal(ids.ids[0], "a");
    assert_string_equal(ids.ids[1], "b");
    assert_string_equal(ids.ids[2], "c");
    /* A corrupt file is listed but loading it names the file and the problem. */
    assert_null(rec_store_load(rs, "a", &err));
    assert_non_null(strstr(err.msg, "a.json"));
    assert_non_null(strstr(err.msg, "line 1"));
    rec_store_ids_free(&ids);
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

static void
test_missing_directory_is_an_error(void **state)
{
    (void)state;
    struct intentus_err err = { 0 };

    assert_null(rec_store_open("/nonexistent/intentus/records", NULL, &err));
    assert_int_equal(err.code, IERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/intentus/records"));
}

/* Every reference record, loaded and saved by intentus, is the same bytes:
 * unknown keys, key order, number text and Unicode all survive. */
static void
test_reference_records_resave_identically(void **state)
{
    (void)state;
    char src[512], *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    struct rec_store *in, *out;
    struct rec_ids ids = { 0 };

    snprintf(src, sizeof(src), "%s/reference-records", tu_data_dir());
    in = rec_store_open(src, NULL, &err);
    assert_non_null(in);
    out = rec_store_open(dir, NULL, &err);
    assert_non_null(out);
    assert_int_equal(rec_store_list(in, &ids, &err), 0);
    assert_true(ids.n >= 30);
    for (size_t i = 0; i < ids.n; i++) {
        size_t a_len, b_len;
        char *a = rec_store_read(in, ids.ids[i], &a_len, &err);
        cJSON *rec = rec_store_load(in, ids.ids[i], &err);
        char *b;
        assert_non_null(rec);
        assert_int_equal(rec_store_save(out, rec, &err), 0);
        b = rec_store_read(out, ids.ids[i], &b_len, &err);
        assert_non_null(b);
        if (a_len != b_len || memcmp(a, b, a_len) != 0)
            fail_msg("record %s changed on re-save", ids.ids[i]);
        free(a);
        free(b);
        cJSON_Delete(rec);
    }
    rec_store_ids_free(&ids);
    rec_store_close(in);
    rec_store_close(out);
    tu_rmtree(dir);
    free(dir);
}

static void
test_truncated_records_fail_to_load(void **state)
{
    (void)state;
    char src[512];
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    struct rec_ids ids = { 0 };

    snprintf(src, sizeof(src), "%s/reference-truncated", tu_data_dir());
    rs = rec_store_open(src, NULL, &err);
    assert_non_null(rs);
    assert_int_equal(rec_store_list(rs, &ids, &err), 0);
    assert_int_equal(ids.n, 2);
    for (size_t i = 0; i < ids.n; i++) {
        assert_null(rec_store_load(rs, ids.ids[i], &err));
        assert_int_equal(err.code, IERR_PARSE);
        assert_non_null(strstr(err.msg, "column"));
    }
    rec_store_ids_free(&ids);
    rec_store_close(rs);
}

/* gzip text into path (what retention's archive writes). */
static void
write_gz(const char *path, const char *text, size_t len)
{
    gzFile gz = gzopen(path, "wb");

    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, text, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
}

static void
test_gzipped_records_read_and_list(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), src[700], path[700];
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    struct rec_ids ids = { 0 };
    const char *id = "03355680-d215-463b-9a23-ed08bfba7708";
    size_t len, back_len;
    char *text, *back;
    cJSON *rec;

    snprintf(src, sizeof(src), "%s/reference-records/%s.json", tu_data_dir(), id);
    text = tu_read_file(src, &len);
    assert_non_null(text);
    snprintf(path, sizeof(path), "%s/%s.json.gz", dir, id);
    write_gz(path, text, len);
    /* The same id plain and gzipped is listed once. */
    snprintf(path, sizeof(path), "%s/other.json.gz", dir);
    write_gz(path, "not json", 8);
    snprintf(path, sizeof(path), "%s/other.json", dir);
    assert_int_equal(tu_write_file(path, "{}", 2, 0600), 0);
    snprintf(path, sizeof(path), "%s/trunc.json.gz", dir);
    assert_int_equal(tu_write_file(path, "\x1f\x8b\x08\x00", 4, 0600), 0);
    rs = rec_store_open(dir, NULL, &err);
    assert_non_null(rs);
    back = rec_store_read(rs, id, &back_len, &err);
    assert_non_null(back);
    assert_int_equal(back_len, len);
    assert_memory_equal(back, text, len);
    rec = rec_store_load(rs, id, &err);
    assert_non_null(rec);
    assert_int_equal(record_verify_hash(rec, &err), 0);
    /* <id>.json wins over <id>.json.gz. */
    free(back);
    back = rec_store_read(rs, "other", &back_len, &err);
    assert_string_equal(back, "{}");
    assert_null(rec_store_read(rs, "trunc", &back_len, &err));
    assert_int_equal(err.code, IERR_PARSE);
    assert_int_equal(rec_store_list(rs, &ids, &err), 0);
    assert_int_equal(ids.n, 3);
    assert_string_equal(ids.ids[0], id);
    assert_string_equal(ids.ids[1], "other");
    assert_string_equal(ids.ids[2], "trunc");
    rec_store_ids_free(&ids);
    cJSON_Delete(rec);
    free(back);
    free(text);
    rec_store_close(rs);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_load_roundtrip),
        cmocka_unit_test(test_temp_file_names),
        cmocka_unit_test(test_ids_are_validated),
        cmocka_unit_test(test_hostile_ids_refused),
        cmocka_unit_test(test_symlinks_not_followed),
        cmocka_unit_test(test_list_skips_hidden_and_sorts),
        cmocka_unit_test(test_missing_directory_is_an_error),
        cmocka_unit_test(test_reference_records_resave_identically),
        cmocka_unit_test(test_truncated_records_fail_to_load),
        cmocka_unit_test(test_gzipped_records_read_and_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
