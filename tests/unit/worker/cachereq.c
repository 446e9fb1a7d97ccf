/*
 * worker/cachereq.c, the shared cache as a request sees it: stored header
 * blocks split back into fields, primary keys (every key element in the
 * zone's order, cache_key_extra headers, cookies and query arguments),
 * variants of a Vary key, a request's directives, the description of a
 * response for storing (lifetime, refusals, Vary, length, validators,
 * initial age), the fields kept with a response, and the round trips of
 * the policy and of the stored directives.  Messages, routes and zones are
 * built by hand: no parser, no config file.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf/conf.h"
#include "tests/unit/tap.h"
#include "worker/cachectl.h"
#include "worker/cachereq.h"
#include "worker/core/gh.h"
#include "worker/http.h"

#define NOW_2025    1749988800          /* Sun, 15 Jun 2025 12:00:00 GMT */

/* ---- helpers ------------------------------------------------------------ */

/*
 * A check that shows a known bug: TAP "# TODO", so it is reported but
 * does not fail the run (tap.h has no todo of its own).  COND is the
 * correct behaviour.
 */
__attribute__((format(printf, 2, 3))) static void
todo_ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tap_n++;
    tap_indent();
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(" # TODO known bug, see the comment at the check\n");
    fflush(stdout);
}

static struct gh_hdr
hdr(const char *name, const char *value)
{
    struct gh_hdr h;

    memset(&h, 0, sizeof(h));
    h.name = (struct gh_str) { name, strlen(name) };
    h.value = (struct gh_str) { value, strlen(value) };
    h.kind = GH_HDR_OTHER;
    return h;
}

/* A request of the N fields H (no parser: what gh_http_parse_head fills). */
static struct gh_http_msg
msg(struct gh_hdr *h, uint32_t n)
{
    struct gh_http_msg m;

    memset(&m, 0, sizeof(m));
    m.hdrs = h;
    m.nhdrs = n;
    m.cap = n;
    m.content_length = -1;
    return m;
}

static struct gh_str
str(const char *s)
{
    return s == NULL ? (struct gh_str) { NULL, 0 }
                     : (struct gh_str) { s, strlen(s) };
}

static int
slice_is(struct gh_str s, const char *want)
{
    return s.len == strlen(want) && (s.len == 0 || memcmp(s.p, want, s.len)
                                                   == 0);
}

/* S with control and non-ASCII bytes as \xNN, for a one-line message. */
static const char *
vis(const char *s, size_t len)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    size_t n = 0;

    for (size_t i = 0; i < len && n < sizeof(buf[0]) - 5; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c == '\n') {
            b[n++] = '\\';
            b[n++] = 'n';
        } else if (c < 0x20 || c >= 0x7f) {
            n += (size_t) snprintf(b + n, sizeof(buf[0]) - n, "\\x%02x", c);
        } else {
            b[n++] = (char) c;
        }
    }
    b[n] = '\0';
    return b;
}

/* An IMF-fixdate of T in BUF (at least 30 bytes). */
static const char *
http_date(time_t t, char *buf)
{
    if (gh_cachectl_date_format(t, buf, 30) != GH_CC_DATE_LEN)
        return "(unformattable)";
    return buf;
}

/* The zone and route the key tests use. */
static struct gh_cache_zone zn;
static struct gh_route rt;
static struct gh_ckey_extra extras[8];

static void
zone_key(const uint8_t *parts, uint32_t n)
{
    memset(&zn, 0, sizeof(zn));
    memset(&rt, 0, sizeof(rt));
    zn.name = "z";
    memcpy(zn.key, parts, n);
    zn.nkey = n;
    rt.cache = &zn;
    rt.key_extra = extras;
    rt.nkey_extra = 0;
}

static void
extra(uint32_t kind, const char *name)
{
    struct gh_ckey_extra *x = &extras[rt.nkey_extra++];

    x->kind = kind;
    x->name = name;
    x->name_len = (uint32_t) strlen(name);
}

/* The key, visible ("\n" as \n), or "(GH_ERR)". */
static const char *
key(const char *method, int https, const char *host, const char *path,
    const char *args, const struct gh_http_msg *q)
{
    static char out[2][1024];
    static int k;
    char *o = out[k++ & 1];
    ssize_t n;

    n = gh_creq_key(&rt, method, https, str(host), str(path), str(args), q,
                    o, sizeof(out[0]));
    if (n < 0)
        return n == GH_ERR ? "(GH_ERR)" : "(other negative)";
    return vis(o, (size_t) n);
}

/*
 * key() in a child process, for a call that may stop the process (UBSan):
 * the key, or "(child died)".
 */
static const char *
key_in_child(const char *method, int https, const char *host,
             const char *path, const char *args)
{
    static char got[1024];
    ssize_t n = 0, k;
    int p[2], status;
    pid_t pid;

    fflush(stdout);
    if (pipe(p) != 0)
        return "(no pipe)";
    pid = fork();
    if (pid == 0) {
        const char *s = key(method, https, host, path, args, NULL);

        (void) close(p[0]);
        if (write(p[1], s, strlen(s)) != (ssize_t) strlen(s))
            _exit(2);
        _exit(0);
    }
    (void) close(p[1]);
    while (pid > 0 && (size_t) n < sizeof(got) - 1
           && (k = read(p[0], got + n, sizeof(got) - 1 - (size_t) n)) > 0)
        n += k;
    got[n] = '\0';
    (void) close(p[0]);
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
        || WEXITSTATUS(status) != 0)
        return "(child died)";
    return got;
}

/* The variant of Q for VKEY, visible, or "(GH_ERR)". */
static const char *
variant(const char *vkey, const struct gh_http_msg *q)
{
    static char out[1024];
    ssize_t n = gh_creq_variant(str(vkey), q, out, sizeof(out));

    if (n < 0)
        return n == GH_ERR ? "(GH_ERR)" : "(other negative)";
    return vis(out, (size_t) n);
}

/* ---- gh_creq_split ---------------------------------------------------- */

static void
test_split(void)
{
    struct gh_hdr h[16];
    uint32_t n;

    subtest("split: lines with and without CR, values trimmed") {
        static const char b[] = "Content-Type: text/html\r\n"
                                "ETag:\"x\"\n"
                                "X-Pad: \t  spaced out \t \r\n"
                                "Empty:\r\n"
                                "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n";

        n = gh_creq_split(b, sizeof(b) - 1, h, 16);
        is_int(n, 5, "five fields");
        ok(slice_is(h[0].name, "Content-Type")
           && slice_is(h[0].value, "text/html"), "CRLF line");
        ok(slice_is(h[1].name, "ETag") && slice_is(h[1].value, "\"x\""),
           "LF line, no blank after the colon");
        ok(slice_is(h[2].name, "X-Pad")
           && slice_is(h[2].value, "spaced out"),
           "blanks and tabs trimmed on both sides, inner blank kept");
        ok(slice_is(h[3].name, "Empty") && h[3].value.len == 0,
           "empty value");
        ok(slice_is(h[4].name, "Date")
           && slice_is(h[4].value, "Sun, 06 Nov 1994 08:49:37 GMT"),
           "value holding colons: split at the first");
        ok(h[0].kind == GH_HDR_OTHER && h[0].hop == 0, "kind OTHER, not hop");
        ok(h[0].name.p == b && h[4].value.p > b
           && h[4].value.p + h[4].value.len <= b + sizeof(b) - 1,
           "slices borrow the block");
    }

    subtest("split: lines without a name skipped") {
        static const char b[] = "no colon here\r\n"
                                "\r\n"
                                ": no name\r\n"
                                "\n"
                                "A: 1\r\n";

        n = gh_creq_split(b, sizeof(b) - 1, h, 16);
        is_int(n, 1, "only the good line");
        ok(slice_is(h[0].name, "A") && slice_is(h[0].value, "1"),
           "and it is A: 1");
    }

    subtest("split: max honoured") {
        static const char b[] = "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n";

        memset(h, 0x5a, sizeof(h));
        is_int(gh_creq_split(b, sizeof(b) - 1, h, 2), 2, "max 2 of 4");
        ok(slice_is(h[0].name, "A") && slice_is(h[1].name, "B"),
           "the first two");
        ok(h[2].name.len == 0x5a5a5a5a5a5a5a5aULL, "nothing written past max");
        is_int(gh_creq_split(b, sizeof(b) - 1, h, 0), 0, "max 0");
        is_int(gh_creq_split(b, sizeof(b) - 1, h, 16), 4, "all four");
        is_int(gh_creq_split("", 0, h, 16), 0, "empty block");
        is_int(gh_creq_split(NULL, 0, h, 16), 0, "NULL block of 0 bytes");
    }

    subtest("split: truncated input") {
        static const char b[] = "A: 1\r\nB: 2\r\nC: 3";

        is_int(gh_creq_split(b, sizeof(b) - 1, h, 16), 2,
               "a last line without its newline is dropped");
        is_int(gh_creq_split(b, 8, h, 16), 1, "cut inside the second line");
        is_int(gh_creq_split(b, 5, h, 16), 0, "cut before the first LF");
        is_int(gh_creq_split(b, 6, h, 16), 1, "cut just after the first LF");
        ok(slice_is(h[0].value, "1"), "CR stripped");
        is_int(gh_creq_split("A: 1\r", 5, h, 16), 0, "lone CR, no LF");
    }

    subtest("split: round trip of a block built from fields") {
        static const char *const f[][2] = {
            { "Cache-Control", "max-age=60, public" },
            { "Content-Type", "application/json; charset=utf-8" },
            { "Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT" },
            { "X-Empty", "" },
            { "Vary", "accept-encoding" },
        };
        char b[1024];
        size_t len = 0;
        int good = 1;

        for (size_t i = 0; i < GH_NELEM(f); i++)
            len += (size_t) snprintf(b + len, sizeof(b) - len, "%s: %s\r\n",
                                     f[i][0], f[i][1]);
        n = gh_creq_split(b, len, h, 16);
        is_int(n, GH_NELEM(f), "every field back");
        for (uint32_t i = 0; i < n && i < GH_NELEM(f); i++)
            good &= slice_is(h[i].name, f[i][0])
                    && slice_is(h[i].value, f[i][1]);
        ok(good, "names and values equal");
    }

    subtest("split: garbage never escapes the block") {
        static char b[512];
        uint64_t rng = 0x9e3779b97f4a7c15ULL;
        int bad = 0;

        for (int round = 0; round < 20000 && !bad; round++) {
            size_t len;
            uint32_t max;

            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            len = (size_t) (rng % sizeof(b));
            max = (uint32_t) ((rng >> 20) % 17);
            for (size_t i = 0; i < len; i++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                /* Plenty of the bytes that matter. */
                switch (rng % 8) {
                case 0: b[i] = '\n'; break;
                case 1: b[i] = ':'; break;
                case 2: b[i] = '\r'; break;
                case 3: b[i] = ' '; break;
                default: b[i] = (char) (rng >> 32); break;
                }
            }
            n = gh_creq_split(b, len, h, max);
            if (n > max)
                bad = 1;
            for (uint32_t i = 0; i < n && !bad; i++) {
                const struct gh_hdr *x = &h[i];

                if (x->name.len == 0 || x->name.p < b
                    || x->name.p + x->name.len > b + len
                    || x->value.p < b || x->value.p + x->value.len > b + len
                    || memchr(x->name.p, '\n', x->name.len) != NULL
                    || memchr(x->name.p, ':', x->name.len) != NULL
                    || memchr(x->value.p, '\n', x->value.len) != NULL
                    || (x->value.len > 0
                        && (x->value.p[0] == ' ' || x->value.p[0] == '\t'
                            || x->value.p[x->value.len - 1] == ' '
                            || x->value.p[x->value.len - 1] == '\t')))
                    bad = 1;
            }
            if (bad)
                diag("round %d: %s", round, vis(b, len));
        }
        ok(!bad, "20000 random blocks: count <= max, slices inside, names "
           "non-empty without ':' or LF, values trimmed");
    }
}

/* ---- gh_creq_key ------------------------------------------------------ */

static void
test_key(void)
{
    static const uint8_t all[] = {
        GH_CKEY_METHOD, GH_CKEY_SCHEME, GH_CKEY_HOST, GH_CKEY_URI,
        GH_CKEY_PATH, GH_CKEY_ARGS
    };
    static const uint8_t rev[] = {
        GH_CKEY_ARGS, GH_CKEY_PATH, GH_CKEY_URI, GH_CKEY_HOST,
        GH_CKEY_SCHEME, GH_CKEY_METHOD
    };
    static const uint8_t shu[] = {
        GH_CKEY_HOST, GH_CKEY_METHOD, GH_CKEY_PATH, GH_CKEY_SCHEME
    };
    static const uint8_t dflt[] = { GH_CKEY_SCHEME, GH_CKEY_HOST,
                                    GH_CKEY_URI };

    subtest("key: every element, in the zone's order") {
        zone_key(all, sizeof(all));
        is_str(key("GET", 1, "Example.COM", "/a/b", "x=1&y=2", NULL),
               "GET\\nhttps\\nexample.com\\n/a/b?x=1&y=2\\n/a/b\\n"
               "x=1&y=2\\n", "method scheme host uri path args");
        zone_key(rev, sizeof(rev));
        is_str(key("GET", 1, "Example.COM", "/a/b", "x=1&y=2", NULL),
               "x=1&y=2\\n/a/b\\n/a/b?x=1&y=2\\nexample.com\\nhttps\\n"
               "GET\\n", "reversed");
        zone_key(shu, sizeof(shu));
        is_str(key("GET", 0, "h", "/p", "q", NULL), "h\\nGET\\n/p\\nhttp\\n",
               "a subset, shuffled");
        zone_key(all, 1);
        is_str(key("HEAD", 0, "h", "/p", "", NULL), "HEAD\\n",
               "the method as passed (the caller maps HEAD to GET)");
        zone_key(all, 0);
        is_str(key("GET", 0, "h", "/p", "", NULL), "", "no element: empty");
        {
            static const uint8_t odd[] = { GH_CKEY_ARGS + 1, GH_CKEY_METHOD };

            zone_key(odd, sizeof(odd));
            is_str(key("GET", 0, "h", "/p", "", NULL), "\\nGET\\n",
                   "an unknown element: empty, still ended by '\\n'");
        }
    }

    subtest("key: scheme, host, uri") {
        zone_key(dflt, sizeof(dflt));
        is_str(key("GET", 1, "h", "/", "", NULL), "https\\nh\\n/\\n", "https");
        is_str(key("GET", 0, "h", "/", "", NULL), "http\\nh\\n/\\n", "http");
        ok(strcmp(key("GET", 1, "h", "/", "", NULL),
                  key("GET", 0, "h", "/", "", NULL)) != 0,
           "https and http differ");
        is_str(key("GET", 0, "WWW.Example.ORG", "/", "", NULL),
               "http\\nwww.example.org\\n/\\n", "host lower-cased");
        is_str(key("GET", 0, "h", "/Path/X", "", NULL),
               "http\\nh\\n/Path/X\\n", "path case kept");
        is_str(key("GET", 0, "h", "/p", "a=1", NULL),
               "http\\nh\\n/p?a=1\\n", "uri with args");
        is_str(key("GET", 0, "h", "/p", "", NULL), "http\\nh\\n/p\\n",
               "uri without args: no '?'");
        is_str(key("GET", 0, "h", "/p", NULL, NULL), "http\\nh\\n/p\\n",
               "uri with args {NULL, 0}");
        zone_key(all, sizeof(all));
        /* conn.c passes args {NULL, 0} for a request without a query:
         * no memcpy from NULL (UBSan stops the child under SAN=1). */
        is_str(key_in_child("GET", 0, "h", "/p", NULL),
               "GET\\nhttp\\nh\\n/p\\n/p\\n\\n",
               "args element with args {NULL, 0}: empty, no UB");
        is_str(key("GET", 0, NULL, "/p", "", NULL),
               "GET\\nhttp\\n\\n/p\\n/p\\n\\n", "host {NULL, 0}: empty");
    }

    subtest("key: cache_key_extra header") {
        struct gh_hdr h[] = {
            hdr("Accept-Language", "en, fr"),
            hdr("X-Other", "zz"),
            hdr("ACCEPT-LANGUAGE", "de ,  it"),
            hdr("accept-language", "pt-BR"),
            hdr("X-Tenant", "a  b"),
        };
        struct gh_http_msg q = msg(h, GH_NELEM(h));
        struct gh_http_msg none = msg(h + 1, 1);

        zone_key(dflt, 1);
        extra(GH_CKEY_X_HEADER, "accept-language");
        is_str(key("GET", 0, "h", "/", "", &q), "http\\nen,fr,de,it,pt-BR\\n",
               "three field lines joined by ',', blanks around commas "
               "dropped, names matched case-insensitively");
        is_str(key("GET", 0, "h", "/", "", &none), "http\\n\\n",
               "absent header: empty");
        is_str(key("GET", 0, "h", "/", "", NULL), "http\\n\\n",
               "no request (NULL): empty");
        extra(GH_CKEY_X_HEADER, "x-tenant");
        is_str(key("GET", 0, "h", "/", "", &q),
               "http\\nen,fr,de,it,pt-BR\\na b\\n",
               "two extras in order; inner blanks folded to one");
        zone_key(dflt, 1);
        extra(GH_CKEY_X_HEADER, "accept");
        is_str(key("GET", 0, "h", "/", "", &q), "http\\n\\n",
               "a name that is a prefix of a field's name does not match");
    }

    subtest("key: cache_key_extra cookie") {
        struct gh_hdr h[] = {
            hdr("Cookie", "sessionid=abc; session=xyz; theme=dark"),
            hdr("X-Cookie", "cart=no"),
            hdr("cookie", "cart=42;lang=fr"),
        };
        struct gh_http_msg q = msg(h, GH_NELEM(h));

        zone_key(dflt, 0);
        extra(GH_CKEY_X_COOKIE, "session");
        is_str(key("GET", 0, "h", "/", "", &q), "xyz\\n",
               "session, after sessionid whose prefix it is");
        zone_key(dflt, 0);
        extra(GH_CKEY_X_COOKIE, "sess");
        is_str(key("GET", 0, "h", "/", "", &q), "\\n",
               "a prefix of a cookie name does not match");
        zone_key(dflt, 0);
        extra(GH_CKEY_X_COOKIE, "id");
        is_str(key("GET", 0, "h", "/", "", &q), "\\n",
               "a suffix of a cookie name does not match");
        zone_key(dflt, 0);
        extra(GH_CKEY_X_COOKIE, "sessionidx");
        is_str(key("GET", 0, "h", "/", "", &q), "\\n",
               "a longer name does not match");
        zone_key(dflt, 0);
        extra(GH_CKEY_X_COOKIE, "theme");
        extra(GH_CKEY_X_COOKIE, "cart");
        extra(GH_CKEY_X_COOKIE, "lang");
        extra(GH_CKEY_X_COOKIE, "sessionid");
        is_str(key("GET", 0, "h", "/", "", &q), "dark\\n42\\nfr\\nabc\\n",
               "last of a line, second Cookie line (not X-Cookie), no "
               "blank after ';', first of a line");
        is_str(key("GET", 0, "h", "/", "", NULL), "\\n\\n\\n\\n",
               "no request: all empty");
    }

    subtest("key: cache_key_extra query") {
        zone_key(dflt, 0);
        extra(GH_CKEY_X_QUERY, "x");
        is_str(key("GET", 0, "h", "/", "flag&xy=2&x=1&x=3", NULL), "1\\n",
               "the first x, not xy");
        zone_key(dflt, 0);
        extra(GH_CKEY_X_QUERY, "flag");
        extra(GH_CKEY_X_QUERY, "nope");
        extra(GH_CKEY_X_QUERY, "y");
        extra(GH_CKEY_X_QUERY, "xy");
        extra(GH_CKEY_X_QUERY, "e");
        is_str(key("GET", 0, "h", "/", "flag&xy=2&x=1&e=", NULL),
               "\\n\\n\\n2\\n\\n",
               "present without value, absent, suffix of a name: empty; "
               "xy; empty value");
        is_str(key("GET", 0, "h", "/", "", NULL), "\\n\\n\\n\\n\\n",
               "no query: all empty");
        is_str(key("GET", 0, "h", "/", NULL, NULL), "\\n\\n\\n\\n\\n",
               "query {NULL, 0}: all empty");
    }

    subtest("key: the whole key, then too small") {
        struct gh_hdr h[] = {
            hdr("Accept-Language", "en"),
            hdr("Cookie", "s=1"),
        };
        struct gh_http_msg q = msg(h, GH_NELEM(h));
        char out[256];
        ssize_t n, m;
        int all_err = 1;

        zone_key(all, sizeof(all));
        extra(GH_CKEY_X_HEADER, "accept-language");
        extra(GH_CKEY_X_COOKIE, "s");
        extra(GH_CKEY_X_QUERY, "a");
        is_str(key("GET", 1, "H", "/p", "a=b", &q),
               "GET\\nhttps\\nh\\n/p?a=b\\n/p\\na=b\\nen\\n1\\nb\\n",
               "elements then extras, each with its '\\n'");
        n = gh_creq_key(&rt, "GET", 1, str("H"), str("/p"), str("a=b"), &q,
                        out, sizeof(out));
        is_int(n, 33, "length");
        memset(out, '#', sizeof(out));
        m = gh_creq_key(&rt, "GET", 1, str("H"), str("/p"), str("a=b"), &q,
                        out, (size_t) n);
        is_int(m, n, "exactly the room: fits (no NUL added)");
        is_int(out[n], '#', "nothing written past it");
        for (ssize_t k = 0; k < n; k++) {
            memset(out, '#', sizeof(out));
            if (gh_creq_key(&rt, "GET", 1, str("H"), str("/p"), str("a=b"),
                            &q, out, (size_t) k) != GH_ERR
                || out[k] != '#') {
                diag("outlen %zd", k);
                all_err = 0;
            }
        }
        ok(all_err, "every smaller room: GH_ERR, nothing written past it");
    }
}

/* ---- gh_creq_variant ---------------------------------------------------- */

static void
test_variant(void)
{
    subtest("variant: several names, absent ones apart from empty ones") {
        struct gh_hdr h[] = {
            hdr("Accept-Encoding", "gzip, br"),
            hdr("User-Agent", "curl/8"),
            hdr("Accept-Language", "en"),
        };
        struct gh_http_msg q = msg(h, GH_NELEM(h));
        struct gh_http_msg e = msg(h, 0);

        is_str(variant("accept-encoding,accept-language,user-agent", &q),
               "accept-encoding=gzip,br\\naccept-language=en\\n"
               "user-agent=curl/8\\n", "three names, in the key's order");
        is_str(variant("accept-encoding", &q), "accept-encoding=gzip,br\\n",
               "one name");
        is_str(variant("accept-encoding,x-absent", &q),
               "accept-encoding=gzip,br\\nx-absent\\n",
               "absent: the name alone (an empty field is \"name=\")");
        is_str(variant("accept-encoding,accept-language", &e),
               "accept-encoding\\naccept-language\\n",
               "a request without fields");
        is_str(variant("", &q), "", "empty Vary key: empty variant");
    }

    subtest("variant: normalised") {
        struct gh_hdr a[] = { hdr("Accept-Language", "en, fr") };
        struct gh_hdr b[] = { hdr("Accept-Language", "en,fr") };
        struct gh_hdr c[] = { hdr("accept-language", "en ,\t fr") };
        struct gh_hdr d[] = { hdr("Accept-Language", "en"),
                              hdr("Accept-Language", "fr") };
        struct gh_hdr e[] = { hdr("Accept-Language", "en-US,  fr;q=0.5") };
        struct gh_http_msg qa = msg(a, 1), qb = msg(b, 1), qc = msg(c, 1),
                           qd = msg(d, 2), qe = msg(e, 1);
        char va[256], vb[256];

        snprintf(va, sizeof(va), "%s", variant("accept-language", &qa));
        snprintf(vb, sizeof(vb), "%s", variant("accept-language", &qb));
        is_str(va, vb, "\"en, fr\" and \"en,fr\" give the same variant");
        is_str(va, "accept-language=en,fr\\n", "which is en,fr");
        is_str(variant("accept-language", &qc), va,
               "\"en ,<tab> fr\" too");
        is_str(variant("accept-language", &qd), va,
               "two lines \"en\" and \"fr\" too");
        is_str(variant("accept-language", &qe),
               "accept-language=en-US,fr;q=0.5\\n", "with parameters");
    }

    subtest("variant: too small") {
        struct gh_hdr h[] = { hdr("Accept-Encoding", "gzip") };
        struct gh_http_msg q = msg(h, 1);
        char out[64];
        ssize_t n;
        int all_err = 1;

        n = gh_creq_variant(str("accept-encoding"), &q, out, sizeof(out));
        is_int(n, 21, "length of accept-encoding=gzip\\n");
        memset(out, '#', sizeof(out));
        is_int(gh_creq_variant(str("accept-encoding"), &q, out, (size_t) n),
               n, "exactly the room: fits");
        is_int(out[n], '#', "nothing written past it");
        for (ssize_t k = 0; k < n; k++) {
            memset(out, '#', sizeof(out));
            if (gh_creq_variant(str("accept-encoding"), &q, out, (size_t) k)
                != GH_ERR || out[k] != '#') {
                diag("outlen %zd", k);
                all_err = 0;
            }
        }
        ok(all_err, "every smaller room: GH_ERR, nothing written past it");
    }
}

/* ---- gh_creq_req -------------------------------------------------------- */

static void
test_req(void)
{
    struct gh_cc_req r;

    subtest("req: Cache-Control lines") {
        struct gh_hdr none[] = { hdr("Accept", "*/*") };
        struct gh_hdr two[] = {
            hdr("Cache-Control", "max-age=10"),
            hdr("Accept", "*/*"),
            hdr("cache-control", "no-store, max-stale=5"),
        };
        struct gh_hdr rep[] = {
            hdr("Cache-Control", "max-age=10"),
            hdr("Cache-Control", "max-age=5"),
        };
        struct gh_http_msg q;

        q = msg(none, 1);
        memset(&r, 0x5a, sizeof(r));
        gh_creq_req(&q, &r);
        ok(r.cc.has == 0 && r.cc.nfields == 0 && !r.authorization,
           "no directives");
        ok(slice_is(r.method, "GET"), "method GET");
        q = msg(two, GH_NELEM(two));
        gh_creq_req(&q, &r);
        is_int(r.cc.has, GH_CC_MAX_AGE | GH_CC_NO_STORE | GH_CC_MAX_STALE,
               "two lines (any case): max-age, no-store, max-stale");
        ok(r.cc.max_age == 10 && r.cc.max_stale == 5, "their values");
        is_int(r.cc.nfields, 2, "two Cache-Control lines counted");
        q = msg(rep, GH_NELEM(rep));
        gh_creq_req(&q, &r);
        is_int(r.cc.max_age, 5, "repeats: the most restrictive max-age");
    }

    subtest("req: Pragma only without Cache-Control") {
        struct gh_hdr p1[] = { hdr("Pragma", "no-cache") };
        struct gh_hdr p2[] = { hdr("Pragma", "no-cache"),
                               hdr("Cache-Control", "max-age=60") };
        struct gh_hdr p3[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("pragma", "no-cache") };
        struct gh_hdr p4[] = { hdr("Pragma", "x-foo") };
        struct gh_http_msg q;

        q = msg(p1, 1);
        gh_creq_req(&q, &r);
        is_int(r.cc.has, GH_CC_NO_CACHE, "Pragma: no-cache alone: no-cache");
        q = msg(p2, 2);
        gh_creq_req(&q, &r);
        is_int(r.cc.has, GH_CC_MAX_AGE,
               "Pragma before Cache-Control: ignored");
        q = msg(p3, 2);
        gh_creq_req(&q, &r);
        is_int(r.cc.has, GH_CC_MAX_AGE, "Pragma after Cache-Control: ignored");
        q = msg(p4, 1);
        gh_creq_req(&q, &r);
        is_int(r.cc.has, 0, "another Pragma: nothing");
    }

    subtest("req: Authorization") {
        struct gh_hdr a1[] = { hdr("Authorization", "Basic eDp5") };
        struct gh_hdr a2[] = { hdr("authorization", "") };
        struct gh_hdr a3[] = { hdr("Proxy-Authorization", "Basic eDp5"),
                               hdr("X-Authorization", "1") };
        struct gh_http_msg q;

        q = msg(a1, 1);
        gh_creq_req(&q, &r);
        is_int(r.authorization, 1, "Authorization");
        q = msg(a2, 1);
        gh_creq_req(&q, &r);
        is_int(r.authorization, 1, "authorization, empty value");
        q = msg(a3, 2);
        gh_creq_req(&q, &r);
        is_int(r.authorization, 0, "Proxy-Authorization and X-Authorization "
               "are not Authorization");
    }
}

/* ---- gh_creq_describe --------------------------------------------------- */

static struct gh_cc_req noreq;
static struct gh_cc_policy pol = { 86400, 0, 0 };

#define T  ((time_t) NOW_2025)

/* Describe STATUS with the fields H at T (request sent at T - 2). */
static enum gh_cc_store
describe(int status, const struct gh_hdr *h, uint32_t n,
         const struct gh_cc_req *q, const struct gh_cc_policy *p,
         struct gh_cmeta *m, char *vkey, size_t vkeylen)
{
    return gh_creq_describe(status, h, n, q != NULL ? q : &noreq,
                            p != NULL ? p : &pol, T - 2, T, m, vkey,
                            vkeylen);
}

#define DESCRIBE(status, h, m, vk) \
    describe(status, h, GH_NELEM(h), NULL, NULL, m, vk, sizeof(vk))

static void
test_describe(void)
{
    struct gh_cmeta m;
    char vk[128], d0[32], d1[32], d2[32];

    noreq.method = (struct gh_str) GH_STR("GET");

    subtest("describe: max-age and s-maxage") {
        struct gh_hdr h1[] = { hdr("Cache-Control", "max-age=60") };
        struct gh_hdr h2[] = { hdr("Cache-Control", "max-age=60, s-maxage=30")
        };
        struct gh_hdr h3[] = { hdr("cache-control", "public"),
                               hdr("Cache-Control", "max-age=600") };

        memset(&m, 0x5a, sizeof(m));
        is_int(DESCRIBE(200, h1, &m, vk), GH_CC_ST_OK, "max-age=60 stored");
        is_int(m.lifetime, 60, "lifetime 60");
        ok(m.magic == GH_CMETA_MAGIC && m.status == 200 && m.flags == 0
           && m.hdr_len == 0 && m.response_time == T,
           "magic, status, response_time; flags and hdr_len 0");
        ok((m.cc_has & GH_CC_MAX_AGE) && m.max_age == 60, "max-age kept");
        is_int(m.length, -1, "no Content-Length: length -1");
        is_str(vk, "", "no Vary: empty Vary key");
        is_int(DESCRIBE(200, h2, &m, vk), GH_CC_ST_OK, "with s-maxage");
        is_int(m.lifetime, 30, "s-maxage wins in a shared cache");
        is_int(DESCRIBE(200, h3, &m, vk), GH_CC_ST_OK, "two lines");
        is_int(m.lifetime, 600, "both lines read");
        ok((m.cc_has & (GH_CC_PUBLIC | GH_CC_MAX_AGE))
           == (GH_CC_PUBLIC | GH_CC_MAX_AGE), "public and max-age kept");
    }

    subtest("describe: Expires and Date") {
        struct gh_hdr h1[] = { hdr("Date", http_date(T - 10, d0)),
                               hdr("Expires", http_date(T + 290, d1)) };
        struct gh_hdr h2[] = { hdr("Expires", http_date(T + 100, d2)) };
        struct gh_hdr h3[] = { hdr("Date", d0), hdr("Expires", "0") };
        struct gh_hdr h4[] = { hdr("Date", d0), hdr("Expires", d1),
                               hdr("Cache-Control", "max-age=5") };

        is_int(DESCRIBE(200, h1, &m, vk), GH_CC_ST_OK, "Expires stored");
        is_int(m.lifetime, 300, "Expires - Date");
        ok(m.has_date && m.date == T - 10, "Date kept");
        is_int(DESCRIBE(200, h2, &m, vk), GH_CC_ST_OK, "Expires, no Date");
        is_int(m.lifetime, 100, "Expires - response time");
        ok(!m.has_date, "no Date");
        is_int(DESCRIBE(200, h3, &m, vk), GH_CC_ST_OK,
               "invalid Expires: stored");
        is_int(m.lifetime, 0, "but already stale");
        is_int(DESCRIBE(200, h4, &m, vk), GH_CC_ST_OK, "with max-age");
        is_int(m.lifetime, 5, "max-age wins over Expires");
    }

    subtest("describe: Last-Modified heuristic, default_ttl") {
        struct gh_cache_zone z;
        struct gh_cc_policy p;
        struct gh_hdr h1[] = { hdr("Date", http_date(T, d0)),
                               hdr("Last-Modified",
                                   http_date(T - 100000, d1)) };
        struct gh_hdr h2[] = { hdr("Content-Type", "text/plain") };
        struct gh_hdr h3[] = { hdr("Date", d0),
                               hdr("Last-Modified",
                                   http_date(T - 10000000, d2)) };

        memset(&z, 0, sizeof(z));
        z.heuristic_max = 86400 * 1000;
        gh_creq_policy(&z, &p);
        is_int(describe(200, h1, 2, NULL, &p, &m, vk, sizeof(vk)),
               GH_CC_ST_OK, "Last-Modified only: stored");
        is_int(m.lifetime, 10000, "10%% of Date - Last-Modified");
        ok(m.has_last_modified && m.last_modified == T - 100000,
           "Last-Modified kept");
        is_int(describe(200, h3, 2, NULL, &p, &m, vk, sizeof(vk)),
               GH_CC_ST_OK, "a very old Last-Modified");
        is_int(m.lifetime, 86400, "capped at heuristic_max");
        z.heuristic_max = 3600 * 1000;
        gh_creq_policy(&z, &p);
        describe(200, h1, 2, NULL, &p, &m, vk, sizeof(vk));
        is_int(m.lifetime, 3600, "a smaller heuristic_max caps it");
        is_int(describe(302, h1, 2, NULL, &p, &m, vk, sizeof(vk)),
               GH_CC_ST_NO_FRESHNESS,
               "302 is not heuristically cacheable: not stored");
        is_int(describe(200, h2, 1, NULL, &p, &m, vk, sizeof(vk)),
               GH_CC_ST_NO_FRESHNESS,
               "no freshness, no default_ttl: not stored");
        z.default_ttl = 120 * 1000;
        gh_creq_policy(&z, &p);
        is_int(describe(200, h2, 1, NULL, &p, &m, vk, sizeof(vk)),
               GH_CC_ST_OK, "with default_ttl: stored");
        is_int(m.lifetime, 120, "for default_ttl");
        is_int(describe(404, h2, 1, NULL, &p, &m, vk, sizeof(vk)),
               GH_CC_ST_OK, "404 too");
        is_int(describe(200, h1, 2, NULL, &p, &m, vk, sizeof(vk)),
               GH_CC_ST_OK, "Last-Modified with default_ttl");
        is_int(m.lifetime, 3600, "the heuristic comes before default_ttl");
    }

    subtest("describe: refusals") {
        struct gh_hdr ns[] = { hdr("Cache-Control", "no-store, max-age=60") };
        struct gh_hdr pr[] = { hdr("Cache-Control", "private, max-age=60") };
        struct gh_hdr sc[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Set-Cookie", "a=1") };
        struct gh_hdr scp[] = { hdr("Cache-Control", "public, max-age=60"),
                                hdr("Set-Cookie", "a=1") };
        struct gh_hdr sm[] = { hdr("Cache-Control", "s-maxage=60"),
                               hdr("set-cookie", "a=1") };
        struct gh_hdr mf[] = { hdr("Cache-Control", "max-age=60, \"x") };

        is_int(DESCRIBE(200, ns, &m, vk), GH_CC_ST_NO_STORE, "no-store");
        is_int(DESCRIBE(200, pr, &m, vk), GH_CC_ST_PRIVATE, "private");
        is_int(DESCRIBE(200, sc, &m, vk), GH_CC_ST_SET_COOKIE, "Set-Cookie");
        is_int(DESCRIBE(200, scp, &m, vk), GH_CC_ST_OK,
               "Set-Cookie with public: stored");
        is_int(DESCRIBE(200, sm, &m, vk), GH_CC_ST_OK,
               "Set-Cookie with s-maxage: stored");
        is_int(DESCRIBE(200, mf, &m, vk), GH_CC_ST_CC_MALFORMED,
               "malformed Cache-Control");
        is_int(DESCRIBE(206, scp, &m, vk), GH_CC_ST_PARTIAL, "206");
        is_int(DESCRIBE(304, scp, &m, vk), GH_CC_ST_STATUS, "304");
    }

    subtest("describe: Authorization") {
        struct gh_hdr h1[] = { hdr("Cache-Control", "max-age=60") };
        struct gh_hdr h2[] = { hdr("Cache-Control", "public, max-age=60") };
        struct gh_hdr h3[] = { hdr("Cache-Control", "s-maxage=60") };
        struct gh_hdr h4[] = { hdr("Cache-Control",
                                   "must-revalidate, max-age=60") };
        struct gh_hdr qa[] = { hdr("Authorization", "Bearer t") };
        struct gh_http_msg qm = msg(qa, 1);
        struct gh_cc_req q;

        gh_creq_req(&qm, &q);
        is_int(describe(200, h1, 1, &q, NULL, &m, vk, sizeof(vk)),
               GH_CC_ST_AUTHORIZATION, "Authorization, max-age: refused");
        is_int(describe(200, h2, 1, &q, NULL, &m, vk, sizeof(vk)),
               GH_CC_ST_OK, "Authorization, public: stored");
        is_int(describe(200, h3, 1, &q, NULL, &m, vk, sizeof(vk)),
               GH_CC_ST_OK, "Authorization, s-maxage: stored");
        is_int(describe(200, h4, 1, &q, NULL, &m, vk, sizeof(vk)),
               GH_CC_ST_OK, "Authorization, must-revalidate: stored");
    }

    subtest("describe: Vary") {
        struct gh_hdr v1[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Vary", "Accept-Encoding") };
        struct gh_hdr v2[] = { hdr("Vary", "User-Agent"),
                               hdr("Cache-Control", "max-age=60"),
                               hdr("vary", "accept-language, Accept-Encoding, "
                                           "user-agent") };
        struct gh_hdr v3[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Vary", "*") };
        struct gh_hdr v4[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Vary", "Accept-Encoding, *") };
        struct gh_hdr v5[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Vary", "") };
        struct gh_hdr v6[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Vary", "a b") };
        struct gh_hdr rq[] = { hdr("User-Agent", "curl/8"),
                               hdr("Accept-Encoding", "gzip,  br"),
                               hdr("Accept-Language", "fr") };
        struct gh_http_msg q = msg(rq, GH_NELEM(rq));
        char small[8];

        is_int(DESCRIBE(200, v1, &m, vk), GH_CC_ST_OK, "Vary stored");
        is_str(vk, "accept-encoding", "its key, lower case");
        is_int(DESCRIBE(200, v2, &m, vk), GH_CC_ST_OK, "two Vary lines");
        is_str(vk, "accept-encoding,accept-language,user-agent",
               "sorted, unique");
        is_str(variant(vk, &q),
               "accept-encoding=gzip,br\\naccept-language=fr\\n"
               "user-agent=curl/8\\n", "the key gives the request's variant");
        is_int(DESCRIBE(200, v3, &m, vk), GH_CC_ST_VARY_STAR,
               "Vary: * refused");
        is_str(vk, "", "and no key");
        is_int(DESCRIBE(200, v4, &m, vk), GH_CC_ST_VARY_STAR,
               "* in a list refused");
        is_int(DESCRIBE(200, v5, &m, vk), GH_CC_ST_OK, "an empty Vary");
        is_str(vk, "", "gives an empty key");
        is_int(DESCRIBE(200, v6, &m, vk), GH_CC_ST_VARY_INVALID,
               "not a field-name list: refused");
        is_int(describe(200, v2, GH_NELEM(v2), NULL, NULL, &m, small,
                        sizeof(small)), GH_CC_ST_VARY_INVALID,
               "Vary key longer than VKEYLEN: refused");
    }

    subtest("describe: Content-Length, validators") {
        struct gh_hdr c1[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Content-Length", "1234") };
        struct gh_hdr c2[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("content-length", "0") };
        struct gh_hdr c3[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Content-Length", "12x") };
        struct gh_hdr c4[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Content-Length", "") };
        struct gh_hdr c5[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Content-Length",
                                   "99999999999999999999999") };
        struct gh_hdr c6[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Content-Length", "-1") };
        struct gh_hdr e1[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("ETag", "\"v1\"") };
        struct gh_hdr e2[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Last-Modified", http_date(T - 50, d0)) };
        struct gh_hdr e3[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Last-Modified", "yesterday") };

        DESCRIBE(200, c1, &m, vk);
        is_int(m.length, 1234, "Content-Length: 1234");
        DESCRIBE(200, c2, &m, vk);
        is_int(m.length, 0, "Content-Length: 0");
        DESCRIBE(200, c3, &m, vk);
        is_int(m.length, -1, "12x: -1");
        DESCRIBE(200, c4, &m, vk);
        is_int(m.length, -1, "empty: -1");
        DESCRIBE(200, c5, &m, vk);
        is_int(m.length, -1, "too large: -1");
        DESCRIBE(200, c6, &m, vk);
        is_int(m.length, -1, "negative: -1");
        DESCRIBE(200, c1, &m, vk);
        is_int(m.has_validator, 0, "no ETag, no Last-Modified: no validator");
        DESCRIBE(200, e1, &m, vk);
        is_int(m.has_validator, 1, "ETag: a validator");
        DESCRIBE(200, e2, &m, vk);
        ok(m.has_validator && m.has_last_modified
           && m.last_modified == T - 50, "Last-Modified: a validator");
        DESCRIBE(200, e3, &m, vk);
        ok(!m.has_validator && !m.has_last_modified,
           "an invalid Last-Modified is none");
    }

    subtest("describe: initial age") {
        struct gh_hdr a0[] = { hdr("Cache-Control", "max-age=60") };
        struct gh_hdr a1[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Date", http_date(T - 10, d0)) };
        struct gh_hdr a2[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Date", d0), hdr("Age", "100") };
        struct gh_hdr a3[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Age", "5") };
        struct gh_hdr a4[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Date", http_date(T + 50, d1)) };
        struct gh_hdr a5[] = { hdr("Cache-Control", "max-age=60"),
                               hdr("Age", "x"), hdr("Age", "7") };

        DESCRIBE(200, a0, &m, vk);
        is_int(m.initial_age, 2, "no Date, no Age: the response delay");
        DESCRIBE(200, a1, &m, vk);
        is_int(m.initial_age, 10, "Date 10 s ago: apparent age 10");
        DESCRIBE(200, a2, &m, vk);
        is_int(m.initial_age, 102, "Age 100 + 2 s delay beats Date");
        DESCRIBE(200, a3, &m, vk);
        is_int(m.initial_age, 7, "Age 5 + 2 s delay");
        DESCRIBE(200, a4, &m, vk);
        is_int(m.initial_age, 2, "Date in the future: ages nothing");
        DESCRIBE(200, a5, &m, vk);
        is_int(m.initial_age, 9, "an invalid Age, then a valid one");
    }
}

/* ---- keep_field, policy, respdir ---------------------------------------- */

static void
test_keep(void)
{
    static const char *const dropped[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Content-Length", "Age",
        "Set-Cookie", "set-cookie", "SET-COOKIE", "Cache-Status",
        "Proxy-Authenticate", "content-length", "connection"
    };
    static const char *const kept[] = {
        "Content-Type", "ETag", "Last-Modified", "Cache-Control", "Date",
        "Expires", "Vary", "Content-Encoding", "Location", "X-Powered-By",
        "Set-Cookie2", "Content-Length-X", "Ages", "X-Age", "Tea",
        "Content-Range", "WWW-Authenticate"
    };
    int good = 1;

    subtest("keep_field: hop-by-hop and the dropped list") {
        for (size_t i = 0; i < GH_NELEM(dropped); i++) {
            struct gh_hdr h = hdr(dropped[i], "v");

            if (gh_creq_keep_field(&h)) {
                diag("%s kept", dropped[i]);
                good = 0;
            }
        }
        ok(good, "%zu dropped fields not kept", GH_NELEM(dropped));
        good = 1;
        for (size_t i = 0; i < GH_NELEM(kept); i++) {
            struct gh_hdr h = hdr(kept[i], "v");

            if (!gh_creq_keep_field(&h)) {
                diag("%s dropped", kept[i]);
                good = 0;
            }
        }
        ok(good, "%zu ordinary fields kept", GH_NELEM(kept));
        {
            struct gh_hdr h = hdr("X-Listed-In-Connection", "v");

            h.hop = 1;
            is_int(gh_creq_keep_field(&h), 0,
                   "a field marked hop-by-hop (named in Connection)");
            h = hdr("Content-Type", "text/html");
            h.kind = GH_HDR_OTHER;
            is_int(gh_creq_keep_field(&h), 1, "Content-Type kept");
        }
    }
}

static void
test_policy_respdir(void)
{
    subtest("policy: the zone's milliseconds as seconds") {
        struct gh_cache_zone z;
        struct gh_cc_policy p;

        memset(&z, 0, sizeof(z));
        z.heuristic_max = 86400 * 1000;
        z.default_ttl = 60 * 1000;
        z.stale_if_error = 300 * 1000;
        memset(&p, 0x5a, sizeof(p));
        gh_creq_policy(&z, &p);
        ok(p.heuristic_max == 86400 && p.default_ttl == 60
           && p.stale_if_error == 300, "86400 s, 60 s, 300 s");
        z.heuristic_max = 1999;
        z.default_ttl = 0;
        z.stale_if_error = 999;
        gh_creq_policy(&z, &p);
        ok(p.heuristic_max == 1 && p.default_ttl == 0 && p.stale_if_error == 0,
           "1999 ms -> 1 s, 0 -> 0, 999 ms -> 0 (rounded down)");
    }

    subtest("respdir: the stored directives round trip") {
        static const char *const ccs[] = {
            "public, max-age=60, s-maxage=30, stale-while-revalidate=10, "
            "stale-if-error=20, must-revalidate",
            "max-age=60, max-age=70",
            "no-cache, max-age=5, immutable",
            "proxy-revalidate, no-transform, s-maxage=1",
            "",
        };
        struct gh_cc_reqdir qc;

        memset(&qc, 0, sizeof(qc));
        for (size_t i = 0; i < GH_NELEM(ccs); i++) {
            struct gh_hdr h[] = { hdr("Cache-Control", ccs[i]) };
            struct gh_cc_respdir want, got;
            struct gh_cmeta m, copy;
            char vk[64];
            int same = 1;

            memset(&want, 0, sizeof(want));
            (void) gh_cachectl_resp_cc(&want, ccs[i], strlen(ccs[i]));
            (void) describe(200, h, ccs[i][0] ? 1 : 0, NULL, NULL, &m, vk,
                            sizeof(vk));
            memcpy(&copy, &m, sizeof(m));   /* plain data: as in the shm */
            memset(&got, 0x5a, sizeof(got));
            gh_creq_respdir(&copy, &got);
            ok(got.has == want.has && got.bad == want.bad
               && (!(want.has & GH_CC_MAX_AGE) || got.max_age == want.max_age)
               && (!(want.has & GH_CC_S_MAXAGE)
                   || got.s_maxage == want.s_maxage)
               && (!(want.has & GH_CC_SWR) || got.swr == want.swr)
               && (!(want.has & GH_CC_SIE) || got.sie == want.sie)
               && got.no_cache_fields.p == NULL
               && got.private_fields.p == NULL,
               "\"%s\": has, bad, values; no slices", ccs[i]);
            for (int64_t age = 0; age < 100; age += 3)
                for (int failed = 0; failed < 2; failed++)
                    if (gh_cachectl_serve(&got, m.lifetime, age, &qc, &pol,
                                          failed)
                        != gh_cachectl_serve(&want, m.lifetime, age, &qc,
                                             &pol, failed))
                        same = 0;
            ok(same, "\"%s\": serve() decides the same from either", ccs[i]);
        }
    }
}

int
main(void)
{
    test_split();
    test_key();
    test_variant();
    test_req();
    test_describe();
    test_keep();
    test_policy_respdir();
    (void) todo_ok;
    return done_testing();
}
