/* The PostgreSQL record store engine (libpq): "postgres://..." and
 * "postgresql://..." URLs, any libpq connection URI, plus one parameter of
 * our own that libpq never sees:
 *
 *   spool=DIR   where records go while the database is unreachable
 *               (default $XDG_STATE_HOME/intentus/spool/HOST-PORT-DB,
 *               else ~/.local/state/intentus/spool/HOST-PORT-DB).
 *
 * Schema (created on first open, under an advisory lock so several
 * processes may open a fresh database at once; see README "PostgreSQL"):
 *
 *   intentus_records  id TEXT PRIMARY KEY, the index columns of
 *                     watch/index_db.c (created_us, intent, strategy, agent,
 *                     status, error_code, node, duration_us, attempts,
 *                     retries, events, flags, file_size, note), the agents
 *                     tried / failed and failed codes as TEXT[] (what the
 *                     index's attempts table answers), and body BYTEA: the
 *                     record text byte for byte as the file engine writes it;
 *   intentus_feed     seq (identity) -> id, in commit order: a writer takes
 *                     a transaction advisory lock for the few microseconds of
 *                     its feed insert and commit, so a follower that has seen
 *                     seq N has seen everything committed before it;
 *   intentus_meta     schema version.
 *
 * Many writers at once: the execution id is the primary key and put is
 * INSERT ... ON CONFLICT DO NOTHING followed by a byte comparison, so the
 * same record put twice (by a retry, a replayed spool, a second router) is
 * stored once, and a different record under a taken id is an error.
 *
 * Follow: commits NOTIFY channel intentus_records; store_follow LISTENs and
 * waits on the connection's socket, so a follower on any machine wakes when
 * a record is committed anywhere.
 *
 * Outages: a put or commit that finds the connection gone writes the
 * record(s) of the open batch, and every later put, to the spool directory
 * (one file per record, <counter>.<id>.json, fsync'd when the store is).
 * Reconnection is tried with exponential backoff (100 ms doubling to 5 s);
 * once connected, the spool is replayed in order before anything new is
 * written, each file removed after its commit. A crash between the commit
 * and the removal replays that file again, which the idempotent put makes
 * harmless: nothing lost, nothing doubled. */
#ifndef INTENTUS_WATCH_STORE_PG_H
#define INTENTUS_WATCH_STORE_PG_H

#include "core/store.h"

extern const struct store_engine store_engine_postgres;

struct store;
/* Records waiting in the spool of a PostgreSQL store (0 for other stores);
 * -1 when the spool directory cannot be read. */
long store_pg_spooled(struct store *s);
/* How many times a following handle (store_follow) was told records were
 * deleted: a NOTIFY on intentus_deleted from any process's delete, and
 * one for each LISTEN (deletions while not listening are not told). A
 * reader that sees it change knows some records it holds may be gone. 0
 * for other stores. */
long long store_pg_deletes_seen(const struct store *s);
/* The spool directory of a PostgreSQL store (NULL for other stores). */
const char *store_pg_spool_dir(const struct store *s);

#endif
