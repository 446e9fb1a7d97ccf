#ifndef GH_WORKER_CORE_BUF_H
#define GH_WORKER_CORE_BUF_H

/*
 * Fixed-size I/O buffers from a per-process free list.  A connection holds
 * one only while it has bytes in flight: an idle keep-alive connection
 * holds none.  Invariant: 0 <= start <= end <= size.
 */

#include <stdint.h>

#include "worker/core/gh.h"

#define GH_BUF_SIZE 32768

struct gh_buf {
    char    *data;      /* owns */
    uint32_t size;
    uint32_t start;     /* first unconsumed byte */
    uint32_t end;       /* one past the last byte */
};

/* Get a buffer of GH_BUF_SIZE (from the free list) or of SIZE when larger.
 * Returns NULL on ENOMEM (caller logs at crit). */
struct gh_buf *gh_buf_get(uint32_t size);
/* Give *B back (NULL is fine) and set *B to NULL. */
void gh_buf_put(struct gh_buf **b);
/* Drop the free list (at exit, so leak checkers see a clean heap). */
void gh_buf_drain(void);

static inline uint32_t
gh_buf_len(const struct gh_buf *b)
{
    return b->end - b->start;
}

static inline uint32_t
gh_buf_room(const struct gh_buf *b)
{
    return b->size - b->end;
}

/* Move unconsumed bytes to the front when that makes room. */
static inline void
gh_buf_compact(struct gh_buf *b)
{
    if (b->start == b->end) {
        b->start = b->end = 0;
    } else if (b->start > 0) {
        __builtin_memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
    }
}

#endif
