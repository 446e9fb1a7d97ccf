/*
 * gh_conf_load(): the cache keys (issue 5).  The top-level `caches` group
 * (zones: size, max_object, default_ttl, stale_if_error, heuristic_max,
 * lock_timeout, key) and the route keys cache, cache_key_extra and
 * purge_allow: values and defaults, every error with its exact
 * "FILE:LINE: key: why", the room the zones may take in shm_size, the
 * dump loading back the same, and the key names the man page test reads.
 * Config files are written under a mkdtemp() directory removed at the end.
 */

#include <arpa/inet.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "shm/cache.h"
#include "tests/unit/tap.h"

static char tmpdir[64];
static char tmpfile_path[256];

static const char *
put(const char *name, const char *text, size_t len)
{
    FILE *f;

    (void) snprintf(tmpfile_path, sizeof(tmpfile_path), "%s/%s", tmpdir,
                    name);
    f = fopen(tmpfile_path, "w");
    if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        diag("cannot write %s", tmpfile_path);
        exit(1);
    }
    return tmpfile_path;
}

static struct gh_conf *
load_text(const char *text, char *err, size_t errlen)
{
    return gh_conf_load(put("t.conf", text, strlen(text)), err, errlen);
}

/* TEXT must fail with exactly "t.conf:LINE: WANT". */
static void
fails(const char *name, const char *text, int line, const char *want)
{
    char err[2048], exp[2048];
    struct gh_conf *c;

    c = load_text(text, err, sizeof(err));
    ok(c == NULL, "%s: rejected", name);
    (void) snprintf(exp, sizeof(exp), "%s/t.conf:%d: %s", tmpdir, line,
                    want);
    is_str(err, exp, "%s: message", name);
    gh_conf_free(c);
}

/* TEXT must load; the caller frees.  NULL (and a failed test) if not. */
static struct gh_conf *
loads(const char *name, const char *text)
{
    char err[2048] = "";
    struct gh_conf *c = load_text(text, err, sizeof(err));

    if (!ok(c != NULL, "%s: loads", name))
        diag("%s", err);
    return c;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

#define UPSTREAM \
    "upstreams = { app = { servers = ( { address = \"127.0.0.1:9001\"; } );" \
    " }; };\n"
#define SITE \
    "sites = ( { listen = \"127.0.0.1:8080\";" \
    " routes = ( { path = \"/\"; upstream = \"app\"; } ); } );\n"
#define ZONE "caches = { main = { size = \"1M\"; }; };\n"
/* A site whose one route gets the keys R (on its own line 3 of the site,
 * so at line L+2 where L is the site's first line). */
#define ROUTE(r) \
    "sites = ( { listen = \"127.0.0.1:8080\"; routes = (\n" \
    "  { path = \"/\"; upstream = \"app\";\n" \
    "    " r " }\n" \
    "); } );\n"

/* ==== values and defaults =============================================== */

static const char example[] =
    "shm_size = \"512M\";\n"                                        /* 1 */
    "caches = {\n"                                                  /* 2 */
    "  main = {\n"                                                  /* 3 */
    "    size = \"256M\"; max_object = \"8M\"; default_ttl = \"0s\";\n"
    "    stale_if_error = \"1h\"; heuristic_max = \"12h\";\n"       /* 5 */
    "    lock_timeout = \"500ms\"; key = \"method scheme host uri\";\n"
    "  };\n"                                                        /* 7 */
    "  static-1_x = { size = \"16M\"; key = \"  path\targs host \"; };\n"
    "};\n"                                                          /* 9 */
    UPSTREAM                                                        /* 10 */
    "sites = ( { listen = \"127.0.0.1:8080\"; routes = (\n"         /* 11 */
    "  { path = \"/\"; upstream = \"app\"; cache = \"main\";\n"     /* 12 */
    "    cache_key_extra = [ \"header:Accept-Language\", "
    "\"cookie:session\", \"query:lang\" ];\n"                       /* 13 */
    "    purge_allow = [ \"127.0.0.1/32\", \"::1\", \"10.0.0.0/8\" ]; },\n"
    "  { path = \"/img/\"; upstream = \"app\"; cache = \"static-1_x\";"
    " purge_allow = \"all\"; },\n"                                  /* 15 */
    "  { path = \"/api/\"; upstream = \"app\"; }\n"                 /* 16 */
    "); } );\n";

static const struct gh_route *
route(const struct gh_conf *c, const char *path)
{
    for (uint32_t i = 0; i < c->sites[0].nroutes; i++)
        if (strcmp(c->sites[0].routes[i].path, path) == 0)
            return &c->sites[0].routes[i];
    return NULL;
}

static void
test_example(void)
{
    struct gh_conf *c = loads("example", example);
    const struct gh_cache_zone *z;
    const struct gh_route *r;
    uint8_t v4[16] = { 0 };

    if (c == NULL)
        return;
    is_int(c->ncaches, 2, "two zones");
    z = &c->caches[0];
    is_str(z->name, "main", "zone 0 name");
    is_int(z->index, 0, "zone 0 index");
    is_int(z->line, 3, "zone 0 line");
    is_int(z->size, 256ULL << 20, "size");
    is_int(z->max_object, 8 << 20, "max_object");
    is_int(z->default_ttl, 0, "default_ttl");
    is_int(z->stale_if_error, 3600 * 1000, "stale_if_error");
    is_int(z->heuristic_max, 12 * 3600 * 1000, "heuristic_max");
    is_int(z->lock_timeout, 500, "lock_timeout");
    is_int(z->nkey, 4, "key: four elements");
    ok(z->key[0] == GH_CKEY_METHOD && z->key[1] == GH_CKEY_SCHEME
       && z->key[2] == GH_CKEY_HOST && z->key[3] == GH_CKEY_URI,
       "key: method scheme host uri, in order");
    is_int(z->root, 0, "root: not bound by the loader");
    z = &c->caches[1];
    is_str(z->name, "static-1_x", "zone 1 name: letters, digits, - and _");
    is_int(z->index, 1, "zone 1 index");
    is_int(z->nkey, 3, "key: spaces and tabs separate");
    ok(z->key[0] == GH_CKEY_PATH && z->key[1] == GH_CKEY_ARGS
       && z->key[2] == GH_CKEY_HOST, "key: path args host, in order");

    r = route(c, "/");
    ok(r != NULL && r->cache == &c->caches[0], "route / -> main");
    if (r != NULL && r->cache != NULL) {
        is_int(r->nkey_extra, 3, "three extra key elements");
        is_int(r->key_extra[0].kind, GH_CKEY_X_HEADER, "header");
        is_str(r->key_extra[0].name, "accept-language",
               "header name lower case");
        is_int(r->key_extra[0].name_len, 15, "header name length");
        is_int(r->key_extra[1].kind, GH_CKEY_X_COOKIE, "cookie");
        is_str(r->key_extra[1].name, "session", "cookie name as written");
        is_int(r->key_extra[2].kind, GH_CKEY_X_QUERY, "query");
        is_str(r->key_extra[2].name, "lang", "query name");
        is_int(r->purge_allow.n, 3, "three purge_allow blocks");
        ok(r->purge_allow.has_allow, "purge_allow is an allow list");
        v4[10] = v4[11] = 0xff;
        v4[12] = 127;
        v4[15] = 1;
        ok(memcmp(r->purge_allow.rules[0].addr, v4, 16) == 0
           && r->purge_allow.rules[0].bits == 128
           && r->purge_allow.rules[0].allow, "127.0.0.1/32 as ::ffff:");
        ok(r->purge_allow.rules[1].bits == 128
           && r->purge_allow.rules[1].addr[15] == 1
           && r->purge_allow.rules[1].addr[10] == 0, "::1 alone is /128");
        is_int(r->purge_allow.rules[2].bits, 104, "10.0.0.0/8");
        is_int(r->acl.n, 0, "the route's own acl untouched");
    }
    r = route(c, "/img/");
    ok(r != NULL && r->cache == &c->caches[1], "route /img/ -> static-1_x");
    ok(r != NULL && r->nkey_extra == 0 && r->key_extra == NULL,
       "no extra key elements");
    ok(r != NULL && r->purge_allow.n == 1
       && r->purge_allow.rules[0].bits == 0, "purge_allow = \"all\"");
    r = route(c, "/api/");
    ok(r != NULL && r->cache == NULL && r->purge_allow.n == 0
       && r->nkey_extra == 0, "route without cache: nothing set");
    gh_conf_free(c);
}

static void
test_defaults(void)
{
    struct gh_conf *c;
    const struct gh_cache_zone *z;

    c = loads("defaults", "caches = { main = { size = \"64M\"; };\n"
              " tiny = { size = \"64k\"; }; };\nshm_size = \"1G\";\n"
              UPSTREAM SITE);
    if (c == NULL)
        return;
    z = &c->caches[0];
    is_int(z->max_object, 1 << 20, "max_object 1M");
    is_int(z->default_ttl, 0, "default_ttl 0s");
    is_int(z->stale_if_error, 0, "stale_if_error 0s");
    is_int(z->heuristic_max, 24 * 3600 * 1000, "heuristic_max 24h");
    is_int(z->lock_timeout, 5000, "lock_timeout 5s");
    is_int(z->nkey, 4, "default key: four elements");
    ok(z->key[0] == GH_CKEY_METHOD && z->key[1] == GH_CKEY_SCHEME
       && z->key[2] == GH_CKEY_HOST && z->key[3] == GH_CKEY_URI,
       "default key: method scheme host uri");
    is_int(c->caches[1].max_object, 64 * 1024,
           "the default max_object yields to a smaller zone");
    ok(c->sites[0].routes[0].cache == NULL, "a zone no route names is fine");
    gh_conf_free(c);

    c = loads("no caches", UPSTREAM SITE);
    if (c != NULL) {
        ok(c->ncaches == 0 && c->caches == NULL, "no zones");
        gh_conf_free(c);
    }
    c = loads("empty caches", "caches = { };\n" UPSTREAM SITE);
    if (c != NULL) {
        ok(c->ncaches == 0, "an empty group: no zones");
        gh_conf_free(c);
    }
    {
        char text[512];

        /* conf/ does not include shm/: its minimum must be the store's. */
        (void) snprintf(text, sizeof(text), "caches = { m = { size = %d; "
                        "}; };\n" UPSTREAM SITE, GH_CACHE_MIN);
        c = loads("size = GH_CACHE_MIN", text);
        gh_conf_free(c);
        (void) snprintf(text, sizeof(text), "caches = { m = { size = %d; "
                        "}; };\n" UPSTREAM SITE, GH_CACHE_MIN - 1);
        c = load_text(text, text + 256, 256);
        ok(c == NULL, "size = GH_CACHE_MIN - 1 rejected");
        gh_conf_free(c);
    }
    is_str(gh_ckey_part_name(GH_CKEY_METHOD), "method", "part name method");
    is_str(gh_ckey_part_name(GH_CKEY_ARGS), "args", "part name args");
    is_str(gh_ckey_part_name((enum gh_ckey_part) 99), "?",
           "part name out of range");
}

/* ==== errors ============================================================= */

static void
test_zone_errors(void)
{
    fails("caches a list", "caches = ( );\n" UPSTREAM SITE, 1,
          "caches: expected a group of named cache zones, not a list ( )");
    fails("caches a string", "caches = \"main\";\n" UPSTREAM SITE, 1,
          "caches: expected a group of named cache zones, not a string");
    fails("zone not a group", "caches = {\n main = 5; };\n" UPSTREAM SITE, 2,
          "caches.main: expected a group { }, not an integer");
    fails("zone name with *", "caches = {\n ma*n = { size = \"1M\"; }; };\n"
          UPSTREAM SITE, 2, "caches.ma*n: \"ma*n\" is not a zone name (want "
          "1 to 47 letters, digits, '_' and '-')");
    fails("zone name of 48 bytes",
          "caches = {\n a23456789012345678901234567890123456789012345678 = "
          "{ size = \"1M\"; }; };\n" UPSTREAM SITE, 2,
          "caches.a23456789012345678901234567890123456789012345678: "
          "\"a23456789012345678901234567890123456789012345678\" is not a "
          "zone name (want 1 to 47 letters, digits, '_' and '-')");
    {
        struct gh_conf *c = loads("zone name of 47 bytes",
            "caches = {\n a2345678901234567890123456789012345678901234567 = "
            "{ size = \"1M\"; }; };\n" UPSTREAM SITE);

        gh_conf_free(c);
    }
    fails("size missing", "caches = {\n main = { max_object = \"1k\"; };\n"
          "};\n" UPSTREAM SITE, 2, "caches.main.size: missing (required)");
    fails("size too small", "caches = { main = {\n size = \"32k\"; }; };\n"
          UPSTREAM SITE, 2,
          "caches.main.size: \"32k\" is out of range (64k..1024G)");
    fails("size too large", "caches = { main = {\n size = \"2000G\"; }; };\n"
          UPSTREAM SITE, 2,
          "caches.main.size: \"2000G\" is out of range (64k..1024G)");
    fails("size garbage", "caches = { main = {\n size = \"16q\"; }; };\n"
          UPSTREAM SITE, 2, "caches.main.size: \"16q\" is not a size");
    fails("size negative", "caches = { main = {\n size = -1; }; };\n"
          UPSTREAM SITE, 2, "caches.main.size: -1 is not a size");
    fails("size a boolean", "caches = { main = {\n size = true; }; };\n"
          UPSTREAM SITE, 2, "caches.main.size: expected a size (\"16k\", "
          "\"10M\") or an integer, not a boolean");
    fails("unknown zone key",
          "caches = { main = { size = \"1M\";\n sise = \"1M\"; }; };\n"
          UPSTREAM SITE, 2,
          "caches.main.sise: unknown key (did you mean \"size\"?)");
    fails("max_object over size",
          "caches = { main = { size = \"1M\";\n max_object = \"2M\"; }; };\n"
          UPSTREAM SITE, 2,
          "caches.main.max_object: \"2M\" is larger than size (\"1M\")");
    fails("max_object 0",
          "caches = { main = { size = \"1M\";\n max_object = 0; }; };\n"
          UPSTREAM SITE, 2,
          "caches.main.max_object: 0 is out of range (1k..1024G)");
    fails("default_ttl garbage",
          "caches = { main = { size = \"1M\";\n default_ttl = \"1y\"; }; };\n"
          UPSTREAM SITE, 2, "caches.main.default_ttl: \"1y\" is not a "
          "duration (want a number and ms, s, m or h)");
    fails("default_ttl over a year",
          "caches = { main = { size = \"1M\";\n default_ttl = \"8761h\"; };"
          " };\n" UPSTREAM SITE, 2, "caches.main.default_ttl: \"8761h\" is "
          "out of range (0s..8760h)");
    fails("stale_if_error negative",
          "caches = { main = { size = \"1M\";\n stale_if_error = -1; }; };\n"
          UPSTREAM SITE, 2,
          "caches.main.stale_if_error: -1 is not a duration");
    fails("heuristic_max a list",
          "caches = { main = { size = \"1M\";\n heuristic_max = ( ); }; };\n"
          UPSTREAM SITE, 2, "caches.main.heuristic_max: expected a duration "
          "(\"10s\", \"500ms\") or an integer, not a list ( )");
    fails("lock_timeout over an hour",
          "caches = { main = { size = \"1M\";\n lock_timeout = \"61m\"; };"
          " };\n" UPSTREAM SITE, 2, "caches.main.lock_timeout: \"61m\" is "
          "out of range (0s..1h)");
    fails("key unknown element, close",
          "caches = { main = { size = \"1M\";\n key = \"method urn\"; }; };\n"
          UPSTREAM SITE, 2, "caches.main.key: unknown element \"urn\" (did "
          "you mean \"uri\"?)");
    fails("key unknown element, far",
          "caches = { main = { size = \"1M\";\n key = \"host cookie\"; }; };\n"
          UPSTREAM SITE, 2, "caches.main.key: unknown element \"cookie\" "
          "(want method, scheme, host, uri, path or args)");
    fails("key element repeated",
          "caches = { main = { size = \"1M\";\n key = \"uri host uri\"; }; "
          "};\n" UPSTREAM SITE, 2, "caches.main.key: \"uri\" is listed twice");
    fails("key empty",
          "caches = { main = { size = \"1M\";\n key = \"\"; }; };\n"
          UPSTREAM SITE, 2, "caches.main.key: must name at least one of "
          "method, scheme, host, uri, path and args");
    fails("key blank",
          "caches = { main = { size = \"1M\";\n key = \"  \t \"; }; };\n"
          UPSTREAM SITE, 2, "caches.main.key: must name at least one of "
          "method, scheme, host, uri, path and args");
    fails("key an array",
          "caches = { main = { size = \"1M\";\n key = [ \"uri\" ]; }; };\n"
          UPSTREAM SITE, 2, "caches.main.key: expected a string such as "
          "\"method scheme host uri\", not an array [ ]");
    fails("key element very long", "caches = { main = { size = \"1M\";\n"
          " key = \"uri methodmethodmethodmethodmethodmethod\"; }; };\n"
          UPSTREAM SITE, 2, "caches.main.key: unknown element "
          "\"methodmethodmethodmethodmeth...\" (want method, scheme, host, "
          "uri, path or args)");
    fails("key element case", "caches = { main = { size = \"1M\";\n"
          " key = \"URI\"; }; };\n" UPSTREAM SITE, 2,
          "caches.main.key: unknown element \"URI\" (want method, scheme, "
          "host, uri, path or args)");
    fails("key garbage bytes", "caches = { main = { size = \"1M\";\n"
          " key = \"uri \\x01\"; }; };\n" UPSTREAM SITE, 2,
          "caches.main.key: unknown element \"\\x01\" (want method, "
          "scheme, host, uri, path or args)");
    {
        /* 65 zones: one too many. */
        char text[8192];
        size_t n = 0;

        n += (size_t) snprintf(text + n, sizeof(text) - n,
                               "shm_size = \"1G\";\ncaches = {\n");
        for (int i = 0; i < 65; i++)
            n += (size_t) snprintf(text + n, sizeof(text) - n,
                                   " z%d = { size = \"64k\"; };\n", i);
        (void) snprintf(text + n, sizeof(text) - n, "};\n" UPSTREAM SITE);
        fails("65 zones", text, 67,
              "caches: more than 64 cache zones");
    }
}

/* The zones together, against shm_size. */
static void
test_zone_room(void)
{
    struct gh_conf *c;

    /* 64M: an eighth (8M) and the client table (4M) leave 52M. */
    c = loads("52M of zones in 64M", "caches = { a = { size = \"32M\"; };\n"
              " b = { size = \"20M\"; }; };\n" UPSTREAM SITE);
    gh_conf_free(c);
    fails("52M + 1k of zones in 64M",
          "caches = { a = { size = \"32M\"; };\n b = {\n"
          "  size = \"20481k\"; }; };\n" UPSTREAM SITE, 3,
          "caches.b.size: the cache zones take 53249k in all with this one; "
          "shm_size (64M) has room for 52M of them (after the client table, "
          "4M, the TLS session caches, 0, and an eighth kept for the "
          "rest): make the zones smaller or shm_size larger");
    fails("one zone of shm_size", "caches = { main = {\n"
          "  size = \"64M\"; }; };\n" UPSTREAM SITE, 2,
          "caches.main.size: the cache zones take 64M in all with this one; "
          "shm_size (64M) has room for 52M of them (after the client table, "
          "4M, the TLS session caches, 0, and an eighth kept for the "
          "rest): make the zones smaller or shm_size larger");
    fails("the client table counts",
          "limits = { client_table_size = \"16M\"; };\n"
          "caches = { main = {\n  size = \"48M\"; }; };\n" UPSTREAM SITE, 3,
          "caches.main.size: the cache zones take 48M in all with this one; "
          "shm_size (64M) has room for 40M of them (after the client table, "
          "16M, the TLS session caches, 0, and an eighth kept for the "
          "rest): make the zones smaller or shm_size larger");
    fails("nothing left", "shm_size = \"4M\";\n"
          "caches = { main = {\n  size = \"64k\"; }; };\n" UPSTREAM SITE, 3,
          "caches.main.size: the cache zones take 64k in all with this one; "
          "shm_size (4M) has room for 0 of them (after the client table, "
          "4M, the TLS session caches, 0, and an eighth kept for the "
          "rest): make the zones smaller or shm_size larger");
    fails("a long zone name in the message", "caches = {\n"
          " a2345678901234567890123456789012345678901234567 = {\n"
          "  size = \"60M\"; }; };\n" UPSTREAM SITE, 3,
          "caches.a2345678901234567890123456789012345678901234567.size: the "
          "cache zones take 60M in all with this one; shm_size (64M) has "
          "room for 52M of them (after the client table, 4M, the TLS "
          "session caches, 0, and an eighth kept for the rest): make the "
          "zones smaller or shm_size larger");
    c = loads("the spec's 256M zone in 300M",
              "shm_size = \"300M\";\ncaches = { main = { size = \"256M\"; "
              "max_object = \"8M\"; }; };\n" UPSTREAM SITE);
    gh_conf_free(c);
}

static void
test_route_errors(void)
{
    fails("cache on a static route",
          ZONE "sites = ( { listen = \"127.0.0.1:8080\"; routes = (\n"
          "  { path = \"/\"; root = \"/srv\";\n    cache = \"main\"; }\n"
          "); } );\n", 4,
          "sites[0].routes[0].cache: only applies to a route with "
          "\"upstream\"");
    fails("cache on a return route",
          ZONE "sites = ( { listen = \"127.0.0.1:8080\"; routes = (\n"
          "  { path = \"/\"; return = { status = 204; };\n"
          "    cache = \"main\"; }\n); } );\n", 4,
          "sites[0].routes[0].cache: only applies to a route with "
          "\"upstream\"");
    fails("unknown zone, close", ZONE UPSTREAM ROUTE("cache = \"mian\";"), 5,
          "sites[0].routes[0].cache: unknown cache zone \"mian\" (did you "
          "mean \"main\"?)");
    fails("unknown zone, far", ZONE UPSTREAM ROUTE("cache = \"other\";"), 5,
          "sites[0].routes[0].cache: unknown cache zone \"other\"");
    fails("no zones at all", UPSTREAM ROUTE("cache = \"main\";"), 4,
          "sites[0].routes[0].cache: unknown cache zone \"main\" (the "
          "top-level caches group defines none)");
    fails("cache an integer", ZONE UPSTREAM ROUTE("cache = 1;"), 5,
          "sites[0].routes[0].cache: expected a string (a zone of caches), "
          "not an integer");
    fails("cache a list", ZONE UPSTREAM ROUTE("cache = [ \"main\" ];"), 5,
          "sites[0].routes[0].cache: expected a string (a zone of caches), "
          "not an array [ ]");
    fails("cache_key_extra without cache",
          ZONE UPSTREAM ROUTE("cache_key_extra = \"header:x\";"), 5,
          "sites[0].routes[0].cache_key_extra: only applies to a route "
          "with \"cache\"");
    fails("purge_allow without cache",
          ZONE UPSTREAM ROUTE("purge_allow = \"127.0.0.1\";"), 5,
          "sites[0].routes[0].purge_allow: only applies to a route with "
          "\"cache\"");
    fails("cache_key_extra no kind", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"accept\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"accept\" is not "
          "\"header:NAME\", \"cookie:NAME\" or \"query:NAME\"");
    fails("cache_key_extra bad kind", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = [ \"header:a\", "
                "\"arg:x\" ];"), 5,
          "sites[0].routes[0].cache_key_extra[1]: \"arg:x\" is not "
          "\"header:NAME\", \"cookie:NAME\" or \"query:NAME\"");
    fails("cache_key_extra kind case", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"Header:x\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"Header:x\" is not "
          "\"header:NAME\", \"cookie:NAME\" or \"query:NAME\"");
    fails("cache_key_extra empty header name", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"header:\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"header:\" has an empty "
          "header name");
    fails("cache_key_extra bad header name", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"header:a b\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"header:a b\": not a valid "
          "header name (want letters, digits and !#$%&'*+-.^_`|~)");
    fails("cache_key_extra header with a colon", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"header:a:b\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"header:a:b\": not a valid "
          "header name (want letters, digits and !#$%&'*+-.^_`|~)");
    fails("cache_key_extra bad cookie name", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"cookie:a=b\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"cookie:a=b\": not a valid "
          "cookie name (want letters, digits and !#$%&'*+-.^_`|~)");
    fails("cache_key_extra empty cookie name", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"cookie:\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"cookie:\" has an empty "
          "cookie name");
    fails("cache_key_extra bad query name", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"query:a=b\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"query:a=b\": not a query "
          "argument name (printable, without spaces, '&', '#' or '=')");
    fails("cache_key_extra query name with a space", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"query:a b\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"query:a b\": not a query "
          "argument name (printable, without spaces, '&', '#' or '=')");
    fails("cache_key_extra control byte", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = \"query:a\\x01\";"), 5,
          "sites[0].routes[0].cache_key_extra: \"query:a\\x01\": not a "
          "query argument name (printable, without spaces, '&', '#' or "
          "'=')");
    fails("cache_key_extra twice, header case", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = [ \"header:X-A\", "
                "\"cookie:x-a\", \"header:x-a\" ];"), 5,
          "sites[0].routes[0].cache_key_extra[2]: \"header:x-a\" is listed "
          "twice");
    fails("cache_key_extra twice, query", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = [ \"query:a\", "
                "\"query:a\" ];"), 5,
          "sites[0].routes[0].cache_key_extra[1]: \"query:a\" is listed "
          "twice");
    fails("cache_key_extra empty list", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = [ ];"), 5,
          "sites[0].routes[0].cache_key_extra: must not be empty (leave "
          "cache_key_extra out to key by the zone's key alone)");
    fails("cache_key_extra integer element", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = ( \"query:a\", 1 );"), 5,
          "sites[0].routes[0].cache_key_extra[1]: expected a string, not an "
          "integer");
    fails("cache_key_extra a group", ZONE UPSTREAM
          ROUTE("cache = \"main\"; cache_key_extra = { a = 1; };"), 5,
          "sites[0].routes[0].cache_key_extra: expected a string or an "
          "array of strings, not a group { }");
    fails("purge_allow not an address", ZONE UPSTREAM
          ROUTE("cache = \"main\"; purge_allow = \"localhost\";"), 5,
          "sites[0].routes[0].purge_allow: \"localhost\" is not an IPv4 or "
          "IPv6 address or a CIDR block (or \"all\")");
    fails("purge_allow bits below the prefix", ZONE UPSTREAM
          ROUTE("cache = \"main\"; purge_allow = [ \"::1\", \"10.0.0.1/8\" "
                "];"), 5,
          "sites[0].routes[0].purge_allow[1]: \"10.0.0.1/8\" has bits set "
          "below its prefix length");
    fails("purge_allow prefix too long", ZONE UPSTREAM
          ROUTE("cache = \"main\"; purge_allow = \"127.0.0.1/33\";"), 5,
          "sites[0].routes[0].purge_allow: \"127.0.0.1/33\" has a prefix "
          "longer than 32 bits");
    fails("purge_allow empty", ZONE UPSTREAM
          ROUTE("cache = \"main\"; purge_allow = [ ];"), 5,
          "sites[0].routes[0].purge_allow: must not be empty (leave "
          "purge_allow out to refuse every PURGE)");
    fails("purge_allow an integer", ZONE UPSTREAM
          ROUTE("cache = \"main\"; purge_allow = 127;"), 5,
          "sites[0].routes[0].purge_allow: expected a string or an array of "
          "strings, not an integer");
    fails("purge_allow typo", ZONE UPSTREAM
          ROUTE("cache = \"main\"; purge_alow = \"::1\";"), 5,
          "sites[0].routes[0].purge_alow: unknown key (did you mean "
          "\"purge_allow\"?)");
    fails("cache key typo", ZONE UPSTREAM ROUTE("cahce = \"main\";"), 5,
          "sites[0].routes[0].cahce: unknown key (did you mean \"cache\"?)");
}

/* ==== dump and key names ================================================= */

static void
dump_round_trip(const char *name, const char *text,
                const char *const *want, const char *const *not)
{
    char err[2048], *d1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0;
    struct gh_conf *c, *c2;
    FILE *f;

    c = load_text(text, err, sizeof(err));
    if (!ok(c != NULL, "%s: loads", name)) {
        diag("%s", err);
        return;
    }
    f = open_memstream(&d1, &l1);
    gh_conf_dump(c, f);
    (void) fclose(f);
    for (; *want != NULL; want++) {
        if (!ok(strstr(d1, *want) != NULL, "%s: dump has %s", name, *want))
            diag("%s", d1);
    }
    for (; not != NULL && *not != NULL; not++)
        ok(strstr(d1, *not) == NULL, "%s: dump has no %s", name, *not);
    c2 = gh_conf_load(put("dump.conf", d1, l1), err, sizeof(err));
    if (!ok(c2 != NULL, "%s: the dump loads", name))
        diag("%s\n%s", err, d1);
    if (c2 != NULL) {
        f = open_memstream(&d2, &l2);
        gh_conf_dump(c2, f);
        (void) fclose(f);
        ok(strcmp(strchr(d1, '\n'), strchr(d2, '\n')) == 0,
           "%s: and dumps the same", name);
        ok(c2->ncaches == c->ncaches, "%s: as many zones", name);
    }
    gh_conf_free(c);
    gh_conf_free(c2);
    free(d1);
    free(d2);
}

static void
test_dump(void)
{
    static const char *const all[] = {
        "caches = {\n",
        "    main = {\n",
        "        size = \"256M\";\n",
        "        max_object = \"8M\";\n",
        "        default_ttl = \"0s\";\n",
        "        stale_if_error = \"1h\";\n",
        "        heuristic_max = \"12h\";\n",
        "        lock_timeout = \"500ms\";\n",
        "        key = \"method scheme host uri\";\n",
        "    static-1_x = {\n",
        "        key = \"path args host\";\n",
        "cache = \"main\";\n",
        "cache = \"static-1_x\";\n",
        "cache_key_extra = [ \"header:accept-language\", \"cookie:session\", "
        "\"query:lang\" ];\n",
        "purge_allow = [ \"127.0.0.1/32\", \"::1/128\", \"10.0.0.0/8\" ];\n",
        "purge_allow = [ \"all\" ];\n",
        NULL
    };
    static const char *const defaults[] = {
        "        size = \"1M\";\n",
        "        max_object = \"1M\";\n",
        "        default_ttl = \"0s\";\n",
        "        stale_if_error = \"0s\";\n",
        "        heuristic_max = \"24h\";\n",
        "        lock_timeout = \"5s\";\n",
        "        key = \"method scheme host uri\";\n",
        NULL
    };
    static const char *const no_route_keys[] = {
        "cache =", "cache_key_extra", "purge_allow", NULL
    };
    static const char *const nothing[] = { NULL };
    static const char *const no_caches[] = {
        "caches", "cache =", "cache_key_extra", "purge_allow", NULL
    };

    dump_round_trip("every cache key", example, all, NULL);
    dump_round_trip("cache defaults", ZONE UPSTREAM SITE, defaults,
                    no_route_keys);
    dump_round_trip("no caches", UPSTREAM SITE, nothing, no_caches);
    {
        static const char *const odd[] = {
            "cache_key_extra = [ \"query:a\\\"b\", \"query:c\\\\d\" ];\n",
            NULL
        };

        /* Query names may hold what a string must escape. */
        dump_round_trip("escaped query names", ZONE UPSTREAM
                        ROUTE("cache = \"main\"; cache_key_extra = "
                              "[ \"query:a\\\"b\", \"query:c\\\\d\" ];"),
                        odd, NULL);
    }
}

static void
test_key_names(void)
{
    static const char *const want[] = {
        "caches", "caches.*.size", "caches.*.max_object",
        "caches.*.default_ttl", "caches.*.stale_if_error",
        "caches.*.heuristic_max", "caches.*.lock_timeout", "caches.*.key",
        "sites.*.routes.*.cache", "sites.*.routes.*.cache_key_extra",
        "sites.*.routes.*.purge_allow"
    };

    for (size_t i = 0; i < GH_NELEM(want); i++) {
        const char *const *n;

        for (n = gh_conf_key_names(); *n != NULL; n++) {
            if (strcmp(*n, want[i]) == 0)
                break;
        }
        ok(*n != NULL, "%s is a key name", want[i]);
    }
}

int
main(void)
{
    (void) snprintf(tmpdir, sizeof(tmpdir), "/tmp/gh-conf-cache-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    subtest("every key set") test_example();
    subtest("defaults") test_defaults();
    subtest("zone errors") test_zone_errors();
    subtest("zones against shm_size") test_zone_room();
    subtest("route errors") test_route_errors();
    subtest("dump") test_dump();
    subtest("key names") test_key_names();
    (void) nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return done_testing();
}
