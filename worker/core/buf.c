#include <stdlib.h>

#include "worker/core/buf.h"

/* Free list of GH_BUF_SIZE buffers, per process (workers are single
 * threaded).  Bounded so a burst does not pin memory forever. */
#define BUF_FREE_MAX 256       /* 8 MiB of 32 KiB buffers at most */

static struct gh_buf *buf_free[BUF_FREE_MAX];
static uint32_t buf_nfree;

struct gh_buf *
gh_buf_get(uint32_t size)
{
    struct gh_buf *b;

    if (size <= GH_BUF_SIZE && buf_nfree > 0) {
        b = buf_free[--buf_nfree];
        b->start = b->end = 0;
        return b;
    }
    if (size < GH_BUF_SIZE)
        size = GH_BUF_SIZE;
    b = malloc(sizeof(*b) + size);
    if (b == NULL)
        return NULL;
    b->data = (char *) (b + 1);
    b->size = size;
    b->start = b->end = 0;
    return b;
}

void
gh_buf_put(struct gh_buf **bp)
{
    struct gh_buf *b = *bp;

    if (b == NULL)
        return;
    *bp = NULL;
    if (b->size == GH_BUF_SIZE && buf_nfree < BUF_FREE_MAX)
        buf_free[buf_nfree++] = b;
    else
        free(b);
}

void
gh_buf_drain(void)
{
    while (buf_nfree > 0)
        free(buf_free[--buf_nfree]);
}
