/* Crash safety of the record store: a child process routes and records as
 * fast as it can and is SIGKILLed at a seeded random moment; then, every
 * time, the directory must hold only whole records:
 *  - every visible file is <executionId>.json, parses (record_parse) and
 *    verifies (record_verify_hash), and its id is its name;
 *  - no temp file is visible (the writer's temp files are hidden, '.'-named,
 *    and may be left behind by the kill; listers skip them);
 *  - acked <= records <= acked + 1, where acked is the number of executions
 *    the child reported (router_route returned recorded=true) before it died.
 *
 * The exact bound: the child routes one execution at a time and reports each
 * one after router_route has returned, i.e. after the rename. So every acked
 * record is in place (>= acked), and at most one more execution was in flight
 * when the kill came; its record may have been renamed into place before the
 * report was written (<= acked + 1). This holds with fsync on and off alike:
 * SIGKILL ends the process, not the kernel, so the page cache survives and
 * what fsync adds (surviving a power cut or a kernel crash) cannot show here;
 * the fsync variant checks that the extra fsync calls open no new window.
 *
 * While the child runs, the parent also scans the directory once, so records
 * are checked as a concurrent reader sees them, not only after the kill. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/record.h"
#include "core/recovery.h"
#include "core/router.h"
#include "core/wal.h"
#include "core/writer.h"
#include "tests/support/testutil.h"

#define ROUNDS 20
#define CHILD_MAX_MS 3000 /* the child stops by itself if nobody kills it */

static const char cfg_text[] =
    "{\"agents\": ["
    " {\"name\":\"echo-a\",\"builtin\":\"echo\",\"intents\":[\"c.echo\"],\"nodePriority\":1},"
    " {\"name\":\"fail-b\",\"builtin\":\"fail\",\"intents\":[\"c.fb\"],\"nodePriority\":1},"
    " {\"name\":\"echo-c\",\"builtin\":\"echo\",\"intents\":[\"c.fb\"],\"nodePriority\":2}]}";

static uint64_t
rng_next(uint64_t *s)
{
    /* xorshift64*: small, seedable, the same everywhere. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A payload of a seeded size (0 to ~24 KiB), so records span several pages. */
static cJSON *
payload_of(uint64_t *rng)
{
    size_t n = (size_t)(rng_next(rng) % 24000);
    char *text = malloc(n + 1);
    cJSON *p = cJSON_CreateObject();

    memset(text, 'a' + (int)(n % 26), n);
    text[n] = '\0';
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddNumberToObject(p, "n", (double)n);
    free(text);
    return p;
}

/* The writer: never returns. Reports 0 when ready, then the running count of
 * acknowledged executions after each one. */
static void
child_main(const char *dir, bool fsync_on, int ack_fd, uint64_t seed)
{
    struct intentus_err err = { 0 };
    struct config *cfg = config_parse(cfg_text, strlen(cfg_text), "crash-test", &err);
    struct rec_store *store;
    struct router *router;
    uint64_t acked = 0, rng = seed | 1;
    int64_t start = now_ms(), max_ms = CHILD_MAX_MS;
    const char *vg = getenv("VALGRIND");

    if (vg != NULL && vg[0] != '\0')
        max_ms *= 20; /* valgrind: far slower; the kill still comes first */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    store = rec_store_open(dir, &(struct rec_store_opts){ .fsync = fsync_on }, &err);
    router = cfg != NULL && store != NULL
                 ? router_new(cfg->registry, &(struct router_opts){ .store = store }, &err)
                 : NULL;
    if (router == NULL) {
        fprintf(stderr, "child: %s\n", err.msg);
        _exit(3);
    }
    if (write_all(ack_fd, &acked, sizeof(acked)) != 0)
        _exit(4);
    while (now_ms() - start < max_ms) {
        bool fb = rng_next(&rng) % 3 == 0;
        struct envelope_opts o = { .priority = PRIORITY_NORMAL,
                                   .strategy = fb ? STRATEGY_FALLBACK : STRATEGY_DIRECT };
        cJSON *env = envelope_new(fb ? "c.fb" : "c.echo", payload_of(&rng), &o, &err);
        struct route_result res;
        if (env == NULL || router_route(router, env, &res) != 0)
            _exit(5);
        if (res.recorded)
            acked++;
        else
            _exit(6); /* sync recording into a good directory never fails */
        route_result_free(&res);
        cJSON_Delete(env);
        if (write_all(ack_fd, &acked, sizeof(acked)) != 0)
            _exit(4);
    }
    _exit(0);
}

/* Reads 8-byte counters from the pipe, keeping the last whole one. */
struct acks {
    int fd;
    unsigned char part[8];
    size_t have;
    uint64_t last;
    bool seen, eof;
};

static void
acks_read(struct acks *a, int timeout_ms)
{
    struct pollfd p = { .fd = a->fd, .events = POLLIN };
    unsigned char buf[4096];
    ssize_t n;

    if (a->eof || poll(&p, 1, timeout_ms) <= 0)
        return;
    n = read(a->fd, buf, sizeof(buf));
    if (n <= 0) {
        a->eof = n == 0 || errno != EINTR;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        a->part[a->have++] = buf[i];
        if (a->have == 8) {
            memcpy(&a->last, a->part, 8);
            a->have = 0;
            a->seen = true;
        }
    }
}

struct scan {
    int records;
    int hidden;
};

/* Check every file of dir as a reader would see it. */
static void
scan_dir(const char *dir, struct scan *out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[1024];

    assert_non_null(d);
    memset(out, 0, sizeof(*out));
    while ((de = readdir(d)) != NULL) {
        struct intentus_err err = { 0 };
        size_t len, nlen = strlen(de->d_name);
        char *text;
        cJSON *rec;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (de->d_name[0] == '.') {
            /* The writer's temp file, hidden until renamed. */
            if (nlen < 4 || strcmp(de->d_name + nlen - 4, ".tmp") != 0)
                fail_msg("unexpected hidden file %s", de->d_name);
            out->hidden++;
            continue;
        }
        if (nlen <= 5 || strcmp(de->d_name + nlen - 5, ".json") != 0)
            fail_msg("visible file that is not a record: %s", de->d_name);
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        text = tu_read_file(path, &len);
        if (text == NULL) {
            if (errno == ENOENT)
                continue;
            fail_msg("cannot read %s", path);
        }
        rec = record_parse(text, len, &err);
        if (rec == NULL)
            fail_msg("%s does not parse (%zu bytes): %s", de->d_name, len, err.msg);
        if (record_verify_hash(rec, &err) != 0)
            fail_msg("%s does not verify: %s", de->d_name, err.msg);
        if (strncmp(record_id(rec), de->d_name, nlen - 5) != 0 ||
            strlen(record_id(rec)) != nlen - 5)
            fail_msg("%s holds execution %s", de->d_name, record_id(rec));
        cJSON_Delete(rec);
        free(text);
        out->records++;
    }
    closedir(d);
}

struct totals {
    uint64_t acked, records, extra, hidden, mid_scans;
};

static void
one_round(bool fsync_on, uint64_t *rng, struct totals *t)
{
    char *dir = tu_mkdtemp();
    int fds[2], status = 0;
    struct acks a = { 0 };
    struct scan s, mid;
    struct rec_ids ids = { 0 };
    struct intentus_err err = { 0 };
    struct rec_store *rs;
    int64_t delay = 10 + (int64_t)(rng_next(rng) % 71), deadline, t0;
    const char *vg = getenv("VALGRIND");

    /* Under `make valgrind` the child runs ~50x slower: give it time to
     * acknowledge executions before the kill, or the test proves nothing. */
    if (vg != NULL && vg[0] != '\0')
        delay *= 10;
    uint64_t child_seed = rng_next(rng);
    bool mid_done = false;
    pid_t pid;

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_main(dir, fsync_on, fds[1], child_seed);
    }
    close(fds[1]);
    a.fd = fds[0];
    /* The delay counts from the moment the child is ready to route. */
    t0 = now_ms();
    while (!a.seen && !a.eof && now_ms() - t0 < 5000)
        acks_read(&a, 100);
    if (!a.seen)
        fail_msg("the writer never became ready");
    deadline = now_ms() + delay;
    while (now_ms() < deadline && !a.eof) {
        acks_read(&a, 1);
        if (!mid_done && now_ms() >= deadline - delay / 2) {
            scan_dir(dir, &mid); /* a reader racing the writer */
            mid_done = true;
        }
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    while (!a.eof)
        acks_read(&a, 1000); /* what was written before the kill is still in the pipe */
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(fds[0]);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the writer ended by itself (status %d) before the kill", status);

    scan_dir(dir, &s);
    if ((uint64_t)s.records < a.last || (uint64_t)s.records > a.last + 1)
        fail_msg("fsync %s, killed after %lld ms: %d records for %llu acknowledged executions",
                 fsync_on ? "on" : "off", (long long)delay, s.records, (unsigned long long)a.last);
    /* The store's own listing agrees and never lists a temp file. */
    rs = rec_store_open(dir, NULL, &err);
    assert_non_null(rs);
    assert_int_equal(rec_store_list(rs, &ids, &err), 0);
    assert_int_equal((int)ids.n, s.records);
    for (size_t i = 0; i < ids.n; i++)
        assert_true(ids.ids[i][0] != '.');
    rec_store_ids_free(&ids);
    rec_store_close(rs);

    t->acked += a.last;
    t->records += (uint64_t)s.records;
    t->extra += (uint64_t)s.records - a.last;
    t->hidden += (uint64_t)s.hidden;
    t->mid_scans += mid_done;
    tu_rmtree(dir);
    free(dir);
}

static void
run_variant(bool fsync_on, uint64_t seed)
{
    struct totals t = { 0 };
    uint64_t rng = seed;

    for (int i = 0; i < ROUNDS; i++)
        one_round(fsync_on, &rng, &t);
    /* Shown in the test log: how much each variant actually exercised. */
    fprintf(stderr,
            "# crash safety, fsync %s: %d kills, %llu acknowledged, %llu records "
            "(%llu renamed before their ack), %llu temp files left hidden\n",
            fsync_on ? "on" : "off", ROUNDS, (unsigned long long)t.acked,
            (unsigned long long)t.records, (unsigned long long)t.extra,
            (unsigned long long)t.hidden);
    assert_true(t.acked > 0);
}

static void
test_kill_during_recording_fsync_off(void **state)
{
    (void)state;
    run_variant(false, 0x5eed0001ULL);
}

static void
test_kill_during_recording_fsync_on(void **state)
{
    (void)state;
    run_variant(true, 0x5eed0002ULL);
}

/* ---- the WAL beside the records (issue 13.7) ----
 *
 * The router saves the record, then appends the WAL's terminal entry; a
 * kill between the two leaves a record whose log ends in_progress (or torn
 * in the middle of execution.completed). Recovery must take the record as
 * completion: such an execution is never offered for a resume, and resume
 * refuses it. And the other way round, a log that says completed always has
 * its record. Records and WAL both fsync'd, as in the issue. */

static void
wal_child_main(const char *dir, int ready_fd)
{
    struct intentus_err err = { 0 };
    struct config *cfg = config_parse(cfg_text, strlen(cfg_text), "crash-wal", &err);
    char recdir[1024], waldir[1024];
    struct rec_store *store;
    struct wal *w;
    struct router *router;
    uint64_t zero = 0, rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    int64_t start = now_ms(), max_ms = CHILD_MAX_MS;
    const char *vg = getenv("VALGRIND");

    if (vg != NULL && vg[0] != '\0')
        max_ms *= 20;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    snprintf(recdir, sizeof(recdir), "%s/rec", dir);
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    store = rec_store_open(recdir, &(struct rec_store_opts){ .create = true, .fsync = true }, &err);
    w = wal_open(waldir, &(struct wal_opts){ .durability = WAL_PER_ENTRY, .create = true }, &err);
    router =
        cfg != NULL && store != NULL && w != NULL
            ? router_new(cfg->registry, &(struct router_opts){ .store = store, .wal = w }, &err)
            : NULL;
    if (router == NULL) {
        fprintf(stderr, "child: %s\n", err.msg);
        _exit(3);
    }
    if (write_all(ready_fd, &zero, sizeof(zero)) != 0)
        _exit(4);
    while (now_ms() - start < max_ms) {
        bool fb = rng_next(&rng) % 3 == 0;
        struct envelope_opts o = { .priority = PRIORITY_NORMAL,
                                   .strategy = fb ? STRATEGY_FALLBACK : STRATEGY_DIRECT };
        cJSON *env = envelope_new(fb ? "c.fb" : "c.echo", cJSON_CreateObject(), &o, &err);
        struct route_result res;
        if (env == NULL || router_route(router, env, &res) != 0)
            _exit(5);
        if (!res.recorded || res.wal_failed)
            _exit(6);
        route_result_free(&res);
        cJSON_Delete(env);
    }
    _exit(0);
}

struct wal_totals {
    uint64_t logs, window, in_flight;
};

static void
wal_round(uint64_t *rng, struct wal_totals *t)
{
    char *dir = tu_mkdtemp(), recdir[1024], waldir[1024], path[2048];
    int64_t delay = 10 + (int64_t)(rng_next(rng) % 71);
    struct intentus_err err = { 0 };
    struct acks a = { 0 };
    char **ids;
    size_t n, no_record = 0;
    int fds[2], status = 0;
    pid_t pid;

    snprintf(recdir, sizeof(recdir), "%s/rec", dir);
    snprintf(waldir, sizeof(waldir), "%s/wal", dir);
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        wal_child_main(dir, fds[1]);
    }
    close(fds[1]);
    a.fd = fds[0];
    for (int64_t t0 = now_ms(); !a.seen && !a.eof && now_ms() - t0 < 5000;)
        acks_read(&a, 100);
    if (!a.seen)
        fail_msg("the router never became ready");
    {
        struct timespec ts = { (time_t)(delay / 1000), (long)(delay % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(fds[0]);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the router ended by itself (status %d) before the kill", status);

    assert_int_equal(wal_list(waldir, &ids, &n, &err), 0);
    for (size_t i = 0; i < n; i++) {
        struct recovery_item it;
        bool has_record;
        snprintf(path, sizeof(path), "%s/%s.json", recdir, ids[i]);
        has_record = access(path, F_OK) == 0;
        assert_int_equal(recovery_analyze_records(waldir, recdir, ids[i], &it, &err), 0);
        if (it.state == WAL_STATE_COMPLETED || it.state == WAL_STATE_FAILED) {
            /* The log says it ended: then its record exists. */
            if (!has_record)
                fail_msg("%s: WAL %s, no record", ids[i], wal_state_name(it.state));
        } else if (it.wal_status != WAL_EMPTY && has_record) {
            /* The window: recorded, the WAL not closed. */
            t->window++;
            assert_true(it.record_exists);
            assert_false(it.can_resume);
            assert_int_equal(recovery_resume_records(waldir, recdir, ids[i], NULL, &err), -1);
            assert_non_null(strstr(err.msg, "Record exists"));
        } else {
            no_record++;
        }
        recovery_item_free(&it);
    }
    /* One execution at a time: at most one was in flight without a record. */
    assert_true(no_record <= 1);
    t->logs += n;
    t->in_flight += no_record;
    wal_list_free(ids, n);
    tu_rmtree(dir);
    free(dir);
}

static void
test_kill_with_wal_record_first(void **state)
{
    struct wal_totals t = { 0 };
    uint64_t rng = 0x5eed0003ULL;

    (void)state;
    for (int i = 0; i < ROUNDS * 2; i++)
        wal_round(&rng, &t);
    fprintf(stderr,
            "# crash safety with the WAL: %d kills, %llu logs, %llu killed after the record and "
            "before the WAL's end (refused for resume), %llu in flight before their record\n",
            ROUNDS * 2, (unsigned long long)t.logs, (unsigned long long)t.window,
            (unsigned long long)t.in_flight);
    assert_true(t.logs > 0);
}

/* ---- the async writer's group commit (issue 16) ----
 *
 * SUBMITTERS threads route through one router whose async writer commits
 * in groups (with fsync: every file of a group synced, renamed, then one
 * directory fsync; without: several writer threads). A thread reports an
 * execution's id only once route_result_settle said it was recorded: the
 * acknowledgement a server gives. The child is killed mid-stream; then
 * every acknowledged record must be in place, whole and verified, every
 * visible file a whole record, and no temp file visible. */

#define SUBMITTERS 4
#define ACK_LEN 37 /* an id and '\n': one write(2) under PIPE_BUF, never interleaved */

struct gc_child {
    struct router *router;
    int ack_fd;
    uint64_t seed;
    int64_t start, max_ms;
};

static void *
gc_submitter(void *arg)
{
    struct gc_child *c = arg;
    struct intentus_err err = { 0 };
    uint64_t rng = c->seed | 1;
    char line[ACK_LEN + 1];

    while (now_ms() - c->start < c->max_ms) {
        bool fb = rng_next(&rng) % 3 == 0;
        struct envelope_opts o = { .priority = PRIORITY_NORMAL,
                                   .strategy = fb ? STRATEGY_FALLBACK : STRATEGY_DIRECT };
        cJSON *env = envelope_new(fb ? "c.fb" : "c.echo", payload_of(&rng), &o, &err);
        struct route_result res;
        if (env == NULL || router_route_with(c->router, env, NULL, &res) != 0)
            _exit(5);
        route_result_settle(&res);
        if (!res.recorded)
            _exit(6);
        snprintf(line, sizeof(line), "%.36s\n", res.execution_id);
        if (strlen(line) != ACK_LEN || write_all(c->ack_fd, line, ACK_LEN) != 0)
            _exit(4);
        route_result_free(&res);
        cJSON_Delete(env);
    }
    return NULL;
}

static void
gc_child_main(const char *dir, bool fsync_on, int ack_fd, uint64_t seed)
{
    struct intentus_err err = { 0 };
    struct config *cfg = config_parse(cfg_text, strlen(cfg_text), "crash-group", &err);
    struct gc_child c[SUBMITTERS];
    pthread_t th[SUBMITTERS];
    struct writer *w;
    struct router *router;
    int64_t max_ms = CHILD_MAX_MS;
    const char *vg = getenv("VALGRIND");

    if (vg != NULL && vg[0] != '\0')
        max_ms *= 20;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    w = writer_open(
        dir, &(struct writer_opts){ .mode = WRITER_ASYNC, .fsync = fsync_on, .capacity = 8 }, &err);
    router = cfg != NULL && w != NULL
                 ? router_new(cfg->registry, &(struct router_opts){ .writer = w }, &err)
                 : NULL;
    if (router == NULL) {
        fprintf(stderr, "child: %s\n", err.msg);
        _exit(3);
    }
    if (write_all(ack_fd, "ready\n", 6) != 0)
        _exit(4);
    for (int i = 0; i < SUBMITTERS; i++) {
        c[i] = (struct gc_child){ router, ack_fd, seed + (uint64_t)i * 7919, now_ms(), max_ms };
        if (pthread_create(&th[i], NULL, gc_submitter, &c[i]) != 0)
            _exit(7);
    }
    for (int i = 0; i < SUBMITTERS; i++)
        pthread_join(th[i], NULL);
    _exit(0);
}

/* The acknowledged ids, as the child wrote them. */
struct gc_acks {
    int fd;
    char *text;
    size_t len, cap;
    bool eof;
};

static void
gc_acks_read(struct gc_acks *a, int timeout_ms)
{
    struct pollfd p = { .fd = a->fd, .events = POLLIN };
    ssize_t n;

    if (a->eof || poll(&p, 1, timeout_ms) <= 0)
        return;
    if (a->cap - a->len < 4096) {
        a->cap = a->cap * 2 + 8192;
        a->text = realloc(a->text, a->cap);
        assert_non_null(a->text);
    }
    n = read(a->fd, a->text + a->len, a->cap - a->len - 1);
    if (n <= 0) {
        a->eof = n == 0 || errno != EINTR;
        return;
    }
    a->len += (size_t)n;
    a->text[a->len] = '\0';
}

static void
gc_round(bool fsync_on, uint64_t *rng, uint64_t *acked_total, uint64_t *records_total)
{
    char *dir = tu_mkdtemp(), path[2048];
    int64_t delay = 20 + (int64_t)(rng_next(rng) % 101), t0;
    uint64_t child_seed = rng_next(rng), acked = 0;
    struct gc_acks a = { 0 };
    struct scan s;
    int fds[2], status = 0;
    const char *vg = getenv("VALGRIND");
    pid_t pid;

    if (vg != NULL && vg[0] != '\0')
        delay *= 10;
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        gc_child_main(dir, fsync_on, fds[1], child_seed);
    }
    close(fds[1]);
    a.fd = fds[0];
    for (t0 = now_ms();
         (a.len < 6 || memcmp(a.text, "ready\n", 6) != 0) && !a.eof && now_ms() - t0 < 5000;)
        gc_acks_read(&a, 100);
    if (a.len < 6 || memcmp(a.text, "ready\n", 6) != 0)
        fail_msg("the group-commit writer never became ready");
    for (int64_t end = now_ms() + delay; now_ms() < end && !a.eof;)
        gc_acks_read(&a, 1);
    assert_int_equal(kill(pid, SIGKILL), 0);
    while (!a.eof)
        gc_acks_read(&a, 1000);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(fds[0]);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("the group-commit child ended by itself (status %d) before the kill", status);

    scan_dir(dir, &s); /* every visible file whole, verified, named for its id */
    assert_int_equal((a.len - 6) % ACK_LEN, 0);
    for (size_t off = 6; off < a.len; off += ACK_LEN) {
        a.text[off + 36] = '\0';
        snprintf(path, sizeof(path), "%s/%s.json", dir, a.text + off);
        if (access(path, F_OK) != 0)
            fail_msg("fsync %s: acknowledged record %s is missing after the kill",
                     fsync_on ? "on" : "off", a.text + off);
        acked++;
    }
    assert_true((uint64_t)s.records >= acked);
    /* At most one group per submitter was in flight beyond what was acked. */
    assert_true((uint64_t)s.records <= acked + SUBMITTERS);
    *acked_total += acked;
    *records_total += (uint64_t)s.records;
    free(a.text);
    tu_rmtree(dir);
    free(dir);
}

static void
test_kill_during_group_commit(void **state)
{
    uint64_t rng = 0x5eed0004ULL, acked[2] = { 0 }, records[2] = { 0 };

    (void)state;
    for (int i = 0; i < ROUNDS; i++)
        gc_round(i % 2 == 1, &rng, &acked[i % 2], &records[i % 2]);
    fprintf(stderr,
            "# crash safety, async group commit, %d submitters: fsync on %llu acknowledged / "
            "%llu records, fsync off %llu / %llu, over %d kills\n",
            SUBMITTERS, (unsigned long long)acked[1], (unsigned long long)records[1],
            (unsigned long long)acked[0], (unsigned long long)records[0], ROUNDS);
    assert_true(acked[0] > 0);
    assert_true(acked[1] > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_during_recording_fsync_off),
        cmocka_unit_test(test_kill_during_recording_fsync_on),
        cmocka_unit_test(test_kill_with_wal_record_first),
        cmocka_unit_test(test_kill_during_group_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
