#ifndef GH_WORKER_UPSTREAM_H
#define GH_WORKER_UPSTREAM_H

/*
 * Balancing and the upstream connection pool.
 *
 * The choice of server uses the daemon-wide state in the segment
 * (shm/state.h): health, passive marks, requests in flight, latency.  Each
 * pick takes an "active" slot on the server it returns (counted for the
 * whole daemon, capped by max_conns); gh_upstream_done() gives it back.
 * round_robin and least_conn decide under the upstream's shared lock, so
 * their result is exact across workers; random2 and hash take their slot
 * with a compare-and-swap.  The pool of idle keep-alive connections is per
 * worker (a socket belongs to one process).
 */

#include "conf/conf.h"
#include "shm/state.h"
#include "worker/core/ev.h"

struct gh_conn;
struct gh_upstream_rt;

/* Servers already tried by one request (retries <= 10). */
#define GH_UP_MAX_TRIES 12
struct gh_up_tried {
    uint32_t n;
    uint32_t idx[GH_UP_MAX_TRIES];
};

/* One connection to an upstream server. */
struct ssl_st;                  /* <openssl/ssl.h> SSL */
struct ssl_session_st;          /* SSL_SESSION */

struct gh_upconn {
    struct gh_ev           ev;      /* owns the fd */
    struct ssl_st         *ssl;     /* upstream tls; owns; NULL: plain */
    struct gh_upstream_rt *up;      /* borrows */
    uint32_t               server;  /* index in up->conf->servers */
    uint32_t               requests;/* requests sent on it */
    struct gh_conn        *owner;   /* borrows; NULL while idle */
    struct gh_upconn      *next;    /* idle list */
    struct gh_upconn      *prev;
};

/* A point of the consistent-hash ring. */
struct gh_ring_point {
    uint32_t hash;
    uint32_t server;
};

struct gh_upstream_rt {
    const struct gh_upstream *conf;
    struct gh_shm            *shm;      /* borrows */
    struct gh_shm_upstream   *st;       /* in the segment */
    struct gh_shm_server    **srv;      /* owns the array; in the segment */
    uint8_t                  *cand;     /* owns: scratch, one per server */
    struct gh_ring_point     *ring;     /* owns: hash ring, sorted */
    uint32_t                  nring;
    struct gh_upconn         *idle;     /* most recently used first */
    uint32_t                  nidle;
    uint64_t                  rnd;      /* random2's generator state */
    struct gh_shm_held       *held;     /* this worker's counts per server
                                           (NULL: not tracked) */
    struct gh_shm_held       *held_q;   /* ... in this upstream's queue */
    struct ssl_session_st   **sess;     /* tls: the last session of each
                                           server (this worker's); owns */
};

/*
 * Build the runtime for every upstream of CONF.  HELD is this process's
 * table from gh_state_proc_attach() (or NULL): what it holds is counted
 * there too, so the master can give it back should the process die.
 * NULL on ENOMEM.
 */
struct gh_upstream_rt *gh_upstream_init(const struct gh_conf *conf,
                                        struct gh_shm *shm, uint32_t seed,
                                        struct gh_shm_held *held);
void gh_upstream_destroy(struct gh_upstream_rt *rt, uint32_t n,
                         struct gh_loop *loop);

/*
 * Choose a server for one attempt and take an active slot on it.  HASH is
 * the request's key hash when HAVE_HASH (balance = "hash"; without a key,
 * round-robin).  Servers in TRIED (failed for this request) are never
 * chosen; backup servers serve only when no primary is usable.  Returns:
 * GH_OK        *SERVER chosen (give the slot back with gh_upstream_done);
 * GH_AGAIN     every usable server is at max_conns: wait and call again;
 * GH_DECLINED  no server is usable; *RETRY_AFTER is the seconds until one
 *              may be (>= 1).
 * Never blocks beyond the upstream lock's short critical section.
 */
int gh_upstream_pick(struct gh_upstream_rt *up, gh_msec now, uint64_t hash,
                     int have_hash, const struct gh_up_tried *tried,
                     uint32_t *server, uint32_t *retry_after);
/* The attempt on SERVER is over: give its active slot back. */
void gh_upstream_done(struct gh_upstream_rt *up, uint32_t server);
/* Take a place in the upstream's queue (daemon-wide): the queue's length
 * with it; give it back with gh_upstream_queue_leave(). */
int64_t gh_upstream_queue_enter(struct gh_upstream_rt *up);
void gh_upstream_queue_leave(struct gh_upstream_rt *up);
/*
 * The attempt on SERVER failed (connect error, reset, timeout, invalid
 * response): a passive-check failure.  Logs when it marks the server down.
 */
void gh_upstream_failed(struct gh_upstream_rt *up, uint32_t server,
                        gh_msec now);
/* Time to first byte of a response from SERVER. */
void gh_upstream_latency(struct gh_upstream_rt *up, uint32_t server,
                         gh_msec ms);

/* The 32-bit key hash used by the ring (exported for tests). */
uint32_t gh_upstream_hash(const void *p, size_t n);

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
