#!/usr/bin/perl
# SIGHUP reload under a constant load (new connections, keep-alive, 1 MiB
# bodies, a WebSocket-style tunnel): five reloads in a row, changing the
# upstream's servers, adding a listen address and changing the number of
# workers, lose no request and reset no connection; each new config is in
# effect right after; old workers finish and exit; an invalid config is
# refused with file:line and changes nothing; a request that reached an old
# worker's socket just before its drain began is still answered; a busy
# tunnel is closed, not reset, at the end of timeouts.shutdown.

use strict;
use warnings;

use IO::Socket::IP;
use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 60;
use Origin;
use Load;

my %o = map { ($_ => Origin->new(name => $_)) } qw(a b c);
my $SHUTDOWN = 2;     # timeouts.shutdown, seconds

# Generation N of the config: workers, servers of "app", listen ports.
my @GEN = (
    { workers => 2, servers => [qw(a)],    listen => [qw(http)] },
    { workers => 2, servers => [qw(a b)],  listen => [qw(http)] },
    { workers => 2, servers => [qw(a b)],  listen => [qw(http http2)] },
    { workers => 2, servers => [qw(c)],    listen => [qw(http http2)] },
    { workers => 3, servers => [qw(b c)],  listen => [qw(http http2)] },
    { workers => 2, servers => [qw(a c)],  listen => [qw(http http2)] },
);

sub conf {
    my ($g) = @_;
    my $servers = join ",\n", map { "    { address = \"127.0.0.1:%%ORIGIN_$_%%\"; }" }
        @{ $g->{servers} };
    my $listen = join ', ', map { "\"127.0.0.1:%%PORT_$_%%\"" } @{ $g->{listen} };
    return Gatehouse::preamble(workers => $g->{workers}) . <<"EOF";
timeouts = { shutdown = "${SHUTDOWN}s"; upstream_connect = "1s"; };
upstreams = { app = { keepalive = 16;
  servers = (
$servers
  ); }; };
sites = ( { listen = [ $listen ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF
}

my $gh = Gatehouse->new(origins => [values %o], conf => conf($GEN[0]));
ok(wait_for(sub { $gh->children == 2 }, 5), 'two workers');

# N fresh requests on PORT in a row answered by the servers of SERVERS
# only (and each of them at least once when ALL): the config in effect.
# The load's requests take turns in the same shared round-robin, so which
# server answers each of ours is a coin toss: N = 16 for ALL.
# $WHY says what did not match.
our $WHY = '';
sub serves {
    my ($port, $servers, $n, %opt) = @_;
    my %want = map { ($_ => 1) } @$servers;
    my %seen;
    for my $i (1 .. $n) {
        my $r = $gh->http_get("/check/$i", port => $port, timeout => 5);
        my $x = $r ? $r->header('x-origin') // '' : '';
        $WHY = sprintf '%.3f request %d of %d: %s', time, $i, $n,
            !$r ? 'no response' : $r->status != 200 ? 'status ' . $r->status
            : "answered by $x";
        return 0 unless $r && $r->status == 200 && $want{$x};
        $seen{$x}++;
    }
    $WHY = 'not all of them answered: ' . join(' ', map { "$_=" . ($seen{$_} // 0) } @$servers);
    return 0 if $opt{all} && grep { !$seen{$_} } @$servers;
    return 1;
}

my $load = Load->new(gh => $gh, clients => { new => 2, keepalive => 2,
                                              post => 1, tunnel => 1 });
$load->start;
ok($load->wait_progress(5, 15), 'load is flowing') or diag($load->report);

my @hups;
for my $n (1 .. 5) {
    my $g = $GEN[$n];
    my $mark = $gh->log_mark;
    $gh->write_conf(conf($g));
    push @hups, time;
    $gh->signal('HUP');
    my $line = $gh->wait_log(qr/reloaded: $g->{workers} workers, \d+ listen/,
                             $mark, 10);
    ok($line, "reload $n: logged as done") or diag($gh->log_since($mark));
    # Old workers may still take a connection or two until they have seen
    # their QUIT: poll for the new config, then it must hold.
    ok(wait_for(sub { serves('http', $g->{servers}, 4) }, 5)
       && serves('http', $g->{servers}, 16, all => 1),
       "reload $n: new config in effect (servers @{ $g->{servers} })")
        or diag("$WHY\n" . $gh->log_since($mark));
    if (grep { $_ eq 'http2' } @{ $g->{listen} }) {
        ok(serves('http2', $g->{servers}, 3),
           "reload $n: the added listen address serves");
    }
    ok($load->wait_progress(3, 10), "reload $n: load flows on")
        or diag($load->report);
}

# The workers of generation 5 only, once the old ones have finished.
ok(wait_for(sub { $gh->children == 2 }, $SHUTDOWN + 5),
   'old workers all exited: 2 children (workers = 2)')
    or diag(join ' ', $gh->children);

# An invalid config: refused with file and line, nothing changes.
{
    my @before = $gh->children;
    my $mark = $gh->log_mark;
    my $bad = conf($GEN[5]);
    $bad =~ s/keepalive = 16;/keepalive = 16; balance = "sideways";/;
    $gh->write_conf($bad);
    $gh->signal('HUP');
    my $err = $gh->wait_log(qr/\[error\].*reload failed/, $mark, 5);
    like($err // '', qr/gatehouse\.conf:\d+: .*balance/,
         'invalid config: error names file:line and the key');
    ok(serves('http', $GEN[5]{servers}, 16, all => 1),
       'invalid config: the previous one still serves');
    is_deeply([$gh->children], \@before, 'invalid config: same workers');
    $gh->write_conf(conf($GEN[5]));
}

ok($load->wait_progress(3, 10), 'load still flowing at the end');
my $s = $load->stop;
diag($load->summary_line($s));
cmp_ok($s->{ok}, '>', 200, "load ran ($s->{ok} ok)");
is($s->{failed}, 0, 'zero failed requests over 5 reloads')
    or diag($load->report);
is($s->{resets}, 0, 'zero connection resets');
cmp_ok($s->{by_mode}{$_}{ok}, '>', 5, "$_ clients were served")
    for qw(new keepalive post tunnel);

# A cut tunnel was held by an old worker: cut no sooner than
# timeouts.shutdown after the reload that retired it.
# (An old worker may still take a tunnel just after the HUP, until it has
# seen its QUIT.)
for my $c ($load->cuts) {
    my ($t, $life) = @$c;
    my $open = $t - $life;
    ok(grep({ $t - $_ >= $SHUTDOWN - 0.3 && $t - $_ <= $SHUTDOWN + 1.5
              && $open <= $_ + 0.5 } @hups),
       sprintf 'tunnel cut %.2f s after it opened: timeouts.shutdown after a reload', $life)
        or diag(sprintf "cut at %.3f, opened at %.3f; HUPs at %s", $t, $open,
                join ' ', map { sprintf '%.3f', $_ } @hups);
}
cmp_ok(scalar($load->cuts), '<=', 5, 'at most one tunnel cut per reload');

# A request that is already in an old worker's socket when it starts to
# drain (it was stopped, so it sees its QUIT and the bytes together) is
# answered, not dropped with the idle keep-alive connection it came on.
{
    my @w = $gh->children;
    my $c = $gh->connect;
    $c->send($gh->build_request('/before-drain', close => 0));
    my $r = $c->read_response;
    is($r && $r->status, 200, 'drain race: a keep-alive connection, one request done');
    my $cport = $c->sock->sockport;
    my $holder = Load::conn_holder($gh->port, $cport, \@w);
    ok($holder, "drain race: worker $holder holds it");
    # The server side of the connection: bytes waiting in it.
    my $waiting = sub {
        my $t = Load::tcp_table();
        for my $i (Load::socket_inodes($holder)) {
            my $x = $t->{$i} or next;
            return $x->[3] if $x->[1] == $gh->port && $x->[2] == $cport;
        }
        return 0;
    };
    SKIP: {
        skip 'no holder found', 3 unless $holder;
        kill 'STOP', $holder;
        my $mark = $gh->log_mark;
        $gh->signal('HUP');
        ok($gh->wait_log(qr/reloaded:/, $mark, 10), 'drain race: reloaded while it is stopped');
        $c->send($gh->build_request('/during-drain', close => 0));
        ok(wait_for($waiting, 3), 'drain race: the request waits in its socket');
        kill 'CONT', $holder;
        $r = $c->read_response(timeout => 5);
        ok($r && $r->complete && $r->status == 200,
           'drain race: that request is answered')
            or diag('got ' . ($r ? $r->status : 'no response') . ': '
                    . ($c->error // '') . ($c->was_reset ? ' (reset)' : ''));
    }
    $c->close;
    ok(wait_for(sub { $gh->children == 2 }, $SHUTDOWN + 5), 'drain race: old workers exited');
}

# A tunnel busy at the end of timeouts.shutdown: the draining worker closes
# it (FIN), not resets it, or the client loses what was already relayed.
{
    my $c = $gh->connect;
    $c->send("GET /busy?act=upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             . "Connection: Upgrade\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->status, 101, 'busy tunnel: open');
    $c->read_until(qr/welcome\n/, 3);
    my $mark = $gh->log_mark;
    $gh->signal('HUP');
    ok($gh->wait_log(qr/reloaded:/, $mark, 10), 'busy tunnel: reloaded');
    my $t0 = time;
    my $n = 0;
    while (time - $t0 < $SHUTDOWN + 3 && !$c->eof) {
        last unless $c->send(('t' x 999) . "\n", 1);
        $n++;
        $c->fill(0.002);
    }
    $c->wait_closed(3);
    my $dt = time - $t0;
    ok($c->eof && $dt >= $SHUTDOWN - 0.3,
       sprintf 'busy tunnel: cut after %.2f s (timeouts.shutdown %d s)', $dt, $SHUTDOWN);
    ok(!$c->was_reset && ($c->error // '') !~ /reset|pipe/i,
       "busy tunnel: closed, not reset ($n KB sent)")
        or diag('reset: ' . ($c->error // 'ECONNRESET on read'));
    $c->close;
    ok(wait_for(sub { $gh->children == 2 }, 5), 'busy tunnel: old workers exited');
}

my $log = $gh->error_log;
my @bad_exit = $log =~ /(old process \d+ exited with code [1-9]\d*)/g;
ok(!@bad_exit, 'every old worker exited with code 0') or diag("@bad_exit");
my @errs = grep { /\[(error|crit)\]/ && !/reload failed/ } split /\n/, $log;
ok(!@errs, 'no other error in the log') or diag(join "\n", @errs);

finish();
