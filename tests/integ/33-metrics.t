#!/usr/bin/perl
# The metrics route (metrics = true) with workers = 4: counters are summed
# in the shared segment, so after N requests spread over the workers the
# route shows exactly N, by status class; the upstream servers' request
# counts and response-time histograms add up to N; a server marked down by
# passive checks shows up 0; ?format=json says the same as the Prometheus
# text; HEAD gets the header only, POST 405 with Allow; one connection
# gauge per worker, which follows the open connections.

use strict;
use warnings;

use IO::Socket::IP;
use JSON::PP ();
use List::Util qw(sum0);
use Test::More;
use Gatehouse timeout => 60;
use Origin;

my $dead = dead_port();
my $oa = Origin->new(name => 'a');
my $ob = Origin->new(name => 'b');
my $oc = Origin->new(name => 'c');
my $gh = Gatehouse->new(origins => [$oa, $ob, $oc], vars => { DEAD => $dead },
                        conf => Gatehouse::preamble(workers => 4) . <<'EOF');
timeouts = { upstream_connect = "1s"; };
upstreams = {
  app   = { servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; },
                        { address = "127.0.0.1:%%ORIGIN_b%%"; } ); };
  flaky = { max_fails = 1; fail_timeout = "60s";
            servers = ( { address = "127.0.0.1:%%DEAD%%"; },
                        { address = "127.0.0.1:%%ORIGIN_c%%"; } ); };
};
sites = ( { name = "main";
            listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/metrics"; metrics = true; },
                       { path = "/app/"; upstream = "app"; },
                       { path = "/flaky/"; upstream = "flaky"; } ); } );
EOF

my $A = '127.0.0.1:' . $oa->port;
my $B = '127.0.0.1:' . $ob->port;
my $C = '127.0.0.1:' . $oc->port;
my $DEAD = "127.0.0.1:$dead";

# ---- a small Prometheus text parser ----------------------------------------

# { samples => [ [name, {labels}, value] ], help => {name}, type => {name},
#   bad => [lines that are not comments or samples] }
sub parse_prom {
    my ($text) = @_;
    my %p = (samples => [], help => {}, type => {}, bad => []);
    for my $l (split /\n/, $text) {
        if ($l =~ /^# HELP (\w+) /) { $p{help}{$1} = 1; next }
        if ($l =~ /^# TYPE (\w+) (\w+)$/) { $p{type}{$1} = $2; next }
        next if $l =~ /^#/ || $l eq '';
        if ($l =~ /^(\w+)(?:\{(.*)\})? (\S+)$/) {
            my ($n, $lab, $v) = ($1, $2 // '', $3);
            my %lab;
            while ($lab =~ /\G(\w+)="((?:[^"\\]|\\.)*)",?/gc) { $lab{$1} = $2 }
            push @{ $p{bad} }, $l if (pos($lab) // 0) != length $lab;
            push @{ $p{samples} }, [$n, \%lab, $v];
        } else {
            push @{ $p{bad} }, $l;
        }
    }
    return \%p;
}

# Samples of NAME whose labels include WANT.
sub samples {
    my ($p, $name, %want) = @_;
    return grep {
        my $s = $_;
        $s->[0] eq $name
            && !grep { ($s->[1]{$_} // "\0") ne $want{$_} } keys %want
    } @{ $p->{samples} };
}

# The value of the one sample of NAME with labels WANT (undef if not one).
sub val {
    my @s = samples(@_);
    return @s == 1 ? $s[0][2] : undef;
}

sub scrape {
    my $r = $gh->http_get('/metrics');
    return ($r, parse_prom($r && $r->status == 200 ? $r->body : ''));
}

my %ROUTE = (site => 'main', route => '/app/');

# ---- N requests over fresh connections, some 404 ---------------------------

my $N = 60;
my ($n404, $bad) = (0, 0);
for my $i (1 .. $N) {
    my $want = $i % 6 == 0 ? 404 : 200;
    $n404++ if $want == 404;
    my $r = $gh->http_get($want == 404 ? "/app/r$i?status=404" : "/app/r$i");
    $bad++ unless $r && $r->status == $want;
}
is($bad, 0, "$N requests to /app/ ($n404 of them 404 from the origin)");

my ($r, $p);
ok(wait_for(sub {
    ($r, $p) = scrape();
    (val($p, 'gatehouse_requests_total', %ROUTE) // 0) >= $N;
}, 3), 'the route counter reaches N');
is($r->header('content-type'), 'text/plain; version=0.0.4; charset=utf-8',
   'Prometheus text format 0.0.4');
is($r->header('cache-control'), 'no-store', 'Cache-Control: no-store');
is(scalar(@{ $p->{bad} }), 0, 'every line parses as a comment or a sample')
    or diag(join "\n", @{ $p->{bad} }[0 .. 4]);
my @untyped = grep {
    my $f = $_->[0];
    !$p->{type}{$f} && !$p->{type}{ $f =~ s/_(?:bucket|sum|count)$//r };
} @{ $p->{samples} };
is(scalar(@untyped), 0, 'every sample has a TYPE line')
    or diag(join ' ', map { $_->[0] } @untyped[0 .. 4]);
is(scalar(grep { !$p->{help}{$_} } keys %{ $p->{type} }), 0,
   'every TYPE has a HELP');

is(val($p, 'gatehouse_requests_total', %ROUTE), $N,
   "gatehouse_requests_total for /app/ is exactly $N");
is(val($p, 'gatehouse_responses_total', %ROUTE, code => '2xx'), $N - $n404,
   'responses 2xx');
is(val($p, 'gatehouse_responses_total', %ROUTE, code => '4xx'), $n404,
   'responses 4xx (the origin\'s 404s)');
is(sum0(map { val($p, 'gatehouse_responses_total', %ROUTE, code => $_) // 0 }
        qw(1xx 3xx 5xx)), 0, 'responses 1xx, 3xx, 5xx: 0');
is(scalar(samples($p, 'gatehouse_requests_total', %ROUTE,
                  listen => "127.0.0.1:" . $gh->port)), 1,
   'the route sample carries the listen address');

my %up_a = (upstream => 'app', server => $A);
my %up_b = (upstream => 'app', server => $B);
my ($ra, $rb) = map { val($p, 'gatehouse_upstream_requests_total', %$_) // 0 }
    \%up_a, \%up_b;
is($ra + $rb, $N, "gatehouse_upstream_requests_total of app's servers sum to $N");
is("$ra $rb", ($N / 2) . ' ' . ($N / 2), 'round-robin: half each');
is($ra, $oa->count, 'server a: the count agrees with what the origin received');
for my $s (\%up_a, \%up_b) {
    is(val($p, 'gatehouse_upstream_up', %$s), 1, "server $s->{server}: up 1");
    is(val($p, 'gatehouse_upstream_backup', %$s), 0, "server $s->{server}: backup 0");
    is(val($p, 'gatehouse_upstream_active', %$s), 0, "server $s->{server}: active 0");
    is(val($p, 'gatehouse_upstream_failures_total', %$s), 0,
       "server $s->{server}: failures 0");
    my @b = samples($p, 'gatehouse_upstream_response_seconds_bucket', %$s);
    my $count = val($p, 'gatehouse_upstream_response_seconds_count', %$s);
    is(scalar(@b), 12, "server $s->{server}: 12 histogram buckets");
    is($b[-1][1]{le}, '+Inf', '... the last one le="+Inf"');
    is($b[-1][2], $count, '... which equals _count');
    ok(!grep({ $b[$_][2] < $b[$_ - 1][2] } 1 .. $#b), '... cumulative');
    like(val($p, 'gatehouse_upstream_response_seconds_sum', %$s) // '',
         qr/^\d+(?:\.\d+)?$/, '... _sum is a number');
}
is(sum0(map { val($p, 'gatehouse_upstream_response_seconds_count', %$_) // 0 }
        \%up_a, \%up_b), $N, "histogram _count of app's servers sums to $N");

# ---- workers ---------------------------------------------------------------

my @wc = sort { $a->[1]{worker} <=> $b->[1]{worker} }
    samples($p, 'gatehouse_worker_connections');
is(join(',', map { $_->[1]{worker} } @wc), '0,1,2,3',
   'gatehouse_worker_connections for each of the 4 workers');
my @wr = samples($p, 'gatehouse_worker_requests_total');
is(scalar(@wr), 4, 'gatehouse_worker_requests_total for each of the 4 workers');
cmp_ok(scalar(grep { $_->[2] > 0 } @wr), '>=', 2,
       'requests were served by several workers')
    or diag(join ' ', map { "$_->[1]{worker}=$_->[2]" } @wr);
{
    # Every finished request is counted once per worker and once per
    # route, so at rest the two sums agree.
    my ($w, $rt);
    ok(wait_for(sub {
        my (undef, $q) = scrape();
        $w = sum0(map { $_->[2] } samples($q, 'gatehouse_worker_requests_total'));
        $rt = sum0(map { $_->[2] } samples($q, 'gatehouse_requests_total'));
        $w == $rt && $w > 0;
    }, 3), 'sum of the per-worker request counts = sum over the routes')
        or diag("workers $w, routes $rt");
}
{
    my $conns = sub {
        my (undef, $q) = scrape();
        return sum0(map { $_->[2] } samples($q, 'gatehouse_worker_connections'));
    };
    my $now;
    ok(wait_for(sub { ($now = $conns->()) == 1 }, 3),
       'at rest: one open connection (the scrape itself)') or diag("got $now");
    my @idle = map { $gh->connect } 1 .. 3;
    ok(wait_for(sub { ($now = $conns->()) == 4 }, 3),
       'three idle client connections more: 4') or diag("got $now");
    $_->close for @idle;
    ok(wait_for(sub { ($now = $conns->()) == 1 }, 3),
       'closed again: 1') or diag("got $now");
}

# ---- a dead server, once marked down: up 0 ---------------------------------

{
    my $mark = $gh->log_mark;
    my $fail = 0;
    for my $i (1 .. 6) {
        my $x = $gh->http_get("/flaky/$i");
        $fail++ unless $x && $x->status == 200;
        last if $gh->log_since($mark) =~ /\Q$DEAD\E is marked down/;
    }
    is($fail, 0, 'flaky: every request 200 (the dead server is retried around)');
    ok($gh->log_since($mark) =~ /\Q$DEAD\E is marked down/,
       'flaky: dead server marked down');
    my (undef, $q) = scrape();
    is(val($q, 'gatehouse_upstream_up', upstream => 'flaky', server => $DEAD), 0,
       'gatehouse_upstream_up 0 for the server marked down');
    is(val($q, 'gatehouse_upstream_up', upstream => 'flaky', server => $C), 1,
       'gatehouse_upstream_up 1 for the live one');
    cmp_ok(val($q, 'gatehouse_upstream_failures_total', upstream => 'flaky',
               server => $DEAD) // 0, '>=', 1, 'its failures are counted');
    is(val($q, 'gatehouse_upstream_response_seconds_count', upstream => 'flaky',
           server => $DEAD), 0, 'and it has no response times');
}

# ---- JSON ------------------------------------------------------------------

{
    my $jr = $gh->http_get('/metrics?format=json');
    is($jr && $jr->status, 200, '?format=json: 200');
    is($jr && $jr->header('content-type'), 'application/json', '... application/json');
    my $j = eval { JSON::PP->new->decode($jr->body) };
    ok($j, '... parses with JSON::PP') or diag($@);
    my (undef, $q) = scrape();
    my ($site) = grep { $_->{name} eq 'main' } @{ $j->{sites} // [] };
    my ($route) = grep { $_->{path} eq '/app/' } @{ $site->{routes} // [] };
    is($route->{requests}, $N, "JSON: route /app/ requests = $N");
    is($route->{responses}{'2xx'}, $N - $n404, 'JSON: 2xx');
    is($route->{responses}{'4xx'}, $n404, 'JSON: 4xx');
    my %ups = map { $_->{name} => $_ } @{ $j->{upstreams} // [] };
    my %srv = map { ("$_->{name}/" . $_->{address}) => $_ }
        map { my $u = $_; map { { %$_, name => $u->{name} } } @{ $u->{servers} } }
        values %ups;
    for my $k (["app", $A], ["app", $B], ["flaky", $DEAD], ["flaky", $C]) {
        my ($u, $s) = @$k;
        my $js = $srv{"$u/$s"};
        ok($js, "JSON: server $u/$s present") or next;
        is($js->{requests},
           val($q, 'gatehouse_upstream_requests_total', upstream => $u, server => $s),
           "JSON: $u/$s requests agree with the text format");
        is($js->{latency}{count},
           val($q, 'gatehouse_upstream_response_seconds_count', upstream => $u,
               server => $s), "JSON: $u/$s latency count agrees");
        is($js->{up} ? 1 : 0,
           val($q, 'gatehouse_upstream_up', upstream => $u, server => $s),
           "JSON: $u/$s up agrees");
    }
    is(sum0(map { $_->{requests} } @{ $ups{app}{servers} // [] }), $N,
       "JSON: app's servers' requests sum to $N");
    is(scalar(@{ $j->{workers} // [] }), 4, 'JSON: 4 workers');
}

# ---- HEAD, POST ------------------------------------------------------------

{
    my ($h, $c) = $gh->request_keep($gh->build_request('/metrics', method => 'HEAD'),
                                    head => 1);
    is($h && $h->status, 200, 'HEAD: 200');
    cmp_ok($h && $h->header('content-length') // 0, '>', 1000,
           'HEAD: Content-Length of the body a GET would get');
    is($c->read_all(3), '', 'HEAD: no body follows');
    $c->close;

    my $x = $gh->http_post('/metrics', 'a=b');
    is($x && $x->status, 405, 'POST: 405');
    my $allow = $x && $x->header('allow') // '';
    ok($allow =~ /\bGET\b/ && $allow =~ /\bHEAD\b/, 'POST: Allow lists GET and HEAD')
        or diag("Allow: $allow");
}

finish();
