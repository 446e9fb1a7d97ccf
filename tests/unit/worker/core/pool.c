/*
 * The arena: 16-byte alignment, the byte cap, reset and reuse, strndup.
 */

#include <stdint.h>
#include <string.h>

#include "tests/unit/tap.h"
#include "worker/core/gh.h"
#include "worker/core/pool.c"     /* for struct gh_pool_block */

#define ALIGNED(p) (((uintptr_t) (p) & 15) == 0)

int
main(void)
{
    struct gh_pool p;

    subtest("alignment") {
        int bad = 0, overlap = 0;
        char *prev = NULL;
        size_t prev_n = 0;

        gh_pool_init(&p, 0);
        for (size_t n = 1; n < 300; n++) {
            char *a = gh_pool_alloc(&p, n);

            if (a == NULL || !ALIGNED(a))
                bad++;
            if (a != NULL) {
                memset(a, 0xa5, n);     /* all n bytes are ours */
                if (prev != NULL && a < prev + prev_n && a + n > prev)
                    overlap++;
                prev = a;
                prev_n = n;
            }
        }
        is_int(bad, 0, "every allocation of 1..299 bytes 16-aligned");
        is_int(overlap, 0, "consecutive allocations do not overlap");
        ok(ALIGNED(gh_pool_alloc(&p, 100000)), "a large one too");
        ok(ALIGNED(gh_pool_alloc(&p, 3)), "and the next small one");
        is_int(p.used % 16, 0, "used counts rounded sizes");
        gh_pool_destroy(&p);
        ok(p.head == NULL && p.used == 0, "destroy empties it");
    }

    subtest("cap") {
        void *a;

        gh_pool_init(&p, 100);
        ok(gh_pool_alloc(&p, 64) != NULL, "64 of 100");
        is_int(p.used, 64, "used 64");
        ok(gh_pool_alloc(&p, 40) == NULL, "40 more (48 rounded) over the cap");
        is_int(p.used, 64, "a refused alloc uses nothing");
        ok((a = gh_pool_alloc(&p, 32)) != NULL, "32 more fits (96)");
        ok(gh_pool_alloc(&p, 1) == NULL, "1 more (16 rounded) does not");
        ok(gh_pool_alloc(&p, 4) == NULL, "still refused");
        gh_pool_reset(&p);
        is_int(p.used, 0, "reset clears used");
        ok(gh_pool_alloc(&p, 96) != NULL, "the whole cap again after reset");
        gh_pool_destroy(&p);

        gh_pool_init(&p, 64 * 1024);
        ok(gh_pool_alloc(&p, 64 * 1024 + 1) == NULL,
           "one allocation over the cap");
        ok(gh_pool_alloc(&p, 64 * 1024) != NULL, "exactly the cap");
        gh_pool_destroy(&p);

        /* Rounding n + 15 must not wrap: a huge request fails, whatever
         * the cap, and used + need must not wrap past the cap either. */
        gh_pool_init(&p, 1024);
        ok(gh_pool_alloc(&p, SIZE_MAX) == NULL,
           "SIZE_MAX bytes refused by a 1 KiB pool");
        ok(gh_pool_alloc(&p, SIZE_MAX - 7) == NULL, "SIZE_MAX - 7 refused");
        ok(gh_pool_alloc(&p, 32) != NULL, "32 bytes (used 32)");
        ok(gh_pool_alloc(&p, SIZE_MAX - 20) == NULL,
           "SIZE_MAX - 20 refused with used > 0 (used + need must not wrap)");
        gh_pool_destroy(&p);
        gh_pool_init(&p, 0);
        ok(gh_pool_alloc(&p, SIZE_MAX) == NULL,
           "SIZE_MAX refused by an uncapped pool");
        gh_pool_destroy(&p);
    }

    subtest("reset keeps working") {
        void *first, *again;
        int bad = 0;

        gh_pool_init(&p, 0);
        first = gh_pool_alloc(&p, 10);
        for (int i = 0; i < 1000; i++)
            (void) gh_pool_alloc(&p, 100);      /* many blocks */
        (void) gh_pool_alloc(&p, 50000);        /* and a large one */
        gh_pool_reset(&p);
        is_int(p.used, 0, "used 0");
        ok(p.head != NULL && p.head->next == NULL && p.head->off == 0,
           "one block kept, empty");
        again = gh_pool_alloc(&p, 10);
        ok(again == first, "the first block is reused from its start");
        for (int round = 0; round < 100; round++) {
            for (int i = 0; i < 50; i++) {
                char *a = gh_pool_alloc(&p, (size_t) (i * 37 % 500) + 1);

                if (a == NULL || !ALIGNED(a))
                    bad++;
                else
                    memset(a, i, (size_t) (i * 37 % 500) + 1);
            }
            gh_pool_reset(&p);
        }
        is_int(bad, 0, "100 fill/reset rounds");
        gh_pool_reset(&p);
        gh_pool_reset(&p);
        ok(gh_pool_alloc(&p, 1) != NULL, "reset twice, still usable");
        gh_pool_destroy(&p);

        /* A pool whose first block is a large one keeps none. */
        gh_pool_init(&p, 0);
        (void) gh_pool_alloc(&p, 10000);
        gh_pool_reset(&p);
        ok(p.head == NULL, "large first block is freed");
        ok(gh_pool_alloc(&p, 8) != NULL, "usable after that");
        gh_pool_destroy(&p);

        gh_pool_init(&p, 0);
        gh_pool_reset(&p);
        ok(p.head == NULL && gh_pool_alloc(&p, 8) != NULL,
           "reset of an empty pool");
        gh_pool_destroy(&p);
        gh_pool_destroy(&p);
        ok(p.head == NULL, "destroy twice is harmless");
    }

    subtest("strndup") {
        char *s;

        gh_pool_init(&p, 0);
        s = gh_pool_strndup(&p, "hello world", 5);
        is_str(s, "hello", "first 5 bytes, NUL-terminated");
        ok(ALIGNED(s), "aligned");
        s = gh_pool_strndup(&p, "", 0);
        is_str(s, "", "empty");
        s = gh_pool_strndup(&p, "a\0b", 3);
        ok(s != NULL && memcmp(s, "a\0b", 4) == 0,
           "embedded NUL copied, then NUL");
        gh_pool_destroy(&p);

        gh_pool_init(&p, 16);
        ok(gh_pool_strndup(&p, "0123456789abcdef", 16) == NULL,
           "16 chars + NUL over a 16-byte cap");
        is_str(gh_pool_strndup(&p, "0123456789abcdef", 15),
               "0123456789abcde", "15 + NUL fits");
        gh_pool_destroy(&p);
    }

    return done_testing();
}
