/* intentus route: build an envelope, route it through the embedded runtime
 * (so the config's policy, limits, sampling and redaction apply), record it,
 * print the response. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/runtime.h"
#include "core/safe_file.h"
#include "core/units.h"
#include "tui/cli.h"
#include "tui/fmt.h"
#include "tui/serve_client.h"
#include "watch/stores.h"

static const char route_help[] =
    "Usage: intentus route INTENT [options]\n"
    "\n"
    "Route one intent through the embedded router, record the execution and print\n"
    "the response JSON on stdout (the execution id goes to stderr).\n"
    "\n"
    "Options:\n"
    "  -p, --payload JSON|@FILE|-  payload object (default {}); @FILE reads a file,\n"
    "                              - reads stdin (at most 64 MiB of text)\n"
    "  -s, --strategy S            direct (default), fallback, broadcast, parallel\n"
    "  -t, --target AGENT          target agent (with the direct strategy only)\n"
    "  -f, --fallback A,B,...      exact FALLBACK chain, in order (with --strategy\n"
    "                              fallback only)\n"
    "  -P, --priority P            low, normal (default), high\n"
    "  -T, --tenant T              tenant, sent as context tag tenant:T\n"
    "  -V, --intent-version V      intent version (default 1.0)\n"
    "  -m, --timeout DURATION      overall deadline for the execution (e.g. 500ms,\n"
    "                              2s; a bare number is milliseconds)\n"
    "  -N, --async-n N             fire N copies through the async worker pool and\n"
    "                              print a summary (ok/error, latency percentiles,\n"
    "                              circuit states) instead of one response\n"
    "  -w, --workers N             worker threads for --async-n (default 4; only\n"
    "                              with --async-n)\n"
    "  -c, --config FILE           config file (default: search order, then demo)\n"
    "  -d, --dir DIR               record directory (overrides the config; not with\n"
    "                              --no-record)\n"
    "      --store URL             where the record goes: file:DIR, sqlite:PATH,\n"
    "                              postgres://... (overrides recording.store; not\n"
    "                              with --dir or --no-record)\n"
    "  -n, --no-record             do not record this execution\n"
    "      --server URL            send it to a running 'intentus serve' instead\n"
    "                              (POST URL/v1/route): its breakers, limits and\n"
    "                              records apply; not with --config, --dir,\n"
    "                              --no-record, --async-n, --workers\n"
    "      --token-file FILE       the bearer token for --server (default:\n"
    "                              $INTENTUS_TOKEN); never printed\n"
    "      --cacert FILE           CA certificate(s), PEM, that verify an https://\n"
    "                              --server (default: $INTENTUS_CACERT, else the\n"
    "                              system's CAs)\n"
    "  -q, --quiet                 no status lines on stderr (the execution id, the\n"
    "                              executions NOT recorded); the exit status still\n"
    "                              says so, and usage errors are still printed\n"
    "  -h, --help                  this help\n"
    "\n"
    "The config's policy, payload limits, sampling and redaction apply: a refused\n"
    "request answers UNAUTHORIZED, RATE_LIMIT or PAYLOAD_TOO_LARGE and is recorded;\n"
    "a request sampled out (recording.sample_rate) is not recorded, which is not\n"
    "an error. A payload whose record could not be hashed or would not fit in a\n"
    "record file is refused before any agent runs (VALIDATION_ERROR,\n"
    "PAYLOAD_TOO_LARGE) and the refusal is recorded. With recording.mode async\n"
    "the command waits until the writer has written (or failed) every record\n"
    "before it reports.\n"
    "\n"
    "Exit status: 0 success, 1 error response (or recording or the WAL failed),\n"
    "2 usage or configuration error.\n";

#define MAX_LIST 64
/* Payload text read from a file or stdin: as much as a record file holds
 * (a larger payload could never be recorded). */
#define PAYLOAD_INPUT_MAX REC_STORE_MAX_FILE

/* Read all of f (at most PAYLOAD_INPUT_MAX bytes) into b; what names the
 * input in messages ("--payload @x.json"). 0, or EXIT_USAGE with the
 * message printed. */
static int
read_input(FILE *f, const char *what, struct buf *b)
{
    char chunk[8192];
    struct stat st;
    size_t n;

    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return cli_usage_error("route", "%s: is a directory, not a file", what);
        if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > PAYLOAD_INPUT_MAX) {
            char size[32];
            snprintf(size, sizeof(size), "%.1f MiB", (double)st.st_size / (1U << 20));
            return cli_usage_error("route",
                                   "%s: file is %lld bytes (%s), over the %zu MiB payload input "
                                   "limit",
                                   what, (long long)st.st_size, size, PAYLOAD_INPUT_MAX >> 20);
        }
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(b, chunk, n) != 0)
            return cli_usage_error("route", "%s: out of memory", what);
        if (b->len > PAYLOAD_INPUT_MAX)
            return cli_usage_error("route", "%s: more than the %zu MiB payload input limit", what,
                                   PAYLOAD_INPUT_MAX >> 20);
    }
    if (ferror(f))
        return cli_usage_error("route", "%s: cannot read: %s", what, strerror(errno));
    return 0;
}

/* The payload argument: inline JSON, @file, or - for stdin. */
static cJSON *
load_payload(const char *arg)
{
    struct intentus_err err = { 0 };
    struct buf b = BUF_INIT;
    char what[300];
    const char *text = arg;
    size_t len = strlen(arg);
    cJSON *v = NULL;
    int rc = 0;

    snprintf(what, sizeof(what), "--payload %s", strcmp(arg, "-") == 0 ? "- (stdin)" : arg);
    if (strcmp(arg, "-") == 0) {
        rc = read_input(stdin, what, &b);
    } else if (arg[0] == '@') {
        struct stat st;
        FILE *f;
        int fd;
        if (arg[1] == '\0') {
            cli_usage_error("route", "%s: no file name after @", what);
            return NULL;
        }
        if (stat(arg + 1, &st) == 0 && S_ISDIR(st.st_mode)) {
            cli_usage_error("route", "%s: is a directory, not a file", what);
            return NULL;
        }
        /* The one safe open (no FIFO, device or symlink); read_input then
         * checks the size against the payload input limit. */
        fd = safe_file_open(AT_FDCWD, arg + 1, arg + 1, SIZE_MAX, &err);
        if (fd < 0) {
            if (err.code == IERR_NOT_FOUND)
                cli_usage_error("route", "%s: cannot open %s: No such file or directory", what,
                                arg + 1);
            else
                cli_usage_error("route", "%s: %s", what, err.msg);
            return NULL;
        }
        if ((f = fdopen(fd, "rb")) == NULL) {
            close(fd);
            cli_usage_error("route", "%s: cannot open %s: %s", what, arg + 1, strerror(errno));
            return NULL;
        }
        rc = read_input(f, what, &b);
        fclose(f);
    }
    if (rc != 0)
        goto out;
    if (strcmp(arg, "-") == 0 || arg[0] == '@') {
        text = b.data != NULL ? b.data : "";
        len = b.len;
        if (len == 0) {
            cli_usage_error("route", "%s: is empty (give a JSON object, e.g. {})", what);
            goto out;
        }
    }
    v = json_parse(text, len, 64, &err);
    if (v == NULL) {
        cli_usage_error("route", "%s: %s", what, err.msg);
    } else if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        v = NULL;
        cli_usage_error("route", "%s: must be a JSON object ({...})", what);
    }
out:
    buf_free(&b);
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
    const char *intent, *payload, *config, *dir, *tenant, *server, *token_file, *cacert;
    const char *store; /* --store URL */
    char *fallback;
    struct envelope_opts env;
    long async_n, workers;
    int no_record, quiet;
};

/* --server and --token-file: what may go with them. */
static int
check_server_args(const struct route_args *a)
{
    const char *bad = a->config != NULL  ? "--config"
                      : a->dir != NULL   ? "--dir"
                      : a->store != NULL ? "--store"
                      : a->no_record     ? "--no-record"
                      : a->async_n > 0   ? "--async-n"
                      : a->workers > 0   ? "--workers"
                                         : NULL;

    if (a->server == NULL)
        return cli_usage_error("route", "%s: only with --server",
                               a->token_file != NULL ? "--token-file" : "--cacert");
    if (bad != NULL)
        return cli_usage_error(
            "route", "%s: not with --server (the service's config and records apply)", bad);
    if (serve_client_check_url("route", a->server) != 0)
        return EXIT_USAGE;
    return serve_client_set_cacert("route", a->cacert);
}

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
        { "server", required_argument, NULL, 'S' },
        { "token-file", required_argument, NULL, 'K' },
        { "cacert", required_argument, NULL, 'X' },
        { "store", required_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    a->env.priority = PRIORITY_NORMAL;
    a->env.strategy = STRATEGY_DIRECT;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:s:t:f:P:T:V:c:d:m:N:w:nq", opts, NULL)) != -1) {
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
        case 'U':
            if (optarg[0] == '\0')
                return cli_usage_error("route", "--store: must not be empty");
            a->store = optarg;
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
        case 'S':
            a->server = optarg;
            break;
        case 'K':
            a->token_file = optarg;
            break;
        case 'X':
            a->cacert = optarg;
            break;
        default:
            return cli_getopt_error("route", c, argv);
        }
    }
    if (optind >= argc)
        return cli_usage_error("route", "missing INTENT");
    if (optind + 1 < argc)
        return cli_usage_error("route", "unexpected argument '%s'", argv[optind + 1]);
    a->intent = argv[optind];
    if (a->intent[0] == '\0')
        return cli_usage_error("route", "INTENT must not be empty");
    /* An option that could not take effect is an error, not a silent no-op. */
    if (a->workers > 0 && a->async_n == 0)
        return cli_usage_error("route", "--workers: only with --async-n (one execution runs on "
                                        "this thread)");
    if ((a->token_file != NULL || a->server != NULL || a->cacert != NULL) &&
        check_server_args(a) != EXIT_OK)
        return EXIT_USAGE;
    if (a->dir != NULL && a->no_record)
        return cli_usage_error("route", "--dir: nothing is recorded with --no-record");
    if (a->store != NULL && a->no_record)
        return cli_usage_error("route", "--store: nothing is recorded with --no-record");
    if (a->store != NULL && a->dir != NULL)
        return cli_usage_error("route", "--store and --dir: give one (--store file:DIR is --dir)");
    if (a->env.target_agent != NULL && a->env.strategy != STRATEGY_DIRECT)
        return cli_usage_error("route", "--target: only the direct strategy uses it (not %s)",
                               model_strategy_wire(a->env.strategy));
    if (a->fallback != NULL && a->env.strategy != STRATEGY_FALLBACK)
        return cli_usage_error("route", "--fallback: only the fallback strategy uses it (not %s)",
                               model_strategy_wire(a->env.strategy));
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
    struct intentus_err first_unrecorded = { 0 };
    long submitted = 0;
    int64_t t0 = clock_mono_us(), wall;
    struct completion batch[128];
    cJSON *codes = cJSON_CreateObject();
    char lat_line[128], esc[FMT_ESC_SIZE(128)];

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
            /* A completion comes once its record is written or failed. */
            if (!a->no_record && !batch[i].recorded && !batch[i].sampled_out && unrecorded++ == 0)
                first_unrecorded = batch[i].record_err;
            completion_free(&batch[i]);
        }
    }
    runtime_flush(rt); /* nothing left queued; the counters below are final */
    wall = clock_mono_us() - t0;
    fmt_latency_summary(lat, done, lat_line, sizeof(lat_line));
    printf("%zu executions of %s in %.2fs (%.0f/s): %zu ok, %zu error\n", done,
           cli_esc(a->intent, esc, sizeof(esc)), (double)wall / 1e6,
           (double)done * 1e6 / (double)(wall > 0 ? wall : 1), ok, done - ok);
    printf("latency (submit to completion): %s\n", lat_line);
    if (done > ok) {
        const cJSON *c;
        printf("errors:");
        cJSON_ArrayForEach(c, codes)
            printf(" %s %d", cli_esc(c->string, esc, sizeof(esc)), (int)c->valuedouble);
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
        printf(" %s %s (%llu calls, %llu failed, %llu skipped)",
               cli_esc(ag->name, esc, sizeof(esc)), breaker_state_name(bs.state),
               (unsigned long long)bs.calls, (unsigned long long)bs.failures,
               (unsigned long long)bs.rejected);
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
    if (unrecorded > 0 && !a->quiet)
        fprintf(stderr, "intentus route: %zu of %zu executions were NOT recorded (first: %s)\n",
                unrecorded, done,
                first_unrecorded.msg[0] ? first_unrecorded.msg : "no reason given");
    cJSON_Delete(codes);
    free(lat);
    return ok == done && unrecorded == 0 ? EXIT_OK : EXIT_FAIL;
}

/* --server: POST the inputs to URL/v1/route; the service routes and
 * records. */
static int
run_server(const struct route_args *a, const cJSON *payload)
{
    cJSON *in = cJSON_CreateObject(), *ans = NULL;
    char *body = NULL, *token = serve_client_token("route", a->token_file);
    long status;
    int rc = EXIT_FAIL;

    if (token == NULL) {
        cJSON_Delete(in);
        return EXIT_USAGE;
    }
    cJSON_AddStringToObject(in, "intent", a->intent);
    cJSON_AddItemToObject(in, "payload", cJSON_Duplicate(payload, 1));
    cJSON_AddStringToObject(in, "strategy", model_strategy_wire(a->env.strategy));
    cJSON_AddStringToObject(in, "priority", model_priority_wire(a->env.priority));
    if (a->env.target_agent != NULL)
        cJSON_AddStringToObject(in, "target", a->env.target_agent);
    if (a->env.fallback_agents != NULL) {
        cJSON *arr = cJSON_AddArrayToObject(in, "fallback");
        for (size_t i = 0; a->env.fallback_agents[i] != NULL; i++)
            cJSON_AddItemToArray(arr, cJSON_CreateString(a->env.fallback_agents[i]));
    }
    if (a->tenant != NULL)
        cJSON_AddStringToObject(in, "tenant", a->tenant);
    if (a->env.intent_version != NULL)
        cJSON_AddStringToObject(in, "version", a->env.intent_version);
    if (a->env.timeout_ms > 0)
        cJSON_AddNumberToObject(in, "timeout", (double)a->env.timeout_ms);
    body = cJSON_PrintUnformatted(in);
    cJSON_Delete(in);
    if (body == NULL) {
        serve_client_token_free(token);
        fprintf(stderr, "intentus route: out of memory\n");
        return EXIT_FAIL;
    }
    status = serve_client_call("route", a->server, "POST", "/v1/route", token, body, &ans);
    serve_client_token_free(token);
    free(body);
    if (status == 0) {
        /* unreachable: said so */
    } else if (status != 200) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(ans, "error");
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "code");
        cli_error("route", "--server: HTTP %ld %s: %s", status,
                  cJSON_IsString(c) ? c->valuestring : "",
                  cJSON_IsString(m) ? m->valuestring : "(no JSON error in the answer)");
    } else {
        const cJSON *resp = cJSON_GetObjectItemCaseSensitive(ans, "response");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(ans, "executionId");
        const cJSON *rec = cJSON_GetObjectItemCaseSensitive(ans, "recorded");
        const cJSON *so = cJSON_GetObjectItemCaseSensitive(ans, "sampledOut");
        if (!cJSON_IsObject(resp)) {
            cli_error("route", "--server: the answer has no response object");
        } else {
            char esc[FMT_ESC_SIZE(128)];
            cli_print_json(stdout, resp);
            rc = response_is_error(resp) ? EXIT_FAIL : EXIT_OK;
            if (cJSON_IsTrue(so)) {
                if (!a->quiet)
                    fprintf(stderr, "execution sampled out (recording.sample_rate): not "
                                    "recorded\n");
            } else if (!cJSON_IsTrue(rec)) {
                if (!a->quiet)
                    cli_error("route", "execution %s was NOT recorded by the server",
                              cli_esc(cJSON_IsString(id) ? id->valuestring : "(no id)", esc,
                                      sizeof(esc)));
                rc = EXIT_FAIL;
            } else if (!a->quiet) {
                fprintf(stderr, "execution %s recorded by the server\n",
                        cli_esc(cJSON_IsString(id) ? id->valuestring : "", esc, sizeof(esc)));
            }
        }
    }
    cJSON_Delete(ans);
    return rc;
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
    if (a.server != NULL) {
        rc = run_server(&a, payload);
        goto out;
    }
    rt = runtime_open(a.config,
                      &(struct runtime_opts){ .records_dir = a.dir,
                                              .store_url = a.store,
                                              .store_engines = stores_builtin,
                                              .workers = (int)a.workers,
                                              .no_record = a.no_record != 0 },
                      &err);
    if (rt == NULL) {
        cli_error("route", "%s", err.msg);
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
    route_result_settle(&res); /* an async writer's verdict, before we say "recorded" */
    cli_print_json(stdout, res.response);
    rc = response_is_error(res.response) ? EXIT_FAIL : EXIT_OK;
    if (res.wal_failed) {
        /* The log is incomplete: recovery will see this execution. */
        fprintf(stderr, "intentus route: write-ahead log: %s\n", res.wal_err.msg);
        rc = EXIT_FAIL;
    }
    if (a.no_record) {
        /* nothing to say */
    } else if (res.sampled_out) {
        if (!a.quiet)
            fprintf(stderr, "execution sampled out (recording.sample_rate): not recorded\n");
    } else if (!res.recorded) {
        if (!a.quiet)
            cli_error("route", "execution %s was NOT recorded: %s",
                      res.execution_id[0] ? res.execution_id : "(no id)", res.record_err.msg);
        rc = EXIT_FAIL;
    } else if (!a.quiet) {
        char esc[FMT_ESC_SIZE(256)];
        fprintf(
            stderr, "execution %s recorded in %s\n", res.execution_id,
            cli_esc(runtime_store_url(rt) != NULL ? runtime_store_url(rt) : runtime_records_dir(rt),
                    esc, sizeof(esc)));
    }
out:
    route_result_free(&res);
    runtime_close(rt);
    cJSON_Delete(env);
    cJSON_Delete(payload);
    return rc;
}
