#include <errno.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/core/log.h"
#include "worker/upstream.h"

struct gh_upstream_rt *
gh_upstream_init(const struct gh_conf *conf)
{
    struct gh_upstream_rt *rt = calloc(conf->nupstreams ? conf->nupstreams
                                                        : 1, sizeof(*rt));

    if (rt == NULL)
        return NULL;
    for (uint32_t i = 0; i < conf->nupstreams; i++) {
        rt[i].conf = &conf->upstreams[i];
        rt[i].cw = calloc(conf->upstreams[i].nservers, sizeof(int64_t));
        if (rt[i].cw == NULL) {
            gh_upstream_destroy(rt, i, NULL);
            return NULL;
        }
    }
    return rt;
}

void
gh_upstream_destroy(struct gh_upstream_rt *rt, uint32_t n,
                    struct gh_loop *loop)
{
    if (rt == NULL)
        return;
    for (uint32_t i = 0; i < n; i++) {
        while (rt[i].idle != NULL) {
            struct gh_upconn *uc = rt[i].idle;

            rt[i].idle = uc->next;
            if (uc->ev.fd != -1)
                (void) close(uc->ev.fd);
            free(uc);
        }
        free(rt[i].cw);
    }
    (void) loop;
    free(rt);
}

uint32_t
gh_upstream_pick(struct gh_upstream_rt *up, int64_t exclude)
{
    const struct gh_upstream *u = up->conf;
    int64_t total = 0, best_w = 0;
    uint32_t best = 0;
    int found = 0;

    for (uint32_t i = 0; i < u->nservers; i++) {
        if ((int64_t) i == exclude && u->nservers > 1)
            continue;
        up->cw[i] += u->servers[i].weight;
        total += u->servers[i].weight;
        if (!found || up->cw[i] > best_w) {
            best = i;
            best_w = up->cw[i];
            found = 1;
        }
    }
    up->cw[best] -= total;
    return best;
}

static void
upconn_unlink(struct gh_upconn *uc)
{
    struct gh_upstream_rt *up = uc->up;

    if (uc->prev)
        uc->prev->next = uc->next;
    else
        up->idle = uc->next;
    if (uc->next)
        uc->next->prev = uc->prev;
    uc->next = uc->prev = NULL;
    up->nidle--;
}

struct gh_upconn *
gh_upstream_pool_take(struct gh_upstream_rt *up, uint32_t server)
{
    for (struct gh_upconn *uc = up->idle; uc != NULL; uc = uc->next) {
        if (uc->server == server) {
            upconn_unlink(uc);
            return uc;
        }
    }
    return NULL;
}

static struct gh_loop *pool_loop;

/* An idle pooled connection became readable or hung up: the server closed
 * it (or sent bytes nobody asked for).  Either way it is useless. */
static void
upconn_idle_event(struct gh_ev *ev, uint32_t events)
{
    struct gh_upconn *uc = gh_container_of(ev, struct gh_upconn, ev);

    /* Room in the send buffer (ACKs of our last request) is no news. */
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    upconn_unlink(uc);
    gh_upconn_close(pool_loop, uc);
}

void
gh_upstream_pool_put(struct gh_loop *loop, struct gh_upconn *uc)
{
    struct gh_upstream_rt *up = uc->up;

    uc->owner = NULL;
    if (up->conf->keepalive == 0) {
        gh_upconn_close(loop, uc);
        return;
    }
    if (up->nidle >= up->conf->keepalive) {
        /* Full: drop the least recently used, keep the warm one. */
        struct gh_upconn *old = up->idle;

        while (old->next != NULL)
            old = old->next;
        upconn_unlink(old);
        gh_upconn_close(loop, old);
    }
    pool_loop = loop;
    uc->ev.handler = upconn_idle_event;
    uc->prev = NULL;
    uc->next = up->idle;
    if (up->idle)
        up->idle->prev = uc;
    up->idle = uc;
    up->nidle++;
}

struct gh_upconn *
gh_upstream_connect(struct gh_upstream_rt *up, uint32_t server, int *rc)
{
    const struct gh_server *s = &up->conf->servers[server];
    struct gh_upconn *uc;
    int fd, on = 1;

    *rc = GH_ERR;
    fd = socket(s->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK
                | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return NULL;
    /* Requests and small responses go out in one segment each. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
        gh_log(GH_LOG_WARN, errno, "setsockopt(TCP_NODELAY) failed, ignored");
    if (connect(fd, (const struct sockaddr *) &s->addr.sa, s->addr.salen)
        == 0) {
        *rc = GH_OK;
    } else if (errno == EINPROGRESS) {
        *rc = GH_AGAIN;
    } else {
        int e = errno;

        (void) close(fd);
        errno = e;
        return NULL;
    }
    uc = calloc(1, sizeof(*uc));
    if (uc == NULL) {
        (void) close(fd);
        *rc = GH_ERR;
        errno = ENOMEM;
        return NULL;
    }
    uc->ev.fd = fd;
    uc->up = up;
    uc->server = server;
    return uc;
}

void
gh_upconn_close(struct gh_loop *loop, struct gh_upconn *uc)
{
    gh_ev_close(loop, &uc->ev);
    gh_loop_defer_free(loop, uc);
}
