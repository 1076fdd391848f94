/* The message log (:messages): every message the status line showed, in
 * full and wrapped, newest first, with the time it came. The status line
 * cuts a long error at the terminal's width; this keeps all of it. */
#include <stdio.h>
#include <string.h>

#include "tui/app.h"
#include "tui/fmt.h"

struct messages {
    size_t top; /* first line shown */
};

/* Lines of text wrapped at width bytes (at a space when there is one). */
static size_t
wrap_next(const char *t, size_t width)
{
    size_t len = strlen(t), cut;

    if (len <= width)
        return len;
    cut = width;
    while (cut > width / 2 && t[cut] != ' ')
        cut--;
    if (t[cut] != ' ')
        cut = width;
    while (cut > 0 && (t[cut] & 0xc0) == 0x80)
        cut--; /* never split a UTF-8 character */
    return cut > 0 ? cut : width;
}

static void
msgs_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct messages *m = state;
    size_t line = 0, width = cols > 14 ? (size_t)cols - 14 : 10;
    int y = top;

    app_put(app, y++, 0, cols, app_attr(app, THEME_TABLE_HEADER),
            app->ui.log.n == 0 ? " Messages: none yet" : " Messages (newest first; Esc goes back)");
    for (size_t k = 0; k < app->ui.log.n; k++) {
        size_t slot = (app->ui.log.next + 64 - 1 - k) % 64;
        const char *t = app->ui.log.text[slot];
        char when[32];
        bool first = true;
        fmt_time_short(app->ui.log.wall_us[slot], when, sizeof(when));
        do {
            size_t n = wrap_next(t, width);
            char row[1100];
            snprintf(row, sizeof(row), " %-10s %.*s", first ? when : "", (int)n, t);
            if (line++ >= m->top && y < top + rows)
                app_put(app, y++, 0, cols,
                        app_attr(app, app->ui.log.is_error[slot] ? THEME_ERROR : THEME_NORMAL),
                        row);
            t += n;
            while (*t == ' ')
                t++;
            first = false;
        } while (*t != '\0');
    }
}

static unsigned
msgs_handle(struct app *app, void *state, enum key_action act, const struct key_event *ev)
{
    struct messages *m = state;

    (void)app;
    (void)ev;
    if (act == ACT_DOWN)
        m->top++;
    else if (act == ACT_UP && m->top > 0)
        m->top--;
    else if (act == ACT_TOP)
        m->top = 0;
    else
        return 0;
    return VIEW_HANDLED | VIEW_REDRAW;
}

const struct view_ops view_messages = {
    .name = "Messages",
    .keyctx = KEYCTX_LIST,
    .state_size = sizeof(struct messages),
    .draw = msgs_draw,
    .handle = msgs_handle,
};
