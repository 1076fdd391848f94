/* The console's preferences that persist between runs: theme, the records
 * and agents sort, mouse on or off. Kept in
 * $XDG_STATE_HOME/intentus/console.prefs (~/.local/state/... without it),
 * written atomically (hidden temp file, rename) whenever one changes; the
 * user's config is never rewritten. The config's "console" section, when
 * present, wins over what was saved (core/config.h).
 *
 * Format: "key = value" lines, '#' comments, "version = 1"; unknown keys
 * are kept when the file is rewritten, an unknown version is refused. */
#ifndef INTENTUS_TUI_PREFS_H
#define INTENTUS_TUI_PREFS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct prefs {
    char theme[64];       /* "" : not set */
    char sort[32];        /* records: time|intent|agent|status|duration, "-" first reversed */
    char agents_sort[32]; /* dashboard: agent|calls|failures|rate|circuit|p95 */
    bool mouse_set, mouse;
    char extra[1024]; /* unknown "key = value" lines, kept as they were */
};

/* The file's path into buf; -1 when neither $XDG_STATE_HOME nor $HOME is
 * set (nothing persists then). */
int prefs_path(char *buf, size_t size);
/* Read path into p (zeroed first). A missing file is no error (p empty). */
int prefs_load(const char *path, struct prefs *p, struct intentus_err *err);
/* Write p to path, creating its directory (0700). */
int prefs_save(const char *path, const struct prefs *p, struct intentus_err *err);

#endif
