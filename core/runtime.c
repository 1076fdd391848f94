#include "core/runtime.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypt.h"
#include "core/ratelimit.h"
#include "core/store.h"
#include "core/wal_sign.h"
#include "core/writer.h"

/* One loaded configuration and the router over it. refs counts the
 * runtime's own reference (while current) and executions in flight. */
struct generation {
    int refs;
    struct config *cfg;
    struct router *router;
    struct breaker **disowned; /* breakers a newer generation took over */
    size_t n_disowned;
};

struct runtime {
    pthread_mutex_t lock; /* gen and refcounts */
    struct generation *gen;
    char *config_path;
    char *records_dir;
    bool read_only, no_record;
    struct writer *writer;
    struct store *store;        /* recording.store / opts->store_url, when not file:; NULL: files */
    struct crypt_keyring *keys; /* recording.encryption; NULL when off */
    struct wal *wal;
    struct wal_signer *signer; /* wal.signing_key, loaded with the WAL; NULL: unsigned */
    router_exec_fn on_started, on_finished;
    void *exec_ctx;
    struct executor *exec;
    struct ratelimit *limiter;         /* shared by generations: buckets survive reloads */
    const struct shared_state *shared; /* runtime_set_shared; NULL: local only */
    struct router_counters counters;
    pthread_mutex_t dis_lock; /* the disabled set */
    char **disabled;
    size_t n_disabled;
};

/* The store records go to: opts->store_url, else recording.store. A
 * file: URL (or none) is today's writer on the directory (and the
 * directory runtime_records_dir reports, recording or not); another engine
 * is opened here, when recording, and handed to the writer. */
static int
open_store(struct runtime *rt, const struct config *cfg, const struct runtime_opts *opts,
           struct intentus_err *err)
{
    const char *url = opts != NULL && opts->store_url != NULL ? opts->store_url : cfg->store_url;
    const struct store_engine *const *engines = opts != NULL ? opts->store_engines : NULL;
    const char *rest = NULL;
    const struct store_engine *e;

    /* An explicit records directory wins over the config's store. */
    if (url == NULL || (opts != NULL && opts->store_url == NULL && opts->records_dir != NULL))
        return 0;
    e = store_engine_find(engines, url, &rest, err);
    if (e == NULL) {
        if (engines == NULL)
            err_set(err, IERR_CONFIG, "store %s: this program opens no store engines", url);
        return -1;
    }
    if (strcmp(e->scheme, "file") == 0) {
        char *dir = strdup(strncmp(rest, "//", 2) == 0 ? rest + 2 : rest);
        if (dir == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        free(rt->records_dir);
        rt->records_dir = dir;
        return 0;
    }
    if (rt->no_record)
        return 0; /* nothing is written: the engine is not opened */
    /* recording.encryption: the engine seals (postgres) or refuses (sqlite). */
    rt->store = store_open_url(
        engines, url,
        &(struct store_opts){
            .create = true, .fsync = cfg->fsync, .encrypt = rt->keys != NULL, .keys = rt->keys },
        err);
    return rt->store != NULL ? 0 : -1;
}

static void
gen_free(struct generation *g)
{
    if (g == NULL)
        return;
    /* Breakers carried over belong to the newer generation now. */
    for (size_t i = 0; g->cfg != NULL && i < registry_count(g->cfg->registry); i++) {
        struct agent *a = registry_at(g->cfg->registry, i);
        for (size_t j = 0; j < g->n_disowned; j++) {
            if (a->breaker == g->disowned[j])
                a->breaker = NULL;
        }
    }
    router_free(g->router);
    config_free(g->cfg);
    free(g->disowned);
    free(g);
}

static int rt_route(void *ctx, cJSON *env, struct agent_cache *cache, struct route_result *out);
static int rt_refuse(void *ctx, cJSON *env, enum error_code code, const char *message,
                     struct route_result *out);

static bool
enabled_cb(void *ctx, const char *agent)
{
    return runtime_agent_enabled(ctx, agent);
}

/* Takes cfg (freed on failure). */
/* Every breaker of g shares its circuit through ss under its agent's name. */
static int
share_breakers(const struct shared_state *ss, struct generation *g)
{
    for (size_t i = 0; i < registry_count(g->cfg->registry); i++) {
        struct agent *a = registry_at(g->cfg->registry, i);
        if (a->breaker != NULL && breaker_set_shared(a->breaker, ss, a->name) != 0)
            return -1;
    }
    return 0;
}

static struct generation *
gen_new(struct runtime *rt, struct config *cfg, struct intentus_err *err)
{
    struct generation *g = calloc(1, sizeof(*g));
    const struct recording_config *rc = &cfg->recording;

    if (g == NULL) {
        config_free(cfg);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    g->cfg = cfg;
    g->refs = 1;
    g->router = router_new(cfg->registry,
                           &(struct router_opts){ .require_determinism = cfg->require_determinism,
                                                  .writer = rt->writer,
                                                  .deadline_ms = cfg->deadline_ms,
                                                  .policy = cfg->policy,
                                                  .limiter = rt->limiter,
                                                  .redactor = cfg->redactor,
                                                  .sample = rc->sample_rate < 1.0,
                                                  .sample_rate = rc->sample_rate,
                                                  .sample_errors = rc->sample_errors,
                                                  .max_payload_bytes = rc->max_payload_bytes,
                                                  .max_depth = rc->max_depth,
                                                  .counters = &rt->counters,
                                                  .agent_enabled = enabled_cb,
                                                  .agent_enabled_ctx = rt,
                                                  .wal = rt->wal,
                                                  .on_started = rt->on_started,
                                                  .on_finished = rt->on_finished,
                                                  .exec_ctx = rt->exec_ctx,
                                                  .subintent_max_depth = cfg->subintent_depth },
                           err);
    if (g->router == NULL) {
        gen_free(g);
        return NULL;
    }
    if (share_breakers(rt->shared, g) != 0) {
        gen_free(g);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    return g;
}

static struct generation *
acquire(struct runtime *rt)
{
    struct generation *g;

    pthread_mutex_lock(&rt->lock);
    g = rt->gen;
    g->refs++;
    pthread_mutex_unlock(&rt->lock);
    return g;
}

static void
release(struct runtime *rt, struct generation *g)
{
    bool last;

    pthread_mutex_lock(&rt->lock);
    last = --g->refs == 0;
    pthread_mutex_unlock(&rt->lock);
    if (last)
        gen_free(g);
}

static int
rt_route(void *ctx, cJSON *env, struct agent_cache *cache, struct route_result *out)
{
    struct runtime *rt = ctx;
    struct generation *g = acquire(rt);
    int rc = router_route_with(g->router, env, cache, out);

    release(rt, g);
    return rc;
}

static int
rt_refuse(void *ctx, cJSON *env, enum error_code code, const char *message,
          struct route_result *out)
{
    struct runtime *rt = ctx;
    struct generation *g = acquire(rt);
    int rc = router_refuse(g->router, env, code, message, out);

    release(rt, g);
    return rc;
}

struct runtime *
runtime_open(const char *config_path, const struct runtime_opts *opts, struct intentus_err *err)
{
    struct runtime *rt = calloc(1, sizeof(*rt));
    struct config *cfg;

    if (rt == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    pthread_mutex_init(&rt->lock, NULL);
    pthread_mutex_init(&rt->dis_lock, NULL);
    rt->read_only = opts != NULL && opts->read_only;
    rt->no_record = rt->read_only || (opts != NULL && opts->no_record);
    if (config_path != NULL && (rt->config_path = strdup(config_path)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    cfg = config_load(config_path, err);
    if (cfg == NULL)
        goto fail;
    /* Before anything is created: a refused start leaves nothing behind. */
    if (config_check_compliance(cfg, err) != 0) {
        config_free(cfg);
        goto fail;
    }
    rt->records_dir =
        strdup(opts != NULL && opts->records_dir != NULL ? opts->records_dir : cfg->records_dir);
    rt->limiter = ratelimit_new(NULL);
    if (rt->records_dir == NULL || rt->limiter == NULL) {
        config_free(cfg);
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    if (cfg->encryption.enabled && !rt->read_only) {
        rt->keys = crypt_keyring_load(cfg->encryption.keyring, err);
        if (rt->keys != NULL && crypt_keyring_write_id(rt->keys) == NULL) {
            err_set(err, IERR_CONFIG, "keyring %s holds no key (intentus keys new --keyring %s)",
                    cfg->encryption.keyring, cfg->encryption.keyring);
            crypt_keyring_free(rt->keys);
            rt->keys = NULL;
        }
        if (rt->keys == NULL) {
            err_prefix(err, "recording.encryption");
            if (err != NULL)
                err->code = IERR_CONFIG;
            config_free(cfg);
            goto fail;
        }
    }
    if (open_store(rt, cfg, opts, err) != 0) {
        config_free(cfg);
        goto fail;
    }
    if (!rt->no_record) {
        rt->writer = writer_open(rt->records_dir,
                                 &(struct writer_opts){ .mode = cfg->recording.mode,
                                                        .fsync = cfg->fsync,
                                                        .capacity = cfg->recording.queue,
                                                        .on_full = cfg->recording.on_full,
                                                        .keys = rt->keys,
                                                        .engine = rt->store },
                                 err);
        if (rt->writer == NULL) {
            config_free(cfg);
            goto fail;
        }
    }
    if (opts != NULL) {
        rt->on_started = opts->on_started;
        rt->on_finished = opts->on_finished;
        rt->exec_ctx = opts->exec_ctx;
    }
    if (cfg->wal.enabled && !rt->read_only && cfg->wal.signing_key != NULL) {
        rt->signer = wal_signer_load(cfg->wal.signing_key, err);
        if (rt->signer == NULL) {
            err_prefix(err, "%s: wal.signing_key", cfg->source);
            if (err != NULL && err->code != IERR_NOMEM)
                err->code = IERR_CONFIG;
            config_free(cfg);
            goto fail;
        }
    }
    if (cfg->wal.enabled && !rt->read_only) {
        rt->wal = wal_open(cfg->wal.dir,
                           &(struct wal_opts){ .durability = cfg->wal.durability,
                                               .create = true,
                                               .signer = rt->signer,
                                               .keys = rt->keys },
                           err);
        if (rt->wal == NULL) {
            config_free(cfg);
            goto fail;
        }
    }
    rt->gen = gen_new(rt, cfg, err);
    if (rt->gen == NULL)
        goto fail;
    if (!rt->read_only) {
        rt->exec =
            executor_new(NULL,
                         &(struct executor_opts){ .workers = opts != NULL ? opts->workers : 0,
                                                  .route = rt_route,
                                                  .refuse = rt_refuse,
                                                  .ctx = rt },
                         err);
        if (rt->exec == NULL)
            goto fail;
    }
    return rt;
fail:
    runtime_close(rt);
    return NULL;
}

void
runtime_close(struct runtime *rt)
{
    if (rt == NULL)
        return;
    /* Workers first (queued work is recorded as cancelled through the
     * writer), then the writer drains, then the configuration goes. */
    executor_free(rt->exec);
    writer_close(rt->writer);
    store_close(rt->store);
    if (rt->gen != NULL)
        release(rt, rt->gen);
    wal_close(rt->wal); /* after the last router that could write to it */
    wal_signer_free(rt->signer);
    crypt_keyring_free(rt->keys);
    ratelimit_free(rt->limiter);
    for (size_t i = 0; i < rt->n_disabled; i++)
        free(rt->disabled[i]);
    free(rt->disabled);
    pthread_mutex_destroy(&rt->dis_lock);
    pthread_mutex_destroy(&rt->lock);
    free(rt->config_path);
    free(rt->records_dir);
    free(rt);
}

int
runtime_route(struct runtime *rt, cJSON *env, struct route_result *out)
{
    return rt_route(rt, env, NULL, out);
}

static bool
named_instant(const struct registry *reg, const cJSON *name)
{
    const struct agent *a;

    if (!cJSON_IsString(name))
        return name == NULL || cJSON_IsNull(name);
    a = registry_find(reg, name->valuestring);
    return a == NULL || agent_is_instant(a); /* an unknown name fails at once */
}

bool
runtime_route_is_instant(struct runtime *rt, const cJSON *env)
{
    const char *intent = envelope_intent_name(env), *version = envelope_intent_version(env);
    const cJSON *routing = cJSON_GetObjectItemCaseSensitive(env, "routing");
    struct generation *g;
    const struct registry *reg;
    bool ok = rt->wal == NULL && intent != NULL;

    if (!ok)
        return false;
    if (version == NULL)
        version = "1.0";
    g = acquire(rt);
    reg = g->cfg->registry;
    for (size_t i = 0; ok && i < registry_count(reg); i++) {
        const struct agent *a = registry_at(reg, i);
        if (agent_handles(a, intent, version) && !agent_is_instant(a))
            ok = false;
    }
    if (ok && cJSON_IsObject(routing)) {
        const cJSON *fb = cJSON_GetObjectItemCaseSensitive(routing, "fallbackAgents"), *it;
        ok = named_instant(reg, cJSON_GetObjectItemCaseSensitive(routing, "targetAgent"));
        if (cJSON_IsArray(fb))
            cJSON_ArrayForEach(it, fb) ok = ok && named_instant(reg, it);
    }
    release(rt, g);
    return ok;
}

int
runtime_submit(struct runtime *rt, cJSON *env, uint64_t tag, struct intentus_err *err)
{
    if (rt->exec == NULL) {
        err_set(err, IERR_INVALID, "the runtime is read-only: nothing can be submitted");
        return -1;
    }
    return executor_submit(rt->exec, env, tag, err);
}

int
runtime_completion_fd(const struct runtime *rt)
{
    return rt->exec != NULL ? executor_fd(rt->exec) : -1;
}

size_t
runtime_collect(struct runtime *rt, struct completion *out, size_t max)
{
    return rt->exec != NULL ? executor_collect(rt->exec, out, max) : 0;
}

static bool
same_policy(const struct breaker_policy *a, const struct breaker_policy *b)
{
    return a->enabled == b->enabled && a->failure_threshold == b->failure_threshold &&
           a->window == b->window && a->failure_rate == b->failure_rate &&
           a->cooldown_ms == b->cooldown_ms && a->half_open_probes == b->half_open_probes;
}

/* Give new agents the breakers of their unchanged predecessors. Runs
 * before the new generation is visible to any other thread. */
static int
carry_breakers(struct generation *old, struct generation *g)
{
    struct registry *reg = g->cfg->registry;

    old->disowned = calloc(registry_count(reg) + 1, sizeof(*old->disowned));
    if (old->disowned == NULL)
        return -1;
    for (size_t i = 0; i < registry_count(reg); i++) {
        struct agent *a = registry_at(reg, i);
        struct agent *o = registry_find(old->cfg->registry, a->name);
        struct breaker_policy pa, po;
        if (o == NULL || o->breaker == NULL || a->breaker == NULL ||
            !config_breaker_policy(g->cfg, a->name, &pa) ||
            !config_breaker_policy(old->cfg, o->name, &po) || !same_policy(&pa, &po))
            continue;
        breaker_free(a->breaker);
        a->breaker = o->breaker;
        old->disowned[old->n_disowned++] = o->breaker;
    }
    return 0;
}

/* A reloaded config meets its compliance mode, and what is fixed at open
 * (the WAL and its signing key) still does: a reload cannot make a
 * runtime that does not sign regulated. */
static int
reload_check_compliance(const struct runtime *rt, const struct config *cfg,
                        struct intentus_err *err)
{
    if (config_check_compliance(cfg, err) != 0)
        return -1;
    if (cfg->compliance == COMPLIANCE_REGULATED && !rt->read_only &&
        (rt->wal == NULL || rt->signer == NULL)) {
        err_set(err, IERR_CONFIG,
                "%s: compliance mode regulated needs a WAL signing its entries, and the WAL "
                "and wal.signing_key are fixed when intentus starts: restart it",
                cfg->source);
        return -1;
    }
    return 0;
}

int
runtime_reload(struct runtime *rt, struct intentus_err *err)
{
    struct config *cfg = config_load(rt->config_path, err);
    struct generation *g, *old;
    bool last;

    if (cfg == NULL)
        return -1; /* the running configuration stays */
    if (reload_check_compliance(rt, cfg, err) != 0) {
        config_free(cfg);
        return -1;
    }
    g = gen_new(rt, cfg, err);
    if (g == NULL)
        return -1;
    pthread_mutex_lock(&rt->lock);
    old = rt->gen;
    if (carry_breakers(old, g) != 0) {
        pthread_mutex_unlock(&rt->lock);
        gen_free(g);
        err_set(err, IERR_NOMEM, "reload: out of memory");
        return -1;
    }
    rt->gen = g;
    last = --old->refs == 0;
    pthread_mutex_unlock(&rt->lock);
    if (last)
        gen_free(old);
    return 0;
}

const struct config *
runtime_config(const struct runtime *rt)
{
    return rt->gen->cfg;
}

/* A reference is the generation itself, held by its refcount. */
const struct config *
runtime_config_acquire(struct runtime *rt, struct runtime_config_ref **ref)
{
    struct generation *g = acquire(rt);

    *ref = (struct runtime_config_ref *)g;
    return g->cfg;
}

void
runtime_config_release(struct runtime *rt, struct runtime_config_ref *ref)
{
    if (ref != NULL)
        release(rt, (struct generation *)ref);
}

int
runtime_reset_breaker(struct runtime *rt, const char *agent, struct intentus_err *err)
{
    struct generation *g = acquire(rt);
    struct agent *a = registry_find(g->cfg->registry, agent);
    struct breaker_change ch;
    int rc = -1;

    if (a == NULL)
        err_set(err, IERR_NOT_FOUND, "no agent named '%s'", agent);
    else if (a->breaker == NULL)
        err_set(err, IERR_INVALID, "agent '%s' has no circuit breaker", agent);
    else {
        breaker_reset(a->breaker, &ch);
        rc = 0;
    }
    release(rt, g);
    return rc;
}

bool
runtime_agent_enabled(struct runtime *rt, const char *agent)
{
    bool enabled = true;

    pthread_mutex_lock(&rt->dis_lock);
    for (size_t i = 0; i < rt->n_disabled && enabled; i++)
        enabled = strcmp(rt->disabled[i], agent) != 0;
    pthread_mutex_unlock(&rt->dis_lock);
    return enabled;
}

int
runtime_set_agent_enabled(struct runtime *rt, const char *agent, bool enabled,
                          struct intentus_err *err)
{
    struct generation *g = acquire(rt);
    bool known = registry_find(g->cfg->registry, agent) != NULL;
    int rc = 0;

    release(rt, g);
    if (!known) {
        err_set(err, IERR_NOT_FOUND, "no agent named '%s'", agent);
        return -1;
    }
    pthread_mutex_lock(&rt->dis_lock);
    for (size_t i = 0; i < rt->n_disabled; i++) {
        if (strcmp(rt->disabled[i], agent) == 0) {
            if (enabled) {
                free(rt->disabled[i]);
                rt->disabled[i] = rt->disabled[--rt->n_disabled];
            }
            goto out;
        }
    }
    if (!enabled) {
        char **d = realloc(rt->disabled, (rt->n_disabled + 1) * sizeof(*d));
        char *copy = strdup(agent);
        if (d != NULL)
            rt->disabled = d;
        if (d == NULL || copy == NULL) {
            free(copy);
            err_set(err, IERR_NOMEM, NULL);
            rc = -1;
            goto out;
        }
        rt->disabled[rt->n_disabled++] = copy;
    }
out:
    pthread_mutex_unlock(&rt->dis_lock);
    return rc;
}

void
runtime_stats(const struct runtime *rt, struct runtime_stats *out)
{
    struct router_counters *c = (struct router_counters *)&rt->counters;
    struct writer_stats ws = { 0 };

    out->routed = atomic_load(&c->routed);
    out->recorded = atomic_load(&c->recorded);
    out->sampled_out = atomic_load(&c->sampled_out);
    out->dropped = atomic_load(&c->dropped);
    out->record_errors = atomic_load(&c->record_errors);
    if (rt->writer != NULL && writer_mode(rt->writer) == WRITER_ASYNC) {
        /* Accepted is not yet written: report what reached the disk, and
         * add the writes that failed in the background. */
        writer_stats(rt->writer, &ws);
        out->recorded = ws.written;
        out->record_errors += ws.errors;
    }
}

struct wal *
runtime_wal(const struct runtime *rt)
{
    return rt->wal;
}

struct writer *
runtime_writer(const struct runtime *rt)
{
    return rt->writer;
}

const struct crypt_keyring *
runtime_keys(const struct runtime *rt)
{
    return rt->keys;
}

const char *
runtime_store_url(const struct runtime *rt)
{
    return rt->store != NULL ? store_url(rt->store) : NULL;
}

const char *
runtime_records_dir(const struct runtime *rt)
{
    return rt->records_dir;
}

void
runtime_flush(struct runtime *rt)
{
    writer_flush(rt->writer);
}

int
runtime_set_shared(struct runtime *rt, const struct shared_state *ss, struct intentus_err *err)
{
    int rc;

    pthread_mutex_lock(&rt->lock);
    rt->shared = ss;
    ratelimit_set_shared(rt->limiter, ss);
    rc = share_breakers(ss, rt->gen);
    pthread_mutex_unlock(&rt->lock);
    if (rc != 0)
        err_set(err, IERR_NOMEM, NULL);
    return rc;
}
