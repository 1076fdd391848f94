/* EMCL frames as the reference seals them (reference security/emcl/ and
 * protocol/emcl.py; its ZeroMQ and WebSocket transports put them on the
 * wire), for http agents and `intentus serve`.
 *
 * The envelope is the reference's EMCLEnvelope dataclass as asdict() gives
 * it: {"cipherText", "iv", "tag", "identityChain"} (its JSON schema file
 * names other fields; its code, which is what runs, uses these). Inside a
 * transport frame: {"protocol": "INTENTUSNET/1.0", "messageType": "emcl",
 * "headers": {}, "body": <envelope>}.
 *
 *   aes-gcm (AESGCMEMCLProvider, the default): the body as compact JSON
 *     (separators "," and ":", raw UTF-8) sealed with AES-256-GCM; the key is
 *     the secret's UTF-8 bytes when they are exactly 32, else their SHA-256;
 *     a fresh 12-byte nonce (RAND_bytes); AAD the 12 bytes "emcl-aes-gcm";
 *     cipherText = base64(ciphertext || 16-byte tag), iv = base64(nonce)
 *     (standard alphabet, padded); tag = "" (unused).
 *   hmac (SimpleHMACEMCLProvider): integrity only, no confidentiality:
 *     cipherText = the body's JSON text, iv = 16 hex digits, tag = lowercase
 *     hex HMAC-SHA256(secret, iv || cipherText).
 *
 * identityChain, as extend_identity_chain builds it, lists the actors that
 * handled the payload. It sits outside the ciphertext, unauthenticated (the
 * reference's AAD is a constant), so opening checks it against the chain the
 * ciphertext carries (an intent's metadata.identityChain, a response's
 * metadata.identityChain): the clear chain must be empty (what the
 * reference's providers write) or equal to the authenticated one; anything
 * else is EMCL_CHAIN_MISMATCH. Sealing writes the authenticated chain in
 * both places.
 *
 * Secrets stay in struct emcl_key (wiped on free); nothing here prints,
 * logs or records them. */
#ifndef INTENTUS_CORE_EMCL_H
#define INTENTUS_CORE_EMCL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define EMCL_KEY_MAX_FILE ((size_t)4096)
#define EMCL_MAX_CHAIN 64

enum emcl_mode { EMCL_MODE_AES_GCM, EMCL_MODE_HMAC };

/* Why an envelope did not open (details.emcl of an error response, and the
 * serve's error message): names from one X-macro. */
#define EMCL_FAILS(X)                                                                              \
    X(EMCL_OK, "OK")                                                                               \
    X(EMCL_MALFORMED, "MALFORMED")           /* not an envelope: keys, base64, nonce size */       \
    X(EMCL_AUTH_FAILED, "AUTH_FAILED")       /* tag or HMAC does not verify: wrong key, altered */ \
    X(EMCL_CHAIN_MISMATCH, "CHAIN_MISMATCH") /* clear identityChain differs from the sealed one */ \
    X(EMCL_BAD_PLAINTEXT, "BAD_PLAINTEXT")   /* authenticated, but not a JSON object */            \
    X(EMCL_NOT_EMCL, "NOT_EMCL")             /* a plain frame where EMCL is required */

enum emcl_fail {
#define X(code, text) code,
    EMCL_FAILS(X)
#undef X
};

const char *emcl_fail_name(enum emcl_fail f);
const char *emcl_mode_name(enum emcl_mode m); /* "aes-gcm", "hmac" */

/* What an "emcl" config object says, before any secret is read:
 *   {"key": "$NAME"} or {"key_file": PATH}   exactly one (a literal key in
 *                                            the config file is refused)
 *   "mode": "aes-gcm" (default) | "hmac"
 *   "identity": NAME                         appended to the identity chain
 *                                            of what this side seals
 *   "required": true|false                   only where allow_required
 * Pointers are borrowed from the cJSON object. */
struct emcl_settings {
    const char *key_env;  /* "NAME" of "$NAME", or NULL */
    const char *key_file; /* or NULL */
    enum emcl_mode mode;
    const char *identity; /* NULL: none */
    bool required;
};

/* Check obj (the "emcl" value at path, e.g. "agents[1].emcl") into *out:
 * unknown keys, types and missing key are IERR_CONFIG naming path.key. */
int emcl_settings_parse(const cJSON *obj, const char *path, bool allow_required,
                        struct emcl_settings *out, struct intentus_err *err);

struct emcl_key;

/* A key from the secret text (len bytes, not NUL-terminated needed; an
 * empty secret is refused). identity may be NULL. */
struct emcl_key *emcl_key_new(const char *secret, size_t len, enum emcl_mode mode,
                              const char *identity, struct intentus_err *err);
/* The key file: at most EMCL_KEY_MAX_FILE bytes, read through safe_file;
 * refused when group or others may read or write it (the message names
 * the file and its mode), empty, or holding a NUL byte. Trailing
 * whitespace (the newline an editor adds) is not part of the secret.
 * shown names the setting in messages ("serve.emcl.key_file"). */
struct emcl_key *emcl_key_load_file(const char *path, const char *shown, enum emcl_mode mode,
                                    const char *identity, struct intentus_err *err);
/* s's key: the file, or the environment variable (unset or empty is
 * IERR_CONFIG naming it and path). */
struct emcl_key *emcl_key_from_settings(const struct emcl_settings *s, const char *path,
                                        struct intentus_err *err);
void emcl_key_free(struct emcl_key *k);
enum emcl_mode emcl_key_mode(const struct emcl_key *k);

/* Seal the JSON object body (borrowed) into an envelope (owned by the
 * caller). The chain written is body's metadata.identityChain (if any)
 * plus the key's identity; the sealed copy of body carries the same chain
 * in metadata.identityChain (added only when the identity extends it). */
cJSON *emcl_seal(const struct emcl_key *k, const cJSON *body, struct intentus_err *err);
/* Open an envelope (borrowed): the body (owned), or NULL with *why (never
 * EMCL_OK) and err saying what failed, never any plaintext. */
cJSON *emcl_open(const struct emcl_key *k, const cJSON *envelope, enum emcl_fail *why,
                 struct intentus_err *err);

/* Transport frames: {"protocol":"INTENTUSNET/1.0","messageType":"emcl",
 * "headers":{},"body":<emcl_seal(body)>}; headers (borrowed, may be NULL)
 * is copied into the frame's headers. */
cJSON *emcl_frame_seal(const struct emcl_key *k, const cJSON *body, const cJSON *headers,
                       struct intentus_err *err);
/* True when frame is an INTENTUSNET/1.0 frame with messageType "emcl". */
bool emcl_frame_is_emcl(const cJSON *frame);
/* The opened body of an "emcl" frame; a frame of another messageType is
 * EMCL_NOT_EMCL. */
cJSON *emcl_frame_open(const struct emcl_key *k, const cJSON *frame, enum emcl_fail *why,
                       struct intentus_err *err);

/* extend_identity_chain: a new array, chain's strings (chain may be NULL)
 * then identity (when non-NULL). NULL when out of memory. */
cJSON *emcl_chain_extend(const cJSON *chain, const char *identity);

#endif
