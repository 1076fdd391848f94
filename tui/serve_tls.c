/* TLS certificate and key for serve (tui/serve_tls.h). */
#include "tui/serve_tls.h"

#include <fcntl.h>
#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/safe_file.h"

#define PEM_MAX ((size_t)1024 * 1024)

bool
serve_tls_supported(void)
{
    return MHD_is_feature_supported(MHD_FEATURE_TLS) == MHD_YES;
}

/* No passphrase prompt: an encrypted key cannot be used unattended. */
/* OpenSSL's pem_password_cb type fixes the signature. */
static int
// NOLINTNEXTLINE(readability-non-const-parameter)
no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* Read path; for the key also refuse a mode that lets group or others read
 * it (checked on the open descriptor, so it is the file that is read). */
static char *
read_pem(const char *what, const char *path, bool secret, size_t *len, struct intentus_err *err)
{
    struct stat st;
    char *text;
    int fd = safe_file_open(AT_FDCWD, path, path, PEM_MAX, err);

    if (fd < 0) {
        err_prefix(err, "%s", what);
        return NULL;
    }
    if (secret && fstat(fd, &st) == 0 && (st.st_mode & 077) != 0) {
        err_set(err, IERR_CONFIG,
                "%s: %s has mode %04o: readable by group or others; a private key must not "
                "be (chmod 600 %s)",
                what, path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return NULL;
    }
    text = safe_file_read_fd(fd, path, PEM_MAX, len, err);
    close(fd);
    if (text == NULL)
        err_prefix(err, "%s", what);
    return text;
}

int
serve_tls_load(const char *cert_path, const char *key_path, struct serve_tls *t,
               struct intentus_err *err)
{
    BIO *b = NULL;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    int rc = -1;

    memset(t, 0, sizeof(*t));
    if ((t->cert = read_pem("TLS certificate", cert_path, false, &t->cert_len, err)) == NULL ||
        (t->key = read_pem("TLS key", key_path, true, &t->key_len, err)) == NULL)
        goto out;
    b = BIO_new_mem_buf(t->cert, (int)t->cert_len);
    if (b == NULL || (x = PEM_read_bio_X509(b, NULL, no_passphrase, NULL)) == NULL) {
        err_set(err, IERR_CONFIG, "TLS certificate: %s holds no PEM certificate", cert_path);
        goto out;
    }
    BIO_free(b);
    b = BIO_new_mem_buf(t->key, (int)t->key_len);
    if (b == NULL || (k = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL)) == NULL) {
        err_set(err, IERR_CONFIG,
                "TLS key: %s holds no unencrypted PEM private key (a passphrase-protected key "
                "cannot be used)",
                key_path);
        goto out;
    }
    if (X509_check_private_key(x, k) != 1) {
        err_set(err, IERR_CONFIG, "TLS key: %s is not the private key of the certificate %s",
                key_path, cert_path);
        goto out;
    }
    rc = 0;
out:
    ERR_clear_error();
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
    if (rc != 0)
        serve_tls_free(t);
    return rc;
}

void
serve_tls_free(struct serve_tls *t)
{
    if (t->key != NULL) {
        OPENSSL_cleanse(t->key, t->key_len);
        free(t->key);
    }
    free(t->cert);
    memset(t, 0, sizeof(*t));
}
