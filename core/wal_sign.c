#include "core/wal_sign.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
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
