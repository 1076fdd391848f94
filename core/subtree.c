#include "core/subtree.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/subintent.h"

/* Records read while looking, each used at most once. */
struct pool {
    cJSON **recs;
    bool *used;
    size_t n, cap;
};

static int
pool_add(struct pool *p, cJSON *rec)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        cJSON **r = realloc(p->recs, cap * sizeof(*r));
        bool *u;
        if (r == NULL)
            return -1;
        p->recs = r;
        u = realloc(p->used, cap * sizeof(*u));
        if (u == NULL)
            return -1;
        p->used = u;
        p->cap = cap;
    }
    p->recs[p->n] = rec;
    p->used[p->n++] = false;
    return 0;
}

static void
pool_free(struct pool *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (!p->used[i])
            cJSON_Delete(p->recs[i]);
    free(p->recs);
    free(p->used);
}

static const char *
parent_of(const cJSON *rec)
{
    return json_get_string(rec, "parentExecutionId");
}

static const char *
trace_of(const cJSON *rec)
{
    return json_get_string(cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(rec, "envelope"), "metadata"),
                           "traceId");
}

static long
pool_find(const struct pool *p, const char *id)
{
    for (size_t i = 0; i < p->n; i++) {
        const char *rid = record_id(p->recs[i]);
        if (rid != NULL && strcmp(rid, id) == 0)
            return (long)i;
    }
    return -1;
}

static int
add_node(struct subtree *t, struct pool *p, size_t i, long parent, int depth)
{
    struct subtree_node *n;

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct subtree_node *nn = realloc(t->nodes, cap * sizeof(*nn));
        if (nn == NULL)
            return -1;
        t->nodes = nn;
        t->cap = cap;
    }
    n = &t->nodes[t->n++];
    memset(n, 0, sizeof(*n));
    n->record = p->recs[i];
    p->used[i] = true;
    record_summarize(n->record, &n->sum);
    n->parent_id = parent_of(n->record);
    n->parent = parent;
    n->depth = depth;
    if (parent >= 0)
        t->nodes[parent].n_children++;
    return 0;
}

/* NOLINTBEGIN(misc-no-recursion): bounded by the depth limit. */
/* Depth first: the children of node `at` (records whose parent is its id),
 * in the pool's order (ids sorted: UUIDv7 ids by time). */
static int
add_children(struct subtree *t, struct pool *p, size_t at, int depth)
{
    const char *id = t->nodes[at].sum.id;

    if (id == NULL || depth > SUBINTENT_MAX_DEPTH_LIMIT + 1)
        return 0;
    for (size_t i = 0; i < p->n; i++) {
        const char *pid = parent_of(p->recs[i]);
        if (p->used[i] || pid == NULL || strcmp(pid, id) != 0)
            continue;
        if (add_node(t, p, i, (long)at, depth) != 0 || add_children(t, p, t->n - 1, depth + 1) != 0)
            return -1;
    }
    return 0;
}
/* NOLINTEND(misc-no-recursion) */

/* Every record of the trace that names a parent, read from the store. */
static int
gather(struct rec_store *rs, struct pool *p, const char *trace, struct intentus_err *err)
{
    struct rec_ids ids = { 0 };

    if (rec_store_list(rs, &ids, err) != 0)
        return -1;
    for (size_t i = 0; i < ids.n; i++) {
        size_t len;
        char *text;
        cJSON *rec;
        if (pool_find(p, ids.ids[i]) >= 0)
            continue;
        text = rec_store_read(rs, ids.ids[i], &len, NULL);
        /* Cheap test first: most records are of other traces. */
        if (text == NULL || strstr(text, trace) == NULL ||
            strstr(text, "parentExecutionId") == NULL) {
            free(text);
            continue;
        }
        rec = record_parse(text, len, NULL);
        free(text);
        if (rec == NULL)
            continue;
        if (parent_of(rec) == NULL || trace_of(rec) == NULL || strcmp(trace_of(rec), trace) != 0 ||
            pool_add(p, rec) != 0) {
            cJSON_Delete(rec);
            continue;
        }
    }
    rec_store_ids_free(&ids);
    return 0;
}

struct subtree *
subtree_load(struct rec_store *rs, const char *id, struct intentus_err *err)
{
    struct pool p = { 0 };
    struct subtree *t = NULL;
    cJSON *rec = rec_store_load(rs, id, err);
    long root;
    const char *trace;

    if (rec == NULL)
        return NULL;
    if (pool_add(&p, rec) != 0) {
        cJSON_Delete(rec);
        goto nomem;
    }
    /* Up to the root (bounded, and a cycle of ids stops at a repeat). */
    root = 0;
    for (int up = 0; up <= SUBINTENT_MAX_DEPTH_LIMIT; up++) {
        const char *pid = parent_of(p.recs[root]);
        cJSON *pr;
        if (pid == NULL || pid[0] == '\0' || !rec_store_id_is_valid(pid) || pool_find(&p, pid) >= 0)
            break;
        pr = rec_store_load(rs, pid, NULL);
        if (pr == NULL)
            break; /* the parent is gone (gc): the oldest we have is the root */
        if (pool_add(&p, pr) != 0) {
            cJSON_Delete(pr);
            goto nomem;
        }
        root = (long)p.n - 1;
    }
    trace = trace_of(p.recs[root]);
    if (trace != NULL && trace[0] != '\0' && gather(rs, &p, trace, err) != 0)
        goto fail;
    t = calloc(1, sizeof(*t));
    if (t == NULL || add_node(t, &p, (size_t)root, -1, 0) != 0 || add_children(t, &p, 0, 1) != 0)
        goto nomem;
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
    pool_free(&p);
    return t;
nomem:
    err_set(err, IERR_NOMEM, NULL);
fail:
    pool_free(&p);
    subtree_free(t);
    return NULL;
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
