#ifndef GH_WORKER_CORE_EV_H
#define GH_WORKER_CORE_EV_H

/*
 * One edge-triggered epoll loop per process, with timers in a binary heap
 * (O(log n) set and delete).  Handlers run from gh_loop_run(); a handler may
 * close any fd and free any object: events for an ev whose fd is -1 are
 * skipped, so owners must set ev->fd = -1 (gh_ev_close does) and free the
 * object only after the current batch (gh_loop_defer_free).
 */

#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "worker/core/gh.h"

struct gh_ev;
struct gh_timer;
typedef void (*gh_ev_handler)(struct gh_ev *ev, uint32_t events);
typedef void (*gh_timer_handler)(struct gh_timer *t);

struct gh_ev {
    int           fd;           /* -1 once closed */
    gh_ev_handler handler;
};

struct gh_timer {
    gh_msec          when;      /* absolute, loop clock */
    uint32_t         slot;      /* heap index + 1; 0 = not armed */
    gh_timer_handler handler;
};

struct gh_loop {
    int               epfd;
    gh_msec           now;      /* CLOCK_MONOTONIC ms, updated per wake */
    struct gh_timer **heap;     /* owns the array, not the timers */
    uint32_t          nheap;
    uint32_t          heap_cap;
    void            **defer;    /* objects to free() after the batch */
    uint32_t          ndefer;
    uint32_t          defer_cap;
    const sigset_t   *sigmask;  /* unblocked while waiting, or NULL */
};

int gh_loop_init(struct gh_loop *loop);
void gh_loop_destroy(struct gh_loop *loop);
/* Wait at most MAX_WAIT ms (-1: until a timer or event), dispatch events,
 * then expired timers, then deferred frees.  Returns GH_OK or GH_ERR. */
int gh_loop_once(struct gh_loop *loop, gh_msec max_wait);
gh_msec gh_loop_clock(void);

/* Register FD for EVENTS (EPOLLET is added).  GH_OK or GH_ERR (errno). */
int gh_ev_add(struct gh_loop *loop, struct gh_ev *ev, uint32_t events);
int gh_ev_mod(struct gh_loop *loop, struct gh_ev *ev, uint32_t events);
/* Close the fd (which also removes it from epoll) and mark ev dead. */
void gh_ev_close(struct gh_loop *loop, struct gh_ev *ev);

/* Arm T to fire AFTER ms from now (re-arms if armed). */
void gh_timer_set(struct gh_loop *loop, struct gh_timer *t, gh_msec after);
void gh_timer_del(struct gh_loop *loop, struct gh_timer *t);
#define gh_timer_armed(t) ((t)->slot != 0)

/* free(P) after the current batch of events. */
void gh_loop_defer_free(struct gh_loop *loop, void *p);

#endif
