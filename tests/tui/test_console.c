/* The real console, driven through tmux: send-keys in, capture-pane out.
 * Each test runs its own tmux server (-L) on a private socket and a copy of
 * the reference records; every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/support/testutil.h"
#include "tests/support/tmux_testutil.h"

static int
setup(void **state)
{
    struct tu_con *c = tu_con_new();
    char cmd[2048];
    struct tu_run r;
    char *argv[] = { "sh", "-c", cmd, NULL };

    snprintf(cmd, sizeof(cmd), "cp %s/reference-records/*.json %s/", tu_data_dir(), c->recs);
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 10000, &r), 0);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    tu_con_free(*state);
    return 0;
}

static void
route(struct tu_con *c, const char *intent)
{
    char *argv[] = { (char *)tu_bin(), "route", (char *)intent, "--dir", c->recs, "-q", NULL };
    struct tu_run r;

    assert_int_equal(tu_run(argv, c->dir, NULL, NULL, 10000, &r), 0);
    tu_run_free(&r);
}

/* `intentus index stats` on the records: its "this run:" line. */
static void
index_run_line(struct tu_con *c, char *out, size_t size)
{
    char *argv[] = { (char *)tu_bin(), "index", "stats", "--dir", c->recs, NULL };
    struct tu_run r;
    const char *line;

    assert_int_equal(tu_run(argv, c->dir, NULL, NULL, 10000, &r), 0);
    if (r.status != 0)
        fail_msg("index stats exited %d: %s", r.status, r.err);
    line = strstr(r.out, "this run:");
    assert_non_null(line);
    snprintf(out, size, "%.*s", (int)strcspn(line, "\n"), line);
    tu_run_free(&r);
}

static void
remove_record(struct tu_con *c, const char *name)
{
    char p[1200];

    snprintf(p, sizeof(p), "%s/%s", c->recs, name);
    assert_int_equal(unlink(p), 0);
}

/* The console starts from the record index and keeps it current: records
 * added, rewritten in place and removed while it runs are on its screen and
 * in the index when it quits (the next command reads no file); changes
 * made while it is closed show when it opens again, with and without the
 * index. */
static void
test_console_keeps_the_index_current(void **state)
{
    struct tu_con *c = *state;
    char line[512], p[1200];

    index_run_line(c, line, sizeof(line)); /* builds the index: 39 files read */
    assert_non_null(strstr(line, "39 files read"));
    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    route(c, "demo.echo");
    route(c, "demo.fail");
    remove_record(c, "03355680-d215-463b-9a23-ed08bfba7708.json");
    snprintf(p, sizeof(p), "%s/07077ed4-f92f-48aa-ab54-c3b248e42c19.json", c->recs);
    assert_int_equal(tu_write_file(p, "{\"cut\": ", 9, 0600), 0); /* in place */
    tu_con_expect(c, "40 records");
    tu_con_expect(c, "demo.fail");
    tu_con_expect(c, "corrupt 1 "); /* after the tailer's retries for a writer still writing */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    index_run_line(c, line, sizeof(line));
    if (strstr(line, "0 files read, 0 rows removed") == NULL)
        fail_msg("the console left the index behind: %s", line);

    /* While closed: one more, one fewer. Each console gets a tmux server
     * of its own (a new-session racing the old server's exit can fail). */
    TU_TMUX(c, NULL, 0, "kill-server");
    strncat(c->sock, "b", sizeof(c->sock) - strlen(c->sock) - 1);
    route(c, "demo.upper");
    remove_record(c, "0c5f5532-832d-4b77-bda5-5e5ccd58e351.json");
    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "40 records");
    tu_con_expect(c, "demo.upper");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    TU_TMUX(c, NULL, 0, "kill-server");
    strncat(c->sock, "c", sizeof(c->sock) - strlen(c->sock) - 1);
    tu_con_start(c, NULL, "--no-index", 120, 40);
    tu_con_expect(c, "40 records");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_dashboard_follows_new_records(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_expect(c, "Live feed");
    tu_con_expect(c, "coordinator"); /* an agent seen only in the reference records */
    route(c, "demo.echo");
    route(c, "demo.fail");
    tu_con_expect(c, "41 records");
    tu_con_expect(c, "echo-a");
    tu_con_expect(c, "demo.fail");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_filter_open_timeline(void **state)
{
    struct tu_con *c = *state;
    char screen[65536];
    const char *recv, *dec, *fin;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "39 of 39 records");
    tu_con_keys(c, "/", "status:error intent:notify.send", "Enter");
    tu_con_expect(c, "filter: status:error intent:notify.send");
    tu_con_capture(c, screen, sizeof(screen));
    assert_null(strstr(screen, "search.web"));
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "Timeline");
    tu_con_expect(c, "(this writer recorded no timing");
    tu_con_capture(c, screen, sizeof(screen));
    /* Events in order: received, attempts, decision, final. */
    recv = strstr(screen, "INTENT_RECEIVED");
    dec = strstr(screen, "decision:");
    fin = strstr(screen, "final response: error");
    assert_non_null(recv);
    assert_non_null(dec);
    assert_non_null(fin);
    assert_true(recv < dec && dec < fin);
    assert_non_null(strstr(screen, "envelopeHash verified"));
    /* Esc goes back to the list with the filter kept. */
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_expect(c, "filter: status:error intent:notify.send");
    tu_con_keys(c, "c", NULL, NULL);
    tu_con_expect(c, "39 of 39 records");
    tu_con_keys(c, "?", NULL, NULL);
    tu_con_expect(c, "Records keys");
    tu_con_expect(c, "filter (intent: agent: status: error: since:)");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_resize_and_too_small(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    TU_TMUX(c, NULL, 0, "resize-window", "-t", "t", "-x", "80", "-y", "24");
    tu_con_expect(c, "1 Dashboard");
    /* At 80 columns the columns that matter most still fit. */
    tu_con_expect(
        c, "AGENT \xe2\x96\xb2          CALLS  FAIL  FAIL%   REJ CIRCUIT       P50     P95 LAST "
           "ERROR");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(
        c, " TIME \xe2\x96\xbc   ID   INTENT             AGENT      STATUS  ERROR             "
           "DURATION");
    tu_con_keys(c, "1", NULL, NULL);
    TU_TMUX(c, NULL, 0, "resize-window", "-t", "t", "-x", "60", "-y", "20");
    tu_con_expect(c, "terminal too small");
    TU_TMUX(c, NULL, 0, "resize-window", "-t", "t", "-x", "120", "-y", "40");
    tu_con_expect(c, "Live feed");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_theme_cycle(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "default");
    tu_con_keys(c, "t", NULL, NULL);
    tu_con_expect(c, "theme: high-contrast");
    tu_con_keys(c, "t", NULL, NULL);
    tu_con_expect(c, "theme: light");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_plain_terminals(void **state)
{
    struct tu_con *c = *state;
    char screen[65536];

    /* 8 colours, no colour at all, and a non-UTF-8 locale (ASCII lines). */
    tu_con_start(c, "TERM=xterm NO_COLOR=1 LANG=C LC_ALL=C", NULL, 100, 30);
    tu_con_expect(c, "39 records");
    tu_con_expect(c, " mono");
    tu_con_capture(c, screen, sizeof(screen));
    assert_non_null(strstr(screen, "-----"));
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "of 39 records");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_sigterm_restores_terminal(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    TU_TMUX(c, NULL, 0, "send-keys", "-t", "t", "C-c");
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* The pid of the console this test started (its --dir is unique). */
static int
console_pid(struct tu_con *c)
{
    char *argv[] = { "pgrep", "-f", c->recs, NULL };
    struct tu_run r;
    int pid = -1;

    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 5000, &r), 0);
    if (r.status == 0)
        pid = atoi(r.out); /* the first: pgrep lists in pid order */
    tu_run_free(&r);
    return pid;
}

/* Found by the pty fuzzer: SIGTERM or ^C while a prompt was open did nothing
 * until the prompt closed (it read keys itself, and the retention editor
 * opens four prompts in a row). */
static void
test_sigterm_during_prompt(void **state)
{
    struct tu_con *c = *state;
    char *argv[] = { "kill", "-TERM", NULL, NULL };
    char pid[32];
    struct tu_run r;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "6", NULL, NULL);
    tu_con_keys(c, "e", NULL, NULL);
    tu_con_expect(c, "older than (e.g. 30d, empty: none):");
    snprintf(pid, sizeof(pid), "%d", console_pid(c));
    argv[2] = pid;
    assert_true(atoi(pid) > 0);
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 5000, &r), 0);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_ctrl_c_during_prompt(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "Fire an intent");
    tu_con_keys(c, "C-n", NULL, NULL);
    tu_con_expect(c, "fire how many times:");
    tu_con_keys(c, "C-c", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_fire_and_open_timeline(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "Fire an intent");
    /* Replace the intent: demo.upper through the embedded demo config. */
    tu_con_keys(c, "C-u", "demo.up", NULL);
    tu_con_keys(c, "Tab", NULL, NULL); /* completes to demo.upper */
    tu_con_expect(c, "intent     demo.upper");
    tu_con_keys(c, "C-r", NULL, NULL);
    tu_con_expect(c, "success from upper-u");
    tu_con_expect(c, "40 records");
    tu_con_keys(c, "C-g", NULL, NULL);
    tu_con_expect(c, "Timeline");
    tu_con_expect(c, "decision: upper-u (direct match)");
    tu_con_expect(c, "HELLO FROM THE CONSOLE");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* The pane's terminal settings, read from outside the console. */
static void
pane_stty(struct tu_con *c, char *out, size_t size)
{
    char tty[256] = "";
    char *argv[] = { "stty", "-a", "-F", tty, NULL };
    struct tu_run r;

    TU_TMUX(c, tty, sizeof(tty), "display-message", "-p", "-t", "t", "#{pane_tty}");
    tty[strcspn(tty, "\n")] = '\0';
    assert_true(tty[0] == '/');
    assert_int_equal(tu_run(argv, NULL, NULL, NULL, 5000, &r), 0);
    assert_int_equal(r.status, 0);
    snprintf(out, size, " %s", r.out);
    tu_run_free(&r);
}

static bool
has_flag(const char *stty, const char *flag)
{
    size_t n = strlen(flag);

    for (const char *p = stty; (p = strstr(p, flag)) != NULL; p += n) {
        if ((p[-1] == ' ' || p[-1] == '\n') && (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
            return true;
    }
    return false;
}

/* Issue 14.9: cbreak() left IXON on, so ^S (save payload) stopped the
 * terminal's output and the console froze. While the console runs, flow
 * control is off; on exit the terminal is exactly as before (stty -g). */
static void
test_ctrl_s_does_not_freeze(void **state)
{
    struct tu_con *c = *state;
    char cmd[6000], st[8192], saved[700], before[700], after[700];
    char *b, *a;

    snprintf(saved, sizeof(saved), "%s/saved.json", c->dir);
    snprintf(before, sizeof(before), "%s/stty.before", c->dir);
    snprintf(after, sizeof(after), "%s/stty.after", c->dir);
    assert_int_equal(TU_TMUX(c, NULL, 0, "new-session", "-d", "-s", "t", "-x", "120", "-y", "40"),
                     0);
    snprintf(cmd, sizeof(cmd),
             "stty -g > %s; env HOME=%s XDG_CONFIG_HOME=%s %s --dir %s; echo CONSOLE-EXITED-$?; "
             "stty -g > %s; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?ixon' | sed "
             "'s/^/FLOW=/'; sleep 30",
             before, c->dir, c->dir, tu_bin(), c->recs, after);
    tu_con_keys(c, cmd, "Enter", NULL);
    tu_con_expect(c, "39 records");
    pane_stty(c, st, sizeof(st));
    assert_true(has_flag(st, "-ixon"));
    assert_true(has_flag(st, "-ixoff"));
    assert_true(has_flag(st, "isig")); /* ^C still quits through SIGINT */
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "Fire an intent");
    tu_con_keys(c, "C-s", NULL, NULL);
    tu_con_expect(c, "save payload to:");
    tu_con_type(c, saved);
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "payload saved to");
    /* The screen keeps updating after ^S: a new record shows up. */
    route(c, "demo.echo");
    tu_con_expect(c, "40 records");
    /* A burst of ^S/^Q does not stop it either. */
    for (int i = 0; i < 20; i++)
        tu_con_keys(c, "C-s", "Escape", "C-q");
    route(c, "demo.echo");
    tu_con_expect(c, "41 records");
    assert_int_equal(tu_count_files(c->dir, ".json"), 1);
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    tu_con_expect(c, "FLOW=ixon");
    b = tu_read_file(before, NULL);
    a = tu_read_file(after, NULL);
    assert_non_null(b);
    assert_non_null(a);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void
test_fire_n_times(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "Fire an intent");
    tu_con_keys(c, "C-n", NULL, NULL);
    tu_con_expect(c, "fire how many times:");
    tu_con_keys(c, "C-u", "25", "Enter");
    tu_con_expect(c, "25 fired in");
    tu_con_expect(c, "64 records");
    tu_con_keys(c, "Escape", NULL, NULL); /* a text field has the focus: Q would be text */
    nanosleep(&(struct timespec){ 0, 200000000L }, NULL); /* not read as Alt-Q */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_redaction_preview(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 140, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_keys(c, "/", NULL, NULL);
    tu_con_type(c, "notify.send status:error");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "filter: notify.send status:error");
    tu_con_keys(c, "x", NULL, NULL);
    tu_con_expect(c, "Redaction preview: record");
    tu_con_keys(c, "n", NULL, NULL);
    tu_con_expect(c, "\"password\": \"[REDACTED]\"");
    tu_con_expect(c, "key:password");
    /* Switch the password rule off: nothing of that record is redacted. */
    tu_con_keys(c, "Space", NULL, NULL);
    tu_con_expect(c, "records what it matches in clear (y/n)"); /* turning a rule off asks first */
    tu_con_keys(c, "y", NULL, NULL);
    tu_con_expect(c, "0 fields redacted");
    tu_con_keys(c, "a", NULL, NULL);
    tu_con_expect(c, "1 field redacted");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Issue 14.7: o with an empty file read past buf_take's unterminated
 * buffer (ASan: heap-buffer-overflow in redact_handle). Now each unusable
 * file is named in a message and the console keeps running. */
static void
test_redact_open_empty_file(void **state)
{
    struct tu_con *c = *state;
    char empty[700], good[700], msg[800];

    snprintf(empty, sizeof(empty), "%s/empty.json", c->dir);
    snprintf(good, sizeof(good), "%s/good.json", c->dir);
    assert_int_equal(tu_write_file(empty, "", 0, 0600), 0);
    assert_int_equal(tu_write_file(good, "{\"password\": \"hunter2\"}\n", 24, 0600), 0);
    tu_con_start(c, NULL, NULL, 160, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "5", NULL, NULL);
    tu_con_expect(c, "Redaction preview");
    tu_con_keys(c, "o", NULL, NULL);
    tu_con_expect(c, "open JSON file:");
    tu_con_type(c, empty);
    tu_con_keys(c, "Enter", NULL, NULL);
    snprintf(msg, sizeof(msg), "%s: empty file, nothing to redact", empty);
    tu_con_expect(c, msg);
    /* A directory is refused with the reason, not read as empty input. */
    tu_con_keys(c, "o", NULL, NULL);
    tu_con_expect(c, "open JSON file:");
    tu_con_type(c, c->dir);
    tu_con_keys(c, "Enter", NULL, NULL);
    snprintf(msg, sizeof(msg), "%s is not a regular file (a directory)", c->dir);
    tu_con_expect(c, msg);
    /* The console still works: a real file opens and is redacted. */
    tu_con_keys(c, "o", NULL, NULL);
    tu_con_expect(c, "open JSON file:");
    tu_con_type(c, good);
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "\"password\": \"[REDACTED]\"");
    tu_con_expect(c, "1 field redacted");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_retention_dry_run_and_apply(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 140, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "6", NULL, NULL);
    tu_con_expect(c, "Retention for this run");
    tu_con_keys(c, "n", NULL, NULL);
    tu_con_expect(c, "Dry run: would remove");
    tu_con_expect(c, "3 records"); /* the three 2025 records are older than 30 days */
    assert_int_equal(tu_count_files(c->recs, ".json"), 39);
    /* A wrong confirmation changes nothing. */
    tu_con_keys(c, "x", NULL, NULL);
    tu_con_expect(c, "type 'delete' to delete 3 records");
    tu_con_type(c, "yes");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "retention not applied");
    assert_int_equal(tu_count_files(c->recs, ".json"), 39);
    tu_con_keys(c, "x", NULL, NULL);
    tu_con_expect(c, "type 'delete' to delete 3 records");
    tu_con_type(c, "delete");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "Last run: removed");
    tu_con_expect(c, "36 records"); /* the watcher saw the removals */
    assert_int_equal(tu_count_files(c->recs, ".json"), 36);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_fire_each_strategy(void **state)
{
    struct tu_con *c = *state;
    const char *want[] = { "strategy direct", "strategy fallback", "strategy broadcast" };

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "Fire an intent");
    tu_con_keys(c, "Tab", NULL, NULL); /* to the strategy field */
    for (int i = 0; i < 3; i++) {
        char n[32];
        if (i > 0)
            tu_con_keys(c, "Right", NULL, NULL);
        tu_con_keys(c, "C-r", NULL, NULL);
        tu_con_expect(c, "success from");
        snprintf(n, sizeof(n), "%d records", 40 + i);
        tu_con_expect(c, n);
        tu_con_keys(c, "C-g", NULL, NULL);
        tu_con_expect(c, want[i]);
        tu_con_expect(c, "final response: success");
        tu_con_keys(c, "Escape", NULL, NULL);
        tu_con_expect(c, "Fire an intent");
    }
    /* parallel: the demo requires determinism, so the router refuses it. */
    tu_con_keys(c, "Right", NULL, NULL);
    tu_con_keys(c, "C-r", NULL, NULL);
    tu_con_expect(c, "error from router");
    tu_con_expect(c, "VALIDATION_ERROR");
    /* The records screen lists what was fired, newest first. */
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_keys(c, "/", NULL, NULL);
    tu_con_type(c, "intent:demo.echo");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "4 of 43 records");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_invalid_payload_cannot_be_fired(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "valid JSON object");
    for (int i = 0; i < 7; i++)
        tu_con_keys(c, "Tab", NULL, NULL); /* to the payload editor */
    tu_con_keys(c, "End", NULL, NULL);
    tu_con_type(c, ",");
    tu_con_expect(c, "line 3, column");
    tu_con_keys(c, "C-r", NULL, NULL);
    tu_con_expect(c, "payload: line 3, column");
    assert_int_equal(tu_count_files(c->recs, ".json"), 39);
    tu_con_keys(c, "BSpace", NULL, NULL);
    tu_con_expect(c, "valid JSON object");
    tu_con_keys(c, "Escape", NULL, NULL); /* a text field has the focus: Q would be text */
    nanosleep(&(struct timespec){ 0, 200000000L }, NULL); /* not read as Alt-Q */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_responsive_while_agent_is_slow(void **state)
{
    struct tu_con *c = *state;
    char cfg[700], env[800];
    const char *text = "{\"agents\": [{\"name\": \"sloth\", \"builtin\": \"slow\","
                       " \"delay_ms\": 2500, \"intents\": [\"t.slow\"]}]}";

    snprintf(cfg, sizeof(cfg), "%s/slow.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(env, sizeof(env), "INTENTUS_CONFIG=%s", cfg);
    tu_con_start(c, env, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_keys(c, "C-u", NULL, NULL);
    tu_con_type(c, "t.slow");
    tu_con_keys(c, "C-r", NULL, NULL);
    tu_con_expect(c, "firing...");
    /* While the agent sleeps, keys are answered and screens redrawn. */
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "of 39 records");
    tu_con_keys(c, "?", NULL, NULL);
    tu_con_expect(c, "Records keys");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "success from sloth");
    tu_con_keys(c, "Escape", NULL, NULL); /* a text field has the focus: Q would be text */
    nanosleep(&(struct timespec){ 0, 200000000L }, NULL); /* not read as Alt-Q */
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* A WAL left unfinished by a killed writer shows on the dashboard and the
 * records screen; an execution in flight in the console is counted; the
 * detail screen shows a finished execution's WAL entries, verified. */
static void
test_wal_incomplete_and_inflight(void **state)
{
    struct tu_con *c = *state;
    char cfg[700], env[800], text[2400], wal[640];
    char *route_slow[] = { (char *)tu_bin(), "route", "t.slow", "-q", NULL };
    char *route_echo[] = { (char *)tu_bin(), "route", "t.echo", "-q", NULL };
    char *envv[] = { env, NULL };
    struct tu_run r;

    snprintf(wal, sizeof(wal), "%s/wal", c->dir);
    snprintf(text, sizeof(text),
             "{\"wal\": {\"enabled\": true, \"dir\": \"%s\"},"
             " \"recording\": {\"dir\": \"%s\"},"
             " \"agents\": [{\"name\": \"sloth\", \"builtin\": \"slow\","
             " \"delay_ms\": 3000, \"intents\": [\"t.slow\"]},"
             " {\"name\": \"echo\", \"builtin\": \"echo\", \"intents\": [\"t.echo\"]}]}",
             wal, c->recs);
    snprintf(cfg, sizeof(cfg), "%s/wal.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(env, sizeof(env), "INTENTUS_CONFIG=%s", cfg);
    /* A writer killed mid-execution: tu_run's timeout SIGKILLs it at 500 ms. */
    assert_int_equal(tu_run(route_slow, c->dir, NULL, envv, 500, &r), 0);
    assert_int_equal(r.status, 128 + 9);
    tu_run_free(&r);
    assert_int_equal(tu_run(route_echo, c->dir, NULL, envv, 10000, &r), 0);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    tu_con_start(c, env, NULL, 140, 40);
    tu_con_expect(c, "40 records");
    tu_con_expect(c, "incomplete 1");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "WAL: 1 incomplete:");
    tu_con_keys(c, "Enter", NULL, NULL); /* the newest record: the echo execution */
    tu_con_expect(c, "chain verified: 4 entries, state completed");
    tu_con_expect(c, "record and WAL agree");
    /* Fire the slow intent from the console: it is in flight meanwhile. */
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_keys(c, "C-u", NULL, NULL);
    tu_con_type(c, "t.slow");
    tu_con_keys(c, "C-r", NULL, NULL);
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, "1", NULL, NULL);
    tu_con_expect(c, "in flight 1");
    tu_con_expect(c, "in flight 0");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* A FIFO in place of a record's WAL: the console starts (its incomplete
 * scan lists the log as unreadable) and the record's detail says the file
 * is not a regular file, instead of freezing in open(2). */
static void
test_wal_fifo_does_not_freeze(void **state)
{
    struct tu_con *c = *state;
    char cfg[700], env[800], text[2400], wal[640], path[900], id[64];
    char *route_echo[] = { (char *)tu_bin(), "route", "t.echo", NULL };
    char *envv[] = { env, NULL };
    struct tu_run r;
    const char *p;

    snprintf(wal, sizeof(wal), "%s/wal", c->dir);
    snprintf(
        text, sizeof(text),
        "{\"wal\": {\"enabled\": true, \"dir\": \"%s\"}, \"recording\": {\"dir\": \"%s\"},"
        " \"agents\": [{\"name\": \"echo\", \"builtin\": \"echo\", \"intents\": [\"t.echo\"]}]}",
        wal, c->recs);
    snprintf(cfg, sizeof(cfg), "%s/wal.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(env, sizeof(env), "INTENTUS_CONFIG=%s", cfg);
    assert_int_equal(tu_run(route_echo, c->dir, NULL, envv, 10000, &r), 0);
    assert_int_equal(r.status, 0);
    p = strstr(r.err, "execution ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "execution %63s", id), 1);
    tu_run_free(&r);
    snprintf(path, sizeof(path), "%s/%s.wal", wal, id);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    tu_con_start(c, env, NULL, 160, 40);
    tu_con_expect(c, "40 records");
    tu_con_expect(c, "incomplete 1"); /* the scan lists the unreadable log */
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "WAL: 1 incomplete:");
    tu_con_keys(c, "Enter", NULL, NULL); /* the newest record: the echo execution */
    tu_con_expect(c, "is not a regular file (a FIFO)");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_mark_and_diff(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 140, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_keys(c, "D", NULL, NULL);
    tu_con_expect(c, "mark two records with m first");
    tu_con_keys(c, "/", NULL, NULL);
    tu_con_type(c, "notify.send");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_keys(c, "m", "m", NULL);
    tu_con_expect(c, "2 records marked (D diffs them)");
    tu_con_keys(c, "D", NULL, NULL);
    tu_con_expect(c, "Diff  A ");
    tu_con_expect(c, "(left: A, right: B)");
    tu_con_expect(c, "changed input/payload");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_expect(c, "filter: notify.send");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

static void
test_read_only_refuses_actions(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, "--read-only", 120, 40);
    tu_con_expect(c, "READ-ONLY  inotify"); /* in the header from the start (issue 18 P2.4) */
    tu_con_keys(c, "r", NULL, NULL);
    tu_con_expect(c, "read-only console: agent actions are disabled");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_keys(c, "C-r", NULL, NULL);
    tu_con_expect(c, "read-only console: firing intents is disabled");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, "6", NULL, NULL);
    tu_con_keys(c, "n", NULL, NULL);
    tu_con_expect(c, "Dry run: would remove");
    tu_con_keys(c, "x", NULL, NULL);
    tu_con_expect(c, "read-only console: retention is disabled");
    assert_int_equal(tu_count_files(c->recs, ".json"), 39);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* A dropped terminal (ssh gone, tmux killed) ends the console: it must not
 * mistake the hangup's SIGHUP for "reload" and spin on a dead tty. */
static void
test_exits_when_terminal_goes_away(void **state)
{
    struct tu_con *c = *state;
    char *argv[] = { "pgrep", "-f", c->recs, NULL };
    struct tu_run r;
    int alive = 1;

    tu_con_start(c, NULL, NULL, 100, 30);
    tu_con_expect(c, "39 records");
    TU_TMUX(c, NULL, 0, "kill-server");
    for (int i = 0; i < 50 && alive; i++) {
        struct timespec ts = { 0, 100 * 1000000L };
        assert_int_equal(tu_run(argv, NULL, NULL, NULL, 5000, &r), 0);
        alive = r.status == 0;
        tu_run_free(&r);
        if (alive)
            nanosleep(&ts, NULL);
    }
    assert_false(alive);
}

/* The failure view of an agent whose failures were all retried or fallen
 * back from (every execution succeeded overall) lists them, by code. */
static void
test_failure_view_counts_failed_attempts(void **state)
{
    struct tu_con *c = *state;
    char cfg[700], env[800], cmd[1400];
    const char *text =
        "{\"agents\": ["
        " {\"name\":\"aa-flaky\",\"builtin\":\"fail\",\"error_code\":\"AGENT_UNAVAILABLE\","
        "  \"retryable\":true,\"idempotent\":true,"
        "  \"retry\":{\"max_attempts\":2,\"base_ms\":1,\"max_ms\":2},"
        "  \"intents\":[\"t.good\"],\"nodePriority\":1},"
        " {\"name\":\"zz-ok\",\"builtin\":\"echo\",\"intents\":[\"t.good\"],\"nodePriority\":2}]}";
    char *rm[] = { "sh", "-c", cmd, NULL };
    struct tu_run r;

    snprintf(cfg, sizeof(cfg), "%s/fv.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(cmd, sizeof(cmd), "rm -f %s/*.json", c->recs);
    assert_int_equal(tu_run(rm, NULL, NULL, NULL, 10000, &r), 0);
    tu_run_free(&r);
    for (int i = 0; i < 2; i++) {
        char *argv[] = { (char *)tu_bin(), "route", "t.good", "-c", cfg, "--strategy",
                         "fallback",       "--dir", c->recs,  "-q", NULL };
        assert_int_equal(tu_run(argv, c->dir, NULL, NULL, 10000, &r), 0);
        assert_int_equal(r.status, 0);
        tu_run_free(&r);
    }
    snprintf(env, sizeof(env), "INTENTUS_CONFIG=%s", cfg);
    tu_con_start(c, env, NULL, 120, 40);
    tu_con_expect(c, "2 records");
    tu_con_expect(c, "aa-flaky");
    tu_con_keys(c, "g", NULL, NULL); /* the first agent: aa-flaky */
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "Recent failed attempts of aa-flaky");
    tu_con_expect(c, "AGENT_UNAVAILABLE");
    {
        static char screen[65536];
        tu_con_capture(c, screen, sizeof(screen));
        assert_null(strstr(screen, "no failures recorded"));
    }
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* The compliance mode is in the header; a regulated config that lacks its
 * requirements never starts the console (exit 2, every one named). */
static void
test_compliance_mode_in_header(void **state)
{
    struct tu_con *c = *state;
    char cfg[700], env[800], text[1024];

    snprintf(text, sizeof(text),
             "{\"compliance\": {\"mode\": \"Development\"}, \"require_determinism\": false,"
             " \"recording\": {\"dir\": \"%s\"}}",
             c->recs);
    snprintf(cfg, sizeof(cfg), "%s/dev.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(env, sizeof(env), "INTENTUS_CONFIG=%s", cfg);
    tu_con_start(c, env, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_expect(c, "DEVELOPMENT");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
    TU_TMUX(c, NULL, 0, "kill-server");

    snprintf(text, sizeof(text),
             "{\"compliance\": {\"mode\": \"regulated\"}, \"recording\": {\"dir\": \"%s\"}}",
             c->recs);
    snprintf(cfg, sizeof(cfg), "%s/reg.json", c->dir);
    assert_int_equal(tu_write_file(cfg, text, strlen(text), 0600), 0);
    snprintf(env, sizeof(env), "INTENTUS_CONFIG=%s", cfg);
    tu_con_start(c, env, NULL, 200, 40);
    tu_con_expect(c, "CONSOLE-EXITED-2");
    tu_con_expect(c, "compliance mode regulated requires: wal.enabled true; wal.signing_key;");
}

/* Issue 18 P1.1: a prompt is an input mode of the loop, not a loop of its
 * own: with the filter prompt open, new records still arrive on screen and
 * a resize redraws (the nested getch loop handled neither until Esc). */
static void
test_prompt_is_a_mode_of_the_loop(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_keys(c, "/", NULL, NULL);
    tu_con_expect(c, "filter: ");
    tu_con_type(c, "demo");
    route(c, "demo.echo");
    tu_con_expect(c, "40 records"); /* the tailer's event, handled with the prompt open */
    tu_con_expect(c, "filter: demo");
    TU_TMUX(c, NULL, 0, "resize-window", "-t", "t", "-x", "60", "-y", "20");
    tu_con_expect(c, "terminal too small"); /* the resize, drawn with the prompt open */
    TU_TMUX(c, NULL, 0, "resize-window", "-t", "t", "-x", "120", "-y", "40");
    tu_con_expect(c, "filter: demo");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Issue 18 P1.1: editing retention is one form with its four fields on
 * screen at once; Tab moves between them, Enter on the last applies. */
static void
test_retention_policy_is_one_form(void **state)
{
    struct tu_con *c = *state;
    static char screen[65536];

    tu_con_start(c, NULL, NULL, 140, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "6", NULL, NULL);
    tu_con_expect(c, "Retention for this run");
    tu_con_keys(c, "e", NULL, NULL);
    tu_con_expect(c, "older than (e.g. 30d, empty: none):");
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "max count (empty: none):") == NULL ||
        strstr(screen, "archive dir (empty: delete):") == NULL)
        fail_msg("the retention fields are not one form:\n%s", screen);
    tu_con_keys(c, "C-u", NULL, NULL); /* the field starts with the default, 30d */
    tu_con_type(c, "45d");
    tu_con_keys(c, "Tab", NULL, NULL);
    tu_con_type(c, "5");
    tu_con_keys(c, "Tab", NULL, NULL);
    tu_con_keys(c, "Tab", NULL, NULL);
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "older than 45d         max count 5");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Issue 18 P2.5: ':' opens a command line; its letters never reach other
 * keys (":records" reset a circuit and disabled an agent); Tab completes,
 * Up recalls, unknown commands are named. */
static void
test_command_mode(void **state)
{
    struct tu_con *c = *state;
    static char screen[65536];

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, "records");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "of 39 records  sort: time");
    tu_con_capture(c, screen, sizeof(screen));
    if (strstr(screen, "reset") != NULL || strstr(screen, "disabled") != NULL)
        fail_msg("letters of ':records' reached other keys:\n%s", screen);
    tu_con_keys(c, "1", NULL, NULL);
    tu_con_expect(c, "AGENT");
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, "rec");
    tu_con_keys(c, "Tab", NULL, NULL);
    tu_con_expect(c, ":records");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, "filter status:error");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "filter: status:error");
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_keys(c, "Up", NULL, NULL);
    tu_con_expect(c, ":filter status:error");
    tu_con_keys(c, "C-u", NULL, NULL);
    tu_con_type(c, "theme mono");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "theme: mono");
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, "bogus");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "unknown command ':bogus'");
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, "fire demo.echo");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "Fire an intent");
    tu_con_expect(c, "demo.echo");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, "q");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Issue 18 P2.4: r and d ask first (k9s); n cancels, y does it (read-only
 * in the header: test_read_only_refuses_actions). */
static void
test_state_changing_keys_ask_first(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "r", NULL, NULL);
    tu_con_expect(c, "to CLOSED? (y/n)");
    tu_con_keys(c, "n", NULL, NULL);
    tu_con_expect(c, "cancelled");
    tu_con_keys(c, "d", NULL, NULL);
    tu_con_expect(c, "(skipped by every route until enabled)? (y/n)");
    tu_con_keys(c, "y", NULL, NULL);
    tu_con_expect(c, "disabled until the console restarts");
    tu_con_keys(c, "d", NULL, NULL); /* enabling again asks nothing */
    tu_con_expect(c, "enabled until the console restarts");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Issue 18 P1.3: the focused text field comes first: q, ? and digits typed
 * in the Fire intent field are text, not back, help or screens. */
static void
test_text_field_takes_keys_first(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "f", NULL, NULL);
    tu_con_expect(c, "Fire an intent");
    tu_con_keys(c, "C-u", NULL, NULL);
    tu_con_type(c, "demo.eq?1");
    tu_con_expect(c, "demo.eq?1");
    tu_con_expect(c, "Fire an intent"); /* still here: q was not back, ? not help */
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_expect(c, "AGENT");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Issue 18 P2.7: Esc and q are the same key on every screen (back); on the
 * dashboard q quits and Esc stays. The message log keeps full texts. */
static void
test_esc_and_q_go_back_and_message_log(void **state)
{
    struct tu_con *c = *state;
    char cmd[400];

    tu_con_start(c, NULL, NULL, 80, 24);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "of 39 records  sort: time");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_expect(c, "AGENT");
    tu_con_keys(c, "2", NULL, NULL);
    tu_con_expect(c, "of 39 records  sort: time");
    tu_con_keys(c, "q", NULL, NULL); /* back, not quit, from Records */
    tu_con_expect(c, "AGENT");
    /* On a filtered list Esc clears the filter first, then goes back. */
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, "filter status:error");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "filter: status:error");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_expect(c, "filter cleared");
    tu_con_expect(c, "filter: (none");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_expect(c, "AGENT");
    tu_con_keys(c, "Escape", NULL, NULL); /* the dashboard: Esc never quits */
    tu_con_keys(c, "6", NULL, NULL);
    tu_con_expect(c, "Retention");
    tu_con_keys(c, "q", NULL, NULL);
    tu_con_expect(c, "AGENT");
    /* A message longer than the status line: all of it in :messages. */
    snprintf(cmd, sizeof(cmd), "bogus-%s-END", "abcdefghijklmnopqrstuvwxyz0123456789abcdef");
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, cmd);
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "unknown command");
    tu_con_keys(c, ":", NULL, NULL);
    tu_con_type(c, "messages");
    tu_con_keys(c, "Enter", NULL, NULL);
    tu_con_expect(c, "Messages (newest first");
    tu_con_expect(c, ":q"); /* the end of the list of commands, cut on the status line */
    tu_con_expect(c, "-END'");
    tu_con_keys(c, "q", NULL, NULL);
    tu_con_expect(c, "AGENT");
    tu_con_keys(c, "q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

/* Issue 18 P1.3: Redact and Retention declare their keys in the table, so
 * help lists them and the hint bar is generated from them. */
static void
test_help_lists_redact_and_retention_keys(void **state)
{
    struct tu_con *c = *state;

    tu_con_start(c, NULL, NULL, 120, 40);
    tu_con_expect(c, "39 records");
    tu_con_keys(c, "5", NULL, NULL);
    tu_con_expect(c, "Space rule on/off");
    tu_con_keys(c, "?", NULL, NULL);
    tu_con_expect(c, "turn the selected rule off / on (asks first)");
    tu_con_expect(c, "open a JSON file to preview its redaction");
    tu_con_keys(c, "Escape", NULL, NULL);
    tu_con_keys(c, "6", NULL, NULL);
    tu_con_expect(c, "e edit  n dry run  x apply  c cancel");
    tu_con_keys(c, "?", NULL, NULL);
    tu_con_expect(c, "edit the policy for this run (one form)");
    tu_con_expect(c, "cancel the running apply");
    tu_con_keys(c, "Q", NULL, NULL);
    tu_con_expect(c, "CONSOLE-EXITED-0");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dashboard_follows_new_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_keeps_the_index_current, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_view_counts_failed_attempts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_open_timeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resize_and_too_small, setup, teardown),
        cmocka_unit_test_setup_teardown(test_theme_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_terminals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_restores_terminal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_during_prompt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_c_during_prompt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exits_when_terminal_goes_away, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fire_and_open_timeline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fire_n_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctrl_s_does_not_freeze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_refuses_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redaction_preview, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redact_open_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_dry_run_and_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fire_each_strategy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_payload_cannot_be_fired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_responsive_while_agent_is_slow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_incomplete_and_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_fifo_does_not_freeze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_and_diff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compliance_mode_in_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prompt_is_a_mode_of_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_policy_is_one_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_changing_keys_ask_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_field_takes_keys_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_esc_and_q_go_back_and_message_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help_lists_redact_and_retention_keys, setup, teardown),
    };
    /* TEST_FILTER=test_name (a glob) runs only the matching tests. */
    if (getenv("TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
