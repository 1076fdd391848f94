/* `intentus` with no command (or `intentus console`): the full-screen console. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/app.h"
#include "tui/cli.h"
#include "tui/demo_traffic.h"

static const char console_help[] =
    "Usage: intentus [console] [options]\n"
    "\n"
    "Open the console on a record directory: the dashboard (agents, failures,\n"
    "circuits, latency, live feed), the records browser with filters, execution\n"
    "timelines, and help ('?' on any screen lists its keys).\n"
    "\n"
    "Options:\n"
    "  -d, --dir DIR        record directory (default: from the config)\n"
    "  -c, --config FILE    config file (default: search order, then the demo)\n"
    "  -t, --theme NAME     default, light, solarized-dark, high-contrast, mono, or\n"
    "                       any NAME.theme in themes/, the install's share/intentus/themes\n"
    "                       or $XDG_CONFIG_HOME/intentus/themes\n"
    "      --ascii          ASCII line drawing (automatic when the locale is not UTF-8)\n"
    "      --poll[=MS]      poll the directory instead of inotify (network filesystems)\n"
    "      --read-only      never create or change anything (the persistent index\n"
    "                       is not used either)\n"
    "      --no-index       read every record file at start instead of loading the\n"
    "                       persistent index (<dir>/.intentus/index.sqlite), and do not\n"
    "                       keep it current\n"
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
    "NO_COLOR (non-empty) forces the monochrome theme.\n";

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
        { "demo-traffic", optional_argument, NULL, 'D' },
        { NULL, 0, NULL, 0 },
    };
    struct console_opts o = { 0 };
    int c;

    if (cli_wants_help(argc, argv)) {
        fputs(console_help, stdout);
        return EXIT_OK;
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:c:t:", opts, NULL)) != -1) {
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
            if (optarg != NULL) {
                char *end;
                long ms = strtol(optarg, &end, 10);
                if (*end != '\0' || ms < 10 || ms > 3600000)
                    return cli_usage_error("console", "--poll: '%s' is not 10 to 3600000 ms",
                                           optarg);
                o.poll_ms = (int)ms;
            }
            break;
        case 'r':
            o.read_only = true;
            break;
        case 'D':
            o.demo_traffic = DEMO_TRAFFIC_ON;
            if (optarg != NULL && strcmp(optarg, "auto") == 0) {
                o.demo_traffic = DEMO_TRAFFIC_AUTO;
            } else if (optarg != NULL) {
                char *end;
                double rate = strtod(optarg, &end);
                if (end == optarg || *end != '\0' || !isfinite(rate) ||
                    rate < DEMO_TRAFFIC_RATE_MIN || rate > DEMO_TRAFFIC_RATE_MAX)
                    return cli_usage_error("console",
                                           "--demo-traffic: '%s' is not auto or a rate from 0.1 "
                                           "to 50 intents a second",
                                           optarg);
                o.demo_rate = rate;
            }
            break;
        default:
            if (optopt != 0)
                return cli_usage_error("console", "option -%c needs a value or is unknown", optopt);
            return cli_usage_error("console", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("console", "unexpected argument '%s'", argv[optind]);
    if (o.read_only && o.demo_traffic == DEMO_TRAFFIC_ON)
        return cli_usage_error(
            "console", "--demo-traffic is refused with --read-only (it records executions)");
    return console_run(&o);
}
