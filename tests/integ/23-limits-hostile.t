#!/usr/bin/perl
# Hostile input: garbage, truncated requests, oversize lines, smuggling
# shapes, connection floods.  Never a crash (same worker pids before and
# after), never a desync, and the daemon serves normally afterwards.

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 60;
use Origin;

my $o = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble(workers => 2) . <<'EOF');
timeouts = { client_header = "2s"; client_body = "2s"; };
limits = { header_size = "8k"; headers = 50; body_size = "1M"; uri_size = "4k";
           connections = 64; };
upstreams = { app = { keepalive = 8;
              servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF

ok(wait_for(sub { $gh->children == 2 }, 3), 'two workers up');
my @workers = $gh->children;

sub still_fine {
    my ($name) = @_;
    my $r = $gh->http_get('/ok');
    ok($r && $r->status == 200, "$name: still serving");
    is_deeply([ $gh->children ], \@workers, "$name: no worker died");
}

# Send RAW, optionally close at once; otherwise read what comes back (a
# response or a close) and check the status is one of STATUSES.
sub hostile {
    my (%a) = @_;
    my $c = $gh->connect;
    $c->send($a{raw}, 5);
    if ($a{close}) {
        $c->close;
    } else {
        my $r = $c->read_response(timeout => 4);
        if ($a{status}) {
            my $st = $r ? $r->status : 'closed';
            ok((grep { $_ eq $st } @{ $a{status} }),
               "$a{name}: answered @{ $a{status} } (got $st)");
        }
        if ($a{then_closed}) {
            ok($c->wait_closed(3), "$a{name}: connection closed after the error");
        }
        $c->close;
    }
    still_fine($a{name});
}

srand(42);
my $garbage = join '', map { chr int rand 256 } 1 .. 65536;

hostile(name => '64 KiB of random bytes', raw => $garbage, status => [400, 'closed']);
hostile(name => 'NUL bytes', raw => "\0" x 1000, status => [400, 'closed']);
hostile(name => 'only CRLFs', raw => "\r\n" x 5000, status => [400, 'closed']);
hostile(name => 'truncated request line, then close', raw => 'GET /', close => 1);
hostile(name => 'truncated head, then close',
        raw => "GET / HTTP/1.1\r\nHost: x\r\nX-A: ", close => 1);
hostile(name => 'truncated Content-Length body, then close',
        raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc", close => 1);
hostile(name => 'truncated chunked body, then close',
        raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        close => 1);
hostile(name => 'request line of 100 KB', status => [414, 400, 431],
        raw => "GET /" . ('a' x 100_000) . " HTTP/1.1\r\nHost: x\r\n\r\n");
hostile(name => 'method of 100 KB', status => [400, 414, 431, 501],
        raw => ('G' x 100_000) . " / HTTP/1.1\r\nHost: x\r\n\r\n");
hostile(name => 'header line of 100 KB', status => [431],
        raw => "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " . ('b' x 100_000) . "\r\n\r\n");
hostile(name => 'header name of 100 KB', status => [431, 400],
        raw => "GET / HTTP/1.1\r\nHost: x\r\n" . ('N' x 100_000) . ": v\r\n\r\n");
hostile(name => '10000 headers', status => [431],
        raw => "GET / HTTP/1.1\r\nHost: x\r\n" . ("A: b\r\n" x 10000) . "\r\n");
hostile(name => 'NUL in a header value', status => [400],
        raw => "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n");
hostile(name => 'space before the colon', status => [400],
        raw => "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n");
hostile(name => 'obs-fold', status => [400, 200],
        raw => "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n");
hostile(name => 'bare LF line ends', status => [400, 200],
        raw => "GET / HTTP/1.1\nHost: x\nConnection: close\n\n");
hostile(name => 'bare CR in a header', status => [400],
        raw => "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n");
hostile(name => 'bad method characters', status => [400, 501],
        raw => "G\@T / HTTP/1.1\r\nHost: x\r\n\r\n");
hostile(name => 'unsupported version', status => [505, 400],
        raw => "GET / HTTP/9.9\r\nHost: x\r\n\r\n");
hostile(name => 'HTTP/2 preface', status => [400, 505, 'closed'],
        raw => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
hostile(name => 'invalid chunk size', status => [400],
        raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
hostile(name => 'chunk size overflow', status => [400, 413],
        raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             . "ffffffffffffffffffffffff\r\nabc\r\n");
hostile(name => 'chunk size line of 100 KB', status => [400, 413],
        raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             . "1;" . ('e' x 100_000) . "\r\nx\r\n0\r\n\r\n");
hostile(name => 'Content-Length overflow', status => [400, 413],
        raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n");
hostile(name => 'negative Content-Length', status => [400],
        raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n");
hostile(name => 'Content-Length with a plus sign', status => [400],
        raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello");
hostile(name => 'Transfer-Encoding: chunked twice', status => [400, 501],
        raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
hostile(name => 'Transfer-Encoding not ending in chunked', status => [400, 501],
        raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n");
hostile(name => 'Transfer-Encoding in HTTP/1.0', status => [400, 200, 501],
        raw => "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");

# --- smuggling: a second request hidden in a bad one is never answered -------------
{
    my $n = $o->count;
    my $c = $gh->connect;
    $c->send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 44\r\n"
             . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
             . "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r && $r->status, 400, 'CL + TE: 400');
    ok($c->wait_closed(3), 'CL + TE: connection closed, nothing after it parsed');
    ok(!grep({ $_->{uri} eq '/smuggled' } $o->requests), 'smuggled request never reached the origin');
    still_fine('CL + TE smuggling');
}
{
    my $c = $gh->connect;
    $c->send("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\n"
             . "GET /smuggled2 HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response(timeout => 3);
    is($r && $r->status, 400, 'two Content-Lengths: 400');
    ok($c->wait_closed(3), 'two Content-Lengths: connection closed');
    ok(!grep({ $_->{uri} eq '/smuggled2' } $o->requests), 'second smuggled request never reached the origin');
}

# --- many pipelined requests, client reads late -----------------------------------
{
    my $c = $gh->connect;
    my $n = 300;
    $c->send(join('', map { $gh->build_request("/pipe/$_", close => 0) } 1 .. $n), 10);
    my $got = 0;
    for my $i (1 .. $n) {
        my $r = $c->read_response(timeout => 5) or last;
        last unless $r->body =~ m{"uri":"/pipe/$i"};
        $got++;
    }
    is($got, $n, "$n pipelined requests answered in order");
    still_fine('pipeline flood');
}

# --- connection flood over limits.connections -----------------------------------------
{
    my @idle = grep { $_ } map { $gh->connect(timeout => 2) } 1 .. 150;
    ok(@idle > 0, 'opened ' . scalar(@idle) . ' idle connections');
    $_->close for @idle;
    ok(wait_for(sub { my $r = $gh->http_get('/after-flood', timeout => 2);
                      $r && $r->status == 200 }, 5),
       'serves again once the flood is gone');
    is_deeply([ $gh->children ], \@workers, 'flood: no worker died');
}

# --- many half-open connections trickling bytes (slowloris) then gone ----------------
{
    my @c = grep { $_ } map { $gh->connect } 1 .. 40;
    $_->send("GET / HTTP/1.1\r\nHost: x\r\n") for @c;
    my $r = $gh->http_get('/during-slowloris', timeout => 5);
    ok($r && $r->status == 200, 'serves while 40 clients hold half-sent heads');
    $_->close for @c;
    still_fine('slowloris');
}

finish();
