/*
 * Balancing over the shared state (worker/upstream.c): the round-robin
 * sequence is exact for the whole daemon when several processes pick at
 * once; least_conn, max_conns, backup, passive marks, slow start, the
 * consistent-hash ring's stability when a server goes, random2's spread.
 */

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/conf.h"
#include "shm/state.h"
#include "worker/upstream.h"
#include "tests/unit/tap.h"

static char dir[64];

static struct gh_conf *
conf_from(const char *upstreams)
{
    char path[128], err[512];
    struct gh_conf *c;
    FILE *f;

    snprintf(path, sizeof(path), "%s/t.conf", dir);
    f = fopen(path, "w");
    if (f == NULL)
        exit(1);
    fprintf(f, "upstreams = { %s };\n"
            "sites = ( { listen = [ \"127.0.0.1:1\" ];\n"
            "  routes = ( { path = \"/\"; upstream = \"u\"; } ); } );\n",
            upstreams);
    fclose(f);
    c = gh_conf_load(path, err, sizeof(err));
    if (c == NULL)
        diag("config: %s", err);
    return c;
}

struct env {
    struct gh_conf        *conf;
    struct gh_shm          shm;
    struct gh_upstream_rt *rt;
};

static int
env_open(struct env *e, const char *upstreams)
{
    char err[256];

    memset(e, 0, sizeof(*e));
    e->conf = conf_from(upstreams);
    if (e->conf == NULL
        || gh_shm_create(&e->shm, 4 << 20, err, sizeof(err)) != GH_OK
        || gh_state_init(&e->shm, err, sizeof(err)) != GH_OK
        || gh_state_bind(&e->shm, e->conf, err, sizeof(err)) != GH_OK) {
        diag("env: %s", err);
        return GH_ERR;
    }
    e->rt = gh_upstream_init(e->conf, &e->shm, 1, NULL);
    return e->rt ? GH_OK : GH_ERR;
}

static void
env_close(struct env *e)
{
    if (e->rt)
        gh_upstream_destroy(e->rt, e->conf->nupstreams, NULL);
    gh_shm_close(&e->shm);
    gh_conf_free(e->conf);
}

/* One pick released at once; -1 when none (rc in *RC). */
static int
pick1(struct gh_upstream_rt *up, gh_msec now, int *rc)
{
    uint32_t s, ra;

    *rc = gh_upstream_pick(up, now, 0, 0, NULL, &s, &ra);
    if (*rc != GH_OK)
        return -(int) ra;
    gh_upstream_done(up, s);
    return (int) s;
}

#define BAIL_OUT(why) do { ok(0, "%s", why); return done_testing(); } while (0)

#define SRV(port, extra) "{ address = \"127.0.0.1:" #port "\"; " extra " }"

int
main(void)
{
    struct env e;
    int rc;

    snprintf(dir, sizeof(dir), "/tmp/gh-up-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return 1;

    subtest("round_robin is exact across processes") {
        int counts[2] = { 0, 0 };
        uint32_t seq[8];

        if (env_open(&e, "u = { servers = ( " SRV(1, "weight = 3;") ", "
                         SRV(2, "weight = 1;") " ); }") != GH_OK)
            BAIL_OUT("env");
        for (int i = 0; i < 8; i++)
            seq[i] = (uint32_t) pick1(&e.rt[0], 1000, &rc);
        ok(seq[0] == 0 && seq[1] == 0 && seq[2] == 1 && seq[3] == 0
           && seq[4] == 0 && seq[5] == 0 && seq[6] == 1 && seq[7] == 0,
           "smooth sequence a a b a | a a b a");
        /* Four processes, 100 picks each, interleaved for real. */
        for (int k = 0; k < 4; k++) {
            if (fork() == 0) {
                struct gh_upstream_rt *rt = gh_upstream_init(e.conf, &e.shm,
                                                             (uint32_t) k,
                                                             NULL);
                uint64_t *cnt = (uint64_t *) ((char *) e.shm.hdr
                                              + e.shm.size - 64);

                for (int i = 0; i < 100; i++) {
                    int s = pick1(&rt[0], 1000, &rc);

                    __atomic_add_fetch(&cnt[s], 1, __ATOMIC_RELAXED);
                }
                _exit(0);
            }
        }
        for (int k = 0; k < 4; k++)
            (void) wait(NULL);
        {
            uint64_t *cnt = (uint64_t *) ((char *) e.shm.hdr + e.shm.size
                                          - 64);

            counts[0] = (int) cnt[0];
            counts[1] = (int) cnt[1];
        }
        is_int(counts[0], 300, "weight 3: 300 of 400");
        is_int(counts[1], 100, "weight 1: 100 of 400");
        is_int(gh_state_server(&e.shm, &e.conf->upstreams[0].servers[0])
               ->requests, 306, "requests counted in the segment");
        env_close(&e);
    }

    subtest("least_conn by requests in flight") {
        uint32_t s, ra, a;

        if (env_open(&e, "u = { balance = \"least_conn\"; servers = ( "
                         SRV(1, "") ", " SRV(2, "") ", " SRV(3, "weight = 2;")
                         " ); }") != GH_OK)
            BAIL_OUT("env");
        /* Hold 8 picks: weights 1:1:2 give 2:2:4 in flight. */
        int held[3] = { 0, 0, 0 };

        for (int i = 0; i < 8; i++) {
            rc = gh_upstream_pick(&e.rt[0], 1000, 0, 0, NULL, &s, &ra);
            held[s]++;
        }
        ok(held[0] == 2 && held[1] == 2 && held[2] == 4,
           "held 2:2:4 (got %d:%d:%d)", held[0], held[1], held[2]);
        gh_upstream_done(&e.rt[0], 2);
        gh_upstream_done(&e.rt[0], 2);
        gh_upstream_done(&e.rt[0], 2);
        (void) gh_upstream_pick(&e.rt[0], 1000, 0, 0, NULL, &a, &ra);
        is_int(a, 2, "the least loaded per weight is chosen");
        env_close(&e);
    }

    subtest("max_conns, queue signal, backup") {
        uint32_t s, ra;

        if (env_open(&e, "u = { servers = ( " SRV(1, "max_conns = 2;") ", "
                         SRV(9, "backup = true; max_conns = 1;") " ); }")
            != GH_OK)
            BAIL_OUT("env");
        is_int(gh_upstream_pick(&e.rt[0], 1000, 0, 0, NULL, &s, &ra), GH_OK,
               "first");
        is_int(s, 0, "primary");
        is_int(gh_upstream_pick(&e.rt[0], 1000, 0, 0, NULL, &s, &ra), GH_OK,
               "second");
        is_int(s, 0, "primary again");
        is_int(gh_upstream_pick(&e.rt[0], 1000, 0, 0, NULL, &s, &ra), GH_OK,
               "third");
        is_int(s, 1, "the primary is full: the backup");
        is_int(gh_upstream_pick(&e.rt[0], 1000, 0, 0, NULL, &s, &ra),
               GH_AGAIN, "all full: wait");
        gh_upstream_done(&e.rt[0], 0);
        is_int(gh_upstream_pick(&e.rt[0], 1000, 0, 0, NULL, &s, &ra), GH_OK,
               "a slot came back");
        is_int(s, 0, "on the primary");
        env_close(&e);
    }

    subtest("passive marks, Retry-After, try_anyway, slow start") {
        uint32_t s, ra;
        struct gh_shm_server *s0;

        if (env_open(&e, "u = { max_fails = 2; fail_timeout = \"3s\"; "
                         "servers = ( " SRV(1, "slow_start = \"10s\";") ", "
                         SRV(2, "") " ); };"
                         "v = { all_down = \"try_anyway\"; servers = ( "
                         SRV(3, "") ", " SRV(4, "") " ); }") != GH_OK)
            BAIL_OUT("env");
        s0 = gh_state_server(&e.shm, &e.conf->upstreams[0].servers[0]);
        gh_upstream_failed(&e.rt[0], 0, 1000);
        ok(!s0->passive_down, "one failure of two: still up");
        gh_upstream_failed(&e.rt[0], 0, 1500);
        ok(s0->passive_down, "second within fail_timeout: down");
        for (int i = 0; i < 5; i++)
            ok(pick1(&e.rt[0], 2000, &rc) == 1, "down server skipped");
        gh_upstream_failed(&e.rt[0], 1, 2000);
        gh_upstream_failed(&e.rt[0], 1, 2000);
        is_int(gh_upstream_pick(&e.rt[0], 2000, 0, 0, NULL, &s, &ra),
               GH_DECLINED, "both down: none");
        is_int(ra, 3, "Retry-After: until the first mark runs out (2.5s)");
        is_int(gh_upstream_pick(&e.rt[0], 4600, 0, 0, NULL, &s, &ra), GH_OK,
               "after fail_timeout: tried again");
        is_int(gh_state_server_weight(s0, 10, 10000, 4600 + 5000), 5,
               "slow start: half the weight half-way");
        for (int i = 0; i < 4; i++) {
            gh_upstream_failed(&e.rt[1], 0, 1000);
            gh_upstream_failed(&e.rt[1], 1, 1000);
        }
        is_int(gh_upstream_pick(&e.rt[1], 1000, 0, 0, NULL, &s, &ra), GH_OK,
               "try_anyway: picks although all are down");
        env_close(&e);
    }

    subtest("hash ring keeps keys when a server goes") {
        struct env f;
        int same = 0, moved_from_kept = 0, total = 2000;
        uint32_t s, t, ra;
        char key[32];

        if (env_open(&e, "u = { balance = \"hash\"; hash_key = \"uri\"; "
                         "servers = ( " SRV(1, "") ", " SRV(2, "") ", "
                         SRV(3, "") ", " SRV(4, "") " ); }") != GH_OK
            || env_open(&f, "u = { balance = \"hash\"; hash_key = \"uri\"; "
                            "servers = ( " SRV(1, "") ", " SRV(2, "") ", "
                            SRV(4, "") " ); }") != GH_OK)
            BAIL_OUT("env");
        int per[4] = { 0, 0, 0, 0 };

        for (int i = 0; i < total; i++) {
            uint32_t h;
            int n = snprintf(key, sizeof(key), "/k/%d", i);

            h = gh_upstream_hash(key, (size_t) n);
            (void) gh_upstream_pick(&e.rt[0], 1000, h, 1, NULL, &s, &ra);
            gh_upstream_done(&e.rt[0], s);
            (void) gh_upstream_pick(&e.rt[0], 1000, h, 1, NULL, &t, &ra);
            gh_upstream_done(&e.rt[0], t);
            same += s == t;
            per[s]++;
            (void) gh_upstream_pick(&f.rt[0], 1000, h, 1, NULL, &t, &ra);
            gh_upstream_done(&f.rt[0], t);
            /* f's servers: 0 = :1, 1 = :2, 2 = :4 */
            if (s != 2 && (t == 2 ? 3u : t) != s)
                moved_from_kept++;
        }
        is_int(same, total, "a key always lands on the same server");
        for (int i = 0; i < 4; i++)
            ok(per[i] > total / 8, "server %d has a fair share (%d)", i,
               per[i]);
        is_int(moved_from_kept, 0, "keys of the servers that stay, stay");
        env_close(&f);
        env_close(&e);
    }

    subtest("random2 spreads and prefers the faster") {
        int per[2] = { 0, 0 };

        if (env_open(&e, "u = { balance = \"random2\"; servers = ( "
                         SRV(1, "") ", " SRV(2, "") " ); }") != GH_OK)
            BAIL_OUT("env");
        for (int i = 0; i < 50; i++) {
            gh_upstream_latency(&e.rt[0], 0, 200);
            gh_upstream_latency(&e.rt[0], 1, 5);
        }
        for (int i = 0; i < 200; i++) {
            uint32_t s, ra;

            (void) gh_upstream_pick(&e.rt[0], 1000, 0, 0, NULL, &s, &ra);
            per[s]++;   /* held: active grows, so the slow one gets some */
        }
        ok(per[1] > per[0] * 3, "the fast server gets most (%d vs %d)",
           per[1], per[0]);
        ok(per[0] > 0, "the slow one still gets some");
        env_close(&e);
    }

    {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        (void) system(cmd);
    }
    return done_testing();
}
