/* intentus route: build an envelope, route it through the embedded runtime
 * (so the config's policy, limits, sampling and redaction apply), record it,
 * print the response. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/runtime.h"
#include "core/units.h"
#include "tui/cli.h"
#include "tui/fmt.h"

static const char route_help[] =
    "Usage: intentus route INTENT [options]\n"
    "\n"
    "Route one intent through the embedded router, record the execution and print\n"
    "the response JSON on stdout (the execution id goes to stderr).\n"
    "\n"
    "Options:\n"
    "  -p, --payload JSON|@FILE|-  payload object (default {}); @FILE reads a file,\n"
    "                              - reads stdin\n"
    "  -s, --strategy S            direct (default), fallback, broadcast, parallel\n"
    "  -t, --target AGENT          target agent (DIRECT only)\n"
    "  -f, --fallback A,B,...      exact FALLBACK chain, in order\n"
    "  -P, --priority P            low, normal (default), high\n"
    "  -T, --tenant T              tenant, sent as context tag tenant:T\n"
    "  -V, --intent-version V      intent version (default 1.0)\n"
    "  -m, --timeout DURATION      overall deadline for the execution (e.g. 500ms,\n"
    "                              2s; a bare number is milliseconds)\n"
    "  -N, --async-n N             fire N copies through the async worker pool and\n"
    "                              print a summary (ok/error, latency percentiles,\n"
    "                              circuit states) instead of one response\n"
    "  -w, --workers N             worker threads for --async-n (default 4)\n"
    "  -c, --config FILE           config file (default: search order, then demo)\n"
    "  -d, --dir DIR               record directory (overrides the config)\n"
    "  -n, --no-record             do not record this execution\n"
    "  -q, --quiet                 print nothing on stderr\n"
    "  -h, --help                  this help\n"
    "\n"
    "The config's policy, payload limits, sampling and redaction apply: a refused\n"
    "request answers UNAUTHORIZED, RATE_LIMIT or PAYLOAD_TOO_LARGE and is recorded;\n"
    "a request sampled out (recording.sample_rate) is not recorded, which is not\n"
    "an error.\n"
    "\n"
    "Exit status: 0 success, 1 error response (or recording failed),\n"
    "2 usage or configuration error.\n";

#define MAX_LIST 64

static char *
read_stream(FILE *f, size_t *len)
{
    struct buf b = BUF_INIT;

    if (buf_read_stream(&b, f, 64u * 1024 * 1024) != 0) {
        buf_free(&b);
        return NULL; /* errno says why */
    }
    *len = b.len;
    return buf_take(&b); /* "" for an empty stream */
}

/* The payload argument: inline JSON, @file, or - for stdin. */
static cJSON *
load_payload(const char *arg)
{
    struct intentus_err err = { 0 };
    const char *what = "payload";
    char *text = NULL;
    size_t len = 0;
    cJSON *v;

    if (strcmp(arg, "-") == 0) {
        text = read_stream(stdin, &len);
        what = "payload (stdin)";
    } else if (arg[0] == '@') {
        FILE *f = fopen(arg + 1, "rb");
        if (f == NULL) {
            cli_usage_error("route", "--payload: cannot open %s", arg + 1);
            return NULL;
        }
        text = read_stream(f, &len);
        fclose(f);
        what = arg + 1;
    } else {
        text = strdup(arg);
        len = strlen(arg);
    }
    if (text == NULL) {
        cli_usage_error("route", "--payload: cannot read %s: %s", what,
                        errno == EFBIG ? "larger than 64 MiB" : strerror(errno));
        return NULL;
    }
    v = json_parse(text, len, 64, &err);
    free(text);
    if (v == NULL) {
        cli_usage_error("route", "--payload: %s: %s", what, err.msg);
        return NULL;
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        cli_usage_error("route", "--payload: %s: must be a JSON object ({...})", what);
        return NULL;
    }
    return v;
}

/* Split "a,b,c" in place into items[] (NULL-terminated). */
static int
split_list(char *s, const char **items, size_t max)
{
    size_t n = 0;

    for (char *tok = strtok(s, ","); tok != NULL; tok = strtok(NULL, ",")) {
        if (tok[0] == '\0')
            continue;
        if (n + 1 >= max)
            return -1;
        items[n++] = tok;
    }
    items[n] = NULL;
    return (int)n;
}

struct route_args {
    const char *intent, *payload, *config, *dir, *tenant;
    char *fallback;
    struct envelope_opts env;
    long async_n, workers;
    int no_record, quiet;
};

static int
parse_args(int argc, char **argv, struct route_args *a)
{
    static const struct option opts[] = {
        { "payload", required_argument, NULL, 'p' },
        { "strategy", required_argument, NULL, 's' },
        { "target", required_argument, NULL, 't' },
        { "fallback", required_argument, NULL, 'f' },
        { "priority", required_argument, NULL, 'P' },
        { "tenant", required_argument, NULL, 'T' },
        { "intent-version", required_argument, NULL, 'V' },
        { "config", required_argument, NULL, 'c' },
        { "dir", required_argument, NULL, 'd' },
        { "timeout", required_argument, NULL, 'm' },
        { "async-n", required_argument, NULL, 'N' },
        { "workers", required_argument, NULL, 'w' },
        { "no-record", no_argument, NULL, 'n' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    a->env.priority = PRIORITY_NORMAL;
    a->env.strategy = STRATEGY_DIRECT;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:s:t:f:P:T:V:c:d:m:N:w:nq", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            a->payload = optarg;
            break;
        case 's':
            if (model_strategy_parse(optarg, &a->env.strategy) != 0)
                return cli_usage_error("route",
                                       "--strategy: unknown strategy '%s' (direct, fallback, "
                                       "broadcast, parallel)",
                                       optarg);
            break;
        case 't':
            a->env.target_agent = optarg;
            break;
        case 'f':
            a->fallback = optarg;
            break;
        case 'P':
            if (model_priority_parse(optarg, &a->env.priority) != 0)
                return cli_usage_error(
                    "route", "--priority: unknown priority '%s' (low, normal, high)", optarg);
            break;
        case 'T':
            if (optarg[0] == '\0')
                return cli_usage_error("route", "--tenant: must not be empty");
            a->tenant = optarg;
            break;
        case 'V':
            a->env.intent_version = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'd':
            a->dir = optarg;
            break;
        case 'm':
            if (units_parse_duration_ms(optarg, &a->env.timeout_ms, NULL) != 0 ||
                a->env.timeout_ms <= 0)
                return cli_usage_error("route", "--timeout: '%s' is not a positive duration",
                                       optarg);
            break;
        case 'N':
        case 'w': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != '\0' || end == optarg || v < 1 || v > (c == 'N' ? 10000000 : 256))
                return cli_usage_error("route", "--%s: '%s' is not a number from 1 to %d",
                                       c == 'N' ? "async-n" : "workers", optarg,
                                       c == 'N' ? 10000000 : 256);
            if (c == 'N')
                a->async_n = v;
            else
                a->workers = v;
            break;
        }
        case 'n':
            a->no_record = 1;
            break;
        case 'q':
            a->quiet = 1;
            break;
        default:
            if (optopt != 0)
                return cli_usage_error("route", "option -%c needs a value or is unknown", optopt);
            return cli_usage_error("route", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error("route", "missing INTENT");
    if (optind + 1 < argc)
        return cli_usage_error("route", "unexpected argument '%s'", argv[optind + 1]);
    a->intent = argv[optind];
    if (a->intent[0] == '\0')
        return cli_usage_error("route", "INTENT must not be empty");
    return EXIT_OK;
}

/* One envelope for this command line; payload is copied, not taken. */
static cJSON *
build_envelope(const struct route_args *a, const cJSON *payload, struct intentus_err *err)
{
    return envelope_new(a->intent, cJSON_Duplicate(payload, 1), &a->env, err);
}

/* --async-n: fire N envelopes through the worker pool, then summarise. */
static int
run_async(const struct route_args *a, struct runtime *rt, const cJSON *payload)
{
    struct intentus_err err = { 0 };
    const struct config *cfg = runtime_config(rt);
    int64_t *lat = calloc((size_t)a->async_n, sizeof(int64_t));
    size_t done = 0, ok = 0, unrecorded = 0;
    long submitted = 0;
    int64_t t0 = clock_mono_us(), wall;
    struct completion batch[128];
    cJSON *codes = cJSON_CreateObject();
    char lat_line[128];

    if (lat == NULL || codes == NULL) {
        fprintf(stderr, "intentus route: out of memory\n");
        free(lat);
        cJSON_Delete(codes);
        return EXIT_FAIL;
    }
    while (done < (size_t)a->async_n) {
        struct pollfd pfd = { runtime_completion_fd(rt), POLLIN, 0 };
        size_t n;
        while (submitted < a->async_n) {
            cJSON *env = build_envelope(a, payload, &err);
            if (env == NULL || runtime_submit(rt, env, (uint64_t)submitted, &err) != 0) {
                cJSON_Delete(env);
                break; /* queue full: collect, then submit more */
            }
            submitted++;
        }
        poll(&pfd, 1, 100);
        n = runtime_collect(rt, batch, sizeof(batch) / sizeof(batch[0]));
        for (size_t i = 0; i < n; i++) {
            const char *code = response_error_code(batch[i].response);
            lat[done++] = batch[i].latency_us;
            if (!response_is_error(batch[i].response)) {
                ok++;
            } else {
                cJSON *c = cJSON_GetObjectItemCaseSensitive(codes, code ? code : "UNKNOWN");
                if (c != NULL)
                    cJSON_SetNumberValue(c, c->valuedouble + 1);
                else
                    cJSON_AddNumberToObject(codes, code ? code : "UNKNOWN", 1);
            }
            if (!a->no_record && !batch[i].recorded && !batch[i].sampled_out)
                unrecorded++;
            completion_free(&batch[i]);
        }
    }
    runtime_flush(rt); /* an async writer's records are on disk before we report */
    wall = clock_mono_us() - t0;
    fmt_latency_summary(lat, done, lat_line, sizeof(lat_line));
    printf("%zu executions of %s in %.2fs (%.0f/s): %zu ok, %zu error\n", done, a->intent,
           (double)wall / 1e6, (double)done * 1e6 / (double)(wall > 0 ? wall : 1), ok, done - ok);
    printf("latency (submit to completion): %s\n", lat_line);
    if (done > ok) {
        const cJSON *c;
        printf("errors:");
        cJSON_ArrayForEach(c, codes) printf(" %s %d", c->string, (int)c->valuedouble);
        printf("\n");
    }
    printf("circuits:");
    for (size_t i = 0; i < registry_count(cfg->registry); i++) {
        struct agent *ag = registry_at(cfg->registry, i);
        struct breaker_stats bs;
        if (ag->breaker == NULL ||
            !agent_handles(ag, a->intent, a->env.intent_version ? a->env.intent_version : "1.0"))
            continue;
        breaker_snapshot(ag->breaker, clock_mono_us(), &bs);
        printf(" %s %s (%llu calls, %llu failed, %llu skipped)", ag->name,
               breaker_state_name(bs.state), (unsigned long long)bs.calls,
               (unsigned long long)bs.failures, (unsigned long long)bs.rejected);
    }
    printf("\n");
    {
        struct runtime_stats st;
        runtime_stats(rt, &st);
        if (!a->no_record)
            printf("recording: %llu recorded, %llu sampled out, %llu dropped, %llu failed\n",
                   (unsigned long long)st.recorded, (unsigned long long)st.sampled_out,
                   (unsigned long long)st.dropped, (unsigned long long)st.record_errors);
    }
    if (unrecorded > 0)
        fprintf(stderr, "intentus route: %zu executions were NOT recorded\n", unrecorded);
    cJSON_Delete(codes);
    free(lat);
    return ok == done && unrecorded == 0 ? EXIT_OK : EXIT_FAIL;
}

int
cli_route(int argc, char **argv)
{
    struct route_args a = { 0 };
    struct intentus_err err = { 0 };
    const char *fallback[MAX_LIST], *tags[2] = { NULL, NULL };
    char tenant_tag[512];
    struct runtime *rt = NULL;
    struct route_result res = { 0 };
    cJSON *payload = NULL, *env = NULL;
    int rc;

    if (cli_wants_help(argc, argv)) {
        fputs(route_help, stdout);
        return EXIT_OK;
    }
    rc = parse_args(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    /* Say so when an option cannot take effect, rather than drop it silently. */
    if (!a.quiet && a.env.target_agent != NULL && a.env.strategy != STRATEGY_DIRECT)
        fprintf(stderr,
                "intentus route: note: --target is used by the direct strategy only; "
                "%s ignores it\n",
                model_strategy_wire(a.env.strategy));
    if (!a.quiet && a.fallback != NULL && a.env.strategy != STRATEGY_FALLBACK)
        fprintf(stderr,
                "intentus route: note: --fallback is used by the fallback strategy "
                "only; %s ignores it\n",
                model_strategy_wire(a.env.strategy));
    if (a.fallback != NULL) {
        if (split_list(a.fallback, fallback, MAX_LIST) < 0)
            return cli_usage_error("route", "--fallback: at most %d agents", MAX_LIST - 1);
        a.env.fallback_agents = fallback;
    }
    if (a.tenant != NULL) {
        snprintf(tenant_tag, sizeof(tenant_tag), "tenant:%s", a.tenant);
        tags[0] = tenant_tag;
        a.env.tags = tags;
    }
    rc = EXIT_USAGE;
    payload = a.payload != NULL ? load_payload(a.payload) : cJSON_CreateObject();
    if (payload == NULL)
        goto out;
    env = build_envelope(&a, payload, &err);
    if (env == NULL) {
        rc = cli_usage_error("route", "%s", err.msg);
        goto out;
    }
    rt = runtime_open(a.config,
                      &(struct runtime_opts){ .records_dir = a.dir,
                                              .workers = (int)a.workers,
                                              .no_record = a.no_record != 0 },
                      &err);
    if (rt == NULL) {
        fprintf(stderr, "intentus: %s\n", err.msg);
        goto out;
    }
    if (a.async_n > 0) {
        rc = run_async(&a, rt, payload);
        goto out;
    }
    if (runtime_route(rt, env, &res) != 0) {
        fprintf(stderr, "intentus route: out of memory\n");
        rc = EXIT_FAIL;
        goto out;
    }
    runtime_flush(rt);
    cli_print_json(stdout, res.response);
    rc = response_is_error(res.response) ? EXIT_FAIL : EXIT_OK;
    if (a.no_record) {
        /* nothing to say */
    } else if (res.sampled_out) {
        if (!a.quiet)
            fprintf(stderr, "execution sampled out (recording.sample_rate): not recorded\n");
    } else if (!res.recorded) {
        fprintf(stderr, "intentus route: execution %s was NOT recorded: %s\n",
                res.execution_id[0] ? res.execution_id : "(no id)", res.record_err.msg);
        rc = EXIT_FAIL;
    } else if (!a.quiet) {
        fprintf(stderr, "execution %s recorded in %s\n", res.execution_id, runtime_records_dir(rt));
    }
out:
    route_result_free(&res);
    runtime_close(rt);
    cJSON_Delete(env);
    cJSON_Delete(payload);
    return rc;
}
