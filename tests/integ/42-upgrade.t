#!/usr/bin/perl
# Binary upgrade under a constant load (new connections, keep-alive, 1 MiB
# bodies, a WebSocket-style tunnel): the binary is rebuilt with another
# version string and installed over the one the daemon was started from;
# `-s upgrade` (USR2) starts it with the listening sockets and the shared
# segment, WINCH stops the old workers, QUIT ends the old master: no
# request fails, the new version serves, backend health and counters are
# carried over.  Then a new binary that cannot start (bad config) leaves
# the old one serving, and a rollback (USR2, WINCH, HUP to the old master,
# QUIT to the new one) gives the old master its workers and pid file back.

use strict;
use warnings;

use Config;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use IO::Socket::IP;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(time);
use Gatehouse timeout => 90;
use Origin;
use Load;

my $SHUTDOWN = 1;     # timeouts.shutdown, seconds
my $ROOT = abs_path(dirname(__FILE__) . '/../..');

# The old master exits before the new one: make this process the
# subreaper of the new master so that it can be waited for like the first.
my %PRCTL = (x86_64 => 157, aarch64 => 167);
my ($arch) = $Config{archname} =~ /^(x86_64|aarch64)/;
my $PR_SET_CHILD_SUBREAPER = 36;
my $subreaper = $arch
    && syscall($PRCTL{$arch}, $PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
diag('not a subreaper: the new master is watched through /proc')
    unless $subreaper;

my $dir = Gatehouse::tmpdir();

# The second binary, built now from the same tree with another version
# string, while the first one starts.  Under the sanitizers it is built
# with them too, at -O0 to keep the test short.
my $B2 = "$dir/b2/gatehouse";
my $build_pid = fork // die "fork: $!";
if ($build_pid == 0) {
    alarm 0;
    chdir $ROOT or POSIX::_exit(126);
    open STDIN, '<', '/dev/null';
    open STDOUT, '>', "$dir/build.log";
    open STDERR, '>&', \*STDOUT;
    my @cmd = ('make', '-s', '-j2', "BUILD=$dir/b2",
               ($ENV{GH_SAN}
                ? ('SAN=1', 'EXTRA_CFLAGS=-DGH_VERSION_EXTRA=\"-upgraded\" -O0')
                : ('EXTRA_CFLAGS=-DGH_VERSION_EXTRA=\"-upgraded\"')),
               $B2);
    { no warnings 'exec'; exec @cmd; }
    POSIX::_exit(127);
}
push @Gatehouse::CLEANUP, sub { kill 'KILL', $build_pid if $build_pid };

# The daemon runs from a copy that the "install" then replaces.
mkdir "$dir/sbin" or die "mkdir: $!";
my $SBIN = "$dir/sbin/gatehouse";
copy(Gatehouse::bin(), $SBIN) or die "copy: $!";
chmod 0755, $SBIN;
my $V1 = (Gatehouse::run_cmd([$SBIN, '-v'], 5))[1];
$V1 =~ s/\s+$//;

my $oa = Origin->new(name => 'a', dir => $dir);
my $ob = Origin->new(name => 'b', dir => $dir);
my ($dead1, $dead2) = (dead_port(), dead_port());
my $DEAD1 = "127.0.0.1:$dead1";
my $DEAD2 = "127.0.0.1:$dead2";

# LISTEN: port names of the site.  "flaky" has a server that passive
# checks mark down for 60 s; "checked" one that the checker marks down
# after 3 failed checks 1 s apart (so a checker starting afresh would show
# it up for two seconds).
sub conf {
    my (@listen) = @_;
    my $listen = join ', ', map { "\"127.0.0.1:%%PORT_$_%%\"" } @listen;
    return Gatehouse::preamble(workers => 2) . <<"EOF";
timeouts = { shutdown = "${SHUTDOWN}s"; upstream_connect = "1s"; };
caches = { main = { size = "2M"; }; };
upstreams = {
  app     = { keepalive = 16;
              servers = ( { address = "127.0.0.1:%%ORIGIN_a%%"; },
                          { address = "127.0.0.1:%%ORIGIN_b%%"; } ); };
  flaky   = { max_fails = 1; fail_timeout = "60s";
              servers = ( { address = "$DEAD1"; },
                          { address = "127.0.0.1:%%ORIGIN_a%%"; } ); };
  checked = { health = { path = "/"; interval = "1s"; timeout = "500ms";
                         rise = 1; fall = 3; };
              servers = ( { address = "$DEAD2"; },
                          { address = "127.0.0.1:%%ORIGIN_b%%"; } ); };
};
sites = ( { listen = [ $listen ];
            routes = ( { path = "/"; upstream = "app"; },
                       { path = "/metrics"; metrics = true; },
                       { path = "/cached/"; upstream = "app"; cache = "main"; },
                       { path = "/flaky/"; upstream = "flaky"; },
                       { path = "/checked/"; upstream = "checked"; } ); } );
EOF
}

my $gh = Gatehouse->new(dir => $dir, bin => $SBIN, origins => [$oa, $ob],
                        conf => conf('http'));
my $M1 = $gh->pid;
my $PIDF = "$dir/gh.pid";
my $OLDBIN = "$PIDF.oldbin";

# Whatever happens, the whole process group goes at the end (the masters
# started by upgrades stay in the first master's group).
push @Gatehouse::CLEANUP, sub { kill 'KILL', -$M1 };

sub pid_file {
    my ($f) = @_;
    my $p = Gatehouse::read_file($f // $PIDF);
    $p =~ s/\s+$//;
    return $p;
}

# Children of PID (not zombies), from /proc.
sub kids_of {
    my ($pid) = @_;
    my @c;
    opendir my $d, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $d) {
        my $st = Gatehouse::read_file("/proc/$p/stat");
        next unless $st =~ /^\d+ \(.*\) (\S) (\d+)/s;
        push @c, $p + 0 if $1 ne 'Z' && $2 == $pid;
    }
    my @s = sort { $a <=> $b } @c;
    return wantarray ? @s : scalar @s;
}

sub running {
    my ($pid) = @_;
    my $st = Gatehouse::read_file("/proc/$pid/stat");
    return $st =~ /^\d+ \(.*\) (\S)/s && $1 ne 'Z';
}

# ---- metrics ------------------------------------------------------------

# { "name upstream server" => value } of the upstream metrics on PORT.
sub metrics {
    my ($port) = @_;
    my $r = $gh->http_get('/metrics', port => $port, timeout => 5);
    return undef unless $r && $r->status == 200;
    my %m;
    for my $l (split /\n/, $r->body) {
        next unless $l =~ /^(gatehouse_upstream_\w+)\{upstream="([^"]+)",server="([^"]+)"\} (\S+)$/;
        $m{"$1 $2 $3"} = $4;
    }
    return \%m;
}

sub up { my ($m, $u, $s) = @_; $m->{"gatehouse_upstream_up $u $s"} }
sub reqs { my ($m, $u, $s) = @_; $m->{"gatehouse_upstream_requests_total $u $s"} }

my ($A, $B) = ($oa->addr, $ob->addr);

# ---- before the upgrade: a server down by passive checks, one by the
# checker, counters that are not 0 ------------------------------------------

my $r = $gh->http_get('/flaky/x');
is($r && $r->status, 200, 'flaky: answered by the live server');
my $m = metrics('http');
is(up($m, 'flaky', $DEAD1), 0, 'before: flaky dead server marked down (passive)');
ok(wait_for(sub { my $x = metrics('http'); $x && (up($x, 'checked', $DEAD2) // '') eq '0' }, 8),
   'before: checked dead server marked down by the checker');
$gh->http_get("/warm/$_") for 1 .. 10;
my $CACHED = '/cached/x?cc=max-age%3D600';
my $c1 = $gh->http_get($CACHED);
like($c1 && $c1->header('cache-status') // '', qr/stored/, 'before: an object stored in the cache');
like($gh->http_get($CACHED)->header('cache-status') // '', qr/^gatehouse; hit/, 'before: ... and a hit');

# ---- the second binary ------------------------------------------------------

my $built = wait_for(sub { waitpid($build_pid, WNOHANG) == $build_pid }, 60, 0.05);
my $build_rc = $?;
$build_pid = 0 if $built;
ok($built && $build_rc == 0 && -x $B2, 'second binary built')
    or BAIL_OUT("build of $B2 failed:\n" . Gatehouse::read_file("$dir/build.log"));
my $V2 = (Gatehouse::run_cmd([$B2, '-v'], 5))[1];
$V2 =~ s/\s+$//;
is($V2, 'gatehouse version 0.1.0-upgraded', 'second binary: its version');
isnt($V2, $V1, 'and not the running one');

# ---- the upgrade under load ----------------------------------------------------

my $load = Load->new(gh => $gh, name => 'load-upgrade');
$load->start;
ok($load->wait_progress(5, 15), 'load is flowing');

# Counters just before: the new master must not restart them from 0.
$m = metrics('http');
my %before = map { ($_ => reqs($m, 'app', $_)) } $A, $B;
cmp_ok($before{$_}, '>', 0, "before: app $_ has served requests ($before{$_})")
    for $A, $B;

# Install as a package manager would: a new file renamed over the old.
copy($B2, "$SBIN.new") or die "copy: $!";
chmod 0755, "$SBIN.new";
rename "$SBIN.new", $SBIN or die "rename: $!";
# The new master also listens on a new address: what is answered there
# comes from the new workers only.
$gh->write_conf(conf('http', 'new'));

my $mark = $gh->log_mark;
my ($rc, $out) = Gatehouse::run_cmd([$SBIN, '-c', $gh->conf_file, '-s', 'upgrade'], 5);
is($rc, 0, '-s upgrade: exits 0') or diag($out);
my $M2;
ok(wait_for(sub { my $p = pid_file(); $M2 = $p if $p && $p ne $M1; $M2 }, 10),
   'pid file: the new master') or diag($gh->log_since($mark));
is(pid_file($OLDBIN), $M1, 'pid file .oldbin: the old master');
$M2 //= 0;
my $st = Gatehouse::read_file("/proc/$M2/stat");
is(($st =~ /^\d+ \(.*\) \S (\d+)/s)[0], $M1, 'the new master is a child of the old one');
ok($gh->wait_log(qr/gatehouse\/0\.1\.0-upgraded started/, $mark, 10),
   'the new binary started (its version in the log)');
like($gh->wait_log(qr/started by a binary upgrade/, $mark, 5) // '',
     qr/segment adopted/, 'the new master adopted the segment')
    or diag(grep({ /not adopted|fresh/ } split /\n/, $gh->log_since($mark)),
            "\n(was $SBIN built from this tree? both builds must share the "
            . "segment layout)");
ok(wait_for(sub { my $s = IO::Socket::IP->new(PeerHost => '127.0.0.1',
                   PeerPort => $gh->port('new'), Timeout => 1); $s }, 10),
   'the new master listens on its new address');

# Right after the upgrade, as the new generation sees it.
my $m2 = metrics('new');
ok($m2, 'metrics from the new workers');
$m2 //= {};
is(up($m2, 'flaky', $DEAD1), 0, 'after: the server marked down by passive checks is still down');
is(up($m2, 'checked', $DEAD2), 0, 'after: the server marked down by the checker is still down');
is(up($m2, 'app', $_), 1, "after: app $_ still up") for $A, $B;
cmp_ok(reqs($m2, 'app', $_) // 0, '>=', $before{$_},
       "after: app $_ requests_total went on from $before{$_}, not from 0")
    for $A, $B;
$r = $gh->http_get('/flaky/y', port => 'new');
is($r && $r->status, 200, 'after: flaky still answered');
is(reqs(metrics('new') // {}, 'flaky', $DEAD1), reqs($m2, 'flaky', $DEAD1),
   'after: ... without trying the down server');

# Both generations serve.
ok($load->wait_progress(3, 10), 'both generations: load flows');
my @w2 = kids_of($M2);
is(scalar @w2, 3, 'the new master runs 2 workers and the checker') or diag("@w2");
cmp_ok(scalar(kids_of($M1)), '>=', 3, 'the old master still has its workers');

# An object cached before the upgrade is still a hit for the new workers:
# the zone is in the adopted segment.
my $c2 = $gh->http_get($CACHED, port => 'new');
like($c2 && $c2->header('cache-status') // '', qr/^gatehouse; hit/,
     'after: the object cached by the old binary is a hit for the new one');
is($c2 && $c2->body, $c1 && $c1->body, '... with the same body');

# WINCH: the old workers stop gracefully; the new ones serve alone.
$mark = $gh->log_mark;
$gh->signal('WINCH');
ok($gh->wait_log(qr/SIGWINCH: stopping the workers/, $mark, 5), 'WINCH logged');
ok(wait_for(sub { my @k = kids_of($M1); @k == 1 && $k[0] == $M2 }, $SHUTDOWN + 5),
   'WINCH: the old workers and checker exit; the new master remains')
    or diag(join ' ', kids_of($M1));
ok($load->wait_progress(3, 10), 'after WINCH: load flows');

# The new version serves: the only workers left run the installed binary.
my $ino = (stat $SBIN)[1];
my @w = grep { $_ != $M2 } kids_of($M2);
ok(@w && !grep({ (stat "/proc/$_/exe")[1] != $ino } @w),
   'the workers left run the new binary');
like(readlink("/proc/$M1/exe") // '', qr/\(deleted\)$/, 'the old master runs the replaced file');
$r = $gh->http_get('/after-winch');
is($r && $r->status, 200, 'after WINCH: served');

# QUIT the old master: it goes, the new one stays.
$gh->signal('QUIT');
ok(defined $gh->wait_exit(10), 'QUIT: the old master exits');
@Gatehouse::LIVE = grep { $_ != $gh } @Gatehouse::LIVE;
ok(running($M2), 'the new master runs on');
ok(!-e $OLDBIN, '.oldbin pid file removed by the old master');
is(pid_file(), $M2, 'pid file: the new master');
ok($load->wait_progress(3, 10), 'after QUIT: load flows');

my $s = $load->stop;
diag($load->summary_line($s));
cmp_ok($s->{ok}, '>', 100, "load ran ($s->{ok} ok)");
is($s->{failed}, 0, 'upgrade: zero failed requests') or diag($load->report);
is($s->{resets}, 0, 'upgrade: zero connection resets');
cmp_ok($s->{by_mode}{$_}{ok}, '>', 3, "upgrade: $_ clients were served")
    for qw(new keepalive post tunnel);

# From here on, the new master is the daemon.
my $gh2 = Adopted->adopt($gh, $M2);

# ---- a new binary that cannot start: the running one goes on ---------------------

$load = Load->new(gh => $gh2, name => 'load-failed');
$load->start;
ok($load->wait_progress(3, 15), 'failed upgrade: load is flowing');
{
    my $good = $gh2->conf_text;
    my $bad = $good;
    $bad =~ s/fail_timeout = "60s";/fail_timeout = "60 parsecs";/ or die;
    Gatehouse::write_file($gh2->conf_file, $bad);
    my @kids = kids_of($M2);
    $mark = $gh2->log_mark;
    $gh2->signal('USR2');
    my $line = $gh2->wait_log(qr/new binary \(pid (\d+)\) exited with code [1-9]/, $mark, 10);
    ok($line, 'failed upgrade: the old master saw the new binary exit')
        or diag($gh2->log_since($mark));
    like(Gatehouse::read_file("$dir/stderr.log") . $gh2->log_since($mark),
         qr/gatehouse\.conf:\d+: .*fail_timeout/, 'failed upgrade: the config error, with file:line');
    ok(wait_for(sub { pid_file() eq $M2 }, 3), 'failed upgrade: pid file restored');
    ok(!-e $OLDBIN, 'failed upgrade: no .oldbin left');
    is_deeply([kids_of($M2)], \@kids, 'failed upgrade: same workers');
    ok($load->wait_progress(3, 10), 'failed upgrade: load flows');
    Gatehouse::write_file($gh2->conf_file, $good);
}

# ---- rollback: USR2, WINCH, then HUP to the old master and QUIT the new ----------

{
    $mark = $gh2->log_mark;
    my @old_kids = kids_of($M2);
    $gh2->signal('USR2');
    my $M3;
    ok(wait_for(sub { my $p = pid_file(); $M3 = $p if $p && $p ne $M2; $M3 }, 10),
       'rollback: a third master started') or diag($gh2->log_since($mark));
    $M3 //= 0;
    ok(wait_for(sub { kids_of($M3) == 3 }, 10), 'rollback: it runs its workers');
    $gh2->signal('WINCH');
    ok(wait_for(sub { my @k = kids_of($M2); @k == 1 && $k[0] == $M3 }, $SHUTDOWN + 5),
       'rollback: WINCH stops the workers of the second master')
        or diag(join ' ', kids_of($M2));
    ok($load->wait_progress(3, 10), 'rollback: load flows on the third');

    $mark = $gh2->log_mark;
    $gh2->signal('HUP');
    ok($gh2->wait_log(qr/SIGHUP after WINCH/, $mark, 5), 'rollback: HUP after WINCH logged');
    ok(wait_for(sub { grep({ $_ != $M3 } kids_of($M2)) == 3 }, 5),
       'rollback: its workers and checker are back');
    kill 'QUIT', $M3;
    ok(wait_for(sub { !running($M3) }, $SHUTDOWN + 5), 'rollback: QUIT ends the third master');
    ok(wait_for(sub { pid_file() eq $M2 && !-e $OLDBIN }, 5),
       'rollback: the pid file is the second master\'s again');
    is(scalar(kids_of($M2)), 3, 'rollback: the second master serves alone');
    ok($load->wait_progress(3, 10), 'rollback: load flows');
}

$s = $load->stop;
diag($load->summary_line($s));
is($s->{failed}, 0, 'failed upgrade and rollback: zero failed requests')
    or diag($load->report);
is($s->{resets}, 0, 'failed upgrade and rollback: zero connection resets');

my @bad = grep { /\[(alert|crit)\]/ } split /\n/, $gh2->error_log;
ok(!@bad, 'no alert or crit in the log') or diag(join "\n", @bad);

finish();

# ==========================================================================
# A master that this process did not start: the new one of an upgrade,
# reparented here (subreaper) when the old one exits.
package Adopted;

use strict;
use warnings;
use parent -norequire, 'Gatehouse';

sub adopt {
    my ($class, $gh, $pid) = @_;
    my $self = bless { %$gh, pid => $pid, exit => undef }, $class;
    push @Gatehouse::LIVE, $self;
    return $self;
}

