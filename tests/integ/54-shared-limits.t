#!/usr/bin/perl
# The shared per-client controls (issue 7), with 4 workers and clients
# spread across them by SO_REUSEPORT:
#   route rate_limit    a GCRA bucket in the segment: the rate holds for the
#                       daemon, not per worker; 429 + Retry-After
#   client_connections  concurrent connections per client address, daemon
#   total_connections   client connections of the whole daemon
# and a worker killed while holding counted connections gives them back.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse timeout => 60;
use Load ();
use Origin;

my $o = Origin->new(name => 'o');

# ==== rate_limit =====================================================================
my $gr = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble(workers => 4) . <<'EOF');
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; },
                       { path = "/limited/"; upstream = "app";
                         rate_limit = { rate = "10r/s"; burst = 20; }; },
                       { path = "/api/"; upstream = "app";
                         rate_limit = { rate = "60r/m"; burst = 2; key = "header:X-Api-Key"; }; } ); } );
EOF
ok(wait_for(sub { $gr->children == 4 }, 5), 'rate: four workers');

# One request on a fresh connection (so that SO_REUSEPORT spreads them).
sub one {
    my ($gh, $path, %h) = @_;
    my $c = $gh->connect;
    $c->send($gh->build_request($path, headers => \%h));
    my $r = $c->read_response(timeout => 5);
    $c->close;
    return $r;
}

{
    my $mark = $gr->log_mark;
    my $n0 = $o->count;
    my ($ok, $limited, $retry, $t0) = (0, 0, undef, time);
    for (1 .. 60) {
        my $r = one($gr, '/limited/x');
        if ($r && $r->status == 200) { $ok++ }
        elsif ($r && $r->status == 429) { $limited++; $retry //= $r->header('retry-after') }
    }
    my $dt = time - $t0;
    # burst + 1 at once, then 10 a second: the daemon as a whole.
    my $want = 21 + int($dt * 10);
    cmp_ok($ok, '>=', 21, "rate 10r/s burst 20: at least burst + 1 pass ($ok in ${\ sprintf '%.2f', $dt} s)");
    cmp_ok($ok, '<=', $want + 1, "... and at most burst + 1 + 10/s over all 4 workers (<= " . ($want + 1) . ')');
    is($ok + $limited, 60, '... every other request got 429');
    is($retry, 1, '429 carries Retry-After: 1');
    is($o->count - $n0, $ok, 'refused requests never reached the origin');
    ok($gr->wait_log([qr/\[info\]/, qr{rate limit of route "/limited/" exceeded \(10r/s, burst 20\)},
                      qr/client: 127\.0\.0\.1/], $mark, 2), '[info] says which limit');
    is(one($gr, '/other')->status, 200, 'a route without rate_limit is not limited');
}
{
    # header key: each key its own bucket; no key: not limited.
    my @a = map { one($gr, '/api/x', 'X-Api-Key' => 'alpha')->status } 1 .. 5;
    is_deeply(\@a, [200, 200, 200, 429, 429], 'key alpha: burst 2 + 1, then 429');
    is(one($gr, '/api/x', 'X-Api-Key' => 'beta')->status, 200, 'key beta has its own bucket');
    is(one($gr, '/api/x')->status, 200, 'no key: not limited');
}
$gr->stop(name => 'rate');

# ==== client_connections and total_connections ========================================
my $gc = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble(workers => 4) . <<'EOF');
limits = { client_connections = 5; total_connections = 8; };
timeouts = { client_header = "30s"; keepalive = "30s"; };
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF
ok(wait_for(sub { $gc->children == 4 }, 5), 'conns: four workers');
my @w = $gc->children;
my $PORT = $gc->port;

# A connection from SRC that is served (keep-alive, then held idle), or
# undef when gatehouse closes it at once.
sub held {
    my ($src, $tag) = @_;
    my $c = Gatehouse::Client->new(port => $PORT, local => $src) or return undef;
    $c->send($gc->build_request("/held/$tag", close => 0));
    my $r = $c->read_response(timeout => 3);
    return $r && $r->status == 200 ? $c : undef;
}

{
    my $mark = $gc->log_mark;
    # SO_REUSEPORT hashes the source port: all five may land on one worker
    # (1 in 256), which would prove nothing; then close them and try again.
    my (@a, $spread);
    for my $try (1 .. 5) {
        @a = grep { defined } map { held('127.0.0.2', "a$try.$_") } 1 .. 7;
        $spread = grep { (Load::port_sockets($_, $PORT))[0] > 0 } @w;
        last if $spread >= 2 || $try == 5;
        $_->close for @a;
        wait_for(sub { !grep { (Load::port_sockets($_, $PORT))[0] > 0 } @w }, 3);
    }
    is(scalar @a, 5, 'client_connections = 5: 5 of 7 connections from 127.0.0.2 are served');
    cmp_ok($spread, '>=', 2, "... held by $spread workers: the count is daemon-wide");
    ok($gc->wait_log([qr/\[info\]/, qr/too many connections from this client \(limits\.client_connections = 5\)/,
                      qr/client: 127\.0\.0\.2:\d+/], $mark, 2), '[info] too many connections from this client');
    my @b = grep { defined } map { held('127.0.0.3', "b$_") } 1 .. 4;
    is(scalar @b, 3, 'total_connections = 8: another client gets the 3 left');
    ok($gc->wait_log([qr/\[warn\]/, qr/8 connections for the whole daemon \(limits\.total_connections\) reached/],
                     $mark, 2), '[warn] total_connections reached');
    $_->close for @b;
    shift(@a)->close;
    my $again;
    ok(wait_for(sub { $again = held('127.0.0.2', 'again') }, 3),
       'a connection closed: 127.0.0.2 may open one more');
    ok(!held('127.0.0.2', 'over'), '... but not two');
    push @a, $again;

    # A worker killed while holding connections of 127.0.0.2: the master
    # gives its counts back (the kernel closes its sockets).
    my ($victim) = grep { (Load::port_sockets($_, $PORT))[0] > 0 } @w;
    my $k = (Load::port_sockets($victim, $PORT))[0];
    $mark = $gc->log_mark;
    kill 'KILL', $victim;
    ok($gc->wait_log([qr/\[warn\]/, qr/process $victim died holding \d+ shared counts/], $mark, 5),
       "worker $victim killed holding $k connections: its counts are given back");
    ok(wait_for(sub { $gc->children == 4 }, 5), 'a new worker replaces it');
    my @c = grep { defined } map { held('127.0.0.2', "c$_") } 1 .. $k + 1;
    is(scalar @c, $k, "127.0.0.2 may open $k again (what the dead worker held), not more");
    $_->close for @a, @c;
}
$gc->stop(name => 'conns');

finish();
