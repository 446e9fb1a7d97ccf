#ifndef GH_WORKER_CORE_POOL_H
#define GH_WORKER_CORE_POOL_H

/*
 * An arena: bump allocation from blocks, everything freed at once by
 * gh_pool_reset() or gh_pool_destroy().  Bounded by MAX bytes so a hostile
 * request cannot grow it without limit: past it, allocation returns NULL
 * and the caller answers with an error status.
 */

#include <stddef.h>

#include "worker/core/gh.h"

struct gh_pool_block;

struct gh_pool {
    struct gh_pool_block *head;     /* owns the chain; head is current */
    size_t                used;     /* bytes handed out since reset */
    size_t                max;      /* cap on used; 0 = none */
};

void gh_pool_init(struct gh_pool *p, size_t max);
/* Aligned to 16; NULL when over the cap or out of memory. */
void *gh_pool_alloc(struct gh_pool *p, size_t n);
char *gh_pool_strndup(struct gh_pool *p, const char *s, size_t n);
/* Free all but the first block, which is kept for reuse. */
void gh_pool_reset(struct gh_pool *p);
void gh_pool_destroy(struct gh_pool *p);

#endif
