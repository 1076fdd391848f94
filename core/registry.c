#include "core/registry.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"

struct registry {
    struct agent **agents; /* kept sorted by registry_compare */
    size_t n, cap;
};

struct registry *
registry_new(void)
{
    return calloc(1, sizeof(struct registry));
}

void
registry_free(struct registry *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        agent_free(r->agents[i]);
    free(r->agents);
    free(r);
}

int
registry_compare(const struct agent *a, const struct agent *b)
{
    int ra = agent_is_remote(a), rb = agent_is_remote(b);

    if (ra != rb)
        return ra - rb;
    if (a->node_priority != b->node_priority)
        return a->node_priority < b->node_priority ? -1 : 1;
    /* strcmp on UTF-8 bytes is code point order. */
    return strcmp(a->name, b->name);
}

int
registry_add(struct registry *r, struct agent *a, struct intentus_err *err)
{
    size_t pos;

    if (registry_find(r, a->name) != NULL) {
        err_set(err, IERR_INVALID, "Agent '%s' is already registered", a->name);
        return -1;
    }
    if (a->n_caps == 0) {
        err_set(err, IERR_INVALID, "Agent '%s' has no capabilities", a->name);
        return -1;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        struct agent **p = realloc(r->agents, cap * sizeof(*p));
        if (p == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        r->agents = p;
        r->cap = cap;
    }
    /* Insertion keeps the array in routing order, so lookups never sort. */
    for (pos = r->n; pos > 0 && registry_compare(r->agents[pos - 1], a) > 0; pos--)
        r->agents[pos] = r->agents[pos - 1];
    r->agents[pos] = a;
    r->n++;
    return 0;
}

size_t
registry_count(const struct registry *r)
{
    return r->n;
}

struct agent *
registry_at(const struct registry *r, size_t i)
{
    return i < r->n ? r->agents[i] : NULL;
}

struct agent *
registry_find(const struct registry *r, const char *name)
{
    for (size_t i = 0; name != NULL && i < r->n; i++) {
        if (strcmp(r->agents[i]->name, name) == 0)
            return r->agents[i];
    }
    return NULL;
}

size_t
registry_candidates(const struct registry *r, const char *intent, const char *version,
                    struct agent **out)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++) {
        if (agent_handles(r->agents[i], intent, version))
            out[n++] = r->agents[i];
    }
    return n;
}

static int
by_name(const void *x, const void *y)
{
    const struct agent *a = *(const struct agent *const *)x;
    const struct agent *b = *(const struct agent *const *)y;

    return strcmp(a->name, b->name);
}

int
registry_config_hash(const struct registry *r, bool require_determinism, char hex[65],
                     struct intentus_err *err)
{
    struct agent **sorted = NULL;
    cJSON *root = cJSON_CreateObject(), *agents;
    int rc = -1;

    if (root == NULL)
        goto nomem;
    agents = cJSON_AddArrayToObject(root, "agents");
    if (agents == NULL || (r->n > 0 && (sorted = malloc(r->n * sizeof(*sorted))) == NULL))
        goto nomem;
    if (r->n > 0)
        memcpy(sorted, r->agents, r->n * sizeof(*sorted));
    if (r->n > 1)
        qsort(sorted, r->n, sizeof(*sorted), by_name);
    for (size_t i = 0; i < r->n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (o == NULL || !cJSON_AddItemToArray(agents, o)) {
            cJSON_Delete(o);
            goto nomem;
        }
        if (cJSON_AddStringToObject(o, "name", sorted[i]->name) == NULL ||
            cJSON_AddNumberToObject(o, "priority", (double)sorted[i]->node_priority) == NULL ||
            cJSON_AddBoolToObject(o, "is_remote", agent_is_remote(sorted[i])) == NULL)
            goto nomem;
    }
    if (cJSON_AddBoolToObject(root, "require_determinism", require_determinism) == NULL ||
        cJSON_AddStringToObject(root, "version", "1.0") == NULL)
        goto nomem;
    rc = json_canonical_sha256(root, hex, err);
    goto out;
nomem:
    err_set(err, IERR_NOMEM, NULL);
out:
    free(sorted);
    cJSON_Delete(root);
    return rc;
}
