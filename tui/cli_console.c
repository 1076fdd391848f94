/* `intentus` with no command (or `intentus console`): the full-screen console. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/app.h"
#include "tui/cli.h"
#include "tui/demo_traffic.h"
#include "tui/serve_client.h"

static const char console_help[] =
    "Usage: intentus [console] [options]\n"
    "\n"
    "Open the console on a record directory: the dashboard (agents, failures,\n"
    "circuits, latency, live feed), the records browser with filters, execution\n"
    "timelines, and help ('?' on any screen lists its keys; ':' opens a command\n"
    "line: :records :agents :agent NAME :filter EXPR :theme NAME :fire INTENT\n"
    ":messages :q; Esc and q go back). The title bar names\n"
    "the config's compliance mode (STANDARD, DEVELOPMENT, REGULATED); a config that\n"
    "falls short of its mode is refused (exit 2), naming what is missing.\n"
    "\n"
    "Options:\n"
    "  -d, --dir DIR        record directory (default: from the config)\n"
    "      --store URL      the records of a store (sqlite:PATH, postgres://...;\n"
    "                       default: the config's recording.store): read through\n"
    "                       the engine, the newest --window of them loaded, new\n"
    "                       records followed live, deleted ones dropped; the\n"
    "                       totals, figures and pages are its queries (sqlite:\n"
    "                       its index; postgres: its count, stats and queries)\n"
    "  -c, --config FILE    config file (default: search order, then the demo)\n"
    "  -t, --theme NAME     default, light, solarized-dark, high-contrast, mono, or\n"
    "                       any NAME.theme in themes/, the install's share/intentus/themes\n"
    "                       or $XDG_CONFIG_HOME/intentus/themes\n"
    "      --ascii          ASCII only, no Unicode anywhere (a cut cell ends in ~;\n"
    "                       automatic when the locale is not UTF-8)\n"
    "      --poll[=MS]      poll the directory instead of inotify (network filesystems)\n"
    "  -s, --server URL     attach to a running 'intentus serve' (token from\n"
    "                       $INTENTUS_TOKEN or --token-file; an admin token): the\n"
    "                       dashboard shows the service's agents with their live\n"
    "                       breakers (cool-down left, next probe), r/d/R reset,\n"
    "                       disable/enable and reload on the service after a y/n\n"
    "                       question, Fire sends through POST /v1/route. Records come\n"
    "                       from the local record directory when it is readable\n"
    "                       (--dir or the config's), otherwise from the service's\n"
    "                       event stream. http:// only to loopback\n"
    "      --token-file F   read the bearer token from F (one line)\n"
    "      --read-only      never create or change anything (the persistent index\n"
    "                       is not used, preferences are not saved)\n"
    "      --no-index       read every record file at start instead of loading the\n"
    "                       persistent index (<dir>/.intentus/index.sqlite), and do not\n"
    "                       keep it current\n"
    "      --window N       rows of the index held in memory: the newest N (10 to\n"
    "                       10000000, default 5000); the figures, filters and older\n"
    "                       pages are the index's queries. Only with the index or\n"
    "                       a --store (not with --no-index, --read-only, --server)\n"
    "      --demo-traffic[=RATE|auto]\n"
    "                       fire a gentle, varied, seeded stream of the built-in demo\n"
    "                       configuration's intents (every strategy, flaky-b's circuit\n"
    "                       opening and closing, slow calls, a policy refusal), RATE a\n"
    "                       second (0.1 to 50, default 5), recorded like any other; 'T'\n"
    "                       starts and stops it. auto: only on the built-in demo\n"
    "                       configuration with no --dir or $INTENTUSNET_RECORDS_PATH\n"
    "                       (what 'make run' passes). Refused with --read-only\n"
    "  -h, --help           this help\n"
    "\n"
    "NO_COLOR (non-empty) forces the monochrome theme.\n"
    "The theme (t), the sorts (s, S, a click on a title) and the mouse setting (M)\n"
    "persist in $XDG_STATE_HOME/intentus/console.prefs (~/.local/state/intentus/);\n"
    "the config's \"console\" section (theme, sort, agents_sort, mouse) wins over\n"
    "them, --theme over both.\n";

/* Option values, each checked where it is parsed: 0, or the usage error
 * already printed (the caller returns EXIT_USAGE). */
static int
parse_poll(const char *arg, struct console_opts *o)
{
    char *end;
    long ms = strtol(arg, &end, 10);
    if (arg[0] == '\0' || *end != '\0' || ms < 10 || ms > 3600000) {
        cli_usage_error("console", "--poll: '%s' is not 10 to 3600000 ms", arg);
        return -1;
    }
    o->poll_ms = (int)ms;
    return 0;
}

static int
parse_window(const char *arg, struct console_opts *o)
{
    char *end;
    long long n;
    if (arg == NULL) {
        cli_usage_error("console", "--window needs a number of rows");
        return -1;
    }
    n = strtoll(arg, &end, 10);
    if (arg[0] == '\0' || *end != '\0' || n < 10 || n > 10000000) {
        cli_usage_error("console", "--window: '%s' is not 10 to 10000000 rows", arg);
        return -1;
    }
    o->window = (size_t)n;
    return 0;
}

static int
parse_demo_traffic(const char *arg, struct console_opts *o)
{
    char *end;
    double rate;
    o->demo_traffic = DEMO_TRAFFIC_ON;
    if (arg == NULL)
        return 0;
    if (strcmp(arg, "auto") == 0) {
        o->demo_traffic = DEMO_TRAFFIC_AUTO;
        return 0;
    }
    rate = strtod(arg, &end);
    if (end == arg || *end != '\0' || !isfinite(rate) || rate < DEMO_TRAFFIC_RATE_MIN ||
        rate > DEMO_TRAFFIC_RATE_MAX) {
        cli_usage_error("console",
                        "--demo-traffic: '%s' is not auto or a rate from 0.1 to 50 intents a "
                        "second",
                        arg);
        return -1;
    }
    o->demo_rate = rate;
    return 0;
}

/* Options that are each valid but not together. */
static int
check_combination(const struct console_opts *o, const char *token_file)
{
    if (o->read_only && o->demo_traffic == DEMO_TRAFFIC_ON) {
        cli_usage_error("console",
                        "--demo-traffic is refused with --read-only (it records executions)");
        return -1;
    }
    if (o->store != NULL && o->dir != NULL) {
        cli_usage_error("console", "--store and --dir: give one (--store file:DIR is --dir)");
        return -1;
    }
    if (token_file != NULL && o->server == NULL) {
        cli_usage_error("console", "--token-file: only with --server URL");
        return -1;
    }
    /* The window is the persistent index's or a store's (open_model): the
     * other models hold every record, so a --window there would do
     * nothing. A store is read without the directory's index, so
     * --read-only does not change it. */
    if (o->window != 0 &&
        (o->no_index || (o->read_only && o->store == NULL) || o->server != NULL)) {
        cli_usage_error("console",
                        "--window: only with the record index or a --store (not with %s, which "
                        "load every record)",
                        o->no_index    ? "--no-index"
                        : o->read_only ? "--read-only"
                                       : "--server");
        return -1;
    }
    if (o->server != NULL && o->demo_traffic == DEMO_TRAFFIC_ON) {
        cli_usage_error("console", "--demo-traffic is refused with --server (the demo traffic "
                                   "runs in this console, not on the service)");
        return -1;
    }
    return 0;
}

int
cli_console(int argc, char **argv)
{
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "config", required_argument, NULL, 'c' },
        { "theme", required_argument, NULL, 't' },
        { "ascii", no_argument, NULL, 'a' },
        { "poll", optional_argument, NULL, 'p' },
        { "read-only", no_argument, NULL, 'r' },
        { "no-index", no_argument, NULL, 'N' },
        { "window", required_argument, NULL, 'W' },
        { "demo-traffic", optional_argument, NULL, 'D' },
        { "server", required_argument, NULL, 's' },
        { "token-file", required_argument, NULL, 'T' },
        { "store", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    struct console_opts o = { 0 };
    const char *token_file = NULL;
    char *token = NULL;
    int c, rc;

    if (cli_wants_help(argc, argv)) {
        fputs(console_help, stdout);
        return EXIT_OK;
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:c:t:s:", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            o.dir = optarg;
            break;
        case 'c':
            o.config = optarg;
            break;
        case 't':
            o.theme = optarg;
            break;
        case 'a':
            o.ascii = true;
            break;
        case 'N':
            o.no_index = true;
            break;
        case 'p':
            o.poll = true;
            if (optarg != NULL && parse_poll(optarg, &o) != 0)
                return EXIT_USAGE;
            break;
        case 'W':
            if (parse_window(optarg, &o) != 0)
                return EXIT_USAGE;
            break;
        case 'r':
            o.read_only = true;
            break;
        case 's':
            if (optarg == NULL || optarg[0] == '\0')
                return cli_usage_error("console", "--server: must not be empty");
            o.server = optarg;
            break;
        case 'T':
            token_file = optarg;
            break;
        case 'S':
            if (optarg == NULL || optarg[0] == '\0')
                return cli_usage_error("console", "--store: must not be empty");
            o.store = optarg;
            break;
        case 'D':
            if (parse_demo_traffic(optarg, &o) != 0)
                return EXIT_USAGE;
            break;
        default:
            if (optopt != 0)
                return cli_usage_error("console", "option -%c needs a value or is unknown", optopt);
            return cli_usage_error("console", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("console", "unexpected argument '%s'", argv[optind]);
    if (check_combination(&o, token_file) != 0)
        return EXIT_USAGE;
    if (o.server != NULL) {
        if (serve_client_check_url("console", o.server) != 0)
            return EXIT_USAGE;
        token = serve_client_token("console", token_file);
        if (token == NULL)
            return EXIT_USAGE;
        o.token = token;
        o.demo_traffic = DEMO_TRAFFIC_OFF; /* auto: the local demo is not what runs */
    }
    rc = console_run(&o);
    serve_client_token_free(token);
    return rc;
}
