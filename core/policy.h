/* The reference's policy engine (§4.1-4.4): rules in list order, first match
 * wins, the default action when none matches; the same JSON format, so a
 * reference policy file loads unchanged.
 *
 * intentus extensions, documented as such: entries of "intents", "agents"
 * and "tenants" are fnmatch(3) globs ("admin.*"; "*" matches anything,
 * where the reference compared literally), and an "intents" entry may be
 * "name@version". "payload_regex" uses POSIX extended regular expressions,
 * case-insensitive, unanchored (the reference uses Python's re). */
#ifndef INTENTUS_CORE_POLICY_H
#define INTENTUS_CORE_POLICY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define POLICY_SOURCE "intentusnet.policy"

/* Who asks for what. The router fills it: subject = metadata.source, tenant
 * and roles from context.tags ("tenant:<id>", "role:<name>"), agent = the
 * target or first candidate. Strings may be NULL (the reference's None). */
struct policy_ctx {
    const char *subject, *tenant, *intent, *intent_version, *agent;
    const char *const *roles;
    size_t n_roles;
    const cJSON *payload;
};

struct policy_decision {
    bool allowed;
    char reason[300];
    char matched_rule[128]; /* "" when no rule matched */
    bool has_key;           /* a rate-limit key was formatted */
    char rate_limit_key[512];
    bool has_rate;
    long rate_limit_per_minute;
    bool has_timeout;
    long long max_timeout_ms;
};

struct policy;

/* Parse {"default": ..., "rules": [...]}; path names it in messages. */
struct policy *policy_parse(const cJSON *obj, const char *path, struct intentus_err *err);
/* Read and parse a JSON policy file (YAML files are refused with a message). */
struct policy *policy_load_file(const char *file, struct intentus_err *err);
void policy_free(struct policy *p);
size_t policy_rule_count(const struct policy *p);

/* Evaluate; never fails (a key too long for the buffer is truncated). */
void policy_evaluate(const struct policy *p, const struct policy_ctx *ctx,
                     struct policy_decision *out);
/* The reference's decision object: {allowed, reason, matched_rule, source,
 * rate_limit_key, rate_limit_per_minute, max_timeout_ms}. */
cJSON *policy_decision_json(const struct policy_decision *d);

/* Format a rate-limit key template ({subject} {tenant} {intent} {agent},
 * {{ and }} literal). -1 with err for any other field or a stray brace. */
int policy_format_key(const char *tmpl, const struct policy_ctx *ctx, char *out, size_t size,
                      struct intentus_err *err);

#endif
