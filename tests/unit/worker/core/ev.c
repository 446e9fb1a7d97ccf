/*
 * The event loop: the timer heap (order, delete, re-arm and its lazy skip),
 * fd events through gh_loop_once, and deferred frees.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/tap.h"
#include "worker/core/ev.h"
#include "worker/core/gh.h"

static struct gh_loop loop;

/* ---- timers ----------------------------------------------------------- */

#define NT 2000

struct tt {
    struct gh_timer t;          /* first: the handler gets &t */
    int             id;
    int             fired;
};

static struct tt timers[NT];
static int order[NT], nfired;
static gh_msec last_when;
static int out_of_order;

static void
on_timer(struct gh_timer *t)
{
    struct tt *x = gh_container_of(t, struct tt, t);

    if (t->when < last_when)
        out_of_order++;
    last_when = t->when;
    x->fired++;
    if (nfired < NT)
        order[nfired] = x->id;
    nfired++;
}

static void
fire_reset(void)
{
    nfired = 0;
    last_when = INT64_MIN;
    out_of_order = 0;
}

/* Every armed timer's slot matches its index, and the heap is ordered. */
static int
heap_ok(const struct gh_loop *l)
{
    for (uint32_t i = 0; i < l->nheap; i++) {
        if (l->heap[i]->slot != i + 1)
            return 0;
        if (i > 0 && l->heap[(i - 1) / 2]->when > l->heap[i]->when)
            return 0;
    }
    return 1;
}

/* Run the loop until no timer is armed (bounded). */
static void
drain(void)
{
    for (int i = 0; i < 200 && loop.nheap > 0; i++)
        (void) gh_loop_once(&loop, 50);
}

static void
test_timers(void)
{
    subtest("many timers with random deadlines fire in order") {
        int bad_heap = 0;

        srandom(42);
        fire_reset();
        for (int i = 0; i < NT; i++) {
            timers[i] = (struct tt) { .t.handler = on_timer, .id = i };
            /* In the past: all due at the next loop_once, in heap order. */
            gh_timer_set(&loop, &timers[i].t, -(gh_msec) (random() % 100000));
            if (!heap_ok(&loop))
                bad_heap++;
        }
        is_int(bad_heap, 0, "heap ordered after every insert");
        is_int(loop.nheap, NT, "all armed");
        ok(gh_timer_armed(&timers[7].t), "gh_timer_armed");
        is_int(gh_loop_once(&loop, 0), GH_OK, "loop_once");
        is_int(nfired, NT, "all fired in one pass");
        is_int(out_of_order, 0, "in deadline order");
        is_int(loop.nheap, 0, "heap empty");
        ok(!gh_timer_armed(&timers[7].t), "disarmed after firing");
    }

    subtest("real deadlines, a few ms apart") {
        gh_msec t0 = gh_loop_clock();
        int early = 0;

        fire_reset();
        loop.now = gh_loop_clock();
        for (int i = 0; i < 50; i++) {
            timers[i] = (struct tt) { .t.handler = on_timer, .id = i };
            gh_timer_set(&loop, &timers[i].t, (gh_msec) (random() % 30));
        }
        while (loop.nheap > 0 && gh_loop_clock() - t0 < 500) {
            (void) gh_loop_once(&loop, -1);
            /* A timer fires no earlier than its deadline. */
            for (int i = 0; i < 50; i++)
                if (timers[i].fired && timers[i].t.when > loop.now)
                    early++;
        }
        is_int(nfired, 50, "all fired");
        is_int(out_of_order, 0, "in order");
        is_int(early, 0, "none early");
        ok(gh_loop_clock() - t0 < 200, "waited for timers, not longer");
    }

    subtest("gh_timer_del from the middle") {
        int deleted_fired = 0, bad_heap = 0, kept = 0;

        fire_reset();
        for (int i = 0; i < NT; i++) {
            timers[i] = (struct tt) { .t.handler = on_timer, .id = i };
            gh_timer_set(&loop, &timers[i].t, -(gh_msec) (random() % 100000));
        }
        /* Delete every third, by id (scattered heap positions). */
        for (int i = 0; i < NT; i += 3) {
            gh_timer_del(&loop, &timers[i].t);
            if (!heap_ok(&loop))
                bad_heap++;
        }
        /* And a few by heap position: middle, last, first. */
        gh_timer_del(&loop, loop.heap[loop.nheap / 2]);
        gh_timer_del(&loop, loop.heap[loop.nheap - 1]);
        gh_timer_del(&loop, loop.heap[0]);
        if (!heap_ok(&loop))
            bad_heap++;
        for (int i = 0; i < NT; i++)
            kept += gh_timer_armed(&timers[i].t);
        is_int(bad_heap, 0, "heap ordered after every delete");
        is_int(loop.nheap, kept, "nheap counts the armed timers");
        gh_timer_del(&loop, &timers[0].t);
        is_int(loop.nheap, kept, "deleting a disarmed timer is a no-op");
        (void) gh_loop_once(&loop, 0);
        for (int i = 0; i < NT; i += 3)
            deleted_fired += timers[i].fired;
        is_int(deleted_fired, 0, "deleted timers do not fire");
        is_int(nfired, kept, "the others all fire");
        is_int(out_of_order, 0, "in order");
    }

    subtest("re-arm") {
        struct tt a = { .t.handler = on_timer, .id = 1 };
        struct tt b = { .t.handler = on_timer, .id = 2 };
        gh_msec now;

        fire_reset();
        loop.now = now = gh_loop_clock();
        gh_timer_set(&loop, &a.t, 10000);
        gh_timer_set(&loop, &b.t, 20000);
        is_int(a.t.when, now + 10000, "armed at now + 10 s");
        gh_timer_set(&loop, &a.t, 30000);
        is_int(a.t.when, now + 30000, "re-armed later");
        is_int(loop.nheap, 2, "still two in the heap");
        ok(loop.heap[0] == &b.t, "b is now first");
        gh_timer_set(&loop, &a.t, 5000);
        is_int(a.t.when, now + 5000, "re-armed earlier");
        ok(loop.heap[0] == &a.t && heap_ok(&loop), "a first again");
        gh_timer_set(&loop, &a.t, -1);
        (void) gh_loop_once(&loop, 0);
        is_int(a.fired, 1, "re-armed into the past: fires");
        is_int(b.fired, 0, "b waits");
        gh_timer_set(&loop, &a.t, -1);
        is_int(loop.nheap, 2, "a fired timer can be armed again");
        gh_timer_del(&loop, &a.t);
        gh_timer_del(&loop, &b.t);
        is_int(loop.nheap, 0, "empty");
    }

    /*
     * gh_timer_set skips the heap work when the new deadline is at most
     * min(after / 8, 300) ms after the old one: the old (earlier) one stays.
     * A later-than-needed deadline is never kept; an earlier one never is.
     */
    subtest("lazy re-arm") {
        struct tt a = { .t.handler = on_timer, .id = 1 };
        gh_msec base = gh_loop_clock(), old;

        loop.now = base;
        gh_timer_set(&loop, &a.t, 800);                 /* lazy bound 100 */
        old = a.t.when;
        loop.now = base + 100;
        gh_timer_set(&loop, &a.t, 800);
        is_int(a.t.when, old, "100 ms later with after 800: old kept");
        loop.now = base + 101;
        gh_timer_set(&loop, &a.t, 800);
        is_int(a.t.when, base + 901, "101 ms later: re-armed");

        loop.now = base;
        gh_timer_set(&loop, &a.t, 60000);               /* bound 300 */
        old = a.t.when;
        loop.now = base + 300;
        gh_timer_set(&loop, &a.t, 60000);
        is_int(a.t.when, old, "300 ms later with after 60 s: old kept");
        loop.now = base + 301;
        gh_timer_set(&loop, &a.t, 60000);
        is_int(a.t.when, base + 60301, "301 ms later: re-armed");

        loop.now = base;
        gh_timer_set(&loop, &a.t, 60000);
        gh_timer_set(&loop, &a.t, 59999);
        is_int(a.t.when, base + 59999, "an earlier deadline always re-arms");

        gh_timer_set(&loop, &a.t, 7);                   /* bound 0 */
        old = a.t.when;
        gh_timer_set(&loop, &a.t, 7);
        is_int(a.t.when, old, "same deadline: kept");
        loop.now = base + 1;
        gh_timer_set(&loop, &a.t, 7);
        is_int(a.t.when, base + 8, "after 7: bound 0, 1 ms later re-arms");
        ok(heap_ok(&loop) && loop.nheap == 1, "one entry, heap ok");
        gh_timer_del(&loop, &a.t);
        loop.now = gh_loop_clock();
    }
}

/* ---- fd events -------------------------------------------------------- */

struct pev {
    struct gh_ev ev;            /* first */
    int          calls;
    uint32_t     events;
    struct pev  *other;         /* closed by this handler, if set */
};

static void
on_pipe(struct gh_ev *ev, uint32_t events)
{
    struct pev *p = gh_container_of(ev, struct pev, ev);
    char buf[64];

    p->calls++;
    p->events |= events;
    while (read(ev->fd, buf, sizeof(buf)) > 0)
        ;
    if (p->other != NULL)
        gh_ev_close(&loop, &p->other->ev);
}

static void
test_events(void)
{
    subtest("a pipe registered for EPOLLIN") {
        int fds[2];
        struct pev p = { .ev.handler = on_pipe };
        gh_msec t0;

        if (!ok(pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0, "pipe"))
            fds[0] = fds[1] = -1;
        p.ev.fd = fds[0];
        is_int(gh_ev_add(&loop, &p.ev, EPOLLIN | EPOLLRDHUP), GH_OK,
               "gh_ev_add");
        t0 = gh_loop_clock();
        is_int(gh_loop_once(&loop, 20), GH_OK, "loop_once, idle");
        is_int(p.calls, 0, "no event yet");
        ok(gh_loop_clock() - t0 >= 15, "waited about max_wait");
        ok(write(fds[1], "x", 1) == 1, "write");
        is_int(gh_loop_once(&loop, 1000), GH_OK, "loop_once");
        is_int(p.calls, 1, "handler called once");
        ok(p.events & EPOLLIN, "EPOLLIN");
        is_int(gh_loop_once(&loop, 0), GH_OK, "loop_once again");
        is_int(p.calls, 1, "edge-triggered: drained, no second call");
        ok(write(fds[1], "y", 1) == 1, "write again");
        (void) gh_loop_once(&loop, 1000);
        is_int(p.calls, 2, "a new edge: called again");
        (void) close(fds[1]);
        p.events = 0;
        (void) gh_loop_once(&loop, 1000);
        is_int(p.calls, 3, "writer closed: called");
        ok(p.events & (EPOLLHUP | EPOLLRDHUP), "hang-up reported");
        is_int(gh_ev_mod(&loop, &p.ev, EPOLLIN), GH_OK, "gh_ev_mod");
        gh_ev_close(&loop, &p.ev);
        is_int(p.ev.fd, -1, "gh_ev_close marks the ev dead");
        gh_ev_close(&loop, &p.ev);
        is_int(p.ev.fd, -1, "closing twice is harmless");
        is_int(gh_ev_add(&loop, &p.ev, EPOLLIN), GH_ERR,
               "adding a closed ev fails");
    }

    subtest("an ev closed in the batch is skipped") {
        int a[2], b[2];
        struct pev pa = { .ev.handler = on_pipe };
        struct pev pb = { .ev.handler = on_pipe };

        if (!ok(pipe2(a, O_NONBLOCK) == 0 && pipe2(b, O_NONBLOCK) == 0,
                "pipes"))
            a[0] = a[1] = b[0] = b[1] = -1;
        pa.ev.fd = a[0];
        pb.ev.fd = b[0];
        pa.other = &pb;
        pb.other = &pa;
        (void) gh_ev_add(&loop, &pa.ev, EPOLLIN);
        (void) gh_ev_add(&loop, &pb.ev, EPOLLIN);
        ok(write(a[1], "x", 1) == 1 && write(b[1], "x", 1) == 1,
           "both readable");
        (void) gh_loop_once(&loop, 1000);
        is_int(pa.calls + pb.calls, 1,
               "the first handler closed the other: one call");
        ok((pa.ev.fd == -1) != (pb.ev.fd == -1),
           "the one whose handler ran closed the other");
        gh_ev_close(&loop, &pa.ev);
        gh_ev_close(&loop, &pb.ev);
        (void) close(a[1]);
        (void) close(b[1]);
    }

    subtest("timers wake an idle loop") {
        struct tt a = { .t.handler = on_timer, .id = 1 };
        gh_msec t0 = gh_loop_clock();

        fire_reset();
        loop.now = t0;
        gh_timer_set(&loop, &a.t, 30);
        (void) gh_loop_once(&loop, -1);
        if (a.fired == 0)           /* woken a little early by rounding */
            (void) gh_loop_once(&loop, -1);
        is_int(a.fired, 1, "fired with max_wait -1");
        ok(gh_loop_clock() - t0 >= 30, "not before its deadline");
        ok(gh_loop_clock() - t0 < 500, "soon after it");
        drain();
    }
}

/* ---- deferred frees --------------------------------------------------- */

static void
on_defer(struct gh_ev *ev, uint32_t events)
{
    char buf[8];

    (void) events;
    while (read(ev->fd, buf, sizeof(buf)) > 0)
        ;
    /* More than the initial capacity (64), to make the list grow. */
    for (int i = 0; i < 200; i++)
        gh_loop_defer_free(&loop, malloc(32));
}

static void
test_defer(void)
{
    subtest("gh_loop_defer_free") {
        int fds[2];
        struct gh_ev ev = { .handler = on_defer };
        void *p = malloc(64);

        gh_loop_defer_free(&loop, p);
        is_int(loop.ndefer, 1, "queued");
        memset(p, 0, 64);           /* still ours until the batch ends */
        (void) gh_loop_once(&loop, 0);
        is_int(loop.ndefer, 0, "freed after the batch");

        if (!ok(pipe2(fds, O_NONBLOCK) == 0, "pipe"))
            fds[0] = fds[1] = -1;
        ev.fd = fds[0];
        (void) gh_ev_add(&loop, &ev, EPOLLIN);
        ok(write(fds[1], "x", 1) == 1, "write");
        (void) gh_loop_once(&loop, 1000);
        is_int(loop.ndefer, 0, "200 frees from a handler done after it");
        ok(loop.defer_cap >= 200, "list grew");
        gh_ev_close(&loop, &ev);
        (void) close(fds[1]);

        gh_loop_defer_free(&loop, malloc(16));
        gh_loop_defer_free(&loop, NULL);
        is_int(loop.ndefer, 2, "pending at destroy (freed by destroy)");
    }
}

int
main(void)
{
    if (gh_loop_init(&loop) != GH_OK) {
        ok(0, "gh_loop_init: %s", strerror(errno));
        return done_testing();
    }
    ok(loop.epfd >= 0 && loop.now > 0, "gh_loop_init");
    test_timers();
    test_events();
    test_defer();
    gh_loop_destroy(&loop);
    is_int(loop.epfd, -1, "destroyed");
    return done_testing();
}
