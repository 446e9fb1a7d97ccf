#ifndef GH_WORKER_ROUTE_H
#define GH_WORKER_ROUTE_H

/* Site choice by Host and route choice by path.  Pure; never blocks. */

#include <stddef.h>

#include "conf/conf.h"
#include "worker/http.h"

/*
 * The site among SITES (those sharing one listen address) for HOST (the Host
 * header value, may carry ":port", any case; NULL/empty when absent): exact
 * name, then the longest matching "*.suffix" wildcard, then the first site
 * without hosts, then the first site.
 */
const struct gh_site *gh_route_site(const struct gh_site *const *sites,
                                    uint32_t nsites, const char *host,
                                    size_t hostlen);

/* What route matching looks at in a request. */
struct gh_route_req {
    const char               *path;     /* normalised, NUL-terminated */
    size_t                    path_len;
    const char               *host;     /* Host or the target's authority,
                                           may carry ":port"; NULL: none */
    size_t                    host_len;
    struct gh_str             query;    /* after '?', without '#...' */
    unsigned                  method;   /* enum http_method */
    const struct gh_http_msg *msg;      /* the request's header fields */
};

/*
 * The route of SITE for RQ.  Routes are tried in the loader's order
 * (path_exact, then path_regex, then prefixes longest first; file order
 * within each); the first whose path and conditions (host, header,
 * cookie, query) all match and whose methods allow RQ's method is taken.
 * A route that matches but for its method does not let the request fall
 * through to another path: only the following routes with the same path
 * may still take it.  Returns NULL when no route takes RQ; then *ALLOW is
 * the union of the methods of the routes refused by method only (answer
 * 405 with them), or 0 (answer 404).
 */
const struct gh_route *gh_route_match(const struct gh_site *site,
                                      const struct gh_route_req *rq,
                                      uint64_t *allow);

/* The first route whose prefix (path) matches PATH, ignoring every
 * condition: for tests and tools.  NULL when none. */
const struct gh_route *gh_route_find(const struct gh_site *site,
                                     const char *path, size_t len);

/*
 * ACL's verdict on ADDR (16 bytes; IPv4 as ::ffff:a.b.c.d): the first rule
 * whose block holds it decides; with none, allowed unless the list has an
 * allow rule.  An empty ACL allows everything.
 */
int gh_route_acl_allows(const struct gh_acl *acl, const uint8_t addr[16]);

#endif
