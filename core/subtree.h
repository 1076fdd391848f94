/* The tree of an execution and its sub-intents (core/subintent.h), read
 * from a record store: the root found by following parentExecutionId up,
 * every descendant by its parentExecutionId (records of the same traceId). */
#ifndef INTENTUS_CORE_SUBTREE_H
#define INTENTUS_CORE_SUBTREE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/rec_store.h"
#include "core/record.h"

struct subtree_node {
    cJSON *record;             /* owned by the tree */
    struct record_summary sum; /* borrowed from record */
    const char *parent_id;     /* parentExecutionId, NULL at the root */
    long parent;               /* index of the parent node, -1 at the root */
    int depth;                 /* 0 at the root */
    size_t n_children;
};

/* Nodes in depth-first order, the root first, siblings by creation time. */
struct subtree {
    struct subtree_node *nodes;
    size_t n, cap;
    size_t focus;         /* the node of the id asked for */
    int64_t t0_us, t1_us; /* the earliest start and latest end of any node */
};

/* The tree id belongs to. NULL with err when id cannot be read. Records
 * that cannot be read or parsed are left out of the tree. */
struct subtree *subtree_load(struct rec_store *rs, const char *id, struct intentus_err *err);
void subtree_free(struct subtree *t);

/* Start (header time) and end of node i, in microseconds since the epoch;
 * end = start when the record kept no timing. */
int64_t subtree_start_us(const struct subtree *t, size_t i);
int64_t subtree_end_us(const struct subtree *t, size_t i);

/* The tree as JSON: [{executionId, parentExecutionId, depth, intent, agent,
 * status, errorCode, startUs (from the root's start), durationUs}]. */
cJSON *subtree_json(const struct subtree *t);

#endif
