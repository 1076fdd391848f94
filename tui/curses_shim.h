/* The one place that picks the curses header (wide-character ncurses). */
#ifndef INTENTUS_TUI_CURSES_SHIM_H
#define INTENTUS_TUI_CURSES_SHIM_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <ncursesw/curses.h>

#endif
