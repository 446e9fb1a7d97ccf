/*
 * worker/cachectl.c, the shared cache's policy: HTTP dates, Cache-Control,
 * Vary, storability, lifetime, age, serving decisions, conditionals and
 * Range, then random bytes through every parser.
 */

#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "tests/unit/tap.h"
#include "worker/cachectl.h"
#include "worker/core/gh.h"

#define SUNDAY_1994 784111777           /* Sun, 06 Nov 1994 08:49:37 GMT */
#define NOW_2025    1749988800          /* Sun, 15 Jun 2025 12:00:00 GMT */
#define YEAR_10000  INT64_C(253402300800)

/* ---- helpers ------------------------------------------------------------ */

/* Parse S as a date at NOW_2025: the time, or -999 when rejected. */
static long long
date_at(const char *s, time_t now)
{
    time_t t;

    if (gh_cachectl_date_parse(s, strlen(s), now, &t) != GH_OK)
        return -999;
    return (long long) t;
}

static long long
date(const char *s)
{
    return date_at(s, NOW_2025);
}

/* S with control and non-ASCII bytes as \xNN, for a one-line test name. */
static const char *
vis(const char *s)
{
    static char buf[256];
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

#define good_date(s, want) is_int(date(s), want, "date \"%s\"", vis(s))
#define bad_date(s, why) is_int(date(s), -999, "date \"%s\" rejected: %s", \
                                vis(s), why)

static const char *
fmt(time_t t)
{
    static char buf[64];

    if (gh_cachectl_date_format(t, buf, sizeof(buf)) != GH_CC_DATE_LEN)
        return NULL;
    return buf;
}

/* S's response Cache-Control in a fresh struct. */
static struct gh_cc_respdir
rcc(const char *s)
{
    struct gh_cc_respdir cc;

    memset(&cc, 0, sizeof(cc));
    (void) gh_cachectl_resp_cc(&cc, s, strlen(s));     /* checked by caller */
    return cc;
}

static struct gh_cc_reqdir
qcc(const char *s)
{
    struct gh_cc_reqdir cc;

    memset(&cc, 0, sizeof(cc));
    (void) gh_cachectl_req_cc(&cc, s, strlen(s));
    return cc;
}

static int
slice_is(struct gh_str s, const char *want)
{
    if (s.p == NULL)
        return want == NULL;
    return want != NULL && s.len == strlen(want)
           && memcmp(s.p, want, s.len) == 0;
}

/* ---- dates -------------------------------------------------------------- */

static void
test_dates(void)
{
    subtest("the three forms (RFC 9110 5.6.7 examples)") {
        good_date("Sun, 06 Nov 1994 08:49:37 GMT", SUNDAY_1994);
        good_date("Sunday, 06-Nov-94 08:49:37 GMT", SUNDAY_1994);
        good_date("Sun Nov  6 08:49:37 1994", SUNDAY_1994);
        good_date("Sun Nov 06 08:49:37 1994", SUNDAY_1994);
    }

    subtest("calendar edges") {
        good_date("Thu, 01 Jan 1970 00:00:00 GMT", 0);
        good_date("Wed, 31 Dec 1969 23:59:59 GMT", -1);
        good_date("Mon, 01 Jan 1900 00:00:00 GMT", -2208988800LL);
        good_date("Thu, 29 Feb 2024 12:00:00 GMT", 1709208000);
        good_date("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);
        good_date("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL);
        good_date("Sat, 01 Jan 0000 00:00:00 GMT", -62167219200LL);
        good_date("Sun, 06 Nov 1994 08:49:60 GMT", SUNDAY_1994 + 23);
        bad_date("Wed, 29 Feb 2023 12:00:00 GMT", "2023 is not leap");
        bad_date("Thu, 29 Feb 1900 12:00:00 GMT", "1900 is not leap");
        bad_date("Fri, 30 Feb 2024 12:00:00 GMT", "30 Feb");
        bad_date("Thu, 31 Apr 2024 12:00:00 GMT", "31 Apr");
        bad_date("Sun, 00 Nov 1994 08:49:37 GMT", "day 0");
        bad_date("Sun, 32 Dec 1994 08:49:37 GMT", "day 32");
        bad_date("Sun, 06 Nov 1994 24:00:00 GMT", "hour 24");
        bad_date("Sun, 06 Nov 1994 08:60:37 GMT", "minute 60");
        bad_date("Sun, 06 Nov 1994 08:49:61 GMT", "second 61");
        bad_date("Sun Nov  0 08:49:37 1994", "asctime day 0");
        bad_date("Sunday, 31-Nov-94 08:49:37 GMT", "RFC 850 31 Nov");
    }

    subtest("names: case-sensitive, checked, weekday not cross-checked") {
        good_date("Mon, 06 Nov 1994 08:49:37 GMT", SUNDAY_1994);
        good_date("Friday, 06-Nov-94 08:49:37 GMT", SUNDAY_1994);
        bad_date("sun, 06 Nov 1994 08:49:37 GMT", "lower-case day");
        bad_date("Sun, 06 nov 1994 08:49:37 GMT", "lower-case month");
        bad_date("Sun, 06 NOV 1994 08:49:37 GMT", "upper-case month");
        bad_date("Sun, 06 Nov 1994 08:49:37 gmt", "lower-case GMT");
        bad_date("Sun, 06 Nov 1994 08:49:37 UTC", "UTC");
        bad_date("Sun, 06 Nov 1994 08:49:37 +0000", "numeric zone");
        bad_date("Sun, 06 Foo 1994 08:49:37 GMT", "no such month");
        bad_date("Xyz, 06 Nov 1994 08:49:37 GMT", "no such day");
        bad_date("Sunday, 06 Nov 1994 08:49:37 GMT", "long day in IMF");
        bad_date("Sun, 06-Nov-94 08:49:37 GMT", "short day in RFC 850");
        bad_date("Sundae, 06-Nov-94 08:49:37 GMT", "bad long day");
        bad_date("Sunday Nov  6 08:49:37 1994", "long day in asctime");
    }

    subtest("spacing and shape are exact") {
        bad_date(" Sun, 06 Nov 1994 08:49:37 GMT", "leading space");
        bad_date("Sun, 06 Nov 1994 08:49:37 GMT ", "trailing space");
        bad_date("Sun, 06 Nov 1994 08:49:37 GMT\r\n", "CRLF");
        bad_date("Sun,  06 Nov 1994 08:49:37 GMT", "two spaces");
        bad_date("Sun, 6 Nov 1994 08:49:37 GMT", "one-digit day");
        bad_date("Sun, 06 Nov 94 08:49:37 GMT", "two-digit year in IMF");
        bad_date("Sun, 06 Nov 1994 8:49:37 GMT", "one-digit hour");
        bad_date("Sun, 06 Nov 1994 08.49.37 GMT", "dots");
        bad_date("Sun, 06 Nov 1994 08:49:37 GMTX", "junk after");
        bad_date("Sun, 06 Nov 1994 08:49:3x GMT", "letter in second");
        bad_date("Sun, 06 Nov -994 08:49:37 GMT", "sign in year");
        bad_date("Sunday, 06-Nov-1994 08:49:37 GMT", "four-digit RFC 850 "
                 "year");
        bad_date("Sunday, 06-Nov-94 08:49:37", "RFC 850 without GMT");
        bad_date("Sunday,06-Nov-94 08:49:37 GMT", "RFC 850 no space");
        bad_date("Sun Nov  6 08:49:37 1994 GMT", "asctime with GMT");
        bad_date("Sun Nov 6 08:49:37 1994", "asctime one space");
        bad_date("Sun Nov  6 08:49:37 94", "asctime short year");
        bad_date("", "empty");
        bad_date("0", "Expires: 0");
        bad_date("-1", "a number");
        bad_date("Sun", "a day name");
        bad_date(",,,,,,,,,,,,,,,,,,,,,,,,,,,,,", "29 commas");
        {
            time_t t;
            const char *s = "Sun, 06 Nov 1994 08:49:37 GMT";
            char nul[30];

            memcpy(nul, s, 30);
            nul[10] = '\0';
            ok(gh_cachectl_date_parse(nul, 29, NOW_2025, &t) == GH_ERR,
               "a NUL inside the 29 bytes");
        }
    }

    subtest("truncated: every prefix of each form fails") {
        static const char *forms[] = {
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        };
        time_t t;

        for (size_t f = 0; f < GH_NELEM(forms); f++) {
            size_t n = strlen(forms[f]);
            int bad = 0;

            for (size_t k = 0; k < n; k++)
                if (gh_cachectl_date_parse(forms[f], k, NOW_2025, &t)
                    != GH_ERR)
                    bad++;
            is_int(bad, 0, "no prefix of \"%s\" parses", forms[f]);
            ok(gh_cachectl_date_parse(forms[f], n, NOW_2025, &t) == GH_OK,
               "the whole does");
        }
    }

    subtest("RFC 850 two-digit years, at 15 Jun 2025 12:00:00") {
        good_date("Sunday, 06-Nov-94 08:49:37 GMT", SUNDAY_1994);
        good_date("Thursday, 06-Nov-25 08:49:37 GMT", 1762418977);
        good_date("Monday, 06-Nov-00 08:49:37 GMT", 973500577);
        good_date("Sunday, 06-Nov-05 08:49:37 GMT", 1131266977);
        good_date("Sunday, 06-Jan-75 08:49:37 GMT", 3313990177LL);
        good_date("Thursday, 06-Nov-75 08:49:37 GMT", 184495777);
        good_date("Saturday, 06-Nov-76 08:49:37 GMT", 216118177);
        good_date("Saturday, 15-Jun-75 12:00:00 GMT", 3327825600LL);
        good_date("Sunday, 15-Jun-75 12:00:01 GMT", 172065601);
        is_int(date_at("Sunday, 06-Nov-05 08:49:37 GMT", 946598400),
               1131266977, "at 31 Dec 1999: 05 is 2005");
        is_int(date_at("Sunday, 06-Nov-29 08:49:37 GMT", 3471292800LL),
               5044322977LL, "at 1 Jan 2080: 29 is 2129");
        is_int(date_at("Sunday, 01-Jan-30 00:00:00 GMT", 3471292800LL),
               5049129600LL, "at 1 Jan 2080: 01-Jan-30 is exactly 50 years "
               "ahead: 2130");
        is_int(date_at("Sunday, 01-Jan-30 00:00:01 GMT", 3471292800LL),
               1893456001LL, "... a second later is more: 2030");
        is_int(date_at("Sunday, 06-Nov-94 08:49:37 GMT", -5), SUNDAY_1994,
               "a clock before 1970 is taken as 1970");
        is_int(date_at("Sunday, 06-Nov-94 08:49:37 GMT", (time_t) INT64_MAX),
               date_at("Sunday, 06-Nov-94 08:49:37 GMT", YEAR_10000 - 1),
               "a clock past 9999 is taken as 9999");
    }

    subtest("IMF-fixdate formatting") {
        char buf[30];

        is_str(fmt(SUNDAY_1994), "Sun, 06 Nov 1994 08:49:37 GMT", "1994");
        is_str(fmt(0), "Thu, 01 Jan 1970 00:00:00 GMT", "epoch");
        is_str(fmt(-1), "Wed, 31 Dec 1969 23:59:59 GMT", "before the epoch");
        is_str(fmt(951782400), "Tue, 29 Feb 2000 00:00:00 GMT", "leap day");
        is_str(fmt(253402300799LL), "Fri, 31 Dec 9999 23:59:59 GMT",
               "last second of 9999");
        is_str(fmt(-62167219200LL), "Sat, 01 Jan 0000 00:00:00 GMT",
               "first second of year 0");
        is_str(fmt(YEAR_10000), NULL, "year 10000 has no IMF-fixdate");
        is_str(fmt(-62167219201LL), NULL, "year -1 neither");
        is_str(fmt((time_t) INT64_MIN), NULL, "INT64_MIN");
        is_str(fmt((time_t) INT64_MAX), NULL, "INT64_MAX");
        is_int(gh_cachectl_date_format(0, buf, 29), GH_ERR,
               "29 bytes: no room for the NUL");
        is_int(buf[0], 0, "and the buffer holds \"\"");
        is_int(gh_cachectl_date_format(0, buf, 30), GH_CC_DATE_LEN,
               "30 bytes are enough");
        is_int(gh_cachectl_date_format(0, NULL, 0), GH_ERR,
               "no buffer at all");
    }

    subtest("format then parse is the identity over 0000-9999") {
        uint64_t x = 88172645463325252ULL;
        int bad = 0;

        for (int i = 0; i < 20000; i++) {
            int64_t t;
            time_t back;
            const char *s;

            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t = (int64_t) (x % (uint64_t) (YEAR_10000 + 62167219200LL))
                - 62167219200LL;
            s = fmt((time_t) t);
            if (s == NULL || gh_cachectl_date_parse(s, strlen(s), 0, &back)
                             != GH_OK || back != t) {
                if (bad++ == 0)
                    diag("%lld -> %s", (long long) t, s ? s : "(null)");
            }
        }
        is_int(bad, 0, "20000 random times round-trip");
    }
}

/* ---- Cache-Control ------------------------------------------------------ */

static void
test_resp_cc(void)
{
    struct gh_cc_respdir cc;

    subtest("response: max-age and its values") {
        cc = rcc("max-age=60");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 60 && !cc.bad
           && !cc.malformed, "max-age=60");
        cc = rcc("MAX-AGE=60");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 60, "name case");
        cc = rcc("Max-Age=0");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 0, "max-age=0");
        cc = rcc("max-age=\"10\"");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 10,
           "quoted \"10\" accepted (RFC 9111 5.2)");
        cc = rcc("max-age=-1");
        ok(!(cc.has & GH_CC_MAX_AGE) && (cc.bad & GH_CC_MAX_AGE)
           && !cc.malformed, "-1 is invalid, not malformed");
        cc = rcc("max-age=abc");
        ok(cc.bad == GH_CC_MAX_AGE && !cc.has, "abc invalid");
        cc = rcc("max-age=+10");
        ok(cc.bad == GH_CC_MAX_AGE, "+10 invalid");
        cc = rcc("max-age=10.5");
        ok(cc.bad == GH_CC_MAX_AGE, "10.5 invalid");
        cc = rcc("max-age=1e3");
        ok(cc.bad == GH_CC_MAX_AGE, "1e3 invalid");
        cc = rcc("max-age=\"\"");
        ok(cc.bad == GH_CC_MAX_AGE, "\"\" invalid");
        cc = rcc("max-age=\" 10\"");
        ok(cc.bad == GH_CC_MAX_AGE, "\" 10\" invalid");
        cc = rcc("max-age=\"1\\0\"");
        ok(cc.bad == GH_CC_MAX_AGE && !cc.malformed,
           "a quoted-pair in a number is invalid");
        cc = rcc("max-age");
        ok(cc.bad == GH_CC_MAX_AGE, "no value");
        cc = rcc("max-age=");
        ok(cc.bad == GH_CC_MAX_AGE && cc.malformed, "'=' and nothing");
        cc = rcc("max-age=2147483647");
        ok(cc.max_age == 2147483647LL, "2^31 - 1 kept");
        cc = rcc("max-age=2147483648");
        ok(cc.max_age == GH_CC_DELTA_MAX, "2^31 kept");
        cc = rcc("max-age=2147483649");
        ok(cc.max_age == GH_CC_DELTA_MAX, "2^31 + 1 capped");
        cc = rcc("max-age=999999999999999999999999999999");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == GH_CC_DELTA_MAX,
           "30 digits capped, no overflow");
        cc = rcc("max-age=000060");
        ok(cc.max_age == 60, "leading zeros");
    }

    subtest("response: repeats (RFC 9111 4.2.1)") {
        cc = rcc("max-age=60, max-age=60");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 60 && !cc.bad,
           "the same value twice is fine");
        cc = rcc("max-age=60, max-age=120");
        ok(!cc.has && cc.bad == GH_CC_MAX_AGE, "two values: void");
        cc = rcc("max-age=abc, max-age=60");
        ok(!cc.has && cc.bad == GH_CC_MAX_AGE,
           "invalid then valid: stays void");
        cc = rcc("max-age=60, max-age=60, max-age=61, max-age=60");
        ok(cc.bad == GH_CC_MAX_AGE && !cc.has, "a later conflict voids");
        memset(&cc, 0, sizeof(cc));
        is_int(gh_cachectl_resp_cc(&cc, "max-age=60", 10), GH_OK, "line 1");
        is_int(gh_cachectl_resp_cc(&cc, "public, max-age=120", 19), GH_OK,
               "line 2");
        ok(cc.bad == GH_CC_MAX_AGE && cc.has == GH_CC_PUBLIC
           && cc.nfields == 2, "conflict across field lines");
        cc = rcc("s-maxage=1, s-maxage=2");
        ok(cc.bad == GH_CC_S_MAXAGE, "s-maxage conflict");
        cc = rcc("stale-while-revalidate=1, stale-while-revalidate=2");
        ok(cc.bad == GH_CC_SWR && !cc.has, "swr conflict: void");
        cc = rcc("no-store, no-store");
        ok(cc.has == GH_CC_NO_STORE, "flags may repeat");
    }

    subtest("response: each directive") {
        cc = rcc("s-maxage=30");
        ok(cc.has == GH_CC_S_MAXAGE && cc.s_maxage == 30, "s-maxage");
        cc = rcc("no-store");
        ok(cc.has == GH_CC_NO_STORE, "no-store");
        cc = rcc("no-store=1");
        ok(cc.has == GH_CC_NO_STORE && !cc.bad,
           "no-store with an argument still counts");
        cc = rcc("public");
        ok(cc.has == GH_CC_PUBLIC, "public");
        cc = rcc("public=yes");
        ok(!cc.has && cc.bad == GH_CC_PUBLIC, "public=yes is void");
        cc = rcc("public=yes, public");
        ok(!cc.has && cc.bad == GH_CC_PUBLIC, "and stays void");
        cc = rcc("must-revalidate");
        ok(cc.has == GH_CC_MUST_REVALIDATE, "must-revalidate");
        cc = rcc("proxy-revalidate");
        ok(cc.has == GH_CC_PROXY_REVALIDATE, "proxy-revalidate");
        cc = rcc("no-transform");
        ok(cc.has == GH_CC_NO_TRANSFORM, "no-transform");
        cc = rcc("must-understand, no-store");
        ok(cc.has == (GH_CC_MUST_UNDERSTAND | GH_CC_NO_STORE),
           "must-understand");
        cc = rcc("must-understand=1");
        ok(!cc.has && cc.bad == GH_CC_MUST_UNDERSTAND,
           "must-understand with an argument is void");
        cc = rcc("immutable");
        ok(cc.has == GH_CC_IMMUTABLE, "immutable");
        cc = rcc("immutable=\"x\"");
        ok(cc.bad == GH_CC_IMMUTABLE, "immutable with an argument");
        cc = rcc("stale-while-revalidate=30");
        ok(cc.has == GH_CC_SWR && cc.swr == 30, "stale-while-revalidate");
        cc = rcc("stale-if-error=600");
        ok(cc.has == GH_CC_SIE && cc.sie == 600, "stale-if-error");
        cc = rcc("stale-if-error");
        ok(cc.bad == GH_CC_SIE, "stale-if-error needs a value");
        cc = rcc("max-stale=5, only-if-cached, min-fresh=3");
        ok(!cc.has && !cc.bad && !cc.malformed,
           "request-only directives mean nothing in a response");
    }

    subtest("response: no-cache and private, plain and qualified") {
        cc = rcc("no-cache");
        ok(cc.has == GH_CC_NO_CACHE && cc.no_cache_fields.p == NULL,
           "no-cache");
        cc = rcc("no-cache=\"Set-Cookie, X-Foo\"");
        ok(cc.has == GH_CC_NO_CACHE_FIELDS
           && slice_is(cc.no_cache_fields, "Set-Cookie, X-Foo"),
           "qualified: the list is recorded");
        cc = rcc("no-cache=Set-Cookie");
        ok(cc.has == GH_CC_NO_CACHE_FIELDS
           && slice_is(cc.no_cache_fields, "Set-Cookie"), "token form");
        cc = rcc("no-cache=\"\"");
        ok(cc.has == GH_CC_NO_CACHE, "an empty list is plain no-cache");
        cc = rcc("no-cache=\"a\", no-cache=\"b\", no-cache");
        ok(cc.has == (GH_CC_NO_CACHE | GH_CC_NO_CACHE_FIELDS)
           && slice_is(cc.no_cache_fields, "a"),
           "both forms; the first list kept");
        cc = rcc("private");
        ok(cc.has == GH_CC_PRIVATE, "private");
        cc = rcc("private=\"Set-Cookie\"");
        ok(cc.has == GH_CC_PRIVATE_FIELDS
           && slice_is(cc.private_fields, "Set-Cookie"), "qualified private");
        cc = rcc("PRIVATE");
        ok(cc.has == GH_CC_PRIVATE, "case");
        {
            struct gh_cc_vary v;

            cc = rcc("no-cache=\"Set-Cookie, X-Foo\"");
            memset(&v, 0, sizeof(v));
            is_int(gh_cachectl_vary_parse(&v, cc.no_cache_fields.p,
                                          cc.no_cache_fields.len), GH_OK,
                   "the list reads with the Vary parser");
            ok(v.n == 2 && slice_is(v.names[1], "X-Foo"), "two names");
        }
    }

    subtest("response: spacing, lists, extensions (RFC 9111 5.2.3)") {
        cc = rcc(" max-age = 60 ");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 60 && !cc.malformed,
           "OWS around '=' tolerated");
        cc = rcc("max-age=60\t,\tpublic");
        ok(cc.has == (GH_CC_MAX_AGE | GH_CC_PUBLIC), "tabs");
        cc = rcc(",, max-age=60 ,, ,public,");
        ok(cc.has == (GH_CC_MAX_AGE | GH_CC_PUBLIC) && !cc.malformed,
           "empty list elements skipped");
        cc = rcc("");
        ok(!cc.has && !cc.bad && !cc.malformed && cc.nfields == 1,
           "an empty line");
        cc = rcc("private, community=\"UCI\"");
        ok(cc.has == GH_CC_PRIVATE && !cc.malformed,
           "the RFC's extension example: ignored");
        cc = rcc("foo=\"bar, baz\", max-age=5");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 5,
           "a comma inside quotes separates nothing");
        cc = rcc("foo=\"a \\\" , private\", max-age=5");
        ok(cc.has == GH_CC_MAX_AGE && !cc.malformed,
           "an escaped quote inside quotes");
        cc = rcc("x-ext, x-ext2=1, max-age=5");
        ok(cc.has == GH_CC_MAX_AGE, "unknown directives ignored");
        cc = rcc("max-agex=5, xmax-age=5, max-age5");
        ok(!cc.has && !cc.bad, "near misses are other directives");
    }

    subtest("response: malformed fields") {
        memset(&cc, 0, sizeof(cc));
        is_int(gh_cachectl_resp_cc(&cc, "max-age 60", 10), GH_ERR,
               "missing '=' returns GH_ERR");
        ok(cc.malformed && (cc.bad & GH_CC_MAX_AGE), "malformed, void");
        cc = rcc("max-age=60 private");
        ok(cc.malformed, "missing comma");
        cc = rcc("max-age=60;public");
        ok(cc.malformed && (cc.bad & GH_CC_MAX_AGE), "';' after a value");
        cc = rcc("no-cache=\"a");
        ok(cc.malformed && cc.has == GH_CC_NO_CACHE,
           "unterminated list: plain no-cache, malformed");
        cc = rcc("private;x");
        ok(cc.malformed && cc.has == GH_CC_PRIVATE,
           "a restrictive directive still counts");
        cc = rcc("max-age=5, @, private");
        ok(cc.malformed && cc.has == (GH_CC_MAX_AGE | GH_CC_PRIVATE),
           "a bad element is skipped, the rest read");
        cc = rcc("\x01");
        ok(cc.malformed && !cc.has, "a control byte");
        cc = rcc("\"private\"");
        ok(cc.malformed && !cc.has, "a quoted name");
        cc = rcc("foo=\"a\x01\", private");
        ok(cc.malformed && cc.has == GH_CC_PRIVATE,
           "a control byte in quotes: the string is skipped whole");
        cc = rcc("foo=\"a\\");
        ok(cc.malformed, "a backslash at the end");
        cc = rcc("=5");
        ok(cc.malformed, "no name");
        cc = rcc("max-age=\"10\"x");
        ok(cc.malformed && (cc.bad & GH_CC_MAX_AGE),
           "bytes after the closing quote");
        {
            const char *s = "max-age=60, private";

            memset(&cc, 0, sizeof(cc));
            (void) gh_cachectl_resp_cc(&cc, s, 10);
            ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 60,
               "only LEN bytes are read");
        }
    }
}

static void
test_req_cc(void)
{
    struct gh_cc_reqdir cc;

    subtest("request directives") {
        cc = qcc("max-age=0");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 0, "max-age=0");
        cc = qcc("max-stale");
        ok(cc.has == GH_CC_MAX_STALE && cc.max_stale == GH_CC_FOREVER,
           "max-stale without a value: any");
        cc = qcc("max-stale=10");
        ok(cc.has == GH_CC_MAX_STALE && cc.max_stale == 10, "max-stale=10");
        cc = qcc("max-stale=\"10\"");
        ok(cc.max_stale == 10, "quoted");
        cc = qcc("max-stale=abc");
        ok(!cc.has && cc.bad == GH_CC_MAX_STALE, "max-stale=abc ignored");
        cc = qcc("min-fresh=5");
        ok(cc.has == GH_CC_MIN_FRESH && cc.min_fresh == 5, "min-fresh");
        cc = qcc("min-fresh");
        ok(!cc.has && cc.bad == GH_CC_MIN_FRESH, "min-fresh needs a value");
        cc = qcc("No-Cache");
        ok(cc.has == GH_CC_NO_CACHE, "no-cache");
        cc = qcc("no-store");
        ok(cc.has == GH_CC_NO_STORE, "no-store");
        cc = qcc("only-if-cached");
        ok(cc.has == GH_CC_ONLY_IF_CACHED, "only-if-cached");
        cc = qcc("stale-if-error=60");
        ok(cc.has == GH_CC_SIE && cc.sie == 60, "stale-if-error");
        cc = qcc("no-transform");
        ok(cc.has == GH_CC_NO_TRANSFORM, "no-transform");
        cc = qcc("max-age=-1");
        ok(!cc.has && cc.bad == GH_CC_MAX_AGE, "max-age=-1 ignored");
        cc = qcc("max-age=99999999999");
        ok(cc.max_age == GH_CC_DELTA_MAX, "capped");
        cc = qcc("public, private, s-maxage=5, must-revalidate, immutable");
        ok(!cc.has && !cc.bad, "response-only directives mean nothing");
    }

    subtest("request repeats: the most restrictive") {
        cc = qcc("max-age=10, max-age=5");
        ok(cc.max_age == 5, "smallest max-age");
        cc = qcc("max-age=5, max-age=10");
        ok(cc.max_age == 5, "in any order");
        cc = qcc("min-fresh=1, min-fresh=9");
        ok(cc.min_fresh == 9, "largest min-fresh");
        cc = qcc("max-stale, max-stale=5");
        ok(cc.max_stale == 5, "a bound beats 'any'");
        cc = qcc("max-stale=5, max-stale");
        ok(cc.max_stale == 5, "in any order");
        cc = qcc("stale-if-error=60, stale-if-error=30");
        ok(cc.sie == 30, "smallest stale-if-error");
        cc = qcc("max-age=abc, max-age=7");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 7
           && cc.bad == GH_CC_MAX_AGE, "invalid, then valid: valid used");
        cc = qcc("max-age=7, max-age=abc");
        ok(cc.has == GH_CC_MAX_AGE && cc.max_age == 7, "valid kept");
        cc = qcc("no-cache;x, max-age=3");
        ok(cc.malformed && cc.has == (GH_CC_NO_CACHE | GH_CC_MAX_AGE),
           "malformed: noted, no-cache still counts");
    }

    subtest("Pragma: no-cache (RFC 9111 5.4)") {
        memset(&cc, 0, sizeof(cc));
        is_int(gh_cachectl_req_pragma(&cc, "no-cache", 8), 1,
               "without Cache-Control: applied");
        ok(cc.has == GH_CC_NO_CACHE, "as no-cache");
        memset(&cc, 0, sizeof(cc));
        is_int(gh_cachectl_req_pragma(&cc, "x=1, NO-CACHE", 13), 1,
               "in a list, any case");
        memset(&cc, 0, sizeof(cc));
        (void) gh_cachectl_req_cc(&cc, "max-age=10", 10);
        is_int(gh_cachectl_req_pragma(&cc, "no-cache", 8), 0,
               "with Cache-Control: ignored");
        ok(!(cc.has & GH_CC_NO_CACHE), "no no-cache");
        memset(&cc, 0, sizeof(cc));
        (void) gh_cachectl_req_cc(&cc, "", 0);
        is_int(gh_cachectl_req_pragma(&cc, "no-cache", 8), 0,
               "even an empty Cache-Control line wins");
        memset(&cc, 0, sizeof(cc));
        is_int(gh_cachectl_req_pragma(&cc, "no-cache=1", 10), 0,
               "no-cache=1 is another pragma");
        is_int(gh_cachectl_req_pragma(&cc, "no-cachex", 9), 0, "no-cachex");
        is_int(gh_cachectl_req_pragma(&cc, "", 0), 0, "empty");
    }
}

/* ---- Vary --------------------------------------------------------------- */

static const char *
vkey(const char *line1, const char *line2)
{
    static char out[256];
    struct gh_cc_vary v;

    memset(&v, 0, sizeof(v));
    (void) gh_cachectl_vary_parse(&v, line1, strlen(line1));
    if (line2 != NULL)
        (void) gh_cachectl_vary_parse(&v, line2, strlen(line2));
    if (gh_cachectl_vary_key(&v, out, sizeof(out)) < 0)
        return NULL;
    return out;
}

static void
test_vary(void)
{
    struct gh_cc_vary v;
    char small[16];

    subtest("Vary names and the secondary key") {
        is_str(vkey("Accept-Encoding", NULL), "accept-encoding", "one");
        is_str(vkey("Accept-Language, accept-encoding", NULL),
               "accept-encoding,accept-language", "lower-cased, sorted");
        is_str(vkey("User-Agent", "ACCEPT-encoding, user-agent"),
               "accept-encoding,user-agent", "two lines, duplicates once");
        is_str(vkey("Accept-Encoding,", NULL), "accept-encoding",
               "trailing comma");
        is_str(vkey(" , Origin ,, ", NULL), "origin", "empty elements");
        is_str(vkey("", NULL), "", "empty: no names");
        is_str(vkey("a, ab, A, b", NULL), "a,ab,b", "prefixes sort first");
        is_str(vkey("*", NULL), NULL, "\"*\": no key");
        is_str(vkey("Accept, *", NULL), NULL, "\"*\" in a list");
        is_str(vkey("a b", NULL), NULL, "two tokens without a comma");
        is_str(vkey("Accept-Encoding;q=1", NULL), NULL, "';'");
        is_str(vkey("\"Accept\"", NULL), NULL, "quoted");
    }

    subtest("Vary limits") {
        char line[512];
        size_t n = 0;

        for (int i = 0; i < GH_CC_VARY_MAX; i++)
            n += (size_t) snprintf(line + n, sizeof(line) - n, "h%d,", i);
        memset(&v, 0, sizeof(v));
        is_int(gh_cachectl_vary_parse(&v, line, n), GH_OK, "16 names fit");
        is_int(v.n, GH_CC_VARY_MAX, "all kept");
        is_int(gh_cachectl_vary_parse(&v, "H3", 2), GH_OK,
               "a seventeenth that repeats is fine");
        is_int(gh_cachectl_vary_parse(&v, "h16", 3), GH_ERR,
               "a seventeenth new one is not");
        ok(v.invalid, "invalid");
        is_int(gh_cachectl_vary_key(&v, line, sizeof(line)), GH_DECLINED,
               "no key");

        memset(&v, 0, sizeof(v));
        (void) gh_cachectl_vary_parse(&v, "Accept-Encoding", 15);
        is_int(gh_cachectl_vary_key(&v, small, 15), GH_ERR,
               "key: no room for the NUL");
        is_str(small, "", "and \"\" left");
        is_int(gh_cachectl_vary_key(&v, small, 16), 15, "16 bytes suffice");
        is_int(gh_cachectl_vary_key(&v, small, 0), GH_ERR, "no buffer");
        memset(&v, 0, sizeof(v));
        (void) gh_cachectl_vary_parse(&v, "*", 1);
        ok(v.star && !v.invalid && v.n == 0, "star alone");
    }
}

/* ---- storability and lifetime ------------------------------------------- */

static const struct gh_cc_policy pol = {
    .heuristic_max = 86400, .default_ttl = 0, .stale_if_error = 0
};

static struct gh_cc_req
req(const char *method, const char *cc)
{
    struct gh_cc_req q;

    memset(&q, 0, sizeof(q));
    q.method.p = method;
    q.method.len = strlen(method);
    if (cc != NULL)
        (void) gh_cachectl_req_cc(&q.cc, cc, strlen(cc));
    return q;
}

static struct gh_cc_resp
resp(int status, const char *cc)
{
    struct gh_cc_resp r;

    memset(&r, 0, sizeof(r));
    r.status = status;
    r.age = -1;
    r.date = 1000000;
    r.has_date = 1;
    if (cc != NULL)
        (void) gh_cachectl_resp_cc(&r.cc, cc, strlen(cc));
    return r;
}

static const char *
store(const struct gh_cc_req *q, const struct gh_cc_resp *r)
{
    enum gh_cc_lt how;

    (void) gh_cachectl_lifetime(r, 1000000, &pol, &how);
    return gh_cachectl_store_name(gh_cachectl_storable(q, r, how));
}

static void
test_storable(void)
{
    struct gh_cc_req q = req("GET", NULL), q2;
    struct gh_cc_resp r = resp(200, "max-age=60"), r2;
    struct gh_cc_vary vs, vi, vl;

    subtest("storable: the base case and the method") {
        is_str(store(&q, &r), "stored", "GET 200 max-age=60");
        q2 = req("HEAD", NULL);
        is_str(store(&q2, &r), "stored", "HEAD");
        q2 = req("POST", NULL);
        is_str(store(&q2, &r), "method", "POST");
        q2 = req("get", NULL);
        is_str(store(&q2, &r), "method", "methods are case-sensitive");
        q2 = req("GETX", NULL);
        is_str(store(&q2, &r), "method", "GETX");
        q2 = req("", NULL);
        is_str(store(&q2, &r), "method", "empty");
        q2 = req("GET", "no-store");
        is_str(store(&q2, &r), "req-no-store", "request no-store");
        q2 = req("GET", "no-cache, max-age=0");
        is_str(store(&q2, &r), "stored", "request no-cache: still stored");
    }

    subtest("storable: status") {
        static const struct { int s; const char *want; } t[] = {
            { 100, "status" }, { 199, "status" }, { 99, "status" },
            { 0, "status" }, { 600, "status" }, { 304, "status" },
            { 206, "partial" }, { 203, "stored" }, { 404, "stored" },
            { 500, "stored" }, { 302, "stored" }, { 599, "stored" },
        };

        for (size_t i = 0; i < GH_NELEM(t); i++) {
            r2 = resp(t[i].s, "max-age=60");
            is_str(store(&q, &r2), t[i].want, "%d with max-age", t[i].s);
        }
    }

    subtest("storable: no-store, must-understand, private, malformed") {
        r2 = resp(200, "max-age=60, no-store");
        is_str(store(&q, &r2), "no-store", "no-store");
        r2 = resp(200, "no-store, must-understand, max-age=60");
        is_str(store(&q, &r2), "stored",
               "must-understand with an understood status beats no-store");
        r2 = resp(299, "no-store, must-understand, max-age=60");
        is_str(store(&q, &r2), "must-understand", "299 is not understood");
        r2 = resp(299, "must-understand, max-age=60");
        is_str(store(&q, &r2), "must-understand", "even without no-store");
        r2 = resp(299, "max-age=60");
        is_str(store(&q, &r2), "stored",
               "an unknown status with explicit freshness");
        r2 = resp(200, "no-store, must-understand=1, max-age=60");
        is_str(store(&q, &r2), "no-store", "a void must-understand");
        r2 = resp(200, "max-age=60, private");
        is_str(store(&q, &r2), "private", "private");
        r2 = resp(200, "max-age=60, private=\"Set-Cookie\"");
        is_str(store(&q, &r2), "private", "qualified private, as private");
        r2 = resp(200, "max-age=60, public, private");
        is_str(store(&q, &r2), "private", "private beats public");
        r2 = resp(200, "max-age=60 public");
        is_str(store(&q, &r2), "cc-malformed", "malformed");
        r2 = resp(200, "max-age=60, no-cache");
        is_str(store(&q, &r2), "stored", "no-cache is stored (revalidated)");
    }

    subtest("storable: Authorization (RFC 9111 3.5), Set-Cookie") {
        q2 = req("GET", NULL);
        q2.authorization = 1;
        is_str(store(&q2, &r), "authorization", "Authorization");
        r2 = resp(200, "max-age=60, public");
        is_str(store(&q2, &r2), "stored", "with public");
        r2 = resp(200, "s-maxage=60");
        is_str(store(&q2, &r2), "stored", "with s-maxage");
        r2 = resp(200, "max-age=60, must-revalidate");
        is_str(store(&q2, &r2), "stored", "with must-revalidate");
        r2 = resp(200, "max-age=60, proxy-revalidate");
        is_str(store(&q2, &r2), "authorization", "not proxy-revalidate");
        r2 = resp(200, "max-age=60, public=1");
        is_str(store(&q2, &r2), "authorization", "not a void public");

        r2 = resp(200, "max-age=60");
        r2.set_cookie = 1;
        is_str(store(&q, &r2), "set-cookie", "Set-Cookie");
        r2 = resp(200, "max-age=60, public");
        r2.set_cookie = 1;
        is_str(store(&q, &r2), "stored", "Set-Cookie with public");
        r2 = resp(200, "s-maxage=60");
        r2.set_cookie = 1;
        is_str(store(&q, &r2), "stored", "Set-Cookie with s-maxage");
        r2 = resp(200, "max-age=60, must-revalidate");
        r2.set_cookie = 1;
        is_str(store(&q, &r2), "set-cookie", "must-revalidate is not enough");
        r2 = resp(200, "max-age=60, no-cache=\"Set-Cookie\"");
        r2.set_cookie = 1;
        is_str(store(&q, &r2), "set-cookie",
               "no-cache=\"Set-Cookie\" is not enough (nothing stripped)");
    }

    subtest("storable: Vary, freshness") {
        memset(&vs, 0, sizeof(vs));
        memset(&vi, 0, sizeof(vi));
        memset(&vl, 0, sizeof(vl));
        (void) gh_cachectl_vary_parse(&vs, "Accept, *", 9);
        (void) gh_cachectl_vary_parse(&vi, "a b", 3);
        (void) gh_cachectl_vary_parse(&vl, "Accept-Encoding", 15);
        r2 = resp(200, "max-age=60");
        r2.vary = &vs;
        is_str(store(&q, &r2), "vary-star", "Vary: *");
        r2.vary = &vi;
        is_str(store(&q, &r2), "vary-invalid", "an invalid Vary");
        r2.vary = &vl;
        is_str(store(&q, &r2), "stored", "a Vary list");

        r2 = resp(302, NULL);
        is_str(store(&q, &r2), "no-freshness", "302 without freshness");
        r2.last_modified = 0;
        r2.has_last_modified = 1;
        is_str(store(&q, &r2), "no-freshness",
               "302 with Last-Modified: no heuristic");
        r2 = resp(302, NULL);
        r2.has_expires = 1;
        r2.expires_ok = 1;
        r2.expires = 1000060;
        is_str(store(&q, &r2), "stored", "302 with Expires");
        r2 = resp(302, "public");
        r2.last_modified = 0;
        r2.has_last_modified = 1;
        is_str(store(&q, &r2), "stored", "302 public: heuristic allowed");
        r2 = resp(200, NULL);
        is_str(store(&q, &r2), "no-freshness",
               "200 without anything, default_ttl 0");
        r2.last_modified = 999000;
        r2.has_last_modified = 1;
        is_str(store(&q, &r2), "stored", "200 with Last-Modified");
        r2 = resp(200, "max-age=abc");
        is_str(store(&q, &r2), "stored", "invalid max-age: stored stale");
        r2 = resp(302, NULL);
        r2.has_expires = 1;
        is_str(store(&q, &r2), "stored", "302 with a bad Expires: stored "
               "(expired)");
    }

    subtest("reason names") {
        static const char *names[] = {
            "stored", "method", "req-no-store", "status", "partial",
            "must-understand", "no-store", "private", "cc-malformed",
            "authorization", "set-cookie", "vary-star", "vary-invalid",
            "no-freshness",
        };

        is_int(GH_CC_NSTORE, GH_NELEM(names), "one name per reason");
        for (int i = 0; i < GH_CC_NSTORE; i++)
            is_str(gh_cachectl_store_name((enum gh_cc_store) i), names[i],
                   "reason %d", i);
        is_str(gh_cachectl_store_name(GH_CC_NSTORE), "?", "out of range");
        is_str(gh_cachectl_store_name((enum gh_cc_store) -1), "?",
               "negative");
    }
}

static long long lt_secs;
static const char *
lt(const struct gh_cc_resp *r, const struct gh_cc_policy *p)
{
    enum gh_cc_lt how;

    lt_secs = gh_cachectl_lifetime(r, 1000005, p, &how);
    return gh_cachectl_lt_name(how);
}

#define is_lt(r, p, name, secs, ...) do {                               \
    is_str(lt(r, p), name, __VA_ARGS__);                                \
    is_int(lt_secs, secs, "... %lld s", (long long) (secs));            \
} while (0)

static void
test_lifetime(void)
{
    struct gh_cc_resp r;
    struct gh_cc_policy p = pol;

    subtest("lifetime: precedence") {
        r = resp(200, "max-age=60, s-maxage=30");
        r.has_expires = r.expires_ok = 1;
        r.expires = 1000000 + 90;
        is_lt(&r, &pol, "s-maxage", 30, "s-maxage first");
        r = resp(200, "max-age=60");
        r.has_expires = r.expires_ok = 1;
        r.expires = 1000000 + 90;
        is_lt(&r, &pol, "max-age", 60, "max-age over Expires (RFC 9111 5.3)");
        r = resp(200, NULL);
        r.has_expires = r.expires_ok = 1;
        r.expires = 1000000 + 90;
        r.last_modified = 0;
        r.has_last_modified = 1;
        is_lt(&r, &pol, "expires", 90, "Expires - Date over heuristic");
        r.has_date = 0;
        is_lt(&r, &pol, "expires", 85, "no Date: Expires - response time");
        r.has_date = 1;
        r.expires = 1000000 - 5;
        is_lt(&r, &pol, "expires", 0, "Expires before Date: 0");
        r.expires = 1000000 + 90;
        r.expires_ok = 0;
        is_lt(&r, &pol, "expires", 0, "an invalid Expires: expired");
        r = resp(200, "max-age=0");
        is_lt(&r, &pol, "max-age", 0, "max-age=0");
        r = resp(200, "max-age=99999999999");
        is_lt(&r, &pol, "max-age", GH_CC_DELTA_MAX, "capped");
        r = resp(200, NULL);
        r.has_expires = r.expires_ok = 1;
        r.expires = (time_t) INT64_MAX;
        r.date = (time_t) INT64_MIN;
        is_lt(&r, &pol, "expires", GH_CC_DELTA_MAX,
              "absurd times saturate");
    }

    subtest("lifetime: invalid freshness is stale (RFC 9111 4.2.1)") {
        r = resp(200, "s-maxage=abc, max-age=60");
        is_lt(&r, &pol, "invalid", 0, "a bad s-maxage");
        r = resp(200, "s-maxage=30, max-age=abc");
        is_lt(&r, &pol, "s-maxage", 30,
              "a bad max-age under a good s-maxage does not matter");
        r = resp(200, "max-age=abc");
        r.has_expires = r.expires_ok = 1;
        r.expires = 1000000 + 90;
        is_lt(&r, &pol, "invalid", 0, "a bad max-age hides Expires");
        r = resp(200, "max-age=1, max-age=2");
        is_lt(&r, &pol, "invalid", 0, "conflicting max-age");
        r = resp(200, "max-age=\"1\\0\"");
        is_lt(&r, &pol, "invalid", 0, "escaped digits");
    }

    subtest("lifetime: heuristic and default (RFC 9111 4.2.2)") {
        r = resp(200, NULL);
        r.last_modified = 1000000 - 1000;
        r.has_last_modified = 1;
        is_lt(&r, &pol, "heuristic", 100, "10%% of Date - Last-Modified");
        r.last_modified = 1000000 - 9;
        is_lt(&r, &pol, "heuristic", 0, "rounded down");
        r.last_modified = 1000000 - 10 * 86400 * 10;
        is_lt(&r, &pol, "heuristic", 86400, "capped at heuristic_max");
        r.last_modified = 1000000 + 50;
        is_lt(&r, &pol, "heuristic", 0, "Last-Modified after Date: 0");
        r.last_modified = 1000000 - 1000;
        r.has_date = 0;
        is_lt(&r, &pol, "heuristic", 100, "no Date: the response time");
        r.has_date = 1;
        r.status = 302;
        is_lt(&r, &pol, "none", 0, "302 is not heuristically cacheable");
        r = resp(302, "public");
        r.last_modified = 1000000 - 1000;
        r.has_last_modified = 1;
        is_lt(&r, &pol, "heuristic", 100, "unless public (RFC 9111 5.2.2.9)");
        r = resp(200, NULL);
        is_lt(&r, &pol, "none", 0, "no Last-Modified, default_ttl 0");
        p.default_ttl = 600;
        is_lt(&r, &p, "default", 600, "default_ttl");
        r.status = 307;
        is_lt(&r, &p, "none", 0, "not for a 307");
        p.default_ttl = 0;
        p.heuristic_max = 0;
        r = resp(200, NULL);
        r.last_modified = 0;
        r.has_last_modified = 1;
        is_lt(&r, &p, "heuristic", 0, "heuristic_max 0");
    }

    subtest("heuristically cacheable statuses") {
        static const int yes[] = { 200, 203, 204, 206, 300, 301, 308, 404,
                                   405, 410, 414, 501 };
        int n = 0;

        for (size_t i = 0; i < GH_NELEM(yes); i++)
            ok(gh_cachectl_heuristic_status(yes[i]), "%d", yes[i]);
        for (int s = 0; s < 1000; s++)
            n += gh_cachectl_heuristic_status(s);
        is_int(n, (long long) GH_NELEM(yes), "and no other");
    }

    subtest("lifetime names") {
        static const char *names[] = {
            "none", "invalid", "s-maxage", "max-age", "expires",
            "heuristic", "default",
        };

        is_int(GH_CC_NLT, GH_NELEM(names), "one name each");
        for (int i = 0; i < GH_CC_NLT; i++)
            is_str(gh_cachectl_lt_name((enum gh_cc_lt) i), names[i],
                   "%d", i);
        is_str(gh_cachectl_lt_name(GH_CC_NLT), "?", "out of range");
    }
}

/* ---- age ---------------------------------------------------------------- */

static void
test_age(void)
{
    struct gh_cc_resp r = resp(200, NULL);
    int64_t a;

    subtest("Age field") {
        ok(gh_cachectl_age_parse("60", 2, &a) == GH_OK && a == 60, "60");
        ok(gh_cachectl_age_parse("0", 1, &a) == GH_OK && a == 0, "0");
        ok(gh_cachectl_age_parse("60, 70", 6, &a) == GH_OK && a == 60,
           "a list: the first member (RFC 9111 5.1)");
        ok(gh_cachectl_age_parse(", 5", 3, &a) == GH_OK && a == 5,
           "empty members skipped");
        ok(gh_cachectl_age_parse(" 7 ", 3, &a) == GH_OK && a == 7, "OWS");
        ok(gh_cachectl_age_parse("99999999999", 11, &a) == GH_OK
           && a == GH_CC_DELTA_MAX, "capped");
        ok(gh_cachectl_age_parse("abc", 3, &a) == GH_ERR, "abc");
        ok(gh_cachectl_age_parse("-1", 2, &a) == GH_ERR, "-1");
        ok(gh_cachectl_age_parse("1.5", 3, &a) == GH_ERR, "1.5");
        ok(gh_cachectl_age_parse("1 2", 3, &a) == GH_ERR, "1 2");
        ok(gh_cachectl_age_parse("", 0, &a) == GH_ERR, "empty");
        ok(gh_cachectl_age_parse(",", 1, &a) == GH_ERR, "only a comma");
        ok(gh_cachectl_age_parse("x, 5", 4, &a) == GH_ERR,
           "a bad first member is not skipped");
    }

    subtest("initial and current age (RFC 9111 4.2.3)") {
        /* Asked at 1000, answered at 1002, origin clock 5 s behind. */
        r.date = 995;
        r.age = 10;
        is_int(gh_cachectl_initial_age(&r, 1000, 1002), 12,
               "Age 10 + delay 2 beats apparent 7");
        is_int(gh_cachectl_current_age(12, 1002, 1100), 110,
               "plus 98 s resident");
        r.age = 3;
        is_int(gh_cachectl_initial_age(&r, 1000, 1002), 7,
               "apparent 7 beats Age 3 + 2");
        r.age = -1;
        r.has_date = 0;
        is_int(gh_cachectl_initial_age(&r, 1000, 1002), 2,
               "neither Date nor Age: the delay");
        r.has_date = 1;
        r.date = 1100;
        is_int(gh_cachectl_initial_age(&r, 1000, 1002), 2,
               "origin clock ahead: apparent 0");
        r.date = 900;
        is_int(gh_cachectl_initial_age(&r, 1000, 1002), 102,
               "origin clock behind: older");
        r.date = 1002;
        is_int(gh_cachectl_initial_age(&r, 1005, 1002), 0,
               "our clock stepped back: no negative delay");
        r.age = 5;
        is_int(gh_cachectl_initial_age(&r, 1005, 1002), 5,
               "... Age alone");
        r.age = GH_CC_DELTA_MAX;
        is_int(gh_cachectl_initial_age(&r, 0, 1000), GH_CC_DELTA_MAX,
               "Age 2^31 + delay: capped");
        r.age = -1;
        r.date = (time_t) INT64_MIN;
        is_int(gh_cachectl_initial_age(&r, (time_t) INT64_MIN,
                                       (time_t) INT64_MAX),
               GH_CC_DELTA_MAX, "absurd times: capped, no overflow");
        is_int(gh_cachectl_current_age(10, 1000, 990), 10,
               "now before the response: no negative residence");
        is_int(gh_cachectl_current_age(GH_CC_DELTA_MAX, 0, 1000),
               GH_CC_DELTA_MAX, "current age capped");
        is_int(gh_cachectl_current_age(-5, 0, 10), 10,
               "a negative initial age counts 0");
        is_int(gh_cachectl_current_age(0, (time_t) INT64_MIN,
                                       (time_t) INT64_MAX),
               GH_CC_DELTA_MAX, "absurd residence: capped");
    }
}

/* ---- serving ------------------------------------------------------------ */

static const char *
serve(const char *rcs, int64_t lifetime, int64_t age, const char *qcs,
      const struct gh_cc_policy *p, int failed)
{
    struct gh_cc_respdir r = rcc(rcs);
    struct gh_cc_reqdir q = qcc(qcs);

    return gh_cachectl_serve_name(gh_cachectl_serve(&r, lifetime, age, &q,
                                                    p, failed));
}

#define sv(rc, l, a, qc, want)                                          \
    is_str(serve(rc, l, a, qc, &pol, 0), want,                          \
           "resp \"%s\" lifetime %d age %d req \"%s\"", rc, l, a, qc)
#define sv_err(rc, l, a, qc, p, want)                                   \
    is_str(serve(rc, l, a, qc, p, 1), want,                             \
           "origin failed: resp \"%s\" lifetime %d age %d req \"%s\"",   \
           rc, l, a, qc)

static void
test_serve(void)
{
    struct gh_cc_policy p60 = pol;

    p60.stale_if_error = 60;

    subtest("fresh or not (RFC 9111 4.2)") {
        sv("", 100, 0, "", "fresh");
        sv("", 100, 99, "", "fresh");
        sv("", 100, 100, "", "revalidate");    /* age == lifetime: stale */
        sv("", 100, 101, "", "revalidate");
        sv("", 0, 0, "", "revalidate");
        sv("", -5, -5, "", "revalidate");
        sv("", 100, -5, "", "fresh");
        sv("immutable", 100, 0, "", "fresh");
    }

    subtest("request max-age, min-fresh (RFC 9111 5.2.1)") {
        sv("", 100, 50, "max-age=50", "fresh");
        sv("", 100, 51, "max-age=50", "revalidate");
        sv("", 100, 0, "max-age=0", "fresh");
        sv("", 100, 1, "max-age=0", "revalidate");
        sv("", 100, 90, "min-fresh=10", "fresh");
        sv("", 100, 91, "min-fresh=10", "revalidate");
        sv("", 100, 0, "min-fresh=100", "fresh");
        sv("", 100, 0, "min-fresh=101", "revalidate");
        sv("", 100, 50, "max-age=abc", "fresh");   /* ignored */
    }

    subtest("request max-stale") {
        sv("", 100, 1000, "max-stale", "stale");
        sv("", 100, 110, "max-stale=10", "stale");
        sv("", 100, 111, "max-stale=10", "revalidate");
        sv("", 100, 100, "max-stale=0", "stale");
        sv("", 100, 101, "max-stale=0", "revalidate");
        sv("", 100, 50, "max-stale=10", "fresh");
        sv("", 100, 105, "max-stale=10, max-age=200", "stale");
        sv("", 100, 105, "max-stale=10, max-age=104", "revalidate");
        sv("", 100, 105, "max-stale=10, min-fresh=1", "revalidate");
        sv("must-revalidate", 100, 105, "max-stale", "revalidate");
        sv("proxy-revalidate", 100, 105, "max-stale", "revalidate");
        sv("s-maxage=100", 100, 105, "max-stale", "revalidate");
        sv("s-maxage=x", 100, 105, "max-stale", "revalidate");
        sv("no-cache", 100, 105, "max-stale", "revalidate");
        sv("max-age=100", 100, 105, "max-stale", "stale");
    }

    subtest("no-cache, either side") {
        sv("no-cache", 100, 0, "", "revalidate");
        sv("no-cache=\"Set-Cookie\"", 100, 0, "", "revalidate");
        sv("", 100, 0, "no-cache", "revalidate");
        sv("immutable", 100, 0, "no-cache", "revalidate");
        {
            struct gh_cc_respdir r = rcc("");
            struct gh_cc_reqdir q;

            memset(&q, 0, sizeof(q));
            (void) gh_cachectl_req_pragma(&q, "no-cache", 8);
            is_str(gh_cachectl_serve_name(gh_cachectl_serve(&r, 100, 0, &q,
                                                            &pol, 0)),
                   "revalidate", "Pragma: no-cache");
        }
    }

    subtest("only-if-cached (RFC 9111 5.2.1.7)") {
        sv("", 100, 0, "only-if-cached", "fresh");
        sv("", 100, 100, "only-if-cached", "must-not-serve");
        sv("", 100, 0, "only-if-cached, no-cache", "must-not-serve");
        sv("no-cache", 100, 0, "only-if-cached", "must-not-serve");
        sv("", 100, 105, "only-if-cached, max-stale", "stale");
        sv("stale-while-revalidate=10", 100, 105, "only-if-cached",
           "stale-while-revalidate");
    }

    subtest("stale-while-revalidate (RFC 5861 3)") {
        sv("stale-while-revalidate=30", 100, 99, "", "fresh");
        sv("stale-while-revalidate=30", 100, 100, "",
           "stale-while-revalidate");
        sv("stale-while-revalidate=30", 100, 130, "",
           "stale-while-revalidate");
        sv("stale-while-revalidate=30", 100, 131, "", "revalidate");
        sv("stale-while-revalidate=0", 100, 100, "",
           "stale-while-revalidate");
        sv("stale-while-revalidate=30, must-revalidate", 100, 110, "",
           "revalidate");
        sv("stale-while-revalidate=30, s-maxage=100", 100, 110, "",
           "revalidate");
        sv("stale-while-revalidate=30, no-cache", 100, 110, "",
           "revalidate");
        sv("stale-while-revalidate=30", 100, 110, "max-age=1000",
           "revalidate");
        sv("stale-while-revalidate=30", 100, 110, "min-fresh=0",
           "revalidate");
        sv("stale-while-revalidate=30", 100, 120, "max-stale=5",
           "revalidate");
        sv("stale-while-revalidate=30", 100, 120, "max-stale=50", "stale");
        sv("stale-while-revalidate=1, stale-while-revalidate=2", 100, 100,
           "", "revalidate");
    }

    subtest("stale-if-error (RFC 5861 4) and the configured default") {
        sv_err("", 100, 150, "", &pol, "must-not-serve");
        sv_err("", 100, 160, "", &p60, "stale-if-error");
        sv_err("", 100, 161, "", &p60, "must-not-serve");
        sv_err("", 100, 10, "", &p60, "stale-if-error");
        sv_err("", 100, 10, "", &pol, "must-not-serve");
        sv_err("must-revalidate", 100, 110, "", &p60, "must-not-serve");
        sv_err("proxy-revalidate", 100, 110, "", &p60, "must-not-serve");
        sv_err("s-maxage=100", 100, 110, "", &p60, "must-not-serve");
        sv_err("no-cache", 100, 10, "", &p60, "must-not-serve");
        sv_err("stale-if-error=30", 100, 130, "", &pol, "stale-if-error");
        sv_err("stale-if-error=30", 100, 131, "", &pol, "must-not-serve");
        sv_err("stale-if-error=30", 100, 131, "", &p60, "stale-if-error");
        sv_err("stale-if-error=30, must-revalidate", 100, 130, "", &pol,
               "stale-if-error");
        sv_err("stale-if-error=30, must-revalidate", 100, 140, "", &p60,
               "must-not-serve");
        sv_err("stale-if-error=30, no-cache", 100, 10, "", &pol,
               "stale-if-error");
        sv_err("", 100, 200, "stale-if-error=100", &pol, "stale-if-error");
        sv_err("", 100, 201, "stale-if-error=100", &pol, "must-not-serve");
        sv_err("must-revalidate", 100, 110, "stale-if-error=100", &pol,
               "must-not-serve");
        sv_err("stale-if-error=0", 100, 100, "", &pol, "must-not-serve");
        sv_err("", 100, 150, "no-cache, max-age=0", &p60, "stale-if-error");
        sv_err("stale-if-error=abc", 100, 101, "", &pol, "must-not-serve");
    }

    subtest("serve names") {
        static const char *names[] = {
            "fresh", "stale", "stale-while-revalidate", "stale-if-error",
            "revalidate", "must-not-serve",
        };

        is_int(GH_CC_NSERVE, GH_NELEM(names), "one name each");
        for (int i = 0; i < GH_CC_NSERVE; i++)
            is_str(gh_cachectl_serve_name((enum gh_cc_serve) i), names[i],
                   "%d", i);
        is_str(gh_cachectl_serve_name(GH_CC_NSERVE), "?", "out of range");
    }
}

/* ---- conditionals and ranges -------------------------------------------- */

static struct gh_str
S(const char *s)
{
    struct gh_str r = { s, s ? strlen(s) : 0 };

    return r;
}

/* 304 for a GET with If-None-Match INM against stored ETAG? */
static int
inm(const char *etag, const char *v)
{
    struct gh_str l = S(v);
    struct gh_cc_cond c = {
        .method = S("GET"), .if_none_match = &l, .n_if_none_match = 1,
        .status = 200, .etag = S(etag),
    };

    return gh_cachectl_not_modified(&c, NOW_2025);
}

static int
ims(const char *v, time_t lm, int has_lm)
{
    struct gh_cc_cond c = {
        .method = S("GET"), .if_modified_since = S(v), .status = 200,
        .last_modified = lm, .has_last_modified = (uint8_t) has_lm,
    };

    return gh_cachectl_not_modified(&c, NOW_2025);
}

static int
ifr(const char *v, const char *etag, time_t lm, int has_lm, time_t dt,
    int has_date)
{
    struct gh_cc_cond c = {
        .method = S("GET"), .if_range = S(v), .status = 200,
        .etag = S(etag), .last_modified = lm,
        .has_last_modified = (uint8_t) has_lm, .date = dt,
        .has_date = (uint8_t) has_date,
    };

    return gh_cachectl_if_range(&c, NOW_2025);
}

static void
test_conditional(void)
{
    subtest("If-None-Match (RFC 9110 13.1.2, weak comparison)") {
        is_int(inm("\"abc\"", "\"abc\""), 1, "same strong tag");
        is_int(inm("\"abc\"", "W/\"abc\""), 1, "weak in the request");
        is_int(inm("W/\"abc\"", "\"abc\""), 1, "weak stored");
        is_int(inm("W/\"abc\"", "W/\"abc\""), 1, "both weak");
        is_int(inm("\"abc\"", "\"xyz\""), 0, "other tag");
        is_int(inm("\"abc\"", "\"ABC\""), 0, "tags are case-sensitive");
        is_int(inm("\"abc\"", "\"x\", \"abc\""), 1, "in a list");
        is_int(inm("\"abc\"", "\"x\",W/\"abc\" ,\"y\""), 1,
               "in a list, weak, odd spacing");
        is_int(inm("\"abc\"", " , \"abc\" , "), 1, "empty elements");
        is_int(inm("\"abc\"", "\"x\", \"y\""), 0, "not in the list");
        is_int(inm("\"abc\"", "*"), 1, "\"*\"");
        is_int(inm("\"abc\"", " * "), 1, "\"*\" with OWS");
        is_int(inm(NULL, "*"), 1, "\"*\" without a stored ETag");
        is_int(inm(NULL, "\"abc\""), 0, "no stored ETag");
        is_int(inm("abc", "\"abc\""), 0, "an invalid stored ETag");
        is_int(inm("\"abc\"", "*, \"abc\""), 0, "\"*\" in a list: invalid");
        is_int(inm("\"abc\"", "abc"), 0, "unquoted: invalid");
        is_int(inm("\"abc\"", "\"abc"), 0, "unterminated");
        is_int(inm("\"abc\"", "w/\"abc\""), 0, "lower-case w/: invalid");
        is_int(inm("\"abc\"", "W/ \"abc\""), 0, "space after W/");
        is_int(inm("\"abc\"", "\"abc\" \"x\""), 0, "no comma");
        is_int(inm("\"abc\"", "\"abc\", junk"), 0,
               "a match and junk: the field is invalid");
        is_int(inm("\"abc\"", ""), 0, "empty");
        is_int(inm("\"abc\"", ","), 0, "only commas");
        is_int(inm("\"a\"b\"", "\"a\"b\""), 0, "'\"' inside a tag");
        is_int(inm("\"\"", "\"\""), 1, "empty opaque tags match");
        is_int(inm("\"\xe9t\xe9\"", "\"\xe9t\xe9\""), 1, "obs-text");
        is_int(inm("\"a b\"", "\"a b\""), 0, "a space is not etagc");
    }

    subtest("If-None-Match: lines, method, status") {
        struct gh_str l[3] = { S("\"x\""), S("\"abc\""), S("junk") };
        struct gh_cc_cond c = {
            .method = S("GET"), .if_none_match = l, .n_if_none_match = 2,
            .status = 200, .etag = S("\"abc\""),
            .if_modified_since = S("Sun, 06 Nov 1994 08:49:37 GMT"),
            .last_modified = SUNDAY_1994, .has_last_modified = 1,
        };

        is_int(gh_cachectl_not_modified(&c, 0), 1, "a match on line 2");
        c.n_if_none_match = 3;
        is_int(gh_cachectl_not_modified(&c, 0), 0, "an invalid line 3");
        c.n_if_none_match = 1;
        is_int(gh_cachectl_not_modified(&c, 0), 0,
               "no match: If-Modified-Since is not consulted");
        c.n_if_none_match = 2;
        c.method = S("HEAD");
        is_int(gh_cachectl_not_modified(&c, 0), 1, "HEAD");
        c.method = S("POST");
        is_int(gh_cachectl_not_modified(&c, 0), 0, "POST");
        c.method = S("GET");
        c.status = 404;
        is_int(gh_cachectl_not_modified(&c, 0), 0, "a stored 404");
        c.status = 204;
        is_int(gh_cachectl_not_modified(&c, 0), 1, "a stored 204");
        c.status = 301;
        is_int(gh_cachectl_not_modified(&c, 0), 0, "a stored 301");
    }

    subtest("If-Modified-Since (RFC 9110 13.1.3)") {
        is_int(ims("Sun, 06 Nov 1994 08:49:37 GMT", SUNDAY_1994, 1), 1,
               "equal");
        is_int(ims("Sun, 06 Nov 1994 08:49:38 GMT", SUNDAY_1994, 1), 1,
               "later");
        is_int(ims("Sun, 06 Nov 1994 08:49:36 GMT", SUNDAY_1994, 1), 0,
               "earlier");
        is_int(ims("Sunday, 06-Nov-94 08:49:37 GMT", SUNDAY_1994, 1), 1,
               "RFC 850");
        is_int(ims("Sun Nov  6 08:49:37 1994", SUNDAY_1994, 1), 1,
               "asctime");
        is_int(ims("Sun, 06 Nov 1994 08:49:37 GMT", SUNDAY_1994, 0), 0,
               "no stored Last-Modified");
        is_int(ims("yesterday", SUNDAY_1994, 1), 0, "invalid: ignored");
        is_int(ims("Sun, 06 Nov 1994 08:49:37 GMT, x", SUNDAY_1994, 1), 0,
               "two members: ignored");
        is_int(ims("", SUNDAY_1994, 1), 0, "empty");
        {
            struct gh_cc_cond c = {
                .method = S("PUT"), .status = 200,
                .if_modified_since = S("Sun, 06 Nov 1994 08:49:37 GMT"),
                .last_modified = SUNDAY_1994, .has_last_modified = 1,
            };

            is_int(gh_cachectl_not_modified(&c, 0), 0, "PUT");
            c.method = S("GET");
            c.if_modified_since.p = NULL;
            is_int(gh_cachectl_not_modified(&c, 0), 0, "absent");
        }
    }

    subtest("If-Range (RFC 9110 13.1.5)") {
        is_int(ifr(NULL, "\"a\"", 0, 0, 0, 0), 1, "absent: Range applies");
        is_int(ifr("\"a\"", "\"a\"", 0, 0, 0, 0), 1, "strong match");
        is_int(ifr("\"a\"", "\"b\"", 0, 0, 0, 0), 0, "other tag");
        is_int(ifr("W/\"a\"", "\"a\"", 0, 0, 0, 0), 0, "weak request tag");
        is_int(ifr("\"a\"", "W/\"a\"", 0, 0, 0, 0), 0, "weak stored tag");
        is_int(ifr("\"a\"", NULL, 0, 0, 0, 0), 0, "no stored tag");
        is_int(ifr("\"a\", \"b\"", "\"a\"", 0, 0, 0, 0), 0,
               "a list is not an If-Range");
        is_int(ifr("Sun, 06 Nov 1994 08:49:37 GMT", NULL, SUNDAY_1994, 1,
                   SUNDAY_1994 + 60, 1), 1, "date, Last-Modified strong");
        is_int(ifr("Sun, 06 Nov 1994 08:49:37 GMT", NULL, SUNDAY_1994, 1,
                   SUNDAY_1994 + 59, 1), 0,
               "Last-Modified 59 s before Date: weak");
        is_int(ifr("Sun, 06 Nov 1994 08:49:37 GMT", NULL, SUNDAY_1994, 1,
                   0, 0), 0, "no stored Date: weak");
        is_int(ifr("Sun, 06 Nov 1994 08:49:38 GMT", NULL, SUNDAY_1994, 1,
                   SUNDAY_1994 + 600, 1), 0, "a later date: exact only");
        is_int(ifr("Sun, 06 Nov 1994 08:49:37 GMT", NULL, 0, 0,
                   SUNDAY_1994 + 600, 1), 0, "no Last-Modified");
        is_int(ifr("Wed, 09 Nov 1994 08:49:37 GMT", NULL,
                   SUNDAY_1994 + 3 * 86400, 1, SUNDAY_1994 + 4 * 86400, 1),
               1, "a date that starts with W");
        is_int(ifr("Wednesday, 09-Nov-94 08:49:37 GMT", NULL,
                   SUNDAY_1994 + 3 * 86400, 1, SUNDAY_1994 + 4 * 86400, 1),
               1, "RFC 850, Wednesday");
        is_int(ifr("garbage", "\"a\"", SUNDAY_1994, 1, SUNDAY_1994 + 600, 1),
               0, "garbage");
        is_int(ifr("", "\"a\"", 0, 0, 0, 0), 0, "empty");
        is_int(ifr("W", "\"a\"", 0, 0, 0, 0), 0, "\"W\"");
    }
}

static char range_out[64];

static const char *
rng(const char *s, uint64_t size)
{
    uint64_t a = 12345, b = 12345;
    int rc = gh_cachectl_range(s, strlen(s), size, &a, &b);

    if (rc == GH_ERR)
        return "416";
    if (rc == GH_DECLINED)
        return "200";
    if (rc != GH_OK)
        return "?";
    snprintf(range_out, sizeof(range_out), "%llu-%llu",
             (unsigned long long) a, (unsigned long long) b);
    return range_out;
}

#define range(s, size, want) \
    is_str(rng(s, size), want, "\"%s\" of %llu", s, (unsigned long long) size)

static void
test_range(void)
{
    subtest("single ranges (RFC 9110 14.1.2)") {
        range("bytes=0-0", 1000, "0-0");
        range("bytes=0-499", 1000, "0-499");
        range("bytes=500-999", 1000, "500-999");
        range("bytes=500-", 1000, "500-999");
        range("bytes=999-", 1000, "999-999");
        range("bytes=-500", 1000, "500-999");
        range("bytes=-1", 1000, "999-999");
        range("bytes=-1000", 1000, "0-999");
        range("bytes=-2000", 1000, "0-999");
        range("bytes=0-5000", 1000, "0-999");
        range("bytes=0-0", 1, "0-0");
        range("bytes=-1", 1, "0-0");
        range("BYTES=0-1", 1000, "0-1");
        range("Bytes=0-1", 1000, "0-1");
        range("bytes=0-1,", 1000, "0-1");
        range("bytes=, 0-1 ,", 1000, "0-1");
        range("bytes=00-01", 1000, "0-1");
    }

    subtest("unsatisfiable: 416") {
        range("bytes=1000-", 1000, "416");
        range("bytes=1000-2000", 1000, "416");
        range("bytes=5000-6000", 1000, "416");
        range("bytes=-0", 1000, "416");
        range("bytes=0-", 0, "416");
        range("bytes=0-0", 0, "416");
        range("bytes=-0", 0, "416");
        range("bytes=99999999999999999999-", 1000, "416");
        range("bytes=18446744073709551615-", 1000, "416");
        range("bytes=18446744073709551615-", UINT64_MAX, "416");
    }

    subtest("ignored: 200") {
        range("bytes=-5", 0, "200");
        range("bytes=5-2", 1000, "200");
        range("bytes=0-1,2-3", 1000, "200");
        range("bytes=0-1, 5-2", 1000, "200");
        range("bytes=-1,-2", 1000, "200");
        range("items=0-1", 1000, "200");
        range("bytes 0-1", 1000, "200");
        range("bytes = 0-1", 1000, "200");
        range("bytes=", 1000, "200");
        range("bytes=,", 1000, "200");
        range("bytes", 1000, "200");
        range("", 1000, "200");
        range("bytes=abc", 1000, "200");
        range("bytes=1-2-3", 1000, "200");
        range("bytes=--1", 1000, "200");
        range("bytes=-", 1000, "200");
        range("bytes=1", 1000, "200");
        range("bytes=0x10-", 1000, "200");
        range("bytes=+1-2", 1000, "200");
        range("bytes=1 -2", 1000, "200");
        range("bytes=1- 2", 1000, "200");
        range("bytes=1-2;x", 1000, "200");
        range("bytes=-1x", 1000, "200");
        range("bytesx=0-1", 1000, "200");
    }

    subtest("overflowing numbers saturate") {
        range("bytes=0-99999999999999999999", 1000, "0-999");
        range("bytes=-99999999999999999999", 1000, "0-999");
        range("bytes=0-18446744073709551616", UINT64_MAX,
              "0-18446744073709551614");
        range("bytes=18446744073709551614-", UINT64_MAX,
              "18446744073709551614-18446744073709551614");
        range("bytes=99999999999999999999-99999999999999999999", 1000,
              "416");
    }

    subtest("Range is a slice") {
        uint64_t a, b;

        is_int(gh_cachectl_range("bytes=0-1,2-3", 9, 1000, &a, &b), GH_OK,
               "only LEN bytes read");
        ok(a == 0 && b == 1, "0-1");
        is_int(gh_cachectl_range("bytes=12", 7, 1000, &a, &b), GH_DECLINED,
               "\"bytes=1\"");
    }
}

/* ---- random bytes ------------------------------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rnd(void)
{
    uint64_t x = rnd_state;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rnd_state = x;
}

/* Pieces that reach deep into the parsers. */
static const char *const pieces[] = {
    "max-age", "s-maxage", "no-cache", "private", "no-store", "public",
    "must-revalidate", "stale-while-revalidate", "stale-if-error",
    "max-stale", "min-fresh", "only-if-cached", "must-understand",
    "immutable", "=", "\"", "\\", ",", " ", "\t", "W/", "*", "bytes=", "-",
    "0", "1", "60", "2147483648", "99999999999999999999", "GMT", "Sun, ",
    "Sunday, ", "Nov", "Feb", " 06 Nov 1994 ", "08:49:37", "-Nov-94 ",
    "29", "1994", "\"abc\"", ";",
};

/* Valid inputs to mutate, so that the random ones get past the start. */
static const char *const samples[] = {
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "max-age=60, s-maxage=\"30\", no-cache=\"Set-Cookie, X\", private",
    "max-stale, min-fresh=5, only-if-cached, stale-if-error=60",
    "Accept-Encoding, User-Agent, *",
    "W/\"abc\", \"def\", *",
    "bytes=0-499",
    "bytes=-500",
};

static size_t
rnd_input(char *buf, size_t cap)
{
    size_t n = 0, want = rnd() % cap;

    if (rnd() % 2 == 0) {
        /* A sample, one to three bytes changed, maybe cut short. */
        const char *p = samples[rnd() % GH_NELEM(samples)];
        int k = 1 + (int) (rnd() % 3);

        n = strlen(p);
        memcpy(buf, p, n);
        while (k-- > 0)
            buf[rnd() % n] = rnd() % 2 ? (char) rnd()
                                       : "0123456789 ,-:\"=W/"[rnd() % 18];
        if (rnd() % 4 == 0)
            n = (size_t) (rnd() % (n + 1));
        return n;
    }

    while (n < want) {
        uint64_t r = rnd();

        if (r % 3 == 0) {
            const char *p = pieces[(r >> 8) % GH_NELEM(pieces)];
            size_t k = GH_MIN(strlen(p), want - n);

            memcpy(buf + n, p, k);
            n += k;
        } else {
            buf[n++] = (char) (r >> 16);
        }
    }
    return n;
}

static int
in_buf(struct gh_str s, const char *b, size_t n)
{
    return s.p == NULL || (s.p >= b && s.p + s.len <= b + n);
}

static void
test_random(void)
{
    char src[96], out[512];
    int date_bad = 0, cc_bad = 0, vary_bad = 0, age_bad = 0, rng_bad = 0;
    int cond_bad = 0, srv_bad = 0, parsed = 0;

    for (int i = 0; i < 100000; i++) {
        size_t n = rnd_input(src, sizeof(src));
        /* An exact-size copy, so a sanitizer sees any read past the end. */
        char *b = malloc(n ? n : 1);
        time_t t, back;
        struct gh_cc_respdir rc;
        struct gh_cc_reqdir qc;
        struct gh_cc_vary v;
        int64_t a;
        uint64_t f, l, size;
        int rcode;
        struct gh_str line;

        if (b == NULL)
            abort();
        memcpy(b, src, n);
        line.p = b;
        line.len = n;

        if (gh_cachectl_date_parse(b, n, (time_t) (rnd() % YEAR_10000),
                                   &t) == GH_OK) {
            const char *s = fmt(t);

            parsed++;
            if (s == NULL || gh_cachectl_date_parse(s, strlen(s), 0, &back)
                             != GH_OK || back != t)
                date_bad++;
        }

        memset(&rc, 0, sizeof(rc));
        rcode = gh_cachectl_resp_cc(&rc, b, n);
        if ((rc.has & rc.bad) || (rcode == GH_ERR) != rc.malformed
            || rc.max_age < 0 || rc.max_age > GH_CC_DELTA_MAX
            || rc.s_maxage < 0 || rc.s_maxage > GH_CC_DELTA_MAX
            || rc.swr < 0 || rc.swr > GH_CC_DELTA_MAX
            || rc.sie < 0 || rc.sie > GH_CC_DELTA_MAX
            || !in_buf(rc.no_cache_fields, b, n)
            || !in_buf(rc.private_fields, b, n))
            cc_bad++;
        memset(&qc, 0, sizeof(qc));
        (void) gh_cachectl_req_cc(&qc, b, n);
        (void) gh_cachectl_req_pragma(&qc, b, n);
        if (qc.max_age < 0 || qc.max_age > GH_CC_DELTA_MAX
            || qc.min_fresh < 0 || qc.min_fresh > GH_CC_DELTA_MAX
            || qc.sie < 0 || qc.sie > GH_CC_DELTA_MAX
            || qc.max_stale < 0 || (qc.max_stale > GH_CC_DELTA_MAX
                                    && qc.max_stale != GH_CC_FOREVER))
            cc_bad++;

        memset(&v, 0, sizeof(v));
        (void) gh_cachectl_vary_parse(&v, b, n);
        if (v.n > GH_CC_VARY_MAX)
            vary_bad++;
        for (uint32_t k = 0; k < v.n; k++)
            if (v.names[k].len == 0 || !in_buf(v.names[k], b, n))
                vary_bad++;
        {
            size_t cap = (size_t) (rnd() % sizeof(out));
            ssize_t kl = gh_cachectl_vary_key(&v, out, cap);

            if (kl >= 0 && ((size_t) kl >= cap || out[kl] != '\0'
                            || strlen(out) != (size_t) kl))
                vary_bad++;
        }

        if (gh_cachectl_age_parse(b, n, &a) == GH_OK
            && (a < 0 || a > GH_CC_DELTA_MAX))
            age_bad++;

        size = rnd() % 4 == 0 ? rnd() : rnd() % 2000;
        rcode = gh_cachectl_range(b, n, size, &f, &l);
        if (rcode == GH_OK ? !(f <= l && l < size)
                           : rcode != GH_ERR && rcode != GH_DECLINED)
            rng_bad++;

        {
            struct gh_cc_cond c = {
                .method = S(i % 2 ? "GET" : "HEAD"), .if_none_match = &line,
                .n_if_none_match = (uint32_t) (i % 3 == 0),
                .if_modified_since = line, .if_range = line,
                .status = 200, .etag = line,
                .last_modified = (time_t) rnd(), .date = (time_t) rnd(),
                .has_last_modified = 1, .has_date = 1,
            };
            int x = gh_cachectl_not_modified(&c, (time_t) rnd());
            int y = gh_cachectl_if_range(&c, (time_t) rnd());

            if ((x != 0 && x != 1) || (y != 0 && y != 1))
                cond_bad++;
        }

        {
            struct gh_cc_policy p = {
                (int64_t) rnd(), (int64_t) rnd(), (int64_t) rnd()
            };
            enum gh_cc_serve s;
            struct gh_cc_resp r;
            enum gh_cc_lt how;
            int64_t life, ia, ca;

            memset(&r, 0, sizeof(r));
            r.status = (int) (rnd() % 700);
            r.cc = rc;
            r.date = (time_t) rnd();
            r.expires = (time_t) rnd();
            r.last_modified = (time_t) rnd();
            r.age = (int64_t) rnd();
            r.has_date = (uint8_t) (rnd() & 1);
            r.has_expires = (uint8_t) (rnd() & 1);
            r.expires_ok = (uint8_t) (rnd() & 1);
            r.has_last_modified = (uint8_t) (rnd() & 1);
            life = gh_cachectl_lifetime(&r, (time_t) rnd(), &p, &how);
            ia = gh_cachectl_initial_age(&r, (time_t) rnd(), (time_t) rnd());
            ca = gh_cachectl_current_age(ia, (time_t) rnd(), (time_t) rnd());
            s = gh_cachectl_serve(&rc, (int64_t) rnd(), (int64_t) rnd(), &qc,
                                  &p, (int) (rnd() & 1));
            if (life < 0 || life > GH_CC_DELTA_MAX || how >= GH_CC_NLT
                || ia < 0 || ia > GH_CC_DELTA_MAX || ca < 0
                || ca > GH_CC_DELTA_MAX || s >= GH_CC_NSERVE
                || gh_cachectl_storable(&(struct gh_cc_req) {
                       .method = line, .cc = qc }, &r, how) >= GH_CC_NSTORE)
                srv_bad++;
        }
        free(b);
    }
    diag("random inputs: %d parsed as dates", parsed);
    is_int(date_bad, 0, "dates: 100000 random inputs, parsed ones "
           "round-trip");
    is_int(cc_bad, 0, "Cache-Control: invariants hold");
    is_int(vary_bad, 0, "Vary: names non-empty and inside the input, "
           "key fits");
    is_int(age_bad, 0, "Age: in range");
    is_int(rng_bad, 0, "Range: first <= last < size");
    is_int(cond_bad, 0, "conditionals: 0 or 1");
    is_int(srv_bad, 0, "lifetime, age, serve, storable: in range");
}

int
main(void)
{
    test_dates();
    test_resp_cc();
    test_req_cc();
    test_vary();
    test_storable();
    test_lifetime();
    test_age();
    test_serve();
    test_conditional();
    test_range();
    test_random();
    return done_testing();
}
