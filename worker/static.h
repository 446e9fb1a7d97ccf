#ifndef GH_WORKER_STATIC_H
#define GH_WORKER_STATIC_H

/*
 * Static files for routes with `root`.  This module decides what to send;
 * the connection sends it (header from `headers`, body with sendfile(2)).
 */

#include <sys/types.h>
#include <time.h>

#include "worker/core/gh.h"

struct gh_static_req {
    const char *root;       /* route root, no trailing '/' */
    const char *index;      /* index file name ("index.html") */
    const char *path;       /* normalised path (gh_path_normalize), NUL-ended */
    int         head;       /* HEAD request */
    int         get;        /* GET request (else 405 unless head) */
    /* Request header values, NUL-terminated, or NULL when absent. */
    const char *if_modified_since;
    const char *if_none_match;
    const char *range;
    const char *if_range;
};

struct gh_static_resp {
    int   status;           /* 200 206 301 304 403 404 405 416 500 */
    int   fd;               /* open file, O_CLOEXEC, caller closes; or -1 */
    off_t offset;           /* first byte of the file to send */
    off_t length;           /* bytes to send (0 for HEAD/304/errors) */
    off_t content_length;   /* value for Content-Length */
    /*
     * Extra header lines, each ending in "\r\n": Content-Type,
     * Last-Modified, ETag, Accept-Ranges, Content-Range, Location (301 to
     * the path with a '/' appended for a directory), Allow (405).  Never
     * Content-Length, Date, Server or Connection: the caller adds those.
     */
    char   headers[768];
    size_t headers_len;
};

/*
 * Open and stat the file for RQ and fill RS.  Returns GH_OK (RS filled,
 * including error statuses such as 404) or GH_ERR on an internal failure
 * (RS->status 500, errno set, caller logs).  Blocks on the file system
 * (open/fstat), as nginx does without thread pools.
 */
int gh_static_open(const struct gh_static_req *rq, struct gh_static_resp *rs);

/* Content-Type for a file name by extension; "application/octet-stream". */
const char *gh_static_mime(const char *name);

/* HTTP date (RFC 9110 5.6.7 IMF-fixdate) <-> time_t. */
size_t gh_http_date(time_t t, char *buf, size_t len);   /* needs len >= 30 */
int gh_http_date_parse(const char *s, time_t *out);     /* GH_OK / GH_ERR */

#endif
