#include "tests/fuzz/fuzz_entry.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/json.h"
#include "core/model.h"
#include "core/record.h"
#include "core/redact.h"
#include "tui/editor.h"
#include "tui/query.h"
#include "tui/theme.h"
#include "watch/digest.h"
#include "watch/digest_scan.h"

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz invariant broken at %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An exact-size heap copy (no terminator past size, so ASan sees any read
 * beyond the length a parser was given). */
static char *
exact_copy(const uint8_t *data, size_t size)
{
    char *p = malloc(size > 0 ? size : 1);

    if (p != NULL && size > 0)
        memcpy(p, data, size);
    return p;
}

/* A NUL-terminated copy, cut at the first NUL (what a C-string API sees). */
static char *
cstr_copy(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul != NULL ? (size_t)(nul - data) : size;
    char *p = malloc(n + 1);

    if (p != NULL) {
        memcpy(p, data, n);
        p[n] = '\0';
    }
    return p;
}

/* Canonical text of v into out (caller frees); NULL when v has no canonical
 * form (a number that is not finite). */
static char *
canonical(const cJSON *v)
{
    struct buf b = BUF_INIT;
    char *s;

    if (json_canonical(v, &b, NULL) != 0) {
        buf_free(&b);
        return NULL;
    }
    s = buf_take(&b);
    return s != NULL ? s : strdup("");
}

typedef int (*print_fn)(const cJSON *v, struct buf *out);

/* Print v, parse it back (with parse, at depth), and check the canonical
 * form survived. */
static void
check_reprint(const cJSON *v, const char *canon, print_fn print, const char *how, bool as_record)
{
    struct buf b = BUF_INIT;
    struct intentus_err err = { 0 };
    cJSON *back;
    char *again;

    FUZZ_CHECK(print(v, &b) == 0, "%s print failed", how);
    back = as_record ? record_parse(b.data, b.len, &err) : json_parse(b.data, b.len, 0, &err);
    FUZZ_CHECK(back != NULL, "%s output does not parse back: %s", how, err.msg);
    if (canon != NULL) {
        again = canonical(back);
        FUZZ_CHECK(again != NULL && strcmp(again, canon) == 0,
                   "%s round trip changed the canonical form:\n%s\n%s", how, canon,
                   again != NULL ? again : "(none)");
        free(again);
    }
    cJSON_Delete(back);
    buf_free(&b);
}

void
fuzz_record_one(const uint8_t *data, size_t size)
{
    char *text = exact_copy(data, size);
    struct intentus_err err = { 0 };
    struct record_summary sum;
    struct digest *d;
    cJSON *rec;
    char *canon;

    if (text == NULL)
        return;
    rec = record_parse(text, size, &err);
    d = digest_from_text("fuzz", text, size, NULL);
    FUZZ_CHECK(d != NULL, "digest_from_text returned NULL");
    if (rec == NULL) {
        FUZZ_CHECK(err.msg[0] != '\0', "record_parse failed without a message");
        FUZZ_CHECK(d->flags & DIGEST_CORRUPT, "record_parse refused it, the digest did not");
        goto out;
    }
    FUZZ_CHECK(record_validate(rec, NULL) == 0, "record_parse accepted an invalid record");
    /* What `records verify` adds. */
    (void)envelope_validate(cJSON_GetObjectItemCaseSensitive(rec, "envelope"), NULL);
    (void)record_verify_hash(rec, NULL);
    record_summarize(rec, &sum);
    FUZZ_CHECK(sum.id != NULL, "a parsed record summarizes without an id");
    (void)record_status_name(sum.status);
    canon = canonical(rec);
    check_reprint(rec, canon, json_print_pretty, "record pretty", true);
    free(canon);
out:
    digest_free(d);
    cJSON_Delete(rec);
    free(text);
}

void
fuzz_digest_one(const uint8_t *data, size_t size)
{
    char *text = exact_copy(data, size);
    struct digest *tree, *scan = NULL;
    struct buf a = BUF_INIT, b = BUF_INIT;
    int rc;

    if (text == NULL)
        return;
    tree = digest_from_tree("fuzz", text, size, NULL);
    rc = digest_scan("fuzz", text, size, &scan);
    FUZZ_CHECK(tree != NULL, "digest_from_tree returned NULL");
    FUZZ_CHECK(rc == 0 || rc == 1, "digest_scan returned %d", rc);
    FUZZ_CHECK((rc == 1) == (scan != NULL), "digest_scan's answer and its digest disagree");
    if (rc == 1) {
        FUZZ_CHECK(!(tree->flags & DIGEST_CORRUPT), "the scanner read a record cJSON refused: %s",
                   tree->note ? tree->note : "");
        FUZZ_CHECK(digest_describe(tree, &a) == 0 && digest_describe(scan, &b) == 0,
                   "out of memory");
        FUZZ_CHECK(strcmp(a.data, b.data) == 0, "scanner and cJSON differ:\nscan: %s\ntree: %s",
                   b.data, a.data);
    }
    buf_free(&a);
    buf_free(&b);
    digest_free(scan);
    digest_free(tree);
    free(text);
}

void
fuzz_config_one(const uint8_t *data, size_t size)
{
    char *text = exact_copy(data, size);
    struct intentus_err err = { 0 };
    struct config *cfg;

    if (text == NULL)
        return;
    cfg = config_parse(text, size, "fuzz.json", &err);
    if (cfg == NULL)
        FUZZ_CHECK(err.msg[0] != '\0', "config_parse failed without a message");
    else
        FUZZ_CHECK(cfg->registry != NULL, "a config without a registry");
    config_free(cfg);
    free(text);
}

void
fuzz_canon_one(const uint8_t *data, size_t size)
{
    char *text = exact_copy(data, size);
    struct intentus_err err = { 0 };
    char hex[65], hex2[65];
    char *c1 = NULL, *c2 = NULL;
    cJSON *v, *v2 = NULL;

    if (text == NULL)
        return;
    v = json_parse(text, size, 0, &err);
    if (v == NULL) {
        FUZZ_CHECK(strncmp(err.msg, "line ", 5) == 0, "parse error without a position: %s",
                   err.msg);
        goto out;
    }
    c1 = canonical(v);
    if (c1 == NULL)
        goto out; /* a number that overflows to infinity has no canonical form */
    /* Canonical text is a fixed point. */
    v2 = json_parse(c1, strlen(c1), 0, &err);
    FUZZ_CHECK(v2 != NULL, "canonical text does not parse: %s\n%s", err.msg, c1);
    c2 = canonical(v2);
    FUZZ_CHECK(c2 != NULL && strcmp(c1, c2) == 0, "canonical form is not a fixed point:\n%s\n%s",
               c1, c2 != NULL ? c2 : "(none)");
    for (size_t i = 0; c1[i] != '\0'; i++)
        FUZZ_CHECK((unsigned char)c1[i] >= 0x20 && (unsigned char)c1[i] < 0x7f,
                   "canonical text is not printable ASCII at %zu", i);
    FUZZ_CHECK(json_canonical_sha256(v, hex, NULL) == 0, "hash failed after canonical worked");
    json_sha256_hex(c1, strlen(c1), hex2);
    FUZZ_CHECK(strcmp(hex, hex2) == 0, "hash is not the hash of the canonical text");
    check_reprint(v, c1, json_print_pretty, "pretty", false);
    check_reprint(v, c1, json_print_compact, "compact", false);
out:
    free(c1);
    free(c2);
    cJSON_Delete(v2);
    cJSON_Delete(v);
    free(text);
}

void
fuzz_redact_one(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t rules_len = nul != NULL ? (size_t)(nul - data) : 0;
    const uint8_t *doc = nul != NULL ? nul + 1 : data;
    size_t doc_len = nul != NULL ? size - rules_len - 1 : size;
    char *rules_text = exact_copy(data, rules_len), *doc_text = exact_copy(doc, doc_len);
    struct intentus_err err = { 0 };
    struct redact_report rep = { 0 };
    struct redactor *r = NULL;
    cJSON *rules = NULL, *tree = NULL, *rec = NULL;
    bool was_ok;

    if (rules_text == NULL || doc_text == NULL)
        goto out;
    if (nul != NULL) {
        rules = json_parse(rules_text, rules_len, 0, NULL);
        if (rules == NULL)
            goto out;
    }
    r = redactor_new(rules, "redaction", &err);
    if (r == NULL) {
        FUZZ_CHECK(err.msg[0] != '\0', "redactor_new failed without a message");
        goto out;
    }
    FUZZ_CHECK(strncmp(redactor_version(r), "intentus-redact/1:", 18) == 0, "version %s",
               redactor_version(r));
    tree = json_parse(doc_text, doc_len, 0, NULL);
    if (tree == NULL)
        goto out;
    FUZZ_CHECK(redact_tree(r, tree, &rep) == 0, "redact_tree failed");
    FUZZ_CHECK(rep.n <= rep.fields, "report lists %zu changes for %zu fields", rep.n, rep.fields);
    for (size_t i = 0; i < rep.n; i++)
        FUZZ_CHECK(memchr(rep.items[i].path, 0, sizeof(rep.items[i].path)) != NULL &&
                       memchr(rep.items[i].rule, 0, sizeof(rep.items[i].rule)) != NULL,
                   "report entry %zu not terminated", i);
    check_reprint(tree, NULL, json_print_compact, "redacted tree", false);
    redact_report_free(&rep);
    /* The same document as a record: a record that verified still verifies
     * once redacted (header.envelopeHash follows what is stored), and the
     * header keeps the hash of what was received. */
    rec = record_parse(doc_text, doc_len, NULL);
    was_ok = rec != NULL && record_verify_hash(rec, NULL) == 0;
    if (rec != NULL && redact_record(r, rec, &rep, &err) == 0 && redactor_enabled(r)) {
        cJSON *header = cJSON_GetObjectItemCaseSensitive(rec, "header");
        if (was_ok)
            FUZZ_CHECK(record_verify_hash(rec, &err) == 0, "a redacted record does not verify: %s",
                       err.msg);
        FUZZ_CHECK(json_get_string(header, "originalEnvelopeHash") != NULL,
                   "no originalEnvelopeHash after redaction");
        check_reprint(rec, NULL, json_print_pretty, "redacted record", true);
    }
out:
    redact_report_free(&rep);
    cJSON_Delete(rec);
    cJSON_Delete(tree);
    cJSON_Delete(rules);
    redactor_free(r);
    free(rules_text);
    free(doc_text);
}

void
fuzz_theme_one(const uint8_t *data, size_t size)
{
    char *text = cstr_copy(data, size);
    struct theme_report rep = { .text = "", .count = 0 };
    struct theme t;
    struct theme_attrs attrs;

    if (text == NULL)
        return;
    theme_parse(&t, "fuzz", text, "fuzz.theme", &rep);
    FUZZ_CHECK(memchr(rep.text, 0, sizeof(rep.text)) != NULL, "report not terminated");
    FUZZ_CHECK(rep.count >= 0, "negative report count");
    for (int i = 0; i < THEME_COUNT; i++) {
        const struct theme_style *st = &t.style[i];
        FUZZ_CHECK(st->fg >= THEME_COLOR_DEFAULT && st->fg <= 255, "fg %d", st->fg);
        FUZZ_CHECK(st->bg >= THEME_COLOR_DEFAULT && st->bg <= 255, "bg %d", st->bg);
        FUZZ_CHECK(theme_nearest8(st->fg) < 8 && theme_nearest8(st->bg) < 8, "nearest8");
    }
    theme_apply(&t, 0, false, &attrs); /* the monochrome row needs no terminal */
    free(text);
}

void
fuzz_query_one(const uint8_t *data, size_t size)
{
    char *text = cstr_copy(data, size);
    struct query q;
    char msg[128];

    if (text == NULL)
        return;
    msg[0] = '\0';
    if (query_parse(text, 1700000000000000LL, &q, msg, sizeof(msg)) != 0) {
        FUZZ_CHECK(msg[0] != '\0', "query_parse failed without a message");
    } else {
        const char *terms[] = { q.filter.intent, q.filter.agent, q.filter.status,
                                q.filter.error_code, q.filter.text };
        for (size_t i = 0; i < sizeof(terms) / sizeof(terms[0]); i++)
            FUZZ_CHECK(terms[i] == NULL || (terms[i] >= q.buf && terms[i] < q.buf + sizeof(q.buf)),
                       "term %zu does not point into the query's copy", i);
    }
    free(text);
}

static bool
utf8_is_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : 3;

        if (c >= 0x80 && ((c & 0xc0) == 0x80 || (c & 0xf8) == 0xf8))
            return false; /* a stray continuation byte, or no lead byte at all */
        if (i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if (((unsigned char)s[i + j] & 0xc0) != 0x80)
                return false;
        }
        i += k + 1;
    }
    return true;
}

static void
check_editor(const struct editor *e, bool valid_utf8)
{
    size_t line, col, len;
    const char *l;
    char msg[256];

    FUZZ_CHECK(e->len == strlen(e->text), "len %zu, strlen %zu", e->len, strlen(e->text));
    FUZZ_CHECK(e->cursor <= e->len, "cursor %zu past len %zu", e->cursor, e->len);
    if (valid_utf8) {
        FUZZ_CHECK(utf8_is_valid(e->text, e->len), "edits broke UTF-8");
        FUZZ_CHECK(e->cursor == e->len || ((unsigned char)e->text[e->cursor] & 0xc0) != 0x80,
                   "cursor %zu inside a character", e->cursor);
    }
    editor_position(e, &line, &col);
    FUZZ_CHECK(line < editor_lines(e), "cursor line %zu of %zu", line, editor_lines(e));
    l = editor_line(e, line, &len);
    FUZZ_CHECK(l >= e->text && l + len <= e->text + e->len && col <= len, "line %zu col %zu", line,
               col);
    (void)editor_validate(e, msg, sizeof(msg));
    FUZZ_CHECK(memchr(msg, 0, sizeof(msg)) != NULL, "message not terminated");
}

void
fuzz_editor_one(const uint8_t *data, size_t size)
{
    static const char *const inserts[] = { "{",
                                           "}",
                                           "[",
                                           "]",
                                           "\"",
                                           ":",
                                           ",",
                                           " ",
                                           "1",
                                           "a",
                                           "\\",
                                           "\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x98\x80",
                                           "null",
                                           "\t" };
    size_t n_ops = size > 0 ? data[0] % 64 : 0;
    const uint8_t *ops = data + (size > 0);
    struct editor e;
    bool valid;
    char *text;

    if (n_ops > size - (size > 0))
        n_ops = size - (size > 0);
    text = cstr_copy(ops + n_ops, size - (size > 0) - n_ops);
    if (text == NULL)
        return;
    editor_init(&e);
    if (editor_set(&e, text) != 0)
        goto out;
    valid = utf8_is_valid(e.text, e.len);
    check_editor(&e, valid);
    for (size_t i = 0; i < n_ops; i++) {
        unsigned b = ops[i], arg = b >> 3;
        switch (b & 7) {
        case 0:
            (void)editor_insert(&e, inserts[arg % 16], strlen(inserts[arg % 16]));
            break;
        case 1:
            (void)editor_newline(&e);
            break;
        case 2:
            editor_backspace(&e);
            break;
        case 3:
            editor_delete(&e);
            break;
        case 4:
            (arg & 1) ? editor_right(&e) : editor_left(&e);
            break;
        case 5:
            (arg & 1) ? editor_down(&e) : editor_up(&e);
            break;
        case 6:
            (arg & 1) ? editor_end(&e) : editor_home(&e);
            break;
        default:
            if (editor_format(&e) == 0) {
                FUZZ_CHECK(e.cursor == e.len, "format leaves the cursor at %zu", e.cursor);
                valid = utf8_is_valid(e.text, e.len);
            }
            break;
        }
        check_editor(&e, valid);
    }
out:
    editor_free(&e);
    free(text);
}

const struct fuzz_target fuzz_targets[] = {
    { "record", fuzz_record_one }, { "config", fuzz_config_one }, { "canon", fuzz_canon_one },
    { "redact", fuzz_redact_one }, { "theme", fuzz_theme_one },   { "query", fuzz_query_one },
    { "editor", fuzz_editor_one }, { "digest", fuzz_digest_one }, { NULL, NULL },
};
