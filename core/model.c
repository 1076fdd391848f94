#include "core/model.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/thread_slot.h"
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

/* The first member of obj of each name keys[i] (any type of obj, as
 * json_item walks it) into *slots[i], which start NULL: one walk for all. */
static void
find_members(const cJSON *obj, size_t n, const char *const *keys, cJSON **const *slots)
{
    size_t left = n;

    if (obj == NULL)
        return;
    for (const cJSON *c = obj->child; c != NULL && left > 0; c = c->next) {
        const char *k = c->string;
        if (k == NULL)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (*slots[i] == NULL && k[0] == keys[i][0] && strcmp(k, keys[i]) == 0) {
                *slots[i] = (cJSON *)c;
                left--;
                break;
            }
        }
    }
}

#define FIND(obj, keys, ...)                                                                       \
    find_members((obj), sizeof(keys) / sizeof((keys)[0]), (keys), (cJSON * *const[]){ __VA_ARGS__ })

static void
view_top(struct envelope_view *v)
{
    static const char *const keys[] = { "intent",   "payload", "context",
                                        "metadata", "routing", "routingMetadata" };

    FIND(v->env, keys, &v->intent, &v->payload, &v->context, &v->metadata, &v->routing,
         &v->routing_metadata);
}

static void
view_intent(struct envelope_view *v)
{
    static const char *const keys[] = { "name", "version" };

    v->name = v->version = NULL;
    FIND(v->intent, keys, &v->name, &v->version);
}

static void
view_metadata(struct envelope_view *v)
{
    static const char *const keys[] = { "requestId", "source", "traceId", "identityChain" };

    v->request_id = v->source = v->trace_id = v->identity_chain = NULL;
    FIND(v->metadata, keys, &v->request_id, &v->source, &v->trace_id, &v->identity_chain);
}

static void
view_routing(struct envelope_view *v)
{
    static const char *const keys[] = { "strategy", "targetAgent", "fallbackAgents", "timeoutMs" };

    v->strategy = v->target_agent = v->fallback_agents = v->timeout_ms = NULL;
    FIND(v->routing, keys, &v->strategy, &v->target_agent, &v->fallback_agents, &v->timeout_ms);
}

/* Not retries: only a retry needs it, and it comes after decisionPath (a
 * member less to fetch from memory per route). */
static void
view_routing_metadata(struct envelope_view *v)
{
    static const char *const keys[] = { "decisionPath" };

    v->decision_path = NULL;
    FIND(v->routing_metadata, keys, &v->decision_path);
}

void
envelope_view_fill(struct envelope_view *v, cJSON *env)
{
    memset(v, 0, sizeof(*v));
    v->env = env;
    view_top(v);
    view_intent(v);
    view_metadata(v);
    view_routing(v);
    view_routing_metadata(v);
}

/* json_get_string's answer for item, a member of section. */
static const char *
string_in(const cJSON *section, const cJSON *item)
{
    return cJSON_IsObject(section) && cJSON_IsString(item) ? item->valuestring : NULL;
}

const char *
envelope_view_intent_name(const struct envelope_view *v)
{
    const char *s = string_in(v->intent, v->name);
    return s != NULL ? s : "";
}

const char *
envelope_view_intent_version(const struct envelope_view *v)
{
    const char *s = string_in(v->intent, v->version);
    return s != NULL ? s : "1.0";
}

const char *
envelope_view_trace_id(const struct envelope_view *v)
{
    const char *s = string_in(v->metadata, v->trace_id);
    return s != NULL ? s : "";
}

const char *
envelope_view_request_id(const struct envelope_view *v)
{
    return string_in(v->metadata, v->request_id);
}

const char *
envelope_view_source(const struct envelope_view *v)
{
    return string_in(v->metadata, v->source);
}

enum strategy
envelope_view_strategy(const struct envelope_view *v)
{
    const char *s = string_in(v->routing, v->strategy);
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
envelope_view_target_agent(const struct envelope_view *v)
{
    const char *s = string_in(v->routing, v->target_agent);
    return s != NULL && s[0] != '\0' ? s : NULL;
}

const cJSON *
envelope_view_fallback_agents(const struct envelope_view *v)
{
    return cJSON_IsArray(v->fallback_agents) ? v->fallback_agents : NULL;
}

int
envelope_view_timeout_ms(const struct envelope_view *v, long long *ms)
{
    return cJSON_IsObject(v->routing) ? json_int64_value(v->timeout_ms, ms) : -1;
}

/* The cJSON-taking helpers: the view's code over the one section needed. */
const char *
envelope_intent_name(const cJSON *env)
{
    struct envelope_view v = { .intent = json_item(env, "intent") };

    view_intent(&v);
    return envelope_view_intent_name(&v);
}

const char *
envelope_intent_version(const cJSON *env)
{
    struct envelope_view v = { .intent = json_item(env, "intent") };

    view_intent(&v);
    return envelope_view_intent_version(&v);
}

const char *
envelope_trace_id(const cJSON *env)
{
    struct envelope_view v = { .metadata = json_item(env, "metadata") };

    view_metadata(&v);
    return envelope_view_trace_id(&v);
}

enum strategy
envelope_strategy(const cJSON *env)
{
    struct envelope_view v = { .routing = json_item(env, "routing") };

    view_routing(&v);
    return envelope_view_strategy(&v);
}

const char *
envelope_target_agent(const cJSON *env)
{
    struct envelope_view v = { .routing = json_item(env, "routing") };

    view_routing(&v);
    return envelope_view_target_agent(&v);
}

const cJSON *
envelope_fallback_agents(const cJSON *env)
{
    struct envelope_view v = { .routing = json_item(env, "routing") };

    view_routing(&v);
    return envelope_view_fallback_agents(&v);
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

/* item as parent's member key: in place of old (parent's first member of
 * that name) or added when there is none; *slot then points to it. Takes
 * item (NULL: out of memory). */
static int
put_member(cJSON *parent, const char *key, const cJSON *old, cJSON *item, cJSON **slot)
{
    if (item == NULL)
        return -1;
    if (old != NULL ? !cJSON_ReplaceItemInObjectCaseSensitive(parent, key, item)
                    : !cJSON_AddItemToObject(parent, key, item)) {
        cJSON_Delete(item);
        return -1;
    }
    *slot = item;
    return 0;
}

int
envelope_view_normalize(struct envelope_view *v)
{
    if (!cJSON_IsObject(v->metadata)) {
        if (put_member(v->env, "metadata", v->metadata, cJSON_CreateObject(), &v->metadata) != 0)
            return -1;
        view_metadata(v); /* a new, empty object */
    }
    if (envelope_view_trace_id(v)[0] == '\0') {
        char trace[UUID_STR_LEN];
        uuid_v4(trace);
        if (put_member(v->metadata, "traceId", v->trace_id, cJSON_CreateString(trace),
                       &v->trace_id) != 0)
            return -1;
    }
    if (!cJSON_IsArray(v->identity_chain) &&
        put_member(v->metadata, "identityChain", v->identity_chain, cJSON_CreateArray(),
                   &v->identity_chain) != 0)
        return -1;
    return 0;
}

int
envelope_normalize(cJSON *env)
{
    struct envelope_view v = { .env = env, .metadata = json_item(env, "metadata") };

    view_metadata(&v);
    return envelope_view_normalize(&v);
}

/* Appends s (NULL: out of memory) to v's decisionPath, made when absent. */
static int
append_decision(struct envelope_view *v, cJSON *s)
{
    if (s == NULL)
        return -1;
    if (!cJSON_IsObject(v->routing_metadata)) {
        if (put_member(v->env, "routingMetadata", v->routing_metadata, cJSON_CreateObject(),
                       &v->routing_metadata) != 0)
            goto fail;
        view_routing_metadata(v); /* a new, empty object */
    }
    if (!cJSON_IsArray(v->decision_path) &&
        put_member(v->routing_metadata, "decisionPath", v->decision_path, cJSON_CreateArray(),
                   &v->decision_path) != 0)
        goto fail;
    if (cJSON_AddItemToArray(v->decision_path, s))
        return 0;
fail:
    cJSON_Delete(s);
    return -1;
}

int
envelope_view_append_decision(struct envelope_view *v, const char *agent)
{
    return append_decision(v, cJSON_CreateString(agent));
}

int
envelope_view_link_decision(struct envelope_view *v, const char *interned)
{
    return append_decision(v, cJSON_CreateStringReference(interned));
}

int
envelope_append_decision(cJSON *env, const char *agent)
{
    struct envelope_view v = { .env = env, .routing_metadata = json_item(env, "routingMetadata") };

    view_routing_metadata(&v);
    return envelope_view_append_decision(&v, agent);
}

void
envelope_view_count_retry(const struct envelope_view *v)
{
    const cJSON *rt = json_item(v->routing_metadata, "retries");
    cJSON *n;

    if (!cJSON_IsNumber(rt))
        return;
    n = cJSON_CreateNumber(rt->valuedouble + 1);
    if (n == NULL || !cJSON_ReplaceItemInObjectCaseSensitive(v->routing_metadata, "retries", n))
        cJSON_Delete(n);
}

/* error_info_new's keys, named so a spare error (below) can be recognised
 * by the very pointers they were linked to. */
static const char K_CODE[] = "code", K_MESSAGE[] = "message", K_RETRYABLE[] = "retryable",
                  K_DETAILS[] = "details";

static cJSON *take_error_spare(enum error_code code, const char *message, bool retryable);

cJSON *
error_info_new(enum error_code code, const char *message, bool retryable, cJSON *details)
{
    cJSON *e;
    int failed = 0;

    if (details == NULL && (e = take_error_spare(code, message, retryable)) != NULL)
        return e;
    if ((e = cJSON_CreateObject()) == NULL) {
        cJSON_Delete(details);
        return NULL;
    }
    /* The code's text is a literal of the table: referenced, not copied. */
    add_cs(e, K_CODE, cJSON_CreateStringReference(model_error_code_name(code)), &failed);
    add_cs(e, K_MESSAGE, cJSON_CreateString(message != NULL ? message : ""), &failed);
    add_cs(e, K_RETRYABLE, cJSON_CreateBool(retryable), &failed);
    add_cs(e, K_DETAILS, details != NULL ? details : cJSON_CreateObject(), &failed);
    if (failed) {
        cJSON_Delete(e);
        return NULL;
    }
    return e;
}

/* The response's fixed strings, named so a spare response (below) can be
 * recognised by the very pointers its keys and values were linked to. */
static const char K_VERSION[] = "version", K_STATUS[] = "status", K_PAYLOAD[] = "payload",
                  K_METADATA[] = "metadata", K_ERROR[] = "error", K_AGENT[] = "agent",
                  K_TRACE_ID[] = "traceId", K_TIMESTAMP[] = "timestamp";
static const char V_VERSION[] = "1.0", V_SUCCESS[] = "success", V_ERROR[] = "error";

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
    add_cs(r, K_VERSION, cJSON_CreateStringReference(V_VERSION), &failed);
    add_cs(r, K_STATUS, cJSON_CreateStringReference(status), &failed);
    add_cs(r, K_PAYLOAD, payload != NULL ? payload : cJSON_CreateNull(), &failed);
    add_cs(r, K_METADATA, metadata, &failed);
    add_cs(r, K_ERROR, error != NULL ? error : cJSON_CreateNull(), &failed);
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
            add_cs(md, K_AGENT, cJSON_CreateString(agent), &failed);
        else if (*p == 't')
            add_cs(md, K_TRACE_ID, cJSON_CreateString(trace_id), &failed);
        else
            add_cs(md, K_TIMESTAMP, cJSON_CreateString(now), &failed);
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
    return response_shell(V_SUCCESS, payload, metadata_new("ats", agent, trace_id), NULL);
}

cJSON *
response_success_borrowing(const cJSON *env, const char *agent, const char *trace_id)
{
    return response_success_borrowing_payload(json_item(env, "payload"), agent, trace_id);
}

/* ---- spare responses, per thread ----
 * An in-process agent's success is nine nodes and three strings from
 * malloc, and as many frees once the caller is done with it: with the
 * lookups on it, half the instructions of a DIRECT route with recording off
 * (callgrind); a failure is as many again for its error. response_recycle
 * keeps a thread's last borrowing success, and its last agent error's shell
 * (the error itself is moved out by FALLBACK or freed), when they still
 * have exactly the shape built here; that thread's next borrowing success or
 * agent error reuses the nodes and, where the new text fits, the strings.
 * The tree handed out is the one a fresh build makes, node for node. */
/* Errors kept per thread: FALLBACK over n agents has at most two alive at
 * once (the last failure's and the one being made), BROADCAST likewise. */
#define SPARE_ERRORS 4

struct spares {
    cJSON *success, *error_shell;
    cJSON *errors[SPARE_ERRORS];
    size_t n_errors;
};
static void *
spares_make(void)
{
    return calloc(1, sizeof(struct spares));
}

static void
spares_destroy(void *p)
{
    struct spares *sp = p;

    cJSON_Delete(sp->success);
    cJSON_Delete(sp->error_shell);
    for (size_t i = 0; i < sp->n_errors; i++)
        cJSON_Delete(sp->errors[i]);
    free(sp);
}

static struct thread_slot spare_slot = THREAD_SLOT(spares_make, spares_destroy);

static struct spares *
spares_get(void)
{
    return thread_slot_get(&spare_slot);
}

static bool
linked_as(const cJSON *c, const char *key, int type)
{
    return c != NULL && c->string == key && c->type == (type | cJSON_StringIsConst);
}

static bool
owned_string(const cJSON *c, const char *key)
{
    return c != NULL && linked_as(c, key, cJSON_String) && c->valuestring != NULL &&
           c->child == NULL;
}

static bool
fixed_string(const cJSON *c, const char *key, const char *value)
{
    return c != NULL && linked_as(c, key, cJSON_String | cJSON_IsReference) &&
           c->valuestring == value;
}

/* metadata_new("ats") as it was built, nothing added or taken away. */
static bool
metadata_shape(const cJSON *m)
{
    const cJSON *a, *t, *ts;

    if (!linked_as(m, K_METADATA, cJSON_Object) || m->valuestring != NULL)
        return false;
    a = m->child;
    t = a != NULL ? a->next : NULL;
    ts = t != NULL ? t->next : NULL;
    return owned_string(a, K_AGENT) && owned_string(t, K_TRACE_ID) &&
           owned_string(ts, K_TIMESTAMP) && ts->next == NULL && a->prev == ts;
}

/* version, status (status_value), the payload, metadata: the first four
 * members response_shell linked; *next is what follows them. */
static bool
shell_shape(const cJSON *r, const char *status_value, int payload_type, const cJSON **next)
{
    const cJSON *v, *st, *p, *m;

    if (r == NULL || r->type != cJSON_Object || r->string != NULL || r->next != NULL ||
        r->prev != NULL || r->valuestring != NULL)
        return false;
    v = r->child;
    st = v != NULL ? v->next : NULL;
    p = st != NULL ? st->next : NULL;
    m = p != NULL ? p->next : NULL;
    if (!fixed_string(v, K_VERSION, V_VERSION) || !fixed_string(st, K_STATUS, status_value) ||
        !linked_as(p, K_PAYLOAD, payload_type) || p->valuestring != NULL ||
        (payload_type == cJSON_NULL && p->child != NULL) || !metadata_shape(m))
        return false;
    *next = m->next;
    return true;
}

/* What response_success_borrowing_payload builds: the shell, then error null. */
static bool
success_shape(const cJSON *r)
{
    const cJSON *e;

    return shell_shape(r, V_SUCCESS, cJSON_Object | cJSON_IsReference, &e) &&
           linked_as(e, K_ERROR, cJSON_NULL) && e->next == NULL && e->child == NULL &&
           e->valuestring == NULL && r->child->prev == e;
}

/* What response_agent_error builds, its error still there (*error) or
 * moved out (NULL). */
static bool
error_shape(const cJSON *r, cJSON **error)
{
    const cJSON *e;

    if (!shell_shape(r, V_ERROR, cJSON_NULL, &e))
        return false;
    if (e == NULL) {
        *error = NULL;
        return r->child->prev == r->child->next->next->next;
    }
    *error = (cJSON *)e;
    return e->string == K_ERROR && (e->type & cJSON_StringIsConst) != 0 && e->next == NULL &&
           r->child->prev == e;
}

/* What error_info_new builds without details, nothing added, taken away
 * or changed in type: standalone, or still linked under the "error" key a
 * response gave it (json_detach leaves the key). */
static bool
error_info_shape(const cJSON *e)
{
    const cJSON *code, *msg, *rt, *det;

    if (e == NULL || e->next != NULL || e->prev != NULL || e->valuestring != NULL ||
        !(e->string == NULL
              ? e->type == cJSON_Object
              : e->string == K_ERROR && e->type == (cJSON_Object | cJSON_StringIsConst)))
        return false;
    code = e->child;
    msg = code != NULL ? code->next : NULL;
    rt = msg != NULL ? msg->next : NULL;
    det = rt != NULL ? rt->next : NULL;
    return linked_as(code, K_CODE, cJSON_String | cJSON_IsReference) && code->valuestring != NULL &&
           code->child == NULL && owned_string(msg, K_MESSAGE) && rt != NULL &&
           (linked_as(rt, K_RETRYABLE, cJSON_True) || linked_as(rt, K_RETRYABLE, cJSON_False)) &&
           rt->child == NULL && rt->valuestring == NULL && det != NULL &&
           linked_as(det, K_DETAILS, cJSON_Object) && det->child == NULL &&
           det->valuestring == NULL && det->next == NULL && code->prev == det;
}

bool
error_info_recycle(cJSON *error_info)
{
    struct spares *sp;

    if (error_info == NULL)
        return false;
    if (error_info_shape(error_info) && (sp = spares_get()) != NULL &&
        sp->n_errors < SPARE_ERRORS) {
        error_info->string = NULL; /* as error_info_new hands it out */
        error_info->type = cJSON_Object;
        sp->errors[sp->n_errors++] = error_info;
        return true;
    }
    cJSON_Delete(error_info);
    return false;
}

static int reset_string(cJSON *c, const char *s);

/* A spare error made what error_info_new(code, message, retryable, NULL)
 * makes; NULL when there is none (or memory ran out: it is freed). */
static cJSON *
take_error_spare(enum error_code code, const char *message, bool retryable)
{
    struct spares *sp = spares_get();
    cJSON *e;

    if (sp == NULL || sp->n_errors == 0)
        return NULL;
    e = sp->errors[--sp->n_errors];
    e->child->valuestring = (char *)model_error_code_name(code); /* a reference, as built */
    if (reset_string(e->child->next, message != NULL ? message : "") != 0) {
        cJSON_Delete(e);
        return NULL;
    }
    e->child->next->next->type = (retryable ? cJSON_True : cJSON_False) | cJSON_StringIsConst;
    return e;
}

bool
response_recycle(cJSON *resp)
{
    struct spares *sp;
    cJSON *error;

    if (resp == NULL)
        return false;
    if ((sp = spares_get()) != NULL) {
        if (sp->success == NULL && success_shape(resp)) {
            resp->child->next->next->child = NULL; /* nothing borrowed while it waits */
            sp->success = resp;
            return true;
        }
        if (sp->error_shell == NULL && error_shape(resp, &error)) {
            error_info_recycle(cJSON_DetachItemViaPointer(resp, error));
            sp->error_shell = resp;
            return true;
        }
    }
    cJSON_Delete(resp);
    return false;
}

/* c's string becomes s: in place when it fits, else a new copy (c keeps
 * its old one when memory runs out). */
static int
reset_string(cJSON *c, const char *s)
{
    size_t n = strlen(s);
    char *copy;

    if (malloc_usable_size(c->valuestring) > n) {
        memcpy(c->valuestring, s, n + 1);
        return 0;
    }
    if ((copy = malloc(n + 1)) == NULL)
        return -1;
    memcpy(copy, s, n + 1);
    free(c->valuestring);
    c->valuestring = copy;
    return 0;
}

/* A spare's metadata made new, as metadata_new("ats") makes it; -1 when
 * memory ran out (the spare is freed). */
static int
reuse_metadata(cJSON *r, const char *agent, const char *trace_id)
{
    cJSON *a = r->child->next->next->next->child;
    char now[CLOCK_ISO_LEN];

    clock_now_iso(now);
    if (reset_string(a, agent) != 0 || reset_string(a->next, trace_id) != 0 ||
        reset_string(a->next->next, now) != 0) {
        cJSON_Delete(r);
        return -1;
    }
    return 0;
}

/* The spare in *slot, taken (NULL: none, or agent or trace_id NULL, which
 * only a fresh build reports). */
static cJSON *
take_spare(cJSON **slot, const char *agent, const char *trace_id)
{
    cJSON *r = *slot;

    if (r == NULL || agent == NULL || trace_id == NULL)
        return NULL;
    *slot = NULL;
    return reuse_metadata(r, agent, trace_id) == 0 ? r : NULL;
}

cJSON *
response_success_borrowing_payload(const cJSON *payload, const char *agent, const char *trace_id)
{
    struct spares *sp;
    cJSON *r;

    if (!cJSON_IsObject(payload)) /* absent: {}; anything else is copied */
        return response_success(payload != NULL ? cJSON_Duplicate(payload, 1) : NULL, agent,
                                trace_id);
    if ((sp = spares_get()) != NULL && (r = take_spare(&sp->success, agent, trace_id)) != NULL) {
        r->child->next->next->child = payload->child;
        return r;
    }
    return response_shell(V_SUCCESS, cJSON_CreateObjectReference(payload->child),
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
    struct spares *sp;
    cJSON *r;

    if (error_info != NULL && (sp = spares_get()) != NULL &&
        (r = take_spare(&sp->error_shell, agent, trace_id)) != NULL) {
        if (cJSON_AddItemToObjectCS(r, K_ERROR, error_info))
            return r;
        cJSON_Delete(r);
    }
    return response_shell(V_ERROR, NULL, metadata_new("ats", agent, trace_id), error_info);
}

cJSON *
response_exhausted(const cJSON *last_error, const char *pseudo_agent, const char *trace_id)
{
    cJSON *e = last_error != NULL
                   ? cJSON_Duplicate(last_error, 1)
                   : error_info_new(ERR_ROUTING_ERROR, "routing failed", false, NULL);
    return response_shell(V_ERROR, NULL, metadata_new("tas", pseudo_agent, trace_id), e);
}

cJSON *
response_router_error(cJSON *error_info, const char *agent, const char *trace_id)
{
    return response_shell(V_ERROR, NULL, metadata_new("ast", agent, trace_id), error_info);
}

int
response_fill_metadata(cJSON *resp, const char *agent, const char *trace_id)
{
    cJSON *md = ensure_object(resp, K_METADATA);

    if (md == NULL)
        return -1;
    if (json_item(md, K_AGENT) == NULL && set_string(md, "agent", agent))
        return -1;
    if (json_item(md, K_TRACE_ID) == NULL && set_string(md, "traceId", trace_id))
        return -1;
    if (json_item(md, K_TIMESTAMP) == NULL) {
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
    const cJSON *e = json_item(resp, K_ERROR);
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
