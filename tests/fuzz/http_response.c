/*
 * libFuzzer target for the response path of worker/conn.c: READ_RESP runs
 * gh_http_scan_head from the start of the buffer on every read (as conn.c
 * does for responses) and gh_http_parse_head on the head it finds, skips
 * interim 1xx heads (parsing the next into the same message, whose header
 * array is reused), then RELAY_RESP frames the body with
 * gh_http_feed_body until it completes or the server closes (the input
 * ends).  A pooled connection then carries the next response.
 *
 * Input: byte 0 picks the read size (bits 0-2, fuzz_steps), a response to
 * HEAD (bit 3) and a header cap of 4 instead of 100 (bit 4); the rest is
 * what the server sends.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "worker/core/gh.h"
#include "worker/core/pool.h"
#include "worker/http.h"

#define BUF_SIZE 32768      /* GH_BUF_SIZE: a response head must fit */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One response head from IN[*off..len) into M. */
static int
fuzz_head(struct gh_http_msg *m, const uint8_t *in, size_t len, size_t *off,
          size_t step, int head_req, uint32_t max_hdrs, struct gh_pool *pool)
{
    size_t avail = 0, head_len = 0, skip = 0;
    int rc = GH_AGAIN, status = 0;
    const char *why = NULL;
    char *head;

    while (rc == GH_AGAIN && avail < len - *off) {
        size_t pos = 0;
        char *b;

        skip = 0;
        avail += GH_MIN(step, len - *off - avail);
        b = fuzz_dup(in + *off, avail);
        why = NULL;
        rc = gh_http_scan_head(b, avail, &pos, &skip, BUF_SIZE, &head_len,
                               &status, &why);
        free(b);
        if (rc == GH_AGAIN && avail >= BUF_SIZE)
            return GH_ERR;                      /* too big header: 502 */
    }
    if (rc == GH_ERR)
        FUZZ_CHECK(why != NULL);
    if (rc != GH_OK)
        return GH_ERR;
    FUZZ_CHECK(head_len > 0 && head_len <= avail);
    head = fuzz_dup(in + *off, head_len);
    why = NULL;
    rc = gh_http_parse_head(m, HTTP_RESPONSE, head_req, head, head_len,
                            max_hdrs, pool, &status, &why);
    if (rc != GH_OK) {
        FUZZ_CHECK(rc == GH_ERR && why != NULL);
        FUZZ_CHECK(status == 502 || status == 500);
        free(head);
        return GH_ERR;
    }
    fuzz_check_head(m, head, head_len);
    free(head);
    FUZZ_CHECK(m->parser.type == HTTP_RESPONSE && m->parser.http_major == 1);
    FUZZ_CHECK(m->parser.status_code >= 100 && m->parser.status_code <= 599);
    FUZZ_CHECK(!(m->chunked && m->parser.http_minor == 0));
    /* RFC 9110 6.4.1: no body for HEAD, 1xx, 204, 304. */
    if (head_req || m->parser.status_code / 100 == 1
        || m->parser.status_code == 204 || m->parser.status_code == 304)
        FUZZ_CHECK(m->no_body && m->complete);
    *off += head_len;
    return GH_OK;
}

/* One response (after any 1xx).  GH_OK when the connection could be
 * pooled and carry another. */
static int
fuzz_response(const uint8_t *in, size_t len, size_t *off, size_t step,
              int head_req, uint32_t max_hdrs)
{
    struct gh_http_msg m;
    struct gh_pool pool;
    int rc, keep;

    memset(&m, 0, sizeof(m));
    gh_pool_init(&pool, 64 * 1024 + max_hdrs * sizeof(struct gh_hdr));
    for (int n = 0;; n++) {
        const struct gh_hdr *first = m.hdrs;

        rc = fuzz_head(&m, in, len, off, step, head_req, max_hdrs, &pool);
        if (rc != GH_OK) {
            gh_pool_destroy(&pool);
            return GH_ERR;
        }
        /* A stream of 102s must not eat the arena. */
        FUZZ_CHECK(n == 0 || m.hdrs == first);
        if (m.parser.status_code / 100 != 1 || m.parser.status_code == 101)
            break;
        if (n == 64) {
            gh_pool_destroy(&pool);
            return GH_ERR;
        }
    }
    if (m.parser.status_code == 101) {
        gh_pool_destroy(&pool);             /* a tunnel from here on */
        return GH_ERR;
    }
    /* What conn_resp_finished asks before pooling the connection. */
    keep = !m.conn_close && http_should_keep_alive(&m.parser)
           && (m.chunked || m.content_length >= 0 || m.no_body);
    rc = fuzz_body(&m, in, len, off, step);
    gh_pool_destroy(&pool);
    return rc == GH_OK && keep ? GH_OK : GH_ERR;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 1, step;
    int head_req;
    uint32_t max_hdrs;

    if (size < 1)
        return 0;
    step = fuzz_steps[data[0] & 7];
    head_req = (data[0] & 8) != 0;
    max_hdrs = (data[0] & 16) ? 4 : 100;
    for (int n = 0; n < 8 && off < size; n++)
        if (fuzz_response(data, size, &off, step, head_req, max_hdrs)
            != GH_OK)
            break;
    return 0;
}
