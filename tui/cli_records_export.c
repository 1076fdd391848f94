/* intentus records export --decrypt --out DIR: plaintext copies of records
 * (encrypted or not) for moving them to the reference or another tool. The
 * bytes written are the record's own text, decrypted and decompressed, so
 * envelopeHash and the reference's reading of the file are unchanged. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rec_store.h"
#include "core/uuid.h"
#include "tui/cli.h"
#include "tui/cli_records.h"
#include "tui/fmt.h"
#include "watch/digest.h"

/* Write text to outfd/<id>.json through a hidden temp file, never
 * replacing an existing file (link(2) refuses an existing name). */
static int
write_copy(int outfd, const char *out, const char *id, const char *text, size_t len,
           struct intentus_err *err)
{
    char name[160], tmp[200], rnd[UUID_STR_LEN];
    int fd, rc = -1;

    snprintf(name, sizeof(name), "%s.json", id);
    uuid_v4(rnd);
    snprintf(tmp, sizeof(tmp), ".%s.%.8s.tmp", name, rnd);
    fd = openat(outfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        err_set(err, IERR_IO, "cannot create %s/%s: %s", out, tmp, strerror(errno));
        return -1;
    }
    if (rec_store_write_all(fd, text, len) != 0 || fsync(fd) != 0) {
        err_set(err, IERR_IO, "cannot write %s/%s: %s", out, tmp, strerror(errno));
        close(fd);
        goto out;
    }
    if (close(fd) != 0) {
        err_set(err, IERR_IO, "cannot write %s/%s: %s", out, tmp, strerror(errno));
        goto out;
    }
    if (linkat(outfd, tmp, outfd, name, 0) != 0) {
        err_set(err, IERR_IO, "cannot create %s/%s: %s%s", out, name, strerror(errno),
                errno == EEXIST ? " (an existing file is never replaced)" : "");
        goto out;
    }
    rc = 0;
out:
    unlinkat(outfd, tmp, 0);
    return rc;
}

/* 1 exported, 0 not selected, -1 failed (err says why). */
static int
export_one(struct rec_store *rs, struct cli_select *sel, int outfd, const char *out, const char *id,
           struct intentus_err *err)
{
    enum crypt_status st;
    struct digest *d;
    size_t len;
    char *text = rec_store_read_st(rs, id, &len, &st, err);
    int rc = -1;

    if (text == NULL)
        return -1;
    d = digest_from_text(id, text, len, NULL);
    if (d == NULL) {
        err_set(err, IERR_NOMEM, NULL);
    } else if (d->flags & DIGEST_CORRUPT) {
        err_set(err, IERR_PARSE, "%s/%s.json: %s", rec_store_dir(rs), id, d->note ? d->note : "");
    } else if (sel != NULL && !cli_select_digest(sel, d)) {
        rc = 0;
    } else {
        rc = write_copy(outfd, out, id, text, len, err) == 0 ? 1 : -1;
    }
    digest_free(d);
    explicit_bzero(text, len);
    free(text);
    return rc;
}

int
cli_records_export(const struct rec_args *a, int argc, char **argv)
{
    struct intentus_err err = { 0 };
    char e[FMT_ESC_SIZE(sizeof(err.msg))];
    struct config *cfg = NULL;
    struct cli_select *sel = NULL;
    struct rec_store *rs = NULL;
    struct rec_ids ids = { 0 };
    size_t exported = 0, failed = 0;
    const char *dir;
    int outfd = -1, rc = EXIT_FAIL;

    if (a->store != NULL)
        return cli_usage_error(a->cmd,
                               "--out reads record files; %s is not one: copy it with --to "
                               "file:DIR (the same plaintext bytes)",
                               a->store);
    if (!a->decrypt)
        return cli_usage_error(a->cmd, "the copies are plaintext: say so with --decrypt");
    if (a->out == NULL)
        return cli_usage_error(a->cmd, "missing --out DIR");
    for (int i = a->first_arg; i < argc; i++) {
        if (!rec_store_id_is_valid(argv[i]))
            return cli_usage_error(a->cmd, "'%s' is not a valid execution id", argv[i]);
    }
    dir = cli_records_dir_of(a, &cfg);
    if (dir == NULL)
        return EXIT_USAGE;
    rs = rec_store_open(dir, NULL, &err);
    if (rs == NULL) {
        cli_error(a->cmd, "%s", err.msg);
        goto out;
    }
    if (mkdir(a->out, 0700) != 0 && errno != EEXIST) {
        cli_error(a->cmd, "cannot create %s: %s", a->out, strerror(errno));
        goto out;
    }
    outfd = open(a->out, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (outfd < 0) {
        cli_error(a->cmd, "cannot open %s: %s", a->out, strerror(errno));
        goto out;
    }
    if (cli_records_filtered(a) && (sel = cli_select_new(a)) == NULL) {
        cli_error(a->cmd, "out of memory");
        goto out;
    }
    if (a->first_arg < argc) {
        ids.ids = calloc((size_t)(argc - a->first_arg), sizeof(char *));
        for (int i = a->first_arg; ids.ids != NULL && i < argc; i++)
            if ((ids.ids[ids.n++] = strdup(argv[i])) == NULL)
                ids.n--;
    } else if (rec_store_list(rs, &ids, &err) != 0) {
        cli_error(a->cmd, "%s", err.msg);
        goto out;
    }
    for (size_t i = 0; i < ids.n; i++) {
        int r = export_one(rs, sel, outfd, a->out, ids.ids[i], &err);
        if (r > 0)
            exported++;
        if (r < 0) {
            failed++;
            printf("FAIL %s: %s\n", ids.ids[i], cli_esc(err.msg, e, sizeof(e)));
        }
    }
    printf("%zu exported to %s, %zu failed\n", exported, cli_esc(a->out, e, sizeof(e)), failed);
    rc = failed > 0 ? EXIT_FAIL : EXIT_OK;
out:
    rec_store_ids_free(&ids);
    cli_select_free(sel);
    if (outfd >= 0)
        close(outfd);
    rec_store_close(rs);
    config_free(cfg);
    return rc;
}
