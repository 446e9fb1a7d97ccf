/*
 * gh_route_site (Host to site: exact, wildcard, default, fallback) and
 * gh_route_find (longest path prefix), on sites built by hand.
 */

#include <string.h>

#include "tests/unit/tap.h"
#include "worker/core/gh.h"
#include "worker/route.h"

/* Site hosts are lower-case, as the loader stores them. */
static const char *h_exact[] = { "example.com", "www.example.com" };
static const char *h_wild[] = { "*.example.com" };
static const char *h_wild2[] = { "*.b.example.com" };
static const char *h_other[] = { "other.org", "[::1]", "127.0.0.1" };

static struct gh_site s_exact = { .hosts = h_exact, .nhosts = 2, .index = 0 };
static struct gh_site s_wild = { .hosts = h_wild, .nhosts = 1, .index = 1 };
static struct gh_site s_wild2 = { .hosts = h_wild2, .nhosts = 1, .index = 2 };
static struct gh_site s_other = { .hosts = h_other, .nhosts = 3, .index = 3 };
static struct gh_site s_any = { .nhosts = 0, .index = 4 };
static struct gh_site s_any2 = { .nhosts = 0, .index = 5 };

static const struct gh_site *all[] = {
    &s_exact, &s_wild, &s_wild2, &s_other, &s_any, &s_any2
};

/* Index of the site chosen among SITES for HOST, or -1 for NULL. */
static long long
pick(const struct gh_site *const *sites, uint32_t n, const char *host)
{
    const struct gh_site *s;

    s = gh_route_site(sites, n, host, host ? strlen(host) : 0);
    return s ? (long long) s->index : -1;
}

#define site(host, want) \
    is_int(pick(all, GH_NELEM(all), host), want, "%s -> site %d", \
           host ? host : "(null)", want)

static void
test_site(void)
{
    subtest("exact names") {
        site("example.com", 0);
        site("www.example.com", 0);
        site("other.org", 3);
        site("127.0.0.1", 3);
    }

    subtest("case, port, trailing dot") {
        site("EXAMPLE.com", 0);
        site("Www.Example.COM", 0);
        site("example.com:8080", 0);
        site("example.com:", 0);
        site("example.com.", 0);
        site("Example.COM.:8443", 0);
        site("127.0.0.1:80", 3);
        site("example.com..", 4);       /* one dot only */
        site("example.co", 4);
        site("example.comx", 4);
        site("xexample.com", 4);
    }

    subtest("IPv6 literals") {
        site("[::1]", 3);
        site("[::1]:8080", 3);
        site("[::2]:8080", 4);
        site("[::1", 4);                /* no ']': not cut at a colon */
        site("::1", 4);
    }

    subtest("wildcards") {
        site("a.example.com", 1);
        site("A.Example.Com:81", 1);
        site("a.b.c.example.com", 1);
        site("a.b.example.com", 2);     /* the longer wildcard */
        site("x.A.B.example.com", 2);
        site("b.example.com", 1);       /* not "*.b.example.com" itself */
        site("example.com", 0);         /* exact wins, and "*." needs more */
        site(".example.com", 4);        /* empty label: no match */
        site("aexample.com", 4);
        site("a.example.com.", 1);

        /* Exact wins over a wildcard listed earlier. */
        {
            static const char *hw[] = { "*.example.com" };
            static const char *hx[] = { "a.example.com" };
            struct gh_site w = { .hosts = hw, .nhosts = 1, .index = 10 };
            struct gh_site x = { .hosts = hx, .nhosts = 1, .index = 11 };
            const struct gh_site *v[] = { &w, &x };

            is_int(pick(v, 2, "a.example.com"), 11,
                   "exact after a wildcard still wins");
            is_int(pick(v, 2, "b.example.com"), 10, "wildcard for others");
        }
        /* Longest wildcard wins whatever the order. */
        {
            const struct gh_site *v[] = { &s_wild2, &s_wild };

            is_int(pick(v, 2, "a.b.example.com"), 2,
                   "longer wildcard listed first");
            is_int(pick(v, 2, "a.c.example.com"), 1,
                   "shorter wildcard when the longer does not match");
        }
    }

    subtest("default site and last resort") {
        site("unknown.net", 4);
        site("", 4);
        site(NULL, 4);
        is_int(gh_route_site(all, GH_NELEM(all), "example.com", 0)->index, 4,
               "hostlen 0 is no host");
        {
            const struct gh_site *v[] = { &s_other, &s_exact };

            is_int(pick(v, 2, "unknown.net"), 3,
                   "no host-less site: the first site");
            is_int(pick(v, 2, NULL), 3, "no Host: the first site");
            is_int(pick(v, 2, "example.com"), 0, "exact still found");
        }
        {
            const struct gh_site *v[] = { &s_exact, &s_any2, &s_any };

            is_int(pick(v, 3, "unknown.net"), 5,
                   "the first host-less site");
        }
        ok(gh_route_site(all, 0, "example.com", 11) == NULL,
           "no sites: NULL");
    }

    subtest("host is a slice, not a C string") {
        const char *buf = "example.comXYZ";

        is_int(gh_route_site(all, GH_NELEM(all), buf, 11)->index, 0,
               "only hostlen bytes are read");
        is_int(gh_route_site(all, GH_NELEM(all), "a.example.com:1", 13)->index,
               1, "wildcard on a slice");
    }
}

/* ---- gh_route_find ---------------------------------------------------- */

#define R(p) { .path = (p), .path_len = sizeof(p) - 1 }

/* Longest first, as the loader sorts them. */
static struct gh_route routes[] = {
    R("/api/v2/"), R("/static/"), R("/api/"), R("/api"), R("/"),
};
static struct gh_site s_routes = { .routes = routes,
                                   .nroutes = GH_NELEM(routes) };

static const char *
find(const struct gh_site *s, const char *path)
{
    const struct gh_route *r = gh_route_find(s, path, strlen(path));

    return r ? r->path : NULL;
}

#define route(path, want) \
    is_str(find(&s_routes, path), want, "%s -> %s", path, want)

static void
test_find(void)
{
    subtest("longest prefix") {
        route("/", "/");
        route("/index.html", "/");
        route("/api/v2/users", "/api/v2/");
        route("/api/v2/", "/api/v2/");
        route("/api/v2", "/api/");      /* shorter than "/api/v2/" */
        route("/api/v1/x", "/api/");
        route("/api/", "/api/");
        route("/api", "/api");
        route("/apiary", "/api");       /* a plain prefix, as nginx */
        route("/static/a.css", "/static/");
        route("/static", "/");
        route("/STATIC/a.css", "/");    /* paths are case-sensitive */
    }

    subtest("no match") {
        static struct gh_route only[] = { R("/api/"), R("/a") };
        struct gh_site s = { .routes = only, .nroutes = 2 };
        struct gh_site none = { .nroutes = 0 };

        is_str(find(&s, "/b"), NULL, "no route for /b");
        is_str(find(&s, "/"), NULL, "shorter than every route");
        is_str(find(&s, "/a"), "/a", "exact");
        is_str(find(&s, "/api/x"), "/api/", "longest");
        is_str(find(&none, "/"), NULL, "no routes at all");
    }

    subtest("path is a slice") {
        const struct gh_route *r;

        r = gh_route_find(&s_routes, "/api/v2/x", 5);   /* "/api/" */
        is_str(r ? r->path : NULL, "/api/", "only len bytes are read");
        r = gh_route_find(&s_routes, "/api/v2/x", 0);
        is_str(r ? r->path : NULL, NULL, "empty path: no route");
    }
}

static void
v4(uint8_t a[16], int x, int y, int z, int w)
{
    memset(a, 0, 16);
    a[10] = a[11] = 0xff;
    a[12] = (uint8_t) x;
    a[13] = (uint8_t) y;
    a[14] = (uint8_t) z;
    a[15] = (uint8_t) w;
}

static void
test_acl(void)
{
    uint8_t a[16];

    subtest("acl: first match wins, default by the allow list") {
        struct gh_cidr r[3];
        struct gh_acl acl = { .rules = r, .n = 3, .has_allow = 1 };
        struct gh_acl empty = { 0 };

        v4(r[0].addr, 10, 1, 2, 3);     /* deny 10.1.2.3/32 */
        r[0].bits = 128;
        r[0].allow = 0;
        v4(r[1].addr, 10, 0, 0, 0);     /* allow 10.0.0.0/8 */
        r[1].bits = 96 + 8;
        r[1].allow = 1;
        v4(r[2].addr, 192, 168, 0, 0);  /* allow 192.168.0.0/23 */
        r[2].bits = 96 + 23;
        r[2].allow = 1;
        v4(a, 10, 1, 2, 3);
        ok(!gh_route_acl_allows(&acl, a), "10.1.2.3 denied (first rule)");
        v4(a, 10, 1, 2, 4);
        ok(gh_route_acl_allows(&acl, a), "10.1.2.4 allowed by the /8");
        v4(a, 192, 168, 1, 255);
        ok(gh_route_acl_allows(&acl, a), "192.168.1.255 inside the /23");
        v4(a, 192, 168, 2, 0);
        ok(!gh_route_acl_allows(&acl, a), "192.168.2.0 outside the /23: "
           "no match, and an allow list exists");
        v4(a, 11, 0, 0, 1);
        ok(!gh_route_acl_allows(&acl, a), "11.0.0.1: no match: refused");
        ok(gh_route_acl_allows(&empty, a), "no rules: allowed");
        acl.has_allow = 0;
        acl.n = 1;
        ok(gh_route_acl_allows(&acl, a), "deny only: others allowed");
    }
    subtest("acl: all and IPv6") {
        struct gh_cidr r[2] = { { .bits = 0, .allow = 0 } };
        struct gh_acl acl = { .rules = r, .n = 1 };
        uint8_t six[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

        v4(a, 127, 0, 0, 1);
        ok(!gh_route_acl_allows(&acl, a), "deny all: IPv4 refused");
        ok(!gh_route_acl_allows(&acl, six), "deny all: IPv6 refused");
        memcpy(r[0].addr, six, 4);
        memset(r[0].addr + 4, 0, 12);
        r[0].bits = 32;
        r[0].allow = 1;
        acl.has_allow = 1;
        ok(gh_route_acl_allows(&acl, six), "2001:db8::1 in 2001:db8::/32");
        six[3] = 0xb9;
        ok(!gh_route_acl_allows(&acl, six), "2001:db9::1 is not");
        ok(!gh_route_acl_allows(&acl, a), "an IPv4 client is not in an "
           "IPv6 block");
    }
}

int
main(void)
{
    test_site();
    test_find();
    test_acl();
    return done_testing();
}
