/* Execution fingerprints (the reference's v1.5.1 "execution fingerprints
 * and drift detection"): what an execution decided, the sequence of its
 * attempts and what it answered, with everything that changes from run to
 * run left out (ids, trace ids, timestamps, timings), each part the SHA-256
 * of its canonical JSON. Two runs of the same envelope are deterministic
 * when their fingerprints are equal. */
#ifndef INTENTUS_CORE_FINGERPRINT_H
#define INTENTUS_CORE_FINGERPRINT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct fingerprint {
    char all[65];      /* over the three parts below */
    char decision[65]; /* routerDecision {agent, intent, reason} and the strategy */
    char attempts[65]; /* [{type, agent, status, errorCode, ...}] of the attempt events */
    char response[65]; /* finalResponse {status, payload, error {code, message}} */
    cJSON *material;   /* owned: {"decision", "attempts", "response"}, what was hashed */
};

/* Fingerprint a record (ours or the reference's). */
int fingerprint_record(const cJSON *rec, struct fingerprint *out, struct intentus_err *err);
void fingerprint_free(struct fingerprint *f);
/* The fingerprint as JSON {fingerprint, decision, attempts, response, material}. */
cJSON *fingerprint_json(const struct fingerprint *f);
/* false when a and b agree; else true and the first difference in buf:
 * its path in the material and both values ("attempts[1].status: "ok" vs
 * "error""). */
bool fingerprint_first_diff(const struct fingerprint *a, const struct fingerprint *b, char *buf,
                            size_t size);

#endif
