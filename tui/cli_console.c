/* `intentus` with no command (or `intentus console`): the full-screen console. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/app.h"
#include "tui/cli.h"

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
    "      --read-only      never create or change anything\n"
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
        default:
            if (optopt != 0)
                return cli_usage_error("console", "option -%c needs a value or is unknown", optopt);
            return cli_usage_error("console", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("console", "unexpected argument '%s'", argv[optind]);
    return console_run(&o);
}
