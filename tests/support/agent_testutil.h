/* Helpers for the agent kind tests (exec, http): build an agent from a JSON
 * config entry as config files do, call it with a deadline, and check for
 * leaked descriptors and leftover processes. */
#ifndef INTENTUS_TESTS_SUPPORT_AGENT_TESTUTIL_H
#define INTENTUS_TESTS_SUPPORT_AGENT_TESTUTIL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/agent.h"
#include "core/err.h"
#include "core/model.h"

/* The real python3 executable (not a pyenv-style shim script, which costs
 * ~200 ms a start): $INTENTUS_TEST_PYTHON, else what `python3` reports as
 * sys.executable. Static storage; NULL when there is no python3. */
const char *tu_python(void);

/* agent_from_config on JSON text; NULL with err set on a config error. */
struct agent *tu_agent_new(const char *entry_json, struct intentus_err *err);

/* agent_call on a fresh "t.agent" envelope with payload_json (an object),
 * timeout_ms from now (0: no deadline), and cache (may be NULL). The
 * response (caller frees) or NULL with err; *elapsed_ms (if non-NULL) is
 * the call's duration. */
cJSON *tu_agent_call(struct agent *a, const char *payload_json, int64_t timeout_ms,
                     struct agent_cache *cache, int64_t *elapsed_ms, struct intentus_err *err);

/* A normal-priority envelope for intent with strategy s and payload_json
 * (parsed as the CLI parses it, number text kept). NULL with err set when
 * the payload is not JSON or memory ran out. */
cJSON *tu_envelope(const char *intent, enum strategy s, const char *payload_json,
                   struct intentus_err *err);

/* The response's error code, or "" for a success. */
const char *tu_code(const cJSON *resp);
const char *tu_message(const cJSON *resp); /* "" for a success */
bool tu_retryable(const cJSON *resp);
const cJSON *tu_details(const cJSON *resp);

/* Open descriptors of this process. */
int tu_count_fds(void);
/* Wait up to timeout_ms until pid no longer runs (gone, or a zombie left
 * to whoever reaps orphans here); true when it is gone. */
bool tu_wait_gone(pid_t pid, int timeout_ms);

/* examples/agents/http_agent.py on 127.0.0.1, started with pipes so it dies
 * with the test (end of its stdin) and bounded by --max-seconds. */
struct tu_http_server {
    pid_t pid;
    int stdin_fd;
    int stdout_fd;
    int port;
};
/* extra_args: NULL-terminated extra arguments, may be NULL. 0 or -1. */
int tu_http_server_start(struct tu_http_server *s, const char *const *extra_args);
void tu_http_server_stop(struct tu_http_server *s);

#endif
