/* intentus route: build an envelope, route it through the embedded router,
 * record it, print the response. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/router.h"
#include "tui/cli.h"

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
    "  -c, --config FILE           config file (default: search order, then demo)\n"
    "  -d, --dir DIR               record directory (overrides the config)\n"
    "  -n, --no-record             do not record this execution\n"
    "  -q, --quiet                 print nothing on stderr\n"
    "  -h, --help                  this help\n"
    "\n"
    "Exit status: 0 success, 1 error response (or recording failed),\n"
    "2 usage or configuration error.\n";

#define MAX_LIST 64

static char *
read_stream(FILE *f, size_t *len)
{
    struct buf b = BUF_INIT;
    char chunk[8192];
    size_t n;

    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(&b, chunk, n) != 0 || b.len > 64u * 1024 * 1024) {
            buf_free(&b);
            return NULL;
        }
    }
    *len = b.len;
    return buf_take(&b);
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
        cli_usage_error("route", "--payload: cannot read %s", what);
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
        { "no-record", no_argument, NULL, 'n' },
        { "quiet", no_argument, NULL, 'q' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    a->env.priority = PRIORITY_NORMAL;
    a->env.strategy = STRATEGY_DIRECT;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "p:s:t:f:P:T:V:c:d:nq", opts, NULL)) != -1) {
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
                return cli_usage_error("route",
                                       "--priority: unknown priority '%s' (low, normal, high)",
                                       optarg);
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

int
cli_route(int argc, char **argv)
{
    struct route_args a = { 0 };
    struct intentus_err err = { 0 };
    const char *fallback[MAX_LIST], *tags[2] = { NULL, NULL };
    char tenant_tag[512];
    struct config *cfg = NULL;
    struct rec_store *store = NULL;
    struct router *router = NULL;
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
    env = envelope_new(a.intent, payload, &a.env, &err);
    if (env == NULL) {
        rc = cli_usage_error("route", "%s", err.msg);
        goto out;
    }
    cfg = cli_load_config(a.config);
    if (cfg == NULL)
        goto out;
    if (!a.no_record) {
        struct rec_store_opts so = { .create = true, .fsync = cfg->fsync };
        store = rec_store_open(a.dir != NULL ? a.dir : cfg->records_dir, &so, &err);
        if (store == NULL) {
            fprintf(stderr, "intentus route: %s\n", err.msg);
            goto out;
        }
    }
    router = router_new(cfg->registry,
                        &(struct router_opts){ .require_determinism = cfg->require_determinism,
                                               .store = store },
                        &err);
    if (router == NULL || router_route(router, env, &res) != 0) {
        fprintf(stderr, "intentus route: %s\n", router == NULL ? err.msg : "out of memory");
        rc = EXIT_FAIL;
        goto out;
    }
    cli_print_json(stdout, res.response);
    rc = response_is_error(res.response) ? EXIT_FAIL : EXIT_OK;
    if (store != NULL && !res.recorded) {
        fprintf(stderr, "intentus route: execution %s was NOT recorded: %s\n",
                res.execution_id[0] ? res.execution_id : "(no id)", res.record_err.msg);
        rc = EXIT_FAIL;
    } else if (store != NULL && !a.quiet) {
        fprintf(stderr, "execution %s recorded in %s\n", res.execution_id,
                rec_store_dir(store));
    }
out:
    route_result_free(&res);
    router_free(router);
    rec_store_close(store);
    config_free(cfg);
    cJSON_Delete(env);
    return rc;
}
