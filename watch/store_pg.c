#include "watch/store_pg.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/crypt.h"
#include "core/rec_store.h"
#include "watch/digest.h"
#include "watch/index_stats_build.h"

#define SCHEMA_VERSION 1
/* Advisory lock keys: creating the schema; assigning feed seqs in commit order. */
#define LOCK_SCHEMA "1229869057"
#define LOCK_FEED "1229869058"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define REPLAY_BATCH 256
#define FOLLOW_BATCH 1000

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS intentus_meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS intentus_records("
    " id TEXT PRIMARY KEY, created_us BIGINT NOT NULL, intent TEXT, strategy TEXT, agent TEXT,"
    " status INTEGER NOT NULL, error_code TEXT, node TEXT, duration_us BIGINT NOT NULL,"
    " attempts INTEGER NOT NULL, retries INTEGER NOT NULL, events INTEGER NOT NULL,"
    " flags INTEGER NOT NULL, file_size BIGINT NOT NULL, note TEXT,"
    " agents TEXT[] NOT NULL, failed_agents TEXT[] NOT NULL, failed_codes TEXT[] NOT NULL,"
    " body BYTEA NOT NULL);"
    "CREATE INDEX IF NOT EXISTS intentus_records_created ON intentus_records(created_us, id);"
    "CREATE INDEX IF NOT EXISTS intentus_records_intent ON intentus_records(intent, created_us);"
    "CREATE TABLE IF NOT EXISTS intentus_feed("
    " seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS intentus_feed_id ON intentus_feed(id);"
    /* Every attempt of every record (watch/digest.h's steps), written in the
     * record's transaction: the per-agent figures of `records stats` are a
     * GROUP BY here. Rows of records stored before it existed are filled
     * in once (backfill_attempts), then meta 'attempts' says so. */
    "CREATE TABLE IF NOT EXISTS intentus_attempts("
    " id TEXT NOT NULL, seq INTEGER NOT NULL, agent TEXT, kind INTEGER NOT NULL,"
    " is_retry BOOLEAN NOT NULL, error_code TEXT, latency_us BIGINT NOT NULL,"
    " tokens BIGINT NOT NULL, PRIMARY KEY(id, seq));"
    "INSERT INTO intentus_meta VALUES('schema_version', '1') ON CONFLICT DO NOTHING;";

/* The attempt columns after id, as unnest of the seven arrays from $n. */
#define ATT_UNNEST(a, b, c, d, e, f, g)                                                            \
    "unnest($" #a "::int[], $" #b "::text[], $" #c "::int[], $" #d "::bool[], $" #e                \
    "::text[], $" #f "::bigint[], $" #g "::bigint[]) AS u"

#define ROW_COLS                                                                                   \
    "r.id, r.created_us, r.intent, r.strategy, r.agent, r.status, r.error_code, r.node,"           \
    " r.duration_us, r.attempts, r.retries, r.events, r.flags, r.file_size, r.note"

struct pending {
    char *id;
    char *text;
    size_t len;
};

struct pg_store {
    struct store base; /* first: store.h */
    char *conninfo;    /* the URL without our own parameters */
    char *spool;       /* spool directory */
    PGconn *c;
    bool listening;
    long long deletes_seen; /* NOTIFYs on intentus_deleted, and each LISTEN */
    bool in_batch;          /* between begin and commit */
    bool batch_db;          /* the open batch is a transaction on the database */
    bool tx_failed;
    /* Records of the open batch (copies), spooled if the commit fails for
     * lack of a connection; ids that were inserted (not duplicates) get a
     * feed row at commit. */
    struct pending *batch;
    size_t n_batch, cap_batch;
    char **fresh;
    size_t n_fresh, cap_fresh;
    long long retry_at_ms;
    int backoff_ms;
    unsigned long long spool_next;
    char lasterr[512];
};

static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* libpq's message without its trailing newline. */
static const char *
pq_msg(PGconn *c, char *buf, size_t len)
{
    size_t n;

    snprintf(buf, len, "%s", c != NULL ? PQerrorMessage(c) : "no connection");
    n = strlen(buf);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

static bool
conn_lost(const struct pg_store *p)
{
    return p->c == NULL || PQstatus(p->c) != CONNECTION_OK;
}

/* ---- URL: our spool= parameter, the rest for libpq ---- */

static int
hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static char *
pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t o = 0;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n + 1 && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* Split url into the libpq URI (without spool=) and the spool directory. */
static int
split_url(const char *url, char **conninfo, char **spool, struct intentus_err *err)
{
    const char *q = strchr(url, '?');
    struct buf b = BUF_INIT;
    bool first = true;

    *spool = NULL;
    if (q == NULL) {
        *conninfo = strdup(url);
        return *conninfo != NULL ? 0 : (err_set(err, IERR_NOMEM, "out of memory"), -1);
    }
    buf_append(&b, url, (size_t)(q - url));
    for (const char *p = q + 1; *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp != NULL ? (size_t)(amp - p) : strlen(p);
        if (n > 6 && strncmp(p, "spool=", 6) == 0) {
            free(*spool);
            *spool = pct_decode(p + 6, n - 6);
        } else if (n > 0) {
            buf_putc(&b, first ? '?' : '&');
            buf_append(&b, p, n);
            first = false;
        }
        p += n;
        if (*p == '&')
            p++;
    }
    if (*spool != NULL && (*spool)[0] == '\0') {
        err_set(err, IERR_CONFIG, "store URL %s: spool= names no directory", url);
        free(*spool);
        *spool = NULL;
        buf_free(&b);
        return -1;
    }
    *conninfo = buf_take(&b);
    return *conninfo != NULL ? 0 : (err_set(err, IERR_NOMEM, "out of memory"), -1);
}

/* The default spool: a per-database directory under the user's state dir. */
static char *
default_spool(PGconn *c, struct intentus_err *err)
{
    const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char name[300], *out = NULL;
    size_t i;

    snprintf(name, sizeof(name), "%s-%s-%s", PQhost(c) ? PQhost(c) : "local",
             PQport(c) ? PQport(c) : "5432", PQdb(c) ? PQdb(c) : "db");
    for (i = 0; name[i]; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
              (name[i] >= '0' && name[i] <= '9') || name[i] == '.' || name[i] == '-' ||
              name[i] == '_'))
            name[i] = '_';
    if (xdg != NULL && xdg[0] == '/') {
        if (asprintf(&out, "%s/intentus/spool/%s", xdg, name) < 0)
            out = NULL;
    } else if (home != NULL && home[0] == '/') {
        if (asprintf(&out, "%s/.local/state/intentus/spool/%s", home, name) < 0)
            out = NULL;
    } else {
        err_set(err, IERR_CONFIG,
                "PostgreSQL store: no spool directory (neither $XDG_STATE_HOME nor $HOME is set; "
                "add spool=DIR to the URL)");
        return NULL;
    }
    if (out == NULL)
        err_set(err, IERR_NOMEM, "out of memory");
    return out;
}

/* ---- the spool: one file per record, replayed in name order ---- */

static int
mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);

    if (n >= sizeof(tmp))
        return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (tmp[i] == '/') {
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return -1;
            tmp[i] = '/';
        }
    }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int
cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the spooled records, sorted (oldest first); n = -1 on error. */
static char **
spool_list(const char *dir, long *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;
    size_t cap = 0;

    *n = 0;
    if (d == NULL) {
        if (errno != ENOENT)
            *n = -1;
        return NULL;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        if ((size_t)*n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **nv = realloc(v, nc * sizeof(*v));
            if (nv == NULL)
                break;
            v = nv;
            cap = nc;
        }
        v[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    if (*n > 0)
        qsort(v, (size_t)*n, sizeof(*v), cmp_names);
    return v;
}

static void
names_free(char **v, long n)
{
    for (long i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int
spool_put(struct pg_store *p, const char *id, const char *text, size_t len,
          struct intentus_err *err)
{
    char tmp[4200], final[4200];
    int fd;

    if (p->spool_next == 0) {
        /* Continue after the newest file already there, so order holds. */
        long n;
        char **v = spool_list(p->spool, &n);
        p->spool_next = 1;
        if (n > 0)
            p->spool_next = strtoull(v[n - 1], NULL, 10) + 1;
        names_free(v, n);
    }
    if (mkdirs(p->spool) != 0) {
        err_set(err, IERR_IO,
                "PostgreSQL store: database unreachable (%s) and spool directory %s: %s",
                p->lasterr, p->spool, strerror(errno));
        return -1;
    }
    snprintf(final, sizeof(final), "%s/%020llu.%s.json", p->spool, p->spool_next, id);
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%020llu.%s", p->spool, p->spool_next, id);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || rec_store_write_all(fd, text, len) != 0 ||
        (p->base.opts.fsync && fsync(fd) != 0)) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        err_set(err, IERR_IO, "PostgreSQL store: database unreachable (%s) and spool file %s: %s",
                p->lasterr, tmp, strerror(e));
        return -1;
    }
    close(fd);
    if (rename(tmp, final) != 0) {
        err_set(err, IERR_IO, "PostgreSQL store: spool rename %s: %s", final, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (p->base.opts.fsync) {
        int dfd = open(p->spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    p->spool_next++;
    return 0;
}

/* ---- connection ---- */

static const char *const PREPARED[][2] = {
    { "put",
      "WITH ins AS (INSERT INTO intentus_records(id, created_us, intent, strategy, agent, status,"
      " error_code, node, duration_us, attempts, retries, events, flags, file_size, note, agents,"
      " failed_agents, failed_codes, body) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,"
      " $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (id) DO NOTHING RETURNING id),"
      " att AS (INSERT INTO intentus_attempts SELECT ins.id, u.* FROM ins, " ATT_UNNEST(
          20, 21, 22, 23, 24, 25, 26) ")"
                                      " SELECT count(*) FROM ins" },
    { "same", "SELECT body = $2 FROM intentus_records WHERE id = $1" },
    { "feed", "WITH f AS (INSERT INTO intentus_feed(id) SELECT unnest($1::text[]) RETURNING seq)"
              " SELECT pg_notify('intentus_records', max(seq)::text) FROM f" },
    { "get", "SELECT body FROM intentus_records WHERE id = $1" },
    { "get_each", "SELECT id, body FROM intentus_records WHERE id = ANY($1::text[])" },
    { "del", "WITH d AS (DELETE FROM intentus_records WHERE id = $1 RETURNING id),"
             " f AS (DELETE FROM intentus_feed WHERE id IN (SELECT id FROM d)),"
             " a AS (DELETE FROM intentus_attempts WHERE id IN (SELECT id FROM d))"
             " SELECT count(*), CASE WHEN count(*) > 0"
             " THEN pg_notify('intentus_deleted', '') END FROM d" },
    { "follow",
      "SELECT f.seq, " ROW_COLS " FROM intentus_feed f JOIN intentus_records r ON r.id = f.id"
      " WHERE f.seq > $1 ORDER BY f.seq LIMIT 1000" },
    { "tail", "SELECT coalesce(max(seq), 0) FROM intentus_feed" },
};

static int
exec_ok(PGconn *c, const char *sql, char *why, size_t why_len)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

    if (!ok)
        pq_msg(c, why, why_len);
    PQclear(r);
    return ok ? 0 : -1;
}

static void
quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

static struct digest *digest_stored(const struct pg_store *p, const char *id, const char *text,
                                    size_t len, const char *plain, size_t plain_len);
enum { ATT_ARRAYS = 7 };
static void att_arrays_add(const struct digest *d, struct buf a[ATT_ARRAYS]);
static void arr_add(struct buf *b, const char *s);
static void arr_end(struct buf *b);

/* Attempt rows filled in per statement by backfill_attempts: a page of
 * stored texts read through a cursor, their rows sent as one insert (two
 * round trips per page, where one record at a time took two per record). */
#define BACKFILL_PAGE 500
#define BACKFILL_PAGE_TEXT "500"

/* One page of the backfill cursor: each text digested again, its steps
 * added to the eight arrays (record id first), then one insert. */
static int
backfill_page(struct pg_store *p, PGresult *page, char *why, size_t why_len)
{
    struct buf a[1 + ATT_ARRAYS];
    const char *av[1 + ATT_ARRAYS];
    size_t rows = 0;
    int rc = -1;

    for (size_t i = 0; i < 1 + ATT_ARRAYS; i++)
        buf_init(&a[i]);
    for (int i = 0; i < PQntuples(page); i++) {
        const char *id = PQgetvalue(page, i, 0);
        struct digest *d =
            digest_stored(p, id, PQgetvalue(page, i, 1), (size_t)PQgetlength(page, i, 1), NULL, 0);
        if (d == NULL) {
            snprintf(why, why_len, "out of memory");
            goto out;
        }
        for (size_t k = 0; k < d->n_steps; k++)
            arr_add(&a[0], id);
        att_arrays_add(d, &a[1]);
        rows += d->n_steps;
        digest_free(d);
    }
    if (rows == 0) {
        rc = 0;
        goto out;
    }
    for (size_t i = 0; i < 1 + ATT_ARRAYS; i++) {
        arr_end(&a[i]);
        av[i] = buf_str(&a[i]);
    }
    {
        PGresult *r =
            PQexecParams(p->c,
                         "INSERT INTO intentus_attempts SELECT u.* FROM unnest($1::text[],"
                         " $2::int[], $3::text[], $4::int[], $5::bool[], $6::text[],"
                         " $7::bigint[], $8::bigint[]) AS u ON CONFLICT DO NOTHING",
                         1 + ATT_ARRAYS, NULL, av, NULL, NULL, 0);
        if (PQresultStatus(r) == PGRES_COMMAND_OK)
            rc = 0;
        else
            pq_msg(p->c, why, why_len);
        PQclear(r);
    }
out:
    for (size_t i = 0; i < 1 + ATT_ARRAYS; i++)
        buf_free(&a[i]);
    return rc;
}

/* A database written before intentus_attempts existed: its records'
 * attempt rows, once, in one transaction under the schema lock; then meta
 * 'attempts' (checked first, so this costs one query on every later
 * open). Another process opening meanwhile waits on the lock (about 14,000
 * records a second on a local server, README.md's schema notes). 0 or -1
 * (p->lasterr). */
static int
backfill_attempts(struct pg_store *p)
{
    char why[200] = "";
    PGresult *r = PQexec(p->c, "SELECT 1 FROM intentus_meta WHERE k = 'attempts'");
    int rc = -1;

    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        PQclear(r);
        return 0;
    }
    PQclear(r);
    if (exec_ok(p->c, "SELECT pg_advisory_lock(" LOCK_SCHEMA ")", why, sizeof(why)) != 0 ||
        exec_ok(p->c, "BEGIN", why, sizeof(why)) != 0)
        goto out;
    /* Nothing when another process filled them in while we waited. Binary
     * results: the bodies as stored (BYTEA), as "get" reads them. */
    r = PQexecParams(p->c,
                     "DECLARE intentus_backfill NO SCROLL CURSOR FOR SELECT r.id, r.body FROM"
                     " intentus_records r WHERE NOT EXISTS (SELECT 1 FROM intentus_meta WHERE"
                     " k = 'attempts') AND NOT EXISTS (SELECT 1 FROM intentus_attempts a WHERE"
                     " a.id = r.id)",
                     0, NULL, NULL, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        pq_msg(p->c, why, sizeof(why));
        PQclear(r);
        goto out;
    }
    PQclear(r);
    for (;;) {
        int n;
        r = PQexecParams(p->c, "FETCH " BACKFILL_PAGE_TEXT " FROM intentus_backfill", 0, NULL, NULL,
                         NULL, NULL, 1);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            pq_msg(p->c, why, sizeof(why));
            PQclear(r);
            goto out;
        }
        n = PQntuples(r);
        if (n > 0 && backfill_page(p, r, why, sizeof(why)) != 0) {
            PQclear(r);
            goto out;
        }
        PQclear(r);
        if (n < BACKFILL_PAGE)
            break;
    }
    if (exec_ok(p->c, "CLOSE intentus_backfill", why, sizeof(why)) != 0 ||
        exec_ok(p->c, "INSERT INTO intentus_meta VALUES('attempts', '1') ON CONFLICT DO NOTHING",
                why, sizeof(why)) != 0 ||
        exec_ok(p->c, "COMMIT", why, sizeof(why)) != 0)
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        char ignored[200];
        snprintf(p->lasterr, sizeof(p->lasterr), "filling intentus_attempts: %s", why);
        exec_ok(p->c, "ROLLBACK", ignored, sizeof(ignored));
    }
    {
        char ignored[200];
        exec_ok(p->c, "SELECT pg_advisory_unlock_all()", ignored, sizeof(ignored));
    }
    return rc;
}

/* Connect, create the schema if needed, prepare. 0 or -1 (p->lasterr). */
static int
connect_now(struct pg_store *p)
{
    const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
    const char *vals[] = { "5", "intentus", p->conninfo, NULL };
    char why[200];

    if (p->c != NULL)
        PQfinish(p->c);
    p->listening = false;
    p->c = PQconnectdbParams(keys, vals, 1);
    if (p->c == NULL || PQstatus(p->c) != CONNECTION_OK) {
        pq_msg(p->c, p->lasterr, sizeof(p->lasterr));
        return -1;
    }
    PQsetNoticeProcessor(p->c, quiet_notice, NULL);
    if (exec_ok(p->c, "SELECT pg_advisory_lock(" LOCK_SCHEMA ")", why, sizeof(why)) != 0 ||
        exec_ok(p->c, SCHEMA, why, sizeof(why)) != 0) {
        snprintf(p->lasterr, sizeof(p->lasterr), "creating the schema: %s", why);
        exec_ok(p->c, "SELECT pg_advisory_unlock_all()", why, sizeof(why));
        return -1;
    }
    exec_ok(p->c, "SELECT pg_advisory_unlock_all()", why, sizeof(why));
    for (size_t i = 0; i < sizeof(PREPARED) / sizeof(PREPARED[0]); i++) {
        PGresult *r = PQprepare(p->c, PREPARED[i][0], PREPARED[i][1], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(p->lasterr, sizeof(p->lasterr), "preparing %s: %s", PREPARED[i][0],
                     pq_msg(p->c, why, sizeof(why)));
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    return backfill_attempts(p);
}

static int replay(struct pg_store *p, struct intentus_err *err);

/* A usable connection with the spool replayed, or -1 (IERR_IO) while the
 * database is unreachable; reconnects no faster than the backoff allows. */
static int
ensure(struct pg_store *p, struct intentus_err *err)
{
    if (!conn_lost(p)) {
        if (p->retry_at_ms != 0 && !p->base.opts.read_only)
            return replay(p, err);
        return 0;
    }
    if (p->retry_at_ms != 0 && mono_ms() < p->retry_at_ms) {
        err_set(err, IERR_IO, "PostgreSQL store %s: database unreachable (%s); retrying in %lld ms",
                p->base.url, p->lasterr, p->retry_at_ms - mono_ms());
        return -1;
    }
    if (connect_now(p) != 0) {
        p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
        if (p->backoff_ms > BACKOFF_MAX_MS)
            p->backoff_ms = BACKOFF_MAX_MS;
        p->retry_at_ms = mono_ms() + p->backoff_ms;
        err_set(err, IERR_IO, "PostgreSQL store %s: database unreachable (%s)", p->base.url,
                p->lasterr);
        return -1;
    }
    p->backoff_ms = 0;
    p->retry_at_ms = 0;
    return p->base.opts.read_only ? 0 : replay(p, err);
}

static void
lost(struct pg_store *p)
{
    pq_msg(p->c, p->lasterr, sizeof(p->lasterr));
    if (p->backoff_ms == 0)
        p->backoff_ms = BACKOFF_MIN_MS;
    p->retry_at_ms = mono_ms() + p->backoff_ms;
}

/* ---- rows from record text ---- */

/* Append s to a PostgreSQL array literal, quoted. */
static void
arr_add(struct buf *b, const char *s)
{
    buf_putc(b, b->len == 0 ? '{' : ',');
    buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(b, '\\');
        buf_putc(b, *s);
    }
    buf_putc(b, '"');
}

static bool
arr_has(const struct buf *b, const char *s)
{
    /* Small arrays: a linear search of the literal for "s" is enough. */
    struct buf q = BUF_INIT;
    bool hit;

    buf_putc(&q, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_putc(&q, '\\');
        buf_putc(&q, *s);
    }
    buf_putc(&q, '"');
    hit = b->len > 0 && memmem(b->data, b->len, q.data, q.len) != NULL;
    buf_free(&q);
    return hit;
}

static void
arr_end(struct buf *b)
{
    if (b->len == 0)
        buf_putc(b, '{');
    buf_putc(b, '}');
}

/* An element that may be NULL (unquoted NULL in the literal). */
static void
arr_add_opt(struct buf *b, const char *s)
{
    if (s != NULL) {
        arr_add(b, s);
        return;
    }
    buf_putc(b, b->len == 0 ? '{' : ',');
    buf_puts(b, "NULL");
}

static void
arr_add_num(struct buf *b, long long n)
{
    buf_putc(b, b->len == 0 ? '{' : ',');
    buf_printf(b, "%lld", n);
}

/* The attempt rows of d as the seven arrays ATT_UNNEST takes: seq, agent,
 * kind, is_retry, error_code, latency_us, tokens (index_db.c's columns). */
static void
att_arrays_add(const struct digest *d, struct buf a[ATT_ARRAYS])
{
    for (size_t i = 0; i < d->n_steps; i++) {
        const struct digest_step *st = &d->steps[i];
        arr_add_num(&a[0], (long long)i);
        arr_add_opt(&a[1], st->agent);
        arr_add_num(&a[2], st->kind);
        buf_putc(&a[3], a[3].len == 0 ? '{' : ',');
        buf_putc(&a[3], st->is_retry ? 't' : 'f');
        arr_add_opt(&a[4], st->code);
        arr_add_num(&a[5], (long long)st->latency_us);
        arr_add_num(&a[6], (long long)st->tokens);
    }
}

static void
att_arrays(const struct digest *d, struct buf a[ATT_ARRAYS])
{
    for (size_t i = 0; i < ATT_ARRAYS; i++)
        buf_init(&a[i]);
    att_arrays_add(d, a);
    for (size_t i = 0; i < ATT_ARRAYS; i++)
        arr_end(&a[i]);
}

/* The digest the index columns come from: of plain (the text before it was
 * sealed) when the caller has it; else of text, opened first when sealed
 * (the store's keys, else crypt_reader()), as watch/scan.c digests a sealed
 * file: SEALED and no error message when it opens, LOCKED (corrupt) when
 * no key does. NULL only when out of memory. */
static struct digest *
digest_stored(const struct pg_store *p, const char *id, const char *text, size_t len,
              const char *plain, size_t plain_len)
{
    enum crypt_status st = CRYPT_PLAIN;
    struct intentus_err e = { 0 };
    char *opened = NULL;
    struct digest *d;

    if (plain == NULL && crypt_is_sealed(text, len)) {
        opened = crypt_open(p->base.opts.keys != NULL ? p->base.opts.keys : crypt_reader(),
                            CRYPT_RECORD, text, len, id, &plain_len, &st, &e);
        if (opened == NULL) {
            d = digest_corrupt(id, 0, e.msg);
            if (d != NULL)
                d->flags |= st == CRYPT_NO_KEY || st == CRYPT_KEY_MISSING ? DIGEST_LOCKED
                            : st == CRYPT_TRUNCATED                       ? DIGEST_TRUNCATED
                                                                          : DIGEST_TAMPERED;
            return d;
        }
        plain = opened;
    } else if (plain != NULL) {
        st = CRYPT_OK;
    }
    d = plain != NULL ? digest_from_text(id, plain, plain_len, NULL)
                      : digest_from_text(id, text, len, NULL);
    if (opened != NULL) {
        explicit_bzero(opened, plain_len);
        free(opened);
    }
    if (d != NULL && st == CRYPT_OK) {
        /* The error message is response text: it stays sealed. */
        d->flags |= DIGEST_SEALED;
        free(d->note);
        d->note = NULL;
    }
    return d;
}

static int
insert_one(struct pg_store *p, const char *id, const char *text, size_t len, const char *plain,
           size_t plain_len, struct intentus_err *err)
{
    struct digest *d = digest_stored(p, id, text, len, plain, plain_len);
    struct buf agents = BUF_INIT, fagents = BUF_INIT, fcodes = BUF_INIT, steps[ATT_ARRAYS];
    char created[24], status[8], dur[24], att[12], ret[12], ev[12], flags[12], size[24];
    const char *v[19 + ATT_ARRAYS];
    int lens[19 + ATT_ARRAYS] = { 0 }, fmts[19 + ATT_ARRAYS] = { 0 };
    PGresult *r;
    int rc = -1;
    char why[200];

    if (d == NULL) {
        err_set(err, IERR_NOMEM, "out of memory");
        return -1;
    }
    att_arrays(d, steps);
    if (d->agent != NULL)
        arr_add(&agents, d->agent);
    if (d->status == RECORD_ERROR && d->agent != NULL)
        arr_add(&fagents, d->agent);
    if (d->error_code != NULL)
        arr_add(&fcodes, d->error_code);
    for (size_t i = 0; i < d->n_steps; i++) {
        const struct digest_step *st = &d->steps[i];
        if (st->agent != NULL && !arr_has(&agents, st->agent))
            arr_add(&agents, st->agent);
        if (st->kind == DIGEST_STEP_FAIL) {
            if (st->agent != NULL && !arr_has(&fagents, st->agent))
                arr_add(&fagents, st->agent);
            if (st->code != NULL && !arr_has(&fcodes, st->code))
                arr_add(&fcodes, st->code);
        }
    }
    arr_end(&agents);
    arr_end(&fagents);
    arr_end(&fcodes);
    snprintf(created, sizeof(created), "%" PRId64, d->created_us != 0 ? d->created_us : wall_us());
    snprintf(status, sizeof(status), "%d", (int)d->status);
    snprintf(dur, sizeof(dur), "%" PRId64, d->duration_us);
    snprintf(att, sizeof(att), "%d", d->attempts);
    snprintf(ret, sizeof(ret), "%d", d->retries);
    snprintf(ev, sizeof(ev), "%d", d->events);
    snprintf(flags, sizeof(flags), "%u", d->flags);
    snprintf(size, sizeof(size), "%zu", len);
    v[0] = id;
    v[1] = created;
    v[2] = d->intent;
    v[3] = d->strategy;
    v[4] = d->agent;
    v[5] = status;
    v[6] = d->error_code;
    v[7] = d->node;
    v[8] = dur;
    v[9] = att;
    v[10] = ret;
    v[11] = ev;
    v[12] = flags;
    v[13] = size;
    v[14] = d->note;
    v[15] = buf_str(&agents);
    v[16] = buf_str(&fagents);
    v[17] = buf_str(&fcodes);
    v[18] = text;
    lens[18] = (int)len;
    fmts[18] = 1;
    for (size_t i = 0; i < ATT_ARRAYS; i++)
        v[19 + i] = buf_str(&steps[i]);
    r = PQexecPrepared(p->c, "put", 19 + ATT_ARRAYS, v, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        err_set(err, IERR_IO, "PostgreSQL store: insert %s: %s", id,
                pq_msg(p->c, why, sizeof(why)));
        goto out;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "1") == 0) {
        rc = 0;
    } else {
        /* Already there: the same bytes are a repeat, others a conflict. */
        const char *sv[2] = { id, text };
        int sl[2] = { 0, (int)len }, sf[2] = { 0, 1 };
        PQclear(r);
        r = PQexecPrepared(p->c, "same", 2, sv, sl, sf, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            err_set(err, IERR_IO, "PostgreSQL store: compare %s: %s", id,
                    pq_msg(p->c, why, sizeof(why)));
        } else if (PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
            rc = 1;
        } else {
            err_set(err, IERR_INVALID, "record %s already stored with different content", id);
        }
    }
out:
    PQclear(r);
    buf_free(&agents);
    buf_free(&fagents);
    buf_free(&fcodes);
    for (size_t i = 0; i < ATT_ARRAYS; i++)
        buf_free(&steps[i]);
    digest_free(d);
    return rc;
}

/* The feed rows of the transaction's fresh ids, under the feed lock, then
 * COMMIT: seqs are assigned in commit order. */
static int
commit_tx(struct pg_store *p, char **ids, size_t n, struct intentus_err *err)
{
    char why[200];

    if (n > 0) {
        struct buf arr = BUF_INIT;
        const char *v[1];
        PGresult *r;
        for (size_t i = 0; i < n; i++)
            arr_add(&arr, ids[i]);
        arr_end(&arr);
        if (exec_ok(p->c, "SELECT pg_advisory_xact_lock(" LOCK_FEED ")", why, sizeof(why)) != 0) {
            err_set(err, IERR_IO, "PostgreSQL store: feed lock: %s", why);
            buf_free(&arr);
            return -1;
        }
        v[0] = buf_str(&arr);
        r = PQexecPrepared(p->c, "feed", 1, v, NULL, NULL, 0);
        buf_free(&arr);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            err_set(err, IERR_IO, "PostgreSQL store: feed: %s", pq_msg(p->c, why, sizeof(why)));
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    if (exec_ok(p->c, "COMMIT", why, sizeof(why)) != 0) {
        err_set(err, IERR_IO, "PostgreSQL store: commit: %s", why);
        return -1;
    }
    return 0;
}

/* Write the spooled records to the database, oldest first, a batch per
 * transaction; each file is removed once its batch committed. */
static int
replay(struct pg_store *p, struct intentus_err *err)
{
    long n;
    char **names = spool_list(p->spool, &n);
    char why[200];

    p->retry_at_ms = 0;
    if (n < 0) {
        err_set(err, IERR_IO, "PostgreSQL store: spool directory %s: %s", p->spool,
                strerror(errno));
        return -1;
    }
    for (long at = 0; at < n;) {
        long end = at + REPLAY_BATCH < n ? at + REPLAY_BATCH : n;
        char *fresh[REPLAY_BATCH];
        size_t nf = 0;
        int bad = 0;
        if (exec_ok(p->c, "BEGIN", why, sizeof(why)) != 0) {
            err_set(err, IERR_IO, "PostgreSQL store: replaying the spool: %s", why);
            lost(p);
            names_free(names, n);
            return -1;
        }
        for (long i = at; i < end && !bad; i++) {
            char path[4200], *text, *id, *dot;
            size_t len = 0;
            snprintf(path, sizeof(path), "%s/%s", p->spool, names[i]);
            text = NULL;
            {
                int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                struct stat st;
                if (fd >= 0 && fstat(fd, &st) == 0 && (text = malloc((size_t)st.st_size + 1))) {
                    ssize_t got = read(fd, text, (size_t)st.st_size);
                    len = got > 0 ? (size_t)got : 0;
                    text[len] = '\0';
                }
                if (fd >= 0)
                    close(fd);
            }
            dot = strchr(names[i], '.');
            id = dot != NULL ? strdup(dot + 1) : NULL;
            if (id != NULL && strlen(id) > 5)
                id[strlen(id) - 5] = '\0';
            if (text == NULL && errno == ENOENT) {
                /* Replayed meanwhile by another handle on the same spool. */
            } else if (text == NULL || id == NULL) {
                err_set(err, IERR_IO, "PostgreSQL store: spool file %s unreadable", path);
                bad = 1;
            } else {
                struct intentus_err e2 = { 0 };
                int rc = insert_one(p, id, text, len, NULL, 0, &e2);
                if (rc == 0) {
                    fresh[nf++] = strdup(id);
                } else if (rc < 0 && e2.code == IERR_INVALID) {
                    /* Another record holds this id: keep the file aside
                     * (.conflict-*), never replayed again, never lost. */
                    char aside[4300];
                    snprintf(aside, sizeof(aside), "%s/.conflict-%s", p->spool, names[i]);
                    rename(path, aside);
                } else if (rc < 0) {
                    if (err != NULL)
                        *err = e2;
                    bad = 1;
                }
            }
            free(text);
            free(id);
        }
        if (!bad && commit_tx(p, fresh, nf, err) != 0)
            bad = 1;
        for (size_t i = 0; i < nf; i++)
            free(fresh[i]);
        if (bad) {
            exec_ok(p->c, "ROLLBACK", why, sizeof(why));
            if (conn_lost(p))
                lost(p);
            names_free(names, n);
            return -1;
        }
        for (long i = at; i < end; i++) {
            char path[4200];
            snprintf(path, sizeof(path), "%s/%s", p->spool, names[i]);
            unlink(path);
        }
        at = end;
    }
    names_free(names, n);
    p->spool_next = 0;
    return 0;
}

/* ---- ops ---- */

static void
batch_clear(struct pg_store *p)
{
    for (size_t i = 0; i < p->n_batch; i++) {
        free(p->batch[i].id);
        free(p->batch[i].text);
    }
    p->n_batch = 0;
    for (size_t i = 0; i < p->n_fresh; i++)
        free(p->fresh[i]);
    p->n_fresh = 0;
}

static void pg_close(struct store *s);
static int pg_commit(struct store *s, struct intentus_err *err);

static struct store *
pg_open(const char *url, const char *rest, const struct store_opts *opts, struct intentus_err *err)
{
    struct pg_store *p = calloc(1, sizeof(*p));

    (void)rest;
    (void)opts;
    if (p == NULL) {
        err_set(err, IERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(p->base.url, sizeof(p->base.url), "%s", url);
    if (opts != NULL)
        p->base.opts = *opts;
    if (p->base.opts.encrypt &&
        (p->base.opts.keys == NULL || crypt_keyring_write_id(p->base.opts.keys) == NULL)) {
        err_set(err, IERR_CONFIG, "store %s: encryption needs a keyring holding a key", url);
        pg_close(&p->base);
        return NULL;
    }
    if (split_url(url, &p->conninfo, &p->spool, err) != 0) {
        pg_close(&p->base);
        return NULL;
    }
    if (connect_now(p) != 0) {
        err_set(err, IERR_IO, "PostgreSQL store %s: %s", url, p->lasterr);
        pg_close(&p->base);
        return NULL;
    }
    if (p->spool == NULL && (p->spool = default_spool(p->c, err)) == NULL) {
        pg_close(&p->base);
        return NULL;
    }
    if (!p->base.opts.read_only && replay(p, err) != 0) {
        err_prefix(err, "PostgreSQL store %s", url);
        pg_close(&p->base);
        return NULL;
    }
    return &p->base;
}

static void
pg_close(struct store *s)
{
    struct pg_store *p = (struct pg_store *)s;

    if (p == NULL)
        return;
    if (p->in_batch && p->batch_db && !conn_lost(p)) {
        char why[200];
        exec_ok(p->c, "ROLLBACK", why, sizeof(why));
    }
    batch_clear(p);
    free(p->batch);
    free(p->fresh);
    if (p->c != NULL)
        PQfinish(p->c);
    free(p->conninfo);
    free(p->spool);
    free(p);
}

static int
remember(struct pg_store *p, const char *id, const char *text, size_t len)
{
    if (p->n_batch == p->cap_batch) {
        size_t nc = p->cap_batch ? p->cap_batch * 2 : 64;
        struct pending *nb = realloc(p->batch, nc * sizeof(*nb));
        if (nb == NULL)
            return -1;
        p->batch = nb;
        p->cap_batch = nc;
    }
    p->batch[p->n_batch].id = strdup(id);
    p->batch[p->n_batch].text = malloc(len + 1);
    if (p->batch[p->n_batch].id == NULL || p->batch[p->n_batch].text == NULL) {
        free(p->batch[p->n_batch].id);
        free(p->batch[p->n_batch].text);
        return -1;
    }
    memcpy(p->batch[p->n_batch].text, text, len);
    p->batch[p->n_batch].text[len] = '\0';
    p->batch[p->n_batch].len = len;
    p->n_batch++;
    return 0;
}

static int
add_fresh(struct pg_store *p, const char *id)
{
    if (p->n_fresh == p->cap_fresh) {
        size_t nc = p->cap_fresh ? p->cap_fresh * 2 : 64;
        char **nf = realloc(p->fresh, nc * sizeof(*nf));
        if (nf == NULL)
            return -1;
        p->fresh = nf;
        p->cap_fresh = nc;
    }
    if ((p->fresh[p->n_fresh] = strdup(id)) == NULL)
        return -1;
    p->n_fresh++;
    return 0;
}

/* The open transaction's records go to the spool (its connection died). */
static int
spool_batch(struct pg_store *p, struct intentus_err *err)
{
    for (size_t i = 0; i < p->n_batch; i++)
        if (spool_put(p, p->batch[i].id, p->batch[i].text, p->batch[i].len, err) != 0)
            return -1;
    batch_clear(p);
    return 0;
}

static int
pg_begin(struct store *s, struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    char why[200];

    if (p->in_batch) {
        err_set(err, IERR_INVALID, "PostgreSQL store: begin inside an open batch");
        return -1;
    }
    batch_clear(p);
    p->in_batch = true;
    p->tx_failed = false;
    p->batch_db = false;
    if (ensure(p, NULL) != 0)
        return 0; /* puts go to the spool until the database is back */
    if (exec_ok(p->c, "BEGIN", why, sizeof(why)) != 0) {
        if (conn_lost(p)) {
            lost(p);
            return 0;
        }
        p->in_batch = false;
        err_set(err, IERR_IO, "PostgreSQL store: begin: %s", why);
        return -1;
    }
    p->batch_db = true;
    return 0;
}

/* A put inside the open batch. */
static int
put_in_batch(struct pg_store *p, const char *id, const char *text, size_t len, const char *plain,
             size_t plain_len, struct intentus_err *err)
{
    int rc;

    if (p->tx_failed) {
        err_set(err, IERR_IO, "PostgreSQL store: the batch already failed");
        return -1;
    }
    if (!p->batch_db)
        return spool_put(p, id, text, len, err);
    if (remember(p, id, text, len) != 0) {
        err_set(err, IERR_NOMEM, "out of memory");
        return -1;
    }
    rc = insert_one(p, id, text, len, plain, plain_len, err);
    if (rc < 0 && conn_lost(p)) {
        /* The transaction died with its connection: spool all of it. */
        lost(p);
        p->batch_db = false;
        return spool_batch(p, err) == 0 ? 0 : -1;
    }
    if (rc < 0) {
        p->n_batch--;
        free(p->batch[p->n_batch].id);
        free(p->batch[p->n_batch].text);
        if (err == NULL || err->code != IERR_INVALID)
            p->tx_failed = true;
        return -1;
    }
    if (rc == 0 && add_fresh(p, id) != 0) {
        err_set(err, IERR_NOMEM, "out of memory");
        p->tx_failed = true;
        return -1;
    }
    return rc;
}

static int
put_text(struct pg_store *p, const char *id, const char *text, size_t len, const char *plain,
         size_t plain_len, struct intentus_err *err)
{
    struct store *s = &p->base;
    int rc;

    if (p->in_batch)
        return put_in_batch(p, id, text, len, plain, plain_len, err);
    /* Its own transaction. */
    if (pg_begin(s, err) != 0)
        return -1;
    rc = put_in_batch(p, id, text, len, plain, plain_len, err);
    if (rc < 0) {
        struct intentus_err keep = err != NULL ? *err : (struct intentus_err){ 0 };
        if (p->batch_db && !conn_lost(p)) {
            char why[200];
            exec_ok(p->c, "ROLLBACK", why, sizeof(why));
        }
        batch_clear(p);
        p->in_batch = false;
        if (err != NULL)
            *err = keep;
        return -1;
    }
    if (pg_commit(s, err) != 0)
        return -1;
    return rc;
}

/* With opts.encrypt the record is sealed here, with the keys' writing key:
 * the database holds the sealed bytes, its index columns come from the
 * plaintext. Bytes that arrive sealed are stored as they are. */
static int
pg_put(struct store *s, const char *id, const char *text, size_t len, struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    struct buf sealed = BUF_INIT;
    int rc;

    if (!s->opts.encrypt || crypt_is_sealed(text, len))
        return put_text(p, id, text, len, NULL, 0, err);
    if (crypt_seal(s->opts.keys, CRYPT_RECORD, text, len, &sealed, err) != 0) {
        err_prefix(err, "PostgreSQL store: record %s", id);
        buf_free(&sealed);
        return -1;
    }
    rc = put_text(p, id, sealed.data, sealed.len, text, len, err);
    buf_free(&sealed);
    return rc;
}

static int
pg_commit(struct store *s, struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    char why[200];
    int rc = 0;

    if (!p->in_batch) {
        err_set(err, IERR_INVALID, "PostgreSQL store: commit without begin");
        return -1;
    }
    p->in_batch = false;
    if (!p->batch_db) {
        batch_clear(p);
        return 0;
    }
    if (p->tx_failed) {
        exec_ok(p->c, "ROLLBACK", why, sizeof(why));
        batch_clear(p);
        err_set(err, IERR_IO, "PostgreSQL store: batch rolled back after an earlier error");
        return -1;
    }
    if (commit_tx(p, p->fresh, p->n_fresh, err) != 0) {
        if (conn_lost(p)) {
            /* Whether the commit itself landed is unknown: spool the batch;
             * the replay's idempotent put stores what is missing, once. */
            lost(p);
            rc = spool_batch(p, err);
        } else {
            exec_ok(p->c, "ROLLBACK", why, sizeof(why));
            rc = -1;
        }
    }
    batch_clear(p);
    return rc;
}

static char *
pg_get(struct store *s, const char *id, size_t *len, struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    const char *v[1] = { id };
    PGresult *r;
    char *out = NULL;

    if (ensure(p, err) != 0)
        return NULL;
    r = PQexecPrepared(p->c, "get", 1, v, NULL, NULL, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char why[200];
        err_set(err, IERR_IO, "PostgreSQL store: get %s: %s", id, pq_msg(p->c, why, sizeof(why)));
        if (conn_lost(p))
            lost(p);
    } else if (PQntuples(r) == 0) {
        err_set(err, IERR_NOT_FOUND, "record %s not found in %s", id, s->url);
    } else {
        size_t n = (size_t)PQgetlength(r, 0, 0);
        out = malloc(n + 1);
        if (out == NULL) {
            err_set(err, IERR_NOMEM, "out of memory");
        } else {
            memcpy(out, PQgetvalue(r, 0, 0), n);
            out[n] = '\0';
            if (len != NULL)
                *len = n;
        }
    }
    PQclear(r);
    return out;
}

/* The bodies of many ids in one round trip (records migrate reads every
 * record it copied back: one query per batch instead of one per record). */
static long
pg_get_raw_each(struct store *s, const char *const *ids, size_t n, store_text_fn fn, void *ctx,
                struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    struct buf arr = BUF_INIT;
    const char *v[1];
    PGresult *r;
    long visited = 0;

    if (ensure(p, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        arr_add(&arr, ids[i]);
    arr_end(&arr);
    if (arr.failed) {
        buf_free(&arr);
        err_set(err, IERR_NOMEM, "out of memory");
        return -1;
    }
    v[0] = arr.data;
    r = PQexecPrepared(p->c, "get_each", 1, v, NULL, NULL, 1);
    buf_free(&arr);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char why[200];
        err_set(err, IERR_IO, "PostgreSQL store: get %zu records: %s", n,
                pq_msg(p->c, why, sizeof(why)));
        if (conn_lost(p))
            lost(p);
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        /* Binary results: the id's bytes, the body's bytes (BYTEA); libpq
         * ends every value with a NUL. */
        int rc = fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1));
        if (rc != 0) {
            PQclear(r);
            return rc;
        }
        visited++;
    }
    PQclear(r);
    return visited;
}

static int
pg_del(struct store *s, const char *id, struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    const char *v[1] = { id };
    PGresult *r;
    int rc = -1;

    if (ensure(p, err) != 0)
        return -1;
    r = PQexecPrepared(p->c, "del", 1, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char why[200];
        err_set(err, IERR_IO, "PostgreSQL store: delete %s: %s", id,
                pq_msg(p->c, why, sizeof(why)));
        if (conn_lost(p))
            lost(p);
    } else if (strcmp(PQgetvalue(r, 0, 0), "0") == 0) {
        err_set(err, IERR_NOT_FOUND, "record %s not found in %s", id, s->url);
    } else {
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* ---- queries: watch/index_query.c's WHERE, in PostgreSQL ---- */

struct where {
    struct buf sql;
    const char *v[16];
    char num[4][24];
    int n, nnum;
};

static int
bind_s(struct where *w, const char *s)
{
    w->v[w->n] = s;
    return ++w->n;
}

static int
bind_i(struct where *w, int64_t i)
{
    snprintf(w->num[w->nnum], sizeof(w->num[0]), "%" PRId64, i);
    w->v[w->n] = w->num[w->nnum++];
    return ++w->n;
}

__attribute__((format(printf, 2, 3))) static void
add(struct where *w, const char *fmt, ...)
{
    va_list ap;
    char part[600];

    va_start(ap, fmt);
    vsnprintf(part, sizeof(part), fmt, ap);
    va_end(ap);
    buf_puts(&w->sql, w->sql.len ? " AND " : " WHERE ");
    buf_puts(&w->sql, part);
}

static void
where_of(const struct store_filter *f, struct where *w)
{
    if (f == NULL)
        return;
    if (f->intent != NULL)
        add(w, "r.intent = $%d", bind_s(w, f->intent));
    if (f->error_code != NULL)
        add(w, "$%d = ANY(r.failed_codes)", bind_s(w, f->error_code));
    if (f->failed_agent != NULL)
        add(w, "$%d = ANY(r.failed_agents)", bind_s(w, f->failed_agent));
    if (f->status != NULL) {
        if (strcmp(f->status, "corrupt") == 0)
            add(w, "(r.flags & %u) != 0", (unsigned)STORE_ROW_CORRUPT);
        else
            add(w, "(r.flags & %u) = 0 AND r.status = $%d", (unsigned)STORE_ROW_CORRUPT,
                bind_i(w, strcmp(f->status, "ok") == 0      ? RECORD_OK
                          : strcmp(f->status, "error") == 0 ? RECORD_ERROR
                                                            : RECORD_INCOMPLETE));
    }
    if (f->since_us != 0)
        add(w, "r.created_us >= $%d", bind_i(w, f->since_us));
    if (f->until_us != 0)
        add(w, "r.created_us < $%d", bind_i(w, f->until_us));
    if (f->agent != NULL)
        add(w, "$%d = ANY(r.agents)", bind_s(w, f->agent));
    if (f->text != NULL && f->text[0] != '\0') {
        /* strcasestr's meaning (ASCII case folding), no LIKE wildcards. */
        int t = bind_s(w, f->text);
        add(w,
            "(strpos(translate(r.id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),"
            " translate($%d, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) > 0 OR"
            " strpos(translate(coalesce(r.intent, ''), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',"
            " 'abcdefghijklmnopqrstuvwxyz'), translate($%d, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',"
            " 'abcdefghijklmnopqrstuvwxyz')) > 0)",
            t, t);
    }
}

static char *
dupcol(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* Fill row from the ROW_COLS columns starting at col (strings borrowed). */
static void
row_of(PGresult *r, int i, int col, struct store_row *row)
{
    memset(row, 0, sizeof(*row));
    row->id = dupcol(r, i, col + 0);
    row->created_us = strtoll(PQgetvalue(r, i, col + 1), NULL, 10);
    row->intent = dupcol(r, i, col + 2);
    row->strategy = dupcol(r, i, col + 3);
    row->agent = dupcol(r, i, col + 4);
    row->status = (enum record_status)(int)strtol(PQgetvalue(r, i, col + 5), NULL, 10);
    row->error_code = dupcol(r, i, col + 6);
    row->node = dupcol(r, i, col + 7);
    row->duration_us = strtoll(PQgetvalue(r, i, col + 8), NULL, 10);
    row->attempts = (int)strtol(PQgetvalue(r, i, col + 9), NULL, 10);
    row->retries = (int)strtol(PQgetvalue(r, i, col + 10), NULL, 10);
    row->events = (int)strtol(PQgetvalue(r, i, col + 11), NULL, 10);
    row->flags = (unsigned)strtoul(PQgetvalue(r, i, col + 12), NULL, 10);
    row->size = strtoull(PQgetvalue(r, i, col + 13), NULL, 10);
    row->note = dupcol(r, i, col + 14);
}

static long
pg_query(struct store *s, const struct store_query *q, store_row_fn fn, void *ctx,
         struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    struct where w;
    struct buf sql = BUF_INIT;
    long visited = 0;
    int stop = 0;
    PGresult *r;
    char why[200];

    if (ensure(p, err) != 0)
        return -1;
    memset(&w, 0, sizeof(w));
    where_of(q != NULL ? q->filter : NULL, &w);
    if (q != NULL && q->after_id != NULL) {
        int a = bind_i(&w, q->after_created_us), b = bind_s(&w, q->after_id);
        add(&w, "(r.created_us, r.id) %s ($%d, $%d)", q->newest_first ? "<" : ">", a, b);
    }
    buf_printf(&sql,
               "SELECT " ROW_COLS " FROM intentus_records r%s ORDER BY r.created_us %s, r.id %s",
               buf_str(&w.sql), q != NULL && q->newest_first ? "DESC" : "ASC",
               q != NULL && q->newest_first ? "DESC" : "ASC");
    if (q != NULL && q->limit > 0)
        buf_printf(&sql, " LIMIT %zu", q->limit);
    if (!PQsendQueryParams(p->c, buf_str(&sql), w.n, NULL, w.v, NULL, NULL, 0) ||
        !PQsetSingleRowMode(p->c)) {
        err_set(err, IERR_IO, "PostgreSQL store: query: %s", pq_msg(p->c, why, sizeof(why)));
        buf_free(&w.sql);
        buf_free(&sql);
        if (conn_lost(p))
            lost(p);
        return -1;
    }
    buf_free(&w.sql);
    buf_free(&sql);
    while ((r = PQgetResult(p->c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && stop == 0) {
            struct store_row row;
            row_of(r, 0, 0, &row);
            visited++;
            stop = fn(ctx, &row);
            if (stop != 0) {
                /* Do not stream the rest of a large result only to drop it. */
                PGcancel *cn = PQgetCancel(p->c);
                if (cn != NULL) {
                    char cbuf[256];
                    PQcancel(cn, cbuf, sizeof(cbuf));
                    PQfreeCancel(cn);
                }
            }
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && stop == 0) {
            err_set(err, IERR_IO, "PostgreSQL store: query: %s", pq_msg(p->c, why, sizeof(why)));
            stop = -1;
            visited = -1;
        }
        PQclear(r);
    }
    if (conn_lost(p))
        lost(p);
    if (stop != 0 && visited >= 0)
        return stop;
    return visited;
}

static long
pg_count(struct store *s, const struct store_filter *f, struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    struct where w;
    struct buf sql = BUF_INIT;
    PGresult *r;
    long n = -1;

    if (ensure(p, err) != 0)
        return -1;
    memset(&w, 0, sizeof(w));
    where_of(f, &w);
    buf_printf(&sql, "SELECT count(*) FROM intentus_records r%s", buf_str(&w.sql));
    r = PQexecParams(p->c, buf_str(&sql), w.n, NULL, w.v, NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK) {
        n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    } else {
        char why[200];
        err_set(err, IERR_IO, "PostgreSQL store: count: %s", pq_msg(p->c, why, sizeof(why)));
    }
    if (conn_lost(p))
        lost(p);
    PQclear(r);
    buf_free(&w.sql);
    buf_free(&sql);
    return n;
}

static void
drain_notifies(struct pg_store *p)
{
    PGnotify *n;

    while ((n = PQnotifies(p->c)) != NULL) {
        if (strcmp(n->relname, "intentus_deleted") == 0)
            p->deletes_seen++;
        PQfreemem(n);
    }
}

static long
follow_once(struct pg_store *p, int64_t *cursor, store_row_fn fn, void *ctx,
            struct intentus_err *err)
{
    char cur[24];
    const char *v[1] = { cur };
    PGresult *r;
    long visited = 0;

    snprintf(cur, sizeof(cur), "%" PRId64, *cursor);
    r = PQexecPrepared(p->c, "follow", 1, v, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        char why[200];
        err_set(err, IERR_IO, "PostgreSQL store: follow: %s", pq_msg(p->c, why, sizeof(why)));
        if (conn_lost(p))
            lost(p);
        PQclear(r);
        return -1;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        struct store_row row;
        int64_t seq = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        row_of(r, i, 1, &row);
        row.seq = seq;
        *cursor = seq;
        visited++;
        if (fn != NULL && fn(ctx, &row) != 0)
            break;
    }
    PQclear(r);
    return visited;
}

static long
pg_follow(struct store *s, int64_t *cursor, int timeout_ms, store_row_fn fn, void *ctx,
          struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    long long deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    char why[200];

    if (ensure(p, err) != 0)
        return -1;
    if (!p->listening) {
        if (exec_ok(p->c, "LISTEN intentus_records; LISTEN intentus_deleted", why, sizeof(why)) !=
            0) {
            err_set(err, IERR_IO, "PostgreSQL store: listen: %s", why);
            if (conn_lost(p))
                lost(p);
            return -1;
        }
        p->listening = true;
        /* Deletions while it was not listening (before, or while the
         * connection was lost) are not told: count the start as one. */
        p->deletes_seen++;
    }
    if (*cursor < 0) {
        PGresult *r = PQexecPrepared(p->c, "tail", 0, NULL, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            err_set(err, IERR_IO, "PostgreSQL store: follow: %s", pq_msg(p->c, why, sizeof(why)));
            PQclear(r);
            if (conn_lost(p))
                lost(p);
            return -1;
        }
        *cursor = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
        return 0;
    }
    for (;;) {
        drain_notifies(p);
        long n = follow_once(p, cursor, fn, ctx, err);
        if (n != 0)
            return n;
        long long left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        /* Wait for a NOTIFY (any commit anywhere) or the deadline. */
        struct pollfd pfd = { .fd = PQsocket(p->c), .events = POLLIN };
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno != EINTR) {
            err_set(err, IERR_IO, "PostgreSQL store: follow: poll: %s", strerror(errno));
            return -1;
        }
        if (pr > 0 && !PQconsumeInput(p->c)) {
            err_set(err, IERR_IO, "PostgreSQL store: follow: %s", pq_msg(p->c, why, sizeof(why)));
            lost(p);
            return -1;
        }
    }
}

/* ---- records stats in the database (the stats op) ---- */

/* The floor of the histogram bucket of x (a bigint SQL expression) as
 * agg_bucket_of() places it: x below 16 as is, else its top five bits
 * kept. agg_bucket_of(floor) is then agg_bucket_of(x). */
#define FLOOR_OF(x)                                                                                \
    "CASE WHEN " x " < 16 THEN greatest(" x ", 0) ELSE (" x " >> (length(ltrim(" x                 \
    "::bit(64)::text, '0')) - 5)) << (length(ltrim(" x "::bit(64)::text, '0')) - 5) END"

/* The numbers the SQL below spells out. */
_Static_assert(RECORD_OK == 0 && RECORD_ERROR == 1, "record status values");
_Static_assert(STORE_ROW_CORRUPT == 1 && STORE_ROW_NO_TIMING == 4, "row flag values");
_Static_assert(DIGEST_STEP_OK == 0 && DIGEST_STEP_FAIL == 1 && DIGEST_STEP_MODEL == 4,
               "step kinds");

static int
stats_fail(struct pg_store *p, const char *what, struct intentus_err *err)
{
    char why[200];

    err_set(err, IERR_IO, "PostgreSQL store: stats: %s: %s", what, pq_msg(p->c, why, sizeof(why)));
    if (conn_lost(p))
        lost(p);
    return -1;
}

static uint64_t
col_u64(PGresult *r, int i, int col)
{
    return PQgetisnull(r, i, col) ? 0 : strtoull(PQgetvalue(r, i, col), NULL, 10);
}

/* sql (with the filter's WHERE, and more, where "%s" is) run with the
 * filter's parameters; NULL with err on failure. */
static PGresult *
stats_exec(struct pg_store *p, const char *sql, const struct store_filter *f, const char *more,
           const char *what, struct intentus_err *err)
{
    struct where w;
    struct buf q = BUF_INIT;
    PGresult *r;

    memset(&w, 0, sizeof(w));
    where_of(f, &w);
    if (more != NULL)
        add(&w, "%s", more);
    {
        const char *mark = strstr(sql, "%s");
        buf_append(&q, sql, (size_t)(mark - sql));
        buf_puts(&q, buf_str(&w.sql));
        buf_puts(&q, mark + 2);
    }
    r = PQexecParams(p->c, buf_str(&q), w.n, NULL, w.v, NULL, NULL, 0);
    buf_free(&w.sql);
    buf_free(&q);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        PQclear(r);
        stats_fail(p, what, err);
        return NULL;
    }
    return r;
}

/* Totals, and per intent (non-corrupt records) grouped by status, error
 * code and duration bucket: index_stats.c's gather_records, in SQL. */
static int
stats_records(struct pg_store *p, const struct store_filter *f, struct stats_gather *g,
              struct intentus_err *err)
{
    struct agg_snapshot *s = &g->st->snap;
    char more[200];
    PGresult *r;

    r = stats_exec(p,
                   "SELECT count(*), count(*) FILTER (WHERE (r.flags & 1) != 0),"
                   " count(*) FILTER (WHERE (r.flags & 1) = 0 AND (r.flags & 4) != 0)"
                   " FROM intentus_records r%s",
                   f, NULL, "count the records", err);
    if (r == NULL)
        return -1;
    s->records = col_u64(r, 0, 0);
    s->corrupt = col_u64(r, 0, 1);
    s->no_timing = col_u64(r, 0, 2);
    PQclear(r);
    snprintf(more, sizeof(more), "(r.flags & %u) = 0 AND r.intent IS NOT NULL",
             (unsigned)STORE_ROW_CORRUPT);
    r = stats_exec(p,
                   "SELECT r.intent, r.status, CASE WHEN r.status = 1 THEN r.error_code END,"
                   " CASE WHEN (r.flags & 4) = 0 AND r.duration_us >= 0 THEN " FLOOR_OF(
                       "r.duration_us") " END, count(*), sum(r.retries)"
                                        " FROM intentus_records r%s GROUP BY 1, 2, 3, 4",
                   f, more, "group the records", err);
    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r) && !g->nomem; i++) {
        struct stats_row *row = isb_row(g, &g->intents, PQgetvalue(r, i, 0), true);
        int status = (int)strtol(PQgetvalue(r, i, 1), NULL, 10);
        uint64_t n = col_u64(r, i, 4);
        if (row == NULL)
            continue;
        row->r.calls += n;
        row->r.retries += col_u64(r, i, 5);
        if (status == RECORD_OK) {
            row->r.ok += n;
        } else if (status == RECORD_ERROR) {
            row->r.failed += n;
            isb_add_code(g, row, dupcol(r, i, 2), n);
        } else {
            row->r.incomplete += n;
        }
        if (!PQgetisnull(r, i, 3))
            isb_add_sample(g, row, (int64_t)agg_bucket_of(strtoll(PQgetvalue(r, i, 3), NULL, 10)),
                           n);
    }
    PQclear(r);
    return 0;
}

/* Per agent, every attempt, grouped: index_stats.c's gather_attempts. */
static int
stats_attempts(struct pg_store *p, const struct store_filter *f, struct stats_gather *g,
               struct intentus_err *err)
{
    PGresult *r = stats_exec(
        p,
        "SELECT a.agent, a.kind, a.is_retry, CASE WHEN a.kind = 1 THEN a.error_code END,"
        " CASE WHEN a.kind IN (0, 1) AND a.latency_us >= 0 THEN " FLOOR_OF(
            "least(a.latency_us, 2147483647)") " END, count(*),"
                                               " coalesce(sum(least(a.tokens, 4294967295)) FILTER"
                                               " (WHERE a.kind = 4), 0),"
                                               " count(*) FILTER (WHERE a.kind = 4 AND"
                                               " a.latency_us >= 0),"
                                               " coalesce(sum(least(a.latency_us, 2147483647))"
                                               " FILTER (WHERE a.kind = 4 AND a.latency_us >= 0),"
                                               " 0)"
                                               " FROM intentus_attempts a JOIN intentus_records r"
                                               " ON r.id = a.id%s GROUP BY 1, 2, 3, 4, 5",
        f, "a.agent IS NOT NULL", "group the attempts", err);

    if (r == NULL)
        return -1;
    for (int i = 0; i < PQntuples(r) && !g->nomem; i++) {
        struct stats_row *row = isb_row(g, &g->agents, PQgetvalue(r, i, 0), true);
        int kind = (int)strtol(PQgetvalue(r, i, 1), NULL, 10);
        uint64_t n = col_u64(r, i, 5);
        if (row == NULL)
            continue;
        if (kind == DIGEST_STEP_OK || kind == DIGEST_STEP_FAIL) {
            row->r.calls += n;
            if (strcmp(PQgetvalue(r, i, 2), "t") == 0)
                row->r.retries += n;
            if (kind == DIGEST_STEP_OK) {
                row->r.ok += n;
            } else {
                row->r.failed += n;
                isb_add_code(g, row, dupcol(r, i, 3), n);
            }
            if (!PQgetisnull(r, i, 4))
                isb_add_sample(g, row,
                               (int64_t)agg_bucket_of(strtoll(PQgetvalue(r, i, 4), NULL, 10)), n);
        } else if (kind == DIGEST_STEP_CIRCUIT) {
            row->circuit_events += n;
        } else if (kind == DIGEST_STEP_MODEL) {
            row->r.model_calls += n;
            row->r.model_tokens += col_u64(r, i, 6);
            row->r.model_timed += col_u64(r, i, 7);
            row->r.model_latency_us += (int64_t)col_u64(r, i, 8);
        } else {
            row->r.skipped += n;
        }
    }
    PQclear(r);
    return 0;
}

/* The windowed figures: the selected records newest first with their
 * attempts (the last first), streamed, stopped as soon as every row has
 * what it needs: index_stats.c's walk_back. */
static int
stats_walk(struct pg_store *p, const struct store_filter *f, struct stats_walk *w,
           struct intentus_err *err)
{
    struct stats_gather *g = w->g;
    struct where wh;
    struct buf q = BUF_INIT;
    char *cur = NULL;
    int64_t t = 0;
    bool stop = false, failed = false;
    PGresult *r;

    isb_walk_begin(w);
    memset(&wh, 0, sizeof(wh));
    where_of(f, &wh);
    buf_printf(&q,
               "SELECT r.id, r.created_us, r.intent, r.status, r.error_code, r.flags, a.agent,"
               " a.kind, a.error_code FROM intentus_records r LEFT JOIN intentus_attempts a"
               " ON a.id = r.id AND a.agent IS NOT NULL%s"
               " ORDER BY r.created_us DESC, r.id DESC, a.seq DESC",
               buf_str(&wh.sql));
    if (!PQsendQueryParams(p->c, buf_str(&q), wh.n, NULL, wh.v, NULL, NULL, 0) ||
        !PQsetSingleRowMode(p->c)) {
        buf_free(&wh.sql);
        buf_free(&q);
        return stats_fail(p, "walk the records", err);
    }
    buf_free(&wh.sql);
    buf_free(&q);
    while ((r = PQgetResult(p->c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE && !stop && !g->nomem) {
            struct stats_row *row;
            if (cur == NULL || strcmp(cur, PQgetvalue(r, 0, 0)) != 0) {
                /* A new record: the one before may have been the last needed. */
                if (cur != NULL && isb_walk_passed(w, t)) {
                    PGcancel *cn = PQgetCancel(p->c);
                    stop = true;
                    if (cn != NULL) {
                        char cbuf[256];
                        PQcancel(cn, cbuf, sizeof(cbuf));
                        PQfreeCancel(cn);
                    }
                    PQclear(r);
                    continue;
                }
                free(cur);
                cur = strdup(PQgetvalue(r, 0, 0));
                if (cur == NULL)
                    g->nomem = true;
                t = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
                isb_throughput(w, t);
                if (!(strtoul(PQgetvalue(r, 0, 5), NULL, 10) & STORE_ROW_CORRUPT) &&
                    (row = isb_row(g, &g->intents, dupcol(r, 0, 2), false)) != NULL) {
                    bool err_status = strtol(PQgetvalue(r, 0, 3), NULL, 10) == RECORD_ERROR;
                    isb_count_call(w, row, err_status, t);
                    if (err_status && row->r.last_error == NULL) {
                        row->r.last_error = isb_keep(g, dupcol(r, 0, 4));
                        row->r.last_error_us = t;
                    }
                    isb_check_done(w, row, false);
                }
            }
            if (!PQgetisnull(r, 0, 7) &&
                (row = isb_row(g, &g->agents, dupcol(r, 0, 6), false)) != NULL) {
                int kind = (int)strtol(PQgetvalue(r, 0, 7), NULL, 10);
                if (kind == DIGEST_STEP_OK || kind == DIGEST_STEP_FAIL) {
                    isb_count_call(w, row, kind == DIGEST_STEP_FAIL, t);
                    if (kind == DIGEST_STEP_FAIL && row->r.last_error == NULL) {
                        row->r.last_error = isb_keep(g, dupcol(r, 0, 8));
                        row->r.last_error_us = t;
                    }
                } else if (kind == DIGEST_STEP_CIRCUIT && row->r.circuit == NULL) {
                    row->r.circuit = isb_keep(g, dupcol(r, 0, 8));
                    row->r.circuit_us = t;
                }
                isb_check_done(w, row, true);
            }
        } else if (st != PGRES_SINGLE_TUPLE && st != PGRES_TUPLES_OK && !stop && !failed) {
            char why[200];
            err_set(err, IERR_IO, "PostgreSQL store: stats: walk the records: %s",
                    pq_msg(p->c, why, sizeof(why)));
            failed = true;
        }
        PQclear(r);
    }
    free(cur);
    if (conn_lost(p))
        lost(p);
    return failed ? -1 : 0;
}

static int
pg_stats(struct store *s, const struct store_filter *f, const struct agg_opts *opts,
         struct index_stats *out, struct intentus_err *err)
{
    struct pg_store *p = (struct pg_store *)s;
    struct agg_opts o;
    struct stats_gather g;
    struct stats_walk w;
    char why[200];
    int rc = -1;

    if (isb_start(&g, &w, &o, opts, out) != 0)
        return isb_end(&g, -1, err);
    if (ensure(p, err) != 0)
        return isb_end(&g, -1, err);
    /* One snapshot: every query sees the same rows. */
    if (exec_ok(p->c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", why, sizeof(why)) != 0) {
        err_set(err, IERR_IO, "PostgreSQL store: stats: begin: %s", why);
        if (conn_lost(p))
            lost(p);
        return isb_end(&g, -1, err);
    }
    if (stats_records(p, f, &g, err) == 0 && stats_attempts(p, f, &g, err) == 0 && !g.nomem)
        rc = stats_walk(p, f, &w, err);
    exec_ok(p->c, rc == 0 ? "COMMIT" : "ROLLBACK", why, sizeof(why));
    return isb_end(&g, rc, err);
}

long long
store_pg_deletes_seen(const struct store *s)
{
    if (s == NULL || s->engine != &store_engine_postgres)
        return 0;
    return ((const struct pg_store *)s)->deletes_seen;
}

long
store_pg_spooled(struct store *s)
{
    long n;
    char **v;

    if (s == NULL || s->engine != &store_engine_postgres)
        return 0;
    v = spool_list(((struct pg_store *)s)->spool, &n);
    names_free(v, n);
    return n;
}

const char *
store_pg_spool_dir(const struct store *s)
{
    if (s == NULL || s->engine != &store_engine_postgres)
        return NULL;
    return ((const struct pg_store *)s)->spool;
}

const struct store_engine store_engine_postgres = {
    .scheme = "postgres",
    .summary = "postgres://USER@HOST:PORT/DB  a PostgreSQL database shared by many routers",
    .open = pg_open,
    .close = pg_close,
    .put = pg_put,
    .begin = pg_begin,
    .commit = pg_commit,
    .get = pg_get,
    .get_raw_each = pg_get_raw_each,
    .del = pg_del,
    .query = pg_query,
    .count = pg_count,
    .follow = pg_follow,
    .verify = NULL,
    .stats = pg_stats,
};
