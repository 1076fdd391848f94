#include "core/policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/safe_file.h"

struct field_regex {
    char *field;
    regex_t re;
};

struct strlist {
    char **items;
    size_t n;
};

struct rule {
    char *id;
    bool allow;
    struct strlist intents, agents, roles, tenants;
    struct field_regex *regexes;
    size_t n_regexes;
    bool has_rate, has_timeout;
    long rate;
    long long timeout_ms;
    char *key_template; /* NULL: no limiting */
};

struct policy {
    bool default_allow;
    struct rule *rules;
    size_t n;
};

static const char *const rule_keys[] = { "id",
                                         "action",
                                         "intents",
                                         "agents",
                                         "roles",
                                         "tenants",
                                         "description",
                                         "priority",
                                         "payload_regex",
                                         "rate_limit_per_minute",
                                         "rate_limit_key_template",
                                         "max_timeout_ms",
                                         NULL };

static void
strlist_free(struct strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
}

static void
rule_free(struct rule *r)
{
    free(r->id);
    strlist_free(&r->intents);
    strlist_free(&r->agents);
    strlist_free(&r->roles);
    strlist_free(&r->tenants);
    for (size_t i = 0; i < r->n_regexes; i++) {
        free(r->regexes[i].field);
        regfree(&r->regexes[i].re);
    }
    free(r->regexes);
    free(r->key_template);
}

void
policy_free(struct policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++)
        rule_free(&p->rules[i]);
    free(p->rules);
    free(p);
}

size_t
policy_rule_count(const struct policy *p)
{
    return p->n;
}

/* A list field: missing or null is [], otherwise strings only. */
static int
parse_list(const cJSON *rule, const char *key, const char *path, struct strlist *out,
           struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rule, key), *it;

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsArray(v)) {
        err_set(err, IERR_CONFIG, "%s.%s: must be a list of strings", path, key);
        return -1;
    }
    out->items = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(char *));
    if (out->items == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    cJSON_ArrayForEach(it, v)
    {
        char where[256];
        if (!cJSON_IsString(it)) {
            err_set(err, IERR_CONFIG, "%s.%s[%zu]: must be a string", path, key, out->n);
            return -1;
        }
        snprintf(where, sizeof(where), "%s.%s[%zu]", path, key, out->n);
        if (json_check_display_text(it->valuestring, where, err) != 0)
            return -1;
        if ((out->items[out->n] = strdup(it->valuestring)) == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        out->n++;
    }
    return 0;
}

/* An optional non-negative integer (null = absent). */
static int
parse_int(const cJSON *rule, const char *key, const char *path, bool *has, long long *out,
          struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rule, key);

    *has = false;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (json_get_int64(rule, key, out) != 0 || *out < 0 || *out > 1000000000000LL) {
        err_set(err, IERR_CONFIG, "%s.%s: must be a non-negative integer or null", path, key);
        return -1;
    }
    *has = true;
    return 0;
}

static int
parse_regexes(const cJSON *rule, const char *path, struct rule *r, struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rule, "payload_regex"), *it;

    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG, "%s.payload_regex: must be an object {field: regex}", path);
        return -1;
    }
    r->regexes = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(*r->regexes));
    if (r->regexes == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    cJSON_ArrayForEach(it, v)
    {
        struct field_regex *fr = &r->regexes[r->n_regexes];
        int rc;
        if (!cJSON_IsString(it)) {
            err_set(err, IERR_CONFIG, "%s.payload_regex.%s: must be a string", path, it->string);
            return -1;
        }
        /* Case-insensitive and unanchored, as the reference's re.search
         * with IGNORECASE. */
        rc = regcomp(&fr->re, it->valuestring, REG_EXTENDED | REG_ICASE | REG_NOSUB);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &fr->re, msg, sizeof(msg));
            err_set(err, IERR_CONFIG, "%s.payload_regex.%s: bad POSIX extended regex: %s", path,
                    it->string, msg);
            return -1;
        }
        if ((fr->field = strdup(it->string)) == NULL) {
            regfree(&fr->re);
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        r->n_regexes++;
    }
    return 0;
}

static int
parse_rule(const cJSON *obj, const char *path, size_t index, struct rule *r,
           struct intentus_err *err)
{
    const cJSON *k, *v;
    long long n = 0;
    char id[32];

    if (!cJSON_IsObject(obj)) {
        err_set(err, IERR_CONFIG, "%s: must be an object", path);
        return -1;
    }
    cJSON_ArrayForEach(k, obj)
    {
        bool known = false;
        for (size_t i = 0; rule_keys[i] != NULL; i++)
            known = known || strcmp(rule_keys[i], k->string) == 0;
        if (!known) {
            err_set(err, IERR_CONFIG, "%s.%s: unknown key (a typo must not change a policy)", path,
                    k->string);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
        err_set(err, IERR_CONFIG, "%s.id: must be a string", path);
        return -1;
    }
    if (v != NULL && cJSON_IsString(v)) {
        char where[256];
        snprintf(where, sizeof(where), "%s.id", path);
        if (json_check_display_text(v->valuestring, where, err) != 0)
            return -1;
    }
    snprintf(id, sizeof(id), "rule-%zu", index + 1); /* the reference's default id */
    r->id = strdup(v != NULL && cJSON_IsString(v) ? v->valuestring : id);
    /* Missing or unknown action is deny, as in the reference: fail closed. */
    v = cJSON_GetObjectItemCaseSensitive(obj, "action");
    r->allow = v != NULL && cJSON_IsString(v) && strcasecmp(v->valuestring, "allow") == 0;
    if (r->id == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    if (parse_list(obj, "intents", path, &r->intents, err) != 0 ||
        parse_list(obj, "agents", path, &r->agents, err) != 0 ||
        parse_list(obj, "roles", path, &r->roles, err) != 0 ||
        parse_list(obj, "tenants", path, &r->tenants, err) != 0 ||
        parse_regexes(obj, path, r, err) != 0)
        return -1;
    if (parse_int(obj, "rate_limit_per_minute", path, &r->has_rate, &n, err) != 0)
        return -1;
    r->rate = (long)n;
    if (parse_int(obj, "max_timeout_ms", path, &r->has_timeout, &r->timeout_ms, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(obj, "rate_limit_key_template");
    if (v != NULL && !cJSON_IsNull(v)) {
        char probe[512];
        struct policy_ctx empty = { 0 };
        if (!cJSON_IsString(v)) {
            err_set(err, IERR_CONFIG, "%s.rate_limit_key_template: must be a string", path);
            return -1;
        }
        /* The reference fails when a request arrives; we refuse at load. */
        if (policy_format_key(v->valuestring, &empty, probe, sizeof(probe), err) != 0) {
            err_prefix(err, "%s.rate_limit_key_template", path);
            if (err != NULL)
                err->code = IERR_CONFIG;
            return -1;
        }
        if ((r->key_template = strdup(v->valuestring)) == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "priority");
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsNumber(v)) {
        err_set(err, IERR_CONFIG,
                "%s.priority: must be a number (it is ignored, as in the "
                "reference: rules apply in list order)",
                path);
        return -1;
    }
    return 0;
}

struct policy *
policy_parse(const cJSON *obj, const char *path, struct intentus_err *err)
{
    struct policy *p = calloc(1, sizeof(*p));
    const cJSON *k, *v, *rules, *it;
    char sub[160];

    if (p == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (!cJSON_IsObject(obj)) {
        err_set(err, IERR_CONFIG, "%s: must be an object {\"default\", \"rules\"}", path);
        goto fail;
    }
    cJSON_ArrayForEach(k, obj)
    {
        if (strcmp(k->string, "default") != 0 && strcmp(k->string, "rules") != 0) {
            err_set(err, IERR_CONFIG, "%s.%s: unknown key (known: default, rules)", path,
                    k->string);
            goto fail;
        }
    }
    /* Missing or null is allow; any other value than "allow" is deny. */
    v = cJSON_GetObjectItemCaseSensitive(obj, "default");
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
        err_set(err, IERR_CONFIG, "%s.default: must be \"allow\" or \"deny\"", path);
        goto fail;
    }
    p->default_allow = v == NULL || !cJSON_IsString(v) || strcasecmp(v->valuestring, "allow") == 0;
    rules = cJSON_GetObjectItemCaseSensitive(obj, "rules");
    if (rules == NULL || cJSON_IsNull(rules))
        return p;
    if (!cJSON_IsArray(rules)) {
        err_set(err, IERR_CONFIG, "%s.rules: must be a list of rule objects", path);
        goto fail;
    }
    p->rules = calloc((size_t)cJSON_GetArraySize(rules) + 1, sizeof(*p->rules));
    if (p->rules == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    cJSON_ArrayForEach(it, rules)
    {
        snprintf(sub, sizeof(sub), "%s.rules[%zu]", path, p->n);
        p->n++; /* counted first so a half-parsed rule is freed too */
        if (parse_rule(it, sub, p->n - 1, &p->rules[p->n - 1], err) != 0)
            goto fail;
    }
    return p;
fail:
    policy_free(p);
    return NULL;
}

struct policy *
policy_load_file(const char *file, struct intentus_err *err)
{
    char *text;
    size_t n, len = strlen(file);
    struct policy *p = NULL;
    cJSON *root;

    if ((len > 5 && strcasecmp(file + len - 5, ".yaml") == 0) ||
        (len > 4 && strcasecmp(file + len - 4, ".yml") == 0)) {
        err_set(err, IERR_CONFIG, "%s: YAML policy files are not supported; convert it to JSON",
                file);
        return NULL;
    }
    text = safe_file_read(file, (size_t)16 * 1024 * 1024, &n, err);
    if (text == NULL) {
        err_prefix(err, "policy file");
        if (err != NULL && err->code != IERR_NOMEM)
            err->code = IERR_CONFIG;
        return NULL;
    }
    root = json_parse_unique(text, n, 64, err);
    free(text);
    if (root == NULL) {
        err_prefix(err, "policy file %s", file);
        if (err != NULL)
            err->code = IERR_CONFIG;
        return NULL;
    }
    p = policy_parse(root, file, err);
    cJSON_Delete(root);
    return p;
}

/* The reference's str(value) for a top-level payload field, near enough:
 * strings as they are, missing/null as "", booleans as True/False, numbers
 * as written; objects and arrays as compact JSON (Python would print its
 * repr; documented as a difference). */
static char *
field_text(const cJSON *payload, const char *field)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(payload, field);
    struct buf b = BUF_INIT;

    if (v == NULL || cJSON_IsNull(v))
        return strdup("");
    if (cJSON_IsString(v))
        return strdup(v->valuestring);
    if (cJSON_IsBool(v))
        return strdup(cJSON_IsTrue(v) ? "True" : "False");
    if (cJSON_IsNumber(v)) {
        if (v->valuestring != NULL)
            return strdup(v->valuestring);
        char num[32];
        json_format_double(v->valuedouble, num, sizeof(num));
        return strdup(num);
    }
    if (json_print_compact(v, &b) != 0)
        return NULL;
    return buf_take(&b);
}

static bool
glob_any(const struct strlist *l, const char *value)
{
    for (size_t i = 0; i < l->n; i++) {
        if (fnmatch(l->items[i], value, 0) == 0)
            return true;
    }
    return false;
}

/* "name" or "name@version", each part a glob. */
static bool
intent_any(const struct strlist *l, const char *name, const char *version)
{
    for (size_t i = 0; i < l->n; i++) {
        const char *at = strchr(l->items[i], '@');
        char pat[256];
        if (at == NULL) {
            if (fnmatch(l->items[i], name, 0) == 0)
                return true;
            continue;
        }
        snprintf(pat, sizeof(pat), "%.*s", (int)(at - l->items[i]), l->items[i]);
        if (fnmatch(pat, name, 0) == 0 && fnmatch(at + 1, version ? version : "1.0", 0) == 0)
            return true;
    }
    return false;
}

static bool
rule_matches(const struct rule *r, const struct policy_ctx *c)
{
    if (r->intents.n > 0 &&
        (c->intent == NULL || !intent_any(&r->intents, c->intent, c->intent_version)))
        return false;
    if (r->agents.n > 0 && (c->agent == NULL || !glob_any(&r->agents, c->agent)))
        return false;
    if (r->tenants.n > 0 && (c->tenant == NULL || !glob_any(&r->tenants, c->tenant)))
        return false;
    if (r->roles.n > 0) {
        bool any = false;
        for (size_t i = 0; i < r->roles.n && !any; i++) {
            for (size_t j = 0; j < c->n_roles && !any; j++)
                any = strcmp(r->roles.items[i], c->roles[j]) == 0;
        }
        if (!any)
            return false;
    }
    for (size_t i = 0; i < r->n_regexes; i++) {
        char *text = field_text(c->payload, r->regexes[i].field);
        bool hit = text != NULL && regexec(&r->regexes[i].re, text, 0, NULL, 0) == 0;
        free(text);
        if (!hit)
            return false;
    }
    return true;
}

int
policy_format_key(const char *tmpl, const struct policy_ctx *ctx, char *out, size_t size,
                  struct intentus_err *err)
{
    struct buf b = BUF_INIT;
    const char *p = tmpl;
    int rc = -1;

    while (*p) {
        const char *val;
        size_t n;
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            buf_append(&b, p, 1);
            p += 2;
            continue;
        }
        if (*p == '}') {
            err_set(err, IERR_INVALID, "single '}' in template \"%s\"", tmpl);
            goto out;
        }
        if (*p != '{') {
            buf_append(&b, p++, 1);
            continue;
        }
        n = strcspn(p + 1, "}");
        if (p[1 + n] != '}') {
            err_set(err, IERR_INVALID, "unclosed '{' in template \"%s\"", tmpl);
            goto out;
        }
        if (n == 7 && strncmp(p + 1, "subject", 7) == 0)
            val = ctx->subject;
        else if (n == 6 && strncmp(p + 1, "tenant", 6) == 0)
            val = ctx->tenant;
        else if (n == 6 && strncmp(p + 1, "intent", 6) == 0)
            val = ctx->intent;
        else if (n == 5 && strncmp(p + 1, "agent", 5) == 0)
            val = ctx->agent;
        else {
            err_set(err, IERR_INVALID,
                    "unknown field {%.*s} in template \"%s\" (known: {subject}, {tenant}, "
                    "{intent}, {agent})",
                    (int)n, p + 1, tmpl);
            goto out;
        }
        if (val != NULL) /* None formats as "" in the reference's key */
            buf_append(&b, val, strlen(val));
        p += n + 2;
    }
    snprintf(out, size, "%.*s", (int)b.len, b.data != NULL ? b.data : "");
    rc = 0;
out:
    buf_free(&b);
    return rc;
}

void
policy_evaluate(const struct policy *p, const struct policy_ctx *ctx, struct policy_decision *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < p->n; i++) {
        const struct rule *r = &p->rules[i];
        if (!rule_matches(r, ctx))
            continue;
        snprintf(out->matched_rule, sizeof(out->matched_rule), "%s", r->id);
        out->allowed = r->allow;
        if (!r->allow) {
            snprintf(out->reason, sizeof(out->reason), "Denied by rule '%s'", r->id);
            return;
        }
        snprintf(out->reason, sizeof(out->reason), "Allowed by rule '%s'", r->id);
        out->has_rate = r->has_rate;
        out->rate_limit_per_minute = r->rate;
        out->has_timeout = r->has_timeout;
        out->max_timeout_ms = r->timeout_ms;
        /* Validated at load, so formatting cannot fail here. */
        out->has_key =
            r->key_template != NULL && policy_format_key(r->key_template, ctx, out->rate_limit_key,
                                                         sizeof(out->rate_limit_key), NULL) == 0;
        return;
    }
    out->allowed = p->default_allow;
    snprintf(out->reason, sizeof(out->reason), "%s by default policy (no matching rule)",
             p->default_allow ? "Allowed" : "Denied");
}

cJSON *
policy_decision_json(const struct policy_decision *d)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return NULL;
    cJSON_AddBoolToObject(o, "allowed", d->allowed);
    cJSON_AddStringToObject(o, "reason", d->reason);
    if (d->matched_rule[0] != '\0')
        cJSON_AddStringToObject(o, "matched_rule", d->matched_rule);
    else
        cJSON_AddNullToObject(o, "matched_rule");
    cJSON_AddStringToObject(o, "source", POLICY_SOURCE);
    if (d->has_key)
        cJSON_AddStringToObject(o, "rate_limit_key", d->rate_limit_key);
    else
        cJSON_AddNullToObject(o, "rate_limit_key");
    if (d->has_rate)
        cJSON_AddNumberToObject(o, "rate_limit_per_minute", (double)d->rate_limit_per_minute);
    else
        cJSON_AddNullToObject(o, "rate_limit_per_minute");
    if (d->has_timeout)
        cJSON_AddNumberToObject(o, "max_timeout_ms", (double)d->max_timeout_ms);
    else
        cJSON_AddNullToObject(o, "max_timeout_ms");
    if (cJSON_GetArraySize(o) != 7) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
