#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shm/ctable.h"
#include "shm/slab.h"
#include "shm/state.h"

const uint32_t gh_lat_bounds_ms[GH_LAT_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

/* The registry: open addressing, linear probing, identity -> entry. */
enum state_kind {
    STATE_UPSTREAM = 1,
    STATE_SERVER,
    STATE_ROUTE
};

struct gh_state_slot {
    uint64_t hash;              /* of kind + key; 0: empty */
    gh_off   obj;
    uint32_t kind;
    uint32_t pad;
};

#define STATE_REGISTRY_MIN 256

static uint64_t
state_hash(uint32_t kind, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ kind;

    for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;
}

static char *
state_key(const struct gh_shm *shm, uint32_t kind, gh_off obj)
{
    void *p = gh_shm_ptr(shm, obj);

    switch (kind) {
    case STATE_UPSTREAM:
        return ((struct gh_shm_upstream *) p)->key;
    case STATE_SERVER:
        return ((struct gh_shm_server *) p)->key;
    default:
        return ((struct gh_shm_route *) p)->key;
    }
}

int
gh_state_init(struct gh_shm *shm, char *err, size_t errlen)
{
    struct gh_shm_globals *g;
    gh_off off;

    if (gh_slab_init(shm, err, errlen) != GH_OK)
        return GH_ERR;
    off = gh_slab_calloc(shm, sizeof(*g));
    if (off == 0)
        goto full;
    g = gh_shm_ptr(shm, off);
    if (gh_shm_lock_init(&g->lock) != GH_OK) {
        snprintf(err, errlen, "cannot initialise a process-shared lock");
        return GH_ERR;
    }
    g->registry = gh_slab_calloc(shm, STATE_REGISTRY_MIN
                                      * sizeof(struct gh_state_slot));
    if (g->registry == 0)
        goto full;
    g->nregistry = STATE_REGISTRY_MIN;
    shm->hdr->state = off;
    return GH_OK;
full:
    snprintf(err, errlen, "shared memory of %zu bytes is too small for the "
             "daemon's state", shm->size);
    return GH_ERR;
}

/* Double the registry.  Registry lock held. */
static int
state_grow_locked(struct gh_shm *shm, struct gh_shm_globals *g)
{
    uint32_t n = g->nregistry * 2;
    gh_off off = gh_slab_calloc(shm, n * sizeof(struct gh_state_slot));
    struct gh_state_slot *old = gh_shm_ptr(shm, g->registry), *nw;

    if (off == 0)
        return GH_ERR;
    nw = gh_shm_ptr(shm, off);
    for (uint32_t i = 0; i < g->nregistry; i++) {
        uint32_t j;

        if (old[i].hash == 0)
            continue;
        for (j = (uint32_t) old[i].hash & (n - 1); nw[j].hash != 0;
             j = (j + 1) & (n - 1))
            ;
        nw[j] = old[i];
    }
    /* Publish the new table before freeing the old one. */
    __atomic_store_n(&g->registry, off, __ATOMIC_RELEASE);
    gh_slab_free(shm, gh_shm_off(shm, old));
    g->nregistry = n;
    return GH_OK;
}

/*
 * The entry of KIND named KEY, created zeroed (SIZE bytes, KEY copied into
 * it, *CREATED = 1) when absent.  0 when the segment is full.
 */
static gh_off
state_get(struct gh_shm *shm, uint32_t kind, const char *key, size_t size,
          int *created)
{
    struct gh_shm_globals *g = gh_state_globals(shm);
    uint64_t h = state_hash(kind, key);
    struct gh_state_slot *t;
    gh_off off = 0;
    uint32_t i;
    int rc = gh_shm_lock_acquire(&g->lock);

    *created = 0;
    if (rc == GH_ERR)
        return 0;
    if (rc == GH_DECLINED)      /* only the master writes it: nothing half */
        gh_shm_lock_repaired(&g->lock);
    if ((g->used + 1) * 4 > g->nregistry * 3
        && state_grow_locked(shm, g) != GH_OK)
        goto out;
    t = gh_shm_ptr(shm, g->registry);
    for (i = (uint32_t) h & (g->nregistry - 1); t[i].hash != 0;
         i = (i + 1) & (g->nregistry - 1)) {
        if (t[i].hash == h && t[i].kind == kind
            && strcmp(state_key(shm, kind, t[i].obj), key) == 0) {
            off = t[i].obj;
            goto out;
        }
    }
    off = gh_slab_calloc(shm, size);
    if (off == 0)
        goto out;
    /* Every kind's key field is big enough for what bind formats. */
    strcpy(state_key(shm, kind, off), key);
    t[i].obj = off;
    t[i].kind = kind;
    __atomic_store_n(&t[i].hash, h, __ATOMIC_RELEASE);
    g->used++;
    *created = 1;
out:
    gh_shm_lock_release(&g->lock);
    return off;
}

/*
 * KEY (room SIZE) from FMT; an identity too long for the entry's key field
 * keeps its head and ends in a hash of the whole, so two long identities
 * that differ only at the end stay two entries.
 */
static void __attribute__((format(printf, 3, 4)))
state_key_fit(char *key, size_t size, const char *fmt, ...)
{
    char full[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(full, sizeof(full), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t) n < size) {
        memcpy(key, full, (size_t) n + 1);
        return;
    }
    snprintf(key, size, "%.*s#%016llx", (int) (size - 18), full,
             (unsigned long long) state_hash(0, full));
}

int
gh_state_bind(struct gh_shm *shm, struct gh_conf *conf, char *err,
              size_t errlen)
{
    char key[256];
    int created;

    for (uint32_t i = 0; i < conf->nupstreams; i++) {
        struct gh_upstream *u = &conf->upstreams[i];
        struct gh_shm_upstream *su;

        snprintf(key, sizeof(su->key), "%s", u->name);
        u->shm = state_get(shm, STATE_UPSTREAM, key, sizeof(*su), &created);
        if (u->shm == 0)
            goto full;
        su = gh_shm_ptr(shm, u->shm);
        if (created) {
            if (gh_shm_lock_init(&su->lock) != GH_OK) {
                snprintf(err, errlen, "cannot initialise a process-shared "
                         "lock");
                return GH_ERR;
            }
        }
        for (uint32_t j = 0; j < u->nservers; j++) {
            struct gh_server *s = &u->servers[j];
            struct gh_shm_server *ss;

            state_key_fit(key, sizeof(ss->key), "%s/%s", u->name,
                          s->addr.text);
            s->shm = state_get(shm, STATE_SERVER, key, sizeof(*ss),
                               &created);
            if (s->shm == 0)
                goto full;
        }
    }
    for (uint32_t i = 0; i < conf->nsites; i++) {
        struct gh_site *site = &conf->sites[i];

        for (uint32_t j = 0; j < site->nroutes; j++) {
            struct gh_route *r = &site->routes[j];
            struct gh_shm_route *sr;

            state_key_fit(key, sizeof(sr->key), "%s@%s%s",
                          site->name ? site->name : "",
                          site->nlisten ? site->listen[0].addr.text : "",
                          r->name ? r->name : r->path);
            r->shm = state_get(shm, STATE_ROUTE, key, sizeof(*sr),
                               &created);
            if (r->shm == 0)
                goto full;
        }
    }
    return GH_OK;
full:
    snprintf(err, errlen, "shared memory of %zu bytes is full: raise "
             "shm_size", shm->size);
    return GH_ERR;
}

/* ---- processes ---------------------------------------------------------- */

static int
state_lock(struct gh_shm_globals *g)
{
    int rc = gh_shm_lock_acquire(&g->lock);

    if (rc == GH_DECLINED)      /* entries are written whole, pid last */
        gh_shm_lock_repaired(&g->lock);
    return rc == GH_ERR ? GH_ERR : GH_OK;
}

/*
 * PID's entry in the process table, else a free one (zeroed), else NULL.
 * PID's first: gh_state_proc_attach() and gh_state_proc_ct() fill one
 * entry, in either order.  Globals lock held.
 */
static struct gh_shm_proc *
state_proc_locked(struct gh_shm_globals *g, int32_t pid)
{
    struct gh_shm_proc *freep = NULL;

    for (uint32_t i = 0; i < GH_NELEM(g->procs); i++) {
        struct gh_shm_proc *p = &g->procs[i];

        if (p->pid == pid)
            return p;
        if (p->pid == 0 && freep == NULL)
            freep = p;
    }
    if (freep != NULL)
        *freep = (struct gh_shm_proc) { 0 };
    return freep;
}

struct gh_shm_held *
gh_state_proc_attach(struct gh_shm *shm, const struct gh_conf *conf,
                     int32_t pid)
{
    struct gh_shm_globals *g = gh_state_globals(shm);
    struct gh_shm_proc *p;
    struct gh_shm_held *h;
    uint32_t n = conf->nupstreams, k = 0;
    gh_off off;

    for (uint32_t i = 0; i < conf->nupstreams; i++)
        n += conf->upstreams[i].nservers;
    off = gh_slab_calloc(shm, (n ? n : 1) * sizeof(*h));
    if (off == 0)
        return NULL;
    h = gh_shm_ptr(shm, off);
    for (uint32_t i = 0; i < conf->nupstreams; i++)
        for (uint32_t j = 0; j < conf->upstreams[i].nservers; j++)
            h[k++] = (struct gh_shm_held) {
                .obj = conf->upstreams[i].servers[j].shm,
                .kind = GH_HELD_ACTIVE };
    for (uint32_t i = 0; i < conf->nupstreams; i++)
        h[k++] = (struct gh_shm_held) { .obj = conf->upstreams[i].shm,
                                        .kind = GH_HELD_QUEUED };
    if (state_lock(g) != GH_OK)
        goto fail;
    p = state_proc_locked(g, pid);
    if (p != NULL) {
        p->n = n;
        p->held = off;
        __atomic_store_n(&p->pid, pid, __ATOMIC_RELEASE);
        gh_shm_lock_release(&g->lock);
        return h;
    }
    gh_shm_lock_release(&g->lock);
fail:
    gh_slab_free(shm, off);
    return NULL;
}

/* Take N (> 0) off the daemon-wide connection count, never below 0.
 * Returns what was taken off. */
static int64_t
state_conns_sub(struct gh_shm_globals *g, int64_t n)
{
    int64_t cur = __atomic_load_n(&g->client_conns, __ATOMIC_RELAXED), d;

    do {
        d = GH_MIN(n, cur);
        if (d <= 0)
            return 0;
    } while (!__atomic_compare_exchange_n(&g->client_conns, &cur, cur - d, 1,
                                          __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return d;
}

/* Give back and free the client-table holds at OFF.  Globals lock held. */
static int64_t
state_ct_reap_locked(struct gh_shm *shm, struct gh_shm_globals *g,
                     gh_off off)
{
    struct gh_shm_ct_held *h = gh_shm_ptr(shm, off);
    int64_t given = 0;

    if (h == NULL)
        return 0;
    if (h->magic == GH_CT_HELD_MAGIC && h->total > 0)
        given = state_conns_sub(g, h->total);
    return given + gh_ctable_held_reap(shm, off);
}

int
gh_state_proc_ct(struct gh_shm *shm, int32_t pid, gh_off off)
{
    struct gh_shm_globals *g = gh_state_globals(shm);
    struct gh_shm_proc *p;

    if (g == NULL || state_lock(g) != GH_OK)
        return GH_ERR;
    p = state_proc_locked(g, pid);
    if (p != NULL) {
        if (p->ct != 0)
            (void) state_ct_reap_locked(shm, g, p->ct);    /* replaced */
        p->ct = off;
        __atomic_store_n(&p->pid, pid, __ATOMIC_RELEASE);
    }
    gh_shm_lock_release(&g->lock);
    return p != NULL ? GH_OK : GH_ERR;
}

int64_t
gh_state_proc_reap(struct gh_shm *shm, int32_t pid)
{
    struct gh_shm_globals *g = gh_state_globals(shm);
    int64_t given = 0;

    if (g == NULL || state_lock(g) != GH_OK)
        return 0;
    for (uint32_t i = 0; i < GH_NELEM(g->procs); i++) {
        struct gh_shm_proc *p = &g->procs[i];
        struct gh_shm_held *h;

        if (p->pid != pid)
            continue;
        h = gh_shm_ptr(shm, p->held);
        for (uint32_t k = 0; k < p->n; k++) {
            int64_t n = __atomic_load_n(&h[k].n, __ATOMIC_ACQUIRE);

            if (n <= 0 || h[k].obj == 0)
                continue;
            if (h[k].kind == GH_HELD_ACTIVE)
                __atomic_sub_fetch(&((struct gh_shm_server *)
                                     gh_shm_ptr(shm, h[k].obj))->active, n,
                                   __ATOMIC_ACQ_REL);
            else if (h[k].kind == GH_HELD_QUEUED)
                __atomic_sub_fetch(&((struct gh_shm_upstream *)
                                     gh_shm_ptr(shm, h[k].obj))->queued, n,
                                   __ATOMIC_ACQ_REL);
            given += n;
        }
        gh_slab_free(shm, p->held);
        given += state_ct_reap_locked(shm, g, p->ct);
        *p = (struct gh_shm_proc) { 0 };
        break;
    }
    gh_shm_lock_release(&g->lock);
    return given;
}

/* ---- the daemon-wide connection count ----------------------------------- */

int
gh_state_conn_open(struct gh_shm *shm, struct gh_shm_ct_held *held,
                   uint64_t limit)
{
    struct gh_shm_globals *g = gh_state_globals(shm);
    int64_t cur;

    /* Recorded first: a worker killed before the count leaves the total
     * one too low after the give-back (clamped), never too high. */
    if (held != NULL) {
        __atomic_store_n(&held->total, held->total + 1, __ATOMIC_RELAXED);
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    if (limit == 0) {
        __atomic_add_fetch(&g->client_conns, 1, __ATOMIC_RELAXED);
        return GH_OK;
    }
    cur = __atomic_load_n(&g->client_conns, __ATOMIC_RELAXED);
    do {
        if (cur >= 0 && (uint64_t) cur >= limit) {
            if (held != NULL)
                __atomic_store_n(&held->total, held->total - 1,
                                 __ATOMIC_RELAXED);
            return GH_DECLINED;
        }
    } while (!__atomic_compare_exchange_n(&g->client_conns, &cur, cur + 1, 1,
                                          __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return GH_OK;
}

void
gh_state_conn_close(struct gh_shm *shm, struct gh_shm_ct_held *held)
{
    (void) state_conns_sub(gh_state_globals(shm), 1);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);    /* uncounted, unrecorded */
    if (held != NULL && held->total > 0)
        __atomic_store_n(&held->total, held->total - 1, __ATOMIC_RELAXED);
}

int64_t
gh_state_conns(const struct gh_shm *shm)
{
    if (shm->hdr == NULL || shm->hdr->state == 0)
        return 0;
    return __atomic_load_n(&gh_state_globals(shm)->client_conns,
                           __ATOMIC_RELAXED);
}

/* ---- servers ------------------------------------------------------------ */

int
gh_state_server_usable(struct gh_shm_server *s, gh_msec now, int *recovered)
{
    uint32_t one = 1;

    *recovered = 0;
    if (__atomic_load_n(&s->health, __ATOMIC_RELAXED) != GH_SRV_UP)
        return 0;
    if (!__atomic_load_n(&s->passive_down, __ATOMIC_ACQUIRE))
        return 1;
    if (now < __atomic_load_n(&s->down_until, __ATOMIC_RELAXED))
        return 0;
    /* The mark ran out: the first to see it lifts it (and logs). */
    if (__atomic_compare_exchange_n(&s->passive_down, &one, 0, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        __atomic_store_n(&s->fails, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&s->fail_start, now, __ATOMIC_RELAXED);
        __atomic_store_n(&s->up_since, now, __ATOMIC_RELAXED);
        *recovered = 1;
    }
    return 1;
}

uint32_t
gh_state_server_weight(const struct gh_shm_server *s, uint32_t weight,
                       gh_msec slow_start, gh_msec now)
{
    gh_msec since, w;

    if (slow_start <= 0)
        return weight;
    since = __atomic_load_n(&s->up_since, __ATOMIC_RELAXED);
    if (since == 0 || now - since >= slow_start)
        return weight;
    w = (gh_msec) weight * (now - since) / slow_start;
    return w < 1 ? 1 : (uint32_t) w;
}

int
gh_state_server_fail(struct gh_shm_server *s, uint32_t max_fails,
                     gh_msec fail_timeout, gh_msec now)
{
    gh_msec start;
    uint32_t n, zero = 0;

    __atomic_add_fetch(&s->failures, 1, __ATOMIC_RELAXED);
    if (max_fails == 0)
        return 0;
    start = __atomic_load_n(&s->fail_start, __ATOMIC_RELAXED);
    if (now - start >= fail_timeout
        && __atomic_compare_exchange_n(&s->fail_start, &start, now, 0,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        __atomic_store_n(&s->fails, 0, __ATOMIC_RELAXED);
    n = __atomic_add_fetch(&s->fails, 1, __ATOMIC_RELAXED);
    if (n < max_fails)
        return 0;
    /* down_until first, so whoever sees the mark sees its end. */
    __atomic_store_n(&s->down_until, now + fail_timeout, __ATOMIC_RELEASE);
    if (__atomic_compare_exchange_n(&s->passive_down, &zero, 1, 0,
                                    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        __atomic_store_n(&s->fails, 0, __ATOMIC_RELAXED);
        return 1;
    }
    return 0;
}

void
gh_state_server_latency(struct gh_shm_server *s, gh_msec ms)
{
    uint64_t us = ms < 0 ? 0 : (uint64_t) ms * 1000, old, nw;
    uint32_t b;

    for (b = 0; b < GH_LAT_BUCKETS - 1; b++)
        if (ms <= (gh_msec) gh_lat_bounds_ms[b])
            break;
    __atomic_add_fetch(&s->lat[b], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->lat_sum_us, us, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->lat_count, 1, __ATOMIC_RELAXED);
    /* EWMA with alpha 1/8; the first sample seeds it. */
    old = __atomic_load_n(&s->ewma_us, __ATOMIC_RELAXED);
    do {
        nw = old == 0 ? us + 1
                      : (uint64_t) ((int64_t) old
                                    + ((int64_t) us - (int64_t) old) / 8);
        if (nw == 0)
            nw = 1;
    } while (!__atomic_compare_exchange_n(&s->ewma_us, &old, nw, 1,
                                          __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
}

int
gh_state_server_check(struct gh_shm_server *s, int ok, uint32_t rise,
                      uint32_t fall, gh_msec now)
{
    uint32_t one = 1;
    int changed = 0;

    if (__atomic_load_n(&s->health, __ATOMIC_RELAXED) == GH_SRV_UP) {
        if (ok) {
            s->fall_n = 0;
            /* Marked down by the workers' failures, but it passes `rise`
             * checks in a row: it is back, without waiting out
             * fail_timeout. */
            if (__atomic_load_n(&s->passive_down, __ATOMIC_ACQUIRE)
                && now < __atomic_load_n(&s->down_until, __ATOMIC_RELAXED)) {
                if (++s->rise_n >= rise
                    && __atomic_compare_exchange_n(&s->passive_down, &one,
                                                   0, 0, __ATOMIC_ACQ_REL,
                                                   __ATOMIC_RELAXED)) {
                    s->rise_n = 0;
                    __atomic_store_n(&s->fails, 0, __ATOMIC_RELAXED);
                    __atomic_store_n(&s->up_since, now, __ATOMIC_RELAXED);
                    changed = 1;
                }
            } else {
                s->rise_n = 0;
            }
        } else if (++s->fall_n >= fall) {
            s->rise_n = 0;
            __atomic_store_n(&s->health, GH_SRV_DOWN, __ATOMIC_RELEASE);
            changed = 1;
        } else {
            s->rise_n = 0;
        }
    } else {
        if (!ok) {
            s->rise_n = 0;
        } else if (++s->rise_n >= rise) {
            s->fall_n = 0;
            s->rise_n = 0;
            /* Up by the checker's word: a passive mark goes too. */
            __atomic_store_n(&s->passive_down, 0, __ATOMIC_RELEASE);
            __atomic_store_n(&s->up_since, now, __ATOMIC_RELAXED);
            __atomic_store_n(&s->health, GH_SRV_UP, __ATOMIC_RELEASE);
            changed = 1;
        }
    }
    __atomic_store_n(&s->checked, 1, __ATOMIC_RELAXED);
    return changed;
}
