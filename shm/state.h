#ifndef GH_SHM_STATE_H
#define GH_SHM_STATE_H

/*
 * The daemon-wide state in the segment: one entry per upstream, per
 * upstream server and per route, found by identity ("up:NAME",
 * "NAME/ADDR", "SITE@LISTEN/PATH") in a registry, so a reload that keeps
 * a server keeps its health and counters.  Counters are updated with
 * __atomic builtins (relaxed: they are statistics); the few decisions that
 * must be exact across workers (a round-robin step, a least_conn pick, a
 * max_conns slot) are made under the upstream's robust lock.
 *
 * Times are gh_msec of CLOCK_MONOTONIC, which every process on the machine
 * shares.
 *
 * Only the master creates and binds (before forking); workers and the
 * checker read and update entries through the offsets the master wrote
 * into the conf (gh_server.shm, gh_upstream.shm, gh_route.shm).
 */

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "shm/lock.h"
#include "shm/shm.h"

#define GH_STATE_SLOTS    1024  /* worker slots with a connection gauge */
#define GH_LAT_BUCKETS    12    /* latency histogram, see gh_lat_bounds */

/* Upper bounds of the latency buckets in ms; the last is +Inf. */
extern const uint32_t gh_lat_bounds_ms[GH_LAT_BUCKETS - 1];

enum gh_srv_health {
    GH_SRV_UP = 0,              /* the checker's verdict (UP without checks) */
    GH_SRV_DOWN
};

struct gh_shm_server {
    char     key[128];          /* "NAME/ADDR", NUL-terminated */
    /* Active checks: written by the checker only. */
    uint32_t health;            /* enum gh_srv_health */
    uint32_t rise_n;            /* consecutive successes while down */
    uint32_t fall_n;            /* consecutive failures while up */
    uint32_t checked;           /* 1 once the first check finished */
    /* Passive checks: any worker. */
    uint32_t passive_down;      /* 1 while marked down by failures */
    uint32_t fails;             /* failures in the window */
    gh_msec  fail_start;        /* window start */
    gh_msec  down_until;        /* passive down ends */
    gh_msec  up_since;          /* last recovery (slow start); 0: never down */
    /* Load and statistics. */
    int64_t  active;            /* requests in flight, all workers */
    int64_t  cw;                /* smooth WRR weight, under upstream lock */
    uint64_t requests;          /* requests sent to it */
    uint64_t failures;          /* connect errors, resets, timeouts, bad
                                   responses */
    uint64_t ewma_us;           /* response time EWMA (first byte), us */
    uint64_t lat[GH_LAT_BUCKETS];   /* response time histogram */
    uint64_t lat_sum_us;
    uint64_t lat_count;
    uint64_t reserved[8];
};

struct gh_shm_upstream {
    struct gh_shm_lock lock;    /* round-robin steps, least_conn picks */
    char     key[64];           /* NAME */
    int64_t  queued;            /* requests waiting for a max_conns slot */
    uint64_t seq;               /* tie-breaker rotation */
    uint64_t reserved[6];
};

struct gh_shm_route {
    char     key[192];          /* "SITE/PATH" */
    uint64_t requests;          /* finished requests */
    uint64_t status[5];         /* responses 1xx .. 5xx */
    uint64_t reserved[2];
};

/*
 * What one worker process holds in the shared counters: its requests in
 * flight per server (`active`) and its places in upstream queues.  When
 * it dies without giving them back (SIGKILL, a crash), the master does.
 */
enum gh_held_kind {
    GH_HELD_NONE = 0,
    GH_HELD_ACTIVE,             /* obj: struct gh_shm_server */
    GH_HELD_QUEUED              /* obj: struct gh_shm_upstream */
};

struct gh_shm_held {
    gh_off   obj;
    uint32_t kind;              /* enum gh_held_kind */
    uint32_t pad;
    int64_t  n;
};

struct gh_shm_proc {
    int32_t  pid;               /* 0: free entry */
    uint32_t n;
    gh_off   held;              /* struct gh_shm_held[n] */
    gh_off   ct;                /* struct gh_shm_ct_held (shm/ctable.h) */
};

struct gh_shm_globals {
    struct gh_shm_lock lock;    /* the registry and the process table */
    gh_off   registry;          /* struct gh_state_slot[nregistry] */
    uint32_t nregistry;         /* power of two */
    uint32_t used;
    gh_off   ctable;            /* struct gh_shm_ctable; 0: none */
    uint64_t ctable_bytes;      /* the size it was made for (0: none) */
    uint32_t ctable_made;       /* 1 once gh_ctable_init() decided */
    uint32_t pad0;
    uint64_t pad1[3];           /* workers[] starts on a cache line */
    struct {                    /* one cache line per worker slot */
        int64_t  conns;         /* open client connections */
        uint64_t requests;      /* finished requests */
        uint64_t pad[6];
    } workers[GH_STATE_SLOTS];
    struct gh_shm_proc procs[2 * GH_STATE_SLOTS];   /* two generations */
    int64_t  client_conns;      /* open client connections, all workers
                                   (limits.total_connections) */
    uint64_t pad2[7];           /* its own cache line: every accept */
    uint64_t reserved[16];
};

/*
 * Creator only: format the slab and the globals.  GH_OK, or GH_ERR with
 * ERR filled.
 */
int gh_state_init(struct gh_shm *shm, char *err, size_t errlen);

/*
 * Master only, before forking workers for CONF: find or create the entry of
 * every upstream, server and route of CONF and write its offset into CONF.
 * An entry that already exists (a reload) is kept as it is.  GH_OK, or
 * GH_ERR with ERR filled (the segment is full).
 */
int gh_state_bind(struct gh_shm *shm, struct gh_conf *conf, char *err,
                  size_t errlen);

static inline struct gh_shm_globals *
gh_state_globals(const struct gh_shm *shm)
{
    return gh_shm_ptr(shm, shm->hdr->state);
}

static inline struct gh_shm_server *
gh_state_server(const struct gh_shm *shm, const struct gh_server *s)
{
    return gh_shm_ptr(shm, s->shm);
}

static inline struct gh_shm_upstream *
gh_state_upstream(const struct gh_shm *shm, const struct gh_upstream *u)
{
    return gh_shm_ptr(shm, u->shm);
}

static inline struct gh_shm_route *
gh_state_route(const struct gh_shm *shm, const struct gh_route *r)
{
    return gh_shm_ptr(shm, r->shm);
}

/*
 * A worker (PID) that will hold counts on the servers and upstreams of
 * CONF: its table, one entry per server then one per upstream (in conf
 * order), registered for the master.  NULL when the segment is full (the
 * worker then runs without, and its counts cannot be repaired).
 */
struct gh_shm_held *gh_state_proc_attach(struct gh_shm *shm,
                                         const struct gh_conf *conf,
                                         int32_t pid);
/*
 * Register OFF (a struct gh_shm_ct_held, made by gh_ctable_proc_attach())
 * as what PID holds in the client table and the connection count, in the
 * same process entry as gh_state_proc_attach()'s (either may come first).
 * A table PID had registered before is given back and freed.  GH_OK, or
 * GH_ERR when the process table is full.  Takes the globals lock.
 */
int gh_state_proc_ct(struct gh_shm *shm, int32_t pid, gh_off off);
/*
 * Master only, after reaping PID: give back what it still held (requests
 * in flight, queue places, client-table connections, its share of the
 * connection count).  Returns the number of counts given back (for the
 * log).  Takes the globals lock, then client-table stripe locks.
 */
int64_t gh_state_proc_reap(struct gh_shm *shm, int32_t pid);

/*
 * A client connection opens (limits.total_connections): count it in the
 * daemon-wide total unless that is at LIMIT already (0: no limit, only
 * count).  GH_OK: counted (call gh_state_conn_close() once when it
 * closes); GH_DECLINED: at the limit, nothing counted.  HELD (this
 * worker's, from gh_ctable_proc_attach(); may be NULL, then the count is
 * not given back should the worker die) records it first, so a worker
 * killed between the two steps makes the total at most one too low, never
 * too high.  Lock-free (one compare-and-swap loop on a shared line).
 */
int gh_state_conn_open(struct gh_shm *shm, struct gh_shm_ct_held *held,
                       uint64_t limit);
/* The connection counted by gh_state_conn_open() closed.  Never takes the
 * total below 0.  Lock-free. */
void gh_state_conn_close(struct gh_shm *shm, struct gh_shm_ct_held *held);
/* Open client connections, all workers (for metrics).  No lock. */
int64_t gh_state_conns(const struct gh_shm *shm);

/*
 * Is S usable at NOW: up by the checker and not marked down by passive
 * checks.  When a passive mark has run out, the first caller to see it
 * clears it and gets *RECOVERED = 1 (it logs, once for the daemon).
 */
int gh_state_server_usable(struct gh_shm_server *s, gh_msec now,
                           int *recovered);
/*
 * The weight S has now: WEIGHT, or during SLOW_START after a recovery a
 * share of it growing linearly from 1.
 */
uint32_t gh_state_server_weight(const struct gh_shm_server *s,
                                uint32_t weight, gh_msec slow_start,
                                gh_msec now);
/*
 * A passive failure of S at NOW.  Returns 1 when this failure marked S down
 * (the caller logs it, once for the daemon), else 0.
 */
int gh_state_server_fail(struct gh_shm_server *s, uint32_t max_fails,
                         gh_msec fail_timeout, gh_msec now);
/* A response from S: its time to first byte, for the EWMA and histogram. */
void gh_state_server_latency(struct gh_shm_server *s, gh_msec ms);

/*
 * One active check of S (the checker only): FALL failures in a row take it
 * down, RISE successes in a row bring it up, and also lift a passive mark
 * early.  Returns 1 when S changed (went down when !OK, came up when OK).
 */
int gh_state_server_check(struct gh_shm_server *s, int ok, uint32_t rise,
                          uint32_t fall, gh_msec now);

#endif
