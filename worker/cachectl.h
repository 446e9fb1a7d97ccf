#ifndef GH_WORKER_CACHECTL_H
#define GH_WORKER_CACHECTL_H

/*
 * The policy of the shared HTTP cache (RFC 9111, with the shared-cache
 * rules: s-maxage, private, Authorization), as pure functions over byte
 * strings: HTTP dates, Cache-Control, storability, freshness lifetime, age,
 * whether a stored response may be served, conditional requests and Range.
 * Nothing here does I/O, allocates, blocks, logs or takes a lock; every
 * function can run in the request path and on bytes from anyone.  Slices
 * (struct gh_str) in the results borrow the caller's buffer.
 *
 * Times are time_t seconds since the epoch, UTC, computed here without the
 * C library's time zone or locale.  Durations (lifetimes, ages, directive
 * values) are int64_t seconds capped at GH_CC_DELTA_MAX (RFC 9111 1.2.2).
 *
 * A caller storing a response typically: parses Date, Expires,
 * Last-Modified (gh_cachectl_date_parse), Age, Cache-Control and Vary of the
 * response into a struct gh_cc_resp and the request's Cache-Control (and
 * Pragma) into a struct gh_cc_req; computes gh_cachectl_lifetime(), then
 * gh_cachectl_storable(); keeps the lifetime and gh_cachectl_initial_age().
 * Serving, it asks gh_cachectl_serve() with gh_cachectl_current_age(), then
 * gh_cachectl_not_modified() and gh_cachectl_range().
 */

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "worker/core/gh.h"

/* ---- HTTP dates (RFC 9110 5.6.7) ---------------------------------------- */

#define GH_CC_DATE_LEN 29   /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/*
 * Parse an HTTP-date, P[0..LEN) (not NUL-terminated; the caller trims the
 * field value), in any of the three forms: IMF-fixdate "Sun, 06 Nov 1994
 * 08:49:37 GMT", obsolete RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and
 * asctime "Sun Nov  6 08:49:37 1994".  Strict: exact spacing, names
 * case-sensitive as the grammar says, the day must exist in its month (no
 * 30 Feb, leap years honoured), hour 00-23, minute 00-59, second 00-60 (a
 * leap second counts as the next minute's :00).  The day name must be a
 * valid name for the form but is not checked against the date (it is
 * redundant).  Any four-digit year is taken; before 1970 gives a negative
 * time.  An RFC 850 two-digit year is the year with those digits in the 100
 * years ending 50 years after NOW's, then, should the date be more than 50
 * years after NOW, 100 years earlier (RFC 9110 5.6.7).  Returns GH_OK with
 * *T, or GH_ERR (then an Expires is in the past, RFC 9111 5.3).
 */
int gh_cachectl_date_parse(const char *p, size_t len, time_t now, time_t *t);

/*
 * Write T as an IMF-fixdate, NUL-terminated, to BUF (LEN >= 30).  Returns
 * GH_CC_DATE_LEN, or GH_ERR when BUF is too small or T's year is outside
 * 0000-9999 (BUF then holds "" when LEN > 0).
 */
ssize_t gh_cachectl_date_format(time_t t, char *buf, size_t len);

/* ---- Cache-Control (RFC 9111 5.2) --------------------------------------- */

#define GH_CC_DELTA_MAX INT64_C(2147483648)     /* 2^31, RFC 9111 1.2.2 */
#define GH_CC_FOREVER   INT64_MAX   /* max-stale without a value: any */

/* Directive bits, one namespace for requests and responses. */
#define GH_CC_MAX_AGE          (1u << 0)    /* req, resp */
#define GH_CC_S_MAXAGE         (1u << 1)    /* resp */
#define GH_CC_NO_CACHE         (1u << 2)    /* req, resp (unqualified) */
#define GH_CC_NO_CACHE_FIELDS  (1u << 3)    /* resp: no-cache="field, ..." */
#define GH_CC_NO_STORE         (1u << 4)    /* req, resp */
#define GH_CC_PRIVATE          (1u << 5)    /* resp (unqualified) */
#define GH_CC_PRIVATE_FIELDS   (1u << 6)    /* resp: private="field, ..." */
#define GH_CC_PUBLIC           (1u << 7)    /* resp */
#define GH_CC_MUST_REVALIDATE  (1u << 8)    /* resp */
#define GH_CC_PROXY_REVALIDATE (1u << 9)    /* resp */
#define GH_CC_NO_TRANSFORM     (1u << 10)   /* req, resp */
#define GH_CC_MUST_UNDERSTAND  (1u << 11)   /* resp */
#define GH_CC_IMMUTABLE        (1u << 12)   /* resp (RFC 8246) */
#define GH_CC_SWR              (1u << 13)   /* resp: stale-while-revalidate */
#define GH_CC_SIE              (1u << 14)   /* req, resp: stale-if-error */
#define GH_CC_MAX_STALE        (1u << 15)   /* req */
#define GH_CC_MIN_FRESH        (1u << 16)   /* req */
#define GH_CC_ONLY_IF_CACHED   (1u << 17)   /* req */

/*
 * A response's Cache-Control.  Zero it, then call gh_cachectl_resp_cc() once
 * per field line (a zeroed struct is "no Cache-Control").  A bit is in HAS
 * when the directive is in force, in BAD when it was present but is not in
 * force: an invalid argument, or for max-age, s-maxage,
 * stale-while-revalidate and stale-if-error, two different values (RFC 9111
 * 4.2.1; equal repeats are fine).  Never both.  Everything but the two
 * slices is plain data and may be copied anywhere.
 */
struct gh_cc_respdir {
    uint32_t      has;          /* GH_CC_* in force */
    uint32_t      bad;          /* GH_CC_* present but void */
    uint32_t      nfields;      /* field lines parsed */
    uint8_t       malformed;    /* an element that is not a directive */
    int64_t       max_age;      /* valid when has & GH_CC_MAX_AGE ... */
    int64_t       s_maxage;
    int64_t       swr;          /* stale-while-revalidate */
    int64_t       sie;          /* stale-if-error */
    struct gh_str no_cache_fields;  /* borrows: the first qualified list */
    struct gh_str private_fields;   /* (inside the quotes), or {NULL, 0} */
};

/*
 * A request's Cache-Control.  Zero it, call gh_cachectl_req_cc() per field
 * line, then gh_cachectl_req_pragma() per Pragma line.  An invalid directive
 * is ignored (its bit goes to BAD); repeats keep the most restrictive value
 * (the smallest max-age, max-stale, stale-if-error; the largest min-fresh).
 */
struct gh_cc_reqdir {
    uint32_t has;
    uint32_t bad;
    uint32_t nfields;           /* Cache-Control lines parsed */
    uint8_t  malformed;
    int64_t  max_age;
    int64_t  max_stale;         /* GH_CC_FOREVER without a value */
    int64_t  min_fresh;
    int64_t  sie;
};

/*
 * Add one Cache-Control field line P[0..LEN) of a response.  Directive
 * names are case-insensitive; arguments are a token or a quoted-string
 * (RFC 9111 5.2: recipients accept both, so max-age="10" is 10; a quoted
 * number holding a backslash is invalid); OWS is allowed around commas and
 * around '='; empty list elements are skipped; unknown directives are
 * ignored.  A delta-seconds is 1*DIGIT (no sign), capped at
 * GH_CC_DELTA_MAX.  Restrictive directives (no-store, no-cache, private,
 * must-revalidate, proxy-revalidate, no-transform) count whatever argument
 * they carry; public, immutable and must-understand with an argument are
 * void (BAD).  An element that cannot be read (no directive name, an
 * unterminated quoted-string, bytes after the argument) sets MALFORMED: the
 * response is then not stored, since what was lost may have been "private";
 * the directive whose argument was unreadable still counts as above.
 * Returns GH_OK, or GH_ERR when the line set MALFORMED.
 */
int gh_cachectl_resp_cc(struct gh_cc_respdir *cc, const char *p, size_t len);

/* The same for a request's Cache-Control line (MALFORMED is only noted). */
int gh_cachectl_req_cc(struct gh_cc_reqdir *cc, const char *p, size_t len);

/*
 * One Pragma line of a request: "no-cache" there means Cache-Control:
 * no-cache when the request had no Cache-Control line (RFC 9111 5.4), so
 * call it after the Cache-Control lines.  Pragma in a response means
 * nothing.  Returns 1 when it set GH_CC_NO_CACHE, else 0.
 */
int gh_cachectl_req_pragma(struct gh_cc_reqdir *cc, const char *p,
                           size_t len);

/* ---- Vary, and the field-name lists of no-cache and private ------------- */

#define GH_CC_VARY_MAX 16

/*
 * Zero it, then call gh_cachectl_vary_parse() per Vary line.  NAMES are
 * unique (case-insensitively), in the order first seen, as sent.
 */
struct gh_cc_vary {
    struct gh_str names[GH_CC_VARY_MAX];    /* borrow the field lines */
    uint32_t      n;
    uint8_t       star;         /* "*": never stored, never served */
    uint8_t       invalid;      /* not a field-name list, or too many names */
};

/*
 * Add the field names of P[0..LEN), a comma list of field names or "*".
 * Also reads the list of a qualified no-cache or private.  Returns GH_OK,
 * or GH_ERR having set INVALID (a Vary we cannot honour: not stored).
 */
int gh_cachectl_vary_parse(struct gh_cc_vary *v, const char *p, size_t len);

/*
 * The secondary-key form of V: the names lower-cased, sorted, joined by ','
 * ("accept-encoding,accept-language"; "" for none), NUL-terminated in OUT.
 * Returns its length, GH_DECLINED when V is "*" or invalid (no key: do not
 * store), GH_ERR when OUTLEN is too small.
 */
ssize_t gh_cachectl_vary_key(const struct gh_cc_vary *v, char *out,
                             size_t outlen);

/* ---- Messages ------------------------------------------------------------ */

/* What the policy needs of a request. */
struct gh_cc_req {
    struct gh_str       method;         /* case-sensitive: "GET", "HEAD" */
    struct gh_cc_reqdir cc;
    uint8_t             authorization;  /* an Authorization field */
};

/* What it needs of a response head.  The caller fills what it found. */
struct gh_cc_resp {
    int                      status;
    struct gh_cc_respdir     cc;
    const struct gh_cc_vary *vary;      /* borrows; NULL: no Vary */
    time_t                   date;          /* when has_date */
    time_t                   expires;       /* when expires_ok */
    time_t                   last_modified; /* when has_last_modified */
    int64_t                  age;       /* Age field, -1: none or invalid */
    uint8_t                  has_date;      /* present and valid */
    uint8_t                  has_expires;   /* present, valid or not */
    uint8_t                  expires_ok;    /* valid, and a single value */
    uint8_t                  has_last_modified; /* present and valid */
    uint8_t                  set_cookie;
};

/* Operator settings. */
struct gh_cc_policy {
    int64_t heuristic_max;  /* cap of the Last-Modified heuristic (86400) */
    int64_t default_ttl;    /* heuristically cacheable without Last-Modified
                               nor explicit expiry; 0: not stored */
    int64_t stale_if_error; /* stale-if-error when the origin says nothing
                               against serving stale; 0: none */
};

/*
 * The Age field's value: its first non-empty member (RFC 9111 5.1) as
 * delta-seconds, capped.  Returns GH_OK with *AGE or GH_ERR (ignore it).
 */
int gh_cachectl_age_parse(const char *p, size_t len, int64_t *age);

/* ---- Freshness lifetime (RFC 9111 4.2.1, 4.2.2) ------------------------- */

#define GH_CC_LTS(X)                                                    \
    X(NONE,      "none")        /* no freshness: not stored */          \
    X(INVALID,   "invalid")     /* bad s-maxage / max-age: stale */     \
    X(S_MAXAGE,  "s-maxage")                                            \
    X(MAX_AGE,   "max-age")                                             \
    X(EXPIRES,   "expires")     /* Expires - Date (bad Expires: 0) */   \
    X(HEURISTIC, "heuristic")   /* 10% of Date - Last-Modified */       \
    X(DEFAULT,   "default")     /* policy default_ttl */

#define GH_CC_LT_ENUM(name, text) GH_CC_LT_##name,
enum gh_cc_lt {
    GH_CC_LTS(GH_CC_LT_ENUM)
    GH_CC_NLT
};
#undef GH_CC_LT_ENUM

/*
 * The freshness lifetime of R, received at RESPONSE_TIME, and in *HOW where
 * it came from.  First applicable: s-maxage; max-age; Expires - Date (Date
 * missing: RESPONSE_TIME; Expires invalid or earlier: 0); then, only for a
 * heuristically cacheable status or "public" (RFC 9111 4.2.2, 5.2.2.9), 10%
 * of Date - Last-Modified capped at heuristic_max (0 when Last-Modified is
 * not before Date), else default_ttl; else 0 with GH_CC_LT_NONE.  An invalid
 * or conflicting s-maxage, or max-age when no s-maxage is in force, makes
 * it 0 with GH_CC_LT_INVALID (RFC 9111 4.2.1: stale, but storable).
 */
int64_t gh_cachectl_lifetime(const struct gh_cc_resp *r, time_t response_time,
                             const struct gh_cc_policy *pol,
                             enum gh_cc_lt *how);

/* 1 for a status RFC 9110 15.1 calls heuristically cacheable. */
int gh_cachectl_heuristic_status(int status);

/* ---- Storability (RFC 9111 3, 3.5) -------------------------------------- */

#define GH_CC_STORES(X)                                                 \
    X(OK,            "stored")                                          \
    X(METHOD,        "method")        /* neither GET nor HEAD */        \
    X(REQ_NO_STORE,  "req-no-store")                                    \
    X(STATUS,        "status")        /* 1xx, 304, out of range */      \
    X(PARTIAL,       "partial")       /* 206: complete responses only */ \
    X(MUST_UNDERSTAND, "must-understand") /* status not understood */   \
    X(NO_STORE,      "no-store")                                        \
    X(PRIVATE,       "private")                                         \
    X(CC_MALFORMED,  "cc-malformed")                                    \
    X(AUTHORIZATION, "authorization")                                   \
    X(SET_COOKIE,    "set-cookie")                                      \
    X(VARY_STAR,     "vary-star")                                       \
    X(VARY_INVALID,  "vary-invalid")                                    \
    X(NO_FRESHNESS,  "no-freshness")  /* lifetime GH_CC_LT_NONE */

#define GH_CC_ST_ENUM(name, text) GH_CC_ST_##name,
enum gh_cc_store {
    GH_CC_STORES(GH_CC_ST_ENUM)
    GH_CC_NSTORE
};
#undef GH_CC_ST_ENUM

/*
 * May the shared cache store R, the response to Q?  HOW is what
 * gh_cachectl_lifetime() said for R.  Returns GH_CC_ST_OK or the first
 * reason not to, in the order of the enum.  The project's rules on top of
 * RFC 9111: a Set-Cookie response is stored only with public or s-maxage;
 * 206 is not stored (the cache keeps whole responses and answers ranges
 * itself); qualified private and no-cache are taken as unqualified (RFC
 * 9111 5.2.2.4 and 5.2.2.7 allow it; nothing is stripped); a malformed
 * Cache-Control is not stored.  HEAD is storable, but a cache should fill
 * with GET so that the entry has a body.
 */
enum gh_cc_store gh_cachectl_storable(const struct gh_cc_req *q,
                                      const struct gh_cc_resp *r,
                                      enum gh_cc_lt how);

/* ---- Age (RFC 9111 4.2.3) ----------------------------------------------- */

/*
 * The corrected initial age of R, requested at REQUEST_TIME and received at
 * RESPONSE_TIME: max(apparent_age, age_value + response_delay), where
 * apparent_age = max(0, response_time - Date) (0 without Date: an origin
 * clock ahead of ours ages nothing), age_value is R->age (0 when -1) and a
 * negative response_delay (our clock stepped back) counts as 0.  An origin
 * clock behind ours makes the response older: the safe side.
 */
int64_t gh_cachectl_initial_age(const struct gh_cc_resp *r,
                                time_t request_time, time_t response_time);

/*
 * current_age = INITIAL_AGE + (NOW - RESPONSE_TIME), the resident time
 * counting 0 when NOW is earlier.  Capped at GH_CC_DELTA_MAX, the value to
 * send in Age.
 */
int64_t gh_cachectl_current_age(int64_t initial_age, time_t response_time,
                                time_t now);

/* ---- Serving a stored response (RFC 9111 4.2, 4.2.4, 5.2.1, RFC 5861) --- */

#define GH_CC_SERVES(X)                                                 \
    X(FRESH,      "fresh")          /* serve it */                      \
    X(STALE,      "stale")          /* serve it: the client's max-stale */ \
    X(STALE_BG,   "stale-while-revalidate") /* serve it, refresh after */ \
    X(STALE_ERR,  "stale-if-error") /* origin failed: serve it */       \
    X(REVALIDATE, "revalidate")     /* conditional request first */     \
    X(NO,         "must-not-serve") /* forward, or 504 / the error */

#define GH_CC_SV_ENUM(name, text) GH_CC_SERVE_##name,
enum gh_cc_serve {
    GH_CC_SERVES(GH_CC_SV_ENUM)
    GH_CC_NSERVE
};
#undef GH_CC_SV_ENUM

/*
 * May a stored response with directives RC, freshness LIFETIME and current
 * AGE answer a request with directives QC?  It is fresh while LIFETIME >
 * AGE (so stale at AGE == LIFETIME).
 *
 * ORIGIN_FAILED == 0, before asking the origin:
 *  - no-cache in the response (any form) or the request: REVALIDATE;
 *  - fresh, age <= the request's max-age, and at least min-fresh left:
 *    FRESH;
 *  - stale, unless the response forbids serving stale (no-cache,
 *    must-revalidate, proxy-revalidate, s-maxage; RFC 9111 4.2.4):
 *    STALE when within the request's max-stale (and max-age, and no
 *    min-fresh); STALE_BG when within stale-while-revalidate and the
 *    request has none of max-age, min-fresh and max-stale;
 *  - else REVALIDATE, or NO with only-if-cached (the caller answers 504).
 * ORIGIN_FAILED != 0, the origin could not be asked or answered 5xx:
 * STALE_ERR when the staleness (0 if fresh) is within the stale-if-error
 * window, else NO (the caller answers with the error; 504 for
 * must-revalidate, RFC 9111 5.2.2.2).  The window is the response's
 * stale-if-error, which the origin sent knowingly and so overrides its own
 * must-revalidate, no-cache, proxy-revalidate and s-maxage; otherwise, and
 * only where those are absent, the larger of POL->stale_if_error and the
 * request's stale-if-error.
 */
enum gh_cc_serve gh_cachectl_serve(const struct gh_cc_respdir *rc,
                                   int64_t lifetime, int64_t age,
                                   const struct gh_cc_reqdir *qc,
                                   const struct gh_cc_policy *pol,
                                   int origin_failed);

const char *gh_cachectl_lt_name(enum gh_cc_lt how);
const char *gh_cachectl_store_name(enum gh_cc_store why);
const char *gh_cachectl_serve_name(enum gh_cc_serve what);

/* ---- Conditional requests and ranges (RFC 9110 13, 14) ------------------ */

/* A request's preconditions against a stored response. */
struct gh_cc_cond {
    struct gh_str        method;
    const struct gh_str *if_none_match;     /* field lines; borrows */
    uint32_t             n_if_none_match;   /* 0: absent */
    struct gh_str        if_modified_since; /* p NULL: absent, or sent
                                               twice (then ignored) */
    struct gh_str        if_range;          /* p NULL: absent */
    int                  status;            /* the stored response's */
    struct gh_str        etag;              /* stored ETag; p NULL: none */
    time_t               last_modified;
    time_t               date;
    uint8_t              has_last_modified;
    uint8_t              has_date;
};

/*
 * 1 when the cache answers 304 instead of the stored 2xx response, else 0
 * (answer it whole).  Only for GET and HEAD.  If-None-Match: "*" or any
 * listed entity-tag equal to the stored ETag by weak comparison (W/"x"
 * matches "x"); a line that is not a valid list spoils the whole field (no
 * 304).  If-Modified-Since only without If-None-Match: a valid date not
 * before the stored Last-Modified (an invalid date is ignored; NOW reads an
 * RFC 850 year).
 */
int gh_cachectl_not_modified(const struct gh_cc_cond *c, time_t now);

/*
 * If-Range (RFC 9110 13.1.5): 1 when the Range may be honoured (no
 * If-Range, or it matches), 0 when the whole response is sent.  An
 * entity-tag matches by strong comparison only; a date only when equal to
 * the stored Last-Modified and that is strong: at least 60 s before the
 * stored Date (RFC 9110 8.8.2.2, as an intermediate cache).
 */
int gh_cachectl_if_range(const struct gh_cc_cond *c, time_t now);

/*
 * One Range field value P[0..LEN) against a representation of SIZE bytes.
 * Returns GH_OK for 206 with bytes *FIRST..*LAST (inclusive; last clamped
 * to SIZE - 1, a suffix longer than SIZE is the whole), GH_ERR for 416
 * (first-pos >= SIZE; suffix "-0"), or GH_DECLINED to ignore Range and send
 * 200: a unit other than "bytes" (case-insensitive), invalid syntax
 * (including first > last), more than one range (RFC 9110 14.2 lets a
 * server ignore Range; one range covers what clients ask for, and
 * multipart/byteranges is not worth its cost here), or a suffix range of a
 * zero-length representation.  Numbers too large saturate (and so fail
 * or clamp as above).
 */
int gh_cachectl_range(const char *p, size_t len, uint64_t size,
                      uint64_t *first, uint64_t *last);

#endif
