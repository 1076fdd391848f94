#include "watch/shared_pg.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS intentus_buckets("
    " key TEXT PRIMARY KEY, rate DOUBLE PRECISION NOT NULL, tokens DOUBLE PRECISION NOT NULL,"
    " updated_us BIGINT NOT NULL, last_ok BOOLEAN NOT NULL);"
    "CREATE TABLE IF NOT EXISTS intentus_breakers("
    " name TEXT PRIMARY KEY, state INTEGER NOT NULL, open_until_us BIGINT NOT NULL,"
    " updated_us BIGINT NOT NULL);";

#define NOW_US "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
/* The bucket after refilling at the (new) rate up to now, capped at it:
 * core/ratelimit.c's refilled(). */
#define REFILLED                                                                                   \
    "least(EXCLUDED.rate, b.tokens + greatest(0, EXCLUDED.updated_us - b.updated_us)"              \
    " * EXCLUDED.rate / 60000000.0)"

static const char *const PREPARED[][2] = {
    { "take", "INSERT INTO intentus_buckets AS b(key, rate, tokens, updated_us, last_ok)"
              " VALUES($1, $2::float8, $2::float8 - 1, " NOW_US ", true)"
              " ON CONFLICT (key) DO UPDATE SET"
              " tokens = " REFILLED " - CASE WHEN " REFILLED " >= 1 THEN 1 ELSE 0 END,"
              " last_ok = " REFILLED " >= 1, rate = EXCLUDED.rate, updated_us = EXCLUDED.updated_us"
              " RETURNING last_ok" },
    { "bput", "INSERT INTO intentus_breakers AS k(name, state, open_until_us, updated_us)"
              " VALUES($1, $2, " NOW_US " + $3::bigint * 1000, " NOW_US ")"
              " ON CONFLICT (name) DO UPDATE SET state = EXCLUDED.state,"
              " open_until_us = EXCLUDED.open_until_us, updated_us = EXCLUDED.updated_us" },
    { "bget", "SELECT state, (open_until_us - " NOW_US ") / 1000 FROM intentus_breakers"
              " WHERE name = $1" },
};

struct shared_pg {
    struct shared_state state;
    pthread_mutex_t lock;
    char *url;
    PGconn *c;
    long long retry_at_ms;
    int backoff_ms;
    uint64_t calls, unavailable;
};

static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Connect, create the tables, prepare: 0, or -1 with why. Caller holds the
 * lock (or owns sp alone). */
static int
connect_now(struct shared_pg *sp, char *why, size_t why_len)
{
    const char *keys[] = { "connect_timeout", "application_name", "dbname", NULL };
    const char *vals[] = { "5", "intentus-shared", sp->url, NULL };
    PGresult *r;

    if (sp->c != NULL)
        PQfinish(sp->c);
    sp->c = PQconnectdbParams(keys, vals, 1);
    if (sp->c == NULL || PQstatus(sp->c) != CONNECTION_OK) {
        snprintf(why, why_len, "%s", sp->c ? PQerrorMessage(sp->c) : "out of memory");
        return -1;
    }
    PQsetNoticeProcessor(sp->c, quiet_notice, NULL);
    /* The same schema lock as the record store (watch/store_pg.c). */
    r = PQexec(sp->c, "SELECT pg_advisory_lock(1229869057)");
    PQclear(r);
    r = PQexec(sp->c, SCHEMA);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        snprintf(why, why_len, "creating the shared-state tables: %s", PQerrorMessage(sp->c));
        PQclear(r);
        PQclear(PQexec(sp->c, "SELECT pg_advisory_unlock_all()"));
        return -1;
    }
    PQclear(r);
    PQclear(PQexec(sp->c, "SELECT pg_advisory_unlock_all()"));
    for (size_t i = 0; i < sizeof(PREPARED) / sizeof(PREPARED[0]); i++) {
        r = PQprepare(sp->c, PREPARED[i][0], PREPARED[i][1], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            snprintf(why, why_len, "preparing %s: %s", PREPARED[i][0], PQerrorMessage(sp->c));
            PQclear(r);
            return -1;
        }
        PQclear(r);
    }
    return 0;
}

/* A usable connection (lock held), or false while the database is away. */
static bool
usable(struct shared_pg *sp)
{
    char why[300];

    if (sp->c != NULL && PQstatus(sp->c) == CONNECTION_OK)
        return true;
    if (mono_ms() < sp->retry_at_ms)
        return false;
    if (connect_now(sp, why, sizeof(why)) == 0) {
        sp->backoff_ms = 0;
        sp->retry_at_ms = 0;
        return true;
    }
    sp->backoff_ms = sp->backoff_ms ? sp->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (sp->backoff_ms > BACKOFF_MAX_MS)
        sp->backoff_ms = BACKOFF_MAX_MS;
    sp->retry_at_ms = mono_ms() + sp->backoff_ms;
    return false;
}

/* Run a prepared statement; NULL (counted unavailable) on any failure. */
static PGresult *
run(struct shared_pg *sp, const char *name, int n, const char *const *v, ExecStatusType want)
{
    PGresult *r;

    sp->calls++;
    if (!usable(sp)) {
        sp->unavailable++;
        return NULL;
    }
    r = PQexecPrepared(sp->c, name, n, v, NULL, NULL, 0);
    if (PQresultStatus(r) != want) {
        PQclear(r);
        sp->unavailable++;
        if (PQstatus(sp->c) != CONNECTION_OK) {
            sp->backoff_ms = BACKOFF_MIN_MS;
            sp->retry_at_ms = mono_ms() + sp->backoff_ms;
        }
        return NULL;
    }
    return r;
}

static int
take_token(void *ctx, const char *key, long rate_per_minute)
{
    struct shared_pg *sp = ctx;
    char rate[24];
    const char *v[2] = { key, rate };
    PGresult *r;
    int rc = -1;

    snprintf(rate, sizeof(rate), "%ld", rate_per_minute);
    pthread_mutex_lock(&sp->lock);
    r = run(sp, "take", 2, v, PGRES_TUPLES_OK);
    if (r != NULL && PQntuples(r) == 1)
        rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 1 : 0;
    PQclear(r);
    pthread_mutex_unlock(&sp->lock);
    return rc;
}

static int
breaker_put(void *ctx, const char *name, enum breaker_state state, int64_t cooldown_ms)
{
    struct shared_pg *sp = ctx;
    char st[8], cd[24];
    const char *v[3] = { name, st, cd };
    PGresult *r;

    snprintf(st, sizeof(st), "%d", (int)state);
    snprintf(cd, sizeof(cd), "%" PRId64, state == BREAKER_OPEN ? cooldown_ms : 0);
    pthread_mutex_lock(&sp->lock);
    r = run(sp, "bput", 3, v, PGRES_COMMAND_OK);
    pthread_mutex_unlock(&sp->lock);
    if (r == NULL)
        return -1;
    PQclear(r);
    return 0;
}

static int
breaker_get(void *ctx, const char *name, enum breaker_state *state, int64_t *open_left_ms)
{
    struct shared_pg *sp = ctx;
    const char *v[1] = { name };
    PGresult *r;
    int rc = -1;

    pthread_mutex_lock(&sp->lock);
    r = run(sp, "bget", 1, v, PGRES_TUPLES_OK);
    if (r != NULL) {
        rc = 0;
        if (PQntuples(r) == 1) {
            int s = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
            *state = s == BREAKER_OPEN ? BREAKER_OPEN : BREAKER_CLOSED;
            *open_left_ms = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
            rc = 1;
        }
    }
    PQclear(r);
    pthread_mutex_unlock(&sp->lock);
    return rc;
}

static const struct shared_state_ops OPS = {
    .take_token = take_token,
    .breaker_put = breaker_put,
    .breaker_get = breaker_get,
};

struct shared_pg *
shared_pg_open(const char *url, int64_t breaker_refresh_ms, struct intentus_err *err)
{
    struct shared_pg *sp;
    char why[400];

    if (url == NULL ||
        (strncmp(url, "postgres://", 11) != 0 && strncmp(url, "postgresql://", 13) != 0)) {
        err_set(err, IERR_CONFIG,
                "shared state: '%s' is not a postgres:// or postgresql:// URL (shared state "
                "lives in a PostgreSQL database)",
                url != NULL ? url : "");
        return NULL;
    }
    sp = calloc(1, sizeof(*sp));
    if (sp == NULL || (sp->url = strdup(url)) == NULL) {
        free(sp);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    pthread_mutex_init(&sp->lock, NULL);
    sp->state.ops = &OPS;
    sp->state.ctx = sp;
    sp->state.breaker_refresh_ms = breaker_refresh_ms;
    if (connect_now(sp, why, sizeof(why)) != 0) {
        size_t n = strlen(why);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
            why[--n] = '\0';
        err_set(err, IERR_IO, "shared state %s: %s", url, why);
        shared_pg_close(sp);
        return NULL;
    }
    return sp;
}

void
shared_pg_close(struct shared_pg *sp)
{
    if (sp == NULL)
        return;
    if (sp->c != NULL)
        PQfinish(sp->c);
    pthread_mutex_destroy(&sp->lock);
    free(sp->url);
    free(sp);
}

const struct shared_state *
shared_pg_state(const struct shared_pg *sp)
{
    return &sp->state;
}

void
shared_pg_counts(struct shared_pg *sp, uint64_t *calls, uint64_t *unavailable)
{
    pthread_mutex_lock(&sp->lock);
    if (calls != NULL)
        *calls = sp->calls;
    if (unavailable != NULL)
        *unavailable = sp->unavailable;
    pthread_mutex_unlock(&sp->lock);
}
