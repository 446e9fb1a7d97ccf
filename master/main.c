#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "master/master.h"
#include "worker/core/log.h"

#define DEFAULT_CONF "/etc/gatehouse/gatehouse.conf"

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: gatehouse [-c file] [-t] [-f] [-s signal] [-v] [-h]\n"
        "  -c file    configuration file (default " DEFAULT_CONF ")\n"
        "  -t         test the configuration and exit (with -v: print it)\n"
        "  -f         stay in the foreground\n"
        "  -s signal  send quit, stop, reopen, reload or upgrade to the master\n"
        "  -v         print the version (with -t: the effective config)\n"
        "  -h         this help\n");
}

static int
send_signal(const struct gh_conf *conf, const char *name)
{
    static const struct { const char *name; int sig; } sigs[] = {
        { "quit", SIGQUIT }, { "stop", SIGTERM }, { "reopen", SIGUSR1 },
        { "reload", SIGHUP }, { "upgrade", SIGUSR2 },
    };
    char buf[32];
    FILE *f;
    long pid;
    int sig = 0;

    for (size_t i = 0; i < GH_NELEM(sigs); i++)
        if (strcmp(name, sigs[i].name) == 0)
            sig = sigs[i].sig;
    if (sig == 0) {
        fprintf(stderr, "gatehouse: invalid signal \"%s\" (quit, stop, "
                "reopen, reload, upgrade)\n", name);
        return 2;
    }
    if (conf->pid_file == NULL) {
        fprintf(stderr, "gatehouse: pid_file is \"off\" in %s: cannot find "
                "the master\n", conf->file);
        return 1;
    }
    f = fopen(conf->pid_file, "r");
    if (f == NULL) {
        fprintf(stderr, "gatehouse: open(\"%s\") failed: %s\n",
                conf->pid_file, strerror(errno));
        return 1;
    }
    if (fgets(buf, sizeof(buf), f) == NULL
        || (pid = strtol(buf, NULL, 10)) <= 1) {
        fprintf(stderr, "gatehouse: invalid pid in \"%s\"\n",
                conf->pid_file);
        fclose(f);
        return 1;
    }
    fclose(f);
    if (kill((pid_t) pid, sig) == -1) {
        fprintf(stderr, "gatehouse: kill(%ld, %s) failed: %s\n", pid, name,
                strerror(errno));
        return 1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct gh_master_opts o = { .conf_file = DEFAULT_CONF, .argv = argv };
    const char *sig = NULL;
    struct gh_conf *conf;
    char err[1024];
    int test = 0, version = 0, opt, rc;

    while ((opt = getopt(argc, argv, "c:tfs:vh")) != -1) {
        switch (opt) {
        case 'c': o.conf_file = optarg; break;
        case 't': test = 1; break;
        case 'f': o.foreground = 1; break;
        case 's': sig = optarg; break;
        case 'v': version = 1; break;
        case 'h': usage(stdout); return 0;
        default:  usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "gatehouse: unexpected argument \"%s\"\n",
                argv[optind]);
        usage(stderr);
        return 2;
    }
    if (version && !test) {
        printf("gatehouse version %s%s\n", GH_VERSION, GH_VERSION_EXTRA);
        return 0;
    }
    conf = gh_conf_load(o.conf_file, err, sizeof(err));
    if (conf == NULL) {
        fprintf(stderr, "gatehouse: %s\n", err);
        if (test)
            fprintf(stderr, "gatehouse: configuration file %s test failed\n",
                    o.conf_file);
        return 1;
    }
    if (test) {
        if (version)
            gh_conf_dump(conf, stdout);
        fprintf(stderr, "gatehouse: the configuration file %s syntax is ok\n"
                "gatehouse: configuration file %s test is successful\n",
                o.conf_file, o.conf_file);
        gh_conf_free(conf);
        return 0;
    }
    if (sig != NULL) {
        rc = send_signal(conf, sig);
        gh_conf_free(conf);
        return rc;
    }
    gh_log_max = conf->log_level;
    if (strcmp(conf->error_log, "stderr") != 0
        && gh_log_open(conf->error_log) != GH_OK) {
        fprintf(stderr, "gatehouse: cannot open error log \"%s\": %s\n",
                conf->error_log, strerror(errno));
        gh_conf_free(conf);
        return 1;
    }
    return gh_master_run(conf, &o);     /* it owns (and frees) conf */
}
