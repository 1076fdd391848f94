#include "core/units.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A non-negative decimal number (digits, optional fraction) at the start of
 * text; *end points after it. */
static int
leading_number(const char *text, double *value, const char **end)
{
    const char *p = text;
    char *e;

    if (!isdigit((unsigned char)*p))
        return -1;
    while (isdigit((unsigned char)*p) || *p == '.')
        p++;
    errno = 0;
    *value = strtod(text, &e);
    if (errno != 0 || e != p || *value < 0)
        return -1;
    *end = p;
    return 0;
}

int
units_parse_duration_ms(const char *text, int64_t *out_ms, struct intentus_err *err)
{
    static const struct {
        const char *suffix;
        double ms;
    } units[] = { { "", 1 },      { "ms", 1 },      { "s", 1000 },
                  { "m", 60000 }, { "h", 3600000 }, { "d", 86400000.0 } };
    const char *end;
    double v;

    if (text != NULL && leading_number(text, &v, &end) == 0) {
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strcmp(end, units[i].suffix) == 0 && v * units[i].ms < 9.2e15) {
                *out_ms = (int64_t)(v * units[i].ms + 0.5);
                return 0;
            }
        }
    }
    err_set(err, IERR_INVALID,
            "'%s' is not a duration (a number of milliseconds, or with ms, s, m, h, d)",
            text ? text : "");
    return -1;
}

int
units_parse_size(const char *text, uint64_t *out, struct intentus_err *err)
{
    static const char letters[] = "KMGT";
    const char *end, *p;
    double v, mult = 1;

    if (text == NULL || leading_number(text, &v, &end) != 0)
        goto bad;
    p = end;
    if (*p != '\0') {
        const char *l = strchr(letters, toupper((unsigned char)*p));
        if (l != NULL) {
            for (const char *q = letters; q <= l; q++)
                mult *= 1024;
            p++;
            if (*p == 'i' || *p == 'I')
                p++;
        }
        if (*p == 'B' || *p == 'b')
            p++;
        if (*p != '\0')
            goto bad;
    }
    if (v * mult > 1.8e19)
        goto bad;
    *out = (uint64_t)(v * mult + 0.5);
    return 0;
bad:
    err_set(err, IERR_INVALID, "'%s' is not a size (bytes, or with K, M, G, T)", text ? text : "");
    return -1;
}

int
units_json_duration_ms(const cJSON *v, const char *path, int64_t *out_ms, struct intentus_err *err)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 9e15) {
        *out_ms = (int64_t)v->valuedouble;
        return 0;
    }
    if (cJSON_IsString(v) && units_parse_duration_ms(v->valuestring, out_ms, NULL) == 0)
        return 0;
    err_set(err, IERR_CONFIG, "%s: must be a duration such as 250ms, 30s, 5m or milliseconds",
            path);
    return -1;
}
