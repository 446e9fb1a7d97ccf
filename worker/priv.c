#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "worker/core/log.h"
#include "worker/priv.h"

/*
 * worker_rlimit_nofile, as both the soft and the hard limit: a worker's
 * file descriptors are its connections.  Called while still root, since
 * only root may raise the hard limit, here above the master's own (which
 * an init system or `ulimit -n` may have set low).  A failure costs
 * capacity, not correctness: warn and go on with the inherited limit.
 */
static void
priv_rlimit(const struct gh_conf *conf)
{
    struct rlimit rl;

    if (conf->rlimit_nofile == 0)
        return;
    rl.rlim_cur = conf->rlimit_nofile;
    rl.rlim_max = conf->rlimit_nofile;
    if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
        gh_log(GH_LOG_WARN, errno, "setrlimit(RLIMIT_NOFILE, %u) for "
               "worker_rlimit_nofile failed, ignored",
               (unsigned) conf->rlimit_nofile);
}

int
gh_priv_drop(const struct gh_conf *conf)
{
    struct passwd *pw = NULL;
    struct group *gr = NULL;

    priv_rlimit(conf);
    if (conf->user == NULL && conf->group == NULL)
        return GH_OK;
    if (geteuid() != 0) {
        gh_log(GH_LOG_WARN, 0, "\"user\"/\"group\" ignored: not started as "
               "root");
        return GH_OK;
    }
    if (conf->user != NULL && (pw = getpwnam(conf->user)) == NULL) {
        gh_log(GH_LOG_EMERG, errno, "getpwnam(\"%s\") failed", conf->user);
        return GH_ERR;
    }
    if (conf->group != NULL && (gr = getgrnam(conf->group)) == NULL) {
        gh_log(GH_LOG_EMERG, errno, "getgrnam(\"%s\") failed", conf->group);
        return GH_ERR;
    }
    {
        gid_t gid = gr ? gr->gr_gid : pw->pw_gid;

        if (setgid(gid) == -1
            || (pw != NULL ? initgroups(pw->pw_name, gid)
                           : setgroups(0, NULL)) == -1
            || (pw != NULL && setuid(pw->pw_uid) == -1)) {
            gh_log(GH_LOG_EMERG, errno, "cannot drop privileges to %s:%s",
                   conf->user ? conf->user : "-",
                   conf->group ? conf->group : "-");
            return GH_ERR;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
        gh_log(GH_LOG_WARN, errno, "prctl(PR_SET_NO_NEW_PRIVS) failed, "
               "ignored");
    return GH_OK;
}

void
gh_priv_signals(void (*handler)(int))
{
    struct sigaction sa = { .sa_handler = handler };

    sigemptyset(&sa.sa_mask);
    (void) sigaction(SIGQUIT, &sa, NULL);
    (void) sigaction(SIGTERM, &sa, NULL);
    (void) sigaction(SIGINT, &sa, NULL);
    (void) sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    (void) sigaction(SIGHUP, &sa, NULL);
    (void) sigaction(SIGUSR2, &sa, NULL);
    (void) sigaction(SIGWINCH, &sa, NULL);
    (void) sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    (void) sigaction(SIGCHLD, &sa, NULL);
}

int
gh_priv_deathsig(int sig, pid_t master)
{
    (void) prctl(PR_SET_PDEATHSIG, sig);    /* cannot fail for a signal */
    return getppid() != master;
}
