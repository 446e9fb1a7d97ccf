#!/usr/bin/perl
# Route actions return and redirect, and strip_prefix on a proxied route.

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 30;
use Origin;

my $o = Origin->new(name => 'o');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble(workers => 1) . <<'EOF');
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; },
                       { path = "/gone"; return = { status = 410; body = "gone\n"; }; },
                       { path = "/empty"; return = { status = 204; }; },
                       { path = "/old/"; redirect = { status = 308;
                           to = "https://$host$request_uri"; }; },
                       { path = "/moved"; redirect = { to = "/new$uri?$args&$nope"; }; },
                       { path = "/api/"; upstream = "app"; strip_prefix = true; },
                       { path = "/bare"; upstream = "app"; strip_prefix = true; } ); } );
EOF

my $r = $gh->http_get('/gone');
is($r->status, 410, 'return: status');
is($r->body, "gone\n", 'return: body');
is($r->header('content-type'), 'text/plain; charset=utf-8', 'return: text');
$r = $gh->http_head('/gone');
is($r->status, 410, 'return: HEAD');
is($r->header('content-length'), 5, 'HEAD: the length of the body not sent');
$r = $gh->http_get('/empty');
is($r->status, 204, 'return without body');

$r = $gh->request("GET /old/a/b?x=1 HTTP/1.1\r\nHost: www.example.com:8080\r\n"
                  . "Connection: close\r\n\r\n");
is($r->status, 308, 'redirect: 308');
is($r->header('location'), 'https://www.example.com/old/a/b?x=1',
   'redirect: $host without port, $request_uri with the query');
$r = $gh->request("GET /moved/./x?y=2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
is($r->status, 302, 'redirect: default 302');
is($r->header('location'), '/new/moved/x?y=2&$nope',
   'redirect: $uri normalised, $args, unknown $ kept');

# keep-alive goes on after a local answer
{
    my $c = $gh->connect;
    $c->send($gh->build_request('/gone', close => 0));
    is($c->read_response->status, 410, 'keep-alive: return');
    $c->send($gh->build_request('/old/x', close => 0));
    is($c->read_response->status, 308, 'keep-alive: redirect');
    $c->send($gh->build_request('/ok', close => 0));
    is($c->read_response->status, 200, 'keep-alive: then proxied');
    $c->close;
}

my $n = $o->count;
is($gh->http_get('/api/v1/items?x=1')->status, 200, 'strip_prefix: 200');
is(($o->requests)[-1]{uri}, '/v1/items?x=1', 'strip_prefix: /api/ removed');
$gh->http_get('/api/');
is(($o->requests)[-1]{uri}, '/', 'strip_prefix: /api/ alone is /');
$gh->http_get('/bare?q=1');
is(($o->requests)[-1]{uri}, '/?q=1', 'strip_prefix: /bare?q=1 is /?q=1');
$gh->http_get('/bare/x');
is(($o->requests)[-1]{uri}, '/x', 'strip_prefix: /bare/x is /x');
is($o->count - $n, 4, 'no local answer reached the backend');

finish();
