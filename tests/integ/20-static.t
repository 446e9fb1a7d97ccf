#!/usr/bin/perl
# Static files (routes with root): Content-Type, Last-Modified and
# If-Modified-Since, ETag and If-None-Match, single Range (206, 416),
# index.html, HEAD, 301 for a directory without slash, 404, and no way out
# of the root (.., encoded dots, NUL).

use strict;
use warnings;

use Test::More;
use Digest::MD5 qw(md5_hex);
use Gatehouse timeout => 30;
use Origin;

my $o = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . <<'EOF');
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/static/"; root = "%%TMP%%/www"; index = "index.html"; },
                       { path = "/"; upstream = "app"; } ); } );
EOF

my $dir = $gh->dir;
my $www = "$dir/www/static";
mkdir "$dir/www";
mkdir $www;
mkdir "$www/sub";
mkdir "$www/noindex";
my %files = (
    'hello.txt'  => "hello world\n",
    'page.html'  => "<html><body>page</body></html>\n",
    'style.css'  => "body { color: red }\n",
    'app.js'     => "console.log(1);\n",
    'img.png'    => "\x89PNG\r\n\x1a\n" . ("\0" x 100),
    'data.json'  => "{\"a\":1}\n",
    'file.xyz'   => "unknown type\n",
    'a b.txt'    => "space in name\n",
    'index.html' => "<html>static index</html>\n",
    'sub/index.html' => "<html>sub index</html>\n",
    'noindex/x.txt'  => "x\n",
    'range.bin'  => Origin::pattern(1000),
    'big.bin'    => Origin::pattern(3 * 1024 * 1024 + 5),
);
Gatehouse::write_file("$www/$_", $files{$_}) for keys %files;
Gatehouse::write_file("$dir/secret.txt", "TOPSECRET\n");
Gatehouse::write_file("$dir/www/secret2.txt", "TOPSECRET2\n");
my $MTIME = 1577836800;     # 2020-01-01 00:00:00 UTC
utime $MTIME, $MTIME, "$www/$_" for keys %files;
my $LASTMOD = 'Wed, 01 Jan 2020 00:00:00 GMT';

sub get { my ($p, %o) = @_; $gh->http_get($p, %o) }

# --- plain GET, types, lengths ----------------------------------------------------
{
    my $r = get('/static/hello.txt');
    is($r->status, 200, 'GET file: 200');
    is($r->body, $files{'hello.txt'}, 'GET file: contents');
    is($r->header('content-length'), length $files{'hello.txt'}, 'Content-Length');
    ok(!defined $r->header('x-origin'), 'served by gatehouse, not the origin');
}
for my $t (['hello.txt', qr{^text/plain\b}], ['page.html', qr{^text/html\b}],
           ['style.css', qr{^text/css\b}],
           ['app.js', qr{^(application|text)/javascript\b}],
           ['img.png', qr{^image/png$}], ['data.json', qr{^application/json\b}],
           ['file.xyz', qr{^application/octet-stream$}]) {
    my ($f, $re) = @$t;
    my $r = get("/static/$f");
    like($r->header('content-type') // '', $re, "Content-Type of $f");
    is($r->body, $files{$f}, "$f contents");
}
{
    my $r = get('/static/a%20b.txt');
    is($r->status, 200, 'percent-encoded name decoded: 200');
    is($r->body, $files{'a b.txt'}, 'percent-encoded name: contents');
    $r = get('/static/hello%2etxt');
    is($r->body, $files{'hello.txt'}, 'encoded dot in a name decoded');
    $r = get('/static/hello.txt?v=3');
    is($r->body, $files{'hello.txt'}, 'query string ignored');
}
{
    my $r = get('/static/big.bin', timeout => 20);
    is($r->status, 200, '3 MB file: 200');
    is(md5_hex($r->body), md5_hex($files{'big.bin'}), '3 MB file: bytes intact');
}
{
    my $r = get('/static/nope.txt');
    is($r->status, 404, 'missing file: 404');
    like($r->header('content-type') // '', qr{^text/html}, '404: HTML body');
    is($o->count, 0, 'static route never falls through to the origin');
}

# --- HEAD -------------------------------------------------------------------------
{
    my $c = $gh->connect;
    $c->send($gh->build_request('/static/page.html', method => 'HEAD', close => 0)
             . $gh->build_request('/static/hello.txt', close => 1));
    my $r = $c->read_response(head => 1);
    is($r && $r->status, 200, 'HEAD: 200');
    is($r && $r->header('content-length'), length $files{'page.html'},
       'HEAD: Content-Length of the file');
    like($r ? $r->header('content-type') // '' : '', qr{^text/html}, 'HEAD: Content-Type');
    my $r2 = $c->read_response;
    is($r2 && $r2->body, $files{'hello.txt'}, 'HEAD sent no body (next response intact)');
}

# --- Last-Modified / If-Modified-Since ------------------------------------------------
{
    my $r = get('/static/hello.txt');
    is($r->header('last-modified'), $LASTMOD, 'Last-Modified is the file mtime');
    $r = get('/static/hello.txt', headers => [ 'If-Modified-Since' => $LASTMOD ]);
    is($r->status, 304, 'If-Modified-Since = mtime: 304');
    is($r->body, '', '304: no body');
    $r = get('/static/hello.txt',
             headers => [ 'If-Modified-Since' => 'Tue, 31 Dec 2019 00:00:00 GMT' ]);
    is($r->status, 200, 'If-Modified-Since before mtime: 200');
    $r = get('/static/hello.txt', headers => [ 'If-Modified-Since' => 'garbage' ]);
    is($r->status, 200, 'invalid If-Modified-Since ignored: 200');
}

# --- ETag / If-None-Match ---------------------------------------------------------
{
    my $r = get('/static/hello.txt');
    my $etag = $r->header('etag');
    like($etag // '', qr/^(W\/)?"[^"]+"$/, 'ETag present and quoted');
    $r = get('/static/hello.txt', headers => [ 'If-None-Match' => $etag ]);
    is($r->status, 304, 'If-None-Match = ETag: 304');
    is($r->body, '', '304: no body');
    is($r->header('etag'), $etag, '304 repeats the ETag');
    $r = get('/static/hello.txt', headers => [ 'If-None-Match' => "\"x\", $etag" ]);
    is($r->status, 304, 'If-None-Match list containing the ETag: 304');
    $r = get('/static/hello.txt', headers => [ 'If-None-Match' => '"other"' ]);
    is($r->status, 200, 'If-None-Match other: 200');
    $r = get('/static/hello.txt', headers => [ 'If-None-Match' => '"other"',
                                               'If-Modified-Since' => $LASTMOD ]);
    is($r->status, 200, 'If-None-Match mismatch wins over If-Modified-Since');
    my $other = get('/static/page.html')->header('etag');
    isnt($other, $etag, 'different files, different ETags');

    Gatehouse::write_file("$www/hello.txt", "hello again, longer\n");
    utime $MTIME + 60, $MTIME + 60, "$www/hello.txt";
    $r = get('/static/hello.txt', headers => [ 'If-None-Match' => $etag ]);
    is($r->status, 200, 'file changed: old ETag no longer matches');
    is($r->body, "hello again, longer\n", 'file changed: new contents');
    isnt($r->header('etag'), $etag, 'file changed: new ETag');
}

# --- Range ---------------------------------------------------------------------------
{
    my $f = $files{'range.bin'};
    my @cases = (['bytes=0-9', 0, 9], ['bytes=990-', 990, 999], ['bytes=-5', 995, 999],
                 ['bytes=995-2000', 995, 999], ['bytes=100-100', 100, 100]);
    for my $c (@cases) {
        my ($range, $from, $to) = @$c;
        my $r = get('/static/range.bin', headers => [ Range => $range ]);
        is($r->status, 206, "Range $range: 206");
        is($r->header('content-range'), "bytes $from-$to/1000", "Range $range: Content-Range");
        is($r->body, substr($f, $from, $to - $from + 1), "Range $range: bytes");
        is($r->header('content-length'), $to - $from + 1, "Range $range: Content-Length");
    }
    my $r = get('/static/range.bin', headers => [ Range => 'bytes=1000-' ]);
    is($r->status, 416, 'Range past the end: 416');
    is($r->header('content-range'), 'bytes */1000', '416: Content-Range bytes */size');
    $r = get('/static/range.bin');
    like($r->header('accept-ranges') // '', qr/bytes/, 'Accept-Ranges: bytes');
}

# --- index and directories ----------------------------------------------------------
{
    my $r = get('/static/');
    is($r->status, 200, 'directory with slash: 200');
    is($r->body, $files{'index.html'}, 'directory: index.html served');
    like($r->header('content-type') // '', qr{^text/html}, 'index: text/html');
    $r = get('/static/sub/');
    is($r->body, $files{'sub/index.html'}, 'subdirectory index');
    $r = get('/static/sub');
    is($r->status, 301, 'directory without slash: 301');
    like($r->header('location') // '', qr{/static/sub/$}, '301 Location adds the slash');
    $r = get('/static/sub?a=1');
    like($r->header('location') // '', qr{/static/sub/(\?a=1)?$}, '301 keeps the path');
    $r = get('/static/noindex/');
    ok($r->status == 403 || $r->status == 404,
       'directory without index: 403 or 404, no listing');
    unlike($r->body, qr/x\.txt/, 'no directory listing');
}

# --- no escape from the root --------------------------------------------------------
for my $p ('/static/../../secret.txt', '/static/../secret2.txt',
           '/static/%2e%2e/%2e%2e/secret.txt', '/static/%2E%2E/secret2.txt',
           '/static/%2e%2e%2f%2e%2e%2fsecret.txt', '/static/..%2f..%2fsecret.txt',
           '/static/.%2e/.%2e/secret.txt', '/static/sub/../../../secret.txt',
           '/static/%252e%252e/secret2.txt', '/static/..\\..\\secret.txt',
           '/static/./../../secret.txt') {
    my $r = $gh->request("GET $p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ok($r, "$p: answered");
    unlike($r ? $r->body : '', qr/TOPSECRET/, "$p: no file outside the root");
    ok($r && ($r->status < 500), "$p: no server error") or diag($r && $r->status);
}
for my $p ('/static/hello.txt%00.html', '/static/%00', '/static/hello.txt%00') {
    my $r = get($p);
    ok($r && ($r->status == 400 || $r->status == 404), "$p (NUL): 400 or 404")
        or diag($r && $r->status);
}
{
    my $r = get('/static/../../secret.txt');
    ok($r->status == 400 || $r->status == 403 || $r->status == 404 || defined $r->header('x-origin'),
       '.. above the root: refused, or normalised to a path the origin answers');
}

finish();
