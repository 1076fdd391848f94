#include "tests/support/recgen.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/store.h"

static const char *const intents[] = { "demo.echo", "search.web", "text.summarize", "demo.fail" };
static const char *const agents[] = { "echo-a", "flaky-b", "slow-c", "broken-d", "remote-e" };
static const char *const codes[] = { "AGENT_ERROR", "AGENT_TIMEOUT", "AGENT_UNAVAILABLE" };

void
tu_rec_make(struct tu_rec *r, unsigned seed, int64_t base_us)
{
    unsigned h = seed * 2654435761u ^ 0x9e3779b9u;

    memset(r, 0, sizeof(*r));
    snprintf(r->id, sizeof(r->id), "%08x-0000-7000-8000-%012x", seed, h);
    r->created_us = base_us + (int64_t)seed * 1000;
    r->intent = intents[h % 4];
    r->timing = (h >> 3) % 5 != 0; /* one in five looks like the reference's */
    r->n_attempts = 1 + (int)((h >> 6) % 3);
    for (int i = 0; i < r->n_attempts; i++) {
        unsigned g = h >> (8 + 3 * i);
        r->agents[i] = agents[(g + (unsigned)i) % 5];
        r->ok[i] = i == r->n_attempts - 1 ? (g % 4 != 0) : false;
        r->attempt_no[i] = (g >> 2) % 3 == 0 ? 2 : 0;
        r->latency_us[i] = 100 + (int64_t)((g * 7919u) % 500000u);
    }
    if (!r->ok[r->n_attempts - 1])
        r->error_code = codes[(h >> 20) % 3];
    if ((h >> 24) % 7 == 0) {
        r->circuit_agent = r->agents[0];
        r->circuit_to = (h >> 27) % 2 ? "OPEN" : "HALF_OPEN";
    }
}

static void
event(struct buf *b, const struct tu_rec *r, int *seq, const char *type, const char *payload,
      int64_t off)
{
    char ts[CLOCK_ISO_LEN];

    buf_printf(b, "%s{\"seq\":%d,\"type\":\"%s\",\"payload\":%s", *seq > 1 ? "," : "", *seq, type,
               payload);
    if (r->timing) {
        clock_format_iso(r->created_us + off, ts);
        buf_printf(b, ",\"ts\":\"%s\",\"offsetUs\":%lld", ts, (long long)off);
    }
    buf_printf(b, "}");
    (*seq)++;
}

char *
tu_rec_text(const struct tu_rec *r, size_t *len)
{
    struct buf b = BUF_INIT;
    char created[CLOCK_ISO_LEN], p[256];
    int seq = 1;
    int64_t off = 10;
    bool ok = r->ok[r->n_attempts - 1];
    const char *last = r->agents[r->n_attempts - 1];

    clock_format_iso(r->created_us, created);
    buf_printf(&b,
               "{\"header\":{\"executionId\":\"%s\",\"createdUtcIso\":\"%s\",\"envelopeHash\":"
               "\"0000\",\"replayable\":true},\"envelope\":{\"intent\":{\"name\":\"%s\","
               "\"version\":\"1.0\"},\"payload\":{},\"routing\":{\"strategy\":\"fallback\"}},"
               "\"routerDecision\":{\"agent\":\"%s\",\"intent\":\"%s\"},\"events\":[",
               r->id, created, r->intent, last, r->intent);
    event(&b, r, &seq, "INTENT_RECEIVED", "{}", off);
    if (r->circuit_agent != NULL) {
        snprintf(p, sizeof(p), "{\"agent\":\"%s\",\"from\":\"CLOSED\",\"to\":\"%s\"}",
                 r->circuit_agent, r->circuit_to);
        event(&b, r, &seq, "CIRCUIT_STATE_CHANGE", p, off);
    }
    for (int i = 0; i < r->n_attempts; i++) {
        if (r->attempt_no[i] > 0)
            snprintf(p, sizeof(p), "{\"agent\":\"%s\",\"strategy\":\"FALLBACK\",\"attempt\":%d}",
                     r->agents[i], r->attempt_no[i]);
        else
            snprintf(p, sizeof(p), "{\"agent\":\"%s\",\"strategy\":\"FALLBACK\"}", r->agents[i]);
        event(&b, r, &seq, "AGENT_ATTEMPT_START", p, off);
        off += r->latency_us[i];
        snprintf(p, sizeof(p), "{\"agent\":\"%s\",\"status\":\"%s\"}", r->agents[i],
                 r->ok[i] ? "ok" : "error");
        event(&b, r, &seq, "AGENT_ATTEMPT_END", p, off);
        off += 5;
    }
    if (ok)
        snprintf(p, sizeof(p),
                 "{\"status\":\"success\",\"metadata\":{\"agent\":\"%s\"},\"error\":null}", last);
    else
        snprintf(p, sizeof(p),
                 "{\"status\":\"error\",\"metadata\":{\"agent\":\"%s\"},\"error\":{\"code\":\"%s\","
                 "\"message\":\"failed\"}}",
                 last, r->error_code);
    event(&b, r, &seq, "FINAL_RESPONSE", p, off);
    buf_printf(&b, "],\"finalResponse\":%s}", p);
    *len = b.len;
    return b.data;
}

int
tu_rec_write(const char *dir, const struct tu_rec *r, bool by_rename)
{
    char path[600], tmp[640];
    size_t len;
    char *text = tu_rec_text(r, &len);
    int fd, rc = -1;

    snprintf(path, sizeof(path), "%s/%s.json", dir, r->id);
    snprintf(tmp, sizeof(tmp), "%s/.%s.json.tmp", dir, r->id);
    fd = open(by_rename ? tmp : path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0 && write(fd, text, len) == (ssize_t)len)
        rc = 0;
    if (fd >= 0 && close(fd) != 0)
        rc = -1;
    if (rc == 0 && by_rename && rename(tmp, path) != 0)
        rc = -1;
    free(text);
    return rc;
}

struct get_each_seen {
    char (*id)[40];
    char **text;
    size_t *len;
    bool *seen;
    unsigned n;
    int bad;
};

static int
get_each_one(void *ctx, const char *id, const char *text, size_t len)
{
    struct get_each_seen *g = ctx;

    for (unsigned i = 0; i < g->n; i++) {
        if (strcmp(g->id[i], id) == 0) {
            if (g->seen[i] || len != g->len[i] || memcmp(text, g->text[i], len) != 0)
                g->bad++;
            g->seen[i] = true;
            return 0;
        }
    }
    g->bad++; /* an id that was not asked for */
    return 0;
}

void
tu_rec_check_get_each(struct store *s, unsigned from, unsigned n, int64_t base_us)
{
    struct get_each_seen g = { .id = calloc(n + 1, sizeof(*g.id)),
                               .text = calloc(n, sizeof(*g.text)),
                               .len = calloc(n, sizeof(*g.len)),
                               .seen = calloc(n, sizeof(*g.seen)),
                               .n = n };
    const char **ids = calloc(n + 1, sizeof(*ids));
    struct intentus_err err = { 0 };
    long visited;

    assert_non_null(g.id);
    assert_non_null(g.text);
    assert_non_null(g.len);
    assert_non_null(g.seen);
    assert_non_null(ids);
    for (unsigned i = 0; i < n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, from + i, base_us);
        memcpy(g.id[i], r.id, sizeof(r.id));
        g.text[i] = tu_rec_text(&r, &g.len[i]);
        ids[i] = g.id[i];
    }
    /* a well-formed id no record has, asked for in the middle */
    snprintf(g.id[n], sizeof(g.id[n]), "%s", "00000000-0000-4000-8000-00000000abcd");
    if (n > 0) {
        ids[n] = ids[n / 2];
        ids[n / 2] = g.id[n];
    } else {
        ids[0] = g.id[0];
    }
    visited = store_get_raw_each(s, ids, n + 1, get_each_one, &g, &err);
    if (visited < 0)
        fail_msg("store_get_raw_each: %s", err.msg);
    assert_int_equal(visited, n);
    assert_int_equal(g.bad, 0);
    for (unsigned i = 0; i < n; i++) {
        assert_true(g.seen[i]);
        free(g.text[i]);
    }
    free(g.id);
    free(g.text);
    free(g.len);
    free(g.seen);
    free(ids);
}
