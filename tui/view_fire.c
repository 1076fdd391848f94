/* Fire an intent: a form (intent with completion from the registry,
 * strategy, target, fallback chain, priority, tenant, timeout) over a JSON
 * payload editor with live validation. Firing goes through the runtime's
 * async path, so the loop never blocks; the response shows when it
 * completes, with a key to open its recorded timeline. ^N fires N copies
 * for a quick load test with progress and a latency summary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/runtime.h"
#include "core/safe_file.h"
#include "core/units.h"
#include "tui/app.h"
#include "tui/console_remote.h"
#include "tui/editor.h"
#include "tui/fmt.h"

enum field {
    F_INTENT,
    F_STRATEGY,
    F_TARGET,
    F_FALLBACK,
    F_PRIORITY,
    F_TENANT,
    F_TIMEOUT,
    F_PAYLOAD,
    F_COUNT
};
static const char *const field_names[] = { "intent",   "strategy", "target",  "fallback",
                                           "priority", "tenant",   "timeout", "payload" };

#define HISTORY 10

struct fire {
    char text[F_PAYLOAD][128];
    int strategy, priority;
    enum field focus;
    struct editor payload;
    size_t edit_top;
    char valid_msg[256];
    bool valid;
    /* the batch in flight */
    uint64_t batch; /* tags of this batch are batch << 32 | i */
    long want, sent, done, ok;
    long unrecorded; /* completions whose record is not on disk (not sampled out) */
    int64_t *lat;
    int64_t started_us;
    char last_id[64];
    char last_summary[512];
    char last_timing[256]; /* what the two times measure */
    char last_body[4096];  /* the response's payload or error, pretty JSON */
    bool last_error;
    /* payload history per intent */
    struct {
        char intent[128];
        char *payload;
    } history[HISTORY];
    size_t hist_pos;
    /* the prompts' texts (prompts are modes of the loop that end in a callback) */
    char n_text[16];
    char path[512];
    bool path_save;
};

static void
validate(struct fire *f)
{
    f->valid = editor_validate(&f->payload, f->valid_msg, sizeof(f->valid_msg));
}

static void
fire_open(struct app *app, void *state)
{
    struct fire *f = state;

    (void)app;
    editor_init(&f->payload);
    editor_set(&f->payload, "{\n  \"text\": \"hello from the console\"\n}");
    snprintf(f->text[F_INTENT], sizeof(f->text[F_INTENT]), "demo.echo");
    f->priority = PRIORITY_NORMAL;
    validate(f);
}

static void
fire_close(void *state)
{
    struct fire *f = state;

    editor_free(&f->payload);
    free(f->lat);
    for (size_t i = 0; i < HISTORY; i++)
        free(f->history[i].payload);
}

static void
remember_payload(struct fire *f)
{
    size_t slot = HISTORY - 1;

    for (size_t i = 0; i < HISTORY; i++) {
        if (f->history[i].payload != NULL && strcmp(f->history[i].intent, f->text[F_INTENT]) == 0 &&
            strcmp(f->history[i].payload, f->payload.text) == 0)
            return; /* already the same */
    }
    free(f->history[slot].payload);
    memmove(&f->history[1], &f->history[0], slot * sizeof(f->history[0]));
    snprintf(f->history[0].intent, sizeof(f->history[0].intent), "%s", f->text[F_INTENT]);
    f->history[0].payload = strdup(f->payload.text);
}

/* ^P: the previous payloads fired for this intent, newest first. */
static void
recall_payload(struct app *app, struct fire *f)
{
    for (size_t step = 0; step < HISTORY; step++) {
        size_t i = (f->hist_pos + step) % HISTORY;
        if (f->history[i].payload != NULL && strcmp(f->history[i].intent, f->text[F_INTENT]) == 0) {
            editor_set(&f->payload, f->history[i].payload);
            f->hist_pos = i + 1;
            validate(f);
            app_message(app, false, "payload %zu from this intent's history", step + 1);
            return;
        }
    }
    app_message(app, true, "no payload history for %s yet", f->text[F_INTENT]);
}

/* Tab on the intent field: complete from the capabilities in the registry. */
static void
complete_intent(struct app *app, struct fire *f)
{
    struct registry *reg = app->model.cfg->registry;
    const char *prefix = f->text[F_INTENT];
    const char *first = NULL, *after = NULL;
    bool seen_current = false;

    for (size_t i = 0; i < registry_count(reg); i++) {
        const struct agent *a = registry_at(reg, i);
        for (size_t k = 0; k < a->n_caps; k++) {
            const char *n = a->caps[k].name;
            if (strcmp(n, "*") == 0)
                continue;
            if (first == NULL || strcmp(n, first) < 0)
                first = n;
            if (strcmp(n, prefix) == 0)
                seen_current = true;
            if (strcmp(n, prefix) > 0 && (after == NULL || strcmp(n, after) < 0))
                after = n;
        }
    }
    /* A prefix completes to its first match; a full name cycles to the next. */
    for (size_t i = 0; !seen_current && i < registry_count(reg); i++) {
        const struct agent *a = registry_at(reg, i);
        for (size_t k = 0; k < a->n_caps; k++) {
            const char *n = a->caps[k].name;
            if (strncmp(n, prefix, strlen(prefix)) == 0 && strcmp(n, "*") != 0) {
                snprintf(f->text[F_INTENT], sizeof(f->text[F_INTENT]), "%s", n);
                return;
            }
        }
    }
    if (after != NULL || first != NULL)
        snprintf(f->text[F_INTENT], sizeof(f->text[F_INTENT]), "%s", after ? after : first);
    (void)app;
}

static cJSON *
build_envelope(struct app *app, struct fire *f)
{
    const char *fallback[32] = { NULL }, *tags[2] = { NULL, NULL };
    char fb[128], tenant[160];
    struct envelope_opts o = { .strategy = (enum strategy)f->strategy,
                               .priority = (enum priority)f->priority,
                               .source = "intentus-console" };
    struct intentus_err err = { 0 };
    cJSON *payload, *env;
    size_t n = 0;
    int64_t ms;

    payload = json_parse(f->payload.text, f->payload.len, 64, &err);
    if (payload == NULL || !cJSON_IsObject(payload)) {
        cJSON_Delete(payload);
        app_message(app, true, "payload: %s", payload ? "must be a JSON object" : err.msg);
        return NULL;
    }
    if (f->text[F_TARGET][0])
        o.target_agent = f->text[F_TARGET];
    snprintf(fb, sizeof(fb), "%s", f->text[F_FALLBACK]);
    for (char *s = NULL, *t = strtok_r(fb, ", ", &s); t && n < 31; t = strtok_r(NULL, ", ", &s))
        fallback[n++] = t;
    if (n > 0)
        o.fallback_agents = fallback;
    if (f->text[F_TENANT][0]) {
        snprintf(tenant, sizeof(tenant), "tenant:%s", f->text[F_TENANT]);
        tags[0] = tenant;
        o.tags = tags;
    }
    if (f->text[F_TIMEOUT][0]) {
        if (units_parse_duration_ms(f->text[F_TIMEOUT], &ms, NULL) != 0 || ms <= 0) {
            app_message(app, true, "timeout: '%s' is not a duration (500ms, 2s)",
                        f->text[F_TIMEOUT]);
            cJSON_Delete(payload);
            return NULL;
        }
        o.timeout_ms = ms;
    }
    env = envelope_new(f->text[F_INTENT], payload, &o, &err);
    if (env == NULL)
        app_message(app, true, "%s", err.msg);
    return env;
}

/* Submit as much of the batch as the queue takes; the rest goes on the
 * next completion. */
static void
pump(struct app *app, struct fire *f)
{
    while (f->sent < f->want) {
        struct intentus_err err = { 0 };
        cJSON *env = build_envelope(app, f);
        if (env == NULL) {
            f->want = f->sent;
            return;
        }
        if ((app->model.remote != NULL /* attached: through the service's POST /v1/route */
                 ? console_remote_submit(app->model.remote, env,
                                         (f->batch << 32) | (uint64_t)f->sent, &err)
                 : runtime_submit(app->model.rt, env, (f->batch << 32) | (uint64_t)f->sent,
                                  &err)) != 0) {
            cJSON_Delete(env);
            if (err.code != IERR_LIMIT) {
                app_message(app, true, "cannot fire: %s", err.msg);
                f->want = f->sent;
            }
            return;
        }
        f->sent++;
    }
}

static void
start(struct app *app, struct fire *f, long n)
{
    if (app->opts.read_only) {
        app_message(app, true, "read-only console: firing intents is disabled");
        return;
    }
    if (!f->valid) {
        app_message(app, true, "payload: %s", f->valid_msg);
        return;
    }
    if (f->sent < f->want) {
        app_message(app, true, "a batch is still running (%ld of %ld done)", f->done, f->want);
        return;
    }
    free(f->lat);
    f->lat = calloc((size_t)n, sizeof(*f->lat));
    if (f->lat == NULL)
        return;
    f->batch++;
    f->want = n;
    f->sent = f->done = f->ok = f->unrecorded = 0;
    f->started_us = clock_mono_us();
    f->last_summary[0] = '\0';
    f->last_timing[0] = '\0';
    f->last_body[0] = '\0';
    remember_payload(f);
    pump(app, f);
}

/* A completion for this view (the console routes them here by tag). */
static void
fire_completion(struct app *app, void *state, const struct completion *c)
{
    struct fire *f = state;
    const char *code;
    char why[300] = "";

    if ((c->tag >> 32) != f->batch)
        return; /* an older batch */
    /* A completion comes once its record is written or failed (an async
     * writer included), so "NOT recorded" here is the writer's verdict. */
    if (!c->recorded && !c->sampled_out) {
        f->unrecorded++;
        snprintf(why, sizeof(why), " (NOT recorded: %s)",
                 c->record_err.msg[0] ? c->record_err.msg : "no reason given");
    }
    if (f->done < f->want)
        f->lat[f->done] = c->latency_us;
    f->done++;
    if (!response_is_error(c->response))
        f->ok++;
    snprintf(f->last_id, sizeof(f->last_id), "%s", c->recorded ? c->execution_id : "");
    code = response_error_code(c->response);
    f->last_error = code != NULL || why[0] != '\0';
    if (f->want == 1) {
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(c->response, "metadata");
        const cJSON *body =
            cJSON_GetObjectItemCaseSensitive(c->response, code ? "error" : "payload");
        char dur[24], e2e[24];
        char *text = body != NULL ? cJSON_Print(body) : NULL;
        fmt_duration_us(c->route_us > 0 ? c->route_us : c->latency_us, dur, sizeof(dur));
        fmt_duration_us(clock_mono_us() - f->started_us, e2e, sizeof(e2e));
        snprintf(f->last_summary, sizeof(f->last_summary),
                 "%s from %s%s%s%s  %s %s, end-to-end %s  %s", code ? "error" : "success",
                 json_get_string(md, "agent") ? json_get_string(md, "agent") : "?",
                 code ? ": " : "", code ? code : "",
                 c->recorded      ? ""
                 : c->sampled_out ? " (sampled out)"
                                  : why,
                 c->route_us > 0 ? "router" : "round trip", dur, e2e,
                 c->recorded ? "^G opens its timeline" : "");
        snprintf(f->last_timing, sizeof(f->last_timing), "%s",
                 c->route_us > 0
                     ? " router: policy, routing and the agent calls inside the router; "
                       "end-to-end: from ^R until the record is written (queue included)"
                     : " round trip: the service's answer to POST /v1/route; end-to-end: from ^R "
                       "until the answer came back here");
        snprintf(f->last_body, sizeof(f->last_body), "%s", text != NULL ? text : "(no body)");
        cJSON_free(text);
    } else if (f->done == f->want) {
        char lat_line[128], total[24], unrec[48] = "";
        fmt_latency_summary(f->lat, (size_t)f->done, lat_line, sizeof(lat_line));
        fmt_duration_us(clock_mono_us() - f->started_us, total, sizeof(total));
        if (f->unrecorded > 0)
            snprintf(unrec, sizeof(unrec), "; %ld NOT recorded", f->unrecorded);
        snprintf(f->last_summary, sizeof(f->last_summary),
                 "%ld fired in %s: %ld ok, %ld error; latency %s%s", f->done, total, f->ok,
                 f->done - f->ok, lat_line, unrec);
        f->last_error = f->ok < f->done || f->unrecorded > 0;
    }
    pump(app, f);
    app->ui.dirty = true;
}

static void
draw_field(struct app *app, struct fire *f, int y, enum field fl, const char *value, int width)
{
    char label[32];
    bool focus = f->focus == fl;

    snprintf(label, sizeof(label), " %-9s", field_names[fl]);
    app_put(app, y, 0, 11, app_attr(app, focus ? THEME_PROMPT : THEME_DIM), label);
    app_fill(app, y, 11, width, app_attr(app, focus ? THEME_SELECTION : THEME_STATUS));
    app_put(app, y, 12, width - 2, app_attr(app, focus ? THEME_SELECTION : THEME_STATUS), value);
    if (focus && fl != F_STRATEGY && fl != F_PRIORITY) {
        curs_set(1);
        move(y, 12 + (int)fmt_width(value));
    }
}

/* The timing legend, then the response body, one JSON line a row. */
static void
draw_response(struct app *app, struct fire *f, int y, int rows, int cols)
{
    const char *p = f->last_body;

    if (rows <= 0)
        return;
    app_put(app, y++, 0, cols, app_attr(app, THEME_DIM), f->last_timing);
    if (--rows <= 0)
        return;
    app_put(app, y++, 0, cols, app_attr(app, THEME_DIM), " response:");
    for (rows--; rows > 0 && *p != '\0'; rows--) {
        char line[512];
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) - 1 ? n : sizeof(line) - 1), p);
        for (char *t = line; *t; t++)
            if (*t == '\t')
                *t = ' ';
        app_put(app, y++, 2, cols - 3, app_attr(app, THEME_JSON_STRING), line);
        p += n;
        if (*p == '\n')
            p++;
    }
}

static void
fire_draw(struct app *app, void *state, int top, int rows, int cols)
{
    struct fire *f = state;
    char buf[512];
    int y = top, edit_rows;
    size_t line, col;

    curs_set(0);
    app_put(app, y++, 0, cols, app_attr(app, THEME_TABLE_HEADER),
            " Fire an intent   Tab/S-Tab fields  ^R fire  ^N fire N times  ^G open timeline  "
            "^P payload history  ^F format  ^E load  ^S save");
    draw_field(app, f, y++, F_INTENT, f->text[F_INTENT], 40);
    snprintf(buf, sizeof(buf), "< %s >   (Left/Right)",
             model_strategy_wire((enum strategy)f->strategy));
    draw_field(app, f, y++, F_STRATEGY, buf, 40);
    draw_field(app, f, y++, F_TARGET, f->text[F_TARGET], 40);
    draw_field(app, f, y++, F_FALLBACK, f->text[F_FALLBACK], 40);
    snprintf(buf, sizeof(buf), "< %s >", model_priority_wire((enum priority)f->priority));
    draw_field(app, f, y++, F_PRIORITY, buf, 40);
    draw_field(app, f, y++, F_TENANT, f->text[F_TENANT], 40);
    draw_field(app, f, y++, F_TIMEOUT, f->text[F_TIMEOUT], 40);
    editor_position(&f->payload, &line, &col);
    snprintf(buf, sizeof(buf), " payload  line %zu col %zu  %s", line + 1, col + 1, f->valid_msg);
    app_put(
        app, y++, 0, cols,
        app_attr(app, f->valid ? (f->focus == F_PAYLOAD ? THEME_PROMPT : THEME_OK) : THEME_ERROR),
        buf);
    edit_rows = rows - (y - top) - 3;
    if (f->last_body[0] != '\0' && f->want == 1) /* room for the response below */
        edit_rows = edit_rows / 2;
    if (edit_rows < 3)
        edit_rows = 3;
    if (line < f->edit_top)
        f->edit_top = line;
    if (line >= f->edit_top + (size_t)edit_rows)
        f->edit_top = line - (size_t)edit_rows + 1;
    for (int i = 0; i < edit_rows; i++) {
        size_t len, li = f->edit_top + (size_t)i;
        const char *l;
        char text[1024];
        if (li >= editor_lines(&f->payload))
            break;
        l = editor_line(&f->payload, li, &len);
        snprintf(text, sizeof(text), "%.*s", (int)(len < sizeof(text) - 1 ? len : sizeof(text) - 1),
                 l);
        app_put(app, y + i, 2, cols - 3, app_attr(app, THEME_JSON_STRING), text);
    }
    if (f->focus == F_PAYLOAD) {
        size_t len;
        const char *l = editor_line(&f->payload, line, &len);
        char pre[1024];
        snprintf(pre, sizeof(pre), "%.*s", (int)(col < sizeof(pre) - 1 ? col : 0), l);
        /* col counts characters: measure the prefix of that many characters */
        {
            size_t bytes = 0, chars = 0;
            while (bytes < len && chars < col) {
                bytes++;
                while (bytes < len && (l[bytes] & 0xc0) == 0x80)
                    bytes++;
                chars++;
            }
            snprintf(pre, sizeof(pre), "%.*s", (int)bytes, l);
        }
        curs_set(1);
        move(y + (int)(line - f->edit_top), 2 + (int)fmt_width(pre));
    }
    y += edit_rows;
    app_hline(app, y++, 0, cols);
    if (f->want > 1 && f->done < f->want) {
        snprintf(buf, sizeof(buf), " firing: %ld of %ld done, %ld ok", f->done, f->want, f->ok);
        app_put(app, y, 0, cols, app_attr(app, THEME_WARN), buf);
    } else if (f->want == 1 && f->done == 0) {
        app_put(app, y, 0, cols, app_attr(app, THEME_WARN), " firing...");
    } else if (f->last_summary[0]) {
        app_put(app, y, 0, cols, app_attr(app, f->last_error ? THEME_ERROR : THEME_OK),
                f->last_summary);
        if (f->want == 1 && f->last_body[0] != '\0')
            draw_response(app, f, y + 1, top + rows - (y + 1), cols);
    } else if (app->opts.read_only) {
        app_put(app, y, 0, cols, app_attr(app, THEME_DIM), " read-only console: firing is off");
    }
}

static void
on_path_done(struct app *app, void *ctx, bool ok)
{
    struct fire *f = ctx;
    struct intentus_err err = { 0 };
    const char *path = f->path;
    bool save = f->path_save;
    FILE *fp;

    if (!ok || path[0] == '\0')
        return;
    if (!save) {
        /* The safe open: a FIFO or device named here must not freeze the
         * console; at most 64 KiB. */
        size_t n = 0;
        char *text = safe_file_read(path, 65536, &n, &err);
        if (text == NULL) {
            app_message(app, true, "%s", err.msg);
            return;
        }
        editor_set(&f->payload, text);
        free(text);
        validate(f);
        app_message(app, false, "payload loaded from %s", path);
        return;
    }
    fp = fopen(path, "w");
    if (fp == NULL) {
        app_message(app, true, "%s: cannot open", path);
        return;
    }
    fputs(f->payload.text, fp);
    fputc('\n', fp);
    app_message(app, false, "payload saved to %s", path);
    fclose(fp);
}

static void
prompt_file(struct app *app, struct fire *f, bool save)
{
    f->path[0] = '\0';
    f->path_save = save;
    app_prompt(app, save ? "save payload to: " : "load payload from: ", f->path, sizeof(f->path),
               NULL, on_path_done, f);
}

static void
on_n_done(struct app *app, void *ctx, bool ok)
{
    struct fire *f = ctx;
    char *end;
    long v;

    if (!ok)
        return;
    v = strtol(f->n_text, &end, 10);
    if (*end != '\0' || v < 1 || v > 1000000)
        app_message(app, true, "'%s' is not a number from 1 to 1000000", f->n_text);
    else
        start(app, f, v);
}

/* Shown on an intent (":fire INTENT"): the form with that intent, focus on
 * the payload. */
static void
fire_show(struct app *app, void *state, const struct view_arg *arg)
{
    struct fire *f = state;

    (void)app;
    if (arg->text == NULL)
        return;
    snprintf(f->text[F_INTENT], sizeof(f->text[F_INTENT]), "%s", arg->text);
    f->focus = F_PAYLOAD;
}

/* The intent, target, fallback, tenant, timeout fields and the payload
 * editor take text; strategy and priority are pickers. */
static bool
fire_text_focus(const void *state)
{
    const struct fire *f = state;

    return f->focus != F_STRATEGY && f->focus != F_PRIORITY;
}

/* True when the intent field holds a strict prefix of some capability. */
static bool
intent_incomplete(struct app *app, const struct fire *f)
{
    struct registry *reg = app->model.cfg->registry;
    size_t n = strlen(f->text[F_INTENT]);

    if (n == 0)
        return false;
    for (size_t i = 0; i < registry_count(reg); i++) {
        const struct agent *a = registry_at(reg, i);
        for (size_t k = 0; k < a->n_caps; k++) {
            if (strcmp(a->caps[k].name, f->text[F_INTENT]) == 0)
                return false;
        }
    }
    for (size_t i = 0; i < registry_count(reg); i++) {
        const struct agent *a = registry_at(reg, i);
        for (size_t k = 0; k < a->n_caps; k++) {
            if (strncmp(a->caps[k].name, f->text[F_INTENT], n) == 0)
                return true;
        }
    }
    return false;
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): a flat switch, one case per key action.
 */
static unsigned
fire_handle(struct app *app, void *state, enum key_action act, const struct key_event *ev)
{
    int key = ev->key;
    struct fire *f = state;
    char *t = f->focus < F_PAYLOAD ? f->text[f->focus] : NULL;

    switch (act) {
    case ACT_BACK:
        return 0; /* Esc: the console goes back */
    case ACT_NEXT_FIELD:
        if (f->focus == F_INTENT && intent_incomplete(app, f)) {
            complete_intent(app, f);
            return VIEW_HANDLED | VIEW_REDRAW;
        }
        f->focus = (enum field)((f->focus + 1) % F_COUNT);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_PREV_FIELD:
        f->focus = (enum field)((f->focus + F_COUNT - 1) % F_COUNT);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_FIRE:
        start(app, f, 1);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_FIRE_N:
        snprintf(f->n_text, sizeof(f->n_text), "100");
        app_prompt(app, "fire how many times: ", f->n_text, sizeof(f->n_text), NULL, on_n_done, f);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_OPEN_LAST:
        if (f->last_id[0])
            app_show_record(app, f->last_id);
        else
            app_message(app, true, "nothing fired yet (or it was not recorded)");
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_HISTORY:
        recall_payload(app, f);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_FORMAT:
        if (editor_format(&f->payload) != 0)
            app_message(app, true, "payload: %s", f->valid_msg);
        validate(f);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_LOAD:
    case ACT_SAVE:
        prompt_file(app, f, act == ACT_SAVE);
        return VIEW_HANDLED | VIEW_REDRAW;
    case ACT_CHOICE_NEXT:
    case ACT_CHOICE_PREV:
        if (f->focus == F_STRATEGY || f->focus == F_PRIORITY) {
            int *v = f->focus == F_STRATEGY ? &f->strategy : &f->priority;
            int count = f->focus == F_STRATEGY ? STRATEGY_COUNT : PRIORITY_COUNT;
            *v = (*v + (act == ACT_CHOICE_PREV ? count - 1 : 1)) % count;
            return VIEW_HANDLED | VIEW_REDRAW;
        }
        break; /* in a text field or the payload: the key is text or a cursor move */
    case ACT_QUIT:
        return 0;
    default:
        break; /* everything else is text for the focused field */
    }
    if (f->focus == F_STRATEGY || f->focus == F_PRIORITY) {
        if (key == KEY_DOWN || key == '\r' || key == '\n') {
            f->focus = (enum field)(f->focus + 1);
            return VIEW_HANDLED | VIEW_REDRAW;
        }
        if (key == KEY_UP && f->focus > 0) {
            f->focus = (enum field)(f->focus - 1);
            return VIEW_HANDLED | VIEW_REDRAW;
        }
        return 0; /* not a text field: global keys (screens, help) still work */
    }
    if (t != NULL) {
        if (key == KEY_DOWN || key == '\r' || key == '\n') {
            f->focus = (enum field)(f->focus + 1);
        } else if (key == KEY_UP) {
            if (f->focus > 0)
                f->focus = (enum field)(f->focus - 1);
        } else if (!app_field_edit(t, sizeof(f->text[0]), key)) {
            return VIEW_HANDLED; /* the console's one line editor (tui/prompt.c) changed nothing */
        }
        return VIEW_HANDLED | VIEW_REDRAW;
    }
    /* The payload editor. */
    switch (key) {
    case KEY_LEFT:
        editor_left(&f->payload);
        break;
    case KEY_RIGHT:
        editor_right(&f->payload);
        break;
    case KEY_UP:
        if (editor_lines(&f->payload) > 0) {
            size_t line, col;
            editor_position(&f->payload, &line, &col);
            if (line == 0)
                f->focus = F_TIMEOUT;
            else
                editor_up(&f->payload);
        }
        break;
    case KEY_DOWN:
        editor_down(&f->payload);
        break;
    case KEY_HOME:
        editor_home(&f->payload);
        break;
    case KEY_END:
        editor_end(&f->payload);
        break;
    case KEY_BACKSPACE:
    case 127:
    case 8:
        editor_backspace(&f->payload);
        break;
    case KEY_DC:
        editor_delete(&f->payload);
        break;
    case '\r':
    case '\n':
    case KEY_ENTER:
        editor_newline(&f->payload);
        break;
    default:
        if (key >= 0x20 && key < 0x100) {
            char c = (char)key;
            editor_insert(&f->payload, &c, 1);
        } else {
            return VIEW_HANDLED;
        }
    }
    validate(f);
    return VIEW_HANDLED | VIEW_REDRAW;
}
/* NOLINTEND(readability-function-cognitive-complexity) */

const struct view_ops view_fire = {
    .name = "Fire",
    .keyctx = KEYCTX_FIRE,
    .state_size = sizeof(struct fire),
    .open = fire_open,
    .close = fire_close,
    .draw = fire_draw,
    .handle = fire_handle,
    .model_changed = NULL,
    .show = fire_show,
    .text_focus = fire_text_focus,
    .completion = fire_completion,
};
