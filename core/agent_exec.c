/* The exec agent kind: runs a configured command (no shell), writes the
 * envelope as one line of JSON to its stdin and reads one AgentResponse from
 * its stdout.
 *
 * The child gets its own process group, so a deadline, an oversized answer
 * or the end of the call kills everything it started, not just the first
 * process. One call owns its child from spawn to waitpid: no zombies, and
 * every pipe is opened O_CLOEXEC and closed on every path, so calls running
 * on other workers never inherit each other's descriptors. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/agent.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/exec_shepherd.h"
#include "core/json.h"
#include "core/model.h"
#include "core/snippet.h"
#include "core/units.h"

#define EXEC_STDERR_KEEP 4096
#define EXEC_DEFAULT_MAX_OUTPUT ((size_t)1024 * 1024)
#define EXEC_SNIPPET 256
/* After the child exits its output is already in the pipes; anything still
 * holding them open past this is a straggler outside its process group. */
#define EXEC_DRAIN_GRACE_US 200000

struct exec_agent {
    char **argv;    /* NULL-terminated */
    char **env_add; /* "NAME=value", NULL-terminated */
    size_t n_env;
    char *cwd; /* NULL: intentus's own */
    size_t max_output;
    bool inherit_env; /* intentus's whole environment, not the minimal one */
};

static const char *const exec_keys[] = { "argv", "env", "cwd", "max_output", "inherit_env", NULL };

/* Without "inherit_env", the child sees only these of intentus's variables
 * (PATH always: the default below when intentus has none), plus the
 * configured "env" entries: secrets in intentus's environment stay out. */
static const char *const exec_env_pass[] = { "PATH", "HOME", "LANG", "LC_ALL", "TZ", NULL };
#define EXEC_DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

static void
exec_free(void *state)
{
    struct exec_agent *x = state;

    if (x == NULL)
        return;
    for (size_t i = 0; x->argv != NULL && x->argv[i] != NULL; i++)
        free(x->argv[i]);
    for (size_t i = 0; i < x->n_env; i++)
        free(x->env_add[i]);
    free(x->argv);
    free(x->env_add);
    free(x->cwd);
    free(x);
}

static int
parse_argv(struct exec_agent *x, const cJSON *v, const char *path, struct intentus_err *err)
{
    const cJSON *it;
    size_t i = 0;

    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) == 0) {
        err_set(err, IERR_CONFIG,
                "%s.argv: %s (need a non-empty array of strings: the program, then its "
                "arguments)",
                path,
                v == NULL           ? "missing"
                : !cJSON_IsArray(v) ? "must be an array"
                                    : "must not be empty");
        return -1;
    }
    x->argv = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(char *));
    if (x->argv == NULL)
        goto nomem;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it) || (i == 0 && it->valuestring[0] == '\0')) {
            err_set(err, IERR_CONFIG, "%s.argv[%zu]: must be a%s string", path, i,
                    i == 0 ? " non-empty" : "");
            return -1;
        }
        if ((x->argv[i++] = strdup(it->valuestring)) == NULL)
            goto nomem;
    }
    /* A relative program path ("./agent", "bin/agent") means relative to
     * where intentus was started, also when "cwd" moves the child: resolve
     * it now, before the child's chdir could change its meaning. A bare
     * name is looked up in PATH at each call. */
    if (x->argv[0] != NULL && strchr(x->argv[0], '/') != NULL && x->argv[0][0] != '/') {
        char dir[PATH_MAX];
        char *abs;
        if (getcwd(dir, sizeof(dir)) == NULL) {
            err_set(err, IERR_CONFIG, "%s.argv[0]: cannot resolve '%s': %s", path, x->argv[0],
                    strerror(errno));
            return -1;
        }
        if (asprintf(&abs, "%s/%s", dir, x->argv[0]) < 0)
            goto nomem;
        free(x->argv[0]);
        x->argv[0] = abs;
    }
    return 0;
nomem:
    err_set(err, IERR_NOMEM, NULL);
    return -1;
}

static int
parse_env(struct agent *a, struct exec_agent *x, const cJSON *v, const char *path,
          struct intentus_err *err)
{
    const cJSON *it;

    if (v == NULL)
        return 0;
    if (!cJSON_IsObject(v)) {
        err_set(err, IERR_CONFIG, "%s.env: must be an object of NAME: value", path);
        return -1;
    }
    x->env_add = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof(char *));
    if (x->env_add == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    cJSON_ArrayForEach(it, v)
    {
        const char *value;
        if (it->string[0] == '\0' || strchr(it->string, '=') != NULL) {
            err_set(err, IERR_CONFIG, "%s.env.%s: not a valid variable name", path, it->string);
            return -1;
        }
        if (!cJSON_IsString(it)) {
            err_set(err, IERR_CONFIG, "%s.env.%s: must be a string", path, it->string);
            return -1;
        }
        {
            char where[256];
            snprintf(where, sizeof(where), "%s.env.%s", path, it->string);
            if (agent_resolve_env(a, it->valuestring, where, &value, err) != 0)
                return -1;
            if (value == NULL)
                continue; /* the agent is unavailable (agent_call) */
        }
        if (asprintf(&x->env_add[x->n_env], "%s=%s", it->string, value) < 0) {
            x->env_add[x->n_env] = NULL;
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        x->n_env++;
    }
    return 0;
}

static int
exec_init(struct agent *a, const cJSON *entry, const char *path, struct intentus_err *err)
{
    struct exec_agent *x = calloc(1, sizeof(*x));
    const cJSON *v;

    if (x == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    a->state = x; /* agent_free releases it on any failure below */
    x->max_output = EXEC_DEFAULT_MAX_OUTPUT;
    if (parse_argv(x, cJSON_GetObjectItemCaseSensitive(entry, "argv"), path, err) != 0 ||
        parse_env(a, x, cJSON_GetObjectItemCaseSensitive(entry, "env"), path, err) != 0)
        return -1;
    v = cJSON_GetObjectItemCaseSensitive(entry, "cwd");
    if (v != NULL && (!cJSON_IsString(v) || v->valuestring[0] == '\0')) {
        err_set(err, IERR_CONFIG, "%s.cwd: must be a non-empty string (a directory)", path);
        return -1;
    }
    if (v != NULL && (x->cwd = strdup(v->valuestring)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    v = cJSON_GetObjectItemCaseSensitive(entry, "inherit_env");
    if (v != NULL && !cJSON_IsBool(v)) {
        err_set(err, IERR_CONFIG,
                "%s.inherit_env: must be true or false (true passes intentus's whole "
                "environment to the program)",
                path);
        return -1;
    }
    x->inherit_env = cJSON_IsTrue(v);
    v = cJSON_GetObjectItemCaseSensitive(entry, "max_output");
    if (v != NULL) {
        uint64_t n = 0;
        bool ok = (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e12 &&
                   (n = (uint64_t)v->valuedouble) > 0) ||
                  (cJSON_IsString(v) && units_parse_size(v->valuestring, &n, NULL) == 0 && n > 0);
        if (!ok || n > SIZE_MAX / 2) {
            err_set(err, IERR_CONFIG,
                    "%s.max_output: must be a size such as 64K or 1M, or a number of bytes", path);
            return -1;
        }
        x->max_output = (size_t)n;
    }
    return 0;
}

static bool
env_is_named(const char *entry, const char *name)
{
    size_t len = strlen(name);

    return strncmp(entry, name, len) == 0 && entry[len] == '=';
}

/* Whether intentus's variable e goes to the child: every one with
 * "inherit_env", else only those in exec_env_pass; never one the
 * configured entries replace. */
static bool
env_passes(const struct exec_agent *x, const char *e)
{
    const char *eq = strchr(e, '=');
    size_t len = eq != NULL ? (size_t)(eq - e) : strlen(e);
    bool pass = x->inherit_env;

    for (size_t j = 0; j < x->n_env; j++) {
        if (strncmp(x->env_add[j], e, len) == 0 && x->env_add[j][len] == '=')
            return false;
    }
    for (size_t k = 0; !pass && exec_env_pass[k] != NULL; k++)
        pass = env_is_named(e, exec_env_pass[k]);
    return pass;
}

/* The child's environment: intentus's variables that pass (see
 * env_passes), a default PATH when none does, then the configured entries.
 * Only the array is allocated; the strings are borrowed. */
static char **
build_env(const struct exec_agent *x)
{
    size_t n = 0, o = 0;
    bool has_path = false;
    char **envp;

    for (char **e = environ; e != NULL && *e != NULL; e++)
        n++;
    envp = malloc((n + x->n_env + 2) * sizeof(char *));
    if (envp == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (env_passes(x, environ[i]))
            envp[o++] = environ[i];
    }
    for (size_t j = 0; j < x->n_env; j++)
        envp[o++] = x->env_add[j];
    for (size_t i = 0; i < o && !has_path; i++)
        has_path = env_is_named(envp[i], "PATH");
    if (!has_path)
        envp[o++] = (char *)EXEC_DEFAULT_PATH;
    envp[o] = NULL;
    return envp;
}

/* One running call. Descriptors are -1 once closed. pid is the call's
 * shepherd (core/exec_shepherd.h), which runs the agent. */
struct exec_run {
    pid_t pid;
    int in_fd, out_fd, err_fd, pid_fd, report_fd;
    const char *input;
    size_t input_len, input_off;
    struct buf out;
    size_t max_output;
    char err_text[EXEC_STDERR_KEEP];
    size_t err_len;
    int64_t exited_at_us;
    bool exited, group_killed, timed_out, over_cap, epipe, nomem, status_lost;
    int status;      /* the agent's wait status, as the shepherd reported it */
    int start_errno; /* the agent could not be started (fork or exec) */
};

static void
close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A pipe whose ends are close-on-exec and never 0, 1 or 2: if intentus was
 * started with a standard descriptor closed, pipe2 may hand one out, and
 * dup2 onto itself would leave it close-on-exec in the child. */
static int
make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (fds[i] <= 2) {
            int hi = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            if (hi < 0)
                return -1;
            close(fds[i]);
            fds[i] = hi;
        }
    }
    return 0;
}

static int
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* 0 when argv0 names an executable file (looked up in PATH when it has no
 * '/'), else the errno exec would fail with. posix_spawnp reports that
 * itself with glibc, but not where spawning falls back to a plain fork
 * (under valgrind, for one), where it becomes exit status 127; checking
 * first keeps "no such program" one clear error everywhere. */
static int
find_program(const char *argv0, char full[PATH_MAX])
{
    const char *path = getenv("PATH"), *p;
    int e = ENOENT;

    if (strchr(argv0, '/') != NULL) {
        if (strlen(argv0) >= PATH_MAX)
            return ENAMETOOLONG;
        memcpy(full, argv0, strlen(argv0) + 1); /* length checked above */
        return access(argv0, X_OK) == 0 ? 0 : errno;
    }
    for (p = path != NULL ? path : "/bin:/usr/bin";; p++) {
        const char *end = strchrnul(p, ':');
        int n = snprintf(full, PATH_MAX, "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "", argv0);
        if (n > 0 && n < PATH_MAX) {
            if (access(full, X_OK) == 0)
                return 0;
            if (errno == EACCES)
                e = EACCES;
        }
        if (*end == '\0')
            return e;
        p = end;
    }
}

/* The agent runs under a shepherd (core/exec_shepherd.c) that kills its
 * process group and every descendant reparented to it when the call ends,
 * at the deadline, and when intentus dies. Everything the children need is
 * prepared here, before the fork. Returns 0 or an errno value. */
static int
spawn_child(const struct exec_agent *x, struct exec_run *r)
{
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, er[2] = { -1, -1 }, rep[2] = { -1, -1 };
    char **envp = NULL, path[PATH_MAX];
    sigset_t all, old;
    struct exec_spawn sp;
    int e = 0;

    if ((e = find_program(x->argv[0], path)) != 0)
        return e;
    if (make_pipe(in) != 0 || make_pipe(out) != 0 || make_pipe(er) != 0 || make_pipe(rep) != 0) {
        e = errno;
        goto out;
    }
    if ((envp = build_env(x)) == NULL) {
        e = ENOMEM;
        goto out;
    }
    sp = (struct exec_spawn){ .path = path,
                              .argv = x->argv,
                              .envp = envp,
                              .cwd = x->cwd,
                              .stdin_fd = in[0],
                              .stdout_fd = out[1],
                              .stderr_fd = er[1],
                              .report_fd = rep[1] };
    /* No handler of intentus's may run in the children before they have
     * reset them: they start with every signal blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    r->pid = exec_shepherd_spawn(&sp);
    e = r->pid < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0)
        goto out;
    r->in_fd = in[1];
    r->out_fd = out[0];
    r->err_fd = er[0];
    r->report_fd = rep[0];
    in[1] = out[0] = er[0] = rep[0] = -1;
    set_nonblock(r->in_fd);
    set_nonblock(r->out_fd);
    set_nonblock(r->err_fd);
    set_nonblock(r->report_fd);
    /* A pidfd lets poll() wake when the shepherd exits; without one
     * (kernels before 5.3) the loop checks on a short timer instead. */
    r->pid_fd = (int)syscall(SYS_pidfd_open, r->pid, 0);
out:
    for (int i = 0; i < 2; i++) {
        close_fd(&in[i]);
        close_fd(&out[i]);
        close_fd(&er[i]);
        close_fd(&rep[i]);
    }
    free(envp);
    return e;
}

/* Ends the call: the shepherd kills the agent's group and descendants. */
static void
kill_group(struct exec_run *r)
{
    /* Only while the shepherd is unreaped: its pid cannot be reused yet. */
    if (!r->group_killed)
        kill(r->pid, SIGTERM);
    r->group_killed = true;
}

static void
check_exited(struct exec_run *r)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    /* WNOWAIT: see the exit but leave the zombie, which keeps the group id
     * ours until kill_group has run. */
    if (waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
        if (si.si_pid == r->pid)
            r->exited = true;
    } else if (errno == ECHILD) {
        r->exited = true; /* reaped behind our back (SIGCHLD set to SIG_IGN) */
    }
    if (r->exited)
        r->exited_at_us = clock_mono_us();
}

static void
feed_stdin(struct exec_run *r)
{
    while (r->input_off < r->input_len) {
        ssize_t w = write(r->in_fd, r->input + r->input_off, r->input_len - r->input_off);
        if (w > 0) {
            r->input_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        /* EPIPE: the agent does not want (the rest of) its input. That is
         * its business; its answer decides the outcome. */
        r->epipe = w < 0 && errno == EPIPE;
        break;
    }
    close_fd(&r->in_fd); /* end of file for the agent */
}

static void
drain_stdout(struct exec_run *r)
{
    char chunk[65536];

    for (;;) {
        ssize_t n = read(r->out_fd, chunk, sizeof(chunk));
        if (n > 0) {
            if ((size_t)n > r->max_output - r->out.len) {
                r->over_cap = true;
                break;
            }
            if (buf_append(&r->out, chunk, (size_t)n) != 0) {
                r->nomem = true;
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* end of file or a read error */
    }
    close_fd(&r->out_fd);
}

static void
drain_stderr(struct exec_run *r)
{
    char chunk[4096];

    for (;;) {
        ssize_t n = read(r->err_fd, chunk, sizeof(chunk));
        if (n > 0) {
            /* Keep the head (where the first error usually is); read and
             * drop the rest so the agent never blocks on a full pipe. */
            size_t keep = sizeof(r->err_text) - r->err_len;
            if (keep > (size_t)n)
                keep = (size_t)n;
            memcpy(r->err_text + r->err_len, chunk, keep);
            r->err_len += keep;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break;
    }
    close_fd(&r->err_fd);
}

/* Poll timeout in ms: until the deadline, the drain grace, and (without a
 * pidfd) the next exit check, whichever comes first; -1 for none. */
static int
poll_timeout(const struct exec_run *r, int64_t deadline_us, int64_t now)
{
    int64_t until = deadline_us > 0 ? deadline_us : 0, ms;

    if (r->exited && (until == 0 || r->exited_at_us + EXEC_DRAIN_GRACE_US < until))
        until = r->exited_at_us + EXEC_DRAIN_GRACE_US;
    ms = until > 0 ? (until - now + 999) / 1000 : -1;
    if (!r->exited && r->pid_fd < 0 && (ms < 0 || ms > 10))
        ms = 10;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Move bytes between intentus and the child until it has exited and its
 * pipes are drained, or until the deadline or the output cap ends it. */
static void
pump(struct exec_run *r, int64_t deadline_us)
{
    for (;;) {
        struct pollfd p[4];
        int n = 0, ms;
        int64_t now;

        if (!r->exited)
            check_exited(r);
        if (r->exited) {
            kill_group(r); /* whatever it left behind ends with the call */
            close_fd(&r->in_fd);
        }
        if (r->exited && r->out_fd < 0 && r->err_fd < 0)
            return;
        now = clock_mono_us();
        if (deadline_us > 0 && now >= deadline_us) {
            r->timed_out = true;
            return;
        }
        if (r->exited && now >= r->exited_at_us + EXEC_DRAIN_GRACE_US)
            return;
        ms = poll_timeout(r, deadline_us, now);
        if (r->in_fd >= 0)
            p[n++] = (struct pollfd){ .fd = r->in_fd, .events = POLLOUT };
        if (r->out_fd >= 0)
            p[n++] = (struct pollfd){ .fd = r->out_fd, .events = POLLIN };
        if (r->err_fd >= 0)
            p[n++] = (struct pollfd){ .fd = r->err_fd, .events = POLLIN };
        if (!r->exited && r->pid_fd >= 0)
            p[n++] = (struct pollfd){ .fd = r->pid_fd, .events = POLLIN };
        if (poll(p, (nfds_t)n, ms) < 0 && errno != EINTR) {
            r->nomem = true; /* only ENOMEM is possible with valid arguments */
            return;
        }
        for (int i = 0; i < n; i++) {
            if (p[i].revents == 0)
                continue;
            if (p[i].fd == r->in_fd)
                feed_stdin(r);
            else if (p[i].fd == r->out_fd)
                drain_stdout(r);
            else if (p[i].fd == r->err_fd)
                drain_stderr(r);
        }
        if (r->over_cap || r->nomem)
            return;
    }
}

/* Waits for the shepherd (which has killed everything by then) and takes
 * the agent's status from its report. */
static void
reap(struct exec_run *r)
{
    int st = 0, value = 0;

    kill_group(r);
    while (waitpid(r->pid, &st, 0) < 0) {
        if (errno != EINTR) {
            r->status_lost = true;
            return;
        }
    }
    switch (exec_shepherd_report(r->report_fd, &value)) {
    case EXEC_REPORT_STATUS:
        r->status = value;
        break;
    case EXEC_REPORT_NOT_STARTED:
        r->start_errno = value;
        break;
    case EXEC_REPORT_NONE:
        r->status = st; /* the shepherd itself was killed */
        break;
    }
}

static cJSON *
details_with_stderr(const struct exec_run *r)
{
    cJSON *d = cJSON_CreateObject();

    if (d != NULL && r->err_len > 0)
        cJSON_AddItemToObject(d, "stderr", snippet_json(r->err_text, r->err_len, EXEC_STDERR_KEEP));
    return d;
}

/* The child has been reaped: turn what happened into the response. */
static cJSON *
outcome(const struct agent *a, const cJSON *env, struct exec_run *r, int64_t start_us)
{
    const struct exec_agent *x = a->state;
    struct intentus_err perr = { 0 };
    cJSON *d = details_with_stderr(r), *resp;

    if (r->timed_out) {
        long long ms = (long long)((clock_mono_us() - start_us) / 1000);
        cJSON_AddNumberToObject(d, "elapsed_ms", (double)ms);
        return agent_error_response(a, env, ERR_AGENT_TIMEOUT, true, d,
                                    "no response within the deadline (killed after %lld ms)", ms);
    }
    if (r->over_cap) {
        cJSON_AddNumberToObject(d, "max_output", (double)x->max_output);
        return agent_error_response(a, env, ERR_PROTOCOL_ERROR, false, d, "output over %zu bytes",
                                    x->max_output);
    }
    if (r->status_lost)
        return agent_error_response(a, env, ERR_INTERNAL_AGENT_ERROR, false, d,
                                    "exit status lost (is SIGCHLD ignored in this process?)");
    if (r->start_errno != 0) {
        int e = r->start_errno;
        bool permanent = e == ENOENT || e == EACCES || e == ENOEXEC || e == ENOTDIR;
        return agent_error_response(a, env, ERR_AGENT_UNAVAILABLE, !permanent, d,
                                    "cannot run '%s': %s", x->argv[0], strerror(e));
    }
    if (WIFSIGNALED(r->status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(r->status));
        char name[32];
        snprintf(name, sizeof(name), "SIG%s", abbrev != NULL ? abbrev : "?");
        cJSON_AddStringToObject(d, "signal", name);
        return agent_error_response(a, env, ERR_INTERNAL_AGENT_ERROR, false, d,
                                    "killed by signal %s", name);
    }
    if (WEXITSTATUS(r->status) != 0) {
        cJSON_AddNumberToObject(d, "exit_status", WEXITSTATUS(r->status));
        return agent_error_response(a, env, ERR_INTERNAL_AGENT_ERROR, false, d,
                                    "exited with status %d", WEXITSTATUS(r->status));
    }
    resp = json_parse(r->out.data != NULL ? r->out.data : "", r->out.len, 0, &perr);
    if (resp == NULL || response_validate(resp, &perr) != 0) {
        bool parsed = resp != NULL;
        cJSON_Delete(resp);
        cJSON_AddItemToObject(d, "output", snippet_json(r->out.data, r->out.len, EXEC_SNIPPET));
        return agent_error_response(a, env, ERR_PROTOCOL_ERROR, false, d, "output is not %s: %s",
                                    parsed ? "an AgentResponse" : "JSON", perr.msg);
    }
    cJSON_Delete(d);
    return resp;
}

static cJSON *
exec_invoke(struct agent *a, cJSON *env, const struct agent_ctx *ctx, struct intentus_err *err)
{
    struct exec_run r = {
        .pid = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1, .pid_fd = -1, .report_fd = -1
    };
    struct exec_agent *x = a->state;
    struct buf input = BUF_INIT;
    sigset_t pipe_set, old_mask, pending;
    int64_t start = clock_mono_us();
    cJSON *resp = NULL;
    bool pipe_was_pending;
    int e;

    if (ctx->deadline_us > 0 && start >= ctx->deadline_us) {
        resp = agent_error_response(a, env, ERR_AGENT_TIMEOUT, true, NULL,
                                    "deadline passed before the agent was started");
        if (resp == NULL)
            err_set(err, IERR_NOMEM, NULL);
        return resp;
    }
    if (json_print_compact(env, &input) != 0 || buf_putc(&input, '\n') != 0) {
        buf_free(&input);
        err_set(err, IERR_NOMEM, "out of memory serialising the envelope");
        return NULL;
    }
    r.input = input.data;
    r.input_len = input.len;
    r.max_output = x->max_output;
    /* Writing to a child that has exited raises SIGPIPE, whose default
     * action would end intentus. Block it in this thread only (other
     * threads and the process disposition stay as they are), treat EPIPE as
     * "the agent stopped reading", and take back the one SIGPIPE our write
     * left pending, unless one was already pending before we started. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
    sigpending(&pending);
    pipe_was_pending = sigismember(&pending, SIGPIPE);
    e = spawn_child(x, &r);
    if (e != 0) {
        bool permanent = e == ENOENT || e == EACCES || e == ENOEXEC || e == ENOTDIR;
        resp = agent_error_response(a, env, ERR_AGENT_UNAVAILABLE, !permanent, NULL,
                                    "cannot run '%s': %s", x->argv[0], strerror(e));
        goto out;
    }
    pump(&r, ctx->deadline_us);
    reap(&r);
    if (r.nomem)
        err_set(err, IERR_NOMEM, "out of memory reading the agent's output");
    else
        resp = outcome(a, env, &r, start);
out:
    close_fd(&r.in_fd);
    close_fd(&r.out_fd);
    close_fd(&r.err_fd);
    close_fd(&r.pid_fd);
    close_fd(&r.report_fd);
    if (r.epipe && !pipe_was_pending) {
        static const struct timespec zero = { 0, 0 };
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    buf_free(&input);
    buf_free(&r.out);
    if (resp == NULL && !r.nomem)
        err_set(err, IERR_NOMEM, "out of memory building the response");
    return resp;
}

const struct agent_kind agent_kind_exec = {
    .name = "exec",
    .settings_keys = exec_keys,
    .init = exec_init,
    .invoke = exec_invoke,
    .free_state = exec_free,
};
