/* Strings as untrusted text (an agent's stderr, an HTTP body, an error
 * message): JSON inside them redacted as JSON, "key": value pairs of JSON
 * that does not parse, and the known secret values of an execution masked
 * wherever they appear. The walk itself is in core/redact.c. */
#include "core/redact_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"

/* ---- known secret values ---- */

static int
ctx_add_one(struct redact_ctx *c, const char *s, size_t n)
{
    char *v;

    if (n < REDACT_MIN_SECRET || memchr(s, '\0', n) != NULL)
        return 0;
    for (size_t i = 0; i < c->n; i++) {
        if (strlen(c->vals[i]) == n && memcmp(c->vals[i], s, n) == 0)
            return 0;
    }
    /* A value inside the replacement would mask the replacement itself. */
    if (n <= strlen(c->r->replacement) &&
        memmem(c->r->replacement, strlen(c->r->replacement), s, n))
        return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        char **p = realloc(c->vals, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        c->vals = p;
        c->cap = cap;
    }
    if ((v = strndup(s, n)) == NULL)
        return -1;
    c->vals[c->n++] = v;
    return 0;
}

/* A value as written and, when that differs, as it appears inside JSON text
 * (quotes and backslashes escaped). */
static int
ctx_add(struct redact_ctx *c, const char *s, size_t n)
{
    cJSON *tmp;
    char *raw, *esc;
    int rc;

    if (ctx_add_one(c, s, n) != 0)
        return -1;
    if ((raw = strndup(s, n)) == NULL)
        return -1;
    tmp = cJSON_CreateString(raw);
    free(raw);
    esc = tmp != NULL ? cJSON_PrintUnformatted(tmp) : NULL;
    cJSON_Delete(tmp);
    if (esc == NULL)
        return -1;
    rc = ctx_add_one(c, esc + 1, strlen(esc) - 2); /* without the quotes */
    cJSON_free(esc);
    return rc;
}

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
/* Every scalar of a value a key or path rule is about to replace. */
int
redact_collect_leaves(struct redact_ctx *c, const cJSON *node)
{
    const cJSON *ch;

    if (cJSON_IsString(node))
        return ctx_add(c, node->valuestring, strlen(node->valuestring));
    if (cJSON_IsNumber(node)) {
        /* As JSON text shows it: integers without a fraction. */
        double d = node->valuedouble;
        char num[64];
        if (d == (double)(long long)d && d > -1e15 && d < 1e15)
            snprintf(num, sizeof(num), "%lld", (long long)d);
        else
            json_format_double(d, num, sizeof(num));
        return ctx_add(c, num, strlen(num));
    }
    cJSON_ArrayForEach(ch, node)
    {
        if (redact_collect_leaves(c, ch) != 0)
            return -1;
    }
    return 0;
}
/* NOLINTEND(misc-no-recursion) */

static void
collect(struct walk *w, const char *s, size_t n)
{
    if (w->collect != NULL && ctx_add(w->collect, s, n) != 0)
        w->failed = 1;
}

/* A pattern's match, and of a match of several words its last one too:
 * the token of "Bearer <token>" is as secret without its prefix. */
void
redact_collect_match(struct walk *w, const char *s, size_t n)
{
    size_t last = n;

    collect(w, s, n);
    while (last > 0 && s[last - 1] != ' ' && s[last - 1] != '\t')
        last--;
    if (last > 0)
        collect(w, s + last, n - last);
}

/* ---- strings as text that may hold JSON ---- */

#define TEXT_JSON_TRIES 32 /* JSON parses tried per string: bounded work */

/* Index just past the JSON string token opening at s[i] (quote q), or 0
 * when it does not end. */
static size_t
text_string_end(const char *s, size_t len, size_t i)
{
    char q = s[i];

    for (size_t j = i + 1; j < len; j++) {
        if (s[j] == '\\')
            j++;
        else if (s[j] == q)
            return j + 1;
    }
    return 0;
}

/* Index just past the object or array opening at s[i], or 0 when it does
 * not close (cut text). */
static size_t
text_value_end(const char *s, size_t len, size_t i)
{
    size_t depth = 0;

    for (size_t j = i; j < len; j++) {
        if (s[j] == '"') {
            size_t e = text_string_end(s, len, j);
            if (e == 0)
                return 0;
            j = e - 1;
        } else if (s[j] == '{' || s[j] == '[') {
            depth++;
        } else if ((s[j] == '}' || s[j] == ']') && --depth == 0) {
            return j + 1;
        }
    }
    return 0;
}

/* JSON objects and arrays inside the text get every rule as JSON, path
 * rules counted from their root; a changed one is written back compact. */
void
redact_text_json(struct walk *w, cJSON *node)
{
    const char *s = node->valuestring;
    size_t len = strlen(s), done = 0;
    struct buf out = BUF_INIT;
    bool changed = false;
    int tries = 0;

    for (size_t i = 0; i < len && tries < TEXT_JSON_TRIES; i++) {
        struct walk sub;
        size_t end;
        cJSON *v;
        if (s[i] != '{' && s[i] != '[')
            continue;
        tries++;
        if ((end = text_value_end(s, len, i)) == 0)
            continue;
        if (w->depth + 1 > MAX_DEPTH || (v = json_parse(s + i, end - i, MAX_DEPTH, NULL)) == NULL)
            continue;
        memset(&sub, 0, sizeof(sub));
        sub.r = w->r;
        sub.rep = w->rep;
        sub.ctx = w->ctx;
        sub.collect = w->collect;
        sub.depth = w->depth + 1;
        snprintf(sub.path, sizeof(sub.path), "%s", w->path);
        sub.plen = strlen(sub.path);
        redact_walk_node(&sub, v);
        w->changes += sub.changes;
        w->failed |= sub.failed;
        if (sub.changes > 0) {
            buf_append(&out, s + done, i - done);
            if (json_print_compact(v, &out) != 0)
                w->failed = 1;
            done = end;
            changed = true;
        }
        cJSON_Delete(v);
        i = end - 1;
    }
    if (changed) {
        buf_append(&out, s + done, len - done);
        if (out.data == NULL || redact_set_string(node, out.data) != 0)
            w->failed = 1;
    }
    buf_free(&out);
}

static size_t
skip_space(const char *s, size_t len, size_t j)
{
    while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
        j++;
    return j;
}

/* Where the value starting at s[j] ends; a cut value runs to the end. */
static size_t
text_pair_value_end(const char *s, size_t len, size_t j)
{
    size_t e;

    if (s[j] == '"' || s[j] == '\'')
        return (e = text_string_end(s, len, j)) != 0 ? e : len;
    if (s[j] == '{' || s[j] == '[')
        return (e = text_value_end(s, len, j)) != 0 ? e : len;
    e = j;
    while (e < len && strchr(",}] \t\r\n", s[e]) == NULL)
        e++;
    return e;
}

/* "key": value pairs of JSON (or 'key': value of Python's repr) that did
 * not parse as a whole, often because the text was cut: the key rules. */
void
redact_text_pairs(struct walk *w, cJSON *node)
{
    const char *s = node->valuestring, *repl = w->r->replacement;
    size_t len = strlen(s), done = 0, rlen = strlen(repl);
    struct buf out = BUF_INIT;
    bool changed = false;

    for (size_t i = 0; i < len; i++) {
        size_t kend, j, vend;
        const char *rule;
        char *key;
        if (s[i] != '"' && s[i] != '\'')
            continue;
        if ((kend = text_string_end(s, len, i)) == 0)
            break;
        j = skip_space(s, len, kend);
        if (j >= len || s[j] != ':') {
            i = kend - 1;
            continue;
        }
        j = skip_space(s, len, j + 1);
        if (j >= len || (key = strndup(s + i + 1, kend - i - 2)) == NULL) {
            w->failed = j < len;
            break;
        }
        rule = redact_key_rule_hit(w->r, key);
        free(key);
        if (rule == NULL) {
            i = kend - 1;
            continue;
        }
        vend = text_pair_value_end(s, len, j);
        if (vend == j || (vend - j == rlen + 2 && memcmp(s + j + 1, repl, rlen) == 0)) {
            i = vend > j ? vend - 1 : j;
            continue; /* nothing there, or already redacted */
        }
        if (s[j] != '"' && s[j] != '\'')
            collect(w, s + j, vend - j);
        else if (vend - j >= 2 && s[vend - 1] == s[j])
            collect(w, s + j + 1, vend - j - 2);
        else
            collect(w, s + j + 1, vend - j - 1); /* cut: no closing quote */
        buf_append(&out, s + done, j - done);
        buf_append(&out, s[j] == '\'' ? "'" : "\"", 1);
        buf_append(&out, repl, rlen);
        buf_append(&out, s[j] == '\'' ? "'" : "\"", 1);
        done = vend;
        changed = true;
        redact_note(w, rule);
        i = vend - 1;
    }
    if (changed) {
        buf_append(&out, s + done, len - done);
        if (out.data == NULL || redact_set_string(node, out.data) != 0)
            w->failed = 1;
    }
    buf_free(&out);
}

/* The known secret values of the execution, wherever they appear. */
void
redact_text_known(struct walk *w, cJSON *node)
{
    const char *repl = w->r->replacement;

    for (size_t i = 0; w->ctx != NULL && i < w->ctx->n; i++) {
        const char *v = w->ctx->vals[i], *cur = node->valuestring, *hit;
        size_t n = strlen(v);
        struct buf out = BUF_INIT;
        bool changed = false;
        while ((hit = strstr(cur, v)) != NULL) {
            buf_append(&out, cur, (size_t)(hit - cur));
            buf_append(&out, repl, strlen(repl));
            cur = hit + n;
            changed = true;
        }
        if (changed) {
            buf_append(&out, cur, strlen(cur));
            if (out.data == NULL || redact_set_string(node, out.data) != 0)
                w->failed = 1;
            else
                redact_note(w, "known-secret");
        }
        buf_free(&out);
    }
}
