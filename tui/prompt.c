/* The console's input modes: a prompt, a form of a few fields, the ':'
 * command line and a y/n question. Each is state in struct app that the main
 * loop's key handler feeds (as tmux's status prompt is), never a loop of its
 * own: while one is open the loop goes on handling signals, resizes, the
 * tailer and completions, and the mode ends in a callback. */
#include <stdio.h>
#include <string.h>

#include "tui/app.h"
#include "tui/fmt.h"

#define CTRL_U 21
#define CTRL_W 23

void
app_form(struct app *app, const struct app_field *fields, size_t n, app_done_fn on_done, void *ctx)
{
    struct app_form *f = &app->ui.form;

    if (n > 4)
        n = 4;
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        snprintf(f->label[i], sizeof(f->label[i]), "%s", fields[i].label);
        snprintf(f->text[i], sizeof(f->text[i]), "%s", fields[i].buf);
        f->dest[i] = fields[i].buf;
        f->dest_size[i] = fields[i].size < sizeof(f->text[i]) ? fields[i].size : sizeof(f->text[i]);
    }
    f->n = n;
    f->on_done = on_done;
    f->ctx = ctx;
    f->active = n > 0;
    app->ui.dirty = true;
}

void
app_prompt(struct app *app, const char *label, char *buf, size_t size, app_change_fn on_change,
           app_done_fn on_done, void *ctx)
{
    app_form(app, &(struct app_field){ label, buf, size }, 1, on_done, ctx);
    app->ui.form.on_change = on_change;
}

void
app_ask(struct app *app, const char *question, const char *arg,
        void (*on_yes)(struct app *app, void *ctx, const char *arg), void *ctx)
{
    app->ui.confirm.active = true;
    snprintf(app->ui.confirm.question, sizeof(app->ui.confirm.question), "%s", question);
    snprintf(app->ui.confirm.arg, sizeof(app->ui.confirm.arg), "%s", arg != NULL ? arg : "");
    app->ui.confirm.on_yes = on_yes;
    app->ui.confirm.ctx = ctx;
    app->ui.dirty = true;
}

/* The one line editor of the console's fields (and the Fire form's):
 * UTF-8 aware backspace, ^U clears, ^W removes the last word. Returns true
 * when the text changed. */
bool
app_field_edit(char *t, size_t size, int key)
{
    size_t len = strlen(t);

    if (key == KEY_BACKSPACE || key == 127 || key == 8) {
        if (len == 0)
            return false;
        while (len > 0 && (t[len - 1] & 0xc0) == 0x80)
            len--;
        if (len > 0)
            len--;
        t[len] = '\0';
        return true;
    }
    if (key == CTRL_U) {
        t[0] = '\0';
        return len > 0;
    }
    if (key == CTRL_W) {
        size_t was = len;
        while (len > 0 && t[len - 1] == ' ')
            len--;
        while (len > 0 && t[len - 1] != ' ')
            len--;
        t[len] = '\0';
        return len != was;
    }
    if (key >= 0x20 && key < 0x100 && key != 0x7f && len + 1 < size) {
        t[len] = (char)key;
        t[len + 1] = '\0';
        return true;
    }
    return false;
}

static void
form_finish(struct app *app, bool ok)
{
    struct app_form f = app->ui.form; /* on_done may open the next mode */

    app->ui.form.active = false;
    app->ui.dirty = true;
    if (ok) {
        for (size_t i = 0; i < f.n; i++)
            snprintf(f.dest[i], f.dest_size[i], "%s", f.text[i]);
    }
    if (f.on_done != NULL)
        f.on_done(app, f.ctx, ok);
}

static void
history_step(struct app *app, int dir)
{
    struct app_form *f = &app->ui.form;

    if (app->ui.n_cmd_history == 0)
        return;
    if (dir < 0 && app->ui.cmd_history_pos > 0)
        app->ui.cmd_history_pos--;
    else if (dir > 0 && app->ui.cmd_history_pos < app->ui.n_cmd_history)
        app->ui.cmd_history_pos++;
    if (app->ui.cmd_history_pos == app->ui.n_cmd_history)
        f->text[0][0] = '\0';
    else
        snprintf(f->text[0], sizeof(f->text[0]), "%s",
                 app->ui.cmd_history[app->ui.cmd_history_pos]);
}

static bool
form_key(struct app *app, int key)
{
    struct app_form *f = &app->ui.form;
    char *t = f->text[f->focus];

    switch (key) {
    case 27:
        form_finish(app, false);
        return true;
    case '\r':
    case '\n':
    case KEY_ENTER:
        if (f->n > 1 && f->focus + 1 < f->n) {
            f->focus++; /* Enter moves down a form; on its last field it confirms */
            app->ui.dirty = true;
            return true;
        }
        form_finish(app, true);
        return true;
    case '\t':
        if (f->command) {
            app_command_complete(app, t, sizeof(f->text[0]));
            app->ui.dirty = true;
            return true;
        }
        /* fall through */
    case KEY_DOWN:
        if (f->command) {
            history_step(app, 1);
        } else if (f->n > 1) {
            f->focus = (f->focus + 1) % f->n;
        }
        app->ui.dirty = true;
        return true;
    case KEY_BTAB:
    case KEY_UP:
        if (f->command)
            history_step(app, -1);
        else if (f->n > 1)
            f->focus = (f->focus + f->n - 1) % f->n;
        app->ui.dirty = true;
        return true;
    default:
        break;
    }
    if (app_field_edit(t, f->dest_size[f->focus], key)) {
        app->ui.dirty = true;
        if (f->on_change != NULL)
            f->on_change(app, f->ctx, t);
    }
    return true; /* a field takes every key: nothing reaches the views */
}

bool
app_modes_key(struct app *app, int key)
{
    if (app->ui.confirm.active) {
        void (*on_yes)(struct app *, void *, const char *) = app->ui.confirm.on_yes;
        char arg[sizeof(app->ui.confirm.arg)];
        app->ui.confirm.active = false;
        app->ui.dirty = true;
        if (key == KEY_RESIZE || key == KEY_MOUSE) {
            MEVENT me;
            if (key == KEY_MOUSE)
                (void)getmouse(&me); /* consumed: not an answer */
            app->ui.confirm.active = true;
            return true;
        }
        if (key != 'y' && key != 'Y') {
            app_message(app, false, "cancelled");
            return true;
        }
        snprintf(arg, sizeof(arg), "%s", app->ui.confirm.arg);
        if (on_yes != NULL)
            on_yes(app, app->ui.confirm.ctx, arg);
        return true;
    }
    if (app->ui.form.active) {
        if (key == KEY_MOUSE) {
            MEVENT me;
            (void)getmouse(&me); /* consumed: clicks do not reach the screen below */
            return true;
        }
        return form_key(app, key);
    }
    return false;
}

bool
app_modes_draw(struct app *app)
{
    struct app_form *f = &app->ui.form;
    int cy = -1, cx = 0;

    if (app->ui.confirm.active) {
        int y = app->ui.rows - 1;
        app_fill(app, y, 0, app->ui.cols, app_attr(app, THEME_STATUS));
        app_put(app, y, 1, app->ui.cols - 2, app_attr(app, THEME_PROMPT), app->ui.confirm.question);
        curs_set(0);
        return true;
    }
    if (!f->active) {
        curs_set(0);
        return false;
    }
    for (size_t i = 0; i < f->n; i++) {
        int y = app->ui.rows - (int)f->n + (int)i, lw;
        const char *t = f->text[i];
        int tw = (int)fmt_width(t), room;
        app_fill(app, y, 0, app->ui.cols, app_attr(app, THEME_NORMAL));
        lw = app_put(app, y, 0, app->ui.cols,
                     app_attr(app, i == f->focus ? THEME_PROMPT : THEME_DIM), f->label[i]);
        room = app->ui.cols - lw - 1;
        /* A long text shows its end, where the cursor is. */
        while (tw > room && *t != '\0') {
            t++;
            while ((*t & 0xc0) == 0x80)
                t++;
            tw = (int)fmt_width(t);
        }
        app_put(app, y, lw, room, app_attr(app, THEME_NORMAL), t);
        if (i == f->focus) {
            cy = y;
            cx = lw + tw < app->ui.cols ? lw + tw : app->ui.cols - 1;
        }
    }
    if (f->n > 1) {
        int y = app->ui.rows - (int)f->n - 1;
        app_fill(app, y, 0, app->ui.cols, app_attr(app, THEME_STATUS));
        app_put(app, y, 1, app->ui.cols - 2, app_attr(app, THEME_STATUS),
                "Tab/Up/Down: field  Enter: next, on the last applies  Esc: cancel");
    }
    curs_set(1);
    move(cy, cx);
    return true;
}
