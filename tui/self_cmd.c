#include "tui/self_cmd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* s for a shell: as it is when it is plain, else in single quotes. */
static void
shell_word(const char *s, char *out, size_t size)
{
    size_t o = 0;
    bool plain = s[0] != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789_./-+:=@%") == strlen(s);

    if (plain) {
        snprintf(out, size, "%s", s);
        return;
    }
    if (size < 3)
        return;
    out[o++] = '\'';
    for (; *s && o + 6 < size; s++) {
        if (*s == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *s;
        }
    }
    out[o++] = '\'';
    out[o] = '\0';
}

/* The binary as the user can run it: argv[0] when it names a path that is
 * this program from here (./intentus, build/intentus); the bare name when
 * $PATH finds this same program under it; else the real path of
 * /proc/self/exe (a wrapper's argv[0], a PATH that finds another one). */
static void
self_name(char *out, size_t size)
{
    const char *a0 = program_invocation_name, *path = getenv("PATH");
    struct stat self, st;
    char *real;

    if (stat("/proc/self/exe", &self) != 0) {
        snprintf(out, size, "%s", a0);
        return;
    }
    if (strchr(a0, '/') != NULL && stat(a0, &st) == 0 && st.st_dev == self.st_dev &&
        st.st_ino == self.st_ino) {
        snprintf(out, size, "%s", a0);
        return;
    }
    for (const char *p = path; strchr(a0, '/') == NULL && p != NULL && *p != '\0';) {
        size_t n = strcspn(p, ":");
        char cand[1024];
        snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, a0);
        if (n > 0 && stat(cand, &st) == 0) { /* the first one PATH finds decides */
            if (st.st_dev == self.st_dev && st.st_ino == self.st_ino) {
                snprintf(out, size, "%s", a0);
                return;
            }
            break;
        }
        p += n + (p[n] == ':');
    }
    real = realpath("/proc/self/exe", NULL);
    snprintf(out, size, "%s", real != NULL ? real : a0);
    free(real);
}

void
self_command(const char *args, const char *config, const char *dir, char *out, size_t size)
{
    char name[1024], word[1100];
    size_t len;

    self_name(name, sizeof(name));
    shell_word(name, word, sizeof(word));
    len = (size_t)snprintf(out, size, "%s %s", word, args);
    if (config != NULL && len < size) {
        shell_word(config, word, sizeof(word));
        len += (size_t)snprintf(out + len, size - len, " --config %s", word);
    }
    if (dir != NULL && len < size) {
        shell_word(dir, word, sizeof(word));
        snprintf(out + len, size - len, " --dir %s", word);
    }
}
