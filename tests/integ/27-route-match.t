#!/usr/bin/perl
# Route matching: path_exact, path_regex (on the normalised path) and
# prefixes, in that order; conditions on host, header, cookie and query,
# with fall-through to the next candidate; methods that refuse a request
# without letting it fall through to another path (405 with the union of
# the Allow of the routes sharing the path); a route's body_size (413 for
# Content-Length and chunked bodies, 0 for unlimited); route names in the
# metrics; the config errors of all this, with file and line.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 30;
use Origin;

my $T0 = time;
my $oa = Origin->new(name => 'a');
my $ob = Origin->new(name => 'b');

# Local answers say which route took the request: "return" with its name.
sub ret { my ($n) = @_; qq{return = { status = 200; body = "$n\\n"; };} }

my $conf = Gatehouse::preamble(workers => 1) . <<"EOF";
limits = { body_size = "2k"; };
upstreams = { a = { servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); };
              b = { servers = ( { address = "127.0.0.1:%%ORIGIN_b%%"; } ); }; };
sites = ( { name = "main"; listen = [ "127.0.0.1:%%PORT_http%%" ];
  routes = (
    { path = "/"; upstream = "a"; },
    { path_exact = "/login"; @{[ ret('exact') ]} },
    { path = "/login"; @{[ ret('prefix-login') ]} },
    { path_regex = "^/v[0-9]+/"; @{[ ret('regex-v') ]} },
    { path_regex = "\\\\.json\$"; @{[ ret('regex-json') ]} },
    { path = "/v1/"; @{[ ret('prefix-v1') ]} },
    { path = "/c/"; header = "X-Canary: 1"; @{[ ret('canary') ]} },
    { path = "/c/"; host = [ "api.example.com", "*.example.org" ];
      @{[ ret('host') ]} },
    { path = "/c/"; cookie = "beta=yes"; @{[ ret('beta') ]} },
    { path = "/c/"; query = "debug=1"; @{[ ret('debug') ]} },
    { path = "/c"; query = "debug"; @{[ ret('c-debug') ]} },
    { path = "/admin"; methods = [ "GET" ]; upstream = "a"; },
    { path = "/api"; methods = [ "GET" ]; upstream = "a"; },
    { path = "/api"; methods = [ "POST" ]; upstream = "b"; },
    { path = "/small/"; upstream = "a"; body_size = "1k"; },
    { path = "/big/"; upstream = "a"; body_size = 0; },
    { path = "/metrics"; metrics = true; } ); } );
EOF
my $gh = Gatehouse->new(origins => [$oa, $ob], conf => $conf);

# The body of a local answer (the route's name), or "a"/"b": the origin
# that answered, or "STATUS".
sub who {
    my ($r) = @_;
    return 'no response' unless $r;
    return $r->status unless $r->status == 200;
    return $r->header('x-origin') if defined $r->header('x-origin');
    (my $b = $r->body) =~ s/\n\z//;
    return $b;
}

# A chunked POST of N chunks of SIZE bytes.
sub chunked {
    my ($path, $n, $size) = @_;
    return "POST $path HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
        . "Connection: close\r\n\r\n"
        . join('', map { sprintf("%x\r\n%s\r\n", $size, 'c' x $size) } 1 .. $n)
        . "0\r\n\r\n";
}

sub get {
    my ($path, @h) = @_;
    return who($gh->http_get($path, headers => [@h]));
}

# ---- path kinds and their order -------------------------------------------
is(get('/login'), 'exact', 'path_exact /login');
is(get('/login?next=/x'), 'exact', 'the query is not part of the path');
is(get('/a/../login'), 'exact', 'path_exact on the normalised path');
is(get('/login/'), 'prefix-login', '/login/ is not the exact path: prefix');
is(get('/loginx'), 'prefix-login', 'a plain prefix');
is(get('/v1/x'), 'regex-v', 'regex before the longer prefix /v1/');
is(get('/v22/a/b'), 'regex-v', 'regex [0-9]+');
is(get('/%76%31/x'), 'regex-v', 'regex on the decoded path (%76%31 = v1)');
is(get('/x/../v3/y'), 'regex-v', 'regex on the normalised path');
is(get('/v/x'), 'a', 'no digit: not the regex, proxied by /');
is(get('/V1/x'), 'a', 'regexes are case-sensitive');
is(get('/z/v1/x'), 'a', 'the regex is anchored by its ^');
is(get('/x/./y.json'), 'regex-json', 'second regex, unanchored');
is(get('/v1/y.json'), 'regex-v', 'two regexes match: the first in the file');
is(get('/x?f=y.json'), 'a', 'regexes do not see the query');
is(get('/y.jsonp'), 'a', '\\.json$ needs the end');

# ---- conditions ------------------------------------------------------------
is(get('/c/x', 'X-Canary' => '1'), 'canary', 'header condition');
is(get('/c/x', 'x-canary' => '1'), 'canary', 'header name in any case');
is(who($gh->request("GET /c/x HTTP/1.1\r\nHost: h\r\nX-Canary: \t 1 \t\r\n"
                    . "Connection: close\r\n\r\n")), 'canary',
   'the value compared after trimming');
is(get('/c/x', 'X-Canary' => '2'), 'a', 'another value: falls through to /');
is(get('/c/x', 'X-Canary' => '0', 'X-Canary' => '1'), 'canary',
   'one field of several has the value');
is(who($gh->http_get('/c/x', host => 'api.example.com')), 'host',
   'host condition');
is(who($gh->http_get('/c/x', host => 'API.Example.COM:8080')), 'host',
   'host in any case, port ignored');
is(who($gh->http_get('/c/x', host => 'a.b.example.org')), 'host',
   'host wildcard');
is(who($gh->http_get('/c/x', host => 'example.org')), 'a',
   '*.example.org is not example.org');
is(who($gh->request("GET http://API.example.com/c/x?y=1 HTTP/1.1\r\n"
                    . "Host: api.example.com\r\nConnection: close\r\n\r\n")),
   'host', 'an absolute-form target: its authority and path');
is(get('/c/x', Cookie => 'a=1; beta=yes'), 'beta', 'cookie condition');
is(get('/c/x', Cookie => 'a=1', Cookie => 'beta=yes; c=2'), 'beta',
   'cookie in a second Cookie field');
is(get('/c/x', Cookie => 'beta=no; xbeta=yes'), 'a', 'no such cookie: /');
is(get('/c/x?x=1&debug=1'), 'debug', 'query condition');
is(get('/c/x?debug=1#frag'), 'debug', 'fragment not part of the query');
is(get('/c/x?debug=2'), 'c-debug',
   'query value differs: falls through to the shorter prefix /c');
is(get('/c/x?debug'), 'c-debug', '"debug" alone: present');
is(get('/cx?debug='), 'c-debug', '"debug=": present');
is(get('/c/x?nodebug=1'), 'a', 'no condition holds: /');
is(get('/c/x?debug=1', 'X-Canary' => '1'), 'canary',
   'several hold: the first in the file');

# ---- methods ---------------------------------------------------------------
{
    $oa->clear;
    $ob->clear;
    my $mark = $gh->log_mark;
    is(who($gh->http_get('/admin')), 'a', 'GET /admin: proxied');
    is($gh->http_head('/admin/x')->status, 200, 'HEAD goes with GET');
    my $r = $gh->http_post('/admin', '');
    is($r->status, 405, 'POST /admin: 405, not proxied by /');
    is($r->header('allow'), 'GET, HEAD', '... Allow: GET, HEAD');
    $r = $gh->http('DELETE', '/admin/users/1');
    is($r->status, 405, 'DELETE /admin/users/1: 405 too (the prefix)');
    ok($gh->wait_log([qr/\[info\]/, qr/method not allowed on this route/,
                      qr/client: 127\.0\.0\.1/], $mark),
       'logged at info with the client');
    is(scalar(grep { $_->{method} ne 'GET' && $_->{method} ne 'HEAD' }
              $oa->requests), 0, 'no refused request reached a backend');

    is(who($gh->http_get('/api/items')), 'a', 'GET /api: upstream a');
    is(who($gh->http_post('/api/items', 'x=1')), 'b', 'POST /api: upstream b');
    is(($ob->requests)[-1]{body}, 'x=1', '... with its body');
    $r = $gh->http('DELETE', '/api/items');
    is($r->status, 405, 'DELETE /api: 405');
    is($r->header('allow'), 'GET, HEAD, POST',
       '... Allow: the union of both routes');
    # keep-alive goes on after a 405 without a body
    my $c = $gh->connect;
    $c->send($gh->build_request('/api/1', method => 'PUT', close => 0));
    $r = $c->read_response;
    is($r && $r->status, 405, 'keep-alive: PUT 405');
    $c->send($gh->build_request('/api/2', close => 0));
    $r = $c->read_response;
    is(who($r), 'a', 'keep-alive: then GET proxied');
    $c->close;
    is(scalar(grep { $_->{method} =~ /^(?:DELETE|PUT)$/ }
              $oa->requests, $ob->requests), 0,
       'DELETE and PUT reached no backend');
}

# ---- body_size on a route ----------------------------------------------------
{
    $oa->clear;
    my $mark = $gh->log_mark;
    is($gh->http_post('/small/x', 'k' x 1024)->status, 200,
       'body_size 1k: 1024 bytes pass');
    my $r = $gh->http_post('/small/x', 'k' x 1025);
    is($r->status, 413, 'body_size 1k: 1025 bytes (Content-Length): 413');
    ok($gh->wait_log([qr/\[info\]/, qr/client intended to send too large body/],
                     $mark), '... logged');
    $mark = $gh->log_mark;
    $r = $gh->request(chunked('/small/chunked', 3, 500));
    is($r && $r->status, 413, 'body_size 1k: 1500 bytes chunked: 413');
    ok($gh->wait_log([qr/\[info\]/, qr/client sent too large body/], $mark),
       '... logged');
    is($gh->request(chunked('/small/chunked', 1, 500))->status, 200,
       'body_size 1k: 500 bytes chunked pass');
    is(join(',', map { $_->{body_len} } $oa->requests), '1024,500',
       'the backend got only the bodies within the limit');

    is($gh->http_post('/big/x', 'b' x 3000)->status, 200,
       'body_size 0: unlimited, over limits.body_size (2k)');
    is($gh->request(chunked('/big/chunked', 6, 500))->status, 200,
       'body_size 0: chunked too');
    is($gh->http_post('/other', 'o' x 3000)->status, 413,
       'a route without body_size: limits.body_size');
    is($gh->http_post('/other', 'o' x 2048)->status, 200,
       '... 2k pass');
}

# ---- names in the metrics -----------------------------------------------------
{
    my $m = $gh->http_get('/metrics')->body;
    my %routes = map { $_ => 1 } $m =~ /\broute="((?:[^"\\]|\\.)*)"/g;
    ok($routes{'/small/'} && $routes{'/'}, 'metrics have route labels')
        or diag(join ' ', sort keys %routes);
    ok($routes{'=/login'}, 'path_exact route: route="=/login"');
    ok($routes{'~^/v[0-9]+/'}, 'path_regex route: route="~^/v[0-9]+/"');
    ok($routes{'/api #2'}, 'second /api route: route="/api #2"')
        or diag(join ' ', sort keys %routes);
    # The second /api route counted one POST: apart from the first.
    my ($n1) = $m =~ /^gatehouse_requests_total\{[^}]*route="\/api"[^}]*\} (\d+)/m;
    my ($n2) = $m =~ /^gatehouse_requests_total\{[^}]*route="\/api #2"[^}]*\} (\d+)/m;
    ok(defined $n2 && $n2 >= 1, 'the POST is counted on "/api #2"')
        or diag("route /api: " . ($n1 // 'none') . ", /api #2: "
                . ($n2 // 'none'));
    my @lines = grep { /^gatehouse_requests_total\{/ } split /\n/, $m;
    my %seen;
    my @dup = grep { $seen{$_ =~ s/ \S+$//r}++ } @lines;
    is(scalar(@dup), 0, 'no two series with the same labels')
        or diag(join "\n", @dup);
}

# ---- config errors (gatehouse -t) ----------------------------------------------
{
    my $n = 0;
    my $bin = Gatehouse::bin();
    my $check = sub {
        my ($name, $routes, $want) = @_;
        my $f = $gh->dir . '/bad' . ++$n . '.conf';
        $gh->write_conf(<<"EOF", $f);
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
  routes = (
$routes
  ); } );
EOF
        my ($rc, $out) = Gatehouse::run_cmd([$bin, '-t', '-c', $f], 10);
        is($rc, 1, "-t: $name: exit 1");
        like($out, qr/^gatehouse: \Q$f\E:$want/m, "-t: $name: file, line and why")
            or diag($out);
    };
    $check->('path and path_exact',
             qq{    { path = "/a";\n      path_exact = "/a"; return = { status = 204; }; }},
             q{4: sites\[0\]\.routes\[0\]\.path_exact: a route has one of "path", "path_exact" and "path_regex", not "path" and "path_exact"$});
    $check->('no path',
             qq{    { return = { status = 204; }; }},
             q{3: sites\[0\]\.routes\[0\]: has none of "path", "path_exact" and "path_regex"; a route needs one$});
    $check->('back-reference',
             qq{    { return = { status = 204; };\n      path_regex = "^/(a)\\\\1"; }},
             q{4: sites\[0\]\.routes\[0\]\.path_regex: "\^/\(a\)\\\\x5c1" has a back-reference \(\\\\1\), which is not allowed$});
    $check->('bad regex',
             qq{    { path_regex = "^/(a"; return = { status = 204; }; }},
             q{3: sites\[0\]\.routes\[0\]\.path_regex: "\^/\(a" is not a POSIX extended regular expression: \S.*$});
    $check->('same path twice',
             qq{    { path_exact = "/a"; return = { status = 204; }; },\n}
             . qq{    { path_exact = "/a"; return = { status = 404; }; }},
             q{4: sites\[0\]\.routes\[1\]: can never be chosen: the route at line 3 has the same path "/a" and no condition \(host, header, cookie, query, methods\)$});
}

finish();
diag(sprintf 'took %.1f s', time - $T0);
