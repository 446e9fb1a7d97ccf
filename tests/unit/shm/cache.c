/*
 * Tests shm/cache.c: round trip of a body of several chunks, variants,
 * collapsed forwarding across four forked processes, aborted fills, a
 * filler killed mid-fill, eviction under a tiny budget (never of an entry
 * with readers), purge, max_object, damaged bytes in the segment, a lock
 * holder killed, a crash at every journaled step of a fill, refill of an
 * entry by its id (its readers keep the old one; a race of refills), and
 * the claim of one background refresh (a race of two processes).
 *
 * The module is #included for its internals and its test hook.
 */

#define GH_CACHE_TEST_HOOK 1

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/cache.c"
#include "tests/unit/tap.h"

static struct gh_shm shm;

static void
segment(struct gh_shm *s, size_t size)
{
    char err[256];

    if (gh_shm_create(s, size, err, sizeof(err)) != GH_OK
        || gh_slab_init(s, err, sizeof(err)) != GH_OK) {
        diag("segment: %s", err);
        abort();
    }
}

static gh_off
zone(struct gh_shm *s, size_t bytes, size_t max_object)
{
    char err[256];
    gh_off r = 0;

    if (gh_cache_zone_create(s, bytes, max_object, &r, err, sizeof(err))
        != GH_OK) {
        diag("zone: %s", err);
        abort();
    }
    return r;
}

static int
check(struct gh_shm *s, gh_off z, const char *when)
{
    char err[256];

    if (gh_cache_check(s, z, err, sizeof(err)) != GH_OK) {
        diag("gh_cache_check %s: %s", when, err);
        return 0;
    }
    if (gh_slab_check(s, err, sizeof(err)) != GH_OK) {
        diag("gh_slab_check %s: %s", when, err);
        return 0;
    }
    return 1;
}

static gh_msec
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gh_msec) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
pattern(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t) ((i * 131 + seed * 7) ^ (i >> 8));
}

/* Store KEY/VARIANT with a body of N bytes (pattern SEED) in pieces. */
static int
store(gh_off z, const char *key, const char *var, size_t n, uint32_t seed)
{
    struct gh_cache_ref ref;
    uint8_t *body = malloc(n + 1);
    int rc;

    pattern(body, n, seed);
    rc = gh_cache_begin_fill(&shm, z, key, strlen(key), var,
                             var ? strlen(var) : 0, getpid(), now_ms(), &ref);
    if (rc != GH_OK) {
        free(body);
        return rc;
    }
    for (size_t off = 0; off < n && rc == GH_OK; off += 1000)
        rc = gh_cache_append(&ref, body + off, GH_MIN((size_t) 1000, n - off));
    if (rc == GH_OK)
        rc = gh_cache_set_meta(&ref, "meta", 4);
    if (rc == GH_OK)
        rc = gh_cache_complete(&ref);
    gh_cache_release(&ref);
    free(body);
    return rc;
}

/* Read the whole body of KEY/VAR and compare it with pattern SEED. */
static int
body_is(gh_off z, const char *key, const char *var, size_t n, uint32_t seed)
{
    struct gh_cache_ref ref;
    uint8_t *want = malloc(n + 1), *got = malloc(n + 1);
    uint64_t off = 0;
    ssize_t k;
    int good;

    if (gh_cache_lookup(&shm, z, key, strlen(key), var,
                        var ? strlen(var) : 0, now_ms(), &ref) != GH_OK) {
        free(want);
        free(got);
        return 0;
    }
    pattern(want, n, seed);
    while ((k = gh_cache_read(&ref, off, got + off, 777)) > 0
           && off + (uint64_t) k <= n)
        off += (uint64_t) k;
    good = k == 0 && off == n && memcmp(want, got, n) == 0;
    gh_cache_release(&ref);
    free(want);
    free(got);
    return good;
}

static void
t_roundtrip(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct gh_cache_ref ref;
    struct gh_cache_stats st;
    struct iovec iov[16];
    uint8_t buf[64];
    uint64_t len, total = 0;
    ssize_t n;

    is_int(store(z, "GET http h /a", NULL, 20000, 1), GH_OK, "stored");
    ok(body_is(z, "GET http h /a", NULL, 20000, 1), "body read back whole");
    is_int(gh_cache_lookup(&shm, z, "GET http h /a", 13, NULL, 0, now_ms(),
                           &ref), GH_OK, "hit");
    is_int(gh_cache_state(&ref, &len), GH_CACHE_COMPLETE, "complete");
    is_int(len, 20000, "length");
    n = gh_cache_iov(&ref, 0, iov, 16);
    ok(n >= 5, "several chunks (%zd iovecs)", n);
    for (ssize_t i = 0; i < n; i++)
        total += iov[i].iov_len;
    is_int(total, 20000, "iovecs cover the body");
    is_int(gh_cache_meta(&ref, buf, sizeof(buf)), 4, "meta length");
    ok(memcmp(buf, "meta", 4) == 0, "meta bytes");
    is_int(gh_cache_read(&ref, 20000, buf, 10), 0, "end of body");
    is_int(gh_cache_set_meta(&ref, "revalidated", 11), GH_OK,
           "meta replaced on revalidation");
    is_int(gh_cache_meta(&ref, buf, sizeof(buf)), 11, "new meta length");
    gh_cache_release(&ref);
    is_int(gh_cache_lookup(&shm, z, "GET http h /b", 13, NULL, 0, now_ms(),
                           &ref), GH_DECLINED, "other key misses");
    is_int(gh_cache_begin_fill(&shm, z, "GET http h /a", 13, NULL, 0,
                               getpid(), now_ms(), &ref), GH_AGAIN,
           "begin_fill of a complete entry: GH_AGAIN");
    gh_cache_stats(&shm, z, &st);
    is_int(st.entries, 1, "one entry");
    ok(st.hits >= 2 && st.misses >= 1 && st.fills == 1, "stats counted");
    ok(check(&shm, z, "after round trip"), "structures check");
    gh_cache_zone_destroy(&shm, z);
}

static void
t_variants(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);

    is_int(store(z, "GET /v", "gzip", 3000, 2), GH_OK, "variant gzip");
    is_int(store(z, "GET /v", "br", 5000, 3), GH_OK, "variant br");
    is_int(store(z, "GET /v", NULL, 100, 4), GH_OK, "no variant");
    ok(body_is(z, "GET /v", "gzip", 3000, 2), "gzip body");
    ok(body_is(z, "GET /v", "br", 5000, 3), "br body");
    ok(body_is(z, "GET /v", NULL, 100, 4), "plain body");
    ok(!body_is(z, "GET /v", "identity", 100, 4), "unknown variant misses");
    is_int(gh_cache_purge(&shm, z, "GET /v", 6), 3, "purge: 3 variants");
    ok(!body_is(z, "GET /v", "gzip", 3000, 2)
       && !body_is(z, "GET /v", "br", 5000, 3)
       && !body_is(z, "GET /v", NULL, 100, 4), "all variants gone");
    is_int(store(z, "GET /p/1", NULL, 10, 1), GH_OK, "prefix 1");
    is_int(store(z, "GET /p/2", NULL, 10, 1), GH_OK, "prefix 2");
    is_int(store(z, "GET /q", NULL, 10, 1), GH_OK, "other");
    is_int(gh_cache_purge_prefix(&shm, z, "GET /p/", 7), 2, "prefix purge");
    ok(body_is(z, "GET /q", NULL, 10, 1), "other survives prefix purge");
    ok(check(&shm, z, "after purge"), "structures check");
    gh_cache_zone_destroy(&shm, z);
}

struct cf_result {
    int begin;          /* begin_fill's return */
    int saw_partial;    /* read a part while FILLING */
    int saw_again;      /* got GH_AGAIN at the end of a FILLING body */
    int good;           /* whole body read, equal, COMPLETE at the end */
};

#define CF_N     4
#define CF_BODY  (40 * 1000)

static void
cf_child(gh_off z, volatile int *go, struct cf_result *res)
{
    struct gh_cache_ref ref;
    static uint8_t body[CF_BODY], got[CF_BODY];
    uint64_t off = 0, len;
    gh_msec deadline = now_ms() + 10000;
    int rc;

    pattern(body, CF_BODY, 9);
    while (!*go)
        continue;
    rc = gh_cache_begin_fill(&shm, z, "GET /cold", 9, NULL, 0, getpid(),
                             now_ms(), &ref);
    res->begin = rc;
    if (rc == GH_OK) {
        for (size_t o = 0; o < CF_BODY; o += 1000) {
            if (gh_cache_append(&ref, body + o, 1000) != GH_OK)
                _exit(1);
            usleep(5000);
        }
        (void) gh_cache_set_meta(&ref, "m", 1);
        res->good = gh_cache_complete(&ref) == GH_OK;
        gh_cache_release(&ref);
        _exit(0);
    }
    while ((rc = gh_cache_lookup(&shm, z, "GET /cold", 9, NULL, 0, now_ms(),
                                 &ref)) != GH_OK && now_ms() < deadline)
        usleep(1000);
    if (rc != GH_OK)
        _exit(1);
    while (now_ms() < deadline) {
        ssize_t k = gh_cache_read(&ref, off, got + off, CF_BODY - off);

        if (k > 0) {
            if (gh_cache_state(&ref, &len) == GH_CACHE_FILLING)
                res->saw_partial = 1;
            off += (uint64_t) k;
        } else if (k == GH_AGAIN) {
            res->saw_again = 1;
            usleep(1000);
        } else {
            break;
        }
    }
    res->good = off == CF_BODY && memcmp(got, body, CF_BODY) == 0
                && gh_cache_state(&ref, &len) == GH_CACHE_COMPLETE;
    gh_cache_release(&ref);
    _exit(0);
}

static void
t_collapsed(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct cf_result *res;
    volatile int *go;
    void *m;
    pid_t pids[CF_N];
    int fillers = 0, again = 0, good = 0, partial = 0, waits = 0;

    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (m == MAP_FAILED)
        abort();
    memset(m, 0, 4096);
    go = m;
    res = (struct cf_result *) ((char *) m + 64);
    for (int i = 0; i < CF_N; i++) {
        pids[i] = fork();
        if (pids[i] == 0)
            cf_child(z, go, &res[i]);
    }
    usleep(20000);
    *go = 1;
    for (int i = 0; i < CF_N; i++) {
        int status;

        waitpid(pids[i], &status, 0);
        fillers += res[i].begin == GH_OK;
        again += res[i].begin == GH_AGAIN;
        good += res[i].good;
        partial += res[i].saw_partial;
        waits += res[i].saw_again;
    }
    is_int(fillers, 1, "exactly one filler");
    is_int(again, CF_N - 1, "the others got GH_AGAIN");
    is_int(good, CF_N, "everyone has the whole body, COMPLETE");
    ok(partial >= 1 && waits >= 1, "readers streamed while it filled "
       "(%d read partial, %d waited)", partial, waits);
    ok(body_is(z, "GET /cold", NULL, CF_BODY, 9), "served afterwards");
    ok(check(&shm, z, "after collapsed forwarding"), "structures check");
    munmap(m, 4096);
    gh_cache_zone_destroy(&shm, z);
}

static void
t_abort(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct gh_cache_ref f, r;
    struct gh_cache_stats st;
    uint8_t buf[100];

    memset(buf, 'x', sizeof(buf));
    is_int(gh_cache_begin_fill(&shm, z, "GET /ab", 7, NULL, 0, getpid(),
                               now_ms(), &f), GH_OK, "fill begins");
    is_int(gh_cache_append(&f, buf, 100), GH_OK, "appended");
    is_int(gh_cache_lookup(&shm, z, "GET /ab", 7, NULL, 0, now_ms(), &r),
           GH_OK, "a reader joins the fill");
    is_int(gh_cache_read(&r, 0, buf, 100), 100, "reads what is there");
    is_int(gh_cache_read(&r, 100, buf, 100), GH_AGAIN, "then waits");
    gh_cache_abort(&f);
    is_int(gh_cache_read(&r, 0, buf, 100), GH_DECLINED,
           "reader sees the abort");
    is_int(gh_cache_lookup(&shm, z, "GET /ab", 7, NULL, 0, now_ms(),
                           &(struct gh_cache_ref) { 0 }), GH_DECLINED,
           "aborted entry never served");
    is_int(gh_cache_complete(&f), GH_DECLINED, "cannot complete it");
    gh_cache_release(&f);
    gh_cache_stats(&shm, z, &st);
    is_int(st.zombies, 1, "kept for its reader");
    gh_cache_release(&r);
    gh_cache_stats(&shm, z, &st);
    is_int(st.zombies, 0, "freed by the last release");
    is_int(st.aborts, 1, "abort counted");
    /* Releasing an unfinished fill aborts it too. */
    is_int(gh_cache_begin_fill(&shm, z, "GET /ab", 7, NULL, 0, getpid(),
                               now_ms(), &f), GH_OK, "new fill");
    gh_cache_release(&f);
    is_int(gh_cache_lookup(&shm, z, "GET /ab", 7, NULL, 0, now_ms(), &r),
           GH_DECLINED, "released unfinished fill not served");
    ok(check(&shm, z, "after aborts"), "structures check");
    gh_cache_zone_destroy(&shm, z);
}

static void
t_killed_filler(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct gh_cache_ref ref;
    int p[2], status;
    char c;
    pid_t pid;

    if (pipe(p) != 0)
        abort();
    pid = fork();
    if (pid == 0) {
        uint8_t buf[3000];

        memset(buf, 'k', sizeof(buf));
        if (gh_cache_begin_fill(&shm, z, "GET /k", 6, NULL, 0, getpid(),
                                now_ms(), &ref) != GH_OK
            || gh_cache_append(&ref, buf, sizeof(buf)) != GH_OK)
            _exit(1);
        (void) write(p[1], "x", 1);
        for (;;)
            pause();
    }
    (void) read(p[0], &c, 1);
    is_int(gh_cache_begin_fill(&shm, z, "GET /k", 6, NULL, 0, getpid(),
                               now_ms(), &ref), GH_AGAIN,
           "live filler: GH_AGAIN");
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    is_int(gh_cache_lookup(&shm, z, "GET /k", 6, NULL, 0, now_ms(), &ref),
           GH_DECLINED, "dead filler's entry not served");
    is_int(store(z, "GET /k", NULL, 5000, 5), GH_OK, "a new fill starts");
    ok(body_is(z, "GET /k", NULL, 5000, 5), "and is served");
    /* begin_fill finds the dead filler itself too. */
    pid = fork();
    if (pid == 0) {
        if (gh_cache_begin_fill(&shm, z, "GET /k2", 7, NULL, 0, getpid(),
                                now_ms(), &ref) != GH_OK)
            _exit(1);
        (void) write(p[1], "x", 1);
        for (;;)
            pause();
    }
    (void) read(p[0], &c, 1);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    is_int(gh_cache_begin_fill(&shm, z, "GET /k2", 7, NULL, 0, getpid(),
                               now_ms(), &ref), GH_OK,
           "begin_fill takes over a dead filler's key");
    gh_cache_release(&ref);
    ok(check(&shm, z, "after killed fillers"), "structures check");
    close(p[0]);
    close(p[1]);
    gh_cache_zone_destroy(&shm, z);
}

static void
t_evict(void)
{
    gh_off z = zone(&shm, GH_CACHE_MIN, 0);
    struct gh_cache_ref pin;
    struct gh_cache_stats st;
    char key[32];
    int stored = 0;

    is_int(store(z, "GET /pinned", NULL, 8000, 6), GH_OK, "pinned stored");
    is_int(gh_cache_lookup(&shm, z, "GET /pinned", 11, NULL, 0, now_ms(),
                           &pin), GH_OK, "and pinned by a reader");
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "GET /e/%d", i);
        if (store(z, key, NULL, 6000, (uint32_t) i) == GH_OK
            && body_is(z, key, NULL, 6000, (uint32_t) i))
            stored++;
    }
    is_int(stored, 200, "every new entry stored and served");
    gh_cache_stats(&shm, z, &st);
    ok(st.evictions > 100, "evictions happened (%llu)",
       (unsigned long long) st.evictions);
    ok(st.bytes <= st.limit, "within budget (%llu <= %llu)",
       (unsigned long long) st.bytes, (unsigned long long) st.limit);
    {
        uint8_t *got = malloc(8000), *want = malloc(8000);

        pattern(want, 8000, 6);
        ok(gh_cache_read(&pin, 0, got, 8000) == 8000
           && memcmp(got, want, 8000) == 0,
           "the pinned entry was never evicted");
        free(got);
        free(want);
    }
    gh_cache_release(&pin);
    ok(check(&shm, z, "after eviction"), "structures check");
    gh_cache_zone_destroy(&shm, z);
}

static void
t_max_object(void)
{
    gh_off z = zone(&shm, 1 << 20, 10000);
    struct gh_cache_ref ref;
    struct gh_cache_stats st;
    uint8_t buf[6000] = { 0 };

    is_int(store(z, "GET /small", NULL, 9000, 1), GH_OK, "under max stored");
    is_int(gh_cache_begin_fill(&shm, z, "GET /big", 8, NULL, 0, getpid(),
                               now_ms(), &ref), GH_OK, "big fill begins");
    is_int(gh_cache_append(&ref, buf, sizeof(buf)), GH_OK, "first part");
    is_int(gh_cache_append(&ref, buf, sizeof(buf)), GH_DECLINED,
           "over max_object: declined");
    is_int(gh_cache_complete(&ref), GH_DECLINED, "and aborted");
    gh_cache_release(&ref);
    is_int(gh_cache_lookup(&shm, z, "GET /big", 8, NULL, 0, now_ms(), &ref),
           GH_DECLINED, "never stored");
    gh_cache_stats(&shm, z, &st);
    is_int(st.entries, 1, "one entry left");
    /* A reload with the same size keeps the zone. */
    {
        char err[128];
        gh_off r = z;

        is_int(gh_cache_zone_create(&shm, 1 << 20, 20000, &r, err,
                                    sizeof(err)), GH_OK, "reload");
        is_int(r, z, "same zone kept");
        ok(body_is(z, "GET /small", NULL, 9000, 1), "entries kept");
    }
    ok(check(&shm, z, "after max_object"), "structures check");
    gh_cache_zone_destroy(&shm, z);
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t
rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void
t_damage(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct gh_cache_ref ref;
    struct hc_ctx x;
    char key[32];
    uint8_t buf[256];
    int served = 0, lookups = 0;

    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "GET /d/%d", i);
        (void) store(z, key, NULL, 3000, (uint32_t) i);
    }
    (void) hc_get(&x, &shm, z);
    /* Random bytes over each entry's header, meta and first chunk. */
    for (int i = 0; i < 40; i++) {
        gh_off off, foundoff;
        struct hc_entry *e;

        snprintf(key, sizeof(key), "GET /d/%d", i);
        if (hc_lock(&x) != GH_OK)
            break;
        e = hc_find_locked(&x, gh_siphash24(x.r->secret[0], x.r->secret[1], key,
                                      strlen(key)),
                           gh_siphash24(x.r->secret[2], x.r->secret[3], key,
                                  strlen(key)),
                           key, strlen(key), NULL, 0, 0, &foundoff);
        hc_unlock(&x);
        if (e == NULL)
            continue;
        off = i % 3 == 0 ? foundoff : i % 3 == 1 ? e->meta : e->chunks;
        if (off == 0)
            continue;
        for (int j = 0; j < 24; j++)
            ((uint8_t *) gh_shm_ptr(&shm, off))[rnd() % 160] = (uint8_t) rnd();
    }
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "GET /d/%d", i);
        lookups++;
        if (gh_cache_lookup(&shm, z, key, strlen(key), NULL, 0, now_ms(),
                            &ref) == GH_OK) {
            uint64_t off = 0;
            ssize_t k;

            (void) gh_cache_meta(&ref, buf, sizeof(buf));
            while ((k = gh_cache_read(&ref, off, buf, sizeof(buf))) > 0
                   && off < (1 << 20))
                off += (uint64_t) k;
            served++;
            gh_cache_release(&ref);
        }
    }
    ok(lookups == 40, "40 lookups over damaged entries did not crash "
       "(%d served)", served);
    ok(served < 40, "damaged headers are not served");
    /* Meta damage is caught by its checksum. */
    is_int(store(z, "GET /m", NULL, 10, 1), GH_OK, "fresh entry");
    if (gh_cache_lookup(&shm, z, "GET /m", 6, NULL, 0, now_ms(), &ref)
        == GH_OK) {
        struct hc_entry *e = gh_shm_ptr(&shm, ref.entry);

        ((uint8_t *) gh_shm_ptr(&shm, e->meta))[17] ^= 0x5a;
        is_int(gh_cache_meta(&ref, buf, sizeof(buf)), GH_DECLINED,
               "damaged meta refused");
        gh_cache_release(&ref);
    } else {
        ok(0, "fresh entry found");
    }
    ok(store(z, "GET /after", NULL, 5000, 3) == GH_OK
       && body_is(z, "GET /after", NULL, 5000, 3),
       "the zone still stores and serves");
    /* No check(): the damage leaves counts off by design. */
}

static void
t_lock_killed(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct hc_ctx x;
    struct gh_cache_stats st;
    int status;
    pid_t pid;

    is_int(store(z, "GET /l", NULL, 100, 1), GH_OK, "stored");
    (void) hc_get(&x, &shm, z);
    pid = fork();
    if (pid == 0) {
        (void) hc_lock(&x);
        _exit(0);       /* dies holding the lock */
    }
    waitpid(pid, &status, 0);
    ok(body_is(z, "GET /l", NULL, 100, 1), "served after a holder died");
    gh_cache_stats(&shm, z, &st);
    is_int(st.repairs, 1, "one repair");
    ok(check(&shm, z, "after lock holder died"), "structures check");
    gh_cache_zone_destroy(&shm, z);
}

/* Read the whole body through REF (from 0) and compare with pattern SEED. */
static int
ref_body_is(struct gh_cache_ref *ref, size_t n, uint32_t seed)
{
    uint8_t *want = malloc(n + 1), *got = malloc(n + 1);
    uint64_t off = 0;
    ssize_t k;
    int good;

    pattern(want, n, seed);
    while ((k = gh_cache_read(ref, off, got + off, 777)) > 0
           && off + (uint64_t) k <= n)
        off += (uint64_t) k;
    good = k == 0 && off == n && memcmp(want, got, n) == 0;
    free(want);
    free(got);
    return good;
}

/* The id of the live (KEY, VAR), or 0. */
static uint64_t
id_of(gh_off z, const char *key, const char *var)
{
    struct gh_cache_ref ref;
    uint64_t id;

    if (gh_cache_lookup(&shm, z, key, strlen(key), var, var ? strlen(var) : 0,
                        now_ms(), &ref) != GH_OK)
        return 0;
    id = ref.id;
    gh_cache_release(&ref);
    return id;
}

/* Refill: append N bytes of pattern SEED to filler F, meta, complete. */
static int
fill_rest(struct gh_cache_ref *f, size_t n, uint32_t seed)
{
    uint8_t *body = malloc(n + 1);
    int rc = GH_OK;

    pattern(body, n, seed);
    for (size_t off = 0; off < n && rc == GH_OK; off += 1000)
        rc = gh_cache_append(f, body + off, GH_MIN((size_t) 1000, n - off));
    if (rc == GH_OK)
        rc = gh_cache_set_meta(f, "new", 3);
    if (rc == GH_OK)
        rc = gh_cache_complete(f);
    free(body);
    return rc;
}

static void
t_refill(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct gh_cache_ref old, f, r, x;
    struct gh_cache_stats st;
    uint8_t buf[1000], want[1000];
    uint64_t old_id, len;
    int checks = 1;

    is_int(store(z, "GET /r", NULL, 20000, 1), GH_OK, "stored");
    is_int(gh_cache_lookup(&shm, z, "GET /r", 6, NULL, 0, now_ms(), &old),
           GH_OK, "a reader holds it");
    old_id = old.id;
    is_int(gh_cache_read(&old, 0, buf, sizeof(buf)), 1000,
           "and has read a part");
    is_int(gh_cache_begin_refill(&shm, z, "GET /r", 6, NULL, 0, old_id + 1,
                                 getpid(), now_ms(), &f), GH_AGAIN,
           "refill with a wrong id: GH_AGAIN");
    is_int(f.entry, 0, "and no reference");
    checks &= check(&shm, z, "after a refused refill");
    is_int(gh_cache_begin_refill(&shm, z, "GET /r", 6, NULL, 0, 0, getpid(),
                                 now_ms(), &f), GH_AGAIN,
           "old id 0 is begin_fill: a COMPLETE entry gives GH_AGAIN");
    is_int(gh_cache_begin_refill(&shm, z, "GET /r", 6, NULL, 0, old_id,
                                 getpid(), now_ms(), &f), GH_OK,
           "refill by its id: GH_OK");
    ok(f.filler && f.entry != 0 && f.id != old_id,
       "a filler's reference to a new entry");
    is_int(gh_cache_state(&f, NULL), GH_CACHE_FILLING,
           "the new entry is FILLING (state with a NULL length)");
    checks &= check(&shm, z, "after refill began");
    gh_cache_stats(&shm, z, &st);
    ok(st.entries == 1 && st.zombies == 1,
       "old entry unlinked, kept for its reader (%llu live, %llu zombies)",
       (unsigned long long) st.entries, (unsigned long long) st.zombies);
    is_int(gh_cache_begin_refill(&shm, z, "GET /r", 6, NULL, 0, old_id,
                                 getpid(), now_ms(), &x), GH_AGAIN,
           "refill again with the old id while the fill runs: GH_AGAIN");
    is_int(gh_cache_begin_refill(&shm, z, "GET /r", 6, NULL, 0, f.id,
                                 getpid(), now_ms(), &x), GH_AGAIN,
           "refill by the FILLING entry's own id: GH_AGAIN");
    is_int(gh_cache_begin_fill(&shm, z, "GET /r", 6, NULL, 0, getpid(),
                               now_ms(), &x), GH_AGAIN,
           "begin_fill while the refill runs: GH_AGAIN");
    is_int(gh_cache_lookup(&shm, z, "GET /r", 6, NULL, 0, now_ms(), &r),
           GH_OK, "a lookup meanwhile hits");
    is_int(r.id, f.id, "the new entry (streaming), not the old one");
    is_int(gh_cache_read(&r, 0, buf, sizeof(buf)), GH_AGAIN,
           "nothing in it yet");
    gh_cache_release(&r);
    /* The reader of the old entry goes on while the new one fills. */
    {
        uint8_t part[5000];

        pattern(part, sizeof(part), 2);
        is_int(gh_cache_append(&f, part, sizeof(part)), GH_OK,
               "new body: a first part");
    }
    pattern(want, sizeof(want), 1);
    ok(memcmp(buf, want, sizeof(want)) == 0,
       "the part it read before the refill is the old body's");
    ok(ref_body_is(&old, 20000, 1), "the old reader reads the whole old body");
    is_int(gh_cache_state(&old, &len), GH_CACHE_COMPLETE, "old: COMPLETE");
    is_int(len, 20000, "old: its length");
    {
        uint8_t m[16];

        ok(gh_cache_meta(&old, m, sizeof(m)) == 4 && memcmp(m, "meta", 4) == 0,
           "old: its metadata");
    }
    checks &= check(&shm, z, "while the refill runs");
    /* Complete the new body (5000 bytes already: append 25000 more). */
    {
        uint8_t *all = malloc(30000);
        int rc = GH_OK;

        pattern(all, 30000, 2);
        for (size_t off = 5000; off < 30000 && rc == GH_OK; off += 1000)
            rc = gh_cache_append(&f, all + off, 1000);
        free(all);
        if (rc == GH_OK)
            rc = gh_cache_set_meta(&f, "new", 3);
        if (rc == GH_OK)
            rc = gh_cache_complete(&f);
        is_int(rc, GH_OK, "refill completed");
    }
    gh_cache_release(&f);
    checks &= check(&shm, z, "after the refill completed");
    ok(body_is(z, "GET /r", NULL, 30000, 2), "lookups find the new body");
    ok(ref_body_is(&old, 20000, 1), "the old reader still reads the old one");
    is_int(gh_cache_begin_refill(&shm, z, "GET /r", 6, NULL, 0, old_id,
                                 getpid(), now_ms(), &x), GH_AGAIN,
           "refill with the old id after it: GH_AGAIN");
    is_int(id_of(z, "GET /r", NULL), f.id, "the new entry stays");
    gh_cache_release(&old);
    gh_cache_stats(&shm, z, &st);
    ok(st.entries == 1 && st.zombies == 0,
       "old entry freed by its last release (%llu live, %llu zombies)",
       (unsigned long long) st.entries, (unsigned long long) st.zombies);
    checks &= check(&shm, z, "after the old reader left");

    /* Without readers: the old entry goes at once. */
    old_id = id_of(z, "GET /r", NULL);
    is_int(gh_cache_begin_refill(&shm, z, "GET /r", 6, NULL, 0, old_id,
                                 getpid(), now_ms(), &f), GH_OK,
           "refill of an entry nobody reads");
    checks &= check(&shm, z, "refill without readers");
    is_int(fill_rest(&f, 7000, 3), GH_OK, "filled");
    gh_cache_release(&f);
    ok(body_is(z, "GET /r", NULL, 7000, 3), "and served");
    gh_cache_stats(&shm, z, &st);
    ok(st.entries == 1 && st.zombies == 0, "one entry, no zombie");

    /* Variants: only the one refilled changes. */
    is_int(store(z, "GET /rv", "gzip", 3000, 4), GH_OK, "variant gzip");
    is_int(store(z, "GET /rv", "br", 4000, 5), GH_OK, "variant br");
    old_id = id_of(z, "GET /rv", "gzip");
    is_int(gh_cache_begin_refill(&shm, z, "GET /rv", 7, "br", 2, old_id,
                                 getpid(), now_ms(), &x), GH_AGAIN,
           "gzip's id for the br variant: GH_AGAIN");
    is_int(gh_cache_begin_refill(&shm, z, "GET /rv", 7, "gzip", 4, old_id,
                                 getpid(), now_ms(), &f), GH_OK,
           "refill of the gzip variant");
    is_int(fill_rest(&f, 3500, 6), GH_OK, "filled");
    gh_cache_release(&f);
    ok(body_is(z, "GET /rv", "gzip", 3500, 6)
       && body_is(z, "GET /rv", "br", 4000, 5),
       "new gzip body, br untouched");
    checks &= check(&shm, z, "after a variant's refill");

    /* An aborted refill: the old entry was unlinked, nothing is served. */
    old_id = id_of(z, "GET /rv", "br");
    is_int(gh_cache_begin_refill(&shm, z, "GET /rv", 7, "br", 2, old_id,
                                 getpid(), now_ms(), &f), GH_OK,
           "refill of br");
    gh_cache_release(&f);
    is_int(gh_cache_lookup(&shm, z, "GET /rv", 7, "br", 2, now_ms(), &x),
           GH_DECLINED, "released unfinished: br misses");
    ok(body_is(z, "GET /rv", "gzip", 3500, 6), "gzip still served");
    checks &= check(&shm, z, "after an aborted refill");

    /* The old id of a key that is gone: a plain fill. */
    old_id = id_of(z, "GET /r", NULL);
    is_int(gh_cache_purge(&shm, z, "GET /r", 6), 1, "purged");
    is_int(gh_cache_begin_refill(&shm, z, "GET /r", 6, NULL, 0, old_id,
                                 getpid(), now_ms(), &f), GH_OK,
           "refill by the id of a purged entry: a new fill");
    is_int(fill_rest(&f, 100, 7), GH_OK, "filled");
    gh_cache_release(&f);
    ok(body_is(z, "GET /r", NULL, 100, 7), "and served");
    checks &= check(&shm, z, "at the end");
    ok(checks, "gh_cache_check and gh_slab_check OK throughout");
    gh_cache_zone_destroy(&shm, z);
}

#define RF_N 4

/* Several processes refill the same entry by its id: one fills. */
static void
t_refill_race(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    volatile int *shared;
    int wins = 0, again = 0, good = 1;
    void *m;

    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (m == MAP_FAILED)
        abort();
    shared = m;
    for (int round = 0; round < 20; round++) {
        uint64_t old_id;
        pid_t pids[RF_N];

        memset(m, 0, 4096);
        if (store(z, "GET /race", NULL, 2000, 1) != GH_OK) {
            diag("round %d: not stored", round);
            good = 0;
            break;
        }
        old_id = id_of(z, "GET /race", NULL);
        for (int i = 0; i < RF_N; i++) {
            pids[i] = fork();
            if (pids[i] == 0) {
                struct gh_cache_ref f;
                int rc;

                __atomic_add_fetch(&shared[0], 1, __ATOMIC_SEQ_CST);
                while (!__atomic_load_n(&shared[1], __ATOMIC_ACQUIRE))
                    continue;
                rc = gh_cache_begin_refill(&shm, z, "GET /race", 9, NULL, 0,
                                           old_id, getpid(), now_ms(), &f);
                shared[2 + i] = rc == GH_OK ? 1 : rc == GH_AGAIN ? 2 : 3;
                if (rc == GH_OK) {
                    if (fill_rest(&f, 3000, (uint32_t) round + 10) != GH_OK)
                        shared[2 + i] = 4;
                    gh_cache_release(&f);
                }
                _exit(0);
            }
        }
        while (__atomic_load_n(&shared[0], __ATOMIC_ACQUIRE) < RF_N)
            usleep(100);
        __atomic_store_n(&shared[1], 1, __ATOMIC_RELEASE);
        for (int i = 0; i < RF_N; i++) {
            int status;

            waitpid(pids[i], &status, 0);
            wins += shared[2 + i] == 1;
            again += shared[2 + i] == 2;
        }
        if (!body_is(z, "GET /race", NULL, 3000, (uint32_t) round + 10)) {
            diag("round %d: the winner's body is not served", round);
            good = 0;
        }
        if (!check(&shm, z, "after a refill race"))
            good = 0;
        /* The next round starts again from an old entry. */
        (void) gh_cache_purge(&shm, z, "GET /race", 9);
    }
    is_int(wins, 20, "exactly one refill per round, 20 rounds");
    is_int(again, 20 * (RF_N - 1), "the others got GH_AGAIN");
    ok(good, "the winner's body served, structures check every round");
    munmap(m, 4096);
    gh_cache_zone_destroy(&shm, z);
}

/* A reference renewed (gh_cache_renew) outlives the lease of its first
 * pin; one that is not is taken once its lease is over. */
static void
t_renew(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct gh_cache_ref a, b, f;
    gh_msec t0 = now_ms();
    char buf[64];

    is_int(store(z, "GET /rn", NULL, 1000, 1), GH_OK, "stored");
    is_int(store(z, "GET /rn2", NULL, 1000, 2), GH_OK, "another stored");
    is_int(gh_cache_lookup(&shm, z, "GET /rn", 7, NULL, 0, t0, &a), GH_OK,
           "held");
    is_int(gh_cache_lookup(&shm, z, "GET /rn2", 8, NULL, 0, t0, &b), GH_OK,
           "the other held");
    is_int(gh_cache_purge(&shm, z, "GET /rn", 7), 1, "purged: a zombie");
    is_int(gh_cache_purge(&shm, z, "GET /rn2", 8), 1, "the other too");
    is_int(gh_cache_renew(&a, t0 + GH_CACHE_LEASE_MS - 1000), GH_OK,
           "renewed before its lease ran out");
    /* Past the first lease: an operation that reaps zombies. */
    if (gh_cache_begin_fill(&shm, z, "GET /rn3", 8, NULL, 0, getpid(),
                            t0 + GH_CACHE_LEASE_MS + 10, &f) == GH_OK)
        gh_cache_release(&f);
    is_int((int) gh_cache_read(&a, 0, buf, sizeof(buf)), (int) sizeof(buf),
           "the renewed reference still reads its body");
    ok(gh_cache_read(&b, 0, buf, sizeof(buf)) < 0,
       "the other, its lease over, was freed: GH_ERR, no crash");
    gh_cache_release(&a);
    gh_cache_release(&b);
    is_int(gh_cache_renew(&a, t0), GH_ERR, "renew of a released ref: GH_ERR");
    ok(check(&shm, z, "after renewals"), "structures check");
    gh_cache_zone_destroy(&shm, z);
}

static void
t_claim(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    struct gh_cache_ref a, b, c, stale, n1, n2;
    int rc;

    is_int(store(z, "GET /cl", NULL, 1000, 1), GH_OK, "stored");
    is_int(store(z, "GET /cl2", NULL, 1000, 2), GH_OK, "another stored");
    (void) gh_cache_lookup(&shm, z, "GET /cl", 7, NULL, 0, now_ms(), &a);
    (void) gh_cache_lookup(&shm, z, "GET /cl", 7, NULL, 0, now_ms(), &b);
    (void) gh_cache_lookup(&shm, z, "GET /cl2", 8, NULL, 0, now_ms(), &c);
    is_int(gh_cache_claim(&a, 1000, 500), GH_OK, "first claim: GH_OK");
    is_int(gh_cache_claim(&a, 1000, 500), GH_DECLINED,
           "second, same ref: GH_DECLINED");
    is_int(gh_cache_claim(&b, 1200, 500), GH_DECLINED,
           "another ref to the same entry: GH_DECLINED");
    is_int(gh_cache_claim(&b, 1499, 500), GH_DECLINED,
           "still held 1 ms before the hold ends");
    is_int(gh_cache_claim(&c, 1200, 500), GH_OK,
           "another entry's claim is its own");
    is_int(gh_cache_claim(&b, 1500, 500), GH_OK,
           "at NOW + HOLD the hold is over: GH_OK");
    is_int(gh_cache_claim(&a, 1600, 500), GH_DECLINED,
           "and now held by that claim");
    gh_cache_unclaim(&b);
    is_int(gh_cache_claim(&a, 1600, 500), GH_OK,
           "unclaim lets the next claim succeed");
    is_int(gh_cache_claim(&b, 1000, 500), GH_DECLINED,
           "a claim with an earlier NOW is still held");
    gh_cache_unclaim(&a);
    ok(check(&shm, z, "after claims"), "structures check");

    /* Released ref. */
    gh_cache_release(&c);
    is_int(gh_cache_claim(&c, 5000, 500), GH_ERR, "released ref: GH_ERR");
    gh_cache_unclaim(&c);
    ok(1, "unclaim of a released ref does not crash");

    /* Purged while held: the entry lives on as a zombie. */
    stale = a;
    is_int(gh_cache_purge(&shm, z, "GET /cl", 7), 1, "purged while held");
    rc = gh_cache_claim(&a, 6000, 500);
    ok(rc == GH_OK || rc == GH_DECLINED || rc == GH_ERR,
       "claim on a purged entry still held: %d, no crash", rc);
    gh_cache_unclaim(&a);
    gh_cache_release(&a);
    gh_cache_release(&b);
    /* Now freed: STALE names a freed entry. */
    rc = gh_cache_claim(&stale, 7000, 500);
    ok(rc == GH_ERR || rc == GH_DECLINED,
       "claim on a purged and freed entry's stale ref: %d", rc);
    gh_cache_unclaim(&stale);
    is_int(gh_cache_state(&stale, NULL), GH_CACHE_ABORTED,
           "state of the stale ref, NULL length: ABORTED");
    ok(check(&shm, z, "after stale claims"), "structures check");
    /* The slot is reused by a new entry: the stale ref must not touch it. */
    {
        int reused = 0;
        char key[32];

        for (int i = 0; i < 64 && !reused; i++) {
            snprintf(key, sizeof(key), "GET /reuse/%d", i);
            if (store(z, key, NULL, 100, (uint32_t) i) != GH_OK)
                break;
            if (gh_cache_lookup(&shm, z, key, strlen(key), NULL, 0, now_ms(),
                                &n1) == GH_OK) {
                if (n1.entry == stale.entry)
                    reused = 1;
                else
                    gh_cache_release(&n1);
            }
        }
        if (reused) {
            (void) gh_cache_lookup(&shm, z, key, strlen(key), NULL, 0,
                                   now_ms(), &n2);
            is_int(gh_cache_claim(&stale, 8000, 500), GH_ERR,
                   "stale ref, slot reused by a new entry: GH_ERR");
            is_int(gh_cache_claim(&n1, 8000, 500), GH_OK,
                   "the new entry was not claimed by it");
            gh_cache_unclaim(&stale);
            is_int(gh_cache_claim(&n2, 8000, 500), GH_DECLINED,
                   "nor unclaimed by it");
            gh_cache_release(&n2);
            gh_cache_release(&n1);
        } else {
            ok(1, "# SKIP the slab did not reuse the slot");
        }
    }
    /* A refilled entry starts unclaimed. */
    {
        struct gh_cache_ref f, r;
        uint64_t id = id_of(z, "GET /cl2", NULL);

        (void) gh_cache_lookup(&shm, z, "GET /cl2", 8, NULL, 0, now_ms(), &r);
        is_int(gh_cache_claim(&r, 9000, 60000), GH_OK,
               "claimed for a refresh");
        is_int(gh_cache_begin_refill(&shm, z, "GET /cl2", 8, NULL, 0, id,
                                     getpid(), now_ms(), &f), GH_OK,
               "the refresh refills it");
        is_int(fill_rest(&f, 500, 3), GH_OK, "filled");
        gh_cache_release(&f);
        gh_cache_release(&r);
        (void) gh_cache_lookup(&shm, z, "GET /cl2", 8, NULL, 0, now_ms(), &r);
        is_int(gh_cache_claim(&r, 9001, 500), GH_OK,
               "the new entry is not claimed");
        gh_cache_release(&r);
    }
    ok(check(&shm, z, "at the end of claims"), "structures check");
    gh_cache_zone_destroy(&shm, z);
}

#define CL_ROUNDS 200

/* Two processes claim the same entry at the same NOW: one wins. */
static void
t_claim_race(void)
{
    gh_off z = zone(&shm, 4 << 20, 0);
    volatile int *shared;
    int one = 0, bad = 0;
    void *m;

    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (m == MAP_FAILED)
        abort();
    shared = m;
    is_int(store(z, "GET /cr", NULL, 100, 1), GH_OK, "stored");
    for (int round = 0; round < CL_ROUNDS; round++) {
        gh_msec now = 100000 + (gh_msec) round * 10000;
        pid_t pids[2];
        int wins = 0, declined = 0;

        memset(m, 0, 4096);
        for (int i = 0; i < 2; i++) {
            pids[i] = fork();
            if (pids[i] == 0) {
                struct gh_cache_ref ref;
                int rc;

                if (gh_cache_lookup(&shm, z, "GET /cr", 7, NULL, 0, now_ms(),
                                    &ref) != GH_OK)
                    _exit(1);
                __atomic_add_fetch(&shared[0], 1, __ATOMIC_SEQ_CST);
                while (!__atomic_load_n(&shared[1], __ATOMIC_ACQUIRE))
                    continue;
                rc = gh_cache_claim(&ref, now, 5000);
                shared[2 + i] = rc == GH_OK ? 1 : rc == GH_DECLINED ? 2 : 3;
                gh_cache_release(&ref);
                _exit(0);
            }
        }
        while (__atomic_load_n(&shared[0], __ATOMIC_ACQUIRE) < 2)
            usleep(50);
        __atomic_store_n(&shared[1], 1, __ATOMIC_RELEASE);
        for (int i = 0; i < 2; i++) {
            int status;

            waitpid(pids[i], &status, 0);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                bad++;
            wins += shared[2 + i] == 1;
            declined += shared[2 + i] == 2;
        }
        if (wins == 1 && declined == 1)
            one++;
        else
            diag("round %d: %d won, %d declined", round, wins, declined);
    }
    is_int(bad, 0, "every child ran");
    is_int(one, CL_ROUNDS, "exactly one winner in each of %d rounds",
           CL_ROUNDS);
    ok(check(&shm, z, "after claim races"), "structures check");
    munmap(m, 4096);
    gh_cache_zone_destroy(&shm, z);
}

/* Crash at every journaled step of store/evict/purge: always consistent. */
static int crash_at, crash_n;

static void
crash_hook(void)
{
    if (++crash_n == crash_at)
        _exit(7);
}

static void
t_crash_steps(void)
{
    gh_off z = zone(&shm, GH_CACHE_MIN, 0);
    int bad = 0, crashed = 0, step;

    for (int i = 0; i < 8; i++) {
        char key[32];

        snprintf(key, sizeof(key), "GET /c/%d", i);
        (void) store(z, key, NULL, 6000, (uint32_t) i);
    }
    for (step = 1; step < 400; step++) {
        int status;
        pid_t pid = fork();

        if (pid == 0) {
            char key[32];

            crash_at = step;
            hc_hook = crash_hook;
            snprintf(key, sizeof(key), "GET /n/%d", step);
            (void) store(z, key, NULL, 9000, 1);
            (void) gh_cache_purge(&shm, z, "GET /c/3", 8);
            _exit(0);
        }
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 7)
            crashed++;
        else
            break;
        if (!check(&shm, z, "after a crash")) {
            bad++;
            break;
        }
    }
    ok(crashed > 10, "crashed at %d steps", crashed);
    is_int(bad, 0, "consistent after every crash");
    ok(store(z, "GET /final", NULL, 9000, 2) == GH_OK
       && body_is(z, "GET /final", NULL, 9000, 2), "still works");
    gh_cache_zone_destroy(&shm, z);
}

int
main(void)
{
    segment(&shm, 32 << 20);
    subtest("round trip, several chunks") t_roundtrip();
    subtest("variants and purge") t_variants();
    subtest("collapsed forwarding, 4 processes") t_collapsed();
    subtest("aborted fills") t_abort();
    subtest("filler killed mid-fill") t_killed_filler();
    subtest("eviction under a tiny budget") t_evict();
    subtest("max_object") t_max_object();
    subtest("damage in the segment") t_damage();
    subtest("lock holder killed") t_lock_killed();
    subtest("crash at every step") t_crash_steps();
    subtest("refill replaces an entry, its readers keep it") t_refill();
    subtest("refill race, 4 processes") t_refill_race();
    subtest("claim and unclaim") t_claim();
    subtest("claim race, 2 processes") t_claim_race();
    subtest("lease renewal") t_renew();
    return done_testing();
}
