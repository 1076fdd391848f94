/* A command line naming this binary as the user can run it, for hints
 * ("no records yet: run ..."): argv[0] when it names a path that is this
 * program from here (./intentus, build/intentus); the bare name when $PATH
 * finds this same program under it; else the real path of /proc/self/exe (a
 * wrapper's argv[0], a PATH that finds another intentus). */
#ifndef INTENTUS_TUI_SELF_CMD_H
#define INTENTUS_TUI_SELF_CMD_H

#include <stddef.h>

/* "<binary> ARGS [--config CONFIG] [--dir DIR]" into out, every word quoted
 * for a shell when it needs it; config and dir may be NULL. */
void self_command(const char *args, const char *config, const char *dir, char *out, size_t size);

#endif
