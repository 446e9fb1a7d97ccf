/*
 * The cache zone directory (the contract is in shm/cachedir.h, the layout
 * in shm/layout.h).
 *
 * Under the directory lock only entries are read and written: no system
 * call, no allocation, no zone operation.  What must be destroyed is taken
 * out of the directory under the lock (so no other master can destroy it
 * too) and destroyed after.  A master killed while holding the lock leaves
 * at worst an entry with one field changed: an entry is filled with its
 * root written last, and emptied with its root cleared first.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "shm/cache.h"
#include "shm/cachedir.h"
#include "shm/layout.h"
#include "shm/lock.h"
#include "shm/shm.h"
#include "shm/slab.h"
#include "worker/core/gh.h"

/* Room for every zone of a few configurations, live and waiting. */
_Static_assert(GH_CD_ENTRIES >= 4 * GH_CONF_CACHES_MAX,
               "directory too small for the zones a conf may have");

/* One zone of a prepared configuration. */
struct gh_cachedir_step {
    gh_off   root;          /* what the conf gets */
    gh_off   hold;          /* a live zone this prepare started to hold
                               (let go of by cancel; kept as old by commit
                               when the conf does not use it after all) */
    uint64_t was;           /* bytes of the live zone of the name that
                               ROOT replaces; 0: none */
    uint8_t  made;          /* ROOT is new (empty) */
    uint8_t  damaged;       /* ... because the live one failed its checks */
    uint8_t  pad[6];
};

/* A zone taken out of the directory, to destroy outside the lock. */
struct cd_gone {
    char     name[GH_CD_NAME];
    gh_off   root;
    uint64_t bytes;
};

/* ---- the directory ------------------------------------------------------ */

static struct gh_shm_cachedir *
cd_dir(const struct gh_shm *shm)
{
    gh_off off;
    struct gh_shm_cachedir *dir;

    if (shm == NULL || shm->hdr == NULL)
        return NULL;
    off = __atomic_load_n(&shm->hdr->caches, __ATOMIC_ACQUIRE);
    if (off == 0 || off % 16 != 0 || off > shm->size
        || shm->size - off < sizeof(*dir))
        return NULL;
    dir = gh_shm_ptr(shm, off);
    if (__atomic_load_n(&dir->magic, __ATOMIC_ACQUIRE) != GH_CD_MAGIC
        || dir->nentries != GH_CD_ENTRIES)
        return NULL;
    return dir;
}

/* The directory, made now if the segment has none.  NULL with ERR. */
static struct gh_shm_cachedir *
cd_make(struct gh_shm *shm, char *err, size_t errlen)
{
    struct gh_shm_cachedir *dir = cd_dir(shm);
    gh_off off, none = 0;

    if (dir != NULL)
        return dir;
    if (__atomic_load_n(&shm->hdr->caches, __ATOMIC_ACQUIRE) != 0) {
        snprintf(err, errlen, "the cache zone directory in the shared "
                 "memory segment is damaged: restart gatehouse (stop, then "
                 "start) for a fresh segment");
        return NULL;
    }
    off = gh_slab_calloc(shm, sizeof(*dir));
    if (off == 0) {
        snprintf(err, errlen, "shared memory of %zu bytes is full: no room "
                 "for the cache zone directory", shm->size);
        return NULL;
    }
    dir = gh_shm_ptr(shm, off);
    if (gh_shm_lock_init(&dir->lock) != GH_OK) {
        gh_slab_free(shm, off);
        snprintf(err, errlen, "cannot initialise a process-shared lock");
        return NULL;
    }
    dir->nentries = GH_CD_ENTRIES;
    __atomic_store_n(&dir->magic, GH_CD_MAGIC, __ATOMIC_RELEASE);
    /* Two masters (an upgrade) may race to make it: one wins. */
    if (!__atomic_compare_exchange_n(&shm->hdr->caches, &none, off, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        gh_slab_free(shm, off);
    dir = cd_dir(shm);
    if (dir == NULL)
        snprintf(err, errlen, "the cache zone directory in the shared "
                 "memory segment is damaged: restart gatehouse (stop, then "
                 "start) for a fresh segment");
    return dir;
}

static int
cd_lock(struct gh_shm_cachedir *dir)
{
    int rc = gh_shm_lock_acquire(&dir->lock);

    if (rc == GH_DECLINED) {
        /* Entries are filled root last and emptied root first: whatever a
         * dead holder left is a consistent entry. */
        __atomic_add_fetch(&dir->repairs, 1, __ATOMIC_RELAXED);
        gh_shm_lock_repaired(&dir->lock);
        rc = GH_OK;
    }
    return rc;
}

static void
cd_unlock(struct gh_shm_cachedir *dir)
{
    gh_shm_lock_release(&dir->lock);
}

static int
cd_name_is(const struct gh_shm_cd_entry *e, const char *name)
{
    return strncmp(e->name, name, GH_CD_NAME) == 0;
}

/* The live entry of NAME, or NULL.  Lock held. */
static struct gh_shm_cd_entry *
cd_find_live_locked(struct gh_shm_cachedir *dir, const char *name)
{
    for (uint32_t i = 0; i < GH_CD_ENTRIES; i++) {
        struct gh_shm_cd_entry *e = &dir->e[i];

        if (e->root != 0 && e->live && cd_name_is(e, name))
            return e;
    }
    return NULL;
}

/* The entry of ROOT, or NULL.  Lock held. */
static struct gh_shm_cd_entry *
cd_find_root_locked(struct gh_shm_cachedir *dir, gh_off root)
{
    for (uint32_t i = 0; root != 0 && i < GH_CD_ENTRIES; i++)
        if (dir->e[i].root == root)
            return &dir->e[i];
    return NULL;
}

static int
cd_holds(const struct gh_shm_cd_entry *e, int32_t pid)
{
    for (int i = 0; i < GH_CD_HOLDERS; i++)
        if (e->holders[i] == pid)
            return 1;
    return 0;
}

static int
cd_held(const struct gh_shm_cd_entry *e)
{
    for (int i = 0; i < GH_CD_HOLDERS; i++)
        if (e->holders[i] != 0)
            return 1;
    return 0;
}

/* PID holds E now (idempotent).  GH_ERR: every place taken. */
static int
cd_hold(struct gh_shm_cd_entry *e, int32_t pid)
{
    if (cd_holds(e, pid))
        return GH_OK;
    for (int i = 0; i < GH_CD_HOLDERS; i++) {
        if (e->holders[i] == 0) {
            e->holders[i] = pid;
            return GH_OK;
        }
    }
    return GH_ERR;
}

static void
cd_unhold(struct gh_shm_cd_entry *e, int32_t pid)
{
    for (int i = 0; i < GH_CD_HOLDERS; i++)
        if (e->holders[i] == pid)
            e->holders[i] = 0;
}

/* Empty E into G (root first: a half-emptied entry is a free one). */
static void
cd_take_locked(struct gh_shm_cd_entry *e, struct cd_gone *g)
{
    memcpy(g->name, e->name, GH_CD_NAME);
    g->name[GH_CD_NAME - 1] = '\0';
    g->root = e->root;
    g->bytes = e->bytes;
    __atomic_store_n(&e->root, 0, __ATOMIC_RELEASE);
    memset(e, 0, sizeof(*e));
}

/* Take out every zone neither live nor held, into GONE (room for all
 * entries); returns how many.  Lock held. */
static uint32_t
cd_reap_locked(struct gh_shm_cachedir *dir, struct cd_gone *gone)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < GH_CD_ENTRIES; i++) {
        struct gh_shm_cd_entry *e = &dir->e[i];

        if (e->root != 0 && !e->live && !cd_held(e))
            cd_take_locked(e, &gone[n++]);
    }
    return n;
}

/* "256M", "64k", "1500": exact. */
static const char *
cd_size(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "kMG";
    int u = -1;

    while (u < 2 && v != 0 && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%llu", (unsigned long long) v);
    else
        snprintf(buf, len, "%llu%c", (unsigned long long) v, units[u]);
    return buf;
}

static void cd_note(gh_cachedir_note_fn note, void *arg, const char *fmt,
                    ...) GH_PRINTF(3, 4);

static void
cd_note(gh_cachedir_note_fn note, void *arg, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (note == NULL)
        return;
    va_start(ap, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    note(arg, msg);
}

/* Destroy the N zones of GONE (taken out of the directory). */
static void
cd_destroy(struct gh_shm *shm, const struct cd_gone *gone, uint32_t n,
           gh_cachedir_note_fn note, void *arg)
{
    char sz[32];

    for (uint32_t i = 0; i < n; i++) {
        struct gh_cache_stats st;

        (void) cd_size(gone[i].bytes, sz, sizeof(sz));
        gh_cache_stats(shm, gone[i].root, &st);
        if (st.limit == 0) {
            /* Not a zone any more: freeing what it seems to hold could
             * free another's memory. */
            cd_note(note, arg, "cache zone \"%s\" (%s) was damaged: its "
                    "memory is not freed (a restart gets it back)",
                    gone[i].name, sz);
            continue;
        }
        gh_cache_zone_destroy(shm, gone[i].root);
        cd_note(note, arg, "cache zone \"%s\" (%s) freed", gone[i].name, sz);
    }
}

/*
 * Masters that died holding zones (killed, crashed: they could not let
 * go) are forgotten.  A pid that exists is kept even if it is now another
 * process's: at worst a zone stays until that one exits.
 */
static void
cd_forget_dead(struct gh_shm_cachedir *dir, int32_t self)
{
    int32_t pids[GH_CD_ENTRIES * GH_CD_HOLDERS], dead[GH_NELEM(pids)];
    uint32_t n = 0, nd = 0;

    if (cd_lock(dir) != GH_OK)
        return;
    for (uint32_t i = 0; i < GH_CD_ENTRIES; i++) {
        for (int h = 0; dir->e[i].root != 0 && h < GH_CD_HOLDERS; h++) {
            int32_t p = dir->e[i].holders[h];
            uint32_t k;

            for (k = 0; k < n && pids[k] != p; k++)
                continue;
            if (p != 0 && p != self && k == n)
                pids[n++] = p;
        }
    }
    cd_unlock(dir);
    for (uint32_t k = 0; k < n; k++)
        if (kill(pids[k], 0) == -1 && errno == ESRCH)
            dead[nd++] = pids[k];
    if (nd == 0 || cd_lock(dir) != GH_OK)
        return;
    for (uint32_t i = 0; i < GH_CD_ENTRIES; i++)
        for (uint32_t k = 0; dir->e[i].root != 0 && k < nd; k++)
            cd_unhold(&dir->e[i], dead[k]);
    cd_unlock(dir);
}

/*
 * Let go of the N zones of ROOTS, then destroy every zone neither live
 * nor held (ours, and any another master left that way).
 */
static void
cd_let_go(struct gh_cachedir *d, struct gh_shm *shm, const gh_off *roots,
          uint32_t n, gh_cachedir_note_fn note, void *arg)
{
    struct gh_shm_cachedir *dir = cd_dir(shm);
    struct cd_gone *gone;
    uint32_t ngone;

    if (dir == NULL)
        return;
    /* 13k: not on the stack of a master that may be deep in a reload. */
    gone = malloc(GH_CD_ENTRIES * sizeof(*gone));
    if (cd_lock(dir) != GH_OK) {
        free(gone);
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        struct gh_shm_cd_entry *e = cd_find_root_locked(dir, roots[i]);

        if (e != NULL)
            cd_unhold(e, d->pid);
    }
    ngone = gone != NULL ? cd_reap_locked(dir, gone) : 0;
    cd_unlock(dir);
    /* Out of memory: the zones stay unheld, and the next call frees them. */
    if (gone != NULL)
        cd_destroy(shm, gone, ngone, note, arg);
    free(gone);
}

/* ---- binding ------------------------------------------------------------ */

void
gh_cachedir_init(struct gh_cachedir *d, pid_t pid)
{
    gh_cachedir_free(d);
    d->pid = (int32_t) pid;
}

static int
cd_in(const gh_off *v, uint32_t n, gh_off root)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == root)
            return 1;
    return 0;
}

static void
cd_plan_free(struct gh_cachedir *d)
{
    free(d->plan);
    free(d->next);
    d->plan = NULL;
    d->next = NULL;
    d->nplan = 0;
}

/* Undo what a prepare did for the first N steps of PLAN (the zones it made
 * are not in the directory when INSERTED is 0). */
static void
cd_undo(struct gh_cachedir *d, struct gh_shm *shm, struct gh_conf *conf,
        uint32_t n, int inserted)
{
    struct gh_shm_cachedir *dir = cd_dir(shm);
    struct gh_cachedir_step *plan = d->plan;
    gh_off holds[GH_CONF_CACHES_MAX];
    uint32_t nh = 0;

    if (inserted && dir != NULL && cd_lock(dir) == GH_OK) {
        for (uint32_t i = 0; i < n; i++) {
            struct gh_shm_cd_entry *e;
            struct cd_gone g;

            if (plan[i].made
                && (e = cd_find_root_locked(dir, plan[i].root)) != NULL)
                cd_take_locked(e, &g);
        }
        cd_unlock(dir);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (plan[i].made)
            gh_cache_zone_destroy(shm, plan[i].root);
        if (plan[i].hold != 0 && nh < GH_NELEM(holds))
            holds[nh++] = plan[i].hold;
        if (conf != NULL && i < conf->ncaches)
            conf->caches[i].root = 0;
    }
    cd_plan_free(d);
    cd_let_go(d, shm, holds, nh, NULL, NULL);
}

int
gh_cachedir_prepare(struct gh_cachedir *d, struct gh_shm *shm,
                    struct gh_conf *conf, char *err, size_t errlen)
{
    struct gh_shm_cachedir *dir;
    struct gh_cachedir_step *plan;
    uint32_t n = conf->ncaches, nfree = 0, need = 0;
    char why[256];

    gh_cachedir_cancel(d, shm);
    if (n > GH_CONF_CACHES_MAX) {
        snprintf(err, errlen, "%u cache zones: at most %d", n,
                 GH_CONF_CACHES_MAX);
        return GH_ERR;
    }
    /* No zones and none before: no directory needed either. */
    dir = n == 0 && cd_dir(shm) == NULL ? NULL : cd_make(shm, err, errlen);
    if (dir == NULL && n > 0)
        return GH_ERR;
    if (dir != NULL)
        cd_forget_dead(dir, d->pid);
    /* Everything commit needs, now: it cannot fail. */
    if (d->nold + d->ncur + n > d->capold) {
        uint32_t cap = d->nold + d->ncur + n;
        gh_off *old = realloc(d->old, (cap ? cap : 1) * sizeof(*old));

        if (old == NULL)
            goto oom;
        d->old = old;
        d->capold = cap;
    }
    d->plan = calloc(n ? n : 1, sizeof(*d->plan));
    d->next = calloc(n ? n : 1, sizeof(*d->next));
    if (d->plan == NULL || d->next == NULL) {
        cd_plan_free(d);
        goto oom;
    }
    d->nplan = n;
    plan = d->plan;
    if (n == 0)
        return GH_OK;           /* commit only makes the others not live */

    /* Keep the live zones of the same size: hold them from now on. */
    if (cd_lock(dir) != GH_OK) {
        cd_plan_free(d);
        snprintf(err, errlen, "the cache zone directory's lock cannot be "
                 "taken");
        return GH_ERR;
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct gh_cache_zone *z = &conf->caches[i];
        struct gh_shm_cd_entry *e = cd_find_live_locked(dir, z->name);

        if (e == NULL || e->bytes != z->size) {
            /* Ours, made not live by another master (a newer one that
             * resized or dropped it and then went away): still the one
             * our workers fill, so keep it. */
            for (uint32_t k = 0; k < d->ncur; k++) {
                struct gh_shm_cd_entry *o = cd_find_root_locked(dir,
                                                                d->cur[k]);

                if (o != NULL && cd_name_is(o, z->name)
                    && o->bytes == z->size) {
                    plan[i].root = o->root;
                    break;
                }
            }
            if (plan[i].root != 0)
                continue;
            if (e != NULL)
                plan[i].was = e->bytes;
            continue;
        }
        if (!cd_holds(e, d->pid)) {
            if (cd_hold(e, d->pid) != GH_OK) {
                cd_unlock(dir);
                snprintf(err, errlen, "cache zone \"%s\" is held by %d "
                         "masters already", z->name, GH_CD_HOLDERS);
                cd_undo(d, shm, conf, i, 0);
                return GH_ERR;
            }
            plan[i].hold = e->root;
        }
        plan[i].root = e->root;
    }
    cd_unlock(dir);

    /* Make the others, outside the lock (it allocates, reads random). */
    for (uint32_t i = 0; i < n; i++) {
        const struct gh_cache_zone *z = &conf->caches[i];
        struct gh_cache_stats st;
        gh_off root = 0;

        if (plan[i].root != 0) {
            gh_cache_stats(shm, plan[i].root, &st);
            if (st.limit == z->size)
                continue;
            plan[i].damaged = 1;        /* its hold goes with the rest */
            plan[i].was = z->size;
            plan[i].root = 0;
        }
        if (gh_cache_zone_create(shm, (size_t) z->size,
                                 (size_t) z->max_object, &root, why,
                                 sizeof(why)) != GH_OK) {
            snprintf(err, errlen, "cache zone \"%s\": %s", z->name, why);
            cd_undo(d, shm, conf, n, 0);
            return GH_ERR;
        }
        plan[i].root = root;
        plan[i].made = 1;
        need++;
    }

    /* Enter the new ones, not live yet: held, so nobody frees them. */
    if (need > 0) {
        if (cd_lock(dir) != GH_OK) {
            snprintf(err, errlen, "the cache zone directory's lock cannot "
                     "be taken");
            cd_undo(d, shm, conf, n, 0);
            return GH_ERR;
        }
        for (uint32_t i = 0; i < GH_CD_ENTRIES; i++)
            nfree += dir->e[i].root == 0;
        if (nfree < need) {
            cd_unlock(dir);
            snprintf(err, errlen, "the cache zone directory is full (%d "
                     "zones, live or waiting for old processes to finish): "
                     "try again once they have", GH_CD_ENTRIES);
            cd_undo(d, shm, conf, n, 0);
            return GH_ERR;
        }
        for (uint32_t i = 0, k = 0; i < n; i++) {
            struct gh_shm_cd_entry *e;

            if (!plan[i].made)
                continue;
            while (dir->e[k].root != 0)
                k++;
            e = &dir->e[k];
            memset(e, 0, sizeof(*e));
            snprintf(e->name, sizeof(e->name), "%s", conf->caches[i].name);
            e->bytes = conf->caches[i].size;
            e->holders[0] = d->pid;
            __atomic_store_n(&e->root, plan[i].root, __ATOMIC_RELEASE);
        }
        cd_unlock(dir);
    }
    for (uint32_t i = 0; i < n; i++) {
        conf->caches[i].root = plan[i].root;
        d->next[i] = plan[i].root;
    }
    return GH_OK;
oom:
    snprintf(err, errlen, "out of memory for the cache zones");
    return GH_ERR;
}

void
gh_cachedir_cancel(struct gh_cachedir *d, struct gh_shm *shm)
{
    if (d->plan == NULL)
        return;
    cd_undo(d, shm, NULL, d->nplan, 1);
}

/* Add ROOT to D's old zones (room was made by prepare), once. */
static void
cd_add_old(struct gh_cachedir *d, gh_off root)
{
    if (root == 0 || cd_in(d->old, d->nold, root)
        || cd_in(d->next, d->nplan, root))
        return;
    if (d->nold < d->capold)
        d->old[d->nold++] = root;
}

void
gh_cachedir_commit(struct gh_cachedir *d, struct gh_shm *shm,
                   const struct gh_conf *conf, gh_cachedir_note_fn note,
                   void *arg)
{
    struct gh_shm_cachedir *dir = cd_dir(shm);
    struct gh_cachedir_step *plan = d->plan;
    /* Live zones CONF does not name: their names and sizes, for notes. */
    char off_name[GH_CD_ENTRIES][GH_CD_NAME];
    uint64_t off_bytes[GH_CD_ENTRIES];
    uint32_t noff = 0, n = d->nplan;
    char a[32], b[32];

    if (plan == NULL)
        return;
    if (dir != NULL && cd_lock(dir) == GH_OK) {
        for (uint32_t i = 0; i < n; i++) {
            const char *name = conf->caches[i].name;

            for (uint32_t k = 0; k < GH_CD_ENTRIES; k++) {
                struct gh_shm_cd_entry *e = &dir->e[k];

                if (e->root != 0 && cd_name_is(e, name))
                    e->live = e->root == plan[i].root;
            }
        }
        for (uint32_t k = 0; k < GH_CD_ENTRIES; k++) {
            struct gh_shm_cd_entry *e = &dir->e[k];
            uint32_t i;

            if (e->root == 0 || !e->live)
                continue;
            for (i = 0; i < n; i++)
                if (cd_name_is(e, conf->caches[i].name))
                    break;
            if (i < n)
                continue;
            e->live = 0;
            memcpy(off_name[noff], e->name, GH_CD_NAME);
            off_name[noff][GH_CD_NAME - 1] = '\0';
            off_bytes[noff++] = e->bytes;
        }
        cd_unlock(dir);
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct gh_cache_zone *z = &conf->caches[i];
        const char *name = z->name;
        struct gh_cache_stats st;
        char why[256];
        gh_off r = plan[i].root;

        (void) cd_size(z->size, a, sizeof(a));
        if (plan[i].made && plan[i].damaged) {
            cd_note(note, arg, "cache zone \"%s\" (%s) was damaged: starts "
                    "empty", name, a);
        } else if (plan[i].made && plan[i].was != 0) {
            cd_note(note, arg, "cache zone \"%s\" resized (%s to %s): "
                    "starts empty", name, cd_size(plan[i].was, b, sizeof(b)),
                    a);
        } else if (plan[i].made) {
            cd_note(note, arg, "cache zone \"%s\" (%s) created", name, a);
        } else {
            /* Kept: only max_object may change (the same zone comes back
             * when it is sound, as prepare just checked). */
            if (gh_cache_zone_create(shm, (size_t) z->size,
                                     (size_t) z->max_object, &r, why,
                                     sizeof(why)) == GH_OK
                && r != plan[i].root) {
                gh_cache_zone_destroy(shm, r);
                cd_note(note, arg, "cache zone \"%s\" (%s) is damaged: its "
                        "requests go uncached until a reload", name, a);
            }
            if (plan[i].hold != 0) {
                gh_cache_stats(shm, plan[i].root, &st);
                cd_note(note, arg, "cache zone \"%s\" (%s) kept with %llu "
                        "entr%s", name, a, (unsigned long long) st.entries,
                        st.entries == 1 ? "y" : "ies");
            }
        }
    }
    for (uint32_t k = 0; k < noff; k++)
        cd_note(note, arg, "cache zone \"%s\" (%s) is no longer configured: "
                "freed once no process uses it", off_name[k],
                cd_size(off_bytes[k], a, sizeof(a)));
    /* What this master held and the new configuration does not use: old,
     * until the processes that may read it are gone. */
    for (uint32_t i = 0; i < d->ncur; i++)
        cd_add_old(d, d->cur[i]);
    for (uint32_t i = 0; i < n; i++)
        cd_add_old(d, plan[i].hold);
    for (uint32_t i = 0; i < d->nold; ) {
        if (cd_in(d->next, n, d->old[i]))
            d->old[i] = d->old[--d->nold];
        else
            i++;
    }
    free(d->cur);
    d->cur = d->next;
    d->ncur = n;
    d->next = NULL;
    free(d->plan);
    d->plan = NULL;
    d->nplan = 0;
}

void
gh_cachedir_settle(struct gh_cachedir *d, struct gh_shm *shm,
                   gh_cachedir_note_fn note, void *arg)
{
    struct gh_shm_cachedir *dir = cd_dir(shm);

    if (d->nold == 0)
        return;
    if (dir != NULL)
        cd_forget_dead(dir, d->pid);
    cd_let_go(d, shm, d->old, d->nold, note, arg);
    d->nold = 0;
}

void
gh_cachedir_release(struct gh_cachedir *d, struct gh_shm *shm,
                    gh_cachedir_note_fn note, void *arg)
{
    gh_cachedir_cancel(d, shm);
    if (d->nold > 0 || d->ncur > 0) {
        struct gh_shm_cachedir *dir = cd_dir(shm);

        if (dir != NULL)
            cd_forget_dead(dir, d->pid);
        cd_let_go(d, shm, d->old, d->nold, note, arg);
        cd_let_go(d, shm, d->cur, d->ncur, note, arg);
    }
    gh_cachedir_free(d);
}

void
gh_cachedir_free(struct gh_cachedir *d)
{
    int32_t pid = d->pid;

    free(d->cur);
    free(d->old);
    free(d->plan);
    free(d->next);
    memset(d, 0, sizeof(*d));
    d->pid = pid;
}
