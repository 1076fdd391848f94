/* The agent registry: unique names, at least one capability each, and the
 * reference's deterministic candidate order (remote, nodePriority, name). */
#ifndef INTENTUS_CORE_REGISTRY_H
#define INTENTUS_CORE_REGISTRY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/agent.h"
#include "core/err.h"

struct registry;

struct registry *registry_new(void);
/* Frees the registry and every agent in it. */
void registry_free(struct registry *r);
/* Takes ownership of a on success; on error (duplicate name, no
 * capabilities) a is left to the caller. Messages are the reference's. */
int registry_add(struct registry *r, struct agent *a, struct intentus_err *err);
/* registry_add of agents[0..n) all or nothing, in O(n log n) (one sort,
 * one merge) where n registry_add calls may cost O(n^2) moves. Takes
 * ownership of every agent on success; on error takes none, and *bad (when
 * not NULL) is the index of the agent refused (a name already registered,
 * or earlier in agents[]; no capabilities). */
int registry_add_all(struct registry *r, struct agent **agents, size_t n, size_t *bad,
                     struct intentus_err *err);
size_t registry_count(const struct registry *r);
/* Agents in routing order (borrowed, valid until the registry changes). */
struct agent *registry_at(const struct registry *r, size_t i);
struct agent *registry_find(const struct registry *r, const char *name);
/* Capable agents for name@version in deterministic order into out[] (which
 * must hold registry_count() entries). Returns how many. */
size_t registry_candidates(const struct registry *r, const char *intent, const char *version,
                           struct agent **out);
/* Ordering used everywhere: (remote, nodePriority, name) ascending. */
int registry_compare(const struct agent *a, const struct agent *b);
/* §2.7 config_hash over this registry and the determinism flag. */
int registry_config_hash(const struct registry *r, bool require_determinism, char hex[65],
                         struct intentus_err *err);

#endif
