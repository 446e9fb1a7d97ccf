#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker/core/pool.h"

#define POOL_BLOCK 4096

struct gh_pool_block {
    struct gh_pool_block *next;
    size_t                size;     /* bytes in data[] */
    size_t                off;      /* next free byte */
    _Alignas(16) char     data[];
};

void
gh_pool_init(struct gh_pool *p, size_t max)
{
    p->head = NULL;
    p->used = 0;
    p->max = max;
}

void *
gh_pool_alloc(struct gh_pool *p, size_t n)
{
    struct gh_pool_block *b = p->head;
    size_t need;

    /* Round up without wrapping: a huge N must fail, not become 0. */
    if (n > SIZE_MAX / 2)
        return NULL;
    need = (n + 15) & ~(size_t) 15;
    if (p->max && (need > p->max || p->used > p->max - need))
        return NULL;
    if (b == NULL || b->size - b->off < need) {
        size_t size = need > POOL_BLOCK - sizeof(*b)
                      ? need : POOL_BLOCK - sizeof(*b);

        b = malloc(sizeof(*b) + size);
        if (b == NULL)
            return NULL;
        b->size = size;
        b->off = 0;
        b->next = p->head;
        p->head = b;
    }
    p->used += need;
    b->off += need;
    return b->data + b->off - need;
}

char *
gh_pool_strndup(struct gh_pool *p, const char *s, size_t n)
{
    char *d = n < SIZE_MAX ? gh_pool_alloc(p, n + 1) : NULL;

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

void
gh_pool_reset(struct gh_pool *p)
{
    struct gh_pool_block *b = p->head, *keep = NULL;

    while (b != NULL) {
        struct gh_pool_block *next = b->next;

        if (next == NULL && b->size == POOL_BLOCK - sizeof(*b)) {
            keep = b;           /* the first, standard-size block */
            keep->off = 0;
        } else {
            free(b);
        }
        b = next;
    }
    p->head = keep;
    if (keep != NULL)
        keep->next = NULL;
    p->used = 0;
}

void
gh_pool_destroy(struct gh_pool *p)
{
    while (p->head != NULL) {
        struct gh_pool_block *next = p->head->next;

        free(p->head);
        p->head = next;
    }
    p->used = 0;
}
