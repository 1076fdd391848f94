#include "core/registry.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/text_hash.h"

struct registry {
    struct agent **agents; /* kept sorted by registry_compare */
    size_t n, cap;
    /* Names -> agents: open addressing, linear probing, a power of two at
     * most half full, so a lookup (and the duplicate check of every add)
     * costs O(1) and loading n agents is not quadratic. */
    struct agent **slots;
    size_t n_slots;
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
    free(r->slots);
    free(r);
}

static size_t
name_hash(const char *s)
{
    uint64_t h = text_hash(s);

    return (size_t)(h ^ (h >> 32));
}

/* The slot holding name, or the empty slot where it would go. */
static struct agent **
slot_of(struct agent **slots, size_t n_slots, const char *name)
{
    size_t i = name_hash(name) & (n_slots - 1);

    while (slots[i] != NULL && strcmp(slots[i]->name, name) != 0)
        i = (i + 1) & (n_slots - 1);
    return &slots[i];
}

/* A table for `want` names filled with the registry's agents (the old one
 * is dropped: also how a failed batch forgets the names it had added). */
static int
rehash(struct registry *r, size_t want)
{
    size_t n_slots = 16;
    struct agent **slots;

    while (n_slots < 2 * want)
        n_slots *= 2;
    slots = calloc(n_slots, sizeof(*slots));
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < r->n; i++)
        *slot_of(slots, n_slots, r->agents[i]->name) = r->agents[i];
    free(r->slots);
    r->slots = slots;
    r->n_slots = n_slots;
    return 0;
}

static int
reserve(struct registry *r, size_t more)
{
    size_t cap = r->cap ? r->cap : 8;
    struct agent **p;

    while (cap < r->n + more)
        cap *= 2;
    if (cap != r->cap) {
        p = realloc(r->agents, cap * sizeof(*p));
        if (p == NULL)
            return -1;
        r->agents = p;
        r->cap = cap;
    }
    if (2 * (r->n + more) > r->n_slots && rehash(r, r->n + more) != 0)
        return -1;
    return 0;
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

/* The checks registry_add makes, the name table already reserved. */
static int
check_new(struct registry *r, const struct agent *a, struct intentus_err *err)
{
    if (*slot_of(r->slots, r->n_slots, a->name) != NULL) {
        err_set(err, IERR_INVALID, "Agent '%s' is already registered", a->name);
        return -1;
    }
    if (a->n_caps == 0) {
        err_set(err, IERR_INVALID, "Agent '%s' has no capabilities", a->name);
        return -1;
    }
    return 0;
}

int
registry_add(struct registry *r, struct agent *a, struct intentus_err *err)
{
    size_t hi;

    if (reserve(r, 1) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    if (check_new(r, a, err) != 0)
        return -1;
    /* The array stays in routing order, so lookups never sort: the first
     * position whose agent sorts after a (appending is the common case). */
    hi = r->n;
    if (r->n > 0 && registry_compare(r->agents[r->n - 1], a) > 0) {
        size_t lo = 0;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (registry_compare(r->agents[mid], a) > 0)
                hi = mid;
            else
                lo = mid + 1;
        }
        memmove(&r->agents[lo + 1], &r->agents[lo], (r->n - lo) * sizeof(*r->agents));
    }
    r->agents[hi] = a;
    *slot_of(r->slots, r->n_slots, a->name) = a;
    r->n++;
    return 0;
}

static int
by_routing_order(const void *x, const void *y)
{
    return registry_compare(*(const struct agent *const *)x, *(const struct agent *const *)y);
}

int
registry_add_all(struct registry *r, struct agent **agents, size_t n, size_t *bad,
                 struct intentus_err *err)
{
    struct agent **merged = NULL, **batch = NULL;
    size_t i, j, k;

    if (n == 0)
        return 0;
    if (reserve(r, n) != 0 || (batch = malloc(n * sizeof(*batch))) == NULL ||
        (merged = malloc((r->n + n) * sizeof(*merged))) == NULL)
        goto nomem;
    for (i = 0; i < n; i++) {
        if (check_new(r, agents[i], err) != 0) {
            if (bad != NULL)
                *bad = i;
            /* Forget the names of this batch added so far. */
            if (rehash(r, r->n + n) != 0)
                goto nomem;
            free(batch);
            free(merged);
            return -1;
        }
        *slot_of(r->slots, r->n_slots, agents[i]->name) = agents[i];
    }
    memcpy(batch, agents, n * sizeof(*batch));
    qsort(batch, n, sizeof(*batch), by_routing_order);
    /* Merge two sorted runs; names are unique, so the order is total. */
    for (i = j = k = 0; i < r->n || j < n;) {
        if (j == n || (i < r->n && registry_compare(r->agents[i], batch[j]) < 0))
            merged[k++] = r->agents[i++];
        else
            merged[k++] = batch[j++];
    }
    memcpy(r->agents, merged, k * sizeof(*merged));
    r->n = k;
    free(batch);
    free(merged);
    return 0;
nomem:
    free(batch);
    free(merged);
    err_set(err, IERR_NOMEM, NULL);
    return -1;
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
    if (name == NULL || r->n_slots == 0)
        return NULL;
    return *slot_of(r->slots, r->n_slots, name);
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
