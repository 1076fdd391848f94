/* Keys live in one table: rows of (context, key, action, help). Input
 * handling looks keys up here and the help screen lists the same rows, so
 * what the help says is what the keys do. */
#ifndef INTENTUS_TUI_KEYMAP_H
#define INTENTUS_TUI_KEYMAP_H

#include <stddef.h>

/* X(ACTION, "group", "description") */
#define KEYMAP_ACTIONS(X)                                                                          \
    X(ACT_NONE, "", "")                                                                            \
    X(ACT_QUIT, "global", "quit intentus")                                                         \
    X(ACT_BACK, "global", "back / close")                                                          \
    X(ACT_HELP, "global", "help for this screen")                                                  \
    X(ACT_SCREEN_DASHBOARD, "global", "dashboard")                                                 \
    X(ACT_SCREEN_RECORDS, "global", "records")                                                     \
    X(ACT_SCREEN_DETAIL, "global", "execution detail")                                             \
    X(ACT_SCREEN_HELP, "global", "help screen")                                                    \
    X(ACT_NEXT_SCREEN, "global", "next screen")                                                    \
    X(ACT_THEME, "global", "cycle colour themes")                                                  \
    X(ACT_PAUSE, "global", "pause / resume live updates")                                          \
    X(ACT_REDRAW, "global", "redraw the screen")                                                   \
    X(ACT_UP, "move", "up")                                                                        \
    X(ACT_DOWN, "move", "down")                                                                    \
    X(ACT_PAGE_UP, "move", "page up")                                                              \
    X(ACT_PAGE_DOWN, "move", "page down")                                                          \
    X(ACT_TOP, "move", "first row")                                                                \
    X(ACT_BOTTOM, "move", "last row")                                                              \
    X(ACT_LEFT, "move", "scroll left / fold")                                                      \
    X(ACT_RIGHT, "move", "scroll right / unfold")                                                  \
    X(ACT_OPEN, "view", "open the selected item")                                                  \
    X(ACT_FILTER, "view", "filter (intent: agent: status: error: since:)")                         \
    X(ACT_SEARCH, "view", "search")                                                                \
    X(ACT_NEXT_MATCH, "view", "next match (records: next error)")                                  \
    X(ACT_PREV_MATCH, "view", "previous match (records: previous error)")                          \
    X(ACT_SORT, "view", "sort by the next column")                                                 \
    X(ACT_SORT_REVERSE, "view", "reverse the sort order")                                          \
    X(ACT_NEXT_RECORD, "view", "next record")                                                      \
    X(ACT_PREV_RECORD, "view", "previous record")                                                  \
    X(ACT_TOGGLE_FOLD, "view", "fold / unfold JSON")                                               \
    X(ACT_FOLD_ALL, "view", "fold all JSON")                                                       \
    X(ACT_UNFOLD_ALL, "view", "unfold all JSON")                                                   \
    X(ACT_SECTION, "view", "next section (timeline, envelope, response)")                          \
    X(ACT_COPY_ID, "view", "copy the execution id (OSC 52)")                                       \
    X(ACT_CLEAR_FILTER, "view", "clear the filter")                                                \
    X(ACT_SCREEN_FIRE, "global", "fire an intent")                                                 \
    X(ACT_SCREEN_REDACT, "global", "redaction preview")                                            \
    X(ACT_SCREEN_RETENTION, "global", "retention")                                                 \
    X(ACT_REDACT_RECORD, "view", "preview the record's redaction")                                 \
    X(ACT_MARK, "view", "mark / unmark the record for a diff")                                     \
    X(ACT_DIFF, "view", "diff the two marked records side by side")                                \
    X(ACT_RELOAD, "global", "reload the configuration")                                            \
    X(ACT_RESET_BREAKER, "agents", "reset the selected agent's circuit")                           \
    X(ACT_TOGGLE_AGENT, "agents", "disable / enable the selected agent")                           \
    X(ACT_FIRE, "fire", "fire once")                                                               \
    X(ACT_FIRE_N, "fire", "fire N times (load test)")                                              \
    X(ACT_OPEN_LAST, "fire", "open the last execution's timeline")                                 \
    X(ACT_HISTORY, "fire", "previous payloads of this intent")                                     \
    X(ACT_FORMAT, "fire", "reformat the JSON payload")                                             \
    X(ACT_LOAD, "fire", "load the payload from a file")                                            \
    X(ACT_SAVE, "fire", "save the payload to a file")                                              \
    X(ACT_NEXT_FIELD, "fire", "next field (completes the intent)")                                 \
    X(ACT_PREV_FIELD, "fire", "previous field")                                                    \
    X(ACT_MOUSE, "global", "mouse on / off (saved; off lets the terminal select text)")            \
    X(ACT_FOLLOW, "view", "follow the newest record, like tail -f (a move key stops)")             \
    X(ACT_DEMO_TRAFFIC, "global", "start / stop the demo traffic (built-in demo configuration)")

enum key_action {
#define X(sym, group, desc) sym,
    KEYMAP_ACTIONS(X)
#undef X
        ACT_COUNT
};

/* Contexts: where a binding applies. Lookup tries the screen's own context
 * first, then the global one. */
enum key_context {
    KEYCTX_GLOBAL,
    KEYCTX_LIST,
    KEYCTX_DASHBOARD,
    KEYCTX_RECORDS,
    KEYCTX_DETAIL,
    KEYCTX_FIRE,
    KEYCTX_COUNT
};

struct key_binding {
    enum key_context ctx;
    int key;          /* a curses key code or character */
    const char *name; /* how help shows the key */
    enum key_action action;
};

/* The action bound to key in ctx (then in the list and global contexts). */
enum key_action keymap_lookup(enum key_context ctx, int key);
/* All bindings (for help), and how many there are. */
const struct key_binding *keymap_bindings(size_t *n);
const char *keymap_action_text(enum key_action a);
const char *keymap_action_group(enum key_action a);
const char *keymap_context_name(enum key_context c);
/* Whether ctx inherits the list movement keys (tables and text views). */
int keymap_context_has_list(enum key_context c);

#endif
