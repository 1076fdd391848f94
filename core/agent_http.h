/* The http agent kind (core/agent_http.c): what an http agent was configured
 * with, for display (`intentus agents`) and tests. The kind itself is used
 * through struct agent_kind (agent_kind_http in core/agent.h). */
#ifndef INTENTUS_CORE_AGENT_HTTP_H
#define INTENTUS_CORE_AGENT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;

struct agent_http_settings {
    const char *url;  /* borrowed from the agent */
    size_t n_headers; /* configured headers (values are never exposed) */
    int64_t connect_timeout_ms;
    bool tls_verify;
    size_t max_response; /* bytes */
};

/* 0 and the settings of an http agent; -1 when a is another kind. */
int agent_http_settings(const struct agent *a, struct agent_http_settings *out);

#endif
