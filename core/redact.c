#include "core/redact.h"

#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/redact_text.h"

/* The defaults: secrets by key name, and the value shapes of common
 * credentials. Kept as data so `intentus redact --help` and the README can
 * show the same list. */
static const char *const default_keys[] = {
    "password",   "passwd",       "secret",        "client_secret", "secret_key",
    "token",      "access_token", "refresh_token", "id_token",      "auth_token",
    "api_key",    "apikey",       "x-api-key",     "authorization", "proxy-authorization",
    "cookie",     "set-cookie",   "private_key",   "access_key",    "session",
    "session_id", NULL,
};

/* A run of base64 characters is only a secret if it mixes cases and
 * digits and is not a file path; ERE has no look-ahead to say so. */
static bool
accept_base64(const char *s, size_t n)
{
    size_t upper = 0, lower = 0, digit = 0, slash = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        upper += c >= 'A' && c <= 'Z';
        lower += c >= 'a' && c <= 'z';
        digit += c >= '0' && c <= '9';
        slash += c == '/';
    }
    return upper >= 2 && lower >= 2 && digit >= 2 && slash <= 2;
}

/* What each built-in regex cannot match without: most strings of a
 * record (ids, timestamps, names) have none of it, and regexec is slow. */
static bool
maybe_bearer(const char *s)
{
    return strcasestr(s, "bearer") != NULL;
}

static bool
maybe_sk(const char *s)
{
    return strstr(s, "sk-") != NULL;
}

static bool
maybe_aws(const char *s)
{
    return strstr(s, "AKIA") != NULL || strstr(s, "ASIA") != NULL;
}

static bool
maybe_jwt(const char *s)
{
    return strstr(s, "eyJ") != NULL;
}

static bool
is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
is_base64(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
           c == '/' || c == '_' || c == '-';
}

/* A run of at least min characters of a class. */
static bool
has_run(const char *s, bool (*in)(unsigned char), size_t min)
{
    size_t run = 0;

    for (; *s != '\0'; s++) {
        run = in((unsigned char)*s) ? run + 1 : 0;
        if (run >= min)
            return true;
    }
    return false;
}

static bool
maybe_hex(const char *s)
{
    return has_run(s, is_hex, 32);
}

static bool
maybe_base64(const char *s)
{
    return has_run(s, is_base64, 40);
}

static const struct {
    const char *name, *regex;
    accept_fn accept;
    maybe_fn maybe;
} default_patterns[] = {
    { "bearer", "[Bb][Ee][Aa][Rr][Ee][Rr][ \t]+[A-Za-z0-9._~+/-]+=*", NULL, maybe_bearer },
    { "sk-key", "sk-[A-Za-z0-9_-]{16,}", NULL, maybe_sk },
    { "aws-access-key", "(AKIA|ASIA)[A-Z0-9]{16}", NULL, maybe_aws },
    { "jwt", "eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+", NULL, maybe_jwt },
    { "long-hex", "[0-9A-Fa-f]{32,}", NULL, maybe_hex },
    { "long-base64", "[A-Za-z0-9+/_-]{40,}={0,2}", accept_base64, maybe_base64 },
};

static char *
normalize(const char *s)
{
    char *out = malloc(strlen(s) + 1), *o = out;

    if (out == NULL)
        return NULL;
    for (; *s; s++) {
        if (*s != '_' && *s != '-')
            *o++ = *s;
    }
    *o = '\0';
    return out;
}

void
redactor_free(struct redactor *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_keys; i++) {
        free(r->keys[i].glob);
        free(r->keys[i].norm);
        free(r->keys[i].lower);
        free(r->keys[i].name);
    }
    for (size_t i = 0; i < r->n_paths; i++) {
        free(r->paths[i].text);
        free(r->paths[i].name);
        for (size_t j = 0; j < r->paths[i].n; j++)
            free(r->paths[i].segs[j]);
    }
    for (size_t i = 0; i < r->n_patterns; i++) {
        free(r->patterns[i].name);
        free(r->patterns[i].regex);
        regfree(&r->patterns[i].re);
    }
    free(r->keys);
    free(r->paths);
    free(r->patterns);
    free(r->replacement);
    cJSON_Delete(r->rules);
    free(r);
}

static char *
named(const char *kind, const char *text)
{
    size_t n = strlen(kind) + strlen(text) + 2;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s:%s", kind, text);
    return s;
}

static int
add_key(struct redactor *r, const char *glob, struct intentus_err *err)
{
    struct key_rule *k = realloc(r->keys, (r->n_keys + 1) * sizeof(*k));

    if (k == NULL)
        goto nomem;
    r->keys = k;
    k = &r->keys[r->n_keys];
    k->glob = strdup(glob);
    k->norm = normalize(glob);
    k->name = named("key", glob);
    k->literal = strpbrk(glob, "*?[\\") == NULL;
    k->lower = normalize(glob);
    for (char *c = k->lower; c != NULL && *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    r->n_keys++;
    if (k->glob == NULL || k->norm == NULL || k->name == NULL || k->lower == NULL)
        goto nomem;
    return 0;
nomem:
    err_set(err, IERR_NOMEM, NULL);
    return -1;
}

static int
add_path(struct redactor *r, const char *text, const char *where, struct intentus_err *err)
{
    struct path_rule *p = realloc(r->paths, (r->n_paths + 1) * sizeof(*p));
    const char *s = text;

    if (p == NULL)
        goto nomem;
    r->paths = p;
    p = &r->paths[r->n_paths];
    memset(p, 0, sizeof(*p));
    r->n_paths++;
    p->text = strdup(text);
    p->name = named("path", text);
    if (p->text == NULL || p->name == NULL)
        goto nomem;
    for (;;) {
        size_t n = strcspn(s, ".");
        if (n == 0 || p->n == MAX_SEGS) {
            err_set(err, IERR_CONFIG,
                    "%s: \"%s\" is not a path of at most %d dot-separated key names", where, text,
                    MAX_SEGS);
            return -1;
        }
        if ((p->segs[p->n++] = strndup(s, n)) == NULL)
            goto nomem;
        if (s[n] == '\0')
            break;
        s += n + 1;
    }
    return 0;
nomem:
    err_set(err, IERR_NOMEM, NULL);
    return -1;
}

static int
add_pattern(struct redactor *r, const char *name, const char *regex, accept_fn accept,
            const char *where, struct intentus_err *err)
{
    struct pattern *p = realloc(r->patterns, (r->n_patterns + 1) * sizeof(*p));
    int rc;

    if (p == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    r->patterns = p;
    p = &r->patterns[r->n_patterns];
    rc = regcomp(&p->re, regex, REG_EXTENDED);
    if (rc != 0) {
        char msg[128];
        regerror(rc, &p->re, msg, sizeof(msg));
        err_set(err, IERR_CONFIG, "%s: pattern \"%s\": bad POSIX extended regex: %s", where, name,
                msg);
        return -1;
    }
    p->name = strdup(name);
    p->regex = strdup(regex);
    p->accept = accept;
    p->maybe = NULL;
    r->n_patterns++;
    if (p->name == NULL || p->regex == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return 0;
}

static int
parse_strings(const cJSON *obj, const char *key, const char *path,
              int (*add)(struct redactor *, const char *, const char *, struct intentus_err *),
              struct redactor *r, struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key), *it;
    char where[192];
    int i = 0;

    if (v == NULL)
        return 0;
    if (!cJSON_IsArray(v)) {
        err_set(err, IERR_CONFIG, "%s.%s: must be a list of strings", path, key);
        return -1;
    }
    cJSON_ArrayForEach(it, v)
    {
        snprintf(where, sizeof(where), "%s.%s[%d]", path, key, i++);
        if (!cJSON_IsString(it) || it->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG, "%s: must be a non-empty string", where);
            return -1;
        }
        if (add(r, it->valuestring, where, err) != 0)
            return -1;
    }
    return 0;
}

static int
add_key_at(struct redactor *r, const char *glob, const char *where, struct intentus_err *err)
{
    (void)where;
    return add_key(r, glob, err);
}

static int
parse_patterns(const cJSON *obj, const char *path, struct redactor *r, struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "patterns"), *it, *k;
    char where[192];
    int i = 0;

    if (v == NULL)
        return 0;
    if (!cJSON_IsArray(v)) {
        err_set(err, IERR_CONFIG, "%s.patterns: must be a list of {\"name\", \"regex\"}", path);
        return -1;
    }
    cJSON_ArrayForEach(it, v)
    {
        const char *name = json_get_string(it, "name"), *regex = json_get_string(it, "regex");
        snprintf(where, sizeof(where), "%s.patterns[%d]", path, i++);
        if (!cJSON_IsObject(it) || name == NULL || regex == NULL || name[0] == '\0' ||
            regex[0] == '\0') {
            err_set(err, IERR_CONFIG, "%s: must be {\"name\": \"...\", \"regex\": \"...\"}", where);
            return -1;
        }
        cJSON_ArrayForEach(k, it)
        {
            if (strcmp(k->string, "name") != 0 && strcmp(k->string, "regex") != 0) {
                err_set(err, IERR_CONFIG, "%s.%s: unknown key (known: name, regex)", where,
                        k->string);
                return -1;
            }
        }
        if (add_pattern(r, name, regex, NULL, where, err) != 0)
            return -1;
    }
    return 0;
}

static int
parse_options(struct redactor *r, const cJSON *obj, const char *path, bool *defaults,
              struct intentus_err *err)
{
    static const char *const known[] = { "enabled", "replacement", "defaults", "keys",
                                         "paths",   "patterns",    NULL };
    const cJSON *k, *v;

    if (!cJSON_IsObject(obj)) {
        err_set(err, IERR_CONFIG, "%s: must be an object", path);
        return -1;
    }
    cJSON_ArrayForEach(k, obj)
    {
        bool ok = false;
        for (size_t i = 0; known[i] != NULL; i++)
            ok = ok || strcmp(known[i], k->string) == 0;
        if (!ok) {
            err_set(err, IERR_CONFIG,
                    "%s.%s: unknown key (known: enabled, replacement, defaults, keys, paths, "
                    "patterns)",
                    path, k->string);
            return -1;
        }
    }
    for (size_t i = 0; i < 2; i++) {
        const char *key = i == 0 ? "enabled" : "defaults";
        v = cJSON_GetObjectItemCaseSensitive(obj, key);
        if (v != NULL && !cJSON_IsBool(v)) {
            err_set(err, IERR_CONFIG, "%s.%s: must be true or false", path, key);
            return -1;
        }
        if (v != NULL && i == 0)
            r->enabled = cJSON_IsTrue(v);
        if (v != NULL && i == 1)
            *defaults = cJSON_IsTrue(v);
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "replacement");
    if (v != NULL) {
        if (!cJSON_IsString(v)) {
            err_set(err, IERR_CONFIG, "%s.replacement: must be a string", path);
            return -1;
        }
        free(r->replacement);
        if ((r->replacement = strdup(v->valuestring)) == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
    }
    return 0;
}

static cJSON *
build_rules_json(const struct redactor *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *keys = cJSON_AddArrayToObject(o, "keys");
    cJSON *paths = cJSON_AddArrayToObject(o, "paths");
    cJSON *pats = cJSON_AddArrayToObject(o, "patterns");

    cJSON_AddStringToObject(o, "replacement", r->replacement);
    if (keys == NULL || paths == NULL || pats == NULL) {
        cJSON_Delete(o);
        return NULL;
    }
    for (size_t i = 0; i < r->n_keys; i++)
        cJSON_AddItemToArray(keys, cJSON_CreateString(r->keys[i].glob));
    for (size_t i = 0; i < r->n_paths; i++)
        cJSON_AddItemToArray(paths, cJSON_CreateString(r->paths[i].text));
    for (size_t i = 0; i < r->n_patterns; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", r->patterns[i].name);
        cJSON_AddStringToObject(p, "regex", r->patterns[i].regex);
        cJSON_AddItemToArray(pats, p);
    }
    return o;
}

struct redactor *
redactor_new(const cJSON *obj, const char *path, struct intentus_err *err)
{
    struct redactor *r = calloc(1, sizeof(*r));
    bool defaults = true;
    char hex[65];

    if (r == NULL || (r->replacement = strdup(REDACT_DEFAULT_REPLACEMENT)) == NULL) {
        free(r);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    r->enabled = true;
    if (path == NULL)
        path = "redaction";
    if (obj != NULL && parse_options(r, obj, path, &defaults, err) != 0)
        goto fail;
    if (defaults) {
        for (size_t i = 0; default_keys[i] != NULL; i++) {
            if (add_key(r, default_keys[i], err) != 0)
                goto fail;
        }
        for (size_t i = 0; i < sizeof(default_patterns) / sizeof(default_patterns[0]); i++) {
            if (add_pattern(r, default_patterns[i].name, default_patterns[i].regex,
                            default_patterns[i].accept, "built-in", err) != 0)
                goto fail;
            r->patterns[r->n_patterns - 1].maybe = default_patterns[i].maybe;
        }
    }
    if (obj != NULL && (parse_strings(obj, "keys", path, add_key_at, r, err) != 0 ||
                        parse_strings(obj, "paths", path, add_path, r, err) != 0 ||
                        parse_patterns(obj, path, r, err) != 0))
        goto fail;
    r->rules = build_rules_json(r);
    if (r->rules == NULL || json_canonical_sha256(r->rules, hex, err) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    snprintf(r->version, sizeof(r->version), "intentus-redact/1:%.16s", hex);
    return r;
fail:
    redactor_free(r);
    return NULL;
}

bool
redactor_enabled(const struct redactor *r)
{
    return r != NULL && r->enabled;
}

const char *
redactor_version(const struct redactor *r)
{
    return r->version;
}

const char *
redactor_replacement(const struct redactor *r)
{
    return r->replacement;
}

cJSON *
redactor_rules_json(const struct redactor *r)
{
    return cJSON_Duplicate(r->rules, 1);
}

void
redact_report_free(struct redact_report *rep)
{
    if (rep == NULL)
        return;
    free(rep->items);
    memset(rep, 0, sizeof(*rep));
}

/* ---- walking ---- */

void
redact_note(struct walk *w, const char *rule)
{
    struct redact_report *rep = w->rep;

    w->changes++;
    if (rep == NULL)
        return;
    rep->fields++;
    if (rep->n == rep->cap) {
        size_t cap = rep->cap ? rep->cap * 2 : 16;
        struct redact_change *p = realloc(rep->items, cap * sizeof(*p));
        if (p == NULL) {
            w->failed = 1;
            return;
        }
        rep->items = p;
        rep->cap = cap;
    }
    snprintf(rep->items[rep->n].path, sizeof(rep->items[0].path), "%.255s", w->path);
    snprintf(rep->items[rep->n].rule, sizeof(rep->items[0].rule), "%s", rule);
    rep->n++;
}

/* Turn node into the replacement string, whatever it was. A node of a
 * tree built in code may borrow its string or its members (IsReference:
 * not freed here, as cJSON_Delete would not) and link a literal key
 * (StringIsConst: kept, or cJSON_Delete would free the literal). */
int
redact_set_string(cJSON *node, const char *s)
{
    char *copy = strdup(s);
    int key_flag = node->type & cJSON_StringIsConst;

    if (copy == NULL)
        return -1;
    if (!(node->type & cJSON_IsReference)) {
        cJSON_Delete(node->child);
        free(node->valuestring);
    }
    node->child = NULL;
    node->valuestring = copy;
    node->type = cJSON_String | key_flag;
    node->valueint = 0;
    node->valuedouble = 0;
    return 0;
}

static void
replace(struct walk *w, cJSON *node, const char *rule)
{
    if (cJSON_IsString(node) && strcmp(node->valuestring, w->r->replacement) == 0)
        return; /* already redacted: redacting twice changes nothing */
    if (w->collect != NULL && redact_collect_leaves(w->collect, node) != 0)
        w->failed = 1;
    if (redact_set_string(node, w->r->replacement) != 0) {
        w->failed = 1;
        return;
    }
    redact_note(w, rule);
}

const char *
redact_key_rule_hit(const struct redactor *r, const char *key)
{
    char *norm = NULL, low[64];
    const char *hit = NULL;
    bool fits = true;
    size_t n = 0;

    /* The key without '_' and '-', lowered, for the literal rules (all the
     * built-in ones); a longer key takes the fnmatch path below. */
    for (const char *c = key; *c != '\0' && fits; c++) {
        if (*c == '_' || *c == '-')
            continue;
        if (n == sizeof(low) - 1)
            fits = false;
        else
            low[n++] = (char)tolower((unsigned char)*c);
    }
    low[n] = '\0';
    for (size_t i = 0; i < r->n_keys && hit == NULL; i++) {
        if (r->keys[i].literal && fits) {
            /* Equal ignoring case, '_' and '-': what both fnmatch calls
             * below would find for a pattern without glob characters. */
            if (strcmp(r->keys[i].lower, low) == 0)
                hit = r->keys[i].name;
            continue;
        }
        if (fnmatch(r->keys[i].glob, key, FNM_CASEFOLD) == 0) {
            hit = r->keys[i].name;
            break;
        }
        if (norm == NULL && (norm = normalize(key)) == NULL)
            return NULL;
        if (fnmatch(r->keys[i].norm, norm, FNM_CASEFOLD) == 0)
            hit = r->keys[i].name;
    }
    free(norm);
    return hit;
}

static const char *
path_rule_hit(const struct walk *w)
{
    for (size_t i = 0; i < w->r->n_paths; i++) {
        const struct path_rule *p = &w->r->paths[i];
        bool ok = p->n == w->nseg;
        for (size_t j = 0; ok && j < p->n; j++)
            ok = strcmp(p->segs[j], "*") == 0 || strcmp(p->segs[j], w->segs[j]) == 0;
        if (ok)
            return p->name;
    }
    return NULL;
}

/* Every match of every pattern inside one string. */
static void
redact_patterns(struct walk *w, cJSON *node)
{
    for (size_t i = 0; i < w->r->n_patterns; i++) {
        const struct pattern *p = &w->r->patterns[i];
        const char *cur = node->valuestring;
        struct buf out = BUF_INIT;
        bool changed = false;
        regmatch_t m;
        int flags = 0;

        if (p->maybe != NULL && !p->maybe(cur))
            continue;
        while (*cur != '\0' && regexec(&p->re, cur, 1, &m, flags) == 0) {
            size_t so = (size_t)m.rm_so, eo = (size_t)m.rm_eo;
            if (eo == so) { /* an empty match: step past one character */
                buf_append(&out, cur, so + 1);
                cur += so + 1;
            } else if (p->accept != NULL && !p->accept(cur + so, eo - so)) {
                buf_append(&out, cur, eo);
                cur += eo;
            } else {
                redact_collect_match(w, cur + so, eo - so);
                buf_append(&out, cur, so);
                buf_append(&out, w->r->replacement, strlen(w->r->replacement));
                cur += eo;
                changed = true;
            }
            flags = REG_NOTBOL;
        }
        if (changed) {
            buf_append(&out, cur, strlen(cur));
            if (out.data == NULL || redact_set_string(node, out.data) != 0)
                w->failed = 1;
            else
                redact_note(w, p->name);
        }
        buf_free(&out);
    }
}

/* One string: JSON inside it, key rules on JSON-looking pairs, the known
 * secret values, then the patterns. */
static void
redact_string(struct walk *w, cJSON *node)
{
    if (strchr(node->valuestring, '{') != NULL || strchr(node->valuestring, '[') != NULL)
        redact_text_json(w, node);
    if (!w->failed && strchr(node->valuestring, ':') != NULL)
        redact_text_pairs(w, node);
    if (!w->failed)
        redact_text_known(w, node);
    if (!w->failed)
        redact_patterns(w, node);
}

static size_t
push_text(struct walk *w, const char *text)
{
    size_t old = w->plen, room = sizeof(w->path) - w->plen, n = strlen(text);

    if (n >= room)
        n = room - 1; /* cut, as the report's paths are */
    memcpy(w->path + w->plen, text, n);
    w->plen += n;
    w->path[w->plen] = '\0';
    return old;
}

static size_t
push_key(struct walk *w, const char *key)
{
    size_t old = w->plen;

    if (w->plen > 0)
        push_text(w, ".");
    push_text(w, key);
    return old;
}

static size_t
push_index(struct walk *w, int index)
{
    char text[24];

    snprintf(text, sizeof(text), "[%d]", index);
    return push_text(w, text);
}

/* Is the member just entered one of the holder-relative paths in keep? */
static bool
is_kept(const struct walk *w)
{
    for (size_t i = 0; w->keep != NULL && w->keep[i] != NULL; i++) {
        const char *k = w->keep[i];
        size_t j = 0;
        for (; j < w->nseg && j < MAX_SEGS; j++) {
            size_t n = strlen(w->segs[j]);
            if (strncmp(k, w->segs[j], n) != 0 || (k[n] != '.' && k[n] != '\0'))
                break;
            k += n;
            if (*k == '.')
                k++;
            else if (j + 1 < w->nseg)
                break;
        }
        if (j == w->nseg && *k == '\0')
            return true;
    }
    return false;
}

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
/* One object member: key and path rules first (the whole value goes),
 * otherwise look inside. */
static void
walk_member(struct walk *w, cJSON *child)
{
    size_t old = push_key(w, child->string);
    const char *rule;

    w->segs[w->nseg < MAX_SEGS ? w->nseg : MAX_SEGS] = child->string;
    w->nseg++;
    if (is_kept(w)) {
        rule = NULL;
        goto out;
    }
    rule = redact_key_rule_hit(w->r, child->string);
    if (rule == NULL && w->nseg <= MAX_SEGS)
        rule = path_rule_hit(w);
    if (rule != NULL)
        replace(w, child, rule);
    else
        redact_walk_node(w, child);
out:
    w->nseg--;
    w->plen = old;
    w->path[old] = '\0';
}

void
redact_walk_node(struct walk *w, cJSON *node)
{
    cJSON *c;
    int i = 0;

    if (cJSON_IsString(node)) {
        redact_string(w, node);
        return;
    }
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
        return;
    if (++w->depth > MAX_DEPTH) {
        replace(w, node, "max-depth");
        w->depth--;
        return;
    }
    for (c = node->child; c != NULL; c = c->next) {
        if (cJSON_IsObject(node)) {
            walk_member(w, c);
        } else {
            size_t old = push_index(w, i++);
            redact_walk_node(w, c);
            w->plen = old;
            w->path[old] = '\0';
        }
    }
    w->depth--;
}
/* NOLINTEND(misc-no-recursion) */

static void
walk_init(struct walk *w, const struct redactor *r, struct redact_report *rep, const char *base)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
    w->rep = rep;
    snprintf(w->path, sizeof(w->path), "%s", base);
    w->plen = strlen(w->path);
}

int
redact_tree(const struct redactor *r, cJSON *root, struct redact_report *rep)
{
    struct walk w;

    walk_init(&w, r, rep, "");
    redact_walk_node(&w, root);
    return w.failed ? -1 : 0;
}

/* Every member of holder but those of keep, path rules counted from holder;
 * skip: top-level keys not walked here at all (walked as holders of their
 * own). */
static void
walk_holder(struct walk *w, cJSON *holder, const char *base, const char *const *keep,
            const char *const *skip)
{
    cJSON *c;

    if (!cJSON_IsObject(holder))
        return;
    snprintf(w->path, sizeof(w->path), "%s", base);
    w->plen = strlen(w->path);
    w->nseg = 0;
    w->keep = keep;
    for (c = holder->child; c != NULL; c = c->next) {
        bool skipped = false;
        for (size_t i = 0; skip != NULL && skip[i] != NULL && !skipped; i++)
            skipped = strcmp(skip[i], c->string) == 0;
        if (!skipped && !cJSON_IsNull(c))
            walk_member(w, c);
    }
    w->keep = NULL;
}

static int
cmp_longest_first(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

    return la < lb ? 1 : la > lb ? -1 : strcmp(*(char *const *)a, *(char *const *)b);
}

void
redact_ctx_free(struct redact_ctx *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->vals[i]);
    free(c->vals);
    free(c);
}

struct redact_ctx *
redact_ctx_new(const struct redactor *r, const cJSON *env, struct intentus_err *err)
{
    struct redact_ctx *c = calloc(1, sizeof(*c));
    cJSON *copy = NULL;
    struct walk w;

    if (c == NULL)
        goto nomem;
    c->r = r;
    if (env != NULL && redactor_enabled(r)) {
        /* Redact a copy, keeping what the rules hit. */
        if ((copy = cJSON_Duplicate(env, 1)) == NULL)
            goto nomem;
        walk_init(&w, r, NULL, "envelope");
        w.collect = c;
        walk_holder(&w, copy, "envelope", NULL, NULL);
        cJSON_Delete(copy);
        if (w.failed)
            goto nomem;
    }
    /* Longest first, so that a value holding another is masked whole. */
    if (c->n > 1)
        qsort(c->vals, c->n, sizeof(*c->vals), cmp_longest_first);
    return c;
nomem:
    redact_ctx_free(c);
    err_set(err, IERR_NOMEM, "out of memory collecting the secrets to redact");
    return NULL;
}

size_t
redact_ctx_secrets(const struct redact_ctx *c)
{
    return c != NULL ? c->n : 0;
}

int
redact_ctx_tree(const struct redact_ctx *c, cJSON *obj, const char *const *keep,
                struct redact_report *rep)
{
    struct walk w;

    if (c == NULL || !redactor_enabled(c->r))
        return 0;
    walk_init(&w, c->r, rep, "");
    w.ctx = c;
    if (cJSON_IsObject(obj))
        walk_holder(&w, obj, "", keep, NULL);
    else
        redact_walk_node(&w, obj);
    return w.failed ? -1 : 0;
}

static int
fix_header(const struct redactor *r, cJSON *record, const char *orig, size_t env_changes,
           size_t fields, struct intentus_err *err)
{
    cJSON *header = cJSON_GetObjectItemCaseSensitive(record, "header");
    cJSON *red = cJSON_CreateObject();
    char hex[65];

    if (red == NULL)
        goto nomem;
    cJSON_AddBoolToObject(red, "applied", fields > 0);
    cJSON_AddStringToObject(red, "rules", r->version);
    cJSON_AddNumberToObject(red, "fields", (double)fields);
    if (env_changes > 0) {
        if (json_canonical_sha256(cJSON_GetObjectItemCaseSensitive(record, "envelope"), hex, err) !=
            0) {
            cJSON_Delete(red);
            return -1;
        }
        cJSON_ReplaceItemInObjectCaseSensitive(header, "envelopeHash", cJSON_CreateString(hex));
    }
    /* Redacting a record again keeps the hash of what was first received. */
    if (cJSON_GetObjectItemCaseSensitive(header, "originalEnvelopeHash") == NULL &&
        !cJSON_AddStringToObject(header, "originalEnvelopeHash", orig))
        goto nomem_red;
    if (cJSON_GetObjectItemCaseSensitive(header, "redaction") != NULL)
        cJSON_DeleteItemFromObjectCaseSensitive(header, "redaction");
    cJSON_AddItemToObject(header, "redaction", red);
    return 0;
nomem_red:
    cJSON_Delete(red);
nomem:
    err_set(err, IERR_NOMEM, "out of memory redacting a record");
    return -1;
}

/* The events, each the holder of its path rules; FINAL_RESPONSE's payload
 * is a response and holds its own, as finalResponse does. */
static void
walk_events(struct walk *w, cJSON *events)
{
    static const char *const event_keep[] = { "seq", "type", "ts", "offsetUs", NULL };
    static const char *const received_keep[] = {
        "seq", "type", "ts", "offsetUs", "payload.config_hash", NULL
    };
    static const char *const payload_skip[] = { "payload", NULL };
    char base[64];
    cJSON *ev;
    int i = 0;

    cJSON_ArrayForEach(ev, events)
    {
        const char *type = json_get_string(ev, "type");
        int idx = i++;
        snprintf(base, sizeof(base), "events[%d]", idx);
        if (!cJSON_IsObject(ev)) {
            redact_walk_node(w, ev);
        } else if (type != NULL && strcmp(type, "FINAL_RESPONSE") == 0) {
            walk_holder(w, ev, base, event_keep, payload_skip);
            snprintf(base, sizeof(base), "events[%d].payload", idx);
            walk_holder(w, cJSON_GetObjectItemCaseSensitive(ev, "payload"), base, NULL, NULL);
        } else {
            walk_holder(w, ev, base,
                        type != NULL && strcmp(type, "INTENT_RECEIVED") == 0 ? received_keep
                                                                             : event_keep,
                        NULL);
        }
    }
}

int
redact_ctx_record(const struct redact_ctx *c, cJSON *record, struct redact_report *rep,
                  struct intentus_err *err)
{
    static const char *const header_keep[] = {
        "executionId", "createdUtcIso", "envelopeHash", "originalEnvelopeHash", "redaction", NULL,
    };
    static const char *const holders[] = { "header", "envelope",      "routerDecision",
                                           "events", "finalResponse", NULL };
    struct redact_report local = { 0 };
    cJSON *header = cJSON_GetObjectItemCaseSensitive(record, "header");
    const char *h = json_get_string(header, "envelopeHash");
    char orig[65];
    size_t env_changes;
    struct walk w;
    int rc;

    if (c == NULL || !redactor_enabled(c->r))
        return 0;
    if (h == NULL) {
        err_set(err, IERR_INVALID, "header.envelopeHash: missing");
        return -1;
    }
    snprintf(orig, sizeof(orig), "%s", h);
    if (rep == NULL)
        rep = &local;
    walk_init(&w, c->r, rep, "");
    w.ctx = c;
    walk_holder(&w, cJSON_GetObjectItemCaseSensitive(record, "envelope"), "envelope", NULL, NULL);
    env_changes = w.changes;
    walk_holder(&w, header, "header", header_keep, NULL);
    walk_holder(&w, cJSON_GetObjectItemCaseSensitive(record, "routerDecision"), "routerDecision",
                NULL, NULL);
    walk_events(&w, cJSON_GetObjectItemCaseSensitive(record, "events"));
    walk_holder(&w, cJSON_GetObjectItemCaseSensitive(record, "finalResponse"), "finalResponse",
                NULL, NULL);
    /* Anything else a newer writer put there: the record is its holder. */
    walk_holder(&w, record, "", NULL, holders);
    if (w.failed) {
        redact_report_free(&local);
        err_set(err, IERR_NOMEM, "out of memory redacting a record");
        return -1;
    }
    rc = fix_header(c->r, record, orig, env_changes, rep->fields, err);
    redact_report_free(&local);
    return rc;
}

int
redact_record(const struct redactor *r, cJSON *record, struct redact_report *rep,
              struct intentus_err *err)
{
    struct redact_ctx *c;
    int rc;

    if (!redactor_enabled(r))
        return 0;
    c = redact_ctx_new(r, cJSON_GetObjectItemCaseSensitive(record, "envelope"), err);
    if (c == NULL)
        return -1;
    rc = redact_ctx_record(c, record, rep, err);
    redact_ctx_free(c);
    return rc;
}
