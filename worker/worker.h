#ifndef GH_WORKER_WORKER_H
#define GH_WORKER_WORKER_H

/*
 * A worker process: one epoll loop serving every listener's socket of its
 * slot.  Its conf is inherited from the master by fork() and read-only.
 */

#include <signal.h>
#include <time.h>

#include "conf/conf.h"
#include "shm/shm.h"
#include "worker/core/ev.h"
#include "worker/listen.h"
#include "worker/upstream.h"

struct gh_conn;

struct gh_lev {
    struct gh_ev              ev;
    const struct gh_listener *l;    /* borrows */
};

struct gh_worker {
    const struct gh_conf  *conf;    /* borrows (the master's generation) */
    struct gh_shm         *shm;     /* borrows: the segment */
    struct gh_loop         loop;
    struct gh_listener    *ls;      /* borrows */
    uint32_t               nls;
    struct gh_lev         *lev;     /* owns: one per listening socket */
    uint32_t               nlev;
    uint32_t               slot;
    struct gh_upstream_rt *ups;     /* owns */
    struct gh_shm_held    *held;    /* in the segment; the master frees */
    struct gh_shm_ct_held *ct_held; /* client connections and this
                                       worker's share of the total */
    uint64_t               nconns;
    struct gh_conn        *conns;   /* all open client connections */
    int                    accept_paused;
    gh_msec                limit_warned;    /* last "not enough" line */
    gh_msec                reclaim_warned;  /* last "closing idle" line */
    gh_msec                total_warned;    /* total_connections line */
    gh_msec                ct_warned;       /* client table full line */
    int                    draining;    /* QUIT: 1 finishing, 2 past the
                                           shutdown timeout: lingering */
    gh_msec                drain_deadline;
    /* Access log: buffered, written once per pass of the event loop (and
     * at 48 KiB), so a busy worker pays one write(2) for many requests. */
    int                    alog_fd;     /* -1: off */
    char                  *alog_buf;    /* owns */
    size_t                 alog_len;
    /* Cached per second: "Sun, 06 Nov 1994 08:49:37 GMT" and the
     * access log's "06/Nov/1994:08:49:37 +0000". */
    time_t                 now_sec;
    char                   http_date[32];
    char                   log_time[32];
};

extern volatile sig_atomic_t gh_worker_quit;
extern volatile sig_atomic_t gh_worker_terminate;
extern volatile sig_atomic_t gh_worker_reopen;

/* Run worker SLOT until told to stop; returns the exit status. */
int gh_worker_main(const struct gh_conf *conf, struct gh_shm *shm,
                   struct gh_listener *ls, uint32_t nls, uint32_t slot);

/* Refresh the cached dates if the second changed. */
void gh_worker_update_time(struct gh_worker *w);
/* Resume accepting after a connection closed below the limit. */
void gh_worker_conn_closed(struct gh_worker *w);
/* Append one line to the access log buffer. */
void gh_worker_alog(struct gh_worker *w, const char *line, size_t len);

#endif
