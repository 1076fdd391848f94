/* Opening a file intentus reads, one way everywhere.
 *
 * Every reader of a file (records, WAL logs, locks, config, policy files,
 * themes, payload and input files, public keys) opens it here: O_RDONLY |
 * O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, so a FIFO, a device or a
 * socket planted under the expected name never blocks the open and a
 * symlink is not followed; then fstat: only a regular file of at most the
 * caller's size limit passes, and O_NONBLOCK is cleared for the reads.
 * Device nodes are refused from an lstat before they are opened at all.
 *
 * Messages name the file: "<shown> is not a regular file (a FIFO)",
 * "<shown> is a symlink; not followed", "<shown> is N bytes, over the M byte
 * limit", "<shown>: no such file". */
#ifndef INTENTUS_CORE_SAFE_FILE_H
#define INTENTUS_CORE_SAFE_FILE_H

#include <stddef.h>

#include "core/err.h"

/* Open path (relative to dirfd; AT_FDCWD for the working directory) for
 * reading. shown names the file in messages (NULL: path). Returns the fd,
 * or -1 with err set: IERR_NOT_FOUND (missing), IERR_IO (a symlink, not a
 * regular file, cannot open), IERR_LIMIT (larger than max_bytes). */
int safe_file_open(int dirfd, const char *path, const char *shown, size_t max_bytes,
                   struct intentus_err *err);

/* Read the rest of fd (from safe_file_open) to its end, at most max_bytes
 * (a file that grows past it while being read is refused, IERR_LIMIT).
 * Returns a NUL-terminated buffer the caller frees, *len without the NUL;
 * NULL with err set. The fd is left open. */
char *safe_file_read_fd(int fd, const char *shown, size_t max_bytes, size_t *len,
                        struct intentus_err *err);

/* safe_file_open(AT_FDCWD, path, path, ...) + safe_file_read_fd + close. */
char *safe_file_read(const char *path, size_t max_bytes, size_t *len, struct intentus_err *err);

#endif
