/*
 * The metrics response body: Prometheus text exposition format 0.0.4 or
 * JSON, rendered from the config and the shared segment.  See
 * worker/metrics.h for the metric families.
 *
 * Everything is read with relaxed atomic loads and no lock, so a scrape
 * sees each counter as of some moment during the render, not one snapshot
 * of all of them.  Where the format demands that numbers agree (a
 * histogram's +Inf bucket equals its _count), both come from the same
 * loads.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "shm/cache.h"
#include "shm/shm.h"
#include "shm/ctable.h"
#include "shm/slab.h"
#include "shm/tlscache.h"
#include "shm/state.h"
#include "worker/core/gh.h"
#include "worker/metrics.h"

/* A growing output buffer.  Invariant: len < size when p != NULL (room for
 * the NUL); once oom is set nothing more is written. */
struct metrics_out {
    char  *p;           /* owns */
    size_t len;
    size_t size;
    int    oom;
};

#define METRICS_INITIAL 16384

static const char *const metrics_codes[5] = {
    "1xx", "2xx", "3xx", "4xx", "5xx"
};

/* ---- output ------------------------------------------------------------- */

/* Room for N more bytes and the NUL.  GH_OK, or GH_ERR (oom set). */
static int
metrics_reserve(struct metrics_out *o, size_t n)
{
    size_t size;
    char *p;

    if (o->oom)
        return GH_ERR;
    if (o->size - o->len > n)
        return GH_OK;
    size = o->size ? o->size : METRICS_INITIAL;
    while (size - o->len <= n) {
        if (size > SIZE_MAX / 2)
            goto oom;
        size *= 2;
    }
    p = realloc(o->p, size);
    if (p == NULL)
        goto oom;
    o->p = p;
    o->size = size;
    return GH_OK;
oom:
    o->oom = 1;
    return GH_ERR;
}

static void
metrics_mem(struct metrics_out *o, const char *s, size_t n)
{
    if (metrics_reserve(o, n) != GH_OK)
        return;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void
metrics_str(struct metrics_out *o, const char *s)
{
    metrics_mem(o, s, strlen(s));
}

GH_PRINTF(2, 3) static void
metrics_fmt(struct metrics_out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (metrics_reserve(o, 64) != GH_OK)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->p + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n < 0) {                /* only for a bad format: ours are fixed */
        o->oom = 1;
        return;
    }
    if ((size_t) n >= o->size - o->len) {
        if (metrics_reserve(o, (size_t) n) != GH_OK)
            return;
        va_start(ap, fmt);
        (void) vsnprintf(o->p + o->len, o->size - o->len, fmt, ap);
        va_end(ap);
    }
    o->len += (size_t) n;
}

/*
 * V / 10^DIGITS as an exact decimal without trailing zeros ("0.005", "2.5",
 * "10"): microseconds as seconds or milliseconds without a float's
 * rounding.
 */
static void
metrics_dec(struct metrics_out *o, uint64_t v, unsigned digits)
{
    uint64_t div = 1, frac;
    char buf[24];
    int n;

    for (unsigned i = 0; i < digits; i++)
        div *= 10;
    frac = v % div;
    if (frac == 0) {
        metrics_fmt(o, "%" PRIu64, v / div);
        return;
    }
    n = snprintf(buf, sizeof(buf), "%0*" PRIu64, (int) digits, frac);
    while (n > 0 && buf[n - 1] == '0')
        n--;
    metrics_fmt(o, "%" PRIu64 ".%.*s", v / div, n, buf);
}

/* Length of the well-formed UTF-8 sequence at P (N bytes left), 0 when it
 * is not one (bad lead, truncated, overlong, surrogate, beyond U+10FFFF). */
static size_t
metrics_utf8_len(const unsigned char *p, size_t n)
{
    uint32_t c;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        c = p[0] & 0x1f;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        c = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)))
        || (len == 4 && (c < 0x10000 || c > 0x10ffff)))
        return 0;
    return len;
}

/*
 * S as the inside of a quoted string.  Prometheus label values escape
 * backslash, double quote and line feed (the 0.0.4 format); JSON escapes
 * the first two and every control character as \u00XX (RFC 8259 7).  Both
 * formats must be UTF-8, so a byte that does not start a well-formed
 * sequence becomes U+FFFD instead of making the whole scrape unreadable.
 */
static void
metrics_esc(struct metrics_out *o, const char *s, int json)
{
    const unsigned char *p = (const unsigned char *) (s ? s : "");
    size_t n = strlen((const char *) p), run = 0, l;
    char buf[8];

    while (run < n) {
        const unsigned char c = p[run];

        if (c >= 0x20 && c != '"' && c != '\\') {
            l = metrics_utf8_len(p + run, n - run);
            if (l != 0) {
                run += l;
                continue;
            }
        }
        /* Flush the plain bytes before C, then C escaped. */
        metrics_mem(o, (const char *) p, run);
        if (c == '"' || c == '\\') {
            buf[0] = '\\';
            buf[1] = (char) c;
            metrics_mem(o, buf, 2);
        } else if (c == '\n' && !json) {
            metrics_mem(o, "\\n", 2);
        } else if (c < 0x20 && json) {
            (void) snprintf(buf, sizeof(buf), "\\u%04x", c);
            metrics_mem(o, buf, 6);
        } else if (c < 0x20) {
            metrics_mem(o, (const char *) &c, 1);   /* legal in a label */
        } else {
            metrics_mem(o, "\xef\xbf\xbd", 3);      /* U+FFFD */
        }
        p += run + 1;
        n -= run + 1;
        run = 0;
    }
    metrics_mem(o, (const char *) p, run);
}

static void
metrics_jstr(struct metrics_out *o, const char *s)
{
    metrics_mem(o, "\"", 1);
    metrics_esc(o, s, 1);
    metrics_mem(o, "\"", 1);
}

/* ---- reading the segment ------------------------------------------------ */

static uint64_t
ld64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int64_t
ldi64(const int64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* The label a site goes by: the same fallback the config resolves. */
static const char *
metrics_site_name(const struct gh_site *site)
{
    if (site->name != NULL)
        return site->name;
    if (site->nhosts > 0)
        return site->hosts[0];
    return site->nlisten > 0 ? site->listen[0].addr.text : "";
}

/* The first listen address: the one the route entries are keyed by. */
static const char *
metrics_site_listen(const struct gh_site *site)
{
    return site->nlisten > 0 ? site->listen[0].addr.text : "";
}

/* Up by the checker and not passively marked down at NOW.  Unlike
 * gh_state_server_usable() it never lifts a mark that ran out: a scrape
 * writes nothing. */
static int
metrics_server_up(const struct gh_shm_server *ss, gh_msec now)
{
    if (__atomic_load_n(&ss->health, __ATOMIC_RELAXED) != GH_SRV_UP)
        return 0;
    if (!__atomic_load_n(&ss->passive_down, __ATOMIC_ACQUIRE))
        return 1;
    return now >= __atomic_load_n(&ss->down_until, __ATOMIC_RELAXED);
}

/* The histogram's per-bucket counts; returns their sum (the count that
 * agrees with them, which lat_count read separately might not). */
static uint64_t
metrics_lat(const struct gh_shm_server *ss, uint64_t *b)
{
    uint64_t sum = 0;

    for (int i = 0; i < GH_LAT_BUCKETS; i++) {
        b[i] = ld64(&ss->lat[i]);
        sum += b[i];
    }
    return sum;
}

struct metrics_slab {
    int                  have;      /* the segment has a slab */
    uint32_t             nclasses;
    struct gh_slab_stats cls[GH_SLAB_CLASSES];
    struct gh_slab_stats runs;
    uint64_t             total;
    uint64_t             free;
};

static void
metrics_slab_read(const struct gh_shm *shm, struct metrics_slab *sl)
{
    memset(sl, 0, sizeof(*sl));
    if (shm->hdr->slab == 0)
        return;
    sl->have = 1;
    sl->nclasses = GH_MIN(gh_slab_nclasses(shm), GH_SLAB_CLASSES);
    for (uint32_t i = 0; i < sl->nclasses; i++)
        gh_slab_stats(shm, (int) i, &sl->cls[i]);
    gh_slab_stats(shm, -1, &sl->runs);
    gh_slab_pages(shm, &sl->total, &sl->free);
}

/* ---- Prometheus --------------------------------------------------------- */

static void
prom_head(struct metrics_out *o, const char *name, const char *type,
          const char *help)
{
    metrics_fmt(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `NAME{site="..",listen="..",route=".."` without the closing brace. */
static void
prom_route(struct metrics_out *o, const char *name,
           const struct gh_site *site, const struct gh_route *r)
{
    metrics_str(o, name);
    metrics_str(o, "{site=\"");
    metrics_esc(o, metrics_site_name(site), 0);
    metrics_str(o, "\",listen=\"");
    metrics_esc(o, metrics_site_listen(site), 0);
    metrics_str(o, "\",route=\"");
    metrics_esc(o, r->name, 0);
    metrics_str(o, "\"");
}

/* `NAME{upstream="..",server=".."` without the closing brace. */
static void
prom_server(struct metrics_out *o, const char *name,
            const struct gh_upstream *u, const struct gh_server *s)
{
    metrics_str(o, name);
    metrics_str(o, "{upstream=\"");
    metrics_esc(o, u->name, 0);
    metrics_str(o, "\",server=\"");
    metrics_esc(o, s->addr.text, 0);
    metrics_str(o, "\"");
}

static void
prom_routes(struct metrics_out *o, const struct gh_conf *conf,
            const struct gh_shm *shm)
{
    static const char req[] = "gatehouse_requests_total";
    static const char resp[] = "gatehouse_responses_total";

    prom_head(o, req, "counter", "Requests finished, by route.");
    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_site *site = &conf->sites[i];

        for (uint32_t j = 0; j < site->nroutes; j++) {
            const struct gh_route *r = &site->routes[j];

            if (r->shm == 0)
                continue;
            prom_route(o, req, site, r);
            metrics_fmt(o, "} %" PRIu64 "\n",
                        ld64(&gh_state_route(shm, r)->requests));
        }
    }
    prom_head(o, resp, "counter", "Responses sent, by route and status "
              "class.");
    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_site *site = &conf->sites[i];

        for (uint32_t j = 0; j < site->nroutes; j++) {
            const struct gh_route *r = &site->routes[j];
            const struct gh_shm_route *sr;

            if (r->shm == 0)
                continue;
            sr = gh_state_route(shm, r);
            for (int k = 0; k < 5; k++) {
                prom_route(o, resp, site, r);
                metrics_fmt(o, ",code=\"%s\"} %" PRIu64 "\n",
                            metrics_codes[k], ld64(&sr->status[k]));
            }
        }
    }
}

/* The simple per-server families, in output order. */
enum prom_srv {
    PROM_SRV_REQUESTS = 0,
    PROM_SRV_FAILURES,
    PROM_SRV_ACTIVE,
    PROM_SRV_UP,
    PROM_SRV_BACKUP,
    PROM_SRV_EWMA
};

static const struct {
    const char *name;
    const char *type;
    const char *help;
} prom_srv_families[] = {
    [PROM_SRV_REQUESTS] = { "gatehouse_upstream_requests_total", "counter",
                            "Requests sent to the upstream server." },
    [PROM_SRV_FAILURES] = { "gatehouse_upstream_failures_total", "counter",
                            "Failed attempts (connect errors, resets, "
                            "timeouts, bad responses)." },
    [PROM_SRV_ACTIVE]   = { "gatehouse_upstream_active", "gauge",
                            "Requests in flight to the server, all "
                            "workers." },
    [PROM_SRV_UP]       = { "gatehouse_upstream_up", "gauge",
                            "1 when the server is up by health checks and "
                            "not passively marked down, else 0." },
    [PROM_SRV_BACKUP]   = { "gatehouse_upstream_backup", "gauge",
                            "1 for a backup server, else 0." },
    [PROM_SRV_EWMA]     = { "gatehouse_upstream_ewma_seconds", "gauge",
                            "Moving average of the time to the first "
                            "response byte (0: no response yet)." },
};

static void
prom_server_family(struct metrics_out *o, const struct gh_conf *conf,
                   const struct gh_shm *shm, gh_msec now, enum prom_srv f)
{
    prom_head(o, prom_srv_families[f].name, prom_srv_families[f].type,
              prom_srv_families[f].help);
    for (uint32_t i = 0; i < conf->nupstreams; i++) {
        const struct gh_upstream *u = &conf->upstreams[i];

        for (uint32_t j = 0; j < u->nservers; j++) {
            const struct gh_server *s = &u->servers[j];
            const struct gh_shm_server *ss;

            if (s->shm == 0)
                continue;
            ss = gh_state_server(shm, s);
            prom_server(o, prom_srv_families[f].name, u, s);
            metrics_str(o, "} ");
            switch (f) {
            case PROM_SRV_REQUESTS:
                metrics_fmt(o, "%" PRIu64, ld64(&ss->requests));
                break;
            case PROM_SRV_FAILURES:
                metrics_fmt(o, "%" PRIu64, ld64(&ss->failures));
                break;
            case PROM_SRV_ACTIVE:
                metrics_fmt(o, "%" PRId64, ldi64(&ss->active));
                break;
            case PROM_SRV_UP:
                metrics_fmt(o, "%d", metrics_server_up(ss, now));
                break;
            case PROM_SRV_BACKUP:
                metrics_fmt(o, "%d", s->backup ? 1 : 0);
                break;
            case PROM_SRV_EWMA:
                metrics_dec(o, ld64(&ss->ewma_us), 6);
                break;
            }
            metrics_str(o, "\n");
        }
    }
}

static void
prom_histograms(struct metrics_out *o, const struct gh_conf *conf,
                const struct gh_shm *shm)
{
    static const char name[] = "gatehouse_upstream_response_seconds";
    uint64_t b[GH_LAT_BUCKETS], count, cum;

    prom_head(o, name, "histogram", "Time to the first response byte.");
    for (uint32_t i = 0; i < conf->nupstreams; i++) {
        const struct gh_upstream *u = &conf->upstreams[i];

        for (uint32_t j = 0; j < u->nservers; j++) {
            const struct gh_server *s = &u->servers[j];
            const struct gh_shm_server *ss;

            if (s->shm == 0)
                continue;
            ss = gh_state_server(shm, s);
            count = metrics_lat(ss, b);
            cum = 0;
            for (int k = 0; k < GH_LAT_BUCKETS; k++) {
                cum += b[k];
                prom_server(o, "gatehouse_upstream_response_seconds_bucket",
                            u, s);
                metrics_str(o, ",le=\"");
                if (k < GH_LAT_BUCKETS - 1)
                    metrics_dec(o, gh_lat_bounds_ms[k], 3);
                else
                    metrics_str(o, "+Inf");
                metrics_fmt(o, "\"} %" PRIu64 "\n", cum);
            }
            prom_server(o, "gatehouse_upstream_response_seconds_sum", u, s);
            metrics_str(o, "} ");
            metrics_dec(o, ld64(&ss->lat_sum_us), 6);
            metrics_str(o, "\n");
            prom_server(o, "gatehouse_upstream_response_seconds_count", u,
                        s);
            metrics_fmt(o, "} %" PRIu64 "\n", count);
        }
    }
}

static void
prom_upstreams(struct metrics_out *o, const struct gh_conf *conf,
               const struct gh_shm *shm, gh_msec now)
{
    for (size_t f = 0; f < GH_NELEM(prom_srv_families); f++)
        prom_server_family(o, conf, shm, now, (enum prom_srv) f);
    prom_histograms(o, conf, shm);
    prom_head(o, "gatehouse_upstream_queued", "gauge",
              "Requests waiting for a server's max_conns slot.");
    for (uint32_t i = 0; i < conf->nupstreams; i++) {
        const struct gh_upstream *u = &conf->upstreams[i];

        if (u->shm == 0)
            continue;
        metrics_str(o, "gatehouse_upstream_queued{upstream=\"");
        metrics_esc(o, u->name, 0);
        metrics_fmt(o, "\"} %" PRId64 "\n",
                    ldi64(&gh_state_upstream(shm, u)->queued));
    }
}

static void
prom_workers(struct metrics_out *o, const struct gh_conf *conf,
             const struct gh_shm *shm)
{
    const struct gh_shm_globals *g;
    uint32_t n = GH_MIN(conf->workers, (uint32_t) GH_STATE_SLOTS);

    g = shm->hdr->state != 0 ? gh_state_globals(shm) : NULL;
    if (g == NULL)
        n = 0;
    prom_head(o, "gatehouse_worker_connections", "gauge",
              "Open client connections, by worker slot.");
    for (uint32_t i = 0; i < n; i++)
        metrics_fmt(o, "gatehouse_worker_connections{worker=\"%" PRIu32
                    "\"} %" PRId64 "\n", i, ldi64(&g->workers[i].conns));
    prom_head(o, "gatehouse_worker_requests_total", "counter",
              "Requests served, by worker slot.");
    for (uint32_t i = 0; i < n; i++)
        metrics_fmt(o, "gatehouse_worker_requests_total{worker=\"%" PRIu32
                    "\"} %" PRIu64 "\n", i, ld64(&g->workers[i].requests));
}

/* TLS: each site's shared session cache, and the daemon's ticket keys. */
static void
prom_tls(struct metrics_out *o, const struct gh_conf *conf,
         const struct gh_shm *shm)
{
    static const char *const ev[] = { "hit", "miss", "store", "evict",
                                      "expire" };
    uint64_t keys = 0;

    prom_head(o, "gatehouse_tls_session_cache_sessions", "gauge",
              "Sessions in a site's shared TLS session cache.");
    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_site *site = &conf->sites[i];
        struct gh_tlscache_stats st;

        if (site->tls == NULL)
            continue;
        keys = keys ? keys : site->tls->keys_root;
        if (site->tls->cache_root == 0)
            continue;
        gh_tlscache_stats(shm, site->tls->cache_root, &st);
        metrics_str(o, "gatehouse_tls_session_cache_sessions{site=\"");
        metrics_esc(o, metrics_site_name(site), 0);
        metrics_fmt(o, "\"} %" PRIu64 "\n", st.entries);
    }
    prom_head(o, "gatehouse_tls_session_cache_events_total", "counter",
              "Lookups that resumed (hit) or not (miss), sessions stored, "
              "evicted for room, expired.");
    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_site *site = &conf->sites[i];
        struct gh_tlscache_stats st;
        uint64_t v[5];

        if (site->tls == NULL || site->tls->cache_root == 0)
            continue;
        gh_tlscache_stats(shm, site->tls->cache_root, &st);
        v[0] = st.hits; v[1] = st.misses; v[2] = st.stores;
        v[3] = st.evictions; v[4] = st.expired;
        for (unsigned k = 0; k < GH_NELEM(ev); k++) {
            metrics_str(o, "gatehouse_tls_session_cache_events_total{site=\"");
            metrics_esc(o, metrics_site_name(site), 0);
            metrics_fmt(o, "\",event=\"%s\"} %" PRIu64 "\n", ev[k], v[k]);
        }
    }
    prom_head(o, "gatehouse_tls_tickets_total", "counter",
              "Session tickets issued, accepted with the current key, "
              "accepted with the previous one, of no key we have.");
    if (keys != 0) {
        struct gh_tlskeys_stats ks;

        gh_tlskeys_stats(shm, keys, &ks);
        metrics_fmt(o, "gatehouse_tls_tickets_total{event=\"issued\"} %"
                    PRIu64 "\ngatehouse_tls_tickets_total{event=\"current\"}"
                    " %" PRIu64 "\ngatehouse_tls_tickets_total{event="
                    "\"previous\"} %" PRIu64 "\ngatehouse_tls_tickets_total{"
                    "event=\"unknown\"} %" PRIu64 "\n", ks.encrypted,
                    ks.decrypted, ks.renewed, ks.unknown);
        prom_head(o, "gatehouse_tls_ticket_key_rotations_total", "counter",
                  "Ticket key rotations since the keys were made.");
        metrics_fmt(o, "gatehouse_tls_ticket_key_rotations_total %" PRIu64
                    "\n", ks.generation > 0 ? ks.generation - 1 : 0);
    }
}

/* The daemon-wide connection count and the shared per-client table. */
static void
prom_clients(struct metrics_out *o, const struct gh_shm *shm)
{
    struct gh_ctable_stats st;

    gh_ctable_stats(shm, &st);
    prom_head(o, "gatehouse_connections", "gauge", "Client connections "
              "counted for limits.total_connections (0 when it is off).");
    metrics_fmt(o, "gatehouse_connections %" PRId64 "\n",
                shm->hdr->state != 0 ? gh_state_conns(shm) : 0);
    prom_head(o, "gatehouse_client_table_entries", "gauge",
              "Entries of the shared per-client table, in use and in all.");
    metrics_fmt(o, "gatehouse_client_table_entries{state=\"used\"} %" PRIu64
                "\ngatehouse_client_table_entries{state=\"all\"} %" PRIu64
                "\n", st.used, st.entries);
    prom_head(o, "gatehouse_client_table_events_total", "counter",
              "Keys entered, entries evicted for another key, keys not "
              "entered (every way of their set busy).");
    metrics_fmt(o, "gatehouse_client_table_events_total{event=\"insert\"} %"
                PRIu64 "\ngatehouse_client_table_events_total{event=\"evict\""
                "} %" PRIu64 "\ngatehouse_client_table_events_total{event="
                "\"fail\"} %" PRIu64 "\n", st.inserts, st.evictions,
                st.fails);
}

/* The HTTP cache's events, in output order (gh_cache_stats()). */
static const char *const metrics_cache_events[] = {
    "hit", "miss", "fill", "abort", "eviction", "purge", "corrupt", "repair"
};

static void
metrics_cache_values(const struct gh_cache_stats *st,
                     uint64_t v[GH_NELEM(metrics_cache_events)])
{
    v[0] = st->hits;
    v[1] = st->misses;
    v[2] = st->fills;
    v[3] = st->aborts;
    v[4] = st->evictions;
    v[5] = st->purges;
    v[6] = st->corrupt;
    v[7] = st->repairs;
}

/* `NAME{zone=".."` without the closing brace. */
static void
prom_zone(struct metrics_out *o, const char *name,
          const struct gh_cache_zone *z)
{
    metrics_str(o, name);
    metrics_str(o, "{zone=\"");
    metrics_esc(o, z->name, 0);
    metrics_str(o, "\"");
}

/* The HTTP cache: each zone of the configuration the master bound. */
static void
prom_caches(struct metrics_out *o, const struct gh_conf *conf,
            const struct gh_shm *shm)
{
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } fam[] = {
        { "gatehouse_cache_entries", "gauge",
          "Entries stored in a cache zone." },
        { "gatehouse_cache_bytes", "gauge",
          "Bytes a cache zone's entries take (keys, headers, bodies), "
          "counted against its size." },
        { "gatehouse_cache_limit_bytes", "gauge",
          "A cache zone's size: the bytes its entries may take." },
        { "gatehouse_cache_events_total", "counter",
          "Cache lookups that found an entry (hit) or not (miss), fills "
          "begun (fill) and abandoned (abort), entries evicted for room "
          "(eviction) and purged (purge), entries dropped as damaged "
          "(corrupt), dead lock holders rolled back (repair)." },
    };

    for (size_t f = 0; f < GH_NELEM(fam); f++) {
        prom_head(o, fam[f].name, fam[f].type, fam[f].help);
        for (uint32_t i = 0; i < conf->ncaches; i++) {
            const struct gh_cache_zone *z = &conf->caches[i];
            uint64_t v[GH_NELEM(metrics_cache_events)];
            struct gh_cache_stats st;

            if (z->root == 0)
                continue;
            gh_cache_stats(shm, z->root, &st);
            if (f < 3) {
                prom_zone(o, fam[f].name, z);
                metrics_fmt(o, "} %" PRIu64 "\n", f == 0 ? st.entries
                            : f == 1 ? st.bytes : st.limit);
                continue;
            }
            metrics_cache_values(&st, v);
            for (size_t k = 0; k < GH_NELEM(v); k++) {
                prom_zone(o, fam[f].name, z);
                metrics_fmt(o, ",event=\"%s\"} %" PRIu64 "\n",
                            metrics_cache_events[k], v[k]);
            }
        }
    }
}

enum prom_slab {
    PROM_SLAB_PAGES = 0,
    PROM_SLAB_USED,
    PROM_SLAB_FREE,
    PROM_SLAB_ALLOCS,
    PROM_SLAB_FREES,
    PROM_SLAB_FAILS
};

static const struct {
    const char *name;
    const char *type;
    const char *help;
} prom_slab_families[] = {
    [PROM_SLAB_PAGES]  = { "gatehouse_slab_pages", "gauge",
                           "Shared memory pages held, by slab class "
                           "(class \"runs\": multi-page objects)." },
    [PROM_SLAB_USED]   = { "gatehouse_slab_used", "gauge",
                           "Objects in use, by slab class (pages for "
                           "\"runs\")." },
    [PROM_SLAB_FREE]   = { "gatehouse_slab_free", "gauge",
                           "Free objects in the pages of a slab class." },
    [PROM_SLAB_ALLOCS] = { "gatehouse_slab_allocs_total", "counter",
                           "Successful allocations, by slab class." },
    [PROM_SLAB_FREES]  = { "gatehouse_slab_frees_total", "counter",
                           "Objects given back, by slab class." },
    [PROM_SLAB_FAILS]  = { "gatehouse_slab_fails_total", "counter",
                           "Allocations refused for want of room, by slab "
                           "class." },
};

static uint64_t
prom_slab_value(const struct gh_slab_stats *st, enum prom_slab f)
{
    switch (f) {
    case PROM_SLAB_PAGES:
        return st->pages;
    case PROM_SLAB_USED:
        return st->used;
    case PROM_SLAB_FREE:
        return st->free;
    case PROM_SLAB_ALLOCS:
        return st->allocs;
    case PROM_SLAB_FREES:
        return st->frees;
    case PROM_SLAB_FAILS:
        return st->fails;
    }
    return 0;
}

static void
prom_slab(struct metrics_out *o, const struct metrics_slab *sl)
{
    for (size_t f = 0; f < GH_NELEM(prom_slab_families); f++) {
        const char *name = prom_slab_families[f].name;

        prom_head(o, name, prom_slab_families[f].type,
                  prom_slab_families[f].help);
        if (!sl->have)
            continue;
        for (uint32_t i = 0; i < sl->nclasses; i++)
            metrics_fmt(o, "%s{class=\"%" PRIu32 "\",size=\"%zu\"} %" PRIu64
                        "\n", name, i, sl->cls[i].size,
                        prom_slab_value(&sl->cls[i], (enum prom_slab) f));
        metrics_fmt(o, "%s{class=\"runs\",size=\"0\"} %" PRIu64 "\n", name,
                    prom_slab_value(&sl->runs, (enum prom_slab) f));
    }
    prom_head(o, "gatehouse_slab_segment_pages", "gauge",
              "Pages in the shared memory segment's slab.");
    if (sl->have)
        metrics_fmt(o, "gatehouse_slab_segment_pages %" PRIu64 "\n",
                    sl->total);
    prom_head(o, "gatehouse_slab_segment_free_pages", "gauge",
              "Slab pages not given to any class or run.");
    if (sl->have)
        metrics_fmt(o, "gatehouse_slab_segment_free_pages %" PRIu64 "\n",
                    sl->free);
}

static void
prom_render(struct metrics_out *o, const struct gh_conf *conf,
            const struct gh_shm *shm, gh_msec now)
{
    struct metrics_slab sl;

    prom_routes(o, conf, shm);
    prom_upstreams(o, conf, shm, now);
    prom_workers(o, conf, shm);
    prom_clients(o, shm);
    prom_tls(o, conf, shm);
    prom_caches(o, conf, shm);
    metrics_slab_read(shm, &sl);
    prom_slab(o, &sl);
}

/* ---- JSON --------------------------------------------------------------- */

static void
json_sites(struct metrics_out *o, const struct gh_conf *conf,
           const struct gh_shm *shm)
{
    metrics_str(o, "\"sites\":[");
    for (uint32_t i = 0; i < conf->nsites; i++) {
        const struct gh_site *site = &conf->sites[i];
        int first = 1;

        metrics_str(o, i ? ",{\"name\":" : "{\"name\":");
        metrics_jstr(o, metrics_site_name(site));
        metrics_str(o, ",\"listen\":");
        metrics_jstr(o, metrics_site_listen(site));
        metrics_str(o, ",\"routes\":[");
        for (uint32_t j = 0; j < site->nroutes; j++) {
            const struct gh_route *r = &site->routes[j];
            const struct gh_shm_route *sr;

            if (r->shm == 0)
                continue;
            sr = gh_state_route(shm, r);
            metrics_str(o, first ? "{\"path\":" : ",{\"path\":");
            first = 0;
            metrics_jstr(o, r->name);
            metrics_fmt(o, ",\"requests\":%" PRIu64 ",\"responses\":{",
                        ld64(&sr->requests));
            for (int k = 0; k < 5; k++)
                metrics_fmt(o, "%s\"%s\":%" PRIu64, k ? "," : "",
                            metrics_codes[k], ld64(&sr->status[k]));
            metrics_str(o, "}}");
        }
        metrics_str(o, "]}");
    }
    metrics_str(o, "]");
}

static void
json_server(struct metrics_out *o, const struct gh_server *s,
            const struct gh_shm_server *ss, gh_msec now)
{
    uint64_t b[GH_LAT_BUCKETS], count;

    metrics_str(o, "{\"address\":");
    metrics_jstr(o, s->addr.text);
    metrics_fmt(o, ",\"up\":%s,\"backup\":%s,\"active\":%" PRId64
                ",\"requests\":%" PRIu64 ",\"failures\":%" PRIu64
                ",\"ewma_ms\":",
                metrics_server_up(ss, now) ? "true" : "false",
                s->backup ? "true" : "false", ldi64(&ss->active),
                ld64(&ss->requests), ld64(&ss->failures));
    metrics_dec(o, ld64(&ss->ewma_us), 3);
    metrics_str(o, ",\"latency\":{\"bounds_ms\":[");
    for (int k = 0; k < GH_LAT_BUCKETS - 1; k++)
        metrics_fmt(o, "%s%" PRIu32, k ? "," : "", gh_lat_bounds_ms[k]);
    metrics_str(o, "],\"buckets\":[");
    count = metrics_lat(ss, b);
    for (int k = 0; k < GH_LAT_BUCKETS; k++)
        metrics_fmt(o, "%s%" PRIu64, k ? "," : "", b[k]);
    metrics_str(o, "],\"sum_ms\":");
    metrics_dec(o, ld64(&ss->lat_sum_us), 3);
    metrics_fmt(o, ",\"count\":%" PRIu64 "}}", count);
}

static void
json_upstreams(struct metrics_out *o, const struct gh_conf *conf,
               const struct gh_shm *shm, gh_msec now)
{
    metrics_str(o, "\"upstreams\":[");
    for (uint32_t i = 0; i < conf->nupstreams; i++) {
        const struct gh_upstream *u = &conf->upstreams[i];
        int first = 1;

        metrics_str(o, i ? ",{\"name\":" : "{\"name\":");
        metrics_jstr(o, u->name);
        if (u->shm != 0)
            metrics_fmt(o, ",\"queued\":%" PRId64,
                        ldi64(&gh_state_upstream(shm, u)->queued));
        metrics_str(o, ",\"servers\":[");
        for (uint32_t j = 0; j < u->nservers; j++) {
            const struct gh_server *s = &u->servers[j];

            if (s->shm == 0)
                continue;
            if (!first)
                metrics_str(o, ",");
            first = 0;
            json_server(o, s, gh_state_server(shm, s), now);
        }
        metrics_str(o, "]}");
    }
    metrics_str(o, "]");
}

static void
json_workers(struct metrics_out *o, const struct gh_conf *conf,
             const struct gh_shm *shm)
{
    const struct gh_shm_globals *g;
    uint32_t n = GH_MIN(conf->workers, (uint32_t) GH_STATE_SLOTS);

    g = shm->hdr->state != 0 ? gh_state_globals(shm) : NULL;
    if (g == NULL)
        n = 0;
    metrics_str(o, "\"workers\":[");
    for (uint32_t i = 0; i < n; i++)
        metrics_fmt(o, "%s{\"slot\":%" PRIu32 ",\"connections\":%" PRId64
                    ",\"requests\":%" PRIu64 "}", i ? "," : "", i,
                    ldi64(&g->workers[i].conns),
                    ld64(&g->workers[i].requests));
    metrics_str(o, "]");
}

static void
json_slab_stats(struct metrics_out *o, const struct gh_slab_stats *st)
{
    metrics_fmt(o, "\"pages\":%" PRIu64 ",\"used\":%" PRIu64 ",\"free\":%"
                PRIu64 ",\"allocs\":%" PRIu64 ",\"frees\":%" PRIu64
                ",\"fails\":%" PRIu64 "}", st->pages, st->used, st->free,
                st->allocs, st->frees, st->fails);
}

static void
json_slab(struct metrics_out *o, const struct metrics_slab *sl)
{
    if (!sl->have) {
        metrics_str(o, "\"slab\":null");
        return;
    }
    metrics_fmt(o, "\"slab\":{\"pages_total\":%" PRIu64 ",\"pages_free\":%"
                PRIu64 ",\"classes\":[", sl->total, sl->free);
    for (uint32_t i = 0; i < sl->nclasses; i++) {
        metrics_fmt(o, "%s{\"class\":%" PRIu32 ",\"size\":%zu,",
                    i ? "," : "", i, sl->cls[i].size);
        json_slab_stats(o, &sl->cls[i]);
    }
    metrics_str(o, "],\"runs\":{");
    json_slab_stats(o, &sl->runs);
    metrics_str(o, "}");
}

static void
json_caches(struct metrics_out *o, const struct gh_conf *conf,
            const struct gh_shm *shm)
{
    int first = 1;

    metrics_str(o, "\"caches\":[");
    for (uint32_t i = 0; i < conf->ncaches; i++) {
        const struct gh_cache_zone *z = &conf->caches[i];
        uint64_t v[GH_NELEM(metrics_cache_events)];
        struct gh_cache_stats st;

        if (z->root == 0)
            continue;
        gh_cache_stats(shm, z->root, &st);
        metrics_cache_values(&st, v);
        metrics_str(o, first ? "{\"zone\":" : ",{\"zone\":");
        first = 0;
        metrics_jstr(o, z->name);
        metrics_fmt(o, ",\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64
                    ",\"limit_bytes\":%" PRIu64 ",\"events\":{", st.entries,
                    st.bytes, st.limit);
        for (size_t k = 0; k < GH_NELEM(v); k++)
            metrics_fmt(o, "%s\"%s\":%" PRIu64, k ? "," : "",
                        metrics_cache_events[k], v[k]);
        metrics_str(o, "}}");
    }
    metrics_str(o, "]");
}

static void
json_render(struct metrics_out *o, const struct gh_conf *conf,
            const struct gh_shm *shm, gh_msec now)
{
    struct metrics_slab sl;
    struct gh_ctable_stats ct;

    metrics_str(o, "{");
    json_sites(o, conf, shm);
    metrics_str(o, ",");
    json_upstreams(o, conf, shm, now);
    metrics_str(o, ",");
    json_workers(o, conf, shm);
    gh_ctable_stats(shm, &ct);
    metrics_fmt(o, ",\"connections\":%" PRId64 ",\"client_table\":{"
                "\"used\":%" PRIu64 ",\"entries\":%" PRIu64 ",\"inserts\":%"
                PRIu64 ",\"evictions\":%" PRIu64 ",\"fails\":%" PRIu64 "}",
                shm->hdr->state != 0 ? gh_state_conns(shm) : 0, ct.used,
                ct.entries, ct.inserts, ct.evictions, ct.fails);
    metrics_str(o, ",");
    metrics_slab_read(shm, &sl);
    json_slab(o, &sl);
    metrics_str(o, ",");
    json_caches(o, conf, shm);
    metrics_str(o, "}\n");
}

/* ---- entry -------------------------------------------------------------- */

int
gh_metrics_render(const struct gh_conf *conf, const struct gh_shm *shm,
                  int json, gh_msec now, char **out, size_t *len)
{
    struct metrics_out o = { NULL, 0, 0, 0 };

    *out = NULL;
    *len = 0;
    if (metrics_reserve(&o, 0) == GH_OK) {
        o.p[0] = '\0';
        if (json)
            json_render(&o, conf, shm, now);
        else
            prom_render(&o, conf, shm, now);
    }
    if (o.oom) {
        free(o.p);
        errno = ENOMEM;
        return GH_ERR;
    }
    *out = o.p;
    *len = o.len;
    return GH_OK;
}
