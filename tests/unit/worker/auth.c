/*
 * worker/auth.c: htpasswd loading (accepted formats, every refusal with its
 * file and line), Authorization parsing, verification and the success
 * cache.  Hashes are made here with libxcrypt, in a mkdtemp() directory.
 */

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tests/unit/tap.h"
#include "worker/auth.h"
#include "worker/core/gh.h"

static char tmp[] = "/tmp/gh-test-auth.XXXXXX";
static char files[64][32];      /* names made in tmp, for the cleanup */
static int  nfiles;
static char err[2048];
static struct crypt_data cd;    /* ours; the module has its own */

/* A hash of PASS in the format of PREFIX (COST 0: the default). */
static char *
mkhash(const char *prefix, unsigned long cost, const char *pass)
{
    char  setting[CRYPT_GENSALT_OUTPUT_SIZE];
    char *h;

    if (crypt_gensalt_rn(prefix, cost, NULL, 0, setting,
                         (int) sizeof(setting)) == NULL
        || (h = crypt_r(pass, setting, &cd)) == NULL || h[0] == '*') {
        printf("Bail out! cannot make a %s hash\n", prefix);
        exit(255);
    }
    return strdup(h);
}

/* Write LEN bytes of DATA to the file NAME in tmp; its path in a static
 * buffer (one per call, 8 in turn). */
static const char *
mkfile(const char *name, const char *data, size_t len)
{
    static char path[8][PATH_MAX];
    static int  turn;
    char       *p = path[turn++ % 8];
    FILE       *f;

    (void) snprintf(p, PATH_MAX, "%s/%s", tmp, name);
    if ((f = fopen(p, "w")) == NULL || fwrite(data, 1, len, f) != len
        || fclose(f) != 0) {
        printf("Bail out! %s: %s\n", p, strerror(errno));
        exit(255);
    }
    for (int i = 0; i < nfiles; i++)
        if (strcmp(files[i], name) == 0)
            return p;
    (void) snprintf(files[nfiles++], sizeof(files[0]), "%s", name);
    return p;
}

static const char *
mkfile_str(const char *name, const char *data)
{
    return mkfile(name, data, strlen(data));
}

/* "Basic " + base64("USER:PASS"), padded or not. */
static const char *
basic_pad(const char *user, const char *pass, int pad)
{
    static char   out[4096];
    unsigned char in[2048];
    size_t        n;
    int           len;

    n = (size_t) snprintf((char *) in, sizeof(in), "%s:%s", user, pass);
    memcpy(out, "Basic ", 6);
    len = EVP_EncodeBlock((unsigned char *) out + 6, in, (int) n);
    if (!pad)
        while (len > 0 && out[6 + len - 1] == '=')
            len--;
    out[6 + len] = '\0';
    return out;
}

static const char *
basic(const char *user, const char *pass)
{
    return basic_pad(user, pass, 1);
}

/* "Basic " + base64 of LEN raw bytes (NULs allowed). */
static const char *
basic_raw(const char *raw, size_t len)
{
    static char out[4096];
    int         n;

    memcpy(out, "Basic ", 6);
    n = EVP_EncodeBlock((unsigned char *) out + 6,
                        (const unsigned char *) raw, (int) len);
    out[6 + n] = '\0';
    return out;
}

static const char *got_user;
static size_t      got_len;

static int
check(struct gh_htpasswd *pw, const char *value)
{
    got_user = NULL;
    got_len = 0;
    return gh_auth_basic_check(pw, value, value ? strlen(value) : 0,
                               &got_user, &got_len);
}

static struct gh_htpasswd *
load(const char *path)
{
    err[0] = '\0';
    return gh_htpasswd_load(path, err, sizeof(err));
}

/*
 * Load CONTENT (LEN bytes) as file NAME: it must be refused with the
 * message "<path>WANT" exactly, or, with PREFIX, starting so.
 */
static void
refused_full(const char *name, const char *content, size_t len,
             const char *want, int prefix, const char *what)
{
    const char         *path = mkfile(name, content, len);
    struct gh_htpasswd *pw = load(path);
    size_t              plen = strlen(path);
    int                 good;

    good = pw == NULL && strncmp(err, path, plen) == 0
           && (prefix ? strncmp(err + plen, want, strlen(want)) == 0
                      : strcmp(err + plen, want) == 0);
    if (!ok(good, "%s refused", what)) {
        diag("got:  %s", err);
        diag("want: %s%s%s", path, want, prefix ? "..." : "");
    }
    gh_htpasswd_free(pw);
}

#define refused(name, content, want, what) \
    refused_full(name, content, strlen(content), want, 0, what)
#define refused_prefix(name, content, want, what) \
    refused_full(name, content, strlen(content), want, 1, what)

static double
clock_us(clockid_t id)
{
    struct timespec ts;

    (void) clock_gettime(id, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static double
now_us(void)
{
    return clock_us(CLOCK_MONOTONIC);
}

/* CPU time: what a verification costs, whatever else the machine runs. */
static double
cpu_us(void)
{
    return clock_us(CLOCK_PROCESS_CPUTIME_ID);
}

/* Hashes made once. */
static char *h_bc4, *h_bc4y, *h_bc4a, *h_sha512, *h_sha256, *h_yes, *h_scr,
            *h_gy, *h_colon;

static void
test_formats(void)
{
    char                buf[4096];
    struct gh_htpasswd *pw;
    const char         *path;
    uint64_t            runs;

    /* Comments, blank lines, CRLF, trailing blanks, no final newline. */
    (void) snprintf(buf, sizeof(buf),
                    "# staff\n"
                    "\n"
                    "alice:%s\r\n"
                    "   \t\n"
                    "  # indented comment\n"
                    "bob:%s  \n"
                    "carol:%s\t\r\n"
                    "dave:%s\n"
                    "erin:%s\n"
                    "frank:%s\n"
                    "grace:%s\n"
                    "heidi:%s\n"
                    "ivan:%s\n"
                    "j\xc3\xa9r\xc3\xb4me:%s",
                    h_bc4, h_sha512, h_yes, h_bc4y, h_bc4a, h_sha256, h_scr,
                    h_gy, h_colon, h_bc4);
    path = mkfile_str("good", buf);
    pw = load(path);
    if (!ok(pw != NULL, "good file loads")) {
        diag("%s", err);
        exit(1);
    }
    is_int(gh_htpasswd_count(pw), 10, "10 users");

    subtest("right password accepted, for each format") {
        static const struct {
            const char *user, *pass, *fmt;
        } t[] = {
            { "alice", "alice-pw", "bcrypt $2b$ cost 4" },
            { "bob", "bob-pw", "sha512-crypt" },
            { "carol", "carol-pw", "yescrypt" },
            { "dave", "dave-pw", "bcrypt $2y$" },
            { "erin", "erin-pw", "bcrypt $2a$" },
            { "frank", "frank-pw", "sha256-crypt" },
            { "grace", "grace-pw", "scrypt" },
            { "heidi", "heidi-pw", "gost-yescrypt" },
            { "ivan", "pa:ss w\xc3\xb6rd", "a ':' and UTF-8 in a password" },
            { "j\xc3\xa9r\xc3\xb4me", "alice-pw", "UTF-8 user name" },
        };

        for (size_t i = 0; i < GH_NELEM(t); i++) {
            is_int(check(pw, basic(t[i].user, t[i].pass)), GH_OK,
                   "%s: %s", t[i].user, t[i].fmt);
            is_str(got_user, t[i].user, "  *user is the name (row %zu)", i);
            is_int(got_len, strlen(t[i].user), "  *userlen");
        }
    }

    subtest("wrong credentials declined") {
        is_int(check(pw, basic("alice", "alice-pX")), GH_DECLINED,
               "wrong password (bcrypt)");
        ok(got_user == NULL, "  *user untouched");
        is_int(check(pw, basic("bob", "alice-pw")), GH_DECLINED,
               "another user's password (sha512)");
        is_int(check(pw, basic("carol", "carol-pw ")), GH_DECLINED,
               "password with a trailing space (yescrypt)");
        is_int(check(pw, basic("alice", "alice-p")), GH_DECLINED,
               "password prefix");
        is_int(check(pw, basic("Alice", "alice-pw")), GH_DECLINED,
               "user name in another case");
        is_int(check(pw, basic("alice ", "alice-pw")), GH_DECLINED,
               "user name with a trailing space");
        is_int(check(pw, basic("", "alice-pw")), GH_DECLINED,
               "empty user name");

        runs = gh_auth_crypt_runs();
        is_int(check(pw, basic("mallory", "alice-pw")), GH_DECLINED,
               "unknown user, with a password that is in the file");
        is_int(gh_auth_crypt_runs() - runs, 1,
               "  an unknown user still costs one crypt_r()");

        runs = gh_auth_crypt_runs();
        is_int(check(pw, basic("alice", "")), GH_DECLINED, "empty password");
        is_int(check(pw, basic("mallory", "")), GH_DECLINED,
               "empty password, unknown user");
        is_int(gh_auth_crypt_runs() - runs, 0,
               "  an empty password is refused before crypt_r()");
    }

    subtest("Authorization syntax accepted") {
        char v[4200];       /* basic() gives up to 4095 bytes */

        (void) snprintf(v, sizeof(v), "basic %s", basic("alice", "alice-pw")
                        + 6);
        is_int(check(pw, v), GH_OK, "\"basic\"");
        (void) snprintf(v, sizeof(v), "BASIC %s", basic("alice", "alice-pw")
                        + 6);
        is_int(check(pw, v), GH_OK, "\"BASIC\"");
        (void) snprintf(v, sizeof(v), "Basic    %s",
                        basic("alice", "alice-pw") + 6);
        is_int(check(pw, v), GH_OK, "several spaces after the scheme");
        (void) snprintf(v, sizeof(v), " \tBasic %s \t",
                        basic("alice", "alice-pw") + 6);
        is_int(check(pw, v), GH_OK, "blanks around the value");
        /* "bob:bob-pw" is 10 bytes: base64 ends in "==". */
        is_int(check(pw, basic_pad("bob", "bob-pw", 0)), GH_OK,
               "padding omitted (two '=')");
        is_int(check(pw, basic_pad("alice", "alice-pw1", 0)), GH_DECLINED,
               "(wrong password, unpadded: declined)");
        /* "carol:carol-pw" is 14 bytes: one '='. */
        is_int(check(pw, basic_pad("carol", "carol-pw", 0)), GH_OK,
               "padding omitted (one '=')");
        is_int(check(pw, basic_pad("carol", "carol-pw", 1)), GH_OK,
               "padding present (one '=')");
        {
            /* The value is a slice: bytes after LEN are not read. */
            const char *b = basic("alice", "alice-pw");

            (void) snprintf(v, sizeof(v), "%sGARBAGE", b);
            is_int(gh_auth_basic_check(pw, v, strlen(b), NULL, NULL), GH_OK,
                   "only LEN bytes read; NULL user/userlen fine");
        }
    }

    subtest("malformed Authorization declined, no crypt_r()") {
        static char big[10 * 1024 + 16];
        char        v[4200];
        const char *b = basic("bob", "bob-pw");   /* "Ym9iOmJvYi1wdw==" */

        runs = gh_auth_crypt_runs();
        is_int(check(pw, NULL), GH_DECLINED, "no header (NULL, 0)");
        is_int(check(pw, ""), GH_DECLINED, "empty value");
        is_int(check(pw, "      "), GH_DECLINED, "only spaces");
        is_int(check(pw, "Basic"), GH_DECLINED, "\"Basic\" alone");
        is_int(check(pw, "Basic "), GH_DECLINED, "\"Basic \"");
        is_int(check(pw, "Basic      "), GH_DECLINED, "\"Basic\" + spaces");
        is_int(check(pw, b + 6), GH_DECLINED, "no scheme");
        (void) snprintf(v, sizeof(v), "Bearer %s", b + 6);
        is_int(check(pw, v), GH_DECLINED, "\"Bearer\" scheme");
        is_int(check(pw, "Bearer x"), GH_DECLINED, "\"Bearer x\"");
        (void) snprintf(v, sizeof(v), "Basics %s", b + 6);
        is_int(check(pw, v), GH_DECLINED, "\"Basics\" scheme");
        (void) snprintf(v, sizeof(v), "Basic\t%s", b + 6);
        is_int(check(pw, v), GH_DECLINED, "tab after the scheme");
        (void) snprintf(v, sizeof(v), "Basic%s", b + 6);
        is_int(check(pw, v), GH_DECLINED, "no space after the scheme");
        is_int(check(pw, "Basic Ym9iOmJv*Yi1wdw=="), GH_DECLINED,
               "'*' in the base64");
        is_int(check(pw, "Basic Ym9iOmJv Yi1wdw=="), GH_DECLINED,
               "space inside the base64");
        is_int(check(pw, "Basic Ym9iOmJvYi1wdw-_"), GH_DECLINED,
               "base64url alphabet");
        is_int(check(pw, "Basic Ym9iOmJvYi1wdw="), GH_DECLINED,
               "one '=' where two are due");
        is_int(check(pw, "Basic Ym9iOmJvYi1wdw==="), GH_DECLINED,
               "three '='");
        is_int(check(pw, "Basic Ym9iOmJvYi1wd==="), GH_DECLINED,
               "length 1 mod 4 with padding");
        is_int(check(pw, "Basic Ym9iOmJvYi1wd"), GH_DECLINED,
               "length 1 mod 4, truncated");
        is_int(check(pw, "Basic Ym9iOmJvYi1wdx=="), GH_DECLINED,
               "non-zero pad bits (non-canonical)");
        is_int(check(pw, "Basic Ym9i=OmJvYi1wdw=="), GH_DECLINED,
               "'=' in the middle");
        is_int(check(pw, "Basic ===="), GH_DECLINED, "only padding");
        is_int(check(pw, basic_raw("bobbob-pw", 9)), GH_DECLINED,
               "no ':'");
        is_int(check(pw, basic_raw("bob:bob-pw\0", 11)), GH_DECLINED,
               "NUL after the password");
        is_int(check(pw, basic_raw("bob:bob-pw\0xyz", 14)), GH_DECLINED,
               "NUL then more bytes after the password");
        is_int(check(pw, basic_raw("bob\0:bob-pw", 11)), GH_DECLINED,
               "NUL in the user name");
        {
            char nul[64];
            int  n = snprintf(nul, sizeof(nul), "%s", b);

            nul[8] = '\0';          /* inside the base64, within LEN */
            is_int(gh_auth_basic_check(pw, nul, (size_t) n, NULL, NULL),
                   GH_DECLINED, "NUL byte in the header value");
        }
        memset(big, 'A', sizeof(big) - 1);
        memcpy(big, "Basic ", 6);
        is_int(check(pw, big), GH_DECLINED, "Basic + 10 KiB of 'A'");
        memset(big, 'A', sizeof(big) - 1);
        is_int(check(pw, big), GH_DECLINED, "10 KiB of 'A'");
        {
            /* The longest allowed decoded value, then one byte more. */
            char cred[GH_AUTH_CRED_MAX + 2];

            memset(cred, 'x', sizeof(cred));
            memcpy(cred, "bob:", 4);
            is_int(check(pw, basic_raw(cred, GH_AUTH_CRED_MAX + 1)),
                   GH_DECLINED, "%d decoded bytes", GH_AUTH_CRED_MAX + 1);
        }
        is_int(gh_auth_crypt_runs() - runs, 0, "none of these ran crypt_r()");
        {
            char cred[GH_AUTH_CRED_MAX + 1];

            memset(cred, 'x', sizeof(cred));
            memcpy(cred, "bob:", 4);
            runs = gh_auth_crypt_runs();
            is_int(check(pw, basic_raw(cred, GH_AUTH_CRED_MAX)), GH_DECLINED,
                   "%d decoded bytes: parsed, wrong password",
                   GH_AUTH_CRED_MAX);
            is_int(gh_auth_crypt_runs() - runs, 1, "  (it reached crypt_r())");
        }
        {
            /* Every byte value after the scheme: no crash, no success. */
            int bad = 0;

            for (int c = 0; c < 256; c++) {
                char w[64];
                int  n;

                if (c == '=')       /* would make the right value */
                    continue;
                n = snprintf(w, sizeof(w), "Basic Ym9iOmJvYi1wdw%c=",
                             c ? c : 'A');

                if (c == 0)
                    w[n - 2] = '\0';
                if (gh_auth_basic_check(pw, w, (size_t) n, NULL, NULL)
                    == GH_OK)
                    bad++;
            }
            is_int(bad, 0, "255 one-byte corruptions declined");
        }
        {
            /* Random values, half of them base64 after "Basic ". */
            static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "abcdefghijklmnopqrstuvwxyz0123456789+/=";
            uint32_t          x = 2463534242u;
            char              w[600];
            int               bad = 0;

            for (int i = 0; i < 2000; i++) {
                size_t n, j = 0;

#define XS() (x ^= x << 13, x ^= x >> 17, x ^= x << 5, x)
                n = XS() % sizeof(w);
                if (i % 2 && n >= 6) {
                    memcpy(w, "Basic ", 6);
                    for (j = 6; j < n; j++)
                        w[j] = b64[XS() % (sizeof(b64) - 1)];
                }
                for (; j < n; j++)
                    w[j] = (char) XS();
#undef XS
                if (gh_auth_basic_check(pw, w, n, NULL, NULL) == GH_OK)
                    bad++;
            }
            is_int(bad, 0, "2000 random values declined");
        }
    }
    gh_htpasswd_free(pw);
}

static void
test_load_errors(void)
{
    char buf[8192];
    char want[PATH_MAX + 512];
    char *p;

    subtest("file-level errors") {
        char  path[PATH_MAX];
        FILE *f;

        (void) snprintf(path, sizeof(path), "%s/missing", tmp);
        ok(load(path) == NULL, "missing file refused");
        (void) snprintf(want, sizeof(want),
                        "%s: No such file or directory", path);
        is_str(err, want, "  message");

        ok(load(tmp) == NULL, "directory refused");
        (void) snprintf(want, sizeof(want), "%s: is a directory", tmp);
        is_str(err, want, "  message");

        (void) snprintf(path, sizeof(path), "%s/fifo", tmp);
        if (mkfifo(path, 0600) == 0) {
            (void) snprintf(files[nfiles++], sizeof(files[0]), "fifo");
            ok(load(path) == NULL, "FIFO refused (and did not hang)");
            (void) snprintf(want, sizeof(want), "%s: not a regular file",
                            path);
            is_str(err, want, "  message");
        }

        ok(load("/dev/null") == NULL, "device refused");
        is_str(err, "/dev/null: not a regular file", "  message");

        refused("empty", "", ": no users", "empty file");
        refused("comments", "# a\n\n  # b\r\n\t\n", ": no users",
                "only comments and blank lines");

        /* Sparse: over the limit without writing 16 MiB. */
        (void) mkfile_str("big", "");
        (void) snprintf(path, sizeof(path), "%s/big", tmp);
        if (truncate(path, GH_HTPASSWD_SIZE_MAX + 1) == -1)
            diag("truncate: %s", strerror(errno));
        ok(load(path) == NULL, "file over 16 MiB refused");
        (void) snprintf(want, sizeof(want), "%s: larger than 16 MiB", path);
        is_str(err, want, "  message");

        /* Exactly at the limit is read (the rest are comments). */
        if ((f = fopen(path, "w")) != NULL) {
            size_t left = GH_HTPASSWD_SIZE_MAX, n;

            n = (size_t) fprintf(f, "alice:%s\n", h_bc4);
            left -= n;
            /* Lines of 1000 bytes, 8 a write. */
            memset(buf, '#', 8000);
            for (size_t i = 1000; i <= 8000; i += 1000)
                buf[i - 1] = '\n';
            while (left > 0) {
                n = GH_MIN(left, (size_t) 8000);
                if (fwrite(buf, 1, n, f) != n)
                    break;
                left -= n;
            }
            (void) fclose(f);
            {
                struct gh_htpasswd *pw = load(path);

                ok(pw != NULL, "file of exactly 16 MiB loads");
                if (pw == NULL)
                    diag("%s", err);
                gh_htpasswd_free(pw);
            }
        }
        (void) unlink(path);

        /* Unreadable: as root, open it as nobody in a child. */
        (void) snprintf(path, sizeof(path), "%s",
                        mkfile_str("secret", "alice:x\n"));
        (void) chmod(path, 0);
        if (geteuid() == 0) {
            int   fds[2];
            pid_t pid;

            if (pipe(fds) == 0 && chmod(tmp, 0711) == 0
                && (pid = fork()) == 0) {
                (void) close(fds[0]);
                if (setgid(65534) == 0 && setuid(65534) == 0)
                    (void) load(path);
                else
                    (void) snprintf(err, sizeof(err), "setuid failed");
                (void) !write(fds[1], err, strlen(err) + 1);
                _exit(0);
            }
            (void) close(fds[1]);
            memset(err, 0, sizeof(err));
            (void) !read(fds[0], err, sizeof(err) - 1);
            (void) close(fds[0]);
            (void) waitpid(-1, NULL, 0);
            (void) chmod(tmp, 0700);
        } else {
            (void) load(path);
        }
        (void) snprintf(want, sizeof(want), "%s: Permission denied", path);
        is_str(err, want, "unreadable file refused");
    }

    subtest("line-level errors name the line") {
        (void) snprintf(buf, sizeof(buf), "# x\nalice:%s\nb@b:%s\n", h_bc4,
                        h_bc4);
        *strchr(buf, '@') = '\0';
        refused_full("nul", buf, strlen(h_bc4) * 2 + 20, ":3: NUL byte in "
                     "the file", 0, "NUL byte");

        memset(buf, 0, sizeof(buf));
        (void) snprintf(buf, sizeof(buf), "alice:%s\n", h_bc4);
        p = buf + strlen(buf);
        memcpy(p, "bob:", 4);
        memset(p + 4, 'x', GH_HTPASSWD_LINE_MAX - 3);   /* 1025 bytes */
        refused("long", buf, ":2: line longer than 1024 bytes",
                "line of 1025 bytes");
        /* 1024 bytes + CRLF is not too long: refused for its hash. */
        memcpy(p + GH_HTPASSWD_LINE_MAX, "\r\n", 3);
        refused_prefix("long2", buf, ":2: user \"bob\": not a crypt hash",
                       "line of 1024 bytes + CRLF: length fine");

        refused("nocolon", "# c\r\nalice\r\n", ":2: not \"user:hash\" "
                "(no ':')", "line without ':'");

        (void) snprintf(buf, sizeof(buf), "alice:%s\n:%s\n", h_bc4, h_bc4);
        refused("emptyuser", buf, ":2: user \"\": empty user name",
                "empty user name");
        (void) snprintf(buf, sizeof(buf), "al\001ice:%s\n", h_bc4);
        refused("ctl", buf, ":1: user \"al\\x01ice\": control character in "
                "the user name", "control byte in a user name");
        (void) snprintf(buf, sizeof(buf), "al\x7f" "ice:%s\n", h_bc4);
        refused("del", buf, ":1: user \"al\\x7fice\": control character in "
                "the user name", "DEL in a user name");
        (void) snprintf(buf, sizeof(buf), "al\rice:%s\r\n", h_bc4);
        refused("cr", buf, ":1: user \"al\\x0dice\": control character in "
                "the user name", "CR inside a user name");
        (void) snprintf(buf, sizeof(buf), " alice:%s\n", h_bc4);
        refused("lead", buf, ":1: user \" alice\": blank at the start or "
                "end of the user name", "leading blank in a user name");
        (void) snprintf(buf, sizeof(buf), "alice\t:%s\n", h_bc4);
        refused("trail", buf, ":1: user \"alice\\x09\": blank at the start "
                "or end of the user name", "tab before ':'");
        (void) snprintf(buf, sizeof(buf), "alice :%s\n", h_bc4);
        refused("trail2", buf, ":1: user \"alice \": blank at the start or "
                "end of the user name", "space before ':'");
        memset(buf, 'u', 256);
        (void) snprintf(buf + 256, sizeof(buf) - 256, ":%s\n", h_bc4);
        memcpy(want, ":1: user \"", 10);
        memset(want + 10, 'u', 64);
        (void) snprintf(want + 74, sizeof(want) - 74, "...\": user name "
                        "longer than 255 bytes");
        refused("longuser", buf, want, "256-byte user name");
        memset(buf, 'u', 255);
        (void) snprintf(buf + 255, sizeof(buf) - 255, ":%s\n", h_bc4);
        {
            struct gh_htpasswd *pw = load(mkfile_str("user255", buf));

            ok(pw != NULL, "255-byte user name loads");
            gh_htpasswd_free(pw);
        }
        (void) snprintf(buf, sizeof(buf), "a:b:%s\n", h_bc4);
        refused("colon2", buf, ":1: user \"a\": a second ':' on the line (a "
                "user name cannot hold ':', nor can a hash)",
                "':' in a user name");
        (void) snprintf(buf, sizeof(buf), "alice:%s\nbob:%s\r\n# c\n\n"
                        "alice:%s\nbob:%s\n", h_bc4, h_sha512, h_sha512,
                        h_bc4);
        refused("dup", buf, ":5: user \"alice\": listed twice (first on "
                "line 1)", "duplicate user (the first one reported)");
        (void) snprintf(buf, sizeof(buf), "zed:%s\nalice:%s\nzed:%s\n"
                        "zed:%s\n", h_bc4, h_bc4, h_bc4, h_bc4);
        refused("dup3", buf, ":3: user \"zed\": listed twice (first on "
                "line 1)", "three times: the second line named");
    }

    subtest("weak and unknown hashes refused, with the way out") {
        static const struct {
            const char *hash, *want, *what;
        } t[] = {
            { "$apr1$Zr7xIumf$R7FyAU2lDmUjgDwlv0k.i/",
              "MD5 ($apr1$) hashes are refused: fast to brute-force",
              "Apache MD5 $apr1$" },
            { "$1$qHU.LV1T$YsqkZQ.ZrCxWMNeqPqIIe0",
              "MD5-crypt ($1$) hashes are refused: fast to brute-force",
              "MD5-crypt $1$" },
            { "6vUqBXQcHAimQ",
              "DES crypt hashes are refused: 8-byte passwords, fast to "
              "brute-force", "DES (13 characters)" },
            { "_J9..X6COfNLV6W20.Eo",
              "BSDi extended DES hashes are refused: fast to brute-force",
              "BSDi DES" },
            { "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=",
              "{SHA} hashes are refused: unsalted SHA-1", "{SHA}" },
            { "hunter2",
              "not a crypt hash (a plaintext password?)", "plaintext" },
            { "correct horse battery staple",
              "not a crypt hash (a plaintext password?)",
              "plaintext with spaces" },
            { "", "empty hash", "empty hash" },
            { "$sha1$253800$0VlpU3VWck0rKBHo9JoR$ZJcdihFMd9G7fQa3N.g9u87la4hn",
              "weak legacy hash format \"$sha1$\"", "$sha1$" },
            { "$2x$05$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              "weak legacy hash format \"$2x$\"", "bcrypt $2x$" },
            { "$md5,rounds=90861$8ipBYhRk$$90TKGrASTcz3HLl0HffVU0",
              "weak legacy hash format; accepted", "SunMD5" },
            { "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
              "unknown hash format \"$argon2id$\"", "argon2id" },
            { "$zz", "unknown hash format; accepted", "\"$zz\"" },
            { "$Secret$pw", "unknown hash format; accepted",
              "'$' + capitals: not quoted (may be a password)" },
        };

        for (size_t i = 0; i < GH_NELEM(t); i++) {
            const char         *path;
            struct gh_htpasswd *pw;

            (void) snprintf(buf, sizeof(buf), "# x\nbob:%s\n", t[i].hash);
            path = mkfile_str("weak", buf);
            pw = load(path);
            (void) snprintf(want, sizeof(want), "%s:2: user \"bob\": %s",
                            path, t[i].want);
            if (!ok(pw == NULL && strncmp(err, want, strlen(want)) == 0,
                    "%s refused", t[i].what)) {
                diag("got:  %s", err);
                diag("want: %s...", want);
            }
            ok(strstr(err, "; accepted: bcrypt ($2b$ $2y$ $2a$), ") != NULL
               && strstr(err, "sha512-crypt ($6$)") != NULL
               && strstr(err, "; make one with `htpasswd -B FILE USER` "
                         "(bcrypt) or `mkpasswd -m bcrypt` / `mkpasswd -m "
                         "sha-512`") != NULL,
               "  says what is accepted and how to make one");
            if (strlen(t[i].hash) > 4 && t[i].hash[0] != '$')
                ok(strstr(err, t[i].hash) == NULL,
                   "  does not quote the hash (it may be a password)");
            gh_htpasswd_free(pw);
        }
        diag("%s", err);
    }

    subtest("malformed accepted-format hashes refused") {
        static const struct {
            const char *hash, *want, *what;
        } t[] = {
            { "$2b$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              "malformed bcrypt hash: 52 characters after the last '$', "
              "not 53 (truncated?)", "truncated bcrypt" },
            { "$2b$04$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa*a",
              "malformed bcrypt hash: byte 59 is not in the crypt alphabet",
              "bcrypt with a '*'" },
            { "$2b$99$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              "malformed bcrypt hash: cost 99 is not in 04..31",
              "bcrypt cost 99" },
            { "$2b$03$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              "malformed bcrypt hash: cost 03 is not in 04..31",
              "bcrypt cost 3" },
            { "$2b$4$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              "malformed bcrypt hash: not \"$2b$NN$\" and 53 characters",
              "bcrypt one-digit cost" },
            { "$6$rounds=10$abcdefgh$"
              "cb2/719WGbLYylPsheT5wTO6c.PDYVqZpoiEHVFTLEUDp7AkcZj6XBOdnLCFA"
              "VqQNdDPnT4rms43kATMFnICP1",
              "malformed sha512-crypt hash: rounds= must be 1000..999999999",
              "sha512 rounds=10" },
            { "$6$abcdefghijklmnopq$"
              "cb2/719WGbLYylPsheT5wTO6c.PDYVqZpoiEHVFTLEUDp7AkcZj6XBOdnLCFA"
              "VqQNdDPnT4rms43kATMFnICP1",
              "malformed sha512-crypt hash: salt longer than 16 characters",
              "sha512 17-character salt" },
            { "$6$6ltBcL4EoBYGwq5z$cb2/719WGbLYylPsheT5wTO6c",
              "malformed sha512-crypt hash: 25 characters after the last "
              "'$', not 86", "truncated sha512" },
            { "$y$j9T$xmXmUlWrTytpcFfmY6hLB1$CxbK68P2S114B.z3ybIJIVCm2JtBSh"
              "wVMKwsN/..uN5 *",
              "malformed yescrypt hash: byte 74 is not in the crypt alphabet",
              "yescrypt then \" *\"" },
        };

        for (size_t i = 0; i < GH_NELEM(t); i++) {
            (void) snprintf(buf, sizeof(buf), "bob:%s\n", t[i].hash);
            (void) snprintf(want, sizeof(want), ":1: user \"bob\": %s",
                            t[i].want);
            refused_prefix("bad", buf, want, t[i].what);
        }
    }
}

static void
test_cache(void)
{
    char                buf[128 * 1024];
    char                user[32], pass[32];
    struct gh_htpasswd *pw, *pw2;
    const char         *path;
    char               *h10;
    uint64_t            hits, runs;
    double              t0, t1, t2;
    size_t              o = 0;
    enum { NU = GH_AUTH_CACHE + 2 };

    h10 = mkhash("$2b$", 10, "slow-pw");
    o += (size_t) snprintf(buf + o, sizeof(buf) - o, "slow:%s\n", h10);
    for (int i = 0; i < NU; i++) {
        char *h;

        (void) snprintf(pass, sizeof(pass), "pw-%d", i);
        h = mkhash("$2b$", 4, pass);
        o += (size_t) snprintf(buf + o, sizeof(buf) - o, "u%d:%s\n", i, h);
        free(h);
    }
    path = mkfile("cache", buf, o);
    pw = load(path);
    if (!ok(pw != NULL, "cache file loads")) {
        diag("%s", err);
        return;
    }

    subtest("a success is cached, a failure is not") {
        hits = gh_auth_cache_hits();
        runs = gh_auth_crypt_runs();
        t0 = now_us();
        is_int(check(pw, basic("slow", "slow-pw")), GH_OK,
               "bcrypt cost 10: OK");
        t1 = now_us();
        is_int(check(pw, basic("slow", "slow-pw")), GH_OK, "again: OK");
        t2 = now_us();
        is_str(got_user, "slow", "  *user from the cache");
        is_int(gh_auth_cache_hits() - hits, 1, "  the second was a hit");
        is_int(gh_auth_crypt_runs() - runs, 1, "  one crypt_r() in all");
        diag("bcrypt cost 10: first %.0f us, cached %.1f us", t1 - t0,
             t2 - t1);

        hits = gh_auth_cache_hits();
        runs = gh_auth_crypt_runs();
        is_int(check(pw, basic("slow", "slow-pX")), GH_DECLINED,
               "wrong password after a success: declined");
        is_int(check(pw, basic("slow", "slow-pX")), GH_DECLINED,
               "and again");
        is_int(check(pw, basic("Slow", "slow-pw")), GH_DECLINED,
               "cached password, user in another case: declined");
        is_int(check(pw, basic("u0", "slow-pw")), GH_DECLINED,
               "cached password, another user: declined");
        is_int(gh_auth_cache_hits() - hits, 0, "  no hits");
        is_int(gh_auth_crypt_runs() - runs, 4, "  four crypt_r()");
    }

    subtest("bounded, least recently used goes first") {
        char v[4200];
        int  bad = 0;

        /* slow is in; u0..u126 fill the other 127 slots. */
        for (int i = 0; i < GH_AUTH_CACHE - 1; i++) {
            (void) snprintf(user, sizeof(user), "u%d", i);
            (void) snprintf(pass, sizeof(pass), "pw-%d", i);
            bad += check(pw, basic(user, pass)) != GH_OK;
        }
        is_int(bad, 0, "%d more users OK", GH_AUTH_CACHE - 1);
        hits = gh_auth_cache_hits();
        runs = gh_auth_crypt_runs();
        is_int(check(pw, basic("slow", "slow-pw")), GH_OK, "slow again");
        is_int(check(pw, basic("u0", "pw-0")), GH_OK, "u0 again");
        is_int(gh_auth_cache_hits() - hits, 2, "  both hits: all fit");
        /* Now u1 is the least recently used. */
        is_int(check(pw, basic("u127", "pw-127")), GH_OK, "u127 (evicts)");
        is_int(check(pw, basic("u128", "pw-128")), GH_OK, "u128 (evicts)");
        hits = gh_auth_cache_hits();
        runs = gh_auth_crypt_runs();
        is_int(check(pw, basic("u0", "pw-0")), GH_OK, "u0");
        is_int(check(pw, basic("slow", "slow-pw")), GH_OK, "slow");
        is_int(gh_auth_cache_hits() - hits, 2,
               "  recently used ones kept");
        is_int(check(pw, basic("u1", "pw-1")), GH_OK, "u1");
        is_int(check(pw, basic("u2", "pw-2")), GH_OK, "u2");
        is_int(gh_auth_cache_hits() - hits, 2,
               "  the two least recently used were evicted");
        is_int(gh_auth_crypt_runs() - runs, 2, "  and ran crypt_r()");
        (void) snprintf(v, sizeof(v), "%s", basic("u1", "pw-1"));
        is_int(check(pw, v), GH_OK, "u1 again");
        is_int(gh_auth_cache_hits() - hits, 3, "  a hit now");
    }

    subtest("another process does not use the cache it inherits") {
        pid_t pid;
        int   st = -1;

        pid = fork();
        if (pid == 0) {
            uint64_t h = gh_auth_cache_hits(), r = gh_auth_crypt_runs();
            int      rc1 = check(pw, basic("u0", "pw-0"));
            int      rc2 = check(pw, basic("u0", "pw-0"));

            _exit(rc1 == GH_OK && rc2 == GH_OK
                  && gh_auth_crypt_runs() - r == 1
                  && gh_auth_cache_hits() - h == 1 ? 0 : 1);
        }
        (void) waitpid(pid, &st, 0);
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
           "child: miss, then its own hit");
        hits = gh_auth_cache_hits();
        is_int(check(pw, basic("u0", "pw-0")), GH_OK, "parent: u0");
        is_int(gh_auth_cache_hits() - hits, 1, "  still a hit here");
    }

    subtest("a reload (new object) starts with an empty cache") {
        pw2 = load(path);
        ok(pw2 != NULL, "loaded again");
        hits = gh_auth_cache_hits();
        runs = gh_auth_crypt_runs();
        t0 = now_us();
        is_int(check(pw2, basic("slow", "slow-pw")), GH_OK, "slow: OK");
        t1 = now_us();
        is_int(gh_auth_cache_hits() - hits, 0, "  not a hit");
        is_int(gh_auth_crypt_runs() - runs, 1, "  crypt_r() ran");
        is_int(check(pw2, basic("slow", "slow-pw")), GH_OK, "again");
        is_int(gh_auth_cache_hits() - hits, 1, "  now a hit");
        is_int(check(pw, basic("slow", "slow-pw")), GH_OK,
               "the old object keeps its own");
        gh_htpasswd_free(pw);
        pw = NULL;

        /* A changed password: the old one no longer works. */
        (void) snprintf(buf, sizeof(buf), "slow:%s\n", h_bc4);
        path = mkfile_str("cache", buf);
        pw = load(path);
        is_int(check(pw, basic("slow", "slow-pw")), GH_DECLINED,
               "after a reload with a new hash, the cached password fails");
        is_int(check(pw, basic("slow", "alice-pw")), GH_OK,
               "and the new one works");
        gh_htpasswd_free(pw2);
        diag("reload: first check %.0f us", t1 - t0);
    }
    gh_htpasswd_free(pw);
    free(h10);
}

/* CPU microseconds per verification, for the record (not asserted): a
 * wrong password (never cached), then a cache hit. */
static void
measure(void)
{
    static const struct {
        const char   *prefix;
        unsigned long cost;
        int           n;
        const char   *name;
    } t[] = {
        { "$2b$", 10, 5, "bcrypt cost 10" },
        { "$6$", 0, 20, "sha512-crypt default (5000 rounds)" },
        { "$5$", 0, 20, "sha256-crypt default (5000 rounds)" },
        { "$y$", 0, 3, "yescrypt default" },
        { "$7$", 0, 1, "scrypt default" },
    };
    char buf[512];

    for (size_t i = 0; i < GH_NELEM(t); i++) {
        char               *h = mkhash(t[i].prefix, t[i].cost, "pw");
        struct gh_htpasswd *pw;
        double              t0, t1;
        uint64_t            hits;

        (void) snprintf(buf, sizeof(buf), "m:%s\n", h);
        pw = load(mkfile_str("measure", buf));
        free(h);
        if (pw == NULL) {
            ok(0, "%s loads: %s", t[i].name, err);
            continue;
        }
        t0 = cpu_us();
        for (int j = 0; j < t[i].n; j++)
            (void) check(pw, basic("m", "wrong"));
        t1 = cpu_us();
        diag("%-36s %8.0f us per verification", t[i].name,
             (t1 - t0) / t[i].n);
        hits = gh_auth_cache_hits();
        if (i == 0 && check(pw, basic("m", "pw")) == GH_OK
            && check(pw, basic("m", "pw")) == GH_OK
            && gh_auth_cache_hits() == hits + 1) {
            t0 = cpu_us();
            for (int j = 0; j < 1000; j++)
                (void) check(pw, basic("m", "pw"));
            t1 = cpu_us();
            diag("%-36s %8.2f us per verification", "cache hit",
                 (t1 - t0) / 1000);
        }
        gh_htpasswd_free(pw);
    }
}

int
main(void)
{
    char p[PATH_MAX];

    if (mkdtemp(tmp) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 255;
    }
    h_bc4 = mkhash("$2b$", 4, "alice-pw");
    h_bc4y = mkhash("$2y$", 4, "dave-pw");
    h_bc4a = mkhash("$2a$", 4, "erin-pw");
    h_sha512 = mkhash("$6$", 0, "bob-pw");
    h_sha256 = mkhash("$5$", 0, "frank-pw");
    h_yes = mkhash("$y$", 0, "carol-pw");
    h_scr = mkhash("$7$", 0, "grace-pw");
    h_gy = mkhash("$gy$", 0, "heidi-pw");
    h_colon = mkhash("$2b$", 4, "pa:ss w\xc3\xb6rd");

    test_formats();
    test_load_errors();
    test_cache();
    measure();

    for (int i = 0; i < nfiles; i++) {
        (void) snprintf(p, sizeof(p), "%s/%s", tmp, files[i]);
        if (unlink(p) == -1 && errno != ENOENT)
            diag("cleanup: %s: %s", p, strerror(errno));
    }
    if (rmdir(tmp) == -1)
        diag("cleanup: %s: %s", tmp, strerror(errno));
    free(h_bc4);
    free(h_bc4y);
    free(h_bc4a);
    free(h_sha512);
    free(h_sha256);
    free(h_yes);
    free(h_scr);
    free(h_gy);
    free(h_colon);
    return done_testing();
}
