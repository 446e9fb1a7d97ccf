#ifndef GH_WORKER_PRIV_H
#define GH_WORKER_PRIV_H

/*
 * Dropping root: every child of the master (workers, the checker) calls
 * this once, after opening what needs root and before touching anything
 * that comes from the network.
 */

#include <sys/types.h>

#include "conf/conf.h"

/*
 * Set RLIMIT_NOFILE (soft and hard) to conf->rlimit_nofile unless it is 0
 * (a failure is logged at warn and ignored), then switch to conf->user /
 * conf->group (supplementary groups of the user, or none), then set
 * no_new_privs.  Not root: the limit is still tried; warns that user/group
 * are ignored and returns GH_OK.  Returns GH_ERR (logged at emerg) when the
 * user or group does not exist or the switch fails: the caller exits.
 * May block (reads the passwd and group databases).
 */
int gh_priv_drop(const struct gh_conf *conf);

/*
 * A child's signal dispositions: HANDLER for QUIT, TERM, INT and USR1;
 * HUP, USR2, WINCH and PIPE ignored (the master's business); CHLD default.
 */
void gh_priv_signals(void (*handler)(int));
/*
 * Have SIG sent to us when the master dies; returns 1 when MASTER is gone
 * already.  Call it again after gh_priv_drop(): a change of credentials
 * clears it.
 */
int gh_priv_deathsig(int sig, pid_t master);

#endif
