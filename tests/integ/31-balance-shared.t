#!/usr/bin/perl
# Balancing with workers = 4: every algorithm reads and updates state in
# the shared segment, so it holds for the daemon, not per worker.  Requests
# go over fresh client connections, which SO_REUSEPORT spreads over the
# workers (checked with gatehouse_worker_requests_total).
#
#   round_robin  3:1 exactly, and b once in every window of 4 consecutive
#                requests (a per-worker rotation breaks the window), with
#                and without upstream keep-alive
#   least_conn   held requests alternate exactly between two servers; a
#                slow server gets far fewer than a fast one under load
#   random2      every server gets some; the slow one far fewer
#   hash         uri / header / cookie keys stick to a server across
#                workers; without the header: round-robin, still 200; a
#                restart without one server keeps every other key in place
#   backup       nothing while the primary is up; everything, without a
#                failed request, once it is gone (also when the request
#                first finds its pooled connection to the primary stale)
#   max_conns    never more than max_conns at the origin; queue full and
#                queue_timeout answer 503 with Retry-After
#   retries      retries = 2 gets past two dead servers; a POST whose server
#                reset the connection is not replayed (502), a GET goes to
#                the other server, once

use strict;
use warnings;

use IO::Select;
use IO::Socket::IP;
use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 60;
use Origin;

# An Origin whose every answer waits DELAY{name} seconds first (as if each
# request carried hdelay=): a slow server whatever the URI.  It hooks into
# Origin's internal _respond; an Origin option would be better.
{
package SlowOrigin;
our @ISA = ('Origin');
our %DELAY;
sub _respond {
    my ($self, $c, $rec, $h, $q, @rest) = @_;
    $q->{hdelay} //= $DELAY{ $self->name } if $DELAY{ $self->name };
    return $self->SUPER::_respond($c, $rec, $h, $q, @rest);
}
}

my %o;
$o{$_} = Origin->new(name => $_)
    for qw(rra rrb kaa kab lc1 lc2 fast r2a r2b h1 h2 h3 h4 pri bak pri2 bak2
           mc mq live px py);
$SlowOrigin::DELAY{$_} = 0.25 for qw(slow r2slow);
$o{$_} = SlowOrigin->new(name => $_) for qw(slow r2slow);

sub srv { join ",\n", map { qq(    { address = "127.0.0.1:%%ORIGIN_$_%%"; }) } @_ }

my $HASH_SERVERS = srv(qw(h1 h2 h3 h4));
my $conf = Gatehouse::preamble(workers => 4) . <<"EOF";
timeouts = { upstream_connect = "1s"; };
upstreams = {
  rr   = { keepalive = 0;
           servers = ( { address = "127.0.0.1:%%ORIGIN_rra%%"; weight = 3; },
                       { address = "127.0.0.1:%%ORIGIN_rrb%%"; weight = 1; } ); };
  rrka = { keepalive = 8;
           servers = ( { address = "127.0.0.1:%%ORIGIN_kaa%%"; weight = 3; },
                       { address = "127.0.0.1:%%ORIGIN_kab%%"; weight = 1; } ); };
  lc   = { balance = "least_conn"; servers = (
@{[ srv(qw(lc1 lc2)) ]}
  ); };
  lcsf = { balance = "least_conn"; servers = (
@{[ srv(qw(slow fast)) ]}
  ); };
  r2   = { balance = "random2"; servers = (
@{[ srv(qw(r2a r2b r2slow)) ]}
  ); };
  hu   = { balance = "hash"; hash_key = "uri"; servers = (
$HASH_SERVERS
  ); };
  hh   = { balance = "hash"; hash_key = "header:X-User"; servers = (
$HASH_SERVERS
  ); };
  hc   = { balance = "hash"; hash_key = "cookie:sid"; servers = (
$HASH_SERVERS
  ); };
  bk   = { servers = ( { address = "127.0.0.1:%%ORIGIN_pri%%"; },
                       { address = "127.0.0.1:%%ORIGIN_bak%%"; backup = true; } ); };
  bks  = { servers = ( { address = "127.0.0.1:%%ORIGIN_pri2%%"; },
                       { address = "127.0.0.1:%%ORIGIN_bak2%%"; backup = true; } ); };
  mc   = { servers = ( { address = "127.0.0.1:%%ORIGIN_mc%%"; max_conns = 2; } ); };
  mq   = { queue = 1; queue_timeout = "300ms";
           servers = ( { address = "127.0.0.1:%%ORIGIN_mq%%"; max_conns = 2; } ); };
  rt   = { retries = 2; max_fails = 0;
           servers = ( { address = "127.0.0.1:%%DEAD1%%"; },
                       { address = "127.0.0.1:%%DEAD2%%"; },
                       { address = "127.0.0.1:%%ORIGIN_live%%"; } ); };
  pr   = { retries = 2; max_fails = 0; keepalive = 0;
           servers = ( { address = "127.0.0.1:%%ORIGIN_px%%"; },
                       { address = "127.0.0.1:%%ORIGIN_py%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/metrics"; metrics = true; },
                       { path = "/rr/"; upstream = "rr"; },
                       { path = "/rrka/"; upstream = "rrka"; },
                       { path = "/lc/"; upstream = "lc"; },
                       { path = "/lcsf/"; upstream = "lcsf"; },
                       { path = "/r2/"; upstream = "r2"; },
                       { path = "/hu/"; upstream = "hu"; },
                       { path = "/hh/"; upstream = "hh"; },
                       { path = "/hc/"; upstream = "hc"; },
                       { path = "/bk/"; upstream = "bk"; },
                       { path = "/bks/"; upstream = "bks"; },
                       { path = "/mc/"; upstream = "mc"; },
                       { path = "/mq/"; upstream = "mq"; },
                       { path = "/rt/"; upstream = "rt"; },
                       { path = "/pr/"; upstream = "pr"; } ); } );
EOF
my %DEAD = (dead1 => dead_port(), dead2 => dead_port());
my $gh = Gatehouse->new(origins => [values %o], conf => $conf,
                        vars => { DEAD1 => $DEAD{dead1}, DEAD2 => $DEAD{dead2} });

# ---- helpers ---------------------------------------------------------------

# Prometheus text -> { "name{k=v,...}" => value } with labels sorted.
sub metrics {
    my ($g) = @_;
    my $r = $g->http_get('/metrics') or return {};
    my %m;
    for my $l (split /\n/, $r->body // '') {
        next if $l =~ /^#/ || $l !~ /^(\w+)(?:\{(.*)\})? (\S+)$/;
        my ($n, $lab, $v) = ($1, $2 // '', $3);
        my %l = $lab =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
        $m{ $n . '{' . join(',', map { "$_=$l{$_}" } sort keys %l) . '}' } = $v;
    }
    return \%m;
}

# Requests served per worker slot, from the metrics.
sub worker_requests {
    my $m = metrics($gh);
    my %w;
    for (keys %$m) {
        $w{$1} = $m->{$_} if /^gatehouse_worker_requests_total\{worker=(\d+)\}$/;
    }
    return \%w;
}

# How many slots served more requests in AFTER than in BEFORE.
sub workers_used {
    my ($before, $after) = @_;
    return scalar grep { $after->{$_} > ($before->{$_} // 0) } keys %$after;
}

# GET each path on a fresh connection; returns (failures, %count by origin,
# @origin in order).
sub spread {
    my (@paths) = @_;
    my (%n, @seq);
    my $fail = 0;
    for my $p (@paths) {
        my $r = $gh->http_get($p);
        if ($r && $r->status == 200) {
            my $x = $r->header('x-origin') // '?';
            $n{$x}++;
            push @seq, $x;
        } else {
            $fail++;
            push @seq, 'FAIL(' . ($r ? $r->status : 'none') . ')';
        }
    }
    return ($fail, \%n, \@seq);
}

# A response read up to the close of the connection (undef if none).
sub parse_closed {
    my ($buf) = @_;
    return undef unless $buf =~ /\r\n\r\n/;
    my $r = Gatehouse::Response->parse_head($`) or return undef;
    $r->{body} = $';
    return $r;
}

# Read the responses on CLIENTS (all sent Connection: close) side by side;
# returns one { r => response or undef, t => seconds from T0 to its end }
# per client, in order.
sub gather {
    my ($t0, $secs, @c) = @_;
    my $deadline = time + $secs;
    my %open = map { $_ => $c[$_] } 0 .. $#c;
    my @out;
    while (%open && time < $deadline) {
        my $sel = IO::Select->new(map { $_->sock } values %open);
        $sel->can_read($deadline - time) or last;
        for my $i (keys %open) {
            my $c = $open{$i};
            $c->fill(0);
            next unless $c->eof;
            $out[$i] = { r => parse_closed($c->buffered), t => time - $t0 };
            $c->close;
            delete $open{$i};
        }
    }
    $out[$_] //= { r => undef, t => undef } for 0 .. $#c;
    return @out;
}

# GET each of REQS ([path, build_request options...]) on a fresh
# connection, K at a time (where the order does not matter); returns the
# X-Origin of each, in order, or "FAIL(status)".
sub get_many {
    my ($g, $k, @reqs) = @_;
    my (%open, @out);
    my $next = 0;
    my $deadline = time + 30;
    while (($next < @reqs || %open) && time < $deadline) {
        while ($next < @reqs && keys %open < $k) {
            my ($path, @o) = @{ $reqs[$next] };
            my $c = $g->connect or last;
            $c->send($g->build_request($path, @o));
            $open{ $next++ } = $c;
        }
        my $sel = IO::Select->new(map { $_->sock } values %open);
        $sel->can_read($deadline - time) or last;
        for my $i (keys %open) {
            my $c = $open{$i};
            $c->fill(0);
            next unless $c->eof;
            my $r = parse_closed($c->buffered);
            $out[$i] = $r && $r->status == 200 ? $r->header('x-origin') // '?'
                     : 'FAIL(' . ($r ? $r->status : 'none') . ')';
            $c->close;
            delete $open{$i};
        }
    }
    $out[$_] //= 'FAIL(timeout)' for 0 .. $#reqs;
    return @out;
}

# The largest number of ORIGIN's requests (matching RE) that arrived
# within SPAN seconds of each other.
sub max_cluster {
    my ($origin, $re, $span) = @_;
    my @t = sort { $a <=> $b } map { $_->{time} }
        grep { $_->{uri} =~ $re } $origin->requests;
    my $max = 0;
    for my $i (0 .. $#t) {
        my $n = grep { $_ >= $t[$i] && $_ < $t[$i] + $span } @t;
        $max = $n if $n > $max;
    }
    return $max;
}

# ---- round_robin -----------------------------------------------------------

# Upstream keep-alive on (the usual case): 400 requests.  With keepalive =
# 0 each request costs the origin a fork, so 40 are enough there.
for my $case (['rrka', 'kaa', 'kab', 'upstream keep-alive', 400],
              ['rr', 'rra', 'rrb', 'keepalive = 0', 40]) {
    my ($up, $a, $b, $what, $total) = @$case;
    my $w0 = worker_requests();
    my ($fail, $n, $seq) = spread(map { "/$up/$_" } 1 .. $total);
    my $w1 = worker_requests();
    is($fail, 0, "round_robin, $what: $total requests, all 200");
    is($n->{$a} // 0, $total * 3 / 4,
       "round_robin, $what: weight 3 got exactly 3/4");
    is($n->{$b} // 0, $total / 4, "round_robin, $what: weight 1 got exactly 1/4");
    my @bad;
    for my $i (0 .. $#$seq - 3) {
        my $bs = grep { $_ eq $b } @$seq[$i .. $i + 3];
        push @bad, $i if $bs != 1;
    }
    ok(!@bad, "round_robin, $what: $b once in every window of 4 "
              . "consecutive requests (one rotation for all workers)")
        or diag("windows off at @bad[0 .. ($#bad < 9 ? $#bad : 9)]: "
                . join('', map { $_ eq $a ? 'a' : $_ eq $b ? 'b' : $_ }
                           @$seq[0 .. 39]) . '...');
    cmp_ok(workers_used($w0, $w1), '>=', 2,
           "round_robin, $what: the requests were served by several workers")
        or diag(explain([$w0, $w1]));
}

# ---- least_conn ------------------------------------------------------------

my @HELD;     # client connections of the held requests, read at the end
{
    # Held requests sent one by one, each once the previous one is at an
    # origin: every pick sees the others in flight (whichever worker made
    # them), so they alternate and never differ by more than one.  After
    # each, a short request moves the tie-breaking rotation on, so that a
    # rotation shared by workers that counted only their own requests in
    # flight would not alternate them too.  They are held 4 s; their
    # answers are read at the end of the file.
    my (@skew, $short_fail);
    my $t0 = time;
    my @lc = map { $o{"lc$_"} } 1 .. 2;
    my $held_at = sub {
        map { scalar grep { $_->{uri} =~ m{^/lc/held} } $_->requests } @lc
    };
    for my $i (1 .. 8) {
        my $c = $gh->connect;
        $c->send($gh->build_request("/lc/held$i?hdelay=4"));
        push @HELD, $c;
        my $ok = wait_for(sub { my ($x, $y) = $held_at->(); $x + $y >= $i }, 3);
        push @skew, "arrival $i never seen" unless $ok;
        my ($n1, $n2) = $held_at->();
        push @skew, "after $i: $n1/$n2" if abs($n1 - $n2) > 1;
        my $r = $gh->http_get("/lc/short$i");
        $short_fail++ unless $r && $r->status == 200;
    }
    my ($n1, $n2) = $held_at->();
    my $m = metrics($gh);
    my @act = map { $m->{"gatehouse_upstream_active{server=127.0.0.1:"
                        . $_->port . ",upstream=lc}"} // '?' } @lc;
    my $held = time - $t0;
    SKIP: {
        skip "sending 8 requests took ${held}s, past the 4 s they are held",
            3 if $held >= 3.5;
        ok(!@skew, 'least_conn: each held request went to the server with '
                   . 'fewer in flight') or diag("@skew");
        is("$n1/$n2", '4/4', 'least_conn: 8 held requests split 4/4');
        is("@act", '4 4', 'least_conn: gatehouse_upstream_active 4 and 4 '
                          . 'while they are held');
    }
    ok(!$short_fail, 'least_conn: the short requests in between: 200');
}
{
    # 48 requests, 6 in flight at any time; "slow" takes 0.25 s a request.
    my @res = get_many($gh, 6, map { ["/lcsf/x$_"] } 1 .. 48);
    my %n;
    $n{$_}++ for @res;
    is(scalar(grep { /^FAIL/ } @res), 0, 'least_conn slow/fast: all 200')
        or diag(explain(\%n));
    cmp_ok($n{fast} // 0, '>=', 2 * ($n{slow} // 0),
           'least_conn slow/fast: the fast server got at least twice as many')
        or diag(explain(\%n));
}

# ---- random2 ---------------------------------------------------------------

{
    my ($fail, $n) = spread(map { "/r2/$_" } 1 .. 60);
    is($fail, 0, 'random2: 60 requests, all 200');
    ok(($n->{r2a} // 0) > 0 && ($n->{r2b} // 0) > 0 && ($n->{r2slow} // 0) > 0,
       'random2: every server got requests') or diag(explain($n));
    my $minfast = ($n->{r2a} // 0) < ($n->{r2b} // 0) ? $n->{r2a} // 0
                                                      : $n->{r2b} // 0;
    cmp_ok(3 * ($n->{r2slow} // 0), '<=', $minfast,
           'random2: the slow server got at most a third of either fast one')
        or diag(explain($n));
}

# ---- hash ------------------------------------------------------------------

# The order of these requests does not matter: 2 at a time (more would
# only make each worker open more connections to the origins, a fork each).
my %owner;      # uri -> origin, from upstream "hu"
{
    my @uris = map { "/hu/key$_" } 1 .. 200;
    my $w0 = worker_requests();
    my @seq = get_many($gh, 2, map { [$_] } @uris);
    my %n;
    $n{$_}++ for @seq;
    is(scalar(grep { /^FAIL/ } @seq), 0, 'hash uri: 200 distinct URIs, all 200');
    @owner{@uris} = @seq;
    is(scalar(grep { ($n{"h$_"} // 0) >= 10 } 1 .. 4), 4,
       'hash uri: every one of the 4 servers owns some of the 200 keys')
        or diag(explain(\%n));
    my @seq2 = get_many($gh, 2, map { [$_] } @uris);
    my @moved = grep { $seq2[$_] ne $seq[$_] } 0 .. $#uris;
    my $w1 = worker_requests();
    is(scalar(@moved), 0, 'hash uri: each URI asked again (fresh '
                          . 'connections) went to the same server')
        or diag(scalar(@moved) . " moved, e.g. $uris[$moved[0]]: "
                . "$seq[$moved[0]] then $seq2[$moved[0]]");
    cmp_ok(workers_used($w0, $w1), '>=', 2,
           'hash uri: the requests were served by several workers');
}
{
    my @users = map { "user$_" } 1 .. 40;
    my @req = map {
        my $u = $_;
        map { ["/hh/$u-$_", headers => [ 'X-User' => $u ]] } 1 .. 2;
    } @users;
    my @got = get_many($gh, 2, @req);
    my %users;
    for my $i (0 .. $#req) {
        $users{ $req[$i][2][1] }{ $got[$i] }++;
    }
    is(scalar(grep { /^FAIL/ } @got), 0, 'hash header:X-User: all 200');
    is(scalar(grep { keys %{ $users{$_} } != 1 } keys %users), 0,
       'hash header:X-User: each user always on one server (2 requests, '
       . 'different URIs)');
    my %srv = map { (keys %{ $users{$_} })[0] => 1 } keys %users;
    cmp_ok(scalar(keys %srv), '>=', 3, 'hash header:X-User: 40 users spread '
                                      . 'over the servers');
    my ($f2, $n2) = spread(map { "/hh/nouser$_" } 1 .. 8);
    is($f2, 0, 'hash header:X-User: requests without the header: 200');
    is(scalar(grep { ($n2->{"h$_"} // 0) == 2 } 1 .. 4), 4,
       'hash header:X-User: without the header, round-robin (2 each of 8)')
        or diag(explain($n2));
}
{
    # The same sid alone, among other cookies, and after a cookie whose
    # name only starts with "sid", in a second Cookie field.
    my @sids = map { "s$_" } 1 .. 30;
    my @req = map {
        (["/hc/a-$_", headers => [ Cookie => "sid=$_" ]],
         ["/hc/b-$_", headers => [ Cookie => "theme=dark; sid=$_; x=1" ]],
         ["/hc/c-$_", headers => [ Cookie => "sidx=zz; lang=en",
                                   Cookie => "sid=$_" ]])
    } @sids;
    my @got = get_many($gh, 2, @req);
    my (%sid, %mixed);
    for my $i (0 .. $#sids) {
        my ($a, $b, $c) = @got[3 * $i .. 3 * $i + 2];
        $sid{ $sids[$i] } = $a;
        $mixed{ $sids[$i] } = "$a $b $c" if $b ne $a || $c ne $a;
    }
    is(scalar(grep { /^FAIL/ } @got), 0, 'hash cookie:sid: all 200');
    is(scalar(keys %mixed), 0, 'hash cookie:sid: the same sid lands on the '
                               . 'same server among other cookies')
        or diag(explain(\%mixed));
    my %srv = map { $_ => 1 } values %sid;
    cmp_ok(scalar(keys %srv), '>=', 3, 'hash cookie:sid: 30 sids spread over '
                                      . 'the servers');
    my $r = $gh->http_get('/hc/nocookie', headers => [ Cookie => 'other=1' ]);
    is($r && $r->status, 200, 'hash cookie:sid: a request without sid: 200');
}

# ---- backup ----------------------------------------------------------------

{
    my ($fail, $n) = spread(map { "/bk/up$_" } 1 .. 20);
    is($fail, 0, 'backup: primary up: all 200');
    is($n->{pri} // 0, 20, 'backup: primary up: the primary got all 20');
    is($o{bak}->count, 0, 'backup: primary up: the backup got nothing');
    $o{pri}->stop;
    my $mark = $gh->log_mark;
    my ($fail2, $n2, $seq2) = spread(map { "/bk/down$_" } 1 .. 20);
    is($fail2, 0, 'backup: primary gone: no failed request')
        or diag("@$seq2\n" . $gh->log_since($mark));
    is($n2->{bak} // 0, 20, 'backup: primary gone: the backup got all 20');
}
{
    # The same without the race between the worker noticing its pooled
    # connections to the primary close and the next request taking one:
    # the primary stops accepting but its connections stay open, every
    # worker holds one in its pool, and the next request finds it stale
    # (act=stale: the origin closes a reused connection without a word).
    my %conns;
    my $fail = 0;
    for my $i (1 .. 200) {
        my $r = $gh->http_get("/bks/prime$i");
        if ($r && $r->status == 200) { $conns{ $r->header('x-conn') } = 1 }
        else { $fail++ }
        last if keys %conns >= 4 && $i >= 20;
    }
    is($fail, 0, 'backup, stale pool: priming through the primary, all 200');
    is(scalar(keys %conns), 4, 'backup, stale pool: each of the 4 workers '
                               . 'pooled a connection to the primary');
    kill 'KILL', $o{pri2}{pid};         # its accept loop: the port is dead
    waitpid $o{pri2}{pid}, 0;
    my $mark = $gh->log_mark;
    my $r = $gh->http_get('/bks/after?act=stale');
    is($r && $r->status, 200, 'backup, stale pool: the request that finds '
       . 'the pooled connection closed and the primary refusing gets 200')
        or diag($gh->log_since($mark));
    is($r && $r->header('x-origin'), 'bak2',
       'backup, stale pool: ... from the backup');
}

# ---- max_conns and the queue -----------------------------------------------

# Both at once (separate upstreams and origins), so their waits overlap:
# mc's requests take 0.5 s each, mq's 1 s.
{
    my $mark = $gh->log_mark;
    my $t0 = time;
    my @c = map {
        my ($up, $i) = @$_;
        my $c = $gh->connect;
        $c->send($gh->build_request("/$up/q$i?hdelay="
                                    . ($up eq 'mc' ? '0.5' : '1')));
        $c;
    } (map { ['mc', $_] } 1 .. 4), (map { ['mq', $_] } 1 .. 4);
    my @all = gather($t0, 8, @c);
    my @r = @all[0 .. 3];
    my @q = @all[4 .. 7];

    is(join(' ', map { $_->{r} ? $_->{r}->status : 'none' } @r),
       '200 200 200 200', 'max_conns = 2: 4 concurrent requests all answered');
    is($o{mc}->count, 4, 'max_conns = 2: the origin got each once');
    is(max_cluster($o{mc}, qr{^/mc/q}, 0.25), 2,
       'max_conns = 2: the origin never had more than 2 at once (they came '
       . 'in pairs, the second when the first was answered)')
        or diag(join ' ', map { sprintf '%.3f', $_->{time} - $t0 }
                $o{mc}->requests);

    my @st = sort map { $_->{r} ? $_->{r}->status : 'none' } @q;
    is("@st", '200 200 503 503', 'max_conns = 2, queue = 1: 4 concurrent '
                                 . 'requests: two 200, two 503');
    my @q503 = sort { $a->{t} <=> $b->{t} }
        grep { $_->{r} && $_->{r}->status == 503 } @q;
    is(scalar(grep { ($_->{r}->header('retry-after') // '') =~ /^\d+$/ } @q503),
       2, 'queue: each 503 has a Retry-After');
    if (@q503 == 2) {
        cmp_ok($q503[0]{t}, '<', 0.25, 'queue full: the 503 comes at once');
        ok($q503[1]{t} >= 0.28 && $q503[1]{t} < 0.9,
           'queue_timeout = 300ms: the queued request gets 503 after ~0.3 s')
            or diag("after $q503[1]{t} s");
    }
    is($o{mq}->count, 2, 'queue: the origin saw only the 2 admitted requests');
    ok($gh->wait_log(qr/upstream queue is full \(1\)/, $mark, 2),
       'queue full is logged');
    ok($gh->wait_log(qr/no upstream server was free within queue_timeout/,
                     $mark, 2), 'queue_timeout is logged');
    ok(wait_for(sub {
        my $m = metrics($gh);
        ($m->{'gatehouse_upstream_queued{upstream=mq}'} // -1) == 0
            && ($m->{'gatehouse_upstream_queued{upstream=mc}'} // -1) == 0
    }, 3), 'queue: gatehouse_upstream_queued back to 0');
}

# ---- retries ---------------------------------------------------------------

{
    my $mark = $gh->log_mark;
    my ($fail, $n, $seq) = spread(map { "/rt/$_" } 1 .. 12);
    is($fail, 0, 'retries = 2, two of three servers refuse: every GET 200')
        or diag("@$seq\n" . $gh->log_since($mark));
    is($n->{live} // 0, 12, 'retries = 2: all answered by the live server');
    for my $d (qw(dead1 dead2)) {
        my $p = $DEAD{$d};
        ok($gh->wait_log([qr/Connection refused/, qr/127\.0\.0\.1:$p\b/],
                         $mark, 2), "retries = 2: $d was tried (refused)");
    }
}
{
    my $r = $gh->http_post('/pr/p?act=reset', 'x' x 1000);
    is($r && $r->status, 502, 'POST, server resets after reading it: 502');
    my @got = grep { $_->{uri} =~ m{^/pr/p} } map { $_->requests } @o{qw(px py)};
    is(scalar(@got), 1, 'POST is not replayed: one server got it, once');
    my $g = $gh->http_get('/pr/g?act=reset');
    is($g && $g->status, 502, 'GET, every server resets: 502');
    my @gg = grep { $_->{uri} =~ m{^/pr/g} } map { $_->requests } @o{qw(px py)};
    is(join(' ', sort map { $_->{origin} } @gg), 'px py',
       'GET (idempotent) was sent again, unlike the POST: to the other '
       . 'server, once (not back to one that failed)');
}

# ---- the held least_conn requests ------------------------------------------

{
    my @r = gather(time, 8, @HELD);
    is(scalar(grep { $_->{r} && $_->{r}->status == 200 } @r), 8,
       'least_conn: all 8 held requests answered 200');
}

# ---- hash: a restart without one server moves only that server's keys ------

$gh->stop;
{
    my $conf2 = Gatehouse::preamble(workers => 4) . <<"EOF";
upstreams = {
  hu = { balance = "hash"; hash_key = "uri"; servers = (
@{[ srv(qw(h1 h3 h4)) ]}
  ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/hu/"; upstream = "hu"; } ); } );
EOF
    my $gh2 = Gatehouse->new(origins => [@o{qw(h1 h3 h4)}], conf => $conf2);
    my @uris = sort keys %owner;
    my @got = get_many($gh2, 2, map { [$_] } @uris);
    my (@stay, @kept, @moved_ok);
    my $fail = grep { /^FAIL/ } @got;
    for my $i (0 .. $#uris) {
        my ($u, $x) = ($uris[$i], $got[$i]);
        next if $x =~ /^FAIL/;
        if ($owner{$u} eq 'h2') { push @moved_ok, $u if $x ne 'h2' }
        else { push @stay, $u; push @kept, $u if $x eq $owner{$u} }
    }
    is($fail // 0, 0, 'hash restart without h2: all 200');
    is(scalar(@moved_ok), scalar(grep { $owner{$_} eq 'h2' } @uris),
       "hash restart without h2: h2's keys went elsewhere");
    cmp_ok(scalar(@kept), '>=', int(0.9 * @stay + 0.5),
           'hash restart without h2: the keys of the other servers stayed '
           . '(at least 90%)')
        or diag(scalar(@kept) . ' of ' . scalar(@stay) . ' stayed');
    is(scalar(@kept), scalar(@stay), 'hash restart without h2: in fact all '
                                     . 'of them stayed');
}

finish();
