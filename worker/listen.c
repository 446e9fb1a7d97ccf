#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/listen.h"

static int
listen_same(const struct gh_addr *a, const struct gh_addr *b)
{
    return a->salen == b->salen && memcmp(&a->sa, &b->sa, a->salen) == 0;
}

struct gh_listener *
gh_listen_build(const struct gh_conf *conf, uint32_t *n, char *err,
                size_t errlen)
{
    uint32_t cap = 0, cnt = 0;
    struct gh_listener *ls;

    for (uint32_t i = 0; i < conf->nsites; i++)
        cap += conf->sites[i].nlisten;
    ls = calloc(cap ? cap : 1, sizeof(*ls));
    if (ls == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_site *s = &conf->sites[i];

        for (uint32_t j = 0; j < s->nlisten; j++) {
            uint32_t k;

            for (k = 0; k < cnt; k++)
                if (listen_same(&ls[k].addr, &s->listen[j].addr))
                    break;
            if (k == cnt) {
                ls[k].addr = s->listen[j].addr;
                ls[k].sites = calloc(conf->nsites, sizeof(*ls[k].sites));
                if (ls[k].sites == NULL) {
                    gh_listen_free(ls, cnt);
                    snprintf(err, errlen, "out of memory");
                    return NULL;
                }
                cnt++;
            }
            if (ls[k].nsites == 0 || ls[k].sites[ls[k].nsites - 1] != s)
                ls[k].sites[ls[k].nsites++] = s;
        }
    }
    *n = cnt;
    return ls;
}

static int
listen_socket(const struct gh_addr *a)
{
    int on = 1, fd;

    fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd == -1)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1
        || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1
        || (a->sa.ss_family == AF_INET6
            && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on))
               == -1)
        || bind(fd, (const struct sockaddr *) &a->sa, a->salen) == -1
        || listen(fd, 511) == -1) {
        int e = errno;

        (void) close(fd);   /* the errno above is the one to report */
        errno = e;
        return -1;
    }
    /* Our replies are written whole: no delayed ACK games (nodelay is
     * inherited by accepted sockets). */
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    return fd;
}

int
gh_listen_open_one(struct gh_listener *l, const int *have, uint32_t nhave,
                   uint32_t nslots, char *err, size_t errlen)
{
    uint32_t n = GH_MAX(nhave, nslots);

    l->fds = malloc(n * sizeof(int));
    if (l->fds == NULL) {
        snprintf(err, errlen, "out of memory");
        return GH_ERR;
    }
    l->nfds = n;
    for (uint32_t k = 0; k < n; k++)
        l->fds[k] = k < nhave ? have[k] : -1;
    for (uint32_t k = nhave; k < n; k++) {
        l->fds[k] = listen_socket(&l->addr);
        if (l->fds[k] == -1) {
            snprintf(err, errlen, "bind() to %s failed (%d: %s)",
                     l->addr.text, errno, strerror(errno));
            return GH_ERR;
        }
    }
    return GH_OK;
}

int
gh_listen_open(struct gh_listener *ls, uint32_t n, uint32_t nslots,
               char *err, size_t errlen)
{
    for (uint32_t i = 0; i < n; i++)
        if (gh_listen_open_one(&ls[i], NULL, 0, nslots, err, errlen)
            != GH_OK)
            return GH_ERR;
    return GH_OK;
}

struct gh_listener *
gh_listen_find(struct gh_listener *ls, uint32_t n, const struct gh_addr *a)
{
    for (uint32_t i = 0; i < n; i++)
        if (listen_same(&ls[i].addr, a))
            return &ls[i];
    return NULL;
}

void
gh_listen_free(struct gh_listener *ls, uint32_t n)
{
    if (ls == NULL)
        return;
    for (uint32_t i = 0; i < n; i++) {
        for (uint32_t k = 0; k < ls[i].nfds; k++)
            if (ls[i].fds[k] != -1)
                (void) close(ls[i].fds[k]);
        free(ls[i].fds);
        free(ls[i].sites);
    }
    free(ls);
}
