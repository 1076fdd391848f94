#include "tui/table.h"

#include <stdio.h>
#include <string.h>

#include "tui/fmt.h"

static int
total_width(const struct table *t, const int *w, const bool *shown)
{
    int sum = 1; /* the leading space */

    for (size_t c = 0; c < t->n_cols; c++)
        sum += shown[c] ? w[c] + 1 : 0;
    return sum - 1;
}

static int
min_of(const struct table_col *col)
{
    return col->min_width > 0 && col->min_width < col->width ? col->min_width : col->width;
}

/* Scrolled (hscroll > 0): the pinned columns, then the optional ones in
 * their order from the hscroll-th on (the first at 1), at their least
 * widths, as many as fit. */
static void
fit_scrolled(struct table *t, int *w, bool *shown, int cols)
{
    int skip = t->hscroll - 1;

    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = min_of(&t->cols[c]);
        shown[c] = t->cols[c].priority == 0;
    }
    for (size_t c = 0; c < t->n_cols; c++) {
        if (t->cols[c].priority == 0)
            continue;
        if (skip > 0) {
            skip--;
            continue;
        }
        shown[c] = true;
        if (total_width(t, w, shown) > cols) {
            shown[c] = false;
            break;
        }
    }
}

/* Unscrolled: every column at its preferred width; when that is too wide,
 * every column at its least width, then the least important dropped until
 * the rest fit. */
static void
fit(struct table *t, int *w, bool *shown, int cols)
{
    for (size_t c = 0; c < t->n_cols; c++) {
        w[c] = t->cols[c].width;
        shown[c] = true;
    }
    if (total_width(t, w, shown) <= cols)
        return;
    for (size_t c = 0; c < t->n_cols; c++)
        w[c] = min_of(&t->cols[c]);
    while (total_width(t, w, shown) > cols) {
        int worst = -1;
        for (size_t c = 0; c < t->n_cols; c++) {
            if (shown[c] && t->cols[c].priority > 0 &&
                (worst < 0 || t->cols[c].priority >= t->cols[worst].priority))
                worst = (int)c;
        }
        if (worst < 0)
            break; /* only pinned columns left: they are cut at the edge */
        shown[worst] = false;
    }
    /* Room left: back towards the preferred widths, then to growing columns. */
    for (size_t c = 0; c < t->n_cols; c++) {
        int room = cols - total_width(t, w, shown);
        if (shown[c] && room > 0 && w[c] < t->cols[c].width)
            w[c] += room < t->cols[c].width - w[c] ? room : t->cols[c].width - w[c];
    }
}

void
table_layout(struct table *t, int header_y, int body_rows, int cols)
{
    int x = t->x0 + 1, room;

    if (t->n_cols > TABLE_MAX_COLS)
        t->n_cols = TABLE_MAX_COLS;
    t->header_y = header_y;
    t->body_rows = body_rows > 0 ? body_rows : 0;
    t->width = cols;
    cols--; /* the last column holds the ">" of hidden columns */
    if (t->hscroll < 0)
        t->hscroll = 0;
    if (t->hscroll > 0)
        fit_scrolled(t, t->w, t->shown, cols);
    else
        fit(t, t->w, t->shown, cols);
    room = cols - total_width(t, t->w, t->shown);
    for (size_t c = 0; c < t->n_cols && room > 0; c++) {
        if (t->shown[c] && t->cols[c].grow) {
            int more = t->cols[c].width * 2 - t->w[c];
            more = more < room ? more : room;
            if (more > 0) {
                t->w[c] += more;
                room -= more;
            }
        }
    }
    t->n_hidden = 0;
    for (size_t c = 0; c < t->n_cols; c++) {
        t->x[c] = x;
        if (t->shown[c])
            x += t->w[c] + 1;
        else
            t->n_hidden++;
    }
    if (t->sel >= t->n_rows)
        t->sel = t->n_rows ? t->n_rows - 1 : 0;
    if (t->sel < t->top)
        t->top = t->sel;
    if (t->body_rows > 0 && t->sel >= t->top + (size_t)t->body_rows)
        t->top = t->sel - (size_t)t->body_rows + 1;
    if (t->top > t->n_rows)
        t->top = 0;
}

static void
put_aligned(struct app *app, int y, int x, int w, bool right, attr_t attr, const char *text)
{
    char cell[512];
    int pad;

    fmt_cell(text, (size_t)w, cell, sizeof(cell));
    pad = right ? w - (int)fmt_width(cell) : 0;
    app_put(app, y, x + (pad > 0 ? pad : 0), w - (pad > 0 ? pad : 0), attr, cell);
}

/* l can go further: columns are hidden and, scrolled, the last one is not
 * on screen yet. */
static bool
can_scroll_right(const struct table *t)
{
    return t->n_hidden > 0 && (t->hscroll == 0 || t->n_cols == 0 || !t->shown[t->n_cols - 1]);
}

void
table_header(struct table *t, struct app *app, int cols)
{
    attr_t a = app_attr(app, THEME_TABLE_HEADER);

    app_fill(app, t->header_y, t->x0, cols, a);
    for (size_t c = 0; c < t->n_cols; c++) {
        char title[96];
        if (!t->shown[c])
            continue;
        if (t->cols[c].sort_key >= 0 && t->cols[c].sort_key == t->sort_key)
            snprintf(title, sizeof(title), "%s %s", t->cols[c].title,
                     app->ui.ascii  ? (t->sort_desc ? "v" : "^")
                     : t->sort_desc ? "\xe2\x96\xbc"
                                    : "\xe2\x96\xb2");
        else
            snprintf(title, sizeof(title), "%s", t->cols[c].title);
        put_aligned(app, t->header_y, t->x[c], t->w[c], t->cols[c].right, a | A_BOLD, title);
    }
    /* Hidden columns: h goes back, l goes on to them. */
    if (t->hscroll > 0)
        app_put(app, t->header_y, t->x0, 1, a | A_BOLD, "<");
    if (can_scroll_right(t))
        app_put(app, t->header_y, t->x0 + cols - 1, 1, a | A_BOLD, ">");
}

int
table_row_y(const struct table *t, size_t i)
{
    if (i < t->top || i >= t->top + (size_t)t->body_rows)
        return -1;
    return t->header_y + 1 + (int)(i - t->top);
}

void
table_cell(const struct table *t, struct app *app, size_t i, size_t c, attr_t attr,
           const char *text)
{
    int y = table_row_y(t, i);

    if (y < 0 || c >= t->n_cols || !t->shown[c])
        return;
    put_aligned(app, y, t->x[c], t->w[c], t->cols[c].right, attr, text);
}

bool
table_key(struct table *t, enum key_action act)
{
    size_t page = t->body_rows > 1 ? (size_t)t->body_rows - 1 : 1;

    switch (act) {
    case ACT_UP:
        if (t->sel > 0)
            t->sel--;
        return true;
    case ACT_DOWN:
        if (t->sel + 1 < t->n_rows)
            t->sel++;
        return true;
    case ACT_PAGE_UP:
        t->sel = t->sel > page ? t->sel - page : 0;
        return true;
    case ACT_PAGE_DOWN:
        t->sel = t->sel + page < t->n_rows ? t->sel + page : (t->n_rows ? t->n_rows - 1 : 0);
        return true;
    case ACT_TOP:
        t->sel = 0;
        return true;
    case ACT_BOTTOM:
        t->sel = t->n_rows ? t->n_rows - 1 : 0;
        return true;
    case ACT_LEFT:
        if (t->hscroll > 0) {
            t->hscroll--;
            table_layout(t, t->header_y, t->body_rows, t->width);
        }
        return true;
    case ACT_RIGHT:
        /* Laid out again at once, so a second l sees where the first went. */
        if (can_scroll_right(t)) {
            t->hscroll++;
            table_layout(t, t->header_y, t->body_rows, t->width);
        }
        return true;
    default:
        return false;
    }
}

int
table_click(struct table *t, int y, int x, int *sort_key)
{
    if (y == t->header_y) {
        for (size_t c = 0; c < t->n_cols; c++) {
            if (t->shown[c] && x >= t->x[c] && x < t->x[c] + t->w[c] + 1 &&
                t->cols[c].sort_key >= 0) {
                *sort_key = t->cols[c].sort_key;
                return 2;
            }
        }
        return 0;
    }
    if (y > t->header_y && y <= t->header_y + t->body_rows) {
        size_t i = t->top + (size_t)(y - t->header_y - 1);
        if (i < t->n_rows) {
            t->sel = i;
            return 1;
        }
    }
    return 0;
}
