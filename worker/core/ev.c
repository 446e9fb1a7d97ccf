#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "worker/core/ev.h"
#include "worker/core/log.h"

#define EV_BATCH 256

gh_msec
gh_loop_clock(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gh_msec) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
gh_loop_init(struct gh_loop *loop)
{
    *loop = (struct gh_loop) { .epfd = -1 };
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd == -1)
        return GH_ERR;
    loop->now = gh_loop_clock();
    return GH_OK;
}

void
gh_loop_destroy(struct gh_loop *loop)
{
    if (loop->epfd != -1)
        (void) close(loop->epfd);
    for (uint32_t i = 0; i < loop->ndefer; i++)
        free(loop->defer[i]);
    free(loop->heap);
    free(loop->defer);
    *loop = (struct gh_loop) { .epfd = -1 };
}

int
gh_ev_add(struct gh_loop *loop, struct gh_ev *ev, uint32_t events)
{
    struct epoll_event ee = { .events = events | EPOLLET, .data.ptr = ev };

    return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, ev->fd, &ee) == 0
           ? GH_OK : GH_ERR;
}

int
gh_ev_mod(struct gh_loop *loop, struct gh_ev *ev, uint32_t events)
{
    struct epoll_event ee = { .events = events | EPOLLET, .data.ptr = ev };

    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, ev->fd, &ee) == 0
           ? GH_OK : GH_ERR;
}

void
gh_ev_close(struct gh_loop *loop, struct gh_ev *ev)
{
    (void) loop;
    if (ev->fd != -1) {
        /* close() drops the fd from epoll: no epoll_ctl(DEL) needed, as
         * none of our fds is ever dup()ed. */
        (void) close(ev->fd);
        ev->fd = -1;
    }
}

void
gh_loop_defer_free(struct gh_loop *loop, void *p)
{
    if (loop->ndefer == loop->defer_cap) {
        uint32_t cap = loop->defer_cap ? loop->defer_cap * 2 : 64;
        void **d = realloc(loop->defer, cap * sizeof(*d));

        if (d == NULL) {
            /* Cannot defer: leak rather than risk a use after free. */
            gh_log(GH_LOG_CRIT, ENOMEM, "deferred free list full");
            return;
        }
        loop->defer = d;
        loop->defer_cap = cap;
    }
    loop->defer[loop->ndefer++] = p;
}

/* Binary min-heap on when; slot is index + 1 so 0 means "not armed". */

static void
timer_swap_in(struct gh_loop *loop, uint32_t i, struct gh_timer *t)
{
    loop->heap[i] = t;
    t->slot = i + 1;
}

static void
timer_up(struct gh_loop *loop, uint32_t i)
{
    struct gh_timer *t = loop->heap[i];

    while (i > 0) {
        uint32_t p = (i - 1) / 2;

        if (loop->heap[p]->when <= t->when)
            break;
        timer_swap_in(loop, i, loop->heap[p]);
        i = p;
    }
    timer_swap_in(loop, i, t);
}

static void
timer_down(struct gh_loop *loop, uint32_t i)
{
    struct gh_timer *t = loop->heap[i];

    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        gh_msec mw = t->when;

        if (l < loop->nheap && loop->heap[l]->when < mw) {
            m = l;
            mw = loop->heap[l]->when;
        }
        if (l + 1 < loop->nheap && loop->heap[l + 1]->when < mw)
            m = l + 1;
        if (m == i)
            break;
        timer_swap_in(loop, i, loop->heap[m]);
        i = m;
    }
    timer_swap_in(loop, i, t);
}

void
gh_timer_del(struct gh_loop *loop, struct gh_timer *t)
{
    uint32_t i;
    struct gh_timer *last;

    if (t->slot == 0)
        return;
    i = t->slot - 1;
    t->slot = 0;
    last = loop->heap[--loop->nheap];
    if (i == loop->nheap)
        return;
    loop->heap[i] = last;
    last->slot = i + 1;
    if (i > 0 && loop->heap[(i - 1) / 2]->when > last->when)
        timer_up(loop, i);
    else
        timer_down(loop, i);
}

void
gh_timer_set(struct gh_loop *loop, struct gh_timer *t, gh_msec after)
{
    gh_msec when = loop->now + after;

    if (t->slot != 0) {
        /* Re-arming to (almost) the same deadline is the common case on a
         * busy connection: skip the heap work when the old deadline is at most
         * 300 ms (or 1/8 of the period) early, as nginx does. */
        if (when >= t->when && when - t->when <= GH_MIN(after / 8, 300))
            return;
        gh_timer_del(loop, t);
    }
    if (loop->nheap == loop->heap_cap) {
        uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 1024;
        struct gh_timer **h = realloc(loop->heap, cap * sizeof(*h));

        if (h == NULL) {
            /* Keep running without this timer rather than crash; the
             * connection still ends when its peer does. */
            gh_log(GH_LOG_CRIT, ENOMEM, "timer heap full, timer dropped");
            return;
        }
        loop->heap = h;
        loop->heap_cap = cap;
    }
    t->when = when;
    loop->heap[loop->nheap] = t;
    t->slot = ++loop->nheap;
    timer_up(loop, loop->nheap - 1);
}

int
gh_loop_once(struct gh_loop *loop, gh_msec max_wait)
{
    struct epoll_event evs[EV_BATCH];
    gh_msec wait = max_wait;
    int n;

    if (loop->nheap > 0) {
        gh_msec d = loop->heap[0]->when - loop->now;

        if (d < 0)
            d = 0;
        if (wait < 0 || d < wait)
            wait = d;
    }
    if (wait > 86400000)
        wait = 86400000;    /* epoll takes an int: wake daily at most */
    /* epoll_pwait: signals stay blocked except while we sleep, so a
     * signal's flag is never set just after we checked it. */
    n = epoll_pwait(loop->epfd, evs, EV_BATCH, (int) wait, loop->sigmask);
    if (n == -1 && errno != EINTR)
        return GH_ERR;
    loop->now = gh_loop_clock();
    for (int i = 0; i < n; i++) {
        struct gh_ev *ev = evs[i].data.ptr;

        if (ev->fd != -1)
            ev->handler(ev, evs[i].events);
    }
    while (loop->nheap > 0 && loop->heap[0]->when <= loop->now) {
        struct gh_timer *t = loop->heap[0];

        gh_timer_del(loop, t);
        t->handler(t);
    }
    for (uint32_t i = 0; i < loop->ndefer; i++)
        free(loop->defer[i]);
    loop->ndefer = 0;
    return GH_OK;
}
