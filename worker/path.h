#ifndef GH_WORKER_PATH_H
#define GH_WORKER_PATH_H

/*
 * Request-target path handling.  Routing and static files work on the
 * normalised path; the upstream gets the client's original target.
 */

#include "worker/core/gh.h"

/*
 * Decode %XX escapes in the path part of a request target (IN, LEN: from the
 * first '/' up to, not including, '?' or '#'), collapse "//", resolve "."
 * and "..", and write the result, NUL-terminated, to OUT (OUTLEN bytes).
 * Returns the length written, or GH_ERR when the path is invalid: not
 * starting with '/', a bad or NUL escape (%00, %zz, truncated), a NUL or
 * control byte, ".." above the root (also when spelt %2e%2e), or no room.
 * Pure, does not block or allocate.
 */
ssize_t gh_path_normalize(const char *in, size_t len, char *out,
                          size_t outlen);

#endif
