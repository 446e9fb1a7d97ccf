#!/usr/bin/perl
# Passive health checks with workers = 4: the failure count and the down
# mark live in the shared segment, so whichever workers see the failures,
# a server is marked down once for the daemon (one log line), and no worker
# tries it until fail_timeout has passed; then it is tried again.  With no
# usable server the client gets 503 and Retry-After, or with all_down =
# "try_anyway" the servers are tried anyway (502).  A lone server is never
# marked down (as nginx).
#
# Requests go over fresh client connections, which SO_REUSEPORT spreads
# over the workers.

use strict;
use warnings;

use IO::Socket::IP;
use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 60;
use Origin;

my %DEAD = map { $_ => dead_port() } qw(dead ad1 ad2 ta1 ta2 lone);
my $live = Origin->new(name => 'live');
my $gh = Gatehouse->new(origins => [$live],
                        vars => { map { uc($_) => $DEAD{$_} } keys %DEAD },
                        conf => Gatehouse::preamble(workers => 4) . <<'EOF');
timeouts = { upstream_connect = "1s"; };
upstreams = {
  pf     = { max_fails = 2; fail_timeout = "1s";
             servers = ( { address = "127.0.0.1:%%DEAD%%"; },
                         { address = "127.0.0.1:%%ORIGIN_live%%"; } ); };
  alld   = { max_fails = 1; fail_timeout = "10s";
             servers = ( { address = "127.0.0.1:%%AD1%%"; },
                         { address = "127.0.0.1:%%AD2%%"; } ); };
  tryany = { max_fails = 1; fail_timeout = "10s"; all_down = "try_anyway";
             servers = ( { address = "127.0.0.1:%%TA1%%"; },
                         { address = "127.0.0.1:%%TA2%%"; } ); };
  single = { max_fails = 1; fail_timeout = "10s";
             servers = ( { address = "127.0.0.1:%%LONE%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/pf/"; upstream = "pf"; },
                       { path = "/alld/"; upstream = "alld"; },
                       { path = "/tryany/"; upstream = "tryany"; },
                       { path = "/single/"; upstream = "single"; } ); } );
EOF

# Error log lines since MARK that mention server PORT and match RE.
sub lines_for {
    my ($mark, $port, $re) = @_;
    return grep { /$re/ && /127\.0\.0\.1:$port\b/ }
        split /\n/, $gh->log_since($mark);
}
my $REFUSED = qr/connect\(\) .*failed .*Connection refused/;
my $DOWN = qr/is marked down/;

# Worker slots (the "#N" after the pid) of log lines.
sub slots { my %s = map { /\] \d+#(\d+): / ? ($1 => 1) : () } @_; sort keys %s }

# ---- max_fails = 2 within fail_timeout = 1s, one dead server of two --------

my $dead = $DEAD{dead};
my $mark0 = $gh->log_mark;
my ($t_last, $fail, $n) = (0, 0, 0);
{
    # Until the mark: each request that tries the dead server goes on to
    # the live one (retries = 1), so every request is answered.
    for my $i (1 .. 40) {
        $t_last = time;
        my $r = $gh->http_get("/pf/find$i");
        $n++;
        $fail++ unless $r && $r->status == 200;
        last if lines_for($mark0, $dead, $DOWN);
    }
    is($fail, 0, "until the dead server is marked down, every request 200 "
                 . "($n sent)");
    my @down = lines_for($mark0, $dead, $DOWN);
    is(scalar(@down), 1, 'the dead server is marked down');
    my $line = qr/\[warn\] .*upstream pf server 127\.0\.0\.1:$dead is marked/;
    like($down[0] // '', qr/$line down .*after 2 failures/,
         'the line names upstream, server and the failure count');
    my @refused = lines_for($mark0, $dead, $REFUSED);
    is(scalar(@refused), 2, 'exactly max_fails = 2 refused connects before '
                            . 'the mark (the count is shared by the workers)')
        or diag(join "\n", @refused);
    note('refused in worker slots ' . join(',', slots(@refused))
         . ', marked in ' . join(',', slots(@down)));
}
my $mark1 = $gh->log_mark;
{
    # Within fail_timeout of the mark (which came after $t_last), no worker
    # tries it.
    my ($sent, $bad) = (0, 0);
    while (time < $t_last + 0.8 && $sent < 30) {
        my $r = $gh->http_get("/pf/within$sent");
        $sent++;
        $bad++ unless $r && $r->status == 200
                      && ($r->header('x-origin') // '') eq 'live';
    }
    is($bad, 0, "within fail_timeout: $sent requests, all 200 from the live "
                . "server");
    SKIP: {
        skip "only $sent requests fit into the window", 2 if $sent < 4;
        my @tried = lines_for($mark1, $dead, $REFUSED);
        is(scalar(@tried), 0, 'within fail_timeout: no worker tried the dead '
                              . 'server (no connect failure for it)')
            or diag(join "\n", @tried);
        is(scalar(lines_for($mark0, $dead, $DOWN)), 1,
           'marked down once for the daemon, not once per worker');
    }
}
{
    # After fail_timeout: tried again (and found still dead).
    my ($t_again, $bad, $sent) = (undef, 0, 0);
    wait_for(sub {
        my $r = $gh->http_get("/pf/after$sent");
        $sent++;
        $bad++ unless $r && $r->status == 200;
        return 0 unless lines_for($mark1, $dead, $REFUSED);
        $t_again = time;
        return 1;
    }, $t_last + 5 - time);
    ok(defined $t_again, 'after fail_timeout the dead server is tried again');
    cmp_ok(($t_again // 0) - $t_last, '>=', 0.99,
           '... not before fail_timeout (1 s) had passed since the mark');
    is($bad, 0, "... and the client does not notice: $sent requests, all 200");
    my @again = lines_for($mark1, $dead, qr/is tried again after failures/);
    is(scalar(@again), 1, 'the end of the mark is logged once')
        or diag($gh->log_since($mark1));
}

# ---- every server down: 503 with Retry-After -------------------------------

{
    my ($p1, $p2) = @DEAD{qw(ad1 ad2)};
    my $r1 = $gh->http_get('/alld/first');
    is($r1 && $r1->status, 502, 'all dead: the first request tries both: 502');
    my $mark = $gh->log_mark;
    my $r2 = $gh->http_get('/alld/second');
    is($r2 && $r2->status, 503, 'all dead and marked down: 503');
    my $ra = $r2 && $r2->header('retry-after');
    like($ra // '', qr/^\d+$/, '503 has a Retry-After in seconds');
    ok(defined $ra && $ra >= 5 && $ra <= 10,
       'Retry-After is the time left of the marks (fail_timeout 10s)')
        or diag("Retry-After: " . ($ra // 'none'));
    ok($gh->wait_log(qr/no live upstreams/, $mark, 2), '"no live upstreams" logged');
    is(scalar(lines_for($mark, $p1, $REFUSED))
       + scalar(lines_for($mark, $p2, $REFUSED)), 0,
       'the 503 request tried no server');
}

# ---- all_down = "try_anyway": tried anyway, 502 ----------------------------

{
    my ($p1, $p2) = @DEAD{qw(ta1 ta2)};
    my $r1 = $gh->http_get('/tryany/first');
    is($r1 && $r1->status, 502, 'try_anyway: the first request: 502');
    for my $i (1 .. 3) {
        my $mark = $gh->log_mark;
        my $r = $gh->http_get("/tryany/again$i");
        is($r && $r->status, 502, "try_anyway, all marked down: 502, not 503 ($i)");
        ok($gh->wait_log([qr/Connection refused/,
                          qr/127\.0\.0\.1:(?:$p1|$p2)\b/], $mark, 2),
           "try_anyway: a server was tried ($i)");
    }
}

# ---- a lone server is never marked down ------------------------------------

{
    my $p = $DEAD{lone};
    my $mark = $gh->log_mark;
    my @st = map {
        my $r = $gh->http_get("/single/$_");
        $r ? $r->status : 'none';
    } 1 .. 6;
    is("@st", '502 502 502 502 502 502', 'lone dead server: 502 each time, never 503');
    ok(wait_for(sub { lines_for($mark, $p, $REFUSED) >= 6 }, 2),
       'lone dead server: tried by every request');
    is(scalar(lines_for($mark, $p, $DOWN)), 0, 'lone dead server: never marked down');
}

finish();
