#ifndef GH_MASTER_MASTER_H
#define GH_MASTER_MASTER_H

/*
 * The master process: binds, forks and watches the workers, acts on
 * signals.  It never touches traffic.
 */

#include "conf/conf.h"

struct gh_master_opts {
    const char *conf_file;
    int         foreground;
    char      **argv;       /* main()'s, for the binary upgrade's exec */
};

/* Run the daemon on CONF, which it owns from now on (a reload replaces and
 * frees it).  Returns the exit status: 0 after a clean stop, 1 when it
 * could not start. */
int gh_master_run(struct gh_conf *conf, const struct gh_master_opts *o);

#endif
