/*
 * The configuration loader: the only code that calls libconfig.
 *
 * gh_conf_load() reads one file, walks it with one key table per section
 * (struct gh_conf_key below), and fills a struct gh_conf whose every byte
 * lives in a fresh arena: nothing points into libconfig memory once
 * config_destroy() has run.  The same tables drive defaults, ranges,
 * gh_conf_dump() and gh_conf_key_names(), so a key added to a table is
 * parsed, checked, printed and required in gatehouse.conf(5) at once.
 *
 * Errors stop at the first one and read "FILE:LINE: KEYPATH: why", the
 * key path naming list elements by position: sites[0].routes[1].root.
 */

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <http_parser.h>
#include <libconfig.h>
#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "worker/auth.h"
#include "worker/tls.h"

#define CONF_ARENA_BLOCK  16384
#define CONF_PATH_MAX     256       /* key paths in messages */
#define CONF_FILE_MAX     (16 * 1024 * 1024)  /* bigger is surely a mistake */
#define CONF_BACKLOG      511       /* listen(2) backlog, as nginx */
#define CONF_MAX_NAMES    512       /* gh_conf_key_names() capacity */
#define CONF_NAME_MAX     63        /* bytes in an upstream name */
#define CONF_NOFILE_MAX   1048576   /* worker_rlimit_nofile: Linux's default
                                       fs.nr_open, the most it can be */
#define CONF_ZONE_NAME_MAX 47       /* bytes in a cache zone name */
#define CONF_CACHE_MIN    (64 * 1024)   /* shm/cache.h GH_CACHE_MIN (conf/
                                           does not include shm/; the unit
                                           test checks they agree) */

#define CONF_K            1024ULL
#define CONF_M            (1024ULL * 1024)
#define CONF_G            (1024ULL * 1024 * 1024)
#define CONF_SEC          1000
#define CONF_DAY          (24LL * 3600 * 1000)
#define CONF_YEAR         (365 * CONF_DAY)

/* The arena: a list of malloc'd blocks, freed together by gh_conf_free(). */
struct conf_block {
    struct conf_block *next;
    size_t             size;    /* bytes in data[] */
    size_t             used;    /* 0 <= used <= size */
    max_align_t        data[];
};

struct conf_arena {
    struct conf_block *blocks;  /* owns; the first one takes small requests */
};

/* What a key holds; see the tables below. */
enum gh_conf_key_type {
    GH_CK_UINT = 0,     /* uint64_t, a libconfig integer */
    GH_CK_U32,          /* uint32_t, a libconfig integer */
    GH_CK_SIZE,         /* uint64_t bytes: "16k", "10M" or an integer */
    GH_CK_DURATION,     /* gh_msec: "10s", "500ms" or integer seconds */
    GH_CK_STRING,       /* const char *, non-empty */
    GH_CK_PATH,         /* const char *, absolute against the file's dir */
    GH_CK_WORKERS,      /* uint32_t: an integer or "auto" */
    GH_CK_LOG_LEVEL,    /* enum gh_log_level, by name */
    GH_CK_ADDR,         /* struct gh_addr from numeric "host:port" */
    GH_CK_UPSTREAM,     /* struct gh_upstream *, by name */
    GH_CK_BOOL,         /* int 0 or 1, a libconfig boolean */
    GH_CK_ENUM,         /* int (an enum), by name from .names */
    GH_CK_FUNC,         /* a scalar with its own .parse and .dump */
    GH_CK_GROUP,        /* nested struct at offset, its keys in .sub;
                           with .parse and .dump: held elsewhere (a
                           pointer), those parse and print it */
    GH_CK_LIST,         /* list of groups: .parse, element keys in .sub */
    GH_CK_NAMED,        /* group of named groups: .parse, keys in .sub */
    GH_CK_ARRAY         /* one string or an array of them: .parse */
};

#define GH_CKF_REQUIRED 0x01    /* no default: missing is an error */
#define GH_CKF_OFF      0x02    /* PATH: "off" means none (NULL) */
#define GH_CKF_STDERR   0x04    /* PATH: "stderr" is kept as is */
#define GH_CKF_STDOUT   0x08    /* PATH: "stdout" is kept as is */
/*
 * GROUP: its presence turns a feature on.  Absent, the struct stays zeroed
 * and is not dumped; so its first field must be an int-sized enum that is 0
 * exactly when off (struct gh_health: GH_HEALTH_NONE), and no key of the
 * group may parse to 0 there.
 */
#define GH_CKF_OPTIONAL 0x10

/* ENUM: the accepted names and the value each stores; NULL-ended. */
struct conf_enum {
    const char *name;
    int         value;
};

/* ENUM and BOOL keys store an int; so do these enums. */
_Static_assert(sizeof(enum gh_balance) == sizeof(int), "enum size");
_Static_assert(sizeof(enum gh_health_type) == sizeof(int), "enum size");
_Static_assert(sizeof(enum gh_tls_verify) == sizeof(int), "enum size");
_Static_assert(offsetof(struct gh_health, type) == 0,
               "GH_CKF_OPTIONAL: the type comes first");

struct conf_ctx;

struct gh_conf_key {
    const char               *name;
    enum gh_conf_key_type     type;
    size_t                    offset;   /* of the field in its struct */
    const char               *def;      /* parsed as if written; NULL: none */
    uint64_t                  min;      /* numbers: inclusive range */
    uint64_t                  max;
    unsigned                  flags;    /* GH_CKF_* */
    const struct gh_conf_key *sub;      /* containers: element keys */
    /*
     * Containers and FUNC: BASE is the struct holding the key (array +
     * count), S is NULL when the key is absent.
     */
    int  (*parse)(struct conf_ctx *cx, const config_setting_t *s,
                  const char *path, void *base);
    void (*dump)(FILE *out, const void *base, int indent);
    const struct conf_enum   *names;    /* ENUM */
};

struct conf_ctx {
    struct gh_conf    *conf;
    struct conf_arena *arena;
    const char        *file;        /* as given: for messages */
    const char        *file_copy;   /* the same, in the arena */
    const char        *src;         /* last included file name seen ... */
    const char        *src_copy;    /* ... and its arena copy */
    char               dir[PATH_MAX];   /* absolute directory of file */
    const config_setting_t *sites;  /* for duplicate-host messages */
    const config_setting_t *caches; /* for the zones' size messages */
    char              *err;
    size_t             errlen;
};

static int conf_upstreams(struct conf_ctx *cx, const config_setting_t *s,
                          const char *path, void *base);
static int conf_servers(struct conf_ctx *cx, const config_setting_t *s,
                        const char *path, void *base);
static int conf_sites(struct conf_ctx *cx, const config_setting_t *s,
                      const char *path, void *base);
static int conf_listen(struct conf_ctx *cx, const config_setting_t *s,
                       const char *path, void *base);
static int conf_hosts(struct conf_ctx *cx, const config_setting_t *s,
                      const char *path, void *base);
static int conf_routes(struct conf_ctx *cx, const config_setting_t *s,
                       const char *path, void *base);
static void conf_dump_upstreams(FILE *out, const void *base, int indent);
static void conf_dump_servers(FILE *out, const void *base, int indent);
static void conf_dump_sites(FILE *out, const void *base, int indent);
static void conf_dump_listen(FILE *out, const void *base, int indent);
static void conf_dump_hosts(FILE *out, const void *base, int indent);
static void conf_dump_nothing(FILE *out, const void *base, int indent);
static void conf_dump_str(FILE *out, const char *s);
static int conf_route_hide(struct conf_ctx *cx, const config_setting_t *s,
                           const char *path, void *base);
static int conf_site_hide(struct conf_ctx *cx, const config_setting_t *s,
                          const char *path, void *base);
static void conf_dump_route_hide(FILE *out, const void *base, int indent);
static void conf_dump_site_hide(FILE *out, const void *base, int indent);
static int conf_route_acl(struct conf_ctx *cx, const config_setting_t *s,
                          const char *path, void *base);
static int conf_site_acl(struct conf_ctx *cx, const config_setting_t *s,
                         const char *path, void *base);
static void conf_dump_route_acl(FILE *out, const void *base, int indent);
static void conf_dump_site_acl(FILE *out, const void *base, int indent);
static int conf_methods(struct conf_ctx *cx, const config_setting_t *s,
                        const char *path, void *base);
static void conf_dump_methods(FILE *out, const void *base, int indent);
static void conf_dump_routes(FILE *out, const void *base, int indent);
static int conf_hash_key(struct conf_ctx *cx, const config_setting_t *s,
                         const char *path, void *base);
static void conf_dump_hash_key(FILE *out, const void *base, int indent);
static int conf_status(struct conf_ctx *cx, const config_setting_t *s,
                       const char *path, void *base);
static void conf_dump_status(FILE *out, const void *base, int indent);
static int conf_shutdown_alias(struct conf_ctx *cx, const config_setting_t *s,
                               const char *path, void *base);
static int conf_caches(struct conf_ctx *cx, const config_setting_t *s,
                       const char *path, void *base);
static void conf_dump_caches(FILE *out, const void *base, int indent);
static int conf_cache_key(struct conf_ctx *cx, const config_setting_t *s,
                          const char *path, void *base);
static void conf_dump_cache_key(FILE *out, const void *base, int indent);
static int conf_route_cache(struct conf_ctx *cx, const config_setting_t *s,
                            const char *path, void *base);
static void conf_dump_route_cache(FILE *out, const void *base, int indent);
static int conf_route_key_extra(struct conf_ctx *cx,
                                const config_setting_t *s, const char *path,
                                void *base);
static void conf_dump_route_key_extra(FILE *out, const void *base,
                                      int indent);
static int conf_route_purge_allow(struct conf_ctx *cx,
                                  const config_setting_t *s,
                                  const char *path, void *base);
static void conf_dump_route_purge_allow(FILE *out, const void *base,
                                        int indent);
static int conf_cidr_list(struct conf_ctx *cx, const config_setting_t *s,
                          const char *path, int n, struct gh_cidr *rules,
                          int allow);
static void conf_dump_shutdown_alias(FILE *out, const void *base,
                                     int indent);

static int conf_route_path(struct conf_ctx *cx, const config_setting_t *s,
                           const char *path, void *base);
static int conf_host_ok(const char *h);
static int conf_on_free(struct conf_ctx *cx, void (*fn)(void *), void *arg);
static void conf_dump_route_path(FILE *out, const void *base, int indent);
static int conf_route_host(struct conf_ctx *cx, const config_setting_t *s,
                           const char *path, void *base);
static void conf_dump_route_host(FILE *out, const void *base, int indent);
static int conf_route_header(struct conf_ctx *cx, const config_setting_t *s,
                             const char *path, void *base);
static int conf_route_cookie(struct conf_ctx *cx, const config_setting_t *s,
                             const char *path, void *base);
static int conf_route_query(struct conf_ctx *cx, const config_setting_t *s,
                            const char *path, void *base);
static void conf_dump_route_header(FILE *out, const void *base, int indent);
static void conf_dump_route_cookie(FILE *out, const void *base, int indent);
static void conf_dump_route_query(FILE *out, const void *base, int indent);
static int conf_route_body_size(struct conf_ctx *cx,
                                const config_setting_t *s, const char *path,
                                void *base);
static void conf_dump_route_body_size(FILE *out, const void *base,
                                      int indent);
static int conf_hdr_set(struct conf_ctx *cx, const config_setting_t *s,
                        const char *path, void *base);
static int conf_hdr_add(struct conf_ctx *cx, const config_setting_t *s,
                        const char *path, void *base);
static int conf_hdr_remove(struct conf_ctx *cx, const config_setting_t *s,
                           const char *path, void *base);
static void conf_dump_hdr_set(FILE *out, const void *base, int indent);
static void conf_dump_hdr_add(FILE *out, const void *base, int indent);
static void conf_dump_hdr_remove(FILE *out, const void *base, int indent);
static int conf_rate(struct conf_ctx *cx, const config_setting_t *s,
                     const char *path, void *base);
static void conf_dump_rate(FILE *out, const void *base, int indent);
static int conf_rate_key(struct conf_ctx *cx, const config_setting_t *s,
                         const char *path, void *base);
static void conf_dump_rate_key(FILE *out, const void *base, int indent);
static int conf_tls(struct conf_ctx *cx, const config_setting_t *s,
                    const char *path, void *base);
static void conf_dump_tls(FILE *out, const void *base, int indent);
static int conf_tls_certs(struct conf_ctx *cx, const config_setting_t *s,
                          const char *path, void *base);
static void conf_dump_tls_certs(FILE *out, const void *base, int indent);
static int conf_tls_protocols(struct conf_ctx *cx, const config_setting_t *s,
                              const char *path, void *base);
static void conf_dump_tls_protocols(FILE *out, const void *base, int indent);
static void conf_dump_group(FILE *out, const struct gh_conf_key *keys,
                            const void *base, int indent);
static void conf_dump_list(FILE *out, const char *name,
                           const struct gh_conf_key *keys, const void *elems,
                           size_t size, uint32_t n, int indent);

/* Names of enum values; the config spells them so, and so do the logs. */

static const struct conf_enum conf_balance_names[] = {
    { "round_robin", GH_BALANCE_ROUND_ROBIN },
    { "least_conn",  GH_BALANCE_LEAST_CONN },
    { "random2",     GH_BALANCE_RANDOM2 },
    { "hash",        GH_BALANCE_HASH },
    { NULL, 0 }
};

/* all_down: stored in gh_upstream.all_down_try. */
static const struct conf_enum conf_all_down_names[] = {
    { "503",        0 },
    { "try_anyway", 1 },
    { NULL, 0 }
};

/* tls.verify_client */
static const struct conf_enum conf_verify_names[] = {
    { "off",      GH_TLS_VERIFY_OFF },
    { "optional", GH_TLS_VERIFY_OPTIONAL },
    { "on",       GH_TLS_VERIFY_ON },
    { NULL, 0 }
};

/* GH_HEALTH_NONE has no name: leaving the group out is how to say it. */
static const struct conf_enum conf_health_names[] = {
    { "http", GH_HEALTH_HTTP },
    { "tcp",  GH_HEALTH_TCP },
    { NULL, 0 }
};

/* caches.*.key elements, indexed by enum gh_ckey_part. */
static const char *const conf_ckey_names[] = {
    [GH_CKEY_METHOD] = "method",
    [GH_CKEY_SCHEME] = "scheme",
    [GH_CKEY_HOST]   = "host",
    [GH_CKEY_URI]    = "uri",
    [GH_CKEY_PATH]   = "path",
    [GH_CKEY_ARGS]   = "args",
};
_Static_assert(GH_NELEM(conf_ckey_names) <= GH_CKEY_MAX,
               "a key may hold every element once");

/* The key tables, one per section.  Order is parse and dump order. */

static const struct gh_conf_key conf_timeout_keys[] = {
    { "client_header", GH_CK_DURATION,
      offsetof(struct gh_timeouts, client_header),
      .def = "10s", .min = 1, .max = CONF_DAY },
    { "client_body", GH_CK_DURATION,
      offsetof(struct gh_timeouts, client_body),
      .def = "60s", .min = 1, .max = CONF_DAY },
    /* 0 closes an idle connection at once: keep-alive off. */
    { "keepalive", GH_CK_DURATION, offsetof(struct gh_timeouts, keepalive),
      .def = "75s", .min = 0, .max = CONF_DAY },
    { "upstream_connect", GH_CK_DURATION,
      offsetof(struct gh_timeouts, upstream_connect),
      .def = "5s", .min = 1, .max = CONF_DAY },
    { "upstream_read", GH_CK_DURATION,
      offsetof(struct gh_timeouts, upstream_read),
      .def = "60s", .min = 1, .max = CONF_DAY },
    { "upstream_send", GH_CK_DURATION,
      offsetof(struct gh_timeouts, upstream_send),
      .def = "60s", .min = 1, .max = CONF_DAY },
    { "tunnel", GH_CK_DURATION, offsetof(struct gh_timeouts, tunnel),
      .def = "300s", .min = 1, .max = 7 * CONF_DAY },
    /* 0: a graceful stop is a fast one. */
    { "shutdown", GH_CK_DURATION, offsetof(struct gh_timeouts, shutdown),
      .def = "30s", .min = 0, .max = CONF_DAY },
    { NULL }
};

static const struct gh_conf_key conf_limit_keys[] = {
    { "header_size", GH_CK_SIZE, offsetof(struct gh_limits, header_size),
      .def = "16k", .min = CONF_K, .max = CONF_M },
    { "headers", GH_CK_UINT, offsetof(struct gh_limits, headers),
      .def = "100", .min = 1, .max = 10000 },
    /* 0 = unlimited */
    { "body_size", GH_CK_SIZE, offsetof(struct gh_limits, body_size),
      .def = "10M", .min = 0, .max = UINT64_MAX },
    { "connections", GH_CK_UINT, offsetof(struct gh_limits, connections),
      .def = "10000", .min = 1, .max = 1000000 },
    { "uri_size", GH_CK_SIZE, offsetof(struct gh_limits, uri_size),
      .def = "8k", .min = 256, .max = CONF_M },
    { "keepalive_requests", GH_CK_UINT,
      offsetof(struct gh_limits, keepalive_requests),
      .def = "1000", .min = 1, .max = UINT32_MAX },
    /* The shared per-client table and what uses it; 0 = off */
    { "client_connections", GH_CK_UINT,
      offsetof(struct gh_limits, client_connections),
      .def = "0", .min = 0, .max = 1000000 },
    { "total_connections", GH_CK_UINT,
      offsetof(struct gh_limits, total_connections),
      .def = "0", .min = 0, .max = 100000000 },
    { "client_table_size", GH_CK_SIZE,
      offsetof(struct gh_limits, client_table_size),
      .def = "4M", .min = 64 * CONF_K, .max = CONF_G },
    /* Slow clients: bytes a second over each rate_window; 0 = off */
    { "min_body_rate", GH_CK_SIZE, offsetof(struct gh_limits, min_body_rate),
      .def = "0", .min = 0, .max = CONF_G },
    { "min_response_rate", GH_CK_SIZE,
      offsetof(struct gh_limits, min_response_rate),
      .def = "0", .min = 0, .max = CONF_G },
    { "rate_window", GH_CK_DURATION, offsetof(struct gh_limits, rate_window),
      .def = "10s", .min = CONF_SEC, .max = CONF_DAY },
    { NULL }
};

/* request_headers / response_headers: struct gh_hdr_ops. */
static const struct gh_conf_key conf_hdr_op_keys[] = {
    { "set", GH_CK_FUNC, 0, .parse = conf_hdr_set,
      .dump = conf_dump_hdr_set },
    { "add", GH_CK_FUNC, 0, .parse = conf_hdr_add,
      .dump = conf_dump_hdr_add },
    { "remove", GH_CK_ARRAY, 0, .parse = conf_hdr_remove,
      .dump = conf_dump_hdr_remove },
    { NULL }
};

static const struct gh_conf_key conf_rate_keys[] = {
    { "rate", GH_CK_FUNC, 0, .parse = conf_rate, .dump = conf_dump_rate,
      .flags = GH_CKF_REQUIRED },
    { "burst", GH_CK_U32, offsetof(struct gh_rate_limit, burst),
      .def = "0", .min = 0, .max = 1000000 },
    { "key", GH_CK_FUNC, 0, .parse = conf_rate_key,
      .dump = conf_dump_rate_key },
    { NULL }
};

/* auth_basic: the file is loaded by conf_auth_load(). */
static const struct gh_conf_key conf_auth_keys[] = {
    { "realm", GH_CK_STRING, offsetof(struct gh_auth_basic, realm),
      .flags = GH_CKF_REQUIRED },
    { "file", GH_CK_PATH, offsetof(struct gh_auth_basic, file),
      .flags = GH_CKF_REQUIRED },
    { NULL }
};

static const struct gh_conf_key conf_server_keys[] = {
    { "address", GH_CK_ADDR, offsetof(struct gh_server, addr),
      .flags = GH_CKF_REQUIRED },
    { "weight", GH_CK_U32, offsetof(struct gh_server, weight),
      .def = "1", .min = 1, .max = 1000 },
    /* 0 = no cap */
    { "max_conns", GH_CK_U32, offsetof(struct gh_server, max_conns),
      .def = "0", .min = 0, .max = 1000000 },
    { "backup", GH_CK_BOOL, offsetof(struct gh_server, backup),
      .def = "false" },
    /* 0 = back at full weight at once */
    { "slow_start", GH_CK_DURATION, offsetof(struct gh_server, slow_start),
      .def = "0s", .min = 0, .max = CONF_DAY },
    { NULL }
};

/* Active checks; the group's presence turns them on (GH_CKF_OPTIONAL). */
static const struct gh_conf_key conf_health_keys[] = {
    { "type", GH_CK_ENUM, offsetof(struct gh_health, type),
      .def = "http", .names = conf_health_names },
    /* HTTP only; checked in conf_health_check() */
    { "path", GH_CK_STRING, offsetof(struct gh_health, path), .def = "/" },
    { "host", GH_CK_STRING, offsetof(struct gh_health, host), .def = NULL },
    { "interval", GH_CK_DURATION, offsetof(struct gh_health, interval),
      .def = "2s", .min = 10, .max = CONF_DAY },
    /* Also at most interval: conf_health_check(). */
    { "timeout", GH_CK_DURATION, offsetof(struct gh_health, timeout),
      .def = "1s", .min = 1, .max = CONF_DAY },
    { "rise", GH_CK_U32, offsetof(struct gh_health, rise),
      .def = "2", .min = 1, .max = 100 },
    { "fall", GH_CK_U32, offsetof(struct gh_health, fall),
      .def = "3", .min = 1, .max = 100 },
    /* HTTP only: status_lo, status_hi */
    { "status", GH_CK_FUNC, 0, .parse = conf_status,
      .dump = conf_dump_status },
    { NULL }
};

/* An upstream's tls: the context is built by conf_upstream_check(). */
static const struct gh_conf_key conf_up_tls_keys[] = {
    { "verify", GH_CK_BOOL, offsetof(struct gh_up_tls, verify),
      .def = "true" },
    { "ca", GH_CK_PATH, offsetof(struct gh_up_tls, ca), .def = NULL },
    { "sni", GH_CK_STRING, offsetof(struct gh_up_tls, sni), .def = NULL },
    { "cert", GH_CK_PATH, offsetof(struct gh_up_tls, cert), .def = NULL },
    { "key", GH_CK_PATH, offsetof(struct gh_up_tls, key), .def = NULL },
    { NULL }
};

static const struct gh_conf_key conf_upstream_keys[] = {
    { "keepalive", GH_CK_U32, offsetof(struct gh_upstream, keepalive),
      .def = "32", .min = 0, .max = 10000 },
    { "balance", GH_CK_ENUM, offsetof(struct gh_upstream, balance),
      .def = "round_robin", .names = conf_balance_names },
    /* hash_key, hash_name; only with balance = "hash" */
    { "hash_key", GH_CK_FUNC, 0, .parse = conf_hash_key,
      .dump = conf_dump_hash_key },
    { "retries", GH_CK_U32, offsetof(struct gh_upstream, retries),
      .def = "1", .min = 0, .max = 10 },
    /* 0 = no passive checks */
    { "max_fails", GH_CK_U32, offsetof(struct gh_upstream, max_fails),
      .def = "1", .min = 0, .max = 1000 },
    { "fail_timeout", GH_CK_DURATION,
      offsetof(struct gh_upstream, fail_timeout),
      .def = "10s", .min = 1, .max = CONF_DAY },
    { "all_down", GH_CK_ENUM, offsetof(struct gh_upstream, all_down_try),
      .def = "503", .names = conf_all_down_names },
    /* 0 = answer 503 at once when every server is at max_conns */
    { "queue", GH_CK_U32, offsetof(struct gh_upstream, queue),
      .def = "100", .min = 0, .max = 100000 },
    { "queue_timeout", GH_CK_DURATION,
      offsetof(struct gh_upstream, queue_timeout),
      .def = "10s", .min = 1, .max = CONF_DAY },
    { "health", GH_CK_GROUP, offsetof(struct gh_upstream, health),
      .flags = GH_CKF_OPTIONAL, .sub = conf_health_keys },
    { "tls", GH_CK_GROUP, offsetof(struct gh_upstream, tls),
      .flags = GH_CKF_OPTIONAL, .sub = conf_up_tls_keys },
    { "servers", GH_CK_LIST, 0, .flags = GH_CKF_REQUIRED,
      .sub = conf_server_keys, .parse = conf_servers,
      .dump = conf_dump_servers },
    { NULL }
};

/* tls.certificates: one group per certificate. */
static const struct gh_conf_key conf_tls_cert_keys[] = {
    { "cert", GH_CK_PATH, offsetof(struct gh_tls_cert, cert),
      .flags = GH_CKF_REQUIRED },
    { "key", GH_CK_PATH, offsetof(struct gh_tls_cert, key),
      .flags = GH_CKF_REQUIRED },
    { NULL }
};

/*
 * A site's tls group (struct gh_tls, allocated when present: conf_tls).
 * The files are read and the SSL_CTX built by conf_tls_load(), once the
 * site's name is known.
 */
static const struct gh_conf_key conf_tls_keys[] = {
    { "certificates", GH_CK_LIST, 0, .flags = GH_CKF_REQUIRED,
      .sub = conf_tls_cert_keys, .parse = conf_tls_certs,
      .dump = conf_dump_tls_certs },
    { "protocols", GH_CK_ARRAY, 0, .parse = conf_tls_protocols,
      .dump = conf_dump_tls_protocols },
    /* TLS 1.2: forward-secret AEAD only (worker/tls.c checks) */
    { "ciphers", GH_CK_STRING, offsetof(struct gh_tls, ciphers),
      .def = "ECDHE+AESGCM:ECDHE+CHACHA20" },
    /* TLS 1.3; default: OpenSSL's */
    { "ciphersuites", GH_CK_STRING, offsetof(struct gh_tls, ciphersuites),
      .def = NULL },
    { "groups", GH_CK_STRING, offsetof(struct gh_tls, groups),
      .def = "X25519:P-256:P-384" },
    /* 0 = no shared cache; else at least 16k (conf_tls) */
    { "session_cache", GH_CK_SIZE, offsetof(struct gh_tls, session_cache),
      .def = "10M", .min = 0, .max = CONF_G },
    { "session_timeout", GH_CK_DURATION,
      offsetof(struct gh_tls, session_timeout),
      .def = "1h", .min = CONF_SEC, .max = 7 * CONF_DAY },
    { "session_tickets", GH_CK_BOOL, offsetof(struct gh_tls, session_tickets),
      .def = "true" },
    { "ticket_rotation", GH_CK_DURATION,
      offsetof(struct gh_tls, ticket_rotation),
      .def = "12h", .min = CONF_SEC, .max = 7 * CONF_DAY },
    { "client_ca", GH_CK_PATH, offsetof(struct gh_tls, client_ca),
      .def = NULL },
    /* optional and on need client_ca (conf_tls) */
    { "verify_client", GH_CK_ENUM, offsetof(struct gh_tls, verify_client),
      .def = "off", .names = conf_verify_names },
    { "verify_depth", GH_CK_U32, offsetof(struct gh_tls, verify_depth),
      .def = "4", .min = 1, .max = 100 },
    { "ocsp_staple", GH_CK_PATH, offsetof(struct gh_tls, ocsp_staple),
      .def = NULL },
    { "hsts", GH_CK_STRING, offsetof(struct gh_tls, hsts), .def = NULL },
    { NULL }
};

/* One zone of the top-level `caches` group (struct gh_cache_zone). */
static const struct gh_conf_key conf_cache_keys[] = {
    /* At most what shm_size leaves: conf_caches_fit() */
    { "size", GH_CK_SIZE, offsetof(struct gh_cache_zone, size),
      .flags = GH_CKF_REQUIRED, .min = CONF_CACHE_MIN, .max = 1024 * CONF_G },
    /* At most size: conf_cache_check() */
    { "max_object", GH_CK_SIZE, offsetof(struct gh_cache_zone, max_object),
      .def = "1M", .min = CONF_K, .max = 1024 * CONF_G },
    /* 0 = heuristically cacheable responses without freshness
     * information are not stored */
    { "default_ttl", GH_CK_DURATION,
      offsetof(struct gh_cache_zone, default_ttl),
      .def = "0s", .min = 0, .max = CONF_YEAR },
    { "stale_if_error", GH_CK_DURATION,
      offsetof(struct gh_cache_zone, stale_if_error),
      .def = "0s", .min = 0, .max = CONF_YEAR },
    /* 0 = no Last-Modified heuristic */
    { "heuristic_max", GH_CK_DURATION,
      offsetof(struct gh_cache_zone, heuristic_max),
      .def = "24h", .min = 0, .max = CONF_YEAR },
    /* 0 = a miss never waits for another's fill */
    { "lock_timeout", GH_CK_DURATION,
      offsetof(struct gh_cache_zone, lock_timeout),
      .def = "5s", .min = 0, .max = 3600 * CONF_SEC },
    { "key", GH_CK_FUNC, 0, .parse = conf_cache_key,
      .dump = conf_dump_cache_key },
    { NULL }
};

static const struct gh_conf_key conf_return_keys[] = {
    { "status", GH_CK_U32, offsetof(struct gh_return, status),
      .def = "200", .min = 200, .max = 599 },
    { "body", GH_CK_STRING, offsetof(struct gh_return, body), .def = NULL },
    { NULL }
};

static const struct gh_conf_key conf_redirect_keys[] = {
    /* 301 302 303 307 308: conf_route_check() */
    { "status", GH_CK_U32, offsetof(struct gh_redirect, status),
      .def = "302", .min = 301, .max = 308 },
    { "to", GH_CK_STRING, offsetof(struct gh_redirect, to),
      .flags = GH_CKF_REQUIRED },
    { NULL }
};

static const struct gh_conf_key conf_route_keys[] = {
    /* One of path, path_exact and path_regex: conf_route_check() */
    { "path", GH_CK_FUNC, 0, .parse = conf_route_path,
      .dump = conf_dump_route_path },
    { "path_exact", GH_CK_FUNC, 0, .parse = conf_route_path,
      .dump = conf_dump_nothing },
    { "path_regex", GH_CK_FUNC, 0, .parse = conf_route_path,
      .dump = conf_dump_nothing },
    /* Default: the path, "=path" or "~regex" (conf_routes) */
    { "name", GH_CK_STRING, offsetof(struct gh_route, name), .def = NULL },
    { "host", GH_CK_ARRAY, 0, .parse = conf_route_host,
      .dump = conf_dump_route_host },
    { "header", GH_CK_ARRAY, 0, .parse = conf_route_header,
      .dump = conf_dump_route_header },
    { "cookie", GH_CK_ARRAY, 0, .parse = conf_route_cookie,
      .dump = conf_dump_route_cookie },
    { "query", GH_CK_ARRAY, 0, .parse = conf_route_query,
      .dump = conf_dump_route_query },
    { "upstream", GH_CK_UPSTREAM, offsetof(struct gh_route, upstream),
      .def = NULL },
    { "root", GH_CK_PATH, offsetof(struct gh_route, root), .def = NULL },
    { "index", GH_CK_STRING, offsetof(struct gh_route, index),
      .def = "index.html" },
    { "metrics", GH_CK_BOOL, offsetof(struct gh_route, metrics),
      .def = "false" },
    /* One rule list: both keys build it, in file order (conf_acl). */
    { "allow", GH_CK_ARRAY, 0, .parse = conf_route_acl,
      .dump = conf_dump_route_acl },
    { "deny", GH_CK_ARRAY, 0, .parse = conf_route_acl,
      .dump = conf_dump_nothing },
    { "acl_file", GH_CK_FUNC, 0, .parse = conf_route_acl,
      .dump = conf_dump_nothing },
    { "methods", GH_CK_ARRAY, 0, .parse = conf_methods,
      .dump = conf_dump_methods },
    { "return", GH_CK_GROUP, offsetof(struct gh_route, ret),
      .flags = GH_CKF_OPTIONAL, .sub = conf_return_keys },
    { "redirect", GH_CK_GROUP, offsetof(struct gh_route, redirect),
      .flags = GH_CKF_OPTIONAL, .sub = conf_redirect_keys },
    { "strip_prefix", GH_CK_BOOL, offsetof(struct gh_route, strip_prefix),
      .def = "false" },
    { "hide_headers", GH_CK_ARRAY, 0, .parse = conf_route_hide,
      .dump = conf_dump_route_hide },
    { "body_size", GH_CK_FUNC, 0, .parse = conf_route_body_size,
      .dump = conf_dump_route_body_size },
    { "request_headers", GH_CK_GROUP, offsetof(struct gh_route, req_hdrs),
      .flags = GH_CKF_OPTIONAL, .sub = conf_hdr_op_keys },
    { "response_headers", GH_CK_GROUP, offsetof(struct gh_route, resp_hdrs),
      .flags = GH_CKF_OPTIONAL, .sub = conf_hdr_op_keys },
    { "rate_limit", GH_CK_GROUP, offsetof(struct gh_route, rate),
      .flags = GH_CKF_OPTIONAL, .sub = conf_rate_keys },
    { "auth_basic", GH_CK_GROUP, offsetof(struct gh_route, auth),
      .flags = GH_CKF_OPTIONAL, .sub = conf_auth_keys },
    /* An option, not an action: acts on plain HTTP connections only. */
    { "redirect_https", GH_CK_BOOL, offsetof(struct gh_route, redirect_https),
      .def = "false" },
    /* Only with upstream; the other two only with cache:
     * conf_route_check() */
    { "cache", GH_CK_FUNC, 0, .parse = conf_route_cache,
      .dump = conf_dump_route_cache },
    { "cache_key_extra", GH_CK_ARRAY, 0, .parse = conf_route_key_extra,
      .dump = conf_dump_route_key_extra },
    { "purge_allow", GH_CK_ARRAY, 0, .parse = conf_route_purge_allow,
      .dump = conf_dump_route_purge_allow },
    { NULL }
};

static const struct gh_conf_key conf_site_keys[] = {
    /* Default: the first host, else the first listen address (conf_sites) */
    { "name", GH_CK_STRING, offsetof(struct gh_site, name), .def = NULL },
    { "listen", GH_CK_ARRAY, 0, .flags = GH_CKF_REQUIRED,
      .parse = conf_listen, .dump = conf_dump_listen },
    { "hosts", GH_CK_ARRAY, 0, .parse = conf_hosts, .dump = conf_dump_hosts },
    /* A group held by pointer (site->tls, NULL when absent): its own
     * parse and dump. */
    { "tls", GH_CK_GROUP, 0, .sub = conf_tls_keys, .parse = conf_tls,
      .dump = conf_dump_tls },
    { "allow", GH_CK_ARRAY, 0, .parse = conf_site_acl,
      .dump = conf_dump_site_acl },
    { "hide_headers", GH_CK_ARRAY, 0, .parse = conf_site_hide,
      .dump = conf_dump_site_hide },
    { "request_headers", GH_CK_GROUP, offsetof(struct gh_site, req_hdrs),
      .flags = GH_CKF_OPTIONAL, .sub = conf_hdr_op_keys },
    { "response_headers", GH_CK_GROUP, offsetof(struct gh_site, resp_hdrs),
      .flags = GH_CKF_OPTIONAL, .sub = conf_hdr_op_keys },
    { "auth_basic", GH_CK_GROUP, offsetof(struct gh_site, auth),
      .flags = GH_CKF_OPTIONAL, .sub = conf_auth_keys },
    { "deny", GH_CK_ARRAY, 0, .parse = conf_site_acl,
      .dump = conf_dump_nothing },
    { "acl_file", GH_CK_FUNC, 0, .parse = conf_site_acl,
      .dump = conf_dump_nothing },
    { "routes", GH_CK_LIST, 0, .flags = GH_CKF_REQUIRED,
      .sub = conf_route_keys, .parse = conf_routes,
      .dump = conf_dump_routes },
    { NULL }
};

static const struct gh_conf_key conf_keys[] = {
    { "workers", GH_CK_WORKERS, offsetof(struct gh_conf, workers),
      .def = "auto", .min = 1, .max = 512 },
    { "user", GH_CK_STRING, offsetof(struct gh_conf, user), .def = NULL },
    { "server_tokens", GH_CK_BOOL, offsetof(struct gh_conf, server_tokens),
      .def = "true" },
    { "group", GH_CK_STRING, offsetof(struct gh_conf, group), .def = NULL },
    /* 0: workers and the checker keep the limit the master inherited. */
    { "worker_rlimit_nofile", GH_CK_U32,
      offsetof(struct gh_conf, rlimit_nofile),
      .def = "0", .min = 0, .max = CONF_NOFILE_MAX },
    { "pid_file", GH_CK_PATH, offsetof(struct gh_conf, pid_file),
      .def = "/run/gatehouse.pid", .flags = GH_CKF_OFF },
    { "error_log", GH_CK_PATH, offsetof(struct gh_conf, error_log),
      .def = "stderr", .flags = GH_CKF_STDERR },
    { "log_level", GH_CK_LOG_LEVEL, offsetof(struct gh_conf, log_level),
      .def = "info" },
    { "access_log", GH_CK_PATH, offsetof(struct gh_conf, access_log),
      .def = "off", .flags = GH_CKF_OFF | GH_CKF_STDERR | GH_CKF_STDOUT },
    { "shm_size", GH_CK_SIZE, offsetof(struct gh_conf, shm_size),
      .def = "64M", .min = CONF_M, .max = 1024 * CONF_G },
    { "timeouts", GH_CK_GROUP, offsetof(struct gh_conf, timeouts),
      .sub = conf_timeout_keys },
    /* nginx's name for timeouts.shutdown; after timeouts, to compare. */
    { "worker_shutdown_timeout", GH_CK_FUNC, 0, .parse = conf_shutdown_alias,
      .dump = conf_dump_shutdown_alias },
    { "limits", GH_CK_GROUP, offsetof(struct gh_conf, limits),
      .sub = conf_limit_keys },
    /* Before sites: routes name cache zones and upstreams. */
    { "caches", GH_CK_NAMED, 0, .sub = conf_cache_keys,
      .parse = conf_caches, .dump = conf_dump_caches },
    { "upstreams", GH_CK_NAMED, 0, .sub = conf_upstream_keys,
      .parse = conf_upstreams, .dump = conf_dump_upstreams },
    { "sites", GH_CK_LIST, 0, .flags = GH_CKF_REQUIRED,
      .sub = conf_site_keys, .parse = conf_sites, .dump = conf_dump_sites },
    { NULL }
};

static const char *const conf_level_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};


/* Arena */

static struct conf_arena *
conf_arena_new(void)
{
    return calloc(1, sizeof(struct conf_arena));
}

static void
conf_arena_free(struct conf_arena *a)
{
    struct conf_block *b, *next;

    if (a == NULL)
        return;
    for (b = a->blocks; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

/* Zeroed, aligned for any type; NULL when out of memory. */
static void *
conf_arena_alloc(struct conf_arena *a, size_t size)
{
    const size_t align = sizeof(max_align_t);
    struct conf_block *b = a->blocks;
    size_t bsize;
    void *p;

    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;
    if (b == NULL || b->size - b->used < size) {
        bsize = size > CONF_ARENA_BLOCK / 4 ? size : CONF_ARENA_BLOCK;
        b = calloc(1, sizeof(*b) + bsize);
        if (b == NULL)
            return NULL;
        b->size = bsize;
        if (a->blocks != NULL && bsize != CONF_ARENA_BLOCK) {
            /* A big one-off: keep the current block for small requests. */
            b->next = a->blocks->next;
            a->blocks->next = b;
        } else {
            b->next = a->blocks;
            a->blocks = b;
        }
    }
    p = (char *) b->data + b->used;
    b->used += size;
    return p;
}


/* Messages */

/* A value as it may appear in a message: printable, bounded. */
static const char *
conf_quote(const char *s, char *buf, size_t len)
{
    size_t i = 0;

    for (; *s != '\0' && i + 8 < len; s++) {
        unsigned char c = (unsigned char) *s;

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
            i += (size_t) snprintf(buf + i, len - i, "\\x%02x", c);
        else
            buf[i++] = (char) c;
    }
    if (*s != '\0' && i + 4 <= len) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static void conf_fmt(char *buf, size_t len, const char *fmt, ...)
    GH_PRINTF(3, 4);

/* snprintf() for names in messages, where truncation is acceptable. */
static void
conf_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void) vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

/*
 * The name to report for a file libconfig read: the main file as given,
 * an @include'd one (which libconfig names relative to the include
 * directory, our directory) made absolute.
 */
static const char *
conf_file_name(struct conf_ctx *cx, const char *f, char *buf, size_t len)
{
    if (f == NULL || strcmp(f, cx->file) == 0)
        return cx->file;
    if (f[0] == '/')
        return f;
    conf_fmt(buf, len, "%s/%s", cx->dir, f);
    return buf;
}

static int conf_err(struct conf_ctx *cx, const config_setting_t *s,
                    const char *path, const char *fmt, ...) GH_PRINTF(4, 5);

/* "FILE:LINE: PATH: why" into cx->err; always returns GH_ERR. */
static int
conf_err(struct conf_ctx *cx, const config_setting_t *s, const char *path,
         const char *fmt, ...)
{
    const char *file = cx->file;
    char buf[PATH_MAX];
    unsigned line = 0;
    size_t n;
    va_list ap;
    int r;

    if (s != NULL) {
        file = conf_file_name(cx, config_setting_source_file(s), buf,
                              sizeof(buf));
        line = config_setting_source_line(s);
    }
    if (line > 0)
        r = snprintf(cx->err, cx->errlen, "%s:%u: ", file, line);
    else
        r = snprintf(cx->err, cx->errlen, "%s: ", file);
    n = r > 0 ? GH_MIN((size_t) r, cx->errlen - 1) : 0;
    if (path != NULL && *path != '\0') {
        r = snprintf(cx->err + n, cx->errlen - n, "%s: ", path);
        n = r > 0 ? GH_MIN(n + (size_t) r, cx->errlen - 1) : n;
    }
    va_start(ap, fmt);
    (void) vsnprintf(cx->err + n, cx->errlen - n, fmt, ap);
    va_end(ap);
    return GH_ERR;
}

static int
conf_oom(struct conf_ctx *cx)
{
    (void) snprintf(cx->err, cx->errlen, "%s: out of memory", cx->file);
    return GH_ERR;
}

static void
conf_path(char *buf, const char *path, const char *name)
{
    if (path == NULL || *path == '\0')
        conf_fmt(buf, CONF_PATH_MAX, "%s", name);
    else
        conf_fmt(buf, CONF_PATH_MAX, "%s.%s", path, name);
}

static void
conf_path_index(char *buf, const char *path, unsigned i)
{
    conf_fmt(buf, CONF_PATH_MAX, "%s[%u]", path, i);
}

static const char *
conf_type_name(const config_setting_t *s)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_GROUP:
        return "a group { }";
    case CONFIG_TYPE_ARRAY:
        return "an array [ ]";
    case CONFIG_TYPE_LIST:
        return "a list ( )";
    default:
        return "something else";
    }
}

static int
conf_type_err(struct conf_ctx *cx, const config_setting_t *s,
              const char *path, const char *want)
{
    return conf_err(cx, s, path, "expected %s, not %s", want,
                    conf_type_name(s));
}

/* Levenshtein distance, capped: anything over 2 is "far". */
static unsigned
conf_distance(const char *a, const char *b)
{
    unsigned row[65], i, j, prev, cur;
    size_t la = strlen(a), lb = strlen(b);

    if (la > 64 || lb > 64)
        return 99;
    for (j = 0; j <= lb; j++)
        row[j] = j;
    for (i = 1; i <= la; i++) {
        prev = row[0];
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            cur = row[j];
            row[j] = GH_MIN(GH_MIN(row[j] + 1, row[j - 1] + 1),
                            prev + (a[i - 1] != b[j - 1]));
            prev = cur;
        }
    }
    return row[lb];
}

/* The closest of NAMES to NAME within distance 2, or NULL. */
static const char *
conf_suggest(const char *name, const char *const *names, size_t n)
{
    const char *best = NULL;
    unsigned d, bestd = 3;
    size_t i;

    for (i = 0; i < n; i++) {
        d = conf_distance(name, names[i]);
        if (d < bestd) {
            bestd = d;
            best = names[i];
        }
    }
    return best;
}

static int
conf_unknown(struct conf_ctx *cx, const config_setting_t *s,
             const char *path, const struct gh_conf_key *keys)
{
    const char *names[CONF_MAX_NAMES], *best;
    char sub[CONF_PATH_MAX];
    size_t n = 0;

    for (; keys->name != NULL && n < GH_NELEM(names); keys++)
        names[n++] = keys->name;
    conf_path(sub, path, config_setting_name(s));
    best = conf_suggest(config_setting_name(s), names, n);
    if (best != NULL)
        return conf_err(cx, s, sub, "unknown key (did you mean \"%s\"?)",
                        best);
    return conf_err(cx, s, sub, "unknown key");
}


/* Units */

static const char *
conf_digits(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s < '0' || *s > '9')
        return NULL;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (__builtin_mul_overflow(v, 10, &v)
            || __builtin_add_overflow(v, (uint64_t) (*s - '0'), &v))
            return NULL;
    }
    *out = v;
    return s;
}

int
gh_conf_parse_duration(const char *s, gh_msec *out)
{
    uint64_t n, mult, v;
    const char *u;

    if (s == NULL || (u = conf_digits(s, &n)) == NULL)
        return GH_ERR;
    if (strcmp(u, "ms") == 0)
        mult = 1;
    else if (strcmp(u, "s") == 0 || *u == '\0')
        mult = CONF_SEC;
    else if (strcmp(u, "m") == 0)
        mult = 60 * CONF_SEC;
    else if (strcmp(u, "h") == 0)
        mult = 3600 * CONF_SEC;
    else
        return GH_ERR;
    if (__builtin_mul_overflow(n, mult, &v) || v > INT64_MAX)
        return GH_ERR;
    *out = (gh_msec) v;
    return GH_OK;
}

int
gh_conf_parse_size(const char *s, uint64_t *out)
{
    uint64_t n, mult;
    const char *u;

    if (s == NULL || (u = conf_digits(s, &n)) == NULL)
        return GH_ERR;
    switch (*u) {
    case '\0':
        mult = 1;
        break;
    case 'k':
    case 'K':
        mult = CONF_K;
        break;
    case 'm':
    case 'M':
        mult = CONF_M;
        break;
    case 'g':
    case 'G':
        mult = CONF_G;
        break;
    default:
        return GH_ERR;
    }
    if (*u != '\0' && u[1] != '\0')
        return GH_ERR;
    if (__builtin_mul_overflow(n, mult, &n))
        return GH_ERR;
    *out = n;
    return GH_OK;
}

/* The shortest exact form: "16k", "10M", "1500". */
static const char *
conf_fmt_size(uint64_t v, char *buf, size_t len)
{
    if (v != 0 && v % CONF_G == 0)
        (void) snprintf(buf, len, "%lluG", (unsigned long long) (v / CONF_G));
    else if (v != 0 && v % CONF_M == 0)
        (void) snprintf(buf, len, "%lluM", (unsigned long long) (v / CONF_M));
    else if (v != 0 && v % CONF_K == 0)
        (void) snprintf(buf, len, "%lluk", (unsigned long long) (v / CONF_K));
    else
        (void) snprintf(buf, len, "%llu", (unsigned long long) v);
    return buf;
}

/* "60s", "500ms", "1h": exact, so the dump loads back the same. */
static const char *
conf_fmt_duration(gh_msec v, char *buf, size_t len)
{
    long long ms = (long long) v;

    if (ms != 0 && ms % (3600 * CONF_SEC) == 0)
        (void) snprintf(buf, len, "%lldh", ms / (3600 * CONF_SEC));
    else if (ms % CONF_SEC == 0)
        (void) snprintf(buf, len, "%llds", ms / CONF_SEC);
    else
        (void) snprintf(buf, len, "%lldms", ms);
    return buf;
}


/* Addresses */

static int
conf_parse_port(const char *s, in_port_t *port)
{
    uint64_t v;
    const char *end = conf_digits(s, &v);

    if (end == NULL || *end != '\0' || v < 1 || v > 65535)
        return GH_ERR;
    *port = (in_port_t) v;
    return GH_OK;
}

/* gh_conf_parse_addr() that says why: *WHY is static text. */
static int
conf_parse_addr(const char *s, struct gh_addr *out, const char **why)
{
    char host[INET6_ADDRSTRLEN + 8], buf[INET6_ADDRSTRLEN];
    struct sockaddr_in *sin = (struct sockaddr_in *) &out->sa;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &out->sa;
    const char *colon, *p;
    in_port_t port;
    size_t hlen;

    memset(out, 0, sizeof(*out));
    *why = "is not an address (want \"IPv4:port\", \"[IPv6]:port\" or "
           "\"*:port\")";
    if (s == NULL || *s == '\0')
        return GH_ERR;
    if (*s == '[') {
        p = strchr(s, ']');
        if (p == NULL)
            return GH_ERR;
        hlen = (size_t) (p - s - 1);
        if (hlen == 0 || hlen >= sizeof(host)) {
            *why = "is not a numeric IPv6 address";
            return GH_ERR;
        }
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        if (p[1] != ':') {
            *why = "has no port (want \"[IPv6]:port\")";
            return GH_ERR;
        }
        if (conf_parse_port(p + 2, &port) != GH_OK) {
            *why = "has a bad port (want 1..65535)";
            return GH_ERR;
        }
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            *why = "is not a numeric IPv6 address";
            return GH_ERR;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        out->salen = sizeof(*sin6);
        (void) inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
        (void) snprintf(out->text, sizeof(out->text), "[%s]:%u", buf,
                        (unsigned) port);
        return GH_OK;
    }
    colon = strrchr(s, ':');
    if (colon == NULL) {
        *why = "has no port (want \"host:port\")";
        return GH_ERR;
    }
    if (strchr(s, ':') != colon) {
        *why = "needs brackets around an IPv6 address, as in \"[::1]:8080\"";
        return GH_ERR;
    }
    hlen = (size_t) (colon - s);
    if (conf_parse_port(colon + 1, &port) != GH_OK) {
        *why = "has a bad port (want 1..65535)";
        return GH_ERR;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return GH_ERR;
    memcpy(host, s, hlen);
    host[hlen] = '\0';
    if (strcmp(host, "*") == 0) {
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        for (p = host; *p != '\0'; p++) {
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
                /* Workers must never block on a resolver. */
                *why = "numeric address required (no DNS at run time)";
                return GH_ERR;
            }
        }
        *why = "is not a numeric IPv4 address";
        return GH_ERR;
    }
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    out->salen = sizeof(*sin);
    (void) inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
    (void) snprintf(out->text, sizeof(out->text), "%s:%u", buf,
                    (unsigned) port);
    return GH_OK;
}

int
gh_conf_parse_addr(const char *s, struct gh_addr *out)
{
    const char *why;

    return conf_parse_addr(s, out, &why);
}


/* Strings and paths */

static char *
conf_strdup(struct conf_ctx *cx, const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = conf_arena_alloc(cx->arena, len);

    if (p != NULL)
        memcpy(p, s, len);
    return p;
}

/* The file a setting came from, in the arena (libconfig's is freed). */
static const char *
conf_source(struct conf_ctx *cx, const config_setting_t *s)
{
    const char *f = config_setting_source_file(s);
    char buf[PATH_MAX];

    if (f == NULL || strcmp(f, cx->file) == 0)
        return cx->file_copy;
    if (cx->src == NULL || strcmp(f, cx->src) != 0) {
        /* Remember libconfig's name only while its tree is alive. */
        cx->src = f;
        cx->src_copy = conf_strdup(cx, conf_file_name(cx, f, buf,
                                                      sizeof(buf)));
        if (cx->src_copy == NULL) {
            cx->src = NULL;
            return cx->file_copy;
        }
    }
    return cx->src_copy;
}

/*
 * V made absolute against the config file's directory, with "//" and "/./"
 * squeezed and no trailing '/'.  ".." is kept: with symlinks, only the
 * kernel knows what it means.
 */
static char *
conf_resolve(struct conf_ctx *cx, const char *v)
{
    size_t len = strlen(cx->dir) + strlen(v) + 2;
    char *p = conf_arena_alloc(cx->arena, len), *w;
    const char *r;

    if (p == NULL)
        return NULL;
    if (v[0] == '/')
        (void) snprintf(p, len, "%s", v);
    else
        (void) snprintf(p, len, "%s/%s", cx->dir, v);
    for (r = w = p; *r != '\0'; ) {
        if (r[0] == '/' && r[1] == '/') {
            r++;
        } else if (r[0] == '/' && r[1] == '.'
                   && (r[2] == '/' || r[2] == '\0')) {
            r += 2;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    while (w > p + 1 && w[-1] == '/')
        *--w = '\0';
    if (*p == '\0')
        (void) strcpy(p, "/");
    return p;
}


/* Scalars */

/* The name of VALUE in NAMES, or "?" (a value no name maps to is a bug). */
static const char *
conf_enum_name(const struct conf_enum *names, int value)
{
    for (; names->name != NULL; names++) {
        if (names->value == value)
            return names->name;
    }
    return "?";
}

/*
 * STR, one of K's names, into the int at DST; else "unknown value", with
 * the closest name or the whole list.  BARE: STR was an integer, so it is
 * printed without quotes.
 */
static int
conf_enum(struct conf_ctx *cx, const struct gh_conf_key *k,
          const config_setting_t *s, const char *path, const char *str,
          int bare, void *dst)
{
    const char *names[CONF_MAX_NAMES], *best;
    char q[96], want[256];
    size_t i, n = 0, w = 0;

    for (i = 0; k->names[i].name != NULL; i++) {
        if (strcmp(str, k->names[i].name) == 0) {
            *(int *) dst = k->names[i].value;
            return GH_OK;
        }
        if (n < GH_NELEM(names))
            names[n++] = k->names[i].name;
    }
    (void) conf_quote(str, q, sizeof(q));
    best = conf_suggest(str, names, n);
    if (best != NULL)
        return conf_err(cx, s, path, bare ? "unknown value %s (did you mean "
                        "\"%s\"?)" : "unknown value \"%s\" (did you mean "
                        "\"%s\"?)", q, best);
    want[0] = '\0';
    for (i = 0; i < n && w < sizeof(want); i++)
        w += (size_t) snprintf(want + w, sizeof(want) - w, "%s\"%s\"",
                               i == 0 ? "" : i + 1 < n ? ", " : " or ",
                               names[i]);
    return conf_err(cx, s, path, bare ? "unknown value %s (want %s)"
                    : "unknown value \"%s\" (want %s)", q, want);
}

/* "auto": one worker per core, within the key's range. */
static int
conf_workers_auto(const struct gh_conf_key *k, void *dst)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (n < (long) k->min)
        n = (long) k->min;      /* also when sysconf() failed (-1) */
    if (n > (long) k->max)
        n = (long) k->max;
    *(uint32_t *) dst = (uint32_t) n;
    return GH_OK;
}

/*
 * Parse one scalar key into DST, from S or, when S is NULL, from the key's
 * default (which must be valid: a bad default is our bug).
 */
static int
conf_scalar(struct conf_ctx *cx, const struct gh_conf_key *k,
            const config_setting_t *s, const char *path, void *dst)
{
    char q[96], a[32], b[32];
    const char *str = NULL, *why;
    long long iv = 0;
    int is_int = 0;
    uint64_t u;
    gh_msec d;
    size_t i;

    if (s == NULL) {
        str = k->def;
    } else if (config_setting_type(s) == CONFIG_TYPE_INT
               || config_setting_type(s) == CONFIG_TYPE_INT64) {
        iv = config_setting_get_int64(s);
        is_int = 1;
    } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        str = config_setting_get_string(s);
    }

    switch (k->type) {
    case GH_CK_UINT:
    case GH_CK_U32:
    case GH_CK_WORKERS:
        if (k->type == GH_CK_WORKERS && str != NULL
            && strcmp(str, "auto") == 0)
            return conf_workers_auto(k, dst);
        if (s == NULL)
            iv = strtoll(str, NULL, 10);
        else if (k->type == GH_CK_WORKERS && str != NULL)
            return conf_err(cx, s, path, "\"%s\" is not an integer or "
                            "\"auto\"", conf_quote(str, q, sizeof(q)));
        else if (!is_int)
            return conf_type_err(cx, s, path,
                                 k->type == GH_CK_WORKERS
                                 ? "an integer or \"auto\"" : "an integer");
        if (iv < 0 || (uint64_t) iv < k->min || (uint64_t) iv > k->max)
            return conf_err(cx, s, path, "%lld is out of range (%llu..%llu)",
                            iv, (unsigned long long) k->min,
                            (unsigned long long) k->max);
        if (k->type == GH_CK_UINT)
            *(uint64_t *) dst = (uint64_t) iv;
        else
            *(uint32_t *) dst = (uint32_t) iv;
        return GH_OK;

    case GH_CK_SIZE:
        if (is_int) {
            if (iv < 0)
                return conf_err(cx, s, path, "%lld is not a size", iv);
            u = (uint64_t) iv;
            (void) snprintf(q, sizeof(q), "%lld", iv);
        } else if (str == NULL) {
            return conf_type_err(cx, s, path,
                                 "a size (\"16k\", \"10M\") or an integer");
        } else if (gh_conf_parse_size(str, &u) != GH_OK) {
            return conf_err(cx, s, path, "\"%s\" is not a size",
                            conf_quote(str, q, sizeof(q)));
        } else {
            (void) snprintf(q, sizeof(q), "\"%s\"", str);
        }
        if (u < k->min || u > k->max)
            return conf_err(cx, s, path, "%s is out of range (%s..%s)", q,
                            conf_fmt_size(k->min, a, sizeof(a)),
                            conf_fmt_size(k->max, b, sizeof(b)));
        *(uint64_t *) dst = u;
        return GH_OK;

    case GH_CK_DURATION:
        if (is_int) {
            /* A bare integer is seconds, as in "10". */
            if (iv < 0 || iv > INT64_MAX / CONF_SEC)
                return conf_err(cx, s, path, "%lld is not a duration", iv);
            d = (gh_msec) iv * CONF_SEC;
            (void) snprintf(q, sizeof(q), "%lld", iv);
        } else if (str == NULL) {
            return conf_type_err(cx, s, path,
                                 "a duration (\"10s\", \"500ms\") or an "
                                 "integer");
        } else if (gh_conf_parse_duration(str, &d) != GH_OK) {
            return conf_err(cx, s, path, "\"%s\" is not a duration "
                            "(want a number and ms, s, m or h)",
                            conf_quote(str, q, sizeof(q)));
        } else {
            (void) snprintf(q, sizeof(q), "\"%s\"", str);
        }
        if ((uint64_t) d < k->min || (uint64_t) d > k->max)
            return conf_err(cx, s, path, "%s is out of range (%s..%s)", q,
                            conf_fmt_duration((gh_msec) k->min, a, sizeof(a)),
                            conf_fmt_duration((gh_msec) k->max, b,
                                              sizeof(b)));
        *(gh_msec *) dst = d;
        return GH_OK;

    case GH_CK_LOG_LEVEL:
        if (str == NULL)
            return conf_type_err(cx, s, path, "a log level string");
        for (i = 0; i < GH_NELEM(conf_level_names); i++) {
            if (strcmp(str, conf_level_names[i]) == 0) {
                *(enum gh_log_level *) dst = (enum gh_log_level) i;
                return GH_OK;
            }
        }
        return conf_err(cx, s, path, "unknown log level \"%s\" (want emerg, "
                        "alert, crit, error, warn, notice, info or debug)",
                        conf_quote(str, q, sizeof(q)));

    case GH_CK_BOOL:
        if (s == NULL) {
            *(int *) dst = strcmp(str, "true") == 0;
            return GH_OK;
        }
        if (config_setting_type(s) != CONFIG_TYPE_BOOL)
            return conf_type_err(cx, s, path, "a boolean (true or false)");
        *(int *) dst = config_setting_get_bool(s) ? 1 : 0;
        return GH_OK;

    case GH_CK_ENUM:
        /* An integer matches a numeric name: all_down = 503. */
        if (is_int) {
            (void) snprintf(a, sizeof(a), "%lld", iv);
            str = a;
        }
        if (str == NULL)
            return conf_type_err(cx, s, path, "a string");
        return conf_enum(cx, k, s, path, str, is_int, dst);

    case GH_CK_STRING:
    case GH_CK_PATH:
    case GH_CK_ADDR:
    case GH_CK_UPSTREAM:
        if (str == NULL)
            return conf_type_err(cx, s, path, "a string");
        if (*str == '\0')
            return conf_err(cx, s, path, "must not be empty");
        break;

    default:
        return conf_err(cx, s, path, "internal error: key type %d",
                        (int) k->type);
    }

    switch (k->type) {
    case GH_CK_STRING:
        if ((*(const char **) dst = conf_strdup(cx, str)) == NULL)
            return conf_oom(cx);
        return GH_OK;

    case GH_CK_PATH:
        /* Reserved words are never file names: no file called "off". */
        if ((strcmp(str, "off") == 0 && !(k->flags & GH_CKF_OFF))
            || (strcmp(str, "stderr") == 0 && !(k->flags & GH_CKF_STDERR))
            || (strcmp(str, "stdout") == 0 && !(k->flags & GH_CKF_STDOUT)))
            return conf_err(cx, s, path, "\"%s\" is not allowed here", str);
        if (strcmp(str, "off") == 0) {
            *(const char **) dst = NULL;
            return GH_OK;
        }
        if (strcmp(str, "stderr") == 0 || strcmp(str, "stdout") == 0) {
            if ((*(const char **) dst = conf_strdup(cx, str)) == NULL)
                return conf_oom(cx);
            return GH_OK;
        }
        if ((*(const char **) dst = conf_resolve(cx, str)) == NULL)
            return conf_oom(cx);
        return GH_OK;

    case GH_CK_ADDR:
        if (conf_parse_addr(str, dst, &why) != GH_OK)
            return conf_err(cx, s, path, "\"%s\": %s",
                            conf_quote(str, q, sizeof(q)), why);
        return GH_OK;

    case GH_CK_UPSTREAM: {
        const char *names[CONF_MAX_NAMES], *best;
        struct gh_conf *c = cx->conf;
        uint32_t j;

        for (j = 0; j < c->nupstreams; j++) {
            if (strcmp(c->upstreams[j].name, str) == 0) {
                *(struct gh_upstream **) dst = &c->upstreams[j];
                return GH_OK;
            }
            if (j < GH_NELEM(names))
                names[j] = c->upstreams[j].name;
        }
        best = conf_suggest(str, names, GH_MIN(c->nupstreams,
                                               GH_NELEM(names)));
        if (best != NULL)
            return conf_err(cx, s, path, "unknown upstream \"%s\" "
                            "(did you mean \"%s\"?)",
                            conf_quote(str, q, sizeof(q)), best);
        return conf_err(cx, s, path, "unknown upstream \"%s\"",
                        conf_quote(str, q, sizeof(q)));
    }

    default:
        return conf_err(cx, s, path, "internal error: key type %d",
                        (int) k->type);
    }
}


/* Groups */

static const struct gh_conf_key *
conf_key_find(const struct gh_conf_key *keys, const char *name)
{
    for (; keys->name != NULL; keys++) {
        if (strcmp(keys->name, name) == 0)
            return keys;
    }
    return NULL;
}

/*
 * Fill BASE from group G (NULL: the group is absent, every key takes its
 * default) with KEYS.  Unknown keys are checked first: a typo explains a
 * "missing" key better than the missing key does.
 */
static int
conf_group(struct conf_ctx *cx, const config_setting_t *g, const char *path,
           const struct gh_conf_key *keys, void *base)
{
    const struct gh_conf_key *k;
    const config_setting_t *m;
    char sub[CONF_PATH_MAX];
    int i, n;

    n = g != NULL ? config_setting_length(g) : 0;
    for (i = 0; i < n; i++) {
        m = config_setting_get_elem(g, (unsigned) i);
        if (conf_key_find(keys, config_setting_name(m)) == NULL)
            return conf_unknown(cx, m, path, keys);
    }
    for (k = keys; k->name != NULL; k++) {
        m = g != NULL ? config_setting_get_member(g, k->name) : NULL;
        conf_path(sub, path, k->name);
        if (m == NULL && (k->flags & GH_CKF_REQUIRED))
            return conf_err(cx, g, sub, "missing (required)");
        switch (k->type) {
        case GH_CK_GROUP:
            if (m != NULL && !config_setting_is_group(m))
                return conf_type_err(cx, m, sub, "a group { }");
            if (k->parse != NULL) {     /* kept elsewhere: it says where */
                if (k->parse(cx, m, sub, base) != GH_OK)
                    return GH_ERR;
                break;
            }
            if (m == NULL && (k->flags & GH_CKF_OPTIONAL))
                break;          /* off: stays zeroed */
            if (conf_group(cx, m, sub, k->sub, (char *) base + k->offset)
                != GH_OK)
                return GH_ERR;
            break;
        case GH_CK_LIST:
        case GH_CK_NAMED:
        case GH_CK_ARRAY:
        case GH_CK_FUNC:
            if (k->parse(cx, m, sub, base) != GH_OK)
                return GH_ERR;
            break;
        default:
            if (m == NULL && k->def == NULL)
                break;
            if (conf_scalar(cx, k, m, sub, (char *) base + k->offset)
                != GH_OK)
                return GH_ERR;
        }
    }
    return GH_OK;
}

/* S must be a non-empty list of groups; returns its length or -1. */
static int
conf_group_list(struct conf_ctx *cx, const config_setting_t *s,
                const char *path, const char *empty)
{
    int i, n;

    if (!config_setting_is_list(s))
        return conf_type_err(cx, s, path, "a list ( { ... }, ... )");
    n = config_setting_length(s);
    if (n == 0)
        return conf_err(cx, s, path, "%s", empty);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        char sub[CONF_PATH_MAX];

        if (!config_setting_is_group(e)) {
            conf_path_index(sub, path, (unsigned) i);
            return conf_type_err(cx, e, sub, "a group { }");
        }
    }
    return n;
}

/* One string or an array/list of strings; returns the count or -1. */
static int
conf_string_list(struct conf_ctx *cx, const config_setting_t *s,
                 const char *path, const char *empty)
{
    int i, n;

    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        return 1;
    if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
        return conf_type_err(cx, s, path, "a string or an array of strings");
    n = config_setting_length(s);
    if (n == 0)
        return conf_err(cx, s, path, "%s", empty);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        char sub[CONF_PATH_MAX];

        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            conf_path_index(sub, path, (unsigned) i);
            return conf_type_err(cx, e, sub, "a string");
        }
    }
    return n;
}

static const config_setting_t *
conf_string_elem(const config_setting_t *s, int i, const char *path,
                 char *sub)
{
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        conf_fmt(sub, CONF_PATH_MAX, "%s", path);
        return s;
    }
    conf_path_index(sub, path, (unsigned) i);
    return config_setting_get_elem(s, (unsigned) i);
}


/* Checks shared by several keys */

/* RFC 9110 5.6.2: token = 1*tchar; header and cookie names are tokens. */
static int
conf_token_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
              || (*s >= '0' && *s <= '9')
              || strchr("!#$%&'*+-.^_`|~", *s) != NULL))
            return 0;
    }
    return 1;
}

/* Printable ASCII without spaces: safe to put in a request line. */
static int
conf_visible(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char) *s <= ' ' || (unsigned char) *s >= 0x7f)
            return 0;
    }
    return 1;
}

/* A URL path given in the config: a route prefix, a health check path. */
static int
conf_url_path(struct conf_ctx *cx, const config_setting_t *s,
              const char *path, const char *v)
{
    char q[96];
    const char *p;

    if (v[0] != '/')
        return conf_err(cx, s, path, "\"%s\" must start with '/'",
                        conf_quote(v, q, sizeof(q)));
    for (p = v; *p != '\0'; p++) {
        if ((unsigned char) *p <= ' ' || *p == 0x7f)
            return conf_err(cx, s, path, "\"%s\" has a space or control "
                            "character", conf_quote(v, q, sizeof(q)));
    }
    return GH_OK;
}


/* Top-level keys with their own parser */

/*
 * worker_shutdown_timeout: the name nginx users know for timeouts.shutdown.
 * One setting under two names, so the same range, and both may be given
 * only with the same value: which one would win is not obvious to a
 * reader.  The timeouts group is parsed first (table order), so its value
 * is already in BASE.
 */
static int
conf_shutdown_alias(struct conf_ctx *cx, const config_setting_t *s,
                    const char *path, void *base)
{
    const struct gh_conf_key *k = conf_key_find(conf_timeout_keys,
                                                "shutdown");
    struct gh_conf *c = base;
    const config_setting_t *g, *t = NULL;
    const char *tf, *sf;
    char a[32], b[32], buf[PATH_MAX];
    gh_msec d;

    if (s == NULL)
        return GH_OK;
    assert(k != NULL);
    if (conf_scalar(cx, k, s, path, &d) != GH_OK)
        return GH_ERR;
    g = config_setting_get_member(config_setting_parent(s), "timeouts");
    if (g != NULL)
        t = config_setting_get_member(g, "shutdown");
    if (t != NULL && c->timeouts.shutdown != d) {
        (void) conf_fmt_duration(d, a, sizeof(a));
        (void) conf_fmt_duration(c->timeouts.shutdown, b, sizeof(b));
        tf = config_setting_source_file(t);
        sf = config_setting_source_file(s);
        if (tf == sf || (tf != NULL && sf != NULL && strcmp(tf, sf) == 0))
            return conf_err(cx, s, path, "\"%s\" conflicts with "
                            "timeouts.shutdown = \"%s\" (line %u): they are "
                            "one setting, give it once", a, b,
                            (unsigned) config_setting_source_line(t));
        return conf_err(cx, s, path, "\"%s\" conflicts with "
                        "timeouts.shutdown = \"%s\" (%s:%u): they are one "
                        "setting, give it once", a, b,
                        conf_file_name(cx, tf, buf, sizeof(buf)),
                        (unsigned) config_setting_source_line(t));
    }
    c->timeouts.shutdown = d;
    return GH_OK;
}


/* Upstreams */

/* "ip", "uri", "header:NAME", "cookie:NAME" into hash_key, hash_name. */
static int
conf_hash_key(struct conf_ctx *cx, const config_setting_t *s,
              const char *path, void *base)
{
    static const char *const simple[] = { "ip", "uri" };
    struct gh_upstream *u = base;
    const char *str, *name, *what, *best;
    char q[96], *p;

    u->hash_key = GH_HASH_IP;
    u->hash_name = NULL;
    if (s == NULL)
        return GH_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_type_err(cx, s, path, "a string");
    str = config_setting_get_string(s);
    (void) conf_quote(str, q, sizeof(q));
    if (strcmp(str, "ip") == 0)
        return GH_OK;
    if (strcmp(str, "uri") == 0) {
        u->hash_key = GH_HASH_URI;
        return GH_OK;
    }
    if (strncmp(str, "header:", 7) == 0) {
        u->hash_key = GH_HASH_HEADER;
        what = "header";
    } else if (strncmp(str, "cookie:", 7) == 0) {
        u->hash_key = GH_HASH_COOKIE;
        what = "cookie";
    } else if (strcmp(str, "header") == 0 || strcmp(str, "cookie") == 0) {
        return conf_err(cx, s, path, "\"%s\" needs a name, as in "
                        "\"%s:NAME\"", q, q);
    } else {
        best = conf_suggest(str, simple, GH_NELEM(simple));
        if (best != NULL)
            return conf_err(cx, s, path, "unknown value \"%s\" (did you "
                            "mean \"%s\"?)", q, best);
        return conf_err(cx, s, path, "unknown value \"%s\" (want \"ip\", "
                        "\"uri\", \"header:NAME\" or \"cookie:NAME\")", q);
    }
    name = str + 7;
    if (*name == '\0')
        return conf_err(cx, s, path, "\"%s\" has an empty %s name", q,
                        what);
    if (!conf_token_ok(name))
        return conf_err(cx, s, path, "\"%s\": not a valid %s name (want "
                        "letters, digits and !#$%%&'*+-.^_`|~)", q, what);
    if ((p = conf_strdup(cx, name)) == NULL)
        return conf_oom(cx);
    u->hash_name = p;
    if (u->hash_key == GH_HASH_HEADER) {
        /* Header names compare without case (RFC 9110 5.1). */
        for (; *p != '\0'; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char) (*p - 'A' + 'a');
        }
    }
    return GH_OK;
}

/* health.status: "200-399", "200" or 200, into status_lo and status_hi. */
static int
conf_status(struct conf_ctx *cx, const config_setting_t *s,
            const char *path, void *base)
{
    struct gh_health *h = base;
    char text[32], q[96], shown[100];
    const char *str, *end;
    uint64_t lo, hi = 0;

    if (s == NULL) {
        h->status_lo = 200;
        h->status_hi = 399;
        return GH_OK;
    }
    if (config_setting_type(s) == CONFIG_TYPE_INT
        || config_setting_type(s) == CONFIG_TYPE_INT64) {
        (void) snprintf(text, sizeof(text), "%lld",
                        (long long) config_setting_get_int64(s));
        str = text;
        (void) snprintf(shown, sizeof(shown), "%s", text);
    } else if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        str = config_setting_get_string(s);
        (void) snprintf(shown, sizeof(shown), "\"%s\"",
                        conf_quote(str, q, sizeof(q)));
    } else {
        return conf_type_err(cx, s, path,
                             "a string (\"200\" or \"200-399\")");
    }
    end = conf_digits(str, &lo);
    if (end != NULL && *end == '-')
        end = conf_digits(end + 1, &hi);
    else
        hi = lo;
    if (end == NULL || *end != '\0')
        return conf_err(cx, s, path, "%s is not a status or a range of them "
                        "(want \"200\" or \"200-399\")", shown);
    if (lo < 100 || lo > 599 || hi < 100 || hi > 599)
        return conf_err(cx, s, path, "%s is out of range (100..599)", shown);
    if (lo > hi)
        return conf_err(cx, s, path, "%s is not a range: %llu is above "
                        "%llu", shown, (unsigned long long) lo,
                        (unsigned long long) hi);
    h->status_lo = (uint32_t) lo;
    h->status_hi = (uint32_t) hi;
    return GH_OK;
}

/* The health group G at PATH, after its keys were parsed into H. */
static int
conf_health_check(struct conf_ctx *cx, const config_setting_t *g,
                  const char *path, struct gh_health *h)
{
    static const char *const http_only[] = { "path", "host", "status" };
    const config_setting_t *m;
    char sub[CONF_PATH_MAX], q[96], a[32], b[32];
    size_t i;

    if (h->type == GH_HEALTH_TCP) {
        for (i = 0; i < GH_NELEM(http_only); i++) {
            m = config_setting_get_member(g, http_only[i]);
            conf_path(sub, path, http_only[i]);
            if (m != NULL)
                return conf_err(cx, m, sub, "not allowed with type = "
                                "\"tcp\" (only HTTP checks have it)");
        }
        h->path = NULL;         /* the defaults, unused */
        h->status_lo = 0;
        h->status_hi = 0;
    } else {
        conf_path(sub, path, "path");
        if (conf_url_path(cx, config_setting_get_member(g, "path"), sub,
                          h->path) != GH_OK)
            return GH_ERR;
        conf_path(sub, path, "host");
        /* It goes into the request as is: no CR LF smuggled in. */
        if (h->host != NULL && !conf_visible(h->host))
            return conf_err(cx, config_setting_get_member(g, "host"), sub,
                            "\"%s\" has a space, control or non-ASCII "
                            "character", conf_quote(h->host, q, sizeof(q)));
    }
    if (h->timeout > h->interval) {
        m = config_setting_get_member(g, "timeout");
        if (m == NULL) {
            /* The default yields to a short interval: "500ms" is fine. */
            h->timeout = h->interval;
        } else {
            conf_path(sub, path, "timeout");
            return conf_err(cx, m, sub, "\"%s\" is longer than interval "
                            "(\"%s\")",
                            conf_fmt_duration(h->timeout, a, sizeof(a)),
                            conf_fmt_duration(h->interval, b, sizeof(b)));
        }
    }
    return GH_OK;
}

static void
conf_up_tls_free(void *ctx)
{
    SSL_CTX_free(ctx);
}

/*
 * An upstream's tls (group M of upstream E): build its client context now,
 * so that a bad CA or client certificate is a config error here.
 */
static int
conf_up_tls_check(struct conf_ctx *cx, const config_setting_t *e,
                  const config_setting_t *m, const char *path,
                  struct gh_upstream *u)
{
    char why[512], sub[CONF_PATH_MAX];
    const char *key = NULL;

    u->tls.on = 1;
    if ((u->tls.cert == NULL) != (u->tls.key == NULL))
        return conf_err(cx, m, path, "cert and key go together");
    if (u->tls.sni != NULL && !conf_host_ok(u->tls.sni))
        return conf_err(cx, config_setting_get_member(m, "sni"), path,
                        "sni \"%s\" is not a host name", u->tls.sni);
    u->tls.ctx = gh_tls_up_ctx(&u->tls, &key, why, sizeof(why));
    if (u->tls.ctx == NULL) {
        conf_path(sub, path, key != NULL ? key : "");
        return conf_err(cx, key != NULL ? config_setting_get_member(m, key)
                        : m, key != NULL ? sub : path, "%s", why);
    }
    if (conf_on_free(cx, conf_up_tls_free, u->tls.ctx) != GH_OK) {
        SSL_CTX_free(u->tls.ctx);
        u->tls.ctx = NULL;
        return conf_oom(cx);
    }
    return GH_OK;
}

/* Rules across the keys of upstream E at PATH, parsed into U. */
static int
conf_upstream_check(struct conf_ctx *cx, const config_setting_t *e,
                    const char *path, struct gh_upstream *u)
{
    const config_setting_t *m;
    char sub[CONF_PATH_MAX];

    m = config_setting_get_member(e, "hash_key");
    if (m != NULL && u->balance != GH_BALANCE_HASH)
        return conf_err(cx, m, path, "hash_key needs balance = \"hash\"");
    m = config_setting_get_member(e, "health");
    if (m != NULL) {
        conf_path(sub, path, "health");
        if (conf_health_check(cx, m, sub, &u->health) != GH_OK)
            return GH_ERR;
    }
    m = config_setting_get_member(e, "tls");
    if (m == NULL)
        return GH_OK;
    conf_path(sub, path, "tls");
    return conf_up_tls_check(cx, e, m, sub, u);
}

static int
conf_upstreams(struct conf_ctx *cx, const config_setting_t *s,
               const char *path, void *base)
{
    struct gh_conf *c = base;
    char sub[CONF_PATH_MAX];
    int i, n;

    if (s == NULL)
        return GH_OK;
    if (!config_setting_is_group(s))
        return conf_type_err(cx, s, path, "a group of named upstreams");
    n = config_setting_length(s);
    if (n == 0)
        return GH_OK;
    c->upstreams = conf_arena_alloc(cx->arena,
                                    (size_t) n * sizeof(struct gh_upstream));
    if (c->upstreams == NULL)
        return conf_oom(cx);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        struct gh_upstream *u = &c->upstreams[i];

        conf_path(sub, path, config_setting_name(e));
        if (!config_setting_is_group(e))
            return conf_type_err(cx, e, sub, "a group { }");
        /* Shared state keys its records by name, in a fixed field. */
        if (strlen(config_setting_name(e)) > CONF_NAME_MAX)
            return conf_err(cx, e, sub, "the name is %zu bytes long; the "
                            "limit is %d", strlen(config_setting_name(e)),
                            CONF_NAME_MAX);
        if ((u->name = conf_strdup(cx, config_setting_name(e))) == NULL)
            return conf_oom(cx);
        u->index = (uint32_t) i;
        if (conf_group(cx, e, sub, conf_upstream_keys, u) != GH_OK
            || conf_upstream_check(cx, e, sub, u) != GH_OK)
            return GH_ERR;
        c->nupstreams = (uint32_t) i + 1;
    }
    return GH_OK;
}

static int
conf_servers(struct conf_ctx *cx, const config_setting_t *s,
             const char *path, void *base)
{
    struct gh_upstream *u = base;
    char sub[CONF_PATH_MAX];
    int i, j, n;

    n = conf_group_list(cx, s, path, "an upstream needs at least one server");
    if (n < 0)
        return GH_ERR;
    u->servers = conf_arena_alloc(cx->arena,
                                  (size_t) n * sizeof(struct gh_server));
    if (u->servers == NULL)
        return conf_oom(cx);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        struct gh_server *sv = &u->servers[i];

        conf_path_index(sub, path, (unsigned) i);
        if (conf_group(cx, e, sub, conf_server_keys, sv) != GH_OK)
            return GH_ERR;
        sv->file = conf_source(cx, e);
        sv->line = (int) config_setting_source_line(e);
        /* Shared health state is keyed by upstream name + address. */
        for (j = 0; j < i; j++) {
            if (strcmp(u->servers[j].addr.text, sv->addr.text) == 0)
                return conf_err(cx, e, sub, "server %s is listed twice "
                                "(first at line %d)", sv->addr.text,
                                u->servers[j].line);
        }
    }
    for (i = 0; i < n && u->servers[i].backup; i++)
        continue;
    if (i == n)
        return conf_err(cx, s, path, "every server is a backup; at least "
                        "one must not be");
    u->nservers = (uint32_t) n;
    return GH_OK;
}


/* Caches */

/* [A-Za-z0-9_-]{1,47}: a metrics label and a directory key in the
 * segment (shm/cachedir.h), so plain and bounded. */
static int
conf_zone_name_ok(const char *n)
{
    size_t len = strlen(n);

    if (len == 0 || len > CONF_ZONE_NAME_MAX)
        return 0;
    for (; *n != '\0'; n++) {
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z')
              || (*n >= '0' && *n <= '9') || *n == '_' || *n == '-'))
            return 0;
    }
    return 1;
}

/*
 * caches.*.key: "method scheme host uri", elements separated by spaces,
 * each once, at least one, in the order the key is built.
 */
static int
conf_cache_key(struct conf_ctx *cx, const config_setting_t *s,
               const char *path, void *base)
{
    struct gh_cache_zone *z = base;
    const char *str, *p, *best;
    char word[32], q[96];
    uint32_t n = 0, seen = 0;

    if (s == NULL) {
        z->key[0] = GH_CKEY_METHOD;
        z->key[1] = GH_CKEY_SCHEME;
        z->key[2] = GH_CKEY_HOST;
        z->key[3] = GH_CKEY_URI;
        z->nkey = 4;
        return GH_OK;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_type_err(cx, s, path, "a string such as \"method scheme "
                             "host uri\"");
    str = config_setting_get_string(s);
    for (p = str; *p != '\0'; ) {
        size_t len = strcspn(p, " \t");
        unsigned e;

        if (len == 0) {
            p++;
            continue;
        }
        conf_fmt(word, sizeof(word), "%.*s%s", (int) GH_MIN(len, 28), p,
                 len > 28 ? "..." : "");
        for (e = 0; e < GH_NELEM(conf_ckey_names); e++) {
            if (strlen(conf_ckey_names[e]) == len
                && strncmp(conf_ckey_names[e], p, len) == 0)
                break;
        }
        if (e == GH_NELEM(conf_ckey_names)) {
            (void) conf_quote(word, q, sizeof(q));
            best = len > 28 ? NULL : conf_suggest(word, conf_ckey_names,
                                                  GH_NELEM(conf_ckey_names));
            if (best != NULL)
                return conf_err(cx, s, path, "unknown element \"%s\" (did "
                                "you mean \"%s\"?)", q, best);
            return conf_err(cx, s, path, "unknown element \"%s\" (want "
                            "method, scheme, host, uri, path or args)", q);
        }
        if (seen & (1u << e))
            return conf_err(cx, s, path, "\"%s\" is listed twice",
                            conf_ckey_names[e]);
        seen |= 1u << e;
        z->key[n++] = (uint8_t) e;
        p += len;
    }
    if (n == 0)
        return conf_err(cx, s, path, "must name at least one of method, "
                        "scheme, host, uri, path and args");
    z->nkey = n;
    return GH_OK;
}

static void
conf_dump_cache_key(FILE *out, const void *base, int indent)
{
    const struct gh_cache_zone *z = base;

    fprintf(out, "%*skey = \"", indent, "");
    for (uint32_t i = 0; i < z->nkey; i++)
        fprintf(out, "%s%s", i ? " " : "", gh_ckey_part_name(z->key[i]));
    fprintf(out, "\";\n");
}

/* Rules across the keys of zone E at PATH, parsed into Z. */
static int
conf_cache_check(struct conf_ctx *cx, const config_setting_t *e,
                 const char *path, struct gh_cache_zone *z)
{
    const config_setting_t *m = config_setting_get_member(e, "max_object");
    char sub[CONF_PATH_MAX], a[32], b[32];

    if (z->max_object <= z->size)
        return GH_OK;
    if (m == NULL) {
        /* The default yields to a small zone: size = "256k" is fine. */
        z->max_object = z->size;
        return GH_OK;
    }
    conf_path(sub, path, "max_object");
    return conf_err(cx, m, sub, "\"%s\" is larger than size (\"%s\")",
                    conf_fmt_size(z->max_object, a, sizeof(a)),
                    conf_fmt_size(z->size, b, sizeof(b)));
}

static int
conf_caches(struct conf_ctx *cx, const config_setting_t *s,
            const char *path, void *base)
{
    struct gh_conf *c = base;
    char sub[CONF_PATH_MAX], q[96];
    int i, n;

    if (s == NULL)
        return GH_OK;
    if (!config_setting_is_group(s))
        return conf_type_err(cx, s, path, "a group of named cache zones");
    cx->caches = s;
    n = config_setting_length(s);
    if (n == 0)
        return GH_OK;
    if (n > GH_CONF_CACHES_MAX)
        return conf_err(cx, config_setting_get_elem(s, GH_CONF_CACHES_MAX),
                        path, "more than %d cache zones", GH_CONF_CACHES_MAX);
    c->caches = conf_arena_alloc(cx->arena,
                                 (size_t) n * sizeof(struct gh_cache_zone));
    if (c->caches == NULL)
        return conf_oom(cx);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        struct gh_cache_zone *z = &c->caches[i];
        const char *name = config_setting_name(e);

        conf_path(sub, path, name);
        if (!config_setting_is_group(e))
            return conf_type_err(cx, e, sub, "a group { }");
        /* Metrics label it and the segment keys its zone by it. */
        if (!conf_zone_name_ok(name))
            return conf_err(cx, e, sub, "\"%s\" is not a zone name (want "
                            "1 to %d letters, digits, '_' and '-')",
                            conf_quote(name, q, sizeof(q)),
                            CONF_ZONE_NAME_MAX);
        if ((z->name = conf_strdup(cx, name)) == NULL)
            return conf_oom(cx);
        z->line = (int) config_setting_source_line(e);
        z->index = (uint32_t) i;
        if (conf_group(cx, e, sub, conf_cache_keys, z) != GH_OK
            || conf_cache_check(cx, e, sub, z) != GH_OK)
            return GH_ERR;
        c->ncaches = (uint32_t) i + 1;
    }
    return GH_OK;
}

/*
 * The zones live in the segment with the client table, the TLS session
 * caches and everything else, and a zone only takes memory as it fills:
 * refuse at load what could never fit rather than fail fills later.  An
 * eighth of shm_size stays for the rest (the slab's page descriptors, 1/64
 * of it; the zones' indexes, 1/512 of each; partly used slab pages; the
 * health, counters and process tables).  Not counted: a resized zone's
 * predecessor, which old workers may still read for a while after a
 * reload; meanwhile the new zone evicts its own entries sooner.
 */
static int
conf_caches_fit(struct conf_ctx *cx)
{
    struct gh_conf *c = cx->conf;
    uint64_t tls = 0, other, room, sum = 0;
    char s1[32], s2[32], s3[32], s4[32], s5[32];
    char zpath[CONF_PATH_MAX], sub[CONF_PATH_MAX];

    if (c->ncaches == 0)
        return GH_OK;
    for (uint32_t i = 0; i < c->nsites; i++)
        tls += c->sites[i].tls != NULL ? c->sites[i].tls->session_cache : 0;
    other = c->shm_size / 8 + c->limits.client_table_size + tls;
    room = c->shm_size > other ? c->shm_size - other : 0;
    for (uint32_t i = 0; i < c->ncaches; i++) {
        const config_setting_t *e, *m;

        sum += c->caches[i].size;
        if (sum <= room)
            continue;
        e = config_setting_get_elem(cx->caches, i);
        m = config_setting_get_member(e, "size");
        conf_path(zpath, "caches", c->caches[i].name);
        conf_path(sub, zpath, "size");
        return conf_err(cx, m != NULL ? m : e, sub, "the cache zones take "
                        "%s in all with this one; shm_size (%s) has room "
                        "for %s of them (after the client table, %s, the "
                        "TLS session caches, %s, and an eighth kept for "
                        "the rest): make the zones smaller or shm_size "
                        "larger", conf_fmt_size(sum, s1, sizeof(s1)),
                        conf_fmt_size(c->shm_size, s2, sizeof(s2)),
                        conf_fmt_size(room, s3, sizeof(s3)),
                        conf_fmt_size(c->limits.client_table_size, s4,
                                      sizeof(s4)),
                        conf_fmt_size(tls, s5, sizeof(s5)));
    }
    return GH_OK;
}

static void
conf_dump_caches(FILE *out, const void *base, int indent)
{
    const struct gh_conf *c = base;

    if (c->ncaches == 0)
        return;
    fprintf(out, "%*scaches = {\n", indent, "");
    for (uint32_t i = 0; i < c->ncaches; i++) {
        fprintf(out, "%*s%s = {\n", indent + 4, "", c->caches[i].name);
        conf_dump_group(out, conf_cache_keys, &c->caches[i], indent + 8);
        fprintf(out, "%*s};\n", indent + 4, "");
    }
    fprintf(out, "%*s};\n", indent, "");
}

/* A route's `cache`: the name of a zone of `caches`. */
static int
conf_route_cache(struct conf_ctx *cx, const config_setting_t *s,
                 const char *path, void *base)
{
    const char *names[GH_CONF_CACHES_MAX], *str, *best;
    struct gh_conf *c = cx->conf;
    struct gh_route *r = base;
    char q[96];
    uint32_t i;

    r->cache = NULL;
    if (s == NULL)
        return GH_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_type_err(cx, s, path, "a string (a zone of caches)");
    str = config_setting_get_string(s);
    for (i = 0; i < c->ncaches; i++) {
        if (strcmp(c->caches[i].name, str) == 0) {
            r->cache = &c->caches[i];
            return GH_OK;
        }
        names[i] = c->caches[i].name;
    }
    (void) conf_quote(str, q, sizeof(q));
    if (c->ncaches == 0)
        return conf_err(cx, s, path, "unknown cache zone \"%s\" (the "
                        "top-level caches group defines none)", q);
    best = conf_suggest(str, names, c->ncaches);
    if (best != NULL)
        return conf_err(cx, s, path, "unknown cache zone \"%s\" (did you "
                        "mean \"%s\"?)", q, best);
    return conf_err(cx, s, path, "unknown cache zone \"%s\"", q);
}

static void
conf_dump_route_cache(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;

    if (r->cache == NULL)
        return;
    fprintf(out, "%*scache = ", indent, "");
    conf_dump_str(out, r->cache->name);
    fprintf(out, ";\n");
}

/* cache_key_extra: "header:NAME", "cookie:NAME" or "query:NAME". */
static int
conf_route_key_extra(struct conf_ctx *cx, const config_setting_t *s,
                     const char *path, void *base)
{
    static const char *const kinds[] = {
        [GH_CKEY_X_HEADER] = "header", [GH_CKEY_X_COOKIE] = "cookie",
        [GH_CKEY_X_QUERY] = "query"
    };
    struct gh_route *r = base;
    struct gh_ckey_extra *v;
    char sub[CONF_PATH_MAX], q[96];
    int n;

    if (s == NULL)
        return GH_OK;
    n = conf_string_list(cx, s, path, "must not be empty (leave "
                         "cache_key_extra out to key by the zone's key "
                         "alone)");
    if (n < 0)
        return GH_ERR;
    v = conf_arena_alloc(cx->arena, (size_t) n * sizeof(*v));
    if (v == NULL)
        return conf_oom(cx);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = conf_string_elem(s, i, path, sub);
        const char *t = config_setting_get_string(e), *colon;
        unsigned kind;
        char *name;

        (void) conf_quote(t, q, sizeof(q));
        colon = strchr(t, ':');
        for (kind = 0; kind < GH_NELEM(kinds); kind++) {
            if (colon != NULL && (size_t) (colon - t) == strlen(kinds[kind])
                && strncmp(t, kinds[kind], strlen(kinds[kind])) == 0)
                break;
        }
        if (kind == GH_NELEM(kinds))
            return conf_err(cx, e, sub, "\"%s\" is not \"header:NAME\", "
                            "\"cookie:NAME\" or \"query:NAME\"", q);
        if ((name = conf_strdup(cx, colon + 1)) == NULL)
            return conf_oom(cx);
        if (*name == '\0')
            return conf_err(cx, e, sub, "\"%s\" has an empty %s name", q,
                            kinds[kind]);
        if (kind == GH_CKEY_X_QUERY) {
            /* Compared with the argument names as sent (no decoding). */
            if (!conf_visible(name) || strpbrk(name, "&#=") != NULL)
                return conf_err(cx, e, sub, "\"%s\": not a query argument "
                                "name (printable, without spaces, '&', '#' "
                                "or '=')", q);
        } else if (!conf_token_ok(name)) {
            return conf_err(cx, e, sub, "\"%s\": not a valid %s name (want "
                            "letters, digits and !#$%%&'*+-.^_`|~)", q,
                            kinds[kind]);
        }
        if (kind == GH_CKEY_X_HEADER) {
            /* Header names compare without case (RFC 9110 5.1). */
            for (char *p = name; *p != '\0'; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char) (*p - 'A' + 'a');
        }
        for (int j = 0; j < i; j++) {
            if (v[j].kind == kind && strcmp(v[j].name, name) == 0)
                return conf_err(cx, e, sub, "\"%s\" is listed twice", q);
        }
        v[i].kind = kind;
        v[i].name = name;
        v[i].name_len = (uint32_t) strlen(name);
    }
    r->key_extra = v;
    r->nkey_extra = (uint32_t) n;
    return GH_OK;
}

static void
conf_dump_route_key_extra(FILE *out, const void *base, int indent)
{
    static const char *const kinds[] = { "header:", "cookie:", "query:" };
    const struct gh_route *r = base;

    if (r->nkey_extra == 0)
        return;
    fprintf(out, "%*scache_key_extra = [ ", indent, "");
    for (uint32_t i = 0; i < r->nkey_extra; i++) {
        char buf[1024];

        conf_fmt(buf, sizeof(buf), "%s%s", kinds[r->key_extra[i].kind],
                 r->key_extra[i].name);
        conf_dump_str(out, buf);
        fprintf(out, "%s", i + 1 < r->nkey_extra ? ", " : " ");
    }
    fprintf(out, "];\n");
}

/* purge_allow: CIDR blocks, as `allow`; who may PURGE (nobody without). */
static int
conf_route_purge_allow(struct conf_ctx *cx, const config_setting_t *s,
                       const char *path, void *base)
{
    struct gh_route *r = base;
    int n;

    if (s == NULL)
        return GH_OK;
    n = conf_string_list(cx, s, path, "must not be empty (leave "
                         "purge_allow out to refuse every PURGE)");
    if (n < 0)
        return GH_ERR;
    r->purge_allow.rules = conf_arena_alloc(cx->arena, (size_t) n
                                            * sizeof(struct gh_cidr));
    if (r->purge_allow.rules == NULL)
        return conf_oom(cx);
    if (conf_cidr_list(cx, s, path, n, r->purge_allow.rules, 1) != GH_OK)
        return GH_ERR;
    r->purge_allow.n = (uint32_t) n;
    r->purge_allow.has_allow = 1;
    return GH_OK;
}


/* Sites */

static int
conf_listen(struct conf_ctx *cx, const config_setting_t *s,
            const char *path, void *base)
{
    struct gh_site *site = base;
    struct gh_conf_key k = { "listen", GH_CK_ADDR, 0, .def = NULL };
    char sub[CONF_PATH_MAX];
    int i, j, n;

    n = conf_string_list(cx, s, path,
                         "a site needs at least one listen address");
    if (n < 0)
        return GH_ERR;
    site->listen = conf_arena_alloc(cx->arena,
                                    (size_t) n * sizeof(struct gh_listen));
    if (site->listen == NULL)
        return conf_oom(cx);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = conf_string_elem(s, i, path, sub);
        struct gh_listen *l = &site->listen[i];

        if (conf_scalar(cx, &k, e, sub, &l->addr) != GH_OK)
            return GH_ERR;
        l->backlog = CONF_BACKLOG;
        for (j = 0; j < i; j++) {
            if (strcmp(site->listen[j].addr.text, l->addr.text) == 0)
                return conf_err(cx, e, sub, "%s is listed twice",
                                l->addr.text);
        }
    }
    site->nlisten = (uint32_t) n;
    return GH_OK;
}

/* "example.com", "*.example.com", "10.0.0.1" or "[::1]"; lower-cased. */
static int
conf_host_ok(const char *h)
{
    const char *p = h;

    if (h[0] == '[') {
        size_t len = strlen(h);
        char buf[INET6_ADDRSTRLEN + 1];
        struct in6_addr a;

        if (len < 3 || len - 2 >= sizeof(buf) || h[len - 1] != ']')
            return 0;
        memcpy(buf, h + 1, len - 2);
        buf[len - 2] = '\0';
        return inet_pton(AF_INET6, buf, &a) == 1;
    }
    if (p[0] == '*' && p[1] == '.')
        p += 2;
    if (*p == '\0' || *p == '.' || strlen(h) > 253)
        return 0;
    for (; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '-' || *p == '_'
              || (*p == '.' && p[1] != '.' && p[1] != '\0')))
            return 0;
    }
    return 1;
}

/* Lower-case host names (with "*.x" wildcards) from S into *OUT. */
static int
conf_host_list(struct conf_ctx *cx, const config_setting_t *s,
               const char *path, const char *empty, const char ***out,
               uint32_t *nout)
{
    char sub[CONF_PATH_MAX], q[96], *h, *p;
    const char **v;
    int i, j, n;

    n = conf_string_list(cx, s, path, empty);
    if (n < 0)
        return GH_ERR;
    v = conf_arena_alloc(cx->arena, (size_t) n * sizeof(char *));
    if (v == NULL)
        return conf_oom(cx);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = conf_string_elem(s, i, path, sub);

        if ((h = conf_strdup(cx, config_setting_get_string(e))) == NULL)
            return conf_oom(cx);
        for (p = h; *p != '\0'; p++) {
            if (*p >= 'A' && *p <= 'Z')
                *p = (char) (*p - 'A' + 'a');
        }
        if (!conf_host_ok(h))
            return conf_err(cx, e, sub, "\"%s\" is not a host name (a "
                            "wildcard may only be a leading \"*.\")",
                            conf_quote(h, q, sizeof(q)));
        for (j = 0; j < i; j++) {
            if (strcmp(v[j], h) == 0)
                return conf_err(cx, e, sub, "\"%s\" is listed twice",
                                conf_quote(h, q, sizeof(q)));
        }
        v[i] = h;
    }
    *out = v;
    *nout = (uint32_t) n;
    return GH_OK;
}

static int
conf_hosts(struct conf_ctx *cx, const config_setting_t *s,
           const char *path, void *base)
{
    struct gh_site *site = base;

    if (s == NULL)
        return GH_OK;       /* any host */
    return conf_host_list(cx, s, path, "must not be empty (leave hosts out "
                          "to serve any host)", &site->hosts, &site->nhosts);
}

/* RFC 9110 5.6.2 tchar */
static int
http_tchar_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || (c != '\0'
                                         && strchr("!#$%&'*+-.^_`|~", c));
}

/* ---- hide_headers --------------------------------------------------- */

static int
conf_hide(struct conf_ctx *cx, const config_setting_t *s, const char *path,
          const char ***out, uint32_t *nout)
{
    char sub[CONF_PATH_MAX], q[96];
    const char **v;
    int n;

    if (s == NULL)
        return GH_OK;
    n = conf_string_list(cx, s, path, "must not be empty");
    if (n < 0)
        return GH_ERR;
    v = conf_arena_alloc(cx->arena, (size_t) n * sizeof(*v));
    if (v == NULL)
        return conf_oom(cx);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = conf_string_elem(s, i, path, sub);
        char *h = conf_strdup(cx, config_setting_get_string(e));

        if (h == NULL)
            return conf_oom(cx);
        for (char *p = h; *p != '\0'; p++) {
            if (!http_tchar_ok((unsigned char) *p))
                return conf_err(cx, e, sub, "\"%s\" is not a header name",
                                conf_quote(h, q, sizeof(q)));
            if (*p >= 'A' && *p <= 'Z')
                *p = (char) (*p - 'A' + 'a');
        }
        if (*h == '\0')
            return conf_err(cx, e, sub, "an empty header name");
        v[i] = h;
    }
    *out = v;
    *nout = (uint32_t) n;
    return GH_OK;
}

static int
conf_route_hide(struct conf_ctx *cx, const config_setting_t *s,
                const char *path, void *base)
{
    struct gh_route *r = base;

    return conf_hide(cx, s, path, &r->hide, &r->nhide);
}

static int
conf_site_hide(struct conf_ctx *cx, const config_setting_t *s,
               const char *path, void *base)
{
    struct gh_site *site = base;

    return conf_hide(cx, s, path, &site->hide, &site->nhide);
}

static void
conf_dump_hide(FILE *out, const char *const *v, uint32_t n, int indent)
{
    if (v == NULL)
        return;
    fprintf(out, "%*shide_headers = [ ", indent, "");
    for (uint32_t i = 0; i < n; i++) {
        conf_dump_str(out, v[i]);
        fprintf(out, "%s", i + 1 < n ? ", " : " ");
    }
    fprintf(out, "];\n");
}

static void
conf_dump_route_hide(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;

    conf_dump_hide(out, r->hide, r->nhide, indent);
}

static void
conf_dump_site_hide(FILE *out, const void *base, int indent)
{
    const struct gh_site *site = base;

    conf_dump_hide(out, site->hide, site->nhide, indent);
}

/* ---- allow / deny ----------------------------------------------------- */

/* "10.0.0.0/8", "2001:db8::/32", "127.0.0.1", "::1" or "all". */
static int
conf_cidr(const char *text, struct gh_cidr *c, char *why, size_t whylen)
{
    char buf[64], *slash;
    struct in_addr a4;
    long bits = -1, max;
    uint8_t mask;

    memset(c, 0, sizeof(*c));
    if (strcmp(text, "all") == 0)
        return GH_OK;               /* bits 0: every address */
    if (strlen(text) >= sizeof(buf)) {
        snprintf(why, whylen, "is not an address or a CIDR block");
        return GH_ERR;
    }
    strcpy(buf, text);
    slash = strchr(buf, '/');
    if (slash != NULL) {
        char *end;

        *slash = '\0';
        errno = 0;
        bits = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno) {
            snprintf(why, whylen, "has an invalid prefix length");
            return GH_ERR;
        }
    }
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        c->addr[10] = c->addr[11] = 0xff;
        memcpy(&c->addr[12], &a4, 4);
        max = 32;
        if (bits < 0)
            bits = 32;
        if (bits > max) {
            snprintf(why, whylen, "has a prefix longer than 32 bits");
            return GH_ERR;
        }
        bits += 96;
    } else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
        if (bits < 0)
            bits = 128;
        if (bits > 128) {
            snprintf(why, whylen, "has a prefix longer than 128 bits");
            return GH_ERR;
        }
    } else {
        snprintf(why, whylen, "is not an IPv4 or IPv6 address or a CIDR "
                 "block (or \"all\")");
        return GH_ERR;
    }
    c->bits = (uint8_t) bits;
    /* Bits below the prefix must be zero: 10.0.0.1/8 is a typo. */
    for (int i = 0; i < 16; i++) {
        int keep = (int) bits - i * 8;

        mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t) (0xff << (8 - keep));
        if (c->addr[i] & (uint8_t) ~mask) {
            snprintf(why, whylen, "has bits set below its prefix length");
            return GH_ERR;
        }
    }
    return GH_OK;
}

/*
 * The N strings of S (one string or an array, conf_string_list() checked
 * them) as CIDR blocks into RULES, each an allow rule when ALLOW, else a
 * deny rule: the `allow` and `deny` keys, and `purge_allow`.
 */
static int
conf_cidr_list(struct conf_ctx *cx, const config_setting_t *s,
               const char *path, int n, struct gh_cidr *rules, int allow)
{
    char sub[CONF_PATH_MAX], why[96], q[96];

    for (int i = 0; i < n; i++) {
        const config_setting_t *e = conf_string_elem(s, i, path, sub);
        const char *t = config_setting_get_string(e);

        if (conf_cidr(t, &rules[i], why, sizeof(why)) != GH_OK)
            return conf_err(cx, e, sub, "\"%s\" %s",
                            conf_quote(t, q, sizeof(q)), why);
        rules[i].allow = (uint8_t) allow;
    }
    return GH_OK;
}

#define CONF_ACL_FILE_MAX  (4 * 1024 * 1024)
#define CONF_ACL_RULES_MAX 100000

/*
 * acl_file: one rule a line, "allow CIDR" or "deny CIDR" (an optional ';'
 * after it), '#' comments, blank lines.  Parses FILE (the key S) into
 * RULES (room for MAX; NULL: only count) and returns the number of rules,
 * or -1 with "FILE:LINE: why (acl_file at CONF:LINE)" in cx->err.
 */
static int
conf_acl_file(struct conf_ctx *cx, const config_setting_t *s,
              const char *path, const char *file, struct gh_cidr *rules,
              int max)
{
    char *text = NULL, *line, *next, why[96], q[96], where[PATH_MAX + 64];
    char buf[PATH_MAX];
    unsigned lineno = 0;
    int n = 0, rc = -1;
    struct stat st;
    size_t len = 0;
    FILE *f;

    conf_fmt(where, sizeof(where), "acl_file at %s:%u",
             conf_file_name(cx, config_setting_source_file(s), buf,
                            sizeof(buf)),
             config_setting_source_line(s));
    f = fopen(file, "re");
    if (f == NULL) {
        conf_err(cx, s, path, "cannot open \"%s\": %s",
                 conf_quote(file, q, sizeof(q)), strerror(errno));
        return -1;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)
        || st.st_size > CONF_ACL_FILE_MAX) {
        conf_err(cx, s, path, "\"%s\" is not a regular file of at most "
                 "4M", conf_quote(file, q, sizeof(q)));
        goto out;
    }
    text = malloc((size_t) st.st_size + 1);
    if (text == NULL) {
        conf_oom(cx);
        goto out;
    }
    len = fread(text, 1, (size_t) st.st_size, f);
    text[len] = '\0';
    if (memchr(text, '\0', len) != NULL) {
        conf_err(cx, s, path, "\"%s\" has a NUL byte",
                 conf_quote(file, q, sizeof(q)));
        goto out;
    }
    for (line = text; line != NULL && *line != '\0'; line = next) {
        char *p, *e, *word, *arg;
        struct gh_cidr c;

        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if ((p = strchr(line, '#')) != NULL)
            *p = '\0';
        for (p = line; *p == ' ' || *p == '\t'; p++)
            ;
        e = p + strlen(p);
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e > p && e[-1] == ';')
            e--;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        *e = '\0';
        if (*p == '\0')
            continue;
        word = p;
        p += strcspn(p, " \t");
        if (*p != '\0')
            *p++ = '\0';
        arg = p + strspn(p, " \t");
        if ((strcmp(word, "allow") != 0 && strcmp(word, "deny") != 0)
            || *arg == '\0' || arg[strcspn(arg, " \t")] != '\0') {
            snprintf(cx->err, cx->errlen, "%s:%u: expected \"allow "
                     "CIDR\" or \"deny CIDR\" (%s)", file, lineno, where);
            goto out;
        }
        if (conf_cidr(arg, &c, why, sizeof(why)) != GH_OK) {
            snprintf(cx->err, cx->errlen, "%s:%u: \"%s\" %s (%s)", file,
                     lineno, conf_quote(arg, q, sizeof(q)), why, where);
            goto out;
        }
        if (n >= CONF_ACL_RULES_MAX) {
            snprintf(cx->err, cx->errlen, "%s:%u: more than %d rules (%s)",
                     file, lineno, CONF_ACL_RULES_MAX, where);
            goto out;
        }
        c.allow = word[0] == 'a';
        if (rules != NULL && n < max)
            rules[n] = c;
        n++;
    }
    if (ferror(f)) {
        conf_err(cx, s, path, "cannot read \"%s\"",
                 conf_quote(file, q, sizeof(q)));
        goto out;
    }
    rc = n;
out:
    free(text);
    fclose(f);
    return rc;
}

/*
 * Build ACL from the "allow", "deny" and "acl_file" members of GROUP, in
 * file order (whichever key the parser meets first builds it; the others
 * are then no-ops).
 */
static int
conf_acl(struct conf_ctx *cx, const config_setting_t *s, const char *path,
         struct gh_acl *acl, int *built)
{
    const config_setting_t *group;
    char base[CONF_PATH_MAX], q[96];
    uint32_t total = 0;

    if (s == NULL || *built)
        return GH_OK;
    *built = 1;
    group = config_setting_parent(s);
    /* PATH ends in ".allow", ".deny" or ".acl_file": the group's path is
     * before it. */
    snprintf(base, sizeof(base), "%s", path);
    if (strrchr(base, '.') != NULL)
        *strrchr(base, '.') = '\0';
    for (int pass = 0; pass < 2; pass++) {
        uint32_t k = 0;

        for (int m = 0; m < config_setting_length(group); m++) {
            const config_setting_t *l = config_setting_get_elem(group,
                                                               (unsigned) m);
            const char *name = config_setting_name(l);
            int allow, n;
            char lpath[CONF_PATH_MAX];

            if (name == NULL)
                continue;
            conf_path(lpath, base, name);
            if (strcmp(name, "acl_file") == 0) {
                const char *file;

                if (config_setting_type(l) != CONFIG_TYPE_STRING)
                    return conf_type_err(cx, l, lpath, "a string");
                if (pass == 0) {
                    file = conf_resolve(cx, config_setting_get_string(l));
                    if (file == NULL)
                        return conf_oom(cx);
                    n = conf_acl_file(cx, l, lpath, file, NULL, 0);
                    if (n < 0)
                        return GH_ERR;
                    acl->file = file;
                    acl->file_n = (uint32_t) n;
                    total += (uint32_t) n;
                    continue;
                }
                n = conf_acl_file(cx, l, lpath, acl->file, &acl->rules[k],
                                  (int) acl->file_n);
                if (n < 0)
                    return GH_ERR;
                if ((uint32_t) n != acl->file_n)
                    return conf_err(cx, l, lpath, "\"%s\" changed while "
                                    "it was read", conf_quote(acl->file, q,
                                                              sizeof(q)));
                acl->file_from = k;
                for (int i = 0; i < n; i++)
                    acl->has_allow |= acl->rules[k + (uint32_t) i].allow;
                k += (uint32_t) n;
                continue;
            }
            if (strcmp(name, "allow") != 0 && strcmp(name, "deny") != 0)
                continue;
            allow = name[0] == 'a';
            n = conf_string_list(cx, l, lpath, "must not be empty");
            if (n < 0)
                return GH_ERR;
            if (pass == 0) {
                total += (uint32_t) n;
                continue;
            }
            if (conf_cidr_list(cx, l, lpath, n, &acl->rules[k], allow)
                != GH_OK)
                return GH_ERR;
            k += (uint32_t) n;
            acl->has_allow |= allow;
        }
        if (pass == 0) {
            acl->rules = conf_arena_alloc(cx->arena,
                                          total * sizeof(*acl->rules));
            if (acl->rules == NULL && total > 0)
                return conf_oom(cx);
            acl->n = total;
        }
    }
    return GH_OK;
}

static int
conf_route_acl(struct conf_ctx *cx, const config_setting_t *s,
               const char *path, void *base)
{
    struct gh_route *r = base;
    int built = r->acl.rules != NULL || r->acl.n > 0;

    return conf_acl(cx, s, path, &r->acl, &built);
}

static int
conf_site_acl(struct conf_ctx *cx, const config_setting_t *s,
              const char *path, void *base)
{
    struct gh_site *site = base;
    int built = site->acl.rules != NULL || site->acl.n > 0;

    return conf_acl(cx, s, path, &site->acl, &built);
}

/* ---- methods ------------------------------------------------------------ */

static int
conf_methods(struct conf_ctx *cx, const config_setting_t *s,
             const char *path, void *base)
{
    struct gh_route *r = base;
    char sub[CONF_PATH_MAX], q[96];
    int n;

    if (s == NULL)
        return GH_OK;
    n = conf_string_list(cx, s, path, "must not be empty (leave methods out "
                         "to allow any)");
    if (n < 0)
        return GH_ERR;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = conf_string_elem(s, i, path, sub);
        const char *t = config_setting_get_string(e);
        unsigned m;

        for (m = 0; m < 64; m++) {
            const char *name = http_method_str((enum http_method) m);

            if (strcmp(name, "<unknown>") == 0)
                break;
            if (strcmp(name, t) == 0)
                break;
        }
        if (m == 64 || strcmp(http_method_str((enum http_method) m),
                              "<unknown>") == 0)
            return conf_err(cx, e, sub, "\"%s\" is not an HTTP method "
                            "gatehouse knows (names are upper case: \"GET\", "
                            "\"POST\", ...)", conf_quote(t, q, sizeof(q)));
        r->methods |= 1ULL << m;
        if (m == HTTP_GET)      /* HEAD goes with GET, as in nginx */
            r->methods |= 1ULL << HTTP_HEAD;
    }
    return GH_OK;
}

/* ---- route conditions ------------------------------------------------ */

/*
 * path, path_exact, path_regex: exactly one (conf_route_check() says so
 * when none is given).  The regex is compiled in conf_route_check().
 */
static int
conf_route_path(struct conf_ctx *cx, const config_setting_t *s,
                const char *path, void *base)
{
    static const char *const names[] = { "path", "path_exact",
                                         "path_regex" };
    struct gh_route *r = base;
    const char *key = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
    enum gh_path_kind kind = strcmp(key, "path") == 0 ? GH_PATH_PREFIX
                             : strcmp(key, "path_exact") == 0 ? GH_PATH_EXACT
                             : GH_PATH_REGEX;

    if (s == NULL)
        return GH_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_type_err(cx, s, path, "a string");
    if (r->path != NULL)
        return conf_err(cx, s, path, "a route has one of \"path\", "
                        "\"path_exact\" and \"path_regex\", not \"%s\" "
                        "and \"%s\"", names[r->path_kind], key);
    r->path = conf_strdup(cx, config_setting_get_string(s));
    if (r->path == NULL)
        return conf_oom(cx);
    if (*r->path == '\0')
        return conf_err(cx, s, path, "must not be empty");
    r->path_kind = kind;
    if (kind != GH_PATH_REGEX
        && conf_url_path(cx, s, path, r->path) != GH_OK)
        return GH_ERR;
    r->path_len = strlen(r->path);
    return GH_OK;
}

static void
conf_dump_route_path(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;

    fprintf(out, "%*s%s = ", indent, "",
            r->path_kind == GH_PATH_PREFIX ? "path"
            : r->path_kind == GH_PATH_EXACT ? "path_exact" : "path_regex");
    conf_dump_str(out, r->path);
    fprintf(out, ";\n");
}

static int
conf_route_host(struct conf_ctx *cx, const config_setting_t *s,
                const char *path, void *base)
{
    struct gh_route *r = base;

    if (s == NULL)
        return GH_OK;
    return conf_host_list(cx, s, path, "must not be empty (leave host out "
                          "to match any host)", &r->hosts, &r->nhosts);
}

static void
conf_dump_route_host(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;

    if (r->nhosts == 0)
        return;
    fprintf(out, "%*shost = [ ", indent, "");
    for (uint32_t i = 0; i < r->nhosts; i++) {
        conf_dump_str(out, r->hosts[i]);
        fprintf(out, "%s", i + 1 < r->nhosts ? ", " : " ");
    }
    fprintf(out, "];\n");
}

enum conf_match_kind { CONF_MATCH_HEADER, CONF_MATCH_COOKIE,
                       CONF_MATCH_QUERY };

/*
 * `header = "NAME: VALUE"` (or "NAME": present), `cookie = "NAME=VALUE"`,
 * `query = "NAME=VALUE"`: one string or a list, every one must match.
 * Header names are tokens, compared case-insensitively (stored lower
 * case); values are compared exactly, after the header's leading and
 * trailing spaces.  Cookie names are tokens; query names and values are
 * compared as sent (no percent-decoding).
 */
static int
conf_matches(struct conf_ctx *cx, const config_setting_t *s,
             const char *path, enum conf_match_kind kind,
             struct gh_match **out, uint32_t *nout)
{
    char sub[CONF_PATH_MAX], q[96];
    const char *shape = kind == CONF_MATCH_HEADER ? "\"NAME: VALUE\" or "
                        "\"NAME\"" : "\"NAME=VALUE\" or \"NAME\"";
    struct gh_match *v;
    int n;

    if (s == NULL)
        return GH_OK;
    n = conf_string_list(cx, s, path, "must not be empty");
    if (n < 0)
        return GH_ERR;
    v = conf_arena_alloc(cx->arena, (size_t) n * sizeof(*v));
    if (v == NULL)
        return conf_oom(cx);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = conf_string_elem(s, i, path, sub);
        const char *t = config_setting_get_string(e);
        char *name = conf_strdup(cx, t), *val, *p;

        if (name == NULL)
            return conf_oom(cx);
        val = strchr(name, kind == CONF_MATCH_HEADER ? ':' : '=');
        if (val != NULL) {
            *val++ = '\0';
            if (kind == CONF_MATCH_HEADER) {
                while (*val == ' ' || *val == '\t')
                    val++;
                p = val + strlen(val);
                while (p > val && (p[-1] == ' ' || p[-1] == '\t'))
                    *--p = '\0';
            }
        }
        if (kind == CONF_MATCH_QUERY) {
            if (*name == '\0' || !conf_visible(name)
                || strpbrk(name, "&#") != NULL
                || (val != NULL && (!conf_visible(val) && *val != '\0'))
                || (val != NULL && strpbrk(val, "&#") != NULL))
                return conf_err(cx, e, sub, "\"%s\" is not %s (printable, "
                                "without spaces, '&' or '#')",
                                conf_quote(t, q, sizeof(q)), shape);
        } else if (!conf_token_ok(name)) {
            return conf_err(cx, e, sub, "\"%s\" is not %s",
                            conf_quote(t, q, sizeof(q)), shape);
        }
        for (p = val; p != NULL && *p != '\0'; p++) {
            if (((unsigned char) *p < 0x20
                 && !(*p == '\t' && kind == CONF_MATCH_HEADER)) || *p == 0x7f
                || (kind == CONF_MATCH_COOKIE && (*p == ';' || *p == ' ')))
                return conf_err(cx, e, sub, "\"%s\" has a character a "
                                "value cannot hold",
                                conf_quote(t, q, sizeof(q)));
        }
        if (kind == CONF_MATCH_HEADER) {
            for (p = name; *p != '\0'; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char) (*p - 'A' + 'a');
        }
        v[i].name = name;
        v[i].name_len = (uint32_t) strlen(name);
        v[i].value = val;
        v[i].value_len = val ? (uint32_t) strlen(val) : 0;
    }
    *out = v;
    *nout = (uint32_t) n;
    return GH_OK;
}

static int
conf_route_header(struct conf_ctx *cx, const config_setting_t *s,
                  const char *path, void *base)
{
    struct gh_route *r = base;

    return conf_matches(cx, s, path, CONF_MATCH_HEADER, &r->headers,
                        &r->nheaders);
}

static int
conf_route_cookie(struct conf_ctx *cx, const config_setting_t *s,
                  const char *path, void *base)
{
    struct gh_route *r = base;

    return conf_matches(cx, s, path, CONF_MATCH_COOKIE, &r->cookies,
                        &r->ncookies);
}

static int
conf_route_query(struct conf_ctx *cx, const config_setting_t *s,
                 const char *path, void *base)
{
    struct gh_route *r = base;

    return conf_matches(cx, s, path, CONF_MATCH_QUERY, &r->queries,
                        &r->nqueries);
}

static void
conf_dump_matches(FILE *out, const char *key, const struct gh_match *v,
                  uint32_t n, const char *sep, int indent)
{
    if (n == 0)
        return;
    fprintf(out, "%*s%s = [ ", indent, "", key);
    for (uint32_t i = 0; i < n; i++) {
        char buf[1024];

        if (v[i].value != NULL)
            conf_fmt(buf, sizeof(buf), "%s%s%s", v[i].name, sep, v[i].value);
        else
            conf_fmt(buf, sizeof(buf), "%s", v[i].name);
        conf_dump_str(out, buf);
        fprintf(out, "%s", i + 1 < n ? ", " : " ");
    }
    fprintf(out, "];\n");
}

static void
conf_dump_route_header(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;

    conf_dump_matches(out, "header", r->headers, r->nheaders, ": ", indent);
}

static void
conf_dump_route_cookie(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;

    conf_dump_matches(out, "cookie", r->cookies, r->ncookies, "=", indent);
}

static void
conf_dump_route_query(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;

    conf_dump_matches(out, "query", r->queries, r->nqueries, "=", indent);
}

/* body_size on a route: its own limit (0: none), else limits.body_size. */
static int
conf_route_body_size(struct conf_ctx *cx, const config_setting_t *s,
                     const char *path, void *base)
{
    static const struct gh_conf_key k = { "body_size", GH_CK_SIZE, 0,
                                          .min = 0, .max = UINT64_MAX };
    struct gh_route *r = base;

    if (s == NULL)
        return GH_OK;
    if (conf_scalar(cx, &k, s, path, &r->body_size) != GH_OK)
        return GH_ERR;
    r->has_body_size = 1;
    return GH_OK;
}

static void
conf_dump_route_body_size(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;
    char buf[32];

    if (r->has_body_size)
        fprintf(out, "%*sbody_size = \"%s\";\n", indent, "",
                conf_fmt_size(r->body_size, buf, sizeof(buf)));
}

/* ---- cleanup of what the arena cannot free --------------------------- */

struct conf_cleanup {
    struct conf_cleanup *next;
    void               (*fn)(void *);
    void                *arg;
};

/* Run FN(ARG) when the conf is freed (ARG is freed by FN). */
static int
conf_on_free(struct conf_ctx *cx, void (*fn)(void *), void *arg)
{
    struct conf_cleanup *c = conf_arena_alloc(cx->arena, sizeof(*c));

    if (c == NULL)
        return GH_ERR;
    c->fn = fn;
    c->arg = arg;
    c->next = cx->conf->cleanup;
    cx->conf->cleanup = c;
    return GH_OK;
}

static void
conf_regex_free(void *p)
{
    regfree(p);
    free(p);
}

/*
 * path_regex: POSIX extended, matched against the normalised path.
 * Back-references are refused: with them matching can take exponential
 * time, and a proxy must not let a request buy that.
 */
static int
conf_route_regex(struct conf_ctx *cx, const config_setting_t *s,
                 const char *path, struct gh_route *r)
{
    char q[96], why[160];
    regex_t *re;
    int rc;

    if (strlen(r->path) > 1024)
        return conf_err(cx, s, path, "is longer than 1024 bytes");
    for (const char *p = r->path; *p != '\0'; p++) {
        if (p[0] == '\\' && p[1] >= '1' && p[1] <= '9')
            return conf_err(cx, s, path, "\"%s\" has a back-reference "
                            "(\\%c), which is not allowed",
                            conf_quote(r->path, q, sizeof(q)), p[1]);
        if (p[0] == '\\' && p[1] != '\0')
            p++;
    }
    re = malloc(sizeof(*re));
    if (re == NULL)
        return conf_oom(cx);
    rc = regcomp(re, r->path, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        regerror(rc, re, why, sizeof(why));
        free(re);
        return conf_err(cx, s, path, "\"%s\" is not a POSIX extended "
                        "regular expression: %s",
                        conf_quote(r->path, q, sizeof(q)), why);
    }
    if (conf_on_free(cx, conf_regex_free, re) != GH_OK) {
        conf_regex_free(re);
        return conf_oom(cx);
    }
    r->regex = re;
    return GH_OK;
}

/* ---- request_headers / response_headers --------------------------------- */

/* Fields whose value gatehouse makes itself: framing and connection
 * management cannot be set, added or removed by configuration. */
static const char *const conf_hdr_reserved[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive",
    "upgrade", "te", "trailer", "proxy-connection", NULL
};

static int
conf_hdr_ops(struct conf_ctx *cx, const config_setting_t *s,
             const char *path, struct gh_hdr_ops *ops,
             enum gh_hdr_op_kind op)
{
    char sub[CONF_PATH_MAX], q[96];
    struct gh_hdr_op *v;
    int n;

    if (s == NULL)
        return GH_OK;
    if (op == GH_HOP_REMOVE) {
        n = conf_string_list(cx, s, path, "must not be empty");
        if (n < 0)
            return GH_ERR;
    } else {
        if (!config_setting_is_group(s))
            return conf_type_err(cx, s, path, "a group { Name = \"value\"; "
                                 "}");
        n = config_setting_length(s);
    }
    v = conf_arena_alloc(cx->arena, (ops->n + (size_t) n) * sizeof(*v));
    if (v == NULL)
        return conf_oom(cx);
    if (ops->n > 0)
        memcpy(v, ops->v, ops->n * sizeof(*v));
    for (int i = 0; i < n; i++) {
        const config_setting_t *e;
        struct gh_hdr_op *o = &v[ops->n];
        const char *name;

        if (op == GH_HOP_REMOVE) {
            e = conf_string_elem(s, i, path, sub);
            name = config_setting_get_string(e);
        } else {
            e = config_setting_get_elem(s, (unsigned) i);
            name = config_setting_name(e);
            conf_path(sub, path, name);
            if (config_setting_type(e) != CONFIG_TYPE_STRING)
                return conf_type_err(cx, e, sub, "a string");
            o->value = conf_strdup(cx, config_setting_get_string(e));
            if (o->value == NULL)
                return conf_oom(cx);
            for (const char *p = o->value; *p != '\0'; p++) {
                if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
                    return conf_err(cx, e, sub, "\"%s\" has a control "
                                    "character",
                                    conf_quote(o->value, q, sizeof(q)));
            }
        }
        if (!conf_token_ok(name))
            return conf_err(cx, e, sub, "\"%s\" is not a header name",
                            conf_quote(name, q, sizeof(q)));
        for (int k = 0; conf_hdr_reserved[k] != NULL; k++) {
            if (strcasecmp(name, conf_hdr_reserved[k]) == 0)
                return conf_err(cx, e, sub, "\"%s\" is managed by gatehouse "
                                "(framing and connection fields cannot be "
                                "changed)", name);
        }
        if (op == GH_HOP_ADD && strcasecmp(name, "host") == 0)
            return conf_err(cx, e, sub, "a request has one Host: use set");
        for (uint32_t k = 0; k < ops->n; k++) {
            if (v[k].op == (uint32_t) op && strcasecmp(v[k].name, name) == 0)
                return conf_err(cx, e, sub, "\"%s\" is listed twice", name);
        }
        o->name = conf_strdup(cx, name);
        if (o->name == NULL)
            return conf_oom(cx);
        o->name_len = (uint32_t) strlen(name);
        o->op = (uint32_t) op;
        ops->n++;
    }
    ops->v = v;
    return GH_OK;
}

static int
conf_hdr_set(struct conf_ctx *cx, const config_setting_t *s,
             const char *path, void *base)
{
    return conf_hdr_ops(cx, s, path, base, GH_HOP_SET);
}

static int
conf_hdr_add(struct conf_ctx *cx, const config_setting_t *s,
             const char *path, void *base)
{
    return conf_hdr_ops(cx, s, path, base, GH_HOP_ADD);
}

static int
conf_hdr_remove(struct conf_ctx *cx, const config_setting_t *s,
                const char *path, void *base)
{
    return conf_hdr_ops(cx, s, path, base, GH_HOP_REMOVE);
}

static void
conf_dump_hdr_kind(FILE *out, const struct gh_hdr_ops *ops,
                   enum gh_hdr_op_kind op, int indent)
{
    int any = 0;

    for (uint32_t i = 0; i < ops->n; i++) {
        const struct gh_hdr_op *o = &ops->v[i];

        if (o->op != (uint32_t) op)
            continue;
        if (!any)
            fprintf(out, "%*s%s = %s ", indent, "",
                    op == GH_HOP_SET ? "set" : op == GH_HOP_ADD ? "add"
                    : "remove", op == GH_HOP_REMOVE ? "[" : "{");
        any++;
        if (op == GH_HOP_REMOVE) {
            fprintf(out, "%s", any > 1 ? ", " : "");
            conf_dump_str(out, o->name);
        } else {
            fprintf(out, "%s = ", o->name);
            conf_dump_str(out, o->value);
            fprintf(out, "; ");
        }
    }
    if (any)
        fprintf(out, "%s;\n", op == GH_HOP_REMOVE ? " ]" : "}");
}

static void
conf_dump_hdr_set(FILE *out, const void *base, int indent)
{
    conf_dump_hdr_kind(out, base, GH_HOP_SET, indent);
}

static void
conf_dump_hdr_add(FILE *out, const void *base, int indent)
{
    conf_dump_hdr_kind(out, base, GH_HOP_ADD, indent);
}

static void
conf_dump_hdr_remove(FILE *out, const void *base, int indent)
{
    conf_dump_hdr_kind(out, base, GH_HOP_REMOVE, indent);
}

/* ---- rate_limit ------------------------------------------------------ */

/* "10r/s", "600r/m": at most 1000000 a second, at least 1 a minute. */
static int
conf_rate(struct conf_ctx *cx, const config_setting_t *s, const char *path,
          void *base)
{
    struct gh_rate_limit *rl = base;
    const char *t;
    char q[96], *end;
    unsigned long long n;

    if (s == NULL)
        return GH_OK;       /* GH_CKF_REQUIRED: conf_group() said so */
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_type_err(cx, s, path, "a string such as \"10r/s\"");
    t = config_setting_get_string(s);
    errno = 0;
    n = t[0] >= '0' && t[0] <= '9' ? strtoull(t, &end, 10) : 0;
    if (n == 0 || errno != 0 || end[0] != 'r' || end[1] != '/'
        || (end[2] != 's' && end[2] != 'm') || end[3] != '\0'
        || n > 1000000)
        return conf_err(cx, s, path, "\"%s\" is not a rate: \"10r/s\" or "
                        "\"600r/m\", from 1r/m to 1000000r/s",
                        conf_quote(t, q, sizeof(q)));
    rl->interval_us = (end[2] == 's' ? 1000000ULL : 60000000ULL) / n;
    if (rl->interval_us == 0)
        rl->interval_us = 1;
    rl->rate_text = conf_strdup(cx, t);
    if (rl->rate_text == NULL)
        return conf_oom(cx);
    rl->on = 1;
    return GH_OK;
}

static void
conf_dump_rate(FILE *out, const void *base, int indent)
{
    const struct gh_rate_limit *rl = base;

    fprintf(out, "%*srate = ", indent, "");
    conf_dump_str(out, rl->rate_text);
    fprintf(out, ";\n");
}

/* key = "ip" | "header:NAME" */
static int
conf_rate_key(struct conf_ctx *cx, const config_setting_t *s,
              const char *path, void *base)
{
    struct gh_rate_limit *rl = base;
    const char *t;
    char q[96], *n;

    rl->key = GH_RATE_IP;
    if (s == NULL)
        return GH_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_type_err(cx, s, path, "a string");
    t = config_setting_get_string(s);
    if (strcmp(t, "ip") == 0)
        return GH_OK;
    if (strncmp(t, "header:", 7) != 0 || !conf_token_ok(t + 7))
        return conf_err(cx, s, path, "\"%s\" is not \"ip\" or "
                        "\"header:NAME\"", conf_quote(t, q, sizeof(q)));
    if ((n = conf_strdup(cx, t + 7)) == NULL)
        return conf_oom(cx);
    for (char *p = n; *p != '\0'; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char) (*p - 'A' + 'a');
    rl->key = GH_RATE_HEADER;
    rl->key_name = n;
    return GH_OK;
}

static void
conf_dump_rate_key(FILE *out, const void *base, int indent)
{
    const struct gh_rate_limit *rl = base;

    fprintf(out, "%*skey = \"%s%s\";\n", indent, "",
            rl->key == GH_RATE_HEADER ? "header:" : "ip",
            rl->key == GH_RATE_HEADER ? rl->key_name : "");
}

/* ---- auth_basic ------------------------------------------------------ */

static void
conf_htpasswd_free(void *p)
{
    gh_htpasswd_free(p);
}

/* Load the password file of AUTH (its group S) now: every (re)load. */
static int
conf_auth_load(struct conf_ctx *cx, const config_setting_t *s,
               const char *path, struct gh_auth_basic *auth)
{
    char why[512], sub[CONF_PATH_MAX], q[96];

    if (s == NULL)
        return GH_OK;
    auth->on = 1;
    for (const char *p = auth->realm; *p != '\0'; p++) {
        if ((unsigned char) *p < 0x20 || *p == 0x7f || *p == '"'
            || *p == '\\') {
            conf_path(sub, path, "realm");
            return conf_err(cx, config_setting_get_member(s, "realm"), sub,
                            "\"%s\" may not hold '\"', '\\' or control "
                            "characters",
                            conf_quote(auth->realm, q, sizeof(q)));
        }
    }
    auth->pw = gh_htpasswd_load(auth->file, why, sizeof(why));
    conf_path(sub, path, "file");
    if (auth->pw == NULL)
        return conf_err(cx, config_setting_get_member(s, "file"), sub, "%s",
                        why);
    if (conf_on_free(cx, conf_htpasswd_free, auth->pw) != GH_OK) {
        gh_htpasswd_free(auth->pw);
        auth->pw = NULL;
        return conf_oom(cx);
    }
    return GH_OK;
}

/* ---- tls --------------------------------------------------------------- */

static int
conf_tls_certs(struct conf_ctx *cx, const config_setting_t *s,
               const char *path, void *base)
{
    struct gh_tls *t = base;
    char sub[CONF_PATH_MAX];
    int i, n;

    if (s == NULL)
        return GH_OK;       /* GH_CKF_REQUIRED: conf_group() said so */
    n = conf_group_list(cx, s, path, "at least one certificate is required");
    if (n < 0)
        return GH_ERR;
    t->certs = conf_arena_alloc(cx->arena, (size_t) n * sizeof(*t->certs));
    if (t->certs == NULL)
        return conf_oom(cx);
    for (i = 0; i < n; i++) {
        conf_path_index(sub, path, (unsigned) i);
        if (conf_group(cx, config_setting_get_elem(s, (unsigned) i), sub,
                       conf_tls_cert_keys, &t->certs[i]) != GH_OK)
            return GH_ERR;
    }
    t->ncerts = (uint32_t) n;
    return GH_OK;
}

static void
conf_dump_tls_certs(FILE *out, const void *base, int indent)
{
    const struct gh_tls *t = base;

    conf_dump_list(out, "certificates", conf_tls_cert_keys, t->certs,
                   sizeof(*t->certs), t->ncerts, indent);
}

/* "TLSv1.2", "TLSv1.3"; the old ones by name, so the refusal says why. */
static int
conf_tls_protocols(struct conf_ctx *cx, const config_setting_t *s,
                   const char *path, void *base)
{
    static const char *const known[] = { "TLSv1.2", "TLSv1.3" };
    static const char *const old[] = {
        "SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1"
    };
    struct gh_tls *t = base;
    char sub[CONF_PATH_MAX], q[96];
    const char *v, *best;
    uint32_t bits = 0, bit;
    int i, n;
    size_t k;

    if (s == NULL) {
        t->protocols = GH_TLS_V12 | GH_TLS_V13;
        return GH_OK;
    }
    n = conf_string_list(cx, s, path, "at least one protocol is required");
    if (n < 0)
        return GH_ERR;
    for (i = 0; i < n; i++) {
        const config_setting_t *e = conf_string_elem(s, i, path, sub);

        v = config_setting_get_string(e);
        (void) conf_quote(v, q, sizeof(q));
        if (strcmp(v, "TLSv1.2") == 0) {
            bit = GH_TLS_V12;
        } else if (strcmp(v, "TLSv1.3") == 0) {
            bit = GH_TLS_V13;
        } else {
            for (k = 0; k < GH_NELEM(old); k++) {
                if (strcmp(v, old[k]) == 0)
                    return conf_err(cx, e, sub, "\"%s\" is insecure and not "
                                    "supported (use \"TLSv1.2\" and "
                                    "\"TLSv1.3\")", q);
            }
            best = conf_suggest(v, known, GH_NELEM(known));
            if (best != NULL)
                return conf_err(cx, e, sub, "unknown protocol \"%s\" (did "
                                "you mean \"%s\"?)", q, best);
            return conf_err(cx, e, sub, "unknown protocol \"%s\" (want "
                            "\"TLSv1.2\" or \"TLSv1.3\")", q);
        }
        if (bits & bit)
            return conf_err(cx, e, sub, "\"%s\" is listed twice", q);
        bits |= bit;
    }
    t->protocols = bits;
    return GH_OK;
}

static void
conf_dump_tls_protocols(FILE *out, const void *base, int indent)
{
    const struct gh_tls *t = base;

    fprintf(out, "%*sprotocols = [ ", indent, "");
    if (t->protocols & GH_TLS_V12)
        fprintf(out, "\"TLSv1.2\"%s", t->protocols & GH_TLS_V13 ? ", " : "");
    if (t->protocols & GH_TLS_V13)
        fprintf(out, "\"TLSv1.3\"");
    fprintf(out, " ];\n");
}

/* The site's tls group S: parsed and checked here, files read and the
 * SSL_CTX built by conf_tls_load() once the site's name is known. */
static int
conf_tls(struct conf_ctx *cx, const config_setting_t *s, const char *path,
         void *base)
{
    struct gh_site *site = base;
    struct gh_tls *t;
    char sub[CONF_PATH_MAX], q[96], a[32];

    site->tls = NULL;
    if (s == NULL)
        return GH_OK;
    t = conf_arena_alloc(cx->arena, sizeof(*t));
    if (t == NULL)
        return conf_oom(cx);
    if (conf_group(cx, s, path, conf_tls_keys, t) != GH_OK)
        return GH_ERR;
    if (t->session_cache != 0 && t->session_cache < 16 * CONF_K) {
        conf_path(sub, path, "session_cache");
        return conf_err(cx, config_setting_get_member(s, "session_cache"),
                        sub, "\"%s\" is neither 0 (no cache) nor at least "
                        "16k", conf_fmt_size(t->session_cache, a,
                                             sizeof(a)));
    }
    if (t->verify_client != GH_TLS_VERIFY_OFF && t->client_ca == NULL) {
        conf_path(sub, path, "verify_client");
        return conf_err(cx, config_setting_get_member(s, "verify_client"),
                        sub, "\"%s\" needs client_ca (the CA certificates "
                        "to verify clients with)",
                        conf_enum_name(conf_verify_names,
                                       (int) t->verify_client));
    }
    /* It goes into every response as a header value. */
    for (const char *p = t->hsts; p != NULL && *p != '\0'; p++) {
        if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f) {
            conf_path(sub, path, "hsts");
            return conf_err(cx, config_setting_get_member(s, "hsts"), sub,
                            "\"%s\" has a control character",
                            conf_quote(t->hsts, q, sizeof(q)));
        }
    }
    site->tls = t;
    return GH_OK;
}

static void
conf_dump_tls(FILE *out, const void *base, int indent)
{
    const struct gh_site *site = base;

    if (site->tls == NULL)
        return;
    fprintf(out, "%*stls = {\n", indent, "");
    conf_dump_group(out, conf_tls_keys, site->tls, indent + 4);
    fprintf(out, "%*s};\n", indent, "");
}

static void
conf_tls_free(void *p)
{
    gh_tls_release(p);
}

/*
 * Read the files of SITE's tls group (in E, the site's setting at PATH)
 * and build its SSL_CTX: at every (re)load, so renewed certificates are
 * taken by a SIGHUP.
 */
static int
conf_tls_load(struct conf_ctx *cx, const config_setting_t *e,
              const char *path, struct gh_site *site)
{
    const config_setting_t *g, *m = NULL, *l, *c;
    char why[1024], tpath[CONF_PATH_MAX], sub[CONF_PATH_MAX];
    char lpath[CONF_PATH_MAX], cpath[CONF_PATH_MAX];
    struct gh_tls_where w;

    if (site->tls == NULL)
        return GH_OK;
    g = config_setting_get_member(e, "tls");
    conf_path(tpath, path, "tls");
    if (gh_tls_build(site, &w, why, sizeof(why)) != GH_OK) {
        if (w.cert >= 0) {
            l = config_setting_get_member(g, "certificates");
            c = l != NULL ? config_setting_get_elem(l, (unsigned) w.cert)
                          : NULL;
            m = c != NULL ? config_setting_get_member(c, w.key) : NULL;
            conf_path(lpath, tpath, "certificates");
            conf_path_index(cpath, lpath, (unsigned) w.cert);
            conf_path(sub, cpath, w.key);
        } else {
            m = config_setting_get_member(g, w.key);
            conf_path(sub, tpath, w.key);
        }
        return conf_err(cx, m != NULL ? m : g, sub, "%s", why);
    }
    if (conf_on_free(cx, conf_tls_free, site->tls) != GH_OK) {
        gh_tls_release(site->tls);
        return conf_oom(cx);
    }
    return GH_OK;
}

static int
conf_route_check(struct conf_ctx *cx, const config_setting_t *e,
                 const char *path, struct gh_route *r)
{
    char sub[CONF_PATH_MAX], q[96];
    const char *act[5];
    int nact = 0;

    if (r->path == NULL)
        return conf_err(cx, e, path, "has none of \"path\", "
                        "\"path_exact\" and \"path_regex\"; a route needs "
                        "one");
    r->line = config_setting_source_line(e);
    if (r->path_kind == GH_PATH_REGEX) {
        conf_path(sub, path, "path_regex");
        if (conf_route_regex(cx, config_setting_get_member(e, "path_regex"),
                             sub, r) != GH_OK)
            return GH_ERR;
    }
    if (r->strip_prefix && r->path_kind != GH_PATH_PREFIX) {
        conf_path(sub, path, "strip_prefix");
        return conf_err(cx, config_setting_get_member(e, "strip_prefix"),
                        sub, "only applies to a route with \"path\" (a "
                        "prefix)");
    }
    if (r->rate.on && r->rate.interval_us == 0)
        return GH_ERR;  /* not reached: conf_rate() sets both */
    conf_path(sub, path, "auth_basic");
    if (conf_auth_load(cx, config_setting_get_member(e, "auth_basic"), sub,
                       &r->auth) != GH_OK)
        return GH_ERR;
    /* The action: the names of those given, in table order. */
    if (r->upstream != NULL)
        act[nact++] = "\"upstream\"";
    if (r->root != NULL)
        act[nact++] = "\"root\"";
    if (r->metrics)
        act[nact++] = "\"metrics\"";
    if (r->ret.status != 0)
        act[nact++] = "\"return\"";
    if (r->redirect.status != 0)
        act[nact++] = "\"redirect\"";
    if (nact == 0)
        return conf_err(cx, e, path, "has none of \"upstream\", \"root\", "
                        "\"metrics\", \"return\" and \"redirect\"; a route "
                        "needs exactly one");
    if (nact == 2)
        return conf_err(cx, e, path, "has both %s and %s; a route needs "
                        "exactly one", act[0], act[1]);
    if (nact >= 3)
        return conf_err(cx, e, path, "has %s, %s and %s%s; a route needs "
                        "exactly one", act[0], act[1], act[2],
                        nact > 3 ? " and more" : "");
    if (r->redirect.status != 0 && r->redirect.status != 301
        && r->redirect.status != 302 && r->redirect.status != 303
        && r->redirect.status != 307 && r->redirect.status != 308) {
        conf_path(sub, path, "redirect.status");
        return conf_err(cx, config_setting_get_member(
                            config_setting_get_member(e, "redirect"),
                            "status"), sub, "%u is not a redirect status "
                        "(301, 302, 303, 307 or 308)", r->redirect.status);
    }
    if (r->ret.body != NULL && strlen(r->ret.body) > 16384) {
        conf_path(sub, path, "return.body");
        return conf_err(cx, e, sub, "is longer than 16k");
    }
    if (r->strip_prefix && r->upstream == NULL) {
        conf_path(sub, path, "strip_prefix");
        return conf_err(cx, config_setting_get_member(e, "strip_prefix"),
                        sub, "only applies to a route with \"upstream\"");
    }
    /* The cache stores what an upstream answers: nothing else. */
    if (r->cache != NULL && r->upstream == NULL) {
        conf_path(sub, path, "cache");
        return conf_err(cx, config_setting_get_member(e, "cache"), sub,
                        "only applies to a route with \"upstream\"");
    }
    for (int k = 0; r->cache == NULL && k < 2; k++) {
        const char *key = k == 0 ? "cache_key_extra" : "purge_allow";
        const config_setting_t *m = config_setting_get_member(e, key);

        conf_path(sub, path, key);
        if (m != NULL)
            return conf_err(cx, m, sub, "only applies to a route with "
                            "\"cache\"");
    }
    if (r->root == NULL) {
        conf_path(sub, path, "index");
        if (config_setting_get_member(e, "index") != NULL)
            return conf_err(cx, config_setting_get_member(e, "index"), sub,
                            "only applies to a route with \"root\"");
        r->index = NULL;
        return GH_OK;
    }
    conf_path(sub, path, "root");
    if (strcmp(r->root, "/") == 0)
        return conf_err(cx, config_setting_get_member(e, "root"), sub,
                        "\"/\" would serve the whole file system");
    if (strchr(r->index, '/') != NULL || strcmp(r->index, ".") == 0
        || strcmp(r->index, "..") == 0) {
        conf_path(sub, path, "index");
        return conf_err(cx, config_setting_get_member(e, "index"), sub,
                        "\"%s\" must be a file name, not a path",
                        conf_quote(r->index, q, sizeof(q)));
    }
    return GH_OK;
}

/* Does A come before B in matching order (strictly)? */
static int
conf_route_before(const struct gh_route *a, const struct gh_route *b)
{
    if (a->path_kind != b->path_kind) {
        /* GH_PATH_EXACT 1, GH_PATH_REGEX 2, GH_PATH_PREFIX 0: last */
        return (a->path_kind == GH_PATH_PREFIX ? 3 : (int) a->path_kind)
               < (b->path_kind == GH_PATH_PREFIX ? 3 : (int) b->path_kind);
    }
    return a->path_kind == GH_PATH_PREFIX && a->path_len > b->path_len;
}

static int
conf_route_has_conditions(const struct gh_route *r)
{
    return r->nhosts || r->nheaders || r->ncookies || r->nqueries
           || r->methods;
}

/*
 * Route I of SITE is unreachable when an earlier route has the same path
 * (of the same kind) and no condition: refuse, it is surely a mistake.
 */
static int
conf_route_unreachable(struct conf_ctx *cx, const struct gh_site *site,
                       int i, const config_setting_t *e, const char *path)
{
    const struct gh_route *r = &site->routes[i];
    char q[96];

    for (int j = 0; j < i; j++) {
        const struct gh_route *o = &site->routes[j];

        if (o->path_kind != r->path_kind || strcmp(o->path, r->path) != 0
            || conf_route_has_conditions(o))
            continue;
        return conf_err(cx, e, path, "can never be chosen: the route at "
                        "line %d has the same path \"%s\" and no condition "
                        "(host, header, cookie, query, methods)", o->line,
                        conf_quote(r->path, q, sizeof(q)));
    }
    return GH_OK;
}

/*
 * Route names (metrics labels, shared-memory identity): `name`, else the
 * path ("=PATH" for path_exact, "~REGEX" for path_regex), and when a
 * default name is taken, " #2", " #3"... in file order.  Names given
 * must be unique in the site.
 */
static int
conf_route_names(struct conf_ctx *cx, const config_setting_t *s,
                 const char *path, struct gh_site *site, int n)
{
    char sub[CONF_PATH_MAX], q[96];

    for (int i = 0; i < n; i++) {
        struct gh_route *r = &site->routes[i];
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        const char *pre = r->path_kind == GH_PATH_EXACT ? "="
                          : r->path_kind == GH_PATH_REGEX ? "~" : "";
        size_t len;
        char *nm;

        conf_path_index(sub, path, (unsigned) i);
        if (r->name != NULL) {
            char esub[CONF_PATH_MAX];

            conf_fmt(esub, sizeof(esub), "%s", sub);
            conf_path(sub, esub, "name");
            for (int j = 0; j < i; j++) {
                if (site->routes[j].name != NULL
                    && strcmp(site->routes[j].name, r->name) == 0)
                    return conf_err(cx, config_setting_get_member(e, "name"),
                                    sub, "\"%s\" is the name of another "
                                    "route of this site",
                                    conf_quote(r->name, q, sizeof(q)));
            }
            continue;
        }
        len = strlen(pre) + r->path_len + 16;
        if ((nm = conf_arena_alloc(cx->arena, len)) == NULL)
            return conf_oom(cx);
        for (int k = 1; ; k++) {
            int taken = 0;

            if (k == 1)
                snprintf(nm, len, "%s%s", pre, r->path);
            else
                snprintf(nm, len, "%s%s #%d", pre, r->path, k);
            for (int j = 0; j < n && !taken; j++)
                taken = j != i && site->routes[j].name != NULL
                        && strcmp(site->routes[j].name, nm) == 0;
            if (!taken)
                break;
        }
        r->name = nm;
    }
    return GH_OK;
}

static int
conf_routes(struct conf_ctx *cx, const config_setting_t *s,
            const char *path, void *base)
{
    struct gh_site *site = base;
    struct gh_route *r, tmp;
    char sub[CONF_PATH_MAX];
    int i, j, n;

    n = conf_group_list(cx, s, path, "a site needs at least one route");
    if (n < 0)
        return GH_ERR;
    site->routes = conf_arena_alloc(cx->arena,
                                    (size_t) n * sizeof(struct gh_route));
    if (site->routes == NULL)
        return conf_oom(cx);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);

        r = &site->routes[i];
        conf_path_index(sub, path, (unsigned) i);
        if (conf_group(cx, e, sub, conf_route_keys, r) != GH_OK
            || conf_route_check(cx, e, sub, r) != GH_OK)
            return GH_ERR;
        if (conf_route_unreachable(cx, site, i, e, sub) != GH_OK)
            return GH_ERR;
    }
    if (conf_route_names(cx, s, path, site, n) != GH_OK)
        return GH_ERR;
    /*
     * Matching order: path_exact routes, then path_regex ones, then
     * prefixes longest first; file order within each (a stable sort), so
     * the first route that matches is the one to take.
     */
    for (i = 1; i < n; i++) {
        tmp = site->routes[i];
        for (j = i; j > 0 && conf_route_before(&tmp, &site->routes[j - 1]);
             j--)
            site->routes[j] = site->routes[j - 1];
        site->routes[j] = tmp;
    }
    site->nroutes = (uint32_t) n;
    return GH_OK;
}

/* Host (or "" for any host) of site I, host J, and its setting. */
static const config_setting_t *
conf_site_host(struct conf_ctx *cx, uint32_t i, uint32_t j, char *sub)
{
    const config_setting_t *site, *hosts;
    char path[CONF_PATH_MAX];

    site = config_setting_get_elem(cx->sites, i);
    hosts = config_setting_get_member(site, "hosts");
    conf_path_index(sub, "sites", i);
    if (hosts == NULL)
        return site;
    conf_path(path, sub, "hosts");
    return conf_string_elem(hosts, (int) j, path, sub);
}

/*
 * Two sites answering the same host on the same address would make the
 * choice depend on file order: refuse.
 */
static int
conf_sites_check(struct conf_ctx *cx)
{
    struct gh_conf *c = cx->conf;
    const config_setting_t *e, *first;
    uint32_t i, j, a, b, h, g, nh, ng;
    char sub[CONF_PATH_MAX], fsub[CONF_PATH_MAX], q[96];
    const char *hi, *hj;

    for (i = 1; i < c->nsites; i++) {
        for (j = 0; j < i; j++) {
            for (a = 0; a < c->sites[i].nlisten; a++) {
                for (b = 0; b < c->sites[j].nlisten; b++) {
                    if (strcmp(c->sites[i].listen[a].addr.text,
                               c->sites[j].listen[b].addr.text) != 0)
                        continue;
                    nh = GH_MAX(c->sites[i].nhosts, 1);
                    ng = GH_MAX(c->sites[j].nhosts, 1);
                    for (h = 0; h < nh; h++) {
                        hi = c->sites[i].nhosts ? c->sites[i].hosts[h] : "";
                        for (g = 0; g < ng; g++) {
                            hj = c->sites[j].nhosts
                                 ? c->sites[j].hosts[g] : "";
                            if (strcmp(hi, hj) != 0)
                                continue;
                            e = conf_site_host(cx, i, h, sub);
                            first = conf_site_host(cx, j, g, fsub);
                            if (*hi == '\0')
                                return conf_err(cx, e, sub, "a second site "
                                    "for any host on %s (the first is at "
                                    "line %u)",
                                    c->sites[i].listen[a].addr.text,
                                    config_setting_source_line(first));
                            return conf_err(cx, e, sub, "\"%s\" on %s is "
                                "already served by the site at line %u",
                                conf_quote(hi, q, sizeof(q)),
                                c->sites[i].listen[a].addr.text,
                                config_setting_source_line(first));
                        }
                    }
                }
            }
        }
    }
    /* One address speaks TLS or not: the first bytes decide before any
     * site is chosen. */
    for (i = 1; i < c->nsites; i++) {
        for (j = 0; j < i; j++) {
            const struct gh_site *si = &c->sites[i], *sj = &c->sites[j];
            const struct gh_site *with = si->tls != NULL ? si : sj;
            char qi[96], qj[96], qw[96];

            if ((si->tls == NULL) == (sj->tls == NULL))
                continue;
            for (a = 0; a < si->nlisten; a++) {
                for (b = 0; b < sj->nlisten; b++) {
                    if (strcmp(si->listen[a].addr.text,
                               sj->listen[b].addr.text) != 0)
                        continue;
                    e = config_setting_get_elem(cx->sites, i);
                    first = config_setting_get_elem(cx->sites, j);
                    conf_path_index(sub, "sites", i);
                    return conf_err(cx, config_setting_get_member(e,
                                        si->tls != NULL ? "tls" : "listen"),
                                    sub, "\"%s\" and \"%s\" (line %u) "
                                    "share %s, but only \"%s\" has tls: "
                                    "the sites of one address must all have "
                                    "tls, or none",
                                    conf_quote(si->name, qi, sizeof(qi)),
                                    conf_quote(sj->name, qj, sizeof(qj)),
                                    config_setting_source_line(first),
                                    si->listen[a].addr.text,
                                    conf_quote(with->name, qw, sizeof(qw)));
                }
            }
        }
    }
    /* The TLS session caches live in the segment with everything else. */
    {
        uint64_t sum = 0;
        char s1[32], s2[32];

        for (i = 0; i < c->nsites; i++) {
            const config_setting_t *m;

            if (c->sites[i].tls == NULL)
                continue;
            sum += c->sites[i].tls->session_cache;
            if (sum <= c->shm_size / 2)
                continue;
            e = config_setting_get_member(
                    config_setting_get_elem(cx->sites, i), "tls");
            m = config_setting_get_member(e, "session_cache");
            conf_path_index(fsub, "sites", i);
            conf_path(sub, fsub, "tls.session_cache");
            return conf_err(cx, m != NULL ? m : e, sub, "the TLS session "
                            "caches take %s in all with this one, more than "
                            "half of shm_size (%s): make them smaller or "
                            "shm_size larger",
                            conf_fmt_size(sum, s1, sizeof(s1)),
                            conf_fmt_size(c->shm_size, s2, sizeof(s2)));
        }
    }
    /* Metrics name a route by site name, first listen address and path:
     * two sites there must not share a name. */
    for (i = 1; i < c->nsites; i++) {
        for (j = 0; j < i; j++) {
            const struct gh_site *si = &c->sites[i], *sj = &c->sites[j];
            char base[CONF_PATH_MAX];

            if (si->nlisten == 0 || sj->nlisten == 0
                || strcmp(si->listen[0].addr.text, sj->listen[0].addr.text)
                   != 0
                || strcmp(si->name, sj->name) != 0)
                continue;
            e = config_setting_get_elem(cx->sites, i);
            first = config_setting_get_elem(cx->sites, j);
            conf_path_index(base, "sites", i);
            conf_path(sub, base, "name");
            return conf_err(cx, config_setting_get_member(e, "name")
                                ? config_setting_get_member(e, "name") : e,
                            sub, "\"%s\" is also the name of the site at "
                            "line %u on %s; the metrics would mix them up",
                            conf_quote(si->name, q, sizeof(q)),
                            config_setting_source_line(first),
                            si->listen[0].addr.text);
        }
    }
    return GH_OK;
}

/* The metrics label: as given, else the first host or listen address. */
static int
conf_site_name(struct conf_ctx *cx, const config_setting_t *e,
               const char *path, struct gh_site *site)
{
    char sub[CONF_PATH_MAX], q[96];
    const char *p;

    if (site->name == NULL) {
        site->name = site->nhosts > 0 ? site->hosts[0]
                                      : site->listen[0].addr.text;
        return GH_OK;
    }
    for (p = site->name; *p != '\0'; p++) {
        if ((unsigned char) *p < ' ' || *p == 0x7f) {
            conf_path(sub, path, "name");
            return conf_err(cx, config_setting_get_member(e, "name"), sub,
                            "\"%s\" has a control character",
                            conf_quote(site->name, q, sizeof(q)));
        }
    }
    return GH_OK;
}

static int
conf_sites(struct conf_ctx *cx, const config_setting_t *s,
           const char *path, void *base)
{
    struct gh_conf *c = base;
    char sub[CONF_PATH_MAX];
    int i, n;

    n = conf_group_list(cx, s, path, "at least one site is required");
    if (n < 0)
        return GH_ERR;
    c->sites = conf_arena_alloc(cx->arena,
                                (size_t) n * sizeof(struct gh_site));
    if (c->sites == NULL)
        return conf_oom(cx);
    for (i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        char asub[CONF_PATH_MAX];

        conf_path_index(sub, path, (unsigned) i);
        conf_path(asub, sub, "auth_basic");
        c->sites[i].index = (uint32_t) i;
        if (conf_group(cx, e, sub, conf_site_keys, &c->sites[i]) != GH_OK
            || conf_site_name(cx, e, sub, &c->sites[i]) != GH_OK
            || conf_auth_load(cx, config_setting_get_member(e, "auth_basic"),
                              asub, &c->sites[i].auth) != GH_OK
            || conf_tls_load(cx, e, sub, &c->sites[i]) != GH_OK)
            return GH_ERR;
    }
    c->nsites = (uint32_t) n;
    cx->sites = s;
    if (conf_sites_check(cx) != GH_OK)
        return GH_ERR;
    return conf_caches_fit(cx);     /* needs the TLS session caches */
}


/* Loading */

/*
 * libconfig 1.5 reads an integer literal of 2^31 or more without an L
 * suffix as a 32-bit int and silently wraps it (4294967297 becomes 1), so
 * a limit could quietly become another.  Before libconfig reads FP (named
 * NAME), look for such literals ourselves, outside strings and comments,
 * and in the files it would @include: "FILE:LINE: integer N needs an L
 * suffix".
 */
static int
conf_check_ints(struct conf_ctx *cx, FILE *fp, const char *name, int depth)
{
    unsigned line = 1;
    int ch, prev = '\n';
    char num[64], inc[PATH_MAX];

    if (depth > 10)
        return GH_OK;   /* libconfig reports the include loop itself */
    while ((ch = getc(fp)) != EOF) {
        if (ch == '\n') {
            line++;
        } else if (ch == '"') {             /* a string, with escapes */
            while ((ch = getc(fp)) != EOF && ch != '"') {
                if (ch == '\\')
                    ch = getc(fp);
                if (ch == '\n')
                    line++;
            }
        } else if (ch == '#' || ch == '/') {
            int nx = ch == '/' ? getc(fp) : '/';

            if (nx == '/') {                /* # or // to the line's end */
                while ((ch = getc(fp)) != EOF && ch != '\n')
                    ;
                line++;
                ch = '\n';
            } else if (nx == '*') {         /* a block comment */
                int last = 0;

                while ((ch = getc(fp)) != EOF
                       && !(last == '*' && ch == '/')) {
                    if (ch == '\n')
                        line++;
                    last = ch;
                }
                ch = ' ';
            } else if (nx != EOF) {
                ungetc(nx, fp);
            }
        } else if (ch == '@' && (prev == '\n' || prev == ' '
                                 || prev == '\t')) {
            /* @include "file": check it too (relative to our dir). */
            size_t n = 0;

            while ((ch = getc(fp)) != EOF && ch != '"' && ch != '\n')
                ;
            if (ch == '"') {
                while ((ch = getc(fp)) != EOF && ch != '"' && ch != '\n'
                       && n + 1 < sizeof(inc))
                    inc[n++] = (char) ch;
                inc[n] = '\0';
                if (n > 0) {
                    char path[PATH_MAX];
                    FILE *f;
                    int rc;

                    conf_fmt(path, sizeof(path), "%s%s%s",
                             inc[0] == '/' ? "" : cx->dir,
                             inc[0] == '/' ? "" : "/", inc);
                    if ((f = fopen(path, "re")) != NULL) {
                        rc = conf_check_ints(cx, f, path, depth + 1);
                        fclose(f);
                        if (rc != GH_OK)
                            return rc;
                    }
                }
            }
        } else if (ch >= '0' && ch <= '9' && !(isalnum(prev) || prev == '_'
                                               || prev == '-' || prev == '*'
                                               || prev == '.')) {
            size_t n = 0;
            unsigned long long v;
            int hex, neg = prev == '-';

            (void) neg;
            do {
                if (n + 1 < sizeof(num))
                    num[n++] = (char) ch;
            } while ((ch = getc(fp)) != EOF && (isalnum(ch) || ch == '.'
                                                || ch == '+' || ch == '-'));
            num[n] = '\0';
            if (ch != EOF)
                ungetc(ch, fp);
            hex = num[0] == '0' && (num[1] == 'x' || num[1] == 'X');
            if (strchr(num, 'L') == NULL && !hex
                && strpbrk(num, ".eE") == NULL) {
                errno = 0;
                v = strtoull(num, NULL, 10);
                if (errno == ERANGE || v > INT32_MAX) {
                    snprintf(cx->err, cx->errlen, "%s:%u: integer %s needs "
                             "an L suffix (%sL): libconfig reads a plain "
                             "integer past 2147483647 wrong", name, line,
                             num, num);
                    return GH_ERR;
                }
            } else if (hex && strchr(num, 'L') == NULL) {
                errno = 0;
                v = strtoull(num, NULL, 16);
                if (errno == ERANGE || v > UINT32_MAX) {
                    snprintf(cx->err, cx->errlen, "%s:%u: integer %s needs "
                             "an L suffix (%sL)", name, line, num, num);
                    return GH_ERR;
                }
            }
            ch = '0';
        }
        prev = ch;
    }
    return GH_OK;
}


struct gh_conf *
gh_conf_load(const char *file, char *err, size_t errlen)
{
    struct conf_ctx cx;
    struct stat st;
    config_t cfg;
    char *slash, dir[PATH_MAX], abs[PATH_MAX];
    const char *efile;
    FILE *fp;
    int rc;

    memset(&cx, 0, sizeof(cx));
    cx.file = file;
    cx.err = err;
    cx.errlen = errlen;
    if (errlen > 0)
        err[0] = '\0';

    fp = fopen(file, "re");
    if (fp == NULL) {
        (void) snprintf(err, errlen, "%s: %s", file, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(fp), &st) == -1) {
        (void) snprintf(err, errlen, "%s: %s", file, strerror(errno));
        (void) fclose(fp);      /* read only: nothing to report */
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CONF_FILE_MAX) {
        if (!S_ISREG(st.st_mode))
            (void) snprintf(err, errlen, "%s: not a regular file", file);
        else
            (void) snprintf(err, errlen, "%s: too large (%lld bytes, the "
                            "limit is %d)", file, (long long) st.st_size,
                            CONF_FILE_MAX);
        (void) fclose(fp);      /* read only: nothing to report */
        return NULL;
    }

    /* Relative paths in the file are relative to its directory. */
    (void) snprintf(dir, sizeof(dir), "%s", file);
    slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        (void) strcpy(dir, ".");
    if (realpath(dir, cx.dir) == NULL) {
        (void) snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        (void) fclose(fp);
        return NULL;
    }

    cx.arena = conf_arena_new();
    if (cx.arena == NULL
        || (cx.conf = conf_arena_alloc(cx.arena, sizeof(*cx.conf))) == NULL
        || (cx.file_copy = conf_strdup(&cx, file)) == NULL) {
        conf_arena_free(cx.arena);
        (void) fclose(fp);
        (void) conf_oom(&cx);
        return NULL;
    }
    cx.conf->arena = cx.arena;
    slash = strrchr(file, '/');
    rc = snprintf(abs, sizeof(abs), "%s/%s", cx.dir,
                  slash != NULL ? slash + 1 : file);
    if (rc < 0 || (size_t) rc >= sizeof(abs)) {
        (void) snprintf(err, errlen, "%s: path too long", file);
        conf_arena_free(cx.arena);
        (void) fclose(fp);
        return NULL;
    }
    if ((cx.conf->file = conf_strdup(&cx, abs)) == NULL) {
        (void) conf_oom(&cx);
        conf_arena_free(cx.arena);
        (void) fclose(fp);
        return NULL;
    }

    if (conf_check_ints(&cx, fp, file, 0) != GH_OK) {
        conf_arena_free(cx.arena);
        (void) fclose(fp);
        return NULL;
    }
    rewind(fp);
    config_init(&cfg);
    config_set_include_dir(&cfg, cx.dir);
    rc = config_read(&cfg, fp);
    (void) fclose(fp);
    if (rc != CONFIG_TRUE) {
        efile = conf_file_name(&cx, config_error_file(&cfg), abs,
                               sizeof(abs));
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            (void) snprintf(err, errlen, "%s: %s", efile,
                            config_error_text(&cfg));
        else if (strcmp(config_error_text(&cfg), "syntax error") == 0)
            (void) snprintf(err, errlen, "%s:%d: syntax error", efile,
                            config_error_line(&cfg));
        else
            (void) snprintf(err, errlen, "%s:%d: syntax error: %s", efile,
                            config_error_line(&cfg), config_error_text(&cfg));
        rc = GH_ERR;
    } else {
        rc = conf_group(&cx, config_root_setting(&cfg), "", conf_keys,
                        cx.conf);
    }
    config_destroy(&cfg);
    if (rc != GH_OK) {
        gh_conf_free(cx.conf);  /* also what the arena cannot free */
        return NULL;
    }
    return cx.conf;
}

void
gh_conf_free(struct gh_conf *conf)
{
    /* The conf lives in its own arena: read the pointer, then free. */
    if (conf == NULL)
        return;
    for (struct conf_cleanup *c = conf->cleanup; c != NULL; c = c->next)
        c->fn(c->arg);
    conf_arena_free(conf->arena);
}


/* Key names */

static void
conf_names_walk(const struct gh_conf_key *keys, const char *prefix,
                char (*buf)[CONF_PATH_MAX], const char **names, size_t *n)
{
    char sub[CONF_PATH_MAX];

    for (; keys->name != NULL; keys++) {
        /* A table outgrew the list: the man page test must not go blind. */
        assert(*n < CONF_MAX_NAMES);
        conf_path(buf[*n], prefix, keys->name);
        names[*n] = buf[*n];
        (*n)++;
        if (keys->sub == NULL)
            continue;
        if (keys->type == GH_CK_GROUP)
            conf_path(sub, prefix, keys->name);
        else
            conf_fmt(sub, sizeof(sub), "%s.*", names[*n - 1]);
        conf_names_walk(keys->sub, sub, buf, names, n);
    }
}

const char *const *
gh_conf_key_names(void)
{
    static char buf[CONF_MAX_NAMES][CONF_PATH_MAX];
    static const char *names[CONF_MAX_NAMES + 1];
    static size_t n;

    if (n == 0)
        conf_names_walk(conf_keys, "", buf, names, &n);
    names[n] = NULL;
    return names;
}


/* Dump */

static void
conf_dump_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char) *s;

        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void
conf_dump_uint(FILE *out, uint64_t v)
{
    /* libconfig reads integers past 32 bits only with an L suffix. */
    fprintf(out, "%llu%s", (unsigned long long) v, v > INT32_MAX ? "L" : "");
}

static void
conf_dump_group(FILE *out, const struct gh_conf_key *keys, const void *base,
                int indent)
{
    const struct gh_conf_key *k;
    const void *p;
    const char *s;
    char buf[32];

    for (k = keys; k->name != NULL; k++) {
        p = (const char *) base + k->offset;
        switch (k->type) {
        case GH_CK_STRING:
        case GH_CK_PATH:
            s = *(const char *const *) p;
            if (s == NULL && !(k->flags & GH_CKF_OFF))
                continue;
            break;
        case GH_CK_UPSTREAM:
            if (*(struct gh_upstream *const *) p == NULL)
                continue;
            break;
        case GH_CK_NAMED:
        case GH_CK_LIST:
        case GH_CK_ARRAY:
        case GH_CK_FUNC:
            k->dump(out, base, indent);
            continue;
        case GH_CK_GROUP:
            if (k->dump != NULL) {
                k->dump(out, base, indent);
                continue;
            }
            if ((k->flags & GH_CKF_OPTIONAL) && *(const int *) p == 0)
                continue;       /* off: leaving it out says so */
            break;
        default:
            break;
        }
        fprintf(out, "%*s%s = ", indent, "", k->name);
        switch (k->type) {
        case GH_CK_UINT:
            conf_dump_uint(out, *(const uint64_t *) p);
            break;
        case GH_CK_U32:
        case GH_CK_WORKERS:
            conf_dump_uint(out, *(const uint32_t *) p);
            break;
        case GH_CK_SIZE:
            fprintf(out, "\"%s\"",
                    conf_fmt_size(*(const uint64_t *) p, buf, sizeof(buf)));
            break;
        case GH_CK_DURATION:
            fprintf(out, "\"%s\"", conf_fmt_duration(*(const gh_msec *) p,
                                                      buf, sizeof(buf)));
            break;
        case GH_CK_STRING:
        case GH_CK_PATH:
            s = *(const char *const *) p;
            conf_dump_str(out, s != NULL ? s : "off");
            break;
        case GH_CK_LOG_LEVEL:
            fprintf(out, "\"%s\"",
                    gh_log_level_name(*(const enum gh_log_level *) p));
            break;
        case GH_CK_ADDR:
            conf_dump_str(out, ((const struct gh_addr *) p)->text);
            break;
        case GH_CK_UPSTREAM:
            conf_dump_str(out, (*(struct gh_upstream *const *) p)->name);
            break;
        case GH_CK_BOOL:
            fprintf(out, "%s", *(const int *) p ? "true" : "false");
            break;
        case GH_CK_ENUM:
            conf_dump_str(out, conf_enum_name(k->names, *(const int *) p));
            break;
        case GH_CK_GROUP:
            fprintf(out, "{\n");
            conf_dump_group(out, k->sub, p, indent + 4);
            fprintf(out, "%*s}", indent, "");
            break;
        default:
            break;
        }
        fprintf(out, ";\n");
    }
}

/* "name = (" { elements } ");" for a list of N structs of SIZE. */
static void
conf_dump_list(FILE *out, const char *name, const struct gh_conf_key *keys,
               const void *elems, size_t size, uint32_t n, int indent)
{
    uint32_t i;

    fprintf(out, "%*s%s = (\n", indent, "", name);
    for (i = 0; i < n; i++) {
        fprintf(out, "%*s{\n", indent + 4, "");
        conf_dump_group(out, keys, (const char *) elems + i * size,
                        indent + 8);
        fprintf(out, "%*s}%s\n", indent + 4, "", i + 1 < n ? "," : "");
    }
    fprintf(out, "%*s);\n", indent, "");
}

static void
conf_dump_upstreams(FILE *out, const void *base, int indent)
{
    const struct gh_conf *c = base;
    uint32_t i;

    if (c->nupstreams == 0)
        return;
    fprintf(out, "%*supstreams = {\n", indent, "");
    for (i = 0; i < c->nupstreams; i++) {
        fprintf(out, "%*s%s = {\n", indent + 4, "", c->upstreams[i].name);
        conf_dump_group(out, conf_upstream_keys, &c->upstreams[i],
                        indent + 8);
        fprintf(out, "%*s};\n", indent + 4, "");
    }
    fprintf(out, "%*s};\n", indent, "");
}

static void
conf_dump_servers(FILE *out, const void *base, int indent)
{
    const struct gh_upstream *u = base;

    conf_dump_list(out, "servers", conf_server_keys, u->servers,
                   sizeof(*u->servers), u->nservers, indent);
}

static void
conf_dump_sites(FILE *out, const void *base, int indent)
{
    const struct gh_conf *c = base;

    conf_dump_list(out, "sites", conf_site_keys, c->sites,
                   sizeof(*c->sites), c->nsites, indent);
}

static void
conf_dump_routes(FILE *out, const void *base, int indent)
{
    const struct gh_site *site = base;

    conf_dump_list(out, "routes", conf_route_keys, site->routes,
                   sizeof(*site->routes), site->nroutes, indent);
}

static void
conf_dump_listen(FILE *out, const void *base, int indent)
{
    const struct gh_site *site = base;
    uint32_t i;

    fprintf(out, "%*slisten = [ ", indent, "");
    for (i = 0; i < site->nlisten; i++) {
        conf_dump_str(out, site->listen[i].addr.text);
        fprintf(out, "%s", i + 1 < site->nlisten ? ", " : " ");
    }
    fprintf(out, "];\n");
}

static void
conf_dump_hosts(FILE *out, const void *base, int indent)
{
    const struct gh_site *site = base;
    uint32_t i;

    if (site->nhosts == 0)
        return;
    fprintf(out, "%*shosts = [ ", indent, "");
    for (i = 0; i < site->nhosts; i++) {
        conf_dump_str(out, site->hosts[i]);
        fprintf(out, "%s", i + 1 < site->nhosts ? ", " : " ");
    }
    fprintf(out, "];\n");
}

static void
conf_dump_nothing(FILE *out, const void *base, int indent)
{
    (void) out;
    (void) base;
    (void) indent;
}

/* C as the config writes it: "all", "10.0.0.0/8", "2001:db8::/32". */
static const char *
conf_cidr_text(const struct gh_cidr *c, char *text, size_t len)
{
    static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                    0xff, 0xff };

    if (c->bits == 0) {
        snprintf(text, len, "all");
    } else if (memcmp(c->addr, v4, 12) == 0 && c->bits >= 96) {
        char a[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &c->addr[12], a, sizeof(a));
        snprintf(text, len, "%s/%u", a, c->bits - 96);
    } else {
        char a[INET6_ADDRSTRLEN];

        inet_ntop(AF_INET6, c->addr, a, sizeof(a));
        snprintf(text, len, "%s/%u", a, c->bits);
    }
    return text;
}

/* Rules [FROM, TO) as "allow = [ ... ];" / "deny = [ ... ];" runs. */
static void
conf_dump_acl_rules(FILE *out, const struct gh_acl *acl, uint32_t from,
                    uint32_t to, int indent)
{
    char text[INET6_ADDRSTRLEN + 8];
    uint32_t i = from;

    /* Runs of one kind: a group can only have one "allow" and one "deny",
     * so there are at most two runs on either side of the acl_file. */
    while (i < to) {
        uint8_t allow = acl->rules[i].allow;

        fprintf(out, "%*s%s = [ ", indent, "", allow ? "allow" : "deny");
        for (; i < to && acl->rules[i].allow == allow; i++) {
            conf_dump_str(out, conf_cidr_text(&acl->rules[i], text,
                                              sizeof(text)));
            fprintf(out, "%s", i + 1 < to && acl->rules[i + 1].allow == allow
                               ? ", " : " ");
        }
        fprintf(out, "];\n");
    }
}

static void
conf_dump_acl(FILE *out, const struct gh_acl *acl, int indent)
{
    if (acl->file == NULL) {
        conf_dump_acl_rules(out, acl, 0, acl->n, indent);
        return;
    }
    conf_dump_acl_rules(out, acl, 0, acl->file_from, indent);
    fprintf(out, "%*sacl_file = ", indent, "");
    conf_dump_str(out, acl->file);
    fprintf(out, ";\n");
    conf_dump_acl_rules(out, acl, acl->file_from + acl->file_n, acl->n,
                        indent);
}

static void
conf_dump_route_purge_allow(FILE *out, const void *base, int indent)
{
    const struct gh_acl *acl = &((const struct gh_route *) base)->purge_allow;
    char text[INET6_ADDRSTRLEN + 8];

    if (acl->n == 0)
        return;
    fprintf(out, "%*spurge_allow = [ ", indent, "");
    for (uint32_t i = 0; i < acl->n; i++) {
        conf_dump_str(out, conf_cidr_text(&acl->rules[i], text,
                                          sizeof(text)));
        fprintf(out, "%s", i + 1 < acl->n ? ", " : " ");
    }
    fprintf(out, "];\n");
}

static void
conf_dump_route_acl(FILE *out, const void *base, int indent)
{
    conf_dump_acl(out, &((const struct gh_route *) base)->acl, indent);
}

static void
conf_dump_site_acl(FILE *out, const void *base, int indent)
{
    conf_dump_acl(out, &((const struct gh_site *) base)->acl, indent);
}

static void
conf_dump_methods(FILE *out, const void *base, int indent)
{
    const struct gh_route *r = base;
    int first = 1;

    if (r->methods == 0)
        return;
    fprintf(out, "%*smethods = [ ", indent, "");
    for (unsigned m = 0; m < 64; m++) {
        if (!(r->methods & (1ULL << m)))
            continue;
        fprintf(out, "%s", first ? "" : ", ");
        conf_dump_str(out, http_method_str((enum http_method) m));
        first = 0;
    }
    fprintf(out, " ];\n");
}

static void
conf_dump_hash_key(FILE *out, const void *base, int indent)
{
    const struct gh_upstream *u = base;

    /* Only "hash" takes a hash_key: the dump must load back. */
    if (u->balance != GH_BALANCE_HASH)
        return;
    fprintf(out, "%*shash_key = ", indent, "");
    switch (u->hash_key) {
    case GH_HASH_HEADER:
    case GH_HASH_COOKIE:
        /* hash_name is a token: nothing to escape. */
        fprintf(out, "\"%s:%s\";\n", gh_hash_key_name(u->hash_key),
                u->hash_name);
        break;
    default:
        fprintf(out, "\"%s\";\n", gh_hash_key_name(u->hash_key));
        break;
    }
}

static void
conf_dump_status(FILE *out, const void *base, int indent)
{
    const struct gh_health *h = base;

    if (h->status_lo == 0)
        return;                 /* a tcp check has none */
    if (h->status_lo == h->status_hi)
        fprintf(out, "%*sstatus = \"%u\";\n", indent, "",
                (unsigned) h->status_lo);
    else
        fprintf(out, "%*sstatus = \"%u-%u\";\n", indent, "",
                (unsigned) h->status_lo, (unsigned) h->status_hi);
}

/* A comment: the value is in timeouts, and a comment always loads back. */
static void
conf_dump_shutdown_alias(FILE *out, const void *base, int indent)
{
    (void) base;
    fprintf(out, "%*s# worker_shutdown_timeout: see timeouts.shutdown\n",
            indent, "");
}

void
gh_conf_dump(const struct gh_conf *conf, FILE *out)
{
    fprintf(out, "# effective configuration of %s\n", conf->file);
    conf_dump_group(out, conf_keys, conf, 0);
}


/* Names for logs and metrics, as the config spells them. */

const char *
gh_balance_name(enum gh_balance b)
{
    return conf_enum_name(conf_balance_names, (int) b);
}

const char *
gh_hash_key_name(enum gh_hash_key k)
{
    static const char *const names[] = { "ip", "uri", "header", "cookie" };

    return (unsigned) k < GH_NELEM(names) ? names[k] : "?";
}

const char *
gh_health_type_name(enum gh_health_type t)
{
    return t == GH_HEALTH_NONE ? "none"
           : conf_enum_name(conf_health_names, (int) t);
}

const char *
gh_ckey_part_name(enum gh_ckey_part p)
{
    return (unsigned) p < GH_NELEM(conf_ckey_names) ? conf_ckey_names[p]
                                                     : "?";
}
