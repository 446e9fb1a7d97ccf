#!/usr/bin/perl
# A backend killed under load is avoided with no failed request (retries,
# passive and active checks, with 4 workers), and after it comes back it
# gets requests again once it passed `rise` checks.

use strict;
use warnings;

use POSIX ();
use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 60;
use Origin;

my $a = Origin->new(name => 'a');
my $b = Origin->new(name => 'b');
my $c = Origin->new(name => 'c');
my $gh = Gatehouse->new(origins => [$a, $b, $c], conf => Gatehouse::preamble(workers => 4, log_level => '"info"') . <<'EOF');
timeouts = { upstream_connect = "1s"; };
upstreams = {
  app = { keepalive = 16; retries = 2; max_fails = 1; fail_timeout = "10s";
          # Generous timeout: the load and the forking test origins share
          # two cores with the checker.
          health = { path = "/"; interval = "500ms"; timeout = "500ms";
                     rise = 2; fall = 2; };
          servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; },
                      { address = "127.0.0.1:%%ORIGIN_b%%"; },
                      { address = "127.0.0.1:%%ORIGIN_c%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF

my $dir = $gh->dir;
my $stop = "$dir/stop-load";

# Four load clients, on keep-alive and fresh connections, until $stop
# exists; each writes "ok fail" to its result file.
my @kids;
for my $k (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my ($ok, $fail, $i) = (0, 0, 0);
        my $conn;
        my $end = time + 40;
        while (!-e $stop && time < $end) {
            $i++;
            my $keep = $k % 2;
            $conn = $gh->connect if $keep && !$conn;
            my $r;
            my $path = "/load/$k/$i?hdelay=0.005";
            if ($keep) {
                $conn->send($gh->build_request($path, close => 0));
                $r = $conn->read_response;
                $conn = undef if !$r || ($r->header('connection') // '') =~ /close/i;
            } else {
                $r = $gh->http_get($path);
            }
            if ($r && $r->status == 200) { $ok++ }
            else {
                $fail++;
                $conn = undef;
                open my $fh, '>>', "$dir/load-fail.$k";
                print $fh ($r ? $r->status : 'none'), " $path\n";
                close $fh;
            }
        }
        Gatehouse::write_file("$dir/load.$k", "$ok $fail\n");
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

ok($b->wait_count(20, 10), 'load reaches b');
unlike($gh->error_log, qr/is down|marked down/, 'no server was down before');
my $mark = $gh->log_mark;
$b->stop;
ok($gh->wait_log(qr/server 127\.0\.0\.1:${\ $b->port } is (down|marked down)/, $mark, 5),
   'b is found down');
# Load goes on for a while against a and c only.
my ($na, $nc) = ($a->count, $c->count);
ok(Gatehouse::wait_for(sub { $a->count > $na + 50 && $c->count > $nc + 50 }, 10),
   'a and c keep serving');

# b comes back on the same port: the checker brings it up after rise.
my $while_dead = $gh->log_since($mark);
$mark = $gh->log_mark;
my $b2 = Origin->new(name => 'b2', port => $b->port);
ok($gh->wait_log(qr/server 127\.0\.0\.1:${\ $b->port } is up/, $mark, 5),
   'b is up again after rise checks');
ok($b2->wait_count(10, 10), 'and gets requests again');

Gatehouse::write_file($stop, '');
waitpid $_, 0 for @kids;
my ($ok, $fail) = (0, 0);
for my $k (1 .. 4) {
    my ($o, $f) = split ' ', (Gatehouse::read_file("$dir/load.$k") // '0 1');
    $ok += $o;
    $fail += $f;
    diag(Gatehouse::read_file("$dir/load-fail.$k")) if -e "$dir/load-fail.$k";
}
cmp_ok($ok, '>', 200, "load ran ($ok requests)");
is($fail, 0, 'no failed request while a backend died and came back');
my $downs = () = $while_dead =~ /server 127\.0\.0\.1:${\ $b->port } is (?:down|marked down)/g;
cmp_ok($downs, '<=', 2, 'the death was logged once by the checker and '
       . 'at most once by the workers, not once per worker');

finish();
