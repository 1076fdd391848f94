/* intentus records diff A B: the section diff of two records (core/diff.c)
 * as text or JSON. Exit status as diff(1): 0 identical, 1 different,
 * 2 trouble (usage, config, a record missing or unreadable). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/diff.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/store.h"
#include "tui/cli.h"
#include "tui/cli_records.h"
#include "tui/fmt.h"
#include "watch/stores.h"

#define VALUE_MAX 80 /* bytes of a value shown in text output */

/* From the directory (rs), or from another engine's store (st). */
static cJSON *
load(struct rec_store *rs, struct store *st, const char *id)
{
    struct intentus_err err = { 0 };
    cJSON *rec = NULL;

    if (rs != NULL) {
        rec = rec_store_load(rs, id, &err);
    } else {
        size_t len = 0;
        /* A sealed text (sqlite, postgres) opened with the reading keys. */
        char *text = store_get_open(st, id, &len, NULL, &err);
        rec = text != NULL ? record_parse(text, len, &err) : NULL;
        if (text != NULL && rec == NULL)
            err_prefix(&err, "%s: record %s", store_url(st), id);
        if (text != NULL)
            explicit_bzero(text, len);
        free(text);
    }

    if (rec == NULL) {
        cli_error("records diff", "%s", err.msg);
        return NULL;
    }
    if (record_verify_hash(rec, &err) != 0)
        cli_error("records diff", "warning: %s: %s", id, err.msg);
    return rec;
}

/* text cut to VALUE_MAX bytes on a UTF-8 boundary, "..." marking the cut,
 * escaped for the terminal (values and paths come from the records). */
static void
print_value(const char *text)
{
    size_t n = strlen(text);

    if (n <= VALUE_MAX) {
        cli_put_escaped(stdout, text, n, 0);
        return;
    }
    n = VALUE_MAX - 3;
    while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
        n--;
    cli_put_escaped(stdout, text, n, 0);
    fputs("...", stdout);
}

static void
print_entry(const struct diff_entry *e)
{
    printf("  %-7s  ", diff_kind_name(e->kind));
    cli_put_escaped(stdout, e->path, strlen(e->path), 0);
    fputs(": ", stdout);
    if (e->left != NULL)
        print_value(e->left);
    if (e->left != NULL && e->right != NULL)
        fputs(" -> ", stdout);
    if (e->right != NULL)
        print_value(e->right);
    putchar('\n');
}

static void
print_list(const char *key, const cJSON *v)
{
    struct buf b = BUF_INIT;

    if (json_print_compact(v, &b) == 0) {
        printf("%s: ", key);
        print_value(b.data);
        putchar('\n');
    }
    buf_free(&b);
}

static void
print_text(const struct diff_result *r, const cJSON *j)
{
    char ha[FMT_ESC_SIZE(128)]; /* the header's envelopeHash: record text */
    size_t next = 0;

    printf("--- %s\n+++ %s\n", json_get_string(j, "executionA"), json_get_string(j, "executionB"));
    for (size_t i = 0; i < r->n_sections; i++) {
        const struct diff_section *s = &r->sections[i];
        if (s->identical) {
            printf("%-8s  identical  %s\n", s->name, s->hash_a);
        } else {
            printf("%-8s  %zu change%s  %s -> %s\n", s->name, s->changes,
                   s->changes == 1 ? "" : "s", s->hash_a, s->hash_b);
        }
        /* Entries come section by section, in the sections' order. */
        for (size_t k = 0; k < s->changes && next < r->n; k++)
            print_entry(&r->items[next++]);
    }
    printf("envelopeHashA: %s\n", cli_esc(json_get_string(j, "envelopeHashA"), ha, sizeof(ha)));
    printf("envelopeHashB: %s\n", cli_esc(json_get_string(j, "envelopeHashB"), ha, sizeof(ha)));
    printf("routerDecisionChanged: %s\nfinalResponseChanged: %s\n",
           r->router_decision_changed ? "true" : "false",
           r->final_response_changed ? "true" : "false");
    print_list("fallbackEventsA", cJSON_GetObjectItemCaseSensitive(j, "fallbackEventsA"));
    print_list("fallbackEventsB", cJSON_GetObjectItemCaseSensitive(j, "fallbackEventsB"));
    print_list("modelCallsA", cJSON_GetObjectItemCaseSensitive(j, "modelCallsA"));
    print_list("modelCallsB", cJSON_GetObjectItemCaseSensitive(j, "modelCallsB"));
}

int
cli_records_diff(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    struct diff_result r = { 0 };
    struct config *cfg = NULL;
    struct rec_store *rs = NULL;
    struct store *st = NULL;
    cJSON *ra = NULL, *rb = NULL, *j = NULL;
    const char *dir;
    int rc = EXIT_USAGE;

    if (argc - a->first_arg < 2)
        return cli_usage_error("records diff", "give two execution ids");
    if (argc - a->first_arg > 2)
        return cli_usage_error("records diff", "unexpected argument '%s'", argv[a->first_arg + 2]);
    for (int i = a->first_arg; i < argc; i++) {
        if (!rec_store_id_is_valid(argv[i]))
            return cli_usage_error("records diff", "'%s' is not a valid execution id", argv[i]);
    }
    if (a->store != NULL) {
        if (cli_records_store_keys(a) != 0)
            goto out;
        st = store_open_url(stores_builtin, a->store, &(struct store_opts){ .read_only = true },
                            &err);
        if (st == NULL) {
            cli_error("records diff", "%s: %s", a->store, err.msg);
            goto out;
        }
    } else {
        dir = cli_records_dir_of(a, &cfg);
        if (dir == NULL)
            goto out;
        rs = rec_store_open(dir, NULL, &err);
        if (rs == NULL) {
            cli_error("records diff", "%s", err.msg);
            goto out;
        }
    }
    ra = load(rs, st, argv[a->first_arg]);
    rb = ra != NULL ? load(rs, st, argv[a->first_arg + 1]) : NULL;
    if (rb == NULL)
        goto out;
    if (diff_records(ra, rb, &r, &err) != 0 || (j = diff_result_json(&r, ra, rb)) == NULL) {
        cli_error("records diff", "%s", err.msg[0] ? err.msg : "out of memory");
        goto out;
    }
    if (a->json)
        cli_print_json(stdout, j);
    else
        print_text(&r, j);
    rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "identical")) ? EXIT_OK : EXIT_FAIL;
out:
    cJSON_Delete(j);
    diff_result_free(&r);
    cJSON_Delete(ra);
    cJSON_Delete(rb);
    rec_store_close(rs);
    store_close(st);
    config_free(cfg);
    return rc;
}
