#ifndef GH_WORKER_HTTP_H
#define GH_WORKER_HTTP_H

/*
 * HTTP/1.x message heads.  We find the end of a head ourselves, checking the
 * line syntax http-parser 2.9 is lenient about (RFC 9112), then run
 * http-parser over exactly those bytes; the same parser then frames the
 * body.  Every slice points into the caller's buffer, which must not move
 * while the message is in use.
 */

#include <http_parser.h>
#include <stdint.h>

#include "worker/core/gh.h"
#include "worker/core/pool.h"

/* Header classes, from the name (and for hop-by-hop, from Connection). */
enum gh_hdr_kind {
    GH_HDR_OTHER = 0,
    GH_HDR_HOST,
    GH_HDR_CONTENT_LENGTH,
    GH_HDR_TRANSFER_ENCODING,
    GH_HDR_CONNECTION,
    GH_HDR_KEEP_ALIVE,
    GH_HDR_TE,
    GH_HDR_TRAILER,
    GH_HDR_UPGRADE,
    GH_HDR_PROXY,           /* Proxy-* */
    GH_HDR_EXPECT,
    GH_HDR_XFF,             /* X-Forwarded-For */
    GH_HDR_XF_PROTO,
    GH_HDR_XF_HOST,
    GH_HDR_X_REAL_IP,
    GH_HDR_IF_MODIFIED_SINCE,
    GH_HDR_IF_NONE_MATCH,
    GH_HDR_RANGE,
    GH_HDR_IF_RANGE,
    GH_HDR_REFERER,
    GH_HDR_USER_AGENT,
    GH_HDR_SERVER,
    GH_HDR_DATE
};

struct gh_hdr {
    struct gh_str name;
    struct gh_str value;    /* trimmed of surrounding whitespace */
    uint8_t       kind;     /* enum gh_hdr_kind */
    uint8_t       hop;      /* hop-by-hop: never forwarded as is */
};

struct gh_http_msg {
    http_parser    parser;
    struct gh_str  url;         /* request target, as sent */
    struct gh_str  reason;      /* response reason phrase */
    struct gh_hdr *hdrs;        /* from the request pool; cap entries */
    uint32_t       nhdrs;
    uint32_t       cap;
    int            head_done;   /* on_headers_complete seen */
    int            complete;    /* on_message_complete seen */
    int            no_body;     /* response to HEAD: no body expected */
    int64_t        content_length;  /* -1: none */
    unsigned       chunked:1;
    unsigned       conn_close:1;
    unsigned       conn_keepalive:1;
    unsigned       conn_upgrade:1;
    unsigned       upgrade:1;       /* Upgrade + Connection: upgrade */
    unsigned       expect_continue:1;
    unsigned       overflow:1;      /* more headers than cap */
    struct gh_hdr *host;        /* borrows from hdrs, or NULL */
    /* Body framing, ours (RFC 9112 6, 7.1): http-parser only reads heads. */
    uint64_t       remaining;   /* Content-Length or current chunk bytes */
    uint32_t       chunk_state; /* see http.c */
    uint32_t       chunk_aux;   /* digits / extension / trailer bytes */
    uint64_t       declared;    /* sum of the chunk sizes so far */
    uint64_t       body_max;    /* refuse a chunk past it; 0: no limit */
    int            too_large;   /* the error was body_max */
    /* Body sink, set by the caller before feeding body bytes. */
    int          (*on_body)(void *arg, const char *p, size_t n);
    void          *arg;
};

/*
 * Scan BUF[0..LEN) for a complete head.  *POS is where to resume (start at
 * 0; it only moves forward to the start of the first incomplete line).
 * LINE1_MAX bounds the first line.  Returns GH_OK with *HEAD_LEN (bytes up to
 * and including the empty line; *SKIP leading empty lines to ignore, RFC
 * 9112 2.2), GH_AGAIN for more bytes, or GH_ERR with *STATUS (400 or 414)
 * and *WHY (a static string for the log).
 */
int gh_http_scan_head(const char *buf, size_t len, size_t *pos,
                      size_t *skip, size_t line1_max, size_t *head_len,
                      int *status, const char **why);

/*
 * Parse a head found by gh_http_scan_head with http-parser.  TYPE is
 * HTTP_REQUEST or HTTP_RESPONSE; HEAD_REQ says a response answers HEAD.
 * MAX_HDRS bounds the header count (past it: GH_ERR, 431).  Returns GH_OK,
 * or GH_ERR with *STATUS (400/431/501 for requests, 502 for responses) and
 * *WHY.  Header storage comes from POOL; M must be zeroed, or hold a
 * message parsed earlier from the same POOL (its header array is reused).
 */
int gh_http_parse_head(struct gh_http_msg *m, enum http_parser_type type,
                       int head_req, const char *buf, size_t len,
                       uint32_t max_hdrs, struct gh_pool *pool,
                       int *status, const char **why);

/*
 * Feed body bytes (after the head): decoded data goes to m->on_body.
 * Framing is ours and strict: Content-Length, chunked exactly as RFC 9112
 * 7.1 (CRLF everywhere, bounded size, extension and trailer lengths,
 * trailers dropped), or, for a response with neither, everything up to the
 * connection's close.  N == 0 means the peer closed: that completes a
 * close-delimited body and is an error anywhere else.  Returns the bytes
 * consumed, or GH_ERR with *WHY.  Stops after the message's last byte (the
 * rest belongs to the next message) and sets m->complete.
 */
ssize_t gh_http_feed_body(struct gh_http_msg *m, const char *p, size_t n,
                          const char **why);

/* Case-insensitive compare of a slice with a lower-case literal. */
int gh_str_ieq(struct gh_str s, const char *lit, size_t litlen);
#define GH_STR_IEQ(s, lit) gh_str_ieq((s), (lit), sizeof(lit) - 1)

/* Reason phrase for a status we generate ("Bad Gateway"). */
const char *gh_http_reason(int status);

/* The header of kind K, or NULL. */
const struct gh_hdr *gh_http_find(const struct gh_http_msg *m,
                                  enum gh_hdr_kind k);

#endif
