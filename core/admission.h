/* Admission: what is checked before an execution runs, in the order the
 * router asks. A payload over recording.max_payload_bytes or max_depth, or
 * one its record could not hold or hash, is refused before any agent sees
 * it; the policy (with its rate limits and timeout cap) is evaluated once,
 * and its decision recorded. */
#ifndef INTENTUS_CORE_ADMISSION_H
#define INTENTUS_CORE_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/router_int.h"

/* True when v->env's payload may not run: *code and msg say why
 * (ERR_PAYLOAD_TOO_LARGE, ERR_VALIDATION_ERROR). hash gets the envelope's
 * canonical hash when it was computed (a record or WAL will need it), ""
 * otherwise, so the record does not compute it again. */
bool admission_refuses_payload(const struct router *r, const struct envelope_view *v, char hash[65],
                               enum error_code *code, char *msg, size_t size);
/* Nesting depth of v (a scalar is 0, {} is 1), not counted past limit. */
int admission_depth(const cJSON *v, int limit);
/* Evaluate the policy once, before any agent runs. Returns true when the
 * execution is refused (o set). Records POLICY_DECISION whenever a policy
 * is configured, so every decision is auditable; may shorten x's deadline
 * to the policy's max_timeout_ms. */
bool admission_apply_policy(struct exec *x, struct outcome *o);

#endif
