/* The shepherd of one exec agent call: a small process between intentus and
 * the agent that makes sure nothing the agent started outlives the call or
 * intentus.
 *
 *   intentus thread --fork--> shepherd --fork+exec--> agent (own process group)
 *
 * The shepherd is a child subreaper (PR_SET_CHILD_SUBREAPER), so every
 * descendant of the agent whose parent dies is reparented to it, even one
 * that left the agent's process group or session (setsid). It dies with the
 * thread that forked it (PR_SET_PDEATHSIG, SIGTERM), and the agent dies with
 * the shepherd (PR_SET_PDEATHSIG, SIGKILL). On SIGTERM (intentus ends the
 * call, or intentus is gone) or when the agent exits, it SIGKILLs the
 * agent's process group and every child it has (found in /proc), reaps them
 * all, writes one report (the agent's wait status, or why it could not
 * start) to the report pipe and exits.
 *
 * intentus itself is not made a subreaper, so embedders keep their own
 * process tree as it was. Between fork and exec both children make only
 * system calls: no allocation, no stdio, no locks (intentus is
 * multi-threaded). */
#ifndef INTENTUS_CORE_EXEC_SHEPHERD_H
#define INTENTUS_CORE_EXEC_SHEPHERD_H

#include <sys/types.h>

/* Everything the children need, prepared before the fork. */
struct exec_spawn {
    const char *path;                   /* the program, PATH already searched */
    char *const *argv;                  /* NULL-terminated */
    char *const *envp;                  /* NULL-terminated */
    const char *cwd;                    /* NULL: intentus's own */
    int stdin_fd, stdout_fd, stderr_fd; /* the agent's ends, each >= 3 */
    int report_fd;                      /* write end of the report pipe, >= 3 */
};

/* Forks the shepherd, which starts the agent. Returns the shepherd's pid, or
 * -1 with errno set. Call with every signal blocked in the calling thread
 * (the children start with that mask; the agent clears it before exec). */
pid_t exec_shepherd_spawn(const struct exec_spawn *s);

enum exec_report {
    EXEC_REPORT_NONE,       /* no report: the shepherd itself was killed */
    EXEC_REPORT_STATUS,     /* value: the agent's wait status */
    EXEC_REPORT_NOT_STARTED /* value: errno of the fork or exec that failed */
};

/* The report, read from the pipe's read end once the shepherd has exited. */
enum exec_report exec_shepherd_report(int fd, int *value);

#endif
