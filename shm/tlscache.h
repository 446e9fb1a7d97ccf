#ifndef GH_SHM_TLSCACHE_H
#define GH_SHM_TLSCACHE_H

/*
 * TLS session resumption shared by every worker: a session cache and a set
 * of session-ticket keys, both in the segment, so a session made on one
 * worker resumes on any other.
 *
 * Session cache.  Each entry is one slab object: a header (the key, links,
 * times, a checksum) followed by the session in DER (i2d_SSL_SESSION).
 * The key is (context, session ID): the context is the SSL_CTX's session
 * ID context (set by the attach functions), so a lookup from one site
 * never even finds another's session (OpenSSL would refuse it anyway: it
 * compares the context of a session it gets from a cache or a ticket with
 * the connection's, in TLS 1.2 and 1.3).  An index of chained buckets
 * (fixed at create) finds entries; one global LRU list orders them, and
 * the cache evicts its least recently used sessions to stay within its
 * byte budget (the usable sizes of its objects, whatever room the slab
 * has) and when the slab itself is full (through gh_slab_alloc_evict()).
 * Entries expire TIMEOUT after they were stored.
 *
 * One robust lock guards the index and the LRU.  Every write a holder makes
 * to them is first recorded in an undo journal in the root; the next holder
 * after a holder died rolls the journal back, so a dead holder's operation
 * is undone entirely (at most the one object it had just allocated or was
 * about to free is lost to the slab).  The lock is held for a hash-chain
 * walk, a few link updates and one copy of at most GH_TLSCACHE_DER_MAX
 * bytes: no system call, allocation or logging inside (slab calls nest the
 * slab lock inside ours, the order shm/layout.h gives).  DER encoding and
 * decoding happen outside.
 *
 * Ticket keys.  A key set in the segment: the current key (new tickets are
 * encrypted with it) and the previous one (still accepted: a ticket made
 * with it resumes, and the client gets a fresh one).  Each is a 16-byte
 * name, a 32-byte AES-256-CBC key and a 32-byte HMAC-SHA256 key from
 * RAND_priv_bytes(); they live only in the segment (a memfd: never a file)
 * and in short-lived stack copies that are wiped.  The key actually used
 * for a ticket is derived from these and the SSL_CTX's context (HMAC-SHA256
 * of the context), so a ticket made for one site fails its HMAC on another
 * and gets a full handshake there (as OpenSSL's context check would give
 * it: this is a second wall).  gh_tlskeys_rotate() (the checker, every
 * ticket_rotation) makes a new current key: the old current becomes the
 * previous one and the one before that is wiped.  Keys sit in a ring of
 * four slots, each guarded by a sequence counter; a rotation writes an
 * unused slot and then publishes it with one release store of the
 * generation, so readers take no lock, never see a torn key, and a rotator
 * that dies mid-write leaves the published keys untouched.
 *
 * SNI: OpenSSL looks a session up (cache or ticket) before it calls a
 * servername callback, with the SSL_CTX the connection started on, and
 * stores it with the context of that same SSL_CTX, so a servername
 * callback that switches SSL_CTX keeps resumption working; the sites of
 * one listener then share the listener's context.  To keep them apart,
 * switch SSL_CTX in a client_hello callback instead, or give each site its
 * own listener.  Attach every SSL_CTX a connection can use, to the same
 * cache and key set: the callbacks are the first SSL_CTX's, but they find
 * the segment through the SSL_CTX the connection has at the time (one that
 * is not attached gets no session stored or found, and no ticket).
 *
 * OpenSSL removes a session from the cache (our remove callback) when an
 * SSL that has one is freed without having sent close_notify: a worker
 * that closes a connection quietly should SSL_set_shutdown(ssl,
 * SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN) first, as nginx does.
 *
 * Roots and entries are private to shm/tlscache.c and versioned by their
 * own magic numbers; the caller stores the roots' offsets (0 is none).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "shm/shm.h"

#define GH_TLSCACHE_ID_MAX   32     /* SSL_MAX_SSL_SESSION_ID_LENGTH */
#define GH_TLSCACHE_CTX_MAX  32     /* SSL_MAX_SID_CTX_LENGTH */
#define GH_TLSCACHE_DER_MAX  8192   /* larger sessions are not shared */
#define GH_TLSCACHE_MIN      (16 * 1024)    /* smallest byte budget */

/*
 * Master only, before forking: make a session cache of at most BYTES of
 * sessions that expire TIMEOUT_S seconds after they are stored; *ROOT gets
 * its offset.  When *ROOT already is a cache (a reload, an adopted
 * segment) of the same BYTES, it is kept (sessions and all) and only its
 * timeout changes; of another size, a new one is made, and the old one is
 * left to gh_tlscache_destroy() once no process uses it.  The index
 * (8 bytes per bucket, a bucket per 512 bytes of budget) is on top of
 * BYTES.  GH_OK, or GH_ERR with ERR filled (too small, segment full).
 */
int gh_tlscache_create(struct gh_shm *shm, size_t bytes, uint32_t timeout_s,
                       gh_off *root, char *err, size_t errlen);
/* Free the cache at ROOT and all its sessions; nobody may use it again. */
void gh_tlscache_destroy(struct gh_shm *shm, gh_off root);

/*
 * Make CTX (a server's) use the cache at ROOT: new, get and remove
 * callbacks, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL (so every
 * worker sees the shared cache and only it), the session timeout, and
 * CONTEXT (at most GH_TLSCACHE_CTX_MAX bytes: say a hash of the site's
 * name) as the session ID context.  SHM is borrowed and must outlive CTX.
 * With tickets on, OpenSSL puts the session in the ticket (TLS 1.2 gives
 * it no session ID, TLS 1.3 a dummy one, not stored), so the cache serves
 * TLS 1.2 clients that do not take tickets; with SSL_OP_NO_TICKET, it
 * serves every session, TLS 1.3 ones through stateful tickets (the ticket
 * is the session ID).  gh_tlskeys_attach() on the same CTX must be given
 * the same CONTEXT (the last call sets it).  GH_OK, or GH_ERR (CONTEXT too
 * long, out of memory).
 */
int gh_tlscache_attach(SSL_CTX *ctx, struct gh_shm *shm, gh_off root,
                       const void *context, size_t context_len);

/*
 * The cache without OpenSSL (the callbacks use these).  CTX is the session
 * ID context (0 to GH_TLSCACHE_CTX_MAX bytes), ID the session ID (1 to
 * GH_TLSCACHE_ID_MAX bytes).  Each may block briefly on the cache lock.
 *
 * store: keep DER under (CTX, ID), replacing what was there, evicting the
 * least recently used sessions as needed.  GH_OK, or GH_DECLINED when not
 * stored (bad sizes, larger than the budget or GH_TLSCACHE_DER_MAX, no
 * room), or GH_ERR (the lock cannot be taken).
 */
int gh_tlscache_store(struct gh_shm *shm, gh_off root, const void *ctx,
                      size_t ctx_len, const void *id, size_t id_len,
                      const void *der, size_t der_len);
/*
 * lookup: copy the DER of (CTX, ID) into BUF (SIZE bytes) and mark it used:
 * its length, or GH_DECLINED on a miss (absent, expired, failing its
 * checksum: those two are removed), or GH_ERR (the lock cannot be taken).
 */
ssize_t gh_tlscache_lookup(struct gh_shm *shm, gh_off root, const void *ctx,
                           size_t ctx_len, const void *id, size_t id_len,
                           void *buf, size_t size);
/* remove: GH_OK when it was there, GH_DECLINED when not, GH_ERR. */
int gh_tlscache_remove(struct gh_shm *shm, gh_off root, const void *ctx,
                       size_t ctx_len, const void *id, size_t id_len);
/*
 * The checker, now and then: remove up to MAX sessions unused for longer
 * than the timeout (the tail of the LRU; an expired session that is still
 * used is removed by the lookup that finds it).  Returns how many.
 */
size_t gh_tlscache_sweep(struct gh_shm *shm, gh_off root, size_t max);

struct gh_tlscache_stats {
    uint64_t hits;          /* lookups that found a usable session */
    uint64_t misses;        /* lookups that did not (expired, corrupt too) */
    uint64_t stores;
    uint64_t evictions;     /* removed for room: budget or slab */
    uint64_t expired;       /* removed by a lookup or a sweep */
    uint64_t removed;       /* removed on request (OpenSSL's remove cb) */
    uint64_t corrupt;       /* failed their checksum or decoding */
    uint64_t fails;         /* stores refused (too big, no room, lock) */
    uint64_t repairs;       /* dead holders' operations rolled back */
    uint64_t entries;       /* sessions now */
    uint64_t bytes;         /* bytes they use (<= limit) */
    uint64_t limit;         /* the budget */
    uint64_t timeout_s;
};
/* Relaxed atomic reads, no lock: fields may be from slightly different
 * moments.  All zero when ROOT is not a cache. */
void gh_tlscache_stats(const struct gh_shm *shm, gh_off root,
                       struct gh_tlscache_stats *st);
/*
 * Walk the index and the LRU and check every invariant (tests; `-t` on a
 * live segment later).  Takes the lock (repairing first if needed).
 * GH_OK, or GH_ERR with ERR saying what is wrong.
 */
int gh_tlscache_check(struct gh_shm *shm, gh_off root, char *err,
                      size_t errlen);

#define GH_TLSKEYS_NAME 16          /* key name, first bytes of a ticket */

/*
 * Master only, before forking: make a key set with a fresh current key;
 * *ROOT gets its offset.  When *ROOT already is a key set (a reload, an
 * adopted segment) it is kept.  GH_OK, or GH_ERR with ERR filled (no
 * randomness, segment full).
 */
int gh_tlskeys_create(struct gh_shm *shm, gh_off *root, char *err,
                      size_t errlen);
/*
 * The checker, every ticket_rotation: a new current key; the current one
 * becomes the previous one, the previous one is wiped.  Takes the key
 * set's lock (only rotators do) for a few hundred bytes of stores; the
 * random bytes are drawn before.  GH_OK, or GH_ERR (no randomness, lock
 * lost).
 */
int gh_tlskeys_rotate(struct gh_shm *shm, gh_off root);
/*
 * Make CTX issue and accept tickets with the key set at ROOT
 * (SSL_CTX_set_tlsext_ticket_key_evp_cb; tickets themselves are turned on
 * or off by the caller with SSL_OP_NO_TICKET).  CONTEXT as for
 * gh_tlscache_attach() (pass the same).  Excludes the keys' page from core
 * dumps, best effort.  GH_OK or GH_ERR.
 */
int gh_tlskeys_attach(SSL_CTX *ctx, struct gh_shm *shm, gh_off root,
                      const void *context, size_t context_len);
/* Wipe and free the key set at ROOT; nobody may use it again. */
void gh_tlskeys_destroy(struct gh_shm *shm, gh_off root);

struct gh_tlskeys_stats {
    uint64_t generation;    /* 1 at create, +1 per rotation */
    int64_t  rotated_ms;    /* CLOCK_MONOTONIC ms of the last (or create) */
    uint64_t encrypted;     /* tickets issued */
    uint64_t decrypted;     /* tickets accepted with the current key */
    uint64_t renewed;       /* accepted with the previous key */
    uint64_t unknown;       /* tickets of no key we have: full handshake */
    uint64_t fails;         /* callback errors (no randomness, ...) */
};
void gh_tlskeys_stats(const struct gh_shm *shm, gh_off root,
                      struct gh_tlskeys_stats *st);

#endif
