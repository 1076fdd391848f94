#include "tui/prefs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/safe_file.h"

#define PREFS_VERSION 1

int
prefs_path(char *buf, size_t size)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n;

    if (state != NULL && state[0] == '/')
        n = snprintf(buf, size, "%s/intentus/console.prefs", state);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(buf, size, "%s/.local/state/intentus/console.prefs", home);
    else
        return -1;
    return n > 0 && (size_t)n < size ? 0 : -1;
}

static char *
trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

static int
set_value(struct prefs *p, const char *path, int line, const char *key, const char *val,
          const char *raw, struct intentus_err *err)
{
    if (strcmp(key, "version") == 0) {
        char *end;
        long v = strtol(val, &end, 10);
        if (end == val || *end != '\0' || v != PREFS_VERSION) {
            err_set(err, IERR_CONFIG, "%s:%d: version %s is not one this console reads (%d)", path,
                    line, val, PREFS_VERSION);
            return -1;
        }
    } else if (strcmp(key, "theme") == 0) {
        snprintf(p->theme, sizeof(p->theme), "%s", val);
    } else if (strcmp(key, "sort") == 0) {
        snprintf(p->sort, sizeof(p->sort), "%s", val);
    } else if (strcmp(key, "agents_sort") == 0) {
        snprintf(p->agents_sort, sizeof(p->agents_sort), "%s", val);
    } else if (strcmp(key, "mouse") == 0) {
        if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0) {
            err_set(err, IERR_CONFIG, "%s:%d: mouse: '%s' is not on or off", path, line, val);
            return -1;
        }
        p->mouse_set = true;
        p->mouse = strcmp(val, "on") == 0;
    } else {
        size_t len = strlen(p->extra);
        if (len + strlen(raw) + 2 < sizeof(p->extra))
            snprintf(p->extra + len, sizeof(p->extra) - len, "%s\n", raw);
    }
    return 0;
}

int
prefs_load(const char *path, struct prefs *p, struct intentus_err *err)
{
    struct intentus_err rerr = { 0 };
    char *text, *save = NULL;
    size_t len = 0;
    int line = 0;

    memset(p, 0, sizeof(*p));
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    text = safe_file_read(path, (size_t)64 * 1024, &len, &rerr);
    if (text == NULL) {
        err_set(err, IERR_IO, "%s", rerr.msg);
        return -1;
    }
    for (char *l = strtok_r(text, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save)) {
        char raw[256], *eq, *key;
        line++;
        snprintf(raw, sizeof(raw), "%s", trim(l));
        key = trim(l);
        if (key[0] == '#' || key[0] == '\0')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            err_set(err, IERR_CONFIG, "%s:%d: not 'key = value'", path, line);
            free(text);
            return -1;
        }
        *eq = '\0';
        if (set_value(p, path, line, trim(key), trim(eq + 1), raw, err) != 0) {
            free(text);
            return -1;
        }
    }
    free(text);
    return 0;
}

/* mkdir -p of path's directory. */
static int
make_parent(const char *path, struct intentus_err *err)
{
    char dir[1024];

    snprintf(dir, sizeof(dir), "%s", path);
    for (char *s = strchr(dir + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            err_set(err, IERR_IO, "%s: cannot create: %s", dir, strerror(errno));
            return -1;
        }
        *s = '/';
    }
    return 0;
}

/* A hidden temp file next to path, then rename(): a reader sees the old
 * file or the new one, never half of one. */
static int
write_atomic(const char *path, const char *text, size_t len, struct intentus_err *err)
{
    char tmp[1100];
    const char *slash = strrchr(path, '/');
    size_t off = 0;
    int fd;

    snprintf(tmp, sizeof(tmp), "%.*s.%s.XXXXXX", slash ? (int)(slash - path + 1) : 0, path,
             slash ? slash + 1 : path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        err_set(err, IERR_IO, "%s: cannot create a temp file: %s", path, strerror(errno));
        return -1;
    }
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (off < len || fsync(fd) != 0) {
        err_set(err, IERR_IO, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        err_set(err, IERR_IO, "%s: cannot put in place: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int
prefs_save(const char *path, const struct prefs *p, struct intentus_err *err)
{
    char text[2048];
    int n;

    n = snprintf(text, sizeof(text),
                 "# intentus console preferences: written by the console when one changes\n"
                 "version = %d\n%s%s%s%s%s%s%s%s%s%s%s",
                 PREFS_VERSION, p->theme[0] ? "theme = " : "", p->theme, p->theme[0] ? "\n" : "",
                 p->sort[0] ? "sort = " : "", p->sort, p->sort[0] ? "\n" : "",
                 p->agents_sort[0] ? "agents_sort = " : "", p->agents_sort,
                 p->agents_sort[0] ? "\n" : "",
                 p->mouse_set ? (p->mouse ? "mouse = on\n" : "mouse = off\n") : "", p->extra);
    if (n < 0 || (size_t)n >= sizeof(text)) {
        err_set(err, IERR_LIMIT, "%s: preferences too long", path);
        return -1;
    }
    if (make_parent(path, err) != 0)
        return -1;
    return write_atomic(path, text, (size_t)n, err);
}
