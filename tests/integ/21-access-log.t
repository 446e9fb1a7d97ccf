#!/usr/bin/perl
# Access log: combined format plus upstream address, upstream response time
# and request time:
#   $remote_addr - - [$time_local] "$request" $status $body_bytes_sent
#   "$http_referer" "$http_user_agent" upstream=$upstream_addr
#   ut=$upstream_response_time rt=$request_time cache=$cache_status

use strict;
use warnings;

use Test::More;
use Time::Local qw(timegm);
use Gatehouse timeout => 30;
use Origin;

my $o = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . <<'EOF');
upstreams = {
  app  = { servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); };
  dead = { servers = ( { address = "127.0.0.1:%%PORT_dead%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/static/"; root = "%%TMP%%/www"; },
                       { path = "/dead/"; upstream = "dead"; },
                       { path = "/"; upstream = "app"; } ); } );
EOF
mkdir $gh->dir . "/www";
mkdir $gh->dir . "/www/static";
Gatehouse::write_file($gh->dir . "/www/static/f.txt", "0123456789");

my $oport = $o->port;
my $dead = $gh->port('dead');
my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5, Jul => 6,
           Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
my $LINE = qr{^(\S+) - - \[(\d\d)/(\w\w\w)/(\d{4}):(\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" upstream=(\S+) ut=(\S+) rt=(\d+\.\d{3}) cache=(\S+)$};

# Make requests, wait for N new lines, return them parsed.
my $seen = 0;
sub next_lines {
    my ($n) = @_;
    my @l = $gh->wait_access_lines($seen + $n, 3);
    my @new = @l[$seen .. $#l];
    $seen = @l;
    is(scalar(@new), $n, "$n new access log line(s)");
    return map {
        my @f = $_ =~ $LINE;
        ok(@f, 'line in the documented format') or diag($_);
        my %f;
        @f{qw(addr d mon y H M S sign tzh tzm request status bytes referer ua upstream ut rt)} = @f;
        $f{line} = $_;
        \%f;
    } @new;
}

# --- proxied request ----------------------------------------------------------------
{
    my $r = $gh->http_get('/a/b?c=d', headers => [ 'Referer' => 'http://ref.example/x',
                                                 'User-Agent' => 'TestAgent/1.0' ]);
    is($r->status, 200, 'proxied request: 200');
    my ($f) = next_lines(1);
    is($f->{addr}, '127.0.0.1', 'remote address');
    is($f->{request}, 'GET /a/b?c=d HTTP/1.1', 'request line');
    is($f->{status}, 200, 'status');
    is($f->{bytes}, length $r->body, 'body bytes sent');
    is($f->{referer}, 'http://ref.example/x', 'referer');
    is($f->{ua}, 'TestAgent/1.0', 'user agent');
    like($f->{upstream}, qr{^(?:app/)?127\.0\.0\.1:$oport$}, 'upstream address');
    like($f->{ut}, qr/^\d+\.\d{3}$/, 'upstream time in seconds, 3 decimals');
    my $t = eval { timegm($f->{S}, $f->{M}, $f->{H}, $f->{d}, $MON{ $f->{mon} }, $f->{y}) };
    my $off = ($f->{sign} eq '-' ? -1 : 1) * ($f->{tzh} * 3600 + $f->{tzm} * 60);
    ok(defined $t && abs(($t - $off) - time) < 60, 'time_local is now');
}

# --- times: a slow origin -------------------------------------------------------------
{
    my $r = $gh->http_get('/slow?hdelay=0.4');
    is($r->status, 200, 'slow request: 200');
    my ($f) = next_lines(1);
    cmp_ok($f->{ut}, '>=', 0.35, 'upstream time covers the origin delay');
    cmp_ok($f->{ut}, '<', 3, 'upstream time sane');
    cmp_ok($f->{rt}, '>=', $f->{ut}, 'request time >= upstream time');
    cmp_ok($f->{rt}, '<', 3, 'request time sane');
}

# --- no referer or agent; HEAD; static; errors ----------------------------------------------
{
    $gh->request("GET /bare HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    my ($f) = next_lines(1);
    is($f->{referer}, '-', 'no Referer: "-"');
    is($f->{ua}, '-', 'no User-Agent: "-"');

    $gh->http_head('/head?len=500');
    ($f) = next_lines(1);
    is($f->{request}, 'HEAD /head?len=500 HTTP/1.1', 'HEAD logged');
    is($f->{bytes}, 0, 'HEAD: 0 body bytes');

    my $r = $gh->http_get('/static/f.txt');
    is($r->status, 200, 'static: 200');
    ($f) = next_lines(1);
    is($f->{status}, 200, 'static: status');
    is($f->{bytes}, 10, 'static: body bytes');
    is($f->{upstream}, '-', 'static: upstream "-"');
    is($f->{ut}, '-', 'static: upstream time "-"');

    $r = $gh->http_get('/static/missing');
    ($f) = next_lines(1);
    is($f->{status}, 404, '404 logged');

    $r = $gh->http_get('/dead/x');
    is($r->status, 502, 'dead upstream: 502');
    ($f) = next_lines(1);
    is($f->{status}, 502, '502 logged');
    like($f->{upstream}, qr{127\.0\.0\.1:$dead}, '502: upstream address tried');

    $gh->request("GET / HTTP/1.1\r\nHost: x\r\nbroken header\r\n\r\n");
    ($f) = next_lines(1);
    is($f->{status}, 400, '400 logged');
}

# --- quotes and control bytes in fields cannot break the line -------------------------------
{
    $gh->http_get('/q', headers => [ 'User-Agent' => 'evil" "x" upstream=fake' ]);
    my ($f) = next_lines(1);
    unlike($f->{line}, qr/evil" "x"/, 'quote in User-Agent escaped');
    like($f->{upstream}, qr/127\.0\.0\.1:$oport/, 'fields after it still parse');

    $gh->request("GET /ctl\x01\x1b[31m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ($f) = next_lines(1);
    unlike($f->{line}, qr/[\x00-\x1f\x7f]/, 'control bytes in the request escaped');
}

# --- keep-alive: one line per request ---------------------------------------------------------
{
    my $c = $gh->connect;
    $c->send(join '', map { $gh->build_request("/k$_", close => $_ == 3) } 1 .. 3);
    $c->read_response for 1 .. 3;
    my @f = next_lines(3);
    is_deeply([ map { $_->{request} } @f ],
              [ map { "GET /k$_ HTTP/1.1" } 1 .. 3 ], 'one line per pipelined request, in order');
}

finish();
