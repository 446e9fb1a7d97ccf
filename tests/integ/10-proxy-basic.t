#!/usr/bin/perl
# Proxying basics: GET/POST reach the origin intact, Host passes through,
# Via / X-Forwarded-* / X-Real-IP are set, hop-by-hop headers are removed in
# both directions.

use strict;
use warnings;

use Test::More;
use JSON::PP;
use Gatehouse timeout => 30;
use Origin;

my $o = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . <<'EOF');
upstreams = { app = { keepalive = 8;
              servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF

sub hdr { Origin::rec_header(@_) }

# --- GET: request line, Host, forwarding headers ---------------------------
{
    my $r = $gh->http_get('/hello/a%20b?x=1&y=%2F',
                          host => 'www.example.test:8080',
                          headers => [ 'User-Agent' => 'gh-test/1',
                                       'Accept' => '*/*' ]);
    is($r->status, 200, 'GET: 200');
    is($r->header('x-origin'), 'a', 'GET: answered by the origin');
    my $rec = $o->last_request;
    is($rec->{method}, 'GET', 'origin got GET');
    is($rec->{uri}, '/hello/a%20b?x=1&y=%2F', 'request target passed as sent');
    is($rec->{version}, '1.1', 'origin got HTTP/1.1');
    is(hdr($rec, 'Host'), 'www.example.test:8080', 'Host passed through');
    is(scalar(grep { lc $_->[0] eq 'host' } @{ $rec->{headers} }), 1,
       'exactly one Host');
    is(hdr($rec, 'User-Agent'), 'gh-test/1', 'end-to-end header kept');
    is(hdr($rec, 'Accept'), '*/*', 'Accept kept');
    is(hdr($rec, 'X-Forwarded-For'), '127.0.0.1', 'X-Forwarded-For set');
    is(hdr($rec, 'X-Real-IP'), '127.0.0.1', 'X-Real-IP set');
    is(hdr($rec, 'X-Forwarded-Proto'), 'http', 'X-Forwarded-Proto set');
    is(hdr($rec, 'X-Forwarded-Host'), 'www.example.test:8080',
       'X-Forwarded-Host set');
    like(hdr($rec, 'Via') // '', qr/^1\.1 \S+/, 'Via added ("1.1 name")');
    my $echo = eval { decode_json($r->body) };
    is($echo->{uri}, '/hello/a%20b?x=1&y=%2F', 'origin body relayed');
    is($r->header('content-length'), length $r->body,
       'Content-Length matches body');
}

# --- client-sent forwarding headers: XFF appended, the rest overwritten ----
{
    my $r = $gh->http_get('/fwd', host => 'h.example',
        headers => [ 'X-Forwarded-For' => '10.1.2.3',
                     'X-Real-IP' => '6.6.6.6',
                     'X-Forwarded-Proto' => 'https',
                     'X-Forwarded-Host' => 'evil.example',
                     'Via' => '1.0 fred' ]);
    is($r->status, 200, 'spoofed forwarding headers: 200');
    my $rec = $o->last_request;
    is(hdr($rec, 'X-Forwarded-For'), '10.1.2.3, 127.0.0.1',
       'X-Forwarded-For: client address appended');
    is(hdr($rec, 'X-Real-IP'), '127.0.0.1', 'X-Real-IP replaced');
    is(hdr($rec, 'X-Forwarded-Proto'), 'http', 'X-Forwarded-Proto replaced');
    is(hdr($rec, 'X-Forwarded-Host'), 'h.example', 'X-Forwarded-Host replaced');
    like(hdr($rec, 'Via') // '', qr/^1\.0 fred, 1\.1 \S+/, 'Via appended');
}

# --- POST with a body ----------------------------------------------------
{
    my $body = "name=value&x=" . ('z' x 1000);
    my $r = $gh->http_post('/form', $body,
        headers => [ 'Content-Type' => 'application/x-www-form-urlencoded',
                     'Content-Length' => length $body ]);
    is($r->status, 200, 'POST: 200');
    my $rec = $o->last_request;
    is($rec->{method}, 'POST', 'origin got POST');
    is($rec->{body}, $body, 'POST body intact');
    is(hdr($rec, 'Content-Length'), length $body, 'Content-Length forwarded');
    is(hdr($rec, 'Content-Type'), 'application/x-www-form-urlencoded',
       'Content-Type forwarded');
}

# --- status, reason and repeated headers from the origin -------------------
{
    my $r = $gh->http_get('/created?status=201&hdr=Set-Cookie:%20a=1'
                          . '&hdr=Set-Cookie:%20b=2&hdr=X-Extra:%20yes');
    is($r->status, 201, 'origin status relayed');
    is_deeply([ $r->headers_all('set-cookie') ], [ 'a=1', 'b=2' ],
              'repeated Set-Cookie kept as separate lines, in order');
    is($r->header('x-extra'), 'yes', 'origin header relayed');
}

# --- hop-by-hop request headers -------------------------------------------
{
    my $r = $gh->http_get('/hop', close => 0, headers => [
        'Connection' => 'keep-alive, X-Drop-Me, x-drop-too',
        'X-Drop-Me' => '1',
        'X-Drop-Too' => '2',
        'Keep-Alive' => 'timeout=5',
        'TE' => 'trailers',
        'Trailer' => 'X-T',
        'Upgrade' => 'h2c',
        'Proxy-Authorization' => 'Basic Zm9vOmJhcg==',
        'Proxy-Connection' => 'keep-alive',
        'X-Keep-Me' => 'yes' ]);
    is($r->status, 200, 'hop-by-hop request: 200');
    my $rec = $o->last_request;
    my %got = map { lc $_->[0] => 1 } @{ $rec->{headers} };
    for my $h (qw(x-drop-me x-drop-too keep-alive te trailer upgrade
                  proxy-authorization proxy-connection)) {
        ok(!$got{$h}, "request hop-by-hop header $h removed");
    }
    unlike(hdr($rec, 'Connection') // '', qr/drop/i,
           'client Connection tokens not forwarded');
    is(hdr($rec, 'X-Keep-Me'), 'yes', 'end-to-end header kept');
}

# --- hop-by-hop response headers ------------------------------------------
{
    my $q = join '&', map { 'hdr=' . $_ } (
        'Connection:%20X-Secret', 'X-Secret:%201', 'Keep-Alive:%20timeout=7,%20max=3',
        'Proxy-Foo:%20bar', 'Upgrade:%20h2c', 'Trailer:%20X-T',
        'X-Public:%20yes');
    my $r = $gh->http_get("/hopresp?$q");
    is($r->status, 200, 'hop-by-hop response: 200');
    ok(!defined $r->header('x-secret'), 'header listed in Connection removed');
    unlike($r->header('connection') // '', qr/x-secret/i,
           'origin Connection tokens not relayed');
    unlike($r->header('keep-alive') // '', qr/timeout=7/,
           "origin's Keep-Alive not relayed");
    ok(!defined $r->header('proxy-foo'), 'Proxy-* removed from response');
    ok(!defined $r->header('upgrade'), 'Upgrade removed from a non-101 response');
    ok(!defined $r->header('trailer'), 'Trailer removed from response');
    is($r->header('x-public'), 'yes', 'end-to-end response header kept');
}

# --- methods other than GET/POST pass through ------------------------------
for my $m (qw(PUT DELETE PATCH OPTIONS)) {
    my $r = $gh->http($m, "/m/$m", body => ($m eq 'DELETE' || $m eq 'OPTIONS'
                                            ? undef : "data-$m"));
    is($r->status, 200, "$m: 200");
    my $rec = $o->last_request;
    is($rec->{method}, $m, "$m reaches the origin");
}

is($o->count, 10, 'origin saw exactly one request per client request');

finish();
