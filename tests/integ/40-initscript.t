#!/usr/bin/perl
# conf/init.d/gatehouse end to end: `make install DESTDIR=tmp PREFIX=/usr`,
# then the installed script drives the installed binary (DAEMON, CONF,
# PIDFILE in the temp dir): start, status, configtest, reload with a broken
# config (refused, no HUP) and a good one, stop, a master killed behind
# the script's back, and the binary upgrade (refused with a broken config;
# a new binary that does not start leaves the old master serving; a good
# one takes over).  Also that make install put the unit and the logrotate
# file in place, and that worker_rlimit_nofile reaches the workers.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Test::More;
use Gatehouse timeout => 60;
use Origin;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $bin = abs_path(Gatehouse::bin());
my $oa = Origin->new(name => 'a');
my $ob = Origin->new(name => 'b');

# Only for its temp dir, ports and config writing: the script starts it.
my $gh = Gatehouse->new(origins => [$oa, $ob]);
my $dir = $gh->dir;
my $inst = Gatehouse::tmpdir();
my $pidf = "$dir/gh.pid";
my %seen;           # every master pid seen, for the END cleanup

sub conf_for {
    my ($ups) = @_;
    return Gatehouse::preamble(workers => 2)
        . "worker_rlimit_nofile = 4096;\nworker_shutdown_timeout = \"2s\";\n"
        . <<"EOF";
upstreams = { app = { keepalive = 4;
              servers = ( { address = "127.0.0.1:%%ORIGIN_$ups%%"; } ); }; };
sites = ( { listen = [ "127.0.0.1:%%PORT_http%%" ];
            routes = ( { path = "/"; upstream = "app"; } ); } );
EOF
}

# --- make install -----------------------------------------------------------
{
    # -o: install what the harness tests (GH_BIN), never rebuild it under
    # the other tests running in parallel.
    my $build = dirname($bin);
    # Not the options of a make that runs this test (SAN=1, -j, ...).
    local $ENV{MAKEFLAGS};
    local $ENV{MFLAGS};
    local $ENV{MAKELEVEL};
    delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};
    my ($rc, $out) = Gatehouse::run_cmd(
        ['make', '-s', '-C', $root, '-o', "$build/gatehouse",
         "BUILD=$build", "DESTDIR=$inst", 'PREFIX=/usr', 'install'], 30);
    is($rc, 0, 'make install DESTDIR PREFIX=/usr') or diag($out);
    ok(-x "$inst/etc/init.d/gatehouse", 'init script installed, executable');
    ok(-x "$inst/usr/sbin/gatehouse", 'binary installed');
    ok(-f "$inst/usr/lib/systemd/system/gatehouse.service",
       'systemd unit installed');
    ok(-f "$inst/etc/logrotate.d/gatehouse", 'logrotate file installed');
    like(Gatehouse::read_file("$inst/etc/init.d/gatehouse"),
         qr/^### BEGIN INIT INFO$/m, 'LSB header');
    like(Gatehouse::read_file("$inst/usr/lib/systemd/system/gatehouse.service"),
         qr{^ExecStart=/usr/sbin/gatehouse -c }m, 'unit runs the binary');
    die "nothing installed to test\n" unless -x "$inst/etc/init.d/gatehouse";
}

my $script = "$inst/etc/init.d/gatehouse";

# Run the script with ACTION; returns (exit status, output).
sub rc {
    my ($action, %env) = @_;
    local $ENV{DAEMON} = "$inst/usr/sbin/gatehouse";
    local $ENV{CONF} = $gh->conf_file;
    local $ENV{PIDFILE} = $pidf;
    local $ENV{GATEHOUSE_DEFAULTS} = "$inst/etc/default/gatehouse";
    local @ENV{keys %env} = values %env;
    my ($rc, $out) = Gatehouse::run_cmd(['/bin/sh', $script, $action], 30);
    return ($rc, $out);
}

sub pid_of {
    my ($f) = @_;
    my $p = Gatehouse::read_file($f // $pidf);
    return $p =~ /^(\d+)\s*$/ ? $1 + 0 : undef;
}

# Alive and not a zombie (our init may not reap the daemon).
sub running {
    my ($pid) = @_;
    return 0 unless $pid;
    my $st = Gatehouse::read_file("/proc/$pid/stat");
    return $st =~ /^\d+ \(.*\) ([^ZX])/s ? 1 : 0;
}

# Live children of PID (workers, the checker).
sub children_of {
    my ($pid) = @_;
    my @c;
    opendir my $d, '/proc' or return;
    for my $p (grep { /^\d+$/ } readdir $d) {
        my $st = Gatehouse::read_file("/proc/$p/stat");
        push @c, $p + 0 if $st =~ /^\d+ \(.*\) ([^ZX]) (\d+)/s && $2 == $pid;
    }
    return @c;
}

sub from {
    my $r = $gh->http_get('/x');
    return $r && $r->status == 200 ? ($r->header('X-Origin') // '') : '';
}

push @Gatehouse::CLEANUP, sub {
    for my $p (keys %seen, grep { defined } map { pid_of($_) }
               $pidf, "$pidf.oldbin") {
        next unless running($p);
        next unless Gatehouse::read_file("/proc/$p/cmdline") =~ /gatehouse/;
        kill 'KILL', -$p;       # the master leads its process group
        kill 'KILL', $p;
    }
};

# --- start, status, configtest ----------------------------------------------
$gh->write_conf(conf_for('a'));
{
    my ($rc, $out) = rc('status');
    is($rc, 3, 'status before start: 3 (not running)') or diag($out);
    ($rc, $out) = rc('start');
    is($rc, 0, 'start: exits 0')
        or diag($out, Gatehouse::read_file("$dir/error.log"));
    like($out, qr/^Starting gatehouse: gatehouse \(pid \d+\)\.$/m,
         'start: says so, with the pid');
    my $pid = pid_of();
    ok(running($pid), 'start: pid file names a live master');
    $seen{$pid} = 1 if $pid;
    ($rc, $out) = rc('status');
    is($rc, 0, 'status: 0 (running)');
    like($out, qr/running \(pid $pid\)/, 'status names the pid') if $pid;
    is(from(), 'a', 'a request is served');
    ($rc, $out) = rc('start');
    is($rc, 0, 'start again: exits 0');
    like($out, qr/already running/, 'start again: says so');
    is(pid_of(), $pid, 'start again: same master');
    ($rc, $out) = rc('configtest');
    is($rc, 0, 'configtest: 0');
    like($out, qr/test is successful/, 'configtest: gatehouse -t output');

    # worker_rlimit_nofile reached the workers (and not the master).
    my @kids = children_of($pid);
    ok(@kids >= 2, 'workers running');
    my $lim = Gatehouse::read_file("/proc/$kids[0]/limits");
    like($lim, qr/^Max open files\s+4096\s+4096\s/m,
         'worker_rlimit_nofile = 4096: soft and hard limit of a worker')
        if @kids;
}

# --- reload -----------------------------------------------------------------
{
    my $pid = pid_of();
    $gh->write_conf(conf_for('a') . "workerz = 3;\n");
    my $mark = $gh->log_mark;
    my ($rc, $out) = rc('reload');
    isnt($rc, 0, 'reload with a broken config: non-zero exit');
    like($out, qr/:\d+: workerz: unknown key/, 'reload: prints the error');
    # A barrier: signals pending together are taken lowest number first,
    # so once USR1 (10) is logged a HUP (1) sent before it would be too.
    kill 'USR1', $pid;
    ok($gh->wait_log(qr/reopening logs/, $mark, 5), 'USR1 barrier logged');
    my @hup = grep { /SIGHUP|reload|reconfigur/i }
        split /\n/, $gh->log_since($mark);
    ok(!@hup, 'broken config: no HUP sent (nothing about a reload logged)')
        or diag(join "\n", @hup);
    is(pid_of(), $pid, 'same master');
    is(from(), 'a', 'still serving the old config');
    ($rc, $out) = rc('configtest');
    is($rc, 1, 'configtest with the broken config: 1');

    ($rc, $out) = rc('force-reload');
    isnt($rc, 0, 'force-reload with the broken config: non-zero too');

    # A good, changed config: / now goes to origin b.
    $gh->write_conf(conf_for('b'));
    $mark = $gh->log_mark;
    ($rc, $out) = rc('reload');
    is($rc, 0, 'reload with a good config: exits 0') or diag($out);
    ok($gh->wait_log(qr/SIGHUP|reload/i, $mark, 5), 'HUP reached the master');
    ok(running($pid), 'master still running');
    ok(wait_for(sub { from() eq 'b' }, 5), 'the new config serves');
    is(pid_of(), $pid, 'by the same master');
}

# --- stop -------------------------------------------------------------------
{
    my $pid = pid_of();
    my ($rc, $out) = rc('stop');
    is($rc, 0, 'stop: exits 0') or diag($out);
    ok(!running($pid), 'stop: master gone');
    ok(!-e $pidf, 'stop: pid file gone');
    ok(!children_of($pid), 'stop: no worker left');
    ($rc, $out) = rc('status');
    is($rc, 3, 'status after stop: 3');
    ($rc, $out) = rc('stop');
    is($rc, 0, 'stop when stopped: 0');
    ($rc, $out) = rc('reload');
    is($rc, 7, 'reload when stopped: 7 (not running)');
}

# --- a master that died: status 1, stop cleans up ---------------------------
{
    my ($rc, $out) = rc('start');
    is($rc, 0, 'start again') or diag($out);
    my $pid = pid_of();
    $seen{$pid} = 1 if $pid;
    kill 'KILL', -$pid if $pid;     # master, workers, checker
    ok(wait_for(sub { !running($pid) }, 5), 'master killed');
    ($rc, $out) = rc('status');
    is($rc, 1, 'status: 1 (dead, pid file left)') or diag($out);
    ($rc, $out) = rc('stop');
    is($rc, 0, 'stop: 0');
    ok(!-e $pidf, 'stop removed the stale pid file');
}

# --- upgrade ----------------------------------------------------------------
{
    my ($rc, $out) = rc('start');
    is($rc, 0, 'start for the upgrade') or diag($out);
    my $old = pid_of();
    $seen{$old} = 1 if $old;

    # A broken config stops it before any signal.
    $gh->write_conf(conf_for('b') . "workerz = 3;\n");
    ($rc, $out) = rc('upgrade');
    isnt($rc, 0, 'upgrade with a broken config: non-zero');
    ok(!-e "$pidf.oldbin", 'upgrade with a broken config: no USR2 sent');
    $gh->write_conf(conf_for('b'));

    # A new binary that does not start: the old master takes its pid file
    # back and the script says the upgrade failed.
    my $sbin = "$inst/usr/sbin/gatehouse";
    rename $sbin, "$sbin.real" or die "rename: $!";
    Gatehouse::write_file($sbin, <<"EOF");
#!/bin/sh
case " \$* " in *" -t "*) exec "$sbin.real" "\$@" ;; esac
echo "broken build" >&2
exit 1
EOF
    chmod 0755, $sbin;
    # It fails at once, usually before the script sees .oldbin: then the
    # script waits out UPGRADE_TIMEOUT.
    ($rc, $out) = rc('upgrade', UPGRADE_TIMEOUT => 2);
    isnt($rc, 0, 'upgrade to a binary that does not start: non-zero');
    like($out, qr/keeps serving/, 'says the old master keeps serving');
    ok(wait_for(sub { (pid_of() // 0) == $old && !-e "$pidf.oldbin" }, 5),
       'the old master took its pid file back');
    ok(running($old), 'old master running');
    is(from(), 'b', 'old master serving');
    rename "$sbin.real", $sbin or die "rename: $!";

    my $mark = $gh->log_mark;
    ($rc, $out) = rc('upgrade');
    my $new = pid_of();
    $seen{$new} = 1 if $new;
    is($rc, 0, 'upgrade: exits 0')
        or diag($out, $gh->log_since($mark));
    ok($new && $new != $old, "a new master ($old -> " . ($new // '-') . ')');
    ok(running($new), 'new master running');
    ok(wait_for(sub { !running($old) }, 10), 'old master gone');
    ok(!-e "$pidf.oldbin", 'no .oldbin left');
    is(from(), 'b', 'the new master serves');
    ($rc, $out) = rc('status');
    is($rc, 0, 'status after upgrade: 0');
    like($out, qr/pid $new\b/, 'status names the new master') if $new;

    ($rc, $out) = rc('stop');
    is($rc, 0, 'stop after the upgrade') or diag($out);
    ok(!running($new), 'master gone');
    ok(!running($old), 'old master gone');
    ok(!-e $pidf, 'pid file gone');
}

$gh->check_logs('init script');
finish();
