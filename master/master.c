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
#include "shm/cachedir.h"
#include "shm/shm.h"
#include "shm/ctable.h"
#include "shm/state.h"
#include "worker/tls.h"
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
    uint64_t             tls_keys;  /* TLS ticket keys in it; 0: none */
    struct gh_cachedir   caches;    /* the cache zones we hold in it */
    int                  stopping;  /* 0, SIGQUIT or SIGTERM */
    gh_msec              kill_at;
    /* Children of an earlier generation (before a reload or WINCH):
     * finishing their requests, never respawned. */
    pid_t               *old;
    uint32_t             nold;
    int                  winched;   /* WINCH: our workers are stopped */
    /* Binary upgrade. */
    char                 exe[4096]; /* our binary, as started */
    char               **argv;
    pid_t                newbin;    /* the new master, while it runs */
    char                 oldbin[4200];  /* "<pid_file>.oldbin" */
    const char          *pid_path;  /* the pid file that is ours now */
};

#define MASTER_INHERIT_ENV "GATEHOUSE_INHERIT"


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
        gh_cachedir_free(&m->caches);
        free(m->slots);
        free(m->old);
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
        gh_cachedir_free(&m->caches);
        free(m->slots);
        free(m->old);
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
master_kill(pid_t pid, int sig)
{
    if (pid != 0 && kill(pid, sig) == -1 && errno != ESRCH)
        gh_log(GH_LOG_ALERT, errno, "kill(%d, %d) failed", (int) pid, sig);
}

/* An old generation's child is gone: expected, it was told to finish. */
static void
master_forget_old(struct master *m, pid_t pid, int code)
{
    for (uint32_t i = 0; i < m->nold; i++) {
        if (m->old[i] == pid) {
            m->old[i] = m->old[--m->nold];
            gh_log(code == 0 ? GH_LOG_NOTICE : GH_LOG_WARN, 0, "old "
                   "process %d exited with code %d", (int) pid, code);
            return;
        }
    }
}

/*
 * The running workers and checker become an old generation: they get
 * SIGQUIT (stop accepting, finish in-flight requests within
 * timeouts.shutdown, close keep-alive connections after their current
 * response) and are not respawned.  GH_ERR on ENOMEM (nothing changed).
 */
static int
master_retire(struct master *m)
{
    uint32_t n = m->nold + m->nslots + 1;
    pid_t *old = realloc(m->old, n * sizeof(*old));

    if (old == NULL)
        return GH_ERR;
    m->old = old;
    for (uint32_t i = 0; i <= m->nslots; i++) {
        struct master_slot *s = i < m->nslots ? &m->slots[i] : &m->checker;

        if (s->pid != 0) {
            master_kill(s->pid, SIGQUIT);
            m->old[m->nold++] = s->pid;
        }
        *s = (struct master_slot) { 0 };
    }
    return GH_OK;
}

/* Wake workers only once the request's bytes are there (idempotent). */
static void
master_defer_accept(struct gh_listener *ls, uint32_t nls)
{
    for (uint32_t i = 0; i < nls; i++) {
        for (uint32_t k = 0; k < ls[i].nfds; k++) {
            int secs = 1;

            if (ls[i].fds[k] != -1
                && setsockopt(ls[i].fds[k], IPPROTO_TCP, TCP_DEFER_ACCEPT,
                              &secs, sizeof(secs)) == -1)
                gh_log(GH_LOG_WARN, errno, "setsockopt(TCP_DEFER_ACCEPT) on "
                       "%s failed, ignored", ls[i].addr.text);
        }
    }
}

/*
 * Give the listeners NL of a new configuration their sockets: those of an
 * address that OLD already has are taken over (the same sockets, so the
 * accept queues never close), the others are bound now.  On failure only
 * what was bound here is closed and OLD is untouched; on success the
 * taken-over fds are -1 in OLD.
 */
static int
master_listen_take(struct gh_listener *old, uint32_t nold,
                   struct gh_listener *nl, uint32_t nnl, uint32_t workers,
                   char *err, size_t errlen)
{
    uint32_t i;

    for (i = 0; i < nnl; i++) {
        struct gh_listener *o = gh_listen_find(old, nold, &nl[i].addr);

        if (gh_listen_open_one(&nl[i], o ? o->fds : NULL, o ? o->nfds : 0,
                               workers, err, errlen) != GH_OK)
            goto fail;
    }
    for (i = 0; i < nnl; i++) {
        struct gh_listener *o = gh_listen_find(old, nold, &nl[i].addr);

        for (uint32_t k = 0; o != NULL && k < o->nfds; k++)
            o->fds[k] = -1;
    }
    return GH_OK;
fail:
    /* Close what we bound; leave the taken-over fds to OLD. */
    for (uint32_t j = 0; j <= i && j < nnl; j++) {
        struct gh_listener *o = gh_listen_find(old, nold, &nl[j].addr);
        uint32_t have = o ? o->nfds : 0;

        for (uint32_t k = 0; nl[j].fds != NULL && k < nl[j].nfds; k++) {
            if (k >= have && nl[j].fds[k] != -1)
                (void) close(nl[j].fds[k]);
            nl[j].fds[k] = -1;
        }
    }
    return GH_ERR;
}

static void
master_spawn_all(struct master *m, const sigset_t *old)
{
    for (uint32_t i = 0; i < m->nslots; i++)
        master_spawn(m, i, old);
    m->checks = gh_checker_needed(m->conf);
    if (m->checks)
        master_spawn_checker(m);
}

/*
 * The shared per-client table (limits.client_table_size): made on a fresh
 * segment, kept as it is on a reload or an adopted one (a new size waits
 * for a restart: a notice says so); and the TLS session caches and ticket
 * keys (gh_tls_shm_bind()).
 */
static int
master_ctable(struct master *m, struct gh_conf *conf, char *err,
              size_t errlen)
{
    char note[256] = "";

    if (gh_ctable_init(&m->shm, conf->limits.client_table_size, note,
                       sizeof(note), err, errlen) != GH_OK)
        return GH_ERR;
    if (note[0] != '\0')
        gh_log(GH_LOG_NOTICE, 0, "%s", note);
    /* TLS session caches and ticket keys: the checker rotates the keys. */
    if (gh_tls_shm_bind(conf, &m->shm, &m->tls_keys, err,
                        errlen) != GH_OK)
        return GH_ERR;
    gh_checker_set_tls_keys(m->tls_keys);
    return GH_OK;
}

static void
master_cache_note(void *arg, const char *msg)
{
    (void) arg;
    gh_log(GH_LOG_NOTICE, 0, "%s", msg);
}

/*
 * No process of an earlier generation is left: the cache zones only they
 * used (resized or removed by a reload) can go.
 */
static void
master_caches_settle(struct master *m)
{
    if (m->nold == 0)
        gh_cachedir_settle(&m->caches, &m->shm, master_cache_note, NULL);
}

/*
 * SIGHUP: read the configuration again.  Invalid: say why and change
 * nothing.  Valid: new workers with it on the same sockets (plus any new
 * address), then the old ones finish what they have.  Shared state is
 * matched by identity (gh_state_bind), so servers that remain keep their
 * health and counters.
 */
static void
master_reload(struct master *m, const sigset_t *sigold)
{
    char err[1024];
    struct gh_conf *nc;
    struct gh_listener *nl;
    struct master_slot *slots;
    pid_t *old;
    uint32_t nnl = 0;

    gh_log(GH_LOG_NOTICE, 0, "reloading the configuration \"%s\"",
           m->conf->file);
    nc = gh_conf_load(m->conf->file, err, sizeof(err));
    if (nc == NULL) {
        gh_log(GH_LOG_ERROR, 0, "%s; reload failed, still running with the "
               "previous configuration", err);
        return;
    }
    nl = gh_listen_build(nc, &nnl, err, sizeof(err));
    slots = calloc(nc->workers, sizeof(*slots));
    /* Everything that can fail comes before the first change. */
    old = realloc(m->old, (m->nold + m->nslots + 1) * sizeof(*old));
    if (old != NULL)
        m->old = old;
    if (nl == NULL || slots == NULL || old == NULL
        || gh_state_bind(&m->shm, nc, err, sizeof(err)) != GH_OK
        || master_ctable(m, nc, err, sizeof(err)) != GH_OK
        || gh_cachedir_prepare(&m->caches, &m->shm, nc, err,
                               sizeof(err)) != GH_OK
        || master_listen_take(m->ls, m->nls, nl, nnl, nc->workers, err,
                              sizeof(err)) != GH_OK) {
        gh_log(GH_LOG_ERROR, 0, "%s; reload failed, still running with the "
               "previous configuration", nl && slots && old ? err
               : "out of memory");
        gh_cachedir_cancel(&m->caches, &m->shm);    /* if prepared */
        gh_listen_free(nl, nnl);
        free(slots);
        gh_conf_free(nc);
        return;
    }
    gh_cachedir_commit(&m->caches, &m->shm, nc, master_cache_note, NULL);
    (void) master_retire(m);    /* room reserved above: cannot fail */
    master_caches_settle(m);    /* nothing was running (after WINCH) */
    master_defer_accept(nl, nnl);
    /* Addresses that went away: our copies close now; the old workers'
     * copies when they stop accepting. */
    gh_listen_free(m->ls, m->nls);
    gh_conf_free(m->conf);
    free(m->slots);
    m->conf = nc;
    m->ls = nl;
    m->nls = nnl;
    m->slots = slots;
    m->nslots = nc->workers;
    m->winched = 0;
    gh_log_max = nc->log_level;
    if (strcmp(nc->error_log, "stderr") != 0
        && gh_log_open(nc->error_log) != GH_OK)
        gh_log(GH_LOG_CRIT, errno, "cannot open \"%s\"", nc->error_log);
    master_spawn_all(m, sigold);
    gh_log(GH_LOG_NOTICE, 0, "reloaded: %u workers, %u listen addresses; "
           "%u old processes finishing", nc->workers, nnl, m->nold);
}

/* ---- binary upgrade ----------------------------------------------------- */

/* The new master is gone (failed, or stopped for a rollback): we are the
 * daemon again. */
static void
master_upgrade_failed(struct master *m, int code)
{
    if (code == 0)      /* told to stop: a rollback */
        gh_log(GH_LOG_NOTICE, 0, "new master (pid %d) exited with code 0: "
               "the old master serves alone again%s", (int) m->newbin,
               m->winched ? " (its workers were stopped by WINCH: send "
               "HUP to start them again)" : "");
    else
        gh_log(GH_LOG_ERROR, 0, "new binary (pid %d) exited with code %d: "
               "upgrade failed (gatehouse -t shows config errors), the old "
               "master goes on serving%s", (int) m->newbin, code,
               m->winched ? " (its workers were stopped by WINCH: send HUP "
               "to start them again)" : "");
    m->newbin = 0;
    if (m->conf->pid_file != NULL) {
        if (rename(m->oldbin, m->conf->pid_file) == -1)
            gh_log(GH_LOG_ALERT, errno, "rename(\"%s\", \"%s\") failed",
                   m->oldbin, m->conf->pid_file);
        else
            m->pid_path = m->conf->pid_file;
    }
}

/*
 * SIGUSR2: start the binary we were started from (it may have been
 * replaced on disk) with the same arguments, handing it the listening
 * sockets and the segment by inherited fds named in GATEHOUSE_INHERIT:
 * "shm=FD;ADDR=FD,FD,...;...".  Both generations serve until WINCH/QUIT.
 */
static void
master_upgrade(struct master *m, const sigset_t *sigold)
{
    size_t cap = 64, len;
    char *env;
    pid_t pid;

    if (m->newbin != 0) {
        gh_log(GH_LOG_WARN, 0, "SIGUSR2 ignored: an upgrade is already under "
               "way (new master %d)", (int) m->newbin);
        return;
    }
    for (uint32_t i = 0; i < m->nls; i++)
        cap += sizeof(m->ls[i].addr.text) + 2 + m->ls[i].nfds * 12;
    env = malloc(cap);
    if (env == NULL) {
        gh_log(GH_LOG_CRIT, ENOMEM, "upgrade failed");
        return;
    }
    len = (size_t) snprintf(env, cap, "shm=%d", m->shm.fd);
    for (uint32_t i = 0; i < m->nls; i++) {
        len += (size_t) snprintf(env + len, cap - len, ";%s=",
                                 m->ls[i].addr.text);
        for (uint32_t k = 0; k < m->ls[i].nfds; k++)
            len += (size_t) snprintf(env + len, cap - len, "%s%d",
                                     k ? "," : "", m->ls[i].fds[k]);
    }
    if (m->conf->pid_file != NULL) {
        if (rename(m->conf->pid_file, m->oldbin) == -1) {
            gh_log(GH_LOG_ERROR, errno, "upgrade failed: rename(\"%s\", "
                   "\"%s\")", m->conf->pid_file, m->oldbin);
            free(env);
            return;
        }
        m->pid_path = m->oldbin;
    }
    pid = fork();
    if (pid == 0) {
        (void) sigprocmask(SIG_SETMASK, sigold, NULL);
        if (setenv(MASTER_INHERIT_ENV, env, 1) == 0)
            (void) execv(m->exe, m->argv);
        gh_log(GH_LOG_ALERT, errno, "execv(\"%s\") failed", m->exe);
        _exit(1);
    }
    free(env);
    if (pid == -1) {
        gh_log(GH_LOG_ALERT, errno, "upgrade failed: fork()");
        m->newbin = -1;
        master_upgrade_failed(m, -1);
        return;
    }
    m->newbin = pid;
    gh_log(GH_LOG_NOTICE, 0, "upgrade: started new binary \"%s\" as pid %d",
           m->exe, (int) pid);
}

/*
 * In a new master started by an upgrade: take over the segment and the
 * listening sockets named in GATEHOUSE_INHERIT.  Sockets of addresses the
 * new configuration does not have are closed.  Returns 1 when a segment
 * was adopted (its state kept), 0 when a fresh one is needed.
 */
static int
master_inherit(struct master *m, const char *env, char *err, size_t errlen)
{
    char *copy = strdup(env), *save = NULL, *tok;
    int adopted = 0;

    if (copy == NULL)
        return 0;
    for (tok = strtok_r(copy, ";", &save); tok != NULL;
         tok = strtok_r(NULL, ";", &save)) {
        char *eq = strrchr(tok, '='), *fs, *save2 = NULL;
        int fds[1024];
        uint32_t n = 0;
        struct gh_addr a;
        struct gh_listener *l;

        if (eq == NULL)
            continue;
        *eq = '\0';
        if (strcmp(tok, "shm") == 0) {
            int fd = atoi(eq + 1), rc = gh_shm_adopt(&m->shm, fd, err,
                                                      errlen);

            if (rc == GH_OK) {
                adopted = 1;
            } else {
                gh_log(GH_LOG_NOTICE, 0, "the running segment was not "
                       "adopted (%s): starting a fresh one; counters, health "
                       "and cache are not carried over", err);
                (void) close(fd);
            }
            continue;
        }
        for (fs = strtok_r(eq + 1, ",", &save2); fs != NULL && n < 1024;
             fs = strtok_r(NULL, ",", &save2))
            fds[n++] = atoi(fs);
        l = gh_conf_parse_addr(tok, &a) == GH_OK
            ? gh_listen_find(m->ls, m->nls, &a) : NULL;
        if (l != NULL && l->fds == NULL
            && gh_listen_open_one(l, fds, n, m->conf->workers, err, errlen)
               == GH_OK)
            continue;
        for (uint32_t k = 0; k < n; k++)
            if (fds[k] > 2)
                (void) close(fds[k]);
    }
    free(copy);
    return adopted;
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
        int code = WIFEXITED(status) ? WEXITSTATUS(status)
                   : 128 + WTERMSIG(status);

        int64_t given;

        if (pid == m->newbin) {
            master_upgrade_failed(m, code);
            continue;
        }
        /* What it held in the shared counters (requests in flight, queue
         * places) comes back: none after a clean exit. */
        given = gh_state_proc_reap(&m->shm, (int32_t) pid);
        if (given > 0)
            gh_log(GH_LOG_WARN, 0, "process %d died holding %lld shared "
                   "counts (requests in flight, queue places, client "
                   "connections): given back",
                   (int) pid, (long long) given);
        if (s == NULL) {
            master_forget_old(m, pid, code);
            master_caches_settle(m);
            continue;
        }
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
    return n + (m->checker.pid != 0) + m->nold;
}

/* SIG to every worker and the checker, of every generation. */
static void
master_signal_children(struct master *m, int sig)
{
    for (uint32_t i = 0; i < m->nslots; i++)
        master_kill(m->slots[i].pid, sig);
    master_kill(m->checker.pid, sig);
    for (uint32_t i = 0; i < m->nold; i++)
        master_kill(m->old[i], sig);
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
    struct master m = { .conf = conf, .argv = o->argv };
    const char *inherit = getenv(MASTER_INHERIT_ENV);
    char err[512];
    sigset_t set, old;
    struct sigaction sa = { .sa_handler = SIG_IGN };
    int rc = 0, adopted = 0;
    ssize_t n;

    m.shm.fd = -1;
    /* Now, before anyone replaces the file: the binary to exec on USR2. */
    n = readlink("/proc/self/exe", m.exe, sizeof(m.exe) - 1);
    if (n > 0)
        m.exe[n] = '\0';
    else
        snprintf(m.exe, sizeof(m.exe), "%s", o->argv ? o->argv[0] : "");
    if (conf->pid_file != NULL)
        snprintf(m.oldbin, sizeof(m.oldbin), "%s.oldbin", conf->pid_file);
    m.pid_path = conf->pid_file;
    m.ls = gh_listen_build(conf, &m.nls, err, sizeof(err));
    if (m.ls == NULL)
        goto fail;
    if (inherit != NULL) {
        char *copy = strdup(inherit);

        /* Our workers must not see it (nor a later upgrade's exec). */
        (void) unsetenv(MASTER_INHERIT_ENV);
        adopted = copy ? master_inherit(&m, copy, err, sizeof(err)) : 0;
        free(copy);
        gh_log(GH_LOG_NOTICE, 0, "started by a binary upgrade: listening "
               "sockets taken over, segment %s", adopted ? "adopted"
               : "made afresh");
    }
    for (uint32_t i = 0; i < m.nls; i++)
        if (m.ls[i].fds == NULL
            && gh_listen_open_one(&m.ls[i], NULL, 0, conf->workers, err,
                                  sizeof(err)) != GH_OK)
            goto fail;
    master_defer_accept(m.ls, m.nls);
    /* A new binary stays the child of the old master, which watches it. */
    if (!o->foreground && inherit == NULL && master_daemonize(conf) != GH_OK)
        goto fail_quiet;
    if (conf->pid_file != NULL && master_write_pid(conf->pid_file) != GH_OK) {
        gh_log(GH_LOG_EMERG, errno, "cannot write pid file \"%s\"",
               conf->pid_file);
        goto fail_quiet;
    }
    if (!adopted
        && (gh_shm_create(&m.shm, conf->shm_size, err, sizeof(err)) != GH_OK
            || gh_state_init(&m.shm, err, sizeof(err)) != GH_OK))
        goto fail_pid;
    /* After daemonizing: the pid that holds the cache zones is ours. */
    gh_cachedir_init(&m.caches, getpid());
    if (gh_state_bind(&m.shm, conf, err, sizeof(err)) != GH_OK
        || master_ctable(&m, conf, err, sizeof(err)) != GH_OK
        || gh_cachedir_prepare(&m.caches, &m.shm, conf, err,
                               sizeof(err)) != GH_OK)
        goto fail_pid;
    gh_cachedir_commit(&m.caches, &m.shm, conf, master_cache_note, NULL);
    m.nslots = conf->workers;
    m.slots = calloc(m.nslots, sizeof(*m.slots));
    if (m.slots == NULL) {
        snprintf(err, sizeof(err), "out of memory");
        goto fail_pid;
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
    master_spawn_all(&m, &old);
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
            m.kill_at = now + m.conf->timeouts.shutdown + STOP_GRACE;
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
            if (m.stopping)
                break;
            if (m.winched) {
                /* Rollback after WINCH: our workers again, same config. */
                gh_log(GH_LOG_NOTICE, 0, "SIGHUP after WINCH: starting the "
                       "workers again");
                m.winched = 0;
                master_spawn_all(&m, &old);
                break;
            }
            master_reload(&m, &old);
            break;
        case SIGUSR2:
            if (!m.stopping)
                master_upgrade(&m, &old);
            break;
        case SIGWINCH:
            /* Only meaningful for the old master of an upgrade (in the
             * foreground it is also a terminal resize). */
            if (m.newbin == 0 || m.winched || m.stopping) {
                gh_log(GH_LOG_NOTICE, 0, "SIGWINCH ignored: no upgrade "
                       "under way");
                break;
            }
            gh_log(GH_LOG_NOTICE, 0, "SIGWINCH: stopping the workers "
                   "gracefully; the new master (%d) serves",
                   (int) m.newbin);
            if (master_retire(&m) == GH_OK)
                m.winched = 1;
            break;
        default:
            break;
        }
    }
    gh_log(GH_LOG_NOTICE, 0, "exit");
    if (m.pid_path != NULL && unlink(m.pid_path) == -1 && errno != ENOENT)
        gh_log(GH_LOG_ALERT, errno, "unlink(\"%s\") failed", m.pid_path);
    gh_listen_free(m.ls, m.nls);
    /* Zones no configuration names go now; live ones stay in the segment
     * for a master that adopted it. */
    gh_cachedir_release(&m.caches, &m.shm, master_cache_note, NULL);
    gh_shm_close(&m.shm);
    free(m.slots);
    free(m.old);
    gh_conf_free(m.conf);
    return rc;
fail:
    gh_log(GH_LOG_EMERG, 0, "%s", err);
fail_quiet:
    gh_listen_free(m.ls, m.nls);
    gh_cachedir_release(&m.caches, &m.shm, NULL, NULL);
    gh_shm_close(&m.shm);
    gh_conf_free(m.conf);
    return 1;
fail_pid:
    gh_log(GH_LOG_EMERG, 0, "%s", err);
    if (conf->pid_file != NULL)
        (void) unlink(conf->pid_file);
    goto fail_quiet;
}
