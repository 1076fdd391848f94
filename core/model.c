#include "core/model.h"

#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/uuid.h"

static const char *const error_names[] = {
#define X(sym, text) text,
    MODEL_ERROR_CODES(X)
#undef X
};

static const char *const strategy_wire[] = {
#define X(sym, wire, event) wire,
    MODEL_STRATEGIES(X)
#undef X
};

static const char *const strategy_event[] = {
#define X(sym, wire, event) event,
    MODEL_STRATEGIES(X)
#undef X
};

static const char *const priority_wire[] = {
#define X(sym, wire) wire,
    MODEL_PRIORITIES(X)
#undef X
};

const char *
model_error_code_name(enum error_code code)
{
    if ((unsigned)code >= ERR_CODE_COUNT)
        return "INTERNAL_AGENT_ERROR";
    return error_names[code];
}

int
model_error_code_parse(const char *name, enum error_code *out)
{
    for (int i = 0; name != NULL && i < ERR_CODE_COUNT; i++) {
        if (strcmp(name, error_names[i]) == 0) {
            *out = (enum error_code)i;
            return 0;
        }
    }
    return -1;
}

const char *
model_strategy_wire(enum strategy s)
{
    return (unsigned)s < STRATEGY_COUNT ? strategy_wire[s] : "fallback";
}

const char *
model_strategy_event(enum strategy s)
{
    return (unsigned)s < STRATEGY_COUNT ? strategy_event[s] : "FALLBACK";
}

int
model_strategy_parse(const char *text, enum strategy *out)
{
    for (int i = 0; text != NULL && i < STRATEGY_COUNT; i++) {
        if (strcasecmp(text, strategy_wire[i]) == 0) {
            *out = (enum strategy)i;
            return 0;
        }
    }
    return -1;
}

const char *
model_priority_wire(enum priority p)
{
    return (unsigned)p < PRIORITY_COUNT ? priority_wire[p] : "normal";
}

int
model_priority_parse(const char *text, enum priority *out)
{
    for (int i = 0; text != NULL && i < PRIORITY_COUNT; i++) {
        if (strcasecmp(text, priority_wire[i]) == 0) {
            *out = (enum priority)i;
            return 0;
        }
    }
    return -1;
}

static cJSON *
string_array(const char *const *items)
{
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; arr != NULL && items != NULL && items[i] != NULL; i++) {
        cJSON *s = cJSON_CreateString(items[i]);
        if (s == NULL || !cJSON_AddItemToArray(arr, s)) {
            cJSON_Delete(s);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* cJSON_Add* return NULL on failure; collect failures instead of checking
 * each call, then reject the whole object once. */
static void
add(cJSON *obj, const char *key, cJSON *item, int *failed)
{
    if (item == NULL || !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        *failed = 1;
    }
}

/* The same for the fixed key names of the shapes built on every route:
 * key is a string literal, linked rather than copied (cJSON_StringIsConst;
 * cJSON_Delete, cJSON_Duplicate and the replace calls honour the flag). */
static void
add_cs(cJSON *obj, const char *key, cJSON *item, int *failed)
{
    if (item == NULL || !cJSON_AddItemToObjectCS(obj, key, item)) {
        cJSON_Delete(item);
        *failed = 1;
    }
}

static cJSON *
string_or_null(const char *s)
{
    return s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull();
}

cJSON *
envelope_new(const char *intent, cJSON *payload, const struct envelope_opts *opts,
             struct intentus_err *err)
{
    static const struct envelope_opts defaults = { .priority = PRIORITY_NORMAL };
    char now[CLOCK_ISO_LEN], req[UUID_STR_LEN], trace[UUID_STR_LEN];
    cJSON *env, *o;
    int failed = 0;

    if (opts == NULL)
        opts = &defaults;
    if (payload == NULL)
        payload = cJSON_CreateObject();
    if (payload == NULL || !cJSON_IsObject(payload)) {
        cJSON_Delete(payload);
        err_set(err, IERR_INVALID, "payload must be a JSON object");
        return NULL;
    }
    if (intent == NULL || intent[0] == '\0') {
        cJSON_Delete(payload);
        err_set(err, IERR_INVALID, "intent name must not be empty");
        return NULL;
    }
    clock_now_iso(now);
    uuid_v4(req);
    uuid_v4(trace);
    env = cJSON_CreateObject();
    if (env == NULL) {
        cJSON_Delete(payload);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    add(env, "version", cJSON_CreateString("1.0"), &failed);
    o = cJSON_CreateObject();
    add(env, "intent", o, &failed);
    if (o != NULL) {
        add(o, "name", cJSON_CreateString(intent), &failed);
        add(o, "version", cJSON_CreateString(opts->intent_version ? opts->intent_version : "1.0"),
            &failed);
    }
    add(env, "payload", payload, &failed);
    o = cJSON_CreateObject();
    add(env, "context", o, &failed);
    if (o != NULL) {
        add(o, "sourceAgent",
            cJSON_CreateString(opts->source_agent ? opts->source_agent : "client"), &failed);
        add(o, "timestamp", cJSON_CreateString(now), &failed);
        add(o, "priority", cJSON_CreateString(model_priority_wire(opts->priority)), &failed);
        add(o, "tags", string_array(opts->tags), &failed);
    }
    o = cJSON_CreateObject();
    add(env, "metadata", o, &failed);
    if (o != NULL) {
        add(o, "requestId", cJSON_CreateString(opts->request_id ? opts->request_id : req), &failed);
        add(o, "source", cJSON_CreateString(opts->source ? opts->source : "intentus-cli"), &failed);
        add(o, "createdAt", cJSON_CreateString(now), &failed);
        add(o, "traceId", cJSON_CreateString(opts->trace_id ? opts->trace_id : trace), &failed);
        add(o, "identityChain", cJSON_CreateArray(), &failed);
    }
    o = cJSON_CreateObject();
    add(env, "routing", o, &failed);
    if (o != NULL) {
        add(o, "strategy", cJSON_CreateString(model_strategy_wire(opts->strategy)), &failed);
        add(o, "targetAgent", string_or_null(opts->target_agent), &failed);
        add(o, "fallbackAgents", string_array(opts->fallback_agents), &failed);
        if (opts->timeout_ms > 0)
            add(o, "timeoutMs", cJSON_CreateNumber((double)opts->timeout_ms), &failed);
    }
    o = cJSON_CreateObject();
    add(env, "routingMetadata", o, &failed);
    if (o != NULL) {
        add(o, "decisionPath", cJSON_CreateArray(), &failed);
        add(o, "retries", cJSON_CreateNumber(0), &failed);
    }
    if (failed) {
        cJSON_Delete(env);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    return env;
}

/* Field checks for validation: each names the JSON path of what is wrong. */
enum kind { K_STRING, K_STRING_OR_NULL, K_OBJECT, K_STRING_ARRAY, K_INT };

static int
check(const cJSON *obj, const char *path, const char *key, enum kind kind, bool required,
      struct intentus_err *err)
{
    const cJSON *v = json_item(obj, key);

    if (v == NULL) {
        if (required) {
            err_set(err, IERR_INVALID, "%s.%s: missing", path, key);
            return -1;
        }
        return 0;
    }
    switch (kind) {
    case K_STRING:
        if (cJSON_IsString(v))
            return 0;
        err_set(err, IERR_INVALID, "%s.%s: must be a string", path, key);
        return -1;
    case K_STRING_OR_NULL:
        if (cJSON_IsString(v) || cJSON_IsNull(v))
            return 0;
        err_set(err, IERR_INVALID, "%s.%s: must be a string or null", path, key);
        return -1;
    case K_OBJECT:
        if (cJSON_IsObject(v))
            return 0;
        err_set(err, IERR_INVALID, "%s.%s: must be an object", path, key);
        return -1;
    case K_STRING_ARRAY: {
        const cJSON *it;
        int i = 0;
        if (cJSON_IsNull(v))
            return 0;
        if (!cJSON_IsArray(v)) {
            err_set(err, IERR_INVALID, "%s.%s: must be an array of strings", path, key);
            return -1;
        }
        cJSON_ArrayForEach(it, v)
        {
            if (!cJSON_IsString(it)) {
                err_set(err, IERR_INVALID, "%s.%s[%d]: must be a string", path, key, i);
                return -1;
            }
            i++;
        }
        return 0;
    }
    case K_INT:
        /* Range first: converting 1e300 to long long is undefined. */
        if (cJSON_IsNumber(v) && v->valuedouble >= -9223372036854775808.0 &&
            v->valuedouble < 9223372036854775808.0 &&
            v->valuedouble == (double)(long long)v->valuedouble)
            return 0;
        err_set(err, IERR_INVALID, "%s.%s: must be an integer", path, key);
        return -1;
    }
    return 0;
}

int
envelope_validate(const cJSON *env, struct intentus_err *err)
{
    const cJSON *o;
    enum priority pr;

    if (!cJSON_IsObject(env)) {
        err_set(err, IERR_INVALID, "envelope: must be an object");
        return -1;
    }
    if (check(env, "envelope", "version", K_STRING, false, err) ||
        check(env, "envelope", "intent", K_OBJECT, true, err) ||
        check(env, "envelope", "payload", K_OBJECT, true, err) ||
        check(env, "envelope", "context", K_OBJECT, false, err) ||
        check(env, "envelope", "metadata", K_OBJECT, false, err) ||
        check(env, "envelope", "routing", K_OBJECT, false, err) ||
        check(env, "envelope", "routingMetadata", K_OBJECT, false, err))
        return -1;
    o = json_item(env, "intent");
    if (check(o, "envelope.intent", "name", K_STRING, true, err) ||
        check(o, "envelope.intent", "version", K_STRING, false, err))
        return -1;
    if (envelope_intent_name(env)[0] == '\0') {
        err_set(err, IERR_INVALID, "envelope.intent.name: must not be empty");
        return -1;
    }
    o = json_item(env, "context");
    if (o != NULL) {
        if (check(o, "envelope.context", "sourceAgent", K_STRING, false, err) ||
            check(o, "envelope.context", "timestamp", K_STRING, false, err) ||
            check(o, "envelope.context", "priority", K_STRING, false, err) ||
            check(o, "envelope.context", "tags", K_STRING_ARRAY, false, err))
            return -1;
        const char *s = json_get_string(o, "priority");
        if (s != NULL && model_priority_parse(s, &pr) != 0) {
            err_set(err, IERR_INVALID,
                    "envelope.context.priority: '%s' is not one of low, normal, high", s);
            return -1;
        }
    }
    o = json_item(env, "metadata");
    if (o != NULL && (check(o, "envelope.metadata", "requestId", K_STRING, false, err) ||
                      check(o, "envelope.metadata", "source", K_STRING, false, err) ||
                      check(o, "envelope.metadata", "createdAt", K_STRING, false, err) ||
                      check(o, "envelope.metadata", "traceId", K_STRING_OR_NULL, false, err) ||
                      check(o, "envelope.metadata", "identityChain", K_STRING_ARRAY, false, err)))
        return -1;
    o = json_item(env, "routing");
    if (o != NULL && (check(o, "envelope.routing", "strategy", K_STRING_OR_NULL, false, err) ||
                      check(o, "envelope.routing", "targetAgent", K_STRING_OR_NULL, false, err) ||
                      check(o, "envelope.routing", "fallbackAgents", K_STRING_ARRAY, false, err)))
        return -1;
    o = json_item(env, "routingMetadata");
    if (o != NULL &&
        (check(o, "envelope.routingMetadata", "decisionPath", K_STRING_ARRAY, false, err) ||
         check(o, "envelope.routingMetadata", "retries", K_INT, false, err)))
        return -1;
    return 0;
}

static const cJSON *
section(const cJSON *env, const char *key)
{
    return json_item(env, key);
}

const char *
envelope_intent_name(const cJSON *env)
{
    const char *s = json_get_string(section(env, "intent"), "name");
    return s != NULL ? s : "";
}

const char *
envelope_intent_version(const cJSON *env)
{
    const char *s = json_get_string(section(env, "intent"), "version");
    return s != NULL ? s : "1.0";
}

const char *
envelope_trace_id(const cJSON *env)
{
    const char *s = json_get_string(section(env, "metadata"), "traceId");
    return s != NULL ? s : "";
}

enum strategy
envelope_strategy(const cJSON *env)
{
    const char *s = json_get_string(section(env, "routing"), "strategy");
    if (s == NULL)
        return STRATEGY_DIRECT;
    /* The wire values are lowercase; anything else routes as FALLBACK. */
    for (int i = 0; i < STRATEGY_COUNT; i++) {
        if (strcmp(s, model_strategy_wire((enum strategy)i)) == 0)
            return (enum strategy)i;
    }
    return STRATEGY_UNKNOWN;
}

const char *
envelope_target_agent(const cJSON *env)
{
    const char *s = json_get_string(section(env, "routing"), "targetAgent");
    return s != NULL && s[0] != '\0' ? s : NULL;
}

const cJSON *
envelope_fallback_agents(const cJSON *env)
{
    const cJSON *v = json_item(section(env, "routing"), "fallbackAgents");
    return cJSON_IsArray(v) ? v : NULL;
}

static cJSON *
ensure_object(cJSON *parent, const char *key)
{
    cJSON *o = json_item(parent, key);

    if (cJSON_IsObject(o))
        return o;
    o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    if (json_item(parent, key) != NULL) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(parent, key, o)) {
            cJSON_Delete(o);
            return NULL;
        }
    } else if (!cJSON_AddItemToObject(parent, key, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int
set_string(cJSON *obj, const char *key, const char *value)
{
    cJSON *s = cJSON_CreateString(value);

    if (s == NULL)
        return -1;
    if (json_item(obj, key) != NULL)
        return cJSON_ReplaceItemInObjectCaseSensitive(obj, key, s) ? 0 : (cJSON_Delete(s), -1);
    return cJSON_AddItemToObject(obj, key, s) ? 0 : (cJSON_Delete(s), -1);
}

int
envelope_normalize(cJSON *env)
{
    cJSON *md = ensure_object(env, "metadata");
    const cJSON *chain;

    if (md == NULL)
        return -1;
    if (envelope_trace_id(env)[0] == '\0') {
        char trace[UUID_STR_LEN];
        uuid_v4(trace);
        if (set_string(md, "traceId", trace) != 0)
            return -1;
    }
    chain = json_item(md, "identityChain");
    if (!cJSON_IsArray(chain)) {
        cJSON *arr = cJSON_CreateArray();
        if (arr == NULL)
            return -1;
        if (chain != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(md, "identityChain", arr);
        else
            cJSON_AddItemToObject(md, "identityChain", arr);
    }
    return 0;
}

int
envelope_append_decision(cJSON *env, const char *agent)
{
    cJSON *rm = ensure_object(env, "routingMetadata");
    cJSON *path, *s;

    if (rm == NULL)
        return -1;
    path = json_item(rm, "decisionPath");
    if (!cJSON_IsArray(path)) {
        path = cJSON_CreateArray();
        if (path == NULL)
            return -1;
        if (json_item(rm, "decisionPath") != NULL)
            cJSON_ReplaceItemInObjectCaseSensitive(rm, "decisionPath", path);
        else
            cJSON_AddItemToObject(rm, "decisionPath", path);
    }
    s = cJSON_CreateString(agent);
    if (s == NULL || !cJSON_AddItemToArray(path, s)) {
        cJSON_Delete(s);
        return -1;
    }
    return 0;
}

cJSON *
error_info_new(enum error_code code, const char *message, bool retryable, cJSON *details)
{
    cJSON *e = cJSON_CreateObject();
    int failed = 0;

    if (e == NULL) {
        cJSON_Delete(details);
        return NULL;
    }
    /* The code's text is a literal of the table: referenced, not copied. */
    add_cs(e, "code", cJSON_CreateStringReference(model_error_code_name(code)), &failed);
    add_cs(e, "message", cJSON_CreateString(message != NULL ? message : ""), &failed);
    add_cs(e, "retryable", cJSON_CreateBool(retryable), &failed);
    add_cs(e, "details", details != NULL ? details : cJSON_CreateObject(), &failed);
    if (failed) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

/* status is "success" or "error" (a literal: referenced, not copied). */
static cJSON *
response_shell(const char *status, cJSON *payload, cJSON *metadata, cJSON *error)
{
    cJSON *r = cJSON_CreateObject();
    int failed = 0;

    if (r == NULL) {
        cJSON_Delete(payload);
        cJSON_Delete(metadata);
        cJSON_Delete(error);
        return NULL;
    }
    add_cs(r, "version", cJSON_CreateStringReference("1.0"), &failed);
    add_cs(r, "status", cJSON_CreateStringReference(status), &failed);
    add_cs(r, "payload", payload != NULL ? payload : cJSON_CreateNull(), &failed);
    add_cs(r, "metadata", metadata, &failed);
    add_cs(r, "error", error != NULL ? error : cJSON_CreateNull(), &failed);
    if (failed) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

/* Metadata with the three standard keys in the given order ("a" agent,
 * "t" traceId, "s" timestamp). */
static cJSON *
metadata_new(const char *order, const char *agent, const char *trace_id)
{
    cJSON *md = cJSON_CreateObject();
    char now[CLOCK_ISO_LEN];
    int failed = 0;

    if (md == NULL)
        return NULL;
    clock_now_iso(now);
    for (const char *p = order; *p; p++) {
        if (*p == 'a')
            add_cs(md, "agent", cJSON_CreateString(agent), &failed);
        else if (*p == 't')
            add_cs(md, "traceId", cJSON_CreateString(trace_id), &failed);
        else
            add_cs(md, "timestamp", cJSON_CreateString(now), &failed);
    }
    if (failed) {
        cJSON_Delete(md);
        return NULL;
    }
    return md;
}

cJSON *
response_success(cJSON *payload, const char *agent, const char *trace_id)
{
    if (payload == NULL)
        payload = cJSON_CreateObject();
    return response_shell("success", payload, metadata_new("ats", agent, trace_id), NULL);
}

cJSON *
response_success_borrowing(const cJSON *env, const char *agent, const char *trace_id)
{
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(env, "payload");

    if (!cJSON_IsObject(payload)) /* absent: {}; anything else is copied */
        return response_success(payload != NULL ? cJSON_Duplicate(payload, 1) : NULL, agent,
                                trace_id);
    return response_shell("success", cJSON_CreateObjectReference(payload->child),
                          metadata_new("ats", agent, trace_id), NULL);
}

bool
response_borrows(const cJSON *resp)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(resp, "payload");

    return p != NULL && (p->type & cJSON_IsReference) != 0;
}

int
response_own(cJSON *resp)
{
    cJSON *copy;

    if (!response_borrows(resp))
        return 0;
    /* cJSON_Duplicate copies what a reference points to, as its own. */
    copy = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(resp, "payload"), 1);
    if (copy == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(resp, "payload", copy)) {
        cJSON_Delete(copy);
        return -1;
    }
    return 0;
}

cJSON *
response_agent_error(cJSON *error_info, const char *agent, const char *trace_id)
{
    return response_shell("error", NULL, metadata_new("ats", agent, trace_id), error_info);
}

cJSON *
response_exhausted(const cJSON *last_error, const char *pseudo_agent, const char *trace_id)
{
    cJSON *e = last_error != NULL
                   ? cJSON_Duplicate(last_error, 1)
                   : error_info_new(ERR_ROUTING_ERROR, "routing failed", false, NULL);
    return response_shell("error", NULL, metadata_new("tas", pseudo_agent, trace_id), e);
}

cJSON *
response_router_error(cJSON *error_info, const char *agent, const char *trace_id)
{
    return response_shell("error", NULL, metadata_new("ast", agent, trace_id), error_info);
}

int
response_fill_metadata(cJSON *resp, const char *agent, const char *trace_id)
{
    cJSON *md = ensure_object(resp, "metadata");

    if (md == NULL)
        return -1;
    if (json_item(md, "agent") == NULL && set_string(md, "agent", agent))
        return -1;
    if (json_item(md, "traceId") == NULL && set_string(md, "traceId", trace_id))
        return -1;
    if (json_item(md, "timestamp") == NULL) {
        char now[CLOCK_ISO_LEN];
        clock_now_iso(now);
        if (set_string(md, "timestamp", now))
            return -1;
    }
    return 0;
}

const cJSON *
response_error(const cJSON *resp)
{
    const cJSON *e = json_item(resp, "error");
    return e != NULL && !cJSON_IsNull(e) ? e : NULL;
}

bool
response_is_error(const cJSON *resp)
{
    return resp == NULL || response_error(resp) != NULL;
}

const char *
response_error_code(const cJSON *resp)
{
    return json_get_string(response_error(resp), "code");
}

int
response_validate(const cJSON *resp, struct intentus_err *err)
{
    const cJSON *e;
    enum error_code code;

    if (!cJSON_IsObject(resp)) {
        err_set(err, IERR_INVALID, "response: must be a JSON object");
        return -1;
    }
    if (check(resp, "response", "status", K_STRING, false, err) ||
        check(resp, "response", "metadata", K_OBJECT, false, err))
        return -1;
    e = json_item(resp, "error");
    if (e == NULL || cJSON_IsNull(e))
        return 0;
    if (!cJSON_IsObject(e)) {
        err_set(err, IERR_INVALID, "response.error: must be an object or null");
        return -1;
    }
    if (check(e, "response.error", "code", K_STRING, true, err) ||
        check(e, "response.error", "message", K_STRING, false, err))
        return -1;
    if (model_error_code_parse(json_get_string(e, "code"), &code) != 0) {
        err_set(err, IERR_INVALID, "response.error.code: '%s' is not a known error code",
                json_get_string(e, "code"));
        return -1;
    }
    return 0;
}

cJSON *
decision_new(const char *agent, const char *intent, const char *reason)
{
    cJSON *d = cJSON_CreateObject();
    char now[CLOCK_ISO_LEN];
    int failed = 0;

    if (d == NULL)
        return NULL;
    clock_now_iso(now);
    add(d, "agent", cJSON_CreateString(agent), &failed);
    add(d, "intent", cJSON_CreateString(intent), &failed);
    add(d, "reason", cJSON_CreateString(reason), &failed);
    add(d, "timestamp", cJSON_CreateString(now), &failed);
    if (failed) {
        cJSON_Delete(d);
        return NULL;
    }
    return d;
}
