#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "master/checker.h"
#include "worker/tls.h"
#include "shm/state.h"
#include "worker/core/ev.h"
#include "worker/core/log.h"
#include "worker/priv.h"

/*
 * The status line must be complete within this many response bytes; they
 * are parsed as they arrive, so no per-server buffer holds them.
 */
#define CHECK_READ_MAX 4096

/* One list; it expands to the enum and check_steps[].  IDLE must be first
 * (0, what calloc gives). */
#define CHECK_STATES(X)                                                     \
    X(IDLE,    idle)        /* waiting for the next check; no socket */     \
    X(CONNECT, connect)     /* connecting */                                \
    X(TLS,     tls)         /* the TLS handshake (upstream tls) */          \
    X(SEND,    send)        /* sending the request (http) */                \
    X(READ,    read)        /* reading the status line (http) */            \
    X(DONE,    done)        /* succeeded; check_run() finishes it */

enum check_state {
#define CHECK_ENUM(id, fn) CHECK_##id,
    CHECK_STATES(CHECK_ENUM)
#undef CHECK_ENUM
    CHECK_NSTATES
};

/* The strict status line parser's state (check_parse). */
struct check_sl {
    uint32_t pos;               /* bytes of the status line seen */
    uint32_t status;
    int      cr;                /* the CR of the final CRLF was seen */
};

struct checker;

/* One checked server: at most one check in flight. */
struct check {
    struct gh_ev              ev;       /* the check's socket; -1 between */
    struct gh_timer           timer;    /* IDLE: next start; else deadline */
    struct checker           *ck;       /* borrows */
    const struct gh_upstream *u;        /* borrows (conf) */
    const struct gh_server   *s;        /* borrows (conf) */
    struct gh_shm_server     *st;       /* borrows (segment) */
    char                     *req;      /* owns; NULL for tcp checks */
    SSL                      *ssl;      /* upstream tls; owns, NULL between */
    SSL_SESSION              *sess;     /* the last TLS session: resumed */
    size_t                    req_len;
    size_t                    sent;     /* 0 <= sent <= req_len */
    size_t                    got;      /* response bytes read */
    struct check_sl           sl;
    enum check_state          state;
    uint32_t                  events;   /* of the current wake-up */
    gh_msec                   started;
    char                      reason[160];  /* why it failed */
};

struct checker {
    const struct gh_conf *conf;     /* borrows */
    struct gh_shm        *shm;      /* borrows */
    struct gh_loop        loop;
    struct check         *checks;   /* owns */
    uint32_t              nchecks;  /* in use (and to free) */
    struct gh_timer       rotate;   /* TLS ticket keys */
    gh_msec               rotation; /* its period; 0: none */
};

/* The daemon's TLS ticket keys (gh_checker_set_tls_keys()). */
static uint64_t checker_tls_keys;

static volatile sig_atomic_t checker_stop;
static volatile sig_atomic_t checker_reopen;

static void
checker_signal(int sig)
{
    switch (sig) {
    case SIGQUIT:
    case SIGTERM:
    case SIGINT:
        checker_stop = 1;
        break;
    case SIGUSR1:
        checker_reopen = 1;
        break;
    default:
        break;
    }
}

void
gh_checker_set_tls_keys(uint64_t keys_root)
{
    checker_tls_keys = keys_root;
}

/* Every ticket_rotation: a new current key, the old one still accepted. */
static void
checker_rotate(struct gh_timer *t)
{
    struct checker *ck = gh_container_of(t, struct checker, rotate);

    if (gh_tls_rotate(ck->shm, checker_tls_keys) == GH_OK)
        gh_log(GH_LOG_INFO, 0, "TLS session ticket keys rotated");
    else
        gh_log(GH_LOG_ALERT, 0, "TLS session ticket keys not rotated: the "
               "old ones stay in use");
    gh_timer_set(&ck->loop, &ck->rotate, ck->rotation);
}

int
gh_checker_needed(const struct gh_conf *conf)
{
    if (gh_tls_rotation(conf) > 0)
        return 1;
    for (uint32_t i = 0; i < conf->nupstreams; i++)
        if (conf->upstreams[i].health.type != GH_HEALTH_NONE
            && conf->upstreams[i].nservers > 0)
            return 1;
    return 0;
}

/* ---- the status line ---------------------------------------------------- */

/*
 * RFC 9112 4: status-line = HTTP-version SP status-code SP [reason-phrase]
 * CRLF, reason-phrase = *( HTAB / SP / VCHAR / obs-text ).  We want exactly
 * that and nothing more lenient: a health endpoint that answers something
 * else is not healthy, whatever a browser would make of it.  Bytes are fed
 * in any pieces; returns GH_AGAIN (more), GH_OK (sl->status set) or GH_ERR.
 */
static int
check_parse(struct check_sl *sl, const char *p, size_t n)
{
    static const char prefix[] = "HTTP/1.";

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) p[i];
        uint32_t k = sl->pos++;

        if (sl->cr)
            return ch == '\n' ? GH_OK : GH_ERR;
        if (k < sizeof(prefix) - 1) {
            if (ch != (unsigned char) prefix[k])
                return GH_ERR;
        } else if (k == 7) {
            if (ch < '0' || ch > '9')
                return GH_ERR;
        } else if (k == 8 || k == 12) {
            if (ch != ' ')
                return GH_ERR;
        } else if (k <= 11) {
            /* RFC 9110 15: a status code is 100..599. */
            if (ch < '0' || ch > '9' || (k == 9 && (ch < '1' || ch > '5')))
                return GH_ERR;
            sl->status = sl->status * 10 + (uint32_t) (ch - '0');
        } else if (ch == '\r') {
            sl->cr = 1;
        } else if (ch != '\t' && (ch < 0x20 || ch == 0x7f)) {
            return GH_ERR;  /* a bare LF, NUL or other control byte */
        }
    }
    return GH_AGAIN;
}

/* ---- one check ---------------------------------------------------------- */

static void check_run(struct check *c);
static int check_connected(struct check *c);

static void
check_failf(struct check *c, int err, const char *fmt, ...) GH_PRINTF(3, 4);

static void
check_failf(struct check *c, int err, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
    va_end(ap);
    if (err != 0 && n >= 0 && (size_t) n < sizeof(c->reason))
        (void) snprintf(c->reason + n, sizeof(c->reason) - (size_t) n,
                        " (%d: %s)", err, strerror(err));
}

/* Start the next check INTERVAL after this one started (not after it
 * ended), so the rate stays what the config says whatever the latency. */
static void
check_schedule(struct check *c)
{
    gh_msec next = c->started + c->u->health.interval - c->ck->loop.now;

    gh_timer_del(&c->ck->loop, &c->timer);
    gh_timer_set(&c->ck->loop, &c->timer, next > 0 ? next : 0);
}

/* The end of a check: close its socket, record the verdict, log. */
static void
check_finish(struct check *c, int ok)
{
    const struct gh_health *h = &c->u->health;
    struct gh_loop *loop = &c->ck->loop;

    if (ok && h->type == GH_HEALTH_TCP && c->ev.fd != -1) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        /* We close first, so TIME_WAIT would be ours: one socket per
         * server and interval piling up for a minute each.  A reset ends
         * the connection without it (HAProxy closes tcp checks so too). */
        if (setsockopt(c->ev.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg))
            == -1)
            gh_log(GH_LOG_WARN, errno, "setsockopt(SO_LINGER) failed, "
                   "ignored");
    }
    if (c->ssl != NULL) {
        if (ok)
            (void) SSL_shutdown(c->ssl);    /* close_notify: keep the
                                               session resumable */
        ERR_clear_error();
        gh_tls_free(c->ssl);
        c->ssl = NULL;
    }
    gh_ev_close(loop, &c->ev);
    c->state = CHECK_IDLE;
    if (!ok)
        gh_log(GH_LOG_INFO, 0, "health check of upstream %s server %s "
               "failed: %s", c->u->name, c->s->addr.text, c->reason);
    if (gh_state_server_check(c->st, ok, h->rise, h->fall, loop->now)) {
        if (ok)
            gh_log(GH_LOG_NOTICE, 0, "upstream %s server %s is up (health "
                   "check)", c->u->name, c->s->addr.text);
        else
            gh_log(GH_LOG_WARN, 0, "upstream %s server %s is down (health "
                   "check: %s)", c->u->name, c->s->addr.text, c->reason);
    }
    check_schedule(c);
}

static void
check_ev(struct gh_ev *ev, uint32_t events)
{
    struct check *c = gh_container_of(ev, struct check, ev);

    c->events = events;
    check_run(c);
}

/* The timer: start a check when idle, else the check ran out of time. */
static void
check_timer(struct gh_timer *t)
{
    struct check *c = gh_container_of(t, struct check, timer);
    const struct gh_server *s = c->s;
    int fd;

    if (c->state != CHECK_IDLE) {
        check_failf(c, 0, "timed out");
        check_finish(c, 0);
        return;
    }
    c->started = c->ck->loop.now;
    c->sent = 0;
    c->got = 0;
    c->sl = (struct check_sl) { 0 };
    c->events = 0;
    fd = socket(s->addr.sa.ss_family,
                SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        /* Our own trouble (EMFILE, ENOBUFS), not the server's: no verdict
         * either way, try again at the next interval. */
        gh_log(GH_LOG_CRIT, errno, "socket() failed, health check of "
               "upstream %s server %s skipped", c->u->name, s->addr.text);
        check_schedule(c);
        return;
    }
    c->ev.fd = fd;
    c->state = CHECK_CONNECT;
    if (connect(fd, (const struct sockaddr *) &s->addr.sa, s->addr.salen)
        == 0) {
        c->events = EPOLLOUT;   /* connected at once (it happens locally) */
    } else if (errno != EINPROGRESS) {
        check_failf(c, errno, "connect() failed");
        check_finish(c, 0);
        return;
    }
    if (gh_ev_add(&c->ck->loop, &c->ev, EPOLLIN | EPOLLOUT) != GH_OK) {
        gh_log(GH_LOG_CRIT, errno, "epoll_ctl() failed, health check of "
               "upstream %s server %s skipped", c->u->name, s->addr.text);
        gh_ev_close(&c->ck->loop, &c->ev);
        c->state = CHECK_IDLE;
        check_schedule(c);
        return;
    }
    gh_timer_set(&c->ck->loop, &c->timer, c->u->health.timeout);
    if (c->events != 0)
        check_run(c);
}

static int
check_step_idle(struct check *c)
{
    (void) c;
    return GH_AGAIN;   /* an event for a closed socket: nothing to do */
}

static int
check_step_done(struct check *c)
{
    (void) c;
    return GH_AGAIN;
}

static int
check_step_connect(struct check *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->ev.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        err = errno;
    if (err != 0) {
        check_failf(c, err, "connect() failed");
        return GH_ERR;
    }
    if (!(c->events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        return GH_AGAIN;
    if (c->u->tls.on) {
        c->state = CHECK_TLS;
        return GH_OK;
    }
    return check_connected(c);
}

/* Connected (and through TLS when the upstream has it): what next. */
static int
check_connected(struct check *c)
{
    if (c->u->health.type == GH_HEALTH_TCP) {
        c->state = CHECK_DONE;  /* the handshake is all a tcp check asks */
        return GH_OK;
    }
    c->state = CHECK_SEND;
    return GH_OK;
}

/* The TLS handshake with the server, verified as requests are. */
static int
check_step_tls(struct check *c)
{
    char why[160];
    int r;

    if (c->ssl == NULL) {
        c->ssl = gh_tls_up_new(&c->u->tls, c->s->addr.text, c->ev.fd,
                               &c->sess);
        if (c->ssl == NULL) {
            check_failf(c, ENOMEM, "TLS setup failed");
            return GH_ERR;
        }
    }
    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    if (r == 1)
        return check_connected(c);
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return GH_AGAIN;
    default:
        if (SSL_get_verify_result(c->ssl) != X509_V_OK)
            check_failf(c, 0, "TLS handshake failed: certificate: %s",
                        X509_verify_cert_error_string(
                            SSL_get_verify_result(c->ssl)));
        else
            check_failf(c, 0, "TLS handshake failed: %s",
                        gh_tls_error(c->ssl, r, why, sizeof(why)));
        return GH_ERR;
    }
}

/* send(2)/recv(2) on the check's socket, through TLS when it has it. */
static ssize_t
check_io(struct check *c, int wr, void *p, size_t n)
{
    int r;

    if (c->ssl == NULL)
        return wr ? send(c->ev.fd, p, n, MSG_NOSIGNAL)
                  : recv(c->ev.fd, p, n, 0);
    ERR_clear_error();
    r = wr ? SSL_write(c->ssl, p, (int) n) : SSL_read(c->ssl, p, (int) n);
    if (r > 0)
        return r;
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_SYSCALL:
        if (r == 0 || errno == 0)
            return 0;
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

static int
check_step_send(struct check *c)
{
    while (c->sent < c->req_len) {
        ssize_t n = check_io(c, 1, c->req + c->sent, c->req_len - c->sent);

        if (n >= 0) {
            c->sent += (size_t) n;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN) {
            return GH_AGAIN;
        } else {
            check_failf(c, errno, "send() failed");
            return GH_ERR;
        }
    }
    c->state = CHECK_READ;
    return GH_OK;
}

static int
check_step_read(struct check *c)
{
    char buf[1024];

    for (;;) {
        size_t want = GH_MIN(sizeof(buf), CHECK_READ_MAX - c->got);
        ssize_t n;
        int rc;

        if (want == 0) {
            check_failf(c, 0, "invalid response");  /* no line end yet */
            return GH_ERR;
        }
        n = check_io(c, 0, buf, want);
        if (n == 0) {
            check_failf(c, 0, "connection closed");
            return GH_ERR;
        }
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return GH_AGAIN;
            check_failf(c, errno, "recv() failed");
            return GH_ERR;
        }
        c->got += (size_t) n;
        rc = check_parse(&c->sl, buf, (size_t) n);
        if (rc == GH_ERR) {
            check_failf(c, 0, "invalid response");
            return GH_ERR;
        }
        if (rc == GH_OK) {
            /* The rest of the response does not matter: closing now
             * resets the connection if more is coming, which is the
             * cheapest way to say so. */
            if (c->sl.status < c->u->health.status_lo
                || c->sl.status > c->u->health.status_hi) {
                check_failf(c, 0, "status %u", c->sl.status);
                return GH_ERR;
            }
            c->state = CHECK_DONE;
            return GH_OK;
        }
    }
}

typedef int (*check_step)(struct check *c);

static const check_step check_steps[CHECK_NSTATES] = {
#define CHECK_STEP(id, fn) check_step_##fn,
    CHECK_STATES(CHECK_STEP)
#undef CHECK_STEP
};

static void
check_run(struct check *c)
{
    int rc;

    do {
        rc = check_steps[c->state](c);
    } while (rc == GH_OK && c->state != CHECK_DONE);
    if (rc == GH_ERR)
        check_finish(c, 0);
    else if (c->state == CHECK_DONE)
        check_finish(c, 1);
}

/* ---- the process -------------------------------------------------------- */

/* The request of an HTTP check, composed once per server.  Owns: free(). */
static char *
check_request(const struct gh_upstream *u, const struct gh_server *s,
              size_t *len)
{
    const char *host = u->health.host ? u->health.host : s->addr.text;
    const char *path = u->health.path ? u->health.path : "/";
    char *r;
    int n;

    n = asprintf(&r, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                 "User-Agent: gatehouse-health\r\n\r\n", path, host);
    if (n < 0)
        return NULL;
    *len = (size_t) n;
    return r;
}

static int
checker_init(struct checker *ck)
{
    const struct gh_conf *conf = ck->conf;
    uint32_t n = 0, k = 0;

    for (uint32_t i = 0; i < conf->nupstreams; i++)
        if (conf->upstreams[i].health.type != GH_HEALTH_NONE)
            n += conf->upstreams[i].nservers;
    ck->checks = calloc(n ? n : 1, sizeof(*ck->checks));
    if (ck->checks == NULL)
        return GH_ERR;
    for (uint32_t i = 0; i < conf->nupstreams; i++) {
        const struct gh_upstream *u = &conf->upstreams[i];
        const struct gh_health *h = &u->health;

        if (h->type == GH_HEALTH_NONE)
            continue;
        /* The parser guarantees these; a zero interval would spin. */
        if (h->interval <= 0 || h->timeout <= 0 || h->rise == 0
            || h->fall == 0) {
            gh_log(GH_LOG_ALERT, 0, "upstream %s: invalid health settings "
                   "(interval %lld, timeout %lld, rise %u, fall %u), not "
                   "checked", u->name, (long long) h->interval,
                   (long long) h->timeout, h->rise, h->fall);
            continue;
        }
        for (uint32_t j = 0; j < u->nservers; j++) {
            struct check *c = &ck->checks[k];

            ck->nchecks = k + 1;   /* so that destroy frees it */
            c->ev.fd = -1;
            c->ev.handler = check_ev;
            c->timer.handler = check_timer;
            c->ck = ck;
            c->u = u;
            c->s = &u->servers[j];
            c->st = gh_state_server(ck->shm, c->s);
            c->state = CHECK_IDLE;
            k++;
            if (h->type == GH_HEALTH_HTTP) {
                c->req = check_request(u, c->s, &c->req_len);
                if (c->req == NULL)
                    return GH_ERR;
            }
        }
    }
    /* Spread the first checks over the first interval, so that a hundred
     * servers are not all connected to in the same millisecond (nor every
     * interval after, as each keeps its own cadence). */
    for (uint32_t i = 0; i < k; i++) {
        struct check *c = &ck->checks[i];

        gh_timer_set(&ck->loop, &c->timer,
                     c->u->health.interval * (gh_msec) i / (gh_msec) k);
    }
    return GH_OK;
}

static void
checker_destroy(struct checker *ck)
{
    for (uint32_t i = 0; i < ck->nchecks; i++) {
        struct check *c = &ck->checks[i];

        gh_timer_del(&ck->loop, &c->timer);
        gh_tls_free(c->ssl);
        SSL_SESSION_free(c->sess);
        gh_ev_close(&ck->loop, &c->ev);
        free(c->req);
    }
    free(ck->checks);
    ck->checks = NULL;
    gh_loop_destroy(&ck->loop);
}

int
gh_checker_main(const struct gh_conf *conf, struct gh_shm *shm)
{
    static struct checker checker;
    struct checker *ck = &checker;
    sigset_t waitmask;
    pid_t master = getppid();
    int status = 0;

    *ck = (struct checker) { .conf = conf, .shm = shm };
    gh_log_set_slot(0);
    gh_priv_signals(checker_signal);
    /* Nobody would restart us or read our verdicts once the master is
     * gone: stop with it. */
    if (gh_priv_deathsig(SIGTERM, master))
        checker_stop = 1;
    /* Signals stay blocked (as the master left them) except in the wait,
     * so a flag is never set just after the loop looked at it. */
    sigemptyset(&waitmask);
    if (gh_loop_init(&ck->loop) != GH_OK) {
        gh_log(GH_LOG_EMERG, errno, "epoll_create1() failed");
        return 2;
    }
    ck->loop.sigmask = &waitmask;
    if (gh_priv_drop(conf) != GH_OK) {
        checker_destroy(ck);
        return 2;
    }
    /* Changing credentials cleared the parent-death signal: again. */
    if (gh_priv_deathsig(SIGTERM, master))
        checker_stop = 1;
    if (checker_init(ck) != GH_OK) {
        gh_log(GH_LOG_EMERG, ENOMEM, "checker start-up failed");
        checker_destroy(ck);
        return 2;
    }
    ck->rotation = checker_tls_keys != 0 ? gh_tls_rotation(conf) : 0;
    if (ck->rotation > 0) {
        ck->rotate.handler = checker_rotate;
        gh_timer_set(&ck->loop, &ck->rotate, ck->rotation);
    }
    while (!checker_stop) {
        if (gh_loop_once(&ck->loop, 1000) != GH_OK) {
            gh_log(GH_LOG_ALERT, errno, "epoll_pwait() failed");
            status = 2;
            break;
        }
        if (checker_reopen) {
            checker_reopen = 0;
            if (strcmp(conf->error_log, "stderr") != 0
                && gh_log_open(conf->error_log) != GH_OK)
                gh_log(GH_LOG_CRIT, errno, "cannot reopen \"%s\"",
                       conf->error_log);
        }
    }
    /* Checks in flight are dropped unfinished: no verdict is better than
     * one cut short by our own exit. */
    checker_destroy(ck);
    return status;
}
