/* Fuzz entry points: one function per target, shared by the libFuzzer
 * harnesses (tests/fuzz/fuzz_<name>.c, built by `make fuzz` with clang and
 * ASan+UBSan) and by the regression replay test (tests/fuzz/test_fuzz_replay.c,
 * built by `make test`), so a reproducer replays exactly what crashed.
 *
 * Each function takes arbitrary bytes, must never crash, leak or read out of
 * bounds, and checks a few invariants of what it exercised; a broken
 * invariant is reported on stderr and abort()s (libFuzzer keeps the input,
 * the replay test fails). */
#ifndef INTENTUS_TESTS_FUZZ_FUZZ_ENTRY_H
#define INTENTUS_TESTS_FUZZ_FUZZ_ENTRY_H

#include <stddef.h>
#include <stdint.h>

/* Record file bytes: record_parse, validate, verify (envelope and hash, as
 * `records verify` does), summarize, the watcher's digest, and a
 * pretty-print round trip that keeps the canonical form. */
void fuzz_record_one(const uint8_t *data, size_t size);
/* Record file bytes: the field scanner (digest_scan) against the cJSON path
 * (digest_from_tree); when the scanner answers, both digests are equal. */
void fuzz_digest_one(const uint8_t *data, size_t size);
/* Config file bytes: config_parse (agents, policy, redaction, recording). */
void fuzz_config_one(const uint8_t *data, size_t size);
/* JSON text: json_parse, canonical JSON and its SHA-256; canonical output is
 * a fixed point, and pretty/compact printing keep the canonical form. */
void fuzz_canon_one(const uint8_t *data, size_t size);
/* Redaction rules and a document: the bytes before the first NUL are the
 * "redaction" object (absent: the defaults), the rest is any JSON. Redacts
 * the tree, and when it is a record, redacts it as one and checks that its
 * envelopeHash still verifies. */
void fuzz_redact_one(const uint8_t *data, size_t size);
/* Theme file text: theme_parse. */
void fuzz_theme_one(const uint8_t *data, size_t size);
/* The records filter typed after '/': query_parse. */
void fuzz_query_one(const uint8_t *data, size_t size);
/* The payload editor: the first bytes are a script of edits (insert, newline,
 * moves, backspace, delete, format), the rest the initial text; validation
 * after every step, and the cursor stays on a character boundary. */
void fuzz_editor_one(const uint8_t *data, size_t size);

struct fuzz_target {
    const char *name; /* tests/fuzz/corpus/<name>, tests/fuzz/regressions/<name> */
    void (*one)(const uint8_t *data, size_t size);
};

/* Every target, NULL-terminated (the replay test walks it). */
extern const struct fuzz_target fuzz_targets[];

#endif
