#ifndef GH_SHM_LAYOUT_H
#define GH_SHM_LAYOUT_H

/*
 * The layout of the shared-memory segment.  Only fixed-width fields, no
 * pointers, explicit padding, reserved bytes: a new binary maps it anywhere
 * and must read what an old one wrote.  Bump GH_SHM_LAYOUT on any change;
 * tests/unit/shm/layout.c records sizes and offsets and fails if they move
 * without a bump (and the sizes of the shared tables of shm/state.h).
 *
 * Lock order (when two are ever needed): the globals lock (shm/state.h)
 * first, then a table lock (a client-table stripe, an upstream, a cache
 * zone), the slab lock last.  The cache zone directory's lock is never
 * held with another but the slab's (taken under it to make the directory).
 */

#include <stdint.h>

#include "shm/lock.h"

/* Offset from the segment base; 0 is "none" (the header sits at 0). */
typedef uint64_t gh_off;

#define GH_SHM_MAGIC  0x4748534d31000000ULL     /* "GHSM1" */
#define GH_SHM_LAYOUT 5

struct gh_shm_hdr {
    uint64_t magic;
    uint32_t layout;        /* GH_SHM_LAYOUT of the creator */
    uint32_t hdr_size;      /* sizeof(struct gh_shm_hdr) of the creator */
    uint64_t seg_size;
    uint64_t generation;    /* +1 each time a master adopts the segment */
    uint64_t created;       /* unix time of creation */
    gh_off   state;         /* struct gh_shm_globals (shm/state.h) */
    gh_off   slab;          /* struct gh_slab (shm/slab.c) */
    gh_off   caches;        /* struct gh_shm_cachedir; 0 until a master
                               binds cache zones (shm/cachedir.h) */
    uint8_t  reserved[192];
};
_Static_assert(sizeof(struct gh_shm_hdr) == 256, "shm header size changed");

/*
 * The per-client table (shm/ctable.h): one page run holding a struct
 * gh_shm_ctable, then its stripes of locks, then NSETS sets of GH_CT_WAYS
 * entries.  No lists, no pointers between entries: a process killed in the
 * middle of an update leaves at worst one entry with a stale field.
 */
#define GH_CT_MAGIC       0x4748435431000000ULL     /* "GHCT1" */
#define GH_CT_HELD_MAGIC  0x4748434831000000ULL     /* "GHCH1" */
#define GH_CT_WAYS        8         /* entries per set: 512 bytes */
#define GH_CT_STRIPES     128       /* locks, at most; set i takes i % n */

/* What an entry is found by.  24 bytes, no padding (it is hashed whole). */
struct gh_ct_key {
    uint64_t zone;          /* 0: client connections; else a route's
                               shm offset (one rate-limit zone per route) */
    uint8_t  k[16];         /* an IPv6 address (IPv4 as ::ffff:a.b.c.d), or
                               a keyed 128-bit hash of a header value */
};
_Static_assert(sizeof(struct gh_ct_key) == 24, "ct key size changed");

struct gh_shm_ct_entry {
    struct gh_ct_key key;
    uint64_t tat_us;        /* GCRA theoretical arrival time (us of
                               CLOCK_MONOTONIC); 0: never rate-limited */
    uint64_t last_used;     /* the set's clock at the last touch (the
                               largest in the set + 1); 0: a free way */
    uint32_t conns;         /* connections counted, all workers */
    uint32_t pad;
    uint64_t reserved[2];
};
_Static_assert(sizeof(struct gh_shm_ct_entry) == 64, "ct entry size changed");

/* One lock and the statistics of the sets it guards (written under it,
 * read without: relaxed atomics). */
struct gh_shm_ct_stripe {
    struct gh_shm_lock lock;
    uint64_t used;          /* ways in use */
    uint64_t inserts;       /* keys entered (into a free way or evicting) */
    uint64_t evictions;     /* of those, the ones that evicted a key */
    uint64_t fails;         /* inserts refused: every way counted conns */
    uint64_t repairs;       /* times a holder died with the lock */
    uint64_t pad[3];
};
_Static_assert(sizeof(struct gh_shm_ct_stripe) == 128, "ct stripe changed");

struct gh_shm_ctable {
    uint64_t magic;         /* GH_CT_MAGIC, written last */
    uint64_t bytes;         /* the size asked for */
    uint64_t size;          /* bytes of the run actually used */
    uint64_t secret[6];     /* SipHash keys: set choice, header hash (2) */
    uint32_t nsets;
    uint32_t nstripes;      /* min(GH_CT_STRIPES, nsets) */
    gh_off   stripes;       /* struct gh_shm_ct_stripe[nstripes] */
    gh_off   sets;          /* struct gh_shm_ct_entry[nsets * GH_CT_WAYS] */
    uint64_t reserved[20];
};
_Static_assert(sizeof(struct gh_shm_ctable) == 256, "ct header changed");

/*
 * What one worker process holds in the table: a header, then CAP slots
 * (open addressing, linear probing, no tombstones), each a uint64_t:
 * low 32 bits the entry's index + 1 (0: empty), high 32 bits the count.
 * Written only by that worker, one 64-bit store at a time; read by the
 * master only after it died.
 */
struct gh_shm_ct_held {
    uint64_t magic;         /* GH_CT_HELD_MAGIC */
    uint32_t cap;           /* slots, a power of two; 0: no table */
    uint32_t used;          /* slots in use, at most 3/4 of cap */
    int64_t  total;         /* this process's share of the daemon-wide
                               connection count (shm/state.h) */
    uint64_t reserved[5];
};
_Static_assert(sizeof(struct gh_shm_ct_held) == 64, "ct held changed");

/*
 * The cache zone directory (shm/cachedir.h): every zone of the HTTP cache
 * (shm/cache.h) in the segment, by name, so a reload or a new binary that
 * adopts the segment finds a zone again and keeps its entries.  Written by
 * masters only (two run side by side during a binary upgrade), under its
 * lock; workers never read it (the master writes each zone's offset into
 * the configuration before forking).
 *
 * An entry is free (root 0), or a zone: the live one of its name (what a
 * configuration naming it gets), or one that is not live (replaced by a
 * zone of another size, no longer configured, or prepared by a reload not
 * yet committed) and kept while a master holds it for processes that may
 * still read it.  A zone neither live nor held is freed.
 */
#define GH_CD_MAGIC    0x4748434431000000ULL    /* "GHCD1" */
#define GH_CD_ENTRIES  256      /* zones, live and waiting to be freed */
#define GH_CD_HOLDERS  4        /* masters holding one zone */
#define GH_CD_NAME     48       /* bytes of a name, with its NUL */

struct gh_shm_cd_entry {
    char     name[GH_CD_NAME];  /* NUL-terminated */
    gh_off   root;              /* the zone (shm/cache.h); 0: a free entry;
                                   written last when an entry is filled */
    uint64_t bytes;             /* its budget, as made */
    int32_t  holders[GH_CD_HOLDERS];    /* pids of masters that use it;
                                           0: an empty place */
    uint32_t live;              /* 1: the zone of NAME for configurations */
    uint32_t pad;
    uint64_t reserved;
};
_Static_assert(sizeof(struct gh_shm_cd_entry) == 96, "cd entry changed");

struct gh_shm_cachedir {
    uint64_t magic;             /* GH_CD_MAGIC, written last */
    uint32_t nentries;          /* GH_CD_ENTRIES */
    uint32_t pad;
    uint64_t repairs;           /* holders that died with the lock */
    uint64_t reserved[5];
    struct gh_shm_lock lock;
    struct gh_shm_cd_entry e[GH_CD_ENTRIES];
};
_Static_assert(sizeof(struct gh_shm_cachedir) == 128 + 96 * GH_CD_ENTRIES,
               "cache directory changed");

#endif
