/* Internals of redaction, shared by core/redact.c (rules, the walk,
 * records, contexts) and core/redact_text.c (strings as untrusted text:
 * JSON inside them, known secret values). Not a public API: callers
 * include core/redact.h. */
#ifndef INTENTUS_CORE_REDACT_TEXT_H
#define INTENTUS_CORE_REDACT_TEXT_H

#include <cjson/cJSON.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/redact.h"

#define MAX_DEPTH 128 /* deeper than this is replaced whole: fail closed */
#define MAX_SEGS 32

typedef bool (*accept_fn)(const char *s, size_t n);
/* A cheap, exact test that s may hold a match (a literal the regex needs,
 * a run of enough characters): regexec runs only when it says yes. */
typedef bool (*maybe_fn)(const char *s);

struct pattern {
    char *name, *regex;
    regex_t re;
    accept_fn accept; /* built-in rules ERE cannot express fully; may be NULL */
    maybe_fn maybe;   /* built-in rules only; NULL: always try */
};

struct key_rule {
    char *glob, *norm, *name;
    char *lower;  /* norm lowered */
    bool literal; /* no glob characters: compared as lower, no fnmatch */
};

struct path_rule {
    char *text, *name;
    char *segs[MAX_SEGS];
    size_t n;
};

struct redactor {
    bool enabled;
    char *replacement;
    struct key_rule *keys;
    size_t n_keys;
    struct path_rule *paths;
    size_t n_paths;
    struct pattern *patterns;
    size_t n_patterns;
    cJSON *rules; /* effective rules, for the version hash and previews */
    char version[48];
};

struct redact_ctx {
    const struct redactor *r;
    char **vals; /* known secret values, longest first once built */
    size_t n, cap;
};

struct walk {
    const struct redactor *r;
    struct redact_report *rep;
    const struct redact_ctx *ctx; /* secrets to mask in text; may be NULL */
    struct redact_ctx *collect;   /* building a context: keep what rules hit */
    const char *const *keep;      /* holder-relative dotted paths left alone */
    char path[1024];
    size_t plen;
    const char *segs[MAX_SEGS + 1];
    size_t nseg; /* key names from the data holder; deeper ones are not kept */
    size_t depth;
    size_t changes; /* values changed, whether or not rep keeps them */
    int failed;
};

/* In core/redact.c. */
void redact_note(struct walk *w, const char *rule);
int redact_set_string(cJSON *node, const char *s);
const char *redact_key_rule_hit(const struct redactor *r, const char *key);
void redact_walk_node(struct walk *w, cJSON *node);

/* In core/redact_text.c: the known secret values a context collects, and
 * the text passes redact_string makes over every string. */
int redact_collect_leaves(struct redact_ctx *c, const cJSON *node);
void redact_collect_match(struct walk *w, const char *s, size_t n);
void redact_text_json(struct walk *w, cJSON *node);
void redact_text_pairs(struct walk *w, cJSON *node);
void redact_text_known(struct walk *w, cJSON *node);

#endif
