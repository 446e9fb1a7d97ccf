#include <errno.h>
#include <string.h>

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

int
gh_shm_lock_acquire(struct gh_shm_lock *l)
{
    int rc = pthread_mutex_lock(&l->u.m);

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
