#include "tests/support/testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "tests/support/cli_expect.h"

extern char **environ;

char *
tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    char *p;

    snprintf(tmpl, sizeof(tmpl), "%s/intentus-test-XXXXXX", base && base[0] ? base : "/tmp");
    p = mkdtemp(tmpl);
    if (p == NULL) {
        perror("mkdtemp");
        abort();
    }
    return strdup(p);
}

static void
rmtree_at(int dfd)
{
    DIR *d = fdopendir(dfd);
    struct dirent *de;

    if (d == NULL) {
        close(dfd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), de->d_name, 0) != 0 && (errno == EISDIR || errno == EPERM)) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
            if (sub >= 0) {
                fchmod(sub, 0700);
                rmtree_at(sub);
            }
            unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR);
        }
    }
    closedir(d);
}

void
tu_rmtree(const char *path)
{
    int fd;

    if (path == NULL || path[0] == '\0' || strcmp(path, "/") == 0)
        return;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0)
        return;
    rmtree_at(fd);
    rmdir(path);
}

char *
tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct buf b = BUF_INIT;
    char chunk[8192];
    size_t n;

    if (f == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    if (len != NULL)
        *len = b.len;
    return buf_take(&b);
}

int
tu_write_file(const char *path, const char *data, size_t len, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    ssize_t w;

    if (fd < 0)
        return -1;
    w = write(fd, data, len);
    close(fd);
    return w == (ssize_t)len ? 0 : -1;
}

const char *
tu_data_dir(void)
{
    const char *d = getenv("INTENTUS_TEST_DATA");
    return d != NULL && d[0] != '\0' ? d : "tests/data";
}

const char *
tu_bin(void)
{
    const char *b = getenv("INTENTUS_BIN");
    return b != NULL && b[0] != '\0' ? b : "build/intentus";
}

int
tu_count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name), sl = suffix ? strlen(suffix) : 0;
        if (de->d_name[0] == '.')
            continue;
        if (suffix != NULL && (len < sl || strcmp(de->d_name + len - sl, suffix) != 0))
            continue;
        n++;
    }
    closedir(d);
    return n;
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
tu_run(char *const argv[], const char *cwd, const char *stdin_text, char *const env_extra[],
       int timeout_ms, struct tu_run *out)
{
    int in[2], po[2], pe[2], status = 0;
    struct buf ob = BUF_INIT, eb = BUF_INIT;
    int64_t deadline = now_ms() + timeout_ms;
    size_t in_off = 0, in_len = stdin_text ? strlen(stdin_text) : 0;
    pid_t pid;
    int open_fds;

    memset(out, 0, sizeof(*out));
    if (pipe2(in, O_CLOEXEC) || pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC))
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (cwd != NULL && chdir(cwd) != 0)
            _exit(126);
        for (size_t i = 0; env_extra != NULL && env_extra[i] != NULL; i++)
            putenv(env_extra[i]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(po[1]);
    close(pe[1]);
    signal(SIGPIPE, SIG_IGN);
    if (stdin_text == NULL) {
        close(in[1]);
        in[1] = -1;
    }
    open_fds = 2;
    while (open_fds > 0) {
        struct pollfd pfd[3] = { { po[0], POLLIN, 0 },
                                 { pe[0], POLLIN, 0 },
                                 { in[1], POLLOUT, 0 } };
        int64_t left = deadline - now_ms();
        char chunk[8192];
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(pfd, 3, (int)left) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (pfd[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP))) {
                ssize_t r = read(pfd[i].fd, chunk, sizeof(chunk));
                if (r > 0) {
                    buf_append(i == 0 ? &ob : &eb, chunk, (size_t)r);
                } else {
                    close(pfd[i].fd);
                    if (i == 0)
                        po[0] = -1;
                    else
                        pe[0] = -1;
                    open_fds--;
                }
            }
        }
        if (in[1] >= 0 && (pfd[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(in[1], stdin_text + in_off, in_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            if (w < 0 || in_off >= in_len) {
                close(in[1]);
                in[1] = -1;
            }
        }
    }
    if (po[0] >= 0)
        close(po[0]);
    if (pe[0] >= 0)
        close(pe[0]);
    if (in[1] >= 0)
        close(in[1]);
    waitpid(pid, &status, 0);
    out->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    buf_putc(&ob, '\0');
    buf_putc(&eb, '\0');
    ob.len--;
    eb.len--;
    out->out = buf_take(&ob);
    out->err = buf_take(&eb);
    return 0;
}

void
tu_run_free(struct tu_run *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
}

void
tu_run_dump(const struct tu_run *r)
{
    print_message("# exit %d\n# stdout:\n%s\n# stderr:\n%s\n", r->status, r->out ? r->out : "",
                  r->err ? r->err : "");
}
