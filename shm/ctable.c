#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "shm/ctable.h"
#include "shm/siphash.h"
#include "shm/slab.h"
#include "shm/state.h"

/*
 * Fields read without the lock (counts and statistics, by metrics and
 * tests) are stored with relaxed atomics, so a reader sees a whole value.
 * Everything else is written under the stripe lock only.
 */
#define CT_LOAD(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define CT_STORE(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define CT_BUMP(p, d)   CT_STORE((p), CT_LOAD(p) + (d))
/*
 * What a process killed between two stores leaves is seen only after its
 * death (by the master, or the next holder of the lock), when every store
 * it executed is in memory: only the compiler's order matters.
 */
#define CT_ORDER()      __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Entry indexes (+ 1) fit the held slots' 32 bits. */
#define CT_MAX_SETS     ((UINT32_MAX - 1) / GH_CT_WAYS)

/* ---- the table ---------------------------------------------------------- */

static struct gh_shm_ctable *
ct_table(const struct gh_shm *shm)
{
    struct gh_shm_ctable *t;
    gh_off off;

    if (shm->hdr == NULL || shm->hdr->state == 0)
        return NULL;
    off = __atomic_load_n(&gh_state_globals(shm)->ctable, __ATOMIC_ACQUIRE);
    if (off == 0)
        return NULL;
    t = gh_shm_ptr(shm, off);
    return t->magic == GH_CT_MAGIC ? t : NULL;
}

static struct gh_shm_ct_stripe *
ct_stripe(const struct gh_shm *shm, const struct gh_shm_ctable *t,
          uint32_t set)
{
    return (struct gh_shm_ct_stripe *) gh_shm_ptr(shm, t->stripes)
           + set % t->nstripes;
}

static struct gh_shm_ct_entry *
ct_entries(const struct gh_shm *shm, const struct gh_shm_ctable *t)
{
    return gh_shm_ptr(shm, t->sets);
}

/* The set of KEY: a keyed hash, mapped onto nsets by a multiply. */
static uint32_t
ct_set_of(const struct gh_shm_ctable *t, const struct gh_ct_key *key)
{
    uint64_t h = gh_siphash24(t->secret[0], t->secret[1], key, sizeof(*key));

    return (uint32_t) (((unsigned __int128) h * t->nsets) >> 64);
}

/* A holder of stripe ST's lock died: recount its used ways (the one
 * statistic an interrupted insert or free can leave off by one). */
static void
ct_repair_locked(const struct gh_shm *shm, const struct gh_shm_ctable *t,
                 struct gh_shm_ct_stripe *st)
{
    struct gh_shm_ct_stripe *first = gh_shm_ptr(shm, t->stripes);
    struct gh_shm_ct_entry *e = ct_entries(shm, t);
    uint64_t used = 0;

    for (uint32_t s = (uint32_t) (st - first); s < t->nsets;
         s += t->nstripes)
        for (uint32_t w = 0; w < GH_CT_WAYS; w++)
            used += e[(uint64_t) s * GH_CT_WAYS + w].last_used != 0;
    CT_STORE(&st->used, used);
    CT_BUMP(&st->repairs, 1);
}

static int
ct_lock(const struct gh_shm *shm, const struct gh_shm_ctable *t,
        struct gh_shm_ct_stripe *st)
{
    int rc = gh_shm_lock_acquire(&st->lock);

    if (rc == GH_DECLINED) {
        ct_repair_locked(shm, t, st);
        gh_shm_lock_repaired(&st->lock);
        rc = GH_OK;
    }
    return rc;
}

/* Free way E (its key stays, unseen).  Stripe lock held. */
static void
ct_free_locked(struct gh_shm_ct_entry *e, struct gh_shm_ct_stripe *st)
{
    CT_STORE(&e->last_used, 0);
    CT_BUMP(&st->used, -1);
}

/* KEY's entry in SET, or NULL.  No touch.  Stripe lock held. */
static struct gh_shm_ct_entry *
ct_peek_locked(struct gh_shm_ct_entry *set, const struct gh_ct_key *key)
{
    for (uint32_t w = 0; w < GH_CT_WAYS; w++)
        if (set[w].last_used != 0
            && memcmp(&set[w].key, key, sizeof(*key)) == 0)
            return &set[w];
    return NULL;
}

/*
 * KEY's entry in SET, touched (most recently used); when absent, entered
 * into a free way, else in place of the least recently used way that
 * counts no connection, preferring one whose rate state ran out at NOW_US
 * (evicting it forgets nothing).  NULL when every way counts connections.
 * Stripe lock held.
 */
static struct gh_shm_ct_entry *
ct_get_locked(struct gh_shm_ct_entry *set, struct gh_shm_ct_stripe *st,
              const struct gh_ct_key *key, uint64_t now_us)
{
    struct gh_shm_ct_entry *match = NULL, *freew = NULL, *idle = NULL;
    struct gh_shm_ct_entry *lru = NULL, *e;
    uint64_t clock = 0;

    for (uint32_t w = 0; w < GH_CT_WAYS; w++) {
        uint64_t lu;

        e = &set[w];
        lu = e->last_used;
        if (lu > clock)
            clock = lu;
        if (lu == 0) {
            if (freew == NULL)
                freew = e;
        } else if (memcmp(&e->key, key, sizeof(*key)) == 0) {
            match = e;
        } else if (e->conns == 0) {
            if (e->tat_us <= now_us) {
                if (idle == NULL || lu < idle->last_used)
                    idle = e;
            } else if (lru == NULL || lu < lru->last_used) {
                lru = e;
            }
        }
    }
    if (match != NULL) {
        CT_STORE(&match->last_used, clock + 1);
        return match;
    }
    e = freew ? freew : idle ? idle : lru;
    if (e == NULL) {
        CT_BUMP(&st->fails, 1);
        return NULL;
    }
    if (e == freew) {
        CT_BUMP(&st->used, 1);
    } else {
        CT_BUMP(&st->evictions, 1);
        CT_STORE(&e->last_used, 0);     /* unpublished while rewritten */
        CT_ORDER();
    }
    CT_BUMP(&st->inserts, 1);
    e->key = *key;
    e->tat_us = 0;
    CT_STORE(&e->conns, 0);
    CT_ORDER();
    CT_STORE(&e->last_used, clock + 1);
    return e;
}

/* Layout for BYTES: the number of sets (0: too small) and of stripes. */
static uint32_t
ct_geometry(uint64_t bytes, uint32_t *nstripes)
{
    const uint64_t hdr = sizeof(struct gh_shm_ctable);
    const uint64_t set = GH_CT_WAYS * sizeof(struct gh_shm_ct_entry);
    const uint64_t lock = sizeof(struct gh_shm_ct_stripe);
    uint64_t n;

    if (bytes < hdr + set + lock)
        return 0;
    n = (bytes - hdr) / (set + lock);       /* a stripe per set */
    if (n > GH_CT_STRIPES)
        n = (bytes - hdr - GH_CT_STRIPES * lock) / set;
    if (n > CT_MAX_SETS)
        n = CT_MAX_SETS;
    *nstripes = (uint32_t) GH_MIN(n, GH_CT_STRIPES);
    return (uint32_t) n;
}

static int
ct_random(void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return GH_ERR;
        }
        p += n;
        len -= (size_t) n;
    }
    return GH_OK;
}

int
gh_ctable_init(struct gh_shm *shm, uint64_t bytes, char *note,
               size_t notelen, char *err, size_t errlen)
{
    struct gh_shm_globals *g;
    struct gh_shm_ctable *t;
    struct gh_shm_ct_stripe *st;
    uint32_t nsets, nstripes = 0;
    uint64_t size;
    size_t max;
    gh_off off;

    if (note != NULL && notelen > 0)
        note[0] = '\0';
    if (shm->hdr == NULL || shm->hdr->state == 0) {
        snprintf(err, errlen, "client table: the shared state is not "
                 "initialised");
        return GH_ERR;
    }
    g = gh_state_globals(shm);
    if (g->ctable_made) {
        /* Resizing would drop every count and bucket the workers hold. */
        if (g->ctable_bytes != bytes && note != NULL)
            snprintf(note, notelen, "client table size changed from %llu "
                     "to %llu bytes: the table is kept, the new size takes "
                     "effect at the next restart",
                     (unsigned long long) g->ctable_bytes,
                     (unsigned long long) bytes);
        return GH_OK;
    }
    if (bytes == 0)
        goto made;
    nsets = ct_geometry(bytes, &nstripes);
    if (bytes < GH_CT_MIN_BYTES || nsets == 0) {
        snprintf(err, errlen, "client table of %llu bytes is below the "
                 "minimum of %u", (unsigned long long) bytes,
                 GH_CT_MIN_BYTES);
        return GH_ERR;
    }
    size = sizeof(*t) + (uint64_t) nstripes * sizeof(*st)
           + (uint64_t) nsets * GH_CT_WAYS * sizeof(struct gh_shm_ct_entry);
    max = gh_slab_max_alloc(shm);
    /* Not "as much as fits": the largest block is over half the segment,
     * and the rest of the daemon's state needs the other half. */
    if (size > max) {
        snprintf(err, errlen, "client table of %llu bytes does not fit in "
                 "shared memory of %zu bytes (at most %zu in one block): "
                 "raise shm_size or lower the table's size",
                 (unsigned long long) bytes, shm->size, max);
        return GH_ERR;
    }
    off = gh_slab_calloc(shm, (size_t) size);
    if (off == 0) {
        snprintf(err, errlen, "shared memory of %zu bytes is full: no room "
                 "for a client table of %llu bytes", shm->size,
                 (unsigned long long) bytes);
        return GH_ERR;
    }
    t = gh_shm_ptr(shm, off);
    if (ct_random(t->secret, sizeof(t->secret)) != GH_OK) {
        snprintf(err, errlen, "getrandom() failed (%d: %s)", errno,
                 strerror(errno));
        gh_slab_free(shm, off);
        return GH_ERR;
    }
    t->bytes = bytes;
    t->size = size;
    t->nsets = nsets;
    t->nstripes = nstripes;
    t->stripes = off + sizeof(*t);
    t->sets = t->stripes + (uint64_t) nstripes * sizeof(*st);
    st = gh_shm_ptr(shm, t->stripes);
    for (uint32_t i = 0; i < nstripes; i++) {
        if (gh_shm_lock_init(&st[i].lock) != GH_OK) {
            snprintf(err, errlen, "cannot initialise a process-shared lock");
            gh_slab_free(shm, off);
            return GH_ERR;
        }
    }
    __atomic_store_n(&t->magic, GH_CT_MAGIC, __ATOMIC_RELEASE);
    __atomic_store_n(&g->ctable, off, __ATOMIC_RELEASE);
made:
    g->ctable_bytes = bytes;
    g->ctable_made = 1;
    return GH_OK;
}

/* ---- keys --------------------------------------------------------------- */

void
gh_ctable_key_addr(uint64_t zone, const uint8_t addr[16],
                   struct gh_ct_key *key)
{
    key->zone = zone;
    memcpy(key->k, addr, sizeof(key->k));
}

void
gh_ctable_key_bytes(const struct gh_shm *shm, uint64_t zone,
                    const void *data, size_t len, struct gh_ct_key *key)
{
    static const uint64_t none[6];
    const struct gh_shm_ctable *t = ct_table(shm);
    const uint64_t *s = t != NULL ? t->secret : none;
    uint64_t lo = gh_siphash24(s[2], s[3], data, len);
    uint64_t hi = gh_siphash24(s[4], s[5], data, len);

    key->zone = zone;
    memcpy(key->k, &lo, 8);
    memcpy(key->k + 8, &hi, 8);
}

/* ---- what a worker holds ------------------------------------------------- */

static uint64_t *
ct_slots(struct gh_shm_ct_held *h)
{
    return (uint64_t *) (h + 1);
}

static uint32_t
ct_home(uint32_t idx1, uint32_t mask)
{
    return (uint32_t) ((idx1 * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
}

#define CT_IDX1(w)  ((uint32_t) (w))
#define CT_N(w)     ((uint32_t) ((w) >> 32))

/* One more count of entry IDX1 - 1.  GH_OK, or GH_AGAIN when full. */
static int
ct_held_add(struct gh_shm_ct_held *h, uint32_t idx1)
{
    uint64_t *slot = ct_slots(h), w;
    uint32_t mask = h->cap - 1, i = ct_home(idx1, mask);

    if (h->cap == 0)
        return GH_AGAIN;
    for (uint32_t n = 0; n < h->cap; n++, i = (i + 1) & mask) {
        w = slot[i];
        if (CT_IDX1(w) == idx1) {
            if (CT_N(w) == UINT32_MAX)
                return GH_AGAIN;
            CT_STORE(&slot[i], w + (1ULL << 32));
            return GH_OK;
        }
        if (CT_IDX1(w) == 0) {
            /* At most 3/4 full, so a probe always ends on an empty slot. */
            if (((uint64_t) h->used + 1) * 4 > (uint64_t) h->cap * 3)
                return GH_AGAIN;
            CT_STORE(&slot[i], 1ULL << 32 | idx1);
            h->used++;
            return GH_OK;
        }
    }
    return GH_AGAIN;
}

/*
 * One count less of entry IDX1 - 1; the slot goes at 0, by backward-shift
 * deletion (no tombstones, so the table never needs a rebuild).  Each move
 * is one store that copies a slot over the hole before the source is
 * overwritten or cleared: a worker killed in between leaves two copies of
 * one slot in one cluster, which the reap counts once.
 */
static void
ct_held_sub(struct gh_shm_ct_held *h, uint32_t idx1)
{
    uint64_t *slot = ct_slots(h), w;
    uint32_t mask = h->cap - 1, i = ct_home(idx1, mask), j, k, n;

    for (n = 0; n < h->cap; n++, i = (i + 1) & mask) {
        w = slot[i];
        if (CT_IDX1(w) == idx1)
            break;
        if (CT_IDX1(w) == 0)
            return;                 /* not recorded (HELD was full) */
    }
    if (n == h->cap)
        return;
    if (CT_N(w) > 1) {
        CT_STORE(&slot[i], w - (1ULL << 32));
        return;
    }
    for (j = i;;) {
        j = (j + 1) & mask;
        w = slot[j];
        if (CT_IDX1(w) == 0)
            break;
        k = ct_home(CT_IDX1(w), mask);
        /* Stays when its home is cyclically in (i, j]. */
        if (i <= j ? i < k && k <= j : i < k || k <= j)
            continue;
        CT_STORE(&slot[i], w);
        i = j;
    }
    CT_STORE(&slot[i], 0);
    h->used--;
}

/* Is slot S a copy left by an interrupted move (the same entry earlier in
 * its cluster)? */
static int
ct_held_dup(const uint64_t *slot, uint32_t mask, uint32_t s)
{
    uint32_t idx1 = CT_IDX1(slot[s]);

    for (uint32_t i = (s - 1) & mask, n = 0; n < mask;
         i = (i - 1) & mask, n++) {
        if (CT_IDX1(slot[i]) == 0)
            return 0;
        if (CT_IDX1(slot[i]) == idx1)
            return 1;
    }
    return 0;
}

struct gh_shm_ct_held *
gh_ctable_proc_attach(struct gh_shm *shm, int32_t pid, uint32_t maxconns)
{
    const struct gh_shm_ctable *t = ct_table(shm);
    struct gh_shm_ct_held *h;
    uint32_t cap = 0;
    gh_off off;

    if (shm->hdr == NULL || shm->hdr->state == 0 || maxconns > 1u << 29)
        return NULL;
    if (t != NULL && maxconns > 0)
        for (cap = 4; (uint64_t) cap * 3 < (uint64_t) maxconns * 4; cap <<= 1)
            ;
    off = gh_slab_calloc(shm, sizeof(*h) + (size_t) cap * sizeof(uint64_t));
    if (off == 0)
        return NULL;
    h = gh_shm_ptr(shm, off);
    h->cap = cap;
    h->magic = GH_CT_HELD_MAGIC;
    if (gh_state_proc_ct(shm, pid, off) != GH_OK) {
        gh_slab_free(shm, off);
        return NULL;
    }
    return h;
}

int64_t
gh_ctable_held_reap(struct gh_shm *shm, gh_off held)
{
    struct gh_shm_ct_held *h = gh_shm_ptr(shm, held);
    const struct gh_shm_ctable *t = ct_table(shm);
    uint64_t *slot;
    int64_t given = 0;

    if (h == NULL)
        return 0;
    /* A table that is not whole (a wild write) is only freed. */
    if (h->magic != GH_CT_HELD_MAGIC || t == NULL || h->cap == 0
        || (h->cap & (h->cap - 1)) != 0
        || sizeof(*h) + (size_t) h->cap * sizeof(uint64_t)
           > gh_slab_usable(shm, held))
        goto out;
    slot = ct_slots(h);
    for (uint32_t s = 0; s < h->cap; s++) {
        uint64_t w = slot[s], idx;
        struct gh_shm_ct_stripe *st;
        struct gh_shm_ct_entry *e;
        uint32_t n = CT_N(w), d;

        if (CT_IDX1(w) == 0 || n == 0 || ct_held_dup(slot, h->cap - 1, s)
            || CT_IDX1(w) > (uint64_t) t->nsets * GH_CT_WAYS)
            continue;
        idx = CT_IDX1(w) - 1;
        st = ct_stripe(shm, t, (uint32_t) (idx / GH_CT_WAYS));
        if (ct_lock(shm, t, st) != GH_OK)
            continue;
        e = ct_entries(shm, t) + idx;
        if (e->last_used != 0) {
            d = GH_MIN(n, e->conns);
            CT_STORE(&e->conns, e->conns - d);
            given += d;
            if (e->conns == 0 && e->tat_us == 0)
                ct_free_locked(e, st);
        }
        gh_shm_lock_release(&st->lock);
    }
out:
    h->magic = 0;
    gh_slab_free(shm, held);
    return given;
}

/* ---- connections and rates ---------------------------------------------- */

int
gh_ctable_conn_enter(struct gh_shm *shm, struct gh_shm_ct_held *held,
                     const struct gh_ct_key *key, uint32_t limit,
                     gh_off *entry)
{
    struct gh_shm_ctable *t = ct_table(shm);
    struct gh_shm_ct_stripe *st;
    struct gh_shm_ct_entry *set, *e;
    uint32_t s;
    int rc;

    *entry = 0;
    if (t == NULL)
        return GH_AGAIN;
    s = ct_set_of(t, key);
    st = ct_stripe(shm, t, s);
    set = ct_entries(shm, t) + (uint64_t) s * GH_CT_WAYS;
    if (ct_lock(shm, t, st) != GH_OK)
        return GH_ERR;
    e = ct_get_locked(set, st, key, 0);
    if (e == NULL) {
        rc = GH_AGAIN;
    } else if ((limit != 0 && e->conns >= limit) || e->conns == UINT32_MAX) {
        rc = GH_DECLINED;
    } else if (held != NULL
               && ct_held_add(held, (uint32_t) (e - ct_entries(shm, t)) + 1)
                  != GH_OK) {
        if (e->conns == 0 && e->tat_us == 0)
            ct_free_locked(e, st);
        rc = GH_AGAIN;
    } else {
        CT_ORDER();                 /* recorded, then counted */
        CT_STORE(&e->conns, e->conns + 1);
        *entry = gh_shm_off(shm, e);
        rc = GH_OK;
    }
    gh_shm_lock_release(&st->lock);
    return rc;
}

void
gh_ctable_conn_leave(struct gh_shm *shm, struct gh_shm_ct_held *held,
                     gh_off entry)
{
    struct gh_shm_ctable *t = ct_table(shm);
    struct gh_shm_ct_stripe *st;
    struct gh_shm_ct_entry *e;
    uint64_t idx;

    if (entry == 0 || t == NULL || entry < t->sets
        || (entry - t->sets) % sizeof(*e) != 0)
        return;
    idx = (entry - t->sets) / sizeof(*e);
    if (idx >= (uint64_t) t->nsets * GH_CT_WAYS)
        return;                     /* not from gh_ctable_conn_enter() */
    st = ct_stripe(shm, t, (uint32_t) (idx / GH_CT_WAYS));
    if (ct_lock(shm, t, st) != GH_OK)
        return;
    e = ct_entries(shm, t) + idx;
    if (e->last_used != 0 && e->conns > 0) {
        CT_STORE(&e->conns, e->conns - 1);
        if (e->conns == 0 && e->tat_us == 0)
            ct_free_locked(e, st);
    }
    gh_shm_lock_release(&st->lock);
    CT_ORDER();                     /* uncounted, then unrecorded */
    if (held != NULL && held->cap != 0)
        ct_held_sub(held, (uint32_t) idx + 1);
}

int
gh_ctable_rate(struct gh_shm *shm, const struct gh_ct_key *key,
               uint64_t interval_us, uint32_t burst, uint64_t now_us,
               uint64_t *retry_after_s)
{
    struct gh_shm_ctable *t;
    struct gh_shm_ct_stripe *st;
    struct gh_shm_ct_entry *set, *e;
    uint64_t tau, tat, wait = 0;
    uint32_t s;
    int rc;

    if (interval_us == 0)
        return GH_OK;
    t = ct_table(shm);
    if (t == NULL)
        return GH_AGAIN;
    if (__builtin_mul_overflow((uint64_t) burst, interval_us, &tau))
        tau = UINT64_MAX;
    s = ct_set_of(t, key);
    st = ct_stripe(shm, t, s);
    set = ct_entries(shm, t) + (uint64_t) s * GH_CT_WAYS;
    if (ct_lock(shm, t, st) != GH_OK)
        return GH_ERR;
    e = ct_get_locked(set, st, key, now_us);
    if (e == NULL) {
        rc = GH_AGAIN;
    } else {
        tat = GH_MAX(e->tat_us, now_us);
        if (tat - now_us > tau) {
            wait = tat - now_us - tau;
            rc = GH_DECLINED;
        } else {
            if (__builtin_add_overflow(tat, interval_us, &tat))
                tat = UINT64_MAX;
            e->tat_us = tat;
            rc = GH_OK;
        }
    }
    gh_shm_lock_release(&st->lock);
    if (rc == GH_DECLINED && retry_after_s != NULL)
        *retry_after_s = GH_MAX(wait / 1000000 + (wait % 1000000 != 0), 1);
    return rc;
}

uint32_t
gh_ctable_conns(struct gh_shm *shm, const struct gh_ct_key *key)
{
    struct gh_shm_ctable *t = ct_table(shm);
    struct gh_shm_ct_stripe *st;
    struct gh_shm_ct_entry *e;
    uint32_t s, n = 0;

    if (t == NULL)
        return 0;
    s = ct_set_of(t, key);
    st = ct_stripe(shm, t, s);
    if (ct_lock(shm, t, st) != GH_OK)
        return 0;
    e = ct_peek_locked(ct_entries(shm, t) + (uint64_t) s * GH_CT_WAYS, key);
    if (e != NULL)
        n = e->conns;
    gh_shm_lock_release(&st->lock);
    return n;
}

void
gh_ctable_stats(const struct gh_shm *shm, struct gh_ctable_stats *stats)
{
    const struct gh_shm_ctable *t = ct_table(shm);
    struct gh_shm_ct_stripe *st;

    memset(stats, 0, sizeof(*stats));
    if (t == NULL)
        return;
    stats->bytes = t->size;
    stats->entries = (uint64_t) t->nsets * GH_CT_WAYS;
    st = gh_shm_ptr(shm, t->stripes);
    for (uint32_t i = 0; i < t->nstripes; i++) {
        stats->used += CT_LOAD(&st[i].used);
        stats->inserts += CT_LOAD(&st[i].inserts);
        stats->evictions += CT_LOAD(&st[i].evictions);
        stats->fails += CT_LOAD(&st[i].fails);
        stats->repairs += CT_LOAD(&st[i].repairs);
    }
}
