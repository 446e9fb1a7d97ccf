#ifndef GH_TESTS_UNIT_TAP_H
#define GH_TESTS_UNIT_TAP_H

/*
 * A small TAP producer for the unit tests: ok, is_int, is_str, subtest,
 * done_testing.  Header-only so each test is one .c file.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_depth;

static void
tap_indent(void)
{
    for (int i = 0; i < tap_depth; i++)
        fputs("    ", stdout);
}

__attribute__((format(printf, 2, 3))) static int
tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;

    tap_n++;
    if (!cond)
        tap_failed++;
    tap_indent();
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) \
    tap_ok((cond) ? 1 : 0, __VA_ARGS__)

#define is_int(got, want, ...) do {                                     \
    long long g_ = (long long) (got), w_ = (long long) (want);          \
    if (!tap_ok(g_ == w_, __VA_ARGS__)) {                               \
        tap_indent();                                                   \
        printf("#   got: %lld\n", g_); tap_indent();                    \
        printf("#  want: %lld  (%s:%d)\n", w_, __FILE__, __LINE__);     \
    }                                                                   \
} while (0)

#define is_str(got, want, ...) do {                                     \
    const char *g_ = (got), *w_ = (want);                               \
    int eq_ = (g_ == NULL && w_ == NULL)                                \
              || (g_ && w_ && strcmp(g_, w_) == 0);                     \
    if (!tap_ok(eq_, __VA_ARGS__)) {                                    \
        tap_indent();                                                   \
        printf("#   got: '%s'\n", g_ ? g_ : "(null)"); tap_indent();    \
        printf("#  want: '%s'  (%s:%d)\n", w_ ? w_ : "(null)",          \
               __FILE__, __LINE__);                                     \
    }                                                                   \
} while (0)

#define diag(...) do { tap_indent(); printf("# "); printf(__VA_ARGS__); \
                       putchar('\n'); } while (0)

/* subtest("name") { ... } — runs the block as a nested TAP plan. */
#define subtest(name)                                                   \
    for (int st_once_ = tap_subtest_begin(),                            \
             st_n_ = 0, st_f_ = 0; st_once_;                            \
         st_once_ = tap_subtest_end(name, &st_n_, &st_f_))

static int tap_saved_n[16], tap_saved_f[16];

static int
tap_subtest_begin(void)
{
    tap_saved_n[tap_depth] = tap_n;
    tap_saved_f[tap_depth] = tap_failed;
    tap_depth++;
    tap_n = 0;
    tap_failed = 0;
    return 1;
}

static int
tap_subtest_end(const char *name, int *n, int *f)
{
    int failed = tap_failed;

    tap_indent();
    printf("1..%d\n", tap_n);
    tap_depth--;
    tap_n = tap_saved_n[tap_depth];
    tap_failed = tap_saved_f[tap_depth];
    (void) n;
    (void) f;
    tap_ok(failed == 0, "%s", name);
    return 0;
}

static int
done_testing(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
