/* The one safe-open helper: regular files only (FIFOs, directories,
 * devices and sockets refused without blocking), symlinks not followed,
 * the caller's size limit, and every message naming the file. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/safe_file.h"
#include "tests/support/testutil.h"

#define CONTAINS(hay, needle)                                                                      \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("'%s' not in '%s'", (needle), (hay));                                         \
    } while (0)

static void
test_regular_file_read(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600];
    struct intentus_err err = { 0 };
    size_t len = 99;
    char *text;
    int fd, flags;

    snprintf(path, sizeof(path), "%s/a.json", dir);
    assert_int_equal(tu_write_file(path, "{\"a\": 1}", 8, 0600), 0);
    text = safe_file_read(path, 8, &len, &err);
    assert_non_null(text);
    assert_int_equal(len, 8);
    assert_string_equal(text, "{\"a\": 1}");
    free(text);
    /* O_NONBLOCK is cleared once the file is known to be regular. */
    fd = safe_file_open(AT_FDCWD, path, NULL, 100, &err);
    assert_true(fd >= 0);
    flags = fcntl(fd, F_GETFL);
    assert_true(flags >= 0 && (flags & O_NONBLOCK) == 0);
    assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    close(fd);
    /* Empty files are fine. */
    assert_int_equal(tu_write_file(path, "", 0, 0600), 0);
    text = safe_file_read(path, 8, &len, &err);
    assert_non_null(text);
    assert_int_equal(len, 0);
    free(text);
    tu_rmtree(dir);
    free(dir);
}

/* The case that hung every reader: open(2) of a FIFO without O_NONBLOCK
 * waits for a writer forever. */
static void
test_fifo_refused_without_blocking(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600];
    struct intentus_err err = { 0 };
    int64_t t0 = clock_mono_us();
    size_t len;

    snprintf(path, sizeof(path), "%s/x.wal", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_null(safe_file_read(path, 1024, &len, &err));
    assert_int_equal(err.code, IERR_IO);
    CONTAINS(err.msg, path);
    CONTAINS(err.msg, "is not a regular file (a FIFO)");
    assert_int_equal(safe_file_open(AT_FDCWD, path, "shown-name", 1024, &err), -1);
    CONTAINS(err.msg, "shown-name is not a regular file");
    assert_true(clock_mono_us() - t0 < 2 * 1000 * 1000);
    tu_rmtree(dir);
    free(dir);
}

static void
test_symlink_not_followed(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), target[600], link[600];
    struct intentus_err err = { 0 };
    size_t len;

    snprintf(target, sizeof(target), "%s/target", dir);
    snprintf(link, sizeof(link), "%s/link", dir);
    assert_int_equal(tu_write_file(target, "{}", 2, 0600), 0);
    assert_int_equal(symlink(target, link), 0);
    assert_null(safe_file_read(link, 1024, &len, &err));
    assert_int_equal(err.code, IERR_IO);
    CONTAINS(err.msg, link);
    CONTAINS(err.msg, "is a symlink; not followed");
    /* A dangling one too. */
    assert_int_equal(unlink(target), 0);
    assert_null(safe_file_read(link, 1024, &len, &err));
    CONTAINS(err.msg, "is a symlink; not followed");
    tu_rmtree(dir);
    free(dir);
}

static void
test_directory_refused(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct intentus_err err = { 0 };
    size_t len;

    assert_null(safe_file_read(dir, 1024, &len, &err));
    assert_int_equal(err.code, IERR_IO);
    CONTAINS(err.msg, dir);
    CONTAINS(err.msg, "is not a regular file (a directory)");
    tu_rmtree(dir);
    free(dir);
}

/* /dev/zero would be read forever (or to the limit) by a plain loop. */
static void
test_device_refused(void **state)
{
    (void)state;
    struct intentus_err err = { 0 };
    size_t len;

    assert_null(safe_file_read("/dev/zero", 1u << 30, &len, &err));
    assert_int_equal(err.code, IERR_IO);
    CONTAINS(err.msg, "/dev/zero is not a regular file (a character device)");
    assert_int_equal(safe_file_open(AT_FDCWD, "/dev/null", NULL, 10, &err), -1);
    CONTAINS(err.msg, "/dev/null is not a regular file (a character device)");
}

static void
test_socket_refused(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp();
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct intentus_err err = { 0 };
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    size_t len;

    assert_true(s >= 0);
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s", dir) >= sizeof(sa.sun_path)) {
        close(s);
        tu_rmtree(dir);
        free(dir);
        skip();
    }
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_null(safe_file_read(sa.sun_path, 1024, &len, &err));
    CONTAINS(err.msg, "is not a regular file (a socket)");
    close(s);
    tu_rmtree(dir);
    free(dir);
}

static void
test_oversize_refused(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600];
    struct intentus_err err = { 0 };
    size_t len;
    char *text;

    snprintf(path, sizeof(path), "%s/big", dir);
    assert_int_equal(tu_write_file(path, "0123456789", 10, 0600), 0);
    assert_null(safe_file_read(path, 9, &len, &err));
    assert_int_equal(err.code, IERR_LIMIT);
    CONTAINS(err.msg, path);
    CONTAINS(err.msg, "is 10 bytes, over the 9 byte limit");
    text = safe_file_read(path, 10, &len, &err); /* exactly the limit passes */
    assert_non_null(text);
    assert_int_equal(len, 10);
    free(text);
    tu_rmtree(dir);
    free(dir);
}

/* The limit holds for what is read, not only for what fstat said: a file
 * that grows after the open is cut off at the limit with an error. */
static void
test_growth_past_limit_refused(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600];
    struct intentus_err err = { 0 };
    size_t len;
    int fd, w;

    snprintf(path, sizeof(path), "%s/grows", dir);
    assert_int_equal(tu_write_file(path, "abc", 3, 0600), 0);
    fd = safe_file_open(AT_FDCWD, path, NULL, 8, &err);
    assert_true(fd >= 0);
    w = open(path, O_WRONLY | O_APPEND);
    assert_true(w >= 0);
    assert_int_equal(write(w, "defghijkl", 9), 9);
    close(w);
    assert_null(safe_file_read_fd(fd, path, 8, &len, &err));
    assert_int_equal(err.code, IERR_LIMIT);
    CONTAINS(err.msg, "over the 8 byte limit");
    close(fd);
    tu_rmtree(dir);
    free(dir);
}

static void
test_missing(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600];
    struct intentus_err err = { 0 };
    size_t len;

    snprintf(path, sizeof(path), "%s/nope.json", dir);
    assert_null(safe_file_read(path, 1024, &len, &err));
    assert_int_equal(err.code, IERR_NOT_FOUND);
    CONTAINS(err.msg, path);
    CONTAINS(err.msg, "no such file");
    assert_null(safe_file_read("", 1024, &len, &err));
    assert_int_equal(err.code, IERR_INVALID);
    tu_rmtree(dir);
    free(dir);
}

/* Relative to a directory fd, as the record store opens <id>.json. */
static void
test_openat_relative(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), path[600];
    struct intentus_err err = { 0 };
    int dfd, fd;

    snprintf(path, sizeof(path), "%s/r.json", dir);
    assert_int_equal(tu_write_file(path, "{}", 2, 0600), 0);
    dfd = open(dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    fd = safe_file_open(dfd, "r.json", "records/r.json", 10, &err);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "%s/f.json", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(safe_file_open(dfd, "f.json", "records/f.json", 10, &err), -1);
    assert_string_equal(err.msg, "records/f.json is not a regular file (a FIFO)");
    close(dfd);
    tu_rmtree(dir);
    free(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_file_read),
        cmocka_unit_test(test_fifo_refused_without_blocking),
        cmocka_unit_test(test_symlink_not_followed),
        cmocka_unit_test(test_directory_refused),
        cmocka_unit_test(test_device_refused),
        cmocka_unit_test(test_socket_refused),
        cmocka_unit_test(test_oversize_refused),
        cmocka_unit_test(test_growth_past_limit_refused),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_openat_relative),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
