#ifndef GH_WORKER_METRICS_H
#define GH_WORKER_METRICS_H

/*
 * The daemon's metrics as a response body: Prometheus text exposition
 * format 0.0.4, or one JSON object.  A pure rendering module: it reads the
 * config and the shared segment and writes bytes; the connection sends
 * them (for a route with `metrics = true`, JSON on `?format=json`).
 *
 * Metric families (Prometheus), each with HELP and TYPE lines:
 *
 *   gatehouse_requests_total{site,listen,route}              counter
 *   gatehouse_responses_total{site,listen,route,code}        counter
 *       code "1xx" .. "5xx"
 *   gatehouse_upstream_requests_total{upstream,server}       counter
 *   gatehouse_upstream_failures_total{upstream,server}       counter
 *   gatehouse_upstream_active{upstream,server}               gauge
 *   gatehouse_upstream_up{upstream,server}                   gauge 0/1
 *   gatehouse_upstream_backup{upstream,server}               gauge 0/1
 *   gatehouse_upstream_ewma_seconds{upstream,server}         gauge
 *   gatehouse_upstream_response_seconds{upstream,server}     histogram
 *       (_bucket{le} cumulative, le "0.005" .. "10", "+Inf"; _sum; _count)
 *   gatehouse_upstream_queued{upstream}                      gauge
 *   gatehouse_worker_connections{worker}                     gauge
 *   gatehouse_worker_requests_total{worker}                  counter
 *   gatehouse_slab_pages{class,size}                         gauge
 *   gatehouse_slab_used{class,size}                          gauge
 *   gatehouse_slab_free{class,size}                          gauge
 *   gatehouse_slab_allocs_total{class,size}                  counter
 *   gatehouse_slab_frees_total{class,size}                   counter
 *   gatehouse_slab_fails_total{class,size}                   counter
 *       class "0" .. "N-1" with size its object bytes, or "runs" (page
 *       runs) with size "0"
 *   gatehouse_slab_segment_pages                             gauge
 *   gatehouse_slab_segment_free_pages                        gauge
 *   gatehouse_cache_entries{zone}                            gauge
 *   gatehouse_cache_bytes{zone}                              gauge
 *   gatehouse_cache_limit_bytes{zone}                        gauge
 *   gatehouse_cache_events_total{zone,event}                 counter
 *       event "hit" "miss" "fill" "abort" "eviction" "purge" "corrupt"
 *       "repair" (shm/cache.h gh_cache_stats())
 *
 * `site` is the site's name (conf: `name`, else its first host, else its
 * first listen address), `listen` its first listen address (the one its
 * shared route entries are keyed by), `route` the route's path prefix,
 * `upstream` the upstream's name, `server` the server's address text.
 * `zone` a `caches` zone's name.  Routes, servers and zones not bound to
 * the segment (shm == 0, root == 0) are left out.
 */

#include <stddef.h>

#include "conf/conf.h"
#include "shm/shm.h"
#include "worker/core/gh.h"

/* Content-Type values for the two formats. */
#define GH_METRICS_PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define GH_METRICS_JSON_TYPE "application/json"

/*
 * Render the metrics of CONF from SHM into a malloc'd buffer (*OUT, *LEN;
 * caller frees; NUL-terminated, the NUL not counted in *LEN).  JSON when
 * JSON != 0.  NOW is the CLOCK_MONOTONIC ms clock (for health/passive-down
 * state).  GH_OK, or GH_ERR with errno ENOMEM (*OUT NULL, *LEN 0; the
 * caller logs at crit).  Never blocks, takes no lock and writes nothing in
 * the segment (reads counters with relaxed __atomic loads).
 */
int gh_metrics_render(const struct gh_conf *conf, const struct gh_shm *shm,
                      int json, gh_msec now, char **out, size_t *len);

#endif
