#!/usr/bin/perl
# hide_headers (default Server and X-Powered-By from backends), a route's
# list replacing the site's, and server_tokens.

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 30;
use Origin;

my $o = Origin->new(name => 'o');
my $conf = <<'EOF';
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; },
                       { path = "/own/"; upstream = "app";
                         hide_headers = [ "X-Secret" ]; } ); } );
EOF
my $hdrs = '?hdr=Server:Apache%2F2.4.1&hdr=X-Powered-By:PHP%2F5&hdr=X-Secret:s&hdr=X-Kept:k';
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . $conf);

my $r = $gh->http_get("/a$hdrs");
is($r->status, 200, 'proxied');
like($r->header('server'), qr{^gatehouse/\d}, "the backend's Server is hidden; ours instead");
is(scalar(grep { lc $_ eq 'server' } $r->header_names), 1, 'one Server header');
is($r->header('x-powered-by'), undef, 'X-Powered-By hidden by default');
is($r->header('x-secret'), 's', 'others pass');
$r = $gh->http_get("/own/a$hdrs");
is($r->header('server'), 'Apache/2.4.1', "a route's list replaces the default: backend Server kept");
is($r->header('x-powered-by'), 'PHP/5', '... and X-Powered-By');
is($r->header('x-secret'), undef, '... X-Secret hidden');
is($r->header('x-kept'), 'k', '... the rest passes');
like($gh->http_get('/nope-404-from-origin?status=404')->header('server'), qr{^gatehouse/},
     'Server with version');
$gh->stop;

$gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . "server_tokens = false;\n" . $conf);
is($gh->http_get("/a$hdrs")->header('server'), 'gatehouse', 'server_tokens = false: no version (proxied)');
is($gh->request("GET / HTTP/1.1\r\n\r\n")->header('server'), 'gatehouse',
   '... nor on our own responses (400 here)');

finish();
