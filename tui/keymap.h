/* Keys live in one table: rows of (context, key, action, help). Input
 * handling looks keys up here and the help screen lists the same rows, so
 * what the help says is what the keys do. */
#ifndef INTENTUS_TUI_KEYMAP_H
#define INTENTUS_TUI_KEYMAP_H

#include <stdbool.h>
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
    X(ACT_CHOICE_NEXT, "fire", "next choice of the strategy / priority field")                     \
    X(ACT_CHOICE_PREV, "fire", "previous choice of the strategy / priority field")                 \
    X(ACT_MOUSE, "global", "mouse on / off (saved; off lets the terminal select text)")            \
    X(ACT_FOLLOW, "view", "follow the newest record, like tail -f (a move key stops)")             \
    X(ACT_DEMO_TRAFFIC, "global", "start / stop the demo traffic (built-in demo configuration)")   \
    X(ACT_COMMAND, "global", "command line (:records :agent NAME :filter EXPR :theme NAME ...)")   \
    X(ACT_RULE_TOGGLE, "redact", "turn the selected rule off / on (asks first)")                   \
    X(ACT_RULES_ON, "redact", "turn every rule on")                                                \
    X(ACT_RULES_OFF, "redact", "turn every rule off (asks first)")                                 \
    X(ACT_NEXT_CHANGE, "redact", "next redacted field")                                            \
    X(ACT_OPEN_FILE, "redact", "open a JSON file to preview its redaction")                        \
    X(ACT_EDIT_POLICY, "retention", "edit the policy for this run (one form)")                     \
    X(ACT_DRY_RUN, "retention", "dry run: what the policy would remove")                           \
    X(ACT_APPLY, "retention", "apply the dry run (asks you to type the word)")                     \
    X(ACT_CANCEL, "retention", "cancel the running apply")

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
    KEYCTX_REDACT,
    KEYCTX_RETENTION,
    KEYCTX_COUNT
};

/* A key as the console's loop delivers it: the curses key code, modifiers,
 * and for a mouse event where it happened (y, x on the screen). */
#define KEYMOD_SHIFT 0x1u
#define KEYMOD_CTRL 0x2u
struct key_event {
    int key;
    unsigned mods;
    bool mouse;
    int y, x; /* -1 unless mouse */
};

struct key_binding {
    enum key_context ctx;
    int key;          /* a curses key code or character */
    const char *name; /* how help shows the key */
    enum key_action action;
};

/* The action bound to key in ctx (then in the list and global contexts). */
enum key_action keymap_lookup(enum key_context ctx, int key);
/* The action bound to key in ctx itself (no list or global fallback): what
 * a view with a focused text field still takes. */
enum key_action keymap_lookup_own(enum key_context ctx, int key);
/* The status line's hint for a screen, generated from the bindings: the
 * screen's own keys first, then the global ones (firing and reload left
 * out when read_only). extra: keys the view declares besides. */
void keymap_hint(enum key_context ctx, const struct key_binding *extra, size_t n_extra,
                 bool read_only, char *out, size_t size);
/* What help lists for a screen whose keys are in ctx: its own section, then
 * the list keys (when ctx has them), then the global ones; one row per
 * action with every key that reaches it there. A key another section
 * shadows is left out (Space is "page down" in lists but toggles a rule on
 * Redact): every key a row names dispatches to that row's action. */
struct help_row {
    enum key_context section;
    enum key_action action;
    char keys[64];
};
size_t keymap_help_rows(enum key_context ctx, struct help_row *out, size_t max);
/* All bindings (for help), and how many there are. */
const struct key_binding *keymap_bindings(size_t *n);
const char *keymap_action_text(enum key_action a);
const char *keymap_action_group(enum key_action a);
const char *keymap_context_name(enum key_context c);
/* Whether ctx inherits the list movement keys (tables and text views). */
int keymap_context_has_list(enum key_context c);

#endif
