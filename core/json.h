/* JSON text <-> cJSON trees without losing what the reference's records carry.
 *
 * cJSON's own parser turns every number into a double (big integers lose
 * digits, 1.50 and 1.5 become indistinguishable) and stops strings at U+0000.
 * Records written by the Python reference contain all of these, and the
 * envelope hash must be byte-identical to Python's, so intentus parses and
 * prints JSON itself and uses cJSON only as the tree:
 *
 *  - number nodes keep their exact source text in ->valuestring (valuedouble
 *    and valueint are set as cJSON would); numbers created in code with
 *    cJSON_CreateNumber have no text and print from the double;
 *  - strings are stored as UTF-8, except U+0000, which is stored as the
 *    two-byte sequence C0 80 ("modified UTF-8"), and lone UTF-16 surrogates
 *    (\ud800-\udfff without a partner), stored as their 3-byte generalised
 *    UTF-8 form (ED A0 80 - ED BF BF, "WTF-8"); the printers turn both back
 *    into \u escapes, so text round-trips exactly;
 *  - duplicate keys: the last value wins, at the position of the first key
 *    (what Python's dict does); json_parse_unique, for configs, refuses them;
 *  - NaN, Infinity and other non-JSON literals are rejected.
 */
#ifndef INTENTUS_CORE_JSON_H
#define INTENTUS_CORE_JSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define JSON_DEFAULT_MAX_DEPTH 256

/* Parse exactly one JSON value (surrounding whitespace allowed) from text[0..len).
 * max_depth <= 0 means JSON_DEFAULT_MAX_DEPTH. On error returns NULL and sets
 * err (IERR_PARSE) to "line L, column C: what is wrong". Invalid UTF-8 in the
 * input is an error. */
cJSON *json_parse(const char *text, size_t len, int max_depth, struct intentus_err *err);

/* json_parse for files people write (configs, policy files), where a
 * repeated key is a mistake to report rather than Python's last-wins: an
 * error (IERR_PARSE) "PATH: duplicate key ..." naming the first repeat's
 * JSON path in the config style ("recording.dir", "agents[1].name"). */
cJSON *json_parse_unique(const char *text, size_t len, int max_depth, struct intentus_err *err);

/* Python json.dumps(v, ensure_ascii=False, indent=2): 2-space indent, ", "
 * never used (items end with "," + newline), ": " after keys, empty
 * containers as [] / {}, raw UTF-8, no trailing newline. Key order as in the
 * tree. Returns 0, or -1 on allocation failure. */
int json_print_pretty(const cJSON *v, struct buf *out);

/* json_print_pretty of a value that sits level containers deep in a
 * pretty document: its members are indented 2 * (level + 1) spaces and its
 * closing bracket 2 * level, so the text can be spliced into the bigger
 * document (the record serializer, core/record_build.c). Same bytes as
 * printing the whole document. Returns 0, or -1 (nothing appended). */
int json_print_pretty_at(const cJSON *v, int level, struct buf *out);

/* A JSON string literal as every printer here writes it (quotes, escapes,
 * raw UTF-8, the storage conventions turned back into \u escapes). */
void json_print_string(const char *s, struct buf *out);

/* One line: separators "," and ":" with no spaces, raw UTF-8 (for JSONL,
 * agent stdin, HTTP bodies). */
int json_print_compact(const cJSON *v, struct buf *out);

/* One line as Python json.dumps(v, ensure_ascii=False) with its default
 * separators ", " and ": " (the reference's WAL lines), raw UTF-8. */
int json_print_spaced(const cJSON *v, struct buf *out);

/* Canonical text exactly as Python json.dumps(v, sort_keys=True,
 * separators=(",",":"), ensure_ascii=True): keys sorted by code point at every
 * depth, non-ASCII and controls escaped as lowercase \uXXXX (surrogate pairs
 * above U+FFFF), integers as their exact text ("-0" -> "0"), floats as Python
 * repr. Fails (IERR_INVALID) on a number that is not finite. */
int json_canonical(const cJSON *v, struct buf *out, struct intentus_err *err);

/* Lowercase hex SHA-256 of json_canonical(v) into hex[65]. */
int json_canonical_sha256(const cJSON *v, char hex[65], struct intentus_err *err);

/* Lowercase hex SHA-256 of arbitrary bytes into hex[65]. */
void json_sha256_hex(const void *data, size_t len, char hex[65]);

/* Python repr() of a double: the shortest digits that round-trip, fixed
 * notation for exponents -4 < p <= 16 ("1.0", "0.0001", "1e+16", "1.5e-07",
 * "-0.0"). Writes "NaN"/"Infinity"/"-Infinity" for non-finite values.
 * Returns the length written (buffer of 32 bytes is always enough). */
int json_format_double(double d, char *out, size_t size);

/* strtod in the C locale, whatever setlocale() the process made (a ','
 * decimal point must never change what a number means). */
double json_strtod(const char *s);

/* Text a config may name things with (agents, intents, nodeId, rule ids) is
 * shown on terminals, so it must hold no control character: C0 (including
 * U+0000, stored as C0 80), DEL, or C1 (U+0080-U+009F, which a terminal may
 * take as ESC [). Returns 0, or -1 with err (IERR_CONFIG) "PATH: contains
 * the control character U+XXXX ...". */
int json_check_display_text(const char *s, const char *path, struct intentus_err *err);

/* Convenience lookups that tolerate NULL and wrong types. */
/* cJSON_GetObjectItemCaseSensitive's answer (the first member named key;
 * NULL for NULL or no such member), with each key's pointer, then its first
 * byte compared before strcmp: envelope and response look-ups are a hot
 * path. */
cJSON *json_item(const cJSON *obj, const char *key);
/* cJSON_DetachItemFromObjectCaseSensitive's answer, found as json_item
 * finds it: the first member named key, unlinked and now the caller's. */
cJSON *json_detach(cJSON *obj, const char *key);
const char *json_get_string(const cJSON *obj, const char *key); /* NULL if absent/not string */
int json_get_int64(const cJSON *obj, const char *key, long long *out); /* 0 ok, -1 absent/not int */
/* The same for a member already found (NULL: absent). */
int json_int64_value(const cJSON *v, long long *out);

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF; avail bytes readable), or 0 if it
 * is not one: the rule the parser applies, for every reader that must
 * agree with it. */
size_t json_utf8_len(const unsigned char *s, size_t avail);

#endif
