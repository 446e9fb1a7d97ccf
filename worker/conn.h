#ifndef GH_WORKER_CONN_H
#define GH_WORKER_CONN_H

/*
 * A client connection and the request it is serving: the state machine
 * that reads a request, routes it, proxies it to an upstream (or serves a
 * file) and relays the response, for each request on the connection.
 */

#include <sys/socket.h>

#include "worker/core/buf.h"
#include "worker/core/ev.h"
#include "worker/core/pool.h"
#include "worker/http.h"
#include "worker/listen.h"
#include "worker/upstream.h"
#include "worker/worker.h"

/* One list; it expands to the enum, conn_steps[] and conn_actions[]. */
#define GH_CONN_STATES(X)                                           \
    X(READ_HEAD,  "reading client request headers")                 \
    X(HANDSHAKE,  "TLS handshaking")                                \
    X(ROUTE,      "routing request")                                \
    X(CONNECT,    "connecting to upstream")                         \
    X(SEND_REQ,   "sending request to upstream")                    \
    X(READ_RESP,  "reading response header from upstream")          \
    X(RELAY_RESP, "relaying response from upstream")                \
    X(SEND_LOCAL, "sending response to client")                     \
    X(TUNNEL,     "tunnelling")                                     \
    X(CACHE_WAIT, "waiting for a cache fill")                       \
    X(SEND_CACHE, "sending cached response to client")              \
    X(FINISH,     "finishing request")                              \
    X(LINGER,     "closing connection")

#define GH_CONN_ENUM(name, text) GH_CONN_##name,
enum gh_conn_state {
    GH_CONN_STATES(GH_CONN_ENUM)
    GH_CONN_NSTATES
};
#undef GH_CONN_ENUM

/* What the connection's one timer is waiting for. */
enum gh_conn_wait {
    GH_WAIT_NONE = 0,
    GH_WAIT_CLIENT_READ,
    GH_WAIT_CLIENT_WRITE,
    GH_WAIT_UP_CONNECT,
    GH_WAIT_UP_READ,
    GH_WAIT_UP_WRITE,
    GH_WAIT_QUEUE,          /* every server at max_conns: poll for a slot */
    GH_WAIT_CACHE           /* another process's cache fill: poll it */
};

/* How the response body goes to the client. */
enum gh_body_mode {
    GH_BODY_NONE = 0,       /* no body (HEAD, 204, 304) */
    GH_BODY_RAW,            /* bytes as decoded (Content-Length, or close) */
    GH_BODY_CHUNKED         /* re-chunked for an HTTP/1.1 client */
};

/* What templates ($host, $uri, ...) expand to, per request (pool). */
struct conn_vars {
    struct gh_str host;         /* without the port */
    struct gh_str target;       /* as sent */
    struct gh_str norm;         /* the normalised path */
    struct gh_str args;         /* after '?' */
};

struct ssl_st;                  /* <openssl/ssl.h> SSL */
struct conn_cache;              /* worker/conn.c: a cached route's request */

struct gh_conn {
    struct gh_ev              ev;       /* owns the client fd */
    struct ssl_st            *ssl;      /* TLS client connection; owns */
    struct gh_worker         *w;        /* borrows */
    const struct gh_listener *l;        /* borrows */
    struct gh_conn           *next, *prev;  /* w->conns */
    struct gh_timer           timer;
    uint8_t                   state;    /* enum gh_conn_state */
    uint8_t                   wait;     /* enum gh_conn_wait */
    uint8_t                   resp_mode;/* enum gh_body_mode */
    uint8_t                   rate_what;/* conn_rate(): window of what */
    uint8_t                   ssl_want; /* TLS after EAGAIN: read/write */
    unsigned                  crd:1, cwr:1, urd:1, uwr:1;  /* may read/write */
    unsigned                  keepalive:1;  /* keep the client connection */
    unsigned                  head_timer:1; /* header deadline is armed */
    unsigned                  req_chunked_out:1;
    unsigned                  req_done:1;   /* request body fully read */
    unsigned                  resp_started:1;   /* bytes sent to client */
    unsigned                  resp_done:1;
    unsigned                  up_keep:1;    /* upstream conn reusable */
    unsigned                  reused:1;     /* upstream conn from the pool */
    unsigned                  replay_ok:1;  /* whole request still in out */
    unsigned                  force_new:1;  /* retry: no pooled conn */
    unsigned                  out_dropped:1;/* part of the request left out */
    unsigned                  sent_any:1;   /* a byte of this attempt sent */
    unsigned                  c_eof:1, u_eof:1; /* tunnel half-closes */
    unsigned                  c_hup:1, u_hup:1; /* peer sent FIN/RST */
    unsigned                  sent_continue:1;
    unsigned                  upgrade:1;
    unsigned                  resp_eof:1;   /* body ends at close */
    unsigned                  slot:1;   /* holds an active slot on up_idx */
    unsigned                  queued:1; /* counted in the upstream queue */
    unsigned                  have_hash:1;  /* hash: the request has a key */
    unsigned                  up_timeout:1; /* the last failure timed out */
    unsigned                  close_sent:1; /* response said Connection:
                                               close */
    unsigned                  peer_is_ip:1; /* peer_addr is set */
    unsigned                  total_counted:1;  /* in total_connections */
    uint32_t                  nreq;     /* requests served on it */
    uint32_t                  tries;    /* upstream attempts this request */
    int64_t                   up_idx;   /* server of this attempt, -1 none */
    struct gh_up_tried        tried;    /* servers that failed this request */
    uint32_t                  hash;     /* balance = "hash": the key's */
    gh_msec                   queue_until;  /* GH_WAIT_QUEUE gives up then */
    gh_msec                   rate_t;   /* conn_rate() window start */
    uint64_t                  rate_n;   /* bytes moved in the window */
    uint32_t                  rate_q0;  /* SIOCOUTQ when it began */
    char                      peer[64];     /* "127.0.0.1:50312" */
    char                      peer_ip[48];  /* "127.0.0.1" */
    uint8_t                   peer_addr[16];/* IPv4 as ::ffff:a.b.c.d */
    gh_off                    ct_entry; /* client_connections entry, 0 none */

    struct gh_buf            *in;       /* from client; owns */
    struct gh_buf            *out;      /* to upstream; owns */
    struct gh_buf            *uin;      /* from upstream; owns */
    struct gh_buf            *cout;     /* to client; owns */
    size_t                    scan_pos, scan_skip, head_len;

    /* Per request: reset between keep-alive requests. */
    struct gh_pool            pool;
    struct gh_http_msg        req;
    struct gh_http_msg        resp;
    const struct gh_site     *site;
    const struct gh_route    *route;
    struct conn_vars         *vars;     /* set with route, pool */
    struct gh_upconn         *uc;       /* owns while serving */
    const struct gh_server   *up_server;/* last server tried, for logs */
    uint64_t                  req_body; /* decoded request body bytes */
    uint64_t                  body_max; /* the route's body_size, 0: none */
    uint64_t                  body_sent;/* response body bytes to client */
    int                       status;
    int                       file_fd;  /* static file, -1 none */
    off_t                     file_off, file_left;
    gh_msec                   t_start, t_up;    /* ms, loop clock */
    int64_t                   ut_ms;    /* upstream time, -1 none */
    const char               *log_line; /* "GET / HTTP/1.1", pool */
    const char               *log_referer, *log_ua;
    struct conn_cache        *cache;    /* pool; NULL: not a cached route */
};

/* Accept handler's entry: takes over FD (non-blocking, CLOEXEC). */
void gh_conn_accept(struct gh_worker *w, const struct gh_listener *l, int fd,
                    const struct sockaddr *sa, socklen_t salen);
/* End C: log REASON at debug, release everything, free after the batch. */
void gh_conn_close(struct gh_conn *c, const char *reason);
/* Graceful stop: make C's current (or waiting) request its last; an idle
 * C closes after a short grace. */
void gh_conn_drain(struct gh_conn *c);
/*
 * At limits.connections: close up to MAX of W's idle keep-alive
 * connections (idle for a second at least), those idle longest first, to
 * make room for new clients.
 * Returns how many were closed.
 */
unsigned gh_conn_reclaim(struct gh_worker *w, unsigned max);
/* The shutdown timeout ran out: FIN C now and let it linger briefly. */
void gh_conn_stop(struct gh_conn *c);

#endif
