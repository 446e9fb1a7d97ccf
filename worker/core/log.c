#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "worker/core/log.h"

enum gh_log_level gh_log_max = GH_LOG_INFO;

static int log_fd = 2;
static int log_slot;

static const char *const log_names[] = {
    "emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"
};

const char *
gh_log_level_name(enum gh_log_level l)
{
    return (unsigned) l < GH_NELEM(log_names) ? log_names[l] : "?";
}

void
gh_log_set_slot(int slot)
{
    log_slot = slot;
}

int
gh_log_fd(void)
{
    return log_fd;
}

int
gh_log_open(const char *path)
{
    int fd;

    if (strcmp(path, "stderr") == 0) {
        if (log_fd > 2)
            (void) close(log_fd);
        log_fd = 2;
        return GH_OK;
    }
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd == -1)
        return GH_ERR;
    if (log_fd > 2)
        (void) close(log_fd);   /* the old log; nothing to report */
    log_fd = fd;
    return GH_OK;
}

void
gh_logv(enum gh_log_level level, int err, const char *fmt, va_list ap)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int r;

    if (level > gh_log_max)
        return;
    (void) gettimeofday(&tv, NULL);
    (void) localtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y/%m/%d %H:%M:%S", &tm);
    r = snprintf(line + n, sizeof(line) - n, " [%s] %d#%d: ",
                 gh_log_level_name(level), (int) getpid(), log_slot);
    n += (size_t) r;
    r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    if (r > 0)
        n = GH_MIN(n + (size_t) r, sizeof(line) - 1);
    if (err && n < sizeof(line) - 1) {
        r = snprintf(line + n, sizeof(line) - n, " (%d: %s)", err,
                     strerror(err));
        if (r > 0)
            n = GH_MIN(n + (size_t) r, sizeof(line) - 1);
    }
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line so lines from several processes never mix. */
    if (write(log_fd, line, n) == -1) {
        /* Nowhere left to report it. */
    }
}

void
gh_log(enum gh_log_level level, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    gh_logv(level, err, fmt, ap);
    va_end(ap);
}
