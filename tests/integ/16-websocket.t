#!/usr/bin/perl
# Upgrade (WebSocket-style): 101 relayed, then a two-way byte tunnel, closed
# from either side, with an idle timeout (timeouts.tunnel).

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 30;
use Origin;

my $o = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble() . <<'EOF');
timeouts = { tunnel = "1s"; };
upstreams = { app = { keepalive = 8;
              servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF

my $UPGRADE = "GET /ws?act=upgrade HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    . "Sec-WebSocket-Version: 13\r\n\r\n";

sub open_tunnel {
    my $c = $gh->connect;
    $c->send($UPGRADE);
    my $r = $c->read_response;
    return ($c, $r);
}

# --- 101 and the tunnel, both directions --------------------------------------
{
    my ($c, $r) = open_tunnel();
    is($r && $r->status, 101, '101 relayed');
    is($r && lc($r->header('upgrade') // ''), 'websocket', 'Upgrade header relayed');
    like($r ? $r->header('connection') // '' : '', qr/upgrade/i,
         'Connection: Upgrade relayed');
    my $rec = $o->last_request;
    is(lc(Origin::rec_header($rec, 'Upgrade') // ''), 'websocket',
       'origin got Upgrade');
    like(Origin::rec_header($rec, 'Connection') // '', qr/upgrade/i,
         'origin got Connection: upgrade');
    is(Origin::rec_header($rec, 'Sec-WebSocket-Key'), 'dGhlIHNhbXBsZSBub25jZQ==',
       'origin got Sec-WebSocket-Key');

    is($c->read_until(qr/\n/, 3), "welcome\n", 'origin -> client bytes without a request');
    $c->send("ping\n");
    is($c->read_until(qr/ping\n/, 3), "ping\n", 'client -> origin -> client');

    # 512 KiB in 16 KiB pieces, each echoed before the next goes.
    my $ok = 1;
    for my $i (0 .. 31) {
        my $piece = substr(Origin::pattern(600 * 1024), $i * 16384, 16384);
        $c->send($piece) or do { $ok = 0; last };
        my $back = $c->read_bytes(16384, 5);
        if (!defined $back || $back ne $piece) { $ok = 0; last }
    }
    ok($ok, '512 KiB through the tunnel both ways, intact');

    # Binary bytes that look like HTTP must not be parsed.
    my $bin = "GET / HTTP/1.1\r\n\r\n\x00\xff\r\n0\r\n\r\n";
    $c->send($bin);
    is($c->read_bytes(length $bin, 3), $bin, 'bytes that look like HTTP pass as data');

    $c->send("quit\n");
    is($c->read_until(qr/bye\n/, 3), "quit\nbye\n", 'origin closes after bye');
    ok($c->wait_closed(3), 'origin close reaches the client');
}

# --- the client closes: the origin side goes too -------------------------------------
{
    my ($c, $r) = open_tunnel();
    is($r && $r->status, 101, 'second tunnel: 101');
    $c->read_until(qr/\n/, 3);
    $c->close;
    # The origin's connection process exits when the proxy closes its side.
    ok(wait_for(sub { ($gh->http_get('/probe') // return 0)->status == 200 }, 3),
       'still serving after a client closed its tunnel');
}

# --- idle tunnel closed after timeouts.tunnel -----------------------------------------
{
    my ($c, $r) = open_tunnel();
    is($r && $r->status, 101, 'idle tunnel: 101');
    $c->read_until(qr/\n/, 3);
    my $t0 = time;
    ok($c->wait_closed(5), 'idle tunnel closed');
    my $dt = time - $t0;
    cmp_ok($dt, '>=', 0.7, 'idle tunnel: not closed before timeouts.tunnel (1s)');
    cmp_ok($dt, '<', 3.5, 'idle tunnel: closed soon after timeouts.tunnel (1s)');
}

# --- an active tunnel outlives timeouts.tunnel ------------------------------------------
{
    my ($c, $r) = open_tunnel();
    is($r && $r->status, 101, 'busy tunnel: 101');
    $c->read_until(qr/\n/, 3);
    my $alive = 1;
    my $t_end = time + 2.2;
    my $i = 0;
    while (time < $t_end) {
        $c->send("tick$i\n");
        my $back = $c->read_until(qr/tick$i\n/, 2);
        if (!defined $back) { $alive = 0; last }
        $i++;
        $c->fill(0.3);      # pace the traffic: one message per ~300 ms
    }
    ok($alive, "tunnel with traffic every 300 ms survives 2.2 s ($i messages)");
    $c->close;
}

# --- Upgrade refused by the origin: plain response, connection stays HTTP --------------
{
    my $c = $gh->connect;
    $c->send("GET /noup HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             . "Connection: Upgrade\r\n\r\n");
    my $r = $c->read_response;
    is($r && $r->status, 200, 'origin ignores Upgrade: 200 relayed');
    $c->send($gh->build_request('/after-noup', close => 1));
    my $r2 = $c->read_response;
    is($r2 && $r2->status, 200, 'connection still speaks HTTP afterwards');
    like($r2 ? $r2->body : '', qr{"uri":"/after-noup"}, 'and answers the next request');
}

finish();
