#ifndef GH_SHM_CTABLE_H
#define GH_SHM_CTABLE_H

/*
 * The shared per-client table: what the whole daemon knows about each
 * client, whichever worker it reaches.  Two uses:
 *
 *  - limits.client_connections: the connections a client address has open
 *    in all workers (zone 0), counted with gh_ctable_conn_enter() and
 *    gh_ctable_conn_leave();
 *  - a route's rate_limit: a token bucket per key (an address or a header
 *    value) in the route's zone, shared by all workers, by GCRA in
 *    gh_ctable_rate().
 *
 * Bounded memory, no lists: a set-associative table of 64-byte entries
 * (struct gh_shm_ct_entry in shm/layout.h), GH_CT_WAYS to a set.  A key
 * goes to one set by a SipHash-2-4 keyed with a secret drawn when the
 * table is made (so a client cannot aim its keys at one set); a lookup
 * scans the set's ways.  A new key takes a free way, else evicts, among the
 * ways that count no connection, first one that holds no rate state any
 * more (its theoretical arrival time has passed), else the least recently
 * used; when every way of the set counts connections the key is not
 * entered and the caller fails open (GH_AGAIN).  A client-connection entry
 * whose count drops to 0 frees its way at once.
 *
 * Locks: GH_CT_STRIPES robust locks (shm/lock.h) at most, set i takes
 * lock i % nstripes.  Critical sections are a scan of one set and a few
 * stores; no system call, no allocation.  Entries are plain fields written
 * in an order that leaves them whole (a way is published by its last_used
 * going from 0), so after a holder died the next one only recounts the
 * stripe's used ways.
 *
 * Crash give-back: each worker registers a held table (struct
 * gh_shm_ct_held: which entries it counts connections in, and how many,
 * and its share of the daemon-wide connection count of shm/state.h).  The
 * master gives all that back when the worker died (gh_state_proc_reap()).
 * A count is recorded before it is added and taken off before it is
 * unrecorded, so a worker killed between the two steps leaves its client's
 * count at most one too low (the limit fails open by one), never too high.
 *
 * Times are microseconds of CLOCK_MONOTONIC, given by the caller.
 */

#include <stddef.h>
#include <stdint.h>

#include "shm/layout.h"
#include "shm/shm.h"

#define GH_CT_MIN_BYTES   16384     /* smallest table (25 sets) */

/*
 * Master only, after gh_state_init() (or on an adopted segment), before
 * forking: make the table of at most BYTES bytes (0: no table; at least
 * GH_CT_MIN_BYTES) as one page run of the slab, and remember the size.
 * Called again (a reload, or a new binary on an adopted segment), it keeps
 * the table there is: with another BYTES it fills NOTE with a notice (the
 * new size takes effect at the next restart; the caller logs it), else
 * leaves NOTE empty.  GH_OK, or GH_ERR with ERR filled (too small, larger
 * than the segment's largest block, the segment is full, no randomness):
 * the caller logs it and stops.  Draws the secret with getrandom(), which
 * may block at boot until the kernel's pool is ready.
 */
int gh_ctable_init(struct gh_shm *shm, uint64_t bytes, char *note,
                   size_t notelen, char *err, size_t errlen);

/* The key of client address ADDR (16 bytes; IPv4 as ::ffff:a.b.c.d) in
 * ZONE.  No lock; works without a table. */
void gh_ctable_key_addr(uint64_t zone, const uint8_t addr[16],
                        struct gh_ct_key *key);
/*
 * The key of the value DATA (LEN bytes, e.g. a header's) in ZONE: a 128-bit
 * hash keyed with the table's secret (two SipHash-2-4 with two keys), so
 * clients cannot make two values collide on purpose.  No lock.  Without a
 * table the hash is unkeyed (and unused: every call then fails open).
 */
void gh_ctable_key_bytes(const struct gh_shm *shm, uint64_t zone,
                         const void *data, size_t len, struct gh_ct_key *key);

/*
 * A worker (PID) that will count up to MAXCONNS connections at once: its
 * held table in the segment, registered for the master
 * (gh_state_proc_ct()).  It also carries the worker's share of the
 * daemon-wide count (gh_state_conn_open()), so it is made even without a
 * client table.  NULL when the segment is full (the worker then counts
 * without, and what it held is not given back should it die: log it).
 * Takes the globals lock and the slab lock.
 */
struct gh_shm_ct_held *gh_ctable_proc_attach(struct gh_shm *shm, int32_t pid,
                                             uint32_t maxconns);

/*
 * A connection of KEY opens: count it unless KEY counts LIMIT already (0:
 * no limit, only count).  GH_OK: counted, *ENTRY set (keep it for
 * gh_ctable_conn_leave()).  GH_DECLINED: KEY is at LIMIT, nothing counted.
 * GH_AGAIN: not counted, because there is no table, KEY's set has every
 * way busy with connections, or HELD is full (more distinct keys than its
 * MAXCONNS): let the connection in (fail open), *ENTRY is 0.  GH_ERR: the
 * stripe lock is broken for good (log an alert, fail open).  HELD may be
 * NULL (counted, but not given back should the worker die).  Takes one
 * stripe lock.
 */
int gh_ctable_conn_enter(struct gh_shm *shm, struct gh_shm_ct_held *held,
                         const struct gh_ct_key *key, uint32_t limit,
                         gh_off *entry);
/*
 * The connection counted in ENTRY (from gh_ctable_conn_enter(); 0 is a
 * no-op) closed.  HELD is the one given to gh_ctable_conn_enter().  A count
 * never goes below 0.  Takes one stripe lock.
 */
void gh_ctable_conn_leave(struct gh_shm *shm, struct gh_shm_ct_held *held,
                          gh_off entry);

/*
 * A request of KEY at NOW_US, against a rate of one per INTERVAL_US with
 * BURST more allowed at once (nginx's limit_req with burst, nodelay: a
 * client idle long enough may send BURST + 1 at once, then one per
 * INTERVAL_US).  GCRA: tau = BURST * INTERVAL_US; allowed when
 * max(tat, now) - now <= tau, and then tat = max(tat, now) + INTERVAL_US.
 * GH_OK: allowed.  GH_DECLINED: refused, *RETRY_AFTER_S (may be NULL) is
 * the seconds until one would be allowed, rounded up, at least 1; a
 * refused request costs nothing.  GH_AGAIN: not tracked (no table, or
 * KEY's set has every way busy with connections): let it through.
 * GH_ERR: the stripe lock is broken for good (log an alert, let it
 * through).  INTERVAL_US 0 allows everything.  Takes one stripe lock.
 */
int gh_ctable_rate(struct gh_shm *shm, const struct gh_ct_key *key,
                   uint64_t interval_us, uint32_t burst, uint64_t now_us,
                   uint64_t *retry_after_s);

/* Connections KEY counts now (0 when absent or no table).  Takes its
 * stripe lock. */
uint32_t gh_ctable_conns(struct gh_shm *shm, const struct gh_ct_key *key);

struct gh_ctable_stats {
    uint64_t bytes;         /* of the table (0: none) */
    uint64_t entries;       /* ways in all: sets * GH_CT_WAYS */
    uint64_t used;          /* ways in use now */
    uint64_t inserts;       /* keys entered */
    uint64_t evictions;     /* of those, into a way taken from another key */
    uint64_t fails;         /* keys not entered: every way busy */
    uint64_t repairs;       /* stripe locks taken over from a dead holder */
};
/* Sums of the stripes' counters, read without locks (each field exact,
 * the set of them from slightly different moments). */
void gh_ctable_stats(const struct gh_shm *shm, struct gh_ctable_stats *st);

/*
 * Master only, with the globals lock held, after the worker that owned
 * HELD (an offset from gh_ctable_proc_attach()) died: take its counts off
 * the entries (never below 0), then free it.  Its share of the total
 * count is gh_state_proc_reap()'s.  Returns the counts taken off.  Takes
 * stripe locks, then the slab lock.
 */
int64_t gh_ctable_held_reap(struct gh_shm *shm, gh_off held);

#endif
