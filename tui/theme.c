#include "tui/theme.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/safe_file.h"
#include "tui/curses_shim.h"

static const char *const elem_names[] = {
#define X(sym, name, mono) name,
    THEME_ELEMENTS(X)
#undef X
};

static const unsigned elem_mono[] = {
#define X(sym, name, mono) (mono),
    THEME_ELEMENTS(X)
#undef X
};

/* Also in themes/default.theme; a test keeps the two equal. */
static const char default_text[] =
    "# intentus default theme: 256 colours, dark or light backgrounds\n"
    "normal            = default default\n"
    "title             = 231 24 bold\n"
    "tab               = 250 236\n"
    "tab.active        = 231 31 bold\n"
    "status            = 252 237\n"
    "table.header      = 111 default bold\n"
    "selection         = 231 25\n"
    "dim               = 244 default\n"
    "ok                = 77 default\n"
    "error             = 203 default bold\n"
    "warn              = 214 default\n"
    "circuit.closed    = 77 default\n"
    "circuit.open      = 231 160 bold\n"
    "circuit.half_open = 16 214 bold\n"
    "spark             = 44 default\n"
    "timeline.bar      = 16 74\n"
    "timeline.bar_error = 231 160\n"
    "json.key          = 110 default\n"
    "json.string       = 150 default\n"
    "json.number       = 180 default\n"
    "json.literal      = 176 default\n"
    "border            = 240 default\n"
    "prompt            = 222 default bold\n"
    "match             = 16 222\n";

static const struct {
    const char *name;
    short color;
} color_names[] = {
    { "black", 0 },        { "red", 1 },
    { "green", 2 },        { "yellow", 3 },
    { "blue", 4 },         { "magenta", 5 },
    { "cyan", 6 },         { "white", 7 },
    { "brightblack", 8 },  { "brightred", 9 },
    { "brightgreen", 10 }, { "brightyellow", 11 },
    { "brightblue", 12 },  { "brightmagenta", 13 },
    { "brightcyan", 14 },  { "brightwhite", 15 },
    { "gray", 8 },         { "grey", 8 },
};

static const struct {
    const char *name;
    unsigned bit;
} attr_names[] = {
    { "bold", THEME_A_BOLD },
    { "dim", THEME_A_DIM },
    { "underline", THEME_A_UNDERLINE },
    { "reverse", THEME_A_REVERSE },
    { "italic", THEME_A_ITALIC },
    { "blink", THEME_A_BLINK },
    { "normal", 0 },
};

const char *
theme_default_text(void)
{
    return default_text;
}

const char *
theme_elem_name(enum theme_elem e)
{
    return (unsigned)e < THEME_COUNT ? elem_names[e] : "?";
}

unsigned
theme_elem_mono(enum theme_elem e)
{
    return (unsigned)e < THEME_COUNT ? elem_mono[e] : 0;
}

static int
parse_color(const char *w, short *out)
{
    char *end;
    long v;

    if (strcasecmp(w, "default") == 0) {
        *out = THEME_COLOR_DEFAULT;
        return 0;
    }
    for (size_t i = 0; i < sizeof(color_names) / sizeof(color_names[0]); i++) {
        if (strcasecmp(w, color_names[i].name) == 0) {
            *out = color_names[i].color;
            return 0;
        }
    }
    v = strtol(w, &end, 10);
    if (*end != '\0' || end == w || v < 0 || v > 255)
        return -1;
    *out = (short)v;
    return 0;
}

static void report_add(struct theme_report *r, const char *source, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
report_add(struct theme_report *r, const char *source, int line, const char *fmt, ...)
{
    va_list ap;
    size_t len;

    if (r == NULL)
        return;
    r->count++;
    len = strlen(r->text);
    if (len + 2 >= sizeof(r->text))
        return;
    snprintf(r->text + len, sizeof(r->text) - len, "%s:%d: ", source, line);
    len = strlen(r->text);
    va_start(ap, fmt);
    vsnprintf(r->text + len, sizeof(r->text) - len, fmt, ap);
    va_end(ap);
    len = strlen(r->text);
    snprintf(r->text + len, sizeof(r->text) - len, "\n");
}

/* One "element = fg bg attrs..." line; all-or-nothing (tmux's style_parse). */
static void
parse_line(struct theme *t, char *line, const char *source, int lineno, struct theme_report *r)
{
    char *eq = strchr(line, '='), *words[8], *save = NULL, *w;
    struct theme_style st = { THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, 0 };
    int n = 0, elem = -1;
    char *name = line, *end;

    if (eq == NULL) {
        report_add(r, source, lineno, "expected 'element = fg bg [attributes]'");
        return;
    }
    *eq = '\0';
    while (isspace((unsigned char)*name))
        name++;
    end = name + strlen(name);
    while (end > name && isspace((unsigned char)end[-1]))
        *--end = '\0';
    for (int i = 0; i < THEME_COUNT; i++) {
        if (strcmp(name, elem_names[i]) == 0)
            elem = i;
    }
    if (elem < 0) {
        report_add(r, source, lineno, "unknown element '%s'", name);
        return;
    }
    for (w = strtok_r(eq + 1, " \t", &save); w != NULL && n < 8; w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    if (n < 2) {
        report_add(r, source, lineno, "'%s' needs a foreground and a background colour", name);
        return;
    }
    if (parse_color(words[0], &st.fg) != 0) {
        report_add(r, source, lineno, "bad colour '%s' (a name, default, or 0-255)", words[0]);
        return;
    }
    if (parse_color(words[1], &st.bg) != 0) {
        report_add(r, source, lineno, "bad colour '%s' (a name, default, or 0-255)", words[1]);
        return;
    }
    for (int i = 2; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < sizeof(attr_names) / sizeof(attr_names[0]); k++) {
            if (strcasecmp(words[i], attr_names[k].name) == 0) {
                st.attrs |= attr_names[k].bit;
                found = true;
            }
        }
        if (!found) {
            report_add(r, source, lineno, "unknown attribute '%s'", words[i]);
            return;
        }
    }
    t->style[elem] = st;
}

static void
apply_text(struct theme *t, const char *text, const char *source, struct theme_report *r)
{
    char *copy = strdup(text), *line;
    int lineno = 0;

    if (copy == NULL)
        return;
    /* strtok_r skips empty lines, so count newlines ourselves. */
    line = copy;
    while (line != NULL) {
        char *nl = strchr(line, '\n'), *s;
        if (nl != NULL)
            *nl = '\0';
        lineno++;
        s = line;
        while (isspace((unsigned char)*s))
            s++;
        if (*s != '\0' && *s != '#')
            parse_line(t, s, source, lineno, r);
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(copy);
}

void
theme_parse(struct theme *t, const char *name, const char *text, const char *source,
            struct theme_report *report)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    for (int i = 0; i < THEME_COUNT; i++)
        t->style[i] = (struct theme_style){ THEME_COLOR_DEFAULT, THEME_COLOR_DEFAULT, 0 };
    apply_text(t, default_text, "built-in", NULL);
    if (text != NULL && text != default_text)
        apply_text(t, text, source, report);
    t->mono = strcmp(name, "mono") == 0;
}

static bool
valid_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > 48)
        return false;
    for (const char *p = name; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    }
    return true;
}

int
theme_load(struct theme *t, const char *name, const char *const *dirs, struct theme_report *report)
{
    char path[1024];

    if (!valid_name(name)) {
        theme_parse(t, "default", NULL, "built-in", NULL);
        return -1;
    }
    for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
        char *text;
        snprintf(path, sizeof(path), "%s/%s.theme", dirs[i], name);
        text = safe_file_read(path, 65536, &(size_t){ 0 }, NULL);
        if (text != NULL) {
            theme_parse(t, name, text, path, report);
            free(text);
            return 0;
        }
    }
    if (strcmp(name, "default") == 0 || strcmp(name, "mono") == 0) {
        theme_parse(t, name, NULL, "built-in", NULL);
        return 0;
    }
    theme_parse(t, "default", NULL, "built-in", NULL);
    return -1;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

size_t
theme_list(const char *const *dirs, char names[][64], size_t max)
{
    size_t n = 0, out = 0;

    if (max >= 2) {
        snprintf(names[n++], 64, "default");
        snprintf(names[n++], 64, "mono");
    }
    for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *de;
        if (d == NULL)
            continue;
        while ((de = readdir(d)) != NULL && n < max) {
            size_t len = strlen(de->d_name);
            char base[64];
            if (len <= 6 || len - 6 >= sizeof(base) || strcmp(de->d_name + len - 6, ".theme") != 0)
                continue;
            snprintf(base, sizeof(base), "%.*s", (int)(len - 6), de->d_name);
            if (valid_name(base))
                snprintf(names[n++], 64, "%s", base);
        }
        closedir(d);
    }
    qsort(names, n, 64, cmp_names);
    for (size_t i = 0; i < n; i++) {
        if (out == 0 || strcmp(names[out - 1], names[i]) != 0) {
            if (out != i)
                memcpy(names[out], names[i], 64);
            out++;
        }
    }
    return out;
}

short
theme_nearest8(short c)
{
    static const int basic[8][3] = { { 0, 0, 0 },     { 205, 0, 0 },    { 0, 205, 0 },
                                     { 205, 205, 0 }, { 0, 0, 238 },    { 205, 0, 205 },
                                     { 0, 205, 205 }, { 229, 229, 229 } };
    static const int cube[6] = { 0, 95, 135, 175, 215, 255 };
    int r, g, b, best = 0;
    long best_d = -1;

    if (c < 0)
        return c;
    if (c < 16)
        return (short)(c % 8);
    if (c >= 232) {
        int v = 8 + (c - 232) * 10;
        return v < 128 ? 0 : 7;
    }
    c -= 16;
    r = cube[c / 36];
    g = cube[(c / 6) % 6];
    b = cube[c % 6];
    for (int i = 0; i < 8; i++) {
        long d = (long)(r - basic[i][0]) * (r - basic[i][0]) +
                 (long)(g - basic[i][1]) * (g - basic[i][1]) +
                 (long)(b - basic[i][2]) * (b - basic[i][2]);
        if (best_d < 0 || d < best_d) {
            best_d = d;
            best = i;
        }
    }
    return (short)best;
}

static attr_t
to_curses(unsigned a)
{
    attr_t r = A_NORMAL;

    if (a & THEME_A_BOLD)
        r |= A_BOLD;
    if (a & THEME_A_DIM)
        r |= A_DIM;
    if (a & THEME_A_UNDERLINE)
        r |= A_UNDERLINE;
    if (a & THEME_A_REVERSE)
        r |= A_REVERSE;
    if (a & THEME_A_ITALIC)
        r |= A_ITALIC;
    if (a & THEME_A_BLINK)
        r |= A_BLINK;
    return r;
}

void
theme_apply(const struct theme *t, int colors, bool use_color, struct theme_attrs *out)
{
    bool mono = t->mono || !use_color || colors < 8;

    for (int i = 0; i < THEME_COUNT; i++) {
        const struct theme_style *st = &t->style[i];
        short fg = st->fg, bg = st->bg;
        if (mono) {
            out->attr[i] = to_curses(elem_mono[i]);
            continue;
        }
        if (colors < 256) {
            fg = theme_nearest8(fg);
            bg = theme_nearest8(bg);
            /* Never let an element vanish: same fg and bg on 8 colours. */
            if (fg == bg && fg >= 0)
                fg = bg == 0 ? 7 : 0;
        }
        init_pair((short)(i + 1), fg, bg);
        out->attr[i] = to_curses(st->attrs) | COLOR_PAIR(i + 1);
    }
}
