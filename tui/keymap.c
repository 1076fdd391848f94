#include "tui/keymap.h"

#include <stdio.h>
#include <string.h>

#include "tui/curses_shim.h"

static const char *const action_text[] = {
#define X(sym, group, desc) desc,
    KEYMAP_ACTIONS(X)
#undef X
};

static const char *const action_group[] = {
#define X(sym, group, desc) group,
    KEYMAP_ACTIONS(X)
#undef X
};

#define CTRL(c) ((c)&0x1f)

/* Every binding, visible on one screen. */
static const struct key_binding bindings[] = {
    { KEYCTX_GLOBAL, 'Q', "Q", ACT_QUIT },
    { KEYCTX_GLOBAL, 'q', "q", ACT_BACK },
    { KEYCTX_GLOBAL, 27, "Esc", ACT_BACK },
    { KEYCTX_GLOBAL, '?', "?", ACT_HELP },
    { KEYCTX_GLOBAL, 'f', "f", ACT_SCREEN_FIRE },
    { KEYCTX_GLOBAL, '1', "1", ACT_SCREEN_DASHBOARD },
    { KEYCTX_GLOBAL, '2', "2", ACT_SCREEN_RECORDS },
    { KEYCTX_GLOBAL, '3', "3", ACT_SCREEN_DETAIL },
    { KEYCTX_GLOBAL, '4', "4", ACT_SCREEN_FIRE },
    { KEYCTX_GLOBAL, '5', "5", ACT_SCREEN_REDACT },
    { KEYCTX_GLOBAL, '6', "6", ACT_SCREEN_RETENTION },
    { KEYCTX_GLOBAL, '7', "7", ACT_SCREEN_HELP },
    { KEYCTX_GLOBAL, 'R', "R", ACT_RELOAD },
    { KEYCTX_GLOBAL, '\t', "Tab", ACT_NEXT_SCREEN },
    { KEYCTX_GLOBAL, 't', "t", ACT_THEME },
    { KEYCTX_GLOBAL, 'p', "p", ACT_PAUSE },
    { KEYCTX_GLOBAL, CTRL('l'), "^L", ACT_REDRAW },
    { KEYCTX_GLOBAL, 'T', "T", ACT_DEMO_TRAFFIC },
    { KEYCTX_GLOBAL, ':', ":", ACT_COMMAND },
    { KEYCTX_GLOBAL, 'M', "M", ACT_MOUSE },
    { KEYCTX_LIST, KEY_UP, "Up", ACT_UP },
    { KEYCTX_LIST, 'k', "k", ACT_UP },
    { KEYCTX_LIST, KEY_DOWN, "Down", ACT_DOWN },
    { KEYCTX_LIST, 'j', "j", ACT_DOWN },
    { KEYCTX_LIST, KEY_PPAGE, "PgUp", ACT_PAGE_UP },
    { KEYCTX_LIST, CTRL('b'), "^B", ACT_PAGE_UP },
    { KEYCTX_LIST, KEY_NPAGE, "PgDn", ACT_PAGE_DOWN },
    { KEYCTX_LIST, CTRL('f'), "^F", ACT_PAGE_DOWN },
    { KEYCTX_LIST, ' ', "Space", ACT_PAGE_DOWN },
    { KEYCTX_LIST, KEY_HOME, "Home", ACT_TOP },
    { KEYCTX_LIST, 'g', "g", ACT_TOP },
    { KEYCTX_LIST, KEY_END, "End", ACT_BOTTOM },
    { KEYCTX_LIST, 'G', "G", ACT_BOTTOM },
    { KEYCTX_LIST, KEY_LEFT, "Left", ACT_LEFT },
    { KEYCTX_LIST, 'h', "h", ACT_LEFT },
    { KEYCTX_LIST, KEY_RIGHT, "Right", ACT_RIGHT },
    { KEYCTX_LIST, 'l', "l", ACT_RIGHT },
    { KEYCTX_LIST, '\r', "Enter", ACT_OPEN },
    { KEYCTX_LIST, '\n', "Enter", ACT_OPEN },
    { KEYCTX_LIST, KEY_ENTER, "Enter", ACT_OPEN },
    { KEYCTX_DASHBOARD, 's', "s", ACT_SORT },
    { KEYCTX_DASHBOARD, 'S', "S", ACT_SORT_REVERSE },
    { KEYCTX_DASHBOARD, 'r', "r", ACT_RESET_BREAKER },
    { KEYCTX_DASHBOARD, 'd', "d", ACT_TOGGLE_AGENT },
    { KEYCTX_RECORDS, '/', "/", ACT_FILTER },
    { KEYCTX_RECORDS, 'n', "n", ACT_NEXT_MATCH },
    { KEYCTX_RECORDS, 'N', "N", ACT_PREV_MATCH },
    { KEYCTX_RECORDS, 's', "s", ACT_SORT },
    { KEYCTX_RECORDS, 'S', "S", ACT_SORT_REVERSE },
    { KEYCTX_RECORDS, 'c', "c", ACT_CLEAR_FILTER },
    { KEYCTX_RECORDS, 'x', "x", ACT_REDACT_RECORD },
    { KEYCTX_RECORDS, 'm', "m", ACT_MARK },
    { KEYCTX_RECORDS, 'D', "D", ACT_DIFF },
    { KEYCTX_RECORDS, 'F', "F", ACT_FOLLOW },
    { KEYCTX_DETAIL, '/', "/", ACT_SEARCH },
    { KEYCTX_DETAIL, 'n', "n", ACT_NEXT_MATCH },
    { KEYCTX_DETAIL, 'N', "N", ACT_PREV_MATCH },
    { KEYCTX_DETAIL, ']', "]", ACT_NEXT_RECORD },
    { KEYCTX_DETAIL, '[', "[", ACT_PREV_RECORD },
    { KEYCTX_DETAIL, 'z', "z", ACT_TOGGLE_FOLD },
    { KEYCTX_DETAIL, 'Z', "Z", ACT_FOLD_ALL },
    { KEYCTX_DETAIL, 'U', "U", ACT_UNFOLD_ALL },
    { KEYCTX_DETAIL, 's', "s", ACT_SECTION },
    { KEYCTX_DETAIL, 'y', "y", ACT_COPY_ID },
    { KEYCTX_FIRE, CTRL('r'), "^R", ACT_FIRE },
    { KEYCTX_FIRE, KEY_F(5), "F5", ACT_FIRE },
    { KEYCTX_FIRE, CTRL('n'), "^N", ACT_FIRE_N },
    { KEYCTX_FIRE, CTRL('g'), "^G", ACT_OPEN_LAST },
    { KEYCTX_FIRE, CTRL('p'), "^P", ACT_HISTORY },
    { KEYCTX_FIRE, CTRL('f'), "^F", ACT_FORMAT },
    { KEYCTX_FIRE, CTRL('e'), "^E", ACT_LOAD },
    { KEYCTX_FIRE, CTRL('s'), "^S", ACT_SAVE },
    { KEYCTX_FIRE, '\t', "Tab", ACT_NEXT_FIELD },
    { KEYCTX_FIRE, KEY_BTAB, "S-Tab", ACT_PREV_FIELD },
    /* On the strategy and priority fields; in a text field they are text
     * (the form's handler passes them on to the field). */
    { KEYCTX_FIRE, KEY_RIGHT, "Right", ACT_CHOICE_NEXT },
    { KEYCTX_FIRE, ' ', "Space", ACT_CHOICE_NEXT },
    { KEYCTX_FIRE, KEY_LEFT, "Left", ACT_CHOICE_PREV },
    { KEYCTX_FIRE, 27, "Esc", ACT_BACK },
    { KEYCTX_REDACT, ' ', "Space", ACT_RULE_TOGGLE },
    { KEYCTX_REDACT, 'a', "a", ACT_RULES_ON },
    { KEYCTX_REDACT, 'A', "A", ACT_RULES_OFF },
    { KEYCTX_REDACT, 'n', "n", ACT_NEXT_CHANGE },
    { KEYCTX_REDACT, 'o', "o", ACT_OPEN_FILE },
    { KEYCTX_REDACT, 's', "s", ACT_SORT },
    { KEYCTX_REDACT, 'S', "S", ACT_SORT_REVERSE },
    { KEYCTX_RETENTION, 'e', "e", ACT_EDIT_POLICY },
    { KEYCTX_RETENTION, 'n', "n", ACT_DRY_RUN },
    { KEYCTX_RETENTION, 'x', "x", ACT_APPLY },
    { KEYCTX_RETENTION, 'c', "c", ACT_CANCEL },
    { KEYCTX_RETENTION, 's', "s", ACT_SORT },
    { KEYCTX_RETENTION, 'S', "S", ACT_SORT_REVERSE },
};

static const char *const context_names[] = {
    "global", "lists", "dashboard", "records", "execution detail", "fire", "redact", "retention"
};

enum key_action
keymap_lookup(enum key_context ctx, int key)
{
    const enum key_context order[3] = { ctx, KEYCTX_LIST, KEYCTX_GLOBAL };

    for (int pass = 0; pass < 3; pass++) {
        if (pass == 1 && !keymap_context_has_list(ctx))
            continue;
        for (size_t i = 0; i < sizeof(bindings) / sizeof(bindings[0]); i++) {
            if (bindings[i].ctx == order[pass] && bindings[i].key == key)
                return bindings[i].action;
        }
    }
    return ACT_NONE;
}

enum key_action
keymap_lookup_own(enum key_context ctx, int key)
{
    for (size_t i = 0; i < sizeof(bindings) / sizeof(bindings[0]); i++) {
        if (bindings[i].ctx == ctx && bindings[i].key == key)
            return bindings[i].action;
    }
    return ACT_NONE;
}

/* Short words for the hint bar (the help screen has the full texts). */
static const char *
hint_word(enum key_action a)
{
    switch (a) {
    case ACT_HELP:
        return "help";
    case ACT_COMMAND:
        return "command";
    case ACT_SCREEN_FIRE:
        return "fire";
    case ACT_THEME:
        return "theme";
    case ACT_PAUSE:
        return "pause";
    case ACT_RELOAD:
        return "reload";
    case ACT_QUIT:
        return "quit";
    case ACT_OPEN:
        return "open";
    case ACT_FILTER:
        return "filter";
    case ACT_SEARCH:
        return "search";
    case ACT_SORT:
        return "sort";
    case ACT_MARK:
        return "mark";
    case ACT_DIFF:
        return "diff";
    case ACT_REDACT_RECORD:
        return "redact";
    case ACT_RESET_BREAKER:
        return "reset";
    case ACT_TOGGLE_AGENT:
        return "disable";
    case ACT_TOGGLE_FOLD:
        return "fold";
    case ACT_NEXT_RECORD:
        return "next";
    case ACT_FIRE:
        return "fire";
    case ACT_FIRE_N:
        return "fire N";
    case ACT_NEXT_FIELD:
        return "field";
    case ACT_RULE_TOGGLE:
        return "rule on/off";
    case ACT_RULES_ON:
        return "all on";
    case ACT_RULES_OFF:
        return "all off";
    case ACT_NEXT_CHANGE:
        return "next change";
    case ACT_OPEN_FILE:
        return "open file";
    case ACT_EDIT_POLICY:
        return "edit";
    case ACT_DRY_RUN:
        return "dry run";
    case ACT_APPLY:
        return "apply";
    case ACT_CANCEL:
        return "cancel";
    default:
        return NULL;
    }
}

static void
hint_add(char *out, size_t size, const struct key_binding *b, bool read_only)
{
    const char *w = hint_word(b->action);
    char item[64];
    size_t len = strlen(out);

    if (w == NULL || (read_only && (b->action == ACT_SCREEN_FIRE || b->action == ACT_RELOAD ||
                                    b->action == ACT_FIRE || b->action == ACT_FIRE_N ||
                                    b->action == ACT_RESET_BREAKER ||
                                    b->action == ACT_TOGGLE_AGENT || b->action == ACT_APPLY)))
        return;
    snprintf(item, sizeof(item), "%s %s", b->name, w);
    if (strstr(out, item) != NULL)
        return;
    /* One key per action: the first bound wins (Enter once, not three times). */
    for (size_t i = 0; i < sizeof(bindings) / sizeof(bindings[0]); i++) {
        if (&bindings[i] == b)
            break;
        if (bindings[i].ctx == b->ctx && bindings[i].action == b->action)
            return;
    }
    snprintf(out + len, size - len, "%s%s", len ? "  " : "", item);
}

void
keymap_hint(enum key_context ctx, const struct key_binding *extra, size_t n_extra, bool read_only,
            char *out, size_t size)
{
    const size_t nb = sizeof(bindings) / sizeof(bindings[0]);

    out[0] = '\0';
    for (size_t i = 0; i < nb; i++) {
        if (bindings[i].ctx == ctx && ctx != KEYCTX_GLOBAL)
            hint_add(out, size, &bindings[i], read_only);
    }
    for (size_t i = 0; i < n_extra; i++)
        hint_add(out, size, &extra[i], read_only);
    if (keymap_context_has_list(ctx)) {
        for (size_t i = 0; i < nb; i++) {
            if (bindings[i].ctx == KEYCTX_LIST && bindings[i].action == ACT_OPEN)
                hint_add(out, size, &bindings[i], read_only);
        }
    }
    {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s1-7 screens", len ? "  " : "");
    }
    for (size_t i = 0; i < nb; i++) {
        if (bindings[i].ctx == KEYCTX_GLOBAL && bindings[i].key != 27)
            hint_add(out, size, &bindings[i], read_only);
    }
}

size_t
keymap_help_rows(enum key_context ctx, struct help_row *out, size_t max)
{
    const enum key_context sections[3] = { ctx, KEYCTX_LIST, KEYCTX_GLOBAL };
    const size_t nb = sizeof(bindings) / sizeof(bindings[0]);
    size_t n = 0;

    for (int c = 0; c < 3; c++) {
        if ((c == 1 && !keymap_context_has_list(ctx)) || (c > 0 && sections[c] == ctx))
            continue;
        for (size_t i = 0; i < nb && n < max; i++) {
            bool dup = false;
            char keys[64] = "";
            if (bindings[i].ctx != sections[c])
                continue;
            for (size_t k = 0; k < i; k++)
                dup = dup ||
                      (bindings[k].ctx == sections[c] && bindings[k].action == bindings[i].action);
            if (dup)
                continue;
            for (size_t k = i; k < nb; k++) {
                size_t len = strlen(keys);
                if (bindings[k].ctx != sections[c] || bindings[k].action != bindings[i].action ||
                    strstr(keys, bindings[k].name) != NULL)
                    continue;
                /* Shadowed here by an earlier section: not this row's key. */
                if (keymap_lookup(ctx, bindings[k].key) != bindings[k].action)
                    continue;
                snprintf(keys + len, sizeof(keys) - len, "%s%s", len ? " " : "", bindings[k].name);
            }
            if (keys[0] == '\0')
                continue;
            out[n].section = sections[c];
            out[n].action = bindings[i].action;
            snprintf(out[n].keys, sizeof(out[n].keys), "%s", keys);
            n++;
        }
    }
    return n;
}

const struct key_binding *
keymap_bindings(size_t *n)
{
    *n = sizeof(bindings) / sizeof(bindings[0]);
    return bindings;
}

const char *
keymap_action_text(enum key_action a)
{
    return (unsigned)a < ACT_COUNT ? action_text[a] : "";
}

const char *
keymap_action_group(enum key_action a)
{
    return (unsigned)a < ACT_COUNT ? action_group[a] : "";
}

const char *
keymap_context_name(enum key_context c)
{
    return (unsigned)c < KEYCTX_COUNT ? context_names[c] : "?";
}

int
keymap_context_has_list(enum key_context c)
{
    return c == KEYCTX_DASHBOARD || c == KEYCTX_RECORDS || c == KEYCTX_DETAIL || c == KEYCTX_LIST ||
           c == KEYCTX_REDACT || c == KEYCTX_RETENTION;
}
