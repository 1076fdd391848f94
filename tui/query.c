#include "tui/query.h"

#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/units.h"

int
query_parse(const char *text, int64_t now_us, struct query *q, char *err, size_t size)
{
    char *save = NULL, *w;
    char *free_text = NULL;

    memset(q, 0, sizeof(*q));
    snprintf(q->buf, sizeof(q->buf), "%s", text != NULL ? text : "");
    for (w = strtok_r(q->buf, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save)) {
        char *colon = strchr(w, ':');
        const char *val;
        if (colon == NULL || colon == w) {
            if (free_text != NULL) {
                snprintf(err, size, "one free-text word at a time ('%s' and '%s')", free_text, w);
                return -1;
            }
            free_text = w;
            continue;
        }
        *colon = '\0';
        val = colon + 1;
        if (*val == '\0') {
            snprintf(err, size, "'%s:' needs a value", w);
            return -1;
        }
        if (strcmp(w, "intent") == 0) {
            q->filter.intent = val;
        } else if (strcmp(w, "agent") == 0) {
            q->filter.agent = val;
        } else if (strcmp(w, "status") == 0) {
            if (!index_status_is_valid(val)) {
                snprintf(err, size, "status:%s: use ok, error, incomplete or corrupt", val);
                return -1;
            }
            q->filter.status = val;
        } else if (strcmp(w, "error") == 0) {
            q->filter.error_code = val;
        } else if (strcmp(w, "since") == 0) {
            int64_t ms, abs_us;
            if (clock_parse_iso(val, &abs_us) == 0) {
                q->filter.since_us = abs_us;
            } else if (units_parse_duration_ms(val, &ms, NULL) == 0) {
                q->filter.since_us = now_us - ms * 1000;
            } else {
                snprintf(err, size, "since:%s: use a duration (15m, 2h, 7d) or an ISO time", val);
                return -1;
            }
        } else {
            snprintf(err, size, "unknown term '%s:' (intent, agent, status, error, since)", w);
            return -1;
        }
    }
    q->filter.text = free_text;
    return 0;
}

/* p rebased from src's buf into dst's (a term outside it stays as it is). */
static const char *
rebase(const char *p, const struct query *src, struct query *dst)
{
    if (p == NULL || p < src->buf || p >= src->buf + sizeof(src->buf))
        return p;
    return dst->buf + (p - src->buf);
}

void
query_copy(struct query *dst, const struct query *src)
{
    struct index_filter *f = &dst->filter;

    if (dst == src)
        return;
    memcpy(dst, src, sizeof(*dst));
    f->intent = rebase(src->filter.intent, src, dst);
    f->agent = rebase(src->filter.agent, src, dst);
    f->status = rebase(src->filter.status, src, dst);
    f->error_code = rebase(src->filter.error_code, src, dst);
    f->text = rebase(src->filter.text, src, dst);
    f->failed_agent = rebase(src->filter.failed_agent, src, dst);
}
