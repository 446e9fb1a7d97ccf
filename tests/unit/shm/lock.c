/*
 * Tests shm/lock.c: mutual exclusion between processes, and what happens
 * when a holder dies (SIGKILL, _exit, a waiter already blocked): the next
 * acquirer gets GH_DECLINED, and after gh_shm_lock_repaired() the lock is
 * normal again; without the repair it is lost for good (GH_ERR).
 */

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/lock.h"
#include "tests/unit/tap.h"
#include "worker/core/gh.h"

struct shared {
    struct gh_shm_lock lock;
    volatile int       held;        /* a child holds the lock */
    volatile int       inside;      /* holders inside right now */
    volatile int       overlap;     /* two were inside at once */
    volatile int       waiter_rc;   /* what a blocked waiter got */
};

static struct shared *sh;

static pid_t
child(void (*fn)(void))
{
    pid_t pid;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        alarm(10);
        fn();
        _exit(0);
    }
    return pid;
}

static int
wait_status(pid_t pid)
{
    int status = -1;

    while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
        continue;
    return status;
}

/* Wait until FLAG is set (a child got the lock), at most 5 s. */
static int
wait_flag(volatile int *flag)
{
    for (int i = 0; i < 5000 && !*flag; i++)
        usleep(1000);
    return *flag;
}

static void
hold_and_pause(void)
{
    if (gh_shm_lock_acquire(&sh->lock) != GH_OK)
        _exit(1);
    sh->held = 1;
    for (;;)
        pause();            /* until SIGKILL */
}

static void
hold_and_exit(void)
{
    if (gh_shm_lock_acquire(&sh->lock) != GH_OK)
        _exit(1);
    _exit(0);               /* holding it */
}

static void
hold_briefly(void)
{
    if (gh_shm_lock_acquire(&sh->lock) != GH_OK)
        _exit(1);
    sh->held = 1;
    usleep(100 * 1000);
    sh->held = 2;
    gh_shm_lock_release(&sh->lock);
}

static void
block_then_report(void)
{
    int rc = gh_shm_lock_acquire(&sh->lock);

    sh->waiter_rc = rc;
    if (rc == GH_DECLINED)
        gh_shm_lock_repaired(&sh->lock);
    if (rc != GH_ERR)
        gh_shm_lock_release(&sh->lock);
}

static void
count_inside(void)
{
    for (int i = 0; i < 2000; i++) {
        if (gh_shm_lock_acquire(&sh->lock) != GH_OK)
            _exit(1);
        if (__atomic_add_fetch(&sh->inside, 1, __ATOMIC_RELAXED) != 1)
            sh->overlap = 1;
        __atomic_sub_fetch(&sh->inside, 1, __ATOMIC_RELAXED);
        gh_shm_lock_release(&sh->lock);
    }
}

/* The parent takes the lock after a dead holder: declined, then normal. */
static void
recover(const char *how)
{
    ok(gh_shm_lock_acquire(&sh->lock) == GH_DECLINED,
       "%s: the next acquire is GH_DECLINED", how);
    gh_shm_lock_repaired(&sh->lock);
    gh_shm_lock_release(&sh->lock);
    ok(gh_shm_lock_acquire(&sh->lock) == GH_OK,
       "%s: after the repair, GH_OK again", how);
    gh_shm_lock_release(&sh->lock);
}

int
main(void)
{
    pid_t a, b;
    int st;

    alarm(10);      /* a deadlock fails the test instead of hanging it */
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;

    subtest("uncontended") {
        ok(gh_shm_lock_init(&sh->lock) == GH_OK, "init");
        ok(gh_shm_lock_acquire(&sh->lock) == GH_OK, "acquire");
        gh_shm_lock_release(&sh->lock);
        ok(gh_shm_lock_acquire(&sh->lock) == GH_OK, "acquire again");
        gh_shm_lock_release(&sh->lock);
    }

    subtest("excludes other processes") {
        sh->held = 0;
        a = child(hold_briefly);
        ok(wait_flag(&sh->held), "the child holds it");
        ok(gh_shm_lock_acquire(&sh->lock) == GH_OK, "the parent waits");
        is_int(sh->held, 2, "until the child released it");
        gh_shm_lock_release(&sh->lock);
        st = wait_status(a);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child is done");

        sh->overlap = 0;
        a = child(count_inside);
        b = child(count_inside);
        count_inside();
        st = wait_status(a);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "first child done");
        st = wait_status(b);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second child done");
        is_int(sh->overlap, 0, "never two inside at once (3 x 2000)");
    }

    subtest("holder killed with SIGKILL") {
        sh->held = 0;
        a = child(hold_and_pause);
        ok(wait_flag(&sh->held), "the child holds it");
        (void) kill(a, SIGKILL);
        st = wait_status(a);
        ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "killed");
        recover("SIGKILL");
    }

    subtest("holder exits holding it") {
        a = child(hold_and_exit);
        st = wait_status(a);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exited holding it");
        recover("_exit");
    }

    subtest("a blocked waiter gets the dead holder's lock") {
        sh->held = 0;
        sh->waiter_rc = 99;
        a = child(hold_and_pause);
        ok(wait_flag(&sh->held), "the first child holds it");
        b = child(block_then_report);
        usleep(50 * 1000);
        is_int(sh->waiter_rc, 99, "the second child is blocked");
        (void) kill(a, SIGKILL);
        (void) wait_status(a);
        st = wait_status(b);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiter woke up");
        is_int(sh->waiter_rc, GH_DECLINED, "with GH_DECLINED");
        ok(gh_shm_lock_acquire(&sh->lock) == GH_OK,
           "it repaired: GH_OK for the parent");
        gh_shm_lock_release(&sh->lock);
    }

    subtest("not repaired: lost for good") {
        a = child(hold_and_exit);
        (void) wait_status(a);
        ok(gh_shm_lock_acquire(&sh->lock) == GH_DECLINED, "GH_DECLINED");
        gh_shm_lock_release(&sh->lock);     /* without the repair */
        ok(gh_shm_lock_acquire(&sh->lock) == GH_ERR,
           "the next acquire is GH_ERR");
        ok(gh_shm_lock_init(&sh->lock) == GH_OK, "init makes it new");
        ok(gh_shm_lock_acquire(&sh->lock) == GH_OK, "and usable");
        gh_shm_lock_release(&sh->lock);
    }

    munmap(sh, sizeof(*sh));
    return done_testing();
}
