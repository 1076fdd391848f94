/* EMCL envelopes and frames (core/emcl.h). */
#include "core/emcl.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/safe_file.h"

#define EMCL_NONCE 12
#define EMCL_TAG 16
#define EMCL_AAD "emcl-aes-gcm"
#define EMCL_HMAC_NONCE_HEX 16
/* Frames are bounded by the transports (serve.max_body, max_response);
 * this only keeps the arithmetic below far from overflow. */
#define EMCL_MAX_TEXT ((size_t)1 << 30)
#define EMCL_PLAINTEXT_DEPTH 256

struct emcl_key {
    enum emcl_mode mode;
    unsigned char aes[32]; /* aes-gcm: the normalised key */
    unsigned char *secret; /* hmac: the secret's bytes */
    size_t secret_len;
    char *identity; /* NULL: none */
};

const char *
emcl_fail_name(enum emcl_fail f)
{
    static const char *const names[] = {
#define X(code, text) text,
        EMCL_FAILS(X)
#undef X
    };

    return (size_t)f < sizeof(names) / sizeof(names[0]) ? names[f] : "UNKNOWN";
}

const char *
emcl_mode_name(enum emcl_mode m)
{
    return m == EMCL_MODE_HMAC ? "hmac" : "aes-gcm";
}

/* ---- settings and keys ---- */

int
emcl_settings_parse(const cJSON *obj, const char *path, bool allow_required,
                    struct emcl_settings *out, struct intentus_err *err)
{
    const cJSON *k, *key, *file, *mode, *identity, *required;

    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(obj)) {
        err_set(err, IERR_CONFIG, "%s: must be an object such as {\"key\": \"$EMCL_KEY\"}", path);
        return -1;
    }
    cJSON_ArrayForEach(k, obj)
    {
        if (strcmp(k->string, "key") != 0 && strcmp(k->string, "key_file") != 0 &&
            strcmp(k->string, "mode") != 0 && strcmp(k->string, "identity") != 0 &&
            (!allow_required || strcmp(k->string, "required") != 0)) {
            err_set(err, IERR_CONFIG, "%s.%s: unknown key (known: key, key_file, mode, identity%s)",
                    path, k->string, allow_required ? ", required" : "");
            return -1;
        }
    }
    key = cJSON_GetObjectItemCaseSensitive(obj, "key");
    file = cJSON_GetObjectItemCaseSensitive(obj, "key_file");
    mode = cJSON_GetObjectItemCaseSensitive(obj, "mode");
    identity = cJSON_GetObjectItemCaseSensitive(obj, "identity");
    required = cJSON_GetObjectItemCaseSensitive(obj, "required");
    if ((key != NULL) == (file != NULL)) {
        err_set(err, IERR_CONFIG, "%s: needs exactly one of key (\"$NAME\") and key_file", path);
        return -1;
    }
    if (key != NULL) {
        if (!cJSON_IsString(key) || key->valuestring[0] != '$' || key->valuestring[1] == '\0') {
            err_set(err, IERR_CONFIG,
                    "%s.key: must name an environment variable (\"$NAME\"); the secret itself "
                    "does not belong in the config file (or use key_file)",
                    path);
            return -1;
        }
        out->key_env = key->valuestring + 1;
    } else {
        if (!cJSON_IsString(file) || file->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG, "%s.key_file: must be a path", path);
            return -1;
        }
        out->key_file = file->valuestring;
    }
    if (mode != NULL) {
        if (cJSON_IsString(mode) && strcmp(mode->valuestring, "aes-gcm") == 0) {
            out->mode = EMCL_MODE_AES_GCM;
        } else if (cJSON_IsString(mode) && strcmp(mode->valuestring, "hmac") == 0) {
            out->mode = EMCL_MODE_HMAC;
        } else {
            err_set(err, IERR_CONFIG,
                    "%s.mode: must be \"aes-gcm\" (encrypted) or \"hmac\" (signed only)", path);
            return -1;
        }
    }
    if (identity != NULL) {
        if (!cJSON_IsString(identity) || identity->valuestring[0] == '\0') {
            err_set(err, IERR_CONFIG, "%s.identity: must be a non-empty string", path);
            return -1;
        }
        out->identity = identity->valuestring;
    }
    if (required != NULL) {
        if (!cJSON_IsBool(required)) {
            err_set(err, IERR_CONFIG, "%s.required: must be true or false", path);
            return -1;
        }
        out->required = cJSON_IsTrue(required);
    }
    return 0;
}

void
emcl_key_free(struct emcl_key *k)
{
    if (k == NULL)
        return;
    if (k->secret != NULL) {
        OPENSSL_cleanse(k->secret, k->secret_len);
        free(k->secret);
    }
    free(k->identity);
    OPENSSL_cleanse(k, sizeof(*k));
    free(k);
}

enum emcl_mode
emcl_key_mode(const struct emcl_key *k)
{
    return k->mode;
}

struct emcl_key *
emcl_key_new(const char *secret, size_t len, enum emcl_mode mode, const char *identity,
             struct intentus_err *err)
{
    struct emcl_key *k;

    if (secret == NULL || len == 0) {
        err_set(err, IERR_CONFIG, "the EMCL key is empty");
        return NULL;
    }
    if ((k = calloc(1, sizeof(*k))) == NULL || (k->secret = malloc(len)) == NULL ||
        (identity != NULL && (k->identity = strdup(identity)) == NULL)) {
        emcl_key_free(k);
        err_set(err, IERR_NOMEM, "out of memory for the EMCL key");
        return NULL;
    }
    k->mode = mode;
    memcpy(k->secret, secret, len);
    k->secret_len = len;
    /* AESGCMEMCLProvider: 32 UTF-8 bytes as they are, anything else hashed. */
    if (len == 32)
        memcpy(k->aes, secret, 32);
    else
        SHA256((const unsigned char *)secret, len, k->aes);
    return k;
}

struct emcl_key *
emcl_key_load_file(const char *path, const char *shown, enum emcl_mode mode, const char *identity,
                   struct intentus_err *err)
{
    struct stat st;
    struct emcl_key *k = NULL;
    char *text = NULL;
    size_t len = 0;
    int fd = safe_file_open(AT_FDCWD, path, path, EMCL_KEY_MAX_FILE, err);

    if (fd < 0) {
        err_prefix(err, "%s", shown);
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        err_set(err, IERR_IO, "%s: cannot stat %s", shown, path);
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        err_set(err, IERR_CONFIG,
                "%s: %s has mode %04o; a key file must not be open to group or others "
                "(chmod 600 %s)",
                shown, path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if ((text = safe_file_read_fd(fd, path, EMCL_KEY_MAX_FILE, &len, err)) == NULL) {
        err_prefix(err, "%s", shown);
        goto out;
    }
    if (memchr(text, '\0', len) != NULL) {
        err_set(err, IERR_CONFIG, "%s: %s holds a NUL byte; the EMCL key is text", shown, path);
        goto out;
    }
    while (len > 0 && strchr(" \t\r\n", text[len - 1]) != NULL)
        len--;
    if (len == 0) {
        err_set(err, IERR_CONFIG, "%s: %s holds no key", shown, path);
        goto out;
    }
    k = emcl_key_new(text, len, mode, identity, err);
out:
    if (text != NULL) {
        OPENSSL_cleanse(text, strlen(text));
        free(text);
    }
    close(fd);
    return k;
}

struct emcl_key *
emcl_key_from_settings(const struct emcl_settings *s, const char *path, struct intentus_err *err)
{
    const char *v;

    if (s->key_file != NULL) {
        char shown[200];
        snprintf(shown, sizeof(shown), "%s.key_file", path);
        return emcl_key_load_file(s->key_file, shown, s->mode, s->identity, err);
    }
    v = getenv(s->key_env);
    if (v == NULL || v[0] == '\0') {
        err_set(err, IERR_CONFIG, "%s.key: environment variable %s is %s", path, s->key_env,
                v == NULL ? "not set" : "empty");
        return NULL;
    }
    return emcl_key_new(v, strlen(v), s->mode, s->identity, err);
}

/* ---- base64 (the standard alphabet, padded: Python's b64encode) ---- */

static char *
b64_encode(const unsigned char *in, size_t len)
{
    size_t n = 4 * ((len + 2) / 3);
    char *out = malloc(n + 1);

    if (out == NULL)
        return NULL;
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    out[n] = '\0';
    return out;
}

#define B64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

/* Strict decoding (only the alphabet, then at most two '=' closing a
 * multiple of 4) into a new buffer (*len bytes); NULL on bad text. */
static unsigned char *
b64_decode(const char *in, size_t *len)
{
    size_t n = strlen(in), body = strspn(in, B64_ALPHABET), pad = n - body;
    unsigned char *out;
    int got;

    if (n % 4 != 0 || n > EMCL_MAX_TEXT || pad > 2 || strspn(in + body, "=") != pad ||
        (out = malloc(n / 4 * 3 + 1)) == NULL)
        return NULL;
    got = n > 0 ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)n) : 0;
    if (got < 0 || (size_t)got < pad) {
        free(out);
        return NULL;
    }
    *len = (size_t)got - pad; /* EVP_DecodeBlock counts padding as zero bytes */
    return out;
}

/* ---- identity chains ---- */

static bool
is_string_array(const cJSON *a, size_t max)
{
    const cJSON *it;
    size_t n = 0;

    if (!cJSON_IsArray(a))
        return false;
    cJSON_ArrayForEach(it, a)
    {
        if (!cJSON_IsString(it) || ++n > max)
            return false;
    }
    return true;
}

cJSON *
emcl_chain_extend(const cJSON *chain, const char *identity)
{
    cJSON *out = cJSON_CreateArray(), *s;
    const cJSON *it;

    if (out == NULL)
        return NULL;
    cJSON_ArrayForEach(it, chain)
    {
        if (!cJSON_IsString(it))
            continue;
        if ((s = cJSON_CreateString(it->valuestring)) == NULL) {
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToArray(out, s);
    }
    if (identity != NULL) {
        if ((s = cJSON_CreateString(identity)) == NULL) {
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToArray(out, s);
    }
    return out;
}

/* The chain the plaintext carries: metadata.identityChain, or NULL. */
static const cJSON *
inner_chain(const cJSON *body)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(body, "metadata");

    return cJSON_IsObject(md) ? cJSON_GetObjectItemCaseSensitive(md, "identityChain") : NULL;
}

static bool
chains_equal(const cJSON *a, const cJSON *b)
{
    const cJSON *x = a != NULL ? a->child : NULL, *y = b != NULL ? b->child : NULL;

    for (; x != NULL && y != NULL; x = x->next, y = y->next) {
        if (!cJSON_IsString(x) || !cJSON_IsString(y) || strcmp(x->valuestring, y->valuestring) != 0)
            return false;
    }
    return x == NULL && y == NULL;
}

/* ---- sealing ---- */

static int
aes_seal(const struct emcl_key *k, const struct buf *pt, cJSON *env, struct intentus_err *err)
{
    unsigned char nonce[EMCL_NONCE], *ct = malloc(pt->len + EMCL_TAG + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    char *ct64 = NULL, *iv64 = NULL;
    int n = 0, fin = 0, rc = -1;

    if (ct == NULL || ctx == NULL) {
        err_set(err, IERR_NOMEM, "out of memory sealing an EMCL envelope");
        goto out;
    }
    if (RAND_bytes(nonce, sizeof(nonce)) != 1 ||
        EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, EMCL_NONCE, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, k->aes, nonce) != 1 ||
        EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *)EMCL_AAD, strlen(EMCL_AAD)) != 1 ||
        EVP_EncryptUpdate(ctx, ct, &n, (const unsigned char *)pt->data, (int)pt->len) != 1 ||
        EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, EMCL_TAG, ct + n + fin) != 1) {
        err_set(err, IERR_IO, "AES-256-GCM sealing failed (OpenSSL)");
        goto out;
    }
    if ((ct64 = b64_encode(ct, (size_t)(n + fin) + EMCL_TAG)) == NULL ||
        (iv64 = b64_encode(nonce, sizeof(nonce))) == NULL ||
        cJSON_AddStringToObject(env, "cipherText", ct64) == NULL ||
        cJSON_AddStringToObject(env, "iv", iv64) == NULL ||
        cJSON_AddStringToObject(env, "tag", "") == NULL) {
        err_set(err, IERR_NOMEM, "out of memory sealing an EMCL envelope");
        goto out;
    }
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(ct);
    free(ct64);
    free(iv64);
    return rc;
}

static void
hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

/* lowercase hex HMAC-SHA256(secret, iv || text) into out[65]. */
static int
hmac_hex(const struct emcl_key *k, const char *iv, const char *text, size_t text_len, char *out)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    size_t iv_len = strlen(iv);
    unsigned char *msg = malloc(iv_len + text_len + 1);
    bool ok;

    if (msg == NULL)
        return -1;
    memcpy(msg, iv, iv_len);
    memcpy(msg + iv_len, text, text_len);
    msg[iv_len + text_len] = '\0';
    ok = HMAC(EVP_sha256(), k->secret, (int)k->secret_len, msg, iv_len + text_len, mac, &mac_len) !=
             NULL &&
         mac_len == 32;
    OPENSSL_cleanse(msg, iv_len + text_len);
    free(msg);
    if (ok)
        hex(mac, 32, out);
    return ok ? 0 : -1;
}

static int
hmac_seal(const struct emcl_key *k, const struct buf *pt, cJSON *env, struct intentus_err *err)
{
    unsigned char rnd[EMCL_HMAC_NONCE_HEX / 2];
    char iv[EMCL_HMAC_NONCE_HEX + 1], tag[65];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        err_set(err, IERR_IO, "no random bytes for the EMCL nonce (OpenSSL)");
        return -1;
    }
    hex(rnd, sizeof(rnd), iv);
    if (hmac_hex(k, iv, pt->data, pt->len, tag) != 0) {
        err_set(err, IERR_IO, "HMAC-SHA256 failed (OpenSSL)");
        return -1;
    }
    if (cJSON_AddStringToObject(env, "cipherText", buf_str(pt)) == NULL ||
        cJSON_AddStringToObject(env, "iv", iv) == NULL ||
        cJSON_AddStringToObject(env, "tag", tag) == NULL) {
        err_set(err, IERR_NOMEM, "out of memory sealing an EMCL envelope");
        return -1;
    }
    return 0;
}

/* The body as sealed: body itself, or (identity set) a copy whose
 * metadata.identityChain ends with the identity. *chain: the chain. */
static cJSON *
sealed_body(const struct emcl_key *k, const cJSON *body, cJSON **copy, cJSON **chain)
{
    cJSON *md;

    *copy = NULL;
    if ((*chain = emcl_chain_extend(inner_chain(body), k->identity)) == NULL)
        return NULL;
    if (k->identity == NULL)
        return (cJSON *)body;
    if ((*copy = cJSON_Duplicate(body, 1)) == NULL)
        return NULL;
    md = cJSON_GetObjectItemCaseSensitive(*copy, "metadata");
    if (!cJSON_IsObject(md)) {
        cJSON_DeleteItemFromObjectCaseSensitive(*copy, "metadata");
        md = cJSON_AddObjectToObject(*copy, "metadata");
    }
    if (md == NULL) {
        cJSON_Delete(*copy);
        *copy = NULL;
        return NULL;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(md, "identityChain");
    cJSON_AddItemToObject(md, "identityChain", cJSON_Duplicate(*chain, 1));
    return *copy;
}

cJSON *
emcl_seal(const struct emcl_key *k, const cJSON *body, struct intentus_err *err)
{
    struct buf pt = BUF_INIT;
    cJSON *env = NULL, *copy = NULL, *chain = NULL;
    const cJSON *what;
    int rc;

    if (!cJSON_IsObject(body)) {
        err_set(err, IERR_INVALID, "an EMCL body must be a JSON object");
        return NULL;
    }
    if ((what = sealed_body(k, body, &copy, &chain)) == NULL ||
        json_print_compact(what, &pt) != 0 || (env = cJSON_CreateObject()) == NULL) {
        err_set(err, IERR_NOMEM, "out of memory sealing an EMCL envelope");
        goto fail;
    }
    if (pt.len > EMCL_MAX_TEXT) {
        err_set(err, IERR_LIMIT, "an EMCL body over %zu bytes", EMCL_MAX_TEXT);
        goto fail;
    }
    rc = k->mode == EMCL_MODE_HMAC ? hmac_seal(k, &pt, env, err) : aes_seal(k, &pt, env, err);
    if (rc != 0)
        goto fail;
    cJSON_AddItemToObject(env, "identityChain", chain);
    chain = NULL;
    OPENSSL_cleanse(pt.data, pt.len);
    buf_free(&pt);
    cJSON_Delete(copy);
    return env;
fail:
    if (pt.data != NULL)
        OPENSSL_cleanse(pt.data, pt.len);
    buf_free(&pt);
    cJSON_Delete(copy);
    cJSON_Delete(chain);
    cJSON_Delete(env);
    return NULL;
}

/* ---- opening ---- */

static cJSON *
fail_open(enum emcl_fail *why, enum emcl_fail f, struct intentus_err *err, enum intentus_code code,
          const char *msg)
{
    *why = f;
    err_set(err, code, "EMCL %s: %s", emcl_fail_name(f), msg);
    return NULL;
}

/* The plaintext of an aes-gcm envelope into *pt (caller frees), or a
 * failure reason. */
static enum emcl_fail
aes_open(const struct emcl_key *k, const char *ct64, const char *iv64, unsigned char **pt,
         size_t *pt_len, const char **msg)
{
    size_t ct_len = 0, iv_len = 0;
    unsigned char *ct = b64_decode(ct64, &ct_len), *iv = b64_decode(iv64, &iv_len), *out = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    enum emcl_fail f = EMCL_MALFORMED;
    int n = 0, fin = 0;

    *pt = NULL;
    if (ct == NULL || iv == NULL) {
        *msg = "cipherText and iv must be base64 (standard alphabet, padded)";
        goto out;
    }
    if (iv_len != EMCL_NONCE) {
        *msg = "iv must be a 12-byte nonce";
        goto out;
    }
    if (ct_len < EMCL_TAG) {
        *msg = "cipherText is shorter than the 16-byte GCM tag";
        goto out;
    }
    if ((out = malloc(ct_len - EMCL_TAG + 1)) == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL) {
        *msg = "out of memory";
        goto out;
    }
    f = EMCL_AUTH_FAILED;
    *msg = "the GCM tag does not verify (wrong key, or the frame was altered)";
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, EMCL_NONCE, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, k->aes, iv) != 1 ||
        EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *)EMCL_AAD, strlen(EMCL_AAD)) != 1 ||
        EVP_DecryptUpdate(ctx, out, &n, ct, (int)(ct_len - EMCL_TAG)) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, EMCL_TAG, ct + ct_len - EMCL_TAG) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1) {
        OPENSSL_cleanse(out, ct_len - EMCL_TAG);
        goto out;
    }
    f = EMCL_OK;
    *pt = out;
    *pt_len = (size_t)n + (size_t)fin;
    out = NULL;
out:
    EVP_CIPHER_CTX_free(ctx);
    free(ct);
    free(iv);
    free(out);
    return f;
}

static enum emcl_fail
hmac_open(const struct emcl_key *k, const char *text, const char *iv, const char *tag,
          const char **msg)
{
    char want[65];

    if (hmac_hex(k, iv, text, strlen(text), want) != 0) {
        *msg = "HMAC-SHA256 failed (OpenSSL)";
        return EMCL_MALFORMED;
    }
    if (strlen(tag) != 64 || CRYPTO_memcmp(want, tag, 64) != 0) {
        *msg = "the HMAC does not verify (wrong key, or the frame was altered)";
        return EMCL_AUTH_FAILED;
    }
    return EMCL_OK;
}

/* cipherText, iv, tag: strings; identityChain: strings; nothing else (the
 * reference builds EMCLEnvelope(**body), which refuses other keys). */
static const char *
check_shape(const cJSON *env)
{
    const cJSON *it;

    if (!cJSON_IsObject(env))
        return "the envelope must be an object {cipherText, iv, tag, identityChain}";
    cJSON_ArrayForEach(it, env)
    {
        if (strcmp(it->string, "cipherText") != 0 && strcmp(it->string, "iv") != 0 &&
            strcmp(it->string, "tag") != 0 && strcmp(it->string, "identityChain") != 0)
            return "unknown key in the envelope (known: cipherText, iv, tag, identityChain)";
    }
    if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(env, "cipherText")) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(env, "iv")) ||
        !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(env, "tag")))
        return "cipherText, iv and tag must be strings";
    it = cJSON_GetObjectItemCaseSensitive(env, "identityChain");
    if (it != NULL && !is_string_array(it, EMCL_MAX_CHAIN))
        return "identityChain must be an array of at most 64 strings";
    return NULL;
}

cJSON *
emcl_open(const struct emcl_key *k, const cJSON *envelope, enum emcl_fail *why,
          struct intentus_err *err)
{
    const char *msg = check_shape(envelope), *ct, *iv;
    const cJSON *outer;
    unsigned char *pt = NULL;
    size_t pt_len = 0;
    struct intentus_err perr = { 0 };
    enum emcl_fail f;
    cJSON *body;

    if (msg != NULL)
        return fail_open(why, EMCL_MALFORMED, err, IERR_PARSE, msg);
    ct = cJSON_GetObjectItemCaseSensitive(envelope, "cipherText")->valuestring;
    iv = cJSON_GetObjectItemCaseSensitive(envelope, "iv")->valuestring;
    if (k->mode == EMCL_MODE_HMAC) {
        f = hmac_open(k, ct, iv, cJSON_GetObjectItemCaseSensitive(envelope, "tag")->valuestring,
                      &msg);
        pt_len = strlen(ct);
    } else {
        f = aes_open(k, ct, iv, &pt, &pt_len, &msg);
    }
    if (f != EMCL_OK)
        return fail_open(why, f, err, f == EMCL_AUTH_FAILED ? IERR_VERIFY : IERR_PARSE, msg);
    body = json_parse(pt != NULL ? (const char *)pt : ct, pt_len, EMCL_PLAINTEXT_DEPTH, &perr);
    if (pt != NULL) {
        OPENSSL_cleanse(pt, pt_len);
        free(pt);
    }
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return fail_open(why, EMCL_BAD_PLAINTEXT, err, IERR_PARSE,
                         "the authenticated plaintext is not a JSON object");
    }
    outer = cJSON_GetObjectItemCaseSensitive(envelope, "identityChain");
    if (cJSON_GetArraySize(outer) > 0 && !chains_equal(outer, inner_chain(body))) {
        cJSON_Delete(body);
        return fail_open(why, EMCL_CHAIN_MISMATCH, err, IERR_VERIFY,
                         "the clear identityChain differs from the one sealed inside the "
                         "envelope (metadata.identityChain)");
    }
    *why = EMCL_OK;
    return body;
}

/* ---- frames ---- */

cJSON *
emcl_frame_seal(const struct emcl_key *k, const cJSON *body, const cJSON *headers,
                struct intentus_err *err)
{
    cJSON *env = emcl_seal(k, body, err), *frame;

    if (env == NULL)
        return NULL;
    frame = cJSON_CreateObject();
    if (frame == NULL || cJSON_AddStringToObject(frame, "protocol", "INTENTUSNET/1.0") == NULL ||
        cJSON_AddStringToObject(frame, "messageType", "emcl") == NULL ||
        !cJSON_AddItemToObject(frame, "headers",
                               headers != NULL ? cJSON_Duplicate(headers, 1)
                                               : cJSON_CreateObject())) {
        cJSON_Delete(frame);
        cJSON_Delete(env);
        err_set(err, IERR_NOMEM, "out of memory building an EMCL frame");
        return NULL;
    }
    cJSON_AddItemToObject(frame, "body", env);
    return frame;
}

bool
emcl_frame_is_emcl(const cJSON *frame)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(frame, "protocol");
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(frame, "messageType");

    return cJSON_IsString(p) && strcmp(p->valuestring, "INTENTUSNET/1.0") == 0 &&
           cJSON_IsString(mt) && strcmp(mt->valuestring, "emcl") == 0;
}

cJSON *
emcl_frame_open(const struct emcl_key *k, const cJSON *frame, enum emcl_fail *why,
                struct intentus_err *err)
{
    if (!emcl_frame_is_emcl(frame)) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(frame, "messageType");
        char msg[160];
        snprintf(msg, sizeof(msg),
                 "expected an INTENTUSNET/1.0 frame with messageType \"emcl\"%s%.40s%s",
                 cJSON_IsString(mt) ? ", got \"" : "", cJSON_IsString(mt) ? mt->valuestring : "",
                 cJSON_IsString(mt) ? "\"" : "");
        return fail_open(why, EMCL_NOT_EMCL, err, IERR_VERIFY, msg);
    }
    return emcl_open(k, cJSON_GetObjectItemCaseSensitive(frame, "body"), why, err);
}
