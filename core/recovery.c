#include "core/recovery.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/model.h"
#include "core/rec_store.h"
#include "core/safe_file.h"
#include "core/store.h"

void
recovery_item_free(struct recovery_item *it)
{
    if (it == NULL)
        return;
    cJSON_Delete(it->completed_steps);
    cJSON_Delete(it->irreversible);
    cJSON_Delete(it->pending_steps);
    it->completed_steps = it->irreversible = it->pending_steps = NULL;
}

void
recovery_items_free(struct recovery_item *items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++)
        recovery_item_free(&items[i]);
    free(items);
}

/* Remove the string s from array a (first match). */
static void
drop_string(cJSON *a, const char *s)
{
    int i = 0;
    const cJSON *v;

    cJSON_ArrayForEach(v, a)
    {
        if (cJSON_IsString(v) && strcmp(v->valuestring, s) == 0) {
            cJSON_DeleteItemFromArray(a, i);
            return;
        }
        i++;
    }
}

/* Walk the entries: completed, pending and irreversible steps. */
static void
walk_steps(struct recovery_item *out, const cJSON *entries)
{
    const cJSON *e;

    cJSON_ArrayForEach(e, entries)
    {
        const char *type = json_get_string(e, "entry_type");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "payload");
        const char *step = json_get_string(p, "step_id");
        if (type == NULL)
            continue;
        if (strcmp(type, "recovery.started") == 0)
            out->resumed = true;
        if (step == NULL)
            continue;
        if (strcmp(type, "step.started") == 0) {
            const char *se = json_get_string(p, "side_effect");
            cJSON_AddItemToArray(out->pending_steps, cJSON_CreateString(step));
            if (se != NULL && strcmp(se, "irreversible") == 0)
                cJSON_AddItemToArray(out->irreversible, cJSON_CreateString(step));
        } else if (strcmp(type, "step.completed") == 0) {
            drop_string(out->pending_steps, step);
            cJSON_AddItemToArray(out->completed_steps, cJSON_CreateString(step));
        } else if (strcmp(type, "step.failed") == 0 || strcmp(type, "step.skipped") == 0) {
            drop_string(out->pending_steps, step);
            drop_string(out->irreversible, step);
        }
    }
}

/* The first pending step that is irreversible, or NULL. */
static const char *
pending_irreversible(const struct recovery_item *it)
{
    const cJSON *p, *i;

    cJSON_ArrayForEach(p, it->pending_steps)
    {
        cJSON_ArrayForEach(i, it->irreversible)
        {
            if (strcmp(p->valuestring, i->valuestring) == 0)
                return p->valuestring;
        }
    }
    return NULL;
}

/* The router's execution.failed for an execution whose record was not
 * written (record_written false): true, with the reason set. */
static bool
unrecorded_failure(const cJSON *entries, struct recovery_item *out)
{
    const cJSON *e, *last = NULL, *p, *flag;

    cJSON_ArrayForEach(e, entries)
    {
        const char *type = json_get_string(e, "entry_type");
        if (type != NULL && strcmp(type, "execution.failed") == 0)
            last = e;
    }
    p = cJSON_GetObjectItemCaseSensitive(last, "payload");
    flag = cJSON_GetObjectItemCaseSensitive(p, "record_written");
    if (!cJSON_IsFalse(flag))
        return false;
    snprintf(out->reason, sizeof(out->reason),
             "Record missing: the execution ran to its end but its record was not written "
             "(%.250s); resuming would repeat it",
             json_get_string(p, "record_error") ? json_get_string(p, "record_error") : "?");
    return true;
}

int
recovery_analyze_log(const struct wal_log *log, const char *id, struct recovery_item *out,
                     struct intentus_err *err)
{
    const cJSON *last;
    const char *step;

    memset(out, 0, sizeof(*out));
    snprintf(out->execution_id, sizeof(out->execution_id), "%s", id);
    out->wal_status = log->status;
    out->entries = log->n_entries;
    out->completed_steps = cJSON_CreateArray();
    out->irreversible = cJSON_CreateArray();
    out->pending_steps = cJSON_CreateArray();
    if (out->completed_steps == NULL || out->irreversible == NULL || out->pending_steps == NULL) {
        recovery_item_free(out);
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    out->is_signed = log->is_signed;
    out->sig_checked = log->sig_checked;
    snprintf(out->key_id, sizeof(out->key_id), "%s", log->key_id);
    walk_steps(out, log->entries);
    out->state = wal_state_reconstruct(log->entries);
    last = cJSON_GetArrayItem(log->entries, (int)log->n_entries - 1);
    snprintf(out->last_entry_type, sizeof(out->last_entry_type), "%s",
             last ? json_get_string(last, "entry_type") : "");
    snprintf(out->last_timestamp, sizeof(out->last_timestamp), "%s",
             last ? json_get_string(last, "timestamp_iso") : "");
    switch (log->status) {
    case WAL_OK:
        break;
    case WAL_EMPTY:
        snprintf(out->reason, sizeof(out->reason), "Empty WAL");
        return 0;
    case WAL_CORRUPT:
        out->state = WAL_STATE_FAILED;
        /* fall through */
    default:
        snprintf(out->reason, sizeof(out->reason), "WAL integrity check failed: %s", log->problem);
        return 0;
    }
    if (out->state == WAL_STATE_FAILED && unrecorded_failure(log->entries, out)) {
        /* It ran to its end; only its record is missing. Resuming would
         * repeat the work. */
        out->record_missing = true;
        return 0;
    }
    if (out->state == WAL_STATE_COMPLETED || out->state == WAL_STATE_FAILED ||
        out->state == WAL_STATE_ABORTED) {
        snprintf(out->reason, sizeof(out->reason), "Execution already in terminal state: %s",
                 wal_state_name(out->state));
        return 0;
    }
    step = pending_irreversible(out);
    if (step != NULL) {
        snprintf(out->reason, sizeof(out->reason),
                 "Step %.120s has an irreversible side effect and started without finishing: "
                 "the side effect may have happened, so resuming is not safe",
                 step);
        return 0;
    }
    out->can_resume = true;
    snprintf(out->reason, sizeof(out->reason), "Execution can be safely resumed");
    return 0;
}

static int
analyze_key(const char *wal_dir, const char *id, const struct wal_key *key,
            struct recovery_item *out, struct intentus_err *err)
{
    struct wal_log log;
    int rc;

    if (wal_read_key(wal_dir, id, key, &log, err) != 0)
        return -1;
    rc = recovery_analyze_log(&log, id, out, err);
    wal_log_free(&log);
    return rc;
}

int
recovery_analyze(const char *wal_dir, const char *id, struct recovery_item *out,
                 struct intentus_err *err)
{
    struct wal_log log;
    int rc;

    if (wal_read(wal_dir, id, &log, err) != 0)
        return -1;
    rc = recovery_analyze_log(&log, id, out, err);
    wal_log_free(&log);
    return rc;
}

static bool
is_incomplete(const struct recovery_item *it)
{
    if (it->wal_status == WAL_EMPTY || it->wal_status == WAL_MISSING)
        return false;
    if (it->wal_status != WAL_OK || it->record_missing)
        return true;
    return it->state != WAL_STATE_COMPLETED && it->state != WAL_STATE_FAILED &&
           it->state != WAL_STATE_ABORTED;
}

/* The records directory, or NULL when there is none (then no record
 * exists). -1 when it cannot be opened for another reason. */
static int
open_records(const char *records_dir, struct rec_store **rs, struct intentus_err *err)
{
    struct intentus_err e = { 0 };

    *rs = NULL;
    if (records_dir == NULL)
        return 0;
    *rs = rec_store_open(records_dir, NULL, &e);
    if (*rs == NULL && e.code != IERR_NOT_FOUND) {
        err_set(err, e.code, "records directory %s", e.msg);
        return -1;
    }
    return 0;
}

/* An incomplete log whose record exists: the router writes the record
 * first and the WAL's terminal entry after it, so a crash between the two
 * leaves exactly this. The execution finished; it must not be resumed. */
/* The record id through st (core/store.h), parsed: NULL with e set when
 * it is not there (IERR_NOT_FOUND) or cannot be read or parsed. */
static cJSON *
store_load(struct store *st, const char *id, struct intentus_err *e)
{
    size_t len = 0;
    char *text = store_get_open(st, id, &len, NULL, e);
    cJSON *rec;

    if (text == NULL)
        return NULL;
    rec = cJSON_ParseWithLength(text, len);
    free(text);
    if (rec == NULL)
        err_set(e, IERR_PARSE, "record %s in %s is not JSON", id, store_url(st));
    return rec;
}

static void
check_record(struct rec_store *rs, struct store *st, struct recovery_item *it)
{
    struct intentus_err e = { 0 };
    const cJSON *final;
    cJSON *rec;

    if ((rs == NULL && st == NULL) || !is_incomplete(it) || it->record_missing)
        return;
    rec = st != NULL ? store_load(st, it->execution_id, &e)
                     : rec_store_load(rs, it->execution_id, &e);
    if (rec == NULL && e.code == IERR_NOT_FOUND)
        return;
    it->record_exists = true;
    it->can_resume = false;
    if (rec == NULL) {
        snprintf(it->record_outcome, sizeof(it->record_outcome), "unreadable");
        snprintf(it->reason, sizeof(it->reason),
                 "Record exists but cannot be read (%.200s): the execution reached its end; "
                 "its WAL was not closed, so resuming is not safe",
                 e.msg);
        return;
    }
    final = cJSON_GetObjectItemCaseSensitive(rec, "finalResponse");
    snprintf(it->record_outcome, sizeof(it->record_outcome), "%s",
             response_is_error(final) ? "error" : "success");
    if (it->wal_status == WAL_CORRUPT || it->wal_status == WAL_IO) {
        /* A damaged or unreadable log stays named: that is what needs an
         * operator; the record only says the execution ran to its end. */
        char wal_problem[sizeof(it->reason)];
        snprintf(wal_problem, sizeof(wal_problem), "%s", it->reason);
        snprintf(it->reason, sizeof(it->reason), "%.250s; record exists (%s): not resumable",
                 wal_problem, it->record_outcome);
        cJSON_Delete(rec);
        return;
    }
    snprintf(it->reason, sizeof(it->reason),
             "Record exists (%s): the execution finished and was recorded, but its WAL was "
             "not closed (stopped between the record and the WAL's last entry); not resumable, "
             "close it with 'recovery close'",
             it->record_outcome);
    cJSON_Delete(rec);
}

int
recovery_analyze_records(const char *wal_dir, const char *records_dir, const char *id,
                         struct recovery_item *out, struct intentus_err *err)
{
    struct rec_store *rs;

    if (open_records(records_dir, &rs, err) != 0)
        return -1;
    if (recovery_analyze(wal_dir, id, out, err) != 0) {
        rec_store_close(rs);
        return -1;
    }
    check_record(rs, NULL, out);
    rec_store_close(rs);
    return 0;
}

/* recovery_analyze_records on t: the record looked up through t->store
 * when it is set, else in t->records_dir. */
static int
analyze_target(const struct recovery_target *t, const char *id, struct recovery_item *out,
               struct intentus_err *err)
{
    if (t->store == NULL)
        return recovery_analyze_records(t->wal_dir, t->records_dir, id, out, err);
    if (recovery_analyze(t->wal_dir, id, out, err) != 0)
        return -1;
    check_record(NULL, t->store, out);
    return 0;
}

/* Every log in wal_dir that did not finish, read with key (NULL: signatures
 * not checked), each checked against its record in records_dir (NULL: no
 * record check). */
static int
scan(const char *wal_dir, const struct wal_key *key, const char *records_dir, struct store *st,
     struct recovery_item **items, size_t *n, struct intentus_err *err)
{
    struct rec_store *rs;
    char **ids;
    size_t n_ids;

    *items = NULL;
    *n = 0;
    if (wal_list(wal_dir, &ids, &n_ids, err) != 0)
        return -1;
    if (open_records(records_dir, &rs, err) != 0) {
        wal_list_free(ids, n_ids);
        return -1;
    }
    *items = calloc(n_ids + 1, sizeof(**items));
    if (*items == NULL) {
        wal_list_free(ids, n_ids);
        rec_store_close(rs);
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    for (size_t i = 0; i < n_ids; i++) {
        struct recovery_item *it = &(*items)[*n];
        if (analyze_key(wal_dir, ids[i], key, it, err) != 0) {
            wal_list_free(ids, n_ids);
            rec_store_close(rs);
            recovery_items_free(*items, *n);
            *items = NULL;
            *n = 0;
            return -1;
        }
        check_record(rs, st, it);
        if (is_incomplete(it))
            (*n)++;
        else
            recovery_item_free(it);
    }
    wal_list_free(ids, n_ids);
    rec_store_close(rs);
    return 0;
}

int
recovery_scan(const char *wal_dir, struct recovery_item **items, size_t *n,
              struct intentus_err *err)
{
    return scan(wal_dir, NULL, NULL, NULL, items, n, err);
}

int
recovery_scan_key(const char *wal_dir, const struct wal_key *key, struct recovery_item **items,
                  size_t *n, struct intentus_err *err)
{
    return scan(wal_dir, key, NULL, NULL, items, n, err);
}

int
recovery_scan_records(const char *wal_dir, const char *records_dir, struct recovery_item **items,
                      size_t *n, struct intentus_err *err)
{
    return scan(wal_dir, NULL, records_dir, NULL, items, n, err);
}

int
recovery_scan_full(const char *wal_dir, const struct wal_key *key, const char *records_dir,
                   struct recovery_item **items, size_t *n, struct intentus_err *err)
{
    return scan(wal_dir, key, records_dir, NULL, items, n, err);
}

int
recovery_scan_store(const char *wal_dir, const struct wal_key *key, struct store *st,
                    struct recovery_item **items, size_t *n, struct intentus_err *err)
{
    return scan(wal_dir, key, NULL, st, items, n, err);
}

cJSON *
recovery_item_json(const struct recovery_item *it)
{
    cJSON *o = cJSON_CreateObject();

    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "execution_id", it->execution_id);
    cJSON_AddBoolToObject(o, "can_resume", it->can_resume);
    cJSON_AddStringToObject(o, "reason", it->reason);
    cJSON_AddStringToObject(o, "state", wal_state_name(it->state));
    cJSON_AddItemToObject(o, "completed_steps", cJSON_Duplicate(it->completed_steps, 1));
    cJSON_AddItemToObject(o, "irreversible_steps_executed", cJSON_Duplicate(it->irreversible, 1));
    cJSON_AddItemToObject(o, "pending_steps", cJSON_Duplicate(it->pending_steps, 1));
    cJSON_AddStringToObject(o, "wal_status", wal_check_name(it->wal_status));
    cJSON_AddNumberToObject(o, "entries", (double)it->entries);
    cJSON_AddBoolToObject(o, "resumed", it->resumed);
    cJSON_AddBoolToObject(o, "record_exists", it->record_exists);
    if (it->record_exists)
        cJSON_AddStringToObject(o, "record_outcome", it->record_outcome);
    cJSON_AddBoolToObject(o, "record_missing", it->record_missing);
    cJSON_AddStringToObject(o, "last_entry_type", it->last_entry_type);
    cJSON_AddStringToObject(o, "last_timestamp", it->last_timestamp);
    cJSON_AddStringToObject(o, "signatures",
                            !it->is_signed    ? "unsigned"
                            : it->sig_checked ? "checked"
                                              : "not checked");
    if (it->key_id[0] != '\0')
        cJSON_AddStringToObject(o, "signer_key_id", it->key_id);
    return o;
}

/* ---- locking ---- */

struct recovery_lock {
    int fd;
    char path[4096];
};

/* "Lock held by PID <pid> on <host>" from an existing lock file; true when
 * the file names a live holder (not stale). */
static bool
lock_is_live(const char *path, int64_t stale_ms, char *who, size_t size)
{
    char *text;
    size_t len;
    cJSON *o;
    long long pid = 0;
    const cJSON *at;
    bool live = false;

    /* A FIFO or anything but a small regular file: unparseable. */
    text = safe_file_read(path, 4096, &len, NULL);
    o = text != NULL && len > 0 ? json_parse(text, len, 8, NULL) : NULL;
    free(text);
    if (o == NULL)
        return false; /* unparseable: the flock decides */
    at = cJSON_GetObjectItemCaseSensitive(o, "acquired_at");
    if (json_get_int64(o, "pid", &pid) == 0 && pid > 0 && kill((pid_t)pid, 0) == 0)
        live = !(cJSON_IsNumber(at) &&
                 (double)clock_wall_us() / 1e6 - at->valuedouble > (double)stale_ms / 1000.0);
    snprintf(who, size, "Lock held by PID %lld on %s", pid,
             json_get_string(o, "hostname") ? json_get_string(o, "hostname") : "?");
    cJSON_Delete(o);
    return live;
}

struct recovery_lock *
recovery_lock_acquire(const char *wal_dir, const char *id, int64_t stale_ms,
                      struct intentus_err *err)
{
    struct recovery_lock *l = calloc(1, sizeof(*l));
    char who[300], host[256] = "", *text = NULL;
    struct stat a, b;
    cJSON *o = NULL;
    struct buf j = BUF_INIT;

    if (l == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    l->fd = -1;
    if (wal_path(wal_dir, id, ".lock", l->path, sizeof(l->path)) != 0) {
        err_set(err, IERR_INVALID, "'%s' is not a valid execution id", id ? id : "");
        goto fail;
    }
    if (lock_is_live(l->path, stale_ms, who, sizeof(who))) {
        err_set(err, IERR_LIMIT, "%s", who);
        goto fail;
    }
    for (int tries = 0; tries < 5; tries++) {
        /* A stale or dead holder's file goes; a live holder keeps its flock
         * on the old inode, which the inode check below notices. */
        if (access(l->path, F_OK) == 0 && !lock_is_live(l->path, stale_ms, who, sizeof(who)))
            unlink(l->path);
        l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (l->fd < 0) {
            err_set(err, IERR_IO, "%s: %s", l->path, strerror(errno));
            goto fail;
        }
        if (flock(l->fd, LOCK_EX | LOCK_NB) != 0) {
            lock_is_live(l->path, INT64_MAX, who, sizeof(who));
            err_set(err, IERR_LIMIT, "%s", who);
            goto fail;
        }
        /* The file we locked must still be the one at the path. */
        if (fstat(l->fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            break;
        close(l->fd);
        l->fd = -1;
    }
    if (l->fd < 0) {
        err_set(err, IERR_LIMIT, "%s: the lock file keeps changing", l->path);
        goto fail;
    }
    gethostname(host, sizeof(host) - 1);
    o = cJSON_CreateObject();
    if (o == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto fail;
    }
    cJSON_AddStringToObject(o, "execution_id", id);
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    cJSON_AddStringToObject(o, "hostname", host);
    cJSON_AddNumberToObject(o, "acquired_at", (double)clock_wall_us() / 1e6);
    if (json_print_spaced(o, &j) != 0 || ftruncate(l->fd, 0) != 0 ||
        pwrite(l->fd, j.data, j.len, 0) != (ssize_t)j.len) {
        err_set(err, IERR_IO, "%s: cannot write the lock", l->path);
        unlink(l->path);
        goto fail;
    }
    cJSON_Delete(o);
    buf_free(&j);
    free(text);
    return l;
fail:
    cJSON_Delete(o);
    buf_free(&j);
    free(text);
    if (l->fd >= 0)
        close(l->fd);
    free(l);
    return NULL;
}

void
recovery_lock_release(struct recovery_lock *l)
{
    if (l == NULL)
        return;
    /* Unlink while still holding it, so no one locks a name about to go. */
    unlink(l->path);
    flock(l->fd, LOCK_UN);
    close(l->fd);
    free(l);
}

/* ---- resume and abort ---- */

int
recovery_resume(const char *wal_dir, const char *id, struct recovery_item *out,
                struct intentus_err *err)
{
    return recovery_resume_records(wal_dir, NULL, id, out, err);
}

int
recovery_resume_records(const char *wal_dir, const char *records_dir, const char *id,
                        struct recovery_item *out, struct intentus_err *err)
{
    return recovery_resume_to(&(struct recovery_target){ wal_dir, records_dir, NULL, NULL }, id,
                              out, err);
}

int
recovery_resume_to(const struct recovery_target *t, const char *id, struct recovery_item *out,
                   struct intentus_err *err)
{
    const char *wdir = t->wal_dir;
    struct recovery_lock *lock = recovery_lock_acquire(wdir, id, RECOVERY_STALE_LOCK_MS, err);
    struct recovery_item it = { 0 };
    struct wal *w = NULL;
    struct wal_file *f = NULL;
    cJSON *p;
    int rc = -1;

    if (lock == NULL)
        return -1;
    if (analyze_target(t, id, &it, err) != 0)
        goto out;
    if (it.wal_status == WAL_MISSING) {
        err_set(err, IERR_NOT_FOUND, "no WAL for execution %s in %s", id, wdir);
        goto out;
    }
    if (!it.can_resume) {
        err_set(err, IERR_VERIFY, "cannot resume %s: %s", id, it.reason);
        goto out;
    }
    w = wal_open(wdir, &(struct wal_opts){ .durability = WAL_PER_ENTRY, .signer = t->signer }, err);
    f = w != NULL ? wal_file_reopen(w, id, false, NULL, err) : NULL;
    if (f == NULL)
        goto out;
    p = cJSON_CreateObject();
    if (p != NULL) {
        cJSON_AddItemToObject(p, "completed_steps", cJSON_Duplicate(it.completed_steps, 1));
        cJSON_AddStringToObject(p, "state", wal_state_name(it.state));
    }
    if (p == NULL || wal_append(f, "recovery.started", p, true, err) != 0)
        goto out;
    wal_file_close(f);
    f = NULL;
    rc = 0;
    if (out != NULL) {
        recovery_item_free(&it);
        rc = analyze_target(t, id, out, err);
    }
out:
    wal_file_close(f);
    wal_close(w);
    recovery_item_free(&it);
    recovery_lock_release(lock);
    return rc;
}

int
recovery_abort(const char *wal_dir, const char *id, const char *reason, size_t *truncated,
               struct intentus_err *err)
{
    return recovery_abort_to(&(struct recovery_target){ wal_dir, NULL, NULL, NULL }, id, reason,
                             truncated, err);
}

int
recovery_abort_to(const struct recovery_target *t, const char *id, const char *reason,
                  size_t *truncated, struct intentus_err *err)
{
    const char *wdir = t->wal_dir;
    struct recovery_lock *lock = recovery_lock_acquire(wdir, id, RECOVERY_STALE_LOCK_MS, err);
    struct wal *w = NULL;
    struct wal_file *f = NULL;
    cJSON *p;
    int rc = -1;

    if (lock == NULL)
        return -1;
    w = wal_open(wdir, &(struct wal_opts){ .durability = WAL_PER_ENTRY, .signer = t->signer }, err);
    f = w != NULL ? wal_file_reopen(w, id, true, truncated, err) : NULL;
    if (f == NULL)
        goto out;
    p = cJSON_CreateObject();
    if (p != NULL) {
        cJSON_AddStringToObject(p, "reason", reason != NULL ? reason : "");
        cJSON_AddStringToObject(p, "aborted_by", "recovery_manager");
    }
    if (p == NULL || wal_append(f, "execution.aborted", p, true, err) != 0)
        goto out;
    rc = 0;
out:
    wal_file_close(f);
    wal_close(w);
    recovery_lock_release(lock);
    return rc;
}

int
recovery_close(const char *wal_dir, const char *records_dir, const char *id, size_t *truncated,
               struct recovery_item *out, struct intentus_err *err)
{
    return recovery_close_to(&(struct recovery_target){ wal_dir, records_dir, NULL, NULL }, id,
                             truncated, out, err);
}

int
recovery_close_to(const struct recovery_target *t, const char *id, size_t *truncated,
                  struct recovery_item *out, struct intentus_err *err)
{
    const char *wdir = t->wal_dir;
    struct recovery_lock *lock = recovery_lock_acquire(wdir, id, RECOVERY_STALE_LOCK_MS, err);
    struct recovery_item it = { 0 };
    struct wal *w = NULL;
    struct wal_file *f = NULL;
    bool ok;
    cJSON *p;
    int rc = -1;

    if (truncated != NULL)
        *truncated = 0;
    if (lock == NULL)
        return -1;
    if (analyze_target(t, id, &it, err) != 0)
        goto out;
    if (it.wal_status == WAL_MISSING) {
        err_set(err, IERR_NOT_FOUND, "no WAL for execution %s in %s", id, wdir);
        goto out;
    }
    if (!it.record_exists || strcmp(it.record_outcome, "unreadable") == 0) {
        err_set(err, IERR_VERIFY, "cannot close %s from its record: %s", id,
                it.record_exists   ? it.reason
                : t->store != NULL ? "no record of it in the store"
                                   : "no record of it in the records directory");
        goto out;
    }
    ok = strcmp(it.record_outcome, "success") == 0;
    w = wal_open(wdir, &(struct wal_opts){ .durability = WAL_PER_ENTRY, .signer = t->signer }, err);
    f = w != NULL ? wal_file_reopen(w, id, true, truncated, err) : NULL;
    if (f == NULL)
        goto out;
    p = cJSON_CreateObject();
    if (p != NULL &&
        (cJSON_AddStringToObject(p, "execution_id", id) == NULL ||
         (!ok && (cJSON_AddStringToObject(p, "failure_type", "unknown") == NULL ||
                  cJSON_AddStringToObject(p, "reason", "the record's final response is an error") ==
                      NULL ||
                  cJSON_AddBoolToObject(p, "recoverable", false) == NULL)) ||
         cJSON_AddStringToObject(p, "closed_by", "recovery_manager") == NULL ||
         cJSON_AddStringToObject(p, "closed_from", "record") == NULL)) {
        cJSON_Delete(p);
        p = NULL;
    }
    if (p == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    if (wal_append(f, ok ? "execution.completed" : "execution.failed", p, true, err) != 0)
        goto out;
    wal_file_close(f);
    f = NULL;
    rc = 0;
    if (out != NULL) {
        recovery_item_free(&it);
        rc = analyze_target(t, id, out, err);
    }
out:
    wal_file_close(f);
    wal_close(w);
    recovery_item_free(&it);
    recovery_lock_release(lock);
    return rc;
}

/* ---- record <-> WAL consistency ---- */

static int violation(cJSON *list, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
violation(cJSON *list, const char *type, const char *fmt, ...)
{
    cJSON *v = cJSON_CreateObject();
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (v == NULL || cJSON_AddStringToObject(v, "type", type) == NULL ||
        cJSON_AddStringToObject(v, "message", msg) == NULL) {
        cJSON_Delete(v);
        return -1;
    }
    cJSON_AddItemToArray(list, v);
    return 0;
}

/* Agents of the WAL's completed steps, in order. */
static cJSON *
wal_completed_agents(const cJSON *entries)
{
    cJSON *agents = cJSON_CreateArray();
    const cJSON *e, *s;

    cJSON_ArrayForEach(e, entries)
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "payload");
        const char *step = json_get_string(p, "step_id");
        if (step == NULL || strcmp(json_get_string(e, "entry_type"), "step.completed") != 0)
            continue;
        cJSON_ArrayForEach(s, entries)
        {
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(s, "payload");
            if (strcmp(json_get_string(s, "entry_type"), "step.started") == 0 &&
                json_get_string(sp, "step_id") != NULL &&
                strcmp(json_get_string(sp, "step_id"), step) == 0) {
                const char *agent = json_get_string(sp, "agent_name");
                cJSON_AddItemToArray(agents, cJSON_CreateString(agent ? agent : ""));
                break;
            }
        }
    }
    return agents;
}

/* Agents of the record's successful attempts, in order. */
static cJSON *
record_ok_agents(const cJSON *record)
{
    cJSON *agents = cJSON_CreateArray();
    const cJSON *e;

    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(record, "events"))
    {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "payload");
        const char *type = json_get_string(e, "type");
        const char *status = json_get_string(p, "status");
        if (type != NULL && strcmp(type, "AGENT_ATTEMPT_END") == 0 && status != NULL &&
            strcmp(status, "ok") == 0)
            cJSON_AddItemToArray(
                agents,
                cJSON_CreateString(json_get_string(p, "agent") ? json_get_string(p, "agent") : ""));
    }
    return agents;
}

static int
count_in(const cJSON *list, const char *s)
{
    const cJSON *v;
    int n = 0;

    cJSON_ArrayForEach(v, list)
    {
        n += strcmp(v->valuestring, s) == 0;
    }
    return n;
}

static int
check_steps(const cJSON *entries, const cJSON *record, cJSON *violations)
{
    cJSON *w = wal_completed_agents(entries), *r = record_ok_agents(record);
    const char *strategy =
        json_get_string(cJSON_GetObjectItemCaseSensitive(
                            cJSON_GetObjectItemCaseSensitive(record, "envelope"), "routing"),
                        "strategy");
    bool parallel = strategy != NULL && strcmp(strategy, "parallel") == 0;
    const cJSON *v;
    int rc = 0;

    if (w == NULL || r == NULL) {
        rc = -1;
        goto out;
    }
    cJSON_ArrayForEach(v, w)
    {
        /* PARALLEL results after the winner are in the WAL, not the record. */
        if (!parallel && count_in(r, v->valuestring) < count_in(w, v->valuestring)) {
            rc |= violation(violations, "steps_missing_in_record",
                            "a completed step of agent '%s' in the WAL has no successful "
                            "AGENT_ATTEMPT_END in the record",
                            v->valuestring);
            break;
        }
    }
    cJSON_ArrayForEach(v, r)
    {
        if (count_in(w, v->valuestring) < count_in(r, v->valuestring)) {
            rc |= violation(violations, "extra_steps_in_record",
                            "the record has a successful attempt of agent '%s' that the WAL "
                            "has no completed step for",
                            v->valuestring);
            break;
        }
    }
out:
    cJSON_Delete(w);
    cJSON_Delete(r);
    return rc;
}

static int
check_outcome(const struct wal_log *log, const cJSON *record, cJSON *violations)
{
    enum wal_state s = wal_state_reconstruct(log->entries);
    const cJSON *final = cJSON_GetObjectItemCaseSensitive(record, "finalResponse");
    bool has_final = cJSON_IsObject(final) && cJSON_GetArraySize(final) > 0;
    bool ok = has_final && !response_is_error(final);
    const char *want = !has_final ? "no final response" : ok ? "success" : "error";

    if ((s == WAL_STATE_COMPLETED && ok) || (s == WAL_STATE_FAILED && has_final && !ok))
        return 0;
    return violation(violations, "state_mismatch",
                     "the WAL ends in state %s but the record's outcome is %s", wal_state_name(s),
                     want);
}

int
recovery_check_record(const char *wal_dir, const char *id, const cJSON *record,
                      const char *record_problem, cJSON *violations, struct intentus_err *err)
{
    int before = cJSON_GetArraySize(violations), rc = 0;
    struct wal_log log;
    const cJSON *e;

    if (wal_read(wal_dir, id, &log, err) != 0)
        return -1;
    if (log.status == WAL_MISSING)
        rc |= violation(violations, "wal_missing", "no WAL for %s in %s", id, wal_dir);
    else if (log.status != WAL_OK)
        rc |= violation(violations, "wal_corrupted", "%s", log.problem);
    if (record == NULL)
        rc |= violation(violations, record_problem ? "record_corrupted" : "record_missing", "%s",
                        record_problem ? record_problem : "no record for this execution");
    if (record != NULL && log.status == WAL_OK) {
        const cJSON *header = cJSON_GetObjectItemCaseSensitive(record, "header");
        const char *hh = json_get_string(header, "envelopeHash");
        /* A redacted (or stand-in) envelope is stored with the hash of what
         * was stored; the WAL holds the hash of the envelope as received,
         * which the header keeps as originalEnvelopeHash. */
        const char *oh = json_get_string(header, "originalEnvelopeHash");
        cJSON_ArrayForEach(e, log.entries)
        {
            const char *type = json_get_string(e, "entry_type");
            const char *wh =
                json_get_string(cJSON_GetObjectItemCaseSensitive(e, "payload"), "envelope_hash");
            if (strcmp(type, "execution.started") != 0 && strcmp(type, "execution.created") != 0)
                continue;
            if (wh != NULL && (hh == NULL || strcmp(wh, hh) != 0) &&
                (oh == NULL || strcmp(wh, oh) != 0))
                rc |= violation(violations, "envelope_hash_mismatch",
                                "WAL %s envelope_hash %.16s… differs from the record header's "
                                "%.16s…",
                                type, wh, hh ? hh : "(none)");
        }
        rc |= check_outcome(&log, record, violations);
        rc |= check_steps(log.entries, record, violations);
    }
    wal_log_free(&log);
    if (rc != 0) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return cJSON_GetArraySize(violations) - before;
}
