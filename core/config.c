#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "core/rec_store.h"
#include "core/safe_file.h"
#include "core/subintent.h"
#include "core/units.h"

/* Written in the user's own config syntax and fed through the same parser,
 * so the demo can never drift from what a file may say (tmux's default key
 * bindings are done the same way). */
static const char demo_text[] =
    "{\n"
    "  \"require_determinism\": true,\n"
    "  \"agents\": [\n"
    "    { \"name\": \"echo-a\", \"kind\": \"builtin\", \"builtin\": \"echo\",\n"
    "      \"intents\": [\"demo.echo\", \"demo.upper@1.0\", \"demo.admin\"], \"nodePriority\": 10 "
    "},\n"
    "    { \"name\": \"flaky-b\", \"kind\": \"builtin\", \"builtin\": \"flaky\",\n"
    "      \"fail_rate\": 0.3, \"seed\": 2529, \"intents\": [\"demo.echo\"], \"nodePriority\": "
    "20,\n"
    "      \"breaker\": { \"failure_threshold\": 3, \"cooldown\": \"3s\", \"half_open_probes\": 2 "
    "} "
    "},\n"
    "    { \"name\": \"upper-u\", \"kind\": \"builtin\", \"builtin\": \"upper\",\n"
    "      \"intents\": [\"demo.upper\"], \"nodePriority\": 5 },\n"
    "    { \"name\": \"slow-c\", \"kind\": \"builtin\", \"builtin\": \"slow\", \"delay_ms\": 200,\n"
    "      \"intents\": [\"demo.slow\"] },\n"
    "    { \"name\": \"broken-d\", \"kind\": \"builtin\", \"builtin\": \"fail\",\n"
    "      \"error_code\": \"AGENT_ERROR\", \"retryable\": false, \"intents\": [\"demo.fail\"] }\n"
    "  ],\n"
    "  \"policy\": { \"default\": \"allow\", \"rules\": [\n"
    "    { \"id\": \"no-guest-admin\", \"action\": \"deny\", \"intents\": [\"demo.admin\"],\n"
    "      \"tenants\": [\"guest\"] } ] }\n"
    "}\n";

static const char *const top_keys[] = {
    "require_determinism", "recording", "defaults", "agents",     "policy",  "redaction",
    "retention",           "wal",       "serve",    "compliance", "console", NULL
};
static const char *const recording_keys[] = { "dir",         "mode",          "fsync",
                                              "sample_rate", "sample_errors", "max_payload_bytes",
                                              "max_depth",   "queue",         "on_full",
                                              "encryption",  "store",         NULL };
/* Sections DESIGN.md describes that this build does not implement yet: named
 * specifically so nobody believes they are active when they are not. */
static const char *const later_keys[] = { NULL };

const char *
config_demo_text(void)
{
    return demo_text;
}

static bool
listed(const char *key, const char *const *list)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i], key) == 0)
            return true;
    }
    return false;
}

void
config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    registry_free(cfg->registry);
    policy_free(cfg->policy);
    redactor_free(cfg->redactor);
    for (size_t i = 0; i < cfg->n_breakers; i++)
        free(cfg->breakers[i].agent);
    free(cfg->breakers);
    free(cfg->retention.archive_dir);
    free(cfg->wal.dir);
    free(cfg->wal.public_key);
    free(cfg->wal.signing_key);
    free(cfg->encryption.keyring);
    free(cfg->source);
    free(cfg->records_dir);
    free(cfg->store_url);
    free(cfg);
}

static int
parse_choice(const cJSON *rec, const char *key, const char *a, const char *b, int *out,
             struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, key);

    if (v == NULL)
        return 0;
    if (cJSON_IsString(v) && strcmp(v->valuestring, a) == 0)
        *out = 0;
    else if (cJSON_IsString(v) && strcmp(v->valuestring, b) == 0)
        *out = 1;
    else {
        err_set(err, IERR_CONFIG, "recording.%s: must be \"%s\" or \"%s\"", key, a, b);
        return -1;
    }
    return 0;
}

static int
parse_recording_limits(struct config *cfg, const cJSON *rec, struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, "max_payload_bytes");
    long long n;

    if (v != NULL) {
        uint64_t size;
        if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15)
            size = (uint64_t)v->valuedouble;
        else if (!cJSON_IsString(v) || units_parse_size(v->valuestring, &size, NULL) != 0) {
            err_set(err, IERR_CONFIG,
                    "recording.max_payload_bytes: must be a size such as 512K, 1M or bytes "
                    "(0 = no limit)");
            return -1;
        }
        if (size > REC_STORE_MAX_PAYLOAD) {
            err_set(
                err, IERR_CONFIG,
                "recording.max_payload_bytes: %llu bytes is more than a record can hold: at "
                "most %zu (%zu MiB; record files are limited to %zu MiB and hold the payload up "
                "to three times)",
                (unsigned long long)size, REC_STORE_MAX_PAYLOAD, REC_STORE_MAX_PAYLOAD >> 20,
                REC_STORE_MAX_FILE >> 20);
            return -1;
        }
        cfg->recording.max_payload_bytes = size;
    }
    if (cJSON_GetObjectItemCaseSensitive(rec, "max_depth") != NULL) {
        if (json_get_int64(rec, "max_depth", &n) != 0 || n < 0 || n > 10000) {
            err_set(err, IERR_CONFIG,
                    "recording.max_depth: must be an integer from 0 (no limit) to 10000");
            return -1;
        }
        cfg->recording.max_depth = (int)n;
    }
    if (cJSON_GetObjectItemCaseSensitive(rec, "queue") != NULL) {
        if (json_get_int64(rec, "queue", &n) != 0 || n < 1 || n > 10000000) {
            err_set(err, IERR_CONFIG, "recording.queue: must be an integer from 1 to 10000000");
            return -1;
        }
        cfg->recording.queue = (size_t)n;
    }
    v = cJSON_GetObjectItemCaseSensitive(rec, "sample_rate");
    if (v != NULL) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1) {
            err_set(err, IERR_CONFIG, "recording.sample_rate: must be a number from 0 to 1");
            return -1;
        }
        cfg->recording.sample_rate = v->valuedouble;
    }
    return 0;
}

/* A file name from the config: a relative one is found next to the file. */
static char *
path_beside(const struct config *cfg, const char *name)
{
    const char *slash = strrchr(cfg->source, '/');
    bool beside = name[0] != '/' && slash != NULL && !cfg->is_demo;
    char *out = NULL;

    if (asprintf(&out, "%.*s%s%s", beside ? (int)(slash - cfg->source) : 0, cfg->source,
                 beside ? "/" : "", name) < 0)
        return NULL;
    return out;
}

/* "encryption": {"keyring": DIR} | {"key_file": FILE}, "enabled" optional. */
static int
parse_encryption(struct config *cfg, const cJSON *v, struct intentus_err *err)
{
    static const char *const keys[] = { "enabled", "keyring", "key_file", NULL };
    const cJSON *k, *ring, *file, *on;

    if (!cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG,
                "recording.encryption: must be an object such as {\"keyring\": \"DIR\"} or "
                "{\"key_file\": \"FILE\"}");
        return -1;
    }
    cJSON_ArrayForEach(k, v)
    {
        if (!listed(k->string, keys)) {
            err_set(err, IERR_CONFIG,
                    "recording.encryption.%s: unknown key (known: enabled, keyring, key_file)",
                    k->string);
            return -1;
        }
    }
    ring = cJSON_GetObjectItemCaseSensitive(v, "keyring");
    file = cJSON_GetObjectItemCaseSensitive(v, "key_file");
    on = cJSON_GetObjectItemCaseSensitive(v, "enabled");
    if (on != NULL && !cJSON_IsBool(on)) {
        err_set(err, IERR_CONFIG, "recording.encryption.enabled: must be true or false");
        return -1;
    }
    if ((ring != NULL) == (file != NULL)) {
        err_set(err, IERR_CONFIG, "recording.encryption: give exactly one of keyring and key_file");
        return -1;
    }
    k = ring != NULL ? ring : file;
    if (!cJSON_IsString(k) || k->valuestring[0] == '\0') {
        err_set(err, IERR_CONFIG, "recording.encryption.%s: must be a non-empty path",
                ring != NULL ? "keyring" : "key_file");
        return -1;
    }
    free(cfg->encryption.keyring);
    cfg->encryption.keyring = path_beside(cfg, k->valuestring);
    if (cfg->encryption.keyring == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    cfg->encryption.is_key_file = file != NULL;
    cfg->encryption.enabled = on == NULL || cJSON_IsTrue(on);
    return 0;
}

static int
parse_recording(struct config *cfg, const cJSON *rec, struct intentus_err *err)
{
    const cJSON *k, *v;
    int choice;

    if (!cJSON_IsObject(rec)) {
        err_set(err, IERR_CONFIG, "recording: must be an object");
        return -1;
    }
    cJSON_ArrayForEach(k, rec)
    {
        if (!listed(k->string, recording_keys)) {
            err_set(err, IERR_CONFIG,
                    "recording.%s: unknown key (known: dir, mode, fsync, sample_rate, "
                    "sample_errors, max_payload_bytes, max_depth, queue, on_full, encryption, "
                    "store)",
                    k->string);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(rec, "dir");
    if (v != NULL) {
        if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG, "recording.dir: must be a non-empty string");
            return -1;
        }
        free(cfg->records_dir);
        cfg->records_dir = strdup(v->valuestring);
    }
    /* "store": a store URL (core/store.h); the engine checks it on open. */
    v = cJSON_GetObjectItemCaseSensitive(rec, "store");
    if (v != NULL) {
        if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG,
                    "recording.store: must be a store URL such as \"sqlite:PATH\" or "
                    "\"file:DIR\"");
            return -1;
        }
        free(cfg->store_url);
        if ((cfg->store_url = strdup(v->valuestring)) == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
    }
    for (size_t i = 0; i < 2; i++) {
        const char *key = i == 0 ? "fsync" : "sample_errors";
        v = cJSON_GetObjectItemCaseSensitive(rec, key);
        if (v != NULL && !cJSON_IsBool(v)) {
            err_set(err, IERR_CONFIG, "recording.%s: must be true or false", key);
            return -1;
        }
        if (i == 0)
            cfg->fsync = cJSON_IsTrue(v);
        else if (v != NULL)
            cfg->recording.sample_errors = cJSON_IsTrue(v);
    }
    choice = 0;
    if (parse_choice(rec, "mode", "sync", "async", &choice, err) != 0)
        return -1;
    cfg->recording.mode = choice ? WRITER_ASYNC : WRITER_SYNC;
    choice = 0;
    if (parse_choice(rec, "on_full", "block", "drop", &choice, err) != 0)
        return -1;
    cfg->recording.on_full = choice ? WRITER_DROP : WRITER_BLOCK;
    v = cJSON_GetObjectItemCaseSensitive(rec, "encryption");
    if (v != NULL && parse_encryption(cfg, v, err) != 0)
        return -1;
    return parse_recording_limits(cfg, rec, err);
}

/* "policy": inline {default, rules}, or {"file": "policies.json"} (a
 * relative file is found next to the config file). */
static int
parse_policy(struct config *cfg, const cJSON *v, struct intentus_err *err)
{
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(v, "file");
    const char *slash;
    char path[4096];

    if (!cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG,
                "policy: must be an object ({\"default\", \"rules\"} or "
                "{\"file\": \"policies.json\"})");
        return -1;
    }
    if (file == NULL) {
        cfg->policy = policy_parse(v, "policy", err);
        return cfg->policy != NULL ? 0 : -1;
    }
    if (!cJSON_IsString(file) || file->valuestring[0] == '\0' || cJSON_GetArraySize(v) != 1) {
        err_set(err, IERR_CONFIG, "policy.file: must be the only key, a non-empty file name");
        return -1;
    }
    slash = strrchr(cfg->source, '/');
    if (file->valuestring[0] != '/' && slash != NULL && !cfg->is_demo)
        snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - cfg->source), cfg->source,
                 file->valuestring);
    else
        snprintf(path, sizeof(path), "%s", file->valuestring);
    cfg->policy = policy_load_file(path, err);
    if (cfg->policy == NULL) {
        err_prefix(err, "policy.file");
        return -1;
    }
    return 0;
}

static int by_agent_name(const void *x, const void *y);

bool
config_breaker_policy(const struct config *cfg, const char *agent, struct breaker_policy *out)
{
    struct config_breaker key = { .agent = (char *)agent };
    const struct config_breaker *cb;

    if (cfg->n_breakers == 0)
        return false;
    /* Sorted by name once loaded (parse_agents). */
    cb = bsearch(&key, cfg->breakers, cfg->n_breakers, sizeof(*cfg->breakers), by_agent_name);
    if (cb == NULL)
        return false;
    *out = cb->policy;
    return true;
}

static int
parse_defaults(struct config *cfg, const cJSON *defs, struct intentus_err *err)
{
    const cJSON *k, *v;

    if (!cJSON_IsObject(defs)) {
        err_set(err, IERR_CONFIG, "defaults: must be an object");
        return -1;
    }
    cJSON_ArrayForEach(k, defs)
    {
        if (strcmp(k->string, "timeout") != 0 && strcmp(k->string, "deadline") != 0 &&
            strcmp(k->string, "breaker") != 0 && strcmp(k->string, "subintent_depth") != 0) {
            err_set(err, IERR_CONFIG,
                    "defaults.%s: unknown key (known: timeout, deadline, breaker, "
                    "subintent_depth)",
                    k->string);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(defs, "timeout");
    if (v != NULL &&
        units_json_duration_ms(v, "defaults.timeout", &cfg->agent_defaults.timeout_ms, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(defs, "deadline");
    if (v != NULL && units_json_duration_ms(v, "defaults.deadline", &cfg->deadline_ms, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(defs, "subintent_depth");
    if (v != NULL) {
        long long n;
        if (json_get_int64(defs, "subintent_depth", &n) != 0 || n < 1 ||
            n > SUBINTENT_MAX_DEPTH_LIMIT) {
            err_set(err, IERR_CONFIG, "defaults.subintent_depth: must be an integer from 1 to %d",
                    SUBINTENT_MAX_DEPTH_LIMIT);
            return -1;
        }
        cfg->subintent_depth = (int)n;
    }
    v = cJSON_GetObjectItemCaseSensitive(defs, "breaker");
    if (v != NULL &&
        agent_parse_breaker(v, "defaults.breaker", &cfg->agent_defaults.breaker, err) != 0)
        return -1;
    return 0;
}

/* "retention": {older_than, max_count, max_bytes, archive_dir}; each may be
 * null or absent (no limit). */
static int
parse_retention(struct config *cfg, const cJSON *ret, struct intentus_err *err)
{
    const cJSON *k, *v;
    uint64_t bytes;

    if (!cJSON_IsObject(ret)) {
        err_set(err, IERR_CONFIG, "retention: must be an object");
        return -1;
    }
    cJSON_ArrayForEach(k, ret)
    {
        if (strcmp(k->string, "older_than") != 0 && strcmp(k->string, "max_count") != 0 &&
            strcmp(k->string, "max_bytes") != 0 && strcmp(k->string, "archive_dir") != 0) {
            err_set(err, IERR_CONFIG,
                    "retention.%s: unknown key (known: older_than, max_count, max_bytes, "
                    "archive_dir)",
                    k->string);
            return -1;
        }
    }
    cfg->retention.configured = true;
    v = cJSON_GetObjectItemCaseSensitive(ret, "older_than");
    if (v != NULL && !cJSON_IsNull(v) &&
        units_json_duration_ms(v, "retention.older_than", &cfg->retention.max_age_ms, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(ret, "max_count");
    if (v != NULL && !cJSON_IsNull(v)) {
        long long n;
        if (json_get_int64(ret, "max_count", &n) != 0 || n < 0) {
            err_set(err, IERR_CONFIG, "retention.max_count: must be a non-negative integer");
            return -1;
        }
        cfg->retention.max_count = n;
    }
    v = cJSON_GetObjectItemCaseSensitive(ret, "max_bytes");
    if (v != NULL && !cJSON_IsNull(v)) {
        if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15) {
            cfg->retention.max_bytes = (int64_t)v->valuedouble;
        } else if (cJSON_IsString(v) && units_parse_size(v->valuestring, &bytes, NULL) == 0) {
            cfg->retention.max_bytes = (int64_t)bytes;
        } else {
            err_set(err, IERR_CONFIG, "retention.max_bytes: must be a size such as 512M or 10G");
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(ret, "archive_dir");
    if (v != NULL && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v) || v->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG, "retention.archive_dir: must be a directory path or null");
            return -1;
        }
        cfg->retention.archive_dir = strdup(v->valuestring);
    }
    return 0;
}

static int
by_agent_name(const void *x, const void *y)
{
    return strcmp(((const struct config_breaker *)x)->agent,
                  ((const struct config_breaker *)y)->agent);
}

/* Every entry is parsed first, then the registry takes them in one sorted
 * batch and the breaker table is sorted by name: loading n agents costs
 * O(n log n), not one linear search and one insertion per agent. */
static int
parse_agents(struct config *cfg, const cJSON *agents, struct intentus_err *err)
{
    const cJSON *entry;
    struct agent **parsed = NULL;
    size_t n = 0, bad = 0, count;
    char path[32];
    int rc = -1;

    if (!cJSON_IsArray(agents)) {
        err_set(err, IERR_CONFIG, "agents: must be an array of agent objects");
        return -1;
    }
    count = (size_t)cJSON_GetArraySize(agents);
    cfg->breakers = calloc(count + 1, sizeof(*cfg->breakers));
    parsed = calloc(count + 1, sizeof(*parsed));
    if (cfg->breakers == NULL || parsed == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    cJSON_ArrayForEach(entry, agents)
    {
        struct config_breaker *cb = &cfg->breakers[cfg->n_breakers];
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(entry, "breaker");
        struct agent *a;
        snprintf(path, sizeof(path), "agents[%zu]", n);
        a = agent_from_config(entry, path, &cfg->agent_defaults, err);
        if (a == NULL)
            goto out;
        parsed[n++] = a;
        /* The same settings agent_from_config gave its breaker (it has
         * already accepted them, so this cannot fail). */
        cb->policy = cfg->agent_defaults.breaker;
        if (b != NULL)
            agent_parse_breaker(b, path, &cb->policy, NULL);
        if ((cb->agent = strdup(a->name)) == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            goto out;
        }
        cfg->n_breakers++;
    }
    if (registry_add_all(cfg->registry, parsed, n, &bad, err) != 0) {
        if (err != NULL && err->code != IERR_NOMEM)
            err_prefix(err, "agents[%zu]", bad);
        goto out;
    }
    n = 0; /* the registry owns them now */
    if (cfg->n_breakers > 1)
        qsort(cfg->breakers, cfg->n_breakers, sizeof(*cfg->breakers), by_agent_name);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        agent_free(parsed[i]);
    free(parsed);
    return rc;
}

/* A key file named by wal.<key>: a relative path is resolved next to the
 * config file. */
static int
parse_key_file(struct config *cfg, const cJSON *v, const char *key, char **out,
               struct intentus_err *err)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, key);
    const char *slash = strrchr(cfg->source, '/');
    bool beside;

    if (x == NULL)
        return 0;
    if (!cJSON_IsString(x) || x->valuestring[0] == '\0') {
        err_set(err, IERR_CONFIG, "wal.%s: must be a non-empty file name", key);
        return -1;
    }
    beside = x->valuestring[0] != '/' && slash != NULL && !cfg->is_demo;
    if (asprintf(out, "%.*s%s%s", beside ? (int)(slash - cfg->source) : 0, cfg->source,
                 beside ? "/" : "", x->valuestring) < 0) {
        *out = NULL;
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return 0;
}

/* "wal": {"enabled": false, "dir": ".intentusnet/wal", "durability": "per_entry",
 *         "public_key": "wal-signer.pub.pem", "signing_key": "wal-signer.pem"}. */
static int
parse_wal(struct config *cfg, const cJSON *v, struct intentus_err *err)
{
    static const char *const keys[] = { "enabled",    "dir",         "durability",
                                        "public_key", "signing_key", NULL };
    const cJSON *k, *x;

    if (!cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG, "wal: must be an object");
        return -1;
    }
    cJSON_ArrayForEach(k, v)
    {
        if (!listed(k->string, keys)) {
            err_set(
                err, IERR_CONFIG,
                "wal.%s: unknown key (known: enabled, dir, durability, public_key, signing_key)",
                k->string);
            return -1;
        }
    }
    x = cJSON_GetObjectItemCaseSensitive(v, "enabled");
    if (x != NULL && !cJSON_IsBool(x)) {
        err_set(err, IERR_CONFIG, "wal.enabled: must be true or false");
        return -1;
    }
    cfg->wal.enabled = cJSON_IsTrue(x);
    x = cJSON_GetObjectItemCaseSensitive(v, "dir");
    if (x != NULL) {
        if (!cJSON_IsString(x) || x->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG, "wal.dir: must be a non-empty string");
            return -1;
        }
        free(cfg->wal.dir);
        if ((cfg->wal.dir = strdup(x->valuestring)) == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
    }
    x = cJSON_GetObjectItemCaseSensitive(v, "durability");
    if (x != NULL &&
        (!cJSON_IsString(x) || wal_durability_parse(x->valuestring, &cfg->wal.durability) != 0)) {
        err_set(err, IERR_CONFIG, "wal.durability: must be \"per_entry\", \"group\" or \"none\"");
        return -1;
    }
    if (parse_key_file(cfg, v, "public_key", &cfg->wal.public_key, err) != 0 ||
        parse_key_file(cfg, v, "signing_key", &cfg->wal.signing_key, err) != 0)
        return -1;
    return 0;
}

/* "compliance": {"mode": "development" | "standard" | "regulated"}. */
static int
parse_compliance(struct config *cfg, const cJSON *v, struct intentus_err *err)
{
    const cJSON *k, *mode;

    if (!cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG, "compliance: must be an object ({\"mode\": \"standard\"})");
        return -1;
    }
    cJSON_ArrayForEach(k, v)
    {
        if (strcmp(k->string, "mode") != 0) {
            err_set(err, IERR_CONFIG, "compliance.%s: unknown key (known: mode)", k->string);
            return -1;
        }
    }
    mode = cJSON_GetObjectItemCaseSensitive(v, "mode");
    if (mode != NULL && (!cJSON_IsString(mode) ||
                         compliance_mode_parse(mode->valuestring, &cfg->compliance) != 0)) {
        err_set(err, IERR_CONFIG,
                "compliance.mode: must be \"development\", \"standard\" or \"regulated\"");
        return -1;
    }
    return 0;
}

int
config_check_compliance(const struct config *cfg, struct intentus_err *err)
{
    struct compliance_facts f = {
        .require_determinism = cfg->require_determinism,
        .wal_enabled = cfg->wal.enabled,
        .wal_signing_key = cfg->wal.signing_key != NULL,
        .pii_policy = cfg->redaction_configured,
        .encryption = cfg->encryption.enabled,
    };

    if (compliance_check(cfg->compliance, &f, err) != 0) {
        err_prefix(err, "%s", cfg->source);
        return -1;
    }
    return 0;
}

/* A file with no "agents" key keeps the demo agents, as every other key
 * keeps its default ("agents": [] means none); the file's "defaults"
 * apply to them. The demo text itself always has the key. */
static int
parse_demo_agents(struct config *cfg, struct intentus_err *err)
{
    cJSON *demo = json_parse_unique(demo_text, sizeof(demo_text) - 1, 64, err);
    int rc;

    if (demo == NULL)
        return -1;
    rc = parse_agents(cfg, cJSON_GetObjectItemCaseSensitive(demo, "agents"), err);
    cJSON_Delete(demo);
    if (rc == 0)
        cfg->has_demo_agents = true;
    return rc;
}

/* One of values, optionally led by "-" (reversed). */
static bool
sort_value(const char *v, const char *const *values)
{
    return listed(v[0] == '-' ? v + 1 : v, values);
}

/* "console": {"theme": NAME, "sort": COL, "agents_sort": COL, "mouse": bool} */
static int
parse_console(struct config *cfg, const cJSON *c, struct intentus_err *err)
{
    static const char *const keys[] = { "theme", "sort", "agents_sort", "mouse", NULL };
    static const char *const rec_cols[] = { "time", "intent", "agent", "status", "duration", NULL };
    static const char *const agent_cols[] = { "agent",   "calls", "failures", "rate",
                                              "circuit", "p95",   NULL };
    const cJSON *k;

    if (!cJSON_IsObject(c)) {
        err_set(err, IERR_CONFIG, "console: must be an object");
        return -1;
    }
    cJSON_ArrayForEach(k, c)
    {
        if (!listed(k->string, keys)) {
            err_set(err, IERR_CONFIG,
                    "console.%s: unknown key (known: theme, sort, agents_sort, mouse)", k->string);
            return -1;
        }
        if (strcmp(k->string, "mouse") == 0) {
            if (!cJSON_IsBool(k)) {
                err_set(err, IERR_CONFIG, "console.mouse: must be true or false");
                return -1;
            }
            cfg->console.mouse_set = true;
            cfg->console.mouse = cJSON_IsTrue(k);
            continue;
        }
        if (!cJSON_IsString(k) || k->valuestring[0] == '\0' || strlen(k->valuestring) >= 32) {
            err_set(err, IERR_CONFIG, "console.%s: must be a non-empty string under 32 characters",
                    k->string);
            return -1;
        }
        if (strcmp(k->string, "theme") == 0) {
            snprintf(cfg->console.theme, sizeof(cfg->console.theme), "%s", k->valuestring);
        } else if (strcmp(k->string, "sort") == 0) {
            if (!sort_value(k->valuestring, rec_cols)) {
                err_set(err, IERR_CONFIG,
                        "console.sort: '%s' is not a records column (time, intent, agent, "
                        "status, duration; '-' first reverses)",
                        k->valuestring);
                return -1;
            }
            snprintf(cfg->console.sort, sizeof(cfg->console.sort), "%s", k->valuestring);
        } else {
            if (!sort_value(k->valuestring, agent_cols)) {
                err_set(err, IERR_CONFIG,
                        "console.agents_sort: '%s' is not an agents column (agent, calls, "
                        "failures, rate, circuit, p95; '-' first reverses)",
                        k->valuestring);
                return -1;
            }
            snprintf(cfg->console.agents_sort, sizeof(cfg->console.agents_sort), "%s",
                     k->valuestring);
        }
    }
    return 0;
}

static int
parse_tree(struct config *cfg, const cJSON *root, struct intentus_err *err)
{
    const cJSON *k, *v;

    if (!cJSON_IsObject(root)) {
        err_set(err, IERR_CONFIG, "(top level): must be a JSON object");
        return -1;
    }
    cJSON_ArrayForEach(k, root)
    {
        if (listed(k->string, later_keys)) {
            err_set(err, IERR_CONFIG,
                    "%s: not supported by this version of intentus yet; remove it", k->string);
            return -1;
        }
        if (!listed(k->string, top_keys)) {
            err_set(err, IERR_CONFIG,
                    "%s: unknown key (known: require_determinism, recording, defaults, agents, "
                    "policy, redaction, retention, wal, serve, compliance, console)",
                    k->string);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "require_determinism");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG, "require_determinism: must be true or false");
        return -1;
    }
    cfg->require_determinism = v == NULL || cJSON_IsTrue(v);
    /* "serve" belongs to `intentus serve` (tui/serve_conf.c), which checks
     * its contents; the library only needs it to be an object. */
    v = cJSON_GetObjectItemCaseSensitive(root, "serve");
    if (v != NULL && !cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG, "serve: must be an object");
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "console");
    if (v != NULL && parse_console(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "recording");
    if (v != NULL && parse_recording(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "defaults");
    if (v != NULL && parse_defaults(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "agents");
    if (v != NULL && parse_agents(cfg, v, err) != 0)
        return -1;
    if (v == NULL && parse_demo_agents(cfg, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "policy");
    if (v != NULL && parse_policy(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "retention");
    if (v != NULL && parse_retention(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "wal");
    if (v != NULL && parse_wal(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "compliance");
    if (v != NULL && parse_compliance(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "redaction");
    cfg->redactor = redactor_new(v, "redaction", err);
    if (cfg->redactor == NULL)
        return -1;
    cfg->redaction_configured = v != NULL && redactor_enabled(cfg->redactor);
    return 0;
}

struct config *
config_parse(const char *text, size_t len, const char *source, struct intentus_err *err)
{
    struct config *cfg = calloc(1, sizeof(*cfg));
    const char *env_dir = getenv("INTENTUSNET_RECORDS_PATH");
    cJSON *root = NULL;

    if (cfg == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    cfg->source = strdup(source);
    cfg->agent_defaults.timeout_ms = AGENT_DEFAULT_TIMEOUT_MS;
    cfg->retention.max_age_ms = cfg->retention.max_count = cfg->retention.max_bytes = -1;
    cfg->agent_defaults.breaker = (struct breaker_policy)BREAKER_POLICY_DEFAULT;
    cfg->recording = (struct recording_config){ .mode = WRITER_SYNC,
                                                .queue = 1024,
                                                .on_full = WRITER_BLOCK,
                                                .sample_rate = 1.0,
                                                .sample_errors = true,
                                                .max_payload_bytes = CONFIG_DEFAULT_MAX_PAYLOAD,
                                                .max_depth = CONFIG_DEFAULT_MAX_DEPTH };
    cfg->records_dir =
        strdup(env_dir != NULL && env_dir[0] != '\0' ? env_dir : CONFIG_DEFAULT_RECORDS_DIR);
    cfg->registry = registry_new();
    cfg->wal.dir = strdup(WAL_DEFAULT_DIR);
    cfg->compliance = COMPLIANCE_DEFAULT;
    if (cfg->source == NULL || cfg->records_dir == NULL || cfg->registry == NULL ||
        cfg->wal.dir == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    root = json_parse_unique(text, len, 64, err);
    if (root == NULL)
        goto fail;
    if (parse_tree(cfg, root, err) != 0)
        goto fail;
    if (cfg->records_dir == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    cJSON_Delete(root);
    return cfg;
fail:
    err_prefix(err, "%s", source);
    if (err != NULL && err->code != IERR_NOMEM)
        err->code = IERR_CONFIG;
    cJSON_Delete(root);
    config_free(cfg);
    return NULL;
}

struct config *
config_demo(struct intentus_err *err)
{
    struct config *cfg =
        config_parse(demo_text, sizeof(demo_text) - 1, "built-in demo configuration", err);

    if (cfg != NULL)
        cfg->is_demo = true;
    return cfg;
}

static struct config *
load_path(const char *path, struct intentus_err *err)
{
    size_t len;
    char *text = safe_file_read(path, (size_t)16 * 1024 * 1024, &len, err);
    struct config *cfg;

    if (text == NULL) {
        if (err != NULL && err->code != IERR_NOMEM)
            err->code = IERR_CONFIG;
        return NULL;
    }
    cfg = config_parse(text, len, path, err);
    free(text);
    return cfg;
}

struct config *
config_load(const char *explicit_path, struct intentus_err *err)
{
    const char *env = getenv("INTENTUS_CONFIG");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    char path[4096];
    struct stat st;

    if (explicit_path != NULL)
        return load_path(explicit_path, err);
    if (env != NULL && env[0] != '\0')
        return load_path(env, err);
    if (stat("intentus.json", &st) == 0)
        return load_path("intentus.json", err);
    if (xdg != NULL && xdg[0] != '\0')
        snprintf(path, sizeof(path), "%s/intentus/config.json", xdg);
    else if (home != NULL && home[0] != '\0')
        snprintf(path, sizeof(path), "%s/.config/intentus/config.json", home);
    else
        path[0] = '\0';
    if (path[0] != '\0' && stat(path, &st) == 0)
        return load_path(path, err);
    return config_demo(err);
}
