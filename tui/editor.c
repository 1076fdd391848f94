#include "tui/editor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"

void
editor_init(struct editor *e)
{
    memset(e, 0, sizeof(*e));
    editor_set(e, "");
}

void
editor_free(struct editor *e)
{
    free(e->text);
    memset(e, 0, sizeof(*e));
}

static int
reserve(struct editor *e, size_t extra)
{
    size_t need = e->len + extra + 1, cap;
    char *p;

    if (need > EDITOR_MAX_BYTES)
        return -1;
    if (need <= e->cap)
        return 0;
    cap = e->cap ? e->cap : 256;
    while (cap < need)
        cap *= 2;
    p = realloc(e->text, cap);
    if (p == NULL)
        return -1;
    e->text = p;
    e->cap = cap;
    return 0;
}

int
editor_set(struct editor *e, const char *text)
{
    size_t n = strlen(text);

    e->len = 0;
    if (reserve(e, n) != 0)
        return -1;
    memcpy(e->text, text, n + 1);
    e->len = n;
    e->cursor = n;
    return 0;
}

int
editor_insert(struct editor *e, const char *s, size_t n)
{
    if (reserve(e, n) != 0)
        return -1;
    memmove(e->text + e->cursor + n, e->text + e->cursor, e->len - e->cursor + 1);
    memcpy(e->text + e->cursor, s, n);
    e->len += n;
    e->cursor += n;
    return 0;
}

static size_t
line_start(const struct editor *e, size_t pos)
{
    while (pos > 0 && e->text[pos - 1] != '\n')
        pos--;
    return pos;
}

static size_t
line_end(const struct editor *e, size_t pos)
{
    while (pos < e->len && e->text[pos] != '\n')
        pos++;
    return pos;
}

int
editor_newline(struct editor *e)
{
    size_t start = line_start(e, e->cursor), indent = 0, back = e->cursor;
    char buf[258];

    while (start + indent < e->len && e->text[start + indent] == ' ' && indent < 240)
        indent++;
    while (back > start && e->text[back - 1] == ' ')
        back--;
    if (back > start && (e->text[back - 1] == '{' || e->text[back - 1] == '['))
        indent += 2;
    buf[0] = '\n';
    memset(buf + 1, ' ', indent);
    return editor_insert(e, buf, indent + 1);
}

static size_t
prev_char(const struct editor *e, size_t pos)
{
    if (pos == 0)
        return 0;
    pos--;
    while (pos > 0 && (e->text[pos] & 0xc0) == 0x80)
        pos--;
    return pos;
}

static size_t
next_char(const struct editor *e, size_t pos)
{
    if (pos >= e->len)
        return e->len;
    pos++;
    while (pos < e->len && (e->text[pos] & 0xc0) == 0x80)
        pos++;
    return pos;
}

void
editor_backspace(struct editor *e)
{
    size_t p = prev_char(e, e->cursor);

    memmove(e->text + p, e->text + e->cursor, e->len - e->cursor + 1);
    e->len -= e->cursor - p;
    e->cursor = p;
}

void
editor_delete(struct editor *e)
{
    size_t n = next_char(e, e->cursor);

    memmove(e->text + e->cursor, e->text + n, e->len - n + 1);
    e->len -= n - e->cursor;
}

static size_t
column_of(const struct editor *e, size_t pos)
{
    size_t col = 0;

    for (size_t i = line_start(e, pos); i < pos; i = next_char(e, i))
        col++;
    return col;
}

static size_t
at_column(const struct editor *e, size_t start, size_t col)
{
    size_t end = line_end(e, start), p = start;

    while (col-- > 0 && p < end)
        p = next_char(e, p);
    return p;
}

void
editor_left(struct editor *e)
{
    e->cursor = prev_char(e, e->cursor);
    e->goal_col = column_of(e, e->cursor);
}

void
editor_right(struct editor *e)
{
    e->cursor = next_char(e, e->cursor);
    e->goal_col = column_of(e, e->cursor);
}

void
editor_up(struct editor *e)
{
    size_t start = line_start(e, e->cursor);

    if (start == 0)
        return;
    if (e->goal_col < column_of(e, e->cursor))
        e->goal_col = column_of(e, e->cursor);
    e->cursor = at_column(e, line_start(e, start - 1), e->goal_col);
}

void
editor_down(struct editor *e)
{
    size_t end = line_end(e, e->cursor);

    if (end >= e->len)
        return;
    if (e->goal_col < column_of(e, e->cursor))
        e->goal_col = column_of(e, e->cursor);
    e->cursor = at_column(e, end + 1, e->goal_col);
}

void
editor_home(struct editor *e)
{
    e->cursor = line_start(e, e->cursor);
    e->goal_col = 0;
}

void
editor_end(struct editor *e)
{
    e->cursor = line_end(e, e->cursor);
    e->goal_col = column_of(e, e->cursor);
}

void
editor_position(const struct editor *e, size_t *line, size_t *col)
{
    size_t l = 0;

    for (size_t i = 0; i < e->cursor; i++)
        l += e->text[i] == '\n';
    *line = l;
    *col = column_of(e, e->cursor);
}

size_t
editor_lines(const struct editor *e)
{
    size_t n = 1;

    for (size_t i = 0; i < e->len; i++)
        n += e->text[i] == '\n';
    return n;
}

const char *
editor_line(const struct editor *e, size_t i, size_t *len)
{
    size_t p = 0;

    while (i > 0 && p < e->len) {
        if (e->text[p++] == '\n')
            i--;
    }
    if (i > 0) {
        *len = 0;
        return e->text + e->len;
    }
    *len = line_end(e, p) - p;
    return e->text + p;
}

bool
editor_validate(const struct editor *e, char *msg, size_t size)
{
    struct intentus_err err = { 0 };
    cJSON *v = json_parse(e->text, e->len, 64, &err);
    bool ok = v != NULL && cJSON_IsObject(v);

    if (v == NULL)
        snprintf(msg, size, "%s", err.msg);
    else if (!ok)
        snprintf(msg, size, "the payload must be a JSON object ({...})");
    else
        snprintf(msg, size, "valid JSON object");
    cJSON_Delete(v);
    return ok;
}

int
editor_format(struct editor *e)
{
    cJSON *v = json_parse(e->text, e->len, 64, NULL);
    struct buf b = BUF_INIT;
    int rc = -1;

    if (v != NULL && json_print_pretty(v, &b) == 0)
        rc = editor_set(e, b.data);
    buf_free(&b);
    cJSON_Delete(v);
    return rc;
}
