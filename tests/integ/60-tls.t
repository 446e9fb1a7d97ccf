#!/usr/bin/perl
# TLS termination (issue 4), with 4 workers: SNI picks the site and its
# certificate (RSA or ECDSA by what the client accepts), requests and
# static files over TLS, X-Forwarded-Proto https, HSTS, plain requests
# redirected by redirect_https, sessions resumed on any worker (the shared
# cache and the shared ticket keys), and hostile bytes on the TLS port
# refused with an info line while the daemon keeps serving.
#
# Keys and certificates are made at test time with the openssl command.

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use IO::Select;
use IO::Socket::IP;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);
use Gatehouse timeout => 90;
use Origin;

my $dir = Gatehouse::tmpdir();

sub sh {
    my ($cmd, $secs) = @_;
    my ($rc, $out) = Gatehouse::run_cmd(['/bin/sh', '-c', $cmd], $secs // 20);
    return wantarray ? ($rc, $out) : $out;
}

# A self-signed certificate for NAME with a KIND key (ec or rsa).
sub make_cert {
    my ($name, $kind, $tag) = @_;
    my $k = "$dir/$tag.key";
    my $c = "$dir/$tag.pem";
    my $newkey = $kind eq 'rsa' ? 'rsa:2048' : 'ec -pkeyopt ec_paramgen_curve:P-256';
    my ($rc, $out) = sh("openssl req -x509 -newkey $newkey -nodes -keyout $k -out $c"
                        . " -days 2 -subj /CN=$name -addext subjectAltName=DNS:$name 2>&1");
    die "openssl req: $out" if $rc != 0;
    return ($c, $k);
}

my ($a_ec, $a_ec_key) = make_cert('a.test', 'ec', 'a-ec');
my ($a_rsa, $a_rsa_key) = make_cert('a.test', 'rsa', 'a-rsa');
my ($b_ec, $b_ec_key) = make_cert('b.test', 'ec', 'b-ec');
# A CA, and a client certificate it signed, for site c.test.
my ($ca, $ca_key) = make_cert('test-ca', 'ec', 'ca');
my ($c_ec, $c_ec_key) = make_cert('c.test', 'ec', 'c-ec');
{
    my ($rc, $out) = sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
                        . " -keyout $dir/alice.key -out $dir/alice.csr -subj /CN=alice/O=Example 2>&1"
                        . " && openssl x509 -req -in $dir/alice.csr -CA $ca -CAkey $ca_key"
                        . " -CAcreateserial -days 2 -out $dir/alice.pem 2>&1");
    die "client cert: $out" if $rc != 0;
}
mkdir "$dir/www";
my $big = join '', map { chr(($_ * 7) % 251) } 1 .. 1_500_000;
Gatehouse::write_file("$dir/www/big.bin", $big);

my $o = Origin->new(name => 'o');
my $gh = Gatehouse->new(origins => [$o], conf => Gatehouse::preamble(workers => 4) . <<"EOF");
timeouts = { client_header = "2s"; };
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_https%%" ]; hosts = [ "a.test" ];
            tls = { certificates = ( { cert = "$a_ec"; key = "$a_ec_key"; },
                                     { cert = "$a_rsa"; key = "$a_rsa_key"; } );
                    hsts = "max-age=3600"; };
            routes = ( { path = "/"; upstream = "app"; },
                       { path = "/www/"; root = "$dir"; } ); },
          { listen = [ "127.0.0.1:%%PORT_https%%" ]; hosts = [ "b.test" ];
            tls = { certificates = ( { cert = "$b_ec"; key = "$b_ec_key"; } ); };
            routes = ( { path = "/"; return = { status = 200; body = "site b"; }; } ); },
          { listen = [ "127.0.0.1:%%PORT_https%%" ]; hosts = [ "c.test" ];
            tls = { certificates = ( { cert = "$c_ec"; key = "$c_ec_key"; } );
                    client_ca = "$ca"; verify_client = "optional"; };
            routes = ( { path = "/"; upstream = "app"; } ); },
          { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/metrics"; metrics = true; },
                       { path = "/secure/"; upstream = "app"; redirect_https = true; },
                       { path = "/"; upstream = "app"; } ); } );
EOF
ok(wait_for(sub { $gh->children == 5 }, 10), 'four workers and the checker (it rotates the ticket keys)');
my $P = $gh->port('https');

sub curl {
    my ($args) = @_;
    return sh("curl -sS --max-time 10 --resolve a.test:$P:127.0.0.1 --resolve b.test:$P:127.0.0.1"
              . " --resolve c.test:$P:127.0.0.1 $args 2>&1");
}

# ---- requests over TLS -----------------------------------------------------------
{
    my $out = curl("-i --cacert $a_ec https://a.test:$P/hello");
    like($out, qr{^HTTP/1\.1 200}m, 'GET over TLS (SNI a.test, ECDSA certificate trusted): 200');
    like($out, qr/^Strict-Transport-Security: max-age=3600\r?$/mi, 'hsts sent on TLS responses');
    my $rq = $o->last_request // {};
    my %h = map { (lc $_->[0], $_->[1]) } @{ $rq->{headers} // [] };
    is($h{'x-forwarded-proto'}, 'https', 'X-Forwarded-Proto: https to the backend');
    $out = curl("-i --cacert $b_ec https://b.test:$P/");
    like($out, qr/site b/, 'SNI b.test: site b with its own certificate');
    $out = curl("--cacert $a_rsa --ciphers ECDHE-RSA-AES128-GCM-SHA256 --tls-max 1.2 -o /dev/null -w '%{http_code}' https://a.test:$P/x");
    is($out, '200', 'a client that accepts only RSA gets the RSA certificate of a.test');
    $out = curl("-o /dev/null -o /dev/null -w '%{http_code}' --cacert $a_ec https://a.test:$P/x https://a.test:$P/y");
    is($out, '200200', 'two requests on one kept-alive TLS connection');
    $out = curl("--cacert $a_ec -o $dir/got.bin -w '%{http_code}' https://a.test:$P/www/big.bin");
    is($out, '200', 'a 1.5 MB static file over TLS');
    is(md5_hex(Gatehouse::read_file("$dir/got.bin")), md5_hex($big), '... intact');
    my $body = 'p' x 300_000;
    Gatehouse::write_file("$dir/post.bin", $body);
    $out = curl("--cacert $a_ec --data-binary \@$dir/post.bin -o /dev/null -w '%{http_code}' https://a.test:$P/post");
    is($out, '200', 'a 300 kB POST over TLS');
    is(($o->last_request // {})->{body_len}, length $body, '... reached the origin whole');
}

# ---- client certificates (verify_client = "optional") -------------------------------
{
    my $hdrs = sub {
        my %h = map { (lc $_->[0], $_->[1]) } @{ ($o->last_request // {})->{headers} // [] };
        return \%h;
    };
    my $out = curl("-o /dev/null -w '%{http_code}' --cacert $c_ec --cert $dir/alice.pem"
                   . " --key $dir/alice.key -H 'X-Client-Subject: CN=mallory' https://c.test:$P/cc");
    is($out, '200', 'a client certificate signed by client_ca: 200');
    is($hdrs->()->{'x-client-verify'}, 'SUCCESS', 'X-Client-Verify: SUCCESS to the backend');
    like($hdrs->()->{'x-client-subject'} // '', qr/CN\s*=\s*alice/, 'X-Client-Subject names alice, '
         . 'not what the client claimed');
    $out = curl("-o /dev/null -w '%{http_code}' --cacert $c_ec -H 'X-Client-Verify: SUCCESS'"
                . " https://c.test:$P/nocert");
    is($out, '200', 'optional: no certificate is fine');
    is($hdrs->()->{'x-client-verify'}, 'NONE', '... X-Client-Verify: NONE (the forged one dropped)');
    $out = curl("-o /dev/null -w '%{http_code}' --cacert $a_ec https://a.test:$P/plainsite"
                . " -H 'X-Client-Verify: SUCCESS'");
    is($hdrs->()->{'x-client-verify'}, 'SUCCESS', 'a site without client certificates passes the field on');
    my $mark = $gh->log_mark;
    $out = curl("-o /dev/null -w '%{http_code}' --cacert $a_ec -H 'Host: c.test' https://a.test:$P/sneak");
    is($out, '421', 'handshake for a.test, Host c.test (client certificates): 421');
    ok($gh->wait_log(qr/\[info\].*a Host of another site than its TLS server name/, $mark, 2),
       '... logged');
    $out = curl("-o /dev/null -w '%{http_code}' --cacert $a_ec -H 'Host: b.test' https://a.test:$P/other");
    is($out, '200', 'Host b.test on a handshake for a.test (neither asks for certificates): served');
}

# ---- redirect_https on the plain site ----------------------------------------------
{
    my $r = $gh->http_get('/secure/page?x=1', host => 'a.test');
    is($r->status, 308, 'redirect_https: 308 on plain HTTP');
    is($r->header('location'), 'https://a.test/secure/page?x=1', '... to the https URL');
    is($gh->http_get('/other')->status, 200, 'other plain routes are served');
}

# ---- resumption on any worker ---------------------------------------------------------
for my $case (['TLSv1.3 tickets', '-tls1_3'], ['TLSv1.2 session cache', '-tls1_2 -no_ticket'],
              ['TLSv1.2 tickets', '-tls1_2']) {
    my ($name, $opt) = @$case;
    my $sess = "$dir/sess-" . ($name =~ s/\W+/-/gr);
    # A request, and its answer read: TLS 1.3 tickets come after the
    # handshake, so the client must stay for them.
    my $req = q{printf 'GET /r HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'};
    my $base = "openssl s_client -connect 127.0.0.1:$P -servername a.test -ign_eof $opt";
    sh("$req | $base -sess_out $sess 2>&1", 10);
    my $reused = 0;
    for (1 .. 20) {
        my $out = sh("$req | $base -sess_in $sess 2>&1", 10);
        $reused++ if $out =~ /^Reused, /m && $out =~ m{^HTTP/1\.1 200}m;
    }
    is($reused, 20, "$name: 20 reconnections over 4 workers, all resumed");
}

# ---- close_notify after the last response --------------------------------------
{
    my $out = sh(q{printf 'GET /cn HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'}
                 . " | openssl s_client -connect 127.0.0.1:$P -servername a.test -ign_eof -msg 2>&1", 10);
    like($out, qr/^<<< TLS 1\.3, Alert \[length 0002\], warning close_notify/m,
         'Connection: close: the server ends TLS with close_notify (so clients keep the session)');
}

# ---- the metrics count resumptions ------------------------------------------------
{
    my $m = $gh->http_get('/metrics')->body;
    my ($hits) = $m =~ /^gatehouse_tls_session_cache_events_total\{site="a\.test",event="hit"\} (\d+)$/m;
    my ($cur) = $m =~ /^gatehouse_tls_tickets_total\{event="current"\} (\d+)$/m;
    my ($iss) = $m =~ /^gatehouse_tls_tickets_total\{event="issued"\} (\d+)$/m;
    cmp_ok($hits // 0, '>=', 20, "metrics: session cache hits of a.test (" . ($hits // 'none') . ')');
    cmp_ok($cur // 0, '>=', 40, "metrics: tickets accepted with the current key (" . ($cur // 'none') . ')');
    cmp_ok($iss // 0, '>=', 1, "metrics: tickets issued (" . ($iss // 'none') . ')');
    like($m, qr/^gatehouse_tls_session_cache_sessions\{site="a\.test"\} [1-9]/m, 'metrics: sessions held');
}

# ---- TLS 1.3 tickets are single-use: each resumption must bring a new one ------
{
    my $req = q{printf 'GET /r HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'};
    my $base = "openssl s_client -connect 127.0.0.1:$P -servername a.test -ign_eof -tls1_3";
    sh("$req | $base -sess_out $dir/chain0 2>&1", 10);
    my $reused = 0;
    for my $i (1 .. 6) {
        my $out = sh("$req | $base -sess_in $dir/chain" . ($i - 1) . " -sess_out $dir/chain$i 2>&1", 10);
        $reused++ if $out =~ /^Reused, /m;
    }
    is($reused, 6, 'TLSv1.3: six resumptions in a chain, each with the ticket of the one before');
}

# ---- hostile bytes on the TLS port --------------------------------------------------
{
    my $mark = $gh->log_mark;
    my $c = Gatehouse::Client->new(port => $P);
    $c->send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
    ok(!defined $c->read_response(timeout => 2) && ($c->eof || $c->was_reset),
       'plain HTTP on the TLS port: closed');
    $c->close;
    $c = Gatehouse::Client->new(port => $P);
    $c->send(join '', map { chr(int rand 256) } 1 .. 3000);
    ok(!defined $c->read_response(timeout => 2), 'random bytes: refused');
    $c->close;
    $c = Gatehouse::Client->new(port => $P);
    $c->send("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03");   # a cut ClientHello
    my $t0 = time;
    $c->fill(4);
    my $dt = time - $t0;
    ok($c->eof, sprintf('a truncated ClientHello: closed after the handshake timeout (%.1f s)', $dt));
    $c->close;
    my ($rc, $out) = sh("echo | openssl s_client -connect 127.0.0.1:$P -servername a.test -tls1_1 2>&1", 10);
    like($out, qr/alert protocol version|Cipher is \(NONE\)/, 'a TLS 1.1 client is refused');
    ok($gh->wait_log([qr/\[info\]/, qr/TLS handshake failed: .*, client: 127\.0\.0\.1/], $mark, 3),
       '[info] TLS handshake failed, with the reason and client') or diag($gh->log_since($mark));
    ok($gh->wait_log([qr/\[info\]/, qr/client timed out in the TLS handshake/], $mark, 3),
       '[info] the truncated handshake timed out');
    $out = curl("-o /dev/null -w '%{http_code}' --cacert $a_ec https://a.test:$P/after");
    is($out, '200', 'still serving after all that');
}

# ---- fuzz-style: 400 mangled ClientHellos and random records -------------------
{
    # A real ClientHello, captured from openssl s_client.
    my $ls = IO::Socket::IP->new(LocalHost => '127.0.0.1', LocalPort => 0, Listen => 1)
        or die "listen: $@";
    my $lp = $ls->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        { no warnings 'exec';
          exec '/bin/sh', '-c', "echo | openssl s_client -connect 127.0.0.1:$lp"
                                . " -servername a.test >/dev/null 2>&1"; }
        POSIX::_exit(127);
    }
    my $s = $ls->accept;
    my $hello = '';
    $s->blocking(0);
    my $sel = IO::Select->new($s);
    while ($sel->can_read(2)) {
        my $n = sysread($s, my $b, 65536);
        last unless $n;
        $hello .= $b;
        last if length $hello >= 5 && length $hello >= 5 + unpack('n', substr($hello, 3, 2));
    }
    close $s;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    cmp_ok(length $hello, '>', 100, 'captured a ClientHello (' . length($hello) . ' bytes)');
    my $mark = $gh->log_mark;
    srand(4242);
    my $sent = 0;
    for my $i (1 .. 400) {
        my $m = $hello;
        my $kind = $i % 4;
        if ($kind == 0) {                   # flip a few bytes
            substr($m, int rand length $m, 1) = chr(int rand 256) for 1 .. 1 + int rand 8;
        } elsif ($kind == 1) {              # cut it short
            $m = substr($m, 0, int rand length $m);
        } elsif ($kind == 2) {              # a record header of any length, then noise
            $m = "\x16\x03\x01" . pack('n', int rand 65536)
                 . join('', map { chr(int rand 256) } 1 .. int rand 600);
        } else {                            # the hello, then garbage records
            $m .= join('', map { chr(int rand 256) } 1 .. 1 + int rand 300);
        }
        my $c = Gatehouse::Client->new(port => $P) or next;
        $c->send($m, 1);
        $c->fill(0.02);
        $c->close;
        $sent++;
    }
    is($sent, 400, '400 mangled inputs sent to the TLS port');
    my $out = curl("-o /dev/null -w '%{http_code}' --cacert $a_ec https://a.test:$P/after-fuzz");
    is($out, '200', 'still serving after them');
    my $log = $gh->log_since($mark);
    unlike($log, qr/\[(alert|crit|emerg)\]/, 'no [alert] or worse');
    my $infos = () = $log =~ /\[info\] .*TLS handshake failed: /g;
    cmp_ok($infos, '>=', 100, "handshake failures logged at info ($infos)");
}

# ---- SIGHUP: certificates are read again, the session cache is kept ------------
{
    my $req = q{printf 'GET /r HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'};
    my $base = "openssl s_client -connect 127.0.0.1:$P -servername a.test -ign_eof -tls1_2 -no_ticket";
    sh("$req | $base -sess_out $dir/pre-reload 2>&1", 10);
    my $fp = sub { sh("echo | openssl s_client -connect 127.0.0.1:$P -servername a.test"
                      . " -sigalgs ecdsa_secp256r1_sha256 2>/dev/null"
                      . " | openssl x509 -noout -fingerprint -sha256 2>&1") };
    my $old = $fp->();
    like($old, qr/Fingerprint=/, 'the ECDSA certificate before the reload');
    # A new certificate and key in the same files.
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $a_ec_key.new"
       . " -out $a_ec.new -days 2 -subj /CN=a.test -addext subjectAltName=DNS:a.test 2>&1"
       . " && mv $a_ec_key.new $a_ec_key && mv $a_ec.new $a_ec");
    my $want = sh("openssl x509 -in $a_ec -noout -fingerprint -sha256");
    isnt($want, $old, 'the files now hold another certificate');
    my $mark = $gh->log_mark;
    $gh->signal('HUP');
    ok($gh->wait_log(qr/reloaded: /, $mark, 10), 'reloaded') or diag($gh->log_since($mark));
    # Old workers may take a connection or two until they have seen QUIT.
    ok(wait_for(sub { $fp->() eq $want }, 10), 'new connections get the new certificate');
    is(scalar(grep { $fp->() eq $want } 1 .. 8), 8, '... all of them');
    my $out = sh("$req | $base -sess_in $dir/pre-reload 2>&1", 10);
    like($out, qr/^Reused, /m, 'a session from before the reload resumes after it (the cache is kept)');
}

# ---- ticket rotation: the previous key still resumes, the one before not ------------
my $gk = Gatehouse->new(conf => Gatehouse::preamble(workers => 2) . <<"EOF");
sites = ( { listen = [ "127.0.0.1:%%PORT_https%%" ]; hosts = [ "a.test" ];
            tls = { certificates = ( { cert = "$a_ec"; key = "$a_ec_key"; } );
                    ticket_rotation = "3s"; };
            routes = ( { path = "/"; return = { status = 200; body = "k"; }; } ); } );
EOF
{
    my $K = $gk->port('https');
    my $req = q{printf 'GET /r HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n'};
    my $base = "openssl s_client -connect 127.0.0.1:$K -servername a.test -ign_eof -tls1_3";
    my $sess = "$dir/sess-rot";
    my $rotations = sub { scalar(() = $gk->error_log =~ /\[info\].*TLS session ticket keys rotated/g) };
    my $n0 = $rotations->();
    sh("$req | $base -sess_out $sess 2>&1", 10);
    ok(wait_for(sub { $rotations->() >= $n0 + 1 }, 8), 'the checker rotated the ticket keys ([info] line)');
    # Until the next rotation (then the ticket's key is two behind).
    my ($tried, $reused) = (0, 0);
    my $n1 = $rotations->();
    for (1 .. 20) {
        my $out = sh("$req | $base -sess_in $sess 2>&1", 10);
        last if $rotations->() != $n1;
        $tried++;
        $reused++ if $out =~ /^Reused, /m;
    }
    cmp_ok($tried, '>=', 1, "resumptions tried before the next rotation ($tried)");
    is($reused, $tried, 'after a rotation the ticket still resumes, every time');
    $n1 = $rotations->();
    ok(wait_for(sub { $rotations->() >= $n1 + 2 }, 12), 'two more rotations');
    my $out = sh("$req | $base -sess_in $sess 2>&1", 10);
    like($out, qr/^New, /m, 'a ticket two keys old gets a full handshake');
    like($out, qr{^HTTP/1\.1 200}m, '... and the request is served');
}
$gk->stop(name => 'rotation');

finish();
