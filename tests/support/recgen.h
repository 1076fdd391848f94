/* Synthetic execution records for the watcher and retention tests: small,
 * valid records written straight to a directory (by rename as intentus
 * writes, or in place as the reference writes), fast enough for bursts of
 * tens of thousands. */
#ifndef INTENTUS_TESTS_SUPPORT_RECGEN_H
#define INTENTUS_TESTS_SUPPORT_RECGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TU_REC_MAX_ATTEMPTS 4

struct tu_rec {
    char id[40];
    int64_t created_us;
    const char *intent;
    bool timing; /* intentus-style ts/offsetUs on events */
    int n_attempts;
    const char *agents[TU_REC_MAX_ATTEMPTS];
    bool ok[TU_REC_MAX_ATTEMPTS];
    int attempt_no[TU_REC_MAX_ATTEMPTS]; /* 0: no "attempt" key */
    int64_t latency_us[TU_REC_MAX_ATTEMPTS];
    const char *error_code;    /* finalResponse.error.code when the last attempt failed */
    const char *circuit_agent; /* a CIRCUIT_STATE_CHANGE for this agent, or NULL */
    const char *circuit_to;
};

/* A deterministic record from a seed: intents, agents, outcomes, latencies,
 * retries and circuit changes vary with it; created = base_us + seed ms. */
void tu_rec_make(struct tu_rec *r, unsigned seed, int64_t base_us);
/* The record's JSON text (caller frees). */
char *tu_rec_text(const struct tu_rec *r, size_t *len);
/* Write <dir>/<id>.json: by a hidden temp file and rename, or in place. */
int tu_rec_write(const char *dir, const struct tu_rec *r, bool by_rename);

struct store;
/* store_get_raw_each on s for the records of seeds from .. from + n - 1
 * (put there before, created base_us + seed ms) and an id s does not
 * hold: every record visited once, with the bytes tu_rec_text gives; the
 * missing id not visited. Fails the test otherwise. */
void tu_rec_check_get_each(struct store *s, unsigned from, unsigned n, int64_t base_us);

#endif
