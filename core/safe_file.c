#include "core/safe_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *
kind_of(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISLNK(mode))
        return "a symlink";
    return "not a file";
}

/* err for a name that is there but is not a regular file. */
static void
not_regular(struct intentus_err *err, const char *shown, mode_t mode)
{
    if (S_ISLNK(mode))
        err_set(err, IERR_IO, "%s is a symlink; not followed", shown);
    else
        err_set(err, IERR_IO, "%s is not a regular file (%s)", shown, kind_of(mode));
}

int
safe_file_open(int dirfd, const char *path, const char *shown, size_t max_bytes,
               struct intentus_err *err)
{
    struct stat st;
    int fd, flags;

    if (shown == NULL)
        shown = path;
    if (path == NULL || path[0] == '\0') {
        err_set(err, IERR_INVALID, "empty file name");
        return -1;
    }
    /* Devices are refused before open(): opening some has side effects. */
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode))) {
        not_regular(err, shown, st.st_mode);
        return -1;
    }
    fd = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            err_set(err, IERR_NOT_FOUND, "%s: no such file", shown);
        else if (e == ELOOP)
            err_set(err, IERR_IO, "%s is a symlink; not followed", shown);
        else if (e == ENXIO && fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
            not_regular(err, shown, st.st_mode);
        else
            err_set(err, IERR_IO, "cannot open %s: %s", shown, strerror(e));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        err_set(err, IERR_IO, "cannot stat %s: %s", shown, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        not_regular(err, shown, st.st_mode);
        goto fail;
    }
    if ((unsigned long long)st.st_size > (unsigned long long)max_bytes) {
        err_set(err, IERR_LIMIT, "%s is %lld bytes, over the %zu byte limit", shown,
                (long long)st.st_size, max_bytes);
        goto fail;
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        err_set(err, IERR_IO, "%s: %s", shown, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

char *
safe_file_read_fd(int fd, const char *shown, size_t max_bytes, size_t *len,
                  struct intentus_err *err)
{
    struct stat st;
    size_t cap = 4096, got = 0;
    char *data, *p;

    if (fstat(fd, &st) == 0 && st.st_size > 0)
        cap = (size_t)st.st_size < max_bytes ? (size_t)st.st_size + 1 : max_bytes + 1;
    if (cap > max_bytes + 1)
        cap = max_bytes + 1;
    data = malloc(cap + 1);
    if (data == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    for (;;) {
        ssize_t r;
        if (got == cap) {
            if (cap > max_bytes) {
                err_set(err, IERR_LIMIT, "%s grew over the %zu byte limit while being read", shown,
                        max_bytes);
                goto fail;
            }
            cap = cap > max_bytes / 2 ? max_bytes + 1 : cap * 2;
            p = realloc(data, cap + 1);
            if (p == NULL) {
                err_set(err, IERR_NOMEM, NULL);
                goto fail;
            }
            data = p;
        }
        r = read(fd, data + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err_set(err, IERR_IO, "cannot read %s: %s", shown, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    if (got > max_bytes) {
        err_set(err, IERR_LIMIT, "%s grew over the %zu byte limit while being read", shown,
                max_bytes);
        goto fail;
    }
    data[got] = '\0';
    *len = got;
    return data;
fail:
    free(data);
    return NULL;
}

char *
safe_file_read(const char *path, size_t max_bytes, size_t *len, struct intentus_err *err)
{
    int fd = safe_file_open(AT_FDCWD, path, path, max_bytes, err);
    char *data;

    if (fd < 0)
        return NULL;
    data = safe_file_read_fd(fd, path, max_bytes, len, err);
    close(fd);
    return data;
}
