#ifndef GH_WORKER_TLS_H
#define GH_WORKER_TLS_H

/*
 * TLS termination: the OpenSSL server contexts of the sites (built at
 * config load), the shared session cache and ticket keys (shm/tlscache.h)
 * they use, and the per-connection SSL with its SNI site choice.
 *
 * Contexts.  Each site with a `tls` group gets one SSL_CTX, built by
 * gh_tls_build() when the config is loaded (by the master as root, and by
 * `gatehouse -t`), so certificates and keys are read before privileges are
 * dropped and re-read at every reload.  The SSL_CTX lives as long as the
 * conf (gh_conf_free() frees it); workers inherit it by fork().
 *
 * SNI.  A ClientHello callback (it runs before OpenSSL looks a session
 * up, so resumption stays per site) takes the server_name, picks the site
 * among the listener's with gh_route_site() (exact name, longest
 * wildcard, the site without hosts, the first site: the rules of the Host
 * header; no or an unknown name: the same fallbacks) and switches the SSL
 * to that site's SSL_CTX, with its certificates, protocols, ciphers,
 * groups, tickets on or off, client verification and OCSP response.
 * OpenSSL takes the session cache callbacks and the session lifetime
 * (ticket lifetime hint, resumption check) from the context an SSL is
 * made on, so gh_tls_new() makes it on the first site of the listener
 * that has a shared cache (else the default site): that site's
 * session_timeout is the address's.
 *
 * ALPN: "http/1.1" is selected when offered; a client that offers only
 * other protocols (only "h2") gets no ALPN and speaks HTTP/1.1 (RFC 7301
 * allows a server to ignore ALPN rather than fail).  The callback takes
 * its list from the context (per site), so h2 can be added later.
 *
 * Threads: none; the functions below are called by one process at a time
 * on its own objects.  Nothing here logs: errors go back in ERR buffers or
 * through gh_tls_error() for the caller to log.
 */

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "conf/conf.h"
#include "shm/shm.h"
#include "worker/core/gh.h"
#include "worker/listen.h"

/*
 * Where gh_tls_build() failed, for the config message: KEY is the tls key
 * ("ciphers", "client_ca", ...; "cert" or "key" with CERT the index into
 * t->certs, else CERT is -1).
 */
struct gh_tls_where {
    const char *key;
    int         cert;
};

/*
 * Config load: build SITE->tls->ctx from its parsed keys (reads every file
 * they name: certificates, keys, client_ca, ocsp_staple; checks keys
 * against certificates, validity dates, one certificate per key type,
 * cipher lists, groups).  SITE's name and first listen address must be
 * set (they make the session ID context).  GH_OK; or GH_ERR with ERR
 * ("FILE: why" or "why", without the config location) and *W saying which
 * key, ctx left NULL.  May block (files).  On GH_OK the caller must
 * arrange gh_tls_release(SITE->tls).
 */
int gh_tls_build(struct gh_site *site, struct gh_tls_where *w, char *err,
                 size_t errlen);
/* Free T's SSL_CTX and OCSP response (gh_conf_free()); T stays. */
void gh_tls_release(struct gh_tls *t);

/*
 * Master only, after gh_state_bind(), before forking: give every TLS site
 * of CONF its shared session cache (gh_tlscache_create() with its
 * session_cache and session_timeout; none when session_cache is 0) and
 * the daemon's ticket key set (gh_tlskeys_create(), at *KEYS_ROOT: 0 makes
 * one), and write the roots into conf->sites[i].tls.  Across reloads the
 * caller keeps *KEYS_ROOT (a static of the master), and a site's cache is
 * found again by site name and first listen address (a registry in the
 * master's memory) and kept, sessions and all, while its size stays the
 * same.  Caches of sites that went away, or replaced by a new size, are
 * not freed (old workers may still use them): they stay in the segment
 * until restart (TODO(#4): free them when their generation is gone).
 * GH_OK, or GH_ERR with ERR filled (segment full, no randomness).  Calling
 * it with no TLS site does nothing (*KEYS_ROOT untouched).
 */
int gh_tls_shm_bind(struct gh_conf *conf, struct gh_shm *shm,
                    uint64_t *keys_root, char *err, size_t errlen);

/*
 * Worker, after fork, before accepting: attach every TLS site's SSL_CTX to
 * its session cache (gh_tlscache_attach(), when it has one) and to the key
 * set at KEYS_ROOT (gh_tlskeys_attach(), when session_tickets is on; off:
 * SSL_OP_NO_TICKET, and TLS 1.3 resumption uses the cache).  The session
 * ID context is a hash of the site's name and first listen address, so a
 * session or ticket of one site never resumes on another.  Without a call
 * (tests, or after GH_ERR) a context has no session cache, and tickets
 * (when on) are sealed with OpenSSL's own keys of the context: made when
 * the config was loaded, the same in every worker, never rotated.  SHM is
 * borrowed for the life of the contexts.  GH_OK or GH_ERR (a root that is
 * not a cache or key set, out of memory): the worker may go on, with less
 * resumption, and should log it.
 */
int gh_tls_worker_init(const struct gh_conf *conf, struct gh_shm *shm,
                       uint64_t keys_root);

/* Checker, every gh_tls_rotation(): a new ticket key (gh_tlskeys_rotate).
 * GH_OK, or GH_ERR (no randomness, lock lost; the old keys stay). */
int gh_tls_rotate(struct gh_shm *shm, uint64_t keys_root);

/* The shortest ticket_rotation among the TLS sites with session_tickets,
 * 0 when none (the checker's rotation period). */
gh_msec gh_tls_rotation(const struct gh_conf *conf);

/* Is L a TLS address?  (Its sites all have tls, or none does: the loader
 * checks.) */
int gh_tls_listener(const struct gh_listener *l);

/*
 * A server SSL for client socket FD accepted on TLS listener L: on the
 * first site's SSL_CTX, in accept state, FD attached (SSL_set_fd: no BIO
 * to manage), L recorded for the SNI callback; the caller then drives
 * SSL_do_handshake() on the non-blocking socket.  L and its sites must
 * outlive the SSL.  NULL on failure (out of memory; the OpenSSL error
 * queue says more).  Free it with gh_tls_free().
 */
SSL *gh_tls_new(const struct gh_listener *l, int fd);

/*
 * Free SSL.  A connection closed without close_notify (a timeout, an
 * error, the client gone) would make OpenSSL drop its session from the
 * cache; this marks the SSL shut down first, as nginx does, so the session
 * stays resumable (a session of a fatal alert is removed by OpenSSL when
 * the alert is sent, whatever happens here).  Does not send anything: call
 * SSL_shutdown() before for a close_notify.  NULL is fine.
 */
void gh_tls_free(SSL *ssl);

/* The site the connection is for: chosen from SNI during the handshake;
 * before that (or without SNI) the default one.  NULL only for an SSL not
 * made by gh_tls_new(). */
const struct gh_site *gh_tls_site(const SSL *ssl);

/*
 * For a log line after SSL_do_handshake(), SSL_read() or SSL_write()
 * returned RET <= 0 on SSL: why, in a few words ("client offered only
 * TLSv1.1, below the lowest enabled protocol", "no cipher in common with
 * the client", "plain HTTP request on a TLS address", "client closed the
 * connection during the handshake", "client certificate: certificate has
 * expired"...), else OpenSSL's reason.  Reads errno for
 * SSL_ERROR_SYSCALL.  Empties the thread's OpenSSL error queue.  Returns
 * BUF.
 */
const char *gh_tls_error(SSL *ssl, int ret, char *buf, size_t len);

/*
 * After the handshake, for headers and logs.  Strings are static or BUF;
 * none holds a control character (safe in a header value).
 *
 * gh_tls_client_verify: "NONE" (no certificate: verify_client off or
 * optional), "SUCCESS", or "FAILED:reason" (optional: verified but
 * failed; with "on" the handshake fails instead) -- nginx's
 * $ssl_client_verify values.
 * gh_tls_client_subject: the client certificate's subject, RFC 2253
 * ("CN=alice,O=Example"), non-ASCII escaped; NULL when none.
 * gh_tls_protocol: "TLSv1.3"; gh_tls_cipher: "TLS_AES_128_GCM_SHA256";
 * gh_tls_servername: the SNI name as sent, or NULL;
 * gh_tls_alpn: "http/1.1" or NULL when none was selected;
 * gh_tls_resumed: 1 when the session was resumed (cache or ticket).
 */
const char *gh_tls_client_verify(const SSL *ssl, char *buf, size_t len);
const char *gh_tls_client_subject(const SSL *ssl, char *buf, size_t len);
const char *gh_tls_protocol(const SSL *ssl);
const char *gh_tls_cipher(const SSL *ssl);
const char *gh_tls_servername(const SSL *ssl);
const char *gh_tls_alpn(const SSL *ssl);
int gh_tls_resumed(const SSL *ssl);

/*
 * TLS to backends (an upstream's tls).  At config load: the client context
 * for T (TLS 1.2 and 1.3, certificate verification against T->ca or the
 * system's CAs when T->verify, the client certificate if any, a client
 * session cache fed by gh_tls_up_new()'s sessions).  NULL with WHY (and
 * *KEY: the tls key at fault, or NULL) on error.
 */
SSL_CTX *gh_tls_up_ctx(const struct gh_up_tls *t, const char **key,
                       char *why, size_t whylen);
/*
 * A client SSL on connected socket FD to server ADDR (its text, "ip:port")
 * of an upstream with tls T: SNI and the name or address to verify set,
 * resuming *SESS when there is one; the sessions the server hands out go
 * to *SESS (which must outlive the SSL: a per-worker slot of the server).
 * NULL on failure.
 */
SSL *gh_tls_up_new(const struct gh_up_tls *t, const char *addr, int fd,
                   SSL_SESSION **sess);

#endif
