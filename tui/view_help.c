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
    const struct view_ops *from = app->ui.views[app->ui.prev_screen];
    struct help_row hr[160];
    size_t n = keymap_help_rows(from->keyctx, hr, 160), line = 0;
    int y = top;

    for (size_t i = 0; i < n; i++) {
        char row[256];
        if (i == 0 || hr[i].section != hr[i - 1].section) {
            char title[128];
            if (i > 0 && line++ >= h->top && y < top + rows)
                y++;
            snprintf(title, sizeof(title), " %s keys",
                     hr[i].section == from->keyctx ? from->name
                                                   : keymap_context_name(hr[i].section));
            if (line++ >= h->top && y < top + rows)
                app_put(app, y++, 0, cols, app_attr(app, THEME_TABLE_HEADER), title);
        }
        snprintf(row, sizeof(row), "   %-16s %s", hr[i].keys, keymap_action_text(hr[i].action));
        if (line++ >= h->top && y < top + rows)
            app_put(app, y++, 0, cols, app_attr(app, THEME_NORMAL), row);
    }
    if (line++ >= h->top && y < top + rows)
        y++;
    h->rows_total = (int)line;
    if (y < top + rows)
        app_put(app, y, 0, cols, app_attr(app, THEME_DIM),
                "   Mouse: click a tab or a row, wheel scrolls.  Esc or q goes back.  "
                ": commands: records agents agent filter theme fire messages help q");
}

static unsigned
help_handle(struct app *app, void *state, enum key_action act, const struct key_event *ev)
{
    struct help *h = state;

    (void)app;
    (void)ev;
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
