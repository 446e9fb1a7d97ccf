#!/usr/bin/perl
# allow/deny by client address (site, then route; first match wins; an
# allow list refuses the rest) and methods per route (405 with Allow).
# Clients come from 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all loopback).

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 30;
use Origin;

my $o = Origin->new(name => 'o');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble(workers => 2) . <<'EOF');
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            deny = [ "127.0.0.3" ];
            routes = ( { path = "/"; upstream = "app"; },
                       { path = "/local/"; upstream = "app";
                         allow = [ "127.0.0.1/32", "::1" ]; },
                       { path = "/mixed/"; upstream = "app";
                         deny = [ "127.0.0.2" ]; allow = [ "127.0.0.0/8" ]; },
                       { path = "/ro/"; upstream = "app"; methods = [ "GET" ]; },
                       { path = "/metrics"; metrics = true; allow = "127.0.0.1"; } ); } );
EOF

# One request from source address SRC; returns the response.
sub from {
    my ($src, $raw) = @_;
    my $c = Gatehouse::Client->new(port => $gh->port, local => $src)
        or die "connect from $src: $@";
    $c->send($raw);
    my $r = $c->read_response;
    $c->close;
    return $r;
}

sub get { my ($src, $path) = @_; from($src, $gh->build_request($path)) }

my $n0 = $o->count;
is(get('127.0.0.1', '/local/a')->status, 200, 'allow 127.0.0.1: 200');
is(get('127.0.0.2', '/local/a')->status, 403, 'not in the allow list: 403');
is(get('127.0.0.2', '/mixed/a')->status, 403, 'denied first, before the allow');
is(get('127.0.0.1', '/mixed/a')->status, 200, 'then allowed by the /8');
is(get('127.0.0.3', '/')->status, 403, "the site's deny covers every route");
is(get('127.0.0.3', '/local/a')->status, 403, '... the site before the route');
is(get('127.0.0.2', '/')->status, 200, 'a route without rules: allowed');
is($o->count - $n0, 3, 'refused requests never reached the backend');
ok($gh->wait_log(qr/\[error\].*access forbidden by rule.*client: 127\.0\.0\.2/, 0),
   'a refusal is logged at error with the client');
is(get('127.0.0.2', '/metrics')->status, 403, 'metrics: only from 127.0.0.1');
is(get('127.0.0.1', '/metrics')->status, 200, 'metrics from 127.0.0.1');

# methods
{
    my $r = $gh->http_post('/ro/x', 'abc');
    is($r->status, 405, 'POST on a GET-only route: 405');
    is($r->header('allow'), 'GET, HEAD', 'Allow lists GET and HEAD');
    is($gh->http_get('/ro/x')->status, 200, 'GET: 200');
    is($gh->http_head('/ro/x')->status, 200, 'HEAD goes with GET');
    my $c = $gh->connect;
    $c->send($gh->build_request('/ro/y', method => 'DELETE', close => 0));
    $r = $c->read_response;
    is($r->status, 405, 'DELETE: 405');
    $c->send($gh->build_request('/ro/z', close => 0));
    $r = $c->read_response;
    is($r && $r->status, 200, 'the connection goes on after a 405 without body');
    $c->close;
    $c = $gh->connect;
    $c->send("PUT /ro/b HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
             . "GET /ro/smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    $r = $c->read_response;
    is($r->status, 405, 'PUT with a body: 405');
    is(lc($r->header('connection') // ''), 'close', '... and the connection closes');
    ok($c->wait_closed(5), '... closed');
    is(scalar(grep { $_->{uri} =~ /smuggled|\/ro\/b/ } $o->requests), 0,
       'nothing of it reached the backend');
}

finish();
