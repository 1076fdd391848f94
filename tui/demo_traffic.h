/* Demo traffic (`intentus console --demo-traffic[=RATE|auto]`): a gentle,
 * varied, seeded stream of the demo configuration's intents, fired through
 * the embedded runtime's async path like the Fire screen's ^R, so a new user
 * sees agents, failures, circuits and rates move at once. The loop drives it
 * (demo_traffic_pump from the tick and before-sleep hooks, and again on each
 * completion); nothing blocks, and at most DEMO_TRAFFIC_MAX_INFLIGHT are in
 * flight. The generator is a pure function of its seed, so runs reproduce. */
#ifndef INTENTUS_TUI_DEMO_TRAFFIC_H
#define INTENTUS_TUI_DEMO_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/executor.h"
#include "core/model.h"

#define DEMO_TRAFFIC_TAG (1ULL << 63) /* completion tags of demo intents */
#define DEMO_TRAFFIC_SEED 60u         /* its first picks reach flaky-b four times in 0.8 s */
#define DEMO_TRAFFIC_RATE 5.0         /* intents per second by default */
#define DEMO_TRAFFIC_RATE_MIN 0.1
#define DEMO_TRAFFIC_RATE_MAX 50.0
#define DEMO_TRAFFIC_MAX_INFLIGHT 4

/* One demo intent, as the generator drew it. Strings are static. */
struct demo_pick {
    const char *what; /* what it shows, e.g. "fallback past flaky-b" */
    const char *intent;
    enum strategy strategy;
    const char *target;      /* NULL: none */
    const char *fallback[3]; /* NULL-terminated exact chain; fallback[0] NULL: none */
    const char *tenant;      /* NULL: none */
    const char *text;        /* the payload's "text" */
};

/* Draw the next demo intent from *rng, and the gap before the one after it
 * (jittered around 1/rate seconds). */
void demo_traffic_next(uint64_t *rng, double rate, struct demo_pick *out, int64_t *gap_us);

struct app;
struct console_opts;
struct config;

/* Whether the console starts with demo traffic: 1 yes, 0 no, -1 refused
 * (why filled: --demo-traffic named explicitly without the built-in demo
 * configuration). "auto" is on only for the built-in demo configuration with
 * no --dir and no $INTENTUSNET_RECORDS_PATH, and never read-only. */
int demo_traffic_wanted(const struct console_opts *o, const struct config *cfg, char *why,
                        size_t size);
/* Start (seeded with DEMO_TRAFFIC_SEED) or stop; start refuses with a message
 * on the status line when read-only or not on the demo configuration. */
void demo_traffic_start(struct app *app);
void demo_traffic_stop(struct app *app);
void demo_traffic_toggle(struct app *app);
bool demo_traffic_running(const struct app *app);
/* Submit what is due; ask the loop to wake for the next one. */
void demo_traffic_pump(struct app *app);
/* A completion whose tag carries DEMO_TRAFFIC_TAG. */
void demo_traffic_completion(struct app *app, const struct completion *c);
/* Frees the state (work in flight finishes in runtime_close). */
void demo_traffic_free(struct app *app);

#endif
