#!/usr/bin/perl
# The shared HTTP cache (issue 5) with two workers, every request on a new
# connection (so both workers serve, and what one stored the other finds):
#   Cache-Status (RFC 9211) on every response of a cached route, Age on
#   hits, and the access log's cache= word;
#   freshness from s-maxage, max-age, Expires, the Age the origin sent,
#   the Last-Modified heuristic (and heuristic_max), default_ttl;
#   what is not stored: no-store, private, Set-Cookie (unless public or
#   s-maxage), Authorization (unless public, s-maxage, must-revalidate),
#   Vary: *, no freshness, larger than max_object, a cut fill;
#   no-cache (revalidated every time); request no-cache, Pragma, no-store,
#   max-age=0, max-stale, min-fresh, only-if-cached;
#   Vary variants; revalidation with If-None-Match and If-Modified-Since
#   (304 refreshes the stored headers; 200 replaces the entry); the
#   client's conditionals, HEAD and Range answered from the cache;
#   invalidation by unsafe methods (target, Location, Content-Location);
#   chunked fills served with Content-Length; collapsed forwarding;
#   stale-while-revalidate (one background refresh) and stale-if-error
#   (directive, zone default; 5xx, reset, timeout, origin down);
#   PURGE (allowed, denied, 404, prefix, all variants, on a keep-alive
#   connection; on a route without cache: an ordinary request for the
#   origin); key and cache_key_extra; the gatehouse_cache_* metrics;
#   `gatehouse -t` errors for the cache keys with file:line;
#   a GET with a body (bypass); HTTP/1.0 clients on hits and on entries
#   still filling (chunked to HTTP/1.1, close-delimited or Content-Length
#   to HTTP/1.0); pipelined hits, misses and PURGEs; the refresh of
#   stale-while-revalidate with the client's next request on the same
#   connection; the client's stale-if-error; garbage (8 KB of commas in
#   Cache-Control, Vary naming 16 and 40 fields, a 4 KB ETag, 64 and 105
#   response fields); lock_timeout 300ms and 0s (a second daemon).
# And the fixes of the review (each failed before them): keys from the raw
#   target ("/q%3Fx=1", "/z/..%2Fadmin", "//dbl" are not "/q?x=1",
#   "/admin", "/dbl": no poisoning by path encoding); PURGE and a POST
#   reach every cache_key_extra value; a POST whose body comes 300 ms after
#   its head invalidates its target; a failed revalidation (a 500 to the
#   background refresh of stale-while-revalidate, a 200 with no-store to a
#   foreground one) leaves the stale entry in place; a 304 from the cache
#   without Content-Type, a 416 without the stored fields; a client head
#   near limits.header_size revalidating a 4 KB ETag (a third daemon).

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse timeout => 60;
use Origin;

my $o = Origin->new(name => 'o');       # the main origin
my $f = Origin->new(name => 'f');       # flaky: made to fail, then stopped
my $MAIN_SIZE = 8 * 1024 * 1024;

my $CONF = Gatehouse::preamble(workers => 2) . <<'EOF';
timeouts = { upstream_read = "1s"; };
caches = {
  main = { size = "8M"; max_object = "100k"; heuristic_max = "1h"; };
  dflt = { size = "4M"; default_ttl = "30s"; };
  sie  = { size = "1M"; stale_if_error = "60s"; };
  pk   = { size = "1M"; default_ttl = "30s"; key = "method path"; };
  spare = { size = "64k"; };
};
upstreams = {
  app   = { max_fails = 0; retries = 0;
            servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); };
  flaky = { max_fails = 0; retries = 0;
            servers = ( { address = "127.0.0.1:%%ORIGIN_f%%"; } ); };
};
sites = ( { name = "main";
            listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = (
              { path = "/metrics"; metrics = true; },
              { path = "/nc/"; upstream = "app"; },
              { path = "/d/"; upstream = "app"; cache = "dflt"; purge_allow = [ "127.0.0.1/32" ]; },
              { path = "/np/"; upstream = "app"; cache = "dflt"; },
              { path = "/kx/"; upstream = "app"; cache = "pk";
                cache_key_extra = [ "header:X-Tenant", "cookie:session", "query:lang" ]; },
              { path = "/sie/"; upstream = "flaky"; cache = "main"; },
              { path = "/sz/"; upstream = "flaky"; cache = "sie"; },
              { path = "/kp/"; upstream = "app"; cache = "dflt"; purge_allow = [ "127.0.0.1/32" ];
                cache_key_extra = [ "header:X-T" ]; },
              { path = "/"; upstream = "app"; cache = "main"; purge_allow = [ "127.0.0.1/32", "::1" ]; } ); } );
EOF
my $gh = Gatehouse->new(origins => [$o, $f], conf => $CONF);
ok(wait_for(sub { $gh->children == 2 }, 5), 'two workers');

my $T0 = int time;
my $LM = $T0 - 1000;            # Last-Modified: the heuristic gives 100 s
my $LM_OLD = $T0 - 1_000_000;   # 100000 s, capped at heuristic_max 1h

# ---- helpers ------------------------------------------------------------------

my %SENT;       # "METHOD target" => requests sent, for the access log checks

# One request on a new connection.  Options: those of build_request, plus
# from (source address).
sub req {
    my ($method, $path, %o) = @_;
    $SENT{"$method $path"}++;
    my $c = Gatehouse::Client->new(port => $gh->port,
                                   defined $o{from} ? (local => $o{from}) : ())
        or return undef;
    $c->send($gh->build_request($path, %o, method => $method));
    my $r = $c->read_response(head => $method eq 'HEAD', timeout => 5);
    $c->close;
    return $r;
}
sub GET { req('GET', @_) }

sub cs  { my ($r) = @_; $r ? $r->header('cache-status') // '(none)' : '(no response)' }
sub st  { my ($r) = @_; $r ? $r->status : 0 }
sub bd  { my ($r) = @_; $r ? $r->body // '' : '' }

# The request count at the origin after running CODE, minus the one before.
sub delta {
    my ($org, $code) = @_;
    my $n = $org->count_fast;
    my @ret = $code->();
    return ($org->count_fast - $n, @ret);
}

# A fresh hit: Cache-Status "gatehouse; hit; ttl=N" with N in TTL
# ([lo, hi], optional), Age: a number.
sub hit_ok {
    my ($r, $name, $ttl) = @_;
    my $c = cs($r);
    my ($n) = $c =~ /^gatehouse; hit; ttl=(\d+)$/;
    ok(defined $n, "$name: fresh hit") or diag("status " . st($r) . ", Cache-Status: $c");
    like($r ? $r->header('age') // '' : '', qr/^\d+$/, "$name: hit carries Age");
    if ($ttl) {
        ok(defined $n && $n >= $ttl->[0] && $n <= $ttl->[1],
           "$name: ttl=" . ($n // '?') . " in [$ttl->[0], $ttl->[1]]") or diag("Cache-Status: $c");
    }
    return $n;
}

sub stored_ok {
    my ($r, $name) = @_;
    is(cs($r), 'gatehouse; fwd=uri-miss; stored', "$name: miss, stored");
}

# A miss that was not stored, for REASON: Cache-Status
# "gatehouse; fwd=uri-miss; detail=REASON" and the next request for the
# same target goes to the origin again.
sub not_stored_ok {
    my ($path, $reason, $name, %o) = @_;
    my ($d1, $r1) = delta($o, sub { GET($path, %o) });
    like(st($r1), qr/^2\d\d$/, "$name: 2xx");
    is($d1, 1, "$name: reached the origin");
    is(cs($r1), "gatehouse; fwd=uri-miss; detail=$reason", "$name: not stored ($reason)");
    my ($d2, $r2) = delta($o, sub { GET($path, %o) });
    is($d2, 1, "$name: the next request reaches the origin again");
    isnt(bd($r2), bd($r1), "$name: ... and gets a new body");
}

# ---- the access log -------------------------------------------------------------

my $ALINE = qr{^\S+ - - \[[^\]]+\] "(\S+) (\S+) HTTP/1\.[01]" (\d{3}) \d+ "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*" upstream=\S+ ut=\S+ rt=\d+\.\d{3} cache=(\S+)$};

sub words_of {
    my ($m, $p) = @_;
    return map { /$ALINE/ && $1 eq $m && $2 eq $p ? ($4) : () } $gh->access_lines;
}

# The word of the last request sent for METHOD PATH.
sub word_is {
    my ($m, $p, $want, $name) = @_;
    my $n = $SENT{"$m $p"} // 0;
    my @w;
    wait_for(sub { @w = words_of($m, $p); @w >= $n }, 3);
    is($n ? $w[$n - 1] // '(no line)' : '(not sent)', $want, "access log: $name: cache=$want");
}

# ---- objects that the stale section needs old: stored first ---------------------

my %S = (
    rv_etag  => '/rv/etag?etag=v1&cc=max-age%3D1',
    rv_lm    => "/rv/lm?lm=$LM&cc=max-age%3D1",
    rv_new   => '/rv/new?etag=v1&cc=max-age%3D1',
    rv_noval => '/rv/noval?cc=max-age%3D1',
    mst      => '/rq/mst?cc=max-age%3D1',
    mr       => '/rq/mr?cc=max-age%3D1,%20must-revalidate',
    ma0      => '/rq/ma0?cc=max-age%3D100',
    swr      => '/swr/a?cc=max-age%3D1,%20stale-while-revalidate%3D60',
    sie_503  => '/sie/d?cc=max-age%3D1,%20stale-if-error%3D60',
    sie_none => '/sie/none?cc=max-age%3D1',
    sie_rst  => '/sie/c?cc=max-age%3D1,%20stale-if-error%3D60',
    sie_to   => '/sie/t?cc=max-age%3D1,%20stale-if-error%3D60',
    sie_down => '/sie/r?cc=max-age%3D1,%20stale-if-error%3D60',
    sz       => '/sz/z?cc=max-age%3D1',
    sz_mr    => '/sz/mr?cc=max-age%3D1,%20must-revalidate',
    sie_q    => '/sie/q?cc=max-age%3D1',
    sie_q2   => '/sie/q2?cc=max-age%3D1',
    sie_qmr  => '/sie/qmr?cc=max-age%3D1,%20must-revalidate',
    swr_ka   => '/swr/ka?cc=max-age%3D1,%20stale-while-revalidate%3D60',
    swr_ka304 => '/swr/ka304?etag=k1&cc=max-age%3D1,%20stale-while-revalidate%3D60',
    swr_fail => '/swr/fail?etag=sf1&cc=max-age%3D1,%20stale-while-revalidate%3D60',
    rv_ns    => '/rv/ns?etag=s1&cc=max-age%3D1',
);
my %SB;         # their stored bodies
for my $k (sort keys %S) {
    my $r = GET($S{$k});
    is(st($r), 200, "stale set: $k fetched");
    is(cs($r), 'gatehouse; fwd=uri-miss; stored', "stale set: $k stored");
    $SB{$k} = bd($r);
}
# An ETag of 4 KB (forced: in the query it would make the key too long).
my $TAG4K = join '', map { sprintf '%07d-', $_ } 1 .. 512;     # 4096 bytes
my $RV4K = '/rv/etag4k?cc=max-age%3D1';
{
    $o->force("etag=$TAG4K");
    my $r = GET($RV4K);
    $o->force(undef);
    is(cs($r), 'gatehouse; fwd=uri-miss; stored', 'stale set: a 4 KB ETag stored');
    is($r && $r->header('etag'), qq{"$TAG4K"}, 'stale set: ... the ETag as the origin sent it');
    $SB{rv4k} = bd($r);
}
# The canary is stored last: when its Age is 2, all of the above are at
# least a second past their max-age=1.
my $CANARY = '/canary?cc=max-age%3D100';
stored_ok(GET($CANARY), 'canary');

# ==== basics: miss, hit, Age, a route without cache ===============================

{
    my ($d, $r1) = delta($o, sub { GET('/basic?cc=max-age%3D100') });
    is(st($r1), 200, 'miss: 200');
    is($d, 1, 'miss: reached the origin');
    stored_ok($r1, 'first request');
    word_is('GET', '/basic?cc=max-age%3D100', 'MISS', 'miss');
    my ($d2, $r2) = delta($o, sub { GET('/basic?cc=max-age%3D100') });
    is($d2, 0, 'hit: the origin is not asked');
    hit_ok($r2, 'second request', [98, 100]);
    cmp_ok($r2 && $r2->header('age') // 99, '<=', 2, 'hit right after the fill: Age 0..2');
    is(bd($r2), bd($r1), 'hit: the stored body');
    is($r2 && $r2->header('x-seq'), $r1->header('x-seq'), 'hit: the stored headers');
    is($r2 && $r2->header('content-length'), length bd($r1), 'hit: Content-Length');
    word_is('GET', '/basic?cc=max-age%3D100', 'HIT', 'hit');
    # new connections land on both workers: every one finds the entry
    my ($d3, @r) = delta($o, sub { map { GET('/basic?cc=max-age%3D100') } 1 .. 10 });
    is($d3, 0, 'ten more requests (both workers): none reaches the origin');
    is(scalar(grep { cs($_) =~ /^gatehouse; hit; / && bd($_) eq bd($r1) } @r), 10,
       '... all ten are hits with the stored body');

    # what is in the key: host, query
    my ($d4, $r4) = delta($o, sub { GET('/basic?cc=max-age%3D100', host => 'other.example') });
    is($d4, 1, 'another Host: a different entry (miss)');
    stored_ok($r4, 'another Host');
    my ($d5) = delta($o, sub { GET('/basic?cc=max-age%3D100&x=1') });
    is($d5, 1, 'another query: a different entry (miss)');

    # no cache on the route: no Cache-Status, always forwarded
    my ($d6, $n1, $n2) = delta($o, sub { (GET('/nc/x?cc=max-age%3D100'), GET('/nc/x?cc=max-age%3D100')) });
    is($d6, 2, 'route without cache: every request reaches the origin');
    ok(!defined $n1->header('cache-status') && !defined $n2->header('cache-status'),
       'route without cache: no Cache-Status');
    word_is('GET', '/nc/x?cc=max-age%3D100', '-', 'route without cache');
}

# ==== freshness lifetime ==========================================================

{
    my $p = '/fr/smax?cc=s-maxage%3D100,%20max-age%3D0';
    stored_ok(GET($p), 's-maxage=100, max-age=0');
    hit_ok(GET($p), 's-maxage wins over max-age for a shared cache', [98, 100]);

    $p = '/fr/exp?exp=%2B100&date=now';
    stored_ok(GET($p), 'Expires: Date + 100');
    hit_ok(GET($p), 'Expires', [98, 100]);

    for my $e (['exp=-100&date=now', 'Expires in the past'], ['exp=0', 'invalid Expires (0)']) {
        $p = "/fr/exp2?$e->[0]";
        GET($p);
        my ($d, $r) = delta($o, sub { GET($p) });
        is($d, 1, "$e->[1]: never served without asking the origin");
    }

    $p = '/fr/age?cc=max-age%3D100&hdr=Age:%2030';
    stored_ok(GET($p), 'origin sent Age: 30');
    my $r = GET($p);
    hit_ok($r, 'Age from the origin counts', [68, 70]);
    cmp_ok($r && $r->header('age') // 0, '>=', 30, '... and the hit says Age >= 30');

    $p = "/fr/lm?lm=$LM&date=now";
    stored_ok(GET($p), 'Last-Modified 1000 s ago, no explicit expiry');
    hit_ok(GET($p), 'heuristic: 10% of 1000 s', [97, 100]);

    $p = "/fr/lmold?lm=$LM_OLD&date=now";
    stored_ok(GET($p), 'Last-Modified 1000000 s ago');
    hit_ok(GET($p), 'heuristic capped at heuristic_max (1h)', [3597, 3600]);

    $p = "/fr/lm404?lm=$LM&date=now&status=404";
    stored_ok(GET($p), 'heuristic: 404 is heuristically cacheable');
    $r = GET($p);
    hit_ok($r, '404 hit');
    is(st($r), 404, '... with status 404');

    not_stored_ok("/fr/lm201?lm=$LM&date=now&status=201", 'no-freshness',
                  'heuristic: 201 is not heuristically cacheable');
    not_stored_ok('/fr/none', 'no-freshness', 'no freshness information, default_ttl 0');

    # default_ttl (zone dflt, 30 s)
    $p = '/d/ttl';
    stored_ok(GET($p), 'default_ttl: a plain 200');
    hit_ok(GET($p), 'default_ttl 30s', [28, 30]);
    my ($d) = delta($o, sub { GET('/d/ttl201?status=201'); GET('/d/ttl201?status=201') });
    is($d, 2, 'default_ttl: not for a 201');
}

# ==== what is not stored ==========================================================

not_stored_ok('/ns/nostore?cc=no-store,%20max-age%3D100', 'no-store', 'no-store');
word_is('GET', '/ns/nostore?cc=no-store,%20max-age%3D100', 'MISS', 'not stored');
not_stored_ok('/ns/private?cc=private,%20max-age%3D100', 'private', 'private');
not_stored_ok('/ns/cookie?cc=max-age%3D100&hdr=Set-Cookie:%20a%3D1', 'set-cookie', 'Set-Cookie');
for my $cc (['public,%20max-age%3D100', 'public'], ['s-maxage%3D100', 's-maxage']) {
    my $p = "/ns/cookie2?cc=$cc->[0]&hdr=Set-Cookie:%20a%3D1";
    stored_ok(GET($p), "Set-Cookie with $cc->[1]: stored");
    my ($d, $r) = delta($o, sub { GET($p) });
    is($d, 0, "Set-Cookie with $cc->[1]: then a hit");
}
{
    my @auth = (headers => [ 'Authorization' => 'Basic dXNlcjpwdw==' ]);
    not_stored_ok('/ns/auth?cc=max-age%3D100', 'authorization', 'request with Authorization', @auth);
    my ($d) = delta($o, sub { GET('/ns/auth2?cc=max-age%3D100', @auth); GET('/ns/auth2?cc=max-age%3D100') });
    is($d, 2, 'Authorization: not stored for the next request without it either');
    for my $cc (['public,%20max-age%3D100', 'public'], ['s-maxage%3D100', 's-maxage'],
                ['max-age%3D100,%20must-revalidate', 'must-revalidate']) {
        my $p = "/ns/auth3?cc=$cc->[0]";
        stored_ok(GET($p, @auth), "Authorization, response $cc->[1]: stored");
        my ($d2, $r) = delta($o, sub { GET($p, @auth) });
        is($d2, 0, "Authorization, response $cc->[1]: then a hit");
    }
}
not_stored_ok('/ns/star?cc=max-age%3D100&vary=*', 'vary-star', 'Vary: *');

# no-cache (with max-age, so that it is stored whatever the heuristics):
# stored, but revalidated on every request
{
    my $p = '/ns/nocache?cc=no-cache,%20max-age%3D100&etag=n1';
    my $r1 = GET($p);
    stored_ok($r1, 'no-cache with ETag');
    for my $i (1, 2) {
        my ($d, $r) = delta($o, sub { GET($p) });
        is($d, 1, "no-cache: request $i is revalidated at the origin");
        is(Origin::rec_header($o->last_fast, 'If-None-Match'), '"n1"',
           "no-cache: request $i: conditional, If-None-Match: \"n1\"");
        is(st($r), 200, "no-cache: request $i: 200");
        is(bd($r), bd($r1), "no-cache: request $i: the stored body (the origin said 304)");
        like(cs($r), qr/fwd-status=304/, "no-cache: request $i: Cache-Status says 304");
    }
    $p = '/ns/nocache2?cc=no-cache,%20max-age%3D100';
    GET($p);
    my ($d) = delta($o, sub { GET($p); GET($p) });
    is($d, 2, 'no-cache without validators: every request goes to the origin');
}

# ==== request directives ==========================================================

{
    my $p = '/rq/nc?cc=max-age%3D100';
    my $r1 = GET($p);
    my ($d, $r2) = delta($o, sub { GET($p, headers => [ 'Cache-Control' => 'no-cache' ]) });
    is($d, 1, 'request no-cache: forwarded although the entry is fresh');
    like(cs($r2), qr/^gatehouse; fwd=request(?:; [^;]+)*; stored$/, 'request no-cache: fwd=request, stored');
    isnt(bd($r2), bd($r1), 'request no-cache: the new body');
    my ($d2, $r3) = delta($o, sub { GET($p) });
    is($d2, 0, 'after request no-cache: a hit ...');
    is(bd($r3), bd($r2), '... on the response it stored');
    my ($d3) = delta($o, sub { GET($p, headers => [ 'Pragma' => 'no-cache' ]) });
    is($d3, 1, 'request Pragma: no-cache (no Cache-Control): forwarded');

    $p = '/rq/ns?cc=max-age%3D100';
    my ($d4, $r4) = delta($o, sub { GET($p, headers => [ 'Cache-Control' => 'no-store' ]) });
    is($d4, 1, 'request no-store: forwarded');
    like(cs($r4), qr/^gatehouse; fwd=(?:uri-miss|request)\b/, 'request no-store: a miss');
    unlike(cs($r4), qr/; stored\b/, 'request no-store: not stored');
    my ($d5, $r5) = delta($o, sub { GET($p) });
    is($d5, 1, 'request no-store: the next request is a miss');
    stored_ok($r5, 'after request no-store');

    $p = '/rq/mf?cc=max-age%3D100';
    GET($p);
    my ($d6, $r6) = delta($o, sub { GET($p, headers => [ 'Cache-Control' => 'min-fresh=10' ]) });
    is($d6, 0, 'min-fresh=10 on 100 s left: a hit');
    my ($d7, $r7) = delta($o, sub { GET($p, headers => [ 'Cache-Control' => 'min-fresh=1000' ]) });
    is($d7, 1, 'min-fresh=1000 on 100 s left: forwarded');
    unlike(cs($r7), qr/^gatehouse; hit\b/, 'min-fresh=1000: not a hit');

    $p = '/rq/oic?cc=max-age%3D100';
    my ($d8, $r8) = delta($o, sub { GET($p, headers => [ 'Cache-Control' => 'only-if-cached' ]) });
    is(st($r8), 504, 'only-if-cached, nothing stored: 504');
    is($d8, 0, 'only-if-cached: the origin is not asked');
    is(cs($r8), 'gatehouse; fwd=uri-miss; detail=only-if-cached', 'only-if-cached: Cache-Status');
    GET($p);
    my ($d9, $r9) = delta($o, sub { GET($p, headers => [ 'Cache-Control' => 'only-if-cached' ]) });
    is($d9, 0, 'only-if-cached, stored: not forwarded');
    hit_ok($r9, 'only-if-cached, stored');
}

# ==== Vary =========================================================================

{
    my $p = '/vary/a?cc=max-age%3D100&vary=Accept-Language';
    my ($d, $en, $fr, $none) = delta($o, sub {
        (GET($p, headers => [ 'Accept-Language' => 'en' ]),
         GET($p, headers => [ 'Accept-Language' => 'fr' ]),
         GET($p)) });
    is($d, 3, 'Vary: three variants, three origin requests');
    is(cs($en), 'gatehouse; fwd=uri-miss; stored', 'Vary: first variant: uri-miss');
    is(cs($fr), 'gatehouse; fwd=vary-miss; stored', 'Vary: second variant: vary-miss');
    is(cs($none), 'gatehouse; fwd=vary-miss; stored', 'Vary: no Accept-Language is a variant too');
    my ($d2, $en2, $fr2, $none2, $en3) = delta($o, sub {
        (GET($p, headers => [ 'Accept-Language' => 'en' ]),
         GET($p, headers => [ 'Accept-Language' => 'fr' ]),
         GET($p),
         GET($p, headers => [ 'Accept-Language' => 'en' ])) });
    is($d2, 0, 'Vary: every variant is then a hit');
    is(bd($en2), bd($en), 'Vary: en gets the en variant');
    is(bd($fr2), bd($fr), 'Vary: fr gets the fr variant');
    is(bd($none2), bd($none), 'Vary: none gets its own');
    is(bd($en3), bd($en), 'Vary: en again');
    like(bd($fr2), qr/"Accept-Language","fr"/, 'Vary: (the fr body is the one the origin made for fr)');
}

# ==== conditional requests, HEAD, Range from the cache ============================

{
    my $p = '/cond/e?cc=max-age%3D100&etag=c1';
    my $r0 = GET($p);
    my ($d, $r1, $r2, $r3) = delta($o, sub {
        (GET($p, headers => [ 'If-None-Match' => '"c1"' ]),
         GET($p, headers => [ 'If-None-Match' => 'W/"c1"' ]),
         GET($p, headers => [ 'If-None-Match' => '"zz"' ])) });
    is($d, 0, 'client conditionals on a hit: the origin is not asked');
    is(st($r1), 304, 'If-None-Match: "c1": 304 from the cache');
    is($r1 && $r1->header('etag'), '"c1"', '304 carries the ETag');
    is(bd($r1), '', '304 has no body');
    like(cs($r1), qr/^gatehouse; hit\b/, '304 from the cache: Cache-Status hit');
    is(st($r2), 304, 'If-None-Match: W/"c1" (weak comparison): 304');
    is(st($r3), 200, 'If-None-Match: "zz": 200');
    is(bd($r3), bd($r0), '... with the stored body');

    $p = "/cond/l?cc=max-age%3D100&lm=$LM";
    $r0 = GET($p);
    my ($d2, $r4, $r5) = delta($o, sub {
        (GET($p, headers => [ 'If-Modified-Since' => Origin::http_date($LM) ]),
         GET($p, headers => [ 'If-Modified-Since' => Origin::http_date($LM - 10) ])) });
    is($d2, 0, 'If-Modified-Since on a hit: the origin is not asked');
    is(st($r4), 304, 'If-Modified-Since = Last-Modified: 304');
    is(st($r5), 200, 'If-Modified-Since earlier: 200');
    is(bd($r5), bd($r0), '... with the stored body');
}
{
    # HEAD from a stored GET
    my $p = '/head/a?cc=max-age%3D100&len=5000&etag=h1';
    my $g = GET($p);
    $SENT{"HEAD $p"}++;
    my $n = $o->count_fast;
    my ($h, $c) = $gh->request_keep($gh->build_request($p, method => 'HEAD'), head => 1);
    my $rest = $c ? $c->read_all(3) : undef;
    $c->close if $c;
    is(st($h), 200, 'HEAD on a stored GET: 200');
    is($o->count_fast - $n, 0, 'HEAD on a stored GET: the origin is not asked');
    like(cs($h), qr/^gatehouse; hit\b/, 'HEAD on a stored GET: a hit');
    is($rest, '', 'HEAD: no body follows');
    for my $hn (qw(Content-Length Content-Type ETag Cache-Control X-Origin X-Conn X-Seq)) {
        is($h && $h->header($hn), $g->header($hn), "HEAD: same $hn as the GET");
    }

    # HEAD miss: filled with GET, the client gets the head
    $p = '/head/b?cc=max-age%3D100&len=5000';
    $SENT{"HEAD $p"}++;
    $n = $o->count_fast;
    ($h, $c) = $gh->request_keep($gh->build_request($p, method => 'HEAD'), head => 1);
    $rest = $c ? $c->read_all(3) : undef;
    $c->close if $c;
    is(st($h), 200, 'HEAD miss: 200');
    is($rest, '', 'HEAD miss: no body to the client');
    is($h && $h->header('content-length'), 5000, 'HEAD miss: Content-Length of the body');
    is($o->count_fast - $n, 1, 'HEAD miss: one origin request');
    is($o->last_fast->{method}, 'GET', 'HEAD miss: sent to the origin as GET');
    my ($d, $r) = delta($o, sub { GET($p) });
    is($d, 0, 'HEAD miss filled the entry: the GET after it is a hit');
    is(length bd($r), 5000, '... with the whole body');
    is(md5_hex(bd($r)), md5_hex(Origin::pattern(5000)), '... intact');
}
{
    # Range on a hit
    my $p = '/range/a?cc=max-age%3D100&len=10000';
    my $full = Origin::pattern(10000);
    GET($p);
    my @cases = (['bytes=100-199', 100, 199], ['bytes=-50', 9950, 9999], ['bytes=9990-', 9990, 9999],
                 ['bytes=9000-20000', 9000, 9999]);
    my $n = $o->count_fast;
    for my $cse (@cases) {
        my ($range, $first, $last) = @$cse;
        my $r = GET($p, headers => [ 'Range' => $range ]);
        is(st($r), 206, "Range $range on a hit: 206");
        is($r && $r->header('content-range'), "bytes $first-$last/10000", "Range $range: Content-Range");
        is(bd($r), substr($full, $first, $last - $first + 1), "Range $range: the right bytes");
        is($r && $r->header('content-length'), $last - $first + 1, "Range $range: Content-Length");
    }
    my $r = GET($p, headers => [ 'Range' => 'bytes=20000-' ]);
    is(st($r), 416, 'Range past the end on a hit: 416');
    is($r && $r->header('content-range'), 'bytes */10000', '416: Content-Range bytes */10000');
    $r = GET($p, headers => [ 'Range' => 'bytes=0-1,5-6' ]);
    is(st($r), 200, 'two ranges on a hit: 200, the whole');
    is(md5_hex(bd($r)), md5_hex($full), '... body intact');
    is($o->count_fast - $n, 0, 'Range on a hit: the origin is not asked');

    # Range on a miss: forwarded as it is, not stored
    $p = '/range/b?cc=max-age%3D100&len=10000&ranges=1';
    my ($d, $r2) = delta($o, sub { GET($p, headers => [ 'Range' => 'bytes=0-99' ]) });
    is($d, 1, 'Range on a miss: forwarded');
    is(Origin::rec_header($o->last_fast, 'Range'), 'bytes=0-99', 'Range on a miss: with its Range');
    is(st($r2), 206, "Range on a miss: the origin's 206");
    is(bd($r2), substr($full, 0, 100), "Range on a miss: the origin's bytes");
    my ($d2, $r3) = delta($o, sub { GET($p) });
    is($d2, 1, 'Range on a miss: nothing stored, the next GET is a miss');
    stored_ok($r3, 'GET after a Range miss');
}

# ==== the fields of a 304 and a 416 from the cache (RFC 9110 15.4.5, 15.5.17) ====
# A 304 carries the fields a cache would update (Cache-Control, ETag, ...),
# not the representation's metadata; a 416 none of the stored fields.

{
    my $p = '/cond/f?cc=max-age%3D100&etag=c2&len=1000';
    my $r0 = GET($p);
    stored_ok($r0, '304/416 fields');
    is($r0 && $r0->header('content-type'), 'application/octet-stream', '(the stored response has a Content-Type)');
    my ($d, $r1, $r2) = delta($o, sub {
        (GET($p, headers => [ 'If-None-Match' => '"c2"' ]),
         GET($p, headers => [ 'Range' => 'bytes=5000-' ])) });
    is($d, 0, '304 and 416 from the cache: the origin is not asked');
    is(st($r1), 304, 'If-None-Match on a hit: 304');
    ok($r1 && !defined $r1->header('content-type'), '304 from the cache: no Content-Type')
        or diag($r1 ? $r1->raw_head : '(no response)');
    is($r1 && $r1->header('etag'), '"c2"', '304 from the cache: ETag');
    is($r1 && $r1->header('cache-control'), 'max-age=100', '304 from the cache: Cache-Control');
    is(st($r2), 416, 'Range past the end on a hit: 416');
    is($r2 && $r2->header('content-range'), 'bytes */1000', '416 from the cache: Content-Range: bytes */1000');
    ok($r2 && !defined $r2->header('content-type'), '416 from the cache: no Content-Type');
    ok($r2 && !defined $r2->header('etag') && !defined $r2->header('x-origin'),
       '416 from the cache: none of the stored fields (ETag, X-Origin)')
        or diag($r2 ? $r2->raw_head : '(no response)');
}

# ==== invalidation by unsafe methods (zone dflt: default_ttl 30 s) ================

{
    my $is_hit = sub { my ($p, %o) = @_; my ($d, $r) = delta($o, sub { GET($p, %o) });
                       $d == 0 && cs($r) =~ /^gatehouse; hit\b/ };
    GET('/d/inv/a');
    ok($is_hit->('/d/inv/a'), 'invalidation: /d/inv/a stored');
    my $r = req('POST', '/d/inv/a', body => 'x=1');
    is(st($r), 200, 'POST to a stored URI: 200');
    is(cs($r), 'gatehouse; fwd=method', 'POST: Cache-Status fwd=method');
    word_is('POST', '/d/inv/a', 'BYPASS', 'POST on a cached route');
    is($o->last_fast->{method}, 'POST', 'POST: forwarded');
    ok(!$is_hit->('/d/inv/a'), 'POST 2xx invalidated the URI: the GET after it is a miss');
    ok($is_hit->('/d/inv/a'), '... which stored it again');
    req('DELETE', '/d/inv/a');
    ok(!$is_hit->('/d/inv/a'), 'DELETE invalidated it');
    req('PUT', '/d/inv/a', body => 'y');
    ok(!$is_hit->('/d/inv/a'), 'PUT invalidated it');
    req('PATCH', '/d/inv/a', body => 'z');
    ok(!$is_hit->('/d/inv/a'), 'PATCH invalidated it');
    $o->force('status=500');
    $r = req('POST', '/d/inv/a', body => 'x=1');
    $o->force(undef);
    is(st($r), 500, 'POST answered 500');
    ok($is_hit->('/d/inv/a'), 'POST answered 500: nothing invalidated');

    GET($_) for '/d/inv/b', '/d/inv/c';
    GET('/d/inv/o', host => 'other.example');
    ok($is_hit->('/d/inv/b') && $is_hit->('/d/inv/c') && $is_hit->('/d/inv/o', host => 'other.example'),
       'invalidation: b, c and o (on another host) stored');
    $o->force('hdr=Location:%20/d/inv/b&hdr=Content-Location:%20http://localhost/d/inv/c');
    $r = req('POST', '/d/inv/post', body => 'x');
    $o->force(undef);
    is(st($r), 200, 'POST answered with Location and Content-Location');
    ok(!$is_hit->('/d/inv/b'), 'Location (relative) invalidated');
    ok(!$is_hit->('/d/inv/c'), 'Content-Location (absolute, same host) invalidated');
    $o->force('hdr=Location:%20http://other.example/d/inv/o');
    req('POST', '/d/inv/post', body => 'x');
    $o->force(undef);
    ok($is_hit->('/d/inv/o', host => 'other.example'), 'Location on another host: not invalidated');
}

# ==== invalidation by a POST whose body comes after its head ======================
# The key is the target's, taken before the body is read (the body may be
# read over the head the target was in).

{
    my $p = '/d/p1';
    GET($p);
    my ($d0, $r0) = delta($o, sub { GET($p) });
    is($d0, 0, 'delayed POST body: /d/p1 stored');
    my $body = 'k=' . ('v' x 38);                   # 40 bytes
    my $c = Gatehouse::Client->new(port => $gh->port);
    $c->send("POST $p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 40\r\nConnection: close\r\n\r\n");
    sleep 0.3;
    $c->send($body);
    my $r = $c->read_response(timeout => 5);
    $c->close;
    $SENT{"POST $p"}++;
    is(st($r), 200, 'POST with its 40-byte body 300 ms after the head: 200');
    is($o->last_fast->{body}, $body, '... the origin got the body');
    my ($d, $r2) = delta($o, sub { GET($p) });
    is($d, 1, '... it invalidated /d/p1: the GET after it is a miss');
    stored_ok($r2, 'GET after the delayed POST');
}

# ==== max_object (100k), chunked fills ===========================================

{
    my $p = '/big/a?cc=max-age%3D100&len=200000';
    my $want = md5_hex(Origin::pattern(200000));
    my ($d, $r) = delta($o, sub { GET($p) });
    ok($r && $r->complete && length(bd($r)) == 200000 && md5_hex(bd($r)) eq $want,
       'larger than max_object: arrives whole');
    is(cs($r), 'gatehouse; fwd=uri-miss; detail=too-large', 'larger than max_object: detail=too-large');
    my ($d2, $r2) = delta($o, sub { GET($p) });
    is($d2, 1, 'larger than max_object: not stored');
    ok($r2 && $r2->complete && md5_hex(bd($r2)) eq $want, '... and whole again');

    $p = '/big/b?cc=max-age%3D100&len=200000&te=chunked&chunk=16384';
    ($d, $r) = delta($o, sub { GET($p) });
    ok($r && $r->complete && md5_hex(bd($r)) eq $want, 'chunked, larger than max_object: arrives whole');
    ($d2, $r2) = delta($o, sub { GET($p) });
    is($d2, 1, 'chunked, larger than max_object: not stored');
    ok($r2 && $r2->complete && md5_hex(bd($r2)) eq $want, '... and whole again');

    $p = '/chunk/a?cc=max-age%3D100&len=30000&te=chunked&chunk=1000';
    $r = GET($p);
    ok($r && $r->complete && bd($r) eq Origin::pattern(30000), 'chunked origin response: whole');
    stored_ok($r, 'chunked origin response');
    ($d2, $r2) = delta($o, sub { GET($p) });
    is($d2, 0, 'chunked fill: then a hit');
    is($r2 && $r2->header('content-length'), 30000, 'hit on a chunked fill: Content-Length: 30000');
    ok(!defined($r2 && $r2->header('transfer-encoding')), '... not chunked');
    is(bd($r2), Origin::pattern(30000), '... the whole body');
}

# ==== collapsed forwarding (two workers) =========================================

{
    my $p = '/col/a?cc=max-age%3D100&hdelay=0.5&len=3000';
    my $n = $o->count_fast;
    my @c = map { Gatehouse::Client->new(port => $gh->port) } 1 .. 6;
    $_->send($gh->build_request($p)) for grep { $_ } @c;
    $SENT{"GET $p"} += 6;
    my @r = map { $_ ? $_->read_response(timeout => 5) : undef } @c;
    $_->close for grep { $_ } @c;
    is($o->count_fast - $n, 1, 'six concurrent misses: one origin request');
    is(scalar(grep { st($_) == 200 && bd($_) eq Origin::pattern(3000) } @r), 6, 'all six: 200, whole body');
    my %cs;
    $cs{ cs($_) }++ for @r;
    is($cs{'gatehouse; fwd=uri-miss; stored'}, 1, 'one filled it (uri-miss; stored)')
        or diag(explain \%cs);
    is($cs{'gatehouse; fwd=uri-miss; collapsed'}, 5, 'five collapsed onto it');
    my @w;
    wait_for(sub { @w = words_of('GET', $p); @w >= 6 }, 3);
    is(join(' ', sort @w), join(' ', ('COLLAPSED') x 5, 'MISS'), 'access log: 1 MISS, 5 COLLAPSED');
}

# ==== failed fills ===============================================================

{
    my $p = '/ff/a?act=partial&cc=max-age%3D100';
    my ($d, $r) = delta($o, sub { GET($p) });
    ok($r && !$r->complete, 'origin closes mid-body: the client gets an incomplete response');
    my ($d2, $r2) = delta($o, sub { GET($p) });
    is($d2, 1, 'failed fill: not stored, the next request goes to the origin');
    ok(!($r2 && $r2->complete && st($r2) == 200), 'failed fill: never served as a whole response');

    # cut in the middle of a streamed fill, with a second client collapsed
    # onto it
    $p = '/ff/b?len=50000&chunk=5000&bdelay=0.1&cut=20000&cc=max-age%3D100';
    my $n = $o->count_fast;
    my $c1 = Gatehouse::Client->new(port => $gh->port);
    $c1->send($gh->build_request($p));
    $SENT{"GET $p"}++;
    ok($c1->read_until(qr/\r\n\r\n/, 3), 'streamed fill: the first client has the head');
    my $c2 = Gatehouse::Client->new(port => $gh->port);
    $c2->send($gh->build_request($p));
    $SENT{"GET $p"}++;
    my $h1 = $c1->read_all(5) // $c1->buffered;
    my $r2b = $c2->read_response(timeout => 5);
    $c1->close;
    $c2->close;
    cmp_ok(length $h1, '<=', 20000 + 200, 'streamed fill cut at 20000 bytes: the first client has no more');
    ok(!($r2b && $r2b->complete && st($r2b) == 200 && length(bd($r2b)) == 50000),
       'a client that joined the cut fill does not get a whole response');
    my ($d3, $r3) = delta($o, sub { GET($p) });
    is($d3, 1, 'after the cut fill: the next request goes to the origin');
    ok(!($r3 && $r3->complete && st($r3) == 200), '... and is not served whole');

    # An HTTP/1.0 client joining a chunked fill (no length: it could not
    # tell a cut body from a whole one) waits for it to complete; when the
    # fill is cut, it asks the origin itself and gets the whole body.
    $p = '/ff/c?len=50000&te=chunked&chunk=5000&bdelay=0.1&cc=max-age%3D100';
    $n = $o->count_fast;
    $o->force('cut=20000');
    my $f1 = Gatehouse::Client->new(port => $gh->port);
    $f1->send($gh->build_request($p));
    $SENT{"GET $p"}++;
    ok($f1->read_until(qr/\r\n\r\n/, 3), 'chunked fill to be cut: the first client has the head');
    my $f2 = Gatehouse::Client->new(port => $gh->port);
    $f2->send($gh->build_request($p, version => '1.0'));
    $SENT{"GET $p"}++;
    ok(wait_for(sub { $o->count_fast - $n >= 1 }, 3), 'the fill reached the origin');
    $o->force(undef);   # for the joiner's own request, once the fill is cut
    my $r10 = $f2->read_response(timeout => 8);
    $f1->close;
    $f2->close;
    is(cs($r10), 'gatehouse; fwd=uri-miss; detail=fill-failed',
       'HTTP/1.0 joiner of a cut chunked fill: went to the origin itself');
    ok($r10 && st($r10) == 200 && bd($r10) eq Origin::pattern(50000), '... and got the whole body');
    is($o->count_fast - $n, 2, '... two origin requests (the cut fill and its own)');
}

# ==== cache_key_extra and key (zone pk: key = "method path", default_ttl) ========

{
    my $hit = sub { my ($p, %o) = @_; my ($d, $r) = delta($o, sub { GET($p, %o) }); $d == 0 };
    GET('/kx/a?x=1');
    ok($hit->('/kx/a?x=2'), 'key "method path": another query finds the entry');
    ok($hit->('/kx/a?x=1', host => 'elsewhere.example'), 'key "method path": another host finds it');
    ok(!$hit->('/kx/a', headers => [ 'X-Tenant' => 't1' ]), 'header:X-Tenant t1: its own entry (miss)');
    ok($hit->('/kx/a', headers => [ 'X-Tenant' => 't1' ]), 'X-Tenant t1 again: hit');
    ok(!$hit->('/kx/a', headers => [ 'X-Tenant' => 't2' ]), 'X-Tenant t2: miss');
    ok(!$hit->('/kx/a', headers => [ 'Cookie' => 'session=s1' ]), 'cookie:session s1: its own entry (miss)');
    ok($hit->('/kx/a', headers => [ 'Cookie' => 'other=9; session=s1' ]), 'session=s1 among other cookies: hit');
    ok(!$hit->('/kx/a', headers => [ 'Cookie' => 'session=s2' ]), 'session=s2: miss');
    ok(!$hit->('/kx/a?lang=en'), 'query:lang en: its own entry (miss)');
    ok($hit->('/kx/a?x=5&lang=en'), 'lang=en with another argument: hit');
    ok(!$hit->('/kx/a?lang=fr'), 'lang=fr: miss');
}

# ==== keys from the raw target: no poisoning by path encoding =====================
# The origin gets the target as sent ("/q%3Fx=1" is not "/q?x=1" to it):
# the key is that, not the decoded, resolved path.

{
    my $uri = sub { my ($r) = @_; my $j = eval { JSON::PP::decode_json(bd($r)) }; $j ? $j->{uri} // '' : '' };
    $o->force('cc=max-age%3D100');
    for my $cse (['/q%3Fx=1', '/q?x=1'], ['/z/..%2Fadmin', '/admin'], ['//dbl', '/dbl']) {
        my ($enc, $plain) = @$cse;
        my ($d1, $r1) = delta($o, sub { GET($enc) });
        is($d1, 1, "$enc: reached the origin");
        stored_ok($r1, $enc);
        is($uri->($r1), $enc, "$enc: the origin's answer names its raw target");
        my ($d2, $r2) = delta($o, sub { GET($plain) });
        is($d2, 1, "$plain after $enc: a miss (the origin asked)");
        stored_ok($r2, "$plain after $enc");
        is($uri->($r2), $plain, "$plain: the origin's answer for $plain, not the one for $enc");
        my ($d3, $r3, $r4) = delta($o, sub { (GET($enc), GET($plain)) });
        is($d3, 0, "$enc and $plain again: hits");
        is(bd($r3), bd($r1), "$enc: its own entry");
        is(bd($r4), bd($r2), "$plain: its own entry");
    }
    $o->force(undef);
}

# ==== PURGE ======================================================================

{
    my $hit = sub { my ($p, %o) = @_; my ($d, $r) = delta($o, sub { GET($p, %o) }); $d == 0 };
    GET('/d/pg/a');
    ok($hit->('/d/pg/a'), 'PURGE: /d/pg/a stored');
    my ($d, $r) = delta($o, sub { req('PURGE', '/d/pg/a') });
    is(st($r), 200, 'PURGE of a stored entry: 200');
    is($d, 0, 'PURGE is not forwarded');
    word_is('PURGE', '/d/pg/a', 'PURGE', 'PURGE');
    is(st(req('PURGE', '/d/pg/a')), 404, 'PURGE again: 404');
    ok(!$hit->('/d/pg/a'), 'purged: the GET after it is a miss');
    ok($hit->('/d/pg/a'), '... which stores it again');

    $r = req('PURGE', '/d/pg/a', from => '127.0.0.2');
    is(st($r), 403, 'PURGE from an address outside purge_allow: 403');
    ok($hit->('/d/pg/a'), '... and nothing was removed');
    GET('/np/x');
    is(st(req('PURGE', '/np/x')), 403, 'PURGE on a cached route without purge_allow: 403');
    ok($hit->('/np/x'), '... and nothing was removed');
    ok(!grep({ $_->{method} eq 'PURGE' && $_->{uri} =~ m{^/(?:d|np)/} } $o->requests),
       'no PURGE on a cached route reached the origin');

    # PURGE on a keep-alive connection, then a GET on the same one: each
    # answered once, in order
    for my $cse (['/d/pg/a', 200, 'a stored entry'], ['/d/pg/none', 404, 'nothing stored']) {
        my ($t, $want, $what) = @$cse;
        GET($t) if $want == 200;
        my $c = Gatehouse::Client->new(port => $gh->port);
        $c->send($gh->build_request($t, method => 'PURGE', close => 0));
        my $r1 = $c->read_response(timeout => 3);
        $c->send($gh->build_request('/d/pg/ka'));
        my $r2 = $c->read_response(timeout => 3);
        my $rest = $c->read_all(2) // '';
        $c->close;
        $SENT{"PURGE $t"}++;
        $SENT{'GET /d/pg/ka'}++;
        is(st($r1), $want, "keep-alive PURGE of $what: $want");
        is(st($r2), 200, "... the GET after it on the connection: 200");
        like(cs($r2), qr/^gatehouse; (?:fwd=uri-miss; stored|hit; ttl=\d+)$/,
             '... answered as that GET (not as the PURGE again)') or diag('Cache-Status: ' . cs($r2));
        my $more = () = $rest =~ m{^HTTP/1\.1 \d{3}}mg;
        is($more, 0, '... and nothing more on the connection (one answer per request)')
            or diag("$more more responses, " . length($rest) . ' bytes');
    }

    # prefix
    GET($_) for qw(/d/pre/a /d/pre/b /d/pre/sub/c /d/prefix /d/other);
    ok($hit->('/d/pre/a') && $hit->('/d/pre/sub/c') && $hit->('/d/prefix'), 'prefix: entries stored');
    is(st(req('PURGE', '/d/pre/*')), 200, 'PURGE /d/pre/*: 200');
    ok(!$hit->('/d/pre/a'), 'PURGE /d/pre/*: /d/pre/a removed');
    ok(!$hit->('/d/pre/b'), 'PURGE /d/pre/*: /d/pre/b removed');
    ok(!$hit->('/d/pre/sub/c'), 'PURGE /d/pre/*: /d/pre/sub/c removed');
    ok($hit->('/d/prefix'), 'PURGE /d/pre/*: /d/prefix kept');
    ok($hit->('/d/other'), 'PURGE /d/pre/*: /d/other kept');
    is(st(req('PURGE', '/d/nothing/*')), 404, 'PURGE of a prefix with nothing under it: 404');

    # every variant of a key
    my $p = '/vary/p?cc=max-age%3D100&vary=Accept-Language';
    GET($p, headers => [ 'Accept-Language' => $_ ]) for qw(en fr);
    is(st(req('PURGE', $p)), 200, 'PURGE of a key with two variants: 200');
    ok(!$hit->($p, headers => [ 'Accept-Language' => 'en' ]), 'variant en removed');
    ok(!$hit->($p, headers => [ 'Accept-Language' => 'fr' ]), 'variant fr removed');
}

# ==== PURGE and invalidation reach every cache_key_extra value (route /kp/) ========

{
    my $hit = sub { my ($p, %o) = @_; my ($d, $r) = delta($o, sub { GET($p, %o) }); $d == 0 };
    my @a = (headers => [ 'X-T' => 'a' ]);
    my @b = (headers => [ 'X-T' => 'b' ]);
    my $p = '/kp/x1';
    my ($d0, $ra, $rb) = delta($o, sub { (GET($p, @a), GET($p, @b)) });
    is($d0, 2, 'cache_key_extra header:X-T: a and b, two origin requests');
    ok($hit->($p, @a) && $hit->($p, @b), '... each stored (hits)');
    isnt(bd($ra), bd($rb), '... two entries');
    my ($d, $r) = delta($o, sub { req('PURGE', $p) });
    is(st($r), 200, 'PURGE /kp/x1 (without X-T): 200');
    is($d, 0, '... not forwarded');
    ok(!$hit->($p, @a), 'PURGE removed the X-T: a entry');
    ok(!$hit->($p, @b), 'PURGE removed the X-T: b entry');
    ok($hit->($p, @a) && $hit->($p, @b), 'both stored again');
    $r = req('POST', $p, body => 'x=1');
    is(st($r), 200, 'POST /kp/x1 (without X-T): 200');
    ok(!$hit->($p, @a), 'POST 2xx invalidated the X-T: a entry');
    ok(!$hit->($p, @b), 'POST 2xx invalidated the X-T: b entry');
}

# ==== PURGE on a route without cache ===============================================
# The man page makes PURGE a function of a cached route (CACHE,
# Invalidation and PURGE: "A PURGE is never sent to the origin" is said of
# those; purge_allow needs cache) and promises nothing else for a route
# without cache, which proxies every method: PURGE there is an ordinary
# request, for the origin.

{
    my ($d, $r) = delta($o, sub { req('PURGE', '/nc/pg') });
    is($d, 1, 'PURGE on a route without cache: forwarded to the origin');
    my $rec = $o->last_fast;
    is($rec && $rec->{method}, 'PURGE', '... as PURGE');
    is($rec && $rec->{uri}, '/nc/pg', '... with its target');
    is(st($r), 200, "... the client gets the origin's answer");
    is($r && $r->header('x-origin'), 'o', '... (X-Origin: o)');
    ok($r && !defined $r->header('cache-status'), '... without Cache-Status');
    word_is('PURGE', '/nc/pg', '-', 'PURGE on a route without cache');
}

# ==== a GET with a body: never from or into the cache ==============================

{
    my $p = '/d/body/a';
    my ($d, $r) = delta($o, sub { req('GET', $p, body => 'hello') });
    is($d, 1, 'GET with Content-Length: 5: sent to the origin');
    is(st($r), 200, 'GET with a body: 200');
    is(cs($r), 'gatehouse; fwd=bypass; detail=body', 'GET with a body: fwd=bypass; detail=body');
    my $rec = $o->last_fast;
    is($rec && $rec->{method}, 'GET', '... the origin got a GET');
    is($rec && $rec->{body}, 'hello', '... with its body');
    word_is('GET', $p, 'BYPASS', 'GET with a body');
    my ($d2, $r2) = delta($o, sub { GET($p) });
    is($d2, 1, 'GET with a body: nothing stored (the GET after it is a miss)');
    stored_ok($r2, 'the GET without a body');

    # on a stored entry: still the origin, and the entry stays
    my ($d3, $r3) = delta($o, sub { req('GET', $p, body => 'hello') });
    is($d3, 1, 'GET with a body on a stored entry: sent to the origin, not a hit');
    is(cs($r3), 'gatehouse; fwd=bypass; detail=body', '... fwd=bypass; detail=body');
    isnt(bd($r3), bd($r2), "... the origin's new answer");
    my ($d4, $r4) = delta($o, sub { GET($p) });
    is($d4, 0, 'the entry is untouched: the GET after it is a hit');
    is(bd($r4), bd($r2), '... with the stored body');

    # the body after the head, and chunked
    $p = '/d/body/b';
    my $n = $o->count_fast;
    my $c = Gatehouse::Client->new(port => $gh->port);
    $c->send("GET $p HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\n");
    sleep 0.1;
    $c->send('hello');
    $r = $c->read_response(timeout => 5);
    $c->close;
    $SENT{"GET $p"}++;
    is(cs($r), 'gatehouse; fwd=bypass; detail=body', 'GET with a body sent 100 ms after its head: bypass');
    is($o->last_fast->{body}, 'hello', '... the origin got the body');
    $r = req('GET', $p, headers => [ 'Transfer-Encoding' => 'chunked' ], body => "5\r\nhello\r\n0\r\n\r\n");
    is(cs($r), 'gatehouse; fwd=bypass; detail=body', 'GET with a chunked body: bypass');
    is($o->last_fast->{body}, 'hello', '... the origin got the body');
    is($o->count_fast - $n, 2, '... both reached the origin');
    my ($d5) = delta($o, sub { GET($p) });
    is($d5, 1, '... and nothing was stored');
}

# ==== HTTP/1.0 clients, and hits on an entry still filling =========================

{
    # a hit on a complete entry (filled from a chunked response)
    my $p = '/v10/a?cc=max-age%3D100&len=20000&te=chunked&chunk=4000';
    stored_ok(GET($p), 'chunked fill for HTTP/1.0');
    my $c = Gatehouse::Client->new(port => $gh->port);
    $c->send($gh->build_request($p, version => '1.0', close => 0));
    $SENT{"GET $p"}++;
    my $r = $c->read_response(timeout => 5);
    hit_ok($r, 'HTTP/1.0 hit');
    is($r && $r->header('content-length'), 20000, 'HTTP/1.0 hit: Content-Length: 20000');
    ok($r && !defined $r->header('transfer-encoding'), 'HTTP/1.0 hit: not chunked');
    is(bd($r), Origin::pattern(20000), 'HTTP/1.0 hit: the whole body');
    ok($c->wait_closed(3), 'HTTP/1.0 hit without keep-alive: the connection is closed after it');
    $c->close;

    # HTTP/1.0 with keep-alive: two hits on one connection
    $c = Gatehouse::Client->new(port => $gh->port);
    my @r;
    for my $i (1, 2) {
        $c->send($gh->build_request($p, version => '1.0', close => 0,
                                    headers => [ 'Connection' => 'keep-alive' ]));
        $SENT{"GET $p"}++;
        push @r, $c->read_response(timeout => 5);
    }
    $c->close;
    is(scalar(grep { st($_) == 200 && cs($_) =~ /^gatehouse; hit\b/ && bd($_) eq Origin::pattern(20000)
                     && ($_->header('content-length') // '') eq '20000' } @r), 2,
       'HTTP/1.0 keep-alive: two whole hits with Content-Length on one connection');

    # hits on entries still filling: chunked origin (no length), and an
    # origin that sent Content-Length; 5 body pieces 0.15 s apart
    my $pc = '/v10/fc?cc=max-age%3D100&len=20000&te=chunked&chunk=4000&bdelay=0.15';
    my $pl = '/v10/fl?cc=max-age%3D100&len=20000&chunk=4000&bdelay=0.15';
    my $n = $o->count_fast;
    my %fill = map { ($_ => Gatehouse::Client->new(port => $gh->port)) } $pc, $pl;
    for my $q ($pc, $pl) {
        $fill{$q}->send($gh->build_request($q));
        $SENT{"GET $q"}++;
    }
    ok($fill{$pc}->read_until(qr/\r\n\r\n/, 3) && $fill{$pl}->read_until(qr/\r\n\r\n/, 3),
       'two slow fills: their heads arrived');
    my @j = ([$pc, '1.1', 1], [$pc, '1.0', 0], [$pl, '1.1', 1], [$pl, '1.0', 0]);
    my @jc = map { Gatehouse::Client->new(port => $gh->port) } @j;
    for my $i (0 .. $#j) {
        $jc[$i]->send($gh->build_request($j[$i][0], version => $j[$i][1], close => $j[$i][2]));
        $SENT{"GET $j[$i][0]"}++;
    }
    my @jr = map { $_->read_response(timeout => 5) } @jc;
    my @closed = map { $_->wait_closed(2) } @jc;
    $_->close for @jc;
    $_->read_all(5), $_->close for values %fill;
    is($o->count_fast - $n, 2, 'the four joined the two fills: two origin requests');

    my ($r11, $r10, $l11, $l10) = @jr;
    my $want = Origin::pattern(20000);
    is(cs($r11), 'gatehouse; fwd=uri-miss; collapsed', 'HTTP/1.1 on a filling chunked entry: collapsed');
    like($r11 && $r11->header('transfer-encoding') // '', qr/^chunked$/i, '... Transfer-Encoding: chunked');
    ok($r11 && !defined $r11->header('content-length'), '... no Content-Length');
    ok($r11 && $r11->complete && bd($r11) eq $want, '... complete (last chunk) with the whole body')
        or diag('got ' . length(bd($r11)) . ' bytes, complete ' . ($r11 && $r11->complete // 0));
    cmp_ok(scalar(@{ $r11 ? $r11->{chunk_sizes} // [] : [] }), '>', 2,
           '... in several chunks, as the fill arrived');

    is(cs($r10), 'gatehouse; fwd=uri-miss; collapsed', 'HTTP/1.0 on a filling chunked entry: collapsed');
    ok($r10 && !defined $r10->header('transfer-encoding'), '... not chunked (HTTP/1.0)');
    # It cannot tell a cut body from a whole one without a length: it waits
    # for the fill to complete and gets Content-Length.
    is($r10 && $r10->header('content-length'), 20000,
       '... waited for the fill to complete: Content-Length 20000');
    ok($r10 && $r10->complete && bd($r10) eq $want, '... the whole body')
        or diag('got ' . length(bd($r10)) . ' bytes');
    ok($closed[1], '... the connection closed');
    like($r10 && $r10->header('connection') // '', qr/close/i, '... and said so (Connection: close)');

    for my $x ([$l11, '1.1', $closed[2]], [$l10, '1.0', $closed[3]]) {
        my ($lr, $v, $cl) = @$x;
        is(cs($lr), 'gatehouse; fwd=uri-miss; collapsed', "HTTP/$v on a filling entry with Content-Length: collapsed");
        is($lr && $lr->header('content-length'), 20000, "... Content-Length: 20000 (the origin's)");
        ok($lr && !defined $lr->header('transfer-encoding'), '... not chunked');
        ok($lr && $lr->complete && bd($lr) eq $want, '... the whole body');
    }
    ok($closed[3], 'HTTP/1.0 on a filling entry with Content-Length: the connection closed after it');

    # both fills complete: hits
    my ($d, $h1, $h2) = delta($o, sub { (GET($pc), GET($pl)) });
    is($d, 0, 'the slow fills stored their entries: hits');
    is(scalar(grep { bd($_) eq $want && ($_->header('content-length') // '') eq '20000' } $h1, $h2), 2,
       '... whole, with Content-Length');
}

# ==== pipelined requests on one keep-alive connection ==============================

{
    my $pa = '/pl/a?cc=max-age%3D100';
    my $pb = '/pl/b?cc=max-age%3D100';
    my $b0 = GET($pb);
    stored_ok($b0, 'pipelining: /pl/b stored first');
    # [method, target, extra build_request options, check]
    my @seq = (
        ['GET',   $pa, []],
        ['GET',   $pa, []],
        ['HEAD',  $pa, []],
        ['GET',   $pb, []],
        ['GET',   '/d/pl/body', [ body => 'hello' ]],
        ['GET',   '/nc/pl', []],
        ['GET',   $pa, [ headers => [ 'If-None-Match' => '"nope"', 'Range' => 'bytes=0-9' ] ]],
        ['PURGE', $pb, []],
        ['GET',   $pb, []],
        ['PURGE', '/pl/none', []],
        ['GET',   $pb, []],
    );
    my $raw = '';
    for my $i (0 .. $#seq) {
        my ($m, $t, $x) = @{ $seq[$i] };
        $raw .= $gh->build_request($t, @$x, method => $m, close => $i == $#seq);
        $SENT{"$m $t"}++;
    }
    my $n = $o->count_fast;
    my $c = Gatehouse::Client->new(port => $gh->port);
    $c->send($raw);
    my @r = map { $c->read_response(head => $_->[0] eq 'HEAD', timeout => 5) } @seq;
    my $closed = $c->wait_closed(3);
    $c->close;
    is(scalar(grep { defined } @r), scalar(@seq), 'pipelining: ' . scalar(@seq) . ' responses')
        or diag($c->error // '');
    my $uri = sub { my ($r) = @_; my $j = eval { JSON::PP::decode_json(bd($r)) }; $j ? $j->{uri} // '' : '' };

    my ($a1, $a2, $ah, $b1, $bd, $nc, $rg, $pg, $b2, $pg404, $b3) = @r;
    is(st($a1), 200, 'pipelined 1: GET /pl/a: 200');
    is(cs($a1), 'gatehouse; fwd=uri-miss; stored', 'pipelined 1: a miss, stored');
    is($uri->($a1), $pa, "pipelined 1: the origin's answer for it");
    hit_ok($a2, 'pipelined 2: GET /pl/a again');
    is(bd($a2), bd($a1), 'pipelined 2: the body stored by 1');
    is(st($ah), 200, 'pipelined 3: HEAD /pl/a: 200');
    like(cs($ah), qr/^gatehouse; hit\b/, 'pipelined 3: a hit');
    is($ah && $ah->header('content-length'), length bd($a1), 'pipelined 3: Content-Length of the GET');
    hit_ok($b1, 'pipelined 4: GET /pl/b');
    is(bd($b1), bd($b0), 'pipelined 4: the body stored before');
    is(cs($bd), 'gatehouse; fwd=bypass; detail=body', 'pipelined 5: GET with a body: bypass');
    is($uri->($bd), '/d/pl/body', "pipelined 5: the origin's answer for it");
    ok($nc && !defined $nc->header('cache-status'), 'pipelined 6: route without cache: no Cache-Status');
    is($uri->($nc), '/nc/pl', "pipelined 6: the origin's answer for it");
    is(st($rg), 206, 'pipelined 7: Range on a hit: 206');
    is(bd($rg), substr(bd($a1), 0, 10), 'pipelined 7: the first 10 stored bytes');
    is(st($pg), 200, 'pipelined 8: PURGE /pl/b: 200');
    is(st($b2), 200, 'pipelined 9: GET /pl/b after the PURGE: 200');
    is(cs($b2), 'gatehouse; fwd=uri-miss; stored', 'pipelined 9: a miss, stored again');
    is($uri->($b2), $pb, "pipelined 9: the origin's new answer for it");
    isnt(bd($b2), bd($b0), "pipelined 9: not the purged body");
    is(st($pg404), 404, 'pipelined 10: PURGE of nothing: 404');
    hit_ok($b3, 'pipelined 11: GET /pl/b');
    is(bd($b3), bd($b2), 'pipelined 11: the body stored by 9');
    ok($closed, 'pipelining: closed after the last (Connection: close)');
    is($o->count_fast - $n, 4, 'pipelining: four requests reached the origin (1, 5, 6, 9)');
}

# ==== garbage ======================================================================

{
    # a request Cache-Control of 8 KB of commas: no directive at all
    my $commas = ',' x 8192;
    my $p = '/g/cc?cc=max-age%3D100';
    my $r = GET($p, headers => [ 'Cache-Control' => $commas ]);
    is(st($r), 200, 'request Cache-Control of 8 KB of commas: 200');
    stored_ok($r, '8 KB of commas');
    my ($d, $r2) = delta($o, sub { GET($p, headers => [ 'Cache-Control' => $commas ]) });
    is($d, 0, '8 KB of commas: then a hit (no directive in them)');
    hit_ok($r2, '8 KB of commas');
    my ($d2, $r3) = delta($o, sub { GET($p, headers => [ 'Cache-Control' => "${commas}no-cache" ]) });
    is($d2, 1, '8 KB of commas, then no-cache: the directive at the end is seen (forwarded)');
    like(cs($r3), qr/^gatehouse; fwd=request\b/, '... fwd=request');

    # a response Cache-Control of 8 KB of commas and max-age
    $p = '/g/rcc';
    $o->force("cc=${commas}max-age=100");
    $r = GET($p);
    my ($d3, $r4) = delta($o, sub { GET($p) });
    $o->force(undef);
    stored_ok($r, 'response Cache-Control: 8 KB of commas, max-age=100');
    is($d3, 0, '... then a hit');
    hit_ok($r4, 'response Cache-Control of 8 KB', [98, 100]);
    is($r4 && $r4->header('cache-control'), "${commas}max-age=100", '... the stored field whole');

    # Vary naming 40 fields: more than the cache keys on; not stored
    my $v40 = join ',', map { sprintf 'X-V%02d', $_ } 1 .. 40;
    my @vh = map { (sprintf('X-V%02d', $_) => "v$_") } 1 .. 40;
    $p = "/g/vary40?cc=max-age%3D100&vary=$v40";
    not_stored_ok($p, 'vary-invalid', 'Vary naming 40 fields', headers => \@vh);
    # 16 fields: stored, one variant per value of the 16th
    my $v16 = join ',', map { sprintf 'X-V%02d', $_ } 1 .. 16;
    $p = "/g/vary16?cc=max-age%3D100&vary=$v16";
    my @h16 = map { (sprintf('X-V%02d', $_) => "v$_") } 1 .. 15;
    my ($d4, $va, $va2, $vb, $vb2) = delta($o, sub {
        (GET($p, headers => [ @h16, 'X-V16' => 'a' ]), GET($p, headers => [ @h16, 'X-V16' => 'a' ]),
         GET($p, headers => [ @h16, 'X-V16' => 'b' ]), GET($p, headers => [ @h16, 'X-V16' => 'b' ])) });
    is(cs($va), 'gatehouse; fwd=uri-miss; stored', 'Vary naming 16 fields: stored');
    is(cs($vb), 'gatehouse; fwd=vary-miss; stored', '... another value of the 16th: vary-miss');
    is($d4, 2, '... two origin requests for two variants');
    is(bd($va2), bd($va), '... each variant gets its own (a)');
    is(bd($vb2), bd($vb), '... each variant gets its own (b)');
    isnt(bd($va), bd($vb), '... (two different bodies)');

    # an ETag of 4 KB: stored, compared
    $p = '/g/etag?cc=max-age%3D100';
    $o->force("etag=$TAG4K");
    $r = GET($p);
    $o->force(undef);
    stored_ok($r, '4 KB ETag');
    my ($d5, $e1, $e2, $e3, $e4) = delta($o, sub {
        (GET($p), GET($p, headers => [ 'If-None-Match' => qq{"$TAG4K"} ]),
         GET($p, headers => [ 'If-None-Match' => qq{"x", W/"$TAG4K"} ]),
         GET($p, headers => [ 'If-None-Match' => '"' . ('z' x 4096) . '"' ])) });
    is($d5, 0, '4 KB ETag: all from the cache');
    is($e1 && $e1->header('etag'), qq{"$TAG4K"}, '4 KB ETag: the hit carries it whole');
    is(st($e2), 304, '4 KB ETag: If-None-Match with it: 304');
    is($e2 && $e2->header('etag'), qq{"$TAG4K"}, '... the 304 carries it');
    is(st($e3), 304, '4 KB ETag: W/ in a list: 304');
    is(st($e4), 200, '4 KB ETag: another 4 KB tag: 200');
    is(bd($e4), bd($r), '... the stored body');

    # response header fields: the cache keeps at most 64 (GH_CMETA_HDRS);
    # the origin sends X-Origin, X-Conn, X-Seq, Content-Type, Cache-Control
    # and Content-Length (not kept) besides these
    my $fields = sub { join '&', map { sprintf 'hdr=X-F%03d:%%20v%03d', $_, $_ } 1 .. $_[0] };
    $p = '/g/f59?cc=max-age%3D100';
    $o->force($fields->(59));
    $r = GET($p);
    my ($d6, $h) = delta($o, sub { GET($p) });
    $o->force(undef);
    stored_ok($r, '59 more fields (64 kept)');
    is($d6, 0, '64 kept fields: then a hit');
    is(scalar(grep { ($h && $h->header(sprintf 'X-F%03d', $_) // '') eq sprintf('v%03d', $_) } 1 .. 59), 59,
       '... with all 59 fields');
    is($h && $h->header('x-seq'), $r->header('x-seq'), '... and the others (X-Seq)');

    $p = '/g/f100?cc=max-age%3D100';
    $o->force($fields->(100));
    ($d, $r) = delta($o, sub { GET($p) });
    is(st($r), 200, '100 more fields: 200');
    is(scalar(grep { ($r && $r->header(sprintf 'X-F%03d', $_) // '') eq sprintf('v%03d', $_) } 1 .. 100), 100,
       '100 more fields: all passed to the client');
    ok($r && $r->complete && length bd($r), '... with the whole body');
    is(cs($r), 'gatehouse; fwd=uri-miss; detail=too-many-fields', '... not stored: detail=too-many-fields');
    ($d2, $r2) = delta($o, sub { GET($p) });
    $o->force(undef);
    is($d2, 1, '100 more fields: the next request goes to the origin again');
    is(scalar(grep { ($r2 && $r2->header(sprintf 'X-F%03d', $_) // '') ne '' } 1 .. 100), 100,
       '... and gets all 100 again');
}

# ==== stale entries ===============================================================

{
    my $age;
    ok(wait_for(sub { my $r = GET($CANARY); $age = $r && $r->header('age') // 0; $age >= 2 }, 5, 0.1),
       "the early entries are stale now (canary Age $age)");
}

# request max-age=0 on an entry with Age >= 1
{
    my ($d, $r) = delta($o, sub { GET($S{ma0}, headers => [ 'Cache-Control' => 'max-age=0' ]) });
    is($d, 1, 'request max-age=0: forwarded');
    like(cs($r), qr/^gatehouse; fwd=request\b/, 'request max-age=0: fwd=request');
    my ($d2) = delta($o, sub { GET($S{ma0}, headers => [ 'Cache-Control' => 'max-age=1000' ]) });
    is($d2, 0, 'request max-age=1000: a hit');
}

# max-stale
{
    my ($d, $r1, $r2) = delta($o, sub {
        (GET($S{mst}, headers => [ 'Cache-Control' => 'max-stale=60' ]),
         GET($S{mst}, headers => [ 'Cache-Control' => 'max-stale' ])) });
    is($d, 0, 'max-stale: the stale entry is served, the origin not asked');
    like(cs($r1), qr/^gatehouse; hit; ttl=-\d+$/, 'max-stale=60: hit; ttl=-N');
    is(bd($r1), $SB{mst}, 'max-stale=60: the stored body');
    word_is('GET', $S{mst}, 'STALE', 'served stale (max-stale)');
    like(cs($r2), qr/^gatehouse; hit; ttl=-\d+$/, 'max-stale without a value: hit; ttl=-N');
    my ($d2) = delta($o, sub { GET($S{mst}, headers => [ 'Cache-Control' => 'max-stale=0' ]) });
    is($d2, 1, 'max-stale=0 on an entry more than 1 s stale: forwarded');
    my ($d3) = delta($o, sub { GET($S{mr}, headers => [ 'Cache-Control' => 'max-stale=60' ]) });
    is($d3, 1, 'must-revalidate: max-stale does not serve it stale');
}

# revalidation
{
    $o->force('cc=max-age=100');
    my ($d, $r) = delta($o, sub { GET($S{rv_etag}) });
    my $rec = $o->last_fast;
    is($d, 1, 'stale with ETag: one request to the origin');
    is(Origin::rec_header($rec, 'If-None-Match'), '"v1"', 'stale with ETag: If-None-Match: "v1"');
    ok($rec->{not_modified}, 'stale with ETag: the origin answered 304');
    is(st($r), 200, 'revalidated: 200 to the client');
    is(bd($r), $SB{rv_etag}, 'revalidated: the stored body');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=304', 'revalidated: Cache-Status fwd=stale; fwd-status=304');
    word_is('GET', $S{rv_etag}, 'REVALIDATED', 'revalidated (304)');
    my ($d2, $r2) = delta($o, sub { GET($S{rv_etag}) });
    is($d2, 0, 'after the 304: the entry is fresh again');
    hit_ok($r2, 'after the 304', [90, 100]);
    is($r2 && $r2->header('cache-control'), 'max-age=100', "the 304's Cache-Control replaced the stored one");
    is(bd($r2), $SB{rv_etag}, 'after the 304: the body unchanged');

    ($d, $r) = delta($o, sub { GET($S{rv_lm}) });
    $rec = $o->last_fast;
    is($d, 1, 'stale with Last-Modified: one request to the origin');
    is(Origin::rec_header($rec, 'If-Modified-Since'), Origin::http_date($LM),
       'stale with Last-Modified: If-Modified-Since is the Last-Modified');
    ok($rec->{not_modified}, 'stale with Last-Modified: the origin answered 304');
    is(bd($r), $SB{rv_lm}, 'revalidated by date: the stored body');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=304', 'revalidated by date: Cache-Status');
    ($d2, $r2) = delta($o, sub { GET($S{rv_lm}) });
    is($d2, 0, 'revalidated by date: fresh again');

    $o->force('etag=v2&cc=max-age=100');
    ($d, $r) = delta($o, sub { GET($S{rv_new}) });
    $rec = $o->last_fast;
    $o->force(undef);
    is(Origin::rec_header($rec, 'If-None-Match'), '"v1"', 'stale, origin changed: If-None-Match: "v1" sent');
    ok(!$rec->{not_modified}, 'stale, origin changed: it answered 200');
    isnt(bd($r), $SB{rv_new}, 'origin answered 200: the new body');
    is($r && $r->header('etag'), '"v2"', 'origin answered 200: the new ETag');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=200; stored', 'origin answered 200: fwd-status=200; stored');
    word_is('GET', $S{rv_new}, 'EXPIRED', 'stale, refetched');
    ($d2, $r2) = delta($o, sub { GET($S{rv_new}) });
    is($d2, 0, 'the 200 replaced the entry: a hit');
    is(bd($r2), bd($r), '... with the new body');

    ($d, $r) = delta($o, sub { GET($S{rv_noval}) });
    $rec = $o->last_fast;
    is($d, 1, 'stale without validators: forwarded');
    ok(!defined Origin::rec_header($rec, 'If-None-Match') && !defined Origin::rec_header($rec, 'If-Modified-Since'),
       'stale without validators: not conditional');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=200; stored', 'stale without validators: Cache-Status');

    # a 4 KB ETag: revalidated with it
    $o->force("etag=$TAG4K&cc=max-age=100");
    ($d, $r) = delta($o, sub { GET($RV4K) });
    $rec = $o->last_fast;
    $o->force(undef);
    is($d, 1, 'stale with a 4 KB ETag: one request to the origin');
    is(Origin::rec_header($rec, 'If-None-Match'), qq{"$TAG4K"}, '... If-None-Match: the 4 KB tag whole');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=304', '... revalidated (304)');
    is(bd($r), $SB{rv4k}, '... the stored body');
    ($d2, $r2) = delta($o, sub { GET($RV4K) });
    is($d2, 0, '... then fresh');
    is($r2 && $r2->header('etag'), qq{"$TAG4K"}, '... with the ETag whole');
}

# stale-while-revalidate
{
    $o->force('hdelay=0.5&cc=max-age=100');
    my $n = $o->count_fast;
    my (@r, @dt);
    for my $i (1 .. 4) {
        my $t = time;
        push @r, GET($S{swr});
        push @dt, time - $t;
    }
    my $served = grep { st($_) == 200 && bd($_) eq $SB{swr} } @r;
    is($served, 4, 'stale-while-revalidate: four requests get the stale body');
    is(scalar(grep { cs($_) =~ /^gatehouse; hit; ttl=-\d+; detail=stale-while-revalidate$/ } @r), 4,
       'stale-while-revalidate: Cache-Status hit; ttl=-N; detail=stale-while-revalidate')
        or diag(join "\n", map { cs($_) } @r);
    ok(!grep({ $_ > 0.4 } @dt), sprintf('stale-while-revalidate: served at once (%s s), not after the 0.5 s refresh',
                                         join ' ', map { sprintf '%.2f', $_ } @dt));
    ok($o->wait_count($n + 1, 3), 'the refresh reached the origin');
    my $new;
    ok(wait_for(sub { my $r = GET($S{swr}); $new = $r if cs($r) =~ /^gatehouse; hit; ttl=\d+$/; $new }, 5, 0.1),
       'then the entry is fresh');
    isnt(bd($new), $SB{swr}, '... with the refreshed body');
    $o->force(undef);
    is($o->count_fast - $n, 1, 'exactly one background refresh for the whole daemon');
    my @w = words_of('GET', $S{swr});
    cmp_ok(scalar(grep { $_ eq 'UPDATING' } @w), '>=', 4, 'access log: cache=UPDATING for the stale ones');
}

# stale-while-revalidate on a keep-alive connection: the client's next
# request follows the stale answer at once, on the connection whose
# refresh is under way (a 200 that replaces the entry; a 304 that
# refreshes it)
for my $k (qw(swr_ka swr_ka304)) {
    $o->force('hdelay=0.5&cc=max-age=100');
    my $n = $o->count_fast;
    my $c = Gatehouse::Client->new(port => $gh->port);
    my $t = time;
    $c->send($gh->build_request($S{$k}, close => 0));
    my $r1 = $c->read_response(timeout => 5);
    my $dt = time - $t;
    $c->send($gh->build_request($S{$k}, close => 0));
    my $r2 = $c->read_response(timeout => 5);
    $c->send($gh->build_request($S{$k}));
    my $r3 = $c->read_response(timeout => 5);
    my $closed = $c->wait_closed(3);
    $c->close;
    $SENT{"GET $S{$k}"} += 3;
    sleep 0.2;          # a second refresh, if any, would have reached it
    $o->force(undef);
    my $rec = $o->last_fast;
    like(cs($r1), qr/^gatehouse; hit; ttl=-\d+; detail=stale-while-revalidate$/,
         "$k: keep-alive: the first answer is stale-while-revalidate");
    is(bd($r1), $SB{$k}, "$k: ... the stale body");
    cmp_ok($dt, '<', 0.4, sprintf("$k: ... at once (%.2f s), not after the 0.5 s refresh", $dt));
    is(st($r2), 200, "$k: the next request on the connection: 200");
    ok($r2 && $r2->complete, "$k: ... complete");
    like(cs($r2), qr/^gatehouse; hit; ttl=\d+$/, "$k: ... a fresh hit (after the refresh)");
    if ($k eq 'swr_ka') {
        isnt(bd($r2), $SB{$k}, "$k: ... with the refreshed body");
        like(bd($r2), qr/"uri":"\Q$S{$k}\E"/, "$k: ... (the origin's answer to this URI)");
    } else {
        is(bd($r2), $SB{$k}, "$k: ... the stored body (the origin said 304)");
        ok($rec && $rec->{not_modified}, "$k: the refresh was conditional and got 304");
    }
    is(st($r3), 200, "$k: a third request on the connection: 200");
    is(bd($r3), bd($r2), "$k: ... the same body");
    ok($closed, "$k: the connection closes after the last (Connection: close)");
    is($o->count_fast - $n, 1, "$k: one refresh reached the origin");
}

# a background refresh of stale-while-revalidate answered 500: the stale
# entry stays, and is served for the rest of the window
{
    my $mark = $gh->log_mark;
    $o->force('status=500');
    my $n = $o->count_fast;
    my $r1 = GET($S{swr_fail});
    is(st($r1), 200, 'refresh answered 500: the first request gets 200');
    is(bd($r1), $SB{swr_fail}, '... the stale body');
    like(cs($r1), qr/^gatehouse; hit; ttl=-\d+; detail=stale-while-revalidate$/, '... stale-while-revalidate');
    ok($o->wait_count($n + 1, 3), 'the background refresh reached the origin');
    ok($gh->wait_log([qr/background refresh/, qr/got 500/, qr/stale one stays/], $mark, 3),
       'the refresh got 500: "the stale one stays" in the error log');
    my @r = map { GET($S{swr_fail}) } 1 .. 3;
    # The refreshes these started (a second, maybe a third): each done (its
    # 500 logged) before the origin answers 200 again and the next test
    # counts its requests.
    sleep 0.2;
    wait_for(sub { my $l = () = $gh->log_since($mark) =~ /stale one stays/g; $l >= $o->count_fast - $n }, 3);
    $o->force(undef);
    is(scalar(grep { st($_) == 200 && bd($_) eq $SB{swr_fail} } @r), 3,
       'the next three requests: 200 with the stale body, never the 500')
        or diag(join "\n", map { st($_) . ' ' . cs($_) } @r);
    is(scalar(grep { cs($_) =~ /^gatehouse; hit; ttl=-\d+(?:; detail=stale-while-revalidate)?$/ } @r), 3,
       '... served stale (UPDATING or STALE)');
}

# a foreground revalidation answered 200 with no-store: the client gets
# that 200, the stored entry stays (no-cache with an ETag: revalidated with
# it again; max-age=1: served with max-stale)
{
    my $p = '/ns/ncns?cc=no-cache,%20max-age%3D100&etag=n2';
    my $r0 = GET($p);
    stored_ok($r0, 'no-cache with ETag n2');
    $o->force('etag=n3&cc=no-store');
    my ($d, $r1) = delta($o, sub { GET($p) });
    my $rec = $o->last_fast;
    $o->force(undef);
    is($d, 1, 'no-cache entry: revalidated at the origin');
    is(Origin::rec_header($rec, 'If-None-Match'), '"n2"', '... If-None-Match: "n2"');
    is(st($r1), 200, "the origin's 200 with no-store: 200 to the client");
    is($r1 && $r1->header('etag'), '"n3"', "... the origin's response (ETag n3)");
    isnt(bd($r1), bd($r0), '... with its body');
    unlike(cs($r1), qr/; stored\b/, '... not stored');
    my ($d2, $r2) = delta($o, sub { GET($p) });
    $rec = $o->last_fast;
    is($d2, 1, 'the next request: revalidated');
    is(Origin::rec_header($rec, 'If-None-Match'), '"n2"', '... with the stored ETag "n2" (the entry stayed)');
    ok($rec && $rec->{not_modified}, '... the origin said 304');
    is(st($r2), 200, '... 200 to the client');
    is(bd($r2), bd($r0), '... with the stored body');
    like(cs($r2), qr/fwd-status=304/, '... Cache-Status fwd-status=304');

    $o->force('etag=s2&cc=no-store');
    ($d, $r1) = delta($o, sub { GET($S{rv_ns}) });
    $rec = $o->last_fast;
    $o->force(undef);
    is($d, 1, 'stale entry with ETag s1: revalidated at the origin');
    is(Origin::rec_header($rec, 'If-None-Match'), '"s1"', '... If-None-Match: "s1"');
    is(st($r1), 200, "the origin's 200 with no-store: 200 to the client");
    isnt(bd($r1), $SB{rv_ns}, '... with its body');
    unlike(cs($r1), qr/; stored\b/, '... not stored');
    ($d2, $r2) = delta($o, sub { GET($S{rv_ns}, headers => [ 'Cache-Control' => 'max-stale' ]) });
    is($d2, 0, 'then max-stale: served from the cache');
    like(cs($r2), qr/^gatehouse; hit; ttl=-\d+$/, '... the stale entry (hit; ttl=-N)');
    is(bd($r2), $SB{rv_ns}, '... with the stored body');
}

# stale-if-error
{
    $f->force('status=503');
    my ($d, $r) = delta($f, sub { GET($S{sie_503}) });
    is($d, 1, 'stale-if-error: the origin was asked');
    is(st($r), 200, 'origin 503, stale-if-error=60: 200');
    is(bd($r), $SB{sie_503}, '... the stale body');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=503; detail=stale-if-error', '... Cache-Status');
    word_is('GET', $S{sie_503}, 'STALE', 'stale-if-error');

    $r = GET($S{sie_none});
    is(st($r), 503, 'origin 503, no stale-if-error: the 503 passes');

    # the client's stale-if-error (RFC 5861 4): a response without it, the
    # zone's stale_if_error 0
    $r = GET($S{sie_q}, headers => [ 'Cache-Control' => 'stale-if-error=60' ]);
    is(st($r), 200, 'origin 503, request stale-if-error=60 (response without it, zone 0): 200');
    is(bd($r), $SB{sie_q}, '... the stale body');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=503; detail=stale-if-error', '... Cache-Status');
    word_is('GET', $S{sie_q}, 'STALE', 'request stale-if-error');
    $r = GET($S{sie_q2});
    is(st($r), 503, 'origin 503, the same without the request directive: the 503 passes');
    $r = GET($S{sie_qmr}, headers => [ 'Cache-Control' => 'stale-if-error=60' ]);
    is(st($r), 503, 'request stale-if-error on a must-revalidate response: the 503 passes');
    $r = GET($S{sz});
    is(st($r), 200, "origin 503, the zone's stale_if_error: 200");
    is(bd($r), $SB{sz}, '... the stale body');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=503; detail=stale-if-error', '... Cache-Status');
    $r = GET($S{sz_mr});
    isnt(st($r), 200, "must-revalidate: the zone's stale_if_error does not apply");

    $f->force('act=close');
    $r = GET($S{sie_rst});
    is(st($r), 200, 'origin closes without answering: stale served');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=502; detail=stale-if-error', '... fwd-status=502');

    $f->force('hdelay=2');
    my $t = time;
    $r = GET($S{sie_to});
    is(st($r), 200, 'origin times out (upstream_read 1s): stale served');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=504; detail=stale-if-error', '... fwd-status=504');
    cmp_ok(time - $t, '<', 1.9, '... after upstream_read, not after the origin');
    $f->force(undef);

    $f->stop;
    $r = GET($S{sie_down});
    is(st($r), 200, 'origin down (connection refused): stale served');
    is(bd($r), $SB{sie_down}, '... the stale body');
    is(cs($r), 'gatehouse; fwd=stale; fwd-status=502; detail=stale-if-error', '... fwd-status=502');
}

# ==== lock_timeout (a second daemon: upstream_read long enough for a slow origin) ====
# Key "method path": the fill's request asks the origin to wait 1.5 s
# (hdelay in the query), the one after it, the same entry, does not.

{
    my $p = Origin->new(name => 'p');
    my $g2 = Gatehouse->new(origins => [$p], conf => Gatehouse::preamble(workers => 2) . <<'EOF');
caches = {
  lt  = { size = "1M"; lock_timeout = "300ms"; key = "method path"; };
  lt0 = { size = "1M"; lock_timeout = "0s"; key = "method path"; };
};
upstreams = { app = { max_fails = 0; retries = 0;
                      servers = ( { address = "127.0.0.1:%%ORIGIN_p%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = (
              { path = "/lt/"; upstream = "app"; cache = "lt"; },
              { path = "/lt0/"; upstream = "app"; cache = "lt0"; } ); } );
EOF
    my $n = $p->count_fast;
    my (%A, %B, %tb, %rb, %dtb, %ra, %ta);
    my $t0 = time;
    for my $z (qw(lt lt0)) {
        $A{$z} = Gatehouse::Client->new(port => $g2->port);
        $A{$z}->send($g2->build_request("/$z/a?cc=max-age%3D100&hdelay=1.5"));
    }
    ok(wait_for(sub { $p->count_fast >= $n + 2 }, 2, 0.01), 'lock_timeout: two slow fills reached the origin');
    sleep 0.1;
    for my $z (qw(lt lt0)) {
        $B{$z} = Gatehouse::Client->new(port => $g2->port);
        $tb{$z} = time;
        $B{$z}->send($g2->build_request("/$z/a?cc=max-age%3D100"));
    }
    for my $z (qw(lt0 lt)) {        # in the order they should answer
        $rb{$z} = $B{$z}->read_response(timeout => 5);
        $dtb{$z} = time - $tb{$z};
        $B{$z}->close;
    }
    for my $z (qw(lt lt0)) {
        $ra{$z} = $A{$z}->read_response(timeout => 5);
        $ta{$z} = time - $t0;
        $A{$z}->close;
    }
    my @uris = map { $_->{uri} } grep { $_->{uri} =~ m{^/lt/a} } $p->requests;
    is(scalar(@uris), 2, 'lock_timeout 300ms: the second request went to the origin itself (2 origin requests)');
    is($uris[1], '/lt/a?cc=max-age%3D100', "... with its own target");
    is(st($rb{lt}), 200, 'lock_timeout 300ms: the second request: 200');
    is(cs($rb{lt}), 'gatehouse; fwd=uri-miss; detail=lock-timeout', '... Cache-Status detail=lock-timeout');
    like(bd($rb{lt}), qr{"uri":"/lt/a\?cc=max-age%3D100"}, "... the origin's answer to it");
    ok($dtb{lt} >= 0.2 && $dtb{lt} < 1.0,
       sprintf('... after waiting about 0.3 s (%.2f s)', $dtb{lt}));
    is(st($ra{lt}), 200, 'lock_timeout 300ms: the slow fill: 200');
    is(cs($ra{lt}), 'gatehouse; fwd=uri-miss; stored', '... stored');
    cmp_ok($ta{lt}, '>=', 1.4, sprintf('... after its 1.5 s (%.2f s), well after the second', $ta{lt}));
    my $h = $g2->http_get('/lt/a?x=1');
    like(cs($h), qr/^gatehouse; hit\b/, 'lock_timeout 300ms: then a hit');
    is(bd($h), bd($ra{lt}), "... with the fill's body (the second request's was not stored)");

    @uris = map { $_->{uri} } grep { $_->{uri} =~ m{^/lt0/a} } $p->requests;
    is(scalar(@uris), 2, 'lock_timeout 0s: the second request went to the origin (2 origin requests)');
    is(cs($rb{lt0}), 'gatehouse; fwd=uri-miss; detail=lock-timeout', '... detail=lock-timeout');
    cmp_ok($dtb{lt0}, '<', 0.25, sprintf('... without waiting (%.2f s)', $dtb{lt0}));
    is(cs($ra{lt0}), 'gatehouse; fwd=uri-miss; stored', 'lock_timeout 0s: the slow fill stored');
    my @w = map { / cache=(\S+)$/ ? $1 : '?' } grep { m{"GET /lt/a\?cc=max-age%3D100 } } $g2->access_lines;
    is("@w", 'MISS', 'lock_timeout: access log cache=MISS for the one that stopped waiting');
    $g2->stop(name => 'lock_timeout daemon');
    $p->stop;
}

# ==== a long client head revalidating a 4 KB ETag (a third daemon: header_size 48k) ====
# The upstream head has room for the client's head and the stored
# validators (If-None-Match of 4 KB), which the client did not send.

{
    my $q = Origin->new(name => 'q');
    my $g3 = Gatehouse->new(origins => [$q], conf => Gatehouse::preamble() . <<'EOF');
limits = { header_size = "48k"; };
caches = { hz = { size = "1M"; }; };
upstreams = { app = { max_fails = 0; retries = 0;
                      servers = ( { address = "127.0.0.1:%%ORIGIN_q%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; cache = "hz"; } ); } );
EOF
    my $p = '/hz/a?cc=no-cache,%20max-age%3D100';
    $q->force("etag=$TAG4K");
    my $r0 = $g3->http_get($p);
    is(cs($r0), 'gatehouse; fwd=uri-miss; stored', 'header_size 48k: no-cache with a 4 KB ETag stored');
    # the client's head: header_size less the ETag, less some
    my $pad = 48 * 1024 - 4096 - 512 - length($g3->build_request($p, headers => [ 'X-Pad' => '' ]));
    my $raw = $g3->build_request($p, headers => [ 'X-Pad' => 'p' x $pad ]);
    my $n = $q->count_fast;
    my $r = $g3->request($raw, timeout => 5);
    my $rec = $q->last_fast;
    $q->force(undef);
    is(st($r), 200, 'a ' . length($raw) . '-byte head revalidating the 4 KB ETag: 200 (not 431)');
    is($q->count_fast - $n, 1, '... revalidated at the origin');
    my $inm = $rec && Origin::rec_header($rec, 'If-None-Match') // '';
    ok($inm eq qq{"$TAG4K"}, '... If-None-Match: the 4 KB tag whole')
        or diag('If-None-Match: ' . length($inm) . ' bytes');
    is(length($rec && Origin::rec_header($rec, 'X-Pad') // ''), $pad, "... and the client's field whole");
    like(cs($r), qr/fwd-status=304/, '... the origin said 304');
    is(bd($r), bd($r0), '... the stored body');
    $g3->stop(name => 'header_size daemon');
    $q->stop;
}

# ==== every access log line has its cache= word ===================================

{
    my @l = $gh->access_lines;
    my @bad = grep { !/$ALINE/ } @l;
    is(scalar(@bad), 0, 'every access log line ends with cache=WORD')
        or diag(join "\n", @bad[0 .. ($#bad < 4 ? $#bad : 4)]);
    my %words;
    /$ALINE/ and $words{$4}++ for @l;
    my @unknown = grep { !/^(?:HIT|MISS|EXPIRED|REVALIDATED|STALE|UPDATING|COLLAPSED|BYPASS|PURGE|-)$/ } keys %words;
    is("@unknown", '', 'every word is one of the documented ones');
    is(scalar(grep { m{"GET /metrics } && !/ cache=-$/ } @l), 0, '/metrics (no cache): cache=-');
}

# ==== metrics ====================================================================

sub parse_prom {
    my ($text) = @_;
    my %p = (samples => [], type => {}, help => {});
    for my $l (split /\n/, $text) {
        if ($l =~ /^# HELP (\w+) /) { $p{help}{$1} = 1; next }
        if ($l =~ /^# TYPE (\w+) (\w+)$/) { $p{type}{$1} = $2; next }
        next if $l =~ /^#/ || $l eq '';
        if ($l =~ /^(\w+)(?:\{(.*)\})? (\S+)$/) {
            my ($n, $lab, $v) = ($1, $2 // '', $3);
            my %lab;
            while ($lab =~ /\G(\w+)="((?:[^"\\]|\\.)*)",?/gc) { $lab{$1} = $2 }
            push @{ $p{samples} }, [$n, \%lab, $v];
        }
    }
    return \%p;
}
sub val {
    my ($p, $name, %want) = @_;
    my @s = grep { my $s = $_; $s->[0] eq $name
                   && !grep { ($s->[1]{$_} // "\0") ne $want{$_} } keys %want } @{ $p->{samples} };
    return @s == 1 ? $s[0][2] : undef;
}
sub scrape {
    my $r = $gh->http_get('/metrics');
    return parse_prom($r && $r->status == 200 ? $r->body : '');
}
{
    my $p = scrape();
    is($p->{type}{gatehouse_cache_entries}, 'gauge', 'gatehouse_cache_entries: a gauge');
    is($p->{type}{gatehouse_cache_bytes}, 'gauge', 'gatehouse_cache_bytes: a gauge');
    is($p->{type}{gatehouse_cache_limit_bytes}, 'gauge', 'gatehouse_cache_limit_bytes: a gauge');
    is($p->{type}{gatehouse_cache_events_total}, 'counter', 'gatehouse_cache_events_total: a counter');
    ok($p->{help}{$_}, "$_ has HELP") for qw(gatehouse_cache_entries gatehouse_cache_bytes
                                               gatehouse_cache_limit_bytes gatehouse_cache_events_total);
    is(val($p, 'gatehouse_cache_limit_bytes', zone => 'main'), $MAIN_SIZE, 'limit_bytes{zone="main"} = 8M');
    is(val($p, 'gatehouse_cache_limit_bytes', zone => 'dflt'), 4 * 1024 * 1024, 'limit_bytes{zone="dflt"} = 4M');
    is(val($p, 'gatehouse_cache_limit_bytes', zone => 'spare'), 64 * 1024, 'a zone no route uses has its metrics too');
    is(val($p, 'gatehouse_cache_entries', zone => 'spare'), 0, '... with no entries');
    cmp_ok(val($p, 'gatehouse_cache_entries', zone => 'main') // 0, '>=', 20, 'entries{zone="main"}: what was stored');
    my $b = val($p, 'gatehouse_cache_bytes', zone => 'main') // 0;
    ok($b > 0 && $b <= $MAIN_SIZE, "bytes{zone=\"main\"} $b: more than 0, within the limit");
    for my $ev (qw(hit miss fill abort eviction purge corrupt repair)) {
        ok(defined val($p, 'gatehouse_cache_events_total', zone => 'main', event => $ev),
           "events_total{zone=\"main\",event=\"$ev\"} present");
    }
    cmp_ok(val($p, 'gatehouse_cache_events_total', zone => 'main', event => 'abort') // 0, '>=', 1,
           'the failed fills counted as abort');
    cmp_ok(val($p, 'gatehouse_cache_events_total', zone => 'dflt', event => 'purge') // 0, '>=', 2,
           'the purges counted (dflt)');
    cmp_ok(val($p, 'gatehouse_cache_events_total', zone => 'main', event => 'purge') // 0, '>=', 1,
           'the purge of a key with variants counted (main)');
    is(val($p, 'gatehouse_cache_events_total', zone => 'main', event => 'eviction'), 0, 'no eviction in an 8M zone');
    is(val($p, 'gatehouse_cache_events_total', zone => 'main', event => 'corrupt'), 0, 'nothing corrupt');

    # exact deltas: one miss that fills, then three hits
    my $q = '/mdelta?cc=max-age%3D100';
    my %before = map { ($_ => val($p, 'gatehouse_cache_events_total', zone => 'main', event => $_) // 0) }
        qw(hit miss fill);
    my $e0 = val($p, 'gatehouse_cache_entries', zone => 'main') // 0;
    GET($q) for 1 .. 4;
    my $p2 = scrape();
    my %after = map { ($_ => val($p2, 'gatehouse_cache_events_total', zone => 'main', event => $_) // 0) }
        qw(hit miss fill);
    is($after{hit} - $before{hit}, 3, 'a fill and three hits: hit +3');
    cmp_ok($after{miss} - $before{miss}, '>=', 1, '... miss +1 (at least)');
    is($after{fill} - $before{fill}, 1, '... fill +1');
    is((val($p2, 'gatehouse_cache_entries', zone => 'main') // 0) - $e0, 1, '... entries +1');
}

# ==== gatehouse -t: the cache keys =================================================

{
    my $bin = Gatehouse::bin();
    my $dir = $gh->dir;
    my ($rc, $out) = Gatehouse::run_cmd([$bin, '-t', '-c', $gh->conf_file], 10);
    is($rc, 0, '-t: the config of this test is valid') or diag($out);

    my $n = 0;
    my $check = sub {
        my ($text) = @_;
        my $file = "$dir/cc" . ++$n . '.conf';
        $gh->write_conf($text, $file);
        my ($rc, $out) = Gatehouse::run_cmd([$bin, '-t', '-c', $file], 10);
        return ($rc, $out, $file);
    };
    # Line 4: the zone; line 8: the route.
    my $base = sub {
        my ($zone, $route, $top) = @_;
        return ($top // 'error_log = "stderr";') . "\n" . <<"EOF";
upstreams = { app = { servers = ( { address = "127.0.0.1:9001"; } ); }; };
caches = {
  $zone
};
sites = ( { listen = [ "127.0.0.1:%%PORT_cfg%%" ];
  routes = (
    $route ); } );
EOF
    };
    my $zone = 'main = { size = "1M"; };';
    my $route = '{ path = "/"; upstream = "app"; cache = "main"; }';

    my @good = (
        ['every cache key', 'main = { size = "2M"; max_object = "512k"; default_ttl = "10s"; stale_if_error = "1m"; heuristic_max = "2h"; lock_timeout = "500ms"; key = "method scheme host path args"; };',
         '{ path = "/"; upstream = "app"; cache = "main"; cache_key_extra = [ "header:Accept-Language", "cookie:session", "query:lang" ]; purge_allow = [ "127.0.0.1/32", "::1", "10.0.0.0/8" ]; }'],
        ['a zone no route names', 'main = { size = "1M"; }; other = { size = "64k"; };', $route],
        ['smallest zone (64k)', 'main = { size = "64k"; };', $route],
    );
    for my $g (@good) {
        my ($rc, $out) = $check->($base->($g->[1], $g->[2]));
        is($rc, 0, "-t: $g->[0]: valid") or diag($out);
    }

    # [name, zone line, route line, top line, line named, regexes]
    my @bad = (
        ['zone without size', 'main = { max_object = "1k"; };', $route, undef, 4, [qr/size/]],
        ['zone size below 64k', 'main = { size = "32k"; };', $route, undef, 4, [qr/size/]],
        ['zone size not a size', 'main = { size = "10q"; };', $route, undef, 4, [qr/size/, qr/10q/]],
        ['zone larger than shm_size', 'main = { size = "8M"; };', $route,
         'error_log = "stderr"; shm_size = "4M";', 4, [qr/size|shm_size/]],
        ['bad max_object', 'main = { size = "1M"; max_object = "lots"; };', $route, undef, 4, [qr/max_object/]],
        ['bad default_ttl', 'main = { size = "1M"; default_ttl = "5 parsecs"; };', $route, undef, 4, [qr/default_ttl/]],
        ['bad stale_if_error', 'main = { size = "1M"; stale_if_error = "x"; };', $route, undef, 4, [qr/stale_if_error/]],
        ['bad heuristic_max', 'main = { size = "1M"; heuristic_max = "-1s"; };', $route, undef, 4, [qr/heuristic_max/]],
        ['bad lock_timeout', 'main = { size = "1M"; lock_timeout = "soon"; };', $route, undef, 4, [qr/lock_timeout/]],
        ['unknown key in a zone', 'main = { size = "1M"; sise = "1M"; };', $route, undef, 4, [qr/sise/]],
        ['key: unknown element', 'main = { size = "1M"; key = "method cookie uri"; };', $route, undef, 4, [qr/key/, qr/cookie/]],
        ['key: repeated element', 'main = { size = "1M"; key = "uri host uri"; };', $route, undef, 4, [qr/key/, qr/uri/]],
        ['key: empty', 'main = { size = "1M"; key = ""; };', $route, undef, 4, [qr/key/]],
        ['zone name of 48 characters', ('z' x 48) . ' = { size = "1M"; };',
         '{ path = "/"; upstream = "app"; cache = "' . ('z' x 48) . '"; }', undef, 4, [qr/z{48}|name/]],
        ['cache names an unknown zone', $zone, '{ path = "/"; upstream = "app"; cache = "nosuch"; }', undef, 8, [qr/nosuch/]],
        ['cache not a string', $zone, '{ path = "/"; upstream = "app"; cache = 5; }', undef, 8, [qr/cache/]],
        ['cache on a route without upstream', $zone, '{ path = "/s/"; root = "%%TMP%%"; cache = "main"; }', undef, 8, [qr/cache/]],
        ['cache_key_extra without cache', $zone, '{ path = "/"; upstream = "app"; cache_key_extra = [ "header:X-A" ]; }', undef, 8, [qr/cache_key_extra/]],
        ['cache_key_extra: unknown kind', $zone, '{ path = "/"; upstream = "app"; cache = "main"; cache_key_extra = [ "bogus:X" ]; }', undef, 8, [qr/bogus/]],
        ['cache_key_extra: no name', $zone, '{ path = "/"; upstream = "app"; cache = "main"; cache_key_extra = [ "header:" ]; }', undef, 8, [qr/cache_key_extra|header/]],
        ['purge_allow without cache', $zone, '{ path = "/"; upstream = "app"; purge_allow = [ "127.0.0.1/32" ]; }', undef, 8, [qr/purge_allow/]],
        ['purge_allow: bad address', $zone, '{ path = "/"; upstream = "app"; cache = "main"; purge_allow = [ "300.1.2.3/8" ]; }', undef, 8, [qr/purge_allow|300\.1\.2\.3/]],
    );
    for my $b (@bad) {
        my ($name, $z, $rt, $top, $line, $res) = @$b;
        my ($rc, $out, $file) = $check->($base->($z, $rt, $top));
        is($rc, 1, "-t: $name: exits 1");
        like($out, qr/\Q$file\E:$line:/, "-t: $name: names $file:$line") or diag($out);
        like($out, $_, "-t: $name: message matches $_") for @$res;
    }
}

finish();
