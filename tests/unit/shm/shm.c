/* Tests shm/shm.c: creation, adoption across a fork, layout guard. */
#include <pthread.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shm/ctable.h"
#include "shm/shm.h"
#include "shm/state.h"
#include "tests/unit/tap.h"

int
main(void)
{
    struct gh_shm a, b;
    char err[256];
    pid_t pid;
    int status;

    subtest("layout is recorded") {
        /* A change to any of these must come with a GH_SHM_LAYOUT bump. */
        is_int(GH_SHM_LAYOUT, 5, "layout version");
        is_int(sizeof(pthread_mutex_t), 40, "pthread_mutex_t");
        is_int(sizeof(struct gh_shm_server), 392, "server entry");
        is_int(sizeof(struct gh_shm_upstream), 192, "upstream entry");
        is_int(sizeof(struct gh_shm_route), 256, "route entry");
        is_int(sizeof(struct gh_shm_globals), 115008, "globals");
        is_int(offsetof(struct gh_shm_globals, ctable), 80, "client table");
        is_int(offsetof(struct gh_shm_globals, workers), 128,
               "worker slots (on a cache line)");
        is_int(offsetof(struct gh_shm_globals, procs), 65664, "processes");
        is_int(offsetof(struct gh_shm_globals, client_conns), 114816,
               "connection count (on a cache line)");
        is_int(sizeof(struct gh_shm_held), 24, "held count");
        is_int(sizeof(struct gh_shm_proc), 24, "process entry");
        is_int(sizeof(struct gh_ct_key), 24, "client key");
        is_int(sizeof(struct gh_shm_ct_entry), 64, "client entry");
        is_int(offsetof(struct gh_shm_ct_entry, tat_us), 24, "entry tat");
        is_int(offsetof(struct gh_shm_ct_entry, last_used), 32, "entry lru");
        is_int(offsetof(struct gh_shm_ct_entry, conns), 40, "entry conns");
        is_int(sizeof(struct gh_shm_ct_stripe), 128, "client table stripe");
        is_int(sizeof(struct gh_shm_ctable), 256, "client table header");
        is_int(offsetof(struct gh_shm_ctable, nsets), 72, "table nsets");
        is_int(offsetof(struct gh_shm_ctable, sets), 88, "table sets");
        is_int(sizeof(struct gh_shm_ct_held), 64, "client holds header");
        is_int(sizeof(struct gh_shm_hdr), 256, "header size");
        is_int(offsetof(struct gh_shm_hdr, layout), 8, "layout offset");
        is_int(offsetof(struct gh_shm_hdr, seg_size), 16, "size offset");
        is_int(offsetof(struct gh_shm_hdr, generation), 24, "generation");
        is_int(offsetof(struct gh_shm_hdr, state), 40, "state offset");
        is_int(offsetof(struct gh_shm_hdr, slab), 48, "slab offset");
        is_int(offsetof(struct gh_shm_hdr, caches), 56, "cache directory");
        is_int(sizeof(struct gh_shm_cd_entry), 96, "cache directory entry");
        is_int(offsetof(struct gh_shm_cd_entry, root), 48, "entry root");
        is_int(offsetof(struct gh_shm_cd_entry, holders), 64,
               "entry holders");
        is_int(sizeof(struct gh_shm_cachedir), 24704, "cache directory");
        is_int(offsetof(struct gh_shm_cachedir, lock), 64, "its lock");
    }
    subtest("create") {
        ok(gh_shm_create(&a, 1000, err, sizeof(err)) == GH_ERR,
           "below 1M refused");
        ok(strstr(err, "below 1M") != NULL, "and says why: %s", err);
        ok(gh_shm_create(&a, 4 << 20, err, sizeof(err)) == GH_OK, "4M made");
        ok(a.hdr->magic == GH_SHM_MAGIC, "magic set");
        is_int(a.hdr->generation, 1, "generation 1");
        is_int(a.hdr->seg_size, 4 << 20, "size recorded");
        ok(gh_shm_ptr(&a, 0) == NULL, "offset 0 is none");
        is_int(gh_shm_off(&a, gh_shm_ptr(&a, 4096)), 4096, "round trip");
    }
    subtest("shared across fork") {
        uint64_t *cell = gh_shm_ptr(&a, 8192);

        *cell = 0;
        pid = fork();
        if (pid == 0) {
            *(uint64_t *) gh_shm_ptr(&a, 8192) = 42;
            _exit(0);
        }
        waitpid(pid, &status, 0);
        is_int(*cell, 42, "child's write seen by the parent");
    }
    subtest("adopt") {
        int fd = dup(a.fd);

        ok(gh_shm_adopt(&b, fd, err, sizeof(err)) == GH_OK, "adopted");
        is_int(b.hdr->generation, 2, "generation bumped");
        is_int(*(uint64_t *) gh_shm_ptr(&b, 8192), 42, "content kept");
        gh_shm_close(&b);
        a.hdr->layout = GH_SHM_LAYOUT + 1;
        fd = dup(a.fd);
        ok(gh_shm_adopt(&b, fd, err, sizeof(err)) == GH_DECLINED,
           "other layout declined");
        ok(strstr(err, "layout") != NULL, "and says why: %s", err);
        (void) close(fd);
        a.hdr->layout = GH_SHM_LAYOUT;
    }
    gh_shm_close(&a);
    return done_testing();
}
