/* The console: one poll() loop over the terminal, the tailer's wake fd, a
 * signal self-pipe and a timer tick; redraws only when something changed, at
 * most ~30 frames a second, through wnoutrefresh + doupdate so curses sends
 * only what differs (cheap over a slow SSH link). */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#include "core/clock.h"
#include "core/compliance.h"
#include "core/recovery.h"
#include "core/runtime.h"
#include "core/wal.h"
#include "tui/app.h"
#include "tui/cli.h"
#include "tui/console_remote.h"
#include "tui/demo_traffic.h"
#include "tui/fmt.h"
#include "tui/signals.h"
#include "watch/stores.h"

static void maybe_scan_incomplete(struct app *app);

#define FRAME_US 33000 /* ~30 frames per second at most */
#define MIN_ROWS 24
#define MIN_COLS 80
#define PROMPT_POLL_MS 200

attr_t
app_attr(const struct app *app, enum theme_elem e)
{
    return (attr_t)app->attrs.attr[e];
}

void
app_message(struct app *app, bool is_error, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(app->message, sizeof(app->message), fmt, ap);
    va_end(ap);
    app->message_is_error = is_error;
    app->message_until_us = clock_mono_us() + 5000000;
    app->dirty = true;
}

cJSON *
app_load_record(struct app *app, const char *id, struct intentus_err *err)
{
    if (app->store == NULL) {
        err_set(err, IERR_NOT_FOUND,
                "record %.160s is on the service's host: no local record directory to read it "
                "from (--dir)",
                id);
        return NULL;
    }
    return rec_store_load(app->store, id, err);
}

void
app_show_diff(struct app *app, const char *a, const char *b)
{
    snprintf(app->diff_a, sizeof(app->diff_a), "%s", a);
    snprintf(app->diff_b, sizeof(app->diff_b), "%s", b);
    app->diff_mode = true;
    /* The detail view keys its state on detail_id: give the diff its own. */
    snprintf(app->detail_id, sizeof(app->detail_id), "diff:%.70s:%.70s", a, b);
    if (app->screen != SCREEN_DETAIL)
        app->prev_screen = app->screen;
    app->screen = SCREEN_DETAIL;
    if (app->views[SCREEN_DETAIL]->model_changed != NULL)
        app->views[SCREEN_DETAIL]->model_changed(app, app->view_state[SCREEN_DETAIL]);
    app->dirty = true;
}

void
app_show_record(struct app *app, const char *id)
{
    app->diff_mode = false;
    snprintf(app->detail_id, sizeof(app->detail_id), "%s", id);
    if (app->screen != SCREEN_DETAIL)
        app->prev_screen = app->screen;
    app->screen = SCREEN_DETAIL;
    if (app->views[SCREEN_DETAIL]->model_changed != NULL)
        app->views[SCREEN_DETAIL]->model_changed(app, app->view_state[SCREEN_DETAIL]);
    app->dirty = true;
}

/* Width-aware output: convert UTF-8 to wide characters and stop at width
 * columns, so East Asian wide characters and emoji never overflow a cell. */
int
app_put(struct app *app, int y, int x, int width, attr_t attr, const char *text)
{
    mbstate_t st;
    int used = 0;
    const char *p = text != NULL ? text : "";
    size_t left = strlen(p);

    /* Never start past the edge: a failed move() would leave the cursor where
     * the last output ended and the text would land there instead. */
    if (width <= 0 || y < 0 || y >= app->rows || x < 0 || x >= app->cols)
        return 0;
    if (width > app->cols - x)
        width = app->cols - x;
    memset(&st, 0, sizeof(st));
    attrset(attr);
    move(y, x);
    while (left > 0 && used < width) {
        wchar_t wc;
        size_t n = mbrtowc(&wc, p, left, &st);
        int w;
        if (n == (size_t)-1 || n == (size_t)-2) {
            wc = L'?';
            n = 1;
            memset(&st, 0, sizeof(st));
        } else if (n == 0) {
            break;
        }
        if (wc < 0x20 || wc == 0x7f)
            wc = L' '; /* control characters never reach the terminal */
        w = wcwidth(wc);
        if (w < 0)
            w = 1, wc = L'?';
        if (used + w > width)
            break;
        if (w > 0) {
            wchar_t s[2] = { wc, 0 };
            addnwstr(s, 1);
        }
        used += w;
        p += n;
        left -= n;
    }
    attrset(A_NORMAL);
    return used;
}

void
app_fill(struct app *app, int y, int x, int width, attr_t attr)
{
    if (width <= 0 || y < 0 || y >= app->rows || x < 0 || x >= app->cols)
        return;
    if (width > app->cols - x)
        width = app->cols - x;
    attrset(attr);
    mvhline(y, x, ' ', width);
    attrset(A_NORMAL);
}

void
app_hline(struct app *app, int y, int x, int width)
{
    attrset(app_attr(app, THEME_BORDER));
    if (app->ascii)
        mvhline(y, x, '-', width);
    else
        mvhline(y, x, ACS_HLINE, width);
    attrset(A_NORMAL);
}

static const char *
compliance_label(enum compliance_mode m)
{
    return m == COMPLIANCE_DEVELOPMENT ? "DEVELOPMENT"
           : m == COMPLIANCE_REGULATED ? "REGULATED"
                                       : "STANDARD";
}

static void
draw_frame(struct app *app)
{
    char left[640], right[256];
    struct tailer_stats ts;
    int x = 0;

    memset(&ts, 0, sizeof(ts));
    if (app->tailer != NULL)
        tailer_get_stats(app->tailer, &ts);
    app_fill(app, 0, 0, app->cols, app_attr(app, THEME_TITLE));
    if (app->remote != NULL) {
        char why[300];
        bool up = console_remote_status(app->remote, why, sizeof(why));
        if (up)
            snprintf(left, sizeof(left), " intentus  attached to %.200s  records: %.200s",
                     console_remote_url(app->remote),
                     app->feed_remote ? "from the event stream" : app->records_dir);
        else
            snprintf(left, sizeof(left), " intentus  attached to %.200s: reconnecting: %.290s",
                     console_remote_url(app->remote), why);
        if (!up) {
            app_put(app, 0, 0, app->cols, app_attr(app, THEME_ERROR) | A_REVERSE, left);
            left[0] = '\0';
        }
    } else {
        snprintf(left, sizeof(left), " intentus  %s", app->records_dir);
    }
    /* The compliance mode of the running config (REGULATED in capitals, as
     * the reference spells its levels, so it stands out). */
    snprintf(right, sizeof(right), "%s%s%s  %zu records  %s  %s ",
             demo_traffic_running(app) ? "DEMO TRAFFIC (T)  " : "", app->paused ? "PAUSED  " : "",
             app->dir_gone      ? "DIRECTORY GONE"
             : app->feed_remote ? "events"
             : ts.polling       ? "poll"
                                : "inotify",
             index_size(app->ix), compliance_label(runtime_config(app->rt)->compliance),
             app->theme.name);
    if (left[0] != '\0')
        app_put(app, 0, 0, app->cols - (int)fmt_width(right), app_attr(app, THEME_TITLE), left);
    app_put(app, 0, app->cols - (int)fmt_width(right), (int)fmt_width(right),
            app_attr(app, THEME_TITLE), right);
    app_fill(app, 1, 0, app->cols, app_attr(app, THEME_TAB));
    for (int i = 0; i < SCREEN_COUNT; i++) {
        char tab[64];
        enum theme_elem e = (enum app_screen)i == app->screen ? THEME_TAB_ACTIVE : THEME_TAB;
        snprintf(tab, sizeof(tab), " %d %s ", i + 1, app->views[i]->name);
        x += app_put(app, 1, x, app->cols - x, app_attr(app, e), tab);
        x += app_put(app, 1, x, app->cols - x, app_attr(app, THEME_TAB), " ");
    }
}

static void
draw_status(struct app *app)
{
    int y = app->rows - 1;
    const char *hint = app->opts.read_only
                           ? "? help  1-7 screens  / filter  Enter open  t theme  p pause  Q quit"
                             "   [read-only]"
                           : "? help  1-7 screens  f fire  / filter  Enter open  t theme  "
                             "p pause  R reload  Q quit";

    app_fill(app, y, 0, app->cols, app_attr(app, THEME_STATUS));
    if (app->confirm.active)
        app_put(app, y, 1, app->cols - 2, app_attr(app, THEME_PROMPT), app->confirm.question);
    else if (app->message[0] != '\0' && clock_mono_us() < app->message_until_us)
        app_put(app, y, 1, app->cols - 2,
                app->message_is_error ? app_attr(app, THEME_ERROR) | A_REVERSE
                                      : app_attr(app, THEME_STATUS),
                app->message);
    else
        app_put(app, y, 1, app->cols - 2, app_attr(app, THEME_STATUS), hint);
}

void
app_draw(struct app *app)
{
    /* Cleared first, so a view that animates (a progress bar) can ask for
     * the next frame by setting it again while drawing. */
    app->dirty = false;
    erase();
    if (app->rows < MIN_ROWS || app->cols < MIN_COLS) {
        char msg[128];
        snprintf(msg, sizeof(msg), "terminal too small: %dx%d, intentus needs %dx%d", app->cols,
                 app->rows, MIN_COLS, MIN_ROWS);
        app_put(app, app->rows / 2, 0, app->cols, A_BOLD, msg);
    } else {
        draw_frame(app);
        app->views[app->screen]->draw(app, app->view_state[app->screen], 2, app->rows - 3,
                                      app->cols);
        draw_status(app);
    }
    wnoutrefresh(stdscr);
    doupdate();
    app->last_frame_us = clock_mono_us();
    if (app->first_frame_us == 0)
        app->first_frame_us = app->last_frame_us;
}

static void
apply_theme(struct app *app, const char *name)
{
    struct theme_report r = { "", 0 };

    if (theme_load(&app->theme, name, app->theme_dirs, &r) != 0)
        app_message(app, true, "theme '%s' not found; using default", name);
    else if (r.count > 0)
        app_message(app, true, "%.200s", r.text);
    theme_apply(&app->theme, COLORS, app->use_color, &app->attrs);
    for (size_t i = 0; i < app->n_themes; i++) {
        if (strcmp(app->themes[i], app->theme.name) == 0)
            app->theme_idx = i;
    }
    bkgdset(' ' | app_attr(app, THEME_NORMAL));
    app->dirty = true;
}

static void
model_changed(struct app *app)
{
    app->generation++;
    for (int i = 0; i < SCREEN_COUNT; i++) {
        if (app->views[i]->model_changed != NULL)
            app->views[i]->model_changed(app, app->view_state[i]);
    }
    app->dirty = true;
}

static void
on_tailer_event(void *ctx, const struct tailer_event *ev)
{
    struct app *app = ctx;

    switch (ev->kind) {
    case TAILER_UPSERT:
        if (index_upsert(app->ix, ev->digest, NULL) == 0)
            app->upserts++;
        break;
    case TAILER_REMOVE:
        if (index_remove(app->ix, ev->id) == 1)
            app->removals++;
        break;
    case TAILER_SYNCED:
        app->synced = true;
        break;
    case TAILER_DIR_GONE:
        app->dir_gone = true;
        app_message(app, true, "record directory %s went away; waiting for it to come back",
                    app->records_dir);
        break;
    case TAILER_DIR_BACK:
        app->dir_gone = false;
        app_message(app, false, "record directory is back; re-indexing");
        break;
    case TAILER_POLLING:
        app_message(app, true, "inotify unavailable (%s); polling", ev->msg ? ev->msg : "?");
        break;
    case TAILER_NO_INDEX:
        app_message(app, true, "persistent index not used (%s); reading the files",
                    ev->msg ? ev->msg : "?");
        break;
    }
}

static void
on_tailer(void *ctx, int fd)
{
    struct app *app = ctx;

    (void)fd;
    if (app->paused)
        return; /* events wait in the tailer; nothing is lost */
    if (tailer_drain(app->tailer, on_tailer_event, app) > 0)
        model_changed(app);
}

/* The terminal went away (ssh dropped, tmux killed): stdin hangs up. Such
 * a hangup also sends SIGHUP, which otherwise means "reload", so the hangup
 * is what decides. */
static bool
terminal_gone(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };

    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

static void
resize(struct app *app)
{
    struct winsize ws;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0)
        resizeterm(ws.ws_row, ws.ws_col);
    getmaxyx(stdscr, app->rows, app->cols);
    clearok(curscr, TRUE);
    app->dirty = true;
}

static void
reload_config(struct app *app)
{
    struct intentus_err err = { 0 };

    if (runtime_reload(app->rt, &err) != 0) {
        app_message(app, true, "reload failed, keeping the running config: %s", err.msg);
        return;
    }
    app->cfg = runtime_config(app->rt);
    app_message(app, false, "configuration reloaded from %s", app->cfg->source);
    model_changed(app);
}

static void
on_completions(void *ctx, int fd)
{
    struct app *app = ctx;
    struct completion batch[64];
    size_t n;

    (void)fd;
    while ((n = runtime_collect(app->rt, batch, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (batch[i].tag & DEMO_TRAFFIC_TAG)
                demo_traffic_completion(app, &batch[i]);
            else
                view_fire_completion(app, app->view_state[SCREEN_FIRE], &batch[i]);
            completion_free(&batch[i]);
        }
    }
}

static void
on_signal_pipe(void *ctx, int fd)
{
    struct app *app = ctx;
    unsigned bits = signals_drain();

    (void)fd;
    if (bits & (1U << SIG_EVENT_QUIT))
        loop_stop(app->loop);
    if (bits & (1U << SIG_EVENT_RESIZE))
        resize(app);
    if ((bits & (1U << SIG_EVENT_RELOAD)) && terminal_gone(STDIN_FILENO))
        loop_stop(app->loop);
    else if (bits & (1U << SIG_EVENT_RELOAD))
        reload_config(app);
}

void
app_confirm(struct app *app, const char *action, const char *agent, const char *question)
{
    app->confirm.active = true;
    snprintf(app->confirm.question, sizeof(app->confirm.question), "%s", question);
    snprintf(app->confirm.action, sizeof(app->confirm.action), "%s", action);
    snprintf(app->confirm.agent, sizeof(app->confirm.agent), "%s", agent != NULL ? agent : "");
    app->dirty = true;
}

/* The key after a y/n question: 'y' sends the action (its result comes
 * back through on_remote), anything else cancels. */
static void
answer_confirm(struct app *app, int key)
{
    struct intentus_err err = { 0 };
    const char *agent = app->confirm.agent[0] != '\0' ? app->confirm.agent : NULL;

    app->confirm.active = false;
    app->dirty = true;
    if (key != 'y' && key != 'Y') {
        app_message(app, false, "cancelled");
        return;
    }
    if (app->remote == NULL ||
        console_remote_action(app->remote, app->confirm.action, agent, &err) != 0) {
        app_message(app, true, "%s: %s", app->confirm.action,
                    app->remote == NULL ? "not attached to a service" : err.msg);
        return;
    }
    app_message(app, false, "%s%s%s: sent to the service...", app->confirm.action,
                agent != NULL ? " " : "", agent != NULL ? agent : "");
}

/* Results from the service's worker threads. */
static void
on_remote(void *ctx, int fd)
{
    struct app *app = ctx;
    struct remote_result res[64];
    bool changed = console_remote_drain(app->remote);
    size_t n;

    (void)fd;
    while ((n = console_remote_collect(app->remote, res, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (res[i].kind == REMOTE_ACTION) {
                app_message(app, res[i].is_error, "%s", res[i].msg);
                changed = true; /* the next poll shows its effect */
            } else if (res[i].kind == REMOTE_COMPLETION) {
                view_fire_completion(app, app->view_state[SCREEN_FIRE], &res[i].c);
            } else if (res[i].d != NULL && !app->paused &&
                       index_upsert(app->ix, res[i].d, NULL) == 0) {
                app->upserts++;
                changed = true;
            }
            remote_result_free(&res[i]);
        }
    }
    if (changed)
        model_changed(app);
    app->dirty = true; /* the header shows the connection's state */
}

static void
switch_screen(struct app *app, enum app_screen s)
{
    if (s == app->screen)
        return;
    if (s != SCREEN_DASHBOARD && s != SCREEN_RECORDS)
        app->prev_screen = app->screen;
    app->screen = s;
    app->dirty = true;
}

/* The actions that open a screen. */
static const struct {
    enum key_action act;
    enum app_screen screen;
} screen_keys[] = {
    { ACT_HELP, SCREEN_HELP },
    { ACT_SCREEN_HELP, SCREEN_HELP },
    { ACT_SCREEN_DASHBOARD, SCREEN_DASHBOARD },
    { ACT_SCREEN_RECORDS, SCREEN_RECORDS },
    { ACT_SCREEN_DETAIL, SCREEN_DETAIL },
    { ACT_SCREEN_FIRE, SCREEN_FIRE },
    { ACT_SCREEN_REDACT, SCREEN_REDACT },
    { ACT_SCREEN_RETENTION, SCREEN_RETENTION },
};

static void
handle_key(struct app *app, int key)
{
    const struct view_ops *v = app->views[app->screen];
    enum key_action act = keymap_lookup(v->keyctx, key);
    unsigned r = 0;

    if (app->confirm.active) {
        answer_confirm(app, key);
        return;
    }
    if (key == KEY_MOUSE) {
        MEVENT me;
        if (getmouse(&me) != OK)
            return;
        if (me.bstate & BUTTON4_PRESSED)
            act = ACT_UP;
        else if (me.bstate & BUTTON5_PRESSED)
            act = ACT_DOWN;
        else if (me.y == 1 && (me.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED))) {
            /* A click on the tab bar switches screens. */
            int x = 0;
            for (int i = 0; i < SCREEN_COUNT; i++) {
                int w = (int)strlen(app->views[i]->name) + 4;
                if (me.x >= x && me.x < x + w) {
                    switch_screen(app, (enum app_screen)i);
                    return;
                }
                x += w + 1;
            }
            return;
        } else {
            r = v->handle(app, app->view_state[app->screen], ACT_NONE, me.y * 1000 + me.x);
            if (r & VIEW_REDRAW)
                app->dirty = true;
            return;
        }
    }
    if (app->rows < MIN_ROWS || app->cols < MIN_COLS) {
        if (act == ACT_QUIT || act == ACT_BACK)
            loop_stop(app->loop);
        return;
    }
    if (act != ACT_NONE || key != ERR)
        r = v->handle(app, app->view_state[app->screen], act, key);
    if (r & VIEW_QUIT)
        loop_stop(app->loop);
    if (r & VIEW_REDRAW)
        app->dirty = true;
    if (r & VIEW_HANDLED)
        return;
    for (size_t i = 0; i < sizeof(screen_keys) / sizeof(screen_keys[0]); i++) {
        if (screen_keys[i].act == act) {
            switch_screen(app, screen_keys[i].screen);
            return;
        }
    }
    switch (act) {
    case ACT_QUIT:
        loop_stop(app->loop);
        break;
    case ACT_BACK:
        if (app->screen != SCREEN_DASHBOARD && app->screen != SCREEN_RECORDS)
            switch_screen(app,
                          app->prev_screen == app->screen ? SCREEN_DASHBOARD : app->prev_screen);
        else if (key == 'q')
            loop_stop(app->loop);
        break;
    case ACT_RELOAD:
        if (app->remote != NULL && app->opts.read_only)
            app_message(app, true, "read-only console: reloading the service is disabled");
        else if (app->remote != NULL)
            app_confirm(app, "reload", NULL, "reload the service's configuration? (y/n)");
        else
            reload_config(app);
        break;
    case ACT_NEXT_SCREEN:
        switch_screen(app, (enum app_screen)((app->screen + 1) % SCREEN_COUNT));
        break;
    case ACT_THEME:
        if (app->n_themes > 0) {
            app->theme_idx = (app->theme_idx + 1) % app->n_themes;
            apply_theme(app, app->themes[app->theme_idx]);
            app_message(app, false, "theme: %s", app->theme.name);
        }
        break;
    case ACT_PAUSE:
        app->paused = !app->paused;
        app_message(app, false,
                    app->paused ? "live updates paused (p to resume)" : "live updates resumed");
        if (!app->paused && app->tailer != NULL)
            on_tailer(app, tailer_fd(app->tailer));
        break;
    case ACT_REDRAW:
        clearok(curscr, TRUE);
        app->dirty = true;
        break;
    case ACT_DEMO_TRAFFIC:
        demo_traffic_toggle(app);
        break;
    default:
        break;
    }
}

static void
on_stdin(void *ctx, int fd)
{
    struct app *app = ctx;
    int key, got = 0;

    /* Drain everything: curses buffers escape sequences internally. */
    while ((key = getch()) != ERR) {
        got++;
        if (key == KEY_RESIZE) {
            /* resizeterm() queues KEY_RESIZE itself: only pick up the new
             * size here, or each resize would queue another forever. */
            getmaxyx(stdscr, app->rows, app->cols);
            app->dirty = true;
            continue;
        }
        handle_key(app, key);
        if (loop_is_stopped(app->loop))
            return;
    }
    if (got == 0 && terminal_gone(fd))
        loop_stop(app->loop);
}

static void
on_tick(void *ctx)
{
    struct app *app = ctx;

    maybe_scan_incomplete(app);
    demo_traffic_pump(app);
    /* Time moves windows and rates even when no record arrives. */
    if (app->screen == SCREEN_DASHBOARD || app->message_until_us != 0)
        app->dirty = true;
    if (app->message_until_us != 0 && clock_mono_us() >= app->message_until_us)
        app->message_until_us = 0;
}

void
app_redraw_after(struct app *app, int ms)
{
    int64_t at = clock_mono_us() + (int64_t)ms * 1000;

    if (app->redraw_at_us == 0 || at < app->redraw_at_us)
        app->redraw_at_us = at;
    loop_wake_within(app->loop, ms);
}

static void
before_sleep(void *ctx)
{
    struct app *app = ctx;
    int64_t since;

    demo_traffic_pump(app);
    if (app->redraw_at_us != 0) {
        int64_t left = app->redraw_at_us - clock_mono_us();
        if (left <= 0) {
            app->redraw_at_us = 0;
            app->dirty = true;
        } else {
            loop_wake_within(app->loop, (int)(left / 1000) + 1);
        }
    }

    if (!app->dirty)
        return;
    since = clock_mono_us() - app->last_frame_us;
    if (since >= FRAME_US)
        app_draw(app);
    else
        loop_wake_within(app->loop, (int)((FRAME_US - since) / 1000) + 1);
}

/* A small line editor on the bottom row with its own key loop; the tailer
 * keeps running in its thread meanwhile and is drained afterwards. */
bool
app_prompt(struct app *app, const char *label, char *buf, size_t size,
           void (*on_change)(struct app *app, void *ctx, const char *text), void *ctx)
{
    size_t len = strlen(buf);
    bool ok = false;

    /* Wake up now and then: SIGTERM/^C must end the console even while a
     * prompt is open (issue 14 fuzzing: it waited for the prompt to close),
     * and a terminal that hangs up ends the prompt. */
    timeout(PROMPT_POLL_MS);
    curs_set(1);
    for (;;) {
        int y = app->rows - 1, key, lw;
        app_fill(app, y, 0, app->cols, app_attr(app, THEME_NORMAL));
        lw = app_put(app, y, 0, app->cols, app_attr(app, THEME_PROMPT), label);
        app_put(app, y, lw, app->cols - lw - 1, app_attr(app, THEME_NORMAL), buf);
        move(y, lw + (int)fmt_width(buf) < app->cols ? lw + (int)fmt_width(buf) : app->cols - 1);
        wnoutrefresh(stdscr);
        doupdate();
        key = getch();
        if (key == '\n' || key == '\r' || key == KEY_ENTER) {
            ok = true;
            break;
        }
        if (key == ERR) {
            if (signals_quit_pending() || terminal_gone(STDIN_FILENO))
                break;
            continue;
        }
        if (key == 27)
            break;
        if (key == KEY_BACKSPACE || key == 127 || key == 8) {
            /* Remove one UTF-8 character. */
            while (len > 0 && (buf[len - 1] & 0xc0) == 0x80)
                len--;
            if (len > 0)
                len--;
            buf[len] = '\0';
        } else if (key == 21) { /* ^U */
            len = 0;
            buf[0] = '\0';
        } else if (key >= 0x20 && key < 0x100 && len + 1 < size) {
            buf[len++] = (char)key;
            buf[len] = '\0';
        } else {
            continue;
        }
        if (on_change != NULL) {
            on_change(app, ctx, buf);
            app_draw(app);
        }
    }
    curs_set(0);
    nodelay(stdscr, TRUE);
    app->dirty = true;
    return ok;
}

static void
on_exec_started(void *ctx, const char *id)
{
    struct app *app = ctx;

    pthread_mutex_lock(&app->inflight.lock);
    if (app->inflight.n < 64) {
        snprintf(app->inflight.id[app->inflight.n], sizeof(app->inflight.id[0]), "%s", id);
        app->inflight.start_us[app->inflight.n++] = clock_mono_us();
    } else {
        app->inflight.overflow++;
    }
    pthread_mutex_unlock(&app->inflight.lock);
}

static void
on_exec_finished(void *ctx, const char *id)
{
    struct app *app = ctx;

    pthread_mutex_lock(&app->inflight.lock);
    for (size_t i = 0; i < app->inflight.n; i++) {
        if (strcmp(app->inflight.id[i], id) == 0) {
            app->inflight.n--;
            memcpy(app->inflight.id[i], app->inflight.id[app->inflight.n],
                   sizeof(app->inflight.id[0]));
            app->inflight.start_us[i] = app->inflight.start_us[app->inflight.n];
            pthread_mutex_unlock(&app->inflight.lock);
            return;
        }
    }
    if (app->inflight.overflow > 0)
        app->inflight.overflow--;
    pthread_mutex_unlock(&app->inflight.lock);
}

size_t
app_inflight(struct app *app, int64_t *oldest)
{
    size_t n;

    pthread_mutex_lock(&app->inflight.lock);
    n = app->inflight.n + (size_t)app->inflight.overflow;
    *oldest = 0;
    for (size_t i = 0; i < app->inflight.n; i++) {
        if (*oldest == 0 || app->inflight.start_us[i] < *oldest)
            *oldest = app->inflight.start_us[i];
    }
    pthread_mutex_unlock(&app->inflight.lock);
    return n;
}

const char *
app_wal_dir(const struct app *app)
{
    return app->cfg->wal.enabled && app->cfg->wal.dir != NULL ? app->cfg->wal.dir : NULL;
}

int
app_load_wal(struct app *app, const char *id, struct wal_log *log)
{
    const char *dir = app_wal_dir(app);

    memset(log, 0, sizeof(*log));
    if (dir == NULL)
        return -1;
    return wal_read(dir, id, log, NULL);
}

/* The WAL scan runs on a worker: it reads every log in the directory. */
static void *
incomplete_scan(void *arg)
{
    struct app *app = arg;
    struct recovery_item *items = NULL;
    struct intentus_err err = { 0 };
    size_t n = 0;
    char dir[512];
    int rc;

    pthread_mutex_lock(&app->incomplete.lock);
    snprintf(dir, sizeof(dir), "%s", app_wal_dir(app) ? app_wal_dir(app) : "");
    pthread_mutex_unlock(&app->incomplete.lock);
    rc = dir[0] ? recovery_scan(dir, &items, &n, &err) : 0;
    pthread_mutex_lock(&app->incomplete.lock);
    app->incomplete.n = rc == 0 ? n : 0;
    app->incomplete.oldest_us = 0;
    snprintf(app->incomplete.error, sizeof(app->incomplete.error), "%s", rc == 0 ? "" : err.msg);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int64_t t;
        if (i < 8) {
            snprintf(app->incomplete.id[i], sizeof(app->incomplete.id[0]), "%s",
                     items[i].execution_id);
            snprintf(app->incomplete.state[i], sizeof(app->incomplete.state[0]), "%s",
                     wal_state_name(items[i].state));
        }
        if (clock_parse_iso(items[i].last_timestamp, &t) == 0 &&
            (app->incomplete.oldest_us == 0 || t < app->incomplete.oldest_us))
            app->incomplete.oldest_us = t;
    }
    app->incomplete.running = false;
    pthread_mutex_unlock(&app->incomplete.lock);
    recovery_items_free(items, n);
    return NULL;
}

static void
maybe_scan_incomplete(struct app *app)
{
    int64_t now = clock_mono_us();
    bool start = false;

    if (app_wal_dir(app) == NULL)
        return;
    pthread_mutex_lock(&app->incomplete.lock);
    if (!app->incomplete.running && now >= app->incomplete.next_scan_us) {
        if (!app->incomplete.joined && app->incomplete.next_scan_us != 0)
            pthread_join(app->incomplete.thread, NULL);
        app->incomplete.joined = true;
        app->incomplete.next_scan_us = now + 5000000;
        app->incomplete.running = true;
        start = true;
    }
    pthread_mutex_unlock(&app->incomplete.lock);
    if (start) {
        bool ok = pthread_create(&app->incomplete.thread, NULL, incomplete_scan, app) == 0;
        pthread_mutex_lock(&app->incomplete.lock);
        if (ok)
            app->incomplete.joined = false;
        else
            app->incomplete.running = false;
        pthread_mutex_unlock(&app->incomplete.lock);
    }
}

static int
open_model(struct app *app, const struct console_opts *opts)
{
    struct intentus_err err = { 0 };
    /* Start from the persistent index and keep it current, unless asked
     * not to or only watching (read-only creates nothing, not even it). */
    struct tailer_opts to = { .mode = opts->poll ? TAILER_POLL : TAILER_AUTO,
                              .poll_ms = opts->poll_ms,
                              .use_index = !opts->no_index && !opts->read_only };
    struct rec_store_opts so = { .create = true };

    pthread_mutex_init(&app->inflight.lock, NULL);
    pthread_mutex_init(&app->incomplete.lock, NULL);
    app->incomplete.joined = true;
    app->rt =
        runtime_open(opts->config,
                     &(struct runtime_opts){ .records_dir = opts->dir,
                                             /* attached: the service routes and records */
                                             .read_only = opts->read_only || opts->server != NULL,
                                             .on_started = on_exec_started,
                                             .on_finished = on_exec_finished,
                                             .exec_ctx = app,
                                             .store_engines = stores_builtin },
                     &err);
    if (app->rt == NULL) {
        cli_error("console", "%s", err.msg);
        return err.code == IERR_CONFIG ? 2 : 1;
    }
    {
        /* Its model is a record directory and its tailer (watch/). */
        const struct config *c = runtime_config(app->rt);
        const struct store_engine *e =
            c->store_url != NULL ? store_engine_find(stores_builtin, c->store_url, NULL, &err)
                                 : NULL;
        if (c->store_url != NULL && e != &store_engine_file) {
            cli_error("console",
                      "recording.store %s: the console shows file: stores only; read it with "
                      "'intentus records list|tail -f --store URL'",
                      c->store_url);
            return 2;
        }
    }
    app->cfg = runtime_config(app->rt);
    /* The store, the tailer and the views decrypt with the config's keys
     * (unless $INTENTUS_KEYRING already gave some). */
    if (cli_keys_from_config(app->cfg) != 0)
        return 2;
    app->records_dir = strdup(runtime_records_dir(app->rt));
    if (opts->server != NULL) {
        /* Records from the local directory when this host can read it,
         * else from the service's event stream. */
        app->feed_remote = access(app->records_dir, R_OK | X_OK) != 0;
        app->remote = console_remote_open(opts->server, opts->token, app->feed_remote, &err);
        if (app->remote == NULL) {
            cli_error("console", "%s", err.msg);
            return 1;
        }
        app->ix = index_new();
        app->agg = app->ix != NULL ? agg_attach(app->ix) : NULL;
        if (app->ix == NULL || app->agg == NULL) {
            cli_error("console", "out of memory");
            return 1;
        }
        if (app->feed_remote) {
            app->synced = true;
            return 0;
        }
    }
    /* The console may be the first to run: create the directory (0700), unless
     * it is only watching (read-only or attached). */
    so.create = !opts->read_only && opts->server == NULL;
    app->store = rec_store_open(app->records_dir, &so, &err);
    if (app->store == NULL) {
        cli_error("console", "%s", err.msg);
        return 1;
    }
    if (app->ix == NULL) {
        app->ix = index_new();
        app->agg = app->ix != NULL ? agg_attach(app->ix) : NULL;
    }
    app->tailer = tailer_start(app->records_dir, &to, &err);
    if (app->ix == NULL || app->agg == NULL || app->tailer == NULL) {
        cli_error("console", "cannot watch %s: %s", app->records_dir,
                  app->tailer == NULL ? err.msg : "out of memory");
        return 1;
    }
    return 0;
}

static void
close_model(struct app *app)
{
    bool join;

    pthread_mutex_lock(&app->incomplete.lock);
    join = !app->incomplete.joined;
    app->incomplete.joined = true;
    pthread_mutex_unlock(&app->incomplete.lock);
    if (join)
        pthread_join(app->incomplete.thread, NULL);
    console_remote_close(app->remote); /* its threads stop first: nothing calls back */
    tailer_stop(app->tailer);
    agg_free(app->agg);
    index_free(app->ix);
    rec_store_close(app->store);
    runtime_close(app->rt);
    free(app->records_dir);
    pthread_mutex_destroy(&app->inflight.lock);
    pthread_mutex_destroy(&app->incomplete.lock);
}

static void
setup_themes(struct app *app, const struct console_opts *opts)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    const char *no_color = getenv("NO_COLOR");
    size_t nd = 0;

    app->theme_dirs[nd++] = "themes";
    snprintf(app->theme_dir_buf[0], sizeof(app->theme_dir_buf[0]), "%s/share/intentus/themes",
             INTENTUS_PREFIX);
    app->theme_dirs[nd++] = app->theme_dir_buf[0];
    if ((xdg != NULL && xdg[0]) || (home != NULL && home[0])) {
        if (xdg != NULL && xdg[0])
            snprintf(app->theme_dir_buf[1], sizeof(app->theme_dir_buf[1]), "%s/intentus/themes",
                     xdg);
        else
            snprintf(app->theme_dir_buf[1], sizeof(app->theme_dir_buf[1]),
                     "%s/.config/intentus/themes", home);
        app->theme_dirs[nd++] = app->theme_dir_buf[1];
    }
    app->theme_dirs[nd] = NULL;
    app->n_themes = theme_list(app->theme_dirs, app->themes, 32);
    app->use_color = has_colors() && !opts->no_color && !(no_color != NULL && no_color[0]);
    if (app->use_color) {
        start_color();
        use_default_colors();
    }
    apply_theme(app, opts->theme != NULL ? opts->theme : app->use_color ? "default" : "mono");
}

static bool
locale_is_utf8(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs != NULL && (strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf8") == 0);
}

/* cbreak() keeps the terminal's XON/XOFF flow control (IXON), so ^S, the
 * fire form's "save payload", stopped all output and the console froze until
 * ^Q (issue 14.9). raw() would clear it but also ISIG, and ^C must stay
 * SIGINT, which quits cleanly through the self-pipe. So: cbreak, then clear
 * IXON/IXOFF ourselves and make that curses' program mode (def_prog_mode), so
 * ncurses re-applies it after ^Z and resizes and endwin() leaves it again. */
static void
terminal_no_flow_control(void)
{
    struct termios t;

    if (tcgetattr(STDIN_FILENO, &t) != 0)
        return;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF);
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0)
        def_prog_mode();
}

int
console_run(const struct console_opts *opts)
{
    struct app *app = calloc(1, sizeof(*app));
    struct termios saved_tty;
    bool have_tty;
    int rc, sigfd, demo = 0;
    char why[512];

    if (app == NULL)
        return 1;
    setlocale(LC_ALL, "");
    app->opts = *opts;
    app->start_us = clock_mono_us();
    rc = open_model(app, opts);
    if (rc == 0 && (demo = demo_traffic_wanted(opts, app->cfg, why, sizeof(why))) < 0) {
        cli_error("console", "%s", why);
        rc = 2;
    }
    if (rc != 0) {
        close_model(app);
        free(app);
        return rc;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "intentus: the console needs a terminal (use a command such as "
                        "'intentus records list' in scripts)\n");
        close_model(app);
        free(app);
        return 2;
    }
    /* The terminal as we found it, restored however the loop ends (Q, ^C,
     * SIGTERM, SIGHUP of a lost terminal all come back here). */
    have_tty = tcgetattr(STDIN_FILENO, &saved_tty) == 0;
    sigfd = signals_install();
    app->ascii = opts->ascii || !locale_is_utf8();
    app->views[SCREEN_DASHBOARD] = &view_dashboard;
    app->views[SCREEN_RECORDS] = &view_records;
    app->views[SCREEN_DETAIL] = &view_detail;
    app->views[SCREEN_FIRE] = &view_fire;
    app->views[SCREEN_REDACT] = &view_redact;
    app->views[SCREEN_RETENTION] = &view_retention;
    app->views[SCREEN_HELP] = &view_help;
    initscr();
    cbreak();
    noecho();
    nonl();
    intrflush(stdscr, FALSE);
    terminal_no_flow_control(); /* last: the tty calls above rewrite modes */
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    mousemask(BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
    getmaxyx(stdscr, app->rows, app->cols);
    setup_themes(app, opts);
    for (int i = 0; i < SCREEN_COUNT; i++) {
        app->view_state[i] = calloc(1, app->views[i]->state_size ? app->views[i]->state_size : 1);
        if (app->views[i]->open != NULL)
            app->views[i]->open(app, app->view_state[i]);
    }
    app->loop = loop_new();
    loop_add_fd(app->loop, STDIN_FILENO, on_stdin, app);
    if (app->tailer != NULL)
        loop_add_fd(app->loop, tailer_fd(app->tailer), on_tailer, app);
    if (app->remote != NULL)
        loop_add_fd(app->loop, console_remote_fd(app->remote), on_remote, app);
    if (sigfd >= 0)
        loop_add_fd(app->loop, sigfd, on_signal_pipe, app);
    if (runtime_completion_fd(app->rt) >= 0)
        loop_add_fd(app->loop, runtime_completion_fd(app->rt), on_completions, app);
    loop_set_tick(app->loop, 500, on_tick, app);
    loop_set_before_sleep(app->loop, before_sleep, app);
    app->dirty = true;
    if (demo == 1)
        demo_traffic_start(app);
    loop_run(app->loop);
    /* No more demo intents from here; those in flight finish in runtime_close. */
    demo_traffic_stop(app);
    /* Leave the terminal as we found it, whatever happened. */
    endwin();
    if (have_tty)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tty);
    signals_restore();
    for (int i = 0; i < SCREEN_COUNT; i++) {
        if (app->views[i]->close != NULL)
            app->views[i]->close(app->view_state[i]);
        free(app->view_state[i]);
    }
    loop_free(app->loop);
    close_model(app);
    demo_traffic_free(app);
    free(app);
    return 0;
}
