#ifndef GH_WORKER_ROUTE_H
#define GH_WORKER_ROUTE_H

/* Site choice by Host and route choice by path.  Pure; never blocks. */

#include "conf/conf.h"

/*
 * The site among SITES (those sharing one listen address) for HOST (the Host
 * header value, may carry ":port", any case; NULL/empty when absent): exact
 * name, then the longest matching "*.suffix" wildcard, then the first site
 * without hosts, then the first site.
 */
const struct gh_site *gh_route_site(const struct gh_site *const *sites,
                                    uint32_t nsites, const char *host,
                                    size_t hostlen);

/* The route whose path is the longest prefix of PATH (normalised), or
 * NULL.  Routes are sorted longest first by the config loader. */
const struct gh_route *gh_route_find(const struct gh_site *site,
                                     const char *path, size_t len);

/*
 * ACL's verdict on ADDR (16 bytes; IPv4 as ::ffff:a.b.c.d): the first rule
 * whose block holds it decides; with none, allowed unless the list has an
 * allow rule.  An empty ACL allows everything.
 */
int gh_route_acl_allows(const struct gh_acl *acl, const uint8_t addr[16]);

#endif
