/* records show --tree ID and records fingerprint ID: an execution's tree
 * of sub-intents (core/subtree.h) and its fingerprint (core/fingerprint.h). */
#include <stdio.h>
#include <string.h>

#include "core/fingerprint.h"
#include "core/subtree.h"
#include "tui/cli.h"
#include "tui/cli_records.h"
#include "tui/fmt.h"

#define TREE_PREFIX_MAX 16 /* deeper nodes are drawn at this depth */

/* "|  |  `- " before a node: one column per ancestor, open while that
 * ancestor has children still to come. */
static void
tree_prefix(const struct subtree *t, size_t i, char *out, size_t size)
{
    const struct subtree_node *n = &t->nodes[i];
    char cols[TREE_PREFIX_MAX][4];
    int depth = n->depth, k = depth;
    size_t used = 0, at = i;

    out[0] = '\0';
    if (depth == 0)
        return;
    if (depth > TREE_PREFIX_MAX)
        k = depth = TREE_PREFIX_MAX;
    /* From the node up: is there a later sibling of each link? */
    while (k > 0 && t->nodes[at].parent >= 0) {
        bool later = false;
        for (size_t j = at + 1; j < t->n && t->nodes[j].depth >= t->nodes[at].depth; j++) {
            if (t->nodes[j].depth == t->nodes[at].depth) {
                later = true;
                break;
            }
        }
        k--;
        if (at == i)
            snprintf(cols[k], sizeof(cols[k]), "%s", later ? "|- " : "`- ");
        else
            snprintf(cols[k], sizeof(cols[k]), "%s", later ? "|  " : "   ");
        at = (size_t)t->nodes[at].parent;
    }
    for (int c = k; c < depth && used + 4 < size; c++)
        used += (size_t)snprintf(out + used, size - used, "%s", cols[c]);
}

int
cli_records_tree(const struct rec_args *a, cli_record_load_fn load, void *ctx, const char *id)
{
    struct intentus_err err = { 0 };
    struct subtree *t = subtree_build(load, ctx, id, &err);

    if (t == NULL) {
        cli_error(a->cmd, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (a->json) {
        cJSON *j = subtree_json(t);
        if (j == NULL) {
            subtree_free(t);
            cli_error(a->cmd, "out of memory");
            return EXIT_FAIL;
        }
        cli_print_json(stdout, j);
        cJSON_Delete(j);
        subtree_free(t);
        return EXIT_OK;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct subtree_node *n = &t->nodes[i];
        char pre[TREE_PREFIX_MAX * 4 + 1], start[32], dur[32], e1[FMT_ESC_SIZE(128)],
            e2[FMT_ESC_SIZE(128)], e3[FMT_ESC_SIZE(64)];
        tree_prefix(t, i, pre, sizeof(pre));
        fmt_duration_us(subtree_start_us(t, i) - t->t0_us, start, sizeof(start));
        if (n->sum.duration_us >= 0)
            fmt_duration_us(n->sum.duration_us, dur, sizeof(dur));
        else
            snprintf(dur, sizeof(dur), "?");
        printf("%s%s%s  %s  agent=%s  %s%s%s  +%s  %s\n", i == t->focus ? "> " : "  ", pre,
               cli_esc(n->sum.id ? n->sum.id : "?", e1, sizeof(e1)),
               cli_esc(n->sum.intent ? n->sum.intent : "?", e2, sizeof(e2)),
               cli_esc(n->sum.agent ? n->sum.agent : "-", e3, sizeof(e3)),
               record_status_name(n->sum.status), n->sum.error_code ? " " : "",
               n->sum.error_code ? n->sum.error_code : "", start, dur);
    }
    printf("%zu execution%s under root %s\n", t->n, t->n == 1 ? "" : "s",
           t->n > 0 && t->nodes[0].sum.id ? t->nodes[0].sum.id : "?");
    subtree_free(t);
    return EXIT_OK;
}

int
cli_records_fingerprint(const struct rec_args *a, cli_record_load_fn load, void *ctx,
                        const char *id)
{
    struct intentus_err err = { 0 };
    struct fingerprint f;
    cJSON *rec = load(ctx, id, &err);

    if (rec == NULL) {
        cli_error(a->cmd, "%s", err.msg);
        return EXIT_FAIL;
    }
    if (fingerprint_record(rec, &f, &err) != 0) {
        cJSON_Delete(rec);
        cli_error(a->cmd, "%s: %s", id, err.msg);
        return EXIT_FAIL;
    }
    cJSON_Delete(rec);
    if (a->json) {
        cJSON *j = fingerprint_json(&f);
        if (j != NULL)
            cli_print_json(stdout, j);
        cJSON_Delete(j);
    } else {
        printf("%s\n  decision %s\n  attempts %s\n  response %s\n", f.all, f.decision, f.attempts,
               f.response);
    }
    fingerprint_free(&f);
    return EXIT_OK;
}
