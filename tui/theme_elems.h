/* Every themed element of the console, once: its name in theme files, and
 * the attributes it gets on a monochrome terminal (or with NO_COLOR). The
 * enum, the name table and the mono row are all generated from this list. */
#ifndef INTENTUS_TUI_THEME_ELEMS_H
#define INTENTUS_TUI_THEME_ELEMS_H

/* X(ENUM, "name", mono attributes as THEME_A_* bits) */
#define THEME_ELEMENTS(X)                                                                          \
    X(THEME_NORMAL, "normal", 0)                                                                   \
    X(THEME_TITLE, "title", THEME_A_REVERSE | THEME_A_BOLD)                                        \
    X(THEME_TAB, "tab", 0)                                                                         \
    X(THEME_TAB_ACTIVE, "tab.active", THEME_A_REVERSE | THEME_A_BOLD)                              \
    X(THEME_STATUS, "status", THEME_A_REVERSE)                                                     \
    X(THEME_TABLE_HEADER, "table.header", THEME_A_BOLD | THEME_A_UNDERLINE)                        \
    X(THEME_SELECTION, "selection", THEME_A_REVERSE)                                               \
    X(THEME_DIM, "dim", THEME_A_DIM)                                                               \
    X(THEME_OK, "ok", 0)                                                                           \
    X(THEME_ERROR, "error", THEME_A_BOLD)                                                          \
    X(THEME_WARN, "warn", THEME_A_UNDERLINE)                                                       \
    X(THEME_CIRCUIT_CLOSED, "circuit.closed", 0)                                                   \
    X(THEME_CIRCUIT_OPEN, "circuit.open", THEME_A_REVERSE | THEME_A_BOLD)                          \
    X(THEME_CIRCUIT_HALF_OPEN, "circuit.half_open", THEME_A_BOLD)                                  \
    X(THEME_SPARK, "spark", THEME_A_BOLD)                                                          \
    X(THEME_BAR, "timeline.bar", THEME_A_REVERSE)                                                  \
    X(THEME_BAR_ERROR, "timeline.bar_error", THEME_A_REVERSE | THEME_A_BOLD)                       \
    X(THEME_JSON_KEY, "json.key", THEME_A_BOLD)                                                    \
    X(THEME_JSON_STRING, "json.string", 0)                                                         \
    X(THEME_JSON_NUMBER, "json.number", 0)                                                         \
    X(THEME_JSON_LITERAL, "json.literal", THEME_A_DIM)                                             \
    X(THEME_BORDER, "border", THEME_A_DIM)                                                         \
    X(THEME_PROMPT, "prompt", THEME_A_BOLD)                                                        \
    X(THEME_MATCH, "match", THEME_A_UNDERLINE | THEME_A_BOLD)

#define THEME_A_BOLD 0x01U
#define THEME_A_DIM 0x02U
#define THEME_A_UNDERLINE 0x04U
#define THEME_A_REVERSE 0x08U
#define THEME_A_ITALIC 0x10u
#define THEME_A_BLINK 0x20u

enum theme_elem {
#define X(sym, name, mono) sym,
    THEME_ELEMENTS(X)
#undef X
        THEME_COUNT
};

#endif
