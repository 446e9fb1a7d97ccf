#!/usr/bin/perl
# A worker killed with SIGKILL under load (new connections, keep-alive,
# 1 MiB bodies, a WebSocket-style tunnel): only the requests it held fail,
# none of those waiting in its accept queue; the master starts a new worker
# in its slot and the pool is back to full strength; the shared counters
# of what it had in flight do not stay behind.

use strict;
use warnings;

use List::Util qw(sum0);
use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 60;
use Origin;
use Load;

my $oa = Origin->new(name => 'a');
my $ob = Origin->new(name => 'b');
my $gh = Gatehouse->new(origins => [$oa, $ob],
                        conf => Gatehouse::preamble(workers => 3) . <<'EOF');
upstreams = { app = { keepalive = 16;
              servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; },
                          { address = "127.0.0.1:%%ORIGIN_b%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; },
                       { path = "/metrics"; metrics = true; } ); } );
EOF
my $PORT = $gh->port;

ok(wait_for(sub { $gh->children == 3 }, 5), 'three workers');
my @workers = $gh->children;

# ---- load, then slow requests to pick a worker with one in flight -------------

my $load = Load->new(gh => $gh, clients => { new => 3, keepalive => 2,
                                              post => 1, tunnel => 1 });
$load->start;
ok($load->wait_progress(5, 15), 'load is flowing');

my $n0 = grep { $_->{uri} =~ m{^/probe/} } $oa->requests, $ob->requests;
my @probes;
for my $i (1 .. 6) {
    my $c = $gh->connect;
    $c->send("GET /probe/$i?hdelay=2&len=100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    push @probes, $c;
}
ok(wait_for(sub { (grep { $_->{uri} =~ m{^/probe/} } $oa->requests, $ob->requests) >= $n0 + 6 }, 5),
   'six slow requests reached the origins');
my $t = Load::tcp_table();
my %on;
my @holder = map { my $w = Load::conn_holder($PORT, $_->sock->sockport, \@workers, $t);
                   $on{$w}++; $w } @probes;
my ($victim) = sort { $on{$b} <=> $on{$a} } grep { $_ } keys %on;
ok($victim, "a worker holds slow requests ($on{$victim // 0} of 6): $victim is the victim");
$victim //= $workers[0];
die "no worker to kill\n" unless $victim && $victim > 1;   # kill 0 = our group
my ($slot) = $gh->error_log =~ /start worker process $victim \(slot (\d+)\)/;
ok(defined $slot, "victim's slot: " . ($slot // '?'));

# Stopped first, so that what it holds and what waits for it can be seen
# and no longer changes; then killed.
my $t_stop = time;
kill 'STOP', $victim;
my ($held, $queued) = (0, 0);
# New connections, each with a request, until some wait in its accept
# queue (the others land on the live workers' sockets): they must all be
# answered once its slot has a new worker.
my @queued;
my $mine = 0;       # of ours that went to its queue (give or take the load)
for my $i (1 .. 40) {
    last if $mine >= 2;
    my $q0 = (Load::port_sockets($victim, $PORT))[1];
    my $c = $gh->connect;
    $c->send("GET /queued/$i?len=100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    push @queued, $c;
    $mine++ if wait_for(sub { (Load::port_sockets($victim, $PORT))[1] > $q0 }, 0.1, 0.01);
}
($held, $queued) = Load::port_sockets($victim, $PORT);
cmp_ok($queued, '>=', 1, "connections wait in the stopped worker's accept queue ($queued)");
my $mark = $gh->log_mark;
kill 'KILL', $victim;
diag("victim $victim (slot " . ($slot // '?') . "): held $held client connections "
     . "($on{$victim} slow requests among them), $queued queued");

# The master replaces it: a new pid in the same slot.
my @after;
ok(wait_for(sub { @after = $gh->children; @after == 3 && !grep { $_ == $victim } @after }, 5),
   'pool back to 3 workers') or diag("@after");
like($gh->wait_log(qr/worker process $victim exited on signal 9/, $mark, 3) // '',
     qr/\[error\]/, 'the kill is logged at error, not alert');
my $sl = $slot // 'x';
my $new = $gh->wait_log(qr/start worker process \d+ \(slot \Q$sl\E\)/, $mark, 3);
my ($newpid) = ($new // '') =~ /process (\d+)/;
ok($newpid && grep({ $_ == $newpid } @after), "slot $slot has a new worker ($newpid)");

# The slow requests: those on the victim fail, the others complete.
my ($p_ok, $p_lost) = (0, 0);
for my $i (0 .. $#probes) {
    my $r = $probes[$i]->read_response(timeout => 10);
    my $good = $r && $r->complete && $r->status == 200;
    if ($holder[$i] == $victim) { $p_lost++ unless $good }
    else                        { $p_ok++ if $good }
}
is($p_lost, $on{$victim}, "the $on{$victim} slow requests the victim held failed");
is($p_ok, 6 - $on{$victim}, 'the slow requests other workers held completed');

my $q_ok = grep { my $r = $_->read_response(timeout => 10);
                  $r && $r->complete && $r->status == 200 } @queued;
is($q_ok, scalar @queued, "all ${\ scalar @queued} connections opened while it was stopped "
   . "were answered (none of the $queued queued for it failed)");

ok($load->wait_progress(5, 15), 'load flows after the kill');
my $s = $load->stop;
diag($load->report(events => 0));
cmp_ok($s->{ok}, '>', 100, "load ran ($s->{ok} ok)");
my $load_held = $held - $on{$victim};
cmp_ok($s->{failed}, '<=', $load_held,
       "load: $s->{failed} failed, no more than the $load_held connections "
       . "the victim held for it (none of the $queued queued)")
    or diag($load->report);
my @early = grep { /^(\S+)/ && $1 < $t_stop } $load->failures;
ok(!@early, 'no failure before the worker was stopped') or diag(join "\n", @early);

# Nothing in flight any more: the shared gauges must say so, including
# what the killed worker had counted in.
my ($active, $conns, @lines);
ok(wait_for(sub {
    my $r = $gh->http_get('/metrics');
    return 0 unless $r && $r->status == 200;
    @lines = grep { /^gatehouse_(upstream_active|worker_connections)\{/ }
        split /\n/, $r->body;
    $active = sum0($r->body =~ /^gatehouse_upstream_active\{[^}]*\} (\d+)$/mg);
    $conns = sum0($r->body =~ /^gatehouse_worker_connections\{[^}]*\} (\d+)$/mg);
    $active == 0 && $conns == 1;    # this request's own
}, 5), 'upstream_active back to 0 and worker_connections to 1 (this request)')
    or diag(join "\n", @lines);

ok($gh->alive, 'master still running');
finish();
