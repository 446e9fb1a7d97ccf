#!/usr/bin/perl
# Weighted round-robin (3:1 exactly with one worker) and one retry on
# another server when a connect fails.

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 30;
use Origin;

my $a = Origin->new(name => 'a');
my $b = Origin->new(name => 'b');
my $c = Origin->new(name => 'c');
my $gh = Gatehouse->new(origins => [$a, $b, $c], conf => Gatehouse::preamble(workers => 1) . <<'EOF');
timeouts = { upstream_connect = "1s"; };
upstreams = {
  weighted = { keepalive = 8;
               servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; weight = 3; },
                           { address = "127.0.0.1:%%ORIGIN_b%%"; weight = 1; } ); };
  even     = { servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; },
                           { address = "127.0.0.1:%%ORIGIN_b%%"; } ); };
  onedead  = { servers = ( { address = "127.0.0.1:%%PORT_dead1%%"; },
                           { address = "127.0.0.1:%%ORIGIN_c%%"; } ); };
  alldead  = { servers = ( { address = "127.0.0.1:%%PORT_dead2%%"; },
                           { address = "127.0.0.1:%%PORT_dead3%%"; },
                           { address = "127.0.0.1:%%PORT_dead4%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/w/"; upstream = "weighted"; },
                       { path = "/e/"; upstream = "even"; },
                       { path = "/one/"; upstream = "onedead"; },
                       { path = "/all/"; upstream = "alldead"; } ); } );
EOF

sub spread {
    my ($prefix, $n, %o) = @_;
    my %count;
    my $fail = 0;
    my $conn = $o{keepalive} ? $gh->connect : undef;
    for my $i (1 .. $n) {
        my $r;
        if ($conn) {
            $conn->send($gh->build_request("$prefix$i", close => 0));
            $r = $conn->read_response;
        } else {
            $r = $gh->http_get("$prefix$i");
        }
        if ($r && $r->status == 200) { $count{ $r->header('x-origin') }++ }
        else { $fail++ }
    }
    return ($fail, %count);
}

# --- weighted 3:1 --------------------------------------------------------------
{
    my ($fail, %n) = spread('/w/', 40);
    is($fail, 0, 'weighted: 40 requests, all 200');
    is($n{a} // 0, 30, 'weighted: weight 3 server got 30 of 40');
    is($n{b} // 0, 10, 'weighted: weight 1 server got 10 of 40');
}
{
    # The same on one client connection: balancing is per request.
    my ($fail, %n) = spread('/w/ka', 40, keepalive => 1);
    is($fail, 0, 'weighted, one client connection: all 200');
    is($n{a} // 0, 30, 'weighted, one client connection: 30 to a');
    is($n{b} // 0, 10, 'weighted, one client connection: 10 to b');
}
{
    # Interleaved, not in runs: any 4 consecutive requests hit b once.
    my @seq;
    for my $i (1 .. 8) {
        my $r = $gh->http_get("/w/seq$i");
        push @seq, $r ? $r->header('x-origin') : '?';
    }
    my $ok = 1;
    for my $i (0 .. 4) {
        my $bs = grep { $_ eq 'b' } @seq[$i .. $i + 3];
        $ok = 0 unless $bs == 1;
    }
    ok($ok, 'weighted: b once in every window of 4 (' . join('', @seq) . ')');
}
{
    my ($fail, %n) = spread('/e/', 20);
    is($fail, 0, 'even: all 200');
    is($n{a} // 0, 10, 'even: 10 to a');
    is($n{b} // 0, 10, 'even: 10 to b');
}

# --- a refused connect is retried on another server ---------------------------------
{
    my $dead = $gh->port('dead1');
    my $mark = $gh->log_mark;
    my ($fail, %n) = spread('/one/', 10);
    is($fail, 0, 'one server refuses: every request still 200');
    is($n{c} // 0, 10, 'one server refuses: all answered by the live one');
    ok($gh->wait_log([qr/\[error\]/, qr/Connection refused/,
                      qr/127\.0\.0\.1:$dead\b/], $mark, 3),
       'refused connect logged at [error] with the server address')
        or diag($gh->log_since($mark));
    is($c->count, 10, 'live server saw each request once');
}

# --- only one retry --------------------------------------------------------------
{
    my $mark = $gh->log_mark;
    my $r = $gh->http_get('/all/x');
    is($r && $r->status, 502, 'every server refuses: 502');
    my %tried;
    wait_for(sub {
        %tried = ();
        for my $l (grep { /Connection refused/ } split /\n/, $gh->log_since($mark)) {
            for my $d (map { $gh->port("dead$_") } 2 .. 4) {
                $tried{$d} = 1 if $l =~ /127\.0\.0\.1:$d\b/;
            }
        }
        keys %tried >= 2;
    }, 3);
    is(scalar(keys %tried), 2, 'two servers tried (one retry), not three')
        or diag($gh->log_since($mark));
}

finish();
