/* libintentus: the umbrella header for programs that embed the router.
 * intentus's own code includes the module headers it uses instead.
 *
 * The simplest embedding is the runtime (config, policies, redaction,
 * sampling, writer, worker pool and hot reload in one object):
 *
 *   struct intentus_err err = {0};
 *   struct runtime *rt = runtime_open(NULL, NULL, &err);   // config search order
 *   cJSON *env = envelope_new("demo.echo", cJSON_Parse("{\"text\":\"hi\"}"), NULL, &err);
 *   struct route_result res;
 *   intentus_route(rt, env, &res);  // or intentus_submit() + runtime_collect()
 *   route_result_free(&res);
 *   cJSON_Delete(env);
 *   runtime_close(rt);
 *
 * Or the parts by hand:
 *
 *   struct intentus_err err = {0};
 *   struct config *cfg = config_load(NULL, &err);          // or config_parse()
 *   struct rec_store *rs = rec_store_open(cfg->records_dir,
 *                              &(struct rec_store_opts){ .create = true }, &err);
 *   struct router *r = router_new(cfg->registry,
 *                              &(struct router_opts){ .require_determinism = true,
 *                                                     .store = rs }, &err);
 *   cJSON *env = envelope_new("demo.echo", cJSON_Parse("{\"text\":\"hi\"}"), NULL, &err);
 *   struct route_result res;
 *   router_route(r, env, &res);   // res.response, res.execution_id
 */
#ifndef INTENTUS_CORE_INTENTUS_H
#define INTENTUS_CORE_INTENTUS_H

#include "core/agent.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/registry.h"
#include "core/router.h"
#include "core/runtime.h"
#include "core/uuid.h"

/* The embedding names: route synchronously (env borrowed), or submit to the
 * worker pool (env owned on success) and collect on runtime_completion_fd. */
static inline int
intentus_route(struct runtime *rt, cJSON *env, struct route_result *out)
{
    return runtime_route(rt, env, out);
}

static inline int
intentus_submit(struct runtime *rt, cJSON *env, uint64_t tag, struct intentus_err *err)
{
    return runtime_submit(rt, env, tag, err);
}

#endif
