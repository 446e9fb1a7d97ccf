#ifndef GH_WORKER_UPSTREAM_H
#define GH_WORKER_UPSTREAM_H

/*
 * Per-worker upstream state: smooth weighted round-robin and the pool of
 * idle keep-alive connections.  (Shared-memory balancing replaces the
 * weights' per-worker view in a later issue; TODO(#3).)
 */

#include "conf/conf.h"
#include "worker/core/ev.h"

struct gh_conn;
struct gh_upstream_rt;

/* One connection to an upstream server. */
struct gh_upconn {
    struct gh_ev           ev;      /* owns the fd */
    struct gh_upstream_rt *up;      /* borrows */
    uint32_t               server;  /* index in up->conf->servers */
    uint32_t               requests;/* requests sent on it */
    struct gh_conn        *owner;   /* borrows; NULL while idle */
    struct gh_upconn      *next;    /* idle list */
    struct gh_upconn      *prev;
};

struct gh_upstream_rt {
    const struct gh_upstream *conf;
    int64_t                  *cw;       /* owns: current weights */
    struct gh_upconn         *idle;     /* most recently used first */
    uint32_t                  nidle;
};

/* Build the runtime for every upstream of CONF.  NULL on ENOMEM. */
struct gh_upstream_rt *gh_upstream_init(const struct gh_conf *conf);
void gh_upstream_destroy(struct gh_upstream_rt *rt, uint32_t n,
                         struct gh_loop *loop);

/*
 * Smooth weighted round-robin (as nginx's): returns a server index, skipping
 * EXCLUDE (-1 for none) while another server exists.
 */
uint32_t gh_upstream_pick(struct gh_upstream_rt *up, int64_t exclude);

/* An idle pooled connection to SERVER, unlinked from the pool, or NULL. */
struct gh_upconn *gh_upstream_pool_take(struct gh_upstream_rt *up,
                                        uint32_t server);
/* Give UC back to the pool (or close it when the pool is full). */
void gh_upstream_pool_put(struct gh_loop *loop, struct gh_upconn *uc);

/*
 * Start a non-blocking connect to SERVER.  Returns a new upconn (its ev not
 * yet registered) with *RC GH_OK (connected) or GH_AGAIN (in progress), or
 * NULL with errno set (*RC GH_ERR).
 */
struct gh_upconn *gh_upstream_connect(struct gh_upstream_rt *up,
                                      uint32_t server, int *rc);
/* Close UC's fd and free it after the current batch. */
void gh_upconn_close(struct gh_loop *loop, struct gh_upconn *uc);

#endif
