#!/usr/bin/perl
# Signals: QUIT graceful (in-flight request completes, idle connections and
# listeners close, shutdown timeout bounds it), TERM fast, USR1 reopens logs
# after a rename, a worker killed with SIGKILL is replaced and serving goes
# on.  Also the pid file and -s.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 60;
use Origin;

my $o = Origin->new(name => 'a');

sub daemon {
    my (%o) = @_;
    my $extra = $o{extra} // '';
    return Gatehouse->new(origins => [$o], %{ $o{args} // {} },
                          conf => Gatehouse::preamble(workers => $o{workers} // 2)
                                  . $extra . <<'EOF');
upstreams = { app = { keepalive = 8;
              servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF
}

sub can_connect {
    my ($gh) = @_;
    my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $gh->port,
                                Proto => 'tcp', Timeout => 1);
    return $s ? 1 : 0;
}

# Start a request whose answer takes SECS; returns the client once the origin
# has the request.
sub inflight {
    my ($gh, $secs, $path) = @_;
    my $n = $o->count;
    my $c = $gh->connect;
    $c->send("GET /$path?hdelay=$secs&len=1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ok($o->wait_count($n + 1, 3), "$path: request reached the origin");
    return $c;
}

# --- pid file ------------------------------------------------------------------------
{
    my $gh = daemon();
    my $pidf = $gh->dir . '/gh.pid';
    ok(wait_for(sub { -s $pidf }, 3), 'pid file written');
    my $pid = Gatehouse::read_file($pidf);
    $pid =~ s/\s+$//;
    is($pid, $gh->pid, 'pid file holds the master pid');
    ok(wait_for(sub { $gh->children == 2 }, 3), 'workers = 2: two children');

    # -s reopen / -s quit go through the pid file.
    my ($rc) = Gatehouse::run_cmd([Gatehouse::bin(), '-c', $gh->conf_file, '-s', 'reopen'], 5);
    is($rc, 0, '-s reopen: exits 0');
    ok($gh->alive, '-s reopen: master still running');
    ($rc) = Gatehouse::run_cmd([Gatehouse::bin(), '-c', $gh->conf_file, '-s', 'quit'], 5);
    is($rc, 0, '-s quit: exits 0');
    ok(defined $gh->wait_exit(10), '-s quit: master exits');
    ok(!-e $pidf, 'pid file removed on exit');
    $gh->stop(name => '-s quit', quiet_exit => 1);
}

# --- QUIT: graceful ---------------------------------------------------------------------
{
    my $gh = daemon();
    my $idle = $gh->connect;
    $idle->send($gh->build_request('/idle', close => 0));
    my $ir = $idle->read_response;
    is($ir && $ir->status, 200, 'QUIT: idle keep-alive connection set up');
    my $c = inflight($gh, 1.5, 'graceful');
    my $t0 = time;
    $gh->signal('QUIT');
    ok($idle->wait_closed(3), 'QUIT: idle keep-alive connection closed');
    ok(wait_for(sub { !can_connect($gh) }, 3), 'QUIT: listeners closed');
    my $r = $c->read_response(timeout => 5);
    is($r && $r->status, 200, 'QUIT: in-flight request completes');
    is($r && $r->body, Origin::pattern(1000), 'QUIT: in-flight body intact');
    ok(defined $gh->wait_exit(5), 'QUIT: master exits when done');
    cmp_ok(time - $t0, '>=', 1, 'QUIT: did not exit before the request finished');
    is($gh->{exit}, 0, 'QUIT: exit status 0');
    $gh->stop(name => 'QUIT', quiet_exit => 1);
}

# --- QUIT with a request that outlives timeouts.shutdown ----------------------------------
{
    my $gh = daemon(extra => "timeouts = { shutdown = \"1s\"; };\n");
    my $c = inflight($gh, 10, 'stuck');
    my $t0 = time;
    $gh->signal('QUIT');
    ok(defined $gh->wait_exit(5), 'QUIT + shutdown = 1s: master exits');
    my $dt = time - $t0;
    cmp_ok($dt, '<', 4, "QUIT + shutdown = 1s: gone in ${\ sprintf '%.1f', $dt} s");
    ok($c->wait_closed(2), 'QUIT + shutdown: stuck client connection closed');
    $gh->stop(name => 'QUIT shutdown timeout', quiet_exit => 1);
}

# --- TERM: fast ----------------------------------------------------------------------------
{
    my $gh = daemon();
    my $c = inflight($gh, 10, 'term');
    my $t0 = time;
    $gh->signal('TERM');
    ok(defined $gh->wait_exit(3), 'TERM: master exits');
    cmp_ok(time - $t0, '<', 2, 'TERM: without waiting for the in-flight request');
    ok($c->wait_closed(2), 'TERM: client connection closed');
    my $r = $c->read_response(timeout => 0.5);
    ok(!$r || !$r->complete, 'TERM: no complete response');
    ok(wait_for(sub { !$gh->children }, 3), 'TERM: no worker left');
    $gh->stop(name => 'TERM', quiet_exit => 1);
}

# --- USR1: reopen logs -----------------------------------------------------------------------
{
    my $gh = daemon();
    my $acc = $gh->access_log_file;
    my $err = $gh->error_log_file;
    is($gh->http_get('/before-rotate')->status, 200, 'USR1: request before rotation');
    ok(wait_for(sub { Gatehouse::read_file($acc) =~ m{/before-rotate} }, 3),
       'USR1: logged in access.log');
    rename $acc, "$acc.1" or die;
    rename $err, "$err.1" or die;
    $gh->signal('USR1');
    my $i = 0;
    ok(wait_for(sub {
        $i++;
        $gh->http_get("/after-rotate-$i");
        Gatehouse::read_file($acc) =~ m{/after-rotate-$i\b};
    }, 5, 0.1), 'USR1: new access.log created and written');
    like(Gatehouse::read_file("$acc.1"), qr{/before-rotate}, 'USR1: old lines stay in access.log.1');
    $gh->http_get('/after-rotate-final');
    ok(wait_for(sub { Gatehouse::read_file($acc) =~ m{/after-rotate-final} }, 3),
       'USR1: later requests go to the new file');
    unlike(Gatehouse::read_file("$acc.1"), qr{/after-rotate-final},
           'USR1: ... not to the renamed one');
    ok(wait_for(sub { -e $err }, 3), 'USR1: new error.log created');
    # Every process must have reopened: make the workers log something.
    my $old_size = -s "$err.1";
    $gh->request("GET / HTTP/1.1\r\nHost: x\r\nbad line\r\n\r\n") for 1 .. 8;
    ok(wait_for(sub { Gatehouse::read_file($err) =~ /\[info\]/ }, 3),
       'USR1: workers log to the new error.log');
    is(-s "$err.1", $old_size, 'USR1: nothing more written to error.log.1');
    $gh->stop(name => 'USR1');
}

# --- a worker killed with SIGKILL is replaced ----------------------------------------------------
{
    my $gh = daemon();
    ok(wait_for(sub { $gh->children == 2 }, 3), 'two workers');
    my @before = $gh->children;
    my $victim = $before[0];
    # The master may log the death of its child at [alert]; that is our doing.
    $gh->{allow_alert} = qr/\b$victim\b/;
    kill 'KILL', $victim;
    my @after;
    ok(wait_for(sub { @after = $gh->children; @after == 2 && !grep { $_ == $victim } @after }, 5),
       'killed worker replaced');
    ok(wait_for(sub {
        grep { !/\] $victim#/ && /\b$victim\b/ && /signal|exit|died|kill/i }
            split /\n/, $gh->error_log }, 3),
       'master logged the dead worker: its pid and how it ended')
        or diag($gh->error_log);
    my $ok = 0;
    for my $i (1 .. 20) {
        my $r = $gh->http_get("/after-kill-$i", timeout => 5);
        $ok++ if $r && $r->status == 200;
    }
    is($ok, 20, 'serving continues: 20 of 20 requests after the kill');
    ok($gh->alive, 'master still running');
    $gh->stop(name => 'worker kill');
}

finish();
