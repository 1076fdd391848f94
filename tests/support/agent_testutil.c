#include "tests/support/agent_testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "core/json.h"
#include "core/model.h"

extern char **environ;

const char *
tu_python(void)
{
    static char path[4096]; /* tests only: resolved once per test binary */
    const char *env = getenv("INTENTUS_TEST_PYTHON");
    FILE *p;

    if (path[0] != '\0')
        return path;
    if (env != NULL && env[0] != '\0') {
        snprintf(path, sizeof(path), "%s", env);
        return path;
    }
    p = popen("python3 -c 'import sys; print(sys.executable)' 2>/dev/null", "r");
    if (p == NULL)
        return NULL;
    if (fgets(path, sizeof(path), p) == NULL)
        path[0] = '\0';
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
    return path[0] != '\0' ? path : NULL;
}

struct agent *
tu_agent_new(const char *entry_json, struct intentus_err *err)
{
    cJSON *entry = json_parse(entry_json, strlen(entry_json), 0, err);
    struct agent *a;

    if (entry == NULL)
        return NULL;
    a = agent_from_config(entry, "agents[0]", NULL, err);
    cJSON_Delete(entry);
    return a;
}

cJSON *
tu_envelope(const char *intent, enum strategy s, const char *payload_json, struct intentus_err *err)
{
    cJSON *payload = json_parse(payload_json, strlen(payload_json), 0, err);

    if (payload == NULL)
        return NULL;
    return envelope_new(intent, payload,
                        &(struct envelope_opts){ .strategy = s, .priority = PRIORITY_NORMAL }, err);
}

cJSON *
tu_agent_call(struct agent *a, const char *payload_json, int64_t timeout_ms,
              struct agent_cache *cache, int64_t *elapsed_ms, struct intentus_err *err)
{
    cJSON *payload = json_parse(payload_json, strlen(payload_json), 0, err), *env, *resp;
    struct agent_ctx ctx = { .cache = cache };
    int64_t start;

    if (payload == NULL)
        return NULL;
    env = envelope_new("t.agent", payload, NULL, err);
    if (env == NULL)
        return NULL;
    start = clock_mono_us();
    if (timeout_ms > 0)
        ctx.deadline_us = start + timeout_ms * 1000;
    resp = agent_call(a, env, &ctx, err);
    if (elapsed_ms != NULL)
        *elapsed_ms = (clock_mono_us() - start) / 1000;
    cJSON_Delete(env);
    return resp;
}

const char *
tu_code(const cJSON *resp)
{
    const char *c = response_error_code(resp);

    return c != NULL ? c : "";
}

const char *
tu_message(const cJSON *resp)
{
    const char *m = json_get_string(response_error(resp), "message");

    return m != NULL ? m : "";
}

bool
tu_retryable(const cJSON *resp)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(response_error(resp), "retryable"));
}

const cJSON *
tu_details(const cJSON *resp)
{
    return cJSON_GetObjectItemCaseSensitive(response_error(resp), "details");
}

int
tu_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.')
            n++;
    }
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

static bool
is_gone(pid_t pid)
{
    char path[64], buf[512], *p;
    FILE *f;

    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    /* A killed orphan may stay a zombie until this container's init reaps
     * it; a zombie runs nothing, so it counts as gone. */
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return true;
    p = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (p == NULL || (p = strrchr(buf, ')')) == NULL)
        return false;
    return p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

bool
tu_wait_gone(pid_t pid, int timeout_ms)
{
    int64_t until = clock_mono_us() + (int64_t)timeout_ms * 1000;

    while (!is_gone(pid)) {
        struct timespec ts = { 0, 10000000 };
        if (clock_mono_us() > until)
            return false;
        nanosleep(&ts, NULL);
    }
    return true;
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
        ssize_t n;
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        n = read(fd, line + len, 1);
        if (n <= 0)
            return -1;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    return atoi(line);
}

int
tu_http_server_start(struct tu_http_server *s, const char *const *extra_args)
{
    const char *argv[16] = { tu_python(),     "examples/agents/http_agent.py",
                             "--port",        "0",
                             "--max-seconds", "120" };
    int in[2], out[2], i = 6, e;
    posix_spawn_file_actions_t fa;

    memset(s, 0, sizeof(*s));
    s->stdin_fd = s->stdout_fd = -1;
    if (argv[0] == NULL)
        return -1;
    for (size_t k = 0; extra_args != NULL && extra_args[k] != NULL && i < 15; k++)
        argv[i++] = extra_args[k];
    if (pipe2(in, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    e = posix_spawn(&s->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    s->stdin_fd = in[1];
    s->stdout_fd = out[0];
    if (e != 0) {
        s->pid = 0;
        tu_http_server_stop(s);
        return -1;
    }
    s->port = read_port(s->stdout_fd, 10000);
    if (s->port <= 0) {
        tu_http_server_stop(s);
        return -1;
    }
    return 0;
}

void
tu_http_server_stop(struct tu_http_server *s)
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
