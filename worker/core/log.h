#ifndef GH_WORKER_CORE_LOG_H
#define GH_WORKER_CORE_LOG_H

/*
 * The error log.  One fd per process (inherited from the master, reopened on
 * USR1).  Lines look like nginx's:
 *   2026/11/23 09:01:02 [error] 1234#0: upstream timed out (110: ...) ...
 * gh_log() appends ": strerror(err)" style "(err: text)" when err != 0.
 * Never blocks for long (a single write(2) of one line); safe to call
 * anywhere but in a signal handler or an shm critical section.
 */

#include <stdarg.h>

#include "conf/conf.h"
#include "worker/core/gh.h"

extern enum gh_log_level gh_log_max;   /* lines above this are dropped */

void gh_log(enum gh_log_level level, int err, const char *fmt, ...)
    GH_PRINTF(3, 4);
void gh_logv(enum gh_log_level level, int err, const char *fmt, va_list ap);

/*
 * Open PATH ("stderr" or a file, appended) as the error log.  Returns GH_OK
 * or GH_ERR with errno set; the previous log stays in use on failure.
 */
int gh_log_open(const char *path);
/* Which process we are, for the "pid#slot" part of each line. */
void gh_log_set_slot(int slot);
int gh_log_fd(void);

#define gh_log_enabled(l) ((l) <= gh_log_max)

#endif
