#include "core/wal_gc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rec_store.h"
#include "core/safe_file.h"
#include "core/store.h"

const char *
wal_gc_verdict_name(enum wal_gc_verdict v)
{
    switch (v) {
    case WAL_GC_FINISHED:
        return "finished";
    case WAL_GC_UNFINISHED:
        return "unfinished";
    case WAL_GC_DAMAGED:
        return "damaged";
    case WAL_GC_ABSENT:
        return "absent";
    }
    return "?";
}

static int64_t
st_mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Open <wal_dir>/<id>.wal through the one safe open (no FIFO, device or
 * symlink; a regular file of at most WAL_MAX_FILE) and read it whole; st is
 * the file's identity. NULL with e set (IERR_NOT_FOUND when absent). */
static char *
read_wal(const char *wal_dir, const char *id, char path[4096], struct stat *st, size_t *len,
         struct intentus_err *e)
{
    char *text;
    int fd;

    if (wal_path(wal_dir, id, ".wal", path, 4096) != 0) {
        err_set(e, IERR_INVALID, "'%s' is not a valid execution id", id);
        return NULL;
    }
    fd = safe_file_open(AT_FDCWD, path, NULL, WAL_MAX_FILE, e);
    if (fd < 0)
        return NULL;
    if (fstat(fd, st) != 0) {
        err_set(e, IERR_IO, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    text = safe_file_read_fd(fd, path, WAL_MAX_FILE, len, e);
    close(fd);
    return text;
}

/* Whether st is still the file f judged (same size, mtime and inode). */
static bool
same_identity(const struct stat *st, const struct wal_gc_file *f)
{
    return S_ISREG(st->st_mode) && st->st_size == f->size && st_mtime_ns(st) == f->mtime_ns &&
           (uint64_t)st->st_ino == f->ino;
}

int
wal_gc_judge(const char *wal_dir, const char *id, struct wal_gc_file *out, struct intentus_err *err)
{
    char path[4096];
    struct intentus_err e = { 0 };
    struct wal_log log;
    struct stat st;
    size_t len = 0;
    char *text;
    int rc;

    memset(out, 0, sizeof(*out));
    out->state = WAL_STATE_UNKNOWN;
    if (!rec_store_id_is_valid(id) || wal_path(wal_dir, id, ".wal", path, sizeof(path)) != 0) {
        err_set(err, IERR_INVALID, "'%s' is not a valid execution id", id ? id : "");
        return -1;
    }
    snprintf(out->id, sizeof(out->id), "%s", id);
    {
        char lock[4096];
        out->has_lock =
            wal_path(wal_dir, id, ".lock", lock, sizeof(lock)) == 0 && lstat(lock, &st) == 0;
    }
    text = read_wal(wal_dir, id, path, &st, &len, &e);
    if (text == NULL) {
        if (e.code == IERR_NOMEM) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        out->verdict = e.code == IERR_NOT_FOUND ? WAL_GC_ABSENT : WAL_GC_DAMAGED;
        out->status = e.code == IERR_NOT_FOUND ? WAL_MISSING : WAL_IO;
        snprintf(out->problem, sizeof(out->problem), "%.250s", e.msg);
        return 0;
    }
    out->size = st.st_size;
    out->mtime_ns = st_mtime_ns(&st);
    out->ino = st.st_ino;
    rc = wal_parse(text, len, id, &log, err);
    free(text);
    if (rc != 0)
        return -1;
    out->status = log.status;
    out->state = wal_state_reconstruct(log.entries);
    snprintf(out->problem, sizeof(out->problem), "%s", log.problem);
    if (log.status == WAL_TORN || log.status == WAL_CORRUPT || log.status == WAL_IO)
        out->verdict = WAL_GC_DAMAGED;
    else if (log.status == WAL_OK &&
             (out->state == WAL_STATE_COMPLETED || out->state == WAL_STATE_FAILED ||
              out->state == WAL_STATE_ABORTED))
        out->verdict = WAL_GC_FINISHED;
    else
        out->verdict = WAL_GC_UNFINISHED;
    if (out->verdict == WAL_GC_UNFINISHED && out->problem[0] == '\0')
        snprintf(out->problem, sizeof(out->problem), "execution %s", wal_state_name(out->state));
    wal_log_free(&log);
    return 0;
}

/* 1 the WAL is still what was judged, 0 gone, -1 changed. */
static int
same_file(const char *path, const struct wal_gc_file *f)
{
    struct stat st;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    return same_identity(&st, f) ? 1 : -1;
}

char *
wal_gc_read(const char *wal_dir, const struct wal_gc_file *f, size_t *len, struct intentus_err *err)
{
    char path[4096];
    struct stat st;
    char *text = read_wal(wal_dir, f->id, path, &st, len, err);

    if (text != NULL && !same_identity(&st, f)) {
        free(text);
        err_set(err, IERR_VERIFY, "%s changed since it was judged", path);
        return NULL;
    }
    return text;
}

int
wal_gc_remove(const char *wal_dir, const struct wal_gc_file *f, enum wal_gc_outcome *outcome,
              bool *lock_removed, struct intentus_err *err)
{
    char path[4096], lock[4096];
    int lfd = -1, state, rc = -1;

    if (lock_removed != NULL)
        *lock_removed = false;
    if (wal_path(wal_dir, f->id, ".wal", path, sizeof(path)) != 0 ||
        wal_path(wal_dir, f->id, ".lock", lock, sizeof(lock)) != 0) {
        err_set(err, IERR_INVALID, "'%s' is not a valid execution id", f->id);
        return -1;
    }
    /* A live holder (recovery resume/abort) keeps its flock: leave it be. */
    lfd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        close(lfd);
        *outcome = WAL_GC_LOCKED;
        return 0;
    }
    state = same_file(path, f);
    if (state <= 0) {
        *outcome = state == 0 ? WAL_GC_GONE : WAL_GC_CHANGED;
        rc = 0;
        goto out;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        err_set(err, IERR_IO, "cannot remove %s: %s", path, strerror(errno));
        goto out;
    }
    *outcome = WAL_GC_REMOVED;
    rc = 0;
    /* Unlink the lock while holding it, as recovery_lock_release does. */
    if (lfd >= 0) {
        if (unlink(lock) == 0 && lock_removed != NULL)
            *lock_removed = true;
    }
out:
    if (lfd >= 0) {
        flock(lfd, LOCK_UN);
        close(lfd);
    }
    return rc;
}

bool
wal_gc_is_collectable(const struct wal_gc_file *f)
{
    return f->verdict == WAL_GC_FINISHED && !f->has_record;
}

/* Whether <id>.json or <id>.json.gz is in the records directory. */
static bool
has_record(int rfd, const char *id)
{
    char name[160];
    struct stat st;

    snprintf(name, sizeof(name), "%s.json", id);
    if (fstatat(rfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
        return true; /* present, or cannot tell: keep the WAL */
    snprintf(name, sizeof(name), "%s.json.gz", id);
    return fstatat(rfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/* Whether id is in st: present, or there but unreadable (keep the WAL);
 * -1 with err when the store itself fails (unreachable: a lookup that
 * cannot answer must not make every record look gone). */
static int
store_has(struct store *st, const char *id, bool *has, struct intentus_err *err)
{
    struct intentus_err e = { 0 };
    size_t len = 0;
    char *text = store_get(st, id, &len, &e);

    free(text);
    *has = text != NULL || e.code != IERR_NOT_FOUND;
    if (text == NULL && (e.code == IERR_IO || e.code == IERR_NOMEM)) {
        err_set(err, e.code, "store %s: %s", store_url(st), e.msg);
        return -1;
    }
    return 0;
}

/* wal_gc_plan with the records in rfd (a directory) or st. */
static int
plan(const char *wal_dir, int rfd, struct store *st, struct wal_gc_file **files, size_t *n,
     struct intentus_err *err)
{
    struct intentus_err lerr = { 0 };
    char **ids = NULL;
    size_t n_ids = 0;
    int rc = -1;

    if (wal_list(wal_dir, &ids, &n_ids, &lerr) != 0) {
        if (lerr.code == IERR_NOT_FOUND)
            return 0;
        err_set(err, lerr.code, "WAL directory %s", lerr.msg);
        return -1;
    }
    if (n_ids > 0 && (*files = calloc(n_ids, sizeof(**files))) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    for (size_t i = 0; i < n_ids; i++) {
        struct wal_gc_file *f = &(*files)[*n];
        if (wal_gc_judge(wal_dir, ids[i], f, err) != 0) {
            free(*files);
            *files = NULL;
            *n = 0;
            goto out;
        }
        if (f->verdict == WAL_GC_ABSENT)
            continue; /* went between the listing and now */
        if (st == NULL) {
            f->has_record = has_record(rfd, ids[i]);
        } else if (store_has(st, ids[i], &f->has_record, err) != 0) {
            free(*files);
            *files = NULL;
            *n = 0;
            goto out;
        }
        (*n)++;
    }
    rc = 0;
out:
    wal_list_free(ids, n_ids);
    return rc;
}

int
wal_gc_plan(const char *wal_dir, const char *records_dir, struct wal_gc_file **files, size_t *n,
            struct intentus_err *err)
{
    int rfd, rc;

    *files = NULL;
    *n = 0;
    rfd = open(records_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) {
        err_set(err, errno == ENOENT ? IERR_NOT_FOUND : IERR_IO, "records directory %s: %s",
                records_dir, strerror(errno));
        return -1;
    }
    rc = plan(wal_dir, rfd, NULL, files, n, err);
    close(rfd);
    return rc;
}

int
wal_gc_plan_store(const char *wal_dir, struct store *st, struct wal_gc_file **files, size_t *n,
                  struct intentus_err *err)
{
    *files = NULL;
    *n = 0;
    return plan(wal_dir, -1, st, files, n, err);
}
