#include "core/snippet.h"

#include <stdlib.h>
#include <string.h>

#include "core/json.h"

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
        size_t n = p[i] < 0x80 ? 1 : json_utf8_len(p + i, len - i);
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
