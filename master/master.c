#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "master/checker.h"
#include "master/master.h"
#include "shm/shm.h"
#include "shm/state.h"
#include "worker/core/ev.h"
#include "worker/core/log.h"
#include "worker/listen.h"
#include "worker/worker.h"

/* Respawn backoff, for workers and the checker alike: a child that dies
 * within BACKOFF_STABLE ms of its start waits 100 ms, doubling up to 30 s,
 * before the next try — so a crashing child never becomes a fork storm. */
#define BACKOFF_FIRST  100
#define BACKOFF_MAX    30000
#define BACKOFF_STABLE 10000
/* After a stop signal, how long past timeouts.shutdown before SIGKILL. */
#define STOP_GRACE     5000

struct master_slot {
    pid_t   pid;            /* 0: not running */
    gh_msec started;
    gh_msec respawn_at;     /* 0: not scheduled */
    gh_msec backoff;
};

struct master {
    struct gh_conf      *conf;
    struct gh_listener  *ls;
    uint32_t             nls;
    struct master_slot  *slots;
    uint32_t             nslots;
    struct master_slot   checker;   /* the health checker */
    int                  checks;    /* 1: some upstream has checks */
    struct gh_shm        shm;       /* the segment, before any fork */
    int                  stopping;  /* 0, SIGQUIT or SIGTERM */
    gh_msec              kill_at;
};

static int
master_daemonize(const struct gh_conf *conf)
{
    pid_t pid = fork();
    int fd;

    if (pid == -1) {
        gh_log(GH_LOG_EMERG, errno, "fork() failed");
        return GH_ERR;
    }
    if (pid > 0)
        _exit(0);
    if (setsid() == -1)
        gh_log(GH_LOG_WARN, errno, "setsid() failed, ignored");
    fd = open("/dev/null", O_RDWR);
    if (fd == -1) {
        gh_log(GH_LOG_EMERG, errno, "open(\"/dev/null\") failed");
        return GH_ERR;
    }
    (void) dup2(fd, 0);
    (void) dup2(fd, 1);
    if (strcmp(conf->error_log, "stderr") != 0)
        (void) dup2(fd, 2);
    if (fd > 2)
        (void) close(fd);
    return GH_OK;
}

static int
master_write_pid(const char *path)
{
    char buf[32];
    int fd, n;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1)
        return GH_ERR;
    n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
    if (write(fd, buf, (size_t) n) != n) {
        int e = errno;

        (void) close(fd);
        errno = e;
        return GH_ERR;
    }
    return close(fd) == 0 ? GH_OK : GH_ERR;
}

static void
master_spawn(struct master *m, uint32_t slot, const sigset_t *old)
{
    struct master_slot *s = &m->slots[slot];
    pid_t pid = fork();

    if (pid == -1) {
        gh_log(GH_LOG_ALERT, errno, "fork() of worker %u failed", slot);
        s->respawn_at = gh_loop_clock() + BACKOFF_FIRST;
        return;
    }
    if (pid == 0) {
        int rc;

        (void) old;
        rc = gh_worker_main(m->conf, &m->shm, m->ls, m->nls, slot);
        gh_listen_free(m->ls, m->nls);
        gh_shm_close(&m->shm);
        free(m->slots);
        gh_conf_free(m->conf);
        exit(rc);   /* not _exit: LeakSanitizer checks workers too */
    }
    s->pid = pid;
    s->started = gh_loop_clock();
    s->respawn_at = 0;
    gh_log(GH_LOG_NOTICE, 0, "start worker process %d (slot %u)", (int) pid,
           slot);
}

static void
master_spawn_checker(struct master *m)
{
    struct master_slot *s = &m->checker;
    pid_t pid = fork();

    if (pid == -1) {
        gh_log(GH_LOG_ALERT, errno, "fork() of the checker failed");
        s->respawn_at = gh_loop_clock() + BACKOFF_FIRST;
        return;
    }
    if (pid == 0) {
        int rc;

        /* It accepts nothing: holding the listeners would only keep them
         * open after the master and workers are gone. */
        gh_listen_free(m->ls, m->nls);
        rc = gh_checker_main(m->conf, &m->shm);
        gh_shm_close(&m->shm);
        free(m->slots);
        gh_conf_free(m->conf);
        exit(rc);   /* not _exit: LeakSanitizer checks the checker too */
    }
    s->pid = pid;
    s->started = gh_loop_clock();
    s->respawn_at = 0;
    gh_log(GH_LOG_NOTICE, 0, "start checker process %d", (int) pid);
}

/* The slot of child PID (a worker's or the checker's), or NULL. */
static struct master_slot *
master_find(struct master *m, pid_t pid)
{
    for (uint32_t i = 0; i < m->nslots; i++)
        if (m->slots[i].pid == pid)
            return &m->slots[i];
    if (m->checker.pid == pid)
        return &m->checker;
    return NULL;
}

static void
master_reap(struct master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        gh_msec now = gh_loop_clock();
        struct master_slot *s = master_find(m, pid);
        const char *what = s == &m->checker ? "checker" : "worker";

        if (s == NULL)
            continue;
        s->pid = 0;
        if (m->stopping) {
            gh_log(GH_LOG_NOTICE, 0, "%s process %d exited with code %d",
                   what, (int) pid, WIFEXITED(status)
                   ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            continue;
        }
        if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);

            /* Killed from outside (an operator, the OOM killer) is not
             * our bug; a crash is. */
            gh_log(sig == SIGKILL || sig == SIGTERM ? GH_LOG_ERROR
                   : GH_LOG_ALERT, 0, "%s process %d exited on signal %d "
                   "(%s)%s", what, (int) pid, sig, strsignal(sig),
                   WCOREDUMP(status) ? " (core dumped)" : "");
        } else {
            gh_log(GH_LOG_CRIT, 0, "%s process %d exited with code %d",
                   what, (int) pid, WEXITSTATUS(status));
        }
        if (now - s->started > BACKOFF_STABLE)
            s->backoff = 0;
        s->respawn_at = now + s->backoff;
        if (s->backoff > 0 && s == &m->checker)
            gh_log(GH_LOG_WARN, 0, "checker keeps dying; respawning in "
                   "%lld ms", (long long) s->backoff);
        else if (s->backoff > 0)
            gh_log(GH_LOG_WARN, 0, "worker slot %u keeps dying; "
                   "respawning in %lld ms", (uint32_t) (s - m->slots),
                   (long long) s->backoff);
        s->backoff = s->backoff == 0 ? BACKOFF_FIRST
                     : GH_MIN(s->backoff * 2, BACKOFF_MAX);
    }
}

static uint32_t
master_running(const struct master *m)
{
    uint32_t n = 0;

    for (uint32_t i = 0; i < m->nslots; i++)
        n += m->slots[i].pid != 0;
    return n + (m->checker.pid != 0);
}

/* SIG to every worker and the checker. */
static void
master_signal_children(struct master *m, int sig)
{
    for (uint32_t i = 0; i <= m->nslots; i++) {
        pid_t pid = i < m->nslots ? m->slots[i].pid : m->checker.pid;

        if (pid != 0 && kill(pid, sig) == -1 && errno != ESRCH)
            gh_log(GH_LOG_ALERT, errno, "kill(%d, %d) failed", (int) pid,
                   sig);
    }
}

static void
master_reopen(struct master *m)
{
    if (strcmp(m->conf->error_log, "stderr") != 0
        && gh_log_open(m->conf->error_log) != GH_OK)
        gh_log(GH_LOG_CRIT, errno, "cannot reopen \"%s\"",
               m->conf->error_log);
    gh_log(GH_LOG_NOTICE, 0, "reopening logs");
    master_signal_children(m, SIGUSR1);
}

int
gh_master_run(struct gh_conf *conf, const struct gh_master_opts *o)
{
    struct master m = { .conf = conf };
    char err[512];
    sigset_t set, old;
    struct sigaction sa = { .sa_handler = SIG_IGN };
    int rc = 0;

    m.ls = gh_listen_build(conf, &m.nls, err, sizeof(err));
    if (m.ls == NULL
        || gh_listen_open(m.ls, m.nls, conf->workers, err, sizeof(err))
           != GH_OK) {
        gh_log(GH_LOG_EMERG, 0, "%s", err);
        gh_listen_free(m.ls, m.nls);
        return 1;
    }
    for (uint32_t i = 0; i < m.nls; i++) {
        for (uint32_t k = 0; k < m.ls[i].nfds; k++) {
            int secs = 1;

            /* Wake the worker only once the request's bytes are there. */
            if (setsockopt(m.ls[i].fds[k], IPPROTO_TCP, TCP_DEFER_ACCEPT,
                           &secs, sizeof(secs)) == -1)
                gh_log(GH_LOG_WARN, errno, "setsockopt(TCP_DEFER_ACCEPT) on "
                       "%s failed, ignored", m.ls[i].addr.text);
        }
    }
    if (!o->foreground && master_daemonize(conf) != GH_OK) {
        gh_listen_free(m.ls, m.nls);
        return 1;
    }
    if (conf->pid_file != NULL && master_write_pid(conf->pid_file) != GH_OK) {
        gh_log(GH_LOG_EMERG, errno, "cannot write pid file \"%s\"",
               conf->pid_file);
        gh_listen_free(m.ls, m.nls);
        return 1;
    }
    if (gh_shm_create(&m.shm, conf->shm_size, err, sizeof(err)) != GH_OK
        || gh_state_init(&m.shm, err, sizeof(err)) != GH_OK
        || gh_state_bind(&m.shm, conf, err, sizeof(err)) != GH_OK) {
        gh_log(GH_LOG_EMERG, 0, "shm_size: %s", err);
        gh_listen_free(m.ls, m.nls);
        return 1;
    }
    m.nslots = conf->workers;
    m.slots = calloc(m.nslots, sizeof(*m.slots));
    if (m.slots == NULL) {
        gh_log(GH_LOG_EMERG, ENOMEM, "start-up failed");
        gh_listen_free(m.ls, m.nls);
        return 1;
    }
    /* The master takes signals synchronously with sigtimedwait(): they
     * stay blocked, and children inherit that mask until they install
     * their own handlers. */
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, &old);
    sigemptyset(&sa.sa_mask);
    (void) sigaction(SIGPIPE, &sa, NULL);
    gh_log(GH_LOG_NOTICE, 0, "gatehouse/%s%s started, %u workers, config "
           "\"%s\"", GH_VERSION, GH_VERSION_EXTRA, conf->workers, conf->file);
    for (uint32_t i = 0; i < m.nslots; i++)
        master_spawn(&m, i, &old);
    m.checks = gh_checker_needed(conf);
    if (m.checks)
        master_spawn_checker(&m);
    for (;;) {
        gh_msec now = gh_loop_clock(), wait = 1000;
        struct timespec ts;
        siginfo_t si;
        int sig;

        if (m.stopping && master_running(&m) == 0)
            break;
        for (uint32_t i = 0; i < m.nslots && !m.stopping; i++) {
            struct master_slot *s = &m.slots[i];

            if (s->pid == 0 && s->respawn_at != 0) {
                if (s->respawn_at <= now)
                    master_spawn(&m, i, &old);
                else
                    wait = GH_MIN(wait, s->respawn_at - now);
            }
        }
        if (m.checks && !m.stopping && m.checker.pid == 0
            && m.checker.respawn_at != 0) {
            if (m.checker.respawn_at <= now)
                master_spawn_checker(&m);
            else
                wait = GH_MIN(wait, m.checker.respawn_at - now);
        }
        if (m.stopping && now >= m.kill_at) {
            gh_log(GH_LOG_WARN, 0, "workers still running after the "
                   "shutdown timeout: killing them");
            master_signal_children(&m, SIGKILL);
            m.kill_at = now + 1000;
        }
        ts.tv_sec = wait / 1000;
        ts.tv_nsec = (wait % 1000) * 1000000;
        sig = sigtimedwait(&set, &si, &ts);
        if (sig == -1)
            continue;   /* timeout or EINTR */
        switch (sig) {
        case SIGCHLD:
            master_reap(&m);
            break;
        case SIGQUIT:
            if (m.stopping)
                break;
            gh_log(GH_LOG_NOTICE, 0, "graceful shutdown (SIGQUIT)");
            m.stopping = SIGQUIT;
            m.kill_at = now + conf->timeouts.shutdown + STOP_GRACE;
            master_signal_children(&m, SIGQUIT);
            break;
        case SIGTERM:
        case SIGINT:
            gh_log(GH_LOG_NOTICE, 0, "fast shutdown (%s)", strsignal(sig));
            m.stopping = SIGTERM;
            m.kill_at = now + STOP_GRACE;
            master_signal_children(&m, SIGTERM);
            break;
        case SIGUSR1:
            master_reopen(&m);
            break;
        case SIGHUP:
            gh_log(GH_LOG_NOTICE, 0, "SIGHUP: configuration reload is not "
                   "implemented yet, ignored");
            break;
        default:
            gh_log(GH_LOG_NOTICE, 0, "signal %d (%s) ignored: binary "
                   "upgrade is not implemented yet", sig, strsignal(sig));
            break;
        }
    }
    gh_log(GH_LOG_NOTICE, 0, "exit");
    if (conf->pid_file != NULL && unlink(conf->pid_file) == -1
        && errno != ENOENT)
        gh_log(GH_LOG_ALERT, errno, "unlink(\"%s\") failed", conf->pid_file);
    gh_listen_free(m.ls, m.nls);
    gh_shm_close(&m.shm);
    free(m.slots);
    return rc;
}
