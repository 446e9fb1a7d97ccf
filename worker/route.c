#include <regex.h>
#include <string.h>
#include <strings.h>

#include "worker/route.h"

/* HOST (no port, no trailing dot, LEN > 0) against the name H, which may
 * be a "*.suffix" wildcard: returns 0 (no), else the match's strength
 * (exact names beat wildcards, longer wildcards beat shorter ones). */
static size_t
route_host_match(const char *h, const char *host, size_t len)
{
    size_t hl = strlen(h);

    if (h[0] == '*' && h[1] == '.') {
        /* "*.example.com" matches "a.example.com", not the bare
         * "example.com" (as nginx's leading wildcard). */
        size_t sl = hl - 1;     /* ".example.com" */

        return len > sl && strncasecmp(host + len - sl, h + 1, sl) == 0
               ? sl : 0;
    }
    return hl == len && strncasecmp(h, host, hl) == 0 ? (size_t) -1 : 0;
}

/* Drop the port and one trailing dot: "Example.COM.:8080". */
static size_t
route_host_len(const char *host, size_t hostlen)
{
    if (host == NULL)
        return 0;
    if (host[0] != '[') {
        const char *colon = memchr(host, ':', hostlen);

        if (colon != NULL)
            hostlen = (size_t) (colon - host);
    } else {
        const char *rb = memchr(host, ']', hostlen);

        if (rb != NULL)
            hostlen = (size_t) (rb - host) + 1;
    }
    if (hostlen > 0 && host[hostlen - 1] == '.')
        hostlen--;
    return hostlen;
}

const struct gh_site *
gh_route_site(const struct gh_site *const *sites, uint32_t nsites,
              const char *host, size_t hostlen)
{
    const struct gh_site *wild = NULL, *anyhost = NULL;
    size_t wild_len = 0;

    hostlen = route_host_len(host, hostlen);
    for (uint32_t i = 0; i < nsites; i++) {
        const struct gh_site *s = sites[i];

        if (s->nhosts == 0 && anyhost == NULL)
            anyhost = s;
        for (uint32_t k = 0; k < s->nhosts && hostlen > 0; k++) {
            size_t m = route_host_match(s->hosts[k], host, hostlen);

            if (m == (size_t) -1)
                return s;
            if (m > wild_len) {
                wild = s;
                wild_len = m;
            }
        }
    }
    if (wild != NULL)
        return wild;
    if (anyhost != NULL)
        return anyhost;
    return nsites > 0 ? sites[0] : NULL;
}

const struct gh_route *
gh_route_find(const struct gh_site *site, const char *path, size_t len)
{
    for (uint32_t i = 0; i < site->nroutes; i++) {
        const struct gh_route *r = &site->routes[i];

        if (r->path_kind == GH_PATH_PREFIX && r->path_len <= len
            && memcmp(r->path, path, r->path_len) == 0)
            return r;
    }
    return NULL;
}

static int
route_path_matches(const struct gh_route *r, const struct gh_route_req *rq)
{
    switch (r->path_kind) {
    case GH_PATH_EXACT:
        return r->path_len == rq->path_len
               && memcmp(r->path, rq->path, r->path_len) == 0;
    case GH_PATH_REGEX:
        return regexec(r->regex, rq->path, 0, NULL, 0) == 0;
    default:
        return r->path_len <= rq->path_len
               && memcmp(r->path, rq->path, r->path_len) == 0;
    }
}

static int
route_same_path(const struct gh_route *a, const struct gh_route *b)
{
    return a->path_kind == b->path_kind && a->path_len == b->path_len
           && memcmp(a->path, b->path, a->path_len) == 0;
}

static int
route_eq(struct gh_str s, const char *p, size_t len)
{
    return s.len == len && memcmp(s.p, p, len) == 0;
}

/* Some field NAME of MSG has the value M->value (or any value). */
static int
route_header_matches(const struct gh_match *m, const struct gh_http_msg *msg)
{
    for (uint32_t i = 0; i < msg->nhdrs; i++) {
        const struct gh_hdr *h = &msg->hdrs[i];

        if (h->name.len == m->name_len
            && strncasecmp(h->name.p, m->name, m->name_len) == 0
            && (m->value == NULL || route_eq(h->value, m->value,
                                             m->value_len)))
            return 1;
    }
    return 0;
}

/*
 * In a list of "name=value" pairs separated by SEP (';' and spaces for
 * Cookie, '&' for a query), is there M (by name, and value if given)?
 */
static int
route_pairs_match(const struct gh_match *m, const char *p, size_t len,
                  char sep)
{
    const char *end = p + len;

    while (p < end) {
        const char *e = memchr(p, sep, (size_t) (end - p)), *eq;
        size_t n;

        if (e == NULL)
            e = end;
        while (sep == ';' && p < e && (*p == ' ' || *p == '\t'))
            p++;
        n = (size_t) (e - p);
        while (sep == ';' && n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        eq = memchr(p, '=', n);
        if (eq == NULL) {
            if (m->value == NULL && n == m->name_len
                && memcmp(p, m->name, n) == 0)
                return 1;
        } else if ((size_t) (eq - p) == m->name_len
                   && memcmp(p, m->name, m->name_len) == 0
                   && (m->value == NULL
                       || ((size_t) (p + n - eq - 1) == m->value_len
                           && memcmp(eq + 1, m->value, m->value_len) == 0))) {
            return 1;
        }
        p = e + 1;
    }
    return 0;
}

static int
route_cookie_matches(const struct gh_match *m, const struct gh_http_msg *msg)
{
    for (uint32_t i = 0; i < msg->nhdrs; i++) {
        const struct gh_hdr *h = &msg->hdrs[i];

        if (h->name.len == 6 && strncasecmp(h->name.p, "cookie", 6) == 0
            && route_pairs_match(m, h->value.p, h->value.len, ';'))
            return 1;
    }
    return 0;
}

static int
route_conditions_match(const struct gh_route *r,
                       const struct gh_route_req *rq, size_t hostlen)
{
    uint32_t i;

    if (r->nhosts > 0) {
        for (i = 0; i < r->nhosts; i++)
            if (hostlen > 0 && route_host_match(r->hosts[i], rq->host,
                                                hostlen) != 0)
                break;
        if (i == r->nhosts)
            return 0;
    }
    for (i = 0; i < r->nheaders; i++)
        if (rq->msg == NULL || !route_header_matches(&r->headers[i], rq->msg))
            return 0;
    for (i = 0; i < r->ncookies; i++)
        if (rq->msg == NULL || !route_cookie_matches(&r->cookies[i], rq->msg))
            return 0;
    for (i = 0; i < r->nqueries; i++)
        if (!route_pairs_match(&r->queries[i], rq->query.p, rq->query.len,
                               '&'))
            return 0;
    return 1;
}

const struct gh_route *
gh_route_match(const struct gh_site *site, const struct gh_route_req *rq,
               uint64_t *allow)
{
    const struct gh_route *refused = NULL;
    size_t hostlen = route_host_len(rq->host, rq->host_len);

    *allow = 0;
    for (uint32_t i = 0; i < site->nroutes; i++) {
        const struct gh_route *r = &site->routes[i];

        if (refused != NULL && !route_same_path(r, refused))
            continue;   /* no falling through to another path */
        if (!route_path_matches(r, rq) || !route_conditions_match(r, rq,
                                                                  hostlen))
            continue;
        if (r->methods == 0 || (r->methods & (1ULL << (rq->method & 63))))
            return r;
        if (refused == NULL)
            refused = r;
        *allow |= r->methods;
    }
    return NULL;
}

static int
route_cidr_has(const struct gh_cidr *c, const uint8_t addr[16])
{
    uint32_t full = c->bits / 8, rest = c->bits % 8;

    if (memcmp(c->addr, addr, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    return ((c->addr[full] ^ addr[full]) & (uint8_t) (0xff << (8 - rest)))
           == 0;
}

int
gh_route_acl_allows(const struct gh_acl *acl, const uint8_t addr[16])
{
    for (uint32_t i = 0; i < acl->n; i++)
        if (route_cidr_has(&acl->rules[i], addr))
            return acl->rules[i].allow;
    return !acl->has_allow;
}
