/*
 * gh_route_site (Host to site: exact, wildcard, default, fallback) and
 * gh_route_find (longest path prefix), on sites built by hand; and
 * gh_route_match (path kinds, their order, conditions, methods), on sites
 * loaded from config text written under a mkdtemp() directory.
 */

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* ---- gh_route_match, on sites loaded from config text ------------------- */

static char tmpdir[64];

/* Load TEXT (written to tmpdir/r.conf); NULL, and a failed test, if it is
 * refused. */
static struct gh_conf *
conf_text(const char *name, const char *text)
{
    char path[128], err[1024];
    struct gh_conf *c;
    FILE *f;

    (void) snprintf(path, sizeof(path), "%s/r.conf", tmpdir);
    f = fopen(path, "w");
    if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
        ok(0, "%s: cannot write %s", name, path);
        return NULL;
    }
    c = gh_conf_load(path, err, sizeof(err));
    if (!ok(c != NULL, "%s: config loads", name))
        diag("%s", err);
    return c;
}

/* A request as gh_route_match sees it. */
struct t_req {
    unsigned    method;         /* enum http_method */
    const char *path;           /* normalised */
    const char *host;           /* NULL: none */
    const char *query;          /* NULL: none */
    const char *hdrs[17];       /* name, value, ..., NULL */
};

/*
 * What SITE does with T: the route's name, "405 GET HEAD" (the Allow
 * methods) or "404".  Written to OUT.
 */
static const char *
outcome(const struct gh_site *site, const struct t_req *t, char *out,
        size_t len)
{
    struct gh_hdr h[8];
    struct gh_http_msg msg;
    struct gh_route_req rq;
    const struct gh_route *r;
    uint64_t allow = 0xdeadbeef;    /* must be reset */
    uint32_t n = 0;
    size_t o;

    memset(&msg, 0, sizeof(msg));
    memset(h, 0, sizeof(h));
    for (; n < 8 && t->hdrs[2 * n] != NULL; n++) {
        h[n].name = (struct gh_str) { t->hdrs[2 * n],
                                      strlen(t->hdrs[2 * n]) };
        h[n].value = (struct gh_str) { t->hdrs[2 * n + 1],
                                       strlen(t->hdrs[2 * n + 1]) };
    }
    msg.hdrs = h;
    msg.nhdrs = n;
    msg.cap = 8;
    rq = (struct gh_route_req) {
        .path = t->path, .path_len = strlen(t->path),
        .host = t->host, .host_len = t->host ? strlen(t->host) : 0,
        .query = { t->query, t->query ? strlen(t->query) : 0 },
        .method = t->method, .msg = &msg,
    };
    r = gh_route_match(site, &rq, &allow);
    if (r != NULL) {
        /* ALLOW is only meaningful without a route. */
        (void) snprintf(out, len, "%s", r->name);
        return out;
    }
    if (allow == 0) {
        (void) snprintf(out, len, "404");
        return out;
    }
    o = (size_t) snprintf(out, len, "405");
    for (unsigned m = 0; m < 64 && o + 16 < len; m++)
        if (allow & (1ULL << m))
            o += (size_t) snprintf(out + o, len - o, " %s",
                                   http_method_str((enum http_method) m));
    return out;
}

/* METHOD PATH (and the struct t_req fields after them) on SITE must come
 * out as WANT. */
#define takes(site, want, m, p, ...) do {                                \
    struct t_req t_ = { .method = (m), .path = (p), __VA_ARGS__ };      \
    char o_[256];                                                       \
    is_str(outcome((site), &t_, o_, sizeof(o_)), (want),                \
           "%s %s%s%s%s%s -> %s", http_method_str(t_.method), t_.path,  \
           t_.query ? "?" : "", t_.query ? t_.query : "",               \
           t_.host ? " host " : "", t_.host ? t_.host : "", (want));    \
} while (0)

#define OPEN "sites = ( { listen = \"127.0.0.1:8080\"; routes = (\n"
#define CLOSE "); } );\n"
#define ACT " return = { status = 204; };"

static void
test_match_order(void)
{
    static const char text[] =
        OPEN
        "  { path = \"/\";" ACT " },\n"
        "  { path = \"/api/\";" ACT " },\n"
        "  { path_regex = \"^/api/v[0-9]+/\";" ACT " },\n"
        "  { path_exact = \"/api/v1/status\";" ACT " },\n"
        "  { path_regex = \"\\\\.json$\";" ACT " },\n"
        "  { path = \"/api/v1/\";" ACT " },\n"
        "  { path_exact = \"/login\";" ACT " },\n"
        "  { path = \"/login\";" ACT " },\n"
        "  { path_regex = \"^/(img|css)/[a-z]+\\\\.(png|css)$\";" ACT " },\n"
        "  { path = \"/b/\";" ACT " },\n"
        "  { path = \"/a/\";" ACT " }\n"
        CLOSE;
    struct gh_conf *c = conf_text("order", text);
    const struct gh_site *s;

    if (c == NULL)
        return;
    s = &c->sites[0];
    takes(s, "=/api/v1/status", HTTP_GET, "/api/v1/status");
    takes(s, "~^/api/v[0-9]+/", HTTP_GET, "/api/v1/status/x");
    takes(s, "~^/api/v[0-9]+/", HTTP_GET, "/api/v1/",
          .query = "x=1");        /* regex before the longer prefix */
    takes(s, "~^/api/v[0-9]+/", HTTP_GET, "/api/v1/x.json");
    takes(s, "~\\.json$", HTTP_GET, "/api/x.json");
    takes(s, "~\\.json$", HTTP_GET, "/x.json");
    takes(s, "/api/", HTTP_GET, "/api/x.jsonp");
    takes(s, "/api/", HTTP_GET, "/api/vx/");
    takes(s, "/api/", HTTP_GET, "/api/v/1/");
    takes(s, "/", HTTP_GET, "/API/v1/");            /* case-sensitive */
    takes(s, "=/login", HTTP_GET, "/login");
    takes(s, "=/login", HTTP_POST, "/login", .query = "next=/");
    takes(s, "/login", HTTP_GET, "/login/");
    takes(s, "/login", HTTP_GET, "/loginx");
    takes(s, "/", HTTP_GET, "/logi");
    takes(s, "~^/(img|css)/[a-z]+\\.(png|css)$", HTTP_GET, "/img/a.png");
    takes(s, "~^/(img|css)/[a-z]+\\.(png|css)$", HTTP_GET, "/css/ab.css");
    takes(s, "/", HTTP_GET, "/img/a.png/x");
    takes(s, "/", HTTP_GET, "/img/A.png");
    takes(s, "/", HTTP_GET, "/x/img/a.png");        /* anchored */
    takes(s, "/a/", HTTP_GET, "/a/b/");
    takes(s, "/b/", HTTP_GET, "/b/a/");
    takes(s, "/", HTTP_GET, "/");
    gh_conf_free(c);

    /* No route for the path: 404, Allow stays 0. */
    c = conf_text("no catch-all", OPEN
                  "  { path = \"/api/\";" ACT " },\n"
                  "  { path_exact = \"/x\";" ACT " },\n"
                  "  { path_regex = \"^/r$\";" ACT " }\n" CLOSE);
    if (c == NULL)
        return;
    s = &c->sites[0];
    takes(s, "404", HTTP_GET, "/");
    takes(s, "404", HTTP_GET, "/api");
    takes(s, "404", HTTP_GET, "/x/");
    takes(s, "404", HTTP_GET, "/r/");
    takes(s, "=/x", HTTP_GET, "/x");
    takes(s, "~^/r$", HTTP_GET, "/r");
    ok(gh_route_find(s, "/x", 2) == NULL, "gh_route_find: prefixes only");
    gh_conf_free(c);
}

static void
test_match_conditions(void)
{
    static const char text[] =
        OPEN
        "  { path = \"/api/\"; name = \"canary\"; header = \"X-Canary: 1\";"
        ACT " },\n"
        "  { path = \"/api/\"; name = \"hosted\";"
        " host = [ \"api.example.com\", \"*.example.org\" ];" ACT " },\n"
        "  { path = \"/api/\"; name = \"beta\"; cookie = \"beta=yes\";"
        ACT " },\n"
        "  { path = \"/api/\"; name = \"sess\"; cookie = \"sess\";" ACT " },\n"
        "  { path = \"/api/\"; name = \"debug\"; query = \"debug=1\";"
        ACT " },\n"
        "  { path = \"/api/\"; name = \"trace\"; query = \"trace\";" ACT " },\n"
        "  { path = \"/api/\"; name = \"empty\"; query = \"e=\";" ACT " },\n"
        "  { path = \"/api/\"; name = \"both\"; header = [ \"X-A: 1\","
        " \"X-B\" ];" ACT " },\n"
        "  { path = \"/api/\"; name = \"tok\"; cookie = \"tok=a=b\";"
        ACT " },\n"
        "  { path = \"/api\"; name = \"short\"; host = \"short.example.com\";"
        ACT " },\n"
        "  { path = \"/m/\"; name = \"multi\"; host = \"m.example.com\";"
        " header = \"X-M\"; cookie = \"m=1\"; query = \"m\";" ACT " },\n"
        "  { path = \"/\"; name = \"root\";" ACT " }\n"
        CLOSE;
    struct gh_conf *c = conf_text("conditions", text);
    const struct gh_site *s;

    if (c == NULL)
        return;
    s = &c->sites[0];

    subtest("header") {
        takes(s, "canary", HTTP_GET, "/api/x", .hdrs = { "X-Canary", "1" });
        takes(s, "canary", HTTP_GET, "/api/x", .hdrs = { "x-canary", "1" });
        takes(s, "canary", HTTP_GET, "/api/x", .hdrs = { "X-CANARY", "1" });
        takes(s, "root", HTTP_GET, "/api/x", .hdrs = { "X-Canary", "10" });
        takes(s, "root", HTTP_GET, "/api/x", .hdrs = { "X-Canary", "0" });
        takes(s, "root", HTTP_GET, "/api/x", .hdrs = { "X-Canary", "" });
        takes(s, "root", HTTP_GET, "/api/x", .hdrs = { "X-Canary-2", "1" });
        takes(s, "canary", HTTP_GET, "/api/x",
              .hdrs = { "X-Canary", "0", "X-Canary", "1" });
        takes(s, "root", HTTP_GET, "/api/x");
        takes(s, "root", HTTP_GET, "/other", .hdrs = { "X-Canary", "1" });
        /* a list: every one */
        takes(s, "both", HTTP_GET, "/api/x",
              .hdrs = { "X-B", "anything", "X-A", "1" });
        takes(s, "both", HTTP_GET, "/api/x", .hdrs = { "X-A", "1", "x-b", "" });
        takes(s, "root", HTTP_GET, "/api/x", .hdrs = { "X-A", "1" });
        takes(s, "root", HTTP_GET, "/api/x", .hdrs = { "X-B", "1" });
        takes(s, "root", HTTP_GET, "/api/x",
              .hdrs = { "X-A", "2", "X-B", "1" });
    }
    subtest("host") {
        takes(s, "hosted", HTTP_GET, "/api/", .host = "api.example.com");
        takes(s, "hosted", HTTP_GET, "/api/", .host = "API.Example.COM:8080");
        takes(s, "hosted", HTTP_GET, "/api/", .host = "api.example.com.");
        takes(s, "hosted", HTTP_GET, "/api/", .host = "x.example.org");
        takes(s, "hosted", HTTP_GET, "/api/", .host = "a.B.example.ORG:1");
        takes(s, "root", HTTP_GET, "/api/", .host = "example.org");
        takes(s, "root", HTTP_GET, "/api/", .host = "www.example.com");
        takes(s, "root", HTTP_GET, "/api/", .host = "api.example.com.evil");
        takes(s, "root", HTTP_GET, "/api/", .host = "xapi.example.com");
        takes(s, "root", HTTP_GET, "/api/", .host = "");
        takes(s, "root", HTTP_GET, "/api/");
        /* falls through to a shorter prefix, then further */
        takes(s, "short", HTTP_GET, "/api/x", .host = "short.example.com");
        takes(s, "short", HTTP_GET, "/apix", .host = "short.example.com:80");
        takes(s, "root", HTTP_GET, "/apix", .host = "long.example.com");
    }
    subtest("cookie") {
        takes(s, "beta", HTTP_GET, "/api/", .hdrs = { "Cookie", "beta=yes" });
        takes(s, "beta", HTTP_GET, "/api/",
              .hdrs = { "Cookie", "a=1; beta=yes" });
        takes(s, "beta", HTTP_GET, "/api/",
              .hdrs = { "Cookie", "a=1;beta=yes;c=3" });
        takes(s, "beta", HTTP_GET, "/api/",
              .hdrs = { "cookie", "  beta=yes \t;a=1" });
        takes(s, "beta", HTTP_GET, "/api/",
              .hdrs = { "COOKIE", "a=1;;  ; beta=yes" });
        takes(s, "beta", HTTP_GET, "/api/",
              .hdrs = { "Cookie", "a=1", "Cookie", "beta=yes" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "beta=yes2" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "xbeta=yes" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "beta=no" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "beta" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "beta=" });
        /* cookie names are case-sensitive (RFC 6265 5.3) */
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "Beta=yes" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "a=beta=yes" });
        takes(s, "root", HTTP_GET, "/api/",
              .hdrs = { "X-Cookie", "beta=yes" });
        takes(s, "root", HTTP_GET, "/api/",
              .hdrs = { "Set-Cookie", "beta=yes" });
        /* present, any value */
        takes(s, "sess", HTTP_GET, "/api/", .hdrs = { "Cookie", "sess=abc" });
        takes(s, "sess", HTTP_GET, "/api/", .hdrs = { "Cookie", "a; sess" });
        takes(s, "sess", HTTP_GET, "/api/", .hdrs = { "Cookie", "sess=" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "session=1" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "ses=1" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "" });
        /* a value with '=' in it */
        takes(s, "tok", HTTP_GET, "/api/", .hdrs = { "Cookie", "tok=a=b" });
        takes(s, "root", HTTP_GET, "/api/", .hdrs = { "Cookie", "tok=a" });
    }
    subtest("query") {
        takes(s, "debug", HTTP_GET, "/api/", .query = "debug=1");
        takes(s, "debug", HTTP_GET, "/api/", .query = "x=1&debug=1");
        takes(s, "debug", HTTP_GET, "/api/", .query = "debug=1&x=1");
        takes(s, "debug", HTTP_GET, "/api/", .query = "&&debug=1&");
        takes(s, "root", HTTP_GET, "/api/", .query = "debug=10");
        takes(s, "root", HTTP_GET, "/api/", .query = "debug");
        takes(s, "root", HTTP_GET, "/api/", .query = "debug=");
        takes(s, "root", HTTP_GET, "/api/", .query = "xdebug=1");
        takes(s, "root", HTTP_GET, "/api/", .query = "DEBUG=1");
        takes(s, "root", HTTP_GET, "/api/", .query = "x=debug=1");
        takes(s, "root", HTTP_GET, "/api/", .query = "debug%3D1");
        takes(s, "root", HTTP_GET, "/api/", .query = "");
        takes(s, "root", HTTP_GET, "/api/debug=1");
        /* present */
        takes(s, "trace", HTTP_GET, "/api/", .query = "trace");
        takes(s, "trace", HTTP_GET, "/api/", .query = "trace=");
        takes(s, "trace", HTTP_GET, "/api/", .query = "trace=0");
        takes(s, "trace", HTTP_GET, "/api/", .query = "a=1&trace");
        takes(s, "root", HTTP_GET, "/api/", .query = "traces");
        takes(s, "root", HTTP_GET, "/api/", .query = "tr");
        /* "e=": an empty value, not "present" */
        takes(s, "empty", HTTP_GET, "/api/", .query = "e=");
        takes(s, "empty", HTTP_GET, "/api/", .query = "a&e=&b");
        takes(s, "root", HTTP_GET, "/api/", .query = "e");
        takes(s, "root", HTTP_GET, "/api/", .query = "e=1");
        /* the first route whose conditions hold, in file order */
        takes(s, "debug", HTTP_GET, "/api/", .query = "trace&debug=1");
        takes(s, "canary", HTTP_GET, "/api/", .query = "debug=1",
              .hdrs = { "X-Canary", "1" });
    }
    subtest("all conditions together") {
        takes(s, "multi", HTTP_GET, "/m/", .host = "m.example.com",
              .query = "m", .hdrs = { "X-M", "", "Cookie", "m=1" });
        takes(s, "root", HTTP_GET, "/m/", .host = "n.example.com",
              .query = "m", .hdrs = { "X-M", "", "Cookie", "m=1" });
        takes(s, "root", HTTP_GET, "/m/", .host = "m.example.com",
              .hdrs = { "X-M", "", "Cookie", "m=1" });
        takes(s, "root", HTTP_GET, "/m/", .host = "m.example.com",
              .query = "m", .hdrs = { "Cookie", "m=1" });
        takes(s, "root", HTTP_GET, "/m/", .host = "m.example.com",
              .query = "m", .hdrs = { "X-M", "", "Cookie", "m=2" });
    }
    {
        /* No message at all: header and cookie conditions cannot hold. */
        struct gh_route_req rq = { .path = "/m/", .path_len = 3,
                                   .host = "m.example.com", .host_len = 13,
                                   .query = { "m", 1 }, .method = HTTP_GET };
        uint64_t allow = 1;
        const struct gh_route *r = gh_route_match(s, &rq, &allow);

        is_str(r ? r->name : NULL, "root", "msg NULL: conditions on fields "
               "fail, no crash");
        is_int(allow, 0, "... allow reset");
    }
    gh_conf_free(c);
}

static void
test_match_methods(void)
{
    static const char text[] =
        OPEN
        "  { path = \"/admin\"; name = \"admin-get\"; methods = [ \"GET\" ];"
        ACT " },\n"
        "  { path = \"/api\"; name = \"api-get\"; methods = \"GET\";" ACT " },\n"
        "  { path = \"/api\"; name = \"api-post\"; methods = [ \"POST\" ];"
        ACT " },\n"
        "  { path = \"/api\"; name = \"api-put\"; methods = [ \"PUT\" ];"
        " header = \"X-Admin\";" ACT " },\n"
        "  { path = \"/x/\"; name = \"x-beta\"; methods = [ \"GET\" ];"
        " header = \"X-Beta\";" ACT " },\n"
        "  { path = \"/x/\"; name = \"x\";" ACT " },\n"
        "  { path = \"/a/\"; name = \"a-get\"; methods = [ \"GET\" ];"
        ACT " },\n"
        "  { path = \"/b/\"; name = \"b\";" ACT " },\n"
        "  { path = \"/a/\"; name = \"a-post\"; methods = [ \"POST\" ];"
        ACT " },\n"
        "  { path_exact = \"/e\"; name = \"e-exact\"; methods = \"DELETE\";"
        ACT " },\n"
        "  { path = \"/e\"; name = \"e-prefix\";" ACT " },\n"
        "  { path_regex = \"^/r/\"; name = \"r-regex\"; methods = \"GET\";"
        ACT " },\n"
        "  { path = \"/r/\"; name = \"r-prefix\";" ACT " },\n"
        "  { path = \"/h\"; name = \"head-only\"; methods = \"HEAD\";"
        ACT " },\n"
        "  { path = \"/o\"; name = \"o-host\"; methods = [ \"GET\" ];"
        " host = \"o.example\";" ACT " },\n"
        "  { path = \"/o\"; name = \"o\"; methods = [ \"POST\" ];" ACT " },\n"
        "  { path = \"/\"; name = \"root\";" ACT " }\n"
        CLOSE;
    struct gh_conf *c = conf_text("methods", text);
    const struct gh_site *s;

    if (c == NULL)
        return;
    s = &c->sites[0];
    subtest("no fall-through to another path") {
        takes(s, "admin-get", HTTP_GET, "/admin");
        takes(s, "admin-get", HTTP_HEAD, "/admin");     /* GET implies HEAD */
        takes(s, "405 GET HEAD", HTTP_POST, "/admin");
        takes(s, "405 GET HEAD", HTTP_DELETE, "/admin/users");
        takes(s, "405 GET HEAD", HTTP_OPTIONS, "/adminx");
        takes(s, "root", HTTP_POST, "/admi");
        takes(s, "root", HTTP_POST, "/");
    }
    subtest("routes with the same path share it") {
        takes(s, "api-get", HTTP_GET, "/api");
        takes(s, "api-get", HTTP_HEAD, "/api/x");
        takes(s, "api-post", HTTP_POST, "/api");
        takes(s, "405 GET HEAD POST", HTTP_DELETE, "/api");
        /* api-put's condition fails: not in Allow */
        takes(s, "405 GET HEAD POST", HTTP_PUT, "/api");
        takes(s, "api-put", HTTP_PUT, "/api", .hdrs = { "X-Admin", "y" });
        takes(s, "405 GET HEAD POST PUT", HTTP_PATCH, "/api",
              .hdrs = { "X-Admin", "y" });
        /* same path, other paths between them in the sorted list */
        takes(s, "a-get", HTTP_GET, "/a/1");
        takes(s, "a-post", HTTP_POST, "/a/1");
        takes(s, "405 GET HEAD POST", HTTP_PUT, "/a/1");
        takes(s, "b", HTTP_PUT, "/b/1");
    }
    subtest("a condition and a method") {
        takes(s, "x-beta", HTTP_GET, "/x/1", .hdrs = { "X-Beta", "1" });
        takes(s, "x", HTTP_POST, "/x/1", .hdrs = { "X-Beta", "1" });
        takes(s, "x", HTTP_GET, "/x/1");
        takes(s, "o-host", HTTP_GET, "/o", .host = "o.example");
        takes(s, "405 POST", HTTP_GET, "/o", .host = "p.example");
        takes(s, "405 GET HEAD POST", HTTP_PUT, "/o", .host = "o.example");
        takes(s, "o", HTTP_POST, "/o", .host = "o.example");
    }
    subtest("kinds: the same text of another kind does not take it") {
        takes(s, "e-exact", HTTP_DELETE, "/e");
        takes(s, "405 DELETE", HTTP_GET, "/e");
        takes(s, "e-prefix", HTTP_GET, "/e/1");
        takes(s, "e-prefix", HTTP_DELETE, "/ex");
        takes(s, "r-regex", HTTP_GET, "/r/1");
        takes(s, "405 GET HEAD", HTTP_POST, "/r/1");
        takes(s, "root", HTTP_POST, "/xr/1");     /* anchored */
    }
    subtest("HEAD alone does not imply GET") {
        takes(s, "head-only", HTTP_HEAD, "/h");
        takes(s, "405 HEAD", HTTP_GET, "/h");
    }
    gh_conf_free(c);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

int
main(void)
{
    test_site();
    test_find();
    test_acl();

    (void) snprintf(tmpdir, sizeof(tmpdir), "/tmp/gh-route-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    subtest("match: order of path kinds") test_match_order();
    subtest("match: conditions") test_match_conditions();
    subtest("match: methods") test_match_methods();
    (void) nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return done_testing();
}
