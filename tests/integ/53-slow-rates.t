#!/usr/bin/perl
# limits.min_body_rate and limits.min_response_rate (issue 7): a client
# that trickles a request body, or reads a response a few bytes at a time,
# is cut once a rate_window shows it below the minimum; a client at a
# normal pace is not.  Each slow client here keeps bytes moving, so the
# per-read timeouts (client_body = 10 s) never fire: only the rate can
# catch it.

use strict;
use warnings;

use Socket qw(SOL_SOCKET SO_RCVBUF);
use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse timeout => 60;
use Origin;

my $o = Origin->new(name => 'o');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble(workers => 2) . <<'EOF');
timeouts = { client_body = "10s"; };
limits = { body_size = 0; min_body_rate = "2k"; min_response_rate = "256k";
           rate_window = "1s"; };
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF

# ---- slow body: 100 bytes every 100 ms (1 kB/s, under 2k) -----------------------
{
    my $mark = $gh->log_mark;
    my $n0 = $o->count;
    my $c = $gh->connect;
    my $len = 100_000;
    $c->send("POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: $len\r\n\r\n");
    my ($sent, $r, $t0) = (0, undef, time);
    while ($sent < $len && time - $t0 < 8) {
        last unless $c->send('b' x 100, 1);
        $sent += 100;
        $r = $c->read_response(timeout => 0.1);
        last if $r;
    }
    $r //= $c->read_response(timeout => 3);
    my $dt = time - $t0;
    is($r && $r->status, 408, sprintf('a body trickled at 1 kB/s: 408 (after %.1f s, %d bytes)',
                                      $dt, $sent));
    cmp_ok($sent, '<', $len, '... before the body was complete');
    cmp_ok($dt, '<', 5, '... within a few rate windows, long before client_body (10 s)');
    ok($gh->wait_log([qr/\[info\]/, qr/client sent the body at \d+ bytes in \d+ ms, below limits\.min_body_rate/,
                      qr/while sending request to upstream, client: 127\.0\.0\.1/], $mark, 2),
       '[info] says the body was below limits.min_body_rate') or diag($gh->log_since($mark));
    $c->close;
}

# ---- a body at a normal pace passes ---------------------------------------------
{
    my $body = 'n' x 3_000_000;
    my $r = $gh->http_post('/fast-body', $body);
    is($r && $r->status, 200, 'a 3 MB body at loopback speed: 200');
    is(($o->last_request // {})->{body_len}, length $body, '... and reached the origin whole');
}

# ---- slow reader: a 64 MB response read 16 kB every 100 ms (160 kB/s) -----------
{
    my $mark = $gh->log_mark;
    my $c = Gatehouse::Client->new(port => $gh->port);
    setsockopt($c->sock, SOL_SOCKET, SO_RCVBUF, 16384);
    my $len = 64 * 1024 * 1024;
    $c->send("GET /big?len=$len HTTP/1.1\r\nHost: x\r\n\r\n");
    my ($got, $t0) = (0, time);
    while (time - $t0 < 30) {
        my $n = sysread($c->sock, my $chunk, 16384);
        if (defined $n && $n == 0) { last }
        if (!defined $n) {
            last unless $!{EAGAIN} || $!{EWOULDBLOCK};
        } else {
            $got += $n;
        }
        sleep 0.1;
    }
    my $dt = time - $t0;
    cmp_ok($got, '<', $len, sprintf('a reader at 160 kB/s is cut off (%d of %d bytes, %.1f s)',
                                    $got, $len, $dt));
    cmp_ok($dt, '<', 25, '... well before the response could have been read');
    ok($gh->wait_log([qr/\[info\]/, qr/client read the response at \d+ bytes in \d+ ms, below /,
                      qr/limits\.min_response_rate/], $mark, 2),
       '[info] says the reader was below limits.min_response_rate') or diag($gh->log_since($mark));
    $c->close;
}

# ---- a reader at a normal pace gets everything ----------------------------------
{
    my $len = 8 * 1024 * 1024;
    my $r = $gh->http_get("/big?len=$len", timeout => 20);
    is($r && $r->status, 200, 'an 8 MB response read at loopback speed: 200');
    is(length($r ? $r->body : ''), $len, '... whole');
}

# ---- a backend that streams slowly does not make its client slow ----------------
{
    my $mark = $gh->log_mark;
    my $r = $gh->http_get('/stream?len=4000&te=chunked&chunk=1000&bdelay=1.2', timeout => 15);
    is($r && $r->status, 200, 'a response the backend streams over 5 s (1 kB every 1.2 s): 200');
    is(length($r ? $r->body : ''), 4000, '... whole: the client was never judged for it');
    unlike($gh->log_since($mark), qr/min_response_rate/, '... and no rate line');
}

# ---- a backend slow to take a body does not make the client slow -----------------
{
    my $mark = $gh->log_mark;
    my $r = $gh->http_post('/slow-origin?hdelay=2.5', 'p' x 5000);
    is($r && $r->status, 200, 'a body the client sent at once, a backend answering after 2.5 s: 200');
    unlike($gh->log_since($mark), qr/min_body_rate/, '... no rate line');
}

finish();
