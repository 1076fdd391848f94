/* Agents: a definition (what the reference's AgentDefinition holds) plus a
 * kind that does the work. Kinds are small vtables so a new one (exec, http)
 * is one new file plus one row in the kind table. */
#ifndef INTENTUS_CORE_AGENT_H
#define INTENTUS_CORE_AGENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/breaker.h"
#include "core/err.h"

struct capability {
    char *name;    /* "*" matches any intent name */
    char *version; /* "*" matches any version */
};

struct agent;

/* Per-worker scratch that kinds may keep between calls (the http kind keeps
 * its curl handle here, so one handle serves one worker). Owned by whoever
 * runs the calls: a worker thread, or a synchronous caller. */
struct agent_cache;
struct agent_cache *agent_cache_new(void);
void agent_cache_free(struct agent_cache *c);
/* A slot per kind: kinds store one pointer and the destructor for it. */
void *agent_cache_get(struct agent_cache *c, const char *kind);
int agent_cache_put(struct agent_cache *c, const char *kind, void *value, void (*free_fn)(void *));

struct envelope_view;

/* What a call may use beyond the envelope. */
struct agent_ctx {
    int64_t deadline_us;       /* CLOCK_MONOTONIC microseconds; 0 means none */
    struct agent_cache *cache; /* may be NULL: kinds then use per-call state */
    /* The router's view of the envelope (core/model.h), so a call does
     * not walk it again; used only when view->env is the envelope called
     * with (agent_call passes kinds a matching one). May be NULL. */
    struct envelope_view *view;
};

struct agent_kind {
    const char *name;                 /* "builtin" */
    const char *const *settings_keys; /* keys this kind accepts in a config entry */
    /* Build the kind's private state from the config entry. */
    int (*init)(struct agent *a, const cJSON *entry, const char *path, struct intentus_err *err);
    /* Handle one envelope: a response tree (success or error response), or
     * NULL with err set when the call itself failed (the reference's
     * "wrapper exception": the router records it as such). A kind must
     * return by ctx->deadline_us (an AGENT_TIMEOUT error response). */
    cJSON *(*invoke)(struct agent *a, cJSON *env, const struct agent_ctx *ctx,
                     struct intentus_err *err);
    void (*free_state)(void *state);
    /* May be NULL (no). True when every call of a answers at once from
     * memory: no sleep, no I/O, no process, no network. Such calls may run
     * on a thread that must not be held up (serve's HTTP threads). */
    bool (*instant)(const struct agent *a);
};

/* Side-effect class of an agent's work (the reference's WAL vocabulary). */
enum side_effect { SIDE_EFFECT_READ_ONLY, SIDE_EFFECT_REVERSIBLE, SIDE_EFFECT_IRREVERSIBLE };

/* Opt-in retries: only for retryable errors of agents marked idempotent. */
struct retry_policy {
    int max_attempts; /* total attempts including the first; 1 = no retry */
    int64_t base_ms;  /* first backoff; doubles each retry, with jitter */
    int64_t max_ms;   /* backoff cap */
};

/* Config-wide defaults an agent entry inherits (config "defaults"). */
struct agent_defaults {
    int64_t timeout_ms; /* per call; 0 = none */
    struct breaker_policy breaker;
};

#define AGENT_DEFAULT_TIMEOUT_MS 30000

struct agent {
    char *name;
    /* name's interned copy (core/intern.h), which decisionPath links; NULL
     * when the intern table is full: decisionPath copies name. */
    const char *interned_name;
    char *version;
    char *node_id;      /* NULL or "" means local */
    long node_priority; /* lower is preferred */
    bool is_remote;     /* display only; routing looks at node_id */
    struct capability *caps;
    size_t n_caps;
    int64_t timeout_ms; /* per call; 0 = none */
    bool idempotent;
    struct retry_policy retry;
    enum side_effect side_effect;
    struct breaker *breaker; /* owned; NULL when the breaker is disabled */
    const struct agent_kind *kind;
    void *state;
    /* NULL, or the "$NAME" settings whose variables were not set when the
     * config loaded ("TOKEN (agents[0].headers.Authorization)", ", "
     * between several): the agent loads, and each call of it fails. */
    char *missing_env;
};

/* Parse one config entry ({"name", "kind", "intents", ...}) into an agent.
 * path is the entry's JSON path for messages ("agents[2]"). Every key must be
 * a common key or one of the kind's, so a typo is an error, never ignored. */
struct agent *agent_from_config(const cJSON *entry, const char *path,
                                const struct agent_defaults *defaults, struct intentus_err *err);
/* Parse a "breaker" object over base (config defaults or an agent entry). */
int agent_parse_breaker(const cJSON *obj, const char *path, struct breaker_policy *policy,
                        struct intentus_err *err);
const char *agent_side_effect_name(enum side_effect s);
void agent_free(struct agent *a);

/* The kind says a call answers at once (agent_kind.instant), the agent
 * has all its settings and does not retry (a retry sleeps its backoff). */
bool agent_is_instant(const struct agent *a);
/* True when the agent declares a capability matching name@version. */
bool agent_handles(const struct agent *a, const char *intent, const char *version);
/* 1 when a's node is remote (non-empty node_id), else 0. */
int agent_is_remote(const struct agent *a);

/* The reference's BaseAgent.handle: append the agent to decisionPath, run
 * the kind, fill the response metadata. NULL + err on a wrapper failure. */
cJSON *agent_call(struct agent *a, cJSON *env, const struct agent_ctx *ctx,
                  struct intentus_err *err);

/* A config value that may name an environment variable: "$NAME" gives the
 * variable's value (an error naming path when it is unset), any other text
 * itself. The result is borrowed: the environment's string or value. */
const char *agent_env_value(const char *value, const char *path, struct intentus_err *err);

/* What kinds resolve "$NAME" settings with: *out is the value (borrowed,
 * as agent_env_value's). An unset variable is not a load error (commands
 * that only read records must not need the agents' secrets): *out is NULL,
 * the variable and path are noted in a->missing_env, and the kind leaves
 * that setting out; agent_call then fails every call of a with
 * AGENT_UNAVAILABLE naming the agent and the variable. Returns 0, or -1
 * when out of memory. */
int agent_resolve_env(struct agent *a, const char *value, const char *path, const char **out,
                      struct intentus_err *err);

/* An error response from agent a for env, the message prefixed with the
 * agent's name ("summarize: exited with status 3"); takes details. Shared
 * by the kinds so their failures read alike. */
cJSON *agent_error_response(const struct agent *a, const cJSON *env, int code, bool retryable,
                            cJSON *details, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The agent's definition as the reference serialises AgentDefinition. */
cJSON *agent_definition_json(const struct agent *a);

/* Kinds, for the config loader and `intentus agents`. */
const struct agent_kind *agent_kind_find(const char *name);
extern const struct agent_kind agent_kind_builtin;
extern const struct agent_kind agent_kind_exec; /* core/agent_exec.c */
extern const struct agent_kind agent_kind_http; /* core/agent_http.c */

#endif
