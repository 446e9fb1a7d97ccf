#include <sys/types.h>

#include "worker/path.h"

/*
 * Request paths are decoded and resolved in one pass, straight into OUT:
 * each decoded byte is appended to the current segment, and a '/' (raw or
 * %2f) ends it.  A segment that turns out to be "." is dropped, ".." drops
 * itself and the segment before it.  Resolving after decoding is the point:
 * a check on the raw bytes would miss "%2e%2e%2f", the classic traversal
 * (CVE-2021-41773 in Apache httpd was that bug).
 */

static int
path_hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;                  /* ASCII lower case; only a-f survive */
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * The segment OUT[SEG..*O) has ended.  Drop it when it is ".", drop it and
 * its parent when it is "..", leaving *O just after a '/'.  ".." in the
 * first segment would leave the root: that is the attack, refuse it.
 */
static int
path_dots(const char *out, size_t *o, size_t seg)
{
    size_t n = *o - seg;

    if (n == 1 && out[seg] == '.') {
        *o = seg;
        return GH_OK;
    }
    if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
        if (seg == 1)
            return GH_ERR;
        n = seg - 1;            /* the '/' that ended the parent */
        while (out[n - 1] != '/')
            n--;
        *o = n;
    }
    return GH_OK;
}

ssize_t
gh_path_normalize(const char *in, size_t len, char *out, size_t outlen)
{
    size_t i, o, seg;
    int hi, lo;

    /*
     * RFC 9112 3.2.1: origin-form starts with '/'.  OUTLEN must hold "/"
     * and the NUL.
     */
    if (len == 0 || in[0] != '/' || outlen < 2)
        return GH_ERR;
    out[0] = '/';
    o = 1;                      /* bytes written; out[o - 1] exists */
    seg = 1;                    /* start of the current segment in out */

    for (i = 1; i < len; i++) {
        unsigned char c = (unsigned char) in[i];

        if (c == '%') {
            /* RFC 3986 2.1: '%' HEXDIG HEXDIG, nothing else. */
            if (len - i < 3
                || (hi = path_hex((unsigned char) in[i + 1])) < 0
                || (lo = path_hex((unsigned char) in[i + 2])) < 0)
                return GH_ERR;
            c = (unsigned char) (hi << 4 | lo);
            i += 2;
        }
        /*
         * NUL would cut the file name short in open(2); CR and LF would
         * split the Location header of a directory redirect.  No file name
         * we serve needs a control byte, raw or decoded.
         */
        if (c < 0x20 || c == 0x7f)
            return GH_ERR;

        if (c != '/') {
            /* One byte for the NUL.  Intermediate text counts too. */
            if (o >= outlen - 1)
                return GH_ERR;
            out[o++] = (char) c;
            continue;
        }

        if (path_dots(out, &o, seg) != GH_OK)
            return GH_ERR;
        if (o > seg) {
            /* An ordinary segment: end it.  Empty ones collapse "//". */
            if (o >= outlen - 1)
                return GH_ERR;
            out[o++] = '/';
        }
        seg = o;
    }

    /*
     * The last segment: a "." or ".." leaves a trailing '/' behind ("/a/b/.."
     * is the directory "/a/"), as does an input ending in '/'.
     */
    if (path_dots(out, &o, seg) != GH_OK)
        return GH_ERR;
    out[o] = '\0';
    return (ssize_t) o;
}
