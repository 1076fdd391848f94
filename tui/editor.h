/* A small multi-line text editor for JSON payloads: cursor movement,
 * insert and delete, newline with the current indentation, paste (plain
 * character input), and validation that names the error's line and column.
 * Pure text: the fire view draws it with curses. */
#ifndef INTENTUS_TUI_EDITOR_H
#define INTENTUS_TUI_EDITOR_H

#include <stdbool.h>
#include <stddef.h>

#define EDITOR_MAX_BYTES ((size_t)1024 * 1024)

struct editor {
    char *text; /* NUL-terminated UTF-8 */
    size_t len, cap;
    size_t cursor;   /* byte offset, always on a character boundary */
    size_t goal_col; /* column kept while moving up and down */
};

void editor_init(struct editor *e);
void editor_free(struct editor *e);
/* Replace the whole text; the cursor goes to the end. */
int editor_set(struct editor *e, const char *text);
/* Insert UTF-8 text at the cursor (a typed key or a paste). */
int editor_insert(struct editor *e, const char *s, size_t n);
/* Enter: newline plus the current line's indentation (two more after an
 * opening { or [). */
int editor_newline(struct editor *e);
void editor_backspace(struct editor *e);
void editor_delete(struct editor *e);
void editor_left(struct editor *e);
void editor_right(struct editor *e);
void editor_up(struct editor *e);
void editor_down(struct editor *e);
void editor_home(struct editor *e);
void editor_end(struct editor *e);
/* Cursor position as 0-based line and column (in characters). */
void editor_position(const struct editor *e, size_t *line, size_t *col);
size_t editor_lines(const struct editor *e);
/* Start and length of line i (0-based). */
const char *editor_line(const struct editor *e, size_t i, size_t *len);
/* Is the text a JSON object? On error msg says where ("line 3, column 7: ..."). */
bool editor_validate(const struct editor *e, char *msg, size_t size);
/* Re-indent the text as pretty JSON (only when it is valid). */
int editor_format(struct editor *e);

#endif
