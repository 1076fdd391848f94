/* The console attached to a running service (see the header). One mutex
 * guards the job queue, the results, the agent list and the status texts;
 * each thread owns its own curl handle. */
#include "tui/console_remote.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"

#define POLL_MS 1000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 10000
#define MAX_RESULTS 2048 /* waiting for the main thread; more are dropped */
#define MAX_AGENTS 128
#define ANSWER_MAX ((size_t)16 * 1024 * 1024)
#define SSE_LINE_MAX ((size_t)1024 * 1024)

enum job_kind { JOB_ACTION, JOB_ROUTE };

struct job {
    enum job_kind kind;
    char action[16], agent[128];
    char *body; /* JOB_ROUTE: the JSON text */
    uint64_t tag;
    struct job *next;
};

struct console_remote {
    char *url, *token;
    bool feed;
    int efd;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, poll_now;
    struct job *jobs, **jobs_tail;
    struct remote_result *results;
    size_t n_results;
    uint64_t results_dropped;
    struct remote_agent agents[MAX_AGENTS];
    size_t n_agents;
    bool agents_changed;
    char poll_err[256], events_err[256]; /* "" while fine */
    pthread_t poller, streamer;
    bool have_poller, have_streamer;
    /* streamer only */
    char last_id[32];
};

/* ---- small helpers ---- */

static void
wake_main(struct console_remote *r)
{
    uint64_t one = 1;
    ssize_t n = write(r->efd, &one, sizeof(one));
    (void)n; /* the counter saturating is harmless: it stays readable */
}

/* Locked by the caller. Takes res's owned parts. */
static void
push_result_locked(struct console_remote *r, struct remote_result *res)
{
    if (r->n_results == MAX_RESULTS) {
        r->results_dropped++;
        remote_result_free(res);
        return;
    }
    r->results[r->n_results++] = *res;
}

static void
push_result(struct console_remote *r, struct remote_result *res)
{
    pthread_mutex_lock(&r->lock);
    push_result_locked(r, res);
    pthread_mutex_unlock(&r->lock);
    wake_main(r);
}

static void
push_message(struct console_remote *r, bool is_error, const char *msg)
{
    struct remote_result res = { .kind = REMOTE_ACTION, .is_error = is_error };
    snprintf(res.msg, sizeof(res.msg), "%s", msg);
    push_result(r, &res);
}

/* Sleep up to ms, or less if stopped (or, for the poller, poked). */
static void
wait_ms(struct console_remote *r, long ms, bool pokeable)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->lock);
    while (!r->stop && !(pokeable && (r->poll_now || r->jobs != NULL)))
        if (pthread_cond_timedwait(&r->cond, &r->lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&r->lock);
}

static bool
stopped(struct console_remote *r)
{
    bool s;
    pthread_mutex_lock(&r->lock);
    s = r->stop;
    pthread_mutex_unlock(&r->lock);
    return s;
}

static int
on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return stopped(ud) ? 1 : 0; /* non-zero aborts the transfer */
}

static size_t
on_answer(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;

    if (b->len + size * n > ANSWER_MAX || buf_append(b, p, size * n) != 0)
        return 0;
    return size * n;
}

/* A handle for base+path with the token and the stop check. */
static CURL *
handle_for(struct console_remote *r, const char *path, struct curl_slist **hdrs, char *ebuf)
{
    CURL *h = curl_easy_init();
    char url[2048];
    size_t blen = strlen(r->url);

    if (h == NULL)
        return NULL;
    while (blen > 0 && r->url[blen - 1] == '/')
        blen--;
    snprintf(url, sizeof(url), "%.*s%s", (int)blen, r->url, path);
    {
        struct buf auth = { 0 };
        buf_printf(&auth, "Authorization: Bearer %s", r->token);
        if (auth.data != NULL)
            *hdrs = curl_slist_append(*hdrs, auth.data);
        if (auth.data != NULL)
            memset(auth.data, 0, auth.len);
        buf_free(&auth);
    }
    *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
    return h;
}

/* "HTTP 403: this endpoint needs the admin role" from an error answer. */
static void
http_error_text(long status, const cJSON *answer, char *out, size_t size)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(answer, "error");
    const char *m = json_get_string(e, "message");

    if (m == NULL)
        m = json_get_string(answer, "message");
    snprintf(out, size, "HTTP %ld%s%.200s", status, m != NULL ? ": " : "", m != NULL ? m : "");
}

/* METHOD path with body (NULL: none): the status and the JSON answer, or 0
 * with err (transport failure). */
static long
http_call(struct console_remote *r, const char *method, const char *path, const char *body,
          long timeout_ms, cJSON **out, char *err, size_t err_size)
{
    struct curl_slist *hdrs = NULL;
    char ebuf[CURL_ERROR_SIZE] = "";
    struct buf b = { 0 };
    long status = 0;
    CURL *h = handle_for(r, path, &hdrs, ebuf);
    CURLcode rc;

    *out = NULL;
    if (h == NULL) {
        snprintf(err, err_size, "cannot start libcurl");
        curl_slist_free_all(hdrs);
        return 0;
    }
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (body != NULL) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
        snprintf(err, err_size, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (b.len > 0)
            *out = json_parse(b.data, b.len, 0, NULL);
        if (status != 200)
            http_error_text(status, *out, err, err_size);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    buf_free(&b);
    return status;
}

/* ---- the agent list ---- */

static size_t
parse_agents(const cJSON *answer, struct remote_agent *out, size_t max)
{
    const cJSON *a;
    size_t n = 0;
    int64_t now = clock_mono_us();

    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(answer, "agents"))
    {
        struct remote_agent *ra = &out[n];
        const char *name = json_get_string(a, "name"), *br = json_get_string(a, "breaker");
        const cJSON *v;
        if (name == NULL || n == max)
            continue;
        memset(ra, 0, sizeof(*ra));
        snprintf(ra->name, sizeof(ra->name), "%s", name);
        snprintf(ra->breaker, sizeof(ra->breaker), "%s", br != NULL ? br : "");
        ra->enabled = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "enabled"));
        v = cJSON_GetObjectItemCaseSensitive(a, "calls");
        ra->calls = cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
        v = cJSON_GetObjectItemCaseSensitive(a, "failures");
        ra->failures = cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint64_t)v->valuedouble : 0;
        v = cJSON_GetObjectItemCaseSensitive(a, "nextProbeInMs");
        if (cJSON_IsNumber(v) && v->valuedouble >= 0)
            ra->next_probe_us = now + (int64_t)(v->valuedouble * 1000.0);
        n++;
    }
    return n;
}

/* GET /v1/agents into r->agents; 0, or -1 with r->poll_err set. */
static int
poll_agents(struct console_remote *r)
{
    char err[256] = "";
    cJSON *answer = NULL;
    long st = http_call(r, "GET", "/v1/agents", NULL, 10000, &answer, err, sizeof(err));
    struct remote_agent *tmp = NULL;
    size_t n = 0;
    int rc = -1;

    if (st == 200 && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(answer, "agents"))) {
        tmp = calloc(MAX_AGENTS, sizeof(*tmp));
        if (tmp != NULL) {
            n = parse_agents(answer, tmp, MAX_AGENTS);
            rc = 0;
        }
    } else if (st == 200) {
        snprintf(err, sizeof(err), "GET /v1/agents: the answer is not an agent list");
    }
    pthread_mutex_lock(&r->lock);
    if (rc == 0) {
        if (n != r->n_agents || memcmp(tmp, r->agents, n * sizeof(*tmp)) != 0)
            r->agents_changed = true;
        memcpy(r->agents, tmp, n * sizeof(*tmp));
        r->n_agents = n;
        r->poll_err[0] = '\0';
    } else {
        snprintf(r->poll_err, sizeof(r->poll_err), "%s", err);
    }
    pthread_mutex_unlock(&r->lock);
    free(tmp);
    cJSON_Delete(answer);
    return rc;
}

/* ---- jobs ---- */

static void
run_action(struct console_remote *r, const struct job *j)
{
    char path[512], err[256] = "", msg[320];
    cJSON *answer = NULL;
    long st;

    if (j->agent[0] != '\0') {
        char *esc = curl_easy_escape(NULL, j->agent, 0);
        snprintf(path, sizeof(path), "/v1/agents/%s/%s", esc != NULL ? esc : "", j->action);
        curl_free(esc);
    } else {
        snprintf(path, sizeof(path), "/v1/%s", j->action);
    }
    st = http_call(r, "POST", path, NULL, 30000, &answer, err, sizeof(err));
    if (st == 200 && j->agent[0] != '\0')
        snprintf(msg, sizeof(msg), "%s: %s done on the service", j->agent, j->action);
    else if (st == 200)
        snprintf(msg, sizeof(msg), "the service reloaded its configuration");
    else
        snprintf(msg, sizeof(msg), "%s%s%.100s failed: %.180s", j->action,
                 j->agent[0] ? " of " : "", j->agent, err);
    cJSON_Delete(answer);
    push_message(r, st != 200, msg);
}

/* An error AgentResponse for a request the service did not answer. */
static cJSON *
error_response(const char *code, const char *msg)
{
    cJSON *o = cJSON_CreateObject(), *e;

    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "version", "1.0");
    cJSON_AddStringToObject(o, "status", "error");
    cJSON_AddNullToObject(o, "payload");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "metadata"), "agent", "service");
    e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "code", code);
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddBoolToObject(e, "retryable", false);
    return o;
}

static void
run_route(struct console_remote *r, const struct job *j)
{
    struct remote_result res = { .kind = REMOTE_COMPLETION };
    char err[256] = "";
    cJSON *answer = NULL, *resp;
    int64_t t0 = clock_mono_us();
    long st = http_call(r, "POST", "/v1/route", j->body, 120000, &answer, err, sizeof(err));

    res.c.tag = j->tag;
    res.c.latency_us = clock_mono_us() - t0;
    resp = cJSON_GetObjectItemCaseSensitive(answer, "response");
    if (st == 200 && cJSON_IsObject(resp)) {
        const char *id = json_get_string(answer, "executionId");
        res.c.response = cJSON_DetachItemViaPointer(answer, resp);
        snprintf(res.c.execution_id, sizeof(res.c.execution_id), "%s", id != NULL ? id : "");
        res.c.recorded = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "recorded"));
        res.c.sampled_out = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "sampledOut"));
        if (!res.c.recorded && !res.c.sampled_out)
            err_set(&res.c.record_err, IERR_IO, "the service did not record it");
    } else {
        char m[300];
        const char *code =
            json_get_string(cJSON_GetObjectItemCaseSensitive(answer, "error"), "code");
        snprintf(m, sizeof(m), "POST /v1/route: %s", err[0] ? err : "no answer");
        res.c.response = error_response(code != NULL ? code : "UNAVAILABLE", m);
        err_set(&res.c.record_err, IERR_IO, "%.200s", m);
        push_message(r, true, m);
    }
    cJSON_Delete(answer);
    push_result(r, &res);
}

static void *
poller_main(void *arg)
{
    struct console_remote *r = arg;
    long backoff = 0;

    while (!stopped(r)) {
        struct job *jobs;
        pthread_mutex_lock(&r->lock);
        jobs = r->jobs;
        r->jobs = NULL;
        r->jobs_tail = &r->jobs;
        r->poll_now = false;
        pthread_mutex_unlock(&r->lock);
        while (jobs != NULL) {
            struct job *j = jobs;
            jobs = j->next;
            if (j->kind == JOB_ACTION)
                run_action(r, j);
            else
                run_route(r, j);
            free(j->body);
            free(j);
        }
        if (stopped(r))
            break;
        if (poll_agents(r) == 0)
            backoff = 0;
        else
            backoff = backoff == 0 ? BACKOFF_MIN_MS
                                   : (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2);
        wake_main(r);
        wait_ms(r, backoff > 0 ? backoff : POLL_MS, true);
    }
    return NULL;
}

/* ---- the event stream ---- */

struct sse {
    struct console_remote *r;
    CURL *h;
    bool checked, ok;
    struct buf line, data, errbody;
    char event[32], id[32];
};

static void
poke_poller(struct console_remote *r)
{
    pthread_mutex_lock(&r->lock);
    r->poll_now = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

static struct digest *
digest_of_event(const cJSON *ev)
{
    struct digest *d = calloc(1, sizeof(*d));
    const char *id = json_get_string(ev, "executionId"), *intent = json_get_string(ev, "intent");
    const char *agent = json_get_string(ev, "agent"), *code = json_get_string(ev, "errorCode");
    const char *status = json_get_string(ev, "status");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(ev, "durationMs");
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(ev, "attempts");

    if (d == NULL)
        return NULL;
    d->id = strdup(id != NULL ? id : "");
    d->created_us = clock_wall_us();
    d->intent = intent != NULL ? strdup(intent) : NULL;
    d->agent = agent != NULL ? strdup(agent) : NULL;
    d->error_code = code != NULL ? strdup(code) : NULL;
    d->status = status != NULL && strcmp(status, "success") == 0 ? RECORD_OK : RECORD_ERROR;
    d->duration_us = cJSON_IsNumber(dur) ? (int64_t)(dur->valuedouble * 1000.0) : -1;
    d->attempts = cJSON_IsNumber(att) ? (int)att->valuedouble : 0;
    if (agent != NULL && strcmp(agent, "router") != 0) {
        d->steps = calloc(1, sizeof(*d->steps));
        if (d->steps != NULL) {
            d->n_steps = 1;
            d->steps[0].agent = strdup(agent);
            d->steps[0].code = code != NULL ? strdup(code) : NULL;
            d->steps[0].latency_us = d->duration_us;
            d->steps[0].kind = d->status == RECORD_OK ? DIGEST_STEP_OK : DIGEST_STEP_FAIL;
        }
    }
    if (d->id == NULL || d->id[0] == '\0') {
        digest_free(d); /* not recorded: nothing to open, nothing to list */
        return NULL;
    }
    return d;
}

static void
sse_dispatch(struct sse *s)
{
    struct console_remote *r = s->r;

    if (s->id[0] != '\0')
        snprintf(r->last_id, sizeof(r->last_id), "%s", s->id);
    if (strcmp(s->event, "execution") == 0 && r->feed && s->data.len > 0) {
        cJSON *ev = json_parse(s->data.data, s->data.len, 0, NULL);
        struct digest *d = ev != NULL ? digest_of_event(ev) : NULL;
        cJSON_Delete(ev);
        if (d != NULL) {
            struct remote_result res = { .kind = REMOTE_EXECUTION, .d = d };
            push_result(r, &res);
        }
    } else if (strcmp(s->event, "breaker") == 0 || strcmp(s->event, "agent") == 0 ||
               strcmp(s->event, "reload") == 0) {
        poke_poller(r);
    }
    s->event[0] = '\0';
    s->id[0] = '\0';
    buf_reset(&s->data);
}

static void
sse_line(struct sse *s, const char *l)
{
    const char *v;

    if (l[0] == '\0') {
        sse_dispatch(s);
        return;
    }
    if (l[0] == ':')
        return;
    v = strchr(l, ':');
    v = v != NULL ? (v[1] == ' ' ? v + 2 : v + 1) : "";
    if (strncmp(l, "event:", 6) == 0)
        snprintf(s->event, sizeof(s->event), "%s", v);
    else if (strncmp(l, "id:", 3) == 0)
        snprintf(s->id, sizeof(s->id), "%s", v);
    else if (strncmp(l, "data:", 5) == 0) {
        if (s->data.len > 0)
            buf_putc(&s->data, '\n');
        buf_puts(&s->data, v);
    }
}

static size_t
on_sse(char *p, size_t size, size_t n, void *ud)
{
    struct sse *s = ud;
    size_t len = size * n;

    if (!s->checked) {
        long st = 0;
        curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &st);
        s->checked = true;
        s->ok = st == 200;
        if (s->ok) {
            pthread_mutex_lock(&s->r->lock);
            s->r->events_err[0] = '\0';
            pthread_mutex_unlock(&s->r->lock);
            wake_main(s->r);
        }
    }
    if (!s->ok) {
        if (s->errbody.len < 8192)
            buf_append(&s->errbody, p, len);
        return len;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n') {
            if (s->line.len > 0 && s->line.data[s->line.len - 1] == '\r')
                s->line.data[--s->line.len] = '\0';
            sse_line(s, buf_str(&s->line));
            buf_reset(&s->line);
        } else if (s->line.len < SSE_LINE_MAX && buf_putc(&s->line, p[i]) != 0) {
            return 0;
        }
    }
    return len;
}

/* One connection to /v1/events until it ends; true when it was accepted. */
static bool
stream_once(struct console_remote *r)
{
    struct curl_slist *hdrs = NULL;
    char ebuf[CURL_ERROR_SIZE] = "", err[256] = "";
    struct sse s = { .r = r };
    CURLcode rc;
    long st = 0;

    s.h = handle_for(r, "/v1/events", &hdrs, ebuf);
    if (s.h == NULL) {
        curl_slist_free_all(hdrs);
        return false;
    }
    if (r->last_id[0] != '\0') {
        char h[64];
        snprintf(h, sizeof(h), "Last-Event-ID: %s", r->last_id);
        hdrs = curl_slist_append(hdrs, h);
        curl_easy_setopt(s.h, CURLOPT_HTTPHEADER, hdrs);
    }
    curl_easy_setopt(s.h, CURLOPT_WRITEFUNCTION, on_sse);
    curl_easy_setopt(s.h, CURLOPT_WRITEDATA, &s);
    /* The service sends a heartbeat every 15 s: 40 s of silence is a dead
     * connection. */
    curl_easy_setopt(s.h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(s.h, CURLOPT_LOW_SPEED_TIME, 40L);
    rc = curl_easy_perform(s.h);
    curl_easy_getinfo(s.h, CURLINFO_RESPONSE_CODE, &st);
    if (rc != CURLE_OK && !s.ok) {
        snprintf(err, sizeof(err), "events: %.200s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    } else if (!s.ok) {
        cJSON *answer = json_parse(buf_str(&s.errbody), s.errbody.len, 0, NULL);
        char t[200];
        http_error_text(st, answer, t, sizeof(t));
        snprintf(err, sizeof(err), "events: %s", t);
        cJSON_Delete(answer);
    } else {
        snprintf(err, sizeof(err), "events: the stream ended%s%.200s", rc != CURLE_OK ? ": " : "",
                 rc != CURLE_OK ? (ebuf[0] ? ebuf : curl_easy_strerror(rc)) : "");
    }
    pthread_mutex_lock(&r->lock);
    if (!r->stop)
        snprintf(r->events_err, sizeof(r->events_err), "%s", err);
    pthread_mutex_unlock(&r->lock);
    wake_main(r);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(s.h);
    buf_free(&s.line);
    buf_free(&s.data);
    buf_free(&s.errbody);
    return s.ok;
}

static void *
streamer_main(void *arg)
{
    struct console_remote *r = arg;
    long backoff = 0;

    while (!stopped(r)) {
        if (stream_once(r))
            backoff = 0;
        backoff = backoff == 0 ? BACKOFF_MIN_MS
                               : (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2);
        wait_ms(r, backoff, false);
    }
    return NULL;
}

/* ---- API ---- */

struct console_remote *
console_remote_open(const char *url, const char *token, bool feed, struct intentus_err *err)
{
    struct console_remote *r = calloc(1, sizeof(*r));
    pthread_condattr_t ca;

    if (r == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r->url = strdup(url);
    r->token = strdup(token);
    r->feed = feed;
    r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r->results = calloc(MAX_RESULTS, sizeof(*r->results));
    r->jobs_tail = &r->jobs;
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (r->url == NULL || r->token == NULL || r->efd < 0 || r->results == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        console_remote_close(r);
        return NULL;
    }
    if (poll_agents(r) != 0) {
        err_set(err, IERR_IO, "--server %s: %s", url, r->poll_err);
        console_remote_close(r);
        return NULL;
    }
    r->have_poller = pthread_create(&r->poller, NULL, poller_main, r) == 0;
    r->have_streamer = pthread_create(&r->streamer, NULL, streamer_main, r) == 0;
    if (!r->have_poller || !r->have_streamer) {
        err_set(err, IERR_NOMEM, "cannot start a thread");
        console_remote_close(r);
        return NULL;
    }
    return r;
}

void
console_remote_close(struct console_remote *r)
{
    if (r == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (r->have_poller)
        pthread_join(r->poller, NULL);
    if (r->have_streamer)
        pthread_join(r->streamer, NULL);
    while (r->jobs != NULL) {
        struct job *j = r->jobs;
        r->jobs = j->next;
        free(j->body);
        free(j);
    }
    for (size_t i = 0; r->results != NULL && i < r->n_results; i++)
        remote_result_free(&r->results[i]);
    free(r->results);
    if (r->efd >= 0)
        close(r->efd);
    if (r->token != NULL) {
        memset(r->token, 0, strlen(r->token));
        free(r->token);
    }
    free(r->url);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r);
}

int
console_remote_fd(const struct console_remote *r)
{
    return r->efd;
}

bool
console_remote_drain(struct console_remote *r)
{
    uint64_t v;
    bool changed;

    while (read(r->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
        ;
    pthread_mutex_lock(&r->lock);
    changed = r->agents_changed;
    r->agents_changed = false;
    pthread_mutex_unlock(&r->lock);
    return changed;
}

size_t
console_remote_agents(struct console_remote *r, struct remote_agent *out, size_t max)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = r->n_agents < max ? r->n_agents : max;
    memcpy(out, r->agents, n * sizeof(*out));
    pthread_mutex_unlock(&r->lock);
    return n;
}

bool
console_remote_status(struct console_remote *r, char *why, size_t size)
{
    bool ok;

    pthread_mutex_lock(&r->lock);
    ok = r->poll_err[0] == '\0' && r->events_err[0] == '\0';
    snprintf(why, size, "%s%s%s", r->poll_err, r->poll_err[0] && r->events_err[0] ? "; " : "",
             r->events_err);
    pthread_mutex_unlock(&r->lock);
    return ok;
}

const char *
console_remote_url(const struct console_remote *r)
{
    return r->url;
}

static int
queue_job(struct console_remote *r, struct job *j)
{
    pthread_mutex_lock(&r->lock);
    *r->jobs_tail = j;
    r->jobs_tail = &j->next;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    return 0;
}

int
console_remote_action(struct console_remote *r, const char *action, const char *agent,
                      struct intentus_err *err)
{
    struct job *j = calloc(1, sizeof(*j));

    if (j == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    j->kind = JOB_ACTION;
    snprintf(j->action, sizeof(j->action), "%s", action);
    snprintf(j->agent, sizeof(j->agent), "%s", agent != NULL ? agent : "");
    return queue_job(r, j);
}

int
console_remote_submit(struct console_remote *r, cJSON *env, uint64_t tag, struct intentus_err *err)
{
    struct job *j = calloc(1, sizeof(*j));
    cJSON *body = console_remote_route_body(env);

    if (j != NULL && body != NULL)
        j->body = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (j == NULL || j->body == NULL) {
        if (j != NULL)
            free(j->body);
        free(j);
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    j->kind = JOB_ROUTE;
    j->tag = tag;
    cJSON_Delete(env);
    return queue_job(r, j);
}

size_t
console_remote_collect(struct console_remote *r, struct remote_result *out, size_t max)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = r->n_results < max ? r->n_results : max;
    memcpy(out, r->results, n * sizeof(*out));
    memmove(r->results, r->results + n, (r->n_results - n) * sizeof(*r->results));
    r->n_results -= n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

void
remote_result_free(struct remote_result *res)
{
    if (res == NULL)
        return;
    completion_free(&res->c);
    digest_free(res->d);
    res->d = NULL;
}

cJSON *
console_remote_route_body(const cJSON *env)
{
    const cJSON *intent = cJSON_GetObjectItemCaseSensitive(env, "intent");
    const cJSON *ctx = cJSON_GetObjectItemCaseSensitive(env, "context");
    const cJSON *routing = cJSON_GetObjectItemCaseSensitive(env, "routing");
    const cJSON *payload = cJSON_GetObjectItemCaseSensitive(env, "payload"), *t, *fb, *to;
    const char *s;
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return NULL;
    if ((s = json_get_string(intent, "name")) != NULL)
        cJSON_AddStringToObject(o, "intent", s);
    if ((s = json_get_string(intent, "version")) != NULL)
        cJSON_AddStringToObject(o, "version", s);
    if (cJSON_IsObject(payload))
        cJSON_AddItemToObject(o, "payload", cJSON_Duplicate(payload, 1));
    if ((s = json_get_string(routing, "strategy")) != NULL)
        cJSON_AddStringToObject(o, "strategy", s);
    if ((s = json_get_string(routing, "targetAgent")) != NULL && s[0] != '\0')
        cJSON_AddStringToObject(o, "target", s);
    fb = cJSON_GetObjectItemCaseSensitive(routing, "fallbackAgents");
    if (cJSON_IsArray(fb) && cJSON_GetArraySize(fb) > 0)
        cJSON_AddItemToObject(o, "fallback", cJSON_Duplicate(fb, 1));
    to = cJSON_GetObjectItemCaseSensitive(routing, "timeoutMs");
    if (cJSON_IsNumber(to) && to->valuedouble >= 1)
        cJSON_AddNumberToObject(o, "timeout", to->valuedouble);
    if ((s = json_get_string(ctx, "priority")) != NULL)
        cJSON_AddStringToObject(o, "priority", s);
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(ctx, "tags"))
    {
        if (cJSON_IsString(t) && strncmp(t->valuestring, "tenant:", 7) == 0) {
            cJSON_AddStringToObject(o, "tenant", t->valuestring + 7);
            break;
        }
    }
    return o;
}
