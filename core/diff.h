/* Structural diff of two JSON values, and of two execution records by
 * section (the reference's time-machine diff, model section 8): object keys
 * in sorted order with paths "/a/b", array items by index "/a[2]", the root
 * "/"; a value only on the right is "added", only on the left "removed",
 * a different scalar or a type change "changed". Equal values are not
 * listed. Pure: no I/O, used by `intentus records diff` and the console. */
#ifndef INTENTUS_CORE_DIFF_H
#define INTENTUS_CORE_DIFF_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

enum diff_kind { DIFF_ADDED, DIFF_REMOVED, DIFF_CHANGED };

struct diff_entry {
    char *section; /* "input", "output", "trace", "metadata"; NULL for a plain diff */
    char *path;    /* "/payload/user/name", "/events[3]/payload/agent", "/" */
    enum diff_kind kind;
    char *left;  /* compact JSON of the left value; NULL when added */
    char *right; /* compact JSON of the right value; NULL when removed */
};

struct diff_section {
    const char *name;            /* input (envelope), output (finalResponse), trace (events),
                                  * metadata (header + routerDecision) */
    char hash_a[17], hash_b[17]; /* first 16 hex of SHA-256 of the canonical JSON;
                                  * "null" for an absent section */
    bool identical;
    size_t changes;
};

struct diff_result {
    struct diff_entry *items;
    size_t n, cap;
    struct diff_section sections[4];
    size_t n_sections;
    /* The reference's diff helper keys (model section 3.4). */
    bool router_decision_changed, final_response_changed;
};

const char *diff_kind_name(enum diff_kind k); /* "added", "removed", "changed" */
/* Diff two arbitrary JSON values into out (appends; section NULL). */
int diff_json(const cJSON *a, const cJSON *b, struct diff_result *out, struct intentus_err *err);
/* Diff two records section by section, filling sections[] and the helper keys. */
int diff_records(const cJSON *a, const cJSON *b, struct diff_result *out, struct intentus_err *err);
/* The result as JSON: {executionA, executionB, envelopeHashA/B, routerDecisionChanged,
 * finalResponseChanged, fallbackEventsA/B, sections: [...], changes: [...]} for
 * records; plain {changes: [...]} otherwise. a and b may be NULL for a plain diff. */
cJSON *diff_result_json(const struct diff_result *r, const cJSON *a, const cJSON *b);
void diff_result_free(struct diff_result *r);

#endif
