/* Sub-intents and model calls reported in an agent's reply (see the
 * header for the protocol). The router calls subintent_after_call once per
 * agent call; everything else it needs comes back through router.h. */
#include "core/subintent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/record.h"
#include "core/router.h"

/* A PROTOCOL_ERROR reply from the agent naming what was wrong. Takes resp. */
static cJSON *
protocol_error(const struct subintent_call *c, cJSON *resp, const char *what, int index,
               const char *why, struct intentus_err *err)
{
    cJSON *e;

    cJSON_Delete(resp);
    if (index >= 0)
        e = agent_error_response(c->agent, c->env, ERR_PROTOCOL_ERROR, false, NULL,
                                 "reply %s[%d]: %s", what, index, why);
    else
        e = agent_error_response(c->agent, c->env, ERR_PROTOCOL_ERROR, false, NULL, "reply %s: %s",
                                 what, why);
    if (e == NULL)
        err_set(err, IERR_NOMEM, NULL);
    return e;
}

static bool
copy_key(cJSON *dst, const cJSON *src, const char *key, const char *as)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
    cJSON *d;

    if (v == NULL)
        return cJSON_AddNullToObject(dst, as) != NULL;
    d = cJSON_Duplicate(v, 1);
    return d != NULL && cJSON_AddItemToObject(dst, as, d);
}

/* One modelCalls entry as the reference's MODEL_CALL payload. NULL with
 * *why set when the entry is malformed (why NULL: out of memory). */
static cJSON *
model_call_payload(const char *agent, const cJSON *m, const char **why)
{
    static const char *const counts[] = { "inputTokens", "outputTokens", "latencyMs" };
    static const char *const hashes[] = { "promptHash", "responseHash" };
    const char *prov = json_get_string(m, "provider");
    cJSON *p, *in, *out;
    bool ok;

    *why = NULL;
    if (!cJSON_IsObject(m)) {
        *why = "must be an object";
        return NULL;
    }
    if (json_get_string(m, "model") == NULL) {
        *why = "\"model\" must be a string";
        return NULL;
    }
    if (cJSON_GetObjectItemCaseSensitive(m, "provider") != NULL && prov == NULL) {
        *why = "\"provider\" must be a string";
        return NULL;
    }
    for (size_t i = 0; i < 2; i++) {
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(m, hashes[i]);
        if (h != NULL && !cJSON_IsString(h)) {
            *why = i == 0 ? "\"promptHash\" must be a string" : "\"responseHash\" must be a string";
            return NULL;
        }
    }
    for (size_t i = 0; i < 3; i++) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, counts[i]);
        long long v;
        if (n != NULL && (json_get_int64(m, counts[i], &v) != 0 || v < 0)) {
            *why = i == 0   ? "\"inputTokens\" must be a non-negative integer"
                   : i == 1 ? "\"outputTokens\" must be a non-negative integer"
                            : "\"latencyMs\" must be a non-negative integer";
            return NULL;
        }
    }
    {
        const cJSON *pa = cJSON_GetObjectItemCaseSensitive(m, "parameters");
        if (pa != NULL && !cJSON_IsObject(pa)) {
            *why = "\"parameters\" must be an object";
            return NULL;
        }
    }
    p = cJSON_CreateObject();
    in = cJSON_CreateObject();
    out = cJSON_CreateObject();
    ok = p != NULL && in != NULL && out != NULL &&
         cJSON_AddStringToObject(p, "agent", agent) != NULL &&
         cJSON_AddStringToObject(p, "provider", prov != NULL ? prov : "") != NULL &&
         copy_key(in, m, "model", "model") && copy_key(in, m, "parameters", "parameters") &&
         copy_key(in, m, "promptHash", "promptHash") &&
         copy_key(out, m, "responseHash", "responseHash") &&
         copy_key(out, m, "inputTokens", "inputTokens") &&
         copy_key(out, m, "outputTokens", "outputTokens") &&
         copy_key(out, m, "latencyMs", "latencyMs");
    if (!ok) {
        cJSON_Delete(p);
        cJSON_Delete(in);
        cJSON_Delete(out);
        return NULL;
    }
    cJSON_AddItemToObject(p, "input", in);
    cJSON_AddItemToObject(p, "output", out);
    return p;
}

/* Take "modelCalls" out of resp and record each. -1 with *bad and *why set when an
 * entry is malformed (nothing recorded then), -1 alone when out of memory. */
static int
take_model_calls(const struct subintent_call *c, cJSON *resp, int *bad, const char **why)
{
    cJSON *calls = json_detach(resp, "modelCalls");
    cJSON *payloads, *m;
    int i = 0;

    *bad = -1;
    *why = NULL;
    if (calls == NULL || cJSON_IsNull(calls)) {
        cJSON_Delete(calls);
        return 0;
    }
    if (!cJSON_IsArray(calls)) {
        cJSON_Delete(calls);
        *why = "must be an array";
        return -1;
    }
    payloads = cJSON_CreateArray();
    cJSON_ArrayForEach(m, calls)
    {
        cJSON *p = payloads != NULL ? model_call_payload(c->agent->name, m, why) : NULL;
        if (p == NULL) {
            if (*why != NULL)
                *bad = i;
            cJSON_Delete(payloads);
            cJSON_Delete(calls);
            return -1;
        }
        cJSON_AddItemToArray(payloads, p);
        i++;
    }
    cJSON_Delete(calls);
    while (payloads->child != NULL)
        c->emit(c->emit_ctx, "MODEL_CALL", cJSON_DetachItemViaPointer(payloads, payloads->child));
    cJSON_Delete(payloads);
    return 0;
}

/* Is name@version already on the chain (a loop)? */
static bool
on_chain(const struct subintent_parent *p, const char *name, const char *version)
{
    for (; p != NULL; p = p->up)
        if (p->intent != NULL && strcmp(p->intent, name) == 0 &&
            strcmp(p->version != NULL ? p->version : "1.0", version) == 0)
            return true;
    return false;
}

/* "a@1.0 -> b@1.0 -> a@1.0", root first. */
static void
chain_text(const struct subintent_parent *p, const char *name, const char *version, char *out,
           size_t size)
{
    const struct subintent_parent *links[SUBINTENT_MAX_DEPTH_LIMIT + 2] = { NULL };
    size_t n = 0, used = 0;

    for (; p != NULL && n < sizeof(links) / sizeof(links[0]); p = p->up)
        links[n++] = p;
    out[0] = '\0';
    for (; n > 0 && used < size; n--) {
        const struct subintent_parent *l = links[n - 1];
        int w = snprintf(out + used, size - used, "%s@%s -> ", l->intent,
                         l->version != NULL ? l->version : "1.0");
        if (w < 0)
            return;
        used += (size_t)w;
    }
    if (used < size)
        snprintf(out + used, size - used, "%s@%s", name, version);
}

/* A sub-intent entry checked: NULL, or why it is malformed. */
static const char *
check_entry(const cJSON *s)
{
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(s, "payload");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, "version");

    if (!cJSON_IsObject(s))
        return "must be an object";
    if (json_get_string(s, "intent") == NULL || json_get_string(s, "intent")[0] == '\0')
        return "\"intent\" must be a non-empty string";
    if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsString(v))
        return "\"version\" must be a string";
    if (pl != NULL && !cJSON_IsNull(pl) && !cJSON_IsObject(pl))
        return "\"payload\" must be an object";
    return NULL;
}

/* Route (or refuse) one sub-intent; its {intent, version, executionId,
 * response} result, and a SUB_INTENT event in the parent's record. */
static cJSON *
run_one(const struct subintent_call *c, const cJSON *s)
{
    const char *name = json_get_string(s, "intent");
    const char *version = json_get_string(s, "version") ? json_get_string(s, "version") : "1.0";
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(s, "payload");
    struct envelope_opts eo = { .intent_version = version,
                                .source_agent = c->agent->name,
                                .source = c->agent->name,
                                .trace_id = c->self->trace_id };
    struct route_result res = { 0 };
    struct intentus_err err = { 0 };
    char msg[800];
    cJSON *env, *out, *ev, *details = NULL;
    const char *reason = NULL;
    enum error_code code = ERR_ROUTING_ERROR;
    int rc;

    if (c->ctx->deadline_us > 0) {
        int64_t left = c->ctx->deadline_us - clock_mono_us();
        eo.timeout_ms = left > 0 ? (left + 999) / 1000 : 0;
        if (left <= 0) {
            code = ERR_AGENT_TIMEOUT;
            snprintf(msg, sizeof(msg), "sub-intent '%s' refused: the parent's deadline has passed",
                     name);
        }
    }
    env = envelope_new(name, pl != NULL && cJSON_IsObject(pl) ? cJSON_Duplicate(pl, 1) : NULL, &eo,
                       &err);
    if (env == NULL)
        return NULL;
    if (code == ERR_ROUTING_ERROR && on_chain(c->self, name, version)) {
        char chain[600];
        reason = "SUB_INTENT_LOOP";
        chain_text(c->self, name, version, chain, sizeof(chain));
        snprintf(msg, sizeof(msg), "sub-intent loop refused: %s", chain);
    } else if (code == ERR_ROUTING_ERROR && c->self->depth + 1 > c->max_depth) {
        reason = "SUB_INTENT_DEPTH";
        snprintf(msg, sizeof(msg), "sub-intent '%s' refused: depth %d exceeds the limit of %d",
                 name, c->self->depth + 1, c->max_depth);
    }
    if (reason != NULL) {
        details = cJSON_CreateObject();
        if (details != NULL) {
            cJSON_AddStringToObject(details, "reason", reason);
            cJSON_AddNumberToObject(details, "depth", c->self->depth + 1);
            cJSON_AddNumberToObject(details, "maxDepth", c->max_depth);
        }
    }
    if (reason != NULL || code != ERR_ROUTING_ERROR)
        rc = router_refuse_child(c->router, env, c->self, code, msg, details, &res);
    else
        rc = router_route_child(c->router, env, c->ctx->cache, c->self, &res);
    /* The response outlives env (it goes into the agent's subResults). */
    if (rc == 0 && route_result_own(&res) != 0)
        rc = -1;
    cJSON_Delete(env);
    if (rc != 0 || res.response == NULL) {
        route_result_free(&res);
        return NULL;
    }
    out = cJSON_CreateObject();
    ev = cJSON_CreateObject();
    if (out == NULL || ev == NULL) {
        cJSON_Delete(out);
        cJSON_Delete(ev);
        route_result_free(&res);
        return NULL;
    }
    cJSON_AddStringToObject(ev, "agent", c->agent->name);
    cJSON_AddStringToObject(ev, "intent", name);
    cJSON_AddStringToObject(ev, "version", version);
    cJSON_AddStringToObject(ev, "executionId", res.execution_id);
    cJSON_AddStringToObject(ev, "status", response_is_error(res.response) ? "error" : "ok");
    if (response_error_code(res.response) != NULL)
        cJSON_AddStringToObject(ev, "errorCode", response_error_code(res.response));
    c->emit(c->emit_ctx, "SUB_INTENT", ev);
    cJSON_AddStringToObject(out, "intent", name);
    cJSON_AddStringToObject(out, "version", version);
    cJSON_AddStringToObject(out, "executionId", res.execution_id);
    cJSON_AddItemToObject(out, "response", res.response);
    res.response = NULL;
    route_result_free(&res);
    return out;
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): one round after another, each a
 * short guarded block. */
cJSON *
subintent_after_call(const struct subintent_call *c, cJSON *resp, struct intentus_err *err)
{
    for (int round = 0;; round++) {
        cJSON *subs, *results, *s, *env2;
        const char *why;
        int bad, i = 0;

        if (take_model_calls(c, resp, &bad, &why) != 0) {
            if (why == NULL) {
                cJSON_Delete(resp);
                err_set(err, IERR_NOMEM, NULL);
                return NULL;
            }
            return protocol_error(c, resp, "modelCalls", bad, why, err);
        }
        subs = json_detach(resp, "subIntents");
        if (subs == NULL || cJSON_IsNull(subs) || response_is_error(resp)) {
            /* An agent that failed asked for nothing: its sub-intents are not run. */
            cJSON_Delete(subs);
            return resp;
        }
        if (!cJSON_IsArray(subs) || cJSON_GetArraySize(subs) > SUBINTENT_MAX_PER_REPLY) {
            char w[80];
            snprintf(w, sizeof(w), "must be an array of at most %d entries",
                     SUBINTENT_MAX_PER_REPLY);
            cJSON_Delete(subs);
            return protocol_error(c, resp, "subIntents", -1, w, err);
        }
        if (round >= SUBINTENT_MAX_ROUNDS) {
            char w[80];
            snprintf(w, sizeof(w), "asked for sub-intents more than %d times",
                     SUBINTENT_MAX_ROUNDS);
            cJSON_Delete(subs);
            return protocol_error(c, resp, "subIntents", -1, w, err);
        }
        cJSON_ArrayForEach(s, subs)
        {
            const char *w = check_entry(s);
            if (w != NULL) {
                cJSON_Delete(subs);
                return protocol_error(c, resp, "subIntents", i, w, err);
            }
            i++;
        }
        cJSON_Delete(resp);
        results = cJSON_CreateArray();
        env2 = cJSON_Duplicate(c->env, 1);
        if (results == NULL || env2 == NULL) {
            cJSON_Delete(results);
            cJSON_Delete(env2);
            cJSON_Delete(subs);
            err_set(err, IERR_NOMEM, NULL);
            return NULL;
        }
        cJSON_ArrayForEach(s, subs)
        {
            cJSON *r = run_one(c, s);
            if (r == NULL) {
                cJSON_Delete(results);
                cJSON_Delete(env2);
                cJSON_Delete(subs);
                err_set(err, IERR_NOMEM, "out of memory routing a sub-intent");
                return NULL;
            }
            cJSON_AddItemToArray(results, r);
        }
        cJSON_Delete(subs);
        cJSON_DeleteItemFromObjectCaseSensitive(env2, "subResults");
        cJSON_AddItemToObject(env2, "subResults", results);
        /* The agent again, with the results (on a copy: the live envelope,
         * and so the record, name the agent once). */
        resp = agent_call(c->agent, env2, c->ctx, err);
        /* An answer borrowing from env2 would outlive it. */
        if (resp != NULL && response_own(resp) != 0) {
            cJSON_Delete(resp);
            resp = NULL;
            err_set(err, IERR_NOMEM, NULL);
        }
        cJSON_Delete(env2);
        if (resp == NULL)
            return NULL;
    }
}
/* NOLINTEND(readability-function-cognitive-complexity) */
