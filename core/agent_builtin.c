/* In-process agents for trying intentus out and for tests: echo, upper,
 * fail, flaky (seeded, so a run can be reproduced), slow, and crash (the
 * reference's "wrapper exception" path, for exercising its event shapes). */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wctype.h>

#include "core/agent.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"

enum builtin_type { B_ECHO, B_UPPER, B_FAIL, B_FLAKY, B_SLOW, B_CRASH, B_FANOUT };

static const char *const type_names[] = { "echo", "upper", "fail",  "flaky",
                                          "slow", "crash", "fanout" };

struct builtin {
    enum builtin_type type;
    enum error_code error_code;
    bool retryable;
    char *message;
    char *fail_text; /* fail, flaky: the failure's message, made once at init */
    double fail_rate;
    long delay_ms;
    long fail_first;      /* flaky: the first N calls fail, then fail_rate applies */
    long calls;           /* guarded by lock */
    locale_t utf8;        /* C.UTF-8 for upper-casing whatever the process locale is */
    pthread_mutex_t lock; /* guards rng: agents may run on several workers */
    uint64_t rng;
    cJSON *emit; /* fanout: the intent names it emits as sub-intents (core/subintent.h) */
};

static const char *const builtin_keys[] = {
    "builtin", "error_code", "retryable",  "message", "fail_rate",
    "seed",    "delay_ms",   "fail_first", "emit",    NULL,
};

/* splitmix64: tiny, seedable and good enough to decide coin flips. */
static uint64_t
next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* fanout's "emit": a non-empty array of intent names; only fanout takes it. */
static int
fanout_init(struct builtin *b, const cJSON *entry, const char *path, struct intentus_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, "emit"), *e;

    if (v == NULL && b->type != B_FANOUT)
        return 0;
    if (b->type != B_FANOUT) {
        err_set(err, IERR_CONFIG, "%s.emit: only the fanout builtin emits sub-intents", path);
        return -1;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        err_set(err, IERR_CONFIG, "%s.emit: must be a non-empty array of intent names", path);
        return -1;
    }
    cJSON_ArrayForEach(e, v)
    {
        if (!cJSON_IsString(e) || e->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG, "%s.emit: must be a non-empty array of intent names", path);
            return -1;
        }
    }
    if ((b->emit = cJSON_Duplicate(v, 1)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return 0;
}

/* fanout: first the sub-intents (each with the envelope's payload), then,
 * called again with their subResults, {"results": [{intent, status,
 * payload}]}. */
static cJSON *
fanout_reply(const struct builtin *b, const struct agent *a, const cJSON *env)
{
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(env, "subResults"), *e;
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(env, "payload");
    cJSON *list = cJSON_CreateArray(), *out = cJSON_CreateObject();

    if (list == NULL || out == NULL) {
        cJSON_Delete(list);
        cJSON_Delete(out);
        return NULL;
    }
    if (!cJSON_IsArray(results)) {
        cJSON_ArrayForEach(e, b->emit)
        {
            cJSON *s = cJSON_CreateObject();
            if (s == NULL || !cJSON_AddItemToArray(list, s) ||
                cJSON_AddStringToObject(s, "intent", e->valuestring) == NULL ||
                !cJSON_AddItemToObject(s, "payload",
                                       cJSON_IsObject(payload) ? cJSON_Duplicate(payload, 1)
                                                               : cJSON_CreateObject())) {
                cJSON_Delete(list);
                cJSON_Delete(out);
                return NULL;
            }
        }
        cJSON *resp = response_success(out, a->name, envelope_trace_id(env));
        if (resp == NULL || !cJSON_AddItemToObject(resp, "subIntents", list)) {
            cJSON_Delete(resp);
            cJSON_Delete(list);
            return NULL;
        }
        return resp;
    }
    cJSON_ArrayForEach(e, results)
    {
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(e, "response");
        cJSON *s = cJSON_CreateObject();
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(r, "payload");
        if (s == NULL || !cJSON_AddItemToArray(list, s) ||
            cJSON_AddStringToObject(s, "intent", json_get_string(e, "intent")) == NULL ||
            cJSON_AddStringToObject(s, "status", response_is_error(r) ? "error" : "ok") == NULL ||
            !cJSON_AddItemToObject(s, "payload",
                                   p != NULL ? cJSON_Duplicate(p, 1) : cJSON_CreateNull())) {
            cJSON_Delete(list);
            cJSON_Delete(out);
            return NULL;
        }
    }
    cJSON_AddItemToObject(out, "results", list);
    return response_success(out, a->name, envelope_trace_id(env));
}

/* The message a failing call answers with: the configured one, else one
 * naming the agent (within the 200 bytes it always had). Made once: the
 * snprintf was a visible part of every failed call. */
static int
fail_text_init(const struct agent *a, struct builtin *b)
{
    char msg[200];

    if (b->type != B_FAIL && b->type != B_FLAKY)
        return 0;
    if (b->message == NULL)
        snprintf(msg, sizeof(msg), "%s: simulated %s failure", a->name,
                 b->type == B_FLAKY ? "intermittent" : "permanent");
    b->fail_text = strdup(b->message != NULL ? b->message : msg);
    return b->fail_text != NULL ? 0 : -1;
}

static int
builtin_init(struct agent *a, const cJSON *entry, const char *path, struct intentus_err *err)
{
    const char *type = json_get_string(entry, "builtin");
    const cJSON *v;
    struct builtin *b;
    long long n;
    int i;

    if (type == NULL) {
        err_set(err, IERR_CONFIG,
                "%s.builtin: missing (one of echo, upper, fail, flaky, slow, crash, fanout)", path);
        return -1;
    }
    for (i = 0; i < (int)(sizeof(type_names) / sizeof(type_names[0])); i++) {
        if (strcmp(type, type_names[i]) == 0)
            break;
    }
    if (i == (int)(sizeof(type_names) / sizeof(type_names[0]))) {
        err_set(err, IERR_CONFIG,
                "%s.builtin: unknown builtin '%s' (one of echo, upper, fail, flaky, slow, crash, "
                "fanout)",
                path, type);
        return -1;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    pthread_mutex_init(&b->lock, NULL);
    a->state = b;
    b->type = (enum builtin_type)i;
    if (b->type == B_UPPER)
        b->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    b->error_code = b->type == B_FLAKY ? ERR_AGENT_UNAVAILABLE : ERR_AGENT_ERROR;
    b->retryable = b->type == B_FLAKY;
    b->fail_rate = 0.5;
    b->rng = 1;
    v = cJSON_GetObjectItemCaseSensitive(entry, "error_code");
    if (v != NULL &&
        (!cJSON_IsString(v) || model_error_code_parse(v->valuestring, &b->error_code) != 0)) {
        err_set(err, IERR_CONFIG, "%s.error_code: not a known error code (e.g. AGENT_ERROR)", path);
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(entry, "retryable");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG, "%s.retryable: must be true or false", path);
        return -1;
    }
    if (v != NULL)
        b->retryable = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(entry, "message");
    if (v != NULL && !cJSON_IsString(v)) {
        err_set(err, IERR_CONFIG, "%s.message: must be a string", path);
        return -1;
    }
    if (v != NULL && (b->message = strdup(v->valuestring)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(entry, "fail_rate");
    if (v != NULL && (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1)) {
        err_set(err, IERR_CONFIG, "%s.fail_rate: must be a number from 0 to 1", path);
        return -1;
    }
    if (v != NULL)
        b->fail_rate = v->valuedouble;
    if (cJSON_GetObjectItemCaseSensitive(entry, "seed") != NULL) {
        if (json_get_int64(entry, "seed", &n) != 0) {
            err_set(err, IERR_CONFIG, "%s.seed: must be an integer", path);
            return -1;
        }
        b->rng = (uint64_t)n;
    }
    if (cJSON_GetObjectItemCaseSensitive(entry, "fail_first") != NULL) {
        if (json_get_int64(entry, "fail_first", &n) != 0 || n < 0) {
            err_set(err, IERR_CONFIG, "%s.fail_first: must be a non-negative integer", path);
            return -1;
        }
        b->fail_first = (long)n;
    }
    if (fail_text_init(a, b) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    b->delay_ms = b->type == B_SLOW ? 200 : 0;
    if (cJSON_GetObjectItemCaseSensitive(entry, "delay_ms") != NULL) {
        if (json_get_int64(entry, "delay_ms", &n) != 0 || n < 0 || n > 3600000) {
            err_set(err, IERR_CONFIG, "%s.delay_ms: must be an integer from 0 to 3600000", path);
            return -1;
        }
        b->delay_ms = (long)n;
    }
    return fanout_init(b, entry, path, err);
}

static void
builtin_free(void *state)
{
    struct builtin *b = state;

    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->lock);
    if (b->utf8 != (locale_t)0)
        freelocale(b->utf8);
    free(b->message);
    free(b->fail_text);
    cJSON_Delete(b->emit);
    free(b);
}

static void
sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static size_t
utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Upper-case a UTF-8 string code point by code point; bytes that are not
 * plain well-formed UTF-8 (our stored U+0000 or lone surrogates) are copied. */
static char *
upper_utf8(const char *s, locale_t loc)
{
    size_t len = strlen(s);
    char *out = malloc(len * 2 + 1), *o = out;
    const unsigned char *p = (const unsigned char *)s;

    if (out == NULL)
        return NULL;
    while (*p) {
        uint32_t cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if ((*p & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
            cp = ((uint32_t)(*p & 0x1f) << 6) | (p[1] & 0x3f);
            n = 2;
        } else if ((*p & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 && (p[2] & 0xc0) == 0x80) {
            cp = ((uint32_t)(*p & 0x0f) << 12) | ((uint32_t)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
            n = 3;
        } else {
            *o++ = (char)*p++;
            continue;
        }
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) ||
            cp < (n == 2   ? 0x80U
                  : n == 3 ? 0x800U
                           : 0U)) {
            memcpy(o, p, (size_t)n);
            o += n;
        } else {
            uint32_t up = loc != (locale_t)0 ? (uint32_t)towupper_l((wint_t)cp, loc)
                                             : (uint32_t)towupper((wint_t)cp);
            char enc[4];
            size_t m = utf8_encode(up, enc);
            /* Keep the byte budget: an upper-case form never needs more than
             * twice the bytes, but stay with the original if it would. */
            if (m > (size_t)n * 2)
                m = utf8_encode(cp, enc);
            memcpy(o, enc, m);
            o += m;
        }
        p += n;
    }
    *o = '\0';
    return out;
}

/* NOLINTBEGIN(misc-no-recursion): a JSON tree walk; parsed trees are depth-limited. */
static int
upper_tree(cJSON *v, locale_t loc)
{
    cJSON *it;

    if (cJSON_IsString(v)) {
        char *u = upper_utf8(v->valuestring, loc);
        if (u == NULL)
            return -1;
        free(v->valuestring);
        v->valuestring = u;
        return 0;
    }
    cJSON_ArrayForEach(it, v)
    {
        if (upper_tree(it, loc) != 0)
            return -1;
    }
    return 0;
}
/* NOLINTEND(misc-no-recursion) */

static cJSON *
builtin_invoke(struct agent *a, cJSON *env, const struct agent_ctx *ctx, struct intentus_err *err)
{
    struct builtin *b = a->state;
    /* agent_call passes the router's view of env: no walk over it again. */
    const struct envelope_view *v = ctx->view != NULL && ctx->view->env == env ? ctx->view : NULL;
    const char *trace = v != NULL ? envelope_view_trace_id(v) : envelope_trace_id(env);
    cJSON *payload;
    bool fail = false;

    switch (b->type) {
    case B_FAIL:
        fail = true;
        break;
    case B_FLAKY:
        pthread_mutex_lock(&b->lock);
        if (++b->calls <= b->fail_first)
            fail = true;
        else
            fail = (double)(next_random(&b->rng) >> 11) * 0x1.0p-53 < b->fail_rate;
        pthread_mutex_unlock(&b->lock);
        break;
    case B_SLOW:
        if (ctx->deadline_us > 0 && clock_mono_us() + b->delay_ms * 1000 > ctx->deadline_us) {
            /* Honour the deadline the way an outside agent is cut off. */
            int64_t left = ctx->deadline_us - clock_mono_us();
            char msg[160];
            if (left > 0)
                sleep_ms((long)((left + 999) / 1000));
            snprintf(msg, sizeof(msg), "%s: no response within the deadline", a->name);
            return response_agent_error(error_info_new(ERR_AGENT_TIMEOUT, msg, true, NULL), a->name,
                                        trace);
        }
        sleep_ms(b->delay_ms);
        break;
    case B_FANOUT: {
        cJSON *r = fanout_reply(b, a, env);
        if (r == NULL)
            err_set(err, IERR_NOMEM, NULL);
        return r;
    }
    case B_CRASH:
        err_set(err, IERR_INVALID, "%s", b->message ? b->message : "agent crashed (simulated)");
        return NULL;
    default:
        break;
    }
    if (fail)
        return response_agent_error(error_info_new(b->error_code, b->fail_text, b->retryable, NULL),
                                    a->name, trace);
    if (b->type != B_UPPER) {
        /* The reference's echo returns env.payload itself: borrowed, not
         * copied (the caller keeps env alive as long as the response, the
         * contract of route_result in core/router.h). */
        cJSON *r = v != NULL ? response_success_borrowing_payload(v->payload, a->name, trace)
                             : response_success_borrowing(env, a->name, trace);
        if (r == NULL)
            err_set(err, IERR_NOMEM, NULL);
        return r;
    }
    payload = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(env, "payload"), 1);
    if (payload == NULL)
        payload = cJSON_CreateObject();
    if (payload == NULL || upper_tree(payload, b->utf8) != 0) {
        cJSON_Delete(payload);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    return response_success(payload, a->name, trace);
}

/* Every builtin but slow answers from memory (crash fails at once). */
static bool
builtin_instant(const struct agent *a)
{
    const struct builtin *b = a->state;

    /* fanout's sub-intents may reach any agent. */
    return b != NULL && b->type != B_SLOW && b->type != B_FANOUT;
}

const struct agent_kind agent_kind_builtin = {
    .name = "builtin",
    .settings_keys = builtin_keys,
    .init = builtin_init,
    .invoke = builtin_invoke,
    .free_state = builtin_free,
    .instant = builtin_instant,
};
