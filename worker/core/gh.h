#ifndef GH_WORKER_CORE_GH_H
#define GH_WORKER_CORE_GH_H

/*
 * The base header every gatehouse file includes: the one return vocabulary
 * and a few macros.  Lengths are ssize_t with these negatives; pointers are
 * NULL on failure.
 */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GH_OK        0      /* done; for a state step: go on */
#define GH_ERR      -1      /* failed, caller cleans up */
#define GH_AGAIN    -2      /* would block or needs more bytes: call again */
#define GH_DECLINED -3      /* not possible here: try the next candidate */

#define GH_VERSION "0.1.0"
#ifndef GH_VERSION_EXTRA
#define GH_VERSION_EXTRA ""
#endif

#define GH_NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define GH_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GH_MAX(a, b) ((a) > (b) ? (a) : (b))
#define gh_likely(x)   __builtin_expect(!!(x), 1)
#define gh_unlikely(x) __builtin_expect(!!(x), 0)
#define gh_container_of(p, type, member) \
    ((type *) (void *) ((char *) (p) - offsetof(type, member)))

#define GH_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Milliseconds: every duration in the config and the timers. */
typedef int64_t gh_msec;

/* A borrowed slice of bytes; not NUL-terminated unless said so. */
struct gh_str {
    const char *p;
    size_t      len;
};

#define GH_STR(s) { (s), sizeof(s) - 1 }

#endif
