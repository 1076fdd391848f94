/* Redaction of what intentus persists. Agents always receive the envelope as
 * sent; only the copy written to disk is redacted (envelope payload,
 * response payloads and errors, event payloads).
 *
 * Three kinds of rule, each named so a report can say which one fired:
 *  - keys: a member whose key matches is replaced whole, at any depth and
 *    inside arrays. Patterns are fnmatch(3) globs ("*token*"), compared
 *    ignoring case and ignoring '_' and '-' (so "api_key" also catches
 *    "apiKey" and "API-KEY"). Named "key:<pattern>".
 *  - paths: dot-separated key names from the object that holds the data
 *    (the envelope, a response or an event): "payload.credentials.secret".
 *    A segment may be "*" (any key); arrays are transparent (a path passes
 *    through every element). Named "path:<path>".
 *  - patterns: POSIX extended regular expressions (regcomp REG_EXTENDED,
 *    case-sensitive unless written otherwise); every match inside a string
 *    value is replaced, the rest of the string kept. Named by their "name".
 * The replacement is "[REDACTED]" unless configured otherwise. */
#ifndef INTENTUS_CORE_REDACT_H
#define INTENTUS_CORE_REDACT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define REDACT_DEFAULT_REPLACEMENT "[REDACTED]"

struct redactor;

/* Parse a "redaction" object ({enabled, replacement, defaults, keys, paths,
 * patterns: [{name, regex}]}); obj NULL gives the built-in defaults, on. */
struct redactor *redactor_new(const cJSON *obj, const char *path, struct intentus_err *err);
void redactor_free(struct redactor *r);
bool redactor_enabled(const struct redactor *r);
/* "intentus-redact/1:<16 hex>": changes whenever the effective rules do. */
const char *redactor_version(const struct redactor *r);
const char *redactor_replacement(const struct redactor *r);
/* The effective rules as JSON ({replacement, keys, paths, patterns}), for
 * `intentus redact --rules` output and help. */
cJSON *redactor_rules_json(const struct redactor *r);

/* What changed: one entry per replaced value or string. */
struct redact_change {
    char path[256]; /* "envelope.payload.user.password", "events[3].payload.input" */
    char rule[96];
};
struct redact_report {
    struct redact_change *items; /* owned; redact_report_free */
    size_t n, cap;
    size_t fields; /* values changed (also counted when items is not kept) */
};
void redact_report_free(struct redact_report *rep);

/* Redact any JSON value in place, walking the whole tree; path rules are
 * matched from the root. rep may be NULL. -1 only when memory ran out. */
int redact_tree(const struct redactor *r, cJSON *root, struct redact_report *rep);

/* Redact a record tree in place: every field of the header (but its
 * hashes, id, creation time and redaction note), the whole envelope,
 * routerDecision, every event (all of its payload, the router's own events
 * included; seq, type, ts, offsetUs and INTENT_RECEIVED's config_hash
 * kept) and finalResponse (payload, error with its details, metadata).
 * The secret values of the record's envelope are masked wherever they
 * appear (see redact_ctx_new). Then make it self-consistent:
 * header.envelopeHash is the hash of the envelope as stored,
 * header.originalEnvelopeHash the one as received (the hash the header held
 * before), header.redaction {applied, rules, fields}. */
int redact_record(const struct redactor *r, cJSON *record, struct redact_report *rep,
                  struct intentus_err *err);

/* Every string is redacted as text that may hold JSON: a JSON object or
 * array found inside it gets all the rules as JSON (path rules counted from
 * its root) and is written back compact; "key": value pairs of JSON (or of
 * Python's repr, with single quotes) that do not parse, cut or not, get the
 * key rules. Captured agent output (stderr, HTTP bodies) is such text. */

/* Values shorter than this many bytes are not searched for in text: a
 * 3-byte value ("abc", "1.0") would mask half of every record. They are
 * still removed wherever a key or path rule applies. */
#define REDACT_MIN_SECRET 4

/* One execution's redaction: the rules plus the "known secret values" of
 * its envelope, that is every value a key or path rule redacts there (all
 * the scalars of a redacted object or array) and every text a pattern
 * matches, as written and JSON-escaped. Each of them is masked wherever it
 * appears in any later string (stderr, HTTP bodies, error messages, WAL
 * reasons) by plain substring search. env is only read, and may be NULL.
 * Read-only once built: threads may share it. */
struct redact_ctx;
struct redact_ctx *redact_ctx_new(const struct redactor *r, const cJSON *env,
                                  struct intentus_err *err);
void redact_ctx_free(struct redact_ctx *c);
/* How many known secret values c holds (for tests and reports). */
size_t redact_ctx_secrets(const struct redact_ctx *c);
/* Redact every member of obj in place (path rules counted from obj) except
 * the top-level keys listed in keep (NULL-terminated, may be NULL): for WAL
 * payloads, which keep their ids and hashes. c NULL: nothing to do. -1
 * only when memory ran out. */
int redact_ctx_tree(const struct redact_ctx *c, cJSON *obj, const char *const *keep,
                    struct redact_report *rep);
/* redact_record with the secrets of c (collected from the envelope as
 * received, before anything ran) instead of the record's own envelope. */
int redact_ctx_record(const struct redact_ctx *c, cJSON *record, struct redact_report *rep,
                      struct intentus_err *err);

#endif
