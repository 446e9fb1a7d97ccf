#ifndef GH_WORKER_LISTEN_H
#define GH_WORKER_LISTEN_H

/*
 * Listening addresses: one per distinct `listen` address over all sites,
 * with the sites that share it.  The master binds one SO_REUSEPORT socket
 * per address per worker slot and keeps them all, so a respawned worker
 * (or, later, a new binary) takes over the same accept queues.
 */

#include "conf/conf.h"

struct gh_listener {
    struct gh_addr         addr;
    const struct gh_site **sites;   /* owns the array; borrows the sites */
    uint32_t               nsites;
    int                   *fds;     /* owns: one per worker slot, -1 none */
    uint32_t               nfds;
};

/* Group CONF's listen addresses.  NULL with ERR filled on failure. */
struct gh_listener *gh_listen_build(const struct gh_conf *conf, uint32_t *n,
                                    char *err, size_t errlen);
/* Bind NSLOTS sockets per listener.  GH_ERR with ERR naming the address. */
int gh_listen_open(struct gh_listener *ls, uint32_t n, uint32_t nslots,
                   char *err, size_t errlen);
/*
 * Give L the sockets HAVE[0..NHAVE) (taken over: from the running
 * generation or an older binary) plus new ones up to NSLOTS.  On GH_ERR
 * (ERR names the address) L->fds holds what there is, -1 for the rest.
 */
int gh_listen_open_one(struct gh_listener *l, const int *have, uint32_t nhave,
                       uint32_t nslots, char *err, size_t errlen);
/* The listener of LS for address A, or NULL. */
struct gh_listener *gh_listen_find(struct gh_listener *ls, uint32_t n,
                                   const struct gh_addr *a);
void gh_listen_free(struct gh_listener *ls, uint32_t n);

#endif
