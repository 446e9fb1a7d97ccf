/*
 * worker/tls.c: contexts built from a config (gh_conf_load), then real
 * handshakes in memory: an OpenSSL client on one end of a socketpair, a
 * gh_tls_new() server on the other, both non-blocking, driven in turn.
 * SNI picks the site (exact, wildcard, fallback) and with it the
 * certificate, protocols, suites and client verification; RSA and ECDSA
 * certificates of one site go to the clients that can use them; ALPN,
 * OCSP stapling, error reasons; shared resumption through the segment.
 *
 * Keys and certificates are made at run time under a mkdtemp() directory
 * (removed at the end): none is ever committed.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf/conf.h"
#include "shm/shm.h"
#include "shm/slab.h"
#include "shm/tlscache.h"
#include "tests/unit/tap.h"
#include "worker/listen.h"
#include "worker/tls.h"

#define DAY (24L * 3600)

static char dir[64];

static const char *
path(const char *name)
{
    static char buf[4][256];
    static int k;

    k = (k + 1) % 4;
    (void) snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

static void
put(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(path(name), "w");

    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        diag("cannot write %s", path(name));
        exit(1);
    }
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* ---- keys and certificates ---------------------------------------------- */

static long serial = 1000;

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (e == NULL || X509_add_ext(x, e, -1) != 1) {
        diag("extension %d: failed", nid);
        exit(1);
    }
    X509_EXTENSION_free(e);
}

/*
 * A certificate for KEY named CN (and O when given), valid from FROM to TO
 * seconds from now, signed by IKEY as ISSUER (NULL: self-signed).  CA
 * makes it a CA.
 */
static X509 *
mkcert(EVP_PKEY *key, const char *cn, const char *o, long from, long to,
       X509 *issuer, EVP_PKEY *ikey, int ca)
{
    X509 *x = X509_new();
    X509_NAME *n;
    char san[300];

    if (x == NULL)
        exit(1);
    (void) X509_set_version(x, 2);
    (void) ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    (void) X509_gmtime_adj(X509_getm_notBefore(x), from);
    (void) X509_gmtime_adj(X509_getm_notAfter(x), to);
    (void) X509_set_pubkey(x, key);
    n = X509_get_subject_name(x);
    if (o != NULL)
        (void) X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
                                          (const unsigned char *) o, -1, -1,
                                          0);
    (void) X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                      (const unsigned char *) cn, -1, -1, 0);
    (void) X509_set_issuer_name(x, issuer != NULL
                                   ? X509_get_subject_name(issuer) : n);
    if (ca) {
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        (void) snprintf(san, sizeof(san), "DNS:%s", cn);
        add_ext(x, issuer, NID_subject_alt_name, san);
    }
    if (X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) == 0) {
        diag("X509_sign failed");
        exit(1);
    }
    return x;
}

static void
put_cert(const char *name, X509 *x)
{
    FILE *f = fopen(path(name), "w");

    if (f == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
        exit(1);
}

static void
put_key(const char *name, EVP_PKEY *k)
{
    FILE *f = fopen(path(name), "w");

    if (f == NULL
        || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1
        || fclose(f) != 0)
        exit(1);
}

/* A DER OCSP response saying STATUS for CERT, signed by ISSUER. */
static void
put_ocsp(const char *name, X509 *cert, X509 *issuer, EVP_PKEY *ikey,
         int status)
{
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    ASN1_TIME *thisupd = X509_gmtime_adj(NULL, -3600);
    ASN1_TIME *nextupd = X509_gmtime_adj(NULL, 7 * DAY);
    OCSP_RESPONSE *r;
    unsigned char *der = NULL;
    int len;

    if (id == NULL || bs == NULL
        || OCSP_basic_add1_status(bs, id, status, 0, NULL, thisupd,
                                  nextupd) == NULL
        || OCSP_basic_sign(bs, issuer, ikey, EVP_sha256(), NULL, 0) != 1
        || (r = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs))
           == NULL
        || (len = i2d_OCSP_RESPONSE(r, &der)) <= 0) {
        diag("OCSP response: failed");
        exit(1);
    }
    put(name, der, (size_t) len);
    OPENSSL_free(der);
    OCSP_RESPONSE_free(r);
    OCSP_BASICRESP_free(bs);
    OCSP_CERTID_free(id);
    ASN1_TIME_free(thisupd);
    ASN1_TIME_free(nextupd);
}

static EVP_PKEY *ec_key(void) { return EVP_EC_gen("P-256"); }

/* NAME.pem / NAME.key: a self-signed EC certificate for CN. */
static X509 *
make_site_cert(const char *name, const char *cn, EVP_PKEY **keyp)
{
    char f[64];
    EVP_PKEY *k = ec_key();
    X509 *x = mkcert(k, cn, NULL, -DAY, 30 * DAY, NULL, NULL, 0);

    (void) snprintf(f, sizeof(f), "%s.pem", name);
    put_cert(f, x);
    (void) snprintf(f, sizeof(f), "%s.key", name);
    put_key(f, k);
    if (keyp != NULL)
        *keyp = k;
    else
        EVP_PKEY_free(k);
    return x;
}

/* Client certificates: a CA, a client signed by it, and one that is not. */
static X509 *ca_cert, *alice_cert, *mallory_cert;
static EVP_PKEY *ca_key, *alice_key, *mallory_key;
static X509 *a_ec_cert;
static EVP_PKEY *a_ec_key;

static void
make_files(void)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    X509 *x;

    if (rsa == NULL)
        exit(1);
    x = mkcert(rsa, "a.test", NULL, -DAY, 30 * DAY, NULL, NULL, 0);
    put_cert("a-rsa.pem", x);
    put_key("a-rsa.key", rsa);
    X509_free(x);
    EVP_PKEY_free(rsa);
    a_ec_cert = make_site_cert("a-ec", "a.test", &a_ec_key);
    put_ocsp("a-ec.ocsp", a_ec_cert, a_ec_cert, a_ec_key,
             V_OCSP_CERTSTATUS_GOOD);
    X509_free(make_site_cert("b", "b.test", NULL));
    X509_free(make_site_cert("c", "c.test", NULL));
    X509_free(make_site_cert("o", "o.test", NULL));
    X509_free(make_site_cert("d", "d.test", NULL));
    X509_free(make_site_cert("p", "plain", NULL));

    ca_key = ec_key();
    ca_cert = mkcert(ca_key, "Test CA", "Example", -DAY, 30 * DAY, NULL,
                     NULL, 1);
    put_cert("ca.pem", ca_cert);
    alice_key = ec_key();
    alice_cert = mkcert(alice_key, "alice", "Example", -DAY, 30 * DAY,
                        ca_cert, ca_key, 0);
    mallory_key = ec_key();
    mallory_cert = mkcert(mallory_key, "mallory", NULL, -DAY, 30 * DAY,
                          NULL, NULL, 0);
}

/* ---- the configuration -------------------------------------------------- */

#define RET " routes = ( { path = \"/\"; return = { status = 204; }; } ); "

static const char conf_text[] =
    "shm_size = \"16M\";\n"
    "sites = (\n"
    "  { name = \"a\"; listen = \"127.0.0.1:8443\"; hosts = \"a.test\";\n"
    "    tls = { certificates = ( { cert = \"a-rsa.pem\"; key = \"a-rsa.key\"; "
    "},\n"
    "                             { cert = \"a-ec.pem\"; key = \"a-ec.key\"; "
    "} );\n"
    "            ocsp_staple = \"a-ec.ocsp\"; session_cache = \"64k\"; };\n"
    RET "},\n"
    "  { name = \"b\"; listen = \"127.0.0.1:8443\";"
    " hosts = [ \"b.test\", \"*.b.test\" ];\n"
    "    tls = { certificates = ( { cert = \"b.pem\"; key = \"b.key\"; } );\n"
    "            ciphersuites = \"TLS_CHACHA20_POLY1305_SHA256\";\n"
    "            ciphers = \"ECDHE+CHACHA20\"; session_cache = \"64k\";\n"
    "            ticket_rotation = \"2h\"; };\n"
    RET "},\n"
    "  { name = \"c\"; listen = \"127.0.0.1:8443\"; hosts = \"c.test\";\n"
    "    tls = { certificates = ( { cert = \"c.pem\"; key = \"c.key\"; } );\n"
    "            client_ca = \"ca.pem\"; verify_client = \"on\";"
    " session_cache = 0; };\n"
    RET "},\n"
    "  { name = \"o\"; listen = \"127.0.0.1:8443\"; hosts = \"o.test\";\n"
    "    tls = { certificates = ( { cert = \"o.pem\"; key = \"o.key\"; } );\n"
    "            client_ca = \"ca.pem\"; verify_client = \"optional\";"
    " session_cache = 0; };\n"
    RET "},\n"
    "  { name = \"d\"; listen = \"127.0.0.1:8443\"; hosts = \"d.test\";\n"
    "    tls = { certificates = ( { cert = \"d.pem\"; key = \"d.key\"; } );\n"
    "            protocols = \"TLSv1.3\"; session_tickets = false;"
    " session_cache = \"64k\"; ticket_rotation = \"1h\"; };\n"
    RET "},\n"
    "  { name = \"plain\"; listen = \"127.0.0.1:8080\";" RET "},\n"
    /* The first site of this address has no cache, the second has. */
    "  { name = \"e\"; listen = \"127.0.0.1:9443\"; hosts = \"e.test\";\n"
    "    tls = { certificates = ( { cert = \"d.pem\"; key = \"d.key\"; } );\n"
    "            session_cache = 0; };\n"
    RET "},\n"
    "  { name = \"f\"; listen = \"127.0.0.1:9443\"; hosts = \"f.test\";\n"
    "    tls = { certificates = ( { cert = \"d.pem\"; key = \"d.key\"; } );\n"
    "            session_cache = \"64k\"; };\n"
    RET "}\n"
    ");\n";

static struct gh_conf *conf;
static struct gh_listener *ls;
static uint32_t nls;
static const struct gh_listener *l_tls, *l_plain, *l_ef;

static void
load(void)
{
    char err[1024];

    put("t.conf", conf_text, strlen(conf_text));
    conf = gh_conf_load(path("t.conf"), err, sizeof(err));
    if (!ok(conf != NULL, "the config with five TLS sites loads")) {
        diag("%s", err);
        exit(1);
    }
    ls = gh_listen_build(conf, &nls, err, sizeof(err));
    if (!ok(ls != NULL && nls == 3, "three listeners")) {
        diag("%s", err);
        exit(1);
    }
    for (uint32_t i = 0; i < nls; i++) {
        if (strcmp(ls[i].addr.text, "127.0.0.1:8443") == 0)
            l_tls = &ls[i];
        else if (strcmp(ls[i].addr.text, "127.0.0.1:9443") == 0)
            l_ef = &ls[i];
        else
            l_plain = &ls[i];
    }
    ok(l_tls != NULL && l_tls->nsites == 5, "the TLS address has 5 sites");
}

/* ---- handshakes ------------------------------------------------------- */

struct hs {
    SSL  *c, *s;
    int   fd[2];
    int   c_ok, s_ok;           /* 1 done, -1 failed, 0 still going */
    char  why[256];             /* gh_tls_error() of a failed server */
    char  cwhy[256];            /* OpenSSL's reason on the client side */
};

static void
hs_free(struct hs *h)
{
    SSL_free(h->c);
    gh_tls_free(h->s);
    (void) close(h->fd[0]);
    (void) close(h->fd[1]);
    memset(h, 0, sizeof(*h));
}

static void
hs_step(SSL *ssl, int *state, char *why, size_t len, int server)
{
    int r, e;

    if (*state != 0)
        return;
    ERR_clear_error();
    r = SSL_do_handshake(ssl);
    if (r == 1) {
        *state = 1;
        return;
    }
    e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    *state = -1;
    if (server) {
        (void) gh_tls_error(ssl, r, why, len);
    } else {
        unsigned long c = ERR_peek_error();

        (void) snprintf(why, len, "%s", c != 0 && ERR_reason_error_string(c)
                        ? ERR_reason_error_string(c) : "error");
        ERR_clear_error();
    }
}

/*
 * A handshake against L by a client of CCTX sending SNI (NULL: none),
 * after TWEAK(client SSL) when given.  Returns 1 when both sides finished.
 */
static int
handshake(struct hs *h, const struct gh_listener *l, SSL_CTX *cctx,
          const char *sni, void (*tweak)(SSL *, void *), void *arg)
{
    memset(h, 0, sizeof(*h));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, h->fd) == -1) {
        diag("socketpair: %s", strerror(errno));
        exit(1);
    }
    h->s = gh_tls_new(l, h->fd[0]);
    h->c = SSL_new(cctx);
    if (h->s == NULL || h->c == NULL) {
        diag("gh_tls_new or SSL_new failed");
        exit(1);
    }
    (void) SSL_set_fd(h->c, h->fd[1]);
    SSL_set_connect_state(h->c);
    if (sni != NULL)
        (void) SSL_set_tlsext_host_name(h->c, sni);
    if (tweak != NULL)
        tweak(h->c, arg);
    for (int i = 0; i < 40; i++) {
        hs_step(h->c, &h->c_ok, h->cwhy, sizeof(h->cwhy), 0);
        hs_step(h->s, &h->s_ok, h->why, sizeof(h->why), 1);
        if (h->c_ok != 0 && h->s_ok != 0)
            break;
    }
    return h->c_ok == 1 && h->s_ok == 1;
}

/* The CN of the server's certificate as the client got it. */
static const char *
peer_cn(const struct hs *h)
{
    static char buf[128];
    X509 *x = SSL_get0_peer_certificate(h->c);

    if (x == NULL
        || X509_NAME_get_text_by_NID(X509_get_subject_name(x),
                                     NID_commonName, buf, sizeof(buf)) < 0)
        return "(none)";
    return buf;
}

static const char *
peer_type(const struct hs *h)
{
    X509 *x = SSL_get0_peer_certificate(h->c);
    EVP_PKEY *k = x != NULL ? X509_get0_pubkey(x) : NULL;

    if (k == NULL)
        return "(none)";
    return EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA ? "RSA"
           : EVP_PKEY_get_base_id(k) == EVP_PKEY_EC ? "EC" : "other";
}

static const char *
site_name(const struct hs *h)
{
    const struct gh_site *s = gh_tls_site(h->s);

    return s != NULL ? s->name : "(none)";
}

static SSL_CTX *
client_ctx(int min, int max)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());

    if (c == NULL
        || SSL_CTX_set_min_proto_version(c, min) != 1
        || SSL_CTX_set_max_proto_version(c, max) != 1)
        exit(1);
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    return c;
}

static void
tweak_sigalgs(SSL *c, void *arg)
{
    if (SSL_set1_sigalgs_list(c, arg) != 1)
        diag("sigalgs %s refused", (const char *) arg);
}

static void
tweak_ciphers(SSL *c, void *arg)
{
    if (SSL_set_cipher_list(c, arg) != 1)
        diag("ciphers %s refused", (const char *) arg);
}

static void
tweak_groups(SSL *c, void *arg)
{
    if (SSL_set1_groups_list(c, arg) != 1)
        diag("groups %s refused", (const char *) arg);
}

static void
tweak_alpn(SSL *c, void *arg)
{
    const unsigned char *p = arg;

    (void) SSL_set_alpn_protos(c, p + 1, p[0]);
}

static void
tweak_status(SSL *c, void *arg)
{
    (void) SSL_set_tlsext_status_type(c, TLSEXT_STATUSTYPE_ocsp);
}

static void
tweak_client_cert(SSL *c, void *arg)
{
    X509 *x = arg;

    if (SSL_use_certificate(c, x) != 1
        || SSL_use_PrivateKey(c, x == alice_cert ? alice_key
                                                 : mallory_key) != 1)
        diag("client certificate refused");
}

static void
tweak_session(SSL *c, void *arg)
{
    if (SSL_set_session(c, arg) != 1)
        diag("SSL_set_session refused");
}

/* ---- tests ------------------------------------------------------------- */

static void
test_listeners(void)
{
    ok(gh_tls_listener(l_tls), "127.0.0.1:8443 is a TLS address");
    ok(!gh_tls_listener(l_plain), "127.0.0.1:8080 is not");
    ok(gh_tls_new(l_plain, 0) == NULL, "no TLS on a plain listener");
    ok(conf->sites[5].tls == NULL, "the plain site has no tls");
    ok(gh_tls_listener(l_ef), "127.0.0.1:9443 is a TLS address");
    ok(conf->sites[0].tls != NULL && conf->sites[0].tls->ctx != NULL,
       "site a has an SSL_CTX");
    is_int(gh_tls_rotation(conf), 2 * 3600000,
           "rotation: b's 2h, the shortest of the sites with tickets (d's "
           "1h does not count: d has none)");
}

static void
test_sni(void)
{
    SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
    struct hs h;
    static const struct { const char *sni, *site, *cn; } cases[] = {
        { "a.test", "a", "a.test" },
        { "b.test", "b", "b.test" },
        { "B.Test", "b", "b.test" },
        { "x.b.test", "b", "b.test" },
        { "o.test", "o", "o.test" },
        { "unknown.test", "a", "a.test" },
        { NULL, "a", "a.test" },
    };

    for (size_t i = 0; i < GH_NELEM(cases); i++) {
        const char *n = cases[i].sni != NULL ? cases[i].sni : "(no SNI)";

        if (!ok(handshake(&h, l_tls, c, cases[i].sni, NULL, NULL),
                "%s: handshake", n))
            diag("server: %s; client: %s", h.why, h.cwhy);
        is_str(site_name(&h), cases[i].site, "%s: site %s", n,
               cases[i].site);
        is_str(peer_cn(&h), cases[i].cn, "%s: certificate of %s", n,
               cases[i].cn);
        is_str(gh_tls_protocol(h.s), "TLSv1.3", "%s: TLSv1.3", n);
        if (cases[i].sni != NULL)
            is_str(gh_tls_servername(h.s), cases[i].sni,
                   "%s: the server name as sent", n);
        else
            ok(gh_tls_servername(h.s) == NULL, "no SNI: no server name");
        hs_free(&h);
    }
    /* A key share for P-521, which no site takes: a HelloRetryRequest,
     * then a second ClientHello, for the site of the first. */
    ok(handshake(&h, l_tls, c, "b.test", tweak_groups, "P-521:P-256"),
       "b.test after a HelloRetryRequest: handshake");
    is_str(site_name(&h), "b", "... site b");
    is_str(peer_cn(&h), "b.test", "... b's certificate");
    is_int(SSL_get_negotiated_group(h.s), NID_X9_62_prime256v1,
           "... on P-256");
    hs_free(&h);
    SSL_CTX_free(c);
}

static void
test_key_types(void)
{
    SSL_CTX *c13 = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *c12 = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    struct hs h;

    ok(handshake(&h, l_tls, c13, "a.test", tweak_sigalgs,
                 "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"),
       "TLS 1.3, RSA signatures only: handshake");
    is_str(peer_type(&h), "RSA", "... gets the RSA certificate");
    hs_free(&h);
    ok(handshake(&h, l_tls, c13, "a.test", tweak_sigalgs,
                 "ecdsa_secp256r1_sha256"),
       "TLS 1.3, ECDSA signatures only: handshake");
    is_str(peer_type(&h), "EC", "... gets the ECDSA certificate");
    hs_free(&h);
    ok(handshake(&h, l_tls, c12, "a.test", tweak_ciphers, "aRSA"),
       "TLS 1.2, aRSA ciphers only: handshake");
    is_str(peer_type(&h), "RSA", "... gets the RSA certificate");
    is_str(gh_tls_protocol(h.s), "TLSv1.2", "... over TLSv1.2");
    hs_free(&h);
    ok(handshake(&h, l_tls, c12, "a.test", tweak_ciphers, "aECDSA"),
       "TLS 1.2, aECDSA ciphers only: handshake");
    is_str(peer_type(&h), "EC", "... gets the ECDSA certificate");
    hs_free(&h);
    ok(!handshake(&h, l_tls, c13, "b.test", tweak_sigalgs,
                  "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"),
       "RSA only against an ECDSA-only site: refused");
    is_str(h.why, "no signature algorithm in common with the client (for "
           "our certificate types)", "... and the log says why");
    hs_free(&h);
    SSL_CTX_free(c13);
    SSL_CTX_free(c12);
}

static void
test_protocols_and_suites(void)
{
    SSL_CTX *c11 = client_ctx(TLS1_1_VERSION, TLS1_1_VERSION);
    SSL_CTX *c12 = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *c13 = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);
    struct hs h;

    /* The client must be allowed to speak TLS 1.1 at all. */
    SSL_CTX_set_security_level(c11, 0);
    (void) SSL_CTX_set_cipher_list(c11, "DEFAULT:@SECLEVEL=0");
    ok(!handshake(&h, l_tls, c11, "a.test", NULL, NULL),
       "a TLSv1.1-only client is refused");
    is_str(h.why, "no protocol version in common (the client offers up to "
           "TLSv1.1)", "... with the reason for the log");
    hs_free(&h);

    ok(handshake(&h, l_tls, c12, "a.test", NULL, NULL),
       "TLSv1.2 to a: handshake");
    is_str(gh_tls_cipher(h.s), "ECDHE-ECDSA-AES256-GCM-SHA384",
           "... server preference: AES-256-GCM, ECDSA first");
    hs_free(&h);
    ok(!handshake(&h, l_tls, c12, "d.test", NULL, NULL),
       "TLSv1.2 to d (TLSv1.3 only): refused after the SNI switch");
    is_str(h.why, "no protocol version in common (the client offers up to "
           "TLSv1.2)", "... protocol version");
    hs_free(&h);
    ok(handshake(&h, l_tls, c13, "d.test", NULL, NULL),
       "TLSv1.3 to d: handshake");
    hs_free(&h);

    ok(handshake(&h, l_tls, c13, "a.test", NULL, NULL), "TLSv1.3 to a");
    is_str(gh_tls_cipher(h.s), "TLS_AES_256_GCM_SHA384",
           "... OpenSSL's suites, server preference");
    hs_free(&h);
    ok(handshake(&h, l_tls, c13, "b.test", NULL, NULL), "TLSv1.3 to b");
    is_str(gh_tls_cipher(h.s), "TLS_CHACHA20_POLY1305_SHA256",
           "... b's own ciphersuites after the switch");
    hs_free(&h);
    ok(handshake(&h, l_tls, c12, "b.test", NULL, NULL), "TLSv1.2 to b");
    is_str(gh_tls_cipher(h.s), "ECDHE-ECDSA-CHACHA20-POLY1305",
           "... b's own TLS 1.2 ciphers after the switch");
    hs_free(&h);
    ok(!handshake(&h, l_tls, c12, "b.test", tweak_ciphers,
                  "ECDHE-ECDSA-AES128-GCM-SHA256"),
       "a client with none of b's ciphers: refused");
    is_str(h.why, "no cipher in common with the client", "... says so");
    hs_free(&h);
    SSL_CTX_free(c11);
    SSL_CTX_free(c12);
    SSL_CTX_free(c13);
}

static void
test_alpn(void)
{
    SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
    const unsigned char *p;
    unsigned int n;
    struct hs h;

    ok(handshake(&h, l_tls, c, "a.test", tweak_alpn,
                 (void *) "\x0c\x02h2\x08http/1.1"),
       "ALPN h2, http/1.1: handshake");
    is_str(gh_tls_alpn(h.s), "http/1.1", "... http/1.1 selected");
    SSL_get0_alpn_selected(h.c, &p, &n);
    ok(n == 8 && memcmp(p, "http/1.1", 8) == 0, "... the client sees it");
    hs_free(&h);
    ok(handshake(&h, l_tls, c, "a.test", tweak_alpn, (void *) "\x03\x02h2"),
       "ALPN h2 only: the handshake goes on");
    ok(gh_tls_alpn(h.s) == NULL, "... without ALPN");
    SSL_get0_alpn_selected(h.c, &p, &n);
    is_int(n, 0, "... the client sees none");
    hs_free(&h);
    ok(handshake(&h, l_tls, c, "a.test", NULL, NULL), "no ALPN offered");
    ok(gh_tls_alpn(h.s) == NULL, "... none selected");
    hs_free(&h);
    SSL_CTX_free(c);
}

static void
test_ocsp(void)
{
    SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
    unsigned char *want = NULL;
    const unsigned char *got;
    long n, wn = 0;
    struct hs h;
    FILE *f = fopen(path("a-ec.ocsp"), "r");

    if (f != NULL) {
        want = malloc(65536);
        wn = (long) fread(want, 1, 65536, f);
        (void) fclose(f);
    }
    ok(handshake(&h, l_tls, c, "a.test", tweak_status, NULL),
       "status requested: handshake");
    is_str(peer_type(&h), "EC", "... ECDSA certificate");
    n = SSL_get_tlsext_status_ocsp_resp(h.c, &got);
    ok(n > 0 && n == wn && want != NULL && memcmp(got, want, (size_t) n) == 0,
       "... the OCSP response is stapled (%ld bytes)", n);
    hs_free(&h);
    ok(handshake(&h, l_tls, c, "a.test", NULL, NULL),
       "status not requested: handshake");
    n = SSL_get_tlsext_status_ocsp_resp(h.c, &got);
    ok(n <= 0, "... nothing stapled");
    hs_free(&h);
    /* RSA and a status request at once. */
    {
        SSL_CTX *c2 = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);

        (void) SSL_CTX_set1_sigalgs_list(c2, "rsa_pss_rsae_sha256");
        ok(handshake(&h, l_tls, c2, "a.test", tweak_status, NULL),
           "status requested by an RSA-only client: handshake");
        is_str(peer_type(&h), "RSA", "... RSA certificate");
        n = SSL_get_tlsext_status_ocsp_resp(h.c, &got);
        ok(n <= 0, "... no staple: the response is for the ECDSA one");
        hs_free(&h);
        SSL_CTX_free(c2);
    }
    ok(handshake(&h, l_tls, c, "b.test", tweak_status, NULL),
       "status requested from b (no ocsp_staple): handshake");
    n = SSL_get_tlsext_status_ocsp_resp(h.c, &got);
    ok(n <= 0, "... nothing stapled");
    hs_free(&h);
    free(want);
    SSL_CTX_free(c);
}

static void
test_client_verify(void)
{
    SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
    SSL_CTX *c12 = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    char buf[256];
    struct hs h;

    ok(!handshake(&h, l_tls, c, "c.test", NULL, NULL),
       "verify on, no client certificate: refused");
    is_str(h.why, "client sent no certificate (verify_client is \"on\")",
           "... says so");
    hs_free(&h);
    ok(handshake(&h, l_tls, c, "c.test", tweak_client_cert, alice_cert),
       "verify on, a certificate of the CA: handshake");
    is_str(gh_tls_client_verify(h.s, buf, sizeof(buf)), "SUCCESS",
           "... verified");
    is_str(gh_tls_client_subject(h.s, buf, sizeof(buf)),
           "CN=alice,O=Example", "... subject, RFC 2253");
    hs_free(&h);
    ok(!handshake(&h, l_tls, c, "c.test", tweak_client_cert, mallory_cert),
       "verify on, a self-signed certificate: refused");
    ok(strncmp(h.why, "client certificate: ", 20) == 0,
       "... client certificate: why (%s)", h.why);
    hs_free(&h);
    ok(!handshake(&h, l_tls, c12, "c.test", NULL, NULL),
       "verify on, TLS 1.2, no certificate: refused");
    hs_free(&h);

    ok(handshake(&h, l_tls, c, "o.test", NULL, NULL),
       "verify optional, no certificate: handshake");
    is_str(gh_tls_client_verify(h.s, buf, sizeof(buf)), "NONE", "... NONE");
    ok(gh_tls_client_subject(h.s, buf, sizeof(buf)) == NULL,
       "... no subject");
    hs_free(&h);
    ok(handshake(&h, l_tls, c, "o.test", tweak_client_cert, alice_cert),
       "verify optional, a certificate of the CA: handshake");
    is_str(gh_tls_client_verify(h.s, buf, sizeof(buf)), "SUCCESS",
           "... SUCCESS");
    hs_free(&h);
    ok(!handshake(&h, l_tls, c, "o.test", tweak_client_cert, mallory_cert),
       "verify optional, a bad certificate: refused (never passed on as "
       "unverified)");
    hs_free(&h);

    ok(handshake(&h, l_tls, c, "a.test", NULL, NULL),
       "a (verify off), no certificate: handshake");
    is_str(gh_tls_client_verify(h.s, buf, sizeof(buf)), "NONE", "... NONE");
    hs_free(&h);
    SSL_CTX_free(c);
    SSL_CTX_free(c12);
}

static void
test_errors(void)
{
    static const char get[] = "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n";
    char why[256];
    struct hs h;
    int r;

    memset(&h, 0, sizeof(h));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, h.fd) == -1)
        exit(1);
    h.s = gh_tls_new(l_tls, h.fd[0]);
    ok(h.s != NULL, "gh_tls_new");
    ok(gh_tls_site(h.s) == &conf->sites[0],
       "before the handshake: the default site");
    if (write(h.fd[1], get, sizeof(get) - 1) != (ssize_t) sizeof(get) - 1)
        exit(1);
    r = SSL_do_handshake(h.s);
    ok(r <= 0, "plain HTTP: the handshake fails");
    is_str(gh_tls_error(h.s, r, why, sizeof(why)),
           "plain HTTP request on a TLS address", "... reason");
    is_int(ERR_peek_error(), 0, "... the error queue is empty after");
    hs_free(&h);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, h.fd) == -1)
        exit(1);
    h.s = gh_tls_new(l_tls, h.fd[0]);
    r = SSL_do_handshake(h.s);
    is_int(SSL_get_error(h.s, r), SSL_ERROR_WANT_READ,
           "nothing sent yet: want read");
    (void) close(h.fd[1]);
    h.fd[1] = -1;
    r = SSL_do_handshake(h.s);
    ok(r <= 0, "the client goes away: fails");
    is_str(gh_tls_error(h.s, r, why, sizeof(why)),
           "client closed the connection during the handshake",
           "... reason");
    hs_free(&h);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, h.fd) == -1)
        exit(1);
    h.s = gh_tls_new(l_tls, h.fd[0]);
    if (write(h.fd[1], "\x16\x03\x01\x00\x05hello", 10) != 10)
        exit(1);
    r = SSL_do_handshake(h.s);
    ok(r <= 0, "garbage in a TLS record: fails");
    diag("garbage: %s", gh_tls_error(h.s, r, why, sizeof(why)));
    ok(why[0] != '\0', "... with a reason");
    hs_free(&h);
    gh_tls_free(NULL);
    ok(1, "gh_tls_free(NULL) is fine");
}

/* Application data both ways after the handshake (and the TLS 1.3
 * tickets the server sent are read by the client). */
static int
exchange(struct hs *h)
{
    char buf[16];
    int r;

    if (SSL_write(h->s, "pong", 4) != 4 || SSL_write(h->c, "ping", 4) != 4)
        return 0;
    r = SSL_read(h->s, buf, sizeof(buf));
    if (r != 4 || memcmp(buf, "ping", 4) != 0)
        return 0;
    r = SSL_read(h->c, buf, sizeof(buf));
    return r == 4 && memcmp(buf, "pong", 4) == 0;
}

/* A session of a handshake to SNI with C; NULL on failure. */
static const struct gh_listener *res_l;  /* where session_of(), resumes() */

static SSL_SESSION *
session_of(SSL_CTX *c, const char *sni)
{
    SSL_SESSION *s = NULL;
    struct hs h;

    if (handshake(&h, res_l, c, sni, NULL, NULL) && exchange(&h))
        s = SSL_get1_session(h.c);
    if (s != NULL && !SSL_SESSION_is_resumable(s)) {
        SSL_SESSION_free(s);
        s = NULL;
    }
    (void) SSL_shutdown(h.c);
    (void) SSL_shutdown(h.s);
    hs_free(&h);
    return s;
}

/* Does a handshake to SNI with C offering S resume? -1: it failed. */
static int
resumes(SSL_CTX *c, const char *sni, SSL_SESSION *s)
{
    struct hs h;
    int r;

    if (!handshake(&h, res_l, c, sni, tweak_session, s) || !exchange(&h)) {
        hs_free(&h);
        return -1;
    }
    r = gh_tls_resumed(h.s);
    if (r != SSL_session_reused(h.c))
        r = -2;
    hs_free(&h);
    return r;
}

static void
test_resumption(void)
{
    struct gh_shm shm;
    struct gh_tlscache_stats st;
    SSL_CTX *c13 = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION);
    SSL_CTX *c12 = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_CTX *c12nt = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
    SSL_SESSION *s;
    uint64_t keys = 0, root_a, root_b;
    char err[256];

    SSL_CTX_set_options(c12nt, SSL_OP_NO_TICKET);
    res_l = l_tls;
    memset(&shm, 0, sizeof(shm));
    if (gh_shm_create(&shm, 16 * 1024 * 1024, err, sizeof(err)) != GH_OK
        || gh_slab_init(&shm, err, sizeof(err)) != GH_OK) {
        diag("segment: %s", err);
        exit(1);
    }

    /* Before gh_tls_worker_init(): tickets with the context's own keys
     * (OpenSSL's, made with the context), no cache. */
    s = session_of(c12nt, "a.test");
    ok(s != NULL, "without the segment: a TLS 1.2 session ID");
    is_int(resumes(c12nt, "a.test", s), 0, "... but no cache to resume it");
    SSL_SESSION_free(s);

    ok(gh_tls_shm_bind(conf, &shm, &keys, err, sizeof(err)) == GH_OK,
       "gh_tls_shm_bind");
    ok(keys != 0, "... a ticket key set");
    root_a = conf->sites[0].tls->cache_root;
    root_b = conf->sites[1].tls->cache_root;
    ok(root_a != 0 && root_b != 0 && root_a != root_b,
       "... a cache for a, another for b");
    is_int(conf->sites[2].tls->cache_root, 0, "... none for c (0 bytes)");
    ok(conf->sites[0].tls->keys_root == keys, "... roots in the conf");
    ok(gh_tls_worker_init(conf, &shm, keys) == GH_OK, "gh_tls_worker_init");

    /* TLS 1.3 clients use a ticket once (RFC 8446 C.4): a new one for
     * each try. */
    s = session_of(c13, "a.test");
    ok(s != NULL, "TLS 1.3 ticket from a");
    is_int(resumes(c13, "a.test", s), 1, "... resumes on a");
    SSL_SESSION_free(s);
    s = session_of(c13, "a.test");
    is_int(resumes(c13, "b.test", s), 0, "another one: not on b");
    SSL_SESSION_free(s);
    s = session_of(c13, "a.test");
    ok(gh_tls_rotate(&shm, keys) == GH_OK, "rotate the ticket keys");
    is_int(resumes(c13, "a.test", s), 1,
           "... a ticket of the previous key still resumes");
    SSL_SESSION_free(s);
    s = session_of(c13, "a.test");
    ok(gh_tls_rotate(&shm, keys) == GH_OK
       && gh_tls_rotate(&shm, keys) == GH_OK, "rotate twice");
    is_int(resumes(c13, "a.test", s), 0,
           "... a ticket two keys old: a full handshake");
    SSL_SESSION_free(s);
    {
        struct gh_tlskeys_stats ks;

        gh_tlskeys_stats(&shm, keys, &ks);
        ok(ks.renewed == 1 && ks.unknown == 1 && ks.generation == 4,
           "... key stats: %llu renewed, %llu unknown, generation %llu",
           (unsigned long long) ks.renewed, (unsigned long long) ks.unknown,
           (unsigned long long) ks.generation);
    }
    is_int(gh_tls_rotate(&shm, 0), GH_DECLINED, "rotate without keys");

    s = session_of(c12, "a.test");
    ok(s != NULL, "TLS 1.2 session ticket");
    is_int(resumes(c12, "a.test", s), 1, "... resumes");
    SSL_SESSION_free(s);

    gh_tlscache_stats(&shm, root_a, &st);
    s = session_of(c12nt, "a.test");
    ok(s != NULL, "TLS 1.2 without tickets: a session ID");
    is_int(resumes(c12nt, "a.test", s), 1,
           "... resumes from the shared cache");
    {
        struct gh_tlscache_stats st2;

        gh_tlscache_stats(&shm, root_a, &st2);
        ok(st2.hits > st.hits && st2.stores > st.stores,
           "... a's cache stored it and found it (%llu stores, %llu hits)",
           (unsigned long long) st2.stores, (unsigned long long) st2.hits);
    }
    is_int(resumes(c12nt, "b.test", s), 0, "... not on b");
    SSL_SESSION_free(s);

    s = session_of(c13, "d.test");
    ok(s != NULL, "d (TLS 1.3, tickets off): a stateful session");
    is_int(resumes(c13, "d.test", s), 1, "... resumes from d's cache");
    SSL_SESSION_free(s);

    /* On 127.0.0.1:9443 the default site, e, has no cache: f's cache must
     * still work for f. */
    res_l = l_ef;
    s = session_of(c12nt, "f.test");
    ok(s != NULL, "f, behind a cacheless default site: a session ID");
    is_int(resumes(c12nt, "f.test", s), 1, "... resumes from f's cache");
    is_int(resumes(c12nt, "e.test", s), 0, "... not on e");
    SSL_SESSION_free(s);
    s = session_of(c12nt, "e.test");
    ok(s != NULL, "e (no cache): a session ID");
    is_int(resumes(c12nt, "e.test", s), 0, "... that does not resume");
    SSL_SESSION_free(s);
    s = session_of(c13, "e.test");
    is_int(resumes(c13, "e.test", s), 1, "... e's TLS 1.3 tickets do");
    SSL_SESSION_free(s);
    res_l = l_tls;

    /* A reload: the same sites keep their caches (and sessions). */
    {
        char e2[1024];
        struct gh_conf *c2 = gh_conf_load(path("t.conf"), e2, sizeof(e2));
        uint64_t keys2 = keys;

        ok(c2 != NULL && gh_tls_shm_bind(c2, &shm, &keys2, err,
                                         sizeof(err)) == GH_OK,
           "reload: bind again");
        ok(c2 != NULL && c2->sites[0].tls->cache_root == root_a
           && c2->sites[1].tls->cache_root == root_b && keys2 == keys,
           "... the same caches and keys");
        gh_conf_free(c2);
    }
    gh_shm_close(&shm);
    SSL_CTX_free(c13);
    SSL_CTX_free(c12);
    SSL_CTX_free(c12nt);
}

int
main(void)
{
    alarm(120);
    (void) snprintf(dir, sizeof(dir), "/tmp/gh-tls-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    make_files();
    load();
    subtest("listeners") test_listeners();
    subtest("SNI chooses the site") test_sni();
    subtest("RSA and ECDSA certificates") test_key_types();
    subtest("protocols and ciphers per site") test_protocols_and_suites();
    subtest("ALPN") test_alpn();
    subtest("OCSP stapling") test_ocsp();
    subtest("client certificates") test_client_verify();
    subtest("error reasons") test_errors();
    subtest("resumption through the segment") test_resumption();

    gh_listen_free(ls, nls);
    gh_conf_free(conf);
    X509_free(ca_cert);
    X509_free(alice_cert);
    X509_free(mallory_cert);
    X509_free(a_ec_cert);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(alice_key);
    EVP_PKEY_free(mallory_key);
    EVP_PKEY_free(a_ec_key);
    (void) nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return done_testing();
}
