#ifndef GH_SHM_SLAB_H
#define GH_SHM_SLAB_H

/*
 * The slab allocator: all memory inside the segment after the header.
 *
 * Pages of GH_SLAB_PAGE bytes, from the first page boundary after the
 * segment header to the end of the segment; the slab's own metadata (its
 * header, one 64-byte descriptor per page, the undo journal) fills the
 * first of them.  The rest are handed out by a buddy allocator in aligned
 * blocks of 2^order pages.
 *
 * Small objects (up to GH_SLAB_MAX_SMALL) come from 24 size classes: 16 to
 * 128 in steps of 16, then four classes per power of two (160 192 224 256,
 * 320 ... 512, 640 ... 1024, 1280 1536 1792 2048), so a request is rounded
 * up by less than 16 bytes up to 128 and by less than 25% above.  Every
 * object is 16-byte aligned.  A class takes its objects from slabs of 1 to
 * 8 pages (the fewest pages that waste at most 1/16 of the slab), each
 * with a bitmap of used objects in its descriptor; the slabs with room
 * form the class's partial list.  Alloc and free are O(1) (taking a new
 * slab or giving an empty one back costs a buddy split or merge, bounded
 * by the number of orders).  No byte inside an object is ever written by
 * the allocator, so an overrun in one object cannot break the allocator's
 * structures (only a wild write into the metadata pages can).  A slab that
 * becomes empty goes back to the buddy allocator at once.
 *
 * Larger objects get a run of whole pages, page-aligned: the smallest
 * buddy block that holds them, whose unused tail is given back at once (a
 * 5-page run costs 5 pages, not 8).  Only the run's first page descriptor
 * is written, so the work depends on the number of buddy orders (a few
 * dozen steps), never on the size of the run.  The largest run is the
 * largest buddy block of the region (gh_slab_max_alloc(): more than half
 * of the data pages).
 *
 * Crash safety: one robust lock (shm/lock.h) guards everything.  Every
 * write an operation makes to the slab's structures is first recorded in
 * an undo journal in the segment (the field's offset and old value).  The
 * next holder after a holder died (or anyone who finds the journal not
 * empty) rolls the journal back, so the dead holder's operation is undone
 * entirely; an interrupted free is then done again, because the caller had
 * already let go of the object.  An interrupted alloc thus leaks nothing:
 * only an object whose offset the dead process got but did not store
 * anywhere is lost.
 *
 * Everything is addressed by gh_off from the segment base; 0 means none.
 * gh_slab_alloc() memory is not zeroed; gh_slab_calloc() is.
 *
 * Eviction: the slab never evicts by itself (it does not know what the
 * bytes are).  gh_slab_alloc_evict() calls the owner's EVICT callback, with
 * no slab lock held, when a class is full; the owner frees something of
 * that class (its own per-class LRU) and the allocation is retried.
 * Lock order: the caller's table lock first, the slab lock last.
 *
 * The layout of the slab's structures is private to shm/slab.c and
 * versioned by its own magic, checked at every entry point: on a segment
 * of another slab version, allocations fail and frees are ignored.
 */

#include <stddef.h>
#include <stdint.h>

#include "shm/shm.h"

#define GH_SLAB_PAGE      4096
#define GH_SLAB_MIN       16            /* smallest class */
#define GH_SLAB_MAX_SMALL 2048          /* larger: page runs */
#define GH_SLAB_CLASSES   32            /* upper bound on small classes */
#define GH_SLAB_EVICT_TRIES 32          /* callbacks per gh_slab_alloc_evict */

/*
 * Format everything in SHM after the header (and its reserved area) as the
 * slab; sets shm->hdr->slab.  Only the segment's creator calls it, before
 * anyone else uses the segment.  GH_OK, or GH_ERR with ERR filled.
 */
int gh_slab_init(struct gh_shm *shm, char *err, size_t errlen);

/*
 * SIZE bytes (not zeroed), or 0 when there is no room.  SIZE 0 gives a
 * smallest object (like malloc), so 0 always means "no room".  Small
 * objects are 16-byte aligned, runs page-aligned.  May block briefly on the
 * slab lock; never makes a system call.
 */
gh_off gh_slab_alloc(struct gh_shm *shm, size_t size);
/* Same, zero-filled. */
gh_off gh_slab_calloc(struct gh_shm *shm, size_t size);
/*
 * Give OFF back (0 is a no-op).  An offset that is not a live allocation
 * (a double free, a pointer into an object, a stray offset) is ignored and
 * counted in gh_slab_invalid_frees(); the allocator stays consistent.  May
 * block briefly on the slab lock.
 */
void gh_slab_free(struct gh_shm *shm, gh_off off);

/* The class SIZE falls in (0 .. nclasses-1), or -1 for a page run. */
int gh_slab_class(const struct gh_shm *shm, size_t size);
/* Bytes actually usable at OFF (its class size, or its run in bytes); 0
 * when OFF is not a live allocation.  No lock. */
size_t gh_slab_usable(const struct gh_shm *shm, gh_off off);
/* The largest SIZE gh_slab_alloc() can ever satisfy (0 before init). */
size_t gh_slab_max_alloc(const struct gh_shm *shm);

/*
 * Owner's eviction callback for class CLS (-1: page runs): free at least
 * one object and return GH_OK, or GH_DECLINED when it has nothing left to
 * evict.  Called without the slab lock.
 */
typedef int (*gh_slab_evict_fn)(void *arg, int cls);
/*
 * gh_slab_alloc(), calling EVICT while the class is full, at most
 * GH_SLAB_EVICT_TRIES times.  0 when EVICT declines, the tries run out or
 * SIZE is above gh_slab_max_alloc() (EVICT is not called then); that
 * counts as one failure in the class's stats, however many tries it took.
 */
gh_off gh_slab_alloc_evict(struct gh_shm *shm, size_t size,
                           gh_slab_evict_fn evict, void *arg);

struct gh_slab_stats {
    size_t   size;          /* object size of the class (0 for page runs) */
    uint64_t pages;         /* pages the class holds now */
    uint64_t used;          /* objects (or pages, for runs) in use */
    uint64_t free;          /* free objects in its pages */
    uint64_t allocs;        /* successful allocations, ever */
    uint64_t frees;
    uint64_t fails;         /* allocations refused for want of room */
};
/* Number of small classes. */
uint32_t gh_slab_nclasses(const struct gh_shm *shm);
/*
 * Stats of class CLS (-1: page runs).  Reads atomics; no lock, so fields
 * read while others allocate may be from slightly different moments.
 */
void gh_slab_stats(const struct gh_shm *shm, int cls,
                   struct gh_slab_stats *st);
/* Pages in the segment, and pages not given to any class or run. */
void gh_slab_pages(const struct gh_shm *shm, uint64_t *total,
                   uint64_t *free);
/* Times a dead lock holder's operation was rolled back.  No lock. */
uint64_t gh_slab_repairs(const struct gh_shm *shm);
/* Frees that were ignored because OFF was not a live allocation. */
uint64_t gh_slab_invalid_frees(const struct gh_shm *shm);

/*
 * Walk every structure and check it (tests, and `-t` on a live segment
 * later): GH_OK, or GH_ERR with ERR saying what is wrong.  Takes the lock
 * for a walk over every page descriptor (repairing first if needed).
 */
int gh_slab_check(struct gh_shm *shm, char *err, size_t errlen);

#endif
