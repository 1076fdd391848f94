#include "core/retention.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/json.h"
#include "core/rec_store.h"
#include "core/text_hash.h"
#include "core/wal_gc.h"

struct item {
    char *id;
    char *intent;
    int64_t created_us;
    int64_t size, mtime_ns;
    uint64_t ino;
    struct wal_gc_file *wal; /* planned records only: its WAL as judged (NULL: none) */
};

struct retention_plan {
    struct rec_store *rs;
    char *wal_dir;      /* NULL: records only */
    struct item *items; /* every record listed (from rows: the planned ones), oldest first */
    size_t n_items;
    size_t n_plan;  /* the first n_plan items go */
    size_t n_alloc; /* planned from rows: items allocated */
    struct retention_report report;
    bool recheck;                /* planned from a cache: read each file back before it goes */
    struct retention_select sel; /* the plan's select (fn NULL: all) */
};

int
retention_report_add(struct retention_report *r, const char *id, const char *intent,
                     int64_t created_us, uint64_t size)
{
    size_t i;

    if (intent == NULL)
        intent = "(none)";
    for (i = 0; i < r->n_intents && strcmp(r->intents[i].intent, intent) != 0; i++)
        ;
    if (i == r->n_intents) {
        struct retention_intent *p = realloc(r->intents, (i + 1) * sizeof(*p));
        char *copy = strdup(intent);
        if (p == NULL || copy == NULL) {
            free(copy);
            if (p != NULL)
                r->intents = p;
            return -1;
        }
        r->intents = p;
        r->intents[i] = (struct retention_intent){ copy, 0, 0 };
        r->n_intents++;
    }
    if (r->count == 0) {
        r->oldest_us = created_us;
        snprintf(r->oldest_id, sizeof(r->oldest_id), "%s", id);
    }
    r->newest_us = created_us;
    snprintf(r->newest_id, sizeof(r->newest_id), "%s", id);
    r->count++;
    r->bytes += size;
    r->intents[i].count++;
    r->intents[i].bytes += size;
    return 0;
}

static int
cmp_intent(const void *x, const void *y)
{
    const struct retention_intent *a = x, *b = y;

    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->intent, b->intent);
}

void
retention_report_sort(struct retention_report *r)
{
    if (r->n_intents > 1) /* qsort's base must not be NULL, even for 0 items */
        qsort(r->intents, r->n_intents, sizeof(*r->intents), cmp_intent);
}

int
retention_policy_run(const struct retention_policy *p, int64_t now_us, uint64_t count,
                     uint64_t bytes, retention_next_fn next, void *next_ctx, retention_take_fn take,
                     void *take_ctx, struct retention_report *r, struct intentus_err *err)
{
    int64_t cutoff = INT64_MIN;
    struct retention_row row;

    if (now_us == 0)
        now_us = clock_wall_us();
    if (p->max_age_ms >= 0)
        cutoff = now_us - p->max_age_ms * 1000;
    /* What goes is always a prefix of the oldest-first order: a row goes
     * while it is older than the cutoff or the rest is over a limit. */
    for (;;) {
        bool over = (p->max_count >= 0 && count > (uint64_t)p->max_count) ||
                    (p->max_bytes >= 0 && bytes > (uint64_t)p->max_bytes);
        int rc;
        if (!over && cutoff == INT64_MIN)
            break; /* no age limit and the limits hold: no row more to look at */
        rc = next(next_ctx, &row, err);
        if (rc < 0)
            return -1;
        if (rc == 0 || (!over && row.created_us >= cutoff))
            break;
        /* The totals are the caller's; never below zero if they are short. */
        count -= count > 0 ? 1 : 0;
        bytes -= bytes > (uint64_t)row.size ? (uint64_t)row.size : bytes;
        if (retention_report_add(r, row.id, row.intent, row.created_us, (uint64_t)row.size) != 0) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        if (take != NULL && take(take_ctx, &row, err) != 0)
            return -1;
    }
    retention_report_sort(r);
    r->kept_count = count;
    r->kept_bytes = bytes;
    return 0;
}

void
retention_report_free(struct retention_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_intents; i++)
        free(r->intents[i].intent);
    free(r->intents);
    r->intents = NULL;
    r->n_intents = 0;
}

static int
cmp_item(const void *x, const void *y)
{
    const struct item *a = x, *b = y;

    if (a->created_us != b->created_us)
        return a->created_us < b->created_us ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int64_t
mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* Read one record's creation time and intent; -1 when it is not a record.
 * *selected: whether sel (if any) takes it. */
static int
item_of_text(const struct retention_select *sel, const char *id, const char *text, size_t len,
             struct item *it, bool *selected)
{
    cJSON *rec = json_parse(text, len, 0, NULL);
    const char *created, *intent;
    int rc = -1;

    *selected = sel == NULL || sel->fn == NULL || sel->fn(sel->ctx, id, text, len);
    created = json_get_string(cJSON_GetObjectItemCaseSensitive(rec, "header"), "createdUtcIso");
    intent = json_get_string(cJSON_GetObjectItemCaseSensitive(
                                 cJSON_GetObjectItemCaseSensitive(rec, "envelope"), "intent"),
                             "name");
    if (created != NULL && clock_parse_iso(created, &it->created_us) == 0) {
        it->intent = intent != NULL ? strdup(intent) : NULL;
        rc = 0;
    }
    cJSON_Delete(rec);
    return rc;
}

static int
read_item(struct rec_store *rs, const struct retention_select *sel, const char *id, struct item *it,
          bool *selected)
{
    size_t len;
    char *text = rec_store_read(rs, id, &len, NULL);
    int rc;

    if (text == NULL)
        return -1;
    rc = item_of_text(sel, id, text, len, it, selected);
    free(text);
    return rc;
}

/* The cache's rows by id: open addressing, slot = row index + 1. */
struct known_map {
    const struct retention_known *rows;
    size_t *slots, mask;
};

static size_t
id_hash(const char *s)
{
    return (size_t)text_hash(s);
}

static int
known_map_init(struct known_map *m, const struct retention_scope *scope)
{
    size_t cap = 16;

    memset(m, 0, sizeof(*m));
    if (scope == NULL || scope->known == NULL)
        return 0;
    while (cap < scope->n_known * 2)
        cap *= 2;
    m->slots = calloc(cap, sizeof(*m->slots));
    if (m->slots == NULL)
        return -1;
    m->rows = scope->known;
    m->mask = cap - 1;
    for (size_t i = 0; i < scope->n_known; i++) {
        size_t k = id_hash(scope->known[i].id) & m->mask;
        while (m->slots[k] != 0)
            k = (k + 1) & m->mask;
        m->slots[k] = i + 1;
    }
    return 0;
}

/* The cache's row for a regular file <id>.json with inode ino, when the row
 * can stand for reading the file; NULL: read it. */
static const struct retention_known *
known_row(const struct known_map *m, const struct dirent *de, const char *id)
{
    const struct retention_known *k = NULL;

    if (m->slots == NULL || de->d_type != DT_REG)
        return NULL;
    for (size_t s = id_hash(id) & m->mask; m->slots[s] != 0; s = (s + 1) & m->mask) {
        if (strcmp(m->rows[m->slots[s] - 1].id, id) == 0) {
            k = &m->rows[m->slots[s] - 1];
            break;
        }
    }
    if (k == NULL || k->needs_read || k->ino != (uint64_t)de->d_ino)
        return NULL;
    return k;
}

static int
add_item(struct retention_plan *plan, struct item *it, size_t *cap, struct intentus_err *err)
{
    if (plan->n_items == *cap) {
        size_t ncap = *cap ? *cap * 2 : 256;
        struct item *p = realloc(plan->items, ncap * sizeof(*p));
        if (p == NULL) {
            free(it->id);
            free(it->intent);
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        plan->items = p;
        *cap = ncap;
    }
    plan->items[plan->n_items++] = *it;
    return 0;
}

/* Plan from the file <id>.json itself (id owned, freed here unless it
 * goes into an item): only a regular file, read and judged; one that is not
 * a record is counted corrupt, one sel leaves out not selected. -1 only
 * when out of memory. */
static int
file_item(struct retention_plan *plan, const struct retention_select *sel, char *id, size_t *cap,
          struct intentus_err *err)
{
    char name[160];
    struct item it = { .id = id };
    bool selected = true;
    struct stat st;

    if (id == NULL || !rec_store_id_is_valid(id) ||
        snprintf(name, sizeof(name), "%s.json", id) >= (int)sizeof(name) ||
        fstatat(rec_store_dirfd(plan->rs), name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode)) {
        free(id);
        return 0;
    }
    it.size = st.st_size;
    it.mtime_ns = mtime_ns(&st);
    it.ino = st.st_ino;
    if (read_item(plan->rs, sel, it.id, &it, &selected) != 0) {
        plan->report.skipped_corrupt++;
        free(it.id);
        return 0;
    }
    /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): it.id is freed on every path below */
    if (!selected) {
        plan->report.not_selected++;
        free(it.id);
        free(it.intent);
        return 0;
    }
    return add_item(plan, &it, cap, err);
}

static int
list_items(struct retention_plan *plan, const struct retention_scope *scope,
           struct intentus_err *err)
{
    const struct retention_select *sel = scope != NULL ? scope->sel : NULL;
    struct known_map known;
    int fd;
    struct dirent *de;
    size_t cap = 0;
    DIR *d;

    if (known_map_init(&known, scope) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    fd = dup(rec_store_dirfd(plan->rs));
    if (fd < 0 || (d = fdopendir(fd)) == NULL) {
        if (fd >= 0)
            close(fd);
        free(known.slots);
        err_set(err, IERR_IO, "cannot list %s: %s", rec_store_dir(plan->rs), strerror(errno));
        return -1;
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        struct item it = { 0 };
        const struct retention_known *k;
        /* Only visible <id>.json: never a writer's hidden temp file. */
        if (de->d_name[0] == '.' || n <= 5 || strcmp(de->d_name + n - 5, ".json") != 0)
            continue;
        it.id = strndup(de->d_name, n - 5);
        if (it.id != NULL && (k = known_row(&known, de, it.id)) != NULL) {
            if (!k->is_selected) {
                plan->report.not_selected++;
                free(it.id);
                continue;
            }
            it.intent = k->intent != NULL ? strdup(k->intent) : NULL;
            it.created_us = k->created_us;
            it.size = k->size;
            it.mtime_ns = k->mtime_ns;
            it.ino = k->ino;
            if (k->intent != NULL && it.intent == NULL)
                free(it.id); /* add_item frees what it is given only when it fails */
            if ((k->intent != NULL && it.intent == NULL) || add_item(plan, &it, &cap, err) != 0) {
                closedir(d);
                free(known.slots);
                err_set(err, IERR_NOMEM, NULL);
                return -1;
            }
            continue;
        }
        if (file_item(plan, sel, it.id, &cap, err) != 0) {
            closedir(d);
            free(known.slots);
            return -1;
        }
    }
    closedir(d);
    free(known.slots);
    return 0;
}

/* The WALs of the planned records: a finished one goes with its record,
 * any other stays (wal_kept). */
static int
plan_wals(struct retention_plan *plan, struct intentus_err *err)
{
    struct stat st;

    /* A WAL directory that is not there holds no WAL: no need to look for
     * each planned record's. */
    if (plan->wal_dir != NULL && stat(plan->wal_dir, &st) != 0 && errno == ENOENT)
        return 0;
    for (size_t i = 0; plan->wal_dir != NULL && i < plan->n_plan; i++) {
        struct item *it = &plan->items[i];
        struct wal_gc_file *f = malloc(sizeof(*f));
        if (f == NULL || wal_gc_judge(plan->wal_dir, it->id, f, err) != 0) {
            if (f == NULL)
                err_set(err, IERR_NOMEM, NULL);
            free(f);
            return -1;
        }
        if (f->verdict == WAL_GC_ABSENT) {
            free(f);
            continue;
        }
        it->wal = f;
        if (f->verdict == WAL_GC_FINISHED) {
            plan->report.wal_count++;
            plan->report.wal_bytes += (uint64_t)f->size;
        } else {
            plan->report.wal_kept++;
        }
    }
    return 0;
}

struct retention_plan *
retention_plan_new(const char *dir, const struct retention_policy *p, int64_t now_us,
                   struct intentus_err *err)
{
    return retention_plan_new_scoped(dir, NULL, p, now_us, err);
}

struct retention_plan *
retention_plan_new_selected(const char *dir, const struct retention_policy *p,
                            const struct retention_select *sel, int64_t now_us,
                            struct intentus_err *err)
{
    struct retention_scope scope = { .sel = sel };

    return retention_plan_new_scoped(dir, &scope, p, now_us, err);
}

struct retention_plan *
retention_plan_new_wal(const char *dir, const char *wal_dir, const struct retention_policy *p,
                       int64_t now_us, struct intentus_err *err)
{
    struct retention_scope scope = { .wal_dir = wal_dir };

    return retention_plan_new_scoped(dir, &scope, p, now_us, err);
}

static void
row_of_item(const struct item *it, struct retention_row *row)
{
    *row = (struct retention_row){ it->id,   it->intent,   it->created_us,
                                   it->size, it->mtime_ns, it->ino };
}

/* The listed items, sorted, one after the other. */
struct item_walk {
    const struct item *items;
    size_t n, at;
};

static int
next_item(void *ctx, struct retention_row *row, struct intentus_err *err)
{
    struct item_walk *w = ctx;

    (void)err;
    if (w->at == w->n)
        return 0;
    row_of_item(&w->items[w->at++], row);
    return 1;
}

static int
count_taken(void *ctx, const struct retention_row *row, struct intentus_err *err)
{
    (void)row;
    (void)err;
    ((struct retention_plan *)ctx)->n_plan++;
    return 0;
}

/* The rows merged with the items of the files read beside them (sorted),
 * in one oldest-first order. */
struct row_merge {
    const struct retention_rows *rows;
    struct item_walk extra;
    struct retention_row row; /* the rows' next, not yet given */
    bool have, done;
};

static int
cmp_row(const struct retention_row *a, const struct item *b)
{
    if (a->created_us != b->created_us)
        return a->created_us < b->created_us ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int
next_merged(void *ctx, struct retention_row *row, struct intentus_err *err)
{
    struct row_merge *m = ctx;
    struct item_walk *x = &m->extra;

    if (!m->have && !m->done) {
        int rc = m->rows->next(m->rows->ctx, &m->row, err);
        if (rc < 0)
            return -1;
        m->have = rc > 0;
        m->done = rc == 0;
    }
    if (m->have && (x->at == x->n || cmp_row(&m->row, &x->items[x->at]) <= 0)) {
        *row = m->row;
        m->have = false;
        return 1;
    }
    return next_item(x, row, err);
}

/* Keep a copy of each row taken: the plan's items are the planned ones. */
static int
keep_taken(void *ctx, const struct retention_row *row, struct intentus_err *err)
{
    struct retention_plan *plan = ctx;
    struct item *p;

    if (plan->n_items == plan->n_alloc) {
        size_t ncap = plan->n_alloc ? plan->n_alloc * 2 : 256;
        if ((p = realloc(plan->items, ncap * sizeof(*p))) == NULL)
            goto nomem;
        plan->items = p;
        plan->n_alloc = ncap;
    }
    p = &plan->items[plan->n_items];
    *p = (struct item){ .id = strdup(row->id),
                        .intent = row->intent != NULL ? strdup(row->intent) : NULL,
                        .created_us = row->created_us,
                        .size = row->size,
                        .mtime_ns = row->mtime_ns,
                        .ino = row->ino };
    if (p->id == NULL || (row->intent != NULL && p->intent == NULL)) {
        free(p->id);
        free(p->intent);
        goto nomem;
    }
    plan->n_items++;
    plan->n_plan++;
    return 0;
nomem:
    err_set(err, IERR_NOMEM, NULL);
    return -1;
}

static void
items_free(struct item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].id);
        free(items[i].intent);
        free(items[i].wal);
    }
    free(items);
}

/* The plan from rows that stand for the directory: the files of read_ids
 * are read (as a listing would read them), merged into the rows' order,
 * and only what the policy takes is copied. */
static int
plan_rows(struct retention_plan *plan, const struct retention_scope *scope,
          const struct retention_policy *p, int64_t now_us, struct intentus_err *err)
{
    const struct retention_rows *rows = scope->rows;
    struct row_merge m = { .rows = rows };
    uint64_t count = rows->count, bytes = rows->bytes;
    size_t cap = 0;
    int rc;

    for (size_t i = 0; i < rows->n_read; i++) {
        char *id = strdup(rows->read_ids[i]);
        if (id == NULL) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        if (file_item(plan, scope->sel, id, &cap, err) != 0)
            return -1;
    }
    if (plan->n_items > 0)
        qsort(plan->items, plan->n_items, sizeof(*plan->items), cmp_item);
    for (size_t i = 0; i < plan->n_items; i++) {
        count++;
        bytes += (uint64_t)plan->items[i].size;
    }
    m.extra = (struct item_walk){ plan->items, plan->n_items, 0 };
    plan->items = NULL;
    plan->n_items = plan->n_alloc = 0;
    plan->report.not_selected += rows->not_selected;
    rc = retention_policy_run(p, now_us, count, bytes, next_merged, &m, keep_taken, plan,
                              &plan->report, err);
    items_free((struct item *)m.extra.items, m.extra.n);
    return rc;
}

struct retention_plan *
retention_plan_new_scoped(const char *dir, const struct retention_scope *scope,
                          const struct retention_policy *p, int64_t now_us,
                          struct intentus_err *err)
{
    struct retention_plan *plan = calloc(1, sizeof(*plan));
    const char *wdir = scope != NULL ? scope->wal_dir : NULL;
    const struct retention_select *sel = scope != NULL ? scope->sel : NULL;
    uint64_t count = 0, bytes = 0;
    struct item_walk walk;
    int rc;

    if (plan == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        return NULL;
    }
    if (wdir != NULL && (plan->wal_dir = strdup(wdir)) == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        free(plan);
        return NULL;
    }
    if (sel != NULL)
        plan->sel = *sel;
    plan->recheck = scope != NULL && (scope->known != NULL || scope->rows != NULL);
    plan->rs = rec_store_open(dir, NULL, err);
    if (plan->rs == NULL) {
        retention_plan_free(plan);
        return NULL;
    }
    if (scope != NULL && scope->rows != NULL) {
        rc = plan_rows(plan, scope, p, now_us, err);
    } else if ((rc = list_items(plan, scope, err)) == 0) {
        if (plan->n_items > 0)
            qsort(plan->items, plan->n_items, sizeof(*plan->items), cmp_item);
        for (size_t i = 0; i < plan->n_items; i++) {
            count++;
            bytes += (uint64_t)plan->items[i].size;
        }
        walk = (struct item_walk){ plan->items, plan->n_items, 0 };
        rc = retention_policy_run(p, now_us, count, bytes, next_item, &walk, count_taken, plan,
                                  &plan->report, err);
    }
    if (rc != 0 || plan_wals(plan, err) != 0) {
        retention_plan_free(plan);
        return NULL;
    }
    return plan;
}

void
retention_plan_free(struct retention_plan *plan)
{
    if (plan == NULL)
        return;
    items_free(plan->items, plan->n_items);
    free(plan->wal_dir);
    retention_report_free(&plan->report);
    rec_store_close(plan->rs);
    free(plan);
}

const struct retention_report *
retention_plan_report(const struct retention_plan *plan)
{
    return &plan->report;
}

size_t
retention_plan_size(const struct retention_plan *plan)
{
    return plan->n_plan;
}

const char *
retention_plan_id(const struct retention_plan *plan, size_t i)
{
    return i < plan->n_plan ? plan->items[i].id : NULL;
}

/* ---- applying ---- */

static void log_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
log_line(int fd, const char *fmt, ...)
{
    char line[1024], now[CLOCK_ISO_LEN];
    va_list ap;
    int n;

    if (fd < 0)
        return;
    clock_now_iso(now);
    n = snprintf(line, sizeof(line), "%s ", now);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(fd, line, (size_t)n) < 0) {
        /* the log is best effort; the action itself already happened */
    }
}

/* gzip text into <archive>/<id><suffix> (".json.gz", ".wal.gz") by a hidden
 * temp file + rename. */
static int
archive_one(struct rec_store *arch, const char *id, const char *suffix, const char *text,
            size_t len, const struct crypt_keyring *seal, struct intentus_err *err)
{
    char name[160];
    struct buf sealed = BUF_INIT;
    const void *file;
    size_t file_len;
    z_stream zs;
    unsigned char *out = NULL;
    size_t bound;
    int rc = -1, adir = rec_store_dirfd(arch);

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    bound = deflateBound(&zs, (uLong)len) + 64;
    out = malloc(bound);
    if (out == NULL) {
        err_set(err, IERR_NOMEM, NULL);
        goto out;
    }
    zs.next_in = (Bytef *)(uintptr_t)text;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        err_set(err, IERR_IO, "gzip of %s failed", id);
        goto out;
    }
    file = out;
    file_len = zs.total_out;
    /* An encrypted record stays encrypted in the archive: the gzip bytes
     * are sealed whole (kind CRYPT_RECORD_GZ), the name stays <id>.json.gz. */
    if (seal != NULL) {
        if (crypt_seal(seal, CRYPT_RECORD_GZ, out, zs.total_out, &sealed, err) != 0)
            goto out;
        file = sealed.data;
        file_len = sealed.len;
    }
    snprintf(name, sizeof(name), "%s%s", id, suffix);
    if (rec_file_put(adir, rec_store_dir(arch), name, file, file_len, true, err) != 0)
        goto out;
    fsync(adir);
    rc = 0;
out:
    deflateEnd(&zs);
    free(out);
    buf_free(&sealed);
    return rc;
}

/* 1 the file is still what the plan saw, 0 gone, -1 changed. */
static int
unchanged(struct retention_plan *plan, const struct item *it)
{
    char name[160];
    struct stat st;

    snprintf(name, sizeof(name), "%s.json", it->id);
    if (fstatat(rec_store_dirfd(plan->rs), name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISREG(st.st_mode) || st.st_size != it->size || mtime_ns(&st) != it->mtime_ns ||
        st.st_ino != it->ino)
        return -1;
    return 1;
}

/* Archive a planned WAL before its record goes; a WAL that changed since
 * the plan is not archived (remove_wal then leaves it too). */
static int
archive_wal(struct retention_plan *plan, struct rec_store *arch, struct item *it, int log,
            struct intentus_err *err)
{
    struct intentus_err rerr = { 0 };
    size_t len;
    char *text;
    int rc;

    if (it->wal == NULL || it->wal->verdict != WAL_GC_FINISHED)
        return 0;
    text = wal_gc_read(plan->wal_dir, it->wal, &len, &rerr);
    if (text == NULL) {
        if (rerr.code == IERR_NOMEM) {
            err_set(err, IERR_NOMEM, NULL);
            return -1;
        }
        log_line(log, "skip wal %s (%s)", it->id, rerr.msg);
        it->wal->verdict = WAL_GC_UNFINISHED; /* changed: judged again next time */
        return 0;
    }
    /* A WAL's entries are sealed line by line when WAL encryption is on;
     * the archive keeps those lines as they are. */
    rc = archive_one(arch, it->id, ".wal.gz", text, len, NULL, err);
    free(text);
    if (rc != 0)
        log_line(log, "error wal %s: %s", it->id, err ? err->msg : "archive failed");
    else
        log_line(log, "archive wal %s %lld bytes -> %s/%s.wal.gz", it->id, (long long)it->wal->size,
                 rec_store_dir(arch), it->id);
    return rc;
}

/* Remove a planned WAL once its record is gone. */
static int
remove_wal(struct retention_plan *plan, const struct item *it, int log,
           struct retention_report *done, struct intentus_err *err)
{
    enum wal_gc_outcome outcome = WAL_GC_CHANGED;
    bool lock_removed = false;

    if (it->wal == NULL)
        return 0;
    if (it->wal->verdict != WAL_GC_FINISHED) {
        done->wal_kept++;
        log_line(log, "keep wal %s (%s: %s)", it->id, wal_gc_verdict_name(it->wal->verdict),
                 it->wal->problem);
        return 0;
    }
    if (wal_gc_remove(plan->wal_dir, it->wal, &outcome, &lock_removed, err) != 0) {
        log_line(log, "error wal %s: %s", it->id, err ? err->msg : "cannot remove");
        return -1;
    }
    if (outcome == WAL_GC_REMOVED) {
        done->wal_count++;
        done->wal_bytes += (uint64_t)it->wal->size;
        done->locks_removed += lock_removed ? 1 : 0;
        log_line(log, "delete wal %s %lld bytes%s", it->id, (long long)it->wal->size,
                 lock_removed ? " (and its stale lock)" : "");
    } else if (outcome != WAL_GC_GONE) {
        done->wal_kept++;
        log_line(log, "skip wal %s (%s)", it->id,
                 outcome == WAL_GC_LOCKED ? "its lock is held" : "changed since the plan");
    }
    return 0;
}

/* Record text may be a decrypted record: wiped before it is freed. */
static void
wipe_free(char *text, size_t len)
{
    if (text != NULL)
        explicit_bzero(text, len);
    free(text);
}

/* A plan made from a cache: is the file still the record planned (a
 * record, created then, selected)? Its text is kept in *text. */
static bool
still_planned(struct retention_plan *plan, const struct item *it, char **text, size_t *len,
              enum crypt_status *st)
{
    struct item now = { 0 };
    bool selected = true, same;

    *text = rec_store_read_st(plan->rs, it->id, len, st, NULL);
    if (*text == NULL || item_of_text(plan->sel.fn != NULL ? &plan->sel : NULL, it->id, *text, *len,
                                      &now, &selected) != 0)
        return false;
    same = selected && now.created_us == it->created_us;
    free(now.intent);
    return same;
}

static int
apply_one(struct retention_plan *plan, struct rec_store *arch, struct item *it, int log,
          struct retention_report *done, struct intentus_err *err)
{
    char name[160], *text = NULL;
    size_t len = 0;
    enum crypt_status st = CRYPT_PLAIN;
    int state = unchanged(plan, it);

    if (state == 0) {
        done->already_gone++;
        log_line(log, "gone %s (removed by someone else)", it->id);
        return 0;
    }
    if (state < 0) {
        done->skipped_changed++;
        log_line(log, "skip %s (changed since the plan)", it->id);
        return 0;
    }
    if (plan->recheck && !still_planned(plan, it, &text, &len, &st)) {
        wipe_free(text, len);
        done->skipped_changed++;
        log_line(log, "skip %s (its content is not what the plan was made from)", it->id);
        return 0;
    }
    if (arch != NULL) {
        const struct crypt_keyring *seal;
        if (text == NULL)
            text = rec_store_read_st(plan->rs, it->id, &len, &st, err);
        /* What was encrypted stays encrypted (with the newest key of the
         * keyring that opened it); a plaintext record stays as it was. */
        seal = st == CRYPT_OK ? rec_store_keys(plan->rs) : NULL;
        if (text == NULL || archive_one(arch, it->id, ".json.gz", text, len, seal, err) != 0) {
            wipe_free(text, len);
            log_line(log, "error %s: %s", it->id, err ? err->msg : "archive failed");
            return -1;
        }
        if (archive_wal(plan, arch, it, log, err) != 0) {
            wipe_free(text, len);
            return -1;
        }
    }
    wipe_free(text, len);
    snprintf(name, sizeof(name), "%s.json", it->id);
    if (unlinkat(rec_store_dirfd(plan->rs), name, 0) != 0 && errno != ENOENT) {
        err_set(err, IERR_IO, "cannot remove %s/%s: %s", rec_store_dir(plan->rs), name,
                strerror(errno));
        log_line(log, "error %s: %s", it->id, strerror(errno));
        return -1;
    }
    if (arch != NULL)
        log_line(log, "archive %s %lld bytes -> %s/%s.json.gz", it->id, (long long)it->size,
                 rec_store_dir(arch), it->id);
    else
        log_line(log, "delete %s %lld bytes", it->id, (long long)it->size);
    if (retention_report_add(done, it->id, it->intent, it->created_us, (uint64_t)it->size) != 0) {
        err_set(err, IERR_NOMEM, NULL);
        return -1;
    }
    return remove_wal(plan, it, log, done, err);
}

int
retention_apply(struct retention_plan *plan, const struct retention_apply_opts *opts,
                struct retention_report *done, struct intentus_err *err)
{
    struct rec_store_opts ao = { .create = true };
    struct rec_store *arch = NULL;
    int log, rc = 0;

    memset(done, 0, sizeof(*done));
    if (opts != NULL && opts->archive_dir != NULL) {
        arch = rec_store_open(opts->archive_dir, &ao, err);
        if (arch == NULL)
            return -1;
    }
    log = openat(rec_store_dirfd(plan->rs), RETENTION_LOG,
                 O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    log_line(log, "start %s: %zu records, %llu bytes, %s", rec_store_dir(plan->rs), plan->n_plan,
             (unsigned long long)plan->report.bytes, arch ? "archive" : "delete");
    for (size_t i = 0; i < plan->n_plan; i++) {
        if (apply_one(plan, arch, &plan->items[i], log, done, err) != 0) {
            rc = -1;
            break;
        }
        if (opts != NULL && opts->progress != NULL &&
            opts->progress(opts->ctx, i + 1, plan->n_plan, plan->items[i].id) != 0 &&
            i + 1 < plan->n_plan) {
            done->interrupted = true;
            break;
        }
    }
    retention_report_sort(done);
    log_line(log, "end: %llu records, %llu bytes%s%s", (unsigned long long)done->count,
             (unsigned long long)done->bytes, done->interrupted ? ", interrupted" : "",
             rc != 0 ? ", stopped by an error" : "");
    if (log >= 0)
        close(log);
    rec_store_close(arch);
    return rc;
}
