#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "shm/cache.h"
#include "shm/ctable.h"
#include "shm/state.h"
#include "worker/auth.h"
#include "worker/cachereq.h"
#include "worker/conn.h"
#include "worker/core/log.h"
#include "worker/metrics.h"
#include "worker/path.h"
#include "worker/route.h"
#include "worker/static.h"
#include "worker/tls.h"

#define GH_CONN_TEXT(name, text) text,
static const char *const conn_actions[] = {
    GH_CONN_STATES(GH_CONN_TEXT)
};
#undef GH_CONN_TEXT

/* Lingering close: how long we read and drop what a client still sends
 * after our final response, so its unread bytes do not turn our close
 * into a reset that destroys the response in flight (as nginx does). */
#define CONN_LINGER_MS 2000
/* Header fields of a response, at least: limits.headers is for clients;
 * a backend's head is bounded by its buffer anyway. */
#define CONN_RESP_HEADERS 256
/* Graceful stop: an idle keep-alive connection (or one whose response
 * promised keep-alive before the stop began) is kept this long for a
 * request the client may have sent already; that one is served, with
 * Connection: close, as the last. */
#define CONN_DRAIN_GRACE_MS 1000
/* ... and after timeouts.shutdown, how long the last FIN lingers. */
#define CONN_STOP_LINGER_MS 500

/* A header value from a template, at most (request_headers...). */
#define CONN_EXPAND_MAX 4096

/* c->ssl_want: what TLS waits for after EAGAIN. */
#define CONN_SSL_WANT_READ  1
#define CONN_SSL_WANT_WRITE 2

/* conn_rate(): what is moving. */
#define CONN_RATE_BODY 1
#define CONN_RATE_RESP 2

/* Idle keep-alive connections closed at once when the limit is hit. */
#define CONN_RECLAIM_MAX 16
/* ... once idle that long. */
#define CONN_RECLAIM_IDLE_MS 1000

/* What the upstream request of a cached route is for. */
enum { CONN_CC_NONE = 0, CONN_CC_PASS, CONN_CC_FILL, CONN_CC_REVAL };

/* References held through a long transfer renew their lease this often
 * (shm/cache.h GH_CACHE_LEASE_MS). */
#define CONN_CACHE_RENEW_MS (60 * 1000)
/* Polling another process's fill: from this interval, doubling to ... */
#define CONN_CACHE_POLL_MIN 1
#define CONN_CACHE_POLL_MAX 20
/* Key and variant bytes, at most. */
#define CONN_CACHE_KEY_MAX  4096

struct conn_cache {
    const struct gh_cache_zone *zone;
    struct gh_cache_ref ref;    /* the entry served, or the stale one */
    struct gh_cache_ref fill;   /* the entry this request fills */
    struct gh_cmeta     m;      /* ref's metadata ... */
    char               *hdrs;   /* ... and its header block (in mbuf) */
    char               *mbuf;   /* the copy's room (pool), reused */
    size_t              mbuf_size;
    const char         *fwd;    /* Cache-Status fwd= of a forward */
    struct gh_cc_req    q;
    struct gh_cc_policy pol;
    struct gh_str       host, target;   /* for the upstream request */
    char               *key;
    size_t              keylen;
    char               *var;            /* extras, then Vary values */
    size_t              varlen;
    char               *xtra;           /* cache_key_extra values */
    size_t              xtralen;
    struct gh_str       path, args, khost;  /* raw, copied (pool) */
    const char         *vkey;           /* the descriptor's Vary key */
    uint64_t            off, end;       /* body bytes to send */
    gh_msec             until;          /* a wait for a fill ends */
    uint64_t            waited;         /* the entry waited for */
    uint64_t            held;           /* body bytes when hold began */
    uint8_t             hold;           /* waiting for the ref to complete */
    uint8_t             feed;           /* the filler's client reads the
                                           entry, not the origin */
    gh_msec             poll;
    gh_msec             moved;          /* the entry last grew */
    gh_msec             renewed;        /* leases renewed */
    time_t              req_time;
    uint8_t             mode;           /* CONN_CC_* */
    uint8_t             has_ref, has_fill;
    uint8_t             chunked;        /* to the client */
    uint8_t             known;          /* END is the body's end */
    uint8_t             varied;         /* looked up under a descriptor */
    uint8_t             bg;             /* a background refresh is owed */
    uint8_t             detached;       /* it runs: no client output */
    uint8_t             claimed;
    uint8_t             invalidate;     /* an unsafe method */
    uint8_t             keep, close_sent;   /* saved over the refresh */
    uint8_t             collapsed;
    uint8_t             counted;        /* in the zone's hits/misses */
    char                status[160];    /* Cache-Status, after "gatehouse" */
    const char         *word;           /* access log cache= */
};


static void conn_run(struct gh_conn *c);
static void conn_event(struct gh_ev *ev, uint32_t events);
static void conn_up_event(struct gh_ev *ev, uint32_t events);
static void conn_timeout(struct gh_timer *t);
static int conn_add_interim(struct gh_conn *c);
static int conn_flush(struct gh_conn *c);
static int conn_rate(struct gh_conn *c, unsigned what, size_t n);
static ssize_t conn_ssl_fail(struct gh_conn *c, SSL *ssl, int r);
static int conn_handshake(struct gh_conn *c);
static int conn_up_tls(struct gh_conn *c);
static void conn_wait_write(struct gh_conn *c);
static void conn_hash_key(struct gh_conn *c);
static void conn_unadmit(struct gh_conn *c);
static void conn_resp_finished(struct gh_conn *c);
static void conn_cache_release(struct gh_conn *c);
static void conn_cache_count(struct gh_conn *c);
static int conn_cache_stale_error(struct gh_conn *c, int status);
static int conn_up_head(const struct gh_conn *c);
static int conn_upstream_begin(struct gh_conn *c);
static int conn_relay_feed(struct gh_conn *c);
static int conn_cache_route(struct gh_conn *c, struct gh_str host,
                            struct gh_str target);
static struct gh_str conn_cache_field(const struct conn_cache *cc,
                                      const char *name, size_t len);
static int conn_hdr_emit(struct gh_conn *c, struct gh_buf *b,
                         const struct gh_hdr_ops *site_ops,
                         const struct gh_hdr_ops *route_ops);
static int conn_hdr_skip(const struct gh_conn *c, int resp,
                         struct gh_str name);

/* ---- logging with context ---------------------------------------------- */

/*
 * "MESSAGE (err: text) while ACTION, client: ADDR, server: LISTEN,
 *  request: "LINE", upstream: NAME/ADDR" — the nginx shape, so operators'
 * log searches work.
 */
GH_PRINTF(4, 5) static void
conn_log(struct gh_conn *c, enum gh_log_level level, int err,
         const char *fmt, ...)
{
    char msg[1024];
    size_t n;
    int r;
    va_list ap;

    if (!gh_log_enabled(level))
        return;
    va_start(ap, fmt);
    r = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    n = r < 0 ? 0 : GH_MIN((size_t) r, sizeof(msg) - 1);
    if (err) {
        r = snprintf(msg + n, sizeof(msg) - n, " (%d: %s)", err,
                     strerror(err));
        n = r < 0 ? n : GH_MIN(n + (size_t) r, sizeof(msg) - 1);
    }
    r = snprintf(msg + n, sizeof(msg) - n, " while %s, client: %s, "
                 "server: %s", conn_actions[c->state], c->peer,
                 c->l->addr.text);
    n = r < 0 ? n : GH_MIN(n + (size_t) r, sizeof(msg) - 1);
    if (c->log_line != NULL) {
        r = snprintf(msg + n, sizeof(msg) - n, ", request: \"%s\"",
                     c->log_line);
        n = r < 0 ? n : GH_MIN(n + (size_t) r, sizeof(msg) - 1);
    }
    if (c->uc != NULL) {
        const struct gh_upstream *u = c->uc->up->conf;

        (void) snprintf(msg + n, sizeof(msg) - n, ", upstream: %s/%s",
                        u->name, u->servers[c->uc->server].addr.text);
    }
    gh_log(level, 0, "%s", msg);
}

/* ---- small helpers ------------------------------------------------------ */

/* Append to B; GH_ERR when it does not fit. */
static int
buf_add(struct gh_buf *b, const void *p, size_t n)
{
    if (n > gh_buf_room(b))
        return GH_ERR;
    memcpy(b->data + b->end, p, n);
    b->end += (uint32_t) n;
    return GH_OK;
}

#define BUF_ADDS(b, lit) buf_add((b), (lit), sizeof(lit) - 1)

GH_PRINTF(2, 3) static int
buf_printf(struct gh_buf *b, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vsnprintf(b->data + b->end, gh_buf_room(b), fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t) r >= gh_buf_room(b))
        return GH_ERR;
    b->end += (uint32_t) r;
    return GH_OK;
}

static int
buf_add_hdr(struct gh_buf *b, const struct gh_hdr *h)
{
    if (h->name.len + h->value.len + 4 > gh_buf_room(b))
        return GH_ERR;
    memcpy(b->data + b->end, h->name.p, h->name.len);
    b->end += (uint32_t) h->name.len;
    b->data[b->end++] = ':';
    b->data[b->end++] = ' ';
    memcpy(b->data + b->end, h->value.p, h->value.len);
    b->end += (uint32_t) h->value.len;
    b->data[b->end++] = '\r';
    b->data[b->end++] = '\n';
    return GH_OK;
}

/*
 * Read from the client (UP == 0) or the upstream into B's free space.
 * Returns the bytes read, 0 at EOF, GH_AGAIN when drained (the side's
 * "may read" flag is cleared: its next edge will set it) or GH_ERR with
 * errno.  A short read counts as drained unless the peer's FIN was seen
 * (EPOLLRDHUP), since a FIN that came with the data gives no new edge.
 */
/*
 * The byte streams of a connection: the client's (plain, or TLS when
 * c->ssl is set) and the upstream's (plain).  read(2)/send(2) semantics:
 * >0 bytes, 0 at the end of the stream, -1 with errno (EAGAIN: wait for
 * the socket; with TLS, c->ssl_want tells which way).
 */
static ssize_t
conn_io_read(struct gh_conn *c, int up, void *p, size_t n)
{
    SSL *ssl = up ? c->uc->ssl : c->ssl;
    int r;

    if (ssl == NULL)
        return read(up ? c->uc->ev.fd : c->ev.fd, p, n);
    ERR_clear_error();
    r = SSL_read(ssl, p, (int) GH_MIN(n, INT_MAX));
    if (r > 0)
        return r;
    return conn_ssl_fail(c, ssl, r);
}

static ssize_t
conn_io_write(struct gh_conn *c, int up, const void *p, size_t n)
{
    SSL *ssl = up ? c->uc->ssl : c->ssl;
    int r;

    if (ssl == NULL)
        return send(up ? c->uc->ev.fd : c->ev.fd, p, n, MSG_NOSIGNAL);
    ERR_clear_error();
    r = SSL_write(ssl, p, (int) GH_MIN(n, INT_MAX));
    if (r > 0)
        return r;
    return conn_ssl_fail(c, ssl, r);
}

/* A TLS read or write on SSL that returned R <= 0, as read(2)/send(2)
 * would (c->ssl_want says which way an EAGAIN waits). */
static ssize_t
conn_ssl_fail(struct gh_conn *c, SSL *ssl, int r)
{
    switch (SSL_get_error(ssl, r)) {
    case SSL_ERROR_ZERO_RETURN:
        return 0;                   /* close_notify */
    case SSL_ERROR_WANT_READ:
        c->ssl_want = CONN_SSL_WANT_READ;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->ssl_want = CONN_SSL_WANT_WRITE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_SYSCALL:
        if (r == 0 || errno == 0)
            return 0;               /* EOF without close_notify */
        return -1;
    default:
        errno = EPROTO;
        return -1;
    }
}

static ssize_t
conn_recv(struct gh_conn *c, int up, struct gh_buf *b)
{
    for (;;) {
        size_t room = gh_buf_room(b);
        ssize_t n = conn_io_read(c, up, b->data + b->end, room);

        if (n > 0) {
            /* A short read drained the socket; with TLS it only ended a
             * record, so read on until the library wants more. */
            if ((size_t) n < room && !(up ? c->u_hup : c->c_hup)
                && (up ? c->uc->ssl : c->ssl) == NULL) {
                if (up)
                    c->urd = 0;
                else
                    c->crd = 0;
            }
            b->end += (uint32_t) n;
            return n;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return GH_ERR;
        if (up) {
            c->urd = 0;
        } else {
            /* (TLS may want to write first: then the next event of the
             * client's socket, or its timeout, runs this again.) */
            c->crd = 0;
        }
        return GH_AGAIN;
    }
}

static int
conn_ensure(struct gh_conn *c, struct gh_buf **b, uint32_t size)
{
    if (*b == NULL) {
        *b = gh_buf_get(size);
        if (*b == NULL) {
            conn_log(c, GH_LOG_CRIT, ENOMEM, "no memory for a buffer");
            return GH_ERR;
        }
    }
    return GH_OK;
}

static void
conn_wait(struct gh_conn *c, enum gh_conn_wait what, gh_msec ms)
{
    c->wait = (uint8_t) what;
    gh_timer_set(&c->w->loop, &c->timer, ms);
}

static int
conn_idempotent(const struct gh_conn *c)
{
    switch (c->req.parser.method) {
    case HTTP_GET: case HTTP_HEAD: case HTTP_PUT: case HTTP_DELETE:
    case HTTP_OPTIONS: case HTTP_TRACE:
        return 1;
    default:
        return 0;
    }
}

/* ---- releasing the upstream connection ---------------------------------- */

/* Leave the upstream's wait queue (max_conns), if in it. */
static void
conn_unqueue(struct gh_conn *c)
{
    if (c->queued) {
        gh_upstream_queue_leave(&c->w->ups[c->route->upstream->index]);
        c->queued = 0;
    }
}

/* Give back the active slot of this attempt (shared least_conn and
 * max_conns counts), if held. */
static void
conn_slot_release(struct gh_conn *c)
{
    conn_unqueue(c);
    if (c->slot) {
        gh_upstream_done(&c->w->ups[c->route->upstream->index],
                         (uint32_t) c->up_idx);
        c->slot = 0;
    }
}

/* This attempt failed by the server's fault: a passive-check failure. */
static void
conn_up_blame(struct gh_conn *c)
{
    if (c->up_idx >= 0 && c->route != NULL && c->route->upstream != NULL)
        gh_upstream_failed(&c->w->ups[c->route->upstream->index],
                           (uint32_t) c->up_idx, c->w->loop.now);
}

static void
conn_up_release(struct gh_conn *c, int reuse)
{
    struct gh_upconn *uc = c->uc;

    conn_slot_release(c);
    if (uc == NULL)
        return;
    c->uc = NULL;
    c->u_hup = 0;
    c->u_eof = 0;
    c->urd = c->uwr = 0;
    if (reuse) {
        gh_upstream_pool_put(&c->w->loop, uc);
    } else {
        gh_upconn_close(&c->w->loop, uc);
    }
}

static void
conn_release_buffers(struct gh_conn *c)
{
    gh_buf_put(&c->out);
    gh_buf_put(&c->uin);
    gh_buf_put(&c->cout);
    if (c->in != NULL && gh_buf_len(c->in) == 0)
        gh_buf_put(&c->in);
}

/* ---- local responses (errors, redirects, static headers) ---------------- */

/* "gatehouse/0.1.0", or "gatehouse" with server_tokens = false. */
static const char *
conn_server_token(const struct gh_conn *c)
{
    return c->w->conf->server_tokens ? "gatehouse/" GH_VERSION
                                     : "gatehouse";
}

/*
 * Is the backend's header NAME hidden from the client: the route's
 * hide_headers, else the site's, else Server and X-Powered-By.
 */
static int
conn_hidden(const struct gh_conn *c, struct gh_str name)
{
    static const char *const dflt[] = { "server", "x-powered-by" };
    const char *const *v = dflt;
    uint32_t n = 2;

    if (c->route != NULL && c->route->hide != NULL) {
        v = c->route->hide;
        n = c->route->nhide;
    } else if (c->site != NULL && c->site->hide != NULL) {
        v = c->site->hide;
        n = c->site->nhide;
    }
    for (uint32_t i = 0; i < n; i++)
        if (strlen(v[i]) == name.len
            && strncasecmp(v[i], name.p, name.len) == 0)
            return 1;
    return 0;
}

static int
conn_head_start(struct gh_conn *c, int status, const char *reason)
{
    struct gh_worker *w = c->w;

    if (conn_ensure(c, &c->cout, GH_BUF_SIZE) != GH_OK)
        return GH_ERR;
    c->cout->start = c->cout->end = 0;
    gh_worker_update_time(w);
    c->status = status;
    return buf_printf(c->cout, "HTTP/1.1 %d %s\r\nServer: %s\r\n"
                      "Date: %s\r\n", status, reason, conn_server_token(c),
                      w->http_date);
}

static int
conn_head_end(struct gh_conn *c)
{
    if (c->ssl != NULL && c->site != NULL && c->site->tls != NULL
        && c->site->tls->hsts != NULL
        && buf_printf(c->cout, "Strict-Transport-Security: %s\r\n",
                      c->site->tls->hsts) != GH_OK)
        return GH_ERR;
    if (c->route != NULL && (c->site->resp_hdrs.n || c->route->resp_hdrs.n)
        && conn_hdr_emit(c, c->cout, &c->site->resp_hdrs,
                         &c->route->resp_hdrs) != GH_OK)
        return GH_ERR;
    if (!c->keepalive) {
        c->close_sent = 1;
        return BUF_ADDS(c->cout, "Connection: close\r\n\r\n");
    }
    if (c->req.parser.http_minor == 0)
        return BUF_ADDS(c->cout, "Connection: keep-alive\r\n\r\n");
    return BUF_ADDS(c->cout, "\r\n");
}

/*
 * A generated response: a small HTML page for STATUS, with EXTRA header
 * lines (each ending in CRLF, may be NULL).  The connection stays open
 * only if c->keepalive still says so.  If the response has already begun,
 * all we can do is close: GH_ERR.
 */
static int
conn_respond(struct gh_conn *c, int status, const char *extra)
{
    char body[256];
    int n;

    conn_up_release(c, 0);
    if (status >= 500 && c->cache != NULL
        && conn_cache_stale_error(c, status) == GH_OK)
        return GH_OK;
    if (c->file_fd != -1) {
        (void) close(c->file_fd);
        c->file_fd = -1;
    }
    if (c->resp_started) {
        c->status = c->status ? c->status : status;
        c->keepalive = 0;
        return GH_ERR;
    }
    n = snprintf(body, sizeof(body), "<html>\r\n<head><title>%d %s</title>"
                 "</head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n"
                 "<hr><center>gatehouse</center>\r\n</body>\r\n</html>\r\n",
                 status, gh_http_reason(status), status,
                 gh_http_reason(status));
    if (conn_head_start(c, status, gh_http_reason(status)) != GH_OK
        || buf_printf(c->cout, "%sContent-Type: text/html\r\n"
                      "Content-Length: %d\r\n", extra ? extra : "", n)
           != GH_OK
        || (c->cache != NULL && c->cache->status[0] != '\0'
            && buf_printf(c->cout, "Cache-Status: gatehouse; %s\r\n",
                          c->cache->status) != GH_OK)
        || conn_head_end(c) != GH_OK
        || (c->req.parser.method != HTTP_HEAD
            && buf_add(c->cout, body, (size_t) n) != GH_OK))
        return GH_ERR;
    c->body_sent = c->req.parser.method != HTTP_HEAD ? (uint64_t) n : 0;
    c->resp_mode = GH_BODY_NONE;
    c->state = GH_CONN_SEND_LOCAL;
    return GH_OK;
}

/*
 * Answer with an error page and close after it.  Logs WHY with context at
 * LEVEL (info for the client's fault, error for an upstream's).
 */
static int
conn_error(struct gh_conn *c, int status, enum gh_log_level level, int err,
           const char *why)
{
    conn_log(c, level, err, "%s", why);
    c->keepalive = 0;
    return conn_respond(c, status, NULL);
}

/* An error the upstream server caused: also a passive-check failure. */
static int
conn_up_error(struct gh_conn *c, int status, int err, const char *why)
{
    conn_up_blame(c);
    return conn_error(c, status, GH_LOG_ERROR, err, why);
}

/* ---- READ_HEAD ---------------------------------------------------------- */

/*
 * A request that failed before it was routed is still logged: keep its
 * first line (at most 1 KiB of it), whatever it holds; the access log
 * escapes it.
 */
static void
conn_keep_bad_line(struct gh_conn *c)
{
    const char *p = c->in->data + c->in->start + c->scan_skip;
    size_t n = gh_buf_len(c->in) - c->scan_skip, k;

    if (c->log_line != NULL)
        return;
    for (k = 0; k < n && k < 1024 && p[k] != '\r' && p[k] != '\n'; k++)
        continue;
    c->log_line = gh_pool_strndup(&c->pool, p, k);
    if (c->t_start == 0)
        c->t_start = c->w->loop.now;
}

static int
conn_read_head(struct gh_conn *c)
{
    const struct gh_conf *conf = c->w->conf;
    uint64_t hmax = conf->limits.header_size;

    if (conn_ensure(c, &c->in, GH_BUF_SIZE) != GH_OK)
        return GH_ERR;
    for (;;) {
        struct gh_buf *b = c->in;
        size_t len = gh_buf_len(b), head_len;
        const char *why;
        int status, rc;
        ssize_t n;

        if (len > 0) {
            rc = gh_http_scan_head(b->data + b->start, len, &c->scan_pos,
                                   &c->scan_skip, conf->limits.uri_size + 64,
                                   &head_len, &status, &why);
            if (rc == GH_OK) {
                head_len -= c->scan_skip;
                if (c->t_start == 0)
                    c->t_start = c->w->loop.now;
                if (head_len > hmax) {
                    conn_keep_bad_line(c);
                    return conn_error(c, 431, GH_LOG_INFO, 0,
                                      "client sent too large request header");
                }
                rc = gh_http_parse_head(&c->req, HTTP_REQUEST, 0,
                                        b->data + b->start + c->scan_skip,
                                        head_len, (uint32_t)
                                        conf->limits.headers, &c->pool,
                                        &status, &why);
                c->head_len = head_len;
                if (rc != GH_OK) {
                    conn_keep_bad_line(c);
                    c->keepalive = 0;
                    return conn_error(c, status, GH_LOG_INFO, 0, why);
                }
                gh_timer_del(&c->w->loop, &c->timer);
                c->state = GH_CONN_ROUTE;
                return GH_OK;
            }
            if (rc == GH_ERR) {
                conn_keep_bad_line(c);
                return conn_error(c, status, GH_LOG_INFO, 0, why);
            }
            if (len - c->scan_skip >= hmax) {
                conn_keep_bad_line(c);
                if (c->scan_pos == c->scan_skip)
                    return conn_error(c, 414, GH_LOG_INFO, 0,
                                      "client sent too long URI");
                return conn_error(c, 431, GH_LOG_INFO, 0,
                                  "client sent too large request header");
            }
            if (!c->head_timer) {
                /* From the first byte, the whole head must arrive within
                 * client_header: a slow drip does not reset it. */
                c->head_timer = 1;
                c->t_start = c->w->loop.now;    /* $request_time from here */
                conn_wait(c, GH_WAIT_CLIENT_READ,
                          conf->timeouts.client_header);
            }
        }
        if (!c->crd) {
            if (len == 0) {
                conn_release_buffers(c);
                conn_wait(c, GH_WAIT_CLIENT_READ, c->w->draining
                          ? GH_MIN(CONN_DRAIN_GRACE_MS,
                                   conf->timeouts.keepalive)
                          : c->nreq > 0 ? conf->timeouts.keepalive
                          : conf->timeouts.client_header);
            }
            return GH_AGAIN;
        }
        if (gh_buf_room(b) == 0) {
            gh_buf_compact(b);
            if (gh_buf_room(b) == 0) {
                /* A head larger than one buffer: move to one that holds
                 * header_size (rare; nginx's large_client_header_buffers). */
                struct gh_buf *nb = gh_buf_get((uint32_t) hmax + 1024);

                if (nb == NULL || nb->size <= b->size) {
                    gh_buf_put(&nb);
                    return conn_error(c, 431, GH_LOG_INFO, 0,
                                      "client sent too large request header");
                }
                memcpy(nb->data, b->data, b->end);
                nb->end = b->end;
                gh_buf_put(&c->in);
                c->in = b = nb;
            }
        }
        n = conn_recv(c, 0, b);
        if (n > 0 || n == GH_AGAIN)
            continue;
        if (n == 0) {
            if (len > 0)
                conn_log(c, GH_LOG_INFO, 0, "client closed connection");
            return GH_ERR;
        }
        conn_log(c, GH_LOG_INFO, errno, "recv() failed");
        return GH_ERR;
    }
}

/* ---- ROUTE -------------------------------------------------------------- */

static int conn_start_static(struct gh_conn *c, const char *path);
static int conn_build_upstream_head(struct gh_conn *c, struct gh_str host,
                                    struct gh_str target);

/* Copy what the access log and error messages need out of the input
 * buffer, which later reads of the body overwrite. */
static void
conn_keep_log_fields(struct gh_conn *c, const char *head)
{
    const char *eol = memchr(head, '\r', c->head_len);
    const struct gh_hdr *h;

    if (eol != NULL)
        c->log_line = gh_pool_strndup(&c->pool, head, (size_t) (eol - head));
    if (c->w->alog_fd == -1)
        return;
    h = gh_http_find(&c->req, GH_HDR_REFERER);
    if (h != NULL)
        c->log_referer = gh_pool_strndup(&c->pool, h->value.p, h->value.len);
    h = gh_http_find(&c->req, GH_HDR_USER_AGENT);
    if (h != NULL)
        c->log_ua = gh_pool_strndup(&c->pool, h->value.p, h->value.len);
}

/*
 * The request is answered here, not proxied: consume its head; the
 * connection stays only if no body follows (we do not read one, and an
 * unread body would be taken for the next request; lingering close drops
 * it).
 */
static void
conn_answer_locally(struct gh_conn *c)
{
    c->in->start += (uint32_t) (c->scan_skip + c->head_len);
    c->scan_pos = c->scan_skip = 0;
    if (!c->req.complete)
        c->keepalive = 0;
}

/*
 * A metrics route: the daemon's counters, Prometheus text (JSON with
 * ?format=json).  The body goes through a memfd so it is sent like a file,
 * whatever its size.
 */
static int
conn_start_metrics(struct gh_conn *c, struct gh_str target)
{
    const char *q = memchr(target.p, '?', target.len);
    int json = 0;
    char *body = NULL;
    size_t len = 0, done = 0;
    int fd;

    /* ?format=json, as one whole parameter among others. */
    for (const char *p = q, *end = target.p + target.len; p != NULL
         && p + 1 < end;) {
        const char *e = memchr(p + 1, '&', (size_t) (end - p - 1));
        size_t n = (size_t) ((e ? e : end) - p - 1);

        if (n == 11 && memcmp(p + 1, "format=json", 11) == 0)
            json = 1;
        p = e;
    }

    conn_answer_locally(c);
    if (c->req.parser.method != HTTP_GET && c->req.parser.method != HTTP_HEAD) {
        conn_log(c, GH_LOG_INFO, 0, "method not allowed for metrics");
        return conn_respond(c, 405, "Allow: GET, HEAD\r\n");
    }
    if (gh_metrics_render(c->w->conf, c->w->shm, json, c->w->loop.now,
                          &body, &len) != GH_OK)
        return conn_error(c, 500, GH_LOG_CRIT, ENOMEM,
                          "no memory for metrics");
    fd = memfd_create("gatehouse-metrics", MFD_CLOEXEC);
    while (fd != -1 && done < len) {
        ssize_t n = write(fd, body + done, len - done);

        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENOSPC;
            (void) close(fd);
            fd = -1;
            break;
        }
        done += (size_t) n;
    }
    free(body);
    if (fd == -1)
        return conn_error(c, 500, GH_LOG_CRIT, errno,
                          "cannot buffer the metrics");
    if (conn_head_start(c, 200, "OK") != GH_OK
        || buf_printf(c->cout, "Content-Type: %s\r\nCache-Control: "
                      "no-store\r\nContent-Length: %zu\r\n",
                      json ? GH_METRICS_JSON_TYPE : GH_METRICS_PROM_TYPE,
                      len) != GH_OK
        || conn_head_end(c) != GH_OK) {
        (void) close(fd);
        return conn_error(c, 500, GH_LOG_ERROR, 0,
                          "metrics response header too large");
    }
    c->file_fd = fd;
    c->file_off = 0;
    c->file_left = c->req.parser.method == HTTP_HEAD ? 0 : (off_t) len;
    c->state = GH_CONN_SEND_LOCAL;
    return GH_OK;
}

/* Refuse a well-formed request by rule (see conn_answer_locally). */
static int
conn_refuse(struct gh_conn *c, int status, const char *extra)
{
    conn_answer_locally(c);
    return conn_respond(c, status, extra);
}

/* Route action `return`: STATUS with the configured body (text). */
static int
conn_return(struct gh_conn *c)
{
    const struct gh_return *rt = &c->route->ret;
    size_t len = rt->body ? strlen(rt->body) : 0;
    int head = c->req.parser.method == HTTP_HEAD;

    conn_answer_locally(c);
    if (conn_head_start(c, (int) rt->status, gh_http_reason((int) rt->status))
        != GH_OK
        || (len > 0 && BUF_ADDS(c->cout, "Content-Type: text/plain; "
                                "charset=utf-8\r\n") != GH_OK)
        || buf_printf(c->cout, "Content-Length: %zu\r\n", len) != GH_OK
        || conn_head_end(c) != GH_OK
        || (!head && len > 0 && buf_add(c->cout, rt->body, len) != GH_OK))
        return conn_error(c, 500, GH_LOG_ERROR, 0,
                          "return response too large");
    c->body_sent = head ? 0 : len;
    c->resp_mode = GH_BODY_NONE;
    c->state = GH_CONN_SEND_LOCAL;
    return GH_OK;
}

/*
 * Expand template T into OUT (ROOM bytes, not NUL-terminated): $scheme,
 * $host (without port: the Host header's or the target's authority),
 * $uri (the normalised path), $request_uri (the target as sent), $args
 * (after '?'), $remote_addr; other text is copied.  Returns the length,
 * or ROOM when it did not fit.
 */
static size_t
conn_expand(const struct gh_conn *c, const char *t, char *out, size_t room)
{
    static const struct { const char *name; size_t len; } vars[] = {
        { "$scheme", 7 }, { "$host", 5 }, { "$uri", 4 },
        { "$request_uri", 12 }, { "$args", 5 }, { "$remote_addr", 12 },
    };
    const struct conn_vars *cv = c->vars;
    size_t n = 0;

    while (*t != '\0' && n < room) {
        const char *v = NULL;
        size_t vlen = 0, k;

        for (k = 0; *t == '$' && k < GH_NELEM(vars); k++) {
            if (strncmp(t, vars[k].name, vars[k].len) == 0
                && !(isalnum((unsigned char) t[vars[k].len])
                     || t[vars[k].len] == '_'))
                break;
        }
        if (*t != '$' || k == GH_NELEM(vars)) {
            out[n++] = *t++;
            continue;
        }
        switch (k) {
        case 0:
            v = c->ssl != NULL ? "https" : "http";
            vlen = strlen(v);
            break;
        case 1: v = cv->host.p; vlen = cv->host.len; break;
        case 2: v = cv->norm.p; vlen = cv->norm.len; break;
        case 3: v = cv->target.p; vlen = cv->target.len; break;
        case 4: v = cv->args.p; vlen = cv->args.len; break;
        default: v = c->peer_ip; vlen = strlen(c->peer_ip); break;
        }
        if (n + vlen > room)
            return room;
        if (vlen > 0)
            memcpy(out + n, v, vlen);
        n += vlen;
        t += vars[k].len;
    }
    return *t == '\0' ? n : room;
}

/*
 * A redirect with STATUS to template TMPL (conn_expand()).  A Location
 * that does not fit is answered with TOOLONG, logged at LEVEL with WHY.
 */
static int
conn_location(struct gh_conn *c, int status, const char *tmpl, int toolong,
              enum gh_log_level level, const char *why)
{
    char *loc = gh_pool_alloc(&c->pool, 4096 + 32);
    size_t n, room = 4096;

    if (loc == NULL)
        return conn_error(c, 500, GH_LOG_CRIT, ENOMEM, "no memory");
    memcpy(loc, "Location: ", 10);
    n = conn_expand(c, tmpl, loc + 10, room - 10);
    if (n >= room - 10)
        return conn_error(c, toolong, level, 0, why);
    memcpy(loc + 10 + n, "\r\n", 3);
    conn_answer_locally(c);
    return conn_respond(c, status, loc);
}

/* Route action `redirect`: Location from the template (conn_expand()). */
static int
conn_redirect(struct gh_conn *c)
{
    return conn_location(c, (int) c->route->redirect.status,
                         c->route->redirect.to, 500, GH_LOG_ERROR,
                         "redirect location too long");
}

/* redirect_https on a plain connection: 308 to the same URL over https. */
static int
conn_to_https(struct gh_conn *c)
{
    return conn_location(c, 308, "https://$host$request_uri", 414,
                         GH_LOG_INFO, "client sent too long URI for a "
                         "redirect");
}

/* Is a peer's field NAME replaced or removed by OPS? */
static int
conn_hdr_dropped(const struct gh_hdr_ops *ops, struct gh_str name)
{
    for (uint32_t i = 0; i < ops->n; i++) {
        const struct gh_hdr_op *o = &ops->v[i];

        if (o->op != GH_HOP_ADD && o->name_len == name.len
            && strncasecmp(o->name, name.p, name.len) == 0)
            return 1;
    }
    return 0;
}

/*
 * The set and add fields of SITE_OPS then ROUTE_OPS into B, values
 * expanded; a site field the route sets or removes is left out.
 */
static int
conn_hdr_emit(struct gh_conn *c, struct gh_buf *b,
              const struct gh_hdr_ops *site_ops,
              const struct gh_hdr_ops *route_ops)
{
    const struct gh_hdr_ops *all[2] = { site_ops, route_ops };
    char val[CONN_EXPAND_MAX];
    int rc = GH_OK;

    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < all[k]->n; i++) {
            const struct gh_hdr_op *o = &all[k]->v[i];
            size_t n;

            if (o->op == GH_HOP_REMOVE
                || (k == 0 && conn_hdr_dropped(route_ops, (struct gh_str) {
                        o->name, o->name_len })))
                continue;
            n = conn_expand(c, o->value, val, sizeof(val));
            if (n >= sizeof(val))
                return GH_ERR;
            rc |= buf_printf(b, "%s: %.*s\r\n", o->name, (int) n, val);
        }
    }
    return rc;
}

/* A peer's field NAME is left out for the site's or the route's OPS. */
static int
conn_hdr_skip(const struct gh_conn *c, int resp, struct gh_str name)
{
    if (c->route == NULL)
        return 0;
    return resp ? conn_hdr_dropped(&c->site->resp_hdrs, name)
                  || conn_hdr_dropped(&c->route->resp_hdrs, name)
                : conn_hdr_dropped(&c->site->req_hdrs, name)
                  || conn_hdr_dropped(&c->route->req_hdrs, name);
}

/* strip_prefix: the target without the route's path ("/api/x?y" on route
 * "/api/" goes as "/x?y").  Only when the raw target starts with it. */
static struct gh_str
conn_strip_prefix(struct gh_conn *c, struct gh_str target)
{
    const struct gh_route *r = c->route;
    size_t keep = r->path[r->path_len - 1] == '/' ? 1 : 0;
    size_t cut = r->path_len - keep;
    char *p;

    if (target.len < r->path_len
        || memcmp(target.p, r->path, r->path_len) != 0)
        return target;
    if (target.len == cut || target.p[cut] != '/') {
        /* "/api" alone, or "/api?x": what is left needs its own '/'. */
        p = gh_pool_alloc(&c->pool, target.len - cut + 2);
        if (p == NULL)
            return target;
        p[0] = '/';
        memcpy(p + 1, target.p + cut, target.len - cut);
        return (struct gh_str) { p, target.len - cut + 1 };
    }
    return (struct gh_str) { target.p + cut, target.len - cut };
}

/* HOST without its port (an IPv6 literal keeps its colons). */
static size_t
conn_host_len(struct gh_str host)
{
    const char *rb;

    if (host.p == NULL)
        return 0;
    if (host.len > 0 && host.p[0] == '['
        && (rb = memchr(host.p, ']', host.len)) != NULL)
        return (size_t) (rb - host.p) + 1;     /* "[::1]:8080" */
    for (size_t i = 0; i < host.len; i++)
        if (host.p[i] == ':')
            return i;
    return host.len;
}

/*
 * The Host chose another site than SNI did, and one of the two asks for
 * client certificates: the handshake did not check what the request is
 * for (RFC 9110 15.5.20: 421).
 */
static int
conn_misdirected(const struct gh_conn *c)
{
    const struct gh_site *sni = gh_tls_site(c->ssl);

    return sni != NULL && sni != c->site
           && ((sni->tls != NULL
                && sni->tls->verify_client != GH_TLS_VERIFY_OFF)
               || (c->site->tls != NULL
                   && c->site->tls->verify_client != GH_TLS_VERIFY_OFF));
}

/* The client's address against ACL. */
static int
conn_acl_allows(struct gh_conn *c, const struct gh_acl *acl)
{
    /* Not an IP client: no rule can allow it. */
    return c->peer_is_ip && gh_route_acl_allows(acl, c->peer_addr);
}

/* "Allow: GET, HEAD\r\n" for the METHODS bits, in the request pool. */
static const char *
conn_allow_header(struct gh_conn *c, uint64_t methods)
{
    char buf[512];
    size_t n = (size_t) snprintf(buf, sizeof(buf), "Allow:");
    int first = 1;

    for (unsigned m = 0; m < 64 && n < sizeof(buf) - 32; m++) {
        if (!(methods & (1ULL << m)))
            continue;
        n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s %s",
                               first ? "" : ",",
                               http_method_str((enum http_method) m));
        first = 0;
    }
    n += (size_t) snprintf(buf + n, sizeof(buf) - n, "\r\n");
    return gh_pool_strndup(&c->pool, buf, n);
}

/* The first field named NAME (LEN bytes, any case) of the request. */
static const struct gh_hdr *
conn_req_field(const struct gh_conn *c, const char *name, size_t len)
{
    for (uint32_t i = 0; i < c->req.nhdrs; i++) {
        const struct gh_hdr *h = &c->req.hdrs[i];

        if (h->name.len == len && strncasecmp(h->name.p, name, len) == 0)
            return h;
    }
    return NULL;
}

/*
 * The route's rate_limit, shared by every worker (shm/ctable.h): GH_OK to
 * go on, else the 429 is under way.  A request without the key (no
 * header, a client that is not IP) is not limited.
 */
static int
conn_rate_limit(struct gh_conn *c)
{
    const struct gh_rate_limit *rl = &c->route->rate;
    struct gh_worker *w = c->w;
    const struct gh_hdr *h;
    struct gh_ct_key key;
    struct timespec ts;
    uint64_t retry = 1, now_us;
    char *extra;
    int rc;

    if (rl->key == GH_RATE_IP) {
        if (!c->peer_is_ip)
            return GH_OK;
        gh_ctable_key_addr(c->route->shm, c->peer_addr, &key);
    } else {
        h = conn_req_field(c, rl->key_name, strlen(rl->key_name));
        if (h == NULL)
            return GH_OK;
        gh_ctable_key_bytes(w->shm, c->route->shm, h->value.p, h->value.len,
                            &key);
    }
    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    now_us = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
    rc = gh_ctable_rate(w->shm, &key, rl->interval_us, rl->burst, now_us,
                        &retry);
    if (rc == GH_ERR && w->loop.now - w->ct_warned >= 1000) {
        w->ct_warned = w->loop.now;
        conn_log(c, GH_LOG_ALERT, 0, "rate limit not applied: the shared "
                 "table's lock is broken");
    }
    if (rc != GH_DECLINED)
        return GH_OK;
    conn_log(c, GH_LOG_INFO, 0, "rate limit of route \"%s\" exceeded (%s, "
             "burst %" PRIu32 ")", c->route->name, rl->rate_text, rl->burst);
    extra = gh_pool_alloc(&c->pool, 48);
    if (extra != NULL)
        snprintf(extra, 48, "Retry-After: %" PRIu64 "\r\n", retry);
    conn_refuse(c, 429, extra);
    return GH_DECLINED;
}

/*
 * auth_basic of the route, else of the site: GH_OK to go on, else the
 * 401 is under way.
 */
static int
conn_auth(struct gh_conn *c)
{
    const struct gh_auth_basic *a = c->route->auth.on ? &c->route->auth
                                    : c->site->auth.on ? &c->site->auth
                                    : NULL;
    const struct gh_hdr *h;
    const char *user;
    char *extra;
    size_t n;

    if (a == NULL)
        return GH_OK;
    h = conn_req_field(c, "authorization", 13);
    if (gh_auth_basic_check(a->pw, h ? h->value.p : NULL,
                            h ? h->value.len : 0, &user, NULL) == GH_OK)
        return GH_OK;
    if (h == NULL)
        conn_log(c, GH_LOG_INFO, 0, "no credentials for realm \"%s\"",
                 a->realm);
    else
        conn_log(c, GH_LOG_ERROR, 0, "authentication failed for realm "
                 "\"%s\"", a->realm);
    n = strlen(a->realm) + 64;
    extra = gh_pool_alloc(&c->pool, n);
    if (extra != NULL)
        snprintf(extra, n, "WWW-Authenticate: Basic realm=\"%s\", "
                 "charset=\"UTF-8\"\r\n", a->realm);
    conn_refuse(c, 401, extra);
    return GH_DECLINED;
}

static int
conn_route(struct gh_conn *c)
{
    const struct gh_conf *conf = c->w->conf;
    struct gh_http_msg *rq = &c->req;
    const char *head = c->in->data + c->in->start + c->scan_skip;
    struct gh_str host = { NULL, 0 }, target = rq->url, path, query;
    struct http_parser_url pu;
    struct gh_route_req rr;
    uint64_t allow;
    char *norm;
    ssize_t nlen;

    conn_keep_log_fields(c, head);
    c->keepalive = http_should_keep_alive(&rq->parser) && !c->w->draining
                   && c->nreq + 1 < conf->limits.keepalive_requests;
    if (rq->host != NULL)
        host = rq->host->value;
    if (rq->parser.method == HTTP_CONNECT)
        return conn_error(c, 405, GH_LOG_INFO, 0,
                          "client sent CONNECT, which is not supported");
    if (target.len > conf->limits.uri_size)
        return conn_error(c, 414, GH_LOG_INFO, 0, "client sent too long URI");
    if (target.len > 0 && target.p[0] != '/') {
        /* RFC 9112 3.2.2: absolute-form; its authority replaces Host. */
        http_parser_url_init(&pu);
        if (http_parser_parse_url(target.p, target.len, 0, &pu) != 0
            || !(pu.field_set & (1 << UF_HOST))
            || !(pu.field_set & (1 << UF_SCHEMA))) {
            return conn_error(c, 400, GH_LOG_INFO, 0,
                              "client sent invalid request target");
        }
        host.p = target.p + pu.field_data[UF_HOST].off;
        host.len = pu.field_data[UF_HOST].len;
        if (pu.field_set & (1 << UF_PATH)) {
            target.p += pu.field_data[UF_PATH].off;
            target.len -= pu.field_data[UF_PATH].off;
        } else {
            target = (struct gh_str) GH_STR("/");
        }
    }
    path = target;
    for (size_t i = 0; i < path.len; i++) {
        if (path.p[i] == '?' || path.p[i] == '#') {
            path.len = i;
            break;
        }
    }
    norm = gh_pool_alloc(&c->pool, path.len + 2);
    if (norm == NULL)
        return conn_error(c, 500, GH_LOG_CRIT, ENOMEM, "no memory for path");
    nlen = gh_path_normalize(path.p, path.len, norm, path.len + 2);
    if (nlen < 0)
        return conn_error(c, 400, GH_LOG_INFO, 0,
                          "client sent invalid path");
    c->site = gh_route_site(c->l->sites, c->l->nsites, host.p, host.len);
    if (c->site == NULL)
        return conn_error(c, 404, GH_LOG_INFO, 0, "no site for the host");
    if (c->ssl != NULL && conn_misdirected(c))
        return conn_error(c, 421, GH_LOG_INFO, 0, "client sent a Host of "
                          "another site than its TLS server name, where a "
                          "client certificate decides");
    if (c->site->acl.n > 0 && !conn_acl_allows(c, &c->site->acl)) {
        conn_log(c, GH_LOG_ERROR, 0, "access forbidden by rule");
        return conn_refuse(c, 403, NULL);
    }
    query = (struct gh_str) { path.p + path.len, target.len - path.len };
    if (query.len > 0 && query.p[0] == '?') {
        const char *hash = memchr(query.p, '#', query.len);

        query.p++;
        query.len = hash ? (size_t) (hash - query.p) : query.len - 1;
    } else {
        query.len = 0;
    }
    rr = (struct gh_route_req) { norm, (size_t) nlen, host.p, host.len,
                                 query, rq->parser.method, rq };
    if ((c->vars = gh_pool_alloc(&c->pool, sizeof(*c->vars))) == NULL)
        return conn_error(c, 500, GH_LOG_CRIT, ENOMEM, "no memory");
    c->vars->host = (struct gh_str) { host.p, conn_host_len(host) };
    c->vars->target = target;
    c->vars->norm = (struct gh_str) { norm, (size_t) nlen };
    c->vars->args = (struct gh_str) { NULL, 0 };
    if (memchr(target.p, '?', target.len) != NULL) {
        const char *q = memchr(target.p, '?', target.len);

        c->vars->args = (struct gh_str) {
            q + 1, target.len - (size_t) (q + 1 - target.p) };
    }
    c->route = gh_route_match(c->site, &rr, &allow);
    if (c->route == NULL && allow != 0) {
        conn_log(c, GH_LOG_INFO, 0, "method not allowed on this route");
        return conn_refuse(c, 405, conn_allow_header(c, allow));
    }
    if (c->route == NULL)
        return conn_error(c, 404, GH_LOG_INFO, 0, "no route for the path");
    if (c->route->acl.n > 0 && !conn_acl_allows(c, &c->route->acl)) {
        conn_log(c, GH_LOG_ERROR, 0, "access forbidden by rule");
        return conn_refuse(c, 403, NULL);
    }
    if (c->route->redirect_https && c->ssl == NULL)
        return conn_to_https(c);
    if (c->route->rate.on && conn_rate_limit(c) != GH_OK)
        return GH_OK;
    if (conn_auth(c) != GH_OK)
        return GH_OK;
    c->body_max = c->route->has_body_size ? c->route->body_size
                  : conf->limits.body_size;
    rq->body_max = c->body_max;
    if (c->body_max && rq->content_length > 0
        && (uint64_t) rq->content_length > c->body_max)
        return conn_error(c, 413, GH_LOG_INFO, 0,
                          "client intended to send too large body");
    if (c->route->root != NULL)
        return conn_start_static(c, norm);
    if (c->route->metrics)
        return conn_start_metrics(c, target);
    if (c->route->ret.status != 0)
        return conn_return(c);
    if (c->route->redirect.status != 0)
        return conn_redirect(c);
    if (c->route->strip_prefix)
        target = conn_strip_prefix(c, target);
    if (c->route->cache != NULL) {
        int rc = conn_cache_route(c, host, target);

        if (rc != GH_DECLINED)
            return rc;
    }
    if (conn_build_upstream_head(c, host, target) != GH_OK)
        return conn_error(c, 431, GH_LOG_INFO, 0,
                          "request header too large to forward");
    /* The head is in `out` now; the input keeps only what follows it. */
    c->in->start += (uint32_t) (c->scan_skip + c->head_len);
    c->scan_pos = c->scan_skip = 0;
    c->req_done = rq->complete;
    if (rq->complete) {
        c->replay_ok = 1;
    } else {
        c->req.on_body = NULL;      /* set in SEND_REQ */
        c->req_chunked_out = rq->chunked;
        if (rq->expect_continue && rq->parser.http_minor >= 1
            && gh_buf_len(c->in) == 0) {
            /* RFC 9110 10.1.1: we ask for the body ourselves; Expect was
             * not forwarded, so the backend will not answer 100 too. */
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

            if (conn_io_write(c, 0, cont, sizeof(cont) - 1) > 0)
                c->sent_continue = 1;
        }
    }
    return conn_upstream_begin(c);
}

/* The request head is in `out`: on to an upstream server. */
static int
conn_upstream_begin(struct gh_conn *c)
{
    c->tries = 0;
    c->tried.n = 0;
    c->up_idx = -1;
    conn_hash_key(c);
    c->state = GH_CONN_CONNECT;
    return GH_OK;
}

/*
 * The request head for the upstream: origin-form target, HTTP/1.1 (so the
 * connection can be pooled), hop-by-hop fields dropped (RFC 9110 7.6.1),
 * forwarding fields set, framing regenerated.
 */
static int
conn_build_upstream_head(struct gh_conn *c, struct gh_str host,
                         struct gh_str target)
{
    struct gh_http_msg *rq = &c->req;
    const struct gh_hdr *xff = NULL, *upg = NULL;
    struct gh_buf *b;
    int rc = GH_OK;
    int ops = c->site->req_hdrs.n || c->route->req_hdrs.n;
    const struct gh_site *ts = c->ssl != NULL ? gh_tls_site(c->ssl) : NULL;
    int cv = ts != NULL && ts->tls != NULL
             && ts->tls->verify_client != GH_TLS_VERIFY_OFF;
#define CONN_GEN(name) (!ops || !conn_hdr_skip(c, 0, (struct gh_str) \
                                               GH_STR(name)))

    /* The head as received, a byte more per field ("a:b" goes as "a: b"),
     * our own fields, and the configured ones at their largest. */
    size_t need = c->head_len + rq->nhdrs + 1024
                  + (c->cache != NULL && c->cache->mode == CONN_CC_REVAL
                     ? c->cache->m.hdr_len : 0);

    for (int k = 0; k < 2 && ops; k++) {
        const struct gh_hdr_ops *o = k ? &c->route->req_hdrs
                                       : &c->site->req_hdrs;

        need += o->n * (size_t) (CONN_EXPAND_MAX + 64);
    }
    if (conn_ensure(c, &c->out, (uint32_t) GH_MAX(GH_BUF_SIZE, need))
        != GH_OK)
        return GH_ERR;
    b = c->out;
    b->start = b->end = 0;
    rc |= buf_printf(b, "%s %.*s HTTP/1.1\r\n",
                     rq->parser.method == HTTP_HEAD && !conn_up_head(c)
                     ? "GET" : http_method_str(rq->parser.method),
                     (int) target.len, target.p);
    for (uint32_t i = 0; i < rq->nhdrs; i++) {
        const struct gh_hdr *h = &rq->hdrs[i];

        switch (h->kind) {
        case GH_HDR_XFF:
            if (xff == NULL)
                xff = h;
            continue;
        case GH_HDR_UPGRADE:
            upg = h;
            continue;
        case GH_HDR_IF_NONE_MATCH:
        case GH_HDR_IF_MODIFIED_SINCE:
        case GH_HDR_RANGE:
        case GH_HDR_IF_RANGE:
            /* A fill asks for the whole response (our validators). */
            if (c->cache != NULL && c->cache->mode >= CONN_CC_FILL)
                continue;
            break;
        case GH_HDR_CONTENT_LENGTH:
        case GH_HDR_XF_PROTO:
        case GH_HDR_XF_HOST:
        case GH_HDR_X_REAL_IP:
        case GH_HDR_EXPECT:
            continue;
        case GH_HDR_HOST:
            if (ops && conn_hdr_skip(c, 0, h->name))
                continue;
            /* An absolute-form target's authority wins (RFC 9112 3.2.2). */
            if (host.p != h->value.p) {
                rc |= buf_printf(b, "Host: %.*s\r\n", (int) host.len,
                                 host.p);
                continue;
            }
            break;
        default:
            break;
        }
        /* A client must not claim what only the TLS layer may say. */
        if (cv && (GH_STR_IEQ(h->name, "x-client-verify")
                   || GH_STR_IEQ(h->name, "x-client-subject")))
            continue;
        if (!h->hop && !(ops && conn_hdr_skip(c, 0, h->name)))
            rc |= buf_add_hdr(b, h);
    }
    if (cv) {
        char vb[256], sb[512];
        const char *v = gh_tls_client_verify(c->ssl, vb, sizeof(vb));
        const char *subj = gh_tls_client_subject(c->ssl, sb, sizeof(sb));

        rc |= buf_printf(b, "X-Client-Verify: %s\r\n", v);
        if (subj != NULL)
            rc |= buf_printf(b, "X-Client-Subject: %s\r\n", subj);
    }
    if (ops)
        rc |= conn_hdr_emit(c, b, &c->site->req_hdrs, &c->route->req_hdrs);
    if (rq->host == NULL && CONN_GEN("host"))
        rc |= buf_printf(b, "Host: %.*s\r\n", host.p ? (int) host.len
                         : (int) strlen(c->route->upstream->name),
                         host.p ? host.p : c->route->upstream->name);
    if (xff != NULL && CONN_GEN("x-forwarded-for"))
        rc |= buf_printf(b, "X-Forwarded-For: %.*s, %s\r\n",
                         (int) xff->value.len, xff->value.p, c->peer_ip);
    else if (CONN_GEN("x-forwarded-for"))
        rc |= buf_printf(b, "X-Forwarded-For: %s\r\n", c->peer_ip);
    if (CONN_GEN("x-real-ip"))
        rc |= buf_printf(b, "X-Real-IP: %s\r\n", c->peer_ip);
    if (CONN_GEN("x-forwarded-proto"))
        rc |= c->ssl != NULL ? BUF_ADDS(b, "X-Forwarded-Proto: https\r\n")
                             : BUF_ADDS(b, "X-Forwarded-Proto: http\r\n");
    if (host.p != NULL && CONN_GEN("x-forwarded-host"))
        rc |= buf_printf(b, "X-Forwarded-Host: %.*s\r\n", (int) host.len,
                         host.p);
    if (CONN_GEN("via"))
        rc |= BUF_ADDS(b, "Via: 1.1 gatehouse\r\n");
#undef CONN_GEN
    if (c->cache != NULL && c->cache->mode == CONN_CC_REVAL) {
        struct gh_str et = conn_cache_field(c->cache, "etag", 4);
        struct gh_str lm = conn_cache_field(c->cache, "last-modified", 13);

        if (et.p != NULL)
            rc |= buf_printf(b, "If-None-Match: %.*s\r\n", (int) et.len,
                             et.p);
        if (lm.p != NULL)
            rc |= buf_printf(b, "If-Modified-Since: %.*s\r\n",
                             (int) lm.len, lm.p);
    }
    if (rq->chunked)
        rc |= BUF_ADDS(b, "Transfer-Encoding: chunked\r\n");
    else if (rq->content_length >= 0)
        rc |= buf_printf(b, "Content-Length: %" PRId64 "\r\n",
                         rq->content_length);
    if (rq->upgrade && upg != NULL) {
        c->upgrade = 1;
        rc |= buf_printf(b, "Connection: upgrade\r\nUpgrade: %.*s\r\n",
                         (int) upg->value.len, upg->value.p);
    }
    rc |= BUF_ADDS(b, "\r\n");
    return rc == GH_OK ? GH_OK : GH_ERR;
}

/* ---- the shared HTTP cache (issue 5) -------------------------------------- */

/* The next interval of polling another process's fill. */
static gh_msec
conn_cache_backoff(const struct conn_cache *cc)
{
    return GH_MIN(GH_MAX(cc->poll * 2, CONN_CACHE_POLL_MIN),
                  CONN_CACHE_POLL_MAX);
}

static void
conn_cache_status(struct conn_cache *cc, const char *word, const char *fmt,
                  ...)
{
    va_list ap;

    cc->word = word;
    va_start(ap, fmt);
    (void) vsnprintf(cc->status, sizeof(cc->status), fmt, ap);
    va_end(ap);
}

/* The zone's hits and misses: once per request, by outcome, before the
 * response goes out (a client that reads the metrics next sees it). */
static void
conn_cache_count(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;
    const char *wd;
    int hit;

    if (cc == NULL || cc->counted || cc->detached || cc->word == NULL)
        return;
    cc->counted = 1;
    wd = cc->word;
    hit = strcmp(wd, "HIT") == 0 || strcmp(wd, "STALE") == 0
          || strcmp(wd, "UPDATING") == 0 || strcmp(wd, "COLLAPSED") == 0
          || strcmp(wd, "REVALIDATED") == 0;
    if (hit || strcmp(wd, "MISS") == 0 || strcmp(wd, "EXPIRED") == 0)
        gh_cache_count(c->w->shm, cc->zone->root, hit);
}

/* Give up storing this response: the fill is aborted, never served. */
static void
conn_cache_unfill(struct conn_cache *cc)
{
    if (cc->has_fill) {
        gh_cache_abort(&cc->fill);
        gh_cache_release(&cc->fill);
        cc->has_fill = 0;
    }
}

static void
conn_cache_drop_ref(struct conn_cache *cc)
{
    if (cc->has_ref) {
        if (cc->claimed)
            gh_cache_unclaim(&cc->ref);
        gh_cache_release(&cc->ref);
        cc->has_ref = cc->claimed = 0;
    }
}

/* Everything the request holds in the cache (an unfinished fill is
 * aborted: never served as whole). */
static void
conn_cache_release(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;

    if (cc == NULL)
        return;
    conn_cache_drop_ref(cc);
    if (cc->has_fill) {
        gh_cache_release(&cc->fill);
        cc->has_fill = 0;
    }
    c->cache = NULL;
}

/* The request's upstream method is GET for a HEAD that fills. */
static int
conn_up_head(const struct gh_conn *c)
{
    return c->req.parser.method == HTTP_HEAD
           && (c->cache == NULL || c->cache->mode < CONN_CC_FILL);
}

/* Copy the ref's metadata.  GH_OK, GH_DECLINED (none yet), GH_ERR. */
static int
conn_cache_meta(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;
    ssize_t n;

    /* One room per request, grown when too small: a request polling
     * another's fill must not eat its pool. */
    if (cc->mbuf == NULL) {
        cc->mbuf_size = 4096;
        if ((cc->mbuf = gh_pool_alloc(&c->pool, cc->mbuf_size)) == NULL)
            return GH_ERR;
    }
    n = gh_cache_meta(&cc->ref, cc->mbuf, cc->mbuf_size);
    if (n > (ssize_t) cc->mbuf_size) {
        char *nb = gh_pool_alloc(&c->pool, (size_t) n);

        if (nb == NULL)
            return GH_ERR;
        cc->mbuf = nb;
        cc->mbuf_size = (size_t) n;
        n = gh_cache_meta(&cc->ref, cc->mbuf, cc->mbuf_size);
    }
    if (n == GH_DECLINED)
        return GH_DECLINED;
    if (n < (ssize_t) sizeof(cc->m) || n > (ssize_t) cc->mbuf_size)
        return GH_ERR;
    memcpy(&cc->m, cc->mbuf, sizeof(cc->m));
    if (cc->m.magic != GH_CMETA_MAGIC
        || cc->m.hdr_len != (size_t) n - sizeof(cc->m))
        return GH_ERR;
    cc->hdrs = cc->mbuf + sizeof(cc->m);
    return GH_OK;
}

/* Store M and header block H[0..HLEN) as REF's metadata. */
static int
conn_cache_put_meta(struct gh_conn *c, struct gh_cache_ref *ref,
                    struct gh_cmeta *m, const char *h, size_t hlen)
{
    char *buf = gh_pool_alloc(&c->pool, sizeof(*m) + hlen);

    if (buf == NULL)
        return GH_ERR;
    m->hdr_len = (uint32_t) hlen;
    memcpy(buf, m, sizeof(*m));
    memcpy(buf + sizeof(*m), h, hlen);
    return gh_cache_set_meta(ref, buf, sizeof(*m) + hlen);
}

/* The stored field NAME's value, or {NULL, 0}. */
static struct gh_str
conn_cache_field(const struct conn_cache *cc, const char *name, size_t len)
{
    struct gh_hdr h[GH_CMETA_HDRS];
    uint32_t n = gh_creq_split(cc->hdrs, cc->m.hdr_len, h, GH_CMETA_HDRS);

    for (uint32_t i = 0; i < n; i++)
        if (gh_str_ieq(h[i].name, name, len))
            return h[i].value;
    return (struct gh_str) { NULL, 0 };
}

/* The upstream request now: the head, then CONNECT. */
static int
conn_cache_forward(struct gh_conn *c, int mode)
{
    c->cache->mode = (uint8_t) mode;
    if (conn_build_upstream_head(c, c->cache->host, c->cache->target)
        != GH_OK)
        return conn_error(c, 431, GH_LOG_INFO, 0,
                          "request header too large to forward");
    return conn_upstream_begin(c);
}

/* Serve the ref's entry to the client: head into cout, SEND_CACHE. */
static int
conn_cache_serve(struct gh_conn *c, int revalidated)
{
    struct conn_cache *cc = c->cache;
    struct gh_hdr h[GH_CMETA_HDRS];
    uint32_t n = gh_creq_split(cc->hdrs, cc->m.hdr_len, h, GH_CMETA_HDRS);
    int status = cc->m.status, rc = GH_OK, body = 1;
    uint64_t len = 0;
    enum gh_cache_state st = gh_cache_state(&cc->ref, &len);
    time_t now = time(NULL);
    int64_t age = gh_cachectl_current_age(cc->m.initial_age,
                                          cc->m.response_time, now);
    const struct gh_hdr *rh = gh_http_find(&c->req, GH_HDR_RANGE);
    struct gh_buf *b;

    if (st == GH_CACHE_ABORTED)
        return GH_DECLINED;
    if (conn_ensure(c, &c->cout, GH_BUF_SIZE) != GH_OK)
        return GH_ERR;
    cc->known = st == GH_CACHE_COMPLETE;
    cc->off = 0;
    cc->end = cc->known ? len : UINT64_MAX;
    cc->moved = c->w->loop.now;
    if (status >= 200 && status < 300) {
        struct gh_str inm[8];
        uint32_t ninm = 0;
        struct gh_cc_cond cd;

        memset(&cd, 0, sizeof(cd));
        cd.method = (struct gh_str) GH_STR("GET");
        for (uint32_t i = 0; i < c->req.nhdrs && ninm < 8; i++)
            if (c->req.hdrs[i].kind == GH_HDR_IF_NONE_MATCH)
                inm[ninm++] = c->req.hdrs[i].value;
        cd.if_none_match = inm;
        cd.n_if_none_match = ninm;
        if (gh_http_find(&c->req, GH_HDR_IF_MODIFIED_SINCE) != NULL)
            cd.if_modified_since = gh_http_find(
                &c->req, GH_HDR_IF_MODIFIED_SINCE)->value;
        if (gh_http_find(&c->req, GH_HDR_IF_RANGE) != NULL)
            cd.if_range = gh_http_find(&c->req, GH_HDR_IF_RANGE)->value;
        cd.status = status;
        cd.etag = conn_cache_field(cc, "etag", 4);
        cd.last_modified = (time_t) cc->m.last_modified;
        cd.has_last_modified = cc->m.has_last_modified;
        cd.date = (time_t) cc->m.date;
        cd.has_date = cc->m.has_date;
        if ((ninm > 0 || cd.if_modified_since.p != NULL)
            && gh_cachectl_not_modified(&cd, now)) {
            status = 304;
            body = 0;
        } else if (rh != NULL && cc->known && status == 200
                   && gh_cachectl_if_range(&cd, now)) {
            uint64_t first, last;
            int r = gh_cachectl_range(rh->value.p, rh->value.len, len,
                                      &first, &last);

            if (r == GH_OK) {
                status = 206;
                cc->off = first;
                cc->end = last + 1;
            } else if (r == GH_ERR) {
                status = 416;
                body = 0;
            }
        }
    }
    if (c->req.parser.method == HTTP_HEAD || status == 204)
        body = 0;
    if (body && !cc->known && cc->m.length < 0
        && c->req.parser.http_minor == 0) {
        /* An HTTP/1.0 client cannot tell a body cut by a failed fill from
         * a whole one (it ends at the close): it waits for the fill to
         * complete, and goes to the origin itself if it fails. */
        cc->hold = 1;
        cc->held = len;
        cc->poll = CONN_CACHE_POLL_MIN;
        c->state = GH_CONN_CACHE_WAIT;
        conn_wait(c, GH_WAIT_CACHE, cc->poll);
        return GH_AGAIN;
    }
    c->status = status;
    b = c->cout;        /* may hold interim responses already */
    rc |= buf_printf(b, "HTTP/1.1 %d %s\r\n", status, gh_http_reason(status));
    for (uint32_t i = 0; i < n; i++) {
        /* RFC 9110 15.4.5: a 304 carries the fields a cache updates, not
         * the representation's; a 416 none of them. */
        if (status == 416 || (status == 304
                              && !gh_str_ieq(h[i].name, "cache-control", 13)
                              && !gh_str_ieq(h[i].name, "content-location",
                                             16)
                              && !gh_str_ieq(h[i].name, "date", 4)
                              && !gh_str_ieq(h[i].name, "etag", 4)
                              && !gh_str_ieq(h[i].name, "expires", 7)
                              && !gh_str_ieq(h[i].name, "last-modified", 13)
                              && !gh_str_ieq(h[i].name, "vary", 4)))
            continue;
        if (!conn_hidden(c, h[i].name) && !conn_hdr_skip(c, 1, h[i].name))
            rc |= buf_add_hdr(b, &h[i]);
    }
    if (conn_hidden(c, (struct gh_str) GH_STR("server"))
        && !conn_hdr_skip(c, 1, (struct gh_str) GH_STR("server")))
        rc |= buf_printf(b, "Server: %s\r\n", conn_server_token(c));
    rc |= BUF_ADDS(b, "Via: 1.1 gatehouse\r\n");
    rc |= buf_printf(b, "Age: %" PRId64 "\r\n", age);
    if (cc->word == NULL)
        conn_cache_status(cc, "HIT", "hit; ttl=%" PRId64,
                          cc->m.lifetime - age);
    rc |= buf_printf(b, "Cache-Status: gatehouse; %s\r\n", cc->status);
    cc->chunked = 0;
    if (status == 206)
        rc |= buf_printf(b, "Content-Range: bytes %" PRIu64 "-%" PRIu64
                         "/%" PRIu64 "\r\nContent-Length: %" PRIu64 "\r\n",
                         cc->off, cc->end - 1, len, cc->end - cc->off);
    else if (status == 416)
        rc |= buf_printf(b, "Content-Range: bytes */%" PRIu64 "\r\n"
                         "Content-Length: 0\r\n", len);
    else if (status == 304 || status == 204)
        ;
    else if (cc->known)
        rc |= buf_printf(b, "Content-Length: %" PRIu64 "\r\n", len);
    else if (cc->m.length >= 0)
        rc |= buf_printf(b, "Content-Length: %" PRId64 "\r\n",
                         cc->m.length);
    else if (!body)
        ;
    else if (c->req.parser.http_minor >= 1) {
        cc->chunked = 1;
        rc |= BUF_ADDS(b, "Transfer-Encoding: chunked\r\n");
    } else {
        c->keepalive = 0;
    }
    if (cc->m.length >= 0 && !cc->known && status != 206)
        cc->end = (uint64_t) cc->m.length, cc->known = 1;
    rc |= conn_head_end(c);
    if (rc != GH_OK)
        return conn_error(c, 500, GH_LOG_ERROR, 0,
                          "cached response header too large");
    if (!body)
        cc->off = cc->end = 0, cc->known = 1;
    (void) revalidated;
    conn_cache_count(c);
    c->resp_mode = GH_BODY_NONE;
    c->state = GH_CONN_SEND_CACHE;
    return GH_OK;
}

/*
 * The body of REF's entry to the client from cc->off: body bytes join what
 * `cout` holds (the head) before it is written, so a small hit is one
 * send().  GH_OK when all of it up to its end went out, GH_AGAIN when the
 * client must make room (waiting), GH_DECLINED when everything the entry
 * has so far went out and it is still filling, GH_ERR.
 */
static int
conn_cache_pump(struct gh_conn *c, struct gh_cache_ref *ref)
{
    struct conn_cache *cc = c->cache;

    for (;;) {
        struct gh_buf *b = c->cout;
        size_t room = b->size - b->end;
        ssize_t n = 0;
        int rc;

        if (cc->known && cc->off >= cc->end) {
            if (cc->chunked && room >= 5) {
                cc->chunked = 0;
                (void) BUF_ADDS(b, "0\r\n\r\n");
            }
        } else if (room > 64) {
            char *at = b->data + b->end + (cc->chunked ? 10 : 0);

            room -= cc->chunked ? 12 : 0;
            if (cc->known)
                room = (size_t) GH_MIN((uint64_t) room, cc->end - cc->off);
            n = gh_cache_read(ref, cc->off, at, room);
            if (n > 0) {
                if (cc->chunked) {
                    int hl = snprintf(b->data + b->end, 11, "%zx\r\n",
                                      (size_t) n);

                    memmove(b->data + b->end + hl, at, (size_t) n);
                    b->end += (uint32_t) hl;
                    memcpy(b->data + b->end + n, "\r\n", 2);
                    b->end += 2;
                }
                b->end += (uint32_t) n;
                cc->off += (uint64_t) n;
                c->body_sent += (uint64_t) n;
                cc->moved = c->w->loop.now;
                if (cc->moved - cc->renewed > CONN_CACHE_RENEW_MS) {
                    cc->renewed = cc->moved;
                    (void) gh_cache_renew(ref, cc->moved);
                }
                continue;
            }
            if (n == 0) {
                cc->end = cc->off;
                cc->known = 1;
                continue;
            }
            if (n != GH_AGAIN) {
                conn_log(c, GH_LOG_ERROR, 0, "the cache fill of this "
                         "response failed: the client gets a cut body");
                (void) conn_flush(c);
                c->keepalive = 0;
                return GH_ERR;
            }
        }
        rc = conn_flush(c);
        if (rc != GH_OK)
            return rc;
        if (cc->known && cc->off >= cc->end && !cc->chunked)
            return GH_OK;
        if (n == GH_AGAIN)
            return GH_DECLINED;
    }
}

/* SEND_CACHE: the entry's body to the client, as the entry fills. */
static int
conn_send_cache(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;
    int rc = conn_cache_pump(c, &cc->ref);

    if (rc == GH_OK) {
        c->state = GH_CONN_FINISH;
        return GH_OK;
    }
    if (rc != GH_DECLINED)
        return rc;
    /* Another process fills it: look again soon; a filler that stalls
     * longer than upstream_read is given up. */
    if (c->w->loop.now - cc->moved > c->w->conf->timeouts.upstream_read) {
        conn_log(c, GH_LOG_ERROR, ETIMEDOUT, "cache fill of this response "
                 "stalled");
        c->keepalive = 0;
        return GH_ERR;
    }
    cc->poll = c->w->loop.now - cc->moved < 2 ? CONN_CACHE_POLL_MIN
               : conn_cache_backoff(cc);
    conn_wait(c, GH_WAIT_CACHE, cc->poll);
    return GH_AGAIN;
}

/* Decide what to do with the ref's complete entry. */
static int
conn_cache_hit(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;
    struct gh_cc_respdir rc;
    time_t now = time(NULL);
    int64_t age, ttl;
    enum gh_cc_serve sv;

    if ((cc->until != 0 && cc->ref.id == cc->waited)
        || gh_cache_state(&cc->ref, NULL) == GH_CACHE_FILLING) {
        /* Collapsed onto another's fill (waited for its head, or joined
         * while it streams): its response. */
        cc->collapsed = 1;
        conn_cache_status(cc, "COLLAPSED", "fwd=%s; collapsed",
                          cc->varied ? "vary-miss" : "uri-miss");
        return conn_cache_serve(c, 0);
    }
    age = gh_cachectl_current_age(cc->m.initial_age, cc->m.response_time,
                                  now);
    ttl = cc->m.lifetime - age;
    gh_creq_respdir(&cc->m, &rc);
    sv = gh_cachectl_serve(&rc, cc->m.lifetime, age, &cc->q.cc, &cc->pol, 0);
    switch (sv) {
    case GH_CC_SERVE_FRESH:
        conn_cache_status(cc, "HIT", "hit; ttl=%" PRId64, ttl);
        return conn_cache_serve(c, 0);
    case GH_CC_SERVE_STALE:
        conn_cache_status(cc, "STALE", "hit; ttl=%" PRId64, ttl);
        return conn_cache_serve(c, 0);
    case GH_CC_SERVE_STALE_BG:
        conn_cache_status(cc, "UPDATING", "hit; ttl=%" PRId64
                          "; detail=stale-while-revalidate", ttl);
        if (gh_cache_claim(&cc->ref, c->w->loop.now,
                           c->w->conf->timeouts.upstream_connect
                           + c->w->conf->timeouts.upstream_read
                           + c->w->conf->timeouts.upstream_send) == GH_OK)
            cc->bg = cc->claimed = 1;
        return conn_cache_serve(c, 0);
    case GH_CC_SERVE_NO:
        conn_cache_status(cc, "MISS", "fwd=stale; detail=only-if-cached");
        return conn_respond(c, 504, NULL);
    default:
        break;
    }
    /* Revalidate: conditional when it has validators, else whole. */
    cc->fwd = ttl > 0 ? "request" : "stale";
    conn_cache_status(cc, "EXPIRED", "fwd=%s", cc->fwd);
    return conn_cache_forward(c, CONN_CC_REVAL);
}

/* The variant under Vary key VKEY: the extras, then the Vary values. */
static int
conn_cache_variant(struct gh_conn *c, const char *vkey)
{
    struct conn_cache *cc = c->cache;
    char *v = gh_pool_alloc(&c->pool, CONN_CACHE_KEY_MAX);
    ssize_t vl;

    if (v == NULL)
        return GH_ERR;
    memcpy(v, cc->xtra, cc->xtralen);
    vl = gh_creq_variant((struct gh_str) { vkey, strlen(vkey) }, &c->req,
                         v + cc->xtralen, CONN_CACHE_KEY_MAX - cc->xtralen);
    if (vl <= 0)
        return GH_ERR;
    cc->var = v;
    cc->varlen = cc->xtralen + (size_t) vl;
    return GH_OK;
}

/*
 * Look the request up: a hit is served (or revalidated), a miss filled, a
 * fill under way joined.  Also CACHE_WAIT's step: polls another's fill
 * until it has a response head or lock_timeout passes.
 */
static int
conn_cache_find(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;
    struct gh_shm *shm = c->w->shm;
    gh_off zone = cc->zone->root;
    gh_msec now = c->w->loop.now;

    for (int round = 0; round < 4; round++) {
        int rc = gh_cache_peek(shm, zone, cc->key, cc->keylen, cc->var,
                               cc->varlen, now, &cc->ref);

        if (rc == GH_ERR) {
            conn_cache_status(cc, "BYPASS", "fwd=bypass; detail=zone-error");
            conn_log(c, GH_LOG_ERROR, 0, "cache zone \"%s\" is not usable",
                     cc->zone->name);
            return conn_cache_forward(c, CONN_CC_PASS);
        }
        if (rc == GH_DECLINED) {
            const char *fwd = cc->varied ? "vary-miss" : "uri-miss";

            if (cc->q.cc.has & GH_CC_ONLY_IF_CACHED) {
                conn_cache_status(cc, "MISS", "fwd=%s; detail=only-if-cached",
                                  fwd);
                return conn_respond(c, 504, NULL);
            }
            if (gh_http_find(&c->req, GH_HDR_RANGE) != NULL) {
                conn_cache_status(cc, "MISS", "fwd=%s; detail=range", fwd);
                return conn_cache_forward(c, CONN_CC_PASS);
            }
            rc = gh_cache_begin_fill(shm, zone, cc->key, cc->keylen, cc->var,
                                     cc->varlen, getpid(), now, &cc->fill);
            if (rc == GH_AGAIN)
                continue;       /* another's fill, or just complete */
            if (rc != GH_OK) {
                conn_cache_status(cc, "MISS", "fwd=%s; detail=no-room", fwd);
                return conn_cache_forward(c, CONN_CC_PASS);
            }
            cc->has_fill = 1;
            conn_cache_status(cc, "MISS", "fwd=%s", fwd);
            return conn_cache_forward(c, CONN_CC_FILL);
        }
        cc->has_ref = 1;
        rc = conn_cache_meta(c);
        if (rc == GH_DECLINED
            && gh_cache_state(&cc->ref, NULL) == GH_CACHE_FILLING) {
            /* A fill without a response yet: wait for it. */
            cc->waited = cc->ref.id;
            conn_cache_drop_ref(cc);
            if (cc->until == 0)
                cc->until = now + cc->zone->lock_timeout;
            if (now >= cc->until) {
                conn_cache_status(cc, "MISS", "fwd=%s; detail=lock-timeout",
                                  cc->varied ? "vary-miss" : "uri-miss");
                return conn_cache_forward(c, CONN_CC_PASS);
            }
            cc->poll = conn_cache_backoff(cc);
            c->state = GH_CONN_CACHE_WAIT;
            conn_wait(c, GH_WAIT_CACHE, GH_MIN(cc->poll, cc->until - now));
            return GH_AGAIN;
        }
        if (rc != GH_OK) {
            /* Aborted meanwhile, or damaged: as a miss. */
            conn_cache_drop_ref(cc);
            continue;
        }
        if (cc->m.flags & GH_CMETA_VARY) {
            ssize_t vl;

            if (cc->varied) {   /* a descriptor under a variant: damaged */
                conn_cache_drop_ref(cc);
                break;
            }
            cc->vkey = gh_pool_strndup(&c->pool, cc->hdrs, cc->m.hdr_len);
            vl = cc->vkey == NULL ? GH_ERR : conn_cache_variant(c, cc->vkey);
            conn_cache_drop_ref(cc);
            if (vl != GH_OK)
                break;
            cc->varied = 1;
            round = -1;
            continue;
        }
        return conn_cache_hit(c);
    }
    conn_cache_status(cc, "BYPASS", "fwd=%s; detail=busy",
                      cc->varied ? "vary-miss" : "uri-miss");
    return conn_cache_forward(c, CONN_CC_PASS);
}

/* The primary key (the zone's elements) of PATH and ARGS, raw as the
 * client sent them: what reaches the origin is what is keyed (a key from
 * the decoded path would let "/a%3Fb" be stored as "/a?b"). */
static ssize_t
conn_cache_key_of(struct gh_conn *c, struct gh_str path, struct gh_str args,
                  char *out, size_t outlen)
{
    return gh_creq_key_zone(c->cache->zone, "GET", c->ssl != NULL,
                            c->cache->khost, path, args, out, outlen);
}

/* PURGE of the target (a trailing '*': every key it begins). */
static int
conn_cache_purge(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;
    struct gh_str path = cc->path;
    char *key;
    ssize_t kl;
    int n;

    conn_cache_status(cc, "PURGE", "fwd=bypass; detail=purge");
    if (c->route->purge_allow.n == 0
        || !conn_acl_allows(c, &c->route->purge_allow)) {
        conn_log(c, GH_LOG_ERROR, 0, "PURGE forbidden by purge_allow");
        return conn_refuse(c, 403, NULL);
    }
    if ((key = gh_pool_alloc(&c->pool, CONN_CACHE_KEY_MAX)) == NULL)
        return conn_error(c, 500, GH_LOG_CRIT, ENOMEM, "no memory");
    if (path.len > 0 && path.p[path.len - 1] == '*' && cc->args.len == 0) {
        /* The key up to the path without its '*'. */
        struct gh_cache_zone z = *c->route->cache;
        uint32_t k = 0;

        path.len--;
        while (k < z.nkey && z.key[k] != GH_CKEY_URI
               && z.key[k] != GH_CKEY_PATH)
            k++;
        if (k == z.nkey)
            return conn_error(c, 400, GH_LOG_INFO, 0, "prefix PURGE needs "
                              "uri or path in the cache key");
        z.nkey = k + 1;
        kl = gh_creq_key_zone(&z, "GET", c->ssl != NULL, cc->khost, path,
                              (struct gh_str) { NULL, 0 }, key,
                              CONN_CACHE_KEY_MAX);
        if (kl < 1)
            return conn_error(c, 414, GH_LOG_INFO, 0, "cache key too long");
        n = gh_cache_purge_prefix(c->w->shm, cc->zone->root, key,
                                  (size_t) kl - 1);
    } else {
        kl = conn_cache_key_of(c, path, cc->args, key, CONN_CACHE_KEY_MAX);
        if (kl < 0)
            return conn_error(c, 414, GH_LOG_INFO, 0, "cache key too long");
        n = gh_cache_purge(c->w->shm, cc->zone->root, key, (size_t) kl);
    }
    if (n < 0)
        return conn_error(c, 500, GH_LOG_ERROR, 0, "cache zone not usable");
    conn_log(c, GH_LOG_INFO, 0, "PURGE removed %d cache entries", n);
    return conn_refuse(c, n > 0 ? 200 : 404, NULL);    /* consumes it */
}

/*
 * ROUTE for a route with `cache`: GH_DECLINED to go on to the upstream
 * uncached (the request is not for the cache), else what the state
 * machine does next.
 */
static int
conn_cache_route(struct gh_conn *c, struct gh_str host, struct gh_str target)
{
    struct conn_cache *cc = gh_pool_alloc(&c->pool, sizeof(*cc));
    int method = c->req.parser.method;
    struct gh_str raw = c->vars->target, args = c->vars->args;
    char kb[CONN_CACHE_KEY_MAX], xb[CONN_CACHE_KEY_MAX];
    ssize_t kl, xl;

    if (cc == NULL)
        return conn_error(c, 500, GH_LOG_CRIT, ENOMEM, "no memory");
    memset(cc, 0, sizeof(*cc));
    c->cache = cc;
    cc->zone = c->route->cache;
    cc->host = host;
    cc->target = target;
    cc->req_time = time(NULL);
    cc->renewed = c->w->loop.now;
    /* The raw path and query, and the host, copied: a request body read
     * later may overwrite the head they sit in. */
    for (size_t i = 0; i < raw.len; i++)
        if (raw.p[i] == '?' || raw.p[i] == '#') {
            raw.len = i;
            break;
        }
    if (args.p != NULL) {
        const char *hash = memchr(args.p, '#', args.len);

        if (hash != NULL)
            args.len = (size_t) (hash - args.p);
    }
    cc->path.p = gh_pool_strndup(&c->pool, raw.p ? raw.p : "", raw.len);
    cc->path.len = raw.len;
    cc->args.p = gh_pool_strndup(&c->pool, args.p ? args.p : "", args.len);
    cc->args.len = args.len;
    cc->khost.p = gh_pool_strndup(&c->pool, c->vars->host.p
                                  ? c->vars->host.p : "", c->vars->host.len);
    cc->khost.len = c->vars->host.len;
    if (cc->path.p == NULL || cc->args.p == NULL || cc->khost.p == NULL)
        return conn_error(c, 500, GH_LOG_CRIT, ENOMEM, "no memory");
    if (method == HTTP_PURGE)
        return conn_cache_purge(c);
    if (method != HTTP_GET && method != HTTP_HEAD) {
        conn_cache_status(cc, "BYPASS", "fwd=method");
        cc->invalidate = method == HTTP_POST || method == HTTP_PUT
                         || method == HTTP_DELETE || method == HTTP_PATCH;
        return GH_DECLINED;
    }
    if (!c->req.complete) {
        conn_cache_status(cc, "BYPASS", "fwd=bypass; detail=body");
        return GH_DECLINED;
    }
    gh_creq_req(&c->req, &cc->q);
    gh_creq_policy(cc->zone, &cc->pol);
    /* Built on the stack, kept at their size: a request's pool is small. */
    kl = conn_cache_key_of(c, cc->path, cc->args, kb, sizeof(kb));
    /* The route's cache_key_extra values lead the variant: a PURGE of the
     * URL (its primary key) reaches them all. */
    xl = gh_creq_key_extra(c->route, args, &c->req, xb, sizeof(xb));
    if (kl < 0 || xl < 0) {
        conn_cache_status(cc, "BYPASS", "fwd=bypass; detail=key-too-long");
        return GH_DECLINED;
    }
    cc->key = gh_pool_alloc(&c->pool, (size_t) kl + (size_t) xl + 1);
    if (cc->key == NULL)
        return conn_error(c, 500, GH_LOG_CRIT, ENOMEM, "no memory");
    memcpy(cc->key, kb, (size_t) kl);
    cc->xtra = cc->var = cc->key + kl;
    memcpy(cc->xtra, xb, (size_t) xl);
    cc->keylen = (size_t) kl;
    cc->xtralen = cc->varlen = (size_t) xl;
    /* Served from here on: the request is consumed. */
    c->in->start += (uint32_t) (c->scan_skip + c->head_len);
    c->scan_pos = c->scan_skip = 0;
    c->req_done = 1;
    c->replay_ok = 1;
    return conn_cache_find(c);
}

/* CACHE_WAIT's step. */
static int
conn_cache_wait(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;

    if (c->wait == GH_WAIT_CACHE)
        return GH_AGAIN;    /* a client event: the timer says when */
    if (cc->hold) {
        gh_msec now = c->w->loop.now;
        uint64_t len = 0;
        enum gh_cache_state st = gh_cache_state(&cc->ref, &len);

        if (st == GH_CACHE_COMPLETE) {
            cc->hold = 0;
            return conn_cache_serve(c, 0);
        }
        if (st == GH_CACHE_FILLING) {
            if (len != cc->held) {
                cc->held = len;
                cc->moved = now;
            }
            if (now - cc->moved <= c->w->conf->timeouts.upstream_read) {
                cc->poll = conn_cache_backoff(cc);
                conn_wait(c, GH_WAIT_CACHE, cc->poll);
                return GH_AGAIN;
            }
            conn_log(c, GH_LOG_ERROR, ETIMEDOUT, "cache fill of this "
                     "response stalled");
        }
        /* Nothing was sent yet: ask the origin. */
        cc->hold = 0;
        conn_cache_drop_ref(cc);
        conn_cache_status(cc, "MISS", "fwd=uri-miss; detail=fill-failed");
        return conn_cache_forward(c, CONN_CC_PASS);
    }
    return conn_cache_find(c);
}

/* Invalidate the key of the same-host URI V (Location, Content-Location
 * of an answer to an unsafe method), or of the target when V.p is NULL. */
static void
conn_cache_invalidate_uri(struct gh_conn *c, struct gh_str v)
{
    struct conn_cache *cc = c->cache;
    struct gh_str path = v, args = { "", 0 };
    char *key;
    ssize_t kl;

    if (v.p == NULL) {
        path = cc->path;
        args = cc->args;
    } else {
        if (v.len == 0 || (v.len > 1 && v.p[0] == '/' && v.p[1] == '/'))
            return;     /* empty, or a network-path reference */
        if (v.p[0] != '/') {
            struct http_parser_url pu;
            struct gh_str h;

            http_parser_url_init(&pu);
            if (http_parser_parse_url(v.p, v.len, 0, &pu) != 0
                || !(pu.field_set & (1 << UF_HOST))
                || !(pu.field_set & (1 << UF_PATH)))
                return;
            h = (struct gh_str) { v.p + pu.field_data[UF_HOST].off,
                                  pu.field_data[UF_HOST].len };
            if (h.len != cc->khost.len
                || strncasecmp(h.p, cc->khost.p, h.len) != 0)
                return;     /* another origin's: not ours to touch */
            path = (struct gh_str) { v.p + pu.field_data[UF_PATH].off,
                                     v.len - pu.field_data[UF_PATH].off };
        }
        for (size_t i = 0; i < path.len; i++) {
            if (path.p[i] == '?' || path.p[i] == '#') {
                if (path.p[i] == '?') {
                    const char *e = memchr(path.p + i, '#', path.len - i);

                    args = (struct gh_str) {
                        path.p + i + 1,
                        (size_t) ((e ? e : path.p + path.len)
                                  - (path.p + i + 1)) };
                }
                path.len = i;
                break;
            }
        }
    }
    if ((key = gh_pool_alloc(&c->pool, CONN_CACHE_KEY_MAX)) == NULL)
        return;
    kl = conn_cache_key_of(c, path, args, key, CONN_CACHE_KEY_MAX);
    if (kl > 0)
        (void) gh_cache_purge(c->w->shm, cc->zone->root, key, (size_t) kl);
}

/* A stale entry instead of an upstream failure with STATUS, when
 * stale-if-error allows: GH_OK (being served) or GH_DECLINED. */
static int
conn_cache_stale_error(struct gh_conn *c, int status)
{
    struct conn_cache *cc = c->cache;
    struct gh_cc_respdir rc;
    time_t now = time(NULL);
    int64_t age;

    if (cc == NULL || !cc->has_ref || cc->mode != CONN_CC_REVAL
        || c->resp_started)
        return GH_DECLINED;
    if (cc->detached) {
        conn_log(c, GH_LOG_WARN, 0, "background refresh of a cached "
                 "response failed (%d): the stale one stays", status);
        return GH_DECLINED;
    }
    age = gh_cachectl_current_age(cc->m.initial_age, cc->m.response_time,
                                  now);
    gh_creq_respdir(&cc->m, &rc);
    if (gh_cachectl_serve(&rc, cc->m.lifetime, age, &cc->q.cc, &cc->pol, 1)
        != GH_CC_SERVE_STALE_ERR)
        return GH_DECLINED;
    conn_log(c, GH_LOG_WARN, 0, "upstream failed (%d): serving a stale "
             "cached response (stale-if-error)", status);
    cc->mode = CONN_CC_NONE;    /* once */
    conn_up_release(c, 0);
    conn_cache_status(cc, "STALE", "fwd=stale; fwd-status=%d; "
                      "detail=stale-if-error", status);
    return conn_cache_serve(c, 0);
}

/*
 * The stored header block of fields H[0..N) (those gh_creq_keep_field()
 * takes), in the pool, and its length in *LEN; NULL when more than
 * GH_CMETA_HDRS would be kept or there is no memory.
 */
static char *
conn_cache_block(struct gh_conn *c, const struct gh_hdr *h, uint32_t n,
                 size_t *len)
{
    uint32_t kept = 0;
    size_t hl = 0;
    char *blk;

    for (uint32_t i = 0; i < n; i++)
        if (gh_creq_keep_field(&h[i])) {
            hl += h[i].name.len + h[i].value.len + 4;
            kept++;
        }
    if (kept > GH_CMETA_HDRS || (blk = gh_pool_alloc(&c->pool, hl + 1))
                                == NULL)
        return NULL;
    hl = 0;
    for (uint32_t i = 0; i < n; i++)
        if (gh_creq_keep_field(&h[i]))
            hl += (size_t) sprintf(blk + hl, "%.*s: %.*s\r\n",
                                   (int) h[i].name.len, h[i].name.p,
                                   (int) h[i].value.len, h[i].value.p);
    *len = hl;
    return blk;
}

/* Merge a 304's fields into the stale entry's and store them. */
static int
conn_cache_merge_304(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;
    struct gh_http_msg *rs = &c->resp;
    struct gh_hdr old[GH_CMETA_HDRS], all[GH_CMETA_HDRS * 2];
    uint32_t no = gh_creq_split(cc->hdrs, cc->m.hdr_len, old, GH_CMETA_HDRS);
    uint32_t n = 0;
    size_t hl = 0;
    char *blk, vkey[512];
    struct gh_cmeta m;

    for (uint32_t i = 0; i < no; i++) {
        int replaced = 0;

        for (uint32_t j = 0; j < rs->nhdrs && !replaced; j++)
            replaced = gh_creq_keep_field(&rs->hdrs[j])
                       && rs->hdrs[j].name.len == old[i].name.len
                       && strncasecmp(rs->hdrs[j].name.p, old[i].name.p,
                                      old[i].name.len) == 0;
        /* RFC 9111 4.3.4: the 304's fields replace the stored ones. */
        if (!replaced)
            all[n++] = old[i];
    }
    for (uint32_t j = 0; j < rs->nhdrs && n < GH_CMETA_HDRS * 2; j++)
        if (gh_creq_keep_field(&rs->hdrs[j]))
            all[n++] = rs->hdrs[j];
    if ((blk = conn_cache_block(c, all, n, &hl)) == NULL)
        return GH_ERR;
    if (gh_creq_describe(cc->m.status, all, n, &cc->q, &cc->pol,
                         cc->req_time, time(NULL), &m, vkey, sizeof(vkey))
        != GH_CC_ST_OK)
        return GH_DECLINED;
    m.flags = cc->m.flags;
    m.length = cc->m.length;
    if (conn_cache_put_meta(c, &cc->ref, &m, blk, hl) != GH_OK)
        return GH_ERR;
    cc->m = m;
    cc->m.hdr_len = (uint32_t) hl;
    cc->hdrs = blk;
    return GH_OK;
}

/*
 * The fill's response head: store it (metadata now, body as it comes),
 * or abort the fill.  A response with Vary turns the key's entry into the
 * descriptor and fills the variant instead.
 */
static void
conn_cache_store(struct gh_conn *c, int refill)
{
    struct conn_cache *cc = c->cache;
    struct gh_http_msg *rs = &c->resp;
    struct gh_cmeta m;
    char vkey[512], *blk;
    size_t hl = 0;
    enum gh_cc_store why;
    const char *fwd = refill ? (cc->fwd ? cc->fwd : "stale")
                      : cc->varied ? "vary-miss" : "uri-miss";
    char fs[24] = "";
    const char *word = refill ? "EXPIRED" : "MISS";

    if (refill)
        snprintf(fs, sizeof(fs), "; fwd-status=%d", rs->parser.status_code);
    why = gh_creq_describe(rs->parser.status_code, rs->hdrs, rs->nhdrs,
                           &cc->q, &cc->pol, cc->req_time, time(NULL), &m,
                           vkey, sizeof(vkey));
    if (why == GH_CC_ST_OK && m.length > 0
        && (uint64_t) m.length > cc->zone->max_object)
        why = GH_CC_NSTORE;
    if (why != GH_CC_ST_OK) {
        conn_cache_status(cc, word, "fwd=%s%s; "
                          "detail=%s", fwd, fs, why == GH_CC_NSTORE
                          ? "too-large" : gh_cachectl_store_name(why));
        conn_cache_unfill(cc);
        return;
    }
    if ((blk = conn_cache_block(c, rs->hdrs, rs->nhdrs, &hl)) == NULL) {
        conn_cache_status(cc, word, "fwd=%s%s; detail=too-many-fields",
                          fwd, fs);
        conn_cache_unfill(cc);
        return;
    }
    if (vkey[0] != '\0' && !cc->varied) {
        /* The key's entry becomes the Vary descriptor; fill the variant. */
        struct gh_cmeta d;
        ssize_t vl;

        memset(&d, 0, sizeof(d));
        d.magic = GH_CMETA_MAGIC;
        d.flags = GH_CMETA_VARY;
        d.length = -1;
        if (conn_cache_put_meta(c, &cc->fill, &d, vkey, strlen(vkey))
            != GH_OK || gh_cache_complete(&cc->fill) != GH_OK) {
            conn_cache_status(cc, word, "fwd=%s%s; detail=no-room", fwd,
                              fs);
            conn_cache_unfill(cc);
            return;
        }
        gh_cache_release(&cc->fill);
        cc->has_fill = 0;
        vl = conn_cache_variant(c, vkey);
        if (vl != GH_OK || gh_cache_begin_fill(c->w->shm, cc->zone->root,
                                               cc->key, cc->keylen, cc->var,
                                               cc->varlen, getpid(),
                                               c->w->loop.now, &cc->fill)
                           != GH_OK) {
            conn_cache_status(cc, word, "fwd=%s%s; detail=vary-busy", fwd,
                              fs);
            return;
        }
        cc->has_fill = 1;
        cc->varied = 1;
    } else if (cc->varied && (vkey[0] == '\0' || cc->vkey == NULL
                              || strcmp(vkey, cc->vkey) != 0)) {
        /* The origin changed its Vary: start the key afresh. */
        conn_cache_unfill(cc);
        (void) gh_cache_purge(c->w->shm, cc->zone->root, cc->key,
                              cc->keylen);
        conn_cache_status(cc, word, "fwd=%s%s; detail=vary-changed", fwd,
                          fs);
        return;
    }
    if (conn_cache_put_meta(c, &cc->fill, &m, blk, hl) != GH_OK) {
        conn_cache_status(cc, word, "fwd=%s%s; detail=too-large", fwd, fs);
        conn_cache_unfill(cc);
        return;
    }
    conn_cache_status(cc, refill ? "EXPIRED" : "MISS", "fwd=%s%s; stored",
                      fwd, fs);
}

/*
 * READ_RESP of a cached route, the head parsed: GH_DECLINED to relay it
 * (storing it when filling), else the request goes on from the cache.
 */
static int
conn_cache_resp(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;
    int status = c->resp.parser.status_code;

    if (cc->invalidate) {
        if (status >= 200 && status < 400) {
            const struct gh_http_msg *rs = &c->resp;

            /* The target itself, with its query. */
            conn_cache_invalidate_uri(c, (struct gh_str) { NULL, 0 });
            for (uint32_t i = 0; i < rs->nhdrs; i++)
                if (GH_STR_IEQ(rs->hdrs[i].name, "location")
                    || GH_STR_IEQ(rs->hdrs[i].name, "content-location"))
                    conn_cache_invalidate_uri(c, rs->hdrs[i].value);
        }
        return GH_DECLINED;
    }
    if (cc->mode == CONN_CC_REVAL) {
        if (status == 304 && cc->has_ref) {
            /* Merge first: the 304's fields live in `uin`, which
             * conn_resp_finished() gives back. */
            if (conn_cache_merge_304(c) != GH_OK)
                conn_log(c, GH_LOG_WARN, 0, "could not update the cached "
                         "response after 304");
            conn_resp_finished(c);
            if (cc->detached) {
                c->state = GH_CONN_FINISH;
                return GH_OK;
            }
            conn_cache_status(cc, "REVALIDATED", "fwd=%s; fwd-status=304",
                              cc->fwd ? cc->fwd : "stale");
            return conn_cache_serve(c, 1);
        }
        if (status >= 500 && conn_cache_stale_error(c, status) == GH_OK)
            return GH_OK;
        /* A new response replaces the stale one, if it may be stored: an
         * error, or a response that cannot be kept, leaves the stale one
         * (and its validators) in place. */
        {
            struct gh_cmeta m;
            char vk[512];
            enum gh_cc_store why = gh_creq_describe(
                status, c->resp.hdrs, c->resp.nhdrs, &cc->q, &cc->pol,
                cc->req_time, time(NULL), &m, vk, sizeof(vk));

            if (status >= 500 || why != GH_CC_ST_OK) {
                conn_cache_status(cc, "EXPIRED", "fwd=%s; fwd-status=%d%s%s",
                                  cc->fwd ? cc->fwd : "stale", status,
                                  why != GH_CC_ST_OK ? "; detail=" : "",
                                  why != GH_CC_ST_OK
                                  ? gh_cachectl_store_name(why) : "");
                if (cc->detached)
                    conn_log(c, GH_LOG_WARN, 0, "background refresh of a "
                             "cached response got %d: the stale one stays",
                             status);
                conn_cache_drop_ref(cc);
                return GH_DECLINED;
            }
        }
        if (gh_cache_begin_refill(c->w->shm, cc->zone->root, cc->key,
                                  cc->keylen, cc->var, cc->varlen,
                                  cc->ref.id, getpid(), c->w->loop.now,
                                  &cc->fill) == GH_OK) {
            cc->has_fill = 1;
            conn_cache_store(c, 1);
        } else {
            conn_cache_status(cc, "EXPIRED", "fwd=%s; fwd-status=%d",
                              cc->fwd ? cc->fwd : "stale", status);
        }
        conn_cache_drop_ref(cc);
        return GH_DECLINED;
    }
    if (cc->mode == CONN_CC_FILL && cc->has_fill)
        conn_cache_store(c, 0);
    return GH_DECLINED;
}

/* FINISH of a stale-while-revalidate hit: the refresh, detached from the
 * client (whose response is complete). */
static int
conn_cache_refresh(struct gh_conn *c)
{
    struct conn_cache *cc = c->cache;

    cc->bg = 0;
    cc->detached = 1;
    cc->keep = c->keepalive;
    cc->close_sent = c->close_sent;
    c->log_line = NULL;         /* logged once, as the client saw it */
    c->resp_started = c->resp_done = 0;
    c->status = 0;
    c->body_sent = 0;
    if (c->cout != NULL)
        c->cout->start = c->cout->end = 0;
    return conn_cache_forward(c, CONN_CC_REVAL);
}

/* ---- static files ------------------------------------------------------- */

static const char *
conn_hdr_dup(struct gh_conn *c, enum gh_hdr_kind k)
{
    const struct gh_hdr *h = gh_http_find(&c->req, k);

    return h ? gh_pool_strndup(&c->pool, h->value.p, h->value.len) : NULL;
}

static int
conn_start_static(struct gh_conn *c, const char *path)
{
    struct gh_static_req rq = {
        .root = c->route->root,
        .index = c->route->index ? c->route->index : "index.html",
        .path = path,
        .head = c->req.parser.method == HTTP_HEAD,
        .get = c->req.parser.method == HTTP_GET,
        .if_modified_since = conn_hdr_dup(c, GH_HDR_IF_MODIFIED_SINCE),
        .if_none_match = conn_hdr_dup(c, GH_HDR_IF_NONE_MATCH),
        .range = conn_hdr_dup(c, GH_HDR_RANGE),
        .if_range = conn_hdr_dup(c, GH_HDR_IF_RANGE),
    };
    struct gh_static_resp rs;
    int rc;

    conn_answer_locally(c);
    rc = gh_static_open(&rq, &rs);
    if (rc != GH_OK)
        return conn_error(c, 500, GH_LOG_ERROR, errno,
                          "cannot open static file");
    if (rs.status >= 400) {
        /* Not the client's framing at fault: the connection may stay. */
        conn_log(c, rs.status == 404 || rs.status == 403 ? GH_LOG_INFO
                 : GH_LOG_ERROR, 0, "%s", rs.status == 404 ? "file not found"
                 : rs.status == 403 ? "access forbidden"
                 : rs.status == 405 ? "method not allowed for a file"
                 : rs.status == 416 ? "range not satisfiable"
                 : "file request failed");
        if (rs.fd != -1)
            (void) close(rs.fd);
        return conn_respond(c, rs.status, rs.headers);
    }
    if (conn_head_start(c, rs.status, gh_http_reason(rs.status)) != GH_OK
        || buf_add(c->cout, rs.headers, rs.headers_len) != GH_OK
        || (rs.status != 304
            && buf_printf(c->cout, "Content-Length: %jd\r\n",
                          (intmax_t) rs.content_length) != GH_OK)
        || conn_head_end(c) != GH_OK) {
        if (rs.fd != -1)
            (void) close(rs.fd);
        return conn_error(c, 500, GH_LOG_ERROR, 0,
                          "static response header too large");
    }
    c->file_fd = rs.fd;
    c->file_off = rs.offset;
    c->file_left = rs.length;
    if (rs.length == 0 && c->file_fd != -1) {
        (void) close(c->file_fd);
        c->file_fd = -1;
    }
    c->state = GH_CONN_SEND_LOCAL;
    return GH_OK;
}

/* ---- CONNECT ------------------------------------------------------------ */

/*
 * The upstream attempt failed before any response byte.  What may be tried
 * again, and where:
 * - nothing of this attempt reached the backend (connect failed, or not a
 *   byte was sent): another server, once, whatever the method;
 * - bytes were sent: only an idempotent request whose every byte is still
 *   in `out` (replay_ok), on a fresh connection (a pooled one that turned
 *   out stale, RFC 9112 9.3.1) or another server; never a POST, which the
 *   backend may have acted on, and never a part of a request (sending the
 *   tail of a body as if it were a request is request smuggling);
 * otherwise 502 (or 504 for a timeout).
 */
static int
conn_up_fail(struct gh_conn *c, int err, const char *why, int stale)
{
    const struct gh_upstream *u = c->route->upstream;
    int timeout = err == ETIMEDOUT, more;

    conn_log(c, stale ? GH_LOG_INFO : GH_LOG_ERROR, err, "%s", why);
    if (!stale && c->up_idx >= 0) {
        conn_up_blame(c);
        if (c->tried.n < GH_UP_MAX_TRIES)
            c->tried.idx[c->tried.n++] = (uint32_t) c->up_idx;
    }
    conn_up_release(c, 0);
    /* A stale pooled connection is no failure of the server's: it gets a
     * few more tries, on fresh connections; a failure gets `retries`
     * other servers. */
    more = stale ? c->tries < u->retries + 3
                 : c->tried.n <= u->retries && u->nservers > 1;
    c->up_timeout = timeout;
    if ((!c->sent_any && !c->out_dropped)
        || (c->replay_ok && !c->out_dropped && conn_idempotent(c))) {
        if (more) {
            c->force_new = stale;
            c->out->start = 0;
            c->state = GH_CONN_CONNECT;
            return GH_OK;
        }
    }
    c->keepalive = 0;
    return conn_respond(c, timeout ? 504 : 502, NULL);
}

/*
 * The key of balance = "hash" for this request: the client address, the
 * target, a header's or a cookie's value.  Without it (no such header),
 * the request is balanced round-robin.
 */
static void
conn_hash_key(struct gh_conn *c)
{
    const struct gh_upstream *u = c->route->upstream;
    const struct gh_http_msg *rq = &c->req;
    size_t nl;

    c->have_hash = 0;
    if (u == NULL || u->balance != GH_BALANCE_HASH)
        return;
    switch (u->hash_key) {
    case GH_HASH_IP:
        c->hash = gh_upstream_hash(c->peer_ip, strlen(c->peer_ip));
        c->have_hash = 1;
        return;
    case GH_HASH_URI:
        c->hash = gh_upstream_hash(rq->url.p, rq->url.len);
        c->have_hash = 1;
        return;
    default:
        break;
    }
    nl = strlen(u->hash_name);
    for (uint32_t i = 0; i < rq->nhdrs; i++) {
        const struct gh_hdr *h = &rq->hdrs[i];
        const char *p, *end;

        if (u->hash_key == GH_HASH_HEADER) {
            if (h->name.len == nl
                && strncasecmp(h->name.p, u->hash_name, nl) == 0) {
                c->hash = gh_upstream_hash(h->value.p, h->value.len);
                c->have_hash = 1;
                return;
            }
            continue;
        }
        if (h->name.len != 6 || strncasecmp(h->name.p, "cookie", 6) != 0)
            continue;
        /* "a=1; NAME=value; b=2" (RFC 6265 4.2.1) */
        for (p = h->value.p, end = p + h->value.len; p < end;) {
            const char *sc = memchr(p, ';', (size_t) (end - p));
            const char *e = sc ? sc : end;

            while (p < e && (*p == ' ' || *p == '\t'))
                p++;
            if ((size_t) (e - p) > nl && memcmp(p, u->hash_name, nl) == 0
                && p[nl] == '=') {
                c->hash = gh_upstream_hash(p + nl + 1,
                                           (size_t) (e - p) - nl - 1);
                c->have_hash = 1;
                return;
            }
            if (sc == NULL)
                break;
            p = sc + 1;
        }
    }
}

#define CONN_QUEUE_POLL_MS 5

/* Did the client close or reset (read side readable with nothing but the
 * end)?  Bytes waiting (a pipelined request) mean it is still there. */
static int
conn_client_gone(struct gh_conn *c)
{
    char b;
    ssize_t n = recv(c->ev.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
        c->crd = 0;
        return 0;
    }
    return n <= 0;
}

/*
 * Every usable server is at max_conns: wait in the upstream's queue (its
 * size counted for the whole daemon) and look again every few ms, until
 * queue_timeout.  GH_AGAIN while waiting, else the 503 is under way.
 */
static int
conn_queue(struct gh_conn *c, struct gh_upstream_rt *up)
{
    const struct gh_upstream *u = up->conf;
    gh_msec now = c->w->loop.now;

    if (c->crd && conn_client_gone(c)) {
        /* Nobody to answer: do not hold a queue place, nor later a
         * server slot, for it. */
        conn_unqueue(c);
        conn_log(c, GH_LOG_INFO, 0, "client closed connection while "
                 "waiting for a free upstream server");
        c->status = 499;
        c->keepalive = 0;
        return GH_ERR;
    }
    if (!c->queued) {
        int64_t q = gh_upstream_queue_enter(up);

        c->queued = 1;
        if (q > (int64_t) u->queue) {
            conn_unqueue(c);
            c->keepalive = 0;
            conn_log(c, GH_LOG_ERROR, 0, "upstream queue is full (%u)",
                     u->queue);
            return conn_respond(c, 503, "Retry-After: 1\r\n");
        }
        c->queue_until = now + u->queue_timeout;
    } else if (now >= c->queue_until) {
        conn_unqueue(c);
        c->keepalive = 0;
        conn_log(c, GH_LOG_ERROR, 0, "no upstream server was free within "
                 "queue_timeout");
        return conn_respond(c, 503, "Retry-After: 1\r\n");
    }
    conn_wait(c, GH_WAIT_QUEUE, GH_MIN(CONN_QUEUE_POLL_MS,
                                       c->queue_until - now));
    return GH_AGAIN;
}

static int
conn_connect(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    struct gh_upstream_rt *up = &w->ups[c->route->upstream->index];
    struct gh_upconn *uc = c->uc;
    int rc, err;
    socklen_t len = sizeof(err);

    if (uc == NULL) {
        uint32_t server, retry;
        char extra[48];

        rc = gh_upstream_pick(up, w->loop.now, c->hash, c->have_hash,
                              &c->tried, &server, &retry);
        if (rc == GH_AGAIN)
            return conn_queue(c, up);
        conn_unqueue(c);
        if (rc != GH_OK && c->tried.n > 0) {
            /* A retry found no other server: the failure stands. */
            c->keepalive = 0;
            return conn_respond(c, c->up_timeout ? 504 : 502, NULL);
        }
        if (rc != GH_OK) {
            c->keepalive = 0;
            conn_log(c, GH_LOG_ERROR, 0, "no live upstreams");
            snprintf(extra, sizeof(extra), "Retry-After: %u\r\n", retry);
            return conn_respond(c, 503, extra);
        }
        c->up_idx = server;
        c->slot = 1;
        c->tries++;
        c->sent_any = 0;
        c->t_up = w->loop.now;
        c->up_server = &up->conf->servers[server];
        if (!c->force_new) {
            uc = gh_upstream_pool_take(up, server);
            if (uc != NULL) {
                c->uc = uc;
                uc->owner = c;
                uc->ev.handler = conn_up_event;
                c->reused = 1;
                c->urd = 0;
                c->uwr = 1;
                c->state = GH_CONN_SEND_REQ;
                return GH_OK;
            }
        }
        c->reused = 0;
        uc = gh_upstream_connect(up, server, &rc);
        if (uc == NULL) {
            err = errno;
            if (err == EMFILE || err == ENFILE || err == ENOMEM) {
                conn_log(c, GH_LOG_CRIT, err, "socket() failed");
                c->keepalive = 0;
                return conn_respond(c, 502, NULL);
            }
            /* Not yet ours: name the server in the message ourselves. */
            {
                char why[160];

                snprintf(why, sizeof(why), "connect() to %s/%s failed",
                         up->conf->name, up->conf->servers[server].addr.text);
                return conn_up_fail(c, err, why, 0);
            }
        }
        c->uc = uc;
        uc->owner = c;
        uc->ev.handler = conn_up_event;
        if (gh_ev_add(&w->loop, &uc->ev, EPOLLIN | EPOLLOUT | EPOLLRDHUP)
            != GH_OK) {
            conn_log(c, GH_LOG_CRIT, errno, "epoll_ctl() failed");
            c->keepalive = 0;
            return conn_respond(c, 502, NULL);
        }
        c->urd = 0;
        c->uwr = rc == GH_OK;
        conn_wait(c, GH_WAIT_UP_CONNECT, w->conf->timeouts.upstream_connect);
        if (rc == GH_OK)
            return conn_up_tls(c);
        return GH_AGAIN;
    }
    if (uc->ssl != NULL)
        return conn_up_tls(c);      /* the handshake goes on */
    if (!c->uwr)
        return GH_AGAIN;
    if (getsockopt(uc->ev.fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
        err = errno;
    if (err != 0)
        return conn_up_fail(c, err, "connect() failed", 0);
    return conn_up_tls(c);
}

/*
 * The TCP connection to the upstream server is up: with the upstream's
 * tls, the handshake (within timeouts.upstream_connect of the connect),
 * resuming this worker's last session with that server; then SEND_REQ.
 */
static int
conn_up_tls(struct gh_conn *c)
{
    const struct gh_upstream *u = c->route->upstream;
    struct gh_upstream_rt *up = &c->w->ups[u->index];
    struct gh_upconn *uc = c->uc;
    char why[256], reason[160];
    int r;

    if (!u->tls.on) {
        gh_timer_del(&c->w->loop, &c->timer);
        c->wait = GH_WAIT_NONE;
        c->state = GH_CONN_SEND_REQ;
        return GH_OK;
    }
    if (uc->ssl == NULL) {
        uc->ssl = gh_tls_up_new(&u->tls, u->servers[uc->server].addr.text,
                                uc->ev.fd, &up->sess[uc->server]);
        if (uc->ssl == NULL)
            return conn_up_fail(c, ENOMEM, "TLS to upstream: no memory", 0);
    }
    ERR_clear_error();
    r = SSL_do_handshake(uc->ssl);
    if (r == 1) {
        if (gh_log_enabled(GH_LOG_DEBUG))
            conn_log(c, GH_LOG_DEBUG, 0, "TLS to upstream: %s, %s%s",
                     gh_tls_protocol(uc->ssl), gh_tls_cipher(uc->ssl),
                     SSL_session_reused(uc->ssl) ? ", resumed" : "");
        gh_timer_del(&c->w->loop, &c->timer);
        c->wait = GH_WAIT_NONE;
        c->state = GH_CONN_SEND_REQ;
        return GH_OK;
    }
    switch (SSL_get_error(uc->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        c->urd = 0;
        return GH_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->uwr = 0;
        return GH_AGAIN;
    default:
        r = SSL_get_verify_result(uc->ssl) != X509_V_OK
            ? snprintf(why, sizeof(why), "TLS handshake with upstream "
                       "failed: certificate: %s",
                       X509_verify_cert_error_string(
                           SSL_get_verify_result(uc->ssl)))
            : snprintf(why, sizeof(why), "TLS handshake with upstream "
                       "failed: %s", gh_tls_error(uc->ssl, r, reason,
                                                  sizeof(reason)));
        (void) r;
        return conn_up_fail(c, EPROTO, why, 0);
    }
}

/* ---- SEND_REQ: request head and body to the upstream --------------------- */

/* Body sink for the request: decoded bytes into `out`, re-chunked when the
 * client sent chunked (so chunk extensions and sizes are ours). */
static int
conn_req_body(void *arg, const char *p, size_t n)
{
    struct gh_conn *c = arg;
    uint64_t max = c->body_max;

    c->req_body += n;
    if (max && c->req_body > max) {
        c->status = 413;
        return GH_ERR;
    }
    if (c->req_chunked_out && buf_printf(c->out, "%zx\r\n", n) != GH_OK)
        return GH_ERR;
    if (buf_add(c->out, p, n) != GH_OK)
        return GH_ERR;
    if (c->req_chunked_out && BUF_ADDS(c->out, "\r\n") != GH_OK)
        return GH_ERR;
    return GH_OK;
}

static int
conn_send_req(struct gh_conn *c)
{
    const struct gh_conf *conf = c->w->conf;
    struct gh_buf *out = c->out, *in = c->in;
    const char *why;

    c->req.on_body = conn_req_body;
    c->req.arg = c;
    for (;;) {
        /* Decode what the client sent into `out`, leaving room for the
         * chunk framing we add (at most 24 bytes a call). */
        if (!c->req_done && gh_buf_len(in) > 0 && gh_buf_room(out) > 64) {
            size_t n = GH_MIN(gh_buf_len(in), gh_buf_room(out) - 32);
            ssize_t used;

            if (c->req_chunked_out)
                n = GH_MIN(n, gh_buf_room(out) / 2);
            used = gh_http_feed_body(&c->req, in->data + in->start, n, &why);
            if (used < 0) {
                if (c->status == 413 || c->req.too_large)
                    return conn_error(c, 413, GH_LOG_INFO, 0,
                                      "client sent too large body");
                c->status = 0;
                return conn_error(c, 400, GH_LOG_INFO, 0, why);
            }
            in->start += (uint32_t) used;
            if (c->req.complete) {
                c->req_done = 1;
                if (c->req_chunked_out && BUF_ADDS(out, "0\r\n\r\n") != GH_OK)
                    return conn_error(c, 500, GH_LOG_ALERT, 0,
                                      "no room for the last chunk");
                /* Replayable only if no byte was ever dropped from it. */
                if (!c->out_dropped)
                    c->replay_ok = 1;
            }
        }
        if (gh_buf_len(out) > 0) {
            ssize_t n;

            if (!c->uwr) {
                /* The backend is slow to take the body, not the client:
                 * this wait is not the client's. */
                if (c->rate_what == CONN_RATE_BODY)
                    c->rate_what = 0;
                conn_wait(c, GH_WAIT_UP_WRITE, conf->timeouts.upstream_send);
                return GH_AGAIN;
            }
            n = conn_io_write(c, 1, out->data + out->start, gh_buf_len(out));
            if (n > 0) {
                c->sent_any = 1;
                if ((size_t) n < gh_buf_len(out) && c->uc->ssl == NULL)
                    c->uwr = 0;
                out->start += (uint32_t) n;
                continue;
            }
            if (n == -1 && errno == EAGAIN) {
                c->uwr = 0;
                continue;
            }
            if (n == -1 && errno == EINTR)
                continue;
            return conn_up_fail(c, errno, "send() to upstream failed",
                                c->reused);
        }
        if (c->req_done) {
            /* Keep `out` intact for a replay until the response starts. */
            c->state = GH_CONN_READ_RESP;
            return GH_OK;
        }
        /* Need more body from the client. */
        if (!c->replay_ok && out->end > 0) {
            out->start = out->end = 0;
            c->out_dropped = 1;     /* the head is gone: no replay now */
        }
        if (gh_buf_len(in) == 0) {
            ssize_t n;

            if (!c->crd) {
                conn_wait(c, GH_WAIT_CLIENT_READ, conf->timeouts.client_body);
                return GH_AGAIN;
            }
            gh_buf_compact(in);
            n = conn_recv(c, 0, in);
            if (n > 0 && conn_rate(c, CONN_RATE_BODY, (size_t) n) != GH_OK) {
                c->status = 408;
                return conn_respond(c, 408, NULL) == GH_OK ? GH_OK : GH_ERR;
            }
            if (n > 0 || n == GH_AGAIN)
                continue;
            conn_log(c, GH_LOG_INFO, n == 0 ? 0 : errno, n == 0
                     ? "client closed connection while sending body"
                     : "recv() failed");
            c->status = 499;
            c->keepalive = 0;
            conn_up_release(c, 0);
            return GH_ERR;
        }
    }
}

/* ---- READ_RESP: the response head ---------------------------------------- */

static int conn_build_client_head(struct gh_conn *c);

static int
conn_read_resp(struct gh_conn *c)
{
    const struct gh_conf *conf = c->w->conf;
    struct gh_buf *b;

    if (conn_ensure(c, &c->uin, GH_BUF_SIZE) != GH_OK)
        return GH_ERR;
    b = c->uin;
    for (;;) {
        size_t len = gh_buf_len(b), head_len, skip = 0;
        const char *why;
        int status, rc;
        ssize_t n;

        if (len > 0) {
            size_t pos = 0;

            rc = gh_http_scan_head(b->data + b->start, len, &pos, &skip,
                                   b->size, &head_len, &status, &why);
            if (rc == GH_ERR)
                return conn_up_error(c, 502, 0, "upstream sent "
                                  "invalid header");
            if (rc == GH_OK) {
                rc = gh_http_parse_head(&c->resp, HTTP_RESPONSE,
                                        conn_up_head(c),
                                        b->data + b->start, head_len,
                                        (uint32_t) GH_MAX(
                                            conf->limits.headers,
                                            CONN_RESP_HEADERS),
                                        &c->pool, &status, &why);
                if (rc != GH_OK) {
                    conn_log(c, GH_LOG_ERROR, 0, "upstream sent invalid "
                             "response: %s", why);
                    conn_up_blame(c);
                    c->keepalive = 0;
                    return conn_respond(c, 502, NULL);
                }
                if (c->resp.parser.status_code / 100 == 1
                    && c->resp.parser.status_code != 101) {
                    /* RFC 9110 15.2: interim responses go on to HTTP/1.1
                     * clients (103 Early Hints), never to 1.0 ones, and
                     * not a 100 when we already said Continue ourselves. */
                    if (c->req.parser.http_minor >= 1
                        && !(c->sent_continue
                             && c->resp.parser.status_code == 100)
                        && conn_add_interim(c) != GH_OK)
                        return conn_up_error(c, 502, 0,
                                          "upstream sent too big header");
                    b->start += (uint32_t) head_len;
                    continue;
                }
                b->start += (uint32_t) head_len;
                c->ut_ms = c->w->loop.now - c->t_up;
                gh_upstream_latency(&c->w->ups[c->route->upstream->index],
                                    (uint32_t) c->up_idx, c->ut_ms);
                if (c->resp.parser.status_code == 101) {
                    if (!c->upgrade || !c->resp.upgrade)
                        return conn_up_error(c, 502, 0,
                                          "upstream sent unexpected 101");
                }
                if (c->cache != NULL) {
                    rc = conn_cache_resp(c);
                    if (rc != GH_DECLINED)
                        return rc;
                }
                /* An Upgrade the server refused leaves plain HTTP/1.1 on
                 * the connection (RFC 9110 7.8): it stays as it was. */
                return conn_build_client_head(c);
            }
            if (len >= b->size)
                return conn_up_error(c, 502, 0,
                                  "upstream sent too big header");
        }
        if (!c->urd) {
            if (c->cout != NULL && gh_buf_len(c->cout) > 0
                && conn_flush(c) == GH_ERR)
                return GH_ERR;      /* interim responses, meanwhile */
            conn_wait(c, GH_WAIT_UP_READ, conf->timeouts.upstream_read);
            return GH_AGAIN;
        }
        gh_buf_compact(b);
        n = conn_recv(c, 1, b);
        if (n > 0 || n == GH_AGAIN)
            continue;
        if (len == 0 && c->reused) {
            /* A pooled connection the server had closed (RFC 9112 9.3.1):
             * nothing of the request was processed. */
            return conn_up_fail(c, n == 0 ? 0 : errno, "upstream closed "
                                "a kept-alive connection", 1);
        }
        if (len == 0 && !c->resp_started
            && (c->cout == NULL || gh_buf_len(c->cout) == 0)) {
            /* Closed or reset before any response byte: another server
             * may serve it, if the request can be sent again (see
             * conn_up_fail). */
            return conn_up_fail(c, n == 0 ? 0 : errno, n == 0
                                ? "upstream prematurely closed connection"
                                : "recv() from upstream failed", 0);
        }
        return conn_up_error(c, 502, n == 0 ? 0 : errno, n == 0
                          ? "upstream prematurely closed connection"
                          : "recv() from upstream failed");
    }
}

/* Body sink for the response: into `cout`, re-chunked if needed. */
static int
conn_resp_body(void *arg, const char *p, size_t n)
{
    struct gh_conn *c = arg;

    if (c->cache != NULL && c->cache->has_fill
        && c->w->loop.now - c->cache->renewed > CONN_CACHE_RENEW_MS) {
        c->cache->renewed = c->w->loop.now;
        (void) gh_cache_renew(&c->cache->fill, c->w->loop.now);
    }
    if (c->cache != NULL && c->cache->has_fill
        && gh_cache_append(&c->cache->fill, p, n) != GH_OK) {
        /* Over max_object or no room: aborted, the client gets it all. */
        gh_cache_release(&c->cache->fill);
        c->cache->has_fill = 0;
        conn_cache_status(c->cache, c->cache->mode == CONN_CC_REVAL
                          ? "EXPIRED" : "MISS", "fwd=%s; detail=too-large",
                          c->cache->mode == CONN_CC_REVAL ? "stale"
                          : "uri-miss");
    }
    if (c->resp_mode == GH_BODY_NONE
        || (c->cache != NULL && c->cache->feed))
        return GH_OK;       /* a HEAD client of a fill; or fed from it */
    c->body_sent += n;
    if (c->resp_mode == GH_BODY_CHUNKED
        && buf_printf(c->cout, "%zx\r\n", n) != GH_OK)
        return GH_ERR;
    if (buf_add(c->cout, p, n) != GH_OK)
        return GH_ERR;
    if (c->resp_mode == GH_BODY_CHUNKED && BUF_ADDS(c->cout, "\r\n") != GH_OK)
        return GH_ERR;
    return GH_OK;
}

/* Forward an interim (1xx) response head as it came, minus hop-by-hop
 * fields; it is flushed with or before the final response. */
static int
conn_add_interim(struct gh_conn *c)
{
    struct gh_http_msg *rs = &c->resp;
    int rc = GH_OK;

    if (conn_ensure(c, &c->cout, GH_BUF_SIZE) != GH_OK)
        return GH_ERR;
    rc |= buf_printf(c->cout, "HTTP/1.1 %d %.*s\r\n",
                     rs->parser.status_code, (int) rs->reason.len,
                     rs->reason.p ? rs->reason.p : "");
    for (uint32_t i = 0; i < rs->nhdrs; i++)
        if (!rs->hdrs[i].hop && rs->hdrs[i].kind != GH_HDR_CONTENT_LENGTH)
            rc |= buf_add_hdr(c->cout, &rs->hdrs[i]);
    rc |= BUF_ADDS(c->cout, "\r\n");
    return rc == GH_OK ? GH_OK : GH_ERR;
}

static int
conn_build_client_head(struct gh_conn *c)
{
    struct gh_http_msg *rs = &c->resp;
    int status = rs->parser.status_code, rc = GH_OK;
    int bodyless = c->req.parser.method == HTTP_HEAD || status == 204
                   || status == 304 || status == 101;
    struct gh_buf *b;

    if (conn_ensure(c, &c->cout, GH_BUF_SIZE) != GH_OK)
        return GH_ERR;
    b = c->cout;        /* may hold interim responses already */
    c->status = status;
    if (status == 101) {
        c->keepalive = 0;
    } else if (!bodyless && !rs->chunked && rs->content_length < 0) {
        /* Delimited by close: re-chunk for 1.1, else close after. */
        if (c->req.parser.http_minor == 0)
            c->keepalive = 0;
    } else if (!bodyless && rs->chunked && c->req.parser.http_minor == 0) {
        c->keepalive = 0;
    }
    /* A HEAD that fills the cache went as GET: the body comes, for the
     * cache only. */
    c->resp_eof = !(bodyless && (conn_up_head(c) || status == 204
                                 || status == 304 || status == 101))
                  && !rs->chunked && rs->content_length < 0;
    c->resp_mode = bodyless ? GH_BODY_NONE
                   : (rs->chunked || rs->content_length < 0)
                     && c->req.parser.http_minor >= 1
                   ? GH_BODY_CHUNKED : GH_BODY_RAW;
    rc |= buf_printf(b, "HTTP/1.1 %d %.*s\r\n", status,
                     rs->reason.len ? (int) rs->reason.len
                     : (int) strlen(gh_http_reason(status)),
                     rs->reason.len ? rs->reason.p : gh_http_reason(status));
    for (uint32_t i = 0; i < rs->nhdrs; i++) {
        const struct gh_hdr *h = &rs->hdrs[i];

        if (h->kind == GH_HDR_CONTENT_LENGTH) {
            /* For HEAD and 304 it describes the representation; a 204 or
             * 101 must not carry one (RFC 9110 8.6). */
            if (status != 204 && status != 101
                && (!bodyless || h == gh_http_find(rs, h->kind)))
                rc |= buf_add_hdr(b, h);
            continue;
        }
        if (h->kind == GH_HDR_UPGRADE && status == 101) {
            rc |= buf_add_hdr(b, h);
            continue;
        }
        if (!h->hop && !conn_hidden(c, h->name)
            && !conn_hdr_skip(c, 1, h->name))
            rc |= buf_add_hdr(b, h);
    }
    if (conn_hidden(c, (struct gh_str) GH_STR("server"))
        && !conn_hdr_skip(c, 1, (struct gh_str) GH_STR("server")))
        rc |= buf_printf(b, "Server: %s\r\n", conn_server_token(c));
    rc |= BUF_ADDS(b, "Via: 1.1 gatehouse\r\n");
    if (c->cache != NULL && c->cache->status[0] != '\0')
        rc |= buf_printf(b, "Cache-Status: gatehouse; %s\r\n",
                         c->cache->status);
    conn_cache_count(c);
    if (c->resp_mode == GH_BODY_CHUNKED)
        rc |= BUF_ADDS(b, "Transfer-Encoding: chunked\r\n");
    if (status == 101)
        rc |= BUF_ADDS(b, "Connection: upgrade\r\n\r\n");
    else
        rc |= conn_head_end(c);
    if (rc != GH_OK)
        return conn_up_error(c, 502, 0,
                          "upstream sent too big header");
    c->resp.on_body = conn_resp_body;
    c->resp.arg = c;
    c->replay_ok = 0;
    gh_buf_put(&c->out);
    if (status == 101) {
        c->state = GH_CONN_TUNNEL;
        return GH_OK;
    }
    c->resp_done = rs->complete;
    c->state = GH_CONN_RELAY_RESP;
    if (c->cache != NULL && c->cache->has_fill && !c->cache->detached
        && c->resp_mode == GH_BODY_RAW && !rs->chunked
        && rs->content_length >= 0
        && (uint64_t) rs->content_length <= c->cache->zone->max_object) {
        /* The fill reads the origin at the origin's pace, not its
         * client's: the client is fed from the entry like the requests
         * collapsed onto it (a slow first client must not hold them). */
        c->cache->feed = 1;
        c->cache->off = 0;
        c->cache->known = 1;
        c->cache->end = (uint64_t) rs->content_length;
        c->cache->chunked = 0;
    }
    return GH_OK;
}

/* ---- RELAY_RESP and SEND_LOCAL: bytes to the client ---------------------- */

/*
 * limits.min_body_rate / min_response_rate: N more bytes moved for WHAT
 * (CONN_RATE_BODY read, CONN_RATE_RESP written).  Over each rate_window
 * the client must have moved rate x window bytes; GH_ERR (logged) when it
 * did not.  Only time spent waiting on the client counts: a body window
 * closes when the backend is the one slow to take the body, a response
 * window opens when gatehouse must wait for the client to make room
 * (conn_wait_write()) and closes when the client has taken all there was.
 * A body is judged when bytes arrive (a client that sends none at all is
 * left to timeouts.client_body); a reader at the end of each window it
 * kept gatehouse waiting, by what it took out of the socket (SIOCOUTQ).
 */
static int
conn_rate(struct gh_conn *c, unsigned what, size_t n)
{
    const struct gh_limits *lim = &c->w->conf->limits;
    uint64_t min = what == CONN_RATE_BODY ? lim->min_body_rate
                                          : lim->min_response_rate;
    gh_msec now = c->w->loop.now, span;
    uint64_t moved;
    int q = 0;

    if (min == 0)
        return GH_OK;
    if (c->rate_what != what) {
        c->rate_what = (uint8_t) what;
        c->rate_t = now;
        c->rate_n = 0;
        c->rate_q0 = 0;
        /* What the kernel still held for the client when the window
         * began (the N bytes just written were not there yet). */
        if (what == CONN_RATE_RESP && ioctl(c->ev.fd, SIOCOUTQ, &q) == 0
            && (size_t) q > n)
            c->rate_q0 = (uint32_t) q - (uint32_t) n;
    }
    c->rate_n += n;
    span = now - c->rate_t;
    if (span < lim->rate_window || (what == CONN_RATE_RESP && n > 0))
        return GH_OK;       /* a reader is judged only while it blocks us */
    moved = c->rate_n;
    if (what == CONN_RATE_RESP) {
        /* A reader is judged by what it took out of the socket, not by
         * what fitted into the kernel's buffers. */
        if (ioctl(c->ev.fd, SIOCOUTQ, &q) != 0 || q < 0)
            q = 0;
        moved = moved + c->rate_q0 > (uint64_t) q
                ? moved + c->rate_q0 - (uint64_t) q : 0;
    }
    if (moved * 1000 < min * (uint64_t) span) {
        conn_log(c, GH_LOG_INFO, 0, "client %s %" PRIu64 " bytes in %"
                 PRId64 " ms, below limits.%s", what == CONN_RATE_BODY
                 ? "sent the body at" : "read the response at", moved,
                 (int64_t) span, what == CONN_RATE_BODY ? "min_body_rate"
                 : "min_response_rate");
        c->keepalive = 0;
        if (what == CONN_RATE_RESP) {
            /* Reset, not FIN: the kernel would otherwise keep feeding the
             * megabytes in the send buffer to the slow reader. */
            struct linger lg = { 1, 0 };

            (void) setsockopt(c->ev.fd, SOL_SOCKET, SO_LINGER, &lg,
                              sizeof(lg));
        }
        return GH_ERR;
    }
    c->rate_t = now;
    c->rate_n = 0;
    c->rate_q0 = (uint32_t) q;
    return GH_OK;
}

/*
 * Wait for the client to take more: timeouts.client_body, or with
 * min_response_rate until the end of the rate window, when the reader is
 * judged by what it took (conn_timeout()).
 */
static void
conn_wait_write(struct gh_conn *c)
{
    const struct gh_conf *conf = c->w->conf;
    gh_msec ms = conf->timeouts.client_body;

    if (conf->limits.min_response_rate != 0) {
        if (c->rate_what != CONN_RATE_RESP)
            (void) conn_rate(c, CONN_RATE_RESP, 0);     /* start a window */
        ms = GH_MIN(ms, GH_MAX(1, c->rate_t + conf->limits.rate_window
                                  - c->w->loop.now));
    }
    conn_wait(c, GH_WAIT_CLIENT_WRITE, ms);
}

/* Write `cout` to the client.  GH_OK when empty, GH_AGAIN, or GH_ERR. */
static int
conn_flush(struct gh_conn *c)
{
    struct gh_buf *b = c->cout;

    if (c->cache != NULL && c->cache->detached) {
        /* A background refresh: its client has its response already. */
        if (b != NULL)
            b->start = b->end = 0;
        return GH_OK;
    }
    while (b != NULL && gh_buf_len(b) > 0) {
        ssize_t n;

        if (!c->cwr) {
            conn_wait_write(c);
            return GH_AGAIN;
        }
        n = conn_io_write(c, 0, b->data + b->start, gh_buf_len(b));
        if (n > 0) {
            c->resp_started = 1;
            /* A short send filled the socket; with TLS it may only have
             * ended a record: write on until the library says EAGAIN. */
            if ((size_t) n < gh_buf_len(b) && c->ssl == NULL)
                c->cwr = 0;
            b->start += (uint32_t) n;
            if (conn_rate(c, CONN_RATE_RESP, (size_t) n) != GH_OK)
                return GH_ERR;
            continue;
        }
        if (n == -1 && errno == EAGAIN) {
            if (c->ssl != NULL && c->ssl_want == CONN_SSL_WANT_READ) {
                /* TLS must read before it can write on: any event of
                 * the client's socket runs this again. */
                c->crd = 0;
                conn_wait_write(c);
                return GH_AGAIN;
            }
            c->cwr = 0;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        conn_log(c, GH_LOG_INFO, errno, "send() to client failed");
        c->keepalive = 0;
        return GH_ERR;
    }
    if (b != NULL)
        b->start = b->end = 0;
    if (c->rate_what == CONN_RATE_RESP)
        c->rate_what = 0;   /* caught up: the next wait opens a window */
    return GH_OK;
}

/*
 * The last read filled the buffer, so the kernel may hold more: bytes
 * the server sent beyond its response, or its FIN.  Their event is
 * already spent, so the pool would never notice; look now.  (After a
 * short read the socket was drained and any later byte raises a new edge
 * that the pool's idle handler sees: no system call on that path.)
 */
static int
conn_up_quiet(struct gh_conn *c)
{
    char ch;

    /* With TLS, bytes may also wait decrypted inside the library. */
    if (c->uc->ssl != NULL && SSL_pending(c->uc->ssl) > 0)
        return 0;
    return recv(c->uc->ev.fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT) == -1
           && errno == EAGAIN;
}

static void
conn_resp_finished(struct gh_conn *c)
{
    struct gh_http_msg *rs = &c->resp;

    c->resp_done = 1;
    c->ut_ms = c->w->loop.now - c->t_up;    /* to the response's last byte */
    if (c->cache != NULL && c->cache->has_fill) {
        struct conn_cache *cc = c->cache;

        (void) gh_cache_complete(&cc->fill);
        if (cc->feed) {
            /* Its client reads on from the entry (SEND_CACHE). */
            conn_cache_drop_ref(cc);
            cc->ref = cc->fill;
            cc->has_ref = 1;
        } else {
            gh_cache_release(&cc->fill);
        }
        cc->has_fill = 0;
    }
    if (c->resp_mode == GH_BODY_CHUNKED)
        (void) BUF_ADDS(c->cout, "0\r\n\r\n");  /* room reserved below */
    /* Reuse the upstream connection only if the message ended by its own
     * framing, the server keeps it, and it sent nothing beyond it. */
    conn_up_release(c, !rs->conn_close && http_should_keep_alive(&rs->parser)
                       && (rs->chunked || rs->content_length >= 0
                           || c->resp_mode == GH_BODY_NONE)
                       && c->uin != NULL && gh_buf_len(c->uin) == 0
                       && !c->u_eof && !c->u_hup
                       && (!c->urd || conn_up_quiet(c)));
    gh_buf_put(&c->uin);
}

/*
 * RELAY_RESP of a fill whose client is fed from the entry: the origin's
 * body goes into the cache as fast as it comes, the client takes it from
 * there at its own pace; when the origin is done, SEND_CACHE sends the
 * rest.
 */
static int
conn_relay_feed(struct gh_conn *c)
{
    const struct gh_conf *conf = c->w->conf;
    struct conn_cache *cc = c->cache;
    const char *why;

    for (;;) {
        int progress = 0, rc;

        if (c->resp_done && c->uc != NULL)
            conn_resp_finished(c);
        if (c->resp_done) {
            if (!cc->has_ref)
                return GH_ERR;
            c->state = cc->detached ? GH_CONN_FINISH : GH_CONN_SEND_CACHE;
            return GH_OK;
        }
        if (!cc->has_fill) {
            /* The entry gave up (no room): what the client lacks is lost. */
            conn_log(c, GH_LOG_ERROR, 0, "the cache fill of this response "
                     "failed: the client gets a cut body");
            conn_up_release(c, 0);
            c->keepalive = 0;
            return GH_ERR;
        }
        if (gh_buf_len(c->uin) > 0) {
            ssize_t used = gh_http_feed_body(&c->resp,
                                             c->uin->data + c->uin->start,
                                             gh_buf_len(c->uin), &why);

            if (used < 0) {
                conn_log(c, GH_LOG_ERROR, 0, "upstream sent invalid body: %s",
                         why);
                conn_up_blame(c);
                c->keepalive = 0;
                conn_up_release(c, 0);
                return GH_ERR;
            }
            c->uin->start += (uint32_t) used;
            if (c->resp.complete) {
                conn_resp_finished(c);
                continue;
            }
            progress = 1;
        } else if (c->urd) {
            ssize_t n;

            c->uin->start = c->uin->end = 0;
            n = conn_recv(c, 1, c->uin);
            if (n > 0)
                progress = 1;
            else if (n != GH_AGAIN) {
                conn_log(c, GH_LOG_ERROR, n == 0 ? 0 : errno, n == 0
                         ? "upstream prematurely closed connection"
                         : "recv() from upstream failed");
                conn_up_blame(c);
                c->keepalive = 0;
                conn_up_release(c, 0);
                return GH_ERR;
            }
        }
        rc = cc->detached ? GH_DECLINED : conn_cache_pump(c, &cc->fill);
        if (rc == GH_ERR && cc->has_fill && !cc->detached) {
            /* The client went away: the fill goes on without it. */
            conn_log(c, GH_LOG_INFO, 0, "client gone: the cache fill of "
                     "this response goes on without it");
            cc->detached = 1;
            cc->keep = 0;
            c->keepalive = 0;
            continue;
        }
        if (rc == GH_ERR)
            return GH_ERR;
        if (!progress && !c->urd && gh_buf_len(c->uin) == 0) {
            /* The origin's pace decides; the client's writes come by
             * their own events. */
            conn_wait(c, GH_WAIT_UP_READ, conf->timeouts.upstream_read);
            return GH_AGAIN;
        }
    }
}

static int
conn_relay_resp(struct gh_conn *c)
{
    const struct gh_conf *conf = c->w->conf;
    const char *why;
    int rc;

    if (c->cache != NULL && c->cache->feed)
        return conn_relay_feed(c);
    if (c->resp_done && c->uc != NULL)
        conn_resp_finished(c);
    for (;;) {
        struct gh_buf *in = c->uin, *out = c->cout;

        if (!c->resp_done && c->uc != NULL && c->cache != NULL
            && !c->cache->has_fill
            && (c->cache->detached || (c->resp_mode == GH_BODY_NONE
                                       && c->cache->mode >= CONN_CC_FILL))) {
            /* A body for the cache only (a HEAD's fill, a client gone) that
             * the cache no longer takes: stop reading it. */
            conn_up_release(c, 0);
            c->resp_done = 1;
            continue;
        }
        if (!c->resp_done && gh_buf_len(in) > 0 && gh_buf_room(out) > 64) {
            size_t n = GH_MIN(gh_buf_len(in), gh_buf_room(out) - 40);
            ssize_t used;

            if (c->resp_mode == GH_BODY_CHUNKED)
                n = GH_MIN(n, gh_buf_room(out) / 2);
            used = gh_http_feed_body(&c->resp, in->data + in->start, n, &why);
            if (used < 0 && !c->resp_started) {
                /* Nothing went out yet (not even the head): a clean 502
                 * instead of a cut 200. */
                char msg[160];

                snprintf(msg, sizeof(msg), "upstream sent invalid body: %s",
                         why);
                return conn_up_error(c, 502, 0, msg);
            }
            if (used < 0) {
                conn_log(c, GH_LOG_ERROR, 0, "upstream sent invalid body: %s",
                         why);
                conn_up_blame(c);
                c->keepalive = 0;
                conn_up_release(c, 0);
                (void) conn_flush(c);
                return GH_ERR;
            }
            in->start += (uint32_t) used;
            if (c->resp.complete) {
                conn_resp_finished(c);
                continue;
            }
        }
        rc = conn_flush(c);
        if (rc == GH_ERR && c->cache != NULL && c->cache->has_fill
            && !c->cache->detached) {
            /* The client of a cache fill went away: the fill goes on
             * without it, for the requests collapsed onto it and the
             * next ones; the connection closes after. */
            conn_log(c, GH_LOG_INFO, 0, "client gone: the cache fill of "
                     "this response goes on without it");
            c->cache->detached = 1;
            c->cache->keep = 0;
            c->keepalive = 0;
            continue;
        }
        if (rc == GH_ERR) {
            conn_up_release(c, 0);
            return GH_ERR;
        }
        if (c->resp_done) {
            if (rc == GH_AGAIN)
                return GH_AGAIN;
            c->state = GH_CONN_FINISH;
            return GH_OK;
        }
        if (rc == GH_AGAIN && gh_buf_room(c->cout) <= 64)
            return GH_AGAIN;    /* back-pressure: the client is slow */
        if (gh_buf_len(c->uin) == 0) {
            ssize_t n;

            if (!c->urd) {
                if (rc != GH_AGAIN)
                    conn_wait(c, GH_WAIT_UP_READ,
                              conf->timeouts.upstream_read);
                return GH_AGAIN;
            }
            c->uin->start = c->uin->end = 0;
            n = conn_recv(c, 1, c->uin);
            if (n > 0 || n == GH_AGAIN)
                continue;
            if (n == 0 && c->resp_eof) {
                /* A body delimited by close ends here (RFC 9112 6.3.8). */
                c->u_eof = 1;
                (void) gh_http_feed_body(&c->resp, NULL, 0, &why);
                conn_resp_finished(c);
                continue;
            }
            conn_log(c, GH_LOG_ERROR, n == 0 ? 0 : errno, n == 0
                     ? "upstream prematurely closed connection"
                     : "recv() from upstream failed");
            /* The client must not take a cut body for a whole one: no last
             * chunk, and the connection ends. */
            conn_up_blame(c);
            c->keepalive = 0;
            conn_up_release(c, 0);
            (void) conn_flush(c);
            return GH_ERR;
        }
    }
}

static int
conn_send_local(struct gh_conn *c)
{
    int rc = conn_flush(c);

    if (rc != GH_OK)
        return rc;
    while (c->file_fd != -1 && c->file_left > 0) {
        ssize_t n;

        if (!c->cwr) {
            conn_wait_write(c);
            return GH_AGAIN;
        }
        if (c->ssl != NULL) {
            /* No sendfile() through TLS: a buffer at a time. */
            int rc2;

            if (conn_ensure(c, &c->cout, GH_BUF_SIZE) != GH_OK)
                return GH_ERR;
            n = pread(c->file_fd, c->cout->data, (size_t) GH_MIN(
                          c->file_left, (off_t) c->cout->size), c->file_off);
            if (n > 0) {
                c->cout->start = 0;
                c->cout->end = (uint32_t) n;
                c->file_off += n;
                c->file_left -= n;
                c->body_sent += (uint64_t) n;
                if ((rc2 = conn_flush(c)) != GH_OK)
                    return rc2;
                continue;
            }
        } else {
            n = sendfile(c->ev.fd, c->file_fd, &c->file_off,
                         (size_t) GH_MIN(c->file_left, 1 << 20));
        }
        if (n > 0) {
            c->resp_started = 1;
            c->file_left -= n;
            c->body_sent += (uint64_t) n;
            if (conn_rate(c, CONN_RATE_RESP, (size_t) n) != GH_OK)
                return GH_ERR;
            continue;
        }
        if (n == -1 && errno == EAGAIN) {
            c->cwr = 0;
            continue;
        }
        if (n == -1 && errno == EINTR)
            continue;
        conn_log(c, n == 0 ? GH_LOG_ERROR : GH_LOG_INFO, n == 0 ? 0 : errno,
                 n == 0 ? "file shrank while being sent"
                 : "sendfile() failed");
        c->keepalive = 0;
        return GH_ERR;
    }
    if (c->file_fd != -1) {
        (void) close(c->file_fd);
        c->file_fd = -1;
    }
    c->state = GH_CONN_FINISH;
    return GH_OK;
}

/* ---- TUNNEL: bytes both ways after 101 ----------------------------------- */

/* Move bytes from fd IN (buffer B) to fd OUT.  Returns 1 on progress. */
static int
conn_pump(struct gh_conn *c, int from_up, unsigned *rd, struct gh_buf *b,
          unsigned *wr, unsigned *eof, int *err)
{
    int progress = 0;

    for (;;) {
        if (gh_buf_len(b) > 0) {
            ssize_t n;

            if (!*wr)
                return progress;
            n = conn_io_write(c, !from_up, b->data + b->start,
                              gh_buf_len(b));
            if (n > 0) {
                b->start += (uint32_t) n;
                progress = 1;
                continue;
            }
            if (n == -1 && errno == EAGAIN) {
                *wr = 0;
                return progress;
            }
            if (n == -1 && errno == EINTR)
                continue;
            *err = errno;
            return -1;
        }
        b->start = b->end = 0;
        if (*eof) {
            return progress;
        }
        if (!*rd)
            return progress;
        {
            ssize_t n = conn_io_read(c, from_up, b->data, b->size);

            if (n > 0) {
                b->end = (uint32_t) n;
                progress = 1;
                continue;
            }
            if (n == 0) {
                /* Half-close travels through the tunnel (to a TLS client
                 * as a close_notify first). */
                *eof = 1;
                if (from_up && c->ssl != NULL)
                    (void) SSL_shutdown(c->ssl);
                (void) shutdown(from_up ? c->ev.fd : c->uc->ev.fd, SHUT_WR);
                return 1;
            }
            if (errno == EAGAIN) {
                *rd = 0;
                return progress;
            }
            if (errno == EINTR)
                continue;
            *err = errno;
            return -1;
        }
    }
}

static int
conn_tunnel(struct gh_conn *c)
{
    int err = 0, a, b;
    unsigned crd = c->crd, cwr = c->cwr, urd = c->urd, uwr = c->uwr;
    unsigned ceof = c->c_eof, ueof = c->u_eof;

    /* The 101 head first, then whatever followed it from the upstream. */
    if (conn_flush(c) == GH_ERR)
        return GH_ERR;
    if (c->cout != NULL && gh_buf_len(c->cout) > 0)
        return GH_AGAIN;
    if (c->uin == NULL || c->in == NULL) {
        conn_log(c, GH_LOG_ALERT, 0, "tunnel without buffers");
        return GH_ERR;
    }
    do {
        a = conn_pump(c, 0, &crd, c->in, &uwr, &ceof, &err);
        b = a < 0 ? 0 : conn_pump(c, 1, &urd, c->uin, &cwr, &ueof, &err);
    } while (a > 0 || b > 0);
    c->crd = crd; c->cwr = cwr; c->urd = urd; c->uwr = uwr;
    c->c_eof = ceof; c->u_eof = ueof;
    if (a < 0 || b < 0) {
        conn_log(c, GH_LOG_INFO, err, "tunnel I/O failed");
        return GH_ERR;
    }
    if (ceof && ueof && gh_buf_len(c->in) == 0 && gh_buf_len(c->uin) == 0)
        return GH_ERR;      /* both sides done: close */
    c->resp_started = 1;
    conn_wait(c, GH_WAIT_CLIENT_READ, c->w->conf->timeouts.tunnel);
    return GH_AGAIN;
}

/* ---- FINISH and LINGER --------------------------------------------------- */

/*
 * Copy S into the log line, escaping '"', '\\', control and non-ASCII bytes
 * as \xHH (as nginx does), so a client cannot forge fields or lines.
 */
static size_t
conn_log_escape(char *out, size_t room, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;

    if (s == NULL)
        s = "-";
    for (; *s != '\0' && n + 4 < room; s++) {
        unsigned char ch = (unsigned char) *s;

        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        } else {
            out[n++] = (char) ch;
        }
    }
    out[n] = '\0';
    return n;
}

static void
conn_access_log(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    char line[4096], req[1200], ref[1000], ua[1000];
    char ut[32] = "-";
    int n;
    gh_msec rt = w->loop.now - c->t_start;

    /* Every finished request passes here once: count it for the metrics
     * (exact for the daemon: atomics in the segment). */
    if (c->log_line != NULL) {
        struct gh_shm_globals *g = gh_state_globals(w->shm);

        __atomic_add_fetch(&g->workers[w->slot].requests, 1, __ATOMIC_RELAXED);
        if (c->route != NULL && c->route->shm != 0) {
            struct gh_shm_route *r = gh_state_route(w->shm, c->route);

            __atomic_add_fetch(&r->requests, 1, __ATOMIC_RELAXED);
            if (c->status >= 100 && c->status < 600)
                __atomic_add_fetch(&r->status[c->status / 100 - 1], 1,
                                   __ATOMIC_RELAXED);
        }
        conn_cache_count(c);
    }
    if (w->alog_fd == -1 || c->log_line == NULL)
        return;
    gh_worker_update_time(w);
    if (c->ut_ms >= 0)
        snprintf(ut, sizeof(ut), "%" PRId64 ".%03" PRId64,
                 c->ut_ms / 1000, c->ut_ms % 1000);
    (void) conn_log_escape(req, sizeof(req), c->log_line);
    (void) conn_log_escape(ref, sizeof(ref), c->log_referer);
    (void) conn_log_escape(ua, sizeof(ua), c->log_ua);
    n = snprintf(line, sizeof(line), "%s - - [%s] \"%s\" %d %" PRIu64
                 " \"%s\" \"%s\" upstream=%s ut=%s rt=%" PRId64 ".%03" PRId64
                 " cache=%s\n", c->peer_ip, w->log_time, req, c->status,
                 c->body_sent, ref, ua,
                 c->up_server ? c->up_server->addr.text : "-", ut,
                 rt / 1000, rt % 1000,
                 c->cache != NULL && c->cache->word != NULL
                 ? c->cache->word : "-");
    if (n > 0)
        gh_worker_alog(w, line, GH_MIN((size_t) n, sizeof(line) - 1));
}

static void
conn_reset_request(struct gh_conn *c)
{
    /* An idle keep-alive connection holds no pool block and no buffer:
     * only struct gh_conn itself (see conn_release_buffers). */
    conn_cache_release(c);
    gh_pool_destroy(&c->pool);
    memset(&c->req, 0, sizeof(c->req));
    memset(&c->resp, 0, sizeof(c->resp));
    c->site = NULL;
    c->route = NULL;
    c->up_server = NULL;
    c->req_body = c->body_sent = 0;
    c->status = 0;
    c->ut_ms = -1;
    c->log_line = c->log_referer = c->log_ua = NULL;
    c->head_len = 0;
    c->head_timer = 0;
    c->t_start = 0;
    c->req_done = c->resp_started = c->resp_done = c->up_keep = 0;
    c->reused = c->replay_ok = c->force_new = c->sent_continue = 0;
    c->out_dropped = c->sent_any = c->c_eof = c->u_eof = 0;
    c->upgrade = c->req_chunked_out = c->resp_eof = c->close_sent = 0;
    c->resp_mode = GH_BODY_NONE;
    c->tries = 0;
    c->tried.n = 0;
    c->up_idx = -1;
    c->have_hash = 0;
    c->rate_what = 0;
}

static int
conn_finish(struct gh_conn *c)
{
    if (c->cache != NULL && c->cache->bg) {
        conn_access_log(c);
        return conn_cache_refresh(c);
    }
    if (c->cache != NULL && c->cache->detached) {
        c->keepalive = c->cache->keep;
        c->close_sent = c->cache->close_sent;
    }
    conn_access_log(c);
    conn_up_release(c, 0);
    c->nreq++;
    if ((c->keepalive && !c->w->draining)
        || (c->w->draining && !c->close_sent && c->req_done
            && !c->upgrade)) {
        /* Draining, but the response said keep-alive: the client may be
         * sending its next request already.  READ_HEAD gives it
         * CONN_DRAIN_GRACE_MS and answers it with Connection: close. */
        conn_reset_request(c);
        conn_release_buffers(c);
        c->state = GH_CONN_READ_HEAD;
        return GH_OK;
    }
    /* Anything the client still sends would make our close a reset that
     * may destroy the response on its way: linger unless it has nothing
     * pending (a request that was fully read and nothing after it). */
    if (c->req_done && c->in != NULL && gh_buf_len(c->in) == 0)
        return GH_ERR;
    c->state = GH_CONN_LINGER;
    if (c->ssl != NULL)
        (void) SSL_shutdown(c->ssl);     /* close_notify, best effort */
    (void) shutdown(c->ev.fd, SHUT_WR);
    conn_wait(c, GH_WAIT_CLIENT_READ, CONN_LINGER_MS);
    return GH_OK;
}

static int
conn_linger(struct gh_conn *c)
{
    char drop[4096];

    for (;;) {
        ssize_t n;

        if (!c->crd)
            return GH_AGAIN;
        n = read(c->ev.fd, drop, sizeof(drop));
        if (n > 0)
            continue;
        if (n == -1 && errno == EAGAIN) {
            c->crd = 0;
            return GH_AGAIN;
        }
        if (n == -1 && errno == EINTR)
            continue;
        return GH_ERR;
    }
}

/* ---- the machine ---------------------------------------------------------- */

static int
conn_step_finish(struct gh_conn *c)
{
    return conn_finish(c);
}

/*
 * HANDSHAKE: TLS with the client, within timeouts.client_header from the
 * accept (armed there).  A failed handshake is logged at info with the
 * reason and the connection closed: there is no HTTP to answer in.
 */
static int
conn_handshake(struct gh_conn *c)
{
    char why[160];
    int r;

    ERR_clear_error();
    r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = GH_CONN_READ_HEAD;
        gh_timer_del(&c->w->loop, &c->timer);
        c->wait = GH_WAIT_NONE;
        return GH_OK;
    }
    switch (SSL_get_error(c->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        c->crd = 0;
        return GH_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        c->cwr = 0;
        return GH_AGAIN;
    default:
        conn_log(c, GH_LOG_INFO, 0, "TLS handshake failed: %s",
                 gh_tls_error(c->ssl, r, why, sizeof(why)));
        return GH_ERR;
    }
}

static int (*const conn_steps[GH_CONN_NSTATES])(struct gh_conn *) = {
    [GH_CONN_READ_HEAD] = conn_read_head,
    [GH_CONN_HANDSHAKE] = conn_handshake,
    [GH_CONN_ROUTE] = conn_route,
    [GH_CONN_CONNECT] = conn_connect,
    [GH_CONN_SEND_REQ] = conn_send_req,
    [GH_CONN_READ_RESP] = conn_read_resp,
    [GH_CONN_RELAY_RESP] = conn_relay_resp,
    [GH_CONN_SEND_LOCAL] = conn_send_local,
    [GH_CONN_TUNNEL] = conn_tunnel,
    [GH_CONN_CACHE_WAIT] = conn_cache_wait,
    [GH_CONN_SEND_CACHE] = conn_send_cache,
    [GH_CONN_FINISH] = conn_step_finish,
    [GH_CONN_LINGER] = conn_linger,
};

static void
conn_run(struct gh_conn *c)
{
    int rc;

    if (c->ev.fd == -1)
        return;
    do {
        rc = conn_steps[c->state](c);
    } while (rc == GH_OK);
    if (rc == GH_ERR) {
        if (c->state != GH_CONN_FINISH && c->state != GH_CONN_LINGER
            && c->log_line != NULL) {
            if (c->status == 0)
                c->status = 499;    /* as nginx: the client went away */
            conn_access_log(c);
        }
        gh_conn_close(c, conn_actions[c->state]);
    }
}

static void
conn_event(struct gh_ev *ev, uint32_t events)
{
    struct gh_conn *c = gh_container_of(ev, struct gh_conn, ev);

    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->crd = 1;
    /* A FIN that came with the last data gives no further edge: after it,
     * a short read no longer means "drained", so read on to the EOF. */
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->c_hup = 1;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        c->cwr = 1;
    conn_run(c);
}

static void
conn_up_event(struct gh_ev *ev, uint32_t events)
{
    struct gh_upconn *uc = gh_container_of(ev, struct gh_upconn, ev);
    struct gh_conn *c = uc->owner;

    if (c == NULL)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->urd = 1;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        c->u_hup = 1;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        c->uwr = 1;
    conn_run(c);
}

static void
conn_timeout(struct gh_timer *t)
{
    struct gh_conn *c = gh_container_of(t, struct gh_conn, timer);
    int rc = GH_ERR;

    switch (c->wait) {
    case GH_WAIT_CLIENT_READ:
        if (c->state == GH_CONN_READ_HEAD) {
            if (c->in == NULL || gh_buf_len(c->in) == 0) {
                /* Idle between keep-alive requests is normal (debug); a
                 * connection that never sent a byte is worth an info
                 * line, as nginx does. */
                if (c->nreq == 0 && !c->w->draining)
                    conn_log(c, GH_LOG_INFO, ETIMEDOUT, "client sent no "
                             "request");
                else
                    conn_log(c, GH_LOG_DEBUG, 0, "client idle timeout");
                break;
            }
            rc = conn_error(c, 408, GH_LOG_INFO, ETIMEDOUT,
                            "client timed out");
        } else if (c->state == GH_CONN_HANDSHAKE) {
            conn_log(c, GH_LOG_INFO, ETIMEDOUT, "client timed out in the "
                     "TLS handshake");
        } else if (c->state == GH_CONN_SEND_REQ) {
            rc = conn_error(c, 408, GH_LOG_INFO, ETIMEDOUT,
                            "client timed out");
        } else if (c->state == GH_CONN_TUNNEL) {
            conn_log(c, GH_LOG_INFO, 0, "tunnel idle timeout");
        }
        break;
    case GH_WAIT_CLIENT_WRITE:
        if (c->w->conf->limits.min_response_rate != 0) {
            /* The end of a rate window: the reader keeps up, or is cut
             * (conn_rate() logs it). */
            if (conn_rate(c, CONN_RATE_RESP, 0) == GH_OK)
                rc = GH_OK;
            break;
        }
        conn_log(c, GH_LOG_INFO, ETIMEDOUT, "client timed out");
        break;
    case GH_WAIT_UP_CONNECT:
        rc = conn_up_fail(c, ETIMEDOUT, "upstream timed out", 0);
        break;
    case GH_WAIT_QUEUE:
        rc = GH_OK;         /* conn_connect looks for a free server again */
        break;
    case GH_WAIT_CACHE:
        rc = GH_OK;         /* look at the other process's fill again */
        break;
    case GH_WAIT_UP_WRITE:
    case GH_WAIT_UP_READ:
        rc = conn_up_error(c, 504, ETIMEDOUT,
                        "upstream timed out");
        break;
    default:
        break;
    }
    if (rc == GH_OK) {
        c->wait = GH_WAIT_NONE;
        conn_run(c);
        return;
    }
    if (c->log_line != NULL && c->state != GH_CONN_LINGER
        && c->state != GH_CONN_FINISH) {
        if (c->status == 0)
            c->status = c->wait == GH_WAIT_CLIENT_WRITE ? 499 : 504;
        conn_access_log(c);
    }
    gh_conn_close(c, "timed out");
}

/* ---- life cycle ------------------------------------------------------------ */

/*
 * limits.total_connections and limits.client_connections, counted for the
 * whole daemon in the segment.  GH_OK: C may go on (what was counted is
 * given back by conn_unadmit()); GH_DECLINED: close it (logged).
 */
static int
conn_admit(struct gh_conn *c)
{
    struct gh_worker *w = c->w;
    const struct gh_limits *lim = &w->conf->limits;
    struct gh_ct_key key;
    int rc;

    if (lim->total_connections != 0) {
        if (gh_state_conn_open(w->shm, w->ct_held, lim->total_connections)
            != GH_OK) {
            if (w->loop.now - w->total_warned >= 1000) {
                w->total_warned = w->loop.now;
                gh_log(GH_LOG_WARN, 0, "%" PRIu64 " connections for the "
                       "whole daemon (limits.total_connections) reached: "
                       "closing new ones, client: %s, server: %s",
                       lim->total_connections, c->peer, c->l->addr.text);
            }
            return GH_DECLINED;
        }
        c->total_counted = 1;
    }
    if (lim->client_connections == 0 || !c->peer_is_ip)
        return GH_OK;
    gh_ctable_key_addr(0, c->peer_addr, &key);
    rc = gh_ctable_conn_enter(w->shm, w->ct_held, &key,
                              (uint32_t) lim->client_connections,
                              &c->ct_entry);
    if (rc == GH_DECLINED) {
        gh_log(GH_LOG_INFO, 0, "too many connections from this client "
               "(limits.client_connections = %" PRIu64 "), closing it, "
               "client: %s, server: %s", lim->client_connections, c->peer,
               c->l->addr.text);
        return GH_DECLINED;
    }
    if (rc != GH_OK && w->loop.now - w->ct_warned >= 1000) {
        w->ct_warned = w->loop.now;
        gh_log(rc == GH_ERR ? GH_LOG_ALERT : GH_LOG_WARN, 0, "client %s "
               "not counted for limits.client_connections: %s", c->peer,
               rc == GH_ERR ? "the shared table's lock is broken"
               : "the shared client table is full here (raise "
                 "limits.client_table_size)");
    }
    return GH_OK;
}

/* Give back what conn_admit() counted; safe to call twice. */
static void
conn_unadmit(struct gh_conn *c)
{
    if (c->ct_entry != 0) {
        gh_ctable_conn_leave(c->w->shm, c->w->ct_held, c->ct_entry);
        c->ct_entry = 0;
    }
    if (c->total_counted) {
        gh_state_conn_close(c->w->shm, c->w->ct_held);
        c->total_counted = 0;
    }
}

void
gh_conn_accept(struct gh_worker *w, const struct gh_listener *l, int fd,
               const struct sockaddr *sa, socklen_t salen)
{
    struct gh_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        gh_log(GH_LOG_CRIT, ENOMEM, "no memory for a connection on %s",
               l->addr.text);
        (void) close(fd);
        return;
    }
    c->ev.fd = fd;
    c->ev.handler = conn_event;
    c->w = w;
    c->l = l;
    c->timer.handler = conn_timeout;
    c->file_fd = -1;
    c->ut_ms = -1;
    c->up_idx = -1;
    c->crd = 1;     /* TCP_DEFER_ACCEPT: the request is likely there */
    c->cwr = 1;
    gh_pool_init(&c->pool, 64 * 1024 + GH_MAX(w->conf->limits.headers,
                                              CONN_RESP_HEADERS)
                 * 2 * sizeof(struct gh_hdr));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *) sa;

        inet_ntop(AF_INET, &s4->sin_addr, c->peer_ip, sizeof(c->peer_ip));
        snprintf(c->peer, sizeof(c->peer), "%s:%u", c->peer_ip,
                 ntohs(s4->sin_port));
        c->peer_addr[10] = c->peer_addr[11] = 0xff;
        memcpy(&c->peer_addr[12], &s4->sin_addr, 4);
        c->peer_is_ip = 1;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) sa;

        inet_ntop(AF_INET6, &s6->sin6_addr, c->peer_ip, sizeof(c->peer_ip));
        snprintf(c->peer, sizeof(c->peer), "[%s]:%u", c->peer_ip,
                 ntohs(s6->sin6_port));
        memcpy(c->peer_addr, &s6->sin6_addr, 16);
        c->peer_is_ip = 1;
    } else {
        snprintf(c->peer_ip, sizeof(c->peer_ip), "unix");
        snprintf(c->peer, sizeof(c->peer), "unix");
    }
    (void) salen;
    if (conn_admit(c) != GH_OK) {
        conn_unadmit(c);
        (void) close(fd);
        free(c);
        return;
    }
    if (gh_ev_add(&w->loop, &c->ev, EPOLLIN | EPOLLOUT | EPOLLRDHUP)
        != GH_OK) {
        conn_unadmit(c);
        gh_log(GH_LOG_CRIT, errno, "epoll_ctl() failed for client %s",
               c->peer);
        (void) close(fd);
        free(c);
        return;
    }
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    __atomic_store_n(&gh_state_globals(w->shm)->workers[w->slot].conns,
                     (int64_t) w->nconns, __ATOMIC_RELAXED);
    c->state = GH_CONN_READ_HEAD;
    if (gh_tls_listener(l)) {
        c->ssl = gh_tls_new(l, fd);
        if (c->ssl == NULL) {
            conn_log(c, GH_LOG_CRIT, 0, "cannot start TLS");
            gh_conn_close(c, "no TLS");
            return;
        }
        c->state = GH_CONN_HANDSHAKE;
        conn_wait(c, GH_WAIT_CLIENT_READ, w->conf->timeouts.client_header);
    }
    conn_run(c);
}

void
gh_conn_close(struct gh_conn *c, const char *reason)
{
    struct gh_worker *w = c->w;

    if (c->ev.fd == -1)
        return;
    if (gh_log_enabled(GH_LOG_DEBUG))
        gh_log(GH_LOG_DEBUG, 0, "close client %s: %s", c->peer, reason);
    gh_timer_del(&w->loop, &c->timer);
    conn_up_release(c, 0);
    conn_unadmit(c);
    if (c->ssl != NULL) {
        /* close_notify, as nginx does: a client that reads to the end of
         * the connection (curl, OpenSSL 3) otherwise sees a truncation
         * and drops the session (no resumption next time). */
        if (SSL_is_init_finished(c->ssl)
            && !(SSL_get_shutdown(c->ssl) & SSL_SENT_SHUTDOWN)) {
            (void) SSL_shutdown(c->ssl);
            ERR_clear_error();
        }
        gh_tls_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->file_fd != -1)
        (void) close(c->file_fd);
    gh_buf_put(&c->in);
    gh_buf_put(&c->out);
    gh_buf_put(&c->uin);
    gh_buf_put(&c->cout);
    conn_cache_release(c);
    gh_pool_destroy(&c->pool);
    gh_ev_close(&w->loop, &c->ev);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    __atomic_store_n(&gh_state_globals(w->shm)->workers[w->slot].conns,
                     (int64_t) w->nconns, __ATOMIC_RELAXED);
    gh_loop_defer_free(&w->loop, c);
    gh_worker_conn_closed(w);
}

/*
 * Waiting for the next request on a kept-alive connection, nothing read,
 * for at least CONN_RECLAIM_IDLE_MS (its timer was armed with
 * timeouts.keepalive when it went idle): one that has just been answered
 * is likely to carry another request at once, perhaps already on its way.
 */
static int
conn_idle(const struct gh_conn *c)
{
    return c->state == GH_CONN_READ_HEAD && c->nreq > 0 && !c->head_timer
           && (c->in == NULL || gh_buf_len(c->in) == 0)
           && c->wait == GH_WAIT_CLIENT_READ && !c->w->draining
           && c->timer.when - c->w->conf->timeouts.keepalive
              + CONN_RECLAIM_IDLE_MS <= c->w->loop.now;
}

unsigned
gh_conn_reclaim(struct gh_worker *w, unsigned max)
{
    struct gh_conn *pick[CONN_RECLAIM_MAX];
    unsigned n = 0;

    if (max > CONN_RECLAIM_MAX)
        max = CONN_RECLAIM_MAX;
    /* The MAX that have been idle longest: the earliest timers (all armed
     * with timeouts.keepalive when they went idle). */
    for (struct gh_conn *c = w->conns; c != NULL; c = c->next) {
        unsigned i;

        if (!conn_idle(c))
            continue;
        if (n == max && c->timer.when >= pick[n - 1]->timer.when)
            continue;
        i = n < max ? n++ : n - 1;
        for (; i > 0 && pick[i - 1]->timer.when > c->timer.when; i--)
            pick[i] = pick[i - 1];
        pick[i] = c;
    }
    for (unsigned i = 0; i < n; i++)
        gh_conn_close(pick[i], "idle keep-alive connection closed at "
                      "limits.connections");
    return n;
}

void
gh_conn_drain(struct gh_conn *c)
{
    char b;

    c->keepalive = 0;
    if (c->state != GH_CONN_READ_HEAD
        || (c->in != NULL && gh_buf_len(c->in) > 0))
        return;
    /* An idle keep-alive connection: a request already waiting in it
     * (sent before the client could know) is served, as the last; else
     * it gets CONN_DRAIN_GRACE_MS for one, then closes (READ_HEAD arms
     * the shorter timer when draining). */
    if (recv(c->ev.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
        c->crd = 1;
    conn_run(c);
}

void
gh_conn_stop(struct gh_conn *c)
{
    /* The shutdown timeout ran out: end it, but with a FIN and a short
     * linger, not a close over unread bytes (a reset that could destroy
     * what was already relayed). */
    if (c->ev.fd == -1 || c->state == GH_CONN_LINGER)
        return;
    if (c->log_line != NULL && c->state != GH_CONN_FINISH) {
        if (c->status == 0)
            c->status = 499;
        conn_access_log(c);
    }
    conn_up_release(c, 0);
    c->keepalive = 0;
    c->state = GH_CONN_LINGER;
    if (c->ssl != NULL)
        (void) SSL_shutdown(c->ssl);     /* close_notify, best effort */
    (void) shutdown(c->ev.fd, SHUT_WR);
    conn_wait(c, GH_WAIT_CLIENT_READ, CONN_STOP_LINGER_MS);
}
