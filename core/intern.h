/* Strings kept for the life of the process, one copy of each.
 *
 * A route appends the name of every agent it tries to the envelope's
 * routingMetadata.decisionPath. Copying the name cost two allocations per
 * attempt (the node and the string); linked, a FALLBACK route over three
 * agents takes 1.05 us in cache where it took 1.20-1.37. Linking the
 * agent's own name instead is unsafe: the caller keeps the envelope after
 * the route, and a hot reload frees the agent it names. An interned name
 * outlives both, so decisionPath links it (cJSON_CreateStringReference)
 * and each attempt allocates one node.
 *
 * Nothing interned is ever freed, so the table is bounded: strings up to
 * INTERN_MAX_LEN bytes, INTERN_MAX_BYTES in all (agent names of configs
 * reloaded for the life of a server are far fewer). Past either bound
 * intern_string answers NULL and the caller copies, as before. Interning
 * takes a lock: it is for set-up (an agent being made), not the hot path.
 * Thread-safe. */
#ifndef INTENTUS_CORE_INTERN_H
#define INTENTUS_CORE_INTERN_H

#include <stddef.h>

#define INTERN_MAX_LEN 1024
#define INTERN_MAX_BYTES ((size_t)1 << 20)

/* The process's one copy of s (the same pointer for equal strings, valid
 * until exit). NULL for NULL, for s longer than INTERN_MAX_LEN, once the
 * table holds INTERN_MAX_BYTES, and when out of memory. */
const char *intern_string(const char *s);

/* Strings interned and the bytes they take (NUL included), for tests and
 * diagnostics. */
void intern_stats(size_t *strings, size_t *bytes_out);

#endif
