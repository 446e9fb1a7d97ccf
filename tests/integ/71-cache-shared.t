#!/usr/bin/perl
# The shared HTTP cache (issue 5) across 4 workers, connections spread over
# them by SO_REUSEPORT:
#   100 concurrent cold requests for one slow object: one origin request,
#   the same whole body for all (collapsed forwarding in the segment);
#   a large object streamed while it fills: clients that join late get the
#   bytes already there at once and the rest as they come, all whole;
#   a 1M zone under many objects evicts and keeps serving correct bodies,
#   with evictions in the metrics;
#   SIGHUP keeps a zone whose name and size stay, starts a resized one
#   empty (and keeps the others);
#   a worker SIGKILLed mid-fill leaves no corrupt entry: the next request
#   fills again and gets the whole body.

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use JSON::PP ();
use POSIX ();
use Socket qw(SOL_SOCKET SO_RCVBUF);
use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse timeout => 60;
use Load ();
use Origin;

my $o = Origin->new(name => 'o');

sub conf {
    my (%a) = @_;
    my $main = $a{main} // '32M';
    my $extra = $a{extra} // '';
    return Gatehouse::preamble(workers => 4) . <<"EOF";
shm_size = "128M";
caches = {
  main  = { size = "$main"; max_object = "16M"; };
  small = { size = "1M"; max_object = "64k"; };
};
upstreams = { app = { max_fails = 0; retries = 0; keepalive = 64;
              servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = ( { name = "main";
            listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/metrics"; metrics = true; },$extra
                       { path = "/small/"; upstream = "app"; cache = "small"; },
                       { path = "/"; upstream = "app"; cache = "main"; } ); } );
EOF
}

my $gh = Gatehouse->new(origins => [$o], conf => conf());
my $PORT = $gh->port;
ok(wait_for(sub { $gh->children == 4 }, 5), 'four workers');

sub cs { my ($r) = @_; $r ? $r->header('cache-status') // '(none)' : '(no response)' }

# One GET on a new connection.
sub get {
    my ($path, %o) = @_;
    my $c = Gatehouse::Client->new(port => $PORT) or return undef;
    $c->send($gh->build_request($path, %o));
    my $r = $c->read_response(timeout => $o{timeout} // 10);
    $c->close;
    return $r;
}

# A whole 200 with pattern(LEN) as body?
sub whole {
    my ($r, $len) = @_;
    return $r && $r->complete && $r->status == 200 && length($r->body) == $len
        && md5_hex($r->body) eq md5_hex(Origin::pattern($len));
}

# { client port => worker pid } of the connections to PORT the workers
# PIDS hold now.
sub holders {
    my ($pids) = @_;
    my $t = Load::tcp_table();
    my %h;
    for my $p (@$pids) {
        for my $i (Load::socket_inodes($p)) {
            my $s = $t->{$i} or next;
            $h{ $s->[2] } = $p if $s->[0] ne '0A' && $s->[1] == $PORT;
        }
    }
    return \%h;
}

# Read into C's buffer (nothing consumed) until it holds N bytes.
sub wait_buffered {
    my ($c, $n, $secs) = @_;
    my $deadline = time + $secs;
    while (length($c->buffered) < $n) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        my $x = $c->fill($left);
        return 0 if defined $x && $x == 0;
    }
    return 1;
}

# Records of the requests at the origin whose target starts with PREFIX
# (only those lines decoded: the log grows to thousands of records); their
# number in scalar context.
my $JSON = JSON::PP->new;
sub at_origin {
    my ($prefix) = @_;
    my $needle = '"uri":' . $JSON->encode($prefix) =~ s/"$//r;
    my @r = map { $JSON->decode($_) } grep { index($_, $needle) >= 0 }
        split /\n/, Gatehouse::read_file($o->log_file);
    @r = grep { index($_->{uri}, $prefix) == 0 } @r;
    return wantarray ? @r : scalar @r;
}

# ---- metrics ---------------------------------------------------------------------

sub metric {
    my ($name, %want) = @_;
    my $r = $gh->http_get('/metrics');
    return undef unless $r && $r->status == 200;
    my @v;
    for my $l (split /\n/, $r->body) {
        next unless $l =~ /^(\w+)(?:\{(.*)\})? (\S+)$/ && $1 eq $name;
        my ($lab, $v) = ($2 // '', $3);
        my %lab;
        while ($lab =~ /\G(\w+)="((?:[^"\\]|\\.)*)",?/gc) { $lab{$1} = $2 }
        next if grep { ($lab{$_} // "\0") ne $want{$_} } keys %want;
        push @v, $v;
    }
    return @v == 1 ? $v[0] : undef;
}

# ==== 100 concurrent cold requests for one slow object =========================

{
    my $p = '/cold/a?hdelay=1&len=20000&cc=max-age%3D100';
    my @w = $gh->children;
    my @c = grep { $_ } map { Gatehouse::Client->new(port => $PORT, timeout => 10) } 1 .. 100;
    is(scalar @c, 100, '100 connections open');
    my $req = $gh->build_request($p);
    $_->send($req) for @c;
    # Who holds which: while the origin sits on the head (1 s).
    my %holder;
    wait_for(sub {
        my $h = holders(\@w);
        for my $i (0 .. $#c) {
            $holder{$i} ||= $h->{ $c[$i]->sock->sockport };
        }
        return 100 == grep { $holder{$_} } 0 .. $#c;
    }, 0.8, 0.05);
    my %per;
    $per{ $holder{$_} }++ for grep { $holder{$_} } keys %holder;
    cmp_ok(scalar(keys %per), '>=', 3, 'the 100 connections are spread over the workers: '
           . join(' ', map { "$_=$per{$_}" } sort keys %per));
    my @r = map { $_->read_response(timeout => 10) } @c;
    $_->close for @c;
    is(at_origin('/cold/a'), 1, '100 concurrent cold requests: exactly one reached the origin');
    is(scalar(grep { whole($_, 20000) } @r), 100, 'all 100 got 200 and the whole body');
    my %cs;
    $cs{ cs($_) }++ for @r;
    is($cs{'gatehouse; fwd=uri-miss; stored'}, 1, 'one of them filled the entry')
        or diag(explain \%cs);
    is(scalar(grep { cs($_) eq 'gatehouse; fwd=uri-miss; collapsed' || cs($_) =~ /^gatehouse; hit; / } @r),
       99, 'the 99 others collapsed onto it (or hit once it was complete)')
        or diag(explain \%cs);
    # collapsed on every worker, not only the filler's
    my ($filler) = grep { cs($r[$_]) eq 'gatehouse; fwd=uri-miss; stored' } 0 .. $#r;
    my %coll_on;
    for my $i (0 .. $#r) {
        next unless cs($r[$i]) =~ /collapsed/ && $holder{$i};
        $coll_on{ $holder{$i} }++;
    }
    my $fw = defined $filler ? $holder{$filler} // 0 : 0;
    cmp_ok(scalar(grep { $_ != $fw } keys %coll_on), '>=', 2,
           "requests on other workers than the filler's ($fw) collapsed onto its fill")
        or diag(explain \%coll_on);

    my @mc = grep { $_ } map { Gatehouse::Client->new(port => $PORT, timeout => 10) } 1 .. 20;
    $_->send($req) for @mc;
    my @more = map { $_->read_response(timeout => 10) } @mc;
    $_->close for @mc;
    is(at_origin('/cold/a'), 1, 'then 20 more on new connections: still one origin request');
    is(scalar(grep { whole($_, 20000) && cs($_) =~ /^gatehouse; hit; ttl=\d+$/ } @more), 20,
       '... all 20 hits with the whole body');
}

# ==== a large object streamed while it fills ========================================

{
    my $len = 2_000_000;
    my $p = "/big/a?len=$len&chunk=50000&bdelay=0.1&cc=max-age%3D100";    # ~4 s
    my $a = Gatehouse::Client->new(port => $PORT, timeout => 15);
    $a->send($gh->build_request($p));
    ok(wait_buffered($a, 300_000, 5), 'large object: the first client gets 300000 bytes as they come');
    my ($rec) = at_origin($p);
    my $t_origin = $rec ? $rec->{time} : time;

    my @j = grep { $_ } map { Gatehouse::Client->new(port => $PORT, timeout => 15) } 1 .. 10;
    $_->send($gh->build_request($p)) for @j;
    my $early = grep { wait_buffered($_, 200_000, 3) } @j;
    my $t_done = time;
    is($early, 10, 'ten late joiners: each got 200000 bytes at once');
    cmp_ok($t_done - $t_origin, '<', 2.5,
           sprintf('... %.2f s after the origin began, while the fill runs (it takes 4 s)', $t_done - $t_origin));
    my $head_cs = sub { my ($c) = @_; $c->buffered =~ /\A(.*?)\r\n\r\n/s or return '(no head)';
                        my ($v) = $1 =~ /^Cache-Status:[ \t]*(.*?)\r?$/mi; $v // '(none)' };
    my %jcs;
    $jcs{ $head_cs->($_) }++ for @j;
    is($jcs{'gatehouse; fwd=uri-miss; collapsed'}, 10, 'late joiners: Cache-Status collapsed')
        or diag(explain \%jcs);
    is($head_cs->($a), 'gatehouse; fwd=uri-miss; stored', 'the first client: Cache-Status stored');

    # The rest of every body.
    my $ra = $a->read_response(timeout => 15);
    $a->close;
    ok(whole($ra, $len), 'the first client: the whole body');
    my $whole = grep { whole($_->read_response(timeout => 15), $len) } @j;
    $_->close for @j;
    is($whole, 10, 'every joiner: the whole body');
    is(at_origin('/big/a'), 1, 'large object: one origin request for all eleven');
    my $r = get($p, timeout => 15);
    ok(whole($r, $len), 'then a hit: the whole body');
    is($r && $r->header('content-length'), $len, '... with Content-Length');
    like(cs($r), qr/^gatehouse; hit; /, '... Cache-Status hit');
    is(at_origin('/big/a'), 1, '... and still one origin request');
}

# ==== the filler's client goes away mid-fill ==========================================

{
    # The first client reads 300000 bytes and resets; a joiner streaming
    # the same fill still gets the whole body, and so does a later hit:
    # the fill went on without its client.
    my $len = 1_500_000;
    my $p = "/big/gone?len=$len&chunk=50000&bdelay=0.05&cc=max-age%3D100";    # ~1.5 s
    my $a = Gatehouse::Client->new(port => $PORT, timeout => 15);
    $a->send($gh->build_request($p));
    ok(wait_buffered($a, 300_000, 5), 'filler client: 300000 bytes, then it goes');
    my $j = Gatehouse::Client->new(port => $PORT, timeout => 15);
    $j->send($gh->build_request($p));
    ok(wait_buffered($j, 100_000, 3), 'a joiner streams the fill');
    my $mark = $gh->log_mark;
    $a->reset;
    ok($gh->wait_log(qr/client gone: the cache fill of this response goes on without it/, $mark, 5),
       '[info] the fill goes on without its client');
    ok(whole($j->read_response(timeout => 15), $len), 'the joiner: the whole body');
    $j->close;
    my $r = get($p, timeout => 15);
    ok(whole($r, $len), 'then a hit: the whole body');
    like(cs($r), qr/^gatehouse; hit; /, '... Cache-Status hit');
    is(at_origin('/big/gone'), 1, 'one origin request for all three');
}

# ==== a slow first client does not hold the fill =======================================

{
    # The filler's client reads the head and then nothing: the fill still
    # reads the origin at the origin's pace, and a joiner gets it all.
    # 12 MB: more than the kernel's socket buffers can hold for a client
    # with a small receive buffer.
    my $len = 12_000_000;
    my $p = "/big/slow?len=$len&cc=max-age%3D100";
    my $a = Gatehouse::Client->new(port => $PORT, timeout => 15);
    setsockopt($a->sock, SOL_SOCKET, SO_RCVBUF, 65536);
    $a->send($gh->build_request($p));
    ok(wait_buffered($a, 1000, 5) && $a->buffered =~ /\r\n\r\n/,
       'slow first client: the head, then it stops reading');
    ok(wait_for(sub { at_origin('/big/slow') >= 1 }, 3), 'the fill reached the origin');
    my $j = Gatehouse::Client->new(port => $PORT, timeout => 15);
    $j->send($gh->build_request($p));
    my $rj = $j->read_response(timeout => 5);
    $j->close;
    ok(whole($rj, $len), 'a joiner gets the whole body while the first client reads nothing');
    my $ra = $a->read_response(timeout => 15);
    $a->close;
    ok(whole($ra, $len), 'then the slow client gets its whole body too');
    is(at_origin('/big/slow'), 1, 'one origin request');
}

# ==== eviction in a 1M zone ===========================================================

my $NOBJ = 120;
sub olen { 20000 + $_[0] * 37 }             # each object its own length
sub opath { "/small/o$_[0]?len=" . olen($_[0]) . '&cc=max-age%3D100' }
{
    my $bad = 0;
    for my $i (1 .. $NOBJ) {
        my $r = get(opath($i));
        $bad++ unless whole($r, olen($i));
    }
    is($bad, 0, "$NOBJ objects of ~22 KB through a 1M zone: all whole");
    my $r = get(opath($NOBJ));
    like(cs($r), qr/^gatehouse; hit; /, 'the one filled last is a hit');
    ok(whole($r, olen($NOBJ)), '... whole');

    # Four clients at once on random objects: hits, misses, evictions
    # under them; every body must be the right one, whole.
    my $dir = $gh->dir;
    my @kids;
    for my $k (1 .. 4) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            alarm 0;
            srand($k * 7919 + $$);
            my ($ok, $fail, @why) = (0, 0);
            my $t0 = time;
            while (time - $t0 < 3) {
                my $i = 1 + int rand $NOBJ;
                my $x = get(opath($i));
                if (whole($x, olen($i))) { $ok++ }
                else {
                    $fail++;
                    push @why, "o$i: " . (!$x ? 'no response' : !$x->complete ? 'incomplete'
                        : $x->status != 200 ? 'status ' . $x->status
                        : 'body of ' . length($x->body) . ' bytes, want ' . olen($i)) if @why < 5;
                }
            }
            Gatehouse::write_file("$dir/evict$k.out", join("\n", "$ok $fail", @why));
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    waitpid($_, 0) for @kids;
    my ($ok, $fail, @why) = (0, 0);
    for my $k (1 .. 4) {
        my ($line, @w) = split /\n/, Gatehouse::read_file("$dir/evict$k.out");
        my ($a, $b) = split ' ', $line // '0 1';
        $ok += $a;
        $fail += $b;
        push @why, @w;
    }
    cmp_ok($ok, '>', 100, "four concurrent clients: $ok requests");
    is($fail, 0, '... every one a whole, correct body') or diag(join "\n", @why);

    my $ev = metric('gatehouse_cache_events_total', zone => 'small', event => 'eviction');
    cmp_ok($ev // 0, '>', 0, "evictions counted (" . ($ev // 'none') . ")");
    my $bytes = metric('gatehouse_cache_bytes', zone => 'small');
    my $limit = metric('gatehouse_cache_limit_bytes', zone => 'small');
    is($limit, 1024 * 1024, 'limit_bytes{zone="small"} = 1M');
    ok(defined $bytes && $bytes > 0 && $bytes <= 1024 * 1024, 'bytes{zone="small"} within the limit: ' . ($bytes // 'none'));
    my $n = metric('gatehouse_cache_entries', zone => 'small');
    ok(defined $n && $n > 0 && $n < $NOBJ, "entries{zone=\"small\"}: some, not all $NOBJ (" . ($n // 'none') . ')');
    is(metric('gatehouse_cache_events_total', zone => 'small', event => 'corrupt'), 0, 'nothing corrupt');
}

# ==== SIGHUP ===========================================================================

# Reload with CONF and wait until only new workers are left.
sub reload {
    my ($conf, $name) = @_;
    my @old = $gh->children;
    my %old = map { ($_ => 1) } @old;
    my $mark = $gh->log_mark;
    $gh->write_conf($conf);
    $gh->signal('HUP');
    ok($gh->wait_log(qr/reloaded: 4 workers/, $mark, 10), "$name: reloaded");
    ok(wait_for(sub { my @c = $gh->children; @c == 4 && !grep { $old{$_} } @c }, 10),
       "$name: the old workers are gone, four new ones");
}
{
    my $p = '/hup/a?cc=max-age%3D1000';
    my $s = '/small/hup?cc=max-age%3D1000';
    get($p);
    get($s);
    my $n = $o->count_fast;
    like(cs(get($p)), qr/^gatehouse; hit; /, 'before the reload: a hit');

    reload(conf(extra => "\n                       { path = \"/extra/\"; upstream = \"app\"; },"),
           'reload, zones unchanged');
    my $r = get($p);
    like(cs($r), qr/^gatehouse; hit; /, 'after a reload keeping name and size: still a hit');
    is($o->count_fast - $n, 0, '... the origin not asked');
    like(cs(get($s)), qr/^gatehouse; hit; /, '... the small zone too');

    reload(conf(main => '16M'), 'reload, main resized to 16M');
    is(metric('gatehouse_cache_limit_bytes', zone => 'main'), 16 * 1024 * 1024, 'limit_bytes{zone="main"} = 16M');
    $n = $o->count_fast;
    $r = get($p);
    is(cs($r), 'gatehouse; fwd=uri-miss; stored', 'after resizing: the zone starts empty (a miss)');
    is($o->count_fast - $n, 1, '... the origin asked');
    is(metric('gatehouse_cache_entries', zone => 'main'), 1, '... entries{zone="main"} is that one entry');
    $r = get($s);
    like(cs($r), qr/^gatehouse; hit; /, 'the small zone, unchanged, kept its entries');
}

# ==== a worker SIGKILLed mid-fill ======================================================

{
    my $len = 400_000;
    my $p = "/kill/a?len=$len&chunk=20000&bdelay=0.1&cc=max-age%3D100";    # ~2 s
    my $want = md5_hex(Origin::pattern($len));
    my @w = $gh->children;
    my $a = Gatehouse::Client->new(port => $PORT, timeout => 10);
    $a->send($gh->build_request($p));
    ok($a->read_until(qr/\r\n\r\n/, 5), 'kill: the filling client has the head');
    ok(defined $a->read_bytes(60_000, 5), 'kill: ... and some of the body');
    my $victim = holders(\@w)->{ $a->sock->sockport } // 0;
    ok($victim, "kill: worker $victim holds the filling request");

    # A joiner on another worker (a worker may accept a connection only
    # once its request is there: send it, then look).
    my ($b, $bw);
    for (1 .. 12) {
        my $c = Gatehouse::Client->new(port => $PORT, timeout => 10);
        $c->send($gh->build_request($p));
        my $h;
        wait_for(sub { $h = holders(\@w)->{ $c->sock->sockport } }, 0.5, 0.02);
        if ($h && $h != $victim) { ($b, $bw) = ($c, $h); last }
        $c->close;
    }
    ok($b, "kill: a joiner on another worker (" . ($bw // 'none') . ')');
    ok($b && wait_buffered($b, 40_000, 3), 'kill: the joiner streams from the fill');

    die "no worker to kill\n" unless $victim && $victim > 1;
    my $mark = $gh->log_mark;
    kill 'KILL', $victim;
    ok($a->wait_closed(5), 'kill: the filling client is cut off');
    if ($b) {
        my $rb = $b->read_response(timeout => 10);
        ok(!($rb && $rb->complete) || whole($rb, $len),
           'kill: the joiner is cut off, never given a complete response with a wrong body')
            or diag('joiner got ' . length($rb->body) . ' bytes, complete');
        $b->close;
    }
    $a->close;
    ok(wait_for(sub { my @c = $gh->children; @c == 4 && !grep { $_ == $victim } @c }, 5),
       'kill: a new worker replaces it');
    my $n = at_origin('/kill/a');
    my $t = time;
    my $r = get($p, timeout => 15);
    my $dt = time - $t;
    ok(whole($r, $len), 'after the kill: the next request gets the whole body');
    is(cs($r), 'gatehouse; fwd=uri-miss; stored', '... it filled the entry again');
    is(at_origin('/kill/a') - $n, 1, '... with one origin request');
    cmp_ok($dt, '<', 4, sprintf('... without waiting for a lock (%.2f s for a 2 s fill)', $dt));
    $r = get($p, timeout => 15);
    ok(whole($r, $len), 'then a hit with the whole body');
    like(cs($r), qr/^gatehouse; hit; /, '... Cache-Status hit');
    is(metric('gatehouse_cache_events_total', zone => 'main', event => 'corrupt'), 0, 'nothing corrupt');
    my @crit = grep { /\[(?:alert|crit|emerg)\]/ } split /\n/, $gh->log_since($mark);
    is(scalar(@crit), 0, 'no [crit] or worse after the kill') or diag(join "\n", @crit);
}

finish();
