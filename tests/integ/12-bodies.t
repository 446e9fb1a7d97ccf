#!/usr/bin/perl
# Bodies both ways: Content-Length and chunked, several MB streamed intact
# (checked by MD5), and streamed rather than held: a worker relaying a large
# response to a client that does not read stays small.

use strict;
use warnings;

use Test::More;
use Digest::MD5 qw(md5_hex);
use JSON::PP;
use Time::HiRes qw(time);
use Gatehouse timeout => 60;
use Origin;

my $o = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . <<'EOF');
limits = { body_size = "64M"; };
upstreams = { app = { keepalive = 8;
              servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF

my $MB = 1024 * 1024;

sub chunked {
    my ($data, @sizes) = @_;
    my $out = '';
    my $i = 0;
    for (my $off = 0; $off < length $data; ) {
        my $n = $sizes[$i++ % @sizes];
        my $piece = substr($data, $off, $n);
        $off += length $piece;
        $out .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
    }
    return $out . "0\r\n\r\n";
}

sub echo_of { my $r = shift; $r ? eval { decode_json($r->body) } // {} : {} }

# --- request bodies ------------------------------------------------------------
{
    my $body = Origin::pattern(5 * $MB);
    my $r = $gh->http_post('/up/cl', $body, timeout => 20);
    is($r && $r->status, 200, '5 MB Content-Length request body: 200');
    my $e = echo_of($r);
    is($e->{body_len}, 5 * $MB, 'origin got 5 MB');
    is($e->{body_md5}, md5_hex($body), 'origin got the same bytes');
}
{
    my $body = Origin::pattern(3 * $MB + 17);
    my $c = $gh->connect(timeout => 20);
    $c->send("POST /up/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             . "Connection: close\r\n\r\n" . chunked($body, 1000, 65536, 7, 300000));
    my $r = $c->read_response(timeout => 20);
    is($r && $r->status, 200, '3 MB chunked request body: 200');
    my $e = echo_of($r);
    is($e->{body_len}, length $body, 'origin got every byte of the chunked body');
    is($e->{body_md5}, md5_hex($body), 'chunked request body intact');
    my $rec = $o->last_request;
    ok(!defined Origin::rec_header($rec, 'Content-Length')
       || !defined Origin::rec_header($rec, 'Transfer-Encoding'),
       'origin got one framing header, not both');
}
{
    # chunk extensions and trailers are legal and must not corrupt the body
    my $c = $gh->connect;
    $c->send("POST /up/ext HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             . "Connection: close\r\n\r\n"
             . "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->status, 200, 'chunk extensions and trailer: 200');
    my $e = echo_of($r);
    is($e->{body} // '', 'hello world', 'chunk extensions and trailer: body intact');
}
{
    my $c = $gh->connect;
    $c->send("POST /up/empty HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             . "Connection: close\r\n\r\n0\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->status, 200, 'empty chunked body: 200');
    is(echo_of($r)->{body_len}, 0, 'empty chunked body: origin got 0 bytes');
}

# --- response bodies -------------------------------------------------------------
for my $case (['Content-Length', ''], ['chunked', '&te=chunked&chunk=30011'],
              ['close-delimited', '&te=close']) {
    my ($name, $q) = @$case;
    my $n = 6 * $MB + 3;
    my $r = $gh->http_get("/down?len=$n$q", timeout => 20);
    is($r && $r->status, 200, "6 MB $name response: 200");
    ok($r && $r->complete, "6 MB $name response: complete");
    is(length($r ? $r->body : ''), $n, "6 MB $name response: length");
    is(md5_hex($r ? $r->body : ''), md5_hex(Origin::pattern($n)),
       "6 MB $name response: bytes intact");
}

# --- both ways at once: echo a chunked 4 MB body back chunked ---------------------
{
    my $body = Origin::pattern(4 * $MB);
    my $c = $gh->connect(timeout => 20);
    my $req = "POST /both?echo=body&te=chunked&chunk=50000 HTTP/1.1\r\nHost: x\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        . chunked($body, 40000);
    $c->send($req, 20);
    my $r = $c->read_response(timeout => 20);
    is($r && $r->status, 200, 'echo 4 MB: 200');
    is(md5_hex($r ? $r->body : ''), md5_hex($body), 'echo 4 MB: bytes intact');
}

# --- streaming: a client that does not read does not make the worker grow -----------
sub rss_kb {
    my ($pid) = @_;
    my $s = Gatehouse::read_file("/proc/$pid/status");
    return $s =~ /^VmRSS:\s+(\d+)/m ? $1 : undef;
}
{
    my @kids = $gh->children;
    is(scalar(@kids), 1, 'one worker');
    my $w = $kids[0];
    my $before = rss_kb($w);
    my $n = 48 * $MB;
    my $c = $gh->connect(timeout => 30);
    $c->send("GET /stream?len=$n HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    # Wait for the head (left in the buffer), then stop reading while the
    # origin pushes 48 MB.
    ok(wait_for(sub { $c->fill(0.1); $c->buffered =~ /\r\n\r\n/ }, 5),
       'large response started');
    my $max = $before;
    my $t_end = time + 1.5;     # a measuring window, not a synchronisation
    wait_for(sub {
        my $v = rss_kb($w) // 0;
        $max = $v if $v > $max;
        return time >= $t_end;
    }, 3, 0.05);
    my $grew = ($max - $before) / 1024;
    cmp_ok($grew, '<', 16,
           sprintf('worker grew %.1f MB while relaying 48 MB to a stalled client', $grew));
    my $r = $c->read_response(timeout => 30);
    is($r && $r->status, 200, 'stalled client then reads the response');
    is(length($r ? $r->body : ''), $n, 'all 48 MB arrive');
    is(md5_hex($r ? $r->body : ''), md5_hex(Origin::pattern($n)), '48 MB intact');
}

finish();
