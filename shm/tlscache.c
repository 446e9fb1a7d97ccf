/*
 * TLS session cache and session-ticket keys in the segment (the contract
 * is in shm/tlscache.h).
 *
 * Session cache.  A root, a bucket array and one slab object per session:
 *
 *     struct tc_root          budget, timeout, lock, journal, LRU ends,
 *                             counters
 *     gh_off[nbuckets]        chains of entries by hash (hnext)
 *     struct tc_entry + DER   one per session, on a chain and on the LRU
 *
 * Every write to the structure (bucket heads, an entry's hnext, prev and
 * next, the root's head, tail, used and count) goes through tc_set_locked(),
 * which first appends (offset, old value) to the undo journal in the root.
 * Each step of an operation (remove one entry, link one, move one to the
 * head) is committed by emptying the journal, and an object is given back
 * to the slab only after the step that unlinked it was committed: so a
 * holder that dies leaves at most one step open, which the next holder
 * rolls back (newest record first: idempotent, so a repairer that dies is
 * repaired in turn), and the undo never writes into freed memory.  What a
 * dead holder loses is at most the one object it had allocated and not yet
 * linked, or unlinked and not yet freed.
 *
 * An entry is filled completely before it is linked, so nobody ever sees a
 * half-made one; its `used` time is not part of the structure (a relaxed
 * store, not journaled).  The DER carries a checksum, checked on every hit:
 * a session whose bytes were damaged is dropped, never handed to OpenSSL.
 *
 * Ticket keys.  One page (so it can be kept out of core dumps on its own):
 * struct tk_root, with four key slots, each under a sequence counter (odd
 * while written).  gen is the current generation, in slot gen % 4; the
 * previous one is in slot (gen - 1) % 4; the other two are wiped.  A
 * rotation fills slot (gen + 1) % 4, publishes gen + 1 with a release
 * store, then wipes every slot but the two live ones.  Readers take no
 * lock: load gen, copy the slot, and retry if its counter was odd or moved
 * or it no longer holds that generation (a reader slow enough to see two
 * rotations pass).  The lock only keeps rotators apart; one that died
 * holding it published nothing half-written, and the next rotation wipes
 * whatever it left in an unpublished slot.
 *
 * These structs live here, not in shm/layout.h: nothing else reads them,
 * and TC_MAGIC and TK_MAGIC carry their versions.  Bump them on any change
 * (tests/unit/shm/tlscache.c records the sizes).
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "shm/layout.h"
#include "shm/lock.h"
#include "shm/shm.h"
#include "shm/slab.h"
#include "shm/tlscache.h"
#include "worker/core/gh.h"

#define TC_MAGIC        0x4748544c53430001ULL   /* "GHTLSC", version 1 */
#define TC_ENT_MAGIC    0x4748544c53450001ULL   /* "GHTLSE", version 1 */
#define TC_LOG_CAP      16      /* a step writes at most 7 fields */
#define TC_BUCKET_BYTES 512     /* a bucket per this much budget */
#define TC_BUCKETS_MIN  64
#define TC_BUCKETS_MAX  (1u << 22)
#define TC_TAIL_EXPIRE  2       /* idle sessions a store drops, at most */
#define TC_EVICT_SCAN   16      /* entries searched for a class to evict */
#define TC_ANY_CLASS    (-2)

struct tc_undo {
    gh_off   where;             /* offset of a 64-bit field */
    uint64_t old;
};

struct tc_root {
    uint64_t magic;             /* TC_MAGIC, stored last by create */
    uint32_t hdr_size;          /* sizeof(struct tc_root) */
    uint32_t nbuckets;          /* power of two */
    gh_off   buckets;           /* gh_off[nbuckets] */
    uint64_t limit;             /* byte budget */
    uint64_t seed;              /* of the hash and the checksums */
    uint64_t timeout_ms;        /* relaxed atomic: a reload may change it */
    uint64_t reserved0[2];
    struct gh_shm_lock lock;    /* on its own 64 bytes */
    /* The journal. */
    uint64_t log_n;             /* undo records in use */
    uint64_t log_max;           /* most records one step needed */
    struct tc_undo log[TC_LOG_CAP];
    /* The structure; every write journaled. */
    gh_off   head;              /* most recently used entry */
    gh_off   tail;              /* least recently used */
    uint64_t used;              /* sum of the entries' charges */
    uint64_t count;             /* entries */
    /* Statistics: relaxed atomics, outside the journal. */
    uint64_t hits;
    uint64_t misses;
    uint64_t stores;
    uint64_t evictions;
    uint64_t expired;
    uint64_t removed;
    uint64_t corrupt;
    uint64_t fails;
    uint64_t repairs;
    uint64_t reserved1[9];
};
_Static_assert(offsetof(struct tc_root, lock) == 64, "tc lock moved");
_Static_assert(sizeof(struct tc_root) == 576, "tc_root size changed");

struct tc_entry {
    uint64_t magic;             /* TC_ENT_MAGIC; 0 once unlinked */
    uint64_t hash;              /* of (ctx, id) */
    gh_off   hnext;             /* next on the bucket's chain */
    gh_off   prev;              /* LRU: the more recently used neighbour */
    gh_off   next;
    gh_msec  created;           /* expires at created + timeout */
    gh_msec  used;              /* last store or hit; relaxed atomic */
    uint64_t sum;               /* checksum of der[0 .. der_len) */
    uint32_t charge;            /* bytes counted: the object's usable size */
    uint32_t der_len;           /* 1 .. GH_TLSCACHE_DER_MAX */
    uint8_t  ctx_len;           /* 0 .. GH_TLSCACHE_CTX_MAX */
    uint8_t  id_len;            /* 1 .. GH_TLSCACHE_ID_MAX */
    uint8_t  pad[6];
    uint8_t  ctx[GH_TLSCACHE_CTX_MAX];
    uint8_t  id[GH_TLSCACHE_ID_MAX];
    uint8_t  der[];
};
_Static_assert(sizeof(struct tc_entry) == 144, "tc_entry size changed");

struct tc_ctx {
    struct gh_shm  *shm;
    struct tc_root *r;
    gh_off         *bkt;
};

/*
 * Tests define GH_TLSCACHE_TEST_HOOK and #include this file: tc_hook then
 * runs at every journaled step of a critical section (a test can die
 * there), and tc_clock can be replaced.
 */
#ifdef GH_TLSCACHE_TEST_HOOK
static void (*tc_hook)(void);
#define TC_HOOK() do { if (tc_hook != NULL) tc_hook(); } while (0)
#else
#define TC_HOOK() do { } while (0)
#endif

static gh_msec
tc_clock_mono(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);     /* cannot fail */
    return (gh_msec) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static gh_msec (*tc_clock)(void) = tc_clock_mono;

#define TC_STAT(r, f) __atomic_add_fetch(&(r)->f, 1, __ATOMIC_RELAXED)

/* FNV-1a of the key, seeded, with a final mix for the bucket bits. */
static uint64_t
tc_hash(uint64_t seed, const uint8_t *ctx, size_t ctx_len, const uint8_t *id,
        size_t id_len)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;

    h = (h ^ ctx_len) * 0x100000001b3ULL;
    for (size_t i = 0; i < ctx_len; i++)
        h = (h ^ ctx[i]) * 0x100000001b3ULL;
    h = (h ^ (id_len | 0x100)) * 0x100000001b3ULL;
    for (size_t i = 0; i < id_len; i++)
        h = (h ^ id[i]) * 0x100000001b3ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

/* A checksum of the DER: finds damage, not attacks (none can write here). */
static uint64_t
tc_sum(uint64_t seed, const uint8_t *p, size_t n)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ULL), w;
    size_t i;

    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h ^ (h >> 33);
}

static int
tc_get(struct tc_ctx *x, const struct gh_shm *shm, gh_off root)
{
    struct tc_root *r;

    if (shm->hdr == NULL || root == 0 || root % 16 != 0
        || root > shm->size || shm->size - root < sizeof(*r))
        return GH_ERR;
    r = gh_shm_ptr(shm, root);
    if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != TC_MAGIC
        || r->hdr_size != sizeof(*r) || r->buckets == 0
        || r->buckets > shm->size
        || (shm->size - r->buckets) / sizeof(gh_off) < r->nbuckets)
        return GH_ERR;
    x->shm = (struct gh_shm *) (uintptr_t) shm;
    x->r = r;
    x->bkt = gh_shm_ptr(shm, r->buckets);
    return GH_OK;
}

/* The entry at OFF, or NULL when OFF cannot be one (a damaged link). */
static struct tc_entry *
tc_entry_at(const struct tc_ctx *x, gh_off off)
{
    struct tc_entry *e;

    if (off == 0 || off % 16 != 0 || off > x->shm->size
        || x->shm->size - off < sizeof(*e))
        return NULL;
    e = gh_shm_ptr(x->shm, off);
    return e->magic == TC_ENT_MAGIC ? e : NULL;
}

/* Record FIELD's old value, then write V. */
static void
tc_set_locked(struct tc_ctx *x, uint64_t *field, uint64_t v)
{
    struct tc_root *r = x->r;
    uint64_t n = r->log_n;

    if (*field == v)
        return;
    if (n >= TC_LOG_CAP)
        abort();    /* a step writes at most 7 fields: a bug; undone */
    r->log[n].where = gh_shm_off(x->shm, field);
    r->log[n].old = *field;
    /*
     * The record, then the count, then the write.  A killed process's
     * stores are all visible to the next holder; the fences only keep
     * them in this order.
     */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&r->log_n, n + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    TC_HOOK();
    __atomic_store_n(field, v, __ATOMIC_RELAXED);
    TC_HOOK();
}

static void
tc_commit_locked(struct tc_ctx *x)
{
    struct tc_root *r = x->r;

    if (r->log_n > r->log_max)
        __atomic_store_n(&r->log_max, r->log_n, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&r->log_n, 0, __ATOMIC_RELAXED);
    TC_HOOK();
}

/* Roll the open step back, newest record first. */
static void
tc_undo_locked(struct tc_ctx *x)
{
    struct tc_root *r = x->r;
    uint64_t n = GH_MIN(r->log_n, TC_LOG_CAP);

    while (n > 0) {
        const struct tc_undo *u = &r->log[n - 1];

        /* A record that points outside the segment is skipped;
         * gh_tlscache_check() will say what is left wrong. */
        if (u->where % 8 == 0 && u->where >= sizeof(struct gh_shm_hdr)
            && u->where <= x->shm->size - 8)
            __atomic_store_n((uint64_t *) gh_shm_ptr(x->shm, u->where),
                             u->old, __ATOMIC_RELAXED);
        TC_HOOK();
        n--;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&r->log_n, n, __ATOMIC_RELAXED);
    }
}

static int
tc_lock(struct tc_ctx *x)
{
    int rc = gh_shm_lock_acquire(&x->r->lock);

    if (rc == GH_ERR)
        return GH_ERR;
    if (rc == GH_DECLINED || x->r->log_n != 0) {
        tc_undo_locked(x);
        TC_STAT(x->r, repairs);
        if (rc == GH_DECLINED)
            gh_shm_lock_repaired(&x->r->lock);
    }
    return GH_OK;
}

static void
tc_unlock(struct tc_ctx *x)
{
    gh_shm_lock_release(&x->r->lock);
}

/*
 * The link (a bucket head or an entry's hnext) that points at OFF, or NULL
 * when OFF is not on its chain.  Walks at most count + 1 links, so a
 * damaged chain cannot loop.
 */
static gh_off *
tc_link_of_locked(struct tc_ctx *x, gh_off off, const struct tc_entry *e)
{
    gh_off *link = &x->bkt[e->hash & (x->r->nbuckets - 1)];
    uint64_t steps = 0;

    while (*link != 0 && *link != off) {
        struct tc_entry *n = tc_entry_at(x, *link);

        if (n == NULL || ++steps > x->r->count)
            return NULL;
        link = &n->hnext;
    }
    return *link == off ? link : NULL;
}

static struct tc_entry *
tc_find_locked(struct tc_ctx *x, uint64_t h, const uint8_t *ctx,
               size_t ctx_len, const uint8_t *id, size_t id_len, gh_off *offp)
{
    gh_off off = x->bkt[h & (x->r->nbuckets - 1)];
    uint64_t steps = 0;

    while (off != 0) {
        struct tc_entry *e = tc_entry_at(x, off);

        if (e == NULL || ++steps > x->r->count) {
            TC_STAT(x->r, corrupt);     /* a damaged chain ends here */
            return NULL;
        }
        if (e->hash == h && e->ctx_len == ctx_len && e->id_len == id_len
            && memcmp(e->ctx, ctx, ctx_len) == 0
            && memcmp(e->id, id, id_len) == 0) {
            *offp = off;
            return e;
        }
        off = e->hnext;
    }
    return NULL;
}

static void
tc_lru_unlink_locked(struct tc_ctx *x, struct tc_entry *e)
{
    struct tc_entry *p = tc_entry_at(x, e->prev), *n = tc_entry_at(x, e->next);

    if (e->prev == 0)
        tc_set_locked(x, &x->r->head, e->next);
    else if (p != NULL)
        tc_set_locked(x, &p->next, e->next);
    if (e->next == 0)
        tc_set_locked(x, &x->r->tail, e->prev);
    else if (n != NULL)
        tc_set_locked(x, &n->prev, e->prev);
}

/* E (not on the LRU) becomes its head. */
static void
tc_lru_push_locked(struct tc_ctx *x, gh_off off, struct tc_entry *e)
{
    struct tc_root *r = x->r;
    struct tc_entry *h = tc_entry_at(x, r->head);

    tc_set_locked(x, &e->prev, 0);
    tc_set_locked(x, &e->next, h != NULL ? r->head : 0);
    if (h != NULL)
        tc_set_locked(x, &h->prev, off);
    else
        tc_set_locked(x, &r->tail, off);
    tc_set_locked(x, &r->head, off);
}

/* Unlink E (at OFF), commit, then give its object back. */
static void
tc_remove_locked(struct tc_ctx *x, gh_off off, struct tc_entry *e)
{
    struct tc_root *r = x->r;
    gh_off *link = tc_link_of_locked(x, off, e);

    if (link != NULL)
        tc_set_locked(x, link, e->hnext);
    tc_lru_unlink_locked(x, e);
    tc_set_locked(x, &r->used, r->used >= e->charge ? r->used - e->charge
                                                    : 0);
    tc_set_locked(x, &r->count, r->count > 0 ? r->count - 1 : 0);
    tc_commit_locked(x);
    __atomic_store_n(&e->magic, 0, __ATOMIC_RELAXED);
    gh_slab_free(x->shm, off);
}

/*
 * Evict one entry: the least recently used of slab class CLS among the
 * last TC_EVICT_SCAN (so the slab gets room where it needs it), else the
 * least recently used.  GH_DECLINED when empty.
 */
static int
tc_evict_one_locked(struct tc_ctx *x, int cls)
{
    gh_off off = x->r->tail, pick = 0;
    struct tc_entry *e;
    int n = 0;

    if (cls != TC_ANY_CLASS)
        for (; off != 0 && n < TC_EVICT_SCAN; n++) {
            e = tc_entry_at(x, off);
            if (e == NULL)
                break;
            if (gh_slab_class(x->shm, e->charge) == cls) {
                pick = off;
                break;
            }
            off = e->prev;
        }
    if (pick == 0)
        pick = x->r->tail;
    e = tc_entry_at(x, pick);
    if (e == NULL)
        return GH_DECLINED;
    tc_remove_locked(x, pick, e);
    TC_STAT(x->r, evictions);
    return GH_OK;
}

/* gh_slab_alloc_evict()'s callback: our lock is held, the slab's is not. */
static int
tc_slab_evict(void *arg, int cls)
{
    return tc_evict_one_locked(arg, cls);
}

/* Drop up to MAX entries unused for a whole timeout, from the LRU tail. */
static size_t
tc_expire_tail_locked(struct tc_ctx *x, gh_msec now, size_t max)
{
    gh_msec timeout = (gh_msec) __atomic_load_n(&x->r->timeout_ms,
                                                __ATOMIC_RELAXED);
    size_t n = 0;

    while (n < max) {
        gh_off off = x->r->tail;
        struct tc_entry *e = tc_entry_at(x, off);

        if (e == NULL
            || __atomic_load_n(&e->used, __ATOMIC_RELAXED) + timeout > now)
            break;
        tc_remove_locked(x, off, e);
        TC_STAT(x->r, expired);
        n++;
    }
    return n;
}

/*
 * What the slab charges for SIZE bytes, from the classes shm/slab.h lists
 * (16 to 128 by 16, then four per power of two; runs of whole pages).
 */
static size_t
tc_charge_of(size_t size)
{
    size_t step;

    if (size <= 128)
        return (size + 15) & ~(size_t) 15;
    if (size <= GH_SLAB_MAX_SMALL) {
        step = (size_t) 1 << (61 - __builtin_clzll(size - 1));
        return (size + step - 1) & ~(step - 1);
    }
    return (size + GH_SLAB_PAGE - 1) / GH_SLAB_PAGE * GH_SLAB_PAGE;
}

static int
tc_key_ok(size_t ctx_len, size_t id_len)
{
    return ctx_len <= GH_TLSCACHE_CTX_MAX && id_len >= 1
           && id_len <= GH_TLSCACHE_ID_MAX;
}

int
gh_tlscache_create(struct gh_shm *shm, size_t bytes, uint32_t timeout_s,
                   gh_off *root, char *err, size_t errlen)
{
    struct tc_ctx x;
    struct tc_root *r;
    uint64_t seed;
    uint32_t nb = TC_BUCKETS_MIN;
    gh_off off, boff;

    if (*root != 0 && tc_get(&x, shm, *root) == GH_OK
        && x.r->limit == bytes) {
        __atomic_store_n(&x.r->timeout_ms, (uint64_t) timeout_s * 1000,
                         __ATOMIC_RELAXED);
        return GH_OK;
    }
    if (bytes < GH_TLSCACHE_MIN) {
        snprintf(err, errlen, "TLS session cache of %zu bytes is below the "
                 "minimum of %d", bytes, GH_TLSCACHE_MIN);
        return GH_ERR;
    }
    if (timeout_s == 0) {
        snprintf(err, errlen, "TLS session timeout of 0 s");
        return GH_ERR;
    }
    if (RAND_bytes((unsigned char *) &seed, sizeof(seed)) != 1) {
        snprintf(err, errlen, "no random bytes for the TLS session cache");
        return GH_ERR;
    }
    while (nb < bytes / TC_BUCKET_BYTES && nb < TC_BUCKETS_MAX)
        nb <<= 1;
    off = gh_slab_calloc(shm, sizeof(*r));
    boff = off != 0 ? gh_slab_calloc(shm, (size_t) nb * sizeof(gh_off)) : 0;
    if (boff == 0) {
        gh_slab_free(shm, off);
        snprintf(err, errlen, "shared memory of %zu bytes is too small for "
                 "a TLS session cache index of %u buckets", shm->size, nb);
        return GH_ERR;
    }
    r = gh_shm_ptr(shm, off);
    if (gh_shm_lock_init(&r->lock) != GH_OK) {
        gh_slab_free(shm, boff);
        gh_slab_free(shm, off);
        snprintf(err, errlen, "cannot initialise a process-shared lock");
        return GH_ERR;
    }
    r->hdr_size = sizeof(*r);
    r->nbuckets = nb;
    r->buckets = boff;
    r->limit = bytes;
    r->seed = seed;
    r->timeout_ms = (uint64_t) timeout_s * 1000;
    /* Magic last: whoever sees it sees a whole root. */
    __atomic_store_n(&r->magic, TC_MAGIC, __ATOMIC_RELEASE);
    *root = off;
    return GH_OK;
}

void
gh_tlscache_destroy(struct gh_shm *shm, gh_off root)
{
    struct tc_ctx x;
    struct tc_entry *e;

    if (tc_get(&x, shm, root) != GH_OK || tc_lock(&x) != GH_OK)
        return;     /* not a cache, or its lock is lost: leak it */
    while ((e = tc_entry_at(&x, x.r->head)) != NULL)
        tc_remove_locked(&x, x.r->head, e);
    __atomic_store_n(&x.r->magic, 0, __ATOMIC_RELEASE);
    tc_unlock(&x);
    gh_slab_free(shm, x.r->buckets);
    gh_slab_free(shm, root);
}

int
gh_tlscache_store(struct gh_shm *shm, gh_off root, const void *ctx,
                  size_t ctx_len, const void *id, size_t id_len,
                  const void *der, size_t der_len)
{
    size_t need = sizeof(struct tc_entry) + der_len;
    size_t charge = tc_charge_of(need);
    struct tc_entry *e;
    struct tc_ctx x;
    struct tc_root *r;
    uint64_t h, sum, i;
    gh_msec now;
    gh_off off;

    if (tc_get(&x, shm, root) != GH_OK)
        return GH_ERR;
    r = x.r;
    if (!tc_key_ok(ctx_len, id_len) || der_len == 0
        || der_len > GH_TLSCACHE_DER_MAX || charge > r->limit) {
        TC_STAT(r, fails);
        return GH_DECLINED;
    }
    h = tc_hash(r->seed, ctx, ctx_len, id, id_len);
    sum = tc_sum(r->seed, der, der_len);
    now = tc_clock();
    if (tc_lock(&x) != GH_OK) {
        TC_STAT(r, fails);
        return GH_ERR;
    }
    e = tc_find_locked(&x, h, ctx, ctx_len, id, id_len, &off);
    if (e != NULL)
        tc_remove_locked(&x, off, e);   /* replaced: no eviction */
    (void) tc_expire_tail_locked(&x, now, TC_TAIL_EXPIRE);
    /*
     * Every eviction (each one committed, then freed) comes before the
     * allocation, so a holder that dies has at most one object in hand:
     * the one it evicts, or the new one until it is linked.
     */
    while (r->used + charge > r->limit
           && tc_evict_one_locked(&x, TC_ANY_CLASS) == GH_OK)
        continue;
    off = r->used + charge <= r->limit
          ? gh_slab_alloc_evict(shm, need, tc_slab_evict, &x) : 0;
    if (off == 0)
        goto fail;
    /* Charged what the slab really gives (tc_charge_of(), unless its
     * classes changed: then refuse rather than go over). */
    if (gh_slab_usable(shm, off) != charge) {
        gh_slab_free(shm, off);
        goto fail;
    }
    /* Fill it whole while nothing points at it, then link it. */
    e = gh_shm_ptr(shm, off);
    memset(e, 0, sizeof(*e));
    e->magic = TC_ENT_MAGIC;
    e->hash = h;
    e->created = now;
    e->used = now;
    e->sum = sum;
    e->charge = (uint32_t) charge;
    e->der_len = (uint32_t) der_len;
    e->ctx_len = (uint8_t) ctx_len;
    e->id_len = (uint8_t) id_len;
    if (ctx_len > 0)
        memcpy(e->ctx, ctx, ctx_len);
    memcpy(e->id, id, id_len);
    memcpy(e->der, der, der_len);
    i = h & (r->nbuckets - 1);
    e->hnext = x.bkt[i];
    tc_set_locked(&x, &x.bkt[i], off);
    tc_lru_push_locked(&x, off, e);
    tc_set_locked(&x, &r->used, r->used + charge);
    tc_set_locked(&x, &r->count, r->count + 1);
    tc_commit_locked(&x);
    tc_unlock(&x);
    TC_STAT(r, stores);
    return GH_OK;
fail:
    tc_unlock(&x);
    TC_STAT(r, fails);
    return GH_DECLINED;
}

ssize_t
gh_tlscache_lookup(struct gh_shm *shm, gh_off root, const void *ctx,
                   size_t ctx_len, const void *id, size_t id_len, void *buf,
                   size_t size)
{
    struct tc_entry *e;
    struct tc_ctx x;
    struct tc_root *r;
    gh_msec now;
    gh_off off;
    uint64_t h;
    size_t len;

    if (tc_get(&x, shm, root) != GH_OK)
        return GH_ERR;
    r = x.r;
    if (!tc_key_ok(ctx_len, id_len)) {
        TC_STAT(r, misses);
        return GH_DECLINED;
    }
    h = tc_hash(r->seed, ctx, ctx_len, id, id_len);
    now = tc_clock();
    if (tc_lock(&x) != GH_OK) {
        TC_STAT(r, misses);
        return GH_ERR;
    }
    e = tc_find_locked(&x, h, ctx, ctx_len, id, id_len, &off);
    if (e == NULL)
        goto miss;
    if (now - e->created >= (gh_msec) __atomic_load_n(&r->timeout_ms,
                                                      __ATOMIC_RELAXED)) {
        tc_remove_locked(&x, off, e);
        TC_STAT(r, expired);
        goto miss;
    }
    len = e->der_len;
    if (len > size)
        goto miss;      /* the caller's buffer: not the entry's fault */
    if (len == 0 || len > GH_TLSCACHE_DER_MAX
        || sizeof(*e) + len > e->charge
        || tc_sum(r->seed, e->der, len) != e->sum) {
        tc_remove_locked(&x, off, e);
        TC_STAT(r, corrupt);
        goto miss;
    }
    memcpy(buf, e->der, len);
    __atomic_store_n(&e->used, now, __ATOMIC_RELAXED);
    if (r->head != off) {
        tc_lru_unlink_locked(&x, e);
        tc_lru_push_locked(&x, off, e);
        tc_commit_locked(&x);
    }
    tc_unlock(&x);
    TC_STAT(r, hits);
    return (ssize_t) len;
miss:
    tc_unlock(&x);
    TC_STAT(r, misses);
    return GH_DECLINED;
}

int
gh_tlscache_remove(struct gh_shm *shm, gh_off root, const void *ctx,
                   size_t ctx_len, const void *id, size_t id_len)
{
    struct tc_entry *e;
    struct tc_ctx x;
    gh_off off;
    uint64_t h;

    if (tc_get(&x, shm, root) != GH_OK)
        return GH_ERR;
    if (!tc_key_ok(ctx_len, id_len))
        return GH_DECLINED;
    h = tc_hash(x.r->seed, ctx, ctx_len, id, id_len);
    if (tc_lock(&x) != GH_OK)
        return GH_ERR;
    e = tc_find_locked(&x, h, ctx, ctx_len, id, id_len, &off);
    if (e != NULL)
        tc_remove_locked(&x, off, e);
    tc_unlock(&x);
    if (e == NULL)
        return GH_DECLINED;
    TC_STAT(x.r, removed);
    return GH_OK;
}

/* A hit whose DER OpenSSL could not use: drop it, count a miss instead. */
static void
tc_drop_corrupt(struct gh_shm *shm, gh_off root, const void *ctx,
                size_t ctx_len, const void *id, size_t id_len)
{
    struct tc_entry *e;
    struct tc_ctx x;
    gh_off off;

    if (tc_get(&x, shm, root) != GH_OK || tc_lock(&x) != GH_OK)
        return;
    e = tc_find_locked(&x, tc_hash(x.r->seed, ctx, ctx_len, id, id_len),
                       ctx, ctx_len, id, id_len, &off);
    if (e != NULL)
        tc_remove_locked(&x, off, e);
    tc_unlock(&x);
    TC_STAT(x.r, corrupt);
    __atomic_sub_fetch(&x.r->hits, 1, __ATOMIC_RELAXED);
    TC_STAT(x.r, misses);
}

size_t
gh_tlscache_sweep(struct gh_shm *shm, gh_off root, size_t max)
{
    struct tc_ctx x;
    gh_msec now = tc_clock();
    size_t n;

    if (tc_get(&x, shm, root) != GH_OK || tc_lock(&x) != GH_OK)
        return 0;
    n = tc_expire_tail_locked(&x, now, max);
    tc_unlock(&x);
    return n;
}

void
gh_tlscache_stats(const struct gh_shm *shm, gh_off root,
                  struct gh_tlscache_stats *st)
{
    struct tc_ctx x;
    struct tc_root *r;

    memset(st, 0, sizeof(*st));
    if (tc_get(&x, shm, root) != GH_OK)
        return;
    r = x.r;
    st->hits = __atomic_load_n(&r->hits, __ATOMIC_RELAXED);
    st->misses = __atomic_load_n(&r->misses, __ATOMIC_RELAXED);
    st->stores = __atomic_load_n(&r->stores, __ATOMIC_RELAXED);
    st->evictions = __atomic_load_n(&r->evictions, __ATOMIC_RELAXED);
    st->expired = __atomic_load_n(&r->expired, __ATOMIC_RELAXED);
    st->removed = __atomic_load_n(&r->removed, __ATOMIC_RELAXED);
    st->corrupt = __atomic_load_n(&r->corrupt, __ATOMIC_RELAXED);
    st->fails = __atomic_load_n(&r->fails, __ATOMIC_RELAXED);
    st->repairs = __atomic_load_n(&r->repairs, __ATOMIC_RELAXED);
    st->entries = __atomic_load_n(&r->count, __ATOMIC_RELAXED);
    st->bytes = __atomic_load_n(&r->used, __ATOMIC_RELAXED);
    st->limit = r->limit;
    st->timeout_s = __atomic_load_n(&r->timeout_ms, __ATOMIC_RELAXED) / 1000;
}

GH_PRINTF(3, 4) static int
tc_bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return GH_ERR;
}

static int
tc_check_locked(struct tc_ctx *x, char *err, size_t errlen)
{
    struct tc_root *r = x->r;
    uint64_t n = 0, used = 0, chained = 0;
    gh_off off, prev = 0;
    struct tc_entry *e;

    if (r->log_n != 0)
        return tc_bad(err, errlen, "journal open after the lock (%llu "
                      "records)", (unsigned long long) r->log_n);
    if (r->nbuckets == 0 || (r->nbuckets & (r->nbuckets - 1)) != 0)
        return tc_bad(err, errlen, "%u buckets", r->nbuckets);
    for (off = r->head; off != 0; off = e->next) {
        size_t usable = gh_slab_usable(x->shm, off);

        if (++n > r->count)
            return tc_bad(err, errlen, "LRU longer than the %llu entries",
                          (unsigned long long) r->count);
        e = tc_entry_at(x, off);
        if (e == NULL)
            return tc_bad(err, errlen, "LRU entry %llu: not an entry",
                          (unsigned long long) off);
        if (e->prev != prev)
            return tc_bad(err, errlen, "entry %llu: prev %llu, not %llu",
                          (unsigned long long) off,
                          (unsigned long long) e->prev,
                          (unsigned long long) prev);
        if (usable != e->charge || usable < sizeof(*e) + e->der_len)
            return tc_bad(err, errlen, "entry %llu: charge %u, der %u, "
                          "usable %zu", (unsigned long long) off, e->charge,
                          e->der_len, usable);
        if (!tc_key_ok(e->ctx_len, e->id_len) || e->der_len == 0
            || e->der_len > GH_TLSCACHE_DER_MAX
            || e->hash != tc_hash(r->seed, e->ctx, e->ctx_len, e->id,
                                  e->id_len))
            return tc_bad(err, errlen, "entry %llu: bad key or sizes",
                          (unsigned long long) off);
        if (tc_link_of_locked(x, off, e) == NULL)
            return tc_bad(err, errlen, "entry %llu: not on its chain",
                          (unsigned long long) off);
        used += e->charge;
        prev = off;
    }
    if (n != r->count || r->tail != prev)
        return tc_bad(err, errlen, "LRU: %llu entries ending at %llu, the "
                      "root says %llu ending at %llu",
                      (unsigned long long) n, (unsigned long long) prev,
                      (unsigned long long) r->count,
                      (unsigned long long) r->tail);
    if (used != r->used || used > r->limit)
        return tc_bad(err, errlen, "%llu bytes in entries, the root says "
                      "%llu, limit %llu", (unsigned long long) used,
                      (unsigned long long) r->used,
                      (unsigned long long) r->limit);
    for (uint32_t i = 0; i < r->nbuckets; i++)
        for (off = x->bkt[i]; off != 0; off = e->hnext) {
            e = tc_entry_at(x, off);
            if (++chained > r->count || e == NULL
                || (e->hash & (r->nbuckets - 1)) != i)
                return tc_bad(err, errlen, "bucket %u: bad or extra entry "
                              "%llu", i, (unsigned long long) off);
        }
    if (chained != r->count)
        return tc_bad(err, errlen, "%llu entries on chains, %llu counted",
                      (unsigned long long) chained,
                      (unsigned long long) r->count);
    return GH_OK;
}

int
gh_tlscache_check(struct gh_shm *shm, gh_off root, char *err, size_t errlen)
{
    struct tc_ctx x;
    int rc;

    if (tc_get(&x, shm, root) != GH_OK)
        return tc_bad(err, errlen, "no TLS session cache at %llu",
                      (unsigned long long) root);
    if (tc_lock(&x) != GH_OK)
        return tc_bad(err, errlen, "TLS session cache lock not recoverable");
    rc = tc_check_locked(&x, err, errlen);
    tc_unlock(&x);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Ticket keys. */

#define TK_MAGIC        0x4748544c534b0001ULL   /* "GHTLSK", version 1 */
#define TK_SLOTS        4
#define TK_READ_TRIES   1000

union tk_key {
    struct {
        uint8_t name[GH_TLSKEYS_NAME];
        uint8_t aes[32];        /* AES-256-CBC */
        uint8_t hmac[32];       /* HMAC-SHA256 */
    } k;
    uint64_t w[10];             /* how readers copy it */
};
_Static_assert(sizeof(union tk_key) == 80, "tk_key size changed");

struct tk_slot {
    uint64_t     seq;           /* odd while being written */
    uint64_t     gen;           /* generation it holds; 0: wiped */
    union tk_key key;
    gh_msec      made;
    uint64_t     reserved[3];
};

struct tk_root {
    uint64_t magic;             /* TK_MAGIC, stored last by create */
    uint32_t hdr_size;          /* sizeof(struct tk_root) */
    uint32_t nslots;            /* TK_SLOTS */
    uint64_t gen;               /* current generation; release store */
    gh_msec  rotated;
    uint64_t reserved0[4];
    struct gh_shm_lock lock;    /* rotators only */
    uint64_t encrypted;         /* statistics: relaxed atomics */
    uint64_t decrypted;
    uint64_t renewed;
    uint64_t unknown;
    uint64_t fails;
    uint64_t reserved1[3];
    struct tk_slot slot[TK_SLOTS];
};
_Static_assert(sizeof(struct tk_slot) == 128, "tk_slot size changed");
_Static_assert(sizeof(struct tk_root) == 704, "tk_root size changed");
_Static_assert(sizeof(struct tk_root) <= GH_SLAB_PAGE, "tk_root > a page");

static struct tk_root *
tk_get(const struct gh_shm *shm, gh_off root)
{
    struct tk_root *r;

    if (shm->hdr == NULL || root == 0 || root % 64 != 0
        || root > shm->size || shm->size - root < sizeof(*r))
        return NULL;
    r = gh_shm_ptr(shm, root);
    if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != TK_MAGIC
        || r->hdr_size != sizeof(*r) || r->nslots != TK_SLOTS)
        return NULL;
    return r;
}

static int
tk_make_key(union tk_key *k)
{
    if (RAND_bytes(k->k.name, sizeof(k->k.name)) != 1
        || RAND_priv_bytes(k->k.aes, sizeof(k->k.aes)) != 1
        || RAND_priv_bytes(k->k.hmac, sizeof(k->k.hmac)) != 1) {
        OPENSSL_cleanse(k, sizeof(*k));
        return GH_ERR;
    }
    return GH_OK;
}

/* Seqlock write of slot S (rotators' lock held). */
static void
tk_slot_write(struct tk_slot *s, uint64_t gen, const union tk_key *k,
              gh_msec made)
{
    uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_RELAXED) | 1;

    /* Odd (already odd if a rotator died here), then the words, then
     * even: a reader that saw any new word sees the counter move. */
    __atomic_store_n(&s->seq, q, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&s->gen, gen, __ATOMIC_RELAXED);
    for (size_t i = 0; i < GH_NELEM(k->w); i++)
        __atomic_store_n(&s->key.w[i], k->w[i], __ATOMIC_RELAXED);
    __atomic_store_n(&s->made, made, __ATOMIC_RELAXED);
    __atomic_store_n(&s->seq, q + 1, __ATOMIC_RELEASE);
}

/* Copy slot S if it holds generation GEN, whole: GH_OK, else GH_AGAIN. */
static int
tk_slot_read(const struct tk_slot *s, uint64_t gen, union tk_key *out)
{
    uint64_t q = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

    if ((q & 1) != 0 || __atomic_load_n(&s->gen, __ATOMIC_RELAXED) != gen)
        return GH_AGAIN;
    for (size_t i = 0; i < GH_NELEM(out->w); i++)
        out->w[i] = __atomic_load_n(&s->key.w[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == q ? GH_OK
                                                           : GH_AGAIN;
}

/*
 * The current key, and the previous one when PREV is not NULL and there is
 * one (*HAVE_PREV).  GH_ERR only if rotations kept overtaking us.
 */
static int
tk_read(const struct tk_root *r, union tk_key *cur, union tk_key *prev,
        int *have_prev)
{
    for (int t = 0; t < TK_READ_TRIES; t++) {
        uint64_t g = __atomic_load_n(&r->gen, __ATOMIC_ACQUIRE);

        if (g == 0)
            break;
        if (tk_slot_read(&r->slot[g % TK_SLOTS], g, cur) != GH_OK)
            continue;
        *have_prev = 0;
        if (prev != NULL && g > 1) {
            if (tk_slot_read(&r->slot[(g - 1) % TK_SLOTS], g - 1, prev)
                != GH_OK)
                continue;
            *have_prev = 1;
        }
        return GH_OK;
    }
    OPENSSL_cleanse(cur, sizeof(*cur));
    return GH_ERR;
}

/* Keep the page of the keys out of core dumps (each mapping has its own
 * flag; fork copies it, exec does not). */
static void
tk_protect(const struct gh_shm *shm, gh_off root)
{
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t) gh_shm_ptr(shm, root), lo, hi;

    if (ps <= 0)
        return;
    lo = a & ~((uintptr_t) ps - 1);
    hi = (a + sizeof(struct tk_root) + (uintptr_t) ps - 1)
         & ~((uintptr_t) ps - 1);
    /* Best effort, said in tlscache.h: without it the keys may appear in a
     * core file, like the rest of the segment. */
    (void) madvise((void *) lo, hi - lo, MADV_DONTDUMP);
}

int
gh_tlskeys_create(struct gh_shm *shm, gh_off *root, char *err, size_t errlen)
{
    union tk_key k;
    struct tk_root *r;
    gh_msec now = tc_clock();
    gh_off off;

    if (*root != 0 && tk_get(shm, *root) != NULL) {
        tk_protect(shm, *root);
        return GH_OK;
    }
    if (tk_make_key(&k) != GH_OK) {
        snprintf(err, errlen, "no random bytes for TLS ticket keys");
        return GH_ERR;
    }
    /* A whole page, alone: page-aligned, for tk_protect(). */
    off = gh_slab_calloc(shm, GH_SLAB_PAGE);
    if (off == 0) {
        OPENSSL_cleanse(&k, sizeof(k));
        snprintf(err, errlen, "shared memory of %zu bytes is too small for "
                 "the TLS ticket keys", shm->size);
        return GH_ERR;
    }
    r = gh_shm_ptr(shm, off);
    if (gh_shm_lock_init(&r->lock) != GH_OK) {
        OPENSSL_cleanse(&k, sizeof(k));
        gh_slab_free(shm, off);
        snprintf(err, errlen, "cannot initialise a process-shared lock");
        return GH_ERR;
    }
    r->hdr_size = sizeof(*r);
    r->nslots = TK_SLOTS;
    tk_slot_write(&r->slot[1], 1, &k, now);
    OPENSSL_cleanse(&k, sizeof(k));
    r->gen = 1;
    r->rotated = now;
    __atomic_store_n(&r->magic, TK_MAGIC, __ATOMIC_RELEASE);
    tk_protect(shm, off);
    *root = off;
    return GH_OK;
}

int
gh_tlskeys_rotate(struct gh_shm *shm, gh_off root)
{
    static const union tk_key zero;
    struct tk_root *r = tk_get(shm, root);
    gh_msec now = tc_clock();
    union tk_key k;
    uint64_t g;
    int rc;

    if (r == NULL || tk_make_key(&k) != GH_OK)
        return GH_ERR;
    rc = gh_shm_lock_acquire(&r->lock);
    if (rc == GH_ERR) {
        OPENSSL_cleanse(&k, sizeof(k));
        return GH_ERR;
    }
    /* A dead rotator published nothing half-written; what it left in an
     * unpublished slot is overwritten or wiped below. */
    if (rc == GH_DECLINED)
        gh_shm_lock_repaired(&r->lock);
    g = r->gen;
    /* Names must differ from the live ones (a 2^-128 chance, but then a
     * ticket would be tried with the wrong key). */
    for (uint64_t j = g - 1; j <= g; j++)
        if (memcmp(r->slot[j % TK_SLOTS].key.k.name, k.k.name,
                   sizeof(k.k.name)) == 0)
            k.k.name[0] ^= (uint8_t) (1 + (j & 1));
    tk_slot_write(&r->slot[(g + 1) % TK_SLOTS], g + 1, &k, now);
    __atomic_store_n(&r->gen, g + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&r->rotated, now, __ATOMIC_RELAXED);
    for (uint64_t i = 0; i < TK_SLOTS; i++)
        if (i != (g + 1) % TK_SLOTS && i != g % TK_SLOTS
            && (r->slot[i].gen != 0 || (r->slot[i].seq & 1) != 0))
            tk_slot_write(&r->slot[i], 0, &zero, 0);
    gh_shm_lock_release(&r->lock);
    OPENSSL_cleanse(&k, sizeof(k));
    return GH_OK;
}

void
gh_tlskeys_destroy(struct gh_shm *shm, gh_off root)
{
    static const union tk_key zero;
    struct tk_root *r = tk_get(shm, root);

    if (r == NULL || gh_shm_lock_acquire(&r->lock) == GH_ERR)
        return;
    __atomic_store_n(&r->magic, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < TK_SLOTS; i++)
        tk_slot_write(&r->slot[i], 0, &zero, 0);
    gh_shm_lock_release(&r->lock);
    gh_slab_free(shm, root);
}

void
gh_tlskeys_stats(const struct gh_shm *shm, gh_off root,
                 struct gh_tlskeys_stats *st)
{
    struct tk_root *r = tk_get(shm, root);

    memset(st, 0, sizeof(*st));
    if (r == NULL)
        return;
    st->generation = __atomic_load_n(&r->gen, __ATOMIC_RELAXED);
    st->rotated_ms = __atomic_load_n(&r->rotated, __ATOMIC_RELAXED);
    st->encrypted = __atomic_load_n(&r->encrypted, __ATOMIC_RELAXED);
    st->decrypted = __atomic_load_n(&r->decrypted, __ATOMIC_RELAXED);
    st->renewed = __atomic_load_n(&r->renewed, __ATOMIC_RELAXED);
    st->unknown = __atomic_load_n(&r->unknown, __ATOMIC_RELAXED);
    st->fails = __atomic_load_n(&r->fails, __ATOMIC_RELAXED);
}

/*
 * The keys a ticket of CONTEXT is made with: HMAC-SHA256 of the context
 * under each of K's keys, so another site's tickets fail their HMAC.
 */
static int
tk_derive(const union tk_key *k, const unsigned char *ctx, size_t ctx_len,
          union tk_key *d)
{
    unsigned char msg[8 + GH_TLSCACHE_CTX_MAX];
    unsigned int n1 = 0, n2 = 0;
    int ok;

    if (ctx_len > GH_TLSCACHE_CTX_MAX)
        return GH_ERR;
    memcpy(d->k.name, k->k.name, sizeof(d->k.name));
    if (ctx_len > 0)
        memcpy(msg + 8, ctx, ctx_len);
    memcpy(msg, "gh-aes\0\0", 8);
    ok = HMAC(EVP_sha256(), k->k.aes, sizeof(k->k.aes), msg, 8 + ctx_len,
              d->k.aes, &n1) != NULL;
    memcpy(msg, "gh-mac\0\0", 8);
    ok = ok && HMAC(EVP_sha256(), k->k.hmac, sizeof(k->k.hmac), msg,
                    8 + ctx_len, d->k.hmac, &n2) != NULL;
    return ok && n1 == 32 && n2 == 32 ? GH_OK : GH_ERR;
}

/* ------------------------------------------------------------------ */
/* OpenSSL glue. */

/* What an SSL_CTX is attached to: its ex_data, freed with it. */
struct tls_attach {
    struct gh_shm *shm;         /* borrows */
    gh_off         cache;       /* 0: none */
    gh_off         keys;        /* 0: none */
    size_t         context_len;
    unsigned char  context[GH_TLSCACHE_CTX_MAX];
};

static int tls_ex_index = -1;
static pthread_once_t tls_ex_once = PTHREAD_ONCE_INIT;

static void
tls_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
            void *argp)
{
    free(ptr);
}

static void
tls_ex_init(void)
{
    tls_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, tls_ex_free);
}

static struct tls_attach *
tls_attach_of(const SSL_CTX *ctx)
{
    if (tls_ex_index < 0 || ctx == NULL)
        return NULL;
    return SSL_CTX_get_ex_data(ctx, tls_ex_index);
}

static struct tls_attach *
tls_attach_get(SSL_CTX *ctx, struct gh_shm *shm, const void *context,
               size_t context_len)
{
    static const unsigned char none[1];
    struct tls_attach *a;

    if (context_len > GH_TLSCACHE_CTX_MAX
        || pthread_once(&tls_ex_once, tls_ex_init) != 0 || tls_ex_index < 0)
        return NULL;
    a = tls_attach_of(ctx);
    if (a == NULL) {
        a = calloc(1, sizeof(*a));
        if (a == NULL)
            return NULL;
        if (!SSL_CTX_set_ex_data(ctx, tls_ex_index, a)) {
            free(a);
            return NULL;
        }
    }
    if (!SSL_CTX_set_session_id_context(ctx, context_len > 0 ? context
                                                            : none,
                                        (unsigned int) context_len))
        return NULL;
    a->shm = shm;
    a->context_len = context_len;
    if (context_len > 0)
        memcpy(a->context, context, context_len);
    return a;
}

static int
tls_new_cb(SSL *ssl, SSL_SESSION *sess)
{
    struct tls_attach *a = tls_attach_of(SSL_get_SSL_CTX(ssl));
    unsigned char der[GH_TLSCACHE_DER_MAX], *p = der;
    const unsigned char *id, *ctx;
    unsigned int id_len, ctx_len;
    int len;

    if (a == NULL || a->cache == 0)
        return 0;
    /* TLS 1.3 with tickets: the session travels in the ticket, and the ID
     * OpenSSL gives it is a dummy nobody will ask for. */
    if (SSL_version(ssl) >= TLS1_3_VERSION
        && (SSL_get_options(ssl) & SSL_OP_NO_TICKET) == 0)
        return 0;
    id = SSL_SESSION_get_id(sess, &id_len);
    /* The context OpenSSL compares on resumption is the session's own. */
    ctx = SSL_SESSION_get0_id_context(sess, &ctx_len);
    len = i2d_SSL_SESSION(sess, NULL);
    if (len <= 0 || (size_t) len > sizeof(der)
        || i2d_SSL_SESSION(sess, &p) != len) {
        struct tc_ctx x;

        if (tc_get(&x, a->shm, a->cache) == GH_OK)
            TC_STAT(x.r, fails);
        return 0;
    }
    /* Not stored (too big, no room): counted in the stats, nothing else
     * to do; the client gets a full handshake next time. */
    (void) gh_tlscache_store(a->shm, a->cache, ctx, ctx_len, id, id_len, der,
                             (size_t) len);
    OPENSSL_cleanse(der, (size_t) len);     /* the master secret */
    return 0;   /* we kept no reference */
}

static SSL_SESSION *
tls_get_cb(SSL *ssl, const unsigned char *id, int id_len, int *copy)
{
    struct tls_attach *a = tls_attach_of(SSL_get_SSL_CTX(ssl));
    unsigned char der[GH_TLSCACHE_DER_MAX];
    const unsigned char *p = der, *got;
    SSL_SESSION *sess;
    unsigned int got_len;
    ssize_t n;

    *copy = 0;      /* the session is ours to give: no extra reference */
    if (a == NULL || a->cache == 0 || id_len <= 0)
        return NULL;
    n = gh_tlscache_lookup(a->shm, a->cache, a->context, a->context_len, id,
                           (size_t) id_len, der, sizeof(der));
    if (n <= 0)
        return NULL;
    ERR_set_mark();
    sess = d2i_SSL_SESSION(NULL, &p, (long) n);
    if (sess != NULL) {
        got = SSL_SESSION_get_id(sess, &got_len);
        if (p != der + n || got_len != (unsigned int) id_len
            || memcmp(got, id, got_len) != 0) {
            SSL_SESSION_free(sess);
            sess = NULL;
        }
    }
    /* A failed decoding is a miss, not the handshake's error. */
    (void) ERR_pop_to_mark();
    if (sess == NULL)
        tc_drop_corrupt(a->shm, a->cache, a->context, a->context_len, id,
                        (size_t) id_len);
    OPENSSL_cleanse(der, (size_t) n);
    return sess;
}

static void
tls_remove_cb(SSL_CTX *sctx, SSL_SESSION *sess)
{
    struct tls_attach *a = tls_attach_of(sctx);
    const unsigned char *id, *ctx;
    unsigned int id_len, ctx_len;

    if (a == NULL || a->cache == 0)
        return;
    id = SSL_SESSION_get_id(sess, &id_len);
    ctx = SSL_SESSION_get0_id_context(sess, &ctx_len);
    /* Often not there (TLS 1.3 tickets, a session already evicted). */
    (void) gh_tlscache_remove(a->shm, a->cache, ctx, ctx_len, id, id_len);
}

int
gh_tlscache_attach(SSL_CTX *ctx, struct gh_shm *shm, gh_off root,
                   const void *context, size_t context_len)
{
    struct tls_attach *a;
    struct tc_ctx x;

    if (tc_get(&x, shm, root) != GH_OK)
        return GH_ERR;
    a = tls_attach_get(ctx, shm, context, context_len);
    if (a == NULL)
        return GH_ERR;
    a->cache = root;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER
                                        | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, tls_new_cb);
    SSL_CTX_sess_set_get_cb(ctx, tls_get_cb);
    SSL_CTX_sess_set_remove_cb(ctx, tls_remove_cb);
    SSL_CTX_set_timeout(ctx, (long) (__atomic_load_n(&x.r->timeout_ms,
                                                     __ATOMIC_RELAXED)
                                     / 1000));
    return GH_OK;
}

static int
tls_ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv,
              EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    struct tls_attach *a = tls_attach_of(SSL_get_SSL_CTX(ssl));
    union tk_key k[2], d;
    struct tk_root *r;
    OSSL_PARAM params[3];
    const unsigned char *ctx;
    unsigned int ctx_len = 0;
    SSL_SESSION *sess;
    int have_prev = 0, which = 0, rc = 0;

    /* 0 on any failure: no ticket (enc), or a full handshake (!enc). */
    if (a == NULL || (r = tk_get(a->shm, a->keys)) == NULL)
        return 0;
    if (tk_read(r, &k[0], enc ? NULL : &k[1], &have_prev) != GH_OK) {
        TC_STAT(r, fails);
        return 0;
    }
    if (enc) {
        /* The context OpenSSL gave the session: that of the SSL_CTX it was
         * looked up with, which is the one the decryption will see. */
        sess = SSL_get_session(ssl);
        ctx = sess != NULL ? SSL_SESSION_get0_id_context(sess, &ctx_len)
                           : NULL;
        if (ctx == NULL) {
            ctx = a->context;
            ctx_len = (unsigned int) a->context_len;
        }
        if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc()))
            != 1)
            goto fail;
        memcpy(name, k[0].k.name, GH_TLSKEYS_NAME);
    } else {
        ctx = a->context;
        ctx_len = (unsigned int) a->context_len;
        if (CRYPTO_memcmp(name, k[0].k.name, GH_TLSKEYS_NAME) == 0)
            which = 0;
        else if (have_prev
                 && CRYPTO_memcmp(name, k[1].k.name, GH_TLSKEYS_NAME) == 0)
            which = 1;
        else {
            TC_STAT(r, unknown);
            goto done;          /* 0: full handshake */
        }
    }
    if (tk_derive(&k[which], ctx, ctx_len, &d) != GH_OK)
        goto fail;
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                                  d.k.hmac, sizeof(d.k.hmac));
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (!EVP_MAC_CTX_set_params(hctx, params))
        goto fail;
    if (enc ? !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, d.k.aes, iv)
            : !EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, d.k.aes,
                                  iv))
        goto fail;
    if (enc) {
        TC_STAT(r, encrypted);
        rc = 1;
    } else if (which == 0 && SSL_version(ssl) < TLS1_3_VERSION) {
        TC_STAT(r, decrypted);
        rc = 1;
    } else if (which == 0) {
        /* TLS 1.3 clients use a ticket once (RFC 8446 C.4; OpenSSL's
         * client marks it spent): without a new one, every other
         * connection would be a full handshake. */
        TC_STAT(r, decrypted);
        rc = 2;
    } else {
        TC_STAT(r, renewed);
        rc = 2;                 /* accepted; issue a ticket of the current */
    }
    goto done;
fail:
    TC_STAT(r, fails);
    rc = 0;
done:
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(&d, sizeof(d));
    return rc;
}

int
gh_tlskeys_attach(SSL_CTX *ctx, struct gh_shm *shm, gh_off root,
                  const void *context, size_t context_len)
{
    struct tls_attach *a;

    if (tk_get(shm, root) == NULL)
        return GH_ERR;
    a = tls_attach_get(ctx, shm, context, context_len);
    if (a == NULL)
        return GH_ERR;
    a->keys = root;
    if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, tls_ticket_cb))
        return GH_ERR;
    tk_protect(shm, root);
    return GH_OK;
}
