/* The configuration: where records go, whether determinism is required, and
 * the agents. Read from a JSON file found by the documented search order, or
 * the built-in demo configuration when there is none, so everything works
 * with no file at all. Loading is all-or-nothing: a bad file yields an error
 * naming the file, the JSON path and the problem, and no config. */
#ifndef INTENTUS_CORE_CONFIG_H
#define INTENTUS_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/breaker.h"
#include "core/compliance.h"
#include "core/err.h"
#include "core/policy.h"
#include "core/redact.h"
#include "core/registry.h"
#include "core/wal.h"
#include "core/writer.h"

#define CONFIG_DEFAULT_RECORDS_DIR ".intentusnet/records"
#define CONFIG_DEFAULT_MAX_PAYLOAD ((uint64_t)1024 * 1024) /* the reference's suggested 1 MiB */
#define CONFIG_DEFAULT_MAX_DEPTH 64

/* "recording": how much is recorded and how it reaches the disk. */
struct recording_config {
    enum writer_mode mode;       /* "sync" (default) or "async" */
    size_t queue;                /* async queue capacity (default 1024) */
    enum writer_on_full on_full; /* "block" (default) or "drop" */
    double sample_rate;          /* 0..1, default 1 */
    bool sample_errors;          /* errors and refusals always kept (default true) */
    uint64_t max_payload_bytes;  /* serialised payload, at most REC_STORE_MAX_PAYLOAD; 0 = none */
    int max_depth;               /* payload nesting; 0 = no limit */
};

/* "recording.encryption": {"keyring": DIR} or {"key_file": FILE}, and
 * optionally "enabled" (default true). Records, archives and WAL entries
 * are then sealed with the ring's newest key (core/crypt.h). The keyring is
 * loaded when a runtime opens, not when the config is parsed. */
struct encryption_config {
    bool enabled;
    char *keyring;    /* the directory or key file; resolved next to the config file */
    bool is_key_file; /* given as key_file */
};

/* "wal": the write-ahead log of executions (off by default). */
struct wal_config {
    bool enabled;
    char *dir;                      /* WAL_DEFAULT_DIR unless set */
    enum wal_durability durability; /* "per_entry" (default), "group" or "none" */
    char *public_key;               /* Ed25519 public key file to verify signed logs; NULL: none.
                                     * A relative path is resolved next to the config file. */
    char *signing_key;              /* Ed25519 private key file: every entry written is signed
                                     * (core/wal_sign.h); NULL: unsigned. Resolved like
                                     * public_key; loaded (mode 0600 checked) when a runtime
                                     * opens the WAL. */
};

/* An agent's effective breaker settings, so a reload can tell whether an
 * agent's breaker may be carried over. */
struct config_breaker {
    char *agent;
    struct breaker_policy policy;
};

struct config {
    char *source; /* the file it came from, or "built-in demo configuration" */
    bool is_demo;
    bool has_demo_agents; /* the file has no "agents" key: the demo's agents */
    char *records_dir;    /* resolved: file, then $INTENTUSNET_RECORDS_PATH, then default */
    /* recording.store: the store URL (core/store.h); NULL: file:records_dir */
    char *store_url;
    bool require_determinism;
    bool fsync;
    struct recording_config recording;
    struct encryption_config encryption; /* recording.encryption */
    struct wal_config wal;
    struct agent_defaults agent_defaults; /* "defaults": timeout and breaker */
    int64_t deadline_ms;                  /* overall execution deadline; 0 = none */
    int subintent_depth;                  /* defaults.subintent_depth; 0: the default */
    struct registry *registry;            /* owned */
    struct policy *policy;                /* owned; NULL when no "policy" is configured */
    struct redactor *redactor;            /* owned; the defaults when no "redaction" is given */
    struct config_breaker *breakers;      /* one per agent, owned */
    size_t n_breakers;
    /* "retention": the policy `records gc` and the console start from;
     * each limit RETENTION_NONE (-1) when not set. */
    struct {
        int64_t max_age_ms, max_count, max_bytes;
        char *archive_dir; /* NULL: delete */
        bool configured;
    } retention;
    /* "compliance": {"mode": "development"|"standard"|"regulated"}
     * (core/compliance.h); COMPLIANCE_DEFAULT when absent. */
    enum compliance_mode compliance;
    bool redaction_configured; /* a "redaction" section is present and enabled */
    /* "console": the console's preferences; they win over the ones it saves
     * in $XDG_STATE_HOME (tui/prefs.c). "" when not set. */
    struct {
        char theme[64];
        char sort[32];        /* records: time|intent|agent|status|duration; "-x": reversed */
        char agents_sort[32]; /* dashboard: agent|calls|failures|rate|circuit|p95; "-x" too */
        bool mouse_set, mouse;
    } console;
};

/* cfg against its compliance mode (compliance_check): -1 with err
 * (IERR_CONFIG, "<source>: compliance mode regulated requires: ...")
 * naming every missing requirement. */
int config_check_compliance(const struct config *cfg, struct intentus_err *err);

/* The breaker settings agent was configured with; false if unknown. */
bool config_breaker_policy(const struct config *cfg, const char *agent, struct breaker_policy *out);

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
