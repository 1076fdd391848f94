/* Ed25519 signatures of WAL entries, as the reference signs them
 * (reference wal/signing.py and wal/models.py, "Phase I REGULATED"):
 *
 *   signature     = base64 (standard alphabet, padded) of the 64-byte
 *                   Ed25519 signature of the entry's entry_hash, the 64
 *                   lowercase hex characters as UTF-8 bytes;
 *   signer_key_id = the first 16 hex digits of SHA-256 of the raw 32-byte
 *                   public key.
 *
 * Both keys follow "version" on the line and are outside the entry hash.
 * Verification is offline: the public key comes from a file. Signing uses
 * the private key (struct wal_signer); core/wal.c signs every entry it
 * writes when its struct wal was opened with one. */
#ifndef INTENTUS_CORE_WAL_SIGN_H
#define INTENTUS_CORE_WAL_SIGN_H

#include <stddef.h>

#include "core/err.h"

#define WAL_KEY_ID_LEN 16
#define WAL_KEY_MAX_FILE ((size_t)64 * 1024)

struct wal_key; /* an Ed25519 public key */

/* Load a public key from a file: PEM (SubjectPublicKeyInfo, "BEGIN PUBLIC
 * KEY", what the reference's export_public_pem writes), the raw 32 bytes
 * (public_key_bytes), or those bytes as 64 hex digits (whitespace around
 * them allowed). A private key is refused. Messages name the file. */
struct wal_key *wal_key_load(const char *path, struct intentus_err *err);
/* From the raw 32 bytes. */
struct wal_key *wal_key_from_raw(const unsigned char raw[32], struct intentus_err *err);
void wal_key_free(struct wal_key *k);
/* The key id, 16 lowercase hex digits (borrowed, valid while k lives). */
const char *wal_key_id(const struct wal_key *k);

/* Check signature_b64 over entry_hash with k. 0 when it verifies; -1 with
 * err saying why: not base64, not 64 bytes, or does not verify. */
int wal_key_verify(const struct wal_key *k, const char *entry_hash, const char *signature_b64,
                   struct intentus_err *err);

/* ---- signing ---- */

#define WAL_SIG_B64_LEN 88 /* base64 of the 64-byte signature, padded */

struct wal_signer; /* an Ed25519 private key and its public half */

/* Load a private key from a file: PEM PKCS#8 ("BEGIN PRIVATE KEY", what the
 * reference's Ed25519WALSigner.from_pem_file reads and `intentus wal keygen`
 * writes; an encrypted one is refused), the raw 32-byte seed
 * (from_private_bytes), or that seed as 64 hex digits. The file must be the
 * caller's and readable by nobody else: a mode with any group or other bit
 * (0640, 0644) is refused naming the mode, as is a public key. Messages
 * name the file. */
struct wal_signer *wal_signer_load(const char *path, struct intentus_err *err);
/* A fresh key from the system's random source. */
struct wal_signer *wal_signer_generate(struct intentus_err *err);
void wal_signer_free(struct wal_signer *s);
/* The key id (the reference's: SHA-256 of the raw public key, first 16 hex
 * digits); borrowed, valid while s lives. */
const char *wal_signer_key_id(const struct wal_signer *s);
/* The public half, to verify what s signed (borrowed, valid while s lives). */
const struct wal_key *wal_signer_public(const struct wal_signer *s);
/* Sign entry_hash (its hex text as UTF-8, as the reference does) into out:
 * base64, NUL-terminated. 0, or -1 with err. */
int wal_signer_sign(const struct wal_signer *s, const char *entry_hash,
                    char out[WAL_SIG_B64_LEN + 1], struct intentus_err *err);
/* Write the key pair as PEM: private_path (PKCS#8, mode 0600) and
 * public_path (SubjectPublicKeyInfo, 0644), the formats the reference's
 * from_pem_file and add_public_key_pem load. Neither may exist yet (never
 * overwritten); on failure neither is left behind. */
int wal_signer_save(const struct wal_signer *s, const char *private_path, const char *public_path,
                    struct intentus_err *err);

#endif
