/* Themes are data: text files of "element = fg bg attrs..." lines, parsed
 * here without a terminal, then resolved once against what the terminal can
 * show (256 colours as written, 8/16 colours through a nearest-colour table,
 * none at all as the attribute-only monochrome row). Views ask theme_attr();
 * nothing else calls init_pair(). */
#ifndef INTENTUS_TUI_THEME_H
#define INTENTUS_TUI_THEME_H

#include <stdbool.h>
#include <stddef.h>

#include "tui/theme_elems.h"

#define THEME_COLOR_DEFAULT (-1)

struct theme_style {
    short fg, bg;   /* 0-255, or THEME_COLOR_DEFAULT */
    unsigned attrs; /* THEME_A_* */
};

struct theme {
    char name[64];
    struct theme_style style[THEME_COUNT];
    bool mono; /* the attribute-only theme: ignore colours everywhere */
};

/* Problems found while parsing, as "file:line: reason" lines. */
struct theme_report {
    char text[1024];
    int count;
};

/* The built-in default theme (also shipped as themes/default.theme). */
const char *theme_default_text(void);
/* Start from the built-in default, then apply text line by line. A bad line
 * is reported and skipped; the element keeps its previous value. */
void theme_parse(struct theme *t, const char *name, const char *text, const char *source,
                 struct theme_report *report);
/* Load NAME from the first directory that has NAME.theme (dirs is
 * NULL-terminated). "default" and "mono" always exist. Returns 0, or -1
 * when no file is found (t is then the default theme). */
int theme_load(struct theme *t, const char *name, const char *const *dirs,
               struct theme_report *report);
/* The names available (built-ins plus *.theme files in dirs), sorted and
 * unique, into names[max][64]. Returns how many. */
size_t theme_list(const char *const *dirs, char names[][64], size_t max);
/* The nearest of the 8 basic colours to a 256-colour index. */
short theme_nearest8(short color);
const char *theme_elem_name(enum theme_elem e);
unsigned theme_elem_mono(enum theme_elem e);

/* Resolved attributes for curses (tui/theme.c is the only caller of
 * init_pair). colors = COLORS of the terminal, 0 for none. */
struct theme_attrs {
    unsigned long attr[THEME_COUNT]; /* attr_t values */
};
void theme_apply(const struct theme *t, int colors, bool use_color, struct theme_attrs *out);

#endif
