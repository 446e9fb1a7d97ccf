#!/usr/bin/perl
# The per-worker pool of idle upstream connections: reused across client
# connections, not used when keepalive = 0, and a pooled connection the
# origin has closed is detected or retried safely (idempotent requests
# only).

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 30;
use Origin;

my $o = Origin->new(name => 'a');
my $np = Origin->new(name => 'np');
my $gh = Gatehouse->new(origins => [$o, $np], conf => Gatehouse::preamble() . <<'EOF');
upstreams = {
  app    = { keepalive = 8;
             servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); };
  nopool = { keepalive = 0;
             servers = ( { address = "127.0.0.1:%%ORIGIN_np%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/np/"; upstream = "nopool"; },
                       { path = "/"; upstream = "app"; } ); } );
EOF

# --- reuse across client connections ------------------------------------------
{
    my @r = map { $gh->http_get("/reuse/$_") } 1 .. 5;
    is(scalar(grep { $_ && $_->status == 200 } @r), 5,
       'five requests on five client connections: 200');
    my @conns = map { $_->header('x-conn') } @r;
    is(scalar(keys %{{ map { $_ => 1 } @conns }}), 1,
       'all five went over one upstream connection')
        or diag("origin connections: @conns");
    is_deeply([ map { $_->header('x-seq') } @r ], [1 .. 5],
              'origin saw them as requests 1..5 of that connection');
    my $rec = $o->last_request;
    unlike(Origin::rec_header($rec, 'Connection') // '', qr/close/i,
           'proxy does not ask the origin to close a pooled connection');
}

# --- keepalive = 0: no reuse ----------------------------------------------------
{
    my @r = map { $gh->http_get("/np/$_") } 1 .. 3;
    is(scalar(grep { $_ && $_->status == 200 } @r), 3, 'keepalive = 0: 200');
    my @conns = map { $_->header('x-conn') } @r;
    is(scalar(keys %{{ map { $_ => 1 } @conns }}), 3,
       'keepalive = 0: a new upstream connection per request');
}

# --- origin closes an idle pooled connection: next request still works ----------
{
    my $r = $gh->http_get('/kaclose?kaclose=1');
    is($r && $r->status, 200, 'origin closes after answering: 200');
    my $closed_conn = $r->header('x-conn');
    # No waiting: whether the proxy saw the FIN yet or not, this must work.
    my $r2 = $gh->http_get('/after-kaclose');
    is($r2 && $r2->status, 200, 'next request after origin closed the pooled connection: 200');
    isnt($r2 && $r2->header('x-conn'), $closed_conn, '... on a new upstream connection');
}

# --- stale connection: origin reads the request and closes without answering ------
{
    my $r = $gh->http_get('/warm');
    is($r && $r->status, 200, 'warm-up request: 200');
    my $warm_conn = $r->header('x-conn');
    my $n0 = $o->count;
    my $mark = $gh->log_mark;
    $r = $gh->http_get('/stale?act=stale');
    is($r && $r->status, 200, 'GET on a stale pooled connection is retried: 200');
    is($r && $r->header('x-seq'), 1, '... on a fresh upstream connection');
    isnt($r && $r->header('x-conn'), $warm_conn, '... not the stale one');
    is($o->count - $n0, 2, 'origin saw the GET twice (stale attempt + retry)');
}

# --- a POST is not replayed on its own --------------------------------------------
{
    my $r = $gh->http_get('/warm2');
    is($r && $r->status, 200, 'warm-up request: 200');
    my $n0 = $o->count;
    my $body = 'do-not-repeat';
    $r = $gh->http_post('/stale-post?act=stale', $body);
    my @posts = grep { $_->{method} eq 'POST' } $o->requests;
    is(scalar(@posts), 1,
       'POST on a stale connection reaches the origin once (not replayed)');
    ok($r && $r->status == 502,
       'POST on a stale connection: 502 (the origin may have acted on it)')
        or diag('status ' . ($r ? $r->status : 'none'));
}

# --- pooled connections are not shared between requests in flight ------------------
{
    my @c = map { $gh->connect } 1 .. 3;
    $_->send($gh->build_request('/slow?hdelay=0.3')) for @c;
    my @r = map { $_->read_response } @c;
    is(scalar(grep { $_ && $_->status == 200 } @r), 3, 'three concurrent requests: 200');
    my %conns = map { $_->header('x-conn') => 1 } grep { $_ } @r;
    is(scalar(keys %conns), 3, 'concurrent requests use distinct upstream connections');
    # After they finish they are pooled: more requests open no new ones.
    my $max = (sort { $b <=> $a } map { $_->{conn} } $o->requests)[0];
    my @again = map { $gh->http_get("/again/$_") } 1 .. 3;
    ok(!grep({ !$_ || $_->header('x-conn') > $max } @again),
       'later requests reuse pooled connections (no new upstream connection)');
}

finish();
