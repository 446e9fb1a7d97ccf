/*
 * Tests shm/tlscache.c: the session cache without OpenSSL (store, lookup,
 * replace, remove, hostile sizes, eviction under a tiny budget and under a
 * full slab, expiry on a controlled clock), then real handshakes: four
 * forked server "workers" attached to one segment and a client in the
 * parent that resumes a saved session 20 times across them (TLS 1.2 with
 * session IDs, TLS 1.2 and 1.3 with tickets, TLS 1.3 stateful tickets),
 * ticket key rotation, sites kept apart, SNI switching, damaged sessions in
 * the segment, a process killed holding the lock, a crash at every step of
 * each operation, several processes at once while some are killed, and
 * rough timings.
 *
 * Certificates are made at run time in memory (EC P-256, one hour).  The
 * module is #included (not linked) for its internals, its test hook (runs
 * at every journaled step) and its clock.  GH_TEST_SEED=N repeats a run.
 */

#define GH_TLSCACHE_TEST_HOOK 1

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "shm/tlscache.c"
#include "tests/unit/tap.h"

static uint64_t rng_state;
static EVP_PKEY *pkey;
static X509 *cert;
static struct gh_shm shm;           /* the segment of most tests */
static gh_off cache_root, keys_root;

static uint64_t
rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static gh_msec fake_now;

static gh_msec
fake_clock(void)
{
    return fake_now;
}

static void
segment(struct gh_shm *s, size_t size)
{
    char err[256];

    if (gh_shm_create(s, size, err, sizeof(err)) != GH_OK
        || gh_slab_init(s, err, sizeof(err)) != GH_OK) {
        diag("segment: %s", err);
        abort();
    }
}

static gh_off
new_cache(struct gh_shm *s, size_t bytes, uint32_t timeout)
{
    char err[256];
    gh_off r = 0;

    if (gh_tlscache_create(s, bytes, timeout, &r, err, sizeof(err))
        != GH_OK) {
        diag("gh_tlscache_create: %s", err);
        abort();
    }
    return r;
}

static int
check(struct gh_shm *s, gh_off root, const char *when)
{
    char err[256];

    if (gh_tlscache_check(s, root, err, sizeof(err)) != GH_OK) {
        diag("gh_tlscache_check %s: %s", when, err);
        return 0;
    }
    if (gh_slab_check(s, err, sizeof(err)) != GH_OK) {
        diag("gh_slab_check %s: %s", when, err);
        return 0;
    }
    return 1;
}

static struct gh_tlscache_stats
cstats(struct gh_shm *s, gh_off root)
{
    struct gh_tlscache_stats st;

    gh_tlscache_stats(s, root, &st);
    return st;
}

static struct gh_tlskeys_stats
kstats(void)
{
    struct gh_tlskeys_stats st;

    gh_tlskeys_stats(&shm, keys_root, &st);
    return st;
}

/* A fake session: ID I, LEN bytes derived from I and V. */
static void
fake_id(uint8_t id[32], uint64_t i)
{
    for (int j = 0; j < 4; j++) {
        uint64_t w = (i + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t) j << 56;

        memcpy(id + 8 * j, &w, 8);
    }
}

static size_t
fake_der(uint8_t *der, uint64_t i, uint64_t v, size_t len)
{
    for (size_t j = 0; j < len; j++)
        der[j] = (uint8_t) ((i * 131 + v * 7 + j) ^ (j >> 8));
    return len;
}

static int
store_fake(struct gh_shm *s, gh_off root, uint64_t i, uint64_t v, size_t len)
{
    uint8_t id[32], der[GH_TLSCACHE_DER_MAX];

    fake_id(id, i);
    fake_der(der, i, v, len);
    return gh_tlscache_store(s, root, "ctx", 3, id, 32, der, len);
}

/* 1: (I, V, LEN) is there, intact; 0: a miss; -1: wrong bytes. */
static int
has_fake(struct gh_shm *s, gh_off root, uint64_t i, uint64_t v, size_t len)
{
    uint8_t id[32], der[GH_TLSCACHE_DER_MAX], want[GH_TLSCACHE_DER_MAX];
    ssize_t n;

    fake_id(id, i);
    n = gh_tlscache_lookup(s, root, "ctx", 3, id, 32, der, sizeof(der));
    if (n < 0)
        return 0;
    fake_der(want, i, v, len);
    return (size_t) n == len && memcmp(der, want, len) == 0 ? 1 : -1;
}

/* ------------------------------------------------------------------ */
/* TLS plumbing. */

static void
make_cert(void)
{
    X509_NAME *n;

    pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    cert = X509_new();
    if (pkey == NULL || cert == NULL)
        abort();
    n = X509_get_subject_name(cert);
    if (!X509_set_version(cert, 2)
        || !ASN1_INTEGER_set(X509_get_serialNumber(cert), (long) getpid())
        || X509_gmtime_adj(X509_getm_notBefore(cert), -60) == NULL
        || X509_gmtime_adj(X509_getm_notAfter(cert), 3600) == NULL
        || !X509_set_pubkey(cert, pkey)
        || !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                       (const unsigned char *)
                                       "gatehouse.test", -1, -1, 0)
        || !X509_set_issuer_name(cert, n)
        || X509_sign(cert, pkey, EVP_sha256()) == 0)
        abort();
}

enum srv_sessions {
    SRV_SHARED = 0,     /* attach the shared cache */
    SRV_INTERNAL,       /* OpenSSL's own per-process cache */
    SRV_NONE            /* no cache at all */
};

struct srv_cfg {
    int         version;
    int         tickets;        /* SSL_OP_NO_TICKET unless set */
    int         sessions;       /* enum srv_sessions */
    int         keys;           /* attach the shared ticket keys */
    const char *context;
};

static SSL_CTX *
server_ctx(const struct srv_cfg *cfg)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    const char *context = cfg->context ? cfg->context : "site";
    size_t cl = strlen(context);

    if (c == NULL || !SSL_CTX_set_min_proto_version(c, cfg->version)
        || !SSL_CTX_set_max_proto_version(c, cfg->version)
        || !SSL_CTX_use_certificate(c, cert)
        || !SSL_CTX_use_PrivateKey(c, pkey))
        abort();
    if (!cfg->tickets)
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    if (cfg->sessions == SRV_SHARED) {
        if (gh_tlscache_attach(c, &shm, cache_root, context, cl) != GH_OK)
            abort();
    } else {
        SSL_CTX_set_session_cache_mode(c, cfg->sessions == SRV_INTERNAL
                                          ? SSL_SESS_CACHE_SERVER
                                          : SSL_SESS_CACHE_OFF);
        SSL_CTX_set_session_id_context(c, (const unsigned char *) context,
                                       (unsigned int) cl);
    }
    if (cfg->keys
        && gh_tlskeys_attach(c, &shm, keys_root, context, cl) != GH_OK)
        abort();
    return c;
}

static SSL_CTX *
client_ctx(int version, int tickets)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());

    if (c == NULL || !SSL_CTX_set_min_proto_version(c, version)
        || !SSL_CTX_set_max_proto_version(c, version))
        abort();
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    if (!tickets)
        SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
    return c;
}

struct conn_res {
    int ok;                 /* handshake and one byte of data */
    int reused;             /* client's SSL_session_reused() */
    int srv_reused;         /* the server's */
    SSL_CTX *srv_ctx;       /* the server's SSL_CTX at the end */
};

/*
 * A connection fully in memory: client and server SSL on a BIO pair,
 * pumped in turn.  The server sends one byte so a TLS 1.3 client reads the
 * tickets before it.  *OUT (if wanted) gets the client's session.
 */
static struct conn_res
mem_conn(SSL_CTX *cctx, SSL_CTX *sctx, SSL_SESSION *in, SSL_SESSION **out)
{
    struct conn_res res = { 0 };
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *bc, *bs;
    int cdone = 0, sdone = 0, rc;
    char b;

    if (c == NULL || s == NULL || !BIO_new_bio_pair(&bc, 0, &bs, 0))
        abort();
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    (void) SSL_set_tlsext_host_name(c, "gatehouse.test");
    if (in != NULL)
        (void) SSL_set_session(c, in);
    for (int i = 0; i < 50 && !(cdone && sdone); i++) {
        if (!cdone) {
            rc = SSL_do_handshake(c);
            if (rc == 1)
                cdone = 1;
            else if (SSL_get_error(c, rc) != SSL_ERROR_WANT_READ)
                break;
        }
        if (!sdone) {
            rc = SSL_do_handshake(s);
            if (rc == 1)
                sdone = 1;
            else if (SSL_get_error(s, rc) != SSL_ERROR_WANT_READ)
                break;
        }
    }
    if (cdone && sdone && SSL_write(s, "x", 1) == 1 && SSL_read(c, &b, 1) == 1
        && b == 'x') {
        res.ok = 1;
        res.reused = SSL_session_reused(c);
        res.srv_reused = SSL_session_reused(s);
        res.srv_ctx = SSL_get_SSL_CTX(s);
        if (out != NULL)
            *out = SSL_get1_session(c);
    } else {
        ERR_print_errors_fp(stdout);
    }
    (void) SSL_shutdown(c);     /* close_notify both ways: a clean end */
    (void) SSL_shutdown(s);
    SSL_free(c);
    SSL_free(s);
    ERR_clear_error();
    return res;
}

/* The first 16 bytes of SESS's ticket (its key name), or zeros. */
static void
ticket_name(SSL_SESSION *sess, uint8_t name[GH_TLSKEYS_NAME])
{
    const unsigned char *t = NULL;
    size_t len = 0;

    memset(name, 0, GH_TLSKEYS_NAME);
    if (sess != NULL)
        SSL_SESSION_get0_ticket(sess, &t, &len);
    if (t != NULL && len >= GH_TLSKEYS_NAME)
        memcpy(name, t, GH_TLSKEYS_NAME);
}

static void
current_name(uint8_t name[GH_TLSKEYS_NAME])
{
    union tk_key k;
    int hp;

    if (tk_read(tk_get(&shm, keys_root), &k, NULL, &hp) != GH_OK)
        abort();
    memcpy(name, k.k.name, GH_TLSKEYS_NAME);
    OPENSSL_cleanse(&k, sizeof(k));
}

/* ------------------------------------------------------------------ */
/* Server workers: forked, each with its own SSL_CTX on the segment. */

#define WORKERS 4

struct worker {
    pid_t pid;
    int   ctl;          /* SOCK_SEQPACKET: commands and fds in, results out */
};

static int
send_fd(int sock, char cmd, int fd)
{
    union {
        struct cmsghdr h;
        char           buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct iovec iov = { &cmd, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    struct cmsghdr *c;

    if (fd >= 0) {
        memset(&u, 0, sizeof(u));
        m.msg_control = u.buf;
        m.msg_controllen = sizeof(u.buf);
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &m, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

static int
recv_fd(int sock, char *cmd, int *fd)
{
    union {
        struct cmsghdr h;
        char           buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct iovec iov = { cmd, 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf) };
    struct cmsghdr *c;

    *fd = -1;
    if (recvmsg(sock, &m, 0) != 1)
        return -1;
    for (c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    return 0;
}

static void
worker_main(int ctl, const struct srv_cfg *cfg)
{
    SSL_CTX *sctx = server_ctx(cfg);

    for (;;) {
        unsigned char rep[2] = { 0, 0 };
        char cmd, b;
        SSL *s;
        int fd;

        if (recv_fd(ctl, &cmd, &fd) != 0 || cmd == 'Q')
            _exit(0);
        if (fd < 0)
            _exit(3);
        s = SSL_new(sctx);
        if (s == NULL || !SSL_set_fd(s, fd))
            _exit(4);
        if (SSL_accept(s) == 1 && SSL_write(s, "x", 1) == 1) {
            rep[0] = 1;
            rep[1] = (unsigned char) SSL_session_reused(s);
        }
        (void) SSL_shutdown(s);
        (void) SSL_read(s, &b, 1);      /* the client's close_notify */
        SSL_free(s);
        close(fd);
        ERR_clear_error();
        if (write(ctl, rep, 2) != 2)
            _exit(5);
    }
}

static void
workers_start(struct worker *w, const struct srv_cfg *cfg)
{
    for (int i = 0; i < WORKERS; i++) {
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
            abort();
        fflush(stdout);
        w[i].pid = fork();
        if (w[i].pid == 0) {
            for (int j = 0; j < i; j++)
                close(w[j].ctl);
            close(sv[0]);
            alarm(60);
            worker_main(sv[1], cfg);
        }
        close(sv[1]);
        w[i].ctl = sv[0];
    }
}

/* Workers that exited 0 when told to. */
static int
workers_stop(struct worker *w)
{
    int good = 0, status;

    for (int i = 0; i < WORKERS; i++) {
        (void) send_fd(w[i].ctl, 'Q', -1);
        close(w[i].ctl);
        if (waitpid(w[i].pid, &status, 0) == w[i].pid && WIFEXITED(status)
            && WEXITSTATUS(status) == 0)
            good++;
        else
            diag("worker %d: status %#x", i, status);
    }
    return good;
}

/* A connection to worker W over a socketpair; the client is here. */
static struct conn_res
worker_conn(struct worker *w, SSL_CTX *cctx, SSL_SESSION *in,
            SSL_SESSION **out)
{
    struct conn_res res = { 0 };
    unsigned char rep[2];
    int sv[2], ok;
    SSL *c;
    char b;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (send_fd(w->ctl, 'C', sv[1]) != 0) {
        close(sv[0]);
        close(sv[1]);
        return res;
    }
    close(sv[1]);
    c = SSL_new(cctx);
    if (c == NULL || !SSL_set_fd(c, sv[0]))
        abort();
    (void) SSL_set_tlsext_host_name(c, "gatehouse.test");
    if (in != NULL)
        (void) SSL_set_session(c, in);
    ok = SSL_connect(c) == 1 && SSL_read(c, &b, 1) == 1 && b == 'x';
    res.reused = SSL_session_reused(c);
    if (ok && out != NULL)
        *out = SSL_get1_session(c);
    (void) SSL_shutdown(c);
    SSL_free(c);
    close(sv[0]);
    ERR_clear_error();
    if (read(w->ctl, rep, 2) == 2) {
        res.ok = ok && rep[0];
        res.srv_reused = rep[1];
    }
    return res;
}

/*
 * Full handshake with worker 1, then 20 connections with the saved
 * session to each worker in turn.  Returns how many resumed (client and
 * server agreeing); *BAD counts failed handshakes and disagreements.
 */
static int
resume_round(struct worker *w, SSL_CTX *cctx, SSL_SESSION *sess, int *bad)
{
    int resumed = 0;

    for (int i = 0; i < 20; i++) {
        struct conn_res r = worker_conn(&w[i % WORKERS], cctx, sess, NULL);

        if (!r.ok || r.reused != r.srv_reused)
            (*bad)++;
        else
            resumed += r.reused;
    }
    return resumed;
}

struct scenario {
    const char    *name;
    struct srv_cfg srv;
    int            client_tickets;
    int            want;            /* of 20 resumed */
    int            cache;           /* 0: stores nothing, 1: stores and
                                       finds */
};

static void
test_workers(void)
{
    static const struct scenario sc[] = {
        { "TLS 1.2, session IDs, tickets off: the shared cache",
          { TLS1_2_VERSION, 0, SRV_SHARED, 0, NULL }, 0, 20, 1 },
        { "TLS 1.2, tickets only (no cache): the shared keys",
          { TLS1_2_VERSION, 1, SRV_NONE, 1, NULL }, 1, 20, 0 },
        { "TLS 1.2, tickets and cache: the ticket, nothing stored",
          { TLS1_2_VERSION, 1, SRV_SHARED, 1, NULL }, 1, 20, 0 },
        { "TLS 1.2, tickets and cache, a client without tickets: the cache",
          { TLS1_2_VERSION, 1, SRV_SHARED, 1, NULL }, 0, 20, 1 },
        { "TLS 1.3, stateless tickets: the shared keys, nothing stored",
          { TLS1_3_VERSION, 1, SRV_SHARED, 1, NULL }, 1, 20, 0 },
        { "TLS 1.3, tickets off: stateful tickets in the shared cache",
          { TLS1_3_VERSION, 0, SRV_SHARED, 0, NULL }, 1, 20, 1 },
        /* Controls: without the shared state only worker 1 resumes. */
        { "control: TLS 1.2, OpenSSL's per-process cache",
          { TLS1_2_VERSION, 0, SRV_INTERNAL, 0, NULL }, 0, 5, 0 },
        { "control: TLS 1.3, tickets with per-process keys",
          { TLS1_3_VERSION, 1, SRV_INTERNAL, 0, NULL }, 1, 5, 0 },
        { "control: TLS 1.3 stateful, OpenSSL's per-process cache",
          { TLS1_3_VERSION, 0, SRV_INTERNAL, 0, NULL }, 1, 5, 0 },
    };

    for (size_t i = 0; i < GH_NELEM(sc); i++) {
        subtest(sc[i].name) {
            struct worker w[WORKERS];
            struct gh_tlscache_stats c0 = cstats(&shm, cache_root), c1;
            SSL_CTX *cctx = client_ctx(sc[i].srv.version,
                                       sc[i].client_tickets);
            SSL_SESSION *sess = NULL;
            struct conn_res r;
            int bad = 0, n;

            workers_start(w, &sc[i].srv);
            r = worker_conn(&w[0], cctx, NULL, &sess);
            ok(r.ok && !r.reused, "a full handshake with worker 1");
            ok(sess != NULL && SSL_SESSION_is_resumable(sess),
               "a resumable session saved");
            n = resume_round(w, cctx, sess, &bad);
            is_int(bad, 0, "20 more handshakes, client and server agree");
            is_int(n, sc[i].want, "%d of 20 resumed, across %d workers",
                   sc[i].want, WORKERS);
            c1 = cstats(&shm, cache_root);
            if (sc[i].srv.sessions == SRV_SHARED) {
                if (sc[i].cache)
                    ok(c1.stores > c0.stores && c1.hits >= c0.hits + 20,
                       "the cache stored (%llu) and found (%llu)",
                       (unsigned long long) (c1.stores - c0.stores),
                       (unsigned long long) (c1.hits - c0.hits));
                else
                    ok(c1.stores == c0.stores,
                       "no session stored: the tickets carry them");
            }
            is_int(workers_stop(w), WORKERS, "the workers exit cleanly");
            SSL_SESSION_free(sess);
            SSL_CTX_free(cctx);
        }
    }
}

/* ------------------------------------------------------------------ */

static void
test_rotation(int version)
{
    struct srv_cfg cfg = { version, 1, SRV_NONE, 1, NULL };
    uint8_t n0[16], n1[16], n2[16], t[16];
    struct gh_tlskeys_stats k0, k1;
    struct worker w[WORKERS];
    SSL_CTX *cctx = client_ctx(version, 1);
    SSL_SESSION *s0 = NULL, *s1 = NULL;
    struct conn_res r;
    int bad = 0, resumed = 0, fresh = 0, ok2 = 0;

    workers_start(w, &cfg);
    current_name(n0);
    r = worker_conn(&w[0], cctx, NULL, &s0);
    ticket_name(s0, t);
    ok(r.ok && !r.reused && memcmp(t, n0, 16) == 0,
       "a full handshake gives a ticket of the current key");

    k0 = kstats();
    ok(gh_tlskeys_rotate(&shm, keys_root) == GH_OK, "rotated");
    current_name(n1);
    k1 = kstats();
    is_int(k1.generation, k0.generation + 1, "generation %llu",
           (unsigned long long) k1.generation);
    ok(memcmp(n0, n1, 16) != 0, "a new key name");
    for (int i = 0; i < 20; i++) {
        SSL_SESSION *s = NULL;

        r = worker_conn(&w[i % WORKERS], cctx, s0, &s);
        if (!r.ok || r.reused != r.srv_reused)
            bad++;
        resumed += r.ok && r.reused;
        ticket_name(s, t);
        if (memcmp(t, n1, 16) == 0)
            fresh++;
        if (s1 == NULL && memcmp(t, n1, 16) == 0)
            s1 = s;
        else
            SSL_SESSION_free(s);
    }
    is_int(bad, 0, "20 handshakes after the rotation");
    is_int(resumed, 20, "the ticket of the previous key still resumes");
    is_int(fresh, 20, "and each time a fresh ticket of the new key");
    k1 = kstats();
    ok(k1.renewed >= k0.renewed + 20, "counted as renewals (%llu)",
       (unsigned long long) (k1.renewed - k0.renewed));

    ok(gh_tlskeys_rotate(&shm, keys_root) == GH_OK, "rotated again");
    current_name(n2);
    k0 = kstats();
    resumed = 0;
    for (int i = 0; i < WORKERS; i++) {
        r = worker_conn(&w[i], cctx, s0, NULL);
        ok2 += r.ok;
        resumed += r.reused;
    }
    is_int(ok2, WORKERS, "two rotations later the old ticket still "
           "connects");
    is_int(resumed, 0, "with a full handshake");
    k1 = kstats();
    is_int(k1.unknown, k0.unknown + WORKERS, "as an unknown key");
    r = worker_conn(&w[1], cctx, s1, NULL);
    ok(r.ok && r.reused, "the ticket of the previous key resumes");
    is_int(workers_stop(w), WORKERS, "the workers exit cleanly");
    SSL_SESSION_free(s0);
    SSL_SESSION_free(s1);
    SSL_CTX_free(cctx);
}

/* ------------------------------------------------------------------ */

struct mode {
    const char *name;
    int         version;
    int         tickets;
};

static const struct mode modes[] = {
    { "TLS 1.2 cache", TLS1_2_VERSION, 0 },
    { "TLS 1.2 tickets", TLS1_2_VERSION, 1 },
    { "TLS 1.3 stateful", TLS1_3_VERSION, 0 },
    { "TLS 1.3 tickets", TLS1_3_VERSION, 1 },
};

static void
test_sites(void)
{
    for (size_t m = 0; m < GH_NELEM(modes); m++) {
        const struct mode *md = &modes[m];
        struct srv_cfg a = { md->version, md->tickets, SRV_SHARED, 1,
                             "site-a" };
        struct srv_cfg b = a, a2 = a;
        SSL_CTX *ca, *cb, *ca2, *cctx = client_ctx(md->version, md->tickets);
        SSL_SESSION *sess = NULL;
        struct conn_res r;
        char name[64];

        b.context = "site-b";
        ca = server_ctx(&a);
        cb = server_ctx(&b);
        ca2 = server_ctx(&a2);
        snprintf(name, sizeof(name), "sites kept apart: %s", md->name);
        subtest(name) {
            r = mem_conn(cctx, ca, NULL, &sess);
            ok(r.ok && !r.reused, "full handshake with site a");
            r = mem_conn(cctx, ca, sess, NULL);
            ok(r.ok && r.reused, "resumes on site a");
            r = mem_conn(cctx, ca2, sess, NULL);
            ok(r.ok && r.reused, "and on another SSL_CTX of site a");
            r = mem_conn(cctx, cb, sess, NULL);
            ok(r.ok, "site b completes the handshake");
            ok(!r.reused, "but not by resuming site a's session");
        }
        SSL_SESSION_free(sess);
        SSL_CTX_free(ca);
        SSL_CTX_free(cb);
        SSL_CTX_free(ca2);
        SSL_CTX_free(cctx);
    }
}

static int
sni_switch(SSL *ssl, int *al, void *arg)
{
    return SSL_set_SSL_CTX(ssl, arg) == arg ? SSL_TLSEXT_ERR_OK
                                            : SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void
test_sni(void)
{
    for (size_t m = 0; m < GH_NELEM(modes); m++) {
        const struct mode *md = &modes[m];
        struct srv_cfg l = { md->version, md->tickets, SRV_SHARED, 1,
                             "listener" };
        struct srv_cfg s = l;
        SSL_CTX *lc, *sc, *cctx = client_ctx(md->version, md->tickets);
        SSL_SESSION *sess = NULL;
        struct conn_res r;
        char name[64];

        s.context = "site-a";
        lc = server_ctx(&l);
        sc = server_ctx(&s);
        SSL_CTX_set_tlsext_servername_callback(lc, sni_switch);
        SSL_CTX_set_tlsext_servername_arg(lc, sc);
        snprintf(name, sizeof(name), "servername callback switching "
                 "SSL_CTX: %s", md->name);
        subtest(name) {
            r = mem_conn(cctx, lc, NULL, &sess);
            ok(r.ok && !r.reused && r.srv_ctx == sc,
               "full handshake, switched to the site's SSL_CTX");
            for (int i = 0; i < 3; i++) {
                r = mem_conn(cctx, lc, sess, NULL);
                ok(r.ok && r.reused && r.srv_ctx == sc,
                   "resumed, on the site's SSL_CTX (%d)", i + 1);
            }
        }
        SSL_SESSION_free(sess);
        SSL_CTX_free(lc);
        SSL_CTX_free(sc);
        SSL_CTX_free(cctx);
    }
}

/* ------------------------------------------------------------------ */

static void
test_bytes_api(void)
{
    struct gh_shm s;
    gh_off root, again;
    uint8_t id[64], der[GH_TLSCACHE_DER_MAX + 16], buf[GH_TLSCACHE_DER_MAX];
    struct gh_tlscache_stats st, st2;
    char err[256];
    int bad = 0;

    segment(&s, 2 << 20);
    root = new_cache(&s, 64 * 1024, 60);

    subtest("create, store, lookup, replace, remove") {
        again = root;
        ok(gh_tlscache_create(&s, 64 * 1024, 120, &again, err, sizeof(err))
           == GH_OK && again == root, "same size again: kept");
        is_int(cstats(&s, root).timeout_s, 120, "with the new timeout");
        again = 0;
        ok(gh_tlscache_create(&s, 1000, 60, &again, err, sizeof(err))
           == GH_ERR, "below the minimum: refused");
        ok(strstr(err, "minimum") != NULL, "says why: %s", err);
        ok(gh_tlscache_create(&s, 64 * 1024, 0, &again, err, sizeof(err))
           == GH_ERR, "timeout 0 refused");

        is_int(store_fake(&s, root, 1, 1, 300), GH_OK, "stored");
        is_int(has_fake(&s, root, 1, 1, 300), 1, "found, same bytes");
        is_int(store_fake(&s, root, 1, 2, 500), GH_OK, "stored again");
        is_int(has_fake(&s, root, 1, 2, 500), 1, "the new bytes replaced "
               "the old");
        is_int(cstats(&s, root).entries, 1, "one entry");
        fake_id(id, 1);
        is_int(gh_tlscache_lookup(&s, root, "ctx", 3, id, 32, buf, 499),
               GH_DECLINED, "a buffer too small: a miss");
        is_int(gh_tlscache_lookup(&s, root, "ctx", 3, id, 31, buf,
                                  sizeof(buf)), GH_DECLINED,
               "a shorter ID: a miss");
        is_int(gh_tlscache_lookup(&s, root, "ctz", 3, id, 32, buf,
                                  sizeof(buf)), GH_DECLINED,
               "another context: a miss");
        is_int(gh_tlscache_lookup(&s, root, "ctx", 2, id, 32, buf,
                                  sizeof(buf)), GH_DECLINED,
               "a shorter context: a miss");
        is_int(gh_tlscache_lookup(&s, root, "ctx", 3, id, 32, buf,
                                  sizeof(buf)), 500, "the right key: 500");
        is_int(gh_tlscache_remove(&s, root, "ctx", 3, id, 32), GH_OK,
               "removed");
        is_int(gh_tlscache_remove(&s, root, "ctx", 3, id, 32), GH_DECLINED,
               "not twice");
        is_int(has_fake(&s, root, 1, 2, 500), 0, "gone");
        st = cstats(&s, root);
        ok(st.entries == 0 && st.bytes == 0, "empty, 0 bytes");
        is_int(st.removed, 1, "one removal counted");
        ok(check(&s, root, "after the basics"), "check");
    }

    subtest("hostile sizes and garbage IDs") {
        st = cstats(&s, root);
        memset(der, 0xab, sizeof(der));
        RAND_bytes(id, sizeof(id));
        is_int(gh_tlscache_store(&s, root, "c", 1, id, 0, der, 100),
               GH_DECLINED, "store: ID of 0 bytes");
        is_int(gh_tlscache_store(&s, root, "c", 1, id, 33, der, 100),
               GH_DECLINED, "store: ID of 33 bytes");
        is_int(gh_tlscache_store(&s, root, id, 33, id, 32, der, 100),
               GH_DECLINED, "store: context of 33 bytes");
        is_int(gh_tlscache_store(&s, root, "c", 1, id, 32, der, 0),
               GH_DECLINED, "store: DER of 0 bytes");
        is_int(gh_tlscache_store(&s, root, "c", 1, id, 32, der,
                                 GH_TLSCACHE_DER_MAX + 1), GH_DECLINED,
               "store: DER over the maximum");
        is_int(gh_tlscache_store(&s, root, "c", 1, id, 32, der,
                                 GH_TLSCACHE_DER_MAX), GH_OK,
               "store: DER of the maximum");
        is_int(gh_tlscache_lookup(&s, root, "c", 1, id, 32, buf,
                                  sizeof(buf)), GH_TLSCACHE_DER_MAX,
               "and found");
        is_int(gh_tlscache_lookup(&s, root, "c", 1, id, 0, buf,
                                  sizeof(buf)), GH_DECLINED,
               "lookup: ID of 0 bytes");
        is_int(gh_tlscache_lookup(&s, root, "c", 1, id, 64, buf,
                                  sizeof(buf)), GH_DECLINED,
               "lookup: ID of 64 bytes");
        is_int(gh_tlscache_lookup(&s, root, id, 64, id, 32, buf,
                                  sizeof(buf)), GH_DECLINED,
               "lookup: context of 64 bytes");
        for (int i = 0; i < 2000; i++) {
            size_t len = 1 + rnd() % 32;

            RAND_bytes(id, (int) len);
            if (gh_tlscache_lookup(&s, root, "c", 1, id, len, buf,
                                   sizeof(buf)) != GH_DECLINED)
                bad++;
        }
        is_int(bad, 0, "2000 random IDs: all misses");
        st2 = cstats(&s, root);
        is_int(st2.fails, st.fails + 5, "5 refused stores counted");
        is_int(st2.misses, st.misses + 2003, "2003 misses counted");
        is_int(gh_tlscache_lookup(&s, 0, "c", 1, id, 32, buf, sizeof(buf)),
               GH_ERR, "root 0: GH_ERR");
        is_int(gh_tlscache_lookup(&s, 8, "c", 1, id, 32, buf, sizeof(buf)),
               GH_ERR, "a root that is not one: GH_ERR");
        is_int(gh_tlscache_store(&s, s.size - 8, "c", 1, id, 32, der, 10),
               GH_ERR, "a root past the end: GH_ERR");
        ok(check(&s, root, "after garbage"), "check");
    }

    subtest("destroy gives everything back") {
        uint64_t total, before, after;

        gh_slab_pages(&s, &total, &before);
        again = new_cache(&s, 1 << 20, 60);
        for (int i = 0; i < 500; i++)
            (void) store_fake(&s, again, (uint64_t) i, 0, 200 + i);
        is_int(cstats(&s, again).entries, 500, "500 stored");
        gh_tlscache_destroy(&s, again);
        gh_slab_pages(&s, &total, &after);
        is_int(after, before, "every page back");
        is_int(cstats(&s, again).limit, 0, "no cache there any more");
        ok(gh_slab_invalid_frees(&s) == 0, "no invalid free");
    }
    gh_shm_close(&s);
}

/* ------------------------------------------------------------------ */

static void
test_eviction(void)
{
    struct gh_shm s;
    gh_off root;
    struct gh_tlscache_stats st;
    int over = 0, refused = 0, lost = 0;

    segment(&s, 2 << 20);
    root = new_cache(&s, GH_TLSCACHE_MIN, 300);

    subtest("a tiny budget: the least recently used go") {
        for (uint64_t i = 0; i < 3000; i++) {
            if (store_fake(&s, root, i, 0, 100 + (size_t) (i * 7919 % 1100))
                != GH_OK)
                refused++;
            st = cstats(&s, root);
            if (st.bytes > st.limit && over++ < 3)
                diag("store %llu: %llu bytes over %llu",
                     (unsigned long long) i, (unsigned long long) st.bytes,
                     (unsigned long long) st.limit);
        }
        st = cstats(&s, root);
        is_int(refused, 0, "3000 stores, none refused");
        is_int(over, 0, "the bytes used never went over the budget");
        ok(st.entries > 5 && st.bytes > st.limit / 2,
           "%llu sessions in %llu of %llu bytes",
           (unsigned long long) st.entries, (unsigned long long) st.bytes,
           (unsigned long long) st.limit);
        is_int(st.evictions, 3000 - st.entries, "every other one evicted");
        for (uint64_t i = 0; i < 100; i++)
            lost += has_fake(&s, root, i, 0, 100 + (size_t) (i * 7919 % 1100))
                    != 0;
        is_int(lost, 0, "the oldest are gone");
        is_int(has_fake(&s, root, 2999, 0, 100 + 2999 * 7919 % 1100), 1,
               "the newest is there");
        ok(check(&s, root, "after eviction"), "check");

        /* A is looked up after every store, B never: B goes, A stays. */
        (void) store_fake(&s, root, 10000, 0, 400);
        (void) store_fake(&s, root, 10001, 0, 400);
        for (uint64_t i = 0; i < 200; i++) {
            (void) has_fake(&s, root, 10000, 0, 400);
            (void) store_fake(&s, root, 20000 + i, 0, 300);
        }
        is_int(has_fake(&s, root, 10000, 0, 400), 1, "the one in use stays");
        is_int(has_fake(&s, root, 10001, 0, 400), 0,
               "the one stored with it but unused went");
        ok(check(&s, root, "after LRU"), "check");
    }
    gh_shm_close(&s);

    subtest("a full slab: the cache evicts its own to make room") {
        struct gh_slab_stats ss;
        uint64_t fails = 0;
        int cls;

        segment(&s, 1 << 20);
        /* A budget far above the segment: only the slab bounds it. */
        root = new_cache(&s, 16 << 20, 300);
        cls = gh_slab_class(&s, sizeof(struct tc_entry) + 1000);
        for (uint64_t i = 0; i < 5000; i++)
            if (store_fake(&s, root, i, 0, 1000) != GH_OK)
                fails++;
        st = cstats(&s, root);
        gh_slab_stats(&s, cls, &ss);
        is_int(fails, 0, "5000 stores of 1 KiB in a 1 MiB segment, all "
               "stored");
        ok(st.evictions > 4000, "%llu evicted for the slab's sake, %llu "
           "left", (unsigned long long) st.evictions,
           (unsigned long long) st.entries);
        is_int(ss.used, st.entries, "the slab holds exactly the entries");
        is_int(has_fake(&s, root, 4999, 0, 1000), 1, "the newest is there");
        ok(check(&s, root, "slab full"), "check");
        gh_shm_close(&s);
    }

    subtest("a real session under a tiny budget") {
        struct srv_cfg cfg = { TLS1_2_VERSION, 0, SRV_SHARED, 0, "tiny" };
        gh_off saved = cache_root;
        SSL_SESSION *first = NULL, *last = NULL;
        SSL_CTX *sctx, *cctx = client_ctx(TLS1_2_VERSION, 0);
        struct conn_res r;
        int full = 0;

        cache_root = new_cache(&shm, GH_TLSCACHE_MIN, 300);
        sctx = server_ctx(&cfg);
        for (int i = 0; i < 120; i++) {
            SSL_SESSION *x = NULL;

            r = mem_conn(cctx, sctx, NULL, &x);
            full += r.ok && !r.reused;
            if (i == 0)
                first = x;
            else {
                SSL_SESSION_free(last);
                last = x;
            }
        }
        is_int(full, 120, "120 full handshakes");
        st = cstats(&shm, cache_root);
        ok(st.evictions > 0 && st.bytes <= st.limit,
           "%llu evicted, %llu sessions in %llu bytes",
           (unsigned long long) st.evictions,
           (unsigned long long) st.entries, (unsigned long long) st.bytes);
        r = mem_conn(cctx, sctx, first, NULL);
        ok(r.ok && !r.reused, "the first session was evicted: full "
           "handshake");
        r = mem_conn(cctx, sctx, last, NULL);
        ok(r.ok && r.reused, "the last one resumes");
        ok(check(&shm, cache_root, "tiny"), "check");
        SSL_SESSION_free(first);
        SSL_SESSION_free(last);
        SSL_CTX_free(sctx);
        SSL_CTX_free(cctx);
        gh_tlscache_destroy(&shm, cache_root);
        cache_root = saved;
    }
}

/* ------------------------------------------------------------------ */

static void
test_expiry(void)
{
    struct gh_shm s;
    struct gh_tlscache_stats st;
    gh_off root;
    int left = 0;

    tc_clock = fake_clock;
    fake_now = 1000000;
    segment(&s, 2 << 20);
    root = new_cache(&s, 1 << 20, 10);

    subtest("sessions expire after the timeout") {
        (void) store_fake(&s, root, 1, 0, 300);
        fake_now += 9999;
        is_int(has_fake(&s, root, 1, 0, 300), 1, "found at 9.999 s");
        fake_now += 1;
        is_int(has_fake(&s, root, 1, 0, 300), 0, "gone at 10 s");
        st = cstats(&s, root);
        ok(st.expired == 1 && st.entries == 0 && st.bytes == 0,
           "counted as expired, removed");

        /* Used until 9 s after being stored: expires all the same. */
        (void) store_fake(&s, root, 2, 0, 300);
        for (int i = 0; i < 9; i++) {
            fake_now += 1000;
            left += has_fake(&s, root, 2, 0, 300);
        }
        fake_now += 1000;
        is_int(left, 9, "hit every second for 9 s");
        is_int(has_fake(&s, root, 2, 0, 300), 0, "and gone at 10 s anyway");

        for (uint64_t i = 0; i < 10; i++)
            (void) store_fake(&s, root, 100 + i, 0, 300);
        fake_now += 5000;
        (void) store_fake(&s, root, 200, 0, 300);
        is_int(gh_tlscache_sweep(&s, root, 100), 0,
               "a sweep at 5 s: nothing idle for long enough");
        fake_now += 5000;
        is_int(gh_tlscache_sweep(&s, root, 4), 4, "at 10 s: 4 when asked "
               "for 4");
        is_int(gh_tlscache_sweep(&s, root, 100), 6, "then the other 6");
        is_int(cstats(&s, root).entries, 1, "the younger one is left");
        fake_now += 5000;
        for (uint64_t i = 0; i < 3; i++)
            (void) store_fake(&s, root, 300 + i, 0, 300);
        is_int(cstats(&s, root).entries, 3, "stores drop idle sessions from "
               "the tail as they go");
        ok(check(&s, root, "after expiry"), "check");
    }
    gh_shm_close(&s);

    subtest("an expired session is not resumed") {
        struct srv_cfg cfg = { TLS1_2_VERSION, 0, SRV_SHARED, 0, "expiry" };
        gh_off saved = cache_root;
        SSL_CTX *sctx, *cctx = client_ctx(TLS1_2_VERSION, 0);
        SSL_SESSION *sess = NULL;
        struct conn_res r;

        cache_root = new_cache(&shm, 1 << 20, 60);
        sctx = server_ctx(&cfg);
        r = mem_conn(cctx, sctx, NULL, &sess);
        ok(r.ok && !r.reused, "full handshake");
        fake_now += 59000;
        r = mem_conn(cctx, sctx, sess, NULL);
        ok(r.ok && r.reused, "resumed 59 s later");
        fake_now += 1000;
        r = mem_conn(cctx, sctx, sess, NULL);
        ok(r.ok && !r.reused, "a full handshake at 60 s (OpenSSL's own "
           "clock says 0 s)");
        is_int(cstats(&shm, cache_root).expired, 1, "expired by the cache");
        SSL_SESSION_free(sess);
        SSL_CTX_free(sctx);
        SSL_CTX_free(cctx);
        gh_tlscache_destroy(&shm, cache_root);
        cache_root = saved;
    }
    tc_clock = tc_clock_mono;
}

/* ------------------------------------------------------------------ */

static struct tc_entry *
newest(struct gh_shm *s, gh_off root)
{
    struct tc_ctx x;

    if (tc_get(&x, s, root) != GH_OK)
        abort();
    return tc_entry_at(&x, x.r->head);
}

static void
fix_sum(struct gh_shm *s, gh_off root, struct tc_entry *e)
{
    struct tc_ctx x;

    if (tc_get(&x, s, root) != GH_OK)
        abort();
    e->sum = tc_sum(x.r->seed, e->der, e->der_len);
}

static void
test_corrupt(void)
{
    struct srv_cfg cfg = { TLS1_2_VERSION, 0, SRV_SHARED, 0, "corrupt" };
    gh_off saved = cache_root;
    SSL_CTX *sctx, *cctx = client_ctx(TLS1_2_VERSION, 0);
    SSL_SESSION *sess = NULL, *other = NULL;
    struct gh_tlscache_stats st, st2;
    struct tc_entry *e;
    struct conn_res r;
    uint8_t buf[GH_TLSCACHE_DER_MAX];
    const unsigned char *sid;
    unsigned int sid_len;

    cache_root = new_cache(&shm, 1 << 20, 300);
    sctx = server_ctx(&cfg);

    subtest("damaged sessions in the segment: a miss, never a crash") {
        r = mem_conn(cctx, sctx, NULL, &other);
        r = mem_conn(cctx, sctx, NULL, &sess);
        e = newest(&shm, cache_root);
        ok(r.ok && e != NULL, "a session stored");

        e->der[e->der_len / 2] ^= 0x40;
        st = cstats(&shm, cache_root);
        r = mem_conn(cctx, sctx, sess, NULL);
        st2 = cstats(&shm, cache_root);
        ok(r.ok && !r.reused, "one flipped bit: full handshake");
        is_int(st2.corrupt, st.corrupt + 1, "counted as corrupt");
        ok(st2.misses > st.misses && st2.hits == st.hits, "as a miss");

        /* Checksum right, bytes wrong: OpenSSL cannot decode them. */
        SSL_SESSION_free(sess);
        sess = NULL;
        r = mem_conn(cctx, sctx, NULL, &sess);
        e = newest(&shm, cache_root);
        RAND_bytes(e->der, (int) e->der_len);
        fix_sum(&shm, cache_root, e);
        st = cstats(&shm, cache_root);
        r = mem_conn(cctx, sctx, sess, NULL);
        st2 = cstats(&shm, cache_root);
        ok(r.ok && !r.reused, "random bytes: full handshake");
        is_int(st2.corrupt, st.corrupt + 1, "corrupt");
        ok(st2.hits == st.hits && st2.misses == st.misses + 1,
           "a miss, not a hit");
        sid = SSL_SESSION_get_id(sess, &sid_len);
        is_int(gh_tlscache_lookup(&shm, cache_root, "corrupt", 7, sid,
                                  sid_len, buf, sizeof(buf)), GH_DECLINED,
               "and dropped");

        /* A whole valid session, but another one: ID mismatch. */
        SSL_SESSION_free(sess);
        sess = NULL;
        r = mem_conn(cctx, sctx, NULL, &sess);
        {
            unsigned char *p = buf;
            int n = i2d_SSL_SESSION(other, &p);

            sid = SSL_SESSION_get_id(sess, &sid_len);
            ok(n > 0 && gh_tlscache_store(&shm, cache_root, "corrupt", 7,
                                          sid, sid_len, buf, (size_t) n)
                        == GH_OK, "another session stored under its ID");
        }
        r = mem_conn(cctx, sctx, sess, NULL);
        ok(r.ok && !r.reused, "another session's DER under this ID: full "
           "handshake");

        /* Truncated: the DER length shortened (checksum fixed). */
        SSL_SESSION_free(sess);
        sess = NULL;
        r = mem_conn(cctx, sctx, NULL, &sess);
        e = newest(&shm, cache_root);
        e->der_len /= 2;
        fix_sum(&shm, cache_root, e);
        r = mem_conn(cctx, sctx, sess, NULL);
        ok(r.ok && !r.reused, "half a session: full handshake");

        /* A garbage session ID from the client. */
        {
            SSL_SESSION *g = SSL_SESSION_dup(other);
            unsigned char gid[32];

            RAND_bytes(gid, sizeof(gid));
            ok(g != NULL && SSL_SESSION_set1_id(g, gid, sizeof(gid)),
               "a session with a random ID");
            r = mem_conn(cctx, sctx, g, NULL);
            ok(r.ok && !r.reused, "full handshake");
            SSL_SESSION_free(g);
        }
        ok(check(&shm, cache_root, "after damage"), "check passes");

        /* The original session, put back intact, resumes again. */
        r = mem_conn(cctx, sctx, other, NULL);
        ok(r.ok && r.reused, "an undamaged session still resumes");

        /* A wild link: lookups stop there, check() says so. */
        e = newest(&shm, cache_root);
        e->hnext = 8;
        st = cstats(&shm, cache_root);
        for (int i = 0; i < 50; i++)
            (void) store_fake(&shm, cache_root, (uint64_t) i, 0, 200);
        for (int i = 0; i < 50; i++)
            (void) has_fake(&shm, cache_root, (uint64_t) i, 0, 200);
        ok(1, "stores and lookups over a wild link: no crash");
        {
            char err[256];

            ok(gh_tlscache_check(&shm, cache_root, err, sizeof(err))
               == GH_ERR, "check reports it: %s", err);
        }
    }
    SSL_SESSION_free(sess);
    SSL_SESSION_free(other);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    cache_root = saved;     /* the damaged one is left behind, leaked */
}

/* ------------------------------------------------------------------ */

static void
test_kill_holder(void)
{
    struct srv_cfg cfg = { TLS1_2_VERSION, 0, SRV_SHARED, 0, NULL };
    struct worker w[WORKERS];
    SSL_CTX *cctx = client_ctx(TLS1_2_VERSION, 0);
    SSL_SESSION *sess = NULL;
    volatile int *flag = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct gh_tlscache_stats st;
    struct conn_res r;
    int bad = 0, n, status;
    pid_t pid;

    subtest("a process killed holding the cache lock") {
        workers_start(w, &cfg);
        r = worker_conn(&w[0], cctx, NULL, &sess);
        ok(r.ok && !r.reused, "a full handshake");
        st = cstats(&shm, cache_root);
        *flag = 0;
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            struct tc_ctx x;

            if (tc_get(&x, &shm, cache_root) != GH_OK || tc_lock(&x) != GH_OK)
                _exit(1);
            /* Half an operation: the accounting is wrong until undone. */
            tc_set_locked(&x, &x.r->used, x.r->used + 12345);
            tc_set_locked(&x, &x.r->head, 0);
            *flag = 1;
            for (;;)
                pause();
        }
        for (int i = 0; i < 5000 && !*flag; i++)
            usleep(1000);
        ok(*flag, "it holds the lock, mid-operation");
        kill(pid, SIGKILL);
        ok(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status),
           "killed");
        n = resume_round(w, cctx, sess, &bad);
        is_int(bad, 0, "the workers go on: 20 handshakes");
        is_int(n, 20, "all 20 resumed");
        ok(cstats(&shm, cache_root).repairs > st.repairs,
           "the next holder repaired");
        ok(check(&shm, cache_root, "after the kill"),
           "its half-done operation was rolled back");
        is_int(workers_stop(w), WORKERS, "the workers exit cleanly");
    }
    SSL_SESSION_free(sess);
    SSL_CTX_free(cctx);
    munmap((void *) (uintptr_t) flag, 4096);
}

/* ------------------------------------------------------------------ */
/* A crash at every step. */

static long hook_left, hook_steps;

static void
hook_count(void)
{
    hook_steps++;
}

static void
hook_die_thread(void)
{
    if (--hook_left == 0) {
        tc_hook = NULL;
        pthread_exit(NULL);
    }
}

static void
hook_die_proc(void)
{
    if (--hook_left == 0)
        (void) kill(getpid(), SIGKILL);
}

struct crash_case {
    const char *name;
    void      (*setup)(struct gh_shm *s, gh_off root);
    void      (*op)(struct gh_shm *s, gh_off root);
    uint64_t    touched;        /* fake id the op changes (not checked) */
};

#define CRASH_KEEP 40           /* fake ids 0 .. 39 must survive */

static void
setup_fill(struct gh_shm *s, gh_off root)
{
    for (uint64_t i = 0; i < CRASH_KEEP; i++)
        (void) store_fake(s, root, i, 0, 200);
    (void) store_fake(s, root, 1000, 0, 200);
    for (uint64_t i = 0; i < CRASH_KEEP; i++)
        (void) has_fake(s, root, i, 0, 200);     /* 1000 is the LRU tail */
}

static void
op_store_new(struct gh_shm *s, gh_off root)
{
    (void) store_fake(s, root, 2000, 0, 300);
}

static void
op_store_replace(struct gh_shm *s, gh_off root)
{
    (void) store_fake(s, root, 1000, 1, 250);
}

static void
op_lookup(struct gh_shm *s, gh_off root)
{
    (void) has_fake(s, root, 1000, 0, 200);
}

static void
op_remove(struct gh_shm *s, gh_off root)
{
    uint8_t id[32];

    fake_id(id, 1000);
    (void) gh_tlscache_remove(s, root, "ctx", 3, id, 32);
}

static void
setup_full(struct gh_shm *s, gh_off root)
{
    /* At the budget: the next store must evict 1000 (the tail). */
    setup_fill(s, root);
    while (cstats(s, root).bytes + 2 * 512 <= cstats(s, root).limit)
        (void) store_fake(s, root, 3000 + cstats(s, root).entries, 0, 200);
    (void) store_fake(s, root, 1000, 0, 200);
    for (uint64_t i = 0; i < CRASH_KEEP; i++)
        (void) has_fake(s, root, i, 0, 200);
}

static void
op_store_evict(struct gh_shm *s, gh_off root)
{
    (void) store_fake(s, root, 2000, 0, 1500);
}

static void
op_sweep(struct gh_shm *s, gh_off root)
{
    fake_now += 301000;
    (void) gh_tlscache_sweep(s, root, 1);   /* 1000, the LRU tail */
    fake_now -= 301000;
}

static void
op_repair(struct gh_shm *s, gh_off root)
{
    char err[256];

    (void) gh_tlscache_check(s, root, err, sizeof(err));
}

static const struct crash_case crash_cases[] = {
    { "store a new session", setup_fill, op_store_new, 2000 },
    { "store over an existing one", setup_fill, op_store_replace, 1000 },
    { "store that evicts", setup_full, op_store_evict, 2000 },
    { "lookup (moves to the LRU head)", setup_fill, op_lookup, 1000 },
    { "remove", setup_fill, op_remove, 1000 },
    { "sweep", setup_fill, op_sweep, 1000 },
};

struct crash_run {
    struct gh_shm *s;
    gh_off         root;
    void         (*op)(struct gh_shm *, gh_off);
    long           die;
};

static void *
crash_thread(void *arg)
{
    struct crash_run *r = arg;

    if (r->die) {
        hook_left = r->die;
        tc_hook = hook_die_thread;
    } else {
        hook_steps = 0;
        tc_hook = hook_count;
    }
    r->op(r->s, r->root);
    tc_hook = NULL;
    return r;
}

static int
crash_in_thread(struct gh_shm *s, gh_off root,
                void (*op)(struct gh_shm *, gh_off), long die)
{
    struct crash_run r = { s, root, op, die };
    pthread_t t;
    void *ret;

    if (pthread_create(&t, NULL, crash_thread, &r) != 0
        || pthread_join(t, &ret) != 0)
        abort();
    return ret == NULL;
}

static int
crash_in_child(struct gh_shm *s, gh_off root,
               void (*op)(struct gh_shm *, gh_off), long die)
{
    int status;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        alarm(10);
        hook_left = die;
        tc_hook = hook_die_proc;
        op(s, root);
        _exit(0);
    }
    return waitpid(pid, &status, 0) == pid && WIFSIGNALED(status)
           && WTERMSIG(status) == SIGKILL;
}

/* Objects the slab holds (small classes and runs). */
static uint64_t
slab_objects(struct gh_shm *s)
{
    uint64_t n = 0;

    for (int c = -1; c < (int) gh_slab_nclasses(s); c++) {
        struct gh_slab_stats st;

        gh_slab_stats(s, c, &st);
        n += c >= 0 ? st.used : st.allocs - st.frees;
    }
    return n;
}

static void
test_crash_every_step(void)
{
    struct gh_shm s;
    unsigned char *pre;
    int crashes = 0;
    double t0 = now_s();

    tc_clock = fake_clock;
    fake_now = 5000000;
    segment(&s, 1 << 20);
    pre = malloc(s.size);

    for (size_t ci = 0; ci < GH_NELEM(crash_cases); ci++) {
        const struct crash_case *cc = &crash_cases[ci];
        char name[96];

        snprintf(name, sizeof(name), "a crash at every step: %s", cc->name);
        subtest(name) {
            int bad_death = 0, bad_check = 0, bad_keep = 0, bad_leak = 0;
            int bad_after = 0, killed = 0, chains = 0, bad_rep = 0;
            uint64_t base;
            gh_off root;
            long n;

            (void) gh_slab_init(&s, (char [64]) { 0 }, 64);
            root = new_cache(&s, 32 * 1024, 300);
            cc->setup(&s, root);
            base = slab_objects(&s) - cstats(&s, root).entries;
            memcpy(pre, s.hdr, s.size);
            ok(!crash_in_thread(&s, root, cc->op, 0), "the op completes");
            n = hook_steps;
            ok(n >= 4, "%ld steps in its critical sections", n);
            ok(check(&s, root, "after the op"), "check after the op");

            for (long k = 1; k <= n; k++) {
                uint64_t repairs, leak;

                memcpy(s.hdr, pre, s.size);
                repairs = cstats(&s, root).repairs;
                crashes++;
                if (k == n / 2 ? !crash_in_child(&s, root, cc->op, k)
                               : !crash_in_thread(&s, root, cc->op, k)) {
                    bad_death++;
                    continue;
                }
                fake_now = 5000000;     /* op_sweep died with it moved */
                killed += k == n / 2;
                /* Now and then the repairers die too, at each step. */
                if (k % 4 == 0 || k == n) {
                    for (long j = 1; j < 1000; j++) {
                        crashes++;
                        if (!crash_in_thread(&s, root, op_repair, j))
                            break;
                    }
                    chains++;
                }
                if (!check(&s, root, "after a crash")) {
                    if (bad_check++ < 3)
                        diag("died at step %ld of %ld", k, n);
                    continue;
                }
                if (cstats(&s, root).repairs <= repairs)
                    bad_rep++;
                for (uint64_t i = 0; i < CRASH_KEEP; i++)
                    if (i != cc->touched
                        && has_fake(&s, root, i, 0, 200) != 1)
                        bad_keep++;
                leak = slab_objects(&s) - cstats(&s, root).entries - base;
                if (leak > 1 && bad_leak++ < 3)
                    diag("step %ld: %llu objects lost", k,
                         (unsigned long long) leak);
                if (store_fake(&s, root, 5000, 0, 300) != GH_OK
                    || has_fake(&s, root, 5000, 0, 300) != 1
                    || !check(&s, root, "after reuse"))
                    bad_after++;
            }
            is_int(bad_death, 0, "died at each of %ld steps", n);
            is_int(killed, 1, "once by SIGKILL of a process");
            is_int(bad_check, 0, "each time repaired: both checks pass");
            is_int(bad_rep, 0, "each time a repair was counted");
            is_int(bad_keep, 0, "the other sessions are all intact");
            is_int(bad_leak, 0, "at most one object lost per crash");
            is_int(bad_after, 0, "and the cache goes on working");
            ok(chains > 0, "%d times the repairers died too", chains);
        }
    }
    diag("%d crashes in %.2f s", crashes, now_s() - t0);
    free(pre);
    gh_shm_close(&s);
    tc_clock = tc_clock_mono;
}

/* ------------------------------------------------------------------ */
/* Several processes at once, some killed. */

#define STRESS_KIDS 4
#define STRESS_IDS  300

struct stress_ctl {
    int      stop;
    uint64_t ops[STRESS_KIDS];
    uint64_t hits[STRESS_KIDS];
};

static size_t
stress_len(uint64_t i)
{
    return 60 + (size_t) (i * 37 % 1400);
}

static void
stress_kid(struct gh_shm *s, gh_off root, int slot, struct stress_ctl *ctl,
           long die)
{
    uint8_t id[32], der[GH_TLSCACHE_DER_MAX], want[GH_TLSCACHE_DER_MAX];
    char err[256];
    uint64_t n = 0;

    alarm(20);
    rng_state ^= (uint64_t) getpid() * 0x9e3779b97f4a7c15ULL;
    if (die) {
        hook_left = die;
        tc_hook = hook_die_proc;
    }
    while (!__atomic_load_n(&ctl->stop, __ATOMIC_ACQUIRE)) {
        uint64_t i = rnd() % STRESS_IDS, op = rnd() % 10;
        size_t len = stress_len(i);
        ssize_t got;

        fake_id(id, i);
        if (op < 5) {
            got = gh_tlscache_lookup(s, root, "ctx", 3, id, 32, der,
                                     sizeof(der));
            if (got >= 0) {
                fake_der(want, i, 0, len);
                if ((size_t) got != len || memcmp(der, want, len) != 0)
                    _exit(1);   /* the wrong bytes for this ID */
                ctl->hits[slot]++;
            } else if (got != GH_DECLINED)
                _exit(2);
        } else if (op < 9) {
            fake_der(der, i, 0, len);
            if (gh_tlscache_store(s, root, "ctx", 3, id, 32, der, len)
                == GH_ERR)
                _exit(3);
        } else if (gh_tlscache_remove(s, root, "ctx", 3, id, 32) == GH_ERR)
            _exit(4);
        if (++n % 2048 == 0
            && gh_tlscache_check(s, root, err, sizeof(err)) != GH_OK)
            _exit(5);
        __atomic_store_n(&ctl->ops[slot], ctl->ops[slot] + 1,
                         __ATOMIC_RELAXED);
    }
    _exit(0);
}

static pid_t
stress_spawn(struct gh_shm *s, gh_off root, int slot, struct stress_ctl *ctl)
{
    long die = rnd() % 3 == 0 ? 1 + (long) (rnd() % 400) : 0;
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0)
        stress_kid(s, root, slot, ctl, die);
    return pid;
}

static void
test_stress(void)
{
    struct gh_shm s;
    struct stress_ctl *ctl;
    pid_t pids[STRESS_KIDS];
    uint64_t base, ops = 0, hits = 0, leak;
    int kills = 0, bad_exit = 0, hooked = 0, status;
    double t0;
    gh_off root;

    segment(&s, 4 << 20);
    root = new_cache(&s, 64 * 1024, 300);
    base = slab_objects(&s);
    ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(ctl, 0, sizeof(*ctl));

    subtest("processes at once, some SIGKILLed") {
        for (int k = 0; k < STRESS_KIDS; k++)
            pids[k] = stress_spawn(&s, root, k, ctl);
        t0 = now_s();
        while (now_s() < t0 + 1.5) {
            pid_t pid;
            int k;

            usleep((useconds_t) (2000 + rnd() % 8000));
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                for (k = 0; k < STRESS_KIDS && pids[k] != pid; k++)
                    continue;
                if (k == STRESS_KIDS)
                    continue;
                if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
                    hooked++;
                else {
                    bad_exit++;
                    diag("kid %d: status %#x", k, status);
                }
                kills++;
                pids[k] = stress_spawn(&s, root, k, ctl);
            }
            k = (int) (rnd() % STRESS_KIDS);
            (void) kill(pids[k], SIGKILL);
            if (waitpid(pids[k], &status, 0) != pids[k]
                || !WIFSIGNALED(status)) {
                bad_exit++;
                diag("kid %d: status %#x", k, status);
            }
            kills++;
            pids[k] = stress_spawn(&s, root, k, ctl);
        }
        __atomic_store_n(&ctl->stop, 1, __ATOMIC_RELEASE);
        for (int k = 0; k < STRESS_KIDS; k++) {
            if (waitpid(pids[k], &status, 0) != pids[k])
                bad_exit++;
            else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
                hooked++;
                kills++;
            } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                bad_exit++;
                diag("kid %d at the end: status %#x", k, status);
            }
        }
        for (int k = 0; k < STRESS_KIDS; k++) {
            ops += ctl->ops[k];
            hits += ctl->hits[k];
        }
        diag("%.2f s, %llu operations, %llu hits, %d kills (%d inside a "
             "critical section), %llu repairs", now_s() - t0,
             (unsigned long long) ops, (unsigned long long) hits, kills,
             hooked, (unsigned long long) cstats(&s, root).repairs);
        is_int(bad_exit, 0, "every hit had the right bytes; none hung");
        ok(hooked > 0, "%d died inside a critical section", hooked);
        ok(cstats(&s, root).repairs > 0, "repaired");
        ok(check(&s, root, "after the stress"), "both checks pass");
        leak = slab_objects(&s) - cstats(&s, root).entries - base;
        ok(leak <= (uint64_t) kills, "%llu objects lost, at most one per "
           "kill (%d)", (unsigned long long) leak, kills);
        ok(cstats(&s, root).bytes <= cstats(&s, root).limit, "within the "
           "budget");
    }
    munmap(ctl, sizeof(*ctl));
    gh_shm_close(&s);
}

/* ------------------------------------------------------------------ */

static void
test_layout(void)
{
    subtest("layout is recorded") {
        /* Change any of these only together with TC_MAGIC or TK_MAGIC. */
        ok(TC_MAGIC == 0x4748544c53430001ULL, "cache magic, version 1");
        ok(TK_MAGIC == 0x4748544c534b0001ULL, "keys magic, version 1");
        is_int(sizeof(struct tc_root), 576, "cache root");
        is_int(offsetof(struct tc_root, lock), 64, "its lock");
        is_int(offsetof(struct tc_root, log_n), 128, "its journal");
        is_int(offsetof(struct tc_root, head), 400, "its LRU");
        is_int(offsetof(struct tc_root, hits), 432, "its counters");
        is_int(sizeof(struct tc_entry), 144, "entry header");
        is_int(offsetof(struct tc_entry, der), 144, "DER right after");
        is_int(sizeof(struct tk_root), 704, "key root");
        is_int(offsetof(struct tk_root, lock), 64, "its lock");
        is_int(offsetof(struct tk_root, slot), 192, "its slots");
        is_int(sizeof(struct tk_slot), 128, "key slot");
    }
}

static void
test_keys(void)
{
    subtest("key set") {
        struct gh_shm s;
        struct tk_root *r;
        union tk_key cur, prev;
        uint8_t names[6][16];
        gh_off root = 0, again;
        char err[256];
        int hp = -1, live = 0, dup = 0;
        const uint8_t zero[80] = { 0 };

        segment(&s, 1 << 20);
        ok(gh_tlskeys_create(&s, &root, err, sizeof(err)) == GH_OK,
           "created");
        again = root;
        ok(gh_tlskeys_create(&s, &again, err, sizeof(err)) == GH_OK
           && again == root, "again: kept");
        is_int(root % GH_SLAB_PAGE, 0, "on a page of its own");
        r = tk_get(&s, root);
        ok(tk_read(r, &cur, &prev, &hp) == GH_OK && hp == 0,
           "a current key, no previous one yet");
        memcpy(names[0], cur.k.name, 16);
        for (int i = 1; i < 6; i++) {
            ok(gh_tlskeys_rotate(&s, root) == GH_OK, "rotation %d", i);
            ok(tk_read(r, &cur, &prev, &hp) == GH_OK && hp == 1
               && memcmp(prev.k.name, names[i - 1], 16) == 0,
               "the old current is the previous one");
            memcpy(names[i], cur.k.name, 16);
        }
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < i; j++)
                dup += memcmp(names[i], names[j], 16) == 0;
        is_int(dup, 0, "six different names");
        for (int i = 0; i < TK_SLOTS; i++)
            live += memcmp(&r->slot[i].key, zero, sizeof(zero)) != 0;
        is_int(live, 2, "only two slots hold key bytes; the rest are wiped");
        is_int(kstats().generation >= 1, 1, "stats read");
        /* A rotator that died mid-write of the next slot. */
        r->slot[(r->gen + 1) % TK_SLOTS].seq |= 1;
        memset(&r->slot[(r->gen + 1) % TK_SLOTS].key, 0x5a, 80);
        ok(tk_read(r, &cur, &prev, &hp) == GH_OK
           && memcmp(cur.k.name, names[5], 16) == 0,
           "a half-written spare slot does not disturb readers");
        ok(gh_tlskeys_rotate(&s, root) == GH_OK
           && tk_read(r, &cur, &prev, &hp) == GH_OK
           && memcmp(prev.k.name, names[5], 16) == 0,
           "and the next rotation writes it whole");
        {
            union tk_key da, da2, db;

            ok(tk_derive(&cur, (const unsigned char *) "site-a", 6, &da)
               == GH_OK
               && tk_derive(&cur, (const unsigned char *) "site-a", 6, &da2)
                  == GH_OK
               && tk_derive(&cur, (const unsigned char *) "site-b", 6, &db)
                  == GH_OK, "keys derived for two sites");
            ok(memcmp(&da, &da2, sizeof(da)) == 0, "the same for a site");
            ok(memcmp(da.k.name, db.k.name, 16) == 0
               && memcmp(da.k.aes, db.k.aes, 32) != 0
               && memcmp(da.k.hmac, db.k.hmac, 32) != 0
               && memcmp(da.k.aes, cur.k.aes, 32) != 0,
               "same name, other keys for another site");
            OPENSSL_cleanse(&da, sizeof(da));
            OPENSSL_cleanse(&da2, sizeof(da2));
            OPENSSL_cleanse(&db, sizeof(db));
        }
        gh_tlskeys_destroy(&s, root);
        ok(tk_get(&s, root) == NULL, "destroyed");
        OPENSSL_cleanse(&cur, sizeof(cur));
        OPENSSL_cleanse(&prev, sizeof(prev));
        gh_shm_close(&s);
    }
}

/* Readers racing a rotator: never a torn key. */
static void
test_keys_race(void)
{
    subtest("readers during rotations see whole keys") {
        struct gh_shm s;
        gh_off root = 0;
        char err[256];
        pid_t pid;
        int status, torn = 0, reads = 0;
        double t0;

        segment(&s, 1 << 20);
        if (gh_tlskeys_create(&s, &root, err, sizeof(err)) != GH_OK)
            abort();
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            alarm(10);
            for (;;)
                if (gh_tlskeys_rotate(&s, root) != GH_OK)
                    _exit(1);
        }
        t0 = now_s();
        while (now_s() < t0 + 0.3) {
            union tk_key cur, prev;
            int hp;

            if (tk_read(tk_get(&s, root), &cur, &prev, &hp) != GH_OK)
                continue;
            reads++;
            /* RAND fills all 80 bytes; a wiped or torn copy would show
             * an all-zero 8-byte word, once in 2^64 otherwise. */
            for (int i = 0; i < 10; i++)
                if (cur.w[i] == 0 || (hp && prev.w[i] == 0))
                    torn++;
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        diag("%d reads, %llu rotations", reads,
             (unsigned long long) tk_get(&s, root)->gen);
        ok(reads > 1000, "many reads");
        is_int(torn, 0, "none torn");
        gh_shm_close(&s);
    }
}

/* ------------------------------------------------------------------ */

static void
bench(void)
{
    struct gh_shm s;
    gh_off root;
    uint8_t id[32], der[300], buf[GH_TLSCACHE_DER_MAX];
    int n = 100000, hits = 0;
    double t;

    segment(&s, 64 << 20);
    root = new_cache(&s, 48 << 20, 300);
    fake_der(der, 1, 0, sizeof(der));
    for (int round = 0; round < 2; round++) {
        t = now_s();
        for (int i = 0; i < n; i++) {
            fake_id(id, (uint64_t) i);
            (void) gh_tlscache_store(&s, root, "site", 4, id, 32, der,
                                     sizeof(der));
        }
        t = now_s() - t;
        diag("store: %.2f us per 300-byte session (%d, %s)", t * 1e6 / n,
             n, round == 0 ? "new, memory touched the first time"
                           : "replacing each");
    }
    t = now_s();
    for (int i = 0; i < n; i++) {
        fake_id(id, (uint64_t) (rnd() % (uint64_t) n));
        hits += gh_tlscache_lookup(&s, root, "site", 4, id, 32, buf,
                                   sizeof(buf)) > 0;
    }
    t = now_s() - t;
    diag("lookup: %.2f us per hit (%d of %d hits)", t * 1e6 / n, hits, n);
    gh_shm_close(&s);

    for (size_t m = 0; m < GH_NELEM(modes); m++) {
        const struct mode *md = &modes[m];
        struct srv_cfg cfg = { md->version, md->tickets, SRV_SHARED, 1,
                               "bench" };
        SSL_CTX *sctx = server_ctx(&cfg);
        SSL_CTX *cctx = client_ctx(md->version, md->tickets);
        SSL_SESSION *sess = NULL;
        double tf, tr;
        int k = 200, full = 0, res = 0;

        tf = now_s();
        for (int i = 0; i < k; i++) {
            SSL_SESSION *x = NULL;

            full += mem_conn(cctx, sctx, NULL, i == 0 ? &sess : &x).ok;
            SSL_SESSION_free(x);
        }
        tf = now_s() - tf;
        tr = now_s();
        for (int i = 0; i < k; i++)
            res += mem_conn(cctx, sctx, sess, NULL).reused;
        tr = now_s() - tr;
        diag("%s, in memory, both ends: %.0f full / %.0f resumed "
             "handshakes per second (%d, %d)", md->name, k / tf, k / tr,
             full, res);
        SSL_SESSION_free(sess);
        SSL_CTX_free(sctx);
        SSL_CTX_free(cctx);
    }
}

int
main(void)
{
    const char *seed = getenv("GH_TEST_SEED");
    char err[256];
    double t;

    alarm(120);     /* a deadlock fails the test instead of hanging it */
    signal(SIGPIPE, SIG_IGN);
    rng_state = seed != NULL ? strtoull(seed, NULL, 10)
                             : (uint64_t) time(NULL) ^ (uint64_t) getpid();
    if (rng_state == 0)
        rng_state = 1;
    diag("GH_TEST_SEED=%llu", (unsigned long long) rng_state);
    make_cert();
    segment(&shm, 16 << 20);
    cache_root = new_cache(&shm, 4 << 20, 300);
    if (gh_tlskeys_create(&shm, &keys_root, err, sizeof(err)) != GH_OK)
        abort();

    t = now_s();
    test_layout();
    test_bytes_api();
    test_eviction();
    test_expiry();
    test_keys();
    test_keys_race();
    diag("without OpenSSL: %.2f s", now_s() - t);
    t = now_s();
    test_workers();
    subtest("rotation, TLS 1.2 tickets") {
        test_rotation(TLS1_2_VERSION);
    }
    subtest("rotation, TLS 1.3 tickets") {
        test_rotation(TLS1_3_VERSION);
    }
    test_sites();
    test_sni();
    test_corrupt();
    test_kill_holder();
    diag("handshakes: %.2f s", now_s() - t);
    t = now_s();
    test_crash_every_step();
    test_stress();
    diag("crashes: %.2f s", now_s() - t);
    bench();
    ok(check(&shm, cache_root, "at the end"), "the shared cache checks out");
    EVP_PKEY_free(pkey);
    X509_free(cert);
    gh_shm_close(&shm);
    return done_testing();
}
