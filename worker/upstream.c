#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "worker/core/log.h"
#include "worker/tls.h"
#include "worker/upstream.h"

/* ---- set-up ------------------------------------------------------------- */

#define UP_RING_POINTS 160      /* ring points per unit of weight */
#define UP_RING_MAX    65536    /* points per upstream, at most */

static uint64_t
up_mix(uint64_t x)
{
    /* splitmix64's finaliser: every input bit moves every output bit. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint32_t
gh_upstream_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return (uint32_t) (up_mix(h) >> 32);
}

static int
up_ring_cmp(const void *a, const void *b)
{
    const struct gh_ring_point *x = a, *y = b;

    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->server < y->server ? -1 : x->server > y->server;
}

/*
 * The consistent-hash ring (ketama style): UP_RING_POINTS points per unit
 * of weight for each primary server, at hashes of "ADDR#k".  A server that
 * goes away takes only its own points with it.
 */
static int
up_ring_build(struct gh_upstream_rt *up)
{
    const struct gh_upstream *u = up->conf;
    uint64_t total = 0;
    uint32_t n = 0;
    char key[96];

    for (uint32_t i = 0; i < u->nservers; i++)
        if (!u->servers[i].backup)
            total += (uint64_t) u->servers[i].weight * UP_RING_POINTS;
    if (total == 0)
        return GH_OK;
    up->ring = calloc(GH_MIN(total, UP_RING_MAX + u->nservers),
                      sizeof(*up->ring));
    if (up->ring == NULL)
        return GH_ERR;
    for (uint32_t i = 0; i < u->nservers; i++) {
        const struct gh_server *s = &u->servers[i];
        uint64_t pts = (uint64_t) s->weight * UP_RING_POINTS;

        if (s->backup)
            continue;
        if (total > UP_RING_MAX)
            pts = GH_MAX(1, pts * UP_RING_MAX / total);
        for (uint64_t k = 0; k < pts; k++) {
            int len = snprintf(key, sizeof(key), "%s#%" PRIu64,
                               s->addr.text, k);

            up->ring[n].hash = gh_upstream_hash(key, (size_t) len);
            up->ring[n].server = i;
            n++;
        }
    }
    qsort(up->ring, n, sizeof(*up->ring), up_ring_cmp);
    up->nring = n;
    return GH_OK;
}

struct gh_upstream_rt *
gh_upstream_init(const struct gh_conf *conf, struct gh_shm *shm,
                 uint32_t seed, struct gh_shm_held *held)
{
    uint32_t base = 0, nsrv = 0;

    struct gh_upstream_rt *rt = calloc(conf->nupstreams ? conf->nupstreams
                                                        : 1, sizeof(*rt));

    if (rt == NULL)
        return NULL;
    for (uint32_t i = 0; i < conf->nupstreams; i++)
        nsrv += conf->upstreams[i].nservers;
    for (uint32_t i = 0; i < conf->nupstreams; i++) {
        const struct gh_upstream *u = &conf->upstreams[i];
        struct gh_upstream_rt *up = &rt[i];

        /* gh_state_proc_attach's order: all servers, then upstreams. */
        if (held != NULL) {
            up->held = &held[base];
            up->held_q = &held[nsrv + i];
        }
        base += u->nservers;

        up->conf = u;
        up->shm = shm;
        up->st = gh_state_upstream(shm, u);
        up->srv = calloc(u->nservers, sizeof(*up->srv));
        up->cand = calloc(u->nservers, 1);
        if (u->tls.on)
            up->sess = calloc(u->nservers, sizeof(*up->sess));
        up->rnd = up_mix(((uint64_t) seed << 32) ^ (i + 1)) | 1;
        if (up->srv == NULL || up->cand == NULL
            || (u->tls.on && up->sess == NULL)
            || (u->balance == GH_BALANCE_HASH && up_ring_build(up) != GH_OK)) {
            gh_upstream_destroy(rt, i + 1, NULL);
            return NULL;
        }
        for (uint32_t j = 0; j < u->nservers; j++)
            up->srv[j] = gh_state_server(shm, &u->servers[j]);
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
            gh_tls_free(uc->ssl);
            if (uc->ev.fd != -1)
                (void) close(uc->ev.fd);
            free(uc);
        }
        for (uint32_t j = 0; rt[i].sess != NULL && j < rt[i].conf->nservers;
             j++)
            SSL_SESSION_free(rt[i].sess[j]);
        free(rt[i].sess);
        free(rt[i].srv);
        free(rt[i].cand);
        free(rt[i].ring);
    }
    (void) loop;
    free(rt);
}

/* ---- choosing a server -------------------------------------------------- */

enum {
    UP_NO = 0,          /* not a candidate */
    UP_FREE,            /* usable, below max_conns */
    UP_FULL             /* usable, at max_conns */
};

static int
up_was_tried(const struct gh_up_tried *t, uint32_t i)
{
    for (uint32_t k = 0; t != NULL && k < t->n; k++)
        if (t->idx[k] == i)
            return 1;
    return 0;
}

static int64_t
up_active(const struct gh_shm_server *s)
{
    return __atomic_load_n(&s->active, __ATOMIC_RELAXED);
}

/*
 * Mark the candidates of one tier (BACKUP or not) in up->cand.  Returns how
 * many are free; *NFULL counts those at max_conns.
 */
static uint32_t
up_mark(struct gh_upstream_rt *up, gh_msec now, int backup,
        const struct gh_up_tried *tried, int ignore_health, uint32_t *nfull)
{
    const struct gh_upstream *u = up->conf;
    uint32_t n = 0;

    for (uint32_t i = 0; i < u->nservers; i++) {
        const struct gh_server *s = &u->servers[i];
        int recovered;

        up->cand[i] = UP_NO;
        if (s->backup != backup || up_was_tried(tried, i))
            continue;
        if (!gh_state_server_usable(up->srv[i], now, &recovered)
            && !ignore_health)
            continue;
        if (recovered)
            gh_log(GH_LOG_NOTICE, 0, "upstream %s server %s is tried again "
                   "after failures", u->name, s->addr.text);
        if (s->max_conns && up_active(up->srv[i]) >= s->max_conns) {
            up->cand[i] = UP_FULL;
            (*nfull)++;
            continue;
        }
        up->cand[i] = UP_FREE;
        n++;
    }
    return n;
}

/* Take an active slot on server I unless it is at max_conns. */
static int
up_take(struct gh_upstream_rt *up, uint32_t i)
{
    struct gh_shm_server *s = up->srv[i];
    uint32_t max = up->conf->servers[i].max_conns;
    int64_t a = up_active(s);

    do {
        if (max && a >= max)
            return 0;
    } while (!__atomic_compare_exchange_n(&s->active, &a, a + 1, 1,
                                          __ATOMIC_ACQ_REL,
                                          __ATOMIC_RELAXED));
    if (up->held != NULL)
        __atomic_add_fetch(&up->held[i].n, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
    return 1;
}

/* Smooth weighted round-robin over the free candidates.  Lock held. */
static int64_t
up_rr_locked(struct gh_upstream_rt *up, gh_msec now)
{
    const struct gh_upstream *u = up->conf;
    int64_t total = 0, best = -1;

    for (uint32_t i = 0; i < u->nservers; i++) {
        const struct gh_server *s = &u->servers[i];
        struct gh_shm_server *ss = up->srv[i];

        if (up->cand[i] != UP_FREE)
            continue;
        ss->cw += gh_state_server_weight(ss, s->weight, s->slow_start, now);
        total += gh_state_server_weight(ss, s->weight, s->slow_start, now);
        if (best < 0 || ss->cw > up->srv[best]->cw)
            best = i;
    }
    if (best >= 0)
        up->srv[best]->cw -= total;
    return best;
}

/* Fewest requests in flight per unit of weight; ties by rotation.  Lock
 * held. */
static int64_t
up_lc_locked(struct gh_upstream_rt *up, gh_msec now)
{
    const struct gh_upstream *u = up->conf;
    uint32_t n = u->nservers, start = (uint32_t) (up->st->seq++ % n);
    int64_t best = -1, ba = 0, bw = 1;

    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = (start + k) % n;
        const struct gh_server *s = &u->servers[i];
        int64_t a, w;

        if (up->cand[i] != UP_FREE)
            continue;
        a = up_active(up->srv[i]);
        w = gh_state_server_weight(up->srv[i], s->weight, s->slow_start, now);
        if (best < 0 || a * bw < ba * w) {
            best = i;
            ba = a;
            bw = w;
        }
    }
    return best;
}

/* Round-robin and least_conn: decide and take the slot under the lock, so
 * the sequence is the daemon's, not each worker's. */
static int64_t
up_pick_locked(struct gh_upstream_rt *up, gh_msec now, int lc)
{
    struct gh_shm_upstream *st = up->st;
    int64_t best;
    int rc = gh_shm_lock_acquire(&st->lock);

    if (rc == GH_DECLINED) {
        /* A worker died in the middle of a step: the rotation's weights
         * may be half-updated.  Start the rotation afresh. */
        for (uint32_t i = 0; i < up->conf->nservers; i++)
            up->srv[i]->cw = 0;
        gh_shm_lock_repaired(&st->lock);
    } else if (rc == GH_ERR) {
        gh_log(GH_LOG_ALERT, errno, "upstream %s: balancer lock unusable",
               up->conf->name);
        return -1;
    }
    best = lc ? up_lc_locked(up, now) : up_rr_locked(up, now);
    if (best >= 0 && !up_take(up, (uint32_t) best))
        best = -1;
    gh_shm_lock_release(&st->lock);
    if (rc == GH_DECLINED)      /* logged out of the lock */
        gh_log(GH_LOG_WARN, 0, "upstream %s: balancer lock recovered from a "
               "dead process", up->conf->name);
    return best;
}

static uint64_t
up_rand(struct gh_upstream_rt *up)
{
    /* xorshift64*: enough for picking servers. */
    up->rnd ^= up->rnd >> 12;
    up->rnd ^= up->rnd << 25;
    up->rnd ^= up->rnd >> 27;
    return up->rnd * 0x2545f4914f6cdd1dULL;
}

/* The K-th free candidate. */
static uint32_t
up_nth_free(const struct gh_upstream_rt *up, uint32_t k)
{
    for (uint32_t i = 0; i < up->conf->nservers; i++)
        if (up->cand[i] == UP_FREE && k-- == 0)
            return i;
    return 0;
}

/* Power of two choices: the lower of (active + 1) x latency / weight. */
static int64_t
up_random2(struct gh_upstream_rt *up, uint32_t nfree, gh_msec now)
{
    const struct gh_upstream *u = up->conf;
    uint32_t a = up_nth_free(up, (uint32_t) (up_rand(up) % nfree)), b = a;
    double sa, sb;

    if (nfree > 1) {
        uint32_t k = (uint32_t) (up_rand(up) % (nfree - 1));

        b = up_nth_free(up, k);
        if (b == a)
            b = up_nth_free(up, nfree - 1);
    }
    sa = (double) (up_active(up->srv[a]) + 1)
         * (double) (__atomic_load_n(&up->srv[a]->ewma_us, __ATOMIC_RELAXED)
                     + 1000)
         / gh_state_server_weight(up->srv[a], u->servers[a].weight,
                                  u->servers[a].slow_start, now);
    sb = (double) (up_active(up->srv[b]) + 1)
         * (double) (__atomic_load_n(&up->srv[b]->ewma_us, __ATOMIC_RELAXED)
                     + 1000)
         / gh_state_server_weight(up->srv[b], u->servers[b].weight,
                                  u->servers[b].slow_start, now);
    if (sb < sa) {
        uint32_t t = a;

        a = b;
        b = t;
    }
    if (up_take(up, a))
        return a;
    if (b != a && up_take(up, b))
        return b;
    return -1;
}

/* Consistent hashing: the first free candidate clockwise from HASH. */
static int64_t
up_hash(struct gh_upstream_rt *up, uint32_t hash)
{
    uint32_t lo = 0, hi = up->nring;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (up->ring[mid].hash < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint32_t k = 0; k < up->nring; k++) {
        uint32_t i = up->ring[(lo + k) % up->nring].server;

        if (up->cand[i] == UP_FREE && up_take(up, i))
            return i;
    }
    return -1;
}

static int64_t
up_choose(struct gh_upstream_rt *up, gh_msec now, uint32_t nfree,
          int backup, uint64_t hash, int have_hash)
{
    switch (up->conf->balance) {
    case GH_BALANCE_LEAST_CONN:
        return up_pick_locked(up, now, 1);
    case GH_BALANCE_RANDOM2:
        return up_random2(up, nfree, now);
    case GH_BALANCE_HASH:
        if (have_hash && !backup && up->nring > 0)
            return up_hash(up, (uint32_t) hash);
        return up_pick_locked(up, now, 0);
    default:
        return up_pick_locked(up, now, 0);
    }
}

/* Seconds until a server may be usable again (Retry-After), >= 1. */
static uint32_t
up_retry_after(const struct gh_upstream_rt *up, gh_msec now)
{
    const struct gh_upstream *u = up->conf;
    gh_msec best = -1;

    for (uint32_t i = 0; i < u->nservers; i++) {
        const struct gh_shm_server *s = up->srv[i];
        gh_msec t = 0;

        if (__atomic_load_n(&s->health, __ATOMIC_RELAXED) != GH_SRV_UP)
            t = u->health.interval * GH_MAX(1, u->health.rise);
        if (__atomic_load_n(&s->passive_down, __ATOMIC_RELAXED))
            t = GH_MAX(t, __atomic_load_n(&s->down_until, __ATOMIC_RELAXED)
                          - now);
        if (best < 0 || t < best)
            best = t;
    }
    return best <= 1000 ? 1 : (uint32_t) ((best + 999) / 1000);
}

int
gh_upstream_pick(struct gh_upstream_rt *up, gh_msec now, uint64_t hash,
                 int have_hash, const struct gh_up_tried *tried,
                 uint32_t *server, uint32_t *retry_after)
{
    /* Pass 0: usable servers not yet tried; 1: all_down = "try_anyway",
     * health ignored (never a server that failed this request). */
    for (int pass = 0; pass < 2; pass++) {
        uint32_t nfull = 0;

        if (pass == 1 && !up->conf->all_down_try)
            break;
        for (int backup = 0; backup < 2; backup++) {
            for (int attempt = 0; attempt < 4; attempt++) {
                uint32_t nfree = up_mark(up, now, backup, tried, pass == 1,
                                         &nfull);
                int64_t s;

                if (nfree == 0)
                    break;
                s = up_choose(up, now, nfree, backup, hash, have_hash);
                if (s >= 0) {
                    *server = (uint32_t) s;
                    return GH_OK;
                }
                /* Filled up by other workers meanwhile: look again. */
                nfull++;
            }
        }
        if (nfull > 0)
            return GH_AGAIN;
    }
    *retry_after = up_retry_after(up, now);
    return GH_DECLINED;
}

void
gh_upstream_done(struct gh_upstream_rt *up, uint32_t server)
{
    if (up->held != NULL)
        __atomic_sub_fetch(&up->held[server].n, 1, __ATOMIC_RELEASE);
    __atomic_sub_fetch(&up->srv[server]->active, 1, __ATOMIC_ACQ_REL);
}

int64_t
gh_upstream_queue_enter(struct gh_upstream_rt *up)
{
    if (up->held_q != NULL)
        __atomic_add_fetch(&up->held_q->n, 1, __ATOMIC_RELEASE);
    return __atomic_add_fetch(&up->st->queued, 1, __ATOMIC_ACQ_REL);
}

void
gh_upstream_queue_leave(struct gh_upstream_rt *up)
{
    if (up->held_q != NULL)
        __atomic_sub_fetch(&up->held_q->n, 1, __ATOMIC_RELEASE);
    __atomic_sub_fetch(&up->st->queued, 1, __ATOMIC_ACQ_REL);
}

void
gh_upstream_failed(struct gh_upstream_rt *up, uint32_t server, gh_msec now)
{
    const struct gh_upstream *u = up->conf;

    /* As nginx: a lone server is never marked down by failures (there is
     * nothing better to send its requests to). */
    if (gh_state_server_fail(up->srv[server],
                             u->nservers > 1 ? u->max_fails : 0,
                             u->fail_timeout, now))
        gh_log(GH_LOG_WARN, 0, "upstream %s server %s is marked down for "
               "%" PRId64 ".%03" PRId64 "s after %u failure%s", u->name,
               u->servers[server].addr.text, u->fail_timeout / 1000,
               u->fail_timeout % 1000, u->max_fails,
               u->max_fails == 1 ? "" : "s");
}

void
gh_upstream_latency(struct gh_upstream_rt *up, uint32_t server, gh_msec ms)
{
    gh_state_server_latency(up->srv[server], ms);
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
    gh_tls_free(uc->ssl);
    uc->ssl = NULL;
    gh_ev_close(loop, &uc->ev);
    gh_loop_defer_free(loop, uc);
}
