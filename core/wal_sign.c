#include "core/wal_sign.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/json.h"
#include "core/rec_store.h"
#include "core/safe_file.h"

struct wal_key {
    EVP_PKEY *pkey;
    char id[WAL_KEY_ID_LEN + 1];
};

static struct wal_key *
key_adopt(EVP_PKEY *pkey, const char *shown, struct intentus_err *err)
{
    unsigned char raw[32];
    size_t n = sizeof(raw);
    char hex[65];
    struct wal_key *k;

    if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519 || EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 ||
        n != sizeof(raw)) {
        err_set(err, IERR_INVALID, "%s: not an Ed25519 public key", shown);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    k->pkey = pkey;
    json_sha256_hex(raw, sizeof(raw), hex);
    memcpy(k->id, hex, WAL_KEY_ID_LEN);
    k->id[WAL_KEY_ID_LEN] = '\0';
    return k;
}

struct wal_key *
wal_key_from_raw(const unsigned char raw[32], struct intentus_err *err)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, raw, 32);

    if (pkey == NULL) {
        ERR_clear_error();
        err_set(err, IERR_INVALID, "not a valid Ed25519 public key");
        return NULL;
    }
    return key_adopt(pkey, "raw key", err);
}

static int
hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 64 hex digits, whitespace around them allowed, into raw[32]. */
static int
parse_hex(const char *text, size_t len, unsigned char raw[32])
{
    size_t a = 0, b = len, i;

    while (a < b && isspace((unsigned char)text[a]))
        a++;
    while (b > a && isspace((unsigned char)text[b - 1]))
        b--;
    /* cppcheck-suppress knownConditionTrueFalse ; callers pass any length */
    if (b - a != 64)
        return -1;
    for (i = 0; i < 32; i++) {
        int hi = hex_val((unsigned char)text[a + 2 * i]);
        int lo = hex_val((unsigned char)text[a + 2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        raw[i] = (unsigned char)(hi * 16 + lo);
    }
    return 0;
}

static struct wal_key *
key_from_pem(const char *text, size_t len, const char *path, struct intentus_err *err)
{
    BIO *bio;
    EVP_PKEY *pkey;

    if (strstr(text, "PRIVATE KEY-----") != NULL) {
        err_set(err, IERR_INVALID,
                "%s holds a private key; give the public key (the signer's export_public_pem)",
                path);
        return NULL;
    }
    bio = BIO_new_mem_buf(text, (int)len);
    pkey = bio != NULL ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (pkey == NULL) {
        ERR_clear_error();
        err_set(err, IERR_INVALID, "%s: not a PEM public key (BEGIN PUBLIC KEY)", path);
        return NULL;
    }
    return key_adopt(pkey, path, err);
}

struct wal_key *
wal_key_load(const char *path, struct intentus_err *err)
{
    unsigned char raw[32];
    struct wal_key *k = NULL;
    size_t len = 0;
    char *text = safe_file_read(path, WAL_KEY_MAX_FILE, &len, err);

    if (text == NULL)
        return NULL;
    if (strlen(text) == len && strstr(text, "-----BEGIN ") != NULL) {
        k = key_from_pem(text, len, path, err);
    } else if (len == 32) {
        memcpy(raw, text, 32);
        k = wal_key_from_raw(raw, err);
    } else if (parse_hex(text, len, raw) == 0) {
        k = wal_key_from_raw(raw, err);
    } else {
        err_set(err, IERR_INVALID,
                "%s: not an Ed25519 public key (PEM \"BEGIN PUBLIC KEY\", the raw 32 bytes, or "
                "64 hex digits)",
                path);
    }
    free(text);
    if (k == NULL && err != NULL && err->code == IERR_INVALID && strstr(err->msg, path) == NULL)
        err_prefix(err, "%s", path);
    return k;
}

void
wal_key_free(struct wal_key *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

const char *
wal_key_id(const struct wal_key *k)
{
    return k->id;
}

static int
b64_val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Strict standard base64 (padded, no whitespace) into out; the decoded
 * length, or -1. */
static long
b64_decode(const char *in, unsigned char *out, size_t cap)
{
    size_t len = strlen(in), n = 0;

    if (len == 0 || len % 4 != 0)
        return -1;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            char c = in[i + (size_t)j];
            if (c == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad > 0 || (v[j] = b64_val((unsigned char)c)) < 0) {
                return -1;
            }
        }
        if (n + 3 - (size_t)pad > cap)
            return -1;
        out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (pad < 2)
            out[n++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
        if (pad < 1)
            out[n++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
    }
    return (long)n;
}

int
wal_key_verify(const struct wal_key *k, const char *entry_hash, const char *signature_b64,
               struct intentus_err *err)
{
    unsigned char sig[66];
    long n = b64_decode(signature_b64, sig, sizeof(sig));
    EVP_MD_CTX *ctx;
    int ok;

    if (n < 0) {
        err_set(err, IERR_VERIFY, "signature is not base64");
        return -1;
    }
    if (n != 64) {
        err_set(err, IERR_VERIFY, "signature is %ld bytes, not the 64 of Ed25519", n);
        return -1;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
         EVP_DigestVerify(ctx, sig, 64, (const unsigned char *)entry_hash, strlen(entry_hash)) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        err_set(err, IERR_VERIFY, "signature does not verify with key %s", k->id);
        return -1;
    }
    return 0;
}

/* ---- signing ---- */

struct wal_signer {
    EVP_PKEY *pkey;
    struct wal_key *pub;
};

static struct wal_signer *
signer_adopt(EVP_PKEY *pkey, const char *shown, struct intentus_err *err)
{
    unsigned char raw[32];
    size_t n = sizeof(raw);
    struct wal_signer *s;

    if (EVP_PKEY_id(pkey) != EVP_PKEY_ED25519 || EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 ||
        n != sizeof(raw)) {
        ERR_clear_error();
        err_set(err, IERR_INVALID, "%s: not an Ed25519 private key", shown);
        EVP_PKEY_free(pkey);
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        EVP_PKEY_free(pkey);
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    s->pkey = pkey;
    s->pub = wal_key_from_raw(raw, err);
    if (s->pub == NULL) {
        wal_signer_free(s);
        return NULL;
    }
    return s;
}

static struct wal_signer *
signer_from_seed(const unsigned char seed[32], const char *shown, struct intentus_err *err)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);

    if (pkey == NULL) {
        ERR_clear_error();
        err_set(err, IERR_INVALID, "%s: not a valid Ed25519 private key", shown);
        return NULL;
    }
    return signer_adopt(pkey, shown, err);
}

static struct wal_signer *
signer_from_pem(const char *text, size_t len, const char *path, struct intentus_err *err)
{
    BIO *bio;
    EVP_PKEY *pkey;

    if (strstr(text, "ENCRYPTED PRIVATE KEY-----") != NULL) {
        err_set(err, IERR_INVALID,
                "%s is an encrypted private key; intentus reads unencrypted PKCS#8 only", path);
        return NULL;
    }
    if (strstr(text, "PRIVATE KEY-----") == NULL) {
        err_set(err, IERR_INVALID,
                "%s is not a private key (BEGIN PRIVATE KEY); a public key verifies, it cannot "
                "sign",
                path);
        return NULL;
    }
    bio = BIO_new_mem_buf(text, (int)len);
    /* No callback and an empty passphrase: never a prompt on the terminal. */
    pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)"") : NULL;
    BIO_free(bio);
    if (pkey == NULL) {
        ERR_clear_error();
        err_set(err, IERR_INVALID, "%s: not a PEM private key", path);
        return NULL;
    }
    return signer_adopt(pkey, path, err);
}

struct wal_signer *
wal_signer_load(const char *path, struct intentus_err *err)
{
    unsigned char seed[32];
    struct wal_signer *s = NULL;
    struct stat st;
    size_t len = 0;
    char *text;
    int fd = safe_file_open(AT_FDCWD, path, path, WAL_KEY_MAX_FILE, err);

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0) {
        err_set(err, IERR_IO, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if ((st.st_mode & 077) != 0) {
        err_set(err, IERR_INVALID,
                "%s: mode %04o lets others read the private key; it must be 0600 (chmod 600 %s)",
                path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return NULL;
    }
    text = safe_file_read_fd(fd, path, WAL_KEY_MAX_FILE, &len, err);
    close(fd);
    if (text == NULL)
        return NULL;
    if (strlen(text) == len && strstr(text, "-----BEGIN ") != NULL) {
        s = signer_from_pem(text, len, path, err);
    } else if (len == 32) {
        memcpy(seed, text, 32);
        s = signer_from_seed(seed, path, err);
    } else if (parse_hex(text, len, seed) == 0) {
        s = signer_from_seed(seed, path, err);
    } else {
        err_set(err, IERR_INVALID,
                "%s: not an Ed25519 private key (PEM \"BEGIN PRIVATE KEY\", the raw 32 bytes, "
                "or 64 hex digits)",
                path);
    }
    OPENSSL_cleanse(seed, sizeof(seed));
    OPENSSL_cleanse(text, len);
    free(text);
    return s;
}

struct wal_signer *
wal_signer_generate(struct intentus_err *err)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    EVP_PKEY *pkey = NULL;

    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1) {
        EVP_PKEY_CTX_free(ctx);
        ERR_clear_error();
        err_set(err, IERR_IO, "cannot generate an Ed25519 key");
        return NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return signer_adopt(pkey, "generated key", err);
}

void
wal_signer_free(struct wal_signer *s)
{
    if (s == NULL)
        return;
    EVP_PKEY_free(s->pkey);
    wal_key_free(s->pub);
    free(s);
}

const char *
wal_signer_key_id(const struct wal_signer *s)
{
    return wal_key_id(s->pub);
}

const struct wal_key *
wal_signer_public(const struct wal_signer *s)
{
    return s->pub;
}

static void
b64_encode(const unsigned char *in, size_t n, char *out)
{
    /* The alphabet, then the pad at [64]. */
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[i + 1 < n ? (v >> 6) & 63 : 64];
        out[o++] = tab[i + 2 < n ? v & 63 : 64];
    }
    out[o] = '\0';
}

int
wal_signer_sign(const struct wal_signer *s, const char *entry_hash, char out[WAL_SIG_B64_LEN + 1],
                struct intentus_err *err)
{
    unsigned char sig[64];
    size_t n = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok;

    if (ctx == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->pkey) == 1 &&
         EVP_DigestSign(ctx, sig, &n, (const unsigned char *)entry_hash, strlen(entry_hash)) == 1 &&
         n == sizeof(sig);
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        ERR_clear_error();
        err_set(err, IERR_IO, "cannot sign with key %s", wal_signer_key_id(s));
        return -1;
    }
    b64_encode(sig, sizeof(sig), out);
    return 0;
}

/* Write text to a new file (O_EXCL) with mode; -1 with err naming path. */
static int
write_new(const char *path, const char *text, size_t len, mode_t mode, struct intentus_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);

    if (fd < 0) {
        err_set(err, IERR_IO, "%s: %s%s", path, strerror(errno),
                errno == EEXIST ? " (never overwritten: move it away first)" : "");
        return -1;
    }
    if (fchmod(fd, mode) != 0 || rec_store_write_all(fd, text, len) != 0 || fsync(fd) != 0) {
        err_set(err, IERR_IO, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    close(fd);
    return 0;
}

/* The PEM text of s's private (PKCS#8) or public (SPKI) half. */
static char *
pem_text(const struct wal_signer *s, bool private_half, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *copy = NULL;
    long n = 0;

    if (bio == NULL)
        return NULL;
    if ((private_half ? PEM_write_bio_PrivateKey(bio, s->pkey, NULL, NULL, 0, NULL, NULL)
                      : PEM_write_bio_PUBKEY(bio, s->pkey)) == 1 &&
        (n = BIO_get_mem_data(bio, &data)) > 0 && (copy = malloc((size_t)n + 1)) != NULL) {
        memcpy(copy, data, (size_t)n);
        copy[n] = '\0';
        *len = (size_t)n;
    }
    if (data != NULL && n > 0)
        OPENSSL_cleanse(data, (size_t)n);
    BIO_free(bio);
    ERR_clear_error();
    return copy;
}

int
wal_signer_save(const struct wal_signer *s, const char *private_path, const char *public_path,
                struct intentus_err *err)
{
    size_t plen = 0, qlen = 0;
    char *priv = pem_text(s, true, &plen), *pub = pem_text(s, false, &qlen);
    int rc = -1;

    if (priv == NULL || pub == NULL) {
        err_set(err, IERR_NOMEM, "cannot encode the key as PEM");
        goto out;
    }
    if (write_new(private_path, priv, plen, 0600, err) != 0)
        goto out;
    if (write_new(public_path, pub, qlen, 0644, err) != 0) {
        unlink(private_path);
        goto out;
    }
    rc = 0;
out:
    if (priv != NULL)
        OPENSSL_cleanse(priv, plen);
    free(priv);
    free(pub);
    return rc;
}
