/*
 * The slab allocator of the segment (the contract is in shm/slab.h).
 *
 * Region: from the first page boundary after the segment header to the
 * last whole page of the segment.  It starts with the metadata:
 *
 *     struct gh_slab                  header, lock, journal, classes
 *     struct slab_page[npages]        one descriptor per data page
 *     struct slab_undo[log_cap]       the undo journal
 *
 * then the data pages, numbered 0 .. npages-1 from sl->base.  Buddy
 * alignment is by page number, not by address.
 *
 * Descriptors.  The page that starts a block says what the block is; every
 * other page of it is INTERIOR (slab tails say which page is their head).
 * Heads are always accurate, and no other page ever looks like a head, so
 * the descriptor of a page alone tells whether an offset can be freed:
 *
 *     FREE      a free buddy block of 2^order pages, on free_head[order]
 *     SLAB      a small-object slab of 2^order pages of class cls; count =
 *               objects in use (>= 1), map = which ones; on the class's
 *               partial list while count < nobj
 *     TAIL      page 1 .. 2^order-1 of a slab; count = its head page
 *     RUN       a page run of count pages (not a power of two: its tail was
 *               given back as smaller free blocks)
 *     INTERIOR  any other page
 *
 * Journal.  Every write to these structures goes through slab_set32() or
 * slab_set64(), which first appends (offset, old value) to the undo log,
 * then makes the write.  Commit empties the log.  Whoever takes the lock
 * and finds the log not empty (the holder died: EOWNERDEAD) restores the
 * old values newest first, which is idempotent, so a repairer killed
 * halfway is itself repaired by the next one.  The operation in progress
 * (sl->op, sl->op_arg) is recorded before its first write: an interrupted
 * free is done again after the undo (the caller had let go of the object;
 * if it had in fact completed, the redo finds it free and ignores it).
 * Objects' own bytes are never written by the allocator, so the log only
 * ever covers the metadata.  Counters that are not part of the structure
 * (fails, repairs, invalid frees) are plain relaxed atomics.
 *
 * These structs live here, not in shm/layout.h: nothing else reads them,
 * and SLAB_MAGIC carries their version.  Bump it on any change.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/layout.h"
#include "shm/lock.h"
#include "shm/shm.h"
#include "shm/slab.h"
#include "worker/core/gh.h"

#define SLAB_MAGIC      0x47484c4142000001ULL   /* "GHLAB", version 1 */
#define SLAB_NONE       UINT32_MAX              /* end of a page list */
#define SLAB_ORDERS     32                      /* buddy orders, at most */
#define SLAB_MAP_WORDS  4
#define SLAB_MAP_BITS   (64 * SLAB_MAP_WORDS)   /* objects per slab, max */
#define SLAB_SLAB_ORDER 3                       /* slabs: 1 .. 8 pages */
#define SLAB_NCLASSES   24

_Static_assert(GH_SLAB_MIN == 16 && GH_SLAB_MAX_SMALL == 2048,
               "slab_class_of() and slab_class_size() assume 16 .. 2048");
_Static_assert(SLAB_NCLASSES <= GH_SLAB_CLASSES, "too many classes");
_Static_assert(GH_SLAB_PAGE >= 4096 && (GH_SLAB_PAGE & (GH_SLAB_PAGE - 1))
               == 0, "GH_SLAB_PAGE must be a power of two >= 4096");

enum slab_kind {
    SLAB_K_INTERIOR = 0,
    SLAB_K_FREE,
    SLAB_K_SLAB,
    SLAB_K_TAIL,
    SLAB_K_RUN
};

static const char *const slab_kind_names[] = {
    "interior", "free", "slab", "tail", "run"
};

/* A descriptor's type word: kind, buddy order, class. */
#define SLAB_TYPE(kind, order, cls) \
    ((uint32_t) (kind) | (uint32_t) (order) << 8 | (uint32_t) (cls) << 16)
#define SLAB_KIND(t)    ((t) & 0xff)
#define SLAB_ORDER(t)   (((t) >> 8) & 0xff)
#define SLAB_CLS(t)     (((t) >> 16) & 0xff)

enum slab_op {
    SLAB_OP_NONE = 0,
    SLAB_OP_ALLOC,              /* op_arg: the size; undone on repair */
    SLAB_OP_FREE,               /* op_arg: the offset; redone on repair */
    SLAB_OP_INIT
};

struct slab_page {
    uint32_t type;              /* SLAB_TYPE(); INTERIOR is 0 */
    uint32_t count;             /* SLAB: objects used; TAIL: head; RUN:
                                   pages */
    uint32_t next;              /* free or partial list, SLAB_NONE ends */
    uint32_t prev;
    uint64_t map[SLAB_MAP_WORDS];   /* SLAB: bit i = object i is used */
    uint64_t reserved[2];
};
_Static_assert(sizeof(struct slab_page) == 64, "slab_page size changed");

struct slab_class {
    uint32_t size;              /* object size; 0 for runs */
    uint32_t nobj;              /* objects per slab, <= SLAB_MAP_BITS */
    uint32_t order;             /* a slab is 2^order pages */
    uint32_t partial;           /* slabs with a free object */
    uint64_t pages;             /* pages held by its slabs (runs: by runs) */
    uint64_t used;              /* objects in use (runs: pages) */
    uint64_t allocs;
    uint64_t frees;
    uint64_t fails;             /* relaxed atomic, not journaled */
    uint64_t reserved;
};
_Static_assert(sizeof(struct slab_class) == 64, "slab_class size changed");

struct slab_undo {
    uint64_t where;             /* offset of the field; | 1 if 64 bits */
    uint64_t old;
};

struct gh_slab {
    uint64_t magic;             /* SLAB_MAGIC, stored last by init */
    uint32_t hdr_size;          /* sizeof(struct gh_slab) */
    uint32_t page_size;         /* GH_SLAB_PAGE */
    gh_off   base;              /* data page 0 */
    gh_off   pages;             /* struct slab_page[npages] */
    gh_off   log;               /* struct slab_undo[log_cap] */
    uint32_t npages;            /* data pages */
    uint32_t max_order;         /* 2^max_order <= npages */
    uint32_t nclasses;
    uint32_t log_cap;
    uint64_t reserved_geo;
    struct gh_shm_lock lock;    /* on its own 64 bytes */
    /* The journal. */
    uint32_t op;                /* enum slab_op in progress */
    uint32_t log_n;             /* undo records in use */
    uint64_t op_arg;
    /* Statistics outside the journal: relaxed atomics. */
    uint64_t repairs;
    uint64_t invalid_frees;
    uint64_t log_max;           /* most undo records one op needed */
    uint64_t reserved0[3];
    /* The structure; every write journaled. */
    uint64_t free_pages;        /* pages in free blocks */
    uint32_t free_head[SLAB_ORDERS];
    uint64_t reserved1[7];
    struct slab_class cls[GH_SLAB_CLASSES];
    struct slab_class runs;
};
_Static_assert(sizeof(struct gh_slab) == 64 + 64 + 64 + 192 + 33 * 64,
               "gh_slab size changed");
_Static_assert(offsetof(struct gh_slab, lock) == 64, "lock moved");
_Static_assert(offsetof(struct gh_slab, cls) == 384, "classes moved");

struct slab_ctx {
    struct gh_shm    *shm;
    struct gh_slab   *sl;
    struct slab_page *pg;
    struct slab_undo *log;
    gh_off            meta_lo;  /* the journal may only touch [lo, hi) */
    gh_off            meta_hi;
};

/*
 * Tests define GH_SLAB_TEST_HOOK and #include this file: slab_hook then
 * runs at every step of a critical section (so a test can die there).
 */
#ifdef GH_SLAB_TEST_HOOK
static void (*slab_hook)(void);
#define SLAB_HOOK() do { if (slab_hook != NULL) slab_hook(); } while (0)
#else
#define SLAB_HOOK() do { } while (0)
#endif

static uint32_t
slab_floor_log2(uint64_t n)
{
    return 63 - (uint32_t) __builtin_clzll(n);
}

static uint32_t
slab_ceil_log2(uint64_t n)
{
    return n <= 1 ? 0 : slab_floor_log2(n - 1) + 1;
}

/*
 * Classes: 16 .. 128 in steps of 16 (0 .. 7), then four per power of two:
 * class 8 + 4g + i is 2^(7+g) + (i+1) * 2^(5+g), for g 0..3, i 0..3.
 */
static int
slab_class_of(size_t size)
{
    uint32_t p;

    if (size <= 128)
        return size <= 16 ? 0 : (int) ((size - 1) >> 4);
    if (size > GH_SLAB_MAX_SMALL)
        return -1;
    p = slab_floor_log2(size - 1);      /* 2^p < size <= 2^(p+1) */
    return (int) (8 + (p - 7) * 4 + ((size - 1 - ((size_t) 1 << p))
                                     >> (p - 2)));
}

static uint32_t
slab_class_size(int c)
{
    uint32_t g, i;

    if (c < 8)
        return 16 * (uint32_t) (c + 1);
    g = (uint32_t) (c - 8) / 4;
    i = (uint32_t) (c - 8) % 4;
    return (1u << (7 + g)) + (i + 1) * (1u << (5 + g));
}

/* Fewest pages (2^order) whose slab wastes at most 1/16. */
static void
slab_class_geometry(uint32_t size, uint32_t *order, uint32_t *nobj)
{
    uint32_t o, best = 0, best_waste = UINT32_MAX;

    for (o = 0; o <= SLAB_SLAB_ORDER; o++) {
        uint32_t bytes = GH_SLAB_PAGE << o;
        uint32_t n = GH_MIN(bytes / size, SLAB_MAP_BITS);
        uint32_t waste = bytes - n * size;

        if (waste * 16 <= bytes) {
            best = o;
            break;
        }
        /* Compare waste per byte of slab: waste / bytes. */
        if ((uint64_t) waste * (GH_SLAB_PAGE << SLAB_SLAB_ORDER) / bytes
            < best_waste) {
            best_waste = (uint32_t) ((uint64_t) waste
                                     * (GH_SLAB_PAGE << SLAB_SLAB_ORDER)
                                     / bytes);
            best = o;
        }
    }
    *order = best;
    *nobj = GH_MIN((GH_SLAB_PAGE << best) / size, SLAB_MAP_BITS);
}

/*
 * Undo records one operation may need, for buddy orders up to K: a split
 * or a merge is a handful of writes per order, and freeing a run frees at
 * most K+1 pieces, each merging up to K times.  Generous on purpose:
 * running out is a bug, and it aborts (see slab_log()).
 */
static uint32_t
slab_log_cap(uint32_t k)
{
    return 64 + (k + 2) * (3 * k + 24);
}

static int
slab_ctx_get(struct slab_ctx *x, const struct gh_shm *shm)
{
    struct gh_slab *sl;

    if (shm->hdr == NULL || shm->hdr->slab == 0)
        return GH_ERR;
    sl = gh_shm_ptr(shm, shm->hdr->slab);
    if (__atomic_load_n(&sl->magic, __ATOMIC_ACQUIRE) != SLAB_MAGIC)
        return GH_ERR;
    x->shm = (struct gh_shm *) (uintptr_t) shm;
    x->sl = sl;
    x->pg = gh_shm_ptr(shm, sl->pages);
    x->log = gh_shm_ptr(shm, sl->log);
    x->meta_lo = shm->hdr->slab;
    x->meta_hi = sl->base;
    return GH_OK;
}

/* Record FIELD's old value before it is overwritten. */
static void
slab_log(struct slab_ctx *x, const void *field, uint64_t old, uint64_t wide)
{
    struct gh_slab *sl = x->sl;
    uint32_t n = sl->log_n;
    struct slab_undo *u;

    if (n >= sl->log_cap)
        abort();    /* slab_log_cap() is wrong; the next holder undoes */
    u = &x->log[n];
    u->where = gh_shm_off(x->shm, field) | wide;
    u->old = old;
    /*
     * The record, then the count, then (in the caller) the write.  A
     * killed process's stores are all visible to the next lock holder; the
     * fences only keep them in this order.
     */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&sl->log_n, n + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    SLAB_HOOK();
}

/* Journaled stores; relaxed atomics so lock-free readers see whole values. */
static void
slab_set32(struct slab_ctx *x, uint32_t *field, uint32_t v)
{
    if (*field == v)
        return;
    slab_log(x, field, *field, 0);
    __atomic_store_n(field, v, __ATOMIC_RELAXED);
    SLAB_HOOK();
}

static void
slab_set64(struct slab_ctx *x, uint64_t *field, uint64_t v)
{
    if (*field == v)
        return;
    slab_log(x, field, *field, 1);
    __atomic_store_n(field, v, __ATOMIC_RELAXED);
    SLAB_HOOK();
}

static void
slab_begin_locked(struct slab_ctx *x, uint32_t op, uint64_t arg)
{
    x->sl->op_arg = arg;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&x->sl->op, op, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void
slab_commit_locked(struct slab_ctx *x)
{
    struct gh_slab *sl = x->sl;

    if (sl->log_n > sl->log_max)
        __atomic_store_n(&sl->log_max, sl->log_n, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&sl->log_n, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&sl->op, SLAB_OP_NONE, __ATOMIC_RELAXED);
}

/* Roll the journal back, newest record first. */
static void
slab_undo_locked(struct slab_ctx *x)
{
    struct gh_slab *sl = x->sl;
    uint32_t n = GH_MIN(sl->log_n, sl->log_cap);

    while (n > 0) {
        struct slab_undo *u = &x->log[n - 1];
        gh_off where = u->where & ~(uint64_t) 1;

        /* Only ever metadata; a record pointing elsewhere is skipped and
         * gh_slab_check() will say what is left wrong. */
        if (where >= x->meta_lo && where + 8 <= x->meta_hi) {
            void *f = gh_shm_ptr(x->shm, where);

            if (u->where & 1)
                __atomic_store_n((uint64_t *) f, u->old, __ATOMIC_RELAXED);
            else
                __atomic_store_n((uint32_t *) f, (uint32_t) u->old,
                                 __ATOMIC_RELAXED);
        }
        SLAB_HOOK();
        n--;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&sl->log_n, n, __ATOMIC_RELAXED);
    }
}

static void slab_free_locked(struct slab_ctx *x, gh_off off, int count);

/* The previous holder died (or left the journal open): roll back. */
static void
slab_repair_locked(struct slab_ctx *x)
{
    struct gh_slab *sl = x->sl;
    uint32_t op = sl->op;

    slab_undo_locked(x);
    if (op == SLAB_OP_FREE)
        slab_free_locked(x, sl->op_arg, 0);   /* journaled, op still FREE */
    slab_commit_locked(x);
    __atomic_add_fetch(&sl->repairs, 1, __ATOMIC_RELAXED);
}

static int
slab_lock(struct slab_ctx *x)
{
    int rc = gh_shm_lock_acquire(&x->sl->lock);

    if (rc == GH_ERR)
        return GH_ERR;
    if (rc == GH_DECLINED || x->sl->log_n != 0
        || x->sl->op != SLAB_OP_NONE) {
        slab_repair_locked(x);
        if (rc == GH_DECLINED)
            gh_shm_lock_repaired(&x->sl->lock);
    }
    return GH_OK;
}

static void
slab_unlock(struct slab_ctx *x)
{
    gh_shm_lock_release(&x->sl->lock);
}

/* Doubly linked lists of pages, by page number. */
static void
slab_list_push(struct slab_ctx *x, uint32_t *head, uint32_t i)
{
    uint32_t h = *head;

    slab_set32(x, &x->pg[i].next, h);
    slab_set32(x, &x->pg[i].prev, SLAB_NONE);
    if (h != SLAB_NONE)
        slab_set32(x, &x->pg[h].prev, i);
    slab_set32(x, head, i);
}

static void
slab_list_del(struct slab_ctx *x, uint32_t *head, uint32_t i)
{
    uint32_t next = x->pg[i].next, prev = x->pg[i].prev;

    if (prev == SLAB_NONE)
        slab_set32(x, head, next);
    else
        slab_set32(x, &x->pg[prev].next, next);
    if (next != SLAB_NONE)
        slab_set32(x, &x->pg[next].prev, prev);
}

/*
 * A block of 2^ORDER pages: split the smallest free block that is large
 * enough.  Its head keeps a FREE type until the caller sets it.
 */
static uint32_t
slab_block_alloc_locked(struct slab_ctx *x, uint32_t order)
{
    struct gh_slab *sl = x->sl;
    uint32_t j, b;

    for (j = order; j <= sl->max_order; j++)
        if (sl->free_head[j] != SLAB_NONE)
            break;
    if (j > sl->max_order)
        return SLAB_NONE;
    b = sl->free_head[j];
    slab_list_del(x, &sl->free_head[j], b);
    while (j > order) {
        uint32_t bud;

        j--;
        bud = b + (1u << j);
        slab_set32(x, &x->pg[bud].type, SLAB_TYPE(SLAB_K_FREE, j, 0));
        slab_list_push(x, &sl->free_head[j], bud);
    }
    slab_set64(x, &sl->free_pages, sl->free_pages - (1ull << order));
    return b;
}

/* Give back the block of 2^ORDER pages at B, merging with free buddies. */
static void
slab_block_free_locked(struct slab_ctx *x, uint32_t b, uint32_t order)
{
    struct gh_slab *sl = x->sl;

    slab_set64(x, &sl->free_pages, sl->free_pages + (1ull << order));
    while (order < sl->max_order) {
        uint32_t bud = b ^ (1u << order);

        /* A FREE head never runs past the end, so bud's type says it. */
        if (bud >= sl->npages
            || x->pg[bud].type != SLAB_TYPE(SLAB_K_FREE, order, 0))
            break;
        slab_list_del(x, &sl->free_head[order], bud);
        slab_set32(x, &x->pg[GH_MAX(b, bud)].type, SLAB_TYPE(SLAB_K_INTERIOR,
                                                            0, 0));
        b = GH_MIN(b, bud);
        order++;
    }
    slab_set32(x, &x->pg[b].type, SLAB_TYPE(SLAB_K_FREE, order, 0));
    slab_list_push(x, &sl->free_head[order], b);
}

/* Largest aligned block that starts at I and fits in N pages. */
static uint32_t
slab_piece_order(const struct gh_slab *sl, uint32_t i, uint32_t n)
{
    uint32_t o = slab_floor_log2(n);

    if (i != 0)
        o = GH_MIN(o, (uint32_t) __builtin_ctz(i));
    return GH_MIN(o, sl->max_order);
}

/* Give back pages [I, I+N) as aligned blocks. */
static void
slab_range_free_locked(struct slab_ctx *x, uint32_t i, uint32_t n)
{
    while (n > 0) {
        uint32_t o = slab_piece_order(x->sl, i, n);

        slab_block_free_locked(x, i, o);
        i += 1u << o;
        n -= 1u << o;
    }
}

static uint32_t
slab_map_first_zero(const struct slab_page *p, uint32_t nobj)
{
    for (uint32_t w = 0; w * 64 < nobj; w++) {
        uint64_t m = ~p->map[w];

        if (nobj - w * 64 < 64)
            m &= (1ull << (nobj - w * 64)) - 1;
        if (m != 0)
            return w * 64 + (uint32_t) __builtin_ctzll(m);
    }
    return SLAB_NONE;
}

static uint32_t
slab_new_locked(struct slab_ctx *x, int c)
{
    struct slab_class *cl = &x->sl->cls[c];
    struct slab_page *p;
    uint32_t b, t;

    b = slab_block_alloc_locked(x, cl->order);
    if (b == SLAB_NONE)
        return SLAB_NONE;
    p = &x->pg[b];
    slab_set32(x, &p->type, SLAB_TYPE(SLAB_K_SLAB, cl->order, c));
    slab_set32(x, &p->count, 0);
    for (t = 0; t < SLAB_MAP_WORDS; t++)
        slab_set64(x, &p->map[t], 0);
    for (t = 1; t < 1u << cl->order; t++) {
        slab_set32(x, &x->pg[b + t].type, SLAB_TYPE(SLAB_K_TAIL, 0, 0));
        slab_set32(x, &x->pg[b + t].count, b);
    }
    slab_list_push(x, &cl->partial, b);
    slab_set64(x, &cl->pages, cl->pages + (1u << cl->order));
    return b;
}

static gh_off
slab_obj_alloc_locked(struct slab_ctx *x, int c)
{
    struct slab_class *cl = &x->sl->cls[c];
    struct slab_page *p;
    uint32_t h = cl->partial, i;

    if (h == SLAB_NONE) {
        h = slab_new_locked(x, c);
        if (h == SLAB_NONE)
            return 0;
    }
    p = &x->pg[h];
    i = slab_map_first_zero(p, cl->nobj);
    if (i == SLAB_NONE)
        return 0;       /* a full slab on the partial list: check says so */
    slab_set64(x, &p->map[i / 64], p->map[i / 64] | 1ull << (i % 64));
    slab_set32(x, &p->count, p->count + 1);
    if (p->count == cl->nobj)
        slab_list_del(x, &cl->partial, h);
    slab_set64(x, &cl->used, cl->used + 1);
    slab_set64(x, &cl->allocs, cl->allocs + 1);
    return x->sl->base + (gh_off) h * GH_SLAB_PAGE + (gh_off) i * cl->size;
}

static gh_off
slab_run_alloc_locked(struct slab_ctx *x, uint32_t n)
{
    struct slab_class *rc = &x->sl->runs;
    uint32_t k = slab_ceil_log2(n), b;

    if (k > x->sl->max_order)
        return 0;
    b = slab_block_alloc_locked(x, k);
    if (b == SLAB_NONE)
        return 0;
    /* The head first, so the tail's pieces never merge back into it. */
    slab_set32(x, &x->pg[b].type, SLAB_TYPE(SLAB_K_RUN, 0, 0));
    slab_set32(x, &x->pg[b].count, n);
    if (n < 1u << k)
        slab_range_free_locked(x, b + n, (1u << k) - n);
    slab_set64(x, &rc->pages, rc->pages + n);
    slab_set64(x, &rc->used, rc->used + n);
    slab_set64(x, &rc->allocs, rc->allocs + 1);
    return x->sl->base + (gh_off) b * GH_SLAB_PAGE;
}

/*
 * Free OFF if it is a live allocation; else count it in invalid_frees
 * (when COUNT: a redo after a repair may find its object already free).
 */
static void
slab_free_locked(struct slab_ctx *x, gh_off off, int count)
{
    struct gh_slab *sl = x->sl;
    struct slab_class *cl;
    struct slab_page *p;
    uint32_t pi, h, t, i, w;
    uint64_t rel, bit;
    int was_full;

    if (off < sl->base || off - sl->base >= (gh_off) sl->npages
                                            * GH_SLAB_PAGE)
        goto invalid;
    pi = (uint32_t) ((off - sl->base) / GH_SLAB_PAGE);
    h = pi;
    t = x->pg[pi].type;
    if (SLAB_KIND(t) == SLAB_K_TAIL) {
        h = x->pg[pi].count;
        if (h >= pi)
            goto invalid;
        t = x->pg[h].type;
        if (SLAB_KIND(t) != SLAB_K_SLAB || pi - h >= 1u << SLAB_ORDER(t))
            goto invalid;
    }
    p = &x->pg[h];

    if (SLAB_KIND(t) == SLAB_K_RUN) {
        uint32_t n = p->count;

        if (off != sl->base + (gh_off) pi * GH_SLAB_PAGE)
            goto invalid;
        slab_set64(x, &sl->runs.pages, sl->runs.pages - n);
        slab_set64(x, &sl->runs.used, sl->runs.used - n);
        slab_set64(x, &sl->runs.frees, sl->runs.frees + 1);
        slab_range_free_locked(x, pi, n);
        return;
    }
    if (SLAB_KIND(t) != SLAB_K_SLAB || SLAB_CLS(t) >= sl->nclasses)
        goto invalid;

    cl = &sl->cls[SLAB_CLS(t)];
    rel = off - (sl->base + (gh_off) h * GH_SLAB_PAGE);
    if (rel % cl->size != 0 || rel / cl->size >= cl->nobj)
        goto invalid;
    i = (uint32_t) (rel / cl->size);
    w = i / 64;
    bit = 1ull << (i % 64);
    if (!(p->map[w] & bit))
        goto invalid;                           /* a double free */

    was_full = p->count == cl->nobj;
    slab_set64(x, &p->map[w], p->map[w] & ~bit);
    slab_set32(x, &p->count, p->count - 1);
    slab_set64(x, &cl->used, cl->used - 1);
    slab_set64(x, &cl->frees, cl->frees + 1);
    if (p->count == 0) {
        if (!was_full)
            slab_list_del(x, &cl->partial, h);
        for (i = 1; i < 1u << cl->order; i++)
            slab_set32(x, &x->pg[h + i].type,
                       SLAB_TYPE(SLAB_K_INTERIOR, 0, 0));
        slab_set64(x, &cl->pages, cl->pages - (1u << cl->order));
        slab_block_free_locked(x, h, cl->order);
    } else if (was_full) {
        slab_list_push(x, &cl->partial, h);
    }
    return;

invalid:
    if (count)
        __atomic_add_fetch(&sl->invalid_frees, 1, __ATOMIC_RELAXED);
}

int
gh_slab_init(struct gh_shm *shm, char *err, size_t errlen)
{
    struct slab_ctx x;
    struct gh_slab *sl;
    gh_off region, end, hsize, meta_bytes;
    uint64_t total, meta, n;
    uint32_t k, cap, i;

    region = (sizeof(struct gh_shm_hdr) + GH_SLAB_PAGE - 1)
             & ~(gh_off) (GH_SLAB_PAGE - 1);
    end = shm->size & ~(gh_off) (GH_SLAB_PAGE - 1);
    hsize = (sizeof(struct gh_slab) + 63) & ~(gh_off) 63;
    total = end > region ? (end - region) / GH_SLAB_PAGE : 0;

    /* The metadata for TOTAL pages is enough for the fewer left over. */
    k = total ? GH_MIN(slab_floor_log2(total), SLAB_ORDERS - 1) : 0;
    meta_bytes = hsize + total * sizeof(struct slab_page)
                 + slab_log_cap(k) * sizeof(struct slab_undo);
    meta = (meta_bytes + GH_SLAB_PAGE - 1) / GH_SLAB_PAGE;
    n = total > meta ? total - meta : 0;
    if (n < (1u << SLAB_SLAB_ORDER) || n > UINT32_MAX - 1) {
        snprintf(err, errlen, "shared memory of %zu bytes leaves %llu pages "
                 "for the slab, need %u to %u", shm->size,
                 (unsigned long long) n, 1u << SLAB_SLAB_ORDER,
                 UINT32_MAX - 1);
        return GH_ERR;
    }
    k = GH_MIN(slab_floor_log2(n), SLAB_ORDERS - 1);
    cap = slab_log_cap(k);

    sl = gh_shm_ptr(shm, region);
    memset(sl, 0, hsize);
    sl->hdr_size = sizeof(struct gh_slab);
    sl->page_size = GH_SLAB_PAGE;
    sl->base = region + meta * GH_SLAB_PAGE;
    sl->pages = region + hsize;
    sl->log = sl->pages + n * sizeof(struct slab_page);
    sl->npages = (uint32_t) n;
    sl->max_order = k;
    sl->nclasses = SLAB_NCLASSES;
    sl->log_cap = cap;
    if (gh_shm_lock_init(&sl->lock) != GH_OK) {
        snprintf(err, errlen, "cannot initialise the slab lock");
        return GH_ERR;
    }
    for (i = 0; i < SLAB_ORDERS; i++)
        sl->free_head[i] = SLAB_NONE;
    for (i = 0; i < SLAB_NCLASSES; i++) {
        struct slab_class *cl = &sl->cls[i];

        cl->size = slab_class_size((int) i);
        slab_class_geometry(cl->size, &cl->order, &cl->nobj);
        cl->partial = SLAB_NONE;
    }
    sl->runs.partial = SLAB_NONE;

    x.shm = shm;
    x.sl = sl;
    x.pg = gh_shm_ptr(shm, sl->pages);
    x.log = gh_shm_ptr(shm, sl->log);
    x.meta_lo = region;
    x.meta_hi = sl->base;
    memset(x.pg, 0, n * sizeof(struct slab_page));      /* all INTERIOR */
    slab_begin_locked(&x, SLAB_OP_INIT, 0);
    slab_range_free_locked(&x, 0, (uint32_t) n);
    slab_commit_locked(&x);
    sl->log_max = 0;

    __atomic_store_n(&sl->magic, SLAB_MAGIC, __ATOMIC_RELEASE);
    __atomic_store_n(&shm->hdr->slab, region, __ATOMIC_RELEASE);
    return GH_OK;
}

static gh_off
slab_alloc(struct gh_shm *shm, size_t size, int count_fail)
{
    struct slab_ctx x;
    struct slab_class *cl;
    gh_off off = 0;
    int c;

    if (slab_ctx_get(&x, shm) != GH_OK)
        return 0;
    c = slab_class_of(size);
    cl = c >= 0 ? &x.sl->cls[c] : &x.sl->runs;
    if ((c >= 0 || size <= gh_slab_max_alloc(shm))
        && slab_lock(&x) == GH_OK) {
        slab_begin_locked(&x, SLAB_OP_ALLOC, size);
        if (c >= 0)
            off = slab_obj_alloc_locked(&x, c);
        else
            off = slab_run_alloc_locked(&x, (uint32_t) ((size
                                         + GH_SLAB_PAGE - 1) / GH_SLAB_PAGE));
        if (off == 0)
            slab_undo_locked(&x);   /* a failure leaves nothing behind */
        slab_commit_locked(&x);
        slab_unlock(&x);
    }
    if (off == 0 && count_fail)
        __atomic_add_fetch(&cl->fails, 1, __ATOMIC_RELAXED);
    return off;
}

gh_off
gh_slab_alloc(struct gh_shm *shm, size_t size)
{
    return slab_alloc(shm, size, 1);
}

gh_off
gh_slab_calloc(struct gh_shm *shm, size_t size)
{
    gh_off off = slab_alloc(shm, size, 1);

    if (off != 0 && size != 0)
        memset(gh_shm_ptr(shm, off), 0, size);
    return off;
}

void
gh_slab_free(struct gh_shm *shm, gh_off off)
{
    struct slab_ctx x;

    if (off == 0 || slab_ctx_get(&x, shm) != GH_OK)
        return;
    if (slab_lock(&x) != GH_OK)
        return;     /* not recoverable: leak rather than corrupt */
    slab_begin_locked(&x, SLAB_OP_FREE, off);
    slab_free_locked(&x, off, 1);
    slab_commit_locked(&x);
    slab_unlock(&x);
}

gh_off
gh_slab_alloc_evict(struct gh_shm *shm, size_t size, gh_slab_evict_fn evict,
                    void *arg)
{
    int c = slab_class_of(size), tries;
    struct slab_ctx x;
    gh_off off;

    for (tries = 0; ; tries++) {
        off = slab_alloc(shm, size, 0);
        if (off != 0)
            return off;
        if (tries == GH_SLAB_EVICT_TRIES || evict == NULL
            || (c < 0 && size > gh_slab_max_alloc(shm))
            || evict(arg, c) != GH_OK)
            break;
    }
    if (slab_ctx_get(&x, shm) == GH_OK)
        __atomic_add_fetch(c >= 0 ? &x.sl->cls[c].fails : &x.sl->runs.fails,
                           1, __ATOMIC_RELAXED);
    return 0;
}

int
gh_slab_class(const struct gh_shm *shm, size_t size)
{
    return slab_class_of(size);
}

size_t
gh_slab_usable(const struct gh_shm *shm, gh_off off)
{
    struct slab_ctx x;
    struct gh_slab *sl;
    struct slab_class *cl;
    uint32_t pi, h, t;
    uint64_t rel, i;

    if (off == 0 || slab_ctx_get(&x, shm) != GH_OK)
        return 0;
    sl = x.sl;
    if (off < sl->base || off - sl->base >= (gh_off) sl->npages
                                            * GH_SLAB_PAGE)
        return 0;
    pi = (uint32_t) ((off - sl->base) / GH_SLAB_PAGE);
    h = pi;
    t = __atomic_load_n(&x.pg[pi].type, __ATOMIC_RELAXED);
    if (SLAB_KIND(t) == SLAB_K_TAIL) {
        h = __atomic_load_n(&x.pg[pi].count, __ATOMIC_RELAXED);
        if (h >= pi)
            return 0;
        t = __atomic_load_n(&x.pg[h].type, __ATOMIC_RELAXED);
        if (SLAB_KIND(t) != SLAB_K_SLAB || pi - h >= 1u << SLAB_ORDER(t))
            return 0;
    }
    if (SLAB_KIND(t) == SLAB_K_RUN)
        return off == sl->base + (gh_off) pi * GH_SLAB_PAGE
               ? (size_t) __atomic_load_n(&x.pg[pi].count, __ATOMIC_RELAXED)
                 * GH_SLAB_PAGE
               : 0;
    if (SLAB_KIND(t) != SLAB_K_SLAB || SLAB_CLS(t) >= sl->nclasses)
        return 0;
    cl = &sl->cls[SLAB_CLS(t)];
    rel = off - (sl->base + (gh_off) h * GH_SLAB_PAGE);
    i = rel / cl->size;
    if (rel % cl->size != 0 || i >= cl->nobj
        || !(__atomic_load_n(&x.pg[h].map[i / 64], __ATOMIC_RELAXED)
             & 1ull << (i % 64)))
        return 0;
    return cl->size;
}

size_t
gh_slab_max_alloc(const struct gh_shm *shm)
{
    struct slab_ctx x;

    if (slab_ctx_get(&x, shm) != GH_OK)
        return 0;
    return (size_t) GH_SLAB_PAGE << x.sl->max_order;
}

uint32_t
gh_slab_nclasses(const struct gh_shm *shm)
{
    struct slab_ctx x;

    return slab_ctx_get(&x, shm) == GH_OK ? x.sl->nclasses : 0;
}

void
gh_slab_stats(const struct gh_shm *shm, int cls, struct gh_slab_stats *st)
{
    struct slab_ctx x;
    struct slab_class *cl;
    uint64_t cap;

    memset(st, 0, sizeof(*st));
    if (slab_ctx_get(&x, shm) != GH_OK || cls < -1
        || cls >= (int) x.sl->nclasses)
        return;
    cl = cls >= 0 ? &x.sl->cls[cls] : &x.sl->runs;
    st->size = cl->size;
    st->pages = __atomic_load_n(&cl->pages, __ATOMIC_RELAXED);
    st->used = __atomic_load_n(&cl->used, __ATOMIC_RELAXED);
    st->allocs = __atomic_load_n(&cl->allocs, __ATOMIC_RELAXED);
    st->frees = __atomic_load_n(&cl->frees, __ATOMIC_RELAXED);
    st->fails = __atomic_load_n(&cl->fails, __ATOMIC_RELAXED);
    if (cls >= 0) {
        cap = (st->pages >> cl->order) * cl->nobj;
        st->free = cap > st->used ? cap - st->used : 0;
    }
}

void
gh_slab_pages(const struct gh_shm *shm, uint64_t *total, uint64_t *free)
{
    struct slab_ctx x;

    *total = *free = 0;
    if (slab_ctx_get(&x, shm) != GH_OK)
        return;
    *total = x.sl->npages;
    *free = __atomic_load_n(&x.sl->free_pages, __ATOMIC_RELAXED);
}

uint64_t
gh_slab_repairs(const struct gh_shm *shm)
{
    struct slab_ctx x;

    if (slab_ctx_get(&x, shm) != GH_OK)
        return 0;
    return __atomic_load_n(&x.sl->repairs, __ATOMIC_RELAXED);
}

uint64_t
gh_slab_invalid_frees(const struct gh_shm *shm)
{
    struct slab_ctx x;

    if (slab_ctx_get(&x, shm) != GH_OK)
        return 0;
    return __atomic_load_n(&x.sl->invalid_frees, __ATOMIC_RELAXED);
}

GH_PRINTF(3, 4) static int
slab_bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return GH_ERR;
}

static const char *
slab_kind_name(uint32_t t)
{
    return SLAB_KIND(t) < GH_NELEM(slab_kind_names)
           ? slab_kind_names[SLAB_KIND(t)] : "garbage";
}

/* Pages I+1 .. I+N-1 must all be INTERIOR. */
static int
slab_check_interior(const struct slab_ctx *x, uint32_t i, uint32_t n,
                    char *err, size_t errlen)
{
    for (uint32_t j = i + 1; j < i + n; j++)
        if (x->pg[j].type != SLAB_TYPE(SLAB_K_INTERIOR, 0, 0))
            return slab_bad(err, errlen, "page %u: %s inside the block at "
                            "page %u", j, slab_kind_name(x->pg[j].type), i);
    return GH_OK;
}

/*
 * A list from HEAD: every member of kind KIND (and order ORDER for FREE,
 * class CLS for SLAB), prev links right, WANT members.  With the prev
 * links right and the head's prev NONE no page can come twice, so the
 * members are exactly the WANT blocks the page walk counted.
 */
static int
slab_check_list(const struct slab_ctx *x, const char *what, uint32_t head,
                uint32_t kind, uint32_t order, uint32_t cls, uint64_t want,
                char *err, size_t errlen)
{
    const struct gh_slab *sl = x->sl;
    uint32_t i = head, prev = SLAB_NONE;
    uint64_t n = 0;

    while (i != SLAB_NONE) {
        const struct slab_page *p;

        if (i >= sl->npages)
            return slab_bad(err, errlen, "%s: page %u out of range", what, i);
        if (++n > want)
            return slab_bad(err, errlen, "%s: more than the %llu blocks "
                            "counted", what, (unsigned long long) want);
        p = &x->pg[i];
        if (p->prev != prev)
            return slab_bad(err, errlen, "%s: page %u has prev %u, not %u",
                            what, i, p->prev, prev);
        if (SLAB_KIND(p->type) != kind
            || (kind == SLAB_K_FREE && SLAB_ORDER(p->type) != order)
            || (kind == SLAB_K_SLAB && (SLAB_CLS(p->type) != cls
                                        || p->count >= sl->cls[cls].nobj)))
            return slab_bad(err, errlen, "%s: page %u is a %s (type %#x)",
                            what, i, slab_kind_name(p->type), p->type);
        prev = i;
        i = p->next;
    }
    if (n != want)
        return slab_bad(err, errlen, "%s: %llu blocks, the pages say %llu",
                        what, (unsigned long long) n,
                        (unsigned long long) want);
    return GH_OK;
}

static int
slab_check_locked(const struct slab_ctx *x, char *err, size_t errlen)
{
    const struct gh_slab *sl = x->sl;
    uint64_t nfree[SLAB_ORDERS] = { 0 };
    uint64_t slabs[GH_SLAB_CLASSES] = { 0 }, used[GH_SLAB_CLASSES] = { 0 };
    uint64_t partial[GH_SLAB_CLASSES] = { 0 };
    uint64_t free_pages = 0, run_pages = 0, class_pages = 0;
    uint32_t i, o, c;
    char what[64];

    if (sl->op != SLAB_OP_NONE || sl->log_n != 0)
        return slab_bad(err, errlen, "journal open after the lock (op %u, "
                        "%u records)", sl->op, sl->log_n);
    if (sl->max_order >= SLAB_ORDERS || (1ull << sl->max_order) > sl->npages
        || sl->nclasses != SLAB_NCLASSES
        || sl->base + (gh_off) sl->npages * GH_SLAB_PAGE > x->shm->size)
        return slab_bad(err, errlen, "bad geometry: %u pages, order %u, %u "
                        "classes", sl->npages, sl->max_order, sl->nclasses);

    for (i = 0; i < sl->npages; ) {
        const struct slab_page *p = &x->pg[i];
        uint32_t t = p->type, n;

        switch (SLAB_KIND(t)) {
        case SLAB_K_FREE:
            o = SLAB_ORDER(t);
            n = 1u << GH_MIN(o, 31);
            if (t != SLAB_TYPE(SLAB_K_FREE, o, 0) || o > sl->max_order
                || (i & (n - 1)) != 0 || n > sl->npages - i)
                return slab_bad(err, errlen, "page %u: bad free block (type "
                                "%#x)", i, t);
            if (o < sl->max_order && (i ^ n) < sl->npages
                && x->pg[i ^ n].type == t)
                return slab_bad(err, errlen, "page %u: free buddies %u and "
                                "%u not merged", i, i, i ^ n);
            nfree[o]++;
            free_pages += n;
            break;
        case SLAB_K_SLAB:
            c = SLAB_CLS(t);
            if (c >= sl->nclasses || SLAB_ORDER(t) != sl->cls[c].order
                || t != SLAB_TYPE(SLAB_K_SLAB, sl->cls[c].order, c))
                return slab_bad(err, errlen, "page %u: bad slab (type %#x)",
                                i, t);
            n = 1u << sl->cls[c].order;
            if ((i & (n - 1)) != 0 || n > sl->npages - i)
                return slab_bad(err, errlen, "page %u: slab of %u pages "
                                "misplaced", i, n);
            for (uint32_t j = 1; j < n; j++)
                if (x->pg[i + j].type != SLAB_TYPE(SLAB_K_TAIL, 0, 0)
                    || x->pg[i + j].count != i)
                    return slab_bad(err, errlen, "page %u: not a tail of the "
                                    "slab at page %u", i + j, i);
            {
                uint32_t bits = 0, nobj = sl->cls[c].nobj;

                for (uint32_t w = 0; w < SLAB_MAP_WORDS; w++) {
                    uint64_t m = p->map[w], extra;

                    bits += (uint32_t) __builtin_popcountll(m);
                    extra = w * 64 >= nobj ? m
                            : nobj - w * 64 >= 64 ? 0
                            : m >> (nobj - w * 64);
                    if (extra != 0)
                        return slab_bad(err, errlen, "page %u: object bits "
                                        "beyond %u", i, nobj);
                }
                if (bits != p->count || bits == 0 || bits > nobj)
                    return slab_bad(err, errlen, "page %u: %u objects used, "
                                    "%u bits set, %u per slab", i, p->count,
                                    bits, nobj);
                slabs[c]++;
                used[c] += bits;
                if (bits < nobj)
                    partial[c]++;
            }
            class_pages += n;
            break;
        case SLAB_K_RUN:
            n = p->count;
            if (t != SLAB_TYPE(SLAB_K_RUN, 0, 0) || n == 0
                || n > sl->npages - i)
                return slab_bad(err, errlen, "page %u: bad run of %u pages "
                                "(type %#x)", i, n, t);
            if (slab_check_interior(x, i, n, err, errlen) != GH_OK)
                return GH_ERR;
            run_pages += n;
            break;
        default:
            return slab_bad(err, errlen, "page %u: %s (type %#x) where a "
                            "block should start", i, slab_kind_name(t), t);
        }
        if (SLAB_KIND(t) == SLAB_K_FREE
            && slab_check_interior(x, i, n, err, errlen) != GH_OK)
            return GH_ERR;
        i += n;
    }

    for (o = 0; o < SLAB_ORDERS; o++) {
        snprintf(what, sizeof(what), "free list of order %u", o);
        if (slab_check_list(x, what, sl->free_head[o], SLAB_K_FREE, o, 0,
                            nfree[o], err, errlen) != GH_OK)
            return GH_ERR;
    }
    for (c = 0; c < sl->nclasses; c++) {
        const struct slab_class *cl = &sl->cls[c];

        snprintf(what, sizeof(what), "partial list of class %u (%u)", c,
                 cl->size);
        if (slab_check_list(x, what, cl->partial, SLAB_K_SLAB, 0, c,
                            partial[c], err, errlen) != GH_OK)
            return GH_ERR;
        if (cl->pages != slabs[c] << cl->order || cl->used != used[c]
            || cl->allocs - cl->frees != cl->used)
            return slab_bad(err, errlen, "class %u (%u): stats say %llu "
                            "pages %llu used (%llu allocs %llu frees), the "
                            "slabs %llu pages %llu used", c, cl->size,
                            (unsigned long long) cl->pages,
                            (unsigned long long) cl->used,
                            (unsigned long long) cl->allocs,
                            (unsigned long long) cl->frees,
                            (unsigned long long) (slabs[c] << cl->order),
                            (unsigned long long) used[c]);
    }
    if (sl->runs.pages != run_pages || sl->runs.used != run_pages)
        return slab_bad(err, errlen, "runs: stats say %llu pages %llu used, "
                        "the runs %llu", (unsigned long long) sl->runs.pages,
                        (unsigned long long) sl->runs.used,
                        (unsigned long long) run_pages);
    if (sl->free_pages != free_pages)
        return slab_bad(err, errlen, "free pages: %llu counted, %llu in free "
                        "blocks", (unsigned long long) sl->free_pages,
                        (unsigned long long) free_pages);
    if (free_pages + run_pages + class_pages != sl->npages)
        return slab_bad(err, errlen, "%llu free + %llu run + %llu slab pages "
                        "!= %u", (unsigned long long) free_pages,
                        (unsigned long long) run_pages,
                        (unsigned long long) class_pages, sl->npages);
    return GH_OK;
}

int
gh_slab_check(struct gh_shm *shm, char *err, size_t errlen)
{
    struct slab_ctx x;
    int rc;

    if (slab_ctx_get(&x, shm) != GH_OK)
        return slab_bad(err, errlen, "no slab in the segment (or another "
                        "version)");
    if (slab_lock(&x) != GH_OK)
        return slab_bad(err, errlen, "slab lock not recoverable");
    rc = slab_check_locked(&x, err, errlen);
    slab_unlock(&x);
    return rc;
}
