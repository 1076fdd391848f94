/* intentus gateway and intentus replay against real MCP servers and a real
 * client nobody here wrote: @modelcontextprotocol/server-everything and
 * @modelcontextprotocol/server-filesystem, driven by the official
 * @modelcontextprotocol/sdk client (tests/mcp/client.mjs), pinned in
 * tests/mcp/package-lock.json and installed by `make mcp-deps` (never by
 * the tests, which only talk to loopback). Where node or the packages are
 * missing, those tests are counted, printed skips. The refusals and the
 * usage errors need no npm and always run. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/json.h"
#include "tests/support/testutil.h"

#define TIMEOUT_MS 120000

struct ctx {
    char *dir;
    pid_t kids[2]; /* started by a test; stopped by teardown if it failed first */
    char config[PATH_MAX], records[PATH_MAX], wal[PATH_MAX];
};

static char mcp_dir[PATH_MAX];
static const char *mcp_missing; /* why the npm tests skip; NULL: they run */

static bool
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void
find_mcp(void)
{
    static char why[PATH_MAX * 2 + 100];
    static const char *const need[] = {
        "node_modules/@modelcontextprotocol/sdk/package.json",
        "node_modules/@modelcontextprotocol/server-everything/dist/index.js",
        "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js",
        NULL,
    };
    const char *d = getenv("INTENTUS_MCP_DIR");
    char path[PATH_MAX * 2];
    struct tu_run r;
    const char *argv[] = { "sh", "-c", "command -v node", NULL };

    if (realpath(d != NULL && d[0] ? d : "tests/mcp", mcp_dir) == NULL) {
        mcp_missing = "tests/mcp not found (set INTENTUS_MCP_DIR)";
        return;
    }
    if (tu_run((char *const *)argv, NULL, NULL, NULL, 10000, &r) != 0 || r.status != 0) {
        mcp_missing = "node is not installed";
        if (r.out != NULL)
            tu_run_free(&r);
        return;
    }
    tu_run_free(&r);
    for (size_t i = 0; need[i] != NULL; i++) {
        snprintf(path, sizeof(path), "%s/%s", mcp_dir, need[i]);
        if (!exists(path)) {
            snprintf(why, sizeof(why), "%s is missing (run 'make mcp-deps')", path);
            mcp_missing = why;
            return;
        }
    }
}

#define NEED_MCP()                                                                                 \
    do {                                                                                           \
        if (mcp_missing != NULL) {                                                                 \
            print_message("# SKIP MCP packages: %s\n", mcp_missing);                               \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static int stop(pid_t pid);

static int
setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    char text[PATH_MAX * 3];

    assert_non_null(c);
    c->dir = tu_mkdtemp();
    snprintf(c->records, sizeof(c->records), "%s/records", c->dir);
    snprintf(c->wal, sizeof(c->wal), "%s/wal", c->dir);
    snprintf(c->config, sizeof(c->config), "%s/intentus.json", c->dir);
    snprintf(text, sizeof(text),
             "{\"recording\": {\"dir\": \"%s\", \"fsync\": false},\n"
             " \"wal\": {\"enabled\": true, \"dir\": \"%s\"}}\n",
             c->records, c->wal);
    if (tu_write_file(c->config, text, strlen(text), 0600) != 0)
        fail();
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct ctx *c = *state;

    for (int i = 0; i < 2; i++) {
        if (c->kids[i] > 0)
            stop(c->kids[i]);
    }
    tu_rmtree(c->dir);
    free(c->dir);
    free(c);
    return 0;
}

/* ---- helpers ---- */

static void
run_sh(const char *cmd, const char *cwd, struct tu_run *r)
{
    const char *argv[] = { "sh", "-c", cmd, NULL };
    assert_int_equal(tu_run((char *const *)argv, cwd, NULL, NULL, TIMEOUT_MS, r), 0);
}

static void
run_intentus(struct tu_run *r, const char *a1, const char *a2, const char *a3, const char *a4,
             const char *a5)
{
    const char *argv[] = { tu_bin(), a1, a2, a3, a4, a5, NULL };
    assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, r), 0);
}

/* The ids of the records in dir, sorted (UUIDv7: in the order written). */
static int
record_ids(const char *dir, char ids[][64], int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL && n < max) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        snprintf(ids[n], 64, "%.*s", (int)(len - 5), de->d_name);
        n++;
    }
    closedir(d);
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && strcmp(ids[j - 1], ids[j]) > 0; j--) {
            char t[64];
            memcpy(t, ids[j], 64);
            memcpy(ids[j], ids[j - 1], 64);
            memcpy(ids[j - 1], t, 64);
        }
    return n;
}

static cJSON *
load_json_file(const char *path)
{
    size_t len;
    char *text = tu_read_file(path, &len);
    cJSON *v;

    assert_non_null(text);
    v = json_parse(text, len, 0, NULL);
    free(text);
    assert_non_null(v);
    return v;
}

static cJSON *
load_record(const struct ctx *c, const char *id)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof(path), "%s/%s.json", c->records, id);
    return load_json_file(path);
}

/* Canonical text of v (caller frees). */
static char *
canon(const cJSON *v)
{
    struct buf b = BUF_INIT;
    assert_non_null(v);
    assert_int_equal(json_canonical(v, &b, NULL), 0);
    return buf_take(&b);
}

/* `intentus replay ID` must print exactly (canonically) want. */
static void
assert_replays(const struct ctx *c, const char *id, const cJSON *want)
{
    struct tu_run r;
    cJSON *got;
    char *a, *b;

    run_intentus(&r, "replay", id, "--config", c->config, NULL);
    if (r.status != 0)
        print_message("replay %s: %s\n", id, r.err);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "No MCP tool was re-executed"));
    got = json_parse(r.out, strlen(r.out), 0, NULL);
    assert_non_null(got);
    a = canon(got);
    b = canon(want);
    assert_string_equal(a, b);
    free(a);
    free(b);
    cJSON_Delete(got);
    tu_run_free(&r);
}

static const char *
gw_str(const cJSON *rec, const char *key)
{
    return json_get_string(cJSON_GetObjectItemCaseSensitive(rec, "gateway"), key);
}

static void
write_calls(const struct ctx *c, const char *name, const char *json, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", c->dir, name);
    assert_int_equal(tu_write_file(path, json, strlen(json), 0600), 0);
}

/* The client direct and through the gateway: the same output, one record
 * per tools/call (none for initialize, ping, tools/list), each record the
 * call's tool and result, each replayed with the server gone. */
static cJSON *
client_twice(const struct ctx *c, const char *calls, const char *direct_cmd,
             const char *gateway_cmd)
{
    char cmd[PATH_MAX * 6];
    struct tu_run direct, via;
    cJSON *out;

    snprintf(cmd, sizeof(cmd), "node '%s/client.mjs' stdio '%s' %s", mcp_dir, calls, direct_cmd);
    run_sh(cmd, c->dir, &direct);
    if (direct.status != 0)
        print_message("direct: %s\n", direct.err);
    assert_int_equal(direct.status, 0);
    snprintf(cmd, sizeof(cmd), "node '%s/client.mjs' stdio '%s' '%s' %s", mcp_dir, calls, tu_bin(),
             gateway_cmd);
    run_sh(cmd, c->dir, &via);
    if (via.status != 0)
        print_message("gateway: %s\n", via.err);
    assert_int_equal(via.status, 0);
    /* Byte for byte what the client received: results and raw messages. */
    assert_string_equal(direct.out, via.out);
    out = json_parse(via.out, strlen(via.out), 0, NULL);
    assert_non_null(out);
    tu_run_free(&direct);
    tu_run_free(&via);
    return out;
}

/* Each tools/call of the client's output is one record, in order. */
static void
check_records(const struct ctx *c, const cJSON *out, const char *mode, const char *server,
              int replay_from)
{
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(out, "calls"), *call;
    char ids[32][64];
    int n = record_ids(c->records, ids, 32), i = 0;

    assert_int_equal(n, cJSON_GetArraySize(calls));
    cJSON_ArrayForEach(call, calls)
    {
        cJSON *rec = load_record(c, ids[i]);
        const char *tool = json_get_string(call, "name");
        char agent[200];
        const cJSON *env = cJSON_GetObjectItemCaseSensitive(rec, "envelope");
        assert_string_equal(
            json_get_string(cJSON_GetObjectItemCaseSensitive(env, "intent"), "name"), tool);
        snprintf(agent, sizeof(agent), "mcp:%s/%s", server, tool);
        assert_string_equal(
            json_get_string(cJSON_GetObjectItemCaseSensitive(rec, "routerDecision"), "agent"),
            agent);
        assert_string_equal(gw_str(rec, "method"), "tools/call");
        assert_string_equal(gw_str(rec, "tool_name"), tool);
        assert_string_equal(gw_str(rec, "mode"), mode);
        assert_string_equal(gw_str(rec, "status"), "completed");
        assert_int_equal(strlen(gw_str(rec, "request_hash")), 64);
        assert_int_equal(strlen(gw_str(rec, "response_hash")), 64);
        {
            const cJSON *seed = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(rec, "gateway"), "deterministic_seed");
            assert_int_equal(strlen(json_get_string(seed, "random_seed")), 64);
            assert_non_null(json_get_string(seed, "timestamp_iso"));
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(seed, "sequence_number")));
            assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(seed, "process_id")));
        }
        /* The WAL: start, step, end; and the record checks against it. */
        {
            struct tu_run r;
            run_intentus(&r, "records", "verify", ids[i], "--config", c->config);
            if (r.status != 0)
                print_message("verify: %s%s\n", r.out, r.err);
            assert_int_equal(r.status, 0);
            tu_run_free(&r);
        }
        if (i >= replay_from)
            assert_replays(c, ids[i], cJSON_GetObjectItemCaseSensitive(call, "result"));
        cJSON_Delete(rec);
        i++;
    }
}

static void
wal_types(const struct ctx *c, const char *id, char *out, size_t size)
{
    char path[PATH_MAX * 2], *text, *p;
    size_t used = 0;

    snprintf(path, sizeof(path), "%s/%s.wal", c->wal, id);
    text = tu_read_file(path, NULL);
    assert_non_null(text);
    out[0] = '\0';
    for (p = strstr(text, "\"entry_type\": \""); p != NULL;
         p = strstr(p + 1, "\"entry_type\": \"")) {
        const char *s = p + 15, *e = strchr(s, '"');
        used +=
            (size_t)snprintf(out + used, size - used, "%s%.*s", used ? " " : "", (int)(e - s), s);
    }
    free(text);
}

/* ---- tests against the real servers ---- */

static void
test_wrap_everything_sdk(void **state)
{
    struct ctx *c = *state;
    char calls[PATH_MAX], server[PATH_MAX * 2], direct[PATH_MAX * 3], gw[PATH_MAX * 4];
    char ids[32][64], types[256];
    cJSON *out, *rec;
    char *text;

    NEED_MCP();
    write_calls(c, "calls.json",
                "[{\"name\":\"echo\",\"arguments\":{\"message\":\"h\\u00e9llo \\\"w\\\"\"}},"
                "{\"name\":\"get-sum\",\"arguments\":{\"a\":2,\"b\":3.5}},"
                "{\"name\":\"no-such-tool\",\"arguments\":{}},"
                "{\"name\":\"echo\",\"arguments\":{\"message\":\"x\","
                "\"api_key\":\"sk-live-0123456789abcdef\"}}]",
                calls, sizeof(calls));
    snprintf(server, sizeof(server),
             "%s/node_modules/@modelcontextprotocol/server-everything/dist/index.js", mcp_dir);
    snprintf(direct, sizeof(direct), "node '%s' stdio", server);
    snprintf(gw, sizeof(gw), "gateway --config '%s' --name everything --wrap \"node '%s' stdio\"",
             c->config, server);
    out = client_twice(c, calls, direct, gw);
    /* Four calls, four records; initialize, two pings, tools/list: none. */
    check_records(c, out, "stdio", "everything", 0);
    assert_int_equal(record_ids(c->records, ids, 32), 4);
    /* The unknown tool is an error result (isError): recorded as an error,
     * still replayable (a response came). */
    rec = load_record(c, ids[2]);
    assert_string_equal(
        json_get_string(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(rec, "finalResponse"), "error"),
                        "code"),
        "AGENT_ERROR");
    cJSON_Delete(rec);
    wal_types(c, ids[0], types, sizeof(types));
    assert_string_equal(types, "execution.started step.started step.completed execution.completed");
    wal_types(c, ids[2], types, sizeof(types));
    assert_string_equal(types, "execution.started step.started step.failed execution.failed");
    /* Redaction: the client got the key (relayed unchanged), the record
     * and the WAL did not. */
    {
        char path[PATH_MAX * 2];
        snprintf(path, sizeof(path), "%s/%s.json", c->records, ids[3]);
        text = tu_read_file(path, NULL);
        assert_non_null(text);
        assert_null(strstr(text, "sk-live-0123456789abcdef"));
        assert_non_null(strstr(text, "[REDACTED]"));
        free(text);
        snprintf(path, sizeof(path), "%s/%s.wal", c->wal, ids[3]);
        text = tu_read_file(path, NULL);
        assert_non_null(text);
        assert_null(strstr(text, "sk-live-0123456789abcdef"));
        free(text);
    }
    cJSON_Delete(out);
}

static void
test_wrap_filesystem_sdk(void **state)
{
    struct ctx *c = *state;
    char calls[PATH_MAX], server[PATH_MAX * 2], direct[PATH_MAX * 4], gw[PATH_MAX * 5];
    char files[PATH_MAX + 16], path[PATH_MAX + 32], json[PATH_MAX * 4];
    cJSON *out;

    NEED_MCP();
    snprintf(files, sizeof(files), "%s/files", c->dir);
    assert_int_equal(mkdir(files, 0700), 0);
    snprintf(path, sizeof(path), "%s/a.txt", files);
    assert_int_equal(tu_write_file(path, "alpha\nbeta\n", 11, 0600), 0);
    snprintf(path, sizeof(path), "%s/sub", files);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(json, sizeof(json),
             "[{\"name\":\"list_allowed_directories\"},"
             "{\"name\":\"list_directory\",\"arguments\":{\"path\":\"%s\"}},"
             "{\"name\":\"read_text_file\",\"arguments\":{\"path\":\"%s/a.txt\"}},"
             "{\"name\":\"read_text_file\",\"arguments\":{\"path\":\"/etc/passwd\"}}]",
             files, files);
    write_calls(c, "fs-calls.json", json, calls, sizeof(calls));
    snprintf(server, sizeof(server),
             "%s/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js", mcp_dir);
    snprintf(direct, sizeof(direct), "node '%s' '%s'", server, files);
    snprintf(gw, sizeof(gw), "gateway --config '%s' --name fs --wrap \"node '%s' '%s'\"", c->config,
             server, files);
    out = client_twice(c, calls, direct, gw);
    check_records(c, out, "stdio", "fs", 0);
    cJSON_Delete(out);
}

/* The raw bytes: a hand-written transcript (initialize, the initialized
 * notification, ping, two tools/calls with a string id and non-ASCII text,
 * tools/list) piped to the server direct and through the gateway. */
static void
test_wrap_raw_bytes(void **state)
{
    struct ctx *c = *state;
    static const char transcript[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"raw\",\"version\":\"1\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\","
        "\"arguments\":{\"message\":\"caf\xc3\xa9 \\u2603 \\\"q\\\"\"}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":\"s-4\",\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"get-sum\",\"arguments\":{\"a\":2,\"b\":3.5}}}\n"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}\n";
    char tpath[PATH_MAX + 32], server[PATH_MAX * 2], cmd[PATH_MAX * 6], ids[8][64];
    struct tu_run direct, via;

    NEED_MCP();
    snprintf(tpath, sizeof(tpath), "%s/transcript.jsonl", c->dir);
    assert_int_equal(tu_write_file(tpath, transcript, sizeof(transcript) - 1, 0600), 0);
    snprintf(server, sizeof(server),
             "%s/node_modules/@modelcontextprotocol/server-everything/dist/index.js", mcp_dir);
    /* Responses may come in any order (the server answers concurrently):
     * compare the sorted lines, each byte for byte. */
    snprintf(cmd, sizeof(cmd), "node '%s' stdio < '%s' 2>/dev/null | LC_ALL=C sort", server, tpath);
    run_sh(cmd, c->dir, &direct);
    snprintf(cmd, sizeof(cmd),
             "'%s' gateway --config '%s' --name everything --wrap \"node '%s' stdio\" < '%s' "
             "2>/dev/null | LC_ALL=C sort",
             tu_bin(), c->config, server, tpath);
    run_sh(cmd, c->dir, &via);
    assert_int_equal(direct.status, 0);
    assert_int_equal(via.status, 0);
    assert_non_null(strstr(direct.out, "\"id\":\"s-4\""));
    assert_non_null(strstr(direct.out, "\"id\":5"));
    assert_string_equal(direct.out, via.out);
    /* Two tools/calls recorded; initialize, ping, the notification and
     * tools/list passed unrecorded. */
    assert_int_equal(record_ids(c->records, ids, 8), 2);
    {
        cJSON *a = load_record(c, ids[0]), *b = load_record(c, ids[1]);
        cJSON *ida = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(a, "gateway"), "jsonrpc_id");
        cJSON *idb = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(b, "gateway"), "jsonrpc_id");
        /* Order of arrival; either may be first. */
        bool ab = cJSON_IsNumber(ida);
        assert_true(ab ? cJSON_IsString(idb) : cJSON_IsString(ida) && cJSON_IsNumber(idb));
        cJSON_Delete(a);
        cJSON_Delete(b);
    }
    tu_run_free(&direct);
    tu_run_free(&via);
}

static int
free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static pid_t
start(const char *cmd, const char *log)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* SIGTERM, then (after 5 s) SIGKILL; the exit status. */
static int
stop(pid_t pid)
{
    int status = 0;

    kill(pid, SIGTERM);
    for (int i = 0; i < 250; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return status;
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return status;
}

static bool
port_open(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Wait (bounded) for text in a log file. */
static char *
wait_for_log(const char *log, const char *text)
{
    for (int i = 0; i < 1500; i++) {
        char *s = tu_read_file(log, NULL);
        if (s != NULL && strstr(s, text) != NULL)
            return s;
        free(s);
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    }
    fail_msg("'%s' never appeared in %s", text, log);
    return NULL;
}

static void
test_http_everything_sdk(void **state)
{
    struct ctx *c = *state;
    char calls[PATH_MAX], cmd[PATH_MAX * 4], slog[PATH_MAX + 16], glog[PATH_MAX + 16];
    char url[128], gurl[160];
    int port, gport = 0, i, status;
    struct tu_run direct, via;
    cJSON *out;
    char *text, *p;

    NEED_MCP();
    write_calls(c, "calls.json",
                "[{\"name\":\"echo\",\"arguments\":{\"message\":\"over http\"}},"
                "{\"name\":\"get-sum\",\"arguments\":{\"a\":40,\"b\":2}},"
                "{\"name\":\"get-structured-content\",\"arguments\":{\"location\":\"New York\"}}]",
                calls, sizeof(calls));
    port = free_port();
    snprintf(slog, sizeof(slog), "%s/server.log", c->dir);
    snprintf(glog, sizeof(glog), "%s/gateway.log", c->dir);
    snprintf(cmd, sizeof(cmd),
             "PORT=%d exec node '%s/node_modules/@modelcontextprotocol/server-everything/dist/"
             "index.js' streamableHttp",
             port, mcp_dir);
    c->kids[0] = start(cmd, slog);
    for (i = 0; i < 1500 && !port_open(port); i++)
        nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
    assert_true(port_open(port));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/mcp", port);
    snprintf(cmd, sizeof(cmd),
             "exec '%s' gateway --config '%s' --name everything --http %s --listen 127.0.0.1:0",
             tu_bin(), c->config, url);
    c->kids[1] = start(cmd, glog);
    text = wait_for_log(glog, "listening on 127.0.0.1:");
    p = strstr(text, "listening on 127.0.0.1:");
    gport = atoi(p + strlen("listening on 127.0.0.1:"));
    free(text);
    assert_true(gport > 0);
    snprintf(gurl, sizeof(gurl), "http://127.0.0.1:%d/mcp", gport);

    snprintf(cmd, sizeof(cmd), "node '%s/client.mjs' http '%s' %s", mcp_dir, calls, url);
    run_sh(cmd, c->dir, &direct);
    snprintf(cmd, sizeof(cmd), "node '%s/client.mjs' http '%s' %s", mcp_dir, calls, gurl);
    run_sh(cmd, c->dir, &via);
    if (direct.status != 0 || via.status != 0)
        print_message("direct: %s\ngateway: %s\n", direct.err, via.err);
    assert_int_equal(direct.status, 0);
    assert_int_equal(via.status, 0);
    assert_string_equal(direct.out, via.out);
    out = json_parse(via.out, strlen(via.out), 0, NULL);
    assert_non_null(out);
    /* The server is stopped: replay must not need it. */
    stop(c->kids[0]);
    c->kids[0] = 0;
    assert_false(port_open(port));
    check_records(c, out, "http", "everything", 0);
    cJSON_Delete(out);
    tu_run_free(&direct);
    tu_run_free(&via);
    /* With the server gone, a tools/call through the gateway fails with a
     * JSON-RPC error from the gateway (502), recorded as a transport error
     * that cannot be replayed. */
    snprintf(cmd, sizeof(cmd),
             "curl -s -o /dev/null -w '%%{http_code}' -H 'Content-Type: application/json' "
             "-H 'Accept: application/json, text/event-stream' -d "
             "'{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":"
             "\"echo\",\"arguments\":{\"message\":\"gone\"}}}' %s",
             gurl);
    run_sh(cmd, c->dir, &via);
    assert_string_equal(via.out, "502");
    tu_run_free(&via);
    {
        char ids[32][64];
        int n = record_ids(c->records, ids, 32);
        struct tu_run r;
        assert_int_equal(n, 4);
        run_intentus(&r, "replay", ids[3], "--config", c->config, NULL);
        assert_int_equal(r.status, 1);
        assert_non_null(strstr(r.err, "not replayable"));
        tu_run_free(&r);
    }
    status = stop(c->kids[1]);
    c->kids[1] = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- no npm needed ---- */

/* A server that reads one request and exits without answering: the call
 * is recorded as a transport error, not replayable, the WAL says failed. */
static void
test_wrap_server_dies(void **state)
{
    struct ctx *c = *state;
    char cmd[PATH_MAX * 3], ids[4][64], types[256];
    struct tu_run r;
    cJSON *rec;

    snprintf(cmd, sizeof(cmd),
             "printf '%%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\","
             "\"params\":{\"name\":\"slow\",\"arguments\":{}}}' | '%s' gateway --config '%s' "
             "--name dies --wrap 'read line; exit 0'",
             tu_bin(), c->config);
    run_sh(cmd, c->dir, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    assert_int_equal(record_ids(c->records, ids, 4), 1);
    rec = load_record(c, ids[0]);
    assert_string_equal(gw_str(rec, "status"), "failed");
    assert_string_equal(
        json_get_string(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(rec, "finalResponse"), "error"),
                        "code"),
        "TRANSPORT_ERROR");
    cJSON_Delete(rec);
    wal_types(c, ids[0], types, sizeof(types));
    assert_string_equal(types, "execution.started step.started step.failed execution.failed");
    run_intentus(&r, "replay", ids[0], "--config", c->config, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "not replayable"));
    assert_string_equal(r.out, "");
    tu_run_free(&r);
}

/* The bytes of a server written here in sh (answers every line with a
 * fixed response carrying the request's id): what the gateway relays is
 * exactly what the server wrote, odd spacing and all. */
static void
test_wrap_relays_bytes_unchanged(void **state)
{
    struct ctx *c = *state;
    char server[PATH_MAX + 16], cmd[PATH_MAX * 4], ids[4][64];
    static const char script[] =
        "#!/bin/sh\n"
        "while IFS= read -r line; do\n"
        "  case \"$line\" in\n"
        "  *tools/call*) printf '%s\\n' '{ \"id\" : 1 ,  \"jsonrpc\":\"2.0\", \"result\": "
        "{\"content\":[{\"type\":\"text\",\"text\":\"caf\\u00e9\"}]} }' ;;\n"
        "  *) printf '%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{}}' ;;\n"
        "  esac\n"
        "done\n";
    struct tu_run r;
    cJSON *rec, *want;

    snprintf(server, sizeof(server), "%s/server.sh", c->dir);
    assert_int_equal(tu_write_file(server, script, sizeof(script) - 1, 0700), 0);
    snprintf(
        cmd, sizeof(cmd),
        "printf '%%s\\n%%s\\n' '{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}' "
        "'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"t\"}}' "
        "| '%s' gateway --config '%s' --name sh --wrap '%s'",
        tu_bin(), c->config, server);
    run_sh(cmd, c->dir, &r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{}}\n"
                               "{ \"id\" : 1 ,  \"jsonrpc\":\"2.0\", \"result\": "
                               "{\"content\":[{\"type\":\"text\",\"text\":\"caf\\u00e9\"}]} }\n");
    tu_run_free(&r);
    assert_int_equal(record_ids(c->records, ids, 4), 1); /* the ping is not recorded */
    rec = load_record(c, ids[0]);
    assert_string_equal(gw_str(rec, "tool_name"), "t");
    {
        static const char w[] = "{\"content\":[{\"type\":\"text\",\"text\":\"caf\\u00e9\"}]}";
        want = json_parse(w, sizeof(w) - 1, 0, NULL);
    }
    assert_non_null(want);
    assert_replays(c, ids[0], want);
    cJSON_Delete(want);
    cJSON_Delete(rec);
}

static void
test_replay_refuses(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;
    char ids[4][64];

    /* A routed execution is not a gateway execution. */
    run_intentus(&r, "route", "demo.echo", "--config", c->config, NULL);
    assert_int_equal(r.status, 0);
    tu_run_free(&r);
    assert_int_equal(record_ids(c->records, ids, 4), 1);
    run_intentus(&r, "replay", ids[0], "--config", c->config, NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "is not a gateway execution"));
    assert_string_equal(r.out, "");
    tu_run_free(&r);
    run_intentus(&r, "replay", "01a00000-0000-7000-8000-000000000000", "--config", c->config, NULL);
    assert_int_equal(r.status, 1);
    tu_run_free(&r);
    run_intentus(&r, "replay", "--config", c->config, NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "missing ID"));
    tu_run_free(&r);
    run_intentus(&r, "replay", "../etc", "--config", c->config, NULL);
    assert_int_equal(r.status, 2);
    tu_run_free(&r);
}

static void
test_gateway_usage(void **state)
{
    struct ctx *c = *state;
    struct tu_run r;

    run_intentus(&r, "gateway", "--config", c->config, NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "exactly one of --http URL and --wrap CMD"));
    tu_run_free(&r);
    {
        const char *argv[] = { tu_bin(), "gateway", "--http", "http://127.0.0.1:1/mcp",
                               "--wrap", "cat",     NULL };
        assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
        assert_int_equal(r.status, 2);
        tu_run_free(&r);
    }
    run_intentus(&r, "gateway", "--http", "ftp://127.0.0.1/", NULL, NULL);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "not an http:// or https:// URL"));
    tu_run_free(&r);
    {
        const char *argv[] = { tu_bin(),   "gateway",   "--config",
                               c->config,  "--http",    "http://127.0.0.1:1/mcp",
                               "--listen", "0.0.0.0:0", NULL };
        assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "not loopback"));
        tu_run_free(&r);
    }
    {
        const char *argv[] = {
            tu_bin(), "gateway", "--wrap", "cat", "--listen", "127.0.0.1:0", NULL
        };
        assert_int_equal(tu_run((char *const *)argv, NULL, NULL, NULL, TIMEOUT_MS, &r), 0);
        assert_int_equal(r.status, 2);
        assert_non_null(strstr(r.err, "--listen: only with --http"));
        tu_run_free(&r);
    }
    run_intentus(&r, "gateway", "--wrap", "cat", "--name", "bad name");
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "--name"));
    tu_run_free(&r);
    run_intentus(&r, "gateway", "--help", NULL, NULL, NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "--wrap CMD"));
    tu_run_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gateway_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_server_dies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_relays_bytes_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_raw_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_everything_sdk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrap_filesystem_sdk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_everything_sdk, setup, teardown),
    };

    find_mcp();
    if (mcp_missing != NULL)
        fprintf(stderr, "test_gateway_mcp: MCP tests skip: %s\n", mcp_missing);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
