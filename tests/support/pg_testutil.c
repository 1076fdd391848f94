#include "tests/support/pg_testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/support/testutil.h"

struct pgt_server {
    char bindir[512];
    char *dir;      /* temporary directory, owned by uid */
    char data[640]; /* dir/data */
    char log[640];  /* dir/server.log */
    int port;
    uid_t uid;
    gid_t gid;
    int running;
};

__attribute__((format(printf, 3, 4))) static void
whyf(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
find_bindir(char *out, size_t len)
{
    const char *env = getenv("INTENTUS_PG_BINDIR");
    char path[700];
    glob_t g;

    if (env != NULL && env[0] != '\0') {
        snprintf(path, sizeof(path), "%s/initdb", env);
        if (access(path, X_OK) != 0)
            return -1;
        snprintf(out, len, "%s", env);
        return 0;
    }
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        /* The newest major version: glob sorts, but "9" > "15" as text. */
        size_t best = 0;
        long bestv = -1;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            long v = strtol(g.gl_pathv[i] + strlen("/usr/lib/postgresql/"), NULL, 10);
            if (v > bestv && access(g.gl_pathv[i], X_OK) == 0) {
                bestv = v;
                best = i;
            }
        }
        if (bestv >= 0) {
            snprintf(out, len, "%s", g.gl_pathv[best]);
            out[strlen(out) - strlen("/initdb")] = '\0';
            globfree(&g);
            return 0;
        }
    }
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) == 0)
        globfree(&g);
    {
        const char *p = getenv("PATH");
        char *copy = strdup(p ? p : "/usr/bin:/bin"), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
            snprintf(path, sizeof(path), "%s/initdb", d);
            if (access(path, X_OK) == 0) {
                snprintf(out, len, "%s", d);
                free(copy);
                return 0;
            }
        }
        free(copy);
    }
    return -1;
}

/* Run bindir/argv[0] as the server's user with stdout and stderr appended
 * to the server log, bounded by timeout_ms (then killed). Returns the exit
 * status, or -1 when it could not run or timed out. */
static int
run_pg(struct pgt_server *s, char *const argv[], int timeout_ms)
{
    char prog[700];
    pid_t pid;
    int status = 0;
    long long deadline = now_ms() + timeout_ms;

    snprintf(prog, sizeof(prog), "%s/%s", s->bindir, argv[0]);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int in, lg;
        setpgid(0, 0);
        /* Drop privileges first, so the log is the server user's to append to. */
        if (getuid() == 0) {
            if (setgroups(0, NULL) != 0 || setgid(s->gid) != 0 || setuid(s->uid) != 0)
                _exit(126);
        }
        in = open("/dev/null", O_RDONLY);
        lg = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in < 0 || lg < 0)
            _exit(126);
        dup2(in, 0);
        dup2(lg, 1);
        dup2(lg, 2);
        if (chdir(s->dir) != 0)
            _exit(126);
        execv(prog, argv);
        _exit(127);
    }
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ms() > deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(20000);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* The last lines of the server log, for error messages. */
static void
log_tail(const struct pgt_server *s, char *out, size_t len)
{
    size_t n = 0;
    char *text = tu_read_file(s->log, &n);
    size_t keep = len > 1 ? len - 1 : 0;

    out[0] = '\0';
    if (text == NULL)
        return;
    if (n > keep)
        memmove(text, text + (n - keep), keep + 1);
    for (char *p = text; *p; p++)
        if (*p == '\n')
            *p = '|';
    snprintf(out, len, "%s", text);
    free(text);
}

static int
start_server(struct pgt_server *s, char *why, size_t why_len)
{
    char opts[900], tail[600];

    snprintf(opts, sizeof(opts),
             "-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s "
             "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
             "-c max_connections=200 -c log_min_messages=warning",
             s->port, s->dir);
    char *argv[] = { "pg_ctl", "-D", s->data, "-l", s->log,  "-w",
                     "-t",     "30", "-o",    opts, "start", NULL };
    if (run_pg(s, argv, 40000) != 0) {
        log_tail(s, tail, sizeof(tail));
        whyf(why, why_len, "pg_ctl start (port %d) failed: %s", s->port, tail);
        return -1;
    }
    s->running = 1;
    return 0;
}

int
pgt_start(struct pgt_server **out, char *why, size_t why_len)
{
    struct pgt_server *s;
    char tail[600];

    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        whyf(why, why_len, "out of memory");
        return -1;
    }
    if (find_bindir(s->bindir, sizeof(s->bindir)) != 0) {
        const char *env = getenv("INTENTUS_PG_BINDIR");
        if (env != NULL && env[0] != '\0')
            whyf(why, why_len, "PostgreSQL server binaries: $INTENTUS_PG_BINDIR=%s holds no initdb",
                 env);
        else
            whyf(why, why_len,
                 "PostgreSQL server binaries (initdb, pg_ctl) not found: no $INTENTUS_PG_BINDIR, "
                 "/usr/lib/postgresql/*/bin or initdb on PATH (tests/deps.sh installs postgresql)");
        free(s);
        return 1;
    }
    s->uid = getuid();
    s->gid = getgid();
    if (s->uid == 0) {
        /* initdb refuses to run as root: the server runs as nobody. */
        struct passwd *pw = getpwnam("nobody");
        if (pw == NULL) {
            whyf(why, why_len,
                 "running as root and there is no user \"nobody\" to run PostgreSQL as");
            free(s);
            return -1;
        }
        s->uid = pw->pw_uid;
        s->gid = pw->pw_gid;
    }
    s->dir = tu_mkdtemp();
    if (chown(s->dir, s->uid, s->gid) != 0) {
        whyf(why, why_len, "chown %s: %s", s->dir, strerror(errno));
        pgt_free(s);
        return -1;
    }
    snprintf(s->data, sizeof(s->data), "%s/data", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
    {
        char *argv[] = { "initdb", "-D", s->data, "-U",          "postgres",  "-A",
                         "trust",  "-E", "UTF8",  "--no-locale", "--no-sync", NULL };
        if (run_pg(s, argv, 120000) != 0) {
            log_tail(s, tail, sizeof(tail));
            whyf(why, why_len, "initdb in %s failed: %s", s->data, tail);
            pgt_free(s);
            return -1;
        }
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        s->port = free_port();
        if (s->port > 0 && start_server(s, why, why_len) == 0) {
            *out = s;
            return 0;
        }
    }
    pgt_free(s);
    return -1;
}

int
pgt_stop(struct pgt_server *s)
{
    char *argv[] = { "pg_ctl", "-D", s->data, "-m", "fast", "-w", "-t", "20", "stop", NULL };

    if (!s->running)
        return 0;
    if (run_pg(s, argv, 30000) != 0)
        return -1;
    s->running = 0;
    return 0;
}

int
pgt_restart(struct pgt_server *s)
{
    if (s->running)
        return 0;
    return start_server(s, NULL, 0);
}

void
pgt_free(struct pgt_server *s)
{
    if (s == NULL)
        return;
    if (s->running && pgt_stop(s) != 0) {
        char *argv[] = {
            "pg_ctl", "-D", s->data, "-m", "immediate", "-w", "-t", "10", "stop", NULL
        };
        if (run_pg(s, argv, 15000) != 0) {
            /* Last resort: the postmaster's pid is the first line of its pid file. */
            char pidf[700];
            snprintf(pidf, sizeof(pidf), "%s/postmaster.pid", s->data);
            char *t = tu_read_file(pidf, NULL);
            long pid = t ? strtol(t, NULL, 10) : 0;
            if (pid > 1)
                kill((pid_t)pid, SIGKILL);
            free(t);
        }
    }
    if (s->dir != NULL) {
        tu_rmtree(s->dir);
        free(s->dir);
    }
    free(s);
}

int
pgt_port(const struct pgt_server *s)
{
    return s->port;
}

const char *
pgt_dir(const struct pgt_server *s)
{
    return s->dir;
}

static void
quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static PGconn *
connect_db(struct pgt_server *s, const char *db, char *why, size_t why_len)
{
    char conninfo[300];
    PGconn *c;

    snprintf(conninfo, sizeof(conninfo),
             "host=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=10", s->port, db);
    c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        whyf(why, why_len, "connect to %s: %s", conninfo, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    return c;
}

int
pgt_sql(struct pgt_server *s, const char *db, const char *sql, char *out, size_t out_len, char *why,
        size_t why_len)
{
    PGconn *c = connect_db(s, db, why, why_len);
    PGresult *r;
    int rc = -1;

    if (c == NULL)
        return -1;
    r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
        rc = 0;
        if (out != NULL && out_len > 0) {
            out[0] = '\0';
            if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
                snprintf(out, out_len, "%s", PQgetvalue(r, 0, 0));
        }
    } else {
        whyf(why, why_len, "%s: %s", sql, PQerrorMessage(c));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

struct pgt_hold {
    PGconn *c;
};

struct pgt_hold *
pgt_hold(struct pgt_server *s, const char *db, const char *sql, char *why, size_t why_len)
{
    struct pgt_hold *h = calloc(1, sizeof(*h));
    PGresult *r;

    if (h == NULL) {
        whyf(why, why_len, "out of memory");
        return NULL;
    }
    if ((h->c = connect_db(s, db, why, why_len)) == NULL) {
        free(h);
        return NULL;
    }
    r = PQexec(h->c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        whyf(why, why_len, "%s: %s", sql, PQerrorMessage(h->c));
        PQclear(r);
        pgt_release(h);
        return NULL;
    }
    PQclear(r);
    return h;
}

void
pgt_release(struct pgt_hold *h)
{
    if (h == NULL)
        return;
    PQfinish(h->c);
    free(h);
}

char *
pgt_create_db(struct pgt_server *s, const char *name, char *why, size_t why_len)
{
    char sql[300], *url;

    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);
    if (pgt_sql(s, "postgres", sql, NULL, 0, why, why_len) != 0)
        return NULL;
    snprintf(sql, sizeof(sql), "CREATE DATABASE \"%s\"", name);
    if (pgt_sql(s, "postgres", sql, NULL, 0, why, why_len) != 0)
        return NULL;
    if (asprintf(&url, "postgres://postgres@127.0.0.1:%d/%s", s->port, name) < 0)
        return NULL;
    return url;
}

int
pgt_group_setup(void **state)
{
    struct pgt_group *g = calloc(1, sizeof(*g));
    int rc;

    if (g == NULL)
        return -1;
    rc = pgt_start(&g->srv, g->why, sizeof(g->why));
    if (rc == 1) {
        printf("# skipping the PostgreSQL tests: %s\n", g->why);
        g->skipped = 1;
    } else if (rc != 0) {
        printf("# PostgreSQL test server: %s\n", g->why);
        free(g);
        return -1;
    }
    *state = g;
    return 0;
}

int
pgt_group_teardown(void **state)
{
    struct pgt_group *g = *state;

    if (g != NULL)
        pgt_free(g->srv);
    free(g);
    return 0;
}
