/*
 * gh_conf_load(): the documented example, defaults, every validation error
 * with its exact "FILE:LINE: key: why", hostile files, relative paths,
 * route order and a dump that loads back the same.  Config files are
 * written under a mkdtemp() directory that is removed at the end.
 */

#include <arpa/inet.h>
#include <crypt.h>
#include <fcntl.h>
#include <ftw.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf/conf.h"
#include "tests/unit/tap.h"
#include "worker/auth.h"
#include "worker/route.h"

static char tmpdir[64];
static char tmpfile_path[256];

/* Write TEXT to tmpdir/NAME; returns the path (static buffer). */
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

/* TEXT must fail with exactly "t.conf:LINE: WANT" (LINE 0: no line). */
static void
fails(const char *name, const char *text, int line, const char *want)
{
    char err[1024], exp[1024];
    struct gh_conf *c;

    c = load_text(text, err, sizeof(err));
    ok(c == NULL, "%s: rejected", name);
    if (line > 0)
        (void) snprintf(exp, sizeof(exp), "%s/t.conf:%d: %s", tmpdir, line,
                        want);
    else
        (void) snprintf(exp, sizeof(exp), "%s/t.conf: %s", tmpdir, want);
    is_str(err, exp, "%s: message", name);
    gh_conf_free(c);
}

/* TEXT must fail with a message starting "t.conf:" and containing WANT. */
static void
fails_like(const char *name, const char *text, size_t len, const char *want)
{
    char err[1024], pre[256];
    struct gh_conf *c;

    c = gh_conf_load(put("t.conf", text, len), err, sizeof(err));
    ok(c == NULL, "%s: rejected", name);
    (void) snprintf(pre, sizeof(pre), "%s/t.conf:", tmpdir);
    ok(strncmp(err, pre, strlen(pre)) == 0, "%s: names the file", name);
    if (!ok(strstr(err, want) != NULL, "%s: says \"%s\"", name, want))
        diag("got: %s", err);
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

static const char *addr_text(const struct gh_addr *a) { return a->text; }

#define SITE \
    "sites = ( { listen = \"127.0.0.1:8080\";" \
    " routes = ( { path = \"/\"; root = \"www\"; } ); } );\n"
#define UPSTREAM \
    "upstreams = { app = { servers = ( { address = \"127.0.0.1:9001\"; } );" \
    " }; };\n"

/* The example from the documentation, line numbers matter below. */
static const char example[] =
    "workers = 4;                     # or \"auto\" (one per core)\n"
    "user = \"www-data\"; group = \"www-data\";   # optional\n"
    "pid_file = \"/run/gatehouse.pid\";\n"
    "error_log = \"/var/log/gatehouse/error.log\";   # or \"stderr\"\n"
    "log_level = \"info\";\n"
    "access_log = \"/var/log/gatehouse/access.log\"; # or \"off\"\n"
    "timeouts = { client_header = \"10s\"; client_body = \"60s\";"
    " keepalive = \"75s\";\n"
    "             upstream_connect = \"5s\"; upstream_read = \"60s\";"
    " upstream_send = \"60s\"; };\n"
    "limits = { header_size = \"16k\"; headers = 100; body_size = \"10M\";"
    " connections = 10000; };\n"
    "upstreams = {\n"
    "  app = { keepalive = 32;\n"
    "          servers = ( { address = \"127.0.0.1:9001\"; weight = 3; },\n"
    "                      { address = \"[::1]:9002\"; } ); };\n"
    "};\n"
    "sites = (\n"
    "  { listen = [ \"127.0.0.1:8080\", \"[::1]:8080\" ];\n"
    "    hosts = [ \"example.com\", \"*.example.com\" ];"
    "     # optional: any host\n"
    "    routes = ( { path = \"/static/\"; root = \"/var/www\"; },\n"
    "               { path = \"/\"; upstream = \"app\"; } ); }\n"
    ");\n";

static void
test_example(void)
{
    char err[1024] = "";
    struct gh_conf *c = load_text(example, err, sizeof(err));
    struct gh_upstream *u;
    struct gh_site *s;

    if (!ok(c != NULL, "example loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    is_str(err, "", "no message on success");
    is_int(c->workers, 4, "workers");
    is_str(c->user, "www-data", "user");
    is_str(c->group, "www-data", "group");
    is_str(c->pid_file, "/run/gatehouse.pid", "pid_file");
    is_str(c->error_log, "/var/log/gatehouse/error.log", "error_log");
    is_int(c->log_level, GH_LOG_INFO, "log_level");
    is_str(c->access_log, "/var/log/gatehouse/access.log", "access_log");
    is_int(c->timeouts.client_header, 10000, "client_header");
    is_int(c->timeouts.client_body, 60000, "client_body");
    is_int(c->timeouts.keepalive, 75000, "keepalive");
    is_int(c->timeouts.upstream_connect, 5000, "upstream_connect");
    is_int(c->timeouts.upstream_read, 60000, "upstream_read");
    is_int(c->timeouts.upstream_send, 60000, "upstream_send");
    is_int(c->limits.header_size, 16384, "header_size");
    is_int(c->limits.headers, 100, "headers");
    is_int(c->limits.body_size, 10485760, "body_size");
    is_int(c->limits.connections, 10000, "connections");

    is_int(c->nupstreams, 1, "one upstream");
    u = &c->upstreams[0];
    is_str(u->name, "app", "upstream name");
    is_int(u->index, 0, "upstream index");
    is_int(u->keepalive, 32, "upstream keepalive");
    is_int(u->nservers, 2, "two servers");
    is_str(addr_text(&u->servers[0].addr), "127.0.0.1:9001", "server 0");
    is_int(u->servers[0].addr.sa.ss_family, AF_INET, "server 0 family");
    is_int(u->servers[0].weight, 3, "server 0 weight");
    is_int(u->servers[0].line, 12, "server 0 line");
    ok(u->servers[0].file != NULL
       && strcmp(u->servers[0].file + strlen(u->servers[0].file) - 7,
                 "/t.conf") == 0, "server 0 file");
    is_str(addr_text(&u->servers[1].addr), "[::1]:9002", "server 1");
    is_int(u->servers[1].addr.sa.ss_family, AF_INET6, "server 1 family");
    is_int(u->servers[1].weight, 1, "server 1 weight defaults to 1");
    is_int(u->servers[1].line, 13, "server 1 line");

    is_int(c->nsites, 1, "one site");
    s = &c->sites[0];
    is_int(s->index, 0, "site index");
    is_int(s->nlisten, 2, "two listen addresses");
    is_str(addr_text(&s->listen[0].addr), "127.0.0.1:8080", "listen 0");
    is_str(addr_text(&s->listen[1].addr), "[::1]:8080", "listen 1");
    is_int(s->listen[0].backlog, 511, "backlog");
    is_int(s->nhosts, 2, "two hosts");
    is_str(s->hosts[0], "example.com", "host 0");
    is_str(s->hosts[1], "*.example.com", "host 1");
    is_int(s->nroutes, 2, "two routes");
    is_str(s->routes[0].path, "/static/", "route 0 path");
    is_int(s->routes[0].path_len, 8, "route 0 path_len");
    is_str(s->routes[0].root, "/var/www", "route 0 root");
    ok(s->routes[0].upstream == NULL, "route 0 is static");
    is_str(s->routes[0].index, "index.html", "route 0 index");
    is_str(s->routes[1].path, "/", "route 1 path");
    ok(s->routes[1].upstream == &c->upstreams[0], "route 1 -> app");
    ok(s->routes[1].root == NULL, "route 1 has no root");
    ok(s->routes[1].index == NULL, "route 1 has no index");
    ok(c->file != NULL && c->file[0] == '/', "conf->file is absolute: %s",
       c->file);
    gh_conf_free(c);
}

static void
test_defaults(void)
{
    char err[1024] = "", www[512];
    struct gh_conf *c = load_text(SITE, err, sizeof(err));
    long n = sysconf(_SC_NPROCESSORS_ONLN);

    if (!ok(c != NULL, "a minimal config loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    n = n < 1 ? 1 : n > 512 ? 512 : n;
    is_int(c->workers, n, "workers: auto is one per core");
    ok(c->user == NULL && c->group == NULL, "no user, no group");
    is_str(c->pid_file, "/run/gatehouse.pid", "pid_file");
    is_str(c->error_log, "stderr", "error_log");
    is_int(c->log_level, GH_LOG_INFO, "log_level");
    ok(c->access_log == NULL, "access_log off");
    is_int(c->shm_size, 64 << 20, "shm_size 64M");
    is_int(c->timeouts.client_header, 10000, "client_header 10s");
    is_int(c->timeouts.client_body, 60000, "client_body 60s");
    is_int(c->timeouts.keepalive, 75000, "keepalive 75s");
    is_int(c->timeouts.upstream_connect, 5000, "upstream_connect 5s");
    is_int(c->timeouts.upstream_read, 60000, "upstream_read 60s");
    is_int(c->timeouts.upstream_send, 60000, "upstream_send 60s");
    is_int(c->timeouts.tunnel, 300000, "tunnel 300s");
    is_int(c->timeouts.shutdown, 30000, "shutdown 30s");
    is_int(c->rlimit_nofile, 0, "worker_rlimit_nofile 0: as inherited");
    is_int(c->limits.header_size, 16384, "header_size 16k");
    is_int(c->limits.headers, 100, "headers 100");
    is_int(c->limits.body_size, 10 << 20, "body_size 10M");
    is_int(c->limits.connections, 10000, "connections 10000");
    is_int(c->limits.uri_size, 8192, "uri_size 8k");
    is_int(c->limits.keepalive_requests, 1000, "keepalive_requests 1000");
    is_int(c->nupstreams, 0, "no upstreams");
    ok(c->upstreams == NULL, "upstreams NULL");
    is_int(c->nsites, 1, "one site");
    is_int(c->sites[0].nhosts, 0, "any host");
    ok(c->sites[0].hosts == NULL, "hosts NULL");
    (void) snprintf(www, sizeof(www), "%s/www", tmpdir);
    is_str(c->sites[0].routes[0].root, www, "root relative to the file");
    is_str(c->sites[0].routes[0].index, "index.html", "index");
    is_int(c->sites[0].routes[0].metrics, 0, "metrics off");
    is_str(c->sites[0].name, "127.0.0.1:8080",
           "site name: the listen address without hosts");
    gh_conf_free(c);
}

static void
test_upstream_defaults(void)
{
    char err[1024] = "";
    struct gh_conf *c = load_text(UPSTREAM SITE, err, sizeof(err));
    struct gh_upstream *u;
    struct gh_server *sv;

    if (!ok(c != NULL, "an upstream with only a server loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    u = &c->upstreams[0];
    is_int(u->balance, GH_BALANCE_ROUND_ROBIN, "balance round_robin");
    is_int(u->hash_key, GH_HASH_IP, "hash_key ip");
    ok(u->hash_name == NULL, "no hash_name");
    is_int(u->retries, 1, "retries 1");
    is_int(u->max_fails, 1, "max_fails 1");
    is_int(u->fail_timeout, 10000, "fail_timeout 10s");
    is_int(u->all_down_try, 0, "all_down 503");
    is_int(u->queue, 100, "queue 100");
    is_int(u->queue_timeout, 10000, "queue_timeout 10s");
    is_int(u->health.type, GH_HEALTH_NONE, "no active health checks");
    ok(u->health.path == NULL && u->health.host == NULL,
       "health: no path, no host");
    is_int(u->shm, 0, "upstream shm left 0");
    sv = &u->servers[0];
    is_int(sv->max_conns, 0, "max_conns 0: no cap");
    is_int(sv->backup, 0, "not a backup");
    is_int(sv->slow_start, 0, "slow_start 0s");
    is_int(sv->shm, 0, "server shm left 0");
    is_int(c->sites[0].routes[0].shm, 0, "route shm left 0");
    gh_conf_free(c);

    /* An empty health group: HTTP checks with every default. */
    c = load_text("upstreams = { app = { health = { };\n"
                  "  servers = ( { address = \"127.0.0.1:9001\"; } ); }; };\n"
                  SITE, err, sizeof(err));
    if (!ok(c != NULL, "health = { } loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    u = &c->upstreams[0];
    is_int(u->health.type, GH_HEALTH_HTTP, "type http");
    is_str(u->health.path, "/", "path /");
    ok(u->health.host == NULL, "host: the server address");
    is_int(u->health.interval, 2000, "interval 2s");
    is_int(u->health.timeout, 1000, "timeout 1s");
    is_int(u->health.rise, 2, "rise 2");
    is_int(u->health.fall, 3, "fall 3");
    is_int(u->health.status_lo, 200, "status 200-");
    is_int(u->health.status_hi, 399, "status -399");
    gh_conf_free(c);

    /* A short interval takes the default timeout down with it. */
    c = load_text("upstreams = { app = { health = { interval = \"500ms\"; };\n"
                  "  servers = ( { address = \"127.0.0.1:9001\"; } ); }; };\n"
                  SITE, err, sizeof(err));
    if (!ok(c != NULL, "interval below the default timeout loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    is_int(c->upstreams[0].health.interval, 500, "interval 500ms");
    is_int(c->upstreams[0].health.timeout, 500, "timeout = interval");
    gh_conf_free(c);
}

/* Every new key of upstreams, servers, health, routes and sites set. */
static const char balance_text[] =
    "upstreams = {\n"
    "  app = { keepalive = 8; balance = \"hash\";"
    " hash_key = \"header:X-User-ID\";\n"
    "          retries = 10; max_fails = 5; fail_timeout = \"30s\";"
    " all_down = \"try_anyway\";\n"
    "          queue = 100000; queue_timeout = \"2500ms\";\n"
    "          health = { type = \"http\"; path = \"/healthz?full=1\";"
    " host = \"app.internal:8080\";\n"
    "                     interval = \"5s\"; timeout = \"5s\"; rise = 1;"
    " fall = 100; status = \"204\"; };\n"
    "          servers = ( { address = \"127.0.0.1:9001\"; weight = 5;"
    " max_conns = 1000000; slow_start = \"30s\"; },\n"
    "                      { address = \"127.0.0.1:9002\"; backup = true;"
    " max_conns = 1; } ); };\n"
    "  tcp = { balance = \"least_conn\"; max_fails = 0; queue = 0;\n"
    "          health = { type = \"tcp\"; interval = \"10ms\";"
    " timeout = \"1ms\"; };\n"
    "          servers = ( { address = \"127.0.0.1:9003\";"
    " backup = false; } ); };\n"
    "  ck = { balance = \"hash\"; hash_key = \"cookie:SessionID\";\n"
    "         servers = ( { address = \"127.0.0.1:9004\"; } ); };\n"
    "  uri = { balance = \"hash\"; hash_key = \"uri\"; all_down = 503;\n"
    "          health = { status = 200; };\n"
    "          servers = ( { address = \"127.0.0.1:9005\"; } ); };\n"
    "  r2 = { balance = \"random2\"; retries = 0;\n"
    "         health = { status = \"100-599\"; };\n"
    "         servers = ( { address = \"127.0.0.1:9006\"; } ); };\n"
    "  ip = { balance = \"hash\";\n"
    "         servers = ( { address = \"127.0.0.1:9007\"; } ); };\n"
    "  a23456789012345678901234567890123456789012345678901234567890123 = {\n"
    "         servers = ( { address = \"127.0.0.1:9008\"; } ); };\n"
    "};\n"
    "sites = (\n"
    "  { name = \"shop front\"; listen = \"127.0.0.1:8080\";"
    " hosts = \"shop.example.com\";\n"
    "    routes = ( { path = \"/\"; upstream = \"app\"; },\n"
    "               { path = \"/metrics\"; metrics = true; },\n"
    "               { path = \"/s/\"; root = \"www\";"
    " metrics = false; } ); },\n"
    "  { listen = \"127.0.0.1:8081\";"
    " hosts = [ \"B.example.com\", \"c.example.com\" ];\n"
    "    routes = ( { path = \"/\"; upstream = \"tcp\"; } ); },\n"
    "  { listen = [ \"[::1]:8082\", \"127.0.0.1:8082\" ];\n"
    "    routes = ( { path = \"/\"; upstream = \"ck\"; } ); }\n"
    ");\n";

static void
test_balance_keys(void)
{
    char err[1024] = "";
    struct gh_conf *c = load_text(balance_text, err, sizeof(err));
    struct gh_upstream *u;
    struct gh_route *r;

    if (!ok(c != NULL, "every balancing and health key set loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    is_int(c->nupstreams, 7, "seven upstreams");

    u = &c->upstreams[0];
    is_int(u->keepalive, 8, "keepalive");
    is_int(u->balance, GH_BALANCE_HASH, "balance hash");
    is_int(u->hash_key, GH_HASH_HEADER, "hash_key header");
    is_str(u->hash_name, "x-user-id", "header name lower-cased");
    is_int(u->retries, 10, "retries max");
    is_int(u->max_fails, 5, "max_fails");
    is_int(u->fail_timeout, 30000, "fail_timeout");
    is_int(u->all_down_try, 1, "all_down try_anyway");
    is_int(u->queue, 100000, "queue max");
    is_int(u->queue_timeout, 2500, "queue_timeout");
    is_int(u->health.type, GH_HEALTH_HTTP, "health http");
    is_str(u->health.path, "/healthz?full=1", "health path");
    is_str(u->health.host, "app.internal:8080", "health host");
    is_int(u->health.interval, 5000, "interval");
    is_int(u->health.timeout, 5000, "timeout = interval is fine");
    is_int(u->health.rise, 1, "rise min");
    is_int(u->health.fall, 100, "fall max");
    is_int(u->health.status_lo, 204, "one status: lo");
    is_int(u->health.status_hi, 204, "one status: hi");
    is_int(u->servers[0].weight, 5, "weight");
    is_int(u->servers[0].max_conns, 1000000, "max_conns max");
    is_int(u->servers[0].backup, 0, "server 0 is primary");
    is_int(u->servers[0].slow_start, 30000, "slow_start");
    is_int(u->servers[1].backup, 1, "server 1 is a backup");
    is_int(u->servers[1].max_conns, 1, "max_conns 1");

    u = &c->upstreams[1];
    is_int(u->balance, GH_BALANCE_LEAST_CONN, "least_conn");
    is_int(u->max_fails, 0, "max_fails 0: passive checks off");
    is_int(u->queue, 0, "queue 0");
    is_int(u->health.type, GH_HEALTH_TCP, "health tcp");
    ok(u->health.path == NULL && u->health.host == NULL,
       "tcp: no path, no host");
    is_int(u->health.status_lo, 0, "tcp: no status");
    is_int(u->health.interval, 10, "interval min");
    is_int(u->health.timeout, 1, "timeout min");
    is_int(u->servers[0].backup, 0, "backup = false");

    u = &c->upstreams[2];
    is_int(u->hash_key, GH_HASH_COOKIE, "hash_key cookie");
    is_str(u->hash_name, "SessionID", "cookie name keeps its case");

    u = &c->upstreams[3];
    is_int(u->hash_key, GH_HASH_URI, "hash_key uri");
    ok(u->hash_name == NULL, "uri: no hash_name");
    is_int(u->all_down_try, 0, "all_down = 503 as an integer");
    is_int(u->health.type, GH_HEALTH_HTTP, "type defaults to http");
    is_int(u->health.status_lo, 200, "status 200 as an integer: lo");
    is_int(u->health.status_hi, 200, "status 200 as an integer: hi");

    u = &c->upstreams[4];
    is_int(u->balance, GH_BALANCE_RANDOM2, "random2");
    is_int(u->retries, 0, "retries 0");
    is_int(u->health.status_lo, 100, "status range min");
    is_int(u->health.status_hi, 599, "status range max");

    u = &c->upstreams[5];
    is_int(u->balance, GH_BALANCE_HASH, "hash without hash_key");
    is_int(u->hash_key, GH_HASH_IP, "hashes on ip");
    is_int(strlen(c->upstreams[6].name), 63, "a 63-byte name is fine");

    is_str(c->sites[0].name, "shop front", "site name as given");
    is_str(c->sites[1].name, "b.example.com",
           "site name: the first host, lower-cased");
    is_str(c->sites[2].name, "[::1]:8082",
           "site name: the first listen address");
    r = &c->sites[0].routes[0];
    is_str(r->path, "/metrics", "longest first");
    is_int(r->metrics, 1, "metrics route");
    ok(r->upstream == NULL && r->root == NULL && r->index == NULL,
       "metrics route: no upstream, root or index");
    is_int(c->sites[0].routes[1].metrics, 0, "metrics = false");
    ok(c->sites[0].routes[1].root != NULL, "with a root");
    gh_conf_free(c);
}

static void
test_everything_set(void)
{
    static const char text[] =
        "workers = 512;\n"
        "worker_rlimit_nofile = 1048576;\n"
        "pid_file = \"off\";\n"
        "error_log = \"log/error.log\";\n"
        "log_level = \"debug\";\n"
        "access_log = \"stderr\";\n"
        "shm_size = \"1G\";\n"
        "timeouts = { client_header = \"500ms\"; client_body = 7;"
        " keepalive = \"0s\"; upstream_connect = \"2m\";"
        " upstream_read = \"1h\"; upstream_send = \"3s\";"
        " tunnel = \"2h\"; shutdown = 0; };\n"
        "limits = { header_size = 1024; headers = 10000; body_size = 0;"
        " connections = 1000000; uri_size = \"256\";"
        " keepalive_requests = 1; };\n"
        "upstreams = { a = { keepalive = 0; servers = ( { address ="
        " \"*:1\"; weight = 1000; } ); };\n"
        "              b = { keepalive = 10000; servers = ( { address ="
        " \"[::]:65535\"; } ); }; };\n"
        "sites = ( { listen = \"*:8080\"; hosts = \"WWW.Example.COM\";\n"
        "            routes = ( { path = \"/\"; root = \"./html/./x//\";"
        " index = \"default.htm\"; },\n"
        "                       { path = \"/b\"; upstream = \"b\"; } );"
        " } );\n";
    char err[1024] = "", want[512];
    struct gh_conf *c = load_text(text, err, sizeof(err));

    if (!ok(c != NULL, "every key set loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    is_int(c->workers, 512, "workers");
    is_int(c->rlimit_nofile, 1048576, "worker_rlimit_nofile max");
    ok(c->pid_file == NULL, "pid_file off");
    (void) snprintf(want, sizeof(want), "%s/log/error.log", tmpdir);
    is_str(c->error_log, want, "error_log relative to the file");
    is_int(c->log_level, GH_LOG_DEBUG, "log_level");
    is_str(c->access_log, "stderr", "access_log stderr kept");
    ok(c->shm_size == 1ULL << 30, "shm_size");
    is_int(c->timeouts.client_header, 500, "client_header ms");
    is_int(c->timeouts.client_body, 7000, "integer duration is seconds");
    is_int(c->timeouts.keepalive, 0, "keepalive 0");
    is_int(c->timeouts.upstream_connect, 120000, "upstream_connect m");
    is_int(c->timeouts.upstream_read, 3600000, "upstream_read h");
    is_int(c->timeouts.upstream_send, 3000, "upstream_send");
    is_int(c->timeouts.tunnel, 7200000, "tunnel");
    is_int(c->timeouts.shutdown, 0, "shutdown 0");
    is_int(c->limits.header_size, 1024, "integer size is bytes");
    is_int(c->limits.headers, 10000, "headers max");
    is_int(c->limits.body_size, 0, "body_size unlimited");
    is_int(c->limits.connections, 1000000, "connections max");
    is_int(c->limits.uri_size, 256, "uri_size min");
    is_int(c->limits.keepalive_requests, 1, "keepalive_requests min");
    is_int(c->nupstreams, 2, "two upstreams");
    is_str(c->upstreams[1].name, "b", "second upstream");
    is_int(c->upstreams[1].index, 1, "second upstream index");
    is_int(c->upstreams[0].keepalive, 0, "keepalive 0");
    is_int(c->upstreams[1].keepalive, 10000, "keepalive max");
    is_str(c->upstreams[0].servers[0].addr.text, "0.0.0.0:1", "*:1");
    is_int(c->upstreams[0].servers[0].weight, 1000, "weight max");
    is_str(c->sites[0].listen[0].addr.text, "0.0.0.0:8080", "listen *");
    is_int(c->sites[0].nhosts, 1, "one host from a string");
    is_str(c->sites[0].hosts[0], "www.example.com", "host lower-cased");
    is_str(c->sites[0].routes[0].path, "/b", "longest first");
    ok(c->sites[0].routes[0].upstream == &c->upstreams[1], "/b -> b");
    (void) snprintf(want, sizeof(want), "%s/html/x", tmpdir);
    is_str(c->sites[0].routes[1].root, want, "root cleaned, no '/' at end");
    is_str(c->sites[0].routes[1].index, "default.htm", "index");
    gh_conf_free(c);
}

static void
test_routes_sorted(void)
{
    static const char text[] =
        "sites = ( { listen = \"127.0.0.1:8080\"; routes = (\n"
        "    { path = \"/\"; root = \"r0\"; },\n"
        "    { path = \"/x/\"; root = \"r1\"; },\n"
        "    { path = \"/static/\"; root = \"r2\"; },\n"
        "    { path = \"/y/\"; root = \"r3\"; },\n"
        "    { path = \"/a/b/c\"; root = \"r4\"; },\n"
        "    { path = \"/z/\"; root = \"r5\"; }\n"
        "); } );\n";
    static const char *const want[] = {
        "/static/", "/a/b/c", "/x/", "/y/", "/z/", "/"
    };
    char err[1024] = "";
    struct gh_conf *c = load_text(text, err, sizeof(err));
    unsigned i;

    if (!ok(c != NULL, "loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    is_int(c->sites[0].nroutes, 6, "six routes");
    for (i = 0; i < 6; i++)
        is_str(c->sites[0].routes[i].path, want[i],
               "route %u (longest first, stable)", i);
    gh_conf_free(c);
}

static void
test_relative_paths(void)
{
    static const char text[] =
        "pid_file = \"run/gh.pid\";\n"
        "error_log = \"../logs/error.log\";\n"
        "access_log = \"access.log\";\n"
        "sites = ( { listen = \"127.0.0.1:8080\";\n"
        "  routes = ( { path = \"/a\"; root = \"www/\"; },\n"
        "             { path = \"/b\"; root = \"/srv/b/\"; },\n"
        "             { path = \"/c\"; root = \".\"; } ); } );\n";
    char err[1024] = "", want[512], sub[128];
    struct gh_conf *c;

    (void) snprintf(sub, sizeof(sub), "%s/sub", tmpdir);
    (void) mkdir(sub, 0700);
    (void) snprintf(want, sizeof(want), "sub/rel.conf");
    c = gh_conf_load(put("sub/rel.conf", text, strlen(text)), err,
                     sizeof(err));
    if (!ok(c != NULL, "loads"))
        diag("%s", err);
    if (c == NULL)
        return;
    (void) snprintf(want, sizeof(want), "%s/run/gh.pid", sub);
    is_str(c->pid_file, want, "pid_file");
    (void) snprintf(want, sizeof(want), "%s/../logs/error.log", sub);
    is_str(c->error_log, want, "error_log");
    (void) snprintf(want, sizeof(want), "%s/access.log", sub);
    is_str(c->access_log, want, "access_log");
    (void) snprintf(want, sizeof(want), "%s/www", sub);
    is_str(c->sites[0].routes[0].root, want, "root, trailing '/' dropped");
    is_str(c->sites[0].routes[1].root, "/srv/b", "absolute root kept");
    is_str(c->sites[0].routes[2].root, sub, "root \".\" is the directory");
    (void) snprintf(want, sizeof(want), "%s/rel.conf", sub);
    is_str(c->file, want, "conf->file");
    gh_conf_free(c);

    /* Loaded through a relative name from another directory. */
    {
        char cwd[4096];

        if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(tmpdir) != 0) {
            ok(0, "chdir");
            return;
        }
        c = gh_conf_load("sub/rel.conf", err, sizeof(err));
        if (!ok(c != NULL, "loads by relative name"))
            diag("%s", err);
        if (c != NULL) {
            (void) snprintf(want, sizeof(want), "%s/www", sub);
            ok(strstr(c->sites[0].routes[0].root, "/sub/www") != NULL
               && c->sites[0].routes[0].root[0] == '/',
               "root made absolute: %s", c->sites[0].routes[0].root);
        }
        gh_conf_free(c);
        c = gh_conf_load("sub/nope.conf", err, sizeof(err));
        is_str(err, "sub/nope.conf: No such file or directory",
               "messages use the name as given");
        if (chdir(cwd) != 0)
            ok(0, "chdir back");
    }
}

static void
test_errors(void)
{
    fails("bad size",
          "limits = {\n    header_size = \"16q\";\n};\n" SITE, 2,
          "limits.header_size: \"16q\" is not a size");
    fails("unknown key, did you mean",
          "timeouts = {\n    client_header = \"10s\";\n"
          "    client_heder = \"10s\";\n};\n" SITE, 3,
          "timeouts.client_heder: unknown key "
          "(did you mean \"client_header\"?)");
    fails("unknown top-level key, did you mean",
          "\n" SITE "worker = 2;\n", 3,
          "worker: unknown key (did you mean \"workers\"?)");
    fails("unknown key, nothing close",
          SITE "frobnicate = 1;\n", 2, "frobnicate: unknown key");
    fails("unknown key in a route",
          "sites = ( { listen = \"127.0.0.1:8080\";\n"
          "  routes = ( { path = \"/\";\n      paht = \"/\"; } ); } );\n", 3,
          "sites[0].routes[0].paht: unknown key (did you mean \"path\"?)");
    fails("unknown key in a server",
          "upstreams = { app = { servers = ( { address = \"127.0.0.1:1\";\n"
          "  wieght = 2; } ); }; };\n" SITE, 2,
          "upstreams.app.servers[0].wieght: unknown key "
          "(did you mean \"weight\"?)");
    fails("workers float", "workers = 1.5;\n" SITE, 1,
          "workers: expected an integer or \"auto\", not a float");
    fails("workers word", "workers = \"many\";\n" SITE, 1,
          "workers: \"many\" is not an integer or \"auto\"");
    fails("workers 0", SITE "workers = 0;\n", 2,
          "workers: 0 is out of range (1..512)");
    fails("workers 513", "workers = 513;\n" SITE, 1,
          "workers: 513 is out of range (1..512)");
    fails("timeouts not a group", "timeouts = 5;\n" SITE, 1,
          "timeouts: expected a group { }, not an integer");
    fails("headers as a string", "limits = { headers = \"100\"; };\n" SITE,
          1, "limits.headers: expected an integer, not a string");
    fails("headers 0", "limits = { headers = 0; };\n" SITE, 1,
          "limits.headers: 0 is out of range (1..10000)");
    fails("connections too many", "limits = {\n connections = 1000001;\n};\n"
          SITE, 2, "limits.connections: 1000001 is out of range "
          "(1..1000000)");
    fails("header_size too big", "limits = { header_size = \"2M\"; };\n"
          SITE, 1, "limits.header_size: \"2M\" is out of range (1k..1M)");
    fails("header_size too small", "limits = { header_size = 512; };\n"
          SITE, 1, "limits.header_size: 512 is out of range (1k..1M)");
    fails("uri_size too small", "limits = { uri_size = \"255\"; };\n" SITE,
          1, "limits.uri_size: \"255\" is out of range (256..1M)");
    fails("negative size", "limits = { body_size = -1; };\n" SITE, 1,
          "limits.body_size: -1 is not a size");
    fails("size as a bool", "shm_size = true;\n" SITE, 1,
          "shm_size: expected a size (\"16k\", \"10M\") or an integer, "
          "not a boolean");
    fails("shm_size too small", "shm_size = \"512k\";\n" SITE, 1,
          "shm_size: \"512k\" is out of range (1M..1024G)");
    fails("zero timeout", "timeouts = { upstream_read = \"0s\"; };\n" SITE,
          1, "timeouts.upstream_read: \"0s\" is out of range (1ms..24h)");
    fails("bad duration", "timeouts = { keepalive = \"5 s\"; };\n" SITE, 1,
          "timeouts.keepalive: \"5 s\" is not a duration "
          "(want a number and ms, s, m or h)");
    fails("negative duration", "timeouts = { keepalive = -5; };\n" SITE, 1,
          "timeouts.keepalive: -5 is not a duration");
    fails("duration overflow",
          "timeouts = { tunnel = \"9999999999999999999h\"; };\n" SITE, 1,
          "timeouts.tunnel: \"9999999999999999999h\" is not a duration "
          "(want a number and ms, s, m or h)");
    fails("unknown log level", "log_level = \"loud\";\n" SITE, 1,
          "log_level: unknown log level \"loud\" (want emerg, alert, crit, "
          "error, warn, notice, info or debug)");
    fails("pid_file stdout", "pid_file = \"stdout\";\n" SITE, 1,
          "pid_file: \"stdout\" is not allowed here");
    fails("error_log off", "error_log = \"off\";\n" SITE, 1,
          "error_log: \"off\" is not allowed here");
    fails("empty error_log", "error_log = \"\";\n" SITE, 1,
          "error_log: must not be empty");
    fails("user not a string", "user = 1;\n" SITE, 1,
          "user: expected a string, not an integer");
    fails("empty file", "", 0, "sites: missing (required)");
    fails("only comments", "# nothing\n// here\n", 0,
          "sites: missing (required)");
    fails("no sites", "workers = 1;\nsites = ();\n", 2,
          "sites: at least one site is required");
    fails("sites not a list", "sites = { a = 1; };\n", 1,
          "sites: expected a list ( { ... }, ... ), not a group { }");
    fails("site not a group", "sites = ( 1 );\n", 1,
          "sites[0]: expected a group { }, not an integer");
    fails("site without listen",
          "sites = (\n  {\n    routes = ( { path = \"/\"; root = \"w\"; } );"
          "\n  }\n);\n", 2, "sites[0].listen: missing (required)");
    fails("site with empty listen",
          "sites = ( {\n  listen = [ ];\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].listen: a site needs at least one listen address");
    fails("listen not a string",
          "sites = ( { listen = 8080;\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 1,
          "sites[0].listen: expected a string or an array of strings, "
          "not an integer");
    fails("listen on a name",
          "sites = ( { listen = \"localhost:8080\";\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 1,
          "sites[0].listen: \"localhost:8080\": numeric address required "
          "(no DNS at run time)");
    fails("listen bad port",
          "sites = ( {\n  listen = [ \"127.0.0.1:80\",\n"
          "             \"127.0.0.1:0\" ];\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 3,
          "sites[0].listen[1]: \"127.0.0.1:0\": has a bad port "
          "(want 1..65535)");
    fails("listen twice",
          "sites = ( { listen = [ \"127.0.0.1:80\", \"127.0.0.1:080\" ];\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 1,
          "sites[0].listen[1]: 127.0.0.1:80 is listed twice");
    fails("no routes",
          "sites = ( { listen = \"127.0.0.1:80\";\n  routes = ( ); } );\n",
          2, "sites[0].routes: a site needs at least one route");
    fails("routes missing",
          "sites = ( { listen = \"127.0.0.1:80\"; } );\n", 1,
          "sites[0].routes: missing (required)");
    fails("route with both",
          UPSTREAM "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\"; root = \"w\"; upstream = \"app\"; } ); } );\n",
          3, "sites[0].routes[0]: has both \"upstream\" and \"root\"; "
          "a route needs exactly one");
    fails("route with neither",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\"; root = \"w\"; },\n  { path = \"/x\"; } ); } );\n",
          3, "sites[0].routes[1]: has none of \"upstream\", \"root\", "
          "\"metrics\", \"return\" and \"redirect\"; a route needs "
          "exactly one");
    fails("unknown upstream, did you mean",
          UPSTREAM "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\";\n    upstream = \"ap\"; } ); } );\n", 4,
          "sites[0].routes[0].upstream: unknown upstream \"ap\" "
          "(did you mean \"app\"?)");
    fails("unknown upstream",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\"; upstream = \"backend\"; } ); } );\n", 2,
          "sites[0].routes[0].upstream: unknown upstream \"backend\"");
    fails("route path without '/'",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"static/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].routes[0].path: \"static/\" must start with '/'");
    fails("route path with a space",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/a b\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].routes[0].path: \"/a b\" has a space or control "
          "character");
    fails("route without path",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { root = \"w\"; } ); } );\n", 2,
          "sites[0].routes[0]: has none of \"path\", \"path_exact\" and "
          "\"path_regex\"; a route needs one");
    fails("route path twice",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\"; root = \"w\"; },\n"
          "  { path = \"/\"; root = \"v\"; } ); } );\n", 3,
          "sites[0].routes[1]: can never be chosen: the route at line 2 "
          "has the same path \"/\" and no condition (host, header, cookie, "
          "query, methods)");
#define UPTLS(x) "upstreams = { app = { servers = ( { address = " \
    "\"127.0.0.1:9001\"; } );\n  tls = { " x " }; }; };\n" \
    "sites = ( { listen = \"127.0.0.1:80\"; routes = ( { path = \"/\"; " \
    "upstream = \"app\"; } ); } );\n"
    fails("upstream tls: cert without key", UPTLS("cert = \"c.pem\";"), 2,
          "upstreams.app.tls: cert and key go together");
    fails("upstream tls: sni not a host name", UPTLS("sni = \"a b\";"), 2,
          "upstreams.app.tls: sni \"a b\" is not a host name");
    fails_like("upstream tls: unreadable ca", UPTLS("ca = \"nope.pem\";"),
               strlen(UPTLS("ca = \"nope.pem\";")), "upstreams.app.tls.ca: ");
    {
        char e2[512];
        struct gh_conf *uc = load_text(UPTLS("verify = false; sni = "
                                             "\"app.internal\";"), e2,
                                       sizeof(e2));

        if (!ok(uc != NULL && uc->upstreams[0].tls.on
                && !uc->upstreams[0].tls.verify && uc->upstreams[0].tls.ctx
                && strcmp(uc->upstreams[0].tls.sni, "app.internal") == 0,
                "upstream tls: parsed, context built"))
            diag("%s", e2);
        gh_conf_free(uc);
    }
    fails("index on a proxy route",
          UPSTREAM "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\"; upstream = \"app\"; index = \"i.html\"; } );"
          " } );\n",
          3, "sites[0].routes[0].index: only applies to a route with "
          "\"root\"");
    fails("index with a slash",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\"; root = \"w\"; index = \"../x\"; } ); } );\n", 2,
          "sites[0].routes[0].index: \"../x\" must be a file name, not a "
          "path");
    fails("root /",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\"; root = \"//\"; } ); } );\n", 2,
          "sites[0].routes[0].root: \"/\" would serve the whole file system");
    fails("upstreams not a group", "upstreams = ( );\n" SITE, 1,
          "upstreams: expected a group of named upstreams, not a list ( )");
    fails("upstream not a group", "upstreams = { app = 1; };\n" SITE, 1,
          "upstreams.app: expected a group { }, not an integer");
    fails("upstream without servers",
          "upstreams = {\n  app = { keepalive = 1; };\n};\n" SITE, 2,
          "upstreams.app.servers: missing (required)");
    fails("upstream with no servers",
          "upstreams = {\n  app = {\n    servers = ( );\n  };\n};\n" SITE, 3,
          "upstreams.app.servers: an upstream needs at least one server");
    fails("upstream keepalive too big",
          "upstreams = { app = { keepalive = 10001;\n"
          "  servers = ( { address = \"127.0.0.1:1\"; } ); }; };\n" SITE, 1,
          "upstreams.app.keepalive: 10001 is out of range (0..10000)");
    fails("server weight 0",
          "upstreams = { app = { servers = (\n"
          "  { address = \"127.0.0.1:1\"; weight = 0; } ); }; };\n" SITE, 2,
          "upstreams.app.servers[0].weight: 0 is out of range (1..1000)");
    fails("server without address",
          "upstreams = { app = { servers = (\n"
          "  { weight = 2; } ); }; };\n" SITE, 2,
          "upstreams.app.servers[0].address: missing (required)");
    fails("server on a name",
          "upstreams = { app = { servers = (\n"
          "  { address = \"db.internal:5432\"; } ); }; };\n" SITE, 2,
          "upstreams.app.servers[0].address: \"db.internal:5432\": numeric "
          "address required (no DNS at run time)");
    fails("server twice",
          "upstreams = { app = { servers = (\n"
          "  { address = \"127.0.0.1:1\"; },\n"
          "  { address = \"127.0.0.1:01\"; } ); }; };\n" SITE, 3,
          "upstreams.app.servers[1]: server 127.0.0.1:1 is listed twice "
          "(first at line 2)");
    fails("servers not a list",
          "upstreams = { app = { servers = { a = 1; }; }; };\n" SITE, 1,
          "upstreams.app.servers: expected a list ( { ... }, ... ), not a "
          "group { }");
    fails("same host twice on one address",
          "sites = (\n"
          "  { listen = \"127.0.0.1:80\";"
          " hosts = [ \"a.com\", \"Example.com\" ];\n"
          "    routes = ( { path = \"/\"; root = \"w\"; } ); },\n"
          "  { listen = [ \"127.0.0.1:81\", \"127.0.0.1:80\" ];\n"
          "    hosts = [ \"b.com\",\n"
          "              \"EXAMPLE.COM\" ];\n"
          "    routes = ( { path = \"/\"; root = \"w\"; } ); }\n"
          ");\n", 6,
          "sites[1].hosts[1]: \"example.com\" on 127.0.0.1:80 is already "
          "served by the site at line 2");
    fails("two sites for any host on one address",
          "sites = (\n"
          "  { listen = \"127.0.0.1:80\";\n"
          "    routes = ( { path = \"/\"; root = \"w\"; } ); },\n"
          "  { listen = \"127.0.0.1:80\";\n"
          "    routes = ( { path = \"/\"; root = \"w\"; } ); }\n"
          ");\n", 4,
          "sites[1]: a second site for any host on 127.0.0.1:80 (the first "
          "is at line 2)");
    fails("host twice in a site",
          "sites = ( { listen = \"127.0.0.1:80\";\n"
          "  hosts = [ \"a.com\", \"A.com\" ];\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].hosts[1]: \"a.com\" is listed twice");
    fails("wildcard in the middle",
          "sites = ( { listen = \"127.0.0.1:80\";\n"
          "  hosts = \"foo.*.com\";\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].hosts: \"foo.*.com\" is not a host name (a wildcard may "
          "only be a leading \"*.\")");
    fails("bare wildcard",
          "sites = ( { listen = \"127.0.0.1:80\";\n"
          "  hosts = [ \"*\" ];\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].hosts[0]: \"*\" is not a host name (a wildcard may "
          "only be a leading \"*.\")");
    fails("empty hosts",
          "sites = ( { listen = \"127.0.0.1:80\";\n"
          "  hosts = [ ];\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].hosts: must not be empty (leave hosts out to serve any "
          "host)");

    /* balancing, passive and active health checks, metrics, names */
#define UP_OPEN "upstreams = {\n  app = {\n"
#define UP_CLOSE \
    "    servers = ( { address = \"127.0.0.1:9001\"; } );\n  };\n};\n" SITE
#define SERVER_OPEN "upstreams = { app = { servers = (\n"
#define SERVER_CLOSE " ); }; };\n" SITE
    fails("balance wrong type", UP_OPEN "    balance = true;\n" UP_CLOSE, 3,
          "upstreams.app.balance: expected a string, not a boolean");
    fails("balance round-robin",
          UP_OPEN "    balance = \"round-robin\";\n" UP_CLOSE, 3,
          "upstreams.app.balance: unknown value \"round-robin\" "
          "(did you mean \"round_robin\"?)");
    fails("balance unknown", UP_OPEN "    balance = \"fastest\";\n" UP_CLOSE,
          3, "upstreams.app.balance: unknown value \"fastest\" (want "
          "\"round_robin\", \"least_conn\", \"random2\" or \"hash\")");
    fails("balance as an integer", UP_OPEN "    balance = 2;\n" UP_CLOSE, 3,
          "upstreams.app.balance: unknown value 2 (want \"round_robin\", "
          "\"least_conn\", \"random2\" or \"hash\")");
    fails("unknown upstream key, did you mean",
          UP_OPEN "    balanse = \"hash\";\n" UP_CLOSE, 3,
          "upstreams.app.balanse: unknown key (did you mean \"balance\"?)");
    fails("hash_key without hash",
          UP_OPEN "    balance = \"least_conn\";\n"
          "    hash_key = \"uri\";\n" UP_CLOSE, 4,
          "upstreams.app: hash_key needs balance = \"hash\"");
    fails("hash_key without balance",
          UP_OPEN "    hash_key = \"ip\";\n" UP_CLOSE, 3,
          "upstreams.app: hash_key needs balance = \"hash\"");
    fails("hash_key header: without a name",
          UP_OPEN "    balance = \"hash\"; hash_key = \"header:\";\n" UP_CLOSE,
          3, "upstreams.app.hash_key: \"header:\" has an empty header name");
    fails("hash_key cookie: without a name",
          UP_OPEN "    balance = \"hash\"; hash_key = \"cookie:\";\n" UP_CLOSE,
          3, "upstreams.app.hash_key: \"cookie:\" has an empty cookie name");
    fails("hash_key header name not a token",
          UP_OPEN "    balance = \"hash\";\n"
          "    hash_key = \"header:X User\";\n" UP_CLOSE, 4,
          "upstreams.app.hash_key: \"header:X User\": not a valid header "
          "name (want letters, digits and !#$%&'*+-.^_`|~)");
    fails("hash_key cookie name with '='",
          UP_OPEN "    balance = \"hash\";\n"
          "    hash_key = \"cookie:a=b\";\n" UP_CLOSE, 4,
          "upstreams.app.hash_key: \"cookie:a=b\": not a valid cookie "
          "name (want letters, digits and !#$%&'*+-.^_`|~)");
    fails("hash_key header without ':'",
          UP_OPEN "    balance = \"hash\"; hash_key = \"header\";\n" UP_CLOSE,
          3, "upstreams.app.hash_key: \"header\" needs a name, as in "
          "\"header:NAME\"");
    fails("hash_key url",
          UP_OPEN "    balance = \"hash\"; hash_key = \"url\";\n" UP_CLOSE,
          3, "upstreams.app.hash_key: unknown value \"url\" (did you mean "
          "\"uri\"?)");
    fails("hash_key unknown",
          UP_OPEN "    balance = \"hash\"; hash_key = \"query:x\";\n"
          UP_CLOSE, 3, "upstreams.app.hash_key: unknown value \"query:x\" "
          "(want \"ip\", \"uri\", \"header:NAME\" or \"cookie:NAME\")");
    fails("hash_key wrong type",
          UP_OPEN "    balance = \"hash\"; hash_key = 1;\n" UP_CLOSE, 3,
          "upstreams.app.hash_key: expected a string, not an integer");
    fails("retries 11", UP_OPEN "    retries = 11;\n" UP_CLOSE, 3,
          "upstreams.app.retries: 11 is out of range (0..10)");
    fails("retries as a string", UP_OPEN "    retries = \"1\";\n" UP_CLOSE,
          3, "upstreams.app.retries: expected an integer, not a string");
    fails("max_fails negative", UP_OPEN "    max_fails = -1;\n" UP_CLOSE, 3,
          "upstreams.app.max_fails: -1 is out of range (0..1000)");
    fails("fail_timeout 0", UP_OPEN "    fail_timeout = \"0s\";\n" UP_CLOSE,
          3, "upstreams.app.fail_timeout: \"0s\" is out of range "
          "(1ms..24h)");
    fails("fail_timeout not a duration",
          UP_OPEN "    fail_timeout = \"10 s\";\n" UP_CLOSE, 3,
          "upstreams.app.fail_timeout: \"10 s\" is not a duration "
          "(want a number and ms, s, m or h)");
    fails("all_down try-anyway",
          UP_OPEN "    all_down = \"try-anyway\";\n" UP_CLOSE, 3,
          "upstreams.app.all_down: unknown value \"try-anyway\" "
          "(did you mean \"try_anyway\"?)");
    fails("all_down 502", UP_OPEN "    all_down = 502;\n" UP_CLOSE, 3,
          "upstreams.app.all_down: unknown value 502 (did you mean "
          "\"503\"?)");
    fails("all_down unknown", UP_OPEN "    all_down = \"wait\";\n" UP_CLOSE,
          3, "upstreams.app.all_down: unknown value \"wait\" (want \"503\" "
          "or \"try_anyway\")");
    fails("queue too long", UP_OPEN "    queue = 100001;\n" UP_CLOSE, 3,
          "upstreams.app.queue: 100001 is out of range (0..100000)");
    fails("queue_timeout too long",
          UP_OPEN "    queue_timeout = \"25h\";\n" UP_CLOSE, 3,
          "upstreams.app.queue_timeout: \"25h\" is out of range "
          "(1ms..24h)");
    fails("health not a group", UP_OPEN "    health = \"http\";\n" UP_CLOSE,
          3, "upstreams.app.health: expected a group { }, not a string");
    fails("health unknown key",
          UP_OPEN "    health = {\n      intervall = \"1s\"; };\n" UP_CLOSE, 4,
          "upstreams.app.health.intervall: unknown key "
          "(did you mean \"interval\"?)");
    fails("health type unknown",
          UP_OPEN "    health = { type = \"udp\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.type: unknown value \"udp\" (did you mean "
          "\"tcp\"?)");
    fails("health type none",
          UP_OPEN "    health = { type = \"none\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.type: unknown value \"none\" (want "
          "\"http\" or \"tcp\")");
    fails("health status 399-200",
          UP_OPEN "    health = {\n      status = \"399-200\"; };\n" UP_CLOSE,
          4, "upstreams.app.health.status: \"399-200\" is not a range: 399 "
          "is above 200");
    fails("health status abc",
          UP_OPEN "    health = { status = \"abc\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.status: \"abc\" is not a status or a range "
          "of them (want \"200\" or \"200-399\")");
    fails("health status 200-",
          UP_OPEN "    health = { status = \"200-\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.status: \"200-\" is not a status or a range "
          "of them (want \"200\" or \"200-399\")");
    fails("health status 99",
          UP_OPEN "    health = { status = \"99\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.status: \"99\" is out of range (100..599)");
    fails("health status 200-600",
          UP_OPEN "    health = { status = \"200-600\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.status: \"200-600\" is out of range "
          "(100..599)");
    fails("health status integer 600",
          UP_OPEN "    health = { status = 600; };\n" UP_CLOSE, 3,
          "upstreams.app.health.status: 600 is out of range (100..599)");
    fails("health status wrong type",
          UP_OPEN "    health = { status = [ 200, 204 ]; };\n" UP_CLOSE, 3,
          "upstreams.app.health.status: expected a string (\"200\" or "
          "\"200-399\"), not an array [ ]");
    fails("health timeout > interval",
          UP_OPEN "    health = { interval = \"1s\";\n"
          "      timeout = \"1500ms\"; };\n" UP_CLOSE, 4,
          "upstreams.app.health.timeout: \"1500ms\" is longer than "
          "interval (\"1s\")");
    fails("health timeout > default interval",
          UP_OPEN "    health = { timeout = \"3s\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.timeout: \"3s\" is longer than interval "
          "(\"2s\")");
    fails("health interval too short",
          UP_OPEN "    health = { interval = \"5ms\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.interval: \"5ms\" is out of range "
          "(10ms..24h)");
    fails("health rise 0", UP_OPEN "    health = { rise = 0; };\n" UP_CLOSE,
          3, "upstreams.app.health.rise: 0 is out of range (1..100)");
    fails("health fall 101", UP_OPEN "    health = { fall = 101; };\n"
          UP_CLOSE, 3, "upstreams.app.health.fall: 101 is out of range "
          "(1..100)");
    fails("health tcp with path",
          UP_OPEN "    health = { type = \"tcp\";\n      path = \"/\"; };\n"
          UP_CLOSE, 4, "upstreams.app.health.path: not allowed with type = "
          "\"tcp\" (only HTTP checks have it)");
    fails("health tcp with host",
          UP_OPEN "    health = { host = \"a\"; type = \"tcp\"; };\n"
          UP_CLOSE, 3, "upstreams.app.health.host: not allowed with type = "
          "\"tcp\" (only HTTP checks have it)");
    fails("health tcp with status",
          UP_OPEN "    health = { type = \"tcp\"; status = \"200\"; };\n"
          UP_CLOSE, 3, "upstreams.app.health.status: not allowed with type = "
          "\"tcp\" (only HTTP checks have it)");
    fails("health path without '/'",
          UP_OPEN "    health = { path = \"health\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.path: \"health\" must start with '/'");
    fails("health path with a space",
          UP_OPEN "    health = { path = \"/a b\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.path: \"/a b\" has a space or control "
          "character");
    fails("health path empty",
          UP_OPEN "    health = { path = \"\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.path: must not be empty");
    fails("health host with CRLF",
          UP_OPEN "    health = { host = \"a\\r\\nX: y\"; };\n" UP_CLOSE, 3,
          "upstreams.app.health.host: \"a\\x0d\\x0aX: y\" has a space, "
          "control or non-ASCII character");
    fails("max_conns negative",
          SERVER_OPEN "  { address = \"127.0.0.1:1\"; max_conns = -1; }"
          SERVER_CLOSE, 2, "upstreams.app.servers[0].max_conns: -1 is out of "
          "range (0..1000000)");
    fails("backup as a string",
          SERVER_OPEN "  { address = \"127.0.0.1:1\"; backup = \"yes\"; }"
          SERVER_CLOSE, 2, "upstreams.app.servers[0].backup: expected a "
          "boolean (true or false), not a string");
    fails("backup as an integer",
          SERVER_OPEN "  { address = \"127.0.0.1:1\"; backup = 1; }"
          SERVER_CLOSE, 2, "upstreams.app.servers[0].backup: expected a "
          "boolean (true or false), not an integer");
    fails("slow_start too long",
          SERVER_OPEN "  { address = \"127.0.0.1:1\"; slow_start = \"2d\"; }"
          SERVER_CLOSE, 2, "upstreams.app.servers[0].slow_start: \"2d\" is "
          "not a duration (want a number and ms, s, m or h)");
    fails("unknown server key, did you mean",
          SERVER_OPEN "  { address = \"127.0.0.1:1\"; max_con = 1; }"
          SERVER_CLOSE, 2, "upstreams.app.servers[0].max_con: unknown key "
          "(did you mean \"max_conns\"?)");
    fails("all servers backup",
          "upstreams = { app = {\n  servers = (\n"
          "    { address = \"127.0.0.1:1\"; backup = true; },\n"
          "    { address = \"127.0.0.1:2\"; backup = true; } ); }; };\n"
          SITE, 2, "upstreams.app.servers: every server is a backup; at "
          "least one must not be");
    fails("upstream name too long",
          "upstreams = {\n"
          "  a234567890123456789012345678901234567890123456789012345678901234"
          " = { servers = ( { address = \"127.0.0.1:1\"; } ); };\n};\n" SITE,
          2, "upstreams.a2345678901234567890123456789012345678901234567890123"
          "45678901234: the name is 64 bytes long; the limit is 63");
    fails("metrics with upstream",
          UPSTREAM "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/m\"; upstream = \"app\"; metrics = true; } ); } );\n",
          3, "sites[0].routes[0]: has both \"upstream\" and \"metrics\"; "
          "a route needs exactly one");
    fails("metrics with root",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/m\"; metrics = true; root = \"w\"; } ); } );\n",
          2, "sites[0].routes[0]: has both \"root\" and \"metrics\"; "
          "a route needs exactly one");
    fails("metrics with upstream and root",
          UPSTREAM "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/m\"; upstream = \"app\"; root = \"w\";\n"
          "    metrics = true; } ); } );\n",
          3, "sites[0].routes[0]: has \"upstream\", \"root\" and "
          "\"metrics\"; a route needs exactly one");
    fails("metrics = false is no action",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/m\"; metrics = false; } ); } );\n",
          2, "sites[0].routes[0]: has none of \"upstream\", \"root\", "
          "\"metrics\", \"return\" and \"redirect\"; a route needs "
          "exactly one");
    fails("metrics with index",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/m\"; metrics = true;\n    index = \"i.html\"; } );"
          " } );\n",
          3, "sites[0].routes[0].index: only applies to a route with "
          "\"root\"");
    fails("metrics as a string",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/m\"; metrics = \"yes\"; } ); } );\n",
          2, "sites[0].routes[0].metrics: expected a boolean (true or "
          "false), not a string");
    fails("site name empty",
          "sites = ( { listen = \"127.0.0.1:80\";\n  name = \"\";\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].name: must not be empty");
    fails("site name with a control character",
          "sites = ( { listen = \"127.0.0.1:80\";\n  name = \"a\\tb\";\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].name: \"a\\x09b\" has a control character");
    fails("site name not a string",
          "sites = ( { listen = \"127.0.0.1:80\";\n  name = 1;\n"
          "  routes = ( { path = \"/\"; root = \"w\"; } ); } );\n", 2,
          "sites[0].name: expected a string, not an integer");
#undef UP_OPEN
#undef UP_CLOSE
#undef SERVER_OPEN
#undef SERVER_CLOSE

    /* libconfig's own errors */
    fails("syntax error", "workers = 2;\nuser = ;\n" SITE, 2, "syntax error");
    fails("duplicate key", "workers = 2;\nworkers = 3;\n" SITE, 2,
          "syntax error: duplicate setting name");
    fails("unterminated string", SITE "user = \"abc\n", 3, "syntax error");
}

static void
test_hostile_files(void)
{
    char err[1024], want[512], *buf;
    struct gh_conf *c;
    size_t i, len;

    /* Truncated mid-group: the example cut in half. */
    fails_like("truncated", example, sizeof(example) / 2, "syntax error");
    /* Semicolons are optional in libconfig: cut the closing ')' too. */
    fails_like("truncated at the end", example, sizeof(example) - 4,
               "syntax error");

    /* Random bytes, NULs included. */
    len = 256 * 1024;
    buf = malloc(len);
    srandom(42);
    for (i = 0; i < len; i++)
        buf[i] = (char) random();
    fails_like("random bytes", buf, len, "syntax error");
    for (i = 0; i < len; i++)
        buf[i] = (char) (i % 64 == 63 ? '\n' : "{}()[];=\"a1,"[i % 12]);
    fails_like("punctuation soup", buf, len, "syntax error");

    /* Deep nesting must fail cleanly, not blow the stack. */
    len = 200000;
    memcpy(buf, "x = ", 4);
    memset(buf + 4, '(', len - 4);
    fails_like("deep nesting", buf, len, "syntax error");
    free(buf);

    /* A file over the size limit is refused before parsing. */
    len = 16 * 1024 * 1024 + 1;
    buf = malloc(len);
    memset(buf, '#', len);
    buf[len - 1] = '\n';
    c = gh_conf_load(put("t.conf", buf, len), err, sizeof(err));
    free(buf);
    ok(c == NULL, "huge file rejected");
    (void) snprintf(want, sizeof(want), "%s/t.conf: too large (16777217 "
                    "bytes, the limit is 16777216)", tmpdir);
    is_str(err, want, "huge file message");

    /* Many sites and servers: fine, just big. */
    {
        size_t cap = 4 * 1024 * 1024, n = 0;

        buf = malloc(cap);
        n += (size_t) sprintf(buf + n, "upstreams = { u = { servers = (");
        for (i = 0; i < 3000; i++)
            n += (size_t) sprintf(buf + n, "%s{ address = \"10.0.%zu.%zu:80\";"
                                  " }", i ? "," : "", i / 250, i % 250 + 1);
        n += (size_t) sprintf(buf + n, "); }; };\nsites = (");
        for (i = 0; i < 2000; i++)
            n += (size_t) sprintf(buf + n, "%s{ listen = \"127.0.0.1:%zu\";"
                                  " routes = ( { path = \"/\"; upstream ="
                                  " \"u\"; } ); }\n", i ? "," : "", i + 1);
        n += (size_t) sprintf(buf + n, ");\n");
        c = gh_conf_load(put("t.conf", buf, n), err, sizeof(err));
        free(buf);
        if (!ok(c != NULL, "3000 servers, 2000 sites load"))
            diag("%s", err);
        ok(c != NULL && c->nsites == 2000 && c->upstreams[0].nservers == 3000,
           "all of them");
        gh_conf_free(c);
    }

    /* Missing file, directory. */
    (void) snprintf(want, sizeof(want), "%s/missing.conf", tmpdir);
    c = gh_conf_load(want, err, sizeof(err));
    ok(c == NULL, "missing file rejected");
    (void) snprintf(want, sizeof(want),
                    "%s/missing.conf: No such file or directory", tmpdir);
    is_str(err, want, "missing file message");
    c = gh_conf_load(tmpdir, err, sizeof(err));
    ok(c == NULL, "directory rejected");
    (void) snprintf(want, sizeof(want), "%s: not a regular file", tmpdir);
    is_str(err, want, "directory message");

    /* A tiny error buffer is not overrun. */
    {
        char small[16];

        memset(small, 'x', sizeof(small));
        c = load_text("workers = 0;\n" SITE, small, 8);
        ok(c == NULL && strlen(small) == 7 && small[8] == 'x',
           "message truncated to the buffer");
    }
}

/* worker_rlimit_nofile, and worker_shutdown_timeout as timeouts.shutdown */
static void
test_daemon_keys(void)
{
    char err[1024] = "", want[1024];
    struct gh_conf *c;

    c = load_text("worker_rlimit_nofile = 1;\n" SITE, err, sizeof(err));
    if (!ok(c != NULL, "worker_rlimit_nofile = 1 loads"))
        diag("%s", err);
    ok(c != NULL && c->rlimit_nofile == 1, "worker_rlimit_nofile min");
    gh_conf_free(c);
    c = load_text("worker_rlimit_nofile = 65536;\n" SITE, err, sizeof(err));
    ok(c != NULL && c->rlimit_nofile == 65536, "worker_rlimit_nofile 65536");
    gh_conf_free(c);
    c = load_text("worker_rlimit_nofile = 0;\n" SITE, err, sizeof(err));
    ok(c != NULL && c->rlimit_nofile == 0, "worker_rlimit_nofile 0 given");
    gh_conf_free(c);

    c = load_text("worker_shutdown_timeout = \"12s\";\n" SITE, err,
                  sizeof(err));
    if (!ok(c != NULL, "worker_shutdown_timeout alone loads"))
        diag("%s", err);
    ok(c != NULL && c->timeouts.shutdown == 12000,
       "worker_shutdown_timeout sets timeouts.shutdown");
    gh_conf_free(c);
    c = load_text("worker_shutdown_timeout = 0;\n" SITE, err, sizeof(err));
    ok(c != NULL && c->timeouts.shutdown == 0,
       "worker_shutdown_timeout = 0: a graceful stop is a fast one");
    gh_conf_free(c);
    c = load_text("worker_shutdown_timeout = \"1500ms\";\n"
                  "timeouts = { shutdown = \"1500ms\"; };\n" SITE, err,
                  sizeof(err));
    if (!ok(c != NULL, "both names with the same value load"))
        diag("%s", err);
    ok(c != NULL && c->timeouts.shutdown == 1500, "the value");
    gh_conf_free(c);
    c = load_text("timeouts = { shutdown = \"10s\"; };\n"
                  "worker_shutdown_timeout = 10;\n" SITE, err, sizeof(err));
    ok(c != NULL && c->timeouts.shutdown == 10000,
       "the same value written two ways loads");
    gh_conf_free(c);
    c = load_text("timeouts = { shutdown = \"45s\"; };\n" SITE, err,
                  sizeof(err));
    ok(c != NULL && c->timeouts.shutdown == 45000,
       "timeouts.shutdown alone still works");
    gh_conf_free(c);

    fails("worker_rlimit_nofile too big",
          SITE "\nworker_rlimit_nofile = 1048577;\n", 3,
          "worker_rlimit_nofile: 1048577 is out of range (0..1048576)");
    fails("worker_rlimit_nofile negative",
          "worker_rlimit_nofile = -1;\n" SITE, 1,
          "worker_rlimit_nofile: -1 is out of range (0..1048576)");
    fails("worker_rlimit_nofile as a string",
          "\nworker_rlimit_nofile = \"64k\";\n" SITE, 2,
          "worker_rlimit_nofile: expected an integer, not a string");
    fails("worker_rlimit_nofile as a float",
          "worker_rlimit_nofile = 1.5;\n" SITE, 1,
          "worker_rlimit_nofile: expected an integer, not a float");
    fails("worker_rlimit_nofile typo",
          "worker_rlimit_nofle = 1024;\n" SITE, 1,
          "worker_rlimit_nofle: unknown key "
          "(did you mean \"worker_rlimit_nofile\"?)");
    fails("worker_shutdown_timeout not a duration",
          "worker_shutdown_timeout = \"5 s\";\n" SITE, 1,
          "worker_shutdown_timeout: \"5 s\" is not a duration "
          "(want a number and ms, s, m or h)");
    fails("worker_shutdown_timeout too long",
          SITE "worker_shutdown_timeout = \"25h\";\n", 2,
          "worker_shutdown_timeout: \"25h\" is out of range (0s..24h)");
    fails("worker_shutdown_timeout negative",
          "worker_shutdown_timeout = -3;\n" SITE, 1,
          "worker_shutdown_timeout: -3 is not a duration");
    fails("allow: not an address",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ]; allow = [ \"10.0.0.0/8\", \"nope\" ];\n"
          "  routes = ( { path = \"/\"; root = \"/tmp\"; } ); } );\n",
          1, "sites[0].allow[1]: \"nope\" is not an IPv4 or IPv6 address "
          "or a CIDR block (or \"all\")");
    fails("deny: host bits below the prefix",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ];\n"
          "  routes = ( { path = \"/\"; root = \"/tmp\"; deny = \"10.0.0.1/8\"; } ); } );\n",
          2, "sites[0].routes[0].deny: \"10.0.0.1/8\" has bits set below "
          "its prefix length");
    fails("allow: prefix too long",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ]; allow = \"::1/129\";\n"
          "  routes = ( { path = \"/\"; root = \"/tmp\"; } ); } );\n",
          1, "sites[0].allow: \"::1/129\" has a prefix longer than 128 bits");
    fails("allow: empty list",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ]; allow = [ ];\n"
          "  routes = ( { path = \"/\"; root = \"/tmp\"; } ); } );\n",
          1, "sites[0].allow: must not be empty");
    fails("redirect: not a redirect status",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ];\n"
          "  routes = ( { path = \"/\";\n"
          "    redirect = { status = 304; to = \"/x\"; }; } ); } );\n",
          3, "sites[0].routes[0].redirect.status: 304 is not a redirect "
          "status (301, 302, 303, 307 or 308)");
    fails("redirect without to",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ];\n"
          "  routes = ( { path = \"/\"; redirect = { status = 301; }; } ); } );\n",
          2, "sites[0].routes[0].redirect.to: missing (required)");
    fails("return and root",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ];\n"
          "  routes = ( { path = \"/\"; root = \"/tmp\"; return = { status = 404; }; } ); } );\n",
          2, "sites[0].routes[0]: has both \"root\" and \"return\"; a route "
          "needs exactly one");
    fails("strip_prefix without upstream",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ];\n"
          "  routes = ( { path = \"/\"; root = \"/tmp\"; strip_prefix = true; } ); } );\n",
          2, "sites[0].routes[0].strip_prefix: only applies to a route with "
          "\"upstream\"");
    fails("methods: lower case",
          "sites = ( { listen = [ \"127.0.0.1:8080\" ];\n"
          "  routes = ( { path = \"/\"; root = \"/tmp\"; methods = [ \"GET\", \"post\" ]; } ); } );\n",
          2, "sites[0].routes[0].methods[1]: \"post\" is not an HTTP method "
          "gatehouse knows (names are upper case: \"GET\", \"POST\", ...)");
    fails("two sites with one name on one address",
          "upstreams = { u = { servers = ( { address = \"127.0.0.1:1\"; } ); }; };\n"
          "sites = ( { name = \"www\"; listen = [ \"127.0.0.1:8080\" ];\n"
          "  hosts = [ \"a.example\" ]; routes = ( { path = \"/\"; upstream = \"u\"; } ); },\n"
          "  { name = \"www\"; listen = [ \"127.0.0.1:8080\" ];\n"
          "  hosts = [ \"b.example\" ]; routes = ( { path = \"/\"; upstream = \"u\"; } ); } );\n",
          4, "sites[1].name: \"www\" is also the name of the site at line 2 "
          "on 127.0.0.1:8080; the metrics would mix them up");
    fails("worker_shutdown_timeout as a boolean",
          "worker_shutdown_timeout = true;\n" SITE, 1,
          "worker_shutdown_timeout: expected a duration (\"10s\", "
          "\"500ms\") or an integer, not a boolean");
    fails("worker_shutdown_timeout conflicts with timeouts.shutdown",
          "timeouts = {\n    shutdown = \"30s\";\n};\n"
          "worker_shutdown_timeout = \"10s\";\n" SITE, 4,
          "worker_shutdown_timeout: \"10s\" conflicts with "
          "timeouts.shutdown = \"30s\" (line 2): they are one setting, "
          "give it once");
    fails("the conflict, worker_shutdown_timeout written first",
          "worker_shutdown_timeout = \"1m\";\n"
          "timeouts = { shutdown = 0; };\n" SITE, 1,
          "worker_shutdown_timeout: \"60s\" conflicts with "
          "timeouts.shutdown = \"0s\" (line 2): they are one setting, "
          "give it once");

    /* The other one in an included file: named with its line. */
    put("inc.conf", "\ntimeouts = { shutdown = \"5s\"; };\n",
        strlen("\ntimeouts = { shutdown = \"5s\"; };\n"));
    c = load_text("@include \"inc.conf\"\nworker_shutdown_timeout = 6;\n"
                  SITE, err, sizeof(err));
    ok(c == NULL, "conflict with an included timeouts.shutdown");
    (void) snprintf(want, sizeof(want), "%s/t.conf:2: "
                    "worker_shutdown_timeout: \"6s\" conflicts with "
                    "timeouts.shutdown = \"5s\" (%s/inc.conf:2): they are "
                    "one setting, give it once", tmpdir, tmpdir);
    is_str(err, want, "names both files and lines");
    gh_conf_free(c);
}

static void
test_include(void)
{
    char err[1024], want[1024];
    struct gh_conf *c;

    put("inc.conf", "workers = 3;\n" SITE, strlen("workers = 3;\n" SITE));
    c = load_text("@include \"inc.conf\"\nlog_level = \"warn\";\n", err,
                  sizeof(err));
    if (!ok(c != NULL, "@include is relative to the file"))
        diag("%s", err);
    ok(c != NULL && c->workers == 3 && c->log_level == GH_LOG_WARN,
       "included values");
    gh_conf_free(c);

    put("inc.conf", "workers = 3;\n\nlimits = { headers = 0; };\n",
        strlen("workers = 3;\n\nlimits = { headers = 0; };\n"));
    c = load_text("@include \"inc.conf\"\n" SITE, err, sizeof(err));
    ok(c == NULL, "error in an included file");
    (void) snprintf(want, sizeof(want), "%s/inc.conf:3: limits.headers: 0 is "
                    "out of range (1..10000)", tmpdir);
    is_str(err, want, "names the included file and its line");

    put("inc.conf", "workers = ;\n", strlen("workers = ;\n"));
    c = load_text("@include \"inc.conf\"\n" SITE, err, sizeof(err));
    ok(c == NULL, "syntax error in an included file");
    (void) snprintf(want, sizeof(want), "%s/inc.conf:1: syntax error",
                    tmpdir);
    is_str(err, want, "names the included file");
}

static void
test_dump(void)
{
    char err[1024], *d1 = NULL, *d2 = NULL;
    size_t l1 = 0, l2 = 0;
    struct gh_conf *c, *c2;
    FILE *f;

    c = load_text(example, err, sizeof(err));
    if (!ok(c != NULL, "example loads"))
        return;
    f = open_memstream(&d1, &l1);
    gh_conf_dump(c, f);
    (void) fclose(f);
    ok(strstr(d1, "workers = 4;\n") != NULL, "dump has workers");
    ok(strstr(d1, "header_size = \"16k\";") != NULL, "dump has sizes");
    ok(strstr(d1, "keepalive = \"75s\";") != NULL, "dump has durations");
    ok(strstr(d1, "hosts = [ \"example.com\", \"*.example.com\" ];") != NULL,
       "dump has hosts");
    ok(strstr(d1, "upstream = \"app\";") != NULL, "dump names upstreams");
    ok(strstr(d1, "address = \"[::1]:9002\";") != NULL, "dump has servers");

    c2 = gh_conf_load(put("dump.conf", d1, l1), err, sizeof(err));
    if (!ok(c2 != NULL, "the dump loads"))
        diag("%s\n%s", err, d1);
    if (c2 != NULL) {
        f = open_memstream(&d2, &l2);
        gh_conf_dump(c2, f);
        (void) fclose(f);
        /* Only the first line, the file name, may differ. */
        ok(strcmp(strchr(d1, '\n'), strchr(d2, '\n')) == 0,
           "and dumps the same");
    }
    gh_conf_free(c);
    gh_conf_free(c2);
    free(d1);
    free(d2);
}

/* TEXT dumps to something containing each of WANT, which loads back and
 * dumps the same. */
static void
dump_round_trip(const char *name, const char *text,
                const char *const *want, const char *const *not)
{
    char err[1024], *d1 = NULL, *d2 = NULL;
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
    }
    gh_conf_free(c);
    gh_conf_free(c2);
    free(d1);
    free(d2);
}

static void
test_dump_balance(void)
{
    static const char *const all[] = {
        "balance = \"hash\";\n",
        "hash_key = \"header:x-user-id\";\n",
        "hash_key = \"cookie:SessionID\";\n",
        "hash_key = \"uri\";\n",
        "hash_key = \"ip\";\n",
        "balance = \"least_conn\";\n",
        "balance = \"random2\";\n",
        "retries = 10;\n",
        "max_fails = 5;\n",
        "fail_timeout = \"30s\";\n",
        "all_down = \"try_anyway\";\n",
        "all_down = \"503\";\n",
        "queue = 100000;\n",
        "queue_timeout = \"2500ms\";\n",
        "health = {\n",
        "type = \"http\";\n",
        "type = \"tcp\";\n",
        "path = \"/healthz?full=1\";\n",
        "host = \"app.internal:8080\";\n",
        "interval = \"5s\";\n",
        "timeout = \"5s\";\n",
        "interval = \"10ms\";\n",
        "timeout = \"1ms\";\n",
        "rise = 1;\n",
        "fall = 100;\n",
        "status = \"204\";\n",
        "status = \"200\";\n",
        "status = \"100-599\";\n",
        "max_conns = 1000000;\n",
        "backup = true;\n",
        "backup = false;\n",
        "slow_start = \"30s\";\n",
        "metrics = true;\n",
        "metrics = false;\n",
        "name = \"shop front\";\n",
        "name = \"b.example.com\";\n",
        "name = \"[::1]:8082\";\n",
        NULL
    };
    static const char *const defaults[] = {
        "worker_rlimit_nofile = 0;\n",
        "shutdown = \"30s\";\n",
        "# worker_shutdown_timeout: see timeouts.shutdown\n",
        "balance = \"round_robin\";\n",
        "retries = 1;\n",
        "max_fails = 1;\n",
        "fail_timeout = \"10s\";\n",
        "all_down = \"503\";\n",
        "queue = 100;\n",
        "queue_timeout = \"10s\";\n",
        "max_conns = 0;\n",
        "backup = false;\n",
        "slow_start = \"0s\";\n",
        "metrics = false;\n",
        "name = \"127.0.0.1:8080\";\n",
        NULL
    };
    static const char *const no_defaults[] = {
        "hash_key", "health", NULL
    };

    dump_round_trip("every key", balance_text, all, NULL);
    dump_round_trip("defaults", UPSTREAM SITE, defaults, no_defaults);
    {
        static const char *const daemon[] = {
            "worker_rlimit_nofile = 4096;\n",
            "shutdown = \"7s\";\n",
            NULL
        };
        static const char *const no_daemon[] = {
            "worker_shutdown_timeout =", NULL
        };

        dump_round_trip("worker_* keys", "worker_rlimit_nofile = 4096;\n"
                        "worker_shutdown_timeout = \"7s\";\n" SITE, daemon,
                        no_daemon);
    }
}

static void
test_key_names(void)
{
    const char *const *n = gh_conf_key_names();
    int count = 0, found = 0;

    for (; *n != NULL; n++) {
        count++;
        if (strcmp(*n, "timeouts.client_header") == 0
            || strcmp(*n, "upstreams.*.keepalive") == 0
            || strcmp(*n, "upstreams.*.servers.*.weight") == 0
            || strcmp(*n, "sites.*.routes.*.root") == 0
            || strcmp(*n, "workers") == 0)
            found++;
    }
    is_int(found, 5, "key names use section paths");
    {
        static const char *const want[] = {
            "upstreams.*.balance", "upstreams.*.hash_key",
            "upstreams.*.retries", "upstreams.*.max_fails",
            "upstreams.*.fail_timeout", "upstreams.*.all_down",
            "upstreams.*.queue", "upstreams.*.queue_timeout",
            "upstreams.*.health", "upstreams.*.health.type",
            "upstreams.*.health.path", "upstreams.*.health.host",
            "upstreams.*.health.interval", "upstreams.*.health.timeout",
            "upstreams.*.health.rise", "upstreams.*.health.fall",
            "upstreams.*.health.status", "upstreams.*.servers.*.max_conns",
            "upstreams.*.servers.*.backup",
            "upstreams.*.servers.*.slow_start",
            "sites.*.routes.*.metrics", "sites.*.name",
            "worker_rlimit_nofile", "worker_shutdown_timeout"
        };
        size_t i;

        for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
            for (n = gh_conf_key_names(); *n != NULL; n++) {
                if (strcmp(*n, want[i]) == 0)
                    break;
            }
            ok(*n != NULL, "%s is a key name", want[i]);
        }
    }
    ok(count > 30, "%d key names", count);
    ok(gh_conf_key_names() == gh_conf_key_names(), "the same list each time");
}

/* ==== routes: path kinds, conditions, names, headers, limits, files ==== */


/* TEXT must fail with a message that starts "t.conf:LINE: WANT". */
static void
fails_prefix(const char *name, const char *text, int line, const char *want)
{
    char err[2048], exp[1024];
    struct gh_conf *c;

    c = load_text(text, err, sizeof(err));
    ok(c == NULL, "%s: rejected", name);
    (void) snprintf(exp, sizeof(exp), "%s/t.conf:%d: %s", tmpdir, line,
                    want);
    if (!ok(strncmp(err, exp, strlen(exp)) == 0, "%s: message", name)) {
        diag("  got: %s", err);
        diag(" want: %s...", exp);
    }
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

#define ROUTES_OPEN "sites = ( { listen = \"127.0.0.1:8080\"; routes = (\n"
#define ROUTES_CLOSE "); } );\n"
#define RET " return = { status = 204; };"

static void
test_route_kinds(void)
{
    static const char text[] =
        ROUTES_OPEN
        "  { path = \"/\";" RET " },\n"                         /* 2 */
        "  { path_regex = \"^/v[0-9]+/\";" RET " },\n"          /* 3 */
        "  { path = \"/api/\";" RET " },\n"                     /* 4 */
        "  { path_exact = \"/login\";" RET " },\n"              /* 5 */
        "  { path_regex = \"\\\\.json$\";" RET " },\n"          /* 6 */
        "  { path = \"/login\";" RET " },\n"                    /* 7 */
        "  { path_exact = \"/\";" RET " },\n"                   /* 8 */
        "  { path = \"/b/\";" RET " }\n"                        /* 9 */
        ROUTES_CLOSE;
    /* exact (file order), regex (file order), prefixes longest first */
    static const struct {
        const char *path, *name;
        enum gh_path_kind kind;
        int line;
    } want[] = {
        { "/login", "=/login", GH_PATH_EXACT, 5 },
        { "/", "=/", GH_PATH_EXACT, 8 },
        { "^/v[0-9]+/", "~^/v[0-9]+/", GH_PATH_REGEX, 3 },
        { "\\.json$", "~\\.json$", GH_PATH_REGEX, 6 },
        { "/login", "/login", GH_PATH_PREFIX, 7 },
        { "/api/", "/api/", GH_PATH_PREFIX, 4 },
        { "/b/", "/b/", GH_PATH_PREFIX, 9 },
        { "/", "/", GH_PATH_PREFIX, 2 },
    };
    struct gh_conf *c = loads("three kinds of path", text);
    const struct gh_site *s;

    if (c == NULL)
        return;
    s = &c->sites[0];
    is_int(s->nroutes, 8, "eight routes");
    for (unsigned i = 0; i < GH_NELEM(want) && i < s->nroutes; i++) {
        const struct gh_route *r = &s->routes[i];

        is_str(r->path, want[i].path, "route %u: path", i);
        is_int(r->path_kind, want[i].kind, "route %u: kind", i);
        is_str(r->name, want[i].name, "route %u: default name", i);
        is_int(r->line, want[i].line, "route %u: line", i);
        is_int(r->path_len, strlen(want[i].path), "route %u: path_len", i);
        ok((r->regex != NULL) == (want[i].kind == GH_PATH_REGEX),
           "route %u: compiled regex only for path_regex", i);
    }
    gh_conf_free(c);

    /* A back-slash escaped back-slash is not a back-reference. */
    c = loads("regex with \\\\1 (a literal backslash)",
              ROUTES_OPEN "  { path_regex = \"^/a\\\\\\\\1\";" RET " }\n"
              ROUTES_CLOSE);
    if (c != NULL)
        is_str(c->sites[0].routes[0].path, "^/a\\\\1", "regex text kept");
    gh_conf_free(c);
}

static void
test_route_names(void)
{
    static const char text[] =
        ROUTES_OPEN
        "  { path = \"/api\"; methods = [ \"GET\" ];" RET " },\n"
        "  { path = \"/api\"; methods = [ \"POST\" ];" RET " },\n"
        "  { path = \"/api\"; host = \"a.example\";" RET " },\n"
        "  { path = \"/x\"; name = \"/api #4\"; host = \"b\";" RET " },\n"
        "  { path = \"/api\";" RET " },\n"
        "  { path_exact = \"/api\"; name = \"login page\";" RET " },\n"
        "  { path = \"/y\"; name = \"/api\";" RET " }\n"
        ROUTES_CLOSE;
    struct gh_conf *c = loads("route names", text);
    const struct gh_site *s;
    const char *names[8] = { 0 };

    if (c == NULL)
        return;
    s = &c->sites[0];
    /* sorted: "login page" (exact), then the prefixes by length */
    for (unsigned i = 0; i < s->nroutes && i < 8; i++)
        names[i] = s->routes[i].name;
    is_str(names[0], "login page", "a given name");
    /* "/api" is given to the route at /y: the defaults count on past it,
     * and skip "/api #4", given to the route at /x. */
    is_str(names[1], "/api #2", "first /api: \"/api\" is taken by name");
    is_str(names[2], "/api #3", "second /api: #3");
    is_str(names[3], "/api #5", "third /api: #4 is taken too");
    is_str(names[4], "/api #6", "fourth /api");
    is_str(names[5], "/api #4", "the route at /x keeps its name");
    is_str(names[6], "/api", "the route at /y keeps its name");
    gh_conf_free(c);

    {
        char err[1024], want[1024];

        c = load_text(ROUTES_OPEN "  { path = \"/a\"; name = \"x\";" RET
                      " },\n  { path = \"/b\";\n    name = \"x\";" RET " }\n"
                      ROUTES_CLOSE, err, sizeof(err));
        ok(c == NULL, "two routes with one name: rejected");
        (void) snprintf(want, sizeof(want), "%s/t.conf:4: ", tmpdir);
        ok(strncmp(err, want, strlen(want)) == 0
           && strstr(err, ".name: \"x\" is the name of another route of "
                     "this site") != NULL, "... at the second name's line");
        (void) snprintf(want, sizeof(want), "%s/t.conf:4: sites[0].routes[1]"
                        ".name: \"x\" is the name of another route of this "
                        "site", tmpdir);
        is_str(err, want, "... with the key path");
        gh_conf_free(c);
    }
    /* A name given later wins over an earlier route's default. */
    c = loads("a default name given to a later route",
              ROUTES_OPEN "  { path = \"/a\";" RET " },\n"
              "  { path = \"/b\"; name = \"/a\";" RET " }\n" ROUTES_CLOSE);
    if (c != NULL) {
        is_str(c->sites[0].routes[1].path, "/b", "(file order)");
        is_str(c->sites[0].routes[1].name, "/a", "/b is named \"/a\"");
        is_str(c->sites[0].routes[0].name, "/a #2",
               "/a takes the next default");
    }
    gh_conf_free(c);
    fails("empty name",
          ROUTES_OPEN "  { path = \"/a\"; name = \"\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].name: must not be empty");
    {
        /* Two sites may use the same route names. */
        c = loads("one name in two sites",
                  "sites = ( { listen = \"127.0.0.1:1\"; routes = (\n"
                  "  { path = \"/\"; name = \"n\";" RET " } ); },\n"
                  "  { listen = \"127.0.0.1:2\"; routes = (\n"
                  "  { path = \"/\"; name = \"n\";" RET " } ); } );\n");
        gh_conf_free(c);
    }
}

static void
test_route_conditions(void)
{
    static const char text[] =
        ROUTES_OPEN
        "  { path = \"/a/\"; host = [ \"API.Example.com\", \"*.Example.ORG\" ];"
        RET " },\n"
        "  { path = \"/a/\"; header = \"X-Canary:  1 \";" RET " },\n"
        "  { path = \"/a/\"; header = [ \"x-a: 1\", \"X-B\", \"X-C:\" ];"
        RET " },\n"
        "  { path = \"/a/\"; cookie = [ \"beta=yes\", \"sess\", \"tok=a=b\" ];"
        RET " },\n"
        "  { path = \"/a/\"; query = [ \"debug=1\", \"trace\", \"e=\" ];"
        RET " },\n"
        "  { path = \"/a/\"; methods = [ \"GET\", \"POST\" ];" RET " },\n"
        "  { path = \"/a/\"; host = \"b.example.com\"; body_size = 0;"
        RET " },\n"
        "  { path = \"/a/\"; body_size = \"1k\";" RET " }\n"
        ROUTES_CLOSE;
    struct gh_conf *c = loads("every condition", text);
    const struct gh_route *r;

    if (c == NULL)
        return;
    r = c->sites[0].routes;
    is_int(c->sites[0].nroutes, 8, "same path eight times: each earlier "
           "one has a condition");
    is_int(r[0].nhosts, 2, "two hosts");
    is_str(r[0].hosts[0], "api.example.com", "host lower-cased");
    is_str(r[0].hosts[1], "*.example.org", "wildcard lower-cased");
    is_int(r[1].nheaders, 1, "one header");
    is_str(r[1].headers[0].name, "x-canary", "header name lower-cased");
    is_str(r[1].headers[0].value, "1", "value trimmed");
    is_int(r[1].headers[0].name_len, 8, "name_len");
    is_int(r[1].headers[0].value_len, 1, "value_len");
    is_int(r[2].nheaders, 3, "a list of headers");
    is_str(r[2].headers[0].value, "1", "x-a: 1");
    ok(r[2].headers[1].value == NULL, "\"X-B\": present, any value");
    is_str(r[2].headers[1].name, "x-b", "x-b");
    ok(r[2].headers[2].value != NULL && r[2].headers[2].value_len == 0,
       "\"X-C:\": an empty value");
    is_int(r[3].ncookies, 3, "three cookies");
    is_str(r[3].cookies[0].name, "beta", "cookie name");
    is_str(r[3].cookies[0].value, "yes", "cookie value");
    ok(r[3].cookies[1].value == NULL, "\"sess\": present");
    is_str(r[3].cookies[2].name, "tok", "split at the first '='");
    is_str(r[3].cookies[2].value, "a=b", "... the value keeps the rest");
    is_int(r[4].nqueries, 3, "three query conditions");
    is_str(r[4].queries[0].name, "debug", "query name");
    is_str(r[4].queries[0].value, "1", "query value");
    ok(r[4].queries[1].value == NULL, "\"trace\": present");
    ok(r[4].queries[2].value != NULL && r[4].queries[2].value_len == 0,
       "\"e=\": empty value");
    ok(r[5].methods == ((1ULL << HTTP_GET) | (1ULL << HTTP_HEAD)
                        | (1ULL << HTTP_POST)), "methods GET, HEAD, POST");
    is_int(r[6].has_body_size, 1, "body_size 0 given");
    is_int(r[6].body_size, 0, "... 0: unlimited");
    is_int(r[7].has_body_size, 1, "body_size given");
    is_int(r[7].body_size, 1024, "body_size 1k");
    is_int(r[0].has_body_size, 0, "no body_size: limits.body_size");
    gh_conf_free(c);

    /* A condition on the earlier route is what makes a duplicate fine;
     * one of each kind. */
    {
        static const char *const cond[] = {
            "host = \"a.b\";", "header = \"X-A\";", "cookie = \"c\";",
            "query = \"q\";", "methods = \"GET\";"
        };
        char t[512];

        for (unsigned i = 0; i < GH_NELEM(cond); i++) {
            (void) snprintf(t, sizeof(t), ROUTES_OPEN
                            "  { path_exact = \"/a\"; %s" RET " },\n"
                            "  { path_exact = \"/a\";" RET " }\n"
                            ROUTES_CLOSE, cond[i]);
            gh_conf_free(loads(cond[i], t));
        }
    }
    gh_conf_free(loads("same path, other kinds",
                       ROUTES_OPEN "  { path = \"/a\";" RET " },\n"
                       "  { path_exact = \"/a\";" RET " },\n"
                       "  { path_regex = \"/a\";" RET " }\n" ROUTES_CLOSE));
}

static void
test_route_errors(void)
{
    char want[1024], why[256];
    regex_t re;
    int rc;

    fails("path and path_exact",
          ROUTES_OPEN "  { path = \"/a\";\n    path_exact = \"/a\";" RET " }\n"
          ROUTES_CLOSE, 3, "sites[0].routes[0].path_exact: a route has one "
          "of \"path\", \"path_exact\" and \"path_regex\", not \"path\" and "
          "\"path_exact\"");
    fails("path_exact and path_regex",
          ROUTES_OPEN "  { path_regex = \"^/a\";\n"
          "    path_exact = \"/a\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].path_regex: a route has one "
          "of \"path\", \"path_exact\" and \"path_regex\", not "
          "\"path_exact\" and \"path_regex\"");
    fails("path_exact without '/'",
          ROUTES_OPEN "  { path_exact = \"login\";" RET " }\n" ROUTES_CLOSE,
          2, "sites[0].routes[0].path_exact: \"login\" must start with '/'");
    fails("path_exact with a space",
          ROUTES_OPEN "  { path_exact = \"/a b\";" RET " }\n" ROUTES_CLOSE,
          2, "sites[0].routes[0].path_exact: \"/a b\" has a space or "
          "control character");
    fails("empty path_exact",
          ROUTES_OPEN "  { path_exact = \"\";" RET " }\n" ROUTES_CLOSE,
          2, "sites[0].routes[0].path_exact: must not be empty");
    fails("empty path_regex",
          ROUTES_OPEN "  { path_regex = \"\";" RET " }\n" ROUTES_CLOSE,
          2, "sites[0].routes[0].path_regex: must not be empty");
    fails("path_regex not a string",
          ROUTES_OPEN "  { path_regex = 1;" RET " }\n" ROUTES_CLOSE,
          2, "sites[0].routes[0].path_regex: expected a string, not an "
          "integer");
    fails("path_regex with a back-reference",
          ROUTES_OPEN "  {\n    path_regex = \"^/(a+)\\\\1$\";" RET " }\n"
          ROUTES_CLOSE, 3, "sites[0].routes[0].path_regex: \"^/(a+)\\x5c1$\" "
          "has a back-reference (\\1), which is not allowed");
    fails("path_regex with \\9",
          ROUTES_OPEN "  { path_regex = \"(a)(b)\\\\9\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].path_regex: \"(a)(b)\\x5c9\" "
          "has a back-reference (\\9), which is not allowed");
    /* The message is regerror()'s, whatever this libc says. */
    rc = regcomp(&re, "^/(a", REG_EXTENDED | REG_NOSUB);
    ok(rc != 0, "\"^/(a\" does not compile here");
    regerror(rc, &re, why, sizeof(why));
    if (rc == 0)
        regfree(&re);
    (void) snprintf(want, sizeof(want), "sites[0].routes[0].path_regex: "
                    "\"^/(a\" is not a POSIX extended regular expression: %s",
                    why);
    fails("path_regex that does not compile",
          ROUTES_OPEN "  { path_regex = \"^/(a\";" RET " }\n" ROUTES_CLOSE,
          2, want);
    rc = regcomp(&re, "[z-a]", REG_EXTENDED | REG_NOSUB);
    regerror(rc, &re, why, sizeof(why));
    if (rc == 0)
        regfree(&re);
    (void) snprintf(want, sizeof(want), "sites[1].routes[1].path_regex: "
                    "\"[z-a]\" is not a POSIX extended regular expression: "
                    "%s", why);
    fails("bad range, in the second site",
          "sites = ( { listen = \"127.0.0.1:1\"; routes = (\n"
          "  { path = \"/\";" RET " } ); },\n"
          "  { listen = \"127.0.0.1:2\"; routes = (\n"
          "  { path = \"/\";" RET " },\n"
          "  { path_regex = \"[z-a]\";" RET " } ); } );\n", 5, want);
    fails("a regex over 1024 bytes",
          ROUTES_OPEN "  { path_regex = \""
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "a\";" RET " }\n" ROUTES_CLOSE, 2,
          "sites[0].routes[0].path_regex: is longer than 1024 bytes");
    fails("strip_prefix on path_exact",
          UPSTREAM ROUTES_OPEN "  { path_exact = \"/a\"; upstream = \"app\";\n"
          "    strip_prefix = true; }\n" ROUTES_CLOSE, 4,
          "sites[0].routes[0].strip_prefix: only applies to a route with "
          "\"path\" (a prefix)");
    fails("strip_prefix on path_regex",
          UPSTREAM ROUTES_OPEN "  { path_regex = \"^/a\"; upstream = \"app\";"
          " strip_prefix = true; }\n" ROUTES_CLOSE, 3,
          "sites[0].routes[0].strip_prefix: only applies to a route with "
          "\"path\" (a prefix)");

    /* duplicates */
    fails("path_exact twice",
          ROUTES_OPEN "  { path_exact = \"/login\";" RET " },\n"
          "  { path = \"/login\";" RET " },\n"
          "  { path_exact = \"/login\";" RET " }\n" ROUTES_CLOSE, 4,
          "sites[0].routes[2]: can never be chosen: the route at line 2 has "
          "the same path \"/login\" and no condition (host, header, cookie, "
          "query, methods)");
    fails("path_regex twice",
          ROUTES_OPEN "  { path_regex = \"^/v[0-9]\";" RET " },\n"
          "  { path_regex = \"^/v[0-9]\";" RET " }\n" ROUTES_CLOSE, 3,
          "sites[0].routes[1]: can never be chosen: the route at line 2 has "
          "the same path \"^/v[0-9]\" and no condition (host, header, "
          "cookie, query, methods)");
    fails("the condition on the later route does not help",
          ROUTES_OPEN "  { path = \"/a\";" RET " },\n"
          "  { path = \"/a\"; host = \"a.example\";" RET " }\n" ROUTES_CLOSE,
          3, "sites[0].routes[1]: can never be chosen: the route at line 2 "
          "has the same path \"/a\" and no condition (host, header, cookie, "
          "query, methods)");
    fails("after a conditional one, a plain one, then another",
          ROUTES_OPEN "  { path = \"/a\"; header = \"X\";" RET " },\n"
          "  { path = \"/a\";" RET " },\n"
          "  { path = \"/a\"; cookie = \"c\";" RET " }\n" ROUTES_CLOSE,
          4, "sites[0].routes[2]: can never be chosen: the route at line 3 "
          "has the same path \"/a\" and no condition (host, header, cookie, "
          "query, methods)");

    /* host */
    fails("host: empty list",
          ROUTES_OPEN "  { path = \"/\"; host = [ ];" RET " }\n" ROUTES_CLOSE,
          2, "sites[0].routes[0].host: must not be empty (leave host out to "
          "match any host)");
    fails("host: wildcard in the middle",
          ROUTES_OPEN "  { path = \"/\"; host = [ \"a.com\", \"a.*.com\" ];"
          RET " }\n" ROUTES_CLOSE, 2, "sites[0].routes[0].host[1]: "
          "\"a.*.com\" is not a host name (a wildcard may only be a leading "
          "\"*.\")");
    fails("host: with a port",
          ROUTES_OPEN "  { path = \"/\"; host = \"a.com:80\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].host: \"a.com:80\" is not a "
          "host name (a wildcard may only be a leading \"*.\")");
    fails("host: twice",
          ROUTES_OPEN "  { path = \"/\"; host = [ \"a.com\", \"A.COM\" ];"
          RET " }\n" ROUTES_CLOSE, 2, "sites[0].routes[0].host[1]: \"a.com\" "
          "is listed twice");
    fails("host: not a string",
          ROUTES_OPEN "  { path = \"/\"; host = 1;" RET " }\n" ROUTES_CLOSE,
          2, "sites[0].routes[0].host: expected a string or an array of "
          "strings, not an integer");

    /* header */
    fails("header: name with a space",
          ROUTES_OPEN "  { path = \"/\"; header = \"X Canary: 1\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].header: \"X Canary: 1\" is "
          "not \"NAME: VALUE\" or \"NAME\"");
    fails("header: no name",
          ROUTES_OPEN "  { path = \"/\";\n    header = [ \"X-A\", \": 1\" ];"
          RET " }\n" ROUTES_CLOSE, 3, "sites[0].routes[0].header[1]: "
          "\": 1\" is not \"NAME: VALUE\" or \"NAME\"");
    fails("header: control character in the value",
          ROUTES_OPEN "  { path = \"/\"; header = \"X-A: a\\nb\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].header: \"X-A: a\\x0ab\" has "
          "a character a value cannot hold");
    fails("header: empty list",
          ROUTES_OPEN "  { path = \"/\"; header = [ ];" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].header: must not be empty");
    /* cookie */
    fails("cookie: name with a space",
          ROUTES_OPEN "  { path = \"/\"; cookie = \"be ta=1\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].cookie: \"be ta=1\" is not "
          "\"NAME=VALUE\" or \"NAME\"");
    fails("cookie: ';' in the value",
          ROUTES_OPEN "  { path = \"/\"; cookie = \"a=b;c\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].cookie: \"a=b;c\" has a "
          "character a value cannot hold");
    fails("cookie: space in the value",
          ROUTES_OPEN "  { path = \"/\"; cookie = [ \"x\", \"a=b c\" ];"
          RET " }\n" ROUTES_CLOSE, 2, "sites[0].routes[0].cookie[1]: "
          "\"a=b c\" has a character a value cannot hold");
    fails("cookie: empty name",
          ROUTES_OPEN "  { path = \"/\"; cookie = \"=1\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].cookie: \"=1\" is not "
          "\"NAME=VALUE\" or \"NAME\"");
    /* query */
    fails("query: empty",
          ROUTES_OPEN "  { path = \"/\"; query = \"\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].query: \"\" is not "
          "\"NAME=VALUE\" or \"NAME\" (printable, without spaces, '&' or "
          "'#')");
    fails("query: '&'",
          ROUTES_OPEN "  { path = \"/\"; query = \"a=1&b=2\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].query: \"a=1&b=2\" is not "
          "\"NAME=VALUE\" or \"NAME\" (printable, without spaces, '&' or "
          "'#')");
    fails("query: space in the value",
          ROUTES_OPEN "  { path = \"/\"; query = \"a=1 2\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].query: \"a=1 2\" is not "
          "\"NAME=VALUE\" or \"NAME\" (printable, without spaces, '&' or "
          "'#')");
    fails("query: '#' in the name",
          ROUTES_OPEN "  { path = \"/\"; query = \"a#\";" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].query: \"a#\" is not "
          "\"NAME=VALUE\" or \"NAME\" (printable, without spaces, '&' or "
          "'#')");
    /* methods, body_size */
    fails("methods: empty list",
          ROUTES_OPEN "  { path = \"/\"; methods = [ ];" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].methods: must not be empty "
          "(leave methods out to allow any)");
    fails("body_size: not a size",
          ROUTES_OPEN "  { path = \"/\";\n    body_size = \"1q\";" RET " }\n"
          ROUTES_CLOSE, 3, "sites[0].routes[0].body_size: \"1q\" is not a "
          "size");
    fails("body_size: negative",
          ROUTES_OPEN "  { path = \"/\"; body_size = -1;" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].body_size: -1 is not a size");
    fails("body_size: a boolean",
          ROUTES_OPEN "  { path = \"/\"; body_size = true;" RET " }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].body_size: expected a size "
          "(\"16k\", \"10M\") or an integer, not a boolean");
}

static void
test_hdr_ops(void)
{
    static const char text[] =
        "sites = ( { listen = \"127.0.0.1:8080\";\n"
        "  request_headers = { set = { X-Env = \"prod\";"
        " Host = \"backend.local\"; };\n"
        "                      add = { X-Tag = \"a\"; };\n"
        "                      remove = [ \"X-Debug\", \"x-forwarded-for\" ];"
        " };\n"
        "  response_headers = { remove = \"Server\"; };\n"
        "  routes = ( { path = \"/\";" RET "\n"
        "    request_headers = { add = { X-Route = \"$host $uri $args\"; };"
        " };\n"
        "    response_headers = { set = { Server = \"edge\";"
        " X-Tab = \"a\tb\"; };\n"
        "                         add = { X-A = \"$request_uri\"; }; }; },\n"
        "    { path = \"/e\"; request_headers = { };" RET " } ); } );\n";
    struct gh_conf *c = loads("request_headers, response_headers", text);
    const struct gh_hdr_ops *o;

    if (c != NULL) {
        o = &c->sites[0].req_hdrs;
        is_int(o->n, 5, "site request: 2 set, 1 add, 2 remove");
        is_str(o->v[0].name, "X-Env", "set X-Env (name as written)");
        is_str(o->v[0].value, "prod", "... value");
        is_int(o->v[0].op, GH_HOP_SET, "... set");
        is_int(o->v[0].name_len, 5, "... name_len");
        is_str(o->v[1].name, "Host", "set Host");
        is_str(o->v[1].value, "backend.local", "... value");
        is_str(o->v[2].name, "X-Tag", "add X-Tag");
        is_int(o->v[2].op, GH_HOP_ADD, "... add");
        is_str(o->v[3].name, "X-Debug", "remove X-Debug");
        is_int(o->v[3].op, GH_HOP_REMOVE, "... remove");
        ok(o->v[3].value == NULL, "... no value");
        is_str(o->v[4].name, "x-forwarded-for", "remove x-forwarded-for");
        o = &c->sites[0].resp_hdrs;
        is_int(o->n, 1, "site response: one string is a list of one");
        is_int(o->v[0].op, GH_HOP_REMOVE, "... remove");
        o = &c->sites[0].routes[0].req_hdrs;
        is_int(c->sites[0].routes[0].req_hdrs.n, 0, "route /e: {} is none");
        o = &c->sites[0].routes[1].req_hdrs;
        is_int(o->n, 1, "route request: one add");
        is_str(o->v[0].value, "$host $uri $args", "template kept as is");
        o = &c->sites[0].routes[1].resp_hdrs;
        is_int(o->n, 3, "route response: 2 set, 1 add");
        is_str(o->v[1].value, "a\tb", "a tab in a value is fine");
    }
    gh_conf_free(c);

#define HS "sites = ( { listen = \"127.0.0.1:8080\";\n"
#define HE "  routes = ( { path = \"/\";" RET " } ); } );\n"
    {
        static const char *const reserved[] = {
            "Content-Length", "Transfer-Encoding", "Connection",
            "Keep-Alive", "Upgrade", "TE", "Trailer", "Proxy-Connection"
        };
        char t[512], w[256];

        for (unsigned i = 0; i < GH_NELEM(reserved); i++) {
            (void) snprintf(t, sizeof(t), HS "  request_headers = { set = {"
                            " %s = \"1\"; }; };\n" HE, reserved[i]);
            (void) snprintf(w, sizeof(w), "sites[0].request_headers.set.%s: "
                            "\"%s\" is managed by gatehouse (framing and "
                            "connection fields cannot be changed)",
                            reserved[i], reserved[i]);
            fails(reserved[i], t, 2, w);
        }
    }
    fails("remove te, lower case",
          HS "  response_headers = { remove = [ \"X-A\", \"te\" ]; };\n" HE,
          2, "sites[0].response_headers.remove[1]: \"te\" is managed by "
          "gatehouse (framing and connection fields cannot be changed)");
    fails("add Connection on a route",
          "sites = ( { listen = \"127.0.0.1:8080\"; routes = ( { path = \"/\";"
          RET "\n    response_headers = { add = { connection = \"x\"; }; };"
          " } ); } );\n", 2, "sites[0].routes[0].response_headers.add."
          "connection: \"connection\" is managed by gatehouse (framing and "
          "connection fields cannot be changed)");
    fails("add a second Host",
          HS "  request_headers = { add = { Host = \"b\"; }; };\n" HE, 2,
          "sites[0].request_headers.add.Host: a request has one Host: use "
          "set");
    fails("remove a name twice",
          HS "  request_headers = { remove = [ \"X-A\",\n"
          "    \"x-a\" ]; };\n" HE, 3,
          "sites[0].request_headers.remove[1]: \"x-a\" is listed twice");
    fails("set a name twice (any case)",
          HS "  request_headers = { set = { X-A = \"1\";\n"
          "    x-a = \"2\"; }; };\n" HE, 3,
          "sites[0].request_headers.set.x-a: \"x-a\" is listed twice");
    fails("remove a name that is not a token",
          HS "  request_headers = { remove = \"X Debug\"; };\n" HE, 2,
          "sites[0].request_headers.remove: \"X Debug\" is not a header "
          "name");
    fails("remove an empty name",
          HS "  request_headers = { remove = [ \"\" ]; };\n" HE, 2,
          "sites[0].request_headers.remove[0]: \"\" is not a header name");
    fails("remove: empty list",
          HS "  request_headers = { remove = [ ]; };\n" HE, 2,
          "sites[0].request_headers.remove: must not be empty");
    fails("a control character in a value",
          HS "  response_headers = { add = {\n    X-A = \"a\\r\\nX-B: 1\";"
          " }; };\n" HE, 3, "sites[0].response_headers.add.X-A: "
          "\"a\\x0d\\x0aX-B: 1\" has a control character");
    fails("DEL in a value",
          HS "  request_headers = { set = { X-A = \"a\\x7f\"; }; };\n" HE, 2,
          "sites[0].request_headers.set.X-A: \"a\\x7f\" has a control "
          "character");
    fails("set is not a group",
          HS "  response_headers = { set = \"X-A: 1\"; };\n" HE, 2,
          "sites[0].response_headers.set: expected a group { Name = "
          "\"value\"; }, not a string");
    fails("a value that is not a string",
          HS "  request_headers = { set = { X-A = 1; }; };\n" HE, 2,
          "sites[0].request_headers.set.X-A: expected a string, not an "
          "integer");
    fails("unknown key",
          HS "  request_headers = { rmove = [ \"X-A\" ]; };\n" HE, 2,
          "sites[0].request_headers.rmove: unknown key (did you mean "
          "\"remove\"?)");
    fails("request_headers not a group",
          HS "  request_headers = [ \"X-A\" ];\n" HE, 2,
          "sites[0].request_headers: expected a group { }, not an array "
          "[ ]");
#undef HS
#undef HE
}

#define RL_OPEN ROUTES_OPEN "  { path = \"/\";" RET "\n    rate_limit = { "
#define RL_CLOSE " }; }\n" ROUTES_CLOSE

static void
test_rate_limit(void)
{
    static const struct {
        const char *rate;
        uint64_t interval_us;
    } good[] = {
        { "10r/s", 100000 }, { "600r/m", 100000 }, { "1r/m", 60000000 },
        { "1r/s", 1000000 }, { "1000000r/s", 1 }, { "3r/s", 333333 },
        { "7r/m", 8571428 },
    };
    static const char *const bad[] = {
        "0r/s", "10r/h", "abc", "10r/s ", " 10r/s", "10 r/s", "-1r/s",
        "+1r/s", "1000001r/s", "r/s", "10r/", "10r", "10", "10/s", "",
        "99999999999999999999r/s", "10R/s", "10r/sec",
    };
    char t[512], w[512];
    struct gh_conf *c;

    for (unsigned i = 0; i < GH_NELEM(good); i++) {
        (void) snprintf(t, sizeof(t), RL_OPEN "rate = \"%s\";" RL_CLOSE,
                        good[i].rate);
        c = loads(good[i].rate, t);
        if (c == NULL)
            continue;
        is_int(c->sites[0].routes[0].rate.on, 1, "%s: on", good[i].rate);
        is_int(c->sites[0].routes[0].rate.interval_us, good[i].interval_us,
               "%s: interval", good[i].rate);
        is_str(c->sites[0].routes[0].rate.rate_text, good[i].rate,
               "%s: text kept for the logs", good[i].rate);
        is_int(c->sites[0].routes[0].rate.burst, 0, "burst defaults to 0");
        is_int(c->sites[0].routes[0].rate.key, GH_RATE_IP, "key: ip");
        gh_conf_free(c);
    }
    c = loads("rate, burst, key header",
              RL_OPEN "rate = \"5r/s\"; burst = 1000000;"
              " key = \"header:X-Api-Key\";" RL_CLOSE);
    if (c != NULL) {
        const struct gh_rate_limit *rl = &c->sites[0].routes[0].rate;

        is_int(rl->burst, 1000000, "burst max");
        is_int(rl->key, GH_RATE_HEADER, "key header");
        is_str(rl->key_name, "x-api-key", "header name lower-cased");
    }
    gh_conf_free(c);
    c = loads("key ip given", RL_OPEN "rate = \"5r/s\"; key = \"ip\";"
              RL_CLOSE);
    ok(c != NULL && c->sites[0].routes[0].rate.key == GH_RATE_IP
       && c->sites[0].routes[0].rate.key_name == NULL, "key ip");
    gh_conf_free(c);
    c = loads("no rate_limit", ROUTES_OPEN "  { path = \"/\";" RET " }\n"
              ROUTES_CLOSE);
    ok(c != NULL && c->sites[0].routes[0].rate.on == 0, "off by default");
    gh_conf_free(c);

    for (unsigned i = 0; i < GH_NELEM(bad); i++) {
        char q[128];

        (void) snprintf(t, sizeof(t), RL_OPEN "rate = \"%s\";" RL_CLOSE,
                        bad[i]);
        (void) snprintf(q, sizeof(q), "rate \"%s\"", bad[i]);
        (void) snprintf(w, sizeof(w), "sites[0].routes[0].rate_limit.rate: "
                        "\"%s\" is not a rate: \"10r/s\" or \"600r/m\", "
                        "from 1r/m to 1000000r/s", bad[i]);
        fails(q, t, 3, w);
    }
    fails("rate as an integer", RL_OPEN "rate = 10;" RL_CLOSE, 3,
          "sites[0].routes[0].rate_limit.rate: expected a string such as "
          "\"10r/s\", not an integer");
    {
        char err[1024];

        c = load_text(RL_OPEN "burst = 5;" RL_CLOSE, err, sizeof(err));
        ok(c == NULL, "rate_limit without rate: rejected");
        ok(strstr(err, "sites[0].routes[0].rate_limit.rate: missing "
                  "(required)") != NULL, "... says rate is missing");
        (void) snprintf(w, sizeof(w), "%s/t.conf:3: sites[0].routes[0]."
                        "rate_limit.rate: missing (required)", tmpdir);
        is_str(err, w, "... with the line of the rate_limit group");
        gh_conf_free(c);
    }
    fails("burst too big", RL_OPEN "rate = \"1r/s\"; burst = 1000001;"
          RL_CLOSE, 3, "sites[0].routes[0].rate_limit.burst: 1000001 is out "
          "of range (0..1000000)");
    fails("burst negative", RL_OPEN "rate = \"1r/s\"; burst = -1;"
          RL_CLOSE, 3, "sites[0].routes[0].rate_limit.burst: -1 is out "
          "of range (0..1000000)");
    fails("key cookie", RL_OPEN "rate = \"1r/s\"; key = \"cookie:x\";"
          RL_CLOSE, 3, "sites[0].routes[0].rate_limit.key: \"cookie:x\" is "
          "not \"ip\" or \"header:NAME\"");
    fails("key header without a name", RL_OPEN "rate = \"1r/s\";"
          " key = \"header:\";" RL_CLOSE, 3, "sites[0].routes[0].rate_limit."
          "key: \"header:\" is not \"ip\" or \"header:NAME\"");
    fails("key header, not a token", RL_OPEN "rate = \"1r/s\";"
          " key = \"header:X Y\";" RL_CLOSE, 3, "sites[0].routes[0].rate_limit."
          "key: \"header:X Y\" is not \"ip\" or \"header:NAME\"");
    fails("key IP", RL_OPEN "rate = \"1r/s\"; key = \"IP\";" RL_CLOSE, 3,
          "sites[0].routes[0].rate_limit.key: \"IP\" is not \"ip\" or "
          "\"header:NAME\"");
    fails("key not a string", RL_OPEN "rate = \"1r/s\"; key = 1;" RL_CLOSE,
          3, "sites[0].routes[0].rate_limit.key: expected a string, not an "
          "integer");
    fails("unknown key in rate_limit",
          RL_OPEN "rate = \"1r/s\"; brust = 1;" RL_CLOSE, 3,
          "sites[0].routes[0].rate_limit.brust: unknown key (did you mean "
          "\"burst\"?)");
    fails("rate_limit not a group",
          ROUTES_OPEN "  { path = \"/\";" RET " rate_limit = \"10r/s\"; }\n"
          ROUTES_CLOSE, 2, "sites[0].routes[0].rate_limit: expected a group "
          "{ }, not a string");
}

static void
test_limits_new(void)
{
    struct gh_conf *c;

    c = loads("defaults", SITE);
    if (c != NULL) {
        is_int(c->limits.client_connections, 0, "client_connections 0: off");
        is_int(c->limits.total_connections, 0, "total_connections 0: off");
        is_int(c->limits.client_table_size, 4 << 20, "client_table_size 4M");
        is_int(c->limits.min_body_rate, 0, "min_body_rate 0: off");
        is_int(c->limits.min_response_rate, 0, "min_response_rate 0: off");
        is_int(c->limits.rate_window, 10000, "rate_window 10s");
    }
    gh_conf_free(c);
    c = loads("maximums",
              "limits = { client_connections = 1000000;"
              " total_connections = 100000000; client_table_size = \"1G\";"
              " min_body_rate = \"1G\"; min_response_rate = \"1G\";"
              " rate_window = \"24h\"; };\n" SITE);
    if (c != NULL) {
        is_int(c->limits.client_connections, 1000000, "client_connections");
        is_int(c->limits.total_connections, 100000000, "total_connections");
        is_int(c->limits.client_table_size, 1 << 30, "client_table_size");
        is_int(c->limits.min_body_rate, 1 << 30, "min_body_rate");
        is_int(c->limits.min_response_rate, 1 << 30, "min_response_rate");
        is_int(c->limits.rate_window, 24 * 3600 * 1000, "rate_window");
    }
    gh_conf_free(c);
    c = loads("minimums",
              "limits = { client_connections = 1; total_connections = 1;"
              " client_table_size = \"64k\"; min_body_rate = 1;"
              " min_response_rate = \"1k\"; rate_window = 1; };\n" SITE);
    if (c != NULL) {
        is_int(c->limits.client_connections, 1, "client_connections 1");
        is_int(c->limits.total_connections, 1, "total_connections 1");
        is_int(c->limits.client_table_size, 65536, "client_table_size 64k");
        is_int(c->limits.min_body_rate, 1, "min_body_rate 1 byte/s");
        is_int(c->limits.min_response_rate, 1024, "min_response_rate 1k");
        is_int(c->limits.rate_window, 1000, "rate_window 1 (seconds)");
    }
    gh_conf_free(c);

    fails("client_connections too many",
          "limits = {\n  client_connections = 1000001; };\n" SITE, 2,
          "limits.client_connections: 1000001 is out of range (0..1000000)");
    fails("client_connections negative",
          "limits = { client_connections = -1; };\n" SITE, 1,
          "limits.client_connections: -1 is out of range (0..1000000)");
    fails("client_connections as a string",
          "limits = { client_connections = \"10\"; };\n" SITE, 1,
          "limits.client_connections: expected an integer, not a string");
    fails("total_connections too many",
          "limits = { total_connections = 100000001; };\n" SITE, 1,
          "limits.total_connections: 100000001 is out of range "
          "(0..100000000)");
    fails("client_table_size too small",
          "limits = { client_table_size = \"32k\"; };\n" SITE, 1,
          "limits.client_table_size: \"32k\" is out of range (64k..1G)");
    fails("client_table_size too big",
          "limits = { client_table_size = \"2G\"; };\n" SITE, 1,
          "limits.client_table_size: \"2G\" is out of range (64k..1G)");
    fails("client_table_size 0",
          "limits = { client_table_size = 0; };\n" SITE, 1,
          "limits.client_table_size: 0 is out of range (64k..1G)");
    fails("min_body_rate too big",
          "limits = { min_body_rate = \"2G\"; };\n" SITE, 1,
          "limits.min_body_rate: \"2G\" is out of range (0..1G)");
    fails("min_body_rate not a size",
          "limits = { min_body_rate = \"1k/s\"; };\n" SITE, 1,
          "limits.min_body_rate: \"1k/s\" is not a size");
    fails("min_response_rate negative",
          "limits = { min_response_rate = -1; };\n" SITE, 1,
          "limits.min_response_rate: -1 is not a size");
    fails("rate_window too short",
          "limits = { rate_window = \"500ms\"; };\n" SITE, 1,
          "limits.rate_window: \"500ms\" is out of range (1s..24h)");
    fails("rate_window 0",
          "limits = { rate_window = 0; };\n" SITE, 1,
          "limits.rate_window: 0 is out of range (1s..24h)");
    fails("rate_window too long",
          "limits = { rate_window = \"25h\"; };\n" SITE, 1,
          "limits.rate_window: \"25h\" is out of range (1s..24h)");
}

/* Write tmpdir/acl.txt. */
static void
put_acl(const char *text)
{
    put("acl.txt", text, strlen(text));
}

/* TEXT must fail with exactly ACLFILE:ALINE: WHY (acl_file at t.conf:LINE). */
static void
acl_fails(const char *name, const char *acl, const char *text, int aline,
          const char *why, int line)
{
    char err[2048], exp[2048];
    struct gh_conf *c;

    put_acl(acl);
    c = load_text(text, err, sizeof(err));
    ok(c == NULL, "%s: rejected", name);
    (void) snprintf(exp, sizeof(exp), "%s/acl.txt:%d: %s (acl_file at "
                    "%s/t.conf:%d)", tmpdir, aline, why, tmpdir, line);
    is_str(err, exp, "%s: message", name);
    gh_conf_free(c);
}

static void
test_acl_file(void)
{
    static const char acl[] =
        "# office\n"
        "allow 10.1.0.0/16;\n"
        "  deny 10.0.0.0/8   # the rest of 10/8\n"
        "\n"
        "\tallow ::1 ;\n"
        "deny all;\r\n";
    static const char text[] =
        "sites = ( { listen = \"127.0.0.1:8080\";\n"
        "  deny = [ \"192.168.0.1\" ];\n"
        "  acl_file = \"acl.txt\";\n"
        "  allow = \"192.168.0.0/16\";\n"
        "  routes = ( { path = \"/\";" RET " acl_file = \"acl.txt\"; },\n"
        "             { path = \"/b\";" RET " acl_file = \"acl.txt\";"
        " allow = \"127.0.0.1\"; } ); } );\n";
    char want[512];
    struct gh_conf *c;
    const struct gh_acl *a;
    uint8_t v4[16] = { [10] = 0xff, [11] = 0xff };

    put_acl(acl);
    c = loads("acl_file with allow and deny around it", text);
    if (c != NULL) {
        a = &c->sites[0].acl;
        (void) snprintf(want, sizeof(want), "%s/acl.txt", tmpdir);
        is_str(a->file, want, "file made absolute");
        is_int(a->n, 6, "1 + 4 + 1 rules");
        is_int(a->file_from, 1, "the file's rules after the deny");
        is_int(a->file_n, 4, "four rules in the file");
        is_int(a->has_allow, 1, "has an allow");
        is_int(a->rules[0].allow, 0, "0: deny 192.168.0.1");
        is_int(a->rules[0].bits, 128, "... /32");
        is_int(a->rules[1].allow, 1, "1: allow 10.1/16 (';' dropped)");
        is_int(a->rules[1].bits, 96 + 16, "... /16");
        is_int(a->rules[1].addr[12], 10, "... 10.");
        is_int(a->rules[1].addr[13], 1, "... .1");
        is_int(a->rules[2].allow, 0, "2: deny 10/8 (comment dropped)");
        is_int(a->rules[2].bits, 96 + 8, "... /8");
        is_int(a->rules[3].allow, 1, "3: allow ::1 (tab, space, ';')");
        is_int(a->rules[3].bits, 128, "... /128");
        is_int(a->rules[3].addr[15], 1, "... ::1");
        is_int(a->rules[4].allow, 0, "4: deny all (CRLF)");
        is_int(a->rules[4].bits, 0, "... all");
        is_int(a->rules[5].allow, 1, "5: allow 192.168/16, after the file");
        is_int(a->rules[5].bits, 96 + 16, "... /16");
        /* first match wins, in that order */
        v4[12] = 192; v4[13] = 168; v4[14] = 0; v4[15] = 1;
        ok(!gh_route_acl_allows(a, v4), "192.168.0.1: denied by the deny key");
        v4[15] = 2;
        ok(!gh_route_acl_allows(a, v4), "192.168.0.2: denied by \"deny all\" "
           "of the file, before the allow key");
        v4[12] = 10; v4[13] = 1; v4[14] = 2; v4[15] = 3;
        ok(gh_route_acl_allows(a, v4), "10.1.2.3: allowed by the file");
        v4[13] = 2;
        ok(!gh_route_acl_allows(a, v4), "10.2.2.3: denied by the file");

        a = &c->sites[0].routes[1].acl;
        is_int(a->n, 4, "route: the file alone");
        is_int(a->file_from, 0, "... from 0");
        a = &c->sites[0].routes[0].acl;
        is_int(a->n, 5, "route /b: the file, then the allow");
        is_int(a->file_from, 0, "... the file first (file order)");
        is_int(a->rules[4].allow, 1, "... then allow 127.0.0.1");
    }
    gh_conf_free(c);

    put_acl("deny 10.0.0.0/8\n");
    c = loads("deny-only file",
              "sites = ( { listen = \"127.0.0.1:8080\";"
              " acl_file = \"acl.txt\";\n"
              "  routes = ( { path = \"/\";" RET " } ); } );\n");
    ok(c != NULL && c->sites[0].acl.has_allow == 0 && c->sites[0].acl.n == 1,
       "a deny-only file: no allow, others allowed");
    gh_conf_free(c);
    put_acl("# nothing yet\n\n");
    c = loads("file of comments only",
              "sites = ( { listen = \"127.0.0.1:8080\";"
              " acl_file = \"acl.txt\";\n"
              "  routes = ( { path = \"/\";" RET " } ); } );\n");
    ok(c != NULL && c->sites[0].acl.n == 0, "no rules");
    gh_conf_free(c);

#define AT "sites = ( { listen = \"127.0.0.1:8080\";\n" \
           "  acl_file = \"acl.txt\";\n" \
           "  routes = ( { path = \"/\";" RET " } ); } );\n"
    acl_fails("a verb that is not allow or deny", "allow 10.0.0.1\n"
              "permit 10.0.0.2\n", AT, 2,
              "expected \"allow CIDR\" or \"deny CIDR\"", 2);
    acl_fails("verbs are lower case", "Allow 10.0.0.1\n", AT, 1,
              "expected \"allow CIDR\" or \"deny CIDR\"", 2);
    acl_fails("allow without a CIDR", "\n\nallow ;\n", AT, 3,
              "expected \"allow CIDR\" or \"deny CIDR\"", 2);
    acl_fails("two CIDRs on a line", "deny 10.0.0.1 10.0.0.2\n", AT, 1,
              "expected \"allow CIDR\" or \"deny CIDR\"", 2);
    acl_fails("a comma list", "deny 10.0.0.1,10.0.0.2\n", AT, 1,
              "\"10.0.0.1,10.0.0.2\" is not an IPv4 or IPv6 address or a "
              "CIDR block (or \"all\")", 2);
    acl_fails("host bits", "# x\ndeny 10.0.0.1/8;\n", AT, 2,
              "\"10.0.0.1/8\" has bits set below its prefix length", 2);
    acl_fails("a name", "allow localhost\n", AT, 1,
              "\"localhost\" is not an IPv4 or IPv6 address or a CIDR block "
              "(or \"all\")", 2);
    acl_fails("prefix too long", "allow 10.0.0.0/33\n", AT, 1,
              "\"10.0.0.0/33\" has a prefix longer than 32 bits", 2);
    acl_fails("in a route",
              "deny ::1/129\n",
              "sites = ( { listen = \"127.0.0.1:8080\"; routes = (\n"
              "  { path = \"/\";" RET " },\n"
              "  { path = \"/x\";" RET "\n    acl_file = \"acl.txt\"; }"
              " ); } );\n", 1,
              "\"::1/129\" has a prefix longer than 128 bits", 4);

    (void) snprintf(want, sizeof(want), "sites[0].acl_file: cannot open "
                    "\"%s/nope.txt\": No such file or directory", tmpdir);
    fails("missing acl_file",
          "sites = ( { listen = \"127.0.0.1:8080\";\n"
          "  acl_file = \"nope.txt\";\n"
          "  routes = ( { path = \"/\";" RET " } ); } );\n", 2, want);
    (void) snprintf(want, sizeof(want), "sites[0].routes[0].acl_file: \"%s\" "
                    "is not a regular file of at most 4M", tmpdir);
    fails("acl_file is a directory",
          "sites = ( { listen = \"127.0.0.1:8080\";\n"
          "  routes = ( { path = \"/\";" RET " acl_file = \".\"; } ); } );\n",
          2, want);
    put("acl.txt", "deny 10.0.0.1\n\0\n", 16);
    (void) snprintf(want, sizeof(want), "sites[0].acl_file: \"%s/acl.txt\" "
                    "has a NUL byte", tmpdir);
    fails("a NUL byte", AT, 2, want);
    fails("acl_file not a string",
          "sites = ( { listen = \"127.0.0.1:8080\";\n"
          "  acl_file = [ \"a\" ];\n"
          "  routes = ( { path = \"/\";" RET " } ); } );\n", 2,
          "sites[0].acl_file: expected a string, not an array [ ]");
#undef AT
}

/* tmpdir/htpasswd with LINES, each "HASH" in them a sha512-crypt hash of
 * "secret". */
static void
put_htpasswd(const char *lines)
{
    char buf[4096];
    const char *h = crypt("secret", "$6$saltsaltsalt$"), *p;
    size_t n = 0;

    if (h == NULL || h[0] == '*')
        h = "*";
    for (p = lines; *p != '\0' && n + 200 < sizeof(buf); ) {
        if (strncmp(p, "HASH", 4) == 0) {
            n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s", h);
            p += 4;
        } else {
            buf[n++] = *p++;
        }
    }
    put("htpasswd", buf, n);
}

static void
test_auth_basic(void)
{
    char want[1024];
    struct gh_conf *c;

    put_htpasswd("# staff\nalice:HASH\n\nbob:HASH\r\n");
    c = loads("auth_basic on a site and a route",
              "sites = ( { listen = \"127.0.0.1:8080\";\n"
              "  auth_basic = { realm = \"staff\"; file = \"htpasswd\"; };\n"
              "  routes = ( { path = \"/\";" RET " },\n"
              "    { path = \"/ops\";" RET " auth_basic = { realm = \"ops "
              "team\"; file = \"./htpasswd\"; }; } ); } );\n");
    if (c != NULL) {
        const struct gh_auth_basic *a = &c->sites[0].auth;

        (void) snprintf(want, sizeof(want), "%s/htpasswd", tmpdir);
        is_int(a->on, 1, "site: on");
        is_str(a->realm, "staff", "site: realm");
        is_str(a->file, want, "site: file made absolute");
        ok(a->pw != NULL && gh_htpasswd_count(a->pw) == 2,
           "site: two users loaded");
        is_int(c->sites[0].routes[1].auth.on, 0, "route /: not its own");
        a = &c->sites[0].routes[0].auth;
        is_int(a->on, 1, "route /ops: its own");
        is_str(a->realm, "ops team", "route /ops: realm");
        is_str(a->file, want, "route /ops: ./htpasswd cleaned");
        ok(a->pw != NULL && a->pw != c->sites[0].auth.pw,
           "route /ops: its own copy");
    }
    gh_conf_free(c);

#define AB(x) "sites = ( { listen = \"127.0.0.1:8080\";\n" \
              "  auth_basic = { " x " };\n" \
              "  routes = ( { path = \"/\";" RET " } ); } );\n"
    fails("realm missing", AB("file = \"htpasswd\";"), 2,
          "sites[0].auth_basic.realm: missing (required)");
    fails("file missing", AB("realm = \"r\";"), 2,
          "sites[0].auth_basic.file: missing (required)");
    fails("empty realm", AB("realm = \"\"; file = \"htpasswd\";"), 2,
          "sites[0].auth_basic.realm: must not be empty");
    {
        char err[1024];

        c = load_text(AB("realm = \"a\\\"b\"; file = \"htpasswd\";"), err,
                      sizeof(err));
        ok(c == NULL, "a '\"' in the realm: rejected");
        if (!ok(strstr(err, "/t.conf:2: sites[0].auth_basic.realm: "
                    "\"a\\x22b\" may not hold '\"', ") != NULL,
                "... names the realm"))
            diag("got: %s", err);
        (void) snprintf(want, sizeof(want), "%s/t.conf:2: sites[0]."
                        "auth_basic.realm: \"a\\x22b\" may not hold '\"', "
                        "'\\' or control characters", tmpdir);
        is_str(err, want, "... and shows one backslash");
        gh_conf_free(c);
    }
    fails("a control character in the realm",
          AB("realm = \"a\\tb\"; file = \"htpasswd\";"), 2,
          "sites[0].auth_basic.realm: \"a\\x09b\" may not hold '\"', "
          "'\\' or control characters");
    (void) snprintf(want, sizeof(want), "sites[0].auth_basic.file: "
                    "%s/nope: No such file or directory", tmpdir);
    fails("no such file", AB("realm = \"r\";\n  file = \"nope\";"), 3,
          want);
    put_htpasswd("alice:HASH\nbob:$apr1$abcdefgh$0123456789abcdefghijkl\n");
    (void) snprintf(want, sizeof(want), "sites[0].auth_basic.file: "
                    "%s/htpasswd:2: user \"bob\": MD5 ($apr1$) hashes are "
                    "refused: fast to brute-force; accepted: ", tmpdir);
    fails_prefix("an $apr1$ hash", AB("realm = \"r\"; file = \"htpasswd\";"),
                 2, want);
    put_htpasswd("\n\nbob:secret\n");
    (void) snprintf(want, sizeof(want), "sites[0].auth_basic.file: "
                    "%s/htpasswd:3: user \"bob\": not a crypt hash (a "
                    "plaintext password?); accepted: ", tmpdir);
    fails_prefix("a plain text password",
                 AB("realm = \"r\"; file = \"htpasswd\";"), 2, want);
    put_htpasswd("carol:abNANd1rDfiNc\n");
    (void) snprintf(want, sizeof(want), "sites[0].auth_basic.file: "
                    "%s/htpasswd:1: user \"carol\": DES crypt hashes are "
                    "refused: 8-byte passwords, fast to brute-force; "
                    "accepted: ", tmpdir);
    fails_prefix("a DES hash", AB("realm = \"r\"; file = \"htpasswd\";"), 2,
                 want);
    put_htpasswd("alice:HASH\n");
    (void) snprintf(want, sizeof(want), "sites[0].routes[0].auth_basic.file: "
                    "%s/nope: No such file or directory", tmpdir);
    fails("no such file on a route",
          "sites = ( { listen = \"127.0.0.1:8080\";\n"
          "  routes = ( { path = \"/\";" RET "\n"
          "    auth_basic = {\n      realm = \"r\";\n"
          "      file = \"nope\"; }; } ); } );\n", 5, want);
    fails("auth_basic unknown key", AB("realm = \"r\"; fiel = \"x\";"), 2,
          "sites[0].auth_basic.fiel: unknown key (did you mean \"file\"?)");
#undef AB
}

/* ==== tls ==== */

#define TLS_DAY (24L * 3600)

static long tls_serial = 1;

/* A self-signed certificate for KEY (CN), valid FROM..TO seconds from
 * now. */
static X509 *
tls_cert(EVP_PKEY *key, const char *cn, long from, long to)
{
    X509 *x = X509_new();
    X509_NAME *n;

    if (x == NULL)
        exit(1);
    (void) X509_set_version(x, 2);
    (void) ASN1_INTEGER_set(X509_get_serialNumber(x), tls_serial++);
    (void) X509_gmtime_adj(X509_getm_notBefore(x), from);
    (void) X509_gmtime_adj(X509_getm_notAfter(x), to);
    (void) X509_set_pubkey(x, key);
    n = X509_get_subject_name(x);
    (void) X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                      (const unsigned char *) cn, -1, -1, 0);
    (void) X509_set_issuer_name(x, n);
    if (X509_sign(x, key, EVP_sha256()) == 0)
        exit(1);
    return x;
}

static void
tls_put_cert(const char *name, X509 *x)
{
    FILE *f;

    (void) put(name, "", 0);
    f = fopen(tmpfile_path, "w");
    if (f == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
        exit(1);
}

static void
tls_put_key(const char *name, EVP_PKEY *k)
{
    FILE *f;

    (void) put(name, "", 0);
    f = fopen(tmpfile_path, "w");
    if (f == NULL
        || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1
        || fclose(f) != 0)
        exit(1);
}

/* A DER OCSP response for X (self-signed, KEY): STATUS, nextUpdate NEXT
 * seconds from now; RSTATUS other than successful: no body. */
static void
tls_put_ocsp(const char *name, X509 *x, EVP_PKEY *key, int rstatus,
             int status, long next)
{
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, x, x);
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    ASN1_TIME *thisupd = X509_gmtime_adj(NULL, next < 0 ? next - 7200
                                                        : -3600);
    ASN1_TIME *nextupd = X509_gmtime_adj(NULL, next);
    OCSP_RESPONSE *r;
    unsigned char *der = NULL;
    int len;

    if (rstatus != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
        r = OCSP_response_create(rstatus, NULL);
    } else {
        if (OCSP_basic_add1_status(bs, id, status,
                                   OCSP_REVOKED_STATUS_KEYCOMPROMISE,
                                   status == V_OCSP_CERTSTATUS_REVOKED
                                   ? thisupd : NULL, thisupd,
                                   nextupd) == NULL
            || OCSP_basic_sign(bs, x, key, EVP_sha256(), NULL, 0) != 1)
            exit(1);
        r = OCSP_response_create(rstatus, bs);
    }
    if (r == NULL || (len = i2d_OCSP_RESPONSE(r, &der)) <= 0)
        exit(1);
    (void) put(name, (const char *) der, (size_t) len);
    OPENSSL_free(der);
    OCSP_RESPONSE_free(r);
    OCSP_BASICRESP_free(bs);
    OCSP_CERTID_free(id);
    ASN1_TIME_free(thisupd);
    ASN1_TIME_free(nextupd);
}

static X509 *tls_a;             /* a.pem, a.key: EC, valid */
static EVP_PKEY *tls_a_key;

/* The files the tls tests name, in tmpdir. */
static void
tls_files(void)
{
    EVP_PKEY *k2 = EVP_EC_gen("P-256"), *rsa = EVP_RSA_gen(2048);
    X509 *x;
    char big[70000];

    tls_a_key = EVP_EC_gen("P-256");
    if (tls_a_key == NULL || k2 == NULL || rsa == NULL)
        exit(1);
    tls_a = tls_cert(tls_a_key, "a.test", -TLS_DAY, 30 * TLS_DAY);
    tls_put_cert("a.pem", tls_a);
    tls_put_key("a.key", tls_a_key);
    tls_put_key("other.key", k2);
    x = tls_cert(k2, "a2.test", -TLS_DAY, 30 * TLS_DAY);    /* also EC */
    tls_put_cert("a2.pem", x);
    tls_put_key("a2.key", k2);
    tls_put_ocsp("other.ocsp", x, k2, OCSP_RESPONSE_STATUS_SUCCESSFUL,
                 V_OCSP_CERTSTATUS_GOOD, 7 * TLS_DAY);
    X509_free(x);
    x = tls_cert(rsa, "a.test", -TLS_DAY, 30 * TLS_DAY);
    tls_put_cert("rsa.pem", x);
    tls_put_key("rsa.key", rsa);
    X509_free(x);
    x = tls_cert(tls_a_key, "a.test", -30 * TLS_DAY, -TLS_DAY);
    tls_put_cert("old.pem", x);
    X509_free(x);
    x = tls_cert(tls_a_key, "a.test", TLS_DAY, 30 * TLS_DAY);
    tls_put_cert("early.pem", x);
    X509_free(x);
    tls_put_ocsp("a.ocsp", tls_a, tls_a_key, OCSP_RESPONSE_STATUS_SUCCESSFUL,
                 V_OCSP_CERTSTATUS_GOOD, 7 * TLS_DAY);
    tls_put_ocsp("revoked.ocsp", tls_a, tls_a_key,
                 OCSP_RESPONSE_STATUS_SUCCESSFUL, V_OCSP_CERTSTATUS_REVOKED,
                 7 * TLS_DAY);
    tls_put_ocsp("stale.ocsp", tls_a, tls_a_key,
                 OCSP_RESPONSE_STATUS_SUCCESSFUL, V_OCSP_CERTSTATUS_GOOD,
                 -TLS_DAY);
    tls_put_ocsp("unauth.ocsp", tls_a, tls_a_key,
                 OCSP_RESPONSE_STATUS_UNAUTHORIZED, 0, 0);
    (void) put("junk.pem", "hello\n", 6);
    (void) put("empty", "", 0);
    memset(big, 0x30, sizeof(big));
    (void) put("big.ocsp", big, sizeof(big));
    EVP_PKEY_free(k2);
    EVP_PKEY_free(rsa);
}

#define TLS_NOGROUP "sites = ( { listen = \"127.0.0.1:8443\";\n" \
                    "  tls = \"on\";\n" \
                    "  routes = ( { path = \"/\";" RET " } ); } );\n"
#define CERT_A "certificates = ( { cert = \"a.pem\"; key = \"a.key\"; } );"
#define TLS(x) "sites = ( { listen = \"127.0.0.1:8443\";\n" \
               "  tls = { " x " };\n" \
               "  routes = ( { path = \"/\";" RET " } ); } );\n"

static void
test_tls(void)
{
    char want[1024];
    struct gh_conf *c;

    tls_files();
    c = loads("a TLS site with the defaults", TLS(CERT_A));
    if (c != NULL) {
        const struct gh_tls *t = c->sites[0].tls;

        (void) snprintf(want, sizeof(want), "%s/a.pem", tmpdir);
        ok(t != NULL, "site has tls");
        is_int(t->ncerts, 1, "one certificate");
        is_str(t->certs[0].cert, want, "cert: absolute");
        is_int(t->protocols, GH_TLS_V12 | GH_TLS_V13, "TLSv1.2 and 1.3");
        is_str(t->ciphers, "ECDHE+AESGCM:ECDHE+CHACHA20", "ciphers");
        ok(t->ciphersuites == NULL, "ciphersuites: OpenSSL's");
        is_str(t->groups, "X25519:P-256:P-384", "groups");
        is_int(t->session_cache, 10 * 1024 * 1024, "session_cache 10M");
        is_int(t->session_timeout, 3600 * 1000, "session_timeout 1h");
        is_int(t->session_tickets, 1, "session_tickets");
        is_int(t->ticket_rotation, 12 * 3600 * 1000, "ticket_rotation 12h");
        ok(t->client_ca == NULL, "no client_ca");
        is_int(t->verify_client, GH_TLS_VERIFY_OFF, "verify_client off");
        is_int(t->verify_depth, 4, "verify_depth 4");
        ok(t->ocsp_staple == NULL && t->hsts == NULL, "no staple, no hsts");
        ok(t->ctx != NULL, "the SSL_CTX is built");
        is_int(c->sites[0].routes[0].redirect_https, 0,
               "redirect_https: false");
    }
    gh_conf_free(c);

    c = loads("RSA and ECDSA, every key",
              "sites = ( { listen = \"127.0.0.1:8443\"; hosts = \"a.test\";\n"
              "  tls = { certificates = ( { cert = \"rsa.pem\";"
              " key = \"rsa.key\"; },\n"
              "                           { cert = \"a.pem\";"
              " key = \"a.key\"; } );\n"
              "          protocols = [ \"TLSv1.3\", \"TLSv1.2\" ];"
              " ciphers = \"ECDHE+AESGCM\";\n"
              "          ciphersuites = \"TLS_AES_128_GCM_SHA256\";"
              " groups = \"P-256\";\n"
              "          session_cache = 0; session_timeout = \"5m\";"
              " session_tickets = false;\n"
              "          ticket_rotation = \"1m\"; client_ca = \"a.pem\";"
              " verify_client = \"optional\";\n"
              "          verify_depth = 2; ocsp_staple = \"a.ocsp\";"
              " hsts = \"max-age=31536000\"; };\n"
              "  routes = ( { path = \"/\";" RET
              " redirect_https = true; } ); } );\n");
    if (c != NULL) {
        const struct gh_tls *t = c->sites[0].tls;

        is_int(t->ncerts, 2, "two certificates");
        is_int(t->protocols, GH_TLS_V12 | GH_TLS_V13, "both protocols");
        is_int(t->session_cache, 0, "no cache");
        is_int(t->session_timeout, 300000, "5m");
        is_int(t->session_tickets, 0, "tickets off");
        is_int(t->ticket_rotation, 60000, "1m");
        is_int(t->verify_client, GH_TLS_VERIFY_OPTIONAL, "optional");
        is_int(t->verify_depth, 2, "depth 2");
        is_str(t->hsts, "max-age=31536000", "hsts");
        ok(t->ctx != NULL, "the SSL_CTX is built");
        is_int(c->sites[0].routes[0].redirect_https, 1,
               "redirect_https: true");
    }
    gh_conf_free(c);

    fails("tls not a group", TLS_NOGROUP, 2,
          "sites[0].tls: expected a group { }, not a string");
    fails("no certificates", TLS(""), 2,
          "sites[0].tls.certificates: missing (required)");
    fails("empty certificates", TLS("certificates = ( );"), 2,
          "sites[0].tls.certificates: at least one certificate is required");
    fails("certificate without key",
          TLS("certificates = ( { cert = \"a.pem\"; } );"), 2,
          "sites[0].tls.certificates[0].key: missing (required)");
    fails("unknown key", TLS(CERT_A " ciphrs = \"x\";"), 2,
          "sites[0].tls.ciphrs: unknown key (did you mean \"ciphers\"?)");
    (void) snprintf(want, sizeof(want), "sites[0].tls.certificates[0].cert: "
                    "%s/nope.pem: No such file or directory", tmpdir);
    fails("no certificate file",
          TLS("certificates = ( { cert = \"nope.pem\"; key = \"a.key\"; "
              "} );"), 2, want);
    (void) snprintf(want, sizeof(want), "sites[0].tls.certificates[0].cert: "
                    "%s/junk.pem: not a PEM certificate", tmpdir);
    fails("not a certificate",
          TLS("certificates = ( { cert = \"junk.pem\"; key = \"a.key\"; "
              "} );"), 2, want);
    (void) snprintf(want, sizeof(want), "sites[0].tls.certificates[0].key: "
                    "%s/nope.key: No such file or directory", tmpdir);
    fails("no key file",
          TLS("certificates = ( { cert = \"a.pem\"; key = \"nope.key\"; "
              "} );"), 2, want);
    (void) snprintf(want, sizeof(want), "sites[0].tls.certificates[0].key: "
                    "%s/junk.pem: not a PEM private key (or an encrypted "
                    "one: keys are read without a passphrase)", tmpdir);
    fails("not a key",
          TLS("certificates = ( { cert = \"a.pem\"; key = \"junk.pem\"; "
              "} );"), 2, want);
    (void) snprintf(want, sizeof(want), "sites[0].tls.certificates[0].key: "
                    "%s/other.key does not match the certificate %s/a.pem",
                    tmpdir, tmpdir);
    fails("the key of another certificate",
          TLS("certificates = ( { cert = \"a.pem\";\n"
              "    key = \"other.key\"; } );"), 3, want);
    (void) snprintf(want, sizeof(want), "sites[0].tls.certificates[0].cert: "
                    "%s/old.pem: the certificate expired on ", tmpdir);
    fails_prefix("an expired certificate",
                 TLS("certificates = ( { cert = \"old.pem\";"
                     " key = \"a.key\"; } );"), 2, want);
    (void) snprintf(want, sizeof(want), "sites[0].tls.certificates[0].cert: "
                    "%s/early.pem: the certificate is not valid before ",
                    tmpdir);
    fails_prefix("a certificate not yet valid",
                 TLS("certificates = ( { cert = \"early.pem\";"
                     " key = \"a.key\"; } );"), 2, want);
    (void) snprintf(want, sizeof(want), "sites[0].tls.certificates[1].cert: "
                    "%s/a2.pem: a second ECDSA certificate (certificates[0] "
                    "is ECDSA too); give one per key type", tmpdir);
    fails("two ECDSA certificates",
          TLS("certificates = ( { cert = \"a.pem\"; key = \"a.key\"; },\n"
              "    { cert = \"a2.pem\"; key = \"a2.key\"; } );"), 3, want);

    fails("TLSv1.1", TLS(CERT_A " protocols = [ \"TLSv1.2\", \"TLSv1.1\" ];"),
          2, "sites[0].tls.protocols[1]: \"TLSv1.1\" is insecure and not "
          "supported (use \"TLSv1.2\" and \"TLSv1.3\")");
    fails("SSLv3", TLS(CERT_A " protocols = \"SSLv3\";"), 2,
          "sites[0].tls.protocols: \"SSLv3\" is insecure and not supported "
          "(use \"TLSv1.2\" and \"TLSv1.3\")");
    fails("TLSv1.4", TLS(CERT_A " protocols = \"TLSv1.4\";"), 2,
          "sites[0].tls.protocols: unknown protocol \"TLSv1.4\" (did you "
          "mean \"TLSv1.2\"?)");
    fails("a protocol twice",
          TLS(CERT_A " protocols = [ \"TLSv1.3\", \"TLSv1.3\" ];"), 2,
          "sites[0].tls.protocols[1]: \"TLSv1.3\" is listed twice");
    fails("no protocol", TLS(CERT_A " protocols = [ ];"), 2,
          "sites[0].tls.protocols: at least one protocol is required");
    fails("ciphers that select nothing", TLS(CERT_A " ciphers = \"FOO\";"),
          2, "sites[0].tls.ciphers: selects no TLS 1.2 cipher: no cipher "
          "match");
    fails("a CBC cipher", TLS(CERT_A " ciphers = \"ECDHE+AESGCM:"
                              "ECDHE-RSA-AES128-SHA\";"), 2,
          "sites[0].tls.ciphers: allows ECDHE-RSA-AES128-SHA, which is not a "
          "forward-secret AEAD cipher (TLS 1.2 ciphers must be ECDHE or DHE "
          "with AES-GCM, AES-CCM or ChaCha20-Poly1305)");
    fails("static RSA key exchange", TLS(CERT_A " ciphers = \"AES256-GCM-"
                                         "SHA384\";"), 2,
          "sites[0].tls.ciphers: allows AES256-GCM-SHA384, which is not a "
          "forward-secret AEAD cipher (TLS 1.2 ciphers must be ECDHE or DHE "
          "with AES-GCM, AES-CCM or ChaCha20-Poly1305)");
    fails_prefix("an unknown TLS 1.3 suite",
                 TLS(CERT_A " ciphersuites = \"TLS_AES_128_GCM_SHA256:"
                     "TLS_AES_512\";"), 2,
                 "sites[0].tls.ciphersuites: unknown TLS 1.3 ciphersuite "
                 "\"TLS_AES_512\" (want TLS_AES_256_GCM_SHA384, ");
    fails("an unknown group", TLS(CERT_A " groups = \"X25519:P-999\";"), 2,
          "sites[0].tls.groups: unknown group \"P-999\" (want names such as "
          "X25519, X448, P-256, P-384, P-521, ffdhe2048)");
    fails("a tiny session cache", TLS(CERT_A " session_cache = \"1k\";"), 2,
          "sites[0].tls.session_cache: \"1k\" is neither 0 (no cache) nor "
          "at least 16k");
    fails("a too fast ticket rotation", TLS(CERT_A " ticket_rotation = "
          "\"500ms\";"), 2, "sites[0].tls.ticket_rotation: \"500ms\" is out "
          "of range (1s..168h)");
    fails("verify without a CA", TLS(CERT_A " verify_client = \"on\";"), 2,
          "sites[0].tls.verify_client: \"on\" needs client_ca (the CA "
          "certificates to verify clients with)");
    fails("verify optional without a CA",
          TLS(CERT_A " verify_client = \"optional\";"), 2,
          "sites[0].tls.verify_client: \"optional\" needs client_ca (the CA "
          "certificates to verify clients with)");
    fails("verify maybe", TLS(CERT_A " verify_client = \"maybe\";"), 2,
          "sites[0].tls.verify_client: unknown value \"maybe\" (want "
          "\"off\", \"optional\" or \"on\")");
    (void) snprintf(want, sizeof(want), "sites[0].tls.client_ca: "
                    "%s/nope.pem: No such file or directory", tmpdir);
    fails("no CA file", TLS(CERT_A " client_ca = \"nope.pem\";"), 2, want);
    (void) snprintf(want, sizeof(want), "sites[0].tls.client_ca: "
                    "%s/junk.pem: no PEM certificate in it", tmpdir);
    fails("a CA file without certificates",
          TLS(CERT_A " client_ca = \"junk.pem\";"), 2, want);
    fails("hsts with a newline", TLS(CERT_A " hsts = \"max-age=1\\n\";"), 2,
          "sites[0].tls.hsts: \"max-age=1\\x0a\" has a control character");
    fails("empty hsts", TLS(CERT_A " hsts = \"\";"), 2,
          "sites[0].tls.hsts: must not be empty");
#define OCSP(file, why) \
    (void) snprintf(want, sizeof(want), "sites[0].tls.ocsp_staple: %s/%s: %s", \
                    tmpdir, file, why); \
    fails("ocsp_staple " file, TLS(CERT_A " ocsp_staple = \"" file "\";"), \
          2, want)
    OCSP("nope.der", "No such file or directory");
    OCSP("empty", "empty");
    OCSP("big.ocsp", "larger than 64k");
    OCSP("junk.pem", "not a DER OCSP response");
    OCSP("unauth.ocsp", "the OCSP response status is \"unauthorized\", not "
         "successful");
    OCSP("other.ocsp", "the OCSP response is for none of the site's "
         "certificates (no serial number matches)");
    OCSP("revoked.ocsp", "the OCSP response says the certificate is "
         "revoked");
#undef OCSP
    (void) snprintf(want, sizeof(want), "sites[0].tls.ocsp_staple: "
                    "%s/stale.ocsp: the OCSP response expired on ", tmpdir);
    fails_prefix("a stale OCSP response",
                 TLS(CERT_A " ocsp_staple = \"stale.ocsp\";"), 2, want);

    fails("a plain site on a TLS address",
          "sites = ( { listen = \"127.0.0.1:8443\"; hosts = \"a.test\";\n"
          "    tls = { " CERT_A " };\n"
          "    routes = ( { path = \"/\";" RET " } ); },\n"
          "  { listen = [ \"127.0.0.1:8080\",\n"
          "               \"127.0.0.1:8443\" ]; hosts = \"b.test\";\n"
          "    routes = ( { path = \"/\";" RET " } ); } );\n", 4,
          "sites[1]: \"b.test\" and \"a.test\" (line 1) share "
          "127.0.0.1:8443, but only \"a.test\" has tls: the sites of one "
          "address must all have tls, or none");
    fails("a TLS site on a plain address",
          "sites = ( { listen = \"127.0.0.1:8443\"; hosts = \"a.test\";\n"
          "    routes = ( { path = \"/\";" RET " } ); },\n"
          "  { listen = \"127.0.0.1:8443\"; hosts = \"b.test\";\n"
          "    tls = { " CERT_A " };\n"
          "    routes = ( { path = \"/\";" RET " } ); } );\n", 4,
          "sites[1]: \"b.test\" and \"a.test\" (line 1) share "
          "127.0.0.1:8443, but only \"b.test\" has tls: the sites of one "
          "address must all have tls, or none");
    c = loads("TLS and plain sites on different addresses",
              "sites = ( { listen = \"127.0.0.1:8443\";\n"
              "    tls = { " CERT_A " };\n"
              "    routes = ( { path = \"/\";" RET " } ); },\n"
              "  { listen = \"127.0.0.1:8080\";\n"
              "    routes = ( { path = \"/\";" RET
              " redirect_https = true; } ); } );\n");
    ok(c != NULL && c->sites[0].tls != NULL && c->sites[1].tls == NULL
       && c->sites[1].routes[0].redirect_https == 1,
       "... the first has tls, the second redirects");
    gh_conf_free(c);
    fails("session caches larger than half the segment",
          "sites = ( { listen = \"127.0.0.1:8443\"; hosts = \"a.test\";\n"
          "    tls = { " CERT_A " session_cache = \"20M\"; };\n"
          "    routes = ( { path = \"/\";" RET " } ); },\n"
          "  { listen = \"127.0.0.1:8443\"; hosts = \"b.test\";\n"
          "    tls = { " CERT_A "\n"
          "            session_cache = \"20M\"; };\n"
          "    routes = ( { path = \"/\";" RET " } ); } );\n", 6,
          "sites[1].tls.session_cache: the TLS session caches take 40M in "
          "all with this one, more than half of shm_size (64M): make them "
          "smaller or shm_size larger");
    c = loads("the same with shm_size = 128M",
              "shm_size = \"128M\";\n"
              "sites = ( { listen = \"127.0.0.1:8443\"; hosts = \"a.test\";\n"
              "    tls = { " CERT_A " session_cache = \"20M\"; };\n"
              "    routes = ( { path = \"/\";" RET " } ); },\n"
              "  { listen = \"127.0.0.1:8443\"; hosts = \"b.test\";\n"
              "    tls = { " CERT_A " session_cache = \"20M\"; };\n"
              "    routes = ( { path = \"/\";" RET " } ); } );\n");
    gh_conf_free(c);
    fails("redirect_https not a boolean",
          "sites = ( { listen = \"127.0.0.1:8080\";\n"
          "  routes = ( { path = \"/\";" RET "\n"
          "    redirect_https = \"yes\"; } ); } );\n", 3,
          "sites[0].routes[0].redirect_https: expected a boolean (true or "
          "false), not a string");
}

/* The tls group and redirect_https, dumped, load back the same. */
static void
test_dump_tls(void)
{
    static const char *const want[] = {
        "tls = {\n",
        "certificates = (\n",
        "/rsa.pem\";\n",
        "/a.key\";\n",
        "protocols = [ \"TLSv1.3\" ];\n",
        "ciphers = \"ECDHE+AESGCM\";\n",
        "ciphersuites = \"TLS_AES_128_GCM_SHA256\";\n",
        "groups = \"P-256\";\n",
        "session_cache = \"64k\";\n",
        "session_timeout = \"300s\";\n",
        "session_tickets = false;\n",
        "ticket_rotation = \"1h\";\n",
        "/a.pem\";\n",
        "verify_client = \"on\";\n",
        "verify_depth = 2;\n",
        "/a.ocsp\";\n",
        "hsts = \"max-age=31536000; includeSubDomains\";\n",
        "redirect_https = true;\n",
        "redirect_https = false;\n",
        NULL
    };
    static const char *const defaults[] = {
        "protocols = [ \"TLSv1.2\", \"TLSv1.3\" ];\n",
        "ciphers = \"ECDHE+AESGCM:ECDHE+CHACHA20\";\n",
        "groups = \"X25519:P-256:P-384\";\n",
        "session_cache = \"10M\";\n",
        "session_timeout = \"1h\";\n",
        "session_tickets = true;\n",
        "ticket_rotation = \"12h\";\n",
        "verify_client = \"off\";\n",
        "verify_depth = 4;\n",
        NULL
    };
    static const char *const no_tls[] = { "tls = {", NULL };
    static const char *const nothing[] = { NULL };

    dump_round_trip("every tls key",
        "sites = ( { listen = \"127.0.0.1:8443\";\n"
        "  tls = { certificates = ( { cert = \"rsa.pem\"; key = \"rsa.key\"; },"
        " { cert = \"a.pem\"; key = \"a.key\"; } );\n"
        "    protocols = \"TLSv1.3\"; ciphers = \"ECDHE+AESGCM\";\n"
        "    ciphersuites = \"TLS_AES_128_GCM_SHA256\"; groups = \"P-256\";\n"
        "    session_cache = 65536; session_timeout = 300;"
        " session_tickets = false;\n"
        "    ticket_rotation = \"60m\"; client_ca = \"a.pem\";"
        " verify_client = \"on\"; verify_depth = 2;\n"
        "    ocsp_staple = \"a.ocsp\";"
        " hsts = \"max-age=31536000; includeSubDomains\"; };\n"
        "  routes = ( { path = \"/a\";" RET " redirect_https = true; },\n"
        "    { path = \"/\";" RET " } ); } );\n", want, NULL);
    dump_round_trip("tls defaults", TLS(CERT_A), defaults, nothing);
    dump_round_trip("no tls", SITE, nothing, no_tls);
}

/* Every new key, dumped, loads back the same. */
static void
test_dump_new(void)
{
    static const char *const want[] = {
        "path_exact = \"/login\";\n",
        "path_regex = \"^/v[0-9]+/\";\n",
        "path_regex = \"\\\\.json$\";\n",
        "name = \"=/login\";\n",
        "name = \"~^/v[0-9]+/\";\n",
        "name = \"~\\\\.json$\";\n",
        "name = \"/api\";\n",
        "name = \"/api #2\";\n",
        "name = \"canary api\";\n",
        "host = [ \"api.example.com\", \"*.example.org\" ];\n",
        "header = [ \"x-canary: 1\", \"x-b\" ];\n",
        "cookie = [ \"beta=yes\", \"sess\" ];\n",
        "query = [ \"debug=1\", \"trace\", \"e=\" ];\n",
        "methods = [ \"GET\", \"HEAD\", \"POST\" ];\n",
        "methods = [ \"DELETE\" ];\n",
        "body_size = \"1k\";\n",
        "body_size = \"0\";\n",
        "request_headers = {\n",
        "set = { X-Env = \"prod\"; Host = \"backend.local\"; };\n",
        "add = { X-Tag = \"$host$uri\"; };\n",
        "remove = [ \"X-Debug\" ];\n",
        "response_headers = {\n",
        "set = { Server = \"edge\"; };\n",
        "rate_limit = {\n",
        "rate = \"10r/s\";\n",
        "burst = 20;\n",
        "key = \"header:x-api-key\";\n",
        "key = \"ip\";\n",
        "auth_basic = {\n",
        "realm = \"staff\";\n",
        "deny = [ \"192.168.0.1/32\" ];\n",
        "allow = [ \"192.168.0.0/16\" ];\n",
        "client_connections = 100;\n",
        "total_connections = 1000;\n",
        "client_table_size = \"8M\";\n",
        "min_body_rate = \"1k\";\n",
        "min_response_rate = \"2k\";\n",
        "rate_window = \"30s\";\n",
        NULL
    };
    static const char text[] =
        "limits = { client_connections = 100; total_connections = 1000;\n"
        "  client_table_size = \"8M\"; min_body_rate = 1024;"
        " min_response_rate = \"2k\"; rate_window = 30; };\n"
        UPSTREAM
        "sites = ( { listen = \"127.0.0.1:8080\";\n"
        "  deny = \"192.168.0.1\"; acl_file = \"acl.txt\";"
        " allow = \"192.168.0.0/16\";\n"
        "  auth_basic = { realm = \"staff\"; file = \"htpasswd\"; };\n"
        "  request_headers = { set = { X-Env = \"prod\";"
        " Host = \"backend.local\"; };\n"
        "    add = { X-Tag = \"$host$uri\"; }; remove = \"X-Debug\"; };\n"
        "  routes = (\n"
        "    { path = \"/api\"; upstream = \"app\"; methods = [ \"POST\","
        " \"GET\" ];\n"
        "      host = [ \"api.example.com\", \"*.example.org\" ];\n"
        "      header = [ \"X-Canary: 1\", \"X-B\" ];"
        " cookie = [ \"beta=yes\", \"sess\" ];\n"
        "      query = [ \"debug=1\", \"trace\", \"e=\" ];"
        " body_size = \"1k\";\n"
        "      rate_limit = { rate = \"10r/s\"; burst = 20;"
        " key = \"header:X-Api-Key\"; };\n"
        "      response_headers = { set = { Server = \"edge\"; }; }; },\n"
        "    { path = \"/api\"; upstream = \"app\"; body_size = 0;\n"
        "      rate_limit = { rate = \"1r/m\"; }; acl_file = \"acl.txt\";\n"
        "      auth_basic = { realm = \"ops\"; file = \"htpasswd\"; }; },\n"
        "    { path = \"/a\"; name = \"canary api\"; upstream = \"app\";"
        " methods = \"DELETE\"; },\n"
        "    { path_exact = \"/login\"; upstream = \"app\"; },\n"
        "    { path_regex = \"^/v[0-9]+/\"; upstream = \"app\"; },\n"
        "    { path_regex = \"\\\\.json$\"; return = { status = 404; }; }\n"
        "  ); } );\n";
    char err[1024], *d = NULL, *p1, *p2, *p3;
    size_t l = 0;
    struct gh_conf *c;
    FILE *f;

    put_acl("allow 10.0.0.0/8\ndeny all\n");
    put_htpasswd("alice:HASH\n");
    dump_round_trip("every new key", text, want, NULL);

    /* The acl_file stays a reference, between the rules around it. */
    c = load_text(text, err, sizeof(err));
    if (c == NULL)
        return;
    f = open_memstream(&d, &l);
    gh_conf_dump(c, f);
    (void) fclose(f);
    p1 = strstr(d, "deny = [ \"192.168.0.1/32\" ];");
    p2 = strstr(d, "acl_file = \"");
    p3 = strstr(d, "allow = [ \"192.168.0.0/16\" ];");
    ok(p1 && p2 && p3 && p1 < p2 && p2 < p3,
       "dump: deny, acl_file, allow in that order");
    ok(strstr(d, "allow = [ \"10.0.0.0/8\" ]") == NULL,
       "dump: the file's rules are not inlined");
    gh_conf_free(c);
    free(d);

    /* Lists of several names: the dump must be valid libconfig, and not
     * glue the names together (libconfig concatenates adjacent strings). */
    c = load_text("sites = ( { listen = \"127.0.0.1:8080\";\n"
                  "  response_headers = { remove = [ \"X-Debug\","
                  " \"X-Other\" ]; };\n"
                  "  routes = ( { path = \"/\";" RET " } ); } );\n", err,
                  sizeof(err));
    if (!ok(c != NULL, "remove with two names: loads"))
        return;
    d = NULL;
    f = open_memstream(&d, &l);
    gh_conf_dump(c, f);
    (void) fclose(f);
    gh_conf_free(c);
    ok(strstr(d, "remove = [ \"X-Debug\", \"X-Other\" ];\n") != NULL,
       "remove with two names: dump has a list of two");
    c = gh_conf_load(put("dump.conf", d, l), err, sizeof(err));
    ok(c != NULL && c->sites[0].resp_hdrs.n == 2,
       "remove with two names: the dump loads back two names");
    gh_conf_free(c);
    free(d);
}

int
main(void)
{
    (void) snprintf(tmpdir, sizeof(tmpdir), "/tmp/gh-conf-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }

    subtest("the documented example") test_example();
    subtest("defaults") test_defaults();
    subtest("upstream defaults") test_upstream_defaults();
    subtest("balancing, health, metrics keys") test_balance_keys();
    subtest("every key set") test_everything_set();
    subtest("routes sorted") test_routes_sorted();
    subtest("relative paths") test_relative_paths();
    subtest("errors") test_errors();
    subtest("hostile files") test_hostile_files();
    subtest("worker_rlimit_nofile, worker_shutdown_timeout")
        test_daemon_keys();
    subtest("@include") test_include();
    subtest("dump") test_dump();
    subtest("dump of the balancing keys") test_dump_balance();
    subtest("key names") test_key_names();
    subtest("route path kinds and order") test_route_kinds();
    subtest("route names") test_route_names();
    subtest("route conditions") test_route_conditions();
    subtest("route errors") test_route_errors();
    subtest("request_headers, response_headers") test_hdr_ops();
    subtest("rate_limit") test_rate_limit();
    subtest("limits: clients and rates") test_limits_new();
    subtest("acl_file") test_acl_file();
    subtest("auth_basic") test_auth_basic();
    subtest("dump of the new keys") test_dump_new();
    subtest("tls") test_tls();
    subtest("dump of tls") test_dump_tls();

    X509_free(tls_a);
    EVP_PKEY_free(tls_a_key);
    (void) nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return done_testing();
}
