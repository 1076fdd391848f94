#include "watch/scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What is known of one file: 40 bytes, in chunks that never move (no
 * allocation per file). A record id that is a UUID in its canonical
 * lowercase form (as every writer makes them) is kept as its 16 bytes; any
 * other name (K_NAMED) is in the names arena, key holding its offset and
 * length. The size is 48 bits (larger sizes are kept as -1: such a file
 * looks changed each time it is looked at, and is read again); the retry
 * time of a pending file is in a small map of its own (struct pend). */
enum {
    K_PENDING = 1, /* does not parse yet: retried at its time in s->pend */
    K_EMITTED = 2, /* reported to the consumer (so its removal is too) */
    K_SEEN = 4,    /* looked at by the full scan in progress */
    K_NAMED = 8,   /* the id is in the names arena */
    K_FREE = 16,   /* not in use: ino links the free list */
};

struct known {
    unsigned char key[16]; /* UUID bytes; K_NAMED: uint64 offset, uint32 length */
    int64_t mtime_ns;
    uint64_t ino;  /* K_FREE: the next free entry + 1 (0: none) */
    uint64_t word; /* size (48 bits, two's complement), flags (8), tries (8) */
};

_Static_assert(sizeof(struct known) == 40, "struct known is packed into 40 bytes");

#define SIZE_BITS 48
#define SIZE_MASK ((UINT64_C(1) << SIZE_BITS) - 1)
#define SIZE_SIGN (UINT64_C(1) << (SIZE_BITS - 1))
#define CHUNK_BITS 10
#define CHUNK ((uint32_t)1 << CHUNK_BITS)
#define NO_ENTRY UINT32_MAX
#define ID_MAX 160 /* scan_id_of's buffers (record ids are at most 128 bytes) */

/* A pending file's next try, keyed by its entry (linear probing). */
struct pend {
    struct known *k; /* NULL: empty */
    int64_t next_try;
};

struct scan {
    struct scan_opts opts;
    struct known **chunks; /* each CHUNK entries */
    size_t n_chunks, chunks_cap;
    uint32_t n_ent;     /* entries handed out, live or free */
    uint32_t free_head; /* first free entry + 1 (0: none) */
    uint32_t *slots;    /* open addressing, linear probing: entry + 1, 0 empty */
    size_t cap, live;
    char *names; /* ids that are not UUIDs, each NUL-terminated */
    size_t names_len, names_cap, names_garbage;
    struct pend *pend;
    size_t pend_cap, pending;
};

/* An id to look up: its UUID bytes, or the name itself. */
struct key {
    bool named;
    unsigned char uuid[16];
    const char *name;
    size_t len;
    uint64_t hash;
};

static inline struct known *
ent(const struct scan *s, uint32_t e)
{
    return &s->chunks[e >> CHUNK_BITS][e & (CHUNK - 1)];
}

static inline unsigned
k_flags(const struct known *k)
{
    return (unsigned)(k->word >> SIZE_BITS) & 0xff;
}

static inline void
k_set(struct known *k, unsigned flag, bool on)
{
    uint64_t bit = (uint64_t)flag << SIZE_BITS;

    k->word = on ? k->word | bit : k->word & ~bit;
}

static inline unsigned
k_tries(const struct known *k)
{
    return (unsigned)(k->word >> (SIZE_BITS + 8));
}

static inline void
k_set_tries(struct known *k, unsigned tries)
{
    k->word = (k->word & ~(UINT64_C(0xff) << (SIZE_BITS + 8))) |
              ((uint64_t)(tries > 255 ? 255 : tries) << (SIZE_BITS + 8));
}

static inline int64_t
k_size(const struct known *k)
{
    return (int64_t)((k->word & SIZE_MASK) ^ SIZE_SIGN) - (int64_t)SIZE_SIGN;
}

static inline void
k_set_size(struct known *k, int64_t size)
{
    if (size < -(int64_t)SIZE_SIGN || size >= (int64_t)SIZE_SIGN)
        size = -1; /* beyond 128 TB: never equal to what a stat gives */
    k->word = (k->word & ~SIZE_MASK) | (((uint64_t)size) & SIZE_MASK);
}

static uint64_t
mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

static uint64_t
hash_uuid(const unsigned char *b)
{
    uint64_t x, y;

    memcpy(&x, b, 8);
    memcpy(&y, b + 8, 8);
    return mix64(x ^ mix64(y));
}

static uint64_t
hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return mix64(h);
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* upper case too: that name is kept as it is */
}

/* A UUID in canonical lowercase form (8-4-4-4-12), so that formatting the
 * 16 bytes gives back exactly this id. */
static bool
parse_uuid(const char *id, size_t len, unsigned char *out)
{
    size_t j = 0;

    if (len != 36)
        return false;
    for (size_t i = 0; i < 36;) {
        int hi, lo;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (id[i++] != '-')
                return false;
            continue;
        }
        hi = hexval(id[i]);
        lo = hexval(id[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[j++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    return true;
}

static void
key_of(const char *id, struct key *k)
{
    k->len = strlen(id);
    k->name = id;
    k->named = !parse_uuid(id, k->len, k->uuid);
    k->hash = k->named ? hash_name(id, k->len) : hash_uuid(k->uuid);
}

static void
name_at(const struct known *k, uint64_t *off, uint32_t *len)
{
    memcpy(off, k->key, sizeof(*off));
    memcpy(len, k->key + sizeof(*off), sizeof(*len));
}

static uint64_t
hash_known(const struct scan *s, const struct known *k)
{
    uint64_t off;
    uint32_t len;

    if (!(k_flags(k) & K_NAMED))
        return hash_uuid(k->key);
    name_at(k, &off, &len);
    return hash_name(s->names + off, len);
}

/* The id of k as a string: a UUID formatted into buf (UUID_BUF bytes), a
 * name where it is in the arena (valid until the next add, which may move
 * the arena: nothing adds while an id is in use, see add_key). */
#define UUID_BUF 37
static const char *
known_id(const struct scan *s, const struct known *k, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t off;
    uint32_t len;
    size_t j = 0;

    if (k_flags(k) & K_NAMED) {
        name_at(k, &off, &len);
        return s->names + off;
    }
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[j++] = '-';
        buf[j++] = hex[k->key[i] >> 4];
        buf[j++] = hex[k->key[i] & 15];
    }
    buf[j] = '\0';
    return buf;
}

static bool
key_matches(const struct scan *s, const struct known *k, const struct key *key)
{
    uint64_t off;
    uint32_t len;

    if (!key->named)
        return !(k_flags(k) & K_NAMED) && memcmp(k->key, key->uuid, 16) == 0;
    if (!(k_flags(k) & K_NAMED))
        return false;
    name_at(k, &off, &len);
    return len == key->len && memcmp(s->names + off, key->name, len) == 0;
}

struct scan *
scan_new(const struct scan_opts *opts)
{
    struct scan *s = calloc(1, sizeof(*s));

    if (s == NULL)
        return NULL;
    if (opts != NULL)
        s->opts = *opts;
    s->cap = 256;
    s->slots = calloc(s->cap, sizeof(*s->slots));
    if (s->slots == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void
scan_free(struct scan *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_chunks; i++)
        free(s->chunks[i]);
    free(s->chunks);
    free(s->slots);
    free(s->names);
    free(s->pend);
    free(s);
}

size_t
scan_known(const struct scan *s)
{
    return s->live;
}

bool
scan_id_of(const char *name, char *id, size_t size)
{
    size_t n = strlen(name), cut;

    if (name[0] == '.')
        return false;
    if (n > 5 && strcmp(name + n - 5, ".json") == 0)
        cut = 5;
    else if (n > 8 && strcmp(name + n - 8, ".json.gz") == 0)
        cut = 8;
    else
        return false;
    if (n - cut >= size)
        return false;
    memcpy(id, name, n - cut);
    id[n - cut] = '\0';
    return rec_store_id_is_valid(id);
}

static struct known *
find_key(const struct scan *s, const struct key *key)
{
    size_t mask = s->cap - 1;

    for (size_t i = key->hash & mask;; i = (i + 1) & mask) {
        uint32_t e = s->slots[i];
        if (e == 0)
            return NULL;
        if (key_matches(s, ent(s, e - 1), key))
            return ent(s, e - 1);
    }
}

static struct known *
find(const struct scan *s, const char *id)
{
    struct key key;

    key_of(id, &key);
    return find_key(s, &key);
}

/* The slot holding k (it is in the table). */
static size_t
slot_of(const struct scan *s, const struct known *k)
{
    size_t mask = s->cap - 1;

    for (size_t i = hash_known(s, k) & mask;; i = (i + 1) & mask) {
        if (s->slots[i] != 0 && ent(s, s->slots[i] - 1) == k)
            return i;
    }
}

/* Empty slot i, moving back the entries after it that would no longer be
 * found past the gap (linear probing's deletion: no tombstones). */
static void
slot_delete(struct scan *s, size_t i)
{
    size_t mask = s->cap - 1;

    for (size_t j = (i + 1) & mask; s->slots[j] != 0; j = (j + 1) & mask) {
        size_t h = hash_known(s, ent(s, s->slots[j] - 1)) & mask;
        /* The entry at j stays when its home h lies cyclically in (i, j]. */
        bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (!stays) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i] = 0;
}

static int
grow_slots(struct scan *s)
{
    size_t ncap = s->cap * 2, mask = ncap - 1;
    uint32_t *slots = calloc(ncap, sizeof(*slots));

    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < s->cap; i++) {
        uint32_t e = s->slots[i];
        size_t j;
        if (e == 0)
            continue;
        for (j = hash_known(s, ent(s, e - 1)) & mask; slots[j] != 0; j = (j + 1) & mask)
            ;
        slots[j] = e;
    }
    free(s->slots);
    s->slots = slots;
    s->cap = ncap;
    return 0;
}

/* A fresh entry (zeroed), from the free list or the last chunk. */
static uint32_t
ent_alloc(struct scan *s)
{
    if (s->free_head != 0) {
        uint32_t e = s->free_head - 1;
        s->free_head = (uint32_t)ent(s, e)->ino;
        memset(ent(s, e), 0, sizeof(struct known));
        return e;
    }
    if (s->n_ent == NO_ENTRY - 1)
        return NO_ENTRY;
    if ((s->n_ent & (CHUNK - 1)) == 0) {
        if (s->n_chunks == s->chunks_cap) {
            size_t ncap = s->chunks_cap ? s->chunks_cap * 2 : 16;
            struct known **c = realloc(s->chunks, ncap * sizeof(*c));
            if (c == NULL)
                return NO_ENTRY;
            s->chunks = c;
            s->chunks_cap = ncap;
        }
        if ((s->chunks[s->n_chunks] = calloc(CHUNK, sizeof(struct known))) == NULL)
            return NO_ENTRY;
        s->n_chunks++;
    }
    return s->n_ent++;
}

static void
ent_release(struct scan *s, uint32_t e)
{
    struct known *k = ent(s, e);

    k->word = (uint64_t)K_FREE << SIZE_BITS;
    k->ino = s->free_head;
    s->free_head = e + 1;
}

/* Drop the names of forgotten ids once they are most of the arena. Only
 * from add: never while scan_full's workers read ids. */
static void
compact_names(struct scan *s)
{
    char *names;
    size_t len = 0;

    if (s->names_garbage < 4096 || s->names_garbage * 2 < s->names_len)
        return;
    names = malloc(s->names_len - s->names_garbage + 1);
    if (names == NULL)
        return; /* keep the garbage */
    for (uint32_t e = 0; e < s->n_ent; e++) {
        struct known *k = ent(s, e);
        uint64_t off;
        uint32_t n;
        if ((k_flags(k) & (K_FREE | K_NAMED)) != K_NAMED)
            continue;
        name_at(k, &off, &n);
        memcpy(names + len, s->names + off, n + 1);
        off = len;
        memcpy(k->key, &off, sizeof(off));
        len += n + 1;
    }
    free(s->names);
    s->names = names;
    s->names_len = s->names_cap = len;
    s->names_garbage = 0;
}

static int
store_name(struct scan *s, struct known *k, const struct key *key)
{
    uint64_t off;
    uint32_t len = (uint32_t)key->len;

    compact_names(s);
    if (s->names_len + key->len + 1 > s->names_cap) {
        size_t ncap = s->names_cap ? s->names_cap * 2 : 1024;
        char *p;
        while (ncap < s->names_len + key->len + 1)
            ncap *= 2;
        if ((p = realloc(s->names, ncap)) == NULL)
            return -1;
        s->names = p;
        s->names_cap = ncap;
    }
    off = s->names_len;
    memcpy(s->names + off, key->name, key->len + 1);
    s->names_len += key->len + 1;
    memcpy(k->key, &off, sizeof(off));
    memcpy(k->key + sizeof(off), &len, sizeof(len));
    k_set(k, K_NAMED, true);
    return 0;
}

static struct known *
add_key(struct scan *s, const struct key *key)
{
    size_t mask, slot;
    uint32_t e;
    struct known *k;

    if ((s->live + 1) * 4 > s->cap * 3 && grow_slots(s) != 0)
        return NULL;
    if ((e = ent_alloc(s)) == NO_ENTRY)
        return NULL;
    k = ent(s, e);
    if (key->named) {
        if (store_name(s, k, key) != 0) {
            ent_release(s, e);
            return NULL;
        }
    } else {
        memcpy(k->key, key->uuid, 16);
    }
    mask = s->cap - 1;
    for (slot = key->hash & mask; s->slots[slot] != 0; slot = (slot + 1) & mask)
        ;
    s->slots[slot] = e + 1;
    s->live++;
    return k;
}

/* ---- pending files' retry times ---- */

static size_t
pend_slot(const struct scan *s, const struct known *k)
{
    size_t mask = s->pend_cap - 1;

    for (size_t i = mix64((uint64_t)(uintptr_t)k) & mask;; i = (i + 1) & mask) {
        if (s->pend[i].k == NULL || s->pend[i].k == k)
            return i;
    }
}

/* k is pending, to be tried at next_try. -1 when out of memory. */
static int
pend_set(struct scan *s, struct known *k, int64_t next_try)
{
    size_t i;

    if ((s->pending + 1) * 2 > s->pend_cap) {
        size_t ocap = s->pend_cap, ncap = ocap ? ocap * 2 : 16;
        struct pend *old = s->pend, *p = calloc(ncap, sizeof(*p));
        if (p == NULL)
            return -1;
        s->pend = p;
        s->pend_cap = ncap;
        for (size_t j = 0; j < ocap; j++)
            if (old[j].k != NULL)
                s->pend[pend_slot(s, old[j].k)] = old[j];
        free(old);
    }
    i = pend_slot(s, k);
    if (s->pend[i].k == NULL)
        s->pending++;
    s->pend[i] = (struct pend){ k, next_try };
    k_set(k, K_PENDING, true);
    return 0;
}

static void
pend_clear(struct scan *s, struct known *k)
{
    size_t mask = s->pend_cap - 1, i;

    if (!(k_flags(k) & K_PENDING))
        return;
    k_set(k, K_PENDING, false);
    i = pend_slot(s, k);
    if (s->pend[i].k == NULL)
        return;
    s->pending--;
    for (size_t j = (i + 1) & mask; s->pend[j].k != NULL; j = (j + 1) & mask) {
        size_t h = mix64((uint64_t)(uintptr_t)s->pend[j].k) & mask;
        bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (!stays) {
            s->pend[i] = s->pend[j];
            i = j;
        }
    }
    s->pend[i].k = NULL;
}

static int
forget(struct scan *s, struct known *k, scan_emit_fn emit, void *ctx)
{
    size_t slot = slot_of(s, k);
    uint32_t e = s->slots[slot] - 1;
    int rc = 0;

    if (k_flags(k) & K_EMITTED) {
        char id[UUID_BUF];
        rc = emit(ctx, known_id(s, k, id), NULL);
    }
    pend_clear(s, k);
    if (k_flags(k) & K_NAMED) {
        uint64_t off;
        uint32_t len;
        name_at(k, &off, &len);
        s->names_garbage += len + 1;
    }
    slot_delete(s, slot);
    ent_release(s, e);
    s->live--;
    return rc;
}

/* Stat the entry rec_store_read will open for id: <id>.json, else
 * .json.gz. Symlinks and other non-files count as present: reading them
 * fails, and they are shown corrupt with the reason (never followed). */
static int
stat_id(struct rec_store *rs, const char *id, struct stat *st)
{
    char name[160];

    snprintf(name, sizeof(name), "%s.json", id);
    if (fstatat(rec_store_dirfd(rs), name, st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    snprintf(name, sizeof(name), "%s.json.gz", id);
    if (fstatat(rec_store_dirfd(rs), name, st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    return -1;
}

static int64_t
mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Read and digest one file: what digest_id needs, and nothing of the scan,
 * so worker threads can run it. *gone: the file vanished before the read. */
static struct digest *
digest_read(struct rec_store *rs, const char *id, int64_t size, int64_t mtime, bool *gone)
{
    struct intentus_err err = { 0 };
    enum crypt_status cst = CRYPT_PLAIN;
    struct digest *d;
    size_t len;
    /* Decrypted in memory only: the plaintext goes no further than here. */
    char *text = rec_store_read_st(rs, id, &len, &cst, &err);

    *gone = text == NULL && err.code == IERR_NOT_FOUND;
    if (*gone)
        return NULL;
    if (text != NULL) {
        d = digest_from_text(id, text, len, NULL);
        explicit_bzero(text, len);
        free(text);
    } else {
        d = digest_corrupt(id, 0, err.msg);
    }
    if (d == NULL)
        return NULL;
    if (cst == CRYPT_OK) {
        /* The error message is response text: an encrypted record's stays
         * in its file, so no digest (and no index row) carries it, and
         * reading through the index or the files gives the same answer. */
        d->flags |= DIGEST_SEALED;
        free(d->note);
        d->note = NULL;
    } else if (cst == CRYPT_NO_KEY || cst == CRYPT_KEY_MISSING) {
        d->flags |= DIGEST_LOCKED;
    } else if (cst == CRYPT_TAMPERED || cst == CRYPT_BAD_FORMAT) {
        d->flags |= DIGEST_TAMPERED;
    } else if (cst == CRYPT_TRUNCATED) {
        d->flags |= DIGEST_TRUNCATED;
    }
    d->file_size = (uint64_t)size;
    if (d->flags & DIGEST_CORRUPT)
        d->created_us = mtime / 1000;
    return d;
}

/* What digest_read gave for k (d owned here): forget a vanished file, hold
 * back a corrupt one that has retries left, else report it. */
static int
digest_apply(struct scan *s, struct known *k, struct digest *d, bool gone, int64_t now_us,
             scan_emit_fn emit, void *ctx)
{
    char id[UUID_BUF];

    if (gone)
        return forget(s, k, emit, ctx);
    if (d == NULL)
        return 0; /* out of memory: try again on the next change */
    if ((d->flags & DIGEST_CORRUPT) && (int)k_tries(k) < s->opts.retries &&
        pend_set(s, k, now_us + s->opts.retry_us) == 0) {
        /* Perhaps a writer still writing in place: try again shortly. */
        k_set_tries(k, k_tries(k) + 1);
        digest_free(d);
        return 0;
    }
    pend_clear(s, k);
    k_set(k, K_EMITTED, true);
    return emit(ctx, known_id(s, k, id), d);
}

static bool
same_identity(const struct known *k, const struct stat *st)
{
    return k_size(k) == st->st_size && k->mtime_ns == mtime_ns(st) && k->ino == st->st_ino;
}

static void
set_identity(struct known *k, const struct stat *st)
{
    k_set_size(k, st->st_size);
    k->mtime_ns = mtime_ns(st);
    k->ino = st->st_ino;
}

/* Not digested after all: the next look at it reads it again. */
static void
lose_identity(struct known *k)
{
    k_set_size(k, -1);
    k->mtime_ns = -1;
}

/* Digest id now. Returns the emit result; a vanished file is forgotten. */
static int
digest_id(struct scan *s, struct rec_store *rs, struct known *k, const struct stat *st,
          int64_t now_us, scan_emit_fn emit, void *ctx)
{
    char id[UUID_BUF];
    bool gone;
    struct digest *d;

    set_identity(k, st);
    d = digest_read(rs, known_id(s, k, id), st->st_size, k->mtime_ns, &gone);
    return digest_apply(s, k, d, gone, now_us, emit, ctx);
}

/* The entry for id changed or appeared: digest it unless what we know is
 * the same file as before. */
static int
check_id(struct scan *s, struct rec_store *rs, const char *id, int64_t now_us, scan_emit_fn emit,
         void *ctx)
{
    struct key key;
    struct known *k;
    struct stat st;

    key_of(id, &key);
    k = find_key(s, &key);
    if (stat_id(rs, id, &st) != 0)
        return k != NULL ? forget(s, k, emit, ctx) : 0;
    if (k != NULL) {
        if (same_identity(k, &st))
            return 0;
        k_set_tries(k, 0); /* a new version: a fresh set of retries */
    } else {
        k = add_key(s, &key);
        if (k == NULL)
            return 0;
    }
    return digest_id(s, rs, k, &st, now_us, emit, ctx);
}

int
scan_name(struct scan *s, struct rec_store *rs, const char *name, int64_t now_us, scan_emit_fn emit,
          void *ctx)
{
    char id[ID_MAX];

    if (!scan_id_of(name, id, sizeof(id)))
        return 0;
    return check_id(s, rs, id, now_us, emit, ctx);
}

int
scan_created(struct scan *s, struct rec_store *rs, const char *name, int64_t now_us,
             scan_emit_fn emit, void *ctx)
{
    char id[ID_MAX];
    struct stat st;

    if (!scan_id_of(name, id, sizeof(id)))
        return 0;
    if (fstatat(rec_store_dirfd(rs), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return 0; /* gone again: its IN_DELETE follows */
    if (S_ISREG(st.st_mode) && st.st_nlink == 1)
        return 0;
    return check_id(s, rs, id, now_us, emit, ctx);
}

int
scan_gone(struct scan *s, const char *name, scan_emit_fn emit, void *ctx)
{
    char id[ID_MAX];
    struct known *k;

    if (!scan_id_of(name, id, sizeof(id)))
        return 0;
    k = find(s, id);
    if (k == NULL)
        return 0;
    /* <id>.json went but <id>.json.gz may still be there: the caller's next
     * scan_name settles that; a plain removal is the common case. */
    return forget(s, k, emit, ctx);
}

int
scan_forget_all(struct scan *s, scan_emit_fn emit, void *ctx)
{
    int rc = 0;

    /* Entries never move: forgetting one leaves the others where they are. */
    for (uint32_t e = 0; e < s->n_ent; e++) {
        struct known *k = ent(s, e);
        if (!(k_flags(k) & K_FREE) && forget(s, k, emit, ctx) != 0)
            rc = -1;
    }
    return rc;
}

/* ---- the full scan: list and stat, then digest on worker threads ---- */

/* How far the workers may run ahead of the consumer (bounds memory). */
#define SCAN_WINDOW 4096
#define SCAN_MAX_THREADS 16
/* Fewer files than this are digested on the calling thread. */
#define SCAN_MIN_PARALLEL 64

struct job {
    struct known *k;
    struct digest *d;
    int64_t size, mtime_ns;
    bool gone, done;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t more, ready;
    const struct scan *s; /* only ids are read from it: nothing is added meanwhile */
    struct rec_store *rs;
    struct job *jobs;
    size_t n, next, consumed;
    bool stop;
};

static void *
worker(void *arg)
{
    struct pool *p = arg;

    for (;;) {
        char id[UUID_BUF];
        struct job *j;
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->next < p->n && p->next >= p->consumed + SCAN_WINDOW)
            pthread_cond_wait(&p->more, &p->mu);
        if (p->stop || p->next >= p->n) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        j = &p->jobs[p->next++];
        pthread_mutex_unlock(&p->mu);
        j->d = digest_read(p->rs, known_id(p->s, j->k, id), j->size, j->mtime_ns, &j->gone);
        pthread_mutex_lock(&p->mu);
        j->done = true;
        pthread_cond_signal(&p->ready);
        pthread_mutex_unlock(&p->mu);
    }
}

static int
scan_threads(const struct scan *s, size_t jobs)
{
    long n = s->opts.threads > 0 ? s->opts.threads : sysconf(_SC_NPROCESSORS_ONLN);

    if (jobs < SCAN_MIN_PARALLEL || n <= 1)
        return 0;
    return n > SCAN_MAX_THREADS ? SCAN_MAX_THREADS : (int)n;
}

/* Digest every job: on worker threads (reads and digests only), results
 * applied here in listing order. After a stop the jobs not applied lose
 * their identity, so the next scan digests them again. */
static int
run_jobs(struct scan *s, struct rec_store *rs, struct job *jobs, size_t n, int64_t now_us,
         scan_emit_fn emit, void *ctx)
{
    struct pool p = { .s = s, .rs = rs, .jobs = jobs, .n = n };
    pthread_t tid[SCAN_MAX_THREADS];
    int threads = scan_threads(s, n), started = 0, rc = 0;
    size_t i;

    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.more, NULL);
    pthread_cond_init(&p.ready, NULL);
    for (int t = 0; t < threads; t++) {
        if (pthread_create(&tid[t], NULL, worker, &p) != 0)
            break;
        started++;
    }
    for (i = 0; i < n && rc == 0; i++) {
        struct job *j = &jobs[i];
        if (started == 0) {
            char id[UUID_BUF];
            j->d = digest_read(rs, known_id(s, j->k, id), j->size, j->mtime_ns, &j->gone);
        } else {
            pthread_mutex_lock(&p.mu);
            while (!j->done)
                pthread_cond_wait(&p.ready, &p.mu);
            p.consumed = i + 1;
            pthread_cond_broadcast(&p.more);
            pthread_mutex_unlock(&p.mu);
        }
        rc = digest_apply(s, j->k, j->d, j->gone, now_us, emit, ctx);
        j->d = NULL;
    }
    pthread_mutex_lock(&p.mu);
    p.stop = true;
    pthread_cond_broadcast(&p.more);
    pthread_mutex_unlock(&p.mu);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    for (; i < n; i++) {
        digest_free(jobs[i].d);
        lose_identity(jobs[i].k);
    }
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.more);
    pthread_cond_destroy(&p.ready);
    return rc;
}

static int
push_job(struct job **jobs, size_t *n, size_t *cap, struct known *k, int64_t size)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        struct job *nj = realloc(*jobs, ncap * sizeof(*nj));
        if (nj == NULL)
            return -1;
        *jobs = nj;
        *cap = ncap;
    }
    (*jobs)[(*n)++] = (struct job){ .k = k, .size = size, .mtime_ns = k->mtime_ns };
    return 0;
}

/* One listed id: unchanged (nothing to do), gone again, or a job. Each id
 * is looked at once per scan (<id>.json and <id>.json.gz name one record). */
static int
list_id(struct scan *s, struct rec_store *rs, const char *id, struct job **jobs, size_t *n,
        size_t *cap, scan_emit_fn emit, void *ctx)
{
    struct key key;
    struct known *k;
    struct stat st;

    key_of(id, &key);
    k = find_key(s, &key);
    if (k != NULL && (k_flags(k) & K_SEEN))
        return 0;
    if (stat_id(rs, id, &st) != 0)
        return k != NULL ? forget(s, k, emit, ctx) : 0;
    if (k != NULL) {
        k_set(k, K_SEEN, true);
        if (same_identity(k, &st))
            return 0;
        k_set_tries(k, 0); /* a new version: a fresh set of retries */
    } else {
        k = add_key(s, &key);
        if (k == NULL)
            return 0;
        k_set(k, K_SEEN, true);
    }
    set_identity(k, &st);
    if (push_job(jobs, n, cap, k, st.st_size) != 0) {
        lose_identity(k); /* not digested: the next scan tries again */
        return 0;
    }
    return 0;
}

int
scan_full(struct scan *s, struct rec_store *rs, int64_t now_us, scan_emit_fn emit, void *ctx,
          struct intentus_err *err)
{
    int fd = dup(rec_store_dirfd(rs)), rc = 0;
    struct job *jobs = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *d;

    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        err_set(err, IERR_IO, "cannot list %s: %s", rec_store_dir(rs), strerror(errno));
        return -1;
    }
    for (uint32_t e = 0; e < s->n_ent; e++)
        k_set(ent(s, e), K_SEEN, false);
    rewinddir(d);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char id[ID_MAX];
        if (!scan_id_of(de->d_name, id, sizeof(id)))
            continue;
        rc = list_id(s, rs, id, &jobs, &n, &cap, emit, ctx);
    }
    closedir(d);
    if (rc == 0)
        rc = run_jobs(s, rs, jobs, n, now_us, emit, ctx);
    else
        for (size_t i = 0; i < n; i++)
            lose_identity(jobs[i].k);
    free(jobs);
    if (rc != 0)
        return rc; /* stopped: the next full scan finishes the job */
    for (uint32_t e = 0; e < s->n_ent && rc == 0; e++) {
        struct known *k = ent(s, e);
        if (!(k_flags(k) & (K_FREE | K_SEEN)))
            rc = forget(s, k, emit, ctx);
    }
    return rc;
}

int
scan_preload(struct scan *s, const char *id, int64_t size, int64_t mtime_ns, uint64_t ino)
{
    struct key key;
    struct known *k;

    key_of(id, &key);
    k = find_key(s, &key);
    if (k == NULL)
        k = add_key(s, &key);
    if (k == NULL)
        return -1;
    k_set_size(k, size);
    k->mtime_ns = mtime_ns;
    k->ino = ino;
    pend_clear(s, k);
    k_set(k, K_EMITTED, true);
    return 0;
}

int
scan_identity(const struct scan *s, const char *id, int64_t *size, int64_t *mtime_ns, uint64_t *ino)
{
    const struct known *k = find(s, id);

    if (k == NULL)
        return -1;
    *size = k_size(k);
    *mtime_ns = k->mtime_ns;
    *ino = k->ino;
    return 0;
}

int64_t
scan_next_retry(const struct scan *s)
{
    int64_t next = 0;

    for (size_t i = 0; i < s->pend_cap && s->pending > 0; i++) {
        if (s->pend[i].k != NULL && (next == 0 || s->pend[i].next_try < next))
            next = s->pend[i].next_try;
    }
    return next;
}

int
scan_retry_due(struct scan *s, struct rec_store *rs, int64_t now_us, scan_emit_fn emit, void *ctx)
{
    struct known **due;
    size_t n = 0;
    int rc = 0;

    if (s->pending == 0)
        return 0;
    /* Trying one changes the map (it leaves it, or comes back with a later
     * time): take the due ones out first. */
    if ((due = malloc(s->pending * sizeof(*due))) == NULL)
        return 0; /* out of memory: the next call tries again */
    for (size_t i = 0; i < s->pend_cap && n < s->pending; i++) {
        if (s->pend[i].k != NULL && s->pend[i].next_try <= now_us)
            due[n++] = s->pend[i].k;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char id[UUID_BUF];
        struct stat st;
        if (stat_id(rs, known_id(s, due[i], id), &st) != 0)
            rc = forget(s, due[i], emit, ctx);
        else
            rc = digest_id(s, rs, due[i], &st, now_us, emit, ctx);
    }
    free(due);
    return rc;
}
