/* Helpers for tests: temporary directories, files, fixtures and running the
 * real intentus binary. Tests use real files and real processes. */
#ifndef INTENTUS_TESTS_SUPPORT_TESTUTIL_H
#define INTENTUS_TESTS_SUPPORT_TESTUTIL_H

#include <stddef.h>

/* A fresh directory under $TMPDIR (or /tmp), 0700; caller frees the string
 * and removes the tree with tu_rmtree. Aborts the test run on failure. */
char *tu_mkdtemp(void);
/* rm -rf of a directory this test created (refuses "/" and ""). */
void tu_rmtree(const char *path);
/* Whole file, NUL-terminated; NULL when it cannot be read. */
char *tu_read_file(const char *path, size_t *len);
int tu_write_file(const char *path, const char *data, size_t len, int mode);
/* Path of the test data directory: $INTENTUS_TEST_DATA or tests/data. */
const char *tu_data_dir(void);
/* Path of the intentus binary: $INTENTUS_BIN or build/intentus. */
const char *tu_bin(void);
/* Number of regular, visible (not dot) files in dir; -1 on error. */
int tu_count_files(const char *dir, const char *suffix);

struct tu_run {
    int status; /* exit code, or 128+signal */
    char *out;  /* stdout, NUL-terminated */
    char *err;  /* stderr */
};

/* Run argv (argv[0] is looked up as given, no shell) in cwd (NULL: ours),
 * feeding stdin_text (NULL: /dev/null), with extra environment entries
 * "NAME=value" (NULL-terminated list, may be NULL). Kills the child after
 * timeout_ms. Returns 0 when it ran. */
int tu_run(char *const argv[], const char *cwd, const char *stdin_text, char *const env_extra[],
           int timeout_ms, struct tu_run *out);
void tu_run_free(struct tu_run *r);

#endif
