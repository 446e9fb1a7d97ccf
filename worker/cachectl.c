/*
 * The shared cache's policy (RFC 9111, RFC 9110 5.6.7, 13, 14, RFC 5861,
 * RFC 8246): pure functions, see cachectl.h.  Every parser reads exactly
 * the bytes it is given, stops at the first doubt and never loops without
 * moving forward; every sum of times saturates.
 */

#include <string.h>

#include "worker/cachectl.h"

/* Dates up to year 9999 and the sums below need more than 32 bits. */
_Static_assert(sizeof(time_t) >= 8, "64-bit time_t needed");

/* ---- bytes -------------------------------------------------------------- */

static int
cc_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char
cc_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
}

/* RFC 9110 5.6.2 tchar. */
static int
cc_tchar(char ch)
{
    unsigned char c = (unsigned char) ch;

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 5.6.4 qdtext, and what may follow a backslash. */
static int
cc_qdtext(char ch)
{
    unsigned char c = (unsigned char) ch;

    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b)
           || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

static int
cc_qpair(char ch)
{
    unsigned char c = (unsigned char) ch;

    return c == '\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80;
}

static size_t
cc_ows(const char *p, size_t len, size_t i)
{
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    return i;
}

/* Case-insensitive: slice S equals LIT (LITLEN bytes). */
static int
cc_ieq(const char *s, size_t slen, const char *lit, size_t litlen)
{
    if (slen != litlen)
        return 0;
    for (size_t i = 0; i < slen; i++)
        if (cc_lower(s[i]) != cc_lower(lit[i]))
            return 0;
    return 1;
}

static int
cc_seq(struct gh_str s, const char *lit)
{
    size_t n = strlen(lit);

    return s.len == n && memcmp(s.p, lit, n) == 0;
}

/* RFC 9111 1.2.2 delta-seconds: 1*DIGIT, capped at 2^31. */
static int
cc_delta(const char *p, size_t len, int64_t *v)
{
    int64_t n = 0;

    if (len == 0)
        return GH_ERR;
    for (size_t i = 0; i < len; i++) {
        if (!cc_digit(p[i]))
            return GH_ERR;
        if (n < GH_CC_DELTA_MAX)
            n = n * 10 + (p[i] - '0');
    }
    *v = GH_MIN(n, GH_CC_DELTA_MAX);
    return GH_OK;
}

/* Saturating time arithmetic: the caller's times are not trusted. */
static int64_t
cc_sub(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_sub_overflow(a, b, &r))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return r;
}

static int64_t
cc_add(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return b < 0 ? INT64_MIN : INT64_MAX;
    return r;
}

/* Clamp to 0..GH_CC_DELTA_MAX. */
static int64_t
cc_cap(int64_t v)
{
    return v < 0 ? 0 : GH_MIN(v, GH_CC_DELTA_MAX);
}

/* ---- dates -------------------------------------------------------------- */

static const char cc_wday[7][4] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const cc_wday_long[7] = {
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
    "Saturday"
};
static const char cc_month[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/*
 * Days since 1970-01-01 of a proleptic Gregorian date, and back (H.
 * Hinnant's algorithms: exact for any year, no tables, no time zone).
 */
static int64_t
cc_days(int64_t y, int m, int d)
{
    int64_t era;
    int64_t yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
cc_civil(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int) (doy - (153 * mp + 2) / 5 + 1);
    *m = (int) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

#define CC_YEAR_10000 INT64_C(253402300800)    /* 10000-01-01T00:00:00Z */

static int
cc_mdays(int64_t y, int m)
{
    static const int n[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
        return 29;
    return n[m - 1];
}

/* N digits at P, or -1. */
static int
cc_num(const char *p, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (!cc_digit(p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* "Nov" -> 11, or -1; case-sensitive (RFC 9110 5.6.7 %s). */
static int
cc_mon(const char *p)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(p, cc_month[i], 3) == 0)
            return i + 1;
    return -1;
}

static int
cc_is_wday(const char *p, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (n == 3 && memcmp(p, cc_wday[i], 3) == 0)
            return 1;
    return 0;
}

static int
cc_is_wday_long(const char *p, size_t n)
{
    for (int i = 0; i < 7; i++)
        if (strlen(cc_wday_long[i]) == n && memcmp(p, cc_wday_long[i], n) == 0)
            return 1;
    return 0;
}

/* "HH:MM:SS" at P: seconds into the day, or -1. */
static int64_t
cc_clock(const char *p)
{
    int h = cc_num(p, 2), m = cc_num(p + 3, 2), s = cc_num(p + 6, 2);

    if (p[2] != ':' || p[5] != ':' || h < 0 || h > 23 || m < 0 || m > 59
        || s < 0 || s > 60)
        return -1;
    return h * 3600 + m * 60 + s;
}

static int
cc_make(int64_t y, int m, int d, int64_t secs, time_t *t)
{
    if (m < 1 || d < 1 || d > cc_mdays(y, m) || secs < 0)
        return GH_ERR;
    *t = (time_t) (cc_days(y, m, d) * 86400 + secs);
    return GH_OK;
}

int
gh_cachectl_date_parse(const char *p, size_t len, time_t now, time_t *t)
{
    int64_t secs, y, ny;
    int m, d, nm, nd;
    size_t c;

    if (len == 29 && p[3] == ',') {
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (!cc_is_wday(p, 3) || p[4] != ' ' || p[7] != ' ' || p[11] != ' '
            || p[16] != ' ' || p[25] != ' ' || memcmp(p + 26, "GMT", 3) != 0)
            return GH_ERR;
        d = cc_num(p + 5, 2);
        m = cc_mon(p + 8);
        y = cc_num(p + 12, 4);
        secs = cc_clock(p + 17);
        if (y < 0)
            return GH_ERR;
        return cc_make(y, m, d, secs, t);
    }

    if (len == 24 && p[3] == ' ') {
        /* asctime-date: "Sun Nov  6 08:49:37 1994", day 2DIGIT / SP DIGIT */
        if (!cc_is_wday(p, 3) || p[7] != ' ' || p[10] != ' '
            || p[19] != ' ')
            return GH_ERR;
        m = cc_mon(p + 4);
        d = p[8] == ' ' ? cc_num(p + 9, 1) : cc_num(p + 8, 2);
        secs = cc_clock(p + 11);
        y = cc_num(p + 20, 4);
        if (y < 0)
            return GH_ERR;
        return cc_make(y, m, d, secs, t);
    }

    /* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT" */
    for (c = 0; c < len && c < 10 && p[c] != ','; c++)
        ;
    if (c == len || p[c] != ',' || len != c + 24 || !cc_is_wday_long(p, c))
        return GH_ERR;
    p += c + 1;
    if (p[0] != ' ' || p[3] != '-' || p[7] != '-' || p[10] != ' '
        || p[19] != ' ' || memcmp(p + 20, "GMT", 3) != 0)
        return GH_ERR;
    d = cc_num(p + 1, 2);
    m = cc_mon(p + 4);
    y = cc_num(p + 8, 2);
    secs = cc_clock(p + 11);
    if (y < 0 || m < 0 || d < 0 || secs < 0)
        return GH_ERR;

    /*
     * RFC 9110 5.6.7: a date "more than 50 years in the future" is the most
     * recent past year with the same two digits.  Take the year of those
     * digits in this century (the next one when that is 50 or more years
     * ago), then compare whole dates with now + 50 years.  A NOW outside
     * years 1970-9999 is a broken clock: clamp it, so no sum overflows.
     */
    {
        int64_t n = GH_MIN(GH_MAX((int64_t) now, 0), CC_YEAR_10000 - 1);

        cc_civil(n / 86400, &ny, &nm, &nd);
        y += ny - ny % 100;
        if (y <= ny - 50)
            y += 100;
        if (cc_make(y, m, d, secs, t) != GH_OK)
            return GH_ERR;
        /* Now plus 50 years, to the second (29 Feb rolls to 1 Mar). */
        if ((int64_t) *t > cc_days(ny + 50, nm, nd) * 86400 + n % 86400)
            return cc_make(y - 100, m, d, secs, t);
    }
    return GH_OK;
}

static char *
cc_put2(char *p, int v)
{
    p[0] = (char) ('0' + v / 10);
    p[1] = (char) ('0' + v % 10);
    return p + 2;
}

ssize_t
gh_cachectl_date_format(time_t t, char *buf, size_t len)
{
    int64_t z, secs, y;
    int m, d, wd;
    char *p = buf;

    if (len > 0)
        buf[0] = '\0';
    if (len < GH_CC_DATE_LEN + 1)
        return GH_ERR;
    /* Floor division, so that times before 1970 count back from 00:00. */
    z = (int64_t) t / 86400;
    secs = (int64_t) t % 86400;
    if (secs < 0) {
        z--;
        secs += 86400;
    }
    cc_civil(z, &y, &m, &d);
    if (y < 0 || y > 9999)
        return GH_ERR;
    wd = (int) (z >= -4 ? (z + 4) % 7 : (z + 5) % 7 + 6);

    memcpy(p, cc_wday[wd], 3);
    p[3] = ',';
    p[4] = ' ';
    p = cc_put2(p + 5, d);
    *p++ = ' ';
    memcpy(p, cc_month[m - 1], 3);
    p[3] = ' ';
    p = cc_put2(p + 4, (int) (y / 100));
    p = cc_put2(p, (int) (y % 100));
    *p++ = ' ';
    p = cc_put2(p, (int) (secs / 3600));
    *p++ = ':';
    p = cc_put2(p, (int) (secs / 60 % 60));
    *p++ = ':';
    p = cc_put2(p, (int) (secs % 60));
    memcpy(p, " GMT", 5);
    return GH_CC_DATE_LEN;
}

/* ---- Cache-Control ------------------------------------------------------ */

/* One list element: token [ OWS "=" OWS ( token / quoted-string ) ]. */
struct cc_elem {
    struct gh_str name;     /* empty when it did not start with a token */
    struct gh_str val;      /* the argument, inside the quotes if quoted */
    uint8_t       has_val;
    uint8_t       quoted;
    uint8_t       escaped;  /* a quoted-pair inside */
    uint8_t       bad;      /* not readable: the argument is unusable */
};

/* From I, past the next ',' outside a quoted-string (or to the end). */
static size_t
cc_skip_elem(const char *p, size_t len, size_t i)
{
    while (i < len && p[i] != ',') {
        if (p[i++] != '"')
            continue;
        while (i < len && p[i] != '"')
            i += p[i] == '\\' ? 2 : 1;
        i = i < len ? i + 1 : len;
    }
    return i;
}

/* The next element of the list P[*POS..LEN): 1 with *E, 0 at the end. */
static int
cc_next(const char *p, size_t len, size_t *pos, struct cc_elem *e)
{
    size_t i = *pos, j;

    memset(e, 0, sizeof(*e));
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
        i++;
    if (i == len) {
        *pos = len;
        return 0;
    }
    e->name.p = p + i;
    while (i < len && cc_tchar(p[i]))
        i++;
    e->name.len = (size_t) (p + i - e->name.p);
    if (e->name.len == 0)
        goto bad;
    j = cc_ows(p, len, i);
    if (j < len && p[j] == '=') {
        i = cc_ows(p, len, j + 1);
        e->has_val = 1;
        if (i < len && p[i] == '"') {
            /* On error, resume from the quote: skip the string whole. */
            j = ++i;
            e->quoted = 1;
            for (;;) {
                if (j >= len || (p[j] == '\\'
                                 && (j + 1 >= len || !cc_qpair(p[j + 1])))
                    || (p[j] != '"' && p[j] != '\\' && !cc_qdtext(p[j]))) {
                    i--;
                    goto bad;
                }
                if (p[j] == '"')
                    break;
                if (p[j] == '\\') {
                    e->escaped = 1;
                    j += 2;
                    continue;
                }
                j++;
            }
            e->val.p = p + i;
            e->val.len = j - i;
            i = j + 1;
        } else {
            e->val.p = p + i;
            while (i < len && cc_tchar(p[i]))
                i++;
            e->val.len = (size_t) (p + i - e->val.p);
            if (e->val.len == 0)
                goto bad;
        }
        j = cc_ows(p, len, i);
    }
    if (j < len && p[j] != ',') {
        i = j;
        goto bad;
    }
    *pos = j;
    return 1;

bad:
    e->bad = 1;
    *pos = cc_skip_elem(p, len, i);
    return 1;
}

/* What a directive's argument is. */
enum cc_kind {
    CC_DELTA = 0,       /* delta-seconds required */
    CC_RESTRICT,        /* flag; an argument does not void it */
    CC_PERMIT,          /* flag; an argument voids it */
    CC_FIELDS,          /* flag, or a qualified field-name list */
    CC_STALE            /* max-stale: optional delta-seconds */
};

struct cc_dir {
    const char *name;
    uint8_t     len;
    uint8_t     kind;   /* enum cc_kind */
    uint32_t    bit;
};

#define CC_D(n, k, b) { n, sizeof(n) - 1, k, b }

static const struct cc_dir cc_resp_dirs[] = {
    CC_D("max-age", CC_DELTA, GH_CC_MAX_AGE),
    CC_D("s-maxage", CC_DELTA, GH_CC_S_MAXAGE),
    CC_D("no-cache", CC_FIELDS, GH_CC_NO_CACHE),
    CC_D("no-store", CC_RESTRICT, GH_CC_NO_STORE),
    CC_D("private", CC_FIELDS, GH_CC_PRIVATE),
    CC_D("public", CC_PERMIT, GH_CC_PUBLIC),
    CC_D("must-revalidate", CC_RESTRICT, GH_CC_MUST_REVALIDATE),
    CC_D("proxy-revalidate", CC_RESTRICT, GH_CC_PROXY_REVALIDATE),
    CC_D("no-transform", CC_RESTRICT, GH_CC_NO_TRANSFORM),
    /* An argument voids it, and then no-store is obeyed: the safe side. */
    CC_D("must-understand", CC_PERMIT, GH_CC_MUST_UNDERSTAND),
    CC_D("immutable", CC_PERMIT, GH_CC_IMMUTABLE),
    CC_D("stale-while-revalidate", CC_DELTA, GH_CC_SWR),
    CC_D("stale-if-error", CC_DELTA, GH_CC_SIE),
};

static const struct cc_dir cc_req_dirs[] = {
    CC_D("max-age", CC_DELTA, GH_CC_MAX_AGE),
    CC_D("max-stale", CC_STALE, GH_CC_MAX_STALE),
    CC_D("min-fresh", CC_DELTA, GH_CC_MIN_FRESH),
    CC_D("no-cache", CC_RESTRICT, GH_CC_NO_CACHE),
    CC_D("no-store", CC_RESTRICT, GH_CC_NO_STORE),
    CC_D("no-transform", CC_RESTRICT, GH_CC_NO_TRANSFORM),
    CC_D("only-if-cached", CC_RESTRICT, GH_CC_ONLY_IF_CACHED),
    CC_D("stale-if-error", CC_DELTA, GH_CC_SIE),
};

static const struct cc_dir *
cc_find(const struct cc_dir *dirs, size_t n, struct gh_str name)
{
    for (size_t i = 0; i < n; i++)
        if (cc_ieq(name.p, name.len, dirs[i].name, dirs[i].len))
            return &dirs[i];
    return NULL;
}

/* The element's argument as delta-seconds (quoted allowed, no escapes). */
static int
cc_elem_delta(const struct cc_elem *e, int64_t *v)
{
    if (e->bad || !e->has_val || e->escaped)
        return GH_ERR;
    return cc_delta(e->val.p, e->val.len, v);
}

static int64_t *
cc_resp_slot(struct gh_cc_respdir *cc, uint32_t bit)
{
    switch (bit) {
    case GH_CC_MAX_AGE:  return &cc->max_age;
    case GH_CC_S_MAXAGE: return &cc->s_maxage;
    case GH_CC_SWR:      return &cc->swr;
    default:             return &cc->sie;
    }
}

static void
cc_resp_apply(struct gh_cc_respdir *cc, const struct cc_dir *d,
              const struct cc_elem *e)
{
    int64_t v, *slot;

    switch ((enum cc_kind) d->kind) {
    case CC_DELTA:
        /* RFC 9111 4.2.1: invalid or conflicting freshness is void. */
        if (cc->bad & d->bit)
            return;
        slot = cc_resp_slot(cc, d->bit);
        if (cc_elem_delta(e, &v) != GH_OK
            || ((cc->has & d->bit) && *slot != v)) {
            cc->has &= ~d->bit;
            cc->bad |= d->bit;
            *slot = 0;
            return;
        }
        cc->has |= d->bit;
        *slot = v;
        return;
    case CC_PERMIT:
        if (e->has_val || e->bad) {
            cc->has &= ~d->bit;
            cc->bad |= d->bit;
        } else if (!(cc->bad & d->bit)) {
            cc->has |= d->bit;
        }
        return;
    case CC_FIELDS:
        /* d->bit << 1 is the qualified form (NO_CACHE_FIELDS, ...). */
        if (e->bad || !e->has_val || e->val.len == 0) {
            cc->has |= d->bit;
            return;
        }
        cc->has |= d->bit << 1;
        if (d->bit == GH_CC_NO_CACHE && cc->no_cache_fields.p == NULL)
            cc->no_cache_fields = e->val;
        else if (d->bit == GH_CC_PRIVATE && cc->private_fields.p == NULL)
            cc->private_fields = e->val;
        return;
    case CC_RESTRICT:
    case CC_STALE:
        cc->has |= d->bit;
        return;
    }
}

int
gh_cachectl_resp_cc(struct gh_cc_respdir *cc, const char *p, size_t len)
{
    struct cc_elem e;
    const struct cc_dir *d;
    size_t pos = 0;
    int rc = GH_OK;

    cc->nfields++;
    while (cc_next(p, len, &pos, &e)) {
        if (e.bad) {
            cc->malformed = 1;
            rc = GH_ERR;
        }
        d = cc_find(cc_resp_dirs, GH_NELEM(cc_resp_dirs), e.name);
        if (d != NULL)
            cc_resp_apply(cc, d, &e);
    }
    return rc;
}

static void
cc_req_apply(struct gh_cc_reqdir *cc, const struct cc_dir *d,
             const struct cc_elem *e)
{
    int64_t v, *slot;

    switch (d->bit) {
    case GH_CC_MAX_AGE:   slot = &cc->max_age; break;
    case GH_CC_MAX_STALE: slot = &cc->max_stale; break;
    case GH_CC_MIN_FRESH: slot = &cc->min_fresh; break;
    case GH_CC_SIE:       slot = &cc->sie; break;
    default:
        cc->has |= d->bit;
        return;
    }
    if (d->kind == CC_STALE && !e->has_val && !e->bad) {
        v = GH_CC_FOREVER;
    } else if (cc_elem_delta(e, &v) != GH_OK) {
        cc->bad |= d->bit;      /* ignored; an earlier valid one stays */
        return;
    }
    /* Repeats: the most restrictive (RFC 9111 4.2.1, "most restrictive"). */
    if (cc->has & d->bit)
        v = d->bit == GH_CC_MIN_FRESH ? GH_MAX(v, *slot) : GH_MIN(v, *slot);
    cc->has |= d->bit;
    *slot = v;
}

int
gh_cachectl_req_cc(struct gh_cc_reqdir *cc, const char *p, size_t len)
{
    struct cc_elem e;
    const struct cc_dir *d;
    size_t pos = 0;
    int rc = GH_OK;

    cc->nfields++;
    while (cc_next(p, len, &pos, &e)) {
        if (e.bad) {
            cc->malformed = 1;
            rc = GH_ERR;
        }
        d = cc_find(cc_req_dirs, GH_NELEM(cc_req_dirs), e.name);
        if (d != NULL)
            cc_req_apply(cc, d, &e);
    }
    return rc;
}

int
gh_cachectl_req_pragma(struct gh_cc_reqdir *cc, const char *p, size_t len)
{
    struct cc_elem e;
    size_t pos = 0;

    if (cc->nfields > 0)
        return 0;
    while (cc_next(p, len, &pos, &e)) {
        if (!e.has_val && !e.bad && cc_ieq(e.name.p, e.name.len,
                                            "no-cache", 8)) {
            cc->has |= GH_CC_NO_CACHE;
            return 1;
        }
    }
    return 0;
}

/* ---- Vary --------------------------------------------------------------- */

int
gh_cachectl_vary_parse(struct gh_cc_vary *v, const char *p, size_t len)
{
    size_t i = 0, start;
    struct gh_str name;
    uint32_t k;

    for (;;) {
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
            i++;
        if (i == len)
            return GH_OK;
        start = i;
        while (i < len && cc_tchar(p[i]))
            i++;
        name.p = p + start;
        name.len = i - start;
        i = cc_ows(p, len, i);
        if (name.len == 0 || (i < len && p[i] != ','))
            goto invalid;
        if (name.len == 1 && name.p[0] == '*') {
            v->star = 1;
            continue;
        }
        for (k = 0; k < v->n; k++)
            if (cc_ieq(v->names[k].p, v->names[k].len, name.p, name.len))
                break;
        if (k < v->n)
            continue;
        if (v->n == GH_CC_VARY_MAX)
            goto invalid;
        v->names[v->n++] = name;
    }

invalid:
    v->invalid = 1;
    return GH_ERR;
}

/* Case-insensitive order of two names. */
static int
cc_icmp(struct gh_str a, struct gh_str b)
{
    size_t n = GH_MIN(a.len, b.len);

    for (size_t i = 0; i < n; i++) {
        char x = cc_lower(a.p[i]), y = cc_lower(b.p[i]);

        if (x != y)
            return (unsigned char) x < (unsigned char) y ? -1 : 1;
    }
    return a.len < b.len ? -1 : a.len > b.len;
}

ssize_t
gh_cachectl_vary_key(const struct gh_cc_vary *v, char *out, size_t outlen)
{
    size_t n = 0;
    const struct gh_str *prev = NULL, *next;

    if (outlen > 0)
        out[0] = '\0';
    if (v->star || v->invalid)
        return GH_DECLINED;
    if (outlen == 0)
        return GH_ERR;
    /* Selection by repeated minimum: n <= 16, and V stays untouched. */
    for (uint32_t round = 0; round < v->n; round++) {
        next = NULL;
        for (uint32_t k = 0; k < v->n; k++) {
            if (prev != NULL && cc_icmp(v->names[k], *prev) <= 0)
                continue;
            if (next == NULL || cc_icmp(v->names[k], *next) < 0)
                next = &v->names[k];
        }
        if (next == NULL)
            break;
        if (n + (round > 0) + next->len + 1 > outlen) {
            out[0] = '\0';
            return GH_ERR;
        }
        if (round > 0)
            out[n++] = ',';
        for (size_t i = 0; i < next->len; i++)
            out[n++] = cc_lower(next->p[i]);
        prev = next;
    }
    out[n] = '\0';
    return (ssize_t) n;
}

/* ---- Age, lifetime ------------------------------------------------------ */

int
gh_cachectl_age_parse(const char *p, size_t len, int64_t *age)
{
    size_t i = 0, start, end;

    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
        i++;
    start = i;
    while (i < len && p[i] != ',')
        i++;
    end = i;
    while (end > start && (p[end - 1] == ' ' || p[end - 1] == '\t'))
        end--;
    return cc_delta(p + start, end - start, age);
}

int
gh_cachectl_heuristic_status(int status)
{
    switch (status) {
    case 200: case 203: case 204: case 206: case 300: case 301: case 308:
    case 404: case 405: case 410: case 414: case 501:
        return 1;
    }
    return 0;
}

int64_t
gh_cachectl_lifetime(const struct gh_cc_resp *r, time_t response_time,
                     const struct gh_cc_policy *pol, enum gh_cc_lt *how)
{
    const struct gh_cc_respdir *cc = &r->cc;
    int64_t base = r->has_date ? (int64_t) r->date : (int64_t) response_time;

    /* A shared cache: s-maxage first (RFC 9111 4.2.1). */
    if (cc->bad & GH_CC_S_MAXAGE)
        goto invalid;
    if (cc->has & GH_CC_S_MAXAGE) {
        *how = GH_CC_LT_S_MAXAGE;
        return cc_cap(cc->s_maxage);
    }
    if (cc->bad & GH_CC_MAX_AGE)
        goto invalid;
    if (cc->has & GH_CC_MAX_AGE) {
        *how = GH_CC_LT_MAX_AGE;
        return cc_cap(cc->max_age);
    }
    if (r->has_expires) {
        *how = GH_CC_LT_EXPIRES;
        /* RFC 9111 5.3: an invalid Expires is "already expired". */
        return r->expires_ok ? cc_cap(cc_sub((int64_t) r->expires, base)) : 0;
    }
    if (!gh_cachectl_heuristic_status(r->status)
        && !(cc->has & GH_CC_PUBLIC)) {
        *how = GH_CC_LT_NONE;
        return 0;
    }
    if (r->has_last_modified) {
        /* RFC 9111 4.2.2: a fraction of the time since the last change. */
        int64_t d = cc_sub(base, (int64_t) r->last_modified);

        *how = GH_CC_LT_HEURISTIC;
        return GH_MIN(cc_cap(d) / 10, cc_cap(pol->heuristic_max));
    }
    if (pol->default_ttl > 0) {
        *how = GH_CC_LT_DEFAULT;
        return cc_cap(pol->default_ttl);
    }
    *how = GH_CC_LT_NONE;
    return 0;

invalid:
    *how = GH_CC_LT_INVALID;
    return 0;
}

/* ---- storability -------------------------------------------------------- */

/*
 * Statuses whose caching rules we implement, for must-understand (RFC 9111
 * 5.2.2.3): the final ones RFC 9110 defines, less 206 and 304, never
 * stored here.
 */
static int
cc_understood(int s)
{
    return (s >= 200 && s <= 205) || (s >= 300 && s <= 308 && s != 304
                                      && s != 306)
           || (s >= 400 && s <= 417) || s == 421 || s == 422 || s == 426
           || (s >= 500 && s <= 505);
}

enum gh_cc_store
gh_cachectl_storable(const struct gh_cc_req *q, const struct gh_cc_resp *r,
                     enum gh_cc_lt how)
{
    uint32_t has = r->cc.has;

    if (!cc_seq(q->method, "GET") && !cc_seq(q->method, "HEAD"))
        return GH_CC_ST_METHOD;
    if (q->cc.has & GH_CC_NO_STORE)
        return GH_CC_ST_REQ_NO_STORE;
    if (r->status < 200 || r->status > 599 || r->status == 304)
        return GH_CC_ST_STATUS;
    if (r->status == 206)
        return GH_CC_ST_PARTIAL;
    /* RFC 9111 3: must-understand, understood, overrides no-store. */
    if (has & GH_CC_MUST_UNDERSTAND) {
        if (!cc_understood(r->status))
            return GH_CC_ST_MUST_UNDERSTAND;
    } else if (has & GH_CC_NO_STORE) {
        return GH_CC_ST_NO_STORE;
    }
    if (has & (GH_CC_PRIVATE | GH_CC_PRIVATE_FIELDS))
        return GH_CC_ST_PRIVATE;
    if (r->cc.malformed)
        return GH_CC_ST_CC_MALFORMED;
    /* RFC 9111 3.5. */
    if (q->authorization
        && !(has & (GH_CC_PUBLIC | GH_CC_S_MAXAGE | GH_CC_MUST_REVALIDATE)))
        return GH_CC_ST_AUTHORIZATION;
    /* Ours: a cookie is someone's unless the origin says it is for all. */
    if (r->set_cookie && !(has & (GH_CC_PUBLIC | GH_CC_S_MAXAGE)))
        return GH_CC_ST_SET_COOKIE;
    if (r->vary != NULL && r->vary->star)
        return GH_CC_ST_VARY_STAR;
    if (r->vary != NULL && r->vary->invalid)
        return GH_CC_ST_VARY_INVALID;
    if (how == GH_CC_LT_NONE)
        return GH_CC_ST_NO_FRESHNESS;
    return GH_CC_ST_OK;
}

/* ---- age ---------------------------------------------------------------- */

int64_t
gh_cachectl_initial_age(const struct gh_cc_resp *r, time_t request_time,
                        time_t response_time)
{
    int64_t apparent = 0, delay, corrected;

    if (r->has_date)
        apparent = cc_cap(cc_sub((int64_t) response_time, (int64_t) r->date));
    delay = cc_cap(cc_sub((int64_t) response_time, (int64_t) request_time));
    /* RFC 9111 4.2.3: age_value is 0 without a (valid) Age. */
    corrected = cc_cap(cc_add(r->age >= 0 ? cc_cap(r->age) : 0, delay));
    return GH_MAX(apparent, corrected);
}

int64_t
gh_cachectl_current_age(int64_t initial_age, time_t response_time,
                        time_t now)
{
    int64_t resident = cc_cap(cc_sub((int64_t) now, (int64_t) response_time));

    return cc_cap(cc_add(cc_cap(initial_age), resident));
}

/* ---- serving ------------------------------------------------------------ */

enum gh_cc_serve
gh_cachectl_serve(const struct gh_cc_respdir *rc, int64_t lifetime,
                  int64_t age, const struct gh_cc_reqdir *qc,
                  const struct gh_cc_policy *pol, int origin_failed)
{
    uint32_t rh = rc->has, qh = qc->has;
    int64_t stale;
    int fresh, forbid;

    lifetime = cc_cap(lifetime);
    age = cc_cap(age);
    fresh = lifetime > age;     /* RFC 9111 4.2: strictly */
    stale = fresh ? 0 : age - lifetime;
    /* RFC 9111 4.2.4: the origin's directives that forbid serving stale. */
    forbid = (rh & (GH_CC_NO_CACHE | GH_CC_NO_CACHE_FIELDS
                    | GH_CC_MUST_REVALIDATE | GH_CC_PROXY_REVALIDATE
                    | GH_CC_S_MAXAGE))
             || (rc->bad & GH_CC_S_MAXAGE);

    if (origin_failed) {
        int64_t window = 0;

        /*
         * RFC 5861 4: the origin's own stale-if-error applies "regardless
         * of other freshness information"; a default, or the client's
         * wish, never overrides what the origin forbade.
         */
        if (rh & GH_CC_SIE)
            window = rc->sie;
        if (!forbid) {
            window = GH_MAX(window, cc_cap(pol->stale_if_error));
            if (qh & GH_CC_SIE)
                window = GH_MAX(window, qc->sie);
        }
        return window > 0 && stale <= window ? GH_CC_SERVE_STALE_ERR
                                             : GH_CC_SERVE_NO;
    }

    if ((rh & (GH_CC_NO_CACHE | GH_CC_NO_CACHE_FIELDS))
        || (qh & GH_CC_NO_CACHE))
        goto revalidate;
    if ((qh & GH_CC_MAX_AGE) && age > qc->max_age)
        goto revalidate;
    if (fresh) {
        if ((qh & GH_CC_MIN_FRESH) && lifetime - age < qc->min_fresh)
            goto revalidate;
        return GH_CC_SERVE_FRESH;
    }
    if (forbid || (qh & GH_CC_MIN_FRESH))
        goto revalidate;
    /* RFC 9111 5.2.1.2: the client accepts this much staleness. */
    if (qh & GH_CC_MAX_STALE) {
        if (stale <= qc->max_stale)
            return GH_CC_SERVE_STALE;
        goto revalidate;
    }
    /* RFC 9111 5.2.1.1: with max-age and no max-stale, no stale at all. */
    if ((rh & GH_CC_SWR) && !(qh & GH_CC_MAX_AGE) && stale <= rc->swr)
        return GH_CC_SERVE_STALE_BG;

revalidate:
    /* RFC 9111 5.2.1.7: only-if-cached gets a stored response or 504. */
    return (qh & GH_CC_ONLY_IF_CACHED) ? GH_CC_SERVE_NO
                                       : GH_CC_SERVE_REVALIDATE;
}

#define GH_CC_TEXT(name, text) text,
static const char *const cc_lt_names[] = { GH_CC_LTS(GH_CC_TEXT) };
static const char *const cc_store_names[] = { GH_CC_STORES(GH_CC_TEXT) };
static const char *const cc_serve_names[] = { GH_CC_SERVES(GH_CC_TEXT) };
#undef GH_CC_TEXT

const char *
gh_cachectl_lt_name(enum gh_cc_lt how)
{
    return (unsigned) how < GH_NELEM(cc_lt_names) ? cc_lt_names[how] : "?";
}

const char *
gh_cachectl_store_name(enum gh_cc_store why)
{
    return (unsigned) why < GH_NELEM(cc_store_names) ? cc_store_names[why]
                                                      : "?";
}

const char *
gh_cachectl_serve_name(enum gh_cc_serve what)
{
    return (unsigned) what < GH_NELEM(cc_serve_names) ? cc_serve_names[what]
                                                       : "?";
}

/* ---- conditionals ------------------------------------------------------- */

/*
 * One entity-tag at P[*POS..LEN) (RFC 9110 8.8.3): [ "W/" ] DQUOTE *etagc
 * DQUOTE.  GH_OK with *WEAK and *OPAQUE (the quotes included), or GH_ERR.
 */
static int
cc_etag(const char *p, size_t len, size_t *pos, int *weak,
        struct gh_str *opaque)
{
    size_t i = *pos, j;

    *weak = 0;
    if (len - i >= 2 && p[i] == 'W' && p[i + 1] == '/') {
        *weak = 1;
        i += 2;
    }
    if (i >= len || p[i] != '"')
        return GH_ERR;
    for (j = i + 1; j < len && p[j] != '"'; j++) {
        unsigned char c = (unsigned char) p[j];

        if (c != 0x21 && (c < 0x23 || c > 0x7e) && c < 0x80)
            return GH_ERR;
    }
    if (j >= len)
        return GH_ERR;
    opaque->p = p + i;
    opaque->len = j + 1 - i;
    *pos = j + 1;
    return GH_OK;
}

/* The stored ETag, exactly one entity-tag, or GH_ERR. */
static int
cc_stored_etag(struct gh_str etag, int *weak, struct gh_str *opaque)
{
    size_t pos = 0;

    if (etag.p == NULL
        || cc_etag(etag.p, etag.len, &pos, weak, opaque) != GH_OK
        || pos != etag.len)
        return GH_ERR;
    return GH_OK;
}

/* If-None-Match line L: 1 match, 0 none, GH_ERR not a valid list. */
static int
cc_inm(struct gh_str l, int have, struct gh_str tag)
{
    size_t i = cc_ows(l.p, l.len, 0), end = l.len;
    struct gh_str o;
    int weak, match = 0, n = 0;

    while (end > i && (l.p[end - 1] == ' ' || l.p[end - 1] == '\t'))
        end--;
    if (end - i == 1 && l.p[i] == '*')
        return 1;
    for (;;) {
        while (i < end && (l.p[i] == ' ' || l.p[i] == '\t' || l.p[i] == ','))
            i++;
        if (i == end)
            break;
        if (cc_etag(l.p, end, &i, &weak, &o) != GH_OK)
            return GH_ERR;
        i = cc_ows(l.p, end, i);
        if (i < end && l.p[i] != ',')
            return GH_ERR;
        n++;
        /* Weak comparison (RFC 9110 8.8.3.2): the opaque tags alone. */
        if (have && o.len == tag.len && memcmp(o.p, tag.p, o.len) == 0)
            match = 1;
    }
    return n > 0 ? match : GH_ERR;
}

int
gh_cachectl_not_modified(const struct gh_cc_cond *c, time_t now)
{
    struct gh_str tag;
    int weak, have, m, any = 0;
    time_t ims;

    if (!cc_seq(c->method, "GET") && !cc_seq(c->method, "HEAD"))
        return 0;
    /* RFC 9110 13.2.1: preconditions only where the answer is 2xx. */
    if (c->status < 200 || c->status > 299)
        return 0;
    if (c->n_if_none_match > 0) {
        have = cc_stored_etag(c->etag, &weak, &tag) == GH_OK;
        for (uint32_t k = 0; k < c->n_if_none_match; k++) {
            m = cc_inm(c->if_none_match[k], have, tag);
            if (m == GH_ERR)
                return 0;
            any |= m;
        }
        return any;
    }
    if (c->if_modified_since.p == NULL || !c->has_last_modified
        || gh_cachectl_date_parse(c->if_modified_since.p,
                                  c->if_modified_since.len, now,
                                  &ims) != GH_OK)
        return 0;
    return c->last_modified <= ims;
}

int
gh_cachectl_if_range(const struct gh_cc_cond *c, time_t now)
{
    struct gh_str v = c->if_range, tag, o;
    int weak, sweak;
    size_t pos = 0;
    time_t t;

    if (v.p == NULL)
        return 1;
    if ((v.len > 0 && v.p[0] == '"')
        || (v.len > 1 && v.p[0] == 'W' && v.p[1] == '/')) {
        /* RFC 9110 13.1.5: strong comparison; a weak tag never matches. */
        if (cc_etag(v.p, v.len, &pos, &weak, &o) != GH_OK || pos != v.len
            || weak || cc_stored_etag(c->etag, &sweak, &tag) != GH_OK
            || sweak)
            return 0;
        return o.len == tag.len && memcmp(o.p, tag.p, o.len) == 0;
    }
    if (gh_cachectl_date_parse(v.p, v.len, now, &t) != GH_OK
        || !c->has_last_modified || !c->has_date || t != c->last_modified)
        return 0;
    return cc_sub((int64_t) c->date, (int64_t) c->last_modified) >= 60;
}

/* 1*DIGIT at P[*I..LEN), saturating; GH_ERR when none. */
static int
cc_u64(const char *p, size_t len, size_t *i, uint64_t *v)
{
    size_t start = *i;
    uint64_t n = 0;

    for (; *i < len && cc_digit(p[*i]); (*i)++) {
        unsigned d = (unsigned) (p[*i] - '0');

        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
    }
    *v = n;
    return *i > start ? GH_OK : GH_ERR;
}

int
gh_cachectl_range(const char *p, size_t len, uint64_t size, uint64_t *first,
                  uint64_t *last)
{
    uint64_t a = 0, b = UINT64_MAX;
    size_t i = 6;
    int n = 0, suffix = 0;

    if (len < 6 || !cc_ieq(p, 5, "bytes", 5) || p[5] != '=')
        return GH_DECLINED;
    for (;;) {
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
            i++;
        if (i == len)
            break;
        if (++n > 1)
            return GH_DECLINED;     /* several ranges: send it whole */
        if (p[i] == '-') {
            suffix = 1;
            i++;
            if (cc_u64(p, len, &i, &a) != GH_OK)
                return GH_DECLINED;
        } else {
            if (cc_u64(p, len, &i, &a) != GH_OK || i == len || p[i] != '-')
                return GH_DECLINED;
            i++;
            b = UINT64_MAX;
            if (i < len && cc_digit(p[i]))
                (void) cc_u64(p, len, &i, &b);  /* a digit: cannot fail */
            if (b < a)
                return GH_DECLINED;         /* invalid, RFC 9110 14.1.1 */
        }
        i = cc_ows(p, len, i);
        if (i < len && p[i] != ',')
            return GH_DECLINED;
    }
    if (n == 0)
        return GH_DECLINED;
    if (suffix) {
        if (a == 0)
            return GH_ERR;          /* RFC 9110 14.1.1: unsatisfiable */
        if (size == 0)
            return GH_DECLINED;     /* nothing to cut: 200, empty */
        *first = size - GH_MIN(a, size);
        *last = size - 1;
        return GH_OK;
    }
    if (a >= size)
        return GH_ERR;
    *first = a;
    *last = GH_MIN(b, size - 1);
    return GH_OK;
}
