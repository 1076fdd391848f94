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
 * Verification is offline: the public key comes from a file. */
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

#endif
