/*
 * Every key the parser accepts is documented in gatehouse.conf(5).
 *
 * The page marks each key by its last path component ("weight" for
 * upstreams.*.servers.*.weight): in mdoc as `.It Ic weight`, in man(7) as
 * `\fBweight\fR` or a `.B weight` line.  Run from the repository root (as
 * make does).  A missing page is a failure, not a skip: keys and their
 * documentation change in the same commit.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "tests/unit/tap.h"

#define MAN_PAGE "man/gatehouse.conf.5"

static int
word_end(char c)
{
    return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
             || (c >= '0' && c <= '9') || c == '_');
}

/* Does PAGE mark WORD as a key in one of the accepted forms? */
static int
man_has(const char *page, const char *word)
{
    static const char *const pre[] = { "\\fB", ".B ", ".It Ic ", ".Ic " };
    size_t wl = strlen(word), i, pl;
    const char *p;

    for (i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
        pl = strlen(pre[i]);
        for (p = strstr(page, pre[i]); p != NULL;
             p = strstr(p + 1, pre[i])) {
            /* Requests start a line; the \fB font escape goes anywhere. */
            if (pre[i][0] == '.' && p != page && p[-1] != '\n')
                continue;
            if (strncmp(p + pl, word, wl) != 0)
                continue;
            if (i == 0 ? strncmp(p + pl + wl, "\\f", 2) == 0
                       : word_end(p[pl + wl]))
                return 1;
        }
    }
    return 0;
}

int
main(void)
{
    const char *const *n;
    const char *last;
    char *page = NULL;
    size_t len = 0;
    FILE *f;

    f = fopen(MAN_PAGE, "r");
    if (!ok(f != NULL, "%s exists (run from the repository root)",
            MAN_PAGE))
        return done_testing();
    page = malloc(1024 * 1024 + 1);
    if (page != NULL)
        len = fread(page, 1, 1024 * 1024, f);
    (void) fclose(f);
    if (!ok(page != NULL && len > 0, "%s is not empty", MAN_PAGE)) {
        free(page);
        return done_testing();
    }
    page[len] = '\0';

    subtest("every key in gatehouse.conf(5)") {
        for (n = gh_conf_key_names(); *n != NULL; n++) {
            last = strrchr(*n, '.');
            last = last != NULL ? last + 1 : *n;
            ok(man_has(page, last), "%s is documented (\\fB%s\\fR, .B %s "
               "or .It Ic %s)", *n, last, last, last);
        }
    }
    free(page);
    return done_testing();
}
