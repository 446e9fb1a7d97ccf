#include <errno.h>
#include <http_parser.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shm/ctable.h"
#include "shm/state.h"
#include "worker/conn.h"
#include "worker/core/buf.h"
#include "worker/core/log.h"
#include "worker/priv.h"
#include "worker/static.h"
#include "worker/tls.h"
#include "worker/worker.h"

#define ALOG_SIZE  65536
#define ALOG_FLUSH 49152

volatile sig_atomic_t gh_worker_quit;
volatile sig_atomic_t gh_worker_terminate;
volatile sig_atomic_t gh_worker_reopen;
static int worker_resume;

static void
worker_signal(int sig)
{
    switch (sig) {
    case SIGQUIT:
        gh_worker_quit = 1;
        break;
    case SIGTERM:
    case SIGINT:
        gh_worker_terminate = 1;
        break;
    case SIGUSR1:
        gh_worker_reopen = 1;
        break;
    default:
        break;
    }
}

void
gh_worker_update_time(struct gh_worker *w)
{
    time_t now = time(NULL);
    struct tm tm;

    if (now == w->now_sec)
        return;
    w->now_sec = now;
    (void) gh_http_date(now, w->http_date, sizeof(w->http_date));
    (void) localtime_r(&now, &tm);
    (void) strftime(w->log_time, sizeof(w->log_time), "%d/%b/%Y:%H:%M:%S %z",
                    &tm);
}

static void
worker_alog_flush(struct gh_worker *w)
{
    size_t off = 0;

    while (off < w->alog_len) {
        ssize_t n = write(w->alog_fd, w->alog_buf + off, w->alog_len - off);

        if (n > 0) {
            off += (size_t) n;
        } else if (n == -1 && errno == EINTR) {
            continue;
        } else {
            gh_log(GH_LOG_CRIT, errno, "write() to access log failed, "
                   "%zu bytes lost", w->alog_len - off);
            break;
        }
    }
    w->alog_len = 0;
}

void
gh_worker_alog(struct gh_worker *w, const char *line, size_t len)
{
    if (w->alog_len + len > ALOG_SIZE)
        worker_alog_flush(w);
    if (len > ALOG_SIZE)
        len = ALOG_SIZE;
    memcpy(w->alog_buf + w->alog_len, line, len);
    w->alog_len += len;
    if (w->alog_len >= ALOG_FLUSH)
        worker_alog_flush(w);
}

static int
worker_alog_open(struct gh_worker *w)
{
    const char *p = w->conf->access_log;
    int fd;

    if (p == NULL)
        return GH_OK;
    if (strcmp(p, "stdout") == 0)
        fd = dup(1);
    else if (strcmp(p, "stderr") == 0)
        fd = dup(2);
    else
        fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1) {
        gh_log(GH_LOG_CRIT, errno, "cannot open access log \"%s\"", p);
        return GH_ERR;
    }
    (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (w->alog_fd != -1) {
        worker_alog_flush(w);
        (void) close(w->alog_fd);
    }
    w->alog_fd = fd;
    return GH_OK;
}

static void
worker_accept_on(struct gh_worker *w, struct gh_lev *lv)
{
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t len = sizeof(sa);
        int fd;

        if (w->draining || lv->ev.fd == -1)
            return;
        if (w->nconns >= w->conf->limits.connections
            && gh_conn_reclaim(w, 16) > 0) {
            /* As nginx: idle keep-alive connections make room. */
            if (w->loop.now - w->reclaim_warned >= 1000) {
                w->reclaim_warned = w->loop.now;
                gh_log(GH_LOG_NOTICE, 0, "closing idle keep-alive "
                       "connections at %" PRIu64 " worker connections "
                       "(limits.connections)", w->conf->limits.connections);
            }
        }
        if (w->nconns >= w->conf->limits.connections) {
            /* Once a second at most: under a flood the limit is reached
             * again after nearly every close. */
            if (!w->accept_paused
                && w->loop.now - w->limit_warned >= 1000) {
                w->limit_warned = w->loop.now;
                gh_log(GH_LOG_WARN, 0, "%" PRIu64 " worker connections are "
                       "not enough (limits.connections), not accepting on "
                       "%s", w->conf->limits.connections, lv->l->addr.text);
            }
            w->accept_paused = 1;
            return;
        }
        fd = accept4(lv->ev.fd, (struct sockaddr *) &sa, &len,
                     SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EAGAIN)
                return;
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
                || errno == ENOMEM) {
                /* Out of fds: stop accepting until one closes, instead of
                 * spinning on a listener that stays readable. */
                gh_log(GH_LOG_CRIT, errno, "accept4() on %s failed",
                       lv->l->addr.text);
                w->accept_paused = 1;
                return;
            }
            gh_log(GH_LOG_ERROR, errno, "accept4() on %s failed",
                   lv->l->addr.text);
            return;
        }
        gh_conn_accept(w, lv->l, fd, (struct sockaddr *) &sa, len);
    }
}

/* A listener's ev with a back pointer to its worker: no global needed. */
struct worker_lev {
    struct gh_lev     lev;
    struct gh_worker *w;
};

static void
worker_accept(struct gh_ev *ev, uint32_t events)
{
    struct gh_lev *lv = gh_container_of(ev, struct gh_lev, ev);
    struct worker_lev *wl = gh_container_of(lv, struct worker_lev, lev);

    (void) events;
    worker_accept_on(wl->w, lv);
}

void
gh_worker_conn_closed(struct gh_worker *w)
{
    if (w->accept_paused)
        worker_resume = 1;  /* from the main loop, not from inside a conn */
}

/*
 * Worker SLOT accepts on socket j of each listener for every j with
 * j % workers == SLOT: normally just its own, but after a reload to fewer
 * workers (or an upgrade) the spare sockets are served too, so no accept
 * queue is ever left without a reader.
 */
static int
worker_listen(struct gh_worker *w)
{
    uint32_t n = 0, k = 0, nw = w->conf->workers;
    struct worker_lev *lv;

    for (uint32_t i = 0; i < w->nls; i++)
        for (uint32_t j = w->slot; j < w->ls[i].nfds; j += nw)
            n++;
    lv = calloc(n ? n : 1, sizeof(*lv));
    if (lv == NULL)
        return GH_ERR;
    w->lev = &lv[0].lev;
    w->nlev = n;
    for (uint32_t i = 0; i < w->nls; i++) {
        for (uint32_t j = 0; j < w->ls[i].nfds; j++) {
            if (j % nw != w->slot) {
                /* The master's and other workers' sockets. */
                if (w->ls[i].fds[j] != -1)
                    (void) close(w->ls[i].fds[j]);
                continue;
            }
            lv[k].w = w;
            lv[k].lev.l = &w->ls[i];
            lv[k].lev.ev.fd = w->ls[i].fds[j];
            lv[k].lev.ev.handler = worker_accept;
            if (gh_ev_add(&w->loop, &lv[k].lev.ev, EPOLLIN) != GH_OK) {
                gh_log(GH_LOG_CRIT, errno, "epoll_ctl() for %s failed",
                       w->ls[i].addr.text);
                return GH_ERR;
            }
            k++;
        }
    }
    return GH_OK;
}

static struct gh_lev *
worker_lev(struct gh_worker *w, uint32_t i)
{
    return &((struct worker_lev *) (void *) w->lev)[i].lev;
}

static void
worker_start_drain(struct gh_worker *w)
{
    w->draining = 1;
    w->drain_deadline = w->loop.now + w->conf->timeouts.shutdown;
    for (uint32_t i = 0; i < w->nlev; i++)
        gh_ev_close(&w->loop, &worker_lev(w, i)->ev);
    for (struct gh_conn *c = w->conns, *next; c != NULL; c = next) {
        next = c->next;
        gh_conn_drain(c);
    }
}

int
gh_worker_main(const struct gh_conf *conf, struct gh_shm *shm,
               struct gh_listener *ls, uint32_t nls, uint32_t slot)
{
    static struct gh_worker worker;
    struct gh_worker *w = &worker;
    sigset_t waitmask;
    pid_t master = getppid();
    int status = 0;

    *w = (struct gh_worker) { .conf = conf, .shm = shm, .ls = ls,
                              .nls = nls, .slot = slot, .alog_fd = -1 };
    gh_log_set_slot((int) slot);
    /* http-parser has its own cap on a head (80 KiB by default); ours is
     * limits.header_size, checked before it: keep its cap above ours. */
    http_parser_set_max_header_size((uint32_t) GH_MIN(
        conf->limits.header_size + 4096, UINT32_MAX));
    gh_priv_signals(worker_signal);
    /* If the master dies, finish gracefully rather than run orphaned. */
    if (gh_priv_deathsig(SIGQUIT, master))
        gh_worker_quit = 1;
    /* Signals stay blocked (as the master left them) except in the wait. */
    sigemptyset(&waitmask);
    if (gh_loop_init(&w->loop) != GH_OK) {
        gh_log(GH_LOG_EMERG, errno, "epoll_create1() failed");
        return 2;
    }
    w->loop.sigmask = &waitmask;
    w->alog_buf = malloc(ALOG_SIZE);
    w->held = gh_state_proc_attach(shm, conf, (int32_t) getpid());
    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_tls *t = conf->sites[i].tls;

        if (t != NULL) {
            if (gh_tls_worker_init(conf, shm, t->keys_root) != GH_OK)
                gh_log(GH_LOG_ALERT, 0, "TLS sessions are not shared with "
                       "the other workers: fewer will resume");
            break;
        }
    }
    w->ct_held = gh_ctable_proc_attach(shm, (int32_t) getpid(),
                                       (uint32_t) conf->limits.connections);
    if (w->ct_held == NULL)
        gh_log(GH_LOG_CRIT, 0, "shared memory full: this worker's client "
               "connection counts cannot be given back should it die");
    if (w->held == NULL)
        gh_log(GH_LOG_CRIT, 0, "shared memory full: this worker's requests "
               "in flight cannot be given back should it die");
    /* Seed random2 differently in each worker (and each respawn). */
    w->ups = gh_upstream_init(conf, shm, slot * 2654435761u
                                         + (uint32_t) getpid(), w->held);
    __atomic_store_n(&gh_state_globals(shm)->workers[slot].conns, 0,
                     __ATOMIC_RELAXED);
    if (w->alog_buf == NULL || w->ups == NULL) {
        gh_log(GH_LOG_EMERG, ENOMEM, "worker start-up failed");
        return 2;
    }
    if (worker_alog_open(w) != GH_OK || gh_priv_drop(conf) != GH_OK
        || worker_listen(w) != GH_OK)
        return 2;
    /* Changing credentials cleared the parent-death signal: again. */
    if (gh_priv_deathsig(SIGQUIT, master))
        gh_worker_quit = 1;
    gh_worker_update_time(w);
    while (!gh_worker_terminate) {
        if (gh_loop_once(&w->loop, 1000) != GH_OK) {
            gh_log(GH_LOG_ALERT, errno, "epoll_pwait() failed");
            status = 2;
            break;
        }
        if (worker_resume && !w->draining
            && w->nconns < conf->limits.connections) {
            worker_resume = 0;
            w->accept_paused = 0;
            for (uint32_t i = 0; i < w->nlev; i++)
                worker_accept_on(w, worker_lev(w, i));
        }
        if (gh_worker_reopen) {
            gh_worker_reopen = 0;
            if (strcmp(conf->error_log, "stderr") != 0
                && gh_log_open(conf->error_log) != GH_OK)
                gh_log(GH_LOG_CRIT, errno, "cannot reopen \"%s\"",
                       conf->error_log);
            (void) worker_alog_open(w);
        }
        if (gh_worker_quit && !w->draining)
            worker_start_drain(w);
        if (w->draining && w->nconns == 0)
            break;
        if (w->draining && w->loop.now >= w->drain_deadline) {
            if (w->draining == 2)
                break;
            /* timeouts.shutdown is over: FIN what is left, and give the
             * FINs a moment before the hard close. */
            gh_log(GH_LOG_NOTICE, 0, "closing %" PRIu64 " connections at "
                   "the end of the shutdown timeout", w->nconns);
            for (struct gh_conn *c = w->conns, *next; c != NULL; c = next) {
                next = c->next;
                gh_conn_stop(c);
            }
            w->draining = 2;
            w->drain_deadline = w->loop.now + 600;
        }
        /* One write per pass of the loop: under load a pass serves many
         * requests; when quiet, lines are out at once. */
        if (w->alog_len > 0)
            worker_alog_flush(w);
    }
    while (w->conns != NULL)
        gh_conn_close(w->conns, "worker exiting");
    if (w->alog_fd != -1) {
        worker_alog_flush(w);
        (void) close(w->alog_fd);
    }
    gh_upstream_destroy(w->ups, conf->nupstreams, &w->loop);
    gh_loop_destroy(&w->loop);
    free(w->alog_buf);
    free(w->lev);
    gh_buf_drain();
    return status;
}
