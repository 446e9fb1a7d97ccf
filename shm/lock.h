#ifndef GH_SHM_LOCK_H
#define GH_SHM_LOCK_H

/*
 * A lock that lives in the segment: a process-shared, robust pthread mutex.
 * A process killed while holding one does not block the others: the next
 * acquirer gets GH_DECLINED, owns the lock, repairs (or discards) what the
 * dead holder left half-done, calls gh_shm_lock_repaired(), and goes on.
 * Acquire may block (only ever for the length of another holder's critical
 * section: keep those short, never do I/O under one).
 */

#include <pthread.h>
#include <stdint.h>

struct gh_shm_lock {
    union {
        pthread_mutex_t m;
        uint8_t         pad[64];    /* fixed size in the layout */
    } u;
};
_Static_assert(sizeof(pthread_mutex_t) <= 64, "pthread_mutex_t too big");

/* Initialise L in place (once, by the segment's creator).  GH_OK/GH_ERR. */
int gh_shm_lock_init(struct gh_shm_lock *l);
/*
 * Take L.  GH_OK: held.  GH_DECLINED: held, but the previous holder died
 * with it: repair, then gh_shm_lock_repaired().  GH_ERR: cannot be taken
 * (not recoverable; a broken invariant, logged by the caller).
 */
int gh_shm_lock_acquire(struct gh_shm_lock *l);
/* After repairing what L protects (only after GH_DECLINED). */
void gh_shm_lock_repaired(struct gh_shm_lock *l);
void gh_shm_lock_release(struct gh_shm_lock *l);

#endif
