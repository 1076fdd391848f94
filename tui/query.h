/* The records filter typed after '/': free words plus key:value terms
 * (intent:, agent:, status:, error:, since:), parsed into an index filter.
 * Pure text in, struct out; no curses, no index. */
#ifndef INTENTUS_TUI_QUERY_H
#define INTENTUS_TUI_QUERY_H

#include <stdint.h>

#include "watch/index.h"

struct query {
    char buf[512]; /* the parsed terms point into this copy */
    struct index_filter filter;
};

/* Parse text; now_us anchors "since:15m". Returns 0, or -1 with a message
 * naming the bad term in err[size]. An empty text matches everything. */
int query_parse(const char *text, int64_t now_us, struct query *q, char *err, size_t size);
/* A copy of src whose terms point into dst's own buf (a plain struct copy
 * would point into src's). */
void query_copy(struct query *dst, const struct query *src);

#endif
