/*
 * The checker: the strict status-line parser, the request it sends, and
 * whole checks on the checker's own loop against a listener in this
 * process (refused, timed out, a bad status, an invalid or cut response,
 * a good one, tcp), with rise and fall on a server record in a fake
 * segment.
 */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "master/checker.c"
#include "tests/unit/tap.h"

static int
parse(const char *s, uint32_t *status)
{
    struct check_sl sl = { 0 };
    int rc = check_parse(&sl, s, strlen(s));

    *status = sl.status;
    return rc;
}

/* The same bytes fed one at a time. */
static int
parse_bytewise(const char *s, uint32_t *status)
{
    struct check_sl sl = { 0 };
    int rc = GH_AGAIN;

    for (size_t i = 0; s[i] && rc == GH_AGAIN; i++)
        rc = check_parse(&sl, s + i, 1);
    *status = sl.status;
    return rc;
}

static void
test_parse(void)
{
    static const struct {
        const char *in;
        int         rc;
        uint32_t    status;
    } cases[] = {
        { "HTTP/1.1 200 OK\r\n", GH_OK, 200 },
        { "HTTP/1.0 503 Service Unavailable\r\nX: y\r\n\r\n", GH_OK, 503 },
        { "HTTP/1.1 204 \r\n", GH_OK, 204 },
        { "HTTP/1.1 299 t\tab \x80obs\r\n", GH_OK, 299 },
        { "HTTP/1.1 200 OK", GH_AGAIN, 200 },
        { "HTTP/1.1 200 OK\r", GH_AGAIN, 200 },
        { "HTTP/1.", GH_AGAIN, 0 },
        { "HTTP/1.1 200\r\n", GH_ERR, 0 },       /* no SP after the code */
        { "HTTP/1.1 200 OK\n", GH_ERR, 0 },      /* bare LF */
        { "HTTP/1.1 200 OK\r\r\n", GH_ERR, 0 },
        { "HTTP/1.1 200 O\x01K\r\n", GH_ERR, 0 },
        { "HTTP/2 200 OK\r\n", GH_ERR, 0 },
        { "HTTP/1.x 200 OK\r\n", GH_ERR, 0 },
        { "http/1.1 200 OK\r\n", GH_ERR, 0 },
        { "HTTP/1.1  200 OK\r\n", GH_ERR, 0 },
        { "HTTP/1.1 2x0 Broken\r\n", GH_ERR, 0 },
        { "HTTP/1.1 20 OK\r\n", GH_ERR, 0 },
        { "HTTP/1.1 2000 OK\r\n", GH_ERR, 0 },
        { "HTTP/1.1 099 Low\r\n", GH_ERR, 0 },
        { "HTTP/1.1 600 High\r\n", GH_ERR, 0 },
        { "\x16\x03\x01 a TLS record", GH_ERR, 0 },
        { " HTTP/1.1 200 OK\r\n", GH_ERR, 0 },
        { "SSH-2.0-OpenSSH_9.2\r\n", GH_ERR, 0 },
    };

    for (size_t i = 0; i < GH_NELEM(cases); i++) {
        uint32_t st;
        int rc = parse(cases[i].in, &st);

        is_int(rc, cases[i].rc, "parse case %zu", i);
        if (cases[i].rc == GH_OK)
            is_int(st, cases[i].status, "case %zu: status", i);
        rc = parse_bytewise(cases[i].in, &st);
        is_int(rc, cases[i].rc, "parse case %zu, byte by byte", i);
    }
    {
        /* NUL inside the reason phrase (strlen would stop there). */
        struct check_sl sl = { 0 };
        static const char in[] = "HTTP/1.1 200 O\0K\r\n";

        is_int(check_parse(&sl, in, sizeof(in) - 1), GH_ERR,
               "NUL in the reason phrase");
    }
}

static void
test_request(void)
{
    struct gh_server s = { 0 };
    struct gh_upstream u = { .name = "app" };
    size_t len = 0;
    char *r;

    snprintf(s.addr.text, sizeof(s.addr.text), "127.0.0.1:9001");
    u.health.type = GH_HEALTH_HTTP;
    u.health.path = "/health?x=1";
    r = check_request(&u, &s, &len);
    is_str(r, "GET /health?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"
           "Connection: close\r\nUser-Agent: gatehouse-health\r\n\r\n",
           "request: Host is the server address by default");
    is_int(len, strlen(r), "request length");
    free(r);
    u.health.host = "app.internal";
    r = check_request(&u, &s, &len);
    ok(strstr(r, "\r\nHost: app.internal\r\n") != NULL,
       "request: health.host is the Host");
    free(r);
}

/* ---- whole checks --------------------------------------------------------- */

static union {
    struct gh_shm_hdr hdr;
    char              bytes[8192];
} seg;
static struct gh_shm shm = { .fd = -1, .size = sizeof(seg), .hdr = &seg.hdr };
static struct gh_conf conf;
static struct gh_upstream ups;
static struct gh_server srv;
static struct checker ck;
static int lfd = -1;

static struct gh_shm_server *
st(void)
{
    return gh_shm_ptr(&shm, srv.shm);
}

/* A listener on 127.0.0.1 (BACKLOG 1); the server points at it. */
static void
listener(void)
{
    struct sockaddr_in *sin = (struct sockaddr_in *) &srv.addr.sa;
    socklen_t len = sizeof(*sin);

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd == -1 || bind(lfd, (struct sockaddr *) sin, sizeof(*sin)) == -1
        || listen(lfd, 1) == -1
        || getsockname(lfd, (struct sockaddr *) sin, &len) == -1)
        abort();
    srv.addr.salen = len;
    snprintf(srv.addr.text, sizeof(srv.addr.text), "127.0.0.1:%u",
             ntohs(sin->sin_port));
}

static void
setup(enum gh_health_type type, uint32_t rise, uint32_t fall)
{
    memset(&seg, 0, sizeof(seg));
    memset(&ck, 0, sizeof(ck));
    ups = (struct gh_upstream) { .name = "app", .servers = &srv,
                                 .nservers = 1 };
    ups.health = (struct gh_health) { .type = type, .path = "/health",
                                      .interval = 60000, .timeout = 300,
                                      .rise = rise, .fall = fall,
                                      .status_lo = 200, .status_hi = 399 };
    srv.shm = 1024;     /* a gh_shm_server in the fake segment */
    conf = (struct gh_conf) { .upstreams = &ups, .nupstreams = 1,
                              .error_log = "stderr" };
    ck.conf = &conf;
    ck.shm = &shm;
    if (gh_loop_init(&ck.loop) != GH_OK || checker_init(&ck) != GH_OK)
        abort();
}

/* Run the loop until the check is back to IDLE (a verdict) or 2 s pass. */
static int
run_check(void)
{
    struct check *c = &ck.checks[0];
    gh_msec end = gh_loop_clock() + 2000;

    /* Start it now rather than at its spread-out first time. */
    gh_timer_del(&ck.loop, &c->timer);
    gh_timer_set(&ck.loop, &c->timer, 0);
    (void) gh_loop_once(&ck.loop, 0);
    while (c->state != CHECK_IDLE && gh_loop_clock() < end)
        (void) gh_loop_once(&ck.loop, 50);
    return c->state == CHECK_IDLE;
}

/* Run until the check waits for the response, then answer it with RESP
 * (NULL: close without a word) from the accepted connection. */
static int
run_answer(const char *resp)
{
    struct check *c = &ck.checks[0];
    gh_msec end = gh_loop_clock() + 2000;
    char buf[1024];
    ssize_t n;
    int fd;

    gh_timer_del(&ck.loop, &c->timer);
    gh_timer_set(&ck.loop, &c->timer, 0);
    while (c->state != CHECK_READ && gh_loop_clock() < end)
        (void) gh_loop_once(&ck.loop, 10);
    if (c->state != CHECK_READ)
        return 0;
    fd = accept(lfd, NULL, NULL);
    if (fd == -1)
        return 0;
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    ok(strncmp(buf, "GET /health HTTP/1.1\r\n", 22) == 0,
       "the server got the request");
    if (resp != NULL && send(fd, resp, strlen(resp), MSG_NOSIGNAL) == -1)
        diag("send: %s", strerror(errno));
    (void) close(fd);
    while (c->state != CHECK_IDLE && gh_loop_clock() < end)
        (void) gh_loop_once(&ck.loop, 50);
    return c->state == CHECK_IDLE;
}

static void
test_checks(void)
{
    struct check *c;

    listener();

    subtest("http: good, bad status, invalid, closed, timed out") {
        setup(GH_HEALTH_HTTP, 2, 3);
        c = &ck.checks[0];
        ok(run_answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
           "a 200 check finishes");
        is_int(st()->checked, 1, "checked");
        is_int(st()->health, GH_SRV_UP, "up");
        is_int(st()->fall_n, 0, "no failure counted");
        ok(run_answer("HTTP/1.1 500 Oops\r\n\r\n"), "a 500 check finishes");
        is_str(c->reason, "status 500", "reason: status 500");
        is_int(st()->fall_n, 1, "one failure");
        ok(run_answer("\x16\x03\x01garbage\r\n\r\n"), "garbage finishes");
        is_str(c->reason, "invalid response", "reason: invalid response");
        is_int(st()->fall_n, 2, "two failures");
        is_int(st()->health, GH_SRV_UP, "still up (fall = 3)");
        ok(run_answer(NULL), "a silent close finishes");
        is_str(c->reason, "connection closed", "reason: connection closed");
        is_int(st()->health, GH_SRV_DOWN, "down after fall = 3");
        ok(run_answer("HTTP/1.1 302 Found\r\n\r\n"), "302 finishes");
        is_int(st()->rise_n, 1, "one success while down");
        is_int(st()->health, GH_SRV_DOWN, "still down (rise = 2)");
        ok(run_answer("HTTP/1.1 399 X\r\n\r\n"), "399 finishes");
        is_int(st()->health, GH_SRV_UP, "up after rise = 2");
        /* Nobody accepts: the connect succeeds (backlog), no answer. */
        {
            gh_msec t0 = gh_loop_clock();

            ok(run_check(), "an unanswered check finishes");
            is_str(c->reason, "timed out", "reason: timed out");
            ok(gh_loop_clock() - t0 >= 290, "after the timeout (300 ms)");
        }
        {
            int fd = accept(lfd, NULL, NULL);

            if (fd != -1)
                (void) close(fd);
        }
        ok(c->ev.fd == -1, "no socket left open between checks");
        ok(gh_timer_armed(&c->timer), "the next check is scheduled");
        ok(c->timer.when >= c->started + 60000 - 1
           && c->timer.when <= c->started + 60000,
           "one interval after the last one started");
        checker_destroy(&ck);
    }

    subtest("tcp: connect is enough") {
        setup(GH_HEALTH_TCP, 1, 1);
        c = &ck.checks[0];
        ok(c->req == NULL, "tcp: no request");
        ok(run_check(), "a tcp check finishes");
        is_int(st()->health, GH_SRV_UP, "tcp: up");
        is_int(st()->checked, 1, "tcp: checked");
        {
            int fd = accept(lfd, NULL, NULL);

            if (fd != -1)
                (void) close(fd);
        }
        (void) close(lfd);
        lfd = -1;
        ok(run_check(), "a refused tcp check finishes");
        is_str(c->reason, "connect() failed (111: Connection refused)",
               "reason: connect() failed (111: Connection refused)");
        is_int(st()->health, GH_SRV_DOWN, "tcp: down (fall = 1)");
        checker_destroy(&ck);
    }

    subtest("first checks are spread over the interval") {
        struct gh_server many[4];

        memset(&seg, 0, sizeof(seg));
        memset(&ck, 0, sizeof(ck));
        for (int i = 0; i < 4; i++)
            many[i] = srv;
        ups.servers = many;
        ups.nservers = 4;
        ups.health.interval = 1000;
        ck.conf = &conf;
        ck.shm = &shm;
        if (gh_loop_init(&ck.loop) != GH_OK || checker_init(&ck) != GH_OK)
            abort();
        is_int(ck.nchecks, 4, "four checks");
        for (int i = 0; i < 4; i++)
            is_int(ck.checks[i].timer.when - ck.loop.now, 250 * i,
                   "check %d starts at %d ms", i, 250 * i);
        checker_destroy(&ck);
        ups.servers = &srv;
        ups.nservers = 1;
    }
}

int
main(void)
{
    gh_log_max = GH_LOG_EMERG;  /* the checks' info lines are expected */
    subtest("status line") {
        test_parse();
    }
    subtest("request") {
        test_request();
    }
    test_checks();
    return done_testing();
}
