#ifndef GH_TESTS_FUZZ_FUZZ_H
#define GH_TESTS_FUZZ_FUZZ_H

/*
 * Shared by the libFuzzer targets in tests/fuzz: the input is cut into
 * "reads" the way a socket would deliver it, each read copied into a
 * buffer of exactly its size so AddressSanitizer sees any byte read past
 * what has arrived.  A broken invariant aborts (libFuzzer reports a crash
 * with the input that caused it).
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/core/gh.h"
#include "worker/http.h"

#define FUZZ_CHECK(cond) do {                                           \
    if (!(cond)) {                                                      \
        fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,      \
                __LINE__, #cond);                                       \
        abort();                                                        \
    }                                                                   \
} while (0)

/* Read sizes, picked by the input's first byte: 1 (a slow drip) up to
 * everything at once. */
static const size_t fuzz_steps[8] = { 1, 2, 3, 7, 64, 512, 4096, SIZE_MAX };

/* A copy of P[0..N) in a buffer of exactly N bytes (one byte for N == 0,
 * so the pointer is never NULL); the caller frees it. */
static char *
fuzz_dup(const uint8_t *p, size_t n)
{
    char *d = malloc(n ? n : 1);

    FUZZ_CHECK(d != NULL);
    memcpy(d, p, n);
    return d;
}

/* Body sink: each slice must lie in the bytes just fed; counts them. */
struct fuzz_sink {
    const char *lo, *hi;    /* the current read */
    uint64_t    bytes;
    uint32_t    sum;
};

static int
fuzz_on_body(void *arg, const char *p, size_t n)
{
    struct fuzz_sink *s = arg;

    FUZZ_CHECK(p >= s->lo && n <= (size_t) (s->hi - p));
    for (size_t i = 0; i < n; i++)
        s->sum += (uint8_t) p[i];          /* touch every byte */
    s->bytes += n;
    return GH_OK;
}

/* The slices of a parsed head all lie inside it. */
static void
fuzz_check_head(const struct gh_http_msg *m, const char *head, size_t len)
{
    const char *end = head + len;

    FUZZ_CHECK(m->nhdrs <= m->cap);
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        const struct gh_hdr *h = &m->hdrs[i];

        FUZZ_CHECK(h->name.p >= head && h->name.len > 0
                   && h->name.len <= (size_t) (end - h->name.p));
        FUZZ_CHECK(h->value.len == 0 || (h->value.p >= head
                   && h->value.len <= (size_t) (end - h->value.p)));
    }
    FUZZ_CHECK(m->url.len == 0 || (m->url.p >= head
               && m->url.len <= (size_t) (end - m->url.p)));
    FUZZ_CHECK(m->host == NULL
               || (m->host >= m->hdrs && m->host < m->hdrs + m->nhdrs));
    /* One framing or none: never both (RFC 9112 6.1). */
    FUZZ_CHECK(m->content_length >= -1);
    FUZZ_CHECK(!(m->chunked && m->content_length >= 0));
    FUZZ_CHECK(m->content_length < 0
               || m->remaining == (uint64_t) m->content_length);
}

/*
 * Feed the body of M from IN[*off..len) in reads of STEP bytes, as the
 * worker does, until the message completes, fails or the input ends (then
 * the peer "closes": n == 0).  Returns GH_OK when the message completed.
 */
static int
fuzz_body(struct gh_http_msg *m, const uint8_t *in, size_t len, size_t *off,
          size_t step)
{
    struct fuzz_sink sink = { 0 };
    uint64_t consumed = 0;
    const char *why = NULL;

    m->on_body = fuzz_on_body;
    m->arg = &sink;
    while (!m->complete) {
        size_t n = GH_MIN(step, len - *off);
        char *b;
        ssize_t used;

        if (n == 0) {
            used = gh_http_feed_body(m, NULL, 0, &why);
            FUZZ_CHECK(used == 0 || (used == GH_ERR && why != NULL));
            FUZZ_CHECK(used == GH_ERR
                       || (!m->chunked && m->content_length < 0));
            return used == 0 ? GH_OK : GH_ERR;
        }
        b = fuzz_dup(in + *off, n);
        sink.lo = b;
        sink.hi = b + n;
        why = NULL;
        used = gh_http_feed_body(m, b, n, &why);
        free(b);
        if (used < 0) {
            FUZZ_CHECK(used == GH_ERR && why != NULL);
            return GH_ERR;
        }
        FUZZ_CHECK((size_t) used <= n);
        /* Short of the whole read only at the end of the message. */
        FUZZ_CHECK((size_t) used == n || m->complete);
        *off += (size_t) used;
        consumed += (uint64_t) used;
        FUZZ_CHECK(sink.bytes <= consumed);
    }
    if (m->content_length >= 0 && !m->no_body)
        FUZZ_CHECK(sink.bytes == (uint64_t) m->content_length);
    return GH_OK;
}

#endif
