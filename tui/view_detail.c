/* Execution detail: the header, the router decision, the events as a
 * timeline (attempts as bars on a time axis, fallbacks and circuit skips
 * marked, errors in the error colour), then the envelope, response and
 * events as foldable JSON with search. ] and [ step through records. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/diff.h"
#include "core/json.h"
#include "core/model.h"
#include "core/record.h"
#include "core/recovery.h"
#include "core/store.h"
#include "core/subtree.h"
#include "core/wal.h"
#include "core/wal_state.h"
#include "tui/app.h"
#include "tui/fmt.h"
#include "tui/query.h"
#include "watch/index_query.h"

enum dkind { DL_TEXT, DL_SECTION, DL_BAR, DL_JSON, DL_CLOSE, DL_PAIR, DL_SPAN };

struct dline {
    enum dkind kind;
    enum theme_elem elem;
    int depth;
    char *text;               /* DL_TEXT, DL_SECTION, DL_BAR label; DL_PAIR left side */
    char *text2;              /* DL_PAIR right side */
    const cJSON *node;        /* DL_JSON / DL_CLOSE */
    int64_t start_us, end_us; /* DL_BAR: offsets; DL_SPAN: from the tree's start; -1 unknown */
    long span_node;           /* DL_SPAN: the tree node it draws (its attempts too); -1: none */
    bool last;                /* DL_JSON: last member (no trailing comma) */
};

struct detail {
    /* What app_show asked for (the detail keys its state on want_id; a diff
     * gets its own "diff:A:B"). */
    char want_id[160];
    char diff_a[160], diff_b[160];
    bool diff_mode;
    char id[160];
    cJSON *rec;
    char error[512];
    struct dline *lines;
    size_t n, cap;
    size_t sel, top;
    int64_t span_us; /* timeline scale */
    const cJSON **folded;
    size_t n_folded, cap_folded;
    char search[128];
    int page_rows;
    /* Sub-intents: the tree the record belongs to (core/subtree.h), as a
     * Jaeger-style span view; NULL when it has neither parent nor children. */
    struct subtree *tree;
    bool *collapsed; /* per tree node: its children and attempts hidden */
    /* [ and ] on a store without an index of its own (postgres): the
     * Records screen's query the record was opened from (have_q; else
     * every record), and the creation time of step_id (the record last
     * opened or stepped to). */
    struct query q;
    bool have_q;
    char step_id[160];
    int64_t step_created_us;
};

static void
clear_lines(struct detail *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->lines[i].text);
        free(d->lines[i].text2);
    }
    d->n = 0;
}

static struct dline *add_line(struct detail *d, enum dkind kind, enum theme_elem elem,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct dline *
add_line(struct detail *d, enum dkind kind, enum theme_elem elem, const char *fmt, ...)
{
    struct dline *l;

    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 256;
        struct dline *p = realloc(d->lines, cap * sizeof(*p));
        if (p == NULL)
            return NULL;
        d->lines = p;
        d->cap = cap;
    }
    l = &d->lines[d->n++];
    memset(l, 0, sizeof(*l));
    l->kind = kind;
    l->elem = elem;
    l->start_us = l->end_us = -1;
    l->span_node = -1;
    if (fmt != NULL) {
        va_list ap;
        char buf[1024];
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        l->text = strdup(buf);
    }
    return l;
}

static bool
is_folded(const struct detail *d, const cJSON *node)
{
    for (size_t i = 0; i < d->n_folded; i++) {
        if (d->folded[i] == node)
            return true;
    }
    return false;
}

static void
toggle_fold(struct detail *d, const cJSON *node)
{
    for (size_t i = 0; i < d->n_folded; i++) {
        if (d->folded[i] == node) {
            d->folded[i] = d->folded[--d->n_folded];
            return;
        }
    }
    if (d->n_folded == d->cap_folded) {
        size_t cap = d->cap_folded ? d->cap_folded * 2 : 32;
        const cJSON **p = realloc(d->folded, cap * sizeof(*p));
        if (p == NULL)
            return;
        d->folded = p;
        d->cap_folded = cap;
    }
    d->folded[d->n_folded++] = node;
}

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
static void
add_json(struct detail *d, const cJSON *node, int depth, bool last)
{
    struct dline *l = add_line(d, DL_JSON, THEME_NORMAL, NULL);
    const cJSON *c;

    if (l == NULL)
        return;
    l->node = node;
    l->depth = depth;
    l->last = last;
    if ((cJSON_IsObject(node) || cJSON_IsArray(node)) && node->child != NULL &&
        !is_folded(d, node)) {
        cJSON_ArrayForEach(c, node) add_json(d, c, depth + 1, c->next == NULL);
        l = add_line(d, DL_CLOSE, THEME_NORMAL, NULL);
        if (l != NULL) {
            l->node = node;
            l->depth = depth;
            l->last = last;
        }
    }
}
/* NOLINTEND(misc-no-recursion) */

static const cJSON *
get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static int64_t
offset_of(const cJSON *ev)
{
    const cJSON *o = get(ev, "offsetUs");
    /* An offset no int64_t can hold (1e400 parses as inf) counts as absent. */
    return cJSON_IsNumber(o) && o->valuedouble >= 0 && o->valuedouble < 9223372036854775808.0
               ? (int64_t)o->valuedouble
               : -1;
}

/* A MODEL_CALL (core/subintent.h): model, provider, tokens, latency. */
static void
model_call_line(struct detail *d, const char *when, const char *agent, const cJSON *p)
{
    const cJSON *out = get(p, "output");
    const char *model = json_get_string(get(p, "input"), "model");
    const char *prov = json_get_string(p, "provider");
    long long in = -1, outn = -1, ms = -1;
    char figures[96] = "";
    size_t used = 0;

    json_get_int64(out, "inputTokens", &in);
    json_get_int64(out, "outputTokens", &outn);
    json_get_int64(out, "latencyMs", &ms);
    if (in >= 0 || outn >= 0)
        used += (size_t)snprintf(figures, sizeof(figures), "  tokens %lld in, %lld out",
                                 in >= 0 ? in : 0, outn >= 0 ? outn : 0);
    if (ms >= 0 && used < sizeof(figures)) {
        char lat[24];
        fmt_duration_us((int64_t)ms * 1000, lat, sizeof(lat));
        snprintf(figures + used, sizeof(figures) - used, "  %s", lat);
    }
    add_line(d, DL_TEXT, THEME_NORMAL, "  %8s  model call %s: %s%s%s%s", when, agent ? agent : "?",
             model ? model : "?", prov && prov[0] ? " @ " : "", prov ? prov : "", figures);
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): one pass over the events with a case per
 * event type. */
static void
build_timeline(struct detail *d)
{
    const cJSON *events = get(d->rec, "events"), *ev;
    bool timed = false;

    d->span_us = 1;
    cJSON_ArrayForEach(ev, events)
    {
        int64_t off = offset_of(ev);
        if (off >= 0) {
            timed = true;
            if (off > d->span_us)
                d->span_us = off;
        }
    }
    add_line(d, DL_SECTION, THEME_TABLE_HEADER, " Timeline%s",
             timed ? "" : "  (this writer recorded no timing: events in sequence order)");
    cJSON_ArrayForEach(ev, events)
    {
        const char *type = json_get_string(ev, "type");
        const cJSON *p = get(ev, "payload");
        const char *agent = json_get_string(p, "agent");
        long long seq = 0;
        int64_t off = offset_of(ev);
        char when[32];
        json_get_int64(ev, "seq", &seq);
        if (off >= 0)
            fmt_duration_us(off, when, sizeof(when));
        else
            snprintf(when, sizeof(when), "#%lld", seq);
        if (type == NULL)
            continue;
        if (strcmp(type, "AGENT_ATTEMPT_START") == 0) {
            /* Pair with the matching END to draw one bar per attempt. */
            const cJSON *end = NULL;
            for (const cJSON *e = ev->next; e != NULL && end == NULL; e = e->next) {
                const char *t = json_get_string(e, "type");
                if (t != NULL && strcmp(t, "AGENT_ATTEMPT_END") == 0 && agent != NULL &&
                    json_get_string(get(e, "payload"), "agent") != NULL &&
                    strcmp(json_get_string(get(e, "payload"), "agent"), agent) == 0)
                    end = e;
            }
            const char *st = end ? json_get_string(get(end, "payload"), "status") : NULL;
            const char *exc = end ? json_get_string(get(end, "payload"), "exception") : NULL;
            long long attempt = 0;
            char dur[24] = "";
            struct dline *l;
            json_get_int64(p, "attempt", &attempt);
            if (end != NULL && off >= 0 && offset_of(end) >= off)
                fmt_duration_us(offset_of(end) - off, dur, sizeof(dur));
            l = add_line(d, DL_BAR,
                         st == NULL              ? THEME_WARN
                         : strcmp(st, "ok") == 0 ? THEME_OK
                                                 : THEME_ERROR,
                         "  %8s  %-18.18s %-9s%s %-8s %s%s", when, agent ? agent : "?",
                         json_get_string(p, "strategy") ? json_get_string(p, "strategy") : "",
                         attempt > 0 ? "*" : " ", st ? st : "no end", dur, exc ? "  !" : "");
            if (l != NULL) {
                l->start_us = off;
                l->end_us = end != NULL ? offset_of(end) : -1;
            }
            if (exc != NULL)
                add_line(d, DL_TEXT, THEME_ERROR, "              exception: %s", exc);
            continue;
        }
        if (strcmp(type, "AGENT_ATTEMPT_END") == 0)
            continue; /* drawn with its START */
        if (strcmp(type, "FALLBACK_TRIGGERED") == 0)
            add_line(d, DL_TEXT, THEME_WARN, "  %8s  fallback %s -> %s", when,
                     json_get_string(p, "from") ? json_get_string(p, "from") : "?",
                     json_get_string(p, "to") ? json_get_string(p, "to") : "?");
        else if (strcmp(type, "CIRCUIT_OPEN_SKIPPED") == 0)
            add_line(d, DL_TEXT, THEME_CIRCUIT_OPEN, "  %8s  skipped %s: circuit %s", when,
                     agent ? agent : "?",
                     json_get_string(p, "state") ? json_get_string(p, "state") : "?");
        else if (strcmp(type, "CIRCUIT_STATE_CHANGE") == 0)
            add_line(d, DL_TEXT, THEME_CIRCUIT_HALF_OPEN, "  %8s  circuit %s: %s -> %s (%s)", when,
                     agent ? agent : "?",
                     json_get_string(p, "from") ? json_get_string(p, "from") : "?",
                     json_get_string(p, "to") ? json_get_string(p, "to") : "?",
                     json_get_string(p, "reason") ? json_get_string(p, "reason") : "");
        else if (strcmp(type, "ROUTER_DECISION") == 0)
            add_line(d, DL_TEXT, THEME_NORMAL, "  %8s  decision: %s (%s)", when,
                     agent ? agent : "?",
                     json_get_string(p, "reason") ? json_get_string(p, "reason") : "");
        else if (strcmp(type, "MODEL_CALL") == 0)
            model_call_line(d, when, agent, p);
        else if (strcmp(type, "SUB_INTENT") == 0)
            add_line(d, DL_TEXT,
                     json_get_string(p, "status") && strcmp(json_get_string(p, "status"), "ok") == 0
                         ? THEME_NORMAL
                         : THEME_ERROR,
                     "  %8s  sub-intent %s -> %s %s%s%s", when, agent ? agent : "?",
                     json_get_string(p, "intent") ? json_get_string(p, "intent") : "?",
                     json_get_string(p, "status") ? json_get_string(p, "status") : "?",
                     json_get_string(p, "errorCode") ? " " : "",
                     json_get_string(p, "errorCode") ? json_get_string(p, "errorCode") : "");
        else if (strcmp(type, "FINAL_RESPONSE") == 0)
            add_line(d, DL_TEXT, response_is_error(p) ? THEME_ERROR : THEME_OK,
                     "  %8s  final response: %s", when, response_is_error(p) ? "error" : "success");
        else
            add_line(d, DL_TEXT, THEME_DIM, "  %8s  %s%s%s", when, type, agent ? " " : "",
                     agent ? agent : "");
    }
}
/* NOLINTEND(readability-function-cognitive-complexity) */

/* ---- sub-intents: the tree as spans on one time axis ---- */

static bool
span_hidden(const struct detail *d, size_t i)
{
    for (long p = d->tree->nodes[i].parent; p >= 0; p = d->tree->nodes[p].parent)
        if (d->collapsed[p])
            return true;
    return false;
}

/* Node i's attempts, each a bar from its START to its END. */
static void
span_attempts(struct detail *d, size_t i, int64_t base)
{
    const struct subtree_node *n = &d->tree->nodes[i];
    const cJSON *ev;

    cJSON_ArrayForEach(ev, get(n->record, "events"))
    {
        const char *type = json_get_string(ev, "type");
        const char *agent = json_get_string(get(ev, "payload"), "agent");
        const cJSON *end = NULL;
        const char *st;
        char dur[24] = "";
        struct dline *l;
        if (type == NULL || strcmp(type, "AGENT_ATTEMPT_START") != 0 || agent == NULL)
            continue;
        for (const cJSON *e = ev->next; e != NULL && end == NULL; e = e->next) {
            const char *t = json_get_string(e, "type");
            const char *a = json_get_string(get(e, "payload"), "agent");
            if (t != NULL && strcmp(t, "AGENT_ATTEMPT_END") == 0 && a != NULL &&
                strcmp(a, agent) == 0)
                end = e;
        }
        st = end != NULL ? json_get_string(get(end, "payload"), "status") : NULL;
        if (end != NULL && offset_of(end) >= offset_of(ev) && offset_of(ev) >= 0)
            fmt_duration_us(offset_of(end) - offset_of(ev), dur, sizeof(dur));
        l = add_line(d, DL_SPAN,
                     st == NULL              ? THEME_WARN
                     : strcmp(st, "ok") == 0 ? THEME_DIM
                                             : THEME_ERROR,
                     "   %*s  attempt %-18.18s %-6s %s", n->depth * 2, "", agent,
                     st ? st : "no end", dur);
        if (l != NULL) {
            l->span_node = (long)i;
            l->start_us = offset_of(ev) >= 0 ? base + offset_of(ev) : -1;
            l->end_us = end != NULL && offset_of(end) >= 0 ? base + offset_of(end) : -1;
        }
    }
}

static void
build_spans(struct detail *d)
{
    const struct subtree *t = d->tree;

    if (t == NULL)
        return;
    add_line(d, DL_SECTION, THEME_TABLE_HEADER,
             " Sub-intents  %zu execution%s, trace %s  (Enter opens, z or Left/Right "
             "collapses/expands)",
             t->n, t->n == 1 ? "" : "s",
             json_get_string(get(get(t->nodes[0].record, "envelope"), "metadata"), "traceId")
                 ? json_get_string(get(get(t->nodes[0].record, "envelope"), "metadata"), "traceId")
                 : "?");
    for (size_t i = 0; i < t->n; i++) {
        const struct subtree_node *n = &t->nodes[i];
        int64_t base = subtree_start_us(t, i) - t->t0_us;
        bool has_more = n->n_children > 0 || n->sum.attempts > 0;
        char dur[24] = "?";
        struct dline *l;
        if (span_hidden(d, i))
            continue;
        if (n->sum.duration_us >= 0)
            fmt_duration_us(n->sum.duration_us, dur, sizeof(dur));
        l = add_line(d, DL_SPAN, n->sum.status == RECORD_OK ? THEME_OK : THEME_ERROR,
                     " %s%*s%s %-16.16s %-12.12s %s%s%s %s", i == t->focus ? ">" : " ",
                     n->depth * 2, "",
                     !has_more         ? " "
                     : d->collapsed[i] ? "+"
                                       : "-",
                     n->sum.intent ? n->sum.intent : "?", n->sum.agent ? n->sum.agent : "-",
                     record_status_name(n->sum.status), n->sum.error_code ? " " : "",
                     n->sum.error_code ? n->sum.error_code : "", dur);
        if (l != NULL) {
            l->span_node = (long)i;
            l->start_us = base;
            l->end_us = subtree_end_us(t, i) - t->t0_us;
        }
        if (!d->collapsed[i])
            span_attempts(d, i, base);
    }
    add_line(d, DL_TEXT, THEME_NORMAL, " ");
}

static cJSON *
tree_load(void *app, const char *id, struct intentus_err *err)
{
    return app_load_record(app, id, err);
}

/* The tree of d->rec, when it belongs to one. */
static void
load_tree(struct app *app, struct detail *d)
{
    subtree_free(d->tree);
    free(d->collapsed);
    d->tree = NULL;
    d->collapsed = NULL;
    if (d->rec == NULL || !subtree_is_member(d->rec))
        return;
    d->tree = subtree_build(tree_load, app, d->id, NULL);
    if (d->tree != NULL && (d->collapsed = calloc(d->tree->n, sizeof(bool))) == NULL) {
        subtree_free(d->tree);
        d->tree = NULL;
    }
}

/* The execution's WAL entries next to the events, with the chain check and
 * the record <-> WAL consistency, when the runtime keeps a WAL. */
static void
build_wal(struct app *app, struct detail *d)
{
    struct wal_log log;
    const cJSON *e;
    cJSON *violations = NULL;
    struct intentus_err err = { 0 };

    if (app_load_wal(app, d->id, &log) != 0)
        return;
    add_line(d, DL_SECTION, THEME_TABLE_HEADER, " Write-ahead log  (%s)", app_wal_dir(app));
    if (log.status == WAL_MISSING) {
        add_line(d, DL_TEXT, THEME_DIM,
                 "   no WAL for this execution (written before the WAL "
                 "was on, or by another writer)");
        wal_log_free(&log);
        add_line(d, DL_TEXT, THEME_NORMAL, " ");
        return;
    }
    if (log.status == WAL_OK && log.is_signed)
        /* The console checks no signatures: say so, never "verified". */
        add_line(d, DL_TEXT, THEME_WARN,
                 "   chain intact: %zu entries, state %s; signed by key %s, signatures not "
                 "checked here (intentus wal verify ID --public-key FILE)",
                 log.n_entries, wal_state_name(wal_state_reconstruct(log.entries)), log.key_id);
    else if (log.status == WAL_OK)
        add_line(d, DL_TEXT, THEME_OK, "   chain verified: %zu entries, state %s", log.n_entries,
                 wal_state_name(wal_state_reconstruct(log.entries)));
    else
        add_line(d, DL_TEXT, THEME_ERROR, "   %s: %s", wal_check_name(log.status), log.problem);
    violations = cJSON_CreateArray();
    if (violations != NULL &&
        recovery_check_record(app_wal_dir(app), d->id, d->rec, NULL, violations, &err) > 0) {
        const cJSON *v;
        cJSON_ArrayForEach(v, violations)
        {
            const char *t = json_get_string(v, "type");
            const char *m = json_get_string(v, "message");
            add_line(d, DL_TEXT, THEME_ERROR, "   record <-> WAL: %s%s%s", t ? t : "violation",
                     m ? ": " : "", m ? m : "");
        }
    } else if (violations != NULL) {
        add_line(d, DL_TEXT, THEME_OK, "   record and WAL agree");
    }
    cJSON_Delete(violations);
    cJSON_ArrayForEach(e, log.entries)
    {
        long long seq = 0;
        const char *type = json_get_string(e, "entry_type");
        const char *ts = json_get_string(e, "timestamp_iso");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "payload");
        const char *what = json_get_string(p, "step_id");
        json_get_int64(e, "seq", &seq);
        if (what == NULL)
            what = json_get_string(p, "to_agent");
        add_line(d, DL_TEXT,
                 type != NULL && (strstr(type, "failed") || strstr(type, "aborted")) ? THEME_ERROR
                                                                                     : THEME_NORMAL,
                 "   %3lld  %-26s %s  %s", seq, type ? type : "?", ts ? ts + 11 : "",
                 what ? what : "");
    }
    wal_log_free(&log);
    add_line(d, DL_TEXT, THEME_NORMAL, " ");
}

static void
build(struct app *app, struct detail *d)
{
    const cJSON *h, *dec, *fin;
    struct intentus_err err = { 0 };
    struct record_summary s;
    char dur[24];

    clear_lines(d);
    if (d->rec == NULL) {
        add_line(d, DL_TEXT, d->error[0] ? THEME_ERROR : THEME_DIM, " %s",
                 d->error[0] ? d->error
                             : "no record selected: pick one on the Records screen (Enter)");
        return;
    }
    record_summarize(d->rec, &s);
    h = get(d->rec, "header");
    dec = get(d->rec, "routerDecision");
    fin = get(d->rec, "finalResponse");
    fmt_duration_us(s.duration_us, dur, sizeof(dur));
    add_line(d, DL_SECTION, THEME_TABLE_HEADER, " Execution %s", s.id ? s.id : "?");
    add_line(d, DL_TEXT, THEME_NORMAL, "   intent     %s   strategy %s   created %s",
             s.intent ? s.intent : "?", s.strategy, s.created ? s.created : "?");
    add_line(d, DL_TEXT, s.status == RECORD_OK ? THEME_OK : THEME_ERROR,
             "   outcome    %s%s%s%s%s   duration %s   attempts %d", record_status_name(s.status),
             s.error_code ? "  " : "", s.error_code ? s.error_code : "",
             s.error_message ? ": " : "", s.error_message ? s.error_message : "", dur, s.attempts);
    if (record_verify_hash(d->rec, &err) == 0)
        add_line(d, DL_TEXT, THEME_OK, "   hash       envelopeHash verified (%.16s...)",
                 json_get_string(h, "envelopeHash"));
    else
        add_line(d, DL_TEXT, THEME_ERROR, "   hash       %s", err.msg);
    if (cJSON_IsObject(dec))
        add_line(d, DL_TEXT, THEME_NORMAL, "   decision   %s: %s",
                 json_get_string(dec, "agent") ? json_get_string(dec, "agent") : "?",
                 json_get_string(dec, "reason") ? json_get_string(dec, "reason") : "");
    else
        add_line(d, DL_TEXT, THEME_DIM, "   decision   none (failed before an agent was chosen)");
    add_line(d, DL_TEXT, THEME_NORMAL, " ");
    build_spans(d);
    build_timeline(d);
    add_line(d, DL_TEXT, THEME_NORMAL, " ");
    build_wal(app, d);
    add_line(d, DL_SECTION, THEME_TABLE_HEADER, " Response  (z folds, Z folds all, U unfolds)");
    add_json(d, fin, 1, true);
    add_line(d, DL_SECTION, THEME_TABLE_HEADER, " Envelope");
    add_json(d, get(d->rec, "envelope"), 1, true);
    add_line(d, DL_SECTION, THEME_TABLE_HEADER, " Events");
    add_json(d, get(d->rec, "events"), 1, true);
    (void)app;
}

/* Two marked records side by side: per section whether it changed, then
 * every change with its JSON path, A's value on the left, B's on the right. */
static void
build_diff(struct app *app, struct detail *d)
{
    struct intentus_err err = { 0 };
    cJSON *a = app_load_record(app, d->diff_a, &err), *b = NULL;
    struct diff_result r = { 0 };

    clear_lines(d);
    if (a != NULL)
        b = app_load_record(app, d->diff_b, &err);
    if (a == NULL || b == NULL || diff_records(a, b, &r, &err) != 0) {
        add_line(d, DL_TEXT, THEME_ERROR, " cannot diff: %s", err.msg);
        cJSON_Delete(a);
        cJSON_Delete(b);
        return;
    }
    add_line(d, DL_SECTION, THEME_TABLE_HEADER, " Diff  A %s   B %s", d->diff_a, d->diff_b);
    add_line(d, DL_TEXT, r.router_decision_changed ? THEME_WARN : THEME_OK, "   router decision %s",
             r.router_decision_changed ? "changed" : "the same");
    add_line(d, DL_TEXT, r.final_response_changed ? THEME_WARN : THEME_OK, "   final response  %s",
             r.final_response_changed ? "changed" : "the same");
    for (size_t i = 0; i < r.n_sections; i++) {
        const struct diff_section *sec = &r.sections[i];
        add_line(d, DL_TEXT, sec->identical ? THEME_OK : THEME_WARN, "   %-9s %s  %s   %s",
                 sec->name, sec->hash_a, sec->hash_b, sec->identical ? "identical" : "differs");
    }
    add_line(d, DL_TEXT, THEME_NORMAL, " ");
    add_line(d, DL_SECTION, THEME_TABLE_HEADER, " %zu change%s   (left: A, right: B)", r.n,
             r.n == 1 ? "" : "s");
    for (size_t i = 0; i < r.n; i++) {
        const struct diff_entry *e = &r.items[i];
        struct dline *l;
        add_line(d, DL_TEXT,
                 e->kind == DIFF_REMOVED ? THEME_ERROR
                 : e->kind == DIFF_ADDED ? THEME_OK
                                         : THEME_WARN,
                 "   %-7s %s%s", diff_kind_name(e->kind), e->section ? e->section : "", e->path);
        l = add_line(d, DL_PAIR, THEME_NORMAL, "%s", e->left ? e->left : "");
        if (l != NULL)
            l->text2 = strdup(e->right ? e->right : "");
    }
    diff_result_free(&r);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

static void
load(struct app *app, struct detail *d)
{
    struct intentus_err err = { 0 };

    cJSON_Delete(d->rec);
    d->rec = NULL;
    d->error[0] = '\0';
    d->n_folded = 0;
    d->sel = d->top = 0;
    snprintf(d->id, sizeof(d->id), "%s", d->want_id);
    if (d->diff_mode) {
        build_diff(app, d);
        return;
    }
    if (d->id[0] != '\0') {
        d->rec = app_load_record(app, d->id, &err);
        if (d->rec == NULL)
            snprintf(d->error, sizeof(d->error), "cannot show %s: %s", d->id, err.msg);
    }
    load_tree(app, d);
    build(app, d);
}

static void
detail_close(void *state)
{
    struct detail *d = state;

    clear_lines(d);
    free(d->lines);
    free(d->folded);
    cJSON_Delete(d->rec);
    subtree_free(d->tree);
    free(d->collapsed);
}

/* Shown on a record, or on two to diff. */
static void
detail_show(struct app *app, void *state, const struct view_arg *arg)
{
    struct detail *d = state;

    (void)app;
    if (arg->id == NULL)
        return;
    d->diff_mode = arg->id_b != NULL;
    if (d->diff_mode) {
        snprintf(d->diff_a, sizeof(d->diff_a), "%s", arg->id);
        snprintf(d->diff_b, sizeof(d->diff_b), "%s", arg->id_b);
        snprintf(d->want_id, sizeof(d->want_id), "diff:%.70s:%.70s", arg->id, arg->id_b);
    } else {
        snprintf(d->want_id, sizeof(d->want_id), "%s", arg->id);
    }
    d->have_q = !d->diff_mode && arg->q != NULL;
    if (d->have_q) {
        query_copy(&d->q, arg->q);
        snprintf(d->step_id, sizeof(d->step_id), "%s", arg->id);
        d->step_created_us = arg->created_us;
    } else {
        d->step_id[0] = '\0';
    }
}

static void
detail_model_changed(struct app *app, void *state)
{
    struct detail *d = state;

    /* Only a change of record reloads; new records elsewhere do not. */
    if (strcmp(d->id, d->want_id) != 0)
        load(app, d);
}

static void
json_text(const struct dline *l, struct buf *b)
{
    const cJSON *n = l->node;
    bool container = cJSON_IsObject(n) || cJSON_IsArray(n);

    buf_reset(b);
    for (int i = 0; i < l->depth; i++)
        buf_puts(b, "  ");
    if (l->kind == DL_CLOSE) {
        buf_puts(b, cJSON_IsObject(n) ? "}" : "]");
        if (!l->last)
            buf_putc(b, ',');
        return;
    }
    if (n->string != NULL && n->string[0] != '\0') {
        buf_printf(b, "\"%s\": ", n->string);
    }
    if (container) {
        int count = cJSON_GetArraySize(n);
        if (n->child == NULL)
            buf_puts(b, cJSON_IsObject(n) ? "{}" : "[]");
        else if (l->node != NULL && l->kind == DL_JSON && l[1].kind != DL_JSON &&
                 l[1].kind != DL_CLOSE)
            buf_printf(b, "%s ... %d %s %s", cJSON_IsObject(n) ? "{" : "[", count,
                       cJSON_IsObject(n) ? "keys" : "items", cJSON_IsObject(n) ? "}" : "]");
        else
            buf_puts(b, cJSON_IsObject(n) ? "{" : "[");
    } else {
        struct buf v = BUF_INIT;
        if (json_print_compact(n, &v) == 0)
            buf_append(b, v.data, v.len);
        buf_free(&v);
    }
    if (!l->last && !(container && n->child != NULL))
        buf_putc(b, ',');
}

static enum theme_elem
json_elem(const cJSON *n)
{
    if (cJSON_IsString(n))
        return THEME_JSON_STRING;
    if (cJSON_IsNumber(n))
        return THEME_JSON_NUMBER;
    if (cJSON_IsBool(n) || cJSON_IsNull(n))
        return THEME_JSON_LITERAL;
    return THEME_NORMAL;
}

static bool
folded_line(const struct detail *d, size_t i)
{
    return d->lines[i].kind == DL_JSON && d->lines[i].node->child != NULL &&
           is_folded(d, d->lines[i].node);
}

static void
line_text(const struct detail *d, size_t i, struct buf *b)
{
    const struct dline *l = &d->lines[i];

    if (l->kind == DL_JSON || l->kind == DL_CLOSE) {
        json_text(l, b);
        if (folded_line(d, i)) {
            /* json_text cannot see the fold (it looks at the next line); say it. */
            const cJSON *n = l->node;
            buf_reset(b);
            for (int k = 0; k < l->depth; k++)
                buf_puts(b, "  ");
            if (n->string != NULL && n->string[0] != '\0')
                buf_printf(b, "\"%s\": ", n->string);
            buf_printf(b, "%s ... %d %s %s%s", cJSON_IsObject(n) ? "{" : "[", cJSON_GetArraySize(n),
                       cJSON_IsObject(n) ? "keys" : "items", cJSON_IsObject(n) ? "}" : "]",
                       l->last ? "" : ",");
        }
        return;
    }
    buf_reset(b);
    buf_puts(b, l->text != NULL ? l->text : "");
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): a flat draw routine, one block per
 * section. */
static void
detail_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct detail *d = state;
    struct buf b = BUF_INIT;
    int bar_x = 60, bar_w = cols - bar_x - 2;

    if (strcmp(d->id, d->want_id) != 0 || (d->rec == NULL && d->n == 0))
        load(app, d);
    d->page_rows = rows;
    if (d->sel >= d->n)
        d->sel = d->n ? d->n - 1 : 0;
    if (d->sel < d->top)
        d->top = d->sel;
    if (d->sel >= d->top + (size_t)rows)
        d->top = d->sel - (size_t)rows + 1;
    for (int i = 0; i < rows && d->top + (size_t)i < d->n; i++) {
        size_t li = d->top + (size_t)i;
        const struct dline *l = &d->lines[li];
        bool sel = li == d->sel;
        attr_t a = app_attr(app, l->kind == DL_JSON ? json_elem(l->node) : l->elem);
        int y = top + i;
        line_text(d, li, &b);
        if (sel) {
            a = app_attr(app, THEME_SELECTION);
            app_fill(app, y, 0, cols, a);
        }
        if (!sel && d->search[0] && b.data && strcasestr(b.data, d->search) != NULL)
            a = app_attr(app, THEME_MATCH);
        if (l->kind == DL_PAIR) {
            int half = (cols - 6) / 2;
            app_put(app, y, 5, half, sel ? a : app_attr(app, THEME_JSON_STRING),
                    l->text ? l->text : "");
            app_put(app, y, 6 + half, half, sel ? a : app_attr(app, THEME_MATCH),
                    l->text2 ? l->text2 : "");
            continue;
        }
        if (l->kind == DL_JSON && !sel && l->node->string != NULL &&
            !(cJSON_IsObject(l->node) || cJSON_IsArray(l->node))) {
            /* Key in the key colour, value in its type's colour. */
            int indent = l->depth * 2, keyw = (int)fmt_width(l->node->string) + 4;
            app_put(app, y, indent, keyw, app_attr(app, THEME_JSON_KEY), b.data + indent);
            app_put(app, y, indent + keyw, cols - indent - keyw, a, b.data + indent + keyw);
        } else {
            app_put(app, y, 0, l->kind == DL_BAR || l->kind == DL_SPAN ? bar_x - 1 : cols, a,
                    b.data ? b.data : "");
        }
        if ((l->kind == DL_BAR || l->kind == DL_SPAN) && bar_w > 10 && l->start_us >= 0) {
            /* Spans share the tree's axis, attempts bars the record's. */
            int64_t span = l->kind == DL_SPAN && d->tree != NULL ? d->tree->t1_us - d->tree->t0_us
                                                                 : d->span_us;
            int x0 = (int)(l->start_us * (int64_t)bar_w / (span + 1));
            int x1 = l->end_us >= 0 ? (int)(l->end_us * (int64_t)bar_w / (span + 1)) : x0;
            if (x0 >= bar_w)
                x0 = bar_w - 1;
            if (x1 > bar_w)
                x1 = bar_w;
            attr_t ba = app_attr(app, l->elem == THEME_ERROR ? THEME_BAR_ERROR : THEME_BAR);
            if (x1 <= x0)
                x1 = x0 + 1;
            attrset(ba);
            mvhline(y, bar_x + x0, app->ui.ascii ? '=' : ' ', x1 - x0);
            attrset(A_NORMAL);
        }
    }
    buf_free(&b);
}
/* NOLINTEND(readability-function-cognitive-complexity) */

static void
copy_id(struct app *app, const char *id)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char out[256];
    size_t n = strlen(id), o = 0;

    /* OSC 52 asks the terminal (even across SSH) to put text on the clipboard. */
    for (size_t i = 0; i < n && o + 5 < sizeof(out); i += 3) {
        unsigned v = (unsigned)(unsigned char)id[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)id[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)id[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = (char)(i + 1 < n ? b64[(v >> 6) & 63] : '=');
        out[o++] = (char)(i + 2 < n ? b64[v & 63] : '=');
    }
    out[o] = '\0';
    fprintf(stdout, "\033]52;c;%s\a", out);
    fflush(stdout);
    app_message(app, false, "copied %s to the clipboard (OSC 52)", id);
}

struct step_hit {
    const char *id; /* the record to find, or (with dir) to step from */
    int64_t from_us;
    int dir;
    char found[160];
    int64_t created_us;
};

/* The row of h->id; with h->dir, the first row past (from_us, id) in time
 * order (creation time, then id) in that direction. */
static int
step_row(void *ctx, const struct digest *dg)
{
    struct step_hit *h = ctx;

    if (h->dir == 0 && strcmp(dg->id, h->id) != 0)
        return 0;
    if (h->dir > 0 && dg->created_us == h->from_us && strcmp(dg->id, h->id) <= 0)
        return 0;
    if (h->dir < 0 && dg->created_us == h->from_us && strcmp(dg->id, h->id) >= 0)
        return 0;
    snprintf(h->found, sizeof(h->found), "%s", dg->id);
    h->created_us = dg->created_us;
    return 1;
}

/* With the persistent index: the neighbour in time order is a query (the
 * window in memory may not hold it). The creation time of the record shown
 * comes from its row (the id as the search text matches that row). */
static void
step_record_db(struct app *app, struct detail *d, int dir)
{
    struct step_hit cur = { .id = d->id }, next = { .id = d->id, .dir = dir };
    struct index_filter f = { .text = d->id };

    if (index_query_select(app->model.db, &f, true, 0, step_row, &cur, NULL) < 0 ||
        cur.found[0] == '\0')
        return;
    memset(&f, 0, sizeof(f));
    next.from_us = cur.created_us;
    if (dir > 0)
        f.since_us = cur.created_us;
    else
        f.until_us = cur.created_us + 1;
    if (index_query_select(app->model.db, &f, dir < 0, 0, step_row, &next, NULL) < 0)
        return;
    if (next.found[0] == '\0') {
        app_message(app, false,
                    dir > 0 ? "this is the newest record" : "this is the oldest record");
        return;
    }
    snprintf(d->want_id, sizeof(d->want_id), "%s", next.found);
    load(app, d);
}

/* A row of the engine's answer: the one of h->id, or (with h->dir) the
 * first. */
static int
store_step_row(void *ctx, const struct store_row *row)
{
    struct step_hit *h = ctx;

    if (h->dir == 0 && strcmp(row->id, h->id) != 0)
        return 0;
    snprintf(h->found, sizeof(h->found), "%s", row->id);
    h->created_us = row->created_us;
    return 1;
}

/* Whether f selects fewer than every record. */
static bool
filter_set(const struct index_filter *f)
{
    return f->intent != NULL || f->agent != NULL || f->status != NULL || f->error_code != NULL ||
           (f->text != NULL && f->text[0] != '\0') || f->since_us != 0 || f->until_us != 0 ||
           f->failed_agent != NULL;
}

/* On a store without an index of its own (postgres): the neighbour in time
 * order among the records of the query the record was opened from (every
 * record without one) is the engine's, keyset-paged from (creation time,
 * id), so stepping goes on past the window held in memory. On the
 * console's connection, as the record itself is read. */
static void
step_record_store(struct app *app, struct detail *d, int dir)
{
    struct intentus_err err = { 0 };
    const struct index_filter *f = d->have_q ? &d->q.filter : NULL;
    struct store_filter sf = { 0 };
    struct step_hit next = { .id = d->id, .dir = dir };
    struct store_query q = {
        .filter = &sf, .newest_first = dir < 0, .limit = 1, .after_id = d->id
    };
    struct index_view v;
    long rc;

    if (d->id[0] == '\0' || d->diff_mode)
        return;
    if (f != NULL)
        sf = (struct store_filter){ .intent = f->intent,
                                    .agent = f->agent,
                                    .status = f->status,
                                    .error_code = f->error_code,
                                    .text = f->text,
                                    .since_us = f->since_us,
                                    .until_us = f->until_us,
                                    .failed_agent = f->failed_agent };
    if (strcmp(d->step_id, d->id) == 0) {
        q.after_created_us = d->step_created_us;
    } else if (index_find(app->model.ix, d->id, &v) == 0) {
        q.after_created_us = v.created_us;
    } else {
        /* Opened another way (a sub-intent of the tree): its row. */
        struct store_filter byid = { .text = d->id };
        struct store_query qi = { .filter = &byid };
        struct step_hit cur = { .id = d->id };
        if (store_query(app->model.rstore, &qi, store_step_row, &cur, &err) < 0) {
            app_message(app, true, "records from %s: %s", app->model.store_url, err.msg);
            return;
        }
        if (cur.found[0] == '\0')
            return;
        q.after_created_us = cur.created_us;
    }
    rc = store_query(app->model.rstore, &q, store_step_row, &next, &err);
    if (rc < 0) {
        app_message(app, true, "records from %s: %s", app->model.store_url, err.msg);
        return;
    }
    if (next.found[0] == '\0') {
        bool filtered = f != NULL && filter_set(f);
        app_message(app, false, "this is the %s record%s", dir > 0 ? "newest" : "oldest",
                    filtered ? " the filter selects" : "");
        return;
    }
    snprintf(d->step_id, sizeof(d->step_id), "%s", next.found);
    d->step_created_us = next.created_us;
    snprintf(d->want_id, sizeof(d->want_id), "%s", next.found);
    load(app, d);
}

static void
step_record(struct app *app, struct detail *d, int dir)
{
    struct index_view v;
    size_t n = index_size(app->model.ix);

    if (app->model.db != NULL) {
        step_record_db(app, d, dir);
        return;
    }
    if (app->model.rstore != NULL) {
        step_record_store(app, d, dir);
        return;
    }
    if (d->id[0] == '\0' || index_find(app->model.ix, d->id, &v) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct index_view w;
        index_get(app->model.ix, i, &w);
        if (strcmp(w.id, d->id) == 0) {
            /* ] goes to the next newer record, [ to the older one. */
            if ((dir > 0 && i + 1 < n) || (dir < 0 && i > 0)) {
                index_get(app->model.ix, dir > 0 ? i + 1 : i - 1, &w);
                snprintf(d->want_id, sizeof(d->want_id), "%s", w.id);
                load(app, d);
            } else {
                app_message(app, false,
                            dir > 0 ? "this is the newest record" : "this is the oldest record");
            }
            return;
        }
    }
}

static void
find_match(struct app *app, struct detail *d, int dir)
{
    struct buf b = BUF_INIT;

    for (size_t step = 1; step <= d->n; step++) {
        size_t i = dir > 0 ? (d->sel + step) % d->n : (d->sel + d->n - step % d->n) % d->n;
        line_text(d, i, &b);
        if (b.data != NULL && strcasestr(b.data, d->search) != NULL) {
            d->sel = i;
            buf_free(&b);
            return;
        }
    }
    buf_free(&b);
    app_message(app, true, "'%s' not found", d->search);
}

static void
on_search_done(struct app *app, void *ctx, bool ok)
{
    struct detail *d = ctx;

    if (ok && d->search[0] != '\0')
        find_match(app, d, 1);
}

/* On a span: Enter opens that execution here, z / Left / Right collapse
 * and expand its children and attempts. True when the key was taken. */
static bool
span_key(struct app *app, struct detail *d, enum key_action act)
{
    size_t node;
    const char *id;
    bool *c;

    if (d->tree == NULL || d->sel >= d->n || d->lines[d->sel].kind != DL_SPAN ||
        d->lines[d->sel].span_node < 0 || (size_t)d->lines[d->sel].span_node >= d->tree->n)
        return false;
    node = (size_t)d->lines[d->sel].span_node;
    id = d->tree->nodes[node].sum.id;
    c = &d->collapsed[node];

    if (act == ACT_OPEN) {
        if (id != NULL && strcmp(id, d->id) != 0) {
            snprintf(d->want_id, sizeof(d->want_id), "%s", id);
            load(app, d);
        }
        return true;
    }
    if (act != ACT_TOGGLE_FOLD && act != ACT_LEFT && act != ACT_RIGHT)
        return false;
    if ((act == ACT_LEFT && *c) || (act == ACT_RIGHT && !*c))
        return true;
    *c = !*c;
    build(app, d);
    for (size_t i = 0; i < d->n; i++) {
        if (d->lines[i].kind == DL_SPAN && d->lines[i].span_node == (long)node) {
            d->sel = i;
            break;
        }
    }
    return true;
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): a flat switch, one case per key action.
 */
static unsigned
detail_handle(struct app *app, void *state, enum key_action act, const struct key_event *ev)
{
    struct detail *d = state;
    size_t page = d->page_rows > 1 ? (size_t)d->page_rows - 1 : 1;
    const struct dline *l = d->n ? &d->lines[d->sel] : NULL;

    (void)ev;
    if (span_key(app, d, act))
        return VIEW_HANDLED | VIEW_REDRAW;
    switch (act) {
    case ACT_UP:
        if (d->sel > 0)
            d->sel--;
        break;
    case ACT_DOWN:
        if (d->sel + 1 < d->n)
            d->sel++;
        break;
    case ACT_PAGE_UP:
        d->sel = d->sel > page ? d->sel - page : 0;
        break;
    case ACT_PAGE_DOWN:
        d->sel = d->sel + page < d->n ? d->sel + page : (d->n ? d->n - 1 : 0);
        break;
    case ACT_TOP:
        d->sel = 0;
        break;
    case ACT_BOTTOM:
        d->sel = d->n ? d->n - 1 : 0;
        break;
    case ACT_TOGGLE_FOLD:
    case ACT_OPEN:
    case ACT_LEFT:
    case ACT_RIGHT:
        if (l != NULL && (l->kind == DL_JSON || l->kind == DL_CLOSE) && l->node->child != NULL &&
            (cJSON_IsObject(l->node) || cJSON_IsArray(l->node))) {
            const cJSON *node = l->node;
            bool folded = is_folded(d, node);
            if ((act == ACT_LEFT && folded) || (act == ACT_RIGHT && !folded))
                break;
            toggle_fold(d, node);
            build(app, d);
            for (size_t i = 0; i < d->n; i++) {
                if (d->lines[i].kind == DL_JSON && d->lines[i].node == node)
                    d->sel = i;
            }
        }
        break;
    case ACT_FOLD_ALL:
    case ACT_UNFOLD_ALL:
        d->n_folded = 0;
        if (act == ACT_FOLD_ALL) {
            for (size_t i = 0; i < d->n; i++) {
                const struct dline *x = &d->lines[i];
                if (x->kind == DL_JSON && x->depth >= 2 && x->node->child != NULL)
                    toggle_fold(d, x->node);
            }
        }
        build(app, d);
        d->sel = 0;
        break;
    case ACT_SECTION:
        for (size_t i = d->sel + 1; i < d->n; i++) {
            if (d->lines[i].kind == DL_SECTION) {
                d->sel = i;
                d->top = i;
                break;
            }
        }
        break;
    case ACT_SEARCH:
        app_prompt(app, "search: ", d->search, sizeof(d->search), NULL, on_search_done, d);
        break;
    case ACT_NEXT_MATCH:
    case ACT_PREV_MATCH:
        if (d->search[0] != '\0')
            find_match(app, d, act == ACT_NEXT_MATCH ? 1 : -1);
        break;
    case ACT_NEXT_RECORD:
        step_record(app, d, 1);
        break;
    case ACT_PREV_RECORD:
        step_record(app, d, -1);
        break;
    case ACT_COPY_ID:
        if (d->id[0] != '\0' && !d->diff_mode)
            copy_id(app, d->id);
        break;
    default:
        return 0;
    }
    return VIEW_HANDLED | VIEW_REDRAW;
}
/* NOLINTEND(readability-function-cognitive-complexity) */

const struct view_ops view_detail = {
    .name = "Detail",
    .keyctx = KEYCTX_DETAIL,
    .state_size = sizeof(struct detail),
    .open = NULL,
    .close = detail_close,
    .draw = detail_draw,
    .handle = detail_handle,
    .model_changed = detail_model_changed,
    .show = detail_show,
};
