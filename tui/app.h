/* The console's one context: created in console_run() and passed to every
 * view. It holds the model (struct console_model, tui/console_model.h: the
 * record index fed by the tailer, the aggregates, the configuration), the
 * loop's parts, and the UI state (struct console_ui: theme, screen, views,
 * input modes, message line). Views read the model and draw; they load a
 * full record only through app_load_record(). */
#ifndef INTENTUS_TUI_APP_H
#define INTENTUS_TUI_APP_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/rec_store.h"
#include "core/runtime.h"
#include "tui/console_model.h"
#include "tui/curses_shim.h"
#include "tui/keymap.h"
#include "tui/loop.h"
#include "tui/prefs.h"
#include "tui/theme.h"
#include "watch/agg.h"
#include "watch/index.h"
#include "watch/index_db.h"
#include "watch/tailer.h"

enum app_screen {
    SCREEN_DASHBOARD,
    SCREEN_RECORDS,
    SCREEN_DETAIL,
    SCREEN_FIRE,
    SCREEN_REDACT,
    SCREEN_RETENTION,
    SCREEN_HELP,
    SCREEN_MESSAGES, /* no tab: reached with :messages */
    SCREEN_COUNT
};
/* The screens with a tab (1-7, Tab cycles through them). */
#define SCREEN_TABS (SCREEN_HELP + 1)

struct query;

/* What a view is shown on (app_show): typed, so no view leaves another a
 * message in struct app. Unused fields are NULL. */
struct view_arg {
    const char *id;   /* a record (detail, redact) */
    const char *id_b; /* with id: the second record of a diff (detail) */
    const char *text; /* a filter (records), an intent (fire) */
    /* With id (detail): the Records screen's query the record was opened
     * from and the record's creation time; on a store without an index of
     * its own (postgres) the detail's [ and ] step through that query's
     * records (its own copy). NULL: every record. */
    const struct query *q;
    int64_t created_us;
};

/* What a key handler asks the console to do next (htop's Action bits). */
#define VIEW_HANDLED 0x1u
#define VIEW_REDRAW 0x2u
#define VIEW_QUIT 0x4u

struct app;

struct view_ops {
    const char *name;        /* tab title */
    enum key_context keyctx; /* where its keys are looked up */
    size_t state_size;       /* private state, allocated zeroed */
    void (*open)(struct app *app, void *state);
    void (*close)(void *state);
    void (*draw)(struct app *app, void *state, int top, int rows, int cols);
    /* Keys the view handles itself (movement, its own actions): act is the
     * binding the key tables found for ev->key (ACT_NONE: none). */
    unsigned (*handle)(struct app *app, void *state, enum key_action act,
                       const struct key_event *ev);
    /* A mouse click in the view (ev->y, ev->x on the screen); NULL: none. */
    unsigned (*click)(struct app *app, void *state, const struct key_event *ev);
    /* The index or aggregates changed (draw will follow). */
    void (*model_changed)(struct app *app, void *state);
    /* Shown on arg (app_show); NULL: the view takes no argument. */
    void (*show)(struct app *app, void *state, const struct view_arg *arg);
    /* A text field of the view has the focus: keys go to it first, and
     * only the view's own bindings (not list or global keys) apply. */
    bool (*text_focus)(const void *state);
    /* A completion of an intent this view submitted (tag 0). */
    void (*completion)(struct app *app, void *state, const struct completion *c);
    /* Keys of the view that are not in the keymap table (help lists them). */
    const struct key_binding *extra_keys;
    size_t n_extra_keys;
};

/* --demo-traffic: off, on (explicitly asked), or auto (only on the demo). */
enum demo_mode { DEMO_TRAFFIC_OFF, DEMO_TRAFFIC_ON, DEMO_TRAFFIC_AUTO };

struct console_opts {
    const char *dir;    /* record directory; NULL: from the config */
    const char *config; /* config path; NULL: search order */
    const char *theme;  /* NULL: "default" (or mono under NO_COLOR) */
    bool ascii, poll, no_color, read_only;
    bool no_index; /* read the files, not the persistent index */
    size_t window; /* rows of the persistent index held in memory; 0: APP_WINDOW */
    int poll_ms;
    enum demo_mode demo_traffic;
    double demo_rate;   /* intents per second; 0: DEMO_TRAFFIC_RATE */
    const char *server; /* --server URL: attached to a running service; NULL: local */
    const char *token;  /* its bearer token (with server) */
    const char *store;  /* --store URL; NULL: the config's recording.store or directory */
};

struct console_remote;

/* The console's UI state: the screen, the views, the open input mode
 * (a y/n question, a prompt or form, the ':' line), the theme, the
 * preferences and the messages. The model (tui/console_model.h) holds none
 * of it. */
struct console_ui {
    /* A y/n question on the status line (a mode the key handler feeds, not
     * a loop): 'y' calls on_yes with arg, any other key cancels. */
    struct {
        bool active;
        char question[256];
        char arg[160];
        void (*on_yes)(struct app *app, void *ctx, const char *arg);
        void *ctx;
        char action[16], agent[128]; /* app_confirm's remote action */
    } confirm;
    /* Text fields on the bottom rows (a prompt, a form, the ':' line): an
     * input mode the main loop feeds; it ends in on_done. */
    struct app_form {
        bool active, command;
        size_t n, focus;
        char label[4][160];
        char text[4][512];
        char *dest[4];
        size_t dest_size[4];
        void (*on_change)(struct app *app, void *ctx, const char *text);
        void (*on_done)(struct app *app, void *ctx, bool ok);
        void *ctx;
    } form;
    /* ':' commands typed before (newest last), and where Up/Down is. */
    char cmd_history[32][256];
    size_t n_cmd_history, cmd_history_pos;
    /* Every message shown, in full (the status line cuts them): :messages. */
    struct {
        char text[64][1024];
        int64_t wall_us[64];
        bool is_error[64];
        size_t n, next; /* n kept (at most 64), next slot */
    } log;

    struct theme theme;
    struct theme_attrs attrs;
    char themes[32][64];
    size_t n_themes, theme_idx;
    const char *theme_dirs[4];
    char theme_dir_buf[2][512];
    bool use_color, ascii;
    bool mouse; /* mouse reporting on (console.mouse, the saved setting, M) */
    /* what persists between runs (tui/prefs.c); has_prefs: a place to keep it */
    struct prefs prefs;
    char prefs_file[1024];
    bool has_prefs;
    int rows, cols;
    bool dirty;
    int64_t last_frame_us;
    enum app_screen screen, prev_screen;
    /* Where Esc/q go back to: the screens passed through (bounded). */
    enum app_screen back_stack[16];
    size_t n_back;
    const struct view_ops *views[SCREEN_COUNT];
    void *view_state[SCREEN_COUNT];
    char message[256];
    bool message_is_error;
    int64_t message_until_us;

    int64_t first_frame_us, start_us;
    int64_t redraw_at_us; /* a view asked for a frame at this time (0: none) */
};

struct app {
    struct console_opts opts;
    /* The model (tui/console_model.h): the index or its window, the
     * aggregates, the runtime, the store or service, the tailer's and the
     * scans' state. What follows is the loop's and the presentation's. */
    struct console_model model;
    struct loop *loop;
    struct jobs *jobs; /* background work (tui/job.h): completions come back through the loop */
    struct demo_traffic *demo; /* tui/demo_traffic.c; NULL until first started */
    bool paused;               /* live updates held: the loop stops feeding the model */
    /* The UI state (struct console_ui above). */
    struct console_ui ui;
};

extern const struct view_ops view_dashboard;
extern const struct view_ops view_records;
extern const struct view_ops view_detail;
extern const struct view_ops view_help;
extern const struct view_ops view_fire;
extern const struct view_ops view_redact;
extern const struct view_ops view_retention;
extern const struct view_ops view_messages;

/* Rows of the persistent index the console holds in memory by default. */
#define APP_WINDOW 5000

/* How many records the directory has: the index's count (a query, cached
 * per model generation) with the persistent index, else the in-memory
 * index's size. */
size_t app_total(struct app *app);

/* Run the console until the user quits; returns the exit code. */
int console_run(const struct console_opts *opts);

/* Helpers for views (tui/console.c). */
attr_t app_attr(const struct app *app, enum theme_elem e);
void app_message(struct app *app, bool is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The full record from disk (the one place a view gets a file's content). */
cJSON *app_load_record(struct app *app, const char *id, struct intentus_err *err);
/* Switch to screen s, shown on arg (NULL: as it was). */
void app_show(struct app *app, enum app_screen s, const struct view_arg *arg);
/* Open the detail screen on a record. */
void app_show_record(struct app *app, const char *id);
/* Open the detail screen on a side-by-side diff of two records. */
void app_show_diff(struct app *app, const char *a, const char *b);
/* Draw text at (y, x) cut to width columns; returns columns used. */
int app_put(struct app *app, int y, int x, int width, attr_t attr, const char *text);
/* Fill a row with spaces in attr. */
void app_fill(struct app *app, int y, int x, int width, attr_t attr);
/* Line-drawing horizontal rule (ASCII when asked). */
void app_hline(struct app *app, int y, int x, int width);
/* A text prompt on the bottom line, an input mode of the main loop (tui/prompt.c):
 * it returns at once; the loop feeds it keys (and goes on handling signals,
 * resizes, the tailer and completions meanwhile). Enter copies the text into
 * buf and calls on_done(ok = true); Esc leaves buf alone and calls on_done(ok =
 * false). on_change (may be NULL) is called after each edit. */
typedef void (*app_done_fn)(struct app *app, void *ctx, bool ok);
typedef void (*app_change_fn)(struct app *app, void *ctx, const char *text);
void app_prompt(struct app *app, const char *label, char *buf, size_t size, app_change_fn on_change,
                app_done_fn on_done, void *ctx);
/* A form of up to 4 fields at once (Tab, Up, Down move between them; Enter
 * confirms them all, Esc none). */
struct app_field {
    const char *label;
    char *buf;
    size_t size;
};
void app_form(struct app *app, const struct app_field *fields, size_t n, app_done_fn on_done,
              void *ctx);
/* Ask "question" on the status line; 'y' calls on_yes(ctx, arg) (arg copied),
 * any other key cancels. State-changing keys ask first (k9s style). */
void app_ask(struct app *app, const char *question, const char *arg,
             void (*on_yes)(struct app *app, void *ctx, const char *arg), void *ctx);
/* The console's one line editor for a NUL-terminated field of size bytes:
 * printable bytes append, Backspace removes one UTF-8 character, ^U clears,
 * ^W removes the last word. True when the text changed. */
bool app_field_edit(char *t, size_t size, int key);
/* Keys for the modes above (tui/prompt.c): true when a mode took the key. */
bool app_modes_key(struct app *app, int key);
/* Draw the open mode on the bottom rows; false when none is open. */
bool app_modes_draw(struct app *app);
/* Run a ':' command line (":records", ":theme NAME", ...); tui/console.c. */
void app_command(struct app *app, const char *line);
/* Tab completion of a ':' command line in place (tui/console.c). */
void app_command_complete(struct app *app, char *line, size_t size);
/* The WAL of an execution, when the runtime keeps one: 0 and log filled
 * (log->status says how it verified), -1 when the WAL is off. */
struct wal_log;
int app_load_wal(struct app *app, const char *id, struct wal_log *log);
const char *app_wal_dir(const struct app *app); /* NULL when the WAL is off */
/* How many are in flight now, and since when the oldest (0: none). */
size_t app_inflight(struct app *app, int64_t *oldest_mono_us);

/* Ask "question (y/n)" on the status line; on 'y' the console sends the
 * action ("reset", "disable", "enable" with agent, or "reload") to the
 * service it is attached to. */
void app_confirm(struct app *app, const char *action, const char *agent, const char *question);

/* Write app->ui.prefs after a view or key changed one (not in read-only
 * mode; a failure is reported on the status line). */
void app_prefs_save(struct app *app);

/* Ask for another frame in ms (progress bars, elapsed times): at most that
 * often, so an animation costs little over a slow link. */
void app_redraw_after(struct app *app, int ms);
/* Redraw now (used by the prompt's incremental updates). */
void app_draw(struct app *app);

#endif
