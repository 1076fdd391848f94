#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/json.h"
#include "core/units.h"

/* Written in the user's own config syntax and fed through the same parser,
 * so the demo can never drift from what a file may say (tmux's default key
 * bindings are done the same way). */
static const char demo_text[] =
    "{\n"
    "  \"require_determinism\": true,\n"
    "  \"agents\": [\n"
    "    { \"name\": \"echo-a\", \"kind\": \"builtin\", \"builtin\": \"echo\",\n"
    "      \"intents\": [\"demo.echo\", \"demo.upper@1.0\"], \"nodePriority\": 10 },\n"
    "    { \"name\": \"flaky-b\", \"kind\": \"builtin\", \"builtin\": \"flaky\",\n"
    "      \"fail_rate\": 0.3, \"seed\": 42, \"intents\": [\"demo.echo\"], \"nodePriority\": 20 },\n"
    "    { \"name\": \"upper-u\", \"kind\": \"builtin\", \"builtin\": \"upper\",\n"
    "      \"intents\": [\"demo.upper\"], \"nodePriority\": 5 },\n"
    "    { \"name\": \"slow-c\", \"kind\": \"builtin\", \"builtin\": \"slow\", \"delay_ms\": 200,\n"
    "      \"intents\": [\"demo.slow\"] },\n"
    "    { \"name\": \"broken-d\", \"kind\": \"builtin\", \"builtin\": \"fail\",\n"
    "      \"error_code\": \"AGENT_ERROR\", \"retryable\": false, \"intents\": [\"demo.fail\"] }\n"
    "  ]\n"
    "}\n";

static const char *const top_keys[] = { "require_determinism", "recording", "defaults", "agents",
                                        NULL };
static const char *const recording_keys[] = { "dir", "fsync", NULL };
/* Sections DESIGN.md describes that this build does not implement yet: named
 * specifically so nobody believes a policy or redaction is active when it is
 * not. */
static const char *const later_keys[] = { "policy", "redaction", "retention", "wal",
                                          "console", NULL };

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
    free(cfg->source);
    free(cfg->records_dir);
    free(cfg);
}

static int
parse_recording(struct config *cfg, const cJSON *rec, struct intentus_err *err)
{
    const cJSON *k, *v;

    if (!cJSON_IsObject(rec)) {
        err_set(err, IERR_CONFIG, "recording: must be an object");
        return -1;
    }
    cJSON_ArrayForEach(k, rec)
    {
        if (!listed(k->string, recording_keys)) {
            err_set(err, IERR_CONFIG, "recording.%s: unknown key (known: dir, fsync)", k->string);
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
    v = cJSON_GetObjectItemCaseSensitive(rec, "fsync");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG, "recording.fsync: must be true or false");
        return -1;
    }
    cfg->fsync = cJSON_IsTrue(v);
    return 0;
}

/* A duration as milliseconds or text ("30s"). */
static int
duration(const cJSON *v, const char *path, int64_t *out, struct intentus_err *err)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15) {
        *out = (int64_t)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v) && units_parse_duration_ms(v->valuestring, out, NULL) == 0)
        return 0;
    err_set(err, IERR_CONFIG, "%s: must be a duration such as 250ms, 30s, 5m or milliseconds",
            path);
    return -1;
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
        if (strcmp(k->string, "timeout") && strcmp(k->string, "deadline") &&
            strcmp(k->string, "breaker")) {
            err_set(err, IERR_CONFIG, "defaults.%s: unknown key (known: timeout, deadline, breaker)",
                    k->string);
            return -1;
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(defs, "timeout");
    if (v != NULL && duration(v, "defaults.timeout", &cfg->agent_defaults.timeout_ms, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(defs, "deadline");
    if (v != NULL && duration(v, "defaults.deadline", &cfg->deadline_ms, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(defs, "breaker");
    if (v != NULL &&
        agent_parse_breaker(v, "defaults.breaker", &cfg->agent_defaults.breaker, err) != 0)
        return -1;
    return 0;
}

static int
parse_agents(struct config *cfg, const cJSON *agents, struct intentus_err *err)
{
    const cJSON *entry;
    char path[32];
    int i = 0;

    if (!cJSON_IsArray(agents)) {
        err_set(err, IERR_CONFIG, "agents: must be an array of agent objects");
        return -1;
    }
    cJSON_ArrayForEach(entry, agents)
    {
        struct agent *a;
        snprintf(path, sizeof(path), "agents[%d]", i++);
        a = agent_from_config(entry, path, &cfg->agent_defaults, err);
        if (a == NULL)
            return -1;
        if (registry_add(cfg->registry, a, err) != 0) {
            err_prefix(err, "%s", path);
            agent_free(a);
            return -1;
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
            err_set(err, IERR_CONFIG, "%s: not supported by this version of intentus yet; remove it",
                    k->string);
            return -1;
        }
        if (!listed(k->string, top_keys)) {
            err_set(err, IERR_CONFIG,
                    "%s: unknown key (known: require_determinism, recording, defaults, agents)",
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
    v = cJSON_GetObjectItemCaseSensitive(root, "recording");
    if (v != NULL && parse_recording(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "defaults");
    if (v != NULL && parse_defaults(cfg, v, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(root, "agents");
    if (v != NULL && parse_agents(cfg, v, err) != 0)
        return -1;
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
    cfg->agent_defaults.breaker = (struct breaker_policy)BREAKER_POLICY_DEFAULT;
    cfg->records_dir =
        strdup(env_dir != NULL && env_dir[0] != '\0' ? env_dir : CONFIG_DEFAULT_RECORDS_DIR);
    cfg->registry = registry_new();
    if (cfg->source == NULL || cfg->records_dir == NULL || cfg->registry == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    root = json_parse(text, len, 64, err);
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

static char *
read_file(const char *path, size_t *len, struct intentus_err *err)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    char *data;
    size_t n;

    if (f == NULL) {
        err_set(err, errno == ENOENT ? IERR_NOT_FOUND : IERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 16 * 1024 * 1024) {
        err_set(err, IERR_CONFIG, "%s: not a regular file of at most 16 MiB", path);
        fclose(f);
        return NULL;
    }
    data = malloc((size_t)st.st_size + 1);
    if (data == NULL) {
        fclose(f);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    n = fread(data, 1, (size_t)st.st_size, f);
    fclose(f);
    data[n] = '\0';
    *len = n;
    return data;
}

static struct config *
load_path(const char *path, struct intentus_err *err)
{
    size_t len;
    char *text = read_file(path, &len, err);
    struct config *cfg;

    if (text == NULL) {
        if (err != NULL && err->code == IERR_NOT_FOUND)
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
