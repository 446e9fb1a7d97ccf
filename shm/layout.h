#ifndef GH_SHM_LAYOUT_H
#define GH_SHM_LAYOUT_H

/*
 * The layout of the shared-memory segment.  Only fixed-width fields, no
 * pointers, explicit padding, reserved bytes: a new binary maps it anywhere
 * and must read what an old one wrote.  Bump GH_SHM_LAYOUT on any change;
 * tests/unit/shm/layout.c records sizes and offsets and fails if they move
 * without a bump (and the sizes of the shared tables of shm/state.h).
 *
 * Lock order (when two are ever needed): table locks first, slab lock last.
 */

#include <stdint.h>

/* Offset from the segment base; 0 is "none" (the header sits at 0). */
typedef uint64_t gh_off;

#define GH_SHM_MAGIC  0x4748534d31000000ULL     /* "GHSM1" */
#define GH_SHM_LAYOUT 3

struct gh_shm_hdr {
    uint64_t magic;
    uint32_t layout;        /* GH_SHM_LAYOUT of the creator */
    uint32_t hdr_size;      /* sizeof(struct gh_shm_hdr) of the creator */
    uint64_t seg_size;
    uint64_t generation;    /* +1 each time a master adopts the segment */
    uint64_t created;       /* unix time of creation */
    gh_off   state;         /* struct gh_shm_globals (shm/state.h) */
    gh_off   slab;          /* struct gh_slab (shm/slab.c) */
    uint8_t  reserved[200];
};
_Static_assert(sizeof(struct gh_shm_hdr) == 256, "shm header size changed");

#endif
