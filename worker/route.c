#include <string.h>
#include <strings.h>

#include "worker/route.h"

const struct gh_site *
gh_route_site(const struct gh_site *const *sites, uint32_t nsites,
              const char *host, size_t hostlen)
{
    const struct gh_site *wild = NULL, *anyhost = NULL;
    size_t wild_len = 0;

    if (host != NULL && hostlen > 0) {
        /* Drop the port and one trailing dot: "Example.COM.:8080". */
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
    } else {
        hostlen = 0;
    }
    for (uint32_t i = 0; i < nsites; i++) {
        const struct gh_site *s = sites[i];

        if (s->nhosts == 0 && anyhost == NULL)
            anyhost = s;
        for (uint32_t k = 0; k < s->nhosts && hostlen > 0; k++) {
            const char *h = s->hosts[k];
            size_t hl = strlen(h);

            if (h[0] == '*' && h[1] == '.') {
                /* "*.example.com" matches "a.example.com", not the bare
                 * "example.com" (as nginx's leading wildcard). */
                size_t sl = hl - 1;     /* ".example.com" */

                if (hostlen > sl && sl > wild_len
                    && strncasecmp(host + hostlen - sl, h + 1, sl) == 0) {
                    wild = s;
                    wild_len = sl;
                }
            } else if (hl == hostlen && strncasecmp(h, host, hl) == 0) {
                return s;
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

        if (r->path_len <= len && memcmp(r->path, path, r->path_len) == 0)
            return r;
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
