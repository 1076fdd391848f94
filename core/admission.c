#include "core/admission.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"

/* NOLINTBEGIN(misc-no-recursion): bounded by its limit argument. */
int
admission_depth(const cJSON *v, int limit)
{
    const cJSON *c;
    int best = 0;

    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        return 0;
    if (limit <= 0)
        return 1;
    cJSON_ArrayForEach(c, v)
    {
        int d = admission_depth(c, limit - 1);
        if (d > best)
            best = d;
        if (best >= limit)
            break;
    }
    return best + 1;
}
/* NOLINTEND(misc-no-recursion) */

/* NOLINTBEGIN(misc-no-recursion): a tree walk; parsed trees are depth-limited. */
/* An upper bound of json_print_compact's length of v, without printing it:
 * every string byte counts as the 6 of a \u escape, a number as its text
 * (or the 32 bytes a double can take). Stops counting past limit. */
static size_t
compact_bound(const cJSON *v, size_t limit)
{
    const cJSON *c;
    size_t n;

    switch (v->type & 0xff) {
    case cJSON_String:
    case cJSON_Raw:
        return v->valuestring != NULL ? 6 * strlen(v->valuestring) + 2 : 2;
    case cJSON_Number:
        return v->valuestring != NULL ? strlen(v->valuestring) : 32;
    case cJSON_Array:
    case cJSON_Object:
        n = 2;
        for (c = v->child; c != NULL && n <= limit; c = c->next) {
            n += compact_bound(c, limit) + 1;
            if (c->string != NULL)
                n += 6 * strlen(c->string) + 3;
        }
        return n;
    default:
        return 5;
    }
}
/* NOLINTEND(misc-no-recursion) */

/* recording.max_payload_bytes and max_depth. A router that records also
 * caps the payload at what a record file can hold (REC_STORE_MAX_PAYLOAD),
 * whatever the configured limit. */
static bool
payload_over_limit(const struct router *r, const struct envelope_view *v, char *msg, size_t size)
{
    const cJSON *payload = v->payload;
    struct buf b = BUF_INIT;
    uint64_t limit = r->max_payload_bytes;
    bool over = false, capped = false;

    if (r->max_depth > 0 && admission_depth(payload, r->max_depth + 1) > r->max_depth) {
        snprintf(msg, size, "payload nesting depth exceeds the limit of %d", r->max_depth);
        return true;
    }
    if ((r->store != NULL || r->writer != NULL) && (limit == 0 || limit > REC_STORE_MAX_PAYLOAD)) {
        limit = REC_STORE_MAX_PAYLOAD;
        capped = true;
    }
    if (limit == 0)
        return false;
    /* The exact length only when the cheap bound does not settle it. */
    if (payload == NULL || compact_bound(payload, limit) <= limit)
        return false;
    if (json_print_compact(payload, &b) != 0) {
        snprintf(msg, size, "payload could not be measured (out of memory)");
        return true;
    }
    if (b.len > limit) {
        if (capped)
            snprintf(msg, size,
                     "payload of %zu bytes exceeds the %llu bytes a record can hold (record "
                     "files are limited to %zu MiB)",
                     b.len, (unsigned long long)limit, REC_STORE_MAX_FILE >> 20);
        else
            snprintf(msg, size, "payload of %zu bytes exceeds the limit of %llu bytes", b.len,
                     (unsigned long long)limit);
        over = true;
    }
    buf_free(&b);
    return over;
}

/* What a record (and a WAL) needs of the envelope: its canonical hash. A
 * number out of range (1e999999) has none; found before anything runs. */
static bool
envelope_unhashable(const struct router *r, const struct envelope_view *v, char hash[65], char *msg,
                    size_t size)
{
    struct intentus_err err = { 0 };

    if (r->store == NULL && r->writer == NULL && r->wal == NULL)
        return false;
    /* Sampled out whatever happens (begin() builds no record) and no WAL:
     * nothing will need the hash, so do not compute it (it was half the
     * cost of such a route). */
    if (r->wal == NULL && r->sample && !r->sample_errors &&
        !router_sample_in(envelope_view_request_id(v), r->sample_rate))
        return false;
    if (json_canonical_sha256(v->env, hash, &err) == 0)
        return false;
    hash[0] = '\0';
    if (err.code == IERR_NOMEM)
        return false; /* out of memory is found again, and reported, as it runs */
    snprintf(msg, size, "envelope cannot be hashed for its record: %s", err.msg);
    return true;
}

bool
admission_refuses_payload(const struct router *r, const struct envelope_view *v, char hash[65],
                          enum error_code *code, char *msg, size_t size)
{
    hash[0] = '\0';
    if (payload_over_limit(r, v, msg, size)) {
        *code = ERR_PAYLOAD_TOO_LARGE;
        return true;
    }
    if (envelope_unhashable(r, v, hash, msg, size)) {
        *code = ERR_VALIDATION_ERROR;
        return true;
    }
    return false;
}

/* The policy context from the envelope: subject = metadata.source, tenant
 * and roles from context.tags ("tenant:<id>", "role:<name>"). */
static void
policy_context(const struct exec *x, struct policy_ctx *c, const char **roles, size_t max)
{
    const cJSON *tags = json_item(x->ev.context, "tags");
    const cJSON *t;

    memset(c, 0, sizeof(*c));
    c->subject = envelope_view_source(&x->ev);
    c->intent = x->intent;
    c->intent_version = envelope_view_intent_version(&x->ev);
    c->agent = envelope_view_target_agent(&x->ev);
    if (c->agent == NULL && x->n > 0)
        c->agent = x->cands[0]->name;
    c->payload = x->ev.payload;
    c->roles = roles;
    cJSON_ArrayForEach(t, tags)
    {
        if (!cJSON_IsString(t))
            continue;
        if (c->tenant == NULL && strncmp(t->valuestring, "tenant:", 7) == 0)
            c->tenant = t->valuestring + 7;
        else if (c->n_roles < max && strncmp(t->valuestring, "role:", 5) == 0)
            roles[c->n_roles++] = t->valuestring + 5;
    }
}

static struct outcome
rate_limited(struct exec *x, const struct policy_decision *d)
{
    struct outcome o = { 0 };
    char msg[700];
    cJSON *details = cJSON_CreateObject();

    snprintf(msg, sizeof(msg), "Rate limit exceeded: %ld per minute for key '%s'",
             d->rate_limit_per_minute, d->rate_limit_key);
    if (details != NULL) {
        cJSON_AddStringToObject(details, "rate_limit_key", d->rate_limit_key);
        cJSON_AddNumberToObject(details, "rate_limit_per_minute", (double)d->rate_limit_per_minute);
    }
    o.response = response_router_error(error_info_new(ERR_RATE_LIMIT, msg, true, details), "router",
                                       x->trace_id);
    return o;
}

bool
admission_apply_policy(struct exec *x, struct outcome *o)
{
    struct router *r = x->router;
    const char *roles[32];
    struct policy_ctx c;
    struct policy_decision d;
    bool limited = false;
    cJSON *p;

    if (r->policy == NULL)
        return false;
    policy_context(x, &c, roles, sizeof(roles) / sizeof(roles[0]));
    policy_evaluate(r->policy, &c, &d);
    p = policy_decision_json(&d);
    if (d.allowed && d.has_key && d.has_rate) {
        limited = !ratelimit_check(r->limiter, d.rate_limit_key, d.rate_limit_per_minute);
        if (p != NULL)
            cJSON_AddBoolToObject(p, "rate_limited", limited);
    }
    ev_policy_decision(x, p);
    cJSON_Delete(p);
    if (!d.allowed) {
        cJSON *details = cJSON_CreateObject();
        if (details != NULL && d.matched_rule[0] != '\0')
            cJSON_AddStringToObject(details, "matched_rule", d.matched_rule);
        *o = router_fail(x, ERR_UNAUTHORIZED, d.reason, details, "router");
        return true;
    }
    if (limited) {
        *o = rate_limited(x, &d);
        return true;
    }
    if (d.has_timeout && d.max_timeout_ms > 0) {
        int64_t cap = clock_mono_us() + (int64_t)d.max_timeout_ms * 1000;
        if (x->deadline_us == 0 || cap < x->deadline_us) {
            x->deadline_us = cap;
            x->deadline_ms = (int64_t)d.max_timeout_ms;
        }
    }
    return false;
}
