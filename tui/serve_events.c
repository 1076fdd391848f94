/* The event hub of `intentus serve` (see the header). One mutex guards the
 * ring, the submitted-tag table and the subscriber list; the agent states
 * that serve_events_watch compares are touched by the collector thread only.
 *
 * A stream is an MHD callback response: its reader copies the subscriber's
 * next events out of the ring and, when there is nothing to send, suspends
 * the connection (the only way MHD allows a reader to wait); publishing an
 * event, a heartbeat falling due or the stop resumes it. */
#include "tui/serve_events.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/breaker.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/registry.h"

#define TAG_SLOTS 4096 /* submitted, not yet completed executions remembered */
#define FILL_MAX 32768 /* bytes a reader prepares at once */

struct slot {
    uint64_t id; /* 0: empty */
    const char *event;
    char *data; /* owned JSON text */
    bool admin_only;
    char tenant[128]; /* "" none */
};

struct tag_slot {
    uint64_t tag;
    char intent[128], tenant[128];
};

struct sub {
    struct serve_events *hub;
    struct MHD_Connection *conn;
    uint64_t cursor; /* next event id to consider */
    uint64_t gap_from, gap_to;
    bool admin, any_tenant;
    char tenants[16][128];
    size_t n_tenants;
    struct buf out;
    size_t off;
    bool greeted, suspended, ending, too_slow;
    bool ended; /* the reader said END_OF_STREAM */
    int64_t last_sent_us;
    struct sub *next;
};

struct agent_look {
    char name[128];
    enum breaker_state state;
    bool has_breaker, enabled;
};

struct serve_events {
    pthread_mutex_t lock;
    struct slot *ring;
    size_t n_ring;
    uint64_t next_id;
    int64_t heartbeat_us;
    struct tag_slot *tags;
    struct sub *subs;
    size_t n_subs;
    bool stopping;
    uint64_t published, slow_disconnects;
    atomic_bool active; /* a subscriber came: from then on events are kept */
    /* collector thread only */
    struct agent_look *looks;
    size_t n_looks;
    bool looked;
    int64_t last_watch_us;
};

struct serve_events *
serve_events_new(const struct serve_events_opts *opts)
{
    struct serve_events *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return NULL;
    h->n_ring = opts != NULL && opts->ring > 0 ? opts->ring : 1024;
    h->heartbeat_us = (opts != NULL && opts->heartbeat_ms > 0 ? opts->heartbeat_ms : 15000) * 1000;
    h->ring = calloc(h->n_ring, sizeof(*h->ring));
    h->tags = calloc(TAG_SLOTS, sizeof(*h->tags));
    if (h->ring == NULL || h->tags == NULL) {
        free(h->ring);
        free(h->tags);
        free(h);
        return NULL;
    }
    h->next_id = 1;
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void
serve_events_free(struct serve_events *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n_ring; i++)
        free(h->ring[i].data);
    while (h->subs != NULL) { /* none after MHD_stop_daemon; defensive */
        struct sub *u = h->subs;
        h->subs = u->next;
        u->hub = NULL;
    }
    free(h->ring);
    free(h->tags);
    free(h->looks);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* The envelope's first tenant:X tag, or "". */
static void
env_tenant(const cJSON *env, char *out, size_t size)
{
    const cJSON *t;

    out[0] = '\0';
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(env, "context"), "tags"))
    {
        if (cJSON_IsString(t) && strncmp(t->valuestring, "tenant:", 7) == 0) {
            snprintf(out, size, "%s", t->valuestring + 7);
            return;
        }
    }
}

void
serve_events_submitted(struct serve_events *h, uint64_t tag, const cJSON *env)
{
    const char *intent;
    char tenant[128];

    if (h == NULL || !atomic_load(&h->active))
        return;
    intent = json_get_string(cJSON_GetObjectItemCaseSensitive(env, "intent"), "name");
    env_tenant(env, tenant, sizeof(tenant));
    pthread_mutex_lock(&h->lock);
    {
        struct tag_slot *t = &h->tags[tag % TAG_SLOTS];
        t->tag = tag;
        snprintf(t->intent, sizeof(t->intent), "%s", intent != NULL ? intent : "");
        snprintf(t->tenant, sizeof(t->tenant), "%s", tenant);
    }
    pthread_mutex_unlock(&h->lock);
}

static bool
sub_sees(const struct sub *u, const struct slot *sl)
{
    if (u->admin)
        return true;
    if (sl->admin_only)
        return false;
    if (u->any_tenant)
        return true;
    if (sl->tenant[0] == '\0')
        return false;
    for (size_t i = 0; i < u->n_tenants; i++)
        if (strcmp(u->tenants[i], sl->tenant) == 0)
            return true;
    return false;
}

/* Connections to resume once the hub is unlocked: MHD takes its own locks
 * in MHD_resume_connection, so it is never called under ours. A suspended
 * connection stays until resumed, so the pointers stay valid meanwhile. */
struct wakes {
    struct MHD_Connection **conn;
    size_t n, cap;
};

/* Hub locked. */
static void
wakes_init(struct serve_events *h, struct wakes *w)
{
    w->n = 0;
    w->cap = h->n_subs;
    w->conn = w->cap > 0 ? calloc(w->cap, sizeof(*w->conn)) : NULL;
    if (w->conn == NULL)
        w->cap = 0;
}

/* Hub locked. */
static void
wake(struct sub *u, struct wakes *w)
{
    if (!u->suspended)
        return;
    if (w->n < w->cap) {
        u->suspended = false;
        w->conn[w->n++] = u->conn;
    } else if (w->cap == 0 && w->conn == NULL) {
        /* out of memory for the list: no better way than now */
        u->suspended = false;
        MHD_resume_connection(u->conn);
    }
}

/* Hub unlocked. */
static void
wakes_run(struct wakes *w)
{
    for (size_t i = 0; i < w->n; i++)
        MHD_resume_connection(w->conn[i]);
    free(w->conn);
    w->conn = NULL;
    w->n = w->cap = 0;
}

/* Publish data (taken) as event; hub locked by the caller. */
static void
publish_locked(struct serve_events *h, const char *event, char *data, bool admin_only,
               const char *tenant, struct wakes *w)
{
    uint64_t id = h->next_id++;
    struct slot *sl = &h->ring[id % h->n_ring];

    free(sl->data);
    sl->id = id;
    sl->event = event;
    sl->data = data;
    sl->admin_only = admin_only;
    snprintf(sl->tenant, sizeof(sl->tenant), "%s", tenant != NULL ? tenant : "");
    h->published++;
    for (struct sub *u = h->subs; u != NULL; u = u->next) {
        /* The slot that the next event takes holds id + 1 - n_ring: a
         * subscriber not past it yet would lose it. */
        if (!u->too_slow && !u->ending && id + 1 >= u->cursor + h->n_ring) {
            /* Counted now: it gets no more events. Its stream ends when it
             * reads again (or MHD's idle timeout closes it). */
            u->too_slow = true;
            h->slow_disconnects++;
        }
        if (u->too_slow || sub_sees(u, sl))
            wake(u, w);
    }
}

static void
publish(struct serve_events *h, const char *event, cJSON *o, bool admin_only, const char *tenant)
{
    char *data = o != NULL ? cJSON_PrintUnformatted(o) : NULL;
    struct wakes w;

    cJSON_Delete(o);
    if (data == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    wakes_init(h, &w);
    publish_locked(h, event, data, admin_only, tenant, &w);
    pthread_mutex_unlock(&h->lock);
    wakes_run(&w);
}

void
serve_events_completion(struct serve_events *h, const struct completion *c)
{
    struct tag_slot t = { 0 };
    const cJSON *md;
    const char *agent, *code;
    char now[CLOCK_ISO_LEN];
    cJSON *o;

    if (h == NULL || !atomic_load(&h->active))
        return;
    pthread_mutex_lock(&h->lock);
    if (h->tags[c->tag % TAG_SLOTS].tag == c->tag) {
        t = h->tags[c->tag % TAG_SLOTS];
        h->tags[c->tag % TAG_SLOTS].tag = 0;
    }
    pthread_mutex_unlock(&h->lock);
    md = cJSON_GetObjectItemCaseSensitive(c->response, "metadata");
    agent = json_get_string(md, "agent");
    code = response_error_code(c->response);
    clock_now_iso(now);
    o = cJSON_CreateObject();
    if (o == NULL)
        return;
    if (c->execution_id[0] != '\0')
        cJSON_AddStringToObject(o, "executionId", c->execution_id);
    else
        cJSON_AddNullToObject(o, "executionId");
    if (t.intent[0] != '\0')
        cJSON_AddStringToObject(o, "intent", t.intent);
    else
        cJSON_AddNullToObject(o, "intent");
    if (t.tenant[0] != '\0')
        cJSON_AddStringToObject(o, "tenant", t.tenant);
    else
        cJSON_AddNullToObject(o, "tenant");
    cJSON_AddStringToObject(o, "status",
                            c->cancelled                     ? "cancelled"
                            : response_is_error(c->response) ? "error"
                                                             : "success");
    if (agent != NULL)
        cJSON_AddStringToObject(o, "agent", agent);
    else
        cJSON_AddNullToObject(o, "agent");
    if (code != NULL)
        cJSON_AddStringToObject(o, "errorCode", code);
    else
        cJSON_AddNullToObject(o, "errorCode");
    cJSON_AddNumberToObject(o, "durationMs", (double)c->latency_us / 1000.0);
    cJSON_AddNumberToObject(o, "attempts", c->attempts);
    cJSON_AddBoolToObject(o, "recorded", c->recorded);
    cJSON_AddStringToObject(o, "time", now);
    publish(h, "execution", o, false, t.tenant);
}

static cJSON *
control_event(const char *agent)
{
    char now[CLOCK_ISO_LEN];
    cJSON *o = cJSON_CreateObject();

    clock_now_iso(now);
    if (o != NULL && agent != NULL)
        cJSON_AddStringToObject(o, "agent", agent);
    if (o != NULL)
        cJSON_AddStringToObject(o, "time", now);
    return o;
}

static void
breaker_event(struct serve_events *h, const struct agent *ag, enum breaker_state from,
              const struct breaker_stats *bs, int64_t now_us)
{
    cJSON *o = control_event(ag->name);

    if (o == NULL)
        return;
    cJSON_AddStringToObject(o, "from", breaker_state_name(from));
    cJSON_AddStringToObject(o, "to", breaker_state_name(bs->state));
    if (bs->state == BREAKER_OPEN && bs->next_probe_us > 0) {
        char at[CLOCK_ISO_LEN];
        int64_t in_us = bs->next_probe_us > now_us ? bs->next_probe_us - now_us : 0;
        clock_format_iso(clock_wall_us() + in_us, at);
        int64_t cooldown_ms = (bs->next_probe_us - bs->opened_at_us) / 1000, in_ms = in_us / 1000;
        if (bs->opened_at_us > 0 && cooldown_ms > 0)
            cJSON_AddNumberToObject(o, "cooldownMs", (double)cooldown_ms); /* whole ms */
        cJSON_AddNumberToObject(o, "nextProbeInMs", (double)in_ms);
        cJSON_AddStringToObject(o, "nextProbeAt", at);
    }
    publish(h, "breaker", o, true, NULL);
}

bool
serve_events_watch_due(struct serve_events *h)
{
    return h != NULL && atomic_load(&h->active) && clock_mono_us() - h->last_watch_us >= 5000;
}

void
serve_events_watch(struct serve_events *h, struct runtime *rt, const struct config *cfg)
{
    size_t n = registry_count(cfg->registry);
    struct agent_look *looks;
    int64_t now = clock_mono_us();

    if (h == NULL)
        return;
    looks = calloc(n > 0 ? n : 1, sizeof(*looks));
    if (looks == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        struct agent *ag = registry_at(cfg->registry, i);
        struct agent_look *l = &looks[i], *old = NULL;
        struct breaker_stats bs = { 0 };
        snprintf(l->name, sizeof(l->name), "%s", ag->name);
        l->has_breaker = ag->breaker != NULL;
        l->enabled = runtime_agent_enabled(rt, ag->name);
        if (l->has_breaker)
            breaker_snapshot(ag->breaker, now, &bs);
        l->state = bs.state;
        for (size_t j = 0; h->looked && j < h->n_looks; j++)
            if (strcmp(h->looks[j].name, l->name) == 0)
                old = &h->looks[j];
        if (old == NULL || !atomic_load(&h->active))
            continue;
        if (old->has_breaker && l->has_breaker && old->state != l->state)
            breaker_event(h, ag, old->state, &bs, now);
        if (old->enabled != l->enabled) {
            cJSON *o = control_event(ag->name);
            if (o != NULL)
                cJSON_AddBoolToObject(o, "enabled", l->enabled);
            publish(h, "agent", o, true, NULL);
        }
    }
    free(h->looks);
    h->looks = looks;
    h->n_looks = n;
    h->looked = true;
    h->last_watch_us = now;
    /* heartbeats falling due */
    {
        struct wakes w;
        pthread_mutex_lock(&h->lock);
        wakes_init(h, &w);
        for (struct sub *u = h->subs; u != NULL; u = u->next)
            if (u->suspended && now - u->last_sent_us >= h->heartbeat_us)
                wake(u, &w);
        pthread_mutex_unlock(&h->lock);
        wakes_run(&w);
    }
}

void
serve_events_reload(struct serve_events *h, bool ok, const char *msg)
{
    cJSON *o;

    if (h == NULL || !atomic_load(&h->active))
        return;
    o = control_event(NULL);
    if (o == NULL)
        return;
    cJSON_AddBoolToObject(o, "ok", ok);
    if (!ok && msg != NULL)
        cJSON_AddStringToObject(o, "error", msg);
    publish(h, "reload", o, true, NULL);
}

/* ---- streams ---- */

/* Prepare the subscriber's next bytes; hub locked. */
static void
fill(struct serve_events *h, struct sub *u, int64_t now)
{
    uint64_t oldest = h->next_id > h->n_ring ? h->next_id - h->n_ring : 1;

    buf_reset(&u->out);
    u->off = 0;
    if (!u->greeted) {
        buf_printf(&u->out, "retry: 3000\n: intentus events\n\n");
        u->greeted = true;
    }
    if (h->stopping) {
        buf_printf(&u->out, ": the service is stopping\n\n");
        u->ending = true;
        return;
    }
    if (u->too_slow || u->cursor < oldest) {
        buf_printf(&u->out,
                   "event: disconnected\ndata: {\"reason\":\"too slow: more than %zu "
                   "events behind\"}\n\n",
                   h->n_ring);
        if (!u->too_slow)
            h->slow_disconnects++;
        u->too_slow = u->ending = true;
        return;
    }
    if (u->gap_to != 0) {
        buf_printf(&u->out,
                   "event: gap\ndata: {\"from\":%" PRIu64 ",\"to\":%" PRIu64
                   ",\"reason\":\"no longer kept\"}\n\n",
                   u->gap_from, u->gap_to);
        u->gap_to = 0;
    }
    for (; u->cursor < h->next_id && u->out.len < FILL_MAX; u->cursor++) {
        const struct slot *sl = &h->ring[u->cursor % h->n_ring];
        if (sl->id != u->cursor || !sub_sees(u, sl))
            continue;
        buf_printf(&u->out, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", sl->id, sl->event,
                   sl->data);
    }
    if (u->out.len == 0 && now - u->last_sent_us >= h->heartbeat_us)
        buf_printf(&u->out, ": heartbeat\n\n");
}

static ssize_t
sub_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct sub *u = cls;
    struct serve_events *h = u->hub;
    int64_t now = clock_mono_us();
    ssize_t n = 0;

    (void)pos;
    pthread_mutex_lock(&h->lock);
    if (u->off >= u->out.len && !u->ending)
        fill(h, u, now);
    if (u->off < u->out.len) {
        size_t k = u->out.len - u->off < max ? u->out.len - u->off : max;
        memcpy(out, u->out.data + u->off, k);
        u->off += k;
        u->last_sent_us = now;
        n = (ssize_t)k;
    } else if (u->ending) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
        u->ended = true;
    } else {
        u->suspended = true;
        MHD_suspend_connection(u->conn);
    }
    pthread_mutex_unlock(&h->lock);
    return n;
}

static void
sub_free(void *cls)
{
    struct sub *u = cls;
    struct serve_events *h = u->hub;

    if (h != NULL) {
        pthread_mutex_lock(&h->lock);
        for (struct sub **p = &h->subs; *p != NULL; p = &(*p)->next) {
            if (*p == u) {
                *p = u->next;
                h->n_subs--;
                break;
            }
        }
        pthread_mutex_unlock(&h->lock);
    }
    buf_free(&u->out);
    free(u);
}

static enum MHD_Result
plain_error(struct MHD_Connection *conn, unsigned status, const char *json)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)(uintptr_t)json,
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 503)
        MHD_add_response_header(r, "Retry-After", "1");
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Last-Event-ID: a decimal id, or -1 when absent or not one. */
static int64_t
last_event_id(struct MHD_Connection *conn)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    char *end;
    long long n;

    if (v == NULL || *v < '0' || *v > '9')
        return -1;
    n = strtoll(v, &end, 10);
    return *end == '\0' && n >= 0 ? (int64_t)n : -1;
}

enum MHD_Result
serve_events_serve(struct serve_events *h, struct MHD_Connection *conn,
                   const struct serve_events_viewer *viewer)
{
    struct sub *u = calloc(1, sizeof(*u));
    struct MHD_Response *r;
    int64_t last = last_event_id(conn);
    enum MHD_Result ret;

    if (u == NULL)
        return MHD_NO;
    u->hub = h;
    u->conn = conn;
    u->admin = viewer->admin;
    for (size_t i = 0; i < viewer->n_tenants && u->n_tenants < 16; i++) {
        if (strcmp(viewer->tenants[i], "*") == 0)
            u->any_tenant = true;
        snprintf(u->tenants[u->n_tenants++], sizeof(u->tenants[0]), "%s", viewer->tenants[i]);
    }
    buf_init(&u->out);
    u->last_sent_us = clock_mono_us();
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sub_read, u, sub_free);
    if (r == NULL) {
        free(u);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    pthread_mutex_lock(&h->lock);
    if (h->stopping) {
        pthread_mutex_unlock(&h->lock);
        MHD_destroy_response(r); /* frees u through sub_free (hub not listing it) */
        return plain_error(conn, 503,
                           "{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"the service is "
                           "stopping\"}}");
    }
    atomic_store(&h->active, true);
    {
        uint64_t oldest = h->next_id > h->n_ring ? h->next_id - h->n_ring : 1;
        if (last >= 0 && (uint64_t)last < h->next_id) {
            u->cursor = (uint64_t)last + 1;
            if (u->cursor < oldest) {
                u->gap_from = u->cursor;
                u->gap_to = oldest - 1;
                u->cursor = oldest;
            }
        } else {
            u->cursor = h->next_id;
        }
    }
    u->next = h->subs;
    h->subs = u;
    h->n_subs++;
    pthread_mutex_unlock(&h->lock);
    ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

void
serve_events_stop(struct serve_events *h)
{
    struct wakes w;

    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    wakes_init(h, &w);
    for (struct sub *u = h->subs; u != NULL; u = u->next)
        wake(u, &w);
    pthread_mutex_unlock(&h->lock);
    wakes_run(&w);
    /* Let the streams end cleanly (their last chunk sent) before the caller
     * stops the daemon, which would cut them; bounded: a client that does
     * not read is cut after 1 s. */
    for (int i = 0; i < 100; i++) {
        bool all = true;
        struct timespec ts = { 0, 10 * 1000000L };
        pthread_mutex_lock(&h->lock);
        for (struct sub *u = h->subs; u != NULL; u = u->next)
            all &= u->ended;
        pthread_mutex_unlock(&h->lock);
        if (all)
            break;
        nanosleep(&ts, NULL);
    }
}

void
serve_events_metrics(struct serve_events *h, struct buf *b)
{
    size_t subs;
    uint64_t published, slow;

    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    subs = h->n_subs;
    published = h->published;
    slow = h->slow_disconnects;
    pthread_mutex_unlock(&h->lock);
    buf_printf(b,
               "# TYPE intentus_events_subscribers gauge\nintentus_events_subscribers %zu\n"
               "# TYPE intentus_events_published_total counter\n"
               "intentus_events_published_total %" PRIu64 "\n"
               "# HELP intentus_events_slow_disconnects_total Event streams cut because the "
               "subscriber fell a whole ring behind.\n"
               "# TYPE intentus_events_slow_disconnects_total counter\n"
               "intentus_events_slow_disconnects_total %" PRIu64 "\n",
               subs, published, slow);
}
