/* Encryption at rest: keys, keyrings and sealed files.
 *
 * Cipher: AES-256-GCM through OpenSSL's EVP interface. libcrypto is already
 * linked (hashes, Ed25519 WAL signatures), AES-GCM is hardware accelerated
 * on every x86-64 and arm64 CPU we run on, and it is the cipher of the
 * reference's EMCL; libsodium would add a dependency for no gain here.
 *
 * A sealed blob is a 36-byte clear header, the ciphertext, then the 16-byte
 * GCM tag. The whole header is the additional authenticated data:
 *
 *   0  5  magic "\x89IENC" (JSON never starts with 0x89, gzip starts 1f 8b)
 *   5  1  format version (1; another is refused, naming it)
 *   6  1  kind: 1 record (<id>.json), 2 gzipped record (<id>.json.gz),
 *         3 WAL entry (a sealed blob cannot be moved from one role to another)
 *   7  1  reserved, 0
 *   8  8  key id: the first 8 bytes of SHA-256("intentus-key-id" NUL || key),
 *         shown as 16 hex digits; it names the key's bytes, so a key of the
 *         same id is the same key and "wrong key" is told from "tampered"
 *  16 12  nonce: 96 fresh random bits (RAND_bytes) for every blob
 *  28  8  ciphertext length, big-endian: a short file is "truncated",
 *         not "tampered"
 *
 * Keys: a key file holds 32 random bytes as 64 hex digits and a newline.
 * It must be a regular file of mode 0600 or narrower: any group or other
 * permission bit is refused, naming the file and its mode. A keyring is a
 * directory (0700 or narrower) of such files named
 * <UTC time>-<key id>.key; every key in it decrypts, the newest (last by
 * name, which is creation order for files made by crypt_keyring_add) seals.
 *
 * core/ keeps no hidden state except one thing: the process's reading
 * keyring (crypt_set_reader), set once by main() before any store is opened
 * and only read afterwards, so every reader (store, scanner, index, WAL,
 * retention) finds the key without each caller passing it down. */
#ifndef INTENTUS_CORE_CRYPT_H
#define INTENTUS_CORE_CRYPT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

#define CRYPT_KEY_LEN 32
#define CRYPT_HEADER_LEN 36
#define CRYPT_TAG_LEN 16
#define CRYPT_ID_HEX 17 /* 16 hex digits and the NUL */
#define CRYPT_VERSION 1
/* A WAL line that holds a sealed entry starts with this (then base64). */
#define CRYPT_WAL_PREFIX "ienc1:"

enum crypt_kind { CRYPT_RECORD = 1, CRYPT_RECORD_GZ = 2, CRYPT_WAL_ENTRY = 3 };

/* What opening a blob found. */
enum crypt_status {
    CRYPT_PLAIN,       /* not sealed (no magic): the bytes are the data */
    CRYPT_OK,          /* decrypted, tag verified */
    CRYPT_NO_KEY,      /* sealed, and no keyring is available at all */
    CRYPT_KEY_MISSING, /* sealed with a key the keyring does not hold */
    CRYPT_TAMPERED,    /* the tag does not verify: never shown as data */
    CRYPT_TRUNCATED,   /* shorter than its header says */
    CRYPT_BAD_FORMAT,  /* unknown version, wrong kind, trailing bytes */
};
const char *crypt_status_name(enum crypt_status st); /* "plain", "ok", "key missing", ... */

struct crypt_keyring;

struct crypt_key_info {
    char id[CRYPT_ID_HEX];
    char created[40]; /* ISO UTC from the file name, else the file's mtime */
    char file[256];   /* the file name (no directory) */
    bool writes;      /* the key new blobs are sealed with */
};

/* Load a key file or a keyring directory (which one: what path is). An
 * empty keyring directory loads (it decrypts nothing and cannot seal).
 * Errors name the file: mode too wide, not 64 hex digits, not a file. */
struct crypt_keyring *crypt_keyring_load(const char *path, struct intentus_err *err);
void crypt_keyring_free(struct crypt_keyring *kr);
const char *crypt_keyring_path(const struct crypt_keyring *kr);
bool crypt_keyring_is_dir(const struct crypt_keyring *kr);
size_t crypt_keyring_count(const struct crypt_keyring *kr);
/* Key i, in name order (the writing key last); -1 when out of range. */
int crypt_keyring_info(const struct crypt_keyring *kr, size_t i, struct crypt_key_info *out);
/* The id new blobs are sealed with; NULL when the ring is empty. */
const char *crypt_keyring_write_id(const struct crypt_keyring *kr);
bool crypt_keyring_has(const struct crypt_keyring *kr, const char *id_hex);

/* Write a new random key to path (created 0600 with O_EXCL: an existing
 * file is never overwritten). id receives its id. */
int crypt_key_new_file(const char *path, char id[CRYPT_ID_HEX], struct intentus_err *err);
/* Add a new random key to the keyring directory dir (created 0700 if
 * missing; refused if group or other may enter it), as the newest key.
 * file receives its file name. */
int crypt_keyring_add(const char *dir, char id[CRYPT_ID_HEX], char *file, size_t file_size,
                      struct intentus_err *err);

/* True when data starts with the sealed-blob magic. */
bool crypt_is_sealed(const void *data, size_t len);
/* The key id in a sealed blob's header into id; -1 when too short. */
int crypt_blob_key_id(const void *data, size_t len, char id[CRYPT_ID_HEX]);

/* Seal plain with the ring's writing key, appending the blob to out. */
int crypt_seal(const struct crypt_keyring *kr, enum crypt_kind kind, const void *plain, size_t len,
               struct buf *out, struct intentus_err *err);
/* Open data. A blob without the magic is CRYPT_PLAIN and returns a copy.
 * kr may be NULL (no key). On CRYPT_OK/CRYPT_PLAIN returns a NUL-terminated
 * buffer the caller frees (*plain_len without the NUL); otherwise NULL with
 * *st saying why and err naming shown, the key id and the cause:
 *   "<shown>: encrypted with key K; no key given (--keyring, $INTENTUS_KEYRING
 *    or recording.encryption)"             (CRYPT_NO_KEY, IERR_VERIFY)
 *   "<shown>: encrypted with key K, which keyring D does not hold"
 *                                          (CRYPT_KEY_MISSING, IERR_VERIFY)
 *   "<shown>: tampered: ..."              (CRYPT_TAMPERED, IERR_VERIFY)
 *   "<shown>: truncated: N of M bytes"    (CRYPT_TRUNCATED, IERR_PARSE) */
char *crypt_open(const struct crypt_keyring *kr, enum crypt_kind kind, const void *data, size_t len,
                 const char *shown, size_t *plain_len, enum crypt_status *st,
                 struct intentus_err *err);

/* One WAL line (without its newline): seal and base64 into out as
 * CRYPT_WAL_PREFIX + base64; and back. crypt_wal_line_open on a line
 * without the prefix is CRYPT_PLAIN (a copy). */
int crypt_wal_line_seal(const struct crypt_keyring *kr, const char *line, size_t len,
                        struct buf *out, struct intentus_err *err);
char *crypt_wal_line_open(const struct crypt_keyring *kr, const char *line, size_t len,
                          const char *shown, size_t *plain_len, enum crypt_status *st,
                          struct intentus_err *err);

/* The process's reading keyring (see the top of this file). set takes
 * ownership; NULL clears (and frees the previous). */
void crypt_set_reader(struct crypt_keyring *kr);
const struct crypt_keyring *crypt_reader(void);

#endif
