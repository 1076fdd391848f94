#include "core/agent.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/intern.h"
#include "core/json.h"
#include "core/model.h"
#include "core/units.h"

static const struct agent_kind *const kinds[] = {
    &agent_kind_builtin,
    &agent_kind_exec,
    &agent_kind_http,
};

static const char *const common_keys[] = {
    "name",    "kind",       "intents", "version", "nodeId",      "nodePriority", "isRemote",
    "timeout", "idempotent", "retry",   "breaker", "side_effect", NULL,
};

static const char *const side_effect_names[] = { "read_only", "reversible", "irreversible" };

const char *
agent_side_effect_name(enum side_effect s)
{
    return (unsigned)s < 3 ? side_effect_names[s] : "read_only";
}

/* "path.key" for a config message. */
static int
parse_duration(const cJSON *v, const char *path, const char *key, int64_t *out,
               struct intentus_err *err)
{
    char full[200];

    snprintf(full, sizeof(full), "%s.%s", path, key);
    return units_json_duration_ms(v, full, out, err);
}

int
agent_parse_breaker(const cJSON *obj, const char *path, struct breaker_policy *policy,
                    struct intentus_err *err)
{
    static const char *const keys[] = { "enabled",  "failure_threshold", "window", "failure_rate",
                                        "cooldown", "half_open_probes",  NULL };
    const cJSON *k, *v;
    long long n;

    if (!cJSON_IsObject(obj)) {
        err_set(err, IERR_CONFIG, "%s: must be an object", path);
        return -1;
    }
    cJSON_ArrayForEach(k, obj)
    {
        bool known = false;
        for (size_t i = 0; keys[i] != NULL; i++)
            known = known || strcmp(keys[i], k->string) == 0;
        if (!known) {
            err_set(err, IERR_CONFIG,
                    "%s.%s: unknown key (known: enabled, failure_threshold, window, "
                    "failure_rate, cooldown, half_open_probes)",
                    path, k->string);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "enabled");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG, "%s.enabled: must be true or false", path);
        return -1;
    }
    if (v != NULL)
        policy->enabled = cJSON_IsTrue(v);
    static const struct {
        const char *key;
        long long min, max;
    } ints[] = { { "failure_threshold", 0, 1000000 },
                 { "window", 1, 1024 },
                 { "half_open_probes", 1, 1000 } };
    for (size_t i = 0; i < 3; i++) {
        if (cJSON_GetObjectItemCaseSensitive(obj, ints[i].key) == NULL)
            continue;
        if (json_get_int64(obj, ints[i].key, &n) != 0 || n < ints[i].min || n > ints[i].max) {
            err_set(err, IERR_CONFIG, "%s.%s: must be an integer from %lld to %lld", path,
                    ints[i].key, ints[i].min, ints[i].max);
            return -1;
        }
        if (i == 0)
            policy->failure_threshold = (int)n;
        else if (i == 1)
            policy->window = (int)n;
        else
            policy->half_open_probes = (int)n;
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "failure_rate");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1) {
            err_set(err, IERR_CONFIG, "%s.failure_rate: must be a number from 0 to 1", path);
            return -1;
        }
        policy->failure_rate = v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "cooldown");
    if (v != NULL && parse_duration(v, path, "cooldown", &policy->cooldown_ms, err) != 0)
        return -1;
    return 0;
}

static int
parse_resilience(struct agent *a, const cJSON *entry, const char *path,
                 const struct agent_defaults *defaults, struct intentus_err *err)
{
    struct breaker_policy bp = BREAKER_POLICY_DEFAULT;
    const cJSON *v;
    char sub[160];
    long long n;

    a->timeout_ms = defaults != NULL ? defaults->timeout_ms : AGENT_DEFAULT_TIMEOUT_MS;
    if (defaults != NULL)
        bp = defaults->breaker;
    a->retry.max_attempts = 1;
    v = cJSON_GetObjectItemCaseSensitive(entry, "timeout");
    if (v != NULL && parse_duration(v, path, "timeout", &a->timeout_ms, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(entry, "idempotent");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG, "%s.idempotent: must be true or false", path);
        return -1;
    }
    a->idempotent = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(entry, "side_effect");
    if (v != NULL) {
        int found = -1;
        for (int i = 0; cJSON_IsString(v) && i < 3; i++) {
            if (strcmp(v->valuestring, side_effect_names[i]) == 0)
                found = i;
        }
        if (found < 0) {
            err_set(err, IERR_CONFIG,
                    "%s.side_effect: must be read_only, reversible or irreversible", path);
            return -1;
        }
        a->side_effect = (enum side_effect)found;
    }
    v = cJSON_GetObjectItemCaseSensitive(entry, "retry");
    if (v != NULL) {
        const cJSON *k;
        if (!cJSON_IsObject(v)) {
            err_set(err, IERR_CONFIG, "%s.retry: must be an object", path);
            return -1;
        }
        cJSON_ArrayForEach(k, v)
        {
            if (strcmp(k->string, "max_attempts") != 0 && strcmp(k->string, "base_ms") != 0 &&
                strcmp(k->string, "max_ms") != 0) {
                err_set(err, IERR_CONFIG,
                        "%s.retry.%s: unknown key (known: max_attempts, base_ms, max_ms)", path,
                        k->string);
                return -1;
            }
        }
        a->retry.max_attempts = 3;
        a->retry.base_ms = 50;
        a->retry.max_ms = 1000;
        if (cJSON_GetObjectItemCaseSensitive(v, "max_attempts") != NULL) {
            if (json_get_int64(v, "max_attempts", &n) != 0 || n < 1 || n > 100) {
                err_set(err, IERR_CONFIG, "%s.retry.max_attempts: must be an integer from 1 to 100",
                        path);
                return -1;
            }
            a->retry.max_attempts = (int)n;
        }
        snprintf(sub, sizeof(sub), "%s.retry", path);
        if (cJSON_GetObjectItemCaseSensitive(v, "base_ms") != NULL &&
            parse_duration(cJSON_GetObjectItemCaseSensitive(v, "base_ms"), sub, "base_ms",
                           &a->retry.base_ms, err) != 0)
            return -1;
        if (cJSON_GetObjectItemCaseSensitive(v, "max_ms") != NULL &&
            parse_duration(cJSON_GetObjectItemCaseSensitive(v, "max_ms"), sub, "max_ms",
                           &a->retry.max_ms, err) != 0)
            return -1;
        if (a->retry.max_attempts > 1 && !a->idempotent) {
            err_set(err, IERR_CONFIG,
                    "%s.retry: agent '%s' is not marked \"idempotent\": true; retrying it "
                    "could repeat side effects",
                    path, a->name);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(entry, "breaker");
    if (v != NULL) {
        snprintf(sub, sizeof(sub), "%s.breaker", path);
        if (agent_parse_breaker(v, sub, &bp, err) != 0)
            return -1;
    }
    if (bp.enabled && (a->breaker = breaker_new(&bp)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return 0;
}

const struct agent_kind *
agent_kind_find(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i]->name, name) == 0)
            return kinds[i];
    }
    return NULL;
}

static bool
in_list(const char *key, const char *const *list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], key) == 0)
            return true;
    }
    return false;
}

/* "name" or "name@version". A bare name handles every version of that
 * intent (version "*"), which is what a config author means when they do not
 * say; "name@1.0" restricts it as the reference's capabilities do. */
static int
parse_capability(const char *text, struct capability *cap)
{
    const char *at = strrchr(text, '@');
    size_t n = at != NULL ? (size_t)(at - text) : strlen(text);

    if (n == 0 || (at != NULL && at[1] == '\0'))
        return -1;
    cap->name = strndup(text, n);
    if (at != NULL)
        cap->version = strdup(at + 1);
    else
        cap->version = strdup("*");
    return cap->name != NULL && cap->version != NULL ? 0 : -1;
}

/* path.key must be printable (it is shown by `agents`, the console, records). */
static int
check_text(const char *s, const char *path, const char *key, struct intentus_err *err)
{
    char where[256];

    snprintf(where, sizeof(where), "%s.%s", path, key);
    return json_check_display_text(s, where, err);
}

static int
parse_common(struct agent *a, const cJSON *entry, const char *path, struct intentus_err *err)
{
    const cJSON *v, *it;
    size_t i = 0;

    v = cJSON_GetObjectItemCaseSensitive(entry, "version");
    if (v != NULL && !cJSON_IsString(v)) {
        err_set(err, IERR_CONFIG, "%s.version: must be a string", path);
        return -1;
    }
    if (v != NULL && check_text(v->valuestring, path, "version", err) != 0)
        return -1;
    a->version = strdup(v != NULL ? v->valuestring : "1.0");
    v = cJSON_GetObjectItemCaseSensitive(entry, "nodeId");
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
        err_set(err, IERR_CONFIG, "%s.nodeId: must be a string or null", path);
        return -1;
    }
    if (v != NULL && cJSON_IsString(v) && check_text(v->valuestring, path, "nodeId", err) != 0)
        return -1;
    if (v != NULL && cJSON_IsString(v))
        a->node_id = strdup(v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(entry, "nodePriority");
    a->node_priority = 100;
    if (v != NULL) {
        long long p;
        if (json_get_int64(entry, "nodePriority", &p) != 0 || p < -1000000000 || p > 1000000000) {
            err_set(err, IERR_CONFIG, "%s.nodePriority: must be an integer", path);
            return -1;
        }
        a->node_priority = (long)p;
    }
    v = cJSON_GetObjectItemCaseSensitive(entry, "isRemote");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG, "%s.isRemote: must be true or false", path);
        return -1;
    }
    a->is_remote = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(entry, "intents");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        err_set(err, IERR_CONFIG,
                "%s.intents: agent '%s' has no capabilities (need a non-empty array of "
                "\"name\" or \"name@version\")",
                path, a->name);
        return -1;
    }
    a->caps = calloc((size_t)cJSON_GetArraySize(v), sizeof(*a->caps));
    if (a->caps == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    cJSON_ArrayForEach(it, v)
    {
        char key[32];
        snprintf(key, sizeof(key), "intents[%zu]", i);
        if (cJSON_IsString(it) && check_text(it->valuestring, path, key, err) != 0) {
            a->n_caps = i;
            return -1;
        }
        if (!cJSON_IsString(it) || parse_capability(it->valuestring, &a->caps[i]) != 0) {
            err_set(err, IERR_CONFIG, "%s.intents[%zu]: must be \"name\" or \"name@version\"", path,
                    i);
            a->n_caps = i + 1;
            return -1;
        }
        i++;
    }
    a->n_caps = i;
    return 0;
}

struct agent *
agent_from_config(const cJSON *entry, const char *path, const struct agent_defaults *defaults,
                  struct intentus_err *err)
{
    const char *name, *kind_name;
    const cJSON *key;
    struct agent *a;

    if (!cJSON_IsObject(entry)) {
        err_set(err, IERR_CONFIG, "%s: must be an object", path);
        return NULL;
    }
    name = json_get_string(entry, "name");
    if (name == NULL || name[0] == '\0') {
        err_set(err, IERR_CONFIG, "%s.name: missing or empty", path);
        return NULL;
    }
    if (check_text(name, path, "name", err) != 0)
        return NULL;
    kind_name = json_get_string(entry, "kind");
    if (kind_name == NULL)
        kind_name = "builtin";
    a = calloc(1, sizeof(*a));
    if (a == NULL || (a->name = strdup(name)) == NULL) {
        free(a);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    a->interned_name = intern_string(name);
    a->kind = agent_kind_find(kind_name);
    if (a->kind == NULL) {
        err_set(err, IERR_CONFIG, "%s.kind: unknown agent kind '%s' (known: builtin, exec, http)",
                path, kind_name);
        goto fail;
    }
    cJSON_ArrayForEach(key, entry)
    {
        if (!in_list(key->string, common_keys) && !in_list(key->string, a->kind->settings_keys)) {
            err_set(err, IERR_CONFIG, "%s.%s: unknown key for an agent of kind %s", path,
                    key->string, a->kind->name);
            goto fail;
        }
    }
    if (parse_common(a, entry, path, err) != 0 ||
        parse_resilience(a, entry, path, defaults, err) != 0)
        goto fail;
    if (a->version == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    if (a->kind->init(a, entry, path, err) != 0)
        goto fail;
    return a;
fail:
    agent_free(a);
    return NULL;
}

void
agent_free(struct agent *a)
{
    if (a == NULL)
        return;
    if (a->kind != NULL && a->kind->free_state != NULL)
        a->kind->free_state(a->state);
    for (size_t i = 0; i < a->n_caps; i++) {
        free(a->caps[i].name);
        free(a->caps[i].version);
    }
    free(a->caps);
    breaker_free(a->breaker);
    free(a->name);
    free(a->version);
    free(a->node_id);
    free(a->missing_env);
    free(a);
}

bool
agent_is_instant(const struct agent *a)
{
    return a->kind != NULL && a->kind->instant != NULL && a->kind->instant(a) &&
           a->missing_env == NULL && a->retry.max_attempts <= 1 && !agent_is_remote(a);
}

bool
agent_handles(const struct agent *a, const char *intent, const char *version)
{
    for (size_t i = 0; i < a->n_caps; i++) {
        const struct capability *c = &a->caps[i];
        if ((strcmp(c->name, "*") == 0 || strcmp(c->name, intent) == 0) &&
            (strcmp(c->version, "*") == 0 || strcmp(c->version, version) == 0))
            return true;
    }
    return false;
}

int
agent_is_remote(const struct agent *a)
{
    return a->node_id != NULL && a->node_id[0] != '\0';
}

cJSON *
agent_call(struct agent *a, cJSON *env, const struct agent_ctx *ctx, struct intentus_err *err)
{
    struct envelope_view own;
    struct agent_ctx c = { 0 };
    cJSON *resp;

    if (ctx != NULL)
        c = *ctx;
    if (c.view == NULL || c.view->env != env) {
        envelope_view_fill(&own, env);
        c.view = &own;
    }
    if ((a->interned_name != NULL ? envelope_view_link_decision(c.view, a->interned_name)
                                  : envelope_view_append_decision(c.view, a->name)) != 0) {
        err_set(err, IERR_NOMEM, "out of memory appending to decisionPath");
        return NULL;
    }
    if (a->missing_env != NULL) {
        /* Nothing is sent without the secret the config asks for. */
        cJSON *details = cJSON_CreateObject();
        if (details != NULL)
            cJSON_AddStringToObject(details, "missing_environment", a->missing_env);
        resp = agent_error_response(
            a, env, ERR_AGENT_UNAVAILABLE, false, details,
            "not called: environment variable %s not set when the config was loaded",
            a->missing_env);
    } else {
        resp = a->kind->invoke(a, env, &c, err);
    }
    if (resp == NULL)
        return NULL;
    if (response_fill_metadata(resp, a->name, envelope_view_trace_id(c.view)) != 0) {
        cJSON_Delete(resp);
        err_set(err, IERR_NOMEM, "out of memory filling response metadata");
        return NULL;
    }
    return resp;
}

/* "$NAME" names an environment variable; any other text is literal. */
static bool
is_env_ref(const char *s)
{
    if (s[0] != '$' ||
        !(s[1] == '_' || (s[1] >= 'A' && s[1] <= 'Z') || (s[1] >= 'a' && s[1] <= 'z')))
        return false;
    for (s += 2; *s != '\0'; s++) {
        if (!(*s == '_' || (*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9')))
            return false;
    }
    return true;
}

const char *
agent_env_value(const char *value, const char *path, struct intentus_err *err)
{
    const char *v;

    if (!is_env_ref(value))
        return value;
    v = getenv(value + 1);
    if (v == NULL)
        err_set(err, IERR_CONFIG, "%s: environment variable %s is not set", path, value + 1);
    return v;
}

int
agent_resolve_env(struct agent *a, const char *value, const char *path, const char **out,
                  struct intentus_err *err)
{
    char *more;
    int rc;

    *out = is_env_ref(value) ? getenv(value + 1) : value;
    if (*out != NULL)
        return 0;
    if (a->missing_env == NULL)
        rc = asprintf(&more, "%s (%s)", value + 1, path);
    else
        rc = asprintf(&more, "%s, %s (%s)", a->missing_env, value + 1, path);
    if (rc < 0) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    free(a->missing_env);
    a->missing_env = more;
    return 0;
}

cJSON *
agent_error_response(const struct agent *a, const cJSON *env, int code, bool retryable,
                     cJSON *details, const char *fmt, ...)
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "%s: ", a->name);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return response_agent_error(error_info_new((enum error_code)code, msg, retryable, details),
                                a->name, envelope_trace_id(env));
}

cJSON *
agent_definition_json(const struct agent *a)
{
    cJSON *d = cJSON_CreateObject(), *caps, *o;

    if (d == NULL)
        return NULL;
    cJSON_AddStringToObject(d, "name", a->name);
    cJSON_AddStringToObject(d, "version", a->version);
    if (a->node_id != NULL)
        cJSON_AddStringToObject(d, "nodeId", a->node_id);
    else
        cJSON_AddNullToObject(d, "nodeId");
    cJSON_AddNumberToObject(d, "nodePriority", (double)a->node_priority);
    cJSON_AddBoolToObject(d, "isRemote", a->is_remote);
    caps = cJSON_AddArrayToObject(d, "capabilities");
    for (size_t i = 0; caps != NULL && i < a->n_caps; i++) {
        cJSON *cap = cJSON_CreateObject(), *in;
        if (cap == NULL)
            break;
        in = cJSON_AddObjectToObject(cap, "intent");
        cJSON_AddStringToObject(in, "name", a->caps[i].name);
        cJSON_AddStringToObject(in, "version", a->caps[i].version);
        cJSON_AddObjectToObject(cap, "inputSchema");
        cJSON_AddObjectToObject(cap, "outputSchema");
        cJSON_AddItemToArray(caps, cap);
    }
    o = cJSON_AddObjectToObject(d, "endpoint");
    cJSON_AddStringToObject(o, "type", "local");
    cJSON_AddStringToObject(o, "address", "local");
    cJSON_AddStringToObject(d, "kind", a->kind->name);
    /* intentus's resilience settings, next to the reference's fields. */
    cJSON_AddNumberToObject(d, "timeoutMs", (double)a->timeout_ms);
    cJSON_AddBoolToObject(d, "idempotent", a->idempotent);
    cJSON_AddStringToObject(d, "sideEffect", agent_side_effect_name(a->side_effect));
    o = cJSON_AddObjectToObject(d, "retry");
    if (o != NULL) {
        cJSON_AddNumberToObject(o, "maxAttempts", a->retry.max_attempts);
        cJSON_AddNumberToObject(o, "baseMs", (double)a->retry.base_ms);
        cJSON_AddNumberToObject(o, "maxMs", (double)a->retry.max_ms);
    }
    if (a->breaker != NULL) {
        struct breaker_stats bs;
        breaker_snapshot(a->breaker, 0, &bs);
        o = cJSON_AddObjectToObject(d, "breaker");
        if (o != NULL) {
            cJSON_AddStringToObject(o, "state", breaker_state_name(bs.state));
            cJSON_AddNumberToObject(o, "calls", (double)bs.calls);
            cJSON_AddNumberToObject(o, "failures", (double)bs.failures);
            cJSON_AddNumberToObject(o, "rejected", (double)bs.rejected);
        }
    } else {
        cJSON_AddNullToObject(d, "breaker");
    }
    return d;
}

#define AGENT_CACHE_SLOTS 8

struct agent_cache {
    struct {
        const char *kind; /* static kind name, compared by content */
        void *value;
        void (*free_fn)(void *);
    } slot[AGENT_CACHE_SLOTS];
};

struct agent_cache *
agent_cache_new(void)
{
    return calloc(1, sizeof(struct agent_cache));
}

void
agent_cache_free(struct agent_cache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < AGENT_CACHE_SLOTS; i++) {
        if (c->slot[i].kind != NULL && c->slot[i].free_fn != NULL)
            c->slot[i].free_fn(c->slot[i].value);
    }
    free(c);
}

void *
agent_cache_get(struct agent_cache *c, const char *kind)
{
    for (int i = 0; c != NULL && i < AGENT_CACHE_SLOTS; i++) {
        if (c->slot[i].kind != NULL && strcmp(c->slot[i].kind, kind) == 0)
            return c->slot[i].value;
    }
    return NULL;
}

int
agent_cache_put(struct agent_cache *c, const char *kind, void *value, void (*free_fn)(void *))
{
    for (int i = 0; c != NULL && i < AGENT_CACHE_SLOTS; i++) {
        if (c->slot[i].kind == NULL || strcmp(c->slot[i].kind, kind) == 0) {
            if (c->slot[i].kind != NULL && c->slot[i].free_fn != NULL && c->slot[i].value != value)
                c->slot[i].free_fn(c->slot[i].value);
            c->slot[i].kind = kind;
            c->slot[i].value = value;
            c->slot[i].free_fn = free_fn;
            return 0;
        }
    }
    return -1;
}
