/* A real PostgreSQL server for tests: initdb and pg_ctl in a temporary
 * directory, run as an unprivileged user (nobody when we are root, else
 * ourselves), listening on 127.0.0.1 and a free port with its unix socket in
 * the temporary directory, trust authentication for the superuser
 * "postgres". One server per test binary, shared by its tests (start it in
 * the group setup, free it in the group teardown). Every step is bounded in
 * time; a server that does not come up is a failure that quotes its log.
 *
 * The binaries are taken from $INTENTUS_PG_BINDIR, else the newest
 * /usr/lib/postgresql/N/bin (Debian's layout), else the directory of
 * initdb on $PATH. */
#ifndef INTENTUS_TESTS_SUPPORT_PG_TESTUTIL_H
#define INTENTUS_TESTS_SUPPORT_PG_TESTUTIL_H

#include <stddef.h>

struct pgt_server;

/* Start a fresh server. 0: *out is running. 1: the PostgreSQL binaries are
 * absent here (why says so; the caller skips, counted). -1: they are there
 * but the server could not be set up (why names the step and quotes the
 * log; the caller fails). */
int pgt_start(struct pgt_server **out, char *why, size_t why_len);
/* Stop (pg_ctl stop -m fast, bounded) and start again on the same port and
 * data directory: what an outage looks like to clients. 0 or -1. */
int pgt_stop(struct pgt_server *s);
int pgt_restart(struct pgt_server *s);
/* Stop the server (immediate when fast does not finish in time), kill what
 * is left of it and remove the directory. Accepts NULL. */
void pgt_free(struct pgt_server *s);

int pgt_port(const struct pgt_server *s);
/* The temporary directory (owned by the server's user). */
const char *pgt_dir(const struct pgt_server *s);
/* Create database name (dropped first when it exists) and return its URL,
 * postgres://postgres@127.0.0.1:PORT/name (caller frees); NULL on error,
 * with why filled. */
char *pgt_create_db(struct pgt_server *s, const char *name, char *why, size_t why_len);
/* Run sql (one or more statements) on database db; 0 or -1 with why filled.
 * When out is non-NULL and the last statement returns rows, the first
 * column of the first row is copied there (empty when no row). */
int pgt_sql(struct pgt_server *s, const char *db, const char *sql, char *out, size_t out_len,
            char *why, size_t why_len);

/* A session kept open: sql (e.g. "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE
 * MODE") run on database db, its connection held (and its transaction
 * with the locks it took) until pgt_release, which ends it (rolled back).
 * NULL with why filled. */
struct pgt_hold;
struct pgt_hold *pgt_hold(struct pgt_server *s, const char *db, const char *sql, char *why,
                          size_t why_len);
void pgt_release(struct pgt_hold *h); /* accepts NULL */

/* A cmocka group's PostgreSQL server: pgt_group_setup starts one for the
 * group (state: a struct pgt_group); where the binaries are absent it
 * prints why and sets skipped, so each test makes that a counted skip. */
struct pgt_group {
    struct pgt_server *srv;
    int skipped, ndb; /* ndb: databases the tests created (for names) */
    char why[1024];
};
int pgt_group_setup(void **state);
int pgt_group_teardown(void **state);

#endif
