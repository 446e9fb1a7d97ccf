#ifndef GH_SHM_CACHEDIR_H
#define GH_SHM_CACHEDIR_H

/*
 * The cache zone directory: how a master binds the zones of a
 * configuration's `caches` group to zones of the HTTP cache in the segment
 * (shm/cache.h), so that a zone keeps its entries across a reload (SIGHUP)
 * and a binary upgrade (SIGUSR2: the new master adopts the segment) when
 * its name and size stay, and so that a zone nobody uses any more is
 * freed, but never while a process may still read it.
 *
 * The directory (struct gh_shm_cachedir, shm/layout.h) lists every zone in
 * the segment by name, with the masters that hold it.  Each master keeps in
 * its own memory (struct gh_cachedir) the zones it holds: those of its
 * running configuration ("cur") and those of earlier configurations whose
 * processes may still run ("old").  A zone that no master holds and no
 * configuration names (not live) is freed by the master that lets go of it
 * last; a master that died holding one is forgotten by the next master
 * that binds or settles.
 *
 * A reload binds in two steps, so that a reload failing after the binding
 * changes nothing: gh_cachedir_prepare() may fail and makes the new zones
 * without publishing them; then gh_cachedir_commit(), which cannot fail,
 * or gh_cachedir_cancel().
 *
 * Master only: workers read a zone's offset from the configuration
 * (gh_cache_zone.root) and never the directory.  Each call takes the
 * directory's lock for short sections (no system call, no allocation,
 * nothing of shm/cache.h under it) and may block briefly on it (another
 * master) or on a zone's lock while destroying it.  Nothing here logs:
 * what happened goes to the NOTE callback, one line at a time (`cache zone
 * "main" resized (1M to 2M): starts empty`), for the master to log at
 * notice; NOTE may be NULL.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conf/conf.h"
#include "shm/shm.h"

typedef void (*gh_cachedir_note_fn)(void *arg, const char *msg);

struct gh_cachedir_step;        /* shm/cachedir.c: a prepared zone */

/* One master's holdings.  Zeroed is valid (holds nothing); process memory,
 * owned by the master (a forked child calls gh_cachedir_free()). */
struct gh_cachedir {
    int32_t  pid;               /* the master's, as holder; set by init */
    gh_off  *cur;               /* owns: zones of the running conf */
    uint32_t ncur;
    gh_off  *old;               /* owns: zones of earlier confs, held for
                                   their processes */
    uint32_t nold;
    uint32_t capold;
    struct gh_cachedir_step *plan;  /* owns: a prepared binding, NULL none */
    gh_off  *next;              /* owns: its zones, the next cur */
    uint32_t nplan;
};

/* Start holding nothing, as master PID (call after daemonizing). */
void gh_cachedir_init(struct gh_cachedir *d, pid_t pid);

/*
 * Bind each zone of CONF: the live zone of the same name and size is kept
 * (with its entries; its max_object is updated at commit), else a new,
 * empty one is made.  Writes the offsets into conf->caches[i].root.  Others
 * see nothing until gh_cachedir_commit().  Makes the directory in the
 * segment the first time.  GH_OK, or GH_ERR with ERR filled ("cache zone
 * \"main\": shared memory ... too small", "the cache zone directory is
 * full ...") and nothing changed.  A binding already prepared is cancelled
 * first.
 */
int gh_cachedir_prepare(struct gh_cachedir *d, struct gh_shm *shm,
                        struct gh_conf *conf, char *err, size_t errlen);
/*
 * Make the prepared binding of CONF the running one: its zones become the
 * live ones of their names, and a zone of the directory that CONF does not
 * name is no longer live.  The zones the previous configuration held and
 * this one does not are kept ("old") until gh_cachedir_settle().  Notes:
 * created, resized (starts empty), damaged (starts empty), kept with N
 * entries (a zone this master did not hold yet: adopted from another
 * master), no longer configured.  Cannot fail.
 */
void gh_cachedir_commit(struct gh_cachedir *d, struct gh_shm *shm,
                        const struct gh_conf *conf, gh_cachedir_note_fn note,
                        void *arg);
/* Undo gh_cachedir_prepare() (a no-op without one): the zones it made are
 * destroyed, the holds it took let go. */
void gh_cachedir_cancel(struct gh_cachedir *d, struct gh_shm *shm);

/*
 * No process of an earlier configuration is left: let go of the "old"
 * zones, and free those that nobody holds any more and no configuration
 * names (note: "cache zone \"main\" (1M) freed").  Masters that died
 * holding zones are forgotten first.  A no-op when nothing is old.
 */
void gh_cachedir_settle(struct gh_cachedir *d, struct gh_shm *shm,
                        gh_cachedir_note_fn note, void *arg);
/*
 * The master exits: cancel, settle, and let go of the running zones too.
 * Those still live stay in the segment (for a master that adopts it, or
 * the one still running after a failed upgrade); D holds nothing after.
 */
void gh_cachedir_release(struct gh_cachedir *d, struct gh_shm *shm,
                         gh_cachedir_note_fn note, void *arg);
/* Free D's process memory only, changing nothing in the segment (a forked
 * worker or checker, before it exits). */
void gh_cachedir_free(struct gh_cachedir *d);

#endif
