#ifndef GH_MASTER_CHECKER_H
#define GH_MASTER_CHECKER_H

/*
 * The checker: a child of the master that runs the active health checks of
 * every upstream with a `health` section and writes each verdict into the
 * segment (gh_state_server_check), where every worker reads it.  Being one
 * process, it also logs each state change once for the whole daemon.
 *
 * One check per server at a time, each a non-blocking connect on the
 * checker's own epoll loop, bounded by health.timeout as a whole; the next
 * one starts health.interval after the previous one started.
 */

#include "conf/conf.h"
#include "shm/shm.h"

/* 1 when some upstream of CONF has active checks (the master then forks a
 * checker), else 0. */
int gh_checker_needed(const struct gh_conf *conf);
/*
 * The daemon's TLS ticket key set (gh_tls_shm_bind()), rotated by the
 * checker every ticket_rotation: set by the master before forking it.
 */
void gh_checker_set_tls_keys(uint64_t keys_root);

/*
 * Run in the checker process, just after fork() from the master (which has
 * already closed the listening sockets in the child): install signal
 * handlers (QUIT, TERM, INT: stop; USR1: reopen the error log), drop
 * privileges as workers do, and check until told to stop or the master
 * dies.  Returns the exit status: 0 after a stop signal, 2 when it could
 * not start (logged).  SHM is the master's mapping, inherited.
 */
int gh_checker_main(const struct gh_conf *conf, struct gh_shm *shm);

#endif
