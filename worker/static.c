#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "worker/static.h"

/*
 * Static files: map the normalised path under the root, open it, and decide
 * status, headers and byte range.  The order of the checks follows RFC 9110
 * 13.2.2 (preconditions before Range), as nginx's static, not-modified and
 * range filters do between them.
 */

static const char static_days[7][4] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static const char *const static_days_long[7] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday"
};

static const char static_months[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* Sorted by nothing but use; small enough that a scan beats a hash. */
static const struct {
    const char *ext;
    const char *type;
} static_mimes[] = {
    { "html",  "text/html" },
    { "htm",   "text/html" },
    { "css",   "text/css" },
    { "js",    "text/javascript" },         /* RFC 9239 */
    { "mjs",   "text/javascript" },
    { "json",  "application/json" },        /* UTF-8 by RFC 8259: no charset */
    { "txt",   "text/plain" },
    { "xml",   "text/xml" },
    { "svg",   "image/svg+xml" },
    { "png",   "image/png" },
    { "jpg",   "image/jpeg" },
    { "jpeg",  "image/jpeg" },
    { "gif",   "image/gif" },
    { "webp",  "image/webp" },
    { "ico",   "image/x-icon" },            /* what browsers and nginx use */
    { "wasm",  "application/wasm" },        /* streaming compile needs it */
    { "pdf",   "application/pdf" },
    { "woff",  "font/woff" },               /* RFC 8081 */
    { "woff2", "font/woff2" },
    { "ttf",   "font/ttf" },
    { "otf",   "font/otf" },
    { "mp4",   "video/mp4" },
    { "webm",  "video/webm" },
    { "mp3",   "audio/mpeg" },
    { "ogg",   "audio/ogg" },
    { "zip",   "application/zip" },
    { "gz",    "application/gzip" },        /* RFC 6713 */
    { "tar",   "application/x-tar" },
    { "map",   "application/json" },        /* source maps */
    { "csv",   "text/csv" },
    { "md",    "text/markdown" },           /* RFC 7763 */
};

const char *
gh_static_mime(const char *name)
{
    const char *base, *dot;

    base = strrchr(name, '/');
    base = base ? base + 1 : name;
    dot = strrchr(base, '.');
    /* ".profile" is a name without an extension, not a "profile" file. */
    if (dot == NULL || dot == base || dot[1] == '\0')
        return "application/octet-stream";
    for (size_t i = 0; i < GH_NELEM(static_mimes); i++) {
        if (strcasecmp(dot + 1, static_mimes[i].ext) == 0)
            return static_mimes[i].type;
    }
    return "application/octet-stream";
}

/* Dates ---------------------------------------------------------------- */

size_t
gh_http_date(time_t t, char *buf, size_t len)
{
    struct tm tm;
    int n;

    /*
     * RFC 9110 5.6.7 IMF-fixdate, by hand rather than strftime(3) so the
     * locale cannot change the names.  A year outside four digits has no
     * IMF-fixdate: return 0 and the caller leaves the header out.
     */
    if (len < 30)
        return 0;
    buf[0] = '\0';
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900
        || tm.tm_year > 9999 - 1900)
        return 0;
    n = snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 static_days[tm.tm_wday], tm.tm_mday,
                 static_months[tm.tm_mon], tm.tm_year + 1900,
                 tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n == 29 ? (size_t) n : 0;
}

/* Exactly N digits at *P into *V. */
static int
static_digits(const char **p, int n, int *v)
{
    const char *s = *p;

    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return GH_ERR;
        *v = *v * 10 + (s[i] - '0');
    }
    *p = s + n;
    return GH_OK;
}

static int
static_lit(const char **p, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*p, lit, n) != 0)
        return GH_ERR;
    *p += n;
    return GH_OK;
}

/* A three-letter month; RFC 9110 5.6.7: case-sensitive. */
static int
static_month(const char **p, int *mon)
{
    for (int i = 0; i < 12; i++) {
        if (strncmp(*p, static_months[i], 3) == 0) {
            *mon = i;
            *p += 3;
            return GH_OK;
        }
    }
    return GH_ERR;
}

/* "HH:MM:SS" into TM. */
static int
static_clock(const char **p, struct tm *tm)
{
    if (static_digits(p, 2, &tm->tm_hour) != GH_OK
        || static_lit(p, ":") != GH_OK
        || static_digits(p, 2, &tm->tm_min) != GH_OK
        || static_lit(p, ":") != GH_OK
        || static_digits(p, 2, &tm->tm_sec) != GH_OK)
        return GH_ERR;
    return GH_OK;
}

static int
static_mdays(int year, int mon)
{
    static const int mdays[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (mon == 1 && year % 4 == 0 && (year % 100 != 0 || year % 400 == 0))
        return 29;
    return mdays[mon];
}

/*
 * The day name, N letters at S: "Sun" or, for rfc850-date, "Sunday".  Not
 * checked against the date: RFC 9110 5.6.7 does not ask for it.
 */
static int
static_wday(const char *s, size_t n)
{
    for (int i = 0; i < 7; i++) {
        if (n == 3 ? strncmp(s, static_days[i], 3) == 0
                   : strlen(static_days_long[i]) == n
                     && strncmp(s, static_days_long[i], n) == 0)
            return i;
    }
    return GH_ERR;
}

/*
 * RFC 9110 5.6.7: a two-digit year more than 50 years in the future is the
 * most recent past year with the same last two digits.
 */
static int
static_year2(int yy)
{
    struct tm now;
    time_t t = time(NULL);
    int year;

    if (gmtime_r(&t, &now) == NULL)
        return 1900 + yy;
    year = (now.tm_year + 1900) / 100 * 100 + yy;
    if (year > now.tm_year + 1900 + 50)
        year -= 100;
    return year;
}

int
gh_http_date_parse(const char *s, time_t *out)
{
    struct tm tm;
    const char *p = s;
    size_t n;
    int year, mon, day, yy;

    memset(&tm, 0, sizeof(tm));
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    n = (size_t) (p - s);

    if (n == 3 && *p == ',') {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (static_wday(s, n) == GH_ERR
            || static_lit(&p, ", ") != GH_OK
            || static_digits(&p, 2, &day) != GH_OK
            || static_lit(&p, " ") != GH_OK
            || static_month(&p, &mon) != GH_OK
            || static_lit(&p, " ") != GH_OK
            || static_digits(&p, 4, &year) != GH_OK
            || static_lit(&p, " ") != GH_OK
            || static_clock(&p, &tm) != GH_OK
            || static_lit(&p, " GMT") != GH_OK)
            return GH_ERR;

    } else if (n == 3 && *p == ' ') {
        /* asctime-date: "Sun Nov  6 08:49:37 1994" */
        if (static_wday(s, n) == GH_ERR
            || static_lit(&p, " ") != GH_OK
            || static_month(&p, &mon) != GH_OK
            || static_lit(&p, " ") != GH_OK)
            return GH_ERR;
        if (*p == ' ') {
            p++;
            if (static_digits(&p, 1, &day) != GH_OK)
                return GH_ERR;
        } else if (static_digits(&p, 2, &day) != GH_OK) {
            return GH_ERR;
        }
        if (static_lit(&p, " ") != GH_OK
            || static_clock(&p, &tm) != GH_OK
            || static_lit(&p, " ") != GH_OK
            || static_digits(&p, 4, &year) != GH_OK)
            return GH_ERR;

    } else if (n >= 6 && *p == ',') {
        /* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT" */
        if (static_wday(s, n) == GH_ERR
            || static_lit(&p, ", ") != GH_OK
            || static_digits(&p, 2, &day) != GH_OK
            || static_lit(&p, "-") != GH_OK
            || static_month(&p, &mon) != GH_OK
            || static_lit(&p, "-") != GH_OK
            || static_digits(&p, 2, &yy) != GH_OK
            || static_lit(&p, " ") != GH_OK
            || static_clock(&p, &tm) != GH_OK
            || static_lit(&p, " GMT") != GH_OK)
            return GH_ERR;
        year = static_year2(yy);

    } else {
        return GH_ERR;
    }

    /* timegm(3) would quietly normalise "31 Feb" into March: refuse it. */
    if (*p != '\0' || day < 1 || day > static_mdays(year, mon)
        || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return GH_ERR;
    tm.tm_mday = day;
    tm.tm_mon = mon;
    tm.tm_year = year - 1900;
    *out = timegm(&tm);
    return GH_OK;
}

/* Conditionals and ranges ------------------------------------------------ */

static int
static_ows(int c)
{
    return c == ' ' || c == '\t';
}

/*
 * If-None-Match against our ETag (quotes included): RFC 9110 13.1.2, weak
 * comparison (8.8.3.2), so "W/" is ignored.  "*" matches: the file exists.
 * A malformed member ends the scan as "no match", which at worst sends the
 * full response.
 */
static int
static_inm_match(const char *s, const char *etag)
{
    size_t elen = strlen(etag);
    const char *q;

    for (;;) {
        while (static_ows(*s) || *s == ',')
            s++;
        if (*s == '\0')
            return 0;
        if (*s == '*')
            return 1;
        if (s[0] == 'W' && s[1] == '/')
            s += 2;
        if (*s != '"' || (q = strchr(s + 1, '"')) == NULL)
            return 0;
        if ((size_t) (q + 1 - s) == elen && memcmp(s, etag, elen) == 0)
            return 1;
        s = q + 1;
        while (static_ows(*s))
            s++;
        if (*s != ',' && *s != '\0')
            return 0;
    }
}

/*
 * If-Range (RFC 9110 13.1.5): an entity-tag must match by strong comparison
 * (a weak one never does), a date must equal Last-Modified exactly.
 */
static int
static_if_range(const char *v, const char *etag, time_t mtime)
{
    time_t t;

    if (v[0] == '"')
        return strcmp(v, etag) == 0;
    if (v[0] == 'W' && v[1] == '/')
        return 0;
    return gh_http_date_parse(v, &t) == GH_OK && t == mtime;
}

/*
 * RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without it
 * (13.1.3), and an unparsable date is ignored.  Both give 304 for GET and
 * HEAD, the only methods that get here.
 */
static int
static_not_modified(const struct gh_static_req *rq, const char *etag,
                    time_t mtime)
{
    time_t t;

    if (rq->if_none_match != NULL)
        return static_inm_match(rq->if_none_match, etag);
    return rq->if_modified_since != NULL
           && gh_http_date_parse(rq->if_modified_since, &t) == GH_OK
           && mtime <= t;
}

/* Decimal digits at *P, saturating at INT64_MAX: huge is just huge. */
static int
static_range_num(const char **p, int64_t *v)
{
    const char *s = *p;

    if (*s < '0' || *s > '9')
        return GH_ERR;
    *v = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (*v > (INT64_MAX - 9) / 10)
            *v = INT64_MAX;
        else
            *v = *v * 10 + (*s - '0');
    }
    *p = s;
    return GH_OK;
}

/*
 * Range (RFC 9110 14.1, 14.2) for a file of SIZE bytes.  Returns GH_OK with
 * [*FIRST, *LAST] for one satisfiable range, GH_ERR when it cannot be
 * satisfied (416), GH_DECLINED to ignore the header and send everything:
 * malformed, another unit, or more than one range (14.2 lets a server
 * ignore Range; multipart/byteranges is not worth its cost here).
 */
static int
static_range(const char *s, off_t size, off_t *first, off_t *last)
{
    int64_t a, b;
    int n = 0, suffix = 0, open_end = 0;

    /* 14.1: range units are case-insensitive. */
    if (strncasecmp(s, "bytes=", 6) != 0)
        return GH_DECLINED;
    s += 6;
    a = b = 0;

    for (;;) {
        /* 5.6.1: a list may have empty members and OWS around commas. */
        while (static_ows(*s) || *s == ',')
            s++;
        if (*s == '\0')
            break;
        if (n++ == 1)
            return GH_DECLINED;
        if (*s == '-') {
            s++;
            suffix = 1;
            if (static_range_num(&s, &b) != GH_OK)
                return GH_DECLINED;
        } else {
            if (static_range_num(&s, &a) != GH_OK || *s++ != '-')
                return GH_DECLINED;
            if (*s >= '0' && *s <= '9') {
                (void) static_range_num(&s, &b);    /* a digit is there */
                if (b < a)
                    return GH_DECLINED;     /* 14.1.1: invalid */
            } else {
                open_end = 1;
            }
        }
        while (static_ows(*s))
            s++;
        if (*s != ',' && *s != '\0')
            return GH_DECLINED;
    }
    if (n == 0)
        return GH_DECLINED;

    if (suffix) {
        if (b == 0)
            return GH_ERR;                  /* 14.1.1: "-0" selects nothing */
        /*
         * A non-zero suffix of an empty file is satisfiable (RFC 7233 2.1
         * says so outright) but 206 cannot describe zero bytes: send the
         * (empty) whole.
         */
        if (size == 0)
            return GH_DECLINED;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        return GH_OK;
    }
    /* 14.1.2: a first-pos at or past the end does not overlap. */
    if (a >= size)
        return GH_ERR;
    *first = a;
    *last = open_end || b >= size ? size - 1 : b;
    return GH_OK;
}

/* Responses -------------------------------------------------------------- */

GH_PRINTF(2, 3) static int
static_add(struct gh_static_resp *rs, const char *fmt, ...)
{
    size_t room = sizeof(rs->headers) - rs->headers_len;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(rs->headers + rs->headers_len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= room) {
        rs->headers[rs->headers_len] = '\0';    /* drop the partial line */
        return GH_ERR;
    }
    rs->headers_len += (size_t) n;
    return GH_OK;
}

static int
static_status(struct gh_static_resp *rs, int status)
{
    rs->status = status;
    return GH_OK;
}

/* An internal failure: 500, ERR (errno) kept for the caller's log line. */
static int
static_fail(struct gh_static_resp *rs, int fd, int err)
{
    if (fd != -1)
        (void) close(fd);       /* ERR is the error to report */
    rs->status = 500;
    rs->fd = -1;
    rs->offset = rs->length = rs->content_length = 0;
    rs->headers_len = 0;
    rs->headers[0] = '\0';
    errno = err;
    return GH_ERR;
}

/*
 * open(2) failed on FILE (ERR).  Not found and "not allowed" are the
 * client's business (404, 403, as nginx's static module maps them); running
 * out of fds or memory is ours (500, logged by the caller).
 */
static int
static_open_error(const struct gh_static_req *rq, struct gh_static_resp *rs,
                  char *file, size_t flen, int dir, int err)
{
    struct stat st;

    switch (err) {
    case ENOENT:
        /*
         * A directory without its index: forbidden, not missing, as nginx
         * answers when autoindex is off.  Only this path pays for a stat.
         */
        if (dir) {
            file[flen - strlen(rq->index)] = '\0';
            if (stat(file, &st) == 0 && S_ISDIR(st.st_mode))
                return static_status(rs, 403);
        }
        return static_status(rs, 404);
    case ENOTDIR:
    case ENAMETOOLONG:
        return static_status(rs, 404);
    case EACCES:
    case EPERM:
    case ELOOP:
    case ENXIO:                 /* a socket or a device without a driver */
    case ENODEV:
        return static_status(rs, 403);
    default:
        return static_fail(rs, -1, err);
    }
}

/*
 * 301 to PATH + "/" for a directory named without its slash, so relative
 * links inside its index resolve below it.  RFC 9110 10.2.2 allows a
 * relative Location.  The normalised path is decoded, so encode again what
 * is not a pchar (RFC 3986 3.3): a decoded '?' or '%' must not change the
 * meaning of the target.  Normalisation collapsed "//", so the value cannot
 * turn into a network-path reference ("//evil.example/").
 */
static int
static_redirect(const struct gh_static_req *rq, struct gh_static_resp *rs)
{
    static const char hex[] = "0123456789ABCDEF";
    char loc[sizeof(rs->headers)];
    size_t n = 0;
    const unsigned char *s;

    for (s = (const unsigned char *) rq->path; *s; s++) {
        if (n + 4 > sizeof(loc))
            return static_fail(rs, -1, ENAMETOOLONG);
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
            || (*s >= '0' && *s <= '9') || strchr("-._~!$&'()*+,;=:@/", *s)) {
            loc[n++] = (char) *s;
        } else {
            loc[n++] = '%';
            loc[n++] = hex[*s >> 4];
            loc[n++] = hex[*s & 0xf];
        }
    }
    loc[n] = '\0';
    rs->status = 301;
    if (static_add(rs, "Location: %s/\r\n", loc) != GH_OK)
        return static_fail(rs, -1, ENAMETOOLONG);
    return GH_OK;
}

int
gh_static_open(const struct gh_static_req *rq, struct gh_static_resp *rs)
{
    char file[PATH_MAX], etag[48], lm[32];
    const char *mime;
    struct stat st;
    size_t plen, lmlen;
    off_t first, last;
    int fd, dir, n, rc;

    rs->status = 0;
    rs->fd = -1;
    rs->offset = rs->length = rs->content_length = 0;
    rs->headers_len = 0;
    rs->headers[0] = '\0';

    /* RFC 9110 15.5.6: a 405 lists the methods we do allow. */
    if (!rq->get && !rq->head) {
        rs->status = 405;
        return static_add(rs, "Allow: GET, HEAD\r\n");
    }

    plen = strlen(rq->path);
    dir = plen > 0 && rq->path[plen - 1] == '/';
    n = snprintf(file, sizeof(file), "%s%s%s", rq->root, rq->path,
                 dir ? rq->index : "");
    if (n < 0 || (size_t) n >= sizeof(file))
        return static_status(rs, 404);  /* no such name can exist */

    /*
     * O_NONBLOCK: a FIFO under the root would block open(2) for a reader
     * until some writer came along; this way it opens at once and is
     * refused below as not a regular file.
     */
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd == -1)
        return static_open_error(rq, rs, file, (size_t) n, dir, errno);
    if (fstat(fd, &st) == -1)
        return static_fail(rs, fd, errno);
    if (S_ISDIR(st.st_mode) && !dir) {
        (void) close(fd);       /* a directory: nothing to report */
        return static_redirect(rq, rs);
    }
    if (!S_ISREG(st.st_mode)) {
        (void) close(fd);       /* a device, FIFO, socket: nothing to report */
        return static_status(rs, 403);
    }

    /* nginx's ETag, so caches see the same validator behind either. */
    (void) snprintf(etag, sizeof(etag), "\"%llx-%llx\"",
                    (unsigned long long) st.st_mtime,
                    (unsigned long long) st.st_size);
    lmlen = gh_http_date(st.st_mtime, lm, sizeof(lm));

    if (static_not_modified(rq, etag, st.st_mtime)) {
        (void) close(fd);       /* 304 has no body; nothing to report */
        rs->status = 304;
        /* 15.4.5: a 304 carries the validators a 200 would. */
        if ((lmlen && static_add(rs, "Last-Modified: %s\r\n", lm) != GH_OK)
            || static_add(rs, "ETag: %s\r\n", etag) != GH_OK)
            return static_fail(rs, -1, ENOBUFS);
        return GH_OK;
    }

    /*
     * 14.2: Range is defined for GET only; HEAD gets the 200 headers.  A
     * failed If-Range (13.1.5) means "send it all", even for a range that
     * could not be satisfied.
     */
    rc = GH_DECLINED;
    if (rq->get && rq->range != NULL) {
        rc = static_range(rq->range, st.st_size, &first, &last);
        if (rc != GH_DECLINED && rq->if_range != NULL
            && !static_if_range(rq->if_range, etag, st.st_mtime))
            rc = GH_DECLINED;
    }
    if (rc == GH_ERR) {
        (void) close(fd);       /* no body; nothing to report */
        rs->status = 416;
        /* 15.5.17: say how long the representation is. */
        if (static_add(rs, "Content-Range: bytes */%lld\r\n",
                       (long long) st.st_size) != GH_OK)
            return static_fail(rs, -1, ENOBUFS);
        return GH_OK;
    }

    mime = gh_static_mime(file);
    if (static_add(rs, "Content-Type: %s%s\r\n", mime,
                   strncmp(mime, "text/", 5) == 0 ? "; charset=utf-8" : "")
        != GH_OK
        || (lmlen && static_add(rs, "Last-Modified: %s\r\n", lm) != GH_OK)
        || static_add(rs, "ETag: %s\r\n", etag) != GH_OK
        || static_add(rs, "Accept-Ranges: bytes\r\n") != GH_OK
        || (rc == GH_OK
            && static_add(rs, "Content-Range: bytes %lld-%lld/%lld\r\n",
                          (long long) first, (long long) last,
                          (long long) st.st_size) != GH_OK))
        return static_fail(rs, fd, ENOBUFS);

    if (rc == GH_OK) {
        rs->status = 206;
        rs->offset = first;
        rs->content_length = last - first + 1;
    } else {
        rs->status = 200;
        rs->content_length = st.st_size;
    }
    if (rq->head) {
        (void) close(fd);       /* HEAD sends no body; nothing to report */
        return GH_OK;
    }
    rs->fd = fd;
    rs->length = rs->content_length;
    return GH_OK;
}
