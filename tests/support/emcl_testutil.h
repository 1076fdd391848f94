/* Running the reference's EMCL code (tests/support/ref_emcl.py) from the
 * tests: one-shot seal/open/client runs and the reference-side http agent. */
#ifndef INTENTUS_TESTS_SUPPORT_EMCL_TESTUTIL_H
#define INTENTUS_TESTS_SUPPORT_EMCL_TESTUTIL_H

#include <stdbool.h>
#include <sys/types.h>

#include "tests/support/testutil.h"

/* True when python3 can import the reference's EMCL providers
 * ($INTENTUS_REFERENCE_PYTHON or ../shared/reference/python); checked once.
 * Tests skip (counted) when false. */
bool te_ref_available(void);

/* python3 tests/support/ref_emcl.py args... with the reference on
 * PYTHONPATH and INTENTUS_TEST_EMCL_KEY=key, stdin_text on stdin. 0 when
 * it ran (out->status is its exit code). */
int te_ref_run(const char *const *args, const char *key, const char *stdin_text,
               struct tu_run *out);

/* ref_emcl.py server on 127.0.0.1 (pipes: it exits with the test). */
struct te_ref_server {
    pid_t pid;
    int stdin_fd, stdout_fd;
    int port;
};
/* mode "aes-gcm" or "hmac"; log: file each request body is appended to. */
int te_ref_server_start(struct te_ref_server *s, const char *mode, const char *key,
                        const char *log);
void te_ref_server_stop(struct te_ref_server *s);

#endif
