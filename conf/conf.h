#ifndef GH_CONF_CONF_H
#define GH_CONF_CONF_H

/*
 * The parsed configuration: plain data, built once by the master in its own
 * arena (one per generation), then read-only.  Workers inherit it by fork()
 * as `const struct gh_conf *` and never write to it.  All names are
 * NUL-terminated strings owned by the conf; cross references are pointers
 * inside the same generation (never into another one).
 */

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "worker/core/gh.h"

struct gh_htpasswd;             /* worker/auth.h */
struct conf_cleanup;            /* conf/conf.c */

enum gh_log_level {
    GH_LOG_EMERG = 0,
    GH_LOG_ALERT,
    GH_LOG_CRIT,
    GH_LOG_ERROR,
    GH_LOG_WARN,
    GH_LOG_NOTICE,
    GH_LOG_INFO,
    GH_LOG_DEBUG
};

struct gh_timeouts {
    gh_msec client_header;      /* whole request header must arrive */
    gh_msec client_body;        /* between two reads of the request body */
    gh_msec keepalive;          /* idle client connection between requests */
    gh_msec upstream_connect;
    gh_msec upstream_read;      /* between two reads from the upstream */
    gh_msec upstream_send;      /* between two writes to the upstream */
    gh_msec tunnel;             /* idle Upgrade tunnel (either direction) */
    gh_msec shutdown;           /* graceful stop: in-flight work gets this;
                                   also set by worker_shutdown_timeout */
};

struct gh_limits {
    uint64_t header_size;       /* request line + headers, bytes */
    uint64_t headers;           /* number of request header fields */
    uint64_t body_size;         /* request body bytes, 0 = unlimited */
    uint64_t connections;       /* client connections per worker */
    uint64_t uri_size;          /* request target bytes */
    uint64_t keepalive_requests;/* requests per client connection */
    uint64_t client_connections;/* per client address, whole daemon; 0 off */
    uint64_t total_connections; /* client connections, whole daemon; 0 off */
    uint64_t client_table_size; /* bytes of the shared per-client table */
    uint64_t min_body_rate;     /* request body bytes/s; 0 off */
    uint64_t min_response_rate; /* response bytes/s taken by the client */
    gh_msec  rate_window;       /* the rates hold over each such window */
};

/* A resolved socket address and its text form ("127.0.0.1:8080"). */
struct gh_addr {
    struct sockaddr_storage sa;
    socklen_t               salen;
    char                    text[64];
};

struct gh_server {
    struct gh_addr addr;
    uint32_t       weight;      /* >= 1 */
    uint32_t       max_conns;   /* active requests, whole daemon; 0: no cap */
    int            backup;      /* used only when no primary is usable */
    gh_msec        slow_start;  /* weight ramp after recovery; 0: none */
    uint64_t       shm;         /* gh_off of its struct gh_shm_server, set
                                   by the master (gh_state_bind) before fork */
    const char    *file;        /* config file and line, for messages */
    int            line;
};

enum gh_balance {
    GH_BALANCE_ROUND_ROBIN = 0,
    GH_BALANCE_LEAST_CONN,
    GH_BALANCE_RANDOM2,
    GH_BALANCE_HASH
};

enum gh_hash_key {
    GH_HASH_IP = 0,             /* client address, without the port */
    GH_HASH_URI,                /* request target as sent */
    GH_HASH_HEADER,             /* value of header hash_name */
    GH_HASH_COOKIE              /* value of cookie hash_name */
};

enum gh_health_type {
    GH_HEALTH_NONE = 0,         /* no active checks: always healthy */
    GH_HEALTH_HTTP,
    GH_HEALTH_TCP
};

/* Active health checks, run by the checker process. */
struct gh_health {
    enum gh_health_type type;
    const char         *path;       /* HTTP: "/health" */
    const char         *host;       /* HTTP Host; NULL: the server address */
    gh_msec             interval;   /* "2s" */
    gh_msec             timeout;    /* "1s" */
    uint32_t            rise;       /* successes to come up: 2 */
    uint32_t            fall;       /* failures to go down: 3 */
    uint32_t            status_lo;  /* "200-399" */
    uint32_t            status_hi;
};

/* An upstream's `tls`: TLS to its servers. */
struct gh_up_tls {
    int               on;       /* first: 0 when absent */
    int               verify;   /* check the server's certificate */
    const char       *ca;       /* PEM CA file; NULL: the system's */
    const char       *sni;      /* server name sent and verified; NULL:
                                   none sent, the address is verified */
    const char       *cert;     /* client certificate (PEM); NULL: none */
    const char       *key;
    void             *ctx;      /* SSL_CTX *, built at load; owns */
};

struct gh_upstream {
    const char       *name;     /* at most 63 bytes */
    struct gh_server *servers;  /* owns (in the conf arena) */
    uint32_t          nservers;
    uint32_t          keepalive;/* idle pooled connections per worker */
    uint32_t          index;    /* position in conf->upstreams */
    enum gh_balance   balance;
    enum gh_hash_key  hash_key;
    const char       *hash_name;/* NAME of "header:NAME"/"cookie:NAME" */
    uint32_t          retries;  /* other servers after a failure: 1 */
    uint32_t          max_fails;/* passive: failures within fail_timeout
                                   that mark a server down; 0: off */
    gh_msec           fail_timeout;
    int               all_down_try; /* all_down = "try_anyway" (else 503) */
    uint32_t          queue;    /* requests waiting for max_conns, daemon */
    gh_msec           queue_timeout;
    struct gh_health  health;
    uint64_t          shm;      /* gh_off of struct gh_shm_upstream */
    struct gh_up_tls  tls;
};

/* One allow/deny rule: a CIDR block (IPv4 addresses as ::ffff:a.b.c.d). */
struct gh_cidr {
    uint8_t addr[16];
    uint8_t bits;               /* prefix length over the 128 bits */
    uint8_t allow;
};

/* allow/deny lists, in file order: the first rule that matches decides;
 * with no match, allowed unless an allow rule exists. */
struct gh_acl {
    struct gh_cidr *rules;      /* owns (in the conf arena) */
    uint32_t        n;
    int             has_allow;
    const char     *file;       /* acl_file, read at every (re)load */
    uint32_t        file_from;  /* its rules: [file_from, file_from +
                                   file_n) */
    uint32_t        file_n;
};

/* Route action `return`: a fixed answer. */
struct gh_return {
    uint32_t    status;         /* 0: not set (first: GH_CKF_OPTIONAL) */
    const char *body;           /* NULL for none */
};

/* Route action `redirect`: Location from a template with $scheme, $host,
 * $uri, $request_uri, $args. */
struct gh_redirect {
    uint32_t    status;         /* 0: not set; 301 302 303 307 308 */
    const char *to;
};

/* A request condition of a route: `header`, `cookie` or `query`. */
struct gh_match {
    const char *name;           /* header names lower case */
    const char *value;          /* NULL: present, with any value */
    uint32_t    name_len;
    uint32_t    value_len;
};

enum gh_hdr_op_kind {
    GH_HOP_SET = 0,             /* replace every field of the name */
    GH_HOP_ADD,                 /* one more field */
    GH_HOP_REMOVE               /* drop every field of the name */
};

/* request_headers / response_headers: set, add and remove, in that
 * order of application (remove and set drop what came from the peer). */
struct gh_hdr_op {
    const char *name;           /* as written; compared case-insensitively */
    const char *value;          /* template ($host, ...); NULL for remove */
    uint32_t    name_len;
    uint32_t    op;             /* enum gh_hdr_op_kind */
};

struct gh_hdr_ops {
    uint32_t          n;        /* first: 0 when absent (dumps) */
    struct gh_hdr_op *v;        /* owns (in the conf arena) */
};

enum gh_rate_key {
    GH_RATE_IP = 0,             /* client address */
    GH_RATE_HEADER              /* value of header rate.key_name */
};

/* Route `rate_limit`: a shared token bucket (GCRA) per key. */
struct gh_rate_limit {
    int              on;            /* first: 0 when absent */
    uint64_t         interval_us;   /* 1 / rate */
    uint32_t         burst;         /* requests above the rate at once */
    enum gh_rate_key key;
    const char      *key_name;      /* header name, lower case */
    const char      *rate_text;     /* "10r/s", for dumps and logs */
};

/* `auth_basic`: the file is read by the master at every (re)load. */
struct gh_auth_basic {
    int                 on;         /* first: 0 when absent */
    const char         *realm;
    const char         *file;
    struct gh_htpasswd *pw;         /* loaded; freed with the conf */
};

/* The elements of a cache key, in the order the zone's `key` lists them. */
enum gh_ckey_part {
    GH_CKEY_METHOD = 0,         /* GET (HEAD is looked up as GET) */
    GH_CKEY_SCHEME,             /* http / https */
    GH_CKEY_HOST,               /* Host, lower case, without the port */
    GH_CKEY_URI,                /* the normalised path and the query */
    GH_CKEY_PATH,               /* the normalised path alone */
    GH_CKEY_ARGS                /* the query alone */
};
#define GH_CKEY_MAX 8
#define GH_CONF_CACHES_MAX 64   /* zones in `caches` */

/* One `caches` zone: the master binds it to a zone in the segment. */
struct gh_cache_zone {
    const char *name;           /* at most 47 bytes */
    int         line;
    uint64_t    size;           /* bytes of the segment it may use */
    uint64_t    max_object;     /* larger responses stream uncached */
    gh_msec     default_ttl;    /* for heuristically cacheable responses
                                   without any freshness information */
    gh_msec     stale_if_error; /* stale-if-error when the origin sets
                                   none (and does not forbid it) */
    gh_msec     heuristic_max;  /* cap of the Last-Modified heuristic */
    gh_msec     lock_timeout;   /* collapsed requests wait this long for
                                   another's fill, then go themselves */
    uint8_t     key[GH_CKEY_MAX];   /* enum gh_ckey_part */
    uint32_t    nkey;
    uint32_t    index;          /* position in conf->caches */
    uint64_t    root;           /* gh_off of the zone (shm/cache.h), set
                                   by the master before fork */
};

/* A `cache_key_extra` element: "header:NAME", "cookie:NAME", "query:NAME". */
enum gh_ckey_extra_kind {
    GH_CKEY_X_HEADER = 0,
    GH_CKEY_X_COOKIE,
    GH_CKEY_X_QUERY
};
struct gh_ckey_extra {
    uint32_t    kind;           /* enum gh_ckey_extra_kind */
    uint32_t    name_len;
    const char *name;           /* header names lower case */
};

enum gh_path_kind {
    GH_PATH_PREFIX = 0,         /* `path` */
    GH_PATH_EXACT,              /* `path_exact` */
    GH_PATH_REGEX               /* `path_regex`, POSIX extended */
};

struct gh_route {
    const char         *name;   /* metrics label and identity: `name`, else
                                   the path ("=/x" exact, "~re" regex), with
                                   " #2"... when several share it */
    const char         *path;   /* prefix or exact path (starts with '/'),
                                   or the regex's text */
    size_t              path_len;
    enum gh_path_kind   path_kind;
    const void         *regex;  /* regex_t for GH_PATH_REGEX */
    int                 line;   /* in the config file, for messages */
    const char        **hosts;  /* `host`: lower case, "*.x" wildcards */
    uint32_t            nhosts;
    struct gh_match    *headers;/* every one must match */
    uint32_t            nheaders;
    struct gh_match    *cookies;
    uint32_t            ncookies;
    struct gh_match    *queries;
    uint32_t            nqueries;
    uint64_t            body_size;  /* this route's limit; see has_body */
    int                 has_body_size;
    struct gh_hdr_ops   req_hdrs;   /* after the site's */
    struct gh_hdr_ops   resp_hdrs;
    struct gh_rate_limit rate;
    struct gh_auth_basic auth;      /* replaces the site's */
    struct gh_upstream *upstream;   /* borrows; NULL for static routes */
    const char         *root;   /* static file root, no trailing '/' */
    const char         *index;  /* index file name, default "index.html" */
    int                 metrics;/* serves the metrics (Prometheus/JSON) */
    uint64_t            shm;    /* gh_off of its struct gh_shm_route */
    struct gh_acl       acl;    /* after the site's */
    uint64_t            methods;/* bit (1 << http_method); 0: any */
    struct gh_return    ret;
    struct gh_redirect  redirect;
    const char        **hide;   /* hide_headers, lower case; NULL: site's */
    uint32_t            nhide;
    int                 strip_prefix;   /* proxy without the route path */
    int                 redirect_https; /* plain HTTP: 308 to https://$host
                                           $request_uri (TLS: no effect) */
    struct gh_cache_zone *cache;    /* borrows; NULL: not cached */
    struct gh_ckey_extra *key_extra;/* cache_key_extra (arena) */
    uint32_t            nkey_extra;
    struct gh_acl       purge_allow;/* who may PURGE; n == 0: nobody */
};

/* One certificate of a TLS site: a PEM chain and its private key. */
struct gh_tls_cert {
    const char *cert;           /* absolute paths */
    const char *key;
};

/* tls.protocols: bits */
#define GH_TLS_V12 0x01
#define GH_TLS_V13 0x02

enum gh_tls_verify {
    GH_TLS_VERIFY_OFF = 0,      /* no client certificate asked for */
    GH_TLS_VERIFY_OPTIONAL,     /* asked for, verified when sent */
    GH_TLS_VERIFY_ON            /* required and verified */
};

/*
 * A site's `tls` group: parsed, checked, and built into an SSL_CTX at
 * load (files read then: certificates, keys, CA, OCSP response).  Every
 * address the site listens on is a TLS address.  See worker/tls.h.
 */
struct gh_tls {
    struct gh_tls_cert *certs;  /* owns (in the conf arena); 1 or more, at
                                   most one per key type (RSA, ECDSA...) */
    uint32_t            ncerts;
    uint32_t            protocols;      /* GH_TLS_V12 | GH_TLS_V13 */
    const char         *ciphers;        /* TLS 1.2 list (OpenSSL syntax) */
    const char         *ciphersuites;   /* TLS 1.3; NULL: OpenSSL's */
    const char         *groups;         /* key exchange groups */
    uint64_t            session_cache;  /* bytes of the shared cache; 0:
                                           none */
    gh_msec             session_timeout;
    int                 session_tickets;
    gh_msec             ticket_rotation;
    const char         *client_ca;      /* PEM CA file; NULL: none */
    enum gh_tls_verify  verify_client;
    uint32_t            verify_depth;
    const char         *ocsp_staple;    /* DER OCSP response file */
    const char         *hsts;   /* Strict-Transport-Security value; NULL:
                                   none */
    void               *ctx;    /* SSL_CTX *, built at load with the
                                   files' contents (certificates, keys, CA,
                                   OCSP response); owns (gh_conf_free()) */
    uint64_t            cache_root; /* gh_off of the session cache; 0 none;
                                       set by gh_tls_shm_bind() */
    uint64_t            keys_root;  /* gh_off of the ticket keys; 0 none */
};

struct gh_listen {
    struct gh_addr addr;
    uint32_t       backlog;
};

struct gh_site {
    struct gh_listen *listen;   /* owns */
    uint32_t          nlisten;
    const char      **hosts;    /* lower-case; "*.example.com" wildcards */
    uint32_t          nhosts;
    struct gh_route  *routes;   /* sorted by path length, longest first */
    uint32_t          nroutes;
    uint32_t          index;
    const char       *name;     /* metrics label: `name`, else the first
                                   host, else the first listen address */
    struct gh_acl     acl;      /* checked before the route's */
    const char      **hide;     /* hide_headers, lower case; NULL: the
                                   default, Server and X-Powered-By */
    uint32_t          nhide;
    struct gh_hdr_ops req_hdrs;
    struct gh_hdr_ops resp_hdrs;
    struct gh_auth_basic auth;
    struct gh_tls    *tls;      /* NULL: plain HTTP; owns (arena) */
};

struct gh_conf {
    const char        *file;    /* path the config was read from */
    uint32_t           workers; /* resolved: "auto" becomes nproc */
    const char        *user;    /* NULL: stay as started */
    const char        *group;
    uint32_t           rlimit_nofile;   /* worker_rlimit_nofile; 0: as
                                           inherited */
    const char        *pid_file;    /* NULL: none */
    const char        *error_log;   /* "stderr" or a path */
    enum gh_log_level  log_level;
    const char        *access_log;  /* NULL when "off" */
    uint64_t           shm_size;
    int                server_tokens;   /* version in Server: */
    struct gh_timeouts timeouts;
    struct gh_limits   limits;
    struct gh_upstream *upstreams;  /* owns */
    uint32_t           nupstreams;
    struct gh_site    *sites;       /* owns */
    uint32_t           nsites;
    struct gh_cache_zone *caches;   /* owns */
    uint32_t           ncaches;
    void              *arena;       /* owns everything above */
    struct conf_cleanup *cleanup;   /* regexes, password files: freed by
                                       gh_conf_free() */
};

/*
 * Parse and validate FILE.  Returns a new conf, or NULL with a message
 * "FILE:LINE: key: why" in err.  Does not log, may block (reads files,
 * resolves nothing: addresses must be numeric).
 */
struct gh_conf *gh_conf_load(const char *file, char *err, size_t errlen);
void gh_conf_free(struct gh_conf *conf);

/* Print the effective configuration (for `gatehouse -t -v`). */
void gh_conf_dump(const struct gh_conf *conf, FILE *out);

/*
 * Every key name the parser accepts, as "section.key" paths
 * ("timeouts.client_header", "upstreams.*.servers.*.weight"), NULL-ended.
 * The man page test checks each appears in gatehouse.conf(5).
 */
const char *const *gh_conf_key_names(void);

/* Units: "10s", "500ms", "2m", "1h" -> ms; "16k", "10M", "1G" -> bytes. */
int gh_conf_parse_duration(const char *s, gh_msec *out);
int gh_conf_parse_size(const char *s, uint64_t *out);
/* "127.0.0.1:80", "[::1]:8080", "*:80" -> addr; GH_OK or GH_ERR. */
int gh_conf_parse_addr(const char *s, struct gh_addr *out);

const char *gh_log_level_name(enum gh_log_level l);
/* "round_robin", "ip" ("header", "cookie": without the name), "http";
 * GH_HEALTH_NONE is "none".  Static strings; "?" for a value out of range. */
const char *gh_balance_name(enum gh_balance b);
const char *gh_hash_key_name(enum gh_hash_key k);
const char *gh_health_type_name(enum gh_health_type t);
/* "method", "scheme", "host", "uri", "path", "args"; "?" out of range. */
const char *gh_ckey_part_name(enum gh_ckey_part p);

#endif
