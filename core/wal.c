#include "core/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/safe_file.h"
#include "core/wal_sign.h"

static const char *const entry_types[] = {
    "execution.created",
    "execution.started",
    "execution.in_progress",
    "execution.completed",
    "execution.failed",
    "execution.aborted",
    "execution.state_transition",
    "step.started",
    "step.completed",
    "step.failed",
    "step.skipped",
    "fallback.triggered",
    "fallback.exhausted",
    "contract.validated",
    "contract.violated",
    "recovery.started",
    "recovery.completed",
    "checkpoint",
    "idempotency.check",
    "idempotency.duplicate",
    "lock.acquired",
    "lock.released",
    "lock.stale_detected",
    "agent.invocation_start",
    "agent.invocation_end",
    NULL,
};

struct wal {
    char *dir;
    int dirfd;
    const struct crypt_keyring *keys; /* seals entries when set (borrowed) */
    enum wal_durability durability;
    const struct wal_signer *signer; /* borrowed; NULL: unsigned entries */
    /* Group commit: files written since the syncer's last pass. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    pthread_t syncer;
    bool has_syncer, stop, dir_dirty;
    struct wal_file **queue;
    size_t n_queue, cap_queue;
    unsigned long long passes_begun, passes_done;
};

struct wal_file {
    struct wal *w;
    int fd;
    int refs;             /* the owner, plus one while queued for or in a sync pass (w->mu) */
    bool in_queue;        /* waiting for the next pass (w->mu) */
    pthread_mutex_t lock; /* appends */
    long long seq;
    off_t size;     /* bytes of the entries accepted so far (lock) */
    int sync_errno; /* a group sync pass failed on this file (w->mu) */
    int pass_errno; /* the syncer's result for this file in its current pass */
    char last_hash[65];
    enum wal_state state;
    /* What new entries are sealed with: the wal's keys, or for a reopened
     * log that is encrypted, the keys that opened it (an encrypted log
     * never gets a plaintext entry, whoever appends to it). */
    const struct crypt_keyring *seal;
    char id[129];
};

static int read_log(const char *dir, const char *id, const struct wal_key *key,
                    const struct crypt_keyring *keys, struct wal_log *out,
                    struct intentus_err *err);

const char *
wal_durability_name(enum wal_durability d)
{
    return d == WAL_GROUP ? "group" : d == WAL_NONE ? "none" : "per_entry";
}

int
wal_durability_parse(const char *text, enum wal_durability *out)
{
    static const enum wal_durability all[] = { WAL_PER_ENTRY, WAL_GROUP, WAL_NONE };

    for (size_t i = 0; text != NULL && i < 3; i++) {
        if (strcmp(text, wal_durability_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    }
    return -1;
}

bool
wal_entry_type_is_known(const char *type)
{
    for (size_t i = 0; type != NULL && entry_types[i] != NULL; i++) {
        if (strcmp(entry_types[i], type) == 0)
            return true;
    }
    return false;
}

const char *
wal_check_name(enum wal_check c)
{
    static const char *const names[] = { "ok", "empty", "torn", "corrupt", "missing", "io" };

    return (unsigned)c <= WAL_IO ? names[c] : "io";
}

int
wal_path(const char *dir, const char *id, const char *suffix, char *buf, size_t size)
{
    if (id == NULL || !rec_store_id_is_valid(id))
        return -1;
    if ((size_t)snprintf(buf, size, "%s/%s%s", dir, id, suffix) >= size)
        return -1;
    return 0;
}

/* mkdir -p with 0700 for the parts it creates. */
static int
mkdirs(const char *dir, struct intentus_err *err)
{
    char path[4096];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(path)) {
        err_set(err, IERR_INVALID, "WAL directory name is empty or too long");
        return -1;
    }
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            err_set(err, IERR_IO, "%s: %s", path, strerror(errno));
            return -1;
        }
        path[i] = i < len ? '/' : '\0';
    }
    return 0;
}

/* The group-commit syncer: each pass takes every file written since the
 * last one, fsyncs them (and the directory when files were created), then
 * wakes the commit points waiting for that pass. */
static void
file_unref_locked(struct wal_file *f)
{
    if (--f->refs > 0)
        return;
    close(f->fd);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static void *
syncer_main(void *arg)
{
    struct wal *w = arg;
    struct wal_file **batch = NULL;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->n_queue == 0 && !w->dir_dirty && !w->stop)
            pthread_cond_wait(&w->cond, &w->mu);
        if (w->n_queue == 0 && !w->dir_dirty && w->stop)
            break;
        free(batch);
        batch = w->queue;
        size_t n = w->n_queue;
        w->queue = NULL;
        w->n_queue = w->cap_queue = 0;
        for (size_t i = 0; i < n; i++)
            batch[i]->in_queue = false;
        bool dir = w->dir_dirty;
        w->dir_dirty = false;
        w->passes_begun++;
        pthread_mutex_unlock(&w->mu);
        if (dir)
            fsync(w->dirfd);
        for (size_t i = 0; i < n; i++)
            batch[i]->pass_errno = fdatasync(batch[i]->fd) != 0 ? errno : 0;
        pthread_mutex_lock(&w->mu);
        for (size_t i = 0; i < n; i++) {
            if (batch[i]->pass_errno != 0 && batch[i]->sync_errno == 0)
                batch[i]->sync_errno = batch[i]->pass_errno;
            file_unref_locked(batch[i]);
        }
        w->passes_done++;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->mu);
    free(batch);
    return NULL;
}

struct wal *
wal_open(const char *dir, const struct wal_opts *opts, struct intentus_err *err)
{
    struct wal *w = calloc(1, sizeof(*w));

    if (w == NULL || (w->dir = strdup(dir)) == NULL) {
        free(w);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    w->dirfd = -1;
    w->durability = opts != NULL ? opts->durability : WAL_PER_ENTRY;
    w->signer = opts != NULL ? opts->signer : NULL;
    w->keys = opts != NULL ? opts->keys : NULL;
    if (w->keys != NULL && crypt_keyring_write_id(w->keys) == NULL) {
        err_set(err, IERR_CONFIG, "WAL directory %s: encryption is on but the keyring holds no key",
                dir);
        free(w->dir);
        free(w);
        return NULL;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    if (opts != NULL && opts->create && mkdirs(dir, err) != 0)
        goto fail;
    w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        err_set(err, errno == ENOENT ? IERR_NOT_FOUND : IERR_IO, "WAL directory %s: %s", dir,
                strerror(errno));
        goto fail;
    }
    if (w->durability == WAL_GROUP) {
        if (pthread_create(&w->syncer, NULL, syncer_main, w) != 0) {
            err_set(err, IERR_NOMEM, "cannot start the WAL syncer thread");
            goto fail;
        }
        w->has_syncer = true;
    }
    return w;
fail:
    wal_close(w);
    return NULL;
}

void
wal_close(struct wal *w)
{
    if (w == NULL)
        return;
    if (w->has_syncer) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->syncer, NULL);
    }
    if (w->dirfd >= 0)
        close(w->dirfd);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w->queue);
    free(w->dir);
    free(w);
}

const char *
wal_dir(const struct wal *w)
{
    return w->dir;
}

enum wal_durability
wal_durability(const struct wal *w)
{
    return w->durability;
}

static struct wal_file *
file_new(struct wal *w, const char *id, int fd)
{
    struct wal_file *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->w = w;
    f->fd = fd;
    f->refs = 1;
    f->state = WAL_STATE_UNKNOWN;
    f->seal = w->keys;
    snprintf(f->id, sizeof(f->id), "%s", id);
    pthread_mutex_init(&f->lock, NULL);
    return f;
}

struct wal_file *
wal_file_create(struct wal *w, const char *id, struct intentus_err *err)
{
    char name[160];
    struct wal_file *f;
    int fd;

    if (wal_path(".", id, ".wal", name, sizeof(name)) != 0) {
        err_set(err, IERR_INVALID, "'%s' is not a valid execution id", id ? id : "");
        return NULL;
    }
    fd = openat(w->dirfd, name + 2, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                0600);
    if (fd < 0) {
        err_set(err, IERR_IO, "%s/%s: %s", w->dir, name + 2, strerror(errno));
        return NULL;
    }
    f = file_new(w, id, fd);
    if (f == NULL) {
        close(fd);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (w->durability == WAL_PER_ENTRY) {
        fsync(w->dirfd); /* the new name is durable before the first commit point */
    } else if (w->durability == WAL_GROUP) {
        pthread_mutex_lock(&w->mu);
        w->dir_dirty = true;
        pthread_mutex_unlock(&w->mu);
    }
    return f;
}

/* Read the log wal_file_reopen continues, refusing a signer mismatch: a
 * signed log needs the wal's signer of the same key (and its signatures
 * are then checked with it), an unsigned one no signer. 0 with log filled
 * (its status may still be bad), -1 with err. */
static int
reopen_read(struct wal *w, const char *id, struct wal_log *log, struct intentus_err *err)
{
    const char *mine = w->signer != NULL ? wal_signer_key_id(w->signer) : NULL;

    const struct crypt_keyring *keys = w->keys != NULL ? w->keys : crypt_reader();

    if (read_log(w->dir, id, NULL, keys, log, err) != 0)
        return -1;
    if (log->status == WAL_MISSING || log->status == WAL_IO || log->status == WAL_EMPTY)
        return 0;
    if (log->is_signed && mine == NULL) {
        /* An unsigned entry after signed ones would fail every later check. */
        err_set(err, IERR_VERIFY,
                "%s/%s.wal is signed (key %s) and no signing key is configured: give "
                "wal.signing_key (the private key of %s) to append to it",
                w->dir, id, log->key_id[0] ? log->key_id : "?", log->key_id[0] ? log->key_id : "?");
        return -1;
    }
    if (!log->is_signed && mine != NULL) {
        err_set(err, IERR_VERIFY,
                "%s/%s.wal is not signed; appending entries signed by key %s would leave it "
                "half-signed (append without wal.signing_key)",
                w->dir, id, mine);
        return -1;
    }
    if (mine == NULL)
        return 0;
    if (strcmp(log->key_id, mine) != 0) {
        err_set(err, IERR_VERIFY,
                "%s/%s.wal is signed by key %.16s, not by the signing key given (key "
                "%s); appending would mix keys",
                w->dir, id, log->key_id, mine);
        return -1;
    }
    /* Every signature is checked before anything is added to the log. */
    wal_log_free(log);
    return read_log(w->dir, id, wal_signer_public(w->signer), keys, log, err);
}

/* Whether the log's first line is a sealed entry. */
static bool
first_line_sealed(struct wal *w, const char *name)
{
    char head[sizeof(CRYPT_WAL_PREFIX)] = { 0 };
    int fd = safe_file_open(w->dirfd, name, name, WAL_MAX_FILE, NULL);
    bool sealed;

    if (fd < 0)
        return false;
    sealed = read(fd, head, sizeof(head) - 1) == (ssize_t)(sizeof(head) - 1) &&
             memcmp(head, CRYPT_WAL_PREFIX, sizeof(head) - 1) == 0;
    close(fd);
    return sealed;
}

struct wal_file *
wal_file_reopen(struct wal *w, const char *id, bool truncate_torn, size_t *truncated,
                struct intentus_err *err)
{
    struct wal_log log = { 0 };
    struct wal_file *f = NULL;
    char name[160];
    const cJSON *last;
    int fd = -1;

    if (truncated != NULL)
        *truncated = 0;
    if (reopen_read(w, id, &log, err) != 0)
        goto out;
    if (log.status == WAL_MISSING || log.status == WAL_IO || log.status == WAL_CORRUPT ||
        (log.status == WAL_TORN && !truncate_torn)) {
        err_set(err, log.status == WAL_MISSING ? IERR_NOT_FOUND : IERR_VERIFY, "%s/%s.wal: %s",
                w->dir, id, log.problem);
        goto out;
    }
    wal_path(".", id, ".wal", name, sizeof(name));
    fd = openat(w->dirfd, name + 2, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        err_set(err, IERR_IO, "%s/%s: %s", w->dir, name + 2, strerror(errno));
        goto out;
    }
    if (log.status == WAL_TORN) {
        if (ftruncate(fd, (off_t)log.good_bytes) != 0 || fdatasync(fd) != 0) {
            err_set(err, IERR_IO, "%s/%s: cannot cut the torn line: %s", w->dir, name + 2,
                    strerror(errno));
            goto out;
        }
        if (truncated != NULL)
            *truncated = log.torn_bytes;
    }
    f = file_new(w, id, fd);
    if (f == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    fd = -1;
    f->seq = (long long)log.n_entries;
    f->size = (off_t)log.good_bytes;
    if (f->seal == NULL && first_line_sealed(w, name + 2))
        f->seal = crypt_reader();
    last = cJSON_GetArrayItem(log.entries, (int)log.n_entries - 1);
    if (last != NULL)
        snprintf(f->last_hash, sizeof(f->last_hash), "%s", json_get_string(last, "entry_hash"));
    f->state = wal_state_reconstruct(log.entries);
out:
    if (fd >= 0)
        close(fd);
    wal_log_free(&log);
    return f;
}

enum wal_state
wal_file_state(const struct wal_file *f)
{
    return f->state;
}

const char *
wal_file_id(const struct wal_file *f)
{
    return f->id;
}

/* The entry as the reference writes it; takes payload. */
static cJSON *
entry_new(const struct wal_file *f, long long seq, const char *type, cJSON *payload,
          struct intentus_err *err)
{
    cJSON *e = cJSON_CreateObject(), *version;
    char ts[CLOCK_ISO_LEN], hash[65];

    clock_now_iso(ts);
    if (e == NULL || cJSON_AddNumberToObject(e, "seq", (double)seq) == NULL ||
        cJSON_AddStringToObject(e, "execution_id", f->id) == NULL ||
        cJSON_AddStringToObject(e, "timestamp_iso", ts) == NULL ||
        cJSON_AddStringToObject(e, "entry_type", type) == NULL) {
        cJSON_Delete(payload);
        goto nomem;
    }
    cJSON_AddItemToObject(e, "payload", payload);
    if ((f->last_hash[0] != '\0' ? cJSON_AddStringToObject(e, "prev_hash", f->last_hash)
                                 : cJSON_AddNullToObject(e, "prev_hash")) == NULL ||
        cJSON_AddStringToObject(e, "version", WAL_VERSION) == NULL)
        goto nomem;
    if (json_canonical_sha256(e, hash, err) != 0) {
        cJSON_Delete(e);
        return NULL;
    }
    version = json_detach(e, "version");
    if (cJSON_AddStringToObject(e, "entry_hash", hash) == NULL) {
        cJSON_Delete(version);
        goto nomem;
    }
    cJSON_AddItemToObject(e, "version", version);
    if (f->w->signer != NULL) {
        char sig[WAL_SIG_B64_LEN + 1];
        if (wal_signer_sign(f->w->signer, hash, sig, err) != 0) {
            cJSON_Delete(e);
            return NULL;
        }
        if (cJSON_AddStringToObject(e, "signature", sig) == NULL ||
            cJSON_AddStringToObject(e, "signer_key_id", wal_signer_key_id(f->w->signer)) == NULL)
            goto nomem;
    }
    return e;
nomem:
    cJSON_Delete(e);
    err_set(err, IERR_NOMEM, NULL);
    return NULL;
}

/* Wait until a sync pass that begins after now has finished (commit), or
 * just queue the file for the next pass. The errno of a failed sync of
 * this file (this pass or an earlier one), else 0. */
static int
group_commit(struct wal_file *f, bool commit)
{
    struct wal *w = f->w;
    unsigned long long target;
    int e;

    pthread_mutex_lock(&w->mu);
    if (f->in_queue)
        goto wait;
    if (w->n_queue == w->cap_queue) {
        size_t cap = w->cap_queue ? w->cap_queue * 2 : 16;
        struct wal_file **q = realloc(w->queue, cap * sizeof(*q));
        if (q == NULL) {
            pthread_mutex_unlock(&w->mu);
            /* no room to queue it: sync it here */
            return fdatasync(f->fd) != 0 ? errno : 0;
        }
        w->queue = q;
        w->cap_queue = cap;
    }
    f->refs++;
    f->in_queue = true;
    w->queue[w->n_queue++] = f;
    pthread_cond_broadcast(&w->cond);
wait:
    target = w->passes_begun + 1;
    while (commit && w->passes_done < target)
        pthread_cond_wait(&w->cond, &w->mu);
    e = f->sync_errno;
    pthread_mutex_unlock(&w->mu);
    return e;
}

int
wal_append(struct wal_file *f, const char *type, cJSON *payload, bool commit,
           struct intentus_err *err)
{
    struct buf line = BUF_INIT, sealed = BUF_INIT;
    enum wal_state next;
    cJSON *e = NULL;
    int rc = -1;

    pthread_mutex_lock(&f->lock);
    if (wal_state_check_entry(f->state, type, payload, &next, err) != 0) {
        cJSON_Delete(payload);
        goto out;
    }
    e = entry_new(f, f->seq + 1, type, payload, err);
    if (e == NULL)
        goto out;
    if (json_print_spaced(e, &line) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    if (f->seal != NULL) {
        /* One sealed line per entry: the entry's JSON never reaches the disk. */
        if (crypt_wal_line_seal(f->seal, line.data, line.len, &sealed, err) != 0)
            goto out;
        explicit_bzero(line.data, line.len);
        buf_reset(&line);
        if (buf_append(&line, sealed.data, sealed.len) != 0) {
            err_set(err, IERR_NOMEM, NULL);
            goto out;
        }
    }
    if (buf_putc(&line, '\n') != 0) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    if (rec_store_write_all(f->fd, line.data, line.len) != 0) {
        err_set(err, IERR_IO, "%s/%s.wal: %s", f->w->dir, f->id, strerror(errno));
        goto cut;
    }
    if (f->w->durability == WAL_PER_ENTRY && fdatasync(f->fd) != 0) {
        err_set(err, IERR_IO, "%s/%s.wal: fsync: %s", f->w->dir, f->id, strerror(errno));
        goto cut;
    }
    /* Only now does the chain advance (the reference's rule). */
    f->seq++;
    f->size += (off_t)line.len;
    snprintf(f->last_hash, sizeof(f->last_hash), "%s", json_get_string(e, "entry_hash"));
    f->state = next;
    rc = 0;
    goto out;
cut:
    /* The entry was not accepted: cut off what part of it reached the file
     * (a full disk takes half a line), so the log stays whole and a later
     * entry does not follow a torn one. */
    if (ftruncate(f->fd, f->size) != 0) {
        /* the reader reports the torn bytes; nothing better to do here */
    }
out:
    pthread_mutex_unlock(&f->lock);
    if (rc == 0 && f->w->durability == WAL_GROUP) {
        int se = group_commit(f, commit);
        if (se != 0) {
            err_set(err, IERR_IO, "%s/%s.wal: fsync: %s", f->w->dir, f->id, strerror(se));
            rc = -1;
        }
    }
    cJSON_Delete(e);
    buf_free(&line);
    buf_free(&sealed);
    return rc;
}

void
wal_file_close(struct wal_file *f)
{
    struct wal *w;

    if (f == NULL)
        return;
    w = f->w;
    if (w->durability == WAL_PER_ENTRY)
        fdatasync(f->fd);
    /* Group: a pending pass holds its own reference and closes the file. */
    pthread_mutex_lock(&w->mu);
    file_unref_locked(f);
    pthread_mutex_unlock(&w->mu);
}

void
wal_file_discard(struct wal_file *f)
{
    char name[160];
    struct wal *w;

    if (f == NULL)
        return;
    w = f->w;
    /* Unlinked first: the name goes even while a sync pass holds the fd. */
    if (wal_path(".", f->id, ".wal", name, sizeof(name)) == 0)
        unlinkat(w->dirfd, name + 2, 0);
    pthread_mutex_lock(&w->mu);
    file_unref_locked(f);
    pthread_mutex_unlock(&w->mu);
}

/* ---- reading ---- */

int
wal_entry_hash(const cJSON *entry, char hex[65], struct intentus_err *err)
{
    static const char *const keys[] = { "seq",     "execution_id", "timestamp_iso", "entry_type",
                                        "payload", "prev_hash",    "version",       NULL };
    cJSON *h = cJSON_CreateObject();
    int rc;

    if (h == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    /* Borrow the members by reference: nothing is copied. */
    for (size_t i = 0; keys[i] != NULL; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, keys[i]);
        if (v != NULL && !cJSON_AddItemReferenceToObject(h, keys[i], v)) {
            cJSON_Delete(h);
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
    }
    rc = json_canonical_sha256(h, hex, err);
    cJSON_Delete(h);
    return rc;
}

static void log_fail(struct wal_log *log, enum wal_check status, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
log_fail(struct wal_log *log, enum wal_check status, size_t line, const char *fmt, ...)
{
    va_list ap;
    int n = 0;

    log->status = status;
    log->bad_line = line;
    if (line > 0)
        n = snprintf(log->problem, sizeof(log->problem), "line %zu: ", line);
    va_start(ap, fmt);
    vsnprintf(log->problem + n, sizeof(log->problem) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Check one parsed line as entry number idx (0-based). 0 ok. */
static int
check_entry(struct wal_log *log, const cJSON *e, size_t idx, size_t line, const char *id,
            const char *prev)
{
    static const char *const required[] = { "seq",        "execution_id", "timestamp_iso",
                                            "entry_type", "payload",      NULL };
    const cJSON *ph = cJSON_GetObjectItemCaseSensitive(e, "prev_hash");
    const char *type = json_get_string(e, "entry_type");
    const char *eid = json_get_string(e, "execution_id");
    const char *hash = json_get_string(e, "entry_hash");
    char computed[65];
    long long seq;

    for (size_t i = 0; required[i] != NULL; i++) {
        if (cJSON_GetObjectItemCaseSensitive(e, required[i]) == NULL) {
            log_fail(log, WAL_CORRUPT, line, "corrupted WAL entry: no '%s'", required[i]);
            return -1;
        }
    }
    if (!wal_entry_type_is_known(type)) {
        log_fail(log, WAL_CORRUPT, line, "corrupted WAL entry: unknown entry_type");
        return -1;
    }
    if (json_get_int64(e, "seq", &seq) != 0) {
        log_fail(log, WAL_CORRUPT, line, "seq is not an integer (entry %zu expected)", idx + 1);
        return -1;
    }
    if (seq != (long long)idx + 1) {
        log_fail(log, WAL_CORRUPT, line,
                 "seq %lld where seq %zu belongs (an entry reordered, removed or inserted)", seq,
                 idx + 1);
        return -1;
    }
    if (eid == NULL || (id != NULL && strcmp(eid, id) != 0)) {
        log_fail(log, WAL_CORRUPT, line, "execution_id '%s' is not this log's ('%s')",
                 eid ? eid : "?", id ? id : "?");
        return -1;
    }
    if (prev == NULL ? !cJSON_IsNull(ph)
                     : !cJSON_IsString(ph) || strcmp(ph->valuestring, prev) != 0) {
        log_fail(log, WAL_CORRUPT, line, "prev_hash does not match the entry_hash of entry %zu",
                 idx);
        return -1;
    }
    if (hash == NULL || wal_entry_hash(e, computed, NULL) != 0 || strcmp(hash, computed) != 0) {
        log_fail(log, WAL_CORRUPT, line, "entry_hash does not match the entry (recomputed %.12s…)",
                 computed);
        return -1;
    }
    return 0;
}

/* Where each verified entry sits: its line and the end of that line. */
struct entry_pos {
    size_t line, end;
};

/* Fail the log at entry k for a signature: the entries before it stay. */
static void
sig_fail(struct wal_log *log, const struct entry_pos *pos, size_t k, long long seq, const char *why)
{
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): pos holds every entry read */
    log_fail(log, WAL_CORRUPT, pos[k].line, "seq %lld: %s", seq, why);
    log->bad_signature = true;
    log->sig_checked = false;
    log->torn_bytes = 0;
    /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): pos holds every entry read */
    log->good_bytes = k > 0 ? pos[k - 1].end : 0;
    while (log->n_entries > k)
        cJSON_DeleteItemFromArray(log->entries, (int)--log->n_entries);
}

/* The signature pass over the verified entries (see wal_read_key). */
static void
check_signatures(struct wal_log *log, const struct entry_pos *pos, const struct wal_key *key)
{
    const cJSON *e;
    size_t k = 0;

    cJSON_ArrayForEach(e, log->entries)
    {
        const char *kid = json_get_string(e, "signer_key_id");
        if (cJSON_GetObjectItemCaseSensitive(e, "signature") != NULL || kid != NULL) {
            log->is_signed = true;
            if (kid != NULL && log->key_id[0] == '\0')
                snprintf(log->key_id, sizeof(log->key_id), "%s", kid);
        }
    }
    if (!log->is_signed && key == NULL)
        return;
    log->sig_checked = key != NULL;
    cJSON_ArrayForEach(e, log->entries)
    {
        const char *sig = json_get_string(e, "signature");
        const char *kid = json_get_string(e, "signer_key_id");
        struct intentus_err verr = { 0 };
        long long seq = 0;
        char why[200];

        json_get_int64(e, "seq", &seq);
        if (sig == NULL || kid == NULL) {
            snprintf(why, sizeof(why), "no %s (%s)", sig == NULL ? "signature" : "signer_key_id",
                     log->is_signed ? "the log is signed, so every entry must be"
                                    : "a public key was given, so every entry must be signed");
            sig_fail(log, pos, k, seq, why);
            return;
        }
        if (key != NULL && strcmp(kid, wal_key_id(key)) != 0) {
            snprintf(why, sizeof(why), "signed by key %.40s, not by the given key %s", kid,
                     wal_key_id(key));
            sig_fail(log, pos, k, seq, why);
            return;
        }
        if (key != NULL && wal_key_verify(key, json_get_string(e, "entry_hash"), sig, &verr) != 0) {
            snprintf(why, sizeof(why), "%.190s", verr.msg);
            sig_fail(log, pos, k, seq, why);
            return;
        }
        k++;
    }
}

static int
parse_log(const char *text, size_t len, const char *id, const struct wal_key *key,
          const struct crypt_keyring *keys, struct wal_log *out, struct intentus_err *err)
{
    struct entry_pos *pos = NULL;
    const char *prev = NULL;
    size_t at = 0, line = 0, cap = 0;

    memset(out, 0, sizeof(*out));
    out->entries = cJSON_CreateArray();
    if (out->entries == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;
        struct intentus_err perr = { 0 };
        bool blank = true;
        cJSON *e;
        line++;
        if (nl == NULL) {
            /* The last write did not finish: never accepted, never repaired. */
            out->torn_bytes = len - at;
            log_fail(out, WAL_TORN, line,
                     "torn final line: %zu bytes without a newline after entry %zu",
                     out->torn_bytes, out->n_entries);
            goto done;
        }
        for (size_t i = at; i < end && blank; i++)
            blank = text[i] == ' ' || text[i] == '\t' || text[i] == '\r';
        if (!blank) {
            size_t plen = 0;
            enum crypt_status cst;
            char *plain =
                crypt_wal_line_open(keys, text + at, end - at, "entry", &plen, &cst, &perr);
            if (plain == NULL && perr.code == IERR_NOMEM) {
                free(pos);
                wal_log_free(out);
                err_set(err, IERR_NOMEM, NULL);
                return -1;
            }
            if (plain == NULL) {
                log_fail(out, WAL_CORRUPT, line, "%s", perr.msg);
                goto done;
            }
            e = json_parse(plain, plen, 0, &perr);
            explicit_bzero(plain, plen);
            free(plain);
            if (e == NULL || !cJSON_IsObject(e)) {
                cJSON_Delete(e);
                log_fail(out, WAL_CORRUPT, line, "corrupted WAL entry: %s",
                         perr.msg[0] ? perr.msg : "not a JSON object");
                goto done;
            }
            if (check_entry(out, e, out->n_entries, line, id, prev) != 0) {
                cJSON_Delete(e);
                goto done;
            }
            if (out->n_entries == cap) {
                struct entry_pos *p = realloc(pos, (cap = cap ? cap * 2 : 64) * sizeof(*p));
                if (p == NULL) {
                    cJSON_Delete(e);
                    free(pos);
                    wal_log_free(out);
                    err_set(err, IERR_NOMEM, NULL);
                    return -1;
                }
                pos = p;
            }
            /* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): grown above when full */
            pos[out->n_entries] = (struct entry_pos){ line, end + 1 };
            cJSON_AddItemToArray(out->entries, e);
            out->n_entries++;
            prev = json_get_string(e, "entry_hash");
        }
        at = end + 1;
        out->good_bytes = at;
    }
    out->status = out->n_entries == 0 ? WAL_EMPTY : WAL_OK;
    if (out->status == WAL_EMPTY)
        snprintf(out->problem, sizeof(out->problem), "Empty WAL");
done:
    check_signatures(out, pos, key);
    free(pos);
    return 0;
}

int
wal_parse(const char *text, size_t len, const char *id, struct wal_log *out,
          struct intentus_err *err)
{
    return parse_log(text, len, id, NULL, crypt_reader(), out, err);
}

int
wal_read(const char *dir, const char *id, struct wal_log *out, struct intentus_err *err)
{
    return wal_read_key(dir, id, NULL, out, err);
}

int
wal_read_key(const char *dir, const char *id, const struct wal_key *key, struct wal_log *out,
             struct intentus_err *err)
{
    return read_log(dir, id, key, crypt_reader(), out, err);
}

static int
read_log(const char *dir, const char *id, const struct wal_key *key,
         const struct crypt_keyring *keys, struct wal_log *out, struct intentus_err *err)
{
    struct intentus_err ferr = { 0 };
    char path[4096];
    char *text;
    size_t n = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if (wal_path(dir, id, ".wal", path, sizeof(path)) != 0) {
        err_set(err, IERR_INVALID, "'%s' is not a valid execution id", id ? id : "");
        return -1;
    }
    /* Never blocks: a FIFO or device under the name is refused, not opened
     * for a read that waits forever. */
    text = safe_file_read(path, WAL_MAX_FILE, &n, &ferr);
    if (text == NULL) {
        if (ferr.code == IERR_NOMEM) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        out->status = ferr.code == IERR_NOT_FOUND ? WAL_MISSING : WAL_IO;
        if (ferr.code == IERR_NOT_FOUND)
            snprintf(out->problem, sizeof(out->problem), "%.160s: no WAL for this execution", path);
        else
            snprintf(out->problem, sizeof(out->problem), "%s", ferr.msg);
        return 0;
    }
    rc = parse_log(text, n, id, key, keys, out, err);
    free(text);
    return rc;
}

void
wal_log_free(struct wal_log *log)
{
    if (log == NULL)
        return;
    cJSON_Delete(log->entries);
    log->entries = NULL;
    log->n_entries = 0;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
wal_list(const char *dir, char ***ids, size_t *n, struct intentus_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;
    size_t cap = 0;

    *ids = NULL;
    *n = 0;
    if (d == NULL) {
        err_set(err, errno == ENOENT ? IERR_NOT_FOUND : IERR_IO, "%s: %s", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        char *id;
        if (de->d_name[0] == '.' || len <= 4 || strcmp(de->d_name + len - 4, ".wal") != 0)
            continue;
        id = strndup(de->d_name, len - 4);
        if (id != NULL && !rec_store_id_is_valid(id)) {
            free(id);
            continue;
        }
        if (id == NULL ||
            (*n == cap && (v = realloc(*ids, (cap = cap ? cap * 2 : 16) * sizeof(*v))) == NULL)) {
            free(id);
            closedir(d);
            wal_list_free(*ids, *n);
            *ids = NULL;
            *n = 0;
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        *ids = v;
        (*ids)[(*n)++] = id;
    }
    closedir(d);
    if (*n > 1)
        qsort(*ids, *n, sizeof(**ids), cmp_str);
    return 0;
}

void
wal_list_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}
