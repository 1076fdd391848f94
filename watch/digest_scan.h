/* The field scanner: the digest of a record (watch/digest.h) read straight
 * from its text, without building a cJSON tree. A small JSON tokenizer walks
 * the whole document once, checks it against the same grammar as
 * core/json.c's parser (strict JSON, well-formed UTF-8, valid escapes),
 * copies out only the values the digest needs and skips the rest.
 *
 * It answers only when it is sure to give exactly what the cJSON path
 * (digest_from_tree) gives. Anything else is "unsure" and the caller takes
 * the cJSON path, which also words the error of a corrupt file: text that
 * does not parse or is not a valid record, a repeated key in any object
 * (json.c keeps the last value, which may change the digest), a key with
 * an escape in it, an object of more than 64 keys or nesting deeper than 64
 * levels (where the redaction search stops). */
#ifndef INTENTUS_WATCH_DIGEST_SCAN_H
#define INTENTUS_WATCH_DIGEST_SCAN_H

#include <stddef.h>

#include "watch/digest.h"

/* 1: *out is the record's digest (owned by the caller); 0: unsure, *out is
 * NULL and the caller uses the cJSON path; -1: out of memory. */
int digest_scan(const char *id, const char *text, size_t len, struct digest **out);

#endif
