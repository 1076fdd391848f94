#include "watch/digest.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "watch/digest_scan.h"

static const cJSON *
get(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* strdup that tolerates NULL; *failed set on allocation failure. */
static char *
dup_or_null(const char *s, int *failed)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *failed = 1;
    return d;
}

void
digest_free(struct digest *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_steps; i++) {
        free((char *)d->steps[i].agent);
        free((char *)d->steps[i].code);
    }
    free(d->steps);
    free(d->id);
    free(d->intent);
    free(d->agent);
    free(d->strategy);
    free(d->error_code);
    free(d->node);
    free(d->note);
    free(d);
}

struct digest *
digest_corrupt(const char *id, int64_t when_us, const char *why)
{
    struct digest *d = calloc(1, sizeof(*d));
    int failed = 0;

    if (d == NULL)
        return NULL;
    d->id = dup_or_null(id, &failed);
    d->note = dup_or_null(why, &failed);
    d->created_us = when_us;
    d->status = RECORD_INCOMPLETE;
    d->duration_us = -1;
    d->flags = DIGEST_CORRUPT | DIGEST_NO_TIMING;
    if (failed) {
        digest_free(d);
        return NULL;
    }
    return d;
}

const char *
digest_bad_word(unsigned flags)
{
    if (!(flags & DIGEST_CORRUPT))
        return NULL;
    if (flags & DIGEST_LOCKED)
        return "encrypted";
    if (flags & DIGEST_TAMPERED)
        return "tampered";
    if (flags & DIGEST_TRUNCATED)
        return "truncated";
    return "corrupt";
}

static int64_t
offset_of(const cJSON *ev)
{
    const cJSON *off = get(ev, "offsetUs");

    /* An offset no int64_t can hold (1e400 parses as inf) counts as absent. */
    return cJSON_IsNumber(off) && off->valuedouble >= 0 && off->valuedouble < 9223372036854775808.0
               ? (int64_t)off->valuedouble
               : -1;
}

/* An attempt's own error code, when the writer recorded one. */
static const char *
end_code(const cJSON *payload)
{
    const cJSON *e = get(payload, "error");
    const char *code = json_get_string(e, "code");

    if (code == NULL)
        code = json_get_string(payload, "errorCode");
    if (code == NULL)
        code = json_get_string(payload, "error_code");
    return code;
}

struct open_start {
    const char *agent;
    int64_t offset;
    int is_retry;
};

static int
add_step(struct digest *d, size_t *cap, const struct digest_step *st, int *failed)
{
    struct digest_step *s;

    if (d->n_steps == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        s = realloc(d->steps, ncap * sizeof(*s));
        if (s == NULL) {
            *failed = 1;
            return -1;
        }
        d->steps = s;
        *cap = ncap;
    }
    s = &d->steps[d->n_steps++];
    *s = *st;
    s->agent = dup_or_null(st->agent, failed);
    s->code = dup_or_null(st->code, failed);
    return 0;
}

/* A MODEL_CALL's model, latency and tokens (the reference's payload
 * {agent, provider, input {model}, output {inputTokens, outputTokens,
 * latencyMs}}). */
static void
model_step(const cJSON *payload, struct digest_step *st)
{
    const cJSON *out = get(payload, "output");
    long long v;

    st->kind = DIGEST_STEP_MODEL;
    st->code = json_get_string(get(payload, "input"), "model");
    if (json_get_int64(out, "latencyMs", &v) == 0 && v >= 0 && v < INT64_MAX / 1000)
        st->latency_us = (int64_t)v * 1000;
    if (json_get_int64(out, "inputTokens", &v) == 0 && v > 0 && v < INT32_MAX)
        st->tokens += v;
    if (json_get_int64(out, "outputTokens", &v) == 0 && v > 0 && v < INT32_MAX)
        st->tokens += v;
}

/* Walk the events once: attempts (paired START/END per agent, so PARALLEL
 * interleavings pair up), circuit changes and open-circuit skips. */
static void
digest_steps(struct digest *d, const cJSON *rec, int *failed)
{
    const cJSON *events = get(rec, "events"), *ev;
    int n_events = cJSON_GetArraySize(events);
    struct open_start *open = calloc((size_t)n_events + 1, sizeof(*open));
    size_t n_open = 0, cap = 0;
    long last_fail = -1;
    int last_fail_has_code = 0;

    if (open == NULL) {
        *failed = 1;
        return;
    }
    cJSON_ArrayForEach(ev, events)
    {
        const char *type = json_get_string(ev, "type");
        const cJSON *payload = get(ev, "payload");
        const char *agent = json_get_string(payload, "agent");
        struct digest_step st = { .agent = agent, .latency_us = -1 };

        if (type == NULL || agent == NULL)
            continue;
        if (strcmp(type, "AGENT_ATTEMPT_START") == 0) {
            const cJSON *n = get(payload, "attempt");
            open[n_open].agent = agent;
            open[n_open].offset = offset_of(ev);
            open[n_open].is_retry = cJSON_IsNumber(n) && n->valuedouble > 1;
            n_open++;
        } else if (strcmp(type, "AGENT_ATTEMPT_END") == 0) {
            const char *status = json_get_string(payload, "status");
            int64_t end = offset_of(ev);
            for (size_t i = n_open; i-- > 0;) {
                if (strcmp(open[i].agent, agent) != 0)
                    continue;
                if (end >= 0 && open[i].offset >= 0 && end >= open[i].offset)
                    st.latency_us = end - open[i].offset;
                st.is_retry = (uint8_t)open[i].is_retry;
                memmove(&open[i], &open[i + 1], (n_open - i - 1) * sizeof(*open));
                n_open--;
                break;
            }
            if (status != NULL && strcmp(status, "ok") == 0) {
                st.kind = DIGEST_STEP_OK;
            } else {
                st.kind = DIGEST_STEP_FAIL;
                st.code = end_code(payload);
                last_fail = (long)d->n_steps;
                last_fail_has_code = st.code != NULL;
                if (st.code == NULL)
                    st.code = "AGENT_ERROR";
            }
            add_step(d, &cap, &st, failed);
        } else if (strcmp(type, "CIRCUIT_STATE_CHANGE") == 0) {
            st.kind = DIGEST_STEP_CIRCUIT;
            st.code = json_get_string(payload, "to");
            add_step(d, &cap, &st, failed);
        } else if (strcmp(type, "MODEL_CALL") == 0) {
            model_step(payload, &st);
            add_step(d, &cap, &st, failed);
        } else if (strcmp(type, "CIRCUIT_OPEN_SKIPPED") == 0) {
            st.kind = DIGEST_STEP_SKIP;
            st.code = json_get_string(payload, "state");
            add_step(d, &cap, &st, failed);
        }
    }
    free(open);
    if (last_fail >= 0 && !last_fail_has_code && d->error_code != NULL && !*failed &&
        (size_t)last_fail < d->n_steps) {
        struct digest_step *s = &d->steps[last_fail];
        free((char *)s->code);
        s->code = dup_or_null(d->error_code, failed);
    }
}

struct digest *
digest_from_tree(const char *id, const char *text, size_t len, struct intentus_err *err)
{
    struct intentus_err perr = { 0 };
    struct record_summary sum;
    struct digest *d;
    cJSON *rec = record_parse(text, len, &perr);
    int failed = 0;

    if (rec == NULL) {
        if (err != NULL)
            *err = perr;
        return digest_corrupt(id, 0, perr.msg);
    }
    d = calloc(1, sizeof(*d));
    if (d == NULL) {
        cJSON_Delete(rec);
        return NULL;
    }
    record_summarize(rec, &sum);
    d->id = dup_or_null(id, &failed);
    d->created_us = sum.created_us;
    d->intent = dup_or_null(sum.intent, &failed);
    d->agent = dup_or_null(sum.agent, &failed);
    d->strategy = dup_or_null(sum.strategy, &failed);
    d->error_code = dup_or_null(sum.error_code, &failed);
    d->node = dup_or_null(sum.node, &failed);
    d->note = dup_or_null(sum.error_message, &failed);
    d->status = sum.status;
    d->duration_us = sum.duration_us;
    d->attempts = sum.attempts;
    d->retries = sum.retries;
    d->events = sum.events;
    if (sum.redacted)
        d->flags |= DIGEST_REDACTED;
    if (!sum.replayable)
        d->flags |= DIGEST_NOT_REPLAYABLE;
    digest_steps(d, rec, &failed);
    if (d->n_steps == 0 || d->steps[0].latency_us < 0) {
        /* Timing is all or nothing per writer: intentus writes offsetUs on
         * every event, the reference on none. */
        const cJSON *first = cJSON_GetArrayItem(get(rec, "events"), 0);
        if (first == NULL || offset_of(first) < 0)
            d->flags |= DIGEST_NO_TIMING;
    }
    cJSON_Delete(rec);
    if (failed) {
        digest_free(d);
        return NULL;
    }
    return d;
}

struct digest *
digest_from_text(const char *id, const char *text, size_t len, struct intentus_err *err)
{
    struct digest *d;
    int rc = digest_scan(id, text, len, &d);

    if (rc > 0)
        return d;
    if (rc < 0)
        return NULL;
    return digest_from_tree(id, text, len, err);
}

int
digest_describe(const struct digest *d, struct buf *out)
{
#define S(x) ((x) ? (x) : "(null)")
    buf_printf(out,
               "id=%s created=%" PRId64 " intent=%s strategy=%s agent=%s status=%d error=%s "
               "node=%s duration=%" PRId64
               " attempts=%d retries=%d events=%d flags=%u size=%" PRIu64 " note=%s steps=%zu",
               S(d->id), d->created_us, S(d->intent), S(d->strategy), S(d->agent), (int)d->status,
               S(d->error_code), S(d->node), d->duration_us, d->attempts, d->retries, d->events,
               d->flags, d->file_size, S(d->note), d->n_steps);
    for (size_t i = 0; i < d->n_steps; i++)
        buf_printf(out, " [%s %s %" PRId64 " %u %u %" PRId64 "]", S(d->steps[i].agent),
                   S(d->steps[i].code), d->steps[i].latency_us, d->steps[i].kind,
                   d->steps[i].is_retry, d->steps[i].tokens);
#undef S
    return out->failed ? -1 : 0;
}

struct digest *
digest_copy(const struct digest *src)
{
    struct digest *d = calloc(1, sizeof(*d));
    int failed = 0;

    if (d == NULL)
        return NULL;
    *d = *src;
    d->id = dup_or_null(src->id, &failed);
    d->intent = dup_or_null(src->intent, &failed);
    d->agent = dup_or_null(src->agent, &failed);
    d->strategy = dup_or_null(src->strategy, &failed);
    d->error_code = dup_or_null(src->error_code, &failed);
    d->node = dup_or_null(src->node, &failed);
    d->note = dup_or_null(src->note, &failed);
    d->steps = NULL;
    d->n_steps = 0;
    if (src->n_steps > 0) {
        d->steps = calloc(src->n_steps, sizeof(*d->steps));
        if (d->steps == NULL)
            failed = 1;
    }
    for (size_t i = 0; d->steps != NULL && i < src->n_steps; i++) {
        d->steps[i] = src->steps[i];
        d->steps[i].agent = dup_or_null(src->steps[i].agent, &failed);
        d->steps[i].code = dup_or_null(src->steps[i].code, &failed);
        d->n_steps++;
    }
    if (failed) {
        digest_free(d);
        return NULL;
    }
    return d;
}
