#!/usr/bin/perl
# request_headers and response_headers on a site and a route: set replaces
# every field of the name (the client's or the backend's, and the ones
# gatehouse makes: X-Forwarded-*, X-Real-IP, Via, Host, Server), add
# appends, remove drops; the site's apply first, and a field the route sets
# or removes is not taken from the site; values are templates ($host,
# $uri, $request_uri, $args, $scheme, $remote_addr).  Response fields also
# go on gatehouse's own answers on the route (return, redirect, static
# files, errors after routing).  Config errors: fields gatehouse manages,
# names twice, names that are not tokens, control characters.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 30;
use Origin;

my $T0 = time;
my $o = Origin->new(name => 'o');
my $dead = dead_port();
my $gh = Gatehouse->new(origins => [$o], start => 0, vars => { DEAD => $dead },
                        conf => Gatehouse::preamble(workers => 1) . <<'EOF');
timeouts = { upstream_connect = "1s"; };
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); };
              dead = { retries = 0; max_fails = 0;
                       servers = ( { address = "127.0.0.1:%%DEAD%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
  request_headers = { set = { X-Env = "prod"; X-Site = "site"; };
                      add = { X-Tag = "site-tag"; };
                      remove = [ "X-Debug" ]; };
  response_headers = { set = { X-Frame-Options = "DENY"; };
                       add = { X-Site-Resp = "1"; };
                       remove = "X-Backend-Secret"; };
  routes = (
    { path = "/"; upstream = "app"; },
    { path = "/r/"; upstream = "app";
      request_headers = {
        set = { X-Site = "route"; Host = "backend.local";
                X-Vars = "h=$host u=$uri ru=$request_uri a=$args s=$scheme ip=$remote_addr $nope"; };
        add = { X-Tag = "route-tag"; };
        remove = [ "X-Env" ]; };
      response_headers = { set = { Server = "edge"; X-Frame-Options = "SAMEORIGIN"; };
                           add = { X-Route-Resp = "$uri"; }; }; },
    { path = "/gen/"; upstream = "app";
      request_headers = { remove = [ "X-Forwarded-For", "X-Real-IP", "Via" ];
                          set = { X-Forwarded-Proto = "https";
                                  X-Forwarded-Host = "public.example"; }; }; },
    { path = "/xff/"; upstream = "app";
      request_headers = { set = { X-Forwarded-For = "$remote_addr"; }; }; },
    { path = "/nohost/"; upstream = "app";
      request_headers = { remove = "Host"; }; },
    { path = "/ret"; return = { status = 200; body = "ok\n"; };
      response_headers = { set = { Server = "mine"; }; add = { X-Local = "yes"; }; }; },
    { path = "/dead/"; upstream = "dead"; },
    { path = "/redir"; redirect = { to = "/new$uri"; }; },
    { path = "/static/"; root = "%%TMP%%/www"; } ); } );
EOF
mkdir $gh->dir . '/www' or die;
mkdir $gh->dir . '/www/static' or die;     # root + the whole path
Gatehouse::write_file($gh->dir . '/www/static/f.txt', "file\n");
$gh->start;

# Values of NAME in the origin's record of the last request.
sub up_all {
    my ($name) = @_;
    my $rec = $o->last_request;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $rec->{headers} };
}
sub up { my @v = up_all(@_); @v ? join(' | ', @v) : undef }

# ---- request fields ---------------------------------------------------------
{
    my $r = $gh->http_get('/x', headers => [
        'X-Debug' => '1', 'X-Env' => 'client', 'X-Tag' => 'client',
        'X-Site' => 'c1', 'X-Site' => 'c2', 'X-Forwarded-For' => '1.2.3.4',
        'X-Keep' => 'k' ]);
    is($r->status, 200, 'site rules: proxied');
    is(up('X-Debug'), undef, 'remove: the client\'s X-Debug is gone');
    is(up('X-Env'), 'prod', 'set: the client\'s value replaced');
    is(up('X-Site'), 'site', 'set: every field of the name replaced (two)');
    is(up('X-Tag'), 'client | site-tag', 'add: appended after the client\'s');
    is(up('X-Keep'), 'k', 'other fields pass');
    is(up('X-Forwarded-For'), '1.2.3.4, 127.0.0.1',
       'generated fields as usual');
    is(up('Host'), 'localhost', 'Host as usual');
}
{
    my $r = $gh->request("GET /r/a%20b/../c?x=1&y=2 HTTP/1.1\r\n"
                         . "Host: www.example.com:8080\r\nX-Env: client\r\n"
                         . "X-Debug: 1\r\nX-Tag: client\r\nX-Site: c\r\n"
                         . "Connection: close\r\n\r\n");
    is($r->status, 200, 'route rules: proxied');
    is(up('Host'), 'backend.local', 'set Host replaces the client\'s');
    is(scalar(up_all('Host')), 1, '... one Host field');
    is(up('X-Site'), 'route', 'route set wins over the site\'s set');
    is(up('X-Env'), undef, 'route remove: neither the client\'s nor the '
       . 'site\'s value');
    is(up('X-Debug'), undef, 'the site\'s remove still applies');
    is(up('X-Tag'), 'client | site-tag | route-tag',
       'adds of site and route, after the client\'s');
    is(up('X-Vars'), 'h=www.example.com u=/r/c ru=/r/a%20b/../c?x=1&y=2 '
       . 'a=x=1&y=2 s=http ip=127.0.0.1 $nope',
       'templates: $host without port, $uri normalised, $request_uri as '
       . 'sent, $args, $scheme, $remote_addr; unknown $ kept');
    is(up('X-Forwarded-Host'), 'www.example.com:8080',
       'X-Forwarded-Host: the client\'s Host');
    is(($o->last_request)->{uri}, '/r/a%20b/../c?x=1&y=2',
       'the target is forwarded as sent');
    $gh->http_get('/x', headers => [ 'x-env' => 'lower', 'X-DEBUG' => '1' ]);
    is(up('X-Env'), 'prod', 'set: the client\'s field in another case');
    is(up('X-Debug'), undef, 'remove: in another case');
    $gh->request("GET /r/6 HTTP/1.1\r\nHost: [::1]:8080\r\n"
                 . "Connection: close\r\n\r\n");
    like(up('X-Vars') // '', qr/^h=\[::1\] /,
         '$host of an IPv6 literal: without the port');
}
{
    my $r = $gh->http_get('/r/q?a=%41', version => '1.0', host => undef);
    is($r->status, 200, 'HTTP/1.0 without Host');
    is(up('Host'), 'backend.local', 'set Host: also when the client sent none');
    like(up('X-Vars'), qr/^h= u=\/r\/q ru=\/r\/q\?a=%41 a=a=%41 /,
         'no host: $host is empty');
}
{
    my $r = $gh->http_get('/gen/', headers => [
        'X-Forwarded-For' => '1.2.3.4', 'X-Real-IP' => '9.9.9.9',
        'X-Forwarded-Proto' => 'ftp', 'Via' => '1.0 client-proxy' ]);
    is($r->status, 200, 'generated fields: proxied');
    is(up('X-Forwarded-For'), undef, 'remove X-Forwarded-For: none at all');
    is(up('X-Real-IP'), undef, 'remove X-Real-IP');
    is(up('Via'), undef, 'remove Via (ours and the client\'s)');
    is(up('X-Forwarded-Proto'), 'https', 'set X-Forwarded-Proto: ours only');
    is(up('X-Forwarded-Host'), 'public.example', 'set X-Forwarded-Host');
    $gh->http_get('/xff/', headers => [ 'X-Forwarded-For' => '1.2.3.4' ]);
    is(up('X-Forwarded-For'), '127.0.0.1',
       'set X-Forwarded-For = "$remote_addr": the client\'s chain dropped');
    $gh->http_get('/nohost/');
    is(up('Host'), undef, 'remove Host: none sent');
    is(up('X-Real-IP'), '127.0.0.1', 'control: X-Real-IP made as usual');
}

# ---- response fields ---------------------------------------------------------
{
    my $q = '?hdr=X-Frame-Options:ALLOWALL&hdr=X-Backend-Secret:s'
        . '&hdr=X-Keep:k&hdr=Server:Apache';
    my $r = $gh->http_get("/a$q");
    is($r->status, 200, 'response: proxied');
    is($r->header('x-frame-options'), 'DENY',
       'set: the backend\'s field replaced');
    is($r->header('x-backend-secret'), undef, 'remove: dropped');
    is($r->header('x-keep'), 'k', 'other fields pass');
    is($r->header('x-site-resp'), '1', 'add');
    like($r->header('server'), qr{^gatehouse/}, 'our Server');

    $r = $gh->http_get("/r/a$q");
    is($r->header('server'), 'edge', 'route set Server: replaces ours');
    is(scalar(grep { lc $_ eq 'server' } $r->header_names), 1,
       '... one Server field');
    is($r->header('x-frame-options'), 'SAMEORIGIN',
       'route set wins over the site\'s (one field)');
    is($r->header('x-route-resp'), '/r/a', 'route add, a template');
    is($r->header('x-site-resp'), '1', 'the site\'s add still applies');
    is($r->header('x-backend-secret'), undef, 'the site\'s remove too');
    is($r->header('content-length'), length($r->body),
       'framing is ours, untouched');
}

# ---- local answers on the route ------------------------------------------------
{
    my $r = $gh->http_get('/ret');
    is($r->status, 200, 'return');
    is($r->body, "ok\n", '... body');
    my @server = $r->headers_all('server');
    is(scalar(@server), 2, 'return: set Server appends (ours, then "mine")');
    is($server[1], 'mine', '... "mine"');
    is($r->header('x-local'), 'yes', 'return: route add');
    is($r->header('x-frame-options'), 'DENY', 'return: the site\'s set');
    is($r->header('x-site-resp'), '1', 'return: the site\'s add');

    $r = $gh->http_get('/redir/x?y=1');
    is($r->status, 302, 'redirect');
    is($r->header('location'), '/new/redir/x', 'Location');
    is($r->header('x-frame-options'), 'DENY', 'redirect: the site\'s set');

    $r = $gh->http_get('/static/f.txt');
    is($r->status, 200, 'static file');
    is($r->body, "file\n", '... body');
    is($r->header('x-frame-options'), 'DENY', 'static: the site\'s set');
    my $mark = $gh->log_mark;
    $r = $gh->http_get('/dead/x');
    is($r->status, 502, 'backend down: 502');
    is($r->header('x-frame-options'), 'DENY', '502: the site\'s set');
    ok($gh->wait_log(qr/\[error\].*connect/, $mark), '502: logged');
    $r = $gh->http_get('/static/nope.txt');
    is($r->status, 404, 'static: missing file');
    is($r->header('x-frame-options'), 'DENY', 'an error after routing too');

    # keep-alive goes on, the added fields do not break the framing
    my $c = $gh->connect;
    $c->send($gh->build_request('/ret', close => 0));
    is($c->read_response->status, 200, 'keep-alive: return');
    $c->send($gh->build_request('/r/k', close => 0));
    $r = $c->read_response;
    is($r && $r->header('server'), 'edge', 'keep-alive: then proxied');
    $c->close;
}

# ---- config errors (gatehouse -t) -------------------------------------------------
{
    my $n = 0;
    my $bin = Gatehouse::bin();
    my $check = sub {
        my ($name, $site, $want) = @_;
        my $f = $gh->dir . '/bad' . ++$n . '.conf';
        $gh->write_conf(<<"EOF", $f);
sites = ( { listen = [ "127.0.0.1:%%PORT_bad%%" ];
$site
  routes = ( { path = "/"; return = { status = 204; }; } ); } );
EOF
        my ($rc, $out) = Gatehouse::run_cmd([$bin, '-t', '-c', $f], 10);
        is($rc, 1, "-t: $name: exit 1");
        like($out, qr/^gatehouse: \Q$f\E:$want$/m,
             "-t: $name: file, line and why") or diag($out);
    };
    for my $h (qw(Content-Length Transfer-Encoding Connection Keep-Alive
                  Upgrade TE Trailer Proxy-Connection)) {
        $check->("set $h", qq{  request_headers = { set = { $h = "1"; }; };},
                 qq{2: sites\\[0\\]\\.request_headers\\.set\\.$h: "$h" is }
                 . q{managed by gatehouse \(framing and connection fields }
                 . q{cannot be changed\)});
    }
    $check->('remove te', qq{  response_headers = {\n    remove = [ "x", "te" ]; };},
             q{3: sites\[0\]\.response_headers\.remove\[1\]: "te" is managed by gatehouse \(framing and connection fields cannot be changed\)});
    $check->('a name twice', qq{  response_headers = { remove = [ "X-A", "x-a" ]; };},
             q{2: sites\[0\]\.response_headers\.remove\[1\]: "x-a" is listed twice});
    $check->('not a token', qq{  request_headers = { remove = "X Debug"; };},
             q{2: sites\[0\]\.request_headers\.remove: "X Debug" is not a header name});
    $check->('CR LF in a value', qq{  request_headers = { add = { X-A = "a\\r\\nX-Evil: 1"; }; };},
             q{2: sites\[0\]\.request_headers\.add\.X-A: "a\\\\x0d\\\\x0aX-Evil: 1" has a control character});
}

finish();
diag(sprintf 'took %.1f s', time - $T0);
