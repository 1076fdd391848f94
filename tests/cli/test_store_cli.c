/* Store engines through the real binary: the same records on file:DIR and
 * on sqlite:PATH and postgres:// (a real server, tests/support/pg_testutil.h;
 * a counted skip without its binaries) give the same answers for every read
 * command; migrate file -> sqlite -> postgres -> file and file -> sqlite ->
 * file reproduce every record file byte for byte, runs
 * again copying nothing and refuses to overwrite different bytes; a
 * reference record directory imports into sqlite and verifies; route
 * --store and recording.store record into sqlite; bad URLs and option
 * mixes are usage errors naming the problem. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
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
#include "tests/support/serve_testutil.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 60000
#define MAX_ARGS 32
#define BASE_US 1790000000000000ll
#define N_GEN 80

/* The PostgreSQL server of this binary (group state); skipped when its
 * binaries are absent. */
struct ctx {
    struct pgt_group *g;
    char *dir;
    char env_home[PATH_MAX + 16], env_xdg[PATH_MAX + 32];
    char files[PATH_MAX], db[PATH_MAX], db_url[PATH_MAX + 16];
};

static void
put(const char *dir, const char *name, const char *text)
{
    char p[PATH_MAX + 200];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    assert_int_equal(tu_write_file(p, text, strlen(text), 0600), 0);
}

static void
copy_dir(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char p[PATH_MAX + 300];
        size_t len;
        char *text;
        if (e->d_name[0] == '.' || strstr(e->d_name, ".json") == NULL)
            continue;
        snprintf(p, sizeof(p), "%s/%s", from, e->d_name);
        text = tu_read_file(p, &len);
        assert_non_null(text);
        snprintf(p, sizeof(p), "%s/%s", to, e->d_name);
        assert_int_equal(tu_write_file(p, text, len, 0600), 0);
        free(text);
    }
    closedir(d);
}

static int
setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));

    c->g = *state;
    c->dir = tu_mkdtemp();
    snprintf(c->env_home, sizeof(c->env_home), "HOME=%s", c->dir);
    snprintf(c->env_xdg, sizeof(c->env_xdg), "XDG_CONFIG_HOME=%s", c->dir);
    snprintf(c->files, sizeof(c->files), "%s/files", c->dir);
    snprintf(c->db, sizeof(c->db), "%s/records.sqlite", c->dir);
    snprintf(c->db_url, sizeof(c->db_url), "sqlite:%s", c->db);
    assert_int_equal(mkdir(c->files, 0700), 0);
    for (unsigned i = 0; i < N_GEN; i++) {
        struct tu_rec r;
        tu_rec_make(&r, i, BASE_US);
        assert_int_equal(tu_rec_write(c->files, &r, true), 0);
    }
    put(c->files, "00000000-0000-4000-8000-00000000bad1.json", "{\"header\": ");
    put(c->files, "00000000-0000-4000-8000-00000000bad2.json", "not json at all");
    {
        char ref[PATH_MAX];
        snprintf(ref, sizeof(ref), "%s/reference-records", tu_data_dir());
        copy_dir(ref, c->files);
    }
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

static int
run_args(struct ctx *c, struct tu_run *r, const char *const *args)
{
    char *argv[MAX_ARGS], *envv[8];
    size_t n = 0;

    argv[n++] = (char *)tu_bin();
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(n + 1 < MAX_ARGS);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    envv[0] = c->env_home;
    envv[1] = c->env_xdg;
    envv[2] = (char *)"INTENTUS_CONFIG=";
    envv[3] = (char *)"INTENTUSNET_RECORDS_PATH=";
    envv[4] = NULL;
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, r), 0);
    return r->status;
}

#define RUN(c, r, ...) run_args((c), (r), ARGS(__VA_ARGS__))

static void
migrate_to(struct ctx *c, const char *url)
{
    struct tu_run r = { 0 };
    char from[PATH_MAX + 8], want[64];

    snprintf(from, sizeof(from), "file:%s", c->files);
    RUN(c, &r, "records", "migrate", "--from", from, "--to", url);
    EXPECT_EXIT(&r, 0);
    snprintf(want, sizeof(want), "%d copied, 0 already there, 0 failed", N_GEN + 2 + 39);
    EXPECT_CONTAINS(r.out, want);
    tu_run_free(&r);
}

static void
migrate_in(struct ctx *c)
{
    migrate_to(c, c->db_url);
}

/* A fresh database on the binary's PostgreSQL server (caller frees), or a
 * counted skip where the binaries are absent. */
static char *
pg_db(struct ctx *c)
{
    char name[32], why[512], *url;

    if (c->g == NULL || c->g->skipped)
        skip();
    snprintf(name, sizeof(name), "s%d", ++c->g->ndb);
    url = pgt_create_db(c->g->srv, name, why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    return url;
}

/* Lines of verify's output reduced to what a record's answer is (FAIL or
 * ok, the id, and the summary): where the record lives is named
 * differently by each engine, by design. */
static char *
verify_answers(const char *out)
{
    size_t n = strlen(out) + 1;
    char *res = calloc(1, n), *copy = strdup(out), *save = NULL;

    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "FAIL ", 5) == 0 && colon != NULL)
            *colon = '\0';
        strcat(res, line);
        strcat(res, "\n");
    }
    free(copy);
    return res;
}

/* Every read command on --dir and on url (which holds the same records)
 * gives the same output and exit status. */
static void
same_answers(struct ctx *c, const char *url)
{
    struct tu_rec r3, r5;
    const char *ref = "03355680-d215-463b-9a23-ed08bfba7708";

    tu_rec_make(&r3, 3, BASE_US);
    tu_rec_make(&r5, 5, BASE_US);
    const char *cmds[][10] = {
        { "records", "list", NULL },
        { "records", "list", "--json", NULL },
        { "records", "list", "--limit", "5", "--status", "error", NULL },
        { "records", "list", "--status", "corrupt", NULL },
        { "records", "list", "--intent", r3.intent, NULL },
        { "records", "list", "--agent", r5.agents[0], NULL },
        { "records", "list", "--search", "0335", NULL },
        { "records", "stats", NULL },
        { "records", "stats", "--json", "--status", "error", NULL },
        { "records", "stats", "--json", "--agent", r5.agents[0], NULL },
        { "records", "stats", "--intent", r3.intent, NULL },
        { "records", "tail", "-n", "7", NULL },
        { "records", "tail", "--json", "-n", "3", "--intent", r3.intent, NULL },
        { "records", "show", ref, NULL },
        { "records", "show", "0335", NULL },
        { "records", "show", r5.id, NULL },
        { "records", "verify", NULL },
        { "records", "verify", ref, r3.id, NULL },
        { "records", "diff", r3.id, r5.id, NULL },
        { "records", "diff", "--json", ref, r3.id, NULL },
        { "records", "gc", "--dry-run", "--max-count", "30", NULL },
        { "records", "gc", "--dry-run", "--json", "--max-bytes", "40K", "--intent", r3.intent,
          NULL },
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        struct tu_run f = { 0 }, s = { 0 };
        const char *args_f[12], *args_s[12];
        size_t n = 0;
        for (; cmds[i][n] != NULL; n++)
            args_f[n] = args_s[n] = cmds[i][n];
        args_f[n] = "--dir";
        args_f[n + 1] = c->files;
        args_s[n] = "--store";
        args_s[n + 1] = url;
        args_f[n + 2] = args_s[n + 2] = NULL;
        run_args(c, &f, args_f);
        run_args(c, &s, args_s);
        print_message("# %s %s %s: exit %d\n", cmds[i][0], cmds[i][1], cmds[i][2] ? cmds[i][2] : "",
                      f.status);
        if (f.status != s.status)
            tu_run_dump(&s);
        assert_int_equal(f.status, s.status);
        assert_true(strlen(f.out) > 0);
        if (strcmp(cmds[i][1], "verify") == 0) {
            char *a = verify_answers(f.out), *b = verify_answers(s.out);
            assert_string_equal(a, b);
            free(a);
            free(b);
        } else {
            assert_string_equal(f.out, s.out);
        }
        tu_run_free(&f);
        tu_run_free(&s);
    }
    /* retrieve: the same response and hash verdict (the timestamp is now) */
    {
        struct tu_run f = { 0 }, s = { 0 };
        RUN(c, &f, "retrieve", ref, "--dir", c->files);
        RUN(c, &s, "retrieve", ref, "--store", url);
        EXPECT_EXIT(&f, 0);
        EXPECT_EXIT(&s, 0);
        assert_int_equal(strlen(f.out), strlen(s.out));
        EXPECT_CONTAINS(s.out, "\"envelope_hash_ok\": true");
        tu_run_free(&f);
        tu_run_free(&s);
    }
}

static void
test_same_answers(void **state)
{
    struct ctx *c = *state;

    migrate_in(c);
    same_answers(c, c->db_url);
}

/* The same on postgres: list, stats, tail, gc's plan and show by prefix
 * read through the engine (no local index). */
static void
test_same_answers_pg(void **state)
{
    struct ctx *c = *state;
    char *url = pg_db(c);

    migrate_to(c, url);
    same_answers(c, url);
    free(url);
}

static void
assert_same_files(const char *a, const char *b)
{
    DIR *d = opendir(a);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char pa[PATH_MAX + 300], pb[PATH_MAX + 300];
        size_t la, lb;
        char *ta, *tb;
        if (e->d_name[0] == '.')
            continue;
        snprintf(pa, sizeof(pa), "%s/%s", a, e->d_name);
        snprintf(pb, sizeof(pb), "%s/%s", b, e->d_name);
        ta = tu_read_file(pa, &la);
        tb = tu_read_file(pb, &lb);
        if (tb == NULL)
            fail_msg("%s is missing after the round trip", pb);
        assert_int_equal(la, lb);
        assert_memory_equal(ta, tb, la);
        free(ta);
        free(tb);
        n++;
    }
    closedir(d);
    assert_int_equal(n, tu_count_files(b, ".json"));
    assert_int_equal(n, N_GEN + 2 + 39);
}

static void
test_migrate_round_trip(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char back[PATH_MAX + 8], from[PATH_MAX + 8], want[64], other[PATH_MAX + 8];
    struct tu_rec r7;

    migrate_in(c);
    snprintf(back, sizeof(back), "file:%s/back", c->dir);
    RUN(c, &r, "records", "migrate", "--from", c->db_url, "--to", back, "--progress");
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.err, "records migrate: ");
    tu_run_free(&r);
    assert_same_files(c->files, back + 5);
    /* again: idempotent, nothing copied */
    snprintf(from, sizeof(from), "file:%s", c->files);
    RUN(c, &r, "records", "migrate", "--from", from, "--to", c->db_url);
    EXPECT_EXIT(&r, 0);
    snprintf(want, sizeof(want), "0 copied, %d already there, 0 failed", N_GEN + 2 + 39);
    EXPECT_CONTAINS(r.out, want);
    tu_run_free(&r);
    /* the same id with other bytes is refused and the stored bytes kept */
    snprintf(other, sizeof(other), "%s/other", c->dir);
    assert_int_equal(mkdir(other, 0700), 0);
    tu_rec_make(&r7, 7, BASE_US);
    {
        char name[80];
        snprintf(name, sizeof(name), "%s.json", r7.id);
        put(other, name, "{\"header\": {}}");
    }
    RUN(c, &r, "records", "import", "--from", other, "--store", c->db_url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.out, "different content");
    EXPECT_CONTAINS(r.out, "0 copied, 0 already there, 1 failed");
    tu_run_free(&r);
    RUN(c, &r, "records", "export", "--store", c->db_url, "--to", back, "--intent", r7.intent);
    EXPECT_EXIT(&r, 0);
    assert_int_equal(strncmp(r.out, "0 copied, ", 10), 0);
    tu_run_free(&r);
    assert_same_files(c->files, back + 5);
}

/* file -> sqlite -> postgres -> file: every record file comes back byte
 * for byte. */
static void
test_migrate_chain(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char back[PATH_MAX + 8];
    char *url = pg_db(c);

    migrate_in(c);
    RUN(c, &r, "records", "migrate", "--from", c->db_url, "--to", url);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    snprintf(back, sizeof(back), "file:%s/back", c->dir);
    RUN(c, &r, "records", "migrate", "--from", url, "--to", back);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    assert_same_files(c->files, back + 5);
    free(url);
}

static void
test_import_reference(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char ref[PATH_MAX];

    assert_non_null(realpath(tu_data_dir(), ref));
    strcat(ref, "/reference-records");
    RUN(c, &r, "records", "import", "--from", ref, "--store", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "39 copied, 0 already there, 0 failed");
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", "--store", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "39 passed, 0 failed");
    tu_run_free(&r);
}

static void
test_route_into_sqlite(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char cfg[PATH_MAX + 16], text[PATH_MAX + 100], db2[PATH_MAX + 16];

    RUN(c, &r, "route", "--store", c->db_url, "demo.echo", "-p", "{\"x\":1}");
    EXPECT_CONTAINS(r.err, c->db_url);
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--json", "--store", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "\"demo.echo\"");
    tu_run_free(&r);
    /* recording.store in the config: route and the read commands use it */
    snprintf(db2, sizeof(db2), "%s/cfg.sqlite", c->dir);
    snprintf(cfg, sizeof(cfg), "%s/intentus.json", c->dir);
    snprintf(text, sizeof(text), "{\"recording\": {\"store\": \"sqlite:%s\"}}", db2);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    RUN(c, &r, "route", "-c", cfg, "demo.echo", "-p", "{\"y\":2}");
    EXPECT_CONTAINS(r.err, "sqlite:");
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "demo.echo");
    tu_run_free(&r);
    assert_int_equal(tu_count_files(c->dir, ".json"), 1); /* the config only: no record file */
    /* --dir wins over the config's store: a record file there */
    RUN(c, &r, "route", "-c", cfg, "--dir", c->files, "demo.echo", "-p", "{\"z\":3}");
    EXPECT_CONTAINS(r.err, c->files);
    tu_run_free(&r);
    assert_int_equal(tu_count_files(c->files, ".json"), N_GEN + 2 + 39 + 1);
}

static void
test_bad_usage(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };

    RUN(c, &r, "records", "list", "--store", "mongodb://x");
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "unknown scheme \"mongodb\"");
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--store", c->db_url, "--dir", c->files);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--store and --dir");
    tu_run_free(&r);
    RUN(c, &r, "records", "migrate", "--from", c->db_url, "--to", c->db_url);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "same store");
    tu_run_free(&r);
    RUN(c, &r, "records", "migrate", "--from", c->files);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--to");
    tu_run_free(&r);
    RUN(c, &r, "records", "import", "--store", c->db_url);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--from");
    tu_run_free(&r);
    /* a store that does not exist is not created by a reader */
    RUN(c, &r, "records", "list", "--store", c->db_url);
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, c->db);
    tu_run_free(&r);
    assert_int_equal(access(c->db, F_OK), -1);
    migrate_in(c);
    /* a record directory's index is not a store */
    {
        char idx[PATH_MAX + 64];
        RUN(c, &r, "records", "list", "--dir", c->files);
        EXPECT_EXIT(&r, 0);
        tu_run_free(&r);
        snprintf(idx, sizeof(idx), "sqlite:%s/.intentus/index.sqlite", c->files);
        RUN(c, &r, "records", "list", "--store", idx);
        EXPECT_EXIT(&r, 1);
        EXPECT_CONTAINS(r.err, "not a sqlite: store");
        tu_run_free(&r);
    }
    RUN(c, &r, "records", "export", "--decrypt", "--out", "x", "--store", c->db_url);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--to file:DIR");
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--store", c->db_url, "--no-index");
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--no-index");
    tu_run_free(&r);
    RUN(c, &r, "route", "--store", "nosuch:x", "demo.echo");
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "nosuch");
    tu_run_free(&r);
}

/* gc applied on both engines removes the same records and archives the
 * same bytes; what stays lists the same. */
static void
test_gc_same(void **state)
{
    struct ctx *c = *state;
    struct tu_run f = { 0 }, s = { 0 };
    char arch_f[PATH_MAX + 8], arch_s[PATH_MAX + 8];
    DIR *d;
    struct dirent *e;
    int n = 0;

    migrate_in(c);
    snprintf(arch_f, sizeof(arch_f), "%s/arch-f", c->dir);
    snprintf(arch_s, sizeof(arch_s), "%s/arch-s", c->dir);
    RUN(c, &f, "records", "gc", "--yes", "--max-count", "50", "--archive", arch_f, "--dir",
        c->files);
    RUN(c, &s, "records", "gc", "--yes", "--max-count", "50", "--archive", arch_s, "--store",
        c->db_url);
    EXPECT_EXIT(&f, 0);
    EXPECT_EXIT(&s, 0);
    assert_string_equal(f.out, s.out);
    tu_run_free(&f);
    tu_run_free(&s);
    RUN(c, &f, "records", "list", "--dir", c->files);
    RUN(c, &s, "records", "list", "--store", c->db_url);
    assert_string_equal(f.out, s.out);
    tu_run_free(&f);
    tu_run_free(&s);
    d = opendir(arch_f);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char cmd[3 * PATH_MAX];
        struct tu_run z = { 0 };
        if (e->d_name[0] == '.')
            continue;
        snprintf(cmd, sizeof(cmd),
                 "zcat '%s/%s' > a.tmp && zcat '%s/%s' > b.tmp && cmp a.tmp b.tmp", arch_f,
                 e->d_name, arch_s, e->d_name);
        {
            char *argv[] = { (char *)"sh", (char *)"-c", cmd, NULL };
            assert_int_equal(tu_run(argv, c->dir, NULL, NULL, TIMEOUT_MS, &z), 0);
        }
        if (z.status != 0)
            tu_run_dump(&z);
        assert_int_equal(z.status, 0);
        tu_run_free(&z);
        n++;
    }
    closedir(d);
    assert_int_equal(n, N_GEN + 39 - 50);
}

/* records tail -f on a sqlite store prints a record routed into it
 * while it runs (through store_follow), once. */
static void
tail_follow(struct ctx *c, const char *url)
{
    struct tu_run r = { 0 };
    char script[4 * PATH_MAX];
    char *argv[] = { (char *)"sh", (char *)"-c", script, NULL };
    char *envv[] = { c->env_home, c->env_xdg, (char *)"INTENTUS_CONFIG=", NULL };
    const char *p;
    int n = 0;

    snprintf(script, sizeof(script),
             "'%s' records tail -f -n 1 --store '%s' & pid=$!; sleep 1;"
             " '%s' route --store '%s' tail.check -p '{\"tailed\":1}' >/dev/null 2>&1;"
             " i=0; while [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; kill $pid; wait $pid;"
             " exit 0",
             tu_bin(), url, tu_bin(), url);
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, &r), 0);
    EXPECT_EXIT(&r, 0);
    for (p = r.out; (p = strstr(p, "tail.check")) != NULL; p++)
        n++;
    if (n != 1)
        tu_run_dump(&r);
    /* the record routed while it ran, once (an intent no generated record has) */
    assert_int_equal(n, 1);
    assert_int_equal(tu_count_files(c->dir, ".json"), 0);
    tu_run_free(&r);
    RUN(c, &r, "records", "tail", "-n", "1", "--store", url);
    EXPECT_CONTAINS(r.out, "tail.check");
    tu_run_free(&r);
}

static void
test_tail_follow_sqlite(void **state)
{
    struct ctx *c = *state;

    migrate_in(c);
    tail_follow(c, c->db_url);
}

/* On postgres the follow is LISTEN/NOTIFY (store_follow). */
static void
test_tail_follow_pg(void **state)
{
    struct ctx *c = *state;
    char *url = pg_db(c);

    migrate_to(c, url);
    tail_follow(c, url);
    free(url);
}

/* records show --tree and records fingerprint read the tree's records
 * through the store: a fan-out's three executions give the same tree and
 * fingerprint on file:, sqlite: and postgres (skipped without a server). */
static void
tree_same(struct ctx *c, const char *fan, const char *url, const char *id)
{
    const char *cmds[][6] = {
        { "records", "show", "--tree", id, NULL },
        { "records", "show", "--tree", "--json", id, NULL },
        { "records", "fingerprint", id, NULL },
        { "records", "fingerprint", "--json", id, NULL },
    };

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        struct tu_run f = { 0 }, s = { 0 };
        const char *args_f[10], *args_s[10];
        size_t n = 0;
        for (; cmds[i][n] != NULL; n++)
            args_f[n] = args_s[n] = cmds[i][n];
        args_f[n] = "--dir";
        args_f[n + 1] = fan;
        args_s[n] = "--store";
        args_s[n + 1] = url;
        args_f[n + 2] = args_s[n + 2] = NULL;
        run_args(c, &f, args_f);
        run_args(c, &s, args_s);
        EXPECT_EXIT(&f, 0);
        EXPECT_EXIT(&s, 0);
        if (i == 0)
            EXPECT_CONTAINS(s.out, "3 executions under root");
        assert_string_equal(f.out, s.out);
        tu_run_free(&f);
        tu_run_free(&s);
    }
}

static void
test_tree_fingerprint(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char cfg[PATH_MAX + 16], fan[PATH_MAX + 16], from[PATH_MAX + 32], text[2 * PATH_MAX + 512];
    char id[64] = "", *pg = NULL;
    const char *p;

    snprintf(cfg, sizeof(cfg), "%s/fan.json", c->dir);
    snprintf(fan, sizeof(fan), "%s/fan", c->dir);
    snprintf(from, sizeof(from), "file:%s", fan);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"},\n"
             " \"agents\": [\n"
             "  {\"name\": \"fan\", \"builtin\": \"fanout\", \"emit\": [\"demo.echo\", "
             "\"demo.upper\"], \"intents\": [\"demo.fan\"]},\n"
             "  {\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": [\"demo.echo\"]},\n"
             "  {\"name\": \"upper-u\", \"builtin\": \"upper\", \"intents\": [\"demo.upper\"]}]}\n",
             fan);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    RUN(c, &r, "route", "-c", cfg, "demo.fan", "--payload", "{\"w\": \"hi\"}");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--json", "--intent", "demo.fan", "--dir", fan);
    EXPECT_EXIT(&r, 0);
    p = strstr(r.out, "\"executionId\": \"");
    assert_non_null(p);
    snprintf(id, sizeof(id), "%.36s", p + 16);
    tu_run_free(&r);
    RUN(c, &r, "records", "migrate", "--from", from, "--to", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "3 copied");
    tu_run_free(&r);
    tree_same(c, fan, c->db_url, id);
    if (c->g == NULL || c->g->skipped) {
        print_message("# postgres part skipped: %s\n", c->g ? c->g->why : "no server");
        skip();
    }
    pg = pg_db(c);
    RUN(c, &r, "records", "migrate", "--from", from, "--to", pg);
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    tree_same(c, fan, pg, id);
    free(pg);
}

/* serve --store URL records into that store (not the config's directory),
 * serve honours the config's recording.store, and a bad --store is a
 * usage error naming it. */
static int
serve_route(struct tu_serve *sv, int n)
{
    int ok = 0;

    for (int i = 0; i < n; i++) {
        char *out = NULL;
        if (tu_serve_http(sv, "POST", "/v1/route", NULL,
                          "{\"intent\":\"demo.echo\",\"payload\":{\"served\":1}}", &out) == 200)
            ok++;
        free(out);
    }
    return ok;
}

static void
served_in(struct ctx *c, const char *url, int n)
{
    struct tu_run r = { 0 };
    char want[32];
    const char *p;
    int seen = 0;

    RUN(c, &r, "records", "list", "--json", "--intent", "demo.echo", "--store", url);
    EXPECT_EXIT(&r, 0);
    for (p = r.out; (p = strstr(p, "\"executionId\"")) != NULL; p++)
        seen++;
    if (seen != n)
        tu_run_dump(&r);
    assert_int_equal(seen, n);
    tu_run_free(&r);
    snprintf(want, sizeof(want), "%d passed, 0 failed", n);
    RUN(c, &r, "records", "verify", "--store", url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, want);
    tu_run_free(&r);
}

static void
serve_config(struct tu_serve *sv, const char *store)
{
    char text[3 * PATH_MAX + 512], st[PATH_MAX + 64] = "";

    if (store != NULL)
        snprintf(st, sizeof(st), ", \"store\": \"%s\"", store);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\"%s},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": "
             "[\"demo.echo\"]}]}\n",
             sv->records, st);
    assert_int_equal(tu_write_file(sv->config, text, strlen(text), 0600), 0);
}

static void
test_serve_store(void **state)
{
    struct ctx *c = *state;
    struct tu_serve *sv = tu_serve_new();
    struct tu_run r = { 0 };
    char db2[PATH_MAX + 32];
    char *pg = NULL;

    /* --store over the config's directory */
    serve_config(sv, NULL);
    tu_serve_start(sv, ARGS("--no-auth", "--store", c->db_url));
    assert_int_equal(serve_route(sv, 3), 3);
    assert_int_equal(tu_serve_stop(sv), 0);
    assert_true(tu_count_files(sv->records, ".json") <= 0); /* none, or no directory */
    served_in(c, c->db_url, 3);
    /* the config's recording.store */
    snprintf(db2, sizeof(db2), "sqlite:%s/second.sqlite", c->dir);
    serve_config(sv, db2);
    tu_serve_start(sv, ARGS("--no-auth"));
    assert_int_equal(serve_route(sv, 2), 2);
    assert_int_equal(tu_serve_stop(sv), 0);
    assert_true(tu_count_files(sv->records, ".json") <= 0); /* none, or no directory */
    served_in(c, db2, 2);
    /* a bad --store: usage error naming the scheme, nothing started */
    RUN(c, &r, "serve", "--no-auth", "--config", sv->config, "--store", "redis://x");
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--store");
    EXPECT_CONTAINS(r.err, "redis");
    tu_run_free(&r);
    /* postgres */
    if (c->g != NULL && !c->g->skipped) {
        pg = pg_db(c);
        serve_config(sv, NULL);
        tu_serve_start(sv, ARGS("--no-auth", "--store", pg));
        assert_int_equal(serve_route(sv, 4), 4);
        assert_int_equal(tu_serve_stop(sv), 0);
        served_in(c, pg, 4);
        free(pg);
    }
    tu_serve_free(sv);
    if (c->g == NULL || c->g->skipped)
        skip();
}

/* records verify on sqlite checks each record against its WAL as on
 * files: agreeing ones pass (verbose says so), a WAL that tells another
 * story is a FAIL naming the record. */
static void
test_verify_wal_sqlite(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char cfg[PATH_MAX + 16], wal[PATH_MAX + 16], text[3 * PATH_MAX + 512], a[PATH_MAX + 64],
        b[PATH_MAX + 64], ids[2][40];
    const char *p;
    size_t len;
    char *w;

    snprintf(cfg, sizeof(cfg), "%s/wal.json", c->dir);
    snprintf(wal, sizeof(wal), "%s/wal", c->dir);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"store\": \"%s\"}, \"wal\": {\"enabled\": true, \"dir\": \"%s\"},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": "
             "[\"demo.echo\"]},\n"
             "  {\"name\": \"up\", \"builtin\": \"upper\", \"intents\": [\"demo.upper\"]}]}\n",
             c->db_url, wal);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    RUN(c, &r, "route", "-c", cfg, "demo.echo", "-p", "{\"w\": 1}");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    RUN(c, &r, "route", "-c", cfg, "demo.upper", "-p", "{\"t\": \"x\"}");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    RUN(c, &r, "records", "verify", "-v", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "(record and WAL agree)");
    EXPECT_CONTAINS(r.out, "2 passed, 0 failed");
    tu_run_free(&r);
    /* the ids, oldest first, and the first's WAL put in place of the second's */
    RUN(c, &r, "records", "list", "--json", "-c", cfg);
    p = r.out;
    for (int i = 0; i < 2; i++) {
        p = strstr(p, "\"executionId\": \"");
        assert_non_null(p);
        snprintf(ids[i], sizeof(ids[i]), "%.36s", p + 16);
        p++;
    }
    tu_run_free(&r);
    snprintf(a, sizeof(a), "%s/%s.wal", wal, ids[0]);
    snprintf(b, sizeof(b), "%s/%s.wal", wal, ids[1]);
    w = tu_read_file(a, &len);
    assert_non_null(w);
    assert_int_equal(tu_write_file(b, w, len, 0600), 0);
    free(w);
    RUN(c, &r, "records", "verify", "-c", cfg);
    EXPECT_EXIT(&r, 1);
    {
        char want[64];
        snprintf(want, sizeof(want), "FAIL %s: ", ids[1]);
        EXPECT_CONTAINS(r.out, want);
    }
    EXPECT_CONTAINS(r.out, "1 passed, 1 failed");
    tu_run_free(&r);
}

/* recovery scan on a sqlite store: an execution whose WAL lost its last
 * entry (stopped between the record and the WAL's end) has its record in
 * the database, looked up there by id (--store, or the config's
 * recording.store): "record exists", not resumable. */
static void
test_recovery_scan_sqlite(void **state)
{
    struct ctx *c = *state;
    struct tu_run r = { 0 };
    char cfg[PATH_MAX + 16], wal[PATH_MAX + 16], text[3 * PATH_MAX + 512], path[PATH_MAX + 64],
        id[40];
    const char *p;
    size_t len;
    char *w, *end;

    snprintf(cfg, sizeof(cfg), "%s/wal.json", c->dir);
    snprintf(wal, sizeof(wal), "%s/wal", c->dir);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"store\": \"%s\"}, \"wal\": {\"enabled\": true, \"dir\": \"%s\"},\n"
             " \"agents\": [{\"name\": \"echo-a\", \"builtin\": \"echo\", \"intents\": "
             "[\"demo.echo\"]}]}\n",
             c->db_url, wal);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    RUN(c, &r, "route", "-c", cfg, "demo.echo", "-p", "{\"w\": 1}");
    EXPECT_EXIT(&r, 0);
    tu_run_free(&r);
    RUN(c, &r, "records", "list", "--json", "-c", cfg);
    p = strstr(r.out, "\"executionId\": \"");
    assert_non_null(p);
    snprintf(id, sizeof(id), "%.36s", p + 16);
    tu_run_free(&r);
    /* cut the WAL's last entry off */
    snprintf(path, sizeof(path), "%s/%s.wal", wal, id);
    w = tu_read_file(path, &len);
    assert_non_null(w);
    assert_true(len > 1 && w[len - 1] == '\n');
    w[len - 1] = '\0';
    end = strrchr(w, '\n');
    assert_non_null(end);
    assert_int_equal(tu_write_file(path, w, (size_t)(end + 1 - w), 0600), 0);
    free(w);
    RUN(c, &r, "recovery", "scan", "--json", "--wal-dir", wal, "--store", c->db_url);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, id);
    EXPECT_CONTAINS(r.out, "\"record_exists\": true");
    EXPECT_CONTAINS(r.out, "\"can_resume\": false");
    EXPECT_CONTAINS(r.out, "Record exists (success)");
    tu_run_free(&r);
    /* the config's recording.store is the one looked in */
    RUN(c, &r, "recovery", "scan", "-c", cfg);
    EXPECT_EXIT(&r, 0);
    EXPECT_CONTAINS(r.out, "Record exists (success)");
    EXPECT_CONTAINS(r.out, "1 incomplete execution");
    tu_run_free(&r);
    /* --store and --dir together, and --store where it does not apply */
    RUN(c, &r, "recovery", "scan", "--wal-dir", wal, "--store", c->db_url, "--dir", c->dir);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--store and --dir");
    tu_run_free(&r);
    RUN(c, &r, "recovery", "abort", id, "--reason", "x", "--wal-dir", wal, "--store", c->db_url);
    EXPECT_EXIT(&r, 2);
    EXPECT_CONTAINS(r.err, "--store applies to recovery scan, resume and close only");
    tu_run_free(&r);
    /* an unreachable store is named */
    RUN(c, &r, "recovery", "scan", "--wal-dir", wal, "--store", "nosuch:x");
    EXPECT_EXIT(&r, 1);
    EXPECT_CONTAINS(r.err, "nosuch:x");
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_reference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_route_into_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_follow_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_answers_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tail_follow_pg, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_fingerprint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_serve_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_wal_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_scan_sqlite, setup, teardown),
    };
    return cmocka_run_group_tests(tests, pgt_group_setup, pgt_group_teardown);
}
