/* The configuration: where records go, whether determinism is required, and
 * the agents. Read from a JSON file found by the documented search order, or
 * the built-in demo configuration when there is none, so everything works
 * with no file at all. Loading is all-or-nothing: a bad file yields an error
 * naming the file, the JSON path and the problem, and no config. */
#ifndef INTENTUS_CORE_CONFIG_H
#define INTENTUS_CORE_CONFIG_H

#include <stdbool.h>

#include "core/err.h"
#include "core/registry.h"

#define CONFIG_DEFAULT_RECORDS_DIR ".intentusnet/records"

struct config {
    char *source;      /* the file it came from, or "built-in demo configuration" */
    bool is_demo;
    char *records_dir; /* resolved: file, then $INTENTUSNET_RECORDS_PATH, then default */
    bool require_determinism;
    bool fsync;
    struct agent_defaults agent_defaults; /* "defaults": timeout and breaker */
    int64_t deadline_ms;       /* overall execution deadline; 0 = none */
    struct registry *registry; /* owned */
};

/* The search order: explicit path (from --config), $INTENTUS_CONFIG,
 * ./intentus.json, $XDG_CONFIG_HOME/intentus/config.json (or
 * ~/.config/intentus/config.json), then the built-in demo. An explicit path
 * or $INTENTUS_CONFIG that does not exist is an error, never a silent
 * fallback to the demo. */
struct config *config_load(const char *explicit_path, struct intentus_err *err);
/* Parse config text; source names it in messages. */
struct config *config_parse(const char *text, size_t len, const char *source,
                            struct intentus_err *err);
struct config *config_demo(struct intentus_err *err);
void config_free(struct config *cfg);
/* The demo configuration's JSON text (also what `intentus config --demo` prints). */
const char *config_demo_text(void);

#endif
