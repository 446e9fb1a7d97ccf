#ifndef GH_WORKER_CACHEREQ_H
#define GH_WORKER_CACHEREQ_H

/*
 * The shared HTTP cache as a request sees it (issue 5): keys, the stored
 * metadata of a response and what a request may do with it.  Pure
 * functions over bytes and the parsed messages: no I/O and no lock (the
 * storage is shm/cache.h, the policy worker/cachectl.h, the I/O
 * worker/conn.c).
 *
 * An entry's metadata blob is a struct gh_cmeta followed by the response's
 * header lines as they will be sent ("Name: value\r\n" each), without the
 * hop-by-hop and framing fields, Age, and Set-Cookie (never shared).  A
 * primary key whose responses vary has a descriptor entry with no variant:
 * flag GH_CMETA_VARY, its header block the Vary key ("accept-language,user-agent":
 * lower case, sorted, no blanks), no body; the responses live under (key, variant), the
 * variant being the request's values of those fields, normalised.
 */

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "conf/conf.h"
#include "worker/cachectl.h"
#include "worker/core/gh.h"
#include "worker/http.h"

#define GH_CMETA_MAGIC   0x47434d31u    /* "GCM1" */
#define GH_CMETA_VARY    0x01u          /* a Vary descriptor */
#define GH_CMETA_HDRS    64             /* stored fields, at most */

/* Plain data: copied from and to the segment. */
struct gh_cmeta {
    uint32_t magic;
    uint32_t flags;
    int32_t  status;
    uint32_t hdr_len;           /* bytes of header lines after it */
    int64_t  response_time;     /* unix s: when it arrived (or was
                                   revalidated) */
    int64_t  initial_age;       /* corrected initial age then */
    int64_t  lifetime;          /* freshness lifetime, s */
    int64_t  last_modified;
    int64_t  date;
    int64_t  length;            /* body bytes from Content-Length; -1 */
    uint32_t cc_has, cc_bad;    /* struct gh_cc_respdir, without slices */
    int64_t  max_age, s_maxage, swr, sie;
    uint8_t  has_last_modified, has_date, has_validator, pad[5];
};

/* The header lines of BLOCK (as stored) into HDRS[0..MAX): their count. */
uint32_t gh_creq_split(const char *block, size_t len, struct gh_hdr *hdrs,
                       uint32_t max);

/*
 * The primary key of a request: the zone's key elements, then the route's
 * cache_key_extra values, each followed by '\n'.  METHOD is the method's
 * name (HEAD passed as GET), PATH the normalised path, ARGS the query
 * (without '?'; may be empty).  Q (may be NULL: extras empty) gives the
 * headers, cookies and query arguments of cache_key_extra.  Returns the
 * length, or GH_ERR when OUT is too small.
 */
ssize_t gh_creq_key(const struct gh_route *rt, const char *method,
                    int https, struct gh_str host, struct gh_str path,
                    struct gh_str args, const struct gh_http_msg *q,
                    char *out, size_t outlen);
/*
 * The two parts of it.  The cache keeps the zone part as an entry's
 * primary key and the extras before the Vary values in its variant, so
 * that a PURGE or an invalidation of the URL (gh_cache_purge() of the
 * primary key) reaches every extra value's entries.
 */
ssize_t gh_creq_key_zone(const struct gh_cache_zone *z, const char *method,
                         int https, struct gh_str host, struct gh_str path,
                         struct gh_str args, char *out, size_t outlen);
ssize_t gh_creq_key_extra(const struct gh_route *rt, struct gh_str args,
                          const struct gh_http_msg *q, char *out,
                          size_t outlen);

/* The variant of request Q for the Vary key VKEY: "name=value\n" for each
 * name, the values of all of Q's fields of that name joined by ',' with
 * the blanks around commas dropped ("name\n" when Q has no such field).
 * Length, or GH_ERR (too long). */
ssize_t gh_creq_variant(struct gh_str vkey, const struct gh_http_msg *q,
                        char *out, size_t outlen);

/* A request's directives (Cache-Control, Pragma, Authorization). */
void gh_creq_req(const struct gh_http_msg *q, struct gh_cc_req *r);

/*
 * Describe a response for storing: STATUS and its fields HDRS[0..N) (the
 * message's, or a stored block's merged with a 304's), received at
 * RESPONSE_TIME for a request sent at REQUEST_TIME.  Fills M (but not
 * hdr_len), the Vary key into VKEY (VKEYLEN bytes; "" without Vary) and
 * returns whether and why it may be stored (GH_CC_ST_OK, ...), with
 * Q the request's directives and POL the zone's policy.
 */
enum gh_cc_store gh_creq_describe(int status, const struct gh_hdr *hdrs,
                                  uint32_t n, const struct gh_cc_req *q,
                                  const struct gh_cc_policy *pol,
                                  time_t request_time, time_t response_time,
                                  struct gh_cmeta *m, char *vkey,
                                  size_t vkeylen);

/* 1 when a field of that name is stored with a response. */
int gh_creq_keep_field(const struct gh_hdr *h);

/* The zone's policy. */
void gh_creq_policy(const struct gh_cache_zone *z, struct gh_cc_policy *pol);

/* The stored directives of M as a struct gh_cc_respdir (no slices). */
void gh_creq_respdir(const struct gh_cmeta *m, struct gh_cc_respdir *rc);

#endif
