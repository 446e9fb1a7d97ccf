/*
 * gh_conf_parse_addr(): numeric IPv4, bracketed IPv6 and "*", a port in
 * 1..65535, and no names (workers never resolve).
 */

#include <arpa/inet.h>
#include <string.h>

#include "conf/conf.h"
#include "tests/unit/tap.h"

static void
good(const char *s, int family, const char *text, unsigned port)
{
    struct gh_addr a;
    unsigned got = 0;

    memset(&a, 0xa5, sizeof(a));
    is_int(gh_conf_parse_addr(s, &a), GH_OK, "\"%s\" parses", s);
    is_int(a.sa.ss_family, family, "\"%s\" family", s);
    is_str(a.text, text, "\"%s\" text", s);
    if (family == AF_INET) {
        is_int(a.salen, sizeof(struct sockaddr_in), "\"%s\" salen", s);
        got = ntohs(((struct sockaddr_in *) &a.sa)->sin_port);
    } else {
        is_int(a.salen, sizeof(struct sockaddr_in6), "\"%s\" salen", s);
        got = ntohs(((struct sockaddr_in6 *) &a.sa)->sin6_port);
    }
    is_int(got, port, "\"%s\" port", s);
}

static void
bad(const char *s, const char *why)
{
    struct gh_addr a;

    is_int(gh_conf_parse_addr(s, &a), GH_ERR, "\"%s\" rejected: %s", s, why);
}

int
main(void)
{
    struct gh_addr a;
    struct in_addr want4;
    struct in6_addr want6;

    subtest("good addresses") {
        good("127.0.0.1:8080", AF_INET, "127.0.0.1:8080", 8080);
        good("0.0.0.0:80", AF_INET, "0.0.0.0:80", 80);
        good("*:80", AF_INET, "0.0.0.0:80", 80);
        good("10.1.2.3:1", AF_INET, "10.1.2.3:1", 1);
        good("192.168.0.1:65535", AF_INET, "192.168.0.1:65535", 65535);
        good("127.0.0.1:08080", AF_INET, "127.0.0.1:8080", 8080);
        good("[::1]:8080", AF_INET6, "[::1]:8080", 8080);
        good("[::]:443", AF_INET6, "[::]:443", 443);
        good("[0:0:0:0:0:0:0:1]:9002", AF_INET6, "[::1]:9002", 9002);
        good("[2001:DB8::A]:80", AF_INET6, "[2001:db8::a]:80", 80);
        good("[::ffff:127.0.0.1]:80", AF_INET6, "[::ffff:127.0.0.1]:80", 80);
    }

    subtest("address bytes") {
        ok(gh_conf_parse_addr("10.1.2.3:80", &a) == GH_OK, "parses");
        (void) inet_pton(AF_INET, "10.1.2.3", &want4);
        ok(memcmp(&((struct sockaddr_in *) &a.sa)->sin_addr, &want4, 4) == 0,
           "IPv4 bytes");
        ok(gh_conf_parse_addr("[2001:db8::1]:80", &a) == GH_OK, "parses");
        (void) inet_pton(AF_INET6, "2001:db8::1", &want6);
        ok(memcmp(&((struct sockaddr_in6 *) &a.sa)->sin6_addr, &want6, 16)
           == 0, "IPv6 bytes");
        ok(gh_conf_parse_addr("*:80", &a) == GH_OK, "parses");
        ok(((struct sockaddr_in *) &a.sa)->sin_addr.s_addr == INADDR_ANY,
           "* is INADDR_ANY");
    }

    subtest("bad addresses") {
        bad("", "empty");
        bad(NULL, "NULL");
        bad("127.0.0.1", "no port");
        bad("127.0.0.1:", "empty port");
        bad("127.0.0.1:0", "port 0");
        bad("127.0.0.1:65536", "port too big");
        bad("127.0.0.1:99999999999999999999", "port overflow");
        bad("127.0.0.1:-1", "negative port");
        bad("127.0.0.1:+80", "signed port");
        bad("127.0.0.1:80x", "garbage after the port");
        bad("127.0.0.1:80 ", "space after the port");
        bad(":80", "no host");
        bad("localhost:80", "a name needs DNS");
        bad("example.com:80", "a name needs DNS");
        bad("127.0.0:80", "short IPv4");
        bad("127.0.0.256:80", "octet too big");
        bad("::1:80", "IPv6 without brackets");
        bad("[::1]", "IPv6 without port");
        bad("[::1]:", "IPv6 empty port");
        bad("[::1]80", "no colon after the bracket");
        bad("[::1:80", "unclosed bracket");
        bad("[]:80", "empty brackets");
        bad("[127.0.0.1]:80", "IPv4 in brackets");
        bad("[localhost]:80", "name in brackets");
        bad("[fe80::1%eth0]:80", "scope ids need a name lookup");
        bad("**:80", "double star");
        bad("*", "star without port");
    }
    return done_testing();
}
