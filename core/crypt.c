#include "core/crypt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/safe_file.h"

static const unsigned char magic[5] = { 0x89, 'I', 'E', 'N', 'C' };

struct crypt_key {
    unsigned char key[CRYPT_KEY_LEN];
    unsigned char id[8];
    struct crypt_key_info info;
};

struct crypt_keyring {
    char *path;
    bool is_dir;
    struct crypt_key *keys; /* name order; the last one seals */
    size_t n;
};

/* The one piece of process state in core/: see crypt.h. */
static struct crypt_keyring *reader_ring;

const char *
crypt_status_name(enum crypt_status st)
{
    switch (st) {
    case CRYPT_PLAIN:
        return "plain";
    case CRYPT_OK:
        return "ok";
    case CRYPT_NO_KEY:
        return "key missing";
    case CRYPT_KEY_MISSING:
        return "wrong key";
    case CRYPT_TAMPERED:
        return "tampered";
    case CRYPT_TRUNCATED:
        return "truncated";
    case CRYPT_BAD_FORMAT:
        return "bad format";
    }
    return "?";
}

static void
hex_of(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int
key_id_of(const unsigned char key[CRYPT_KEY_LEN], unsigned char id[8])
{
    static const char label[] = "intentus-key-id"; /* hashed with its NUL */
    unsigned char in[sizeof(label) + CRYPT_KEY_LEN], md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc;

    memcpy(in, label, sizeof(label));
    memcpy(in + sizeof(label), key, CRYPT_KEY_LEN);
    rc = EVP_Digest(in, sizeof(in), md, &n, EVP_sha256(), NULL) == 1 && n >= 8 ? 0 : -1;
    memcpy(id, md, 8);
    OPENSSL_cleanse(in, sizeof(in));
    return rc;
}

static int
unhex(const char *s, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + j];
            int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

/* Read one key file (dirfd-relative name, shown in messages) into k. */
static int
key_read(int dirfd, const char *name, const char *shown, struct crypt_key *k,
         struct intentus_err *err)
{
    struct stat st;
    size_t len = 0, n;
    char *text = NULL;
    int fd, rc = -1;

    fd = safe_file_open(dirfd, name, shown, 4096, err);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        err_set(err, IERR_IO, "cannot stat key file %s: %s", shown, strerror(errno));
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        err_set(err, IERR_CONFIG,
                "key file %s has mode %04o: group or others may read it; refused "
                "(chmod 600 %s)",
                shown, (unsigned)(st.st_mode & 07777), shown);
        goto out;
    }
    text = safe_file_read_fd(fd, shown, 4096, &len, err);
    if (text == NULL)
        goto out;
    n = len;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    if (n != (size_t)2 * CRYPT_KEY_LEN || unhex(text, CRYPT_KEY_LEN, k->key) != 0) {
        err_set(err, IERR_CONFIG, "key file %s: not a key (expected 64 hex digits)", shown);
        goto out;
    }
    if (key_id_of(k->key, k->id) != 0) {
        err_set(err, IERR_IO, "key file %s: cannot hash the key", shown);
        goto out;
    }
    hex_of(k->id, 8, k->info.id);
    snprintf(k->info.file, sizeof(k->info.file), "%s", name);
    {
        /* <YYYYmmddTHHMMSS.mmmZ>-<id>.key: the creation time is in the name. */
        struct tm tm = { 0 };
        int ms = 0;
        /* Fixed-width digit fields and all 7 matched: a non-digit fails the
         * match, so sscanf's unchecked overflow cannot arise. */
        // NOLINTNEXTLINE(cert-err34-c)
        if (sscanf(name, "%4d%2d%2dT%2d%2d%2d.%3dZ-", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7)
            snprintf(k->info.created, sizeof(k->info.created),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year, tm.tm_mon, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
        else {
            gmtime_r(&st.st_mtim.tv_sec, &tm);
            strftime(k->info.created, sizeof(k->info.created), "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
    }
    rc = 0;
out:
    if (text != NULL) {
        OPENSSL_cleanse(text, len);
        free(text);
    }
    close(fd);
    return rc;
}

static int
cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
ring_load_dir(struct crypt_keyring *kr, int dfd, struct intentus_err *err)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int rc = -1, fd2 = dup(dfd);
    DIR *d = fd2 >= 0 ? fdopendir(fd2) : NULL;

    if (d == NULL) {
        if (fd2 >= 0)
            close(fd2);
        err_set(err, IERR_IO, "cannot list keyring %s: %s", kr->path, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 5 || strcmp(de->d_name + l - 4, ".key") != 0)
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 8) * sizeof(*p));
            if (p == NULL)
                goto nomem;
            names = p;
        }
        if ((names[n] = strdup(de->d_name)) == NULL)
            goto nomem;
        n++;
    }
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_name);
    kr->keys = n > 0 ? calloc(n, sizeof(*kr->keys)) : NULL;
    if (n > 0 && kr->keys == NULL)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        char shown[4400];
        snprintf(shown, sizeof(shown), "%s/%s", kr->path, names[i]);
        if (key_read(dfd, names[i], shown, &kr->keys[kr->n], err) != 0)
            goto out;
        kr->n++;
    }
    rc = 0;
    goto out;
nomem:
    err_set(err, IERR_NOMEM, NULL);
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

struct crypt_keyring *
crypt_keyring_load(const char *path, struct intentus_err *err)
{
    struct crypt_keyring *kr;
    struct stat st;
    int rc = -1;

    if (path == NULL || path[0] == '\0') {
        err_set(err, IERR_CONFIG, "keyring: empty path");
        return NULL;
    }
    if (lstat(path, &st) != 0) {
        err_set(err, errno == ENOENT ? IERR_NOT_FOUND : IERR_IO, "keyring %s: %s", path,
                strerror(errno));
        return NULL;
    }
    kr = calloc(1, sizeof(*kr));
    if (kr == NULL || (kr->path = strdup(path)) == NULL) {
        free(kr);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        int dfd;
        kr->is_dir = true;
        if ((st.st_mode & 077) != 0) {
            err_set(err, IERR_CONFIG,
                    "keyring directory %s has mode %04o: group or others may enter it; refused "
                    "(chmod 700 %s)",
                    path, (unsigned)(st.st_mode & 07777), path);
            goto out;
        }
        dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0) {
            err_set(err, IERR_IO, "cannot open keyring %s: %s", path, strerror(errno));
            goto out;
        }
        rc = ring_load_dir(kr, dfd, err);
        close(dfd);
    } else {
        kr->keys = calloc(1, sizeof(*kr->keys));
        if (kr->keys == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            goto out;
        }
        rc = key_read(AT_FDCWD, path, path, &kr->keys[0], err);
        if (rc == 0) {
            const char *slash = strrchr(path, '/');
            kr->n = 1;
            snprintf(kr->keys[0].info.file, sizeof(kr->keys[0].info.file), "%s",
                     slash ? slash + 1 : path);
        }
    }
out:
    if (rc != 0) {
        crypt_keyring_free(kr);
        return NULL;
    }
    if (kr->n > 0)
        kr->keys[kr->n - 1].info.writes = true;
    return kr;
}

void
crypt_keyring_free(struct crypt_keyring *kr)
{
    if (kr == NULL)
        return;
    if (kr->keys != NULL)
        OPENSSL_cleanse(kr->keys, kr->n * sizeof(*kr->keys));
    free(kr->keys);
    free(kr->path);
    free(kr);
}

const char *
crypt_keyring_path(const struct crypt_keyring *kr)
{
    return kr->path;
}

bool
crypt_keyring_is_dir(const struct crypt_keyring *kr)
{
    return kr->is_dir;
}

size_t
crypt_keyring_count(const struct crypt_keyring *kr)
{
    return kr != NULL ? kr->n : 0;
}

int
crypt_keyring_info(const struct crypt_keyring *kr, size_t i, struct crypt_key_info *out)
{
    if (kr == NULL || i >= kr->n)
        return -1;
    *out = kr->keys[i].info;
    return 0;
}

const char *
crypt_keyring_write_id(const struct crypt_keyring *kr)
{
    return kr != NULL && kr->n > 0 ? kr->keys[kr->n - 1].info.id : NULL;
}

static const struct crypt_key *
find_key(const struct crypt_keyring *kr, const unsigned char id[8])
{
    for (size_t i = 0; kr != NULL && i < kr->n; i++) {
        if (memcmp(kr->keys[i].id, id, 8) == 0)
            return &kr->keys[i];
    }
    return NULL;
}

bool
crypt_keyring_has(const struct crypt_keyring *kr, const char *id_hex)
{
    for (size_t i = 0; kr != NULL && id_hex != NULL && i < kr->n; i++) {
        if (strcmp(kr->keys[i].info.id, id_hex) == 0)
            return true;
    }
    return false;
}

/* Write a fresh key as hex to dirfd/name (O_EXCL, 0600). */
static int
key_write(int dirfd, const char *name, const char *shown, char id[CRYPT_ID_HEX], bool sync,
          struct intentus_err *err)
{
    unsigned char key[CRYPT_KEY_LEN], kid[8];
    char hex[2 * CRYPT_KEY_LEN + 2];
    int fd, rc = -1;

    if (RAND_bytes(key, sizeof(key)) != 1 || key_id_of(key, kid) != 0) {
        err_set(err, IERR_IO, "cannot make a key: the random generator failed");
        return -1;
    }
    hex_of(key, sizeof(key), hex);
    hex[sizeof(hex) - 2] = '\n'; /* after hex_of's 64 digits */
    hex[sizeof(hex) - 1] = '\0';
    fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(err, errno == EEXIST ? IERR_INVALID : IERR_IO, "cannot create key file %s: %s%s",
                shown, strerror(errno),
                errno == EEXIST ? " (an existing key is never replaced)" : "");
        goto out;
    }
    if (fchmod(fd, 0600) != 0 || write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) ||
        (sync && fsync(fd) != 0)) {
        err_set(err, IERR_IO, "cannot write key file %s: %s", shown, strerror(errno));
        close(fd);
        unlinkat(dirfd, name, 0);
        goto out;
    }
    if (close(fd) != 0) {
        err_set(err, IERR_IO, "cannot write key file %s: %s", shown, strerror(errno));
        unlinkat(dirfd, name, 0);
        goto out;
    }
    hex_of(kid, 8, id);
    rc = 0;
out:
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(hex, sizeof(hex));
    return rc;
}

int
crypt_key_new_file(const char *path, char id[CRYPT_ID_HEX], struct intentus_err *err)
{
    return key_write(AT_FDCWD, path, path, id, true, err);
}

int
crypt_keyring_add(const char *dir, char id[CRYPT_ID_HEX], char *file, size_t file_size,
                  struct intentus_err *err)
{
    struct crypt_keyring *kr;
    struct timespec ts;
    struct stat st;
    struct tm tm;
    char stamp[32], tmp[64], name[96], shown[4400];
    int dfd, rc = -1;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        err_set(err, IERR_IO, "cannot create keyring %s: %s", dir, strerror(errno));
        return -1;
    }
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        err_set(err, IERR_INVALID, "keyring %s is not a directory", dir);
        return -1;
    }
    /* Loading checks the mode and every key already there. */
    kr = crypt_keyring_load(dir, err);
    if (kr == NULL)
        return -1;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        err_set(err, IERR_IO, "cannot open keyring %s: %s", dir, strerror(errno));
        goto out;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
    snprintf(tmp, sizeof(tmp), ".new-%lld-%ld.tmp", (long long)ts.tv_sec, ts.tv_nsec);
    snprintf(shown, sizeof(shown), "%s/%s", dir, tmp);
    if (key_write(dfd, tmp, shown, id, true, err) != 0)
        goto out;
    snprintf(name, sizeof(name), "%s.%03ldZ-%s.key", stamp, ts.tv_nsec / 1000000, id);
    /* The newest key must sort last: never behind the current writer. */
    if (kr->n > 0 && strcmp(name, kr->keys[kr->n - 1].info.file) <= 0) {
        unlinkat(dfd, tmp, 0);
        err_set(err, IERR_INVALID,
                "keyring %s: key file %s sorts after the new key's name %s (is the clock "
                "behind?); not added",
                dir, kr->keys[kr->n - 1].info.file, name);
        goto out;
    }
    if (renameat(dfd, tmp, dfd, name) != 0 || fsync(dfd) != 0) {
        err_set(err, IERR_IO, "cannot add key to keyring %s: %s", dir, strerror(errno));
        unlinkat(dfd, tmp, 0);
        goto out;
    }
    if (file != NULL)
        snprintf(file, file_size, "%s", name);
    rc = 0;
out:
    if (dfd >= 0)
        close(dfd);
    crypt_keyring_free(kr);
    return rc;
}

bool
crypt_is_sealed(const void *data, size_t len)
{
    return data != NULL && len >= sizeof(magic) && memcmp(data, magic, sizeof(magic)) == 0;
}

int
crypt_blob_key_id(const void *data, size_t len, char id[CRYPT_ID_HEX])
{
    if (!crypt_is_sealed(data, len) || len < 16)
        return -1;
    hex_of((const unsigned char *)data + 8, 8, id);
    return 0;
}

int
crypt_seal(const struct crypt_keyring *kr, enum crypt_kind kind, const void *plain, size_t len,
           struct buf *out, struct intentus_err *err)
{
    const struct crypt_key *k = kr != NULL && kr->n > 0 ? &kr->keys[kr->n - 1] : NULL;
    unsigned char hdr[CRYPT_HEADER_LEN];
    EVP_CIPHER_CTX *c = NULL;
    size_t start = out->len;
    int n = 0, rc = -1;

    if (k == NULL) {
        err_set(err, IERR_CONFIG, "cannot encrypt: keyring %s holds no key",
                kr != NULL ? kr->path : "(none)");
        return -1;
    }
    if (len > (size_t)INT32_MAX) {
        err_set(err, IERR_LIMIT, "cannot encrypt %zu bytes in one blob", len);
        return -1;
    }
    memcpy(hdr, magic, sizeof(magic));
    hdr[5] = CRYPT_VERSION;
    hdr[6] = (unsigned char)kind;
    hdr[7] = 0;
    memcpy(hdr + 8, k->id, 8);
    for (int i = 0; i < 8; i++)
        hdr[28 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    if (RAND_bytes(hdr + 16, 12) != 1) {
        err_set(err, IERR_IO, "cannot encrypt: the random generator failed");
        return -1;
    }
    if (buf_reserve(out, CRYPT_HEADER_LEN + len + CRYPT_TAG_LEN + 16) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    memcpy(out->data + out->len, hdr, CRYPT_HEADER_LEN);
    out->len += CRYPT_HEADER_LEN;
    c = EVP_CIPHER_CTX_new();
    if (c == NULL || EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
        EVP_EncryptInit_ex(c, NULL, NULL, k->key, hdr + 16) != 1 ||
        EVP_EncryptUpdate(c, NULL, &n, hdr, CRYPT_HEADER_LEN) != 1 ||
        EVP_EncryptUpdate(c, (unsigned char *)out->data + out->len, &n, plain, (int)len) != 1)
        goto fail;
    out->len += (size_t)n;
    if (EVP_EncryptFinal_ex(c, (unsigned char *)out->data + out->len, &n) != 1)
        goto fail;
    out->len += (size_t)n;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, CRYPT_TAG_LEN, out->data + out->len) != 1)
        goto fail;
    out->len += CRYPT_TAG_LEN;
    out->data[out->len] = '\0';
    rc = 0;
    goto out;
fail:
    out->len = start;
    err_set(err, IERR_IO, "cannot encrypt: AES-256-GCM failed");
out:
    EVP_CIPHER_CTX_free(c);
    return rc;
}

static char *
copy_plain(const void *data, size_t len, size_t *plain_len, struct intentus_err *err)
{
    char *p = malloc(len + 1);

    if (p == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    memcpy(p, data, len);
    p[len] = '\0';
    *plain_len = len;
    return p;
}

char *
crypt_open(const struct crypt_keyring *kr, enum crypt_kind kind, const void *data, size_t len,
           const char *shown, size_t *plain_len, enum crypt_status *st, struct intentus_err *err)
{
    const unsigned char *h = data;
    const struct crypt_key *k;
    EVP_CIPHER_CTX *c = NULL;
    char id[CRYPT_ID_HEX];
    uint64_t ct_len = 0;
    char *out = NULL;
    int n = 0;

    if (!crypt_is_sealed(data, len)) {
        *st = CRYPT_PLAIN;
        return copy_plain(data, len, plain_len, err);
    }
    if (len < CRYPT_HEADER_LEN) {
        *st = CRYPT_TRUNCATED;
        err_set(err, IERR_PARSE, "%s: truncated: %zu bytes, shorter than the %d byte header", shown,
                len, CRYPT_HEADER_LEN);
        return NULL;
    }
    hex_of(h + 8, 8, id);
    if (h[5] != CRYPT_VERSION) {
        *st = CRYPT_BAD_FORMAT;
        err_set(err, IERR_PARSE, "%s: encrypted with format version %u; this build reads %d", shown,
                h[5], CRYPT_VERSION);
        return NULL;
    }
    if (h[6] != (unsigned char)kind) {
        *st = CRYPT_BAD_FORMAT;
        err_set(err, IERR_VERIFY,
                "%s: tampered: the encrypted blob is of kind %u where kind %d belongs", shown, h[6],
                (int)kind);
        return NULL;
    }
    for (int i = 0; i < 8; i++)
        ct_len = ct_len << 8 | h[28 + i];
    if (ct_len > len || len - CRYPT_HEADER_LEN < ct_len + CRYPT_TAG_LEN) {
        *st = CRYPT_TRUNCATED;
        err_set(err, IERR_PARSE, "%s: truncated: %zu of %llu bytes (encrypted with key %s)", shown,
                len, (unsigned long long)ct_len + CRYPT_HEADER_LEN + CRYPT_TAG_LEN, id);
        return NULL;
    }
    if (len - CRYPT_HEADER_LEN > ct_len + CRYPT_TAG_LEN) {
        *st = CRYPT_TAMPERED;
        err_set(err, IERR_VERIFY, "%s: tampered: %llu bytes after the end of the encrypted data",
                shown, (unsigned long long)(len - CRYPT_HEADER_LEN - ct_len - CRYPT_TAG_LEN));
        return NULL;
    }
    if (kr == NULL) {
        *st = CRYPT_NO_KEY;
        err_set(err, IERR_VERIFY,
                "%s: encrypted, key %s missing (give it with --keyring, $INTENTUS_KEYRING or "
                "recording.encryption)",
                shown, id);
        return NULL;
    }
    k = find_key(kr, h + 8);
    if (k == NULL) {
        *st = CRYPT_KEY_MISSING;
        err_set(err, IERR_VERIFY, "%s: encrypted with key %s, which %s does not hold (wrong key)",
                shown, id, kr->path);
        return NULL;
    }
    out = malloc(ct_len + 1);
    c = EVP_CIPHER_CTX_new();
    if (out == NULL || c == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        *st = CRYPT_BAD_FORMAT;
        goto fail;
    }
    if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
        EVP_DecryptInit_ex(c, NULL, NULL, k->key, h + 16) != 1 ||
        EVP_DecryptUpdate(c, NULL, &n, h, CRYPT_HEADER_LEN) != 1 ||
        EVP_DecryptUpdate(c, (unsigned char *)out, &n, h + CRYPT_HEADER_LEN, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, CRYPT_TAG_LEN,
                            (void *)(uintptr_t)(h + CRYPT_HEADER_LEN + ct_len)) != 1 ||
        EVP_DecryptFinal_ex(c, (unsigned char *)out + n, &n) != 1) {
        *st = CRYPT_TAMPERED;
        err_set(err, IERR_VERIFY,
                "%s: tampered: the authentication tag does not verify with key %s; not shown",
                shown, id);
        goto fail;
    }
    EVP_CIPHER_CTX_free(c);
    out[ct_len] = '\0';
    *plain_len = (size_t)ct_len;
    *st = CRYPT_OK;
    return out;
fail:
    EVP_CIPHER_CTX_free(c);
    if (out != NULL) {
        OPENSSL_cleanse(out, ct_len);
        free(out);
    }
    return NULL;
}

int
crypt_wal_line_seal(const struct crypt_keyring *kr, const char *line, size_t len, struct buf *out,
                    struct intentus_err *err)
{
    struct buf blob = BUF_INIT;
    size_t b64;
    int rc = -1;

    if (crypt_seal(kr, CRYPT_WAL_ENTRY, line, len, &blob, err) != 0)
        goto out;
    b64 = 4 * ((blob.len + 2) / 3);
    if (buf_puts(out, CRYPT_WAL_PREFIX) != 0 || buf_reserve(out, b64 + 1) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    EVP_EncodeBlock((unsigned char *)out->data + out->len, (unsigned char *)blob.data,
                    (int)blob.len);
    out->len += b64;
    out->data[out->len] = '\0';
    rc = 0;
out:
    buf_free(&blob);
    return rc;
}

char *
crypt_wal_line_open(const struct crypt_keyring *kr, const char *line, size_t len, const char *shown,
                    size_t *plain_len, enum crypt_status *st, struct intentus_err *err)
{
    size_t pl = strlen(CRYPT_WAL_PREFIX), n, raw_len;
    unsigned char *raw;
    char *out;
    int got;

    if (len < pl || memcmp(line, CRYPT_WAL_PREFIX, pl) != 0) {
        *st = CRYPT_PLAIN;
        return copy_plain(line, len, plain_len, err);
    }
    n = len - pl;
    if (n % 4 != 0 || n > (size_t)INT32_MAX) {
        /* A whole line (it ends in a newline) of the wrong length. */
        *st = CRYPT_TAMPERED;
        err_set(err, IERR_VERIFY,
                "%s: tampered: an encrypted entry of %zu base64 characters (not a whole "
                "number of 4)",
                shown, n);
        return NULL;
    }
    raw = malloc(n / 4 * 3 + 1);
    if (raw == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        *st = CRYPT_BAD_FORMAT;
        return NULL;
    }
    got = EVP_DecodeBlock(raw, (const unsigned char *)line + pl, (int)n);
    if (got < 0) {
        free(raw);
        *st = CRYPT_TAMPERED;
        err_set(err, IERR_VERIFY, "%s: tampered: an encrypted entry is not base64", shown);
        return NULL;
    }
    raw_len = (size_t)got;
    /* EVP_DecodeBlock counts '=' padding as zero bytes. */
    if (n >= 1 && line[len - 1] == '=')
        raw_len--;
    if (n >= 2 && line[len - 2] == '=')
        raw_len--;
    out = crypt_open(kr, CRYPT_WAL_ENTRY, raw, raw_len, shown, plain_len, st, err);
    free(raw);
    return out;
}

void
crypt_set_reader(struct crypt_keyring *kr)
{
    crypt_keyring_free(reader_ring);
    reader_ring = kr;
}

const struct crypt_keyring *
crypt_reader(void)
{
    return reader_ring;
}
