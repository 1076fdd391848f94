#include "watch/index.h"

#include <stdlib.h>
#include <string.h>

#include "core/text_hash.h"

/* One record: fixed fields, then n_steps struct index_step, then the id. */
struct entry {
    int64_t created_us;
    int64_t duration_us;
    uint32_t file_size; /* saturates at 4 GiB; records are capped far lower */
    uint32_t intent, agent, strategy, error_code, node, note;
    uint16_t n_steps, attempts, retries, events;
    uint8_t status, flags;
    struct index_step steps[];
};

#define TOMBSTONE ((struct entry *)(uintptr_t)1)

struct index {
    /* interned strings */
    char **strs;
    size_t n_strs, cap_strs; /* strs[0] is unused: sid 0 means none */
    uint32_t *str_slots;
    size_t str_slot_cap;
    size_t str_bytes;
    /* records */
    struct entry **by_time;
    size_t n, cap;
    struct entry **id_slots; /* open addressing; NULL empty, TOMBSTONE deleted */
    size_t id_cap, id_used;  /* used counts tombstones */
    index_observer_fn observer;
    void *observer_ctx;
};

static uint64_t
hash_str(const char *s)
{
    return text_hash(s);
}

static const char *
entry_id(const struct entry *e)
{
    return (const char *)&e->steps[e->n_steps];
}

struct index *
index_new(void)
{
    struct index *ix = calloc(1, sizeof(*ix));

    if (ix == NULL)
        return NULL;
    ix->cap_strs = 16;
    ix->strs = calloc(ix->cap_strs, sizeof(char *));
    ix->n_strs = 1;
    ix->str_slot_cap = 64;
    ix->str_slots = calloc(ix->str_slot_cap, sizeof(uint32_t));
    ix->id_cap = 64;
    ix->id_slots = calloc(ix->id_cap, sizeof(struct entry *));
    if (ix->strs == NULL || ix->str_slots == NULL || ix->id_slots == NULL) {
        index_free(ix);
        return NULL;
    }
    return ix;
}

void
index_free(struct index *ix)
{
    if (ix == NULL)
        return;
    for (size_t i = 0; i < ix->n; i++)
        free(ix->by_time[i]);
    free(ix->by_time);
    free(ix->id_slots);
    for (size_t i = 1; i < ix->n_strs; i++)
        free(ix->strs[i]);
    free(ix->strs);
    free(ix->str_slots);
    free(ix);
}

void
index_set_observer(struct index *ix, index_observer_fn fn, void *ctx)
{
    ix->observer = fn;
    ix->observer_ctx = ctx;
}

/* ---- interned strings ---- */

const char *
index_str(const struct index *ix, uint32_t sid)
{
    return sid != 0 && sid < ix->n_strs ? ix->strs[sid] : NULL;
}

size_t
index_str_count(const struct index *ix)
{
    return ix->n_strs - 1;
}

size_t
index_str_bytes(const struct index *ix)
{
    return ix->str_bytes + ix->cap_strs * sizeof(char *) + ix->str_slot_cap * sizeof(uint32_t);
}

uint32_t
index_str_lookup(const struct index *ix, const char *s)
{
    size_t mask = ix->str_slot_cap - 1;

    if (s == NULL)
        return 0;
    for (size_t i = hash_str(s) & mask;; i = (i + 1) & mask) {
        uint32_t sid = ix->str_slots[i];
        if (sid == 0)
            return 0;
        if (strcmp(ix->strs[sid], s) == 0)
            return sid;
    }
}

static int
str_grow(struct index *ix)
{
    size_t ncap = ix->str_slot_cap * 2, mask = ncap - 1;
    uint32_t *slots = calloc(ncap, sizeof(uint32_t));

    if (slots == NULL)
        return -1;
    for (size_t sid = 1; sid < ix->n_strs; sid++) {
        size_t i = hash_str(ix->strs[sid]) & mask;
        while (slots[i] != 0)
            i = (i + 1) & mask;
        slots[i] = (uint32_t)sid;
    }
    free(ix->str_slots);
    ix->str_slots = slots;
    ix->str_slot_cap = ncap;
    return 0;
}

/* 0 for NULL; UINT32_MAX when out of memory. */
static uint32_t
intern(struct index *ix, const char *s)
{
    uint32_t sid = index_str_lookup(ix, s);
    size_t mask, i;
    char *copy;

    if (s == NULL || sid != 0)
        return sid;
    if ((ix->n_strs + 1) * 2 > ix->str_slot_cap && str_grow(ix) != 0)
        return UINT32_MAX;
    if (ix->n_strs == ix->cap_strs) {
        char **p = realloc(ix->strs, ix->cap_strs * 2 * sizeof(char *));
        if (p == NULL)
            return UINT32_MAX;
        ix->strs = p;
        ix->cap_strs *= 2;
    }
    copy = strdup(s);
    if (copy == NULL)
        return UINT32_MAX;
    sid = (uint32_t)ix->n_strs++;
    ix->strs[sid] = copy;
    ix->str_bytes += strlen(s) + 1;
    mask = ix->str_slot_cap - 1;
    for (i = hash_str(s) & mask; ix->str_slots[i] != 0; i = (i + 1) & mask)
        ;
    ix->str_slots[i] = sid;
    return sid;
}

/* ---- id hash ---- */

static size_t
id_slot(const struct index *ix, const char *id, bool for_insert)
{
    size_t mask = ix->id_cap - 1, first_free = SIZE_MAX;

    for (size_t i = hash_str(id) & mask;; i = (i + 1) & mask) {
        struct entry *e = ix->id_slots[i];
        if (e == NULL)
            return for_insert && first_free != SIZE_MAX ? first_free : i;
        if (e == TOMBSTONE) {
            if (first_free == SIZE_MAX)
                first_free = i;
            continue;
        }
        if (strcmp(entry_id(e), id) == 0)
            return i;
    }
}

static int
id_rehash(struct index *ix, size_t ncap)
{
    struct entry **slots = calloc(ncap, sizeof(*slots));
    size_t mask = ncap - 1;

    if (slots == NULL)
        return -1;
    for (size_t k = 0; k < ix->n; k++) {
        size_t i = hash_str(entry_id(ix->by_time[k])) & mask;
        while (slots[i] != NULL)
            i = (i + 1) & mask;
        slots[i] = ix->by_time[k];
    }
    free(ix->id_slots);
    ix->id_slots = slots;
    ix->id_cap = ncap;
    ix->id_used = ix->n;
    return 0;
}

static struct entry *
find_entry(const struct index *ix, const char *id)
{
    struct entry *e = ix->id_slots[id_slot(ix, id, false)];

    return e == TOMBSTONE ? NULL : e;
}

/* ---- time order ---- */

static int
cmp_key(int64_t t, const char *id, const struct entry *e)
{
    if (t != e->created_us)
        return t < e->created_us ? -1 : 1;
    return strcmp(id, entry_id(e));
}

/* First position whose key is >= (t, id). */
static size_t
lower_bound(const struct index *ix, int64_t t, const char *id)
{
    size_t lo = 0, hi = ix->n;

    if (ix->n > 0 && cmp_key(t, id, ix->by_time[ix->n - 1]) > 0)
        return ix->n; /* the common case: the newest record */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_key(t, id, ix->by_time[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void
fill_view(const struct index *ix, const struct entry *e, struct index_view *v)
{
    v->id = entry_id(e);
    v->created_us = e->created_us;
    v->intent = index_str(ix, e->intent);
    v->agent = index_str(ix, e->agent);
    v->strategy = index_str(ix, e->strategy);
    v->error_code = index_str(ix, e->error_code);
    v->node = index_str(ix, e->node);
    v->note = index_str(ix, e->note);
    v->intent_sid = e->intent;
    v->agent_sid = e->agent;
    v->error_sid = e->error_code;
    v->status = (enum record_status)e->status;
    v->duration_us = e->duration_us;
    v->flags = e->flags;
    v->attempts = e->attempts;
    v->retries = e->retries;
    v->events = e->events;
    v->file_size = e->file_size;
    v->steps = e->steps;
    v->n_steps = e->n_steps;
}

static void
notify(struct index *ix, const struct entry *e, int delta)
{
    struct index_view v;

    if (ix->observer == NULL)
        return;
    fill_view(ix, e, &v);
    ix->observer(ix->observer_ctx, ix, &v, delta);
}

/* Unlink e from both structures and free it. */
static void
drop_entry(struct index *ix, struct entry *e)
{
    size_t pos = lower_bound(ix, e->created_us, entry_id(e));

    notify(ix, e, -1);
    ix->id_slots[id_slot(ix, entry_id(e), false)] = TOMBSTONE;
    if (pos < ix->n && ix->by_time[pos] == e) {
        memmove(&ix->by_time[pos], &ix->by_time[pos + 1], (ix->n - pos - 1) * sizeof(e));
        ix->n--;
    }
    free(e);
}

static uint16_t
clamp16(long v)
{
    return v < 0 ? 0 : v > UINT16_MAX ? UINT16_MAX : (uint16_t)v;
}

static struct entry *
make_entry(struct index *ix, const struct digest *d)
{
    size_t n_steps = d->n_steps > UINT16_MAX ? UINT16_MAX : d->n_steps;
    size_t id_len = strlen(d->id) + 1;
    struct entry *e = malloc(sizeof(*e) + n_steps * sizeof(struct index_step) + id_len);
    uint32_t bad = 0;

    if (e == NULL)
        return NULL;
    e->created_us = d->created_us;
    e->duration_us = d->duration_us;
    e->file_size = d->file_size > UINT32_MAX ? UINT32_MAX : (uint32_t)d->file_size;
    bad |= (e->intent = intern(ix, d->intent)) == UINT32_MAX;
    bad |= (e->agent = intern(ix, d->agent)) == UINT32_MAX;
    bad |= (e->strategy = intern(ix, d->strategy)) == UINT32_MAX;
    bad |= (e->error_code = intern(ix, d->error_code)) == UINT32_MAX;
    bad |= (e->node = intern(ix, d->node)) == UINT32_MAX;
    bad |= (e->note = intern(ix, d->note)) == UINT32_MAX;
    e->n_steps = (uint16_t)n_steps;
    e->attempts = clamp16(d->attempts);
    e->retries = clamp16(d->retries);
    e->events = clamp16(d->events);
    e->status = (uint8_t)d->status;
    e->flags = (uint8_t)d->flags;
    /* cppcheck-suppress knownConditionTrueFalse ; n_steps is d->n_steps clamped, not 0 */
    for (size_t i = 0; i < n_steps; i++) {
        const struct digest_step *s = &d->steps[i];
        struct index_step *t = &e->steps[i];
        bad |= (t->agent = intern(ix, s->agent)) == UINT32_MAX;
        bad |= (t->code = intern(ix, s->code)) == UINT32_MAX;
        t->latency_us = s->latency_us < 0           ? -1
                        : s->latency_us > INT32_MAX ? INT32_MAX
                                                    : (int32_t)s->latency_us;
        t->kind = s->kind;
        t->is_retry = s->is_retry;
        t->tokens = s->tokens <= 0 ? 0 : s->tokens > UINT32_MAX ? UINT32_MAX : (uint32_t)s->tokens;
    }
    memcpy((char *)&e->steps[n_steps], d->id, id_len);
    if (bad) {
        free(e);
        return NULL;
    }
    return e;
}

int
index_upsert(struct index *ix, const struct digest *d, struct intentus_err *err)
{
    struct entry *e, *old;
    size_t pos;

    if (d == NULL || d->id == NULL) {
        err_set(err, IERR_INVALID, "index: digest without an id");
        return -1;
    }
    if ((ix->id_used + 1) * 2 > ix->id_cap &&
        id_rehash(ix, (ix->n + 1) * 4 > ix->id_cap ? ix->id_cap * 2 : ix->id_cap) != 0)
        goto nomem;
    if (ix->n == ix->cap) {
        size_t ncap = ix->cap ? ix->cap * 2 : 256;
        struct entry **p = realloc(ix->by_time, ncap * sizeof(*p));
        if (p == NULL)
            goto nomem;
        ix->by_time = p;
        ix->cap = ncap;
    }
    e = make_entry(ix, d);
    if (e == NULL)
        goto nomem;
    old = find_entry(ix, d->id);
    if (old != NULL)
        drop_entry(ix, old);
    pos = lower_bound(ix, e->created_us, entry_id(e));
    memmove(&ix->by_time[pos + 1], &ix->by_time[pos], (ix->n - pos) * sizeof(e));
    ix->by_time[pos] = e;
    ix->n++;
    {
        size_t slot = id_slot(ix, d->id, true);
        if (ix->id_slots[slot] == NULL)
            ix->id_used++;
        ix->id_slots[slot] = e;
    }
    notify(ix, e, +1);
    return 0;
nomem:
    err_set(err, IERR_NOMEM, "index: out of memory adding %s", d->id);
    return -1;
}

int
index_remove(struct index *ix, const char *id)
{
    struct entry *e = id != NULL ? find_entry(ix, id) : NULL;

    if (e == NULL)
        return 0;
    drop_entry(ix, e);
    return 1;
}

void
index_clear(struct index *ix)
{
    while (ix->n > 0)
        drop_entry(ix, ix->by_time[ix->n - 1]);
    memset(ix->id_slots, 0, ix->id_cap * sizeof(*ix->id_slots));
    ix->id_used = 0;
}

size_t
index_size(const struct index *ix)
{
    return ix->n;
}

void
index_get(const struct index *ix, size_t pos, struct index_view *out)
{
    fill_view(ix, ix->by_time[pos], out);
}

int
index_find(const struct index *ix, const char *id, struct index_view *out)
{
    const struct entry *e = id != NULL ? find_entry(ix, id) : NULL;

    if (e == NULL)
        return -1;
    fill_view(ix, e, out);
    return 0;
}

/* ---- queries ---- */

bool
index_status_is_valid(const char *status)
{
    return status != NULL && (strcmp(status, "ok") == 0 || strcmp(status, "error") == 0 ||
                              strcmp(status, "incomplete") == 0 || strcmp(status, "corrupt") == 0);
}

/* A filter with its strings resolved to interned ids once. */
struct compiled {
    const struct index_filter *f;
    uint32_t intent, agent, error_code, failed_agent;
    int status; /* -1 any, RECORD_* or 3 = corrupt */
    bool never; /* a filter string names nothing indexed */
};

static void
compile(const struct index *ix, const struct index_filter *f, struct compiled *c)
{
    memset(c, 0, sizeof(*c));
    c->f = f;
    c->status = -1;
    if (f == NULL)
        return;
    c->intent = index_str_lookup(ix, f->intent);
    c->agent = index_str_lookup(ix, f->agent);
    c->error_code = index_str_lookup(ix, f->error_code);
    c->failed_agent = index_str_lookup(ix, f->failed_agent);
    c->never = (f->intent != NULL && c->intent == 0) || (f->agent != NULL && c->agent == 0) ||
               (f->error_code != NULL && c->error_code == 0) ||
               (f->failed_agent != NULL && c->failed_agent == 0);
    if (f->status != NULL) {
        c->status = strcmp(f->status, "ok") == 0        ? RECORD_OK
                    : strcmp(f->status, "error") == 0   ? RECORD_ERROR
                    : strcmp(f->status, "corrupt") == 0 ? 3
                                                        : RECORD_INCOMPLETE;
    }
}

/* A failed attempt in e by agent (0: any) with code (0: any). */
static bool
has_failed_step(const struct entry *e, uint32_t agent, uint32_t code)
{
    for (size_t i = 0; i < e->n_steps; i++) {
        const struct index_step *s = &e->steps[i];
        if (s->kind == DIGEST_STEP_FAIL && (agent == 0 || s->agent == agent) &&
            (code == 0 || s->code == code))
            return true;
    }
    return false;
}

static bool
matches(const struct index *ix, const struct compiled *c, const struct entry *e)
{
    const struct index_filter *f = c->f;

    if (f == NULL)
        return true;
    if (c->intent != 0 && e->intent != c->intent)
        return false;
    if (c->error_code != 0 && e->error_code != c->error_code &&
        !has_failed_step(e, 0, c->error_code))
        return false;
    if (c->failed_agent != 0 && !(e->status == RECORD_ERROR && e->agent == c->failed_agent) &&
        !has_failed_step(e, c->failed_agent, 0))
        return false;
    if (c->status >= 0) {
        bool corrupt = (e->flags & DIGEST_CORRUPT) != 0;
        if (c->status == 3 ? !corrupt : corrupt || e->status != c->status)
            return false;
    }
    if (f->since_us != 0 && e->created_us < f->since_us)
        return false;
    if (f->until_us != 0 && e->created_us >= f->until_us)
        return false;
    if (c->agent != 0 && e->agent != c->agent) {
        bool any = false;
        for (size_t i = 0; i < e->n_steps && !any; i++)
            any = e->steps[i].agent == c->agent;
        if (!any)
            return false;
    }
    if (f->text != NULL && f->text[0] != '\0') {
        const char *intent = index_str(ix, e->intent);
        if (strcasestr(entry_id(e), f->text) == NULL &&
            (intent == NULL || strcasestr(intent, f->text) == NULL))
            return false;
    }
    return true;
}

size_t
index_query(const struct index *ix, const struct index_filter *f, bool newest_first, size_t limit,
            index_visit_fn fn, void *ctx)
{
    struct compiled c;
    struct index_view v;
    size_t visited = 0;

    compile(ix, f, &c);
    if (c.never)
        return 0;
    for (size_t k = 0; k < ix->n; k++) {
        const struct entry *e = ix->by_time[newest_first ? ix->n - 1 - k : k];
        if (!matches(ix, &c, e))
            continue;
        visited++;
        fill_view(ix, e, &v);
        if (fn != NULL && fn(ctx, &v) != 0)
            break;
        if (limit != 0 && visited >= limit)
            break;
    }
    return visited;
}
