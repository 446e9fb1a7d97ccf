/*
 * gh_conf_load(): the documented example, defaults, every validation error
 * with its exact "FILE:LINE: key: why", hostile files, relative paths,
 * route order and a dump that loads back the same.  Config files are
 * written under a mkdtemp() directory that is removed at the end.
 */

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "tests/unit/tap.h"

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
          "sites[0].routes[0].path: missing (required)");
    fails("route path twice",
          "sites = ( { listen = \"127.0.0.1:80\"; routes = (\n"
          "  { path = \"/\"; root = \"w\"; },\n"
          "  { path = \"/\"; root = \"v\"; } ); } );\n", 3,
          "sites[0].routes[1].path: \"/\" is listed twice");
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

    (void) nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    return done_testing();
}
