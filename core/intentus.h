/* libintentus: the umbrella header for programs that embed the router.
 * intentus's own code includes the module headers it uses instead.
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
#include "core/uuid.h"

#endif
