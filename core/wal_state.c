#include "core/wal_state.h"

#include <string.h>

#include "core/json.h"

static const char *const state_names[] = {
#define X(sym, text) text,
    WAL_STATES(X)
#undef X
};

const char *
wal_state_name(enum wal_state s)
{
    return (unsigned)s <= WAL_STATE_UNKNOWN ? state_names[s] : "unknown";
}

int
wal_state_parse(const char *name, enum wal_state *out)
{
    for (int i = 0; name != NULL && i < WAL_STATE_UNKNOWN; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum wal_state)i;
            return 0;
        }
    }
    return -1;
}

bool
wal_state_is_terminal(enum wal_state s)
{
    return s == WAL_STATE_COMPLETED || s == WAL_STATE_ABORTED;
}

bool
wal_state_can(enum wal_state from, enum wal_state to)
{
    switch (from) {
    case WAL_STATE_CREATED:
        return to == WAL_STATE_STARTED;
    case WAL_STATE_STARTED:
        return to == WAL_STATE_IN_PROGRESS;
    case WAL_STATE_IN_PROGRESS:
        return to == WAL_STATE_COMPLETED || to == WAL_STATE_FAILED || to == WAL_STATE_ABORTED;
    case WAL_STATE_FAILED:
        return to == WAL_STATE_RECOVERING || to == WAL_STATE_ABORTED;
    case WAL_STATE_RECOVERING:
        return to == WAL_STATE_IN_PROGRESS || to == WAL_STATE_ABORTED;
    case WAL_STATE_UNKNOWN:
        /* A new log: the first entry creates or starts the execution. */
        return to == WAL_STATE_CREATED || to == WAL_STATE_STARTED;
    default:
        return false;
    }
}

int
wal_state_transition(enum wal_state *s, enum wal_state to, struct intentus_err *err)
{
    if (!wal_state_can(*s, to)) {
        err_set(err, IERR_INVALID, "Illegal state transition: %s \u2192 %s", wal_state_name(*s),
                wal_state_name(to));
        return -1;
    }
    *s = to;
    return 0;
}

/* Entries that mean work is under way. */
static bool
is_work_entry(const char *type)
{
    return strncmp(type, "step.", 5) == 0 || strncmp(type, "fallback.", 9) == 0 ||
           strncmp(type, "contract.", 9) == 0 || strncmp(type, "agent.", 6) == 0;
}

enum wal_state
wal_state_after(enum wal_state cur, const char *type, const cJSON *payload)
{
    enum wal_state s;

    if (type == NULL)
        return cur;
    if (strcmp(type, "execution.created") == 0)
        return WAL_STATE_CREATED;
    if (strcmp(type, "execution.started") == 0)
        return WAL_STATE_STARTED;
    if (strcmp(type, "execution.in_progress") == 0)
        return WAL_STATE_IN_PROGRESS;
    if (strcmp(type, "execution.completed") == 0)
        return WAL_STATE_COMPLETED;
    if (strcmp(type, "execution.failed") == 0)
        return WAL_STATE_FAILED;
    if (strcmp(type, "execution.aborted") == 0)
        return WAL_STATE_ABORTED;
    if (strcmp(type, "execution.state_transition") == 0)
        return wal_state_parse(json_get_string(payload, "to_state"), &s) == 0 ? s : cur;
    if (strcmp(type, "recovery.started") == 0)
        return cur == WAL_STATE_FAILED ? WAL_STATE_RECOVERING : cur;
    if (strcmp(type, "recovery.completed") == 0)
        return WAL_STATE_IN_PROGRESS;
    if (cur == WAL_STATE_STARTED && is_work_entry(type))
        return WAL_STATE_IN_PROGRESS;
    return cur;
}

enum wal_state
wal_state_reconstruct(const cJSON *entries)
{
    enum wal_state s = WAL_STATE_UNKNOWN;
    const cJSON *e;

    cJSON_ArrayForEach(e, entries)
    {
        s = wal_state_after(s, json_get_string(e, "entry_type"),
                            cJSON_GetObjectItemCaseSensitive(e, "payload"));
    }
    return s;
}

int
wal_state_check_entry(enum wal_state cur, const char *type, const cJSON *payload,
                      enum wal_state *next, struct intentus_err *err)
{
    enum wal_state to = wal_state_after(cur, type, payload);
    enum wal_state s = cur;

    *next = cur;
    if (wal_state_is_terminal(cur)) {
        /* Terminal: no exits, and nothing may follow. */
        if (to != cur || strncmp(type, "execution.", 10) == 0)
            err_set(err, IERR_INVALID, "Illegal state transition: %s \u2192 %s",
                    wal_state_name(cur), wal_state_name(to));
        else
            err_set(err, IERR_INVALID, "execution is %s (terminal): no %s may follow",
                    wal_state_name(cur), type);
        return -1;
    }
    if (to == cur) {
        if (strcmp(type, "execution.started") == 0 || strcmp(type, "execution.created") == 0 ||
            strcmp(type, "execution.failed") == 0) {
            err_set(err, IERR_INVALID, "Illegal state transition: %s \u2192 %s",
                    wal_state_name(cur), wal_state_name(to));
            return -1;
        }
        return 0;
    }
    if (cur == WAL_STATE_STARTED &&
        (to == WAL_STATE_COMPLETED || to == WAL_STATE_FAILED || to == WAL_STATE_ABORTED) &&
        wal_state_transition(&s, WAL_STATE_IN_PROGRESS, err) != 0)
        return -1;
    if (wal_state_transition(&s, to, err) != 0)
        return -1;
    *next = s;
    return 0;
}
