#include "core/fingerprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"

/* Keys whose values change from run to run whatever the agents do. */
static const char *const volatile_keys[] = {
    "timestamp", "traceId",     "executionId", "ts",        "offsetUs",  "elapsedUs",
    "step_id",   "nextProbeMs", "latencyMs",   "requestId", "createdAt", NULL,
};

/* Events the other parts already hold. */
static const char *const skipped_events[] = { "INTENT_RECEIVED", "ROUTER_DECISION",
                                              "FINAL_RESPONSE", NULL };

static bool
listed(const char *s, const char *const *list)
{
    for (; *list != NULL; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* NOLINTBEGIN(misc-no-recursion): bounded by the record's parse depth. */
static void
scrub(cJSON *v)
{
    cJSON *c = v != NULL ? v->child : NULL;

    while (c != NULL) {
        cJSON *next = c->next;
        if (cJSON_IsObject(v) && c->string != NULL && listed(c->string, volatile_keys))
            cJSON_Delete(cJSON_DetachItemViaPointer(v, c));
        else
            scrub(c);
        c = next;
    }
}
/* NOLINTEND(misc-no-recursion) */

static cJSON *
dup_scrubbed(const cJSON *v)
{
    cJSON *d = v != NULL ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();

    scrub(d);
    return d;
}

static cJSON *
decision_part(const cJSON *rec)
{
    const cJSON *routing = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(rec, "envelope"), "routing");
    const cJSON *strategy = cJSON_GetObjectItemCaseSensitive(routing, "strategy");
    cJSON *o = cJSON_CreateObject();

    if (o == NULL ||
        !cJSON_AddItemToObject(
            o, "routerDecision",
            dup_scrubbed(cJSON_GetObjectItemCaseSensitive(rec, "routerDecision"))) ||
        !cJSON_AddItemToObject(o, "strategy", dup_scrubbed(strategy))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *
attempts_part(const cJSON *rec)
{
    const cJSON *ev;
    cJSON *a = cJSON_CreateArray();

    cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(rec, "events"))
    {
        const char *type = json_get_string(ev, "type");
        cJSON *o;
        if (a == NULL)
            return NULL;
        if (type == NULL || listed(type, skipped_events))
            continue;
        o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(a, o) ||
            cJSON_AddStringToObject(o, "type", type) == NULL ||
            !cJSON_AddItemToObject(o, "payload",
                                   dup_scrubbed(cJSON_GetObjectItemCaseSensitive(ev, "payload")))) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

static cJSON *
response_part(const cJSON *rec)
{
    cJSON *r = dup_scrubbed(cJSON_GetObjectItemCaseSensitive(rec, "finalResponse"));

    cJSON_DeleteItemFromObjectCaseSensitive(r, "metadata");
    return r;
}

static int
hash_of(const cJSON *v, char hex[65], struct intentus_err *err)
{
    return json_canonical_sha256(v, hex, err);
}

int
fingerprint_record(const cJSON *rec, struct fingerprint *out, struct intentus_err *err)
{
    cJSON *m = cJSON_CreateObject(), *d = decision_part(rec), *a = attempts_part(rec),
          *r = response_part(rec);

    memset(out, 0, sizeof(*out));
    if (m == NULL || d == NULL || a == NULL || r == NULL) {
        cJSON_Delete(m);
        cJSON_Delete(d);
        cJSON_Delete(a);
        cJSON_Delete(r);
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    cJSON_AddItemToObject(m, "decision", d);
    cJSON_AddItemToObject(m, "attempts", a);
    cJSON_AddItemToObject(m, "response", r);
    if (hash_of(d, out->decision, err) != 0 || hash_of(a, out->attempts, err) != 0 ||
        hash_of(r, out->response, err) != 0 || hash_of(m, out->all, err) != 0) {
        cJSON_Delete(m);
        return -1;
    }
    out->material = m;
    return 0;
}

void
fingerprint_free(struct fingerprint *f)
{
    if (f == NULL)
        return;
    cJSON_Delete(f->material);
    f->material = NULL;
}

cJSON *
fingerprint_json(const struct fingerprint *f)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL || cJSON_AddStringToObject(o, "fingerprint", f->all) == NULL ||
        cJSON_AddStringToObject(o, "decision", f->decision) == NULL ||
        cJSON_AddStringToObject(o, "attempts", f->attempts) == NULL ||
        cJSON_AddStringToObject(o, "response", f->response) == NULL ||
        !cJSON_AddItemToObject(o, "material", cJSON_Duplicate(f->material, 1))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* A value for a message: compact JSON, cut at 120 bytes. */
static void
value_text(const cJSON *v, char *out, size_t size)
{
    struct buf b = BUF_INIT;

    if (v == NULL) {
        snprintf(out, size, "(absent)");
        return;
    }
    if (json_print_compact(v, &b) != 0) {
        snprintf(out, size, "?");
        return;
    }
    snprintf(out, size, "%.*s%s", b.len > 120 ? 120 : (int)b.len, b.data, b.len > 120 ? "..." : "");
    buf_free(&b);
}

static bool
same(const cJSON *a, const cJSON *b)
{
    return a != NULL && b != NULL && cJSON_Compare(a, b, true);
}

/* NOLINTBEGIN(misc-no-recursion): bounded by the material's depth. */
/* The first path where a and b differ, appended to path. */
static void
first_diff(const cJSON *a, const cJSON *b, char *path, size_t size)
{
    size_t len = strlen(path);

    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        const cJSON *c;
        cJSON_ArrayForEach(c, a)
        {
            const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, c->string);
            if (!same(c, o)) {
                snprintf(path + len, size - len, ".%s", c->string);
                if (o != NULL)
                    first_diff(c, o, path, size);
                return;
            }
        }
        cJSON_ArrayForEach(c, b)
        {
            if (cJSON_GetObjectItemCaseSensitive(a, c->string) == NULL) {
                snprintf(path + len, size - len, ".%s", c->string);
                return;
            }
        }
    } else if (cJSON_IsArray(a) && cJSON_IsArray(b)) {
        int na = cJSON_GetArraySize(a), nb = cJSON_GetArraySize(b);
        for (int i = 0; i < na || i < nb; i++) {
            const cJSON *x = cJSON_GetArrayItem(a, i), *y = cJSON_GetArrayItem(b, i);
            if (!same(x, y)) {
                snprintf(path + len, size - len, "[%d]", i);
                if (x != NULL && y != NULL)
                    first_diff(x, y, path, size);
                return;
            }
        }
    }
}

static const cJSON *
at_path(const cJSON *v, const char *path)
{
    char key[256];

    while (v != NULL && *path != '\0') {
        if (*path == '.') {
            size_t n = strcspn(path + 1, ".[");
            snprintf(key, sizeof(key), "%.*s", (int)n, path + 1);
            v = cJSON_GetObjectItemCaseSensitive(v, key);
            path += 1 + n;
        } else if (*path == '[') {
            v = cJSON_GetArrayItem(v, (int)strtol(path + 1, NULL, 10));
            path = strchr(path, ']');
            if (path == NULL)
                return NULL;
            path++;
        } else {
            return NULL;
        }
    }
    return v;
}
/* NOLINTEND(misc-no-recursion) */

bool
fingerprint_first_diff(const struct fingerprint *a, const struct fingerprint *b, char *buf,
                       size_t size)
{
    char path[512] = "", va[160], vb[160];

    if (strcmp(a->all, b->all) == 0)
        return false;
    first_diff(a->material, b->material, path, sizeof(path));
    value_text(at_path(a->material, path), va, sizeof(va));
    value_text(at_path(b->material, path), vb, sizeof(vb));
    snprintf(buf, size, "%s: %s vs %s", path[0] == '.' ? path + 1 : path, va, vb);
    return true;
}
