/* Help: every key of the screen you came from, then the global keys, read
 * from the same table the input handling uses. */
#include <stdio.h>
#include <string.h>

#include "tui/app.h"

struct help {
    size_t top;
    int rows_total;
};

static void
help_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct help *h = state;
    const struct view_ops *from = app->views[app->prev_screen];
    enum key_context ctxs[3] = { from->keyctx, KEYCTX_LIST, KEYCTX_GLOBAL };
    size_t n, line = 0;
    const struct key_binding *b = keymap_bindings(&n);
    int y = top;

    for (int c = 0; c < 3; c++) {
        char title[128];
        if (c == 1 && !keymap_context_has_list(from->keyctx))
            continue;
        if (c > 0 && ctxs[c] == ctxs[0])
            continue;
        snprintf(title, sizeof(title), " %s keys",
                 c == 0 ? from->name : keymap_context_name(ctxs[c]));
        if (line++ >= h->top && y < top + rows)
            app_put(app, y++, 0, cols, app_attr(app, THEME_TABLE_HEADER), title);
        for (size_t i = 0; i < n; i++) {
            char row[256], keys[64] = "";
            bool dup = false;
            if (b[i].ctx != ctxs[c])
                continue;
            /* One row per action: list all its keys together. */
            for (size_t k = 0; k < i; k++)
                dup = dup || (b[k].ctx == ctxs[c] && b[k].action == b[i].action);
            if (dup)
                continue;
            for (size_t k = i; k < n; k++) {
                if (b[k].ctx == ctxs[c] && b[k].action == b[i].action &&
                    strstr(keys, b[k].name) == NULL) {
                    size_t len = strlen(keys);
                    snprintf(keys + len, sizeof(keys) - len, "%s%s", len ? " " : "", b[k].name);
                }
            }
            snprintf(row, sizeof(row), "   %-16s %s", keys, keymap_action_text(b[i].action));
            if (line++ >= h->top && y < top + rows)
                app_put(app, y++, 0, cols, app_attr(app, THEME_NORMAL), row);
        }
        if (line++ >= h->top && y < top + rows)
            y++;
    }
    h->rows_total = (int)line;
    if (y < top + rows)
        app_put(app, y, 0, cols, app_attr(app, THEME_DIM),
                "   Mouse: click a tab or a row, wheel scrolls.  Esc or q closes this help.");
}

static unsigned
help_handle(struct app *app, void *state, enum key_action act, int key)
{
    struct help *h = state;

    (void)app;
    (void)key;
    if (act == ACT_DOWN && h->top + 1 < (size_t)h->rows_total)
        h->top++;
    else if (act == ACT_UP && h->top > 0)
        h->top--;
    else if (act == ACT_TOP)
        h->top = 0;
    else
        return 0;
    return VIEW_HANDLED | VIEW_REDRAW;
}

const struct view_ops view_help = {
    .name = "Help",
    .keyctx = KEYCTX_LIST,
    .state_size = sizeof(struct help),
    .open = NULL,
    .close = NULL,
    .draw = help_draw,
    .handle = help_handle,
    .model_changed = NULL,
};
