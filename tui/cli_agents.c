/* intentus agents: the registry in routing order. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/compliance.h"
#include "core/registry.h"
#include "tui/cli.h"
#include "tui/fmt.h"
#include "tui/serve_client.h"

static const char agents_help[] =
    "Usage: intentus agents [--json] [--config FILE]\n"
    "       intentus agents [--json] --server URL [--token-file FILE] [--cacert FILE]\n"
    "\n"
    "List the configured agents in routing order: local before remote (a non-empty\n"
    "nodeId), then nodePriority ascending, then name. An agent whose \"$NAME\"\n"
    "settings name unset environment variables is listed with\n"
    "[unavailable: not set: NAME (path)] (\"unavailable\" in --json): every call\n"
    "of it fails with AGENT_UNAVAILABLE. The first line names the config and its\n"
    "compliance mode (development, standard or regulated; see compliance.mode).\n"
    "\n"
    "Options:\n"
    "  -j, --json         the reference's AgentDefinition objects plus \"kind\" and\n"
    "                     \"compliance\" (the config's compliance mode)\n"
    "  -c, --config FILE  config file (default: search order, then the demo)\n"
    "      --server URL   ask a running 'intentus serve' (GET URL/v1/agents, admin\n"
    "                     role): live breaker state, calls, failures, next probe\n"
    "      --token-file FILE  the bearer token (default: $INTENTUS_TOKEN)\n"
    "      --cacert FILE  CA certificate(s), PEM, that verify an https:// server\n"
    "                     (default: $INTENTUS_CACERT, else the system's CAs)\n"
    "  -h, --help         this help\n";

/* --server: the service's agents with their live breakers. */
static int
agents_from_server(const char *url, const char *token_file, const char *cacert, const char *config,
                   int json)
{
    char *token;
    cJSON *ans = NULL;
    const cJSON *arr, *a;
    long status;
    char e[FMT_ESC_SIZE(256)];

    if (url == NULL)
        return cli_usage_error("agents", "%s: only with --server",
                               token_file != NULL ? "--token-file" : "--cacert");
    if (config != NULL)
        return cli_usage_error("agents",
                               "--config: not with --server (the service's config applies)");
    if (serve_client_check_url("agents", url) != 0 ||
        serve_client_set_cacert("agents", cacert) != 0)
        return EXIT_USAGE;
    token = serve_client_token("agents", token_file);
    if (token == NULL)
        return EXIT_USAGE;
    status = serve_client_call("agents", url, "GET", "/v1/agents", token, NULL, &ans);
    serve_client_token_free(token);
    arr = cJSON_GetObjectItemCaseSensitive(ans, "agents");
    if (status != 200 || !cJSON_IsArray(arr)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(ans, "error"), "message");
        if (status != 0)
            cli_error("agents", "--server: HTTP %ld: %s", status,
                      cJSON_IsString(m) ? m->valuestring : "no agent list in the answer");
        cJSON_Delete(ans);
        return EXIT_FAIL;
    }
    if (json) {
        cli_print_json(stdout, arr);
        cJSON_Delete(ans);
        return EXIT_OK;
    }
    printf("# %s\n", cli_esc(url, e, sizeof(e)));
    printf("%-3s  %-20s  %-8s  %-9s  %8s  %8s  %8s  %s\n", "#", "NAME", "ENABLED", "BREAKER",
           "CALLS", "FAILED", "SKIPPED", "NEXT PROBE");
    {
        size_t i = 0;
        cJSON_ArrayForEach(a, arr)
        {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "name");
            const cJSON *b = cJSON_GetObjectItemCaseSensitive(a, "breaker");
            const cJSON *probe = cJSON_GetObjectItemCaseSensitive(a, "nextProbeInMs");
            char name[FMT_ESC_SIZE(64)], next[24] = "-";
            fmt_cell(cli_esc(cJSON_IsString(n) ? n->valuestring : "?", e, sizeof(e)), 20, name,
                     sizeof(name));
            if (cJSON_IsNumber(probe))
                fmt_duration_us((int64_t)probe->valuedouble * 1000, next, sizeof(next));
            printf("%-3zu  %-*s  %-8s  %-9s  %8.0f  %8.0f  %8.0f  %s\n", ++i,
                   (int)(20 + strlen(name) - fmt_width(name)), name,
                   cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "enabled")) ? "yes" : "no",
                   cJSON_IsString(b) ? cli_esc(b->valuestring, e, sizeof(e)) : "off",
                   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a, "calls")),
                   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a, "failures")),
                   cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(a, "rejected")), next);
        }
    }
    cJSON_Delete(ans);
    return EXIT_OK;
}

int
cli_agents(int argc, char **argv)
{
    static const struct option opts[] = {
        { "json", no_argument, NULL, 'j' },         { "config", required_argument, NULL, 'c' },
        { "server", required_argument, NULL, 'S' }, { "token-file", required_argument, NULL, 'K' },
        { "cacert", required_argument, NULL, 'X' }, { NULL, 0, NULL, 0 },
    };
    const char *config = NULL, *server = NULL, *token_file = NULL, *cacert = NULL;
    struct config *cfg;
    int c, json = 0;

    if (cli_wants_help(argc, argv)) {
        fputs(agents_help, stdout);
        return EXIT_OK;
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":jc:", opts, NULL)) != -1) {
        if (c == 'j')
            json = 1;
        else if (c == 'c')
            config = optarg;
        else if (c == 'S')
            server = optarg;
        else if (c == 'K')
            token_file = optarg;
        else if (c == 'X')
            cacert = optarg;
        else
            return cli_getopt_error("agents", c, argv);
    }
    if (optind < argc)
        return cli_usage_error("agents", "unexpected argument '%s'", argv[optind]);
    if (token_file != NULL || server != NULL || cacert != NULL)
        return agents_from_server(server, token_file, cacert, config, json);
    cfg = cli_load_config(config);
    if (cfg == NULL)
        return EXIT_USAGE;
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; arr != NULL && i < registry_count(cfg->registry); i++) {
            const struct agent *a = registry_at(cfg->registry, i);
            cJSON *d = agent_definition_json(a);
            if (d != NULL && a->missing_env != NULL)
                cJSON_AddStringToObject(d, "unavailable", a->missing_env);
            /* The mode the config runs in (kept an array: added per agent). */
            if (d != NULL)
                cJSON_AddStringToObject(d, "compliance", compliance_mode_name(cfg->compliance));
            cJSON_AddItemToArray(arr, d);
        }
        cli_print_json(stdout, arr);
        cJSON_Delete(arr);
    } else {
        char e[FMT_ESC_SIZE(256)];
        printf("# %s%s  compliance %s\n", cli_esc(cfg->source, e, sizeof(e)),
               cfg->has_demo_agents ? " (no \"agents\" key: the demo agents)" : "",
               compliance_mode_name(cfg->compliance));
        printf("%-3s  %-20s  %-8s  %-12s  %8s  %-8s  %-7s  %-9s  %s\n", "#", "NAME", "KIND", "NODE",
               "PRIORITY", "TIMEOUT", "RETRY", "BREAKER", "INTENTS");
        for (size_t i = 0; i < registry_count(cfg->registry); i++) {
            const struct agent *a = registry_at(cfg->registry, i);
            char name[FMT_ESC_SIZE(64)], timeout[24], retry[16], breaker[64];
            char kind[FMT_ESC_SIZE(32)], node[FMT_ESC_SIZE(128)];
            struct breaker_stats bs;
            /* Names come from the config: escaped, never raw (cli_esc). */
            fmt_cell(cli_esc(a->name, e, sizeof(e)), 20, name, sizeof(name));
            if (a->timeout_ms > 0)
                fmt_duration_us(a->timeout_ms * 1000, timeout, sizeof(timeout));
            else
                snprintf(timeout, sizeof(timeout), "none");
            if (a->idempotent && a->retry.max_attempts > 1)
                snprintf(retry, sizeof(retry), "x%d", a->retry.max_attempts);
            else
                snprintf(retry, sizeof(retry), "-");
            if (a->breaker != NULL) {
                breaker_snapshot(a->breaker, clock_mono_us(), &bs);
                snprintf(breaker, sizeof(breaker), "%s", breaker_state_name(bs.state));
            } else {
                snprintf(breaker, sizeof(breaker), "off");
            }
            printf("%-3zu  %-*s  %-8s  %-12s  %8ld  %-8s  %-7s  %-9s  ", i + 1,
                   (int)(20 + strlen(name) - fmt_width(name)), name,
                   cli_esc(a->kind->name, kind, sizeof(kind)),
                   cli_esc(agent_is_remote(a) ? a->node_id : "local", node, sizeof(node)),
                   a->node_priority, timeout, retry, breaker);
            for (size_t k = 0; k < a->n_caps; k++) {
                printf("%s%s", k ? ", " : "", cli_esc(a->caps[k].name, e, sizeof(e)));
                if (strcmp(a->caps[k].version, "*") != 0)
                    printf("@%s", cli_esc(a->caps[k].version, e, sizeof(e)));
            }
            if (a->missing_env != NULL)
                printf("  [unavailable: not set: %s]", a->missing_env);
            printf("\n");
        }
    }
    config_free(cfg);
    return EXIT_OK;
}
