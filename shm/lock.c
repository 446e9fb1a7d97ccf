#include <errno.h>
#include <string.h>
#include <time.h>

#include "shm/lock.h"
#include "worker/core/gh.h"

int
gh_shm_lock_init(struct gh_shm_lock *l)
{
    pthread_mutexattr_t a;
    int rc = GH_ERR;

    memset(l, 0, sizeof(*l));
    if (pthread_mutexattr_init(&a) != 0)
        return GH_ERR;
    if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) == 0
        && pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0
        && pthread_mutex_init(&l->u.m, &a) == 0)
        rc = GH_OK;
    (void) pthread_mutexattr_destroy(&a);
    return rc;
}

/*
 * When a holder dies the kernel marks the lock and wakes one waiter; if
 * that one dies too before taking it, the others would sleep on.  So no
 * wait lasts more than GH_LOCK_RETRY_MS: a sleeper wakes, tries again and
 * takes the orphaned lock over (EOWNERDEAD).
 */
#define GH_LOCK_RETRY_MS 100

int
gh_shm_lock_acquire(struct gh_shm_lock *l)
{
    struct timespec t;
    int rc = pthread_mutex_trylock(&l->u.m);

    while (rc == EBUSY || rc == ETIMEDOUT) {
        (void) clock_gettime(CLOCK_MONOTONIC, &t);
        t.tv_nsec += GH_LOCK_RETRY_MS * 1000000L;
        if (t.tv_nsec >= 1000000000L) {
            t.tv_sec++;
            t.tv_nsec -= 1000000000L;
        }
        rc = pthread_mutex_clocklock(&l->u.m, CLOCK_MONOTONIC, &t);
    }
    if (rc == 0)
        return GH_OK;
    if (rc == EOWNERDEAD)
        return GH_DECLINED;
    errno = rc;
    return GH_ERR;
}

void
gh_shm_lock_repaired(struct gh_shm_lock *l)
{
    (void) pthread_mutex_consistent(&l->u.m);   /* only fails if not ours */
}

void
gh_shm_lock_release(struct gh_shm_lock *l)
{
    (void) pthread_mutex_unlock(&l->u.m);   /* we hold it: cannot fail */
}
