/*
 * Tests shm/cachedir.c: binding cache zones at start, a reload that keeps
 * a zone with its entries, one that resizes it (the old zone stays until
 * settle), a cancelled reload (nothing changes, nothing leaks), a zone
 * removed from the configuration, a second master adopting the segment
 * through its own mapping (a binary upgrade) and resizing a zone the first
 * one still holds, a master that died holding a zone, a damaged zone, a
 * full directory, and a master killed holding the directory's lock.
 *
 * "Masters" are struct gh_cachedir values with the pid of a process that
 * is alive (ours, a paused child) or dead (a reaped child).  The module is
 * #included for its internals.
 */

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/cachedir.c"
#include "shm/state.h"
#include "tests/unit/tap.h"

static char notes[8192];

static void
note(void *arg, const char *msg)
{
    size_t len = strlen(notes);

    (void) arg;
    snprintf(notes + len, sizeof(notes) - len, "%s\n", msg);
}

static gh_msec
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gh_msec) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A configuration of N zones (NAME, SIZE); only what cachedir reads. */
struct tconf {
    struct gh_conf       c;
    struct gh_cache_zone z[GH_CONF_CACHES_MAX];
};

static struct gh_conf *
conf_of(struct tconf *t, const char *const *names, const uint64_t *sizes,
        uint32_t n)
{
    memset(t, 0, sizeof(*t));
    for (uint32_t i = 0; i < n; i++) {
        t->z[i].name = names[i];
        t->z[i].size = sizes[i];
        t->z[i].max_object = 64 * 1024;
        t->z[i].index = i;
    }
    t->c.caches = n ? t->z : NULL;
    t->c.ncaches = n;
    return &t->c;
}

static int
put(struct gh_shm *shm, gh_off zone, const char *key, const char *body)
{
    struct gh_cache_ref ref;

    if (gh_cache_begin_fill(shm, zone, key, strlen(key), NULL, 0, getpid(),
                            now_ms(), &ref) != GH_OK)
        return 0;
    if (gh_cache_append(&ref, body, strlen(body)) != GH_OK
        || gh_cache_complete(&ref) != GH_OK) {
        gh_cache_release(&ref);
        return 0;
    }
    gh_cache_release(&ref);
    return 1;
}

static int
has(struct gh_shm *shm, gh_off zone, const char *key)
{
    struct gh_cache_ref ref;

    if (gh_cache_lookup(shm, zone, key, strlen(key), NULL, 0, now_ms(), &ref)
        != GH_OK)
        return 0;
    gh_cache_release(&ref);
    return 1;
}

static struct gh_shm_cd_entry *
entry_of(struct gh_shm *shm, gh_off root)
{
    struct gh_shm_cachedir *dir = cd_dir(shm);

    return dir != NULL ? cd_find_root_locked(dir, root) : NULL;
}

static uint32_t
entries(struct gh_shm *shm)
{
    struct gh_shm_cachedir *dir = cd_dir(shm);
    uint32_t n = 0;

    for (uint32_t i = 0; dir != NULL && i < GH_CD_ENTRIES; i++)
        n += dir->e[i].root != 0;
    return n;
}

static uint64_t
free_pages(struct gh_shm *shm)
{
    uint64_t total, nfree;

    gh_slab_pages(shm, &total, &nfree);
    return nfree;
}

static pid_t
paused_child(void)
{
    pid_t p = fork();

    if (p == 0) {
        pause();
        _exit(0);
    }
    return p;
}

static pid_t
dead_child(void)
{
    pid_t p = fork();
    int st;

    if (p == 0)
        _exit(0);
    (void) waitpid(p, &st, 0);
    return p;
}

static int
slab_ok(struct gh_shm *shm)
{
    char err[256];

    if (gh_slab_check(shm, err, sizeof(err)) != GH_OK) {
        diag("gh_slab_check: %s", err);
        return 0;
    }
    return 1;
}

int
main(void)
{
    static const char *const both[] = { "main", "aux" };
    static const uint64_t sizes1[] = { 1 << 20, 256 * 1024 };
    static const uint64_t sizes2[] = { 2 << 20, 256 * 1024 };
    struct gh_cachedir a = { 0 }, b = { 0 }, c = { 0 };
    struct gh_shm shm, shm2;
    struct tconf t1, t2;
    struct gh_conf *conf;
    char err[512];
    gh_off main1 = 0, aux1 = 0, main2 = 0, main3 = 0;
    uint64_t pages;
    pid_t other = -1;

    if (gh_shm_create(&shm, 32 << 20, err, sizeof(err)) != GH_OK
        || gh_state_init(&shm, err, sizeof(err)) != GH_OK) {
        diag("segment: %s", err);
        return 1;
    }
    gh_cachedir_init(&a, getpid());

    subtest("layout") {
        is_int(sizeof(struct gh_shm_cd_entry), 96, "entry");
        is_int(sizeof(struct gh_shm_cachedir), 128 + 96 * GH_CD_ENTRIES,
               "directory");
        is_int(offsetof(struct gh_shm_cachedir, lock), 64, "lock");
        is_int(offsetof(struct gh_shm_cachedir, e), 128, "entries");
        is_int(offsetof(struct gh_shm_cd_entry, root), 48, "entry root");
        is_int(offsetof(struct gh_shm_cd_entry, holders), 64,
               "entry holders");
        is_int(offsetof(struct gh_shm_cd_entry, live), 80, "entry live");
    }

    subtest("no zones: no directory") {
        conf = conf_of(&t1, NULL, NULL, 0);
        ok(gh_cachedir_prepare(&a, &shm, conf, err, sizeof(err)) == GH_OK,
           "prepared");
        gh_cachedir_commit(&a, &shm, conf, note, NULL);
        is_int(shm.hdr->caches, 0, "no directory made");
        is_str(notes, "", "nothing to say");
    }

    subtest("start: zones made, live once committed") {
        conf = conf_of(&t1, both, sizes1, 2);
        pages = free_pages(&shm);
        if (!ok(gh_cachedir_prepare(&a, &shm, conf, err, sizeof(err))
                == GH_OK, "prepared"))
            diag("%s", err);
        main1 = conf->caches[0].root;
        aux1 = conf->caches[1].root;
        ok(main1 != 0 && aux1 != 0 && main1 != aux1, "two roots");
        ok(shm.hdr->caches != 0 && cd_dir(&shm) != NULL, "directory made");
        ok(entry_of(&shm, main1) != NULL && !entry_of(&shm, main1)->live,
           "entered, not live before commit");
        gh_cachedir_cancel(&a, &shm);
        is_int(entries(&shm), 0, "cancel: entries gone");
        {
            struct gh_cache_stats st;

            gh_cache_stats(&shm, main1, &st);
            is_int(st.limit, 0, "cancel: the zone destroyed");
        }
        ok(free_pages(&shm) + 7 >= pages, "cancel: memory back (but the "
           "directory's 7 pages)");
        ok(gh_cachedir_prepare(&a, &shm, conf, err, sizeof(err)) == GH_OK,
           "prepared again");
        main1 = conf->caches[0].root;
        aux1 = conf->caches[1].root;
        gh_cachedir_commit(&a, &shm, conf, note, NULL);
        is_str(notes, "cache zone \"main\" (1M) created\n"
               "cache zone \"aux\" (256k) created\n", "notes");
        notes[0] = '\0';
        ok(entry_of(&shm, main1)->live && entry_of(&shm, aux1)->live,
           "both live");
        is_int(entry_of(&shm, main1)->holders[0], getpid(), "held by us");
        is_str(entry_of(&shm, main1)->name, "main", "named");
        is_int(entry_of(&shm, main1)->bytes, 1 << 20, "sized");
        is_int(a.ncur, 2, "we hold two");
        is_int(a.nold, 0, "nothing old");
        ok(put(&shm, main1, "GET http://a/x", "hello"), "an entry stored");
    }

    subtest("reload, same sizes: kept with entries") {
        conf = conf_of(&t2, both, sizes1, 2);
        conf->caches[0].max_object = 1 << 20;
        ok(gh_cachedir_prepare(&a, &shm, conf, err, sizeof(err)) == GH_OK,
           "prepared");
        ok(conf->caches[0].root == main1 && conf->caches[1].root == aux1,
           "same roots");
        gh_cachedir_commit(&a, &shm, conf, note, NULL);
        is_str(notes, "", "nothing to say");
        ok(has(&shm, main1, "GET http://a/x"), "the entry is still there");
        {
            struct gh_cache_stats st;

            gh_cache_stats(&shm, main1, &st);
            is_int(st.max_object, 1 << 20, "max_object updated");
        }
        is_int(a.nold, 0, "nothing old");
        is_int(entries(&shm), 2, "two entries");
    }

    subtest("reload, resized: a new zone, the old one until settle") {
        conf = conf_of(&t1, both, sizes2, 2);
        pages = free_pages(&shm);
        ok(gh_cachedir_prepare(&a, &shm, conf, err, sizeof(err)) == GH_OK,
           "prepared");
        ok(conf->caches[0].root != main1, "a new root for main");
        ok(conf->caches[1].root == aux1, "aux kept");
        gh_cachedir_cancel(&a, &shm);
        is_int(free_pages(&shm), pages, "cancelled: no page kept");
        ok(entry_of(&shm, main1)->live, "cancelled: the old one still live");
        is_int(entries(&shm), 2, "cancelled: two entries");
        ok(has(&shm, main1, "GET http://a/x"), "cancelled: entry there");

        ok(gh_cachedir_prepare(&a, &shm, conf, err, sizeof(err)) == GH_OK,
           "prepared again");
        main2 = conf->caches[0].root;
        gh_cachedir_commit(&a, &shm, conf, note, NULL);
        is_str(notes, "cache zone \"main\" resized (1M to 2M): starts "
               "empty\n", "note");
        notes[0] = '\0';
        ok(entry_of(&shm, main2)->live, "the new one live");
        ok(!entry_of(&shm, main1)->live, "the old one not live ...");
        ok(cd_holds(entry_of(&shm, main1), getpid()), "... but held");
        ok(has(&shm, main1, "GET http://a/x"), "old workers still read it");
        ok(!has(&shm, main2, "GET http://a/x"), "the new one is empty");
        is_int(a.nold, 1, "one old zone");
        gh_cachedir_settle(&a, &shm, note, NULL);
        is_str(notes, "cache zone \"main\" (1M) freed\n", "settle: freed");
        notes[0] = '\0';
        ok(entry_of(&shm, main1) == NULL, "its entry gone");
        is_int(a.nold, 0, "nothing old");
        gh_cachedir_settle(&a, &shm, note, NULL);
        is_str(notes, "", "settle again: nothing");
        ok(slab_ok(&shm), "slab sound");
    }

    subtest("reload without aux") {
        conf = conf_of(&t2, both, sizes2, 1);
        ok(gh_cachedir_prepare(&a, &shm, conf, err, sizeof(err)) == GH_OK,
           "prepared");
        gh_cachedir_commit(&a, &shm, conf, note, NULL);
        is_str(notes, "cache zone \"aux\" (256k) is no longer configured: "
               "freed once no process uses it\n", "note");
        notes[0] = '\0';
        ok(!entry_of(&shm, aux1)->live, "aux not live");
        gh_cachedir_settle(&a, &shm, note, NULL);
        is_str(notes, "cache zone \"aux\" (256k) freed\n", "settle: freed");
        notes[0] = '\0';
        is_int(entries(&shm), 1, "one entry left");
        ok(put(&shm, main2, "GET http://a/y", "world"), "stored in main");
    }

    subtest("a second master adopts the segment") {
        static const uint64_t sizes3[] = { 4 << 20 };

        other = paused_child();
        if (gh_shm_adopt(&shm2, dup(shm.fd), err, sizeof(err)) != GH_OK) {
            diag("adopt: %s", err);
            break;
        }
        gh_cachedir_init(&b, other);
        conf = conf_of(&t1, both, sizes2, 1);
        ok(gh_cachedir_prepare(&b, &shm2, conf, err, sizeof(err)) == GH_OK,
           "prepared");
        is_int(conf->caches[0].root, main2, "the live zone, same offset");
        gh_cachedir_commit(&b, &shm2, conf, note, NULL);
        is_str(notes, "cache zone \"main\" (2M) kept with 1 entry\n",
               "note");
        notes[0] = '\0';
        ok(has(&shm2, main2, "GET http://a/y"), "its entry, through the new "
           "mapping");
        ok(cd_holds(entry_of(&shm, main2), getpid())
           && cd_holds(entry_of(&shm, main2), other), "held by both");

        /* The new master resizes it; the old one's workers still read. */
        conf = conf_of(&t2, both, sizes3, 1);
        ok(gh_cachedir_prepare(&b, &shm2, conf, err, sizeof(err)) == GH_OK,
           "resize prepared");
        main3 = conf->caches[0].root;
        gh_cachedir_commit(&b, &shm2, conf, note, NULL);
        notes[0] = '\0';
        gh_cachedir_settle(&b, &shm2, note, NULL);
        is_str(notes, "", "settle: the old master still holds it");
        ok(entry_of(&shm, main2) != NULL && !entry_of(&shm, main2)->live,
           "kept, not live");
        ok(has(&shm, main2, "GET http://a/y"), "readable");
        gh_cachedir_release(&a, &shm, note, NULL);
        is_str(notes, "cache zone \"main\" (2M) freed\n",
               "the old master exits: freed");
        notes[0] = '\0';
        ok(entry_of(&shm, main3) != NULL && entry_of(&shm, main3)->live,
           "the new one live");
        is_int(entries(&shm), 1, "one entry");
        ok(slab_ok(&shm), "slab sound");
    }

    subtest("a master that died holding a zone") {
        static const char *const ghost[] = { "ghost" };
        static const uint64_t gsz[] = { 64 * 1024 };
        static const char *const m[] = { "main" };
        static const uint64_t sizes4[] = { 4 << 20 };
        static const uint64_t sizes5[] = { 8 << 20 };
        gh_off g;

        gh_cachedir_init(&c, dead_child());
        conf = conf_of(&t1, ghost, gsz, 1);
        ok(gh_cachedir_prepare(&c, &shm, conf, err, sizeof(err)) == GH_OK,
           "the doomed master prepared");
        g = conf->caches[0].root;
        gh_cachedir_commit(&c, &shm, conf, note, NULL);
        /* Its commit made main (not in its configuration) not live. */
        ok(!entry_of(&shm, main3)->live, "main not live");
        gh_cachedir_free(&c);           /* it died: nothing let go */
        notes[0] = '\0';
        conf = conf_of(&t2, m, sizes4, 1);
        ok(gh_cachedir_prepare(&b, &shm2, conf, err, sizeof(err)) == GH_OK,
           "prepared");
        gh_cachedir_commit(&b, &shm2, conf, note, NULL);
        is_str(notes, "cache zone \"ghost\" (64k) is no longer configured: "
               "freed once no process uses it\n", "ghost no longer live");
        notes[0] = '\0';
        ok(entry_of(&shm, main3)->live, "main live again");
        ok(entry_of(&shm, g) != NULL, "ghost still there (held)");
        conf = conf_of(&t1, m, sizes5, 1);
        ok(gh_cachedir_prepare(&b, &shm2, conf, err, sizeof(err)) == GH_OK,
           "a resize, so something is old");
        gh_cachedir_commit(&b, &shm2, conf, note, NULL);
        notes[0] = '\0';
        gh_cachedir_settle(&b, &shm2, note, NULL);
        ok(strstr(notes, "cache zone \"ghost\" (64k) freed\n") != NULL,
           "settle: the dead master's zone freed");
        ok(strstr(notes, "cache zone \"main\" (4M) freed\n") != NULL,
           "and our old one");
        notes[0] = '\0';
        is_int(entries(&shm), 1, "one entry");
        main3 = conf->caches[0].root;
    }

    subtest("a damaged zone starts again") {
        static const char *const m[] = { "main" };
        static const uint64_t sizes5[] = { 8 << 20 };
        uint64_t *magic = gh_shm_ptr(&shm, main3);
        uint64_t saved = *magic;

        *magic = 0x1234;
        conf = conf_of(&t2, m, sizes5, 1);
        ok(gh_cachedir_prepare(&b, &shm2, conf, err, sizeof(err)) == GH_OK,
           "prepared");
        ok(conf->caches[0].root != main3, "a new zone");
        gh_cachedir_commit(&b, &shm2, conf, note, NULL);
        is_str(notes, "cache zone \"main\" (8M) was damaged: starts empty\n",
               "note");
        notes[0] = '\0';
        gh_cachedir_settle(&b, &shm2, note, NULL);
        is_str(notes, "cache zone \"main\" (8M) was damaged: its memory is "
               "not freed (a restart gets it back)\n", "not freed");
        notes[0] = '\0';
        ok(entry_of(&shm, main3) == NULL, "but out of the directory");
        *magic = saved;                 /* its bytes are no one's now */
        main3 = conf->caches[0].root;
        ok(slab_ok(&shm), "slab sound");
    }

    subtest("a full directory") {
        static const char *const m[] = { "main", "new" };
        static const uint64_t sz[] = { 8 << 20, 64 * 1024 };
        struct gh_shm_cachedir *dir = cd_dir(&shm);
        uint32_t filled = 0;

        for (uint32_t i = 0; i < GH_CD_ENTRIES; i++) {
            if (dir->e[i].root != 0)
                continue;
            snprintf(dir->e[i].name, GH_CD_NAME, "fake%u", i);
            dir->e[i].holders[0] = other;
            dir->e[i].root = 16 * (i + 1);      /* not a zone */
            filled++;
        }
        pages = free_pages(&shm);
        conf = conf_of(&t1, m, sz, 2);
        ok(gh_cachedir_prepare(&b, &shm2, conf, err, sizeof(err)) == GH_ERR,
           "refused");
        is_str(err, "the cache zone directory is full (256 zones, live or "
               "waiting for old processes to finish): try again once they "
               "have", "and says why");
        is_int(free_pages(&shm), pages, "the zone it made is gone");
        ok(entry_of(&shm, main3)->live, "main untouched");
        ok(b.plan == NULL, "nothing prepared");
        for (uint32_t i = 0; i < GH_CD_ENTRIES; i++)
            if (strncmp(dir->e[i].name, "fake", 4) == 0)
                memset(&dir->e[i], 0, sizeof(dir->e[i]));
        is_int(filled, GH_CD_ENTRIES - 1, "filled all but one");
        ok(gh_cachedir_prepare(&b, &shm2, conf, err, sizeof(err)) == GH_OK,
           "room again");
        gh_cachedir_cancel(&b, &shm2);
    }

    subtest("a master killed holding the lock") {
        struct gh_shm_cachedir *dir = cd_dir(&shm);
        static const char *const m[] = { "main" };
        static const uint64_t sizes5[] = { 8 << 20 };
        pid_t p = fork();
        int st;

        if (p == 0) {
            (void) gh_shm_lock_acquire(&dir->lock);
            _exit(0);
        }
        (void) waitpid(p, &st, 0);
        conf = conf_of(&t2, m, sizes5, 1);
        ok(gh_cachedir_prepare(&b, &shm2, conf, err, sizeof(err)) == GH_OK,
           "prepared");
        is_int(conf->caches[0].root, main3, "kept");
        gh_cachedir_commit(&b, &shm2, conf, note, NULL);
        is_int(dir->repairs, 1, "repair counted");
    }

    subtest("exit") {
        gh_cachedir_release(&b, &shm2, note, NULL);
        is_str(notes, "", "a live zone is not freed at exit");
        ok(entry_of(&shm, main3) != NULL && entry_of(&shm, main3)->live
           && !cd_held(entry_of(&shm, main3)), "live, held by none");
        ok(b.cur == NULL && b.ncur == 0 && b.old == NULL, "D empty");
        /* A master adopting it later keeps it. */
        {
            static const char *const m[] = { "main" };
            static const uint64_t sizes5[] = { 8 << 20 };

            gh_cachedir_init(&a, getpid());
            conf = conf_of(&t1, m, sizes5, 1);
            ok(gh_cachedir_prepare(&a, &shm, conf, err, sizeof(err))
               == GH_OK && conf->caches[0].root == main3, "adopted again");
            gh_cachedir_commit(&a, &shm, conf, note, NULL);
            gh_cachedir_release(&a, &shm, note, NULL);
        }
        ok(slab_ok(&shm), "slab sound");
    }

    if (other > 0) {
        (void) kill(other, SIGKILL);
        (void) waitpid(other, NULL, 0);
    }
    gh_cachedir_free(&a);
    gh_cachedir_free(&b);
    gh_shm_close(&shm2);
    gh_shm_close(&shm);
    return done_testing();
}
