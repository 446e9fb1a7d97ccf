#include <string.h>
#include <strings.h>

#include "worker/http.h"

/* RFC 9110 5.6.2 tchar, for header field names. */
static const uint8_t http_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static int
http_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int
gh_str_ieq(struct gh_str s, const char *lit, size_t litlen)
{
    return s.len == litlen && strncasecmp(s.p, lit, litlen) == 0;
}

int
gh_http_scan_head(const char *buf, size_t len, size_t *pos, size_t *skip,
                  size_t line1_max, size_t *head_len, int *status,
                  const char **why)
{
    size_t i = *pos;

    *status = 400;
    while (i < len) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end, n;
        int first = (i == *skip);

        if (nl == NULL) {
            *pos = i;
            /* A NUL can never be part of a head: fail now, not at the
             * header timeout (memchr is cheap on the unfinished line). */
            if (memchr(buf + i, '\0', len - i) != NULL) {
                *why = "control character in message head";
                return GH_ERR;
            }
            /* A trailing CR is the start of the line end, not the line. */
            if (first && len - i - (buf[len - 1] == '\r') > line1_max) {
                *status = 414;
                *why = "request line too long";
                return GH_ERR;
            }
            return GH_AGAIN;
        }
        end = (size_t) (nl - buf);
        /* RFC 9112 2.2: a bare LF where CRLF belongs is where request
         * smuggling lives; we accept only CRLF. */
        if (end == i || buf[end - 1] != '\r') {
            *why = "bare LF in message head";
            return GH_ERR;
        }
        n = end - 1 - i;            /* line length without CRLF */
        if (n == 0) {
            if (first) {
                /* RFC 9112 2.2: ignore empty lines before the start line,
                 * but only a few, or it is a cheap way to hold a slot. */
                if (i >= 8) {
                    *why = "too many empty lines before request line";
                    return GH_ERR;
                }
                i = end + 1;
                *skip = i;
                continue;
            }
            *pos = i;
            *head_len = end + 1;
            return GH_OK;
        }
        for (size_t k = i; k < i + n; k++) {
            unsigned char c = (unsigned char) buf[k];

            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                *why = "control character in message head";
                return GH_ERR;
            }
        }
        if (first) {
            if (n > line1_max) {
                *status = 414;
                *why = "request line too long";
                return GH_ERR;
            }
        } else {
            size_t k = i;

            /* RFC 9112 5.2: obs-fold is rejected in requests; we also
             * refuse it in responses rather than guess. */
            if (buf[i] == ' ' || buf[i] == '\t') {
                *why = "obsolete line folding in header";
                return GH_ERR;
            }
            while (k < i + n && http_tchar[(unsigned char) buf[k]])
                k++;
            if (k == i || k == i + n || buf[k] != ':') {
                /* RFC 9112 5.1: no whitespace between name and colon. */
                *why = (k < i + n && (buf[k] == ' ' || buf[k] == '\t'))
                       ? "whitespace before colon in header"
                       : "invalid header name";
                return GH_ERR;
            }
        }
        i = end + 1;
    }
    *pos = i;
    return GH_AGAIN;
}

/* http-parser callbacks; parser->data is the message. */

static int
http_on_url(http_parser *p, const char *at, size_t n)
{
    struct gh_http_msg *m = p->data;

    if (m->url.p == NULL)
        m->url.p = at;
    m->url.len = (size_t) (at + n - m->url.p);
    return 0;
}

static int
http_on_status(http_parser *p, const char *at, size_t n)
{
    struct gh_http_msg *m = p->data;

    if (m->reason.p == NULL)
        m->reason.p = at;
    m->reason.len = (size_t) (at + n - m->reason.p);
    return 0;
}

/* The head is one contiguous block fed in one call, so each field and each
 * value arrives in one callback; trailers (after head_done) are dropped. */
static int
http_on_field(http_parser *p, const char *at, size_t n)
{
    struct gh_http_msg *m = p->data;
    struct gh_hdr *h;

    if (m->head_done)
        return 0;
    if (m->nhdrs == m->cap) {
        m->overflow = 1;
        return 0;
    }
    h = &m->hdrs[m->nhdrs++];
    *h = (struct gh_hdr) { .name = { at, n } };
    return 0;
}

static int
http_on_value(http_parser *p, const char *at, size_t n)
{
    struct gh_http_msg *m = p->data;
    struct gh_hdr *h;

    if (m->head_done || m->overflow || m->nhdrs == 0)
        return 0;
    h = &m->hdrs[m->nhdrs - 1];
    if (h->value.p == NULL)
        h->value.p = at;
    h->value.len = (size_t) (at + n - h->value.p);
    return 0;
}

static void http_classify(struct gh_http_msg *m);

static int
http_on_headers_complete(http_parser *p)
{
    struct gh_http_msg *m = p->data;

    m->head_done = 1;
    http_classify(m);
    /* RFC 9110 6.4.1: responses to HEAD, 1xx, 204 and 304 have no body,
     * whatever Content-Length says; 1 tells http-parser to skip it. */
    if (p->type == HTTP_RESPONSE
        && (p->status_code / 100 == 1 || p->status_code == 204
            || p->status_code == 304))
        m->no_body = 1;
    return m->no_body ? 1 : 0;
}

static int
http_on_body(http_parser *p, const char *at, size_t n)
{
    struct gh_http_msg *m = p->data;

    if (m->on_body == NULL)
        return 0;
    return m->on_body(m->arg, at, n) == GH_OK ? 0 : -1;
}

static int
http_on_message_complete(http_parser *p)
{
    struct gh_http_msg *m = p->data;

    m->complete = 1;
    /* Stop here: what follows is the next pipelined message. */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings http_settings = {
    .on_url = http_on_url,
    .on_status = http_on_status,
    .on_header_field = http_on_field,
    .on_header_value = http_on_value,
    .on_headers_complete = http_on_headers_complete,
    .on_body = http_on_body,
    .on_message_complete = http_on_message_complete,
};

static struct gh_str
http_trim(struct gh_str s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t'))
        s.len--;
    return s;
}

struct http_name {
    const char *name;
    uint8_t     len;
    uint8_t     kind;
    uint8_t     hop;
};

#define HN(s, k, h) { s, sizeof(s) - 1, k, h }
static const struct http_name http_names[] = {
    HN("host", GH_HDR_HOST, 0),
    HN("content-length", GH_HDR_CONTENT_LENGTH, 0),
    HN("transfer-encoding", GH_HDR_TRANSFER_ENCODING, 1),
    HN("connection", GH_HDR_CONNECTION, 1),
    HN("keep-alive", GH_HDR_KEEP_ALIVE, 1),
    HN("te", GH_HDR_TE, 1),
    HN("trailer", GH_HDR_TRAILER, 1),
    HN("upgrade", GH_HDR_UPGRADE, 1),
    HN("expect", GH_HDR_EXPECT, 0),
    HN("x-forwarded-for", GH_HDR_XFF, 0),
    HN("x-forwarded-proto", GH_HDR_XF_PROTO, 0),
    HN("x-forwarded-host", GH_HDR_XF_HOST, 0),
    HN("x-real-ip", GH_HDR_X_REAL_IP, 0),
    HN("if-modified-since", GH_HDR_IF_MODIFIED_SINCE, 0),
    HN("if-none-match", GH_HDR_IF_NONE_MATCH, 0),
    HN("range", GH_HDR_RANGE, 0),
    HN("if-range", GH_HDR_IF_RANGE, 0),
    HN("referer", GH_HDR_REFERER, 0),
    HN("user-agent", GH_HDR_USER_AGENT, 0),
    HN("server", GH_HDR_SERVER, 0),
    HN("date", GH_HDR_DATE, 0),
};

static void
http_kind(struct gh_hdr *h)
{
    for (size_t i = 0; i < GH_NELEM(http_names); i++) {
        const struct http_name *n = &http_names[i];

        if (h->name.len == n->len
            && strncasecmp(h->name.p, n->name, n->len) == 0) {
            h->kind = n->kind;
            h->hop = n->hop;
            return;
        }
    }
    /* Proxy-*: Proxy-Connection, Proxy-Authorization, ... (RFC 9110 7.6.1
     * lists Proxy-Connection; the others are for a forward proxy). */
    if (h->name.len > 6 && strncasecmp(h->name.p, "proxy-", 6) == 0) {
        h->kind = GH_HDR_PROXY;
        h->hop = 1;
    }
}

/* Mark the headers that Connection names as hop-by-hop (RFC 9110 7.6.1). */
static void
http_connection_tokens(struct gh_http_msg *m, struct gh_str v)
{
    const char *p = v.p, *end = v.p + v.len;

    while (p < end) {
        const char *c = memchr(p, ',', (size_t) (end - p));
        struct gh_str t = http_trim((struct gh_str) {
            p, (size_t) ((c ? c : end) - p) });

        p = c ? c + 1 : end;
        if (t.len == 0)
            continue;
        if (GH_STR_IEQ(t, "close")) {
            m->conn_close = 1;
        } else if (GH_STR_IEQ(t, "keep-alive")) {
            m->conn_keepalive = 1;
        } else if (GH_STR_IEQ(t, "upgrade")) {
            m->conn_upgrade = 1;
        }
        for (uint32_t i = 0; i < m->nhdrs; i++) {
            struct gh_hdr *h = &m->hdrs[i];

            /* Never let Connection strip framing or Host: a client that
             * lists them is trying to desync us from the backend. */
            if (h->kind != GH_HDR_HOST && h->kind != GH_HDR_CONTENT_LENGTH
                && gh_str_ieq(h->name, t.p, t.len))
                h->hop = 1;
        }
    }
}

static void
http_classify(struct gh_http_msg *m)
{
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        struct gh_hdr *h = &m->hdrs[i];

        h->value = http_trim(h->value);
        http_kind(h);
        if (h->kind == GH_HDR_HOST && m->host == NULL)
            m->host = h;
    }
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        struct gh_hdr *h = &m->hdrs[i];

        if (h->kind == GH_HDR_CONNECTION)
            http_connection_tokens(m, h->value);
        else if (h->kind == GH_HDR_EXPECT
                 && GH_STR_IEQ(h->value, "100-continue"))
            m->expect_continue = 1;
    }
}

const struct gh_hdr *
gh_http_find(const struct gh_http_msg *m, enum gh_hdr_kind k)
{
    for (uint32_t i = 0; i < m->nhdrs; i++)
        if (m->hdrs[i].kind == k)
            return &m->hdrs[i];
    return NULL;
}

/* Parse a Content-Length value: digits only, no sign, no overflow. */
static int
http_parse_cl(struct gh_str v, int64_t *out)
{
    int64_t n = 0;

    if (v.len == 0 || v.len > 18)
        return GH_ERR;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return GH_ERR;
        n = n * 10 + (v.p[i] - '0');
    }
    *out = n;
    return GH_OK;
}

/*
 * A name that reads as LIT (lower case, with '-') once each '_' is taken
 * for '-', and has at least one '_': "Transfer_Encoding".  CGI and WSGI
 * servers map both to HTTP_TRANSFER_ENCODING, so a backend behind us could
 * see framing that we did not.
 */
static int
http_name_mimics(struct gh_str name, const char *lit, size_t litlen)
{
    int under = 0;

    if (name.len != litlen)
        return 0;
    for (size_t i = 0; i < litlen; i++) {
        unsigned char c = (unsigned char) name.p[i];

        if (c == '_' && lit[i] == '-') {
            under = 1;
            continue;
        }
        if ((c | 0x20) != (unsigned char) lit[i] && c != (unsigned char) lit[i])
            return 0;
    }
    return under;
}

/* RFC 3986 3.2.2 reg-name and IP-literal bytes, but not ',': "Host: a, b"
 * or "a,b" is a list, never one host. */
static int
http_host_char(unsigned char c, int literal)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
        return 1;
    if (literal && c == ':')
        return 1;
    return c != '\0' && strchr("-._~!$&'()*+;=", c) != NULL;
}

/*
 * RFC 9110 7.2: Host = uri-host [ ":" port ], empty allowed (RFC 9112
 * 3.2); no userinfo, path, list or whitespace, which a backend could read
 * as another host than the one we routed on.
 */
static int
http_host_ok(struct gh_str v)
{
    size_t i = 0;

    if (v.len == 0)
        return 1;
    if (v.p[0] == '[') {
        for (i = 1; i < v.len && v.p[i] != ']'; i++)
            if (!http_host_char((unsigned char) v.p[i], 1))
                return 0;
        if (i == v.len || i == 1)
            return 0;
        i++;
    } else {
        for (; i < v.len && v.p[i] != ':'; i++) {
            unsigned char c = (unsigned char) v.p[i];

            if (c == '%') {
                if (i + 2 >= v.len || http_hex((unsigned char) v.p[i + 1]) < 0
                    || http_hex((unsigned char) v.p[i + 2]) < 0)
                    return 0;
                i += 2;
            } else if (!http_host_char(c, 0)) {
                return 0;
            }
        }
        if (i == 0)
            return 0;
    }
    if (i == v.len)
        return 1;
    if (v.p[i++] != ':')
        return 0;
    for (; i < v.len; i++)
        if (v.p[i] < '0' || v.p[i] > '9')
            return 0;
    return 1;
}

/*
 * An absolute-form target (RFC 9112 3.2.2) must name the host that Host
 * names: a client MUST send Host identical to the target's authority
 * (RFC 9112 3.2), and we route on one of the two while the backend may
 * believe the other.  Userinfo is an error (RFC 9110 4.2.4).
 */
static int
http_target_ok(const struct gh_http_msg *m, const char **why)
{
    struct gh_str u = m->url, auth;
    const char *s, *end;

    if (u.len == 0 || u.p[0] == '/' || u.p[0] == '*'
        || m->parser.method == HTTP_CONNECT)
        return GH_OK;
    s = memchr(u.p, ':', u.len);
    if (s == NULL || (size_t) (u.p + u.len - s) < 3 || s[1] != '/'
        || s[2] != '/')
        return GH_OK;           /* not absolute-form: routing refuses it */
    auth.p = s + 3;
    end = auth.p;
    while (end < u.p + u.len && *end != '/' && *end != '?' && *end != '#')
        end++;
    auth.len = (size_t) (end - auth.p);
    if (memchr(auth.p, '@', auth.len) != NULL) {
        *why = "userinfo in request target";
        return GH_ERR;
    }
    if (auth.len == 0 || !http_host_ok(auth)) {
        *why = "invalid authority in request target";
        return GH_ERR;
    }
    if (m->host != NULL && !gh_str_ieq(m->host->value, auth.p, auth.len)) {
        *why = "request target authority disagrees with Host";
        return GH_ERR;
    }
    return GH_OK;
}

/* The codings of a Transfer-Encoding value, last first: is the last one
 * "chunked" (any case, parameters and spaces aside)? */
static int
http_te_last_chunked(struct gh_str v)
{
    size_t end = v.len, start;

    while (end > 0 && (v.p[end - 1] == ' ' || v.p[end - 1] == '\t'))
        end--;
    start = end;
    while (start > 0 && v.p[start - 1] != ',')
        start--;
    while (start < end && (v.p[start] == ' ' || v.p[start] == '\t'))
        start++;
    for (size_t i = start; i < end; i++) {
        if (v.p[i] == ';' || v.p[i] == ' ' || v.p[i] == '\t') {
            end = i;
            break;
        }
    }
    return gh_str_ieq((struct gh_str) { v.p + start, end - start },
                      "chunked", 7);
}

/* Is "chunked" among M's codings before the last one? */
static int
http_te_chunked_before(const struct gh_http_msg *m)
{
    const struct gh_hdr *last = NULL;
    int seen = 0;

    for (uint32_t i = 0; i < m->nhdrs; i++)
        if (m->hdrs[i].kind == GH_HDR_TRANSFER_ENCODING)
            last = &m->hdrs[i];
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        const struct gh_hdr *h = &m->hdrs[i];
        size_t start = 0;

        if (h->kind != GH_HDR_TRANSFER_ENCODING)
            continue;
        for (size_t k = 0; k <= h->value.len; k++) {
            if (k < h->value.len && h->value.p[k] != ',')
                continue;
            /* The codings of H up to K; the very last one is skipped. */
            if (!(h == last && k == h->value.len)
                && http_te_last_chunked((struct gh_str) { h->value.p + start,
                                                          k - start }))
                seen = 1;
            start = k + 1;
        }
    }
    return seen;
}

/*
 * Framing rules http-parser is lenient about or reports vaguely; run on the
 * recorded headers whether or not http-parser accepted the head.
 */
static int
http_check_framing(struct gh_http_msg *m, int request, int check_host,
                   int *status, const char **why)
{
    int ncl = 0, nte = 0, nhost = 0, te_other = 0;
    const struct gh_hdr *te_last = NULL;
    int64_t cl = -1;

    *status = request ? 400 : 502;
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        struct gh_hdr *h = &m->hdrs[i];
        int64_t v;

        switch (h->kind) {
        case GH_HDR_CONTENT_LENGTH:
            if (http_parse_cl(h->value, &v) != GH_OK) {
                *why = "invalid Content-Length";
                return GH_ERR;
            }
            /* RFC 9112 6.3 (5): differing values are unrecoverable. */
            if (ncl++ > 0 && v != cl) {
                *why = "conflicting Content-Length headers";
                return GH_ERR;
            }
            cl = v;
            break;
        case GH_HDR_TRANSFER_ENCODING:
            nte++;
            te_last = h;
            if (!GH_STR_IEQ(h->value, "chunked"))
                te_other = 1;
            break;
        case GH_HDR_HOST:
            nhost++;
            break;
        default:
            if (http_name_mimics(h->name, "content-length", 14)
                || http_name_mimics(h->name, "transfer-encoding", 17)) {
                *why = "underscore in a Content-Length or "
                       "Transfer-Encoding header name";
                return GH_ERR;
            }
            break;
        }
    }
    /*
     * We implement only chunked, alone, as the final coding.  RFC 9112
     * 6.3: a request whose final coding is not chunked cannot be framed
     * (400); chunked twice is invalid (400); codings we do not implement
     * before a final chunked get 501 (RFC 9112 6.1).
     */
    if (te_other || nte > 1) {
        int chunked_last = http_te_last_chunked(te_last->value);

        if (request)
            *status = chunked_last && !http_te_chunked_before(m) ? 501 : 400;
        *why = !chunked_last ? "Transfer-Encoding does not end in chunked"
               : *status == 501 || !request ? "unsupported Transfer-Encoding"
               : "chunked Transfer-Encoding applied more than once";
        return GH_ERR;
    }
    /* RFC 9112 6.1: CL with TE may be a smuggling attempt; refuse it. */
    if (nte > 0 && ncl > 0) {
        *status = request ? 400 : 502;
        *why = "both Content-Length and Transfer-Encoding";
        return GH_ERR;
    }
    /* RFC 9112 6.1: TE in an HTTP/1.0 message is faulty framing, whatever
     * else the head says (1.0 has no chunked: a 1.0 hop would not see it). */
    if (nte > 0 && m->parser.http_major == 1 && m->parser.http_minor == 0) {
        *status = request ? 400 : 502;
        *why = "Transfer-Encoding in an HTTP/1.0 message";
        return GH_ERR;
    }
    if (!check_host || !request) {
        /* The head did not parse (only framing explains it better than
         * http-parser), or a response: no Host rules. */
    } else if (nhost > 1) {
        *why = "more than one Host header";
        return GH_ERR;
    } else if (nhost == 0 && m->parser.http_major == 1
               && m->parser.http_minor >= 1) {
        *why = "no Host header in an HTTP/1.1 request";     /* RFC 9112 3.2 */
        return GH_ERR;
    } else if (m->host != NULL && !http_host_ok(m->host->value)) {
        *why = "invalid Host header";                       /* RFC 9112 3.2 */
        return GH_ERR;
    } else if (http_target_ok(m, why) != GH_OK) {
        return GH_ERR;
    }
    m->content_length = cl;
    m->remaining = cl > 0 ? (uint64_t) cl : 0;
    m->chunked = nte > 0;
    return GH_OK;
}

/*
 * RFC 9112 4: status-code is 3DIGIT after one SP, then SP or the end of the
 * line; RFC 9110 15: 100 to 599.  http-parser takes "HTTP/1.1 20 OK" for
 * status 20, which we would relay as a status line no client can read;
 * a code outside 1xx-5xx is treated as the server's error (502).
 */
static int
http_status_ok(const char *buf, size_t n)
{
    if (n < 12 || buf[9] < '1' || buf[9] > '5' || buf[10] < '0'
        || buf[10] > '9' || buf[11] < '0' || buf[11] > '9')
        return 0;
    return n == 12 || buf[12] == ' ';
}

/*
 * http-parser 2.9 built without HTTP_PARSER_STRICT takes "HTTX/1.1" for a
 * version; we want exactly "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3), at the
 * end of a request line or the start of a status line.
 */
static int
http_version_ok(const char *buf, size_t len, int request)
{
    const char *eol = memchr(buf, '\r', len);
    const char *v;
    size_t n = eol ? (size_t) (eol - buf) : len;

    if (n < 9)
        return 0;
    v = request ? buf + n - 8 : buf;
    if (request && buf[n - 9] != ' ')
        return 0;
    if (!request && n > 8 && buf[8] != ' ')
        return 0;
    /* RFC 9112 3: exactly one SP between method, target and version (and
     * 4: one before the status code).  http-parser skips runs of spaces;
     * we do not "autocorrect" a line a filter in front may read otherwise
     * (RFC 9112 3 says SHOULD NOT). */
    if (!request && !http_status_ok(buf, n))
        return 0;
    if (request) {
        size_t sp = 0;

        for (size_t k = 0; k < n; k++) {
            if (buf[k] != ' ')
                continue;
            if (k == 0 || buf[k - 1] == ' ')
                return 0;
            sp++;
        }
        if (sp != 2)
            return 0;
    }
    return memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9'
           && v[6] == '.' && v[7] >= '0' && v[7] <= '9';
}

int
gh_http_parse_head(struct gh_http_msg *m, enum http_parser_type type,
                   int head_req, const char *buf, size_t len,
                   uint32_t max_hdrs, struct gh_pool *pool, int *status,
                   const char **why)
{
    size_t n;
    enum http_errno e;
    int request = type == HTTP_REQUEST;
    struct gh_hdr *hdrs = m->cap == max_hdrs ? m->hdrs : NULL;

    memset(m, 0, offsetof(struct gh_http_msg, on_body));
    m->content_length = -1;
    m->no_body = head_req;
    m->cap = max_hdrs;
    /* A message parsed again (a final response after 1xx ones) keeps its
     * header array: a stream of 102s must not eat the request's arena. */
    m->hdrs = hdrs != NULL ? hdrs
              : gh_pool_alloc(pool, sizeof(*m->hdrs) * max_hdrs);
    *status = request ? 400 : 502;
    if (m->hdrs == NULL) {
        *status = 500;
        *why = "out of memory for headers";
        return GH_ERR;
    }
    if (!http_version_ok(buf, len, request)) {
        *why = request ? "invalid request line" : "invalid status line";
        return GH_ERR;
    }
    http_parser_init(&m->parser, type);
    m->parser.data = m;
    n = http_parser_execute(&m->parser, &http_settings, buf, len);
    e = HTTP_PARSER_ERRNO(&m->parser);
    if (e == HPE_PAUSED) {
        http_parser_pause(&m->parser, 0);
        e = HPE_OK;
    }
    if (m->overflow) {
        *status = request ? 431 : 502;
        *why = "too many header fields";
        return GH_ERR;
    }
    if (e != HPE_OK || (n != len && !m->parser.upgrade)) {
        if (!m->head_done)
            http_classify(m);
        if (http_check_framing(m, request, 0, status, why) == GH_OK) {
            *status = request ? 400 : 502;
            *why = e != HPE_OK ? http_errno_description(e)
                               : "malformed message head";
        }
        return GH_ERR;
    }
    if (http_check_framing(m, request, 1, status, why) != GH_OK)
        return GH_ERR;
    if (m->parser.http_major != 1) {
        *status = request ? 505 : 502;
        *why = "unsupported HTTP version";
        return GH_ERR;
    }
    m->upgrade = m->parser.upgrade;
    return GH_OK;
}

enum http_chunk_state {
    CH_SIZE = 0,        /* first hex digit of a chunk size */
    CH_SIZE_MORE,       /* more digits, BWS, ';' or CR */
    CH_SIZE_WS,         /* BWS after the size: only before ';' */
    CH_EXT,             /* chunk extension, up to CR (ignored) */
    CH_SIZE_LF,         /* LF after the size line */
    CH_DATA,
    CH_DATA_CR,
    CH_DATA_LF,
    CH_TRAILER,         /* start of a trailer line, or the final CRLF */
    CH_TRAILER_NAME,    /* field name, up to ':' */
    CH_TRAILER_LINE,    /* field value, up to CR */
    CH_TRAILER_LF,
    CH_END_LF           /* LF of the final CRLF */
};

/* Bounds on what we skip, so a client cannot feed us endless framing. */
#define CHUNK_EXT_MAX     4096
#define CHUNK_TRAILER_MAX 16384

static ssize_t
http_chunked(struct gh_http_msg *m, const char *p, size_t n, const char **why)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = (unsigned char) p[i];
        int h;

        switch (m->chunk_state) {
        case CH_SIZE:
        case CH_SIZE_MORE:
            h = http_hex(c);
            if (h >= 0) {
                /* 15 digits: sizes stay below 2^60, no overflow games. */
                if (++m->chunk_aux > 15) {
                    *why = "chunk size too long";
                    return GH_ERR;
                }
                m->remaining = m->remaining * 16 + (uint64_t) h;
                m->chunk_state = CH_SIZE_MORE;
            } else if (m->chunk_state == CH_SIZE) {
                *why = "invalid chunk size";
                return GH_ERR;
            } else if (c == '\r') {
                m->chunk_state = CH_SIZE_LF;
            } else if (c == ';') {
                m->chunk_state = CH_EXT;
                m->chunk_aux = 0;
            } else if (c == ' ' || c == '\t') {
                m->chunk_state = CH_SIZE_WS;
            } else {
                *why = "invalid chunk size";
                return GH_ERR;
            }
            i++;
            break;
        case CH_SIZE_WS:
            if (c == ';') {
                m->chunk_state = CH_EXT;
                m->chunk_aux = 0;
            } else if (c != ' ' && c != '\t') {
                *why = "invalid chunk size";
                return GH_ERR;
            }
            i++;
            break;
        case CH_EXT:
            if (c == '\r') {
                m->chunk_state = CH_SIZE_LF;
            } else if ((c < 0x20 && c != '\t') || c == 0x7f
                       || ++m->chunk_aux > CHUNK_EXT_MAX) {
                *why = "invalid chunk extension";
                return GH_ERR;
            }
            i++;
            break;
        case CH_SIZE_LF:
            if (c != '\n') {
                *why = "chunk size line not ended by CRLF";
                return GH_ERR;
            }
            i++;
            m->chunk_aux = 0;
            m->chunk_state = m->remaining ? CH_DATA : CH_TRAILER;
            /* A chunk declared past the limit is refused now, not once
             * its bytes have come (and perhaps been relayed). */
            m->declared += m->remaining;
            if (m->body_max != 0 && m->declared > m->body_max) {
                m->too_large = 1;
                *why = "chunked body larger than the limit";
                return GH_ERR;
            }
            break;
        case CH_DATA: {
            size_t k = (size_t) GH_MIN((uint64_t) (n - i), m->remaining);

            if (m->on_body != NULL && m->on_body(m->arg, p + i, k) != GH_OK) {
                *why = "body sink failed";
                return GH_ERR;
            }
            i += k;
            m->remaining -= k;
            if (m->remaining == 0)
                m->chunk_state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (c != (m->chunk_state == CH_DATA_CR ? '\r' : '\n')) {
                *why = "chunk data not followed by CRLF";
                return GH_ERR;
            }
            i++;
            if (m->chunk_state == CH_DATA_LF) {
                m->chunk_state = CH_SIZE;
                m->chunk_aux = 0;
            } else {
                m->chunk_state = CH_DATA_LF;
            }
            break;
        case CH_TRAILER:
        case CH_TRAILER_NAME:
            /* RFC 9112 7.1.2: the trailer section is field lines, with the
             * head's rules: a token, then ':' at once; no obs-fold.  "0"
             * CRLF and then a request line is not a trailer: it hides a
             * request from a parser that stops at "0" CRLF. */
            if (c == '\r' && m->chunk_state == CH_TRAILER) {
                m->chunk_state = CH_END_LF;
            } else if (c == ':' && m->chunk_state == CH_TRAILER_NAME) {
                m->chunk_state = CH_TRAILER_LINE;
            } else if (!http_tchar[c] || ++m->chunk_aux > CHUNK_TRAILER_MAX) {
                *why = "invalid trailer section";
                return GH_ERR;
            } else {
                m->chunk_state = CH_TRAILER_NAME;
            }
            i++;
            break;
        case CH_TRAILER_LINE:
            /* Trailer fields are dropped (RFC 9112 7.1.2 allows it), but
             * must still be lines of visible text of bounded length. */
            if (c == '\r') {
                m->chunk_state = CH_TRAILER_LF;
            } else if ((c < 0x20 && c != '\t') || c == 0x7f
                       || ++m->chunk_aux > CHUNK_TRAILER_MAX) {
                *why = "invalid trailer section";
                return GH_ERR;
            }
            i++;
            break;
        case CH_TRAILER_LF:
        case CH_END_LF:
            if (c != '\n') {
                *why = "trailer line not ended by CRLF";
                return GH_ERR;
            }
            i++;
            if (m->chunk_state == CH_END_LF) {
                m->complete = 1;
                return (ssize_t) i;
            }
            m->chunk_state = CH_TRAILER;
            break;
        default:
            *why = "chunk decoder in a bad state";
            return GH_ERR;
        }
    }
    return (ssize_t) i;
}

ssize_t
gh_http_feed_body(struct gh_http_msg *m, const char *p, size_t n,
                  const char **why)
{
    if (m->complete)
        return 0;
    if (n == 0) {
        /* The peer closed.  Only a body that runs to the close ends so
         * (RFC 9112 6.3 (8)); anything else was cut short. */
        if (!m->chunked && m->content_length < 0) {
            m->complete = 1;
            return 0;
        }
        *why = "connection closed before the end of the body";
        return GH_ERR;
    }
    if (m->chunked)
        return http_chunked(m, p, n, why);
    if (m->content_length >= 0) {
        size_t k = (size_t) GH_MIN((uint64_t) n, m->remaining);

        if (m->on_body != NULL && m->on_body(m->arg, p, k) != GH_OK) {
            *why = "body sink failed";
            return GH_ERR;
        }
        m->remaining -= k;
        if (m->remaining == 0)
            m->complete = 1;
        return (ssize_t) k;
    }
    if (m->on_body != NULL && m->on_body(m->arg, p, n) != GH_OK) {
        *why = "body sink failed";
        return GH_ERR;
    }
    return (ssize_t) n;
}

const char *
gh_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:  return "Unknown";
    }
}
