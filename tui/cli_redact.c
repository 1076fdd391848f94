/* intentus redact: preview redaction on any JSON document or record, with
 * the rule that changed each field. Nothing is written. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/json.h"
#include "core/redact.h"
#include "core/safe_file.h"
#include "tui/cli.h"
#include "tui/fmt.h"

static const char redact_help[] =
    "Usage: intentus redact [FILE|-] [--rules F] [--json] [--config FILE]\n"
    "\n"
    "Print FILE (or stdin) as intentus would store it, redacted, and list every\n"
    "changed field with the rule that matched (on stderr; with --json both go to\n"
    "stdout as {\"document\", \"changes\": [{\"path\", \"rule\"}], \"rules\"}).\n"
    "A record (header + envelope) is redacted as the recorder does it: every\n"
    "field but its ids, hashes and event bookkeeping, and the secret values of\n"
    "its envelope are masked wherever they appear (known-secret); its\n"
    "envelopeHash is recomputed and header.originalEnvelopeHash keeps the one it\n"
    "had. Any other JSON is redacted everywhere. JSON inside a string (an\n"
    "agent's stderr, an HTTP body), whole or cut, is redacted as JSON. Nothing is\n"
    "written to disk.\n"
    "\n"
    "Options:\n"
    "  -r, --rules F     rules from F: a \"redaction\" object, or a config file\n"
    "                    holding one (default: the config's, else the built-in rules)\n"
    "  -c, --config F    config file to take the rules from (default: search order)\n"
    "  -j, --json        one JSON object on stdout\n"
    "  -h, --help        this help\n"
    "\n"
    "Rule format (the config's \"redaction\" object; every key optional):\n"
    "  {\n"
    "    \"enabled\": true,                  // records are redacted by default\n"
    "    \"replacement\": \"[REDACTED]\",\n"
    "    \"defaults\": true,                 // keep the built-in rules below\n"
    "    \"keys\": [\"password\", \"*token*\"],  // key names: glob, any depth, in arrays,\n"
    "                                      // ignoring case, '_' and '-'\n"
    "    \"paths\": [\"payload.credentials.secret\", \"payload.users.*.pin\"],\n"
    "                                      // from the envelope/response/event;\n"
    "                                      // '*' is any key; arrays are transparent\n"
    "    \"patterns\": [ { \"name\": \"bearer\",\n"
    "                    \"regex\": \"Bearer [A-Za-z0-9._~+/-]+=*\" } ]\n"
    "                                      // POSIX extended regex (regcomp\n"
    "                                      // REG_EXTENDED), case-sensitive; each\n"
    "                                      // match inside a string is replaced\n"
    "  }\n"
    "Built-in keys: password passwd secret client_secret secret_key token\n"
    "  access_token refresh_token id_token auth_token api_key apikey x-api-key\n"
    "  authorization proxy-authorization cookie set-cookie private_key access_key\n"
    "  session session_id\n"
    "Built-in patterns: bearer (Bearer tokens), sk-key (sk-... API keys),\n"
    "  aws-access-key (AKIA/ASIA...), jwt (eyJ...x.y.z), long-hex (32+ hex digits),\n"
    "  long-base64 (40+ base64 characters mixing cases and digits).\n"
    "Rule names in reports: key:<glob>, path:<path>, the pattern's name,\n"
    "  known-secret.\n"
    "\n"
    "Exit status: 0 done, 2 usage, unreadable input or bad rules.\n";

/* A file through the safe open, or - for stdin: the whole input, never a
 * silently shortened or emptied text; NULL with err set. */
static char *
read_input(const char *path, size_t *len, struct intentus_err *err)
{
    struct buf b = BUF_INIT;
    int rc, saved;

    if (strcmp(path, "-") != 0)
        return safe_file_read(path, (size_t)256 * 1024 * 1024, len, err);
    rc = buf_read_stream(&b, stdin, (size_t)256 * 1024 * 1024);
    saved = errno;
    if (rc != 0) {
        buf_free(&b);
        err_set(err, saved == EFBIG ? IERR_LIMIT : IERR_IO, "stdin: %s",
                saved == EFBIG ? "larger than 256 MiB" : strerror(saved));
        return NULL;
    }
    *len = b.len;
    return buf_take(&b); /* "" for an empty file */
}

/* --rules F: a redaction object, or a config file that holds one. */
static struct redactor *
rules_from_file(const char *path)
{
    struct intentus_err err = { 0 };
    size_t len = 0;
    char *text = read_input(path, &len, &err);
    cJSON *v, *inner;
    struct redactor *r;

    if (text == NULL) {
        cli_usage_error("redact", "--rules: %s", err.msg);
        return NULL;
    }
    v = json_parse(text, len, 64, &err);
    free(text);
    if (v == NULL) {
        cli_usage_error("redact", "--rules: %s: %s", path, err.msg);
        return NULL;
    }
    inner = cJSON_GetObjectItemCaseSensitive(v, "redaction");
    r = redactor_new(inner != NULL ? inner : v, inner != NULL ? "redaction" : path, &err);
    cJSON_Delete(v);
    if (r == NULL)
        cli_usage_error("redact", "--rules: %s", err.msg);
    return r;
}

static bool
is_record(const cJSON *v)
{
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(v, "header");

    return cJSON_IsObject(h) && json_get_string(h, "envelopeHash") != NULL &&
           cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(v, "envelope"));
}

static int
print_result(cJSON *doc, const struct redact_report *rep, const struct redactor *r, bool as_json)
{
    cJSON *out, *changes;

    if (!as_json) {
        cli_print_json(stdout, doc);
        char path[FMT_ESC_SIZE(256)], rule[FMT_ESC_SIZE(128)];
        /* Paths are the document's keys: escaped for the terminal. */
        for (size_t i = 0; i < rep->n; i++)
            fprintf(stderr, "%s\t%s\n", cli_esc(rep->items[i].path, path, sizeof(path)),
                    cli_esc(rep->items[i].rule, rule, sizeof(rule)));
        fprintf(stderr, "%zu field%s redacted (rules %s)\n", rep->n, rep->n == 1 ? "" : "s",
                cli_esc(redactor_version(r), rule, sizeof(rule)));
        return EXIT_OK;
    }
    out = cJSON_CreateObject();
    changes = cJSON_CreateArray();
    if (out == NULL || changes == NULL) {
        cJSON_Delete(out);
        cJSON_Delete(changes);
        fprintf(stderr, "intentus redact: out of memory\n");
        return EXIT_FAIL;
    }
    for (size_t i = 0; i < rep->n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "path", rep->items[i].path);
        cJSON_AddStringToObject(c, "rule", rep->items[i].rule);
        cJSON_AddItemToArray(changes, c);
    }
    cJSON_AddItemReferenceToObject(out, "document", doc);
    cJSON_AddItemToObject(out, "changes", changes);
    cJSON_AddStringToObject(out, "rules", redactor_version(r));
    cli_print_json(stdout, out);
    cJSON_Delete(out);
    return EXIT_OK;
}

int
cli_redact(int argc, char **argv)
{
    static const struct option opts[] = {
        { "rules", required_argument, NULL, 'r' },
        { "config", required_argument, NULL, 'c' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 },
    };
    const char *rules = NULL, *config = NULL, *input = "-";
    struct intentus_err err = { 0 };
    struct redact_report rep = { 0 };
    struct redactor *r = NULL;
    struct config *cfg = NULL;
    bool as_json = false;
    cJSON *doc = NULL;
    char *text = NULL;
    size_t len = 0;
    int c, rc = EXIT_USAGE;

    if (cli_wants_help(argc, argv)) {
        fputs(redact_help, stdout);
        return EXIT_OK;
    }
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "r:c:j", opts, NULL)) != -1) {
        if (c == 'r')
            rules = optarg;
        else if (c == 'c')
            config = optarg;
        else if (c == 'j')
            as_json = true;
        else
            return cli_usage_error("redact", "unknown option '%s'", argv[optind - 1]);
    }
    if (optind < argc)
        input = argv[optind++];
    if (optind < argc)
        return cli_usage_error("redact", "unexpected argument '%s'", argv[optind]);
    if (rules != NULL) {
        r = rules_from_file(rules);
    } else {
        cfg = cli_load_config(config);
        if (cfg == NULL)
            goto out;
    }
    if (rules != NULL && r == NULL)
        goto out;
    text = read_input(input, &len, &err);
    if (text == NULL) {
        cli_usage_error("redact", "%s", err.msg);
        goto out;
    }
    doc = json_parse(text, len, 0, &err);
    if (doc == NULL) {
        cli_usage_error("redact", "%s: %s", strcmp(input, "-") == 0 ? "stdin" : input, err.msg);
        goto out;
    }
    {
        const struct redactor *use = r != NULL ? r : cfg->redactor;
        int ok = is_record(doc) ? redact_record(use, doc, &rep, &err) : redact_tree(use, doc, &rep);
        if (ok != 0) {
            cli_error("redact", "%s", err.msg[0] ? err.msg : "out of memory");
            rc = EXIT_FAIL;
            goto out;
        }
        if (!redactor_enabled(use))
            fprintf(stderr, "intentus redact: note: redaction is disabled in this config "
                            "(redaction.enabled is false); records are stored as-is\n");
        rc = print_result(doc, &rep, use, as_json);
    }
out:
    redact_report_free(&rep);
    cJSON_Delete(doc);
    free(text);
    redactor_free(r);
    config_free(cfg);
    return rc;
}
