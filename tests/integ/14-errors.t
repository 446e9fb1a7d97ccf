#!/usr/bin/perl
# Every error status, with the log line that says why: 400 malformed, CL+TE,
# conflicting CL; 408; 413; 414; 431 (size and count); 501; 502 refused /
# reset / invalid response; 504.  Client faults are logged at [info],
# backend faults at [error], each with "client: 127.0.0.1".

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 60;
use Origin;

my $o = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . <<'EOF');
timeouts = { client_header = "1s"; client_body = "1s";
             upstream_connect = "1s"; upstream_read = "1s"; };
limits = { header_size = "4k"; headers = 20; body_size = "1k"; uri_size = "1k"; };
upstreams = {
  app  = { keepalive = 8;
           servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); };
  dead = { servers = ( { address = "127.0.0.1:%%PORT_dead%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/dead/"; upstream = "dead"; },
                       { path = "/"; upstream = "app"; } ); } );
EOF
my $oport = $o->port;
my $dead = $gh->port('dead');
my $CLIENT = qr/client: 127\.0\.0\.1/;

# One case: send RAW (or run SEND->($client)) on a new connection, expect
# STATUS, an HTML error body, and a log line at LEVEL matching LOG.
sub err_case {
    my (%a) = @_;
    my $name = $a{name};
    my $mark = $gh->log_mark;
    my $c = $gh->connect;
    my $t0 = time;
    if ($a{send}) { $a{send}->($c) } else { $c->send($a{raw}) }
    my $r = $c->read_response(timeout => $a{timeout} // 5);
    my $dt = time - $t0;
    is($r && $r->status, $a{status}, "$name: $a{status}")
        or diag($r ? $r->raw_head : 'no response: ' . ($c->error // ''));
    if ($r && $r->status == $a{status}) {
        like($r->header('content-type') // '', qr{^text/html}, "$name: HTML body");
        like($r->body, qr/\b$a{status}\b/, "$name: body names the status");
    }
    my $level = $a{level} // 'info';
    my @res = (qr/\[$level\]/, $CLIENT, @{ $a{log} });
    my $line = $gh->wait_log(\@res, $mark, 3);
    ok($line, "$name: [$level] log line matching @{ $a{log} }")
        or diag("log since request:\n" . $gh->log_since($mark));
    $c->close;
    return ($r, $dt);
}

my $n0 = $o->count;

# --- 400 --------------------------------------------------------------------------
err_case(name => '400 header line without colon', status => 400,
         raw => "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
         log => [qr/invalid|malformed|bad|header/i]);
err_case(name => '400 bad request line', status => 400,
         raw => "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
         log => [qr/invalid|malformed|bad|request line/i]);
err_case(name => '400 bad header name', status => 400,
         raw => "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
         log => [qr/invalid|malformed|bad|header/i]);
err_case(name => '400 HTTP/1.1 without Host', status => 400,
         raw => "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n",
         log => [qr/host/i]);
err_case(name => '400 two Host headers', status => 400,
         raw => "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
         log => [qr/host/i]);
err_case(name => '400 Content-Length with Transfer-Encoding', status => 400,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         log => [qr/content-length/i, qr/transfer-encoding/i]);
err_case(name => '400 conflicting Content-Length', status => 400,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
              . "Content-Length: 6\r\n\r\nhello!",
         log => [qr/content-length/i]);
err_case(name => '400 Content-Length list', status => 400,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
         log => [qr/content-length/i]);
err_case(name => '400 non-numeric Content-Length', status => 400,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
         log => [qr/content-length/i]);
err_case(name => '400 bad chunk size', status => 400,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              . "zz\r\nhello\r\n0\r\n\r\n",
         log => [qr/chunk|invalid|malformed|body/i]);

# --- 408 --------------------------------------------------------------------------
{
    my ($r, $dt) = err_case(name => '408 header timeout', status => 408,
        raw => "GET / HTTP/1.1\r\nHost: x\r\n", log => [qr/timed out/i]);
    cmp_ok($dt, '>=', 0.8, '408 not before client_header (1s)');
    cmp_ok($dt, '<', 3, '408 soon after client_header (1s)');
}
{
    # Slowloris: a header line every 200 ms never completes the head; the
    # client_header timeout covers the whole head, not each read.
    my ($r, $dt) = err_case(name => '408 trickled header', status => 408,
        send => sub {
            my $c = shift;
            $c->send("GET / HTTP/1.1\r\nHost: x\r\n");
            for my $i (1 .. 20) {
                last if $c->eof || length $c->buffered;
                $c->send("X-Slow-$i: y\r\n");
                $c->fill(0.2);
            }
        }, log => [qr/timed out/i]);
    cmp_ok($dt, '<', 3, '408 for a trickled header within ~client_header');
}
{
    # Body stalls: client_body (1s) ends it, with a 408 or a plain close.
    my $mark = $gh->log_mark;
    my $c = $gh->connect;
    my $t0 = time;
    $c->send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
    my $r = $c->read_response(timeout => 5);
    my $dt = time - $t0;
    ok(!$r || $r->status == 408, 'stalled body: 408 or closed')
        or diag($r->raw_head);
    ok($c->wait_closed(1), 'stalled body: connection closed');
    cmp_ok($dt, '<', 3, 'stalled body: ended soon after client_body (1s)');
    ok($gh->wait_log([qr/\[info\]/, qr/timed out/i, $CLIENT], $mark, 3),
       'stalled body: [info] log line says timed out')
        or diag($gh->log_since($mark));
}

# --- 413, 414, 431, 501 ------------------------------------------------------------
err_case(name => '413 Content-Length over body_size', status => 413,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"
              . ('b' x 2000),
         log => [qr/too (large|big)|body/i]);
err_case(name => '413 chunked body over body_size', status => 413,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              . join('', map { "200\r\n" . ('c' x 512) . "\r\n" } 1 .. 8) . "0\r\n\r\n",
         log => [qr/too (large|big)|body/i]);
{
    my ($r) = err_case(name => '413 with Expect: 100-continue', status => 413,
        raw => "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n"
             . "Expect: 100-continue\r\n\r\n",
        log => [qr/too (large|big)|body/i]);
    is(scalar($r ? $r->interim : ()), 0, '413 with Expect: no 100 Continue first');
}
err_case(name => '414 URI over uri_size', status => 414,
         raw => "GET /" . ('u' x 2000) . " HTTP/1.1\r\nHost: x\r\n\r\n",
         log => [qr/uri|request line/i, qr/too (long|large|big)/i]);
err_case(name => '431 one header over header_size', status => 431,
         raw => "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " . ('h' x 5000) . "\r\n\r\n",
         log => [qr/header/i, qr/too (large|long|big)/i]);
err_case(name => '431 headers together over header_size', status => 431,
         raw => "GET / HTTP/1.1\r\nHost: x\r\n"
              . join('', map { "X-H$_: " . ('v' x 500) . "\r\n" } 1 .. 10) . "\r\n",
         log => [qr/header/i, qr/too (large|long|big)/i]);
err_case(name => '431 more headers than limits.headers', status => 431,
         raw => "GET / HTTP/1.1\r\nHost: x\r\n"
              . join('', map { "X-N$_: v\r\n" } 1 .. 25) . "\r\n",
         log => [qr/header/i, qr/too many|limit|count/i]);
err_case(name => '400 Transfer-Encoding not ending in chunked', status => 400,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n",
         log => [qr/transfer-encoding/i]);
err_case(name => '501 unknown Transfer-Encoding before chunked', status => 501,
         raw => "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n",
         log => [qr/transfer-encoding/i]);

is($o->count, $n0, 'no client error reached the origin');

# --- 502 --------------------------------------------------------------------------
my $UP = sub { my $p = shift; qr/upstream: (?:\S+\/)?127\.0\.0\.1:$p\b/ };
err_case(name => '502 connection refused', status => 502, level => 'error',
         raw => "GET /dead/x HTTP/1.1\r\nHost: x\r\n\r\n",
         log => [qr/Connection refused/, $UP->($dead)]);
err_case(name => '502 reset by the origin', status => 502, level => 'error',
         raw => "GET /r?act=reset HTTP/1.1\r\nHost: x\r\n\r\n",
         log => [qr/reset/i, $UP->($oport)]);
err_case(name => '502 origin closes without a response', status => 502,
         level => 'error', raw => "GET /c?act=close HTTP/1.1\r\nHost: x\r\n\r\n",
         log => [qr/prematurely|closed|no response|EOF/i, $UP->($oport)]);
err_case(name => '502 invalid status line', status => 502, level => 'error',
         raw => "GET /b?act=badstatus HTTP/1.1\r\nHost: x\r\n\r\n",
         log => [qr/invalid|malformed|bad/i, $UP->($oport)]);
err_case(name => '502 response that is not HTTP', status => 502, level => 'error',
         raw => "GET /g?act=garbage HTTP/1.1\r\nHost: x\r\n\r\n",
         log => [qr/invalid|malformed|bad/i, $UP->($oport)]);
err_case(name => '502 conflicting Content-Length in response', status => 502,
         level => 'error', raw => "GET /d?act=dupcl HTTP/1.1\r\nHost: x\r\n\r\n",
         log => [qr/content-length|invalid|malformed/i, $UP->($oport)]);
err_case(name => '502 response header of 1 MB', status => 502, level => 'error',
         raw => "GET /h?act=hugehdr HTTP/1.1\r\nHost: x\r\n\r\n",
         log => [qr/too (big|large|long)|header/i, $UP->($oport)]);

# --- 504 --------------------------------------------------------------------------
{
    my ($r, $dt) = err_case(name => '504 upstream_read timeout', status => 504,
        level => 'error', raw => "GET /slow?hdelay=4 HTTP/1.1\r\nHost: x\r\n\r\n",
        log => [qr/upstream timed out/, $UP->($oport)]);
    cmp_ok($dt, '>=', 0.8, '504 not before upstream_read (1s)');
    cmp_ok($dt, '<', 3, '504 soon after upstream_read (1s)');
}
{
    # Timeout after the head was relayed: the client must not get a response
    # that looks complete.
    my $mark = $gh->log_mark;
    my $c = $gh->connect;
    $c->send("GET /mid?len=100000&bdelay=4&chunk=50000 HTTP/1.1\r\nHost: x\r\n\r\n");
    my $r = $c->read_response(timeout => 5);
    ok($r && !$r->complete, 'timeout mid-body: response not complete')
        or diag($r ? 'got ' . length($r->body) . ' bytes' : 'no response');
    ok($c->eof, 'timeout mid-body: client connection closed');
    ok($gh->wait_log([qr/\[error\]/, qr/timed out/, $CLIENT], $mark, 3),
       'timeout mid-body: logged');
}

# --- the daemon is fine afterwards ----------------------------------------------------
is($gh->http_get('/ok')->status, 200, 'still serving after all the errors');

finish();
