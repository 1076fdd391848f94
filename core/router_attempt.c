/* One agent call as every strategy makes it: breaker, WAL step, the call
 * under its deadline, its events, retries with backoff. The single place
 * an agent is called from the router (a hook for anything that must wrap
 * every call goes in call_once). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/router_int.h"
#include "core/subintent.h"

static void
sleep_us(int64_t us)
{
    struct timespec ts = { (time_t)(us / 1000000), (long)(us % 1000000) * 1000 };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static bool
is_retryable(const cJSON *resp)
{
    return cJSON_IsTrue(json_item(response_error(resp), "retryable"));
}

/* ---- sub-intents and model calls (core/subintent.c): the call's hook ---- */
static void
sub_emit(void *sink, const char *type, cJSON *payload)
{
    ev_json(sink, type, payload);
    cJSON_Delete(payload);
}

/* After the agent answered: its reply's model calls recorded, its
 * sub-intents routed and the agent called again with their results. */
static cJSON *
sub_after_call(struct exec *x, struct sink *s, struct agent *a, const struct agent_ctx *ctx,
               cJSON *resp, struct intentus_err *err)
{
    struct subintent_parent self = {
        .execution_id = x->rec != NULL ? record_build_id(x->rec) : "",
        .trace_id = x->trace_id,
        .intent = x->intent,
        .version = envelope_view_intent_version(&x->ev),
        .depth = x->parent != NULL ? x->parent->depth + 1 : 0,
        .up = x->parent,
    };
    struct subintent_call c = {
        .router = x->router,
        .agent = a,
        .env = x->env,
        .ctx = ctx,
        .self = &self,
        .max_depth = x->router->subintent_max_depth,
        .emit = sub_emit,
        .emit_ctx = s,
    };

    return resp == NULL ? NULL : subintent_after_call(&c, resp, err);
}

/* Attempt n of agent a, the breaker having let it through at start: START,
 * the WAL step, the call, END, the breaker's verdict. */
static cJSON *
call_once(struct exec *x, struct sink *s, struct agent *a, enum strategy st, long index, int n,
          int64_t start, struct intentus_err *err)
{
    bool retries = a->idempotent && a->retry.max_attempts > 1;
    struct agent_ctx ctx = { .cache = x->cache, .view = &x->ev };
    char step_id[WAL_STEP_ID_LEN];
    struct breaker_change ch;
    int64_t end;
    cJSON *resp;

    ev_attempt_start(s, a->name, st, index, retries ? n : 0, start);
    if (x->attempts != NULL)
        atomic_fetch_add(x->attempts, 1);
    if (a->timeout_ms > 0)
        ctx.deadline_us = start + a->timeout_ms * 1000;
    if (x->deadline_us > 0 && (ctx.deadline_us == 0 || x->deadline_us < ctx.deadline_us))
        ctx.deadline_us = x->deadline_us;
    if (x->wal != NULL && wal_run_step_start(x->wal, a, x->env, step_id) != 0) {
        /* Not logged, so not started: the call fails without running. */
        err_set(err, IERR_IO, "write-ahead log write failed: agent '%s' not called", a->name);
        resp = NULL;
    } else {
        resp = sub_after_call(x, s, a, &ctx, agent_call(a, x->env, &ctx, err), err);
        if (x->wal != NULL)
            wal_run_step_end(x->wal, step_id, resp, resp == NULL ? err->msg : NULL);
    }
    /* One clock read ends the attempt: END's time, a timeout's elapsed
     * time and the breaker's verdict. */
    end = clock_mono_us();
    /* The reference writes no END when DIRECT's call throws. */
    if ((resp != NULL || st != STRATEGY_DIRECT) && sink_on(s)) {
        const char *code = response_error_code(resp);
        struct attempt_end e = {
            .agent = a->name,
            .resp = resp,
            .exception = resp == NULL && st != STRATEGY_BROADCAST ? err->msg : NULL,
            .call_error = err->msg,
            .attempt_no = retries ? n : 0,
            .elapsed_us = code != NULL && strcmp(code, "AGENT_TIMEOUT") == 0 ? end - start : -1,
            /* The WAL's step id, as the reference's ConsistencyChecker
             * pairs a step.completed with the record's END by it. */
            .step_id = x->wal != NULL && x->wal->f != NULL ? step_id : NULL,
            .end_us = end,
        };
        ev_attempt_end(s, &e);
    }
    breaker_record(a->breaker, resp != NULL && !response_is_error(resp), end, &ch);
    ev_breaker_change(s, a->name, &ch, end);
    return resp;
}

/* The backoff before attempt n + 1 ("equal jitter": between half and all
 * of the exponential backoff, so retries of many callers spread out but
 * never hammer); -1 when the deadline leaves no time for it. */
static int64_t
backoff_us(struct exec *x, const struct agent *a, int n)
{
    int64_t backoff = a->retry.base_ms * 1000;

    for (int i = 1; i < n && backoff < a->retry.max_ms * 1000; i++)
        backoff *= 2;
    if (backoff > a->retry.max_ms * 1000)
        backoff = a->retry.max_ms * 1000;
    backoff = backoff / 2 + (int64_t)(router_jitter(x->router) * ((double)backoff / 2));
    if (x->deadline_us > 0 && clock_mono_us() + backoff >= x->deadline_us)
        return -1;
    return backoff;
}

cJSON *
router_attempt(struct exec *x, struct sink *s, struct agent *a, enum strategy st, long index,
               enum skip *skipped, struct intentus_err *err)
{
    bool retries = a->idempotent && a->retry.max_attempts > 1;
    struct router *r = x->router;
    struct breaker_change ch;
    cJSON *resp = NULL;

    *skipped = SKIP_NONE;
    if (x->wal != NULL && wal_run_stopped(x->wal)) {
        *skipped = SKIP_WAL; /* a WAL write failed: no further step starts */
        return NULL;
    }
    if (r->agent_enabled != NULL && !r->agent_enabled(r->agent_enabled_ctx, a->name)) {
        ev_disabled_skipped(s, a->name);
        *skipped = SKIP_DISABLED;
        return NULL;
    }
    for (int n = 1;; n++) {
        int64_t start = clock_mono_us(), wait;
        if (!breaker_allow(a->breaker, start, &ch)) {
            struct breaker_stats bs;
            if (n > 1)
                break; /* the breaker opened during our retries: keep the last answer */
            breaker_snapshot(a->breaker, start, &bs);
            ev_open_skipped(s, a->name, breaker_state_name(bs.state), bs.next_probe_us > 0,
                            (bs.next_probe_us - start + 999) / 1000); /* rounded up */
            *skipped = SKIP_OPEN;
            return NULL;
        }
        ev_breaker_change(s, a->name, &ch, start);
        cJSON_Delete(resp);
        resp = call_once(x, s, a, st, index, n, start, err);
        if (resp == NULL || !response_is_error(resp) || !retries || !is_retryable(resp) ||
            n >= a->retry.max_attempts)
            break;
        if ((wait = backoff_us(x, a, n)) < 0)
            break; /* no time left for another attempt */
        sleep_us(wait);
        if (!s->buffered)
            envelope_view_count_retry(&x->ev); /* on the live envelope */
    }
    return resp;
}
