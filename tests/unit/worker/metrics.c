/*
 * Tests worker/metrics.c: exact Prometheus lines and JSON fragments for
 * counters a test bumps in a real segment, cumulative histograms, up/down
 * at NOW without writing the segment, label and JSON escaping of hostile
 * names, unbound entries left out, a big config rendered whole, and every
 * Prometheus output checked against the 0.0.4 text format and every JSON
 * output parsed.  Cache zones: their gauges and events from a real zone.
 */

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "shm/cache.h"
#include "shm/shm.h"
#include "shm/slab.h"
#include "shm/state.h"
#include "tests/unit/tap.h"
#include "worker/metrics.h"

/* ---- a hand-built config ------------------------------------------------ */

/* Everything a hand-built conf owns, freed by conf_done(). */
struct tconf {
    struct gh_conf conf;
    void          *blocks[4096];
    size_t         nblocks;
};

static void *
tc_alloc(struct tconf *tc, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);

    if (p == NULL || tc->nblocks == GH_NELEM(tc->blocks)) {
        diag("out of memory building a conf");
        exit(1);
    }
    tc->blocks[tc->nblocks++] = p;
    return p;
}

static struct gh_upstream *
tc_upstream(struct tconf *tc, struct gh_upstream *u, const char *name,
            uint32_t nservers)
{
    u->name = name;
    u->nservers = nservers;
    u->servers = tc_alloc(tc, nservers, sizeof(*u->servers));
    for (uint32_t i = 0; i < nservers; i++)
        u->servers[i].weight = 1;
    return u;
}

static void
tc_server(struct gh_upstream *u, uint32_t i, const char *addr)
{
    struct gh_addr *a = &u->servers[i].addr;

    (void) snprintf(a->text, sizeof(a->text), "%s", addr);
}

static struct gh_site *
tc_site(struct tconf *tc, struct gh_site *site, const char *name,
        const char *listen, uint32_t nroutes)
{
    site->name = name;
    site->nlisten = 1;
    site->listen = tc_alloc(tc, 1, sizeof(*site->listen));
    (void) snprintf(site->listen[0].addr.text,
                    sizeof(site->listen[0].addr.text), "%s", listen);
    site->nroutes = nroutes;
    site->routes = tc_alloc(tc, nroutes, sizeof(*site->routes));
    return site;
}

static void
tc_route(struct gh_site *site, uint32_t i, const char *path,
         struct gh_upstream *u)
{
    site->routes[i].path = path;
    site->routes[i].name = path;
    site->routes[i].path_len = strlen(path);
    site->routes[i].upstream = u;
}

static void
tc_done(struct tconf *tc)
{
    while (tc->nblocks > 0)
        free(tc->blocks[--tc->nblocks]);
}

static void
seg_open(struct gh_shm *shm, size_t size, struct gh_conf *conf)
{
    char err[256];

    if (gh_shm_create(shm, size, err, sizeof(err)) != GH_OK
        || gh_state_init(shm, err, sizeof(err)) != GH_OK
        || gh_state_bind(shm, conf, err, sizeof(err)) != GH_OK) {
        diag("segment: %s", err);
        exit(1);
    }
}

/* ---- looking at the output ---------------------------------------------- */

/* Is LINE (without its '\n') a whole line of TEXT? */
static int
has_line(const char *text, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    }
    return 0;
}

/* The value of the sample SERIES ("name{labels}"), "" when absent. */
static const char *
value_of(const char *text, const char *series)
{
    static char v[64];
    size_t n = strlen(series), k;

    v[0] = '\0';
    for (const char *p = text; (p = strstr(p, series)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            k = strcspn(p + n + 1, "\n");
            (void) snprintf(v, sizeof(v), "%.*s", (int) k, p + n + 1);
            break;
        }
    }
    return v;
}

/* Lines of TEXT that start with PREFIX. */
static size_t
count_lines(const char *text, const char *prefix)
{
    size_t n = 0, l = strlen(prefix);

    for (const char *p = text; *p; ) {
        if (strncmp(p, prefix, l) == 0)
            n++;
        p += strcspn(p, "\n");
        if (*p)
            p++;
    }
    return n;
}

static size_t
count_str(const char *text, const char *s)
{
    size_t n = 0;

    for (const char *p = text; (p = strstr(p, s)) != NULL; p += strlen(s))
        n++;
    return n;
}

/* ---- Prometheus text format 0.0.4 --------------------------------------- */

static int
prom_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
           || c == ':';
}

static int
prom_name_char(int c)
{
    return prom_name_start(c) || (c >= '0' && c <= '9');
}

/* Metric name at *P; advances.  Its length, 0 when there is none. */
static size_t
prom_name(const char **p)
{
    const char *start = *p, *s = *p;

    if (!prom_name_start((unsigned char) *s))
        return 0;
    while (prom_name_char((unsigned char) *s))
        s++;
    *p = s;
    return (size_t) (s - start);
}

static int
prom_value(const char *s, size_t n)
{
    char buf[64], *end;

    if (n == 0 || n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "-Inf") == 0
        || strcmp(buf, "NaN") == 0)
        return 1;
    errno = 0;
    (void) strtod(buf, &end);
    return *end == '\0' && errno == 0 && buf[0] != ' ';
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Check TEXT as Prometheus text format 0.0.4, as we write it: every line
 * ends in '\n'; "# HELP name text" and "# TYPE name type" once per family,
 * HELP then TYPE before its samples; samples `name{l="v",...} value` of the
 * family just declared (name + _bucket/_sum/_count for a histogram), so a
 * family's samples are contiguous; label values escape only \\ \" \n; no
 * series twice.  Returns the number of samples, or -1 with a diag.
 */
static long
prom_check(const char *text, size_t len)
{
    char family[128] = "", type[16] = "", helped[128] = "";
    char **series = NULL, **seen = NULL;
    size_t nseries = 0, nseen = 0, lineno = 0;
    long rc = -1;
    const char *p = text, *end = text + len;

    if (len == 0 || text[len - 1] != '\n' || strlen(text) != len) {
        diag("output does not end in a newline or holds a NUL");
        return -1;
    }
    /* A line is at least 4 bytes ("a 0\n"). */
    series = calloc(len / 4 + 1, sizeof(*series));
    seen = calloc(len / 4 + 1, sizeof(*seen));
    if (series == NULL || seen == NULL) {
        diag("out of memory");
        exit(1);
    }
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t) (end - p)), *s = p, *n0;
        size_t nl;

        lineno++;
        if (strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0) {
            int help = p[2] == 'H';

            s = p + 7;
            n0 = s;
            nl = prom_name(&s);
            if (nl == 0 || *s != ' ' || s + 1 >= eol || nl >= 128)
                goto bad;
            if (help) {
                for (size_t i = 0; i < nseen; i++)
                    if (strlen(seen[i]) == nl
                        && strncmp(seen[i], n0, nl) == 0)
                        goto bad;   /* family declared twice */
                seen[nseen++] = strndup(n0, nl);
                (void) snprintf(helped, sizeof(helped), "%.*s", (int) nl,
                                n0);
                family[0] = '\0';
                for (s++; s < eol; s++)
                    if (*s == '\\' && s[1] != '\\' && s[1] != 'n')
                        goto bad;
            } else {
                if (strlen(helped) != nl || strncmp(helped, n0, nl) != 0)
                    goto bad;       /* TYPE without its HELP just before */
                (void) snprintf(family, sizeof(family), "%s", helped);
                (void) snprintf(type, sizeof(type), "%.*s",
                                (int) (eol - s - 1), s + 1);
                if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0
                    && strcmp(type, "histogram") != 0
                    && strcmp(type, "summary") != 0
                    && strcmp(type, "untyped") != 0)
                    goto bad;
            }
        } else if (*p == '#') {
            goto bad;               /* we write no other comments */
        } else {
            char *key;
            size_t fl = strlen(family);

            n0 = s;
            nl = prom_name(&s);
            if (nl == 0 || fl == 0)
                goto bad;
            if (!(nl == fl && strncmp(n0, family, fl) == 0)) {
                /* Only a histogram has samples named otherwise. */
                char suffix[16];

                if (strcmp(type, "histogram") != 0 || nl <= fl
                    || nl - fl >= sizeof(suffix)
                    || strncmp(n0, family, fl) != 0)
                    goto bad;
                (void) snprintf(suffix, sizeof(suffix), "%.*s",
                                (int) (nl - fl), n0 + fl);
                if (strcmp(suffix, "_bucket") != 0
                    && strcmp(suffix, "_sum") != 0
                    && strcmp(suffix, "_count") != 0)
                    goto bad;
            }
            if (*s == '{') {
                s++;
                while (*s != '}') {
                    if (!prom_name_start((unsigned char) *s) || *s == ':')
                        goto bad;
                    while (prom_name_char((unsigned char) *s) && *s != ':')
                        s++;
                    if (*s++ != '=' || *s++ != '"')
                        goto bad;
                    while (*s != '"') {
                        if (*s == '\n' || s >= eol)
                            goto bad;
                        if (*s == '\\') {
                            if (s[1] != '\\' && s[1] != '"' && s[1] != 'n')
                                goto bad;
                            s++;
                        }
                        s++;
                    }
                    s++;
                    if (*s == ',')
                        s++;
                    else if (*s != '}')
                        goto bad;
                }
                s++;
            }
            if (*s != ' ' || !prom_value(s + 1, (size_t) (eol - s - 1)))
                goto bad;
            key = strndup(p, (size_t) (s - p));
            series[nseries++] = key;
        }
        p = eol + 1;
    }
    qsort(series, nseries, sizeof(*series), cmp_str);
    for (size_t i = 1; i < nseries; i++) {
        if (strcmp(series[i - 1], series[i]) == 0) {
            diag("series twice: %s", series[i]);
            goto out;
        }
    }
    rc = (long) nseries;
    goto out;
bad:
    diag("line %zu is not in the format: %.*s", lineno,
         (int) strcspn(p, "\n"), p);
out:
    for (size_t i = 0; i < nseries; i++)
        free(series[i]);
    for (size_t i = 0; i < nseen; i++)
        free(seen[i]);
    free(series);
    free(seen);
    return rc;
}

/* ---- JSON (RFC 8259) ---------------------------------------------------- */

static int json_value(const char **p, int depth);

static void
json_ws(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
        (*p)++;
}

static int
json_string(const char **p)
{
    const unsigned char *s = (const unsigned char *) *p;

    if (*s++ != '"')
        return 0;
    while (*s != '"') {
        if (*s < 0x20)
            return 0;
        if (*s == '\\') {
            s++;
            if (*s == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i])
                        return 0;
                s += 4;
            } else if (!strchr("\"\\/bfnrt", *s) || !*s) {
                return 0;
            }
        }
        s++;
    }
    *p = (const char *) s + 1;
    return 1;
}

static int
json_number(const char **p)
{
    const char *s = *p;

    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return 0;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    *p = s;
    return 1;
}

static int
json_value(const char **p, int depth)
{
    if (depth > 64)
        return 0;
    json_ws(p);
    switch (**p) {
    case '{':
        (*p)++;
        json_ws(p);
        if (**p == '}')
            return (*p)++, 1;
        for (;;) {
            json_ws(p);
            if (!json_string(p))
                return 0;
            json_ws(p);
            if (*(*p)++ != ':' || !json_value(p, depth + 1))
                return 0;
            json_ws(p);
            if (**p == '}')
                return (*p)++, 1;
            if (*(*p)++ != ',')
                return 0;
        }
    case '[':
        (*p)++;
        json_ws(p);
        if (**p == ']')
            return (*p)++, 1;
        for (;;) {
            if (!json_value(p, depth + 1))
                return 0;
            json_ws(p);
            if (**p == ']')
                return (*p)++, 1;
            if (*(*p)++ != ',')
                return 0;
        }
    case '"':
        return json_string(p);
    case 't':
        return strncmp(*p, "true", 4) == 0 ? (*p += 4, 1) : 0;
    case 'f':
        return strncmp(*p, "false", 5) == 0 ? (*p += 5, 1) : 0;
    case 'n':
        return strncmp(*p, "null", 4) == 0 ? (*p += 4, 1) : 0;
    default:
        return json_number(p);
    }
}

/* One JSON object and nothing after it but white space. */
static int
json_check(const char *text, size_t len)
{
    const char *p = text;

    if (strlen(text) != len) {
        diag("JSON holds a NUL");
        return 0;
    }
    json_ws(&p);
    if (*p != '{' || !json_value(&p, 0)) {
        diag("JSON broken at offset %zu: %.40s", (size_t) (p - text), p);
        return 0;
    }
    json_ws(&p);
    return *p == '\0';
}

/* Every byte sequence of TEXT is well-formed UTF-8. */
static int
utf8_ok(const char *text)
{
    const unsigned char *p = (const unsigned char *) text;

    while (*p) {
        int n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2
                : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;

        if (n == 0 || (n == 2 && *p < 0xc2))
            return 0;
        for (int i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                return 0;
        p += n;
    }
    return 1;
}

/* ---- the tests ---------------------------------------------------------- */

static char *
render(const struct gh_conf *conf, const struct gh_shm *shm, int json,
       gh_msec now, size_t *len)
{
    char *out = NULL;

    if (gh_metrics_render(conf, shm, json, now, &out, len) != GH_OK) {
        diag("gh_metrics_render failed");
        exit(1);
    }
    return out;
}

#define NOW 1000000

static void
test_small(void)
{
    struct tconf tc = { 0 };
    struct gh_conf *c = &tc.conf;
    struct gh_upstream *app, *db;
    struct gh_site *x;
    struct gh_shm shm;
    struct gh_shm_server *s1, *s2, *s3, *s4;
    struct gh_shm_route *r;
    struct gh_shm_globals *g;
    struct gh_slab_stats st;
    char *out, line[256];
    size_t len;

    c->workers = 2;
    c->nupstreams = 2;
    c->upstreams = tc_alloc(&tc, 2, sizeof(*c->upstreams));
    app = tc_upstream(&tc, &c->upstreams[0], "app", 3);
    tc_server(app, 0, "127.0.0.1:9001");
    tc_server(app, 1, "127.0.0.1:9002");
    app->servers[1].backup = 1;
    tc_server(app, 2, "127.0.0.1:9003");
    db = tc_upstream(&tc, &c->upstreams[1], "db", 2);
    tc_server(db, 0, "[::1]:5432");
    tc_server(db, 1, "[::1]:5433");
    c->nsites = 3;
    c->sites = tc_alloc(&tc, 3, sizeof(*c->sites));
    x = tc_site(&tc, &c->sites[0], "x", "127.0.0.1:8080", 3);
    tc_route(x, 0, "/unbound/", app);
    tc_route(x, 1, "/api/", app);
    tc_route(x, 2, "/", app);
    tc_site(&tc, &c->sites[1], NULL, "127.0.0.1:8081", 1);
    c->sites[1].nhosts = 1;
    c->sites[1].hosts = tc_alloc(&tc, 1, sizeof(char *));
    c->sites[1].hosts[0] = "example.com";
    tc_route(&c->sites[1], 0, "/", db);
    tc_site(&tc, &c->sites[2], NULL, "[::1]:8082", 1);
    tc_route(&c->sites[2], 0, "/", NULL);
    seg_open(&shm, 8 << 20, c);
    x->routes[0].shm = 0;           /* as if bind had not reached them */
    db->servers[1].shm = 0;

    r = gh_state_route(&shm, &x->routes[2]);
    r->requests = 7;
    r->status[1] = 5;
    r->status[3] = 1;
    r->status[4] = 1;
    gh_state_route(&shm, &x->routes[1])->requests = 1;
    s1 = gh_state_server(&shm, &app->servers[0]);
    s2 = gh_state_server(&shm, &app->servers[1]);
    s3 = gh_state_server(&shm, &app->servers[2]);
    s4 = gh_state_server(&shm, &db->servers[0]);
    s1->requests = 10;
    s1->failures = 2;
    s1->active = 3;
    gh_state_server_latency(s1, 1);
    gh_state_server_latency(s1, 5);
    gh_state_server_latency(s1, 7);
    gh_state_server_latency(s1, 30);
    gh_state_server_latency(s1, 2000);
    gh_state_server_latency(s1, 20000);
    s1->ewma_us = 1234567;
    s2->health = GH_SRV_DOWN;
    s3->passive_down = 1;
    s3->down_until = NOW + 1000;
    s4->ewma_us = 2000000;
    gh_state_upstream(&shm, app)->queued = 2;
    g = gh_state_globals(&shm);
    g->workers[0].conns = 4;
    g->workers[1].conns = 1;
    g->workers[0].requests = 100;
    g->workers[1].requests = 50;
    g->workers[2].requests = 99;     /* no third worker: not shown */

    subtest("prometheus: routes") {
        out = render(c, &shm, 0, NOW, &len);
        ok(prom_check(out, len) > 0, "valid exposition format");
        ok(has_line(out, "# HELP gatehouse_requests_total Requests "
                    "finished, by route."), "HELP line");
        ok(has_line(out, "# TYPE gatehouse_requests_total counter"),
           "TYPE line");
        ok(has_line(out, "gatehouse_requests_total{site=\"x\",listen="
                    "\"127.0.0.1:8080\",route=\"/\"} 7"), "requests of /");
        ok(has_line(out, "gatehouse_requests_total{site=\"x\",listen="
                    "\"127.0.0.1:8080\",route=\"/api/\"} 1"),
           "requests of /api/");
        ok(has_line(out, "gatehouse_responses_total{site=\"x\",listen="
                    "\"127.0.0.1:8080\",route=\"/\",code=\"2xx\"} 5"), "2xx");
        ok(has_line(out, "gatehouse_responses_total{site=\"x\",listen="
                    "\"127.0.0.1:8080\",route=\"/\",code=\"1xx\"} 0"), "1xx");
        ok(has_line(out, "gatehouse_responses_total{site=\"x\",listen="
                    "\"127.0.0.1:8080\",route=\"/\",code=\"4xx\"} 1"), "4xx");
        ok(has_line(out, "gatehouse_responses_total{site=\"x\",listen="
                    "\"127.0.0.1:8080\",route=\"/\",code=\"5xx\"} 1"), "5xx");
        is_int(count_lines(out, "gatehouse_responses_total{"), 4 * 5,
               "five codes for each of the four bound routes");
        ok(strstr(out, "/unbound/") == NULL, "unbound route left out");
        ok(has_line(out, "gatehouse_requests_total{site=\"example.com\","
                    "listen=\"127.0.0.1:8081\",route=\"/\"} 0"),
           "nameless site goes by its first host");
        ok(has_line(out, "gatehouse_requests_total{site=\"[::1]:8082\","
                    "listen=\"[::1]:8082\",route=\"/\"} 0"),
           "and without hosts by its listen address");
        free(out);
    }
    subtest("prometheus: upstreams") {
        out = render(c, &shm, 0, NOW, &len);
#define SRV(n, a) n "{upstream=\"app\",server=\"127.0.0.1:" a "\"}"
        is_str(value_of(out, SRV("gatehouse_upstream_requests_total",
                                 "9001")), "10", "requests");
        is_str(value_of(out, SRV("gatehouse_upstream_failures_total",
                                 "9001")), "2", "failures");
        is_str(value_of(out, SRV("gatehouse_upstream_active", "9001")), "3",
               "active");
        is_str(value_of(out, SRV("gatehouse_upstream_up", "9001")), "1",
               "up");
        is_str(value_of(out, SRV("gatehouse_upstream_up", "9002")), "0",
               "down by the checker");
        is_str(value_of(out, SRV("gatehouse_upstream_up", "9003")), "0",
               "passively down until later");
        is_str(value_of(out, SRV("gatehouse_upstream_backup", "9002")), "1",
               "backup");
        is_str(value_of(out, SRV("gatehouse_upstream_backup", "9001")), "0",
               "not backup");
        is_str(value_of(out, SRV("gatehouse_upstream_ewma_seconds", "9001")),
               "1.234567", "EWMA in seconds");
        is_str(value_of(out, SRV("gatehouse_upstream_ewma_seconds", "9002")),
               "0", "EWMA without responses");
        ok(has_line(out, "gatehouse_upstream_ewma_seconds{upstream=\"db\","
                    "server=\"[::1]:5432\"} 2"), "whole seconds");
        ok(has_line(out, "gatehouse_upstream_queued{upstream=\"app\"} 2"),
           "queued");
        ok(has_line(out, "# TYPE gatehouse_upstream_response_seconds "
                    "histogram"), "histogram TYPE");
        ok(strstr(out, "5433") == NULL, "unbound server left out");
        is_int(count_lines(out, "gatehouse_upstream_up{"), 4,
               "four bound servers");
        free(out);
    }
    subtest("prometheus: histogram is cumulative") {
        static const char *const want[GH_LAT_BUCKETS][2] = {
            { "0.005", "2" }, { "0.01", "3" }, { "0.025", "3" },
            { "0.05", "4" }, { "0.1", "4" }, { "0.25", "4" },
            { "0.5", "4" }, { "1", "4" }, { "2.5", "5" }, { "5", "5" },
            { "10", "5" }, { "+Inf", "6" },
        };

        out = render(c, &shm, 0, NOW, &len);
        for (size_t i = 0; i < GH_NELEM(want); i++) {
            (void) snprintf(line, sizeof(line),
                            "gatehouse_upstream_response_seconds_bucket{"
                            "upstream=\"app\",server=\"127.0.0.1:9001\","
                            "le=\"%s\"}", want[i][0]);
            is_str(value_of(out, line), want[i][1], "le=%s", want[i][0]);
        }
        is_str(value_of(out, SRV("gatehouse_upstream_response_seconds_sum",
                                 "9001")), "22.043", "sum in seconds");
        is_str(value_of(out,
                        SRV("gatehouse_upstream_response_seconds_count",
                            "9001")), "6", "count");
        is_str(value_of(out, SRV("gatehouse_upstream_response_seconds_count",
                                 "9002")), "0", "empty histogram count");
        is_int(count_lines(out, "gatehouse_upstream_response_seconds_bucket"
                           "{upstream=\"app\",server=\"127.0.0.1:9002\""),
               GH_LAT_BUCKETS, "an empty histogram has every bucket");
        free(out);
    }
    subtest("passive mark runs out at NOW, and a scrape writes nothing") {
        out = render(c, &shm, 0, NOW + 999, &len);
        is_str(value_of(out, SRV("gatehouse_upstream_up", "9003")), "0",
               "1 ms before the end: down");
        free(out);
        out = render(c, &shm, 0, NOW + 1000, &len);
        is_str(value_of(out, SRV("gatehouse_upstream_up", "9003")), "1",
               "at the end: up");
        free(out);
        is_int(s3->passive_down, 1, "the mark is left for a worker to lift");
#undef SRV
    }
    subtest("prometheus: workers") {
        out = render(c, &shm, 0, NOW, &len);
        ok(has_line(out, "gatehouse_worker_connections{worker=\"0\"} 4"),
           "connections of worker 0");
        ok(has_line(out, "gatehouse_worker_connections{worker=\"1\"} 1"),
           "connections of worker 1");
        ok(has_line(out, "gatehouse_worker_requests_total{worker=\"0\"} 100"),
           "requests of worker 0");
        ok(has_line(out, "gatehouse_worker_requests_total{worker=\"1\"} 50"),
           "requests of worker 1");
        ok(strstr(out, "worker=\"2\"") == NULL, "only configured slots");
        free(out);
    }
    subtest("prometheus: slab") {
        uint64_t total, fr;
        uint32_t n = gh_slab_nclasses(&shm), i;

        out = render(c, &shm, 0, NOW, &len);
        gh_slab_pages(&shm, &total, &fr);
        (void) snprintf(line, sizeof(line),
                        "gatehouse_slab_segment_pages %" PRIu64, total);
        ok(has_line(out, line), "%s", line);
        (void) snprintf(line, sizeof(line),
                        "gatehouse_slab_segment_free_pages %" PRIu64, fr);
        ok(has_line(out, line), "%s", line);
        gh_slab_stats(&shm, -1, &st);
        (void) snprintf(line, sizeof(line), "gatehouse_slab_pages{class="
                        "\"runs\",size=\"0\"} %" PRIu64, st.pages);
        ok(has_line(out, line), "%s", line);
        ok(n > 0, "the slab has classes");
        is_int(count_lines(out, "gatehouse_slab_allocs_total{"), n + 1,
               "a line per class and one for runs");
        for (i = 0; i < n; i++) {
            gh_slab_stats(&shm, (int) i, &st);
            (void) snprintf(line, sizeof(line), "gatehouse_slab_allocs_total"
                            "{class=\"%u\",size=\"%zu\"} %" PRIu64, i,
                            st.size, st.allocs);
            if (!has_line(out, line))
                break;
        }
        if (!ok(i == n, "allocs of every class agree with gh_slab_stats"))
            diag("missing: %s", line);
        for (const char *f = "gatehouse_slab_used{\0gatehouse_slab_free{\0"
                             "gatehouse_slab_frees_total{\0"
                             "gatehouse_slab_fails_total{\0"; *f;
             f += strlen(f) + 1)
            is_int(count_lines(out, f), n + 1, "%s lines", f);
        free(out);
    }
    subtest("json") {
        out = render(c, &shm, 1, NOW, &len);
        ok(json_check(out, len), "parses as JSON");
        ok(strncmp(out, "{\"sites\":[{\"name\":\"x\",\"listen\":"
                   "\"127.0.0.1:8080\",\"routes\":[{\"path\":\"/api/\","
                   "\"requests\":1,", 80) == 0, "starts with site x");
        ok(strstr(out, "{\"path\":\"/\",\"requests\":7,\"responses\":"
                  "{\"1xx\":0,\"2xx\":5,\"3xx\":0,\"4xx\":1,\"5xx\":1}}")
           != NULL, "route / with its responses");
        ok(strstr(out, "/unbound/") == NULL, "unbound route left out");
        ok(strstr(out, "{\"name\":\"app\",\"queued\":2,\"servers\":["
                  "{\"address\":\"127.0.0.1:9001\",\"up\":true,"
                  "\"backup\":false,\"active\":3,\"requests\":10,"
                  "\"failures\":2,\"ewma_ms\":1234.567,\"latency\":{"
                  "\"bounds_ms\":[5,10,25,50,100,250,500,1000,2500,5000,"
                  "10000],\"buckets\":[2,1,0,1,0,0,0,0,1,0,0,1],"
                  "\"sum_ms\":22043,\"count\":6}}") != NULL,
           "server 9001 whole");
        ok(strstr(out, "{\"address\":\"127.0.0.1:9002\",\"up\":false,"
                  "\"backup\":true,") != NULL, "9002 down, backup");
        ok(strstr(out, "{\"address\":\"127.0.0.1:9003\",\"up\":false,")
           != NULL, "9003 passively down");
        ok(strstr(out, "\"ewma_ms\":2000,") != NULL, "db EWMA in ms");
        ok(strstr(out, "5433") == NULL, "unbound server left out");
        ok(strstr(out, "\"workers\":[{\"slot\":0,\"connections\":4,"
                  "\"requests\":100},{\"slot\":1,\"connections\":1,"
                  "\"requests\":50}],") != NULL, "workers");
        ok(strstr(out, "\"slab\":{\"pages_total\":") != NULL, "slab");
        ok(strstr(out, "],\"runs\":{\"pages\":") != NULL, "page runs");
        is_int(count_str(out, "{\"class\":"), gh_slab_nclasses(&shm),
               "every class");
        ok(len > 0 && out[len - 1] == '\n', "ends with a newline");
        free(out);
        out = render(c, &shm, 1, NOW + 1000, &len);
        ok(strstr(out, "{\"address\":\"127.0.0.1:9003\",\"up\":true,")
           != NULL, "9003 up once its mark ran out");
        free(out);
    }
    gh_shm_close(&shm);
    tc_done(&tc);
}

static void
test_hostile(void)
{
    struct tconf tc = { 0 };
    struct gh_conf *c = &tc.conf;
    struct gh_upstream *u;
    struct gh_site *site;
    struct gh_shm shm;
    char *out;
    size_t len;

    c->workers = 1;
    c->nupstreams = 1;
    c->upstreams = tc_alloc(&tc, 1, sizeof(*c->upstreams));
    u = tc_upstream(&tc, &c->upstreams[0], "up\"\\\n\x01", 1);
    tc_server(u, 0, "127.0.0.1:9001");
    c->nsites = 1;
    c->sites = tc_alloc(&tc, 1, sizeof(*c->sites));
    site = tc_site(&tc, &c->sites[0], "evil\"name\\with\nnewline",
                   "127.0.0.1:8080", 2);
    tc_route(site, 0, "/caf\xc3\xa9\x01\x7f", u);
    tc_route(site, 1, "/bad\xff\xc0\xaf\xed\xa0\x80\xf0\x9f\x98\x80", u);
    seg_open(&shm, 4 << 20, c);

    subtest("prometheus label escaping") {
        out = render(c, &shm, 0, NOW, &len);
        ok(prom_check(out, len) > 0, "still the exposition format");
        ok(utf8_ok(out), "still UTF-8");
        ok(has_line(out, "gatehouse_requests_total{site=\"evil\\\"name\\\\"
                    "with\\nnewline\",listen=\"127.0.0.1:8080\",route="
                    "\"/caf\xc3\xa9\x01\x7f\"} 0"),
           "quote, backslash and newline escaped; the rest as is");
        ok(has_line(out, "gatehouse_upstream_up{upstream=\"up\\\"\\\\\\n"
                    "\x01\",server=\"127.0.0.1:9001\"} 1"),
           "upstream name escaped");
        ok(strstr(out, "route=\"/bad\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xf0\x9f\x98\x80\"")
           != NULL, "ill-formed UTF-8 byte by byte as U+FFFD, 4-byte kept");
        free(out);
    }
    subtest("JSON string escaping") {
        out = render(c, &shm, 1, NOW, &len);
        ok(json_check(out, len), "still JSON");
        ok(utf8_ok(out), "still UTF-8");
        ok(strstr(out, "\"name\":\"evil\\\"name\\\\with\\u000anewline\"")
           != NULL, "site name");
        ok(strstr(out, "\"path\":\"/caf\xc3\xa9\\u0001\x7f\"") != NULL,
           "control character as \\u00XX");
        ok(strstr(out, "\"name\":\"up\\\"\\\\\\u000a\\u0001\"") != NULL,
           "upstream name");
        free(out);
    }
    gh_shm_close(&shm);
    tc_done(&tc);
}

static void
test_big(void)
{
    enum { NUP = 300, NSRV = 10, NSITE = 100, NROUTE = 5 };
    static const char *const paths[NROUTE] = {
        "/a/", "/b/", "/c/", "/d/", "/"
    };
    struct tconf tc = { 0 };
    struct gh_conf *c = &tc.conf;
    struct gh_shm shm;
    char *out, addr[48], *names;
    size_t len;
    long n;

    c->workers = 64;
    c->nupstreams = NUP;
    c->upstreams = tc_alloc(&tc, NUP, sizeof(*c->upstreams));
    names = tc_alloc(&tc, NUP + NSITE, 32);
    for (uint32_t i = 0; i < NUP; i++) {
        char *name = names + 32 * i;

        (void) snprintf(name, 32, "upstream-%03u", i);
        tc_upstream(&tc, &c->upstreams[i], name, NSRV);
        for (uint32_t j = 0; j < NSRV; j++) {
            (void) snprintf(addr, sizeof(addr), "127.%u.%u.%u:%u", i / 256,
                            i % 256, j, 8000 + j);
            tc_server(&c->upstreams[i], j, addr);
        }
    }
    c->nsites = NSITE;
    c->sites = tc_alloc(&tc, NSITE, sizeof(*c->sites));
    for (uint32_t i = 0; i < NSITE; i++) {
        char *name = names + 32 * (NUP + i);

        (void) snprintf(name, 32, "site-%03u.example.com", i);
        (void) snprintf(addr, sizeof(addr), "127.0.0.1:%u", 10000 + i);
        tc_site(&tc, &c->sites[i], name, addr, NROUTE);
        for (uint32_t j = 0; j < NROUTE; j++)
            tc_route(&c->sites[i], j, paths[j], &c->upstreams[i]);
    }
    seg_open(&shm, 32 << 20, c);
    gh_state_server(&shm, &c->upstreams[NUP - 1].servers[NSRV - 1])
        ->requests = 424242;
    gh_state_route(&shm, &c->sites[NSITE - 1].routes[NROUTE - 1])
        ->requests = 31337;

    subtest("big config, prometheus") {
        out = render(c, &shm, 0, NOW, &len);
        ok(len > 1000000, "more than 1 MB (%zu bytes)", len);
        is_int(strlen(out), len, "length agrees, NUL-terminated");
        n = prom_check(out, len);
        ok(n > 0, "valid exposition format (%ld samples)", n);
        is_int(count_lines(out, "gatehouse_upstream_requests_total{"),
               NUP * NSRV, "every server");
        is_int(count_lines(out, "gatehouse_upstream_response_seconds_bucket"
                           "{"), NUP * NSRV * GH_LAT_BUCKETS,
               "every bucket");
        is_int(count_lines(out, "gatehouse_requests_total{"), NSITE * NROUTE,
               "every route");
        is_int(count_lines(out, "gatehouse_worker_connections{"), 64,
               "every worker");
        ok(has_line(out, "gatehouse_upstream_requests_total{upstream="
                    "\"upstream-299\",server=\"127.1.43.9:8009\"} 424242"),
           "the last server");
        ok(has_line(out, "gatehouse_requests_total{site=\"site-099.example."
                    "com\",listen=\"127.0.0.1:10099\",route=\"/\"} 31337"),
           "the last route");
        ok(strstr(out, "\ngatehouse_slab_segment_free_pages ") != NULL,
           "and the slab after them");
        free(out);
    }
    subtest("big config, JSON") {
        out = render(c, &shm, 1, NOW, &len);
        is_int(strlen(out), len, "length agrees, NUL-terminated");
        ok(json_check(out, len), "parses as JSON");
        is_int(count_str(out, "{\"address\":"), NUP * NSRV, "every server");
        is_int(count_str(out, "{\"path\":"), NSITE * NROUTE, "every route");
        ok(strstr(out, "{\"address\":\"127.1.43.9:8009\",\"up\":true,"
                  "\"backup\":false,\"active\":0,\"requests\":424242,")
           != NULL, "the last server");
        free(out);
    }
    gh_shm_close(&shm);
    tc_done(&tc);
}

static void
test_empty(void)
{
    struct gh_conf conf = { 0 };
    struct gh_shm shm;
    char *out;
    size_t len;

    seg_open(&shm, 1 << 20, &conf);
    subtest("empty config") {
        out = render(&conf, &shm, 0, NOW, &len);
        ok(prom_check(out, len) > 0, "valid, only slab samples");
        ok(strstr(out, "# TYPE gatehouse_requests_total counter\n")
           != NULL, "families declared without samples");
        free(out);
        out = render(&conf, &shm, 1, NOW, &len);
        ok(json_check(out, len), "parses as JSON");
        ok(strncmp(out, "{\"sites\":[],\"upstreams\":[],\"workers\":[],"
                   "\"connections\":0,\"client_table\":{\"used\":0,"
                   "\"entries\":0,", 88) == 0, "empty arrays");
        ok(strstr(out, "},\"slab\":{") != NULL, "then the slab");
        ok(strstr(out, "},\"caches\":[]}\n") != NULL, "no cache zones");
        free(out);
    }
    gh_shm_close(&shm);
}

/* The cache zones: a bound zone with an entry, a hit, a miss and a
 * purge; an unbound one left out. */
static void
test_caches(void)
{
    struct gh_cache_zone zones[2] = {
        { .name = "main", .size = 1 << 20, .max_object = 64 << 10 },
        { .name = "unbound", .size = 1 << 20 },
    };
    struct gh_conf conf = { .caches = zones, .ncaches = 2 };
    struct gh_cache_ref ref;
    struct gh_cache_stats st;
    struct gh_shm shm;
    char err[256], *out, line[256];
    size_t len;
    gh_off root = 0;

    seg_open(&shm, 4 << 20, &conf);
    if (gh_cache_zone_create(&shm, 1 << 20, 64 << 10, &root, err,
                             sizeof(err)) != GH_OK) {
        diag("zone: %s", err);
        exit(1);
    }
    zones[0].root = root;
    if (gh_cache_begin_fill(&shm, root, "k1", 2, NULL, 0, getpid(), NOW,
                            &ref) != GH_OK
        || gh_cache_append(&ref, "hello", 5) != GH_OK
        || gh_cache_complete(&ref) != GH_OK) {
        diag("fill failed");
        exit(1);
    }
    gh_cache_release(&ref);
    if (gh_cache_lookup(&shm, root, "k1", 2, NULL, 0, NOW, &ref) == GH_OK)
        gh_cache_release(&ref);
    (void) gh_cache_lookup(&shm, root, "k2", 2, NULL, 0, NOW, &ref);
    if (gh_cache_begin_fill(&shm, root, "k3", 2, NULL, 0, getpid(), NOW,
                            &ref) == GH_OK) {
        gh_cache_append(&ref, "x", 1);
        gh_cache_complete(&ref);
        gh_cache_release(&ref);
    }
    (void) gh_cache_purge(&shm, root, "k3", 2);
    gh_cache_stats(&shm, root, &st);

    subtest("prometheus: cache zones") {
        out = render(&conf, &shm, 0, NOW, &len);
        ok(prom_check(out, len) > 0, "valid exposition format");
        ok(has_line(out, "# TYPE gatehouse_cache_entries gauge"), "entries "
           "TYPE");
        ok(has_line(out, "# TYPE gatehouse_cache_bytes gauge"), "bytes TYPE");
        ok(has_line(out, "# TYPE gatehouse_cache_limit_bytes gauge"),
           "limit TYPE");
        ok(has_line(out, "# TYPE gatehouse_cache_events_total counter"),
           "events TYPE");
        ok(strstr(out, "# HELP gatehouse_cache_events_total ") != NULL,
           "events HELP");
        ok(has_line(out, "gatehouse_cache_entries{zone=\"main\"} 1"),
           "one entry (the other purged)");
        (void) snprintf(line, sizeof(line), "gatehouse_cache_bytes{zone="
                        "\"main\"} %" PRIu64, st.bytes);
        ok(st.bytes > 5 && has_line(out, line), "%s", line);
        ok(has_line(out, "gatehouse_cache_limit_bytes{zone=\"main\"} "
                    "1048576"), "limit");
        ok(has_line(out, "gatehouse_cache_events_total{zone=\"main\","
                    "event=\"hit\"} 1"), "a hit");
        (void) snprintf(line, sizeof(line), "gatehouse_cache_events_total{"
                        "zone=\"main\",event=\"miss\"} %" PRIu64,
                        st.misses);
        ok(st.misses >= 1 && has_line(out, line), "%s", line);
        ok(has_line(out, "gatehouse_cache_events_total{zone=\"main\","
                    "event=\"fill\"} 2"), "two fills");
        ok(has_line(out, "gatehouse_cache_events_total{zone=\"main\","
                    "event=\"purge\"} 1"), "a purge");
        for (const char *e = "abort\0eviction\0corrupt\0repair\0"; *e;
             e += strlen(e) + 1) {
            (void) snprintf(line, sizeof(line), "gatehouse_cache_events_"
                            "total{zone=\"main\",event=\"%s\"} 0", e);
            ok(has_line(out, line), "%s", line);
        }
        is_int(count_lines(out, "gatehouse_cache_events_total{"), 8,
               "eight events");
        ok(strstr(out, "unbound") == NULL, "an unbound zone left out");
        free(out);
    }
    subtest("json: cache zones") {
        out = render(&conf, &shm, 1, NOW, &len);
        ok(json_check(out, len), "parses as JSON");
        (void) snprintf(line, sizeof(line), ",\"caches\":[{\"zone\":"
                        "\"main\",\"entries\":1,\"bytes\":%" PRIu64
                        ",\"limit_bytes\":1048576,\"events\":{\"hit\":1,"
                        "\"miss\":%" PRIu64 ",\"fill\":2,\"abort\":0,"
                        "\"eviction\":0,\"purge\":1,\"corrupt\":0,"
                        "\"repair\":0}}]}\n", st.bytes, st.misses);
        ok(len > strlen(line)
           && strcmp(out + len - strlen(line), line) == 0,
           "the zone, last");
        ok(strstr(out, "unbound") == NULL, "an unbound zone left out");
        free(out);
    }
    gh_shm_close(&shm);
}

static char tmpdir[64];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static int
json_ok(const char *text)
{
    return json_check(text, strlen(text));
}

/* The checkers above catch what they are there for. */
static void
test_checkers(void)
{
    static const char head[] = "# HELP m h\n# TYPE m counter\n";
    static const struct {
        const char *what;
        const char *text;
    } bad[] = {
        { "raw quote in a label", "m{a=\"x\"y\"} 1\n" },
        { "unknown escape", "m{a=\"x\\ty\"} 1\n" },
        { "raw newline in a label", "m{a=\"x\ny\"} 1\n" },
        { "no value", "m{a=\"x\"}\n" },
        { "value not a number", "m{a=\"x\"} 1x\n" },
        { "no closing brace", "m{a=\"x\" 1\n" },
        { "series twice", "m{a=\"x\"} 1\nm{a=\"x\"} 2\n" },
        { "sample of another family", "n 1\n" },
        { "histogram suffix on a counter", "m_sum 1\n" },
        { "no final newline", "m 1" },
        { "family declared twice", "m 1\n# HELP m h\n# TYPE m counter\n" },
    };
    char text[256];

    subtest("the format checker rejects") {
        (void) snprintf(text, sizeof(text), "%sm{a=\"x\\\"\\\\\\n\"} 1\n"
                        "m 2.5e3\n", head);
        is_int(prom_check(text, strlen(text)), 2, "good input passes");
        for (size_t i = 0; i < GH_NELEM(bad); i++) {
            (void) snprintf(text, sizeof(text), "%s%s", head, bad[i].text);
            ok(prom_check(text, strlen(text)) == -1, "%s", bad[i].what);
        }
        (void) snprintf(text, sizeof(text), "m 1\n");
        ok(prom_check(text, strlen(text)) == -1, "sample without TYPE");
    }
    subtest("the JSON checker rejects") {
        ok(json_ok("{\"a\":[1,-2.5e3,true,null,\"\\u00e9\"]}"),
           "good input passes");
        ok(!json_ok("{\"a\":\"x\ny\"}"), "raw control character");
        ok(!json_ok("{\"a\":1,}"), "trailing comma");
        ok(!json_ok("{\"a\":01}"), "leading zero");
        ok(!json_ok("{\"a\":\"\\x\"}"), "unknown escape");
        ok(!json_ok("{\"a\":1}}"), "text after the object");
        ok(!utf8_ok("a\xff" "b"), "the UTF-8 check sees a bad byte");
    }
}

/* A config as the daemon loads it: the names conf resolves reach the
 * labels. */
static void
test_loaded(void)
{
    static const char text[] =
        "upstreams = { app = { servers = ( { address = \"127.0.0.1:9001\"; "
        "} ); }; };\n"
        "sites = ( { listen = \"127.0.0.1:8080\"; hosts = [ \"example.com\" "
        "];\n"
        "  routes = ( { path = \"/\"; upstream = \"app\"; } ); } );\n";
    struct gh_conf *c;
    struct gh_shm shm;
    char path[128], err[512], *out;
    size_t len;
    FILE *f;

    (void) snprintf(tmpdir, sizeof(tmpdir), "/tmp/gh-metrics-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        diag("mkdtemp failed");
        exit(1);
    }
    (void) snprintf(path, sizeof(path), "%s/t.conf", tmpdir);
    f = fopen(path, "w");
    if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
        diag("cannot write %s", path);
        exit(1);
    }
    c = gh_conf_load(path, err, sizeof(err));
    subtest("a loaded config") {
        if (!ok(c != NULL, "loads"))
            diag("%s", err);
        if (c != NULL) {
            seg_open(&shm, 4 << 20, c);
            gh_state_route(&shm, &c->sites[0].routes[0])->requests = 3;
            out = render(c, &shm, 0, NOW, &len);
            ok(prom_check(out, len) > 0, "valid exposition format");
            ok(has_line(out, "gatehouse_requests_total{site=\"example.com\","
                        "listen=\"127.0.0.1:8080\",route=\"/\"} 3"),
               "site by its host");
            ok(has_line(out, "gatehouse_upstream_up{upstream=\"app\","
                        "server=\"127.0.0.1:9001\"} 1"), "server up");
            free(out);
            gh_shm_close(&shm);
        }
    }
    gh_conf_free(c);
    (void) nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
    test_small();
    test_hostile();
    test_big();
    test_empty();
    test_caches();
    test_checkers();
    test_loaded();
    return done_testing();
}
