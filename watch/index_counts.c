#include "watch/index_counts.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/record.h"
#include "watch/agg.h"
#include "watch/digest.h"

struct delta {
    int kind, what;
    int64_t sub, n;
    char *name, *code;
};

struct index_counts {
    struct delta *v;
    size_t n, cap;
    size_t *slots; /* delta index + 1, 0 empty */
    size_t n_slots;
};

static uint64_t
mix(uint64_t h, const char *s)
{
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL;
}

static uint64_t
key_hash(int kind, int what, int64_t sub, const char *name, const char *code)
{
    uint64_t h = 1469598103934665603ULL;

    h = (h ^ (uint64_t)kind) * 1099511628211ULL;
    h = (h ^ (uint64_t)what) * 1099511628211ULL;
    h = (h ^ (uint64_t)sub) * 1099511628211ULL;
    return mix(mix(h, name), code);
}

static int
grow(struct index_counts *c)
{
    size_t n = c->n_slots ? c->n_slots * 2 : 256;
    size_t *slots = calloc(n, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        const struct delta *d = &c->v[i];
        size_t k = key_hash(d->kind, d->what, d->sub, d->name, d->code) & (n - 1);
        while (slots[k] != 0)
            k = (k + 1) & (n - 1);
        slots[k] = i + 1;
    }
    free(c->slots);
    c->slots = slots;
    c->n_slots = n;
    return 0;
}

static int
add(struct index_counts *c, int kind, const char *name, int what, int64_t sub, const char *code,
    int64_t n)
{
    size_t k;
    struct delta *d;

    if (n == 0)
        return 0;
    if (code == NULL)
        code = "";
    if ((c->n + 1) * 2 > c->n_slots && grow(c) != 0)
        return -1;
    for (k = key_hash(kind, what, sub, name, code) & (c->n_slots - 1); c->slots[k] != 0;
         k = (k + 1) & (c->n_slots - 1)) {
        d = &c->v[c->slots[k] - 1];
        if (d->kind == kind && d->what == what && d->sub == sub && strcmp(d->name, name) == 0 &&
            strcmp(d->code, code) == 0) {
            d->n += n;
            return 0;
        }
    }
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 128;
        struct delta *p = realloc(c->v, ncap * sizeof(*p));
        if (p == NULL)
            return -1;
        c->v = p;
        c->cap = ncap;
    }
    d = &c->v[c->n];
    d->kind = kind;
    d->what = what;
    d->sub = sub;
    d->n = n;
    d->name = strdup(name);
    d->code = strdup(code);
    if (d->name == NULL || d->code == NULL) {
        free(d->name);
        free(d->code);
        return -1;
    }
    c->slots[k] = ++c->n;
    return 0;
}

struct index_counts *
index_counts_new(void)
{
    return calloc(1, sizeof(struct index_counts));
}

static void
reset(struct index_counts *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].name);
        free(c->v[i].code);
    }
    c->n = 0;
    if (c->slots != NULL)
        memset(c->slots, 0, c->n_slots * sizeof(*c->slots));
}

void
index_counts_free(struct index_counts *c)
{
    if (c == NULL)
        return;
    reset(c);
    free(c->v);
    free(c->slots);
    free(c);
}

/* As index_stats.c's pass over the record rows counts one. */
int
index_counts_record(struct index_counts *c, const char *intent, unsigned flags, int status,
                    const char *error_code, int64_t duration_us, int64_t retries, int sign)
{
    int rc = add(c, IC_ALL, "", IC_RECORDS, 0, NULL, sign);

    if (flags & DIGEST_CORRUPT)
        return rc | add(c, IC_ALL, "", IC_CORRUPT, 0, NULL, sign);
    if (flags & DIGEST_NO_TIMING)
        rc |= add(c, IC_ALL, "", IC_NO_TIMING, 0, NULL, sign);
    if (intent == NULL)
        return rc;
    rc |= add(c, IC_INTENT, intent, IC_CALLS, 0, NULL, sign);
    rc |= add(c, IC_INTENT, intent, IC_RETRIES, 0, NULL, sign * retries);
    if (status == RECORD_OK) {
        rc |= add(c, IC_INTENT, intent, IC_OK, 0, NULL, sign);
    } else if (status == RECORD_ERROR) {
        rc |= add(c, IC_INTENT, intent, IC_FAILED, 0, NULL, sign);
        rc |= add(c, IC_INTENT, intent, error_code ? IC_CODE : IC_NULL_CODE, 0, error_code, sign);
    } else {
        rc |= add(c, IC_INTENT, intent, IC_INCOMPLETE, 0, NULL, sign);
    }
    if (!(flags & DIGEST_NO_TIMING) && duration_us >= 0)
        rc |= add(c, IC_INTENT, intent, IC_HIST, (int64_t)agg_bucket_of(duration_us), NULL, sign);
    return rc;
}

/* As index_stats.c's pass over the attempt rows counts one. */
int
index_counts_step(struct index_counts *c, const char *agent, int kind, int is_retry,
                  const char *code, int64_t latency_us, int64_t tokens, int sign)
{
    int rc = 0;

    if (agent == NULL)
        return 0;
    if (kind == DIGEST_STEP_OK || kind == DIGEST_STEP_FAIL) {
        rc |= add(c, IC_AGENT, agent, IC_CALLS, 0, NULL, sign);
        if (is_retry)
            rc |= add(c, IC_AGENT, agent, IC_RETRIES, 0, NULL, sign);
        if (kind == DIGEST_STEP_OK) {
            rc |= add(c, IC_AGENT, agent, IC_OK, 0, NULL, sign);
        } else {
            rc |= add(c, IC_AGENT, agent, IC_FAILED, 0, NULL, sign);
            rc |= add(c, IC_AGENT, agent, code ? IC_CODE : IC_NULL_CODE, 0, code, sign);
        }
        /* as the in-memory index stores it: int32, saturated */
        if (latency_us >= 0)
            rc |= add(c, IC_AGENT, agent, IC_HIST,
                      (int64_t)agg_bucket_of(latency_us > INT32_MAX ? INT32_MAX : latency_us), NULL,
                      sign);
    } else if (kind == DIGEST_STEP_CIRCUIT) {
        rc |= add(c, IC_AGENT, agent, IC_CIRCUIT, 0, NULL, sign);
    } else if (kind == DIGEST_STEP_MODEL) {
        rc |= add(c, IC_AGENT, agent, IC_MODEL_CALLS, 0, NULL, sign);
        /* as the in-memory index stores it: uint32, saturated */
        rc |= add(c, IC_AGENT, agent, IC_MODEL_TOKENS, 0, NULL,
                  sign * (tokens > UINT32_MAX ? (int64_t)UINT32_MAX : tokens));
        if (latency_us >= 0) {
            rc |= add(c, IC_AGENT, agent, IC_MODEL_TIMED, 0, NULL, sign);
            rc |= add(c, IC_AGENT, agent, IC_MODEL_LATENCY, 0, NULL,
                      sign * (latency_us > INT32_MAX ? (int64_t)INT32_MAX : latency_us));
        }
    } else {
        rc |= add(c, IC_AGENT, agent, IC_SKIPPED, 0, NULL, sign);
    }
    return rc;
}

int
index_counts_flush(struct index_counts *c, sqlite3 *h, const char *table)
{
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_OK;
    bool any = false;
    char sql[256];

    if (c->n == 0)
        return SQLITE_OK;
    if (table == NULL)
        table = "counts";
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s(kind, name, what, sub, code, n) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
             " ON CONFLICT(kind, name, what, sub, code) DO UPDATE SET n = n + ?6",
             table);
    rc = sqlite3_prepare_v2(h, sql, -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < c->n; i++) {
        const struct delta *d = &c->v[i];
        if (d->n == 0)
            continue;
        any = true;
        sqlite3_bind_int(st, 1, d->kind);
        sqlite3_bind_text(st, 2, d->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, d->what);
        sqlite3_bind_int64(st, 4, d->sub);
        sqlite3_bind_text(st, 5, d->code, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, d->n);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK && any) {
        snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE n = 0", table);
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        reset(c);
    return rc;
}
