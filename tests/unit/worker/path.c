/*
 * gh_path_normalize: decoding, "." and "..", and the hostile inputs that
 * try to leave the root or smuggle bytes into open(2) and headers.
 */

#include <string.h>
#include <sys/types.h>

#include "tests/unit/tap.h"
#include "worker/core/gh.h"
#include "worker/path.h"

#define OUTLEN 64

static char out[OUTLEN];

/* Normalise S with an OUTLEN buffer; NULL when rejected. */
static const char *
norm(const char *s)
{
    ssize_t n;

    memset(out, 'X', sizeof(out));
    n = gh_path_normalize(s, strlen(s), out, sizeof(out));
    if (n == GH_ERR)
        return NULL;
    if (n < 0 || (size_t) n >= sizeof(out) || out[n] != '\0'
        || strlen(out) != (size_t) n)
        return "(bad length or missing NUL)";
    return out;
}

/* S with non-printable bytes as \xNN, so a test name stays on one line. */
static const char *
vis(const char *s)
{
    static char buf[512];
    size_t n = 0;

    for (; *s && n < sizeof(buf) - 5; s++) {
        unsigned char c = (unsigned char) *s;

        if (c < 0x20 || c >= 0x7f)
            n += (size_t) snprintf(buf + n, sizeof(buf) - n, "\\x%02x", c);
        else
            buf[n++] = (char) c;
    }
    buf[n] = '\0';
    return buf;
}

#define good(in, want) is_str(norm(in), want, "%s -> %s", vis(in), want)
#define bad(in, why) is_str(norm(in), NULL, "%s rejected: %s", vis(in), why)

int
main(void)
{
    subtest("plain paths") {
        good("/", "/");
        good("/index.html", "/index.html");
        good("/a/b/c", "/a/b/c");
        good("/a/b/", "/a/b/");
        good("/a.b/c.d", "/a.b/c.d");
        good("/...", "/...");
        good("/a/.../b", "/a/.../b");
        good("/.hidden", "/.hidden");
        good("/a/..b/c..", "/a/..b/c..");
        good("/a\\..\\b", "/a\\..\\b");  /* backslash is a byte on Unix */
        good("/caf\xc3\xa9", "/caf\xc3\xa9");
        good("/a b", "/a b");
    }

    subtest("percent-decoding") {
        good("/a%20b", "/a b");
        good("/%41%42%43", "/ABC");
        good("/%7e%7E", "/~~");
        good("/%25", "/%");
        good("/%2525", "/%25");         /* decoded once, not twice */
        good("/a%2fb", "/a/b");         /* %2f is a separator after decoding */
        good("/a%2Fb", "/a/b");
        good("/%c3%a9", "/\xc3\xa9");
        good("/%3f%23", "/?#");
        bad("/a%zz", "bad hex");
        bad("/a%g0", "bad hex");
        bad("/a%0g", "bad hex");
        bad("/a%2", "truncated escape");
        bad("/a%", "truncated escape");
        bad("/%", "truncated escape");
        bad("/a%%41", "'%' after '%'");
        bad("/a%00b", "encoded NUL");
        bad("/a%0d%0aSet-Cookie:x", "encoded CR LF (header splitting)");
        bad("/a%09", "encoded tab");
        bad("/a%7f", "encoded DEL");
        bad("/a%1F", "encoded control byte");
    }

    subtest("slashes and dot segments") {
        good("//a///b/", "/a/b/");
        good("//", "/");
        good("///", "/");
        good("/a/./b/.", "/a/b/");
        good("/./", "/");
        good("/.", "/");
        good("/./a", "/a");
        good("/a/b/..", "/a/");
        good("/a/b/../", "/a/");
        good("/a/b/../c", "/a/c");
        good("/a/b/../../c", "/c");
        good("/a/b/../..", "/");
        good("/a//..", "/");
        good("/a/./../b", "/b");
        good("/a/b/c/../../d/./e/..", "/a/d/");
        good("/a/%2e/b", "/a/b");
        good("/a/%2E%2e/b", "/b");
        good("/a/.%2e/b", "/b");
        good("/a/b/%2e%2e%2fc", "/a/c");
        good("/a/..%2fb", "/b");
        good("/a%2f%2e%2e%2fb", "/b");
        good("/a%2f%2f%2fb", "/a/b");
    }

    subtest("leaving the root") {
        bad("/..", "dot-dot at the root");
        bad("/../", "dot-dot at the root");
        bad("/../etc/passwd", "dot-dot at the root");
        bad("/a/../../etc/passwd", "one dot-dot too many");
        bad("/a/b/../../..", "one dot-dot too many");
        bad("/a/%2e%2e/%2e%2e/b", "encoded dot-dot");
        bad("/%2e%2e%2fetc", "encoded dot-dot and slash");
        bad("/%2E%2E/etc", "upper-case escape");
        bad("/.%2e/etc", "half-encoded dot-dot");
        bad("/%2e./etc", "half-encoded dot-dot");
        bad("/..%2fetc%2fpasswd", "dot-dot then encoded slash");
        bad("/a/..%2f..%2fetc", "dot-dot then encoded slash");
        bad("//../etc", "dot-dot after an empty segment");
        bad("/./../etc", "dot-dot after a dot");
        bad("/a/./../../", "dot-dot after a dot");
        bad("/%2e%2e", "encoded dot-dot at the end");
    }

    subtest("malformed starts") {
        bad("no-leading-slash", "no leading '/'");
        bad("", "empty");
        bad("a/b", "no leading '/'");
        bad("%2fa", "encoded leading '/' is not origin-form");
        bad("*", "asterisk-form");
        bad("http://x/a", "absolute-form is the caller's job");
    }

    subtest("control bytes") {
        char buf[8];
        char in[] = "/a?b";
        int n = 0;

        bad("/a\tb", "raw tab");
        bad("/a\r\nb", "raw CR LF");
        bad("/a\x1b[0m", "raw escape");
        bad("/a\x7f", "raw DEL");
        bad("/\x01", "raw 0x01");
        for (int c = 0; c < 0x20; c++) {
            in[2] = (char) c;
            n += gh_path_normalize(in, 4, buf, sizeof(buf)) == GH_ERR;
        }
        is_int(n, 0x20, "every raw byte 0x00-0x1f rejected");
        is_int(gh_path_normalize("/a\0b", 4, buf, sizeof(buf)), GH_ERR,
               "raw NUL inside LEN rejected");
        is_int(gh_path_normalize("/a\0b", 2, buf, sizeof(buf)), 2,
               "LEN is honoured: bytes after it are not read");
        is_str(buf, "/a", "LEN is honoured: output");
    }

    subtest("output room") {
        char big[OUTLEN * 2 + 1];
        char buf[4];

        memset(big, 'a', sizeof(big) - 1);
        big[0] = '/';
        big[sizeof(big) - 1] = '\0';
        bad(big, "longer than OUTLEN");
        big[OUTLEN - 1] = '\0';         /* OUTLEN - 1 bytes + NUL: fits */
        is_str(norm(big), big, "OUTLEN - 1 bytes fit exactly");
        big[OUTLEN - 1] = 'a';
        big[OUTLEN] = '\0';             /* OUTLEN bytes: no room for NUL */
        bad(big, "no room for the NUL");
        big[OUTLEN - 1] = '/';          /* trailing '/' also needs room */
        bad(big, "no room for a trailing '/'");

        is_int(gh_path_normalize("/abc", 4, buf, sizeof(buf)), GH_ERR,
               "4 bytes do not fit in 4");
        is_int(gh_path_normalize("/ab", 3, buf, sizeof(buf)), 3,
               "3 bytes fit in 4");
        is_int(gh_path_normalize("/", 1, buf, 1), GH_ERR,
               "OUTLEN 1 cannot hold \"/\"");
        is_int(gh_path_normalize("/", 1, buf, 2), 1, "OUTLEN 2 holds \"/\"");
        is_int(gh_path_normalize("/%41", 4, buf, 3), 2,
               "decoded length is what counts");
        is_str(buf, "/A", "decoded into a small buffer");
    }

    subtest("same buffer twice gives the same answer") {
        const char *in = "/x/%2e/y//z/..";
        char a[32], b[32];
        ssize_t n1, n2;

        n1 = gh_path_normalize(in, strlen(in), a, sizeof(a));
        n2 = gh_path_normalize(a, (size_t) n1, b, sizeof(b));
        is_str(a, "/x/y/", "first pass");
        ok(n1 == n2 && strcmp(a, b) == 0, "normalising is idempotent");
    }

    return done_testing();
}
