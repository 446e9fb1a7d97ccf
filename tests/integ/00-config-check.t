#!/usr/bin/perl
# gatehouse -t -c FILE: exit 0 on a good config, 1 with "FILE:LINE: ..." on a
# bad one; -v and -h.

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 30;

my $bin = Gatehouse::bin();
my $gh = Gatehouse->new();      # only for its temp dir and ports
my $dir = $gh->dir;
my $lport = $gh->port('http');

# Each config is written to its own file; returns the path.
my $n = 0;
sub conf_file {
    my ($text) = @_;
    my $f = "$dir/c" . ++$n . ".conf";
    $gh->write_conf($text, $f);
    return $f;
}

sub check {
    my ($file) = @_;
    return Gatehouse::run_cmd([$bin, '-t', '-c', $file], 10);
}

my $good = <<'EOF';
workers = 2;
pid_file = "%%TMP%%/t.pid";
error_log = "%%TMP%%/t-error.log";
log_level = "info";
access_log = "%%TMP%%/t-access.log";
timeouts = { client_header = "10s"; client_body = "60s"; keepalive = "75s";
             upstream_connect = "5s"; upstream_read = "60s";
             upstream_send = "60s"; tunnel = "300s"; shutdown = "30s"; };
limits = { header_size = "16k"; headers = 100; body_size = "10M";
           connections = 10000; uri_size = "8k"; keepalive_requests = 1000; };
upstreams = {
  app = { keepalive = 32;
          servers = ( { address = "127.0.0.1:9001"; weight = 3; },
                      { address = "127.0.0.1:9002"; } ); };
};
sites = (
  { listen = [ "127.0.0.1:%%PORT_http%%" ];
    hosts = [ "example.com", "*.example.com" ];
    routes = ( { path = "/static/"; root = "%%TMP%%"; index = "index.html"; },
               { path = "/"; upstream = "app"; } ); }
);
EOF

{
    my $f = conf_file($good);
    my ($rc, $out) = check($f);
    is($rc, 0, 'good config: -t exits 0') or diag($out);
    ok(!-e "$dir/t.pid", '-t writes no pid file');
    ok(!IO::Socket::IP->new(PeerHost => '127.0.0.1', PeerPort => $lport,
                            Proto => 'tcp', Timeout => 1),
       '-t leaves nothing listening');
}

{
    my $f = conf_file(<<'EOF');
workers = "auto";
pid_file = "off";
error_log = "stderr";
access_log = "off";
upstreams = { app = { servers = ( { address = "127.0.0.1:9001"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF
    my ($rc, $out) = check($f);
    is($rc, 0, 'minimal config with "auto" and "off" values: exits 0')
        or diag($out);
}

# Bad configs: [name, text, line the message must name, regexes on output]
my @bad = (
    ['syntax error', <<'EOF', 3, [qr/syntax|parse|unexpected/i]],
workers = 1;
error_log = "stderr";
access_log = = "off";
EOF
    ['unknown key with a suggestion', <<'EOF', 2, [qr/wrokers/, qr/did you mean.*workers/i]],
error_log = "stderr";
wrokers = 2;
EOF
    ['unknown key in a section', <<'EOF', 3, [qr/client_heeder/]],
error_log = "stderr";
timeouts = {
  client_heeder = "10s";
};
EOF
    ['bad size unit', <<'EOF', 3, [qr/header_size/, qr/16q/]],
error_log = "stderr";
limits = {
  header_size = "16q";
};
EOF
    ['bad duration', <<'EOF', 2, [qr/upstream_read/, qr/10x/]],
error_log = "stderr";
timeouts = { upstream_read = "10x"; };
EOF
    ['value out of range', <<'EOF', 2, [qr/headers/, qr/range|too (small|large|low)|between|at least|minimum/i]],
error_log = "stderr";
limits = { headers = 0; };
EOF
    ['wrong type', <<'EOF', 2, [qr/workers/]],
error_log = "stderr";
workers = [ 1, 2 ];
EOF
    ['route names an unknown upstream', <<'EOF', 5, [qr/nosuch/]],
error_log = "stderr";
upstreams = { app = { servers = ( { address = "127.0.0.1:9001"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = (
              { path = "/"; upstream = "nosuch"; } ); } );
EOF
    ['bad server address', <<'EOF', 3, [qr/address|127\.0\.0\.1:99999/i]],
error_log = "stderr";
upstreams = { app = { servers = (
  { address = "127.0.0.1:99999"; } ); }; };
EOF
    ['bad listen address', <<'EOF', 3, [qr/listen|not-an-address/i]],
error_log = "stderr";
upstreams = { app = { servers = ( { address = "127.0.0.1:9001"; } ); }; };
sites = ( { listen = [ "not-an-address" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF
    ['route with neither upstream nor root', <<'EOF', 4, [qr/upstream|root/]],
error_log = "stderr";
upstreams = { app = { servers = ( { address = "127.0.0.1:9001"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; } ); } );
EOF
    ['bad log level', <<'EOF', 2, [qr/log_level/, qr/loud/]],
error_log = "stderr";
log_level = "loud";
EOF
);

for my $b (@bad) {
    my ($name, $text, $line, $res) = @$b;
    my $f = conf_file($text);
    my ($rc, $out) = check($f);
    is($rc, 1, "$name: -t exits 1");
    like($out, qr/\Q$f\E:$line:/, "$name: message names $f:$line")
        or diag($out);
    for my $re (@$res) {
        like($out, $re, "$name: message matches $re");
    }
}

{
    my ($rc, $out) = check("$dir/does-not-exist.conf");
    is($rc, 1, 'missing config file: exits 1');
    like($out, qr/does-not-exist\.conf/, 'missing config file: named')
        or diag($out);
}

{
    my ($rc, $out) = Gatehouse::run_cmd([$bin, '-v'], 10);
    is($rc, 0, '-v exits 0');
    like($out, qr/gatehouse/i, '-v names the program');
    like($out, qr/\d+\.\d+/, '-v prints a version number');
}

{
    my ($rc, $out) = Gatehouse::run_cmd([$bin, '-h'], 10);
    is($rc, 0, '-h exits 0');
    like($out, qr/-c\b/, '-h mentions -c');
    like($out, qr/-t\b/, '-h mentions -t');
    like($out, qr/-s\b/, '-h mentions -s');
}

{
    my ($rc, $out) = Gatehouse::run_cmd([$bin, '-Z'], 10);
    ok($rc != 0 && $rc != -1, 'unknown option: exits non-zero');
    like($out, qr/usage|-c\b/i, 'unknown option: prints usage');
}

finish();
