#!/usr/bin/perl
# HTTP/1.0 and 1.1 client connections: keep-alive, pipelining (answers in
# order), HEAD, 204/304 without body, 1xx, Expect: 100-continue, responses
# delimited by close, keepalive_requests and the keepalive timeout.

use strict;
use warnings;

use Test::More;
use Digest::MD5 qw(md5_hex);
use JSON::PP;
use Gatehouse timeout => 40;
use Origin;

my $o = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . <<'EOF');
timeouts = { keepalive = "1s"; };
limits = { keepalive_requests = 5; };
upstreams = { app = { keepalive = 8;
              servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF

sub req {
    my ($path, %o) = @_;
    return $gh->build_request($path, close => 0, %o);
}

sub uri_of { my $r = shift; my $j = eval { decode_json($r->body) }; $j && $j->{uri} }

# --- HTTP/1.1 keep-alive ----------------------------------------------------
{
    my $c = $gh->connect;
    for my $i (1 .. 3) {
        $c->send(req("/ka/$i"));
        my $r = $c->read_response;
        is($r && $r->status, 200, "1.1 keep-alive request $i: 200");
        is(uri_of($r), "/ka/$i", "1.1 keep-alive request $i: right answer");
        unlike($r->header('connection') // '', qr/close/i,
               "1.1 keep-alive request $i: no Connection: close");
    }
    ok(!$c->eof, '1.1 connection still open after 3 requests');
    $c->close;
}

# --- HTTP/1.0 without keep-alive: answered, then closed ---------------------
{
    my $c = $gh->connect;
    $c->send("GET /ten HTTP/1.0\r\nHost: x\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->status, 200, '1.0: 200');
    is(uri_of($r), '/ten', '1.0: right answer');
    ok($c->wait_closed(3), '1.0 without keep-alive: connection closed');
    my $rec = $o->last_request;
    is($rec->{method}, 'GET', '1.0 request reached the origin');
}

# --- HTTP/1.0 with Connection: keep-alive ----------------------------------
{
    my $c = $gh->connect;
    $c->send("GET /ten-ka/1 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->status, 200, '1.0 keep-alive: 200');
    like($r->header('connection') // '', qr/keep-alive/i,
         '1.0 keep-alive: answered with Connection: keep-alive');
    ok(defined $r->header('content-length'),
       '1.0 keep-alive: response has a Content-Length');
    $c->send("GET /ten-ka/2 HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
    $r = $c->read_response;
    is($r && $r->status, 200, '1.0 keep-alive: second request on the same connection');
    is(uri_of($r), '/ten-ka/2', '1.0 keep-alive: right answer');
    $c->close;
}

# --- pipelining: answers in order, even when the first one is slow ----------
{
    my $c = $gh->connect;
    my $post = "posted body";
    $c->send(req('/p/1?hdelay=0.3') . req('/p/2') . req('/p/3', method => 'POST',
             body => $post) . req('/p/4?len=3000') . req('/p/5'));
    my @r = map { $c->read_response } 1 .. 4;
    is(uri_of($r[0]), '/p/1?hdelay=0.3', 'pipelined 1 answered first');
    is(uri_of($r[1]), '/p/2', 'pipelined 2 answered second');
    my $j = eval { decode_json($r[2]->body) } // {};
    is($j->{uri}, '/p/3', 'pipelined POST answered third');
    is($j->{body}, $post, 'pipelined POST body intact');
    is($r[3] && $r[3]->body, Origin::pattern(3000), 'pipelined 4: body intact');
    my $r5 = $c->read_response;
    is(uri_of($r5), '/p/5', 'pipelined 5 answered last');
    $c->close;
}

# --- HEAD: headers only, connection stays usable ------------------------------
{
    my $c = $gh->connect;
    $c->send(req('/h?len=1234', method => 'HEAD') . req('/after-head'));
    my $r = $c->read_response(head => 1);
    is($r && $r->status, 200, 'HEAD: 200');
    is($r->header('content-length'), 1234, 'HEAD: Content-Length of the GET body');
    my $r2 = $c->read_response;
    is(uri_of($r2), '/after-head',
       'request after HEAD answered correctly (no body bytes after HEAD)');
    is($o->requests ? ($o->requests)[-2]{method} : '', 'HEAD',
       'HEAD reached the origin as HEAD');
    $c->close;
}

# --- 204 and 304: no body even when the origin claims a length ---------------
for my $st (204, 304) {
    my $c = $gh->connect;
    $c->send(req("/s$st?status=$st" . ($st == 304 ? '&cl=55' : '')) . req("/after-$st"));
    my $r = $c->read_response;
    is($r && $r->status, $st, "$st relayed");
    is($r && $r->body, '', "$st: no body");
    ok(!defined $r->header('transfer-encoding'), "$st: no Transfer-Encoding");
    my $r2 = $c->read_response;
    is(uri_of($r2), "/after-$st", "request after $st answered correctly");
    $c->close;
}

# --- 1xx interim responses ---------------------------------------------------
{
    my $c = $gh->connect;
    $c->send(req('/info?info=2'));
    my $r = $c->read_response;
    is($r && $r->status, 200, '1xx: final 200');
    my @i = $r ? $r->interim : ();
    is(scalar(@i), 2, '1xx: both 103 responses forwarded to a 1.1 client');
    is($i[0] && $i[0]->status, 103, '1xx: status 103');
    like($i[0] ? $i[0]->header('link') // '' : '', qr/style\.css/,
         '1xx: its headers kept');
    is(uri_of($r), '/info?info=2', '1xx: final body intact');
    $c->send(req('/after-info'));
    is(uri_of($c->read_response), '/after-info', 'request after 1xx answered');
    $c->close;

    $c = $gh->connect;
    $c->send("GET /info10?info=1 HTTP/1.0\r\nHost: x\r\n\r\n");
    my $raw = $c->read_all(5) // '';
    unlike($raw, qr/^HTTP\/1\.\d 1\d\d/m, '1xx: nothing interim to a 1.0 client');
    like($raw, qr/^HTTP\/1\.\d 200/, '1xx: 1.0 client gets the 200');
}

# --- Expect: 100-continue ------------------------------------------------------
{
    my $c = $gh->connect;
    my $body = 'x' x 5000;
    $c->send("POST /expect HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
             . "Expect: 100-continue\r\n\r\n");
    my $i = $c->read_response(keep_1xx => 1, timeout => 3);
    is($i && $i->status, 100, 'Expect: 100 Continue before the body is sent');
    $c->send($body);
    my $r = $c->read_response;
    is($r && $r->status, 200, 'Expect: final 200');
    is(scalar($r ? $r->interim : ()), 0, 'Expect: only one 100 Continue');
    my $j = eval { decode_json($r->body) } // {};
    is($j->{body_len}, 5000, 'Expect: body reached the origin');
    $c->close;
}

# --- responses delimited by close ---------------------------------------------
{
    my $c = $gh->connect;
    $c->send(req('/cd1?te=close&len=70000'));
    my $r = $c->read_response;
    is($r && $r->status, 200, 'close-delimited: 200');
    ok($r && $r->complete, 'close-delimited: response complete');
    is(md5_hex($r->body // ''), md5_hex(Origin::pattern(70000)),
       'close-delimited (1.1 client): body intact');
    if ($r && !$r->{close_delimited}) {
        $c->send(req('/after-cd'));
        is(uri_of($c->read_response), '/after-cd',
           're-framed close-delimited response: connection reusable');
    } else {
        ok($c->wait_closed(3), 'close-delimited relayed as such: connection closed');
    }
    $c->close;

    $c = $gh->connect;
    $c->send("GET /cd2?te=close&len=5000 HTTP/1.0\r\nHost: x\r\n\r\n");
    $r = $c->read_response;
    is($r && $r->body, Origin::pattern(5000), 'close-delimited (1.0 client): body intact');
    ok($c->wait_closed(3), 'close-delimited (1.0 client): closed after');
}

# --- limits.keepalive_requests = 5 ---------------------------------------------
{
    my $c = $gh->connect;
    $c->send(join '', map { req("/kr/$_") } 1 .. 6);
    my @r = map { $c->read_response(timeout => 3) } 1 .. 5;
    is(scalar(grep { $_ && $_->status == 200 } @r), 5,
       'keepalive_requests: 5 requests answered');
    like($r[4] ? $r[4]->header('connection') // '' : '', qr/close/i,
         'keepalive_requests: 5th answer says Connection: close');
    ok($c->wait_closed(3), 'keepalive_requests: closed after the 5th');
    ok(!grep({ $_->{uri} eq '/kr/6' } $o->requests),
       'keepalive_requests: 6th request never reached the origin');
}

# --- timeouts.keepalive = 1s: idle connection closed ----------------------------
{
    my $c = $gh->connect;
    $c->send(req('/idle'));
    my $r = $c->read_response;
    is($r && $r->status, 200, 'keepalive timeout: first request 200');
    my $t0 = Time::HiRes::time();
    ok($c->wait_closed(4), 'keepalive timeout: idle connection closed');
    my $dt = Time::HiRes::time() - $t0;
    cmp_ok($dt, '>=', 0.7, 'keepalive timeout: not closed early');
}

finish();
