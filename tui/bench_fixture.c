/* What the benchmarks route and hash: a configuration of in-process agents
 * (breakers off, so a failing agent is tried every time and every execution
 * takes the same path), payloads of a chosen size, and envelopes. */
#include "tui/bench_fixture.h"

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"

/* bench.echo: DIRECT to echo. bench.fallback: two failing agents, then
 * echo. bench.fail: everything fails (an error record). bench.upper: upper. */
static const char config_text[] =
    "{ \"require_determinism\": true,\n"
    "  \"defaults\": { \"breaker\": { \"enabled\": false } },\n"
    "  \"agents\": [\n"
    "    { \"name\": \"fail-1\", \"builtin\": \"fail\", \"error_code\": \"AGENT_ERROR\",\n"
    "      \"intents\": [\"bench.fallback\", \"bench.fail\"], \"nodePriority\": 1 },\n"
    "    { \"name\": \"fail-2\", \"builtin\": \"fail\", \"error_code\": \"AGENT_UNAVAILABLE\",\n"
    "      \"intents\": [\"bench.fallback\", \"bench.fail\"], \"nodePriority\": 2 },\n"
    "    { \"name\": \"echo-a\", \"builtin\": \"echo\",\n"
    "      \"intents\": [\"bench.echo\", \"bench.fallback\"], \"nodePriority\": 3 },\n"
    "    { \"name\": \"upper-u\", \"builtin\": \"upper\", \"intents\": [\"bench.upper\"],\n"
    "      \"nodePriority\": 4 }\n"
    "  ] }\n";

struct config *
bench_config(struct intentus_err *err)
{
    return config_parse(config_text, strlen(config_text), "bench configuration", err);
}

/* Words for text fields: mostly ASCII, some accented (escaped as \u00XX in
 * canonical JSON, as real multilingual payloads are). */
static const char *const words[] = { "route",  "intent", "agent", "record", "latency",
                                     "café",   "naïve",  "über",  "façade", "summary",
                                     "search", "result", "token", "window", "déjà" };

static void
text_field(struct buf *b, unsigned seed, size_t chars)
{
    size_t start = b->len;
    unsigned k = seed;

    while (b->len - start < chars) {
        k = k * 1103515245U + 12345U;
        buf_puts(b, words[(k >> 16) % (sizeof(words) / sizeof(words[0]))]);
        buf_putc(b, ' ');
    }
}

cJSON *
bench_payload(size_t target, unsigned seed, bool floats)
{
    struct buf b;
    cJSON *p;
    unsigned i = 0;

    buf_init(&b);
    buf_printf(&b, "{\"query\":\"");
    text_field(&b, seed, target < 400 ? target / 3 : 120);
    buf_printf(&b, "\",\"lang\":\"en\",\"maxResults\":10,\"temperature\":%s,\"items\":[",
               floats ? "0.25" : "1");
    /* Items of ~200 bytes until the payload reaches the target. */
    while (b.len + 60 < target) {
        buf_printf(&b, "%s{\"id\":%u,\"score\":%u%s%u,\"tags\":[\"a\",\"b\"],\"text\":\"",
                   i ? "," : "", i, (seed + i) % 100, floats ? "." : "", (i * 7) % 10);
        text_field(&b, seed + i * 31U, 120);
        buf_puts(&b, "\"}");
        i++;
    }
    buf_puts(&b, "]}");
    p = json_parse(b.data, b.len, 0, NULL); /* number text kept, as for real input */
    buf_free(&b);
    return p;
}

cJSON *
bench_envelope(const char *intent, enum strategy strategy, size_t payload_size, unsigned seed)
{
    struct envelope_opts o = { .strategy = strategy, .source = "intentus-bench" };
    cJSON *payload = bench_payload(payload_size, seed, true);

    if (payload == NULL)
        return NULL;
    return envelope_new(intent, payload, &o, NULL);
}
