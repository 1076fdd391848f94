#include "tui/keymap.h"

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
    { KEYCTX_GLOBAL, '1', "1", ACT_SCREEN_DASHBOARD },
    { KEYCTX_GLOBAL, '2', "2", ACT_SCREEN_RECORDS },
    { KEYCTX_GLOBAL, '3', "3", ACT_SCREEN_DETAIL },
    { KEYCTX_GLOBAL, '4', "4", ACT_SCREEN_FIRE },
    { KEYCTX_GLOBAL, '5', "5", ACT_SCREEN_REDACT },
    { KEYCTX_GLOBAL, '6', "6", ACT_SCREEN_RETENTION },
    { KEYCTX_GLOBAL, '7', "7", ACT_SCREEN_HELP },
    { KEYCTX_GLOBAL, 'f', "f", ACT_SCREEN_FIRE },
    { KEYCTX_GLOBAL, 'R', "R", ACT_RELOAD },
    { KEYCTX_GLOBAL, '\t', "Tab", ACT_NEXT_SCREEN },
    { KEYCTX_GLOBAL, 't', "t", ACT_THEME },
    { KEYCTX_GLOBAL, 'p', "p", ACT_PAUSE },
    { KEYCTX_GLOBAL, CTRL('l'), "^L", ACT_REDRAW },
    { KEYCTX_GLOBAL, 'T', "T", ACT_DEMO_TRAFFIC },
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
    { KEYCTX_FIRE, 27, "Esc", ACT_BACK },
};

static const char *const context_names[] = { "global",           "lists", "dashboard", "records",
                                             "execution detail", "fire" };

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
    return c == KEYCTX_DASHBOARD || c == KEYCTX_RECORDS || c == KEYCTX_DETAIL || c == KEYCTX_LIST;
}
