/*
 * I/O buffers: sizes, the free list (reuse, bound, drain), len/room and
 * compact.
 */

#include <string.h>

#include "tests/unit/tap.h"
#include "worker/core/buf.c"        /* for buf_nfree, BUF_FREE_MAX */
#include "worker/core/gh.h"

static struct gh_buf *many[BUF_FREE_MAX + 10];

int
main(void)
{
    subtest("get") {
        struct gh_buf *b = gh_buf_get(0), *c;

        ok(b != NULL, "got one");
        is_int(b->size, GH_BUF_SIZE, "size 0 gives GH_BUF_SIZE");
        ok(b->start == 0 && b->end == 0, "empty");
        is_int(gh_buf_len(b), 0, "len 0");
        is_int(gh_buf_room(b), GH_BUF_SIZE, "room is the whole buffer");
        memset(b->data, 'x', b->size);          /* all of it is ours */
        c = gh_buf_get(100);
        is_int(c->size, GH_BUF_SIZE, "a small request gives GH_BUF_SIZE");
        ok(c != b && c->data != b->data, "a second, distinct buffer");
        gh_buf_put(&b);
        gh_buf_put(&c);
        ok(b == NULL && c == NULL, "put clears the pointer");
        gh_buf_put(&b);
        ok(b == NULL, "put of NULL is fine");
        gh_buf_drain();
    }

    subtest("free list reuse") {
        struct gh_buf *b = gh_buf_get(GH_BUF_SIZE), *keep, *c;

        keep = b;
        b->start = 5;
        b->end = 100;
        gh_buf_put(&b);
        is_int(buf_nfree, 1, "one on the free list");
        c = gh_buf_get(GH_BUF_SIZE);
        ok(c == keep, "the same buffer comes back");
        ok(c->start == 0 && c->end == 0, "reset to empty");
        is_int(buf_nfree, 0, "free list empty");
        b = gh_buf_get(10);
        ok(b != c, "nothing free: a new one");
        {
            struct gh_buf *last = b;

            gh_buf_put(&c);
            gh_buf_put(&b);
            is_int(buf_nfree, 2, "two on the free list");
            c = gh_buf_get(0);
            ok(c == last, "last in, first out (still warm)");
        }
        is_int(buf_nfree, 1, "one left");
        gh_buf_put(&c);
        gh_buf_drain();
        is_int(buf_nfree, 0, "drain empties the list");
    }

    subtest("free list bound") {
        int n = (int) GH_NELEM(many);

        for (int i = 0; i < n; i++)
            many[i] = gh_buf_get(0);
        for (int i = 0; i < n; i++)
            gh_buf_put(&many[i]);
        is_int(buf_nfree, BUF_FREE_MAX, "at most BUF_FREE_MAX kept");
        for (int i = 0; i < n; i++)
            many[i] = gh_buf_get(0);
        is_int(buf_nfree, 0, "all reused");
        for (int i = 0; i < n; i++)
            gh_buf_put(&many[i]);
        gh_buf_drain();
        is_int(buf_nfree, 0, "drained");
    }

    subtest("large buffers") {
        struct gh_buf *b = gh_buf_get(GH_BUF_SIZE + 1), *s;

        ok(b != NULL, "got one");
        is_int(b->size, GH_BUF_SIZE + 1, "exact size when larger");
        memset(b->data, 'y', b->size);
        gh_buf_put(&b);
        is_int(buf_nfree, 0, "a large buffer is freed, not listed");
        b = gh_buf_get(1 << 20);
        is_int(b->size, 1 << 20, "1 MiB");
        is_int(gh_buf_room(b), 1 << 20, "room 1 MiB");
        memset(b->data, 'z', b->size);
        s = gh_buf_get(0);
        gh_buf_put(&s);
        is_int(buf_nfree, 1, "a standard one listed");
        gh_buf_put(&b);
        s = gh_buf_get(2 * GH_BUF_SIZE);
        is_int(s->size, 2 * GH_BUF_SIZE,
               "a large request is not served from the free list");
        is_int(buf_nfree, 1, "listed one untouched");
        gh_buf_put(&s);
        gh_buf_drain();
    }

    subtest("len, room, compact") {
        struct gh_buf *b = gh_buf_get(0);

        memcpy(b->data, "0123456789", 10);
        b->end = 10;
        is_int(gh_buf_len(b), 10, "len 10");
        is_int(gh_buf_room(b), GH_BUF_SIZE - 10, "room");
        b->start = 4;
        is_int(gh_buf_len(b), 6, "len after consuming 4");
        gh_buf_compact(b);
        ok(b->start == 0 && b->end == 6, "compact moves to the front");
        ok(memcmp(b->data, "456789", 6) == 0, "bytes kept");
        is_int(gh_buf_room(b), GH_BUF_SIZE - 6, "room grew");
        gh_buf_compact(b);
        ok(b->start == 0 && b->end == 6, "compact at the front: no-op");
        b->start = 6;
        gh_buf_compact(b);
        ok(b->start == 0 && b->end == 0, "empty: reset to 0");
        b->start = b->end = GH_BUF_SIZE;
        is_int(gh_buf_room(b), 0, "full: no room");
        gh_buf_compact(b);
        is_int(gh_buf_room(b), GH_BUF_SIZE, "consumed and compacted");

        /* Overlapping move: most of the buffer, shifted by one. */
        for (uint32_t i = 0; i < GH_BUF_SIZE; i++)
            b->data[i] = (char) (i % 251);
        b->start = 1;
        b->end = GH_BUF_SIZE;
        gh_buf_compact(b);
        {
            int bad = 0;

            for (uint32_t i = 0; i < GH_BUF_SIZE - 1; i++)
                if (b->data[i] != (char) ((i + 1) % 251))
                    bad++;
            is_int(bad, 0, "overlapping move is correct");
        }
        is_int(gh_buf_len(b), GH_BUF_SIZE - 1, "len");
        is_int(gh_buf_room(b), 1, "room 1");
        gh_buf_put(&b);
        gh_buf_drain();
    }

    return done_testing();
}
