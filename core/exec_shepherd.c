#include "core/exec_shepherd.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Cleanup rounds after the agent: each kills what is left and waits up to
 * SHEPHERD_ROUND_NS for it to die. Only a process the kernel cannot kill
 * (stuck in uninterruptible I/O) uses them all; it is then left behind. */
#define SHEPHERD_ROUNDS 200
#define SHEPHERD_ROUND_NS 10000000L
/* Where the shepherd keeps the report pipe (0-2 are the agent's). */
#define SHEPHERD_REPORT_FD 4
#define AGENT_STACK ((size_t)256 * 1024)

/* The report on the pipe: two ints. */
struct report_msg {
    int kind;
    int value;
};

/* ThreadSanitizer must see every fork: its interceptor takes the runtime's
 * own locks around it. After a raw _Fork the child inherits them as another
 * thread left them, and its clone (intercepted too) then waits forever. */
#if defined(__SANITIZE_THREAD__)
#define SHEPHERD_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHEPHERD_UNDER_TSAN 1
#endif
#endif

/* _Fork (glibc 2.34) runs no atfork handlers, which may take locks another
 * thread held at the fork; the children make only system calls anyway.
 * Under ThreadSanitizer, fork (see above). */
static pid_t
fork_raw(void)
{
#if !defined(SHEPHERD_UNDER_TSAN) && defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
    return _Fork();
#else
    return fork();
#endif
}

static void
put_report(int fd, int kind, int value)
{
    struct report_msg m = { kind, value };

    /* 8 bytes into an empty pipe: never blocks, never partial. */
    if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
        return;
}

static long
parse_uint(const char *s, const char **end)
{
    long v = 0;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (*s - '0');
    *end = s;
    return v;
}

/* The parent pid in /proc/PID/stat: the field after "(comm) S ". */
static long
stat_ppid(const char *pid)
{
    char path[64] = "/proc/", buf[512];
    const char *p, *end;
    ssize_t n;
    int fd;

    /* Runs in the shepherd, a fork of a threaded process: only
     * async-signal-safe calls, so no snprintf. pid is a /proc entry name. */
    if (strlen(pid) > sizeof(path) - sizeof("/proc//stat"))
        return -1;
    strcpy(path + 6, pid); /* NOLINT(clang-analyzer-security.insecureAPI.strcpy): length checked */
    strcat(path, "/stat"); /* NOLINT(clang-analyzer-security.insecureAPI.strcpy): length checked */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
        return -1;
    return parse_uint(p + 4, &end);
}

/* The kernel's getdents64 record; every member is part of its layout even
 * where only d_reclen and d_name are read. */
struct linux_dirent64 {
    uint64_t d_ino; /* cppcheck-suppress unusedStructMember ; kernel ABI layout */
    int64_t d_off;  /* cppcheck-suppress unusedStructMember ; kernel ABI layout */
    unsigned short d_reclen;
    unsigned char d_type; /* cppcheck-suppress unusedStructMember ; kernel ABI layout */
    char d_name[];
};

/* SIGKILL every child of self (and the group each leads): the agent's
 * descendants that were reparented here. Returns how many were found, -1
 * when /proc cannot be read. */
static int
kill_children(pid_t self)
{
    char buf[8192];
    int found = 0;
    int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            const struct linux_dirent64 *de = (const struct linux_dirent64 *)(buf + off);
            const char *end;
            long pid = parse_uint(de->d_name, &end);
            off += de->d_reclen;
            if (pid <= 0 || *end != '\0' || pid == self)
                continue;
            if (stat_ppid(de->d_name) == (long)self) {
                /* Our child, so its pid cannot be reused before we reap it. */
                kill((pid_t)pid, SIGKILL);
                kill(-(pid_t)pid, SIGKILL);
                found++;
            }
        }
    }
    close(fd);
    return found;
}

/* Reap every child that has exited. True when no child is left at all. */
static bool
reap_all(void)
{
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0)
            continue;
        return p < 0 && errno == ECHILD;
    }
}

static void
wait_sigchld(const sigset_t *chld, long ns)
{
    struct timespec ts = { 0, ns };

    sigtimedwait(chld, NULL, &ts);
}

/* Whether the agent has exited, leaving it unreaped: while it is a zombie
 * its pid, and so its process group id, cannot be reused. */
static bool
agent_exited(pid_t agent)
{
    siginfo_t si;

    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)agent, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == agent;
}

/* The agent's process group (one SIGKILL suffices: the kernel lets no
 * member fork its way out of a group kill), the agent's status, then
 * whatever was reparented to us, until no child is left (or the rounds run
 * out). Returns whether the status was collected. */
static bool
kill_everything(pid_t self, pid_t agent, int *status)
{
    sigset_t chld;
    bool got;
    pid_t p;

    kill(-agent, SIGKILL); /* the agent is still unreaped here */
    kill(agent, SIGKILL);
    do
        p = waitpid(agent, status, 0);
    while (p < 0 && errno == EINTR);
    got = p == agent;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    for (int round = 0; round < SHEPHERD_ROUNDS; round++) {
        if (reap_all())
            break;
        kill_children(self);
        wait_sigchld(&chld, SHEPHERD_ROUND_NS);
    }
    return got;
}

/* Close every descriptor from lo up (close_range, else one by one). */
static void
close_from(int lo)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)lo, ~0U, 0) == 0)
        return;
#endif
    for (int fd = lo; fd < 65536; fd++)
        close(fd);
}

/* In the agent, after fork: own group, death with the shepherd, default
 * signals, the pipes on 0-2, then exec. Writes errno to exec_fd (close-on-
 * exec, so a successful exec closes it) on failure. */
static void
agent_child(const struct exec_spawn *s, pid_t shepherd, int exec_fd)
{
    struct sigaction dfl;
    sigset_t none;
    int e;

    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != shepherd)
        _exit(127);
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    /* Handlers of intentus's (the console's self-pipe writers) must not run
     * here; ignored signals are reset as posix_spawn's setsigdefault did. */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &old) != 0)
            continue;
        if (old.sa_handler != SIG_DFL &&
            (old.sa_handler != SIG_IGN || sig == SIGPIPE || sig == SIGCHLD || sig == SIGINT ||
             sig == SIGQUIT || sig == SIGTERM || sig == SIGHUP))
            sigaction(sig, &dfl, NULL);
    }
    if (s->cwd != NULL && chdir(s->cwd) != 0)
        goto fail;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(s->path, s->argv, s->envp);
fail:
    e = errno;
    if (write(exec_fd, &e, sizeof(e)) != (ssize_t)sizeof(e))
        _exit(127);
    _exit(127);
}

struct agent_arg {
    const struct exec_spawn *s;
    pid_t shepherd;
    int exec_fd, exec_read_fd;
};

static int
agent_main(void *p)
{
    const struct agent_arg *a = p;

    close(SHEPHERD_REPORT_FD);
    close(a->exec_read_fd);
    agent_child(a->s, a->shepherd, a->exec_fd);
    return 127;
}

/* The agent shares our memory until its exec (CLONE_VM | CLONE_VFORK, as
 * glibc's posix_spawn does), so intentus's page tables are copied once per
 * call, not twice; it runs on a stack of its own, mapped here. Where vfork
 * is a plain fork (valgrind), this still works: the exec pipe, not shared
 * memory, carries the errno. */
static pid_t
start_agent(struct agent_arg *arg)
{
    void *stack = mmap(NULL, AGENT_STACK, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    pid_t pid;
    int e;

    if (stack == MAP_FAILED)
        return -1;
    pid = clone(agent_main, (char *)stack + AGENT_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
    e = errno;
    munmap(stack, AGENT_STACK); /* the agent has exec'd or exited by now */
    errno = e;
    return pid;
}

/* The shepherd, after fork: see the header. Never returns. */
static void
shepherd(const struct exec_spawn *s, pid_t parent)
{
    int exec_pipe[2], status = 0, e = 0;
    struct agent_arg arg;
    struct sigaction dfl;
    sigset_t wait_set;
    pid_t self = getpid(), agent;
    ssize_t n;

    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127); /* intentus is already gone: start nothing */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    /* waitpid must see our children even if intentus ignores SIGCHLD. */
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGCHLD, &dfl, NULL);
    /* Keep only the agent's three ends (0-2) and the report (4); drop
     * intentus's descriptors, another call's stdin pipe among them. */
    if (dup2(s->stdin_fd, 0) < 0 || dup2(s->stdout_fd, 1) < 0 || dup2(s->stderr_fd, 2) < 0 ||
        dup2(s->report_fd, SHEPHERD_REPORT_FD) < 0)
        _exit(127);
    close(3);
    close_from(SHEPHERD_REPORT_FD + 1);
    if (pipe2(exec_pipe, O_CLOEXEC) != 0) {
        put_report(SHEPHERD_REPORT_FD, 2, errno);
        _exit(0);
    }
    arg = (struct agent_arg){ s, self, exec_pipe[1], exec_pipe[0] };
    agent = start_agent(&arg);
    if (agent < 0) {
        put_report(SHEPHERD_REPORT_FD, 2, errno);
        _exit(0);
    }
    setpgid(agent, agent); /* as the agent does: whichever runs first */
    close(0);
    close(1);
    close(2);
    close(exec_pipe[1]);
    /* End of file: exec worked; an int: the errno it failed with. */
    do
        n = read(exec_pipe[0], &e, sizeof(e));
    while (n < 0 && errno == EINTR);
    close(exec_pipe[0]);
    if (n == (ssize_t)sizeof(e)) {
        kill_everything(self, agent, &status);
        put_report(SHEPHERD_REPORT_FD, 2, e);
        _exit(0);
    }
    sigemptyset(&wait_set);
    sigaddset(&wait_set, SIGCHLD);
    sigaddset(&wait_set, SIGTERM);
    /* Until the agent exits or we are told to end it (or intentus died).
     * Other children (reparented orphans) stay zombies until the end. */
    while (!agent_exited(agent)) {
        if (sigwaitinfo(&wait_set, NULL) == SIGTERM)
            break;
    }
    if (kill_everything(self, agent, &status))
        put_report(SHEPHERD_REPORT_FD, 1, status);
    _exit(0);
}

pid_t
exec_shepherd_spawn(const struct exec_spawn *s)
{
    pid_t parent = getpid(), pid;

    pid = fork_raw();
    if (pid == 0)
        shepherd(s, parent);
    return pid;
}

enum exec_report
exec_shepherd_report(int fd, int *value)
{
    struct report_msg m;
    ssize_t n;

    do
        n = read(fd, &m, sizeof(m));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(m) || m.kind < 1 || m.kind > 2)
        return EXEC_REPORT_NONE;
    *value = m.value;
    return m.kind == 1 ? EXEC_REPORT_STATUS : EXEC_REPORT_NOT_STARTED;
}
