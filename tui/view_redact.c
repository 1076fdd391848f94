/* Redaction preview: a record (x on the Records screen) or any JSON file
 * (o), original and redacted side by side with changed lines marked, the
 * rule that matched each field, and every rule switchable on and off to see
 * the effect before changing the configuration. Default rules are marked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/redact.h"
#include "core/safe_file.h"
#include "tui/app.h"
#include "tui/fmt.h"
#include "tui/table.h"

#define MAX_RULES 128
#define OPEN_MAX_BYTES ((size_t)16 << 20) /* a JSON file opened with o */

struct rule_row {
    char kind[12];  /* keys, paths, patterns */
    char text[160]; /* the glob, path or name */
    cJSON *item;    /* copy of the rule as it appears in the rules JSON */
    bool on, is_default;
};

struct pair_line {
    char *left, *right;
    bool changed;
};

struct redact_view {
    char source[300];
    bool is_record;
    cJSON *original;
    cJSON *redacted;
    struct redact_report rep;
    char replacement[64];
    struct rule_row rules[MAX_RULES];
    size_t n_rules, sel, scroll, rules_top;
    char *orig_text, *red_text;
    struct pair_line *pairs; /* original and redacted, aligned by JSON path */
    size_t n_pairs, cap_pairs;
    char error[300];
    bool loaded_rules;
    char rules_version[64]; /* of the config the rules came from: a reload changes it */
    char path[512];         /* the "open JSON file" prompt's text */
    /* The rules table (tui/table.h): sel is a row of it; order[row] is the
     * rule shown there, sorted by sort (RS_CONFIG: the configuration's
     * order) without changing the order the redactor applies them in. */
    struct table tab, fields_tab;
    size_t order[MAX_RULES];
    size_t hits[MAX_RULES]; /* fields each rule redacted in this preview */
    int sort;
    bool sort_desc;
};

/* What the rules table sorts by (s cycles, S reverses, a title click). */
enum rule_sort { RS_CONFIG, RS_ON, RS_KIND, RS_RULE, RS_HITS, RS_DEFAULT, RS_COUNT };

static const char *const rule_sort_names[RS_COUNT] = {
    "the configuration's order", "on/off", "kind", "rule", "fields redacted", "default",
};

enum rule_col { RL_ON, RL_KIND, RL_RULE, RL_HITS, RL_DEFAULT, RL_COUNT };

/* At 80 columns the kind and the default mark go (l scrolls to them); the
 * rule, its switch and how many fields it redacted here always show. */
static const struct table_col rule_cols[RL_COUNT] = {
    [RL_ON] = { "ON", 3, 0, 0, false, false, RS_ON },
    [RL_KIND] = { "KIND", 8, 5, 3, false, false, RS_KIND },
    [RL_RULE] = { "RULE", 24, 16, 0, false, true, RS_RULE },
    [RL_HITS] = { "HITS", 6, 0, 1, true, false, RS_HITS },
    [RL_DEFAULT] = { "DEF", 3, 0, 2, false, false, RS_DEFAULT },
};

enum field_col { FL_PATH, FL_RULE, FL_COUNT };

static const struct table_col field_cols[FL_COUNT] = {
    [FL_PATH] = { "FIELD", 48, 20, 0, false, true, -1 },
    [FL_RULE] = { "RULE", 24, 12, 0, false, true, -1 },
};

static void
free_rules(struct redact_view *v)
{
    for (size_t i = 0; i < v->n_rules; i++)
        cJSON_Delete(v->rules[i].item);
    v->n_rules = 0;
}

/* The rules the running configuration uses, each switchable; defaults are
 * the ones redactor_new(NULL) has too. */
static void
load_rules(struct app *app, struct redact_view *v)
{
    struct redactor *defaults = redactor_new(NULL, "redaction", NULL);
    cJSON *eff = redactor_rules_json(app->model.cfg->redactor);
    cJSON *def = defaults ? redactor_rules_json(defaults) : NULL;
    const char *kinds[] = { "keys", "paths", "patterns" };

    free_rules(v);
    snprintf(v->replacement, sizeof(v->replacement), "%s",
             redactor_replacement(app->model.cfg->redactor));
    for (size_t k = 0; k < 3; k++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(eff, kinds[k]))
        {
            struct rule_row *r;
            const cJSON *d;
            if (v->n_rules == MAX_RULES)
                break;
            r = &v->rules[v->n_rules++];
            snprintf(r->kind, sizeof(r->kind), "%s", kinds[k]);
            snprintf(r->text, sizeof(r->text), "%s",
                     cJSON_IsString(it)
                         ? it->valuestring
                         : (json_get_string(it, "name") ? json_get_string(it, "name") : "?"));
            r->item = cJSON_Duplicate(it, 1);
            r->on = redactor_enabled(app->model.cfg->redactor);
            cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(def, kinds[k])) r->is_default =
                r->is_default || cJSON_Compare(d, it, 1);
        }
    }
    cJSON_Delete(eff);
    cJSON_Delete(def);
    redactor_free(defaults);
    v->loaded_rules = true;
    snprintf(v->rules_version, sizeof(v->rules_version), "%s",
             redactor_version(app->model.cfg->redactor));
}

static char *
pretty(const cJSON *j)
{
    struct buf b = BUF_INIT;

    if (j == NULL || json_print_pretty(j, &b) != 0) {
        buf_free(&b);
        return strdup("");
    }
    return buf_take(&b);
}

static void
free_pairs(struct redact_view *v)
{
    for (size_t i = 0; i < v->n_pairs; i++) {
        free(v->pairs[i].left);
        free(v->pairs[i].right);
    }
    v->n_pairs = 0;
}

static void
add_pair(struct redact_view *v, const char *l, const char *r, bool changed)
{
    if (v->n_pairs == v->cap_pairs) {
        size_t cap = v->cap_pairs ? v->cap_pairs * 2 : 256;
        struct pair_line *p = realloc(v->pairs, cap * sizeof(*p));
        if (p == NULL)
            return;
        v->pairs = p;
        v->cap_pairs = cap;
    }
    v->pairs[v->n_pairs].left = strdup(l);
    v->pairs[v->n_pairs].right = strdup(r);
    v->pairs[v->n_pairs].changed = changed;
    v->n_pairs++;
}

static void
line_for(const cJSON *n, int depth, const char *key, char *out, size_t size)
{
    struct buf b = BUF_INIT;
    bool container = cJSON_IsObject(n) || cJSON_IsArray(n);

    if (n != NULL && !container)
        json_print_compact(n, &b);
    snprintf(out, size, "%*s%s%s%s%s", depth * 2, "", key ? "\"" : "", key ? key : "",
             key ? "\": " : "",
             n == NULL   ? ""
             : container ? (cJSON_IsObject(n) ? "{" : "[")
                         : (b.data ? b.data : ""));
    buf_free(&b);
}

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
/* Walk the original and the redacted tree together so every line of the
 * original sits next to what is stored for the same path; a container that
 * a rule replaced whole is shown as one line on both sides. */
static void
pair_walk(struct redact_view *v, const cJSON *o, const cJSON *r, int depth, const char *key)
{
    char l[512], rt[512];
    const cJSON *c;

    line_for(o, depth, key, l, sizeof(l));
    line_for(r, depth, key, rt, sizeof(rt));
    if ((cJSON_IsObject(o) && cJSON_IsObject(r)) || (cJSON_IsArray(o) && cJSON_IsArray(r))) {
        int i = 0;
        add_pair(v, l, rt, false);
        cJSON_ArrayForEach(c, o)
        {
            const cJSON *rc = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(r, c->string)
                                                : cJSON_GetArrayItem(r, i);
            pair_walk(v, c, rc, depth + 1, cJSON_IsObject(o) ? c->string : NULL);
            i++;
        }
        snprintf(l, sizeof(l), "%*s%s", depth * 2, "", cJSON_IsObject(o) ? "}" : "]");
        add_pair(v, l, l, false);
        return;
    }
    if (cJSON_IsObject(o) || cJSON_IsArray(o)) {
        /* Replaced whole: show the original compactly. */
        struct buf b = BUF_INIT;
        json_print_compact(o, &b);
        snprintf(l, sizeof(l), "%*s%s%s%s%.300s", depth * 2, "", key ? "\"" : "", key ? key : "",
                 key ? "\": " : "", b.data ? b.data : "");
        buf_free(&b);
    }
    add_pair(v, l, rt, r == NULL || !cJSON_Compare(o, r, 1));
}
/* NOLINTEND(misc-no-recursion) */

static void
build_pairs(struct redact_view *v)
{
    free_pairs(v);
    if (v->original == NULL || v->redacted == NULL)
        return;
    if (v->is_record) {
        /* The data sections; the header's bookkeeping is summarised above. */
        const char *parts[] = { "envelope", "finalResponse", "events" };
        for (size_t i = 0; i < 3; i++)
            pair_walk(v, cJSON_GetObjectItemCaseSensitive(v->original, parts[i]),
                      cJSON_GetObjectItemCaseSensitive(v->redacted, parts[i]), 0, parts[i]);
    } else {
        pair_walk(v, v->original, v->redacted, 0, NULL);
    }
}

/* Rebuild a redactor from the switched-on rules and run it. */
static void
run_rules(struct redact_view *v)
{
    cJSON *cfg = cJSON_CreateObject(), *arr[3];
    const char *kinds[] = { "keys", "paths", "patterns" };
    struct intentus_err err = { 0 };
    struct redactor *r;

    cJSON_Delete(v->redacted);
    v->redacted = NULL;
    redact_report_free(&v->rep);
    free(v->red_text);
    v->red_text = NULL;
    v->error[0] = '\0';
    if (v->original == NULL || cfg == NULL) {
        cJSON_Delete(cfg);
        return;
    }
    cJSON_AddBoolToObject(cfg, "enabled", true);
    cJSON_AddBoolToObject(cfg, "defaults", false);
    cJSON_AddStringToObject(cfg, "replacement", v->replacement);
    for (size_t k = 0; k < 3; k++)
        arr[k] = cJSON_AddArrayToObject(cfg, kinds[k]);
    for (size_t i = 0; i < v->n_rules; i++) {
        for (size_t k = 0; k < 3; k++) {
            if (v->rules[i].on && strcmp(v->rules[i].kind, kinds[k]) == 0)
                cJSON_AddItemToArray(arr[k], cJSON_Duplicate(v->rules[i].item, 1));
        }
    }
    r = redactor_new(cfg, "redaction", &err);
    cJSON_Delete(cfg);
    if (r == NULL) {
        snprintf(v->error, sizeof(v->error), "%s", err.msg);
        return;
    }
    v->redacted = cJSON_Duplicate(v->original, 1);
    if (v->redacted != NULL) {
        if (v->is_record)
            redact_record(r, v->redacted, &v->rep, &err);
        else
            redact_tree(r, v->redacted, &v->rep);
    }
    redactor_free(r);
    v->red_text = pretty(v->redacted);
    build_pairs(v);
}

/* The report's name of rule r ("key:<glob>", "path:<path>", a pattern's name). */
static void
rule_name(const struct rule_row *r, char *out, size_t size)
{
    if (strcmp(r->kind, "keys") == 0)
        snprintf(out, size, "key:%s", r->text);
    else if (strcmp(r->kind, "paths") == 0)
        snprintf(out, size, "path:%s", r->text);
    else
        snprintf(out, size, "%s", r->text);
}

static int
rule_cmp(const struct redact_view *v, size_t a, size_t b)
{
    const struct rule_row *x = &v->rules[a], *y = &v->rules[b];
    int c = 0;

    switch (v->sort) {
    case RS_ON:
        c = (int)y->on - (int)x->on;
        break;
    case RS_KIND:
        c = strcmp(x->kind, y->kind);
        break;
    case RS_RULE:
        c = strcmp(x->text, y->text);
        break;
    case RS_HITS:
        c = v->hits[a] < v->hits[b] ? 1 : v->hits[a] > v->hits[b] ? -1 : 0;
        break;
    case RS_DEFAULT:
        c = (int)y->is_default - (int)x->is_default;
        break;
    default:
        break;
    }
    if (v->sort_desc)
        c = -c;
    return c != 0 ? c : (a < b ? -1 : a > b);
}

/* Count each rule's redacted fields and order the table's rows; the
 * cursor stays on the rule it was on. */
static void
sort_rules(struct redact_view *v)
{
    size_t cur = v->sel < v->n_rules ? v->order[v->sel] : 0;
    char name[200];

    for (size_t i = 0; i < v->n_rules; i++) {
        v->hits[i] = 0;
        rule_name(&v->rules[i], name, sizeof(name));
        for (size_t k = 0; k < v->rep.n; k++)
            v->hits[i] += strcmp(v->rep.items[k].rule, name) == 0;
    }
    for (size_t i = 0; i < v->n_rules; i++)
        v->order[i] = i;
    /* insertion sort: at most MAX_RULES rows, stable */
    for (size_t i = 1; i < v->n_rules; i++) {
        size_t x = v->order[i], j = i;
        while (j > 0 && rule_cmp(v, v->order[j - 1], x) > 0) {
            v->order[j] = v->order[j - 1];
            j--;
        }
        v->order[j] = x;
    }
    for (size_t i = 0; i < v->n_rules; i++) {
        if (v->order[i] == cur)
            v->sel = i;
    }
}

/* Run the switched-on rules, then count and order the table's rows. */
static void
rerun(struct redact_view *v)
{
    run_rules(v);
    sort_rules(v);
}

static void
set_source(struct app *app, struct redact_view *v, cJSON *doc, bool is_record, const char *name)
{
    cJSON_Delete(v->original);
    v->original = doc;
    v->is_record = is_record;
    snprintf(v->source, sizeof(v->source), "%s", name);
    free(v->orig_text);
    v->orig_text = pretty(doc);
    v->scroll = 0;
    if (!v->loaded_rules)
        load_rules(app, v);
    rerun(v);
}

/* Shown on a record (x on the Records screen). */
static void
redact_show(struct app *app, void *state, const struct view_arg *arg)
{
    struct redact_view *v = state;
    struct intentus_err err = { 0 };
    cJSON *rec;
    char name[200];

    if (arg->id == NULL)
        return;
    rec = app_load_record(app, arg->id, &err);

    if (rec == NULL) {
        app_message(app, true, "%s", err.msg);
        return;
    }
    snprintf(name, sizeof(name), "record %s", arg->id);
    set_source(app, v, rec, true, name);
}

static void
redact_close(void *state)
{
    struct redact_view *v = state;

    free_rules(v);
    cJSON_Delete(v->original);
    cJSON_Delete(v->redacted);
    redact_report_free(&v->rep);
    free(v->orig_text);
    free(v->red_text);
    free_pairs(v);
    free(v->pairs);
}

static void
redact_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct redact_view *v = state;
    int left = cols >= 120 ? 44 : 34, half, y = top, list_rows, json_rows;
    char line[512];

    if (!v->loaded_rules ||
        strcmp(v->rules_version, redactor_version(app->model.cfg->redactor)) != 0) {
        load_rules(app, v);
        rerun(v);
    }
    snprintf(line, sizeof(line), " Redaction preview: %s   rules %s%s",
             v->source[0] ? v->source : "(nothing loaded: x on a record, o to open a file)",
             redactor_version(app->model.cfg->redactor),
             redactor_enabled(app->model.cfg->redactor) ? ""
                                                        : "  [redaction is OFF in the config]");
    app_put(app, y++, 0, cols, app_attr(app, THEME_TABLE_HEADER), line);
    list_rows = rows - 2;
    /* Rules, switchable: the table's header, then a row each. */
    v->tab.cols = rule_cols;
    v->tab.n_cols = RL_COUNT;
    v->tab.n_rows = v->n_rules;
    v->tab.sel = v->sel;
    v->tab.sort_key = v->sort;
    v->tab.sort_desc = v->sort_desc;
    table_layout(&v->tab, y, list_rows - 1, left - 1);
    v->sel = v->tab.sel;
    table_header(&v->tab, app, left - 1);
    for (size_t i = v->tab.top; i < v->n_rules && table_row_y(&v->tab, i) >= 0; i++) {
        const struct rule_row *r = &v->rules[v->order[i]];
        bool sel = i == v->sel;
        attr_t a = app_attr(app, sel ? THEME_SELECTION : r->on ? THEME_NORMAL : THEME_DIM);
        char hits[24];
        if (sel)
            app_fill(app, table_row_y(&v->tab, i), 0, left - 1, a);
        table_cell(&v->tab, app, i, RL_ON, a, r->on ? "[x]" : "[ ]");
        table_cell(&v->tab, app, i, RL_KIND, a, r->kind);
        table_cell(&v->tab, app, i, RL_RULE, a, r->text);
        snprintf(hits, sizeof(hits), "%zu", v->hits[v->order[i]]);
        table_cell(&v->tab, app, i, RL_HITS, a, r->on ? hits : "-");
        table_cell(&v->tab, app, i, RL_DEFAULT, a, r->is_default ? "*" : "");
    }
    half = (cols - left - 1) / 2;
    json_rows = list_rows - 6;
    if (json_rows < 4)
        json_rows = 4;
    app_put(app, y, left, half, app_attr(app, THEME_DIM), "original");
    app_put(app, y, left + half + 1, half, app_attr(app, THEME_DIM), "as it would be stored");
    for (int i = 0; i < json_rows && v->scroll + (size_t)i < v->n_pairs; i++) {
        const struct pair_line *p = &v->pairs[v->scroll + (size_t)i];
        app_put(app, y + 1 + i, left, half, app_attr(app, p->changed ? THEME_WARN : THEME_NORMAL),
                p->left);
        app_put(app, y + 1 + i, left + half + 1, half,
                app_attr(app, p->changed ? THEME_MATCH : THEME_NORMAL), p->right);
    }
    y += json_rows + 1;
    app_hline(app, y++, left, cols - left);
    if (v->error[0]) {
        app_put(app, y, left, cols - left, app_attr(app, THEME_ERROR), v->error);
        return;
    }
    snprintf(
        line, sizeof(line),
        " %zu field%s redacted  (* default rule; space toggles, a/A all on/off, n next change, "
        "o open file)",
        v->rep.fields, v->rep.fields == 1 ? "" : "s");
    app_put(app, y++, left, cols - left, app_attr(app, THEME_TABLE_HEADER), line);
    if (v->rep.n == 0 || y + 1 >= top + rows)
        return;
    /* The fields redacted and the rule that matched each. */
    v->fields_tab.cols = field_cols;
    v->fields_tab.n_cols = FL_COUNT;
    v->fields_tab.n_rows = v->rep.n;
    v->fields_tab.sort_key = -1;
    v->fields_tab.sel = 0;
    v->fields_tab.top = 0;
    v->fields_tab.x0 = left;
    table_layout(&v->fields_tab, y, top + rows - y - 1, cols - left);
    table_header(&v->fields_tab, app, cols - left);
    for (size_t i = 0; i < v->rep.n && table_row_y(&v->fields_tab, i) >= 0; i++) {
        table_cell(&v->fields_tab, app, i, FL_PATH, app_attr(app, THEME_NORMAL),
                   v->rep.items[i].path);
        table_cell(&v->fields_tab, app, i, FL_RULE, app_attr(app, THEME_NORMAL),
                   v->rep.items[i].rule);
    }
}

/* 'o': redact a JSON file. Every way the file can be unusable (missing,
 * unreadable, a directory, empty, too large, not JSON) ends in a message
 * naming it; the preview keeps what it showed. */
static void
open_file(struct app *app, struct redact_view *v, const char *path)
{
    struct intentus_err err = { 0 };
    cJSON *doc = NULL;
    size_t len = 0;
    /* The one safe open: a FIFO, device or symlink is refused, not waited on. */
    char *text = safe_file_read(path, OPEN_MAX_BYTES, &len, &err);

    if (text == NULL) {
        app_message(app, true, "%s", err.msg);
    } else if (len == 0) {
        app_message(app, true, "%s: empty file, nothing to redact", path);
    } else if ((doc = json_parse(text, len, 0, &err)) == NULL) {
        app_message(app, true, "%s: %s", path, err.msg);
    } else {
        /* A file that looks like a record is redacted as one. */
        bool rec = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "header")) &&
                   cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "envelope"));
        set_source(app, v, doc, rec, path);
    }
    free(text);
}

static void
on_open_done(struct app *app, void *ctx, bool ok)
{
    struct redact_view *v = ctx;

    if (ok && v->path[0] != '\0')
        open_file(app, v, v->path);
}

/* 'y' to turning rules off: arg is the rule's row, or "all". */
static void
rules_off_confirmed(struct app *app, void *ctx, const char *arg)
{
    struct redact_view *v = ctx;

    if (strcmp(arg, "all") == 0) {
        for (size_t i = 0; i < v->n_rules; i++)
            v->rules[i].on = false;
    } else {
        size_t i = (size_t)strtoul(arg, NULL, 10);
        if (i < v->n_rules)
            v->rules[i].on = false;
    }
    rerun(v);
    app->ui.dirty = true;
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): a flat switch, one case per key action.
 */
static unsigned
redact_handle(struct app *app, void *state, enum key_action act, const struct key_event *ev)
{
    struct redact_view *v = state;

    (void)ev;
    switch (act) {
    case ACT_RULE_TOGGLE: {
        char q[256], arg[24];
        size_t ri;
        if (v->n_rules == 0)
            return VIEW_HANDLED;
        ri = v->order[v->sel];
        if (!v->rules[ri].on) {
            v->rules[ri].on = true; /* turning a rule on redacts more: no question */
            rerun(v);
            return VIEW_HANDLED | VIEW_REDRAW;
        }
        /* Turning a rule off is what makes secrets land in records. */
        snprintf(q, sizeof(q),
                 "turn off the %s rule %.60s? A config without it records what it matches in "
                 "clear (y/n)",
                 v->rules[ri].kind, v->rules[ri].text);
        snprintf(arg, sizeof(arg), "%zu", ri);
        app_ask(app, q, arg, rules_off_confirmed, v);
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    case ACT_SORT:
    case ACT_SORT_REVERSE:
        if (act == ACT_SORT) {
            v->sort = (v->sort + 1) % RS_COUNT;
            v->sort_desc = false;
        } else {
            v->sort_desc = !v->sort_desc;
        }
        sort_rules(v);
        app_message(app, false, "rules sorted by %s%s", rule_sort_names[v->sort],
                    v->sort_desc ? " (reversed)" : "");
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_RULES_ON:
        for (size_t i = 0; i < v->n_rules; i++)
            v->rules[i].on = true;
        rerun(v);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_RULES_OFF:
        app_ask(app,
                "turn off every rule? A config without them records passwords, tokens and keys "
                "in clear (y/n)",
                "all", rules_off_confirmed, v);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_NEXT_CHANGE:
        for (size_t i = v->scroll + 1; i < v->n_pairs; i++) {
            if (v->pairs[i].changed) {
                v->scroll = i > 3 ? i - 3 : 0;
                return VIEW_HANDLED | VIEW_REDRAW;
            }
        }
        app_message(app, false, "no further redacted field");
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_OPEN_FILE:
        v->path[0] = '\0';
        app_prompt(app, "open JSON file: ", v->path, sizeof(v->path), NULL, on_open_done, v);
        return VIEW_HANDLED | VIEW_REDRAW;
    default:
        break;
    }
    switch (act) {
    case ACT_UP:
    case ACT_DOWN:
    case ACT_BOTTOM:
    case ACT_LEFT:
    case ACT_RIGHT:
        /* the rules' cursor, and h/l to the columns that do not fit */
        v->tab.n_rows = v->n_rules;
        v->tab.sel = v->sel;
        table_key(&v->tab, act);
        v->sel = v->tab.sel;
        break;
    case ACT_PAGE_DOWN:
        if (v->scroll + 10 < v->n_pairs)
            v->scroll += 10;
        break;
    case ACT_PAGE_UP:
        v->scroll = v->scroll > 10 ? v->scroll - 10 : 0;
        break;
    case ACT_TOP:
        v->scroll = 0;
        break;
    default:
        return 0;
    }
    return VIEW_HANDLED | VIEW_REDRAW;
}
/* NOLINTEND(readability-function-cognitive-complexity) */

/* A click: a rule's row moves the cursor there, a title sorts by it (again:
 * the other way round). */
static unsigned
redact_click(struct app *app, void *state, const struct key_event *ev)
{
    struct redact_view *v = state;
    int sort_key = -1;

    v->tab.n_rows = v->n_rules;
    switch (table_click(&v->tab, ev->y, ev->x, &sort_key)) {
    case 1:
        v->sel = v->tab.sel;
        return VIEW_HANDLED | VIEW_REDRAW;
    case 2:
        if (v->sort == sort_key) {
            v->sort_desc = !v->sort_desc;
        } else {
            v->sort = sort_key;
            v->sort_desc = false;
        }
        sort_rules(v);
        app_message(app, false, "rules sorted by %s%s", rule_sort_names[v->sort],
                    v->sort_desc ? " (reversed)" : "");
        return VIEW_HANDLED | VIEW_REDRAW;
    default:
        return 0;
    }
}

const struct view_ops view_redact = {
    .name = "Redact",
    .keyctx = KEYCTX_REDACT,
    .state_size = sizeof(struct redact_view),
    .open = NULL,
    .close = redact_close,
    .draw = redact_draw,
    .handle = redact_handle,
    .click = redact_click,
    .model_changed = NULL,
    .show = redact_show,
};
