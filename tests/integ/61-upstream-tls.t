#!/usr/bin/perl
# TLS to backends (issue 4): an upstream with `tls` talks TLS to its
# servers, sends SNI, verifies their certificates (against `ca`, by the sni
# name, else by address), and reuses pooled connections and TLS sessions.
# The backends are gatehouse daemons with TLS sites; certificates are made
# at test time with the openssl command.

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 60;

my $dir = Gatehouse::tmpdir();

sub sh {
    my ($cmd) = @_;
    my ($rc, $out) = Gatehouse::run_cmd(['/bin/sh', '-c', $cmd], 20);
    return wantarray ? ($rc, $out) : $out;
}

sub make_cert {
    my ($name, $tag) = @_;
    my ($rc, $out) = sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                        . " -keyout $dir/$tag.key -out $dir/$tag.pem -days 2 -subj /CN=$name"
                        . " -addext subjectAltName=DNS:$name 2>&1");
    die "openssl req: $out" if $rc != 0;
    return ("$dir/$tag.pem", "$dir/$tag.key");
}
my ($b1, $b1k) = make_cert('b1.test', 'b1');
my ($b2, $b2k) = make_cert('b2.test', 'b2');

# Backends: one keeps connections alive, one closes after each response.
my %be;
for my $kind ('ka', 'close') {
    my $limits = $kind eq 'close' ? 'limits = { keepalive_requests = 1; };' : '';
    $be{$kind} = Gatehouse->new(conf => Gatehouse::preamble(workers => 1) . <<"EOF");
$limits
sites = ( { listen = [ "127.0.0.1:%%PORT_https%%" ]; hosts = [ "b1.test" ];
            tls = { certificates = ( { cert = "$b1"; key = "$b1k"; } ); };
            routes = ( { path = "/"; return = { status = 200; body = "b1 $kind"; }; } ); },
          { listen = [ "127.0.0.1:%%PORT_https%%" ]; hosts = [ "b2.test" ];
            tls = { certificates = ( { cert = "$b2"; key = "$b2k"; } ); };
            routes = ( { path = "/"; return = { status = 200; body = "b2 $kind"; }; } ); } );
EOF
}
my $KA = $be{ka}->port('https');
my $CL = $be{close}->port('https');

my $gh = Gatehouse->new(conf => Gatehouse::preamble(workers => 1, log_level => '"debug"') . <<"EOF");
upstreams = {
  v1 = { servers = ( { address = "127.0.0.1:$KA"; } );
         tls = { ca = "$b1"; sni = "b1.test"; }; };
  v2 = { servers = ( { address = "127.0.0.1:$KA"; } );
         tls = { ca = "$b2"; sni = "b2.test"; }; };
  wrongca = { servers = ( { address = "127.0.0.1:$KA"; } );
              tls = { ca = "$b2"; sni = "b1.test"; }; };
  noverify = { servers = ( { address = "127.0.0.1:$KA"; } );
               tls = { verify = false; ca = "$b2"; sni = "b1.test"; }; };
  byaddr = { servers = ( { address = "127.0.0.1:$KA"; } );
             tls = { ca = "$b1"; }; };
  resume = { servers = ( { address = "127.0.0.1:$CL"; } );
             tls = { ca = "$b1"; sni = "b1.test"; }; };
  checked = { servers = ( { address = "127.0.0.1:$KA"; },
                          { address = "127.0.0.1:%%PORT_http%%"; } );
              tls = { ca = "$b1"; sni = "b1.test"; };
              health = { path = "/"; interval = "300ms"; timeout = "300ms";
                         rise = 1; fall = 1; }; };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/v1/"; upstream = "v1"; },
                       { path = "/v2/"; upstream = "v2"; },
                       { path = "/wrongca/"; upstream = "wrongca"; },
                       { path = "/noverify/"; upstream = "noverify"; },
                       { path = "/byaddr/"; upstream = "byaddr"; },
                       { path = "/resume/"; upstream = "resume"; } ); } );
EOF

sub lines { my ($mark, $re) = @_; scalar(() = $gh->log_since($mark) =~ /$re/g) }

{
    my $r = $gh->http_get('/v1/x');
    is($r->status, 200, 'TLS to a backend, verified against ca by the sni name: 200');
    is($r->body, 'b1 ka', '... SNI b1.test chose the backend site b1');
    # The certificate verified against b2's own: SNI chose site b2 (the
    # backend routes by Host, which says b2.test here).
    $r = $gh->http_get('/v2/x', host => 'b2.test');
    is($r->status, 200, 'sni = "b2.test": b2\'s certificate, verified');
    is($r->body, 'b2 ka', '... and Host b2.test reaches site b2');
    my $mark = $gh->log_mark;
    $r = $gh->http_get('/wrongca/x');
    is($r->status, 502, 'a certificate the ca did not sign: 502');
    ok($gh->wait_log([qr/\[error\]/, qr/TLS handshake with upstream failed: certificate: /,
                      qr/upstream: wrongca/], $mark, 2), '[error] says the certificate failed')
        or diag($gh->log_since($mark));
    $r = $gh->http_get('/noverify/x');
    is($r->status, 200, 'verify = false: the same certificate is taken');
    $r = $gh->http_get('/byaddr/x');
    is($r->status, 502, 'no sni: the certificate must be for the address (it is not): 502');
}
{
    # Pooled: ten requests, one TLS handshake (one worker).
    my $mark = $gh->log_mark;
    is($gh->http_get('/v1/p')->status, 200, 'warm-up') for 1;
    $mark = $gh->log_mark;
    my $ok = grep { $gh->http_get("/v1/p$_")->status == 200 } 1 .. 10;
    is($ok, 10, 'ten more requests');
    is(lines($mark, qr/TLS to upstream: /), 0, '... on the pooled TLS connection: no new handshake');
}
{
    # Resumed: the backend closes after each response, so each request is a
    # new connection; all but the first resume the session.
    my $mark = $gh->log_mark;
    my $ok = grep { $gh->http_get("/resume/r$_")->status == 200 } 1 .. 10;
    is($ok, 10, 'ten requests to a backend that closes after each');
    my $hs = lines($mark, qr/TLS to upstream: /);
    my $res = lines($mark, qr/TLS to upstream: [^\n]*, resumed/);
    cmp_ok($hs, '>=', 10, "... each on a new TLS connection ($hs handshakes)");
    cmp_ok($res, '>=', $hs - 1, "... all but the first resumed ($res)")
        or diag(join "\n", grep { /TLS to upstream/ } split /\n/, $gh->log_since($mark));
}

{
    # Health checks over TLS: the TLS backend passes, a plain HTTP port
    # (ours) fails the handshake and goes down.
    my $plain = "127.0.0.1:" . $gh->port('http');
    ok($gh->wait_log([qr/\[warn\]/, qr/upstream checked server \Q$plain\E is down \(health check: TLS handshake failed/],
                     0, 5), 'a server that does not speak TLS: down, the handshake failed')
        or diag($gh->error_log);
    ok(wait_for(sub { $be{ka}->access_log =~ m{"GET / HTTP/1\.1" 200 } }, 5),
       'the checks reach the TLS backend (its access log has them)');
    unlike($gh->error_log, qr/upstream checked server 127\.0\.0\.1:$KA is down/,
           'the TLS backend passes its checks (http over TLS)');
    like($gh->error_log, qr/health check of upstream checked server \Q$plain\E failed/,
         '[info] each failed check says why');
}

finish();
