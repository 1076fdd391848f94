/* Human units in config files and on the command line: durations ("250ms",
 * "30s", "5m", "2h", "7d"; a bare number is milliseconds) and sizes ("512K",
 * "10M", "1G", "1T", optional "B"/"iB"; a bare number is bytes, binary
 * multiples). */
#ifndef INTENTUS_CORE_UNITS_H
#define INTENTUS_CORE_UNITS_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "core/err.h"

int units_parse_duration_ms(const char *text, int64_t *out_ms, struct intentus_err *err);
/* A config value that is a duration: a number of milliseconds or the text
 * above. On error err names path ("agents[0].timeout"). */
int units_json_duration_ms(const cJSON *v, const char *path, int64_t *out_ms,
                           struct intentus_err *err);
int units_parse_size(const char *text, uint64_t *out, struct intentus_err *err);

#endif
