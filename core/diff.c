/* Structural JSON diff and the section diff of two records (reference
 * model 3.4 and 8). See diff.h for the path and kind rules.
 *
 * Equality of scalars is equality of their canonical text (json.h), so a
 * section shows no change exactly when its canonical hash is the same:
 * 1.50 and 1.5 are equal, 1 and 1.0 are not. A key missing on one side
 * and null on the other is reported (added/removed with "null" as the
 * value), because the hashes differ; at the root of a section, missing and
 * null both mean "absent" (the reference's loader defaults them to null). */
#include "core/diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"

#define ARRAY_INDEX_MAX 24 /* "[" + 20 digits + "]" + NUL, rounded up */

struct walk {
    struct diff_result *out;
    const char *section; /* borrowed; NULL for a plain diff */
    struct buf path;     /* current path; "" is the root */
    struct intentus_err *err;
};

const char *
diff_kind_name(enum diff_kind k)
{
    switch (k) {
    case DIFF_ADDED:
        return "added";
    case DIFF_REMOVED:
        return "removed";
    case DIFF_CHANGED:
        return "changed";
    }
    return "?";
}

static char *
compact(const cJSON *v)
{
    struct buf b = BUF_INIT;

    if (v == NULL)
        return NULL;
    if (json_print_compact(v, &b) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

static int
push(struct walk *w, enum diff_kind kind, const cJSON *left, const cJSON *right)
{
    struct diff_result *r = w->out;
    struct diff_entry *e;
    const char *path = w->path.len > 0 ? w->path.data : "/";

    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct diff_entry *items = realloc(r->items, cap * sizeof(*items));
        if (items == NULL)
            goto nomem;
        r->items = items;
        r->cap = cap;
    }
    e = &r->items[r->n];
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->path = strdup(path);
    e->section = w->section != NULL ? strdup(w->section) : NULL;
    e->left = compact(left);
    e->right = compact(right);
    r->n++; /* counted even when a copy failed, so diff_result_free frees it */
    if (e->path == NULL || (w->section != NULL && e->section == NULL) ||
        (left != NULL && e->left == NULL) || (right != NULL && e->right == NULL))
        goto nomem;
    return 0;
nomem:
    err_set(w->err, IERR_NOMEM, "diff: out of memory");
    return -1;
}

/* Booleans are one type: true -> false is a changed scalar either way. */
static int
kind_of(const cJSON *v)
{
    int t = v->type & 0xff;

    return t == cJSON_True ? cJSON_False : t;
}

static int
scalars_equal(const cJSON *a, const cJSON *b, bool *equal, struct intentus_err *err)
{
    struct buf ca = BUF_INIT, cb = BUF_INIT;
    int rc = -1;

    if (cJSON_IsString(a)) {
        *equal = strcmp(a->valuestring, b->valuestring) == 0;
        return 0;
    }
    if (cJSON_IsBool(a)) {
        *equal = (a->type & 0xff) == (b->type & 0xff);
        return 0;
    }
    if (json_canonical(a, &ca, err) != 0 || json_canonical(b, &cb, err) != 0)
        goto out;
    *equal = ca.len == cb.len && memcmp(ca.data, cb.data, ca.len) == 0;
    rc = 0;
out:
    buf_free(&ca);
    buf_free(&cb);
    return rc;
}

static int
key_cmp(const void *x, const void *y)
{
    const cJSON *a = *(const cJSON *const *)x, *b = *(const cJSON *const *)y;

    /* Code point order of UTF-8 text is its byte order. */
    return strcmp(a->string, b->string);
}

/* The members of o sorted by key; *n of them (caller frees the array). */
static const cJSON **
sorted_members(const cJSON *o, size_t *n)
{
    const cJSON **v, *m;
    size_t i = 0;

    *n = (size_t)cJSON_GetArraySize(o);
    v = calloc(*n + 1, sizeof(*v));
    if (v == NULL)
        return NULL;
    cJSON_ArrayForEach(m, o)
    {
        if (i < *n && m->string != NULL)
            v[i++] = m;
    }
    *n = i;
    if (i > 1)
        qsort(v, i, sizeof(*v), key_cmp);
    return v;
}

static int walk_value(struct walk *w, const cJSON *a, const cJSON *b);

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
/* Recurse into a child whose path is the current one plus suffix. */
static int
walk_child(struct walk *w, const char *sep, const char *name, const cJSON *a, const cJSON *b)
{
    size_t keep = w->path.len;
    int rc;

    if (buf_puts(&w->path, sep) != 0 || buf_puts(&w->path, name) != 0) {
        err_set(w->err, IERR_NOMEM, "diff: out of memory");
        return -1;
    }
    rc = walk_value(w, a, b);
    w->path.len = keep;
    w->path.data[keep] = '\0';
    return rc;
}

static int
walk_object(struct walk *w, const cJSON *a, const cJSON *b)
{
    size_t na, nb, i = 0, j = 0;
    const cJSON **ka = sorted_members(a, &na), **kb = sorted_members(b, &nb);
    int rc = -1;

    if (ka == NULL || kb == NULL) {
        err_set(w->err, IERR_NOMEM, "diff: out of memory");
        goto out;
    }
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(ka[i]->string, kb[j]->string);
        const cJSON *l = c <= 0 ? ka[i] : NULL, *r = c >= 0 ? kb[j] : NULL;
        const cJSON *named = l != NULL ? l : r; /* c picks at least one side */
        if (named == NULL || walk_child(w, "/", named->string, l, r) != 0)
            goto out;
        i += c <= 0;
        j += c >= 0;
    }
    rc = 0;
out:
    free(ka);
    free(kb);
    return rc;
}

static int
walk_array(struct walk *w, const cJSON *a, const cJSON *b)
{
    const cJSON *l = a->child, *r = b->child;
    /* An item of a root array is "/[i]", not "[i]". */
    const char *sep = w->path.len == 0 ? "/" : "";
    char idx[ARRAY_INDEX_MAX];

    for (size_t i = 0; l != NULL || r != NULL; i++) {
        snprintf(idx, sizeof(idx), "[%zu]", i);
        if (walk_child(w, sep, idx, l, r) != 0)
            return -1;
        l = l != NULL ? l->next : NULL;
        r = r != NULL ? r->next : NULL;
    }
    return 0;
}

/* a or b NULL: the key or item is missing on that side. */
static int
walk_value(struct walk *w, const cJSON *a, const cJSON *b)
{
    bool equal;

    if (a == NULL && b == NULL)
        return 0;
    if (a == NULL)
        return push(w, DIFF_ADDED, NULL, b);
    if (b == NULL)
        return push(w, DIFF_REMOVED, a, NULL);
    if (cJSON_IsNull(a) != cJSON_IsNull(b)) /* null -> value, value -> null */
        return cJSON_IsNull(a) ? push(w, DIFF_ADDED, NULL, b) : push(w, DIFF_REMOVED, a, NULL);
    if (kind_of(a) != kind_of(b))
        return push(w, DIFF_CHANGED, a, b);
    if (cJSON_IsObject(a))
        return walk_object(w, a, b);
    if (cJSON_IsArray(a))
        return walk_array(w, a, b);
    if (cJSON_IsNull(a))
        return 0;
    if (scalars_equal(a, b, &equal, w->err) != 0)
        return -1;
    return equal ? 0 : push(w, DIFF_CHANGED, a, b);
}
/* NOLINTEND(misc-no-recursion) */

/* Diff a and b under section (may be NULL) with path prefix ("" = root). */
static int
diff_under(const cJSON *a, const cJSON *b, const char *section, const char *prefix,
           struct diff_result *out, struct intentus_err *err)
{
    struct walk w = { .out = out, .section = section, .path = BUF_INIT, .err = err };
    int rc = -1;

    if (buf_puts(&w.path, prefix) != 0 || buf_putc(&w.path, '\0') != 0) {
        err_set(err, IERR_NOMEM, "diff: out of memory");
        goto out;
    }
    w.path.len--; /* keep data non-NULL even for an empty prefix */
    rc = walk_value(&w, a, b);
out:
    buf_free(&w.path);
    return rc;
}

int
diff_json(const cJSON *a, const cJSON *b, struct diff_result *out, struct intentus_err *err)
{
    return diff_under(a, b, NULL, "", out, err);
}

/* ---- records ---- */

/* Absent and null are the same at the root of a section. */
static const cJSON *
present(const cJSON *v)
{
    return v == NULL || cJSON_IsNull(v) ? NULL : v;
}

static int
short_hash(const cJSON *v, char out[17], struct intentus_err *err)
{
    char hex[65];

    if (v == NULL) {
        memcpy(out, "null", sizeof("null"));
        return 0;
    }
    if (json_canonical_sha256(v, hex, err) != 0)
        return -1;
    memcpy(out, hex, 16);
    out[16] = '\0';
    return 0;
}

/* {"header": ..., "routerDecision": ... or null}: the metadata section. */
static cJSON *
metadata_of(const cJSON *rec)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(rec, "header");
    const cJSON *rd = present(cJSON_GetObjectItemCaseSensitive(rec, "routerDecision"));
    cJSON *m = cJSON_CreateObject();
    cJSON *hc = h != NULL ? cJSON_Duplicate(h, 1) : cJSON_CreateNull();
    cJSON *rc = rd != NULL ? cJSON_Duplicate(rd, 1) : cJSON_CreateNull();

    if (m == NULL || hc == NULL || rc == NULL || !cJSON_AddItemToObject(m, "header", hc)) {
        cJSON_Delete(m);
        cJSON_Delete(hc);
        cJSON_Delete(rc);
        return NULL;
    }
    if (!cJSON_AddItemToObject(m, "routerDecision", rc)) {
        cJSON_Delete(m);
        cJSON_Delete(rc);
        return NULL;
    }
    return m;
}

static int
diff_section(struct diff_result *out, const char *name, const char *prefix, const cJSON *a,
             const cJSON *b, struct intentus_err *err)
{
    struct diff_section *s = &out->sections[out->n_sections];
    size_t before = out->n;

    memset(s, 0, sizeof(*s));
    s->name = name;
    if (short_hash(a, s->hash_a, err) != 0 || short_hash(b, s->hash_b, err) != 0)
        return -1;
    out->n_sections++;
    if (diff_under(a, b, name, prefix, out, err) != 0)
        return -1;
    s->changes = out->n - before;
    s->identical = strcmp(s->hash_a, s->hash_b) == 0;
    return 0;
}

int
diff_records(const cJSON *a, const cJSON *b, struct diff_result *out, struct intentus_err *err)
{
    char ha[17], hb[17];
    cJSON *ma = NULL, *mb = NULL;
    int rc = -1;

    if (!cJSON_IsObject(a) || !cJSON_IsObject(b)) {
        err_set(err, IERR_INVALID, "diff: a record must be a JSON object");
        return -1;
    }
    out->n_sections = 0;
    out->router_decision_changed = out->final_response_changed = false;
    ma = metadata_of(a);
    mb = metadata_of(b);
    if (ma == NULL || mb == NULL) {
        err_set(err, IERR_NOMEM, "diff: out of memory");
        goto out;
    }
#define SECTION(rec, key) present(cJSON_GetObjectItemCaseSensitive((rec), (key)))
    if (diff_section(out, "input", "", SECTION(a, "envelope"), SECTION(b, "envelope"), err) != 0 ||
        diff_section(out, "output", "", SECTION(a, "finalResponse"), SECTION(b, "finalResponse"),
                     err) != 0 ||
        diff_section(out, "trace", "/events", SECTION(a, "events"), SECTION(b, "events"), err) !=
            0 ||
        diff_section(out, "metadata", "", ma, mb, err) != 0)
        goto out;
    if (short_hash(SECTION(a, "routerDecision"), ha, err) != 0 ||
        short_hash(SECTION(b, "routerDecision"), hb, err) != 0)
        goto out;
#undef SECTION
    /* 16 hex digits decide equality here as they do for the sections. */
    out->router_decision_changed = strcmp(ha, hb) != 0;
    out->final_response_changed = !out->sections[1].identical;
    rc = 0;
out:
    cJSON_Delete(ma);
    cJSON_Delete(mb);
    return rc;
}

/* ---- output ---- */

/* The payloads of rec's events of one type (copies), as an array. */
static cJSON *
event_payloads(const cJSON *rec, const char *type)
{
    cJSON *arr = cJSON_CreateArray();
    const cJSON *e;

    if (arr == NULL)
        return NULL;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "events"))
    {
        const char *t = json_get_string(e, "type");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "payload");
        cJSON *copy;
        if (t == NULL || strcmp(t, type) != 0)
            continue;
        copy = p != NULL ? cJSON_Duplicate(p, 1) : cJSON_CreateNull();
        if (copy == NULL || !cJSON_AddItemToArray(arr, copy)) {
            cJSON_Delete(copy);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* Add a value given as compact JSON text; a string if it does not parse. */
static bool
add_json_text(cJSON *o, const char *key, const char *text)
{
    cJSON *v;

    if (text == NULL)
        return true;
    v = json_parse(text, strlen(text), 0, NULL);
    if (v == NULL)
        v = cJSON_CreateString(text);
    if (v == NULL || !cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

static cJSON *
entry_json(const struct diff_entry *e)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o != NULL;

    if (ok && e->section != NULL)
        ok = cJSON_AddStringToObject(o, "section", e->section) != NULL;
    ok = ok && cJSON_AddStringToObject(o, "path", e->path) != NULL &&
         cJSON_AddStringToObject(o, "kind", diff_kind_name(e->kind)) != NULL &&
         add_json_text(o, "left", e->left) && add_json_text(o, "right", e->right);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool
add_string_or_null(cJSON *o, const char *key, const char *s)
{
    return (s != NULL ? cJSON_AddStringToObject(o, key, s) : cJSON_AddNullToObject(o, key)) != NULL;
}

static bool
add_owned(cJSON *o, const char *key, cJSON *v)
{
    if (v == NULL || !cJSON_AddItemToObject(o, key, v)) {
        cJSON_Delete(v);
        return false;
    }
    return true;
}

static bool
add_record_keys(cJSON *o, const struct diff_result *r, const cJSON *a, const cJSON *b)
{
    const cJSON *ha = cJSON_GetObjectItemCaseSensitive(a, "header");
    const cJSON *hb = cJSON_GetObjectItemCaseSensitive(b, "header");
    cJSON *secs;
    bool identical = true, ok;

    ok = add_string_or_null(o, "executionA", json_get_string(ha, "executionId")) &&
         add_string_or_null(o, "executionB", json_get_string(hb, "executionId")) &&
         add_string_or_null(o, "envelopeHashA", json_get_string(ha, "envelopeHash")) &&
         add_string_or_null(o, "envelopeHashB", json_get_string(hb, "envelopeHash")) &&
         cJSON_AddBoolToObject(o, "routerDecisionChanged", r->router_decision_changed) &&
         cJSON_AddBoolToObject(o, "finalResponseChanged", r->final_response_changed) &&
         add_owned(o, "fallbackEventsA", event_payloads(a, "FALLBACK_TRIGGERED")) &&
         add_owned(o, "fallbackEventsB", event_payloads(b, "FALLBACK_TRIGGERED")) &&
         add_owned(o, "modelCallsA", event_payloads(a, "MODEL_CALL")) &&
         add_owned(o, "modelCallsB", event_payloads(b, "MODEL_CALL"));
    secs = ok ? cJSON_AddArrayToObject(o, "sections") : NULL;
    if (secs == NULL)
        return false;
    for (size_t i = 0; i < r->n_sections; i++) {
        const struct diff_section *s = &r->sections[i];
        cJSON *so = cJSON_CreateObject();
        if (so == NULL || !cJSON_AddItemToArray(secs, so)) {
            cJSON_Delete(so);
            return false;
        }
        if (!cJSON_AddStringToObject(so, "name", s->name) ||
            !cJSON_AddStringToObject(so, "hashA", s->hash_a) ||
            !cJSON_AddStringToObject(so, "hashB", s->hash_b) ||
            !cJSON_AddBoolToObject(so, "identical", s->identical) ||
            !cJSON_AddNumberToObject(so, "changes", (double)s->changes))
            return false;
        identical = identical && s->identical;
    }
    return cJSON_AddBoolToObject(o, "identical", identical) != NULL;
}

cJSON *
diff_result_json(const struct diff_result *r, const cJSON *a, const cJSON *b)
{
    cJSON *o = cJSON_CreateObject(), *changes;

    if (o == NULL)
        return NULL;
    if (a != NULL && b != NULL && !add_record_keys(o, r, a, b))
        goto fail;
    changes = cJSON_AddArrayToObject(o, "changes");
    if (changes == NULL)
        goto fail;
    for (size_t i = 0; i < r->n; i++) {
        cJSON *e = entry_json(&r->items[i]);
        if (e == NULL || !cJSON_AddItemToArray(changes, e)) {
            cJSON_Delete(e);
            goto fail;
        }
    }
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

void
diff_result_free(struct diff_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->items[i].section);
        free(r->items[i].path);
        free(r->items[i].left);
        free(r->items[i].right);
    }
    free(r->items);
    memset(r, 0, sizeof(*r));
}
