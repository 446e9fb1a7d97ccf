#ifndef GH_SHM_SHM_H
#define GH_SHM_SHM_H

/*
 * The one shared-memory segment: a memfd created by the master before the
 * first fork (so its fd can later be handed to a new binary across exec),
 * mapped MAP_SHARED by every process.  Everything inside is addressed by
 * offset, never by pointer.
 */

#include <stddef.h>

#include "shm/layout.h"
#include "worker/core/gh.h"

struct gh_shm {
    int                fd;      /* memfd, not CLOEXEC: kept for upgrade */
    size_t             size;
    struct gh_shm_hdr *hdr;     /* the mapping; base of every offset */
};

/*
 * Create and map a fresh segment of SIZE bytes (>= 1 MiB) with a new
 * header.  GH_OK, or GH_ERR with ERR filled (the caller logs).
 */
int gh_shm_create(struct gh_shm *shm, size_t size, char *err, size_t errlen);
/*
 * Map the segment behind FD (inherited) and check its header: GH_OK when
 * magic, layout, header size and size all match (generation is bumped),
 * GH_DECLINED when it is of another layout (ERR says why), GH_ERR on a
 * system failure.
 */
int gh_shm_adopt(struct gh_shm *shm, int fd, char *err, size_t errlen);
void gh_shm_close(struct gh_shm *shm);

static inline void *
gh_shm_ptr(const struct gh_shm *shm, gh_off off)
{
#ifdef GH_DEBUG
    if (off >= shm->size)
        __builtin_trap();
#endif
    return off ? (char *) shm->hdr + off : NULL;
}

static inline gh_off
gh_shm_off(const struct gh_shm *shm, const void *p)
{
    return p ? (gh_off) ((const char *) p - (const char *) shm->hdr) : 0;
}

#endif
