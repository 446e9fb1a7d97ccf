/*
 * gh_static_open, gh_static_mime, gh_http_date(_parse) against a temporary
 * tree: statuses, exact header lines, conditionals and ranges.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/tap.h"
#include "worker/core/gh.h"
#include "worker/static.h"

#define MTIME     784111777     /* Sun, 06 Nov 1994 08:49:37 GMT */
#define MTIME_STR "Sun, 06 Nov 1994 08:49:37 GMT"
#define HELLO     "hello, world\n"
#define HELLO_TAG "\"2ebc98a1-d\""      /* mtime hex - size hex */
#define DATA_TAG  "\"2ebc98a1-64\""

static char tmp[] = "/tmp/gh-static-XXXXXX";
static struct gh_static_resp rs;

static void
mkfile(const char *name, const char *body, size_t len)
{
    char p[PATH_MAX];
    struct timeval tv[2] = { { MTIME, 0 }, { MTIME, 0 } };
    int fd;

    (void) snprintf(p, sizeof(p), "%s/%s", tmp, name);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd == -1 || write(fd, body, len) != (ssize_t) len
        || close(fd) == -1 || utimes(p, tv) == -1) {
        printf("Bail out! cannot create %s: %s\n", p, strerror(errno));
        exit(255);
    }
}

static void
mkentry(const char *name, int kind)
{
    char p[PATH_MAX];
    struct sockaddr_un sa;
    int rc, fd;

    (void) snprintf(p, sizeof(p), "%s/%s", tmp, name);
    switch (kind) {
    case 'd':
        rc = mkdir(p, 0755);
        break;
    case 'p':
        rc = mkfifo(p, 0644);
        break;
    case 'l':
        rc = symlink(name, p);          /* points at itself: ELOOP */
        break;
    default:
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        fd = -1;
        rc = -1;
        if (strlen(p) < sizeof(sa.sun_path)) {
            memcpy(sa.sun_path, p, strlen(p) + 1);
            fd = socket(AF_UNIX, SOCK_STREAM, 0);
            rc = fd == -1 ? -1
                 : bind(fd, (struct sockaddr *) &sa, sizeof(sa));
        }
        if (fd != -1)
            (void) close(fd);   /* the socket file stays behind */
        break;
    }
    if (rc == -1) {
        printf("Bail out! cannot create %s: %s\n", p, strerror(errno));
        exit(255);
    }
}

static struct gh_static_req
req(const char *path)
{
    struct gh_static_req rq = {
        .root = tmp, .index = "index.html", .path = path, .get = 1
    };

    return rq;
}

/* Run RQ; fills rs and returns the return code. */
static int
run(const struct gh_static_req *rq)
{
    memset(&rs, 0xa5, sizeof(rs));      /* catch fields left unset */
    return gh_static_open(rq, &rs);
}

static int
has(const char *line)
{
    return strstr(rs.headers, line) != NULL;
}

static void
done(void)
{
    if (rs.fd != -1)
        (void) close(rs.fd);
    rs.fd = -1;
}

/* Read what the response would send and compare with WANT. */
static int
body_is(const char *want)
{
    char buf[256];
    ssize_t n;

    if (rs.fd < 0 || rs.length < 0 || (size_t) rs.length >= sizeof(buf))
        return 0;
    n = pread(rs.fd, buf, (size_t) rs.length, rs.offset);
    return n == (ssize_t) strlen(want) && memcmp(buf, want, (size_t) n) == 0;
}

/* Status 200/206 for GET of /data.bin with RANGE (and IF_RANGE). */
static void
range_is(const char *range, const char *if_range, int status,
         long long first, long long len, const char *content_range)
{
    struct gh_static_req rq = req("/data.bin");

    rq.range = range;
    rq.if_range = if_range;
    (void) run(&rq);
    is_int(rs.status, status, "Range: %s%s%s -> %d", range,
           if_range ? ", If-Range: " : "", if_range ? if_range : "", status);
    if (status == 206) {
        ok(rs.offset == first && rs.length == len
           && rs.content_length == len && rs.fd >= 0,
           "  offset %lld, length %lld", first, len);
    } else if (status == 200) {
        ok(rs.offset == 0 && rs.length == 100 && rs.content_length == 100
           && rs.fd >= 0, "  the whole file");
    } else {
        ok(rs.fd == -1 && rs.length == 0 && rs.content_length == 0,
           "  no body, no fd");
    }
    if (content_range)
        ok(has(content_range), "  %.*s", (int) strlen(content_range) - 2,
           content_range);
    else
        ok(!has("Content-Range"), "  no Content-Range");
    done();
}

static void
cleanup(void)
{
    static const char *const names[] = {
        "hello.txt", "data.bin", "empty.txt", "dir/index.html", "dir",
        "noindex", "fifo", "loop", "sock", "sp ace?%/index.html",
        "sp ace?%", "UPPER.CSS", "json.json", "idxdir/index.html",
        "idxdir",
    };
    char p[PATH_MAX];

    for (size_t i = 0; i < GH_NELEM(names); i++) {
        (void) snprintf(p, sizeof(p), "%s/%s", tmp, names[i]);
        if (unlink(p) == -1 && rmdir(p) == -1)
            diag("cleanup: %s: %s", p, strerror(errno));
    }
    if (rmdir(tmp) == -1)
        diag("cleanup: %s: %s", tmp, strerror(errno));
}

int
main(void)
{
    char data[101];
    int fd_probe;

    if (mkdtemp(tmp) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 255;
    }
    for (int i = 0; i < 100; i++)
        data[i] = (char) ('0' + i % 10);
    data[100] = '\0';
    mkfile("hello.txt", HELLO, strlen(HELLO));
    mkfile("data.bin", data, 100);
    mkfile("empty.txt", "", 0);
    mkfile("UPPER.CSS", "a{}", 3);
    mkfile("json.json", "{}", 2);
    mkentry("dir", 'd');
    mkfile("dir/index.html", "<h1>hi</h1>\n", 12);
    mkentry("noindex", 'd');
    mkentry("idxdir", 'd');
    mkentry("idxdir/index.html", 'd');
    mkentry("sp ace?%", 'd');
    mkfile("sp ace?%/index.html", "x", 1);
    mkentry("fifo", 'p');
    mkentry("loop", 'l');
    mkentry("sock", 's');

    fd_probe = dup(0);
    (void) close(fd_probe);

    subtest("200 for a file") {
        struct gh_static_req rq = req("/hello.txt");

        is_int(run(&rq), GH_OK, "returns GH_OK");
        is_int(rs.status, 200, "status 200");
        is_str(rs.headers,
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Last-Modified: " MTIME_STR "\r\n"
               "ETag: " HELLO_TAG "\r\n"
               "Accept-Ranges: bytes\r\n", "exact header lines");
        is_int(rs.headers_len, strlen(rs.headers), "headers_len");
        ok(rs.offset == 0 && rs.length == 13 && rs.content_length == 13,
           "offset 0, length 13, Content-Length 13");
        ok(rs.fd >= 0 && (fcntl(rs.fd, F_GETFD) & FD_CLOEXEC),
           "fd open with FD_CLOEXEC");
        ok(body_is(HELLO), "fd reads the file");
        done();

        rq = req("/json.json");
        (void) run(&rq);
        ok(has("Content-Type: application/json\r\n"),
           "application/json gets no charset");
        done();
        rq = req("/UPPER.CSS");
        (void) run(&rq);
        ok(has("Content-Type: text/css; charset=utf-8\r\n"),
           "extension matched case-insensitively");
        done();
        rq = req("/data.bin");
        (void) run(&rq);
        ok(has("Content-Type: application/octet-stream\r\n"),
           "unknown extension: application/octet-stream");
        ok(has("ETag: " DATA_TAG "\r\n"), "ETag size in hex");
        done();
    }

    subtest("HEAD") {
        struct gh_static_req rq = req("/hello.txt");

        rq.get = 0;
        rq.head = 1;
        is_int(run(&rq), GH_OK, "returns GH_OK");
        is_int(rs.status, 200, "status 200");
        ok(rs.length == 0 && rs.content_length == 13,
           "length 0, Content-Length 13");
        is_int(rs.fd, -1, "no fd: nothing to send");
        ok(has("ETag: " HELLO_TAG "\r\n") && has("Content-Type: text/plain"),
           "same headers as GET");
        rq.range = "bytes=0-1";
        (void) run(&rq);
        ok(rs.status == 200 && !has("Content-Range"),
           "Range ignored for HEAD (RFC 9110 14.2)");
        done();
    }

    subtest("directories and index") {
        struct gh_static_req rq = req("/dir/");

        is_int(run(&rq), GH_OK, "returns GH_OK");
        is_int(rs.status, 200, "/dir/ serves its index");
        ok(has("Content-Type: text/html; charset=utf-8\r\n"),
           "type from the index file name");
        ok(body_is("<h1>hi</h1>\n"), "index body");
        done();

        rq = req("/dir");
        is_int(run(&rq), GH_OK, "returns GH_OK");
        is_int(rs.status, 301, "/dir redirects");
        is_str(rs.headers, "Location: /dir/\r\n", "Location: /dir/");
        ok(rs.fd == -1 && rs.length == 0 && rs.content_length == 0,
           "no body, no fd");

        rq = req("/sp ace?%");
        (void) run(&rq);
        is_int(rs.status, 301, "odd directory name redirects");
        is_str(rs.headers, "Location: /sp%20ace%3F%25/\r\n",
               "decoded bytes encoded again in Location");

        rq = req("/noindex/");
        (void) run(&rq);
        is_int(rs.status, 403, "directory without index: 403");
        is_int(rs.fd, -1, "  no fd");
        rq = req("/idxdir/");
        (void) run(&rq);
        is_int(rs.status, 403, "index that is a directory: 403");
        rq = req("/");
        rq.index = "nothing.html";
        (void) run(&rq);
        is_int(rs.status, 403, "root without index: 403");
    }

    subtest("errors") {
        struct gh_static_req rq = req("/missing");
        char *longp;

        is_int(run(&rq), GH_OK, "404 returns GH_OK");
        is_int(rs.status, 404, "missing file: 404");
        ok(rs.fd == -1 && rs.length == 0 && rs.content_length == 0
           && rs.headers_len == 0, "  no fd, no body, no headers");
        rq = req("/missing/");
        (void) run(&rq);
        is_int(rs.status, 404, "missing directory: 404");
        rq = req("/missing/deeper");
        (void) run(&rq);
        is_int(rs.status, 404, "below a missing directory: 404");
        rq = req("/hello.txt/");
        (void) run(&rq);
        is_int(rs.status, 404, "file with a trailing '/': 404 (ENOTDIR)");
        rq = req("/hello.txt/x");
        (void) run(&rq);
        is_int(rs.status, 404, "file used as a directory: 404");

        rq = req("/fifo");
        is_int(run(&rq), GH_OK, "FIFO: open did not block");
        is_int(rs.status, 403, "FIFO: 403");
        is_int(rs.fd, -1, "  no fd");
        rq = req("/sock");
        (void) run(&rq);
        is_int(rs.status, 403, "socket: 403");
        rq = req("/loop");
        (void) run(&rq);
        is_int(rs.status, 403, "symlink loop: 403");

        longp = malloc(PATH_MAX + 100);
        if (longp != NULL) {
            longp[0] = '/';
            memset(longp + 1, 'a', PATH_MAX + 98);
            longp[PATH_MAX + 99] = '\0';
            rq = req(longp);
            is_int(run(&rq), GH_OK, "too long: GH_OK");
            is_int(rs.status, 404, "too long for PATH_MAX: 404");
            memset(longp + 1, 'a', 300);
            longp[301] = '\0';
            rq = req(longp);
            (void) run(&rq);
            is_int(rs.status, 404, "name over NAME_MAX: 404");
            free(longp);
        }

        rq = req("/hello.txt");
        rq.get = 0;
        is_int(run(&rq), GH_OK, "405 returns GH_OK");
        is_int(rs.status, 405, "neither GET nor HEAD: 405");
        is_str(rs.headers, "Allow: GET, HEAD\r\n", "  Allow header");
        ok(rs.fd == -1 && rs.length == 0 && rs.content_length == 0,
           "  no fd, no body");
        rq = req("/missing");
        rq.get = 0;
        (void) run(&rq);
        is_int(rs.status, 405, "405 before looking at the file");
    }

    subtest("If-None-Match and If-Modified-Since") {
        struct gh_static_req rq = req("/hello.txt");

        rq.if_none_match = HELLO_TAG;
        is_int(run(&rq), GH_OK, "returns GH_OK");
        is_int(rs.status, 304, "If-None-Match: our ETag -> 304");
        is_str(rs.headers, "Last-Modified: " MTIME_STR "\r\n"
               "ETag: " HELLO_TAG "\r\n", "  validators kept, nothing else");
        ok(rs.fd == -1 && rs.length == 0 && rs.content_length == 0,
           "  fd closed, no body");

        rq.if_none_match = "W/" HELLO_TAG;
        (void) run(&rq);
        is_int(rs.status, 304, "weak comparison: W/ tag matches");
        rq.if_none_match = "\"a\", \"b\",W/" HELLO_TAG " , \"c\"";
        (void) run(&rq);
        is_int(rs.status, 304, "found in a list");
        rq.if_none_match = "*";
        (void) run(&rq);
        is_int(rs.status, 304, "* matches an existing file");
        rq.if_none_match = "\"2ebc98a1-e\"";
        (void) run(&rq);
        is_int(rs.status, 200, "other tag: 200");
        done();
        rq.if_none_match = "\"2ebc98a1-d";
        (void) run(&rq);
        is_int(rs.status, 200, "unterminated tag: 200");
        done();
        rq.if_none_match = "2ebc98a1-d";
        (void) run(&rq);
        is_int(rs.status, 200, "unquoted tag: 200");
        done();
        rq.if_none_match = "\"x\" junk, " HELLO_TAG;
        (void) run(&rq);
        is_int(rs.status, 200, "malformed list: 200");
        done();

        rq.if_none_match = "\"other\"";
        rq.if_modified_since = MTIME_STR;
        (void) run(&rq);
        is_int(rs.status, 200,
               "If-Modified-Since ignored when If-None-Match is present");
        done();

        rq.if_none_match = NULL;
        (void) run(&rq);
        is_int(rs.status, 304, "If-Modified-Since == mtime -> 304");
        is_str(rs.headers, "Last-Modified: " MTIME_STR "\r\n"
               "ETag: " HELLO_TAG "\r\n", "  validators kept");
        rq.if_modified_since = "Sun, 06 Nov 1994 08:49:38 GMT";
        (void) run(&rq);
        is_int(rs.status, 304, "If-Modified-Since later -> 304");
        rq.if_modified_since = "Sunday, 06-Nov-94 08:49:37 GMT";
        (void) run(&rq);
        is_int(rs.status, 304, "RFC 850 date accepted");
        rq.if_modified_since = "Sun Nov  6 08:49:37 1994";
        (void) run(&rq);
        is_int(rs.status, 304, "asctime date accepted");
        rq.if_modified_since = "Sun, 06 Nov 1994 08:49:36 GMT";
        (void) run(&rq);
        is_int(rs.status, 200, "If-Modified-Since earlier -> 200");
        done();
        rq.if_modified_since = "yesterday";
        (void) run(&rq);
        is_int(rs.status, 200, "unparsable date ignored -> 200");
        done();

        rq.if_modified_since = NULL;
        rq.if_none_match = HELLO_TAG;
        rq.range = "bytes=0-1";
        (void) run(&rq);
        is_int(rs.status, 304, "304 wins over Range (RFC 9110 13.2.2)");
        rq.get = 0;
        rq.head = 1;
        (void) run(&rq);
        is_int(rs.status, 304, "HEAD gets 304 too");
    }

    subtest("Range") {
        range_is("bytes=0-9", NULL, 206, 0, 10,
                 "Content-Range: bytes 0-9/100\r\n");
        range_is("bytes=90-", NULL, 206, 90, 10,
                 "Content-Range: bytes 90-99/100\r\n");
        range_is("bytes=-10", NULL, 206, 90, 10,
                 "Content-Range: bytes 90-99/100\r\n");
        range_is("bytes=-1000", NULL, 206, 0, 100,
                 "Content-Range: bytes 0-99/100\r\n");
        range_is("bytes=50-1000", NULL, 206, 50, 50,
                 "Content-Range: bytes 50-99/100\r\n");
        range_is("bytes=99-99", NULL, 206, 99, 1,
                 "Content-Range: bytes 99-99/100\r\n");
        range_is("BYTES=0-0", NULL, 206, 0, 1,
                 "Content-Range: bytes 0-0/100\r\n");
        range_is("bytes=0-9,", NULL, 206, 0, 10,
                 "Content-Range: bytes 0-9/100\r\n");
        range_is("bytes= 3-4 ", NULL, 206, 3, 2,
                 "Content-Range: bytes 3-4/100\r\n");
        range_is("bytes=-99999999999999999999999", NULL, 206, 0, 100,
                 "Content-Range: bytes 0-99/100\r\n");

        range_is("bytes=100-", NULL, 416, 0, 0,
                 "Content-Range: bytes */100\r\n");
        range_is("bytes=1000-2000", NULL, 416, 0, 0,
                 "Content-Range: bytes */100\r\n");
        range_is("bytes=-0", NULL, 416, 0, 0,
                 "Content-Range: bytes */100\r\n");
        range_is("bytes=99999999999999999999999-", NULL, 416, 0, 0,
                 "Content-Range: bytes */100\r\n");

        range_is("bytes=0-9,20-29", NULL, 200, 0, 0, NULL);
        range_is("bytes=100-,0-1", NULL, 200, 0, 0, NULL);
        range_is("bytes=9-0", NULL, 200, 0, 0, NULL);
        range_is("bytes=abc", NULL, 200, 0, 0, NULL);
        range_is("bytes=", NULL, 200, 0, 0, NULL);
        range_is("bytes=-", NULL, 200, 0, 0, NULL);
        range_is("bytes=--1", NULL, 200, 0, 0, NULL);
        range_is("bytes=1", NULL, 200, 0, 0, NULL);
        range_is("bytes=0-9x", NULL, 200, 0, 0, NULL);
        range_is("bytes=0-9;x", NULL, 200, 0, 0, NULL);
        range_is("items=0-9", NULL, 200, 0, 0, NULL);
        range_is("bytes 0-9", NULL, 200, 0, 0, NULL);

        {
            struct gh_static_req rq = req("/data.bin");

            rq.range = "bytes=10-14";
            (void) run(&rq);
            ok(body_is("01234"), "206 fd and offset read the range");
            ok(has("ETag: " DATA_TAG "\r\n")
               && has("Content-Type: application/octet-stream\r\n"),
               "206 keeps the 200 headers");
            done();

            rq = req("/empty.txt");
            rq.range = "bytes=0-";
            (void) run(&rq);
            is_int(rs.status, 416, "empty file, bytes=0-: 416");
            ok(has("Content-Range: bytes */0\r\n"), "  bytes */0");
            rq.range = "bytes=-5";
            (void) run(&rq);
            ok(rs.status == 200 && rs.content_length == 0,
               "empty file, suffix range: 200, empty");
            done();
        }
    }

    subtest("If-Range") {
        range_is("bytes=0-9", DATA_TAG, 206, 0, 10,
                 "Content-Range: bytes 0-9/100\r\n");
        range_is("bytes=0-9", "\"2ebc98a1-65\"", 200, 0, 0, NULL);
        range_is("bytes=0-9", "W/" DATA_TAG, 200, 0, 0, NULL);
        range_is("bytes=0-9", MTIME_STR, 206, 0, 10,
                 "Content-Range: bytes 0-9/100\r\n");
        range_is("bytes=0-9", "Sun, 06 Nov 1994 08:49:38 GMT", 200, 0, 0,
                 NULL);
        range_is("bytes=0-9", "Sun, 06 Nov 1994 08:49:36 GMT", 200, 0, 0,
                 NULL);
        range_is("bytes=0-9", "garbage", 200, 0, 0, NULL);
        range_is("bytes=1000-", "\"nope\"", 200, 0, 0, NULL);
        range_is("bytes=1000-", DATA_TAG, 416, 0, 0,
                 "Content-Range: bytes */100\r\n");
    }

    subtest("no fd leaked") {
        int fd = dup(0);

        is_int(fd, fd_probe, "lowest free fd is the same as at the start");
        (void) close(fd);
    }

    subtest("gh_static_mime") {
        is_str(gh_static_mime("a.html"), "text/html", "html");
        is_str(gh_static_mime("a.htm"), "text/html", "htm");
        is_str(gh_static_mime("A.HTML"), "text/html", "HTML, upper case");
        is_str(gh_static_mime("/x/app.Js"), "text/javascript", "Js");
        is_str(gh_static_mime("m.mjs"), "text/javascript", "mjs");
        is_str(gh_static_mime("/s/style.css"), "text/css", "css with path");
        is_str(gh_static_mime("d.json"), "application/json", "json");
        is_str(gh_static_mime("i.svg"), "image/svg+xml", "svg");
        is_str(gh_static_mime("i.jpg"), "image/jpeg", "jpg");
        is_str(gh_static_mime("i.JPEG"), "image/jpeg", "JPEG");
        is_str(gh_static_mime("i.webp"), "image/webp", "webp");
        is_str(gh_static_mime("f.woff2"), "font/woff2", "woff2");
        is_str(gh_static_mime("f.woff"), "font/woff", "woff");
        is_str(gh_static_mime("m.wasm"), "application/wasm", "wasm");
        is_str(gh_static_mime("v.mp4"), "video/mp4", "mp4");
        is_str(gh_static_mime("a.mp3"), "audio/mpeg", "mp3");
        is_str(gh_static_mime("x.tar.gz"), "application/gzip", "last dot");
        is_str(gh_static_mime("x.tar"), "application/x-tar", "tar");
        is_str(gh_static_mime("a.js.map"), "application/json", "map");
        is_str(gh_static_mime("README.md"), "text/markdown", "md");
        is_str(gh_static_mime("t.csv"), "text/csv", "csv");
        is_str(gh_static_mime("noext"), "application/octet-stream",
               "no extension");
        is_str(gh_static_mime(".bashrc"), "application/octet-stream",
               "dot file has no extension");
        is_str(gh_static_mime("/a.d/file"), "application/octet-stream",
               "dot in a directory name only");
        is_str(gh_static_mime("x."), "application/octet-stream",
               "empty extension");
        is_str(gh_static_mime("x.htmlx"), "application/octet-stream",
               "unknown extension");
        is_str(gh_static_mime(""), "application/octet-stream", "empty name");
    }

    subtest("gh_http_date") {
        char buf[64];
        time_t t;

        is_int(gh_http_date(MTIME, buf, sizeof(buf)), 29, "length 29");
        is_str(buf, MTIME_STR, "IMF-fixdate");
        (void) gh_http_date(0, buf, sizeof(buf));
        is_str(buf, "Thu, 01 Jan 1970 00:00:00 GMT", "epoch");
        (void) gh_http_date(1709164800, buf, sizeof(buf));
        is_str(buf, "Thu, 29 Feb 2024 00:00:00 GMT", "leap day");
        (void) gh_http_date(253402300799LL, buf, sizeof(buf));
        is_str(buf, "Fri, 31 Dec 9999 23:59:59 GMT", "last 4-digit second");
        is_int(gh_http_date(253402300800LL, buf, sizeof(buf)), 0,
               "year 10000 has no IMF-fixdate");
        is_int(gh_http_date(MTIME, buf, 29), 0, "29 bytes is too small");
        is_int(gh_http_date(MTIME, buf, 30), 29, "30 bytes is enough");

        ok(gh_http_date_parse(MTIME_STR, &t) == GH_OK && t == MTIME,
           "parse IMF-fixdate");
        ok(gh_http_date_parse("Sunday, 06-Nov-94 08:49:37 GMT", &t) == GH_OK
           && t == MTIME, "parse rfc850-date");
        ok(gh_http_date_parse("Sun Nov  6 08:49:37 1994", &t) == GH_OK
           && t == MTIME, "parse asctime-date, one-digit day");
        ok(gh_http_date_parse("Sun Nov 16 08:49:37 1994", &t) == GH_OK
           && t == MTIME + 10 * 86400, "parse asctime-date, two-digit day");
        ok(gh_http_date_parse("Thu, 29 Feb 2024 00:00:00 GMT", &t) == GH_OK
           && t == 1709164800, "parse leap day");
        ok(gh_http_date_parse("Thu, 01 Jan 1970 00:00:00 GMT", &t) == GH_OK
           && t == 0, "parse epoch");
        ok(gh_http_date_parse("Tuesday, 01-Jan-30 00:00:00 GMT", &t)
           == GH_OK && t == 1893456000,
           "rfc850 year 30 is 2030: not 50 years ahead (RFC 9110 5.6.7)");
        ok(gh_http_date_parse("Saturday, 01-Jan-00 00:00:00 GMT", &t)
           == GH_OK && t == 946684800, "rfc850 year 00 is 2000");

        for (time_t s = -86400; s < 4102444800LL; s += 86400 * 37 + 3671) {
            if (gh_http_date(s, buf, sizeof(buf)) != 29
                || gh_http_date_parse(buf, &t) != GH_OK || t != s)
                break;
            if (s + 86400 * 37 + 3671 >= 4102444800LL)
                ok(1, "round trip 1969-2100");
        }
    }

    subtest("bad dates") {
        static const char *const bad[] = {
            "", "garbage", "0", "784111777",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 06 November 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Tue, 29 Feb 2022 00:00:00 GMT",
            "Mon, 29 Feb 1900 00:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTx",
            "Sun,06 Nov 1994 08:49:37 GMT",
            "Foo, 06 Nov 1994 08:49:37 GMT",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Someday, 06-Nov-94 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov 06 08:49:37 1994 GMT",
            "Sun Nov  6 08:49:37 1994 ",
            "Sun, 06 Nov 1994 08:49:37 GMT\0x",     /* fine: C string */
        };
        time_t t = 42;

        for (size_t i = 0; i + 1 < GH_NELEM(bad); i++)
            ok(gh_http_date_parse(bad[i], &t) == GH_ERR, "rejected: '%s'",
               bad[i]);
        is_int(t, 42, "*out untouched on failure");
        ok(gh_http_date_parse(bad[GH_NELEM(bad) - 1], &t) == GH_OK,
           "the string ends at the NUL");
    }

    cleanup();
    return done_testing();
}
