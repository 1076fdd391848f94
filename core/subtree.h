/* The tree of an execution and its sub-intents (core/subintent.h): the
 * root found by following parentExecutionId up, the children of each node
 * by the executionIds of its SUB_INTENT events, in their order. Only the
 * tree's own records are read. */
#ifndef INTENTUS_CORE_SUBTREE_H
#define INTENTUS_CORE_SUBTREE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
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

/* Reads one record (owned by the caller); NULL with err when it cannot. */
typedef cJSON *(*subtree_load_fn)(void *ctx, const char *id, struct intentus_err *err);

#define SUBTREE_MAX_NODES 4096

/* The tree id belongs to, its records read through load. NULL with err
 * when id itself cannot be read; other records that cannot be read (a
 * parent or child removed by retention) are left out: the oldest ancestor
 * found is the root. At most SUBTREE_MAX_NODES nodes. */
struct subtree *subtree_build(subtree_load_fn load, void *ctx, const char *id,
                              struct intentus_err *err);
/* subtree_build over a record store. */
struct subtree *subtree_load(struct rec_store *rs, const char *id, struct intentus_err *err);
/* Does rec belong to a tree (has a parent or ran sub-intents)? */
bool subtree_is_member(const cJSON *rec);
void subtree_free(struct subtree *t);

/* Start (header time) and end of node i, in microseconds since the epoch;
 * end = start when the record kept no timing. */
int64_t subtree_start_us(const struct subtree *t, size_t i);
int64_t subtree_end_us(const struct subtree *t, size_t i);

/* The tree as JSON: [{executionId, parentExecutionId, depth, intent, agent,
 * status, errorCode, startUs (from the root's start), durationUs}]. */
cJSON *subtree_json(const struct subtree *t);

#endif
