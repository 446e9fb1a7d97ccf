/*
 * Keys, stored metadata and decisions of the shared HTTP cache for one
 * request: see cachereq.h.
 */

#include <string.h>

#include "worker/cachereq.h"

static char
cr_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
}

static int
cr_ieq(struct gh_str a, const char *b, size_t blen)
{
    if (a.len != blen)
        return 0;
    for (size_t i = 0; i < blen; i++)
        if (cr_lower(a.p[i]) != cr_lower(b[i]))
            return 0;
    return 1;
}

#define CR_IEQ(s, lit) cr_ieq((s), (lit), sizeof(lit) - 1)

uint32_t
gh_creq_split(const char *block, size_t len, struct gh_hdr *hdrs,
              uint32_t max)
{
    uint32_t n = 0;
    size_t i = 0;

    while (i < len && n < max) {
        const char *line = block + i, *colon, *eol;
        size_t rest = len - i, vs, ve;

        eol = memchr(line, '\n', rest);
        if (eol == NULL)
            break;
        colon = memchr(line, ':', (size_t) (eol - line));
        i += (size_t) (eol - line) + 1;
        if (colon == NULL || colon == line)
            continue;
        vs = (size_t) (colon - line) + 1;
        ve = (size_t) (eol - line);
        if (ve > vs && line[ve - 1] == '\r')
            ve--;
        while (vs < ve && (line[vs] == ' ' || line[vs] == '\t'))
            vs++;
        while (ve > vs && (line[ve - 1] == ' ' || line[ve - 1] == '\t'))
            ve--;
        hdrs[n] = (struct gh_hdr) {
            { line, (size_t) (colon - line) }, { line + vs, ve - vs },
            GH_HDR_OTHER, 0 };
        n++;
    }
    return n;
}

/* ---- keys ------------------------------------------------------------------ */

struct cr_out {
    char  *p;
    size_t len, cap;
    int    over;
};

static void
cr_add(struct cr_out *o, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (o->over || n > o->cap - o->len) {
        o->over = 1;
        return;
    }
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void
cr_add_lower(struct cr_out *o, const char *p, size_t n)
{
    if (o->over || n > o->cap - o->len) {
        o->over = 1;
        return;
    }
    for (size_t i = 0; i < n; i++)
        o->p[o->len++] = cr_lower(p[i]);
}

/* The values of Q's fields NAME (lower case), joined by ','; blanks
 * around the commas dropped. */
static int
cr_add_field(struct cr_out *o, const struct gh_http_msg *q, const char *name,
             size_t nlen)
{
    int first = 1;

    for (uint32_t i = 0; q != NULL && i < q->nhdrs; i++) {
        const struct gh_hdr *h = &q->hdrs[i];

        if (!cr_ieq(h->name, name, nlen))
            continue;
        if (!first)
            cr_add(o, ",", 1);
        first = 0;
        for (size_t j = 0; j < h->value.len; j++) {
            char ch = h->value.p[j];

            if (ch == ' ' || ch == '\t') {
                size_t k = j;

                while (k < h->value.len
                       && (h->value.p[k] == ' ' || h->value.p[k] == '\t'))
                    k++;
                /* Keep one blank inside a value, none next to a comma. */
                if (k < h->value.len && h->value.p[k] != ','
                    && o->len > 0 && o->p[o->len - 1] != ',')
                    cr_add(o, " ", 1);
                j = k - 1;
                continue;
            }
            cr_add(o, &ch, 1);
        }
    }
    return !first;
}

/* The value of cookie NAME in Q's Cookie fields. */
static void
cr_add_cookie(struct cr_out *o, const struct gh_http_msg *q, const char *name,
              size_t nlen)
{
    for (uint32_t i = 0; q != NULL && i < q->nhdrs; i++) {
        const struct gh_hdr *h = &q->hdrs[i];
        const char *p = h->value.p, *end = p + h->value.len;

        if (!CR_IEQ(h->name, "cookie"))
            continue;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t) (end - p)), *eq;
            const char *e = semi ? semi : end;

            while (p < e && *p == ' ')
                p++;
            eq = memchr(p, '=', (size_t) (e - p));
            if (eq != NULL && (size_t) (eq - p) == nlen
                && memcmp(p, name, nlen) == 0) {
                cr_add(o, eq + 1, (size_t) (e - eq - 1));
                return;
            }
            p = semi ? semi + 1 : end;
        }
    }
}

/* The value of query argument NAME in ARGS, as sent. */
static void
cr_add_arg(struct cr_out *o, struct gh_str args, const char *name,
           size_t nlen)
{
    const char *p = args.p, *end = args.p + args.len;

    while (p != NULL && p < end) {
        const char *amp = memchr(p, '&', (size_t) (end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t) (e - p));
        size_t klen = eq ? (size_t) (eq - p) : (size_t) (e - p);

        if (klen == nlen && memcmp(p, name, nlen) == 0) {
            if (eq != NULL)
                cr_add(o, eq + 1, (size_t) (e - eq - 1));
            return;
        }
        p = amp ? amp + 1 : end;
    }
}

ssize_t
gh_creq_key(const struct gh_route *rt, const char *method, int https,
            struct gh_str host, struct gh_str path, struct gh_str args,
            const struct gh_http_msg *q, char *out, size_t outlen)
{
    ssize_t k = gh_creq_key_zone(rt->cache, method, https, host, path, args,
                                 out, outlen), x;

    if (k < 0)
        return GH_ERR;
    x = gh_creq_key_extra(rt, args, q, out + k, outlen - (size_t) k);
    return x < 0 ? GH_ERR : k + x;
}

ssize_t
gh_creq_key_zone(const struct gh_cache_zone *z, const char *method,
                 int https, struct gh_str host, struct gh_str path,
                 struct gh_str args, char *out, size_t outlen)
{
    struct cr_out o = { out, 0, outlen, 0 };

    for (uint32_t i = 0; i < z->nkey; i++) {
        switch (z->key[i]) {
        case GH_CKEY_METHOD:
            cr_add(&o, method, strlen(method));
            break;
        case GH_CKEY_SCHEME:
            if (https)
                cr_add(&o, "https", 5);
            else
                cr_add(&o, "http", 4);
            break;
        case GH_CKEY_HOST:
            cr_add_lower(&o, host.p, host.len);
            break;
        case GH_CKEY_URI:
            cr_add(&o, path.p, path.len);
            if (args.len > 0) {
                cr_add(&o, "?", 1);
                cr_add(&o, args.p, args.len);
            }
            break;
        case GH_CKEY_PATH:
            cr_add(&o, path.p, path.len);
            break;
        case GH_CKEY_ARGS:
            cr_add(&o, args.p, args.len);
            break;
        default:
            break;
        }
        cr_add(&o, "\n", 1);
    }
    return o.over ? GH_ERR : (ssize_t) o.len;
}

ssize_t
gh_creq_key_extra(const struct gh_route *rt, struct gh_str args,
                  const struct gh_http_msg *q, char *out, size_t outlen)
{
    struct cr_out o = { out, 0, outlen, 0 };

    for (uint32_t i = 0; i < rt->nkey_extra; i++) {
        const struct gh_ckey_extra *x = &rt->key_extra[i];

        switch (x->kind) {
        case GH_CKEY_X_HEADER:
            (void) cr_add_field(&o, q, x->name, x->name_len);
            break;
        case GH_CKEY_X_COOKIE:
            cr_add_cookie(&o, q, x->name, x->name_len);
            break;
        default:
            cr_add_arg(&o, args, x->name, x->name_len);
            break;
        }
        cr_add(&o, "\n", 1);
    }
    return o.over ? GH_ERR : (ssize_t) o.len;
}

ssize_t
gh_creq_variant(struct gh_str vkey, const struct gh_http_msg *q, char *out,
                size_t outlen)
{
    struct cr_out o = { out, 0, outlen, 0 };
    const char *p = vkey.p, *end = vkey.p + vkey.len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t) (end - p));
        const char *e = comma ? comma : end;

        /* "name=value", "name=" for an empty field, "name" for none:
         * an absent field matches only its absence (RFC 9111 4.1). */
        cr_add(&o, p, (size_t) (e - p));
        {
            size_t at = o.len;

            cr_add(&o, "=", 1);
            if (!cr_add_field(&o, q, p, (size_t) (e - p)) && !o.over)
                o.len = at;
        }
        cr_add(&o, "\n", 1);
        p = comma ? comma + 1 : end;
    }
    return o.over ? GH_ERR : (ssize_t) o.len;
}

/* ---- directives -------------------------------------------------------------- */

void
gh_creq_req(const struct gh_http_msg *q, struct gh_cc_req *r)
{
    memset(r, 0, sizeof(*r));
    r->method = (struct gh_str) GH_STR("GET");
    for (uint32_t i = 0; i < q->nhdrs; i++) {
        const struct gh_hdr *h = &q->hdrs[i];

        if (CR_IEQ(h->name, "cache-control"))
            (void) gh_cachectl_req_cc(&r->cc, h->value.p, h->value.len);
        else if (CR_IEQ(h->name, "authorization"))
            r->authorization = 1;
    }
    for (uint32_t i = 0; i < q->nhdrs; i++) {
        const struct gh_hdr *h = &q->hdrs[i];

        if (CR_IEQ(h->name, "pragma"))
            (void) gh_cachectl_req_pragma(&r->cc, h->value.p, h->value.len);
    }
}

int
gh_creq_keep_field(const struct gh_hdr *h)
{
    static const char *const drop[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "age",
        "set-cookie", "cache-status", "proxy-authenticate"
    };

    if (h->hop)
        return 0;
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
        if (cr_ieq(h->name, drop[i], strlen(drop[i])))
            return 0;
    return 1;
}

void
gh_creq_policy(const struct gh_cache_zone *z, struct gh_cc_policy *pol)
{
    pol->heuristic_max = z->heuristic_max / 1000;
    pol->default_ttl = z->default_ttl / 1000;
    pol->stale_if_error = z->stale_if_error / 1000;
}

void
gh_creq_respdir(const struct gh_cmeta *m, struct gh_cc_respdir *rc)
{
    memset(rc, 0, sizeof(*rc));
    rc->has = m->cc_has;
    rc->bad = m->cc_bad;
    rc->max_age = m->max_age;
    rc->s_maxage = m->s_maxage;
    rc->swr = m->swr;
    rc->sie = m->sie;
}

enum gh_cc_store
gh_creq_describe(int status, const struct gh_hdr *hdrs, uint32_t n,
                 const struct gh_cc_req *q, const struct gh_cc_policy *pol,
                 time_t request_time, time_t response_time,
                 struct gh_cmeta *m, char *vkey, size_t vkeylen)
{
    struct gh_cc_resp r;
    struct gh_cc_vary vary;
    enum gh_cc_store why;
    enum gh_cc_lt how;
    int nexp = 0, ndate = 0, nlm = 0, has_vary = 0;
    int64_t lt;

    memset(&r, 0, sizeof(r));
    memset(&vary, 0, sizeof(vary));
    memset(m, 0, sizeof(*m));
    r.status = status;
    r.age = -1;
    m->length = -1;
    for (uint32_t i = 0; i < n; i++) {
        const struct gh_hdr *h = &hdrs[i];
        struct gh_str v = h->value;
        time_t t;

        if (CR_IEQ(h->name, "cache-control")) {
            (void) gh_cachectl_resp_cc(&r.cc, v.p, v.len);
        } else if (CR_IEQ(h->name, "date")) {
            if (ndate++ == 0 && gh_cachectl_date_parse(v.p, v.len,
                                                       response_time, &t)
                                == GH_OK) {
                r.date = t;
                r.has_date = 1;
            } else {
                r.has_date = 0;
            }
        } else if (CR_IEQ(h->name, "expires")) {
            r.has_expires = 1;
            r.expires_ok = nexp++ == 0
                           && gh_cachectl_date_parse(v.p, v.len,
                                                     response_time, &t)
                              == GH_OK;
            if (r.expires_ok)
                r.expires = t;
        } else if (CR_IEQ(h->name, "last-modified")) {
            if (nlm++ == 0 && gh_cachectl_date_parse(v.p, v.len,
                                                     response_time, &t)
                              == GH_OK) {
                r.last_modified = t;
                r.has_last_modified = 1;
            } else {
                r.has_last_modified = 0;
            }
        } else if (CR_IEQ(h->name, "age")) {
            int64_t a;

            if (r.age < 0 && gh_cachectl_age_parse(v.p, v.len, &a) == GH_OK)
                r.age = a;
        } else if (CR_IEQ(h->name, "vary")) {
            has_vary = 1;
            (void) gh_cachectl_vary_parse(&vary, v.p, v.len);
        } else if (CR_IEQ(h->name, "set-cookie")) {
            r.set_cookie = 1;
        } else if (CR_IEQ(h->name, "etag")) {
            m->has_validator = 1;
        } else if (CR_IEQ(h->name, "content-length")) {
            int64_t cl = 0;
            size_t j;

            for (j = 0; j < v.len && v.p[j] >= '0' && v.p[j] <= '9'
                        && cl < INT64_MAX / 10 - 10; j++)
                cl = cl * 10 + (v.p[j] - '0');
            if (j == v.len && j > 0)
                m->length = cl;
        }
    }
    if (has_vary)
        r.vary = &vary;
    lt = gh_cachectl_lifetime(&r, response_time, pol, &how);
    why = gh_cachectl_storable(q, &r, how);
    m->magic = GH_CMETA_MAGIC;
    m->status = status;
    m->response_time = response_time;
    m->initial_age = gh_cachectl_initial_age(&r, request_time,
                                             response_time);
    m->lifetime = lt;
    m->last_modified = r.last_modified;
    m->has_last_modified = r.has_last_modified;
    m->date = r.date;
    m->has_date = r.has_date;
    if (r.has_last_modified)
        m->has_validator = 1;
    m->cc_has = r.cc.has;
    m->cc_bad = r.cc.bad;
    m->max_age = r.cc.max_age;
    m->s_maxage = r.cc.s_maxage;
    m->swr = r.cc.swr;
    m->sie = r.cc.sie;
    if (vkeylen > 0)
        vkey[0] = '\0';
    if (has_vary && why == GH_CC_ST_OK
        && gh_cachectl_vary_key(&vary, vkey, vkeylen) < 0)
        why = GH_CC_ST_VARY_INVALID;
    return why;
}
