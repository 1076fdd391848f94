/* intentus check determinism INTENT: run one envelope N times through the
 * embedded router and compare the executions' fingerprints
 * (core/fingerprint.h), naming the first difference. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fingerprint.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/runtime.h"
#include "core/safe_file.h"
#include "tui/cli.h"
#include "tui/cli_opt.h"

#define CHECK_MAX_RUNS 1000
#define CHECK_PAYLOAD_MAX ((size_t)16 << 20)

struct check_args {
    const char *payload, *config, *dir, *strategy, *target, *version;
    long runs;
    bool json;
};

#define F(field) offsetof(struct check_args, field)
static const struct cli_opt check_opts[] = {
    { .name = "payload",
      .short_name = 'p',
      .kind = CLI_OPT_STRING,
      .arg = "JSON|@FILE",
      .offset = F(payload),
      .help = "payload object (default {}); @FILE reads a file" },
    { .name = "runs",
      .short_name = 'n',
      .kind = CLI_OPT_COUNT,
      .arg = "N",
      .offset = F(runs),
      .help = "how many times to run it (default 3, 2 to 1000)" },
    { .name = "strategy",
      .short_name = 's',
      .kind = CLI_OPT_STRING,
      .arg = "S",
      .offset = F(strategy),
      .help = "direct (default), fallback, broadcast, parallel" },
    { .name = "target",
      .short_name = 't',
      .kind = CLI_OPT_STRING,
      .arg = "AGENT",
      .offset = F(target),
      .help = "target agent (direct strategy only)" },
    { .name = "intent-version",
      .short_name = 'V',
      .kind = CLI_OPT_STRING,
      .arg = "V",
      .offset = F(version),
      .help = "intent version (default 1.0)" },
    { .name = "config",
      .short_name = 'c',
      .kind = CLI_OPT_STRING,
      .arg = "FILE",
      .offset = F(config),
      .help = "config file (default: search order, then demo)" },
    { .name = "dir",
      .short_name = 'd',
      .kind = CLI_OPT_STRING,
      .arg = "DIR",
      .offset = F(dir),
      .help = "record directory (overrides the config)" },
    { .name = "json",
      .short_name = 'j',
      .kind = CLI_OPT_FLAG,
      .offset = F(json),
      .help = "the verdict and every run's fingerprint as JSON" },
    { .name = "help", .short_name = 'h', .kind = CLI_OPT_HELP, .help = "this help" },
    { .name = NULL },
};

static const struct cli_cmd check_cmd = {
    .name = "check determinism",
    .usage = "INTENT [options]",
    .about = "Route the same envelope N times through the embedded router (every run\n"
             "recorded) and compare the executions' fingerprints (see 'intentus records\n"
             "fingerprint'): the router's decision, the sequence of attempts and the\n"
             "response, without ids, timestamps and timings. Names the first run that\n"
             "differs from run 1 and the first difference in it.\n"
             "Exit status: 0 deterministic, 1 not (or a run not recorded), 2 usage or\n"
             "config error.\n",
    .opts = check_opts,
};

static cJSON *
load_payload(const char *arg)
{
    struct intentus_err err = { 0 };
    size_t len = 0;
    char *text = NULL;
    cJSON *v;

    if (arg == NULL)
        return cJSON_CreateObject();
    if (arg[0] == '@') {
        text = safe_file_read(arg + 1, CHECK_PAYLOAD_MAX, &len, &err);
        if (text == NULL) {
            cli_usage_error(check_cmd.name, "--payload %s: %s", arg, err.msg);
            return NULL;
        }
    }
    v = json_parse(text != NULL ? text : arg, text != NULL ? len : strlen(arg), 0, &err);
    free(text);
    if (v == NULL) {
        cli_usage_error(check_cmd.name, "--payload: not JSON: %s", err.msg);
        return NULL;
    }
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        cli_usage_error(check_cmd.name, "--payload: must be a JSON object");
        return NULL;
    }
    return v;
}

static int
check_usage(const struct check_args *a, struct envelope_opts *eo)
{
    if (a->runs < 2 || a->runs > CHECK_MAX_RUNS)
        return cli_usage_error(check_cmd.name, "--runs: must be from 2 to %d", CHECK_MAX_RUNS);
    eo->strategy = STRATEGY_DIRECT;
    eo->priority = PRIORITY_NORMAL;
    if (a->strategy != NULL && model_strategy_parse(a->strategy, &eo->strategy) != 0)
        return cli_usage_error(check_cmd.name,
                               "--strategy: unknown strategy '%s' (direct, fallback, broadcast, "
                               "parallel)",
                               a->strategy);
    if (a->target != NULL && eo->strategy != STRATEGY_DIRECT)
        return cli_usage_error(check_cmd.name, "--target: only the direct strategy uses it");
    eo->target_agent = a->target;
    eo->intent_version = a->version;
    return EXIT_OK;
}

/* One run: route a copy of env, fingerprint its record. */
static int
run_once(struct runtime *rt, struct rec_store *rs, const cJSON *env, struct fingerprint *fp,
         char *id, size_t id_size, char *why, size_t why_size)
{
    struct intentus_err err = { 0 };
    struct route_result res = { 0 };
    cJSON *e = cJSON_Duplicate(env, 1), *rec;
    int rc;

    if (e == NULL || runtime_route(rt, e, &res) != 0) {
        cJSON_Delete(e);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    route_result_settle(&res);
    cJSON_Delete(e);
    snprintf(id, id_size, "%s", res.execution_id);
    if (!res.recorded) {
        snprintf(why, why_size, "execution %s was not recorded: %s",
                 res.execution_id[0] ? res.execution_id : "(no id)",
                 res.sampled_out ? "sampled out (recording.sample_rate)" : res.record_err.msg);
        route_result_free(&res);
        return -1;
    }
    route_result_free(&res);
    rec = rec_store_load(rs, id, &err);
    rc = rec != NULL ? fingerprint_record(rec, fp, &err) : -1;
    cJSON_Delete(rec);
    if (rc != 0)
        snprintf(why, why_size, "%s: %s", id, err.msg);
    return rc;
}

/* Which parts of b differ from a: "decision, attempts". */
static void
parts_text(const struct fingerprint *a, const struct fingerprint *b, char *out, size_t size)
{
    const char *names[3] = { "decision", "attempts", "response" };
    bool differs[3] = { strcmp(a->decision, b->decision) != 0,
                        strcmp(a->attempts, b->attempts) != 0,
                        strcmp(a->response, b->response) != 0 };
    size_t used = 0;

    out[0] = '\0';
    for (int i = 0; i < 3 && used < size; i++) {
        if (differs[i])
            used += (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "", names[i]);
    }
}

static cJSON *
verdict_json(const char *intent, struct fingerprint *fps, char (*ids)[64], long n, long differs,
             const char *parts, const char *diff)
{
    cJSON *o = cJSON_CreateObject(), *runs;

    cJSON_AddStringToObject(o, "intent", intent);
    cJSON_AddBoolToObject(o, "deterministic", differs < 0);
    runs = cJSON_AddArrayToObject(o, "runs");
    for (long i = 0; runs != NULL && i < n; i++) {
        cJSON *r = fingerprint_json(&fps[i]);
        cJSON_DeleteItemFromObjectCaseSensitive(r, "material");
        cJSON_AddStringToObject(r, "executionId", ids[i]);
        cJSON_AddItemToArray(runs, r);
    }
    if (differs >= 0) {
        cJSON *d = cJSON_AddObjectToObject(o, "firstDifference");
        cJSON_AddNumberToObject(d, "run", (double)differs + 1);
        cJSON_AddStringToObject(d, "parts", parts);
        cJSON_AddStringToObject(d, "difference", diff);
    } else {
        cJSON_AddNullToObject(o, "firstDifference");
    }
    return o;
}

/* NOLINTBEGIN(readability-function-cognitive-complexity): parse, open, run, compare, report. */
static int
check_determinism(int argc, char **argv)
{
    struct check_args a = { .runs = 3 };
    struct envelope_opts eo = { 0 };
    struct intentus_err err = { 0 };
    struct runtime *rt = NULL;
    struct rec_store *rs = NULL;
    struct fingerprint *fps = NULL;
    char(*ids)[64] = NULL;
    char why[600], parts[64] = "", diff[700] = "";
    cJSON *payload = NULL, *env = NULL;
    long done = 0, differs = -1;
    int first = 0, rc;
    const char *intent;

    rc = cli_opt_parse(&check_cmd, argc, argv, &a, &first);
    if (rc != 0)
        return rc == CLI_OPT_SHOWN_HELP ? EXIT_OK : rc;
    if (first >= argc)
        return cli_usage_error(check_cmd.name, "missing INTENT");
    if (first + 1 < argc)
        return cli_usage_error(check_cmd.name, "unexpected argument '%s'", argv[first + 1]);
    intent = argv[first];
    if (intent[0] == '\0')
        return cli_usage_error(check_cmd.name, "INTENT must not be empty");
    if (check_usage(&a, &eo) != EXIT_OK)
        return EXIT_USAGE;
    payload = load_payload(a.payload);
    if (payload == NULL)
        return EXIT_USAGE;
    env = envelope_new(intent, payload, &eo, &err);
    if (env == NULL) {
        rc = cli_usage_error(check_cmd.name, "%s", err.msg);
        goto out;
    }
    rc = EXIT_FAIL;
    rt = runtime_open(a.config, &(struct runtime_opts){ .records_dir = a.dir, .workers = 1 }, &err);
    if (rt == NULL) {
        cli_error(check_cmd.name, "%s", err.msg);
        rc = EXIT_USAGE;
        goto out;
    }
    rs = rec_store_open(runtime_records_dir(rt),
                        &(struct rec_store_opts){ .keys = runtime_keys(rt) }, &err);
    fps = calloc((size_t)a.runs, sizeof(*fps));
    ids = calloc((size_t)a.runs, sizeof(*ids));
    if (rs == NULL || fps == NULL || ids == NULL) {
        cli_error(check_cmd.name, "%s", rs == NULL ? err.msg : "out of memory");
        goto out;
    }
    for (; done < a.runs; done++) {
        if (run_once(rt, rs, env, &fps[done], ids[done], sizeof(ids[done]), why, sizeof(why)) !=
            0) {
            cli_error(check_cmd.name, "run %ld: %s", done + 1, why);
            goto out;
        }
        if (differs < 0 && fingerprint_first_diff(&fps[0], &fps[done], diff, sizeof(diff))) {
            differs = done;
            parts_text(&fps[0], &fps[done], parts, sizeof(parts));
        }
    }
    if (a.json) {
        cJSON *v = verdict_json(intent, fps, ids, done, differs, parts, diff);
        cli_print_json(stdout, v);
        cJSON_Delete(v);
    } else {
        for (long i = 0; i < done; i++)
            printf("run %-3ld %s  %s\n", i + 1, ids[i], fps[i].all);
        if (differs < 0)
            printf("deterministic: %ld runs of %s, fingerprint %s\n", done, intent, fps[0].all);
        else
            printf("NOT deterministic: run %ld differs from run 1 in %s\n  first difference: "
                   "%s\n",
                   differs + 1, parts, diff);
    }
    rc = differs < 0 ? EXIT_OK : EXIT_FAIL;
out:
    for (long i = 0; fps != NULL && i < done; i++)
        fingerprint_free(&fps[i]);
    free(fps);
    free(ids);
    rec_store_close(rs);
    runtime_close(rt);
    cJSON_Delete(env);
    return rc;
}
/* NOLINTEND(readability-function-cognitive-complexity) */

int
cli_check(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "Usage: intentus check COMMAND [options]\n\nCommands:\n"
                   "  determinism  run one envelope N times and compare the fingerprints\n\n"
                   "Run 'intentus check determinism --help' for its options.\n");
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "determinism") != 0)
        return cli_usage_error("check", "unknown command '%s' (determinism)", argv[1]);
    return check_determinism(argc - 1, argv + 1);
}
