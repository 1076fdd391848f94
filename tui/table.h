/* One table widget for every screen with a table (records, the dashboard's
 * agents and feed): cursor and paging, columns with priorities that shrink
 * and then drop when the terminal is narrow, the sort column and direction
 * marked in the header (htop/k9s style), a header click that sorts,
 * horizontal scrolling with h/l when columns are hidden, and cells cut with
 * "…" ("~" under --ascii, through app_put).
 *
 * The view owns its rows and their order; the table holds the geometry and
 * the cursor. Each frame: table_layout(), then table_header() and one
 * table_cell() per visible column of each visible row. */
#ifndef INTENTUS_TUI_TABLE_H
#define INTENTUS_TUI_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "tui/app.h"

#define TABLE_MAX_COLS 16

struct table_col {
    const char *title;
    int width;     /* preferred width */
    int min_width; /* shrinks to this when narrow (0: the width) */
    int priority;  /* 0: always shown (pinned); higher numbers drop first */
    bool right;    /* right-aligned (numbers) */
    bool grow;     /* takes the room left over, up to 2 x width */
    int sort_key;  /* the view's sort id for a click on the title; -1: none */
};

struct table {
    /* set by the view */
    const struct table_col *cols;
    size_t n_cols;
    size_t n_rows;
    int sort_key;   /* the view's current sort id (marked in the header) */
    bool sort_desc; /* its direction: v (largest/newest first) or ^ */
    int x0;         /* the screen column the table starts at (0: the left edge) */
    /* cursor */
    size_t sel, top;
    int body_rows; /* rows of data the last layout had room for */
    int hscroll;   /* optional columns scrolled off to the left (h/l) */
    /* the last layout */
    int header_y, width;
    int x[TABLE_MAX_COLS], w[TABLE_MAX_COLS];
    bool shown[TABLE_MAX_COLS];
    int n_hidden;
};

/* Fit the columns into cols screen columns (from x0), the header on row header_y and
 * body_rows data rows below it; keeps the cursor on screen. */
void table_layout(struct table *t, int header_y, int body_rows, int cols);
/* The header row: titles, the sort mark, and a "<"/">" when columns are
 * hidden to the left/right. */
void table_header(struct table *t, struct app *app, int cols);
/* The screen row of data row i (-1 when off screen). */
int table_row_y(const struct table *t, size_t i);
/* Draw text in column c of data row i. */
void table_cell(const struct table *t, struct app *app, size_t i, size_t c, attr_t attr,
                const char *text);
/* Movement keys (up, down, pages, top, bottom, h/l scrolling): true when
 * handled. */
bool table_key(struct table *t, enum key_action act);
/* A click at (y, x): on a data row, the cursor moves there (returns 1); on
 * a sortable title, *sort_key is set to its sort id (returns 2); else 0. */
int table_click(struct table *t, int y, int x, int *sort_key);

#endif
