#include "core/rec_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/record.h"
#include "core/safe_file.h"
#include "core/uuid.h"

struct rec_store {
    char *dir;
    int dirfd;
    bool fsync;
    bool encrypt;
    const struct crypt_keyring *keys; /* borrowed */
};

/* mkdir -p with mode 0700 for every level we create. */
static int
make_dirs(const char *path, struct intentus_err *err)
{
    char *p = strdup(path);

    if (p == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            err_set(err, IERR_IO, "cannot create directory %s: %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST) {
        err_set(err, IERR_IO, "cannot create directory %s: %s", p, strerror(errno));
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

struct rec_store *
rec_store_open(const char *dir, const struct rec_store_opts *opts, struct intentus_err *err)
{
    struct rec_store *rs;
    int fd;

    if (dir == NULL || dir[0] == '\0') {
        err_set(err, IERR_INVALID, "record directory: empty path");
        return NULL;
    }
    if (opts != NULL && opts->encrypt && crypt_keyring_write_id(opts->keys) == NULL) {
        err_set(err, IERR_CONFIG, "record directory %s: encryption is on but %s", dir,
                opts->keys == NULL ? "no keyring was given" : "the keyring holds no key");
        return NULL;
    }
    if (opts != NULL && opts->create && make_dirs(dir, err) != 0)
        return NULL;
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, errno == ENOENT ? IERR_NOT_FOUND : IERR_IO,
                "cannot open record directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    rs = calloc(1, sizeof(*rs));
    if (rs == NULL || (rs->dir = strdup(dir)) == NULL) {
        free(rs);
        close(fd);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    rs->dirfd = fd;
    rs->fsync = opts != NULL && opts->fsync;
    rs->encrypt = opts != NULL && opts->encrypt;
    rs->keys = opts != NULL ? opts->keys : NULL;
    return rs;
}

void
rec_store_close(struct rec_store *rs)
{
    if (rs == NULL)
        return;
    close(rs->dirfd);
    free(rs->dir);
    free(rs);
}

const char *
rec_store_dir(const struct rec_store *rs)
{
    return rs->dir;
}

int
rec_store_dirfd(const struct rec_store *rs)
{
    return rs->dirfd;
}

const struct crypt_keyring *
rec_store_keys(const struct rec_store *rs)
{
    return rs->keys != NULL ? rs->keys : crypt_reader();
}

bool
rec_store_id_is_valid(const char *id)
{
    size_t n;

    if (id == NULL || id[0] == '\0' || id[0] == '.')
        return false;
    n = strlen(id);
    if (n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

int
rec_store_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int
rec_store_check_size(const char *id, size_t len, struct intentus_err *err)
{
    if (len <= REC_STORE_MAX_FILE)
        return 0;
    err_set(err, IERR_LIMIT,
            "record %s is too large: %zu bytes, over the %zu byte (%zu MiB) record file limit; "
            "not written",
            id, len, REC_STORE_MAX_FILE, REC_STORE_MAX_FILE >> 20);
    return -1;
}

/* One piece of a file name. */
struct piece {
    const char *s;
    size_t len;
};

/* dst = the pieces one after the other, cut to size - 1 bytes as snprintf
 * cuts: without printf, as every record file's names are made this way. */
static void
join(char *dst, size_t size, const struct piece *p, size_t n)
{
    size_t at = 0;

    for (size_t i = 0; i < n; i++) {
        size_t k = p[i].len < size - 1 - at ? p[i].len : size - 1 - at;
        memcpy(dst + at, p[i].s, k);
        at += k;
    }
    dst[at] = '\0';
}

int
rec_file_write(struct rec_file *f, int dirfd, const char *dir, const char *name, const void *data,
               size_t len, struct intentus_err *err)
{
    char rnd[UUID_STR_LEN];

    size_t nlen = strlen(name);

    text_copy_cut(f->name, sizeof(f->name), name);
    uuid_v4(rnd);
    /* Hidden (leading dot) so listers and watchers skip it until the rename:
     * ".<name>.<8 random hex digits>.tmp". */
    join(
        f->tmp, sizeof(f->tmp),
        (const struct piece[]){ { ".", 1 }, { name, nlen }, { ".", 1 }, { rnd, 8 }, { ".tmp", 4 } },
        5);
    f->fd = openat(dirfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f->fd < 0) {
        err_set(err, IERR_IO, "cannot create %s/%s: %s", dir, f->tmp, strerror(errno));
        return -1;
    }
    if (rec_store_write_all(f->fd, data, len) != 0) {
        err_set(err, IERR_IO, "cannot write %s/%s: %s", dir, f->tmp, strerror(errno));
        rec_file_abort(f, dirfd);
        return -1;
    }
    return 0;
}

void
rec_file_start_sync(struct rec_file *f)
{
    if (f->fd >= 0)
        (void)sync_file_range(f->fd, 0, 0, SYNC_FILE_RANGE_WRITE); /* a hint; fsync decides */
}

int
rec_file_sync(struct rec_file *f, const char *dir, bool data_only, struct intentus_err *err)
{
    if ((data_only ? fdatasync(f->fd) : fsync(f->fd)) == 0)
        return 0;
    err_set(err, IERR_IO, "cannot write %s/%s: %s", dir, f->tmp, strerror(errno));
    return -1;
}

int
rec_file_commit(struct rec_file *f, int dirfd, const char *dir, struct intentus_err *err)
{
    int fd = f->fd;

    f->fd = -1;
    if (close(fd) != 0) {
        err_set(err, IERR_IO, "cannot write %s/%s: %s", dir, f->tmp, strerror(errno));
        unlinkat(dirfd, f->tmp, 0);
        return -1;
    }
    if (renameat(dirfd, f->tmp, dirfd, f->name) != 0) {
        err_set(err, IERR_IO, "cannot rename %s into place in %s: %s", f->name, dir,
                strerror(errno));
        unlinkat(dirfd, f->tmp, 0);
        return -1;
    }
    return 0;
}

int
rec_file_commit_new(struct rec_file *f, int dirfd, const char *dir, struct intentus_err *err)
{
    int fd = f->fd;

    f->fd = -1;
    if (close(fd) != 0) {
        err_set(err, IERR_IO, "cannot write %s/%s: %s", dir, f->tmp, strerror(errno));
        unlinkat(dirfd, f->tmp, 0);
        return -1;
    }
    if (linkat(dirfd, f->tmp, dirfd, f->name, 0) != 0) {
        int e = errno;
        err_set(err, e == EEXIST ? IERR_INVALID : IERR_IO, "cannot create %s/%s: %s", dir, f->name,
                strerror(e));
        unlinkat(dirfd, f->tmp, 0);
        errno = e;
        return -1;
    }
    unlinkat(dirfd, f->tmp, 0);
    return 0;
}

void
rec_file_abort(struct rec_file *f, int dirfd)
{
    if (f->fd < 0)
        return;
    close(f->fd);
    f->fd = -1;
    unlinkat(dirfd, f->tmp, 0);
}

int
rec_file_put(int dirfd, const char *dir, const char *name, const void *data, size_t len,
             bool do_fsync, struct intentus_err *err)
{
    struct rec_file f = { .fd = -1 };

    if (rec_file_write(&f, dirfd, dir, name, data, len, err) != 0)
        return -1;
    if (do_fsync && rec_file_sync(&f, dir, false, err) != 0) {
        rec_file_abort(&f, dirfd);
        return -1;
    }
    return rec_file_commit(&f, dirfd, dir, err);
}

int
rec_store_prepare(struct rec_store *rs, const char *id, const char *text, size_t len,
                  struct buf *sealed, const char **data, size_t *dlen, struct intentus_err *err)
{
    if (!rec_store_id_is_valid(id)) {
        err_set(err, IERR_INVALID, "record id '%s' is not a safe file name", id ? id : "(none)");
        return -1;
    }
    *data = text;
    *dlen = len;
    if (rs->encrypt) {
        if (crypt_seal(rs->keys, CRYPT_RECORD, text, len, sealed, err) != 0) {
            err_prefix(err, "record %s", id);
            return -1;
        }
        *data = sealed->data;
        *dlen = sealed->len;
    }
    return rec_store_check_size(id, *dlen, err);
}

/* rec_store_save_text, or with keep_existing rec_store_put_text. */
static int
save_text(struct rec_store *rs, const char *id, const char *text, size_t len, bool keep_existing,
          struct intentus_err *err)
{
    struct rec_file f = { .fd = -1 };
    struct buf sealed = BUF_INIT;
    const char *data;
    size_t dlen;
    char name[160];
    int rc = -1;

    if (rec_store_prepare(rs, id, text, len, &sealed, &data, &dlen, err) != 0)
        goto out;
    join(name, sizeof(name), (const struct piece[]){ { id, strlen(id) }, { ".json", 5 } }, 2);
    if (!keep_existing) {
        if (rec_file_put(rs->dirfd, rs->dir, name, data, dlen, rs->fsync, err) != 0)
            goto out;
    } else {
        if (rec_file_write(&f, rs->dirfd, rs->dir, name, data, dlen, err) != 0)
            goto out;
        if (rs->fsync && rec_file_sync(&f, rs->dir, false, err) != 0) {
            rec_file_abort(&f, rs->dirfd);
            goto out;
        }
        if (rec_file_commit_new(&f, rs->dirfd, rs->dir, err) != 0)
            goto out;
    }
    if (rs->fsync && fsync(rs->dirfd) != 0) {
        err_set(err, IERR_IO, "cannot fsync directory %s: %s", rs->dir, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    buf_free(&sealed);
    return rc;
}

int
rec_store_save_text(struct rec_store *rs, const char *id, const char *text, size_t len,
                    struct intentus_err *err)
{
    return save_text(rs, id, text, len, false, err);
}

int
rec_store_put_text(struct rec_store *rs, const char *id, const char *text, size_t len,
                   struct intentus_err *err)
{
    return save_text(rs, id, text, len, true, err);
}

int
rec_store_save(struct rec_store *rs, const cJSON *record, struct intentus_err *err)
{
    const char *id = record_id(record);
    struct buf text = BUF_INIT;
    int rc;

    if (!rec_store_id_is_valid(id)) {
        err_set(err, IERR_INVALID, "record id '%s' is not a safe file name", id ? id : "(none)");
        return -1;
    }
    if (json_print_pretty(record, &text) != 0) {
        err_set(err, IERR_NOMEM, "out of memory serialising record %s", id);
        buf_free(&text);
        return -1;
    }
    rc = rec_store_save_text(rs, id, text.data, text.len, err);
    buf_free(&text);
    return rc;
}

/* gunzip a whole buffer (one or more gzip members), refusing output over
 * REC_STORE_MAX_FILE. */
static char *
gunzip_all(struct rec_store *rs, const char *name, const char *in, size_t in_len, size_t *len,
           struct intentus_err *err)
{
    z_stream zs;
    size_t cap = in_len * 4 + 1024, used = 0;
    char *out = malloc(cap + 1);
    int zrc = Z_OK;

    memset(&zs, 0, sizeof(zs));
    if (out == NULL || inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        free(out);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)in_len;
    while (zrc != Z_STREAM_END || zs.avail_in > 0) {
        if (zrc == Z_STREAM_END && inflateReset(&zs) != Z_OK)
            break;
        if (used == cap) {
            char *p;
            if (cap >= REC_STORE_MAX_FILE) {
                err_set(err, IERR_LIMIT, "%s/%s: decompressed size over the %zu byte limit",
                        rs->dir, name, REC_STORE_MAX_FILE);
                goto fail;
            }
            cap *= 2;
            p = realloc(out, cap + 1);
            if (p == NULL) {
                err_set(err, IERR_NOMEM, NULL);
                goto fail;
            }
            out = p;
        }
        zs.next_out = (Bytef *)out + used;
        zs.avail_out = (uInt)(cap - used);
        zrc = inflate(&zs, Z_NO_FLUSH);
        used = cap - zs.avail_out;
        if (zrc != Z_OK && zrc != Z_STREAM_END && !(zrc == Z_BUF_ERROR && used == cap)) {
            err_set(err, IERR_PARSE, "%s/%s: not a valid gzip file (%s)", rs->dir, name,
                    zs.msg ? zs.msg : "truncated");
            goto fail;
        }
    }
    inflateEnd(&zs);
    out[used] = '\0';
    *len = used;
    return out;
fail:
    inflateEnd(&zs);
    free(out);
    return NULL;
}

char *
rec_store_read(struct rec_store *rs, const char *id, size_t *len, struct intentus_err *err)
{
    enum crypt_status st;

    return rec_store_read_st(rs, id, len, &st, err);
}

char *
rec_store_read_st(struct rec_store *rs, const char *id, size_t *len, enum crypt_status *st,
                  struct intentus_err *err)
{
    struct intentus_err ferr = { 0 };
    char name[160], shown[4400];
    char *data, *plain, *opened;
    size_t zlen, olen;
    bool gz = false;
    int fd;

    *st = CRYPT_PLAIN;
    if (!rec_store_id_is_valid(id)) {
        err_set(err, IERR_INVALID,
                "'%s' is not a valid execution id (letters, digits, '-', '_', '.'; no paths)",
                id ? id : "");
        return NULL;
    }
    /* One safe open: a FIFO, device or symlink under the name is refused
     * without blocking; at most REC_STORE_MAX_FILE bytes. */
    snprintf(name, sizeof(name), "%s.json", id);
    snprintf(shown, sizeof(shown), "%s/%s", rs->dir, name);
    fd = safe_file_open(rs->dirfd, name, shown, REC_STORE_MAX_FILE, &ferr);
    if (fd < 0 && ferr.code == IERR_NOT_FOUND) {
        /* An archive directory keeps records gzipped under <id>.json.gz. */
        snprintf(name, sizeof(name), "%s.json.gz", id);
        snprintf(shown, sizeof(shown), "%s/%s", rs->dir, name);
        fd = safe_file_open(rs->dirfd, name, shown, REC_STORE_MAX_FILE, &ferr);
        gz = true;
    }
    if (fd < 0) {
        if (ferr.code == IERR_NOT_FOUND)
            err_set(err, IERR_NOT_FOUND, "no record %s in %s", id, rs->dir);
        else if (err != NULL)
            *err = ferr;
        return NULL;
    }
    data = safe_file_read_fd(fd, shown, REC_STORE_MAX_FILE, &zlen, err);
    close(fd);
    if (data == NULL)
        return NULL;
    if (crypt_is_sealed(data, zlen)) {
        /* The one place records are decrypted: every reader comes here. */
        opened = crypt_open(rec_store_keys(rs), gz ? CRYPT_RECORD_GZ : CRYPT_RECORD, data, zlen,
                            shown, &olen, st, err);
        free(data); /* ciphertext: nothing to wipe */
        if (opened == NULL)
            return NULL;
        data = opened;
        zlen = olen;
    }
    if (!gz) {
        *len = zlen;
        return data;
    }
    plain = gunzip_all(rs, name, data, zlen, len, err);
    free(data);
    return plain;
}

cJSON *
rec_store_load(struct rec_store *rs, const char *id, struct intentus_err *err)
{
    size_t len;
    char *text = rec_store_read(rs, id, &len, err);
    cJSON *rec;

    if (text == NULL)
        return NULL;
    rec = record_parse(text, len, err);
    free(text);
    if (rec == NULL)
        err_prefix(err, "%s/%s.json", rs->dir, id);
    return rec;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
rec_store_list(struct rec_store *rs, struct rec_ids *out, struct intentus_err *err)
{
    int fd = dup(rs->dirfd);
    struct dirent *de;
    size_t cap = 0;
    DIR *d;

    out->ids = NULL;
    out->n = 0;
    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        err_set(err, IERR_IO, "cannot list %s: %s", rs->dir, strerror(errno));
        return -1;
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name), cut;
        char *id;
        if (de->d_name[0] == '.')
            continue;
        if (n > 5 && strcmp(de->d_name + n - 5, ".json") == 0)
            cut = 5;
        else if (n > 8 && strcmp(de->d_name + n - 8, ".json.gz") == 0)
            cut = 8;
        else
            continue;
        id = strndup(de->d_name, n - cut);
        if (id == NULL || !rec_store_id_is_valid(id)) {
            free(id);
            continue;
        }
        if (out->n == cap) {
            char **p;
            cap = cap ? cap * 2 : 64;
            p = realloc(out->ids, cap * sizeof(*p));
            if (p == NULL) {
                free(id);
                closedir(d);
                rec_store_ids_free(out);
                err_set(err, IERR_NOMEM, NULL);
                return -1;
            }
            out->ids = p;
        }
        out->ids[out->n++] = id;
    }
    closedir(d);
    if (out->n > 0)
        qsort(out->ids, out->n, sizeof(*out->ids), cmp_str);
    /* <id>.json and <id>.json.gz side by side name one record. */
    for (size_t i = 1, w = 1; i <= out->n; i++) {
        if (i == out->n) {
            out->n = w;
            break;
        }
        if (strcmp(out->ids[i], out->ids[w - 1]) == 0)
            free(out->ids[i]);
        else
            out->ids[w++] = out->ids[i];
    }
    return 0;
}

void
rec_store_ids_free(struct rec_ids *ids)
{
    if (ids == NULL)
        return;
    for (size_t i = 0; i < ids->n; i++)
        free(ids->ids[i]);
    free(ids->ids);
    ids->ids = NULL;
    ids->n = 0;
}
