/*
 * Tests shm/slab.c: layout, classes, random operations against a model,
 * exhaustion, invalid frees, eviction, a crash at every step of each kind
 * of operation (and of the repair), and several processes allocating at
 * once while some of them are SIGKILLed.
 *
 * The slab is #included (not linked) for its internals and its test hook:
 * slab_hook runs at every journaled step of a critical section.
 * GH_TEST_SEED=N repeats a run.
 */

#define GH_SLAB_TEST_HOOK 1

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/slab.c"
#include "tests/unit/tap.h"

static uint64_t rng_state;

static uint64_t
rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t
rnd_below(uint64_t n)
{
    return rnd() % n;
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Object contents: words derived from SEED, then bytes. */
static void
pattern_fill(struct gh_shm *shm, gh_off off, size_t size, uint64_t seed)
{
    unsigned char *p = gh_shm_ptr(shm, off);
    size_t i;

    for (i = 0; i + 8 <= size; i += 8) {
        uint64_t v = seed + i * 0x9e3779b97f4a7c15ULL;

        memcpy(p + i, &v, 8);
    }
    for (; i < size; i++)
        p[i] = (unsigned char) (seed >> (i % 8 * 8));
}

static int
pattern_ok(struct gh_shm *shm, gh_off off, size_t size, uint64_t seed)
{
    const unsigned char *p = gh_shm_ptr(shm, off);
    size_t i;

    for (i = 0; i + 8 <= size; i += 8) {
        uint64_t v = seed + i * 0x9e3779b97f4a7c15ULL, got;

        memcpy(&got, p + i, 8);
        if (got != v)
            return 0;
    }
    for (; i < size; i++)
        if (p[i] != (unsigned char) (seed >> (i % 8 * 8)))
            return 0;
    return 1;
}

static struct slab_ctx
ctx(struct gh_shm *shm)
{
    struct slab_ctx x;

    if (slab_ctx_get(&x, shm) != GH_OK)
        abort();
    return x;
}

/* Could an allocation of SIZE succeed now?  (No spurious failures.) */
static int
could_alloc(struct gh_shm *shm, size_t size)
{
    struct slab_ctx x = ctx(shm);
    int c = slab_class_of(size);
    uint32_t o;

    if (c >= 0 && x.sl->cls[c].partial != SLAB_NONE)
        return 1;
    if (c < 0 && size > gh_slab_max_alloc(shm))
        return 0;
    o = c >= 0 ? x.sl->cls[c].order
               : slab_ceil_log2((size + GH_SLAB_PAGE - 1) / GH_SLAB_PAGE);
    for (; o <= x.sl->max_order; o++)
        if (x.sl->free_head[o] != SLAB_NONE)
            return 1;
    return 0;
}

static int
check(struct gh_shm *shm, const char *when)
{
    char err[256];

    if (gh_slab_check(shm, err, sizeof(err)) == GH_OK)
        return 1;
    diag("gh_slab_check %s: %s", when, err);
    return 0;
}

static uint64_t
free_pages(struct gh_shm *shm)
{
    uint64_t total, fr;

    gh_slab_pages(shm, &total, &fr);
    return fr;
}

static uint64_t
total_pages(struct gh_shm *shm)
{
    uint64_t total, fr;

    gh_slab_pages(shm, &total, &fr);
    return total;
}

static void
fresh(struct gh_shm *shm)
{
    char err[256];

    if (gh_slab_init(shm, err, sizeof(err)) != GH_OK) {
        diag("gh_slab_init: %s", err);
        abort();
    }
}

/* ------------------------------------------------------------------ */

static void
test_layout_and_classes(void)
{
    struct gh_shm shm, small;
    struct gh_slab_stats st;
    char err[256];
    int bad = 0;

    subtest("layout is recorded") {
        /* Change any of these only together with SLAB_MAGIC. */
        ok(SLAB_MAGIC == 0x47484c4142000001ULL, "slab magic, version 1");
        is_int(sizeof(struct gh_slab), 2496, "slab header size");
        is_int(offsetof(struct gh_slab, lock), 64, "lock offset");
        is_int(offsetof(struct gh_slab, op), 128, "journal offset");
        is_int(offsetof(struct gh_slab, free_pages), 192, "free_pages");
        is_int(offsetof(struct gh_slab, cls), 384, "classes offset");
        is_int(sizeof(struct slab_page), 64, "page descriptor size");
        is_int(sizeof(struct slab_class), 64, "class size");
        is_int(sizeof(struct slab_undo), 16, "undo record size");
        ok(sizeof(pthread_mutex_t) <= 64, "mutex fits its 64 bytes (%zu)",
           sizeof(pthread_mutex_t));
    }

    subtest("classes") {
        int prev = 0;

        ok(gh_shm_create(&shm, 4 << 20, err, sizeof(err)) == GH_OK, "4M");
        ok(gh_slab_init(&shm, err, sizeof(err)) == GH_OK, "init");
        is_int(shm.hdr->slab, GH_SLAB_PAGE, "slab at the first page");
        is_int(gh_slab_nclasses(&shm), 24, "24 classes");
        is_int(gh_slab_class(&shm, 0), 0, "0 -> class 0");
        is_int(gh_slab_class(&shm, 16), 0, "16 -> class 0");
        is_int(gh_slab_class(&shm, 17), 1, "17 -> class 1");
        is_int(gh_slab_class(&shm, 2048), 23, "2048 -> the last class");
        is_int(gh_slab_class(&shm, 2049), -1, "2049 -> a run");
        for (size_t size = 1; size <= GH_SLAB_MAX_SMALL; size++) {
            int c = gh_slab_class(&shm, size);
            uint32_t cs = slab_class_size(c);

            if (c < prev || c > prev + 1 || cs < size
                || (c > 0 && slab_class_size(c - 1) >= size)
                || (size <= 128 ? cs - size >= 16 : (cs - size) * 4 >= size)
                || cs % 16 != 0) {
                if (bad++ < 5)
                    diag("size %zu: class %d of %u", size, c, cs);
            }
            prev = c;
        }
        is_int(bad, 0, "every size in the tightest class, rounded < 25%%");
        bad = 0;
        for (int c = 0; c < 24; c++) {
            struct slab_class *cl = &ctx(&shm).sl->cls[c];
            uint32_t bytes = GH_SLAB_PAGE << cl->order;

            gh_slab_stats(&shm, c, &st);
            if (st.size != cl->size || cl->nobj * cl->size > bytes
                || cl->nobj > SLAB_MAP_BITS || cl->nobj < 2
                || (bytes - cl->nobj * cl->size) * 16 > bytes)
                bad++;
            diag("class %2d: %4u bytes, %u pages, %3u objects, waste %u",
                 c, cl->size, 1u << cl->order, cl->nobj,
                 bytes - cl->nobj * cl->size);
        }
        is_int(bad, 0, "every class wastes at most 1/16 of its slab");
        gh_slab_stats(&shm, -1, &st);
        is_int(st.size, 0, "runs have size 0");
        gh_slab_stats(&shm, 24, &st);
        ok(st.size == 0 && st.pages == 0, "class out of range: zeros");
        ok(gh_slab_max_alloc(&shm) >= total_pages(&shm) / 2 * GH_SLAB_PAGE,
           "max alloc %zu is at least half of %llu pages",
           gh_slab_max_alloc(&shm), (unsigned long long) total_pages(&shm));
        is_int(free_pages(&shm), total_pages(&shm), "all pages free");
        ok(check(&shm, "after init"), "check after init");
        gh_shm_close(&shm);
    }

    subtest("init refuses a tiny segment") {
        ok(gh_shm_create(&small, 1 << 20, err, sizeof(err)) == GH_OK, "1M");
        ok(gh_slab_init(&small, err, sizeof(err)) == GH_OK, "1M is fine");
        small.size = 8 * GH_SLAB_PAGE;
        ok(gh_slab_init(&small, err, sizeof(err)) == GH_ERR, "32K refused");
        ok(strstr(err, "pages for the slab") != NULL, "says why: %s", err);
        small.size = 1 << 20;
        gh_shm_close(&small);
    }
}

/* ------------------------------------------------------------------ */

struct live {
    gh_off   off;
    size_t   size;
    uint64_t seed;
};

static size_t
random_size(void)
{
    uint64_t r = rnd_below(100);

    if (r < 2)
        return 0;
    if (r < 60)
        return 1 + rnd_below(256);
    if (r < 85)
        return 257 + rnd_below(GH_SLAB_MAX_SMALL - 256);
    if (r < 98)
        return GH_SLAB_MAX_SMALL + 1 + rnd_below(64 * 1024);
    return 64 * 1024 + rnd_below(1 << 20);
}

static void
test_random(void)
{
    enum { NLIVE = 3000, NOPS = 100000 };
    struct gh_shm shm;
    static struct live live[NLIVE];
    uint64_t allocs[GH_SLAB_CLASSES + 1] = { 0 };
    uint64_t frees[GH_SLAB_CLASSES + 1] = { 0 };
    uint64_t fails[GH_SLAB_CLASSES + 1] = { 0 };
    uint64_t used[GH_SLAB_CLASSES + 1] = { 0 };
    unsigned char *shadow;          /* 1 per 16 bytes of the segment */
    struct gh_slab_stats st;
    char err[256];
    size_t nlive = 0;
    int bad_alloc = 0, bad_pattern = 0, overlaps = 0, spurious = 0;
    int checks_bad = 0, stats_bad = 0, usable_bad = 0;
    uint64_t seedc = 1;

    subtest("random alloc and free against a model") {
        ok(gh_shm_create(&shm, 8 << 20, err, sizeof(err)) == GH_OK, "8M");
        fresh(&shm);
        shadow = calloc(shm.size / 16, 1);
        for (int op = 0; op < NOPS; op++) {
            /* Tide: fill up for a while, then drain, so both ends of the
             * allocator's range are visited. */
            int fill = (op / 5000) % 2 == 0;

            if (nlive < NLIVE && (nlive == 0 || rnd_below(100)
                                  < (fill ? 65u : 35u))) {
                size_t size = random_size(), u;
                int c = gh_slab_class(&shm, size);
                int ci = c >= 0 ? c : GH_SLAB_CLASSES;
                int expect = could_alloc(&shm, size);
                gh_off off = gh_slab_alloc(&shm, size);

                if (off == 0) {
                    fails[ci]++;
                    if (expect && spurious++ < 5)
                        diag("alloc(%zu) failed with room", size);
                    continue;
                }
                u = gh_slab_usable(&shm, off);
                if (u < size || (c >= 0 && (u != slab_class_size(c)
                                            || off % 16 != 0))
                    || (c < 0 && (off % GH_SLAB_PAGE != 0
                                  || u != (size + GH_SLAB_PAGE - 1)
                                          / GH_SLAB_PAGE * GH_SLAB_PAGE))
                    || off < ctx(&shm).sl->base || off + u > shm.size) {
                    if (bad_alloc++ < 5)
                        diag("alloc(%zu) = %llu, usable %zu", size,
                             (unsigned long long) off, u);
                    continue;
                }
                for (size_t i = off / 16; i < (off + u) / 16; i++) {
                    if (shadow[i] && overlaps++ < 5)
                        diag("alloc(%zu) = %llu overlaps at %zu", size,
                             (unsigned long long) off, i * 16);
                    shadow[i] = 1;
                }
                live[nlive].off = off;
                live[nlive].size = size;
                live[nlive].seed = seedc++ * 0x100000001b3ULL;
                pattern_fill(&shm, off, size, live[nlive].seed);
                nlive++;
                allocs[ci]++;
                used[ci] += c >= 0 ? 1 : u / GH_SLAB_PAGE;
            } else if (nlive > 0) {
                size_t k = rnd_below(nlive);
                struct live *l = &live[k];
                size_t u = gh_slab_usable(&shm, l->off);
                int c = gh_slab_class(&shm, l->size);
                int ci = c >= 0 ? c : GH_SLAB_CLASSES;

                if (!pattern_ok(&shm, l->off, l->size, l->seed)
                    && bad_pattern++ < 5)
                    diag("object %llu of %zu bytes overwritten",
                         (unsigned long long) l->off, l->size);
                for (size_t i = l->off / 16; i < (l->off + u) / 16; i++)
                    shadow[i] = 0;
                gh_slab_free(&shm, l->off);
                if (gh_slab_usable(&shm, l->off) != 0 && usable_bad++ < 5)
                    diag("usable after free of %llu",
                         (unsigned long long) l->off);
                frees[ci]++;
                used[ci] -= c >= 0 ? 1 : u / GH_SLAB_PAGE;
                *l = live[--nlive];
            }
            if (op % 500 == 0 || op == NOPS - 1) {
                if (!check(&shm, "during random ops"))
                    checks_bad++;
                for (int c = -1; c < 24; c++) {
                    int ci = c >= 0 ? c : GH_SLAB_CLASSES;

                    gh_slab_stats(&shm, c, &st);
                    if ((st.used != used[ci] || st.allocs != allocs[ci]
                         || st.frees != frees[ci] || st.fails != fails[ci])
                        && stats_bad++ < 5)
                        diag("op %d class %d: used %llu/%llu allocs "
                             "%llu/%llu frees %llu/%llu fails %llu/%llu",
                             op, c, (unsigned long long) st.used,
                             (unsigned long long) used[ci],
                             (unsigned long long) st.allocs,
                             (unsigned long long) allocs[ci],
                             (unsigned long long) st.frees,
                             (unsigned long long) frees[ci],
                             (unsigned long long) st.fails,
                             (unsigned long long) fails[ci]);
                }
                for (size_t i = 0; i < nlive; i += 1 + rnd_below(20))
                    if (!pattern_ok(&shm, live[i].off, live[i].size,
                                    live[i].seed) && bad_pattern++ < 5)
                        diag("live object %llu overwritten",
                             (unsigned long long) live[i].off);
            }
        }
        is_int(bad_alloc, 0, "every object aligned, inside, big enough");
        is_int(overlaps, 0, "no two live objects overlap");
        is_int(bad_pattern, 0, "every pattern intact");
        is_int(spurious, 0, "no failure while there was room");
        is_int(usable_bad, 0, "a freed object has no usable size");
        is_int(checks_bad, 0, "gh_slab_check passed throughout");
        is_int(stats_bad, 0, "stats match the model throughout");
        {
            uint64_t nf = 0, na = 0;

            for (int i = 0; i <= GH_SLAB_CLASSES; i++) {
                nf += fails[i];
                na += allocs[i];
            }
            diag("%llu allocations, %llu refused, %zu live at the end",
                 (unsigned long long) na, (unsigned long long) nf, nlive);
            ok(nf > 0, "the segment was full at times (%llu refusals)",
               (unsigned long long) nf);
        }
        while (nlive > 0) {
            nlive--;
            if (!pattern_ok(&shm, live[nlive].off, live[nlive].size,
                            live[nlive].seed))
                bad_pattern++;
            gh_slab_free(&shm, live[nlive].off);
        }
        is_int(bad_pattern, 0, "patterns intact at the end");
        is_int(free_pages(&shm), total_pages(&shm), "all pages free again");
        for (int c = -1; c < 24; c++) {
            gh_slab_stats(&shm, c, &st);
            if (st.pages || st.used)
                stats_bad++;
        }
        is_int(stats_bad, 0, "no class holds a page");
        is_int(gh_slab_invalid_frees(&shm), 0, "no invalid free seen");
        ok(check(&shm, "at the end"), "check at the end");
        ok(ctx(&shm).sl->log_max < ctx(&shm).sl->log_cap,
           "journal high-water %llu below its %u records",
           (unsigned long long) ctx(&shm).sl->log_max,
           ctx(&shm).sl->log_cap);
        free(shadow);
        gh_shm_close(&shm);
    }
}

/* ------------------------------------------------------------------ */

/* Allocate SIZE until refused; the offsets go to OFFS. */
static size_t
fill_up(struct gh_shm *shm, size_t size, gh_off *offs, size_t max)
{
    size_t n = 0;
    gh_off off;

    while (n < max && (off = gh_slab_alloc(shm, size)) != 0)
        offs[n++] = off;
    return n;
}

static void
free_all(struct gh_shm *shm, gh_off *offs, size_t n)
{
    /* In a shuffled order: merges happen in every order. */
    for (size_t i = n; i > 1; i--) {
        size_t j = rnd_below(i);
        gh_off t = offs[i - 1];

        offs[i - 1] = offs[j];
        offs[j] = t;
    }
    for (size_t i = 0; i < n; i++)
        gh_slab_free(shm, offs[i]);
}

static void
test_exhaustion(void)
{
    struct gh_shm shm;
    struct gh_slab_stats st, st2;
    char err[256];
    size_t max = 300000, n, n2, npages;
    gh_off *offs = malloc(max * sizeof(*offs)), big;
    int bad = 0;

    ok(gh_shm_create(&shm, 2 << 20, err, sizeof(err)) == GH_OK, "2M");
    fresh(&shm);
    npages = total_pages(&shm);

    subtest("each class until refused, then again after freeing") {
        for (int c = 0; c < 24; c++) {
            struct slab_class *cl = &ctx(&shm).sl->cls[c];
            size_t want = (npages >> cl->order) * cl->nobj;

            gh_slab_stats(&shm, c, &st);
            n = fill_up(&shm, cl->size, offs, max);
            gh_slab_stats(&shm, c, &st2);
            if (n != want || st2.fails != st.fails + 1 || st2.used != n
                || st2.pages != (npages >> cl->order) << cl->order
                || st2.free != 0 || could_alloc(&shm, cl->size)
                || free_pages(&shm) != npages
                                       - ((npages >> cl->order) << cl->order)) {
                bad++;
                diag("class %d: %zu objects, want %zu; fails %llu -> %llu, "
                     "pages %llu, free pages %llu", c, n, want,
                     (unsigned long long) st.fails,
                     (unsigned long long) st2.fails,
                     (unsigned long long) st2.pages,
                     (unsigned long long) free_pages(&shm));
            }
            if (!check(&shm, "class full"))
                bad++;
            free_all(&shm, offs, n);
            if (free_pages(&shm) != npages || !check(&shm, "class freed"))
                bad++;
            n2 = fill_up(&shm, cl->size, offs, max);
            if (n2 != n)
                bad++;
            free_all(&shm, offs, n2);
            gh_slab_stats(&shm, c, &st2);
            if (st2.pages != 0 || st2.used != 0 || st2.allocs != 2 * n
                || st2.frees != 2 * n || st2.fails != st.fails + 2)
                bad++;
        }
        is_int(bad, 0, "every class: exact capacity, refused, reusable");
        is_int(free_pages(&shm), npages, "all pages back");
    }

    subtest("page runs until refused") {
        gh_slab_stats(&shm, -1, &st);
        n = fill_up(&shm, GH_SLAB_PAGE, offs, max);
        is_int(n, npages, "one-page runs: every page");
        is_int(free_pages(&shm), 0, "no page left");
        is_int(gh_slab_alloc(&shm, 1), 0, "and no room for a small object");
        gh_slab_stats(&shm, -1, &st2);
        is_int(st2.used, npages, "runs use every page");
        is_int(st2.fails, st.fails + 1, "the refusal counted");
        ok(check(&shm, "runs full"), "check when full of runs");
        free_all(&shm, offs, n);
        is_int(free_pages(&shm), npages, "all back");

        n = fill_up(&shm, 3 * GH_SLAB_PAGE, offs, max);
        is_int(n, npages >> 2, "three-page runs: one per aligned 4 pages");
        is_int(free_pages(&shm), npages - 3 * n, "each run gave back its tail");
        ok(check(&shm, "3-page runs"), "check");
        free_all(&shm, offs, n);

        big = gh_slab_alloc(&shm, gh_slab_max_alloc(&shm));
        ok(big != 0, "the largest run (%zu bytes)", gh_slab_max_alloc(&shm));
        is_int(gh_slab_usable(&shm, big), gh_slab_max_alloc(&shm), "usable");
        gh_slab_free(&shm, big);
        gh_slab_stats(&shm, -1, &st);
        is_int(gh_slab_alloc(&shm, gh_slab_max_alloc(&shm) + 1), 0,
               "one byte more is refused");
        is_int(gh_slab_alloc(&shm, SIZE_MAX), 0, "SIZE_MAX is refused");
        gh_slab_stats(&shm, -1, &st2);
        is_int(st2.fails, st.fails + 2, "both counted");
        is_int(free_pages(&shm), npages, "all back");
    }

    subtest("small objects give their pages back for a big run") {
        n = fill_up(&shm, 100, offs, max);
        ok(n > 0, "%zu objects of 100 bytes fill the slab", n);
        is_int(gh_slab_alloc(&shm, gh_slab_max_alloc(&shm) / 2), 0,
               "no room for a half-size run");
        /* Free all but every 50th: most slabs empty out. */
        for (size_t i = 0; i < n; i++)
            if (i % 50 != 0)
                gh_slab_free(&shm, offs[i]);
        ok(check(&shm, "sparse"), "check with sparse slabs");
        for (size_t i = 0; i < n; i += 50)
            gh_slab_free(&shm, offs[i]);
        is_int(free_pages(&shm), npages, "every slab went back");
        big = gh_slab_alloc(&shm, gh_slab_max_alloc(&shm));
        ok(big != 0, "the largest run fits again");
        gh_slab_free(&shm, big);
        ok(check(&shm, "end"), "check");
    }

    subtest("size 0, calloc, free(0)") {
        gh_off a = gh_slab_alloc(&shm, 0), b;
        uint64_t inv = gh_slab_invalid_frees(&shm);
        unsigned char *p;
        int nz = 0;

        ok(a != 0, "alloc(0) gives an object");
        is_int(gh_slab_usable(&shm, a), GH_SLAB_MIN, "of the smallest size");
        gh_slab_free(&shm, 0);
        is_int(gh_slab_invalid_frees(&shm), inv, "free(0) is a no-op");
        b = gh_slab_alloc(&shm, 2000);
        memset(gh_shm_ptr(&shm, b), 0xa5, 2000);
        gh_slab_free(&shm, b);
        b = gh_slab_calloc(&shm, 2000);
        p = gh_shm_ptr(&shm, b);
        for (int i = 0; i < 2000; i++)
            nz += p[i] != 0;
        is_int(nz, 0, "calloc zeroes (the same slot, written before)");
        gh_slab_free(&shm, a);
        gh_slab_free(&shm, b);
        is_int(free_pages(&shm), npages, "all back");
    }
    free(offs);
    gh_shm_close(&shm);
}

/* ------------------------------------------------------------------ */

/* Bytes of the structure: descriptors and the journaled header part. */
static int
same_structure(struct gh_shm *shm, const unsigned char *want)
{
    struct slab_ctx x = ctx(shm);
    const unsigned char *got = (const unsigned char *) shm->hdr;
    gh_off h = shm->hdr->slab + offsetof(struct gh_slab, free_pages);
    size_t hl = sizeof(struct gh_slab) - offsetof(struct gh_slab,
                                                   free_pages);

    return memcmp(got + x.sl->pages, want + x.sl->pages,
                  (size_t) x.sl->npages * sizeof(struct slab_page)) == 0
           && memcmp(got + h, want + h, hl) == 0;
}

static void
test_invalid_frees(void)
{
    struct gh_shm shm;
    char err[256];
    unsigned char *before;
    gh_off a, a2, b, c, fr;
    uint64_t inv;
    int changed = 0, counted = 0, usable = 0;

    subtest("invalid and double frees are ignored") {
        ok(gh_shm_create(&shm, 2 << 20, err, sizeof(err)) == GH_OK, "2M");
        fresh(&shm);
        a = gh_slab_alloc(&shm, 100);
        a2 = gh_slab_alloc(&shm, 100);
        b = gh_slab_alloc(&shm, 3 * GH_SLAB_PAGE);
        c = gh_slab_alloc(&shm, 1792);
        fr = ctx(&shm).sl->base + (gh_off) ctx(&shm).sl->free_head[
                 ctx(&shm).sl->max_order] * GH_SLAB_PAGE;
        ok(a && a2 && b && c && ctx(&shm).sl->free_head[
               ctx(&shm).sl->max_order] != SLAB_NONE, "set up");
        gh_slab_free(&shm, a2);
        before = malloc(shm.size);
        memcpy(before, shm.hdr, shm.size);
        {
            const gh_off bad[] = {
                a + 1, a + 8, a + 16, a2, a2 + 112, b + 8, b + GH_SLAB_PAGE,
                b + 2 * GH_SLAB_PAGE, c + GH_SLAB_PAGE, c + 1792 * 3,
                c + 8, fr, fr + GH_SLAB_PAGE, shm.hdr->slab, 8,
                ctx(&shm).sl->base - 16, shm.size, shm.size + 4096,
                UINT64_MAX,
            };

            for (size_t i = 0; i < GH_NELEM(bad); i++) {
                inv = gh_slab_invalid_frees(&shm);
                if (gh_slab_usable(&shm, bad[i]) != 0)
                    usable++;
                gh_slab_free(&shm, bad[i]);
                if (gh_slab_invalid_frees(&shm) != inv + 1) {
                    counted++;
                    diag("free(%llu) not counted",
                         (unsigned long long) bad[i]);
                }
                if (!same_structure(&shm, before)) {
                    changed++;
                    diag("free(%llu) changed the structure",
                         (unsigned long long) bad[i]);
                    memcpy(shm.hdr, before, shm.size);
                }
            }
        }
        is_int(counted, 0, "each one counted as invalid");
        is_int(changed, 0, "none changed anything");
        is_int(usable, 0, "none has a usable size");
        ok(check(&shm, "after invalid frees"), "check");

        gh_slab_free(&shm, a);
        gh_slab_free(&shm, b);
        gh_slab_free(&shm, c);
        memcpy(before, shm.hdr, shm.size);
        inv = gh_slab_invalid_frees(&shm);
        gh_slab_free(&shm, a);
        gh_slab_free(&shm, b);
        gh_slab_free(&shm, c);
        is_int(gh_slab_invalid_frees(&shm), inv + 3, "double frees counted");
        ok(same_structure(&shm, before), "and changed nothing");
        is_int(free_pages(&shm), total_pages(&shm), "all pages free");
        ok(check(&shm, "after double frees"), "check");
        {
            gh_off x1 = gh_slab_alloc(&shm, 100), x2 = gh_slab_alloc(&shm,
                                                                    100);

            gh_slab_free(&shm, x1);
            gh_slab_free(&shm, x1);
            ok(gh_slab_alloc(&shm, 100) == x1 && gh_slab_alloc(&shm, 100)
               != x1, "a double-freed object is handed out once");
            (void) x2;
        }
        free(before);
        gh_shm_close(&shm);
    }
}

/* ------------------------------------------------------------------ */

struct evict_list {
    struct gh_shm *shm;
    gh_off   offs[4096];
    size_t   head, n;
    int      calls, last_cls, lock_free, decline, no_op, batch;
};

static int
evict_cb(void *arg, int cls)
{
    struct evict_list *l = arg;
    char err[256];

    l->calls++;
    l->last_cls = cls;
    /* Takes the slab lock: would deadlock if the caller held it. */
    if (gh_slab_check(l->shm, err, sizeof(err)) == GH_OK)
        l->lock_free++;
    if (l->decline || l->n == 0)
        return GH_DECLINED;
    if (l->no_op)
        return GH_OK;           /* claims success, frees nothing */
    for (int i = 0; i < GH_MAX(l->batch, 1) && l->n > 0; i++) {
        gh_slab_free(l->shm, l->offs[l->head]);
        l->head = (l->head + 1) % GH_NELEM(l->offs);
        l->n--;
    }
    return GH_OK;
}

static void
evict_fill(struct evict_list *l, size_t size)
{
    gh_off off;

    while ((off = gh_slab_alloc(l->shm, size)) != 0) {
        l->offs[(l->head + l->n) % GH_NELEM(l->offs)] = off;
        l->n++;
    }
}

static void
test_evict(void)
{
    struct gh_shm shm;
    static struct evict_list l;
    struct gh_slab_stats st, st2;
    char err[256];
    int c512;
    gh_off off;

    ok(gh_shm_create(&shm, 1 << 20, err, sizeof(err)) == GH_OK, "1M");
    fresh(&shm);
    c512 = gh_slab_class(&shm, 512);

    subtest("eviction hook") {
        memset(&l, 0, sizeof(l));
        l.shm = &shm;
        off = gh_slab_alloc_evict(&shm, 512, evict_cb, &l);
        ok(off != 0 && l.calls == 0, "room: no callback");
        gh_slab_free(&shm, off);

        evict_fill(&l, 512);
        ok(l.n > 0, "%zu objects of 512 fill the segment", l.n);
        gh_slab_stats(&shm, c512, &st);
        off = gh_slab_alloc_evict(&shm, 512, evict_cb, &l);
        gh_slab_stats(&shm, c512, &st2);
        ok(off != 0, "full: alloc_evict succeeds after evicting");
        is_int(l.calls, 1, "one eviction was enough");
        is_int(l.last_cls, c512, "the callback was told the class");
        is_int(l.lock_free, 1, "called without the slab lock");
        is_int(st2.fails, st.fails, "a success is no failure");
        gh_slab_free(&shm, off);
        evict_fill(&l, 512);
        gh_slab_stats(&shm, c512, &st2);

        l.calls = 0;
        l.decline = 1;
        off = gh_slab_alloc_evict(&shm, 512, evict_cb, &l);
        gh_slab_stats(&shm, c512, &st);
        is_int(off, 0, "the callback declines: 0");
        is_int(l.calls, 1, "asked once");
        is_int(st.fails, st2.fails + 1, "one failure counted");

        l.calls = 0;
        l.decline = 0;
        l.no_op = 1;
        off = gh_slab_alloc_evict(&shm, 512, evict_cb, &l);
        is_int(off, 0, "a callback that frees nothing: 0");
        is_int(l.calls, GH_SLAB_EVICT_TRIES, "after a bounded number of "
               "tries");
        l.no_op = 0;

        l.calls = 0;
        l.batch = 8;    /* a page's worth of objects per call */
        off = gh_slab_alloc_evict(&shm, 3 * GH_SLAB_PAGE, evict_cb, &l);
        l.batch = 0;
        ok(off != 0, "a run after evicting small objects");
        is_int(l.last_cls, -1, "the callback was told: runs");
        diag("%d evictions for a 3-page run", l.calls);
        gh_slab_free(&shm, off);

        while (l.n > 0) {
            gh_slab_free(&shm, l.offs[l.head]);
            l.head = (l.head + 1) % GH_NELEM(l.offs);
            l.n--;
        }
        evict_fill(&l, 8 * GH_SLAB_PAGE);
        l.calls = 0;
        off = gh_slab_alloc_evict(&shm, 32 * GH_SLAB_PAGE, evict_cb, &l);
        ok(off != 0, "a 32-page run after evicting 8-page runs (%d calls)",
           l.calls);
        ok(l.calls >= 1 && l.calls <= GH_SLAB_EVICT_TRIES, "bounded");
        gh_slab_free(&shm, off);

        l.calls = 0;
        off = gh_slab_alloc_evict(&shm, gh_slab_max_alloc(&shm) * 2,
                                  evict_cb, &l);
        ok(off == 0 && l.calls == 0, "too big for the segment: no eviction");
        off = gh_slab_alloc_evict(&shm, 64, NULL, NULL);
        ok(off != 0, "no callback: a plain alloc");
        gh_slab_free(&shm, off);
        while (l.n > 0) {
            gh_slab_free(&shm, l.offs[l.head]);
            l.head = (l.head + 1) % GH_NELEM(l.offs);
            l.n--;
        }
        is_int(free_pages(&shm), total_pages(&shm), "all back");
        ok(check(&shm, "after eviction"), "check");
    }
    gh_shm_close(&shm);
}

/* ------------------------------------------------------------------ */

/*
 * Test hooks: count the steps, or die at the Nth.  A death is a SIGKILL
 * of a forked child, or (much cheaper: a fork costs milliseconds here) a
 * thread that exits holding the lock, which a robust mutex reports to the
 * next holder just the same.
 */
static long hook_left, hook_steps;

static void
hook_count(void)
{
    hook_steps++;
}

static void
hook_die(void)
{
    if (--hook_left == 0)
        (void) kill(getpid(), SIGKILL);
}

static void
hook_die_thread(void)
{
    if (--hook_left == 0) {
        slab_hook = NULL;
        pthread_exit(NULL);
    }
}

struct crash_case {
    const char *name;
    int         is_free;        /* the expected state: done, not undone */
    gh_off    (*setup)(struct gh_shm *shm);
    void      (*op)(struct gh_shm *shm, gh_off arg);
};

static gh_off
setup_some(struct gh_shm *shm)
{
    /* Something in the free lists at several orders. */
    (void) gh_slab_alloc(shm, 3 * GH_SLAB_PAGE);
    (void) gh_slab_alloc(shm, 100);
    (void) gh_slab_alloc(shm, 9 * GH_SLAB_PAGE);
    return 0;
}

static void
op_alloc_1792(struct gh_shm *shm, gh_off arg)
{
    (void) gh_slab_alloc(shm, 1792);
}

static gh_off
setup_full_slab(struct gh_shm *shm)
{
    gh_off first = 0;

    setup_some(shm);
    /* Two partial slabs of class 1792 (9 objects each): 8 and 8 used. */
    for (int i = 0; i < 17; i++) {
        gh_off o = gh_slab_alloc(shm, 1792);

        if (i == 0)
            first = o;
    }
    gh_slab_free(shm, first);
    return first;
}

static void
op_alloc_5_pages(struct gh_shm *shm, gh_off arg)
{
    (void) gh_slab_alloc(shm, 5 * GH_SLAB_PAGE - 100);
}

static gh_off
setup_lone_object(struct gh_shm *shm)
{
    setup_some(shm);
    return gh_slab_alloc(shm, 1792);
}

static void
op_free(struct gh_shm *shm, gh_off arg)
{
    gh_slab_free(shm, arg);
}

static gh_off
setup_full_then_free(struct gh_shm *shm)
{
    gh_off o = 0;

    setup_some(shm);
    for (int i = 0; i < 9; i++)
        o = gh_slab_alloc(shm, 1792);
    return o;
}

static gh_off
setup_run(struct gh_shm *shm)
{
    gh_off r;

    setup_some(shm);
    r = gh_slab_alloc(shm, 7 * GH_SLAB_PAGE);
    (void) gh_slab_alloc(shm, 20);
    return r;
}

static void
op_repair(struct gh_shm *shm, gh_off arg)
{
    char err[256];

    (void) gh_slab_check(shm, err, sizeof(err));    /* locks: repairs */
}

static const struct crash_case crash_cases[] = {
    { "alloc: a new 4-page slab, splitting", 0, setup_some, op_alloc_1792 },
    { "alloc: fills a slab", 0, setup_full_slab, op_alloc_1792 },
    { "alloc: a run whose tail is given back", 0, setup_some,
      op_alloc_5_pages },
    { "free: last object of a slab, merging", 1, setup_lone_object,
      op_free },
    { "free: a full slab becomes partial", 1, setup_full_then_free,
      op_free },
    { "free: a 7-page run, pieces merging", 1, setup_run, op_free },
};

struct crash_run {
    struct gh_shm *shm;
    void         (*op)(struct gh_shm *shm, gh_off arg);
    gh_off         arg;
    long           die;         /* step to die at; 0: count the steps */
};

static void *
crash_thread(void *arg)
{
    struct crash_run *r = arg;

    if (r->die) {
        hook_left = r->die;
        slab_hook = hook_die_thread;
    } else {
        hook_steps = 0;
        slab_hook = hook_count;
    }
    r->op(r->shm, r->arg);
    slab_hook = NULL;
    return r;
}

/* Run OP in a thread that dies at step DIE: 1 if it died, 0 if not. */
static int
crash_in_thread(struct gh_shm *shm, void (*op)(struct gh_shm *, gh_off),
                gh_off arg, long die)
{
    struct crash_run r = { shm, op, arg, die };
    pthread_t t;
    void *ret;

    if (pthread_create(&t, NULL, crash_thread, &r) != 0
        || pthread_join(t, &ret) != 0)
        abort();
    return ret == NULL;
}

/* Run OP in a child that is SIGKILLed at step DIE: 1 if it was. */
static int
crash_in_child(struct gh_shm *shm, void (*op)(struct gh_shm *, gh_off),
               gh_off arg, long die)
{
    pid_t pid;
    int status;

    fflush(stdout);
    pid = fork();
    if (pid == 0) {
        alarm(10);
        hook_left = die;
        slab_hook = hook_die;
        op(shm, arg);
        _exit(0);
    }
    return waitpid(pid, &status, 0) == pid && WIFSIGNALED(status)
           && WTERMSIG(status) == SIGKILL;
}

static void
test_crash_every_step(void)
{
    struct gh_shm shm;
    char err[256];
    unsigned char *pre, *post;
    double t0 = now_s();
    int crashes = 0;

    ok(gh_shm_create(&shm, 1 << 20, err, sizeof(err)) == GH_OK, "1M");
    pre = malloc(shm.size);
    post = malloc(shm.size);

    for (size_t ci = 0; ci < GH_NELEM(crash_cases); ci++) {
        const struct crash_case *cc = &crash_cases[ci];

        subtest(cc->name) {
            int bad_death = 0, bad_check = 0, bad_state = 0, chains = 0;
            int bad_after = 0, killed = 0;
            uint64_t repairs;
            gh_off arg;
            long n;

            fresh(&shm);
            arg = cc->setup(&shm);
            memcpy(pre, shm.hdr, shm.size);
            ok(!crash_in_thread(&shm, cc->op, arg, 0), "op completes");
            n = hook_steps;
            ok(n >= 6, "%ld steps in its critical section", n);
            ok(check(&shm, "after the op"), "check after the op");
            memcpy(post, shm.hdr, shm.size);
            ok(!same_structure(&shm, pre), "the op changes the structure");

            for (long k = 1; k <= n; k++) {
                memcpy(shm.hdr, pre, shm.size);
                repairs = gh_slab_repairs(&shm);
                crashes++;
                /* One step per case with a real SIGKILL of a process. */
                if (k == n / 2 ? !crash_in_child(&shm, cc->op, arg, k)
                               : !crash_in_thread(&shm, cc->op, arg, k)) {
                    bad_death++;
                    continue;
                }
                killed += k == n / 2;
                /*
                 * Now and then the repairer dies too, then the next one,
                 * at each step of their undo in turn, until one gets
                 * through.  (Not every time: under ASan a thread costs
                 * milliseconds.)
                 */
                if (k % 8 == 0 || k == n) {
                    for (long j = 1; j < 10000; j++) {
                        crashes++;
                        if (!crash_in_thread(&shm, op_repair, 0, j))
                            break;
                    }
                    chains++;
                }
                if (!check(&shm, "after a crash")) {
                    bad_check++;
                    continue;
                }
                if (gh_slab_repairs(&shm) <= repairs)
                    bad_check++;
                if (!same_structure(&shm, cc->is_free ? post : pre)) {
                    if (bad_state++ < 3)
                        diag("died at step %ld of %ld: not %s", k, n,
                             cc->is_free ? "freed" : "undone");
                }
                /* And it goes on working. */
                {
                    gh_off o = gh_slab_alloc(&shm, 1792);

                    if (o == 0 || !check(&shm, "after reuse"))
                        bad_after++;
                    gh_slab_free(&shm, o);
                }
            }
            is_int(bad_death, 0, "died at each of %ld steps", n);
            is_int(killed, 1, "once by SIGKILL of a process");
            is_int(bad_check, 0, "each time repaired, check passes");
            is_int(bad_state, 0, "each time exactly %s",
                   cc->is_free ? "freed (redone)" : "as before (undone)");
            is_int(bad_after, 0, "and the allocator goes on working");
            ok(chains > 0, "%d times the repairers died too, at each step",
               chains);
        }
    }
    diag("%d crashes in %.2f s", crashes, now_s() - t0);
    free(pre);
    free(post);
    gh_shm_close(&shm);
}

/* ------------------------------------------------------------------ */

#define KIDS        4
#define KID_SLOTS   128
#define FREEING     (1ULL << 63)

struct kid_area {
    uint64_t off[KID_SLOTS];    /* 0: empty; FREEING: being freed */
};

struct stress_ctl {
    int      stop;
    uint64_t ops[KIDS];
};

static size_t
kid_size(void)
{
    uint64_t r = rnd_below(100);

    if (r < 70)
        return 1 + rnd_below(GH_SLAB_MAX_SMALL);
    if (r < 96)
        return GH_SLAB_MAX_SMALL + rnd_below(32 * 1024);
    return 32 * 1024 + rnd_below(512 * 1024);
}

static void
kid(struct gh_shm *shm, int slot, struct kid_area *a, struct stress_ctl *ctl,
    long die)
{
    static size_t size[KID_SLOTS];
    static uint64_t seed[KID_SLOTS];
    char err[256];
    uint64_t n = 0;

    alarm(10);          /* a deadlock kills us: the parent sees SIGALRM */
    rng_state ^= (uint64_t) getpid() * 0x9e3779b97f4a7c15ULL;
    if (die) {
        hook_left = die;
        slab_hook = hook_die;
    }
    while (!__atomic_load_n(&ctl->stop, __ATOMIC_ACQUIRE)) {
        int i = (int) rnd_below(KID_SLOTS);
        uint64_t off = a->off[i];

        if (off == 0) {
            size_t sz = kid_size();

            off = gh_slab_alloc(shm, sz);
            if (off == 0)
                continue;
            __atomic_store_n(&a->off[i], off, __ATOMIC_RELEASE);
            size[i] = sz;
            seed[i] = rnd();
            pattern_fill(shm, off, sz, seed[i]);
        } else {
            if (!pattern_ok(shm, off, size[i], seed[i]))
                _exit(1);
            __atomic_store_n(&a->off[i], off | FREEING, __ATOMIC_RELEASE);
            gh_slab_free(shm, off);
            __atomic_store_n(&a->off[i], 0, __ATOMIC_RELEASE);
        }
        if (++n % 4096 == 0 && gh_slab_check(shm, err, sizeof(err)) != GH_OK)
            _exit(2);
        __atomic_store_n(&ctl->ops[slot], ctl->ops[slot] + 1,
                         __ATOMIC_RELAXED);
    }
    for (int i = 0; i < KID_SLOTS; i++) {
        if (a->off[i] == 0)
            continue;
        if (!pattern_ok(shm, a->off[i], size[i], seed[i]))
            _exit(1);
        __atomic_store_n(&a->off[i], a->off[i] | FREEING, __ATOMIC_RELEASE);
        gh_slab_free(shm, a->off[i] & ~FREEING);
        __atomic_store_n(&a->off[i], 0, __ATOMIC_RELEASE);
    }
    _exit(0);
}

static pid_t
spawn_kid(struct gh_shm *shm, int slot, struct kid_area *a,
          struct stress_ctl *ctl, long die)
{
    pid_t pid;

    memset(a, 0, sizeof(*a));
    pid = fork();
    if (pid == 0)
        kid(shm, slot, a, ctl, die);
    return pid;
}

/*
 * The step a kid in SLOT dies at inside the lock: odd slots die there soon
 * after they start, even ones only when the parent kills them (so some
 * always survive to the end).
 */
static long
kid_die(int slot)
{
    return slot % 2 ? (long) rnd_below(3000) + 1 : 0;
}

/* A victim's objects: free what it had; skip what it was freeing. */
static void
bury(struct gh_shm *shm, struct kid_area *a)
{
    for (int i = 0; i < KID_SLOTS; i++)
        if (a->off[i] != 0 && !(a->off[i] & FREEING))
            gh_slab_free(shm, a->off[i]);
}

static void
test_stress(void)
{
    struct gh_shm shm;
    struct kid_area *areas;
    struct stress_ctl *ctl;
    pid_t pids[KIDS];
    char err[256];
    int victims = 0, hooked = 0, bad_exit = 0, survivors = 0, checks = 0;
    int bad_checks = 0;
    uint64_t ops = 0, leaked = 0, inv_before;
    double t0, t_end;

    ok(gh_shm_create(&shm, 16 << 20, err, sizeof(err)) == GH_OK, "16M");
    fresh(&shm);
    areas = mmap(NULL, KIDS * sizeof(*areas), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ctl = mmap(NULL, sizeof(*ctl), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(ctl, 0, sizeof(*ctl));

    subtest("processes at once, some SIGKILLed") {
        fflush(stdout);
        for (int k = 0; k < KIDS; k++)
            pids[k] = spawn_kid(&shm, k, &areas[k], ctl, kid_die(k));
        t0 = now_s();
        t_end = t0 + 1.5;
        while (now_s() < t_end) {
            int status, k;
            pid_t pid;

            usleep((useconds_t) (1000 + rnd_below(9000)));
            /* Reap the ones the hook killed inside the lock. */
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                for (k = 0; k < KIDS && pids[k] != pid; k++)
                    continue;
                if (k == KIDS)
                    continue;
                if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
                    hooked++;
                else
                    bad_exit++;
                victims++;
                bury(&shm, &areas[k]);
                pids[k] = spawn_kid(&shm, k, &areas[k], ctl, kid_die(k));
            }
            /* And kill one at a random moment. */
            k = (int) rnd_below(KIDS);
            (void) kill(pids[k], SIGKILL);
            if (waitpid(pids[k], &status, 0) != pids[k]
                || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
                bad_exit++;
                diag("kid %d: status %#x", k, status);
            }
            victims++;
            bury(&shm, &areas[k]);
            if (rnd_below(8) == 0) {
                checks++;
                if (!check(&shm, "while the kids run"))
                    bad_checks++;
            }
            pids[k] = spawn_kid(&shm, k, &areas[k], ctl, kid_die(k));
        }
        __atomic_store_n(&ctl->stop, 1, __ATOMIC_RELEASE);
        for (int k = 0; k < KIDS; k++) {
            int status;

            if (waitpid(pids[k], &status, 0) != pids[k])
                bad_exit++;
            else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                survivors++;
            else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
                hooked++;           /* its hook fired before it saw stop */
                victims++;
                bury(&shm, &areas[k]);
            } else {
                bad_exit++;
                diag("kid %d at the end: status %#x", k, status);
            }
        }
        for (int k = 0; k < KIDS; k++)
            ops += ctl->ops[k];
        diag("%.2f s, %llu operations, %d kills, %d of them inside the "
             "lock by the hook, %llu repairs", now_s() - t0,
             (unsigned long long) ops, victims, hooked,
             (unsigned long long) gh_slab_repairs(&shm));
        is_int(bad_exit, 0, "every kid verified its patterns (or was "
               "killed); none hung");
        ok(survivors > 0, "%d survivors finished", survivors);
        ok(hooked > 0, "%d kids died inside the critical section", hooked);
        ok(gh_slab_repairs(&shm) >= (uint64_t) hooked,
           "each one was repaired");
        is_int(bad_checks, 0, "%d checks while they ran passed", checks);
        ok(check(&shm, "after the stress"), "check after the stress");
        inv_before = gh_slab_invalid_frees(&shm);
        for (int c = -1; c < 24; c++) {
            struct gh_slab_stats st;

            gh_slab_stats(&shm, c, &st);
            leaked += c >= 0 ? st.used : st.allocs - st.frees;
        }
        ok(leaked <= (uint64_t) victims, "%llu objects lost, at most one "
           "per kill (%d)", (unsigned long long) leaked, victims);
        is_int(inv_before, 0, "no invalid free: nothing was freed twice");
        ok(ctx(&shm).sl->log_max < ctx(&shm).sl->log_cap,
           "journal high-water %llu of %u", (unsigned long long)
           ctx(&shm).sl->log_max, ctx(&shm).sl->log_cap);
    }
    munmap(areas, KIDS * sizeof(*areas));
    munmap(ctl, sizeof(*ctl));
    gh_shm_close(&shm);
}

int
main(void)
{
    const char *s = getenv("GH_TEST_SEED");
    double t;

    alarm(30);      /* a deadlock fails the test instead of hanging it */
    rng_state = s != NULL ? strtoull(s, NULL, 10)
                          : (uint64_t) time(NULL) ^ (uint64_t) getpid();
    if (rng_state == 0)
        rng_state = 1;
    diag("GH_TEST_SEED=%llu", (unsigned long long) rng_state);

    t = now_s();
    test_layout_and_classes();
    test_random();
    diag("random: %.2f s", now_s() - t);
    t = now_s();
    test_exhaustion();
    test_invalid_frees();
    test_evict();
    diag("exhaustion, invalid frees, eviction: %.2f s", now_s() - t);
    test_crash_every_step();
    test_stress();
    return done_testing();
}
