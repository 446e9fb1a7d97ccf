#ifndef GH_WORKER_AUTH_H
#define GH_WORKER_AUTH_H

/*
 * HTTP Basic authentication (RFC 7617) against an htpasswd file.
 *
 * The master loads the file when it reads the config (and again on every
 * reload), as root, before the workers drop privileges; a worker inherits
 * the loaded object by fork() and only verifies.
 *
 * File format: one "user:hash" a line; blank lines and lines whose first
 * non-blank byte is '#' are skipped; CRLF and trailing spaces or tabs are
 * tolerated.  Only strong crypt(3) hashes that this libxcrypt verifies are
 * accepted: bcrypt ($2b$ $2y$ $2a$), yescrypt ($y$), gost-yescrypt ($gy$),
 * scrypt ($7$), sha512-crypt ($6$) and sha256-crypt ($5$) (each only if
 * crypt_gensalt(3) of this libxcrypt supports it).  MD5 ($apr1$, $1$),
 * DES, {SHA}, plaintext and every other format are refused at load, as are
 * bad or duplicate user names: an operator learns it from `gatehouse -t`,
 * not from users who cannot log in.
 *
 * Cache of successes.  crypt_r() is slow on purpose (bcrypt cost 10: about
 * 50 ms of CPU), and a worker running it stalls its whole event loop.  So
 * each process keeps, per loaded file, up to GH_AUTH_CACHE entries
 * SHA-256(per-process random salt, user, ':', password) -> user, filled
 * only by successful verifications, least recently used replaced first.  A
 * repeated correct login costs one SHA-256; wrong passwords always pay the
 * full crypt_r().  The cache belongs to the gh_htpasswd object, so a reload
 * (a new object) starts empty and a changed password cannot linger.
 * Trade-off: the memory of a worker holds no password, but salted SHA-256
 * digests of recently used good ones, which are far cheaper to brute-force
 * than the file's bcrypt hashes if an attacker can read that memory (who
 * can also read passwords from in-flight request buffers).
 *
 * Not thread-safe: one gh_htpasswd is used by one thread of a process.
 */

#include <stddef.h>
#include <stdint.h>

#include "worker/core/gh.h"

#define GH_HTPASSWD_SIZE_MAX (16 * 1024 * 1024)  /* bytes in the file */
#define GH_HTPASSWD_LINE_MAX 1024   /* bytes a line, without the EOL */
#define GH_HTPASSWD_USER_MAX 255    /* bytes a user name (as Apache) */
#define GH_AUTH_CACHE        128    /* cached successes per file, process */
/* The decoded "user:password" of an Authorization header, at most. */
#define GH_AUTH_CRED_MAX     1024

struct gh_htpasswd;

/*
 * Read and check FILE.  Returns a new object (owned by the caller, freed
 * with gh_htpasswd_free()), or NULL with ERR (ERRLEN bytes) set to a
 * message that names the file, and the line when there is one:
 *   /etc/gatehouse/htpasswd:3: user "bob": MD5 ($apr1$) hashes are
 *   refused: fast to brute-force; accepted: bcrypt ($2b$ $2y$ $2a$), ...;
 *   make one with `htpasswd -B FILE USER` (bcrypt) or ...
 *   /etc/gatehouse/htpasswd: No such file or directory
 * Refused: a missing, unreadable or non-regular file, one over
 * GH_HTPASSWD_SIZE_MAX, with a NUL byte, with no user; a line over
 * GH_HTPASSWD_LINE_MAX or without ':'; a user name that is empty, over
 * GH_HTPASSWD_USER_MAX, has a control byte or starts or ends with a blank;
 * a second ':' on a line; a user listed twice; a hash that is empty, not
 * of an accepted format, or malformed (wrong length or alphabet, bcrypt
 * cost outside 04..31, sha*-crypt rounds under 1000 or a salt over 16).
 * Blocks on file I/O: master only, at config load.  Does not run crypt_r()
 * (a large file of bcrypt hashes would take minutes), so a well-formed hash
 * is trusted to be a hash of something.
 */
struct gh_htpasswd *gh_htpasswd_load(const char *file, char *err,
                                     size_t errlen);

/* Free PW (NULL is fine), wiping its cache.  Does not block. */
void gh_htpasswd_free(struct gh_htpasswd *pw);

/* Users loaded from the file. */
uint32_t gh_htpasswd_count(const struct gh_htpasswd *pw);

/*
 * Check the credentials in VALUE (LEN bytes, not NUL-terminated), the
 * Authorization header value as received, or NULL/0 when there is none.
 * Accepted: optional blanks, "Basic" in any case, one or more spaces, the
 * base64 (RFC 4648 section 4 alphabet) of "user:password", optional
 * blanks.  The '=' padding may be omitted; if present it must be right.
 * Refused as malformed: another scheme, a byte outside the alphabet, a
 * length no encoding gives, non-zero pad bits (only one encoding of each
 * value is accepted), more than GH_AUTH_CRED_MAX decoded bytes, a NUL, no
 * ':'.  An empty password is refused before any hashing.
 *
 * Returns GH_OK when the user is in the file and the password matches;
 * then *USER and *USERLEN (either may be NULL) give the user name, which
 * points into PW, is NUL-terminated and lives as long as PW.  Returns
 * GH_DECLINED otherwise (missing, malformed, unknown user, wrong password):
 * answer 401.
 *
 * Timing: the stored and computed hashes are compared in constant time,
 * and an unknown user still costs one crypt_r() (with the file's first
 * hash as the setting), so the time does not tell whether a user exists.
 * May block the caller for one crypt_r() (tens of ms for bcrypt cost 10)
 * unless the success cache answers.  The decoded password is wiped before
 * returning.
 */
int gh_auth_basic_check(struct gh_htpasswd *pw, const char *value, size_t len,
                        const char **user, size_t *userlen);

/* Per process, for tests and metrics: success-cache hits, crypt_r() runs. */
uint64_t gh_auth_cache_hits(void);
uint64_t gh_auth_crypt_runs(void);

#endif
