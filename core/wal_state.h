/* The execution state machine of the WAL (reference §6.6):
 *
 *   CREATED → STARTED → IN_PROGRESS → COMPLETED | FAILED | ABORTED
 *   FAILED → RECOVERING | ABORTED,   RECOVERING → IN_PROGRESS | ABORTED
 *
 * COMPLETED and ABORTED are terminal; FAILED is not (it may be recovered). */
#ifndef INTENTUS_CORE_WAL_STATE_H
#define INTENTUS_CORE_WAL_STATE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "core/err.h"

#define WAL_STATES(X)                                                                              \
    X(WAL_STATE_CREATED, "created")                                                                \
    X(WAL_STATE_STARTED, "started")                                                                \
    X(WAL_STATE_IN_PROGRESS, "in_progress")                                                        \
    X(WAL_STATE_COMPLETED, "completed")                                                            \
    X(WAL_STATE_FAILED, "failed")                                                                  \
    X(WAL_STATE_ABORTED, "aborted")                                                                \
    X(WAL_STATE_RECOVERING, "recovering")                                                          \
    X(WAL_STATE_UNKNOWN, "unknown")

enum wal_state {
#define X(sym, text) sym,
    WAL_STATES(X)
#undef X
};

const char *wal_state_name(enum wal_state s);
/* -1 for a name that is not a state. */
int wal_state_parse(const char *name, enum wal_state *out);
bool wal_state_is_terminal(enum wal_state s);
bool wal_state_can(enum wal_state from, enum wal_state to);
/* Move *s to `to`, or refuse with "Illegal state transition: <a> → <b>"
 * (IERR_INVALID) and leave *s unchanged. */
int wal_state_transition(enum wal_state *s, enum wal_state to, struct intentus_err *err);

/* The state an entry leads to from cur, for reconstruction (§6.6, last one
 * wins): execution.created → CREATED, execution.started → STARTED,
 * execution.in_progress and (intentus) the first step or fallback entry
 * after STARTED → IN_PROGRESS, execution.state_transition → its to_state,
 * execution.completed/failed/aborted → those, recovery.started → RECOVERING
 * from FAILED (a crashed IN_PROGRESS execution stays IN_PROGRESS),
 * recovery.completed → IN_PROGRESS. Other entries leave cur. */
enum wal_state wal_state_after(enum wal_state cur, const char *entry_type, const cJSON *payload);
/* Fold wal_state_after over an array of entries, from UNKNOWN. */
enum wal_state wal_state_reconstruct(const cJSON *entries);

/* Check the move an entry makes: the legal path from cur to what the entry
 * leads to. A terminal execution.completed/failed/aborted straight after
 * STARTED passes through IN_PROGRESS (the router starts work right after
 * its commit point). 0 and *next, or -1 with the illegal transition. */
int wal_state_check_entry(enum wal_state cur, const char *entry_type, const cJSON *payload,
                          enum wal_state *next, struct intentus_err *err);

#endif
