/*
 * gh_conf_parse_duration() and gh_conf_parse_size(): good values, bad
 * units, overflow and trailing garbage.
 */

#include <stdint.h>

#include "conf/conf.h"
#include "tests/unit/tap.h"

static void
good_duration(const char *s, gh_msec want)
{
    gh_msec v = -1;

    is_int(gh_conf_parse_duration(s, &v), GH_OK, "duration \"%s\" parses", s);
    is_int(v, want, "duration \"%s\" is %lld ms", s, (long long) want);
}

static void
bad_duration(const char *s, const char *why)
{
    gh_msec v = 12345;

    is_int(gh_conf_parse_duration(s, &v), GH_ERR, "duration \"%s\": %s", s,
           why);
    is_int(v, 12345, "duration \"%s\" leaves the output alone", s);
}

static void
good_size(const char *s, uint64_t want)
{
    uint64_t v = 1;

    is_int(gh_conf_parse_size(s, &v), GH_OK, "size \"%s\" parses", s);
    ok(v == want, "size \"%s\" is %llu", s, (unsigned long long) want);
}

static void
bad_size(const char *s, const char *why)
{
    uint64_t v = 12345;

    is_int(gh_conf_parse_size(s, &v), GH_ERR, "size \"%s\": %s", s, why);
    ok(v == 12345, "size \"%s\" leaves the output alone", s);
}

int
main(void)
{
    subtest("durations") {
        good_duration("10s", 10000);
        good_duration("500ms", 500);
        good_duration("2m", 120000);
        good_duration("1h", 3600000);
        good_duration("0s", 0);
        good_duration("0", 0);
        good_duration("75", 75000);     /* a bare integer is seconds */
        good_duration("007s", 7000);
        good_duration("9223372036854775807ms", INT64_MAX);
        good_duration("2562047788015h", 2562047788015LL * 3600000);
    }

    subtest("bad durations") {
        bad_duration("", "empty");
        bad_duration("s", "no number");
        bad_duration("-5s", "negative");
        bad_duration("+5s", "sign");
        bad_duration(" 5s", "leading space");
        bad_duration("5s ", "trailing space");
        bad_duration("5 s", "space before the unit");
        bad_duration("5x", "unknown unit");
        bad_duration("5S", "units are lower case");
        bad_duration("5sec", "trailing garbage");
        bad_duration("5ms2", "trailing garbage after the unit");
        bad_duration("1m30s", "no compound durations");
        bad_duration("1.5s", "no fractions");
        bad_duration("5d", "no days");
        bad_duration("9223372036854775808ms", "past INT64_MAX");
        bad_duration("9223372036854775807s", "overflows in ms");
        bad_duration("2562047788016h", "overflows in ms");
        bad_duration("99999999999999999999999", "overflows the number");
        bad_duration("0x10s", "no hex");
        ok(gh_conf_parse_duration(NULL, &(gh_msec) { 0 }) == GH_ERR,
           "NULL rejected");
    }

    subtest("sizes") {
        good_size("0", 0);
        good_size("1500", 1500);
        good_size("16k", 16384);
        good_size("16K", 16384);
        good_size("10m", 10485760);
        good_size("10M", 10485760);
        good_size("1g", 1073741824ULL);
        good_size("3G", 3221225472ULL);
        good_size("18446744073709551615", UINT64_MAX);
        good_size("17179869183G", 17179869183ULL * 1073741824ULL);
    }

    subtest("bad sizes") {
        bad_size("", "empty");
        bad_size("k", "no number");
        bad_size("-1", "negative");
        bad_size("-1k", "negative with unit");
        bad_size("+1k", "sign");
        bad_size(" 1k", "leading space");
        bad_size("1k ", "trailing space");
        bad_size("16q", "unknown unit");
        bad_size("16kb", "trailing garbage");
        bad_size("16KiB", "no IEC suffixes");
        bad_size("1t", "no terabytes");
        bad_size("1.5M", "no fractions");
        bad_size("18446744073709551616", "past UINT64_MAX");
        bad_size("17179869184G", "overflows in bytes");
        bad_size("18014398509481984k", "overflows in bytes");
        bad_size("0x10", "no hex");
        ok(gh_conf_parse_size(NULL, &(uint64_t) { 0 }) == GH_ERR,
           "NULL rejected");
    }
    return done_testing();
}
