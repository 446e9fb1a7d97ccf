/*
 * libFuzzer target for the request path of worker/conn.c: READ_HEAD runs
 * gh_http_scan_head over the bytes as they arrive, resuming where it
 * stopped, and gh_http_parse_head over the head it finds; SEND_REQ frames
 * the body with gh_http_feed_body; then the next pipelined request, for as
 * long as the connection would stay open.
 *
 * Input: byte 0 picks the read size (bits 0-2, fuzz_steps) and a header
 * cap of 4 instead of 100 (bit 3); the rest is what the client sends.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "worker/core/gh.h"
#include "worker/core/pool.h"
#include "worker/http.h"

/* The defaults of limits.uri_size (+ 64, as conn.c) and header_size. */
#define LINE1_MAX (8192 + 64)
#define HEAD_MAX  16384

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * One request from IN[*off..len).  Returns GH_OK when it completed and the
 * connection would go on to the next one.
 */
static int
fuzz_request(const uint8_t *in, size_t len, size_t *off, size_t step,
             uint32_t max_hdrs)
{
    struct gh_http_msg m;
    struct gh_pool pool;
    size_t pos = 0, skip = 0, head_len = 0, avail = 0;
    int rc = GH_AGAIN, status = 0, keep;
    const char *why = NULL;
    char *head;

    while (rc == GH_AGAIN && avail < len - *off) {
        size_t prev = pos;
        char *b;

        avail += GH_MIN(step, len - *off - avail);
        b = fuzz_dup(in + *off, avail);
        why = NULL;
        rc = gh_http_scan_head(b, avail, &pos, &skip, LINE1_MAX, &head_len,
                               &status, &why);
        free(b);
        if (rc == GH_AGAIN) {
            /* Resume contract: forward only, at a line start, in data. */
            FUZZ_CHECK(pos >= prev && pos <= avail && skip <= pos);
            FUZZ_CHECK(pos == 0 || in[*off + pos - 1] == '\n');
            if (avail - skip >= HEAD_MAX)
                return GH_ERR;                  /* 414 or 431 */
        }
    }
    if (rc == GH_ERR)
        FUZZ_CHECK(why != NULL && (status == 400 || status == 414));
    if (rc != GH_OK)
        return GH_ERR;
    FUZZ_CHECK(skip < head_len && head_len <= avail);
    FUZZ_CHECK(in[*off + head_len - 1] == '\n');
    head_len -= skip;
    if (head_len > HEAD_MAX)
        return GH_ERR;                          /* 431 */

    memset(&m, 0, sizeof(m));
    gh_pool_init(&pool, 64 * 1024 + max_hdrs * sizeof(struct gh_hdr));
    head = fuzz_dup(in + *off + skip, head_len);
    why = NULL;
    rc = gh_http_parse_head(&m, HTTP_REQUEST, 0, head, head_len, max_hdrs,
                            &pool, &status, &why);
    if (rc != GH_OK) {
        FUZZ_CHECK(rc == GH_ERR && why != NULL);
        FUZZ_CHECK(status == 400 || status == 431 || status == 501
                   || status == 505);
        free(head);
        gh_pool_destroy(&pool);
        return GH_ERR;
    }
    fuzz_check_head(&m, head, head_len);
    FUZZ_CHECK(m.parser.type == HTTP_REQUEST && m.parser.http_major == 1);
    /* RFC 9112 3.2: 1.1 has exactly one Host; 6.1: no TE in 1.0. */
    FUZZ_CHECK(m.parser.http_minor == 0 || m.host != NULL);
    FUZZ_CHECK(!(m.chunked && m.parser.http_minor == 0));
    *off += skip + head_len;
    keep = http_should_keep_alive(&m.parser);
    free(head);
    if (m.upgrade) {
        /* The tunnel takes the rest; the framing checks above still ran. */
        gh_pool_destroy(&pool);
        return GH_ERR;
    }
    /* A request without a length has no body (RFC 9112 6.3 (6)). */
    FUZZ_CHECK(m.complete == (!m.chunked && m.content_length <= 0));
    /* The head's slices are not used past this point (conn.c copies what
     * the log needs): the body goes through on its own. */
    rc = fuzz_body(&m, in, len, off, step);
    gh_pool_destroy(&pool);
    return rc == GH_OK && keep ? GH_OK : GH_ERR;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 1, step;
    uint32_t max_hdrs;

    if (size < 1)
        return 0;
    step = fuzz_steps[data[0] & 7];
    max_hdrs = (data[0] & 8) ? 4 : 100;
    for (int n = 0; n < 16 && off < size; n++)
        if (fuzz_request(data, size, &off, step, max_hdrs) != GH_OK)
            break;
    return 0;
}
