/* A digest is what the watcher keeps of one record file: the fields the
 * index and the aggregates need, copied out of the parsed record so the tree
 * can be freed at once (and so digests can cross from the watcher thread to
 * its consumer). Records from intentus and from the Python reference both
 * digest; a file that does not parse digests as corrupt, with the reason. */
#ifndef INTENTUS_WATCH_DIGEST_H
#define INTENTUS_WATCH_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/record.h"

enum digest_flag {
    DIGEST_CORRUPT = 1U << 0,        /* file did not parse; note says why */
    DIGEST_REDACTED = 1U << 1,       /* record carries "[REDACTED]" values */
    DIGEST_NO_TIMING = 1U << 2,      /* writer kept no event offsets (the reference) */
    DIGEST_NOT_REPLAYABLE = 1U << 3, /* header.replayable is false */
    /* Encryption at rest (core/crypt.h): */
    DIGEST_SEALED = 1U << 4,    /* the file is encrypted and was opened with its key */
    DIGEST_LOCKED = 1U << 5,    /* with CORRUPT: encrypted, its key is not available */
    DIGEST_TAMPERED = 1U << 6,  /* with CORRUPT: encrypted, the tag does not verify */
    DIGEST_TRUNCATED = 1U << 7, /* with CORRUPT: encrypted, shorter than its header says */
};

/* The word a list shows for a digest that could not be read: "encrypted"
 * (key missing), "tampered", "truncated" or "corrupt"; NULL when it was
 * read. Undecryptable files stay DIGEST_CORRUPT for everything else
 * (filters, retention), so they are treated exactly as corrupt ones. */
const char *digest_bad_word(unsigned flags);

/* One agent-level fact from a record's events. */
enum digest_step_kind {
    DIGEST_STEP_OK,      /* AGENT_ATTEMPT_END status "ok" */
    DIGEST_STEP_FAIL,    /* AGENT_ATTEMPT_END any other status */
    DIGEST_STEP_CIRCUIT, /* CIRCUIT_STATE_CHANGE: code = the new state ("to") */
    DIGEST_STEP_SKIP,    /* CIRCUIT_OPEN_SKIPPED: code = the breaker state */
    DIGEST_STEP_MODEL,   /* MODEL_CALL (core/subintent.h): code = input.model, latency_us =
                          * output.latencyMs (-1 when absent), tokens = input + output tokens */
};

/* Error code of a failed attempt: the END payload's own code when it has one
 * ("error": {"code"}, "errorCode" or "error_code"); else, for the last
 * failing attempt of a record whose outcome is an error, finalResponse's
 * error code; else "AGENT_ERROR" (the reference records no per-attempt
 * code, so an earlier failure's real code is unknown). */
struct digest_step {
    const char *agent;
    const char *code;   /* error code (FAIL) or circuit state (CIRCUIT, SKIP); NULL for OK */
    int64_t latency_us; /* END.offsetUs - START.offsetUs; -1 without timing */
    uint8_t kind;       /* enum digest_step_kind */
    uint8_t is_retry;   /* the START carried "attempt" > 1 */
    int64_t tokens;     /* MODEL: output.inputTokens + outputTokens; else 0 */
};

struct digest {
    char *id;
    int64_t created_us; /* header.createdUtcIso; file mtime for corrupt files */
    char *intent, *agent, *strategy, *error_code, *node;
    char *note; /* corrupt: the parse error; else the error message, or NULL */
    enum record_status status;
    int64_t duration_us; /* -1 when unknown */
    int attempts, retries, events;
    unsigned flags; /* enum digest_flag */
    uint64_t file_size;
    struct digest_step *steps;
    size_t n_steps;
};

/* Digest record text. Never fails on bad input: a file that does not parse
 * gives a corrupt digest (flags & DIGEST_CORRUPT, note = the reason), which
 * is also reported in err when err is non-NULL. NULL only when out of memory.
 * Reads the fields with the field scanner (watch/digest_scan.h) and takes
 * the cJSON path whenever the scanner is unsure. */
struct digest *digest_from_text(const char *id, const char *text, size_t len,
                                struct intentus_err *err);
/* The same digest through a whole cJSON tree (record_parse and
 * record_summarize): the reference the scanner is tested against. */
struct digest *digest_from_tree(const char *id, const char *text, size_t len,
                                struct intentus_err *err);
/* Every field of d as one line appended to out (tests compare digests
 * whole with it). 0, or -1 when out of memory. */
struct buf;
int digest_describe(const struct digest *d, struct buf *out);
/* A deep copy of src (owned by the caller); NULL when out of memory. */
struct digest *digest_copy(const struct digest *src);
struct digest *digest_corrupt(const char *id, int64_t when_us, const char *why);
void digest_free(struct digest *d);

#endif
