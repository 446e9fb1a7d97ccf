#include <assert.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "worker/auth.h"

/*
 * HTTP Basic authentication against an htpasswd file: the loader (master)
 * and the verifier (workers).  See worker/auth.h for the contract, the
 * accepted formats and the success cache.
 */

#define HTPASSWD_MAGIC 0x4748485450570001ULL   /* "GHHTPW" 1 */
#define AUTH_KEY_LEN   32                      /* SHA-256 */

/* One "user:hash" line; both strings are cut out of pw->buf. */
struct htpasswd_user {
    const char *name;           /* borrows pw->buf, NUL-terminated */
    const char *hash;           /* borrows pw->buf, NUL-terminated */
    uint32_t    namelen;        /* 1 <= namelen <= GH_HTPASSWD_USER_MAX */
    uint32_t    hashlen;
    uint32_t    line;           /* in the file, from 1 */
};

struct auth_cache_ent {
    uint8_t  key[AUTH_KEY_LEN]; /* SHA-256(salt, user, ':', password) */
    uint64_t used;              /* pw->tick at the last hit; 0: empty */
    uint32_t user;              /* index in pw->users */
};

struct gh_htpasswd {
    uint64_t              magic;
    char                 *buf;      /* owns: the file, cut into strings */
    struct htpasswd_user *users;    /* owns; sorted by name (memcmp) */
    uint32_t              n;        /* >= 1 */
    const char           *dummy;    /* borrows: the hash on the file's first
                                       line, crypt_r() setting for unknown
                                       users */
    /*
     * The success cache, private to one process: a worker inherits it
     * empty (the master never verifies) and makes its own salt; the salt is
     * remade, and the cache emptied, whenever the pid changes.
     */
    pid_t                 salt_pid; /* 0: no salt yet */
    uint8_t               salt[AUTH_KEY_LEN];
    uint64_t              tick;     /* LRU clock, +1 per use */
    struct auth_cache_ent cache[GH_AUTH_CACHE];
};

/*
 * The formats we accept: those in libxcrypt's "strong" group, plus
 * sha256-crypt, which libxcrypt files under legacy (crypt_checksalt() says
 * CRYPT_SALT_METHOD_LEGACY): it is sha512-crypt's construction, 5000
 * rounds by default, on SHA-256, which GPUs compute faster.  Accepted
 * because the auth_basic design lists it; legacy_ok = 0 refuses it.
 * CHECKSUM is the length of the text after the last '$', which crypt_r()
 * always produces in full: a shorter one is a truncated copy-paste.
 */
enum auth_kind {
    AUTH_OTHER = 0,             /* checked by libxcrypt's crypt_checksalt */
    AUTH_BCRYPT,                /* "$2b$NN$", cost 04..31, 60 bytes */
    AUTH_SHACRYPT               /* "$6$[rounds=N$]salt$": N, salt length */
};

static struct auth_format {
    const char     *prefix;
    const char     *name;
    enum auth_kind  kind;
    size_t          checksum;
    int             legacy_ok;  /* CRYPT_SALT_METHOD_LEGACY accepted */
    int             supported;  /* by this libxcrypt: -1 not probed yet */
} auth_formats[] = {
    { "$2b$", "bcrypt",        AUTH_BCRYPT,   53, 0, -1 },
    { "$2y$", "bcrypt",        AUTH_BCRYPT,   53, 0, -1 },
    { "$2a$", "bcrypt",        AUTH_BCRYPT,   53, 0, -1 },
    { "$y$",  "yescrypt",      AUTH_OTHER,    43, 0, -1 },
    { "$gy$", "gost-yescrypt", AUTH_OTHER,    43, 0, -1 },
    { "$7$",  "scrypt",        AUTH_OTHER,    43, 0, -1 },
    { "$6$",  "sha512-crypt",  AUTH_SHACRYPT, 86, 0, -1 },
    { "$5$",  "sha256-crypt",  AUTH_SHACRYPT, 43, 1, -1 },
};

/* "bcrypt ($2b$ $2y$ $2a$), yescrypt ($y$), ...": what this system takes. */
static char auth_accepted[256];

/* Per process: crypt_r()'s state is ~32 KiB, too much for an event loop's
 * stack, and zeroed .bss is what crypt_r() wants the first time. */
static struct crypt_data auth_cd;
static EVP_MD            *auth_md;     /* SHA-256, fetched once */
static EVP_MD_CTX        *auth_mdctx;
static uint64_t           auth_hits;
static uint64_t           auth_crypts;

static const char auth_how[] =
    "; make one with `htpasswd -B FILE USER` (bcrypt) or "
    "`mkpasswd -m bcrypt` / `mkpasswd -m sha-512`";

/* ---- loading ---------------------------------------------------------- */

GH_PRINTF(5, 6) static void
htpasswd_err(char *err, size_t errlen, const char *file, uint32_t line,
             const char *fmt, ...)
{
    va_list ap;
    int     n;

    if (errlen == 0)
        return;
    n = line ? snprintf(err, errlen, "%s:%u: ", file, line)
             : snprintf(err, errlen, "%s: ", file);
    if (n < 0 || (size_t) n >= errlen)
        return;
    va_start(ap, fmt);
    (void) vsnprintf(err + n, errlen - (size_t) n, fmt, ap);
    va_end(ap);
}

/* Quote a user name for a message: at most 64 bytes, non-printable ASCII,
 * '"' and '\' as \xNN so a log line stays one clean line. */
static const char *
htpasswd_quote(char *out, size_t outlen, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t            o = 0;

    assert(outlen >= 64 * 4 + 4);
    for (size_t i = 0; i < len && i < 64; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char) c;
        }
    }
    if (len > 64) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* Which formats this libxcrypt makes and checks, probed once with fixed
 * "random" bytes (only a salt that is thrown away depends on them). */
static void
auth_probe_formats(void)
{
    char          setting[CRYPT_GENSALT_OUTPUT_SIZE];
    unsigned char rbytes[64];
    size_t        o = 0;

    if (auth_formats[0].supported != -1)
        return;
    for (size_t i = 0; i < sizeof(rbytes); i++)
        rbytes[i] = (unsigned char) (i * 37 + 11);
    for (size_t i = 0; i < GH_NELEM(auth_formats); i++) {
        struct auth_format *f = &auth_formats[i];
        int                 rc = CRYPT_SALT_INVALID;

        if (crypt_gensalt_rn(f->prefix, 0, (const char *) rbytes,
                             (int) sizeof(rbytes), setting,
                             (int) sizeof(setting)) != NULL)
            rc = crypt_checksalt(setting);
        f->supported = rc == CRYPT_SALT_OK
                       || (rc == CRYPT_SALT_METHOD_LEGACY && f->legacy_ok);
    }
    /* "name (p1 p2), name (p3)": same-name entries are adjacent. */
    for (size_t i = 0; i < GH_NELEM(auth_formats); i++) {
        const struct auth_format *f = &auth_formats[i];
        int                       same, n;

        if (!f->supported)
            continue;
        same = o > 0 && strcmp(auth_formats[i - 1].name, f->name) == 0
               && auth_formats[i - 1].supported;
        if (same)
            n = snprintf(auth_accepted + o, sizeof(auth_accepted) - o,
                         " %s", f->prefix);
        else
            n = snprintf(auth_accepted + o, sizeof(auth_accepted) - o,
                         "%s%s (%s", o ? "), " : "", f->name, f->prefix);
        if (n < 0 || (size_t) n >= sizeof(auth_accepted) - o)
            break;
        o += (size_t) n;
    }
    if (o > 0 && o + 1 < sizeof(auth_accepted)) {
        auth_accepted[o++] = ')';
        auth_accepted[o] = '\0';
    }
}

static int
auth_crypt_char(unsigned char c)
{
    /* crypt(3)'s alphabet, plus '$' and the "rounds=" of sha*-crypt. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '/' || c == '$'
           || c == '=';
}

/*
 * crypt_checksalt() looks at little more than the prefix, and crypt_r()
 * fails on, or clamps, what it does not like, so that a hand-edited cost
 * would lock a user out in silence.  Check what is cheap to check.
 */
static int
htpasswd_check_setting(const struct auth_format *f, const char *hash,
                       size_t len, char *why, size_t whylen)
{
    const char *p;
    size_t      n;

    if (f->kind == AUTH_BCRYPT) {
        /* "$2b$" cost "$" 22 salt + 31 hash: always 60 bytes. */
        if (len != 60 || hash[4] < '0' || hash[4] > '9' || hash[5] < '0'
            || hash[5] > '9' || hash[6] != '$') {
            snprintf(why, whylen, "malformed bcrypt hash: not "
                     "\"%.4sNN$\" and 53 characters", f->prefix);
            return GH_ERR;
        }
        n = (size_t) (hash[4] - '0') * 10 + (size_t) (hash[5] - '0');
        if (n < 4 || n > 31) {
            snprintf(why, whylen, "malformed bcrypt hash: cost %02zu is not "
                     "in 04..31", n);
            return GH_ERR;
        }
    } else if (f->kind == AUTH_SHACRYPT) {
        p = hash + 3;
        if (strncmp(p, "rounds=", 7) == 0) {
            /* crypt_r() clamps to 1000..999999999 and writes the clamped
             * value, which then never equals the stored one. */
            p += 7;
            n = strspn(p, "0123456789");
            if (n == 0 || n > 9 || p[n] != '$' || p[0] == '0'
                || strtoul(p, NULL, 10) < 1000) {
                snprintf(why, whylen, "malformed %s hash: rounds= must be "
                         "1000..999999999", f->name);
                return GH_ERR;
            }
            p += n + 1;
        }
        /* crypt_r() uses at most 16 salt characters, then the checksum. */
        if (strcspn(p, "$") > 16
            || strchr(p, '$') != hash + len - f->checksum - 1) {
            snprintf(why, whylen, "malformed %s hash: salt longer than 16 "
                     "characters or a '$' too many", f->name);
            return GH_ERR;
        }
    }
    return GH_OK;
}

/*
 * Is HASH (LEN bytes, NUL-terminated) one we verify?  Returns GH_OK, or
 * GH_ERR with WHY set.  Never quotes the hash itself: a "hash" that is not
 * one may be a plaintext password.
 */
static int
htpasswd_check_hash(const char *hash, size_t len, char *why, size_t whylen)
{
    const struct auth_format *f = NULL;
    const char               *last;
    size_t                    plen;
    int                       rc;

    if (len == 0) {
        snprintf(why, whylen, "empty hash; accepted: %s%s", auth_accepted,
                 auth_how);
        return GH_ERR;
    }
    if (memchr(hash, ':', len) != NULL) {
        snprintf(why, whylen, "a second ':' on the line (a user name "
                 "cannot hold ':', nor can a hash)");
        return GH_ERR;
    }
    for (size_t i = 0; i < GH_NELEM(auth_formats); i++) {
        plen = strlen(auth_formats[i].prefix);
        if (len >= plen && memcmp(hash, auth_formats[i].prefix, plen) == 0) {
            f = &auth_formats[i];
            break;
        }
    }
    if (f == NULL) {
        const char *what = NULL;

        if (strncmp(hash, "$apr1$", 6) == 0)
            what = "MD5 ($apr1$) hashes are refused: fast to brute-force";
        else if (strncmp(hash, "$1$", 3) == 0)
            what = "MD5-crypt ($1$) hashes are refused: fast to brute-force";
        else if (strncmp(hash, "{SHA}", 5) == 0)
            what = "{SHA} hashes are refused: unsalted SHA-1";
        else if (len == 13 && strspn(hash, "./0123456789"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "abcdefghijklmnopqrstuvwxyz") == 13)
            what = "DES crypt hashes are refused: 8-byte passwords, "
                   "fast to brute-force";
        else if (len == 20 && hash[0] == '_')
            what = "BSDi extended DES hashes are refused: fast to "
                   "brute-force";
        else if (hash[0] != '$')
            what = "not a crypt hash (a plaintext password?)";
        if (what) {
            snprintf(why, whylen, "%s; accepted: %s%s", what, auth_accepted,
                     auth_how);
            return GH_ERR;
        }
        /*
         * "$id$...": name the id when it looks like one ("$sha1$",
         * "$argon2id$"), never more, and nothing of what may be a
         * plaintext password that happens to start with '$'.
         */
        plen = strspn(hash + 1, "abcdefghijklmnopqrstuvwxyz0123456789-");
        rc = crypt_checksalt(hash);
        if (plen == 0 || plen > 10 || hash[1 + plen] != '$')
            plen = 0;
        snprintf(why, whylen, "%s hash format%s%.*s%s; accepted: %s%s",
                 rc == CRYPT_SALT_METHOD_LEGACY
                 || rc == CRYPT_SALT_METHOD_DISABLED ? "weak legacy"
                                                     : "unknown",
                 plen ? " \"" : "", plen ? (int) plen + 2 : 0, hash,
                 plen ? "\"" : "", auth_accepted, auth_how);
        return GH_ERR;
    }
    if (!f->supported) {
        snprintf(why, whylen, "%s (%s) is not supported by this system's "
                 "libxcrypt; accepted: %s%s", f->name, f->prefix,
                 auth_accepted, auth_how);
        return GH_ERR;
    }
    for (size_t i = 0; i < len; i++) {
        if (!auth_crypt_char((unsigned char) hash[i])) {
            snprintf(why, whylen, "malformed %s hash: byte %zu is not in "
                     "the crypt alphabet", f->name, i + 1);
            return GH_ERR;
        }
    }
    last = strrchr(hash, '$');
    if ((size_t) (hash + len - last - 1) != f->checksum) {
        snprintf(why, whylen, "malformed %s hash: %zu characters after the "
                 "last '$', not %zu (truncated?)", f->name,
                 (size_t) (hash + len - last - 1), f->checksum);
        return GH_ERR;
    }
    if (htpasswd_check_setting(f, hash, len, why, whylen) != GH_OK)
        return GH_ERR;
    rc = crypt_checksalt(hash);
    if (rc != CRYPT_SALT_OK
        && !(rc == CRYPT_SALT_METHOD_LEGACY && f->legacy_ok)) {
        snprintf(why, whylen, "malformed %s hash: libxcrypt refuses its "
                 "setting (%s)", f->name,
                 rc == CRYPT_SALT_TOO_CHEAP ? "cost too low"
                                            : "bad cost or salt");
        return GH_ERR;
    }
    return GH_OK;
}

static int
htpasswd_cmp(const void *a, const void *b)
{
    const struct htpasswd_user *x = a, *y = b;
    int                         c;

    c = memcmp(x->name, y->name, GH_MIN(x->namelen, y->namelen));
    if (c == 0)
        c = (x->namelen > y->namelen) - (x->namelen < y->namelen);
    if (c == 0)                 /* equal names: file order, for messages */
        c = (x->line > y->line) - (x->line < y->line);
    return c;
}

/* Read all of FILE into a new NUL-terminated buffer; GH_ERR with ERR. */
static char *
htpasswd_read(const char *file, size_t *sizep, char *err, size_t errlen)
{
    struct stat st;
    char       *buf = NULL, *nbuf;
    size_t      size = 0, cap;
    ssize_t     n;
    int         fd;

    /* O_NONBLOCK: opening a FIFO by mistake must not hang the master. */
    fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd == -1) {
        htpasswd_err(err, errlen, file, 0, "%s", strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) == -1) {
        htpasswd_err(err, errlen, file, 0, "fstat: %s", strerror(errno));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        htpasswd_err(err, errlen, file, 0, "is a directory");
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        htpasswd_err(err, errlen, file, 0, "not a regular file");
        goto fail;
    }
    if (st.st_size > GH_HTPASSWD_SIZE_MAX)
        goto too_big;
    /* The size may change while we read: grow, within the limit. */
    cap = (size_t) st.st_size + 1;
    if ((buf = malloc(cap + 1)) == NULL) {
        htpasswd_err(err, errlen, file, 0, "%s", strerror(ENOMEM));
        goto fail;
    }
    for (;;) {
        if (size == cap) {
            if (cap > GH_HTPASSWD_SIZE_MAX)
                goto too_big;
            cap = GH_MIN(cap * 2, (size_t) GH_HTPASSWD_SIZE_MAX + 1);
            if ((nbuf = realloc(buf, cap + 1)) == NULL) {
                htpasswd_err(err, errlen, file, 0, "%s", strerror(ENOMEM));
                goto fail;
            }
            buf = nbuf;
        }
        n = read(fd, buf + size, cap - size);
        if (n == 0)
            break;
        if (n == -1) {
            if (errno == EINTR)
                continue;
            htpasswd_err(err, errlen, file, 0, "read: %s", strerror(errno));
            goto fail;
        }
        size += (size_t) n;
    }
    if (size > GH_HTPASSWD_SIZE_MAX)
        goto too_big;
    (void) close(fd);       /* read-only: nothing to lose */
    buf[size] = '\0';
    *sizep = size;
    return buf;

too_big:
    htpasswd_err(err, errlen, file, 0, "larger than %d MiB",
                 GH_HTPASSWD_SIZE_MAX / (1024 * 1024));
fail:
    free(buf);
    (void) close(fd);       /* the error above is the one to report */
    return NULL;
}

/* Check the name (LEN bytes at S) of the user on LINE; GH_ERR with ERR. */
static int
htpasswd_check_name(const char *file, uint32_t line, const char *s,
                    size_t len, char *err, size_t errlen)
{
    char        q[300];
    const char *why = NULL;

    if (len == 0)
        why = "empty user name";
    else if (len > GH_HTPASSWD_USER_MAX)
        why = "user name longer than 255 bytes";
    else if (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' '
             || s[len - 1] == '\t')
        why = "blank at the start or end of the user name";
    else
        for (size_t i = 0; i < len; i++)
            if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
                why = "control character in the user name";
                break;
            }
    if (why == NULL)
        return GH_OK;
    htpasswd_err(err, errlen, file, line, "user \"%s\": %s",
                 htpasswd_quote(q, sizeof(q), s, len), why);
    return GH_ERR;
}

struct gh_htpasswd *
gh_htpasswd_load(const char *file, char *err, size_t errlen)
{
    struct gh_htpasswd   *pw;
    struct htpasswd_user *u, *nu;
    char                 *p, *end, *eol, *colon, *nul;
    char                  q[300], why[512];
    size_t                size, len, cap = 0;
    uint32_t              line = 0;

    auth_probe_formats();
    if ((pw = calloc(1, sizeof(*pw))) == NULL) {
        htpasswd_err(err, errlen, file, 0, "%s", strerror(ENOMEM));
        return NULL;
    }
    pw->magic = HTPASSWD_MAGIC;
    if ((pw->buf = htpasswd_read(file, &size, err, errlen)) == NULL)
        goto fail;

    /* crypt_r() takes C strings: a NUL would cut a hash short. */
    if ((nul = memchr(pw->buf, '\0', size)) != NULL) {
        for (p = pw->buf, line = 1; p < nul; p++)
            line += *p == '\n';
        htpasswd_err(err, errlen, file, line, "NUL byte in the file");
        goto fail;
    }

    end = pw->buf + size;
    for (p = pw->buf; p < end; p = eol + 1) {
        line++;
        if ((eol = memchr(p, '\n', (size_t) (end - p))) == NULL)
            eol = end;      /* last line without '\n'; *end is the NUL */
        len = (size_t) (eol - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;          /* CRLF: the CR belongs to the end of line */
        if (len > GH_HTPASSWD_LINE_MAX) {
            htpasswd_err(err, errlen, file, line, "line longer than %d "
                         "bytes", GH_HTPASSWD_LINE_MAX);
            goto fail;
        }
        /* Trailing blanks, as Apache's config reader. */
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        {
            size_t b = strspn(p, " \t");

            if (b >= len || p[b] == '#')
                continue;
        }
        if ((colon = memchr(p, ':', len)) == NULL) {
            htpasswd_err(err, errlen, file, line, "not \"user:hash\" "
                         "(no ':')");
            goto fail;
        }
        if (htpasswd_check_name(file, line, p, (size_t) (colon - p), err,
                                errlen) != GH_OK)
            goto fail;
        *colon = '\0';
        p[len] = '\0';      /* over '\n', '\r', a blank or the final NUL */
        if (htpasswd_check_hash(colon + 1, len - (size_t) (colon - p) - 1,
                                why, sizeof(why)) != GH_OK) {
            htpasswd_err(err, errlen, file, line, "user \"%s\": %s",
                         htpasswd_quote(q, sizeof(q), p,
                                        (size_t) (colon - p)), why);
            goto fail;
        }
        if (pw->n == cap) {
            cap = cap ? cap * 2 : 16;
            if ((nu = realloc(pw->users, cap * sizeof(*nu))) == NULL) {
                htpasswd_err(err, errlen, file, 0, "%s", strerror(ENOMEM));
                goto fail;
            }
            pw->users = nu;
        }
        u = &pw->users[pw->n++];
        u->name = p;
        u->namelen = (uint32_t) (colon - p);
        u->hash = colon + 1;
        u->hashlen = (uint32_t) (len - u->namelen - 1);
        u->line = line;
    }
    if (pw->n == 0) {
        htpasswd_err(err, errlen, file, 0, "no users");
        goto fail;
    }
    pw->dummy = pw->users[0].hash;     /* before the sort: line order */

    qsort(pw->users, pw->n, sizeof(*pw->users), htpasswd_cmp);
    {
        /* Report the duplicate met first in file order. */
        const struct htpasswd_user *dup = NULL, *orig = NULL;

        for (uint32_t i = 1; i < pw->n; i++) {
            u = &pw->users[i];
            if (u->namelen == u[-1].namelen
                && memcmp(u->name, u[-1].name, u->namelen) == 0
                && (dup == NULL || u->line < dup->line)) {
                dup = u;
                orig = &u[-1];
                while (orig > pw->users && orig[-1].namelen == u->namelen
                       && memcmp(orig[-1].name, u->name, u->namelen) == 0)
                    orig--;
            }
        }
        if (dup) {
            htpasswd_err(err, errlen, file, dup->line, "user \"%s\": listed "
                         "twice (first on line %u)",
                         htpasswd_quote(q, sizeof(q), dup->name,
                                        dup->namelen), orig->line);
            goto fail;
        }
    }
    return pw;

fail:
    gh_htpasswd_free(pw);
    return NULL;
}

void
gh_htpasswd_free(struct gh_htpasswd *pw)
{
    if (pw == NULL)
        return;
    assert(pw->magic == HTPASSWD_MAGIC);
    OPENSSL_cleanse(pw->salt, sizeof(pw->salt));
    OPENSSL_cleanse(pw->cache, sizeof(pw->cache));
    pw->magic = 0;
    free(pw->users);
    free(pw->buf);
    free(pw);
}

uint32_t
gh_htpasswd_count(const struct gh_htpasswd *pw)
{
    return pw->n;
}

/* ---- verifying -------------------------------------------------------- */

/* RFC 4648 section 4 alphabet: value + 1; 0 for every other byte ('='
 * included). */
static const uint8_t auth_b64[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/*
 * Decode IN (LEN bytes) into OUT (at most OUTMAX bytes).  Returns the
 * decoded length, or GH_DECLINED.  Padding is optional (some clients and
 * scripts drop it, and it carries nothing), but when present it must
 * complete the last quantum exactly.  The unused bits of a final partial
 * quantum must be zero, so each value has one accepted encoding.
 */
static ssize_t
auth_b64_decode(const char *in, size_t len, unsigned char *out,
                size_t outmax)
{
    size_t   pad = 0, rem, o = 0, i;
    uint32_t acc = 0;
    int      v;

    if (len == 0 || len > (outmax + 2) / 3 * 4)
        return GH_DECLINED;
    while (pad < 2 && len > 0 && in[len - 1] == '=') {
        pad++;
        len--;
    }
    rem = len % 4;
    if (rem == 1 || (pad && (len + pad) % 4 != 0))
        return GH_DECLINED;
    if (len / 4 * 3 + (rem ? rem - 1 : 0) > outmax)
        return GH_DECLINED;
    for (i = 0; i < len; i++) {
        v = auth_b64[(unsigned char) in[i]];
        if (v == 0)
            return GH_DECLINED;
        acc = acc << 6 | (uint32_t) (v - 1);
        if (i % 4 == 3) {
            out[o++] = (unsigned char) (acc >> 16);
            out[o++] = (unsigned char) (acc >> 8);
            out[o++] = (unsigned char) acc;
            acc = 0;
        }
    }
    if (rem == 2) {
        if (acc & 0xf)
            return GH_DECLINED;
        out[o++] = (unsigned char) (acc >> 4);
    } else if (rem == 3) {
        if (acc & 0x3)
            return GH_DECLINED;
        out[o++] = (unsigned char) (acc >> 10);
        out[o++] = (unsigned char) (acc >> 2);
    }
    return (ssize_t) o;
}

/*
 * Decode the credentials of an Authorization VALUE into OUT
 * (GH_AUTH_CRED_MAX bytes).  RFC 9110 11.4: credentials = auth-scheme
 * [ 1*SP token68 ], the scheme case-insensitive; RFC 7617: token68 is the
 * base64 of user-id ":" password.  Returns the decoded length or
 * GH_DECLINED.
 */
static ssize_t
auth_parse(const char *v, size_t len, unsigned char *out)
{
    size_t i = 0, end = len;

    if (v == NULL)
        return GH_DECLINED;
    while (i < end && (v[i] == ' ' || v[i] == '\t'))
        i++;
    while (end > i && (v[end - 1] == ' ' || v[end - 1] == '\t'))
        end--;
    if (end - i < 7 || strncasecmp(v + i, "Basic", 5) != 0
        || v[i + 5] != ' ')
        return GH_DECLINED;
    i += 5;
    while (i < end && v[i] == ' ')
        i++;
    return auth_b64_decode(v + i, end - i, out, GH_AUTH_CRED_MAX);
}

static const struct htpasswd_user *
auth_find(const struct gh_htpasswd *pw, const char *name, size_t len)
{
    size_t lo = 0, hi = pw->n;

    while (lo < hi) {
        size_t                      mid = lo + (hi - lo) / 2;
        const struct htpasswd_user *u = &pw->users[mid];
        int                         c;

        c = memcmp(name, u->name, GH_MIN(len, u->namelen));
        if (c == 0)
            c = (len > u->namelen) - (len < u->namelen);
        if (c == 0)
            return u;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* The cache key of (NAME, PASS) in KEY; GH_ERR (no caching) on failure. */
static int
auth_cache_key(struct gh_htpasswd *pw, const char *name, size_t namelen,
               const char *pass, size_t passlen, uint8_t *key)
{
    unsigned int n = 0;
    pid_t        pid = getpid();

    if (auth_md == NULL
        && (auth_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        return GH_ERR;
    if (auth_mdctx == NULL && (auth_mdctx = EVP_MD_CTX_new()) == NULL)
        return GH_ERR;
    if (pw->salt_pid != pid) {
        /* A new process: entries salted by another one are useless. */
        OPENSSL_cleanse(pw->cache, sizeof(pw->cache));
        pw->tick = 0;
        if (RAND_bytes(pw->salt, sizeof(pw->salt)) != 1)
            return GH_ERR;
        pw->salt_pid = pid;
    }
    /* User names hold no ':', so "user:password" is unambiguous. */
    if (EVP_DigestInit_ex2(auth_mdctx, auth_md, NULL) != 1
        || EVP_DigestUpdate(auth_mdctx, pw->salt, sizeof(pw->salt)) != 1
        || EVP_DigestUpdate(auth_mdctx, name, namelen) != 1
        || EVP_DigestUpdate(auth_mdctx, ":", 1) != 1
        || EVP_DigestUpdate(auth_mdctx, pass, passlen) != 1
        || EVP_DigestFinal_ex(auth_mdctx, key, &n) != 1
        || n != AUTH_KEY_LEN)
        return GH_ERR;
    return GH_OK;
}

/* The cached user for KEY, or NULL.  Looks at every slot, whatever. */
static const struct htpasswd_user *
auth_cache_get(struct gh_htpasswd *pw, const uint8_t *key)
{
    struct auth_cache_ent *hit = NULL;

    for (size_t i = 0; i < GH_AUTH_CACHE; i++) {
        struct auth_cache_ent *e = &pw->cache[i];

        if (e->used && CRYPTO_memcmp(e->key, key, AUTH_KEY_LEN) == 0)
            hit = e;
    }
    if (hit == NULL || hit->user >= pw->n)
        return NULL;
    hit->used = ++pw->tick;
    return &pw->users[hit->user];
}

/* Remember a success: an empty slot, else the least recently used. */
static void
auth_cache_put(struct gh_htpasswd *pw, const uint8_t *key,
               const struct htpasswd_user *u)
{
    struct auth_cache_ent *victim = &pw->cache[0];

    for (size_t i = 0; i < GH_AUTH_CACHE; i++) {
        if (pw->cache[i].used < victim->used)
            victim = &pw->cache[i];
        if (victim->used == 0)
            break;
    }
    memcpy(victim->key, key, AUTH_KEY_LEN);
    victim->user = (uint32_t) (u - pw->users);
    victim->used = ++pw->tick;
}

/* crypt_r() in the per-process state, counted. */
static const char *
auth_crypt(const char *pass, const char *setting)
{
    auth_crypts++;
    return crypt_r(pass, setting, &auth_cd);
}

int
gh_auth_basic_check(struct gh_htpasswd *pw, const char *value, size_t len,
                    const char **user, size_t *userlen)
{
    unsigned char               cred[GH_AUTH_CRED_MAX + 1];
    uint8_t                     key[AUTH_KEY_LEN];
    const struct htpasswd_user *u, *found = NULL;
    const char                 *name, *pass, *out;
    size_t                      namelen, passlen;
    ssize_t                     n;
    int                         cached;
    unsigned char              *colon;

    assert(pw != NULL && pw->magic == HTPASSWD_MAGIC);
    n = auth_parse(value, len, cred);
    if (n < 0)
        goto done;
    /* A NUL would end the password early for crypt_r(): "pw\0junk"
     * must not pass as "pw".  (RFC 7617 excludes every control character
     * from user-id and password; the others are harmless, and a stored
     * user name holds none, so only NUL is refused here.) */
    if (memchr(cred, '\0', (size_t) n) != NULL
        || (colon = memchr(cred, ':', (size_t) n)) == NULL)
        goto done;
    cred[n] = '\0';
    name = (const char *) cred;
    namelen = (size_t) (colon - cred);
    pass = (const char *) colon + 1;
    passlen = (size_t) n - namelen - 1;
    if (passlen == 0 || namelen == 0)
        goto done;

    cached = auth_cache_key(pw, name, namelen, pass, passlen, key) == GH_OK;
    if (cached && (u = auth_cache_get(pw, key)) != NULL
        && u->namelen == namelen && memcmp(u->name, name, namelen) == 0) {
        auth_hits++;
        found = u;
        goto done;
    }

    /* An unknown user pays one crypt_r() too, on the first line's setting
     * (same format and cost), and its result is thrown away. */
    u = auth_find(pw, name, namelen);
    out = auth_crypt(pass, u ? u->hash : pw->dummy);
    /* libxcrypt fails with NULL or a "*0"/"*1" token, never a match. */
    if (u && out && strlen(out) == u->hashlen
        && CRYPTO_memcmp(out, u->hash, u->hashlen) == 0) {
        found = u;
        if (cached)
            auth_cache_put(pw, key, u);
    }
    /* Its scratch held password-derived state; zero is also the state
     * crypt_r() expects of a fresh crypt_data. */
    OPENSSL_cleanse(&auth_cd, sizeof(auth_cd));

done:
    OPENSSL_cleanse(cred, sizeof(cred));
    OPENSSL_cleanse(key, sizeof(key));
    if (found == NULL)
        return GH_DECLINED;
    if (user)
        *user = found->name;
    if (userlen)
        *userlen = found->namelen;
    return GH_OK;
}

uint64_t
gh_auth_cache_hits(void)
{
    return auth_hits;
}

uint64_t
gh_auth_crypt_runs(void)
{
    return auth_crypts;
}
