/*
 * TLS: the sites' SSL_CTX (built at config load), the SNI switch, the
 * shared resumption state (shm/tlscache.h) and a few helpers for logs and
 * headers.  See worker/tls.h for the contract.
 *
 * One SSL_CTX per site.  A connection's SSL is made on one context of its
 * listener and switched to the chosen site's in a ClientHello callback.
 * SSL_set_SSL_CTX() changes the certificates, the session ID context and
 * what OpenSSL reads from ssl->ctx (ALPN and OCSP callbacks, the cipher
 * lists, the client CA list and store), but SSL_new() has copied the rest
 * (options, protocol range, verify mode and depth, groups, ticket count)
 * into the SSL: tls_switch() copies those again from the new context.
 * The session cache callbacks and the ticket key callback stay those of
 * the context the SSL was made on (OpenSSL's session_ctx): every context
 * gets the same ones (gh_tls_worker_init()), and they find their cache
 * and keys through the connection's current context.
 */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "shm/tlscache.h"
#include "worker/route.h"
#include "worker/tls.h"

#define TLS_OCSP_MAX  (64 * 1024)   /* a stapled response is a few k */
#define TLS_SNI_MAX   255           /* RFC 6066 3: HostName, DNS limits */

/* conf.c checks session_cache against this minimum by value. */
_Static_assert(GH_TLSCACHE_MIN == 16 * 1024, "conf.c session_cache check");
_Static_assert(SSL_MAX_SID_CTX_LENGTH >= 32, "a SHA-256 session context");

/* ALPN we select, in wire format (length-prefixed).  Per context (the
 * callback's argument), so h2 can be offered by some sites later. */
static const unsigned char tls_alpn_http11[] = "\x08http/1.1";

/* What a context carries beyond OpenSSL's state: its SSL_CTX ex_data. */
struct tls_ctx_data {
    const struct gh_tls *t;         /* borrows: the conf's */
    X509                *ocsp_cert; /* borrows (the context holds it): the
                                       certificate the response is for */
    unsigned char       *ocsp;      /* owns: the DER response, or NULL */
    size_t               ocsp_len;
};

static int tls_idx_listener = -1;   /* SSL: const struct gh_listener * */
static int tls_idx_site = -1;       /* SSL: const struct gh_site * */
static int tls_idx_hello = -1;      /* SSL: non-NULL once SNI was seen */
static int tls_idx_data = -1;       /* SSL_CTX: struct tls_ctx_data * */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void
tls_data_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
              long argl, void *argp)
{
    struct tls_ctx_data *d = ptr;

    if (d == NULL)
        return;
    free(d->ocsp);
    free(d);
}

static void
tls_init_indexes(void)
{
    tls_idx_listener = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    tls_idx_site = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    tls_idx_hello = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    tls_idx_data = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
                                            tls_data_free);
}

static int
tls_init(void)
{
    if (pthread_once(&tls_once, tls_init_indexes) != 0)
        return GH_ERR;
    return tls_idx_listener >= 0 && tls_idx_site >= 0 && tls_idx_hello >= 0
           && tls_idx_data >= 0 ? GH_OK : GH_ERR;
}

static void tls_why(char *err, size_t errlen, const char *fmt, ...)
    GH_PRINTF(3, 4);
static const char *tls_clean(const char *s, size_t n, char *buf, size_t len);

static void
tls_why(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* OpenSSL's reason for the oldest error in the queue; empties it. */
static const char *
tls_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_error();
    const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

    if (r != NULL)
        (void) snprintf(buf, len, "%s", r);
    else if (e != 0)
        (void) snprintf(buf, len, "error:%08lX", e);
    else
        (void) snprintf(buf, len, "unknown error");
    ERR_clear_error();
    return buf;
}

/* "2031-01-02 03:04:05 UTC" */
static const char *
tls_time(const ASN1_TIME *t, char *buf, size_t len)
{
    struct tm tm;

    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1
        || strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        (void) snprintf(buf, len, "(unreadable time)");
    return buf;
}

/* Keys with a passphrase would prompt on the terminal: give none. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return 0;
}

/* The session ID context of SITE: SHA-256 of its identity (the metrics'
 * too: name and first listen address), so a session or a ticket of one
 * site never resumes on another. */
static int
tls_context(const struct gh_site *site, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    const char *addr = site->nlisten > 0 ? site->listen[0].addr.text : "";
    unsigned int n = 0;
    int ok;

    ok = md != NULL
         && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1
         && EVP_DigestUpdate(md, "gatehouse tls site", 19) == 1
         && EVP_DigestUpdate(md, site->name, strlen(site->name) + 1) == 1
         && EVP_DigestUpdate(md, addr, strlen(addr) + 1) == 1
         && EVP_DigestFinal_ex(md, out, &n) == 1 && n == 32;
    EVP_MD_CTX_free(md);
    return ok ? GH_OK : GH_ERR;
}

static const char *
tls_key_type(int id)
{
    switch (id) {
    case EVP_PKEY_RSA:
        return "RSA";
    case EVP_PKEY_RSA_PSS:
        return "RSA-PSS";
    case EVP_PKEY_EC:
        return "ECDSA";
    case EVP_PKEY_ED25519:
        return "Ed25519";
    case EVP_PKEY_ED448:
        return "Ed448";
    case EVP_PKEY_DSA:
        return "DSA";
    default:
        return OBJ_nid2sn(id) != NULL ? OBJ_nid2sn(id) : "unknown";
    }
}

/* fopen() for reading, or GH_ERR with "FILE: strerror". */
static FILE *
tls_open(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");

    if (f == NULL)
        tls_why(err, errlen, "%s: %s", path, strerror(errno));
    return f;
}

/* ---- building a context ------------------------------------------------ */

/* A TLS 1.3 suite (any key exchange: the groups decide)? */
static int
tls_is13(const SSL_CIPHER *c)
{
    return SSL_CIPHER_get_kx_nid(c) == NID_kx_any;
}

/*
 * Certificate I of T into CTX: its chain and key.  TYPES[I] gets its key
 * type, X[I] the certificate the context now holds (borrowed).
 */
static int
tls_load_cert(SSL_CTX *ctx, const struct gh_tls *t, uint32_t i, int *types,
              X509 **x, struct gh_tls_where *w, char *err, size_t errlen)
{
    const struct gh_tls_cert *c = &t->certs[i];
    char why[256], when[64];
    EVP_PKEY *pkey = NULL;
    X509 *leaf = NULL;
    FILE *f;
    int rc = GH_ERR, type;

    w->key = "cert";
    w->cert = (int) i;
    if ((f = tls_open(c->cert, err, errlen)) == NULL)
        return GH_ERR;
    leaf = PEM_read_X509(f, NULL, tls_no_passphrase, NULL);
    (void) fclose(f);           /* read only: nothing to report */
    if (leaf == NULL) {
        ERR_clear_error();
        tls_why(err, errlen, "%s: not a PEM certificate", c->cert);
        return GH_ERR;
    }
    /* Expired or early certificates fail in every client: say so now,
     * not in each handshake. */
    if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
        tls_why(err, errlen, "%s: the certificate expired on %s", c->cert,
                tls_time(X509_get0_notAfter(leaf), when, sizeof(when)));
        goto out;
    }
    if (X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
        tls_why(err, errlen, "%s: the certificate is not valid before %s",
                c->cert,
                tls_time(X509_get0_notBefore(leaf), when, sizeof(when)));
        goto out;
    }
    type = X509_get0_pubkey(leaf) != NULL
           ? EVP_PKEY_get_base_id(X509_get0_pubkey(leaf)) : NID_undef;
    types[i] = type;
    for (uint32_t j = 0; j < i; j++) {
        /* OpenSSL keeps one certificate per key type: a second one would
         * silently replace the first. */
        if (types[j] == type) {
            tls_why(err, errlen, "%s: a second %s certificate "
                    "(certificates[%u] is %s too); give one per key type",
                    c->cert, tls_key_type(type), (unsigned) j,
                    tls_key_type(type));
            goto out;
        }
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) {
        tls_why(err, errlen, "%s: cannot use the certificate: %s", c->cert,
                tls_reason(why, sizeof(why)));
        goto out;
    }
    x[i] = SSL_CTX_get0_certificate(ctx);

    w->key = "key";
    if ((f = tls_open(c->key, err, errlen)) == NULL)
        goto out;
    pkey = PEM_read_PrivateKey(f, NULL, tls_no_passphrase, NULL);
    (void) fclose(f);           /* read only: nothing to report */
    if (pkey == NULL) {
        ERR_clear_error();
        tls_why(err, errlen, "%s: not a PEM private key (or an encrypted "
                "one: keys are read without a passphrase)", c->key);
        goto out;
    }
    if (X509_check_private_key(leaf, pkey) != 1) {
        ERR_clear_error();
        tls_why(err, errlen, "%s does not match the certificate %s", c->key,
                c->cert);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1
        || SSL_CTX_check_private_key(ctx) != 1) {
        tls_why(err, errlen, "%s: cannot use the key: %s", c->key,
                tls_reason(why, sizeof(why)));
        goto out;
    }
    rc = GH_OK;
out:
    EVP_PKEY_free(pkey);
    X509_free(leaf);
    return rc;
}

/*
 * TLS 1.2 ciphers: the list must select something, and only ciphers with
 * forward secrecy (ECDHE, DHE) and an AEAD (GCM, CCM, ChaCha20-Poly1305),
 * authenticated by a certificate: CBC suites are the source of the
 * padding-oracle attacks (Lucky13 and kin), static RSA key exchange
 * gives no forward secrecy, anonymous and PSK suites no authentication.
 */
static int
tls_set_ciphers(SSL_CTX *ctx, const struct gh_tls *t,
                struct gh_tls_where *w, char *err, size_t errlen)
{
    STACK_OF(SSL_CIPHER) *sk;
    char why[256];
    int n12 = 0;

    w->key = "ciphers";
    if (SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
        tls_why(err, errlen, "selects no TLS 1.2 cipher: %s",
                tls_reason(why, sizeof(why)));
        return GH_ERR;
    }
    sk = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; sk != NULL && i < sk_SSL_CIPHER_num(sk); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);
        int kx = SSL_CIPHER_get_kx_nid(c), au = SSL_CIPHER_get_auth_nid(c);

        if (tls_is13(c))
            continue;           /* a TLS 1.3 suite: ciphersuites */
        if (!SSL_CIPHER_is_aead(c)
            || (kx != NID_kx_ecdhe && kx != NID_kx_dhe)
            || (au != NID_auth_rsa && au != NID_auth_ecdsa)) {
            tls_why(err, errlen, "allows %s, which is not a forward-secret "
                    "AEAD cipher (TLS 1.2 ciphers must be ECDHE or DHE with "
                    "AES-GCM, AES-CCM or ChaCha20-Poly1305)",
                    SSL_CIPHER_get_name(c));
            return GH_ERR;
        }
        n12++;
    }
    if (n12 == 0) {
        tls_why(err, errlen, "selects no TLS 1.2 cipher");
        return GH_ERR;
    }
    return GH_OK;
}

/* TLS 1.3 suites known to OpenSSL, "A, B or C", for a message. */
static void
tls_known_suites(char *buf, size_t len)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    STACK_OF(SSL_CIPHER) *sk;
    size_t n = 0;
    int k = 0, total = 0;

    buf[0] = '\0';
    if (ctx == NULL || SSL_CTX_set_ciphersuites(ctx, "TLS_AES_256_GCM_SHA384:"
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:"
            "TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256") != 1) {
        SSL_CTX_free(ctx);
        ERR_clear_error();
        return;
    }
    sk = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; sk != NULL && i < sk_SSL_CIPHER_num(sk); i++)
        total += tls_is13(sk_SSL_CIPHER_value(sk, i));
    for (int i = 0; sk != NULL && i < sk_SSL_CIPHER_num(sk) && n < len; i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);

        if (!tls_is13(c))
            continue;
        k++;
        n += (size_t) snprintf(buf + n, len - n, "%s%s",
                               k == 1 ? "" : k == total ? " or " : ", ",
                               SSL_CIPHER_get_name(c));
    }
    SSL_CTX_free(ctx);
}

static int
tls_count13(SSL_CTX *ctx)
{
    STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);
    int n = 0;

    for (int i = 0; sk != NULL && i < sk_SSL_CIPHER_num(sk); i++)
        n += tls_is13(sk_SSL_CIPHER_value(sk, i));
    return n;
}

/*
 * TLS 1.3 suites: OpenSSL skips names it does not know, so each is tried
 * alone first, and a typo is an error rather than a suite quietly gone.
 */
static int
tls_set_suites(SSL_CTX *ctx, const struct gh_tls *t, struct gh_tls_where *w,
               char *err, size_t errlen)
{
    char name[128], known[512], why[256];
    const char *p, *e;
    size_t n;

    w->key = "ciphersuites";
    if (t->ciphersuites == NULL)
        return GH_OK;           /* OpenSSL's default */
    for (p = t->ciphersuites; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
        e = strchr(p, ':');
        if (e == NULL)
            e = p + strlen(p);
        n = (size_t) (e - p);
        if (n == 0 || n >= sizeof(name)) {
            tls_why(err, errlen, "has an empty or overlong name");
            return GH_ERR;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if (SSL_CTX_set_ciphersuites(ctx, name) != 1
            || tls_count13(ctx) == 0) {
            ERR_clear_error();
            tls_known_suites(known, sizeof(known));
            tls_why(err, errlen, "unknown TLS 1.3 ciphersuite \"%s\" "
                    "(want %s)", tls_clean(name, n, name, sizeof(name)),
                    known);
            return GH_ERR;
        }
    }
    if (SSL_CTX_set_ciphersuites(ctx, t->ciphersuites) != 1) {
        tls_why(err, errlen, "%s", tls_reason(why, sizeof(why)));
        return GH_ERR;
    }
    return GH_OK;
}

/* Key exchange groups: an unknown name fails the whole list; find it. */
static int
tls_set_groups(SSL_CTX *ctx, const struct gh_tls *t, struct gh_tls_where *w,
               char *err, size_t errlen)
{
    char name[64];
    const char *p, *e;
    size_t n;

    w->key = "groups";
    for (p = t->groups; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
        e = strchr(p, ':');
        if (e == NULL)
            e = p + strlen(p);
        n = (size_t) (e - p);
        if (n == 0 || n >= sizeof(name)) {
            tls_why(err, errlen, "has an empty or overlong name");
            return GH_ERR;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if (SSL_CTX_set1_groups_list(ctx, name) != 1) {
            ERR_clear_error();
            tls_why(err, errlen, "unknown group \"%s\" (want names such as "
                    "X25519, X448, P-256, P-384, P-521, ffdhe2048)",
                    tls_clean(name, n, name, sizeof(name)));
            return GH_ERR;
        }
    }
    if (SSL_CTX_set1_groups_list(ctx, t->groups) != 1) {
        ERR_clear_error();
        tls_why(err, errlen, "is not a usable list of groups");
        return GH_ERR;
    }
    return GH_OK;
}

static int
tls_set_verify(SSL_CTX *ctx, const struct gh_tls *t, struct gh_tls_where *w,
               char *err, size_t errlen)
{
    STACK_OF(X509_NAME) *names;
    char why[256];
    FILE *f;
    int mode;

    w->key = "client_ca";
    if (t->client_ca != NULL) {
        if ((f = tls_open(t->client_ca, err, errlen)) == NULL)
            return GH_ERR;
        (void) fclose(f);       /* only the error message was wanted */
        names = SSL_load_client_CA_file(t->client_ca);
        if (names == NULL || sk_X509_NAME_num(names) == 0) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            ERR_clear_error();
            tls_why(err, errlen, "%s: no PEM certificate in it",
                    t->client_ca);
            return GH_ERR;
        }
        /* The names go in the CertificateRequest (which CAs we take). */
        SSL_CTX_set_client_CA_list(ctx, names);
        if (SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1) {
            tls_why(err, errlen, "%s: %s", t->client_ca,
                    tls_reason(why, sizeof(why)));
            return GH_ERR;
        }
    }
    w->key = "verify_client";
    switch (t->verify_client) {
    case GH_TLS_VERIFY_ON:
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
               | SSL_VERIFY_CLIENT_ONCE;
        break;
    case GH_TLS_VERIFY_OPTIONAL:
        /* Asked for; a certificate that is sent must verify (the default
         * callback fails the handshake), so a backend never sees an
         * unverified client as verified. */
        mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
        break;
    default:
        mode = SSL_VERIFY_NONE;
        break;
    }
    if (mode != SSL_VERIFY_NONE && t->client_ca == NULL) {
        tls_why(err, errlen, "needs client_ca");
        return GH_ERR;
    }
    SSL_CTX_set_verify(ctx, mode, NULL);
    SSL_CTX_set_verify_depth(ctx, (int) t->verify_depth);
    return GH_OK;
}

/* Read all of PATH (at most MAX bytes) into a malloc'd *BUF. */
static int
tls_read_file(const char *path, size_t max, unsigned char **buf,
              size_t *len, char *err, size_t errlen)
{
    struct stat st;
    unsigned char *b;
    FILE *f;
    size_t n;

    if ((f = tls_open(path, err, errlen)) == NULL)
        return GH_ERR;
    if (fstat(fileno(f), &st) == -1) {
        tls_why(err, errlen, "%s: %s", path, strerror(errno));
        (void) fclose(f);
        return GH_ERR;
    }
    if (!S_ISREG(st.st_mode)) {
        tls_why(err, errlen, "%s: not a regular file", path);
        (void) fclose(f);
        return GH_ERR;
    }
    if (st.st_size == 0 || (uint64_t) st.st_size > max) {
        tls_why(err, errlen, st.st_size == 0 ? "%s: empty"
                : "%s: larger than 64k", path);
        (void) fclose(f);
        return GH_ERR;
    }
    b = malloc((size_t) st.st_size);
    if (b == NULL) {
        tls_why(err, errlen, "%s: out of memory", path);
        (void) fclose(f);
        return GH_ERR;
    }
    n = fread(b, 1, (size_t) st.st_size, f);
    if (n != (size_t) st.st_size) {
        tls_why(err, errlen, "%s: %s", path, ferror(f) ? strerror(errno)
                : "changed while read");
        free(b);
        (void) fclose(f);
        return GH_ERR;
    }
    (void) fclose(f);           /* read only: nothing to report */
    *buf = b;
    *len = n;
    return GH_OK;
}

/*
 * ocsp_staple: a DER OCSP response for one of the site's certificates
 * (matched by serial number), successful, "good" and not past its
 * nextUpdate: a stale or wrong staple makes strict clients fail, worse
 * than no staple.
 */
static int
tls_load_ocsp(struct tls_ctx_data *d, const struct gh_tls *t, X509 **x,
              struct gh_tls_where *w, char *err, size_t errlen)
{
    const unsigned char *p;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    OCSP_SINGLERESP *one;
    const OCSP_CERTID *id;
    ASN1_INTEGER *serial = NULL;
    ASN1_GENERALIZEDTIME *rev, *thisupd, *nextupd;
    char when[64];
    int status, reason, rc = GH_ERR;

    w->key = "ocsp_staple";
    if (t->ocsp_staple == NULL)
        return GH_OK;
    if (tls_read_file(t->ocsp_staple, TLS_OCSP_MAX, &d->ocsp, &d->ocsp_len,
                      err, errlen) != GH_OK)
        return GH_ERR;
    p = d->ocsp;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long) d->ocsp_len);
    if (resp == NULL || p != d->ocsp + d->ocsp_len) {
        tls_why(err, errlen, "%s: not a DER OCSP response", t->ocsp_staple);
        goto out;
    }
    status = OCSP_response_status(resp);
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        tls_why(err, errlen, "%s: the OCSP response status is \"%s\", not "
                "successful", t->ocsp_staple,
                OCSP_response_status_str(status));
        goto out;
    }
    bs = OCSP_response_get1_basic(resp);
    if (bs == NULL || OCSP_resp_count(bs) < 1
        || (one = OCSP_resp_get0(bs, 0)) == NULL
        || (id = OCSP_SINGLERESP_get0_id(one)) == NULL
        || OCSP_id_get0_info(NULL, NULL, NULL, &serial,
                             (OCSP_CERTID *) (uintptr_t) id) != 1) {
        tls_why(err, errlen, "%s: no certificate status in the OCSP "
                "response", t->ocsp_staple);
        goto out;
    }
    for (uint32_t i = 0; i < t->ncerts; i++) {
        if (x[i] != NULL
            && ASN1_INTEGER_cmp(X509_get0_serialNumber(x[i]), serial) == 0)
            d->ocsp_cert = x[i];
    }
    if (d->ocsp_cert == NULL) {
        tls_why(err, errlen, "%s: the OCSP response is for none of the "
                "site's certificates (no serial number matches)",
                t->ocsp_staple);
        goto out;
    }
    status = OCSP_single_get0_status(one, &reason, &rev, &thisupd, &nextupd);
    if (status != V_OCSP_CERTSTATUS_GOOD) {
        tls_why(err, errlen, "%s: the OCSP response says the certificate "
                "is %s", t->ocsp_staple, OCSP_cert_status_str(status));
        goto out;
    }
    if (nextupd != NULL && X509_cmp_current_time(nextupd) <= 0) {
        tls_why(err, errlen, "%s: the OCSP response expired on %s (its "
                "nextUpdate)", t->ocsp_staple,
                tls_time(nextupd, when, sizeof(when)));
        goto out;
    }
    rc = GH_OK;
out:
    ERR_clear_error();
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    if (rc != GH_OK) {
        free(d->ocsp);
        d->ocsp = NULL;
        d->ocsp_len = 0;
        d->ocsp_cert = NULL;
    }
    return rc;
}

/* Staple the response when the client asks and it is for the certificate
 * chosen for this connection. */
static int
tls_status_cb(SSL *ssl, void *arg)
{
    const struct tls_ctx_data *d = arg;
    unsigned char *copy;

    if (d == NULL || d->ocsp == NULL
        || SSL_get_certificate(ssl) != d->ocsp_cert)
        return SSL_TLSEXT_ERR_NOACK;
    copy = OPENSSL_memdup(d->ocsp, d->ocsp_len);   /* OpenSSL frees it */
    if (copy == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long) d->ocsp_len)
        != 1) {
        OPENSSL_free(copy);
        return SSL_TLSEXT_ERR_NOACK;
    }
    return SSL_TLSEXT_ERR_OK;
}

/* ALPN: our first protocol the client offers; none in common: no ALPN
 * (RFC 7301 3.2 lets a server go on without), and HTTP/1.1 is spoken. */
static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
            const unsigned char *in, unsigned int inlen, void *arg)
{
    const unsigned char *ours = arg;
    unsigned char *sel = NULL;

    if (ours == NULL || inlen == 0)
        return SSL_TLSEXT_ERR_NOACK;
    if (SSL_select_next_proto(&sel, outlen, ours, (unsigned) ours[0] + 1,
                              in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static int tls_client_hello_cb(SSL *ssl, int *al, void *arg);

int
gh_tls_build(struct gh_site *site, struct gh_tls_where *w, char *err,
             size_t errlen)
{
    struct gh_tls *t = site->tls;
    struct tls_ctx_data *d;
    unsigned char sid[32];
    char why[256];
    SSL_CTX *ctx;
    X509 **x = NULL;
    int *types = NULL;
    uint64_t opts;

    w->key = "certificates";
    w->cert = -1;
    t->ctx = NULL;
    ERR_clear_error();
    if (tls_init() != GH_OK || tls_context(site, sid) != GH_OK) {
        tls_why(err, errlen, "cannot set up OpenSSL: %s",
                tls_reason(why, sizeof(why)));
        return GH_ERR;
    }
    ctx = SSL_CTX_new(TLS_server_method());
    d = calloc(1, sizeof(*d));
    x = calloc(t->ncerts, sizeof(*x));
    types = calloc(t->ncerts, sizeof(*types));
    if (ctx == NULL || d == NULL || x == NULL || types == NULL
        || SSL_CTX_set_ex_data(ctx, tls_idx_data, d) != 1) {
        tls_why(err, errlen, "cannot make an SSL_CTX: %s",
                tls_reason(why, sizeof(why)));
        free(d);
        goto fail;
    }
    d->t = t;                   /* d is the context's from here on */

    /* Server preference (with ChaCha20 first for clients that put it
     * first: phones without AES instructions); no compression (CRIME);
     * no renegotiation (a client-driven CPU cost, and the 2009 prefix
     * attack); an EOF without close_notify is a plain end of stream: HTTP
     * framing, not TLS, tells whether a request was complete. */
    opts = SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA
           | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
           | SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (!t->session_tickets)
        opts |= SSL_OP_NO_TICKET;
    SSL_CTX_set_options(ctx, opts);
    /* Idle connections give their buffers back (34k each otherwise);
     * writes may be partial, and retried from a moved buffer. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS
                          | SSL_MODE_ENABLE_PARTIAL_WRITE
                          | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
    w->key = "protocols";
    if (SSL_CTX_set_min_proto_version(ctx, (t->protocols & GH_TLS_V12)
                                           ? TLS1_2_VERSION
                                           : TLS1_3_VERSION) != 1
        || SSL_CTX_set_max_proto_version(ctx, (t->protocols & GH_TLS_V13)
                                              ? TLS1_3_VERSION
                                              : TLS1_2_VERSION) != 1) {
        tls_why(err, errlen, "%s", tls_reason(why, sizeof(why)));
        goto fail;
    }
    /* Sessions: the shared cache only (gh_tls_worker_init() attaches it;
     * without, none); a context for each site. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER
                                        | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_set_timeout(ctx, (long) (t->session_timeout / 1000));
    w->key = "certificates";
    if (SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid)) != 1) {
        tls_why(err, errlen, "%s", tls_reason(why, sizeof(why)));
        goto fail;
    }
    (void) SSL_CTX_set_dh_auto(ctx, 1);     /* DHE only if listed */
    SSL_CTX_set_client_hello_cb(ctx, tls_client_hello_cb, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb,
                               (void *) (uintptr_t) tls_alpn_http11);

    for (uint32_t i = 0; i < t->ncerts; i++) {
        if (tls_load_cert(ctx, t, i, types, x, w, err, errlen) != GH_OK)
            goto fail;
    }
    w->cert = -1;
    if (tls_set_suites(ctx, t, w, err, errlen) != GH_OK
        || tls_set_ciphers(ctx, t, w, err, errlen) != GH_OK
        || tls_set_groups(ctx, t, w, err, errlen) != GH_OK
        || tls_set_verify(ctx, t, w, err, errlen) != GH_OK
        || tls_load_ocsp(d, t, x, w, err, errlen) != GH_OK)
        goto fail;
    if (d->ocsp != NULL) {
        SSL_CTX_set_tlsext_status_cb(ctx, tls_status_cb);
        SSL_CTX_set_tlsext_status_arg(ctx, d);
    }
    free(x);
    free(types);
    ERR_clear_error();
    t->ctx = ctx;
    return GH_OK;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);          /* and d, through its ex_data */
    free(x);
    free(types);
    return GH_ERR;
}

void
gh_tls_release(struct gh_tls *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    t->ctx = NULL;
}

/* ---- shared state ------------------------------------------------------ */

/*
 * The master's memory of which cache each site had, so a reload keeps the
 * sessions: keyed by site name and first listen address (what the
 * session ID context hashes), for one segment.
 */
struct tls_reg {
    char                     *id;       /* owns: "name\naddr" */
    const struct gh_shm_hdr  *seg;      /* the segment the root is in */
    uint64_t                  root;
};

static struct tls_reg *tls_reg;         /* owns */
static size_t tls_nreg;

static uint64_t *
tls_reg_find(const struct gh_site *site, const struct gh_shm *shm)
{
    const char *addr = site->nlisten > 0 ? site->listen[0].addr.text : "";
    size_t nl = strlen(site->name), al = strlen(addr);
    struct tls_reg *r;
    char *id;

    for (size_t i = 0; i < tls_nreg; i++) {
        r = &tls_reg[i];
        if (r->seg == shm->hdr && strncmp(r->id, site->name, nl) == 0
            && r->id[nl] == '\n' && strcmp(r->id + nl + 1, addr) == 0)
            return &r->root;
    }
    r = realloc(tls_reg, (tls_nreg + 1) * sizeof(*r));
    if (r == NULL)
        return NULL;
    tls_reg = r;
    id = malloc(nl + al + 2);
    if (id == NULL)
        return NULL;
    memcpy(id, site->name, nl);
    id[nl] = '\n';
    memcpy(id + nl + 1, addr, al + 1);
    r = &tls_reg[tls_nreg++];
    r->id = id;
    r->seg = shm->hdr;
    r->root = 0;
    return &r->root;
}

int
gh_tls_shm_bind(struct gh_conf *conf, struct gh_shm *shm,
                uint64_t *keys_root, char *err, size_t errlen)
{
    char why[256];
    int any = 0;

    for (uint32_t i = 0; i < conf->nsites; i++) {
        struct gh_site *site = &conf->sites[i];
        struct gh_tls *t = site->tls;
        uint64_t *root;

        if (t == NULL)
            continue;
        any = 1;
        t->cache_root = 0;
        if (t->session_cache == 0)
            continue;
        root = tls_reg_find(site, shm);
        if (root == NULL) {
            tls_why(err, errlen, "site \"%s\": out of memory", site->name);
            return GH_ERR;
        }
        if (gh_tlscache_create(shm, (size_t) t->session_cache,
                               (uint32_t) (t->session_timeout / 1000), root,
                               why, sizeof(why)) != GH_OK) {
            tls_why(err, errlen, "site \"%s\": %s", site->name, why);
            return GH_ERR;
        }
        t->cache_root = *root;
    }
    if (!any)
        return GH_OK;
    if (gh_tlskeys_create(shm, keys_root, why, sizeof(why)) != GH_OK) {
        tls_why(err, errlen, "%s", why);
        return GH_ERR;
    }
    for (uint32_t i = 0; i < conf->nsites; i++) {
        if (conf->sites[i].tls != NULL)
            conf->sites[i].tls->keys_root = *keys_root;
    }
    return GH_OK;
}

int
gh_tls_worker_init(const struct gh_conf *conf, struct gh_shm *shm,
                   uint64_t keys_root)
{
    unsigned char sid[32];
    int rc = GH_OK;

    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_site *site = &conf->sites[i];
        const struct gh_tls *t = site->tls;

        if (t == NULL || t->ctx == NULL)
            continue;
        if (tls_context(site, sid) != GH_OK) {
            rc = GH_ERR;
            continue;
        }
        if (t->cache_root != 0
            && gh_tlscache_attach(t->ctx, shm, t->cache_root, sid,
                                  sizeof(sid)) != GH_OK)
            rc = GH_ERR;
        /* Every context, tickets on or not: the ticket callback OpenSSL
         * calls is the one of the context a connection started on, which
         * may be another site's (SSL_OP_NO_TICKET, per site, decides). */
        if (keys_root != 0
            && gh_tlskeys_attach(t->ctx, shm, keys_root, sid, sizeof(sid))
               != GH_OK)
            rc = GH_ERR;
    }
    ERR_clear_error();
    return rc;
}

int
gh_tls_rotate(struct gh_shm *shm, uint64_t keys_root)
{
    if (keys_root == 0)
        return GH_DECLINED;
    return gh_tlskeys_rotate(shm, keys_root);
}

gh_msec
gh_tls_rotation(const struct gh_conf *conf)
{
    gh_msec min = 0;

    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_tls *t = conf->sites[i].tls;

        if (t != NULL && t->session_tickets
            && (min == 0 || t->ticket_rotation < min))
            min = t->ticket_rotation;
    }
    return min;
}

/* ---- connections ------------------------------------------------------- */

int
gh_tls_listener(const struct gh_listener *l)
{
    return l != NULL && l->nsites > 0 && l->sites[0]->tls != NULL;
}

/*
 * Put SSL on SITE's context.  SSL_new() copied these from the first
 * context; the rest follows ssl->ctx by itself.
 */
static int
tls_switch(SSL *ssl, const struct gh_site *site)
{
    SSL_CTX *ctx = site->tls->ctx;

    if (SSL_set_ex_data(ssl, tls_idx_site, (void *) (uintptr_t) site) != 1)
        return GH_ERR;
    if (SSL_get_SSL_CTX(ssl) == ctx)
        return GH_OK;
    if (SSL_set_SSL_CTX(ssl, ctx) != ctx)
        return GH_ERR;
    SSL_clear_options(ssl, SSL_get_options(ssl));
    SSL_set_options(ssl, SSL_CTX_get_options(ctx));
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx),
                   SSL_CTX_get_verify_callback(ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    if (SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx))
        != 1
        || SSL_set_max_proto_version(ssl,
                                     SSL_CTX_get_max_proto_version(ctx)) != 1
        || SSL_set_num_tickets(ssl, SSL_CTX_get_num_tickets(ctx)) != 1
        || SSL_set1_groups_list(ssl, site->tls->groups) != 1)
        return GH_ERR;
    /* The ciphers, TLS 1.2 and 1.3 alike, are read from ssl->ctx's list
     * (SSL_get_ciphers(): the SSL has none of its own). */
    return GH_OK;
}

/*
 * The server_name of the ClientHello (RFC 6066 3), parsed here because
 * OpenSSL has not done it yet: this runs first, so that the session
 * lookup and everything after use the chosen site's context.  Returns the
 * name's length (0: none), or -1 for a malformed extension.
 */
static int
tls_sni(SSL *ssl, char *name, size_t size)
{
    const unsigned char *p;
    size_t len, list, n;

    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len)
        != 1)
        return 0;
    if (len < 2)
        return -1;
    list = (size_t) p[0] << 8 | p[1];
    if (list + 2 != len || list < 3)
        return -1;
    p += 2;
    /* Only host_name exists; one entry (RFC 6066 forbids more). */
    if (p[0] != TLSEXT_NAMETYPE_host_name)
        return 0;
    n = (size_t) p[1] << 8 | p[2];
    if (n + 3 > list || n == 0 || n > TLS_SNI_MAX || n >= size
        || memchr(p + 3, '\0', n) != NULL)
        return -1;
    memcpy(name, p + 3, n);
    name[n] = '\0';
    return (int) n;
}

static int
tls_client_hello_cb(SSL *ssl, int *al, void *arg)
{
    const struct gh_listener *l;
    const struct gh_site *site;
    char name[TLS_SNI_MAX + 1];
    int n;

    if (tls_idx_listener < 0
        || (l = SSL_get_ex_data(ssl, tls_idx_listener)) == NULL)
        return SSL_CLIENT_HELLO_SUCCESS;    /* not one of gh_tls_new()'s */
    /* The second ClientHello after a HelloRetryRequest must name the same
     * server (RFC 8446 4.1.2): the first choice stands. */
    if (SSL_get_ex_data(ssl, tls_idx_hello) != NULL)
        return SSL_CLIENT_HELLO_SUCCESS;
    n = tls_sni(ssl, name, sizeof(name));
    if (n < 0) {
        *al = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    site = gh_route_site(l->sites, l->nsites, n > 0 ? name : NULL,
                         (size_t) n);
    if (site == NULL || site->tls == NULL || tls_switch(ssl, site) != GH_OK
        || SSL_set_ex_data(ssl, tls_idx_hello, (void *) (uintptr_t) 1)
           != 1) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

SSL *
gh_tls_new(const struct gh_listener *l, int fd)
{
    const struct gh_site *def, *first = NULL;
    SSL *ssl;

    if (!gh_tls_listener(l) || tls_init() != GH_OK)
        return NULL;
    def = gh_route_site(l->sites, l->nsites, NULL, 0);
    if (def == NULL || def->tls == NULL || def->tls->ctx == NULL)
        return NULL;
    /* The context OpenSSL takes the session cache callbacks and the
     * session lifetime from: a site with a shared cache if any, so a
     * cacheless default site does not turn the others' caches off. */
    for (uint32_t i = 0; i < l->nsites && first == NULL; i++) {
        if (l->sites[i]->tls != NULL && l->sites[i]->tls->cache_root != 0
            && l->sites[i]->tls->ctx != NULL)
            first = l->sites[i];
    }
    if (first == NULL)
        first = def;
    ssl = SSL_new(first->tls->ctx);
    if (ssl == NULL)
        return NULL;
    if (SSL_set_ex_data(ssl, tls_idx_listener, (void *) (uintptr_t) l) != 1
        || tls_switch(ssl, def) != GH_OK || SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

void
gh_tls_free(SSL *ssl)
{
    if (ssl == NULL)
        return;
    /* Keep the session resumable whatever way the connection ended
     * (nginx's ngx_ssl_shutdown() does the same). */
    SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl);
}

const struct gh_site *
gh_tls_site(const SSL *ssl)
{
    if (ssl == NULL || tls_idx_site < 0)
        return NULL;
    return SSL_get_ex_data(ssl, tls_idx_site);
}

/* ---- for logs and headers ---------------------------------------------- */

static const char *
tls_version_name(int v)
{
    switch (v) {
    case SSL3_VERSION:
        return "SSLv3";
    case TLS1_VERSION:
        return "TLSv1";
    case TLS1_1_VERSION:
        return "TLSv1.1";
    case TLS1_2_VERSION:
        return "TLSv1.2";
    case TLS1_3_VERSION:
        return "TLSv1.3";
    default:
        return v < SSL3_VERSION ? "SSLv2 or older" : "unknown";
    }
}

const char *
gh_tls_error(SSL *ssl, int ret, char *buf, size_t len)
{
    int saved = errno, e = ssl != NULL ? SSL_get_error(ssl, ret)
                                       : SSL_ERROR_SSL;
    unsigned long code = ERR_peek_error();
    int in_init = ssl != NULL && SSL_in_init(ssl);
    const char *r;
    long v;

    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        (void) snprintf(buf, len, "would block");
        break;
    case SSL_ERROR_ZERO_RETURN:
        (void) snprintf(buf, len, "client closed the connection%s",
                        in_init ? " during the handshake" : "");
        break;
    case SSL_ERROR_SYSCALL:
        if (code == 0 && saved != 0)
            (void) snprintf(buf, len, "%s", strerror(saved));
        else if (code == 0)
            (void) snprintf(buf, len, "client closed the connection%s",
                            in_init ? " during the handshake" : "");
        else
            (void) tls_reason(buf, len);
        break;
    case SSL_ERROR_SSL:
        if (code == 0) {
            (void) snprintf(buf, len, "TLS error");
            break;
        }
        if (ERR_GET_LIB(code) != ERR_LIB_SSL || ssl == NULL) {
            (void) tls_reason(buf, len);
            break;
        }
        switch (ERR_GET_REASON(code)) {
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_VERSION_TOO_LOW:
            (void) snprintf(buf, len, "no protocol version in common (the "
                            "client offers up to %s)",
                            tls_version_name(SSL_client_version(ssl)));
            break;
        case SSL_R_NO_SHARED_CIPHER:
            (void) snprintf(buf, len, "no cipher in common with the client");
            break;
        case SSL_R_NO_SHARED_GROUPS:
        case SSL_R_NO_SUITABLE_KEY_SHARE:
            (void) snprintf(buf, len, "no key exchange group in common with "
                            "the client");
            break;
        case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
        case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
            (void) snprintf(buf, len, "no signature algorithm in common "
                            "with the client (for our certificate types)");
            break;
        case SSL_R_HTTP_REQUEST:
            (void) snprintf(buf, len, "plain HTTP request on a TLS "
                            "address");
            break;
        case SSL_R_HTTPS_PROXY_REQUEST:
            (void) snprintf(buf, len, "HTTP proxy CONNECT request on a TLS "
                            "address");
            break;
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_UNKNOWN_PROTOCOL:
        case SSL_R_PACKET_LENGTH_TOO_LONG:
            (void) snprintf(buf, len, "not a TLS handshake (%s)",
                            ERR_reason_error_string(code));
            break;
        case SSL_R_UNEXPECTED_EOF_WHILE_READING:
            (void) snprintf(buf, len, "client closed the connection%s",
                            in_init ? " during the handshake" : "");
            break;
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
            (void) snprintf(buf, len, "client sent no certificate "
                            "(verify_client is \"on\")");
            break;
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            v = SSL_get_verify_result(ssl);
            (void) snprintf(buf, len, "client certificate: %s",
                            X509_verify_cert_error_string(v));
            break;
        case SSL_R_CLIENTHELLO_TLSEXT:
        case SSL_R_CALLBACK_FAILED:
            (void) snprintf(buf, len, "bad ClientHello (%s)",
                            ERR_reason_error_string(code));
            break;
        default:
            r = ERR_reason_error_string(code);
            if (ERR_GET_REASON(code) >= SSL_AD_REASON_OFFSET && r != NULL) {
                /* "tlsv1 alert unknown ca": the client refused us. */
                const char *a = strstr(r, "alert ");

                (void) snprintf(buf, len, "client sent the alert \"%s\"",
                                a != NULL ? a + 6 : r);
            } else {
                (void) snprintf(buf, len, "%s", r != NULL ? r : "TLS error");
            }
            break;
        }
        break;
    default:
        (void) snprintf(buf, len, "TLS error %d", e);
        break;
    }
    ERR_clear_error();
    errno = saved;
    return buf;
}

/* Copy S into BUF, control and non-ASCII bytes as '?': a header value. */
static const char *
tls_clean(const char *s, size_t n, char *buf, size_t len)
{
    size_t i;

    if (len == 0)
        return "";
    for (i = 0; i < n && i + 1 < len; i++) {
        unsigned char c = (unsigned char) s[i];

        buf[i] = c < 0x20 || c >= 0x7f || c == '"' ? '?' : (char) c;
    }
    buf[i] = '\0';
    return buf;
}

const char *
gh_tls_client_verify(const SSL *ssl, char *buf, size_t len)
{
    long v;

    if (ssl == NULL || SSL_get0_peer_certificate(ssl) == NULL)
        return "NONE";
    v = SSL_get_verify_result(ssl);
    if (v == X509_V_OK)
        return "SUCCESS";
    (void) snprintf(buf, len, "FAILED:%s", X509_verify_cert_error_string(v));
    return tls_clean(buf, strlen(buf), buf, len);
}

const char *
gh_tls_client_subject(const SSL *ssl, char *buf, size_t len)
{
    X509 *x = ssl != NULL ? SSL_get0_peer_certificate(ssl) : NULL;
    BIO *b;
    char *p;
    long n;

    if (x == NULL || len == 0)
        return NULL;
    b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return NULL;
    /* RFC 2253 escapes control and non-ASCII bytes itself; tls_clean()
     * is the second belt. */
    if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
                           XN_FLAG_RFC2253) < 0
        || (n = BIO_get_mem_data(b, &p)) < 0) {
        BIO_free(b);
        ERR_clear_error();
        return NULL;
    }
    (void) tls_clean(p, (size_t) n, buf, len);
    BIO_free(b);
    return buf;
}

const char *
gh_tls_protocol(const SSL *ssl)
{
    return ssl != NULL ? SSL_get_version(ssl) : "";
}

const char *
gh_tls_cipher(const SSL *ssl)
{
    const SSL_CIPHER *c = ssl != NULL ? SSL_get_current_cipher(ssl) : NULL;

    return c != NULL ? SSL_CIPHER_get_name(c) : "";
}

const char *
gh_tls_servername(const SSL *ssl)
{
    return ssl != NULL ? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)
                       : NULL;
}

const char *
gh_tls_alpn(const SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;

    if (ssl == NULL)
        return NULL;
    SSL_get0_alpn_selected(ssl, &p, &n);
    if (p == NULL || n == 0)
        return NULL;
    /* Only ours can be selected: compare, and return our static text. */
    if (n == tls_alpn_http11[0] && memcmp(p, tls_alpn_http11 + 1, n) == 0)
        return "http/1.1";
    return NULL;
}

int
gh_tls_resumed(const SSL *ssl)
{
    return ssl != NULL && SSL_session_reused(ssl) == 1;
}


/* ---- TLS to backends ---------------------------------------------------- */

static int tls_idx_up_sess = -1;    /* SSL: SSL_SESSION ** (the slot) */
static pthread_once_t tls_up_once = PTHREAD_ONCE_INIT;

static void
tls_up_init_index(void)
{
    tls_idx_up_sess = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* A session from a backend: keep the newest in the server's slot. */
static int
tls_up_new_session(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION **slot = SSL_get_ex_data(ssl, tls_idx_up_sess);

    if (slot == NULL)
        return 0;           /* OpenSSL frees it */
    if (*slot != NULL)
        SSL_SESSION_free(*slot);
    *slot = sess;
    return 1;               /* ours now */
}

SSL_CTX *
gh_tls_up_ctx(const struct gh_up_tls *t, const char **key, char *why,
              size_t whylen)
{
    SSL_CTX *ctx;
    unsigned long e;

    *key = NULL;
    if (pthread_once(&tls_up_once, tls_up_init_index) != 0
        || tls_idx_up_sess < 0) {
        snprintf(why, whylen, "OpenSSL: no ex_data index");
        return NULL;
    }
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(why, whylen, "OpenSSL: cannot make a context");
        return NULL;
    }
    (void) SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION
                        | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS
                     | SSL_MODE_ENABLE_PARTIAL_WRITE
                     | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT
                                   | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, tls_up_new_session);
    if (t->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (t->ca != NULL
            ? SSL_CTX_load_verify_locations(ctx, t->ca, NULL) != 1
            : SSL_CTX_set_default_verify_paths(ctx) != 1) {
            *key = t->ca != NULL ? "ca" : NULL;
            goto fail;
        }
    }
    if (t->cert != NULL) {
        *key = "cert";
        if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1)
            goto fail;
        *key = "key";
        if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1
            || SSL_CTX_check_private_key(ctx) != 1)
            goto fail;
    }
    return ctx;
fail:
    e = ERR_peek_last_error();
    snprintf(why, whylen, "%s: %s", *key != NULL && strcmp(*key, "ca") == 0
             ? t->ca : *key != NULL && strcmp(*key, "cert") == 0 ? t->cert
             : *key != NULL ? t->key : "CA paths",
             e != 0 ? ERR_reason_error_string(e) : "failed");
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

SSL *
gh_tls_up_new(const struct gh_up_tls *t, const char *addr, int fd,
              SSL_SESSION **sess)
{
    SSL *ssl = SSL_new(t->ctx);
    char ip[64];
    const char *colon;

    if (ssl == NULL)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1
        || SSL_set_ex_data(ssl, tls_idx_up_sess, sess) != 1)
        goto fail;
    SSL_set_connect_state(ssl);
    if (t->sni != NULL) {
        if (SSL_set_tlsext_host_name(ssl, t->sni) != 1
            || (t->verify && SSL_set1_host(ssl, t->sni) != 1))
            goto fail;
    } else if (t->verify) {
        /* No name: the certificate must be for the address we dialled. */
        colon = addr[0] == '[' ? strchr(addr, ']') : strrchr(addr, ':');
        snprintf(ip, sizeof(ip), "%.*s", colon ? (int) (colon - addr
                 - (addr[0] == '[')) : (int) strlen(addr),
                 addr + (addr[0] == '['));
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), ip) != 1)
            goto fail;
    }
    if (sess != NULL && *sess != NULL)
        (void) SSL_set_session(ssl, *sess);
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}
