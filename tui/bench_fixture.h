/* The benchmarks' configuration, payloads and envelopes: shared by
 * `intentus bench` (tui/cli_bench.c) and bench/intentus-bench, which
 * compiles this file too (bench/Makefile). */
#ifndef INTENTUS_TUI_BENCH_FIXTURE_H
#define INTENTUS_TUI_BENCH_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/err.h"
#include "core/model.h"

/* Intents: bench.echo (one echo agent), bench.fallback (two failing agents,
 * then echo), bench.fail (both fail: an error), bench.upper. Breakers off. */
struct config *bench_config(struct intentus_err *err);
/* A payload object whose compact JSON is about target bytes (never much
 * less): a query string, then items of ~200 bytes with an integer id, a
 * score, tags and text with some non-ASCII words. floats: the score and a
 * temperature are decimals (12.5, 0.25), else integers. Parsed with
 * json_parse, so numbers keep their text as they do for real input. NULL
 * when out of memory. */
cJSON *bench_payload(size_t target, unsigned seed, bool floats);
/* An envelope for intent with such a payload (with decimals). */
cJSON *bench_envelope(const char *intent, enum strategy strategy, size_t payload_size,
                      unsigned seed);

#endif
