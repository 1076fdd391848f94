#include "tests/support/emcl_testutil.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "tests/support/agent_testutil.h"

#define RUN_TIMEOUT_MS 30000

extern char **environ;

/* "PYTHONPATH=<reference>" (tests only: resolved once per binary). */
static char pythonpath[PATH_MAX + 16];
static char script[PATH_MAX];

static bool
resolve(void)
{
    const char *env = getenv("INTENTUS_REFERENCE_PYTHON");
    char path[PATH_MAX];

    if (pythonpath[0] != '\0')
        return true;
    if (tu_python() == NULL ||
        (realpath(env != NULL && env[0] ? env : "../shared/reference/python", path) == NULL &&
         realpath("/work/shared/reference/python", path) == NULL) ||
        realpath("tests/support/ref_emcl.py", script) == NULL)
        return false;
    snprintf(pythonpath, sizeof(pythonpath), "PYTHONPATH=%s", path);
    return true;
}

bool
te_ref_available(void)
{
    static int state; /* 0 unknown, 1 yes, -1 no */
    const char *argv[] = { NULL, "-c", "import intentusnet.security.emcl", NULL };
    char *env[] = { pythonpath, NULL };
    struct tu_run r;

    if (state != 0)
        return state > 0;
    state = -1;
    if (!resolve())
        return false;
    argv[0] = tu_python();
    if (tu_run((char *const *)argv, NULL, NULL, env, RUN_TIMEOUT_MS, &r) == 0 && r.status == 0)
        state = 1;
    else
        fprintf(stderr, "# the reference's EMCL cannot be imported (cryptography missing?)\n");
    tu_run_free(&r);
    return state > 0;
}

int
te_ref_run(const char *const *args, const char *key, const char *stdin_text, struct tu_run *out)
{
    const char *argv[24] = { NULL, script };
    char keyenv[512];
    char *env[] = { pythonpath, keyenv, NULL };
    size_t n = 2;

    if (!resolve())
        return -1;
    argv[0] = tu_python();
    for (size_t i = 0; args[i] != NULL && n < 23; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    snprintf(keyenv, sizeof(keyenv), "INTENTUS_TEST_EMCL_KEY=%s", key);
    return tu_run((char *const *)argv, NULL, stdin_text, env, RUN_TIMEOUT_MS, out);
}

static int
read_port(int fd, int timeout_ms)
{
    char line[64];
    size_t len = 0;
    int64_t until = clock_mono_us() + (int64_t)timeout_ms * 1000;

    while (len < sizeof(line) - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        int64_t left = (until - clock_mono_us()) / 1000;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || read(fd, line + len, 1) != 1)
            return -1;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    return atoi(line);
}

int
te_ref_server_start(struct te_ref_server *s, const char *mode, const char *key, const char *log)
{
    const char *argv[12] = { NULL, script, "server", "--mode", mode, "--log", log, NULL };
    char keyenv[512], **env;
    size_t ne = 0, k = 0;
    int in[2], out[2], e;
    posix_spawn_file_actions_t fa;

    memset(s, 0, sizeof(*s));
    s->stdin_fd = s->stdout_fd = -1;
    if (!resolve())
        return -1;
    argv[0] = tu_python();
    while (environ[ne] != NULL)
        ne++;
    if ((env = calloc(ne + 3, sizeof(char *))) == NULL)
        return -1;
    for (size_t i = 0; i < ne; i++)
        if (strncmp(environ[i], "PYTHONPATH=", 11) != 0)
            env[k++] = environ[i];
    snprintf(keyenv, sizeof(keyenv), "INTENTUS_TEST_EMCL_KEY=%s", key);
    env[k++] = pythonpath;
    env[k++] = keyenv;
    if (pipe2(in, O_CLOEXEC) != 0) {
        free(env);
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        free(env);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    e = posix_spawn(&s->pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(in[0]);
    close(out[1]);
    s->stdin_fd = in[1];
    s->stdout_fd = out[0];
    if (e != 0) {
        s->pid = 0;
        te_ref_server_stop(s);
        return -1;
    }
    if ((s->port = read_port(s->stdout_fd, 15000)) <= 0) {
        te_ref_server_stop(s);
        return -1;
    }
    return 0;
}

void
te_ref_server_stop(struct te_ref_server *s)
{
    if (s->stdin_fd >= 0)
        close(s->stdin_fd); /* end of its stdin: it exits */
    if (s->stdout_fd >= 0)
        close(s->stdout_fd);
    s->stdin_fd = s->stdout_fd = -1;
    if (s->pid > 0) {
        int64_t until = clock_mono_us() + 3000000;
        while (waitpid(s->pid, NULL, WNOHANG) == 0) {
            struct timespec ts = { 0, 10000000 };
            if (clock_mono_us() > until) {
                kill(s->pid, SIGKILL);
                waitpid(s->pid, NULL, 0);
                break;
            }
            nanosleep(&ts, NULL);
        }
    }
    s->pid = 0;
}
