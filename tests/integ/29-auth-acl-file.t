#!/usr/bin/perl
# auth_basic (site, and a route's replacing it): 401 with WWW-Authenticate
# and a log line without or with wrong credentials, the request passes with
# right ones (sha512-crypt and yescrypt hashes made here with crypt());
# acl_file (site and route): its rules take the key's place among allow
# and deny, first match wins.  Both files are read again on SIGHUP: a
# changed password or rule is in effect after the reload, a broken file
# fails the reload (the old config goes on).  Refused at load: weak hash
# formats, a missing or malformed ACL file, with file and line.
# Clients come from 127.0.0.1, 127.0.0.2 and 127.0.0.3 (all loopback).

use strict;
use warnings;

use MIME::Base64 qw(encode_base64);
use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 40;
use Origin;

my $T0 = time;
my $o = Origin->new(name => 'o');
my $gh = Gatehouse->new(origins => [$o], start => 0,
                        conf => Gatehouse::preamble(workers => 1) . <<'EOF');
timeouts = { shutdown = "1s"; };
upstreams = { app = { servers = ( { address = "127.0.0.1:%%ORIGIN_o%%"; } ); }; };
sites = (
  { listen = [ "127.0.0.1:%%PORT_http%%" ];
    auth_basic = { realm = "staff"; file = "htpasswd"; };
    routes = ( { path = "/"; upstream = "app"; },
               { path = "/ops/"; upstream = "app";
                 auth_basic = { realm = "ops"; file = "ops.htpasswd"; }; } ); },
  { listen = [ "127.0.0.1:%%PORT_acl%%" ];
    acl_file = "site-acl.txt";
    routes = ( { path = "/"; upstream = "app"; },
               { path = "/acl/"; upstream = "app"; acl_file = "acl.txt"; },
               { path = "/before/"; upstream = "app";
                 allow = "127.0.0.2"; acl_file = "acl.txt"; },
               { path = "/after/"; upstream = "app";
                 acl_file = "acl.txt"; allow = "127.0.0.2"; } ); } );
EOF
my $dir = $gh->dir;

my $n = 0;
sub salt { sprintf '%016d', ++$n }     # crypt64 characters
sub sha512 { my ($pw) = @_; crypt($pw, '$6$' . salt() . '$') }
my $yes = crypt('hunter2', '$y$j9T$' . salt() . '$');
my $HAVE_YESCRYPT = defined $yes && $yes =~ /^\$y\$j9T\$[^\$]+\$[.\/0-9A-Za-z]{43}$/;

sub put { Gatehouse::write_file("$dir/$_[0]", $_[1]) }
put('htpasswd', "# staff\nalice:" . sha512('secret') . "\n"
    . ($HAVE_YESCRYPT ? "bob:$yes\n" : ''));
put('ops.htpasswd', "carol:" . sha512('ops-pw') . "\r\n");
put('acl.txt', "# local only\nallow 127.0.0.1/32;\n\ndeny all   # the rest\n");
put('site-acl.txt', "deny 127.0.0.3\n");
$gh->start;

sub basic { 'Basic ' . encode_base64($_[0], '') }

# GET PATH on PORT from SRC with HEADERS; the response.
sub req {
    my ($path, %a) = @_;
    my $c = Gatehouse::Client->new(port => $gh->port($a{port} // 'http'),
                                   local => $a{src} // '127.0.0.1')
        or die "connect: $@";
    $c->send($gh->build_request($path, method => $a{method} // 'GET',
                                headers => $a{headers} // []));
    my $r = $c->read_response(head => ($a{method} // '') eq 'HEAD');
    $c->close;
    return $r;
}
sub st { my $r = req(@_); $r ? $r->status : 'no response' }
sub as { my ($user, $path, %a) = @_; st($path, %a, headers => [ Authorization => basic($user) ]) }

# ---- auth_basic ------------------------------------------------------------
{
    my $n0 = $o->count;
    my $mark = $gh->log_mark;
    my $r = req('/x');
    is($r->status, 401, 'no credentials: 401');
    is($r->header('www-authenticate'), 'Basic realm="staff", charset="UTF-8"',
       '... WWW-Authenticate with the realm');
    like($gh->wait_log(qr/no credentials/, $mark) // '',
         qr/\[info\].*no credentials for realm "staff".*client: 127\.0\.0\.1/,
         '... logged at info with the client');
    $mark = $gh->log_mark;
    is(as('alice:wrong', '/x'), 401, 'wrong password: 401');
    like($gh->wait_log(qr/authentication failed/, $mark) // '',
         qr/\[error\].*authentication failed for realm "staff"/,
         '... logged at error');
    is(as('mallory:secret', '/x'), 401, 'unknown user: 401');
    is(st('/x', headers => [ Authorization => 'Basic !!!!' ]), 401,
       'not base64: 401');
    is(st('/x', headers => [ Authorization => 'Bearer abc' ]), 401,
       'another scheme: 401');
    is(as('alice:', '/x'), 401, 'empty password: 401');
    $r = req('/x', method => 'HEAD');
    is($r->status, 401, 'HEAD: 401 too');
    is($o->count, $n0, 'nothing reached the backend');

    is(as('alice:secret', '/x'), 200, 'alice (sha512-crypt): 200');
    is(($o->last_request)->{uri}, '/x', '... proxied');
    is(st('/x', headers => [ Authorization => 'basic '
                             . encode_base64('alice:secret', '') ]), 200,
       'the scheme name in any case');
    SKIP: {
        skip 'no yescrypt in this crypt()', 2 unless $HAVE_YESCRYPT;
        is(as('bob:hunter2', '/x'), 200, 'bob (yescrypt): 200');
        is(as('bob:hunter3', '/x'), 401, 'bob, wrong password: 401');
    }

    # a route's auth_basic replaces the site's
    $r = req('/ops/x', headers => [ Authorization => basic('alice:secret') ]);
    is($r->status, 401, "/ops/: the site's user is not the route's");
    is($r->header('www-authenticate'), 'Basic realm="ops", charset="UTF-8"',
       "/ops/: the route's realm");
    is(as('carol:ops-pw', '/ops/x'), 200, '/ops/: carol (CRLF file): 200');
    is(as('carol:ops-pw', '/x'), 401, '... but not on the site\'s routes');

    # keep-alive after a 401 without a body
    my $c = $gh->connect;
    $c->send($gh->build_request('/k1', close => 0));
    is($c->read_response->status, 401, 'keep-alive: 401');
    $c->send($gh->build_request('/k2', close => 0,
                                headers => [ Authorization => basic('alice:secret') ]));
    $r = $c->read_response;
    is($r && $r->status, 200, 'keep-alive: then 200 on the same connection');
    $c->close;
}

# ---- acl_file -----------------------------------------------------------------
{
    my %a = (port => 'acl');
    my $mark = $gh->log_mark;
    is(st('/acl/x', %a), 200, 'acl_file: 127.0.0.1 allowed');
    is(st('/acl/x', %a, src => '127.0.0.2'), 403, 'acl_file: 127.0.0.2 denied '
       . '(deny all)');
    like($gh->wait_log(qr/client: 127\.0\.0\.2/, $mark) // '',
         qr/\[error\].*access forbidden by rule/, '... logged');
    is(st('/before/x', %a, src => '127.0.0.2'), 200,
       'allow key before the file: it comes first');
    is(st('/after/x', %a, src => '127.0.0.2'), 403,
       'allow key after the file: the file\'s deny all first');
    is(st('/after/x', %a), 200, '... 127.0.0.1 allowed by the file');
    is(st('/x', %a, src => '127.0.0.3'), 403, "site acl_file: 127.0.0.3 denied");
    is(st('/acl/x', %a, src => '127.0.0.3'), 403, '... on every route');
    is(st('/x', %a, src => '127.0.0.2'), 200,
       'site acl_file of denies only: others allowed');
}

# ---- SIGHUP: the files are read again ---------------------------------------------
sub reload {
    my ($what) = @_;
    my $mark = $gh->log_mark;
    $gh->signal('HUP');
    ok($gh->wait_log(qr/reloaded: /, $mark, 10), "$what: reloaded")
        or diag($gh->log_since($mark));
}

{
    put('htpasswd', "alice:" . sha512('newpass') . "\n");
    put('acl.txt', "allow 127.0.0.2/32\ndeny all\n");
    reload('changed files');
    # An old worker may take a connection or two until it has seen its
    # QUIT: poll for the new files, then they must hold.
    my $new = sub {
        as('alice:newpass', '/x') == 200 && as('alice:secret', '/x') == 401
            && st('/acl/x', port => 'acl', src => '127.0.0.2') == 200
            && st('/acl/x', port => 'acl') == 403
    };
    ok(wait_for($new, 5), 'the new password and rule are in effect');
    for (1 .. 3) {
        is(as('alice:newpass', '/x'), 200, "new password: 200 ($_)");
        is(as('alice:secret', '/x'), 401, "old password: 401 ($_)");
    }
    is(st('/acl/x', port => 'acl', src => '127.0.0.2'), 200,
       'new rule: 127.0.0.2 allowed');
    is(st('/acl/x', port => 'acl'), 403, 'new rule: 127.0.0.1 denied');
    is(st('/after/x', port => 'acl', src => '127.0.0.2'), 200,
       'a route sharing the file: new rule too');
}
{
    my $mark = $gh->log_mark;
    put('htpasswd', "alice:" . sha512('third') . "\n"
        . "dave:\$apr1\$abcdefgh\$0123456789abcdefghijkl\n");
    $gh->signal('HUP');
    my $err = $gh->wait_log(qr/reload failed/, $mark, 10);
    like($err // '', qr/\[error\].*gatehouse\.conf:\d+: sites\[0\]\.auth_basic\.file: \Q$dir\E\/htpasswd:2: user "dave": MD5 \(\$apr1\$\) hashes are refused/,
         'an $apr1$ hash: reload failed, naming both files and lines');
    is(as('alice:newpass', '/x'), 200, '... the previous passwords go on');
    is(as('alice:third', '/x'), 401, '... the new file is not used');

    $mark = $gh->log_mark;
    put('htpasswd', "alice:" . sha512('newpass') . "\n");
    put('acl.txt', "allow 127.0.0.1\npermit 127.0.0.2\n");
    $gh->signal('HUP');
    $err = $gh->wait_log(qr/reload failed/, $mark, 10);
    like($err // '', qr/\[error\].*\Q$dir\E\/acl\.txt:2: expected "allow CIDR" or "deny CIDR" \(acl_file at \Q$dir\E\/gatehouse\.conf:\d+\)/,
         'a bad acl_file line: reload failed, naming both files and lines');
    is(st('/acl/x', port => 'acl', src => '127.0.0.2'), 200,
       '... the previous rules go on');
    is(st('/acl/x', port => 'acl'), 403, '... for both addresses');
}

# ---- refused at load (gatehouse -t) ----------------------------------------------
{
    my $k = 0;
    my $bin = Gatehouse::bin();
    my $check = sub {
        my ($name, $files, $site, $want) = @_;
        my $d = "$dir/t" . ++$k;
        mkdir $d or die "$d: $!";
        Gatehouse::write_file("$d/$_", $files->{$_}) for keys %$files;
        my $f = "$d/c.conf";
        $gh->write_conf(<<"EOF", $f);
sites = ( { listen = [ "127.0.0.1:%%PORT_bad%%" ];
$site
  routes = ( { path = "/"; return = { status = 204; }; } ); } );
EOF
        my ($rc, $out) = Gatehouse::run_cmd([$bin, '-t', '-c', $f], 10);
        is($rc, 1, "-t: $name: exit 1");
        my ($qd, $qf) = (quotemeta $d, quotemeta $f);
        $want =~ s/%D%/$qd/g;
        $want =~ s/%F%/$qf/g;
        like($out, qr/^gatehouse: $want/m, "-t: $name: files, lines, why")
            or diag($out);
    };
    my $auth = qq{  auth_basic = { realm = "r";\n    file = "pw"; };};
    $check->('an $apr1$ hash',
             { pw => "a:" . sha512('x') . "\nb:\$apr1\$abcdefgh\$0123456789abcdefghijkl\n" },
             $auth, q{%F%:3: sites\[0\]\.auth_basic\.file: %D%/pw:2: user "b": MD5 \(\$apr1\$\) hashes are refused});
    $check->('a plain text password', { pw => "\n\nplain:secret\n" }, $auth,
             q{%F%:3: sites\[0\]\.auth_basic\.file: %D%/pw:3: user "plain": not a crypt hash \(a plaintext password\?\)});
    $check->('a DES hash', { pw => "des:" . crypt('secret', 'ab') . "\n" }, $auth,
             q{%F%:3: sites\[0\]\.auth_basic\.file: %D%/pw:1: user "des": DES crypt hashes are refused});
    $check->('no password file', {}, $auth,
             q{%F%:3: sites\[0\]\.auth_basic\.file: %D%/pw: No such file or directory$});
    $check->('no acl file', {}, qq{  acl_file = "nope.txt";},
             q{%F%:2: sites\[0\]\.acl_file: cannot open "%D%/nope\.txt": No such file or directory$});
    $check->('a bad CIDR in the acl file',
             { 'acl.txt' => "allow 10.0.0.0/8\n# x\ndeny 10.0.0.1/8\n" },
             qq{  allow = "127.0.0.1";\n  acl_file = "acl.txt";},
             q{%D%/acl\.txt:3: "10\.0\.0\.1/8" has bits set below its prefix length \(acl_file at %F%:3\)$});
}

finish();
diag(sprintf 'took %.1f s', time - $T0);
