/*
 * The shared HTTP cache store (the contract is in shm/cache.h).
 *
 *     struct hc_root      budget, lock, undo journal, LRU ends, zombie
 *                         list ends, counters, SipHash keys
 *     gh_off[nbuckets]    chains of live entries (hnext)
 *     struct hc_entry     header + key + variant; on a chain and the LRU
 *                         while live, on the zombie list once unlinked
 *     struct hc_chunk     body bytes, a singly linked chain per entry
 *     meta                one slab object: [len u64][sum u64][bytes]
 *
 * Every structural write goes through hc_set_locked(), which records
 * (offset, old value) first; a step is committed by emptying the journal,
 * and an object is freed only after the step that made it unreachable was
 * committed.  A dead holder leaves one open step, rolled back by the next
 * holder: what it loses is at most the one object it had in hand.
 *
 * Unlinking an entry moves it to the zombie list (one step); reaping frees
 * a zombie without readers one chunk per step, then the entry itself, so a
 * holder killed while freeing leaves a zombie the next reap finishes.
 *
 * Struct layouts are private here and versioned by HC_MAGIC.
 */

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "shm/cache.h"
#include "shm/layout.h"
#include "shm/lock.h"
#include "shm/shm.h"
#include "shm/siphash.h"
#include "shm/slab.h"
#include "worker/core/gh.h"

#define HC_MAGIC        0x4748434143480001ULL   /* "GHCACH", version 1 */
#define HC_ENT_MAGIC    0x4748434145540001ULL
#define HC_CHK_MAGIC    0x47484341434b0001ULL
#define HC_LOG_CAP      32
#define HC_BUCKET_BYTES 4096
#define HC_BUCKETS_MIN  64
#define HC_BUCKETS_MAX  (1u << 22)
#define HC_EVICT_SCAN   64      /* LRU entries searched for a victim */
#define HC_CHUNK        GH_SLAB_PAGE
#define HC_CHUNK_MIN    256
#define HC_REAP         8       /* zombies an operation reaps at most */

#define HC_WHERE_LIVE   1
#define HC_WHERE_ZOMBIE 2

const char *const gh_cache_state_names[] = {
    "filling", "complete", "aborted"
};

struct hc_undo {
    gh_off   where;
    uint64_t old;
};

struct hc_root {
    uint64_t magic;
    uint32_t hdr_size;
    uint32_t nbuckets;
    gh_off   buckets;
    uint64_t limit;
    uint64_t max_object;        /* relaxed atomic: a reload may change it */
    uint64_t secret[4];         /* SipHash keys: lo, hi */
    uint64_t next_id;           /* under the lock */
    uint64_t clock;             /* largest NOW seen; relaxed atomic */
    struct gh_shm_lock lock;
    uint64_t log_n;
    uint64_t pad0;
    struct hc_undo log[HC_LOG_CAP];
    /* The structure: every write journaled. */
    gh_off   head, tail;        /* LRU of live entries */
    gh_off   zhead, ztail;      /* zombies */
    uint64_t used;
    uint64_t count;
    uint64_t zcount;
    /* Statistics: relaxed atomics. */
    uint64_t hits, misses, fills, aborts, evictions, purges, corrupt,
             repairs;
};

struct hc_entry {
    uint64_t magic;
    uint64_t id;                /* unique in the zone */
    uint64_t hlo, hhi;          /* SipHash-128 of the primary key */
    uint64_t hsum;              /* of the immutable header and keys */
    gh_off   hnext;
    gh_off   prev, next;        /* LRU, or the zombie list */
    uint64_t where;             /* HC_WHERE_* */
    uint64_t state;             /* enum gh_cache_state; release stores */
    uint64_t refs;              /* under the lock */
    int64_t  ref_ms;            /* last reference taken */
    int64_t  pid;               /* the filler */
    int64_t  claim_ms;          /* gh_cache_claim() holds it until then */
    uint64_t body_len;          /* published bytes; release store */
    gh_off   chunks;            /* first chunk */
    gh_off   ctail;             /* last chunk */
    gh_off   meta;
    uint64_t charge;            /* usable bytes of this header object */
    uint32_t keylen, varlen;
    uint8_t  bytes[];           /* key, then variant */
};

struct hc_chunk {
    uint64_t magic;
    gh_off   next;
    uint32_t len, cap;          /* bytes written, room */
    uint64_t pad;
    uint8_t  data[];
};

struct hc_ctx {
    struct gh_shm  *shm;
    struct hc_root *r;
    gh_off         *bkt;
    gh_msec         now;
};

#ifdef GH_CACHE_TEST_HOOK
static void (*hc_hook)(void);
#define HC_HOOK() do { if (hc_hook != NULL) hc_hook(); } while (0)
#else
#define HC_HOOK() do { } while (0)
#endif

#define HC_STAT(r, f) __atomic_add_fetch(&(r)->f, 1, __ATOMIC_RELAXED)

/* The header checksum: the fields that never change after linking. */
static uint64_t
hc_hsum(const struct hc_root *r, const struct hc_entry *e)
{
    uint64_t h = gh_siphash24(r->secret[2], r->secret[0], e->bytes,
                        (size_t) e->keylen + e->varlen);

    return h ^ (e->id * 0x9e3779b97f4a7c15ULL) ^ e->hlo
           ^ ((uint64_t) e->keylen << 32 | e->varlen) ^ e->charge;
}

/* ---- access, journal, lock ---------------------------------------------- */

static int
hc_get(struct hc_ctx *x, const struct gh_shm *shm, gh_off root)
{
    struct hc_root *r;

    if (shm == NULL || shm->hdr == NULL || root == 0 || root % 16 != 0
        || root > shm->size || shm->size - root < sizeof(*r))
        return GH_ERR;
    r = gh_shm_ptr(shm, root);
    if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != HC_MAGIC
        || r->hdr_size != sizeof(*r) || r->buckets == 0
        || r->buckets > shm->size
        || (shm->size - r->buckets) / sizeof(gh_off) < r->nbuckets)
        return GH_ERR;
    x->shm = (struct gh_shm *) (uintptr_t) shm;
    x->r = r;
    x->bkt = gh_shm_ptr(shm, r->buckets);
    x->now = (gh_msec) __atomic_load_n(&r->clock, __ATOMIC_RELAXED);
    return GH_OK;
}

static void
hc_tick(struct hc_ctx *x, gh_msec now)
{
    uint64_t c = __atomic_load_n(&x->r->clock, __ATOMIC_RELAXED);

    while ((uint64_t) now > c
           && !__atomic_compare_exchange_n(&x->r->clock, &c, (uint64_t) now,
                                           0, __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED))
        continue;
    x->now = now > (gh_msec) c ? now : (gh_msec) c;
}

static int
hc_in_seg(const struct hc_ctx *x, gh_off off, size_t size)
{
    return off != 0 && off % 16 == 0 && off >= sizeof(struct gh_shm_hdr)
           && off <= x->shm->size && x->shm->size - off >= size;
}

/* The entry at OFF, or NULL when OFF cannot be one (a damaged link). */
static struct hc_entry *
hc_entry_at(const struct hc_ctx *x, gh_off off)
{
    struct hc_entry *e;

    if (!hc_in_seg(x, off, sizeof(*e)))
        return NULL;
    e = gh_shm_ptr(x->shm, off);
    if (e->magic != HC_ENT_MAGIC
        || sizeof(*e) + (uint64_t) e->keylen + e->varlen > e->charge
        || e->charge > x->shm->size - off)
        return NULL;
    return e;
}

static struct hc_chunk *
hc_chunk_at(const struct hc_ctx *x, gh_off off)
{
    struct hc_chunk *c;

    if (!hc_in_seg(x, off, sizeof(*c)))
        return NULL;
    c = gh_shm_ptr(x->shm, off);
    if (c->magic != HC_CHK_MAGIC || c->len > c->cap
        || c->cap > HC_CHUNK || x->shm->size - off < sizeof(*c) + c->cap)
        return NULL;
    return c;
}

static void
hc_set_locked(struct hc_ctx *x, uint64_t *field, uint64_t v)
{
    struct hc_root *r = x->r;
    uint64_t n = r->log_n;

    if (*field == v)
        return;
    if (n >= HC_LOG_CAP)
        abort();    /* a step writes at most ~14 fields: a bug; undone */
    r->log[n].where = gh_shm_off(x->shm, field);
    r->log[n].old = *field;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&r->log_n, n + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    HC_HOOK();
    __atomic_store_n(field, v, __ATOMIC_RELEASE);
    HC_HOOK();
}

static void
hc_commit_locked(struct hc_ctx *x)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&x->r->log_n, 0, __ATOMIC_RELAXED);
    HC_HOOK();
}

static void
hc_undo_locked(struct hc_ctx *x)
{
    struct hc_root *r = x->r;
    uint64_t n = GH_MIN(r->log_n, HC_LOG_CAP);

    while (n > 0) {
        const struct hc_undo *u = &r->log[n - 1];

        if (u->where % 8 == 0 && u->where >= sizeof(struct gh_shm_hdr)
            && u->where <= x->shm->size - 8)
            __atomic_store_n((uint64_t *) gh_shm_ptr(x->shm, u->where),
                             u->old, __ATOMIC_RELAXED);
        n--;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&r->log_n, n, __ATOMIC_RELAXED);
    }
}

static int
hc_lock(struct hc_ctx *x)
{
    int rc = gh_shm_lock_acquire(&x->r->lock);

    if (rc == GH_ERR)
        return GH_ERR;
    if (rc == GH_DECLINED || x->r->log_n != 0) {
        hc_undo_locked(x);
        HC_STAT(x->r, repairs);
        if (rc == GH_DECLINED)
            gh_shm_lock_repaired(&x->r->lock);
    }
    return GH_OK;
}

static void
hc_unlock(struct hc_ctx *x)
{
    gh_shm_lock_release(&x->r->lock);
}

/* ---- lists ---------------------------------------------------------------- */

static void
hc_list_unlink_locked(struct hc_ctx *x, gh_off *head, gh_off *tail,
                      struct hc_entry *e)
{
    struct hc_entry *p = hc_entry_at(x, e->prev), *n = hc_entry_at(x, e->next);

    if (e->prev == 0)
        hc_set_locked(x, head, e->next);
    else if (p != NULL)
        hc_set_locked(x, &p->next, e->next);
    if (e->next == 0)
        hc_set_locked(x, tail, e->prev);
    else if (n != NULL)
        hc_set_locked(x, &n->prev, e->prev);
}

static void
hc_list_push_locked(struct hc_ctx *x, gh_off *head, gh_off *tail, gh_off off,
                    struct hc_entry *e)
{
    struct hc_entry *h = hc_entry_at(x, *head);

    hc_set_locked(x, &e->prev, 0);
    hc_set_locked(x, &e->next, h != NULL ? *head : 0);
    if (h != NULL)
        hc_set_locked(x, &h->prev, off);
    else
        hc_set_locked(x, tail, off);
    hc_set_locked(x, head, off);
}

/* The link that points at OFF on its chain, or NULL. */
static gh_off *
hc_link_of_locked(struct hc_ctx *x, gh_off off, const struct hc_entry *e)
{
    gh_off *link = &x->bkt[e->hlo & (x->r->nbuckets - 1)];
    uint64_t steps = 0;

    while (*link != 0 && *link != off) {
        struct hc_entry *n = hc_entry_at(x, *link);

        if (n == NULL || ++steps > x->r->count)
            return NULL;
        link = &n->hnext;
    }
    return *link == off ? link : NULL;
}

/* Live -> zombie, one committed step.  STATE: ABORTED or left as is. */
static void
hc_unlink_locked(struct hc_ctx *x, gh_off off, struct hc_entry *e, int abort_)
{
    struct hc_root *r = x->r;
    gh_off *link;

    if (e->where != HC_WHERE_LIVE)
        return;
    link = hc_link_of_locked(x, off, e);
    if (link != NULL)
        hc_set_locked(x, link, e->hnext);
    hc_list_unlink_locked(x, &r->head, &r->tail, e);
    hc_list_push_locked(x, &r->zhead, &r->ztail, off, e);
    hc_set_locked(x, &e->where, HC_WHERE_ZOMBIE);
    if (abort_ && e->state == GH_CACHE_FILLING)
        hc_set_locked(x, &e->state, GH_CACHE_ABORTED);
    hc_set_locked(x, &r->count, r->count > 0 ? r->count - 1 : 0);
    hc_set_locked(x, &r->zcount, r->zcount + 1);
    hc_commit_locked(x);
}

static int
hc_lease_over(const struct hc_ctx *x, const struct hc_entry *e)
{
    return x->now - e->ref_ms > GH_CACHE_LEASE_MS;
}

static void
hc_uncharge_locked(struct hc_ctx *x, uint64_t n)
{
    hc_set_locked(x, &x->r->used, x->r->used >= n ? x->r->used - n : 0);
}

/* Free a zombie: chunk by chunk, meta, then the header (each a step). */
static void
hc_free_locked(struct hc_ctx *x, gh_off off, struct hc_entry *e)
{
    struct hc_root *r = x->r;
    uint64_t steps = 0;
    gh_off m;

    while (e->chunks != 0 && steps++ < x->shm->size / HC_CHUNK_MIN) {
        gh_off coff = e->chunks;
        struct hc_chunk *c = hc_chunk_at(x, coff);

        hc_set_locked(x, &e->chunks, c != NULL ? c->next : 0);
        if (c != NULL)
            hc_uncharge_locked(x, gh_slab_usable(x->shm, coff));
        hc_commit_locked(x);
        if (c != NULL) {
            __atomic_store_n(&c->magic, 0, __ATOMIC_RELAXED);
            gh_slab_free(x->shm, coff);
        }
    }
    if ((m = e->meta) != 0) {
        hc_set_locked(x, &e->meta, 0);
        hc_uncharge_locked(x, gh_slab_usable(x->shm, m));
        hc_commit_locked(x);
        gh_slab_free(x->shm, m);
    }
    hc_list_unlink_locked(x, &r->zhead, &r->ztail, e);
    hc_uncharge_locked(x, e->charge);
    hc_set_locked(x, &r->zcount, r->zcount > 0 ? r->zcount - 1 : 0);
    hc_commit_locked(x);
    __atomic_store_n(&e->magic, 0, __ATOMIC_RELEASE);
    gh_slab_free(x->shm, off);
}

/* Free up to MAX zombies without readers (or past their lease). */
static void
hc_reap_locked(struct hc_ctx *x, size_t max)
{
    gh_off off = x->r->ztail;
    uint64_t steps = 0;
    size_t n = 0;

    while (off != 0 && n < max && steps++ <= x->r->zcount) {
        struct hc_entry *e = hc_entry_at(x, off);
        gh_off prev;

        if (e == NULL) {
            /* A damaged zombie list: forget it (leaks what was on it). */
            hc_set_locked(x, &x->r->zhead, 0);
            hc_set_locked(x, &x->r->ztail, 0);
            hc_set_locked(x, &x->r->zcount, 0);
            hc_commit_locked(x);
            HC_STAT(x->r, corrupt);
            return;
        }
        prev = e->prev;
        if (e->refs == 0 || hc_lease_over(x, e)) {
            hc_free_locked(x, off, e);
            n++;
        }
        off = prev;
    }
}

/* Evict one COMPLETE entry without live readers from the LRU tail. */
static int
hc_evict_one_locked(struct hc_ctx *x)
{
    gh_off off = x->r->tail;
    int n = 0;

    for (; off != 0 && n < HC_EVICT_SCAN; n++) {
        struct hc_entry *e = hc_entry_at(x, off);

        if (e == NULL)
            return GH_DECLINED;
        if ((e->state != GH_CACHE_FILLING || hc_lease_over(x, e))
            && (e->refs == 0 || hc_lease_over(x, e))) {
            hc_unlink_locked(x, off, e, 1);
            hc_free_locked(x, off, e);
            HC_STAT(x->r, evictions);
            return GH_OK;
        }
        off = e->prev;
    }
    return GH_DECLINED;
}

static int
hc_slab_evict(void *arg, int cls)
{
    (void) cls;     /* any entry frees a chunk page and small objects */
    return hc_evict_one_locked(arg);
}

/* Make room for CHARGE bytes in the budget, then allocate SIZE. */
static gh_off
hc_alloc_locked(struct hc_ctx *x, size_t size, size_t charge)
{
    gh_off off;

    hc_reap_locked(x, HC_REAP);
    while (x->r->used + charge > x->r->limit
           && hc_evict_one_locked(x) == GH_OK)
        continue;
    if (x->r->used + charge > x->r->limit)
        return 0;
    off = gh_slab_alloc_evict(x->shm, size, hc_slab_evict, x);
    if (off != 0 && x->r->used + gh_slab_usable(x->shm, off) > x->r->limit) {
        gh_slab_free(x->shm, off);  /* the slab rounded up past the budget */
        return 0;
    }
    return off;
}

/* What the slab charges for SIZE bytes (classes of shm/slab.h). */
static size_t
hc_charge_of(size_t size)
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

/* ---- zones -------------------------------------------------------------- */

int
gh_cache_zone_create(struct gh_shm *shm, size_t bytes, size_t max_object,
                     gh_off *root, char *err, size_t errlen)
{
    struct hc_ctx x;
    struct hc_root *r;
    uint64_t secret[4];
    uint32_t nb = HC_BUCKETS_MIN;
    gh_off off, boff;

    if (max_object == 0 || max_object > bytes)
        max_object = bytes;
    if (*root != 0 && hc_get(&x, shm, *root) == GH_OK
        && x.r->limit == bytes) {
        __atomic_store_n(&x.r->max_object, max_object, __ATOMIC_RELAXED);
        return GH_OK;
    }
    if (bytes < GH_CACHE_MIN) {
        snprintf(err, errlen, "cache zone of %zu bytes is below the minimum "
                 "of %d", bytes, GH_CACHE_MIN);
        return GH_ERR;
    }
    if (getrandom(secret, sizeof(secret), 0) != (ssize_t) sizeof(secret)) {
        snprintf(err, errlen, "no random bytes for the cache zone: %s",
                 strerror(errno));
        return GH_ERR;
    }
    while (nb < bytes / HC_BUCKET_BYTES && nb < HC_BUCKETS_MAX)
        nb <<= 1;
    off = gh_slab_calloc(shm, sizeof(*r));
    boff = off != 0 ? gh_slab_calloc(shm, (size_t) nb * sizeof(gh_off)) : 0;
    if (boff == 0) {
        gh_slab_free(shm, off);
        snprintf(err, errlen, "shared memory of %zu bytes is too small for "
                 "a cache zone index of %u buckets", shm->size, nb);
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
    r->max_object = max_object;
    memcpy(r->secret, secret, sizeof(secret));
    r->next_id = 1;
    __atomic_store_n(&r->magic, HC_MAGIC, __ATOMIC_RELEASE);
    *root = off;
    return GH_OK;
}

void
gh_cache_zone_destroy(struct gh_shm *shm, gh_off root)
{
    struct hc_ctx x;
    struct hc_entry *e;

    if (hc_get(&x, shm, root) != GH_OK || hc_lock(&x) != GH_OK)
        return;     /* not a zone, or its lock is lost: leak it */
    while ((e = hc_entry_at(&x, x.r->head)) != NULL)
        hc_unlink_locked(&x, x.r->head, e, 1);
    while ((e = hc_entry_at(&x, x.r->zhead)) != NULL)
        hc_free_locked(&x, x.r->zhead, e);
    __atomic_store_n(&x.r->magic, 0, __ATOMIC_RELEASE);
    hc_unlock(&x);
    gh_slab_free(shm, x.r->buckets);
    gh_slab_free(shm, root);
}

/* ---- lookup and fill ---------------------------------------------------- */

static int
hc_key_ok(size_t keylen, size_t varlen)
{
    return keylen >= 1 && keylen <= GH_CACHE_KEY_MAX
           && varlen <= GH_CACHE_VARIANT_MAX;
}

/*
 * The live entry of (KEY, VARIANT); VARIANT NULL matches any variant (for
 * purge, with START to go on from).  An entry failing its header checksum
 * is unlinked and skipped.
 */
static struct hc_entry *
hc_find_locked(struct hc_ctx *x, uint64_t lo, uint64_t hi, const void *key,
               size_t keylen, const void *variant, size_t varlen,
               int any_variant, gh_off *offp)
{
    gh_off off = x->bkt[lo & (x->r->nbuckets - 1)];
    uint64_t steps = 0;

    while (off != 0) {
        struct hc_entry *e = hc_entry_at(x, off);

        if (e == NULL || ++steps > x->r->count + 1) {
            /* A damaged chain: cut it here (leaks what was beyond). */
            HC_STAT(x->r, corrupt);
            return NULL;
        }
        if (e->hlo == lo && e->hhi == hi && e->keylen == keylen
            && (any_variant || e->varlen == varlen)
            && memcmp(e->bytes, key, keylen) == 0
            && (any_variant || varlen == 0
                || memcmp(e->bytes + keylen, variant, varlen) == 0)) {
            if (e->hsum != hc_hsum(x->r, e) || e->where != HC_WHERE_LIVE) {
                gh_off next = e->hnext;

                HC_STAT(x->r, corrupt);
                hc_unlink_locked(x, off, e, 1);
                off = next;
                continue;
            }
            *offp = off;
            return e;
        }
        off = e->hnext;
    }
    return NULL;
}

static void
hc_ref_init(struct gh_cache_ref *ref, struct hc_ctx *x, gh_off zone,
            gh_off off, struct hc_entry *e, int filler)
{
    ref->shm = x->shm;
    ref->zone = zone;
    ref->entry = off;
    ref->id = e->id;
    ref->c_off = 0;
    ref->c_start = 0;
    ref->filler = filler;
}

/* Take a reference on E, move it to the LRU head. */
static void
hc_pin_locked(struct hc_ctx *x, gh_off off, struct hc_entry *e)
{
    __atomic_store_n(&e->refs, e->refs + 1, __ATOMIC_RELAXED);
    __atomic_store_n(&e->ref_ms, x->now, __ATOMIC_RELAXED);
    if (x->r->head != off) {
        hc_list_unlink_locked(x, &x->r->head, &x->r->tail, e);
        hc_list_push_locked(x, &x->r->head, &x->r->tail, off, e);
        hc_commit_locked(x);
    }
}

/* Is the filler of E gone?  Outside the lock: kill() is a system call. */
static int
hc_pid_dead(int64_t pid)
{
    return pid > 0 && kill((pid_t) pid, 0) == -1 && errno == ESRCH;
}

/* If the FILLING entry OFF (id ID) still is, abort it.  Lock held. */
static void
hc_abort_dead_locked(struct hc_ctx *x, gh_off off, uint64_t id)
{
    struct hc_entry *e = hc_entry_at(x, off);

    if (e != NULL && e->id == id && e->where == HC_WHERE_LIVE
        && e->state == GH_CACHE_FILLING) {
        hc_unlink_locked(x, off, e, 1);
        HC_STAT(x->r, aborts);
        if (e->refs > 0)
            e->refs--;      /* the dead filler's own reference */
    }
}

/*
 * Lookup under the lock.  GH_OK hit (pinned), GH_DECLINED miss, GH_AGAIN:
 * a FILLING entry of a dead pid (*DEAD_OFF, *DEAD_ID, *DEAD_PID): check it
 * outside, then call again.
 */
static int
hc_lookup_locked(struct hc_ctx *x, gh_off zone, uint64_t lo, uint64_t hi,
                 const void *key, size_t keylen, const void *variant,
                 size_t varlen, struct gh_cache_ref *ref, int64_t *pid,
                 gh_off *eoff, uint64_t *eid)
{
    struct hc_entry *e;
    gh_off off;

    e = hc_find_locked(x, lo, hi, key, keylen, variant, varlen, 0, &off);
    if (e == NULL)
        return GH_DECLINED;
    *pid = e->pid;
    *eoff = off;
    *eid = e->id;
    if (e->state == GH_CACHE_FILLING && pid != NULL)
        return GH_AGAIN;
    hc_pin_locked(x, off, e);
    hc_ref_init(ref, x, zone, off, e, 0);
    return GH_OK;
}

static int hc_lookup(struct gh_shm *shm, gh_off zone, const void *key,
                     size_t keylen, const void *variant, size_t varlen,
                     gh_msec now, struct gh_cache_ref *ref, int count);

int
gh_cache_lookup(struct gh_shm *shm, gh_off zone, const void *key,
                size_t keylen, const void *variant, size_t varlen,
                gh_msec now, struct gh_cache_ref *ref)
{
    return hc_lookup(shm, zone, key, keylen, variant, varlen, now, ref, 1);
}

int
gh_cache_peek(struct gh_shm *shm, gh_off zone, const void *key,
              size_t keylen, const void *variant, size_t varlen,
              gh_msec now, struct gh_cache_ref *ref)
{
    return hc_lookup(shm, zone, key, keylen, variant, varlen, now, ref, 0);
}

void
gh_cache_count(struct gh_shm *shm, gh_off zone, int hit)
{
    struct hc_ctx x;

    if (hc_get(&x, shm, zone) != GH_OK)
        return;
    if (hit)
        HC_STAT(x.r, hits);
    else
        HC_STAT(x.r, misses);
}

static int
hc_lookup(struct gh_shm *shm, gh_off zone, const void *key, size_t keylen,
          const void *variant, size_t varlen, gh_msec now,
          struct gh_cache_ref *ref, int count)
{
    struct hc_ctx x;
    uint64_t lo, hi, id;
    int64_t pid;
    gh_off off;
    int rc;

    memset(ref, 0, sizeof(*ref));
    if (hc_get(&x, shm, zone) != GH_OK)
        return GH_ERR;
    if (!hc_key_ok(keylen, varlen)) {
        if (count)
            HC_STAT(x.r, misses);
        return GH_DECLINED;
    }
    hc_tick(&x, now);
    lo = gh_siphash24(x.r->secret[0], x.r->secret[1], key, keylen);
    hi = gh_siphash24(x.r->secret[2], x.r->secret[3], key, keylen);
    if (hc_lock(&x) != GH_OK)
        return GH_ERR;
    rc = hc_lookup_locked(&x, zone, lo, hi, key, keylen, variant, varlen,
                          ref, &pid, &off, &id);
    if (rc == GH_AGAIN) {
        hc_unlock(&x);
        if (hc_pid_dead(pid)) {
            if (hc_lock(&x) != GH_OK)
                return GH_ERR;
            hc_abort_dead_locked(&x, off, id);
            hc_reap_locked(&x, HC_REAP);
            hc_unlock(&x);
            if (count)
                HC_STAT(x.r, misses);
            return GH_DECLINED;
        }
        if (hc_lock(&x) != GH_OK)
            return GH_ERR;
        /* A live filler: serve what is there, streaming. */
        {
            struct hc_entry *e = hc_entry_at(&x, off);

            if (e != NULL && e->id == id && e->where == HC_WHERE_LIVE
                && e->state != GH_CACHE_ABORTED) {
                hc_pin_locked(&x, off, e);
                hc_ref_init(ref, &x, zone, off, e, 0);
                rc = GH_OK;
            } else {
                rc = GH_DECLINED;
            }
        }
    }
    hc_unlock(&x);
    if (!count)
        return rc;
    if (rc == GH_OK)
        HC_STAT(x.r, hits);
    else
        HC_STAT(x.r, misses);
    return rc;
}

int
gh_cache_begin_fill(struct gh_shm *shm, gh_off zone, const void *key,
                    size_t keylen, const void *variant, size_t varlen,
                    pid_t pid, gh_msec now, struct gh_cache_ref *ref)
{
    return gh_cache_begin_refill(shm, zone, key, keylen, variant, varlen, 0,
                                 pid, now, ref);
}

int
gh_cache_begin_refill(struct gh_shm *shm, gh_off zone, const void *key,
                      size_t keylen, const void *variant, size_t varlen,
                      uint64_t old_id, pid_t pid, gh_msec now,
                      struct gh_cache_ref *ref)
{
    size_t need = sizeof(struct hc_entry) + keylen + varlen, charge;
    struct hc_entry *e;
    struct hc_ctx x;
    uint64_t lo, hi, id;
    int64_t epid;
    gh_off off, *bkt;
    int tries;

    memset(ref, 0, sizeof(*ref));
    if (hc_get(&x, shm, zone) != GH_OK)
        return GH_ERR;
    if (!hc_key_ok(keylen, varlen)
        || (charge = hc_charge_of(need)) > x.r->max_object)
        return GH_DECLINED;
    hc_tick(&x, now);
    lo = gh_siphash24(x.r->secret[0], x.r->secret[1], key, keylen);
    hi = gh_siphash24(x.r->secret[2], x.r->secret[3], key, keylen);
    for (tries = 0; tries < 2; tries++) {
        if (hc_lock(&x) != GH_OK)
            return GH_ERR;
        e = hc_find_locked(&x, lo, hi, key, keylen, variant, varlen, 0,
                           &off);
        if (e == NULL)
            break;
        epid = e->pid;
        id = e->id;
        if (old_id != 0 && id == old_id && e->state == GH_CACHE_COMPLETE) {
            /* The entry being replaced: its readers keep it (zombie). */
            hc_unlink_locked(&x, off, e, 0);
            e = NULL;
            break;
        }
        if (e->state != GH_CACHE_FILLING) {
            hc_unlock(&x);
            return GH_AGAIN;    /* complete: look it up */
        }
        hc_unlock(&x);
        if (!hc_pid_dead(epid))
            return GH_AGAIN;
        if (hc_lock(&x) != GH_OK)
            return GH_ERR;
        hc_abort_dead_locked(&x, off, id);
        hc_unlock(&x);
    }
    if (e != NULL)
        return GH_AGAIN;
    /* The lock is held, and the key is not there. */
    off = hc_alloc_locked(&x, need, charge);
    if (off == 0) {
        hc_unlock(&x);
        return GH_DECLINED;
    }
    e = gh_shm_ptr(shm, off);
    memset(e, 0, sizeof(*e));
    e->id = x.r->next_id++;
    e->hlo = lo;
    e->hhi = hi;
    e->charge = gh_slab_usable(shm, off);
    e->keylen = (uint32_t) keylen;
    e->varlen = (uint32_t) varlen;
    memcpy(e->bytes, key, keylen);
    if (varlen > 0)
        memcpy(e->bytes + keylen, variant, varlen);
    e->hsum = hc_hsum(x.r, e);
    e->state = GH_CACHE_FILLING;
    e->refs = 1;
    e->ref_ms = x.now;
    e->pid = pid;
    e->where = HC_WHERE_LIVE;
    e->magic = HC_ENT_MAGIC;
    bkt = &x.bkt[lo & (x.r->nbuckets - 1)];
    e->hnext = *bkt;
    hc_set_locked(&x, bkt, off);
    hc_list_push_locked(&x, &x.r->head, &x.r->tail, off, e);
    hc_set_locked(&x, &x.r->used, x.r->used + e->charge);
    hc_set_locked(&x, &x.r->count, x.r->count + 1);
    hc_commit_locked(&x);
    hc_ref_init(ref, &x, zone, off, e, 1);
    hc_unlock(&x);
    HC_STAT(x.r, fills);
    return GH_OK;
}

/* The ref's entry if it still is the one it pinned, else NULL. */
static struct hc_entry *
hc_ref_entry(struct hc_ctx *x, const struct gh_cache_ref *ref)
{
    struct hc_entry *e;

    if (ref->entry == 0 || hc_get(x, ref->shm, ref->zone) != GH_OK)
        return NULL;
    e = hc_entry_at(x, ref->entry);
    return e != NULL && e->id == ref->id ? e : NULL;
}

static void
hc_abort_locked(struct hc_ctx *x, gh_off off, struct hc_entry *e)
{
    if (e->state == GH_CACHE_FILLING) {
        if (e->where == HC_WHERE_LIVE)
            hc_unlink_locked(x, off, e, 1);
        else
            __atomic_store_n(&e->state, GH_CACHE_ABORTED, __ATOMIC_RELEASE);
        HC_STAT(x->r, aborts);
    }
}

static uint64_t
hc_meta_len(struct hc_ctx *x, const struct hc_entry *e)
{
    if (e->meta == 0 || !hc_in_seg(x, e->meta, 16))
        return 0;
    return *(uint64_t *) gh_shm_ptr(x->shm, e->meta);
}

int
gh_cache_append(struct gh_cache_ref *ref, const void *p, size_t n)
{
    const uint8_t *s = p;
    struct hc_entry *e;
    struct hc_chunk *c;
    struct hc_ctx x;

    e = hc_ref_entry(&x, ref);
    if (e == NULL || !ref->filler || e->state != GH_CACHE_FILLING)
        return GH_DECLINED;
    if (e->body_len + n + hc_meta_len(&x, e)
        > __atomic_load_n(&x.r->max_object, __ATOMIC_RELAXED))
        goto abort;
    while (n > 0) {
        size_t k;

        c = hc_chunk_at(&x, e->ctail);
        if (c == NULL || c->len == c->cap) {
            /* The first chunk fits the first append (small bodies stay
             * small); later ones are whole pages. */
            size_t size = c != NULL ? (size_t) HC_CHUNK
                          : GH_MIN(sizeof(*c) + n, (size_t) HC_CHUNK);
            gh_off coff;

            if (size < HC_CHUNK_MIN)
                size = HC_CHUNK_MIN;
            if (hc_lock(&x) != GH_OK)
                return GH_ERR;
            coff = hc_alloc_locked(&x, size, hc_charge_of(size));
            if (coff == 0 || e->state != GH_CACHE_FILLING) {
                gh_slab_free(x.shm, coff);
                hc_unlock(&x);
                goto abort;
            }
            c = gh_shm_ptr(x.shm, coff);
            c->magic = HC_CHK_MAGIC;
            c->next = 0;
            c->len = 0;
            c->cap = (uint32_t) (gh_slab_usable(x.shm, coff) - sizeof(*c));
            if (c->cap > HC_CHUNK - sizeof(*c))
                c->cap = HC_CHUNK - sizeof(*c);
            if (e->ctail != 0 && hc_chunk_at(&x, e->ctail) != NULL)
                hc_set_locked(&x, &((struct hc_chunk *)
                              gh_shm_ptr(x.shm, e->ctail))->next, coff);
            else
                hc_set_locked(&x, &e->chunks, coff);
            hc_set_locked(&x, &e->ctail, coff);
            hc_set_locked(&x, &x.r->used,
                          x.r->used + gh_slab_usable(x.shm, coff));
            hc_commit_locked(&x);
            hc_unlock(&x);
        }
        /* Only the filler writes here; readers stop at body_len. */
        k = GH_MIN(n, (size_t) (c->cap - c->len));
        memcpy(c->data + c->len, s, k);
        __atomic_store_n(&c->len, c->len + (uint32_t) k, __ATOMIC_RELEASE);
        __atomic_store_n(&e->body_len, e->body_len + k, __ATOMIC_RELEASE);
        s += k;
        n -= k;
    }
    return GH_OK;
abort:
    gh_cache_abort(ref);
    return GH_DECLINED;
}

int
gh_cache_set_meta(struct gh_cache_ref *ref, const void *p, size_t n)
{
    struct hc_entry *e;
    struct hc_ctx x;
    uint64_t *m;
    gh_off moff, old;

    e = hc_ref_entry(&x, ref);
    if (e == NULL || e->state == GH_CACHE_ABORTED)
        return GH_DECLINED;
    if (n > GH_CACHE_META_MAX
        || e->body_len + n > __atomic_load_n(&x.r->max_object,
                                             __ATOMIC_RELAXED))
        goto fail;
    if (hc_lock(&x) != GH_OK)
        return GH_ERR;
    moff = hc_alloc_locked(&x, 16 + n, hc_charge_of(16 + n));
    if (moff == 0) {
        hc_unlock(&x);
        goto fail;
    }
    m = gh_shm_ptr(x.shm, moff);
    m[0] = n;
    m[1] = gh_siphash24(x.r->secret[1], x.r->secret[3], p, n);
    if (n > 0)
        memcpy(m + 2, p, n);
    old = e->meta;
    hc_set_locked(&x, &e->meta, moff);
    hc_set_locked(&x, &x.r->used, x.r->used + gh_slab_usable(x.shm, moff)
                  - (old != 0 ? gh_slab_usable(x.shm, old) : 0));
    hc_commit_locked(&x);
    /* Readers copy the blob under the lock: nobody reads OLD now. */
    gh_slab_free(x.shm, old);
    hc_unlock(&x);
    return GH_OK;
fail:
    if (ref->filler)
        gh_cache_abort(ref);
    return GH_DECLINED;
}

int
gh_cache_complete(struct gh_cache_ref *ref)
{
    struct hc_entry *e;
    struct hc_ctx x;
    int rc = GH_DECLINED;

    e = hc_ref_entry(&x, ref);
    if (e == NULL || !ref->filler || hc_lock(&x) != GH_OK)
        return GH_DECLINED;
    if (e->state == GH_CACHE_FILLING && e->where == HC_WHERE_LIVE) {
        __atomic_store_n(&e->state, GH_CACHE_COMPLETE, __ATOMIC_RELEASE);
        rc = GH_OK;
    }
    hc_unlock(&x);
    return rc;
}

void
gh_cache_abort(struct gh_cache_ref *ref)
{
    struct hc_entry *e;
    struct hc_ctx x;

    e = hc_ref_entry(&x, ref);
    if (e == NULL || !ref->filler || hc_lock(&x) != GH_OK)
        return;
    hc_abort_locked(&x, ref->entry, e);
    hc_unlock(&x);
}

/* ---- reading ------------------------------------------------------------ */

int
gh_cache_claim(struct gh_cache_ref *ref, gh_msec now, gh_msec hold)
{
    struct hc_entry *e;
    struct hc_ctx x;
    int64_t was;

    e = hc_ref_entry(&x, ref);
    if (e == NULL)
        return GH_ERR;
    was = __atomic_load_n(&e->claim_ms, __ATOMIC_RELAXED);
    if (was > now)
        return GH_DECLINED;
    return __atomic_compare_exchange_n(&e->claim_ms, &was,
                                       (int64_t) (now + hold), 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)
           ? GH_OK : GH_DECLINED;
}

int
gh_cache_renew(struct gh_cache_ref *ref, gh_msec now)
{
    struct hc_entry *e;
    struct hc_ctx x;

    if (ref->entry == 0 || hc_get(&x, ref->shm, ref->zone) != GH_OK)
        return GH_ERR;
    hc_tick(&x, now);
    if (hc_lock(&x) != GH_OK)
        return GH_ERR;
    e = hc_ref_entry(&x, ref);
    if (e != NULL && e->ref_ms < x.now)
        __atomic_store_n(&e->ref_ms, x.now, __ATOMIC_RELAXED);
    hc_unlock(&x);
    return e != NULL ? GH_OK : GH_ERR;
}

void
gh_cache_unclaim(struct gh_cache_ref *ref)
{
    struct hc_entry *e;
    struct hc_ctx x;

    e = hc_ref_entry(&x, ref);
    if (e != NULL)
        __atomic_store_n(&e->claim_ms, 0, __ATOMIC_RELEASE);
}

enum gh_cache_state
gh_cache_state(struct gh_cache_ref *ref, uint64_t *len)
{
    struct hc_entry *e;
    struct hc_ctx x;
    uint64_t st, dummy;

    if (len == NULL)
        len = &dummy;
    *len = 0;
    e = hc_ref_entry(&x, ref);
    if (e == NULL)
        return GH_CACHE_ABORTED;
    st = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
    *len = __atomic_load_n(&e->body_len, __ATOMIC_ACQUIRE);
    return st <= GH_CACHE_ABORTED ? (enum gh_cache_state) st
                                  : GH_CACHE_ABORTED;
}

/*
 * The chunk holding body byte OFF (< LEN), walking from the ref's cursor
 * when it is at or before OFF.  *START gets the chunk's first offset.
 */
static struct hc_chunk *
hc_seek(struct hc_ctx *x, struct gh_cache_ref *ref, struct hc_entry *e,
        uint64_t off, uint64_t *start)
{
    gh_off coff = e->chunks;
    uint64_t pos = 0, steps = 0;
    struct hc_chunk *c;

    if (ref->c_off != 0 && ref->c_start <= off) {
        coff = ref->c_off;
        pos = ref->c_start;
    }
    while ((c = hc_chunk_at(x, coff)) != NULL) {
        uint32_t len = __atomic_load_n(&c->len, __ATOMIC_ACQUIRE);

        if (off < pos + len) {
            ref->c_off = coff;
            ref->c_start = pos;
            *start = pos;
            return c;
        }
        if (len == 0 || ++steps > x->shm->size / HC_CHUNK_MIN)
            return NULL;
        pos += len;
        coff = __atomic_load_n(&c->next, __ATOMIC_ACQUIRE);
    }
    return NULL;
}

/* The common part of read and iov: GH_OK to go on, or the return. */
static ssize_t
hc_read_begin(struct hc_ctx *x, struct gh_cache_ref *ref, uint64_t off,
              struct hc_entry **ep, uint64_t *lenp)
{
    struct hc_entry *e = hc_ref_entry(x, ref);
    uint64_t st, len;

    if (e == NULL)
        return GH_ERR;
    st = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
    len = __atomic_load_n(&e->body_len, __ATOMIC_ACQUIRE);
    if (st == GH_CACHE_ABORTED || st > GH_CACHE_ABORTED)
        return GH_DECLINED;
    if (off >= len)
        return st == GH_CACHE_COMPLETE ? 0 : GH_AGAIN;
    *ep = e;
    *lenp = len;
    return 1;
}

ssize_t
gh_cache_read(struct gh_cache_ref *ref, uint64_t off, void *buf, size_t n)
{
    struct hc_entry *e;
    struct hc_ctx x;
    uint64_t len, start;
    size_t done = 0;
    ssize_t rc;

    rc = hc_read_begin(&x, ref, off, &e, &len);
    if (rc <= 0)
        return rc;
    n = (size_t) GH_MIN((uint64_t) n, len - off);
    while (done < n) {
        struct hc_chunk *c = hc_seek(&x, ref, e, off + done, &start);
        size_t k;

        if (c == NULL) {
            HC_STAT(x.r, corrupt);
            return done > 0 ? (ssize_t) done : GH_ERR;
        }
        k = GH_MIN(n - done, (size_t) (start + c->len - (off + done)));
        memcpy((uint8_t *) buf + done, c->data + (off + done - start), k);
        done += k;
    }
    return (ssize_t) done;
}

ssize_t
gh_cache_iov(struct gh_cache_ref *ref, uint64_t off, struct iovec *iov,
             int iovcnt)
{
    struct hc_entry *e;
    struct hc_ctx x;
    uint64_t len, start;
    ssize_t rc;
    int i = 0;

    rc = hc_read_begin(&x, ref, off, &e, &len);
    if (rc <= 0)
        return rc;
    while (i < iovcnt && off < len) {
        struct hc_chunk *c = hc_seek(&x, ref, e, off, &start);
        uint64_t k;

        if (c == NULL)
            break;
        k = GH_MIN(start + c->len, len) - off;
        iov[i].iov_base = c->data + (off - start);
        iov[i].iov_len = (size_t) k;
        off += k;
        i++;
    }
    return i > 0 ? i : GH_ERR;
}

ssize_t
gh_cache_meta(struct gh_cache_ref *ref, void *buf, size_t size)
{
    struct hc_entry *e;
    struct hc_ctx x;
    ssize_t rc = GH_DECLINED;

    e = hc_ref_entry(&x, ref);
    if (e == NULL)
        return GH_ERR;
    if (hc_lock(&x) != GH_OK)
        return GH_ERR;
    if (e->meta != 0 && hc_in_seg(&x, e->meta, 16)) {
        uint64_t *m = gh_shm_ptr(x.shm, e->meta);
        size_t usable = gh_slab_usable(x.shm, e->meta);

        if (usable >= 16 && m[0] <= usable - 16 && m[0] <= GH_CACHE_META_MAX
            && gh_siphash24(x.r->secret[1], x.r->secret[3], m + 2, m[0]) == m[1]) {
            memcpy(buf, m + 2, GH_MIN(m[0], (uint64_t) size));
            rc = (ssize_t) m[0];
        } else {
            HC_STAT(x.r, corrupt);
        }
    }
    hc_unlock(&x);
    return rc;
}

void
gh_cache_release(struct gh_cache_ref *ref)
{
    struct hc_entry *e;
    struct hc_ctx x;

    e = hc_ref_entry(&x, ref);
    if (e != NULL && hc_lock(&x) == GH_OK) {
        if (ref->filler)
            hc_abort_locked(&x, ref->entry, e);
        if (e->refs > 0)
            __atomic_store_n(&e->refs, e->refs - 1, __ATOMIC_RELAXED);
        if (e->refs == 0 && e->where == HC_WHERE_ZOMBIE)
            hc_free_locked(&x, ref->entry, e);
        hc_reap_locked(&x, HC_REAP);
        hc_unlock(&x);
    }
    ref->entry = 0;
}

/* ---- purge, stats, check ------------------------------------------------ */

int
gh_cache_purge(struct gh_shm *shm, gh_off zone, const void *key,
               size_t keylen)
{
    struct hc_entry *e;
    struct hc_ctx x;
    uint64_t lo, hi;
    gh_off off;
    int n = 0;

    if (hc_get(&x, shm, zone) != GH_OK)
        return GH_ERR;
    if (!hc_key_ok(keylen, 0))
        return 0;
    lo = gh_siphash24(x.r->secret[0], x.r->secret[1], key, keylen);
    hi = gh_siphash24(x.r->secret[2], x.r->secret[3], key, keylen);
    if (hc_lock(&x) != GH_OK)
        return GH_ERR;
    while ((e = hc_find_locked(&x, lo, hi, key, keylen, NULL, 0, 1, &off))
           != NULL) {
        hc_unlink_locked(&x, off, e, 1);
        n++;
    }
    hc_reap_locked(&x, (size_t) n + HC_REAP);
    hc_unlock(&x);
    __atomic_add_fetch(&x.r->purges, (uint64_t) n, __ATOMIC_RELAXED);
    return n;
}

int
gh_cache_purge_prefix(struct gh_shm *shm, gh_off zone, const void *prefix,
                      size_t len)
{
    struct hc_ctx x;
    uint64_t steps = 0;
    gh_off off;
    int n = 0;

    if (hc_get(&x, shm, zone) != GH_OK || hc_lock(&x) != GH_OK)
        return GH_ERR;
    off = x.r->head;
    while (off != 0 && steps++ <= x.r->count + n) {
        struct hc_entry *e = hc_entry_at(&x, off);
        gh_off next;

        if (e == NULL)
            break;
        next = e->next;
        if (e->keylen >= len && memcmp(e->bytes, prefix, len) == 0) {
            hc_unlink_locked(&x, off, e, 1);
            n++;
        }
        off = next;
    }
    hc_reap_locked(&x, (size_t) n + HC_REAP);
    hc_unlock(&x);
    __atomic_add_fetch(&x.r->purges, (uint64_t) n, __ATOMIC_RELAXED);
    return n;
}

void
gh_cache_stats(const struct gh_shm *shm, gh_off zone,
               struct gh_cache_stats *st)
{
    struct hc_ctx x;
    struct hc_root *r;

    memset(st, 0, sizeof(*st));
    if (hc_get(&x, shm, zone) != GH_OK)
        return;
    r = x.r;
#define HC_LD(f) __atomic_load_n(&r->f, __ATOMIC_RELAXED)
    st->entries = HC_LD(count);
    st->zombies = HC_LD(zcount);
    st->bytes = HC_LD(used);
    st->limit = r->limit;
    st->max_object = HC_LD(max_object);
    st->hits = HC_LD(hits);
    st->misses = HC_LD(misses);
    st->fills = HC_LD(fills);
    st->aborts = HC_LD(aborts);
    st->evictions = HC_LD(evictions);
    st->purges = HC_LD(purges);
    st->corrupt = HC_LD(corrupt);
    st->repairs = HC_LD(repairs);
#undef HC_LD
}

int
gh_cache_check(struct gh_shm *shm, gh_off zone, char *err, size_t errlen)
{
    struct hc_ctx x;
    uint64_t n = 0, z = 0, used = 0;
    gh_off off, prev = 0;
    int rc = GH_ERR;

    if (hc_get(&x, shm, zone) != GH_OK) {
        snprintf(err, errlen, "not a cache zone");
        return GH_ERR;
    }
    if (hc_lock(&x) != GH_OK) {
        snprintf(err, errlen, "lock lost");
        return GH_ERR;
    }
    for (int pass = 0; pass < 2; pass++) {
        off = pass == 0 ? x.r->head : x.r->zhead;
        prev = 0;
        while (off != 0) {
            struct hc_entry *e = hc_entry_at(&x, off);
            gh_off coff;
            uint64_t body = 0;

            if (e == NULL || e->prev != prev
                || n + z > x.r->count + x.r->zcount
                || e->where != (pass == 0 ? HC_WHERE_LIVE : HC_WHERE_ZOMBIE)) {
                snprintf(err, errlen, "bad entry %llu on list %d",
                         (unsigned long long) off, pass);
                goto out;
            }
            if (pass == 0 && hc_link_of_locked(&x, off, e) == NULL) {
                snprintf(err, errlen, "entry %llu not on its chain",
                         (unsigned long long) off);
                goto out;
            }
            used += e->charge;
            for (coff = e->chunks; coff != 0; ) {
                struct hc_chunk *c = hc_chunk_at(&x, coff);

                if (c == NULL) {
                    snprintf(err, errlen, "bad chunk %llu",
                             (unsigned long long) coff);
                    goto out;
                }
                body += c->len;
                used += gh_slab_usable(shm, coff);
                coff = c->next;
            }
            if (e->meta != 0)
                used += gh_slab_usable(shm, e->meta);
            if (pass == 0 && body != e->body_len) {  /* zombies: freeing */
                snprintf(err, errlen, "entry %llu: body %llu != %llu",
                         (unsigned long long) off, (unsigned long long) body,
                         (unsigned long long) e->body_len);
                goto out;
            }
            if (pass == 0)
                n++;
            else
                z++;
            prev = off;
            off = e->next;
        }
        if (prev != (pass == 0 ? x.r->tail : x.r->ztail)) {
            snprintf(err, errlen, "list %d: bad tail", pass);
            goto out;
        }
    }
    if (n != x.r->count || z != x.r->zcount || used != x.r->used
        || used > x.r->limit) {
        snprintf(err, errlen, "counts: %llu/%llu live, %llu/%llu zombies, "
                 "%llu/%llu bytes (limit %llu)", (unsigned long long) n,
                 (unsigned long long) x.r->count, (unsigned long long) z,
                 (unsigned long long) x.r->zcount, (unsigned long long) used,
                 (unsigned long long) x.r->used,
                 (unsigned long long) x.r->limit);
        goto out;
    }
    rc = GH_OK;
out:
    hc_unlock(&x);
    return rc;
}
