#!/usr/bin/perl
# The master killed with SIGKILL: the workers finish what they hold
# (graceful) and exit, the checker exits; nothing runs orphaned.  With
# user/group set (the kernel clears the parent-death signal on a
# credentials change, so it must be set again after the privilege drop).

use strict;
use warnings;

use Test::More;
use Gatehouse timeout => 60;
use Origin;

plan skip_all => 'needs root (user = "nobody")' if $> != 0;

my $a = Origin->new(name => 'a');
my $gh = Gatehouse->new(origins => [$a], conf => Gatehouse::preamble(workers => 2,
    error_log => undef, access_log => undef, pid_file => undef) . <<'EOF');
user = "nobody";
group = "nogroup";
pid_file = "off";
error_log = "stderr";
upstreams = {
  u = { health = { path = "/"; interval = "200ms"; timeout = "200ms"; };
        servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; } ); };
};
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "u"; } ); } );
EOF

my @kids;
ok(Gatehouse::wait_for(sub { @kids = $gh->children; @kids == 3 }, 5),
   'two workers and the checker') or diag("children: @kids");

# A request in flight when the master dies.
my $c = $gh->connect;
$c->send($gh->build_request('/slow?hdelay=1'));
ok($a->wait_count(1, 5), 'the slow request reached the origin');
kill 'KILL', $gh->pid;
$gh->wait_exit(5);
my $r = $c->read_response(timeout => 10);
is($r && $r->status, 200, 'the request in flight is still answered');

my $alive = sub {
    grep { -e "/proc/$_"
           && (Gatehouse::read_file("/proc/$_/stat") // '') =~ /^\d+ \(.*\) ([^Z])/s }
        @kids;
};
ok(Gatehouse::wait_for(sub { !$alive->() }, 10), 'no child outlives the master')
    or diag('still running: ' . join ' ', $alive->());
Gatehouse::_kill_all();
done_testing();
