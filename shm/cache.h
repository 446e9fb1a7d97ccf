#ifndef GH_SHM_CACHE_H
#define GH_SHM_CACHE_H

/*
 * The storage layer of the shared HTTP cache (issue 5): bytes only.  What
 * may be stored and for how long is worker/cachectl.h's business.
 *
 * A zone is a root in the segment with its own byte budget (the slab's
 * usable sizes of everything it holds), a largest object, an index of
 * chained buckets by a keyed 128-bit SipHash of the primary key, one LRU
 * list of its live entries and a list of unlinked ("zombie") entries
 * waiting for their last reader.
 *
 * An entry: a header with the primary key bytes and the variant key bytes
 * (the Vary-selected request header values, normalised by the caller;
 * several variants per primary key), a metadata blob (opaque, replaceable)
 * and the body as a chain of slab chunks.  States: FILLING (one filler,
 * the process that got GH_OK from gh_cache_begin_fill(), appends), then
 * COMPLETE, or ABORTED (never served: unlinked at once).
 *
 * Readers hold references.  An entry with references is never freed, only
 * unlinked; its last gh_cache_release() frees it.  A process that dies
 * holding a reference: every reference is also a lease of GH_CACHE_LEASE_MS
 * from its last acquisition; past that, eviction may take the entry and a
 * zombie may be freed anyway.  A reference that outlives its lease can then
 * read freed memory: every read checks the entry's magic and id, so it gets
 * GH_ERR (never a crash), but the bytes it already copied may be another
 * object's.  Release references promptly (long downloads: well under the
 * lease).
 *
 * Locking: one robust lock per zone guards the index, the lists, the
 * counts and the state changes; every structural write is journaled (undo
 * log in the root), so a holder killed mid-operation is rolled back by the
 * next holder.  Body bytes are written outside the lock by the filler
 * alone, then published with a release store of the body length; readers
 * read the body without the lock.  A filler killed mid-fill: the next
 * lookup or begin_fill that finds its FILLING entry checks the pid
 * (kill(pid, 0) == ESRCH, outside the lock) and aborts the entry.
 *
 * Slab calls nest the slab lock inside the zone lock (shm/layout.h order).
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "shm/shm.h"
#include "worker/core/gh.h"

#define GH_CACHE_MIN        (64 * 1024)     /* smallest zone budget */
#define GH_CACHE_KEY_MAX    8192            /* primary key bytes */
#define GH_CACHE_VARIANT_MAX 4096           /* variant key bytes */
#define GH_CACHE_META_MAX   (64 * 1024)     /* metadata blob bytes */
#define GH_CACHE_LEASE_MS   (600 * 1000)    /* a reference's lease */

enum gh_cache_state {
    GH_CACHE_FILLING = 0,
    GH_CACHE_COMPLETE,
    GH_CACHE_ABORTED
};
extern const char *const gh_cache_state_names[];

/* A process-local reference to an entry.  Owned by the caller: release it
 * with gh_cache_release() exactly once. */
struct gh_cache_ref {
    struct gh_shm *shm;     /* borrowed */
    gh_off   zone;
    gh_off   entry;         /* 0: none */
    uint64_t id;            /* the entry's id when the ref was taken */
    gh_off   c_off;         /* read cursor: a chunk ... */
    uint64_t c_start;       /* ... and the body offset of its first byte */
    int      filler;        /* this ref fills the entry */
};

/*
 * Master only, before forking: a zone of BYTES (>= GH_CACHE_MIN) that
 * never stores an entry larger than MAX_OBJECT (body + metadata; 0: the
 * budget).  When *ROOT already is a zone of the same BYTES (a reload, an
 * adopted segment) it is kept with its entries; only MAX_OBJECT changes.
 * Otherwise a new one is made; the old one is the caller's to destroy.
 * GH_OK, or GH_ERR with ERR filled.
 */
int gh_cache_zone_create(struct gh_shm *shm, size_t bytes, size_t max_object,
                         gh_off *root, char *err, size_t errlen);
/* Free the zone and everything in it; nobody may use it again. */
void gh_cache_zone_destroy(struct gh_shm *shm, gh_off root);

/*
 * Find (KEY, VARIANT) (VARLEN 0: no variant).  GH_OK: a hit, *REF holds a
 * reference (the entry may still be FILLING: read what is there).
 * GH_DECLINED: a miss.  GH_ERR: the zone is not usable.  NOW in ms (any
 * clock, the same for every caller: CLOCK_MONOTONIC).  May block briefly.
 */
int gh_cache_lookup(struct gh_shm *shm, gh_off zone, const void *key,
                    size_t keylen, const void *variant, size_t varlen,
                    gh_msec now, struct gh_cache_ref *ref);
/* The same without counting a hit or a miss (lookups of a request that
 * counts its outcome once, with gh_cache_count()). */
int gh_cache_peek(struct gh_shm *shm, gh_off zone, const void *key,
                  size_t keylen, const void *variant, size_t varlen,
                  gh_msec now, struct gh_cache_ref *ref);
void gh_cache_count(struct gh_shm *shm, gh_off zone, int hit);
/*
 * Collapsed forwarding.  GH_OK: the caller is the filler of a new FILLING
 * entry (already found by others), *REF its reference.  GH_AGAIN: another
 * live process is filling (or it is COMPLETE now): use gh_cache_lookup().
 * GH_DECLINED: cannot store (sizes, no room).  GH_ERR: zone unusable.
 * A FILLING entry of a dead PID is aborted first.
 */
int gh_cache_begin_fill(struct gh_shm *shm, gh_off zone, const void *key,
                        size_t keylen, const void *variant, size_t varlen,
                        pid_t pid, gh_msec now, struct gh_cache_ref *ref);
/*
 * The same, replacing the COMPLETE entry OLD_ID (a revalidation answered
 * with a new response): it is unlinked (its readers keep it) and the
 * caller fills its successor.  GH_AGAIN when (KEY, VARIANT) is no longer
 * OLD_ID and another fill is under way or done.  OLD_ID 0: begin_fill.
 */
int gh_cache_begin_refill(struct gh_shm *shm, gh_off zone, const void *key,
                          size_t keylen, const void *variant, size_t varlen,
                          uint64_t old_id, pid_t pid, gh_msec now,
                          struct gh_cache_ref *ref);
/*
 * One background refresh for the whole daemon: GH_OK when the caller now
 * holds the entry's claim until NOW + HOLD ms (or gh_cache_unclaim()),
 * GH_DECLINED when someone else holds it, GH_ERR for a stale ref.
 */
int gh_cache_claim(struct gh_cache_ref *ref, gh_msec now, gh_msec hold);
void gh_cache_unclaim(struct gh_cache_ref *ref);
/* Renew REF's lease from NOW (a reference held for a long transfer: call
 * well within GH_CACHE_LEASE_MS).  GH_OK, or GH_ERR for a stale ref. */
int gh_cache_renew(struct gh_cache_ref *ref, gh_msec now);
/* Filler only.  GH_OK, or GH_DECLINED: over max_object or the budget, no
 * room: the fill has been aborted (release the ref). */
int gh_cache_append(struct gh_cache_ref *ref, const void *p, size_t n);
/* Replace the metadata (filler, or a revalidation on any reference).
 * GH_OK, GH_DECLINED (too large, no room: a filler's fill is aborted). */
int gh_cache_set_meta(struct gh_cache_ref *ref, const void *p, size_t n);
/* Filler only: COMPLETE (GH_OK) or GH_DECLINED if it was aborted. */
int gh_cache_complete(struct gh_cache_ref *ref);
/* Filler only: ABORTED and unlinked.  The ref stays to be released. */
void gh_cache_abort(struct gh_cache_ref *ref);

/* State of the entry and bytes of body readable now (LEN may be NULL). */
enum gh_cache_state gh_cache_state(struct gh_cache_ref *ref, uint64_t *len);
/*
 * Copy body bytes [OFF, OFF + N) that exist: their count (> 0), 0 at the
 * end of a COMPLETE body, GH_AGAIN when OFF is the end of a FILLING one,
 * GH_DECLINED when ABORTED, GH_ERR when the ref is no longer valid.  No
 * lock.
 */
ssize_t gh_cache_read(struct gh_cache_ref *ref, uint64_t off, void *buf,
                      size_t n);
/* Same returns, zero-copy: up to IOVCNT iovecs into the segment (valid
 * while REF is held) for the bytes from OFF; returns the iovecs filled. */
ssize_t gh_cache_iov(struct gh_cache_ref *ref, uint64_t off,
                     struct iovec *iov, int iovcnt);
/*
 * Copy the metadata into BUF (SIZE bytes): its length (only min(len, SIZE)
 * copied: call again with more room), GH_DECLINED when there is none or it
 * failed its checksum, GH_ERR for a stale ref.  Takes the lock: a copy and
 * not a pointer, because a revalidation may replace the blob meanwhile.
 */
ssize_t gh_cache_meta(struct gh_cache_ref *ref, void *buf, size_t size);
/* Drop the reference (a filler's unfinished fill is aborted). */
void gh_cache_release(struct gh_cache_ref *ref);

/* Unlink KEY and all its variants: how many entries, or GH_ERR. */
int gh_cache_purge(struct gh_shm *shm, gh_off zone, const void *key,
                   size_t keylen);
/* Unlink every entry whose primary key starts with PREFIX. O(entries). */
int gh_cache_purge_prefix(struct gh_shm *shm, gh_off zone,
                          const void *prefix, size_t len);

struct gh_cache_stats {
    uint64_t entries;       /* linked entries */
    uint64_t zombies;       /* unlinked, waiting for readers */
    uint64_t bytes;         /* charged bytes (<= limit) */
    uint64_t limit;
    uint64_t max_object;
    uint64_t hits;
    uint64_t misses;
    uint64_t fills;
    uint64_t aborts;
    uint64_t evictions;
    uint64_t purges;
    uint64_t corrupt;       /* entries dropped for failing checks */
    uint64_t repairs;       /* dead lock holders rolled back */
};
void gh_cache_stats(const struct gh_shm *shm, gh_off zone,
                    struct gh_cache_stats *st);
/* Walk everything, check invariants (tests).  GH_OK or GH_ERR + ERR. */
int gh_cache_check(struct gh_shm *shm, gh_off zone, char *err,
                   size_t errlen);

#endif
