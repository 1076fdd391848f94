/* The runtime: one configuration, the router built from it, the record
 * writer, the worker pool and the rate limiter, behind one small API that
 * the console and `intentus route` use (and embedders, via core/intentus.h).
 *
 * Hot reload: runtime_reload re-reads the same config source and validates
 * it completely before anything changes; on any error the running
 * configuration stays and the error is returned. Configurations are
 * refcounted generations: an execution finishes on the generation it started
 * with, new ones use the new one. Breakers of agents whose name and breaker
 * settings did not change carry over, so circuits do not reset on reload.
 * The writer (recording.dir, mode, fsync, queue, on_full) is fixed when the
 * runtime opens; everything else (agents, policy, redaction, sampling,
 * limits, breakers, deadlines) follows a reload. */
#ifndef INTENTUS_CORE_RUNTIME_H
#define INTENTUS_CORE_RUNTIME_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"
#include "core/executor.h"
#include "core/router.h"

struct runtime;

struct store_engine;

struct runtime_opts {
    const char *records_dir; /* overrides the config's; NULL: the config's */
    int workers;             /* worker threads; 0: 4 */
    bool read_only;          /* no worker pool, nothing recorded */
    bool no_record;          /* workers as usual, nothing recorded */
    /* Told when an execution's WAL commit point is durable and when its
     * terminal entry is written (only with a WAL configured); called on
     * the routing thread (a worker). May be NULL. */
    router_exec_fn on_started, on_finished;
    void *exec_ctx;
    /* Where records go (core/store.h): a store URL overriding the config's
     * recording.store (NULL: the config's, unless records_dir is given;
     * neither: files in the records directory), and the engines it may
     * name (NULL-terminated, borrowed; watch/stores.h's stores_builtin). */
    const char *store_url;
    const struct store_engine *const *store_engines;
};

struct runtime_stats {
    uint64_t routed, recorded, sampled_out, dropped, record_errors;
};

/* config_path NULL: the config search order (config_load). opts may be NULL. */
struct runtime *runtime_open(const char *config_path, const struct runtime_opts *opts,
                             struct intentus_err *err);
/* Cancels queued work (recorded as WORKFLOW_ABORTED), waits for work in
 * flight, drains the writer. Accepts NULL. */
void runtime_close(struct runtime *rt);
/* Route synchronously on the calling thread; env is borrowed. With an async
 * writer the record may still be queued when this returns (out->record_fate):
 * route_result_settle waits for its fate. */
int runtime_route(struct runtime *rt, cJSON *env, struct route_result *out);
/* True when routing env now can only reach instant agents
 * (agent_is_instant: every agent capable of its intent, its target and its
 * fallbacks) and no WAL is configured: the execution may then run on the
 * caller's thread (runtime_route) without holding it up. A reload between
 * this and the route may change the answer; the route stays correct. */
bool runtime_route_is_instant(struct runtime *rt, const cJSON *env);
/* Queue env for a worker (ownership taken on success only). */
int runtime_submit(struct runtime *rt, cJSON *env, uint64_t tag, struct intentus_err *err);
/* Readable when completions wait; -1 in read-only mode. */
int runtime_completion_fd(const struct runtime *rt);
size_t runtime_collect(struct runtime *rt, struct completion *out, size_t max);
/* Re-read the same config source; the old one is kept on error. */
int runtime_reload(struct runtime *rt, struct intentus_err *err);
/* The current generation's config: valid on the thread that calls reload
 * until its next reload. */
const struct config *runtime_config(const struct runtime *rt);
/* The current generation's config for another thread (a console job): it
 * stays valid, whatever reloads happen meanwhile, until
 * runtime_config_release(rt, ref). */
struct runtime_config_ref;
const struct config *runtime_config_acquire(struct runtime *rt, struct runtime_config_ref **ref);
void runtime_config_release(struct runtime *rt, struct runtime_config_ref *ref);
int runtime_reset_breaker(struct runtime *rt, const char *agent, struct intentus_err *err);
/* A disabled agent is skipped by every strategy, and the skip is recorded
 * (AGENT_DISABLED_SKIPPED {agent}). In memory only; survives reloads. */
int runtime_set_agent_enabled(struct runtime *rt, const char *agent, bool enabled,
                              struct intentus_err *err);
bool runtime_agent_enabled(struct runtime *rt, const char *agent);
void runtime_stats(const struct runtime *rt, struct runtime_stats *out);
/* Share rate-limit buckets and circuit-breaker states with other routers
 * through ss (core/shared_state.h; borrowed, must outlive rt; NULL: local
 * only): the limiter and every agent's breaker, and those of every later
 * generation (reload). Call before traffic starts. 0, or -1 (IERR_NOMEM). */
struct shared_state;
int runtime_set_shared(struct runtime *rt, const struct shared_state *ss, struct intentus_err *err);
const char *runtime_records_dir(const struct runtime *rt);
/* The URL of the store records go to when it is not the records directory
 * (recording.store or runtime_opts.store_url naming another engine); NULL
 * when records are files in runtime_records_dir. */
const char *runtime_store_url(const struct runtime *rt);
/* The write-ahead log (config "wal", fixed when the runtime opens, like the
 * writer); NULL when it is off or the runtime is read-only. */
struct wal *runtime_wal(const struct runtime *rt);
/* The record writer (recording.*, fixed when the runtime opens), for
 * recorders outside the router (the MCP gateway); NULL when nothing is
 * recorded (read-only, no_record). */
struct writer;
struct writer *runtime_writer(const struct runtime *rt);
/* The keyring records and WAL entries are sealed with (recording.encryption);
 * NULL when encryption is off. Owned by the runtime. */
struct crypt_keyring;
const struct crypt_keyring *runtime_keys(const struct runtime *rt);
/* Wait until every record handed to the writer so far is on disk. */
void runtime_flush(struct runtime *rt);

#endif
