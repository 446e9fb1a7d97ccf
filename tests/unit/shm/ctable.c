/*
 * Tests shm/ctable.c (and the connection count of shm/state.c): keys and
 * their hash, connection counting at the limit, GCRA rates at controlled
 * times, eviction inside a set, several processes on one key, what a dead
 * worker held given back by the master, a stripe lock left by a dead
 * holder, and the table's size: none, too small, too large, a reload.
 */

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/ctable.h"
#include "shm/slab.h"
#include "shm/state.h"
#include "tests/unit/tap.h"

#define HAMMER_OPEN 400000
#define SET_BYTES (GH_CT_WAYS * sizeof(struct gh_shm_ct_entry))

/* Shared with the children. */
struct shared {
    int               ready;
    uint64_t          clock;        /* simulated now_us */
    uint64_t          allowed;
    uint64_t          refused;
    uint32_t          max_conns;    /* largest count a child saw */
    uint32_t          max_total;
    uint64_t          declined;
    uint64_t          total_declined;
    uint64_t          errors;
    gh_off            held;         /* a child's held table */
    int               phase2;       /* children done with the first */
    int               opened;       /* children holding HAMMER_OPEN */
    int               go;           /* they may close them */
    uint8_t           counted[1024];
    gh_off            entries[1024];
};

static struct shared *sh;
static char err[512], note[512];

static int
seg(struct gh_shm *shm, size_t size, uint64_t table)
{
    err[0] = '\0';
    if (gh_shm_create(shm, size, err, sizeof(err)) != GH_OK
        || gh_state_init(shm, err, sizeof(err)) != GH_OK)
        return GH_ERR;
    return gh_ctable_init(shm, table, note, sizeof(note), err, sizeof(err));
}

static struct gh_shm_ctable *
table(const struct gh_shm *shm)
{
    return gh_shm_ptr(shm, gh_state_globals(shm)->ctable);
}

static uint32_t
set_of(const struct gh_shm *shm, gh_off entry)
{
    return (uint32_t) ((entry - table(shm)->sets) / SET_BYTES);
}

static struct gh_shm_ct_entry *
entry_of(const struct gh_shm *shm, gh_off entry)
{
    return gh_shm_ptr(shm, entry);
}

/* Is KEY in a way of SET (read from the layout, no touch)? */
static int
present(const struct gh_shm *shm, uint32_t set, const struct gh_ct_key *key)
{
    struct gh_shm_ct_entry *e = (struct gh_shm_ct_entry *)
        gh_shm_ptr(shm, table(shm)->sets) + (uint64_t) set * GH_CT_WAYS;

    for (int w = 0; w < GH_CT_WAYS; w++)
        if (e[w].last_used != 0 && memcmp(&e[w].key, key, sizeof(*key)) == 0)
            return 1;
    return 0;
}

/* ::ffff:a.b.c.d */
static struct gh_ct_key
key4(uint64_t zone, uint32_t ip)
{
    uint8_t a[16] = { [10] = 0xff, [11] = 0xff, [12] = (uint8_t) (ip >> 24),
                      [13] = (uint8_t) (ip >> 16), [14] = (uint8_t) (ip >> 8),
                      [15] = (uint8_t) ip };
    struct gh_ct_key k;

    gh_ctable_key_addr(zone, a, &k);
    return k;
}

/* 2001:db8::N */
static struct gh_ct_key
keyn(uint64_t zone, uint32_t n)
{
    uint8_t a[16] = { 0x20, 0x01, 0x0d, 0xb8, [12] = (uint8_t) (n >> 24),
                      [13] = (uint8_t) (n >> 16), [14] = (uint8_t) (n >> 8),
                      [15] = (uint8_t) n };
    struct gh_ct_key k;

    gh_ctable_key_addr(zone, a, &k);
    return k;
}

/* The set KEY falls in (entering and leaving a connection on it). */
static uint32_t
set_of_key(struct gh_shm *shm, const struct gh_ct_key *key)
{
    gh_off e;

    if (gh_ctable_conn_enter(shm, NULL, key, 0, &e) != GH_OK)
        return UINT32_MAX;
    gh_ctable_conn_leave(shm, NULL, e);
    return set_of(shm, e);
}

/* N keys of ZONE that fall in one set (numbered from BASE); that set. */
static uint32_t
same_set(struct gh_shm *shm, uint64_t zone, uint32_t base,
         struct gh_ct_key *out, int n)
{
    uint32_t want = UINT32_MAX;
    int got = 0;

    for (uint32_t i = 0; i < 1000000 && got < n; i++) {
        struct gh_ct_key k = keyn(zone, base + i);
        uint32_t s = set_of_key(shm, &k);

        if (want == UINT32_MAX)
            want = s;
        if (s == want)
            out[got++] = k;
    }
    return got == n ? want : UINT32_MAX;
}

static int
wait_status(pid_t pid)
{
    int status = -1;

    while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
        continue;
    return status;
}

static int
wait_ready(void)
{
    for (int i = 0; i < 5000 && !__atomic_load_n(&sh->ready,
                                                 __ATOMIC_ACQUIRE); i++)
        usleep(1000);
    return __atomic_load_n(&sh->ready, __ATOMIC_ACQUIRE);
}

/* Children: all 4 started before any goes on, so they overlap. */
static void
start_together(void)
{
    __atomic_add_fetch(&sh->ready, 1, __ATOMIC_ACQ_REL);
    for (int i = 0; i < 10000000 && __atomic_load_n(&sh->ready,
                                                     __ATOMIC_ACQUIRE) < 4;
         i++)
        sched_yield();
}

static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (*s * 0x2545f4914f6cdd1dULL) >> 32;      /* the good bits */
}

static void
test_keys(void)
{
    struct gh_shm shm;
    struct gh_shm_ctable *t;
    struct gh_ct_key a, b;
    uint64_t save[6], lo, hi;
    uint8_t msg[15];

    subtest("keys") {
        ok(seg(&shm, 4 << 20, 64 << 10) == GH_OK, "64K table: %s", err);
        t = table(&shm);
        memcpy(save, t->secret, sizeof(save));
        /* The reference vectors (key 00..0f, message 00..N-1). */
        t->secret[2] = 0x0706050403020100ULL;
        t->secret[3] = 0x0f0e0d0c0b0a0908ULL;
        for (int i = 0; i < 15; i++)
            msg[i] = (uint8_t) i;
        gh_ctable_key_bytes(&shm, 9, msg, 0, &a);
        memcpy(&lo, a.k, 8);
        ok(lo == 0x726fdb47dd0e0e31ULL, "SipHash-2-4 of \"\": %016llx",
           (unsigned long long) lo);
        gh_ctable_key_bytes(&shm, 9, msg, 1, &a);
        memcpy(&lo, a.k, 8);
        ok(lo == 0x74f839c593dc67fdULL, "SipHash-2-4 of 00: %016llx",
           (unsigned long long) lo);
        gh_ctable_key_bytes(&shm, 9, msg, 15, &a);
        memcpy(&lo, a.k, 8);
        ok(lo == 0xa129ca6149be45e5ULL, "SipHash-2-4 of 00..0e: %016llx",
           (unsigned long long) lo);
        is_int(a.zone, 9, "zone kept");
        memcpy(&hi, a.k + 8, 8);
        ok(hi != lo, "second half from the other key");
        memcpy(t->secret, save, sizeof(save));

        gh_ctable_key_bytes(&shm, 1, "alice", 5, &a);
        gh_ctable_key_bytes(&shm, 1, "alice", 5, &b);
        ok(memcmp(&a, &b, sizeof(a)) == 0, "same value, same key");
        gh_ctable_key_bytes(&shm, 1, "alicf", 5, &b);
        ok(memcmp(a.k, b.k, 16) != 0, "another value, another key");
        gh_ctable_key_bytes(&shm, 2, "alice", 5, &b);
        ok(memcmp(a.k, b.k, 16) == 0 && b.zone == 2,
           "another zone: same hash, other zone");
        t->secret[2]++;
        gh_ctable_key_bytes(&shm, 1, "alice", 5, &b);
        ok(memcmp(a.k, b.k, 16) != 0, "the hash depends on the secret");
        t->secret[2]--;
        ok(save[0] | save[1], "a secret was drawn");

        gh_shm_close(&shm);

        struct gh_shm s2;
        uint32_t same = 0;
        ok(seg(&shm, 4 << 20, GH_CT_MIN_BYTES) == GH_OK
           && seg(&s2, 4 << 20, GH_CT_MIN_BYTES) == GH_OK, "two tables");
        for (uint32_t i = 0; i < 20; i++) {
            a = keyn(0, i);
            same += set_of_key(&shm, &a) == set_of_key(&s2, &a);
        }
        ok(same < 20, "their secrets put keys in other sets (%u of 20 "
           "alike)", same);
        gh_shm_close(&s2);

        a = key4(0, 0x01020304);
        is_int(a.k[10], 0xff, "IPv4 mapped (::ffff:)");
        is_int(a.k[15], 4, "last byte of the IPv4 address");
        gh_shm_close(&shm);
    }
}

static void
test_init(void)
{
    struct gh_shm shm, raw;
    struct gh_ctable_stats st;
    struct gh_ct_key k = key4(0, 0x0a000001);
    uint64_t retry, secret;
    gh_off e, off;
    size_t max;

    subtest("no table, wrong sizes, reload") {
        ok(gh_shm_create(&raw, 1 << 20, err, sizeof(err)) == GH_OK, "1M");
        ok(gh_ctable_init(&raw, 64 << 10, note, sizeof(note), err,
                          sizeof(err)) == GH_ERR, "no state: refused");
        ok(strstr(err, "not initialised") != NULL, "says why: %s", err);
        gh_shm_close(&raw);

        ok(seg(&shm, 4 << 20, 0) == GH_OK, "size 0: no table");
        is_str(note, "", "no notice");
        gh_ctable_stats(&shm, &st);
        is_int(st.bytes, 0, "stats: no table");
        is_int(gh_ctable_conn_enter(&shm, NULL, &k, 1, &e), GH_AGAIN,
               "enter without a table: GH_AGAIN");
        is_int(e, 0, "and no entry");
        gh_ctable_conn_leave(&shm, NULL, e);
        is_int(gh_ctable_rate(&shm, &k, 1000, 0, 1, &retry), GH_AGAIN,
               "rate without a table: GH_AGAIN");
        ok(gh_ctable_proc_attach(&shm, 4242, 100) != NULL,
           "a held table all the same (for the total count)");
        is_int(gh_state_proc_reap(&shm, 4242), 0, "reaped, nothing held");
        ok(gh_ctable_init(&shm, 64 << 10, note, sizeof(note), err,
                          sizeof(err)) == GH_OK, "reload with 64K: GH_OK");
        ok(strstr(note, "next restart") != NULL, "with a notice: %s", note);
        gh_ctable_stats(&shm, &st);
        is_int(st.bytes, 0, "still no table");
        gh_shm_close(&shm);

        ok(gh_shm_create(&shm, 4 << 20, err, sizeof(err)) == GH_OK
           && gh_state_init(&shm, err, sizeof(err)) == GH_OK, "4M");
        const uint64_t tiny[] = { 1, 100, 256, 4096, GH_CT_MIN_BYTES - 1 };
        for (size_t i = 0; i < GH_NELEM(tiny); i++) {
            ok(gh_ctable_init(&shm, tiny[i], note, sizeof(note), err,
                              sizeof(err)) == GH_ERR, "%llu bytes refused",
               (unsigned long long) tiny[i]);
            ok(strstr(err, "below the minimum") != NULL, "says why: %s",
               err);
        }
        max = gh_slab_max_alloc(&shm);
        const uint64_t huge[] = { 4 << 20, 2 * max, 1ULL << 40, UINT64_MAX };
        for (size_t i = 0; i < GH_NELEM(huge); i++) {
            ok(gh_ctable_init(&shm, huge[i], note, sizeof(note), err,
                              sizeof(err)) == GH_ERR, "%llu bytes refused",
               (unsigned long long) huge[i]);
            ok(strstr(err, "does not fit") != NULL, "says why: %s", err);
        }
        gh_ctable_stats(&shm, &st);
        is_int(st.bytes, 0, "no table after the refusals");
        ok(gh_ctable_init(&shm, GH_CT_MIN_BYTES, note, sizeof(note), err,
                          sizeof(err)) == GH_OK, "the minimum is made: %s",
           err);
        gh_ctable_stats(&shm, &st);
        is_int(st.entries, 25 * GH_CT_WAYS, "25 sets of 8");
        ok(st.bytes <= GH_CT_MIN_BYTES, "within the size (%llu)",
           (unsigned long long) st.bytes);
        is_int(table(&shm)->nstripes, 25, "a stripe per set");
        gh_shm_close(&shm);

        ok(seg(&shm, 4 << 20, max = 1 << 20) == GH_OK, "1M table made");
        gh_ctable_stats(&shm, &st);
        is_int(table(&shm)->nstripes, GH_CT_STRIPES, "all the stripes");
        ok(st.bytes <= max && st.bytes > max - SET_BYTES,
           "fills the size (%llu)", (unsigned long long) st.bytes);
        off = gh_state_globals(&shm)->ctable;
        secret = table(&shm)->secret[0];
        ok(gh_ctable_conn_enter(&shm, NULL, &k, 0, &e) == GH_OK, "a count");
        ok(gh_ctable_init(&shm, 1 << 20, note, sizeof(note), err,
                          sizeof(err)) == GH_OK, "reload, same size");
        is_str(note, "", "no notice");
        ok(gh_ctable_init(&shm, 2 << 20, note, sizeof(note), err,
                          sizeof(err)) == GH_OK, "reload, twice the size");
        ok(strstr(note, "1048576 to 2097152") != NULL
           && strstr(note, "next restart") != NULL, "notice: %s", note);
        ok(gh_ctable_init(&shm, 0, note, sizeof(note), err,
                          sizeof(err)) == GH_OK && note[0] != '\0',
           "reload, no table: kept, with a notice");
        is_int(gh_state_globals(&shm)->ctable, off, "the same table");
        ok(table(&shm)->secret[0] == secret, "the same secret");
        is_int(gh_ctable_conns(&shm, &k), 1, "the count kept");
        gh_shm_close(&shm);

        ok(gh_shm_create(&shm, 2 << 20, err, sizeof(err)) == GH_OK
           && gh_state_init(&shm, err, sizeof(err)) == GH_OK, "2M");
        while (gh_slab_alloc(&shm, 16 << 10) != 0)
            ;
        ok(gh_ctable_init(&shm, 64 << 10, note, sizeof(note), err,
                          sizeof(err)) == GH_ERR, "segment full: refused");
        ok(strstr(err, "full") != NULL, "says why: %s", err);
        gh_shm_close(&shm);
    }
}

static void
test_conns(void)
{
    struct gh_shm shm;
    struct gh_shm_ct_held *h;
    struct gh_ctable_stats st;
    struct gh_ct_key a = key4(0, 0x01020304), b = key4(0, 0x01020305);
    struct gh_ct_key az = key4(7, 0x01020304), v6 = keyn(0, 1), compat;
    gh_off e[8], x;
    int rc;

    subtest("connections") {
        ok(seg(&shm, 4 << 20, 64 << 10) == GH_OK, "64K table: %s", err);
        h = gh_ctable_proc_attach(&shm, getpid(), 100);
        ok(h != NULL, "held table");
        for (int i = 0; i < 3; i++)
            is_int(gh_ctable_conn_enter(&shm, h, &a, 3, &e[i]), GH_OK,
                   "a: connection %d of 3", i + 1);
        ok(e[0] != 0 && e[0] == e[1] && e[1] == e[2], "one entry");
        is_int(entry_of(&shm, e[0])->conns, 3, "counts 3");
        is_int(gh_ctable_conn_enter(&shm, h, &a, 3, &x), GH_DECLINED,
               "the 4th: GH_DECLINED");
        is_int(x, 0, "no entry");
        is_int(gh_ctable_conns(&shm, &a), 3, "still 3");
        is_int(gh_ctable_conn_enter(&shm, h, &a, 4, &x), GH_OK,
               "a limit of 4 takes one more");
        gh_ctable_conn_leave(&shm, h, x);
        is_int(gh_ctable_conn_enter(&shm, h, &b, 3, &e[3]), GH_OK,
               "another address: its own count");
        ok(e[3] != e[0], "its own entry");
        is_int(gh_ctable_conn_enter(&shm, h, &az, 3, &e[4]), GH_OK,
               "the same address in another zone: its own count");
        ok(e[4] != e[0], "its own entry");
        /* ::1.2.3.4 (IPv4-compatible) is not ::ffff:1.2.3.4 */
        compat = a;
        compat.k[10] = compat.k[11] = 0;
        is_int(gh_ctable_conn_enter(&shm, h, &compat, 3, &e[5]), GH_OK,
               "::1.2.3.4 is not ::ffff:1.2.3.4");
        is_int(gh_ctable_conn_enter(&shm, h, &v6, 3, &e[6]), GH_OK,
               "an IPv6 address");
        ok(e[5] != e[0] && e[6] != e[0] && e[5] != e[6], "their own entries");
        is_int(gh_ctable_conns(&shm, &a), 3, "a still counts 3");
        gh_ctable_stats(&shm, &st);
        is_int(st.used, 5, "5 entries used");
        gh_ctable_conn_leave(&shm, h, e[0]);
        is_int(gh_ctable_conns(&shm, &a), 2, "a leave frees one");
        is_int(gh_ctable_conn_enter(&shm, h, &a, 3, &e[0]), GH_OK,
               "which the next takes");
        for (int i = 0; i < 7; i++)
            gh_ctable_conn_leave(&shm, h, e[i]);
        gh_ctable_conn_leave(&shm, h, e[0]);
        gh_ctable_conn_leave(&shm, h, e[0]);
        is_int(gh_ctable_conns(&shm, &a), 0, "all left: 0");
        gh_ctable_conn_leave(&shm, h, e[0]);
        is_int(gh_ctable_conns(&shm, &a), 0, "one leave too many: still 0");
        gh_ctable_stats(&shm, &st);
        is_int(st.used, 0, "entries freed when their count is 0");
        is_int(h->used, 0, "nothing held");
        gh_ctable_conn_leave(&shm, h, 0);
        gh_ctable_conn_leave(&shm, h, table(&shm)->sets + 13);
        gh_ctable_conn_leave(&shm, h, table(&shm)->sets
                             + table(&shm)->nsets * SET_BYTES);
        gh_ctable_conn_leave(&shm, h, table(&shm)->sets - 64);
        ok(1, "leaving 0 or a stray offset is ignored");

        for (int i = 0; i < 1000; i++)
            if (gh_ctable_conn_enter(&shm, NULL, &a, 0, &x) != GH_OK)
                break;
        is_int(gh_ctable_conns(&shm, &a), 1000, "limit 0: no limit");
        for (int i = 0; i < 1000; i++)
            gh_ctable_conn_leave(&shm, NULL, x);
        is_int(gh_ctable_conns(&shm, &a), 0, "without a held table too");
        is_int(gh_state_proc_reap(&shm, getpid()), 0, "nothing to give back");
        gh_shm_close(&shm);
    }

    subtest("held table full") {
        ok(seg(&shm, 4 << 20, 64 << 10) == GH_OK, "64K table: %s", err);
        h = gh_ctable_proc_attach(&shm, getpid(), 3);
        ok(h != NULL && h->cap == 4, "3 connections: 4 slots");
        for (int i = 0; i < 3; i++) {
            struct gh_ct_key k = keyn(0, 100 + (uint32_t) i);

            is_int(gh_ctable_conn_enter(&shm, h, &k, 10, &e[i]), GH_OK,
                   "key %d", i);
        }
        is_int(gh_ctable_conn_enter(&shm, h, &a, 10, &x), GH_AGAIN,
               "a 4th key: GH_AGAIN (held full)");
        is_int(x, 0, "no entry");
        is_int(gh_ctable_conns(&shm, &a), 0, "nothing counted");
        gh_ctable_stats(&shm, &st);
        is_int(st.used, 3, "and no entry left behind");
        b = keyn(0, 100);
        is_int(gh_ctable_conn_enter(&shm, h, &b, 10, &x), GH_OK,
               "a key already held still counts");
        is_int(gh_ctable_conns(&shm, &b), 2, "twice");
        gh_ctable_conn_leave(&shm, h, x);
        for (int i = 0; i < 3; i++)
            gh_ctable_conn_leave(&shm, h, e[i]);
        is_int(h->used, 0, "all unrecorded");
        rc = gh_ctable_conn_enter(&shm, h, &a, 10, &x);
        is_int(rc, GH_OK, "room again");
        gh_ctable_conn_leave(&shm, h, x);
        gh_shm_close(&shm);
    }
}

static int
hammer_done(uint32_t limit)
{
    return __atomic_load_n(&sh->max_conns, __ATOMIC_RELAXED) >= limit
           && __atomic_load_n(&sh->max_total, __ATOMIC_RELAXED) >= limit
           && __atomic_load_n(&sh->declined, __ATOMIC_RELAXED) > 0
           && __atomic_load_n(&sh->total_declined, __ATOMIC_RELAXED) > 0;
}

/* Child: hold up to 3 connections of one key and of the total, at random,
 * many times, noting the largest counts seen. */
static void
hammer_conns(struct gh_shm *shm, const struct gh_ct_key *k,
             const struct gh_ct_key *k2, uint32_t limit, uint64_t seed)
{
    struct gh_shm_ct_held *h = gh_ctable_proc_attach(shm, getpid(), 16);
    gh_off held[3], e2 = 0;
    int n = 0, nt = 0;
    time_t deadline;

    if (h == NULL)
        _exit(2);
    start_together();
    deadline = time(NULL) + 5;
    /* On a busy machine the children may take turns rather than overlap:
     * go on until the limits were reached and refused (or 5 s). */
    for (int i = 0; i < 100000 || (time(NULL) < deadline
                                   && !hammer_done(limit)); i++) {
        if (rnd(&seed) & 1 && n < 3) {
            int rc = gh_ctable_conn_enter(shm, h, k, limit, &held[n]);

            if (rc == GH_OK) {
                uint32_t c = __atomic_load_n(
                    &entry_of(shm, held[n])->conns, __ATOMIC_RELAXED);
                uint32_t m = __atomic_load_n(&sh->max_conns,
                                             __ATOMIC_RELAXED);

                while (c > m && !__atomic_compare_exchange_n(
                           &sh->max_conns, &m, c, 0, __ATOMIC_RELAXED,
                           __ATOMIC_RELAXED))
                    ;
                n++;
            } else if (rc == GH_DECLINED) {
                __atomic_add_fetch(&sh->declined, 1, __ATOMIC_RELAXED);
            } else {
                __atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
            }
        } else if (n > 0) {
            gh_ctable_conn_leave(shm, h, held[--n]);
        }
        if (rnd(&seed) & 1 && nt < 3) {
            if (gh_state_conn_open(shm, h, limit) == GH_OK) {
                uint32_t c = (uint32_t) gh_state_conns(shm);
                uint32_t m = __atomic_load_n(&sh->max_total,
                                             __ATOMIC_RELAXED);

                while (c > m && !__atomic_compare_exchange_n(
                           &sh->max_total, &m, c, 0, __ATOMIC_RELAXED,
                           __ATOMIC_RELAXED))
                    ;
                nt++;
            } else {
                __atomic_add_fetch(&sh->total_declined, 1, __ATOMIC_RELAXED);
            }
        } else if (nt > 0) {
            gh_state_conn_close(shm, h);
            nt--;
        }
    }
    while (n > 0)
        gh_ctable_conn_leave(shm, h, held[--n]);
    while (nt-- > 0)
        gh_state_conn_close(shm, h);
    /* The total alone, as fast as it goes, below a limit never reached:
     * the compare-and-swap path must lose no update; and a second key
     * without a limit, so all four are in its stripe at once (the parent
     * checks the sums while they are all held). */
    __atomic_add_fetch(&sh->phase2, 1, __ATOMIC_ACQ_REL);
    while (__atomic_load_n(&sh->phase2, __ATOMIC_ACQUIRE) < 4)
        sched_yield();
    for (int i = 0; i < HAMMER_OPEN; i++)
        if (gh_state_conn_open(shm, h, 1ULL << 40) != GH_OK
            || gh_ctable_conn_enter(shm, h, k2, 0, &e2) != GH_OK)
            __atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&sh->opened, 1, __ATOMIC_ACQ_REL);
    while (!__atomic_load_n(&sh->go, __ATOMIC_ACQUIRE))
        usleep(1000);
    for (int i = 0; i < HAMMER_OPEN; i++) {
        gh_state_conn_close(shm, h);
        gh_ctable_conn_leave(shm, h, e2);
    }
    _exit(h->used == 0 && h->total == 0 ? 0 : 3);
}

/*
 * Child: rate-limit one key at the shared simulated clock, moving it on by
 * STEP after each of its own calls, until refused at END.
 */
static void
hammer_rate(struct gh_shm *shm, const struct gh_ct_key *k, uint64_t t,
            uint32_t burst, uint64_t step, uint64_t end)
{
    start_together();
    for (;;) {
        uint64_t c = __atomic_load_n(&sh->clock, __ATOMIC_ACQUIRE), r;
        int rc = gh_ctable_rate(shm, k, t, burst, c, &r);

        if (rc == GH_OK)
            __atomic_add_fetch(&sh->allowed, 1, __ATOMIC_RELAXED);
        else if (rc == GH_DECLINED)
            __atomic_add_fetch(&sh->refused, 1, __ATOMIC_RELAXED);
        else
            __atomic_add_fetch(&sh->errors, 1, __ATOMIC_RELAXED);
        if (c >= end) {
            if (rc == GH_DECLINED)
                break;
            continue;
        }
        (void) __atomic_compare_exchange_n(&sh->clock, &c, c + step, 0,
                                           __ATOMIC_ACQ_REL,
                                           __ATOMIC_RELAXED);
    }
    _exit(0);
}

static void
test_processes(void)
{
    struct gh_shm shm;
    struct gh_ct_key k = key4(0, 0xc0a80001), rk = key4(77, 0xc0a80001);
    struct gh_ct_key k2 = key4(0, 0xc0a80002);
    pid_t pid[4];
    int st, okc;
    const uint64_t t = 100000, step = 7919, t0 = 5000000000ULL;
    const uint64_t end = t0 + 1000 * step;

    subtest("4 processes, one key, limit 5") {
        ok(seg(&shm, 8 << 20, 256 << 10) == GH_OK, "256K table: %s", err);
        memset(sh, 0, sizeof(*sh));
        for (int i = 0; i < 4; i++) {
            fflush(stdout);
            pid[i] = fork();
            if (pid[i] == 0)
                hammer_conns(&shm, &k, &k2, 5,
                             0x9e3779b97f4a7c15ULL * (i + 1));
        }
        for (int i = 0; i < 30000
                        && __atomic_load_n(&sh->opened, __ATOMIC_ACQUIRE) < 4;
             i++)
            usleep(1000);
        is_int(gh_state_conns(&shm), 4 * HAMMER_OPEN,
               "4 x %d opened at full speed: none lost", HAMMER_OPEN);
        is_int(gh_ctable_conns(&shm, &k2), 4 * HAMMER_OPEN,
               "4 x %d entered at full speed: none lost", HAMMER_OPEN);
        __atomic_store_n(&sh->go, 1, __ATOMIC_RELEASE);
        okc = 0;
        for (int i = 0; i < 4; i++) {
            st = wait_status(pid[i]);
            okc += WIFEXITED(st) && WEXITSTATUS(st) == 0;
            is_int(gh_state_proc_reap(&shm, pid[i]), 0,
                   "child %d left everything: nothing to give back", i);
        }
        is_int(okc, 4, "the 4 children ended with nothing held");
        is_int(sh->errors, 0, "no GH_AGAIN or GH_ERR");
        is_int(gh_ctable_conns(&shm, &k), 0, "the count is 0 at the end");
        is_int(gh_ctable_conns(&shm, &k2), 0, "the other's too");
        is_int(sh->max_conns, 5, "the largest count seen is the limit");
        ok(sh->declined > 0, "the limit refused some (%llu)",
           (unsigned long long) sh->declined);
        is_int(gh_state_conns(&shm), 0, "the total is 0 at the end");
        is_int(sh->max_total, 5, "the largest total seen is its limit");
        ok(sh->total_declined > 0, "its limit refused some (%llu)",
           (unsigned long long) sh->total_declined);
        gh_shm_close(&shm);
    }

    subtest("4 processes, one rate, simulated clock") {
        ok(seg(&shm, 8 << 20, 256 << 10) == GH_OK, "256K table: %s", err);
        memset(sh, 0, sizeof(*sh));
        sh->clock = t0;
        is_int(gh_ctable_rate(&shm, &rk, t, 20, t0, NULL), GH_OK,
               "the first request at t0");
        for (int i = 0; i < 4; i++) {
            fflush(stdout);
            pid[i] = fork();
            if (pid[i] == 0)
                hammer_rate(&shm, &rk, t, 20, step, end);
        }
        okc = 0;
        for (int i = 0; i < 4; i++) {
            st = wait_status(pid[i]);
            okc += WIFEXITED(st) && WEXITSTATUS(st) == 0;
        }
        is_int(okc, 4, "the 4 children are done");
        is_int(sh->errors, 0, "no GH_AGAIN or GH_ERR");
        is_int(sh->clock, end, "the clock went to the end");
        /* burst + 1 at once, then one per interval: 21 + 79 */
        is_int(sh->allowed + 1, 21 + (end - t0) / t,
               "allowed: burst + 1 + elapsed / interval");
        ok(sh->refused >= 4, "refused: %llu",
           (unsigned long long) sh->refused);
        gh_shm_close(&shm);
    }
}

static void
test_rate(void)
{
    struct gh_shm shm;
    struct gh_ct_key k = key4(11, 0x0a000001), k2 = key4(11, 0x0a000002);
    uint64_t now = 1000000000ULL, r;
    int n;

    subtest("GCRA") {
        ok(seg(&shm, 4 << 20, 64 << 10) == GH_OK, "64K table: %s", err);
        /* 10 r/s, burst 20 */
        for (n = 0; n < 100; n++)
            if (gh_ctable_rate(&shm, &k, 100000, 20, now, &r) != GH_OK)
                break;
        is_int(n, 21, "burst + 1 at once");
        r = 0;
        is_int(gh_ctable_rate(&shm, &k, 100000, 20, now, &r), GH_DECLINED,
               "then refused");
        is_int(r, 1, "retry after 1 s (100 ms rounded up)");
        is_int(gh_ctable_rate(&shm, &k2, 100000, 20, now, &r), GH_OK,
               "another key is not limited");
        now += 99999;
        is_int(gh_ctable_rate(&shm, &k, 100000, 20, now, &r), GH_DECLINED,
               "1 us before the interval: refused");
        now += 1;
        is_int(gh_ctable_rate(&shm, &k, 100000, 20, now, &r), GH_OK,
               "after 100 ms: one more");
        is_int(gh_ctable_rate(&shm, &k, 100000, 20, now, &r), GH_DECLINED,
               "exactly one");
        now += 250000;
        for (n = 0; n < 100; n++)
            if (gh_ctable_rate(&shm, &k, 100000, 20, now, &r) != GH_OK)
                break;
        is_int(n, 2, "after 250 ms: two (refusals cost nothing)");
        now += 60 * 1000000ULL;
        for (n = 0; n < 100; n++)
            if (gh_ctable_rate(&shm, &k, 100000, 20, now, &r) != GH_OK)
                break;
        is_int(n, 21, "a long idle gives burst + 1 again");

        /* 1 r/min, no burst */
        is_int(gh_ctable_rate(&shm, &k2, 60000000, 0, now, &r), GH_OK,
               "1 r/min: the first");
        is_int(gh_ctable_rate(&shm, &k2, 60000000, 0, now, &r), GH_DECLINED,
               "the second refused");
        is_int(r, 60, "retry after 60 s");
        is_int(gh_ctable_rate(&shm, &k2, 60000000, 0, now + 59500000, &r),
               GH_DECLINED, "59.5 s later: refused");
        is_int(r, 1, "retry after 1 s (0.5 s rounded up)");
        is_int(gh_ctable_rate(&shm, &k2, 60000000, 0, now + 58500000, &r),
               GH_DECLINED, "58.5 s later: refused");
        is_int(r, 2, "retry after 2 s (1.5 s rounded up)");
        is_int(gh_ctable_rate(&shm, &k2, 60000000, 0, now + 59000000, &r),
               GH_DECLINED, "59 s later: refused");
        is_int(r, 1, "retry after 1 s exactly");
        is_int(gh_ctable_rate(&shm, &k2, 60000000, 0, now + 60000000, &r),
               GH_OK, "60 s later: allowed");
        is_int(gh_ctable_rate(&shm, &k2, 0, 0, now, &r), GH_OK,
               "interval 0: no limit");
        is_int(gh_ctable_rate(&shm, &k2, UINT64_MAX / 2, UINT32_MAX, now,
                              &r), GH_OK, "huge interval and burst: no "
               "overflow");
        k2.zone = 0;
        is_int(gh_ctable_rate(&shm, &k2, 1000, 0, 0, &r), GH_OK,
               "now 0: allowed");
        is_int(gh_ctable_rate(&shm, &k2, 1000, 0, 0, &r), GH_DECLINED,
               "and counted");
        gh_shm_close(&shm);
    }
}

static void
test_evict(void)
{
    struct gh_shm shm;
    struct gh_ctable_stats st0, st;
    struct gh_ct_key k[10], c[9], busy = key4(0, 0x7f000001);
    const uint64_t sec = 1000000, n0 = 1000 * sec;
    gh_off e[9], be, x;
    uint64_t r;
    uint32_t s;

    subtest("eviction") {
        ok(seg(&shm, 4 << 20, GH_CT_MIN_BYTES) == GH_OK, "smallest table");
        s = same_set(&shm, 5, 0, k, 10);
        ok(s != UINT32_MAX, "10 keys in set %u", s);
        gh_ctable_stats(&shm, &st0);
        is_int(st0.used, 0, "looking for them left nothing");
        /* 1 r/s, no burst: each has a debt until n0 + 1 s. */
        for (int i = 0; i < 8; i++)
            is_int(gh_ctable_rate(&shm, &k[i], sec, 0, n0, &r), GH_OK,
                   "rate key %d entered", i);
        is_int(gh_ctable_rate(&shm, &k[0], sec, 0, n0, &r), GH_DECLINED,
               "key 0 used again (refused)");
        is_int(gh_ctable_rate(&shm, &k[8], sec, 0, n0, &r), GH_OK,
               "a 9th key in the full set");
        gh_ctable_stats(&shm, &st);
        is_int(st.evictions - st0.evictions, 1, "evicted one");
        is_int(gh_ctable_rate(&shm, &k[0], sec, 0, n0, &r), GH_DECLINED,
               "not key 0 (recently used): its debt is kept");
        is_int(gh_ctable_rate(&shm, &k[8], sec, 0, n0, &r), GH_DECLINED,
               "the new key is there");
        for (int i = 2; i < 8; i++)
            is_int(gh_ctable_rate(&shm, &k[i], sec, 0, n0, &r), GH_DECLINED,
                   "key %d kept", i);
        is_int(gh_ctable_rate(&shm, &k[1], sec, 0, n0, &r), GH_OK,
               "key 1, the least recently used, was evicted");

        /* Key 9 in at n0 + 5 s with an interval of 10 s: a debt until
         * n0 + 15 s.  Keys 1..7 touched then with 1 us: no debt after. */
        is_int(gh_ctable_rate(&shm, &k[9], 10 * sec, 0, n0 + 5 * sec, &r),
               GH_OK, "key 9 in, with a long debt");
        for (int i = 1; i < 8; i++)
            (void) gh_ctable_rate(&shm, &k[i], 1, 0, n0 + 5 * sec, &r);
        gh_ctable_stats(&shm, &st0);
        is_int(gh_ctable_rate(&shm, &k[0], sec, 0, n0 + 5 * sec + 2, &r),
               GH_OK, "key 0 back in");
        gh_ctable_stats(&shm, &st);
        is_int(st.evictions - st0.evictions, 1, "evicting one");
        ok(!present(&shm, s, &k[1]), "key 1, the least recently used of "
           "those without a debt");
        for (int i = 2; i < 8; i++)
            ok(present(&shm, s, &k[i]), "not key %d", i);
        is_int(gh_ctable_rate(&shm, &k[9], 10 * sec, 0, n0 + 5 * sec + 3,
                              &r), GH_DECLINED,
               "not key 9, least recently used but still in debt");
        ok(r >= 9, "its debt intact (retry after %llu s)",
           (unsigned long long) r);
        gh_shm_close(&shm);
    }

    subtest("entries that count connections stay") {
        ok(seg(&shm, 4 << 20, GH_CT_MIN_BYTES) == GH_OK, "smallest table");
        ok(gh_ctable_conn_enter(&shm, NULL, &busy, 0, &be) == GH_OK,
           "one connection first");
        int n = 0;
        for (uint32_t i = 0; i < 1000; i++) {
            struct gh_ct_key rk = keyn(busy.zone, 1000 + i);

            n += gh_ctable_rate(&shm, &rk, sec, 0, n0, &r) == GH_OK;
        }
        is_int(n, 1000, "1000 rate keys allowed in 200 entries");
        gh_ctable_stats(&shm, &st);
        ok(st.used <= st.entries && st.evictions >= 800,
           "%llu used of %llu, %llu evictions",
           (unsigned long long) st.used, (unsigned long long) st.entries,
           (unsigned long long) st.evictions);
        is_int(gh_ctable_conns(&shm, &busy), 1, "the connection is counted "
               "still");
        is_int(entry_of(&shm, be)->conns, 1, "in its entry");

        /* Not the set of the busy key: 8 more would not fit. */
        for (uint32_t base = 1 << 20;; base += 1 << 16) {
            s = same_set(&shm, 0, base, c, 9);
            if (s != set_of(&shm, be))
                break;
        }
        ok(s != UINT32_MAX, "9 client keys in set %u", s);
        for (int i = 0; i < 8; i++)
            is_int(gh_ctable_conn_enter(&shm, NULL, &c[i], 0, &e[i]), GH_OK,
                   "connection of key %d", i);
        gh_ctable_stats(&shm, &st0);
        is_int(gh_ctable_conn_enter(&shm, NULL, &c[8], 0, &x), GH_AGAIN,
               "a 9th: GH_AGAIN, every way counts connections");
        is_int(x, 0, "no entry");
        is_int(gh_ctable_rate(&shm, &c[8], sec, 0, n0, &r), GH_AGAIN,
               "a rate there: GH_AGAIN too (let through)");
        gh_ctable_stats(&shm, &st);
        is_int(st.fails - st0.fails, 2, "two failed inserts counted");
        for (int i = 0; i < 8; i++)
            is_int(gh_ctable_conns(&shm, &c[i]), 1, "key %d kept", i);
        gh_ctable_conn_leave(&shm, NULL, e[3]);
        is_int(gh_ctable_conn_enter(&shm, NULL, &c[8], 0, &x), GH_OK,
               "one left: the 9th gets its way");
        is_int(x, e[3], "the same way");
        gh_shm_close(&shm);
    }
}

static void
enter_some(struct gh_shm *shm, struct gh_shm_ct_held *h)
{
    gh_off e;

    for (uint32_t i = 0; i < 3; i++) {
        struct gh_ct_key k = key4(0, 0x0a000001 + i);

        for (uint32_t j = 0; j <= i; j++)
            if (gh_ctable_conn_enter(shm, h, &k, 0, &e) != GH_OK)
                _exit(2);
    }
    for (int i = 0; i < 6; i++)
        if (gh_state_conn_open(shm, h, 100) != GH_OK)
            _exit(2);
}

static void
test_crash(void)
{
    struct gh_shm shm;
    struct gh_shm_ct_held *h, *mine;
    struct gh_ctable_stats st;
    struct gh_conf conf;
    struct gh_ct_key a = key4(0, 0x0a000001), k;
    gh_off e, ea;
    pid_t pid;
    int status, n;

    subtest("a dead worker's counts come back") {
        ok(seg(&shm, 8 << 20, 256 << 10) == GH_OK, "256K table: %s", err);
        mine = gh_ctable_proc_attach(&shm, getpid(), 100);
        ok(gh_ctable_conn_enter(&shm, mine, &a, 0, &ea) == GH_OK
           && gh_state_conn_open(&shm, mine, 0) == GH_OK,
           "the parent holds one of its own");
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            h = gh_ctable_proc_attach(&shm, getpid(), 100);
            if (h == NULL)
                _exit(2);
            enter_some(&shm, h);
            _exit(0);                   /* without leaving */
        }
        status = wait_status(pid);
        ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exited");
        is_int(gh_ctable_conns(&shm, &a), 2, "a: 1 + 1");
        k = key4(0, 0x0a000003);
        is_int(gh_ctable_conns(&shm, &k), 3, "c: 3");
        is_int(gh_state_conns(&shm), 7, "total: 1 + 6");
        is_int(gh_state_proc_reap(&shm, pid), 6 + 6, "12 counts given back");
        is_int(gh_ctable_conns(&shm, &a), 1, "a: the parent's one");
        is_int(gh_ctable_conns(&shm, &k), 0, "c: 0");
        is_int(gh_state_conns(&shm), 1, "total: the parent's one");
        gh_ctable_stats(&shm, &st);
        is_int(st.used, 1, "the child's entries freed");
        is_int(gh_state_proc_reap(&shm, pid), 0, "a second reap: nothing");

        memset(sh, 0, sizeof(*sh));
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            h = gh_ctable_proc_attach(&shm, getpid(), 100);
            if (h == NULL)
                _exit(2);
            enter_some(&shm, h);
            __atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
            for (;;)
                pause();
        }
        ok(wait_ready(), "child holds its counts");
        (void) kill(pid, SIGKILL);
        status = wait_status(pid);
        ok(WIFSIGNALED(status), "child killed");
        is_int(gh_state_proc_reap(&shm, pid), 12, "SIGKILL: 12 given back");
        is_int(gh_ctable_conns(&shm, &a), 1, "a: the parent's one");
        is_int(gh_state_conns(&shm), 1, "total: the parent's one");
        gh_ctable_conn_leave(&shm, mine, ea);
        gh_state_conn_close(&shm, mine);
        is_int(gh_state_proc_reap(&shm, getpid()), 0, "the parent: nothing");
        gh_shm_close(&shm);
    }

    subtest("many keys, some left, then killed") {
        ok(seg(&shm, 8 << 20, 1 << 20) == GH_OK, "1M table: %s", err);
        memset(sh, 0, sizeof(*sh));
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            gh_off held[1024];
            uint64_t seed = 12345;

            h = gh_ctable_proc_attach(&shm, getpid(), 1024);
            if (h == NULL)
                _exit(2);
            sh->held = gh_shm_off(&shm, h);
            for (uint32_t i = 0; i < 1024; i++) {
                k = keyn(3, i);
                if (gh_ctable_conn_enter(&shm, h, &k, 0, &held[i]) == GH_OK)
                    sh->counted[i] = 1;
                sh->allowed += sh->counted[i];
                sh->entries[i] = held[i];
            }
            /* Leave a random half: deletions shift slots around. */
            for (uint32_t i = 0; i < 1024; i++)
                if (sh->counted[i] && rnd(&seed) & 1) {
                    gh_ctable_conn_leave(&shm, h, held[i]);
                    sh->counted[i] = 0;
                }
            __atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
            for (;;)
                pause();
        }
        ok(wait_ready(), "child holds its counts");
        is_int(sh->allowed, 1024, "its held table took 1024 keys");
        n = 0;
        for (uint32_t i = 0; i < 1024; i++)
            n += sh->counted[i];
        ok(n > 300 && n < 700, "it holds %d keys", n);
        int right = 0;
        for (uint32_t i = 0; i < 1024; i++) {
            k = keyn(3, i);
            right += gh_ctable_conns(&shm, &k) == sh->counted[i];
        }
        is_int(right, 1024, "the counts are what it holds");
        /* Its held table: one slot per key it holds, found by probing. */
        h = gh_shm_ptr(&shm, sh->held);
        uint64_t *slot = (uint64_t *) (h + 1);
        int used = 0, found = 0;
        for (uint32_t i = 0; i < h->cap; i++)
            used += (uint32_t) slot[i] != 0;
        is_int(used, n, "its held table has a slot per key");
        is_int(h->used, n, "and says so");
        for (uint32_t i = 0; i < 1024; i++) {
            uint32_t idx1, j, mask = h->cap - 1;

            if (!sh->counted[i])
                continue;
            idx1 = (uint32_t) ((sh->entries[i] - table(&shm)->sets)
                               / sizeof(struct gh_shm_ct_entry)) + 1;
            j = (uint32_t) ((idx1 * 0x9e3779b97f4a7c15ULL) >> 32) & mask;
            while ((uint32_t) slot[j] != 0 && (uint32_t) slot[j] != idx1)
                j = (j + 1) & mask;
            found += (uint32_t) slot[j] == idx1 && slot[j] >> 32 == 1;
        }
        is_int(found, n, "each found from its home slot, with count 1");
        (void) kill(pid, SIGKILL);
        (void) wait_status(pid);
        is_int(gh_state_proc_reap(&shm, pid), n, "all given back");
        right = 0;
        for (uint32_t i = 0; i < 1024; i++) {
            k = keyn(3, i);
            right += gh_ctable_conns(&shm, &k) == 0;
        }
        is_int(right, 1024, "every count is 0");
        gh_ctable_stats(&shm, &st);
        is_int(st.used, 0, "every entry free");
        gh_shm_close(&shm);
    }

    subtest("a held slot copied by an interrupted move counts once") {
        ok(seg(&shm, 4 << 20, 64 << 10) == GH_OK, "64K table: %s", err);
        mine = gh_ctable_proc_attach(&shm, getpid(), 100);
        h = gh_ctable_proc_attach(&shm, 999999, 100);
        ok(mine != NULL && h != NULL, "two held tables");
        for (int i = 0; i < 2; i++)
            ok(gh_ctable_conn_enter(&shm, mine, &a, 0, &e) == GH_OK
               && gh_ctable_conn_enter(&shm, h, &a, 0, &e) == GH_OK,
               "both hold a");
        is_int(gh_ctable_conns(&shm, &a), 4, "a counts 4");
        uint64_t *slot = (uint64_t *) (h + 1);
        uint32_t i, mask = h->cap - 1;
        for (i = 0; i <= mask && (uint32_t) slot[i] == 0; i++)
            ;
        while ((uint32_t) slot[(i + 1) & mask] != 0)
            i = (i + 1) & mask;
        slot[(i + 1) & mask] = slot[i];
        is_int(gh_state_proc_reap(&shm, 999999), 2, "2 given back, not 4");
        is_int(gh_ctable_conns(&shm, &a), 2, "the other 2 stay");
        gh_shm_close(&shm);
    }

    subtest("killed between two steps: off by one at most, never below 0") {
        ok(seg(&shm, 4 << 20, 64 << 10) == GH_OK, "64K table: %s", err);
        mine = gh_ctable_proc_attach(&shm, getpid(), 100);
        h = gh_ctable_proc_attach(&shm, 999999, 100);
        ok(gh_ctable_conn_enter(&shm, mine, &a, 0, &ea) == GH_OK
           && gh_ctable_conn_enter(&shm, h, &a, 0, &e) == GH_OK,
           "each holds a");
        k = key4(0, 0x0b000001);
        ok(gh_ctable_conn_enter(&shm, h, &k, 0, &e) == GH_OK, "and b");
        /* As if killed after recording a second a, before counting it. */
        uint64_t *slot = (uint64_t *) (h + 1);
        for (uint32_t i = 0; i < h->cap; i++)
            if ((uint32_t) slot[i] != 0
                && table(&shm)->sets + ((uint32_t) slot[i] - 1)
                   * sizeof(struct gh_shm_ct_entry) == ea)
                slot[i] += 1ULL << 32;
        /* As if killed after taking b off, before unrecording it. */
        gh_ctable_conn_leave(&shm, NULL, e);
        /* And after recording a connection, before counting it. */
        ok(gh_state_conn_open(&shm, mine, 0) == GH_OK
           && gh_state_conn_open(&shm, h, 0) == GH_OK, "one each in all");
        h->total++;
        is_int(gh_ctable_conns(&shm, &a), 2, "a counts 2 (h recorded 2)");
        is_int(gh_state_conns(&shm), 2, "the total is 2 (h recorded 2)");
        gh_ctable_conn_leave(&shm, mine, ea);
        gh_state_conn_close(&shm, mine);
        is_int(gh_state_proc_reap(&shm, 999999), 2,
               "given back: a's 1 (of 2 recorded), the total's 1 (of 2)");
        is_int(gh_ctable_conns(&shm, &a), 0, "a: 0, not below");
        is_int(gh_ctable_conns(&shm, &k), 0, "b: 0");
        is_int(gh_state_conns(&shm), 0, "total: 0, not below");
        ok(gh_ctable_conn_enter(&shm, mine, &a, 1, &ea) == GH_OK
           && gh_ctable_conn_enter(&shm, mine, &a, 1, &e) == GH_DECLINED,
           "a's limit of 1 holds again");
        gh_shm_close(&shm);
    }

    subtest("one process entry for both tables, in either order") {
        ok(seg(&shm, 4 << 20, 64 << 10) == GH_OK, "64K table: %s", err);
        memset(&conf, 0, sizeof(conf));
        struct gh_shm_globals *g = gh_state_globals(&shm);
        ok(gh_state_proc_attach(&shm, &conf, 1001) != NULL, "1001: state");
        ok(gh_ctable_proc_attach(&shm, 1002, 10) != NULL, "1002: ct");
        h = gh_ctable_proc_attach(&shm, 1003, 10);
        ok(h != NULL && gh_ctable_conn_enter(&shm, h, &a, 0, &e) == GH_OK,
           "1003: ct, holds a");
        is_int(gh_state_proc_reap(&shm, 1001), 0, "1001 reaped: a free "
               "entry before theirs");
        ok(gh_state_proc_attach(&shm, &conf, 1002) != NULL, "1002: state");
        ok(gh_state_proc_attach(&shm, &conf, 1003) != NULL, "1003: state");
        n = 0;
        int both = 0;
        for (uint32_t j = 0; j < GH_NELEM(g->procs); j++) {
            n += g->procs[j].pid == 1002 || g->procs[j].pid == 1003;
            both += (g->procs[j].pid == 1002 || g->procs[j].pid == 1003)
                    && g->procs[j].held != 0 && g->procs[j].ct != 0;
        }
        is_int(n, 2, "one entry each (not a free one before theirs)");
        is_int(both, 2, "each with both tables");
        h = gh_ctable_proc_attach(&shm, 1003, 10);
        ok(h != NULL, "1003 attached again");
        is_int(gh_ctable_conns(&shm, &a), 0, "what it held before given back");
        ok(gh_ctable_conn_enter(&shm, h, &a, 0, &e) == GH_OK, "holds a");
        is_int(gh_state_proc_reap(&shm, 1002), 0, "1002 reaped");
        is_int(gh_state_proc_reap(&shm, 1003), 1, "1003: 1 given back");
        n = 0;
        for (uint32_t j = 0; j < GH_NELEM(g->procs); j++)
            n += g->procs[j].pid != 0;
        is_int(n, 0, "the process table is empty");
        gh_shm_close(&shm);
    }

    subtest("the total count and its limit") {
        ok(seg(&shm, 4 << 20, 0) == GH_OK, "no table");
        mine = gh_ctable_proc_attach(&shm, getpid(), 100);
        ok(mine != NULL, "held all the same");
        for (int i = 0; i < 3; i++)
            is_int(gh_state_conn_open(&shm, mine, 3), GH_OK, "open %d", i);
        is_int(gh_state_conn_open(&shm, mine, 3), GH_DECLINED,
               "the 4th: GH_DECLINED");
        is_int(mine->total, 3, "held: 3");
        is_int(gh_state_conn_open(&shm, NULL, 0), GH_OK, "no limit");
        is_int(gh_state_conns(&shm), 4, "4 open");
        gh_state_conn_close(&shm, NULL);
        gh_state_conn_close(&shm, mine);
        is_int(gh_state_conn_open(&shm, mine, 3), GH_OK, "room again");
        for (int i = 0; i < 5; i++)
            gh_state_conn_close(&shm, mine);
        is_int(gh_state_conns(&shm), 0, "closed more than opened: 0");
        is_int(mine->total, 0, "held: 0");
        gh_shm_close(&shm);
    }
}

static void
test_dead_lock(void)
{
    struct gh_shm shm;
    struct gh_ctable_stats st;
    struct gh_shm_ct_stripe *stripe;
    struct gh_ct_key a = key4(0, 0x0a0a0a0a);
    gh_off e;
    pid_t pid;
    uint64_t r;

    subtest("a stripe lock left by a dead holder") {
        ok(seg(&shm, 4 << 20, 64 << 10) == GH_OK, "64K table: %s", err);
        ok(gh_ctable_conn_enter(&shm, NULL, &a, 0, &e) == GH_OK, "a: 1");
        stripe = (struct gh_shm_ct_stripe *) gh_shm_ptr(&shm,
                     table(&shm)->stripes)
                 + set_of(&shm, e) % table(&shm)->nstripes;
        memset(sh, 0, sizeof(*sh));
        fflush(stdout);
        pid = fork();
        if (pid == 0) {
            if (gh_shm_lock_acquire(&stripe->lock) != GH_OK)
                _exit(2);
            /* Half an insert: a whole-looking stat off by 5. */
            stripe->used += 5;
            __atomic_store_n(&sh->ready, 1, __ATOMIC_RELEASE);
            for (;;)
                pause();
        }
        ok(wait_ready(), "a child holds a's stripe");
        (void) kill(pid, SIGKILL);
        (void) wait_status(pid);
        is_int(gh_ctable_conn_enter(&shm, NULL, &a, 0, &e), GH_OK,
               "the next enter works");
        is_int(gh_ctable_conns(&shm, &a), 2, "a: 2");
        gh_ctable_stats(&shm, &st);
        is_int(st.repairs, 1, "one repair");
        is_int(st.used, 1, "the stripe's used ways recounted");
        is_int(gh_ctable_rate(&shm, &a, 1000, 0, 1, &r), GH_OK,
               "the lock works after");
        gh_ctable_conn_leave(&shm, NULL, e);
        gh_ctable_conn_leave(&shm, NULL, e);
        gh_ctable_stats(&shm, &st);
        is_int(st.repairs, 1, "no more repairs");
        gh_shm_close(&shm);
    }
}

int
main(void)
{
    alarm(120);     /* a deadlock fails the test instead of hanging it */
    sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        return 1;
    test_keys();
    test_init();
    test_conns();
    test_rate();
    test_evict();
    test_processes();
    test_crash();
    test_dead_lock();
    return done_testing();
}
