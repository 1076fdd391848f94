#include "core/subtree.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/subintent.h"

static const char *
parent_of(const cJSON *rec)
{
    const char *p = json_get_string(rec, "parentExecutionId");

    return p != NULL && p[0] != '\0' ? p : NULL;
}

bool
subtree_is_member(const cJSON *rec)
{
    const cJSON *e;

    if (parent_of(rec) != NULL)
        return true;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "events"))
    {
        const char *t = json_get_string(e, "type");
        if (t != NULL && strcmp(t, "SUB_INTENT") == 0)
            return true;
    }
    return false;
}

static bool
in_tree(const struct subtree *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->nodes[i].sum.id != NULL && strcmp(t->nodes[i].sum.id, id) == 0)
            return true;
    return false;
}

/* Takes rec. */
static int
add_node(struct subtree *t, cJSON *rec, long parent, int depth)
{
    struct subtree_node *n;

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct subtree_node *nn = realloc(t->nodes, cap * sizeof(*nn));
        if (nn == NULL) {
            cJSON_Delete(rec);
            return -1;
        }
        t->nodes = nn;
        t->cap = cap;
    }
    n = &t->nodes[t->n++];
    memset(n, 0, sizeof(*n));
    n->record = rec;
    record_summarize(n->record, &n->sum);
    n->parent_id = parent_of(n->record);
    n->parent = parent;
    n->depth = depth;
    if (parent >= 0)
        t->nodes[parent].n_children++;
    return 0;
}

/* NOLINTBEGIN(misc-no-recursion): bounded by the depth limit and the node cap. */
/* Depth first: the children node `at` ran, as its SUB_INTENT events name them. */
static int
add_children(struct subtree *t, subtree_load_fn load, void *ctx, size_t at, int depth)
{
    const cJSON *e;

    if (depth > SUBINTENT_MAX_DEPTH_LIMIT + 1)
        return 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(t->nodes[at].record, "events"))
    {
        const char *type = json_get_string(e, "type");
        const char *id =
            json_get_string(cJSON_GetObjectItemCaseSensitive(e, "payload"), "executionId");
        cJSON *rec;
        if (type == NULL || strcmp(type, "SUB_INTENT") != 0 || id == NULL ||
            !rec_store_id_is_valid(id) || in_tree(t, id) || t->n >= SUBTREE_MAX_NODES)
            continue;
        rec = load(ctx, id, NULL);
        if (rec == NULL)
            continue; /* removed since: not in the tree */
        if (add_node(t, rec, (long)at, depth) != 0 ||
            add_children(t, load, ctx, t->n - 1, depth + 1) != 0)
            return -1;
    }
    return 0;
}
/* NOLINTEND(misc-no-recursion) */

struct subtree *
subtree_build(subtree_load_fn load, void *ctx, const char *id, struct intentus_err *err)
{
    struct subtree *t;
    cJSON *rec = load(ctx, id, err), *up;
    char seen[SUBINTENT_MAX_DEPTH_LIMIT + 2][160];
    int n_seen = 0;

    if (rec == NULL)
        return NULL;
    /* Up to the root (bounded; a cycle of ids stops at a repeat). */
    snprintf(seen[n_seen++], sizeof(seen[0]), "%s", id);
    while (n_seen < (int)(sizeof(seen) / sizeof(seen[0]))) {
        const char *pid = parent_of(rec);
        bool again = false;
        if (pid == NULL || !rec_store_id_is_valid(pid))
            break;
        for (int i = 0; i < n_seen; i++)
            again = again || strcmp(seen[i], pid) == 0;
        if (again || (up = load(ctx, pid, NULL)) == NULL)
            break; /* the parent is gone (retention): the oldest we have is the root */
        snprintf(seen[n_seen++], sizeof(seen[0]), "%s", pid);
        cJSON_Delete(rec);
        rec = up;
    }
    t = calloc(1, sizeof(*t));
    if (t == NULL) {
        cJSON_Delete(rec);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (add_node(t, rec, -1, 0) != 0 || add_children(t, load, ctx, 0, 1) != 0) {
        subtree_free(t);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    t->t0_us = INT64_MAX;
    t->t1_us = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->nodes[i].sum.id != NULL && strcmp(t->nodes[i].sum.id, id) == 0)
            t->focus = i;
        if (subtree_start_us(t, i) < t->t0_us)
            t->t0_us = subtree_start_us(t, i);
        if (subtree_end_us(t, i) > t->t1_us)
            t->t1_us = subtree_end_us(t, i);
    }
    return t;
}

static cJSON *
store_load(void *ctx, const char *id, struct intentus_err *err)
{
    return rec_store_load(ctx, id, err);
}

struct subtree *
subtree_load(struct rec_store *rs, const char *id, struct intentus_err *err)
{
    return subtree_build(store_load, rs, id, err);
}

void
subtree_free(struct subtree *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        cJSON_Delete(t->nodes[i].record);
    free(t->nodes);
    free(t);
}

int64_t
subtree_start_us(const struct subtree *t, size_t i)
{
    return t->nodes[i].sum.created_us;
}

int64_t
subtree_end_us(const struct subtree *t, size_t i)
{
    const struct record_summary *s = &t->nodes[i].sum;

    return s->created_us + (s->duration_us > 0 ? s->duration_us : 0);
}

cJSON *
subtree_json(const struct subtree *t)
{
    cJSON *a = cJSON_CreateArray();

    for (size_t i = 0; a != NULL && i < t->n; i++) {
        const struct subtree_node *n = &t->nodes[i];
        cJSON *o = cJSON_CreateObject();
        bool ok = o != NULL && cJSON_AddItemToArray(a, o);
        ok = ok && cJSON_AddStringToObject(o, "executionId", n->sum.id ? n->sum.id : "") != NULL;
        ok = ok && (n->parent_id != NULL
                        ? cJSON_AddStringToObject(o, "parentExecutionId", n->parent_id) != NULL
                        : cJSON_AddNullToObject(o, "parentExecutionId") != NULL);
        ok = ok && cJSON_AddNumberToObject(o, "depth", n->depth) != NULL &&
             cJSON_AddStringToObject(o, "intent", n->sum.intent ? n->sum.intent : "") != NULL &&
             cJSON_AddStringToObject(o, "agent", n->sum.agent ? n->sum.agent : "") != NULL &&
             cJSON_AddStringToObject(o, "status", record_status_name(n->sum.status)) != NULL &&
             (n->sum.error_code != NULL
                  ? cJSON_AddStringToObject(o, "errorCode", n->sum.error_code) != NULL
                  : cJSON_AddNullToObject(o, "errorCode") != NULL) &&
             cJSON_AddNumberToObject(o, "startUs", (double)(subtree_start_us(t, i) - t->t0_us)) !=
                 NULL &&
             cJSON_AddNumberToObject(o, "durationUs", (double)n->sum.duration_us) != NULL;
        if (!ok) {
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}
