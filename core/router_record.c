/* The router's recording glue: where events go (sinks), the payload of
 * every event type the router records, written straight into the record's
 * text (core/record_build.h) with no cJSON tree, and saving the record.
 *
 * Redaction works on values: when redaction rules are configured the
 * finished text is parsed back into a tree, redacted (redact_ctx_record,
 * every recorded value) and saved from the tree. That is the only tree a
 * record costs, and only with redaction on (bench/README.md). */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/router_int.h"

void
sink_init(struct sink *s, struct exec *x, bool buffered)
{
    memset(s, 0, sizeof(*s));
    s->x = x;
    s->buffered = buffered;
}

void
sink_free(struct sink *s)
{
    buf_free(&s->text);
    free(s->items);
    s->items = NULL;
    s->n = s->cap = 0;
}

bool
sink_on(const struct sink *s)
{
    return s->x->rec != NULL;
}

/* Open the payload object of an event of type. */
static void
open_event(struct sink *s, const char *type, struct rec_obj *o)
{
    if (s->buffered) {
        s->open_off = s->text.len;
        rec_obj_begin(o, &s->text, REC_PAYLOAD_LEVEL);
        return;
    }
    rec_obj_begin(o, record_build_event_begin(s->x->rec, type), REC_PAYLOAD_LEVEL);
}

/* The payload written; the event happened at now (CLOCK_MONOTONIC us). An
 * event that marks a moment the router already read the clock for (the
 * record's start, an attempt's start or end) is given that reading, so
 * each event costs at most one clock read. */
static void
end_event(struct sink *s, const char *type, bool is_retry, int64_t now)
{
    if (!s->buffered) {
        record_build_event_end(s->x->rec, now);
        if (is_retry)
            s->x->retries++;
        return;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct pending *p = realloc(s->items, cap * sizeof(*p));
        if (p == NULL) {
            s->x->failed = 1;
            return;
        }
        s->items = p;
        s->cap = cap;
    }
    s->items[s->n++] =
        (struct pending){ type, s->open_off, s->text.len - s->open_off, now, is_retry };
}

static void
close_event_at(struct sink *s, const char *type, struct rec_obj *o, bool is_retry, int64_t now)
{
    rec_obj_end(o);
    end_event(s, type, is_retry, now);
}

/* An event at a moment of its own: one clock read. */
static void
close_event(struct sink *s, const char *type, struct rec_obj *o, bool is_retry)
{
    close_event_at(s, type, o, is_retry, clock_mono_us());
}

void
ev_json(struct sink *s, const char *type, const cJSON *payload)
{
    struct buf *b;

    if (!sink_on(s))
        return;
    /* A buffered sink keeps the pointer: only literals go in. */
    type = strcmp(type, "MODEL_CALL") == 0 ? "MODEL_CALL" : "SUB_INTENT";
    if (s->buffered) {
        s->open_off = s->text.len;
        b = &s->text;
    } else {
        b = record_build_event_begin(s->x->rec, type);
    }
    if (json_print_pretty_at(payload, REC_PAYLOAD_LEVEL, b) != 0)
        s->x->failed = 1;
    end_event(s, type, false, clock_mono_us());
}

void
sink_flush(struct exec *x, struct sink *s, bool only_state)
{
    if (s->text.failed)
        x->failed = 1;
    for (size_t i = 0; x->rec != NULL && !s->text.failed && i < s->n; i++) {
        const struct pending *p = &s->items[i];
        if (only_state && strcmp(p->type, "CIRCUIT_STATE_CHANGE") != 0)
            continue;
        record_build_event_text(x->rec, p->type, s->text.data + p->off, p->len, p->mono_us);
        if (p->is_retry)
            x->retries++;
    }
    s->n = 0;
    buf_reset(&s->text);
}

/* ---- the events ---- */

void
ev_intent_received(struct exec *x)
{
    struct sink *s = &x->direct;
    struct rec_obj o;

    if (!sink_on(s))
        return;
    open_event(s, "INTENT_RECEIVED", &o);
    rec_obj_str(&o, "traceId", x->trace_id);
    rec_obj_str(&o, "intent", x->intent);
    rec_obj_str(&o, "config_hash", x->router->config_hash);
    rec_obj_bool(&o, "require_determinism", x->router->require_determinism);
    /* Received when the record started: its first event shares that read. */
    close_event_at(s, "INTENT_RECEIVED", &o, false, record_build_started_us(x->rec));
}

void
ev_policy_decision(struct exec *x, const cJSON *decision)
{
    struct sink *s = &x->direct;
    struct buf *b;

    if (!sink_on(s))
        return;
    if (decision == NULL) {
        x->failed = 1;
        return;
    }
    /* The policy's own tree (policy configured only: not the hot path). */
    b = record_build_event_begin(x->rec, "POLICY_DECISION");
    if (json_print_pretty_at(decision, REC_PAYLOAD_LEVEL, b) != 0)
        x->failed = 1;
    record_build_event_end(x->rec, clock_mono_us());
}

void
ev_agent_skipped(struct exec *x, const char *agent, const char *why)
{
    struct sink *s = &x->direct;
    struct rec_obj o;

    if (!sink_on(s))
        return;
    open_event(s, "AGENT_SKIPPED", &o);
    rec_obj_str(&o, "agent", agent);
    rec_obj_str(&o, "reason", why);
    rec_obj_str(&o, "strategy", "FALLBACK");
    close_event(s, "AGENT_SKIPPED", &o, false);
}

void
ev_fallback_triggered(struct exec *x, const char *from, const char *to)
{
    struct sink *s = &x->direct;
    struct rec_obj o;

    if (!sink_on(s))
        return;
    open_event(s, "FALLBACK_TRIGGERED", &o);
    rec_obj_str(&o, "from", from);
    rec_obj_str(&o, "to", to);
    close_event(s, "FALLBACK_TRIGGERED", &o, false);
}

void
ev_disabled_skipped(struct sink *s, const char *agent)
{
    struct rec_obj o;

    if (!sink_on(s))
        return;
    open_event(s, "AGENT_DISABLED_SKIPPED", &o);
    rec_obj_str(&o, "agent", agent);
    close_event(s, "AGENT_DISABLED_SKIPPED", &o, false);
}

void
ev_open_skipped(struct sink *s, const char *agent, const char *state, bool has_probe,
                int64_t next_probe_ms)
{
    struct rec_obj o;

    if (!sink_on(s))
        return;
    open_event(s, "CIRCUIT_OPEN_SKIPPED", &o);
    rec_obj_str(&o, "agent", agent);
    rec_obj_str(&o, "state", state);
    if (has_probe)
        rec_obj_int(&o, "nextProbeMs", next_probe_ms);
    close_event(s, "CIRCUIT_OPEN_SKIPPED", &o, false);
}

void
ev_breaker_change(struct sink *s, const char *agent, const struct breaker_change *ch, int64_t now)
{
    struct rec_obj o;

    if (!ch->changed || !sink_on(s))
        return;
    open_event(s, "CIRCUIT_STATE_CHANGE", &o);
    rec_obj_str(&o, "agent", agent);
    rec_obj_str(&o, "from", breaker_state_name(ch->from));
    rec_obj_str(&o, "to", breaker_state_name(ch->to));
    rec_obj_str(&o, "reason", ch->reason);
    close_event_at(s, "CIRCUIT_STATE_CHANGE", &o, false, now);
}

void
ev_attempt_start(struct sink *s, const char *agent, enum strategy st, long index, int attempt_no,
                 int64_t now)
{
    struct rec_obj o;

    if (!sink_on(s))
        return;
    open_event(s, "AGENT_ATTEMPT_START", &o);
    rec_obj_str(&o, "agent", agent);
    rec_obj_str(&o, "strategy", model_strategy_event(st));
    if (index >= 0)
        rec_obj_int(&o, "index", index);
    /* Only agents that retry carry the attempt number, so records of agents
     * without retries keep the reference's exact payload keys. */
    if (attempt_no > 0)
        rec_obj_int(&o, "attempt", attempt_no);
    close_event_at(s, "AGENT_ATTEMPT_START", &o, attempt_no > 1, now);
}

void
ev_attempt_end(struct sink *s, const struct attempt_end *e)
{
    bool ok = e->resp != NULL && !response_is_error(e->resp);
    struct rec_obj o;

    if (!sink_on(s))
        return;
    open_event(s, "AGENT_ATTEMPT_END", &o);
    rec_obj_str(&o, "agent", e->agent);
    rec_obj_str(&o, "status", ok ? "ok" : "error");
    if (e->exception != NULL)
        rec_obj_str(&o, "exception", e->exception);
    if (!ok) {
        const cJSON *err = response_error(e->resp);
        const char *code = response_error_code(e->resp), *msg = json_get_string(err, "message");
        if (e->resp == NULL) {
            code = model_error_code_name(ERR_INTERNAL_AGENT_ERROR);
            msg = e->call_error;
        }
        rec_obj_str(&o, "errorCode", code ? code : "AGENT_ERROR");
        rec_obj_str(&o, "message", msg ? msg : "");
        rec_obj_bool(&o, "retryable", e->resp != NULL && cJSON_IsTrue(json_item(err, "retryable")));
    }
    if (e->attempt_no > 0)
        rec_obj_int(&o, "attempt", e->attempt_no);
    if (e->elapsed_us >= 0)
        rec_obj_int(&o, "elapsedUs", e->elapsed_us);
    if (e->step_id != NULL)
        rec_obj_str(&o, "step_id", e->step_id);
    close_event_at(s, "AGENT_ATTEMPT_END", &o, false, e->end_us);
}

/* ---- start and finish ---- */

int
router_record_start(struct router *r, struct exec *x, const struct record_build_opts *opts,
                    struct route_result *out)
{
    x->rec = record_build_new(x->env, opts, &out->record_err);
    if (x->rec == NULL && out->record_err.code == IERR_NOMEM)
        return -1;
    (void)r;
    return 0;
}

/* Redact, then hand to the writer or the store. A record that cannot be
 * redacted is not written at all: never persist what should be hidden. */
static void
save(struct router *r, struct exec *x, struct route_result *out)
{
    const char *id = record_build_id(x->rec);
    int rc;

    if (redactor_enabled(r->redactor)) {
        cJSON *tree = record_build_tree(x->rec, &out->record_err);
        if (tree == NULL || redact_ctx_record(x->redact, tree, NULL, &out->record_err) != 0) {
            cJSON_Delete(tree);
            ROUTER_COUNT(r, &r->counters->record_errors);
            return;
        }
        if (r->writer != NULL) {
            rc = writer_submit_tracked(r->writer, tree, &out->record_fate, &out->record_err);
        } else {
            rc = rec_store_save(r->store, tree, &out->record_err);
            cJSON_Delete(tree);
        }
    } else if (r->writer != NULL) {
        size_t len;
        char *text = record_build_take_text(x->rec, &len);
        if (text == NULL) {
            err_set(&out->record_err, IERR_NOMEM, "out of memory while recording");
            rc = -1;
        } else {
            rc = writer_submit_text(r->writer, id, text, len, &out->record_fate, &out->record_err);
        }
    } else {
        size_t len;
        const char *text = record_build_text(x->rec, &len);
        rc = rec_store_save_text(r->store, id, text, len, &out->record_err);
    }
    if (rc == 0) {
        out->recorded = true;
        ROUTER_COUNT(r, &r->counters->recorded);
    } else if (out->record_err.code == IERR_LIMIT && r->writer != NULL &&
               writer_mode(r->writer) == WRITER_ASYNC) { /* the queue was full */
        ROUTER_COUNT(r, &r->counters->dropped);
    } else {
        ROUTER_COUNT(r, &r->counters->record_errors);
    }
}

void
router_record_finish(struct router *r, struct exec *x, const struct outcome *o,
                     struct route_result *out)
{
    bool keep;
    const struct decision *d = &o->decision;
    struct rec_decision values = { d->agent, d->intent, d->reason, d->timestamp };

    if (x->rec == NULL)
        return;
    if (record_build_finish_values(x->rec, d->agent != NULL ? &values : NULL, o->response,
                                   x->retries) != 0)
        x->failed = 1;
    /* Errors and refusals are kept whatever the rate (sample_errors). */
    keep = !r->sample ||
           router_sample_in(json_get_string(json_item(x->env, "metadata"), "requestId"),
                            r->sample_rate) ||
           (r->sample_errors && response_is_error(o->response));
    if (x->failed) {
        text_copy_cut(out->execution_id, sizeof(out->execution_id), record_build_id(x->rec));
        err_set(&out->record_err, IERR_NOMEM, "out of memory while recording");
        ROUTER_COUNT(r, &r->counters->record_errors);
    } else if (!keep) {
        out->sampled_out = true;
        ROUTER_COUNT(r, &r->counters->sampled_out);
    } else {
        text_copy_cut(out->execution_id, sizeof(out->execution_id), record_build_id(x->rec));
        save(r, x, out);
    }
    record_build_free(x->rec);
    x->rec = NULL;
}
