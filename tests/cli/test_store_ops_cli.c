/* The engine operations of the sqlite and postgres stores through the real
 * binary (a real PostgreSQL server, tests/support/pg_testutil.h; a counted
 * skip without its binaries):
 *   - records stats on postgres is computed in the database (GROUP BY on the
 *     index columns and the attempt rows), giving the file engine's answers
 *     for the same records, also when no record text could be read and on a
 *     database written before the attempt rows existed (filled in once);
 *   - recovery resume|close and wal gc look records up through --store (or
 *     recording.store), the WAL directory staying local, on sqlite and
 *     postgres;
 *   - recording.encryption with a postgres store: the database holds the
 *     sealed bytes, its index columns come from the plaintext, so list shows
 *     intent and status, show decrypts with the key, and without the key the
 *     records read as encrypted (as files do);
 *   - the same on a sqlite store (route writes sealed texts; list, show,
 *     verify, retrieve, tail and diff with the key; a clean refusal naming
 *     the key without it or with another key; gc --archive keeps them
 *     sealed);
 *   - migrate without --decrypt keeps sealed records sealed: encrypted
 *     files -> sqlite -> postgres -> files gives back the sealed files byte
 *     for byte, a database destination refuses a record no reading key
 *     opens (naming the key), --decrypt gives plaintext. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/cli_expect.h"
#include "tests/support/pg_testutil.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 60000
#define MAX_ARGS 32
#define BASE_US 1790000000000000ll
#define N_GEN 120

struct ctx {
    struct pgt_group *g;
    char *dir;
    char env_home[PATH_MAX + 16], env_xdg[PATH_MAX + 32], env_state[PATH_MAX + 32];
    char files[PATH_MAX], db_url[PATH_MAX + 16];
};

static int
setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    c->g = *state;
    c->dir = tu_mkdtemp();
    snprintf(c->env_home, sizeof(c->env_home), "HOME=%s", c->dir);
    snprintf(c->env_xdg, sizeof(c->env_xdg), "XDG_CONFIG_HOME=%s", c->dir);
    snprintf(c->env_state, sizeof(c->env_state), "XDG_STATE_HOME=%s", c->dir);
    snprintf(c->files, sizeof(c->files), "%s/files", c->dir);
    snprintf(c->db_url, sizeof(c->db_url), "sqlite:%s/records.sqlite", c->dir);
    assert_int_equal(mkdir(c->files, 0700), 0);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct ctx *c = *state;

    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

/* Run the binary in c->dir; keyring: $INTENTUS_KEYRING's value (NULL: unset). */
static int
run_env(struct ctx *c, struct tu_run *r, const char *keyring, const char *const *args)
{
    char *argv[MAX_ARGS], *envv[8], kr[PATH_MAX + 32];
    size_t n = 0;

    argv[n++] = (char *)tu_bin();
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(n + 1 < MAX_ARGS);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    snprintf(kr, sizeof(kr), "INTENTUS_KEYRING=%s", keyring != NULL ? keyring : "");
    envv[0] = c->env_home;
    envv[1] = c->env_xdg;
    envv[2] = c->env_state;
    envv[3] = (char *)"INTENTUS_CONFIG=";
    envv[4] = (char *)"INTENTUSNET_RECORDS_PATH=";
    envv[5] = kr;
    envv[6] = NULL;
    memset(r, 0, sizeof(*r));
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, r), 0);
    return r->status;
}

#define RUN(c, r, ...) run_env((c), (r), NULL, ARGS(__VA_ARGS__))
#define RUN_KEY(c, r, key, ...) run_env((c), (r), (key), ARGS(__VA_ARGS__))

/* A fresh database on the binary's PostgreSQL server (caller frees), or a
 * counted skip where the binaries are absent. */
static char *
pg_db(struct ctx *c)
{
    char name[32], why[512], *url;

    if (c->g == NULL || c->g->skipped)
        skip();
    snprintf(name, sizeof(name), "o%d", ++c->g->ndb);
    url = pgt_create_db(c->g->srv, name, why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    return url;
}

static void
pg_exec(struct ctx *c, const char *db, const char *sql, char *out, size_t out_len)
{
    char why[512];

    if (pgt_sql(c->g->srv, db, sql, out, out_len, why, sizeof(why)) != 0)
        fail_msg("%s: %s", sql, why);
}

/* ---- 1. records stats grouped in the database ---- */

static void
gen_n_files(struct ctx *c, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, i, BASE_US);
        assert_int_equal(tu_rec_write(c->files, &r, true), 0);
    }
    {
        char p[PATH_MAX + 64];
        snprintf(p, sizeof(p), "%s/00000000-0000-4000-8000-00000000bad1.json", c->files);
        assert_int_equal(tu_write_file(p, "{\"header\": ", 11, 0600), 0);
    }
}

static void
gen_files(struct ctx *c)
{
    gen_n_files(c, N_GEN);
}

static void
migrate_to(struct ctx *c, const char *url)
{
    struct tu_run r;
    char from[PATH_MAX + 8];

    snprintf(from, sizeof(from), "file:%s", c->files);
    RUN(c, &r, "records", "migrate", "--from", from, "--to", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, " 0 failed");
    tu_run_free(&r);
}

/* out without its throughput counts (cut out in place); their sum. A
 * corrupt record's time is when it was stored (its file's mtime, the
 * database's insert), seconds apart between the engines, so near a bucket
 * edge it lands in the next bucket: the counts are compared as a sum. */
static long
cut_throughput(char *out)
{
    char *at = strstr(out, "\"counts\": ["), *end;
    long sum = 0;

    if (at == NULL)
        return -1;
    end = strchr(at, ']');
    assert_non_null(end);
    for (char *p = strchr(at, '[') + 1; p < end; p++)
        if (*p >= '0' && *p <= '9')
            sum += strtol(p, &p, 10);
    memmove(at, end + 1, strlen(end + 1) + 1);
    return sum;
}

/* records stats with these filters on the files and on url: the same. */
static void
same_stats(struct ctx *c, const char *url)
{
    struct tu_rec r3, r5, r7;

    tu_rec_make(&r3, 3, BASE_US);
    tu_rec_make(&r5, 5, BASE_US);
    tu_rec_make(&r7, 7, BASE_US);
    const char *cmds[][8] = {
        { "--json", NULL },
        { NULL },
        { "--json", "--status", "error", NULL },
        { "--json", "--status", "ok", NULL },
        { "--json", "--status", "corrupt", NULL },
        { "--json", "--intent", r3.intent, NULL },
        { "--json", "--agent", r5.agents[0], NULL },
        { "--json", "--agent", r7.agents[r7.n_attempts - 1], "--status", "error", NULL },
        { "--json", "--search", "000", NULL },
        { "--json", "--since", "1h", NULL },
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        struct tu_run f, s;
        const char *args_f[14] = { "records", "stats" }, *args_s[14] = { "records", "stats" };
        size_t n = 2;
        for (size_t k = 0; cmds[i][k] != NULL; k++, n++)
            args_f[n] = args_s[n] = cmds[i][k];
        args_f[n] = "--dir";
        args_f[n + 1] = c->files;
        args_s[n] = "--store";
        args_s[n + 1] = url;
        args_f[n + 2] = args_s[n + 2] = NULL;
        run_env(c, &f, NULL, args_f);
        run_env(c, &s, NULL, args_s);
        print_message("# records stats %s %s: exit %d\n", cmds[i][0] ? cmds[i][0] : "",
                      cmds[i][0] && cmds[i][1] ? cmds[i][1] : "", f.status);
        EXPECT_EXIT(&f, 0);
        EXPECT_EXIT(&s, 0);
        assert_true(strlen(f.out) > 0);
        assert_int_equal(cut_throughput(f.out), cut_throughput(s.out));
        if (strcmp(f.out, s.out) != 0)
            print_message("# files:\n%s\n# store:\n%s\n", f.out, s.out);
        assert_string_equal(f.out, s.out);
        tu_run_free(&f);
        tu_run_free(&s);
    }
}

/* The figures are grouped in the database from the index columns and the
 * attempt rows: with every stored text replaced by bytes that are no record
 * at all, they do not change (reading the texts would count every record
 * corrupt); and they are the files' figures, filter by filter. */
static void
test_stats_grouped_pg(void **state)
{
    struct ctx *c = *state;
    char *url = pg_db(c), dbname[32], n[64];
    struct tu_run r;

    snprintf(dbname, sizeof(dbname), "o%d", c->g->ndb);
    gen_files(c);
    migrate_to(c, url);
    same_stats(c, url);
    pg_exec(c, dbname, "UPDATE intentus_records SET body = 'not a record'::bytea", NULL, 0);
    pg_exec(c, dbname, "SELECT count(*) FROM intentus_records WHERE body = 'not a record'", n,
            sizeof(n));
    assert_int_equal(atoi(n), N_GEN + 1);
    same_stats(c, url);
    /* and list still reads the texts: every record is corrupt there now */
    RUN(c, &r, "records", "list", "--status", "corrupt", "--json", "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "unexpected character 'n'");
    tu_run_free(&r);
    free(url);
}

/* A database written before intentus_attempts existed: the first open
 * fills the attempt rows in from the stored texts, once; the figures are
 * then the files'. */
static void
test_stats_backfill_pg(void **state)
{
    struct ctx *c = *state;
    char *url = pg_db(c), dbname[32], n[64];

    snprintf(dbname, sizeof(dbname), "o%d", c->g->ndb);
    gen_files(c);
    migrate_to(c, url);
    pg_exec(c, dbname, "SELECT count(*) FROM intentus_attempts", n, sizeof(n));
    assert_true(atoi(n) >= N_GEN);
    pg_exec(c, dbname,
            "DROP TABLE intentus_attempts; DELETE FROM intentus_meta WHERE k = 'attempts'", NULL,
            0);
    same_stats(c, url);
    pg_exec(c, dbname, "SELECT count(*) FROM intentus_attempts", n, sizeof(n));
    assert_true(atoi(n) >= N_GEN);
    pg_exec(c, dbname, "SELECT v FROM intentus_meta WHERE k = 'attempts'", n, sizeof(n));
    assert_string_equal(n, "1");
    free(url);
}

/* More records than one page of the backfill's cursor (500): every page's
 * rows arrive, the last short page included, and the figures are the
 * files'. */
static void
test_stats_backfill_pages_pg(void **state)
{
    struct ctx *c = *state;
    char *url = pg_db(c), dbname[32], n[64], want[64];

    snprintf(dbname, sizeof(dbname), "o%d", c->g->ndb);
    gen_n_files(c, 1234);
    migrate_to(c, url);
    pg_exec(c, dbname, "SELECT count(*) FROM intentus_attempts", want, sizeof(want));
    assert_true(atoi(want) >= 1234);
    pg_exec(c, dbname,
            "DELETE FROM intentus_attempts; DELETE FROM intentus_meta WHERE k = 'attempts'", NULL,
            0);
    same_stats(c, url);
    pg_exec(c, dbname, "SELECT count(*) FROM intentus_attempts", n, sizeof(n));
    assert_string_equal(n, want);
    free(url);
}

/* The attempt rows follow the records: gc on the store deletes both. */
static void
test_stats_after_gc_pg(void **state)
{
    struct ctx *c = *state;
    char *url = pg_db(c), dbname[32], n[64];
    struct tu_run r;

    snprintf(dbname, sizeof(dbname), "o%d", c->g->ndb);
    gen_files(c);
    migrate_to(c, url);
    RUN(c, &r, "records", "gc", "--max-count", "40", "--yes", "--store", url);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    RUN(c, &r, "records", "gc", "--max-count", "40", "--yes", "--dir", c->files);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    pg_exec(c, dbname,
            "SELECT count(*) FROM intentus_attempts a WHERE NOT EXISTS (SELECT 1 FROM"
            " intentus_records r WHERE r.id = a.id)",
            n, sizeof(n));
    assert_string_equal(n, "0");
    same_stats(c, url);
    free(url);
}

/* ---- 2. recovery resume|close and wal gc through --store ---- */

/* A config recording into url with a WAL in <dir>/wal; the id of one
 * execution routed with it. */
static void
route_one(struct ctx *c, const char *url, char *cfg, size_t cfg_len, char *wal, size_t wal_len,
          char id[40])
{
    struct tu_run r;
    char text[3 * PATH_MAX + 512];
    const char *p;

    snprintf(cfg, cfg_len, "%s/wal.json", c->dir);
    snprintf(wal, wal_len, "%s/wal", c->dir);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"store\": \"%s\"}, \"wal\": {\"enabled\": true, \"dir\": \"%s\"},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": "
             "[\"demo.echo\"]}]}\n",
             url, wal);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    RUN(c, &r, "route", "-c", cfg, "demo.echo", "-p", "{\"w\": 1}");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--json", "--limit", "1", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    p = strstr(r.out, "\"executionId\": \"");
    assert_non_null(p);
    snprintf(id, 40, "%.36s", p + 16);
    tu_run_free(&r);
}

/* Cut the last entry off <wal>/<id>.wal: stopped between the record and
 * the WAL's end. */
static void
cut_last_entry(const char *wal, const char *id)
{
    char path[PATH_MAX + 64], *w, *end;
    size_t len;

    snprintf(path, sizeof(path), "%s/%s.wal", wal, id);
    w = tu_read_file(path, &len);
    assert_non_null(w);
    assert_true(len > 1 && w[len - 1] == '\n');
    w[len - 1] = '\0';
    end = strrchr(w, '\n');
    assert_non_null(end);
    assert_int_equal(tu_write_file(path, w, (size_t)(end + 1 - w), 0600), 0);
    free(w);
}

static void
recovery_on(struct ctx *c, const char *url, const char *pg_dbname)
{
    struct tu_run r;
    char cfg[PATH_MAX + 16], wal[PATH_MAX + 16], id[40], id2[40], sql[200];

    route_one(c, url, cfg, sizeof(cfg), wal, sizeof(wal), id);
    cut_last_entry(wal, id);
    /* resume: the record is in the store, so the execution finished */
    RUN(c, &r, "recovery", "resume", id, "--wal-dir", wal, "--store", url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, "Record exists (success)");
    tu_run_free(&r);
    /* close: from the record found through the store */
    RUN(c, &r, "recovery", "close", id, "--wal-dir", wal, "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\"closed\": true");
    EXPECT_CONTAINS(r.out, "\"state\": \"completed\"");
    tu_run_free(&r);
    RUN(c, &r, "recovery", "scan", "--wal-dir", wal, "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "0 incomplete executions");
    tu_run_free(&r);
    /* the config's recording.store is where they look by default */
    route_one(c, url, cfg, sizeof(cfg), wal, sizeof(wal), id2);
    cut_last_entry(wal, id2);
    RUN(c, &r, "recovery", "resume", id2, "-c", cfg);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, "Record exists (success)");
    tu_run_free(&r);
    RUN(c, &r, "recovery", "close", id2, "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\"closed\": true");
    tu_run_free(&r);
    /* wal gc: both records are in the store, so both WALs stay */
    RUN(c, &r, "wal", "gc", "--dry-run", "--json", "--wal-dir", wal, "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\"would_remove_count\": 0");
    EXPECT_CONTAINS(r.out, "\"store\": ");
    tu_run_free(&r);
    /* one record deleted from the store: its WAL goes, the other stays */
    if (pg_dbname != NULL) {
        snprintf(sql, sizeof(sql), "DELETE FROM intentus_records WHERE id = '%s'", id);
        pg_exec(c, pg_dbname, sql, NULL, 0);
    } else {
        RUN(c, &r, "records", "gc", "--max-count", "1", "--yes", "--store", url);
        EXPECT_EXIT(&r, 0);
        tu_run_free(&r);
    }
    RUN(c, &r, "wal", "gc", "--yes", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "removed 1 WAL files");
    tu_run_free(&r);
    {
        char p[PATH_MAX + 64];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s.wal", wal, id);
        assert_int_not_equal(stat(p, &st), 0);
        snprintf(p, sizeof(p), "%s/%s.wal", wal, id2);
        assert_int_equal(stat(p, &st), 0);
    }
    /* a store that cannot be opened is named and nothing is removed */
    RUN(c, &r, "wal", "gc", "--yes", "--wal-dir", wal, "--store", "nosuch:x");
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, "nosuch:x");
    tu_run_free(&r);
    RUN(c, &r, "wal", "gc", "--wal-dir", wal, "--store", url, "--dir", c->files);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--store and --dir");
    tu_run_free(&r);
}

static void
test_recovery_store_sqlite(void **state)
{
    struct ctx *c = *state;

    recovery_on(c, c->db_url, NULL);
}

static void
test_recovery_store_pg(void **state)
{
    struct ctx *c = *state;
    char *url = pg_db(c), dbname[32];

    snprintf(dbname, sizeof(dbname), "o%d", c->g->ndb);
    recovery_on(c, url, dbname);
    free(url);
}

/* ---- 3. encrypted records in a postgres store ---- */

static void
test_encrypted_pg(void **state)
{
    struct ctx *c = *state;
    char *url = pg_db(c), dbname[32], cfg[PATH_MAX + 16], ring[PATH_MAX + 16],
         text[2 * PATH_MAX + 256], out[128], id[40];
    struct tu_run r;
    const char *p;

    snprintf(dbname, sizeof(dbname), "o%d", c->g->ndb);
    snprintf(cfg, sizeof(cfg), "%s/enc.json", c->dir);
    snprintf(ring, sizeof(ring), "%s/ring", c->dir);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"store\": \"%s\", \"encryption\": {\"keyring\": \"%s\"}},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": "
             "[\"demo.echo\"]}]}\n",
             url, ring);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    RUN(c, &r, "keys", "new", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    RUN(c, &r, "route", "-c", cfg, "demo.echo", "-p", "{\"word\": \"sesame-42\"}");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    /* the database holds sealed bytes; its columns are the plaintext's */
    pg_exec(c, dbname, "SELECT count(*) FROM intentus_records WHERE intent = 'demo.echo'", out,
            sizeof(out));
    assert_string_equal(out, "1");
    pg_exec(c, dbname,
            "SELECT count(*) FROM intentus_records WHERE position('sesame-42'::bytea IN body) > 0"
            " OR position('demo.echo'::bytea IN body) > 0",
            out, sizeof(out));
    assert_string_equal(out, "0");
    /* list with the key: intent and status, not "encrypted" */
    RUN_KEY(c, &r, ring, "records", "list", "--json", "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\"intent\": \"demo.echo\"");
    EXPECT_CONTAINS(r.out, "\"status\": \"ok\"");
    p = strstr(r.out, "\"executionId\": \"");
    assert_non_null(p);
    snprintf(id, sizeof(id), "%.36s", p + 16);
    tu_run_free(&r);
    RUN_KEY(c, &r, ring, "records", "list", "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "demo.echo");
    EXPECT_LACKS(r.out, "encrypted");
    tu_run_free(&r);
    /* show decrypts with the key (--keyring, or the config's) */
    RUN(c, &r, "records", "show", id, "--keyring", ring, "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "sesame-42");
    tu_run_free(&r);
    RUN(c, &r, "records", "show", id, "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "sesame-42");
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", id, "-c", cfg);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    /* stats from the columns count it under its intent */
    RUN(c, &r, "records", "stats", "--json", "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\"demo.echo\": 1");
    tu_run_free(&r);
    /* without a key: read as encrypted, the error names the key */
    RUN(c, &r, "records", "show", id, "--store", url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, "encrypted, key ");
    EXPECT_LACKS(r.out, "sesame-42");
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "encrypted");
    tu_run_free(&r);
    /* migrate --decrypt out of postgres: the plaintext, read back verified */
    {
        char to[PATH_MAX + 16], path[PATH_MAX + 64], *got;
        size_t len;
        /* without --decrypt: the sealed bytes, no key needed for files */
        snprintf(to, sizeof(to), "file:%s", c->files);
        RUN(c, &r, "records", "migrate", "--from", url, "--to", to);
        EXPECT_EXIT(&r, 0);
        EXPECT_CONTAINS(r.out, "1 copied, 0 already there, 0 failed");
        tu_run_free(&r);
        snprintf(path, sizeof(path), "%s/%s.json", c->files, id);
        got = tu_read_file(path, &len);
        assert_non_null(got);
        assert_true(len > 5 && memcmp(got, "\x89IENC", 5) == 0);
        assert_null(memmem(got, len, "sesame-42", 9));
        free(got);
        snprintf(to, sizeof(to), "file:%s/plain", c->dir);
        RUN(c, &r, "records", "migrate", "--decrypt", "--keyring", ring, "--from", url, "--to", to);
        EXPECT_EXIT(&r, 0);
        EXPECT_CONTAINS(r.out, "1 copied, 0 already there, 0 failed");
        tu_run_free(&r);
        snprintf(path, sizeof(path), "%s/plain/%s.json", c->dir, id);
        got = tu_read_file(path, &len);
        assert_non_null(got);
        assert_non_null(strstr(got, "sesame-42"));
        free(got);
    }
    free(url);
}

/* ---- 4. encrypted records in a sqlite store ---- */

/* The first column of the first row of sql on the sqlite database file
 * path, as an integer. */
static long long
sql_int(const char *path, const char *sql)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;

    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* A config (path cfg) recording into where ("store": a URL, or "dir": a
 * directory) encrypted with keyring ring, whose first key is made. */
static void
enc_config(struct ctx *c, const char *cfg, const char *key, const char *where, const char *ring)
{
    char text[3 * PATH_MAX + 256];
    struct tu_run r;

    snprintf(text, sizeof(text),
             "{\"recording\": {\"%s\": \"%s\", \"encryption\": {\"keyring\": \"%s\"}},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": "
             "[\"demo.echo\"]}]}\n",
             key, where, ring);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    RUN(c, &r, "keys", "new", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
}

static void
route_word(struct ctx *c, const char *cfg, const char *word)
{
    char payload[128];
    struct tu_run r;

    snprintf(payload, sizeof(payload), "{\"word\": \"%s\"}", word);
    RUN(c, &r, "route", "-c", cfg, "demo.echo", "-p", payload);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
}

static void
test_encrypted_sqlite(void **state)
{
    struct ctx *c = *state;
    char cfg[PATH_MAX + 16], ring[PATH_MAX + 16], other[PATH_MAX + 16], ocfg[PATH_MAX + 16],
        arch[PATH_MAX + 16], path[2 * PATH_MAX], id[40], id2[40];
    const char *db = c->db_url + 7, *p;
    struct tu_run r;
    size_t len;
    char *got;

    snprintf(cfg, sizeof(cfg), "%s/enc.json", c->dir);
    snprintf(ring, sizeof(ring), "%s/ring", c->dir);
    enc_config(c, cfg, "store", c->db_url, ring);
    route_word(c, cfg, "sesame-42");
    route_word(c, cfg, "sesame-43");
    /* the database holds sealed texts; its columns are the plaintext's */
    assert_int_equal(sql_int(db, "SELECT count(*) FROM records WHERE intent = 'demo.echo' AND "
                                 "status = 0"),
                     2);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM texts WHERE substr(text, 1, 5) = "
                                 "X'8949454E43'"),
                     2);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM texts WHERE instr(text, 'sesame') > 0 "
                                 "OR instr(text, 'demo.echo') > 0"),
                     0);
    /* list with the key: intent and status */
    RUN_KEY(c, &r, ring, "records", "list", "--json", "--store", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\"intent\": \"demo.echo\"");
    EXPECT_CONTAINS(r.out, "\"status\": \"ok\"");
    p = strstr(r.out, "\"executionId\": \"");
    assert_non_null(p);
    snprintf(id, sizeof(id), "%.36s", p + 16);
    p = strstr(p + 16, "\"executionId\": \"");
    assert_non_null(p);
    snprintf(id2, sizeof(id2), "%.36s", p + 16);
    tu_run_free(&r);
    /* show, verify, retrieve, tail and diff open them with the key */
    RUN(c, &r, "records", "show", id, "--keyring", ring, "--store", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "sesame-4");
    tu_run_free(&r);
    RUN(c, &r, "records", "show", id, "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "sesame-4");
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "2 passed, 0 failed");
    tu_run_free(&r);
    RUN(c, &r, "retrieve", id, "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "sesame-4");
    tu_run_free(&r);
    RUN(c, &r, "records", "tail", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "demo.echo");
    EXPECT_LACKS(r.out, "CORRUPT");
    tu_run_free(&r);
    RUN(c, &r, "records", "diff", id, id2, "-c", cfg);
    EXPECT_EXIT(&r, 1); /* they differ */
    EXPECT_CONTAINS(r.out, "changed  /payload/word: \"sesame-4");
    tu_run_free(&r);
    /* without a key: a clean refusal naming the key, nothing shown */
    RUN(c, &r, "records", "show", id, "--store", c->db_url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, "encrypted, key ");
    EXPECT_LACKS(r.out, "sesame-4");
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", id, "--store", c->db_url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.out, "encrypted, key ");
    tu_run_free(&r);
    /* another key: it says that keyring does not hold the record's key */
    snprintf(other, sizeof(other), "%s/other", c->dir);
    snprintf(ocfg, sizeof(ocfg), "%s/other.json", c->dir);
    enc_config(c, ocfg, "dir", c->files, other);
    RUN(c, &r, "records", "show", id, "--keyring", other, "--store", c->db_url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, "does not hold");
    EXPECT_LACKS(r.out, "sesame-4");
    tu_run_free(&r);
    /* nothing was lost on the way */
    assert_int_equal(sql_int(db, "SELECT count(*) FROM texts"), 2);
    /* gc --archive: the archive is sealed too, and opens with the key */
    snprintf(arch, sizeof(arch), "%s/arch", c->dir);
    RUN_KEY(c, &r, ring, "records", "gc", "--store", c->db_url, "--max-count", "0", "--archive",
            arch, "--yes");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM texts"), 0);
    snprintf(path, sizeof(path), "%s/%s.json.gz", arch, id);
    got = tu_read_file(path, &len);
    assert_non_null(got);
    assert_true(len > 5 && memcmp(got, "\x89IENC", 5) == 0);
    free(got);
    RUN_KEY(c, &r, ring, "records", "show", id, "--dir", arch);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "sesame-4");
    tu_run_free(&r);
}

/* Every *.json of a is in b with the same bytes (and as many files). */
static void
assert_same_json(const char *a, const char *b)
{
    DIR *d = opendir(a);
    struct dirent *de;
    int n = 0, m = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char pa[2 * PATH_MAX], pb[2 * PATH_MAX], *x, *y;
        size_t lx = 0, ly = 0, nl = strlen(de->d_name);
        if (de->d_name[0] == '.' || nl < 6 || strcmp(de->d_name + nl - 5, ".json") != 0)
            continue;
        snprintf(pa, sizeof(pa), "%s/%s", a, de->d_name);
        snprintf(pb, sizeof(pb), "%s/%s", b, de->d_name);
        x = tu_read_file(pa, &lx);
        y = tu_read_file(pb, &ly);
        assert_non_null(x);
        if (y == NULL)
            fail_msg("%s is missing", pb);
        if (lx != ly || memcmp(x, y, lx) != 0)
            fail_msg("%s and %s differ", pa, pb);
        free(x);
        free(y);
        n++;
    }
    closedir(d);
    d = opendir(b);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t nl = strlen(de->d_name);
        if (de->d_name[0] != '.' && nl > 5 && strcmp(de->d_name + nl - 5, ".json") == 0)
            m++;
    }
    closedir(d);
    assert_int_equal(n, m);
}

/* Encrypted record files of c->files (three, made by route), their key in
 * ring; the files are checked to be sealed. */
static void
sealed_files(struct ctx *c, char *ring, size_t ring_len)
{
    char cfg[PATH_MAX + 16];

    snprintf(cfg, sizeof(cfg), "%s/fenc.json", c->dir);
    snprintf(ring, ring_len, "%s/ring", c->dir);
    enc_config(c, cfg, "dir", c->files, ring);
    route_word(c, cfg, "sesame-1");
    route_word(c, cfg, "sesame-2");
    route_word(c, cfg, "sesame-3");
}

static void
test_migrate_sealed_sqlite(void **state)
{
    struct ctx *c = *state;
    char ring[PATH_MAX + 16], from[PATH_MAX + 16], back[PATH_MAX + 16], plain[PATH_MAX + 16],
        path[2 * PATH_MAX];
    const char *db = c->db_url + 7;
    struct tu_run r;

    sealed_files(c, ring, sizeof(ring));
    snprintf(from, sizeof(from), "file:%s", c->files);
    /* no key: a database destination cannot index them; each is named */
    RUN(c, &r, "records", "migrate", "--from", from, "--to", c->db_url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.out, "no key in the keyring opens it: the destination's index needs its "
                           "fields");
    EXPECT_CONTAINS(r.out, "0 copied, 0 already there, 3 failed");
    tu_run_free(&r);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM texts"), 0);
    /* with the key: copied sealed, indexed from the plaintext; again: nothing */
    RUN_KEY(c, &r, ring, "records", "migrate", "--from", from, "--to", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "3 copied, 0 already there, 0 failed");
    tu_run_free(&r);
    RUN_KEY(c, &r, ring, "records", "migrate", "--from", from, "--to", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "0 copied, 3 already there, 0 failed");
    tu_run_free(&r);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM texts WHERE substr(text, 1, 5) = "
                                 "X'8949454E43'"),
                     3);
    assert_int_equal(sql_int(db, "SELECT count(*) FROM records WHERE intent = 'demo.echo'"), 3);
    /* back to files without a key: the sealed files byte for byte */
    snprintf(back, sizeof(back), "file:%s/back", c->dir);
    RUN(c, &r, "records", "export", "--store", c->db_url, "--to", back);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "3 copied, 0 already there, 0 failed");
    tu_run_free(&r);
    assert_same_json(c->files, back + 5);
    /* --decrypt: plaintext */
    snprintf(plain, sizeof(plain), "file:%s/plain", c->dir);
    RUN_KEY(c, &r, ring, "records", "migrate", "--decrypt", "--from", c->db_url, "--to", plain);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "3 copied, 0 already there, 0 failed");
    tu_run_free(&r);
    snprintf(path, sizeof(path), "grep -l sesame-2 %s/*.json > /dev/null", plain + 5);
    assert_int_equal(system(path), 0);
}

/* file (encrypted) -> sqlite -> postgres -> file without --decrypt: the
 * original sealed bytes. */
static void
test_migrate_sealed_pg(void **state)
{
    struct ctx *c = *state;
    char ring[PATH_MAX + 16], from[PATH_MAX + 16], back[PATH_MAX + 16];
    char *url = pg_db(c);
    struct tu_run r;

    sealed_files(c, ring, sizeof(ring));
    snprintf(from, sizeof(from), "file:%s", c->files);
    RUN_KEY(c, &r, ring, "records", "migrate", "--from", from, "--to", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "3 copied");
    tu_run_free(&r);
    /* postgres indexes them too: refused without a key, naming it */
    RUN(c, &r, "records", "migrate", "--from", c->db_url, "--to", url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.out, "no key in the keyring opens it");
    EXPECT_CONTAINS(r.out, "0 copied, 0 already there, 3 failed");
    tu_run_free(&r);
    RUN_KEY(c, &r, ring, "records", "migrate", "--from", c->db_url, "--to", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "3 copied, 0 already there, 0 failed");
    tu_run_free(&r);
    RUN_KEY(c, &r, ring, "records", "list", "--json", "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\"intent\": \"demo.echo\"");
    EXPECT_LACKS(r.out, "encrypted");
    tu_run_free(&r);
    snprintf(back, sizeof(back), "file:%s/back", c->dir);
    RUN(c, &r, "records", "migrate", "--from", url, "--to", back);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "3 copied, 0 already there, 0 failed");
    tu_run_free(&r);
    assert_same_json(c->files, back + 5);
    free(url);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_stats_grouped_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_backfill_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_backfill_pages_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_after_gc_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_store_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_store_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_encrypted_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_sealed_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_sealed_pg, setup, teardown),
    };
    return cmocka_run_group_tests(tests, pgt_group_setup, pgt_group_teardown);
}
