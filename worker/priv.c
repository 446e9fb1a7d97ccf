#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "worker/core/log.h"
#include "worker/priv.h"

int
gh_priv_drop(const struct gh_conf *conf)
{
    struct passwd *pw = NULL;
    struct group *gr = NULL;

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
