#include "tui/demo_traffic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/runtime.h"
#include "tui/app.h"

struct demo_traffic {
    bool on;
    double rate;
    uint64_t rng;
    int64_t next_us; /* monotonic time the next intent is due */
    size_t inflight;
    uint64_t sent;
};

/* What the demo stream is made of, with weights out of 100. About half the
 * intents reach flaky-b, so its breaker (3 failures in a row, 3 s cool-down,
 * 2 probes in the demo configuration) opens, probes and closes within
 * seconds; FALLBACK past it shows a fallback's timeline. */
static const struct {
    int weight;
    struct demo_pick pick;
} mix[] = {
    { 27,
      { "fallback past flaky-b",
        "demo.echo",
        STRATEGY_FALLBACK,
        NULL,
        { "flaky-b", "echo-a", NULL },
        NULL,
        "hello" } },
    { 14,
      { "direct to flaky-b", "demo.echo", STRATEGY_DIRECT, "flaky-b", { NULL }, "acme", "ping" } },
    { 8, { "broadcast", "demo.echo", STRATEGY_BROADCAST, NULL, { NULL }, NULL, "to everyone" } },
    { 12, { "direct", "demo.echo", STRATEGY_DIRECT, NULL, { NULL }, "globex", "h\xc3\xa9llo" } },
    { 10,
      { "fallback upper", "demo.upper", STRATEGY_FALLBACK, NULL, { NULL }, NULL, "shout this" } },
    { 8, { "slow call", "demo.slow", STRATEGY_DIRECT, NULL, { NULL }, NULL, "take your time" } },
    { 7, { "broken agent", "demo.fail", STRATEGY_DIRECT, NULL, { NULL }, NULL, "will fail" } },
    { 6, { "admin", "demo.admin", STRATEGY_DIRECT, NULL, { NULL }, "acme", "rotate keys" } },
    { 5,
      { "policy refusal", "demo.admin", STRATEGY_DIRECT, NULL, { NULL }, "guest", "let me in" } },
    { 3,
      { "parallel (refused: require_determinism)",
        "demo.echo",
        STRATEGY_PARALLEL,
        NULL,
        { NULL },
        NULL,
        "all at once" } },
};

/* splitmix64 */
static uint64_t
next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void
demo_traffic_next(uint64_t *rng, double rate, struct demo_pick *out, int64_t *gap_us)
{
    int total = 0, r;
    size_t i;
    double mean_us = 1e6 / (rate > 0 ? rate : DEMO_TRAFFIC_RATE);
    double jitter = (double)(next_random(rng) >> 11) * 0x1.0p-53; /* [0, 1) */

    for (i = 0; i < sizeof(mix) / sizeof(mix[0]); i++)
        total += mix[i].weight;
    r = (int)(next_random(rng) % (uint64_t)total);
    for (i = 0; i + 1 < sizeof(mix) / sizeof(mix[0]) && r >= mix[i].weight; i++)
        r -= mix[i].weight;
    *out = mix[i].pick;
    /* Between half and one and a half times the mean gap: gentle, not a metronome. */
    *gap_us = (int64_t)(mean_us * (0.5 + jitter));
}

int
demo_traffic_wanted(const struct console_opts *o, const struct config *cfg, char *why, size_t size)
{
    const char *env = getenv("INTENTUSNET_RECORDS_PATH");

    why[0] = '\0';
    switch (o->demo_traffic) {
    case DEMO_TRAFFIC_ON:
        if (!cfg->is_demo) {
            snprintf(why, size,
                     "--demo-traffic fires the built-in demo configuration's intents, but the "
                     "configuration is %s (--demo-traffic=auto starts it only on the demo)",
                     cfg->source);
            return -1;
        }
        if (o->read_only) {
            snprintf(why, size,
                     "--demo-traffic is refused with --read-only (it records executions)");
            return -1;
        }
        return 1;
    case DEMO_TRAFFIC_AUTO:
        return cfg->is_demo && !o->read_only && o->dir == NULL && (env == NULL || env[0] == '\0');
    default:
        return 0;
    }
}

bool
demo_traffic_running(const struct app *app)
{
    return app->demo != NULL && app->demo->on;
}

void
demo_traffic_start(struct app *app)
{
    struct demo_traffic *d = app->demo;

    if (app->opts.read_only) {
        app_message(app, true, "read-only console: demo traffic is disabled");
        return;
    }
    if (!app->model.cfg->is_demo) {
        app_message(app, true, "demo traffic needs the built-in demo configuration (this is %s)",
                    app->model.cfg->source);
        return;
    }
    if (d == NULL) {
        d = app->demo = calloc(1, sizeof(*d));
        if (d == NULL) {
            app_message(app, true, "demo traffic: out of memory");
            return;
        }
        d->rng = DEMO_TRAFFIC_SEED;
    }
    d->rate = app->opts.demo_rate > 0 ? app->opts.demo_rate : DEMO_TRAFFIC_RATE;
    d->on = true;
    d->next_us = clock_mono_us();
    app->ui.dirty = true;
    demo_traffic_pump(app);
}

void
demo_traffic_stop(struct app *app)
{
    if (app->demo != NULL)
        app->demo->on = false;
    app->ui.dirty = true;
}

void
demo_traffic_toggle(struct app *app)
{
    if (demo_traffic_running(app)) {
        demo_traffic_stop(app);
        app_message(app, false, "demo traffic stopped (T starts it again)");
    } else {
        demo_traffic_start(app);
        if (demo_traffic_running(app))
            app_message(app, false, "demo traffic: %.1f intents a second (T stops it)",
                        app->demo->rate);
    }
}

static cJSON *
build(const struct demo_pick *p, uint64_t n, struct intentus_err *err)
{
    char tenant[64];
    const char *tags[2] = { NULL, NULL };
    struct envelope_opts o = { .strategy = p->strategy,
                               .priority = PRIORITY_NORMAL,
                               .source = "intentus-console-demo",
                               .target_agent = p->target,
                               .fallback_agents = p->fallback[0] != NULL ? p->fallback : NULL };
    cJSON *payload = cJSON_CreateObject();

    if (payload == NULL || cJSON_AddStringToObject(payload, "text", p->text) == NULL ||
        cJSON_AddNumberToObject(payload, "n", (double)n) == NULL) {
        cJSON_Delete(payload);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (p->tenant != NULL) {
        snprintf(tenant, sizeof(tenant), "tenant:%s", p->tenant);
        tags[0] = tenant;
        o.tags = tags;
    }
    return envelope_new(p->intent, payload, &o, err);
}

void
demo_traffic_pump(struct app *app)
{
    struct demo_traffic *d = app->demo;
    int64_t now = clock_mono_us();

    if (d == NULL || !d->on)
        return;
    if (!app->model.cfg->is_demo) { /* a reload may have swapped the configuration */
        d->on = false;
        app_message(app, true, "demo traffic stopped: the configuration is no longer the demo");
        return;
    }
    while (now >= d->next_us && d->inflight < DEMO_TRAFFIC_MAX_INFLIGHT) {
        struct intentus_err err = { 0 };
        struct demo_pick p;
        uint64_t rng = d->rng;
        int64_t gap;
        cJSON *env;

        demo_traffic_next(&rng, d->rate, &p, &gap);
        env = build(&p, d->sent + 1, &err);
        if (env == NULL ||
            runtime_submit(app->model.rt, env, DEMO_TRAFFIC_TAG | d->sent, &err) != 0) {
            cJSON_Delete(env);
            if (err.code == IERR_LIMIT)
                break; /* the queue is full: the same intent goes on the next wake */
            d->on = false;
            app_message(app, true, "demo traffic stopped: %s", err.msg);
            return;
        }
        d->rng = rng;
        d->sent++;
        d->inflight++;
        d->next_us += gap;
        /* After a stall (a suspended terminal), carry on gently, not in a burst. */
        if (d->next_us < now - 1000000)
            d->next_us = now;
    }
    if (d->next_us > now)
        loop_wake_within(app->loop, (int)((d->next_us - now) / 1000) + 1);
}

void
demo_traffic_completion(struct app *app, const struct completion *c)
{
    struct demo_traffic *d = app->demo;

    if (d == NULL)
        return;
    (void)c; /* its record reaches the dashboard through the tailer, like any other */
    if (d->inflight > 0)
        d->inflight--;
    demo_traffic_pump(app);
}

void
demo_traffic_free(struct app *app)
{
    free(app->demo);
    app->demo = NULL;
}
