/* The console: one poll() loop over the terminal, the tailer's wake fd, a
 * signal self-pipe and a timer tick; redraws only when something changed, at
 * most ~30 frames a second, through wnoutrefresh + doupdate so curses sends
 * only what differs (cheap over a slow SSH link). */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <sqlite3.h>
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
#include "core/record.h"
#include "core/recovery.h"
#include "core/runtime.h"
#include "core/wal.h"
#include "tui/app.h"
#include "tui/cli.h"
#include "tui/console_remote.h"
#include "tui/demo_traffic.h"
#include "tui/fmt.h"
#include "tui/job.h"
#include "tui/signals.h"
#include "tui/store_feed.h"
#include "watch/index_query.h"
#include "watch/stores.h"

static void maybe_scan_incomplete(struct app *app);

#define FRAME_US 33000 /* ~30 frames per second at most */
#define MIN_ROWS 24
#define MIN_COLS 80

attr_t
app_attr(const struct app *app, enum theme_elem e)
{
    return (attr_t)app->ui.attrs.attr[e];
}

void
app_message(struct app *app, bool is_error, const char *fmt, ...)
{
    va_list ap;

    size_t slot = app->ui.log.next;

    /* The full text goes to the message log (:messages); the status line
     * shows what fits. */
    va_start(ap, fmt);
    vsnprintf(app->ui.log.text[slot], sizeof(app->ui.log.text[slot]), fmt, ap);
    va_end(ap);
    app->ui.log.wall_us[slot] = clock_wall_us();
    app->ui.log.is_error[slot] = is_error;
    app->ui.log.next = (slot + 1) % 64;
    if (app->ui.log.n < 64)
        app->ui.log.n++;
    snprintf(app->ui.message, sizeof(app->ui.message), "%s", app->ui.log.text[slot]);
    app->ui.message_is_error = is_error;
    app->ui.message_until_us = clock_mono_us() + 5000000;
    app->ui.dirty = true;
}

cJSON *
app_load_record(struct app *app, const char *id, struct intentus_err *err)
{
    if (app->model.rstore != NULL) {
        size_t len = 0;
        /* A sealed text (sqlite, postgres) opened with the reading keys. */
        char *text = store_get_open(app->model.rstore, id, &len, NULL, err);
        cJSON *rec = text != NULL ? record_parse(text, len, err) : NULL;
        /* store_get_open's errors name the store and the record already. */
        if (text != NULL && rec == NULL)
            err_prefix(err, "%s: record %s", app->model.store_url, id);
        if (text != NULL)
            explicit_bzero(text, len);
        free(text);
        return rec;
    }
    if (app->model.store == NULL) {
        err_set(err, IERR_NOT_FOUND,
                "record %.160s is on the service's host: no local record directory to read it "
                "from (--dir)",
                id);
        return NULL;
    }
    return rec_store_load(app->model.store, id, err);
}

static void switch_screen(struct app *app, enum app_screen s);

/* The one way from one screen to another with something to show: the
 * target view gets a typed argument through its show op. */
void
app_show(struct app *app, enum app_screen s, const struct view_arg *arg)
{
    if ((unsigned)s >= SCREEN_COUNT)
        return;
    if (arg != NULL && app->ui.views[s]->show != NULL)
        app->ui.views[s]->show(app, app->ui.view_state[s], arg);
    switch_screen(app, s);
    app->ui.dirty = true;
}

void
app_show_diff(struct app *app, const char *a, const char *b)
{
    app_show(app, SCREEN_DETAIL, &(struct view_arg){ .id = a, .id_b = b });
}

void
app_show_record(struct app *app, const char *id)
{
    app_show(app, SCREEN_DETAIL, &(struct view_arg){ .id = id });
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
    if (width <= 0 || y < 0 || y >= app->ui.rows || x < 0 || x >= app->ui.cols)
        return 0;
    if (width > app->ui.cols - x)
        width = app->ui.cols - x;
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
        if (app->ui.ascii && wc == 0x2026)
            wc = L'~'; /* --ascii: a cut cell ends in "~", not "…" */
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
    if (width <= 0 || y < 0 || y >= app->ui.rows || x < 0 || x >= app->ui.cols)
        return;
    if (width > app->ui.cols - x)
        width = app->ui.cols - x;
    attrset(attr);
    mvhline(y, x, ' ', width);
    attrset(A_NORMAL);
}

void
app_hline(struct app *app, int y, int x, int width)
{
    attrset(app_attr(app, THEME_BORDER));
    if (app->ui.ascii)
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
    if (app->model.tailer != NULL)
        tailer_get_stats(app->model.tailer, &ts);
    app_fill(app, 0, 0, app->ui.cols, app_attr(app, THEME_TITLE));
    if (app->model.remote != NULL) {
        char why[300];
        bool up = console_remote_status(app->model.remote, why, sizeof(why));
        if (up)
            snprintf(left, sizeof(left), " intentus  attached to %.200s  records: %.200s",
                     console_remote_url(app->model.remote),
                     app->model.feed_remote ? "from the event stream" : app->model.records_dir);
        else
            snprintf(left, sizeof(left), " intentus  attached to %.200s: reconnecting: %.290s",
                     console_remote_url(app->model.remote), why);
        if (!up) {
            app_put(app, 0, 0, app->ui.cols, app_attr(app, THEME_ERROR) | A_REVERSE, left);
            left[0] = '\0';
        }
    } else {
        snprintf(left, sizeof(left), " intentus  %s",
                 app->model.store_url != NULL ? app->model.store_url : app->model.records_dir);
    }
    /* The compliance mode of the running config (REGULATED in capitals, as
     * the reference spells its levels, so it stands out). */
    snprintf(right, sizeof(right), "%s%s%s%s  %zu records  %s  %s ",
             app->opts.read_only ? "READ-ONLY  " : "",
             demo_traffic_running(app) ? "DEMO TRAFFIC (T)  " : "", app->paused ? "PAUSED  " : "",
             app->model.dir_gone       ? "DIRECTORY GONE"
             : app->model.feed_remote  ? "events"
             : app->model.feed != NULL ? "follow"
             : ts.polling              ? "poll"
                                       : "inotify",
             app_total(app), compliance_label(runtime_config(app->model.rt)->compliance),
             app->ui.theme.name);
    if (left[0] != '\0')
        app_put(app, 0, 0, app->ui.cols - (int)fmt_width(right), app_attr(app, THEME_TITLE), left);
    app_put(app, 0, app->ui.cols - (int)fmt_width(right), (int)fmt_width(right),
            app_attr(app, THEME_TITLE), right);
    app_fill(app, 1, 0, app->ui.cols, app_attr(app, THEME_TAB));
    for (int i = 0; i < SCREEN_TABS; i++) {
        char tab[64];
        enum theme_elem e = (enum app_screen)i == app->ui.screen ? THEME_TAB_ACTIVE : THEME_TAB;
        snprintf(tab, sizeof(tab), " %d %s ", i + 1, app->ui.views[i]->name);
        x += app_put(app, 1, x, app->ui.cols - x, app_attr(app, e), tab);
        x += app_put(app, 1, x, app->ui.cols - x, app_attr(app, THEME_TAB), " ");
    }
}

static void
draw_status(struct app *app)
{
    int y = app->ui.rows - 1;
    char hint[512];

    if (app_modes_draw(app))
        return; /* a prompt, form or question has the bottom rows */
    keymap_hint(app->ui.views[app->ui.screen]->keyctx, app->ui.views[app->ui.screen]->extra_keys,
                app->ui.views[app->ui.screen]->n_extra_keys, app->opts.read_only, hint,
                sizeof(hint));
    app_fill(app, y, 0, app->ui.cols, app_attr(app, THEME_STATUS));
    if (app->ui.message[0] != '\0' && clock_mono_us() < app->ui.message_until_us)
        app_put(app, y, 1, app->ui.cols - 2,
                app->ui.message_is_error ? app_attr(app, THEME_ERROR) | A_REVERSE
                                         : app_attr(app, THEME_STATUS),
                app->ui.message);
    else
        app_put(app, y, 1, app->ui.cols - 2, app_attr(app, THEME_STATUS), hint);
}

void
app_draw(struct app *app)
{
    /* Cleared first, so a view that animates (a progress bar) can ask for
     * the next frame by setting it again while drawing. */
    app->ui.dirty = false;
    erase();
    if (app->ui.rows < MIN_ROWS || app->ui.cols < MIN_COLS) {
        char msg[128];
        snprintf(msg, sizeof(msg), "terminal too small: %dx%d, intentus needs %dx%d", app->ui.cols,
                 app->ui.rows, MIN_COLS, MIN_ROWS);
        app_put(app, app->ui.rows / 2, 0, app->ui.cols, A_BOLD, msg);
        curs_set(0); /* no field is drawn, so no cursor either */
    } else {
        draw_frame(app);
        app->ui.views[app->ui.screen]->draw(app, app->ui.view_state[app->ui.screen], 2,
                                            app->ui.rows - 3, app->ui.cols);
        draw_status(app);
    }
    wnoutrefresh(stdscr);
    doupdate();
    app->ui.last_frame_us = clock_mono_us();
    if (app->ui.first_frame_us == 0)
        app->ui.first_frame_us = app->ui.last_frame_us;
}

static void apply_mouse(struct app *app);

static void
apply_theme(struct app *app, const char *name)
{
    struct theme_report r = { "", 0 };

    if (theme_load(&app->ui.theme, name, app->ui.theme_dirs, &r) != 0)
        app_message(app, true, "theme '%s' not found; using default", name);
    else if (r.count > 0)
        app_message(app, true, "%.200s", r.text);
    theme_apply(&app->ui.theme, COLORS, app->ui.use_color, &app->ui.attrs);
    for (size_t i = 0; i < app->ui.n_themes; i++) {
        if (strcmp(app->ui.themes[i], app->ui.theme.name) == 0)
            app->ui.theme_idx = i;
    }
    bkgdset(' ' | app_attr(app, THEME_NORMAL));
    app->ui.dirty = true;
}

static void
model_changed(struct app *app)
{
    app->model.generation++;
    for (int i = 0; i < SCREEN_COUNT; i++) {
        if (app->ui.views[i]->model_changed != NULL)
            app->ui.views[i]->model_changed(app, app->ui.view_state[i]);
    }
    app->ui.dirty = true;
}

size_t
app_total(struct app *app)
{
    return console_model_total(&app->model);
}

static void
on_tailer_event(void *ctx, const struct tailer_event *ev)
{
    struct app *app = ctx;

    switch (ev->kind) {
    case TAILER_UPSERT:
        if (index_upsert(app->model.ix, ev->digest, NULL) == 0)
            app->model.upserts++;
        break;
    case TAILER_REMOVE:
        if (index_remove(app->model.ix, ev->id) == 1)
            app->model.removals++;
        break;
    case TAILER_SYNCED:
        app->model.synced = true;
        break;
    case TAILER_DIR_GONE:
        app->model.dir_gone = true;
        app_message(app, true, "record directory %s went away; waiting for it to come back",
                    app->model.records_dir);
        break;
    case TAILER_DIR_BACK:
        app->model.dir_gone = false;
        app_message(app, false, "record directory is back; re-indexing");
        break;
    case TAILER_POLLING:
        app_message(app, true, "inotify unavailable (%s); polling", ev->msg ? ev->msg : "?");
        break;
    case TAILER_INDEX_OPEN:
        if (app->model.db == NULL) {
            /* Started from the persistent index: from now on the figures,
             * totals and the browser's rows are its queries, on a read
             * connection of our own (the tailer writes every change before
             * sending it). Its queries read the rows once per refresh: a
             * small page cache (the file's pages are in the kernel's cache
             * anyway) keeps the console's memory flat as the directory
             * grows. */
            struct intentus_err err = { 0 };
            app->model.db = index_db_open_path(ev->msg, false, false, &err);
            if (app->model.db != NULL)
                sqlite3_exec(index_db_sqlite(app->model.db), "PRAGMA cache_size=-2048", NULL, NULL,
                             NULL);
            else
                app_message(app, true, "persistent index %s not readable (%s)", ev->msg, err.msg);
        }
        break;
    case TAILER_NO_INDEX:
        app_message(app, true, "persistent index not used (%s); reading the files",
                    ev->msg ? ev->msg : "?");
        break;
    case TAILER_INDEX_COMMITTED:
        /* Nothing to copy: the drain counts it, so the model changes and
         * the totals and pages are queried again, now with these rows. */
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
    if (tailer_drain(app->model.tailer, on_tailer_event, app) > 0)
        model_changed(app);
}

static void
on_feed_digest(void *ctx, const struct digest *d)
{
    struct app *app = ctx;

    if (index_upsert(app->model.ix, d, NULL) == 0)
        app->model.upserts++;
}

static void
on_feed_msg(void *ctx, const char *text, bool is_error)
{
    app_message(ctx, is_error, "%s", text);
}

static void
on_feed_removed(void *ctx, const char *id)
{
    struct app *app = ctx;

    if (index_remove(app->model.ix, id) == 1)
        app->model.removals++;
}

static void
on_feed_total(void *ctx, long total)
{
    ((struct app *)ctx)->model.feed_total = total;
}

static void
on_feed(void *ctx, int fd)
{
    struct app *app = ctx;
    bool was = app->model.synced;

    (void)fd;
    if (app->paused)
        return; /* records wait in the feed; nothing is lost */
    static const struct store_feed_sink sink = { .digest = on_feed_digest,
                                                 .removed = on_feed_removed,
                                                 .msg = on_feed_msg,
                                                 .total = on_feed_total };

    if (store_feed_drain(app->model.feed, &sink, app, &app->model.synced) > 0 ||
        app->model.synced != was)
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
    getmaxyx(stdscr, app->ui.rows, app->ui.cols);
    clearok(curscr, TRUE);
    app->ui.dirty = true;
}

static void
reload_config(struct app *app)
{
    struct intentus_err err = { 0 };

    if (runtime_reload(app->model.rt, &err) != 0) {
        app_message(app, true, "reload failed, keeping the running config: %s", err.msg);
        return;
    }
    app->model.cfg = runtime_config(app->model.rt);
    app_message(app, false, "configuration reloaded from %s", app->model.cfg->source);
    model_changed(app);
}

/* A completion goes to the view that fires intents (through the registry,
 * not a call into it). */
static void
deliver_completion(struct app *app, const struct completion *c)
{
    for (int i = 0; i < SCREEN_COUNT; i++) {
        if (app->ui.views[i]->completion != NULL) {
            app->ui.views[i]->completion(app, app->ui.view_state[i], c);
            return;
        }
    }
}

static void
on_completions(void *ctx, int fd)
{
    struct app *app = ctx;
    struct completion batch[64];
    size_t n;

    (void)fd;
    while ((n = runtime_collect(app->model.rt, batch, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (batch[i].tag & DEMO_TRAFFIC_TAG)
                demo_traffic_completion(app, &batch[i]);
            else
                deliver_completion(app, &batch[i]);
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

/* 'y' to a remote question: send the action (its result comes back
 * through on_remote). */
static void
remote_confirmed(struct app *app, void *ctx, const char *arg)
{
    struct intentus_err err = { 0 };
    const char *agent = arg[0] != '\0' ? arg : NULL;

    (void)ctx;
    if (app->model.remote == NULL ||
        console_remote_action(app->model.remote, app->ui.confirm.action, agent, &err) != 0) {
        app_message(app, true, "%s: %s", app->ui.confirm.action,
                    app->model.remote == NULL ? "not attached to a service" : err.msg);
        return;
    }
    app_message(app, false, "%s%s%s: sent to the service...", app->ui.confirm.action,
                agent != NULL ? " " : "", agent != NULL ? agent : "");
}

void
app_confirm(struct app *app, const char *action, const char *agent, const char *question)
{
    snprintf(app->ui.confirm.action, sizeof(app->ui.confirm.action), "%s", action);
    app_ask(app, question, agent, remote_confirmed, NULL);
}

/* Results from the service's worker threads. */
static void
on_remote(void *ctx, int fd)
{
    struct app *app = ctx;
    struct remote_result res[64];
    bool changed = console_remote_drain(app->model.remote);
    size_t n;

    (void)fd;
    while ((n = console_remote_collect(app->model.remote, res, 64)) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (res[i].kind == REMOTE_ACTION) {
                app_message(app, res[i].is_error, "%s", res[i].msg);
                changed = true; /* the next poll shows its effect */
            } else if (res[i].kind == REMOTE_COMPLETION) {
                deliver_completion(app, &res[i].c);
            } else if (res[i].d != NULL && !app->paused &&
                       index_upsert(app->model.ix, res[i].d, NULL) == 0) {
                app->model.upserts++;
                changed = true;
            }
            remote_result_free(&res[i]);
        }
    }
    if (changed)
        model_changed(app);
    app->ui.dirty = true; /* the header shows the connection's state */
}

static void
switch_screen(struct app *app, enum app_screen s)
{
    if (s == app->ui.screen)
        return;
    app->ui.prev_screen = app->ui.screen;
    if (s == SCREEN_DASHBOARD) {
        app->ui.n_back = 0; /* the root: nothing to go back to */
    } else {
        if (app->ui.n_back == sizeof(app->ui.back_stack) / sizeof(app->ui.back_stack[0])) {
            memmove(app->ui.back_stack, app->ui.back_stack + 1,
                    sizeof(app->ui.back_stack) - sizeof(app->ui.back_stack[0]));
            app->ui.n_back--;
        }
        app->ui.back_stack[app->ui.n_back++] = app->ui.screen;
    }
    app->ui.screen = s;
    app->ui.dirty = true;
}

/* Esc and q: back to the screen before (the dashboard at the bottom). */
static void
go_back(struct app *app)
{
    enum app_screen to = SCREEN_DASHBOARD;

    while (app->ui.n_back > 0) {
        to = app->ui.back_stack[--app->ui.n_back];
        if (to != app->ui.screen)
            break;
        to = SCREEN_DASHBOARD;
    }
    app->ui.prev_screen = app->ui.screen;
    app->ui.screen = to;
    app->ui.dirty = true;
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

/* ':' commands (k9s style): name and argument (README lists what each does). */
static const struct {
    const char *name, *arg;
} commands[] = {
    { "records", "" },    /* the records screen */
    { "agents", "" },     /* the dashboard's agents table */
    { "agent", "NAME" },  /* records of one agent */
    { "filter", "EXPR" }, /* records matching EXPR (intent: agent: status: error: since:) */
    { "theme", "NAME" },  /* switch the colour theme */
    { "fire", "INTENT" }, /* the fire form on INTENT */
    { "messages", "" },   /* the message log (full texts) */
    { "help", "" },       /* help for this screen */
    { "q", "" },          /* quit intentus */
};

static void
command_done(struct app *app, void *ctx, bool ok)
{
    char line[sizeof(app->ui.cmd_history[0])];

    (void)ctx;
    if (!ok)
        return;
    snprintf(line, sizeof(line), "%.255s", app->ui.form.text[0]);
    if (line[0] != '\0') {
        /* History: newest last, no immediate repeat, bounded. */
        if (app->ui.n_cmd_history == 0 ||
            strcmp(app->ui.cmd_history[app->ui.n_cmd_history - 1], line) != 0) {
            if (app->ui.n_cmd_history == 32) {
                memmove(app->ui.cmd_history[0], app->ui.cmd_history[1],
                        sizeof(app->ui.cmd_history[0]) * 31);
                app->ui.n_cmd_history--;
            }
            memcpy(app->ui.cmd_history[app->ui.n_cmd_history++], line, sizeof(line));
        }
    }
    app->ui.cmd_history_pos = app->ui.n_cmd_history;
    app_command(app, line);
}

static void
open_command_line(struct app *app)
{
    static char unused[256];

    unused[0] = '\0';
    app_prompt(app, ":", unused, sizeof(unused), NULL, command_done, NULL);
    app->ui.form.command = true;
    app->ui.cmd_history_pos = app->ui.n_cmd_history;
}

void
app_command(struct app *app, const char *line)
{
    char name[64] = "", arg[256] = "";
    const char *p = line;
    size_t n;

    while (*p == ' ' || *p == ':')
        p++;
    n = strcspn(p, " ");
    snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), p);
    p += n;
    while (*p == ' ')
        p++;
    snprintf(arg, sizeof(arg), "%s", p);
    n = strlen(arg);
    while (n > 0 && arg[n - 1] == ' ')
        arg[--n] = '\0';
    if (name[0] == '\0')
        return;
    if (strcmp(name, "q") == 0 || strcmp(name, "quit") == 0) {
        loop_stop(app->loop);
    } else if (strcmp(name, "records") == 0) {
        app_show(app, SCREEN_RECORDS, NULL);
    } else if (strcmp(name, "agents") == 0 || strcmp(name, "dashboard") == 0) {
        app_show(app, SCREEN_DASHBOARD, NULL);
    } else if (strcmp(name, "messages") == 0) {
        app_show(app, SCREEN_MESSAGES, NULL);
    } else if (strcmp(name, "help") == 0) {
        switch_screen(app, SCREEN_HELP);
    } else if (strcmp(name, "agent") == 0 || strcmp(name, "filter") == 0 ||
               strcmp(name, "theme") == 0 || strcmp(name, "fire") == 0) {
        char filter[300];
        if (arg[0] == '\0') {
            app_message(app, true, ":%s needs %s", name,
                        name[0] == 'a'   ? "an agent's name"
                        : name[1] == 'i' ? (name[2] == 'l' ? "a filter expression" : "an intent")
                                         : "a theme's name");
        } else if (strcmp(name, "agent") == 0) {
            snprintf(filter, sizeof(filter), "agent:%s", arg);
            app_show(app, SCREEN_RECORDS, &(struct view_arg){ .text = filter });
        } else if (strcmp(name, "filter") == 0) {
            app_show(app, SCREEN_RECORDS, &(struct view_arg){ .text = arg });
        } else if (strcmp(name, "theme") == 0) {
            apply_theme(app, arg);
            if (strcmp(app->ui.theme.name, arg) == 0)
                app_message(app, false, "theme: %s", app->ui.theme.name);
        } else if (app->opts.read_only) {
            app_message(app, true, "read-only console: firing is disabled");
        } else {
            app_show(app, SCREEN_FIRE, &(struct view_arg){ .text = arg });
        }
    } else {
        char known[512] = "";
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
            size_t len = strlen(known);
            snprintf(known + len, sizeof(known) - len, "%s:%s", i ? " " : "", commands[i].name);
        }
        app_message(app, true, "unknown command ':%s'; the commands are %s", name, known);
    }
}

/* Candidates for the word being completed: command names first, then the
 * argument of agent (agent names), theme (themes) and fire (intents). */
static size_t
complete_candidates(struct app *app, const char *cmd, bool first, const char *out[], size_t max)
{
    size_t n = 0;

    if (first) {
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]) && n < max; i++)
            out[n++] = commands[i].name;
        return n;
    }
    if (strcmp(cmd, "theme") == 0) {
        for (size_t i = 0; i < app->ui.n_themes && n < max; i++)
            out[n++] = app->ui.themes[i];
    } else if (strcmp(cmd, "agent") == 0 || strcmp(cmd, "fire") == 0) {
        struct registry *reg = app->model.cfg->registry;
        for (size_t i = 0; i < registry_count(reg) && n < max; i++) {
            const struct agent *a = registry_at(reg, i);
            if (cmd[0] == 'a') {
                out[n++] = a->name;
                continue;
            }
            for (size_t k = 0; k < a->n_caps && n < max; k++) {
                bool dup = false;
                for (size_t j = 0; j < n; j++)
                    dup = dup || strcmp(out[j], a->caps[k].name) == 0;
                if (!dup)
                    out[n++] = a->caps[k].name;
            }
        }
    }
    return n;
}

/* Tab: complete the last word to the longest common prefix of the
 * candidates; when only one fits, the whole word (and a space after a
 * command that takes an argument). Several: they go to the status line. */
void
app_command_complete(struct app *app, char *line, size_t size)
{
    const char *cands[256];
    char cmd[64] = "", list[512] = "";
    const char *sp = strchr(line, ' '), *word = sp != NULL ? strrchr(line, ' ') + 1 : line;
    size_t wl = strlen(word), nc, match = 0, common = 0;
    const char *first = NULL;

    if (sp != NULL)
        snprintf(cmd, sizeof(cmd), "%.*s", (int)(sp - line < 63 ? sp - line : 63), line);
    nc = complete_candidates(app, cmd, sp == NULL, cands, 256);
    for (size_t i = 0; i < nc; i++) {
        if (strncmp(cands[i], word, wl) != 0)
            continue;
        if (match++ == 0) {
            first = cands[i];
            common = strlen(first);
        } else {
            size_t k = 0;
            while (k < common && first[k] == cands[i][k])
                k++;
            common = k;
        }
        if (strlen(list) + strlen(cands[i]) + 2 < sizeof(list)) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof(list) - len, "%s%s", len ? "  " : "", cands[i]);
        }
    }
    if (match == 0) {
        app_message(app, true, "no completion for '%s'", word);
        return;
    }
    {
        size_t off = (size_t)(word - line);
        bool takes_arg = false;
        for (size_t i = 0; sp == NULL && match == 1 && i < sizeof(commands) / sizeof(commands[0]);
             i++)
            takes_arg = strcmp(commands[i].name, first) == 0 && commands[i].arg[0] != '\0';
        snprintf(line + off, size - off, "%.*s%s", (int)common, first, takes_arg ? " " : "");
    }
    if (match > 1)
        app_message(app, false, "%s", list);
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): the dispatch order in one place. */
static void
handle_key(struct app *app, int key)
{
    const struct view_ops *v = app->ui.views[app->ui.screen];
    void *st = app->ui.view_state[app->ui.screen];
    bool text = v->text_focus != NULL && v->text_focus(st);
    /* 1. an open mode (prompt, form, ':' line, question) takes every key;
     * 2. a focused text field of the view: only the view's own bindings
     *    apply, every other key is text; 3. the view; 4. global keys. */
    enum key_action act = text ? keymap_lookup_own(v->keyctx, key) : keymap_lookup(v->keyctx, key);
    struct key_event ev = { .key = key, .y = -1, .x = -1 };
    unsigned r = 0;

    if (app_modes_key(app, key))
        return;
    if (key == KEY_MOUSE) {
        MEVENT me;
        if (getmouse(&me) != OK)
            return;
        ev.y = me.y;
        ev.x = me.x;
        ev.mouse = true;
        if (me.bstate & BUTTON4_PRESSED)
            act = ACT_UP;
        else if (me.bstate & BUTTON5_PRESSED)
            act = ACT_DOWN;
        else if (me.y == 1 && (me.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED))) {
            /* A click on the tab bar switches screens. */
            int x = 0;
            for (int i = 0; i < SCREEN_TABS; i++) {
                int w = (int)strlen(app->ui.views[i]->name) + 4;
                if (me.x >= x && me.x < x + w) {
                    switch_screen(app, (enum app_screen)i);
                    return;
                }
                x += w + 1;
            }
            return;
        } else {
            if (v->click != NULL && (v->click(app, st, &ev) & VIEW_REDRAW))
                app->ui.dirty = true;
            return;
        }
    }
    if (app->ui.rows < MIN_ROWS || app->ui.cols < MIN_COLS) {
        if (act == ACT_QUIT || act == ACT_BACK)
            loop_stop(app->loop);
        return;
    }
    if (act != ACT_NONE || key != ERR)
        r = v->handle(app, st, act, &ev);
    if (r & VIEW_QUIT)
        loop_stop(app->loop);
    if (r & VIEW_REDRAW)
        app->ui.dirty = true;
    if ((r & VIEW_HANDLED) || (text && act == ACT_NONE))
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
        /* Esc and q are the same key everywhere: back. On the dashboard,
         * the root, q quits (htop) and Esc stays (k9s: Esc never quits). */
        if (app->ui.screen != SCREEN_DASHBOARD)
            go_back(app);
        else if (key == 'q')
            loop_stop(app->loop);
        break;
    case ACT_COMMAND:
        open_command_line(app);
        break;
    case ACT_RELOAD:
        if (app->model.remote != NULL && app->opts.read_only)
            app_message(app, true, "read-only console: reloading the service is disabled");
        else if (app->model.remote != NULL)
            app_confirm(app, "reload", NULL, "reload the service's configuration? (y/n)");
        else
            reload_config(app);
        break;
    case ACT_NEXT_SCREEN:
        switch_screen(app, (enum app_screen)((app->ui.screen + 1) % SCREEN_TABS));
        break;
    case ACT_THEME:
        if (app->ui.n_themes > 0) {
            app->ui.theme_idx = (app->ui.theme_idx + 1) % app->ui.n_themes;
            apply_theme(app, app->ui.themes[app->ui.theme_idx]);
            app_message(app, false, "theme: %s", app->ui.theme.name);
            snprintf(app->ui.prefs.theme, sizeof(app->ui.prefs.theme), "%s", app->ui.theme.name);
            app_prefs_save(app);
        }
        break;
    case ACT_PAUSE:
        app->paused = !app->paused;
        app_message(app, false,
                    app->paused ? "live updates paused (p to resume)" : "live updates resumed");
        if (!app->paused && app->model.tailer != NULL)
            on_tailer(app, tailer_fd(app->model.tailer));
        if (!app->paused && app->model.feed != NULL)
            on_feed(app, store_feed_fd(app->model.feed));
        break;
    case ACT_MOUSE:
        app->ui.prefs.mouse_set = true;
        app->ui.prefs.mouse = !app->ui.mouse;
        apply_mouse(app);
        if (app->model.cfg->console.mouse_set)
            app_message(app, true, "mouse stays %s: the config's console.mouse says so",
                        app->ui.mouse ? "on" : "off");
        else
            app_message(app, false, "mouse %s (saved)%s", app->ui.mouse ? "on" : "off",
                        app->ui.mouse ? "; hold Shift to select text" : "");
        app_prefs_save(app);
        break;
    case ACT_REDRAW:
        clearok(curscr, TRUE);
        app->ui.dirty = true;
        break;
    case ACT_DEMO_TRAFFIC:
        demo_traffic_toggle(app);
        break;
    default:
        break;
    }
}
/* NOLINTEND(readability-function-cognitive-complexity) */

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
            getmaxyx(stdscr, app->ui.rows, app->ui.cols);
            app->ui.dirty = true;
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
    if (app->ui.screen == SCREEN_DASHBOARD || app->ui.message_until_us != 0)
        app->ui.dirty = true;
    if (app->ui.message_until_us != 0 && clock_mono_us() >= app->ui.message_until_us)
        app->ui.message_until_us = 0;
}

void
app_redraw_after(struct app *app, int ms)
{
    int64_t at = clock_mono_us() + (int64_t)ms * 1000;

    if (app->ui.redraw_at_us == 0 || at < app->ui.redraw_at_us)
        app->ui.redraw_at_us = at;
    loop_wake_within(app->loop, ms);
}

static void
before_sleep(void *ctx)
{
    struct app *app = ctx;
    int64_t since;

    demo_traffic_pump(app);
    if (app->ui.redraw_at_us != 0) {
        int64_t left = app->ui.redraw_at_us - clock_mono_us();
        if (left <= 0) {
            app->ui.redraw_at_us = 0;
            app->ui.dirty = true;
        } else {
            loop_wake_within(app->loop, (int)(left / 1000) + 1);
        }
    }

    if (!app->ui.dirty)
        return;
    since = clock_mono_us() - app->ui.last_frame_us;
    if (since >= FRAME_US)
        app_draw(app);
    else
        loop_wake_within(app->loop, (int)((FRAME_US - since) / 1000) + 1);
}

static void
on_exec_started(void *ctx, const char *id)
{
    struct app *app = ctx;

    pthread_mutex_lock(&app->model.inflight.lock);
    if (app->model.inflight.n < 64) {
        snprintf(app->model.inflight.id[app->model.inflight.n], sizeof(app->model.inflight.id[0]),
                 "%s", id);
        app->model.inflight.start_us[app->model.inflight.n++] = clock_mono_us();
    } else {
        app->model.inflight.overflow++;
    }
    pthread_mutex_unlock(&app->model.inflight.lock);
}

static void
on_exec_finished(void *ctx, const char *id)
{
    struct app *app = ctx;

    pthread_mutex_lock(&app->model.inflight.lock);
    for (size_t i = 0; i < app->model.inflight.n; i++) {
        if (strcmp(app->model.inflight.id[i], id) == 0) {
            app->model.inflight.n--;
            memcpy(app->model.inflight.id[i], app->model.inflight.id[app->model.inflight.n],
                   sizeof(app->model.inflight.id[0]));
            app->model.inflight.start_us[i] = app->model.inflight.start_us[app->model.inflight.n];
            pthread_mutex_unlock(&app->model.inflight.lock);
            return;
        }
    }
    if (app->model.inflight.overflow > 0)
        app->model.inflight.overflow--;
    pthread_mutex_unlock(&app->model.inflight.lock);
}

size_t
app_inflight(struct app *app, int64_t *oldest)
{
    size_t n;

    pthread_mutex_lock(&app->model.inflight.lock);
    n = app->model.inflight.n + (size_t)app->model.inflight.overflow;
    *oldest = 0;
    for (size_t i = 0; i < app->model.inflight.n; i++) {
        if (*oldest == 0 || app->model.inflight.start_us[i] < *oldest)
            *oldest = app->model.inflight.start_us[i];
    }
    pthread_mutex_unlock(&app->model.inflight.lock);
    return n;
}

const char *
app_wal_dir(const struct app *app)
{
    return app->model.cfg->wal.enabled && app->model.cfg->wal.dir != NULL ? app->model.cfg->wal.dir
                                                                          : NULL;
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

/* The WAL scan, a job: it reads every log in the directory on a worker,
 * from a config reference of its own (a reload frees app->model.cfg's generation
 * only when no job holds it), and its results land in app->model.incomplete on the
 * loop's thread: nothing there is shared, nothing is locked. */
struct scan_job {
    struct app *app; /* only touched in scan_done, on the loop's thread */
    struct runtime_config_ref *ref;
    const struct config *cfg;
    struct recovery_item *items;
    size_t n;
    int rc;
    struct intentus_err err;
};

static void
scan_work(void *arg, const struct job_ctl *ctl)
{
    struct scan_job *j = arg;
    const char *dir = j->cfg->wal.enabled ? j->cfg->wal.dir : NULL;

    (void)ctl;
    j->rc = dir != NULL && dir[0] != '\0' ? recovery_scan(dir, &j->items, &j->n, &j->err) : 0;
}

static void
scan_done(void *arg)
{
    struct scan_job *j = arg;
    struct app *app = j->app;

    app->model.incomplete.n = j->rc == 0 ? j->n : 0;
    app->model.incomplete.oldest_us = 0;
    snprintf(app->model.incomplete.error, sizeof(app->model.incomplete.error), "%s",
             j->rc == 0 ? "" : j->err.msg);
    for (size_t i = 0; j->rc == 0 && i < j->n; i++) {
        int64_t t;
        if (i < 8) {
            snprintf(app->model.incomplete.id[i], sizeof(app->model.incomplete.id[0]), "%s",
                     j->items[i].execution_id);
            snprintf(app->model.incomplete.state[i], sizeof(app->model.incomplete.state[0]), "%s",
                     wal_state_name(j->items[i].state));
        }
        if (clock_parse_iso(j->items[i].last_timestamp, &t) == 0 &&
            (app->model.incomplete.oldest_us == 0 || t < app->model.incomplete.oldest_us))
            app->model.incomplete.oldest_us = t;
    }
    app->model.incomplete.running = false;
    app->ui.dirty = true;
    recovery_items_free(j->items, j->n);
    runtime_config_release(app->model.rt, j->ref);
    free(j);
}

static void
maybe_scan_incomplete(struct app *app)
{
    int64_t now = clock_mono_us();
    struct scan_job *j;

    if (app_wal_dir(app) == NULL || app->jobs == NULL || app->model.incomplete.running ||
        now < app->model.incomplete.next_scan_us)
        return;
    app->model.incomplete.next_scan_us = now + 5000000;
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return;
    j->app = app;
    j->cfg = runtime_config_acquire(app->model.rt, &j->ref);
    if (job_run(app->jobs, scan_work, scan_done, j) != 0) {
        runtime_config_release(app->model.rt, j->ref);
        free(j);
        return;
    }
    app->model.incomplete.running = true;
}

static int
open_model(struct app *app, const struct console_opts *opts)
{
    struct intentus_err err = { 0 };
    /* Start from the persistent index and keep it current, unless asked
     * not to or only watching (read-only creates nothing, not even it). */
    struct tailer_opts to = { .mode = opts->poll ? TAILER_POLL : TAILER_AUTO,
                              .poll_ms = opts->poll_ms,
                              .use_index = !opts->no_index && !opts->read_only,
                              .window = opts->window != 0 ? opts->window : APP_WINDOW };
    struct rec_store_opts so = { .create = true };

    pthread_mutex_init(&app->model.inflight.lock, NULL);
    app->model.rt =
        runtime_open(opts->config,
                     &(struct runtime_opts){ .records_dir = opts->dir,
                                             .store_url = opts->store,
                                             /* attached: the service routes and records */
                                             .read_only = opts->read_only || opts->server != NULL,
                                             .on_started = on_exec_started,
                                             .on_finished = on_exec_finished,
                                             .exec_ctx = app,
                                             .store_engines = stores_builtin },
                     &err);
    if (app->model.rt == NULL) {
        cli_error("console", "%s", err.msg);
        return err.code == IERR_CONFIG ? 2 : 1;
    }
    {
        /* Its model is a record directory and its tailer (watch/), or
         * another engine's store and its feed (tui/store_feed.h). --dir
         * wins over the config's store, as it does for the runtime. */
        const struct config *c = runtime_config(app->model.rt);
        const char *url = opts->store != NULL ? opts->store
                          : opts->dir == NULL ? c->store_url
                                              : NULL;
        const struct store_engine *e =
            url != NULL ? store_engine_find(stores_builtin, url, NULL, &err) : NULL;
        if (url != NULL && e == NULL) {
            cli_error("console", "%s", err.msg);
            return 2;
        }
        if (e != NULL && e != &store_engine_file) {
            if (opts->server != NULL) {
                cli_error("console",
                          "--server: records come from the service; the store %s is "
                          "read without it",
                          url);
                return 2;
            }
            app->model.cfg = runtime_config(app->model.rt);
            if (cli_keys_from_config(app->model.cfg) != 0)
                return 2;
            app->model.records_dir = strdup(runtime_records_dir(app->model.rt));
            app->model.store_url = strdup(url);
            app->model.rstore = store_open_url(stores_builtin, url,
                                               &(struct store_opts){ .read_only = true }, &err);
            if (app->model.rstore == NULL) {
                cli_error("console", "%s: %s", url, err.msg);
                return 1;
            }
            if (e == &store_engine_sqlite) {
                /* A sqlite store is an index database: the totals, the
                 * figures and the browser's pages are its queries, on a
                 * read connection of our own, as with a directory's index;
                 * the feed hands over only the newest window of rows. */
                const char *path = index_db_info(store_sqlite_index(app->model.rstore))->path;
                app->model.db = index_db_open_path(path, false, false, &err);
                if (app->model.db == NULL) {
                    cli_error("console", "%s: %s", url, err.msg);
                    return 1;
                }
                sqlite3_exec(index_db_sqlite(app->model.db), "PRAGMA cache_size=-2048", NULL, NULL,
                             NULL);
            }
            app->model.feed_total = -1;
            app->model.feed = store_feed_start(url, to.window, &err);
            app->model.ix = index_new();
            app->model.agg = app->model.ix != NULL ? agg_attach(app->model.ix) : NULL;
            if (app->model.feed == NULL || app->model.ix == NULL || app->model.agg == NULL) {
                cli_error("console", "%s", app->model.feed == NULL ? err.msg : "out of memory");
                return 1;
            }
            return 0;
        }
    }
    app->model.cfg = runtime_config(app->model.rt);
    /* The store, the tailer and the views decrypt with the config's keys
     * (unless $INTENTUS_KEYRING already gave some). */
    if (cli_keys_from_config(app->model.cfg) != 0)
        return 2;
    app->model.records_dir = strdup(runtime_records_dir(app->model.rt));
    if (opts->server != NULL) {
        /* Records from the local directory when this host can read it,
         * else from the service's event stream. */
        app->model.feed_remote = access(app->model.records_dir, R_OK | X_OK) != 0;
        app->model.remote =
            console_remote_open(opts->server, opts->token, app->model.feed_remote, &err);
        if (app->model.remote == NULL) {
            cli_error("console", "%s", err.msg);
            return 1;
        }
        app->model.ix = index_new();
        app->model.agg = app->model.ix != NULL ? agg_attach(app->model.ix) : NULL;
        if (app->model.ix == NULL || app->model.agg == NULL) {
            cli_error("console", "out of memory");
            return 1;
        }
        if (app->model.feed_remote) {
            app->model.synced = true;
            return 0;
        }
    }
    /* The console may be the first to run: create the directory (0700), unless
     * it is only watching (read-only or attached). */
    so.create = !opts->read_only && opts->server == NULL;
    app->model.store = rec_store_open(app->model.records_dir, &so, &err);
    if (app->model.store == NULL) {
        cli_error("console", "%s", err.msg);
        return 1;
    }
    if (app->model.ix == NULL) {
        app->model.ix = index_new();
        app->model.agg = app->model.ix != NULL ? agg_attach(app->model.ix) : NULL;
    }
    app->model.tailer = tailer_start(app->model.records_dir, &to, &err);
    if (app->model.ix == NULL || app->model.agg == NULL || app->model.tailer == NULL) {
        cli_error("console", "cannot watch %s: %s", app->model.records_dir,
                  app->model.tailer == NULL ? err.msg : "out of memory");
        return 1;
    }
    return 0;
}

static void
close_model(struct app *app)
{
    console_remote_close(app->model.remote); /* its threads stop first: nothing calls back */
    tailer_stop(app->model.tailer);
    store_feed_stop(app->model.feed);
    store_close(app->model.rstore);
    store_close(app->model.stats_store);
    store_close(app->model.page_store);
    free(app->model.store_url);
    index_db_close(app->model.db);
    agg_free(app->model.agg);
    index_free(app->model.ix);
    rec_store_close(app->model.store);
    runtime_close(app->model.rt);
    free(app->model.records_dir);
    pthread_mutex_destroy(&app->model.inflight.lock);
}

static void
setup_themes(struct app *app, const struct console_opts *opts)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    const char *no_color = getenv("NO_COLOR");
    size_t nd = 0;

    app->ui.theme_dirs[nd++] = "themes";
    snprintf(app->ui.theme_dir_buf[0], sizeof(app->ui.theme_dir_buf[0]), "%s/share/intentus/themes",
             INTENTUS_PREFIX);
    app->ui.theme_dirs[nd++] = app->ui.theme_dir_buf[0];
    if ((xdg != NULL && xdg[0]) || (home != NULL && home[0])) {
        if (xdg != NULL && xdg[0])
            snprintf(app->ui.theme_dir_buf[1], sizeof(app->ui.theme_dir_buf[1]),
                     "%s/intentus/themes", xdg);
        else
            snprintf(app->ui.theme_dir_buf[1], sizeof(app->ui.theme_dir_buf[1]),
                     "%s/.config/intentus/themes", home);
        app->ui.theme_dirs[nd++] = app->ui.theme_dir_buf[1];
    }
    app->ui.theme_dirs[nd] = NULL;
    app->ui.n_themes = theme_list(app->ui.theme_dirs, app->ui.themes, 32);
    app->ui.use_color = has_colors() && !opts->no_color && !(no_color != NULL && no_color[0]);
    if (app->ui.use_color) {
        start_color();
        use_default_colors();
    }
    /* --theme, then the config's console.theme, then the one saved last
     * time; mono without colours unless asked for by name on the command line. */
    apply_theme(app, opts->theme != NULL                ? opts->theme
                     : !app->ui.use_color               ? "mono"
                     : app->model.cfg->console.theme[0] ? app->model.cfg->console.theme
                     : app->ui.prefs.theme[0] != '\0'   ? app->ui.prefs.theme
                                                        : "default");
}

/* The preferences saved by earlier runs (tui/prefs.c); read before the
 * themes and the views open. */
static void
load_prefs(struct app *app)
{
    struct intentus_err err = { 0 };

    app->ui.has_prefs = prefs_path(app->ui.prefs_file, sizeof(app->ui.prefs_file)) == 0;
    if (app->ui.has_prefs && prefs_load(app->ui.prefs_file, &app->ui.prefs, &err) != 0) {
        app_message(app, true, "preferences not read (defaults used): %s", err.msg);
        memset(&app->ui.prefs, 0, sizeof(app->ui.prefs));
    }
}

void
app_prefs_save(struct app *app)
{
    struct intentus_err err = { 0 };

    if (!app->ui.has_prefs || app->opts.read_only) /* read-only: nothing is written */
        return;
    if (prefs_save(app->ui.prefs_file, &app->ui.prefs, &err) != 0)
        app_message(app, true, "preferences not saved: %s", err.msg);
}

/* Mouse on or off: console.mouse in the config, else the saved setting,
 * else on. */
static void
apply_mouse(struct app *app)
{
    app->ui.mouse = app->model.cfg->console.mouse_set ? app->model.cfg->console.mouse
                    : app->ui.prefs.mouse_set         ? app->ui.prefs.mouse
                                                      : true;
    mousemask(app->ui.mouse ? BUTTON1_CLICKED | BUTTON1_PRESSED | BUTTON4_PRESSED | BUTTON5_PRESSED
                            : 0,
              NULL);
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
    app->ui.start_us = clock_mono_us();
    rc = open_model(app, opts);
    if (rc == 0 && (demo = demo_traffic_wanted(opts, app->model.cfg, why, sizeof(why))) < 0) {
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
    app->ui.ascii = opts->ascii || !locale_is_utf8();
    app->ui.views[SCREEN_DASHBOARD] = &view_dashboard;
    app->ui.views[SCREEN_RECORDS] = &view_records;
    app->ui.views[SCREEN_DETAIL] = &view_detail;
    app->ui.views[SCREEN_FIRE] = &view_fire;
    app->ui.views[SCREEN_REDACT] = &view_redact;
    app->ui.views[SCREEN_RETENTION] = &view_retention;
    app->ui.views[SCREEN_HELP] = &view_help;
    app->ui.views[SCREEN_MESSAGES] = &view_messages;
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
    load_prefs(app);
    apply_mouse(app);
    getmaxyx(stdscr, app->ui.rows, app->ui.cols);
    setup_themes(app, opts);
    for (int i = 0; i < SCREEN_COUNT; i++) {
        app->ui.view_state[i] =
            calloc(1, app->ui.views[i]->state_size ? app->ui.views[i]->state_size : 1);
        if (app->ui.views[i]->open != NULL)
            app->ui.views[i]->open(app, app->ui.view_state[i]);
    }
    app->loop = loop_new();
    app->jobs = jobs_new(app->loop);
    loop_add_fd(app->loop, STDIN_FILENO, on_stdin, app);
    if (app->model.tailer != NULL)
        loop_add_fd(app->loop, tailer_fd(app->model.tailer), on_tailer, app);
    if (app->model.feed != NULL)
        loop_add_fd(app->loop, store_feed_fd(app->model.feed), on_feed, app);
    if (app->model.remote != NULL)
        loop_add_fd(app->loop, console_remote_fd(app->model.remote), on_remote, app);
    if (sigfd >= 0)
        loop_add_fd(app->loop, sigfd, on_signal_pipe, app);
    if (runtime_completion_fd(app->model.rt) >= 0)
        loop_add_fd(app->loop, runtime_completion_fd(app->model.rt), on_completions, app);
    loop_set_tick(app->loop, 500, on_tick, app);
    loop_set_before_sleep(app->loop, before_sleep, app);
    app->ui.dirty = true;
    if (demo == 1)
        demo_traffic_start(app);
    loop_run(app->loop);
    /* No more demo intents from here; those in flight finish in runtime_close. */
    demo_traffic_stop(app);
    /* Background jobs stop (job_cancelled) and deliver before the views and
     * the model they report to go away. */
    jobs_free(app->jobs);
    app->jobs = NULL;
    /* Leave the terminal as we found it, whatever happened. */
    endwin();
    if (have_tty)
        tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tty);
    signals_restore();
    for (int i = 0; i < SCREEN_COUNT; i++) {
        if (app->ui.views[i]->close != NULL)
            app->ui.views[i]->close(app->ui.view_state[i]);
        free(app->ui.view_state[i]);
    }
    loop_free(app->loop);
    close_model(app);
    demo_traffic_free(app);
    free(app);
    return 0;
}
