/* The console on another engine than files, in tmux: on sqlite:PATH and on
 * a real PostgreSQL server (tests/support/pg_testutil.h; a counted skip
 * without its binaries) it shows the records the store holds, follows a
 * record routed into the store while it runs (postgres: LISTEN/NOTIFY),
 * and opens a record's detail read through the engine. With --window it
 * holds only the newest rows yet counts every record (sqlite: its index's
 * totals and pages; postgres: the engine's stats op for the dashboard's
 * figures, its queries for the Records screen), and records another
 * process deletes (records gc --store) leave the console while it runs. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "tests/support/pg_testutil.h"
#include "tests/support/recgen.h"
#include "tests/support/testutil.h"
#include "tests/support/tmux_testutil.h"

#define TIMEOUT_MS 60000

static void
route_into(const struct tu_con *c, const char *url, const char *payload)
{
    char home[700], xdg[720];
    char *argv[] = { (char *)tu_bin(),    (char *)"route", (char *)"--store", (char *)url,
                     (char *)"demo.echo", (char *)"-p",    (char *)payload,   NULL };
    char *envv[] = { home, xdg,
                     (char *)"INTENTUS_CONFIG=", (char *)"INTENTUSNET_RECORDS_PATH=", NULL };
    struct tu_run r = { 0 };

    snprintf(home, sizeof(home), "HOME=%s", c->dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", c->dir);
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, &r), 0);
    if (r.status != 0)
        print_message("# route: exit %d\n%s\n", r.status, r.err ? r.err : "");
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
}

/* Run intentus with argv[1..] in c's directory: its exit status must be 0. */
static void
run_ok(const struct tu_con *c, char **argv)
{
    char home[700], xdg[720];
    char *envv[] = { home, xdg,
                     (char *)"INTENTUS_CONFIG=", (char *)"INTENTUSNET_RECORDS_PATH=", NULL };
    struct tu_run r = { 0 };

    snprintf(home, sizeof(home), "HOME=%s", c->dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", c->dir);
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, &r), 0);
    if (r.status != 0)
        print_message("# %s %s: exit %d\n%s\n", argv[1], argv[2], r.status, r.err ? r.err : "");
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
}

/* n records, one a second back from now, written as files and migrated
 * into the store url; ids[0] the newest, ids[n-1] the oldest. All
 * demo.echo by echo-a, or with mixed every third (i % 3 == 0) demo.other
 * by echo-b. */
static void
fill_store_as(const struct tu_con *c, const char *url, int n, char (*ids)[40], bool mixed)
{
    int64_t now = clock_wall_us();
    char from[700];
    char *argv[] = { (char *)tu_bin(),
                     (char *)"records",
                     (char *)"migrate",
                     (char *)"--from",
                     from,
                     (char *)"--to",
                     (char *)url,
                     NULL };

    for (int i = 0; i < n; i++) {
        struct tu_rec r;
        tu_rec_make(&r, 700 + (unsigned)i, 0);
        r.created_us = now - (int64_t)(i + 1) * 1000000;
        r.intent = mixed && i % 3 == 0 ? "demo.other" : "demo.echo";
        r.timing = true;
        r.n_attempts = 1;
        r.agents[0] = mixed && i % 3 == 0 ? "echo-b" : "echo-a";
        r.ok[0] = true;
        r.attempt_no[0] = 0;
        r.error_code = NULL;
        r.circuit_agent = NULL;
        assert_int_equal(tu_rec_write(c->recs, &r, true), 0);
        snprintf(ids[i], sizeof(ids[i]), "%s", r.id);
    }
    snprintf(from, sizeof(from), "file:%s", c->recs);
    run_ok(c, argv);
}

static void
fill_store(const struct tu_con *c, const char *url, int n, char (*ids)[40])
{
    fill_store_as(c, url, n, ids, false);
}

/* records gc --store url --max-count keep, applied (not a dry run), as
 * another terminal would. */
static void
gc_keep(const struct tu_con *c, const char *url, const char *keep)
{
    char *argv[] = { (char *)tu_bin(),  (char *)"records", (char *)"gc",
                     (char *)"--store", (char *)url,       (char *)"--max-count",
                     (char *)keep,      (char *)"--yes",   NULL };
    run_ok(c, argv);
}

static void
console_on(struct tu_con *c, const char *url)
{
    char args[1200], screen[16384];

    route_into(c, url, "{\"n\": 1}");
    route_into(c, url, "{\"n\": 2}");
    route_into(c, url, "{\"n\": 3}");
    snprintf(args, sizeof(args), "console --read-only --store '%s'", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 140, 30);
    if (!tu_con_wait(c, "3 records", 15000, screen, sizeof(screen)))
        fail_msg("the console did not show the store's 3 records:\n%s", screen);
    /* live: a record stored while it runs */
    route_into(c, url, "{\"n\": 4}");
    if (!tu_con_wait(c, "4 records", 15000, screen, sizeof(screen)))
        fail_msg("the console did not follow the 4th record:\n%s", screen);
    /* a record's detail, read by id through the engine */
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "4 of 4 records");
    tu_con_keys(c, "Enter", NULL, NULL);
    if (!tu_con_wait(c, "envelopeHash verified", 10000, screen, sizeof(screen)))
        fail_msg("the record's timeline did not open:\n%s", screen);
    assert_non_null(strstr(screen, "INTENT_RECEIVED"));
    tu_con_keys(c, "q", "q", NULL);
}

static void
test_console_sqlite(void **state)
{
    struct tu_con *c = tu_con_new();
    char url[700];

    (void)state;
    snprintf(url, sizeof(url), "sqlite:%s/records.sqlite", c->dir);
    console_on(c, url);
    tu_con_free(c);
}

/* Keys typed ahead: 2 and Enter in one write, so the console reads Enter
 * before it ever drew the Records screen. The Enter opened nothing: the
 * list it acted on had not been built yet (the key was lost). */
static void
test_console_sqlite_type_ahead(void **state)
{
    struct tu_con *c = tu_con_new();
    char url[700], args[1200], screen[16384];

    (void)state;
    snprintf(url, sizeof(url), "sqlite:%s/records.sqlite", c->dir);
    route_into(c, url, "{\"n\": 1}");
    snprintf(args, sizeof(args), "console --read-only --store '%s'", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 140, 30);
    if (!tu_con_wait(c, "1 records", 15000, screen, sizeof(screen)))
        fail_msg("the console did not show the store's record:\n%s", screen);
    tu_con_keys(c, "2", "Enter", NULL);
    if (!tu_con_wait(c, "envelopeHash verified", 10000, screen, sizeof(screen)))
        fail_msg("Enter typed right after 2 did not open the record:\n%s", screen);
    tu_con_keys(c, "q", "q", NULL);
    tu_con_free(c);
}

/* --window on a sqlite store (issue 19): only the newest 10 rows are held,
 * yet the title counts all 60 (the store's index), the records browser
 * pages the index past the window to the oldest record, and --window is
 * accepted with --store instead of refused. */
static void
test_console_sqlite_window(void **state)
{
    struct tu_con *c = tu_con_new();
    char url[700], args[800], screen[16384], ids[60][40];
    bool reached = false;

    (void)state;
    snprintf(url, sizeof(url), "sqlite:%s/records.sqlite", c->dir);
    fill_store(c, url, 60, ids);
    snprintf(args, sizeof(args), "console --store '%s' --window 10", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 160, 40);
    if (!tu_con_wait(c, " 60 records ", 15000, screen, sizeof(screen)))
        fail_msg("the console does not count the store's 60 records:\n%s", screen);
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "60 of 60 records");
    tu_con_expect(c, "(newest 10 loaded)");
    tu_con_expect(c, ids[0]);
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, ids[59]) != NULL)
        fail_msg("the oldest record is shown with only the newest 10 loaded:\n%s", screen);
    for (int i = 0; i < 12 && !reached; i++) {
        tu_con_keys(c, "G", NULL, NULL);
        reached = tu_con_wait(c, ids[59], 1500, screen, sizeof(screen));
    }
    if (!reached)
        fail_msg("paging never reached the oldest record %s:\n%s", ids[59], screen);
    /* the detail of a record past the window, read through the engine */
    tu_con_keys(c, "Enter", NULL, NULL);
    {
        char want[80];
        snprintf(want, sizeof(want), "Execution %s", ids[59]);
        if (!tu_con_wait(c, want, 10000, screen, sizeof(screen)) ||
            strstr(screen, "INTENT_RECEIVED") == NULL)
            fail_msg("the oldest record's timeline did not open:\n%s", screen);
    }
    tu_con_keys(c, "q", "Q", NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    tu_con_free(c);
}

/* Records deleted by another process (records gc --store from another
 * terminal) leave the running console: first 50 of 60 outside its window
 * of 10 (the counts change), then all but 3, those in its window too (the
 * rows go). */
static void
deletes_seen(struct tu_con *c, const char *url)
{
    char args[1200], screen[16384], ids[60][40];

    fill_store(c, url, 60, ids);
    snprintf(args, sizeof(args), "console --store '%s' --window 10", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 160, 40);
    if (!tu_con_wait(c, " 60 records ", 15000, screen, sizeof(screen)))
        fail_msg("the console does not count the store's 60 records:\n%s", screen);
    gc_keep(c, url, "50");
    if (!tu_con_wait(c, " 50 records ", 15000, screen, sizeof(screen)))
        fail_msg("10 records were deleted from the store; the console still counts them:\n%s",
                 screen);
    gc_keep(c, url, "3");
    if (!tu_con_wait(c, " 3 records ", 15000, screen, sizeof(screen)))
        fail_msg("47 more records were deleted; the console still counts them:\n%s", screen);
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "3 of 3 records");
    tu_con_expect(c, ids[0]);
    tu_con_capture(c, screen, sizeof(screen));
    for (int i = 3; i < 10; i++)
        if (strstr(screen, ids[i]) != NULL)
            fail_msg("record %s was deleted from the store and is still listed:\n%s", ids[i],
                     screen);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_console_sqlite_deletes(void **state)
{
    struct tu_con *c = tu_con_new();
    char url[700];

    (void)state;
    snprintf(url, sizeof(url), "sqlite:%s/records.sqlite", c->dir);
    deletes_seen(c, url);
    tu_con_free(c);
}

/* records gc on url with args (and --store url --dry-run): its stdout. */
static char *
gc_dry_run(const struct tu_con *c, const char *url, const char *limit, const char *value)
{
    char home[700], xdg[720];
    char *argv[] = { (char *)tu_bin(),  (char *)"records",   (char *)"gc",
                     (char *)"--store", (char *)url,         (char *)limit,
                     (char *)value,     (char *)"--dry-run", NULL };
    char *envv[] = { home, xdg,
                     (char *)"INTENTUS_CONFIG=", (char *)"INTENTUSNET_RECORDS_PATH=", NULL };
    struct tu_run r = { 0 };
    char *out;

    snprintf(home, sizeof(home), "HOME=%s", c->dir);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s", c->dir);
    assert_int_equal(tu_run(argv, c->dir, NULL, envv, TIMEOUT_MS, &r), 0);
    if (r.status != 0)
        print_message("# records gc: exit %d\n%s\n", r.status, r.err ? r.err : "");
    assert_int_equal(r.status, 0);
    out = strdup(r.out ? r.out : "");
    tu_run_free(&r);
    return out;
}

/* The Retention screen on a store plans and applies through records gc
 * --store's own plan (tui/store_gc.h): the dry run lists the ids that
 * records gc --store --dry-run lists, and applying deletes exactly those
 * from the database. */
static void
test_console_store_retention(void **state)
{
    struct tu_con *c = tu_con_new();
    char url[700], args[800], screen[16384], ids[3][160];
    char *before, *after, *p;
    size_t n = 0;

    (void)state;
    snprintf(url, sizeof(url), "sqlite:%s/records.sqlite", c->dir);
    route_into(c, url, "{\"n\": 1}");
    route_into(c, url, "{\"n\": 2}");
    route_into(c, url, "{\"n\": 3}");
    route_into(c, url, "{\"n\": 4}");
    before = gc_dry_run(c, url, "--max-count", "1");
    for (p = before; n < 3 && (p = strstr(p, "  remove ")) != NULL; p += 9) {
        size_t len = strcspn(p + 9, "\n");
        assert_true(len < sizeof(ids[0]));
        memcpy(ids[n], p + 9, len);
        ids[n++][len] = '\0';
    }
    assert_int_equal(n, 3);
    snprintf(args, sizeof(args), "console --store '%s'", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 140, 40);
    tu_con_expect(c, "4 records");
    tu_con_keys(c, "6", NULL, NULL);
    tu_con_expect(c, "Retention for this run");
    tu_con_keys(c, "e", NULL, NULL);
    tu_con_expect(c, "older than (e.g. 30d, empty: none):");
    tu_con_keys(c, "C-u", NULL, NULL); /* no age limit: keep the newest one */
    tu_con_keys(c, "Tab", NULL, NULL);
    tu_con_type(c, "1");
    tu_con_keys(c, "Tab", NULL, NULL);
    tu_con_keys(c, "Tab", NULL, NULL);
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "max count 1");
    tu_con_keys(c, "n", NULL, NULL);
    if (!tu_con_wait(c, "Dry run: would remove", 15000, screen, sizeof(screen)))
        fail_msg("no dry run on the store:\n%s", screen);
    if (strstr(screen, "   3 records, ") == NULL || strstr(screen, "keeps 1 records") == NULL)
        fail_msg("the dry run does not plan 3 of 4:\n%s", screen);
    for (size_t i = 0; i < n; i++)
        if (strstr(screen, ids[i]) == NULL)
            fail_msg("records gc --store plans %s; the console's dry run does not list it:\n%s",
                     ids[i], screen);
    tu_con_keys(c, "x", NULL, NULL);
    tu_con_expect(c, "type 'delete' to delete 3 records");
    tu_con_type(c, "delete");
    tu_con_keys(c, "Enter", NULL, NULL);
    if (!tu_con_wait(c, "Last run: removed", 15000, screen, sizeof(screen)))
        fail_msg("the apply did not finish:\n%s", screen);
    assert_non_null(strstr(screen, "   3 records, "));
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    /* the database keeps one record: nothing left over the limit */
    after = gc_dry_run(c, url, "--max-count", "0");
    assert_non_null(strstr(after, "  remove "));
    assert_null(strstr(strstr(after, "  remove ") + 9, "  remove "));
    for (size_t i = 0; i < n; i++)
        assert_null(strstr(after, ids[i]));
    free(before);
    free(after);
    tu_con_free(c);
}

static void
test_console_postgres(void **state)
{
    struct pgt_group *g = *state;
    struct tu_con *c;
    char why[512], *url;

    if (g == NULL || g->skipped)
        skip();
    url = pgt_create_db(g->srv, "console", why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    c = tu_con_new();
    console_on(c, url);
    tu_con_free(c);
    free(url);
}

/* On postgres: the window's rows, the store's count in the title (not
 * the window's), and deletions by another process noticed (NOTIFY). */
static void
test_console_postgres_window_deletes(void **state)
{
    struct pgt_group *g = *state;
    struct tu_con *c;
    char why[512], *url;

    if (g == NULL || g->skipped)
        skip();
    url = pgt_create_db(g->srv, "console_del", why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    c = tu_con_new();
    deletes_seen(c, url);
    tu_con_free(c);
    free(url);
}

/* The byte of line at display column col (UTF-8: a continuation byte
 * takes no column), or NULL past the line's end. */
static const char *
at_column(const char *line, size_t col)
{
    for (size_t c = 0; *line != '\0' && *line != '\n'; line++) {
        if (((unsigned char)*line & 0xC0) == 0x80)
            continue;
        if (c++ == col)
            return line;
    }
    return NULL;
}

/* Whether the dashboard's row of agent shows calls in its CALLS column
 * (right-aligned under the header's "CALLS"). */
static bool
agent_calls(const char *screen, const char *agent, const char *calls)
{
    const char *h = strstr(screen, "  CALLS "), *hl, *p, *q;
    size_t end = 0, n = strlen(calls);
    char row[80];

    if (h == NULL)
        return false;
    for (hl = h; hl > screen && hl[-1] != '\n'; hl--)
        ;
    for (q = hl; q < h + strlen("  CALLS"); q++)
        end += ((unsigned char)*q & 0xC0) != 0x80;
    snprintf(row, sizeof(row), "\n %s ", agent);
    if ((p = strstr(screen, row)) == NULL || end <= n)
        return false;
    p++;
    q = at_column(p, end - n - 1);
    return q != NULL && *q == ' ' && strncmp(q + 1, calls, n) == 0 &&
           (q[1 + n] == ' ' || q[1 + n] == '\n' || q[1 + n] == '\0');
}

/* The dashboard on postgres with --window 10 (issue 19): its figures are
 * the engine's stats op over all 60 records (40 demo.echo by echo-a, 20
 * demo.other by echo-b), not the window's 10 (6 and 4), and they follow
 * a record routed while it runs. */
static void
test_console_postgres_dashboard(void **state)
{
    struct pgt_group *g = *state;
    struct tu_con *c;
    char why[512], *url, args[1200], screen[16384], ids[60][40];
    bool ok = false;

    if (g == NULL || g->skipped)
        skip();
    url = pgt_create_db(g->srv, "console_dash", why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    c = tu_con_new();
    fill_store_as(c, url, 60, ids, true);
    snprintf(args, sizeof(args), "console --store '%s' --window 10", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 160, 40);
    tu_con_keys(c, "1", NULL, NULL);
    for (int i = 0; i < 50 && !ok; i++) {
        tu_con_wait(c, " records 60  rate", 300, screen, sizeof(screen));
        ok = strstr(screen, " records 60  rate") != NULL && agent_calls(screen, "echo-a", "40") &&
             agent_calls(screen, "echo-b", "20");
    }
    if (!ok)
        fail_msg("the dashboard's figures do not cover the store's 60 records "
                 "(echo-a 40 calls, echo-b 20):\n%s",
                 screen);
    /* live: one more demo.echo by the console's demo agent */
    route_into(c, url, "{\"n\": 61}");
    if (!tu_con_wait(c, " records 61  rate", 15000, screen, sizeof(screen)))
        fail_msg("the dashboard's figures did not follow the 61st record:\n%s", screen);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    tu_con_free(c);
    free(url);
}

/* The Records screen on postgres with --window 10 (issue 19): its rows and
 * filters are the engine's queries (store_query, newest first) over all
 * 60 records, paged past the window to the oldest, not the window's 10. */
static void
test_console_postgres_records(void **state)
{
    struct pgt_group *g = *state;
    struct tu_con *c;
    char why[512], *url, args[1200], screen[16384], ids[60][40];
    bool reached = false;

    if (g == NULL || g->skipped)
        skip();
    url = pgt_create_db(g->srv, "console_recs", why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    c = tu_con_new();
    fill_store_as(c, url, 60, ids, true);
    snprintf(args, sizeof(args), "console --store '%s' --window 10", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 160, 40);
    if (!tu_con_wait(c, " 60 records ", 15000, screen, sizeof(screen)))
        fail_msg("the console does not count the store's 60 records:\n%s", screen);
    tu_con_keys(c, "2", NULL, NULL);
    if (!tu_con_wait(c, "60 of 60 records", 10000, screen, sizeof(screen)))
        fail_msg("the Records screen does not list the store's 60 records:\n%s", screen);
    tu_con_expect(c, "(newest 10 loaded)");
    for (int i = 0; i < 12 && !reached; i++) {
        tu_con_keys(c, "G", NULL, NULL);
        reached = tu_con_wait(c, ids[59], 1500, screen, sizeof(screen));
    }
    if (!reached)
        fail_msg("paging never reached the oldest record %s:\n%s", ids[59], screen);
    /* a filter: the engine's answer (20 demo.other, 4 of them in the window) */
    tu_con_keys(c, "/", NULL, NULL);
    tu_con_type(c, "intent:demo.other");
    tu_con_keys(c, "Enter", NULL, NULL);
    if (!tu_con_wait(c, "20 of 60 records", 10000, screen, sizeof(screen)))
        fail_msg("the filter does not select the store's 20 demo.other records:\n%s", screen);
    reached = false;
    for (int i = 0; i < 12 && !reached; i++) {
        tu_con_keys(c, "G", NULL, NULL);
        reached = tu_con_wait(c, ids[57], 1500, screen, sizeof(screen));
    }
    if (!reached)
        fail_msg("paging the filter never reached its oldest record %s:\n%s", ids[57], screen);
    if (strstr(screen, ids[58]) != NULL)
        fail_msg("the demo.echo record %s is listed under intent:demo.other:\n%s", ids[58], screen);
    /* the detail of a record past the window, read through the engine */
    tu_con_keys(c, "Enter", NULL, NULL);
    {
        char want[80];
        snprintf(want, sizeof(want), "Execution %s", ids[57]);
        if (!tu_con_wait(c, want, 10000, screen, sizeof(screen)) ||
            strstr(screen, "INTENT_RECEIVED") == NULL)
            fail_msg("the oldest demo.other record's timeline did not open:\n%s", screen);
    }
    tu_con_keys(c, "q", "Q", NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    tu_con_free(c);
    free(url);
}

/* Page the Records screen (G) until it shows id, then put the cursor on
 * the last row loaded (the rows asked for have arrived by then). */
static void
page_to(struct tu_con *c, const char *id, char *screen, size_t size)
{
    bool reached = false;

    for (int i = 0; i < 12 && !reached; i++) {
        tu_con_keys(c, "G", NULL, NULL);
        reached = tu_con_wait(c, id, 1500, screen, size);
    }
    if (!reached)
        fail_msg("paging never reached the record %s:\n%s", id, screen);
    tu_con_keys(c, "G", NULL, NULL);
}

/* Which of ids[0..n-1] the detail screen shows ("Execution ID"); -1: none. */
static int
detail_index(struct tu_con *c, char (*ids)[40], int n, char *screen, size_t size)
{
    const char *p;

    if (!tu_con_wait(c, "Execution ", 10000, screen, size) ||
        (p = strstr(screen, "Execution ")) == NULL)
        return -1;
    p += strlen("Execution ");
    for (int k = 0; k < n; k++)
        if (strncmp(p, ids[k], strlen(ids[k])) == 0)
            return k;
    return -1;
}

/* The detail screen shows record id (after a key). */
static void
expect_detail(struct tu_con *c, const char *id, const char *after, char *screen, size_t size)
{
    char want[80];

    snprintf(want, sizeof(want), "Execution %s", id);
    if (!tu_con_wait(c, want, 10000, screen, size))
        fail_msg("after %s the detail does not show %s:\n%s", after, id, screen);
}

/* The detail's [ (older) and ] (newer) on postgres with --window 10 (issue
 * 19): from a record opened on a filtered page past the window they step
 * to its neighbours among the filter's records (intent:demo.other: ids 57,
 * 54, 51, ..., none of them in the window of ids 0-9), through the engine,
 * and stop with a message at the oldest; opened unfiltered, [ steps past
 * the window to the next older record of all. */
static void
test_console_postgres_detail_steps(void **state)
{
    struct pgt_group *g = *state;
    struct tu_con *c;
    char why[512], *url, args[1200], screen[16384], ids[60][40];

    if (g == NULL || g->skipped)
        skip();
    url = pgt_create_db(g->srv, "console_steps", why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    c = tu_con_new();
    fill_store_as(c, url, 60, ids, true);
    snprintf(args, sizeof(args), "console --store '%s' --window 10", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 160, 40);
    tu_con_keys(c, "2", NULL, NULL);
    if (!tu_con_wait(c, "60 of 60 records", 15000, screen, sizeof(screen)))
        fail_msg("the Records screen does not list the store's 60 records:\n%s", screen);
    tu_con_keys(c, "/", NULL, NULL);
    tu_con_type(c, "intent:demo.other");
    tu_con_keys(c, "Enter", NULL, NULL);
    if (!tu_con_wait(c, "20 of 60 records", 10000, screen, sizeof(screen)))
        fail_msg("the filter does not select the store's 20 demo.other records:\n%s", screen);
    page_to(c, ids[57], screen, sizeof(screen));
    tu_con_keys(c, "Enter", NULL, NULL);
    expect_detail(c, ids[57], "Enter", screen, sizeof(screen));
    /* newer within the filter: 54, then 51 (not the demo.echo 56, 55) */
    tu_con_keys(c, "]", NULL, NULL);
    expect_detail(c, ids[54], "]", screen, sizeof(screen));
    tu_con_keys(c, "]", NULL, NULL);
    expect_detail(c, ids[51], "] ]", screen, sizeof(screen));
    tu_con_keys(c, "[", NULL, NULL);
    expect_detail(c, ids[54], "] ] [", screen, sizeof(screen));
    tu_con_keys(c, "[", NULL, NULL);
    expect_detail(c, ids[57], "] ] [ [", screen, sizeof(screen));
    tu_con_keys(c, "[", NULL, NULL);
    if (!tu_con_wait(c, "this is the oldest record the filter selects", 10000, screen,
                     sizeof(screen)))
        fail_msg("[ on the filter's oldest record did not say so:\n%s", screen);
    assert_non_null(strstr(screen, ids[57]));
    /* without a filter: every record, past the window both ways */
    tu_con_keys(c, "q", NULL, NULL);
    tu_con_keys(c, "c", NULL, NULL);
    if (!tu_con_wait(c, "60 of 60 records", 10000, screen, sizeof(screen)))
        fail_msg("clearing the filter does not list the 60 records again:\n%s", screen);
    page_to(c, ids[20], screen, sizeof(screen));
    tu_con_keys(c, "Enter", NULL, NULL);
    {
        /* the last row loaded then: past the window (ids 0-9) */
        int k = detail_index(c, ids, 60, screen, sizeof(screen));
        if (k < 20 || k > 58)
            fail_msg("Enter did not open a record past the window (k %d):\n%s", k, screen);
        tu_con_keys(c, "[", NULL, NULL);
        expect_detail(c, ids[k + 1], "[ (no filter)", screen, sizeof(screen));
        tu_con_keys(c, "]", NULL, NULL);
        expect_detail(c, ids[k], "[ ] (no filter)", screen, sizeof(screen));
        tu_con_keys(c, "]", NULL, NULL);
        expect_detail(c, ids[k - 1], "[ ] ] (no filter)", screen, sizeof(screen));
    }
    tu_con_keys(c, "q", "Q", NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    tu_con_free(c);
    free(url);
}

/* The Records screen's queries on postgres run on a worker (issue 19): with
 * the records table locked by another session (every query of it waits),
 * a new filter shows "loading..." and the console still answers keys (the
 * prompt echoes what is typed, the help screen opens and closes); once the
 * lock goes, the filter's answer arrives (the answers for the filter's
 * first letters, asked while it was typed, are dropped). */
static void
test_console_postgres_records_slow(void **state)
{
    struct pgt_group *g = *state;
    struct tu_con *c;
    struct pgt_hold *lock;
    char why[512], *url, args[1200], screen[16384], ids[60][40];

    if (g == NULL || g->skipped)
        skip();
    url = pgt_create_db(g->srv, "console_slow", why, sizeof(why));
    if (url == NULL)
        fail_msg("create database: %s", why);
    c = tu_con_new();
    fill_store_as(c, url, 60, ids, true);
    snprintf(args, sizeof(args), "console --store '%s' --window 10", url);
    tu_con_start(c, "INTENTUS_CONFIG= INTENTUSNET_RECORDS_PATH=", args, 160, 40);
    tu_con_keys(c, "2", NULL, NULL);
    if (!tu_con_wait(c, "60 of 60 records", 15000, screen, sizeof(screen)))
        fail_msg("the Records screen does not list the store's 60 records:\n%s", screen);
    lock =
        pgt_hold(g->srv, "console_slow",
                 "BEGIN; LOCK TABLE intentus_records IN ACCESS EXCLUSIVE MODE", why, sizeof(why));
    if (lock == NULL)
        fail_msg("lock the records table: %s", why);
    tu_con_keys(c, "/", NULL, NULL);
    tu_con_type(c, "intent:demo.other");
    if (!tu_con_wait(c, "filter: intent:demo.other", 5000, screen, sizeof(screen)) ||
        !tu_con_wait(c, "loading...", 5000, screen, sizeof(screen))) {
        pgt_release(lock);
        fail_msg("with the server slow the filter prompt did not echo the filter while its "
                 "page loads:\n%s",
                 screen);
    }
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_keys(c, "?", NULL, NULL);
    if (!tu_con_wait(c, "Records keys", 5000, screen, sizeof(screen))) {
        pgt_release(lock);
        fail_msg("with a page loading the help screen did not open:\n%s", screen);
    }
    tu_con_keys(c, "2", NULL, NULL);
    if (!tu_con_wait(c, "loading...", 5000, screen, sizeof(screen))) {
        pgt_release(lock);
        fail_msg("back on the Records screen it does not say loading:\n%s", screen);
    }
    if (strstr(screen, "20 of 60 records") != NULL) {
        pgt_release(lock);
        fail_msg("the filter's page arrived while the table was locked:\n%s", screen);
    }
    pgt_release(lock);
    if (!tu_con_wait(c, "20 of 60 records", 15000, screen, sizeof(screen)))
        fail_msg("after the lock went the filter's 20 demo.other records did not arrive:\n%s",
                 screen);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    tu_con_free(c);
    free(url);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_console_sqlite),
        cmocka_unit_test(test_console_sqlite_type_ahead),
        cmocka_unit_test(test_console_store_retention),
        cmocka_unit_test(test_console_postgres),
        cmocka_unit_test(test_console_sqlite_window),
        cmocka_unit_test(test_console_sqlite_deletes),
        cmocka_unit_test(test_console_postgres_window_deletes),
        cmocka_unit_test(test_console_postgres_dashboard),
        cmocka_unit_test(test_console_postgres_records),
        cmocka_unit_test(test_console_postgres_detail_steps),
        cmocka_unit_test(test_console_postgres_records_slow),
    };
    return cmocka_run_group_tests(tests, pgt_group_setup, pgt_group_teardown);
}
