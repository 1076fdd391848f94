#include "core/snippet.h"

#include <stdlib.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence at s (RFC 3629), 0 if none. */
static size_t
utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t n;

    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++) {
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    }
    return n;
}

cJSON *
snippet_json(const void *data, size_t len, size_t max)
{
    const unsigned char *p = data;
    size_t take = len < max ? len : max, i = 0, o = 0;
    char *text = malloc(take + 4);
    cJSON *s;

    if (text == NULL)
        return NULL;
    while (i < take) {
        size_t n = p[i] < 0x80 ? 1 : utf8_seq_len(p + i, len - i);
        if (n > 1 && i + n > take)
            break; /* the cap falls inside this character */
        if (n == 0 || p[i] == 0) {
            text[o++] = '?';
            i++;
            continue;
        }
        memcpy(text + o, p + i, n);
        o += n;
        i += n;
    }
    if (len > i) {
        memcpy(text + o, "...", 3);
        o += 3;
    }
    text[o] = '\0';
    s = cJSON_CreateString(text);
    free(text);
    return s;
}
